"""Load on a real server: 20 concurrent clients x 10 uploads against `leaderboard serve` (waitress)
and gunicorn with 2 workers, on loopback. Every 201 is stored exactly once, nothing answers 5xx,
and p50/p99 latencies are printed (run with -s to see them; nothing asserts on time).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.hostile.harness import (
    live_server,
    make_site,
    percentile_ms,
    postgres_schema,
    submission_bytes,
)

CLIENTS = 20
UPLOADS_PER_CLIENT = 10
REQUEST_TIMEOUT_S = 60


def client_run(url: str, client: int, key) -> list[tuple[int, float, int | None, str]]:
    """Register one team and upload ``UPLOADS_PER_CLIENT`` distinct files, one after another."""
    with requests.Session() as http:
        response = http.post(url + "/api/teams", json={"name": f"load {client}"}, timeout=30)
        assert response.status_code == 201, response.text
        headers = {"Authorization": f"Bearer {response.json()['token']}"}
        results = []
        for number in range(UPLOADS_PER_CLIENT):
            note = f"client {client} upload {number}"
            data = submission_bytes(key, seed=1000 * client + number)
            start = time.perf_counter()
            response = http.post(
                url + "/api/submissions",
                files={"file": ("sub.csv", data, "text/csv")},
                data={"note": note},
                headers=headers,
                timeout=REQUEST_TIMEOUT_S,
            )
            elapsed = time.perf_counter() - start
            body_id = response.json().get("id") if response.status_code == 201 else None
            results.append((response.status_code, elapsed, body_id, note))
        return results


def stored_submissions(database_url: str) -> list[tuple[int, str, str]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id, note, sha256 FROM submissions ORDER BY id"))
            return [tuple(row) for row in rows]
    finally:
        engine.dispose()


SERVERS = [
    pytest.param("waitress", "sqlite", id="waitress-sqlite"),
    pytest.param("gunicorn", "sqlite", id="gunicorn-2-workers-sqlite"),
    pytest.param("gunicorn", "postgresql", id="gunicorn-2-workers-postgresql"),
]


def run_load(site, server):
    with live_server(site, server) as live:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            futures = [pool.submit(client_run, live.url, c, site.key) for c in range(CLIENTS)]
            results = [r for future in futures for r in future.result(timeout=300)]
        return results, time.perf_counter() - started, live.output()


@pytest.mark.slow
@pytest.mark.parametrize(("server", "backend"), SERVERS)
def test_concurrent_uploads_are_each_stored_once_without_5xx(tmp_path, server, backend):
    if backend == "postgresql":
        base = os.environ.get("LEADERBOARD_TEST_POSTGRES_URL")
        if not base:
            pytest.skip("LEADERBOARD_TEST_POSTGRES_URL is not set (.ci/services.sh sets it)")
        with postgres_schema(base) as url:
            check_load(make_site(tmp_path / "site", url), server, backend)
    else:
        check_load(make_site(tmp_path / "site"), server, backend)


def check_load(site, server, backend):
    results, wall, output = run_load(site, server)
    statuses = [status for status, *_ in results]
    assert not [s for s in statuses if s >= 500], output[-3000:]
    assert statuses == [201] * CLIENTS * UPLOADS_PER_CLIENT, sorted(set(statuses))
    acknowledged = {body_id: note for _, _, body_id, note in results}
    assert len(acknowledged) == CLIENTS * UPLOADS_PER_CLIENT  # ids are unique

    stored = stored_submissions(site.database_url)
    assert {row_id: note for row_id, note, _ in stored} == acknowledged  # each once, no extra
    files = [p for p in site.stored_files()]
    assert sorted(f.name for f in files) == sorted(f"{sha}.csv.gz" for _, _, sha in stored)

    latencies = [elapsed for _, elapsed, *_ in results]
    print(
        f"\n[load] {server} ({backend}): {len(results)} uploads by {CLIENTS} clients in {wall:.1f} s;"
        f" latency p50 {percentile_ms(latencies, 50):.0f} ms, p99 {percentile_ms(latencies, 99):.0f} ms,"
        f" max {max(latencies) * 1000:.0f} ms"
    )
