"""ROC AUC with DeLong's confidence interval and the paired DeLong test.

The variance follows DeLong et al. (1988), computed with the O(n log n) algorithm of
Sun & Xu, IEEE Signal Processing Letters 21 (2014) 1389: one sort of the scores gives every
event's placement value, the fraction of the other class that it outranks (ties count one half).
The degenerate cases follow R's pROC 1.18: a class of one event leaves the variance undefined
(pROC: NA; here UndefinedMetricError), and a nonzero difference of AUCs with a zero variance of
the difference is significant beyond any level (z = ±inf, p = 0).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.stats import norm

MIN_CLASS_SIZE = 2  # DeLong's variance divides by (class size - 1)


class UndefinedMetricError(ValueError):
    """A value that these data leave undefined, such as a variance from a class of one event."""


class AUC(NamedTuple):
    """A ROC AUC with the bounds of its confidence interval."""

    auc: float
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


def roc_auc_ci(y_true, y_score, *, confidence: float = 0.95) -> AUC:
    """ROC AUC with a two-sided confidence interval from DeLong's variance, clipped to [0, 1].

    Parameters
    ----------
    y_true : array of shape (n,), labels 0 and 1, both present.
    y_score : array of shape (n,), finite scores.
    confidence : coverage of the interval, strictly between 0 and 1.

    Raises UndefinedMetricError if a class has fewer than two events (the variance is undefined).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    y, scores = _check_binary(y_true, [y_score])
    aucs, cov = _delong(y, scores)
    auc = float(aucs[0])
    half_width = norm.ppf(0.5 + confidence / 2) * math.sqrt(max(cov[0, 0], 0.0))
    return AUC(auc, float(max(0.0, auc - half_width)), float(min(1.0, auc + half_width)))


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
    diff = float(aucs[0] - aucs[1])
    if var <= 0 or diff == 0:
        # pROC's convention; a tiny negative variance can only be rounding.
        return (0.0, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0)
    z = diff / math.sqrt(var)
    return z, float(2 * norm.sf(abs(z)))


def _check_binary(y_true, score_list) -> tuple[np.ndarray, list[np.ndarray]]:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be one-dimensional, got shape {y.shape}")
    labels = np.unique(y)
    if not np.isin(labels, [0, 1]).all():
        raise ValueError(f"y_true must hold labels 0 and 1, got {labels[:10].tolist()}")
    if len(labels) < 2:
        raise ValueError(
            f"Only one class ({labels.tolist()}) present in y_true: ROC AUC is not defined then"
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
    if min(m, n) < MIN_CLASS_SIZE:
        raise UndefinedMetricError(
            f"DeLong's variance is undefined with {m} carrier (label 1) and {n} absorber "
            f"(label 0) events: each class needs at least {MIN_CLASS_SIZE}"
        )
    cov10, cov01 = np.atleast_2d(np.cov(v10)), np.atleast_2d(np.cov(v01))
    return v10.mean(axis=1), cov10 / m + cov01 / n
