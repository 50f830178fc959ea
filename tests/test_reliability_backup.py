"""Backups of a running leaderboard: `leaderboard backup` taken while a real server takes uploads,
then `leaderboard restore` onto a fresh site (a new machine), which serves the same board and
accepts the same team tokens. SQLite (online backup API) always; PostgreSQL (pg_dump and
pg_restore) when LEADERBOARD_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import uuid

import pytest
import requests
from sqlalchemy import create_engine, make_url, text

from tests.hostile.harness import (
    live_server,
    make_site,
    register,
    run_cli,
    submission_bytes,
    upload,
)


def board(url: str) -> list[tuple]:
    rows = requests.get(url + "/api/leaderboard", timeout=10).json()["rows"]
    return [(r["rank"], r["team"], r["public_auc"], r["entries"]) for r in rows]


def keep_uploading(url, token, key, stop, acknowledged):
    for number in range(30):  # bounded
        if stop.is_set():
            return
        response = upload(
            url, token, submission_bytes(key, seed=500 + number), note=f"during {number}"
        )
        assert response.status_code == 201, response.text
        acknowledged.append(response.json()["id"])


def backup_restore_round_trip(tmp_path, database_url=None, restored_url=None):
    site = make_site(tmp_path / "old", database_url)
    backup_dir = tmp_path / "backup"
    with live_server(site) as live:
        tokens = {name: register(live.url, name) for name in ("alpha", "beta")}
        for number, token in enumerate(tokens.values()):
            assert (
                upload(live.url, token, submission_bytes(site.key, seed=number)).status_code == 201
            )
        stop, acknowledged = threading.Event(), []
        writer = threading.Thread(target=keep_uploading,
                                  args=(live.url, tokens["beta"], site.key, stop, acknowledged))  # fmt: skip
        writer.start()
        try:
            result = run_cli(site, "backup", str(backup_dir))  # online: the server keeps writing
        finally:
            stop.set()
            writer.join(timeout=60)
        assert result.returncode == 0, result.stderr
        after_backup = upload(live.url, tokens["alpha"], submission_bytes(site.key, seed=99))
        assert after_backup.status_code == 201
        final_board = board(live.url)

    # A new machine: empty folders, the same answer key, then restore.
    new = make_site(tmp_path / "new", restored_url)
    shutil.copy(site.answer_key_path, new.answer_key_path)
    restored = run_cli(new, "restore", str(backup_dir), "--yes")
    assert restored.returncode == 0, restored.stderr

    engine = create_engine(new.database_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, sha256 FROM submissions ORDER BY id")).all()
    engine.dispose()
    ids = [i for i, _ in rows]
    # A consistent snapshot: the first uploads, a prefix of the concurrent ones, never the last.
    assert ids == list(range(1, len(ids) + 1)) and 2 <= len(ids) < 3 + len(acknowledged)
    assert after_backup.json()["id"] not in ids
    files = {p.name for p in new.stored_files()}
    assert {f"{sha}.csv.gz" for _, sha in rows} <= files  # every row has its file

    with live_server(new) as live:
        # The tokens still work and the board is the one of the backup: alpha has one entry.
        response = upload(live.url, tokens["alpha"], submission_bytes(new.key, seed=123))
        assert response.status_code == 201, response.text
        assert response.json()["id"] == len(ids) + 1
        restored_board = {team: entries for _, team, _, entries in board(live.url)}
    assert restored_board == {"alpha": 2, "beta": len(ids) - 1}
    assert {team for _, team, _, _ in final_board} == set(restored_board)
    return new


@pytest.mark.slow
def test_sqlite_backup_while_serving_and_restore_on_a_new_machine(tmp_path):
    new = backup_restore_round_trip(tmp_path)
    with sqlite3.connect(tmp_path / "backup" / "leaderboard.sqlite") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    with sqlite3.connect(new.root / "leaderboard.sqlite") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


@pytest.fixture
def postgres_databases():
    """Two fresh PostgreSQL databases (old and new machine), dropped afterwards."""
    base = os.environ.get("LEADERBOARD_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("LEADERBOARD_TEST_POSTGRES_URL is not set (.ci/services.sh sets it)")
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump and pg_restore are not installed (Debian: postgresql-client)")
    names = [f"lb_backup_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield [make_url(base).set(database=n).render_as_string(hide_password=False) for n in names]
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_postgresql_backup_while_serving_and_restore_on_a_new_machine(tmp_path, postgres_databases):
    old, new = postgres_databases
    backup_restore_round_trip(tmp_path, old, new)
    assert (tmp_path / "backup" / "leaderboard.pgdump").stat().st_size > 0
