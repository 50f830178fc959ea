# %% [markdown]
# # Lesson 4: generative models
#
# A classifier learns p(y | x). A generative model turns the arrow around and makes new x:
# - the **autoencoder** squeezes each digit through a few numbers (the code z) and rebuilds it;
#   understanding is compression, but it cannot yet invent digits;
# - the **conditional variational autoencoder** makes the code a noisy Gaussian and feeds the label
#   in, so that decoding random codes with a chosen label draws new digits of that class;
# - the **GAN** pits a generator, which turns noise into images, against a discriminator, which
#   tells real images from generated ones.
#
# Bundled 8x8 digits by default; `exercises run 4 lesson4_generative.py --mnist DIR` for MNIST.
# Fill in every `...`, then check with
#     exercises check 4 lesson4_generative.py

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
    hidden: int = 128
    code_size: int = 8  # the autoencoder's code
    latent_size: int = 4  # the CVAE's Gaussian latent space
    noise_size: int = 16  # the GAN generator's input
    lr: float = 2e-3
    batch_size: int = 64
    ae_epochs: int = 30
    vae_epochs: int = 40
    gan_epochs: int = 80  # seeds 0-3 give 8 or 9 distinct digits (50 gave 5 with torch 2.13)
    out: str = "figures/lesson4"


N_CLASSES = 10


# %% [markdown]
# ## The autoencoder
# Encoder: pixels -> code (n, code_size). Decoder: code -> pixels in [0, 1] (a sigmoid at the end).
# The loss is the mean squared difference between the image and its reconstruction.


# %%
class AutoEncoder(nn.Module):
    def __init__(self, n_pixels: int, code_size: int, hidden: int) -> None:
        super().__init__()
        # BLANK: nn.Sequential: Linear(n_pixels -> hidden), ReLU, Linear(hidden -> code_size)
        self.encoder = nn.Sequential(
            nn.Linear(n_pixels, hidden), nn.ReLU(), nn.Linear(hidden, code_size)
        )
        # BLANK: the mirror image, ending in a Sigmoid so that pixels lie in [0, 1]
        self.decoder = nn.Sequential(
            nn.Linear(code_size, hidden), nn.ReLU(), nn.Linear(hidden, n_pixels), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = self.encoder(x.flatten(1))  # (n, 1, S, S) -> (n, S*S) -> (n, code_size)
        return self.decoder(code).view_as(x)  # -> (n, S*S) -> (n, 1, S, S)


# %% [markdown]
# ## The conditional variational autoencoder
# The encoder gives a mean μ and a log-variance log σ² per latent dimension. The code is drawn as
# z = μ + σ ε with ε ~ N(0, 1) (the reparameterisation trick: the randomness sits in ε, so
# gradients flow through μ and σ). The loss adds the Kullback-Leibler divergence of N(μ, σ²) from
# N(0, 1) to the reconstruction error, which keeps the codes close to the prior we sample from.


# %%
class CVAE(nn.Module):
    def __init__(self, n_pixels: int, latent_size: int, hidden: int) -> None:
        super().__init__()
        self.latent_size = latent_size
        self.encoder = nn.Sequential(nn.Linear(n_pixels + N_CLASSES, hidden), nn.ReLU())
        self.to_mu = nn.Linear(hidden, latent_size)
        self.to_logvar = nn.Linear(hidden, latent_size)
        self.decoder = nn.Sequential(
            nn.Linear(latent_size + N_CLASSES, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_pixels),
            nn.Sigmoid(),
        )

    def encode(self, x: torch.Tensor, onehot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(torch.cat([x.flatten(1), onehot], dim=1))  # (n, hidden)
        return self.to_mu(h), self.to_logvar(h)  # (n, latent_size) each

    def decode(self, z: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, onehot], dim=1))  # (n, n_pixels)

    def forward(self, x: torch.Tensor, labels: torch.Tensor):
        onehot = F.one_hot(labels, N_CLASSES).float()
        mu, logvar = self.encode(x, onehot)
        z = reparameterize(mu, logvar)
        return self.decode(z, onehot).view_as(x), mu, logvar


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """A draw z = μ + σ ε, ε ~ N(0, 1), with σ = exp(log σ² / 2)."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # BLANK: z = μ + σ ε


def vae_loss(
    recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """Per-image mean of (binary cross-entropy summed over pixels + KL(N(μ, σ²) || N(0, 1)))."""
    reconstruction = F.binary_cross_entropy(recon, x, reduction="sum")
    # BLANK: the KL divergence summed over the batch: -1/2 Σ (1 + log σ² - μ² - σ²)
    kl = -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp())
    return (reconstruction + kl) / len(x)


def sample_cvae(model: CVAE, labels: torch.Tensor, image_shape: tuple[int, ...]) -> torch.Tensor:
    """New images (n, *image_shape) of the classes ``labels`` (n,), decoded from z ~ N(0, 1)."""
    model.eval()
    with torch.no_grad():
        z = torch.randn(len(labels), model.latent_size)  # BLANK: codes drawn from the prior N(0, 1)
        images = model.decode(z, F.one_hot(labels, N_CLASSES).float())
    return images.view(len(labels), *image_shape)


# %% [markdown]
# ## The GAN
# The discriminator outputs a logit: high for "real". Its loss asks for 1 on real images and 0 on
# generated ones; the generator's loss asks the discriminator to say 1 on generated ones.


# %%
def make_generator(noise_size: int, n_pixels: int, hidden: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(noise_size, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, n_pixels),
        nn.Sigmoid(),
    )


def make_discriminator(n_pixels: int, hidden: int) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(n_pixels, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)
    )


def gan_step(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    noise_size: int,
) -> tuple[float, float]:
    """One update of the discriminator, then one of the generator; returns both losses."""
    n = len(real)
    ones, zeros = torch.ones(n, 1), torch.zeros(n, 1)
    fake = generator(torch.randn(n, noise_size))  # (n, n_pixels)

    opt_d.zero_grad()
    # BLANK: BCE-with-logits of D(real) against ones plus of D(fake.detach()) against zeros
    d_loss = F.binary_cross_entropy_with_logits(
        discriminator(real), ones
    ) + F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros)
    d_loss.backward()
    opt_d.step()

    opt_g.zero_grad()
    # BLANK: the generator wants D(fake) to say "real": BCE-with-logits against ones
    g_loss = F.binary_cross_entropy_with_logits(discriminator(fake), ones)
    g_loss.backward()  # BLANK: backpropagate and update the generator only
    opt_g.step()  # BLANK
    return d_loss.item(), g_loss.item()


# %% [markdown]
# ## Training the three


# %%
def batches(n: int, batch_size: int, generator: torch.Generator):
    order = torch.randperm(n, generator=generator)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def train_autoencoder(config: Config, X: torch.Tensor) -> tuple[AutoEncoder, list[float]]:
    torch.manual_seed(config.seed)
    model = AutoEncoder(X[0].numel(), config.code_size, config.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    shuffle = torch.Generator().manual_seed(config.seed)
    history = []
    for _ in range(config.ae_epochs):
        total = 0.0
        for batch in batches(len(X), config.batch_size, shuffle):
            optimizer.zero_grad()
            loss = F.mse_loss(model(X[batch]), X[batch])  # BLANK: the reconstruction error
            loss.backward()  # BLANK: backpropagate and update
            optimizer.step()  # BLANK
            total += loss.item() * len(batch)
        history.append(total / len(X))
    return model, history


def train_cvae(config: Config, X: torch.Tensor, y: torch.Tensor) -> tuple[CVAE, list[float]]:
    torch.manual_seed(config.seed)
    model = CVAE(X[0].numel(), config.latent_size, config.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    shuffle = torch.Generator().manual_seed(config.seed)
    history = []
    for _ in range(config.vae_epochs):
        model.train()
        total = 0.0
        for batch in batches(len(X), config.batch_size, shuffle):
            optimizer.zero_grad()
            recon, mu, logvar = model(X[batch], y[batch])
            loss = vae_loss(recon, X[batch], mu, logvar)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        history.append(total / len(X))
    return model, history


def train_gan(config: Config, X: torch.Tensor) -> tuple[nn.Module, dict[str, list[float]]]:
    torch.manual_seed(config.seed)
    n_pixels = X[0].numel()
    generator = make_generator(config.noise_size, n_pixels, config.hidden)
    discriminator = make_discriminator(n_pixels, config.hidden)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=(0.5, 0.999))
    shuffle = torch.Generator().manual_seed(config.seed)
    history: dict[str, list[float]] = {"GAN discriminator": [], "GAN generator": []}
    for _ in range(config.gan_epochs):
        losses = [
            gan_step(generator, discriminator, opt_g, opt_d, X[batch].flatten(1), config.noise_size)
            for batch in batches(len(X), config.batch_size, shuffle)
        ]
        history["GAN discriminator"].append(sum(d for d, _ in losses) / len(losses))
        history["GAN generator"].append(sum(g for _, g in losses) / len(losses))
    return generator, history


def sample_gan(generator: nn.Module, n: int, noise_size: int, image_shape: tuple[int, ...]):
    with torch.no_grad():
        return generator(torch.randn(n, noise_size)).view(n, *image_shape)


# %% [markdown]
# ## Reconstructions and new digits


# %%
def write_figures(results: dict, split: datasets.Split, config: Config, out_dir: str | Path):
    """Test digits with their reconstructions, CVAE samples per class, GAN samples, losses."""
    out_dir = Path(out_dir)
    shape = tuple(split.X_test.shape[1:])
    originals = torch.stack([split.X_test[split.y_test == c][0] for c in range(N_CLASSES)])
    labels = torch.arange(N_CLASSES)
    with torch.no_grad():
        ae = results["autoencoder"].eval()(originals)
        cvae = results["cvae"].eval()(originals, labels)[0]
    torch.manual_seed(config.seed)
    per_class = sample_cvae(results["cvae"], labels.repeat_interleave(8), shape)
    return [
        figures.plot_image_grid(
            torch.cat([originals, ae, cvae]),
            out_dir / "reconstructions.png",
            ncols=N_CLASSES,
            row_labels=["test digit", "autoencoder", "CVAE"],
            title="Test digits and their reconstructions",
        ),
        figures.plot_image_grid(
            per_class,
            out_dir / "cvae_samples.png",
            ncols=8,
            row_labels=[f"class {c}" for c in range(N_CLASSES)],
            title="New digits from the conditional VAE, one class per row",
        ),
        figures.plot_image_grid(
            sample_gan(results["gan"], 32, config.noise_size, shape),
            out_dir / "gan_samples.png",
            ncols=8,
            title="New digits from the GAN",
        ),
        figures.plot_loss_curves(
            {"autoencoder (MSE)": results["ae_history"], "CVAE": results["cvae_history"]}
            | results["gan_history"],
            out_dir / "training_losses.png",
            title="Training losses",
            first_epoch=1,
        ),
    ]


def train_all(config: Config, split: datasets.Split) -> dict:
    autoencoder, ae_history = train_autoencoder(config, split.X_train)
    cvae, cvae_history = train_cvae(config, split.X_train, split.y_train)
    gan, gan_history = train_gan(config, split.X_train)
    return {
        "autoencoder": autoencoder,
        "ae_history": ae_history,
        "cvae": cvae,
        "cvae_history": cvae_history,
        "gan": gan,
        "gan_history": gan_history,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Lesson 4: generative models.")
    parser.add_argument("--seed", type=int, default=Config.seed, help="seed of split and weights")
    parser.add_argument("--out", type=str, default=Config.out, help="folder for the figures")
    parser.add_argument("--mnist", type=str, default=None, help="folder with MNIST's IDX files")
    parser.add_argument("--dry-run", action="store_true", help="train for one epoch only")
    args, _ = parser.parse_known_args(argv)  # known ones only: Jupyter adds its own arguments
    config = Config(seed=args.seed, mnist_dir=args.mnist, out=args.out)
    if args.dry_run:
        config.ae_epochs = config.vae_epochs = config.gan_epochs = 1

    split = datasets.load_digits(seed=config.seed, mnist_dir=config.mnist_dir)
    results = train_all(config, split)
    with torch.no_grad():
        mse = F.mse_loss(results["autoencoder"](split.X_test), split.X_test).item()
    print(f"autoencoder: test reconstruction MSE {mse:.4f}")
    print(f"CVAE: final training loss {results['cvae_history'][-1]:.2f} per image")
    for path in write_figures(results, split, config, config.out):
        print(f"wrote {path}")


# %%
if __name__ == "__main__":
    main()
