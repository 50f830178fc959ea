"""Checks of lesson 1: the sigmoid, the model, three losses, the optimisers, training, figures.

Each function is first compared with the reference solution's on fixed inputs; training comes last.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from exercises import datasets
from exercises.checker import CheckFailed, Context, Step
from exercises.checks import common

ACCURACY_TARGET = 0.98  # the blobs are linearly separable: a trained model gets (nearly) all
CHANCE = 0.5  # two balanced classes
INVERTED_PROBABILITY = (
    "is inverted: it gives 1 - σ(z) = σ(-z), so the probability falls as the logit rises; "
    "σ(z) = 1 / (1 + exp(-z)), with the minus sign"
)


def check_sigmoid(ctx: Context) -> str:
    z = torch.linspace(-20, 20, 81)
    expected = ctx.reference.sigmoid(z)
    common.compare_to_reference(
        ctx.module.sigmoid(z),
        expected,
        "sigmoid(z)",
        "σ(z) = 1 / (1 + exp(-z))",
        mistakes={INVERTED_PROBABILITY: 1 - expected},
        atol=1e-6,
        sign_matters=False,
    )
    return "matches the reference from -20 to 20: rises from 0 to 1"


def check_model(ctx: Context) -> str:
    torch.manual_seed(0)
    model = common.expect_module(ctx.module.LogisticRegression(), "LogisticRegression()")
    n_params = sum(p.numel() for p in model.parameters())
    if n_params != 3:
        raise CheckFailed(
            f"the model has {n_params} parameters; logistic regression in 2D has 3 "
            "(w1, w2 and d): use one nn.Linear(2, 1)"
        )
    X = torch.randn(7, 2)
    p = common.expect_tensor(model(X), "the model's output for 7 points", (7,))
    linear = next(m for m in model.modules() if isinstance(m, nn.Linear))
    common.expect_close(
        p,
        torch.sigmoid(linear(X)).squeeze(-1),
        "the model's output",
        "forward should return sigmoid(self.linear(x)) squeezed to shape (n,)",
    )
    return "σ(w·x + d), shape (n,)"


LOSS_FORMULAS = {
    "l1_loss": "the mean of |y - p|",
    "l2_loss": "the mean of (y - p)²",
    "bce_loss": "the mean of -[y ln(p + EPS) + (1 - y) ln(1 - p + EPS)]",
}
N_LOSS_POINTS = 50


def check_losses(ctx: Context) -> str:
    generator = torch.Generator().manual_seed(1)
    p = torch.rand(N_LOSS_POINTS, generator=generator) * 0.98 + 0.01
    y = (torch.rand(N_LOSS_POINTS, generator=generator) > 0.5).float()
    perfect = torch.tensor([0.0, 1.0, 1.0, 0.0])
    for name, formula in LOSS_FORMULAS.items():
        learner, reference = getattr(ctx.module, name), getattr(ctx.reference, name)
        at_perfect = common.compare_to_reference(
            learner(perfect, perfect),
            reference(perfect, perfect),
            f"{name} at a perfect prediction (p = y, p exactly 0 or 1)",
            f"a loss is 0 when p = y: {formula}",
            atol=1e-4,
        )
        if abs(at_perfect.item()) > 1e-4:
            raise CheckFailed(f"{name} is {at_perfect.item():.3g} at a perfect prediction, not 0")
        expected = reference(p, y)
        got = common.compare_to_reference(
            learner(p, y),
            expected,
            f"{name}(p, y)",
            formula,
            mistakes={
                "is a sum over the points, not their mean: a wrong reduction": (
                    expected * N_LOSS_POINTS
                ),
                "uses the wrong target class: it equals the loss of 1 - p (or of 1 - y); "
                "p is the probability of class 1": reference(1 - p, y),
            },
            atol=1e-4,
        )
        common.expect_non_negative_loss(got, f"{name}(p, y)")
    return "L1, L2 and cross-entropy match the reference, >= 0 and 0 at a perfect prediction"


def _train_steps(train_step, model: nn.Module, loss_fn, X, y, n: int) -> list:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    return [train_step(model, loss_fn, optimizer, X, y) for _ in range(n)]


def check_train_step(ctx: Context) -> str:
    X, y = datasets.make_blobs(seed=0)
    torch.manual_seed(0)
    model = ctx.reference.LogisticRegression()  # the reference's model and loss: only
    loss_fn = ctx.reference.bce_loss  # train_step itself is checked here
    expected_model = copy.deepcopy(model)
    before = common.snapshot(model)
    losses = _train_steps(ctx.module.train_step, model, loss_fn, X, y, 10)
    expected = _train_steps(ctx.reference.train_step, expected_model, loss_fn, X, y, 10)
    if not all(isinstance(v, float) for v in losses):
        raise CheckFailed(
            f"train_step returned {type(losses[0]).__name__}, not a float: return loss.item()"
        )
    common.compare_to_reference(
        losses[0],
        torch.tensor(expected[0]),
        "the loss train_step returns",
        "return the loss of the model's prediction for xb, computed with loss_fn",
    )
    return common.expect_steps_like_reference(
        losses, before, model, expected_model, "is optimizer.step() called after loss.backward()?"
    )


def check_optimizers(ctx: Context) -> str:
    params = [nn.Parameter(torch.zeros(2))]
    expected = {
        "sgd": (torch.optim.SGD, {"momentum": 0, "nesterov": False}),
        "momentum": (torch.optim.SGD, {"momentum": 0.9, "nesterov": False}),
        "nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
        "rmsprop": (torch.optim.RMSprop, {}),
        "adam": (torch.optim.Adam, {}),
    }
    for name, (cls, settings) in expected.items():
        optimizer = ctx.module.make_optimizer(name, params, 0.01)
        if type(optimizer) is not cls:
            raise CheckFailed(
                f"make_optimizer({name!r}) gave {type(optimizer).__name__}, "
                f"expected torch.optim.{cls.__name__}"
            )
        group = optimizer.param_groups[0]
        for key, value in {"lr": 0.01, **settings}.items():
            if group[key] != value:
                raise CheckFailed(
                    f"make_optimizer({name!r}) has {key}={group[key]}, expected {value}"
                )
    return "SGD, momentum, Nesterov, RMSprop and Adam"


def check_accuracy(ctx: Context) -> str:
    class Fixed(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, 0]

    X = torch.tensor([[0.9, 0], [0.2, 0], [0.7, 0], [0.4, 0]])
    got = ctx.module.accuracy(Fixed(), X, torch.tensor([1.0, 0.0, 0.0, 0.0]))
    if isinstance(got, float) and abs(got - 0.25) < 1e-9:
        raise CheckFailed(
            "accuracy gave 0.25 where 3 of 4 predictions are right: the wrong target class; "
            "p is the probability of class 1, so predict class 1 when p > 0.5"
        )
    if not isinstance(got, float) or abs(got - 0.75) > 1e-9:
        raise CheckFailed(
            f"accuracy gave {got!r} where 3 of 4 predictions are right (0.75): "
            "predict class 1 when p > 0.5 and return a float (.item())"
        )
    return "3 of 4 right gives 0.75"


def check_comparison(ctx: Context) -> str:
    m = ctx.module
    config = m.Config()
    X, y = datasets.make_blobs(config.n_points, seed=config.seed)
    results = m.compare_optimizers(config, X, y)
    for name, (_, history) in results.items():
        common.expect_decreasing(
            history,
            f"the loss with {name}",
            "is optimizer.step() called? is the learning rate in VARIANTS too small?",
        )
    ctx.state.update(results=results, X=X, y=y)
    return f"the loss decreases with each of {len(results)} variants"


def check_training(ctx: Context) -> str:
    X, y = ctx.state["X"], ctx.state["y"]
    accuracies = {}
    for name, (model, _) in ctx.state["results"].items():
        with torch.no_grad():
            accuracies[name] = common.binary_accuracy(model(X), y, threshold=0.5)
    best = max(accuracies, key=accuracies.get)
    if accuracies[best] < CHANCE:
        raise CheckFailed(
            f"the best accuracy, {accuracies[best]:.1%} ({best}), is below chance ({CHANCE:.0%}): "
            "the model learns the opposite of the labels; is a sign or a class swapped?"
        )
    return common.expect_at_least(
        accuracies[best],
        ACCURACY_TARGET,
        f"accuracy ({best})",
        "train longer or raise the learning rate",
    )


def check_figures(ctx: Context) -> str:
    paths = ctx.module.write_figures(
        ctx.state["results"], ctx.state["X"], ctx.state["y"], ctx.out_dir
    )
    return common.expect_pngs(paths, ["decision_boundary.png", "optimizers.png"])


MODEL = ("LogisticRegression", "sigmoid")
LOSSES = ("l1_loss", "l2_loss", "bce_loss")
UNITS = ("sigmoid", "model", "loss functions", "training step", "optimizers")
STEPS = [
    Step("sigmoid", ("sigmoid",), check_sigmoid),
    Step("model", MODEL, check_model, needs=("sigmoid",)),
    Step("loss functions", LOSSES, check_losses),
    Step("training step", ("train_step",), check_train_step),
    Step("optimizers", ("make_optimizer",), check_optimizers),
    Step("accuracy", ("accuracy",), check_accuracy),
    Step(
        "optimizer comparison",
        (
            "compare_optimizers",
            "train",
            "train_step",
            "make_optimizer",
            *LOSSES,
            *MODEL,
        ),
        check_comparison,
        needs=UNITS,
        training=True,
        time_limit=120,
    ),
    Step(
        "accuracy target",
        (),
        check_training,
        needs=("optimizer comparison",),
        training=True,
    ),
    Step(
        "figures",
        ("write_figures", "accuracy"),
        check_figures,
        needs=("optimizer comparison", "accuracy"),
        training=True,
        time_limit=60,
    ),
]
