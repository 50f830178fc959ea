"""Multilayer perceptron on the preprocessed record (lesson 2)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from baselines.models.base import Classifier, TorchHparams


@dataclass
class Hparams(TorchHparams):
    hidden: tuple[int, ...] = (256, 64)
    dropout: float = 0.2
    weight_decay: float = 1e-4


class Net(Classifier):
    def __init__(self, n_samples: int, hp: Hparams) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_samples
        for h in hp.hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(hp.dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).squeeze(1)  # (n, L) -> (n,)
