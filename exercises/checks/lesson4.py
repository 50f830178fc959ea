"""Checks of lesson 4: autoencoder, CVAE (reparameterisation, loss, class-conditional samples), GAN.

Generated digits are judged by a reference classifier (nearest neighbours on pixels) fitted here,
independently of the learner's code.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.neighbors import KNeighborsClassifier

from exercises import datasets
from exercises.checker import CheckFailed, Context, Step
from exercises.checks import common

RECONSTRUCTION_TARGET = 0.35  # the autoencoder's test MSE, as a fraction of the average digit's
CVAE_CLASS_TARGET = 0.80  # fraction of CVAE samples the reference classifier reads as their class
GAN_MIN_CLASSES = 6  # distinct digits among GAN samples (each at least 3% of them)
GAN_MIN_SPREAD = 0.5  # pixel spread of GAN samples, as a fraction of the real digits'
N_SAMPLES = 500


def _config(ctx: Context):
    config = ctx.module.Config()
    if ctx.mnist_dir is not None:
        config.mnist_dir = str(ctx.mnist_dir)
    return config


def _split(ctx: Context) -> datasets.Split:
    if "split" not in ctx.state:
        config = _config(ctx)
        ctx.state["split"] = datasets.load_digits(seed=config.seed, mnist_dir=config.mnist_dir)
    return ctx.state["split"]


def _reference_classifier(split: datasets.Split) -> KNeighborsClassifier:
    """Pixels -> digit, 98% right on the bundled test digits; at most 5000 images, to stay quick."""
    X = split.X_train[:5000].flatten(1).numpy()
    return KNeighborsClassifier(n_neighbors=5).fit(X, split.y_train[:5000].numpy())


def check_autoencoder_shapes(ctx: Context) -> str:
    torch.manual_seed(0)
    model = common.expect_module(ctx.module.AutoEncoder(64, 3, 16), "AutoEncoder(64, 3, 16)")
    x = torch.rand(5, 1, 8, 8)
    out = common.expect_tensor(model(x), "the autoencoder's output for 5 images", (5, 1, 8, 8))
    if out.min() < 0 or out.max() > 1:
        raise CheckFailed("reconstructed pixels fall outside [0, 1]: end the decoder with Sigmoid")
    code = common.expect_tensor(model.encoder(x.flatten(1)), "encoder(5 flattened images)", (5, 3))
    return f"images -> code {tuple(code.shape)} -> images in [0, 1]"


def check_reparameterize(ctx: Context) -> str:
    mu = torch.full((20000, 2), 1.5)
    logvar = torch.full((20000, 2), float(np.log(0.25)))  # σ = 0.5
    torch.manual_seed(0)
    z = common.expect_tensor(
        ctx.module.reparameterize(mu, logvar), "reparameterize(μ, log σ²)", mu.shape
    )
    mean, std = z.mean().item(), z.std().item()
    if abs(mean - 1.5) > 0.02 or abs(std - 0.5) > 0.02:
        raise CheckFailed(
            f"draws with μ = 1.5, σ = 0.5 have mean {mean:.3f} and spread {std:.3f}:"
            " z = μ + exp(log σ² / 2) * torch.randn_like(μ)"
        )
    mu = torch.zeros(3, 2, requires_grad=True)
    ctx.module.reparameterize(mu, torch.zeros(3, 2)).sum().backward()
    if mu.grad is None:
        raise CheckFailed("no gradient flows back to μ: build z from μ and σ with torch operations")
    return "z = μ + σ ε has the right mean and spread, and passes gradients"


def check_vae_loss(ctx: Context) -> str:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 8, 8, generator=g)
    recon = torch.rand(4, 1, 8, 8, generator=g) * 0.9 + 0.05
    mu, logvar = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g) * 0.5
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum()  # KL(N(μ, σ²) || N(0, 1))
    reconstruction = F.binary_cross_entropy(recon, x, reduction="sum")
    expected = (reconstruction + kl) / 4
    common.compare_to_reference(
        ctx.module.vae_loss(recon, x, mu, logvar),
        expected,
        "vae_loss",
        "KL = -1/2 Σ (1 + log σ² - μ² - σ²), summed over the batch",
        mistakes={
            "has the KL term with the wrong sign: KL = -1/2 Σ (1 + log σ² - μ² - σ²) is >= 0 "
            "and is added to the reconstruction error": (reconstruction - kl) / 4,
            "is the sum over the batch, not the mean per image: a wrong reduction (divide by "
            "len(x))": reconstruction + kl,
        },
        atol=1e-3,
    )
    return "reconstruction + KL divergence per image"


def _gan_step(gan_step, generator, discriminator, real, noise_size: int):
    opt_g = torch.optim.SGD(generator.parameters(), lr=0.05)
    opt_d = torch.optim.SGD(discriminator.parameters(), lr=0.05)
    torch.manual_seed(1)  # the same noise for the learner's step and the reference's
    return gan_step(generator, discriminator, opt_g, opt_d, real, noise_size)


def _gan_mistakes(generator, discriminator, stepped, real, noise_size: int) -> dict[str, tuple]:
    """The (discriminator, generator) losses that swapped targets give on the step's noise.

    The discriminator's loss comes before its update, the generator's after it (``stepped``).
    """
    torch.manual_seed(1)
    bce = F.binary_cross_entropy_with_logits
    with torch.no_grad():
        fake = generator(torch.randn(len(real), noise_size))
        d_real, d_fake, d_fake_after = discriminator(real), discriminator(fake), stepped(fake)
    ones, zeros = torch.ones_like(d_real), torch.zeros_like(d_real)
    return {
        "d_loss uses the wrong target classes: real images against ones, generated ones "
        "against zeros": (bce(d_real, zeros) + bce(d_fake, ones), None),
        "g_loss uses the wrong target class: the generator wants D(fake) to say 'real', "
        "so compare it with ones": (None, bce(d_fake_after, zeros)),
    }


def check_gan_step(ctx: Context) -> str:
    m = ctx.module
    torch.manual_seed(0)
    generator, discriminator = (
        ctx.reference.make_generator(4, 64, 16),
        ctx.reference.make_discriminator(64, 16),
    )
    real = _split(ctx).X_train[:32].flatten(1)
    stepped = copy.deepcopy(discriminator)
    expected = _gan_step(ctx.reference.gan_step, copy.deepcopy(generator), stepped, real, 4)
    mistakes = _gan_mistakes(generator, discriminator, stepped, real, 4)
    before_g, before_d = common.snapshot(generator), common.snapshot(discriminator)
    d_loss, g_loss = _gan_step(m.gan_step, generator, discriminator, real, 4)
    for i, (name, value) in enumerate((("d_loss", d_loss), ("g_loss", g_loss))):
        common.compare_to_reference(
            value,
            torch.tensor(expected[i]),
            f"the {name} gan_step returns",
            "BCE-with-logits: D(real) against ones and D(fake) against zeros for the "
            "discriminator, D(fake) against ones for the generator",
            mistakes={
                text: torch.tensor(v[i].item()) for text, v in mistakes.items() if v[i] is not None
            },
            atol=1e-4,
        )
    for name, value in (("discriminator", d_loss), ("generator", g_loss)):
        if not isinstance(value, float) or not 0 < value < 10:
            raise CheckFailed(
                f"the {name} loss is {value!r}; expected a positive float, about "
                "ln 2 = 0.69 per term at the start"
            )
    if not 1.0 < d_loss < 1.8:
        raise CheckFailed(
            f"the first discriminator loss is {d_loss:.3f}; with two BCE terms "
            "(real against ones, fake against zeros) it should be near 2 ln 2 = 1.39"
        )
    if not common.parameters_changed(before_d, discriminator):
        raise CheckFailed("the discriminator did not change: call d_loss.backward(), opt_d.step()")
    if not common.parameters_changed(before_g, generator):
        raise CheckFailed("the generator did not change: call g_loss.backward(), opt_g.step()")
    return "both networks take a step"


def check_autoencoder(ctx: Context) -> str:
    split = _split(ctx)
    model, history = ctx.module.train_autoencoder(_config(ctx), split.X_train)
    model.eval()
    with torch.no_grad():
        mse = F.mse_loss(model(split.X_test), split.X_test).item()
    baseline = F.mse_loss(split.X_train.mean(0).expand_as(split.X_test), split.X_test).item()
    ctx.state.update(autoencoder=model, ae_history=history)
    ratio = mse / baseline
    if not ratio <= RECONSTRUCTION_TARGET:
        raise CheckFailed(
            f"test reconstruction error {mse:.4f} is {ratio:.0%} of the average "
            f"digit's ({baseline:.4f}), above the {RECONSTRUCTION_TARGET:.0%} target:"
            " train longer or widen the code"
        )
    return (
        f"test reconstruction error {mse:.4f}, {ratio:.0%} of the average digit's "
        f"(target {RECONSTRUCTION_TARGET:.0%})"
    )


def check_cvae(ctx: Context) -> str:
    split = _split(ctx)
    config = _config(ctx)
    model, history = ctx.module.train_cvae(config, split.X_train, split.y_train)
    labels = torch.arange(10).repeat_interleave(N_SAMPLES // 10)
    torch.manual_seed(1)
    images = common.expect_tensor(
        ctx.module.sample_cvae(model, labels, tuple(split.X_test.shape[1:])),
        "sample_cvae's images",
        (len(labels), *split.X_test.shape[1:]),
    )
    classifier = ctx.state.setdefault("classifier", _reference_classifier(split))
    read_as = classifier.predict(images.flatten(1).numpy())
    ctx.state.update(cvae=model, cvae_history=history)
    return common.expect_at_least(
        float((read_as == labels.numpy()).mean()),
        CVAE_CLASS_TARGET,
        "samples read as their class",
        "train longer; does sample_cvae draw z from N(0, 1)?",
    )


def check_gan(ctx: Context) -> str:
    split = _split(ctx)
    config = _config(ctx)
    generator, history = ctx.module.train_gan(config, split.X_train)
    torch.manual_seed(1)
    fake = ctx.module.sample_gan(
        generator, N_SAMPLES, config.noise_size, tuple(split.X_test.shape[1:])
    )
    fake = common.expect_tensor(fake, "sample_gan's images").flatten(1)
    real = split.X_train.flatten(1)
    spread = (fake.std(0).mean() / real.std(0).mean()).item()
    classifier = ctx.state.setdefault("classifier", _reference_classifier(split))
    counts = np.bincount(classifier.predict(fake.numpy()), minlength=10)
    classes = int((counts >= 0.03 * N_SAMPLES).sum())
    ctx.state.update(gan=generator, gan_history=history)
    if spread < GAN_MIN_SPREAD or classes < GAN_MIN_CLASSES:
        raise CheckFailed(
            f"the GAN's samples look like {classes} different digits (target "
            f"{GAN_MIN_CLASSES}) with {spread:.0%} of the real pixel spread (target "
            f"{GAN_MIN_SPREAD:.0%}): the generator collapsed or did not learn; "
            "check the losses' targets (ones for real, zeros for fake) and detach()"
        )
    return f"samples look like {classes} different digits, {spread:.0%} of the real pixel spread"


def check_figures(ctx: Context) -> str:
    results = {
        key: ctx.state[key]
        for key in ("autoencoder", "ae_history", "cvae", "cvae_history", "gan", "gan_history")
    }
    paths = ctx.module.write_figures(results, _split(ctx), _config(ctx), ctx.out_dir)
    return common.expect_pngs(
        paths, ["reconstructions.png", "cvae_samples.png", "gan_samples.png", "training_losses.png"]
    )


CVAE = ("CVAE", "reparameterize", "vae_loss", "sample_cvae", "train_cvae")
GAN = ("make_generator", "make_discriminator", "gan_step", "train_gan", "sample_gan")
STEPS = [
    Step("autoencoder layers", ("AutoEncoder",), check_autoencoder_shapes),
    Step("reparameterisation", ("reparameterize",), check_reparameterize),
    Step("VAE loss", ("vae_loss",), check_vae_loss),
    Step("GAN step", ("gan_step",), check_gan_step),
    Step(
        "autoencoder reconstructs",
        ("AutoEncoder", "train_autoencoder"),
        check_autoencoder,
        needs=("autoencoder layers",),
        training=True,
        time_limit=300,
    ),
    Step(
        "CVAE draws the asked digit",
        CVAE,
        check_cvae,
        needs=("reparameterisation", "VAE loss"),
        training=True,
        time_limit=300,
    ),
    Step(
        "GAN draws varied digits",
        GAN,
        check_gan,
        needs=("GAN step",),
        training=True,
        time_limit=300,
    ),
    Step(
        "figures",
        ("write_figures",),
        check_figures,
        needs=("autoencoder reconstructs", "CVAE draws the asked digit", "GAN draws varied digits"),
        training=True,
        time_limit=60,
    ),
]
