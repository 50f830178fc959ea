"""Semi-supervised GAN whose discriminator is the classifier (lesson 4).

Salimans et al., "Improved techniques for training GANs" (2016): the discriminator has one
logit per class, the "fake" class logit is fixed at 0, so D(real) = Z / (Z + 1) with
Z = sum_k exp(l_k). Labelled records train the class logits, real and generated records the
real/fake decision, and the generator uses feature matching.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from baselines.models.base import Classifier, TorchHparams
from baselines.models.cnn import ConvBlock
from baselines.preprocessing import PreprocessingConfig


@dataclass
class Hparams(TorchHparams):
    channels: tuple[int, ...] = (8, 16, 16)
    kernel_size: int = 9
    latent: int = 32
    gen_hidden: int = 256
    unsupervised_weight: float = 1.0
    lr: float = 1e-3
    batch_size: int = 128  # each step runs the discriminator four times: fewer, larger steps
    epochs: int = 30
    n_figure_samples: int = 8
    patience: int = 6
    preprocessing: PreprocessingConfig = field(
        default_factory=lambda: PreprocessingConfig(downsample=8)  # as the cnn: 205 samples
    )


class Discriminator(nn.Module):
    """The cnn's architecture without batch norm, with one logit per class."""

    def __init__(self, n_samples: int, hp: Hparams) -> None:
        super().__init__()
        widths = (1, *hp.channels)
        # no batch norm: real and generated batches must not share statistics
        self.blocks = nn.Sequential(
            *(ConvBlock(a, b, hp.kernel_size, batch_norm=False) for a, b in pairwise(widths))
        )
        n_out = n_samples
        for _ in hp.channels:
            n_out = -(-n_out // 2)  # ceil_mode pooling
        self.head = nn.Linear(n_out * hp.channels[-1], 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x.unsqueeze(1)).flatten(1)  # (n, L) -> (n, C * L')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (n, 2) class logits


class Net(Classifier):
    def __init__(self, n_samples: int, hp: Hparams) -> None:
        super().__init__()
        self.hp = hp
        self.discriminator = Discriminator(n_samples, hp)
        self.generator = nn.Sequential(
            nn.Linear(hp.latent, hp.gen_hidden),
            nn.ReLU(),
            nn.Linear(hp.gen_hidden, hp.gen_hidden),
            nn.ReLU(),
            nn.Linear(hp.gen_hidden, n_samples),
        )

    def score(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.discriminator(x)  # (n, 2)
        return logits[:, 1] - logits[:, 0]

    forward = score

    def generate(self, n: int) -> torch.Tensor:
        z = torch.randn(n, self.hp.latent, device=self.generator[0].weight.device)
        return self.generator(z)  # (n, latent) -> (n, L)

    def configure_optimizers(self, hp: TorchHparams) -> list[torch.optim.Optimizer]:
        betas = (0.5, 0.999)  # the usual GAN setting: less momentum than Adam's default
        return [
            torch.optim.Adam(self.discriminator.parameters(), lr=hp.lr, betas=betas),
            torch.optim.Adam(self.generator.parameters(), lr=hp.lr, betas=betas),
        ]

    def training_step(
        self, x: torch.Tensor, y: torch.Tensor, optimizers: list[torch.optim.Optimizer]
    ) -> float:
        opt_d, opt_g = optimizers
        # discriminator: supervised cross-entropy + real/fake
        fake = self.generate(len(x)).detach()
        logits_real = self.discriminator(x)
        lse_real = torch.logsumexp(logits_real, dim=1)
        lse_fake = torch.logsumexp(self.discriminator(fake), dim=1)
        supervised = F.cross_entropy(logits_real, y.long())
        # -log D(real) - log(1 - D(fake)) with D = Z / (Z + 1), Z = exp(lse)
        unsupervised = F.softplus(lse_real).mean() - lse_real.mean() + F.softplus(lse_fake).mean()
        loss_d = supervised + self.hp.unsupervised_weight * unsupervised
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        # generator: match the mean discriminator features of real records
        real_features = self.discriminator.features(x).detach().mean(0)
        fake_features = self.discriminator.features(self.generate(len(x))).mean(0)
        loss_g = (real_features - fake_features).pow(2).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        return float(supervised.detach())

    def write_figures(
        self, out_dir: Path, real_x: np.ndarray, real_y: np.ndarray, sample_period_s: float
    ) -> list[Path]:
        from baselines.plots import plot_pulse_panels

        n = self.hp.n_figure_samples
        with torch.no_grad():
            fake = self.generate(n).cpu().numpy()
        panels = {"real records": real_x[:n], "generated records": fake}
        path = Path(out_dir) / "gan_generated.png"
        plot_pulse_panels(path, panels, sample_period_s, title="Semi-supervised GAN")
        return [path]
