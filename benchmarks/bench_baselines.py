"""The baselines on the demo preset: training time of every model against the 5-minute limit,
and the AUC targets (best network vs the physics reference, starter and bdt; cnn vs logit), on the
validation split (400 records) and, with the answer key, on the whole test set (2,000 records);
and cnn's training time beside one competing CPU-bound process over its time without it, each on
the threads `baselines train` takes by default (at most 3x).

python -m benchmarks.bench_baselines [--quick] [--data DIR] [--out DIR] [--contention-only]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from baselines.cli import load_challenge, train_model
from baselines.models import MODELS
from baselines.report import markdown_table
from baselines.threads import cpus_in_use, default_threads, physical_cores, use_threads
from baselines.train import TrainConfig
from benchmarks.timing import print_rows
from challenge.metrics import delong_test, roc_auc_score

TIME_LIMIT_S = 300.0  # every model trains in under 5 minutes on a 2-core CPU
MF_MARGIN = 0.005  # target: the best network reaches the physics reference's AUC minus this
CONTENTION_LIMIT = 3.0  # cnn beside one CPU-bound process takes at most this times its time alone
COMPETITOR_WARMUP_S = 1.0  # the competing process runs this long before the training starts


def run(quick: bool = False) -> list[dict]:
    """Rows of the benchmark on freshly generated demo data (quick: 300 records, 2 epochs)."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = demo_data(Path(tmp) / "data", quick)
        rows = benchmark_rows(*train_all(quick, data_dir=data_dir))
        return rows + contention_rows(data_dir, quick)


def demo_data(data_dir: Path, quick: bool) -> Path:
    """The demo challenge, generated into ``data_dir`` (quick: 300 training records)."""
    from challenge.generate import generate_challenge

    sizes = {"n_train": 300, "n_test": 50} if quick else {}
    generate_challenge(data_dir, preset="demo", seed=0, progress=False, **sizes)
    return data_dir


def _config(quick: bool) -> TrainConfig:
    return TrainConfig(seed=0, device="cpu", epochs=2 if quick else None, progress=False)


def train_all(quick: bool = False, *, data_dir: Path | None = None, out_dir: Path | None = None):
    """Train every model on one split, on the threads `baselines train` takes by default:
    ({name: ValidationResult}, {split: {name: (y, scores)}}) with split "validation" and, when
    the folder has its answer key, "test"."""
    with tempfile.TemporaryDirectory() as tmp, use_threads(default_threads()):
        data_dir = data_dir or demo_data(Path(tmp) / "data", quick)
        data = load_challenge(Path(data_dir))
        results, curves = {}, {"validation": {}}
        for name in MODELS:
            out = Path(out_dir or tmp) / name
            results[name], curves["validation"][name] = train_model(name, data, out, _config(quick))
        key = Path(data_dir) / "private" / "answer_key.csv"
        if key.exists():
            curves["test"] = {n: _test_scores(key, Path(out_dir or tmp) / n) for n in MODELS}
    return results, curves


def contention_rows(data_dir: Path, quick: bool = False) -> list[dict]:
    """cnn's training time beside one competing CPU-bound process over its time without one, each
    on the threads `baselines train` chooses then; the machine's load is part of the row."""
    with tempfile.TemporaryDirectory() as out:  # torch's first steps cost seconds: not timed
        train_model(
            "cnn", load_challenge(data_dir), Path(out), TrainConfig(dry_run=True, progress=False)
        )
    alone = _timed_cnn(data_dir, quick)
    with _competing_process():
        beside = _timed_cnn(data_dir, quick)
    ratio = beside["wall"] / alone["wall"]
    return [
        {
            "benchmark": f"train cnn beside one CPU-bound process ({physical_cores()} cores)",
            "measured": _described(beside),
            "reference": "alone: " + _described(alone),
            "ratio": ratio,
            "target": f"ratio <= {CONTENTION_LIMIT:g}",
        }
    ]


def _timed_cnn(data_dir: Path, quick: bool) -> dict:
    """Load the data and train cnn as `baselines train cnn` does: wall and CPU seconds."""
    load, threads = cpus_in_use(), default_threads()
    start, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as out, use_threads(threads):
        train_model("cnn", load_challenge(data_dir), Path(out), _config(quick))
    return {"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu,
            "threads": threads, "load": load}  # fmt: skip


def _described(timing: dict) -> str:
    return (f"{timing['wall']:.1f} s wall, {timing['cpu']:.1f} s CPU on {timing['threads']} "
            f"thread(s), {timing['load']:.1f} CPUs in use before")  # fmt: skip


@contextlib.contextmanager
def _competing_process() -> Iterator[None]:
    """One CPU-bound process (a busy loop in another Python) for the length of the block."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(COMPETITOR_WARMUP_S)
        yield
    finally:
        busy.kill()
        busy.wait()


def _test_scores(answer_key: Path, run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores) of a run's submission on the test set, aligned by event id."""
    from challenge.scoring import load_answer_key
    from challenge.submission import read_submission

    key = load_answer_key(answer_key)
    submission = read_submission(run_dir / "submission.csv", expected_ids=key["event_id"])
    merged = key.merge(submission, on="event_id")
    return merged["label"].to_numpy(), merged["score"].to_numpy()


def benchmark_rows(results: dict, curves: dict) -> list[dict]:
    neural = [n for n in results if MODELS[n].is_neural and n != "starter"]
    best = max(neural, key=lambda n: results[n].auc)  # chosen on the validation split
    rows = [_time_row(r) for r in results.values()]
    for split, split_curves in curves.items():
        rows += _auc_rows(split, split_curves, best)
    return rows


def _time_row(result) -> dict:
    """Training time against the limit. On a busy machine the wall clock measures the other
    processes too; the CPU time of all threads bounds the wall time of an idle one, so the
    ratio uses the smaller of the two."""
    return {
        "benchmark": f"train {result.model} on demo (val AUC {result.auc:.4f} "
        f"[{result.lo:.4f}, {result.hi:.4f}], {result.n_parameters:,} parameters)",
        "measured": f"{result.train_seconds:.1f} s wall, {result.train_cpu_seconds:.1f} s CPU",
        "reference": f"limit {TIME_LIMIT_S:.0f} s",
        "ratio": min(result.train_seconds, result.train_cpu_seconds) / TIME_LIMIT_S,
        "target": "ratio < 1",
    }


def _compare(curves, a: str, b: str, *, margin: float = 0.0, split: str, what: str) -> dict:
    """Row: AUC of a over (AUC of b - margin), with the paired DeLong p-value of a vs b."""
    y, score_a = curves[a]
    _, score_b = curves[b]
    auc_a, auc_b = roc_auc_score(y, score_a), roc_auc_score(y, score_b)
    _, p = delong_test(y, score_a, score_b)
    return {
        "benchmark": f"{what}, {split} AUC ({len(y)} records)",
        "measured": f"{a}: {auc_a:.4f} (paired DeLong p = {p:.2g} vs {b})",
        "reference": f"{b}: {auc_b:.4f}" + (f" - {margin}" if margin else ""),
        "ratio": auc_a / (auc_b - margin),
        "target": "ratio >= 1" if margin else "ratio > 1",
    }


def _auc_rows(split: str, curves: dict, best: str) -> list[dict]:
    """The four AUC targets on one split; `best` is the best network."""
    return [
        _compare(curves, best, "matched-filter", margin=MF_MARGIN, split=split,
                 what="best network vs physics reference"),
        _compare(curves, best, "starter", split=split, what="best network vs starter"),
        _compare(curves, best, "bdt", split=split, what="best network vs bdt"),
        _compare(curves, "cnn", "logit", split=split, what="cnn vs logit"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 records, 2 epochs")
    parser.add_argument("--data", type=Path, default=None, help="existing challenge folder")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs in this folder")
    parser.add_argument("--contention-only", action="store_true",
                        help="only cnn alone and beside a CPU-bound process")  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data or demo_data(Path(tmp) / "data", args.quick)
        rows = []
        if not args.contention_only:
            results, curves = train_all(args.quick, data_dir=data_dir, out_dir=args.out)
            print(markdown_table(list(results.values())), end="\n\n")
            rows = benchmark_rows(results, curves)
        print(f"load average before the contention runs: {os.getloadavg()}", flush=True)
        print_rows(rows + contention_rows(data_dir, args.quick))


if __name__ == "__main__":
    main()
