"""Rank intervals: how sure the test events make each team's place, by a paired bootstrap.

As in the challengeR toolkit (Wiesenfarth et al., Sci. Rep. 11, 2369 (2021)): the test events
are resampled with replacement, the same resample for every team (so teams stay paired), every
team's AUC is computed on each resample and the teams are ranked on it (ties share the best
rank, R's ``ties.method = "min"``); a team's 95% interval runs from the 2.5% to the 97.5%
quantile of its ranks. Resampling is stratified, positives and negatives apart (pROC's default
for AUC), so that no resample lacks a class.

A resample is a vector of counts (how often each event was drawn), so a team's AUC on it is a
weighted Mann-Whitney statistic. Sorting each team's scores once, that is cumulative sums of
counts: no resampled copy of the scores is ever made. Exact in integers, ties counting one half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from challenge.metrics import RocAuc, ScoreType

LEVEL = 0.95  # the rank intervals' coverage


def resample_counts(labels: np.ndarray, *, resamples: int, seed: int) -> np.ndarray:
    """How often each event is drawn in each resample, uint8 (resamples, n). Each resample draws,
    with replacement, as many positives and as many negatives as ``labels`` holds; its drawn
    events are ``np.repeat(np.arange(n), counts[b])``. Deterministic for a seed."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    counts = np.zeros((resamples, len(labels)), dtype=np.uint8)
    for cls in (0, 1):
        members = np.flatnonzero(labels == cls)
        if len(members) == 0:
            raise ValueError(f"labels hold no event of class {cls}: an AUC needs both classes")
        drawn = rng.integers(0, len(members), size=(resamples, len(members)), dtype=np.int32)
        flat = (drawn + (np.arange(resamples, dtype=np.int64) * len(members))[:, None]).ravel()
        per_class = np.bincount(flat, minlength=resamples * len(members))
        if per_class.max(initial=0) > np.iinfo(np.uint8).max:
            raise ValueError("an event was drawn over 255 times in one resample: too few events")
        counts[:, members] = per_class.reshape(resamples, len(members))
    return counts


@dataclass(frozen=True)
class Resamples:
    """The resamples of one split, laid out for ``auc_samples``: per class, (events, resamples)."""

    positive: np.ndarray  # bool (n,)
    counts_pos: np.ndarray  # uint8 (n_pos, B), C order: one event's counts are contiguous
    counts_neg: np.ndarray  # uint8 (n_neg, B)
    seed: int

    @property
    def resamples(self) -> int:
        return self.counts_pos.shape[1]


def make_resamples(labels: np.ndarray, *, resamples: int, seed: int) -> Resamples:
    labels = np.asarray(labels)
    counts = resample_counts(labels, resamples=resamples, seed=seed)
    positive = labels == 1
    return Resamples(
        positive=positive,
        counts_pos=np.ascontiguousarray(counts[:, positive].T),
        counts_neg=np.ascontiguousarray(counts[:, ~positive].T),
        seed=seed,
    )


CUMSUM_BLOCK = 64  # rows per block of ``_cumsum_rows``


def _cumsum_rows(counts: np.ndarray, dtype: type) -> np.ndarray:
    """Running sums down the rows of ``counts`` (k, B), with a zero row first: (k + 1, B).

    numpy's cumsum along axis 0 walks a C-ordered array column by column (about 20 times slower
    here); summing whole rows, within blocks and then across them, streams through memory.
    """
    rows, width = counts.shape
    blocks = -(-rows // CUMSUM_BLOCK)
    out = np.zeros((1 + blocks * CUMSUM_BLOCK, width), dtype=dtype)
    out[1 : rows + 1] = counts
    view = out[1:].reshape(blocks, CUMSUM_BLOCK, width)
    for j in range(1, CUMSUM_BLOCK):
        view[:, j] += view[:, j - 1]
    for b in range(1, blocks):
        view[b] += view[b - 1, -1]
    return out[: rows + 1]


def auc_samples(scores: np.ndarray, resamples: Resamples) -> np.ndarray:
    """One team's AUC on every resample, float64 (B,); ``scores`` (n,) in the labels' order."""
    scores = np.asarray(scores, dtype=np.float64)
    negatives = scores[~resamples.positive]
    order = np.argsort(negatives, kind="stable")
    # below[k]: drawn negatives among the k lowest-scored ones, per resample; at most n_neg.
    n_neg = len(order)
    dtype = np.uint16 if n_neg <= np.iinfo(np.uint16).max else np.int64
    below = _cumsum_rows(resamples.counts_neg[order], dtype)
    sorted_negatives = negatives[order]
    positives = scores[resamples.positive]
    lo = np.searchsorted(sorted_negatives, positives, side="left")
    hi = np.searchsorted(sorted_negatives, positives, side="right")
    # Twice the Mann-Whitney count: 2 per negative below a positive, 1 per tied negative, that
    # is below[lo] + below[hi] per positive: one product, with no pass apart for the ties.
    n_pos = len(positives)
    fits = below.dtype == np.uint16 and 2 * n_neg <= np.iinfo(np.uint16).max
    both = below[lo] + below[hi] if fits else below[lo].astype(np.int64) + below[hi]
    # Every resample draws exactly n_pos positives and n_neg negatives, so twice a count of
    # pairs is at most 2 * n_pos * n_neg: int32 holds it exactly up to about 65,000 events, and
    # is faster.
    exact = np.int32 if 2 * n_pos * n_neg <= np.iinfo(np.int32).max else np.int64
    twice = np.einsum("ib,ib->b", resamples.counts_pos, both, dtype=exact).astype(np.int64)
    return twice / (2.0 * n_pos * n_neg)


def metric_samples(scores: np.ndarray, resamples: Resamples, metric: ScoreType) -> np.ndarray:
    """One team's score by ``metric`` on every resample, float64 (B,). The ROC AUC takes the
    vectorised path; any other metric is computed on each resample's drawn events in turn."""
    if isinstance(metric, RocAuc):
        return auc_samples(scores, resamples)
    scores = np.asarray(scores, dtype=np.float64)
    labels = resamples.positive.astype(np.int8)
    order = np.concatenate(
        [np.flatnonzero(resamples.positive), np.flatnonzero(~resamples.positive)]
    )
    counts = np.concatenate([resamples.counts_pos, resamples.counts_neg])  # (n, B), in ``order``
    values = np.empty(resamples.resamples)
    for b in range(resamples.resamples):
        events = np.repeat(order, counts[:, b])
        values[b] = metric.score(labels[events], scores[events])
    return values


@dataclass(frozen=True)
class RankIntervals:
    """Per team (in the order given): the 95% rank interval and how often each rank came up."""

    lo: np.ndarray  # int (T,)
    hi: np.ndarray  # int (T,)
    rank_counts: np.ndarray  # int (T, T): rank_counts[t, r - 1] resamples with team t at rank r


def rank_intervals(
    samples: np.ndarray, *, higher_is_better: bool = True, level: float = LEVEL
) -> RankIntervals:
    """Rank intervals from the teams' scores on the same resamples, ``samples`` (T, B).

    The bounds are the floor and ceiling of R's default (type 7) quantiles, so that they are
    whole ranks and cover at least ``level``.
    """
    from scipy.stats import rankdata  # here: every `leaderboard` command would pay its import

    samples = np.asarray(samples, dtype=np.float64)
    n_teams = samples.shape[0]
    if n_teams == 0:
        empty = np.zeros(0, dtype=np.int64)
        return RankIntervals(empty, empty, np.zeros((0, 0), dtype=np.int64))
    best_first = -samples if higher_is_better else samples
    ranks = rankdata(best_first, method="min", axis=0).astype(np.int64)  # (T, B)
    tail = (1 - level) / 2
    lo = np.quantile(ranks, tail, axis=1, method="lower")
    hi = np.quantile(ranks, 1 - tail, axis=1, method="higher")
    offsets = (np.arange(n_teams) * n_teams)[:, None]
    counts = np.bincount((ranks - 1 + offsets).ravel(), minlength=n_teams * n_teams)
    return RankIntervals(lo.astype(np.int64), hi.astype(np.int64), counts.reshape(n_teams, -1))
