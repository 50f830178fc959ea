"""The plain matched filter, for teaching: the chi² difference between fits of the two known
templates (free height, onset in the prior's window, linear baseline) after noise whitening."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from baselines.models import matched_filter


@dataclass
class Hparams:
    """No hyperparameters: the templates and the noise spectrum come from the detector model."""


class Model(matched_filter.Model):
    """The physics reference's bookkeeping (metadata, checkpoint state) with the plain score."""

    def fit(self, X: np.ndarray, y: np.ndarray, metadata: dict, *, seed: int = 0) -> Model:
        """Only records the file metadata (sampling rate, trigger): the labels are not used."""
        self.metadata = dict(metadata)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        """Carrier-likeness (n,) of records X (n, L) in volts: chi²(absorber) - chi²(carrier)."""
        from challenge.matched_filter import matched_filter_score

        return np.asarray(matched_filter_score(X, metadata=self.metadata), dtype=np.float64)
