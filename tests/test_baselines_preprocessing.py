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
    # one noise-spectrum estimator: the gain is 1 / sqrt(pretrigger_psd), normalised by its median
    from challenge.matched_filter import pretrigger_psd

    X = np.random.default_rng(4).normal(size=(30, 512)).cumsum(axis=1)
    pre = Preprocessor(PreprocessingConfig(downsample=1, whiten=True)).fit(X)
    psd = pretrigger_psd(X, n_pre=int(pre.config.pretrigger_fraction * 512))
    expected = np.concatenate([[0.0], psd[1:] ** -0.5])
    np.testing.assert_allclose(pre.whitening_gain, expected / np.median(expected), rtol=1e-12)
