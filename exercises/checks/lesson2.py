"""Checks of lesson 2: backpropagation by hand, activations, the MLP, weight decay, training,
dropout, the search.

Each function is first compared with the reference solution's on fixed inputs; training comes last.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from exercises import datasets
from exercises.checker import CheckFailed, Context, Step
from exercises.checks import common

ACCURACY_TARGET = 0.95  # on the held-out test points; the moons overlap a little
BY_HAND_TARGET = 0.95  # validation accuracy of the network trained with hand-made gradients
CHANCE = 0.5  # two balanced classes
GRADIENT_ATOL = 1e-8  # float64 gradients of a small network agree to ~1e-15 with autograd
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


def _small_network(seed: int = 3) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Fixed float64 weights of a 3 -> 5 -> 1 network, 7 points and their 0/1 targets."""
    rng = np.random.default_rng(seed)
    params = {
        "W1": rng.normal(0, 1, (3, 5)),
        "b1": rng.normal(0, 0.5, 5),
        "W2": rng.normal(0, 1, (5, 1)),
        "b2": rng.normal(0, 0.5, 1),
    }
    return params, rng.normal(0, 1, (7, 3)), (rng.random(7) > 0.5).astype(np.float64)


def _autograd(params: dict[str, np.ndarray], X: np.ndarray, t: np.ndarray) -> dict:
    """The gradients of L = 1/(2n) Σ (y - t)² by torch.autograd, independent of the lesson."""
    weights = {name: torch.tensor(v, requires_grad=True) for name, v in params.items()}
    h = torch.sigmoid(torch.tensor(X) @ weights["W1"] + weights["b1"])
    y = torch.sigmoid(h @ weights["W2"] + weights["b2"])[:, 0]
    (0.5 * ((y - torch.tensor(t)) ** 2).mean()).backward()
    return {name: w.grad for name, w in weights.items()}


def check_forward(ctx: Context) -> str:
    params, X, _ = _small_network()
    expected = ctx.reference.forward(params, X)
    got = ctx.module.forward({k: v.copy() for k, v in params.items()}, X)
    for key in ("h", "y"):
        common.compare_to_reference(
            torch.as_tensor(np.asarray(got[key])),
            torch.as_tensor(expected[key]),
            f"forward's {key!r} for 7 points",
            "h = σ(X W1 + b1), y = σ(h W2 + b2) as a vector (n,)",
            atol=1e-12,
            sign_matters=False,
        )
    return "h and y match the reference for a 3 -> 5 -> 1 network"


def check_backward(ctx: Context) -> str:
    params, X, t = _small_network()
    cache = ctx.reference.forward(params, X)
    got = ctx.module.backward({k: v.copy() for k, v in params.items()}, cache, t)
    expected = _autograd(params, X, t)
    for name, grad in expected.items():
        common.compare_to_reference(
            torch.as_tensor(np.asarray(got[name])),
            grad,
            f"the gradient of {name}",
            "P2 = (y - t) y (1 - y) / n, P1 = (P2 W2ᵀ) h (1 - h); ∂L/∂W2 = hᵀ P2, "
            "∂L/∂W1 = Xᵀ P1, and a bias's gradient is the sum of its P over the points",
            mistakes={
                "is n times too large, a sum over the points, not their mean: a wrong "
                "reduction (divide P2 by n)": grad * len(t)
            },
            atol=GRADIENT_ATOL,
        )
    return "all four gradients match torch.autograd's"


def check_numerical_gradient(ctx: Context) -> str:
    params, X, t = _small_network()
    kept = {k: v.copy() for k, v in params.items()}

    def loss_of(p: dict) -> float:
        return ctx.reference.squared_error(ctx.reference.forward(p, X)["y"], t)

    got = ctx.module.numerical_gradient(loss_of, params)
    if any(not np.array_equal(params[k], kept[k]) for k in params):
        raise CheckFailed("numerical_gradient changed the weights: put each one back after use")
    for name, grad in _autograd(params, X, t).items():
        common.compare_to_reference(
            torch.as_tensor(np.asarray(got[name])),
            grad,
            f"the finite-difference gradient of {name}",
            "(L(w + ε) - L(w - ε)) / 2ε for each entry, the others unchanged",
            atol=1e-6,  # central differences with ε = 1e-6 are good to ~1e-9 here
        )
    return "central differences agree with torch.autograd"


def check_train_by_hand(ctx: Context) -> str:
    config, split = ctx.module.Config(), _split(ctx)
    X, t = split.X_train.double().numpy(), split.y_train.double().numpy()
    params, history = ctx.module.train_by_hand(
        X, t, hidden=config.bp_hidden, lr=config.bp_lr, steps=config.bp_steps, seed=config.seed
    )
    common.expect_decreasing(
        history, "the squared error", "subtract lr x gradient from each weight"
    )
    y = ctx.reference.forward(params, split.X_val.double().numpy())["y"]
    accuracy = float(np.mean((y > 0.5) == split.y_val.numpy()))
    return common.expect_at_least(
        accuracy,
        BY_HAND_TARGET,
        "validation accuracy with your gradients",
        "more steps (bp_steps) or a larger bp_lr in Config",
    )


def check_activations(ctx: Context) -> str:
    table = ctx.module.ACTIVATIONS
    for name, cls in EXPECTED_ACTIVATIONS.items():
        if name not in table:
            raise CheckFailed(f"ACTIVATIONS has no entry {name!r}")
        if not isinstance(table[name](), cls):
            raise CheckFailed(f"ACTIVATIONS[{name!r}] should be nn.{cls.__name__}")
    return ", ".join(EXPECTED_ACTIVATIONS)


def check_mlp(ctx: Context) -> str:
    model = common.expect_module(
        ctx.module.make_mlp((16, 8), "tanh", 0.2), "make_mlp((16, 8), ...)"
    )
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
    common.expect_tensor(model(torch.zeros(5, 2)), "the MLP's output for 5 points", (5,))
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


def _train_steps(train_step, model: nn.Module, X, y, n: int) -> list:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)  # SGD: a step grows with the loss
    return [train_step(model, optimizer, X, y) for _ in range(n)]


def check_train_step(ctx: Context) -> str:
    split = _split(ctx)
    X, y = split.X_train, split.y_train
    torch.manual_seed(0)
    model = ctx.reference.make_mlp((16,), "tanh", 0.0)  # the reference's network: only
    expected_model = copy.deepcopy(model)  # train_step itself is checked here
    with torch.no_grad():
        logits = model(X)
    before = common.snapshot(model)
    losses = _train_steps(ctx.module.train_step, model, X, y, 30)
    expected = _train_steps(ctx.reference.train_step, expected_model, X, y, 30)
    common.compare_to_reference(
        losses[0],
        torch.tensor(expected[0]),
        "the loss train_step returns",
        "the binary cross-entropy of the logits model(xb) against yb, averaged",
        mistakes={
            "is a sum over the points, not their mean: a wrong reduction (leave "
            "reduction at its default, 'mean')": torch.tensor(expected[0] * len(X)),
            "uses the wrong target class: it is the loss against 1 - yb": torch.tensor(
                F.binary_cross_entropy_with_logits(logits, 1 - y).item()
            ),
        },
        atol=1e-4,
    )
    return common.expect_steps_like_reference(
        losses, before, model, expected_model, "is optimizer.step() called?"
    )


class _LogitIsFirstFeature(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0]


def check_dropout_off(ctx: Context) -> str:
    # The checker's own network with dropout: the learner's may have none, and model.eval()
    # must be called all the same.
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(2, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 1), nn.Flatten(0)
    )
    model.train()  # as left by a training step
    X = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    expected = ctx.reference.predict_proba(copy.deepcopy(model), X)
    model.train()
    first = common.expect_tensor(
        ctx.module.predict_proba(model, X), "predict_proba for 200 points", (200,)
    )
    model.train()
    second = ctx.module.predict_proba(model, X)
    if not torch.equal(first, second) or model.training:
        raise CheckFailed(
            "two predictions of the same points differ: a missing eval mode, so dropout is "
            "still on; call model.eval() in predict_proba"
        )
    common.compare_to_reference(
        first,
        expected,
        "predict_proba",
        "the probability of class 1 is torch.sigmoid of the network's logit",
        mistakes={
            "is an inverted probability: 1 - σ(logit), which falls as the logit rises; "
            "use torch.sigmoid(logit)": 1 - expected
        },
        sign_matters=False,
    )
    logits = torch.linspace(-8, 8, 33)
    rising = ctx.module.predict_proba(_LogitIsFirstFeature(), torch.stack([logits, logits], 1))
    if not (rising.diff() > 0).all():
        raise CheckFailed("predict_proba must rise with the logit, and it does not")
    return "deterministic probabilities in eval mode, rising with the logit"


def check_search(ctx: Context) -> str:
    m = ctx.module
    split = _split(ctx)
    rows, best = m.search(m.Config(), split, m.SEARCH_GRID)
    if len(rows) < 3:
        raise CheckFailed(f"the search tried {len(rows)} settings; give SEARCH_GRID at least 3")
    top = max(row["val_accuracy"] for row in rows)
    if top < CHANCE:
        raise CheckFailed(
            f"the best validation accuracy, {top:.1%}, is below chance ({CHANCE:.0%}): worse "
            "than guessing, so the predictions are inverted; is the probability 1 - p, or the "
            "class chosen the wrong way round?"
        )
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
        logits = model(split.X_test)
    return common.expect_at_least(
        common.binary_accuracy(logits, split.y_test, threshold=0.0),
        ACCURACY_TARGET,
        "held-out test accuracy",
        "train longer, or try other settings in SEARCH_GRID",
    )


def check_figures(ctx: Context) -> str:
    state = ctx.state
    paths = ctx.module.write_figures(state["rows"], state["best"], state["split"], ctx.out_dir)
    return common.expect_pngs(paths, ["mlp_decision_map.png", "search_losses.png"])


TRAINING = (
    "train",
    "train_step",
    "make_mlp",
    "make_optimizer",
    "ACTIVATIONS",
    "accuracy",
    "predict_proba",
)
UNITS = (
    "activations",
    "MLP layers",
    "optimizer with weight decay",
    "training step",
    "dropout off for prediction",
)
BACKPROP = ("backprop, forward pass", "backprop, gradients by hand")
STEPS = [
    Step("backprop, forward pass", ("forward",), check_forward),
    Step("backprop, gradients by hand", ("backward",), check_backward),
    Step("backprop, finite differences", ("numerical_gradient",), check_numerical_gradient),
    Step("activations", ("ACTIVATIONS",), check_activations),
    Step("MLP layers", ("make_mlp", "ACTIVATIONS"), check_mlp),
    Step("optimizer with weight decay", ("make_optimizer",), check_optimizer),
    Step("training step", ("train_step",), check_train_step),
    Step("dropout off for prediction", ("predict_proba",), check_dropout_off),
    Step(
        "backprop, training by hand",
        ("train_by_hand", "forward", "backward"),
        check_train_by_hand,
        needs=BACKPROP,
        training=True,
        time_limit=60,
    ),
    Step(
        "hyperparameter search",
        ("search", *TRAINING),
        check_search,
        needs=UNITS,
        training=True,
        time_limit=180,
    ),
    Step(
        "accuracy target",
        (),
        check_test_accuracy,
        needs=("hyperparameter search",),
        training=True,
    ),
    Step(
        "figures",
        ("write_figures",),
        check_figures,
        needs=("hyperparameter search",),
        training=True,
        time_limit=60,
    ),
]
