"""Stored submission files: compressed, named by hash, written atomically, checked on reading."""

from __future__ import annotations

import gzip
import hashlib
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from leaderboard import storage


def test_round_trip_by_hash(tmp_path):
    data = b"event_id,score\n1,0.5\n"
    sha = storage.store(tmp_path, data)
    assert sha == hashlib.sha256(data).hexdigest()
    path = tmp_path / sha[:2] / f"{sha}.csv.gz"
    assert gzip.decompress(path.read_bytes()) == data
    assert storage.load(tmp_path, sha) == data
    first = path.read_bytes()
    assert storage.store(tmp_path, data) == sha and path.read_bytes() == first  # stored once
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [path.name]


def test_the_same_upload_is_stored_as_the_same_bytes(tmp_path):
    data = "".join(f"{i},{i / 7:.17g}\n" for i in range(5_000)).encode()
    paths = [
        storage.stored_path(tmp_path / folder, storage.store(tmp_path / folder, data))
        for folder in ("a", "b")
    ]
    first, second = (Path(path).read_bytes() for path in paths)
    assert first == second and gzip.decompress(first) == data
    assert len(first) < 0.6 * len(data)  # compressed, not only wrapped


def test_altered_or_missing_files_are_reported(tmp_path):
    sha = storage.store(tmp_path, b"a,b\n")
    path = tmp_path / sha[:2] / f"{sha}.csv.gz"
    path.write_bytes(gzip.compress(b"a,c\n"))
    with pytest.raises(storage.StorageError, match="does not match its sha256"):
        storage.load(tmp_path, sha)
    path.write_bytes(b"not gzip")
    with pytest.raises(storage.StorageError, match="unreadable"):
        storage.load(tmp_path, sha)
    path.unlink()
    with pytest.raises(storage.StorageError, match="missing"):
        storage.load(tmp_path, sha)


@pytest.mark.parametrize("name", ["../etc/passwd", "ABC", "a" * 63, "g" * 64])
def test_only_hex_digests_name_files(tmp_path, name):
    with pytest.raises(ValueError, match="not a sha256 hex digest"):
        storage.stored_path(tmp_path, name)


def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space left"):
        storage.store(tmp_path, b"x,y\n")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_partial_files_of_a_killed_server_are_removed(tmp_path):
    folder = tmp_path / "ab"
    folder.mkdir()
    old, fresh = folder / ".incoming-old", folder / ".incoming-fresh"
    old.write_bytes(b"half"), fresh.write_bytes(b"half")
    os.utime(old, (time.time() - 120, time.time() - 120))
    keep = storage.store(tmp_path, b"kept\n")
    assert storage.remove_partial(tmp_path, older_than_s=60) == 1
    assert not old.exists() and fresh.exists()
    assert storage.remove_partial(tmp_path) == 1 and not fresh.exists()
    assert storage.load(tmp_path, keep) == b"kept\n"


# ----------------------------------------------------------------------------- orphans
# Issue 11, finding 12: a server killed between storing a file and committing its row left
# the file without a row. At start, such files older than the grace period leave the store.


def _age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_files_without_a_row_leave_the_store_at_start_after_the_grace_period(
    app_config, make_app, api, tmp_path
):
    from leaderboard.cli import UPLOAD_GRACE_S, main

    folder = tmp_path / "submissions"
    app = make_app(app_config)
    client = app.test_client()
    token = client.post("/api/teams", json={"name": "kept"}).get_json()["token"]
    response = api.submit(token, api.submission(seed=1))
    assert response.status_code == 201, response.get_json()
    recorded = storage.stored_path(folder, response.get_json()["sha256"])
    old = storage.stored_path(folder, storage.store(folder, b"killed before its row, long ago"))
    young = storage.stored_path(folder, storage.store(folder, b"another worker is recording it"))
    for path in (recorded, old):
        _age(path, UPLOAD_GRACE_S + 5)
    make_app(app_config)  # building an app moves nothing
    assert os.path.exists(old)
    result = CliRunner().invoke(main, ["init-db"], obj=app)  # `serve` tidies the same way
    assert result.exit_code == 0, result.output
    assert "1 stored files had no database row" in result.output
    assert os.path.exists(recorded) and os.path.exists(young)
    assert not os.path.exists(old)
    orphaned = folder / storage.ORPHANED / os.path.basename(old)
    assert gzip.decompress(orphaned.read_bytes()) == b"killed before its row, long ago"


def test_storing_a_file_again_makes_it_young_so_no_clean_up_takes_it(tmp_path):
    sha = storage.store(tmp_path, b"same bytes")
    path = storage.stored_path(tmp_path, sha)
    _age(path, 3600)
    storage.store(tmp_path, b"same bytes")  # a new upload of the same file is being recorded
    assert storage.remove_orphans(tmp_path, set(), older_than_s=60) == 0
    _age(path, 3600)
    assert storage.remove_orphans(tmp_path, set(), older_than_s=60) == 1


def test_nothing_leaves_the_store_when_the_database_has_no_tables(app_config, tmp_path):
    from leaderboard import create_app

    folder = tmp_path / "submissions"
    path = storage.stored_path(folder, storage.store(folder, b"from an earlier database"))
    _age(path, 3600)
    create_app(app_config)  # no init_db: nothing recorded, and nothing known either
    assert os.path.exists(path)
