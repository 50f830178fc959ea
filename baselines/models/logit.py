"""Logistic regression on the preprocessed record (lesson 1)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from baselines.models.base import Classifier, TorchHparams


@dataclass
class Hparams(TorchHparams):
    lr: float = 3e-3
    weight_decay: float = 1e-4


class Net(Classifier):
    def __init__(self, n_samples: int, hp: Hparams) -> None:
        super().__init__()
        self.linear = nn.Linear(n_samples, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze(1)  # (n, L) -> (n,)
