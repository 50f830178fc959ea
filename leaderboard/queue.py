"""The job queue of model scoring, from huey: a model upload is a row (``queued``) and a task
naming its id; a worker (``leaderboard worker``) takes the task and scores the model.

``LEADERBOARD_QUEUE_URL`` picks the broker: ``sqlite:///PATH`` keeps the queue in a file, with
no server, for one machine (the default, in the instance folder); ``redis://HOST:PORT/DB``
serves workers on several machines. The queue carries only submission ids, as JSON: the
database row is the record of a submission's status, so a lost message loses no upload
(``leaderboard requeue`` sends every queued row again) and a message delivered twice scores once.
A message only wakes a worker: which model it runs is the database's fair order (one running
model per team, teams in turn; ``jobs.claim_next``), whatever the order of the messages.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask
from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer
from huey.registry import Message
from huey.serializer import Serializer
from huey.signals import SIGNAL_INTERRUPTED

from leaderboard import storage
from leaderboard.state import state_of

QUEUE_NAME = "leaderboard-scoring"
# An idle SQLite-backed worker looks for work at most this long after it arrives (huey polls).
SQLITE_MAX_POLL_S = 0.25
# A broker that does not answer fails an upload's enqueue (the row stays queued) in seconds
# instead of holding the request; reads wait longer than huey's 1 s blocking pop.
REDIS_CONNECT_TIMEOUT_S = 2.0
REDIS_READ_TIMEOUT_S = 10.0
# A Redis-backed worker waits for tasks in a blocking pop; while Redis is down it tries again
# at most this long after each failure (each logged), and goes on once Redis is back.
REDIS_RETRY_MAX_S = 2.0
# After Ctrl-C a worker waits this much longer than a model's wall limit for its run to end.
SHUTDOWN_MARGIN_S = 30.0

logger = logging.getLogger(__name__)


TASK_NAME, STALE_TASK_NAME = "score_submission", "requeue_stale"
# huey names a task by its module and name; the names a message of this queue may carry, and
# the number of int arguments of each (a submission id; none for the periodic task)
MESSAGE_NAME = f"{__name__}.{TASK_NAME}"
MESSAGE_ARGS = {MESSAGE_NAME: 1, f"{__name__}.{STALE_TASK_NAME}": 0}
MESSAGE_MAX_BYTES = 1024  # ours are about 380 bytes; a longer one is not ours, and not parsed
# Every field of the messages this project sends that is not the id or the submission id:
# huey's defaults, never what a message says (retries=10**6 made a worker retry for minutes).
MESSAGE_DEFAULTS = {
    "eta": None, "retries": 0, "retry_delay": 0, "priority": None, "kwargs": {},
    "on_complete": None, "on_error": None, "expires": None, "expires_resolved": None,
    "timeout": None, "chord_config": None, "retry_backoff": 0,
}  # fmt: skip


class MalformedMessage(ValueError):
    """A message on the queue that is not one this project sends; it is dropped."""


class _DropsMalformedMessages:
    """A huey whose ``dequeue`` drops each malformed message with one log line and reads the
    next at once: huey's consumer would log a traceback and back off (up to REDIS_RETRY_MAX_S)
    after each, so 40 forged messages held a worker for a minute."""

    def dequeue(self):
        while True:
            data = self.storage.dequeue()
            if data is None:
                return None
            try:
                return self.deserialize_task(data)
            except MalformedMessage as err:
                logger.warning("dropped a message that is not a scoring task: %s", err)


class ScoringSqliteHuey(_DropsMalformedMessages, SqliteHuey):
    pass


class ScoringRedisHuey(_DropsMalformedMessages, RedisHuey):
    pass


def make_huey(url: str) -> Huey:
    """The huey instance of ``url``: sqlite:///PATH or redis://HOST:PORT/DB (rediss:// too).

    The SQLite file holds only submission ids; it is made owner-only all the same.
    """
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        storage.private_dir(os.path.dirname(os.path.abspath(path)))
        storage.private_file(path)
        return ScoringSqliteHuey(
            QUEUE_NAME, filename=path, results=False, serializer=JsonSerializer()
        )
    pool = redis.ConnectionPool.from_url(
        url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S, socket_timeout=REDIS_READ_TIMEOUT_S
    )
    return ScoringRedisHuey(
        QUEUE_NAME, connection_pool=pool, results=False, serializer=JsonSerializer()
    )


class JsonSerializer(Serializer):
    """huey's messages as JSON instead of pickle, and only the shape this project sends: a task
    id, one of its two tasks and its int arguments, every other field huey's default. Whoever can write to the
    broker can put submission ids on the queue, never code for the workers (which hold the
    answer key) to run, nor retries, delays or callbacks. Anything else is MalformedMessage."""

    def _serialize(self, data: Message) -> bytes:
        return json.dumps(data._asdict()).encode()

    def _deserialize(self, data: bytes) -> Message:
        if len(data) > MESSAGE_MAX_BYTES:
            raise MalformedMessage(f"{len(data):,} bytes, over {MESSAGE_MAX_BYTES}: {data[:60]!r}")
        try:
            fields = json.loads(data)  # a pickle among the things that fail here
        except ValueError:
            raise MalformedMessage(f"not JSON: {data[:80]!r}") from None
        if not isinstance(fields, dict) or set(fields) != set(Message._fields):
            raise MalformedMessage(f"not a task of this queue: {data[:80]!r}")
        task_id, args = fields["id"], fields["args"]
        others = {k: v for k, v in fields.items() if k not in ("id", "name", "args")}
        n_args = MESSAGE_ARGS.get(fields["name"])
        if (
            n_args is None
            or others != MESSAGE_DEFAULTS
            or not (isinstance(task_id, str) and 0 < len(task_id) <= 64)
            or not (isinstance(args, list) and len(args) == n_args)
            or not all(type(a) is int for a in args)
        ):
            raise MalformedMessage(f"not a task as this project sends one: {data[:80]!r}")
        defaults = {**MESSAGE_DEFAULTS, "kwargs": {}}  # a dict of its own for each task
        return Message(id=task_id, name=fields["name"], args=tuple(args), **defaults)


@dataclass(frozen=True)
class Jobs:
    """What the workers run, handed in by the app factory (``leaderboard.jobs.WORKER_JOBS``), so
    that the queue imports no job."""

    score: Callable[[Flask, int], object]  # score the queued submissions, woken by one's id
    put_back: Callable[[Flask, int], object]  # queue again those that a worker's stop interrupted
    requeue_stale: Callable[[Flask], object]  # queue again those whose worker died
    stale_check_s: Callable[[Mapping[str, Any]], float]  # how often, from the settings


@dataclass(frozen=True)
class Queue:
    """An app's queue: its huey, the scoring task on it, and the workers' jobs."""

    huey: Huey
    score_task: Callable[[int], object]
    jobs: Jobs


def init_app(app: Flask, jobs: Jobs) -> None:
    """In models mode, give the app its queue and the scoring task on it, which runs
    ``jobs.score`` on a submission in an app context, and the workers' periodic task that
    queues again the models of dead workers. Prediction files are scored on upload and need
    no queue."""
    if app.config["SUBMISSIONS"] != "models":
        return
    huey = make_huey(app.config["QUEUE_URL"])

    @huey.task(name=TASK_NAME)
    def score_submission(submission_id: int) -> None:
        """A message says that model ``submission_id`` was queued: ``jobs.score`` runs the
        queued models in fair order, whichever they are (``leaderboard.jobs.claim_next``)."""
        logger.info("submission #%d queued: worker %d looks for work", submission_id, os.getpid())
        with app.app_context():
            jobs.score(app, submission_id)

    @huey.periodic_task(_at_every_check, name=STALE_TASK_NAME)
    def requeue_stale() -> None:  # each worker's scheduler queues it every stale check
        with app.app_context():
            jobs.requeue_stale(app)

    state_of(app).hold(Queue(huey, score_submission, jobs))


def _at_every_check(now) -> bool:
    """huey asks a periodic task whether to run at each of its checks: always (the checks come
    every ``jobs.stale_check_s``, see ``StaleCheckConsumer``)."""
    return True


class StaleCheckConsumer(Consumer):
    """huey's consumer, whose scheduler queues the periodic tasks every ``check_s`` seconds
    instead of once a minute (huey's documented override: ``_create_scheduler``)."""

    def __init__(self, huey: Huey, *, check_s: float, **options) -> None:
        self.check_s = check_s
        # The scheduler wakes every scheduler_interval seconds (a divisor of 60) to look.
        divisors = [d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60) if d <= check_s]
        super().__init__(huey, scheduler_interval=max(divisors, default=1), **options)

    def _create_scheduler(self):
        scheduler = super()._create_scheduler()
        scheduler.periodic_task_seconds = self.check_s
        return scheduler


def huey_of(app: Flask) -> Huey:
    return state_of(app).part(Queue).huey


def enqueue_scoring(submission_id: int, app: Flask) -> bool:
    """Put the scoring of a queued submission on the queue; False (logged) when the broker is
    unreachable: the row stays ``queued`` until ``leaderboard requeue`` sends it again."""
    task = state_of(app).part(Queue).score_task
    try:
        task(submission_id)
    except Exception as err:  # the broker's own errors (redis, sqlite3) have no common base
        logger.error("could not queue submission #%d for scoring: %s", submission_id, err)
        return False
    return True


def pending(app: Flask) -> int:
    """How many tasks wait on the queue (not the ones a worker is running)."""
    return huey_of(app).pending_count()


def run_worker(app: Flask, *, threads: int = 1) -> None:
    """Take tasks from the queue until SIGINT (finish the running task, at most the model's
    wall limit plus SHUTDOWN_MARGIN_S; a second SIGINT stops at once) or SIGTERM (stop now);
    a model left unfinished by the stop is queued again for another worker.

    One thread scores one model at a time; the model itself runs in its own sandboxed process.
    """
    held = state_of(app).part(Queue)
    huey = held.huey
    # huey's own line per task repeats the two logged above; its warnings and errors still show
    logging.getLogger("huey").setLevel(logging.WARNING)
    logging.getLogger("huey.consumer").setLevel(logging.INFO)  # start, signals, shutdown
    for name in ("huey.consumer.Worker", "huey.consumer.Scheduler"):
        logging.getLogger(name).addFilter(_broker_errors_in_one_line)

    @huey.signal(SIGNAL_INTERRUPTED)
    def put_back(signal: str, task, *args, **kwargs) -> None:  # as the consumer stops
        with app.app_context():
            held.jobs.put_back(app, *task.args)

    @huey.on_startup("leaderboard.ready")
    def ready() -> None:  # in each consumer thread, as it starts taking tasks
        logger.info("worker ready: process %d takes tasks from the queue", os.getpid())

    consumer = StaleCheckConsumer(
        huey,
        # its periodic task queues again the models of workers that died without a signal
        check_s=held.jobs.stale_check_s(app.config),
        periodic=True,
        workers=threads,
        worker_type="thread",
        initial_delay=0.05,
        backoff=1.5,
        max_delay=SQLITE_MAX_POLL_S if isinstance(huey, SqliteHuey) else REDIS_RETRY_MAX_S,
        shutdown_timeout=float(app.config["MODEL_WALL_S"]) + SHUTDOWN_MARGIN_S,
    )
    consumer.run()


# What a broker that is down or locked raises while a worker reads from it.
BROKER_ERRORS = (redis.ConnectionError, redis.TimeoutError, sqlite3.OperationalError)


def _broker_errors_in_one_line(record: logging.LogRecord) -> bool:
    """huey logs each failed read of the queue with a traceback, every try while the broker is
    down; one line says the same."""
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, BROKER_ERRORS):
        record.msg, record.args = f"{record.getMessage()}: {error}; trying again", ()
        record.exc_info = record.exc_text = None
    return True
