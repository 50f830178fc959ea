"""Scores a validated submission against the organizers' answer key, per split.

The answer key (``private/answer_key.csv``) has columns ``event_id,label,split``: the label is
1 for carrier and 0 for absorber events, the split ``public`` (scored at once) or ``private``
(scored, but shown only when the organizers reveal the final ranking). The metric that scores
them is recorded next to the key, in ``metric.json`` (``challenge generate --metric``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from challenge.metrics import (
    DEFAULT_SCORE_TYPE,
    MIN_CLASS_SIZE,
    Estimate,
    ScoreType,
    score_type,
)
from challenge.secret import open_private

KEY_SPLITS = ("public", "private")  # of the test events, in the answer key
METRIC_FILE = "metric.json"  # next to the answer key: {"metric": "roc_auc"}


class AnswerKeyError(ValueError):
    """An answer key that cannot be used for scoring; the message names the file and the fault."""


def load_answer_key(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check an answer key.

    Returns a DataFrame with columns ``event_id`` (int64), ``label`` (int8) and ``split`` (str).
    """
    try:
        key = pd.read_csv(path, dtype={"event_id": "int64", "label": "int8", "split": "str"})
    except FileNotFoundError:
        raise AnswerKeyError(f"{path}: no such answer key; run `challenge generate`") from None
    except (ValueError, OverflowError, pd.errors.ParserError) as err:
        raise AnswerKeyError(f"{path}: not a valid answer key CSV ({err})") from None
    if list(key.columns) != ["event_id", "label", "split"]:
        raise AnswerKeyError(
            f"{path}: columns are {list(key.columns)}, expected ['event_id', 'label', 'split']"
        )
    problems = {
        "duplicated event_id": key["event_id"].duplicated(),
        "label not 0 or 1": ~key["label"].isin([0, 1]),
        "split not public or private": ~key["split"].isin(KEY_SPLITS),
    }
    for problem, bad in problems.items():
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise AnswerKeyError(f"{path}, line {row + 2}: {problem}: {key.iloc[row].tolist()}")
    for split in KEY_SPLITS:
        counts = key.loc[key["split"] == split, "label"].value_counts()
        if min(counts.get(0, 0), counts.get(1, 0)) < MIN_CLASS_SIZE:
            raise AnswerKeyError(
                f"{path}: the {split} split needs both labels, at least {MIN_CLASS_SIZE} events "
                f"of each for an interval; has {counts.get(0, 0)} of label 0 and "
                f"{counts.get(1, 0)} of label 1"
            )
    return key


def score_submission(
    submission: pd.DataFrame,
    answer_key: pd.DataFrame,
    metric: ScoreType | None = None,
    *,
    overall: bool = True,
) -> dict[str, Estimate]:
    """The metric (ROC AUC by default) with its 95% interval on the public split, the private
    split and, with ``overall``, all events (the leaderboard, which never shows it, saves a
    third of the scoring).

    ``submission`` must hold every event of the key once, as ``read_submission`` with
    ``expected_ids=answer_key.event_id`` guarantees.
    """
    scores = aligned_scores(submission, answer_key["event_id"])
    if np.isnan(scores).any():
        raise ValueError(
            "the submission does not cover the answer key; validate it against the key"
        )
    metric = metric or score_type(DEFAULT_SCORE_TYPE)
    labels, splits = answer_key["label"].to_numpy(), answer_key["split"].to_numpy()
    masks = {split: splits == split for split in KEY_SPLITS}
    result = {split: metric.estimate(labels[mask], scores[mask]) for split, mask in masks.items()}
    if overall:
        result["overall"] = metric.estimate(labels, scores)
    return result


def aligned_scores(submission: pd.DataFrame, event_ids) -> np.ndarray:
    """The submission's scores in the order of ``event_ids`` (shape (n,), float64); NaN where
    the submission has no row for an id. The one alignment of scores with the answer key."""
    by_id = submission.set_index("event_id")["score"]
    return by_id.reindex(np.asarray(event_ids)).to_numpy(np.float64)


def write_metric(answer_key_path: str | os.PathLike, metric: ScoreType) -> Path:
    """Record the challenge's metric next to its answer key (owner-only, like the key), where
    ``load_metric`` reads it."""
    path = Path(answer_key_path).with_name(METRIC_FILE)
    with open_private(path, encoding="utf-8") as handle:
        handle.write(json.dumps({"metric": metric.name}) + "\n")
    return path


def load_metric(answer_key_path: str | os.PathLike) -> ScoreType:
    """The metric recorded next to the answer key; ROC AUC for a key made before it was recorded."""
    path = Path(answer_key_path).with_name(METRIC_FILE)
    try:
        name = json.loads(path.read_text(encoding="utf-8"))["metric"]
        return score_type(name)
    except FileNotFoundError:
        return score_type(DEFAULT_SCORE_TYPE)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise AnswerKeyError(
            f'{path}: not a metric record like {{"metric": "roc_auc"}} ({err})'
        ) from None
