"""Checks of lesson 6: reading the challenge's ROOT files, the ROC curve, the AUC two ways, its
DeLong and bootstrap intervals, accuracy on rare classes, and a first submission.

The references are independent of the lesson: scikit-learn, and the challenge's own reader,
metric, validator, scorer and command line (this lesson, unlike the others, is about the
challenge, so its check uses the challenge's code).
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from click.testing import CliRunner
from sklearn import metrics as sk_metrics
from torch import nn

from challenge import cli as challenge_cli
from challenge import data as challenge_data
from challenge import metrics as challenge_metrics
from challenge.submission import SubmissionError, read_submission
from exercises.checker import CheckFailed, Context, Step
from exercises.checks.common import expect_pngs

AUC_TARGET = 0.90  # on the test events; the reference network reaches about 0.96
BOOTSTRAP_WIDTH_RANGE = (0.6, 1.6)  # its interval's width, relative to DeLong's
N_BOOTSTRAP = 200
UNIT_N_TRAIN, UNIT_N_TEST = 400, 200  # the function steps' challenge: a third of the lesson's
ATOL = 1e-9  # float64 arithmetic on the same numbers
# A hand-made example with ties: labels and scores of eight events.
TIES_Y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
TIES_SCORE = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.8, 0.4])


def _folder(ctx: Context, config) -> Path:
    """The challenge for ``config``, generated once per check into the scratch folder."""
    name = f"challenge-{config.seed}-{config.n_train}-{config.n_test}-{config.record_length}"
    config = replace(config, data=str(ctx.scratch / name))
    return ctx.reference.make_challenge(config)


def _data(ctx: Context) -> tuple[Path, object]:
    """The checker's own small challenge and its training pulses, for the function steps."""
    if "data" not in ctx.state:
        config = replace(ctx.reference.Config(), n_train=UNIT_N_TRAIN, n_test=UNIT_N_TEST)
        folder = _folder(ctx, config)
        train = ctx.reference.read_pulses(folder / "public" / "train.root")
        ctx.state["data"] = folder, train
    return ctx.state["data"]


def _rise(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    _, train = _data(ctx)
    return train.y, ctx.reference.rise_score(train)


def check_read(ctx: Context) -> str:
    folder, _ = _data(ctx)
    truth = challenge_data.load("train", folder)
    got = ctx.module.read_pulses(folder / "public" / "train.root")
    if not np.array_equal(got.event_id, truth.event_id):
        raise CheckFailed("the event ids differ from the file's `event_id` branch")
    X = np.asarray(got.X)
    if X.shape != truth.X.shape:
        raise CheckFailed(f"X has shape {X.shape}; the file holds {truth.X.shape} pulses")
    if X.dtype != np.float32:
        raise CheckFailed(f"X is {X.dtype}; convert the pulses to float32 volts")
    if np.allclose(X, truth.X / got.metadata.get("volts_per_count", np.nan), atol=0.5):
        raise CheckFailed(
            "X is still in ADC counts: multiply by metadata['volts_per_count'] to get volts"
        )
    if not np.allclose(X, truth.X, rtol=1e-6, atol=1e-9):
        raise CheckFailed("X differs from the pulses in volts: counts x volts_per_count")
    if got.y is None or not np.array_equal(got.y, truth.y):
        raise CheckFailed("the labels differ from the file's `label` branch (1 = carrier)")
    test = ctx.module.read_pulses(folder / "public" / "test.root")
    if test.y is not None:
        raise CheckFailed("test.root has no labels: y should be None for it")
    return f"{len(X)} training pulses in volts with their labels, the test pulses without"


def check_roc(ctx: Context) -> str:
    expected = ctx.reference.roc_curve(TIES_Y, TIES_SCORE)
    fpr, tpr, thresholds = (
        np.asarray(a, dtype=float) for a in ctx.module.roc_curve(TIES_Y, TIES_SCORE)
    )
    sk_fpr, sk_tpr, _ = sk_metrics.roc_curve(TIES_Y, TIES_SCORE, drop_intermediate=False)
    if len(fpr) != len(expected[0]):
        raise CheckFailed(
            f"the curve has {len(fpr)} points for 5 distinct scores; expected "
            f"{len(expected[0])}: (0, 0) at threshold +inf, then one per distinct score"
        )
    if np.allclose(fpr, expected[1]) and np.allclose(tpr, expected[0]):
        raise CheckFailed(
            "the rates are swapped, the wrong target class: the true positive rate counts "
            "carriers (label 1), the false positive rate absorbers (label 0)"
        )
    if not (np.allclose(fpr, expected[0]) and np.allclose(tpr, expected[1])):
        inverted = ctx.reference.roc_curve(TIES_Y, -TIES_SCORE)
        if np.allclose(tpr, inverted[1]):
            raise CheckFailed(
                "the curve is inverted: call 'carrier' the events whose score is at least "
                "the threshold (a higher score is more carrier-like)"
            )
        raise CheckFailed(
            f"the curve's points differ from the threshold sweep's: expected fpr "
            f"{np.round(expected[0], 3).tolist()}, tpr {np.round(expected[1], 3).tolist()}, "
            f"got fpr {np.round(fpr, 3).tolist()}, tpr {np.round(tpr, 3).tolist()}"
        )
    if not (np.allclose(fpr, sk_fpr) and np.allclose(tpr, sk_tpr)):
        raise CheckFailed("the curve differs from scikit-learn's roc_curve")
    if not np.all(np.diff(thresholds) < 0):
        raise CheckFailed("the thresholds should fall from +inf to the lowest score")
    return "from (0, 0) to (1, 1), as scikit-learn's roc_curve, ties included"


def check_auc_pairs(ctx: Context) -> str:
    y, rise = _rise(ctx)
    for what, labels, score in (
        ("the hand-made example with ties", TIES_Y, TIES_SCORE),
        ("the rise score", y, rise),
    ):
        expected = sk_metrics.roc_auc_score(labels, score)
        got = float(ctx.module.auc_by_pairs(labels, score))
        if abs(got - expected) <= ATOL:
            continue
        if abs(got - (1 - expected)) <= ATOL:
            raise CheckFailed(
                f"auc_by_pairs gives 1 - AUC on {what}: the wrong target class; count the pairs "
                "where the carrier (label 1) scores higher than the absorber"
            )
        diff = np.subtract.outer(score[labels == 1], score[labels == 0])
        if abs(got - np.mean(diff > 0)) <= ATOL or abs(got - np.mean(diff >= 0)) <= ATOL:
            raise CheckFailed(f"auc_by_pairs on {what} does not count a tie as one half")
        raise CheckFailed(f"auc_by_pairs gives {got:.6f} on {what}; scikit-learn {expected:.6f}")
    own = challenge_metrics.roc_auc_score(y, rise)
    return f"the rise score's AUC {own:.4f}, as scikit-learn's and challenge.metrics'"


def check_auc_trapezoids(ctx: Context) -> str:
    y, rise = _rise(ctx)
    for labels, score in ((TIES_Y, TIES_SCORE), (y, rise)):
        fpr, tpr, _ = ctx.reference.roc_curve(labels, score)
        got = float(ctx.module.auc_by_trapezoids(fpr, tpr))
        expected = sk_metrics.auc(fpr, tpr)
        if abs(got - expected) <= ATOL:
            continue
        rectangles = (np.sum(np.diff(fpr) * tpr[:-1]), np.sum(np.diff(fpr) * tpr[1:]))
        if min(abs(got - r) for r in rectangles) <= ATOL:
            raise CheckFailed(
                "auc_by_trapezoids adds rectangles, not trapezoids: each piece is "
                "Δfpr x (tpr_i + tpr_{i+1}) / 2"
            )
        raise CheckFailed(f"auc_by_trapezoids gives {got:.6f}; the trapezoid rule {expected:.6f}")
    return "the area under the curve equals the AUC by pairs (scikit-learn's auc)"


def check_delong(ctx: Context) -> str:
    y, rise = _rise(ctx)
    got = tuple(float(v) for v in ctx.module.delong_interval(y, rise))
    expected = challenge_metrics.roc_auc_ci(y, rise)
    if len(got) != 3:
        raise CheckFailed(f"delong_interval should return (auc, low, high), got {len(got)} values")
    if not np.allclose(got, tuple(expected), atol=1e-7):
        wins = np.subtract.outer(rise[y == 1], rise[y == 0])
        wins = (wins > 0) + 0.5 * (wins == 0)
        v10, v01 = wins.mean(axis=1), wins.mean(axis=0)
        biased = np.sqrt(v10.var() / len(v10) + v01.var() / len(v01)) * 1.959963984540054
        if abs((got[2] - got[1]) / 2 - biased) < 1e-7:
            raise CheckFailed("use the sample variance, var(ddof=1), of the placements")
        raise CheckFailed(
            f"delong_interval gives {np.round(got, 5).tolist()}; challenge.metrics.roc_auc_ci "
            f"gives {np.round(tuple(expected), 5).tolist()}: the variance is var(V10) / m + "
            "var(V01) / n, and the half-width 1.96 σ for 95%"
        )
    ctx.state["delong"] = expected
    return f"AUC {expected.value:.4f} [{expected.lo:.4f}, {expected.hi:.4f}], as challenge.metrics"


def check_bootstrap(ctx: Context) -> str:
    y, rise = _rise(ctx)
    delong = ctx.state.get("delong") or challenge_metrics.roc_auc_ci(y, rise)
    lo, hi = (
        float(v) for v in ctx.module.bootstrap_interval(y, rise, n_resamples=N_BOOTSTRAP, seed=0)
    )
    again = tuple(
        float(v) for v in ctx.module.bootstrap_interval(y, rise, n_resamples=N_BOOTSTRAP, seed=0)
    )
    if (lo, hi) != again:
        raise CheckFailed(
            "two bootstraps with seed 0 differ: draw with np.random.default_rng(seed)"
        )
    if not lo < delong.value < hi:
        raise CheckFailed(
            f"the interval [{lo:.4f}, {hi:.4f}] does not contain the AUC {delong.value:.4f}"
        )
    ratio = (hi - lo) / (delong.hi - delong.lo)
    low, high = BOOTSTRAP_WIDTH_RANGE
    if not low <= ratio <= high:
        raise CheckFailed(
            f"the interval [{lo:.4f}, {hi:.4f}] is {ratio:.2f} times as wide as DeLong's; "
            f"expected {low} to {high}: resample len(y) events with replacement and take the "
            "2.5% and 97.5% quantiles of their AUCs"
        )
    return f"[{lo:.4f}, {hi:.4f}], {ratio:.2f} times DeLong's width"


def check_accuracy(ctx: Context) -> str:
    y = np.array([1, 1, 0, 0, 0])
    score = np.array([0.9, 0.2, 0.6, 0.1, 0.5])
    got = float(ctx.module.accuracy(y, score, 0.5))
    if abs(got - 0.4) <= 1e-12:
        raise CheckFailed(
            "accuracy gives 0.4 where 3 of 5 are right: the wrong target class; 'carrier' "
            "(label 1) is a score above the threshold"
        )
    if abs(got - 0.6) > 1e-12:
        raise CheckFailed(f"accuracy gives {got} where 3 of 5 are right (0.6) at threshold 0.5")
    y_all, rise = _rise(ctx)
    rare = ctx.reference.rare_sample(y_all, ctx.reference.Config.rare_fraction, 0)
    lazy = ctx.module.accuracy(y_all[rare], np.zeros(len(rare)), 0.5)
    best = max(
        ctx.module.accuracy(y_all[rare], rise[rare], t)
        for t in np.quantile(rise, np.linspace(0, 1, 101))
    )
    auc = challenge_metrics.roc_auc_score(y_all[rare], rise[rare])
    return (
        f"with {np.mean(y_all[rare]):.0%} carriers, 'all absorbers' is right {lazy:.1%} of the "
        f"time (AUC 0.5); the rise score at best {best:.1%} (AUC {auc:.3f})"
    )


def check_predict(ctx: Context) -> str:
    # The checker's own network with dropout: prediction must switch it off.
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1), nn.Flatten(0)
    )
    X = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    expected = ctx.reference.predict_scores(copy.deepcopy(model), X)
    model.train()
    got = ctx.module.predict_scores(model, X)
    if not isinstance(got, np.ndarray) or got.shape != (50,):
        raise CheckFailed(
            f"predict_scores should return a numpy array of shape (50,), got "
            f"{type(got).__name__} {getattr(got, 'shape', '')}: .numpy() at the end"
        )
    model.train()
    if not np.array_equal(got, ctx.module.predict_scores(model, X)) or model.training:
        raise CheckFailed("two predictions differ: a missing eval mode; call model.eval() first")
    ranked = expected[np.argsort(got, kind="stable")]
    if np.all(np.diff(ranked) <= 0):
        raise CheckFailed(
            "the scores are inverted: they fall as the logit rises; a higher score must mean "
            "more carrier-like (the logit, or its sigmoid)"
        )
    if not np.all(np.diff(ranked) >= 0):
        raise CheckFailed("the scores do not rank the events as the model's logits do")
    return "scores rise with the logit, dropout off"


def check_submission(ctx: Context) -> str:
    ids = np.array([11, 3, 7, 123456789], dtype=np.int64)
    scores = np.array([0.25, -1.5, 3e-5, 2.0])
    path = ctx.module.write_submission_csv(ctx.scratch / "mine.csv", ids, scores)
    try:
        checked = read_submission(Path(path), expected_ids=ids, name=Path(path).name)
    except SubmissionError as exc:
        raise CheckFailed(f"the challenge's validator refuses the file: {exc}") from None
    by_id = checked.set_index("event_id")["score"]
    if not np.array_equal(by_id.loc[ids].to_numpy(), scores):
        raise CheckFailed("the scores in the file are not the ones given, event by event")
    return "the challenge's validator accepts it, with every score in place"


def check_validate_and_score(ctx: Context) -> str:
    folder, _ = _data(ctx)
    key_ids = challenge_data.load_event_ids("test", folder)
    score = np.random.default_rng(0).random(len(key_ids))
    good = ctx.reference.write_submission_csv(ctx.scratch / "good.csv", key_ids, score)
    got = ctx.module.validate_and_score(good, folder)
    expected = ctx.reference.validate_and_score(good, folder)
    if got != expected:
        raise CheckFailed(
            f"validate_and_score gives {got}; expected {expected}: the challenge's "
            "scoring.score_submission on the validated submission"
        )
    short = ctx.reference.write_submission_csv(ctx.scratch / "short.csv", key_ids[1:], score[1:])
    try:
        ctx.module.validate_and_score(short, folder)
    except SubmissionError:
        return "the leaderboard's validator refuses a short file, its scorer scores a good one"
    raise CheckFailed(
        "a submission that misses an event was scored, not refused: validate it with "
        "submission.read_submission(path, expected_ids=...) first"
    )


def check_network(ctx: Context) -> str:
    config = ctx.module.Config()
    folder = _folder(ctx, config)
    config = replace(config, data=str(folder), submission=str(ctx.scratch / "submission.csv"))
    results = ctx.module.run_all(config)
    ctx.state["results"] = results
    runner = CliRunner()
    validated = runner.invoke(
        challenge_cli.main, ["validate", str(results["submission"]), "--data", str(folder)]
    )
    if validated.exit_code != 0:
        raise CheckFailed(
            f"`challenge validate` refuses the submission: {validated.output.strip()}"
        )
    scored = runner.invoke(
        challenge_cli.main,
        [
            "score",
            str(results["submission"]),
            "--answers",
            str(folder / "private" / "answer_key.csv"),
        ],
    )
    overall = re.search(r"overall AUC ([\d.]+)", scored.output)
    if scored.exit_code != 0 or overall is None:
        raise CheckFailed(f"`challenge score` failed: {scored.output.strip()}")
    auc = float(overall[1])
    if abs(auc - results["scores"]["overall"].value) > 1e-4:
        raise CheckFailed(
            f"`challenge score` says {auc:.4f}, run_all's scores say "
            f"{results['scores']['overall'].value:.4f}"
        )
    if auc < 0.5:
        raise CheckFailed(
            f"the test AUC {auc:.4f} is below chance: the scores are inverted (higher must mean "
            "carrier)"
        )
    if auc < AUC_TARGET:
        raise CheckFailed(
            f"the test AUC {auc:.4f} (`challenge score`) is below the {AUC_TARGET} target: train "
            "longer, or change the window or the network in Config"
        )
    return (
        f"test AUC {auc:.4f} >= {AUC_TARGET} by `challenge score`; `challenge validate` accepts it"
    )


def check_figures(ctx: Context) -> str:
    paths = ctx.module.write_figures(ctx.state["results"], ctx.out_dir)
    return expect_pngs(paths, ["roc.png", "training_loss.png"])


UNITS = (
    "read pulses with uproot",
    "ROC curve by a threshold sweep",
    "AUC by pairs",
    "scores in eval mode",
    "submission file",
    "validate and score",
)
STEPS = [
    Step("read pulses with uproot", ("read_pulses",), check_read, time_limit=60),
    Step("ROC curve by a threshold sweep", ("roc_curve",), check_roc),
    Step("AUC by pairs", ("auc_by_pairs",), check_auc_pairs),
    Step("AUC by trapezoids", ("auc_by_trapezoids",), check_auc_trapezoids),
    Step("DeLong interval", ("delong_interval",), check_delong),
    Step(
        "bootstrap interval",
        ("bootstrap_interval", "auc_by_pairs"),
        check_bootstrap,
        needs=("AUC by pairs",),
        time_limit=60,
    ),
    Step("accuracy with rare carriers", ("accuracy",), check_accuracy),
    Step("scores in eval mode", ("predict_scores",), check_predict),
    Step("submission file", ("write_submission_csv",), check_submission),
    Step("validate and score", ("validate_and_score",), check_validate_and_score),
    Step(
        "network and submission",
        ("run_all", "train_model", "make_model", "features", "read_pulses", "predict_scores"),
        check_network,
        needs=UNITS,
        training=True,
        time_limit=180,
    ),
    Step(
        "figures",
        ("write_figures", "roc_curve", "auc_by_trapezoids"),
        check_figures,
        needs=("network and submission", "ROC curve by a threshold sweep", "AUC by trapezoids"),
        training=True,
        time_limit=60,
    ),
]
