"""The one preprocessing of every baseline: baseline subtraction, whitening, windowing,
downsampling, scaling.

`Preprocessor.fit` learns its state on the training records (no labels): the noise spectrum of
the pre-trigger regions and one scale. `state_dict` goes into the checkpoint and
`Preprocessor.from_state` rebuilds the identical transform at prediction time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from challenge.detector import TRIGGER_FRACTION
from challenge.matched_filter import pretrigger_psd

SCALINGS = ("global", "per_record")


@dataclass
class PreprocessingConfig:
    """How raw records (volts, (n, L)) become network inputs ((n, n_features))."""

    downsample: int = 4  # block means: 25 kHz -> 6.25 kHz, still resolves a 0.4 ms rise
    subtract_baseline: bool = True  # subtract the mean of the pre-trigger region of each record
    whiten: bool = False  # divide by the noise amplitude spectrum measured before the trigger
    # kept part of the record, as fractions of L: from 6.5 ms before the trigger (at 0.25) to
    # 59 ms after it, where the two pulse shapes differ; the rest is mostly noise
    window: tuple[float, float] = (0.24, 0.34)
    scaling: str = "global"  # "global": one scale for all records; "per_record": by height
    pretrigger_fraction: float = 0.2  # leading part of the record taken as baseline

    def __post_init__(self) -> None:
        self.window = tuple(self.window)
        if self.downsample < 1:
            raise ValueError(f"downsample must be >= 1, got {self.downsample!r}")
        if self.scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {self.scaling!r}")
        if not 0 < self.pretrigger_fraction <= TRIGGER_FRACTION:
            raise ValueError(
                f"pretrigger_fraction must be in (0, {TRIGGER_FRACTION}], "
                f"got {self.pretrigger_fraction!r}"
            )
        start, stop = self.window
        if not 0 <= start < stop <= 1:
            raise ValueError(f"window must satisfy 0 <= start < stop <= 1, got {self.window!r}")


class Preprocessor:
    """Transform records identically at training and prediction time.

    Fitted state: the whitening gain per frequency (if `whiten`), the offset and scale learned
    on the training records (one number each, so the shape of a pulse is untouched), and the
    record length it was fitted on.
    """

    def __init__(self, config: PreprocessingConfig | None = None) -> None:
        self.config = config or PreprocessingConfig()
        self.offset: float | None = None
        self.scale: float | None = None
        self.record_length: int | None = None
        self.whitening_gain: np.ndarray | None = None  # (L // 2 + 1,)

    def fit(self, X: np.ndarray) -> Preprocessor:
        """Learn whitening, offset and scale from training records X (n, L) in volts."""
        X = self._check(X, fitted=False)
        self.record_length = X.shape[1]
        if self.config.whiten:
            self.whitening_gain = self._fit_whitening(X)
        Z = self._shape(X)
        self.offset = float(Z.mean())
        self.scale = float(Z.std()) or 1.0
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Records X (n, L) in volts -> float32 (n, n_features)."""
        X = self._check(X, fitted=True)
        return ((self._shape(X) - self.offset) / self.scale).astype(np.float32)

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    @property
    def n_features(self) -> int:
        if self.record_length is None:
            raise RuntimeError("Preprocessor is not fitted")
        start, stop = self._window_slice(self.record_length)
        return (stop - start) // self.config.downsample

    def state_dict(self) -> dict:
        gain = self.whitening_gain
        return {
            "config": asdict(self.config),
            "offset": self.offset,
            "scale": self.scale,
            "record_length": self.record_length,
            "whitening_gain": None if gain is None else gain.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict) -> Preprocessor:
        pre = cls(PreprocessingConfig(**state["config"]))
        pre.offset, pre.scale = state["offset"], state["scale"]
        pre.record_length = state["record_length"]
        gain = state.get("whitening_gain")
        pre.whitening_gain = None if gain is None else np.asarray(gain, dtype=np.float64)
        return pre

    def _n_pre(self, length: int) -> int:
        return max(2, int(self.config.pretrigger_fraction * length))

    def _window_slice(self, length: int) -> tuple[int, int]:
        start, stop = self.config.window
        return int(round(start * length)), int(round(stop * length))

    def _fit_whitening(self, X: np.ndarray) -> np.ndarray:
        """1 / sqrt(noise PSD) on the record's rfft grid, 0 at DC, from pre-trigger segments."""
        psd = pretrigger_psd(X, n_pre=self._n_pre(X.shape[1]))
        gain = np.zeros_like(psd)
        gain[1:] = 1.0 / np.sqrt(psd[1:])
        return gain / np.median(gain)

    def _shape(self, X: np.ndarray) -> np.ndarray:
        """Baseline, whitening, window, downsampling and per-record scaling; float64 (n, L')."""
        cfg = self.config
        X = X.astype(np.float64, copy=True)
        if cfg.subtract_baseline:
            X -= X[:, : self._n_pre(X.shape[1])].mean(axis=1, keepdims=True)
        if cfg.whiten:
            X = np.fft.irfft(np.fft.rfft(X, axis=1) * self.whitening_gain, n=X.shape[1], axis=1)
        start, stop = self._window_slice(X.shape[1])
        n_out = (stop - start) // cfg.downsample
        # block means: an anti-aliasing low-pass and a decimation in one step
        Z = X[:, start : start + n_out * cfg.downsample]
        Z = Z.reshape(len(X), n_out, cfg.downsample).mean(axis=2)
        if cfg.scaling == "per_record":
            height = np.abs(Z).max(axis=1, keepdims=True)
            Z /= np.where(height > 0, height, 1.0)
        return Z

    def _check(self, X: np.ndarray, *, fitted: bool) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"expected records of shape (n, L), got shape {X.shape}")
        start, stop = self._window_slice(X.shape[1])
        if stop - start < self.config.downsample:
            raise ValueError(
                f"the window of a {X.shape[1]}-sample record is shorter than "
                f"downsample={self.config.downsample}"
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
