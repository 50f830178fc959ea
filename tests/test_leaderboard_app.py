"""The app factory's guarantees across every route: bad ids and bodies get 404 or 400, never 500."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ADMIN_TOKEN

# Too large for the database's integer, negative, zero, fractional, and not a number at all.
BAD_IDS = ["9223372036854775808", "2147483648", "-1", "0", "1.5", "1e3", "abc", "%00"]
ARGUMENT = re.compile(r"<[^>]+>")


def routes(app):
    """(path template, method, endpoint) for every route, HEAD and OPTIONS aside."""
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.rule, method, rule.endpoint


@pytest.mark.timeout(120)
def test_every_route_answers_bad_ids_with_404_or_400(app, api, client):
    token = api.register("alpha")
    api.submit(token, api.submission())
    team = app.test_client()
    assert team.post("/login", data={"token": token}).status_code == 302
    organizer = app.test_client()
    assert organizer.post("/admin/login", data={"token": ADMIN_TOKEN}).status_code == 302
    checked = 0
    for template, method, endpoint in routes(app):
        if not ARGUMENT.search(template):
            continue
        # The client allowed on the route, so that the answer is about the id, not the login.
        allowed = organizer if endpoint.startswith("admin.") else team
        headers = {"Authorization": f"Bearer {token}"} if endpoint.startswith("api.") else {}
        for bad in BAD_IDS:
            path = ARGUMENT.sub(bad, template)
            response = allowed.open(path, method=method, headers=headers, json={"final": True})
            assert response.status_code in (400, 404), (method, path, response.status_code)
            if path.startswith("/api/"):
                assert "error" in response.get_json(), (method, path)
            for anonymous in (client.open(path, method=method),):
                assert anonymous.status_code < 500, (method, path, anonymous.status_code)
            checked += 1
    assert checked >= 8 * len(BAD_IDS)


def test_largest_id_is_a_plain_404(api, client):
    api.register("alpha")
    assert client.get("/teams/2147483647").status_code == 404
    assert client.get("/teams/1").status_code == 200


@pytest.mark.parametrize("depth", [20_000])
def test_deeply_nested_json_is_400(api, client, depth):
    token = api.register("alpha")
    body = "[" * depth + "]" * depth
    for path, headers in (
        ("/api/teams", {}),
        ("/api/submissions/1/final", {"Authorization": f"Bearer {token}"}),
    ):
        response = client.post(path, data=body, headers=headers, content_type="application/json")
        assert response.status_code == 400, path
        assert "nested too deeply" in response.get_json()["error"]


def test_long_json_body_is_413(app, client):
    body = '{"name": "' + "a" * app.config["MAX_JSON_BYTES"] + '"}'
    response = client.post("/api/teams", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json() == {"error": "the JSON body is larger than the limit of 65536 bytes"}


def test_responses_with_tokens_or_private_data_are_not_cached(api, client):
    token = api.register("alpha")
    api.submit(token, api.submission(), note="private note")
    private = [
        client.post("/register", data={"name": "beta"}),
        client.post("/api/teams", json={"name": "gamma"}),
        client.get("/api/submissions", headers={"Authorization": f"Bearer {token}"}),
        client.get("/admin/", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}),
        client.get(
            "/admin/export/submissions.csv", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ),
    ]
    client.post("/login", data={"token": token})
    own_page = client.get("/teams/1")
    assert "private note" in own_page.get_data(as_text=True)
    private.append(own_page)
    for response in private:
        assert response.status_code in (200, 201), response.request.path
        assert response.headers["Cache-Control"] == "no-store", response.request.path
    public = [client.get("/"), client.get("/teams/2"), client.get("/api/leaderboard")]
    for response in public:
        assert "no-store" not in response.headers.get("Cache-Control", "")


def test_hsts_only_with_secure_cookies(app_config, make_app):
    plain = make_app(app_config).test_client().get("/")
    assert "Strict-Transport-Security" not in plain.headers
    secure = make_app({**app_config, "SESSION_COOKIE_SECURE": True}).test_client().get("/")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_token_page_takes_the_public_url_from_configuration_not_the_host_header(
    app_config, make_app
):
    forged = {"Host": "evil.example.com"}
    app = make_app({**app_config, "PUBLIC_URL": "https://challenge.example.org"})
    page = app.test_client().post("/register", data={"name": "alpha"}, headers=forged)
    text = page.get_data(as_text=True)
    assert "--url https://challenge.example.org/</pre>" in text
    assert "evil.example.com" not in text
    unset = make_app({**app_config, "DATABASE_URL": app_config["DATABASE_URL"]})
    unset.config["PUBLIC_URL"] = None
    text = unset.test_client().post("/register", data={"name": "beta"}, headers=forged).text
    assert "evil.example.com" not in text and "--url ADDRESS-OF-THIS-SITE</pre>" in text


def test_serve_says_when_the_public_url_is_missing(app, runner, monkeypatch):
    class Server:
        def run(self):
            pass

    monkeypatch.setattr("leaderboard.serving.make_server", lambda app, **kw: Server())
    result = runner.invoke(["serve"])
    assert result.exit_code == 0
    assert "note: LEADERBOARD_PUBLIC_URL is not set" in result.stderr
    app.config["PUBLIC_URL"] = "https://challenge.example.org/"
    result = runner.invoke(["serve"])
    assert result.exit_code == 0 and "PUBLIC_URL" not in result.stderr
