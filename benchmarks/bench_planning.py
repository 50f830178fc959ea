"""The correlation of two baselines' AUC estimates, which the planning of split resolution assumes.

Trains `mlp`, `cnn` and the matched filter on the demo preset (seed 0), scores the 2,000 test
events through the answer key, and derives DeLong's correlation of each pair's AUC estimates
from challenge.metrics: r = (var_a + var_b - var_diff) / (2 sqrt(var_a var_b)). Then checks each
preset's private split against the smallest baseline difference it should resolve.

python -m benchmarks.bench_planning [--quick] [--data DIR]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from itertools import combinations
from pathlib import Path

import numpy as np
from scipy.stats import norm

from baselines.cli import load_challenge, train_model
from baselines.train import TrainConfig
from benchmarks.bench_baselines import _test_scores
from benchmarks.timing import print_rows
from challenge.generate import PRESETS
from challenge.metrics import delong_test, roc_auc_ci, roc_auc_score
from challenge.planning import (
    BASELINE_AUC_CORRELATION,
    RESOLVE_TARGET,
    resolvable_difference,
    split_counts,
)
from challenge.splitting import PUBLIC_FRACTION

MODELS = ("mlp", "cnn", "matched-filter")


def auc_correlation(y: np.ndarray, score_a: np.ndarray, score_b: np.ndarray) -> float:
    """DeLong's correlation of two AUC estimates on the same events."""
    z95 = norm.ppf(0.975)
    var = [
        ((ci.hi - ci.lo) / (2 * z95)) ** 2 for ci in (roc_auc_ci(y, s) for s in (score_a, score_b))
    ]
    z, _ = delong_test(y, score_a, score_b)
    diff = roc_auc_score(y, score_a) - roc_auc_score(y, score_b)
    var_diff = (diff / z) ** 2
    return (var[0] + var[1] - var_diff) / (2 * math.sqrt(var[0] * var[1]))


def test_scores(data_dir: Path, quick: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{model: (labels, scores)} on the test set of the challenge in ``data_dir``."""
    data = load_challenge(data_dir)
    config = TrainConfig(seed=0, device="cpu", epochs=2 if quick else None, progress=False)
    with tempfile.TemporaryDirectory() as runs:
        for name in MODELS:
            train_model(name, data, Path(runs) / name, config)
        return {
            n: _test_scores(data_dir / "private" / "answer_key.csv", Path(runs) / n) for n in MODELS
        }


def run(quick: bool = False, data_dir: Path | None = None) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        if data_dir is None:
            from challenge.generate import generate_challenge

            data_dir = Path(tmp) / "data"
            sizes = {"n_train": 300, "n_test": 300} if quick else {}
            generate_challenge(data_dir, preset="demo", seed=0, progress=False, **sizes)
        scores = test_scores(Path(data_dir), quick)
    rows = []
    for a, b in combinations(MODELS, 2):
        y, score_a = scores[a]
        r = auc_correlation(y, score_a, scores[b][1])
        rows.append({
            "benchmark": f"DeLong correlation of AUC({a}) and AUC({b}), {len(y)} test events",
            "measured": f"{r:.3f} (AUCs {roc_auc_score(y, score_a):.4f}, {roc_auc_score(y, scores[b][1]):.4f})",
            "reference": f"BASELINE_AUC_CORRELATION = {BASELINE_AUC_CORRELATION}",
            "ratio": r / BASELINE_AUC_CORRELATION,
            "target": "",
        })  # fmt: skip
    y, cnn = scores["cnn"]
    auc = roc_auc_score(y, cnn)
    for preset, (_, n_test) in PRESETS.items():
        pos, neg = split_counts(n_test, public_fraction=PUBLIC_FRACTION, carrier_fraction=0.5)[
            "private"
        ]
        delta = resolvable_difference(auc, pos, neg)
        rows.append({
            "benchmark": f"{preset} preset: private split ({pos + neg} events) resolves, at AUC {auc:.4f}",
            "measured": f"{delta:.4f}",
            "reference": f"target {RESOLVE_TARGET}",
            "ratio": delta / RESOLVE_TARGET,
            "target": "ratio <= 1",
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 records, 2 epochs")
    parser.add_argument("--data", type=Path, default=None, help="existing challenge folder")
    args = parser.parse_args()
    print_rows(run(args.quick, args.data))


if __name__ == "__main__":
    main()
