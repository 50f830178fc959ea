"""The one preprocessing of every baseline: baseline subtraction, downsampling, whitening,
windowing, scaling.

`Preprocessor.fit` learns its state on the training records (no labels): the whitening filter
from the noise spectrum of the pre-trigger regions, the noise level and one offset and scale.
The transform itself is one torch module (`PreprocessingGraph`): the same operations turn the
records into network inputs at training time, at prediction time and in the ONNX export.
`state_dict` goes into the checkpoint and `Preprocessor.from_state` rebuilds the identical
transform.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from challenge.detector import TRIGGER_FRACTION
from challenge.matched_filter import pretrigger_psd

SCALINGS = ("global", "per_record", "asinh")
TRANSFORM_BATCH = 256  # records per torch batch of the transform: bounds its memory


@dataclass
class PreprocessingConfig:
    """How raw records (volts, (n, L)) become network inputs ((n, n_features))."""

    downsample: int = 4  # block means: 25 kHz -> 6.25 kHz, still resolves a 0.4 ms rise
    subtract_baseline: bool = True  # subtract the mean of the pre-trigger region of each record
    # divide by the noise amplitude spectrum measured before the trigger: a symmetric FIR filter
    # of whitening_taps samples (after downsampling), 1 / sqrt(PSD) tapered by a Hann window
    whiten: bool = False
    whitening_taps: int = 129
    # kept part of the record, as fractions of L: from 6.5 ms before the trigger (at 0.25) to
    # 59 ms after it, where the two pulse shapes differ; the rest is mostly noise
    window: tuple[float, float] = (0.24, 0.34)
    # "global": one scale for all records; "per_record": by height; "asinh": asinh(x / noise),
    # linear up to the noise level and logarithmic above, so that pulses of 1 mV and 10 V
    # (four decades) differ by an offset of about log(10^4) instead of a factor of 10^4
    scaling: str = "global"
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
        if self.whitening_taps < 3 or self.whitening_taps % 2 == 0:
            raise ValueError(f"whitening_taps must be odd and >= 3, got {self.whitening_taps!r}")


@dataclass(frozen=True)
class _Layout:
    """Where the transform reads a record of ``length`` samples: blocks of ``downsample``
    samples anchored at the window's start, from ``first`` to ``last`` (sample indices), of
    which blocks ``left`` .. ``left + n_out`` are the window; the others feed the whitening."""

    first: int
    last: int
    left: int
    n_out: int
    n_pre_blocks: int  # blocks wholly inside the pre-trigger region (for the noise spectrum)


class Preprocessor:
    """Transform records identically at training and prediction time.

    Fitted state: the whitening filter (if `whiten`), the noise level (for "asinh"), the offset
    and scale learned on the training records (one number each, so the shape of a pulse is
    untouched), and the record length it was fitted on.
    """

    def __init__(self, config: PreprocessingConfig | None = None) -> None:
        self.config = config or PreprocessingConfig()
        self.offset: float | None = None
        self.scale: float | None = None
        self.record_length: int | None = None
        self.whitening_filter: np.ndarray | None = None  # (whitening_taps,)
        self.noise_scale: float = 1.0

    def fit(self, X: np.ndarray) -> Preprocessor:
        """Learn whitening, noise level, offset and scale from training records X (n, L) in V."""
        X = self._check(X, fitted=False)
        self.record_length = X.shape[1]
        self.offset, self.scale, self.noise_scale = 0.0, 1.0, 1.0
        layout = self.layout
        if self.config.whiten:
            blocks = self._run(X, stop="downsample")
            self.whitening_filter = whitening_filter(
                blocks, self._pre_blocks(layout), self.config.whitening_taps
            )
        if self.config.scaling == "asinh":
            self.noise_scale = self._fit_noise_scale(X)
        Z = self._run(X)
        self.offset = float(Z.mean())
        self.scale = float(Z.std()) or 1.0
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Records X (n, L) in volts -> float32 (n, n_features)."""
        X = self._check(X, fitted=True)
        return self._run(X).astype(np.float32)

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def graph(self) -> PreprocessingGraph:
        """The transform as a torch module: volts (n, L) -> float32 (n, n_features)."""
        if self.scale is None:
            raise RuntimeError("Preprocessor is not fitted: call fit() on training records")
        return PreprocessingGraph(self)

    @property
    def n_features(self) -> int:
        if self.record_length is None:
            raise RuntimeError("Preprocessor is not fitted")
        return self.layout.n_out

    @property
    def layout(self) -> _Layout:
        cfg, length = self.config, self.record_length
        d = cfg.downsample
        start, stop = self._window_slice(length)
        n_out = (stop - start) // d
        left, right = start // d, (length - start - n_out * d) // d
        first = start - left * d
        n_pre = self._n_pre(length)
        return _Layout(first, start + (n_out + right) * d, left, n_out, (n_pre - first) // d)

    def state_dict(self) -> dict:
        taps = self.whitening_filter
        return {
            "config": asdict(self.config),
            "offset": self.offset,
            "scale": self.scale,
            "record_length": self.record_length,
            "whitening_filter": None if taps is None else taps.tolist(),
            "noise_scale": self.noise_scale,
        }

    @classmethod
    def from_state(cls, state: dict) -> Preprocessor:
        pre = cls(PreprocessingConfig(**state["config"]))
        pre.offset, pre.scale = state["offset"], state["scale"]
        pre.record_length = state["record_length"]
        taps = state.get("whitening_filter")
        pre.whitening_filter = None if taps is None else np.asarray(taps, dtype=np.float64)
        pre.noise_scale = float(state.get("noise_scale", 1.0))
        return pre

    def _n_pre(self, length: int) -> int:
        return max(2, int(self.config.pretrigger_fraction * length))

    def _window_slice(self, length: int) -> tuple[int, int]:
        start, stop = self.config.window
        return int(round(start * length)), int(round(stop * length))

    def _fit_noise_scale(self, X: np.ndarray) -> float:
        """The median RMS of the pre-trigger blocks after whitening (before any scaling)."""
        layout = self.layout
        blocks = self._run(X, stop="whiten")
        n_pre = self._pre_blocks(layout)
        # the filter's zero padding reaches this far into the record
        edge = min(len(self.whitening_filter) // 2, n_pre // 2) if self.config.whiten else 0
        pre = blocks[:, edge:n_pre]
        if pre.shape[1] < 2:
            raise ValueError(
                "the pre-trigger region holds fewer than 2 whitened samples to measure the noise "
                f"from: use fewer whitening_taps than {self.config.whitening_taps} or a smaller "
                f"downsample than {self.config.downsample}"
            )
        return float(np.median(pre.std(axis=1))) or 1.0

    def _pre_blocks(self, layout: _Layout) -> int:
        """Blocks of the transform's input wholly in the pre-trigger region; ValueError if < 2."""
        if layout.n_pre_blocks < 2:
            raise ValueError(
                f"the pre-trigger region (the first {self.config.pretrigger_fraction:g} of the "
                f"record) holds {max(layout.n_pre_blocks, 0)} blocks of downsample="
                f"{self.config.downsample} samples; whitening and asinh scaling measure the "
                "noise there and need 2"
            )
        return layout.n_pre_blocks

    def _run(self, X: np.ndarray, *, stop: str = "scale") -> np.ndarray:
        """The torch graph on X in batches, float64, up to step ``stop``."""
        graph = PreprocessingGraph(self)
        with torch.no_grad():
            parts = [
                graph.steps(torch.from_numpy(np.asarray(X[i : i + TRANSFORM_BATCH])), stop=stop)
                for i in range(0, len(X), TRANSFORM_BATCH)
            ]
        return torch.cat(parts).numpy() if parts else np.zeros((0, self.n_features))

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


def whitening_filter(blocks: np.ndarray, n_pre: int, taps: int) -> np.ndarray:
    """A symmetric FIR filter (taps,) that whitens records like ``blocks`` (n, M), whose first
    ``n_pre`` samples hold only noise: the impulse response of 1 / sqrt(PSD) on M samples (0 at
    DC, so offsets drop out), cut to ``taps`` samples by a Hann taper, with unit energy."""
    psd = pretrigger_psd(blocks, n_pre=n_pre)
    taps = min(taps, blocks.shape[1] - 1 + blocks.shape[1] % 2)  # odd, at most the record
    gain = np.zeros_like(psd)
    gain[1:] = 1.0 / np.sqrt(psd[1:])
    response = np.fft.irfft(gain, n=blocks.shape[1])
    half = taps // 2
    centred = np.concatenate([response[-half:], response[: half + 1]])  # lags -half .. half
    taper = np.hanning(taps + 2)[1:-1]
    kernel = centred * taper
    return kernel / np.sqrt((kernel**2).sum())


class PreprocessingGraph(nn.Module):
    """`Preprocessor.transform` as torch operations: float64, but for the whitening filter,
    which runs in float32 (onnxruntime's Conv has no float64 kernel)."""

    STEPS = ("downsample", "whiten", "scale")

    def __init__(self, pre: Preprocessor) -> None:
        super().__init__()
        cfg = pre.config
        self.cfg, self.layout = cfg, pre.layout
        self.n_pre = pre._n_pre(pre.record_length)
        self.offset, self.scale = float(pre.offset), float(pre.scale)
        self.noise_scale = float(pre.noise_scale)
        taps = pre.whitening_filter
        self.whitening = None
        if cfg.whiten and taps is not None:
            conv = nn.Conv1d(1, 1, len(taps), padding=len(taps) // 2, bias=False)
            conv.weight.data = torch.as_tensor(taps, dtype=torch.float32).reshape(1, 1, -1)
            conv.weight.requires_grad_(False)
            self.whitening = conv

    def forward(self, volts: torch.Tensor) -> torch.Tensor:
        return self.steps(volts).float()  # (n, L) -> (n, n_features)

    def steps(self, volts: torch.Tensor, *, stop: str = "scale") -> torch.Tensor:
        """float64 output of the steps up to ``stop``, one of STEPS."""
        cfg, lay = self.cfg, self.layout
        x = volts.double()  # (n, L)
        if cfg.subtract_baseline:
            x = x - x[:, : self.n_pre].mean(dim=1, keepdim=True)
        x = x[:, lay.first : lay.last]
        z = x.reshape(x.shape[0], -1, cfg.downsample).mean(dim=2)  # (n, blocks)
        if stop == "downsample":
            return z
        if self.whitening is not None:
            z = self.whitening(z.float().unsqueeze(1)).squeeze(1).double()  # same length
        if stop == "whiten":
            return z
        z = z[:, lay.left : lay.left + lay.n_out]  # (n, n_features)
        if cfg.scaling == "per_record":
            height = z.abs().amax(dim=1, keepdim=True)
            z = z / torch.where(height > 0, height, torch.ones_like(height))
        elif cfg.scaling == "asinh":
            z = _asinh(z / self.noise_scale)
        return (z - self.offset) / self.scale


def _asinh(x: torch.Tensor) -> torch.Tensor:
    """asinh(x) = sign(x) log(|x| + sqrt(x^2 + 1)), from operators that export to ONNX (torch's
    exporter has no asinh)."""
    magnitude = x.abs()
    return torch.sign(x) * torch.log(magnitude + torch.sqrt(magnitude * magnitude + 1.0))
