"""The deadline rush on a live server: every team makes one upload in a time window while
reloading the leaderboard page every few seconds. Bounded in count (the teams) and in time (the
window plus a grace period, after which pending requests are dropped and counted as such).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import requests

from tests.hostile.harness import percentile_ms, register, submission_bytes

REQUEST_TIMEOUT_S = 30.0
GRACE_S = 30.0  # after the window, requests still waiting to start are dropped


@dataclass
class Rush:
    """What the rush did: per request kind, (status, latency in s); requests never started."""

    teams: int
    window_s: float
    reload_every_s: float
    uploads: list[tuple[int, float]] = field(default_factory=list)
    pages: list[tuple[int, float]] = field(default_factory=list)
    dropped: int = 0
    wall_s: float = 0.0
    upload_ids: list[int] = field(default_factory=list)

    def rates(self) -> tuple[float, float]:
        """Uploads and board requests completed per second of the rush."""
        return len(self.uploads) / self.wall_s, len(self.pages) / self.wall_s

    def summary(self) -> str:
        uploads_s, pages_s = self.rates()
        parts = [
            f"{self.teams} teams, window {self.window_s:g} s, board every {self.reload_every_s:g} s:",
            f"{uploads_s:.1f} uploads/s (p50 {percentile_ms([t for _, t in self.uploads], 50):.0f} ms,"
            f" p99 {percentile_ms([t for _, t in self.uploads], 99):.0f} ms),",
            f"{pages_s:.1f} board requests/s (p50 {percentile_ms([t for _, t in self.pages], 50):.0f}"
            f" ms, p99 {percentile_ms([t for _, t in self.pages], 99):.0f} ms),",
            f"{self.dropped} dropped, {self.wall_s:.1f} s",
        ]
        return " ".join(parts)


def schedule(
    teams: int, window_s: float, reload_every_s: float, seed: int, *, uploads: int | None = None
) -> list[tuple[float, str, int]]:
    """(time, kind, team) sorted by time: ``uploads`` uploads (default: one per team), the i-th
    by team i mod ``teams``, each at a uniform time in the window, and a board request by each
    team every ``reload_every_s`` from a uniform first offset."""
    rng = np.random.default_rng(seed)
    count = teams if uploads is None else uploads
    events = [(float(rng.uniform(0, window_s)), "upload", i % teams) for i in range(count)]
    for team in range(teams):
        first = float(rng.uniform(0, reload_every_s))
        events += [(t, "page", team) for t in np.arange(first, window_s, reload_every_s)]
    return sorted(events)


@dataclass(frozen=True)
class Outcome:
    """One request of an open-loop run: its kind, HTTP status (0: no answer, the connection
    failed or timed out), how late it started against its schedule (every thread was busy) and
    how long the answer took from then; ``json`` is the answer of a 2xx upload."""

    kind: str
    status: int
    late_s: float
    service_s: float
    json: dict | None = None

    @property
    def latency_s(self) -> float:
        """From the scheduled time to the whole answer: what the client waited."""
        return self.late_s + self.service_s


Send = Callable[[requests.Session, str, int], requests.Response]


def open_loop(
    events: list[tuple[float, str, int]], send: Send, *, threads: int, grace_s: float = GRACE_S
) -> tuple[list[Outcome], int, float]:
    """Send each ``(time, kind, team)`` of ``events`` (sorted by time) at its time from the start,
    with ``send(session, kind, team)``, whatever the answers before it: open loop, so that a slow
    server makes requests late and long (never fewer). Requests still waiting to start
    ``grace_s`` after the last one's time are dropped. (outcomes, dropped, wall time in s)."""
    pending = list(reversed(events))
    outcomes: list[Outcome] = []
    dropped = 0
    lock = threading.Lock()
    start = time.monotonic() + 0.5
    stop_at = start + (events[-1][0] if events else 0.0) + grace_s

    def worker() -> None:
        nonlocal dropped
        with requests.Session() as http:
            while True:
                with lock:
                    if not pending:
                        return
                    at, kind, team = pending.pop()
                delay = start + at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                began = time.monotonic()
                if began > stop_at:
                    with lock:
                        dropped += 1
                    continue
                try:
                    response = send(http, kind, team)
                    status = response.status_code
                    answer = response.json() if status in (201, 202) else None
                except requests.RequestException:
                    status, answer = 0, None
                outcome = Outcome(kind, status, max(0.0, began - start - at),
                                  time.monotonic() - began, answer)  # fmt: skip
                with lock:
                    outcomes.append(outcome)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(worker) for _ in range(threads)]
        for future in futures:
            future.result(timeout=stop_at - time.monotonic() + 2 * REQUEST_TIMEOUT_S)
    return outcomes, dropped, time.monotonic() - start


def deadline_rush(
    url: str,
    key: pd.DataFrame,
    *,
    teams: int,
    window_s: float,
    reload_every_s: float,
    threads: int = 64,
    seed: int = 0,
) -> Rush:
    """Register ``teams`` teams (before the clock starts), then run the rush against ``url``."""
    tokens = [register(url, f"rush team {i}") for i in range(teams)]
    files = [submission_bytes(key, seed=10_000 + i) for i in range(teams)]

    def send(http: requests.Session, kind: str, team: int) -> requests.Response:
        if kind == "upload":
            return http.post(
                url + "/api/submissions",
                files={"file": ("sub.csv", files[team], "text/csv")},
                headers={"Authorization": f"Bearer {tokens[team]}"},
                timeout=REQUEST_TIMEOUT_S,
            )
        return http.get(url + "/", timeout=REQUEST_TIMEOUT_S)  # reads the whole page

    events = schedule(teams, window_s, reload_every_s, seed)
    outcomes, dropped, wall_s = open_loop(events, send, threads=threads,
                                          grace_s=window_s + GRACE_S - events[-1][0])  # fmt: skip
    rush = Rush(teams, window_s, reload_every_s, dropped=dropped, wall_s=wall_s)
    for outcome in outcomes:
        done = (outcome.status, outcome.service_s)
        if outcome.kind == "upload":
            rush.uploads.append(done)
            if outcome.status == 201:
                rush.upload_ids.append(outcome.json["id"])
        else:
            rush.pages.append(done)
    return rush
