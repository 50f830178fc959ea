"""What refusing a hostile upload costs the leaderboard, against accepting a valid file.

Issue 11, finding 3: a 76 KB gzip of 8.7 million rows took 53 s of CPU to refuse. Each hostile
file below is gzip-compressed and built to be as expensive to refuse as the validator allows;
every upload goes end to end through ``POST /api/submissions`` of a real app (SQLite file,
stored files) for a challenge of the ``full`` preset's size (20,000 test events), interleaved
with uploads of valid files, which are validated, scored, stored and recorded. Target: the worst
refusal costs at most twice an acceptance.

python -m benchmarks.bench_uploads [--quick]
"""

from __future__ import annotations

import argparse
import gzip
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.timing import print_rows, row
from challenge.submission import size_bound

HEADER = b"event_id,score\n"
REPEAT = 7  # uploads of each file; the median is reported
REFUSAL_RATIO = 2  # the target: the worst refusal costs at most twice an acceptance


def make_key(n_events: int) -> pd.DataFrame:
    """An answer key like ``challenge generate`` writes: 30% public, balanced labels."""
    rng = np.random.default_rng(0)
    ids = rng.choice(np.arange(1_000_000, 10_000_000), size=n_events, replace=False)
    split = np.where(np.arange(n_events) < int(0.3 * n_events), "public", "private")
    return pd.DataFrame({"event_id": ids, "label": np.arange(n_events) % 2, "split": split})


def valid_file(key: pd.DataFrame, seed: int) -> bytes:
    """A team's file as ``write_submission`` (pandas) writes it: every event, shuffled."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"event_id": key["event_id"], "score": key["label"] + rng.normal(size=len(key))}
    )
    return frame.sample(frac=1.0, random_state=seed).to_csv(index=False).encode()


def hostile_files(key: pd.DataFrame) -> dict[str, bytes]:
    """Uncompressed hostile files, each near the validator's bounds for this key."""
    ids, n = key["event_id"].to_numpy(), len(key)
    bound = size_bound(n)
    rows = ["event_id,score"] + [
        f"{i},{s!r}" for i, s in zip(ids.tolist(), np.linspace(-1, 1, n).tolist(), strict=True)
    ]
    wide = b"1," * 497 + b"1\n"  # just under the line length that the fast reader takes
    return {
        "8.7 million rows, the last one bad": HEADER + b"0,0\n" * 8_700_000 + b"x,y\n",
        "every event, the last row bad": ("\n".join([*rows[:-1], f"{ids[-1]},x"]) + "\n").encode(),
        "every event quoted, the last row bad": "\n".join(
            [
                *(f'"{r.replace(",", chr(34) + "," + chr(34))}"' for r in rows[:-1]),
                f'"{ids[-1]}","x"',
            ]
        ).encode(),
        "every event, the last id repeated": (
            "\n".join([*rows[:-1], f"{ids[1]},0"]) + "\n"
        ).encode(),
        "every event and one more": ("\n".join([*rows, "1,0"]) + "\n").encode(),
        "rows of 498 fields up to the size bound": HEADER
        + b"1,2\n"
        + wide * (bound // len(wide) - 1),
        "one field up to the size bound": HEADER + b"1" * (bound - len(HEADER) - 1) + b"\n",
        "ids of 990 digits up to the size bound": HEADER
        + (b"1," + b"9" * 990 + b"\n") * (bound // 993),
        "blank lines up to the size bound": HEADER + b"\n" * (bound - len(HEADER)),
    }


def _uploader(tmp: Path, key: pd.DataFrame) -> Callable[[bytes], int]:
    from leaderboard import create_app
    from leaderboard.db import init_db

    key.to_csv(tmp / "answer_key.csv", index=False)
    app = create_app({"TESTING": True, "SECRET_KEY": "bench-uploads-" + "x" * 32,
                      "DATABASE_URL": f"sqlite:///{tmp / 'leaderboard.sqlite'}",
                      "ANSWER_KEY": str(tmp / "answer_key.csv"), "UPLOAD_FOLDER": str(tmp / "files"),
                      # No limit on refused uploads: every hostile file is refused again.
                      "DAILY_QUOTA": 1_000_000, "REFUSED_PER_DAY": 0})  # fmt: skip
    init_db(app)
    client = app.test_client()
    token = client.post("/api/teams", json={"name": "bench"}).get_json()["token"]

    def upload(data: bytes) -> int:
        response = client.post("/api/submissions", data={"file": (io.BytesIO(data), "s.csv")},
                               headers={"Authorization": f"Bearer {token}"},
                               content_type="multipart/form-data")  # fmt: skip
        return response.status_code

    return upload


def _timed(upload: Callable[[bytes], int], data: bytes, status: int) -> float:
    start = time.perf_counter()
    got = upload(data)
    elapsed = time.perf_counter() - start
    assert got == status, f"expected {status}, got {got}"
    return elapsed


def run(quick: bool = False) -> list[dict]:
    n_events = 2_000 if quick else 20_000
    key = make_key(n_events)
    hostile = {name: gzip.compress(data, 9) for name, data in hostile_files(key).items()}
    with tempfile.TemporaryDirectory() as folder:
        upload = _uploader(Path(folder), key)
        upload(valid_file(key, seed=-1 % 2**32))  # warm up: imports, first connection
        accepted, refused = [], {name: [] for name in hostile}
        for repeat in range(REPEAT):  # interleaved, so that a busy moment hits both
            accepted.append(_timed(upload, valid_file(key, seed=repeat), 201))
            for name, data in hostile.items():
                refused[name].append(_timed(upload, data, 400))
    accept = statistics.median(accepted)
    costs = {name: statistics.median(times) for name, times in refused.items()}
    worst = max(costs, key=costs.get)
    reference = f"accept a valid {n_events:,}-event CSV"
    rows = [
        row(f"refuse the worst of {len(hostile)} hostile gzip files ({worst}, "
            f"{len(hostile[worst]):,} bytes), {n_events:,} events", costs[worst], accept,
            reference_name=reference, target=f"ratio <= {REFUSAL_RATIO}",
            passed=costs[worst] <= REFUSAL_RATIO * accept),
        row(f"refuse 8.7 million rows in {len(hostile['8.7 million rows, the last one bad']):,} "
            "bytes of gzip", costs["8.7 million rows, the last one bad"], accept,
            reference_name=reference, target=f"ratio <= {REFUSAL_RATIO}",
            passed=costs["8.7 million rows, the last one bad"] <= REFUSAL_RATIO * accept),
    ]  # fmt: skip
    for name, cost in sorted(costs.items(), key=lambda item: -item[1]):
        print(f"  {cost * 1000:8.1f} ms  {cost / accept:5.2f} x  {name}")
    print(f"  {accept * 1000:8.1f} ms  1.00 x  {reference}")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 events instead of 20,000")
    print_rows(run(quick=parser.parse_args().quick))
