"""Draws labelled pulse records of the simulated detector: vectorised numpy, deterministic for a seed.

Events are made in fixed-size chunks, each with its own two random generators (labels, records)
keyed by SHA-256 of (seed, split, chunk index, part), so a record does not depend on how a caller
batches the work, and the state of one generator reveals neither the seed nor another stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import numpy as np

from challenge.detector import SHAPES, Detector, peak_value, probst_pulse
from challenge.secret import derive_rng

# 1.1: streams keyed by SHA-256, labels drawn from a stream of their own; 1.2: CRESST-like noise
# (1/f^1.7 below 80 Hz, mains lines), heights from 1.5 mV, drifts of the noise's scale.
GENERATOR_VERSION = "1.2"
SPLIT_CODES = {"train": 0, "test": 1}
LABEL_STREAM, RECORD_STREAM = 0, 1  # the two random streams of each chunk


@dataclass(frozen=True)
class SimulationConfig:
    """Everything the simulator draws, besides the detector itself (heights in volts, times in ms)."""

    detector: Detector = field(default_factory=Detector)
    carrier_fraction: float = 0.5
    # Pulse heights: the same truncated power law dN/dh ~ h^-(1 + alpha) for both classes,
    # starting close to the noise level, where the two shapes can no longer be told apart.
    height_min_v: float = 0.0015  # calibrated: physics reference 0.977 on 3,000 events
    height_max_v: float = 10.0
    height_alpha: float = 0.4
    tau_jitter: float = 0.03  # relative spread (log-normal) of each time constant, per event
    onset_jitter_ms: float = 1.0  # onset uniform in trigger +- this
    baseline_offset_v: float = 0.5  # offsets uniform in +- this
    # Drifts of the scale of the noise, as in cait's augmentation (offset, linear, quadratic and
    # cubic drifts each N(0, resolution)); the offsets here are larger, and drop out of any filter.
    drift_rms_v: float = 0.005  # linear drift over the record, end minus start
    drift_curvature_rms_v: float = 0.0025  # quadratic part of the drift
    pileup_fraction: float = 0.015  # a second pulse (of either class) anywhere in the record
    flux_jump_fraction: float = 0.005  # the SQUID loses a flux quantum: a baseline step
    flux_jump_v: float = 0.3
    spike_fraction: float = 0.01  # an electronic spike of a few samples
    spike_max_v: float = 1.0
    chunk_size: int = 500  # events per random-number chunk; part of what a seed means

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SimulationConfig:
        d = dict(d)
        d["detector"] = Detector.from_dict(d["detector"])
        return cls(**d)


class SimulatedEvents(NamedTuple):
    """A batch of simulated records with their truth."""

    counts: np.ndarray  # int16 (n, L): ADC counts
    label: np.ndarray  # int8 (n,): 1 = carrier, 0 = absorber
    pulse_height: np.ndarray  # float64 (n,): height of the primary pulse before saturation, volts
    onset: np.ndarray  # float64 (n,): onset of the primary pulse, ms from the record start
    artifact: np.ndarray  # int8 (n,): 0 none, 1 pile-up, 2 flux jump, 3 spike


ARTIFACT_CODES = {"none": 0, "pileup": 1, "flux_jump": 2, "spike": 3}
_ARTIFACT_KINDS = ("pileup", "flux_jump", "spike")  # the order of their fractions in the draw


def chunk_rng(seed: int, split: str, chunk_index: int, part: int) -> np.random.Generator:
    """The generator of one part (LABEL_STREAM or RECORD_STREAM) of one chunk of a split.

    The labels have a stream of their own, so that the public records of a chunk, whose noise
    holds many outputs of the record stream, tell nothing of its labels but through the physics.
    """
    return derive_rng(seed, SPLIT_CODES[split], chunk_index, part)


def draw_labels(rng: np.random.Generator, n: int, config: SimulationConfig) -> np.ndarray:
    """The classes int8 (n,), 1 = carrier, from a chunk's LABEL_STREAM."""
    return (rng.random(n) < config.carrier_fraction).astype(np.int8)


def simulated_labels(n: int, *, seed: int, split: str, config: SimulationConfig) -> np.ndarray:
    """The labels of a split's ``n`` events without simulating their records (cheap)."""
    starts = range(0, n, config.chunk_size)
    parts = [
        draw_labels(
            chunk_rng(seed, split, i, LABEL_STREAM), min(config.chunk_size, n - start), config
        )
        for i, start in enumerate(starts)
    ]
    return np.concatenate(parts) if parts else np.empty(0, np.int8)


def draw_heights(rng: np.random.Generator, n: int, config: SimulationConfig) -> np.ndarray:
    """Truncated power law between height_min_v and height_max_v, by inverting its CDF."""
    a, lo, hi = config.height_alpha, config.height_min_v, config.height_max_v
    u = rng.random(n)
    return lo * (1.0 - u * (1.0 - (lo / hi) ** a)) ** (-1.0 / a)


def pulse_shapes(labels: np.ndarray, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """Per-event Pröbst parameters (n, 5): the class template with jittered time constants."""
    nominal = np.array([[s.a_n, s.a_t, s.tau_n, s.tau_in, s.tau_t] for s in (SHAPES[0], SHAPES[1])])
    params = nominal[labels.astype(np.intp)]
    params[:, 2:] *= np.exp(jitter * rng.standard_normal((len(labels), 3)))
    return params


def unit_pulses(params: np.ndarray, onset_ms: np.ndarray, times_ms: np.ndarray) -> np.ndarray:
    """Unit-height pulses float32 (n, L) for per-event parameters (n, 5) and onsets (n,).

    Evaluated in float32 (exp is the hot spot) and only from the earliest onset on.
    """
    n, length = len(onset_ms), len(times_ms)
    out = np.zeros((n, length), dtype=np.float32)
    if n == 0:
        return out
    first = max(0, int(np.searchsorted(times_ms, onset_ms.min())) - 1)
    cols = [params[:, i : i + 1].astype(np.float32) for i in range(5)]
    dt = times_ms[None, first:].astype(np.float32) - onset_ms[:, None].astype(np.float32)
    out[:, first:] = probst_pulse(dt, *cols)
    out /= peak_value(*(params[:, i : i + 1] for i in range(5))).astype(np.float32)
    return out


def saturate(signal: np.ndarray, saturation_v: float) -> np.ndarray:
    """The TES response S tanh(x / S), a logistic compression towards S; in place, (n, L).

    Rows whose pulses stay below 2% of S are left as they are: there tanh(x) differs from x
    by less than a microvolt, far below one ADC count.
    """
    rows = np.flatnonzero(np.abs(signal).max(axis=1) > 0.02 * saturation_v)
    signal[rows] = saturation_v * np.tanh(signal[rows] / saturation_v)
    return signal


def colored_noise(rng: np.random.Generator, n: int, detector: Detector) -> np.ndarray:
    """Stationary noise (n, L) with the detector's spectrum: white Gaussian noise filtered by FFT."""
    white = rng.standard_normal((n, detector.record_length))
    # Scale so that the noise has PSD S(f): white noise of unit variance has PSD 2 / f_s.
    gain = np.sqrt(detector.noise_psd() * detector.sampling_rate_hz / 2.0)
    return np.fft.irfft(np.fft.rfft(white, axis=1) * gain, n=detector.record_length, axis=1)


def baseline_drifts(rng: np.random.Generator, n: int, config: SimulationConfig) -> np.ndarray:
    """Offset plus a slow linear and quadratic drift, shape (n, L)."""
    x = np.linspace(-0.5, 0.5, config.detector.record_length)
    offset = rng.uniform(-config.baseline_offset_v, config.baseline_offset_v, (n, 1))
    slope = config.drift_rms_v * rng.standard_normal((n, 1))
    curvature = config.drift_curvature_rms_v * rng.standard_normal((n, 1))
    return offset + slope * x + curvature * (4.0 * x**2 - 1.0 / 3.0)


def add_artifacts(rng, signal, noise, artifact, config: SimulationConfig, times_ms) -> None:
    """Adds pile-up pulses to ``signal`` and flux jumps and spikes to ``noise``, in place."""
    n, length = signal.shape
    pile = np.flatnonzero(artifact == ARTIFACT_CODES["pileup"])
    if len(pile):
        labels = (rng.random(len(pile)) < 0.5).astype(np.int8)
        onsets = rng.uniform(times_ms[0], times_ms[-1], len(pile))
        params = pulse_shapes(labels, rng, config.tau_jitter)
        signal[pile] += draw_heights(rng, len(pile), config)[:, None] * unit_pulses(
            params, onsets, times_ms
        )
    jump = np.flatnonzero(artifact == ARTIFACT_CODES["flux_jump"])
    if len(jump):
        at = rng.integers(config.detector.trigger_index, length, len(jump))
        sign = rng.choice([-1.0, 1.0], len(jump))
        noise[jump] += (
            sign[:, None] * config.flux_jump_v * (np.arange(length)[None, :] >= at[:, None])
        )
    spike = np.flatnonzero(artifact == ARTIFACT_CODES["spike"])
    if len(spike):
        at = rng.integers(0, length - 3, len(spike))
        width = rng.integers(1, 4, len(spike))
        height = rng.uniform(-1.0, 1.0, len(spike)) * config.spike_max_v
        k = np.arange(length)[None, :] - at[:, None]
        noise[spike] += height[:, None] * ((k >= 0) & (k < width[:, None]))


def simulate_chunk(
    seed: int, split: str, chunk_index: int, n: int, config: SimulationConfig
) -> SimulatedEvents:
    """The first ``n`` (at most chunk_size) events of one chunk."""
    det = config.detector
    rng = chunk_rng(seed, split, chunk_index, RECORD_STREAM)
    times = det.times_ms()
    label = draw_labels(chunk_rng(seed, split, chunk_index, LABEL_STREAM), n, config)
    height = draw_heights(rng, n, config)
    trigger_ms = det.trigger_index * 1000.0 / det.sampling_rate_hz
    onset = trigger_ms + rng.uniform(-config.onset_jitter_ms, config.onset_jitter_ms, n)
    params = pulse_shapes(label, rng, config.tau_jitter)
    signal = height.astype(np.float32)[:, None] * unit_pulses(params, onset, times)  # (n, L) volts
    cuts = np.cumsum([getattr(config, f"{kind}_fraction") for kind in _ARTIFACT_KINDS])
    codes = [ARTIFACT_CODES[kind] for kind in (*_ARTIFACT_KINDS, "none")]  # one per cut, then none
    kinds = np.array(codes, dtype=np.int8)
    artifact = kinds[np.searchsorted(cuts, rng.random(n), side="right")]
    noise = colored_noise(rng, n, det) + baseline_drifts(rng, n, config)
    add_artifacts(rng, signal, noise, artifact, config, times)
    volts = noise
    volts += saturate(signal, det.saturation_v)
    counts = np.clip(np.rint(volts / det.volts_per_count), -(2**15), 2**15 - 1).astype(np.int16)
    return SimulatedEvents(counts, label, height, onset, artifact)


def iterate_events(
    n: int, *, seed: int, split: str, config: SimulationConfig, batch_size: int | None = None
) -> Iterator[SimulatedEvents]:
    """Yields the ``n`` events of a split in batches; the events do not depend on ``batch_size``."""
    batch_size = batch_size or config.chunk_size
    pending: list[SimulatedEvents] = []
    n_pending = 0
    for chunk_index, start in enumerate(range(0, n, config.chunk_size)):
        pending.append(
            simulate_chunk(seed, split, chunk_index, min(config.chunk_size, n - start), config)
        )
        n_pending += len(pending[-1].label)
        while n_pending >= batch_size or (n_pending and start + config.chunk_size >= n):
            merged = SimulatedEvents(
                *(np.concatenate(parts) for parts in zip(*pending, strict=True))
            )
            take = min(batch_size, n_pending)
            yield SimulatedEvents(*(a[:take] for a in merged))
            rest = SimulatedEvents(*(a[take:] for a in merged))
            pending, n_pending = ([rest] if len(rest.label) else []), n_pending - take


def simulate(
    n: int, *, seed: int, split: str = "train", config: SimulationConfig | None = None
) -> SimulatedEvents:
    """All ``n`` events of a split in memory (for small samples; large ones use iterate_events)."""
    config = config or SimulationConfig()
    parts = list(iterate_events(n, seed=seed, split=split, config=config, batch_size=max(n, 1)))
    if not parts:
        length = config.detector.record_length
        empty = np.empty(0)
        return SimulatedEvents(
            np.empty((0, length), np.int16),
            np.empty(0, np.int8),
            empty,
            empty,
            np.empty(0, np.int8),
        )
    return parts[0]
