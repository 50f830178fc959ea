"""Checks of lesson 1: the sigmoid, the model, three losses, the optimisers, training, figures."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from exercises import datasets
from exercises.checker import CheckFailed, Context, Step
from exercises.checks.common import (
    expect_at_least,
    expect_close,
    expect_decreasing,
    expect_module,
    expect_pngs,
    expect_tensor,
    parameters_changed,
    snapshot,
)

ACCURACY_TARGET = 0.98  # the blobs are linearly separable: a trained model gets (nearly) all


def check_sigmoid(ctx: Context) -> str:
    z = torch.linspace(-20, 20, 81)
    expect_close(
        ctx.module.sigmoid(z), torch.sigmoid(z), "sigmoid(z)", "σ(z) = 1 / (1 + exp(-z))", atol=1e-6
    )
    return "matches torch.sigmoid from -20 to 20"


def check_model(ctx: Context) -> str:
    torch.manual_seed(0)
    model = expect_module(ctx.module.LogisticRegression(), "LogisticRegression()")
    n_params = sum(p.numel() for p in model.parameters())
    if n_params != 3:
        raise CheckFailed(
            f"the model has {n_params} parameters; logistic regression in 2D has 3 "
            "(w1, w2 and d): use one nn.Linear(2, 1)"
        )
    X = torch.randn(7, 2)
    p = expect_tensor(model(X), "the model's output for 7 points", (7,))
    linear = next(m for m in model.modules() if isinstance(m, nn.Linear))
    expect_close(
        p,
        torch.sigmoid(linear(X)).squeeze(-1),
        "the model's output",
        "forward should return sigmoid(self.linear(x)) squeezed to shape (n,)",
    )
    return "σ(w·x + d), shape (n,)"


def check_losses(ctx: Context) -> str:
    generator = torch.Generator().manual_seed(1)
    p = torch.rand(50, generator=generator) * 0.98 + 0.01
    y = (torch.rand(50, generator=generator) > 0.5).float()
    m = ctx.module
    expect_close(m.l1_loss(p, y), F.l1_loss(p, y), "l1_loss", "the mean of |y - p|")
    expect_close(m.l2_loss(p, y), F.mse_loss(p, y), "l2_loss", "the mean of (y - p)²")
    expect_close(
        m.bce_loss(p, y),
        F.binary_cross_entropy(p, y),
        "bce_loss",
        "the mean of -[y ln p + (1 - y) ln(1 - p)]",
        atol=1e-4,
    )
    certain = m.bce_loss(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 1.0]))
    if not torch.isfinite(certain):
        raise CheckFailed("bce_loss is not finite when p is exactly 0 or 1: add EPS inside log()")
    return "L1, L2 and binary cross-entropy match torch's"


def check_train_step(ctx: Context) -> str:
    m = ctx.module
    X, y = datasets.make_blobs(seed=0)
    torch.manual_seed(0)
    model = m.LogisticRegression()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    before = snapshot(model)
    losses = [m.train_step(model, m.bce_loss, optimizer, X, y) for _ in range(10)]
    if not all(isinstance(v, float) for v in losses):
        raise CheckFailed(
            f"train_step returned {type(losses[0]).__name__}, not a float: return loss.item()"
        )
    if not parameters_changed(before, model):
        raise CheckFailed(
            "the weights did not change: are loss.backward() and optimizer.step() called?"
        )
    expect_decreasing(
        losses, "the loss over 10 steps", "is optimizer.step() called after loss.backward()?"
    )
    return f"the loss falls from {losses[0]:.3f} to {losses[-1]:.3f} in 10 steps"


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
        expect_decreasing(
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
            accuracies[name] = ((model(X) > 0.5).float() == y).float().mean().item()
    best = max(accuracies, key=accuracies.get)
    return expect_at_least(
        accuracies[best],
        ACCURACY_TARGET,
        f"accuracy ({best})",
        "train longer or raise the learning rate",
    )


def check_figures(ctx: Context) -> str:
    paths = ctx.module.write_figures(
        ctx.state["results"], ctx.state["X"], ctx.state["y"], ctx.out_dir
    )
    return expect_pngs(paths, ["decision_boundary.png", "optimizers.png"])


MODEL = ("LogisticRegression", "sigmoid")
STEPS = [
    Step("sigmoid", ("sigmoid",), check_sigmoid),
    Step("model", MODEL, check_model),
    Step("loss functions", ("l1_loss", "l2_loss", "bce_loss"), check_losses),
    Step("training step", ("train_step", "bce_loss", *MODEL), check_train_step),
    Step("optimizers", ("make_optimizer",), check_optimizers),
    Step("accuracy", ("accuracy",), check_accuracy),
    Step(
        "optimizer comparison",
        (
            "compare_optimizers",
            "train",
            "train_step",
            "make_optimizer",
            "l1_loss",
            "l2_loss",
            "bce_loss",
            *MODEL,
        ),
        check_comparison,
    ),
    Step("accuracy target", (), check_training, needs=("optimizer comparison",)),
    Step("figures", ("write_figures", "accuracy"), check_figures, needs=("optimizer comparison",)),
]
