"""What every torch baseline shares: training hyperparameters and the classifier interface.

The training loop in `baselines.train` only calls `configure_optimizers`, `training_step`
and `score`, so a model with an unusual objective (VAE, GAN) overrides those, not the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from baselines.preprocessing import PreprocessingConfig


@dataclass
class TorchHparams:
    """Training hyperparameters; each model subclasses this and adds its architecture."""

    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 60  # upper bound; early stopping usually ends training sooner
    patience: int = 10  # epochs without a better validation AUC before stopping
    preprocessing: PreprocessingConfig = field(default_factory=PreprocessingConfig)


class Classifier(nn.Module):
    """A binary classifier whose `score` is higher for carrier-like (label 1) records.

    Subclasses define ``forward``: preprocessed records (n, L) -> logits (n,).
    """

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Carrier-likeness (n,) of preprocessed records x (n, L); used for AUC and submission."""
        return self.forward(x)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(self.forward(x), y)

    def configure_optimizers(self, hp: TorchHparams) -> list[torch.optim.Optimizer]:
        return [torch.optim.Adam(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)]

    def training_step(
        self, x: torch.Tensor, y: torch.Tensor, optimizers: list[torch.optim.Optimizer]
    ) -> float:
        """One optimisation step on a batch x (b, L), y (b,) float; returns the loss."""
        (opt,) = optimizers
        opt.zero_grad()
        loss = self.loss(x, y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    def write_figures(
        self, out_dir: Path, real_x: np.ndarray, real_y: np.ndarray, sample_period_s: float
    ) -> list[Path]:
        """Write model-specific figures (generative models); returns the paths written."""
        return []
