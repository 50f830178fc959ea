"""Memory of `challenge import`: reads are streamed, so the peak is a few chunks, not the file.

python -m benchmarks.bench_import [--quick]

Measured on cait-layout files (int16 counts, and float32 values as cait's own files hold them):
- the reader's peak (tracemalloc) over both passes (the check, then the secret's order), against
  one chunk of READ_CHUNK records as read from the file; target: about 2 chunks;
- the peak resident memory of a whole `challenge import` (a child process, its ru_maxrss) on
  files of N and 4N records; target: the same peak (ratio about 1), whatever the file size.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np

from benchmarks.timing import print_rows, row
from challenge.importer import READ_CHUNK, _plan, _split, open_records, parse_label_map
from challenge.secret import Secret

LABEL_MAP = "1=absorber,8=carrier"
RATE = 25_000.0
PEAK_RSS = """
import resource, sys
from challenge.importer import import_challenge
import_challenge(sys.argv[1], sys.argv[2], fmt="cait", channel=1, labels="events/labels",
                 label_map="1=absorber,8=carrier", sampling_rate_hz=25000.0, seed=0,
                 progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def write_cait(path: Path, n: int, length: int, dtype: str) -> Path:
    """A cait-layout file: 2 channels, pulses in channel 1, codes 0 (a tenth), 1 and 8."""
    import h5py

    from challenge.detector import Detector
    from challenge.simulate import SimulationConfig, iterate_events

    config = SimulationConfig(detector=Detector(record_length=length))
    rng = np.random.default_rng(1)
    codes = np.zeros((2, n))
    with h5py.File(path, "w") as f:
        events = f.create_dataset("events/event", shape=(2, n, length), dtype=dtype)
        start = 0
        for ev in iterate_events(n, seed=0, split="train", config=config, batch_size=READ_CHUNK):
            stop = start + len(ev.label)
            events[1, start:stop] = ev.counts.astype(dtype)
            codes[1, start:stop] = np.where(ev.label == 1, 8, 1)
            start = stop
        codes[1, rng.random(n) < 0.1] = 0
        f["events/labels"] = codes
    return path


def reader_peak(path: Path) -> tuple[int, int]:
    """The records read and the peak bytes (tracemalloc) of reading every record of the cait
    file ``path`` (channel 1, labels events/labels) as the import does: the checking pass, then
    the secret's order. ``tests/test_importer.py`` holds it to about two chunks."""
    tracemalloc.start()
    try:
        with open_records(path, fmt="cait", channel=1, labels="events/labels") as records:
            start, _ = tracemalloc.get_traced_memory()
            plan = _plan([records], fmt="cait", label_map=parse_label_map(LABEL_MAP),
                         sampling_rate_hz=RATE, volts_per_count=None)  # fmt: skip
            train, test, _ = _split([records], plan, Secret.from_seed(0), 0.5)
            seen = sum(len(batch.label) for split in (train, test) for batch in split.batches)
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return seen, peak - start


def import_rss(path: Path, out: Path) -> int:
    """Peak resident bytes of a child process that runs the whole import."""
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, str(path), str(out)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout.split()[-1])


def run(quick: bool = False) -> list[dict]:
    n, length = (1000, 1024) if quick else (4000, 4096)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for dtype in ("int16", "float32"):
            path = write_cait(tmp / f"{dtype}.h5", n, length, dtype)
            (_, peak), size = reader_peak(path), np.dtype(dtype).itemsize
            chunk, channel = READ_CHUNK * length * size, n * length * size
            rows.append(row(
                f"read {n:,} x {length} {dtype} records (the channel: {channel / 1e6:.0f} MB): "
                "peak", peak / 1e6, chunk / 1e6, unit="MB",
                reference_name=f"one chunk of {READ_CHUNK} records as read", target="ratio <= ~2",
            ))  # fmt: skip
        small = write_cait(tmp / "small.h5", n, length, "int16")
        large = write_cait(tmp / "large.h5", 4 * n, length, "int16")
        rss_small = import_rss(small, tmp / "a")
        rss_large = import_rss(large, tmp / "b")
        rows.append(row(
            f"whole import of {4 * n:,} records: peak RSS MB", rss_large / 1e6, rss_small / 1e6,
            unit="MB", reference_name=f"the same import of {n:,} records", target="ratio ~1",
        ))  # fmt: skip
    return rows


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv))
