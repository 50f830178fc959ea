"""The one preprocessing: hand-worked values, and the same output at training and prediction."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.preprocessing import PreprocessingConfig, Preprocessor
from baselines.train import validation_split


def test_baseline_block_means_and_window_by_hand():
    # record of 16 samples: offset 5 before, a ramp after; pre-trigger = first 0.25 * 16 = 4
    x = np.full((1, 16), 5.0)
    x[0, 8:] += np.arange(8)
    cfg = PreprocessingConfig(downsample=2, window=(0.5, 1.0), pretrigger_fraction=0.25)
    pre = Preprocessor(cfg)
    pre.offset, pre.scale, pre.record_length = 0.0, 1.0, 16  # unscaled, to see raw values
    # after baseline subtraction samples 8..15 are 0..7; block means of pairs
    np.testing.assert_allclose(pre.transform(x), [[0.5, 2.5, 4.5, 6.5]])
    assert pre.n_features == 4


def test_fit_scales_to_zero_mean_unit_std():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, (50, 64))
    Z = Preprocessor(PreprocessingConfig(downsample=4, window=(0, 1))).fit_transform(X)
    assert Z.shape == (50, 16) and Z.dtype == np.float32
    assert abs(Z.mean()) < 1e-6 and abs(Z.std() - 1) < 1e-5


def test_per_record_scaling_gives_unit_height():
    X = np.zeros((2, 32))
    X[0, 10:] = 4.0
    X[1, 10:] = -0.5
    pre = Preprocessor(PreprocessingConfig(downsample=1, window=(0, 1), scaling="per_record"))
    pre.offset, pre.scale, pre.record_length = 0.0, 1.0, 32
    np.testing.assert_allclose(np.abs(pre.transform(X)).max(axis=1), [1.0, 1.0])


def test_whitening_flattens_a_red_spectrum():
    # random-walk-like noise (PSD ~ 1/f^2 at low f): whitened records have a flat spectrum
    rng = np.random.default_rng(1)
    X = np.cumsum(rng.standard_normal((200, 1024)), axis=1) * 0.1 + rng.standard_normal((200, 1024))
    pre = Preprocessor(PreprocessingConfig(downsample=1, window=(0, 1), whiten=True)).fit(X)
    Z = pre.transform(X).astype(np.float64)
    psd = (np.abs(np.fft.rfft(Z[:, 256:768], axis=1)) ** 2).mean(0)
    low, high = psd[2:20].mean(), psd[100:250].mean()
    raw = (np.abs(np.fft.rfft(X[:, 256:768], axis=1)) ** 2).mean(0)
    assert raw[2:20].mean() / raw[100:250].mean() > 4  # red before
    assert 0.5 < low / high < 2.0  # about flat after


def test_state_round_trip_gives_identical_output():
    rng = np.random.default_rng(2)
    X_train, X_new = rng.normal(size=(40, 400)), rng.normal(size=(7, 400))
    cfg = PreprocessingConfig(downsample=4, whiten=True, scaling="per_record")
    pre = Preprocessor(cfg).fit(X_train)
    again = Preprocessor.from_state(pre.state_dict())
    assert np.array_equal(pre.transform(X_new), again.transform(X_new))
    assert again.config == cfg


def test_wrong_record_length_and_bad_config_are_refused():
    pre = Preprocessor(PreprocessingConfig(downsample=2)).fit(np.ones((3, 100)))
    with pytest.raises(ValueError, match="records have 50 samples.*fitted on 100"):
        pre.transform(np.ones((3, 50)))
    with pytest.raises(ValueError, match="'median'"):
        PreprocessingConfig(scaling="median")
    with pytest.raises(ValueError, match="window"):
        PreprocessingConfig(window=(0.5, 0.2))


def test_validation_split_is_stratified_disjoint_and_seeded():
    y = np.array([0] * 60 + [1] * 40)
    train, val = validation_split(y, fraction=0.25, seed=3)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 100
    assert (y[val] == 0).sum() == 15 and (y[val] == 1).sum() == 10
    assert np.array_equal(val, validation_split(y, fraction=0.25, seed=3)[1])
    assert not np.array_equal(val, validation_split(y, fraction=0.25, seed=4)[1])


def test_unlabelled_records_are_in_neither_split():
    # `challenge import` puts unlabelled records (-1) in train.root: no baseline trains on them.
    y = np.array([0] * 60 + [1] * 40 + [-1] * 30)
    train, val = validation_split(y, fraction=0.25, seed=3)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(100))
    assert np.array_equal(val, validation_split(y[:100], fraction=0.25, seed=3)[1])


def test_whitening_uses_the_challenge_noise_estimator():
    # one noise-spectrum estimator: the filter is the impulse response of 1 / sqrt(pretrigger_psd)
    # of the downsampled records, Hann-tapered to whitening_taps, with unit energy
    from challenge.matched_filter import pretrigger_psd

    X = np.random.default_rng(4).normal(size=(30, 512)).cumsum(axis=1)
    cfg = PreprocessingConfig(downsample=2, whiten=True, window=(0, 1), whitening_taps=5)
    pre = Preprocessor(cfg).fit(X)
    blocks = (X - X[:, :102].mean(axis=1, keepdims=True)).reshape(30, 256, 2).mean(axis=2)
    psd = pretrigger_psd(blocks, n_pre=51)  # 0.2 * 512 = 102 samples = 51 blocks
    response = np.fft.irfft(np.concatenate([[0.0], psd[1:] ** -0.5]), n=256)
    expected = np.concatenate([response[-2:], response[:3]]) * np.hanning(7)[1:-1]
    np.testing.assert_allclose(pre.whitening_filter, expected / np.linalg.norm(expected), rtol=1e-9)


def test_whitening_is_a_convolution_with_the_filter():
    # by hand: the window's blocks are the full record's blocks convolved with the filter
    X = np.random.default_rng(5).normal(size=(20, 256)).cumsum(axis=1)
    cfg = PreprocessingConfig(downsample=4, whiten=True, window=(0.5, 0.75), whitening_taps=9)
    pre = Preprocessor(cfg).fit(X)
    pre.offset, pre.scale = 0.0, 1.0
    blocks = (X - X[:, :51].mean(axis=1, keepdims=True)).reshape(20, 64, 4).mean(axis=2)
    whitened = np.stack([np.convolve(b, pre.whitening_filter, mode="same") for b in blocks])
    np.testing.assert_allclose(pre.transform(X), whitened[:, 32:48], rtol=1e-5, atol=1e-5)
    assert pre.n_features == 16


def test_asinh_scaling_is_linear_in_the_noise_and_logarithmic_above():
    # unit-variance white noise, and records with a step of 10 and 10,000 noise widths: asinh of
    # the step over the fitted noise level; four decades of height become a difference of log
    rng = np.random.default_rng(6)
    X = rng.standard_normal((400, 200))
    cfg = PreprocessingConfig(downsample=1, window=(0.5, 1.0), scaling="asinh")
    pre = Preprocessor(cfg).fit(X)
    assert pre.noise_scale == pytest.approx(1.0, abs=0.03)
    pre.offset, pre.scale = 0.0, 1.0
    steps = np.zeros((2, 200))
    steps[:, 100:] = [[10.0], [10_000.0]]
    Z = pre.transform(steps)
    np.testing.assert_allclose(Z[:, 0], np.arcsinh(np.array([10.0, 1e4]) / pre.noise_scale),
                               rtol=1e-6)  # fmt: skip
    assert Z[1, 0] - Z[0, 0] == pytest.approx(np.log(1000.0), abs=0.01)


def test_asinh_needs_a_pre_trigger_region_to_measure_the_noise():
    cfg = PreprocessingConfig(downsample=4, window=(0.5, 1.0), scaling="asinh",
                              pretrigger_fraction=0.01)  # fmt: skip
    with pytest.raises(ValueError, match="holds 0 blocks of downsample=4 samples"):
        Preprocessor(cfg).fit(np.ones((3, 200)))
