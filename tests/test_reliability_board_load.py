"""The deadline rush, short (CI): 30 teams each upload once in 6 s while reloading the board
every 2 s, against gunicorn with 2 workers on loopback, on SQLite and PostgreSQL. Every upload is
stored once, nothing answers 5xx, and the board that each worker serves ends up showing every
team. The rates and latencies are printed (run with -s); the full rush (500 teams, 60 s) is
benchmarks/bench_board_load.py.
"""

from __future__ import annotations

import os

import pytest
import requests

from tests.hostile.deadline import deadline_rush
from tests.hostile.harness import live_server, make_site, postgres_schema

TEAMS, WINDOW_S, RELOAD_EVERY_S = 30, 6.0, 2.0


@pytest.mark.slow
@pytest.mark.timeout(150)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_short_deadline_rush_on_gunicorn(tmp_path, backend):
    if backend == "sqlite":
        rush_on(make_site(tmp_path / "site"), backend)
        return
    base = os.environ.get("LEADERBOARD_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("LEADERBOARD_TEST_POSTGRES_URL is not set (.ci/services.sh sets it)")
    with postgres_schema(base) as url:
        rush_on(make_site(tmp_path / "site", url), backend)


def rush_on(site, backend):
    # A reader waits for the newest board at most 20 s, then gets the one before (0.5 s in
    # production): under the harness's 60 s, a page waited past the client's 30 s on a slow host.
    with live_server(site, "gunicorn", LEADERBOARD_BOARD_WAIT_S="20") as live:
        rush = deadline_rush(
            live.url, site.key, teams=TEAMS, window_s=WINDOW_S, reload_every_s=RELOAD_EVERY_S
        )
        print(f"\n[deadline rush] gunicorn, 2 workers, {backend}: {rush.summary()}")
        assert rush.dropped == 0
        assert sorted({status for status, _ in rush.uploads}) == [201], live.output()[-3000:]
        assert sorted({status for status, _ in rush.pages}) == [200], live.output()[-3000:]
        assert len(rush.uploads) == TEAMS and len(set(rush.upload_ids)) == TEAMS
        assert len(rush.pages) == TEAMS * WINDOW_S / RELOAD_EVERY_S
        # Whichever worker answers, the board shows every team once all uploads are in.
        for _ in range(6):
            rows = requests.get(live.url + "/api/leaderboard", timeout=30).json()["rows"]
            assert sorted(r["team"] for r in rows) == sorted(f"rush team {i}" for i in range(TEAMS))
