# %% [markdown]
# # Lesson 5 (bonus): beyond plain predictions
#
# - **How sure is the network?** Dropout left on at prediction time makes every forward pass a
#   slightly different network. The spread of their answers estimates the epistemic uncertainty
#   (Monte Carlo dropout, arXiv:1506.02142): it should be larger where the network is wrong.
# - **Why did it decide so?** The gradient of the class score with respect to each input pixel,
#   squared, is a saliency heatmap: the pixels the decision is most sensitive to.
# - **Sequences.** A recurrent network reads a time series one step at a time and carries a memory
#   (its hidden state). Here it tells fast-decaying detector pulses (label 1, like the challenge's
#   carrier events) from slow ones (label 0, like its absorber events).
#
# Fill in every `...`, then check with
#     exercises check 5 lesson5_beyond.py

# %%
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from exercises import datasets, figures


@dataclass
class Config:
    seed: int = 0
    hidden: int = 128
    dropout: float = 0.3
    lr: float = 2e-3
    batch_size: int = 64
    epochs: int = 25
    mc_samples: int = 50  # forward passes per image for MC dropout
    rnn_hidden: int = 16
    rnn_lr: float = 0.01
    rnn_epochs: int = 15
    out: str = "figures/lesson5"


# %% [markdown]
# ## A digit classifier with dropout (given)


# %%
def make_classifier(n_pixels: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(n_pixels, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, 10),
    )


def train_classifier(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    epochs: int,
    batch_size: int,
    seed: int,
) -> list[float]:
    """Mini-batch Adam on cross-entropy; returns the mean training loss per epoch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(seed)
    history = []
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(X), generator=shuffle)
        total = 0.0
        for start in range(0, len(X), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(X[batch]), y[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        history.append(total / len(X))
    return history


# %% [markdown]
# ## Monte Carlo dropout
# `model.train()` switches dropout on; each forward pass then drops different neurons.


# %%
def mc_dropout_predict(
    model: nn.Module, X: torch.Tensor, n_samples: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation, over ``n_samples`` passes with dropout on, of the softmax
    probabilities: two tensors (n, 10)."""
    model.train()  # BLANK: keep dropout switched on while predicting
    with torch.no_grad():
        # BLANK: n_samples softmax outputs stacked into a tensor (n_samples, n, 10)
        probs = torch.stack([torch.softmax(model(X), dim=1) for _ in range(n_samples)])
    model.eval()
    return probs.mean(dim=0), probs.std(dim=0)  # BLANK: mean and std over the passes


# %% [markdown]
# ## Saliency: which pixels matter?
# R_i = (∂f_c / ∂x_i)², with f_c the score (logit) of class c. Autograd gives the derivative with
# respect to the input if the input itself asks for a gradient.


# %%
def saliency(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared gradient of each image's ``target`` logit with respect to its pixels.

    x (n, 1, H, W), target (n,) class indices; returns (n, H, W).
    """
    model.eval()
    x = x.clone().requires_grad_(True)  # BLANK: a copy of x that records its gradient
    score = model(x).gather(1, target[:, None]).sum()  # BLANK: the target logits, summed
    score.backward()  # BLANK: backpropagate down to the pixels
    return (x.grad**2).squeeze(1)  # BLANK: the squared gradient, shape (n, H, W)


# %% [markdown]
# ## A recurrent network for pulses
# `nn.GRU` (or `nn.LSTM`) with `batch_first=True` reads x (n, T, features) and returns the output at
# every step (n, T, hidden). The last step's output has seen the whole pulse.


# %%
class PulseRNN(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        # BLANK: nn.GRU with 1 input feature, `hidden` units, batch_first=True
        self.rnn = nn.GRU(input_size=1, hidden_size=hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(x)  # (n, T, 1) -> (n, T, hidden)
        return self.head(outputs[:, -1])  # BLANK: the last step's output -> (n, 2) logits


# %% [markdown]
# ## Putting it together


# %%
def run_all(config: Config) -> dict:
    """Train the digit classifier and the pulse RNN; returns models and data."""
    digits = datasets.load_digits(seed=config.seed)
    torch.manual_seed(config.seed)
    classifier = make_classifier(digits.X_train[0].numel(), config.hidden, config.dropout)
    train_classifier(
        classifier,
        digits.X_train,
        digits.y_train,
        lr=config.lr,
        epochs=config.epochs,
        batch_size=config.batch_size,
        seed=config.seed,
    )
    pulses = datasets.make_pulses(seed=config.seed)
    torch.manual_seed(config.seed)
    rnn = PulseRNN(config.rnn_hidden)
    rnn_history = train_classifier(
        rnn,
        pulses.X_train,
        pulses.y_train,
        lr=config.rnn_lr,
        epochs=config.rnn_epochs,
        batch_size=config.batch_size,
        seed=config.seed,
    )
    return {
        "digits": digits,
        "classifier": classifier,
        "pulses": pulses,
        "rnn": rnn,
        "rnn_history": rnn_history,
    }


def write_figures(results: dict, config: Config, out_dir: str | Path) -> list[Path]:
    """MC-dropout uncertainty of right and wrong answers, saliency maps, pulses and RNN loss."""
    out_dir = Path(out_dir)
    digits, model = results["digits"], results["classifier"]
    torch.manual_seed(config.seed)
    mean, std = mc_dropout_predict(model, digits.X_test, config.mc_samples)
    predicted = mean.argmax(dim=1)
    uncertainty = std.gather(1, predicted[:, None]).squeeze(1)
    right = predicted == digits.y_test
    shown = torch.arange(8)
    heat = saliency(model, digits.X_test[shown], predicted[shown])
    heat = heat / heat.flatten(1).max(dim=1).values[:, None, None]  # each map scaled to [0, 1]
    pulses = results["pulses"]
    return [
        figures.plot_histograms(
            {"right": uncertainty[right], "wrong": uncertainty[~right]},
            out_dir / "mc_dropout_uncertainty.png",
            title="MC dropout: spread of the predicted class's probability",
            xlabel="standard deviation over passes",
        ),
        figures.plot_heatmaps(
            digits.X_test[shown],
            heat,
            out_dir / "saliency.png",
            titles=[f"read as {c}" for c in predicted[shown].tolist()],
            title="Saliency (∂ score / ∂ pixel)²",
        ),
        figures.plot_sequences(
            pulses.X_test,
            pulses.y_test,
            out_dir / "pulses.png",
            title="Pulses the recurrent network classifies",
            class_names=["slow decay (0, absorber-like)", "fast decay (1, carrier-like)"],
        ),
        figures.plot_loss_curves(
            {"GRU": results["rnn_history"]},
            out_dir / "rnn_loss.png",
            title="Recurrent network: training loss",
            first_epoch=1,
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Lesson 5: uncertainty, saliency, recurrence.")
    parser.add_argument("--seed", type=int, default=Config.seed, help="seed of data and weights")
    parser.add_argument("--out", type=str, default=Config.out, help="folder for the figures")
    parser.add_argument("--dry-run", action="store_true", help="train for one epoch only")
    args, _ = parser.parse_known_args(argv)  # known ones only: Jupyter adds its own arguments
    config = Config(seed=args.seed, out=args.out)
    if args.dry_run:
        config.epochs = config.rnn_epochs = 1

    results = run_all(config)
    digits, pulses = results["digits"], results["pulses"]
    mean, std = mc_dropout_predict(results["classifier"], digits.X_test, config.mc_samples)
    right = mean.argmax(dim=1) == digits.y_test
    spread = std.max(dim=1).values
    print(
        f"digits: MC-dropout accuracy {right.float().mean():.1%}; mean largest spread "
        f"{spread[right].mean():.3f} when right, {spread[~right].mean():.3f} when wrong"
    )
    results["rnn"].eval()
    with torch.no_grad():
        rnn_right = results["rnn"](pulses.X_test).argmax(dim=1) == pulses.y_test
    print(f"pulses: recurrent network test accuracy {rnn_right.float().mean():.1%}")
    for path in write_figures(results, config, config.out):
        print(f"wrote {path}")


# %%
if __name__ == "__main__":
    main()
