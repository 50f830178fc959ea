"""The planning maths against a hand-worked value and a simulation of AUCs on synthetic scores."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from challenge.cli import main
from challenge.metrics import delong_test
from challenge.planning import (
    BASELINE_AUC_CORRELATION,
    events_needed,
    hanley_mcneil_variance,
    resolvable_difference,
    split_counts,
)
from challenge.secret import Secret
from challenge.splitting import PUBLIC_FRACTION, draw_public_split

Z95 = 1.959963984540054


def test_hanley_mcneil_variance_by_hand():
    # A = 0.9, 100 + 100 events: Q1 = 0.9 / 1.1 = 0.818182, Q2 = 2 x 0.81 / 1.9 = 0.852632,
    # V = (0.9 x 0.1 + 99 (Q1 - 0.81) + 99 (Q2 - 0.81)) / 100^2 = (0.09 + 0.81 + 4.220526) / 1e4
    assert hanley_mcneil_variance(0.9, 100, 100) == pytest.approx(5.120526e-4, rel=1e-6)
    # The resolvable difference at r = 0.5: 1.96 x sqrt(2 x 5.120526e-4 x 0.5) = 0.044351
    assert resolvable_difference(0.9, 100, 100, correlation=0.5) == pytest.approx(
        Z95 * np.sqrt(5.120526e-4), rel=1e-6
    )


def _aucs(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC per row of (replicates, n) score arrays (continuous scores: no ties)."""
    both = np.concatenate([pos, neg], axis=1)
    ranks = both.argsort(axis=1).argsort(axis=1) + 1
    m, n = pos.shape[1], neg.shape[1]
    return (ranks[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)


def test_variance_matches_a_simulation_where_hanley_mcneil_is_exact():
    """Exponential scores (HM's own model): negatives Exp(1), positives Exp(mean 9): AUC 0.9."""
    rng = np.random.default_rng(0)
    reps, m, n = 4000, 120, 80
    aucs = _aucs(rng.exponential(9.0, (reps, m)), rng.exponential(1.0, (reps, n)))
    assert aucs.mean() == pytest.approx(0.9, abs=0.002)
    # the sample variance of 4,000 replicates is good to about 2.2%
    assert aucs.var(ddof=1) == pytest.approx(hanley_mcneil_variance(0.9, m, n), rel=0.08)


def test_resolvable_difference_matches_simulated_paired_delong():
    """Two classifiers of equal AUC whose scores share events; the spread of their AUC difference
    over replicates, and DeLong's own estimate of it, give the difference the test resolves."""
    rng = np.random.default_rng(1)
    reps, m, n, shared = 1500, 150, 150, 0.8
    pos_a, neg_a = rng.exponential(19.0, (reps, m)), rng.exponential(1.0, (reps, n))  # AUC 0.95
    pos_b = np.where(rng.random((reps, m)) < shared, pos_a, rng.exponential(19.0, (reps, m)))
    neg_b = np.where(rng.random((reps, n)) < shared, neg_a, rng.exponential(1.0, (reps, n)))
    auc_a, auc_b = _aucs(pos_a, neg_a), _aucs(pos_b, neg_b)
    r = np.corrcoef(auc_a, auc_b)[0, 1]
    expected = resolvable_difference(0.95, m, n, correlation=r)
    assert Z95 * np.std(auc_a - auc_b, ddof=1) == pytest.approx(expected, rel=0.1)
    y = np.r_[np.ones(m), np.zeros(n)]
    delong_se = [
        abs(auc_a[i] - auc_b[i]) / abs(z)
        for i in range(200)
        if (z := delong_test(y, np.r_[pos_a[i], neg_a[i]], np.r_[pos_b[i], neg_b[i]])[0]) != 0
    ]
    assert Z95 * np.mean(delong_se) == pytest.approx(expected, rel=0.15)


def test_split_counts_are_those_of_the_answer_key():
    label = np.r_[np.ones(517), np.zeros(483)].astype(np.int8)
    split = draw_public_split(Secret.from_seed(0), label)
    counts = split_counts(1000, public_fraction=PUBLIC_FRACTION, carrier_fraction=0.517)
    for name, (pos, neg) in counts.items():
        assert (pos, neg) == (
            int(np.sum(label[split == name] == 1)),
            int(np.sum(label[split == name] == 0)),
        )


def test_events_needed_is_the_smallest_that_resolves():
    n = events_needed(0.98, 0.003, public_fraction=0.3)
    for size, resolves in ((n, True), (n - 1, False)):
        pos, neg = split_counts(size, public_fraction=0.3, carrier_fraction=0.5)["private"]
        assert bool(resolvable_difference(0.98, pos, neg) <= 0.003) is resolves
    # halving the difference takes about four times the events
    assert events_needed(0.98, 0.0015, public_fraction=0.3) == pytest.approx(4 * n, rel=0.01)


def test_plan_command_prints_the_number_of_events():
    n = events_needed(0.98, 0.003, public_fraction=PUBLIC_FRACTION)
    result = CliRunner().invoke(main, ["plan", "--auc", "0.98", "--delta", "0.003"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{n} test events (--n-test {n}) with a public fraction of 0.3")
    assert f"AUC correlation {BASELINE_AUC_CORRELATION}" in result.stdout
    bad = CliRunner().invoke(main, ["plan", "--auc", "1.5"])
    assert bad.exit_code == 2 and "--auc" in bad.stderr and "Traceback" not in bad.output
    tiny = CliRunner().invoke(main, ["plan", "--delta", "1e-7"])
    assert tiny.exit_code == 1 and "Traceback" not in tiny.output
    assert "no test set below 10^12 events resolves 1e-07 at AUC 0.98" in tiny.stderr


def test_bad_planning_input_names_the_value():
    with pytest.raises(ValueError, match="auc must lie in \\[0.5, 1\\); got 1.2"):
        hanley_mcneil_variance(1.2, 10, 10)
    with pytest.raises(ValueError, match="correlation must lie in \\[-1, 1\\); got 1.0"):
        resolvable_difference(0.9, 10, 10, correlation=1.0)
    with pytest.raises(ValueError, match="delta must lie strictly between 0 and 1; got 0"):
        events_needed(0.9, 0, public_fraction=0.3)
