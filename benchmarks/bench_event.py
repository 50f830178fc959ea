"""A whole event at its deadline hour, deployed as the organizer guide says: teams on
PostgreSQL, gunicorn (deploy/gunicorn.conf.py) behind nginx (deploy/nginx-proxy.conf) on
loopback, and, for model submissions, two `leaderboard worker`s on Redis, which share no folder
with the server. An open-loop load
sends board reads and uploads at the deadline hour's rates; each figure is measured against the
rate offered in the same run, and the run passes when every kind of request keeps p99 under
1 s at the offered load, with no error and every model scored.

The deadline hour (``DeadlineHour``): every team sends its whole daily quota in the last hour
(10 prediction files, or 2 models), and keeps the board open, reloading it every 10 s. A window
of that hour is measured (60 s), at the hour's rates. A predictions event and a models event run
one after the other, each on a fresh schema, with the same teams and history.

python -m benchmarks.bench_event [--quick] [--teams N] [--window S] [--gunicorn-workers N]
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import requests

from benchmarks.timing import print_rows
from tests.hostile.deadline import REQUEST_TIMEOUT_S, Outcome, open_loop, schedule
from tests.hostile.harness import (
    Site,
    behind_nginx,
    deployed_gunicorn_command,
    make_site,
    percentile_ms,
)

P99_TARGET_S = 1.0
DRAIN_TIMEOUT_S = 300.0  # after the window, how long the workers get to score the last models
HOUR_S = 3600.0


@dataclass(frozen=True)
class DeadlineHour:
    """The load of an event's last hour before the deadline, and the window of it measured."""

    teams: int = 500
    quota: int = 10  # LEADERBOARD_DAILY_QUOTA, all of it sent in the last hour
    reload_every_s: float = 10.0  # each team's open board page reloads this often
    window_s: float = 60.0  # the stretch of the hour measured, at the hour's rates
    history: int = 20  # submissions of each team before the hour (in earlier days)
    events: int = 2000  # test events of the challenge (the demo preset's)
    gunicorn_workers: int = 2  # deploy/gunicorn.conf.py's
    threads: int = 128  # of the load generator: enough that requests start on time

    @property
    def uploads(self) -> int:
        """Uploads in the window: the hour's teams x quota, pro rata."""
        return round(self.teams * self.quota * self.window_s / HOUR_S)

    def offered(self, kind: str) -> float:
        """Requests per second of ``kind`` offered."""
        if kind == "upload":
            return self.uploads / self.window_s
        return self.teams / self.reload_every_s


FULL = {"predictions": DeadlineHour(), "models": DeadlineHour(quota=2)}
# 30 teams, 10 uploads in 8 s: the quota is raised so that the short window has some.
QUICK = {kind: replace(hour, teams=30, window_s=8.0, reload_every_s=2.0, history=3, quota=150,
                       events=300)
         for kind, hour in FULL.items()}  # fmt: skip


def services() -> tuple[str | None, str | None]:
    """What is missing to run the event (None when nothing), and a Redis URL of this run's own
    database on LEADERBOARD_TEST_REDIS_URL's server, as the tests use it."""
    if not os.environ.get("LEADERBOARD_TEST_POSTGRES_URL"):
        return "LEADERBOARD_TEST_POSTGRES_URL is not set (.ci/services.sh sets it)", None
    if not os.environ.get("LEADERBOARD_TEST_REDIS_URL"):
        return "LEADERBOARD_TEST_REDIS_URL is not set (.ci/services.sh sets it)", None
    for program in ("nginx", "bwrap"):
        if shutil.which(program) is None:
            return f"no {program} (Debian's; .ci/services.sh installs it)", None
    from tests.conftest import redis_test_url

    return None, redis_test_url()


def fill_history(site: Site, settings: dict[str, str], hour: DeadlineHour) -> None:
    """The event's teams and their earlier submissions, straight into the database: team t's
    token is "token t" (benchmarks.bench_leaderboard.fill_board)."""
    from benchmarks.bench_leaderboard import fill_board
    from leaderboard import create_app
    from leaderboard.config import from_environment
    from leaderboard.db import engine_of, init_db

    config = from_environment(site.env(**settings))
    app = create_app({**config, "INSTANCE_PATH": str(site.root / "instance"), "TESTING": True})
    init_db(app)
    fill_board(app, hour.teams, hour.history)
    engine_of(app).dispose()


@dataclass
class Event:
    """One event's site, its settings beyond the site's, and what its uploads send."""

    kind: str  # "predictions" or "models"
    site: Site
    settings: dict[str, str]  # LEADERBOARD_* variables
    upload_file: Callable[[int], tuple[str, bytes]]  # the n-th upload's (file name, bytes)


def predictions_event(folder: Path, database_url: str, n_events: int) -> Event:
    from tests.hostile.harness import submission_bytes

    site = make_site(folder, database_url, n_events=n_events)
    return Event("predictions", site, {},
                 lambda n: ("submission.csv", submission_bytes(site.key, seed=50_000 + n)))  # fmt: skip


def models_event(folder: Path, database_url: str, redis_url: str, n_events: int) -> Event:
    """A model challenge (tests.workers.make_challenge): the site is its private folder, where
    the answer key and test.root are."""
    from benchmarks.bench_queue import mean_model
    from tests.workers import make_challenge

    challenge = make_challenge(folder / "challenge", n_test=n_events, record_length=256)
    key = pd.read_csv(challenge.answer_key)
    site = Site(challenge.private, database_url, key)
    settings = {"LEADERBOARD_SUBMISSIONS": "models", "LEADERBOARD_QUEUE_URL": redis_url}
    return Event("models", site, settings, lambda n: ("model.onnx", mean_model(1000.0 + n)))


def make_event(
    kind: str, hour: DeadlineHour, folder: Path, database_url: str, redis_url: str
) -> Event:
    if kind == "models":
        return models_event(folder, database_url, redis_url, hour.events)
    return predictions_event(folder, database_url, hour.events)


@contextmanager
def workers_of(event: Event, folder: Path, n: int) -> Iterator[None]:
    """``n`` `leaderboard worker`s for a models event (none for predictions); the queue emptied
    before and after."""
    if event.kind != "models":
        yield
        return
    from leaderboard.queue import make_huey
    from tests.workers import running_workers

    # As on a machine of their own (docs/organizer.md): the database, the queue and a folder of
    # their own, where they copy the challenge's files from the database.
    config = {"DATABASE_URL": event.site.database_url, "SUBMISSIONS": "models",
              "QUEUE_URL": event.settings["LEADERBOARD_QUEUE_URL"],
              "INSTANCE_PATH": str(folder / "worker-instance")}  # fmt: skip
    huey = make_huey(event.settings["LEADERBOARD_QUEUE_URL"])
    huey.storage.flush_all()
    try:
        with running_workers(config, folder / "workers", n=n):
            yield
    finally:
        huey.storage.flush_all()
        huey.storage.pool.disconnect()


@dataclass
class Measured:
    """What one event's deadline hour did: each request's outcome, the requests dropped (not
    started within the grace period), the wall time, the models' fate (models event), the
    machine's load, and the time to compute the board again after a write."""

    kind: str
    hour: DeadlineHour
    outcomes: list[Outcome]
    dropped: int
    wall_s: float
    models: dict | None
    load: tuple[float, float]  # 1-minute load average as the window began and as it ended
    client_cpu_s: float  # CPU time of the load generator (this process) during the window
    board_s: float


def run_event(event: Event, hour: DeadlineHour, folder: Path, *, workers: int = 2) -> Measured:
    """Start the event's services, send the deadline hour's load, and measure it."""
    settings = {
        **event.settings,
        "LEADERBOARD_DAILY_QUOTA": str(hour.quota),
        "LEADERBOARD_PUBLIC_BOARD": "ladder",
    }  # fmt: skip (the default board)
    fill_history(event.site, settings, hour)
    files = [event.upload_file(n) for n in range(hour.uploads)]
    sent = iter(files)

    def send(http: requests.Session, kind: str, team: int) -> requests.Response:
        if kind == "upload":
            return http.post(live.url + "/api/submissions", files={"file": next(sent)},
                             headers={"Authorization": f"Bearer token {team}"},
                             timeout=REQUEST_TIMEOUT_S)  # fmt: skip
        return http.get(live.url + "/", timeout=REQUEST_TIMEOUT_S)

    events = schedule(hour.teams, hour.window_s, hour.reload_every_s, seed=24, uploads=hour.uploads)
    with ExitStack() as stack:
        gunicorn = functools.partial(deployed_gunicorn_command, workers=hour.gunicorn_workers)
        live, _ = stack.enter_context(behind_nginx(event.site, folder, gunicorn, **settings))
        stack.enter_context(workers_of(event, folder, workers))
        board_s = board_after_a_write_seconds(event.site, live.url, hour.gunicorn_workers)
        load, cpu = os.getloadavg()[0], time.process_time()
        outcomes, dropped, wall_s = open_loop(events, send, threads=hour.threads)
        load, cpu = (load, os.getloadavg()[0]), time.process_time() - cpu
        models = scored_models(event, outcomes)
    return Measured(event.kind, hour, outcomes, dropped, wall_s, models, load, cpu, board_s)


def board_seconds(url: str, gunicorn_workers: int) -> float:
    """The slowest of 4 board reads per gunicorn worker sent at once: the time to compute the
    board in each worker, when it is stale."""
    from concurrent.futures import ThreadPoolExecutor

    def timed(_: int) -> float:
        began = time.monotonic()
        response = requests.get(url + "/", timeout=REQUEST_TIMEOUT_S)
        if response.status_code != 200:
            raise RuntimeError(f"GET / answered {response.status_code}: {response.text[:500]}")
        return time.monotonic() - began

    with ThreadPoolExecutor(max_workers=4 * gunicorn_workers) as pool:
        return max(pool.map(timed, range(4 * gunicorn_workers)))


def board_after_a_write_seconds(site: Site, url: str, gunicorn_workers: int) -> float:
    """``board_seconds`` after the board's counter goes up, as every write makes it, with
    nothing else changed: the cost of each write to the board readers (caches warm)."""
    from sqlalchemy import create_engine, text

    board_seconds(url, gunicorn_workers)  # the first board: imports, files read, caches filled
    engine = create_engine(site.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE board_version SET version = version + 1"))
    finally:
        engine.dispose()
    return board_seconds(url, gunicorn_workers)


def scored_models(event: Event, outcomes: list[Outcome]) -> dict | None:
    """For a models event: wait until every accepted model is scored or failed; how many of
    each, and the seconds from upload to scored (from the rows' times)."""
    if event.kind != "models":
        return None
    from sqlalchemy import bindparam, create_engine, text

    ids = [o.json["id"] for o in outcomes if o.kind == "upload" and o.status == 202]
    query = text("SELECT status, created_at, scored_at FROM submissions WHERE id IN :ids")
    query = query.bindparams(bindparam("ids", expanding=True))
    engine = create_engine(event.site.database_url)
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    try:
        while True:
            with engine.connect() as connection:
                rows = connection.execute(query, {"ids": ids}).all() if ids else []
            if all(r.status in ("scored", "failed") for r in rows) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        engine.dispose()
    waits = [(r.scored_at - r.created_at).total_seconds() for r in rows if r.status == "scored"]
    return {"accepted": len(ids), "scored": len(waits),
            "failed": sum(r.status == "failed" for r in rows), "waits": waits}  # fmt: skip


def rows_of(measured: Measured) -> list[dict]:
    """The benchmark's rows of one event, each with its verdict."""
    kind, hour, outcomes, dropped = (
        measured.kind,
        measured.hour,
        measured.outcomes,
        measured.dropped,
    )
    expected = {"upload": 202 if kind == "models" else 201, "page": 200}
    rows = []
    for what, name in (("page", "board reads (GET /)"), ("upload", f"uploads ({kind})")):
        done = [o for o in outcomes if o.kind == what]
        errors = sum(o.status != expected[what] for o in done)
        p99 = percentile_ms([o.latency_s for o in done], 99) / 1000 if done else float("nan")
        held = sum(o.status == expected[what] for o in done) / max(measured.wall_s, hour.window_s)
        met = errors == 0 and dropped == 0 and p99 < P99_TARGET_S
        rows.append({
            "benchmark": f"{kind} event, {hour.teams} teams, {hour.window_s:g} s of the deadline "
                         f"hour: {name} per second held (load {measured.load[0]:.1f} to "
                         f"{measured.load[1]:.1f}; the load generator took {measured.client_cpu_s:.1f} "
                         f"s CPU)",
            "measured": f"{held:.2f}/s; p50 {percentile_ms([o.latency_s for o in done], 50):.0f} ms, "
                        f"p99 {p99 * 1000:.0f} ms from the scheduled time; {errors} errors, "
                        f"{dropped} dropped",
            "reference": f"offered: {hour.offered(what):.2f}/s",
            "ratio": held / hour.offered(what),
            "target": f"p99 < {P99_TARGET_S:g} s at the offered load, no error",
            "result": "PASS" if met else "FAIL",
        })  # fmt: skip
    rows.append({
        "benchmark": f"{kind} event: the board computed again after a write, {hour.teams} teams "
                     f"x {hour.history} submissions (the slowest of 4 reads per gunicorn worker)",
        "measured": f"{measured.board_s:.2f} s",
        "reference": f"between two uploads: {1 / hour.offered('upload'):.2f} s",
        "ratio": measured.board_s * hour.offered("upload"),
        "target": "(over 1: the board is always being computed)",
    })  # fmt: skip
    if (models := measured.models) is not None:
        waits = models["waits"]
        all_scored = models["scored"] == models["accepted"]
        rows.append({
            "benchmark": "models event: models scored by 2 workers on Redis",
            "measured": f"{models['scored']} of {models['accepted']} scored, {models['failed']} "
                        f"failed; upload to scored p50 {percentile_ms(waits, 50) / 1000:.1f} s, "
                        f"max {max(waits, default=float('nan')):.1f} s",
            "reference": f"accepted: {models['accepted']}",
            "ratio": models["scored"] / max(1, models["accepted"]),
            "target": "every model scored",
            "result": "PASS" if all_scored else "FAIL",
        })  # fmt: skip
    return rows


def run(quick: bool = False, hours: dict[str, DeadlineHour] | None = None) -> list[dict]:
    from tests.hostile.harness import postgres_schema

    hours = hours or (QUICK if quick else FULL)
    missing, redis_url = services()
    if missing:
        return [{"benchmark": "event at the deadline hour", "measured": f"not run: {missing}",
                 "reference": "", "ratio": float("nan"), "target": ""}]  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, hour in hours.items():
            with postgres_schema(os.environ["LEADERBOARD_TEST_POSTGRES_URL"]) as database_url:
                folder = Path(tmp) / kind
                event = make_event(kind, hour, folder, database_url, redis_url)
                rows += rows_of(run_event(event, hour, folder))
    return rows


def passed(rows: list[dict]) -> bool:
    """Whether the rows that carry a verdict (PASS or FAIL) are there, and all PASS."""
    verdicts = [row["result"] for row in rows if row.get("result")]
    return bool(verdicts) and all(verdict == "PASS" for verdict in verdicts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 teams, 8 s windows (a smoke run)")
    parser.add_argument("--teams", type=int, default=None, help="teams (default 500)")
    parser.add_argument("--window", type=float, default=None, help="seconds measured (default 60)")
    parser.add_argument("--gunicorn-workers", type=int, default=None, help="default 2")
    parser.add_argument(
        "--quota",
        type=int,
        default=None,
        help="uploads per team in the hour (default 10 files, 2 models)",
    )
    parser.add_argument(
        "--reload-every",
        type=float,
        default=None,
        help="seconds between a team's board reads (default 10)",
    )
    parser.add_argument("--history", type=int, default=None,
                        help="earlier submissions per team (default 20)")  # fmt: skip
    parser.add_argument("--events", nargs="+", choices=list(FULL), default=list(FULL),
                        help="which events to run (default both)")  # fmt: skip
    args = parser.parse_args()
    given = {
        "teams": args.teams,
        "window_s": args.window,
        "gunicorn_workers": args.gunicorn_workers,
        "quota": args.quota,
        "reload_every_s": args.reload_every,
        "history": args.history,
    }
    changes = {name: value for name, value in given.items() if value is not None}
    hours = QUICK if args.quick else FULL
    chosen = {kind: replace(hours[kind], **changes) for kind in args.events}
    results = run(hours=chosen)
    print_rows(results)
    print(
        "PASS" if passed(results) else "FAIL",
        f'against "p99 < {P99_TARGET_S:g} s at the offered load"',
    )


if __name__ == "__main__":
    main()
