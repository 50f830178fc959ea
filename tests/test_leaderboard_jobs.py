"""Model submissions end to end: a model uploaded through the app is checked, stored and queued
(202); the queue's task runs leaderboard.jobs, which scores it in the sandbox on the private
test records and records it, or fails it with a public reason that leaks nothing of the pulses."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import delete

from challenge.data import load_file
from challenge.metrics import roc_auc_score
from challenge.onnx_runner import make_session, run_batches
from challenge.sandbox import SandboxLimits, score_model
from challenge.submission import read_submission
from leaderboard import backup as backups
from leaderboard import jobs, queries, queue, serving, shared_files, storage
from leaderboard.cli import main
from leaderboard.config import ConfigError
from leaderboard.db import board_version, session_scope
from leaderboard.models import StoredFile, Submission
from tests import onnx_models as m
from tests.conftest import make_answer_key
from tests.workers import write_test_records

LENGTH = 64  # samples per test record
N_PUBLIC, N_PRIVATE = 120, 180


@pytest.fixture(scope="module")
def private_data(tmp_path_factory):
    """A private/ folder: an answer key of 300 events and the test.root beside it."""
    folder = tmp_path_factory.mktemp("private")
    key = make_answer_key(N_PUBLIC, N_PRIVATE, seed=5)
    key.to_csv(folder / "answer_key.csv", index=False)
    write_test_records(folder, key, length=LENGTH)
    return folder


@pytest.fixture
def models_config(app_config, private_data, tmp_path) -> dict:
    return app_config | m.HOSTILE_LIMITS | {
        "SUBMISSIONS": "models",
        "ANSWER_KEY": str(private_data / "answer_key.csv"),  # test.root beside it: the default
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.sqlite'}",
        "DAILY_QUOTA": 50,
    }  # fmt: skip


@pytest.fixture
def models_app(models_config, make_app):
    return make_app(models_config)


@pytest.fixture
def client(models_app):
    return models_app.test_client()


def register(client, name: str = "onnx team") -> str:
    response = client.post("/api/teams", json={"name": name})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


def upload(client, token: str, data: bytes, filename: str = "model.onnx"):
    return client.post(
        "/api/submissions",
        data={"file": (io.BytesIO(data), filename)},
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )


def drain(app) -> int:
    """Run every task on the queue here, as a worker would (huey's own dequeue and execute)."""
    huey, ran = queue.huey_of(app), 0
    while (task := huey.dequeue()) is not None:
        huey.execute(task)
        ran += 1
    return ran


def row(app, submission_id: int) -> Submission:
    with session_scope(app) as db:
        return queries.get_submission(db, submission_id)


def reference_scores(model_bytes: bytes, test_root) -> pd.Series:
    """onnxruntime in this process on the same records: float64 scores by event id."""
    events = load_file(test_root)
    output = run_batches(make_session(model_bytes), events.X).astype(np.float64)
    return pd.Series(output.reshape(-1), index=events.event_id)


@pytest.mark.timeout(120)
def test_an_uploaded_model_is_queued_then_scored_as_onnxruntime_scores_it(
    models_app, client, private_data, tmp_path
):
    token = register(client)
    data = m.mean_model(LENGTH).SerializeToString()
    response = upload(client, token, data)
    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {
        "id": 1, "team": "onnx team", "status": "queued", "remaining_today": 49,
        "sha256": storage.sha256_of(data), "kind": "model", "metric": "roc_auc",
    }  # fmt: skip
    queued = row(models_app, 1)
    assert (queued.kind, queued.status, queued.public_auc, queued.scores_sha256) == (
        "model",
        "queued",
        None,
        None,
    )
    assert queue.pending(models_app) == 1
    with session_scope(models_app) as db:
        version = board_version(db)

    assert drain(models_app) == 1

    scored = row(models_app, 1)
    assert scored.status == "scored" and scored.failure_reason is None
    key = pd.read_csv(private_data / "answer_key.csv")
    expected = reference_scores(data, private_data / "test.root")
    for split in ("public", "private"):
        part = key[key["split"] == split]
        auc = roc_auc_score(part["label"].to_numpy(), expected[part["event_id"]].to_numpy())
        assert getattr(scored, f"{split}_auc") == pytest.approx(auc, abs=1e-6)
    assert scored.n_rows == N_PUBLIC + N_PRIVATE
    # The stored scores file holds onnxruntime's scores exactly, one per test event.
    folder = models_app.config["UPLOAD_FOLDER"]
    table = read_submission(storage.load(folder, scored.scores_sha256), expected_ids=key.event_id)
    written = table.set_index("event_id")["score"]
    np.testing.assert_array_equal(written[expected.index].to_numpy(), expected.to_numpy())
    assert storage.load(folder, scored.sha256, storage.MODEL) == data
    with session_scope(models_app) as db:
        assert board_version(db) > version  # the scored row changes the board
        recorded = queries.recorded_hashes(db)
    # The orphan clean-up keeps the model and the scores file the worker wrote; backups hold both.
    assert storage.remove_orphans(folder, recorded, older_than_s=0) == 0
    backups.backup(models_app, tmp_path / "backup")
    assert [p.name for p in storage.stored_files(tmp_path / "backup" / "submissions")] == sorted(
        [f"{scored.scores_sha256}.csv.gz", f"{scored.sha256}.onnx.gz"]
    )


def test_a_message_delivered_twice_or_for_a_scored_row_does_nothing(models_app, client):
    token = register(client)
    upload(client, token, m.mean_model().SerializeToString())
    with models_app.app_context():
        assert jobs.score_submission(models_app, 1) == "scored"
        scored_at = row(models_app, 1).scored_at
        assert jobs.score_submission(models_app, 1) is None  # already scored
        assert jobs.score_submission(models_app, 99) is None  # no such row
    assert row(models_app, 1).scored_at == scored_at
    # Two workers that got the same message: one claim wins.
    upload(client, token, m.mean_model(LENGTH).SerializeToString())
    with models_app.app_context():
        first, second = jobs.claim(models_app, 2), jobs.claim(models_app, 2)
    assert first is not None and second is None
    assert row(models_app, 2).status == "running"


@pytest.mark.timeout(180)
def test_hostile_models_are_refused_or_fail_with_a_public_reason_then_a_good_one_scores(
    models_app, client, tmp_path
):
    token = register(client)
    for case in m.HOSTILE_UPLOADS:
        response = upload(client, token, case.data(), case.name)
        assert response.status_code == case.status, (case.name, response.get_json())
        if case.status == 400:
            assert re.search(case.reason, response.get_json()["error"]), case.name
            continue
        assert drain(models_app) == 1
        failed = row(models_app, response.get_json()["id"])
        assert failed.status == "failed", case.name
        assert re.search(case.reason, failed.failure_reason), (case.name, failed.failure_reason)
        assert str(tmp_path) not in failed.failure_reason
    good = upload(client, token, m.mean_model().SerializeToString())
    assert good.status_code == 202
    assert drain(models_app) == 1
    assert row(models_app, good.get_json()["id"]).status == "scored"
    with session_scope(models_app) as db:  # refused uploads left no row and cost no quota
        queued = sum(case.status == 202 for case in m.HOSTILE_UPLOADS)
        assert len(queries.team_submissions(db, 1)) == queued + 1


def detailed_errors(model, X: np.ndarray, tmp_path) -> str:
    """The errors of a model on records of one's own: the sandbox's detailed message and
    onnxruntime's full text in this process."""
    with pytest.raises(Exception) as sandboxed:
        score_model(m.save(model, tmp_path / "own.onnx"), X)
    try:
        run_batches(make_session(model.SerializeToString()), X)
        in_process = ""
    except Exception as err:  # onnxruntime's own types
        in_process = str(err)
    return f"{sandboxed.value} {in_process}"


@pytest.mark.parametrize("build", [m.leaky_error_model, m.leaky_shape_model, m.leaky_nan_model])
def test_a_failure_reason_reveals_nothing_computed_from_the_test_pulses(
    models_app, client, private_data, tmp_path, build
):
    """A model that makes onnxruntime's error, its output's shape or its count of NaN carry a
    number computed from the pulses (the positive records): the team sees a fixed reason,
    though `challenge check-model` on records of one's own gives the detailed one."""
    X = load_file(private_data / "test.root").X
    secret = m.positive_count(X)
    assert 0 < secret < len(X)
    assert str(secret) in detailed_errors(build(), X, tmp_path)  # the channel exists

    response = upload(client, register(client), build().SerializeToString())
    assert response.status_code == 202
    drain(models_app)
    failed = row(models_app, response.get_json()["id"])
    assert failed.status == "failed"
    assert re.fullmatch(m.RUN_FAILURE, failed.failure_reason)
    assert str(secret) not in failed.failure_reason


@pytest.mark.timeout(60)
def test_a_run_time_shows_only_in_tenths_of_the_wall_limit(models_config, make_app):
    """How long a model ran can depend on the pulses: its row turns scored a whole tenth of the
    wall limit (20 s here, so that a mean surely runs within one tenth) after its worker took
    it, and scored_at says that time."""
    models_app = make_app(models_config | {"MODEL_WALL_S": 20})
    client = models_app.test_client()
    response = upload(client, register(client), m.mean_model().SerializeToString())
    start = time.monotonic()
    assert drain(models_app) == 1
    took = time.monotonic() - start
    scored = row(models_app, response.get_json()["id"])
    assert scored.status == "scored"
    assert scored.scored_at - scored.started_at == timedelta(seconds=2)  # a mean takes < 2 s
    assert took >= 2.0
    since = time.monotonic() - 2.5
    assert jobs.wait_for_step(since, 10.0) == 3.0  # 2.5 s is in the third second
    assert time.monotonic() - since >= 3.0


# Two sign patterns of the first 48 samples of the first test record, and so two values of the
# 48 bits that issue 21's shape model reads (and of the one bit the failure-kind model reads).
PULSE_SIGNS = [np.where(np.arange(48) % 3 == 0, 1, -1), np.where(np.arange(48) % 5 == 0, -1, 1)]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_model_learns_nothing_of_the_pulses_from_its_failure_reason(
    models_config, make_app, tmp_path
):
    """Issue 21's 48-bit shape model (an output of rank 49 whose sizes are bits of the pulses)
    and a model whose kind of failure (NaN or out of memory) is a bit of the pulses: on two
    test sets that differ in those bits, a team gets the same reason, word for word, though on
    records of one's own the detailed reasons differ."""
    reasons, detailed = [], []
    for signs in PULSE_SIGNS:
        folder = tmp_path / f"private-{signs[0]}-{signs[1]}"
        folder.mkdir()
        key = make_answer_key(N_PUBLIC, N_PRIVATE, seed=5)
        key.to_csv(folder / "answer_key.csv", index=False)
        X = load_file(write_test_records(folder, key, length=LENGTH, first_signs=signs)).X
        app = make_app(models_config | {
            "ANSWER_KEY": str(folder / "answer_key.csv"), "UPLOAD_FOLDER": str(folder / "uploads"),
            "DATABASE_URL": f"sqlite:///{folder / 'board.sqlite'}",
            "QUEUE_URL": f"sqlite:///{folder / 'queue.sqlite'}",
        })  # fmt: skip
        client, found = app.test_client(), []
        token = register(client)
        for build in (m.shape_bits_model, m.failure_kind_model):
            response = upload(client, token, build().SerializeToString(), f"{build.__name__}.onnx")
            assert response.status_code == 202, response.get_json()
            assert drain(app) == 1
            failed = row(app, response.get_json()["id"])
            assert failed.status == "failed"
            found.append(failed.failure_reason)
            own = SandboxLimits(wall_seconds=20, cpu_seconds=2, memory_bytes=2**30,
                                use_bubblewrap=False)  # fmt: skip
            with pytest.raises(Exception) as err:
                score_model(m.save(build(), tmp_path / "own.onnx"), X, limits=own)
            detailed.append(str(err.value))
        reasons.append(found)
    assert reasons[0] == reasons[1]
    assert re.fullmatch(m.RUN_FAILURE, reasons[0][0])
    assert re.fullmatch(m.RUN_FAILURE, reasons[0][1])
    # The channel that the fixed reasons close: on one's own records the reasons differ.
    assert detailed[0] != detailed[2] and detailed[1] != detailed[3]


def test_a_model_for_records_of_another_length_is_refused_at_upload(client):
    response = upload(client, register(client), m.mean_model(32).SerializeToString())
    assert response.status_code == 400
    assert response.get_json()["error"] == (
        "model.onnx: input 'volts' takes records of 32 samples, this challenge's records have 64"
    )


def _send_headers_only(port: int, token: str, length: int) -> tuple[int, dict]:
    head = (f"POST /api/submissions HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
            f"Authorization: Bearer {token}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n\r\n")  # fmt: skip
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        reply = b""
        while not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    status, body = reply.split(b"\r\n\r\n", 1)
    return int(status.split()[1]), json.loads(body[body.index(b"{") :])


def test_a_2_gb_model_is_refused_from_its_length_and_a_large_one_past_the_limit(
    models_config, make_app
):
    app = make_app(models_config | {"MODEL_MAX_BYTES": 100_000})
    assert app.config["MAX_CONTENT_LENGTH"] == 100_000 + 2**20  # the model limit, not the CSV's
    token = register(app.test_client())
    server = serving.make_server(app, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        status, body = _send_headers_only(server.effective_port, token, m.HUGE_UPLOAD_BYTES)
    finally:
        server.close()
        thread.join(timeout=10)
    assert (status, body) == (
        413,
        {"error": "the upload is larger than the limit of 100,000 bytes"},
    )
    over = upload(app.test_client(), token, bytes(100_001))
    assert over.status_code == 413
    assert over.get_json() == {"error": "the file is larger than the limit of 100,000 bytes"}


def test_the_form_says_the_model_is_queued_and_where_its_status_shows(models_app, client):
    token = register(client)
    assert client.post("/login", data={"token": token}).status_code in (302, 303)
    page = client.get("/submit").get_data(as_text=True)
    assert 'accept=".onnx"' in page and "baselines export" in page
    response = client.post(
        "/submit",
        data={"file": (io.BytesIO(m.mean_model().SerializeToString()), "model.onnx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    with client.session_transaction() as session:
        (flashed,) = [text for _, text in session["_flashes"]]
    assert flashed == (
        "Submission #1 accepted and queued: a worker runs the model on the test records; your "
        "team page shows its status and, once scored, its public AUC. 49 left today."
    )
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert flashed in page and (
        '<td class="status queued" data-label="Status">queued <small>(model)</small>' in page
    )
    drain(models_app)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert '<td class="status scored" data-label="Status">scored <small>(model)</small>' in page


def test_requeue_sends_queued_rows_again_and_puts_back_stale_running_ones(
    models_app, client, clock
):
    tokens = [register(client), register(client, "other team")]
    for length, token in zip((None, LENGTH, 63), (tokens[0], tokens[1], tokens[0]), strict=True):
        model = m.mean_model(length) if length != 63 else m.nan_model()
        assert upload(client, token, model.SerializeToString()).status_code == 202
    queue.huey_of(models_app).flush()  # the broker lost its messages
    with models_app.app_context():
        stale_claim = jobs.claim(models_app, 1)
    clock.advance(
        seconds=models_app.config["MODEL_WALL_S"] + models_app.config["MODEL_STALE_MARGIN_S"] + 1
    )
    with models_app.app_context():
        assert jobs.claim(models_app, 2) is not None  # a live worker's, just now
    result = CliRunner().invoke(main, ["requeue"], obj=models_app)
    assert result.exit_code == 0, result.output
    assert result.output == (
        "put back 1 running models whose worker is gone: #1\n"
        "sent 2 queued models to the queue: #1, #3\n"
    )
    assert [row(models_app, i).status for i in (1, 2, 3)] == ["queued", "running", "queued"]
    assert drain(models_app) == 2
    assert [row(models_app, i).status for i in (1, 2, 3)] == ["scored", "running", "failed"]
    with models_app.app_context():  # the dead worker's late result is dropped
        assert jobs._record(models_app, 1, stale_claim, {"status": "failed"}) is None
    assert row(models_app, 1).status == "scored"


def test_the_periodic_check_puts_back_only_claims_older_than_wall_plus_half_margin(
    models_app, client, clock, caplog
):
    tokens = [register(client), register(client, "other team")]  # a team runs one at a time
    for length, token in zip((None, LENGTH), tokens, strict=True):
        assert upload(client, token, m.mean_model(length).SerializeToString()).status_code == 202
    queue.huey_of(models_app).flush()
    with models_app.app_context():
        stale_claim = jobs.claim(models_app, 1)
    config = models_app.config
    stale_after = config["MODEL_WALL_S"] + config["MODEL_STALE_MARGIN_S"] / 2
    clock.advance(seconds=stale_after - 1)
    with models_app.app_context():
        assert jobs.claim(models_app, 2) is not None
    assert jobs.requeue_stale(models_app) == []  # 1 s short of stale
    clock.advance(seconds=2)
    assert jobs.requeue_stale(models_app) == [1]
    assert "submission #1: running for more than" in caplog.text
    assert [row(models_app, i).status for i in (1, 2)] == ["queued", "running"]
    assert queue.pending(models_app) == 1  # sent to the queue, not only marked queued
    assert jobs.requeue_stale(models_app) == []
    assert drain(models_app) == 1
    assert row(models_app, 1).status == "scored"
    with models_app.app_context():
        assert jobs._record(models_app, 1, stale_claim, {"status": "failed"}) is None


def test_add_reference_queues_a_model_and_scores_a_prediction_file_at_once(
    models_app, private_data, tmp_path
):
    model = m.save(m.mean_model(), tmp_path / "reference.onnx")
    result = CliRunner().invoke(main, ["add-reference", "mean", str(model)], obj=models_app)
    assert result.exit_code == 0, result.output
    assert result.output == (
        "reference 'mean': model queued as submission #1; `leaderboard worker` scores it\n"
    )
    key = pd.read_csv(private_data / "answer_key.csv")
    csv = tmp_path / "perfect.csv"
    key[["event_id"]].assign(score=key["label"]).to_csv(csv, index=False)
    result = CliRunner().invoke(main, ["add-reference", "labels", str(csv)], obj=models_app)
    assert result.exit_code == 0, result.output
    assert result.output == "reference 'labels': public AUC 1.0000\n"
    assert drain(models_app) == 1
    assert row(models_app, 1).status == "scored"


def _worker(app) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["worker"], obj=app)
    return result.exit_code, result.output


def test_check_worker_refuses_a_machine_without_isolation(models_app, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on the path
    with pytest.raises(ConfigError) as refused:
        jobs.check_worker(models_app)
    assert "needs bubblewrap" in str(refused.value)
    assert "`apt-get install bubblewrap python3-seccomp`" in str(refused.value)
    assert "LEADERBOARD_MODEL_REQUIRE_ISOLATION=0" in str(refused.value)
    code, output = _worker(models_app)
    assert code == 1 and output.startswith("Error: the model sandbox needs bubblewrap")
    models_app.config["MODEL_REQUIRE_ISOLATION"] = False
    jobs.check_worker(models_app)  # rlimits alone are allowed when asked for


def test_check_worker_refuses_test_records_of_another_key_or_none(
    models_config, make_app, tmp_path
):
    other = tmp_path / "other"
    other.mkdir()
    key = make_answer_key(N_PUBLIC, N_PRIVATE, seed=5)
    key.to_csv(other / "answer_key.csv", index=False)
    shifted = key.assign(event_id=key["event_id"] + 1)  # none of the key's ids but one or two
    write_test_records(other, shifted, length=LENGTH)
    app = make_app(models_config | {"ANSWER_KEY": str(other / "answer_key.csv")})
    with pytest.raises(ConfigError, match=r"do not match the answer key .*: 300 records "):
        jobs.check_worker(app)

    app = make_app(models_config | {"TEST_RECORDS": str(other / "test.root")})
    (other / "test.root").unlink()  # after the app started: the worker reads it at its start
    with pytest.raises(ConfigError, match=r"cannot use the test records .*test.root: no such file"):
        jobs.check_worker(app)
    with pytest.raises(ConfigError, match=r"test.root.*: no such file"):
        make_app(models_config | {"ANSWER_KEY": str(other / "answer_key.csv")})


def test_check_worker_runs_a_probe_model_and_refuses_a_sandbox_that_cannot(
    models_app, monkeypatch, tmp_path
):
    confined = jobs.check_worker(models_app)
    assert confined.startswith("rlimits")
    assert ("bubblewrap" in confined) == (shutil.which("bwrap") is not None)
    # A bubblewrap that cannot make namespaces (a kernel that forbids them) exits 1 saying so.
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    with pytest.raises(ConfigError) as refused:
        jobs.check_worker(models_app)
    assert str(refused.value).startswith(
        "the model sandbox cannot run a model on this machine: the model's process ended with "
        "status 1: bwrap: setting up uid map: Permission denied; where bubblewrap fails"
    )


def test_a_model_sent_again_gets_409_and_the_quota_counts_models(models_config, make_app):
    client = make_app(models_config | {"DAILY_QUOTA": 2}).test_client()
    token = register(client)
    data = m.mean_model().SerializeToString()
    assert upload(client, token, data).status_code == 202
    again = upload(client, token, data, "renamed.onnx")
    assert again.status_code == 409
    assert again.get_json()["error"].startswith("this file is the same as your submission #1 ")
    assert upload(client, token, m.mean_model(LENGTH).SerializeToString()).status_code == 202
    over = upload(client, token, m.nan_model().SerializeToString())
    assert over.status_code == 429
    assert over.get_json()["error"].startswith("daily quota reached: 2 of 2 submissions today")


def test_an_internal_error_fails_the_model_with_a_fixed_reason_and_logs_it(
    models_app, client, caplog
):
    token = register(client)
    upload(client, token, m.mean_model().SerializeToString())
    stored = storage.stored_path(
        models_app.config["UPLOAD_FOLDER"], row(models_app, 1).sha256, storage.MODEL
    )
    Path(stored).unlink()  # the organizers' disk and database lost it: not the team's fault
    with session_scope(models_app) as db:
        db.execute(delete(StoredFile).where(StoredFile.sha256 == row(models_app, 1).sha256))
    with caplog.at_level(logging.ERROR, logger="leaderboard.jobs"):
        assert drain(models_app) == 1
    failed = row(models_app, 1)
    assert (failed.status, failed.failure_reason) == ("failed", jobs.INTERNAL_FAILURE)
    (record,) = [r for r in caplog.records if r.name == "leaderboard.jobs"]
    assert record.getMessage() == "submission #1: internal error while scoring"
    assert "stored submission file is missing, and the database holds no copy" in caplog.text
    # The worker goes on: the next model is scored.
    upload(client, token, m.mean_model(LENGTH).SerializeToString())
    upload(client, token, m.nan_model().SerializeToString())  # the model's own fault
    assert drain(models_app) == 2
    assert [row(models_app, i).status for i in (2, 3)] == ["scored", "failed"]
    # The team cannot send that file again (409); once the organizers put it back, it scores.
    shared_files.store(models_app, m.mean_model().SerializeToString(), storage.MODEL)
    result = CliRunner().invoke(main, ["requeue", "--internal-errors"], obj=models_app)
    assert result.exit_code == 0, result.output
    assert result.output == (
        "put back 1 models that failed with an internal error: #1\n"
        "sent 1 queued models to the queue: #1\n"
    )
    assert drain(models_app) == 1
    assert (row(models_app, 1).status, row(models_app, 1).failure_reason) == ("scored", None)
    assert row(models_app, 3).status == "failed"


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_a_team_exports_a_trained_baseline_uploads_it_and_sees_it_scored(make_app, clock, tmp_path):
    """The issue's journey: `challenge generate --submissions models`, `baselines train` and
    `baselines export` on the team's side, the upload (202), the worker's job; the public and
    private scores equal what onnxruntime in this process and challenge.metrics give. On SQLite
    only: the rows' path is the same as above, run on both databases."""
    from baselines.cli import main as baselines
    from challenge.generate import generate_challenge
    from challenge.scoring import load_answer_key

    challenge = tmp_path / "challenge"
    generate_challenge(challenge, n_train=160, n_test=200, record_length=1024, seed=5,
                       submissions="models", progress=False)  # fmt: skip
    run, model = tmp_path / "run", tmp_path / "model.onnx"
    for args in (
        ["train", "cnn", "--data", str(challenge), "--dry-run", "--quiet", "--out-dir", str(run)],
        ["export", str(run / "checkpoint.pt"), "--data", str(challenge), "-o", str(model)],
    ):
        result = CliRunner().invoke(baselines, args)
        assert result.exit_code == 0, result.output
    app = make_app({
        "TESTING": True, "SECRET_KEY": "test-secret", "NOW": clock, "REGISTRATIONS_PER_HOUR": 0, "REGISTRATIONS_PER_DAY": 0,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'leaderboard.sqlite'}",
        "UPLOAD_FOLDER": str(tmp_path / "submissions"),
        "SUBMISSIONS": "models", "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.sqlite'}",
        "ANSWER_KEY": str(challenge / "private" / "answer_key.csv"),
        "MODEL_WALL_S": 10,  # the cnn runs in a second; its run shows after 1 s, not 6 s
    })  # fmt: skip
    client = app.test_client()
    response = upload(client, register(client), model.read_bytes())
    assert response.status_code == 202, response.get_json()
    assert drain(app) == 1

    scored = row(app, response.get_json()["id"])
    assert scored.status == "scored", scored.failure_reason
    key = load_answer_key(challenge / "private" / "answer_key.csv")
    expected = reference_scores(model.read_bytes(), challenge / "private" / "test.root")
    for split in ("public", "private"):
        part = key[key["split"] == split]
        auc = roc_auc_score(part["label"].to_numpy(), expected[part["event_id"]].to_numpy())
        assert getattr(scored, f"{split}_auc") == pytest.approx(auc, abs=1e-6)


def _finish(app, submission_id: int, started) -> None:
    with app.app_context():
        assert jobs._record(
            app, submission_id, started, {"status": "failed", "failure_reason": "x"}
        )


def test_the_fair_order_runs_one_model_per_team_and_teams_in_turn(models_app, client, clock):
    """Team A queues three models, B two, C one: one worker runs A, B, C, A, B, A (FIFO ran
    A's three first), and a second worker never starts a second model of a running team."""
    teams = {name: register(client, name) for name in ("A", "B", "C")}
    order = ["A", "A", "A", "B", "B", "C"]
    ids = {}
    for n, name in enumerate(order):
        response = upload(client, teams[name], m.shifted_mean_model(n).SerializeToString())
        ids.setdefault(name, []).append(response.get_json()["id"])
    ran = []
    with models_app.app_context():
        while (
            claimed := jobs.claim_next(models_app)
        ) is not None:  # one worker: start, finish, next
            ran.append(claimed[0])
            clock.advance(seconds=1)
            _finish(models_app, *claimed)
    a, b, c = ids["A"], ids["B"], ids["C"]
    assert ran == [a[0], b[0], c[0], a[1], b[1], a[2]]


def test_a_second_worker_never_starts_a_second_model_of_a_running_team(models_app, client, clock):
    a, b = register(client, "A"), register(client, "B")
    first, second = (upload(client, a, m.shifted_mean_model(n).SerializeToString())
                     for n in (1, 2))  # fmt: skip
    first_id, second_id = first.get_json()["id"], second.get_json()["id"]
    with models_app.app_context():
        running = jobs.claim_next(models_app)
        assert running[0] == first_id
        assert jobs.claim_next(models_app) is None  # A runs a model; nobody else has one queued
        other = upload(client, b, m.mean_model().SerializeToString()).get_json()["id"]
        assert jobs.claim_next(models_app)[0] == other  # B's, though A's second came first
        assert {(first_id, running[1]), (other, running[1])} <= set(jobs.claimed_here())
        _finish(models_app, *running)
        assert jobs.claim_next(models_app)[0] == second_id
    assert row(models_app, second_id).status == "running"


def test_a_worker_scores_every_queued_model_it_may_start_for_one_message(models_app, client):
    """A message only wakes a worker: messages lost or taken by a worker that could start
    nothing, the worker that finishes a model goes on with the next one."""
    a, b = register(client, "A"), register(client, "B")
    for token, n in ((a, 1), (a, 2), (b, 3)):
        assert upload(client, token, m.shifted_mean_model(n).SerializeToString()).status_code == 202
    huey = queue.huey_of(models_app)
    task = huey.dequeue()
    huey.flush()  # the other two messages are lost
    huey.execute(task)
    assert [row(models_app, i).status for i in (1, 2, 3)] == ["scored"] * 3
