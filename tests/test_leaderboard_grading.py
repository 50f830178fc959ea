"""The leaderboard's grading: the answer key's metric (metric.json) scores every upload."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from challenge.metrics import score_type
from challenge.scoring import write_metric
from challenge.submission import read_submission
from leaderboard import cli, grading
from leaderboard.config import ConfigError
from tests.conftest import Api, submission_bytes


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


def test_a_lower_better_metric_ranks_ascending_and_shows_its_name(app_config, make_app, answer_key):
    metric = score_type("bkg_eff@0.5")
    write_metric(app_config["ANSWER_KEY"], metric)
    app = make_app(app_config)
    api = Api(app.test_client(), answer_key)
    uploads = {}
    for name, skill in (("weak", 0.3), ("strong", 3.0), ("middle", 1.2)):
        data = api.submission(skill=skill, seed=len(uploads))
        response = api.submit(api.register(name), data)
        assert response.status_code == 201 and response.get_json()["metric"] == "bkg_eff@0.5"
        uploads[name] = read_submission(data).set_index("event_id")["score"]

    def part(split):
        rows = answer_key[answer_key["split"] == split]
        return rows["label"].to_numpy(), {
            n: s[rows["event_id"]].to_numpy() for n, s in uploads.items()
        }

    labels, scores = part("public")
    public = {n: metric.estimate(labels, s) for n, s in scores.items()}
    body = api.client.get("/api/leaderboard").get_json()
    assert (body["metric"], body["higher_is_better"]) == ("bkg_eff@0.5", False)
    rows = body["rows"]
    # Lower is better; a tie goes to the earlier upload (the order of ``uploads``).
    assert [r["team"] for r in rows] == sorted(uploads, key=lambda n: public[n].value)
    assert [(r["public_auc"], *r["public_auc_ci"]) for r in rows] == [
        tuple(public[r["team"]]) for r in rows
    ]
    page = api.client.get("/").get_data(as_text=True)
    assert "Ranked by background efficiency at 50% signal efficiency (lower is better)" in page
    assert "Public bkg eff @ 50% sig eff (95% CI)" in page and "AUC" not in page
    assert all(metric.format(public[n].value) in page for n in uploads)

    result = CliRunner().invoke(cli.main, ["reveal"], obj=app)
    assert result.exit_code == 0, result.output
    labels, scores = part("private")
    rows = [r for r in api.client.get("/api/leaderboard").get_json()["rows"]]
    assert [r["team"] for r in rows] == sorted(
        uploads, key=lambda n: metric.score(labels, scores[n])
    )
    for row, following in zip(rows, rows[1:], strict=False):
        _, p = metric.paired_test(labels, scores[row["team"]], scores[following["team"]])
        assert row["p_value_vs_next"] == p
    assert "p: paired bootstrap test" in api.client.get("/").get_data(as_text=True)
    for figure in ("/roc.png", "/teams/1/scores.png"):
        response = api.client.get(figure)
        assert response.status_code == 200 and response.data.startswith(b"\x89PNG")


def test_a_broken_metric_record_stops_the_start_with_the_reason(app_config, make_app):
    path = app_config["ANSWER_KEY"].replace("answer_key.csv", "metric.json")
    with open(path, "w") as handle:
        handle.write('{"metric": "accuracy"}')
    with pytest.raises(ConfigError, match="unknown metric 'accuracy'"):
        make_app(app_config)
