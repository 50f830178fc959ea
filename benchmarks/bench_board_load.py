"""The board at the deadline: uploads and board requests per second that a live server holds while
every team makes one upload in a 60 s window and reloads the board every 5 s, from 50 to 500
teams. gunicorn with 2 workers on SQLite, on loopback; each figure is measured against the rate
offered in the same run (ratio 1: every request served on schedule).

python -m benchmarks.bench_board_load [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.timing import print_rows
from tests.hostile.deadline import deadline_rush
from tests.hostile.harness import live_server, make_site, percentile_ms

WINDOW_S, RELOAD_EVERY_S = 60.0, 5.0
TEAMS = (50, 100, 200, 500)


def rush_rows(teams: int, window_s: float, reload_every_s: float) -> list[dict]:
    with tempfile.TemporaryDirectory() as folder:
        site = make_site(Path(folder) / "site")
        with live_server(site, "gunicorn") as live:
            rush = deadline_rush(
                live.url, site.key, teams=teams, window_s=window_s, reload_every_s=reload_every_s
            )
    failed = [s for s, _ in rush.uploads + rush.pages if s not in (200, 201)]
    uploads_s, pages_s = rush.rates()
    offered_uploads, offered_pages = teams / window_s, teams / reload_every_s
    rows = []
    for what, held, offered, latencies in (
        ("uploads", uploads_s, offered_uploads, [t for _, t in rush.uploads]),
        ("board requests (GET /)", pages_s, offered_pages, [t for _, t in rush.pages]),
    ):
        p99 = percentile_ms(latencies, 99)
        rows.append(
            {
                "benchmark": f"deadline rush, {teams} teams: {what} per second held",
                "measured": f"{held:.1f}/s (p50 {percentile_ms(latencies, 50):.0f} ms, "
                f"p99 {p99:.0f} ms; {len(failed)} failed, {rush.dropped} dropped)",
                "reference": f"offered: {offered:.1f}/s",
                "ratio": held / offered,
                "target": "p99 under 1 s" + (" (met)" if p99 < 1000 else " (missed)"),
            }
        )
    return rows


def run(quick: bool = False) -> list[dict]:
    teams, window_s = ((50,), 10.0) if quick else (TEAMS, WINDOW_S)
    return [row for n in teams for row in rush_rows(n, window_s, RELOAD_EVERY_S)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 teams in a 10 s window")
    print_rows(run(quick=parser.parse_args().quick))
