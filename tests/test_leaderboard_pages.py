"""The web pages: registration, log in, upload, finals, team pages, figures, escaping, CSRF."""

from __future__ import annotations

import io
import re

import pytest

from leaderboard import plots
from leaderboard.db import session_scope
from leaderboard.queries import team_submissions


def login(client, token):
    return client.post("/login", data={"token": token})


def upload(client, data, note="", filename="sub.csv"):
    return client.post(
        "/submit",
        data={"file": (io.BytesIO(data), filename), "note": note},
        content_type="multipart/form-data",
    )


def test_leaderboard_page_is_phone_ready_and_offline(client):
    page = client.get("/").get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert 'href="/static/style.css"' in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from another host
    with client.get("/static/style.css") as css:
        assert css.status_code == 200 and b"@media" in css.data


def test_register_form_shows_token_once(client):
    assert client.get("/register").status_code == 200
    response = client.post("/register", data={"name": "Bolometers"})
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    token = re.search(r'<code class="token">([^<]+)</code>', page).group(1)
    assert login(client, token).status_code == 302
    again = client.post("/register", data={"name": "bolometers"})
    assert again.status_code == 409
    assert "already taken" in again.get_data(as_text=True)
    assert client.post("/register", data={"name": ""}).status_code == 400


def test_register_form_when_closed(app, client):
    app.config["REGISTRATION"] = "closed"
    assert "Registration is closed" in client.get("/register").get_data(as_text=True)
    response = client.post("/register", data={"name": "late"})
    assert response.status_code == 403
    assert "registration is closed" in response.get_data(as_text=True)


def test_user_strings_are_escaped_everywhere(api, client, runner):
    name = '<script>alert("x")</script>'
    token = api.register(name)
    api.submit(token, api.submission(), note="<img src=x onerror=alert(1)>")
    login(client, token)
    for path in ["/", "/teams/1", "/submit"]:
        response = client.get(path)
        body = response.get_data(as_text=True)
        assert "<script>alert" not in body and "<img src=x" not in body, path
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    api_response = client.get("/api/leaderboard")  # JSON is data, not markup: kept verbatim
    assert api_response.mimetype == "application/json"
    assert api_response.get_json()["rows"][0]["team"] == name
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in client.get("/").get_data(
        as_text=True
    )
    assert "&lt;img src=x onerror=alert(1)&gt;" in client.get("/teams/1").get_data(as_text=True)


def test_login_and_session_cookie_settings(api, client):
    token = api.register("alpha")
    assert client.get("/login").status_code == 200
    bad = login(client, "wrong")
    assert bad.status_code == 401
    assert "missing or wrong team token" in bad.get_data(as_text=True)
    good = login(client, token)
    assert good.status_code == 302 and good.headers["Location"] == "/submit"
    cookie = good.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development; production is tested in test_leaderboard_config
    assert client.post("/logout").status_code == 302
    assert client.get("/submit").headers["Location"] == "/login"


def test_login_is_throttled(app, api, client):
    app.config["BAD_TOKEN_LIMIT"] = 2
    token = api.register("alpha")
    for _ in range(2):
        assert login(client, "guess").status_code == 401
    response = login(client, "guess")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert login(client, token).status_code == 302  # the right token is never held back


def test_upload_through_the_form(api, client, answer_key):
    token = api.register("alpha")
    assert client.get("/submit").status_code == 302  # not logged in
    login(client, token)
    page = client.get("/submit").get_data(as_text=True)
    assert "3 submissions left today" in page
    response = upload(client, api.submission(), note="form upload")
    assert response.status_code == 303 and response.headers["Location"] == "/teams/1"
    page = client.get("/teams/1").get_data(as_text=True)
    assert "Submission #1 accepted: public AUC" in page and "2 left today" in page
    assert "form upload" in page and "sub.csv" in page


def test_form_upload_errors_are_shown_on_the_page(app, api, client):
    token = api.register("alpha")
    login(client, token)
    response = upload(client, b"id,score\n1,2\n", filename="wrong.csv")
    assert response.status_code == 400
    assert "wrong.csv" in response.get_data(as_text=True)
    response = client.post("/submit", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "no file" in response.get_data(as_text=True)
    app.config["MAX_UPLOAD_BYTES"] = 100
    response = upload(client, api.submission())
    assert response.status_code == 413
    assert "larger than the limit of 100 bytes" in response.get_data(as_text=True)
    app.config["MAX_UPLOAD_BYTES"] = 10**6
    for seed in range(3):
        assert upload(client, api.submission(seed=seed)).status_code == 303
    response = upload(client, api.submission(seed=5))
    assert response.status_code == 429
    assert "daily quota reached" in response.get_data(as_text=True)


def test_form_upload_outside_window(app, api, client, clock):
    from datetime import timedelta

    login(client, api.register("alpha"))
    app.config["CLOSE_AT"] = clock.now - timedelta(seconds=1)
    response = upload(client, api.submission())
    assert response.status_code == 403
    assert "submissions closed at" in response.get_data(as_text=True)


def test_team_page_shows_own_details_only_to_the_team(api, client, runner):
    alpha, beta = api.register("alpha"), api.register("beta")
    api.submit(alpha, api.submission(), note="secret plan")
    result = runner.invoke(["disqualify", "--submission", "1", "--reason", "used the labels"])
    assert result.exit_code == 0, result.output
    other = client.get("/teams/1").get_data(as_text=True)
    assert "secret plan" not in other and "used the labels" not in other
    assert "disqualified" in other
    login(client, beta)
    assert "secret plan" not in client.get("/teams/1").get_data(as_text=True)
    login(client, alpha)
    own = client.get("/teams/1").get_data(as_text=True)
    assert "secret plan" in own and "disqualified: used the labels" in own
    assert client.get("/teams/99").status_code == 404


def test_finals_through_the_form(api, client):
    token = api.register("alpha")
    for seed in range(3):
        api.submit(token, api.submission(seed=seed))
    assert client.post("/submissions/1/final", data={"final": "1"}).status_code == 302  # to login
    login(client, token)
    assert client.post("/submissions/1/final", data={"final": "1"}).status_code == 303
    assert client.post("/submissions/2/final", data={"final": "1"}).status_code == 303
    response = client.post("/submissions/3/final", data={"final": "1"})
    assert response.status_code == 409
    assert "at most 2 submissions as final" in response.get_data(as_text=True)
    assert client.post("/submissions/2/final", data={"final": "0"}).status_code == 303
    assert "Unmark final" in client.get("/teams/1").get_data(as_text=True)


def test_finals_are_frozen_after_the_reveal(api, client, runner):
    token = api.register("alpha")
    api.submit(token, api.submission())
    assert runner.invoke(["reveal"]).exit_code == 0
    login(client, token)
    response = client.post("/submissions/1/final", data={"final": "1"})
    assert response.status_code == 403


def test_score_plot_is_the_public_history_before_the_reveal(app, api, client, runner):
    token = api.register("alpha")
    api.submit(token, api.submission(seed=1))
    api.submit(token, api.submission(seed=2))
    response = client.get("/teams/1/scores.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    with session_scope(app) as db:
        subs = team_submissions(db, 1)
    times = [s.created_at for s in subs]
    public = [(s.public_auc, s.public_lo, s.public_hi) for s in subs]
    best = max(range(len(subs)), key=lambda i: subs[i].public_auc)  # no finals: the best counts
    assert response.data == plots.score_history_png("alpha", times, public, None, counted=best)
    assert runner.invoke(["reveal"]).exit_code == 0
    after = client.get("/teams/1/scores.png").data
    assert after == plots.score_history_png(
        "alpha", times, public, [s.private_auc for s in subs], finals=[False, False],
        counted=best, counted_label="counted in the final ranking",
    )  # fmt: skip
    assert client.get("/teams/9/scores.png").status_code == 404


def test_a_queued_submission_shows_in_the_score_plot(app, api, client):
    """A model waiting for a worker is no "no submissions yet": the plot says it is queued."""
    token = api.register("alpha")
    api.submit(token, api.submission(skill=3.0, seed=1))
    api.submit(token, api.submission(skill=0.5, seed=2))
    with session_scope(app, write=True) as db:
        first, second = team_submissions(db, 1)
        second.status = "queued"  # as a model is until a worker scores it
        scored = [first.created_at], [(first.public_auc, first.public_lo, first.public_hi)]
    response = client.get("/teams/1/scores.png")
    assert response.data == plots.score_history_png("alpha", *scored, None, counted=0, pending=1)


def test_plot_titles_take_dollar_signs_literally(api, client):
    api.submit(api.register("$\\frac{1}{0}$ $x^$"), api.submission())
    assert client.get("/teams/1/scores.png").status_code == 200


def test_roc_curves_only_after_the_reveal(api, client, runner):
    for i, name in enumerate(["a", "b", "c"]):
        api.submit(api.register(name), api.submission(skill=i, seed=i))
    assert client.get("/roc.png").status_code == 404
    assert "ROC curves" not in client.get("/").get_data(as_text=True)
    assert runner.invoke(["reveal"]).exit_code == 0
    response = client.get("/roc.png")
    assert response.status_code == 200 and response.data.startswith(b"\x89PNG")
    assert 'src="/roc.png"' in client.get("/").get_data(as_text=True)


@pytest.fixture
def csrf_app(app_config, make_app):
    return make_app({**app_config, "WTF_CSRF_ENABLED": True})


def test_forms_need_a_csrf_token_but_the_api_does_not(csrf_app):
    client = csrf_app.test_client()
    response = client.post("/register", data={"name": "alpha"})
    assert response.status_code == 400
    assert "The CSRF token is missing" in response.get_data(as_text=True)
    page = client.get("/register").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/register", data={"name": "alpha", "csrf_token": csrf}).status_code == 201
    assert client.post("/api/teams", json={"name": "beta"}).status_code == 201


def test_no_route_serves_the_answer_key_or_stored_files(app, api, client, tmp_path):
    api.submit(api.register("alpha"), api.submission())
    stored = next((tmp_path / "submissions").rglob("*.csv.gz"))
    for path in [
        "/answer_key.csv", "/static/../answer_key.csv", "/static/../../answer_key.csv",
        f"/static/{stored.name}", f"/submissions/{stored.name}", "/instance/leaderboard.sqlite",
    ]:  # fmt: skip
        assert client.get(path).status_code == 404, path
    # The complete list of routes: the only ones that serve files are /static and /favicon.ico,
    # from the package, and /data/files/<name>, from the top of LEADERBOARD_PUBLIC_DATA (unset here).
    assert {rule.rule for rule in app.url_map.iter_rules()} == ROUTES
    assert app.static_folder.endswith("leaderboard/static")


ROUTES = {
    "/", "/teams/<int:team_id>", "/teams/<int:team_id>/scores.png", "/roc.png", "/rank_stability.png",
    "/register", "/login", "/logout", "/token", "/submit", "/submissions/<int:submission_id>/final",
    "/api/teams", "/api/token", "/api/submissions", "/api/submissions/<int:submission_id>/final",
    "/api/leaderboard", "/api/health",
    "/admin/", "/admin/login", "/admin/logout",
    "/admin/<any(submissions, teams):kind>/<int:target_id>/disqualify", "/admin/reveal",
    "/admin/export/<what>.csv",
    "/static/<path:filename>", "/favicon.ico",
    "/overview", "/data", "/evaluation", "/rules", "/data/files/<name>",
    "/api/course/settings", "/api/course/reports", "/api/course/progress", "/course",
    "/admin/course", "/admin/course.csv", "/admin/course/settings",
    "/admin/course/reports/<int:report_pk>/code",
}  # fmt: skip


def test_a_third_final_shows_on_the_team_page(api, client):
    token = api.register("alpha")
    for seed in (1, 2, 3):
        api.submit(token, api.submission(seed=seed))
    login(client, token)
    for number in (1, 2):
        assert client.post(f"/submissions/{number}/final", data={"final": "1"}).status_code == 303
    third = client.post("/submissions/3/final", data={"final": "1"})
    page = third.get_data(as_text=True)
    assert third.status_code == 409 and "<h1>alpha" in page
    assert re.search(r'<p class="flash error" role="alert">[^<]*at most 2', page), page
    assert page.count("Unmark final") == 2 and page.count(">Mark final<") == 1


def test_the_quota_line_stays_after_a_refused_upload(api, client):
    token = api.register("alpha")
    login(client, token)
    assert upload(client, api.submission()).status_code == 303  # one of the test's 3 today
    refused = upload(client, b"event_id,score\n1,2\n")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and '<p class="flash error" role="alert">' in page
    assert "2 submissions left today" in page and 'name="file"' in page
    assert "2 submissions left today" in client.get("/submit").get_data(as_text=True)


def _row_tags(page: str, number: int) -> str:
    """The first cell of submission ``number``'s row on a team page."""
    return re.search(rf'<td data-label="Submission">{number}( <span[^\n]*?)?</td>', page).group(0)


def test_finals_and_the_counted_submission_are_marked_in_the_table(api, client, app, runner):
    token = api.register("alpha")
    for skill, seed in ((0.5, 1), (3.0, 2), (1.0, 3)):  # #2 is the best public one
        api.submit(token, api.submission(skill=skill, seed=seed))
    login(client, token)
    assert client.post("/submissions/3/final", data={"final": "1"}).status_code == 303
    own = client.get("/teams/1").get_data(as_text=True)
    assert "final" in _row_tags(own, 3) and "final" not in _row_tags(own, 1)
    assert "on the board" in _row_tags(own, 2) and "on the board" not in _row_tags(own, 3)
    other = app.test_client().get("/teams/1").get_data(as_text=True)
    assert "final" not in _row_tags(other, 3)  # a team's finals are its own until the reveal
    assert "on the board" in _row_tags(other, 2)
    assert runner.invoke(["reveal"]).exit_code == 0
    after = app.test_client().get("/teams/1").get_data(as_text=True)
    assert "final" in _row_tags(after, 3) and "counted" in _row_tags(after, 3)
    assert "counted" not in _row_tags(after, 2)


def test_the_board_highlights_the_viewers_team(api, client, app):
    tokens = {name: api.register(name) for name in ("alpha", "beta")}
    for seed, token in enumerate(tokens.values()):
        api.submit(token, api.submission(seed=seed))
    login(client, tokens["beta"])
    mine = re.findall(r'<tr class="[^"]*mine[^"]*">.*?</tr>', client.get("/").get_data(as_text=True),
                      re.S)  # fmt: skip
    assert len(mine) == 1 and '>beta</a> <span class="tag you">your team</span>' in mine[0]
    assert " mine" not in app.test_client().get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "heading", "label"),
    [("/login", "Log in with your team token", "Team token"),
     ("/admin/login", "Organizer log in", "Organizer token")],
)  # fmt: skip
def test_each_log_in_page_names_its_token(client, path, heading, label):
    page = " ".join(client.get(path).get_data(as_text=True).split())
    assert f"<h1>{heading}</h1>" in page
    assert (
        f'<label>{label} <input name="token" type="password" autocomplete="off" required>' in page
    )


def test_the_final_ranking_explains_the_order_of_two_equal_files(api, client, runner, clock):
    """Two teams send the same file: p = 1 between them, and the earlier upload ranks first."""
    same = api.submission(seed=4)
    api.submit(api.register("weaker"), api.submission(skill=0.1, seed=9))
    api.submit(api.register("first"), same)
    clock.advance(minutes=5)
    late = api.register("second")
    api.submit(late, same)
    assert runner.invoke(["reveal"]).exit_code == 0
    rows = client.get("/api/leaderboard").get_json()["rows"]
    assert [r["team"] for r in rows][:2] == ["first", "second"]
    assert rows[0]["p_value_vs_next"] == 1.0
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", client.get("/").get_data(as_text=True)))
    assert (
        "Equal scores (the same predictions give p = 1) rank in the order of their submissions: "
        "the earlier one first."
    ) in text


def test_the_site_serves_its_favicon(client):
    """Browsers ask for /favicon.ico on every page; it was a 404."""
    from pathlib import Path

    import leaderboard

    icon = Path(leaderboard.__file__).parent / "static" / "favicon.ico"
    with client.get("/favicon.ico") as response:
        assert response.status_code == 200 and response.mimetype.startswith("image/")
        assert response.data == icon.read_bytes() and response.data[:4] == b"\x00\x00\x01\x00"
    assert '<link rel="icon" href="/favicon.ico"' in client.get("/").get_data(as_text=True)
