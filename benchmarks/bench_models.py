"""What the sandbox costs a model submission: the exported cnn scoring a test set in the sandbox
(child process, limits, bubblewrap and seccomp where installed) against onnxruntime in this
process on the same model and records, session creation included in both. Target: at most 1.3x.

The cnn is trained for one dry-run epoch on a small simulated challenge of full-length records
(16384 samples) and exported with `baselines export`'s code; the test set is those records
repeated to 10,000 (2,000 with --quick): the time of a forward pass does not depend on the
values. The child's start (interpreter, numpy, onnxruntime, bubblewrap: about 0.4 s here) is a
fixed cost, so the ratio is larger on fewer records: 1.57 on the 2,000 of --quick.

python -m benchmarks.bench_models [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.timing import print_rows, row

REPEAT = 3  # of each way; the best time is reported
TARGET = 1.3


def exported_cnn(folder: Path) -> tuple[Path, np.ndarray]:
    """The exported cnn's file and the simulated records it was trained on."""
    from baselines.export import export_onnx, write_onnx
    from baselines.train import TrainConfig, train
    from challenge.data import load, read_metadata
    from challenge.generate import generate_challenge

    generate_challenge(folder, n_train=200, n_test=20, seed=11, progress=False)
    events = load("train", data_dir=folder)
    metadata = read_metadata("train", data_dir=folder)
    config = TrainConfig(seed=0, device="cpu", dry_run=True, progress=False)
    trained, val_idx = train("cnn", events.X, events.y, metadata, config=config)
    model, _ = export_onnx(trained, events.X[val_idx])
    return write_onnx(model, folder / "cnn.onnx"), events.X


def in_process(path: Path, X: np.ndarray, threads: int) -> np.ndarray:
    from challenge.model import check_model_file, check_scores
    from challenge.onnx_runner import make_session, run_batches

    check_model_file(path, record_length=X.shape[1])
    return check_scores(run_batches(make_session(path.read_bytes(), threads=threads), X), len(X))


def best(fn, repeat: int = REPEAT) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def run(*, quick: bool = False) -> list[dict]:
    from challenge.sandbox import RecordsFile, SandboxLimits, score_model

    n_records = 2_000 if quick else 10_000
    limits = SandboxLimits()
    with tempfile.TemporaryDirectory() as tmp:
        path, X = exported_cnn(Path(tmp))
        X = np.ascontiguousarray(np.resize(X, (n_records, X.shape[1])), dtype=np.float32)
        records = RecordsFile.write(X, Path(tmp, "records"))  # once per challenge, as a worker
        reference, expected = best(lambda: in_process(path, X, limits.threads))
        measured, result = best(lambda: score_model(path, records, limits=limits))
    assert np.array_equal(result.scores, expected), "the sandbox scored differently"
    return [
        row(
            f"cnn on {n_records:,} records of {X.shape[1]} samples, sandboxed ({result.isolation})",
            measured,
            reference,
            reference_name="onnxruntime in this process",
            target=f"<= {TARGET}",
        )
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 records instead of 10,000")
    print_rows(run(quick=parser.parse_args().quick))
