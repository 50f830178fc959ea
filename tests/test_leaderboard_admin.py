"""The organizers' pages: log in, private scores, disqualification, reveal, CSV exports."""

from __future__ import annotations

import csv
import io
import re

import pytest

from leaderboard.export import spreadsheet_safe
from tests.conftest import ADMIN_TOKEN

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def admin_login(client, token=ADMIN_TOKEN):
    return client.post("/admin/login", data={"token": token})


def test_admin_needs_the_organizer_token(client):
    assert client.get("/admin/").headers["Location"] == "/admin/login"
    assert client.get("/admin/login").status_code == 200
    bad = admin_login(client, "guess")
    assert bad.status_code == 401 and "wrong organizer token" in bad.get_data(as_text=True)
    assert client.get("/admin/export/submissions.csv").status_code == 302
    assert admin_login(client).headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.post("/admin/logout").status_code == 302
    assert client.get("/admin/").status_code == 302


def test_admin_bearer_token_for_scripts(client):
    assert client.get("/admin/export/leaderboard.csv", headers=BEARER).status_code == 200
    wrong = client.get("/admin/", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_admin_login_is_throttled_but_the_right_token_always_works(app, client):
    app.config["BAD_TOKEN_LIMIT"] = 2
    admin_login(client, "a"), admin_login(client, "b")
    response = admin_login(client, "c")
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert admin_login(client).headers["Location"] == "/admin/"


def test_admin_without_configured_token_is_403(app, client):
    app.config["ADMIN_TOKEN"] = None
    assert client.get("/admin/", headers=BEARER).status_code == 403
    assert admin_login(client, "").status_code == 401


def test_dashboard_lists_private_scores(app, api, client):
    api.submit(api.register("alpha"), api.submission(), note="n1")
    admin_login(client)
    page = client.get("/admin/").get_data(as_text=True)
    from leaderboard.db import session_scope
    from leaderboard.models import Submission

    with session_scope(app) as db:
        submission = db.get(Submission, 1)
    assert f"{submission.private_auc:.4f}" in page and "n1" in page


def test_disqualify_and_reinstate_a_submission(api, client):
    token = api.register("alpha")
    api.submit(token, api.submission(skill=3, seed=1))
    api.submit(token, api.submission(skill=0, seed=2))
    admin_login(client)
    assert client.post("/admin/submissions/1/disqualify", data={"reason": ""}).status_code == 400
    missing = client.post("/admin/submissions/9/disqualify", data={"reason": "x"})
    assert missing.status_code == 404 and "no submission #9" in missing.get_data(as_text=True)
    response = client.post("/admin/submissions/1/disqualify", data={"reason": "hand labelled"})
    assert response.status_code == 303
    assert "Submission #1 disqualified." in client.get("/admin/").get_data(as_text=True)
    own = client.get("/api/submissions", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert own["submissions"][0]["disqualified_reason"] == "hand labelled"
    board = client.get("/api/leaderboard").get_json()["rows"]
    assert board[0]["public_auc"] == own["submissions"][1]["public_auc"]  # the other one counts
    client.post("/admin/submissions/1/disqualify", data={"action": "reinstate"})
    board = client.get("/api/leaderboard").get_json()["rows"]
    assert board[0]["public_auc"] == own["submissions"][0]["public_auc"]


def test_disqualify_a_team(api, client):
    token = api.register("alpha")
    api.submit(token, api.submission())
    api.submit(api.register("beta"), api.submission(seed=3))
    admin_login(client)
    assert client.post("/admin/teams/7/disqualify", data={"reason": "x"}).status_code == 404
    assert client.post("/admin/players/1/disqualify", data={"reason": "x"}).status_code == 404
    assert (
        client.post("/admin/teams/1/disqualify", data={"reason": "two accounts"}).status_code == 303
    )
    assert "Team alpha disqualified." in client.get("/admin/").get_data(as_text=True)
    assert [r["team"] for r in client.get("/api/leaderboard").get_json()["rows"]] == ["beta"]
    own = client.get("/api/submissions", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert own["disqualified_reason"] == "two accounts"
    client.post("/admin/teams/1/disqualify", data={"action": "reinstate"})
    assert len(client.get("/api/leaderboard").get_json()["rows"]) == 2


def _dashboard_forms(client) -> dict[tuple[str, int], str]:
    """The dashboard's disqualify forms by (teams or submissions, id), whitespace folded."""
    page = client.get("/admin/").get_data(as_text=True)
    pattern = r'<form method="post" action="/admin/(\w+)/(\d+)/disqualify">(.*?)</form>'
    forms = re.findall(pattern, page, flags=re.S)
    return {(kind, int(id_)): " ".join(body.split()) for kind, id_, body in forms}


def test_the_dashboard_offers_disqualify_or_reinstate_as_fits(api, client):
    """A row that counts offers Disqualify with a reason field, a disqualified one Reinstate; a
    submission's reason stands beside its button (a team's has its own Status column)."""
    token = api.register("alpha")
    api.submit(token, api.submission(seed=1))
    api.submit(api.register("beta"), api.submission(seed=2))
    admin_login(client)
    client.post("/admin/submissions/1/disqualify", data={"reason": "hand labelled"})
    client.post("/admin/teams/2/disqualify", data={"reason": "two accounts"})
    forms = _dashboard_forms(client)
    assert sorted(forms) == [("submissions", 1), ("submissions", 2), ("teams", 1), ("teams", 2)]
    offer = (
        '<input name="reason" placeholder="reason the team sees" required>'
        ' <button type="submit">Disqualify</button>'
    )
    reinstate = '<button type="submit" name="action" value="reinstate">Reinstate</button>'
    assert forms["teams", 1].endswith(offer) and forms["submissions", 2].endswith(offer)
    assert forms["submissions", 1].endswith(f"hand labelled {reinstate}")
    assert forms["teams", 2].endswith(f'"> {reinstate}')  # the hidden CSRF field, then the button


def test_reveal_from_the_dashboard(api, client):
    api.submit(api.register("alpha"), api.submission())
    admin_login(client)
    assert client.post("/admin/reveal", data={}).status_code == 400
    assert client.get("/api/leaderboard").get_json()["revealed"] is False
    assert client.post("/admin/reveal", data={"confirm": "reveal"}).status_code == 303
    body = client.get("/api/leaderboard").get_json()
    assert body["revealed"] is True and "private_auc" in body["rows"][0]
    assert "The final ranking is revealed" in client.get("/admin/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1+1", "'+1+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (-2, -2),
        (0.5, 0.5),
    ],
)
def test_spreadsheet_safe(value, expected):
    assert spreadsheet_safe(value) == expected


def test_exports_neutralise_formulas(api, client, runner, tmp_path):
    token = api.register('=HYPERLINK("http://x")')
    api.submit(token, api.submission(), note="@SUM(1+1)", filename="+evil.csv")
    (tmp_path / "ref.csv").write_bytes(api.submission(skill=1.5, seed=11))
    result = runner.invoke(["add-reference", "--", "-reference", str(tmp_path / "ref.csv")])
    assert result.exit_code == 0, result.output
    response = client.get("/admin/export/submissions.csv", headers=BEARER)
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == "attachment; filename=submissions.csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0]["team"] == '\'=HYPERLINK("http://x")'
    assert rows[0]["note"] == "'@SUM(1+1)" and rows[0]["filename"] == "'+evil.csv"
    assert float(rows[0]["private_auc"]) > 0
    assert rows[1]["team"] == "'-reference" and rows[1]["reference"] == "1"
    board = client.get("/admin/export/leaderboard.csv", headers=BEARER).get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(board)))
    assert {r["team"] for r in rows} == {'\'=HYPERLINK("http://x")', "'-reference"}
    assert all(r["private_auc"] == "" for r in rows)  # not revealed: no private column values
    assert client.get("/admin/export/teams.csv", headers=BEARER).status_code == 404


def _private_auc(key, data: bytes) -> float:
    """The private AUC computed here with scikit-learn, apart from the server's scoring path."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    private = key[key["split"] == "private"].merge(pd.read_csv(io.BytesIO(data)), on="event_id")
    return roc_auc_score(private["label"], private["score"])


def test_the_organizer_previews_the_final_ranking_before_the_reveal(api, client, answer_key):
    files = {"alpha": api.submission(skill=0.3, seed=1), "beta": api.submission(skill=3.0, seed=2)}
    for name, data in files.items():
        api.submit(api.register(name), data)
    admin_login(client)
    page = client.get("/admin/").get_data(as_text=True)
    preview = page.split('<table class="preview">')[1].split("</table>")[0]
    rows = re.findall(r"<tr class=\"\">\s*<td>(\d+)</td>\s*<td class=\"team\">(\w+)</td>\s*"
                      r"<td class=\"nowrap\">([\d.]+) ", preview)  # fmt: skip
    expected = sorted(files, key=lambda name: -_private_auc(answer_key, files[name]))
    assert [(rank, team) for rank, team, _ in rows] == [("1", expected[0]), ("2", expected[1])]
    for _, team, shown in rows:
        assert shown == f"{_private_auc(answer_key, files[team]):.4f}"
    # Nobody else sees it: the public board and API have no private number.
    client.post("/admin/logout")
    assert "preview" not in client.get("/").get_data(as_text=True)
    assert all(
        r.get("private_auc") is None for r in client.get("/api/leaderboard").get_json()["rows"]
    )
    # After the reveal the board shows that order, and the preview is gone.
    admin_login(client)
    assert client.post("/admin/reveal", data={"confirm": "reveal"}).status_code == 303
    board = client.get("/api/leaderboard").get_json()["rows"]
    assert [r["team"] for r in board] == expected
    assert '<table class="preview">' not in client.get("/admin/").get_data(as_text=True)


def test_the_nav_follows_the_role(api, client):
    def nav() -> str:
        return client.get("/overview").get_data(as_text=True).split("<nav>")[1].split("</nav>")[0]

    anonymous = nav()
    assert 'href="/register"' in anonymous and 'href="/admin/"' not in anonymous
    admin_login(client)
    organizer = nav()
    assert 'href="/admin/"' in organizer and "Log out (organizer)" in organizer
    assert 'href="/register"' not in organizer and 'href="/login"' not in organizer
    client.post("/admin/logout")
    client.post("/login", data={"token": api.register("alpha")})
    team = nav()
    assert 'href="/submit"' in team and 'href="/admin/"' not in team
    assert 'href="/register"' not in team


def test_form_errors_show_on_the_admin_page(client):
    admin_login(client)
    wrong = client.post("/admin/reveal", data={"confirm": "revela"})
    page = wrong.get_data(as_text=True)
    assert wrong.status_code == 400 and "<h1>Organizers</h1>" in page
    assert '<p class="flash error" role="alert">type &#39;reveal&#39; to confirm' in page
    empty = client.post("/admin/teams/1/disqualify", data={"reason": " "})
    assert empty.status_code == 400 and "give a reason: the team will see it" in empty.get_data(
        as_text=True
    )
    missing = client.post("/admin/teams/7/disqualify", data={"reason": "x"})
    assert missing.status_code == 404 and "no team with id 7" in missing.get_data(as_text=True)
    assert "<h1>Organizers</h1>" in missing.get_data(as_text=True)


def test_the_organizer_page_has_one_log_out_control(client):
    """The navigation's "Log out (organizer)"; the page had a second button of its own."""
    admin_login(client)
    page = client.get("/admin/").get_data(as_text=True)
    assert page.count('action="/admin/logout"') == 1 and "Log out (organizer)" in page


def test_the_dashboard_shows_each_teams_refused_uploads_of_today(api, client, clock):
    """Invalid uploads per team and UTC day, against the limit: who is probing or stuck."""
    alpha, beta = api.register("alpha"), api.register("beta")
    for seed in range(3):
        assert api.submit(alpha, b"event_id,score\n1,not-a-number\n%d" % seed).status_code == 400
    assert api.submit(beta, b"event_id,score\n").status_code == 400
    admin_login(client)

    def refused():
        page = client.get("/admin/").get_data(as_text=True)
        assert "Refused today (limit 50)" in page
        rows = re.findall(
            r'>(alpha|beta)</a></td>\s*<td>\d+</td>\s*<td class="refused">(\d+)<', page
        )
        return dict(rows)

    assert refused() == {"alpha": "3", "beta": "1"}
    clock.advance(days=1)  # a new UTC day starts from none
    assert refused() == {"alpha": "0", "beta": "0"}
