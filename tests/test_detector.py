"""Tests of the detector constants, the Pröbst pulse templates and the noise spectrum."""

from __future__ import annotations

import numpy as np
import pytest

from challenge import detector
from challenge.detector import (
    ABSORBER,
    CARRIER,
    Detector,
    NoiseSpectrum,
    filtered_probst_pulse,
    peak_time_ms,
    probst_pulse,
    template,
)


def test_the_filtered_pulse_skips_only_exponentials_that_are_zero():
    # Per-event float32 parameters of both classes on the simulator's time grid: the fast time
    # constants (tau_in, the filter's) underflow within a few hundred samples, where the
    # simulator stops evaluating them. Reference: every term over every sample, in the same order.
    tau_f = np.float32(1000.0 / (2.0 * np.pi * 3000.0))
    params = np.array([[s.a_n, s.a_t, s.tau_n, s.tau_in, s.tau_t] for s in (ABSORBER, CARRIER)])
    cols = [params[:, i : i + 1].astype(np.float32) for i in range(5)]
    a_n, a_t, tau_n, tau_in, tau_t = cols
    t = np.maximum(np.arange(16384, dtype=np.float32)[None, :] * np.float32(0.04)
                   - np.array([[0.5], [3.0]], np.float32), np.float32(0.0))  # fmt: skip
    expected = np.zeros_like(t)
    lag = 0.0
    for c, tau in ((a_n - a_t, tau_n), (-a_n, tau_in), (a_t, tau_t)):
        k = c * tau / (tau - tau_f)
        expected += k * np.exp(t / -tau)
        lag = lag + k
    expected += -lag * np.exp(t / -tau_f)
    got = filtered_probst_pulse(t, *cols, tau_f)
    assert np.count_nonzero(np.exp(t / -tau_in) == 0.0) > 10000  # most of the record is skipped
    np.testing.assert_array_equal(got, expected)


def test_readout_constants():
    assert detector.SAMPLING_RATE_HZ == 25_000
    assert detector.RECORD_LENGTH == 16_384
    assert detector.trigger_index(16_384) == 4096
    det = Detector()
    assert det.trigger_index == 4096
    assert det.volts_per_count == 20.0 / 65536
    assert det.times_ms()[1] == pytest.approx(0.04)


def test_template_parameters_from_the_issue():
    assert (ABSORBER.a_n, ABSORBER.a_t, ABSORBER.tau_n, ABSORBER.tau_in, ABSORBER.tau_t) == (
        4.0, 0.02, 4.15, 2.1, 53.06,
    )  # fmt: skip
    assert (CARRIER.a_n, CARRIER.a_t, CARRIER.tau_n, CARRIER.tau_in, CARRIER.tau_t) == (
        1.73, 1.65, 136.0, 0.38, 2.13,
    )  # fmt: skip


# p(t) = A_n (e^{-t/tau_n} - e^{-t/tau_in}) + A_t (e^{-t/tau_t} - e^{-t/tau_n}), worked out with a
# calculator, e.g. absorber at 1 ms: 4 (0.785862 - 0.621145) + 0.02 (0.981330 - 0.785862) = 0.662809.
@pytest.mark.parametrize(
    "shape, t, expected",
    [
        (ABSORBER, 0.5, 0.395544479),
        (ABSORBER, 1.0, 0.662808690),
        (ABSORBER, 3.0, 0.991976746),
        (ABSORBER, 10.0, 0.339961437),
        (CARRIER, 0.5, 0.920391151),
        (CARRIER, 1.0, 0.986701368),
        (CARRIER, 3.0, 0.481070858),
        (CARRIER, 10.0, 0.089413615),
    ],
)
def test_probst_formula_against_hand_computed_values(shape, t, expected):
    value = probst_pulse(t, shape.a_n, shape.a_t, shape.tau_n, shape.tau_in, shape.tau_t)
    assert value == pytest.approx(expected, rel=1e-8)


def test_pulse_is_zero_before_onset_and_at_onset():
    t = np.array([-5.0, -0.01, 0.0])
    for shape in (ABSORBER, CARRIER):
        np.testing.assert_array_equal(template(shape, t), 0.0)


@pytest.mark.parametrize("shape", [ABSORBER, CARRIER])
def test_templates_have_unit_height_at_the_computed_peak(shape):
    t = np.arange(0.0, 20.0, 1e-4)
    values = template(shape, t)
    assert values.max() == pytest.approx(1.0, abs=1e-8)
    params = (shape.a_n, shape.a_t, shape.tau_n, shape.tau_in, shape.tau_t)
    assert float(peak_time_ms(*params)) == pytest.approx(t[np.argmax(values)], abs=2e-4)


def test_carrier_rises_and_decays_faster_than_absorber():
    t_carrier = float(
        peak_time_ms(CARRIER.a_n, CARRIER.a_t, CARRIER.tau_n, CARRIER.tau_in, CARRIER.tau_t)
    )
    t_absorber = float(
        peak_time_ms(ABSORBER.a_n, ABSORBER.a_t, ABSORBER.tau_n, ABSORBER.tau_in, ABSORBER.tau_t)
    )
    assert t_carrier < t_absorber
    assert template(CARRIER, 6.0) < template(ABSORBER, 6.0)


def test_noise_psd_is_white_plus_one_over_f():
    noise = NoiseSpectrum(white_rms_v=0.02, corner_hz=30.0, beta=1.7, mains_rms_v=())
    white = 2 * 0.02**2 / 25_000
    psd = noise.psd(np.array([0.0, 30.0, 3000.0]), 25_000)
    np.testing.assert_allclose(psd, [0.0, 2 * white, white * (1 + 0.01**1.7)])


def test_mains_lines_carry_their_power_at_odd_harmonics():
    noise = NoiseSpectrum(white_rms_v=0.0, mains_rms_v=(0.003, 0.001))
    f = np.fft.rfftfreq(16_384, 1 / 25_000)  # 1.53 Hz bins
    psd = noise.psd(f, 25_000)
    df = f[1]
    for harmonic, rms in ((50.0, 0.003), (150.0, 0.001)):
        near = np.abs(f - harmonic) < 10
        assert psd[near].sum() * df == pytest.approx(rms**2, rel=1e-6)
        assert f[near][np.argmax(psd[near])] == pytest.approx(harmonic, abs=df)
    assert psd[np.abs(f - 100.0) < 10].sum() * df < 1e-12  # no even harmonic
    assert psd[0] == 0.0


def test_default_spectrum_is_as_red_as_cait_augmentation():
    det = Detector()
    f, psd = det.rfft_freqs(), det.noise_psd()
    band = {lo: psd[(f >= lo) & (f <= hi)].mean() for lo, hi in ((1, 5), (1000, 2000))}
    assert 230 < band[1] / band[1000] < 840  # cait's range over its parameter r


def test_detector_round_trips_through_a_dict():
    det = Detector(record_length=512, noise=NoiseSpectrum(0.01, 5.0))
    assert Detector.from_dict(det.to_dict()) == det


def test_filtered_pulse_is_the_one_pole_lowpass_of_the_pulse_and_zero_before_onset():
    # Independent reference: the low-pass y' = (x - y) / tau_f integrated numerically (exact
    # exponential update over each fine step) from the raw pulse, which starts at 0.
    shape, tau_f, dt = ABSORBER, 0.16, 1e-4
    params = (shape.a_n, shape.a_t, shape.tau_n, shape.tau_in, shape.tau_t)
    t = np.arange(-2.0, 60.0, dt)
    raw = probst_pulse(t, *params)
    decay = np.exp(-dt / tau_f)
    y = np.zeros_like(t)
    for i in range(1, len(t)):
        y[i] = decay * y[i - 1] + (1 - decay) * 0.5 * (raw[i] + raw[i - 1])
    got = filtered_probst_pulse(t, *params, tau_f)
    assert np.all(got[t < 0] == 0.0)
    np.testing.assert_allclose(got, y, atol=1e-5 * raw.max())
    # per-event parameters (n, 1) against a time grid (n, L), in float32 as the simulator calls it
    onsets = np.array([[0.0], [3.0]], np.float32)
    grid = np.arange(0.0, 20.0, 0.04, dtype=np.float32)[None, :] - onsets
    cols = [np.full((2, 1), p, np.float32) for p in params]
    batch = filtered_probst_pulse(grid, *cols, np.float32(tau_f))
    assert batch.dtype == np.float32 and np.all(batch[1, grid[1] < 0] == 0.0)
    np.testing.assert_allclose(batch[0], filtered_probst_pulse(grid[0], *params, tau_f), atol=1e-6)
