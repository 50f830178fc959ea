"""The school's starter network, as handed out to the teams: the baseline to beat.

One hidden layer of 100 units on the raw 16384-sample record: no baseline subtraction and no
downsampling, only one global offset and scale so that the inputs are of order one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from baselines.models.base import Classifier, TorchHparams
from baselines.preprocessing import PreprocessingConfig


@dataclass
class Hparams(TorchHparams):
    hidden: int = 100
    epochs: int = 30
    preprocessing: PreprocessingConfig = field(
        default_factory=lambda: PreprocessingConfig(
            downsample=1, subtract_baseline=False, window=(0.0, 1.0)
        )
    )


class Net(Classifier):
    def __init__(self, n_samples: int, hp: Hparams) -> None:
        super().__init__()
        self.hidden = nn.Linear(n_samples, hp.hidden)
        self.out = nn.Linear(hp.hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.hidden(x))  # (n, L) -> (n, hidden)
        return self.out(h).squeeze(1)  # (n,)
