"""The challenge's metrics as score types: a value, its confidence interval and a paired test.

Two score types (after ramp-board's): ``roc_auc``, the ROC AUC with DeLong's interval and the
paired DeLong test (the default), and ``bkg_eff@E``, the fraction of background (carrier,
label 1) events that pass the cut keeping a fraction E of the signal (absorber, label 0), with a
stratified bootstrap interval and a paired bootstrap test. ``score_type(name)`` gives either.

DeLong's variance follows DeLong et al. (1988), computed with the O(n log n) algorithm of
Sun & Xu, IEEE Signal Processing Letters 21 (2014) 1389: one sort of the scores gives every
event's placement value, the fraction of the other class that it outranks (ties count one half).
The degenerate cases follow R's pROC 1.18: a class of one event leaves the variance undefined
(pROC: NA; here UndefinedMetricError), and a nonzero difference of AUCs with a zero variance of
the difference is significant beyond any level (z = ±inf, p = 0).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import NamedTuple

import numpy as np
from scipy.special import ndtr, ndtri  # the normal's cdf and quantile (scipy.stats's norm)

MIN_CLASS_SIZE = 2  # a variance divides by (class size - 1)
DEFAULT_SCORE_TYPE = "roc_auc"
BACKGROUND_EFFICIENCY = "bkg_eff"  # the name's prefix: bkg_eff@0.9
BOOTSTRAP_DRAWS = 2000  # as pROC's default boot.n
BOOTSTRAP_SEED = 0  # the same data always give the same interval and p-value
BOOTSTRAP_CHUNK = 4_000_000  # resampled events held at once by the paired test (about 100 MB)


class UndefinedMetricError(ValueError):
    """A value that these data leave undefined, such as a variance from a class of one event."""


class Estimate(NamedTuple):
    """A score (a ROC AUC, a background efficiency, ...) with the bounds of its confidence interval."""

    value: float
    lo: float
    hi: float


def roc_auc_score(y_true, y_score) -> float:
    """Area under the ROC curve, as ``sklearn.metrics.roc_auc_score`` for binary labels.

    Parameters
    ----------
    y_true : array of shape (n,), labels 0 and 1 (or booleans), both present.
    y_score : array of shape (n,), finite scores, higher meaning more likely label 1.
    """
    y, scores = _check_binary(y_true, [y_score])
    return float(_placements(y, scores[0])[0].mean())


def roc_auc_ci(y_true, y_score, *, confidence: float = 0.95) -> Estimate:
    """ROC AUC with a two-sided confidence interval from DeLong's variance, clipped to [0, 1].

    Parameters
    ----------
    y_true : array of shape (n,), labels 0 and 1, both present.
    y_score : array of shape (n,), finite scores.
    confidence : coverage of the interval, strictly between 0 and 1.

    Raises UndefinedMetricError if a class has fewer than two events (the variance is undefined).
    """
    _check_fraction("confidence", confidence)
    y, scores = _check_binary(y_true, [y_score])
    aucs, cov = _delong(y, scores)
    auc = float(aucs[0])
    half_width = ndtri(0.5 + confidence / 2) * math.sqrt(max(cov[0, 0], 0.0))
    return Estimate(auc, float(max(0.0, auc - half_width)), float(min(1.0, auc + half_width)))


def delong_test(y_true, score_a, score_b) -> tuple[float, float]:
    """Paired two-sided DeLong test that two score vectors on the same events have equal AUC.

    Parameters
    ----------
    y_true : array of shape (n,), labels 0 and 1, both present.
    score_a, score_b : arrays of shape (n,), the two classifiers' scores on the same events.

    Returns
    -------
    (z, p_value) : the z statistic of AUC(a) - AUC(b) and its two-sided p-value. With a zero
    variance of the difference, as pROC: equal AUCs give z = 0 and p = 1, different AUCs
    (a perfect classifier against a constant one) z = ±inf and p = 0.

    Raises UndefinedMetricError if a class has fewer than two events (the variance is undefined).
    """
    y, scores = _check_binary(y_true, [score_a, score_b])
    aucs, cov = _delong(y, scores)
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    return _normal_test(float(aucs[0] - aucs[1]), float(var))


def background_efficiency(y_true, y_score, *, signal_efficiency: float) -> float:
    """Fraction of background (carrier, label 1) events that pass the cut that keeps
    ``signal_efficiency`` of the signal (absorber, label 0) events.

    Higher scores mean more carrier-like, so the cut keeps scores up to a threshold: the k-th
    smallest signal score, k = ceil(signal_efficiency * n_signal), the tightest cut that keeps at
    least that fraction. Background events tied with the threshold pass: a cut cannot split a tie,
    so ties never help a submission.

    Parameters
    ----------
    y_true : array of shape (n,), labels 0 (signal) and 1 (background), both present.
    y_score : array of shape (n,), finite scores, higher meaning more likely label 1.
    signal_efficiency : the fraction of signal kept, strictly between 0 and 1.
    """
    _check_fraction("signal_efficiency", signal_efficiency)
    y, (score,) = _check_binary(y_true, [y_score])
    signal, background = np.sort(score[~y]), np.sort(score[y])
    threshold = signal[_threshold_rank(signal.size, signal_efficiency) - 1]
    return float(np.searchsorted(background, threshold, side="right") / background.size)


def background_efficiency_ci(
    y_true,
    y_score,
    *,
    signal_efficiency: float,
    confidence: float = 0.95,
    n_bootstrap: int = BOOTSTRAP_DRAWS,
    seed: int = BOOTSTRAP_SEED,
) -> Estimate:
    """``background_efficiency`` with the percentile interval of a stratified bootstrap.

    The bootstrap resamples signal and background separately, so it carries both the binomial
    spread of the passing background and the spread of the threshold (a binomial interval at a
    fixed threshold would miss the latter). Each draw is made exactly without resampling arrays:
    the k-th smallest of n resampled signal scores is ``signal[floor(n U)]`` with U ~ Beta(k,
    n + 1 - k), and, given that threshold t, the passing background count is Binomial(n_b, F(t)).
    Limits: with few passing background events (under about ten) the percentile interval is too
    narrow, and [0, 0] when none pass; a seed makes it deterministic.

    Raises UndefinedMetricError if a class has fewer than two events.
    """
    _check_fraction("confidence", confidence)
    value = background_efficiency(y_true, y_score, signal_efficiency=signal_efficiency)
    y, (score,) = _check_binary(y_true, [y_score])
    signal, background = np.sort(score[~y]), np.sort(score[y])
    _check_class_sizes("the bootstrap interval", background.size, signal.size)
    draws = _bootstrap_draws(
        signal, background, signal_efficiency, n_bootstrap, np.random.default_rng(seed)
    )
    lo, hi = np.quantile(draws, [(1 - confidence) / 2, (1 + confidence) / 2])
    return Estimate(value, float(lo), float(hi))


def background_efficiency_test(
    y_true,
    score_a,
    score_b,
    *,
    signal_efficiency: float,
    n_bootstrap: int = BOOTSTRAP_DRAWS,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Paired two-sided bootstrap test that two score vectors have equal background efficiency.

    As pROC's ``roc.test(method="bootstrap")``: events are resampled within each class, the
    same events for both score vectors, and z = difference / standard deviation of the
    resampled differences; a zero standard deviation gives z = 0, p = 1 for equal values and
    z = ±inf, p = 0 otherwise. Costs O(n_bootstrap * n) time.

    Returns (z, p_value). Raises UndefinedMetricError if a class has fewer than two events.
    """
    y, (a, b) = _check_binary(y_true, [score_a, score_b])
    signal, background = np.flatnonzero(~y), np.flatnonzero(y)
    _check_class_sizes("the bootstrap test", background.size, signal.size)
    diff = background_efficiency(y, a, signal_efficiency=signal_efficiency) - (
        background_efficiency(y, b, signal_efficiency=signal_efficiency)
    )
    k = _threshold_rank(signal.size, signal_efficiency)
    rng = np.random.default_rng(seed)
    chunk = max(1, BOOTSTRAP_CHUNK // y.size)  # bounds the memory of the resampled indices
    diffs = []
    for start in range(0, n_bootstrap, chunk):
        rows = min(chunk, n_bootstrap - start)
        s = rng.choice(signal, size=(rows, signal.size))
        g = rng.choice(background, size=(rows, background.size))
        diffs.append(_resampled_efficiency(a[s], a[g], k) - _resampled_efficiency(b[s], b[g], k))
    return _normal_test(diff, float(np.var(np.concatenate(diffs), ddof=1)))


def _bootstrap_draws(
    signal: np.ndarray,
    background: np.ndarray,
    signal_efficiency: float,
    n_bootstrap: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Background efficiencies (n_bootstrap,) of stratified resamples of the sorted scores."""
    k, n = _threshold_rank(signal.size, signal_efficiency), signal.size
    order_statistic = rng.beta(k, n + 1 - k, size=n_bootstrap)  # k-th smallest of n uniforms
    thresholds = signal[np.minimum((order_statistic * n).astype(np.int64), n - 1)]
    passing = np.searchsorted(background, thresholds, side="right") / background.size
    return rng.binomial(background.size, passing) / background.size


def _threshold_rank(n_signal: int, signal_efficiency: float) -> int:
    """k: the cut at the k-th smallest signal score keeps at least the wanted fraction."""
    # Rounding first, so that 0.7 * 10 = 7.000000000000001 asks for 7 events, not 8.
    return max(1, math.ceil(round(signal_efficiency * n_signal, 9)))


def _resampled_efficiency(signal: np.ndarray, background: np.ndarray, k: int) -> np.ndarray:
    """Background efficiencies (r,) of r resamples: signal (r, n_s), background (r, n_b) scores."""
    thresholds = np.partition(signal, k - 1, axis=1)[:, k - 1]
    return (background <= thresholds[:, None]).mean(axis=1)


class ScoreType(ABC):
    """How a challenge is scored, after ramp-board's score types: what the value is called,
    whether higher is better, its range and the digits shown, and how to compute the value with
    its interval and the paired test of two submissions."""

    name: str  # as the organizer writes it: ``challenge generate --metric NAME``
    label: str  # in words, as a sentence or a page title shows it
    short_label: str  # as a table column or an output line shows it
    higher_is_better: bool
    interval_method: str  # shown with the interval
    minimum: float = 0.0
    maximum: float = 1.0
    precision: int = 4  # decimals shown

    @abstractmethod
    def score(self, y_true, y_score) -> float:
        """The value on these events."""

    @abstractmethod
    def estimate(self, y_true, y_score, *, confidence: float = 0.95) -> Estimate:
        """The value with its two-sided confidence interval."""

    @abstractmethod
    def paired_test(self, y_true, score_a, score_b) -> tuple[float, float]:
        """(z, p): a two-sided test that two submissions on the same events score alike."""

    def format(self, value: float) -> str:
        return f"{value:.{self.precision}f}"

    def sort_key(self, value: float) -> float:
        """Sorting by this key puts the best value first."""
        return -value if self.higher_is_better else value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScoreType) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"score_type({self.name!r})"


class RocAuc(ScoreType):
    """The ROC AUC, DeLong's interval and the paired DeLong test."""

    name = "roc_auc"
    label = "ROC AUC"
    short_label = "AUC"
    higher_is_better = True
    interval_method = "DeLong"

    def score(self, y_true, y_score) -> float:
        return roc_auc_score(y_true, y_score)

    def estimate(self, y_true, y_score, *, confidence: float = 0.95) -> Estimate:
        return roc_auc_ci(y_true, y_score, confidence=confidence)

    def paired_test(self, y_true, score_a, score_b) -> tuple[float, float]:
        return delong_test(y_true, score_a, score_b)


class BackgroundEfficiency(ScoreType):
    """The background (carrier) fraction that passes at a fixed signal (absorber) efficiency."""

    higher_is_better = False
    interval_method = "bootstrap"

    def __init__(self, signal_efficiency: float):
        _check_fraction("signal_efficiency", signal_efficiency)
        self.signal_efficiency = signal_efficiency
        self.name = f"{BACKGROUND_EFFICIENCY}@{signal_efficiency:g}"
        self.label = f"background efficiency at {100 * signal_efficiency:g}% signal efficiency"
        self.short_label = f"bkg eff @ {100 * signal_efficiency:g}% sig eff"

    def score(self, y_true, y_score) -> float:
        return background_efficiency(y_true, y_score, signal_efficiency=self.signal_efficiency)

    def estimate(self, y_true, y_score, *, confidence: float = 0.95) -> Estimate:
        return background_efficiency_ci(
            y_true, y_score, signal_efficiency=self.signal_efficiency, confidence=confidence
        )

    def paired_test(self, y_true, score_a, score_b) -> tuple[float, float]:
        return background_efficiency_test(
            y_true, score_a, score_b, signal_efficiency=self.signal_efficiency
        )


def score_type(name: str) -> ScoreType:
    """The score type called ``name``: ``roc_auc``, or ``bkg_eff@E`` with E the signal
    efficiency strictly between 0 and 1 (``bkg_eff@0.9``)."""
    if name == RocAuc.name:
        return RocAuc()
    prefix, at, efficiency = name.partition("@")
    if prefix == BACKGROUND_EFFICIENCY and at:
        try:
            return BackgroundEfficiency(float(efficiency))
        except ValueError:
            pass
    raise ValueError(
        f"unknown metric {name!r}: expected {RocAuc.name!r} or '{BACKGROUND_EFFICIENCY}@E' "
        "with E the signal efficiency strictly between 0 and 1, e.g. 'bkg_eff@0.9'"
    )


def _normal_test(diff: float, var: float) -> tuple[float, float]:
    """z and two-sided p of a difference with a normal variance; pROC's convention at var = 0."""
    if var <= 0 or diff == 0:  # a tiny negative variance can only be rounding
        return (0.0, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0)
    z = diff / math.sqrt(var)
    return z, float(2 * ndtr(-abs(z)))  # the normal's survival function at |z|, twice


def _check_fraction(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")


def _check_binary(y_true, score_list) -> tuple[np.ndarray, list[np.ndarray]]:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be one-dimensional, got shape {y.shape}")
    labels = np.unique(y)
    if not np.isin(labels, [0, 1]).all():
        raise ValueError(f"y_true must hold labels 0 and 1, got {labels[:10].tolist()}")
    if len(labels) < 2:
        raise ValueError(
            f"Only one class ({labels.tolist()}) present in y_true: no metric that compares the "
            "two classes is defined then"
        )
    scores = []
    for s in score_list:
        s = np.asarray(s, dtype=np.float64)
        if s.shape != y.shape:
            raise ValueError(f"y_score has shape {s.shape}, y_true has shape {y.shape}")
        bad = np.flatnonzero(~np.isfinite(s))
        if bad.size:
            raise ValueError(f"y_score[{bad[0]}] is {float(s[bad[0]])}: scores must be finite")
        scores.append(s)
    return y.astype(bool), scores


def _placements(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Placement values: for each positive, the fraction of negatives it outranks (V10), and
    for each negative, the fraction of positives that outrank it (V01); ties count one half.

    Both come from a single sort: within each group of tied scores, the counts of positives and
    negatives before and inside the group give every member's placement.
    """
    order = np.argsort(score)
    sorted_score, sorted_pos = score[order], y[order]
    starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    group = np.cumsum(np.r_[True, sorted_score[1:] != sorted_score[:-1]]) - 1
    pos_in = np.add.reduceat(sorted_pos.astype(np.int64), starts)
    neg_in = np.diff(np.r_[starts, score.size]) - pos_in
    pos_before = np.cumsum(pos_in) - pos_in
    neg_before = np.cumsum(neg_in) - neg_in
    m, n = int(pos_in.sum()), int(neg_in.sum())
    v10_group = (neg_before + 0.5 * neg_in) / n
    v01_group = (m - pos_before - 0.5 * pos_in) / m
    # Back to event order, so that two classifiers' placements pair up event by event.
    event_group = np.empty_like(group)
    event_group[order] = group
    return v10_group[event_group[y]], v01_group[event_group[~y]]


def _delong(y: np.ndarray, scores: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of k score vectors, shape (k,), and DeLong's covariance matrix, shape (k, k)."""
    v10, v01 = zip(*(_placements(y, s) for s in scores), strict=True)
    v10, v01 = np.array(v10), np.array(v01)  # (k, m) and (k, n)
    m, n = v10.shape[1], v01.shape[1]
    _check_class_sizes("DeLong's variance", m, n)
    return v10.mean(axis=1), _covariance(v10) / m + _covariance(v01) / n


def _covariance(rows: np.ndarray) -> np.ndarray:
    """np.cov of k variables in rows, shape (k, k): the same sums, without np.cov's checks and
    copies, which took a third of an upload's scoring at 100,000 events. einsum, not ``@``:
    for one or two rows OpenBLAS splits the long dot products over its threads, which on a busy
    machine wait for a core: 4 to 13 ms per call instead of 0.02 ms."""
    centered = rows - rows.mean(axis=1, keepdims=True)
    return np.einsum("im,jm->ij", centered, centered) / (rows.shape[1] - 1)


def _check_class_sizes(what: str, n_carrier: int, n_absorber: int) -> None:
    if min(n_carrier, n_absorber) < MIN_CLASS_SIZE:
        raise UndefinedMetricError(
            f"{what} is undefined with {n_carrier} carrier (label 1) and {n_absorber} absorber "
            f"(label 0) events: each class needs at least {MIN_CLASS_SIZE}"
        )
