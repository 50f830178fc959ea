"""The ``challenge`` command line, end to end on a tiny generated challenge and a real WSGI server."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import uproot
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score
from werkzeug.serving import make_server

from challenge import data
from challenge.cli import main
from challenge.client import Leaderboard, Refused, StillWaiting
from challenge.metrics import background_efficiency, score_type
from challenge.scoring import write_metric
from tests.conftest import submission_bytes


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("challenge")
    result = run(
        "generate",
        "--n-train",
        60,
        "--n-test",
        80,
        "--record-length",
        512,
        "--seed",
        3,
        "--out-dir",
        out,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert str(out / "public" / "test.root") in result.output
    return out


def test_validate_accepts_the_sample_submission(data_dir):
    result = run("validate", data_dir / "public" / "sample_submission.csv", "--data", data_dir)
    assert result.exit_code == 0, result.output
    assert "OK: " in result.stdout and "80 rows cover the 80 test events once each" in result.stdout


def test_validate_names_the_problem_on_stderr_and_exits_1(data_dir, tmp_path):
    sample = pd.read_csv(data_dir / "public" / "sample_submission.csv")
    bad = tmp_path / "bad.csv"
    sample.iloc[1:].to_csv(bad, index=False)
    result = run("validate", bad, "--data", data_dir)
    assert result.exit_code == 1
    missing = sample["event_id"].iloc[0]
    assert result.stderr.startswith(
        f"Error: {bad}: 1 of 80 test events are missing, for example event_id {missing}"
    )
    assert "Traceback" not in result.output


def test_validate_without_data_says_how_to_make_it(tmp_path):
    (tmp_path / "s.csv").write_text("event_id,score\n1,0.5\n")
    result = run("validate", tmp_path / "s.csv", "--data", tmp_path / "nowhere")
    assert result.exit_code == 1
    assert "challenge generate" in result.stderr and "Traceback" not in result.output


def test_score_prints_each_split_with_its_interval(data_dir, tmp_path):
    key = pd.read_csv(data_dir / "private" / "answer_key.csv")
    rng = np.random.default_rng(0)
    scores = key["label"] + rng.normal(size=len(key))
    path = tmp_path / "sub.csv"
    pd.DataFrame({"event_id": key["event_id"], "score": scores}).to_csv(path, index=False)
    result = run("score", path, "--answers", data_dir / "private" / "answer_key.csv")
    assert result.exit_code == 0, result.output
    lines = dict(line.split(maxsplit=1) for line in result.stdout.splitlines())
    for split in ("public", "private"):
        part = (key["split"] == split).to_numpy()
        expected = roc_auc_score(key["label"][part], scores[part])
        assert lines[split].startswith(f"AUC {expected:.4f}  95% CI [")
        assert lines[split].endswith(f"({part.sum()} events)")
    assert lines["overall"].startswith(f"AUC {roc_auc_score(key['label'], scores):.4f}")


def test_plot_writes_a_png(data_dir, tmp_path):
    out = tmp_path / "pulses.png"
    result = run("plot", "--data", data_dir, "--n", 2, "--output", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


@pytest.fixture
def server(app):
    """The leaderboard app of tests/conftest.py behind a real WSGI server on loopback."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=5)


def test_submit_uploads_and_prints_the_public_score(server, api, answer_key, tmp_path, monkeypatch):
    token = api.register("cli team")
    path = tmp_path / "sub.csv"
    path.write_bytes(submission_bytes(answer_key, skill=2.0, seed=1))
    monkeypatch.setenv("CHALLENGE_TOKEN", token)
    result = run("submit", path, "--url", server, "--note", "first try")
    assert result.exit_code == 0, result.output
    board = api.client.get("/api/leaderboard").get_json()
    public_auc = board["rows"][0]["public_auc"]
    assert f"public AUC {public_auc:.4f}" in result.stdout
    assert "2 submissions left today" in result.stdout  # the test config's quota is 3


@pytest.fixture
def lower_better_key(app_config):
    """The test key scored by bkg_eff@0.5; asked for before ``server``, so its app reads it."""
    write_metric(app_config["ANSWER_KEY"], score_type("bkg_eff@0.5"))


def test_submit_prints_the_challenges_metric(lower_better_key, server, api, answer_key, tmp_path):
    path = tmp_path / "sub.csv"
    path.write_bytes(submission_bytes(answer_key, skill=2.0, seed=1))
    result = run("submit", path, "--url", server, "--token", api.register("cli team"))
    assert result.exit_code == 0, result.output
    row = api.client.get("/api/leaderboard").get_json()["rows"][0]
    lo, hi = row["public_auc_ci"]
    assert (
        f"public bkg eff @ 50% sig eff {row['public_auc']:.4f} (95% CI {lo:.4f} to {hi:.4f})"
        in (result.stdout)
    )


def test_submit_reports_the_servers_refusal(server, api, tmp_path):
    path = tmp_path / "sub.csv"
    path.write_text("event_id,score\n1,0.5\n")
    result = run("submit", path, "--url", server, "--token", "not-a-token")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: rejected (401): ")
    token = api.register("another team")
    result = run("submit", path, "--url", server, "--token", token)
    assert result.exit_code == 1
    assert (
        result.stderr
        == "Error: rejected (400): sub.csv: line 2: event_id 1 is not in the test set (1 unknown ids in all)\n"
    )


def test_submit_needs_a_token_and_a_reachable_server(tmp_path, monkeypatch):
    monkeypatch.delenv("CHALLENGE_TOKEN", raising=False)
    path = tmp_path / "sub.csv"
    path.write_text("event_id,score\n1,0.5\n")
    no_token = run("submit", path, "--url", "http://127.0.0.1:9")
    assert no_token.exit_code == 1 and "no team token" in no_token.stderr
    result = run("submit", path, "--url", "http://127.0.0.1:9", "--token", "t", "--timeout", 2)
    assert result.exit_code == 1 and "could not reach the leaderboard" in result.stderr


def test_generate_records_the_metric_that_score_uses(data_dir, tmp_path):
    assert json.loads((data_dir / "private" / "metric.json").read_text()) == {"metric": "roc_auc"}
    out = tmp_path / "bkg"
    args = ["--n-train", 20, "--n-test", 40, "--record-length", 64, "--seed", 1, "--quiet"]
    result = run("generate", *args, "--metric", "bkg_eff@0.9", "--out-dir", out)
    assert result.exit_code == 0, result.output
    key_path = out / "private" / "answer_key.csv"
    assert json.loads(key_path.with_name("metric.json").read_text()) == {"metric": "bkg_eff@0.9"}
    assert (
        "background efficiency at 90% signal efficiency"
        in (out / "public" / "DATACARD.md").read_text()
    )
    key = pd.read_csv(key_path)
    scores = key["label"] + np.random.default_rng(0).normal(size=len(key))
    path = tmp_path / "sub.csv"
    pd.DataFrame({"event_id": key["event_id"], "score": scores}).to_csv(path, index=False)
    result = run("score", path, "--answers", key_path)
    assert result.exit_code == 0, result.output
    lines = dict(line.split(maxsplit=1) for line in result.stdout.splitlines())
    expected = background_efficiency(key["label"], scores, signal_efficiency=0.9)
    assert lines["overall"].startswith(f"bkg eff @ 90% sig eff {expected:.4f}  95% CI [")


def test_generate_refuses_an_unknown_metric_before_simulating(tmp_path):
    result = run("generate", "--metric", "bkg_eff@90", "--out-dir", tmp_path / "x", "--quiet")
    assert result.exit_code == 2
    assert "unknown metric 'bkg_eff@90'" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


# A challenge of model submissions: test.root stays in private/, nothing public names a test event.


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("models-challenge")
    args = ["--n-train", 60, "--n-test", 80, "--record-length", 512, "--seed", 3, "--quiet"]
    result = run("generate", *args, "--submissions", "models", "--out-dir", out)
    assert result.exit_code == 0, result.output
    return out, result.stdout


def _numbers(value) -> Iterator[float]:
    """Every number in a JSON value, however deep."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            yield from _numbers(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def _root_contents(path) -> tuple[set[float], set[bytes]]:
    """The numbers (every scalar branch, the metadata's numbers) and the pulse rows (as bytes)
    of every object in a ROOT file."""
    numbers, rows = set(), set()
    with uproot.open(path) as f:
        for key in f.keys(cycle=False):
            item = f[key]
            if isinstance(item, uproot.behaviors.TTree.TTree):
                for array in item.arrays(library="np").values():
                    if array.ndim == 2:
                        rows.update(row.tobytes() for row in array)
                    else:
                        numbers.update(array.tolist())
            else:
                numbers.update(_numbers(json.loads(str(item))))
    return numbers, rows


def public_contents(folder) -> tuple[set[float], set[bytes]]:
    """Every number and every pulse row that the files under ``folder`` hold, read with uproot,
    pandas and json, or as text (any integer in it)."""
    numbers, rows = set(), set()
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    for path in files:
        if path.suffix == ".root":
            found, pulses = _root_contents(path)
            numbers |= found
            rows |= pulses
        elif path.suffix == ".csv":
            numbers.update(pd.read_csv(path).select_dtypes("number").to_numpy().ravel().tolist())
        elif path.suffix == ".json":
            numbers.update(_numbers(json.loads(path.read_text())))
        else:
            numbers.update(int(n) for n in re.findall(r"\d+", path.read_text()))
    return numbers, rows


def test_a_model_challenge_publishes_no_test_pulse_and_no_test_event_id(models_dir):
    out, _ = models_dir
    key = pd.read_csv(out / "private" / "answer_key.csv")
    with uproot.open(out / "private" / "test.root") as f:
        test = f["events"].arrays(["event_id", "pulse"], library="np")
    np.testing.assert_array_equal(test["event_id"], key["event_id"])  # the key's ids, in order
    numbers, rows = public_contents(out / "public")
    assert not numbers & set(key["event_id"].tolist())
    assert not rows & {row.tobytes() for row in test["pulse"]}
    train_ids = data.load_event_ids("train", out)  # the walk does see the train file's ids
    assert set(train_ids.tolist()) <= numbers and len(rows) == len(train_ids)
    assert sorted(p.name for p in (out / "public").iterdir()) == [
        "DATACARD.md", "challenge.json", "train.root",
    ]  # fmt: skip


def test_a_model_challenge_keeps_test_root_owner_only_and_says_so(models_dir):
    out, stdout = models_dir
    test_root = out / "private" / "test.root"
    assert stat.S_IMODE(os.stat(test_root).st_mode) == 0o600
    assert f"test: {test_root}" in stdout
    assert "LEADERBOARD_SUBMISSIONS=models" in stdout and str(test_root) in stdout
    assert json.loads((out / "public" / "challenge.json").read_text())["submissions"] == "models"
    card = (out / "public" / "DATACARD.md").read_text()
    assert "there is no test.root to download" in card and "sample_submission" not in card
    for command in ("baselines export", "challenge check-model", "challenge submit model.onnx"):
        assert command in card


def test_a_teams_copy_of_a_model_challenge_says_where_the_test_records_are(models_dir, tmp_path):
    out, _ = models_dir
    shutil.copytree(out / "public", tmp_path / "public")
    (tmp_path / "s.csv").write_text("event_id,score\n1,0.5\n")
    result = run("validate", tmp_path / "s.csv", "--data", tmp_path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "stay with the organizers" in result.stderr and "baselines export" in result.stderr
    assert run("plot", "--data", tmp_path, "-o", tmp_path / "p.png").exit_code == 0


def test_generating_again_in_the_other_mode_leaves_nothing_of_the_first(tmp_path):
    args = ["--n-train", 20, "--n-test", 40, "--record-length", 64, "--seed", 1, "--quiet",
            "--out-dir", tmp_path]  # fmt: skip
    assert run("generate", *args).exit_code == 0
    assert (tmp_path / "public" / "test.root").exists()
    assert run("generate", *args, "--submissions", "models", "--force").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "public").iterdir()) == [
        "DATACARD.md", "challenge.json", "train.root",
    ]  # fmt: skip
    assert run("generate", *args, "--submissions", "predictions", "--force").exit_code == 0
    assert not (tmp_path / "private" / "test.root").exists()
    assert (tmp_path / "public" / "test.root").exists()
    assert json.loads((tmp_path / "public" / "challenge.json").read_text())["submissions"] == (
        "predictions"
    )


# `challenge submit model.onnx`: queued (202), then the score from GET /api/submissions, on a real
# WSGI server and a real `leaderboard worker` (SQLite queue).


@pytest.fixture(scope="module")
def models_private(tmp_path_factory) -> Path:
    """The private/ folder of a small challenge of model submissions (answer key, test.root)."""
    from tests.workers import make_challenge

    folder = tmp_path_factory.mktemp("models-challenge")
    return make_challenge(folder, n_test=300, record_length=256).private


@pytest.fixture
def models_board(tmp_path, database_url, models_private):
    """A leaderboard of model submissions behind a real WSGI server; its settings, for workers."""
    from leaderboard import create_app
    from leaderboard.db import engine_of, init_db

    private = models_private
    settings = {
        "SUBMISSIONS": "models",
        "DATABASE_URL": database_url,
        "ANSWER_KEY": str(private / "answer_key.csv"),
        "UPLOAD_FOLDER": str(tmp_path / "submissions"),
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.sqlite'}",
        "PUBLIC_BOARD": "plain",  # the score in full, to compare (the Ladder: its own tests)
        # A run shows at a tenth of the wall limit: 1 s here, not the default's 6 s a model.
        "MODEL_WALL_S": 10,
    }
    app = create_app({**settings, "TESTING": True, "SECRET_KEY": "test-secret"})
    init_db(app)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    token = app.test_client().post("/api/teams", json={"name": "onnx team"}).get_json()["token"]
    yield f"http://127.0.0.1:{httpd.server_port}", token, settings, private
    httpd.shutdown()
    thread.join(timeout=5)
    engine_of(app).dispose()


def _local_public_auc(model_path, private) -> float:
    """What onnxruntime computes on the test records in this process, on the public split."""
    from challenge.onnx_runner import make_session, run_batches

    test = data.load_file(private / "test.root")
    scores = run_batches(make_session(model_path.read_bytes()), test.X).reshape(-1)
    key = pd.read_csv(private / "answer_key.csv").set_index("event_id").loc[test.event_id]
    public = (key["split"] == "public").to_numpy()
    return roc_auc_score(key["label"].to_numpy()[public], scores[public])


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_submit_a_model_waits_for_its_score_or_its_failure(models_board, tmp_path):
    from tests import onnx_models
    from tests.workers import running_workers

    url, token, settings, private = models_board
    good = onnx_models.save(onnx_models.mean_model(), tmp_path / "mean.onnx")
    bad = onnx_models.save(onnx_models.two_column_model(), tmp_path / "two.onnx")
    with running_workers(settings, tmp_path / "workers"):
        scored = run("submit", good, "--url", url, "--token", token, "--wait", 60)
        failed = run("submit", bad, "--url", url, "--token", token, "--wait", 60)
    assert scored.exit_code == 0, scored.output
    lines = scored.stdout.splitlines()
    assert lines[0] == "Model 1 queued for scoring; 9 submissions left today"
    auc = re.fullmatch(r"Model 1 scored: public AUC (\S+) \(95% CI \S+ to \S+\)", lines[-1])
    assert float(auc.group(1)) == pytest.approx(_local_public_auc(good, private), abs=5e-5)
    assert lines[1:-1] in ([], ["Model 1 running on the test records"])  # unless missed
    assert failed.exit_code == 1 and "Traceback" not in failed.output
    assert failed.stderr.startswith(  # the reason of a failed run: it does not say how
        "Error: model 2 failed: the model did not give one finite score per test record: "
    )


def test_submit_a_model_without_waiting_or_past_the_wait(models_board, tmp_path):
    """No worker runs: --no-wait returns once queued; a wait that runs out says so (exit 3),
    also when the server went away meanwhile."""
    from tests import onnx_models

    url, token, _, _ = models_board
    model = onnx_models.save(onnx_models.mean_model(), tmp_path / "mean.onnx")
    queued = run("submit", model, "--url", url, "--token", token, "--no-wait")
    assert queued.exit_code == 0 and queued.stdout.startswith("Model 1 queued for scoring")
    other = onnx_models.save(onnx_models.nan_model(), tmp_path / "nan.onnx")
    waited = run("submit", other, "--url", url, "--token", token, "--wait", 1)
    assert waited.exit_code == 3, waited.output
    assert "Error: submission 2 was still queued after 1 s; it stays in the queue" in waited.stderr
    third = onnx_models.mean_model()
    third.doc_string = "another file"
    status, body = Leaderboard(url, token).upload(onnx_models.save(third, tmp_path / "3.onnx"))
    assert (status, body["status"], body["metric"]) == (202, "queued", "roc_auc")
    started = time.monotonic()
    with pytest.raises(Refused, match=r"listing the submissions failed \(401\)"):
        Leaderboard(url, "a-token-that-stopped-working").wait_for_score(2, wait_s=30)
    assert time.monotonic() - started < 10  # at once, not at the end of the wait
    gone = Leaderboard("http://127.0.0.1:9", token, timeout_s=2)  # nothing listens there
    with pytest.raises(StillWaiting, match=r"submission 2 was not seen after 1 s \(last error: "
                                           "could not reach the leaderboard"):  # fmt: skip
        gone.wait_for_score(2, wait_s=1)
