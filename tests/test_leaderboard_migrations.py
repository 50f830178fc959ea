"""`leaderboard upgrade`: a database of each earlier release, made by that release's code
(tests/legacy/build.py), reaches this version's schema with every row kept."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, make_url, text

from leaderboard import migrations
from leaderboard.cli import main
from leaderboard.models import Base

LEGACY = Path(__file__).resolve().parent / "legacy"
REVISIONS = sorted({p.name.split(".")[0] for p in LEGACY.glob("*.sql")})
FIXTURE_SCHEMA = "legacy_fixture"  # build.py's PostgreSQL schema


def load_legacy(database_url: str, revision: str) -> None:
    """Put the old release's database (its own tables and rows) at ``database_url``."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(url.database)
        connection.executescript((LEGACY / f"{revision}.sqlite.sql").read_text())
        connection.close()
        return
    schema = re.search(r"search_path=(\w+)", url.query["options"]).group(1)
    sql = (LEGACY / f"{revision}.postgresql.sql").read_text()
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.connection.cursor().execute(sql.replace(f"{FIXTURE_SCHEMA}.", f"{schema}."))
    engine.dispose()


def all_rows(database_url: str) -> dict[str, list[dict]]:
    """Every row of every table but Alembic's, by table, as the driver returns them."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        tables = [t for t in inspect(connection).get_table_names() if t != "alembic_version"]
        rows = {
            table: [dict(r._mapping) for r in connection.execute(text(f"SELECT * FROM {table}"))]
            for table in tables
        }
    engine.dispose()
    return rows


def schema_differences(database_url: str) -> list:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        found = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    return found


@pytest.fixture
def organizer(monkeypatch, tmp_path, answer_key, database_url):
    """The settings an organizer gives on the command line (the instance holds the backups)."""
    monkeypatch.setenv("LEADERBOARD_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("LEADERBOARD_ANSWER_KEY", str(tmp_path / "answer_key.csv"))
    monkeypatch.setenv("LEADERBOARD_DATABASE_URL", database_url)
    monkeypatch.delenv("LEADERBOARD_ENV", raising=False)
    return database_url


def expected_after(before: dict[str, list[dict]], revision: str) -> dict[str, list[dict]]:
    """What the upgrade must make of each old row: the same values, plus what the later schemas
    say of it (independent of the revisions' code: written from the models' history)."""
    after = {table: [dict(row) for row in rows] for table, rows in before.items()}
    if "bad_token_counts" in after:  # 0004: counts per address, with times and kind
        after["token_failures"] = [
            {"address": r["address"], "failures": r["failures"], "first_at": r["window_start"],
             "last_at": r["window_start"], "last_kind": "team or organizer token"}
            for r in after.pop("bad_token_counts")
        ]  # fmt: skip
    for row in after["submissions"]:
        if revision < "0002":
            row["is_late"] = False
        if revision < "0006":  # every older submission was a prediction file, scored on upload
            row.update(kind="predictions", status="scored", failure_reason=None,
                       scores_sha256=row["sha256"], scored_at=row["created_at"])  # fmt: skip
        if revision < "0007":
            row["started_at"] = None
        if revision < "0008":  # scored before the Ladder: shown as the plain board did
            row["ladder_accepted"] = row["status"] == "scored"
    if revision < "0002":  # the counter starts at 0; adding the closed_at setting counts once
        after["board_version"] = [{"id": 1, "version": 1}]
        after["final_rankings"] = after["audit_log"] = []
    for table in ("login_sessions", "registrations", "invites", "refused_uploads",
                  "course_learners", "course_reports", "course_steps", "stored_files"):  # fmt: skip
        after.setdefault(table, [])
    after["settings"] = after["settings"] + [
        {"name": "closed_at", "value": ""} for _ in range(revision < "0002")
    ]
    return after


def _normal(rows: dict[str, list[dict]]) -> dict[str, list[tuple]]:
    """Rows comparable across a table copy: SQLite booleans as bool, sorted, keyed by column."""
    return {
        table: sorted(
            tuple(
                sorted(
                    (k, bool(v) if k.startswith("is_") or k == "ladder_accepted" else v)
                    for k, v in row.items()
                )
            )
            for row in table_rows
        )
        for table, table_rows in rows.items()
    }


@pytest.mark.parametrize("revision", REVISIONS)
def test_upgrade_keeps_every_row_of_each_earlier_release(organizer, tmp_path, revision):
    load_legacy(organizer, revision)
    before = all_rows(organizer)
    assert len(before["submissions"]) == 13 and any(r["is_final"] for r in before["submissions"])
    assert any(r["name"] == "revealed" and r["value"] for r in before["settings"])
    if revision != migrations.head():
        refused = CliRunner().invoke(main, ["status"])
        assert refused.exit_code == 1
        assert f"(schema {revision}, this version's is {migrations.head()}" in refused.output
        assert "run `leaderboard upgrade` (it backs the database up first)" in refused.output
        assert all_rows(organizer) == before  # the refusal wrote nothing

    result = CliRunner().invoke(main, ["upgrade", "--backup", str(tmp_path / "backup")])
    assert result.exit_code == 0, result.output
    assert schema_differences(organizer) == []
    assert _normal(all_rows(organizer)) == _normal(expected_after(before, revision))
    if revision != migrations.head():
        assert f"upgraded from schema {revision} to {migrations.head()}:\n" in result.output
        assert len(list((tmp_path / "backup").iterdir())) == 1

    again = CliRunner().invoke(main, ["upgrade"])
    assert again.exit_code == 0 and "already has this version's schema" in again.output
    status = CliRunner().invoke(main, ["status"])
    assert status.exit_code == 0, status.output
    assert "teams:        4 (+ 1 references)" in status.output
    assert "revealed:     yes" in status.output
    exported = CliRunner().invoke(main, ["export", "submissions"])
    assert exported.exit_code == 0 and exported.output.count("\n") == 14, exported.output


def test_the_backup_puts_the_old_database_back(organizer, tmp_path):
    load_legacy(organizer, REVISIONS[0])
    before = all_rows(organizer)
    upgraded = CliRunner().invoke(main, ["upgrade", "--backup", str(tmp_path / "backup")])
    assert upgraded.exit_code == 0, upgraded.output
    restored = CliRunner().invoke(main, ["restore", str(tmp_path / "backup"), "--yes"])
    assert restored.exit_code == 0, restored.output
    assert _normal(all_rows(organizer)) == _normal(before)


def test_a_new_database_is_stamped_with_this_versions_schema(organizer):
    assert CliRunner().invoke(main, ["init-db"]).exit_code == 0
    engine = create_engine(organizer)
    with engine.connect() as connection:
        assert migrations.current_revision(connection) == migrations.head()
        assert inspect(connection).has_table("alembic_version")
    engine.dispose()
    assert schema_differences(organizer) == []


def test_serve_and_worker_refuse_an_old_schema_naming_the_command(organizer, monkeypatch):
    load_legacy(organizer, REVISIONS[0])
    monkeypatch.setenv("LEADERBOARD_SECRET_KEY", "s" * 32)
    for command in (["serve"], ["worker"], ["init-db"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1, (command, result.output)
        assert "run `leaderboard upgrade`" in result.output and "Traceback" not in result.output
