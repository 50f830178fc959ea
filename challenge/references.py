"""The reference scores of a challenge's test records: the AUCs of the data card and the bound.

The public references (physics reference learned from train.root, matched filter, heights) go
into the data card; the evaluator's bound (the likelihood ratio that knows the organizers'
detector) and each reference's distance from it go to private/CEILING.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from challenge import data
from challenge.likelihood import LikelihoodRatio, Reference, learn_reference
from challenge.matched_filter import matched_filter_score, pulse_height_estimate
from challenge.metrics import Estimate, delong_test, roc_auc_ci, roc_auc_score
from challenge.planning import DEFAULT_AUC
from challenge.records import RecordBatch
from challenge.secret import open_private
from challenge.simulate import process_pool

LEARN_RECORDS = 2000  # train records from which the data card's learned reference is made


class ReferenceScores:
    """The data card's reference scores on the test records.

    The packager passes each batch of test records on its way to test.root (``__call__`` keeps
    the labels and true heights, in order); ``score`` then reads test.root back and scores it,
    in ``workers`` processes. The physics reference is learned from the training records
    (``learned_reference``), for simulated and imported data alike. The evaluator's bound (the
    likelihood ratio that knows the organizers' detector, ``oracle_reference``), when the
    packager knows that detector, goes to private/, never into the public data card.
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

    def __init__(self, metadata: dict, oracle: Reference | None = None, *, workers: int = 1):
        self.metadata, self.oracle, self.workers = metadata, oracle, workers
        self.scores: dict[str, list] = {key: [] for key in ("label", "bound", *self.NAMES)}
        self.missing: dict[str, str] = {}
        if oracle is None:
            self.missing["bound"] = "the organizers' detector is not known (imported records)"
        self._scorer: _Scorer | None = None

    def __call__(self, batch: RecordBatch) -> None:
        """Keeps the labels (and true heights) of one batch of test records, in order.

        At the first batch it prepares the references (the oracle's bank takes a second), while
        the workers simulate the next test records; the scoring processes inherit them."""
        self._prepared()
        self.scores["label"].append(np.asarray(batch.label))
        if "pulse_height" in batch.truth:
            self.scores["true_height"].append(np.asarray(batch.truth["pulse_height"]))
        else:
            self.missing["true_height"] = "the records carry no true pulse height"

    def score(
        self, path: Path, physics: Callable[[], Reference | str], *, progress: bool = True
    ) -> None:
        """Scores the test records of ``path`` (the file written from the batches) with every
        reference, WRITE_BATCH records at a time: here, or in ``workers`` processes, in order.
        The physics reference, from ``physics()`` (or the reason it is missing), scores last:
        the others are already on their way while it is still being learned."""
        n = sum(len(y) for y in self.scores["label"])
        ranges = [(a, min(a + data.WRITE_BATCH, n)) for a in range(0, n, data.WRITE_BATCH)]
        bar = tqdm(total=2 * n, unit="events", desc="references", disable=not progress,
                   leave=False)  # fmt: skip
        with bar, _scoring(self.workers, self._prepared()) as score:
            passes = [score(path, ranges, None)]  # a pool starts them at once
            learned = physics()
            if isinstance(learned, str):
                self.missing["physics"] = learned
            else:
                passes.append(score(path, ranges, learned))
            for results in passes:
                for (start, stop), result in zip(ranges, results, strict=True):
                    self._store(result)
                    bar.update(stop - start)

    def _prepared(self) -> _Scorer:
        if self._scorer is None:
            self._scorer = _Scorer(self.metadata, self.oracle, frozenset(self.missing))
        return self._scorer

    def _store(self, result: dict[str, np.ndarray | str]) -> None:
        for name, value in result.items():
            if isinstance(value, str):  # the reason goes into the data card instead of a number
                self.missing.setdefault(name, value)
            else:
                self.scores[name].append(value)

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


class _Scorer:
    """Scores ranges of records of a test file with every reference but those skipped, each
    reference prepared once (``LikelihoodRatio``): the physics reference at its first range."""

    def __init__(self, metadata: dict, oracle, skip: frozenset[str]):
        makers: dict[str, Callable[[], Callable[[np.ndarray], np.ndarray]]] = {
            "bound": lambda: LikelihoodRatio(oracle),
            "mf": lambda: partial(matched_filter_score, metadata=metadata),
            "height": lambda: partial(pulse_height_estimate, metadata=metadata),
        }
        self.compute = {name: make() for name, make in makers.items() if name not in skip}
        self.physics: LikelihoodRatio | None = None

    def __call__(
        self, path: Path, start: int, stop: int, physics: Reference | None = None
    ) -> dict[str, np.ndarray | str]:
        """The scores (n,) of the records [start, stop) of ``path`` by name: of every reference
        but the physics one, or of ``physics`` alone; or the reason (a ValueError's text) why a
        reference cannot score them."""
        (events,) = data.iterate_file(path, stop - start, entries=(start, stop))
        if physics is None:
            compute = self.compute
        else:
            self.physics = self.physics or LikelihoodRatio(physics)
            compute = {"physics": self.physics}
        out: dict[str, np.ndarray | str] = {}
        for name, score in compute.items():
            try:
                out[name] = score(events.X)
            except ValueError as err:
                out[name] = str(err)
        return out


@contextmanager
def _scoring(
    workers: int, scorer: _Scorer
) -> Iterator[Callable[[Path, list, Reference | None], Iterator[dict]]]:
    """A function that scores the (start, stop) ranges of a test file in order with ``scorer``:
    here, or in ``workers`` processes that inherit it as they are forked."""
    if workers <= 1:
        yield lambda path, ranges, physics: (
            scorer(path, start, stop, physics) for start, stop in ranges
        )
        return
    with process_pool(workers, initializer=_init_worker, initargs=(scorer,)) as pool:
        yield lambda path, ranges, physics: pool.map(
            partial(_score_in_worker, path, physics), ranges
        )


_WORKER_SCORER: _Scorer | None = None  # in a scoring process


def _init_worker(scorer: _Scorer) -> None:
    global _WORKER_SCORER
    _WORKER_SCORER = scorer


def _score_in_worker(path: Path, physics, entries: tuple[int, int]) -> dict[str, np.ndarray | str]:
    return _WORKER_SCORER(path, *entries, physics)


def learned_reference(X: np.ndarray, y: np.ndarray, metadata: dict) -> Reference | str:
    """The physics reference learned from training records X (n, L) in volts and their labels,
    or the reason why it cannot be learned from these data."""
    try:
        return learn_reference(X, y, metadata=metadata)
    except ValueError as err:
        return str(err)


class Learning:
    """The physics reference of the data card, learned from the first LEARN_RECORDS records of
    train.root as they are written (``__call__`` takes each batch, and reads it as the file
    gives it back, ``data.as_read``).

    With ``workers`` > 1 it is learned in a process of its own as soon as it has its records (or
    ``start`` says there are no more), while the rest of the challenge is simulated and written;
    here otherwise. ``result`` waits for it; ``close`` stops the process.
    """

    def __init__(self, metadata: dict, *, workers: int = 1):
        self.metadata, self.workers = metadata, workers
        self.pulses: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self._pool = None
        self._future = None

    def __call__(self, batch: RecordBatch) -> None:
        wanted = LEARN_RECORDS - sum(len(y) for y in self.labels)
        if wanted <= 0:
            return
        self.pulses.append(data.as_read(batch.pulse[:wanted], self.metadata))
        self.labels.append(np.array(batch.label[:wanted]))
        if wanted <= len(batch.label):
            self.start()

    def start(self) -> None:
        """Starts learning from the records it has (with ``workers`` > 1; once)."""
        if self.workers > 1 and self._future is None:
            # The records reach the process as it is forked, not through a pipe (pickling the
            # 64 MB of a thousand records held up the writing by most of a second).
            self._pool = process_pool(1, initializer=_hold,
                                      initargs=(*self._records(), self.metadata))  # fmt: skip
            self._future = self._pool.submit(_learn_held)

    def _records(self) -> tuple[np.ndarray, np.ndarray]:
        X, y = np.concatenate(self.pulses), np.concatenate(self.labels)
        self.pulses, self.labels = [X], [y]
        return X, y

    def result(self) -> Reference | str:
        if self._future is not None:
            return self._future.result()
        return learned_reference(*self._records(), self.metadata)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


_HELD: tuple = ()  # in a learning process: the records and metadata to learn from


def _hold(*args) -> None:
    global _HELD
    _HELD = args


def _learn_held() -> Reference | str:
    return learned_reference(*_HELD)


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
