"""Makes a simulated challenge: records of the organizers' hidden detector, packaged by ``challenge.package``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from challenge import data
from challenge.hidden_detector import describe_priors, draw_detector, write_detector
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
# (0.0022 to 0.0026 apart on demo); 10,000 test events resolved only 0.0028. The demo's
# 10,000 training records are what a network needs to learn the organizers' detector: with
# 2,000 (1,600 after the validation split) the shipped cnn stayed below the physics reference.
PRESETS = {"demo": (10000, 2000), "full": (10000, 20000), "course": (2000, 1000)}
# The public simulator's settings that a preset changes. `course` is a small, easier challenge
# for a class: pulses from 12 mV (well above the noise) to 1 V and small baseline offsets, as
# in the course's real data, on which the course's starter network reached about 94%.
PRESET_SETTINGS: dict[str, dict[str, float]] = {
    "course": {"height_min_v": 0.012, "height_max_v": 1.0, "baseline_offset_v": 0.02},
}
# The organizer's options of the simulation (not hidden): generate's keyword arguments.
ORGANIZER_OPTIONS = ("carrier_fraction", "carrier_height_alpha", "carrier_height_min_v",
                     "label_noise")  # fmt: skip


def simulation_config(
    record_length: int | None = None, *, preset: str = "demo", **options: float | None
) -> SimulationConfig:
    """The public simulator's settings for a challenge: the preset's, the record length and the
    organizer's ``options`` (ORGANIZER_OPTIONS; None keeps the default)."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    unknown = sorted(set(options) - set(ORGANIZER_OPTIONS))
    if unknown:
        raise ValueError(f"unknown simulation options {unknown}; expected {ORGANIZER_OPTIONS}")
    chosen = {k: v for k, v in options.items() if v is not None}
    _check_options(chosen)
    config = replace(SimulationConfig(), **PRESET_SETTINGS.get(preset, {}), **chosen)
    if record_length is not None:
        if record_length < 64:
            raise ValueError(f"record_length must be at least 64 samples; got {record_length}")
        config = replace(
            config, detector=replace(config.detector, record_length=int(record_length))
        )
    return config


def _check_options(options: dict[str, float]) -> None:
    fraction = options.get("carrier_fraction")
    if fraction is not None and not 0.0 < fraction < 1.0:
        raise ValueError(f"carrier_fraction must be between 0 and 1; got {fraction}")
    noise = options.get("label_noise")
    if noise is not None and not 0.0 <= noise < 0.5:
        raise ValueError(f"label_noise must be in [0, 0.5); got {noise}")
    alpha = options.get("carrier_height_alpha")
    if alpha is not None and not alpha > 0.0:
        raise ValueError(f"carrier_height_alpha must be positive; got {alpha}")
    low = options.get("carrier_height_min_v")
    if low is not None and not 0.0 < low < SimulationConfig().height_max_v:
        raise ValueError(
            f"carrier_height_min_v must be between 0 and {SimulationConfig().height_max_v} V; "
            f"got {low}"
        )


def record_format(config: SimulationConfig) -> RecordFormat:
    """The record format of a simulation with ``config``, whose detector and settings it names.

    A generated challenge passes the public simulator's settings here, never the organizers'
    detector: the files name the nominal detector that teams can simulate themselves.
    """
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


def simulated_records(
    n: int, *, split: str, secret: Secret, config: SimulationConfig, workers: int = 1
) -> Records:
    """The simulator's ``n`` records of a split, drawn from the secret, with their truth;
    ``workers`` processes simulate its chunks (the records do not depend on it)."""
    batches = (
        RecordBatch(ev.counts, ev.label, {"pulse_height": ev.pulse_height, "onset": ev.onset})
        for ev in iterate_events(
            n, seed=secret.entropy, split=split, config=config, batch_size=data.WRITE_BATCH,
            workers=workers,
        )
    )  # fmt: skip
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
    workers: int = 1,
    progress: bool = True,
    **options: float | None,
) -> dict[str, Path]:
    """Simulates and writes a challenge under ``out_dir``; returns the written paths by name.

    Without ``seed`` a fresh 128-bit secret is drawn and kept in ``out_dir/private/``; a seed
    makes practice data that anyone can recompute (a warning says so). ``metric`` names the
    leaderboard's score type (``challenge.metrics.score_type``), recorded in private/metric.json.
    ``submissions="models"`` keeps test.root in ``out_dir/private/`` (``package_challenge``).
    A folder that holds a challenge is refused unless ``force``; the files appear in ``out_dir``
    only once all are written (``challenge.staging.write_challenge``). ``workers`` processes
    simulate the records and score the references; the files do not depend on their number. ``options`` are the
    organizer's settings of the simulation (ORGANIZER_OPTIONS, e.g. ``carrier_fraction=0.1``).
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1; got {workers}")
    n_train = PRESETS[preset][0] if n_train is None else int(n_train)
    n_test = PRESETS[preset][1] if n_test is None else int(n_test)
    scored_by = score_type(metric)  # refuses an unknown name before any simulation
    public = simulation_config(record_length, preset=preset, **options)
    secret = Secret.fresh() if seed is None else Secret.from_seed(seed)
    hidden = draw_detector(secret, public)

    def make(folder: Path) -> dict[str, Path]:
        paths = package_challenge(
            simulated_records(
                n_train, split="train", secret=secret, config=hidden, workers=workers
            ),
            simulated_records(
                n_test, split="test", secret=secret, config=hidden, workers=workers
            ),  # fmt: skip
            folder,
            fmt=record_format(public),
            secret=secret,
            title="Data card: simulated CRESST-type detector pulses",
            description=describe_simulation(public),
            metric=scored_by,
            simulated_training_data=simulated_training_data,
            submissions=submissions,
            oracle=oracle_reference(hidden),
            workers=workers,
            progress=progress,
        )
        paths["detector"] = write_detector(hidden, folder / "private")
        return paths

    return write_challenge(out_dir, make, force=force)


def organizers_detector(
    secret: Secret, record_length: int | None = None, *, preset: str = "demo", **options
) -> SimulationConfig:
    """The detector that ``generate_challenge`` simulates for ``secret`` (organizers only)."""
    return draw_detector(secret, simulation_config(record_length, preset=preset, **options))


def _heights_text(config: SimulationConfig) -> str:
    absorber = f"dN/dh ~ h^-{1 + config.height_alpha:g} from {config.height_min_v * 1000:g} mV to {config.height_max_v:g} V"
    if config.carrier_height_alpha is None and config.carrier_height_min_v is None:
        return (f"the same falling height spectrum for both classes, a power law {absorber}, "
                "so the height alone does not tell them apart (near the low end the pulses sink "
                "into the noise and the classes become ambiguous)")  # fmt: skip
    alpha = config.carrier_height_alpha or config.height_alpha
    low = config.carrier_height_min_v or config.height_min_v
    return (f"falling height spectra, power laws: absorbers {absorber}; carriers, as the "
            f"organizers set them, dN/dh ~ h^-{1 + alpha:g} from {low * 1000:g} mV")  # fmt: skip


def _organizer_text(config: SimulationConfig) -> str:
    """The organizer's choices that the card states: carrier fraction, label noise."""
    lines = [f"Carriers make {config.carrier_fraction:.0%} of the events, as the organizers set."]
    if config.label_noise:
        lines.append(f"{config.label_noise:.0%} of the training labels are flipped at random "
                     "(label noise); the test set is scored with the true labels.")  # fmt: skip
    return "\n".join(lines) + "\n"


def describe_simulation(config: SimulationConfig) -> str:
    """The data card's "What the data are" for records of the organizers' detector; ``config``
    is the public simulator's (the metadata's ``detector`` and ``simulation``)."""
    det = config.detector
    duration_ms = det.record_length / det.sampling_rate_hz * 1000
    return f"""Generator version {GENERATOR_VERSION}; the simulator is `challenge/simulate.py`.
Each record is the voltage of a transition-edge sensor (TES) read out by a SQUID:
{det.record_length} samples at {det.sampling_rate_hz:g} Hz ({duration_ms:.1f} ms), triggered at sample
{det.trigger_index} (the first quarter of the record is the pre-trigger baseline). Two classes:

- label 0, **absorber**: energy deposited in the main absorber crystal (slower rise and decay);
- label 1, **carrier**: energy deposited in the small carrier crystal of the TES (faster pulses).

The records come from the organizers' detector: the public simulator with the effects of a real
run switched on, each drawn once for this challenge from the secret, within the priors below.
The drawn values stay with the organizers. The files' metadata (`detector`, `simulation`) hold
the public simulator's defaults, the nominal detector that you can simulate yourself; the
organizers' detector differs from them. Learn templates and noise from train.root, as
physicists do with a real detector.

Nominal (the public simulator's settings, the files' `simulation`): pulse shapes of Pröbst et al., NIM A 370 (1995) 329, with
{config.tau_jitter:.0%} jitter of the time constants; {_heights_text(config)}; stationary noise with the shape of
cait's artificial spectra (white, 1/f below a corner, mains lines), baseline offsets (within
±{config.baseline_offset_v * 1000:g} mV) and slow drifts; TES saturation; artifacts (pile-up, SQUID flux jumps, spikes,
tails of earlier pulses) that keep the label of their physical class. Heights are in volts
before saturation (train.root's `pulse_height`).
{_organizer_text(config)}
The organizers' detector (each effect and its prior; a per-class entry is drawn for each class
and each of the time constants tau_n, tau_in, tau_t and the ratio A_t/A_n):

| effect | prior |
|---|---|
{describe_priors()}

Each record has a hidden position (uniform) that moves its pulse shape along its class's
continuum, and a hidden time in the run, at which the gain and the operating point (which moves
the shape, differently per class) have drifted; the record order in the files is random.
"""
