"""ROC AUC, DeLong interval and paired test, against sklearn, brute force and hand-worked cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score as sklearn_auc

from challenge.metrics import AUC, delong_test, roc_auc_ci, roc_auc_score


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


def test_interval_is_clipped_and_returns_floats():
    result = roc_auc_ci([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4])
    assert result == AUC(1.0, 1.0, 1.0)
    assert all(type(v) is float for v in result)


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


def test_confidence_must_be_a_probability():
    with pytest.raises(ValueError, match="confidence must be"):
        roc_auc_ci([0, 1], [0.1, 0.2], confidence=95)
