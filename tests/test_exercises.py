"""Tests of the exercises: every reference solution passes its checks and writes its figures, every
untouched skeleton fails cleanly, the checker catches mistakes, the skeleton maker, the IDX reader."""

from __future__ import annotations

import gzip
import importlib
import json
import re
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from sklearn.svm import LinearSVC

from exercises import datasets
from exercises.checker import find_blanks
from exercises.cli import main
from exercises.idx import IDXError, read_idx, write_idx
from exercises.lessons import LESSONS, get_lesson, make_skeleton

FIGURES = {
    1: ["decision_boundary.png", "optimizers.png"],
    2: ["mlp_decision_map.png", "search_losses.png"],
    3: ["confusion_matrix.png", "misclassified.png", "training_loss.png"],
    4: ["reconstructions.png", "cvae_samples.png", "gan_samples.png", "training_losses.png"],
    5: ["mc_dropout_uncertainty.png", "saliency.png", "pulses.png", "rnn_loss.png"],
    6: ["roc.png", "training_loss.png"],
}
STEP_LINE = re.compile(
    r"^  \[(passed|FAILED|skipped|not run)\] (.+?)(?: \([\d.]+ s\))?: (.*)$", re.MULTILINE
)


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def steps(output: str) -> list[tuple[str, str, str]]:
    return STEP_LINE.findall(output)


# --- the lessons, end to end ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("number", sorted(LESSONS))
def test_reference_solution_passes_every_step_and_writes_its_figures(number, tmp_path):
    result = invoke("check", number, "--solution", "--out-dir", tmp_path)
    assert result.exit_code == 0, result.output
    found = steps(result.output)
    assert found and all(status == "passed" for status, _, _ in found), result.output
    assert f"{len(found)} of {len(found)} steps passed." in result.output
    for name in FIGURES[number]:
        png = (tmp_path / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(png) > 5_000, name  # a real figure, not an empty canvas
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FIGURES[number])
    if number == 3:  # the issue's target: at least 98% on the bundled digits' test part
        accuracy = re.search(
            r"test accuracy \(bundled digits\) ([\d.]+)% >= 98% target", result.output
        )
        assert accuracy is not None and float(accuracy[1]) >= 98.0


@pytest.mark.slow
@pytest.mark.parametrize("number", sorted(LESSONS))
def test_reference_solution_smoke_runs_one_epoch(number, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # lesson 6 writes its data and submission here
    result = invoke("run", number, "--solution", "--dry-run", "--out-dir", tmp_path / "figures")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(FIGURES[number])


def write_tiny_mnist(directory: Path, n_train: int = 40, n_test: int = 20) -> None:
    """Fake MNIST IDX files: 28x28 images whose label is the row of a bright bar."""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 40, size=(n, 28, 28), dtype=np.uint8)
        images[np.arange(n), 2 + 2 * labels] = 255
        write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", labels)


@pytest.mark.slow
@pytest.mark.parametrize("number", [3, 4])
def test_lessons_run_on_mnist_idx_files(number, tmp_path):
    write_tiny_mnist(tmp_path)
    result = invoke(
        "run",
        number,
        "--solution",
        "--dry-run",
        "--mnist",
        tmp_path,
        "--out-dir",
        tmp_path / "figures",
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(FIGURES[number])


@pytest.mark.parametrize("number", sorted(LESSONS))
def test_untouched_skeleton_fails_cleanly_with_not_filled_in(number, tmp_path):
    assert invoke("start", number, tmp_path).exit_code == 0
    path = tmp_path / get_lesson(number).filename
    result = invoke("check", number, path, "--out-dir", tmp_path / "figures")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    found = steps(result.output)
    assert found and all(status in ("FAILED", "skipped") for status, _, _ in found)
    for status, name, message in found:
        expected = "not filled in yet: replace the `...` in " if status == "FAILED" else "needs"
        assert message.startswith(expected), (name, message)
    assert "not filled in yet" in result.output
    n_failed = sum(status == "FAILED" for status, _, _ in found)
    n_skipped = len(found) - n_failed
    skipped = f", {n_skipped} skipped (they need a step that failed)" if n_skipped else ""
    assert f"0 of {len(found)} steps passed, {n_failed} failed{skipped}." in result.output
    assert not (tmp_path / "figures").exists()

    ran = invoke("run", number, path, "--out-dir", tmp_path / "figures")
    assert ran.exit_code == 1
    assert "is not filled in yet" in ran.output and "Traceback" not in ran.output


def test_not_filled_in_names_the_function_and_line(tmp_path):
    assert invoke("start", 1, tmp_path).exit_code == 0
    path = tmp_path / "lesson1_logistic.py"
    line = next(
        i
        for i, text in enumerate(path.read_text().splitlines(), 1)
        if text.strip().startswith("return ...") and "σ(z)" in text
    )
    result = invoke("check", 1, path, "--out-dir", tmp_path)
    assert result.exit_code == 1
    assert f"[FAILED] sigmoid: not filled in yet: replace the `...` in sigmoid (line {line})" in (
        result.output
    )


# --- the checker catches mistakes and reports errors without tracebacks ------------------------


def solution_with(number: int, old: str, new: str, tmp_path: Path) -> Path:
    source = get_lesson(number).solution_path.read_text()
    assert old in source
    path = tmp_path / get_lesson(number).filename
    path.write_text(source.replace(old, new))
    return path


@pytest.mark.slow
def test_missing_optimizer_step_fails_with_a_hint(tmp_path):
    path = solution_with(1, "    optimizer.step()  # BLANK\n", "", tmp_path)
    result = invoke("check", 1, path, "--out-dir", tmp_path)
    assert result.exit_code == 1
    verdicts = {name: (status, message) for status, name, message in steps(result.output)}
    assert verdicts["sigmoid"][0] == "passed"
    assert verdicts["training step"] == (
        "FAILED",
        "the weights did not change: are loss.backward() and optimizer.step() called?",
    )
    assert verdicts["optimizer comparison"] == ("skipped", "needs step training step to pass")
    assert verdicts["accuracy target"] == ("skipped", "needs step optimizer comparison to pass")
    shown = Counter(status for status, _ in verdicts.values())
    assert shown == {"passed": 5, "FAILED": 1, "skipped": 3}
    assert "5 of 9 steps passed, 1 failed, 3 skipped (they need a step that failed)." in (
        result.output
    )


def test_learner_exception_is_reported_with_their_line(tmp_path):
    blank = "    return 1 / (1 + torch.exp(-z))  # BLANK: σ(z) = 1 / (1 + exp(-z))"
    path = solution_with(1, blank, "    return 1 / (1 + torch.exp(-zz))", tmp_path)
    line = path.read_text().splitlines().index("    return 1 / (1 + torch.exp(-zz))") + 1
    result = invoke("check", 1, path, "--out-dir", tmp_path)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    expected = (
        f"[FAILED] sigmoid: NameError: name 'zz' is not defined "
        f"(lesson1_logistic.py, line {line}: `return 1 / (1 + torch.exp(-zz))`)"
    )
    assert expected in result.output
    verdicts = {name: status for status, name, _ in steps(result.output)}
    assert verdicts["loss functions"] == "passed"  # steps that do not call sigmoid still run


def test_syntax_error_is_reported_with_its_line(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("import torch\n\ndef sigmoid(z):\n    return 1 / (1 + \n")
    result = invoke("check", 1, path)
    assert result.exit_code == 1
    assert "broken.py, line 4: syntax error" in result.output
    assert "Traceback" not in result.output


def test_wrong_accuracy_target_message(tmp_path):
    from exercises.checker import CheckFailed
    from exercises.checks.common import expect_at_least

    with pytest.raises(CheckFailed, match=r"^accuracy 93\.1% is below the 95% target$"):
        expect_at_least(0.931, 0.95, "accuracy")
    assert expect_at_least(0.99, 0.98, "accuracy") == "accuracy 99.0% >= 98% target"


# --- the command line ---------------------------------------------------------------------------


def test_list_names_every_lesson():
    result = invoke("list")
    assert result.exit_code == 0
    for lesson in LESSONS.values():
        assert f"{lesson.number}  {lesson.filename}" in result.output
    assert (
        "6  lesson6_roc.py" in result.output and "ROC curves, AUC and your first" in result.output
    )
    assert "backpropagation by hand" in result.output  # part of lesson 2


def test_start_copies_the_skeleton_and_refuses_to_overwrite(tmp_path):
    result = invoke("start", 2, tmp_path / "work")
    assert result.exit_code == 0
    path = tmp_path / "work" / "lesson2_mlp.py"
    assert path.read_text() == get_lesson(2).skeleton()

    path.write_text("my own work")
    refused = invoke("start", 2, tmp_path / "work")
    assert refused.exit_code == 1
    assert "already exists; use --force" in refused.output
    assert path.read_text() == "my own work"

    assert invoke("start", 2, tmp_path / "work", "--force").exit_code == 0
    assert path.read_text() == get_lesson(2).skeleton()


def test_bad_lesson_number_and_options_are_usage_errors(tmp_path):
    assert invoke("start", max(LESSONS) + 1, tmp_path).exit_code == 2
    both = invoke("check", 1, tmp_path / "x.py", "--solution")
    assert both.exit_code == 2 and "either FILE or --solution" in both.output
    mnist = invoke("check", 1, "--solution", "--mnist", tmp_path)
    assert mnist.exit_code == 2 and "--mnist applies to lessons 3, 4" in mnist.output
    missing = invoke("check", 1, tmp_path / "nope.py")
    assert missing.exit_code == 1 and "nope.py does not exist" in missing.output


# --- skeletons made from solutions --------------------------------------------------------------


def test_make_skeleton_blanks_each_kind_of_statement():
    source = textwrap.dedent(
        """\
        def f(x):
            y = x + 1  # BLANK: add one
            # BLANK: a sum over
            # two lines
            total = sum(
                [x, y]
            )
            print(y)  # BLANK: print, then return
            return y  # BLANK
        """
    )
    assert make_skeleton(source) == textwrap.dedent(
        """\
        def f(x):
            y = ...  # TODO: add one
            # TODO: a sum over
            # two lines
            total = ...
            ...  # TODO: print, then return
        """
    )


def test_make_skeleton_rejects_a_marker_inside_a_statement():
    source = "x = f(\n    1,  # BLANK: nope\n)\n"
    with pytest.raises(ValueError, match="line 2: a BLANK marker"):
        make_skeleton(source)


@pytest.mark.parametrize("number", sorted(LESSONS))
def test_every_marker_of_a_solution_becomes_a_blank(number):
    source = get_lesson(number).solution_path.read_text()
    skeleton = get_lesson(number).skeleton()
    with_hint = len(re.findall(r"# BLANK: ", source))
    assert skeleton.count("# TODO: ") == with_hint > 0
    assert "BLANK" not in skeleton
    assert "# %%" in skeleton  # still a percent-cell script
    compile(skeleton, "skeleton", "exec")
    assert find_blanks(get_lesson(number).solution_path) == {}


def test_find_blanks_ignores_ellipsis_indexing(tmp_path):
    path = tmp_path / "f.py"
    path.write_text(
        "def f(x):\n    return x[..., 0]\n\n\ndef g():\n    y = ...\n    return y\n\nTABLE = ...\n"
    )
    assert find_blanks(path) == {"g": [6], "TABLE": [9]}


# --- data ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_blobs_are_linearly_separable_and_deterministic(seed):
    X, y = datasets.make_blobs(100, seed=seed)
    assert X.shape == (100, 2) and X.dtype == torch.float32 and y.sum() == 50
    svm = LinearSVC(C=1e4, max_iter=100_000).fit(X.numpy(), y.numpy())
    assert svm.score(X.numpy(), y.numpy()) == 1.0
    X2, _ = datasets.make_blobs(100, seed=seed)
    assert torch.equal(X, X2)
    assert not torch.equal(X, datasets.make_blobs(100, seed=seed + 1)[0])


def test_digits_split_sizes_and_range():
    split = datasets.load_digits(seed=0)
    assert [len(t) for t in split] == [1077, 1077, 270, 270, 450, 450]
    assert split.X_train.shape[1:] == (1, 8, 8)
    assert split.X_train.min() == 0 and split.X_train.max() == 1
    assert split.y_test.dtype == torch.int64


def test_idx_reader_reads_a_hand_made_label_file(tmp_path):
    raw = b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + bytes([7, 2, 1])
    (tmp_path / "labels").write_bytes(raw)
    (tmp_path / "labels.gz").write_bytes(gzip.compress(raw))
    for name in ("labels", "labels.gz"):
        labels = read_idx(tmp_path / name)
        assert labels.dtype == np.uint8 and labels.tolist() == [7, 2, 1]


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_idx_round_trip(tmp_path, suffix, dtype):
    array = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


def test_idx_reader_errors_name_the_file(tmp_path):
    path = tmp_path / "short-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + bytes([1, 2]))
    with pytest.raises(IDXError, match=r"short-idx1-ubyte: 2 data bytes, header shape \(5,\)"):
        read_idx(path)
    path.write_bytes(b"PK\x03\x04junk")
    with pytest.raises(IDXError, match="not an IDX file"):
        read_idx(path)


def test_mnist_is_read_from_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    test = rng.integers(0, 256, size=(10, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", train)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(30, dtype=np.uint8) % 10)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", test)  # plain, not compressed
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(10, dtype=np.uint8))
    split = datasets.load_mnist(tmp_path)  # a sixth of 30 kept for validation
    assert [len(t) for t in split] == [25, 25, 5, 5, 10, 10]
    assert split.X_test.shape == (10, 1, 28, 28)
    np.testing.assert_allclose(split.X_test[:, 0].numpy(), test / 255.0, rtol=1e-6)
    assert split.y_test.tolist() == list(range(10))
    # the same images whatever the split: training + validation is a permutation of the file
    together = torch.cat([split.X_train, split.X_val])[:, 0].numpy() * 255.0
    assert sorted(together.sum(axis=(1, 2)).round()) == sorted(train.sum(axis=(1, 2)).astype(float))


def test_missing_mnist_file_is_named(tmp_path):
    with pytest.raises(IDXError, match="no train-images-idx"):
        datasets.load_mnist(tmp_path)


def test_pulse_labels_follow_the_challenge_carrier_is_fast():
    pulses = datasets.make_pulses(seed=0)
    X, y = pulses.X_train[:, :, 0], pulses.y_train
    peak = X.max(dim=1).values
    late = X[:, -12:].mean(dim=1) / peak  # what is left of each pulse at the end of the record
    assert late[y == 1].mean() < 0.5 * late[y == 0].mean()  # label 1 (carrier) decays fast


# --- progress kept in the learner's folder ------------------------------------------------------


def test_check_records_progress_that_progress_shows(tmp_path):
    path = solution_with(1, "    optimizer.step()  # BLANK\n", "", tmp_path)
    assert invoke("start", 2, tmp_path).exit_code == 0  # started, never checked
    assert invoke("check", 1, path, "--quick", "--out-dir", tmp_path / "figures").exit_code == 1
    record = json.loads((tmp_path / ".exercises-progress.json").read_text())
    steps_1 = {s["name"]: s["status"] for s in record["lessons"]["1"]["steps"]}
    assert steps_1["sigmoid"] == "passed" and steps_1["training step"] == "failed"
    assert steps_1["accuracy target"] == "not run"
    assert record["lessons"]["1"]["file"] == "lesson1_logistic.py"

    shown = invoke("progress", tmp_path)
    assert shown.exit_code == 0, shown.output
    assert "Lesson 1: Logistic regression and gradient-descent variants: 5 of 9 steps pass" in (
        shown.output
    )
    assert "--quick)" in shown.output and "changed since" not in shown.output
    assert "[FAILED] training step: the weights did not change" in shown.output
    for number, expected in [
        (2, f"not checked yet (exercises check 2 {tmp_path / 'lesson2_mlp.py'})"),
        (3, f"not started (exercises start 3 {tmp_path})"),  # `check 3` would fail
    ]:
        assert f"Lesson {number}: {get_lesson(number).title}: {expected}\n" in shown.output

    path.write_text(path.read_text() + "\n# an edit\n")
    changed = invoke("progress", tmp_path)
    assert changed.exit_code == 0 and "changed since" in changed.output
    path.unlink()
    gone = invoke("progress", tmp_path)
    assert gone.exit_code == 0 and "the file is gone" in gone.output


def test_progress_of_a_later_check_replaces_the_earlier_one(tmp_path):
    path = solution_with(1, "    optimizer.step()  # BLANK\n", "", tmp_path)
    assert invoke("check", 1, path, "--quick", "--out-dir", tmp_path / "figures").exit_code == 1
    path.write_text(get_lesson(1).solution_path.read_text())
    assert invoke("check", 1, path, "--quick", "--out-dir", tmp_path / "figures").exit_code == 0
    shown = invoke("progress", tmp_path)
    assert shown.exit_code == 0
    assert "6 of 9 steps pass" in shown.output and "FAILED" not in shown.output


def test_unreadable_progress_file_is_a_clear_error_and_check_replaces_it(tmp_path):
    (tmp_path / ".exercises-progress.json").write_text("{not json")
    shown = invoke("progress", tmp_path)
    assert shown.exit_code == 1 and "Traceback" not in shown.output
    assert ".exercises-progress.json cannot be read" in shown.output and "delete it" in shown.output
    assert invoke("start", 1, tmp_path).exit_code == 0
    assert invoke("check", 1, tmp_path / "lesson1_logistic.py", "--quick").exit_code == 1
    shown = invoke("progress", tmp_path)
    assert shown.exit_code == 0 and "0 of 9 steps pass" in shown.output


def test_checking_the_reference_solution_records_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke("check", 1, "--solution", "--quick").exit_code == 0
    assert not list(get_lesson(1).solution_path.parent.glob(".exercises-progress*"))


@pytest.mark.parametrize("number", sorted(LESSONS))
def test_steps_are_named_once_and_wait_only_for_earlier_steps(number):
    steps = importlib.import_module(f"exercises.checks.lesson{number}").STEPS
    names = [step.name for step in steps]
    assert len(set(names)) == len(names)
    assert all(": " not in name for name in names)  # the output reads "name: message"
    for i, step in enumerate(steps):
        assert set(step.needs) <= set(names[:i]), step.name
        assert step.time_limit > 0
    first_training = next(i for i, step in enumerate(steps) if step.training)
    assert all(step.training for step in steps[first_training:])  # functions before training
