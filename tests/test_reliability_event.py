"""A whole event at its deadline hour, short (CI): benchmarks/bench_event.py's harness (teams on
PostgreSQL, gunicorn behind nginx, two `leaderboard worker`s on Redis, an open-loop load of board
reads and uploads) with 20 teams for 6 s, for a predictions event and a models event. Every
request is answered as it should be, every upload is stored once and every model is scored;
the rates and latencies are printed (run with -s), never asserted: the full run
(`python -m benchmarks.bench_event`) is the measurement.
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from sqlalchemy import create_engine, text

from benchmarks.bench_event import FULL, make_event, rows_of, run_event, services
from benchmarks.timing import print_rows
from tests.hostile.harness import postgres_schema

# 6 uploads in 6 s by 20 teams (a quota raised to fit them in the short window), a board
# read by each team every 2 s.
SMALL = {"predictions": 180, "models": 120}  # the quota: 6 and 4 uploads


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["predictions", "models"])
def test_a_short_deadline_hour_of_a_whole_event(tmp_path, kind):
    missing, redis_url = services()
    if missing:
        pytest.skip(missing)
    hour = replace(FULL[kind], teams=20, quota=SMALL[kind], window_s=6.0, reload_every_s=2.0,
                   history=2, events=300)  # fmt: skip
    with postgres_schema(os.environ["LEADERBOARD_TEST_POSTGRES_URL"]) as database_url:
        event = make_event(kind, hour, tmp_path / kind, database_url, redis_url)
        measured = run_event(event, hour, tmp_path / kind)
        stored = submissions(database_url)
    print_rows(rows_of(measured))

    assert measured.dropped == 0
    pages = [o.status for o in measured.outcomes if o.kind == "page"]
    assert pages == [200] * (hour.teams * 3)  # every 2 s for 6 s
    accepted = 202 if kind == "models" else 201
    uploads = [o for o in measured.outcomes if o.kind == "upload"]
    assert [o.status for o in uploads] == [accepted] * hour.uploads
    ids = sorted(o.json["id"] for o in uploads)
    # The history, then each upload once; every model scored by the workers.
    assert len(stored) == hour.teams * hour.history + hour.uploads
    new = {row.id: row.status for row in stored[-hour.uploads :]}
    assert sorted(new) == ids
    assert set(new.values()) == {"scored"}
    if kind == "models":
        assert measured.models["scored"] == hour.uploads and measured.models["failed"] == 0


def submissions(database_url: str) -> list:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT id, status FROM submissions ORDER BY id")).all()
    finally:
        engine.dispose()
