"""1D convolutional network on the preprocessed record (lesson 3)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import nn

from baselines.models.base import Classifier, TorchHparams


@dataclass
class Hparams(TorchHparams):
    channels: tuple[int, ...] = (16, 32, 32, 64)
    kernel_size: int = 7
    dropout: float = 0.2
    weight_decay: float = 1e-4


class ConvBlock(nn.Module):
    """Convolution, batch norm (optional), ReLU, then halve the length."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, *, batch_norm: bool = True):
        super().__init__()
        padding = kernel_size // 2
        self.conv = nn.Conv1d(c_in, c_out, kernel_size, padding=padding, bias=not batch_norm)
        self.norm = nn.BatchNorm1d(c_out) if batch_norm else nn.Identity()
        self.pool = nn.MaxPool1d(2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.norm(self.conv(x))))  # (n, c_in, L) -> (n, c_out, L/2)


class Net(Classifier):
    def __init__(self, n_samples: int, hp: Hparams) -> None:
        super().__init__()
        widths = (1, *hp.channels)
        self.blocks = nn.Sequential(*(ConvBlock(a, b, hp.kernel_size) for a, b in pairwise(widths)))
        self.dropout = nn.Dropout(hp.dropout)
        self.head = nn.Linear(2 * hp.channels[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(x.unsqueeze(1))  # (n, L) -> (n, C, L / 2**len(channels))
        h = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)  # (n, 2C)
        return self.head(self.dropout(h)).squeeze(1)  # (n,)
