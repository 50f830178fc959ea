"""Checks of lesson 2: activations, the MLP, weight decay, training, dropout, the search."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from exercises import datasets
from exercises.checker import CheckFailed, Context, Step
from exercises.checks.common import (
    expect_at_least,
    expect_decreasing,
    expect_module,
    expect_pngs,
    expect_tensor,
    parameters_changed,
    snapshot,
)

ACCURACY_TARGET = 0.95  # on the held-out test points; the moons overlap a little
EXPECTED_ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "selu": nn.SELU,
}


def _split(ctx: Context) -> datasets.Split:
    config = ctx.module.Config()
    return datasets.make_moons(config.n_points, seed=config.seed, noise=config.noise)


def check_activations(ctx: Context) -> str:
    table = ctx.module.ACTIVATIONS
    for name, cls in EXPECTED_ACTIVATIONS.items():
        if name not in table:
            raise CheckFailed(f"ACTIVATIONS has no entry {name!r}")
        if not isinstance(table[name](), cls):
            raise CheckFailed(f"ACTIVATIONS[{name!r}] should be nn.{cls.__name__}")
    return ", ".join(EXPECTED_ACTIVATIONS)


def check_mlp(ctx: Context) -> str:
    model = expect_module(ctx.module.make_mlp((16, 8), "tanh", 0.2), "make_mlp((16, 8), ...)")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    shapes = [(m.in_features, m.out_features) for m in linears]
    if shapes != [(2, 16), (16, 8), (8, 1)]:
        raise CheckFailed(
            f"make_mlp((16, 8), 'tanh', 0.2) has linear layers {shapes}, expected "
            "[(2, 16), (16, 8), (8, 1)]: one per hidden width, then the output"
        )
    n_tanh = sum(isinstance(m, nn.Tanh) for m in model.modules())
    dropouts = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    if n_tanh != 2 or dropouts != [0.2, 0.2]:
        raise CheckFailed(
            f"expected a Tanh and a Dropout(0.2) after each hidden layer, found "
            f"{n_tanh} Tanh and dropout rates {dropouts}"
        )
    model.eval()
    expect_tensor(model(torch.zeros(5, 2)), "the MLP's output for 5 points", (5,))
    return "2 -> 16 -> 8 -> 1 with tanh and dropout"


def check_optimizer(ctx: Context) -> str:
    model = nn.Linear(2, 1)
    config = replace(ctx.module.Config(), lr=0.003, weight_decay=0.01)
    optimizer = ctx.module.make_optimizer(model, config)
    group = optimizer.param_groups[0]
    if group["lr"] != 0.003 or group["weight_decay"] != 0.01:
        raise CheckFailed(
            f"the optimizer has lr={group['lr']}, weight_decay="
            f"{group['weight_decay']}; pass config.lr and config.weight_decay"
        )
    if sum(len(g["params"]) for g in optimizer.param_groups) != 2:
        raise CheckFailed("the optimizer should update all of model.parameters()")
    return "learning rate and weight decay from Config"


def check_train_step(ctx: Context) -> str:
    m = ctx.module
    split = _split(ctx)
    torch.manual_seed(0)
    model = m.make_mlp((16,), "tanh", 0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    before = snapshot(model)
    losses = [m.train_step(model, optimizer, split.X_train, split.y_train) for _ in range(30)]
    if not parameters_changed(before, model):
        raise CheckFailed(
            "the weights did not change: are loss.backward() and optimizer.step() called?"
        )
    expect_decreasing(losses, "the loss over 30 steps", "is optimizer.step() called?")
    return f"the loss falls from {losses[0]:.3f} to {losses[-1]:.3f} in 30 steps"


def check_dropout_off(ctx: Context) -> str:
    torch.manual_seed(0)
    model = ctx.module.make_mlp((64,), "relu", 0.5)
    model.train()  # as left by a training step
    X = torch.randn(200, 2)
    first = expect_tensor(
        ctx.module.predict_proba(model, X), "predict_proba for 200 points", (200,)
    )
    second = ctx.module.predict_proba(model, X)
    if not torch.equal(first, second):
        raise CheckFailed(
            "two predictions of the same points differ: dropout is still on; call "
            "model.eval() in predict_proba"
        )
    if first.min() < 0 or first.max() > 1:
        raise CheckFailed(
            "predict_proba gave values outside [0, 1]: apply torch.sigmoid to the logit"
        )
    return "predictions are deterministic probabilities"


def check_search(ctx: Context) -> str:
    m = ctx.module
    split = _split(ctx)
    rows, best = m.search(m.Config(), split, m.SEARCH_GRID)
    if len(rows) < 3:
        raise CheckFailed(f"the search tried {len(rows)} settings; give SEARCH_GRID at least 3")
    top = max(row["val_accuracy"] for row in rows)
    if best["val_accuracy"] != top:
        raise CheckFailed(
            f"search chose a network with validation accuracy "
            f"{best['val_accuracy']:.1%} while another reached {top:.1%}: pick the "
            "row with the largest val_accuracy"
        )
    ctx.state.update(rows=rows, best=best, split=split)
    return f"{len(rows)} settings tried, best {m.describe(best['settings'])} ({top:.1%} validation)"


def check_test_accuracy(ctx: Context) -> str:
    model, split = ctx.state["best"]["model"], ctx.state["split"]
    model.eval()
    with torch.no_grad():
        predicted = (model(split.X_test) > 0).float()
    accuracy = (predicted == split.y_test).float().mean().item()
    return expect_at_least(
        accuracy,
        ACCURACY_TARGET,
        "held-out test accuracy",
        "train longer, or try other settings in SEARCH_GRID",
    )


def check_figures(ctx: Context) -> str:
    state = ctx.state
    paths = ctx.module.write_figures(state["rows"], state["best"], state["split"], ctx.out_dir)
    return expect_pngs(paths, ["mlp_decision_map.png", "search_losses.png"])


TRAINING = (
    "train",
    "train_step",
    "make_mlp",
    "make_optimizer",
    "ACTIVATIONS",
    "accuracy",
    "predict_proba",
)
STEPS = [
    Step("activations", ("ACTIVATIONS",), check_activations),
    Step("MLP layers", ("make_mlp", "ACTIVATIONS"), check_mlp),
    Step("optimizer with weight decay", ("make_optimizer",), check_optimizer),
    Step("training step", ("train_step", "make_mlp", "ACTIVATIONS"), check_train_step),
    Step(
        "dropout off for prediction",
        ("predict_proba", "make_mlp", "ACTIVATIONS"),
        check_dropout_off,
    ),
    Step("hyperparameter search", ("search", *TRAINING), check_search),
    Step("accuracy target", (), check_test_accuracy, needs=("hyperparameter search",)),
    Step("figures", ("write_figures",), check_figures, needs=("hyperparameter search",)),
]
