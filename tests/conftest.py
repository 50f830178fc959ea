"""Fixtures of the leaderboard tests: an app on a temporary database with a small answer key,
an injectable UTC clock, and helpers that register teams and make submission files by hand.

Every test that uses the database runs on SQLite; set LEADERBOARD_TEST_POSTGRES_URL (e.g.
postgresql+psycopg://user:password@127.0.0.1:5432/db, as .ci/services.sh does) to run each of them
on PostgreSQL as well: each PostgreSQL test gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

ADMIN_TOKEN = "organizer-token-for-tests-0123456789"  # 32 characters at least
# A reader of the board waits for the new board after a write at most BOARD_WAIT_S (half a
# second by default), then gets the one before it. The tests read right after they write, on a
# busy machine, so their apps and servers wait for it; test_leaderboard_final tests the limit.
os.environ.setdefault("LEADERBOARD_BOARD_WAIT_S", "60")
START = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)


class Clock:
    """A settable UTC clock for the config's NOW: tests move time instead of sleeping."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def make_answer_key(n_public: int = 16, n_private: int = 24, *, seed: int = 0) -> pd.DataFrame:
    """A balanced key: half carriers in each split; ids are shuffled 5-digit numbers."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.arange(10_000, 100_000), size=n_public + n_private, replace=False)
    labels = np.concatenate([np.arange(n_public) % 2, np.arange(n_private) % 2]).astype(np.int8)
    splits = ["public"] * n_public + ["private"] * n_private
    return pd.DataFrame({"event_id": ids, "label": labels, "split": splits})


def submission_bytes(key: pd.DataFrame, *, skill: float, seed: int) -> bytes:
    """A valid submission: label plus noise, larger ``skill`` ranks better."""
    rng = np.random.default_rng(seed)
    scores = skill * key["label"].to_numpy() + rng.normal(size=len(key))
    frame = pd.DataFrame({"event_id": key["event_id"], "score": np.round(scores, 6)})
    buffer = io.StringIO()
    frame.sample(frac=1.0, random_state=seed).to_csv(buffer, index=False)
    return buffer.getvalue().encode()


class CheckedResult:
    """A click ``Result`` that remembers whether its exit code was read."""

    def __init__(self, result, args):
        self._result, self._args, self.checked = result, args, False

    @property
    def exit_code(self) -> int:
        self.checked = True
        return self._result.exit_code

    def __getattr__(self, name: str):
        return getattr(self._result, name)


@pytest.fixture(autouse=True)
def cli_exit_codes_are_checked(monkeypatch):
    """Every ``CliRunner.invoke`` in a test must have its exit code read (and so compared): a
    command that failed can no longer pass a test that only looks at files or output."""
    from click.testing import CliRunner

    invoke, results = CliRunner.invoke, []

    def checked_invoke(self, cli, args=None, *rest, **kwargs):
        result = CheckedResult(invoke(self, cli, args, *rest, **kwargs), args)
        results.append(result)
        return result

    monkeypatch.setattr(CliRunner, "invoke", checked_invoke)
    yield
    unchecked = [r._args for r in results if not r.checked]
    if unchecked:
        pytest.fail(f"CLI results whose exit code the test never checked: {unchecked}")


# The shared temporary folders: PostgreSQL's socket folder lives in /tmp (.ci/services.sh), and a
# /tmp once found at mode 0700 after a run stopped it.
SHARED_TEMPORARY_FOLDERS = sorted({"/tmp", tempfile.gettempdir()})


@pytest.fixture(autouse=True)
def temporary_folders_keep_their_mode():
    """A test during which the mode of /tmp changes (a chmod of the folder that holds a file:
    private folders are made 0700) fails, named, and the mode is put back for the next tests."""
    before = {folder: os.stat(folder).st_mode for folder in SHARED_TEMPORARY_FOLDERS}
    yield
    changed = {f: (m, os.stat(f).st_mode) for f, m in before.items() if os.stat(f).st_mode != m}
    for folder, (mode, _) in changed.items():
        os.chmod(folder, stat.S_IMODE(mode))
    if changed:
        pytest.fail(
            "the mode of a shared temporary folder changed during this test (by it, or by a "
            "process running meanwhile, such as the other xdist worker's test): "
            + ", ".join(
                f"{f} from {oct(stat.S_IMODE(m))} to {oct(stat.S_IMODE(now))}"
                for f, (m, now) in changed.items()
            )
        )


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def answer_key(tmp_path) -> pd.DataFrame:
    key = make_answer_key()
    key.to_csv(tmp_path / "answer_key.csv", index=False)
    return key


# Read once at collection: the PostgreSQL copies of the tests exist only when a server is given.
POSTGRES_URL = os.environ.get("LEADERBOARD_TEST_POSTGRES_URL")
DATABASES = ["sqlite"] + (
    [pytest.param("postgresql", marks=pytest.mark.postgres)] if POSTGRES_URL else []
)


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'leaderboard.sqlite'}"
        return
    from tests.hostile.harness import postgres_schema

    with postgres_schema(POSTGRES_URL) as url:
        yield url


@pytest.fixture
def app_config(tmp_path, answer_key, clock, database_url) -> dict:
    """The test config; tests may change it before asking for ``app``."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": database_url,
        "ANSWER_KEY": str(tmp_path / "answer_key.csv"),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "UPLOAD_FOLDER": str(tmp_path / "submissions"),
        "WTF_CSRF_ENABLED": False,
        "NOW": clock,
        "DAILY_QUOTA": 3,
        # Every test team registers from one address; test_leaderboard_actions tests the limit.
        "REGISTRATIONS_PER_HOUR": 0,
        "REGISTRATIONS_PER_DAY": 0,
        # Every public score in full, as these tests compare them with references; the Ladder
        # (the default) has its own tests, which set "ladder" (test_leaderboard_ladder).
        "PUBLIC_BOARD": "plain",
    }


@pytest.fixture
def make_app():
    """Builds apps from a config and closes their database connections after the test."""
    from leaderboard import create_app
    from leaderboard.db import engine_of, init_db

    apps = []

    def make(config: dict):
        app = create_app(config)
        apps.append(app)
        init_db(app)
        return app

    yield make
    for app in apps:
        engine_of(app).dispose()


@pytest.fixture
def app(app_config, make_app):
    return make_app(app_config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    """Invokes the ``leaderboard`` CLI on the test app: ``runner.invoke(["add-team", "x"])``."""
    from click.testing import CliRunner

    from leaderboard.cli import main

    class Runner:
        def invoke(self, args, **kwargs):
            return CliRunner().invoke(main, args, obj=app, **kwargs)

    return Runner()


class Api:
    """Small client of the JSON API, like ``challenge submit`` uses it."""

    def __init__(self, client, answer_key):
        self.client, self.key = client, answer_key

    def register(self, name: str) -> str:
        response = self.client.post("/api/teams", json={"name": name})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["token"]

    def submit(self, token: str, data: bytes, *, note: str = "", filename: str = "sub.csv"):
        return self.client.post(
            "/api/submissions",
            data={"file": (io.BytesIO(data), filename), "note": note},
            headers={"Authorization": f"Bearer {token}"},
            content_type="multipart/form-data",
        )

    def submission(self, *, skill: float = 2.0, seed: int = 0) -> bytes:
        return submission_bytes(self.key, skill=skill, seed=seed)


@pytest.fixture
def api(client, answer_key) -> Api:
    return Api(client, answer_key)


# The model-scoring queue's backends. Redis needs a server: .ci/services.sh starts one and sets
# LEADERBOARD_TEST_REDIS_URL (redis://[:PASSWORD@]HOST:PORT/DB); without it those tests skip.
REDIS_URL = os.environ.get("LEADERBOARD_TEST_REDIS_URL")
QUEUES = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]
REDIS_DATABASES = 16  # a Redis server's default count; database 0 is left to people


def redis_test_url() -> str:
    """LEADERBOARD_TEST_REDIS_URL on a database of this xdist worker's own (1, 2, ...), so that
    tests running in parallel never share a queue; skips when the variable is not set."""
    if not REDIS_URL:
        pytest.skip("LEADERBOARD_TEST_REDIS_URL is not set (.ci/services.sh starts a Redis server)")
    from sqlalchemy import make_url

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    database = 1 + int(worker.removeprefix("gw")) % (REDIS_DATABASES - 1)
    return make_url(REDIS_URL).set(database=str(database)).render_as_string(hide_password=False)


@pytest.fixture(params=QUEUES)
def queue_url(request, tmp_path):
    """The queue of model scoring on each backend: a SQLite file in tmp_path, or Redis (the
    queue's keys are deleted before and after the test: tests of one xdist worker run in turn)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'queue.sqlite'}"
        return
    from leaderboard.queue import make_huey

    url = redis_test_url()
    huey = make_huey(url)
    huey.storage.flush_all()
    yield url
    huey.storage.flush_all()
    huey.storage.pool.disconnect()
