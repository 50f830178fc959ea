# %% [markdown]
# # Lesson 3: a convolutional network reads handwritten digits
#
# Small kernels slide over the image and share their weights, so a stroke is recognised wherever it
# is. Batch normalisation keeps each layer's inputs standardised, pooling shrinks the maps, and a
# softmax over ten outputs turns scores into class probabilities.
#
# By default the data are scikit-learn's bundled 8x8 digits; with real MNIST's IDX files in a
# folder, run `exercises run 3 lesson3_cnn.py --mnist DIR`. Fill in every `...`, then
#     exercises check 3 lesson3_cnn.py
# The target is 98% test accuracy on the bundled digits. Can you reach 99%? Add a layer, change the
# channels, the dropout, the learning rate... (at the school the goal was 99% on MNIST).

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
    mnist_dir: str | None = None  # a folder with MNIST's IDX files; None: the bundled 8x8 digits
    channels: tuple[int, int] = (16, 32)
    dropout: float = 0.25
    lr: float = 2e-3
    batch_size: int = 32
    epochs: int = 15
    out: str = "figures/lesson3"


# %% [markdown]
# ## Softmax
# p_j = exp(z_j) / Σ_k exp(z_k): the Boltzmann distribution with energies -z_j (at k_B T = 1).
# Subtracting max(z) first changes nothing mathematically but keeps exp() from overflowing.


# %%
def softmax(z: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension of ``z`` (n, K)."""
    z = z - z.max(dim=-1, keepdim=True).values  # BLANK: subtract each row's maximum (stability)
    e = torch.exp(z)  # BLANK: then exponentiate and normalise each row to sum 1
    return e / e.sum(dim=-1, keepdim=True)  # BLANK


# %% [markdown]
# ## The network


# %%
class Net(nn.Module):
    """Two convolutional blocks and a linear layer; images (n, 1, S, S) with S even -> (n, 10)."""

    def __init__(
        self,
        image_size: int = 8,
        channels: tuple[int, int] = (16, 32),
        dropout: float = 0.25,
        n_classes: int = 10,
    ) -> None:
        super().__init__()
        c1, c2 = channels
        # BLANK: nn.Sequential of Conv2d(1 -> c1, kernel 3, padding 1), BatchNorm2d(c1), ReLU
        self.block1 = nn.Sequential(nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU())
        # BLANK: the same from c1 to c2 channels, then MaxPool2d(2)
        self.block2 = nn.Sequential(
            nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.dropout = nn.Dropout(dropout)
        # BLANK: nn.Linear from the flattened maps (c2 channels of size S/2 x S/2) to n_classes
        self.fc = nn.Linear(c2 * (image_size // 2) ** 2, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block1(x)  # (n, c1, S, S)
        x = self.block2(x)  # (n, c2, S/2, S/2)
        x = self.dropout(torch.flatten(x, 1))  # (n, c2 * S/2 * S/2)
        return self.fc(x)  # (n, 10): scores (logits); the softmax sits inside the loss


# %% [markdown]
# ## Training and prediction
# `F.cross_entropy` takes the logits and the labels: it applies the (log-)softmax itself.


# %%
def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    X: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
) -> float:
    """One pass over shuffled mini-batches, batch norm and dropout in training mode; mean loss."""
    model.train()
    order = torch.randperm(len(X), generator=generator)
    total = 0.0
    for start in range(0, len(X), batch_size):
        batch = order[start : start + batch_size]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X[batch]), y[batch])  # BLANK: cross-entropy of the logits
        loss.backward()  # BLANK: backpropagate and update the weights
        optimizer.step()  # BLANK
        total += loss.item() * len(batch)
    return total / len(X)


def predict_logits(model: nn.Module, X: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The logits (n, 10) for images X, in evaluation mode, a batch at a time."""
    model.eval()  # BLANK: batch norm uses its running averages, dropout is off
    with torch.no_grad():
        return torch.cat([model(X[i : i + batch_size]) for i in range(0, len(X), batch_size)])


def train(config: Config, split: datasets.Split) -> tuple[nn.Module, list[float]]:
    """A fresh Net trained on the training part; returns it and the training loss per epoch."""
    torch.manual_seed(config.seed)
    model = Net(split.X_train.shape[-1], config.channels, config.dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    history = [F.cross_entropy(predict_logits(model, split.X_train), split.y_train).item()]
    for epoch in range(config.epochs):
        loss = train_epoch(
            model, optimizer, split.X_train, split.y_train, config.batch_size, generator
        )
        history.append(loss)
        val = accuracy(model, split.X_val, split.y_val)
        print(f"epoch {epoch + 1}: training loss {loss:.4f}, validation accuracy {val:.2%}")
    return model, history


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    return (predict_logits(model, X).argmax(dim=1) == y).float().mean().item()


# %% [markdown]
# ## Where does it go wrong?


# %%
def write_figures(
    model: nn.Module, history: list[float], split: datasets.Split, out_dir: str | Path
) -> list[Path]:
    """The confusion matrix and the misclassified digits of the test part, the training loss."""
    out_dir = Path(out_dir)
    predicted = predict_logits(model, split.X_test).argmax(dim=1)
    wrong = torch.nonzero(predicted != split.y_test).flatten()[:24]
    titles = [f"{split.y_test[i]} read as {predicted[i]}" for i in wrong.tolist()]
    return [
        figures.plot_confusion_matrix(split.y_test, predicted, out_dir / "confusion_matrix.png"),
        figures.plot_image_grid(
            split.X_test[wrong],
            out_dir / "misclassified.png",
            ncols=8,
            titles=titles,
            title=f"Misclassified test digits ({len(wrong)} shown)",
        ),
        figures.plot_loss_curves(
            {"CNN": history}, out_dir / "training_loss.png", title="Training loss"
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Lesson 3: a CNN on handwritten digits.")
    parser.add_argument("--seed", type=int, default=Config.seed, help="seed of split and weights")
    parser.add_argument("--out", type=str, default=Config.out, help="folder for the figures")
    parser.add_argument("--mnist", type=str, default=None, help="folder with MNIST's IDX files")
    parser.add_argument("--dry-run", action="store_true", help="train for one epoch only")
    args, _ = parser.parse_known_args(argv)  # known ones only: Jupyter adds its own arguments
    config = Config(
        seed=args.seed,
        mnist_dir=args.mnist,
        out=args.out,
        epochs=1 if args.dry_run else Config.epochs,
    )

    split = datasets.load_digits(seed=config.seed, mnist_dir=config.mnist_dir)
    model, history = train(config, split)
    print(f"test accuracy {accuracy(model, split.X_test, split.y_test):.2%}")
    for path in write_figures(model, history, split, config.out):
        print(f"wrote {path}")


# %%
if __name__ == "__main__":
    main()
