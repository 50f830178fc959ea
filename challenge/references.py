"""The reference scores of a challenge's test records: the AUCs of the data card and the bound.

The public references (physics reference learned from train.root, matched filter, heights) go
into the data card; the evaluator's bound (the likelihood ratio that knows the organizers'
detector) and each reference's distance from it go to private/CEILING.md.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np

from challenge import data
from challenge.likelihood import (
    Reference,
    learn_reference,
    log_likelihood_ratio,
)
from challenge.matched_filter import matched_filter_score, pulse_height_estimate
from challenge.metrics import Estimate, delong_test, roc_auc_ci, roc_auc_score
from challenge.planning import DEFAULT_AUC
from challenge.records import RecordBatch
from challenge.secret import open_private
from challenge.simulate import process_pool

LEARN_RECORDS = 2000  # train records from which the data card's learned reference is made


class ReferenceScores:
    """Accumulates the data card's reference scores on the test records, batch by batch.

    The physics reference is learned from the training records (``learn_reference``), for
    simulated and imported data alike. The evaluator's bound (the likelihood ratio that knows the
    organizers' detector, ``oracle_reference``), when the packager knows that detector, goes to
    private/, never into the public data card.
    """

    NAMES = {
        "physics": "physics reference: likelihood ratio over onset and height with templates, "
        "noise and onset window learned from train.root",
        "mf": "plain matched filter with the public simulator's templates (chi² absorber - chi² "
        "carrier)",
        "height": "measured pulse height (smoothed maximum)",
        "true_height": "true pulse height (simulation truth)",
    }
    BOUND = "best achievable bound: likelihood ratio that knows the organizers' detector"

    def __init__(
        self,
        metadata: dict,
        learned: Reference | str,
        oracle: Reference | None = None,
        *,
        workers: int = 1,
    ):
        self.metadata, self.physics, self.oracle = metadata, learned, oracle
        self.scores: dict[str, list] = {key: [] for key in ("label", "bound", *self.NAMES)}
        self.missing: dict[str, str] = {}
        if isinstance(learned, str):
            self.missing["physics"] = learned
        if oracle is None:
            self.missing["bound"] = "the organizers' detector is not known (imported records)"
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._pending: deque[Future] = deque()

    def __call__(self, batch: RecordBatch) -> None:
        """Scores one batch of test records: here, or in ``workers`` processes, in order."""
        self.scores["label"].append(np.asarray(batch.label))
        if "pulse_height" in batch.truth:
            self.scores["true_height"].append(np.asarray(batch.truth["pulse_height"]))
        else:
            self.missing["true_height"] = "the records carry no true pulse height"
        skip = frozenset(self.missing)
        if self.workers <= 1:
            self._store(score_batch(batch.pulse, self.metadata, self.physics, self.oracle, skip))
            return
        if self._pool is None:
            self._pool = process_pool(
                self.workers,
                initializer=_init_worker,
                initargs=(self.metadata, self.physics, self.oracle),
            )
        self._pending.append(self._pool.submit(_score_in_worker, batch.pulse, skip))
        while len(self._pending) > 2 * self.workers:  # bounded: the writer waits for the pool
            self._store(self._pending.popleft().result())

    def _store(self, result: dict[str, np.ndarray | str]) -> None:
        for name, value in result.items():
            if isinstance(value, str):  # the reason goes into the data card instead of a number
                self.missing.setdefault(name, value)
            else:
                self.scores[name].append(value)

    def close(self) -> None:
        """Collects the scores still computed by the workers and stops them."""
        try:
            while self._pending:
                self._store(self._pending.popleft().result())
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None

    def _auc(self, key: str, y: np.ndarray):
        return self.missing.get(key) or roc_auc_ci(y, np.concatenate(self.scores[key]))

    PHYSICS_REFERENCE = "physics"  # the reference AUC at which the split resolution is planned

    def aucs(self) -> dict[str, Estimate | str]:
        """ROC AUC with a 95% DeLong interval per public reference, or the reason it is missing."""
        y = np.concatenate(self.scores["label"])
        return {title: self._auc(key, y) for key, title in self.NAMES.items()}

    def bound(self) -> tuple[Estimate | str, dict[str, str]]:
        """The evaluator-only bound (AUC with its interval, or why it is missing) and, for each
        public reference, its distance from the bound with the paired DeLong p-value."""
        y = np.concatenate(self.scores["label"])
        bound = self._auc("bound", y)
        if isinstance(bound, str):
            return bound, {}
        scores = np.concatenate(self.scores["bound"])
        distances = {}
        for key, title in self.NAMES.items():
            if key in self.missing:
                continue
            other = np.concatenate(self.scores[key])
            _, p = delong_test(y, other, scores)
            delta = roc_auc_score(y, other) - bound.value
            distances[title] = f"{delta:+.4f} (paired DeLong p = {p:.2g})"
        return bound, distances

    def reference_auc(self) -> tuple[float, str]:
        """(AUC, its name) of the physics reference, or DEFAULT_AUC when it is missing."""
        found = self.aucs()[self.NAMES[self.PHYSICS_REFERENCE]]
        if isinstance(found, str):
            return DEFAULT_AUC, f"a default of {DEFAULT_AUC} (the physics reference: {found})"
        auc = min(max(0.5, found.value), np.nextafter(1.0, 0.0))  # planning needs AUC < 1
        return auc, f"the {self.NAMES[self.PHYSICS_REFERENCE]} on this test set"


def score_batch(
    pulse: np.ndarray,
    metadata: dict,
    physics: Reference | str,
    oracle: Reference | None,
    skip: frozenset[str] = frozenset(),
) -> dict[str, np.ndarray | str]:
    """The reference scores (n,) of one batch of test pulses (n, L) by name, or the reason
    (a ValueError's text) why a reference cannot score them; the names in ``skip`` are left out."""
    X = np.asarray(pulse, np.float32) * np.float32(metadata["volts_per_count"])
    compute: dict[str, Callable[[], np.ndarray]] = {
        "physics": lambda: log_likelihood_ratio(X, physics),
        "bound": lambda: log_likelihood_ratio(X, oracle),
        "mf": lambda: matched_filter_score(X, metadata=metadata),
        "height": lambda: pulse_height_estimate(X, metadata=metadata),
    }
    out: dict[str, np.ndarray | str] = {}
    for name, score in compute.items():
        if name in skip:
            continue
        try:
            out[name] = score()
        except ValueError as err:
            out[name] = str(err)
    return out


_WORKER_REFERENCES: tuple = ()  # (metadata, physics, oracle) in a scoring process


def _init_worker(metadata: dict, physics: Reference | str, oracle: Reference | None) -> None:
    global _WORKER_REFERENCES
    _WORKER_REFERENCES = (metadata, physics, oracle)


def _score_in_worker(pulse: np.ndarray, skip: frozenset[str]) -> dict[str, np.ndarray | str]:
    return score_batch(pulse, *_WORKER_REFERENCES, skip)


def learned_reference(out: Path, metadata: dict) -> Reference | str:
    """The physics reference learned from the first LEARN_RECORDS records of train.root.

    Returns the reference, or the reason why it cannot be learned from these data.
    """
    first = next(data.iterate("train", out, step_size=LEARN_RECORDS))
    try:
        return learn_reference(first.X, first.y, metadata=metadata)
    except ValueError as err:
        return str(err)


def write_ceiling(path: Path, bound: Estimate | str, distances: dict[str, str], aucs: dict) -> Path:
    """private/CEILING.md: the best achievable bound, and each public reference's AUC and
    distance from it (owner-only)."""
    rows = auc_rows({ReferenceScores.BOUND: bound, **aucs})
    gaps = "\n".join(f"| {name} | {gap} |" for name, gap in distances.items())
    text = f"""# Headroom of this challenge (organizers only)

| score | test ROC AUC | 95% DeLong interval |
|---|---|---|
{rows}

| score | AUC minus the bound's, on the same test records |
|---|---|
{gaps}

The bound is the likelihood ratio of carrier against absorber with the detector that drew these
records (its noise spectrum, pulse shapes along their continuum and their spread, the energy
each class shares with the other crystal, onset window and height spectrum), each record's
onset, height, shape and baseline integrated over their priors: what the best method could
reach if it knew the organizers' detector, which no team does. It does not model the
record-to-record noise, saturation, tails of earlier pulses and artifacts (pile-up, flux jumps,
spikes), so a method that learns them could pass it by a little; `python -m
benchmarks.bench_reference` measures how much with paired ablations (the same records drawn
again without them). Keep this file private: it is computed from the organizers' detector.
"""
    with open_private(path, encoding="utf-8") as handle:
        handle.write(text)
    return path


def auc_rows(references: dict) -> str:
    """Markdown rows | name | AUC | [lo, hi] |, or the reason a value is missing."""
    return "\n".join(
        f"| {name} | {a.value:.4f} | [{a.lo:.4f}, {a.hi:.4f}] |"
        if not isinstance(a, str)
        else f"| {name} | not computed: {a} | |"
        for name, a in references.items()
    )
