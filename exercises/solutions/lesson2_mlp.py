# %% [markdown]
# # Lesson 2: the multilayer perceptron and non-linear decision boundaries
#
# Two interleaved half-moons: no straight line separates them. Hidden layers of neurons with a
# non-linear activation can bend the boundary. Dropout and L2 weight decay keep the network from
# learning the noise of the training points by heart, which we judge on points it never saw: a
# validation part (to choose settings) and a test part (to report the result).
#
# How does a network learn? By gradient descent, with the gradients from the chain rule:
# backpropagation. You first write it by hand, in numpy, for a small network, and check it
# against torch's automatic differentiation and against finite differences; then torch does it.
#
# Fill in every `...`, then check your work with
#     exercises check 2 lesson2_mlp.py
# Then play: add `SEARCH_GRID` entries (layers, widths, activations, dropout, weight decay, learning
# rate). Which network works best on the validation points?

# %%
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
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
    bp_hidden: int = 16  # the network trained with the gradients written by hand
    bp_lr: float = 10.0
    bp_steps: int = 2000
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
# ## Backpropagation by hand
# A network with one hidden layer of H sigmoid neurons and one sigmoid output, in numpy:
#     net1 = X W1 + b1,  h = σ(net1),  net2 = h W2 + b2,  y = σ(net2),
# trained, as in the lecture's example, on the squared error L = 1/(2n) Σ (y - t)² against the
# targets t. The chain rule, ∂L/∂w_ij = ∂L/∂o_j · ∂o_j/∂net_j · ∂net_j/∂w_ij, with
# σ'(net) = σ(net) (1 - σ(net)), gives for each point:
# - at the output: P2 = ∂L/∂net2 = (y - t) y (1 - y) / n;
# - one layer down, the recursion: P1 = ∂L/∂net1 = (P2 W2ᵀ) h (1 - h);
# - a weight's gradient is the input it multiplies times the P of the neuron it feeds, summed
#   over the points: ∂L/∂W2 = hᵀ P2, ∂L/∂W1 = Xᵀ P1; a bias's is the sum of its P.
# Finite differences check any gradient: ∂L/∂w ≈ (L(w + ε) - L(w - ε)) / 2ε.


# %%
def init_params(n_inputs: int, n_hidden: int, seed: int) -> dict[str, np.ndarray]:
    """Random weights W1 (n_inputs, H), W2 (H, 1) and zero biases b1 (H,), b2 (1,), float64."""
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.normal(0, 1, (n_inputs, n_hidden)),
        "b1": np.zeros(n_hidden),
        "W2": rng.normal(0, 1 / np.sqrt(n_hidden), (n_hidden, 1)),
        "b2": np.zeros(1),
    }


def sigmoid_np(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def forward(params: dict[str, np.ndarray], X: np.ndarray) -> dict[str, np.ndarray]:
    """The forward pass for points X (n, d); returns what backward needs: X, h (n, H), y (n,)."""
    h = sigmoid_np(X @ params["W1"] + params["b1"])  # BLANK: the hidden layer, (n, H)
    y = sigmoid_np(h @ params["W2"] + params["b2"])[:, 0]  # BLANK: the output, (n, 1) -> (n,)
    return {"X": X, "h": h, "y": y}


def squared_error(y: np.ndarray, t: np.ndarray) -> float:
    """L = 1/(2n) Σ (y - t)²."""
    return float(0.5 * np.mean((y - t) ** 2))


def backward(
    params: dict[str, np.ndarray], cache: dict[str, np.ndarray], t: np.ndarray
) -> dict[str, np.ndarray]:
    """The gradients of the squared error with respect to W1, b1, W2 and b2 (their shapes)."""
    X, h, y = cache["X"], cache["h"], cache["y"]
    P2 = ((y - t) * y * (1 - y))[:, None] / len(t)  # BLANK: ∂L/∂net2 for each point, (n, 1)
    P1 = (P2 @ params["W2"].T) * h * (1 - h)  # BLANK: the recursion: ∂L/∂net1, (n, H)
    # BLANK: each weight's gradient: its inputs (transposed) times the P it feeds; biases: sums
    return {"W1": X.T @ P1, "b1": P1.sum(axis=0), "W2": h.T @ P2, "b2": P2.sum(axis=0)}


def numerical_gradient(
    loss_of: Callable[[dict], float], params: dict[str, np.ndarray], eps: float = 1e-6
) -> dict[str, np.ndarray]:
    """Central finite differences of ``loss_of(params)`` for every entry of every parameter."""
    grads = {}
    for name, value in params.items():
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            kept = value[index]
            value[index] = kept + eps
            up = loss_of(params)
            value[index] = kept - eps
            down = loss_of(params)
            value[index] = kept  # put the weight back
            grad[index] = (up - down) / (2 * eps)  # BLANK: the central difference
        grads[name] = grad
    return grads


def train_by_hand(
    X: np.ndarray, t: np.ndarray, *, hidden: int, lr: float, steps: int, seed: int
) -> tuple[dict[str, np.ndarray], list[float]]:
    """Batch gradient descent with the gradients of ``backward``; returns the weights and the
    loss before each step."""
    params = init_params(X.shape[1], hidden, seed)
    history = []
    for _ in range(steps):
        cache = forward(params, X)
        history.append(squared_error(cache["y"], t))
        for name, grad in backward(params, cache, t).items():
            params[name] -= lr * grad
    return params, history


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


def report_backprop(config: Config, split: datasets.Split) -> None:
    """Backpropagation by hand: its gradients against finite differences, and its training."""
    X, t = split.X_train.double().numpy(), split.y_train.double().numpy()
    params = init_params(2, 4, config.seed)
    by_hand = backward(params, forward(params, X[:20]), t[:20])
    numeric = numerical_gradient(lambda p: squared_error(forward(p, X[:20])["y"], t[:20]), params)
    worst = max(np.abs(by_hand[name] - numeric[name]).max() for name in params)
    print(f"backprop by hand: largest difference from finite differences {worst:.1e}")
    steps = config.bp_steps if config.epochs > 1 else 10
    params, history = train_by_hand(
        X, t, hidden=config.bp_hidden, lr=config.bp_lr, steps=steps, seed=config.seed
    )
    right = (forward(params, split.X_val.double().numpy())["y"] > 0.5) == split.y_val.numpy()
    print(
        f"trained by hand: loss {history[0]:.4f} -> {history[-1]:.4f} in {steps} steps, "
        f"validation accuracy {right.mean():.1%}"
    )


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
    report_backprop(config, split)
    for path in write_figures(rows, best, split, config.out):
        print(f"wrote {path}")


# %%
if __name__ == "__main__":
    main()
