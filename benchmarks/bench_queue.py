"""What the queue costs a model submission, through a live server and real `leaderboard worker`
processes, on the SQLite queue and on Redis (a server of its own on loopback):

- overhead: the time from the upload's 202 to the row's ``scored``, minus the time of
  ``jobs.score_submission`` called directly on the same model in the same run (target: 0.5 s);
- a burst of 50 queued models drained by 1 and by 2 workers: models scored per second, against
  the rate of direct scoring of 50 models in one process.

python -m benchmarks.bench_queue [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from benchmarks.timing import print_rows, row

OVERHEAD_TARGET_S = 0.5
POLL_S = 0.01  # how often the benchmark reads the row's status (adds at most this much)


def mean_model(offset: float) -> bytes:
    """score = the record's mean + ``offset``: one file per offset, all scored alike."""
    from tests.onnx_models import shifted_mean_model

    return shifted_mean_model(offset).SerializeToString()


class Site:
    """A leaderboard of model submissions: its settings, a live server and a status reader."""

    def __init__(self, folder: Path, challenge, queue_url: str):
        from sqlalchemy import create_engine

        self.folder = folder
        self.settings = {
            "INSTANCE_PATH": str(folder / "instance"),
            "DATABASE_URL": f"sqlite:///{folder / 'leaderboard.sqlite'}",
            "ANSWER_KEY": str(challenge.answer_key),
            "UPLOAD_FOLDER": str(folder / "submissions"),
            "SUBMISSIONS": "models",
            "QUEUE_URL": queue_url,
            "REGISTRATIONS_PER_HOUR": 0,
            "REGISTRATIONS_PER_DAY": 0,
            "DAILY_QUOTA": 1000,
        }
        self.engine = create_engine(self.settings["DATABASE_URL"])
        self.teams = 0

    def serve(self, stack: ExitStack) -> str:
        """Start waitress on the site; its URL."""
        from tests.hostile.harness import LiveServer, free_port, waitress_command
        from tests.workers import worker_environment

        env = worker_environment(self.settings)
        env.update(
            LEADERBOARD_SECRET_KEY="bench-queue-secret-key-0123456789abcdef",
            LEADERBOARD_COOKIE_SECURE="0",
        )
        port = free_port()
        server = LiveServer(waitress_command(port), env, port, self.folder).start()
        stack.callback(server.stop)
        stack.callback(self.engine.dispose)
        return server.url

    def team(self, url: str) -> str:
        from tests.hostile.harness import register

        self.teams += 1
        return register(url, f"team {self.teams}")

    def status(self, submission_id: int) -> str:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            query = text("SELECT status FROM submissions WHERE id = :id")
            return connection.execute(query, {"id": submission_id}).scalar_one()

    def wait(self, submission_id: int, timeout_s: float = 300.0) -> float:
        """perf_counter() once the row is scored (RuntimeError if it fails or takes too long)."""
        deadline = time.perf_counter() + timeout_s
        while (status := self.status(submission_id)) != "scored":
            if status == "failed" or time.perf_counter() > deadline:
                raise RuntimeError(f"submission #{submission_id} is {status}")
            time.sleep(POLL_S)
        return time.perf_counter()


def upload(url: str, token: str, model: bytes) -> int:
    from tests.hostile.harness import upload as post

    response = post(url, token, model, filename="model.onnx")
    if response.status_code != 202:
        raise RuntimeError(f"upload answered {response.status_code}: {response.text}")
    return response.json()["id"]


class Direct:
    """jobs.score_submission called in this process, on the site's database and folder, on rows
    queued to a queue that no worker reads; the test records are read first, as a worker does."""

    def __init__(self, site: Site):
        from leaderboard import create_app, jobs

        dead_end = f"sqlite:///{site.folder / 'direct-queue.sqlite'}"
        self.app = create_app({**site.settings, "QUEUE_URL": dead_end, "TESTING": True})
        self.client, self.teams = self.app.test_client(), 0
        with self.app.app_context():
            jobs.check_worker(self.app)
        self.seconds(mean_model(-1.0))  # onnxruntime's import and first session, once

    def queued(self, model: bytes) -> int:
        self.teams += 1
        name = {"name": f"direct {self.teams}"}
        token = self.client.post("/api/teams", json=name).get_json()["token"]
        response = self.client.post(
            "/api/submissions",
            data={"file": (io.BytesIO(model), "model.onnx")},
            headers={"Authorization": f"Bearer {token}"},
            content_type="multipart/form-data",
        )
        return response.get_json()["id"]

    def seconds(self, *models: bytes) -> float:
        """Wall time of scoring ``models`` one after the other (uploads not counted)."""
        from leaderboard import jobs

        ids = [self.queued(model) for model in models]
        with self.app.app_context():
            start = time.perf_counter()
            for submission in ids:
                if jobs.score_submission(self.app, submission) != "scored":
                    raise RuntimeError(f"direct scoring of #{submission} did not score it")
            return time.perf_counter() - start


def overhead(site: Site, url: str, direct: Direct, repeat: int) -> tuple[float, float]:
    """Median direct time and median overhead (202 to scored, minus the direct time measured
    just before it) of one model with one idle worker; turns alternate, so that both see the
    same load on the machine."""
    model = mean_model(0.0)
    direct_times, overheads = [], []
    for _ in range(repeat):
        direct_times.append(direct.seconds(model))
        submission = upload(url, site.team(url), model)
        answered = time.perf_counter()
        overheads.append(site.wait(submission) - answered - direct_times[-1])
    return statistics.median(direct_times), statistics.median(overheads)


def drain_rate(site: Site, url: str, models: list[bytes], workers: int) -> float:
    """Models scored per second by ``workers`` workers started on ``models`` already queued:
    from the moment every worker takes tasks to the last row scored."""
    from tests.workers import running_workers

    # a team of its own for each model: a team runs one model at a time (the fair queue)
    ids = [upload(url, site.team(url), model) for model in models]
    with running_workers(site.settings, site.folder / "workers", n=workers):
        start = time.perf_counter()
        end = max(site.wait(i) for i in ids)
    return len(models) / (end - start)


def measure(backend: str, queue_url: str, folder: Path, challenge, *, quick: bool) -> list[dict]:
    from tests.workers import running_workers

    repeat, burst = (3, 10) if quick else (10, 50)
    site = Site(folder, challenge, queue_url)
    with ExitStack() as stack:
        url = site.serve(stack)
        direct = Direct(site)
        with running_workers(site.settings, folder / "workers", n=1):
            direct_s, overhead_s = overhead(site, url, direct, repeat)
        rates = {n: drain_rate(site, url, [mean_model(n * 1000.0 + i) for i in range(burst)], n)
                 for n in (1, 2)}  # fmt: skip
        direct_rate = burst / direct.seconds(*[mean_model(-2.0 - i) for i in range(burst)])
    load = os.getloadavg()[0]
    rows = [
        row(
            f"queue overhead per model, {backend} queue: upload's 202 to scored with 1 idle "
            f"worker, minus direct scoring (median of {repeat}; load {load:.1f})",
            overhead_s,
            direct_s,
            reference_name="jobs.score_submission in this process",
            target=f"< {OVERHEAD_TARGET_S} s",
        )
    ]
    for workers in (1, 2):
        rows.append(
            row(
                f"{burst} queued models drained by {workers} worker{'s' * (workers > 1)}, "
                f"{backend} queue: models scored per second",
                rates[workers],
                direct_rate,
                unit="models/s",
                reference_name=f"direct scoring of {burst} models, one process",
                target=f"about {workers} on {workers} free cores",
            )
        )
    return rows


def backends(stack: ExitStack, folder: Path) -> dict[str, Callable[[Path], str]]:
    """The queues to measure, each a URL for a site's folder: SQLite always, Redis (a server of
    its own) where redis-server is installed."""
    from tests.workers import free_port, redis_server

    found = {"SQLite": lambda site: f"sqlite:///{site / 'queue.sqlite'}"}
    if shutil.which("redis-server"):
        found["Redis"] = lambda site: stack.enter_context(
            redis_server(free_port(), site / "redis-server")
        )
    return found


def run(*, quick: bool = False) -> list[dict]:
    from tests.workers import make_challenge

    rows = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        folder = Path(tmp)
        n_test, length = (300, 256) if quick else (2_000, 1_024)
        challenge = make_challenge(folder / "challenge", n_test=n_test, record_length=length)
        for backend, queue_url in backends(stack, folder).items():
            site_folder = folder / backend
            site_folder.mkdir()
            rows += measure(backend, queue_url(site_folder), site_folder, challenge, quick=quick)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="bursts of 10 models, 300 records")
    print_rows(run(quick=parser.parse_args().quick))
