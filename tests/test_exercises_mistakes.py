"""The checker names the classic mistakes: each is injected into a reference solution, and the
right step must fail with the hint that names it while every other step passes (or waits for it).

Most run as quick checks (no training): the mistakes are caught before any training starts.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exercises.checker import StepResult, run_checks
from exercises.lessons import get_lesson
from exercises.timelimit import EXIT_STUCK, StepTimeout, time_limit


def inject(number: int, tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """The reference solution of lesson ``number`` with each (old, new) replaced once."""
    source = get_lesson(number).solution_path.read_text()
    for old, new in replacements:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    path = tmp_path / get_lesson(number).filename
    path.write_text(source)
    return path


def check(number: int, path: Path, *, quick: bool = True, **options) -> dict[str, StepResult]:
    results = run_checks(
        get_lesson(number), path, out_dir=path.parent / "figures", quick=quick, **options
    )
    return {result.name: result for result in results}


def assert_only_fails(results: dict[str, StepResult], step: str, hint: str) -> None:
    """``step`` failed with ``hint``; every other step passed, was left out (quick) or waits."""
    assert results[step].status == "failed", results[step]
    assert hint in results[step].message, results[step].message
    for name, result in results.items():
        if name == step or result.passed or not result.ran:
            continue
        assert result.status == "skipped", (name, result)
        assert result.message.startswith("needs step "), (name, result.message)
        assert step in result.message, (name, result.message)


MISTAKES = {
    "lesson 1 BCE with the wrong sign": (
        1,
        "loss functions",
        "bce_loss(p, y) has the wrong sign",
        [("return -(y * torch.log(p + EPS)", "return (y * torch.log(p + EPS)")],
    ),
    "lesson 1 training step with the wrong sign": (
        1,
        "training step",
        "the loss train_step returns has the wrong sign",
        [("loss = loss_fn(model(xb), yb)", "loss = -loss_fn(model(xb), yb)")],
    ),
    "lesson 2 training step with the wrong sign": (
        2,
        "training step",
        "the loss train_step returns has the wrong sign",
        [
            (
                "loss = F.binary_cross_entropy_with_logits(",
                "loss = -F.binary_cross_entropy_with_logits(",
            )
        ],
    ),
    "lesson 1 inverted sigmoid": (
        1,
        "sigmoid",
        "sigmoid(z) is inverted",
        [("return 1 / (1 + torch.exp(-z))", "return 1 / (1 + torch.exp(z))")],
    ),
    "lesson 2 inverted probability": (
        2,
        "dropout off for prediction",
        "predict_proba is an inverted probability",
        [("return torch.sigmoid(model(X))", "return 1 - torch.sigmoid(model(X))")],
    ),
    "lesson 2 missing eval mode": (
        2,
        "dropout off for prediction",
        "a missing eval mode",
        [("    model.eval()  # BLANK: switch dropout off\n", "")],
    ),
    "lesson 3 missing eval mode": (
        3,
        "prediction in eval mode",
        "a missing eval mode",
        [("    model.eval()  # BLANK: batch norm uses its running averages, dropout is off\n", "")],
    ),
    "lesson 1 L2 loss summed": (
        1,
        "loss functions",
        "l2_loss(p, y) is a sum over the points, not their mean: a wrong reduction",
        [("return ((y - p) ** 2).mean()", "return ((y - p) ** 2).sum()")],
    ),
    "lesson 2 training loss summed": (
        2,
        "training step",
        "a wrong reduction",
        [
            (
                "F.binary_cross_entropy_with_logits(model(xb), yb)",
                "F.binary_cross_entropy_with_logits(model(xb), yb, reduction='sum')",
            )
        ],
    ),
    "lesson 3 training loss summed": (
        3,
        "training epoch",
        "a wrong reduction",
        [
            (
                "F.cross_entropy(model(X[batch]), y[batch])",
                "F.cross_entropy(model(X[batch]), y[batch], reduction='sum')",
            )
        ],
    ),
    "lesson 3 softmax that overflows": (
        3,
        "softmax",
        "exp(1000) overflows to inf",
        [
            (
                "    z = z - z.max(dim=-1, keepdim=True).values  # BLANK: subtract each row's maximum (stability)\n",
                "",
            )
        ],
    ),
    "lesson 4 VAE loss summed over the batch": (
        4,
        "VAE loss",
        "not the mean per image: a wrong reduction",
        [("return (reconstruction + kl) / len(x)", "return reconstruction + kl")],
    ),
    "lesson 1 accuracy of the wrong class": (
        1,
        "accuracy",
        "the wrong target class",
        [("return ((model(X) > 0.5).float() == y)", "return ((model(X) < 0.5).float() == y)")],
    ),
    "lesson 4 generator trained towards 'fake'": (
        4,
        "GAN step",
        "g_loss uses the wrong target class",
        [("discriminator(fake), ones)", "discriminator(fake), zeros)")],
    ),
    "lesson 5 saliency of the predicted class": (
        5,
        "saliency",
        "the wrong target class",
        [
            (
                "score = model(x).gather(1, target[:, None]).sum()",
                "score = model(x).max(dim=1).values.sum()",
            )
        ],
    ),
    "lesson 1 cross-entropy without epsilon": (
        1,
        "loss functions",
        "a NaN from a missing epsilon",
        [
            (
                "torch.log(p + EPS) + (1 - y) * torch.log(1 - p + EPS)",
                "torch.log(p) + (1 - y) * torch.log(1 - p)",
            )
        ],
    ),
    "lesson 2 backpropagation without the 1/n of the mean": (
        2,
        "backprop, gradients by hand",
        "a wrong reduction",
        [
            (
                "P2 = ((y - t) * y * (1 - y))[:, None] / len(t)",
                "P2 = ((y - t) * y * (1 - y))[:, None]",
            )
        ],
    ),
    "lesson 2 backpropagation with the wrong sign": (
        2,
        "backprop, gradients by hand",
        "the gradient of W1 has the wrong sign",
        [("P2 = ((y - t) * y * (1 - y))", "P2 = ((t - y) * y * (1 - y))")],
    ),
    "lesson 6 AUC counting absorbers over carriers": (
        6,
        "AUC by pairs",
        "the wrong target class",
        [
            (
                "diff = score[y == 1][:, None] - score[y == 0][None, :]  # (carriers, absorbers)",
                "diff = score[y == 0][:, None] - score[y == 1][None, :]",
            )
        ],
    ),
    "lesson 6 scores without eval mode": (
        6,
        "scores in eval mode",
        "a missing eval mode",
        [("    model.eval()  # BLANK: no dropout while predicting\n", "")],
    ),
    "lesson 6 inverted scores": (
        6,
        "scores in eval mode",
        "the scores are inverted",
        [("return model(X).double().numpy()", "return -model(X).double().numpy()")],
    ),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_the_right_step_names_the_mistake(mistake, tmp_path):
    number, step, hint, replacements = MISTAKES[mistake]
    results = check(number, inject(number, tmp_path, *replacements))
    assert_only_fails(results, step, hint)


def test_missing_eval_mode_is_caught_even_without_dropout_in_the_learners_network(tmp_path):
    # The case: the learner's MLP has no dropout, so their own network cannot show it.
    path = inject(
        2,
        tmp_path,
        ("    model.eval()  # BLANK: switch dropout off\n", ""),
        ("ACTIVATIONS[activation](), nn.Dropout(dropout)]", "ACTIVATIONS[activation]()]"),
    )
    results = check(2, path)
    assert results["dropout off for prediction"].status == "failed"
    assert "a missing eval mode" in results["dropout off for prediction"].message
    assert "dropout rates []" in results["MLP layers"].message  # its own, separate mistake


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_search_below_chance_is_an_error(tmp_path):
    path = inject(
        2,
        tmp_path,
        ("return ((predict_proba(model, X) > 0.5)", "return ((predict_proba(model, X) < 0.5)"),
    )
    results = check(2, path, quick=False)
    assert_only_fails(results, "hyperparameter search", "below chance (50%)")


def test_a_step_that_loops_forever_is_stopped_and_says_so(tmp_path):
    path = inject(
        1,
        tmp_path,
        (
            "    return 1 / (1 + torch.exp(-z))  # BLANK",
            "    while True:\n        pass\n    # BLANK",
        ),
    )
    results = check(1, path, time_scale=0.05)  # the sigmoid step's 20 s become 1 s
    sigmoid = results["sigmoid"]
    assert sigmoid.status == "failed" and 1.0 <= sigmoid.seconds < 3
    assert sigmoid.message.startswith("stopped after 1 s, this step's time limit: does a loop")
    assert "it was at lesson1_logistic.py, line" in sigmoid.message
    assert "`pass`" in sigmoid.message or "`while True:`" in sigmoid.message
    assert_only_fails(results, "sigmoid", "stopped after 1 s")


@pytest.mark.slow  # a fresh process imports torch, then waits out the limit and its grace
@pytest.mark.timeout(90)
def test_a_loop_that_swallows_every_stop_ends_the_check_with_a_message(tmp_path):
    path = inject(
        1,
        tmp_path,
        (
            "    return 1 / (1 + torch.exp(-z))  # BLANK",
            "    import time\n"
            "    while True:\n"
            "        try:\n"
            "            while True:\n"
            "                try:\n"
            "                    time.sleep(1)\n"
            "                except BaseException:\n"
            "                    pass\n"
            "        except BaseException:\n"
            "            pass\n"
            "    # BLANK",
        ),
    )
    done = subprocess.run(
        [sys.executable, "-c", "from exercises.cli import main; main()"]
        + ["check", "1", str(path), "--time-scale", "0.05"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == EXIT_STUCK
    assert "step 'sigmoid' of lesson1_logistic.py ran past its time limit (1 s)" in done.stderr
    assert "Traceback" not in done.stderr


# --- the time limit itself ----------------------------------------------------------------------


def test_time_limit_stops_a_loop_and_gives_the_outer_alarm_its_time_back():
    fired = []
    pytest_alarm = signal.getitimer(signal.ITIMER_REAL)
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append("outer"))
    signal.setitimer(signal.ITIMER_REAL, 30.0)  # as pytest-timeout's own alarm
    try:
        start = time.monotonic()
        with pytest.raises(StepTimeout), time_limit(0.2):
            while True:
                pass
        assert 0.2 <= time.monotonic() - start < 1.5
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 28.0 < left <= 30.0  # the outer alarm keeps its deadline
        assert signal.getsignal(signal.SIGALRM) is not None and not fired
        with time_limit(5.0):  # a block that ends in time is not disturbed
            sum(range(1000))
    finally:
        signal.signal(signal.SIGALRM, previous)
        signal.setitimer(signal.ITIMER_REAL, *pytest_alarm)


def test_an_outer_alarm_due_first_still_fires_inside_a_step():
    def outer(*_):
        raise TimeoutError("the outer alarm")

    pytest_alarm = signal.getitimer(signal.ITIMER_REAL)
    previous = signal.signal(signal.SIGALRM, outer)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        with pytest.raises(TimeoutError, match="the outer alarm"), time_limit(10.0):
            while True:
                pass
    finally:
        signal.signal(signal.SIGALRM, previous)
        signal.setitimer(signal.ITIMER_REAL, *pytest_alarm)


def test_except_exception_does_not_swallow_the_stop():
    def stubborn():
        while True:
            try:
                time.sleep(0.05)
            except Exception:  # a learner's habit: it must not catch the time limit
                pass

    with pytest.raises(StepTimeout), time_limit(0.2):
        stubborn()
