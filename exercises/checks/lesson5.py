"""Checks of lesson 5: MC-dropout uncertainty, saliency maps, and the recurrent pulse classifier."""

from __future__ import annotations

import torch
from torch import nn

from exercises.checker import CheckFailed, Context, Step
from exercises.checks import common

MC_ACCURACY_TARGET = 0.95  # digits, mean of the MC-dropout probabilities
UNCERTAINTY_RATIO_TARGET = 1.5  # spread on misclassified digits / spread on the right ones
RNN_ACCURACY_TARGET = 0.90  # fast against slow pulses, test part
RECURRENT = (nn.RNN, nn.GRU, nn.LSTM)


def check_mc_dropout(ctx: Context) -> str:
    predict = ctx.module.mc_dropout_predict
    X = torch.rand(30, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    plain = ctx.module.make_classifier(64, 32, 0.0)
    mean, std = predict(plain, X, 5)
    common.expect_tensor(mean, "the mean probabilities for 30 images", (30, 10))
    common.expect_tensor(std, "their standard deviation", (30, 10))
    plain.eval()
    with torch.no_grad():
        expected = torch.softmax(plain(X), dim=1)
    common.expect_close(
        mean,
        expected,
        "the mean without dropout",
        "average torch.softmax(model(X), dim=1) over the passes",
        atol=1e-5,
    )
    torch.manual_seed(0)
    dropping = ctx.module.make_classifier(64, 32, 0.5)
    _, std = predict(dropping, X, 20)
    if not std.mean() > 1e-3:
        raise CheckFailed(
            "the passes all agree although the model has dropout 0.5: call "
            "model.train() so that dropout stays on while predicting"
        )
    return "softmax averaged over passes with dropout on"


def check_saliency(ctx: Context) -> str:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    x = torch.rand(4, 1, 8, 8)
    target = torch.tensor([3, 0, 9, 3])
    got = common.expect_tensor(
        ctx.module.saliency(model, x, target), "saliency for 4 images", (4, 8, 8)
    )
    weights = model[1].weight.detach()
    expected = (weights[target] ** 2).view(4, 8, 8)  # d(w_c·x)/dx = w_c
    predicted = model(x).argmax(dim=1)
    common.compare_to_reference(
        got,
        expected,
        "the saliency of a linear model",
        "the squared gradient of each image's target logit with respect to its pixels",
        mistakes={
            "is the gradient of the predicted class's logit, not of the target class's: the "
            "wrong target class; gather the logits at `target`": (weights[predicted] ** 2).view(
                4, 8, 8
            ),
            "is the gradient of the sum of all ten logits: the wrong target class; gather the "
            "logits at `target`": (weights.sum(0) ** 2).expand(4, 64).reshape(4, 8, 8),
            "is the plain gradient, not squared: R = (∂f/∂x)²": weights[target].view(4, 8, 8),
        },
        sign_matters=False,
    )
    return "equals w_c² for a linear model, as it should"


def check_rnn_layers(ctx: Context) -> str:
    torch.manual_seed(0)
    model = common.expect_module(ctx.module.PulseRNN(8), "PulseRNN(8)")
    if not any(isinstance(m, RECURRENT) for m in model.modules()):
        raise CheckFailed("PulseRNN has no recurrent layer: use nn.GRU, nn.LSTM or nn.RNN")
    model.eval()
    for length in (48, 20):
        common.expect_tensor(
            model(torch.randn(5, length, 1)), f"the output for 5 pulses of {length} steps", (5, 2)
        )
    return "a recurrent layer, (n, 2) logits for pulses of any length"


def check_training(ctx: Context) -> str:
    config = ctx.module.Config()
    results = ctx.module.run_all(config)
    ctx.state.update(results=results, config=config)
    return "the digit classifier and the pulse RNN trained"


def check_uncertainty(ctx: Context) -> str:
    results, config = ctx.state["results"], ctx.state["config"]
    digits = results["digits"]
    torch.manual_seed(config.seed)
    mean, std = ctx.module.mc_dropout_predict(
        results["classifier"], digits.X_test, config.mc_samples
    )
    message = common.expect_at_least(
        common.classifier_accuracy(mean, digits.y_test),
        MC_ACCURACY_TARGET,
        "MC-dropout test accuracy",
    )
    predicted = mean.argmax(dim=1)
    spread = std.gather(1, predicted[:, None]).squeeze(1)
    right = predicted == digits.y_test
    if right.all():
        return message + "; no digit misclassified, so no uncertainty to compare"
    ratio = (spread[~right].mean() / spread[right].mean()).item()
    if not ratio >= UNCERTAINTY_RATIO_TARGET:
        raise CheckFailed(
            f"the spread on misclassified digits is only {ratio:.1f} times that on "
            f"the right ones (target {UNCERTAINTY_RATIO_TARGET}): is dropout on in "
            "mc_dropout_predict, with enough passes?"
        )
    return f"{message}; {ratio:.1f}x more spread when wrong than when right"


def check_rnn_accuracy(ctx: Context) -> str:
    results = ctx.state["results"]
    model, pulses = results["rnn"], results["pulses"]
    model.eval()
    with torch.no_grad():
        logits = model(pulses.X_test)
    return common.expect_at_least(
        common.classifier_accuracy(logits, pulses.y_test),
        RNN_ACCURACY_TARGET,
        "pulse test accuracy",
        "train longer or raise rnn_lr in Config",
    )


def check_figures(ctx: Context) -> str:
    paths = ctx.module.write_figures(ctx.state["results"], ctx.state["config"], ctx.out_dir)
    return common.expect_pngs(
        paths, ["mc_dropout_uncertainty.png", "saliency.png", "pulses.png", "rnn_loss.png"]
    )


TRAINED = ("training",)
STEPS = [
    Step("MC dropout", ("mc_dropout_predict", "make_classifier"), check_mc_dropout),
    Step("saliency", ("saliency",), check_saliency),
    Step("recurrent network", ("PulseRNN",), check_rnn_layers),
    Step(
        "training",
        ("run_all", "make_classifier", "train_classifier", "PulseRNN"),
        check_training,
        needs=("recurrent network",),
        training=True,
        time_limit=300,
    ),
    Step(
        "uncertainty where wrong",
        ("mc_dropout_predict",),
        check_uncertainty,
        needs=("MC dropout", *TRAINED),
        training=True,
    ),
    Step("pulse accuracy target", (), check_rnn_accuracy, needs=TRAINED, training=True),
    Step(
        "figures",
        ("write_figures", "mc_dropout_predict", "saliency"),
        check_figures,
        needs=("MC dropout", "saliency", *TRAINED),
        training=True,
        time_limit=60,
    ),
]
