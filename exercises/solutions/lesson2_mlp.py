# %% [markdown]
# # Lesson 2: the multilayer perceptron and non-linear decision boundaries
#
# Two interleaved half-moons: no straight line separates them. Hidden layers of neurons with a
# non-linear activation can bend the boundary. Dropout and L2 weight decay keep the network from
# learning the noise of the training points by heart, which we judge on points it never saw: a
# validation part (to choose settings) and a test part (to report the result).
#
# Fill in every `...`, then check your work with
#     exercises check 2 lesson2_mlp.py
# Then play: add `SEARCH_GRID` entries (layers, widths, activations, dropout, weight decay, learning
# rate). Which network works best on the validation points?

# %%
from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from exercises import datasets, figures


@dataclass
class Config:
    seed: int = 0
    n_points: int = 600
    noise: float = 0.15
    hidden: tuple[int, ...] = (32, 32)  # the widths of the hidden layers
    activation: str = "relu"  # one of ACTIVATIONS
    dropout: float = 0.1  # the fraction of hidden neurons dropped at each training step
    weight_decay: float = 1e-4  # λ of the L2 penalty λ Σ w²
    lr: float = 0.02
    batch_size: int = 120
    epochs: int = 60
    out: str = "figures/lesson2"


# The hyperparameter search tries each of these changes to Config in turn.
SEARCH_GRID = [
    {"activation": "sigmoid"},
    {"activation": "tanh"},
    {"activation": "relu"},
    {"activation": "leaky_relu"},
    {"activation": "selu"},
    {"hidden": (8,)},
    {"dropout": 0.3},
]

# %% [markdown]
# ## The network
# A stack of (linear layer, activation, dropout) blocks, then one output neuron. It outputs the
# *logit* net(x); the sigmoid sits inside the loss (`binary_cross_entropy_with_logits`), which is
# numerically safer than taking the log of a sigmoid.

# %%
# BLANK: map each name to its torch module class: sigmoid, tanh, relu, leaky_relu, selu
ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "selu": nn.SELU,
}


def make_mlp(hidden: tuple[int, ...], activation: str, dropout: float) -> nn.Sequential:
    """An MLP from 2 inputs through the ``hidden`` widths to one logit; output shape (n,)."""
    layers: list[nn.Module] = []
    width = 2
    for size in hidden:
        # BLANK: append a linear layer (width -> size), the activation, and dropout
        layers += [nn.Linear(width, size), ACTIVATIONS[activation](), nn.Dropout(dropout)]
        width = size
    layers.append(nn.Linear(width, 1))  # BLANK: the output layer: one logit
    layers.append(nn.Flatten(0))  # (n, 1) -> (n,)
    return nn.Sequential(*layers)


def make_optimizer(model: nn.Module, config: Config) -> torch.optim.Optimizer:
    """Adam on all the model's weights, with the L2 penalty as weight decay."""
    # BLANK: torch.optim.Adam with config.lr and config.weight_decay
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


# %% [markdown]
# ## Training and prediction
# Dropout must be on while training and off while predicting: `model.train()` and `model.eval()`
# switch it.


# %%
def train_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor
) -> float:
    """One step on the batch (xb, yb), dropout on; returns the batch's loss."""
    model.train()
    optimizer.zero_grad()
    loss = F.binary_cross_entropy_with_logits(model(xb), yb)  # BLANK: the loss on the logits
    loss.backward()  # BLANK: backpropagate and update the weights
    optimizer.step()  # BLANK
    return loss.item()


def predict_proba(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """p(class 1 | x) for points X (n, 2), with dropout off; shape (n,)."""
    model.eval()  # BLANK: switch dropout off
    with torch.no_grad():
        return torch.sigmoid(model(X))  # BLANK: the probability from the logit


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    return ((predict_proba(model, X) > 0.5).float() == y).float().mean().item()


def train(config: Config, split: datasets.Split) -> tuple[nn.Module, list[float]]:
    """A fresh MLP trained on the training part; returns it and the loss on that part per epoch."""
    torch.manual_seed(config.seed)
    model = make_mlp(config.hidden, config.activation, config.dropout)
    optimizer = make_optimizer(model, config)
    generator = torch.Generator().manual_seed(config.seed)
    X, y = split.X_train, split.y_train
    history = [_training_loss(model, X, y)]
    for _ in range(config.epochs):
        order = torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), config.batch_size):
            batch = order[start : start + config.batch_size]
            train_step(model, optimizer, X[batch], y[batch])
        history.append(_training_loss(model, X, y))
    return model, history


def _training_loss(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return F.binary_cross_entropy_with_logits(model(X), y).item()


# %% [markdown]
# ## A small hyperparameter search
# Choose on the validation part only: the test part is looked at once, for the final number.


# %%
def search(config: Config, split: datasets.Split, grid: list[dict]) -> tuple[list[dict], dict]:
    """Train one network per change in ``grid``; returns all rows and the best one.

    Each row: {"settings": the change, "model", "history", "val_accuracy"}.
    """
    rows = []
    for settings in grid:
        model, history = train(replace(config, **settings), split)
        val_accuracy = accuracy(model, split.X_val, split.y_val)
        rows.append(
            {"settings": settings, "model": model, "history": history, "val_accuracy": val_accuracy}
        )
    # BLANK: the row with the best validation accuracy (never choose by the test part)
    best = max(rows, key=lambda row: row["val_accuracy"])
    return rows, best


def describe(settings: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in settings.items())


def write_figures(
    rows: list[dict], best: dict, split: datasets.Split, out_dir: str | Path
) -> list[Path]:
    """The best network's decision map over all points, and every run's training loss."""
    out_dir = Path(out_dir)
    model = best["model"]
    X = torch.cat([split.X_train, split.X_val, split.X_test])
    y = torch.cat([split.y_train, split.y_val, split.y_test])
    test = accuracy(model, split.X_test, split.y_test)
    return [
        figures.plot_decision_map(
            lambda points: predict_proba(model, points),
            X,
            y,
            out_dir / "mlp_decision_map.png",
            title=f"MLP ({describe(best['settings'])}): test accuracy {test:.1%}",
        ),
        figures.plot_loss_curves(
            {describe(row["settings"]): row["history"] for row in rows},
            out_dir / "search_losses.png",
            title="Training loss of the searched settings",
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Lesson 2: the multilayer perceptron.")
    parser.add_argument("--seed", type=int, default=Config.seed, help="seed of data and weights")
    parser.add_argument("--out", type=str, default=Config.out, help="folder for the figures")
    parser.add_argument("--dry-run", action="store_true", help="train for one epoch only")
    args, _ = parser.parse_known_args(argv)  # known ones only: Jupyter adds its own arguments
    config = Config(seed=args.seed, out=args.out, epochs=1 if args.dry_run else Config.epochs)

    split = datasets.make_moons(config.n_points, seed=config.seed, noise=config.noise)
    rows, best = search(config, split, SEARCH_GRID)
    for row in rows:
        print(f"{describe(row['settings']):>24}: validation accuracy {row['val_accuracy']:.1%}")
    test = accuracy(best["model"], split.X_test, split.y_test)
    print(f"best: {describe(best['settings'])}, test accuracy {test:.1%}")
    for path in write_figures(rows, best, split, config.out):
        print(f"wrote {path}")


# %%
if __name__ == "__main__":
    main()
