"""`baselines train / predict / compare` end to end on a tiny challenge, every model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from baselines.checkpoint import TrainedModel
from baselines.cli import main
from baselines.models import MODELS
from baselines.threads import use_threads
from baselines.train import TrainConfig, train
from challenge.data import load, load_event_ids, read_metadata
from challenge.scoring import load_answer_key, score_submission
from challenge.submission import read_submission


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """160 training and 60 test records of 1024 samples."""
    from challenge.generate import generate_challenge

    out = tmp_path_factory.mktemp("tiny_challenge")
    generate_challenge(out, n_train=160, n_test=60, record_length=1024, seed=5, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_train(tiny_data):
    events = load("train", data_dir=tiny_data)
    return events.X, events.y, read_metadata("train", data_dir=tiny_data)


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_train_one_epoch_writes_a_valid_submission(name, tiny_data, tmp_path):
    out = tmp_path / name
    # One thread for train and predict: float32 sums in another order differ in the last bits.
    result = invoke("train", name, "--data", tiny_data, "--epochs", 1, "--out-dir", out,
                    "--quiet", "--threads", 1)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{name}: validation AUC" in result.output
    test_ids = load_event_ids("test", data_dir=tiny_data)
    submission = read_submission(out / "submission.csv", expected_ids=test_ids)
    assert len(submission) == 60 and np.isfinite(submission["score"]).all()
    for written in ["checkpoint.pt", "report.json", "roc.png"]:
        assert (out / written).stat().st_size > 0
    if MODELS[name].is_neural:
        assert (out / "training_curve.png").exists()
    extra = {"vae": "vae_generated.png", "gan": "gan_generated.png"}.get(name)
    if extra:
        assert (out / extra).stat().st_size > 0
    # predict with the checkpoint reproduces train's submission exactly
    again = tmp_path / "again.csv"
    with use_threads(1):
        result = invoke("predict", out / "checkpoint.pt", "--data", tiny_data, "--output", again)
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == (out / "submission.csv").read_bytes()


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    """500 training and 500 test records of 4096 samples: enough for a quality floor, in seconds."""
    from challenge.generate import generate_challenge

    out = tmp_path_factory.mktemp("small_challenge")
    generate_challenge(out, n_train=500, n_test=500, record_length=4096, seed=0, progress=False)
    return out


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_logit_clears_a_quality_floor_on_500_records(small_data, tmp_path):
    # Measured with seed 0 on the organizers' hidden detector (generator 2.0): test 0.820
    # (0.895 on the public simulator's stationary noise, 0.964 on the whiter noise before);
    # a model that learns nothing scores 0.5.
    result = invoke("train", "logit", "--data", small_data, "--out-dir", tmp_path, "--quiet")
    assert result.exit_code == 0, result.output
    key = load_answer_key(small_data / "private" / "answer_key.csv")
    submission = read_submission(tmp_path / "submission.csv", expected_ids=key["event_id"])
    assert score_submission(submission, key)["overall"].value > 0.75
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["auc"] > 0.75


def test_a_checkpoint_refuses_records_of_another_length(tiny_data, tmp_path):
    from challenge.generate import generate_challenge

    run = tmp_path / "run"
    result = invoke("train", "logit", "--data", tiny_data, "--epochs", 1, "--out", run, "--quiet")
    assert result.exit_code == 0, result.output
    other = tmp_path / "other"
    generate_challenge(other, n_train=40, n_test=20, record_length=512, seed=3, progress=False)
    for command, which in (("predict", "test"), ("export", "training")):
        result = invoke(command, run / "checkpoint.pt", "--data", other, "-o", tmp_path / "x")
        assert result.exit_code == 1, result.output
        assert result.stderr == (
            f"Error: {run / 'checkpoint.pt'} was trained on records of 1024 samples, "
            f"the {which} records in {other} have 512\n"
        )
    assert not (tmp_path / "x").exists()


def test_too_few_training_records_for_a_validation_split_is_a_clear_error(tmp_path):
    from challenge.generate import generate_challenge

    generate_challenge(tmp_path, n_train=8, n_test=20, record_length=256, seed=2, progress=False)
    result = invoke("train", "logit", "--data", tmp_path, "--out-dir", tmp_path / "run", "--quiet")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("Error: ") and "training records of label" in result.stderr
    assert (
        "needs at least 2 of each" in result.stderr and "use more training records" in result.stderr
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_save_and_load_give_identical_predictions(name, tiny_train, tmp_path):
    X, y, metadata = tiny_train
    trained, val_idx = train(name, X, y, metadata, config=TrainConfig(epochs=1, progress=False))
    before = trained.predict(X[val_idx])
    loaded = TrainedModel.load(trained.save(tmp_path / "model.pt"))
    assert np.array_equal(loaded.predict(X[val_idx]), before)
    assert loaded.name == name and loaded.hparams == trained.hparams


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cnn", "gan"])
def test_training_is_deterministic_for_a_seed(name, tiny_train):
    X, y, metadata = tiny_train
    config = TrainConfig(epochs=2, progress=False, seed=7)
    first, _ = train(name, X, y, metadata, config=config)
    second, _ = train(name, X, y, metadata, config=config)
    assert np.array_equal(first.predict(X), second.predict(X))
    assert first.history == second.history


def test_training_and_prediction_preprocess_identically(tiny_train, tmp_path):
    # the network sees at prediction time exactly the inputs it was validated on in training
    X, y, metadata = tiny_train
    trained, val_idx = train("mlp", X, y, metadata, config=TrainConfig(epochs=1, progress=False))
    loaded = TrainedModel.load(trained.save(tmp_path / "m.pt"))
    assert np.array_equal(loaded.preprocessor.transform(X), trained.preprocessor.transform(X))
    assert loaded.preprocessor.state_dict() == trained.preprocessor.state_dict()
    # and the validation AUC of the report is that of the predicted scores
    from challenge.metrics import roc_auc_score

    last = trained.history[-1]["val_auc"]
    assert roc_auc_score(y[val_idx], loaded.predict(X[val_idx])) == pytest.approx(last)


def test_compare_prints_a_table_and_plots_all_curves(tiny_data, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "compare",
            "--models",
            "logit,matched-filter",
            "--data",
            str(tiny_data),
            "--epochs",
            "1",
            "--out-dir",
            str(tmp_path),
            "--quiet",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert lines[0] == "| model | validation AUC [95% CI] | training time (CPU time) | parameters |"
    assert sorted(line.split("|")[1].strip() for line in lines[2:]) == ["logit", "matched-filter"]
    assert (tmp_path / "roc_all.png").stat().st_size > 0
    assert (tmp_path / "table.md").read_text().startswith("| model |")


def test_missing_data_says_to_generate(tmp_path):
    result = invoke("train", "logit", "--data", tmp_path / "nowhere", "--quiet")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    nowhere = tmp_path / "nowhere"
    assert result.output == (  # the advice once
        f"Error: {nowhere}/public/train.root: no such file; run "
        f"`challenge generate --out-dir {nowhere}` to make the data\n"
    )


def test_unknown_model_and_bad_checkpoint_are_user_errors(tiny_data, tmp_path):
    result = invoke("train", "svm", "--data", tiny_data)
    assert result.exit_code == 2 and "'svm'" in result.output
    result = invoke("compare", "--models", "logit,svm", "--data", tiny_data)
    assert result.exit_code == 2 and "svm" in result.output
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    result = invoke("predict", junk, "--data", tiny_data, "--output", tmp_path / "s.csv")
    assert result.exit_code == 1 and "not a baselines checkpoint" in result.output
    result = invoke("predict", tmp_path / "absent.pt", "--data", tiny_data)
    assert result.exit_code == 1 and "no such checkpoint" in result.output


def test_dry_run_is_one_epoch_of_two_batches(tiny_train, monkeypatch):
    X, y, metadata = tiny_train
    from baselines.models.base import Classifier

    steps = []
    original = Classifier.training_step
    monkeypatch.setattr(
        Classifier, "training_step", lambda self, *a: steps.append(1) or original(self, *a)
    )
    trained, _ = train("mlp", X, y, metadata, config=TrainConfig(dry_run=True, progress=False))
    assert len(trained.history) == 1 and len(steps) == 2
    bdt, _ = train("bdt", X, y, metadata, config=TrainConfig(dry_run=True, progress=False))
    assert bdt.hparams.max_iter == 2


def test_cuda_without_a_gpu_is_a_user_error(tiny_data, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = invoke(
        "train", "logit", "--data", tiny_data, "--device", "cuda", "--out-dir", tmp_path
    )
    assert result.exit_code == 1 and "no CUDA GPU" in result.output
    assert not (tmp_path / "checkpoint.pt").exists()
