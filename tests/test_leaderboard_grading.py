"""The leaderboard's grading: the answer key's metric (metric.json) scores every upload."""

from __future__ import annotations

import json

import pytest

from challenge.metrics import score_type
from leaderboard import grading
from leaderboard.config import ConfigError
from tests.conftest import submission_bytes


def test_grading_uses_the_metric_recorded_next_to_the_key(app_config, answer_key, make_app):
    key_path = app_config["ANSWER_KEY"]
    assert grading.read_key(key_path).metric == score_type("roc_auc")  # no metric.json
    with open(key_path.replace("answer_key.csv", "metric.json"), "w") as handle:
        json.dump({"metric": "roc_auc"}, handle)
    app = make_app(app_config)
    assert grading.answer_key(app).metric == score_type("roc_auc")
    data = submission_bytes(answer_key, skill=1.5, seed=4)
    table, scored = grading.grade(data, name="s.csv", app=app)
    scores = table.set_index("event_id")["score"]
    for split in ("public", "private"):
        part = answer_key[answer_key["split"] == split]
        expected = score_type("roc_auc").estimate(part["label"], scores[part["event_id"]])
        assert getattr(scored, split) == expected
    columns = scored.columns()
    assert (columns["public_auc"], columns["public_lo"], columns["public_hi"]) == scored.public
    assert (columns["private_auc"], columns["private_lo"], columns["private_hi"]) == scored.private
    assert columns["n_rows"] == len(answer_key)


def test_a_lower_better_metric_is_refused_at_start(app_config, make_app):
    path = app_config["ANSWER_KEY"].replace("answer_key.csv", "metric.json")
    with open(path, "w") as handle:
        json.dump({"metric": "bkg_eff@0.9"}, handle)
    with pytest.raises(ConfigError, match="ranks only by metrics where higher is better"):
        make_app(app_config)


def test_a_broken_metric_record_stops_the_start_with_the_reason(app_config, make_app):
    path = app_config["ANSWER_KEY"].replace("answer_key.csv", "metric.json")
    with open(path, "w") as handle:
        handle.write('{"metric": "accuracy"}')
    with pytest.raises(ConfigError, match="unknown metric 'accuracy'"):
        make_app(app_config)
