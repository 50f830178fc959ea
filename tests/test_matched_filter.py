"""Tests of the matched-filter reference: exact fits of noiseless templates, chi² scale, separation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from challenge.detector import ABSORBER, CARRIER, Detector, template
from challenge.matched_filter import (
    estimate_noise_psd,
    fit_templates,
    learn_templates,
    matched_filter_score,
    nominal_templates,
    onset_shifts,
    pulse_height_estimate,
)
from challenge.metrics import roc_auc_score
from challenge.simulate import SimulationConfig, simulate

DET = Detector(record_length=1024)
META = {"detector": DET.to_dict(), "record_length": 1024}
QUIET = dict(pileup_fraction=0.0, flux_jump_fraction=0.0, spike_fraction=0.0)


@pytest.mark.parametrize("shape, other", [(ABSORBER, "carrier"), (CARRIER, "absorber")])
def test_noiseless_template_with_offset_and_slope_is_fitted_exactly(shape, other):
    t = DET.times_ms()
    onset = (DET.trigger_index + 17) * 0.04  # on a sample, inside the search window
    x = 0.3 * template(shape, t - onset) + 0.5 + 0.01 * np.linspace(-1, 1, len(t))
    fits = fit_templates(x[None, :], metadata=META)
    best = fits[shape.name]
    # Exact but for the last ~2 ms of the carrier's 136 ms tail, cut where the latest onset ends.
    assert best.amplitude[0] == pytest.approx(0.3, rel=5e-3)
    assert best.onset_ms[0] == pytest.approx(onset, abs=1e-9)
    assert best.chi2[0] < 0.02 * fits[other].chi2[0]
    assert matched_filter_score(x[None, :], metadata=META)[0] * (1 if shape is CARRIER else -1) > 0


def test_chi2_of_pure_noise_is_about_the_number_of_samples():
    # No quadratic drift: the fit's baseline is linear, so a curvature would add to the chi².
    config = SimulationConfig(
        detector=DET, height_min_v=1e-9, height_max_v=2e-9, drift_curvature_rms_v=0.0, **QUIET
    )
    ev = simulate(200, seed=0, config=config)
    fits = fit_templates(ev.counts * DET.volts_per_count, metadata=META)
    chi2 = np.column_stack([fits["absorber"].chi2, fits["carrier"].chi2])
    assert chi2.shape == (200, 2)
    # Whitened noise has unit variance in each of the L - 1 non-DC degrees of freedom, less the fit.
    assert chi2.mean() == pytest.approx(DET.record_length, rel=0.02)


def test_separates_clean_high_snr_pulses_and_recovers_their_parameters():
    config = SimulationConfig(detector=DET, height_min_v=0.3, height_max_v=1.0, **QUIET)
    ev = simulate(200, seed=1, config=config)
    X = ev.counts * DET.volts_per_count
    assert roc_auc_score(ev.label, matched_filter_score(X, metadata=META)) == 1.0
    fits = fit_templates(X, metadata=META)
    amp = np.where(ev.label == 1, fits["carrier"].amplitude, fits["absorber"].amplitude)
    onset = np.where(ev.label == 1, fits["carrier"].onset_ms, fits["absorber"].onset_ms)
    saturated = DET.saturation_v * np.tanh(ev.pulse_height / DET.saturation_v)
    # Within the few-per-cent jitter of the time constants, which the nominal templates ignore.
    assert np.median(np.abs(amp / saturated - 1)) < 0.03
    np.testing.assert_allclose(amp, saturated, rtol=0.15)
    assert np.median(np.abs(onset - ev.onset)) < 0.1


def test_low_snr_pulses_stay_ambiguous():
    config = replace(
        SimulationConfig(detector=DET, **QUIET), height_min_v=0.002, height_max_v=0.0025
    )
    ev = simulate(400, seed=2, config=config)
    auc = roc_auc_score(
        ev.label, matched_filter_score(ev.counts * DET.volts_per_count, metadata=META)
    )
    assert 0.4 < auc < 0.75


def test_rejects_bad_input():
    with pytest.raises(ValueError, match=r"shape \(n, 1024\)"):
        matched_filter_score(np.zeros((3, 100)), metadata=META)
    with pytest.raises(ValueError, match="detector"):
        matched_filter_score(np.zeros((3, 1024)), metadata={"record_length": 1024})


def test_template_and_spectrum_overrides_reproduce_the_defaults():
    ev = simulate(50, seed=3, config=SimulationConfig(detector=DET))
    X = ev.counts * DET.volts_per_count
    default = fit_templates(X, metadata=META)
    given = fit_templates(
        X,
        metadata=META,
        templates=nominal_templates(DET, onset_shifts(META)[-1]),
        noise_psd=DET.noise_psd(),
    )
    for name in ("absorber", "carrier"):
        for a, b in zip(default[name], given[name], strict=True):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="noise_psd must have shape"):
        fit_templates(X, metadata=META, noise_psd=np.ones(10))


def test_templates_and_noise_learned_from_labelled_records_match_the_detector():
    det = Detector(record_length=2048)
    meta = {"detector": det.to_dict()}
    config = SimulationConfig(detector=det, height_min_v=0.25, height_max_v=0.9, **QUIET)
    ev = simulate(300, seed=6, config=config)
    X = ev.counts * det.volts_per_count
    learned = learn_templates(X, ev.label, metadata=meta)
    nominal = nominal_templates(det, onset_shifts(meta)[-1])
    for name, tpl in learned.items():
        assert tpl.max() == pytest.approx(1.0)
        n = 750  # the 30 ms the learned template keeps
        # Best alignment with the nominal template (learned ones start LEAD_SAMPLES before 20%).
        corr = max(np.corrcoef(tpl[:n], np.roll(nominal[name], s)[:n])[0, 1] for s in range(40))
        assert corr > 0.995, name
    psd = estimate_noise_psd(X, metadata=meta)
    ratio = psd[1:] / det.noise_psd()[1:]
    assert np.median(ratio) == pytest.approx(1.0, abs=0.1)
    fits = fit_templates(X, metadata=meta, templates=learned, noise_psd=psd)
    assert roc_auc_score(ev.label, fits["absorber"].chi2 - fits["carrier"].chi2) == 1.0


def test_a_class_with_every_pulse_above_the_saturation_cut_learns_from_those():
    """A small training set whose few absorbers all lie above LEARN_MAX_QUANTILE of the heights
    (where saturation would start): their template is learned from them all the same."""
    det = Detector(record_length=2048)
    meta = {"detector": det.to_dict()}
    config = SimulationConfig(detector=det, height_min_v=0.25, height_max_v=0.9, **QUIET)
    ev = simulate(300, seed=6, config=config)
    X = ev.counts * det.volts_per_count
    height = pulse_height_estimate(X, metadata=meta)
    keep = (ev.label == 1) | (height > np.quantile(height, 0.95))
    X, y, height = X[keep], ev.label[keep], height[keep]
    assert 0 < (y == 0).sum() and height[y == 0].min() > np.quantile(height, 0.9)
    learned = learn_templates(X, y, metadata=meta)
    nominal = nominal_templates(det, onset_shifts(meta)[-1])
    n = 750
    for name, tpl in learned.items():
        corr = max(np.corrcoef(tpl[:n], np.roll(nominal[name], s)[:n])[0, 1] for s in range(40))
        assert corr > 0.99, name


def test_learning_needs_pulses_in_the_height_range():
    ev = simulate(
        20, seed=0, config=SimulationConfig(detector=DET, height_min_v=0.005, height_max_v=0.01)
    )
    with pytest.raises(ValueError, match="to learn from"):
        learn_templates(ev.counts * DET.volts_per_count, ev.label, metadata=META)


def test_pulse_height_is_the_smoothed_maximum_over_the_baseline_mean_for_every_record():
    # More records than one batch (BATCH_SIZE = 256), float32 as read from the files: the
    # estimate of each record is its own, against np.convolve's moving average.
    rng = np.random.default_rng(5)
    X = rng.normal(0.0, 0.01, (600, 1024)).astype(np.float32)
    X[:, 300:340] += rng.uniform(0.1, 1.0, (600, 1)).astype(np.float32)
    width = round(0.2 * 25)  # SMOOTHING_MS at 25 kHz
    base = int(0.9 * DET.trigger_index)  # BASELINE_FRACTION of the trigger index
    expected = [
        np.convolve(x, np.ones(width) / width, mode="valid")[base:].max() - x[:base].mean()
        for x in X.astype(float)
    ]
    np.testing.assert_allclose(pulse_height_estimate(X, metadata=META), expected, rtol=1e-9)
    assert pulse_height_estimate(X[:0], metadata=META).shape == (0,)
