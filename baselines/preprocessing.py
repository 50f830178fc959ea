"""The one preprocessing of every baseline: baseline subtraction, downsampling, scaling.

`Preprocessor.fit` learns its scale on the training records; `state_dict` goes into the
checkpoint and `Preprocessor.from_state` rebuilds the identical transform at prediction time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

SCALINGS = ("global", "per_record")


@dataclass
class PreprocessingConfig:
    """How raw records (volts, (n, L)) become network inputs ((n, L // downsample))."""

    downsample: int = 16  # block means: 16384 samples at 25 kHz -> 1024 samples at 1.5625 kHz
    subtract_baseline: bool = True  # subtract the mean of the pre-trigger region of each record
    scaling: str = "global"  # "global": one scale for all records; "per_record": divide by height
    pretrigger_fraction: float = (
        0.2  # leading part of the record taken as baseline (trigger at 1/4)
    )

    def __post_init__(self) -> None:
        if self.downsample < 1:
            raise ValueError(f"downsample must be >= 1, got {self.downsample!r}")
        if self.scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {self.scaling!r}")
        if not 0 < self.pretrigger_fraction <= 0.25:
            raise ValueError(
                f"pretrigger_fraction must be in (0, 0.25], got {self.pretrigger_fraction!r}"
            )


class Preprocessor:
    """Transform records identically at training and prediction time.

    Fitted state: the offset and scale learned on the training records (one number each, so
    the relative shape of a pulse is untouched) and the record length it was fitted on.
    """

    def __init__(self, config: PreprocessingConfig | None = None) -> None:
        self.config = config or PreprocessingConfig()
        self.offset: float | None = None
        self.scale: float | None = None
        self.record_length: int | None = None

    def fit(self, X: np.ndarray) -> Preprocessor:
        """Learn offset and scale from training records X (n, L) in volts."""
        X = self._check(X, fitted=False)
        self.record_length = X.shape[1]
        Z = self._shape(X)
        self.offset = float(Z.mean())
        self.scale = float(Z.std()) or 1.0
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Records X (n, L) in volts -> float32 (n, L // downsample)."""
        X = self._check(X, fitted=True)
        return ((self._shape(X) - self.offset) / self.scale).astype(np.float32)

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    @property
    def n_features(self) -> int:
        if self.record_length is None:
            raise RuntimeError("Preprocessor is not fitted")
        return self.record_length // self.config.downsample

    @property
    def sample_period_s(self) -> float:
        """Seconds between two transformed samples, given 25 kHz input sampling."""
        from challenge.detector import SAMPLING_RATE_HZ

        return self.config.downsample / SAMPLING_RATE_HZ

    def state_dict(self) -> dict:
        return {
            "config": asdict(self.config),
            "offset": self.offset,
            "scale": self.scale,
            "record_length": self.record_length,
        }

    @classmethod
    def from_state(cls, state: dict) -> Preprocessor:
        pre = cls(PreprocessingConfig(**state["config"]))
        pre.offset, pre.scale = state["offset"], state["scale"]
        pre.record_length = state["record_length"]
        return pre

    def _shape(self, X: np.ndarray) -> np.ndarray:
        """Baseline subtraction, downsampling and per-record scaling; float64 (n, L')."""
        cfg = self.config
        X = X.astype(np.float64, copy=True)
        if cfg.subtract_baseline:
            n_pre = max(1, int(cfg.pretrigger_fraction * X.shape[1]))
            X -= X[:, :n_pre].mean(axis=1, keepdims=True)
        n_out = X.shape[1] // cfg.downsample
        # block means: an anti-aliasing low-pass and a decimation in one step
        Z = X[:, : n_out * cfg.downsample].reshape(len(X), n_out, cfg.downsample).mean(axis=2)
        if cfg.scaling == "per_record":
            height = np.abs(Z).max(axis=1, keepdims=True)
            Z /= np.where(height > 0, height, 1.0)
        return Z

    def _check(self, X: np.ndarray, *, fitted: bool) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"expected records of shape (n, L), got shape {X.shape}")
        if X.shape[1] < self.config.downsample:
            raise ValueError(
                f"record length {X.shape[1]} is shorter than downsample={self.config.downsample}"
            )
        if fitted:
            if self.scale is None:
                raise RuntimeError("Preprocessor is not fitted: call fit() on training records")
            if X.shape[1] != self.record_length:
                raise ValueError(
                    f"records have {X.shape[1]} samples, the preprocessor was fitted on "
                    f"{self.record_length}"
                )
        return X
