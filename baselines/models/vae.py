"""Conditional VAE used as a generative classifier (lesson 4).

score(x) = ELBO(x | y=1) - ELBO(x | y=0), a log-likelihood ratio with equal class priors.
Training maximises the ELBO of each record under its own label; an optional discriminative
term (binary cross-entropy on that same score) sharpens the ratio where the classes overlap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from baselines.models.base import Classifier, TorchHparams


@dataclass
class Hparams(TorchHparams):
    latent: int = 8
    hidden: int = 256
    discriminative_weight: float = 1.0  # 0 gives a purely generative classifier
    n_figure_samples: int = 8


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, n_out),
    )


class Net(Classifier):
    def __init__(self, n_samples: int, hp: Hparams) -> None:
        super().__init__()
        self.hp = hp
        self.n_samples = n_samples
        self.encoder = _mlp(n_samples + 2, hp.hidden, 2 * hp.latent)  # -> (mu, log variance)
        self.decoder = _mlp(hp.latent + 2, hp.hidden, n_samples)
        self.log_sigma = nn.Parameter(torch.zeros(()))  # noise level of the Gaussian likelihood

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(y.long(), 2).to(z.dtype)
        return self.decoder(torch.cat([z, onehot], dim=1))  # (n, latent) -> (n, L)

    def elbo(self, x: torch.Tensor, y: torch.Tensor, *, sample: bool) -> torch.Tensor:
        """ELBO (n,) of records x (n, L) under labels y (n,); z = posterior mean if not sample."""
        constant = x.shape[1] * (self.log_sigma + 0.5 * math.log(2 * math.pi))
        return self._elbo_terms(x, y, sample=sample).sum(1) - constant

    def _elbo_terms(self, x: torch.Tensor, y: torch.Tensor, *, sample: bool) -> torch.Tensor:
        """The ELBO's terms (n, L + latent) before the sum: -0.5 (residual / sigma)², -KL."""
        onehot = F.one_hot(y.long(), 2).to(x.dtype)
        mu, logvar = self.encoder(torch.cat([x, onehot], dim=1)).chunk(2, dim=1)  # (n, latent)
        logvar = logvar.clamp(-12.0, 8.0)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        residual = (x - self.decode(z, y)) * torch.exp(-self.log_sigma)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
        return torch.cat([-0.5 * residual.pow(2), -kl], dim=1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        # ELBO(y=1) - ELBO(y=0), subtracted term by term: the two ELBOs are ~1e3 and their
        # difference ~1, so summing first would leave float32 only ~1e-3 of the difference
        ones = torch.ones_like(x[:, 0])  # (n,); not len(x), which the ONNX export would freeze
        terms = self._elbo_terms(x, ones, sample=False) - self._elbo_terms(
            x, 0 * ones, sample=False
        )
        return terms.sum(1)

    forward = score

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        generative = -self.elbo(x, y, sample=True).mean() / self.n_samples  # nats per sample
        if self.hp.discriminative_weight == 0:
            return generative
        discriminative = F.binary_cross_entropy_with_logits(self.score(x), y)
        return generative + self.hp.discriminative_weight * discriminative

    @torch.no_grad()
    def generate(self, label: int, n: int) -> np.ndarray:
        """Decoder means (n, L) for latent draws from the prior under one label."""
        device = self.log_sigma.device
        z = torch.randn(n, self.hp.latent, device=device)
        return self.decode(z, torch.full((n,), label, device=device)).cpu().numpy()

    def write_figures(
        self, out_dir: Path, real_x: np.ndarray, real_y: np.ndarray, sample_period_s: float
    ) -> list[Path]:
        from baselines.plots import plot_pulse_panels

        n = self.hp.n_figure_samples
        panels = {
            "generated absorber (y=0)": self.generate(0, n),
            "generated carrier (y=1)": self.generate(1, n),
            "real absorber": real_x[real_y == 0][:n],
            "real carrier": real_x[real_y == 1][:n],
        }
        path = Path(out_dir) / "vae_generated.png"
        plot_pulse_panels(path, panels, sample_period_s, title="Conditional VAE: pulses per class")
        return [path]
