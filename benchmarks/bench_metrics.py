"""Scoring speed: our ROC AUC (and its DeLong interval) against sklearn on the same 1,000,000 rows,
and the background-efficiency score type's bootstrap interval and paired test."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score as sklearn_auc

from benchmarks.timing import best_time, print_rows, row
from challenge.metrics import delong_test, roc_auc_ci, roc_auc_score, score_type
from challenge.submission import read_submission


def run(quick: bool = False) -> list[dict]:
    n = 100_000 if quick else 1_000_000
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    scores = rng.normal(size=n) + y
    reference = best_time(lambda: sklearn_auc(y, scores))
    csv = pd.DataFrame({"event_id": np.arange(n), "score": scores}).to_csv(index=False).encode()
    ids = np.arange(n)

    def pandas_and_sklearn():
        frame = pd.read_csv(io.BytesIO(csv))
        sklearn_auc(y, frame["score"].to_numpy())

    def validate_and_score():
        frame = read_submission(csv, expected_ids=ids)
        roc_auc_ci(y, frame["score"].to_numpy())

    bkg_eff = score_type("bkg_eff@0.9")
    n_pair = 7_000  # the private split of the full preset: one pair of teams at the reveal
    other = scores[:n_pair] + rng.normal(size=n_pair)
    return [
        row(
            f"roc_auc_score, {n:,} rows",
            best_time(lambda: roc_auc_score(y, scores)),
            reference,
            reference_name="sklearn roc_auc_score",
            target="ratio <= 1",
        ),
        row(
            f"roc_auc_ci (AUC + DeLong CI), {n:,} rows",
            best_time(lambda: roc_auc_ci(y, scores)),
            reference,
            reference_name="sklearn roc_auc_score (no CI)",
        ),
        row(
            f"validate + score a {n:,}-row CSV",
            best_time(validate_and_score, repeat=3),
            best_time(pandas_and_sklearn, repeat=3),
            reference_name="pandas.read_csv + sklearn AUC",
        ),
        row(
            f"bkg_eff@0.9 with its bootstrap interval (2,000 draws), {n:,} rows",
            best_time(lambda: bkg_eff.estimate(y, scores)),
            reference,
            reference_name="sklearn roc_auc_score (no CI)",
        ),
        row(
            f"paired bootstrap test of bkg_eff@0.9, {n_pair:,} events",
            best_time(lambda: bkg_eff.paired_test(y[:n_pair], scores[:n_pair], other), repeat=3),
            best_time(lambda: delong_test(y[:n_pair], scores[:n_pair], other)),
            reference_name="paired DeLong test, same events",
        ),
    ]


if __name__ == "__main__":
    print_rows(run())
