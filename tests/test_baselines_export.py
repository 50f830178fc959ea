"""`baselines export`: every torch baseline becomes one ONNX file, preprocessing included, that
follows the model contract and scores like torch; bdt and the references are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from baselines.cli import main
from baselines.export import MAX_ABS_DIFFERENCE, ExportError, export_onnx, scaled_difference
from baselines.models import MODELS
from baselines.preprocessing import PreprocessingConfig
from baselines.train import TrainConfig, train
from challenge.data import load, read_metadata
from challenge.model import check_model_file
from challenge.onnx_runner import make_session, run_batches

TORCH_MODELS = [name for name, spec in MODELS.items() if spec.is_neural]
DRY = TrainConfig(seed=0, device="cpu", dry_run=True, progress=False)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """160 training and 60 test records of 1024 samples."""
    from challenge.generate import generate_challenge

    out = tmp_path_factory.mktemp("tiny_challenge")
    generate_challenge(out, n_train=160, n_test=60, record_length=1024, seed=5, progress=False)
    return out


@pytest.fixture(scope="module")
def events(tiny_data):
    train_ = load("train", data_dir=tiny_data)
    return train_.X, train_.y, read_metadata("train", data_dir=tiny_data), load("test", tiny_data).X


@pytest.mark.parametrize("name", TORCH_MODELS)
@pytest.mark.timeout(60)
def test_every_torch_baseline_exports_and_scores_like_torch(tmp_path, events, name):
    X, y, metadata, X_test = events
    trained, val_idx = train(name, X, y, metadata, config=DRY)
    model, difference = export_onnx(trained, X[val_idx])
    assert difference <= MAX_ABS_DIFFERENCE
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(model)
    info = check_model_file(path, record_length=X.shape[1])
    assert (info.input_name, info.output_name) == ("volts", "score")
    # on records the export never saw, in batches of a size it was not traced with
    onnx_scores = run_batches(make_session(model), X_test, batch_size=7).reshape(-1)
    np.testing.assert_allclose(onnx_scores, trained.predict(X_test), rtol=0, atol=1e-4)


def test_per_record_scaling_is_in_the_graph(events):
    from baselines.models import get_spec

    X, y, metadata, X_test = events
    hp = get_spec("logit").module.Hparams(preprocessing=PreprocessingConfig(scaling="per_record"))
    trained, val_idx = train("logit", X, y, metadata, hparams=hp, config=DRY)
    model, _ = export_onnx(trained, X[val_idx])
    onnx_scores = run_batches(make_session(model), X_test).reshape(-1)
    np.testing.assert_allclose(onnx_scores, trained.predict(X_test), rtol=0, atol=1e-4)


def test_an_export_that_disagrees_with_torch_is_refused(events, monkeypatch):
    X, y, metadata, _ = events
    trained, val_idx = train("logit", X, y, metadata, config=DRY)
    predict = trained.predict
    monkeypatch.setattr(trained, "predict", lambda Z: predict(Z) + 2e-4)
    with pytest.raises(ExportError, match="differs from torch by 0.0002 on 32 records"):
        export_onnx(trained, X[val_idx])


def test_large_scores_are_compared_relative_to_their_size(events):
    """A trained logit scores in the hundreds (300 on the demo preset): float32 sums of its
    terms, which onnxruntime and torch add in different orders, differ by more than 1e-4, on
    records scored near 0 too. The export is checked relative to the largest score, and still
    refuses a real disagreement."""
    X, y, metadata, _ = events
    trained, val_idx = train("logit", X, y, metadata, config=DRY)
    with torch.no_grad():
        for parameter in trained.model.parameters():
            parameter.mul_(10_000)
    reference = trained.predict(X)
    assert np.abs(reference).max() > 10_000
    model, difference = export_onnx(trained, X[val_idx])
    onnx_scores = run_batches(make_session(model), X).reshape(-1)
    assert np.abs(onnx_scores - reference).max() > MAX_ABS_DIFFERENCE  # absolute: above
    assert difference == scaled_difference(run_batches(make_session(model), X[val_idx]).reshape(-1),
                                           trained.predict(X[val_idx])) <= MAX_ABS_DIFFERENCE  # fmt: skip
    assert scaled_difference(np.array([0.5002, 0.9]), np.array([0.5, 0.9])) == pytest.approx(2e-4)
    assert scaled_difference(np.array([0.56, 300.0]), np.array([0.5, 300.0])) == pytest.approx(2e-4)
    assert scaled_difference(np.array([0.5, 300.06]), np.array([0.5, 300.0])) == pytest.approx(2e-4)


@pytest.mark.timeout(60)
def test_export_command_writes_a_model_that_check_model_accepts(tmp_path, tiny_data):
    from challenge.cli import main as challenge_main

    run = tmp_path / "cnn"
    trained = CliRunner().invoke(main, ["train", "cnn", "--data", str(tiny_data), "--dry-run",
                                        "--quiet", "--out-dir", str(run)])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    out = tmp_path / "model.onnx"
    result = CliRunner().invoke(
        main, ["export", str(run / "checkpoint.pt"), "--data", str(tiny_data), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "cnn with its preprocessing; onnxruntime and torch differ by " in result.output
    allowed = "(allowed: 0.0001, relative to the largest |score| where it exceeds 1)"
    assert f"at most on 32 validation records {allowed}" in result.output
    checked = CliRunner().invoke(
        challenge_main, ["check-model", str(out), "--data", str(tiny_data)]
    )
    assert checked.exit_code == 0, checked.output
    assert "scored 160 training records" in checked.output


def test_bdt_is_refused_with_the_reason(tmp_path, tiny_data):
    run = tmp_path / "bdt"
    trained = CliRunner().invoke(main, ["train", "bdt", "--data", str(tiny_data), "--dry-run",
                                        "--quiet", "--out-dir", str(run)])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    result = CliRunner().invoke(
        main, ["export", str(run / "checkpoint.pt"), "--data", str(tiny_data)]
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: bdt cannot be exported: its trees would convert")
    assert not (tmp_path / "model.onnx").exists()


def test_a_team_without_test_records_trains_exports_and_checks_a_model(tmp_path):
    """A challenge of model submissions: the team's copy (public/) has no test.root, so train
    writes no submission and says to export; the organizers' copy predicts private/test.root."""
    import shutil

    from challenge.cli import main as challenge_main
    from challenge.generate import generate_challenge

    organizers, team = tmp_path / "organizers", tmp_path / "team"
    generate_challenge(organizers, n_train=160, n_test=60, record_length=1024, seed=5,
                       submissions="models", progress=False)  # fmt: skip
    shutil.copytree(organizers / "public", team / "public")
    run = tmp_path / "logit"
    trained = CliRunner().invoke(main, ["train", "logit", "--data", str(team), "--dry-run",
                                        "--quiet", "--out-dir", str(run)])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "no submission.csv" in trained.output and "baselines export" in trained.output
    assert sorted(p.name for p in run.iterdir() if p.suffix == ".csv") == []
    out = tmp_path / "model.onnx"
    exported = CliRunner().invoke(
        main, ["export", str(run / "checkpoint.pt"), "--data", str(team), "-o", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    checked = CliRunner().invoke(challenge_main, ["check-model", str(out), "--data", str(team)])
    assert checked.exit_code == 0, checked.output
    predicted = CliRunner().invoke(main, ["predict", str(run / "checkpoint.pt"), "--data",
                                          str(organizers), "-o", str(tmp_path / "ref.csv")])  # fmt: skip
    assert predicted.exit_code == 0, predicted.output
    key = np.loadtxt(organizers / "private" / "answer_key.csv", delimiter=",", skiprows=1,
                     usecols=0, dtype=np.int64)  # fmt: skip
    ids = np.loadtxt(tmp_path / "ref.csv", delimiter=",", skiprows=1, usecols=0, dtype=np.int64)
    np.testing.assert_array_equal(ids, key)
