"""Faults: a server killed with SIGKILL in the middle of uploads, a read-only or full database or
upload folder, and a missing or corrupt answer key.

What is real and what is simulated:
- SIGKILL: real, to a real `leaderboard serve` process during concurrent uploads.
- Full disk: real when the tests may mount (root, as in CI): the database or the upload folder
  sits on a tiny tmpfs that is filled up. Elsewhere those tests skip; a monkeypatched
  ``os.fsync`` raising ENOSPC runs everywhere.
- Read-only: real, with a read-only bind mount (root) and with SQLite's own read-only mode
  (``?mode=ro``). A plain chmod would not stop root, so it is not used.
- Answer key: real files, a real `leaderboard serve` that must refuse to start.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import signal
import sqlite3
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leaderboard import create_app
from leaderboard.db import engine_of, init_db, session_scope
from leaderboard.models import Submission
from tests.hostile.harness import (
    LiveServer,
    free_port,
    live_server,
    make_site,
    register,
    run_cli,
    submission_bytes,
    upload,
    waitress_command,
)

UNAVAILABLE = "unavailable"  # both 503 messages say what is unavailable and to try again later


# ----------------------------------------------------------------------------- SIGKILL


def _upload_until_stopped(url, token, key, client, stop, acknowledged, lock):
    for number in range(40):  # bounded even if the kill never comes
        if stop.is_set():
            return
        note = f"kill test {client}-{number}"
        try:
            response = upload(url, token, submission_bytes(key, seed=100 * client + number),
                              note=note, timeout=20)  # fmt: skip
        except Exception:  # the server died under us: that is the point
            return
        if response.status_code == 201:
            with lock:
                acknowledged[response.json()["id"]] = note


def _check_stored_files(folder: Path) -> list[str]:
    """Every stored file decompresses to bytes whose sha256 is its name; returns the hashes."""
    hashes = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            assert path.name.endswith(".csv.gz") and not path.name.startswith("."), path
            data = gzip.decompress(path.read_bytes())
            assert hashlib.sha256(data).hexdigest() + ".csv.gz" == path.name, path
            hashes.append(path.name.removesuffix(".csv.gz"))
    return hashes


@pytest.mark.slow
def test_sigkill_during_uploads_loses_no_acknowledged_submission(tmp_path):
    site = make_site(tmp_path / "site")
    port = free_port()
    server = LiveServer(waitress_command(port), site.env(), port, site.root)
    server.start()
    try:
        tokens = [register(server.url, f"crash {c}") for c in range(6)]
        stop, lock, acknowledged = threading.Event(), threading.Lock(), {}
        threads = [
            threading.Thread(target=_upload_until_stopped,
                             args=(server.url, t, site.key, c, stop, acknowledged, lock))
            for c, t in enumerate(tokens)
        ]  # fmt: skip
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 12 and time.monotonic() < deadline:
            time.sleep(0.02)
        server.kill(signal.SIGKILL)  # uploads are in flight now
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        server.stop()
    assert len(acknowledged) >= 12, server.output()[-2000:]

    database = site.root / "leaderboard.sqlite"
    with sqlite3.connect(database) as connection:  # before any restart: what the kill left
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = dict(connection.execute("SELECT id, note FROM submissions").fetchall())
    assert {i: stored.get(i) for i in acknowledged} == acknowledged

    # Restart on the same files: the server comes up, keeps everything, and accepts uploads.
    with live_server(site) as again:
        response = upload(again.url, tokens[0], submission_bytes(site.key, seed=99_999))
        assert response.status_code == 201, response.text
        hashes = set(_check_stored_files(site.upload_folder))
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = connection.execute("SELECT id, note, sha256 FROM submissions").fetchall()
    assert {i: n for i, n, _ in rows if i in acknowledged} == acknowledged
    assert {sha for _, _, sha in rows} <= hashes  # every row has its complete file
    print(f"\n[kill] {len(acknowledged)} acknowledged before SIGKILL, {len(rows) - 1} rows after, "
          f"{len(hashes) - len(rows)} complete files without a row (stored, then killed)")  # fmt: skip


def test_restart_removes_temporary_files_a_kill_left_behind(tmp_path):
    """A kill between mkstemp and os.replace leaves .incoming-*; the next start removes it."""
    site = make_site(tmp_path / "site")
    half = site.upload_folder / "ab" / ".incoming-k1ll3d"
    half.parent.mkdir(parents=True)
    half.write_bytes(b"\x1f\x8b\x08\x00half a file")
    with live_server(site):
        pass
    assert not half.exists(), "a half-written file survived the restart"


# ----------------------------------------------------------------------------- full and read-only


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here ({result.stderr.strip() or 'not root'}): "
                    "the real full-disk and read-only tests need root, as in CI")  # fmt: skip


@contextmanager
def tiny_tmpfs(path: Path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs a tmpfs mount, which needs root (CI runs as root)")
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextmanager
def read_only_bind(path: Path):
    if os.geteuid() != 0:
        pytest.skip(
            "a real read-only folder needs a bind mount, which needs root (CI runs as root)"
        )
    _mount("--bind", str(path), str(path))
    try:
        _mount("-o", "remount,ro,bind", str(path))
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte; returns the filler to delete."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError as err:
            assert err.errno == errno.ENOSPC
    return filler


def make_app(site, **config):
    app = create_app({"TESTING": True, "SECRET_KEY": "faults", "DATABASE_URL": site.database_url,
                      "ANSWER_KEY": str(site.answer_key_path), "DAILY_QUOTA": 1000,
                      "UPLOAD_FOLDER": str(site.upload_folder), **config})  # fmt: skip
    return app


def api_upload(client, token: str, data: bytes):
    response = client.post("/api/submissions", data={"file": (io.BytesIO(data), "s.csv")},
                           headers={"Authorization": f"Bearer {token}"},
                           content_type="multipart/form-data")  # fmt: skip
    response.request.environ["wsgi.input"].close()
    return response


def count_rows(app) -> int:
    with session_scope(app) as db:
        return db.scalar(select(func.count(Submission.id)))


def _assert_503(response, what: str):
    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    message = response.get_json()["error"]
    assert what in message and UNAVAILABLE in message and "try again later" in message, message


@pytest.fixture
def site(tmp_path):
    return make_site(tmp_path / "site")


def test_full_upload_folder_is_a_clean_503_real_tmpfs(site, tmp_path):
    with tiny_tmpfs(site.upload_folder, "64k"):
        app = make_app(site)
        init_db(app)
        client = app.test_client()
        token = client.post("/api/teams", json={"name": "disk"}).get_json()["token"]
        filler = fill(site.upload_folder)
        _assert_503(
            api_upload(client, token, submission_bytes(site.key, seed=1)), "submission folder"
        )
        assert count_rows(app) == 0
        assert [p.name for p in site.upload_folder.rglob(".incoming-*")] == []
        filler.unlink()  # space again: the same server accepts the same upload
        assert api_upload(client, token, submission_bytes(site.key, seed=1)).status_code == 201
        engine_of(app).dispose()


def test_full_database_is_a_clean_503_real_tmpfs(site, tmp_path):
    folder = tmp_path / "dbfs"
    with tiny_tmpfs(folder, "512k"):
        site.database_url = f"sqlite:///{folder / 'leaderboard.sqlite'}"
        app = make_app(site)
        init_db(app)
        client = app.test_client()
        token = client.post("/api/teams", json={"name": "full"}).get_json()["token"]
        filler = fill(folder)
        responses = [
            api_upload(client, token, submission_bytes(site.key, seed=s)) for s in range(30)
        ]
        statuses = [r.status_code for r in responses]
        assert 503 in statuses and not [s for s in statuses if s >= 500 and s != 503], statuses
        _assert_503(responses[statuses.index(503)], "database")
        filler.unlink()
        assert api_upload(client, token, submission_bytes(site.key, seed=77)).status_code == 201
        engine_of(app).dispose()
        with sqlite3.connect(folder / "leaderboard.sqlite") as connection:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_read_only_upload_folder_is_a_clean_503_real_bind_mount(site):
    site.upload_folder.mkdir(parents=True)
    app = make_app(site)
    init_db(app)
    client = app.test_client()
    token = client.post("/api/teams", json={"name": "ro"}).get_json()["token"]
    with read_only_bind(site.upload_folder):
        _assert_503(
            api_upload(client, token, submission_bytes(site.key, seed=1)), "submission folder"
        )
        assert count_rows(app) == 0
    assert api_upload(client, token, submission_bytes(site.key, seed=1)).status_code == 201
    engine_of(app).dispose()


def test_read_only_database_folder_is_a_clean_503_real_bind_mount(site):
    app = make_app(site)
    init_db(app)
    token = app.test_client().post("/api/teams", json={"name": "ro"}).get_json()["token"]
    engine_of(app).dispose()
    with read_only_bind(site.root):
        app = make_app(site)  # a server started on a read-only disk
        client = app.test_client()
        response = api_upload(client, token, submission_bytes(site.key, seed=1))
        _assert_503(response, "database")
        assert client.get("/api/leaderboard").status_code in (200, 503)  # never a 500
        engine_of(app).dispose()


def test_sqlite_read_only_mode_is_a_clean_503(site):
    app = make_app(site)
    init_db(app)
    token = app.test_client().post("/api/teams", json={"name": "ro"}).get_json()["token"]
    engine_of(app).dispose()
    path = site.root / "leaderboard.sqlite"
    site.database_url = f"sqlite:///file:{path}?mode=ro&uri=true"
    app = make_app(site)
    client = app.test_client()
    _assert_503(api_upload(client, token, submission_bytes(site.key, seed=1)), "database")
    engine_of(app).dispose()


def test_enospc_while_storing_leaves_no_temporary_file_simulated(site, monkeypatch):
    """Simulated: os.fsync raises ENOSPC (runs anywhere; the tmpfs test above is the real one)."""
    app = make_app(site)
    init_db(app)
    client = app.test_client()
    token = client.post("/api/teams", json={"name": "sim"}).get_json()["token"]

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("leaderboard.storage.os.fsync", no_space)
    _assert_503(api_upload(client, token, submission_bytes(site.key, seed=1)), "submission folder")
    assert count_rows(app) == 0
    assert [p for p in site.stored_files()] == []
    monkeypatch.undo()
    assert api_upload(client, token, submission_bytes(site.key, seed=1)).status_code == 201
    engine_of(app).dispose()


# ----------------------------------------------------------------------------- answer key


def _bad_keys(root: Path) -> dict[str, tuple[Path, str]]:
    good = (root / "answer_key.csv").read_text()
    cases = {
        "missing": ("does-not-exist.csv", None, "no such answer key"),
        "empty": ("empty.csv", "", "not a valid answer key CSV"),
        "binary": ("binary.csv", "\x00\x01\x02garbage", "answer key"),
        "wrong columns": ("columns.csv", good.replace("event_id,label,split", "id,y,part"),
                          "columns are ['id', 'y', 'part']"),
        "bad label": ("label.csv", good.replace(",1,public", ",2,public", 1), "label not 0 or 1"),
        "duplicate id": ("dup.csv", good + good.splitlines()[1] + "\n", "duplicated event_id"),
        "one class": ("oneclass.csv", good.replace(",1,private", ",0,private"),
                      "the private split needs both labels"),
        "a folder": ("folder", None, "answer key"),
    }  # fmt: skip
    out = {}
    for name, (filename, content, message) in cases.items():
        path = root / filename
        if content is not None:
            path.write_text(content)
        elif name == "a folder":
            path.mkdir()
        out[name] = (path, message)
    return out


@pytest.mark.parametrize("name", ["missing", "empty", "binary", "wrong columns", "bad label",
                                  "duplicate id", "one class", "a folder"])  # fmt: skip
def test_app_refuses_an_unusable_answer_key(site, name):
    from leaderboard.config import ConfigError

    path, message = _bad_keys(site.root)[name]
    with pytest.raises(ConfigError) as err:
        make_app(site, ANSWER_KEY=str(path))
    assert message in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("name", ["missing", "bad label"])
def test_server_refuses_to_start_without_a_usable_answer_key(site, name):
    """The real `leaderboard serve`: exits 1 with one line that names the file, never listens."""
    path, message = _bad_keys(site.root)[name]
    result = subprocess.run(waitress_command(free_port()),
                            env=site.env(LEADERBOARD_ANSWER_KEY=str(path)),
                            capture_output=True, text=True, timeout=60, cwd=site.root)  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert message in result.stderr and str(path) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "leaderboard on http" not in result.stdout


def test_cli_without_answer_key_says_how_to_fix_it(site):
    result = run_cli(site, "init-db", LEADERBOARD_ANSWER_KEY="")
    assert result.returncode != 0
    assert "LEADERBOARD_ANSWER_KEY" in result.stderr and "Traceback" not in result.stderr
