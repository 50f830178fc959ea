"""What workers read, kept in the database (leaderboard.shared_files): every read checked against
its hash, the challenge's files copied into a worker's own folder, and a `leaderboard worker`
that shares no folder with the server scoring models over Redis."""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, update

from leaderboard import create_app, grading, jobs, shared_files, storage
from leaderboard.cli import main
from leaderboard.config import ConfigError
from leaderboard.db import engine_of, session_scope
from leaderboard.models import Setting, StoredFile
from tests.conftest import redis_test_url
from tests.test_leaderboard_queue import (
    LIMITS,
    Uploads,
    assert_scored_like_reference,
    mean_model,
    rows,
    shared_settings,
    wait_for,
)
from tests.workers import TinyChallenge, make_challenge, running_workers

MODEL = b"not really onnx, but bytes all the same"


@pytest.fixture(scope="module")
def challenge(tmp_path_factory) -> TinyChallenge:
    return make_challenge(tmp_path_factory.mktemp("challenge"), n_test=120)


@pytest.fixture
def models_app(make_app, tmp_path, challenge, database_url):
    settings = shared_settings(
        tmp_path / "server", challenge, f"sqlite:///{tmp_path / 'queue.sqlite'}", database_url
    )
    return make_app({**settings, "TESTING": True, "SECRET_KEY": "test-secret"})


@pytest.fixture
def worker_app():
    """Makes a worker's app (``leaderboard worker`` makes one so) on a server's database, with
    an instance folder of its own and no answer key or test.root of its own; closes them all."""
    apps = []

    def make(server, folder: Path, **own):
        apps.append(create_app({
            "ROLE": "worker", "TESTING": True, "DATABASE_URL": server.config["DATABASE_URL"],
            "INSTANCE_PATH": str(folder / "instance"), "UPLOAD_FOLDER": str(folder / "files"),
            "QUEUE_URL": f"sqlite:///{folder / 'queue.sqlite'}", **own,
        }))  # fmt: skip
        return apps[-1]

    yield make
    for app in apps:
        engine_of(app).dispose()


def alter(app, sha256: str, data: bytes) -> None:
    """Put other bytes in the database's copy of ``sha256``, as a broken disk or a hand would."""
    with session_scope(app) as db:
        db.execute(update(StoredFile).where(StoredFile.sha256 == sha256).values(data=data))


# --- the store ------------------------------------------------------------------------------


def test_a_file_kept_in_the_database_comes_back_only_as_it_was_put(app, clock):
    with session_scope(app) as db:
        sha256 = shared_files.put(db, MODEL, shared_files.MODEL, now=clock())
        assert shared_files.put(db, MODEL, shared_files.MODEL, now=clock()) == sha256  # once
    assert sha256 == storage.sha256_of(MODEL)
    with session_scope(app) as db:
        assert db.query(StoredFile).count() == 1
        assert shared_files.get(db, sha256, shared_files.MODEL) == MODEL
        with pytest.raises(storage.StorageError, match=r"is a model file, not a scores file"):
            shared_files.get(db, sha256, shared_files.SCORES)
        with pytest.raises(storage.MissingFile, match=r"is missing: run `leaderboard init-db`"):
            shared_files.get(db, "0" * 64, shared_files.MODEL)
    alter(app, sha256, gzip.compress(MODEL + b"!"))
    with session_scope(app) as db, pytest.raises(storage.StorageError) as altered:
        shared_files.get(db, sha256, shared_files.MODEL)
    assert str(altered.value) == (
        f"the model {sha256} in the database (table stored_files) does not match its sha256: "
        "it was altered"
    )
    alter(app, sha256, b"not gzip")
    with session_scope(app) as db, pytest.raises(storage.StorageError, match="unreadable"):
        shared_files.get(db, sha256, shared_files.MODEL)


def test_a_file_missing_from_the_folder_comes_from_the_database_and_stays(app):
    folder = app.config["UPLOAD_FOLDER"]
    sha256 = shared_files.store(app, MODEL, storage.MODEL)
    local = Path(storage.stored_path(folder, sha256, storage.MODEL))
    local.unlink()  # a worker's folder has none of the server's files
    assert shared_files.load(app, sha256, storage.MODEL) == MODEL
    assert storage.load(folder, sha256, storage.MODEL) == MODEL  # kept for the next time
    local.write_bytes(gzip.compress(b"something else"))  # altered here: refused, not replaced
    with pytest.raises(storage.StorageError, match="does not match its sha256; the file was alt"):
        shared_files.load(app, sha256, storage.MODEL)
    local.unlink()
    with session_scope(app) as db:
        db.execute(delete(StoredFile))
    with pytest.raises(storage.MissingFile) as missing:
        shared_files.load(app, sha256, storage.MODEL)
    assert str(missing.value).startswith(f"{local}: stored submission file is missing, and the "
                                         "database holds no copy (table stored_files)")  # fmt: skip


# --- the challenge's files ------------------------------------------------------------------


def test_a_worker_copies_the_challenge_from_the_database_to_its_own_folder(
    models_app, challenge, tmp_path, worker_app
):
    worker = worker_app(models_app, tmp_path / "worker")
    assert worker.config["ANSWER_KEY"] is None  # nothing of the server's but the database
    jobs.prepare_worker(worker)
    folder = tmp_path / "worker" / "instance" / shared_files.WORKER_FOLDER
    for name in ("answer_key.csv", "metric.json", "test.root"):
        assert (folder / name).read_bytes() == (challenge.private / name).read_bytes(), name
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert worker.config["TEST_RECORDS"] == str(folder / "test.root")
    key, server_key = grading.answer_key(worker), grading.answer_key(models_app)
    assert key.table.equals(server_key.table) and key.metric.name == server_key.metric.name
    assert jobs.test_records(worker).event_ids.tolist() == challenge.event_id.tolist()

    # A copy that differs from the database's hash is copied again; the database's is checked.
    (folder / "test.root").write_bytes(b"altered on the worker's disk")
    again = worker_app(models_app, tmp_path / "worker")
    jobs.prepare_worker(again)
    assert (folder / "test.root").read_bytes() == (challenge.private / "test.root").read_bytes()
    with session_scope(models_app) as db:
        test_root = db.get(Setting, shared_files.POINTER_PREFIX + shared_files.TEST_RECORDS).value
    alter(models_app, test_root, gzip.compress(b"altered in the database"))
    fresh = worker_app(models_app, tmp_path / "another worker")
    with pytest.raises(ConfigError) as refused:
        jobs.prepare_worker(fresh)
    assert str(refused.value) == (
        f"this worker cannot get the challenge's files: the test records {test_root} in the "
        "database (table stored_files) does not match its sha256: it was altered"
    )


def test_init_db_refuses_a_test_root_larger_than_the_database_keeps(models_app, monkeypatch):
    from leaderboard.db import init_db

    size = Path(models_app.config["TEST_RECORDS"]).stat().st_size
    monkeypatch.setattr(shared_files, "MAX_FILE_BYTES", size - 1)
    with pytest.raises(ConfigError) as refused:
        init_db(models_app)
    assert str(refused.value) == (
        f"{models_app.config['TEST_RECORDS']} is {size:,} bytes: the database keeps files of at "
        f"most {size - 1:,} bytes for the workers (PostgreSQL's largest value is 1 GB); make a "
        "challenge with fewer test records (--n-test)"
    )


def test_a_worker_runs_and_scores_models_with_the_servers_settings(
    models_app, tmp_path, worker_app
):
    worker = worker_app(models_app, tmp_path / "worker")
    assert worker.config["MODEL_WALL_S"] == 60  # the default, before it reads the server's
    jobs.prepare_worker(worker)
    for key in shared_files.SCORING_SETTINGS:
        assert worker.config[key] == models_app.config[key], key
    assert (worker.config["MODEL_WALL_S"], worker.config["MODEL_MAX_BYTES"]) == (
        LIMITS["MODEL_WALL_S"], 2 * 2**20)  # fmt: skip
    assert LIMITS["MODEL_WALL_S"] != 60
    # A worker's own setting that is not the server's is refused, never used or overridden.
    own = worker_app(models_app, tmp_path / "other", LADDER_LEVEL=0.2)
    with pytest.raises(ConfigError) as refused:
        jobs.prepare_worker(own)
    assert str(refused.value) == (
        "LADDER_LEVEL is 0.2 on this worker and 0.05 on the server (stored by `leaderboard "
        "init-db`): a worker takes the server's, so leave it unset here (LEADERBOARD_*), or "
        "change it on the server and run `leaderboard init-db`"
    )


def test_status_says_when_the_workers_files_are_not_the_servers(
    make_app, challenge, tmp_path, database_url
):
    private = tmp_path / "private"
    shutil.copytree(challenge.private, private)  # its metric.json goes: the module's stays
    own = TinyChallenge(private, challenge.event_id, challenge.X)
    settings = shared_settings(tmp_path, own, f"sqlite:///{tmp_path / 'q.sqlite'}", database_url)
    models_app = make_app({**settings, "TESTING": True, "SECRET_KEY": "test-secret"})

    def workers_line() -> str:
        result = CliRunner().invoke(main, ["status"], obj=models_app)
        assert result.exit_code == 0, result.output
        return result.output.splitlines()[-1]

    assert workers_line() == (
        "workers:      the database holds this server's answer key, test.root and limits"
    )
    models_app.config["LADDER_LEVEL"] = 0.1
    Path(models_app.config["ANSWER_KEY"]).with_name("metric.json").unlink()
    assert workers_line() == (
        "workers:      the database holds another metric.json, LADDER_LEVEL than this server's "
        "settings: run `leaderboard init-db`, then restart the workers"
    )
    assert CliRunner().invoke(main, ["init-db"], obj=models_app).exit_code == 0
    assert workers_line().endswith("holds this server's answer key, test.root and limits")


def test_a_worker_on_a_database_without_the_challenge_says_to_run_init_db(
    app, tmp_path, monkeypatch
):
    """A database of prediction files (or one whose server never ran init-db in models mode)
    names no test.root: the worker command refuses in one line."""
    monkeypatch.setenv("LEADERBOARD_DATABASE_URL", app.config["DATABASE_URL"])
    monkeypatch.setenv("LEADERBOARD_INSTANCE", str(tmp_path / "worker"))
    for variable in ("LEADERBOARD_ANSWER_KEY", "LEADERBOARD_SUBMISSIONS", "LEADERBOARD_ENV"):
        monkeypatch.delenv(variable, raising=False)
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: this worker cannot get the challenge's files: the database names no answer key "
        f"for workers (settings row {shared_files.POINTER_PREFIX}answer_key): run `leaderboard "
        "init-db` on the server, with the server's settings and LEADERBOARD_SUBMISSIONS=models, "
        "which stores there the answer key and test.root\n"
    )


def test_a_worker_refuses_to_keep_the_files_where_a_model_can_read_them(tmp_path):
    inside = Path(sys.prefix) / "instance"  # the interpreter's folders are bound into the sandbox
    with pytest.raises(ConfigError) as refused:
        jobs.check_hidden_from_models(inside, "LEADERBOARD_INSTANCE")
    assert str(refused.value).startswith(
        f"LEADERBOARD_INSTANCE: {inside.resolve()} is inside {sys.prefix}, which every model's "
        "sandbox can read"
    )
    jobs.check_hidden_from_models(tmp_path, "LEADERBOARD_INSTANCE")  # a folder of its own


# --- a worker on another machine ------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.timeout(180)
def test_a_worker_that_shares_no_folder_with_the_server_scores_a_model(
    make_app, tmp_path, database_url
):
    """The server's folders (its instance, the challenge, the submissions) are renamed away
    while the worker runs, which is given the database's and Redis's URLs only, and starts in
    an empty folder: it scores one model as onnxruntime does, refuses one whose
    copy in the database was altered, and the server reads the scores it wrote."""
    queue_url = redis_test_url()
    server, hidden = tmp_path / "server", tmp_path / "server-moved-away"
    challenge = make_challenge(server / "challenge", n_test=120)
    settings = shared_settings(server, challenge, queue_url, database_url)
    app = make_app({**settings, "TESTING": True, "SECRET_KEY": "test-secret"})
    from leaderboard.queue import huey_of

    huey_of(app).storage.flush_all()
    uploads = Uploads(app)
    good, other = mean_model(), mean_model(0.25)
    scored = uploads.model(uploads.team(), good)
    altered = uploads.model(uploads.team(), other)
    alter(app, storage.sha256_of(other), gzip.compress(good))
    empty = tmp_path / "worker"
    empty.mkdir()
    server.rename(hidden)
    try:
        worker_settings = {"DATABASE_URL": database_url, "QUEUE_URL": queue_url}  # and nothing else
        with running_workers(worker_settings, tmp_path / "logs", cwd=empty) as [worker]:
            found = wait_for(app, [scored, altered])
    finally:
        hidden.rename(server)
        huey_of(app).storage.flush_all()
    assert_scored_like_reference(found[scored], challenge, good)
    assert (found[altered]["status"], found[altered]["failure_reason"]) == (
        "failed",
        jobs.INTERNAL_FAILURE,
    )
    log = worker.log()
    assert f"the model {storage.sha256_of(other)} in the database (table stored_files) does not " \
           "match its sha256: it was altered" in log  # fmt: skip
    # What the worker kept is in its own folder: the challenge's files and the model it ran.
    instance = empty / "instance"
    assert sorted(p.name for p in (instance / shared_files.WORKER_FOLDER).iterdir()) == [
        "answer_key.csv", "metric.json", "test.root"]  # fmt: skip
    assert [p.name for p in storage.stored_files(instance / "submissions")] == sorted(
        [f"{found[scored]['scores_sha256']}.csv.gz", f"{storage.sha256_of(good)}.onnx.gz"]
    )
    # The server reads the scores file the worker wrote from the database (`rescore` scores
    # every scored file again) and keeps it in its folder.
    folder = app.config["UPLOAD_FOLDER"]
    scores_path = storage.stored_path(folder, found[scored]["scores_sha256"])
    assert not os.path.exists(scores_path)
    result = CliRunner().invoke(main, ["rescore"], obj=app)
    assert result.exit_code == 0, result.output
    assert result.output == "rescored: 0 submissions changed, 0 could not be scored\n"
    assert os.path.exists(scores_path)
    assert rows(app, [scored])[scored]["public_auc"] == found[scored]["public_auc"]
