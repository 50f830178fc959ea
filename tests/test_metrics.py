"""ROC AUC, DeLong interval and paired test, against sklearn, brute force and hand-worked cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score as sklearn_auc

from challenge.metrics import (
    UndefinedMetricError,
    delong_test,
    roc_auc_ci,
    roc_auc_score,
)


def brute_force_auc(y, s) -> float:
    """Fraction of (positive, negative) pairs ordered correctly, ties counting one half."""
    pos, neg = s[y == 1], s[y == 0]
    pairs = [(p > n) + 0.5 * (p == n) for p, n in itertools.product(pos, neg)]
    return float(np.mean(pairs))


def brute_force_delong_variance(y, s) -> float:
    """DeLong's variance from its definition, with O(m n) placement values."""
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)


@pytest.mark.parametrize(
    ("y", "s", "expected"),
    [
        ([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], 1.0),
        ([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1], 0.0),
        ([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5], 0.5),
        ([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], 0.75),
        ([0, 0, 1, 1], [0.1, 0.3, 0.3, 0.4], 0.875),  # one tied pair counts one half
        ([True, False, True], [2, 1, 1], 0.75),
    ],
)
def test_hand_worked_cases(y, s, expected):
    assert roc_auc_score(y, s) == expected


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_sklearn_and_brute_force(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(size=300) + y, 1)  # rounding makes many ties
    assert roc_auc_score(y, s) == pytest.approx(sklearn_auc(y, s), abs=1e-12)
    assert roc_auc_score(y, s) == pytest.approx(brute_force_auc(y, s), abs=1e-12)


def test_delong_interval_matches_the_variance_from_its_definition():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(size=200) + 0.8 * y, 1)
    auc, lo, hi = roc_auc_ci(y, s)
    half = 1.959963984540054 * math.sqrt(brute_force_delong_variance(y, s))
    assert (lo, hi) == pytest.approx((auc - half, auc + half), abs=1e-12)


# Reference values from R's pROC 1.18: tests/proc_reference.R prints them.
PROC_Y = [0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0]
PROC_A = [0.1, 0.9, 0.35, 0.4, 0.8, 0.45, 0.2, 0.6, 0.3, 0.7, 0.65, 0.5]
PROC_B = [0.2, 0.5, 0.6, 0.3, 0.9, 0.1, 0.4, 0.35, 0.2, 0.6, 0.4, 0.3]


def test_interval_is_clipped_to_0_1_as_pROC():
    # Unclipped, these intervals reach 1.048 and -0.048.
    above = roc_auc_ci(PROC_Y, PROC_A)
    assert tuple(above) == pytest.approx((0.75, 0.45180097604714053, 1.0), abs=1e-14)
    assert all(type(v) is float for v in above)
    below = roc_auc_ci(PROC_Y, -np.array(PROC_A))
    assert tuple(below) == pytest.approx((0.25, 0.0, 0.54819902395285947), abs=1e-14)
    ninety = roc_auc_ci(PROC_Y, PROC_A, confidence=0.9)
    assert tuple(ninety) == pytest.approx((0.75, 0.49974349020124748, 1.0), abs=1e-14)


def test_paired_test_agrees_with_pROC():
    z, p = delong_test(PROC_Y, PROC_A, PROC_B)
    assert (z, p) == pytest.approx((1.0758876551830785, 0.28197750355715018), abs=1e-14)


def test_perfect_against_constant_is_significant_as_in_pROC():
    # AUCs 1 and 0.5 and a zero variance of the difference: pROC gives z = Inf, p = 0.
    y = [0, 0, 0, 1, 1, 1]
    perfect, constant = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9], [0.5] * 6
    assert delong_test(y, perfect, constant) == (math.inf, 0.0)
    assert delong_test(y, constant, perfect) == (-math.inf, 0.0)
    assert delong_test(y, perfect, [3 * s + 1 for s in perfect]) == (0.0, 1.0)  # pROC: 0, 1


def test_a_class_of_one_event_leaves_the_variance_undefined():
    # pROC: AUC 2/3, interval NA NA NA, and roc.test stops with an error.
    y, s = [0, 0, 0, 1], [0.1, 0.4, 0.3, 0.35]
    assert roc_auc_score(y, s) == pytest.approx(2 / 3, abs=1e-15)
    message = "undefined with 1 carrier \\(label 1\\) and 3 absorber \\(label 0\\) events"
    with pytest.raises(UndefinedMetricError, match=message):
        roc_auc_ci(y, s)
    with pytest.raises(UndefinedMetricError, match=message):
        delong_test(y, s, [0.2, 0.1, 0.5, 0.3])
    with pytest.raises(UndefinedMetricError, match="1 absorber"):
        roc_auc_ci([1, 1, 0], [0.1, 0.2, 0.3])


def test_interval_coverage_on_a_known_auc():
    # Normal scores shifted by d have AUC = Phi(d / sqrt(2)); the 95% CI should cover it ~95% of the time.
    rng = np.random.default_rng(3)
    true_auc = 0.5 * math.erfc(-1.0 / math.sqrt(2) / math.sqrt(2))
    covered = 0
    for _ in range(200):
        y = np.r_[np.zeros(100, int), np.ones(100, int)]
        s = rng.normal(size=200) + y
        _, lo, hi = roc_auc_ci(y, s)
        covered += lo <= true_auc <= hi
    assert 0.90 <= covered / 200 <= 0.99


def test_paired_delong_test():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 1000)
    good = rng.normal(size=1000) + 1.5 * y
    bad = good + rng.normal(size=1000) * 2
    z, p = delong_test(y, good, bad)
    assert z > 0 and p < 1e-6
    z_rev, p_rev = delong_test(y, bad, good)
    assert z_rev == pytest.approx(-z) and p_rev == pytest.approx(p)
    assert delong_test(y, good, 3 * good + 1) == (0.0, 1.0)  # same ranking, same AUC


def test_paired_test_against_explicit_formula():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 150)
    a, b = rng.normal(size=150) + y, rng.normal(size=150) + 0.5 * y
    pos, neg = y == 1, y == 0

    def placements(s):
        psi = (s[pos][:, None] > s[neg][None, :]) + 0.5 * (s[pos][:, None] == s[neg][None, :])
        return psi.mean(axis=1), psi.mean(axis=0)

    (a10, a01), (b10, b01) = placements(a), placements(b)
    var = np.var(a10 - b10, ddof=1) / pos.sum() + np.var(a01 - b01, ddof=1) / neg.sum()
    z_expected = (a10.mean() - b10.mean()) / math.sqrt(var)
    z, p = delong_test(y, a, b)
    assert z == pytest.approx(z_expected, rel=1e-10)
    assert p == pytest.approx(math.erfc(abs(z_expected) / math.sqrt(2)), rel=1e-8)


@pytest.mark.parametrize(
    ("y", "s", "message"),
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], "Only one class"),
        ([0, 1, 2], [0.1, 0.2, 0.3], "labels 0 and 1"),
        ([0, 1], [0.1], "shape"),
        ([0, 1], [0.1, float("nan")], r"y_score\[1\] is nan"),
        ([[0, 1]], [[0.1, 0.2]], "one-dimensional"),
    ],
)
def test_bad_input_raises_a_value_error_quoting_it(y, s, message):
    with pytest.raises(ValueError, match=message):
        roc_auc_score(y, s)


@pytest.mark.parametrize("confidence", [95, 1, 1.0, 0, -0.5, float("nan")])
def test_confidence_must_be_strictly_between_0_and_1(confidence):
    with pytest.raises(ValueError, match=f"confidence must be .* got {confidence!r}"):
        roc_auc_ci([0, 0, 1, 1], [0.1, 0.3, 0.2, 0.4], confidence=confidence)
