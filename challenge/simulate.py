"""Draws labelled pulse records of the simulated detector: vectorised numpy, deterministic for a seed.

Events are made in fixed-size chunks, each with its own two random generators (labels, records)
keyed by SHA-256 of (seed, split, chunk index, part), so a record does not depend on how a caller
batches the work, and the state of one generator reveals neither the seed nor another stream.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import shared_memory
from typing import NamedTuple

import numpy as np
import scipy.fft

from challenge.detector import (
    SHAPES,
    Detector,
    PulseShape,
    filtered_probst_pulse,
    peak_value,
    probst_pulse,
)
from challenge.secret import derive_rng

# 1.1: streams keyed by SHA-256, labels drawn from a stream of their own; 1.2: CRESST-like noise
# (1/f^1.7 below 80 Hz, mains lines), heights from 1.5 mV, drifts of the noise's scale;
# 2.0: the effects of a real run (challenge.hidden_detector draws them), off by default;
# 2.1: the organizers' detector shares more energy between the crystals (its priors).
GENERATOR_VERSION = "2.1"
SPLIT_CODES = {"train": 0, "test": 1}
LABEL_STREAM, RECORD_STREAM = 0, 1  # the two random streams of each chunk
# Responses of the pulse shape, one row per class: the logs of the time constants and the logit
# of the ratio r = A_t / A_n of the components (which stays in (0, 1)).
SHAPE_PARAMETERS = ("tau_n", "tau_in", "tau_t", "a_t/a_n")
NO_RESPONSE = ((0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0))
SATURATION_FLOOR = 0.02  # rows whose pulses stay below this fraction of S skip the curve
# Records made at once from a chunk's draws (``simulate_chunk``): a few (64, L) float32 buffers
# fit the cache. Any number gives the same records; 32 to 128 ran within the noise of each other.
BLOCK_ROWS = 64


@dataclass(frozen=True)
class SimulationConfig:
    """Everything the simulator draws (heights in volts, times in ms).

    The defaults are the public simulator's: one stationary noise spectrum, two templates with
    a small jitter, no drift over the run. ``challenge.hidden_detector`` draws the organizers'
    detector, which switches on the effects of a real run below, from the challenge's secret.
    """

    detector: Detector = field(default_factory=Detector)
    shapes: tuple[PulseShape, PulseShape] = (SHAPES[0], SHAPES[1])  # templates by label
    carrier_fraction: float = 0.5
    # Pulse heights: a truncated power law dN/dh ~ h^-(1 + alpha), starting close to the noise
    # level, where the two shapes can no longer be told apart. The carrier's own spectrum, when
    # the organizer sets one (None: the same as the absorber's, so the height tells nothing).
    height_min_v: float = 0.0015  # calibrated: physics reference 0.977 on 3,000 events
    height_max_v: float = 10.0
    height_alpha: float = 0.4
    carrier_height_min_v: float | None = None
    carrier_height_alpha: float | None = None
    tau_jitter: float = 0.03  # relative spread (log-normal) of each time constant, per event
    # A continuum of shapes: a hidden position u, uniform in [-1/2, 1/2], moves the log of each
    # SHAPE_PARAMETERS by position_response[label] * u (e.g. the distance to the sensor).
    position_response: tuple[tuple[float, ...], tuple[float, ...]] = NO_RESPONSE
    # Energy shared with the other crystal: events of a class whose position lies in the highest
    # mixing_fraction[label] of the range carry up to mixing_max[label] of the other class's
    # pulse shape (rising linearly along the position): a continuum towards the other class.
    mixing_fraction: tuple[float, float] = (0.0, 0.0)
    mixing_max: tuple[float, float] = (0.0, 0.0)
    # Drifts over the run: each record has a run time, uniform in [0, 1); the log gain and the
    # operating point follow these values at evenly spaced times (linear in between; empty: no
    # drift); the operating point moves the log shape by operating_point_response[label] * op.
    gain_drift: tuple[float, ...] = ()
    operating_point_drift: tuple[float, ...] = ()
    operating_point_response: tuple[tuple[float, ...], tuple[float, ...]] = NO_RESPONSE
    # Noise that changes from record to record: a log-normal level, a normal 1/f exponent.
    noise_level_spread: float = 0.0
    noise_beta_spread: float = 0.0
    # Onsets: uniform in trigger +- onset_jitter_ms, and earlier by the trigger's time walk,
    # time_walk_ms x min(1, trigger_threshold_v / height): small pulses cross the threshold late.
    onset_jitter_ms: float = 1.0
    time_walk_ms: float = 0.0
    trigger_threshold_v: float = 0.005
    baseline_offset_v: float = 0.5  # offsets uniform in +- this
    # Drifts of the scale of the noise, as in cait's augmentation (offset, linear, quadratic and
    # cubic drifts each N(0, resolution)); the offsets here are larger, and drop out of any filter.
    drift_rms_v: float = 0.005  # linear drift over the record, end minus start
    drift_curvature_rms_v: float = 0.0025  # quadratic part of the drift
    # Artifacts, one kind per record at most. Pile-up: 1 + Poisson(pileup_extra_mean) further
    # pulses (of either class) anywhere in the record. A tail: the record sits on the decaying
    # tail of a pulse up to tail_window_ms before its start, from tail_height_min_v up.
    pileup_fraction: float = 0.015
    pileup_extra_mean: float = 0.0
    flux_jump_fraction: float = 0.005  # the SQUID loses a flux quantum: a baseline step
    flux_jump_v: float = 0.3
    spike_fraction: float = 0.01  # an electronic spike of a few samples
    spike_max_v: float = 1.0
    tail_fraction: float = 0.0
    tail_window_ms: float = 300.0
    tail_height_min_v: float = 0.05
    label_noise: float = 0.0  # fraction of the training labels flipped (the test key stays true)
    chunk_size: int = 500  # events per random-number chunk; part of what a seed means

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SimulationConfig:
        d = dict(d)
        d["detector"] = Detector.from_dict(d["detector"])
        if "shapes" in d:
            d["shapes"] = tuple(PulseShape(**shape) for shape in d["shapes"])
        for key in ("position_response", "operating_point_response"):
            if key in d:
                d[key] = tuple(tuple(float(v) for v in row) for row in d[key])
        for key in ("gain_drift", "operating_point_drift", "mixing_fraction", "mixing_max"):
            if key in d:
                d[key] = tuple(float(v) for v in d[key])
        return cls(**d)


class SimulatedEvents(NamedTuple):
    """A batch of simulated records with their truth."""

    counts: np.ndarray  # int16 (n, L): ADC counts
    label: np.ndarray  # int8 (n,): 1 = carrier, 0 = absorber (as recorded: after label noise)
    pulse_height: np.ndarray  # float64 (n,): height of the primary pulse before saturation, volts
    onset: np.ndarray  # float64 (n,): onset of the primary pulse, ms from the record start
    artifact: np.ndarray  # int8 (n,): 0 none, 1 pile-up, 2 flux jump, 3 spike, 4 tail


ARTIFACT_CODES = {"none": 0, "pileup": 1, "flux_jump": 2, "spike": 3, "tail": 4}
_ARTIFACT_KINDS = ("pileup", "flux_jump", "spike", "tail")  # the order of their fractions


def chunk_rng(seed: int, split: str, chunk_index: int, part: int) -> np.random.Generator:
    """The generator of one part (LABEL_STREAM or RECORD_STREAM) of one chunk of a split.

    The labels have a stream of their own, so that the public records of a chunk, whose noise
    holds many outputs of the record stream, tell nothing of its labels but through the physics.
    """
    return derive_rng(seed, SPLIT_CODES[split], chunk_index, part)


def draw_labels(
    rng: np.random.Generator, n: int, config: SimulationConfig, *, split: str = "test"
) -> tuple[np.ndarray, np.ndarray]:
    """(true, recorded) classes int8 (n,), 1 = carrier, from a chunk's LABEL_STREAM.

    The recorded labels of the train split have ``label_noise`` of them flipped.
    """
    true = (rng.random(n) < config.carrier_fraction).astype(np.int8)
    flip = rng.random(n) < config.label_noise
    recorded = np.where(flip, 1 - true, true).astype(np.int8) if split == "train" else true
    return true, recorded


def simulated_labels(n: int, *, seed: int, split: str, config: SimulationConfig) -> np.ndarray:
    """The recorded labels of a split's ``n`` events without simulating their records (cheap)."""
    starts = range(0, n, config.chunk_size)
    parts = [
        draw_labels(chunk_rng(seed, split, i, LABEL_STREAM), min(config.chunk_size, n - start),
                    config, split=split)[1]
        for i, start in enumerate(starts)
    ]  # fmt: skip
    return np.concatenate(parts) if parts else np.empty(0, np.int8)


def power_law(u: np.ndarray, lo, hi, alpha) -> np.ndarray:
    """Truncated power law dN/dh ~ h^-(1 + alpha) on [lo, hi] at CDF values ``u``."""
    return lo * (1.0 - u * (1.0 - (lo / hi) ** alpha)) ** (-1.0 / alpha)


def draw_heights(
    rng: np.random.Generator, labels: np.ndarray, config: SimulationConfig
) -> np.ndarray:
    """Each event's height from its class's spectrum, by inverting the CDF, (n,)."""
    carrier = labels == 1
    lo = np.where(
        carrier, _or(config.carrier_height_min_v, config.height_min_v), config.height_min_v
    )
    alpha = np.where(carrier, _or(config.carrier_height_alpha, config.height_alpha),
                     config.height_alpha)  # fmt: skip
    return power_law(rng.random(len(labels)), lo, config.height_max_v, alpha)


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def run_curve(knots: tuple[float, ...], run_time: np.ndarray) -> np.ndarray:
    """A drift at run times in [0, 1): linear between values at evenly spaced times; 0 if none."""
    if not knots:
        return np.zeros(len(run_time))
    return np.interp(run_time, np.linspace(0.0, 1.0, len(knots)), knots)


def pulse_shapes(
    labels: np.ndarray,
    rng: np.random.Generator,
    config: SimulationConfig,
    *,
    position: np.ndarray,
    operating_point: np.ndarray,
) -> np.ndarray:
    """Per-event Pröbst parameters (n, 5): the class template, moved by the event's position
    and the run's operating point, with jittered time constants."""
    nominal = np.array([[s.a_n, s.a_t, s.tau_n, s.tau_in, s.tau_t] for s in config.shapes])
    params = nominal[labels.astype(np.intp)]
    cls = labels.astype(np.intp)
    log_move = np.asarray(config.position_response)[cls] * position[:, None]
    log_move += np.asarray(config.operating_point_response)[cls] * operating_point[:, None]
    jitter = config.tau_jitter * rng.standard_normal((len(labels), 3))
    params[:, 2:] *= np.exp(log_move[:, :3] + jitter)
    # The ratio r = A_t / A_n moves on the logit scale, which keeps it in (0, 1): A_t > A_n
    # would make the carrier's slow component negative (an undershoot).
    ratio = params[:, 1] / params[:, 0]
    logit = np.log(ratio / (1.0 - ratio)) + log_move[:, 3]
    params[:, 1] = params[:, 0] / (1.0 + np.exp(-logit))
    return params


def energy_share(labels: np.ndarray, position: np.ndarray, config: SimulationConfig) -> np.ndarray:
    """The share (n,) of each event's pulse with the other class's shape: 0, or rising linearly
    to mixing_max[label] over the highest mixing_fraction[label] of the positions."""
    fraction = np.asarray(config.mixing_fraction)[labels.astype(np.intp)]
    top = np.asarray(config.mixing_max)[labels.astype(np.intp)]
    with np.errstate(divide="ignore", invalid="ignore"):
        ramp = np.clip((position - (0.5 - fraction)) / fraction, 0.0, 1.0)
    return np.where(fraction > 0, top * ramp, 0.0)


def pulse_peaks(params: np.ndarray) -> np.ndarray:
    """The peak (n, 1) of the raw Pröbst pulse of each row of parameters (n, 5)."""
    return peak_value(*(params[:, i : i + 1] for i in range(5)))


def unit_pulses(
    params: np.ndarray,
    onset_ms: np.ndarray,
    times_ms: np.ndarray,
    lowpass_tau_ms: float | None,
    *,
    peak: np.ndarray | None = None,
) -> np.ndarray:
    """Unit-height pulses float32 (n, L) for per-event parameters (n, 5) and onsets (n,).

    Unit height is that of the pulse before the read-out filter (``lowpass_tau_ms``, None for
    none), which lowers and delays fast pulses a little. Evaluated in float32 (exp is the hot
    spot) and only from the earliest onset on. ``peak``: ``pulse_peaks(params)``, where the
    caller has it already.
    """
    n, length = len(onset_ms), len(times_ms)
    out = np.zeros((n, length), dtype=np.float32)
    if n == 0:
        return out
    first = max(0, int(np.searchsorted(times_ms, onset_ms.min())) - 1)
    cols = [params[:, i : i + 1].astype(np.float32) for i in range(5)]
    dt = times_ms[None, first:].astype(np.float32) - onset_ms[:, None].astype(np.float32)
    if lowpass_tau_ms is None:
        out[:, first:] = probst_pulse(dt, *cols)
    else:
        filtered_probst_pulse(dt, *cols, np.float32(lowpass_tau_ms), out=out[:, first:])
    out[:, first:] /= (pulse_peaks(params) if peak is None else peak).astype(np.float32)
    return out


def saturate(signal: np.ndarray, detector: Detector) -> np.ndarray:
    """The TES response (``Detector.saturate``) applied in place to ``signal`` (n, L).

    Rows whose pulses stay below SATURATION_FLOOR of S are left as they are: there the curve
    differs from x by less than a microvolt, far below one ADC count.
    """
    rows = np.flatnonzero(np.abs(signal).max(axis=1) > SATURATION_FLOOR * detector.saturation_v)
    signal[rows] = detector.saturate(signal[rows])
    return signal


class NoiseShaper:
    """Gives white Gaussian noise the detector's spectrum, record by record: an FFT filter.

    ``level`` (n,) scales each record's noise; ``beta_shift`` (n,) changes the exponent of its
    1/f part, which keeps its value at the corner frequency. None: stationary noise. Calling it
    on the white noise of rows ``rows`` of the n records filters those rows alone.
    """

    def __init__(
        self,
        detector: Detector,
        *,
        level: np.ndarray | None = None,
        beta_shift: np.ndarray | None = None,
    ):
        self.length, fs = detector.record_length, detector.sampling_rate_hz
        # Scale so that the noise has PSD S(f): white noise of unit variance has PSD 2 / f_s.
        psd = detector.noise_psd() * (fs / 2.0)
        self.level = None if level is None else level.astype(np.float32)[:, None]
        self.beta_shift = None if beta_shift is None else beta_shift.astype(np.float32)[:, None]
        if beta_shift is None:
            self.stationary = np.sqrt(psd).astype(np.float32)[None, :]
            return
        f = detector.rfft_freqs()
        noise = detector.noise
        with np.errstate(divide="ignore"):
            log_ratio = np.where(f > 0, np.log(noise.corner_hz / np.where(f > 0, f, 1.0)), 0.0)
        red = np.where(f > 0, noise.psd(f, fs) - noise._lines(f), 0.0) * (fs / 2.0)
        red *= (
            detector.lowpass_power()
            * np.exp(noise.beta * log_ratio)
            / (1.0 + np.exp(noise.beta * log_ratio))
        )
        self.log_ratio = log_ratio.astype(np.float32)
        self.red = red.astype(np.float32)
        self.rest = (psd - red).astype(np.float32)  # the white part and the mains lines

    def gain(self, rows: slice = slice(None)) -> np.ndarray:
        """The filter's gain for rows ``rows``: (rows, F), or (1, F) for stationary noise."""
        if self.beta_shift is None:
            gain = self.stationary
        else:  # per record: sqrt(rest + red * exp(shift * log_ratio)), in one buffer
            gain = self.beta_shift[rows] * self.log_ratio
            np.exp(gain, out=gain)
            gain *= self.red
            gain += self.rest
            np.sqrt(gain, out=gain)
        if self.level is not None:
            gain = gain * self.level[rows]
        return gain

    def __call__(self, white: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
        """The noise float32 (rows, L) of rows ``rows`` from their white noise (rows, L)."""
        # float32 throughout: scipy's FFT of float32 is 2.5x faster than numpy's of float64;
        # 24 bits are far finer than the ADC's 0.3 mV counts.
        spectrum = scipy.fft.rfft(white, axis=1)
        spectrum *= self.gain(rows)
        return scipy.fft.irfft(spectrum, n=self.length, axis=1)


def colored_noise(
    rng: np.random.Generator,
    n: int,
    detector: Detector,
    *,
    level: np.ndarray | None = None,
    beta_shift: np.ndarray | None = None,
) -> np.ndarray:
    """Noise (n, L) with the detector's spectrum (``NoiseShaper``) from ``rng``'s normals."""
    # float32 normals are a third faster than float64 ones
    white = rng.standard_normal((n, detector.record_length), dtype=np.float32)
    return NoiseShaper(detector, level=level, beta_shift=beta_shift)(white)


class BaselineDrifts:
    """Offset plus a slow linear and quadratic drift of each of n records, drawn from ``rng``;
    called, the drifts (rows, L) of rows ``rows``."""

    def __init__(self, rng: np.random.Generator, n: int, config: SimulationConfig):
        x = np.linspace(-0.5, 0.5, config.detector.record_length)
        offset = rng.uniform(-config.baseline_offset_v, config.baseline_offset_v, (n, 1))
        slope = config.drift_rms_v * rng.standard_normal((n, 1))
        curvature = config.drift_curvature_rms_v * rng.standard_normal((n, 1))
        self.coefficients = np.hstack([offset, slope, curvature]).astype(np.float32)
        self.basis = np.vstack([np.ones_like(x), x, 4.0 * x**2 - 1.0 / 3.0]).astype(np.float32)

    def __call__(self, rows: slice = slice(None)) -> np.ndarray:
        # One matrix product (rows, 3) @ (3, L) instead of three passes over the records.
        return self.coefficients[rows] @ self.basis


def draw_onsets(
    rng: np.random.Generator, height: np.ndarray, config: SimulationConfig
) -> np.ndarray:
    """Onsets (n,) in ms: uniform around the trigger, earlier by the time walk of small pulses.

    Window and walk are each kept within 40% of the pre-trigger time, so that short records
    still start with a baseline.
    """
    det = config.detector
    trigger_ms = det.trigger_index * 1000.0 / det.sampling_rate_hz
    jitter = min(config.onset_jitter_ms, 0.4 * trigger_ms)
    walk = min(config.time_walk_ms, 0.4 * trigger_ms)
    late = np.minimum(1.0, config.trigger_threshold_v / height)
    return trigger_ms + rng.uniform(-jitter, jitter, len(height)) - walk * late


class Artifacts:
    """The artifacts of a chunk's records, drawn from ``rng`` for their codes ``artifact`` (n,):
    pile-up pulses and earlier pulses' tails (added to the signal), flux jumps and spikes (added
    to the noise). ``add`` adds those of a block of rows."""

    def __init__(
        self, rng, artifact: np.ndarray, config: SimulationConfig, times_ms, operating_point
    ):
        length = len(times_ms)
        det = config.detector
        self.flux_jump_v, self.length = config.flux_jump_v, length
        pile = np.flatnonzero(artifact == ARTIFACT_CODES["pileup"])
        tail = np.flatnonzero(artifact == ARTIFACT_CODES["tail"])
        rows = np.concatenate(
            [np.repeat(pile, 1 + rng.poisson(config.pileup_extra_mean, len(pile))), tail]
        )
        self.pulse_rows, self.pulse_round = rows, np.zeros(len(rows), np.intp)
        self.pulses = np.zeros((0, length), np.float32)
        if len(rows):
            n_pile = len(rows) - len(tail)
            onsets = np.concatenate([rng.uniform(times_ms[0], times_ms[-1], n_pile),
                                     rng.uniform(-config.tail_window_ms, 0.0, len(tail))])  # fmt: skip
            labels = (rng.random(len(rows)) < 0.5).astype(np.int8)
            lo = np.where(
                np.arange(len(rows)) < n_pile, config.height_min_v, config.tail_height_min_v
            )
            heights = power_law(rng.random(len(rows)), lo, config.height_max_v, config.height_alpha)
            params = pulse_shapes(labels, rng, config, position=rng.random(len(rows)) - 0.5,
                                  operating_point=operating_point[rows])  # fmt: skip
            self.pulses = heights[:, None].astype(np.float32) * unit_pulses(
                params, onsets, times_ms, det.lowpass_tau_ms
            )
            # A row may get several pulses: they are added round by round (np.add.at is 10x
            # slower); rows come grouped (np.repeat, then tails), so a row's k-th has round k.
            first = np.r_[True, rows[1:] != rows[:-1]]
            self.pulse_round = np.arange(len(rows)) - np.maximum.accumulate(
                np.where(first, np.arange(len(rows)), 0)
            )
        self.jump_rows = np.flatnonzero(artifact == ARTIFACT_CODES["flux_jump"])
        if len(self.jump_rows):
            self.jump_at = rng.integers(det.trigger_index, length, len(self.jump_rows))
            self.jump_sign = rng.choice([-1.0, 1.0], len(self.jump_rows))
        self.spike_rows = np.flatnonzero(artifact == ARTIFACT_CODES["spike"])
        if len(self.spike_rows):
            self.spike_at = rng.integers(0, length - 3, len(self.spike_rows))
            self.spike_width = rng.integers(1, 4, len(self.spike_rows))
            self.spike_height = rng.uniform(-1.0, 1.0, len(self.spike_rows)) * config.spike_max_v

    def add(self, rows: slice, signal: np.ndarray, noise: np.ndarray) -> None:
        """Adds the artifacts of the chunk's rows ``rows`` (a slice with a start) to their
        ``signal`` and ``noise`` (rows, L), in place."""
        start, stop = rows.start, rows.stop
        inside = (self.pulse_rows >= start) & (self.pulse_rows < stop)
        for k in range(int(self.pulse_round.max(initial=-1)) + 1):
            take = inside & (self.pulse_round == k)
            signal[self.pulse_rows[take] - start] += self.pulses[take]
        samples = np.arange(self.length)[None, :]
        jump = (self.jump_rows >= start) & (self.jump_rows < stop)
        if jump.any():
            step = samples >= self.jump_at[jump][:, None]
            noise[self.jump_rows[jump] - start] += (
                self.jump_sign[jump][:, None] * self.flux_jump_v * step
            )
        spike = (self.spike_rows >= start) & (self.spike_rows < stop)
        if spike.any():
            k = samples - self.spike_at[spike][:, None]
            noise[self.spike_rows[spike] - start] += self.spike_height[spike][:, None] * (
                (k >= 0) & (k < self.spike_width[spike][:, None])
            )


def simulate_chunk(
    seed: int,
    split: str,
    chunk_index: int,
    n: int,
    config: SimulationConfig,
    *,
    block_rows: int = BLOCK_ROWS,
    out: np.ndarray | None = None,
) -> SimulatedEvents:
    """The first ``n`` (at most chunk_size) events of one chunk (their counts written to ``out``,
    int16 (n, L), when it is given).

    Every random number of the chunk is drawn first, in a fixed order; then the records are made
    ``block_rows`` at a time. Each step works record by record, so the blocks change no bit of
    the records, but the dozen passes over a block stay in the processor's cache: over a whole
    chunk they wait on memory, which two workers share.
    """
    det = config.detector
    rng = chunk_rng(seed, split, chunk_index, RECORD_STREAM)
    times = det.times_ms()
    label, recorded = draw_labels(
        chunk_rng(seed, split, chunk_index, LABEL_STREAM), n, config, split=split
    )
    run_time = rng.random(n)
    operating_point = run_curve(config.operating_point_drift, run_time)
    height = draw_heights(rng, label, config) * np.exp(run_curve(config.gain_drift, run_time))
    onset = draw_onsets(rng, height, config)
    position = rng.random(n) - 0.5
    params = pulse_shapes(label, rng, config, position=position, operating_point=operating_point)
    other = pulse_shapes(1 - label, rng, config, position=position,
                         operating_point=operating_point)  # fmt: skip
    share = energy_share(label, position, config)
    cuts = np.cumsum([getattr(config, f"{kind}_fraction") for kind in _ARTIFACT_KINDS])
    codes = [ARTIFACT_CODES[kind] for kind in (*_ARTIFACT_KINDS, "none")]  # one per cut, then none
    kinds = np.array(codes, dtype=np.int8)
    artifact = kinds[np.searchsorted(cuts, rng.random(n), side="right")]
    level = np.exp(config.noise_level_spread * rng.standard_normal(n))
    beta_shift = config.noise_beta_spread * rng.standard_normal(n)
    stationary = config.noise_level_spread == 0 and config.noise_beta_spread == 0
    shaper = NoiseShaper(det, level=None if stationary else level,
                         beta_shift=None if stationary else beta_shift)  # fmt: skip
    white = rng.standard_normal(dtype=np.float32, out=_buffer(n, det.record_length))
    drifts = BaselineDrifts(rng, n, config)
    artifacts = Artifacts(rng, artifact, config, times, operating_point)
    peak = pulse_peaks(params)  # once: as many bisections for 64 rows as for 500
    other_peak = np.ones((n, 1))
    other_peak[share > 0] = pulse_peaks(other[share > 0])
    counts = np.empty((n, det.record_length), np.int16) if out is None else out
    for start in range(0, n, block_rows):
        rows = slice(start, min(start + block_rows, n))
        signal = unit_pulses(params[rows], onset[rows], times, det.lowpass_tau_ms,
                             peak=peak[rows])  # (rows, L)  # fmt: skip
        mixed = np.flatnonzero(share[rows] > 0)
        if len(mixed):
            m = share[rows][mixed].astype(np.float32)[:, None]
            theirs = unit_pulses(other[rows][mixed], onset[rows][mixed], times,
                                 det.lowpass_tau_ms, peak=other_peak[rows][mixed])  # fmt: skip
            signal[mixed] = (1 - m) * signal[mixed] + m * theirs
        signal *= height[rows].astype(np.float32)[:, None]  # volts
        noise = shaper(white[rows], rows)
        noise += drifts(rows)
        artifacts.add(rows, signal, noise)
        volts = noise  # in place from here on: each pass over (rows, L) costs
        volts += saturate(signal, det)
        volts *= 1.0 / det.volts_per_count
        np.rint(volts, out=volts)
        np.clip(volts, -(2**15), 2**15 - 1, out=volts)
        counts[rows] = volts
    return SimulatedEvents(counts, recorded, height, onset, artifact)


_BUFFERS = threading.local()  # a thread's buffer for the white noise of its chunks


def _buffer(n: int, length: int) -> np.ndarray:
    """A float32 (n, L) buffer for a chunk's white noise, kept from chunk to chunk: the system
    would map and zero a new one of 32 MB, page by page, for every chunk."""
    kept = getattr(_BUFFERS, "white", None)
    if kept is None or kept.size < n * length:
        kept = _BUFFERS.white = np.empty(n * length, np.float32)
    return kept[: n * length].reshape(n, length)


def iterate_events(
    n: int,
    *,
    seed: int,
    split: str,
    config: SimulationConfig,
    batch_size: int | None = None,
    workers: int = 1,
) -> Iterator[SimulatedEvents]:
    """Yields the ``n`` events of a split in batches; the events depend neither on
    ``batch_size`` nor on ``workers``, the number of processes that simulate the chunks."""
    batch_size = batch_size or config.chunk_size
    pending: list[SimulatedEvents] = []
    n_pending = 0
    sizes = [min(config.chunk_size, n - start) for start in range(0, n, config.chunk_size)]
    for chunk_index, chunk in enumerate(_chunks(sizes, seed, split, config, workers)):
        pending.append(chunk)
        n_pending += len(chunk.label)
        last = chunk_index == len(sizes) - 1
        while n_pending >= batch_size or (n_pending and last):
            merged = SimulatedEvents(
                *(np.concatenate(parts) for parts in zip(*pending, strict=True))
            )
            take = min(batch_size, n_pending)
            yield SimulatedEvents(*(a[:take] for a in merged))
            rest = SimulatedEvents(*(a[take:] for a in merged))
            pending, n_pending = ([rest] if len(rest.label) else []), n_pending - take


def one_blas_thread():
    """Limits numpy's BLAS to one thread in this process (returned: ``with`` restores it).

    A generation process takes one core: BLAS's own threads on the small products of the
    references only fight the other processes (scoring took 1.6x longer with 2 workers).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


# glibc's mallopt parameters (malloc.h), and the values a generation process takes: blocks up to
# 32 MB (glibc's most) come from the heap, and the heap keeps up to 512 MB free for reuse.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_HEAP_BLOCKS_UP_TO, _HEAP_KEEPS_FREE = 32 << 20, 512 << 20


def keep_freed_memory() -> None:
    """Lets this process reuse the memory it frees, rather than give it back to the system and
    map fresh pages for its next chunk (Linux; elsewhere nothing changes).

    glibc keeps freed memory by thresholds that it raises only as a process frees large blocks:
    a young worker gave its chunk's buffers back each time, and took 6,400 page faults a chunk
    against 470 in a process that had run longer; the generation took 2% longer.
    """
    if sys.platform.startswith("linux"):
        mallopt = ctypes.CDLL(None).mallopt
        mallopt(_M_MMAP_THRESHOLD, _HEAP_BLOCKS_UP_TO)
        mallopt(_M_TRIM_THRESHOLD, _HEAP_KEEPS_FREE)


def process_pool(workers: int, *, initializer=None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes, started by fork where the system has it: instant, with
    no re-import of numpy and the challenge (a spawned one takes seconds on a busy machine).

    The workers ignore Ctrl-C: the parent stops them, and the user sees one message, not one
    traceback per worker. Each takes one core (``one_blas_thread``) and reuses the memory it
    frees (``keep_freed_memory``).
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                               initargs=(initializer, initargs))  # fmt: skip


def _start_worker(initializer, initargs: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    one_blas_thread()
    keep_freed_memory()
    if initializer is not None:
        initializer(*initargs)


def _chunks(
    sizes: list[int], seed: int, split: str, config: SimulationConfig, workers: int
) -> Iterator[SimulatedEvents]:
    """The chunks of a split in order, simulated here or by ``workers`` processes, which run
    at most 2 x workers chunks ahead of the consumer (bounded memory).

    A worker writes a chunk's counts into one of 2 x workers slots of shared memory and sends
    back only the truth: through the pipe, the 16 MB of counts of a chunk cost the worker more
    than a tenth of the chunk's time again, in pickling and fresh pages, and the parent its copies.
    """
    if workers <= 1 or len(sizes) <= 1:
        for index, size in enumerate(sizes):
            yield simulate_chunk(seed, split, index, size, config)
        return
    ahead_max = 2 * workers
    shape = (ahead_max, config.chunk_size, config.detector.record_length)
    memory = shared_memory.SharedMemory(create=True, size=int(np.prod(shape)) * 2)

    def received(slot: int, future) -> SimulatedEvents:
        truth = future.result()
        slots = np.ndarray(shape, np.int16, buffer=memory.buf)  # no view outlives the memory
        counts = slots[slot, : len(truth[0])].copy()  # the slot is free again
        return SimulatedEvents(counts, *truth)

    try:
        with process_pool(workers, initializer=_hold_slots, initargs=(memory, shape)) as pool:
            ahead: deque = deque()
            for index, size in enumerate(sizes):
                slot = index % ahead_max
                ahead.append((slot, pool.submit(_simulate_into_slot, slot, seed, split, index,
                                                size, config)))  # fmt: skip
                if len(ahead) >= ahead_max:
                    yield received(*ahead.popleft())
            while ahead:
                yield received(*ahead.popleft())
    finally:
        memory.close()
        memory.unlink()


_SLOTS: np.ndarray | None = None  # in a simulating process: the shared slots of the counts
_MEMORY: shared_memory.SharedMemory | None = None  # and the memory they lie in, kept open


def _hold_slots(memory: shared_memory.SharedMemory, shape: tuple[int, int, int]) -> None:
    global _SLOTS, _MEMORY
    _MEMORY = memory
    _SLOTS = np.ndarray(shape, np.int16, buffer=memory.buf)


def _simulate_into_slot(
    slot: int, seed: int, split: str, index: int, n: int, config: SimulationConfig
) -> tuple[np.ndarray, ...]:
    """Simulates a chunk into its slot; returns the rest of its events (label first)."""
    events = simulate_chunk(seed, split, index, n, config, out=_SLOTS[slot, :n])
    return tuple(events[1:])


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
