"""The physics reference: `challenge.likelihood`, the carrier/absorber likelihood ratio marginalised
over onset, height and a linear baseline, with templates, noise spectrum and onset window learned
from the training records (``learn_reference``), on simulated and imported data alike: it never
reads the simulator's settings nor the organizers' detector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Hparams:
    """No hyperparameters: templates, noise spectrum and priors are learned from the records."""


class Model:
    def __init__(self, hp: Hparams) -> None:
        self.hp = hp
        self.metadata: dict | None = None
        self.learned: dict | None = None  # the learned reference's state

    def fit(self, X: np.ndarray, y: np.ndarray, metadata: dict, *, seed: int = 0) -> Model:
        """Learns the reference from labelled records X (n, L) in volts, y (n,)."""
        from challenge.likelihood import learn_reference

        self.metadata = dict(metadata)
        self.learned = learn_reference(X, y, metadata=self.metadata).state()
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        """Carrier-likeness (n,) of records X (n, L) in volts: the log likelihood ratio."""
        from challenge.likelihood import Reference, log_likelihood_ratio

        if self.learned is None:
            raise RuntimeError("the matched-filter reference is not fitted: call fit() first")
        reference = Reference.from_state(self.learned, metadata=self.metadata)
        return log_likelihood_ratio(X, reference)

    def state(self) -> dict:
        return {"metadata": self.metadata, "learned": self.learned}

    @classmethod
    def from_state(cls, hp: Hparams, state: dict) -> Model:
        model = cls(hp)
        model.metadata, model.learned = state["metadata"], state["learned"]
        return model

    @property
    def n_parameters(self) -> int:
        """Numbers learned from the training records: the templates and the noise spectrum."""
        return sum(len(t) for t in self.learned["templates"]) + len(self.learned["noise_psd"])
