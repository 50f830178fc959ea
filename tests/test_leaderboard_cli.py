"""The ``leaderboard`` command line: teams, references, reveal, export, rescore, disqualify,
backup and restore, serve, and its refusal to start when misconfigured."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, select, text

from challenge.scoring import load_answer_key, score_submission
from challenge.submission import read_submission
from leaderboard import storage
from leaderboard.cli import main
from leaderboard.db import session_scope
from leaderboard.models import Submission, Team


def test_init_db_and_add_team(api, runner):
    result = runner.invoke(["init-db"])
    assert result.exit_code == 0 and "database ready: " in result.output
    result = runner.invoke(["add-team", "Phonons"])
    assert result.exit_code == 0
    token = result.output.strip().rsplit(" ", 1)[-1]
    assert api.submit(token, api.submission()).status_code == 201
    taken = runner.invoke(["add-team", "phonons"])
    assert taken.exit_code == 1 and "already taken" in taken.output


def test_add_reference_is_shown_but_never_ranked(app, api, runner, tmp_path, answer_key):
    api.submit(api.register("alpha"), api.submission(skill=0.5, seed=1))
    path = tmp_path / "mf.csv"
    path.write_bytes(api.submission(skill=5.0, seed=2))
    result = runner.invoke(["add-reference", "matched filter", str(path)])
    expected = score_submission(read_submission(path), answer_key)["public"].value
    assert result.exit_code == 0 and f"public AUC {expected:.4f}" in result.output
    rows = api.client.get("/api/leaderboard").get_json()["rows"]
    assert [(r["team"], r["rank"], r["reference"]) for r in rows] == [
        ("matched filter", None, True), ("alpha", 1, False)]  # fmt: skip
    assert runner.invoke(["add-reference", "alpha", str(path)]).exit_code == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("event_id,score\n1,2\n")
    result = runner.invoke(["add-reference", "other", str(bad)])
    assert result.exit_code == 1 and "bad.csv" in result.output


def test_status(app, api, runner, clock):
    api.submit(api.register("alpha"), api.submission())
    clock.advance(days=1)
    api.submit(api.register("beta"), api.submission(seed=2))
    result = runner.invoke(["status"])
    assert result.exit_code == 0, result.output
    output = result.output
    assert "teams:        2 (+ 0 references)" in output
    assert "submissions:  2 in all, 1 today (UTC)" in output
    assert f"instance:     {app.instance_path} (" in output
    assert "revealed:     no" in output
    assert (
        "window:       always open (no LEADERBOARD_OPEN_AT or LEADERBOARD_CLOSE_AT set)" in output
    )


OPENS, CLOSES = "2026-03-02T09:00Z", "2026-03-06T16:00Z"
SPAN = "2026-03-02 09:00 UTC to 2026-03-06 16:00 UTC"


@pytest.mark.parametrize(
    ("open_at", "close_at", "now", "late", "expected"),
    [
        (OPENS, CLOSES, "2026-03-02T09:30Z", False, f"open: {SPAN}"),
        (OPENS, CLOSES, "2026-03-02T08:59Z", False,
         "not open yet: opens 2026-03-02 09:00 UTC, closes 2026-03-06 16:00 UTC"),
        (OPENS, CLOSES, "2026-03-06T16:00Z", False,
         "closed since 2026-03-06 16:00 UTC (opened 2026-03-02 09:00 UTC)"),
        (OPENS, CLOSES, "2026-03-07T00:00Z", True,
         "closed since 2026-03-06 16:00 UTC (opened 2026-03-02 09:00 UTC); late uploads are "
         "taken, listed apart, never ranked"),
        (OPENS, None, "2026-03-02T09:30Z", False, "open since 2026-03-02 09:00 UTC, no closing time"),
        (OPENS, None, "2026-03-01T00:00Z", False,
         "not open yet: opens 2026-03-02 09:00 UTC, no closing time"),
        (None, "2026-03-06T16:00+01:00", "2026-03-02T09:30Z", False, "open until 2026-03-06 15:00 UTC"),
        (None, "2026-03-06T16:00+01:00", "2026-03-06T15:00Z", False, "closed since 2026-03-06 15:00 UTC"),
    ],
)  # fmt: skip
def test_status_says_whether_the_window_is_open(
    app_config, make_app, clock, open_at, close_at, now, late, expected
):
    clock.now = datetime.fromisoformat(now)
    config = {**app_config, "OPEN_AT": open_at, "CLOSE_AT": close_at, "LATE_SUBMISSIONS": late}
    result = CliRunner().invoke(main, ["status"], obj=make_app(config))
    assert result.exit_code == 0, result.output
    assert f"window:       {expected}; registration open\n" in result.output


def test_status_says_the_reveal_closed_the_window(api, runner, clock):
    api.submit(api.register("alpha"), api.submission())
    assert runner.invoke(["reveal"]).exit_code == 0
    result = runner.invoke(["status"])
    assert result.exit_code == 0, result.output
    assert (
        f"window:       closed since {clock.now:%Y-%m-%d %H:%M} UTC; registration" in result.output
    )


def test_reveal_and_undo(api, runner):
    result = runner.invoke(["reveal"])
    assert result.exit_code == 0 and "revealed" in result.output
    assert api.client.get("/api/leaderboard").get_json()["revealed"] is True
    assert runner.invoke(["reveal", "--undo"]).exit_code == 0
    assert api.client.get("/api/leaderboard").get_json()["revealed"] is False


def test_export(api, runner, tmp_path):
    api.submit(api.register("@team"), api.submission())
    result = runner.invoke(["export", "submissions"])
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert result.exit_code == 0 and rows[0]["team"] == "'@team"
    out = tmp_path / "board.csv"
    assert runner.invoke(["export", "leaderboard", "--output", str(out)]).exit_code == 0
    assert list(csv.DictReader(io.StringIO(out.read_text())))[0]["rank"] == "1"


def test_disqualify_from_the_cli(api, runner):
    api.submit(api.register("alpha"), api.submission())
    assert runner.invoke(["disqualify", "--submission", "1"]).exit_code == 2  # no reason
    assert runner.invoke(["disqualify", "--reason", "x"]).exit_code == 2  # no target
    assert runner.invoke(["disqualify", "--submission", "9", "--reason", "x"]).exit_code == 1
    result = runner.invoke(["disqualify", "--submission", "1", "--reason", "late"])
    assert result.exit_code == 0 and "submission #1 disqualified" in result.output
    assert api.client.get("/api/leaderboard").get_json()["rows"] == []
    assert runner.invoke(["disqualify", "--submission", "1", "--undo"]).exit_code == 0
    assert len(api.client.get("/api/leaderboard").get_json()["rows"]) == 1
    assert runner.invoke(["disqualify", "--team", "ALPHA", "--reason", "x"]).exit_code == 0
    assert api.client.get("/api/leaderboard").get_json()["rows"] == []


def test_rescore_after_correcting_the_answer_key(app_config, make_app, app, api, tmp_path):
    token = api.register("alpha")
    files = [api.submission(skill=1.0, seed=s) for s in (1, 2)]
    for data in files:
        api.submit(token, data)
    # The organizers find two wrong labels in the private split and correct the key.
    key = load_answer_key(tmp_path / "answer_key.csv")
    private = key.index[key["split"] == "private"]
    key.loc[private[:2], "label"] = 1 - key.loc[private[:2], "label"]
    key.to_csv(tmp_path / "answer_key.csv", index=False)
    corrected = make_app(app_config)  # what the CLI does: a fresh app reads the new key
    result = CliRunner().invoke(main, ["rescore"], obj=corrected)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("rescored: 2 submissions changed, 0 could not be scored")
    with session_scope(app) as db:
        rows = list(db.scalars(select(Submission).order_by(Submission.id)))
    for row, data in zip(rows, files, strict=True):
        expected = score_submission(read_submission(data), key)
        assert row.private_auc == pytest.approx(expected["private"].value, abs=1e-12)
        assert row.public_auc == pytest.approx(expected["public"].value, abs=1e-12)
    again = CliRunner().invoke(main, ["rescore"], obj=corrected)
    assert again.exit_code == 0, again.output
    assert again.output.startswith("rescored: 0 submissions changed")


def test_rescore_reports_files_that_no_longer_fit(app_config, make_app, app, api, tmp_path):
    api.submit(api.register("alpha"), api.submission())
    key = load_answer_key(tmp_path / "answer_key.csv")
    key.iloc[:-1].to_csv(tmp_path / "answer_key.csv", index=False)  # one event fewer
    result = CliRunner().invoke(main, ["rescore"], obj=make_app(app_config))
    assert result.exit_code == 1
    assert "submission #1: sub.csv: line 41: the file has more than 39 rows" in result.output


def test_backup_and_restore(app, api, runner, tmp_path):
    api.submit(api.register("alpha"), api.submission())
    result = runner.invoke(["backup", str(tmp_path / "backup")])
    assert result.exit_code == 0, result.output
    assert "1 submission files" in result.output
    assert runner.invoke(["add-team", "beta"]).exit_code == 0
    for path in (tmp_path / "submissions").rglob("*.csv.gz"):
        path.unlink()
    assert runner.invoke(["restore", str(tmp_path / "backup")], input="n\n").exit_code == 1
    result = runner.invoke(["restore", str(tmp_path / "backup"), "--yes"])
    assert result.exit_code == 0, result.output
    with session_scope(app) as db:
        assert [t.name for t in db.scalars(select(Team))] == ["alpha"]
        sha = db.scalar(select(Submission.sha256))
    assert storage.load(app.config["UPLOAD_FOLDER"], sha) == api.submission()
    assert api.client.get("/api/leaderboard").get_json()["rows"][0]["team"] == "alpha"
    (tmp_path / "empty").mkdir()
    result = runner.invoke(["restore", str(tmp_path / "empty"), "--yes"])
    assert result.exit_code == 1 and "is it a backup?" in result.output
    if app.config["DATABASE_URL"].startswith("sqlite"):
        result = runner.invoke(["restore", str(tmp_path), "--yes"])  # holds the live database
        assert result.exit_code == 1 and "is the live database" in result.output


def test_serve_runs_waitress(app, runner, monkeypatch):
    calls = []

    class Server:
        def run(self):
            calls.append("run")

    monkeypatch.setattr(
        "leaderboard.serving.make_server", lambda app, **kw: calls.append((app, kw)) or Server()
    )
    result = runner.invoke(["serve", "--host", "0.0.0.0", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert calls[0][0] is app
    assert calls[0][1] == {"host": "0.0.0.0", "port": 8123, "threads": 8, "connection_limit": 1000}
    assert calls[1] == "run"


@pytest.fixture
def environment(monkeypatch, tmp_path, answer_key):
    """A configuration from environment variables only, as an organizer would give it."""
    monkeypatch.setenv("LEADERBOARD_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("LEADERBOARD_ANSWER_KEY", str(tmp_path / "answer_key.csv"))
    monkeypatch.delenv("LEADERBOARD_SECRET_KEY", raising=False)
    monkeypatch.delenv("LEADERBOARD_DATABASE_URL", raising=False)
    monkeypatch.delenv("LEADERBOARD_ENV", raising=False)
    return monkeypatch


def test_serve_refuses_the_default_secret_but_management_commands_run(environment, tmp_path):
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert "refusing to run in production with the default secret key" in result.output
    result = CliRunner().invoke(main, ["init-db"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "instance" / "leaderboard.sqlite").is_file()
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 0, result.output
    assert f"instance:     {tmp_path / 'instance'} (LEADERBOARD_INSTANCE)\n" in result.output


def test_status_says_the_instance_is_the_current_folders(environment, tmp_path):
    environment.delenv("LEADERBOARD_INSTANCE")
    environment.chdir(tmp_path)
    assert CliRunner().invoke(main, ["init-db"]).exit_code == 0
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 0, result.output
    assert (
        f"instance:     {tmp_path / 'instance'} (./instance in the current folder; "
        "LEADERBOARD_INSTANCE is not set)\n"
    ) in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such answer key"),
        ("event_id,label\n1,0\n", "expected ['event_id', 'label', 'split']"),
        ("event_id,label,split\n1,0,public\n1,1,public\n", "duplicated event_id"),
    ],
)
def test_refuses_to_start_with_a_missing_or_corrupt_answer_key(environment, tmp_path, content,
                                                               message):  # fmt: skip
    key = tmp_path / "answer_key.csv"
    if content is None:
        key.unlink()
    else:
        key.write_text(content)
    environment.setenv("LEADERBOARD_SECRET_KEY", "s" * 32)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert "cannot use the answer key" in result.output and message in result.output
    assert "Traceback" not in result.output


NEEDS_TABLES = [
    ["status"],
    ["export", "leaderboard"],
    ["export", "submissions", "-o", "out.csv"],
    ["reveal"],
    ["reveal", "--undo"],
    ["rescore"],
    ["disqualify", "--team", "x", "--reason", "y"],
    ["backup", "backup-folder"],
]


@pytest.mark.parametrize("args", NEEDS_TABLES, ids=" ".join)
def test_no_database_says_what_to_do_and_creates_no_file(environment, tmp_path, args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    database = tmp_path / "instance" / "leaderboard.sqlite"
    assert f"there is no database at {database}; create the tables with `leaderboard init-db`" in (
        result.output
    )
    assert "LEADERBOARD_INSTANCE" in result.output and "Traceback" not in result.output
    assert not database.exists()
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "backup-folder").exists()


@pytest.mark.parametrize("args", NEEDS_TABLES[:2], ids=" ".join)
def test_a_database_without_tables_says_what_to_do(environment, database_url, args):
    environment.setenv("LEADERBOARD_DATABASE_URL", database_url)
    if database_url.startswith("sqlite:///"):  # an empty file, as an earlier version left
        sqlite3.connect(database_url.removeprefix("sqlite:///")).close()

    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "lacks leaderboard tables (" in result.output
    assert "`leaderboard init-db`" in result.output and "Traceback" not in result.output
    engine = create_engine(database_url)
    assert inspect(engine).get_table_names() == []  # nothing was created on the way
    engine.dispose()
    assert CliRunner().invoke(main, ["init-db"]).exit_code == 0
    assert CliRunner().invoke(main, args).exit_code == 0


@pytest.mark.parametrize(
    "args", [["status"], ["init-db"], ["add-team", "late comers"]], ids=" ".join
)
def test_a_database_of_an_older_version_is_refused_with_what_to_do(environment, database_url, args):
    """A database whose submissions table lacks columns of its schema (no status, no kind) is
    refused by every command in one line, and nothing is written to it (an older release's
    database, which `leaderboard upgrade` takes, is in test_leaderboard_migrations)."""
    environment.setenv("LEADERBOARD_DATABASE_URL", database_url)
    assert CliRunner().invoke(main, ["init-db"]).exit_code == 0
    engine = create_engine(database_url)
    with engine.begin() as connection:  # what the tables of an older version lacked
        connection.execute(text("DROP INDEX ix_submissions_status"))
        for column in ("status", "kind"):
            connection.execute(text(f"ALTER TABLE submissions DROP COLUMN {column}"))
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "lacks columns of its schema" in result.output
    assert "(submissions lacks kind, status); put a backup back with `leaderboard restore`" in (
        result.output
    )
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM teams")).scalar() == 0
    engine.dispose()


def test_an_unreachable_database_is_one_line(environment):
    environment.setenv("LEADERBOARD_DATABASE_URL", "postgresql+psycopg://u:pw@127.0.0.1:9/none")
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 1 and "cannot connect to the database" in result.output
    assert "pw" not in result.output and "Traceback" not in result.output


def test_add_reference_takes_the_upload_path(app, api, runner, tmp_path):
    # Issue 15: add-reference re-implemented the upload; now the same limit, the same refusal
    # of a file sent before, the same validator, and a refused file leaves no row behind.
    path = tmp_path / "ref.csv"
    path.write_bytes(api.submission(skill=3.0, seed=4))
    app.config["MAX_UPLOAD_BYTES"] = path.stat().st_size - 1
    result = runner.invoke(["add-reference", "baseline", str(path)])
    limit = f"{path.stat().st_size - 1:,} bytes"
    assert (
        result.exit_code == 1 and f"the file is larger than the limit of {limit}" in result.output
    )
    app.config["MAX_UPLOAD_BYTES"] = path.stat().st_size  # exactly the file's size: accepted
    assert runner.invoke(["add-reference", "baseline", str(path)]).exit_code == 0
    again = runner.invoke(["add-reference", "baseline", str(path)])
    assert again.exit_code == 1 and "this file is the same as your submission #1" in again.output
    bad = tmp_path / "bad.csv"
    bad.write_text("event_id,score\n1,2\n")
    assert runner.invoke(["add-reference", "never made", str(bad)]).exit_code == 1
    rows = api.client.get("/api/leaderboard").get_json()["rows"]
    assert [(r["team"], r["entries"]) for r in rows] == [("baseline", 1)]


def test_one_export_and_one_reason_for_admin_and_cli(app, api, runner, client, tmp_path):
    from leaderboard.export import EXPORTS

    api.submit(api.register("alpha"), api.submission(seed=1))
    headers = {"Authorization": "Bearer " + app.config["ADMIN_TOKEN"]}
    for what in EXPORTS:
        out = tmp_path / f"{what}.csv"
        assert runner.invoke(["export", what, "-o", str(out)]).exit_code == 0
        page = client.get(f"/admin/export/{what}.csv", headers=headers)
        assert page.status_code == 200 and page.get_data() == out.read_bytes()
    result = runner.invoke(["disqualify", "--submission", "1", "--reason", " \u200b"])
    assert result.exit_code == 2 and "U+200B" in result.output
    page = client.post("/admin/submissions/1/disqualify", data={"reason": " \u200b"},
                       headers=headers)  # fmt: skip
    assert page.status_code == 400 and "U+200B" in page.get_data(as_text=True)
    result = runner.invoke(["disqualify", "--submission", "1", "--reason", "   "])
    assert result.exit_code == 2 and "give a reason: the team will see it" in result.output
