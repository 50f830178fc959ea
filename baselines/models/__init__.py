"""The baselines, one module each; `MODELS` maps a command-line name to its module.

Neural networks (kind "torch") define `Hparams` and `Net(n_samples, hp)`; `bdt`,
`matched_filter` and `template_fit` define `Hparams` and `Model(hp)` with `fit(X, y, metadata)` and `score(X)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from types import ModuleType


@dataclass(frozen=True)
class ModelSpec:
    name: str
    module_name: str
    kind: str  # "torch": trained by baselines.train; "sklearn": features + trees; "reference"
    summary: str

    @property
    def module(self) -> ModuleType:
        return import_module(f"baselines.models.{self.module_name}")

    @property
    def is_neural(self) -> bool:
        return self.kind == "torch"


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec("logit", "logit", "torch", "logistic regression on the preprocessed record"),
        ModelSpec("mlp", "mlp", "torch", "multilayer perceptron"),
        ModelSpec("cnn", "cnn", "torch", "1D convolutional network"),
        ModelSpec("vae", "vae", "torch", "conditional VAE, score = ELBO(y=1) - ELBO(y=0)"),
        ModelSpec("gan", "gan", "torch", "semi-supervised GAN, discriminator as classifier"),
        ModelSpec("starter", "starter", "torch", "100 hidden units on the raw record"),
        ModelSpec("bdt", "bdt", "sklearn", "pulse-shape features + gradient-boosted trees"),
        ModelSpec(
            "matched-filter",
            "matched_filter",
            "reference",
            "physics reference: likelihood ratio marginalised over onset, shape, height",
        ),
        ModelSpec(
            "template-fit", "template_fit", "reference", "plain matched filter: template chi2"
        ),
    ]
}


def get_spec(name: str) -> ModelSpec:
    """The spec of model `name`; ValueError naming the known models otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None
