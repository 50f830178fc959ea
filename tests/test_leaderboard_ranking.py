"""Which submission counts, the final ranking, DeLong p-values, references, and the reveal rule:
no private number is visible anywhere before the organizers reveal."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import numpy as np
import pytest

from challenge.metrics import delong_test
from challenge.submission import read_submission
from leaderboard.db import session_scope
from leaderboard.models import Submission
from leaderboard.ranking import _private, _public, counted_submissions, private_rows, public_rows
from tests.test_leaderboard_statuses import add_model

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)


def sub(id, public, private, *, final=False, minute=0, dq=None, late=False, status="scored"):
    return SimpleNamespace(
        id=id, public_auc=public, private_auc=private, is_final=final, disqualified_reason=dq,
        created_at=T0.replace(minute=minute), is_late=late, public_lo=public - 0.1,
        public_hi=public + 0.1, private_lo=private - 0.1, private_hi=private + 0.1, status=status,
    )  # fmt: skip


def team(id, *subs, reference=False, dq=None):
    return SimpleNamespace(
        id=id, name=f"t{id}", is_reference=reference, disqualified_reason=dq, submissions=list(subs)
    )


def test_without_finals_the_best_public_counts():
    t = team(1, sub(1, 0.80, 0.99), sub(2, 0.90, 0.70), sub(3, 0.85, 0.95))
    assert [s.id for s in counted_submissions(t)] == [2]


def test_finals_replace_the_best_public():
    t = team(1, sub(1, 0.80, 0.99, final=True), sub(2, 0.90, 0.70), sub(3, 0.70, 0.75, final=True))
    assert [s.id for s in counted_submissions(t)] == [1, 3]


def test_disqualified_submissions_never_count():
    t = team(1, sub(1, 0.95, 0.99, final=True, dq="x"), sub(2, 0.90, 0.70), sub(3, 0.80, 0.75))
    assert [s.id for s in counted_submissions(t)] == [2]
    assert counted_submissions(team(2, sub(4, 0.9, 0.9, dq="x"))) == []


def test_public_ranking_ties_go_to_the_earlier_submission_and_references_are_unranked():
    teams = [
        team(1, sub(1, 0.90, 0.5, minute=5)),
        team(2, sub(2, 0.90, 0.5, minute=1)),
        team(3, sub(3, 0.95, 0.5), reference=True),
        team(4, sub(4, 0.70, 0.5)),
        team(5, sub(5, 0.99, 0.5), dq="cheated"),
        team(6),
    ]
    rows = public_rows(teams)
    assert [(r.team_id, r.rank) for r in rows] == [(3, None), (2, 1), (1, 2), (4, 3)]


# The reveal rules, one test each, on the final ranking itself (``private_rows``). The private
# "scores" only feed the DeLong p-values, which these tests do not look at.
LABELS = np.array([0, 1, 0, 1, 0, 1])


def final_rows(*teams):
    return private_rows(list(teams), lambda s: LABELS + 0.1 * s.id, LABELS)


def counted_ids(rows):
    return {r.team_id: r.submission_id for r in rows}


def test_rule_the_better_of_two_finals_counts():
    # Both orders of the two finals, so that "the first" or "the last" final cannot pass.
    a = team(1, sub(1, 0.90, 0.70, final=True), sub(2, 0.80, 0.85, final=True))
    b = team(2, sub(3, 0.80, 0.85, final=True, minute=1), sub(4, 0.90, 0.70, final=True, minute=2))
    rows = final_rows(a, b)
    assert counted_ids(rows) == {1: 2, 2: 3}
    assert [r.private_auc for r in rows] == [0.85, 0.85]


def test_rule_marked_finals_count_before_the_best_public_one():
    # The unmarked submission has both the best public and the best private AUC; it still loses.
    a = team(1, sub(1, 0.99, 0.99), sub(2, 0.70, 0.60, final=True, minute=1))
    b = team(2, sub(3, 0.80, 0.80, minute=2))
    rows = final_rows(a, b)
    assert counted_ids(rows) == {1: 2, 2: 3}
    assert [(r.team_id, r.rank) for r in rows] == [(2, 1), (1, 2)]


def test_rule_without_finals_the_best_public_one_counts_not_the_best_private():
    rows = final_rows(team(1, sub(1, 0.80, 0.99), sub(2, 0.90, 0.60, minute=1)))
    assert counted_ids(rows) == {1: 2}


def test_rule_the_earlier_of_two_equal_scores_wins():
    # Within a team: two finals with the same private AUC; the earlier one counts.
    a = team(1, sub(1, 0.80, 0.90, final=True, minute=1), sub(2, 0.85, 0.90, final=True, minute=5))
    # Between teams: the same private AUC; the team whose counted file came first ranks higher,
    # whatever their ids or their order of registration.
    b = team(2, sub(3, 0.70, 0.90, minute=0))
    rows = final_rows(a, b)
    assert counted_ids(rows) == {1: 1, 2: 3}
    assert [(r.team_id, r.rank) for r in rows] == [(2, 1), (1, 2)]
    # Without finals, two equal public AUCs: the earlier submission is the best public one.
    c = team(3, sub(5, 0.90, 0.50, minute=9), sub(6, 0.90, 0.95, minute=3))
    assert [s.id for s in counted_submissions(c)] == [6]


def test_rule_entries_count_every_scored_submission_of_the_team():
    # Entries: a team's scored submissions before the close, the disqualified ones included, not
    # the late ones, not the models still queued or running or failed, and nobody else's; the
    # last submission is the last of those.
    a = team(1, sub(1, 0.9, 0.9), sub(2, 0.8, 0.8, dq="copied"), sub(3, 0.7, 0.7, minute=1),
             sub(7, 0.99, 0.99, minute=30, late=True), sub(8, 0.5, 0.5, minute=40, status="queued"),
             sub(9, 0.5, 0.5, minute=41, status="failed"))  # fmt: skip
    b = team(2, sub(4, 0.6, 0.6))
    for rows in (public_rows([a, b]), final_rows(a, b)):
        assert {r.team_id: r.entries for r in rows} == {1: 3, 2: 1}
        assert {r.team_id: r.last_submission.minute for r in rows} == {1: 1, 2: 0}


@pytest.mark.parametrize("status", ["queued", "running", "failed"])
def test_rule_submissions_without_a_score_never_count(status):
    # Even marked final, and even with numbers in its columns, an unscored row is not ranked.
    a = team(1, sub(1, 0.70, 0.70), sub(2, 0.99, 0.99, final=True, status=status))
    b = team(2, sub(3, 0.99, 0.99, status=status))
    assert [s.id for s in counted_submissions(a)] == [1]
    assert counted_submissions(b) == []
    assert [(r.team_id, r.submission_id) for r in public_rows([a, b])] == [(1, 1)]
    assert [(r.team_id, r.submission_id) for r in final_rows(a, b)] == [(1, 1)]


def upload_all(api, clock, plan):
    """plan: {team: [(skill, seed), ...]}; returns tokens."""
    tokens = {}
    for name, entries in plan.items():
        tokens[name] = api.register(name)
        for skill, seed in entries:
            assert (
                api.submit(tokens[name], api.submission(skill=skill, seed=seed)).status_code == 201
            )
            clock.advance(minutes=1)
    return tokens


def private_part(answer_key, data):
    scores = read_submission(data).set_index("event_id")["score"]
    private = answer_key[answer_key["split"] == "private"]
    return private["label"].to_numpy(), scores.reindex(private["event_id"]).to_numpy()


def test_final_ranking_after_the_reveal(app, api, clock, runner, answer_key):
    plan = {"a": [(0.3, 1), (2.5, 2)], "b": [(1.0, 3)], "c": [(4.0, 4), (0.0, 5)]}
    tokens = upload_all(api, clock, plan)
    # Team c marks its weak second file as final: that is the one that counts, not its best.
    api.client.post("/api/submissions/5/final", json={"final": True},
                    headers={"Authorization": f"Bearer {tokens['c']}"})  # fmt: skip
    result = runner.invoke(["add-reference", "matched filter", str(write(app, api, 6.0, 9))])
    assert result.exit_code == 0, result.output
    before = api.client.get("/api/leaderboard").get_json()["rows"]
    public_rank = {r["team"]: r["rank"] for r in before}
    assert runner.invoke(["reveal"]).exit_code == 0
    body = api.client.get("/api/leaderboard").get_json()
    assert body["revealed"] is True
    with session_scope(app) as db:
        subs = {s.id: s for s in db.query(Submission)}
    counted = {"a": max([1, 2], key=lambda i: subs[i].public_auc), "b": 3, "c": 5}
    expected_order = sorted(counted, key=lambda t: -subs[counted[t]].private_auc)
    teams_rows = [r for r in body["rows"] if not r["reference"]]
    assert [r["team"] for r in teams_rows] == expected_order
    assert [r["rank"] for r in teams_rows] == [1, 2, 3]
    for row in teams_rows:
        assert row["counted_submission"] == counted[row["team"]]
        assert row["private_auc"] == subs[counted[row["team"]]].private_auc
        assert row["public_rank"] == public_rank[row["team"]]
        assert row["rank_change"] == public_rank[row["team"]] - row["rank"]
    # The p-value against the next team is the paired DeLong test on the private split.
    data = {i: stored_bytes(app, subs[i]) for i in counted.values()}
    for row, following in zip(teams_rows, teams_rows[1:], strict=False):
        labels, first = private_part(answer_key, data[counted[row["team"]]])
        _, second = private_part(answer_key, data[counted[following["team"]]])
        assert row["p_value_vs_next"] == pytest.approx(delong_test(labels, first, second)[1])
    assert teams_rows[-1]["p_value_vs_next"] is None
    reference = [r for r in body["rows"] if r["reference"]]
    assert reference[0]["team"] == "matched filter" and reference[0]["rank"] is None
    assert reference[0]["p_value_vs_next"] is None
    page = api.client.get("/").get_data(as_text=True)
    assert "Final ranking" in page and "reference" in page
    for row in teams_rows:
        assert f"{row['private_auc']:.4f}" in page


def stored_bytes(app, submission):
    from leaderboard import storage

    return storage.load(app.config["UPLOAD_FOLDER"], submission.sha256)


def write(app, api, skill, seed):
    from pathlib import Path

    path = Path(app.config["UPLOAD_FOLDER"]).parent / f"reference-{seed}.csv"
    path.write_bytes(api.submission(skill=skill, seed=seed))
    return path


def number_forms(value: float) -> set[str]:
    """The ways a number may be printed: repr, JSON, and 3 to 6 decimals."""
    return {repr(value), json.dumps(value)} | {f"{value:.{d}f}" for d in range(3, 7)}


def test_no_private_number_anywhere_before_the_reveal(app, api, client, clock, runner):
    """Walk every route as anonymous visitor, as a logged-in team and through the API."""
    plan = {"alpha": [(0.8, 21), (1.5, 22)], "beta": [(1.1, 23)]}
    tokens = upload_all(api, clock, plan)
    result = runner.invoke(["add-reference", "baseline", str(write(app, api, 2.0, 24))])
    assert result.exit_code == 0, result.output
    # alpha's models of yesterday (outside today's quota): #5 queued, #6 failed, #7 scored.
    yesterday = clock.now - timedelta(days=1)
    for status, seed in (("queued", None), ("failed", None), ("scored", 25)):
        scores = None if seed is None else api.submission(skill=1.2, seed=seed)
        add_model(app, 1, status, at=yesterday, scores=scores)
    with session_scope(app) as db:
        subs = [s for s in db.query(Submission) if s.status == "scored"]
    private = set().union(*(number_forms(v) for s in subs
                            for v in (s.private_auc, s.private_lo, s.private_hi)))  # fmt: skip
    public = set().union(*(number_forms(v) for s in subs
                           for v in (s.public_auc, s.public_lo, s.public_hi)))  # fmt: skip
    private -= public | {"1.000", "0.000", "1.0000", "0.0000", "1.00000", "0.00000"}
    private = {p for p in private if len(p) >= 5}
    assert len(private) > 20
    seen = {}

    def visit(label, response):
        seen[label] = response
        return response

    auth = {"Authorization": f"Bearer {tokens['alpha']}"}
    team = app.test_client()
    team.post("/login", data={"token": tokens["alpha"]})
    visited_rules = set()
    for who, c in (("anonymous", client), ("team", team)):
        for path, rule in [
            ("/", "/"), ("/teams/1", "/teams/<int:team_id>"), ("/teams/2", "/teams/<int:team_id>"),
            ("/teams/3", "/teams/<int:team_id>"), ("/teams/1/scores.png", "/teams/<int:team_id>/scores.png"),
            ("/roc.png", "/roc.png"), ("/rank_stability.png", "/rank_stability.png"),
            ("/register", "/register"), ("/login", "/login"),
            ("/submit", "/submit"), ("/api/leaderboard", "/api/leaderboard"),
            ("/api/health", "/api/health"), ("/static/style.css", "/static/<path:filename>"),
            ("/favicon.ico", "/favicon.ico"),
            ("/admin/", "/admin/"), ("/admin/login", "/admin/login"),
            ("/overview", "/overview"), ("/data", "/data"), ("/evaluation", "/evaluation"),
            ("/rules", "/rules"), ("/data/files/train.root", "/data/files/<name>"),
            ("/course", "/course"), ("/api/course/settings", "/api/course/settings"),
            ("/api/course/progress", "/api/course/progress"), ("/admin/course", "/admin/course"),
            ("/admin/course.csv", "/admin/course.csv"),
        ]:  # fmt: skip
            with c.get(path) as response:
                visit(f"{who} GET {path}", response).get_data()
            visited_rules.add(rule)

    # Team actions, including the ones that fail.
    def form_upload(data):
        files = {"file": (io.BytesIO(data), "f.csv")}
        return team.post("/submit", data=files, content_type="multipart/form-data")

    visit("form upload", form_upload(api.submission(seed=30)))
    visit("form bad upload", form_upload(b"x"))
    visit("form final", team.post("/submissions/1/final", data={"final": "1"}))
    visit("form final 2", team.post("/submissions/2/final", data={"final": "1"}))
    visit("form final 409", team.post("/submissions/8/final", data={"final": "1"}))
    visit("form final queued", team.post("/submissions/5/final", data={"final": "1"}))
    visit("team page after", team.get("/teams/1"))
    visit("register", client.post("/register", data={"name": "gamma"}))
    visit("register 409", client.post("/register", data={"name": "gamma"}))
    visit("login bad", client.post("/login", data={"token": "x"}))
    visit("logout", team.post("/logout"))
    visit("api register", client.post("/api/teams", json={"name": "delta"}))
    visit("api submit", api.submit(tokens["alpha"], api.submission(seed=31)))
    visit("api submit 429", api.submit(tokens["alpha"], api.submission(seed=32)))
    visit("api submit 400", api.submit(tokens["beta"], b"event_id,score\n"))
    visit("api list", client.get("/api/submissions", headers=auth))
    visit("api final", client.post("/api/submissions/2/final", json={"final": True}, headers=auth))
    visit(
        "api final 409", client.post("/api/submissions/6/final", json={"final": True}, headers=auth)
    )
    visit("admin post anonymous", client.post("/admin/reveal", data={"confirm": "reveal"}))
    visit("admin logout", client.post("/admin/logout"))
    visit("admin export anonymous", client.get("/admin/export/submissions.csv"))
    visit("admin export as team", client.get("/admin/export/submissions.csv", headers=auth))
    from tests.test_leaderboard_course import report

    course_report = {"reports": [report(1)]}
    visit("course report", client.post("/api/course/reports", json=course_report, headers=auth))
    visit("course progress", client.get("/api/course/progress", headers=auth))
    visit("course page after", client.get("/course"))
    visit("course settings anonymous", client.post("/admin/course/settings", data={}))
    visit("api new token", client.post("/api/token", headers=auth))
    team.post("/login", data={"token": tokens["beta"]})
    visit("form new token", team.post("/token"))
    visited_rules |= {"/token", "/api/token", "/submit", "/submissions/<int:submission_id>/final", "/register", "/login",
                      "/logout", "/api/teams", "/api/submissions",
                      "/api/submissions/<int:submission_id>/final", "/admin/reveal",
                      "/admin/logout", "/admin/export/<what>.csv", "/api/course/reports",
                      "/admin/course/settings"}  # fmt: skip
    assert seen["course report"].status_code == 201, seen["course report"].get_json()
    assert seen["api submit 429"].status_code == 429 and seen["form final 409"].status_code == 409
    assert seen["form final queued"].status_code == 409 and seen["api final 409"].status_code == 409
    assert seen["admin post anonymous"].status_code == 302
    assert seen["admin export as team"].status_code == 403  # a team token is no guess
    for label, response in seen.items():
        text = response.get_data(as_text=not response.mimetype.startswith("image"))
        if isinstance(text, bytes):
            continue
        text += " ".join(f"{k}: {v}" for k, v in response.headers.items())
        leaked = sorted(p for p in private if re.search(rf"(?<![\d.]){re.escape(p)}", text))
        assert not leaked, f"{label} shows private numbers {leaked}"
    every_route = {rule.rule for rule in app.url_map.iter_rules()}
    organizer_only = {r for r in every_route if r.startswith("/admin/") and "<" in r}
    assert every_route - organizer_only <= visited_rules
    # And the same walk finds them once revealed: the check above can see a leak.
    with session_scope(app, write=True) as db:
        db.get(Submission, 5).status = "failed"  # a worker's verdict: the reveal waits for it
    assert runner.invoke(["reveal"]).exit_code == 0
    text = client.get("/api/leaderboard").get_data(as_text=True)
    text += client.get("/").get_data(as_text=True)
    assert any(re.search(rf"(?<![\d.]){re.escape(p)}", text) for p in private)


def test_figures_before_the_reveal_carry_no_private_data(api, client, clock):
    upload_all(api, clock, {"alpha": [(1.0, 1)]})
    assert client.get("/roc.png").status_code == 404


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_the_candidates_read_in_sql_rank_as_every_submission_does(app, higher_is_better):
    """``ranking_teams(candidates_for=...)`` reads a few rows a team; the public board (plain
    and Ladder) and the final ranking must come out exactly as from all of them."""
    from leaderboard import queries
    from leaderboard.models import Team

    rng = np.random.default_rng(5)
    t0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
    with session_scope(app) as db:
        for t in range(12):
            team = Team(name=f"t{t}", name_key=f"t{t}", token_hash=f"{t:064d}", created_at=t0,
                        is_reference=t == 0, disqualified_reason="x" if t == 1 else None)  # fmt: skip
            db.add(team)
            db.flush()
            for i in range(int(rng.integers(0, 9))):
                public, private = np.round(rng.uniform(0.5, 0.9, 2), 2)  # ties come up
                db.add(Submission(
                    team_id=team.id, created_at=t0 + timedelta(minutes=int(rng.integers(0, 50))),
                    filename="s.csv", sha256=f"{t}-{i}", scores_sha256=f"{t}-{i}", size_bytes=1,
                    status=str(rng.choice(["scored", "scored", "scored", "failed"])),
                    public_auc=public, public_lo=public - 0.1, public_hi=public + 0.1,
                    private_auc=private, private_lo=private - 0.1, private_hi=private + 0.1,
                    is_final=bool(rng.random() < 0.2), is_late=bool(rng.random() < 0.1),
                    disqualified_reason="copied" if rng.random() < 0.1 else None,
                    ladder_accepted=bool(rng.random() < 0.5),
                ))  # fmt: skip
        team = Team(name="none accepted", name_key="none accepted", token_hash="f" * 64,
                    created_at=t0)  # fmt: skip
        db.add(team)
        db.flush()
        for i, public in enumerate((0.6, 0.8, 0.7)):  # a Ladder board shows its first one
            db.add(Submission(team_id=team.id, created_at=t0, filename="s.csv", sha256=f"n{i}",
                              scores_sha256=f"n{i}", size_bytes=1, status="scored",
                              public_auc=public, public_lo=0, public_hi=1, private_auc=public,
                              private_lo=0, private_hi=1, ladder_accepted=False))  # fmt: skip
    metric = SimpleNamespace(
        higher_is_better=higher_is_better,
        sort_key=(lambda v: -v) if higher_is_better else (lambda v: v),
        paired_test=lambda labels, a, b: (0.0, float(a[0] - b[0])),
    )
    with session_scope(app) as db:
        full = queries.ranking_teams(db)
        candidates = queries.ranking_teams(db, candidates_for=higher_is_better)
    assert sum(len(t.submissions) for t in candidates) < sum(len(t.submissions) for t in full)
    for digits in (None, 2):
        assert _public(candidates, metric, digits) == _public(full, metric, digits)
        assert _private(candidates, lambda s: [s.id], LABELS, metric, digits) == _private(
            full, lambda s: [s.id], LABELS, metric, digits
        )
    assert [t.entries for t in full] == [
        sum(s.status == "scored" and not s.is_late for s in t.submissions) for t in full
    ]
