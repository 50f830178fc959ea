"""Generation speed: simulated records per second against drawing and FFT-filtering the same noise with numpy.

The records are those of an organizers' detector (seed 0: every effect of
``challenge.hidden_detector`` on), as ``challenge generate`` makes them. The last row times a
whole ``generate_challenge`` of the ``demo`` preset, the command's default (simulation, ROOT
files, the physics reference learned, every reference scored), with 2 workers against 1 worker,
in turn, best of 3 each (``--quick``: 1,000 + 1,000 records, once each): on a shared machine,
read it with the load average it prints.

python -m benchmarks.bench_generate [--quick]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.timing import best_times_interleaved, print_rows, row
from challenge import data
from challenge.generate import PRESETS, generate_challenge, organizers_detector, record_format
from challenge.records import build_metadata
from challenge.secret import Secret
from challenge.simulate import SimulationConfig, iterate_events, one_blas_thread

QUICK_RECORDS = 1000  # train and test records of the quick workers row: 2 chunks each
SIMULATION_TARGET, WORKERS_TARGET = 0.5, 1.7  # records/s against numpy's; speed-up of 2 workers


def numpy_noise(n: int, config: SimulationConfig) -> None:
    """The reference: white Gaussian noise shaped by the detector spectrum, in the same chunks."""
    det = config.detector
    rng = np.random.default_rng(0)
    gain = np.sqrt(det.noise_psd() * det.sampling_rate_hz / 2.0)
    for start in range(0, n, config.chunk_size):
        white = rng.standard_normal((min(config.chunk_size, n - start), det.record_length))
        np.fft.irfft(np.fft.rfft(white, axis=1) * gain, n=det.record_length, axis=1)


def simulate_records(n: int, config: SimulationConfig) -> None:
    for _ in iterate_events(n, seed=0, split="train", config=config):
        pass


def simulate_and_write(n: int, config: SimulationConfig, folder: Path) -> None:
    batches = (
        {"event_id": np.arange(len(ev.label)), "pulse": ev.counts, "label": ev.label,
         "pulse_height": ev.pulse_height, "onset": ev.onset}
        for ev in iterate_events(n, seed=0, split="train", config=config, batch_size=data.WRITE_BATCH)
    )  # fmt: skip
    metadata = build_metadata("train", n, record_format(config), Secret.from_seed(0))
    data.write_split(folder / "train.root", batches, metadata=metadata,
                     branches=("label", "pulse_height", "onset"))  # fmt: skip


def run(quick: bool = False) -> list[dict]:
    n = 500 if quick else 2000
    repeat = 1 if quick else 5
    config = organizers_detector(Secret.from_seed(0))
    with one_blas_thread(), tempfile.TemporaryDirectory() as tmp:  # per core, as a worker runs
        best = best_times_interleaved({
            "numpy": lambda: numpy_noise(n, config),
            "simulate": lambda: simulate_records(n, config),
            "write": lambda: simulate_and_write(n, config, Path(tmp)),
        }, repeat=repeat)  # fmt: skip
    reference, simulated, rate = (n / best[name] for name in ("numpy", "simulate", "write"))
    name = f"numpy noise ({config.detector.record_length} samples)"
    target = f"ratio >= {SIMULATION_TARGET}"
    rows = [
        row(f"simulate {n:,} records", simulated, reference, unit="records/s",
            reference_name=name, target=target, passed=simulated / reference >= SIMULATION_TARGET),
    ]  # fmt: skip
    rows.append(row(f"simulate + write ROOT, {n:,} records", rate, reference, unit="records/s",
                    reference_name=name, target=target,
                    passed=rate / reference >= SIMULATION_TARGET))  # fmt: skip
    rows.append(workers_row(*((QUICK_RECORDS,) * 2 if quick else PRESETS["demo"]),
                            repeat=1 if quick else 3))  # fmt: skip
    return rows


def workers_row(n_train: int, n_test: int, *, repeat: int) -> dict:
    """Wall time of generate_challenge (n_train + n_test records) with 1 worker over that with
    2, timed in turn, best of ``repeat`` each."""

    def generate(workers: int, n_train: int = n_train, n_test: int = n_test) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            generate_challenge(Path(tmp) / "c", seed=0, n_train=n_train, n_test=n_test,
                               workers=workers, progress=False)  # fmt: skip

    generate(2, 200, 200)  # imports what the generation needs, outside the timings
    best = best_times_interleaved({1: lambda: generate(1), 2: lambda: generate(2)}, repeat=repeat)
    one, two = best[1], best[2]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    holds = one / two >= WORKERS_TARGET if (n_train, n_test) == PRESETS["demo"] else None
    return row(f"generate {n_train:,} + {n_test:,} records, 2 workers (load average {load})",
               one / two, 1.0, unit="x", reference_name="1 worker", target=f"ratio >= {WORKERS_TARGET}",
               passed=holds, note=f"{two:.1f} s against {one:.1f} s")  # fmt: skip


if __name__ == "__main__":
    print_rows(run(quick="--quick" in sys.argv))
