"""A worker's job: score one queued model in the sandbox on the test records and record the result.

The child process that runs the model sees only the records; this process holds the answer key,
turns the model's scores into a prediction file and grades it with the code that grades an
upload. A failure gets a public reason that names only the model and the limits, never anything
computed from the test pulses.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from challenge.data import DataError, load_file
from challenge.model import ModelError, ModelLimits
from challenge.sandbox import (
    RecordsFile,
    SandboxLimits,
    isolation,
    probe,
    readable_folders,
    score_model,
)
from challenge.submission import write_submission
from leaderboard import grading, ladder, queue, shared_files, storage
from leaderboard.config import ConfigError, defaults
from leaderboard.db import session_scope
from leaderboard.models import Submission
from leaderboard.state import state_of

logger = logging.getLogger(__name__)

INTERNAL_FAILURE = "internal error while scoring; the organizers have been told"
ISOLATION_PACKAGES = "apt-get install bubblewrap python3-seccomp"
# A model's run time shows (its row turns scored or failed) only in whole tenths of the wall
# limit: how long a model took can depend on the pulses it read, so it may carry at most
# log2(RUN_TIME_STEPS + 2) bits of them (docs: the security section).
RUN_TIME_STEPS = 10


@dataclass(frozen=True)
class TestRecords:
    """The test records as a worker holds them: read once from test.root, written once where
    every model's child maps them."""

    event_ids: np.ndarray  # int64 (n,), in the order of the records
    records: RecordsFile  # float32 (n, L), in a private temporary folder, removed with this


_loading = threading.Lock()


def test_records(app: Flask) -> TestRecords:
    """The worker's test records, read on first use; ConfigError when test.root is unusable."""
    with _loading:
        held = state_of(app).find(TestRecords)
        if held is None:
            held = state_of(app).hold(_read_test_records(app.config["TEST_RECORDS"]))
    return held


def _read_test_records(path: str) -> TestRecords:
    try:
        events = load_file(path)
    except DataError as err:
        raise ConfigError(
            f"cannot use the test records (LEADERBOARD_TEST_RECORDS): {err}"
        ) from None
    folder = tempfile.mkdtemp(prefix="leaderboard-test-records-")  # mode 0700
    held = TestRecords(events.event_id, RecordsFile.write(events.X, Path(folder, "records")))
    weakref.finalize(held, shutil.rmtree, folder, ignore_errors=True)
    return held


def sandbox_limits(config) -> SandboxLimits:
    """One model's run, from the MODEL_* settings."""
    return SandboxLimits(
        wall_seconds=float(config["MODEL_WALL_S"]),
        cpu_seconds=int(config["MODEL_CPU_S"]),
        memory_bytes=int(config["MODEL_MEMORY_BYTES"]),
        threads=int(config["MODEL_THREADS"]),
    )


def prepare_worker(app: Flask) -> None:
    """Give a worker's app (ROLE "worker") the challenge's files: copied from the database into
    the worker's own folder, where no model can read them, then loaded as a server loads them.
    ConfigError naming what is missing, altered, or where a model could read it."""
    try:
        files = shared_files.fetch_challenge(app)
        take_scoring_settings(app.config, shared_files.scoring_settings(app))
    except storage.StorageError as err:
        raise ConfigError(f"this worker cannot get the challenge's files: {err}") from None
    for setting, folder in (("LEADERBOARD_INSTANCE", files.answer_key.parent),
                            ("LEADERBOARD_UPLOAD_FOLDER", app.config["UPLOAD_FOLDER"])):  # fmt: skip
        check_hidden_from_models(folder, setting)
    app.config.update(ANSWER_KEY=str(files.answer_key), TEST_RECORDS=str(files.test_records))
    grading.init_app(app)


def take_scoring_settings(config, server: Mapping[str, Any]) -> None:
    """Make ``config`` (a worker's) run and score models with the ``server``'s settings; a
    setting of the worker's own (not the default) that differs is refused (ConfigError)."""
    default = defaults(config["INSTANCE_PATH"])
    for key, value in server.items():
        if config[key] != value and config[key] != default[key]:
            raise ConfigError(
                f"{key} is {config[key]!r} on this worker and {value!r} on the server (stored "
                "by `leaderboard init-db`): a worker takes the server's, so leave it unset here "
                "(LEADERBOARD_*), or change it on the server and run `leaderboard init-db`"
            )
        config[key] = value


def check_hidden_from_models(folder: str | os.PathLike, setting: str) -> None:
    """ConfigError when ``folder`` lies where the sandbox lets a model read (the interpreter's
    folders): a worker keeps the answer key, test.root and other teams' models there."""
    path = Path(folder).resolve()
    for readable in readable_folders():
        if path == Path(readable).resolve() or Path(readable).resolve() in path.parents:
            raise ConfigError(
                f"{setting}: {path} is inside {readable}, which every model's sandbox can read; "
                "this worker keeps the answer key, test.root and the models there. Run the "
                "worker from another folder (its instance folder is ./instance by default)"
            )


def check_worker(app: Flask) -> str:
    """Refuse to take tasks (ConfigError) where models cannot be scored safely and right: no
    bubblewrap or seccomp while MODEL_REQUIRE_ISOLATION is on, a sandbox that cannot run a tiny
    model, no readable test.root, or test events that are not exactly the answer key's.
    Returns what confines the models, e.g. "rlimits + bubblewrap + seccomp"."""
    _check_isolation(app.config)
    try:
        confined = probe(sandbox_limits(app.config)).isolation
    except ModelError as err:
        raise ConfigError(
            f"the model sandbox cannot run a model on this machine: {err}; where bubblewrap "
            "fails, the kernel may forbid unprivileged user namespaces (`sysctl "
            "kernel.unprivileged_userns_clone=1`; on Ubuntu 24.04 `sysctl "
            "kernel.apparmor_restrict_unprivileged_userns=0`)"
        ) from None
    _check_test_events(app)
    return confined


def _check_isolation(config) -> None:
    if config["MODEL_REQUIRE_ISOLATION"]:
        bwrap, seccomp = isolation(sandbox_limits(config))
        missing = [n for n, f in (("bubblewrap", bwrap), ("python3-seccomp", seccomp)) if not f]
        if missing:
            raise ConfigError(
                f"the model sandbox needs {' and '.join(missing)}, missing on this machine: "
                f"install with `{ISOLATION_PACKAGES}` (Debian, Ubuntu), or set "
                "LEADERBOARD_MODEL_REQUIRE_ISOLATION=0 to run models under resource limits alone"
            )


def _check_test_events(app: Flask) -> None:
    ids = test_records(app).event_ids
    expected = grading.answer_key(app).table["event_id"].to_numpy(np.int64)
    missing_ids = np.setdiff1d(expected, ids)
    extra_ids = np.setdiff1d(ids, expected)
    if len(missing_ids) or len(extra_ids) or len(ids) != len(np.unique(ids)):
        raise ConfigError(
            f"the test records {app.config['TEST_RECORDS']} do not match the answer key "
            f"{app.config['ANSWER_KEY']}: {len(ids):,} records ({len(ids) - len(np.unique(ids))} "
            f"repeated ids) for {len(expected):,} events, {len(missing_ids):,} of the key's "
            f"events missing, {len(extra_ids):,} not in the key; give the test.root made with "
            "this answer key (LEADERBOARD_TEST_RECORDS)"
        )


def score_submission(app: Flask, submission_id: int) -> str | None:
    """Score queued model ``submission_id`` and record it as scored or failed; returns that
    status, or None when the row was not queued (a message delivered twice, a scored row)."""
    started = claim(app, submission_id)
    if started is None:
        logger.info("submission #%d is not queued (already taken or done); skipped", submission_id)
        return None
    return _score_claimed(app, submission_id, started)


def score_queued(app: Flask) -> int:
    """Score queued models in fair order (``claim_next``) until none is left that this worker
    may start; how many it scored. What a worker does for each message on the queue."""
    done = 0
    while (claimed := claim_next(app)) is not None:
        submission_id, started = claimed
        logger.info("submission #%d: scoring in worker %d", submission_id, os.getpid())
        begin = time.perf_counter()
        _score_claimed(app, submission_id, started)
        logger.info("submission #%d: done in %.2f s", submission_id, time.perf_counter() - begin)
        done += 1
    return done


def _score_claimed(app: Flask, submission_id: int, started: datetime) -> str | None:
    """Score a model this worker claimed at ``started`` and record the result."""
    clock, public = time.monotonic(), None
    try:
        fields, public = _score(app, submission_id)
    except ModelError as err:  # SandboxError too: the model's own fault, in public words
        logger.info("submission #%d failed: %s", submission_id, err)
        fields = {"status": "failed", "failure_reason": str(err)}
    except Exception:
        logger.exception("submission #%d: internal error while scoring", submission_id)
        fields = {"status": "failed", "failure_reason": INTERNAL_FAILURE}
    shown = wait_for_step(clock, float(app.config["MODEL_WALL_S"]))
    if fields["status"] == "scored":
        fields["scored_at"] = started + timedelta(seconds=shown)
    try:
        return _record(app, submission_id, started, fields, public)
    finally:
        with _claims_lock:
            _claimed.pop(submission_id, None)


def wait_for_step(since: float, wall_s: float) -> float:
    """Sleep until the time since ``since`` (``time.monotonic``) is a whole number of tenths of
    the wall limit, at least one; returns that time in seconds."""
    step = wall_s / RUN_TIME_STEPS
    steps = max(1, math.ceil((time.monotonic() - since) / step))
    time.sleep(max(0.0, since + steps * step - time.monotonic()))
    return steps * step


# The models this process has claimed and not yet recorded, with their claim's time: put back
# if its worker stops.
_claimed: dict[int, datetime] = {}
_claims_lock = threading.Lock()


def claimed_here() -> list[tuple[int, datetime]]:
    """The models this process is running (claimed, not yet recorded) and their claim's time."""
    with _claims_lock:
        return sorted(_claimed.items())


def claim(app: Flask, submission_id: int) -> datetime | None:
    """Take a queued model for this worker (status ``running``); the claim's time, or None when
    another worker has it or it is not queued. One conditional UPDATE: two workers that get
    the same message cannot both win."""
    started = app.config["NOW"]()
    with session_scope(app) as db:
        taken = db.execute(
            update(Submission)
            .where(Submission.id == submission_id, Submission.status == "queued")
            .where(Submission.kind == "model")
            .values(status="running", started_at=started)
            .execution_options(synchronize_session=False)
        ).rowcount
    if taken != 1:
        return None
    with _claims_lock:
        _claimed[submission_id] = started
    return started


def claim_next(app: Flask) -> tuple[int, datetime] | None:
    """Take the next queued model in fair order: none of a team that has a model running, and
    of the others the team that started one least recently (never first), its oldest queued
    model. The id and the claim's time, or None when no queued model may start now.

    Under the write lock, so that two workers never start two models of one team. A team's
    tenth endless model thus waits behind its own first, never another team's model.
    """
    started = app.config["NOW"]()
    with session_scope(app, write=True) as db:
        submission_id = db.scalar(_fair_order().limit(1))
        if submission_id is None:
            return None
        db.execute(
            update(Submission)
            .where(Submission.id == submission_id, Submission.status == "queued")
            .values(status="running", started_at=started)
            .execution_options(synchronize_session=False)
        )
    with _claims_lock:
        _claimed[submission_id] = started
    return submission_id, started


def _fair_order():
    """The queued models that may start now, fairest first (see ``claim_next``)."""
    models = Submission.kind == "model"
    running = select(Submission.team_id).where(models, Submission.status == "running")
    last_start = (
        select(Submission.team_id, func.max(Submission.started_at).label("at"))
        .where(models, Submission.started_at.is_not(None))
        .group_by(Submission.team_id)
        .subquery()
    )
    return (
        select(Submission.id)
        .outerjoin(last_start, last_start.c.team_id == Submission.team_id)
        .where(models, Submission.status == "queued", Submission.team_id.not_in(running))
        .order_by(last_start.c.at.asc().nulls_first(), Submission.id)
    )


def _score(app: Flask, submission_id: int) -> tuple[dict, np.ndarray]:
    """The scored row's columns and its public scores: run the model, write its scores as a
    prediction file, grade and store that file. ModelError for the model's faults; anything
    else is ours."""
    with session_scope(app) as db:
        submission = db.get(Submission, submission_id)
        sha256 = submission.sha256
    test = test_records(app)
    with tempfile.TemporaryDirectory(prefix="leaderboard-model-") as work:
        model = Path(work, "model.onnx")
        model.write_bytes(shared_files.load(app, sha256, storage.MODEL))
        result = score_model(
            model,
            test.records,
            limits=sandbox_limits(app.config),
            model_limits=ModelLimits(max_bytes=int(app.config["MODEL_MAX_BYTES"])),
            private=True,
        )
        # pandas writes each float64 as its shortest exact repr: the file holds the scores
        scores = write_submission(Path(work, "scores.csv"), test.event_ids, result.scores)
        data = scores.read_bytes()
    table, scored = grading.grade(data, name=f"scores of submission #{submission_id}", app=app)
    logger.info("submission #%d scored in %.2f s (%s)", submission_id, result.seconds,
                result.isolation)  # fmt: skip
    scores_sha256 = shared_files.store(app, data, storage.PREDICTIONS)  # where the server reads it
    fields = {"status": "scored", "scores_sha256": scores_sha256, **scored.columns()}
    return fields, grading.table_scores(table, "public", app)


def _record(
    app: Flask,
    submission_id: int,
    started: datetime,
    fields: dict,
    public: np.ndarray | None = None,
) -> str | None:
    """Write the result if the row is still this worker's claim (``leaderboard requeue`` may
    have handed a stale one to another worker), and the Ladder's verdict on a scored one (its
    ``public`` scores against the team's best so far); the ORM change bumps the board version
    in the same transaction."""
    with session_scope(app, write=True) as db:
        submission = db.get(Submission, submission_id)
        if submission is None or submission.status != "running" or submission.started_at != started:
            logger.warning("submission #%d was claimed again meanwhile; result dropped",
                           submission_id)  # fmt: skip
            return None
        if fields["status"] == "scored":
            fields["ladder_accepted"] = ladder.accepts(db, submission.team_id, public, app)
        for name, value in fields.items():
            setattr(submission, name, value)
    return fields["status"]


@dataclass(frozen=True)
class Requeued:
    stale: list[int]  # running rows whose worker is gone, put back to queued
    retried: list[int]  # rows that failed by our fault (an internal error), put back to queued
    sent: list[int]  # queued rows sent to the queue again
    unsent: list[int]  # queued rows the broker did not take


def requeue(
    app: Flask, *, stale_after_s: float | None = None, internal_errors: bool = False
) -> Requeued:
    """Send every queued model to the queue again, after putting back the running ones claimed
    more than ``stale_after_s`` ago (default: MODEL_WALL_S + MODEL_STALE_MARGIN_S) and, with
    ``internal_errors``, the ones that failed with INTERNAL_FAILURE (once its cause is fixed: the
    team cannot send the same file again)."""
    if stale_after_s is None:
        stale_after_s = float(app.config["MODEL_WALL_S"]) + float(
            app.config["MODEL_STALE_MARGIN_S"]
        )
    cutoff = app.config["NOW"]() - timedelta(seconds=stale_after_s)
    with session_scope(app, write=True) as db:
        stale = _put_back(db, Submission.status == "running", Submission.started_at < cutoff)
        retried = []
        if internal_errors:
            retried = _put_back(
                db, Submission.status == "failed", Submission.failure_reason == INTERNAL_FAILURE
            )
        queued = list(
            db.scalars(
                select(Submission.id)
                .where(Submission.status == "queued", Submission.kind == "model")
                .order_by(Submission.id)
            )
        )
    sent = [i for i in queued if queue.enqueue_scoring(i, app)]
    return Requeued(stale, retried, sent, [i for i in queued if i not in sent])


def stale_check_s(config) -> float:
    """How often each worker looks for models whose worker died: every half margin, so that a
    claim older than the wall limit plus half the margin is queued again by wall + margin."""
    return float(config["MODEL_STALE_MARGIN_S"]) / 2


def requeue_stale(app: Flask) -> list[int]:
    """Queue again the running models claimed more than MODEL_WALL_S + MODEL_STALE_MARGIN_S / 2
    ago: their worker died without a signal (SIGKILL, a lost machine). The workers' periodic
    task; a live worker's model has ended by then (the sandbox stops it at MODEL_WALL_S)."""
    stale_after_s = float(app.config["MODEL_WALL_S"]) + stale_check_s(app.config)
    cutoff = app.config["NOW"]() - timedelta(seconds=stale_after_s)
    stale_now = (Submission.status == "running", Submission.started_at < cutoff)
    with session_scope(app) as db:  # most checks find none: no write lock for them
        if db.scalar(select(Submission.id).where(Submission.kind == "model", *stale_now)) is None:
            return []
    with session_scope(app, write=True) as db:
        stale = _put_back(db, *stale_now)
    for submission_id in stale:
        sent = queue.enqueue_scoring(submission_id, app)
        logger.warning("submission #%d: running for more than %g s, its worker is gone: queued "
                       "again%s", submission_id, stale_after_s,
                       "" if sent else " (not sent: the queue did not answer)")  # fmt: skip
    return stale


def put_back_interrupted(app: Flask, submission_id: int, started: datetime | None = None) -> bool:
    """Queue again a model whose worker stopped before it finished (SIGTERM, or a Ctrl-C that
    waited past its limit), so that another worker scores it without ``leaderboard requeue``;
    with ``started``, only if it is still the claim made then. Whether it was put back and sent."""
    claimed_then = () if started is None else (Submission.started_at == started,)
    with session_scope(app, write=True) as db:
        put_back = _put_back(
            db, Submission.id == submission_id, Submission.status == "running", *claimed_then
        )
    if not put_back:
        return False
    logger.warning("submission #%d interrupted by the worker's stop: queued again", submission_id)
    return queue.enqueue_scoring(submission_id, app)


def _put_back(db: Session, *conditions) -> list[int]:
    """Make the model rows that meet ``conditions`` queued again; their ids."""
    where = (Submission.kind == "model", *conditions)
    ids = list(db.scalars(select(Submission.id).where(*where).order_by(Submission.id)))
    if ids:
        db.execute(
            update(Submission)
            .where(Submission.id.in_(ids), *where)
            .values(status="queued", started_at=None, failure_reason=None)
            .execution_options(synchronize_session=False)
        )
    return ids


# What the queue runs, handed to it by the app factory (the queue imports no job).
def _score_queued_after(app: Flask, submission_id: int) -> int:
    """The queue's task: a message names a queued model; the worker scores in fair order."""
    return score_queued(app)


def _put_back_claims(app: Flask, *message_args: int) -> None:
    """As a worker stops: queue again every model this process was running, whichever message
    woke it (the interrupted task's arguments)."""
    for claimed, started in claimed_here():
        put_back_interrupted(app, claimed, started)


WORKER_JOBS = queue.Jobs(
    score=_score_queued_after,
    put_back=_put_back_claims,
    requeue_stale=requeue_stale,
    stale_check_s=stale_check_s,
)
