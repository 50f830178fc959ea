"""The answer key of a running leaderboard and the scoring of uploads with the challenge's own code.

The validator is ``challenge.submission.read_submission`` and the metric ``challenge.scoring``;
this module only holds the key in memory and caches the scores of stored files.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

import numpy as np
import pandas as pd
from flask import Flask

from challenge.metrics import Estimate, ScoreType
from challenge.scoring import (
    AnswerKeyError,
    aligned_scores,
    load_answer_key,
    load_metric,
    score_submission,
)
from challenge.submission import read_submission
from leaderboard import bootstrap, shared_files
from leaderboard.config import ConfigError
from leaderboard.state import state_of


@dataclass(frozen=True)
class AnswerKey:
    """The loaded key: the table as ``challenge.scoring`` reads it, the ids and labels of each
    split (``ids["public"]`` int64 (n_public,), ``labels["private"]`` int8, ...), and the metric
    recorded next to it (``metric.json``; ROC AUC if there is none)."""

    table: pd.DataFrame
    metric: ScoreType
    ids: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]

    @property
    def private_ids(self) -> np.ndarray:
        return self.ids["private"]

    @property
    def private_labels(self) -> np.ndarray:
        return self.labels["private"]


@dataclass(frozen=True)
class Scored:
    """What one accepted file is: its rows and its score (value and interval) on each split."""

    n_rows: int
    public: Estimate
    private: Estimate

    def columns(self) -> dict[str, float | int]:
        """The ``Submission`` columns that hold these scores; ``*_auc`` holds the value of
        whatever metric the challenge uses."""
        columns: dict[str, float | int] = {"n_rows": self.n_rows}
        for split, (value, lo, hi) in (("public", self.public), ("private", self.private)):
            columns.update({f"{split}_auc": value, f"{split}_lo": lo, f"{split}_hi": hi})
        return columns


def read_key(path: str) -> AnswerKey:
    """Load the answer key or raise ConfigError, so that a server never starts without one."""
    try:
        table = load_answer_key(path)
    except AnswerKeyError as err:
        raise ConfigError(f"cannot use the answer key: {err}") from None
    except OSError as err:
        raise ConfigError(f"cannot read the answer key {path}: {err}") from None
    parts = {split: table[table["split"] == split] for split in SPLITS}
    try:
        metric = load_metric(path)
    except AnswerKeyError as err:
        raise ConfigError(f"cannot use the answer key's metric: {err}") from None
    return AnswerKey(
        table=table,
        metric=metric,
        ids={split: part["event_id"].to_numpy(np.int64) for split, part in parts.items()},
        labels={split: part["label"].to_numpy(np.int8) for split, part in parts.items()},
    )


SPLITS = ("public", "private")


@dataclass
class Grading:
    """An app's part of grading: the answer key, the caches of scores computed from stored files,
    the bootstrap resamples drawn so far, and the test records' length (models mode)."""

    answer_key: AnswerKey
    score_cache: ScoreCache
    bootstrap_cache: ScoreCache
    resamples: dict[str, bootstrap.Resamples]
    record_length: int | None


def init_app(app: Flask) -> None:
    models = app.config["SUBMISSIONS"] == "models"
    held = state_of(app).hold(
        Grading(
            answer_key=read_key(app.config["ANSWER_KEY"]),
            score_cache=ScoreCache(maxsize=app.config["SCORE_CACHE_SIZE"]),
            bootstrap_cache=ScoreCache(maxsize=app.config["BOOTSTRAP_CACHE_SIZE"]),
            resamples={},
            record_length=read_record_length(app.config["TEST_RECORDS"]) if models else None,
        )
    )
    metric = held.answer_key.metric
    # Pages show the metric's name and digits: {{ metric.short_label }}, {{ value|score }}.
    app.context_processor(lambda: {"metric": metric})
    app.add_template_filter(metric.format, "score")


def read_record_length(path: str) -> int:
    """The record length of the test records (models mode), from their metadata; ConfigError
    when they cannot be read, so that a server never takes models it cannot check."""
    from challenge.data import DataError, read_file_metadata

    try:
        return int(read_file_metadata(path)["record_length"])
    except DataError as err:
        raise ConfigError(
            f"cannot use the test records (LEADERBOARD_TEST_RECORDS): {err}; in models mode the "
            "leaderboard holds test.root, by default beside the answer key"
        ) from None


def record_length(app: Flask) -> int:
    """The samples in a test record (models mode): what a model's input must take."""
    return _held(app).record_length


def answer_key(app: Flask) -> AnswerKey:
    return _held(app).answer_key


def _held(app: Flask) -> Grading:
    return state_of(app).part(Grading)


def grade(data: bytes, *, name: str, app: Flask) -> tuple[pd.DataFrame, Scored]:
    """Validate and score uploaded bytes; SubmissionError carries the validator's message."""
    key = answer_key(app)
    table = read_submission(
        data,
        expected_ids=key.table["event_id"].to_numpy(),
        max_bytes=app.config["MAX_UPLOAD_BYTES"],
        name=name,
    )
    scores = score_submission(table, key.table, key.metric, overall=False)
    return table, Scored(n_rows=len(table), public=scores["public"], private=scores["private"])


class ScoreCache:
    """Arrays computed from stored files, by (sha256, split); files never change, so entries stay
    valid. Least recently used entries go first."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = Lock()

    def get(self, key: tuple[str, str]) -> np.ndarray | None:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        return None

    def put(self, key: tuple[str, str], scores: np.ndarray) -> None:
        with self._lock:
            self._entries[key] = scores
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)


def split_scores(sha256: str, filename: str, split: str, app: Flask) -> np.ndarray:
    """Scores of a stored file on one split, float64 in the order of ``AnswerKey.ids[split]``."""
    cache = _held(app).score_cache
    scores = cache.get((sha256, split))
    if scores is None:
        key = answer_key(app)
        data = shared_files.load(app, sha256)  # a worker's scores: maybe only in the database
        table = read_submission(
            data,
            expected_ids=key.table["event_id"].to_numpy(),
            max_bytes=max(len(data), app.config["MAX_UPLOAD_BYTES"]),
            name=filename,
        )
        scores = table_scores(table, split, app)
        cache.put((sha256, split), scores)
    return scores


def table_scores(table: pd.DataFrame, split: str, app: Flask) -> np.ndarray:
    """The scores of a validated submission table on one split, float64 in the order of
    ``AnswerKey.ids[split]``."""
    ids = answer_key(app).ids[split]
    return aligned_scores(table, ids)


def private_scores(sha256: str, filename: str, app: Flask) -> np.ndarray:
    """Scores of a stored file on the private split, in the order of ``AnswerKey.private_ids``."""
    return split_scores(sha256, filename, "private", app)


def resamples(split: str, app: Flask) -> bootstrap.Resamples:
    """The bootstrap resamples of a split's events: drawn once per process, the same for all."""
    drawn = _held(app).resamples
    if split not in drawn:  # two threads may both draw; the result is the same for the seed
        drawn[split] = bootstrap.make_resamples(
            answer_key(app).labels[split],
            resamples=app.config["BOOTSTRAP_RESAMPLES"],
            seed=app.config["BOOTSTRAP_SEED"],
        )
    return drawn[split]


def metric_samples(sha256: str, filename: str, split: str, app: Flask) -> np.ndarray:
    """A stored file's score (the challenge's metric) on every bootstrap resample of a split."""
    cache = _held(app).bootstrap_cache
    samples = cache.get((sha256, split))
    if samples is None:
        samples = bootstrap.metric_samples(
            split_scores(sha256, filename, split, app),
            resamples(split, app),
            answer_key(app).metric,
        )
        cache.put((sha256, split), samples)
    return samples
