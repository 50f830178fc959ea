"""The organizers' detector: drawn from the challenge's secret within published priors, kept private.

The public simulator (``challenge.simulate``) keeps its defaults, so teams can simulate training
data of their own. The records of a generated challenge come instead from a detector that
differs from those defaults as a real run does (arXiv:2211.00564; cait's augmentation): noise
that changes from record to record, a read-out filter, a continuum of pulse shapes, drifts over
the run, tails of earlier pulses, pile-up, its own saturation curve, a trigger's onsets. The data
card names each effect and its prior (``PRIORS``); the drawn values go to ``private/detector.json``
(owner-only), like the answer key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from challenge.detector import PulseShape
from challenge.secret import Secret, open_private
from challenge.simulate import SHAPE_PARAMETERS, SimulationConfig

DETECTOR_STREAM = 6  # the secret's stream of the detector (challenge.package uses 2 to 5)
DETECTOR_FILE = "detector.json"
DRIFT_KNOTS = 9  # drift values over the run: a random walk, linear in between


@dataclass(frozen=True)
class Prior:
    """The range one effect of the organizers' detector is drawn from (uniform, or log-uniform)."""

    key: str
    effect: str  # what the data card says
    low: float
    high: float
    unit: str = ""
    log: bool = False

    def draw(self, rng: np.random.Generator, size: int | None = None):
        if self.log:
            return np.exp(rng.uniform(np.log(self.low), np.log(self.high), size))
        return rng.uniform(self.low, self.high, size)

    def range_text(self) -> str:
        law = "log-uniform" if self.log else "uniform"
        return f"{law} in [{self.low:g}, {self.high:g}]{' ' + self.unit if self.unit else ''}"


# The priors, in the order of the draws (the order is part of what a secret means).
PRIORS = (
    Prior("white_rms_v", "white noise, per-sample RMS", 0.004, 0.0065, "V", log=True),
    Prior("corner_hz", "1/f noise: corner frequency", 40.0, 160.0, "Hz", log=True),
    Prior("beta", "1/f noise: exponent", 1.3, 2.0),
    Prior(
        "mains_scale",
        "mains lines (50, 150, 250 Hz): amplitude x the simulator's",
        0.3,
        3.0,
        log=True,
    ),
    Prior("noise_level_spread", "noise level from record to record: log-normal sigma", 0.1, 0.35),
    Prior("noise_beta_spread", "1/f exponent from record to record: normal sigma", 0.1, 0.3),
    Prior(
        "lowpass_hz", "read-out low-pass filter (one pole): corner", 1500.0, 6000.0, "Hz", log=True
    ),
    Prior(
        "template_shift",
        "each class's time constants (log) and A_t/A_n (logit): shift from the simulator's templates",
        -0.2,
        0.2,
    ),
    Prior("tau_jitter", "per-event jitter of the time constants: log-normal sigma", 0.02, 0.05),
    Prior(
        "position_response",
        "pulse-shape continuum: change of the log of each time constant "
        "and of the logit of A_t/A_n across the hidden position, per class",
        -0.8,
        0.8,
    ),
    Prior(
        "absorber_mixing_fraction",
        "energy sharing: fraction of absorber events (the highest positions, "
        "nearest the carrier) that carry part of a carrier pulse",
        0.3,
        0.5,
    ),
    Prior(
        "absorber_mixing_max",
        "energy sharing: largest carrier share of an absorber pulse",
        0.7,
        0.9,
    ),
    Prior(
        "carrier_mixing_fraction",
        "energy sharing: fraction of carrier events (the highest "
        "positions) that carry part of an absorber pulse",
        0.0,
        0.1,
    ),
    Prior(
        "carrier_mixing_max", "energy sharing: largest absorber share of a carrier pulse", 0.1, 0.3
    ),
    Prior("gain_drift", "gain drift over the run: RMS of the log gain", 0.02, 0.08),
    Prior(
        "operating_point_response",
        "operating-point drift over the run: change of the log "
        "of each time constant and of the logit of A_t/A_n per unit drift, per class",
        -0.15,
        0.15,
    ),
    Prior("saturation_v", "TES saturation: level", 1.5, 5.0, "V", log=True),
    Prior("saturation_sharpness", "TES saturation: sharpness p of S tanh(|x/S|^p)^(1/p)", 0.8, 2.5),
    Prior("onset_jitter_ms", "onsets: uniform within the trigger +- this", 1.0, 3.0, "ms"),
    Prior("time_walk_ms", "onsets: trigger time walk of small pulses", 0.5, 2.0, "ms"),
    Prior("trigger_threshold_v", "onsets: trigger threshold of the time walk", 0.003, 0.008, "V"),
    Prior("pileup_fraction", "pile-up: fraction of records", 0.01, 0.05),
    Prior("pileup_extra_mean", "pile-up: mean number of further pulses beyond the first", 0.0, 0.5),
    Prior(
        "tail_fraction",
        "decaying baselines: fraction of records on the tail of an earlier "
        "pulse (up to 300 ms before)",
        0.05,
        0.2,
    ),
    Prior("flux_jump_fraction", "SQUID flux jumps: fraction of records", 0.002, 0.01),
    Prior("spike_fraction", "electronic spikes: fraction of records", 0.005, 0.02),
)
_BY_KEY = {prior.key: prior for prior in PRIORS}


def draw_detector(secret: Secret, base: SimulationConfig) -> SimulationConfig:
    """The organizers' detector of a challenge: ``base`` (the public simulator's settings, with
    the organizer's options) with every effect of PRIORS drawn from the secret."""
    rng = secret.rng(DETECTOR_STREAM)
    value = {prior.key: _draw(prior, rng) for prior in PRIORS}
    det = base.detector
    noise = replace(
        det.noise,
        white_rms_v=value["white_rms_v"],
        corner_hz=value["corner_hz"],
        beta=value["beta"],
        mains_rms_v=tuple(r * value["mains_scale"] for r in det.noise.mains_rms_v),
    )
    detector = replace(
        det,
        noise=noise,
        lowpass_hz=value["lowpass_hz"],
        saturation_v=value["saturation_v"],
        saturation_sharpness=value["saturation_sharpness"],
    )
    gain = value["gain_drift"] * _random_walk(rng)
    return replace(
        base,
        detector=detector,
        shapes=tuple(
            _shifted(s, shift)
            for s, shift in zip(base.shapes, value["template_shift"], strict=True)
        ),
        tau_jitter=value["tau_jitter"],
        position_response=_rows(value["position_response"]),
        mixing_fraction=(value["absorber_mixing_fraction"], value["carrier_mixing_fraction"]),
        mixing_max=(value["absorber_mixing_max"], value["carrier_mixing_max"]),
        gain_drift=tuple(gain.round(6)),
        operating_point_drift=tuple(_random_walk(rng).round(6)),
        operating_point_response=_rows(value["operating_point_response"]),
        noise_level_spread=value["noise_level_spread"],
        noise_beta_spread=value["noise_beta_spread"],
        onset_jitter_ms=value["onset_jitter_ms"],
        time_walk_ms=value["time_walk_ms"],
        trigger_threshold_v=value["trigger_threshold_v"],
        pileup_fraction=value["pileup_fraction"],
        pileup_extra_mean=value["pileup_extra_mean"],
        tail_fraction=value["tail_fraction"],
        flux_jump_fraction=value["flux_jump_fraction"],
        spike_fraction=value["spike_fraction"],
    )


# Priors drawn once per class and shape parameter, or per class and template constant.
_PER_CLASS = {"position_response": len(SHAPE_PARAMETERS),
              "operating_point_response": len(SHAPE_PARAMETERS), "template_shift": 4}  # fmt: skip


def _draw(prior: Prior, rng: np.random.Generator):
    if prior.key in _PER_CLASS:
        return prior.draw(rng, (2, _PER_CLASS[prior.key]))
    return float(prior.draw(rng))


def _rows(values: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(round(float(v), 6) for v in row) for row in values)


def _shifted(shape: PulseShape, log_shift: np.ndarray) -> PulseShape:
    """``shape`` with its time constants moved by exp(log_shift[:3]) and the logit of its ratio
    A_t / A_n by log_shift[3]."""
    factor = np.exp(log_shift)
    ratio = shape.a_t / shape.a_n  # moved on the logit scale, as the simulator does
    ratio = 1.0 / (1.0 + (1.0 - ratio) / ratio / float(factor[3]))
    return replace(
        shape,
        a_t=round(shape.a_n * ratio, 6),
        tau_n=round(shape.tau_n * float(factor[0]), 6),
        tau_in=round(shape.tau_in * float(factor[1]), 6),
        tau_t=round(shape.tau_t * float(factor[2]), 6),
    )


def _random_walk(rng: np.random.Generator) -> np.ndarray:
    """DRIFT_KNOTS values of a random walk over the run, centred and scaled to RMS 1."""
    walk = np.cumsum(rng.standard_normal(DRIFT_KNOTS))
    walk -= walk.mean()
    return walk / np.sqrt(np.mean(walk**2))


def describe_priors() -> str:
    """Markdown rows | effect | prior | of the organizers' detector, for the data card."""
    return "\n".join(f"| {p.effect} | {p.range_text()} |" for p in PRIORS)


def write_detector(config: SimulationConfig, private_dir: Path) -> Path:
    """The drawn detector as JSON in ``private_dir/DETECTOR_FILE``, owner-only (0600)."""
    path = Path(private_dir) / DETECTOR_FILE
    with open_private(path, encoding="utf-8") as handle:
        json.dump(config.to_dict(), handle, indent=2)
        handle.write("\n")
    return path


def read_detector(path: Path) -> SimulationConfig:
    """The organizers' detector that ``write_detector`` stored."""
    return SimulationConfig.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def prior(key: str) -> Prior:
    """The prior of one effect, by its key."""
    return _BY_KEY[key]
