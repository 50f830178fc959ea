"""The score types (ROC AUC with DeLong, background efficiency with bootstrap): values, intervals
and paired tests against sklearn, brute force, R's pROC and hand-worked cases."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score as sklearn_auc
from sklearn.metrics import roc_curve

from challenge.metrics import (
    UndefinedMetricError,
    _bootstrap_draws,
    background_efficiency,
    background_efficiency_ci,
    background_efficiency_test,
    delong_test,
    roc_auc_ci,
    roc_auc_score,
    score_type,
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


def brute_force_background_efficiency(y, s, signal_efficiency) -> float:
    """Scan every cut 'score <= t' over the scores; the first that keeps enough signal."""
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    for t in np.unique(s):
        if np.mean(s[y == 0] <= t) >= signal_efficiency - 1e-12:
            return float(np.mean(s[y == 1] <= t))
    raise AssertionError("no cut keeps enough signal")


@pytest.mark.parametrize(
    ("y", "s", "efficiency", "expected"),
    [
        # signal 0.1 0.2 0.3 0.4; the cut at 0.2 keeps half of it and the background 0.15
        ([0, 0, 0, 0, 1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.15, 0.5, 0.6, 0.7], 0.5, 0.25),
        ([0, 0, 0, 0, 1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.15, 0.5, 0.6, 0.7], 0.75, 0.25),
        ([0, 0, 0, 0, 1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.15, 0.5, 0.6, 0.7], 0.76, 0.25),
        # a background event tied with the cut passes: ties never help
        ([0, 0, 0, 0, 1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.2, 0.5, 0.6, 0.7], 0.5, 0.25),
        ([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5], 0.5, 1.0),  # a constant score keeps everything
        ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 0.99, 0.0),  # a perfect one keeps no background
        # 0.14 * 50 is 7.000000000000001 in floating point: the cut at 6 keeps 7 signal events;
        # one at 7 (8 events) would let 6.5 through
        ([0] * 50 + [1] * 2, list(range(50)) + [6.5, 7.5], 0.14, 0.0),
    ],
)
def test_background_efficiency_hand_worked(y, s, efficiency, expected):
    assert background_efficiency(y, s, signal_efficiency=efficiency) == expected


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("efficiency", [0.3, 0.9, 0.99])
def test_background_efficiency_against_brute_force_and_sklearn(seed, efficiency):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 400)
    s = np.round(rng.normal(size=400) + 1.5 * y, 1)  # many ties
    value = background_efficiency(y, s, signal_efficiency=efficiency)
    assert value == brute_force_background_efficiency(y, s, efficiency)
    # sklearn: signal (label 0) as the positive class of -score; fpr is the background passing
    fpr, tpr, _ = roc_curve(y == 0, -s, drop_intermediate=False)
    assert value == fpr[np.argmax(tpr >= efficiency - 1e-12)]


def brute_force_bootstrap(y, s, efficiency, draws, rng) -> np.ndarray:
    """Background efficiencies of stratified resamples, resampling the events themselves."""
    signal, background = s[y == 0], s[y == 1]
    labels = np.r_[np.zeros(signal.size), np.ones(background.size)]
    return np.array(
        [
            background_efficiency(
                labels,
                np.r_[rng.choice(signal, signal.size), rng.choice(background, background.size)],
                signal_efficiency=efficiency,
            )
            for _ in range(draws)
        ]
    )


def test_background_efficiency_interval_is_the_stratified_bootstrap():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 600)
    s = rng.normal(size=600) + 1.5 * y
    result = background_efficiency_ci(y, s, signal_efficiency=0.9)
    assert result.value == background_efficiency(y, s, signal_efficiency=0.9)
    reference = np.quantile(brute_force_bootstrap(y, s, 0.9, 2000, rng), [0.025, 0.975])
    # Two Monte Carlo estimates of the same quantiles: they agree to about 0.01 here.
    assert (result.lo, result.hi) == pytest.approx(tuple(reference), abs=0.015)
    assert result.lo < result.value < result.hi
    assert background_efficiency_ci(y, s, signal_efficiency=0.9) == result  # seeded
    narrower = background_efficiency_ci(y, s, signal_efficiency=0.9, confidence=0.5)
    assert result.lo < narrower.lo < narrower.hi < result.hi


def test_background_efficiency_bootstrap_draws_follow_the_enumerated_bootstrap():
    # Every one of the 4**4 * 4**4 equally likely stratified resamples, against 200,000 draws.
    signal, background = np.array([0.1, 0.3, 0.5, 0.7]), np.array([0.2, 0.4, 0.6, 0.8])
    resampled_signal = np.array(list(itertools.product(signal, repeat=4)))
    thresholds = np.sort(resampled_signal, axis=1)[:, 1]  # a cut that keeps half: the 2nd
    resampled_background = np.array(list(itertools.product(background, repeat=4)))
    passing = (resampled_background[None, :, :] <= thresholds[:, None, None]).mean(axis=2)
    values, counts = np.unique(passing, return_counts=True)
    draws = _bootstrap_draws(signal, background, 0.5, 200_000, np.random.default_rng(0))
    frequencies = [(draws == v).mean() for v in values]
    assert np.isin(draws, values).all()
    assert frequencies == pytest.approx(counts / counts.sum(), abs=0.005)


def test_background_efficiency_paired_test():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 800)
    good = rng.normal(size=800) + 2 * y
    bad = good + rng.normal(size=800) * 1.5
    z, p = background_efficiency_test(y, good, bad, signal_efficiency=0.9)
    assert z < 0 and p < 1e-4  # good lets less background through
    assert background_efficiency_test(y, bad, good, signal_efficiency=0.9) == (-z, p)
    # The bootstrap's standard deviation against a brute-force paired bootstrap.
    signal, background = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    diffs = []
    for _ in range(1000):
        i = np.r_[rng.choice(signal, signal.size), rng.choice(background, background.size)]
        diffs.append(
            background_efficiency(y[i], good[i], signal_efficiency=0.9)
            - background_efficiency(y[i], bad[i], signal_efficiency=0.9)
        )
    diff = background_efficiency(y, good, signal_efficiency=0.9) - background_efficiency(
        y, bad, signal_efficiency=0.9
    )
    assert diff / z == pytest.approx(np.std(diffs, ddof=1), rel=0.1)
    assert p == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-12)


def test_background_efficiency_degenerate_cases():
    y = [0, 0, 0, 1, 1, 1]
    perfect, constant = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9], [0.5] * 6
    test = functools.partial(background_efficiency_test, signal_efficiency=0.9)
    assert test(y, perfect, constant) == (-math.inf, 0.0)  # 0 against 1, in every resample
    assert test(y, perfect, [3 * s + 1 for s in perfect]) == (0.0, 1.0)
    one = [0, 0, 0, 1]
    assert background_efficiency(one, [0.1, 0.2, 0.3, 0.25], signal_efficiency=0.5) == 0.0
    with pytest.raises(UndefinedMetricError, match="bootstrap interval is undefined with 1 carr"):
        background_efficiency_ci(one, [0.1, 0.2, 0.3, 0.25], signal_efficiency=0.5)
    with pytest.raises(UndefinedMetricError, match="bootstrap test is undefined"):
        test(one, [0.1, 0.2, 0.3, 0.25], [0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize("efficiency", [0, 1, 1.5, -0.1])
def test_signal_efficiency_must_be_strictly_between_0_and_1(efficiency):
    with pytest.raises(ValueError, match=f"signal_efficiency must be .* got {efficiency!r}"):
        background_efficiency([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], signal_efficiency=efficiency)


def test_score_types_carry_name_direction_range_and_precision():
    auc = score_type("roc_auc")
    assert (auc.name, auc.label, auc.higher_is_better) == ("roc_auc", "ROC AUC", True)
    assert (auc.minimum, auc.maximum, auc.precision) == (0.0, 1.0, 4)
    assert auc.format(0.97654) == "0.9765" and auc.sort_key(0.9) < auc.sort_key(0.8)
    y, a, b = PROC_Y, PROC_A, PROC_B
    assert auc.estimate(y, a) == tuple(roc_auc_ci(y, a))
    assert auc.paired_test(y, a, b) == delong_test(y, a, b)
    assert auc.score(y, a) == 0.75

    bkg = score_type("bkg_eff@0.90")
    assert bkg == score_type("bkg_eff@0.9") and bkg != auc
    assert bkg.name == "bkg_eff@0.9" and not bkg.higher_is_better
    assert bkg.label == "background efficiency at 90% signal efficiency"
    assert bkg.sort_key(0.1) < bkg.sort_key(0.2)  # lower is better
    assert bkg.score(y, a) == background_efficiency(y, a, signal_efficiency=0.9)
    assert bkg.estimate(y, a) == background_efficiency_ci(y, a, signal_efficiency=0.9)
    assert bkg.paired_test(y, a, b) == background_efficiency_test(y, a, b, signal_efficiency=0.9)


@pytest.mark.parametrize(
    "name", ["auc", "bkg_eff", "bkg_eff@", "bkg_eff@1", "bkg_eff@x", "ROC_AUC"]
)
def test_an_unknown_metric_is_refused_with_the_names_that_work(name):
    with pytest.raises(ValueError, match=f"unknown metric {name!r}: expected 'roc_auc' or"):
        score_type(name)
