"""Scoring against the answer key, and the checks on the key itself."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from challenge.metrics import roc_auc_ci, score_type
from challenge.scoring import (
    AnswerKeyError,
    load_answer_key,
    load_metric,
    score_submission,
    write_metric,
)

KEY = (
    "event_id,label,split\n1,0,public\n2,1,public\n3,0,private\n4,1,private\n5,1,private\n"
    "6,0,public\n7,1,public\n8,0,private\n"
)


@pytest.fixture
def key_path(tmp_path):
    path = tmp_path / "answer_key.csv"
    path.write_text(KEY)
    return path


def test_scores_each_split_with_hand_worked_values(key_path):
    key = load_answer_key(key_path)
    # public: ids 1 (0), 2 (1), 6 (0), 7 (1) -> each positive outranks one of two negatives: 0.5
    # private: ids 3 (0), 4 (1), 5 (1), 8 (0) -> both positives outrank both negatives: AUC 1
    submission = pd.DataFrame(
        {"event_id": [6, 5, 4, 3, 2, 1, 7, 8], "score": [0.9, 0.8, 0.7, 0.1, 0.5, 0.2, 0.3, 0.6]}
    )
    result = score_submission(submission, key)
    assert result["public"].value == 0.5
    assert result["private"].value == 1.0
    # overall: positives .5, .7, .8, .3 against negatives .2, .1, .9, .6: 10 of 16 pairs
    assert result["overall"].value == 10 / 16
    labels = key["label"].to_numpy()
    scores = np.array([0.2, 0.5, 0.1, 0.7, 0.8, 0.9, 0.3, 0.6])
    assert result["overall"] == roc_auc_ci(labels, scores)


def test_without_overall_the_splits_score_the_same(key_path):
    key = load_answer_key(key_path)
    submission = pd.DataFrame(
        {"event_id": [6, 5, 4, 3, 2, 1, 7, 8], "score": [0.9, 0.8, 0.7, 0.1, 0.5, 0.2, 0.3, 0.6]}
    )
    full = score_submission(submission, key)
    splits = score_submission(submission, key, overall=False)
    assert splits == {"public": full["public"], "private": full["private"]}


def test_refuses_a_submission_that_misses_events(key_path):
    with pytest.raises(ValueError, match="does not cover the answer key"):
        score_submission(
            pd.DataFrame({"event_id": [1, 2], "score": [0.1, 0.2]}), load_answer_key(key_path)
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("event_id,label\n1,0\n", "columns are \\['event_id', 'label'\\]"),
        (KEY + "1,1,public\n", "line 10: duplicated event_id"),
        (KEY.replace("2,1,public", "2,2,public"), "line 3: label not 0 or 1"),
        (KEY.replace("3,0,private", "3,0,secret"), "line 4: split not public or private"),
        (KEY.replace("2,1,public", "2,0,public"), "the public split needs both labels"),
        (KEY.replace("2,1,public\n", ""), "has 2 of label 0 and 1 of label 1"),
        (KEY.replace("3,0,private", "3,1,private"), "private split .* has 1 of label 0 and 3 of"),
        ("event_id,label,split\nx,0,public\n", "not a valid answer key CSV"),
    ],
)
def test_a_bad_answer_key_is_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "key.csv"
    path.write_text(text)
    with pytest.raises(AnswerKeyError, match=message):
        load_answer_key(path)


def test_a_missing_answer_key_says_how_to_make_one(tmp_path):
    with pytest.raises(AnswerKeyError, match="no such answer key; run `challenge generate`"):
        load_answer_key(tmp_path / "nope.csv")


def test_the_metric_recorded_next_to_the_key_scores_it(key_path):
    assert load_metric(key_path) == score_type("roc_auc")  # a key made before metrics were chosen
    path = write_metric(key_path, score_type("bkg_eff@0.5"))
    assert path == key_path.with_name("metric.json")
    assert json.loads(path.read_text()) == {"metric": "bkg_eff@0.5"}
    assert path.stat().st_mode & 0o777 == 0o600
    metric = load_metric(key_path)
    assert metric == score_type("bkg_eff@0.5")
    # A cut keeping half the signal (label 0), and the carriers (label 1) that pass it:
    # public: signal 1 (.2), 6 (.9): cut at .2; carriers 2 (.15) passes, 7 (.3) not: 0.5
    # private: signal 3 (.1), 8 (.6): cut at .1; carriers 4 (.7), 5 (.8): 0
    # overall: signal .1 .2 .6 .9: cut at .2; carriers .15 .7 .8 .3: 0.25
    scores = {1: 0.2, 2: 0.15, 3: 0.1, 4: 0.7, 5: 0.8, 6: 0.9, 7: 0.3, 8: 0.6}
    submission = pd.DataFrame({"event_id": list(scores), "score": list(scores.values())})
    key = load_answer_key(key_path)
    result = score_submission(submission, key, metric)
    assert [result[s].value for s in ("public", "private", "overall")] == [0.5, 0.0, 0.25]
    assert result["overall"] == metric.estimate(key["label"], key["event_id"].map(scores))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"metric": "auc"}', "unknown metric 'auc'"),
        ('{"name": "roc_auc"}', "not a metric record"),
        ("roc_auc", "not a metric record"),
    ],
)
def test_a_bad_metric_record_is_refused_with_the_reason(key_path, text, message):
    key_path.with_name("metric.json").write_text(text)
    with pytest.raises(AnswerKeyError, match=message):
        load_metric(key_path)
