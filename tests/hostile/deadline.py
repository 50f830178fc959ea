"""The deadline rush on a live server: every team makes one upload in a time window while
reloading the leaderboard page every few seconds. Bounded in count (the teams) and in time (the
window plus a grace period, after which pending requests are dropped and counted as such).
"""

from __future__ import annotations

import threading
import time
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


def schedule(teams: int, window_s: float, reload_every_s: float, seed: int) -> list[tuple]:
    """(time, kind, team) sorted by time: one upload per team at a uniform time in the window,
    and a board request every ``reload_every_s`` from a uniform first offset."""
    rng = np.random.default_rng(seed)
    events = [(float(rng.uniform(0, window_s)), "upload", team) for team in range(teams)]
    for team in range(teams):
        first = float(rng.uniform(0, reload_every_s))
        events += [(t, "page", team) for t in np.arange(first, window_s, reload_every_s)]
    return sorted(events)


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
    events = schedule(teams, window_s, reload_every_s, seed)
    rush = Rush(teams, window_s, reload_every_s)
    lock = threading.Lock()
    start = time.monotonic() + 0.5
    stop_at = start + window_s + GRACE_S

    def worker() -> None:
        with requests.Session() as http:
            while True:
                with lock:
                    if not events:
                        return
                    at, kind, team = events.pop(0)
                delay = start + at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if time.monotonic() > stop_at:
                    with lock:
                        rush.dropped += 1
                    continue
                began = time.perf_counter()
                if kind == "upload":
                    response = http.post(
                        url + "/api/submissions",
                        files={"file": ("sub.csv", files[team], "text/csv")},
                        headers={"Authorization": f"Bearer {tokens[team]}"},
                        timeout=REQUEST_TIMEOUT_S,
                    )
                else:
                    response = http.get(url + "/", timeout=REQUEST_TIMEOUT_S)
                    response.content  # noqa: B018 (read the whole page)
                elapsed = time.perf_counter() - began
                with lock:
                    if kind == "upload":
                        rush.uploads.append((response.status_code, elapsed))
                        if response.status_code == 201:
                            rush.upload_ids.append(response.json()["id"])
                    else:
                        rush.pages.append((response.status_code, elapsed))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(worker) for _ in range(threads)]
        for future in futures:
            future.result(timeout=window_s + GRACE_S + 2 * REQUEST_TIMEOUT_S)
    rush.wall_s = time.monotonic() - start
    return rush
