"""Makes a whole challenge: train/test ROOT files, sample submission, data card and the private answer key."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from challenge import data
from challenge.detector import Detector
from challenge.matched_filter import (
    SMOOTHING_MS,
    estimate_noise_psd,
    fit_templates,
    learn_templates,
    matched_filter_score,
    pulse_height_estimate,
)
from challenge.metrics import roc_auc_ci
from challenge.simulate import GENERATOR_VERSION, SimulationConfig, iterate_events
from challenge.submission import write_submission

PRESETS = {"demo": (2000, 2000), "full": (10000, 10000)}
PUBLIC_FRACTION = 0.3  # of the test events, scored on the public leaderboard
LEARN_RECORDS = 2000  # train records from which the data card's learned matched filter is made
ID_RANGE = 10**9  # event ids are distinct random integers below this
_ID_STREAM, _KEY_STREAM, _SAMPLE_STREAM = 2, 3, 4  # SeedSequence keys next to the splits' 0 and 1


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)))


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


def build_metadata(split: str, n: int, seed: int, config: SimulationConfig) -> dict:
    det: Detector = config.detector
    simulation = config.to_dict()
    simulation.pop("detector")
    return {
        "split": split,
        "n_events": int(n),
        "sampling_rate_hz": float(det.sampling_rate_hz),
        "record_length": int(det.record_length),
        "volts_per_count": float(det.volts_per_count),
        "trigger_index": int(det.trigger_index),
        "seed": int(seed),
        "generator_version": GENERATOR_VERSION,
        "detector": det.to_dict(),
        "simulation": simulation,
        "units": {
            "pulse": "ADC counts (int16); volts = counts * volts_per_count",
            "pulse_height": "V",
            "onset": "ms from the record start",
        },
        "label": {"0": "absorber", "1": "carrier"},
    }


def _write_split(path, split, ids, seed, config, metadata, progress, on_batch=None) -> None:
    n = len(ids)
    bar = tqdm(total=n, unit="events", desc=path.name, disable=not progress, leave=False)
    start = 0

    def batches():
        nonlocal start
        for ev in iterate_events(
            n, seed=seed, split=split, config=config, batch_size=data.WRITE_BATCH
        ):
            stop = start + len(ev.label)
            batch = {
                "event_id": ids[start:stop],
                "pulse": ev.counts,
                "label": ev.label,
                "pulse_height": ev.pulse_height,
                "onset": ev.onset,
            }
            if on_batch is not None:
                on_batch(ev)
            start = stop
            bar.update(len(ev.label))
            yield batch

    try:
        data.write_split(path, batches(), metadata=metadata, with_truth=split == "train")
    finally:
        bar.close()


def generate_challenge(
    out_dir: str | Path = "data",
    *,
    preset: str = "demo",
    seed: int = 0,
    n_train: int | None = None,
    n_test: int | None = None,
    record_length: int | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Simulates and writes a challenge under ``out_dir``; returns the written paths by name."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    n_train = PRESETS[preset][0] if n_train is None else int(n_train)
    n_test = PRESETS[preset][1] if n_test is None else int(n_test)
    if n_train < 2 or n_test < 2:
        raise ValueError(
            f"need at least 2 train and 2 test events; got n_train={n_train}, n_test={n_test}"
        )
    config = simulation_config(record_length)
    out = Path(out_dir)
    public, private = out / "public", out / "private"
    ids = (
        _rng(seed, _ID_STREAM)
        .choice(ID_RANGE, size=n_train + n_test, replace=False)
        .astype(np.int64)
    )
    train_ids, test_ids = ids[:n_train], ids[n_train:]

    paths = {"train": public / "train.root", "test": public / "test.root"}
    train_labels: list[np.ndarray] = []
    _write_split(
        paths["train"],
        "train",
        train_ids,
        seed,
        config,
        build_metadata("train", n_train, seed, config),
        progress,
        on_batch=lambda ev: train_labels.append(ev.label),
    )
    learned = learned_filter(out, build_metadata("train", n_train, seed, config))
    test_meta = build_metadata("test", n_test, seed, config)
    truth: dict[str, list] = {
        "label": [],
        "mf": [],
        "learned_mf": [],
        "height": [],
        "true_height": [],
    }

    def measure(ev):  # the reference scores, computed from the records exactly as written
        X = ev.counts * config.detector.volts_per_count
        truth["label"].append(ev.label)
        truth["mf"].append(matched_filter_score(X, metadata=test_meta))
        if isinstance(learned, tuple):
            fits = fit_templates(X, metadata=test_meta, templates=learned[0], noise_psd=learned[1])
            truth["learned_mf"].append(fits["absorber"].chi2 - fits["carrier"].chi2)
        truth["height"].append(pulse_height_estimate(X, metadata=test_meta))
        truth["true_height"].append(ev.pulse_height)

    _write_split(
        paths["test"], "test", test_ids, seed, config, test_meta, progress, on_batch=measure
    )
    test = {k: np.concatenate(v) if v else np.empty(0) for k, v in truth.items()}

    paths["answer_key"] = write_answer_key(
        private / "answer_key.csv", test_ids, test["label"], seed
    )
    score = _rng(seed, _SAMPLE_STREAM).random(n_test)  # valid but uninformative
    paths["sample_submission"] = write_submission(public / "sample_submission.csv", test_ids, score)
    references = reference_aucs(test, learned if isinstance(learned, str) else "")
    paths["datacard"] = write_datacard(
        public / "DATACARD.md",
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        config=config,
        train_labels=np.concatenate(train_labels),
        test_labels=test["label"],
        references=references,
    )
    return paths


def write_answer_key(path: Path, event_id: np.ndarray, label: np.ndarray, seed: int) -> Path:
    """event_id,label,split with about PUBLIC_FRACTION of each class in the public split."""
    rng = _rng(seed, _KEY_STREAM)
    split = np.full(len(label), "private", dtype=object)
    for cls in (0, 1):
        members = rng.permutation(np.flatnonzero(label == cls))
        split[members[: int(round(PUBLIC_FRACTION * len(members)))]] = "public"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"event_id": event_id, "label": label.astype(int), "split": split}).to_csv(
        path, index=False
    )
    return path


def learned_filter(out: Path, metadata: dict) -> tuple[dict, np.ndarray] | str:
    """Templates and noise spectrum learned from the first LEARN_RECORDS records of train.root.

    Returns (templates, noise_psd), or the reason why they cannot be learned from these data.
    """
    first = next(data.iterate("train", out, step_size=LEARN_RECORDS))
    try:
        templates = learn_templates(first.X, first.y, metadata=metadata)
    except ValueError as err:
        return str(err)
    return templates, estimate_noise_psd(first.X, metadata=metadata)


def reference_aucs(test: dict[str, np.ndarray], learned_note: str = "") -> dict:
    """ROC AUC (with 95% DeLong interval) of the reference scores against the test labels.

    A score that could not be computed maps to a string that says why.
    """
    y = test["label"]
    learned = "matched filter learned from train.root (templates and noise)"
    return {
        "matched filter (chi² absorber - chi² carrier)": roc_auc_ci(y, test["mf"]),
        learned: roc_auc_ci(y, test["learned_mf"]) if len(test["learned_mf"]) else learned_note,
        "measured pulse height (smoothed maximum)": roc_auc_ci(y, test["height"]),
        "true pulse height (simulation truth)": roc_auc_ci(y, test["true_height"]),
    }


def write_datacard(
    path: Path, *, n_train, n_test, seed, config, train_labels, test_labels, references
) -> Path:
    """The human-readable description of the data, with the measured reference AUCs."""
    det = config.detector
    train_y = train_labels
    rows = "\n".join(
        f"| {name} | {a.auc:.4f} | [{a.lo:.4f}, {a.hi:.4f}] |"
        if not isinstance(a, str)
        else f"| {name} | not computed: {a} | |"
        for name, a in references.items()
    )
    duration_ms = det.record_length / det.sampling_rate_hz * 1000
    text = f"""# Data card: simulated CRESST-type detector pulses

Generator version {GENERATOR_VERSION}, seed {seed}.
Made by `challenge generate`; the simulator is `challenge/simulate.py`.

## What the data are
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

Noise: white plus 1/f (per-sample RMS of the white part {det.noise.white_rms_v * 1000:g} mV,
1/f corner {det.noise.corner_hz:g} Hz), baseline offsets and slow drifts.
The TES saturates: heights compress logistically towards {det.saturation_v:g} V.
A small fraction of records carry artifacts (pile-up {config.pileup_fraction:.1%},
SQUID flux jumps {config.flux_jump_fraction:.1%}, spikes {config.spike_fraction:.1%});
they keep the label of their physical class.

## Files and units
- `train.root`, `test.root` (ROOT, zstd-compressed): TTree `events` with
  `event_id` (int64, random and unique; row order carries no information) and
  `pulse` (int16[{det.record_length}], ADC counts; volts = counts x {det.volts_per_count:.9g}).
  train.root also has `label` (int8), `pulse_height` (float32, V, true height before saturation)
  and `onset` (float32, ms from the record start).
  A TObjString `metadata` holds a JSON object: sampling rate, record length, volts per count,
  trigger index, seed, generator version, the detector and the simulation settings.
- `sample_submission.csv`: `event_id,score`, one row per test event; higher score = more carrier-like.
  Its scores are random, so it scores about 0.5.
- Read with `challenge.data.load("train")` (event_id, X in volts as float32, y) or with plain uproot.

## Class balance
| split | events | carrier (label 1) | absorber (label 0) |
|---|---|---|---|
| train | {n_train} | {int(np.sum(train_y))} ({np.mean(train_y):.1%}) | {int(n_train - np.sum(train_y))} |
| test | {n_test} | {int(np.sum(test_labels))} ({np.mean(test_labels):.1%}) | {int(n_test - np.sum(test_labels))} |

## Reference ROC AUC on the test set (95% DeLong interval)
| score | AUC | interval |
|---|---|---|
{rows}

The matched filter fits both known templates (free amplitude, onset and linear baseline) after
whitening with the known noise spectrum; it uses no labels (`challenge.matched_filter`).
The learned matched filter does the same with templates (medians of aligned, labelled
high pulses) and a noise spectrum (pre-trigger baselines) taken from the first
{LEARN_RECORDS} records of train.root: what a model can learn from the training data.
The measured pulse height is the maximum of the record smoothed over
{SMOOTHING_MS:g} ms, minus the pre-trigger mean. The leaderboard ranks by ROC AUC.
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
