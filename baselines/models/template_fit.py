"""The plain matched filter, for teaching: the chi² difference between fits of the two templates
of the public simulator (free height, onset in a window around the trigger, linear baseline)
after whitening with the simulator's noise spectrum. It learns nothing from the records."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Hparams:
    """No hyperparameters: the templates and the noise spectrum are the public simulator's."""


@dataclass
class Model:
    hp: Hparams
    metadata: dict | None = None  # the records' sampling rate and trigger, which score needs

    def fit(self, X: np.ndarray, y: np.ndarray, metadata: dict, *, seed: int = 0) -> Model:
        """Only records the file metadata (sampling rate, trigger): the labels are not used."""
        self.metadata = dict(metadata)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        """Carrier-likeness (n,) of records X (n, L) in volts: chi²(absorber) - chi²(carrier)."""
        from challenge.matched_filter import matched_filter_score

        return np.asarray(matched_filter_score(X, metadata=self.metadata), dtype=np.float64)

    def state(self) -> dict:
        return {"metadata": self.metadata}

    @classmethod
    def from_state(cls, hp: Hparams, state: dict) -> Model:
        return cls(hp, state["metadata"])

    @property
    def n_parameters(self) -> int:
        """Nothing is learned from the records."""
        return 0
