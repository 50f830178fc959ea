# %% [markdown]
# # Lesson 1: logistic regression and gradient descent
#
# Two clouds of points in the plane, red (label 0) and blue (label 1). Logistic regression looks
# for the straight line that separates them: net(x) = w·x + d, and p(blue | x) = σ(net(x)).
# Training means gradient descent on a loss; we compare seven ways of doing it.
#
# Fill in every `...` (a TODO says what goes there), then check your work with
#     exercises check 1 lesson1_logistic.py
# and look at the figures it writes to figures/lesson1/. Play with the learning rates, the loss
# and the number of epochs in `Config` and `VARIANTS`: which optimiser converges fastest?

# %%
from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from exercises import datasets, figures


@dataclass
class Config:
    seed: int = 0
    n_points: int = 100
    epochs: int = 15
    loss: str = "BCE"  # one of LOSSES: "L1", "L2", "BCE"
    out: str = "figures/lesson1"


# The gradient-descent variants: optimiser, batch size (None: the whole data set), learning rate.
VARIANTS = {
    "batch": ("sgd", None, 0.5),
    "mini-batch": ("sgd", 10, 0.5),
    "stochastic": ("sgd", 1, 0.5),
    "momentum": ("momentum", 10, 0.1),
    "Nesterov": ("nesterov", 10, 0.1),
    "RMSprop": ("rmsprop", 10, 0.02),
    "Adam": ("adam", 10, 0.05),
}

# %% [markdown]
# ## The model: one neuron
# The logistic function σ maps any real number into (0, 1), so that σ(net(x)) reads as the
# probability that x is blue. Write it by hand (torch has `torch.sigmoid`, but not here).


# %%
def sigmoid(z: torch.Tensor) -> torch.Tensor:
    """The logistic function, element-wise."""
    return 1 / (1 + torch.exp(-z))  # BLANK: σ(z) = 1 / (1 + exp(-z))


class LogisticRegression(nn.Module):
    """p(class 1 | x) = σ(w·x + d) for points x of shape (n, 2); returns shape (n,)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)  # BLANK: net(x) = w·x + d: one nn.Linear, 2 inputs -> 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sigmoid(self.linear(x)).squeeze(-1)  # BLANK: σ(net(x)), squeezed to shape (n,)


# %% [markdown]
# ## Three losses
# How wrong is a prediction p for a label y in {0, 1}? Each returns the mean over the points.


# %%
EPS = 1e-7  # keeps log() finite when p is exactly 0 or 1


def l1_loss(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference |y - p|."""
    return (y - p).abs().mean()  # BLANK: the mean of |y - p|


def l2_loss(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared difference (y - p)²."""
    return ((y - p) ** 2).mean()  # BLANK: the mean of (y - p)²


def bce_loss(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy: the mean of -[y ln p + (1 - y) ln(1 - p)]."""
    # BLANK: the mean of -[y ln(p + EPS) + (1 - y) ln(1 - p + EPS)]
    return -(y * torch.log(p + EPS) + (1 - y) * torch.log(1 - p + EPS)).mean()


LOSSES = {"L1": l1_loss, "L2": l2_loss, "BCE": bce_loss}


# %% [markdown]
# ## Optimisers and the training step
# Batch, mini-batch and stochastic gradient descent differ only in how many points each step sees
# (see `VARIANTS`); momentum, Nesterov, RMSprop and Adam change how a step uses the gradient.


# %%
def make_optimizer(
    name: str, parameters: Iterable[nn.Parameter], lr: float
) -> torch.optim.Optimizer:
    """The torch optimiser called ``name`` (see VARIANTS) with learning rate ``lr``."""
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9)  # BLANK: SGD with momentum 0.9
    if name == "nesterov":
        # BLANK: SGD with momentum 0.9, Nesterov-accelerated
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9, nesterov=True)
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr)  # BLANK: torch's RMSprop
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr)  # BLANK: torch's Adam
    raise ValueError(f"unknown optimizer {name!r}; expected sgd, momentum, nesterov, rmsprop, adam")


def train_step(
    model: nn.Module,
    loss_fn: Callable,
    optimizer: torch.optim.Optimizer,
    xb: torch.Tensor,
    yb: torch.Tensor,
) -> float:
    """One gradient-descent step on the batch (xb, yb); returns the batch's loss."""
    optimizer.zero_grad()
    loss = loss_fn(model(xb), yb)  # BLANK: the loss of the model's prediction for xb
    loss.backward()  # BLANK: backpropagate, then let the optimizer update the weights
    optimizer.step()  # BLANK
    return loss.item()


def train(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    loss_fn: Callable,
    optimizer: torch.optim.Optimizer,
    batch_size: int,
    epochs: int,
    seed: int,
) -> list[float]:
    """Train for ``epochs`` passes over shuffled batches; returns the loss on all of X before
    training and after each epoch."""
    generator = torch.Generator().manual_seed(seed)
    history = [_full_loss(model, loss_fn, X, y)]
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), batch_size):
            batch = order[start : start + batch_size]
            train_step(model, loss_fn, optimizer, X[batch], y[batch])
        history.append(_full_loss(model, loss_fn, X, y))
    return history


def _full_loss(model: nn.Module, loss_fn: Callable, X: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return loss_fn(model(X), y).item()


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of points whose predicted class (p > 0.5) is their label."""
    with torch.no_grad():
        # BLANK: the predicted class is p > 0.5; compare with y, average, .item()
        return ((model(X) > 0.5).float() == y).float().mean().item()


# %% [markdown]
# ## Compare the optimisers and look at the result


# %%
def compare_optimizers(config: Config, X: torch.Tensor, y: torch.Tensor) -> dict:
    """Train one fresh model per variant; returns {name: (model, loss history)}."""
    results = {}
    for name, (optimizer_name, batch_size, lr) in VARIANTS.items():
        torch.manual_seed(config.seed)  # every variant starts from the same weights
        model = LogisticRegression()
        optimizer = make_optimizer(optimizer_name, model.parameters(), lr)
        history = train(
            model,
            X,
            y,
            loss_fn=LOSSES[config.loss],
            optimizer=optimizer,
            batch_size=batch_size or len(X),
            epochs=config.epochs,
            seed=config.seed,
        )
        results[name] = (model, history)
    return results


def write_figures(
    results: dict, X: torch.Tensor, y: torch.Tensor, out_dir: str | Path
) -> list[Path]:
    """The decision boundary of the variant with the lowest final loss, and all loss curves."""
    out_dir = Path(out_dir)
    best = min(results, key=lambda name: results[name][1][-1])
    model = results[best][0]
    return [
        figures.plot_decision_map(
            model,
            X,
            y,
            out_dir / "decision_boundary.png",
            title=f"Logistic regression ({best}): accuracy {accuracy(model, X, y):.0%}",
        ),
        figures.plot_loss_curves(
            {name: history for name, (_, history) in results.items()},
            out_dir / "optimizers.png",
            title="Gradient-descent variants compared",
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Lesson 1: logistic regression.")
    parser.add_argument("--seed", type=int, default=Config.seed, help="seed of data and weights")
    parser.add_argument("--out", type=str, default=Config.out, help="folder for the figures")
    parser.add_argument("--dry-run", action="store_true", help="train for one epoch only")
    args, _ = parser.parse_known_args(argv)  # known ones only: Jupyter adds its own arguments
    config = Config(seed=args.seed, out=args.out, epochs=1 if args.dry_run else Config.epochs)

    X, y = datasets.make_blobs(config.n_points, seed=config.seed)
    results = compare_optimizers(config, X, y)
    for name, (model, history) in results.items():
        print(f"{name:>11}: final loss {history[-1]:.4f}, accuracy {accuracy(model, X, y):.1%}")
    for path in write_figures(results, X, y, config.out):
        print(f"wrote {path}")


# %%
if __name__ == "__main__":
    main()
