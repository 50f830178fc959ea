"""The physics reference: `challenge.likelihood`, the carrier/absorber likelihood ratio marginalised
over onset, time constants and height. It uses no labels on simulated data (the detector model and
the priors come from the file's metadata); on other data it learns templates, noise and the onset
window from the training records."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Hparams:
    """No hyperparameters: templates, noise spectrum and priors come from the detector or the data."""


class Model:
    def __init__(self, hp: Hparams) -> None:
        self.hp = hp
        self.metadata: dict | None = None
        self.learned: dict | None = None  # the learned reference, when the metadata has no priors

    def fit(self, X: np.ndarray, y: np.ndarray, metadata: dict, *, seed: int = 0) -> Model:
        """Simulated data: only records the metadata. Other data: learns the reference from X, y."""
        from challenge.likelihood import learn_reference, priors_from_metadata

        self.metadata = dict(metadata)
        if priors_from_metadata(self.metadata) is None:
            self.learned = learn_reference(X, y, metadata=self.metadata).state()
        return self

    def _reference(self):
        from challenge.likelihood import Reference, reference_from_metadata

        if self.learned is None:
            return reference_from_metadata(self.metadata)
        return Reference.from_state(self.learned, metadata=self.metadata)

    def score(self, X: np.ndarray) -> np.ndarray:
        """Carrier-likeness (n,) of records X (n, L) in volts: the log likelihood ratio."""
        from challenge.likelihood import log_likelihood_ratio

        return log_likelihood_ratio(X, self._reference())

    def state(self) -> dict:
        return {"metadata": self.metadata, "learned": self.learned}

    @classmethod
    def from_state(cls, hp: Hparams, state: dict) -> Model:
        model = cls(hp)
        model.metadata, model.learned = state["metadata"], state.get("learned")
        return model

    @property
    def n_parameters(self) -> int:
        """Numbers learned from the training records (templates and noise spectrum), else 0."""
        if self.learned is None:
            return 0
        return sum(len(t) for t in self.learned["templates"]) + len(self.learned["noise_psd"])
