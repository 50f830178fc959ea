"""Every reader of submissions copes with rows that are not scored: a model ``queued``,
``running`` or ``failed`` has no score, and a scored model's per-event scores are the CSV a worker
wrote (``scores_sha256``), never the uploaded model. Rows are made here as a worker leaves them
(``queries.add_submission``), on SQLite and PostgreSQL, and then the board, the API, the team
page, the exports, the finals, the reveal and the CLI are read back."""

from __future__ import annotations

import csv
import io
import os
import re
import time
from datetime import timedelta

import pytest

from challenge.metrics import delong_test
from challenge.submission import read_submission
from leaderboard import grading, queries, storage
from leaderboard.db import session_scope
from leaderboard.models import Submission
from tests.conftest import ADMIN_TOKEN, submission_bytes

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FAILURE = "output has shape (n, 2), expected (n,)"


def add_model(app, team_id, status, *, at, scores=None, late=False, model=None):
    """A model submission as the upload and a worker leave it: the model file (.onnx.gz; bytes
    of its own unless ``model``), and once scored the worker's scores CSV and the six scores
    computed from it."""
    model = model if model is not None else f"onnx model {status} {at} {team_id}".encode()
    folder = app.config["UPLOAD_FOLDER"]
    fields = dict(created_at=at, filename="model.onnx", note="", sha256=storage.store(folder, model, storage.MODEL),
                  size_bytes=len(model), kind="model", status=status, is_late=late)  # fmt: skip
    if status == "scored":
        fields |= scores_columns(app, scores, at=at + timedelta(seconds=30))
    if status == "running":
        fields |= {"started_at": at + timedelta(seconds=10)}  # claimed by a worker
    if status == "failed":
        fields |= {"failure_reason": FAILURE, "scored_at": at + timedelta(seconds=30)}
    with session_scope(app, write=True) as db:
        return queries.add_submission(db, queries.get_team(db, team_id), **fields).id


def scores_columns(app, scores: bytes, *, at) -> dict:
    """What a worker records once it has scored a model that output ``scores`` (a CSV)."""
    _, scored = grading.grade(scores, name="scores.csv", app=app)
    return scored.columns() | {
        "status": "scored",
        "scores_sha256": storage.store(app.config["UPLOAD_FOLDER"], scores),
        "scored_at": at,
    }


def upload(api, token, *, skill, seed):
    response = api.submit(token, api.submission(skill=skill, seed=seed))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


@pytest.fixture
def league(app, api, clock, answer_key):
    """alpha: a scored prediction file, then a queued, a running and a failed model;
    beta: only a queued model; gamma: a scored model (better than alpha) whose model file is a
    decoy CSV. Returns tokens and submission ids."""
    tokens = {name: api.register(name) for name in ("alpha", "beta", "gamma")}
    ids = {"alpha file": upload(api, tokens["alpha"], skill=1.0, seed=1)}
    for name, team_id, status in [("alpha queued", 1, "queued"), ("alpha running", 1, "running"),
                                  ("alpha failed", 1, "failed"), ("beta queued", 2, "queued")]:  # fmt: skip
        ids[name] = add_model(app, team_id, status, at=clock.advance(minutes=1))
    # gamma's model file is a decoy: a valid CSV of other scores, stored as a prediction file
    # too, so that reading the model's hash instead of its scores file gives wrong numbers.
    decoy = submission_bytes(answer_key, skill=0.2, seed=3)
    storage.store(app.config["UPLOAD_FOLDER"], decoy)
    ids["gamma model"] = add_model(
        app, 3, "scored", at=clock.advance(minutes=1),
        scores=submission_bytes(answer_key, skill=3.0, seed=2), model=decoy,
    )  # fmt: skip
    clock.advance(minutes=1)
    return tokens, ids


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_the_board_ranks_and_counts_only_scored_submissions(client, league, clock):
    tokens, ids = league
    body = client.get("/api/leaderboard").get_json()
    rows = {row["team"]: row for row in body["rows"]}
    assert [row["team"] for row in body["rows"]] == ["gamma", "alpha"]  # beta has no score
    assert (rows["alpha"]["entries"], rows["gamma"]["entries"]) == (1, 1)
    # The last submission of the row is the last scored one, not the queued or failed models.
    assert rows["alpha"]["last_submission"] == "2026-03-02T09:30:00Z"
    assert all(row["rank_lo"] is not None for row in body["rows"])
    page = client.get("/").get_data(as_text=True)
    assert "gamma" in page and "beta" not in page
    assert 'title="scored submissions made before the close">Entries</th>' in page


def test_late_models_are_listed_only_once_scored(app, client, league, answer_key, clock):
    add_model(app, 2, "queued", at=clock.now, late=True)
    add_model(app, 2, "failed", at=clock.now, late=True)
    late = add_model(app, 2, "scored", at=clock.now, late=True,
                     scores=submission_bytes(answer_key, skill=2.0, seed=4))  # fmt: skip
    assert [item["id"] for item in client.get("/api/leaderboard").get_json()["late"]] == [late]


def private_part(key, data):
    scores = read_submission(data).set_index("event_id")["score"]
    private = key[key["split"] == "private"]
    return private["label"].to_numpy(), scores.reindex(private["event_id"]).to_numpy()


def test_per_event_scores_come_from_the_scores_file(app, client, league, runner, answer_key):
    """The DeLong p-value and the ROC curves of a scored model read the worker's scores CSV; its
    model file here is a valid CSV of other scores, which would give another p-value."""
    _, ids = league
    finish_pending(app, ids)
    assert runner.invoke(["reveal"]).exit_code == 0
    rows = client.get("/api/leaderboard").get_json()["rows"]
    assert [row["team"] for row in rows] == ["gamma", "alpha"]
    with session_scope(app) as db:
        gamma, alpha = db.get(Submission, ids["gamma model"]), db.get(Submission, ids["alpha file"])
        folder = app.config["UPLOAD_FOLDER"]
        labels, first = private_part(answer_key, storage.load(folder, gamma.scores_sha256))
        _, second = private_part(answer_key, storage.load(folder, alpha.scores_sha256))
    assert rows[0]["p_value_vs_next"] == pytest.approx(delong_test(labels, first, second)[1])
    assert rows[0]["private_auc"] == gamma.private_auc
    assert client.get("/roc.png").status_code == 200
    assert client.get("/rank_stability.png").status_code == 200


def finish_pending(app, ids):
    """What workers do before the reveal: the queued and running models end (failed here)."""
    with session_scope(app, write=True) as db:
        for submission in db.query(Submission).filter(Submission.status.in_(("queued", "running"))):
            submission.status, submission.failure_reason = "failed", "exceeded 60 s"


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("alpha queued", "submission #{id} is queued: mark it final once it is scored"),
        ("alpha running", "submission #{id} is being scored: mark it final once it is scored"),
        ("alpha failed", "submission #{id} failed: it has no score and cannot count"),
    ],
)
def test_only_scored_submissions_can_be_marked_final(client, league, which, message):
    tokens, ids = league
    response = client.post(f"/api/submissions/{ids[which]}/final", json={"final": True},
                           headers=auth(tokens["alpha"]))  # fmt: skip
    assert response.status_code == 409
    assert response.get_json() == {"error": message.format(id=ids[which])}


def test_a_scored_model_can_be_marked_final(client, league):
    tokens, ids = league
    response = client.post(f"/api/submissions/{ids['gamma model']}/final", json={"final": True},
                           headers=auth(tokens["gamma"]))  # fmt: skip
    assert response.status_code == 200


def team_client(app, token):
    browser = app.test_client()
    assert browser.post("/login", data={"token": token}).status_code == 302
    return browser


def final_buttons(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'action="/submissions/(\d+)/final"', page)]


REFRESH = '<meta http-equiv="refresh" content="5">'


def test_the_team_page_shows_each_status(app, client, league, clock, answer_key):
    tokens, ids = league
    late = upload_late(app, clock, answer_key)
    page = team_client(app, tokens["alpha"]).get("/teams/1").get_data(as_text=True)
    cells = re.findall(r'<td class="status (\w+)" data-label="Status">(\w+)', page)
    assert cells == [("scored", "scored"), ("queued", "queued"), ("running", "running"),
                     ("failed", "failed"), ("scored", "scored")]  # fmt: skip
    assert (
        FAILURE in page and "running <small>(model)</small> <small>since 09:32:10</small>" in page
    )
    # Mark final: only the scored, on-time rows; "once scored", "cannot count" and "late" else.
    assert final_buttons(page) == [ids["alpha file"]]
    assert "once scored" in page and "no score: cannot count" in page and late in page
    assert page.count(REFRESH) == 1  # queued and running: the page reloads itself
    # Others see the status, not the team's failure reason; gamma's page has nothing pending.
    public = client.get("/teams/1").get_data(as_text=True)
    assert ">failed" in public and FAILURE not in public
    assert REFRESH not in client.get("/teams/3").get_data(as_text=True)
    # The score history draws the scored submissions (a model without a score has no point).
    assert client.get("/teams/1/scores.png").status_code == 200


def upload_late(app, clock, answer_key) -> str:
    """alpha's scored late model (after the configured close); returns the page's late note."""
    app.config["CLOSE_AT"] = clock.now
    add_model(app, 1, "scored", at=clock.advance(minutes=1), late=True,
              scores=submission_bytes(answer_key, skill=2.0, seed=5))  # fmt: skip
    return "late: never counts"


def test_the_page_stops_refreshing_once_nothing_is_pending(app, league):
    tokens, ids = league
    finish_pending(app, ids)
    page = team_client(app, tokens["alpha"]).get("/teams/1").get_data(as_text=True)
    assert "http-equiv" not in page


def test_the_api_lists_status_and_null_scores(app, client, league, runner):
    tokens, ids = league
    items = client.get("/api/submissions", headers=auth(tokens["alpha"])).get_json()["submissions"]
    by_id = {item["id"]: item for item in items}
    assert [by_id[ids[k]]["status"] for k in ("alpha file", "alpha queued", "alpha running",
                                              "alpha failed")] == ["scored", "queued", "running",
                                                                   "failed"]  # fmt: skip
    file, failed = by_id[ids["alpha file"]], by_id[ids["alpha failed"]]
    assert (file["kind"], failed["kind"]) == ("predictions", "model")
    assert failed["failure_reason"] == FAILURE and file["failure_reason"] is None
    assert failed["scored_at"] == "2026-03-02T09:33:30Z" and file["scored_at"] == file["created_at"]
    for item in items[1:]:
        assert item["public_auc"] is None and item["public_auc_ci"] is None and item["rows"] is None
    assert not any("private" in key for item in items for key in item)
    finish_pending(app, ids)
    assert runner.invoke(["reveal"]).exit_code == 0
    items = client.get("/api/submissions", headers=auth(tokens["alpha"])).get_json()["submissions"]
    assert items[0]["private_auc"] is not None and items[0]["private_auc_ci"] is not None
    assert all(item["private_auc"] is None and item["private_auc_ci"] is None for item in items[1:])


def test_the_reveal_waits_for_queued_and_running_models(app, client, league, runner):
    tokens, ids = league
    result = runner.invoke(["reveal"])
    assert result.exit_code == 1
    assert (
        f"3 submissions made before the close are not scored yet (2 queued, 1 running: "
        f"#{ids['alpha queued']}, #{ids['alpha running']}, #{ids['beta queued']}); the final "
        "ranking must include them. Start workers (`leaderboard worker`)"
    ) in " ".join(result.output.split())
    form = client.post("/admin/reveal", data={"confirm": "reveal"}, headers=BEARER)
    assert form.status_code == 409 and "not scored yet" in form.get_data(as_text=True)
    with session_scope(app) as db:
        assert not queries.is_revealed(db) and queries.closed_at(db) is None
    # A disqualified model and a late one cannot count: the reveal does not wait for those.
    disqualify = ["disqualify", "--submission", str(ids["beta queued"]), "--reason", "copied"]
    assert runner.invoke(disqualify).exit_code == 0
    with session_scope(app, write=True) as db:
        db.get(Submission, ids["alpha running"]).is_late = True
        db.get(Submission, ids["alpha queued"]).status = "failed"
    result = runner.invoke(["reveal"])
    assert result.exit_code == 0, result.output
    # Failed models never count: alpha is ranked by its prediction file.
    rows = client.get("/api/leaderboard").get_json()["rows"]
    assert {row["team"]: row["counted_submission"] for row in rows} == {
        "gamma": ids["gamma model"], "alpha": ids["alpha file"]}  # fmt: skip


def test_a_model_scored_after_the_reveal_changes_no_revealed_ranking(
    app, client, league, runner, clock, answer_key
):
    """beta's model, queued before the close, is disqualified so that the reveal goes ahead,
    then reinstated and scored (excellently) after it: neither the revealed ranking nor a
    re-ranking takes it in, because the ranking is of what was scored at the reveal."""
    tokens, ids = league
    finish_pending_except(app, ids["beta queued"])
    assert runner.invoke(["disqualify", "--submission", str(ids["beta queued"]),
                          "--reason", "late check"]).exit_code == 0  # fmt: skip
    assert runner.invoke(["reveal"]).exit_code == 0
    before = client.get("/api/leaderboard").get_data()
    clock.advance(minutes=5)
    reinstate = ["disqualify", "--submission", str(ids["beta queued"]), "--undo"]
    assert runner.invoke(reinstate).exit_code == 0
    best = scores_columns(app, submission_bytes(answer_key, skill=9.0, seed=6), at=clock.now)
    with session_scope(app, write=True) as db:
        model = db.get(Submission, ids["beta queued"])
        for field, value in best.items():
            setattr(model, field, value)
    assert client.get("/api/leaderboard").get_data() == before
    result = runner.invoke(["rerank", "--reason", "reinstated beta's model"])
    assert result.exit_code == 0, result.output
    assert "no rank or score changed" in result.output
    assert "beta" not in [row["team"] for row in client.get("/api/leaderboard").get_json()["rows"]]


def finish_pending_except(app, keep_id):
    with session_scope(app, write=True) as db:
        for submission in db.query(Submission).filter(Submission.status.in_(("queued", "running"))):
            if submission.id != keep_id:
                submission.status, submission.failure_reason = "failed", "exceeded 60 s"


def test_exports_carry_kind_status_and_reason_with_empty_scores(client, league):
    _, ids = league
    text = client.get("/admin/export/submissions.csv", headers=BEARER).get_data(as_text=True)
    rows = {int(row["id"]): row for row in csv.DictReader(io.StringIO(text))}
    failed, file = rows[ids["alpha failed"]], rows[ids["alpha file"]]
    assert (failed["kind"], failed["status"], failed["failure_reason"]) == (
        "model", "failed", FAILURE)  # fmt: skip
    score_columns = ["n_rows", "scores_sha256", "public_auc", "public_lo", "public_hi",
                     "private_auc", "private_lo", "private_hi"]  # fmt: skip
    for key in ("alpha queued", "alpha running", "alpha failed", "beta queued"):
        assert [rows[ids[key]][c] for c in score_columns] == [""] * len(score_columns)
    assert (file["kind"], file["status"], file["scores_sha256"]) == (
        "predictions", "scored", file["sha256"])  # fmt: skip
    board = client.get("/admin/export/leaderboard.csv", headers=BEARER).get_data(as_text=True)
    assert [row["team"] for row in csv.DictReader(io.StringIO(board))] == ["gamma", "alpha"]


def test_the_admin_page_and_status_count_each_status(client, league, runner):
    _, ids = league
    page = client.get("/admin/", headers=BEARER).get_data(as_text=True)
    assert "Submissions: 2 queued, 1 running, 2 scored, 1 failed." in page
    assert "The reveal waits until none is queued or running" in page
    assert FAILURE in page.replace("&#39;", "'")
    result = runner.invoke(["status"])
    assert result.exit_code == 0, result.output
    assert "submissions:  6 in all" in result.output
    assert "scoring:      2 queued, 1 running, 2 scored, 1 failed" in result.output
    assert f"the reveal waits for 3 of them: #{ids['alpha queued']}, #{ids['alpha running']}, " \
        f"#{ids['beta queued']}" in result.output  # fmt: skip


def test_the_quota_counts_every_status(app, api, league, clock):
    """A failed or queued model costs the server as much as a scored file: alpha has made 4
    submissions today and the quota is 3, so its next upload is refused."""
    tokens, _ = league
    response = api.submit(tokens["alpha"], api.submission(seed=7))
    assert response.status_code == 429


def test_rescore_reads_the_scores_files_and_skips_unscored_rows(app, league, runner):
    """Nothing changed, so nothing may change: reading gamma's model file (a decoy CSV) instead
    of its scores would change its scores, and the unscored rows have no file to read."""
    result = runner.invoke(["rescore"])
    assert result.exit_code == 0, result.output
    assert "rescored: 0 submissions changed, 0 could not be scored" in result.output


def test_no_stored_file_of_a_row_is_orphaned(app, league, runner, tmp_path):
    """At start, files without a row move to orphaned/: never a model nor a worker's scores."""
    folder = app.config["UPLOAD_FOLDER"]
    stray = storage.store(folder, b"event_id,score\n")
    old = time.time() - 3600
    for path in storage.stored_files(folder):
        os.utime(path, (old, old))
    with session_scope(app) as db:
        recorded = queries.recorded_hashes(db)
        kept = {s.sha256 for s in db.query(Submission)} | {
            s.scores_sha256 for s in db.query(Submission) if s.scores_sha256
        }
    assert recorded == kept and stray not in recorded
    result = runner.invoke(["init-db"])  # as `serve` does at a restart
    assert result.exit_code == 0, result.output
    orphaned = {p.name for p in (tmp_path / "submissions" / storage.ORPHANED).iterdir()}
    assert orphaned == {stray + ".csv.gz"}
    assert {path.name.split(".")[0] for path in storage.stored_files(folder)} == kept
    assert any(path.name.endswith(storage.MODEL) for path in storage.stored_files(folder))


def test_the_same_model_or_the_same_predictions_from_two_teams_are_flagged(app, client, league):
    """beta and gamma upload one model file (beta's still queued): the same file. alpha and beta
    upload different model files whose scores are the same: the same predictions."""
    _, ids = league
    with session_scope(app) as db:
        gamma = db.get(Submission, ids["gamma model"])
    at = gamma.created_at + timedelta(minutes=9)
    same_file = add_model(app, 2, "queued", at=at, model=storage.load(
        app.config["UPLOAD_FOLDER"], gamma.sha256, storage.MODEL))  # fmt: skip
    scores = storage.load(app.config["UPLOAD_FOLDER"], gamma.scores_sha256)
    first, second = (add_model(app, team, "scored", at=at, scores=scores) for team in (1, 2))
    page = client.get("/admin/", headers=BEARER).get_data(as_text=True)
    section = page.split("The same file from several teams", 1)[1].split("<h2>", 1)[0]
    items = [" ".join(item.split()) for item in re.findall(r"<li>(.*?)</li>", section, re.S)]
    assert items == [
        f"sha256 <code>{gamma.sha256[:12]}</code>: #{ids['gamma model']} (gamma, 2026-03-02 "
        f"09:35), #{same_file} (beta, 2026-03-02 09:44)",
        f"the same predictions from different model files, scores sha256 <code>"
        f"{gamma.scores_sha256[:12]}</code>: #{ids['gamma model']} (gamma, 2026-03-02 09:35), "
        f"#{first} (alpha, 2026-03-02 09:44), #{second} (beta, 2026-03-02 09:44)",
    ]


def test_one_model_file_scored_for_two_teams_is_flagged_once(app, client, answer_key, clock):
    """The same model scores the same, so its scores group would repeat the file group."""
    for name in ("alpha", "beta"):
        queries_team(app, name)
    scores = submission_bytes(answer_key, skill=1.0, seed=8)
    for team in (1, 2):
        add_model(app, team, "scored", at=clock.now, scores=scores, model=b"one model")
    page = client.get("/admin/", headers=BEARER).get_data(as_text=True)
    section = page.split("The same file from several teams", 1)[1].split("<h2>", 1)[0]
    assert section.count("<li>") == 1 and "same predictions" not in section


def queries_team(app, name):
    with session_scope(app, write=True) as db:
        queries.create_team(db, name, now=app.config["NOW"]())


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_team_page_reloads_itself_in_chromium_until_the_model_is_scored(tmp_path):
    """A real `leaderboard serve` and Debian's chromium: the team page of a queued model reloads
    itself (a <meta> refresh: the Content-Security-Policy forbids inline script) and shows the
    score once a worker recorded it, then stops reloading."""
    from leaderboard import create_app
    from leaderboard.db import engine_of
    from tests.hostile.harness import live_server, make_site, register, upload
    from tests.test_reliability_browser import CHROMIUM, chromium

    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    site = make_site(tmp_path / "site")
    with live_server(site) as live:
        token = register(live.url, "alpha")
        assert upload(live.url, token, submission_bytes(site.key, skill=1.0, seed=1)).ok
        env = site.env()
        app = create_app({"DATABASE_URL": site.database_url, "ANSWER_KEY": env["LEADERBOARD_ANSWER_KEY"],
                          "UPLOAD_FOLDER": env["LEADERBOARD_UPLOAD_FOLDER"], "TESTING": True})  # fmt: skip
        with app.app_context():
            now = app.config["NOW"]()
            model = add_model(app, 1, "queued", at=now)
            scores = scores_columns(app, submission_bytes(site.key, skill=2.5, seed=2), at=now)
        with chromium() as browser:
            page = browser.new_page()
            page.goto(live.url + "/login")
            page.fill("input[name=token]", token)
            page.locator("main form button[type=submit]").click()
            page.goto(f"{live.url}/teams/1")
            assert page.locator("td.status.queued").count() == 1
            assert page.locator('meta[http-equiv="refresh"]').count() == 1
            with session_scope(app, write=True) as db:  # what the worker records
                submission = db.get(Submission, model)
                for field, value in scores.items():
                    setattr(submission, field, value)
            page.wait_for_selector("td.status.queued", state="detached", timeout=15_000)
            assert page.locator("td.status.scored").count() == 2
            shown = grading.answer_key(app).metric.format(scores["public_auc"])
            assert shown in page.locator("tbody tr").nth(1).inner_text()
            assert page.locator('meta[http-equiv="refresh"]').count() == 0
        engine_of(app).dispose()


def test_a_predictions_team_page_has_no_status_column(app, api, client):
    """Prediction files are scored on arrival: the page of a team without models is as before."""
    upload(api, api.register("alpha"), skill=1.0, seed=1)
    page = client.get("/teams/1").get_data(as_text=True)
    assert "<th>Status</th>" not in page and 'class="status' not in page
    app.config["SUBMISSIONS"] = "models"  # a models challenge shows it on every team page
    assert "<th>Status</th>" in client.get("/teams/1").get_data(as_text=True)
