"""Tests of the simulator: determinism, chunking, class balance, spectra, saturation, artifacts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from challenge.detector import Detector
from challenge.matched_filter import pulse_height_estimate
from challenge.metrics import roc_auc_score
from challenge.simulate import (
    ARTIFACT_CODES,
    SimulationConfig,
    colored_noise,
    iterate_events,
    simulate,
    simulated_labels,
)

SMALL = SimulationConfig(detector=Detector(record_length=512), chunk_size=64)


def test_same_seed_same_events_other_seed_other_events():
    a = simulate(150, seed=3, config=SMALL)
    b = simulate(150, seed=3, config=SMALL)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(simulate(150, seed=4, config=SMALL).counts, a.counts)
    assert not np.array_equal(simulate(150, seed=3, split="test", config=SMALL).counts, a.counts)


@pytest.mark.parametrize("batch_size", [1, 7, 64, 100, 1000])
def test_events_do_not_depend_on_the_batch_size(batch_size):
    whole = simulate(150, seed=5, config=SMALL)
    batches = list(iterate_events(150, seed=5, split="train", config=SMALL, batch_size=batch_size))
    assert all(len(b.label) == batch_size for b in batches[:-1])
    for name, column in zip(whole._fields, zip(*batches, strict=True), strict=True):
        np.testing.assert_array_equal(np.concatenate(column), getattr(whole, name))


def test_dtypes_and_shapes():
    ev = simulate(20, seed=0, config=SMALL)
    assert ev.counts.dtype == np.int16 and ev.counts.shape == (20, 512)
    assert ev.label.dtype == np.int8 and set(np.unique(ev.label)) <= {0, 1}
    assert ev.pulse_height.shape == ev.onset.shape == (20,)


def test_class_balance_and_the_same_height_spectrum_for_both_classes():
    config = replace(SMALL, detector=Detector(record_length=128), chunk_size=500)
    ev = simulate(4000, seed=11, config=config)
    assert abs(ev.label.mean() - 0.5) < 4 * 0.5 / np.sqrt(4000)
    assert (
        ev.pulse_height.min() >= config.height_min_v
        and ev.pulse_height.max() <= config.height_max_v
    )
    # Same spectrum: the truth height alone carries no information (AUC 0.5 within 4 sigma).
    assert roc_auc_score(ev.label, ev.pulse_height) == pytest.approx(0.5, abs=4 * 0.0091)
    # The power law: P(h > x) = (h_min / x)^alpha, up to the far-away truncation.
    frac = np.mean(ev.pulse_height > 4 * config.height_min_v)
    assert frac == pytest.approx(0.25**config.height_alpha, abs=0.03)


def test_measured_height_alone_does_not_separate_the_classes():
    config = replace(SMALL, detector=Detector(record_length=2048), chunk_size=400)
    ev = simulate(800, seed=2, config=config)
    X = ev.counts * config.detector.volts_per_count
    height = pulse_height_estimate(X, metadata={"detector": config.detector.to_dict()})
    assert roc_auc_score(ev.label, height) == pytest.approx(0.5, abs=0.08)


def test_noise_has_the_detector_spectrum():
    det = Detector(record_length=1024)
    noise = colored_noise(np.random.default_rng(0), 400, det)
    periodogram = (
        2 * np.abs(np.fft.rfft(noise, axis=1)) ** 2 / (det.sampling_rate_hz * det.record_length)
    )
    ratio = periodogram.mean(axis=0)[1:-1] / det.noise_psd()[1:-1]
    # Averages of 400 chi²(2)/2 variables: each bin within ~5 sigma, bands much tighter.
    assert np.all(np.abs(ratio - 1) < 0.25)
    assert ratio[:10].mean() == pytest.approx(1, abs=0.05)
    assert ratio[200:].mean() == pytest.approx(1, abs=0.02)


def test_large_pulses_saturate_logistically():
    det = Detector(record_length=1024)
    config = replace(SMALL, detector=det, height_min_v=6.0, height_max_v=8.0, pileup_fraction=0,
                     flux_jump_fraction=0, spike_fraction=0)  # fmt: skip
    ev = simulate(30, seed=0, config=config)
    X = ev.counts * det.volts_per_count
    smooth = np.apply_along_axis(np.convolve, 1, X, np.ones(5) / 5, mode="valid")
    early = det.trigger_index - 30  # before the earliest onset (trigger - 1 ms = 25 samples)
    top = smooth.max(axis=1) - X[:, :early].mean(axis=1)
    expected = det.saturation_v * np.tanh(ev.pulse_height / det.saturation_v)  # ~2.9 V, not 6-8 V
    np.testing.assert_allclose(top, expected, atol=0.25)  # noise and drift, not saturation
    assert np.median(np.abs(top - expected)) < 0.06


def test_artifact_fractions_and_labels():
    config = replace(SMALL, detector=Detector(record_length=128), chunk_size=1000,
                     pileup_fraction=0.2, flux_jump_fraction=0.1, spike_fraction=0.1)  # fmt: skip
    ev = simulate(3000, seed=4, config=config)
    counts = np.bincount(ev.artifact, minlength=4) / 3000
    np.testing.assert_allclose(counts[[1, 2, 3]], [0.2, 0.1, 0.1], atol=0.03)
    # Artifacts keep the physical label: the class balance is the same with and without them.
    with_artifact = ev.artifact != ARTIFACT_CODES["none"]
    assert abs(ev.label[with_artifact].mean() - ev.label[~with_artifact].mean()) < 0.06


def test_simulated_labels_are_those_of_the_records():
    config = SimulationConfig(detector=Detector(record_length=256), chunk_size=100)
    np.testing.assert_array_equal(
        simulated_labels(250, seed=9, split="test", config=config),
        simulate(250, seed=9, split="test", config=config).label,
    )
