"""Log-in sessions and tokens: log-out and a new token end every copy of a session, the organizer's
cookie holds a random id only, and throttling of wrong tokens."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
import requests

from tests.conftest import ADMIN_TOKEN
from tests.hostile.harness import live_server, make_site

ORGANIZER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def copy_of(app, client):
    """A second browser holding a copy of ``client``'s session cookie, as a thief would."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def cookie_payload(app, client) -> dict:
    serializer = app.session_interface.get_signing_serializer(app)
    return serializer.loads(client.get_cookie("session").value)


def login(client, token):
    return client.post("/login", data={"token": token})


def upload(client, api, seed):
    data = {"file": (io.BytesIO(api.submission(seed=seed)), "sub.csv")}
    return client.post("/submit", data=data, content_type="multipart/form-data")


def test_team_logout_ends_every_copy_of_the_session(app, api, client):
    token = api.register("alpha")
    assert client.post("/login", data={"token": token}).status_code == 302
    thief = copy_of(app, client)
    assert upload(thief, api, seed=1).status_code == 303  # the copy works while logged in
    assert client.post("/logout").status_code == 302
    response = upload(thief, api, seed=2)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert thief.get("/submit").headers["Location"] == "/login"
    assert client.get("/submit").headers["Location"] == "/login"


def test_organizer_logout_ends_every_copy_of_the_session(app, client):
    assert client.post("/admin/login", data={"token": ADMIN_TOKEN}).status_code == 302
    thief = copy_of(app, client)
    assert thief.get("/admin/export/submissions.csv").status_code == 200
    client.post("/admin/logout")
    assert thief.get("/admin/export/submissions.csv").headers["Location"] == "/admin/login"
    assert thief.get("/admin/").status_code == 302


def test_organizer_cookie_holds_a_random_id_not_a_hash_of_the_token(app, client):
    ids = []
    for _ in range(2):
        client.post("/admin/login", data={"token": ADMIN_TOKEN})
        payload = cookie_payload(app, client)
        assert set(payload) == {"sid"}
        ids.append(payload["sid"])
    assert ids[0] != ids[1] and len(ids[0]) >= 40
    value = client.get_cookie("session").value
    for prefix in ("", "organizer session:"):
        assert hashlib.sha256((prefix + ADMIN_TOKEN).encode()).hexdigest() not in value
    assert ADMIN_TOKEN not in value


def test_a_new_organizer_token_ends_organizer_sessions(app, client):
    client.post("/admin/login", data={"token": ADMIN_TOKEN})
    assert client.get("/admin/").status_code == 200
    app.config["ADMIN_TOKEN"] = "another-organizer-token-0123456789"
    assert client.get("/admin/").status_code == 302


def test_rotate_token_command_replaces_the_token_and_ends_its_sessions(app, api, client, runner):
    token = api.register("alpha")
    client.post("/login", data={"token": token})
    result = runner.invoke(["rotate-token", "ALPHA"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("team 'alpha' has a new token (shown only once): ")
    new = result.output.strip().rsplit(" ", 1)[1]
    assert new != token and len(new) == 32
    assert api.submit(token, api.submission()).status_code == 401
    assert api.submit(new, api.submission()).status_code == 201
    assert client.get("/submit").headers["Location"] == "/login"
    assert client.post("/login", data={"token": new}).status_code == 302
    missing = runner.invoke(["rotate-token", "nobody"])
    assert missing.exit_code == 1 and "no team called 'nobody'" in missing.output


def test_new_token_button_on_the_team_page(app, api, client):
    token = api.register("alpha")
    client.post("/login", data={"token": token})
    other_browser = app.test_client()
    other_browser.post("/login", data={"token": token})
    page = client.get("/teams/1").get_data(as_text=True)
    assert 'action="/token"' in page and "New token" in page
    response = client.post("/token")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert "Team alpha has a new token" in text and token not in text
    new = text.split('<code class="token">', 1)[1].split("</code>", 1)[0]
    assert api.submit(token, api.submission()).status_code == 401
    assert api.submit(new, api.submission()).status_code == 201
    assert client.get("/submit").status_code == 200  # this browser stays logged in
    assert other_browser.get("/submit").headers["Location"] == "/login"
    anonymous = app.test_client().post("/token")
    assert anonymous.headers["Location"] == "/login"


def test_new_token_through_the_api(api, client):
    token = api.register("alpha")
    response = client.post("/api/token", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["team"] == "alpha" and body["token"] != token
    assert api.submit(token, api.submission()).status_code == 401
    assert api.submit(body["token"], api.submission()).status_code == 201


def test_sessions_expire_after_their_lifetime(app, api, client, clock):
    token = api.register("alpha")
    client.post("/login", data={"token": token})
    clock.advance(seconds=app.config["LOGIN_LIFETIME_S"] - 1)
    assert client.get("/submit").status_code == 200
    clock.advance(seconds=1)
    assert client.get("/submit").headers["Location"] == "/login"


def test_ten_wrong_tokens_then_the_right_one_is_accepted(app, api, client):
    token = api.register("alpha")
    for _ in range(10):
        assert api.submit("wrong-" + token, b"x").status_code in (401, 429)
    for _ in range(10):
        assert login(client, "guess").status_code in (401, 429)
        assert client.post("/admin/login", data={"token": "guess"}).status_code in (401, 429)
    assert api.submit(token, api.submission()).status_code == 201
    assert login(client, token).status_code == 302
    assert client.post("/admin/login", data={"token": ADMIN_TOKEN}).status_code == 302
    assert client.get("/admin/export/submissions.csv", headers=ORGANIZER).status_code == 200


def test_wrong_tokens_wait_longer_and_longer_then_are_forgotten(app, api, clock):
    app.config.update(BAD_TOKEN_LIMIT=2, BAD_TOKEN_DELAY_S=1, BAD_TOKEN_MAX_DELAY_S=30)
    answers = []
    for _ in range(9):
        response = api.submit("guess", b"x")
        answers.append((response.status_code, response.headers.get("Retry-After")))
        clock.advance(seconds=1)
    assert answers == [(401, None), (401, None), (429, "1"), (429, "2"), (429, "4"),
                       (429, "8"), (429, "16"), (429, "30"), (429, "30")]  # fmt: skip
    clock.advance(seconds=app.config["BAD_TOKEN_FORGET_S"] - 2)  # 1 s short of forgetting
    assert api.submit("guess", b"x").status_code == 429
    clock.advance(seconds=app.config["BAD_TOKEN_FORGET_S"])
    assert api.submit("guess", b"x").status_code == 401


def test_a_team_token_sent_to_admin_is_no_wrong_guess(app, api, client):
    app.config["BAD_TOKEN_LIMIT"] = 1
    token = api.register("alpha")
    for _ in range(5):
        response = client.get("/admin/", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403
        assert "this is a team token" in response.get_data(as_text=True)
        page = client.post("/admin/login", data={"token": token})
        assert page.status_code == 403
    assert client.get("/admin/", headers={"Authorization": "Bearer guess"}).status_code == 401
    assert client.get("/admin/", headers={"Authorization": "Bearer guess"}).status_code == 429


def test_wrong_tokens_are_logged_and_listed_on_admin(app, api, client, caplog):
    app.config["BAD_TOKEN_LIMIT"] = 1
    headers = {"Authorization": "Bearer guess"}
    for address in ("192.0.2.7", "192.0.2.7", "198.51.100.1"):
        client.get("/api/submissions", headers=headers, environ_base={"REMOTE_ADDR": address})
    assert "wrong team token from 192.0.2.7 (2 in a row)" in caplog.text
    page = client.get("/admin/", headers=ORGANIZER).get_data(as_text=True)
    row = page.split("<td>192.0.2.7</td>", 1)[1].split("</tr>", 1)[0]
    assert "<td>2</td>" in row and "team token" in row
    assert "<td>198.51.100.1</td><td>1</td>" in page


def test_ipv6_clients_are_counted_by_their_64_network(app, client):
    app.config["BAD_TOKEN_LIMIT"] = 2
    headers = {"Authorization": "Bearer guess"}

    def attempt(address):
        environ = {"REMOTE_ADDR": address}
        return client.get("/api/submissions", headers=headers, environ_base=environ).status_code

    assert [attempt(f"2001:db8::{n}") for n in (1, 2, 3)] == [401, 401, 429]
    assert attempt("2001:db8:0:1::1") == 401  # another /64: another client


def form_post(browser, url, path, data, **kwargs):
    """A form post as a browser makes it: the page first, for its CSRF token."""
    page = browser.get(url + path, timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return browser.post(url + path, data={**data, "csrf_token": token}, timeout=10, **kwargs)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_on_a_real_server(tmp_path, database_url):
    """`leaderboard serve` with CSRF on: a forged Host, a copied cookie, ten wrong tokens."""
    site = make_site(tmp_path / "site", database_url)
    with live_server(site, LEADERBOARD_PUBLIC_URL="https://challenge.example.org") as live:
        browser = requests.Session()
        browser.get(live.url + "/register", timeout=10)  # the session that holds the CSRF token
        # requests picks cookies by the Host header, so the forged request carries its own.
        forged = {"Host": "evil.example.com", "Cookie": f"session={browser.cookies['session']}"}
        page = form_post(browser, live.url, "/register", {"name": "alpha"}, headers=forged)
        assert page.status_code == 201 and page.headers["Cache-Control"] == "no-store"
        assert "--url https://challenge.example.org/</pre>" in page.text
        assert "evil.example.com" not in page.text
        token = re.search(r'<code class="token">([^<]+)</code>', page.text).group(1)
        for _ in range(10):
            assert form_post(browser, live.url, "/login", {"token": "guess"}).status_code in (
                401,
                429,
            )
        assert form_post(browser, live.url, "/login", {"token": token}).url == live.url + "/submit"
        thief = requests.Session()
        thief.cookies.update(browser.cookies)
        assert thief.get(live.url + "/submit", timeout=10).url == live.url + "/submit"
        logout = browser.get(live.url + "/submit", timeout=10).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', logout).group(1)
        browser.post(live.url + "/logout", data={"csrf_token": csrf}, timeout=10)
        assert thief.get(live.url + "/submit", timeout=10).url == live.url + "/login"
