"""Makes a simulated challenge: the simulator's records, packaged by ``challenge.package``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from challenge import data
from challenge.likelihood import oracle_reference
from challenge.metrics import DEFAULT_SCORE_TYPE, score_type
from challenge.package import package_challenge
from challenge.records import RecordBatch, RecordFormat, Records
from challenge.secret import Secret
from challenge.settings import DEFAULT_SUBMISSIONS, DEFAULT_TRAINING_DATA
from challenge.simulate import GENERATOR_VERSION, SimulationConfig, iterate_events
from challenge.staging import write_challenge

# (train, test) records. The full preset's 14,000 private test events resolve an AUC difference
# of 0.002 at AUC 0.976 (challenge.planning), enough to tell apart `cnn` from `mlp` and `vae`
# (0.0022 to 0.0026 apart on demo); 10,000 test events resolved only 0.0028.
PRESETS = {"demo": (2000, 2000), "full": (10000, 20000)}


def simulation_config(record_length: int | None = None) -> SimulationConfig:
    """The simulator's settings for a challenge; only the record length can be changed here."""
    config = SimulationConfig()
    if record_length is not None:
        if record_length < 64:
            raise ValueError(f"record_length must be at least 64 samples; got {record_length}")
        config = replace(
            config, detector=replace(config.detector, record_length=int(record_length))
        )
    return config


def record_format(config: SimulationConfig) -> RecordFormat:
    """The simulated detector's record format, with the detector and simulation settings."""
    det = config.detector
    simulation = config.to_dict()
    simulation.pop("detector")
    return RecordFormat(
        sampling_rate_hz=det.sampling_rate_hz,
        record_length=det.record_length,
        trigger_index=det.trigger_index,
        volts_per_count=det.volts_per_count,
        extra={
            "generator_version": GENERATOR_VERSION,
            "detector": det.to_dict(),
            "simulation": simulation,
        },
    )


def simulated_records(n: int, *, split: str, secret: Secret, config: SimulationConfig) -> Records:
    """The simulator's ``n`` records of a split, drawn from the secret, with their truth."""
    batches = (
        RecordBatch(ev.counts, ev.label, {"pulse_height": ev.pulse_height, "onset": ev.onset})
        for ev in iterate_events(
            n, seed=secret.entropy, split=split, config=config, batch_size=data.WRITE_BATCH
        )
    )
    return Records(n, batches)


def generate_challenge(
    out_dir: str | Path = "data",
    *,
    preset: str = "demo",
    seed: int | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    record_length: int | None = None,
    metric: str = DEFAULT_SCORE_TYPE,
    simulated_training_data: str = DEFAULT_TRAINING_DATA,
    submissions: str = DEFAULT_SUBMISSIONS,
    force: bool = False,
    progress: bool = True,
) -> dict[str, Path]:
    """Simulates and writes a challenge under ``out_dir``; returns the written paths by name.

    Without ``seed`` a fresh 128-bit secret is drawn and kept in ``out_dir/private/``; a seed
    makes practice data that anyone can recompute (a warning says so). ``metric`` names the
    leaderboard's score type (``challenge.metrics.score_type``), recorded in private/metric.json.
    ``submissions="models"`` keeps test.root in ``out_dir/private/`` (``package_challenge``).
    A folder that holds a challenge is refused unless ``force``; the files appear in ``out_dir``
    only once all are written (``challenge.staging.write_challenge``).
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    n_train = PRESETS[preset][0] if n_train is None else int(n_train)
    n_test = PRESETS[preset][1] if n_test is None else int(n_test)
    scored_by = score_type(metric)  # refuses an unknown name before any simulation
    config = simulation_config(record_length)
    secret = Secret.fresh() if seed is None else Secret.from_seed(seed)
    return write_challenge(
        out_dir,
        lambda folder: package_challenge(
            simulated_records(n_train, split="train", secret=secret, config=config),
            simulated_records(n_test, split="test", secret=secret, config=config),
            folder,
            fmt=record_format(config),
            secret=secret,
            title="Data card: simulated CRESST-type detector pulses",
            description=describe_simulation(config),
            metric=scored_by,
            simulated_training_data=simulated_training_data,
            submissions=submissions,
            oracle=oracle_reference(config),
            progress=progress,
        ),
        force=force,
    )


def describe_simulation(config: SimulationConfig) -> str:
    """The data card's "What the data are" for simulated records."""
    det = config.detector
    noise = det.noise
    duration_ms = det.record_length / det.sampling_rate_hz * 1000
    return f"""Generator version {GENERATOR_VERSION}; the simulator is `challenge/simulate.py`.
Each record is the voltage of a transition-edge sensor (TES) read out by a SQUID:
{det.record_length} samples at {det.sampling_rate_hz:g} Hz ({duration_ms:.1f} ms), triggered at sample
{det.trigger_index} (the first quarter of the record is the pre-trigger baseline). Two classes:

- label 0, **absorber**: energy deposited in the main absorber crystal (slower rise and decay);
- label 1, **carrier**: energy deposited in the small carrier crystal of the TES (faster pulses).

Pulse shapes follow Pröbst et al., NIM A 370 (1995) 329, with {config.tau_jitter:.0%} per-event jitter
of the time constants, and the onset within ±{config.onset_jitter_ms:g} ms of the trigger.
Both classes share the same falling height spectrum, a power law dN/dh ~ h^-{1 + config.height_alpha:g}
from {config.height_min_v * 1000:g} mV to {config.height_max_v:g} V, so the height alone does not tell them
apart. Near the low end the pulses sink into the noise and the classes become ambiguous.

Noise: stationary, with the shape of cait's artificial noise spectra: white (per-sample RMS
{noise.white_rms_v * 1000:g} mV) plus 1/f^{noise.beta:g} below {noise.corner_hz:g} Hz, and mains lines at
{", ".join(f"{h * noise.mains_hz:g}" for h in range(1, 2 * len(noise.mains_rms_v), 2))} Hz (RMS {", ".join(f"{r * 1000:g}" for r in noise.mains_rms_v)} mV);
baseline offsets and slow drifts.
The TES saturates: heights compress logistically towards {det.saturation_v:g} V.
A small fraction of records carry artifacts (pile-up {config.pileup_fraction:.1%},
SQUID flux jumps {config.flux_jump_fraction:.1%}, spikes {config.spike_fraction:.1%});
they keep the label of their physical class.
"""
