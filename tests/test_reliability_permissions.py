"""Private data on disk is readable by its owner only, under the usual umask 022 (issue 11,
finding 8: the SQLite database, which holds the private AUCs, was created 0644).

Everything the leaderboard writes is checked: the SQLite database with its -wal and -shm files,
the stored submission files and their folders, a backup (SQLite copy or pg_dump, and the files)
and both CSV exports. On PostgreSQL the database is the server's; the rest is checked the same.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from leaderboard.cli import main


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def world_or_group_access(root: Path) -> list[str]:
    """Every path under ``root`` (itself included) that its group or others may use."""
    paths = [root, *root.rglob("*")]
    return [f"{p} {stat.filemode(p.stat().st_mode)}" for p in paths if p.stat().st_mode & 0o077]


def test_everything_private_the_leaderboard_writes_is_owner_only(
    umask_022, app_config, make_app, answer_key, tmp_path
):
    instance = tmp_path / "instance"
    sqlite = app_config["DATABASE_URL"].startswith("sqlite")
    if sqlite:
        app_config["DATABASE_URL"] = f"sqlite:///{instance / 'leaderboard.sqlite'}"
    app_config["UPLOAD_FOLDER"] = str(instance / "submissions")
    app = make_app(app_config)
    client = app.test_client()
    from tests.conftest import submission_bytes

    token = client.post("/api/teams", json={"name": "private"}).get_json()["token"]
    response = client.post(
        "/api/submissions",
        data={"file": (__import__("io").BytesIO(submission_bytes(answer_key, skill=2, seed=1)),
                       "s.csv")},
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert response.status_code == 201, response.get_json()
    if sqlite:  # the engine is open: the WAL and its index exist now
        assert {p.name for p in instance.iterdir()} >= {
            "leaderboard.sqlite", "leaderboard.sqlite-wal", "leaderboard.sqlite-shm"
        }  # fmt: skip
    runner = CliRunner()
    backup = tmp_path / "backups" / "now"
    result = runner.invoke(main, ["backup", str(backup)], obj=app)
    if result.exit_code != 0 and "pg_dump not found" in result.output:
        pytest.skip("pg_dump is missing: the PostgreSQL backup cannot be checked")
    assert result.exit_code == 0, result.output
    exports = tmp_path / "exports"
    exports.mkdir(mode=0o700)
    for what in ("leaderboard", "submissions"):
        result = runner.invoke(main, ["export", what, "-o", str(exports / f"{what}.csv")], obj=app)
        assert result.exit_code == 0, result.output
    assert len(list((instance / "submissions").rglob("*.csv.gz"))) == 1
    assert len(list(backup.rglob("*.csv.gz"))) == 1
    assert world_or_group_access(instance) == []
    assert world_or_group_access(backup) == []
    assert world_or_group_access(exports) == []


def test_a_database_and_files_made_under_an_old_umask_are_made_owner_only_at_start(
    umask_022, app_config, make_app, tmp_path
):
    if not app_config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("SQLite only: a PostgreSQL database is the server's files")
    database = tmp_path / "old" / "leaderboard.sqlite"
    database.parent.mkdir()
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        path.write_bytes(b"")
        path.chmod(0o644)
    folder = tmp_path / "old" / "submissions"
    folder.mkdir(mode=0o755)
    app_config.update(DATABASE_URL=f"sqlite:///{database}", UPLOAD_FOLDER=str(folder))
    app = make_app(app_config)
    # What an organizer starts with (serve does the same): the stored files are tidied then,
    # never on every app build.
    result = CliRunner().invoke(main, ["init-db"], obj=app)
    assert result.exit_code == 0, result.output
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm"), folder):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
