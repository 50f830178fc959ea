"""Tests of the simulator: determinism, chunking, class balance, spectra, saturation, artifacts."""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from challenge.detector import CARRIER, Detector
from challenge.generate import organizers_detector
from challenge.matched_filter import pulse_height_estimate
from challenge.metrics import roc_auc_score
from challenge.secret import Secret
from challenge.simulate import (
    ARTIFACT_CODES,
    Artifacts,
    SimulationConfig,
    colored_noise,
    draw_labels,
    draw_onsets,
    energy_share,
    iterate_events,
    process_pool,
    pulse_shapes,
    run_curve,
    simulate,
    simulate_chunk,
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


@pytest.mark.parametrize("batch_size", [50, 1000])
def test_events_do_not_depend_on_the_workers_as_slots_are_reused(batch_size, monkeypatch):
    # 11 chunks through the 4 shared slots of 2 workers: each slot holds three chunks in turn,
    # and batches of 1000 keep several chunks pending while the next ones are simulated. Every
    # fifth chunk starts late, so that a slot given to two chunks at once would end up with
    # the later one's records (the workers are forked with the slow simulator).
    made = simulate_chunk

    def slow(seed, split, index, n, config, **kwargs):
        if index % 5 == 0:
            time.sleep(0.2)
        return made(seed, split, index, n, config, **kwargs)

    whole = simulate(700, seed=6, config=SMALL)
    monkeypatch.setattr("challenge.simulate.simulate_chunk", slow)
    batches = list(iterate_events(700, seed=6, split="train", config=SMALL,
                                  batch_size=batch_size, workers=2))  # fmt: skip
    for name, column in zip(whole._fields, zip(*batches, strict=True), strict=True):
        np.testing.assert_array_equal(np.concatenate(column), getattr(whole, name))


def _shared_segments() -> set[str]:
    return {p.name for p in Path("/dev/shm").iterdir()} if Path("/dev/shm").is_dir() else set()


def test_workers_leave_no_shared_memory_when_the_consumer_stops_early():
    before = _shared_segments()
    events = iterate_events(700, seed=6, split="train", config=SMALL, batch_size=64, workers=2)
    first = next(events)
    assert _shared_segments() - before  # the slots exist while the chunks are made
    events.close()  # as when the writing fails, or Ctrl-C stops it
    assert _shared_segments() == before
    np.testing.assert_array_equal(first.counts, simulate(64, seed=6, config=SMALL).counts)


def test_records_do_not_depend_on_the_blocks_a_chunk_is_made_in():
    # Every effect on, at rates where a chunk holds each artifact: blocks of 7 rows cut through
    # pile-ups, jumps, spikes, mixed shapes and per-record noise.
    config = replace(organizers_detector(Secret.from_seed(2), record_length=512),
                     pileup_fraction=0.1, pileup_extra_mean=2.0, tail_fraction=0.1,
                     flux_jump_fraction=0.1, spike_fraction=0.1)  # fmt: skip
    whole = simulate_chunk(9, "train", 0, 150, config, block_rows=150)
    assert set(whole.artifact) == set(ARTIFACT_CODES.values())
    for block_rows in (7, 64):
        blocked = simulate_chunk(9, "train", 0, 150, config, block_rows=block_rows)
        for name, a, b in zip(whole._fields, whole, blocked, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"{name}, blocks of {block_rows}")


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


# The effects of a real run (the organizers' detector switches them on): each test fails when
# its effect is off.
QUIET = replace(SMALL, pileup_fraction=0.0, flux_jump_fraction=0.0, spike_fraction=0.0,
                drift_rms_v=0.0, drift_curvature_rms_v=0.0)  # fmt: skip


def _pretrigger(ev, config) -> np.ndarray:
    """The first half of the pre-trigger of each record, in volts, offset removed."""
    det = config.detector
    x = ev.counts[:, : det.trigger_index // 2] * det.volts_per_count
    return x - x.mean(axis=1, keepdims=True)


@pytest.mark.parametrize("spread", [0.0, 0.3])
def test_noise_level_changes_from_record_to_record(spread):
    config = replace(QUIET, noise_level_spread=spread, height_max_v=0.002)
    rms = _pretrigger(simulate(400, seed=1, config=config), config).std(axis=1)
    # 128 samples of coloured noise: the RMS alone scatters by about 10% (log).
    spread_seen = np.log(rms).std()
    if spread:
        assert spread_seen == pytest.approx(np.hypot(spread, 0.1), abs=0.05)
    else:
        assert spread_seen < 0.15


@pytest.mark.parametrize("spread", [0.0, 0.4])
def test_one_over_f_exponent_changes_from_record_to_record(spread):
    det = Detector(record_length=8192)
    shift = spread * np.random.default_rng(2).standard_normal(300)
    noise = colored_noise(np.random.default_rng(0), 300, det, beta_shift=shift)
    f = det.rfft_freqs()
    power = np.abs(np.fft.rfft(noise, axis=1))[:, 1:] ** 2 / det.noise_psd()[1:]
    f = f[1:]
    low = power[:, f < 40].mean(axis=1)  # 1/f-dominated, 13 bins
    high = power[:, f > 2000].mean(axis=1)  # white
    ratio = np.log(low / high)
    # (f_c / f)^shift at f ~ 3 to 40 Hz moves the log ratio by shift x 0.7 to 3.3.
    if spread:
        assert ratio.std() > 0.6 and np.corrcoef(ratio, shift)[0, 1] > 0.8
    else:
        assert ratio.std() < 0.4


def test_readout_lowpass_rolls_off_the_noise_and_slows_the_pulses():
    det = Detector(record_length=1024, lowpass_hz=2000.0)
    noise = colored_noise(np.random.default_rng(0), 400, det)
    periodogram = 2 * np.abs(np.fft.rfft(noise, axis=1)) ** 2 / (det.sampling_rate_hz * 1024)
    f = det.rfft_freqs()
    ratio = periodogram.mean(axis=0)[1:-1] / det.noise_psd()[1:-1]
    assert ratio[200:].mean() == pytest.approx(1, abs=0.03)  # the spectrum with its roll-off
    unfiltered = Detector(record_length=1024).noise_psd()
    assert det.noise_psd()[-1] / unfiltered[-1] == pytest.approx(1 / (1 + (12500 / 2000) ** 2))
    assert np.all(det.noise_psd()[f > 0] < unfiltered[f > 0])
    # A carrier pulse rises later through the filter: its 50% point moves by about tau_f.
    config = replace(QUIET, detector=det, tau_jitter=0.0, height_min_v=1.0, height_max_v=1.0001,
                     shapes=(CARRIER, CARRIER), onset_jitter_ms=0.0)  # fmt: skip
    plain = replace(config, detector=replace(det, lowpass_hz=None))
    times = det.times_ms()
    half = [np.argmax(simulate(5, seed=0, config=c).counts[0] * det.volts_per_count > 0.5)
            for c in (plain, config)]  # fmt: skip
    assert (half[1] - half[0]) * (times[1]) == pytest.approx(det.lowpass_tau_ms, abs=0.06)


def _log_params(config, position=None, operating_point=None, n=4000):
    labels = np.repeat(np.array([0, 1], np.int8), n // 2)
    zero = np.zeros(n)
    params = pulse_shapes(labels, np.random.default_rng(0), config,
                          position=zero if position is None else position,
                          operating_point=zero if operating_point is None else operating_point)  # fmt: skip
    return labels, np.log(params[:, 2:])


def test_pulse_shapes_form_a_continuum_along_the_hidden_position():
    response = ((0.0, 0.8, 0.0, 0.0), (0.0, 0.0, -0.6, 1.0))
    config = replace(QUIET, position_response=response)
    position = np.random.default_rng(1).random(4000) - 0.5
    labels, log_tau = _log_params(config, position)
    _, still = _log_params(replace(config, position_response=((0,) * 4,) * 2), position)
    # A uniform position spreads log tau by |response| / sqrt(12) beside the jitter of 0.03.
    assert log_tau[labels == 0, 1].std() == pytest.approx(np.hypot(0.8 / 12**0.5, 0.03), rel=0.1)
    assert log_tau[labels == 1, 2].std() == pytest.approx(np.hypot(0.6 / 12**0.5, 0.03), rel=0.1)
    assert log_tau[labels == 0, 0].std() == pytest.approx(0.03, rel=0.1)  # no response there
    assert still[labels == 0, 1].std() < 0.04
    # The ratio A_t / A_n moves on the logit scale and stays below 1 (no undershoot).
    params = pulse_shapes(labels, np.random.default_rng(0), config, position=position,
                          operating_point=np.zeros(4000))  # fmt: skip
    ratio = params[:, 1] / params[:, 0]
    assert np.all((ratio > 0) & (ratio < 1))
    logit = np.log(ratio / (1 - ratio))
    assert np.polyfit(position[labels == 1], logit[labels == 1], 1)[0] == pytest.approx(1.0)


def test_gain_and_operating_point_drift_over_the_run():
    assert run_curve((), np.array([0.3])) == 0
    np.testing.assert_allclose(run_curve((0.0, 1.0, -1.0), np.array([0.0, 0.25, 0.75])),
                               [0.0, 0.5, 0.0])  # fmt: skip
    base = simulate(300, seed=7, config=QUIET)
    gained = simulate(300, seed=7, config=replace(QUIET, gain_drift=(0.1, 0.1)))
    np.testing.assert_allclose(gained.pulse_height, np.exp(0.1) * base.pulse_height)
    drifting = simulate(300, seed=7, config=replace(QUIET, gain_drift=(-0.2, 0.2)))
    ratio = np.log(drifting.pulse_height / base.pulse_height)
    assert ratio.min() < -0.15 and ratio.max() > 0.15  # the run time sets the gain
    # The operating point moves each class's shape by its own response.
    config = replace(QUIET, operating_point_response=((0.0, 0.3, 0.0, 0.0), (0.0, -0.3, 0.0, 0.0)))
    op = np.linspace(-1, 1, 4000)
    labels, log_tau = _log_params(config, operating_point=op)
    assert np.polyfit(op[labels == 0], log_tau[labels == 0, 1], 1)[0] == pytest.approx(
        0.3, abs=0.01
    )
    assert np.polyfit(op[labels == 1], log_tau[labels == 1, 1], 1)[0] == pytest.approx(
        -0.3, abs=0.01
    )


def test_records_on_the_tail_of_an_earlier_pulse_have_decaying_baselines():
    config = replace(QUIET, detector=Detector(record_length=4096), tail_height_min_v=0.5)
    tails = simulate(200, seed=3, config=replace(config, tail_fraction=1.0))
    assert np.all(tails.artifact == ARTIFACT_CODES["tail"])
    for ev, decaying in ((tails, True), (simulate(200, seed=3, config=config), False)):
        before_onsets = config.detector.trigger_index - 50  # the pre-trigger, 2 ms before onsets
        x = ev.counts[:, :before_onsets] * config.detector.volts_per_count
        drop = x[:, :100].mean(axis=1) - x[:, -100:].mean(axis=1)  # a tail falls over 35 ms
        assert (np.median(drop) > 0.002) == decaying


def test_pile_up_adds_several_pulses():
    det = Detector(record_length=4096)
    config = replace(QUIET, detector=det, pileup_fraction=1.0, height_min_v=0.5,
                     height_max_v=0.5001, tau_jitter=0.0)  # fmt: skip
    n = 400
    area = {}
    for extra in (0.0, 2.0):
        c = replace(config, pileup_extra_mean=extra)
        signal = np.zeros((n, det.record_length), np.float32)
        artifacts = Artifacts(np.random.default_rng(0), np.full(n, ARTIFACT_CODES["pileup"], np.int8),
                              c, det.times_ms(), np.zeros(n))  # fmt: skip
        artifacts.add(slice(0, n), signal, np.zeros_like(signal))
        area[extra] = (signal > 0.25).any(axis=1).mean(), signal.sum() / n
    # With 1 + Poisson(2) pulses per record, three times the charge of one pulse per record.
    assert area[2.0][1] / area[0.0][1] == pytest.approx(3.0, rel=0.15)


@pytest.mark.parametrize("sharpness", [1.0, 2.0])
def test_saturation_curves_differ_per_detector(sharpness):
    det = Detector(saturation_v=2.0, saturation_sharpness=sharpness)
    x = np.array([-1.0, 0.5, 1.0, 4.0])
    expected = np.sign(x) * 2.0 * np.tanh(np.abs(x / 2.0) ** sharpness) ** (1 / sharpness)
    np.testing.assert_allclose(det.saturate(x), expected)
    # By hand: at x = S, tanh(1) = 0.761594 for p = 1 and tanh(1)^(1/2) = 0.872694 for p = 2.
    assert det.saturate(np.array(2.0)) / 2.0 == pytest.approx(
        {1.0: 0.761594156, 2.0: 0.872693621}[sharpness]
    )


def test_onsets_spread_over_the_trigger_window_and_walk_with_small_heights():
    det = Detector(record_length=16384)
    config = replace(QUIET, detector=det, onset_jitter_ms=3.0, time_walk_ms=2.0,
                     trigger_threshold_v=0.01)  # fmt: skip
    trigger_ms = det.trigger_index * 0.04
    rng = np.random.default_rng(0)
    height = np.concatenate([np.full(4000, 0.002), np.full(4000, 1.0)])
    onset = draw_onsets(rng, height, config) - trigger_ms
    small, big = onset[:4000], onset[4000:]
    assert small.mean() == pytest.approx(-2.0, abs=0.1)  # late triggers: onsets 2 ms earlier
    assert big.mean() == pytest.approx(-0.02, abs=0.1)  # 2 ms x 0.01 V / 1 V
    assert (
        big.min() > -3.03 and big.max() < 3.0 and big.std() == pytest.approx(3 / 3**0.5, rel=0.05)
    )
    plain = draw_onsets(rng, height, replace(config, time_walk_ms=0.0)) - trigger_ms
    assert abs(plain[:4000].mean()) < 0.1


def test_carrier_fraction_and_a_height_spectrum_per_class():
    config = replace(QUIET, detector=Detector(record_length=128), chunk_size=500,
                     carrier_fraction=0.1, carrier_height_alpha=1.0, carrier_height_min_v=0.003)  # fmt: skip
    ev = simulate(4000, seed=11, config=config)
    assert ev.label.mean() == pytest.approx(0.1, abs=0.02)
    carriers = ev.pulse_height[ev.label == 1]
    assert carriers.min() >= 0.003
    frac = np.mean(carriers > 4 * 0.003)  # P(h > x) = (h_min / x)^alpha
    assert frac == pytest.approx(0.25, abs=0.06)
    assert abs(roc_auc_score(ev.label, ev.pulse_height) - 0.5) > 0.03  # the height tells


@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_label_noise_flips_training_labels_only(noise):
    config = replace(SMALL, label_noise=noise)
    true, recorded = draw_labels(np.random.default_rng(0), 5000, config, split="train")
    assert np.mean(true != recorded) == pytest.approx(noise, abs=0.015)
    true, recorded = draw_labels(np.random.default_rng(0), 5000, config, split="test")
    np.testing.assert_array_equal(true, recorded)


def test_energy_sharing_moves_part_of_a_class_towards_the_other_shape():
    config = replace(QUIET, mixing_fraction=(0.2, 0.0), mixing_max=(0.6, 0.0))
    labels = np.array([0, 0, 0, 0, 1], np.int8)
    position = np.array([-0.5, 0.3, 0.4, 0.5, 0.5])
    # The highest 20% of positions (0.3 to 0.5) ramp the share from 0 to 0.6; carriers keep 0.
    np.testing.assert_allclose(energy_share(labels, position, config), [0, 0, 0.3, 0.6, 0])
    det = Detector(record_length=1024)
    base = replace(QUIET, detector=det, tau_jitter=0.0, height_min_v=1.0, height_max_v=1.0001,
                   onset_jitter_ms=0.0)  # fmt: skip
    early = {}
    for name, c in (("plain", base), ("shared", replace(base, mixing_fraction=(1.0, 0.0),
                                                        mixing_max=(0.6, 0.0)))):  # fmt: skip
        ev = simulate(300, seed=2, config=c)
        at = np.rint((ev.onset + 0.5) / 0.04).astype(int)  # 0.5 ms after the onset
        x = ev.counts * det.volts_per_count
        rise = x[np.arange(300), at] - x[:, : det.trigger_index - 30].mean(axis=1)
        early[name] = rise[ev.label == 0].mean()
    # At 0.5 ms an absorber pulse is at 0.40 of its height, a carrier at 0.92: a share m uniform
    # in [0, 0.6] adds 0.3 x 0.52 on average.
    assert early["plain"] == pytest.approx(0.40, abs=0.03)
    assert early["shared"] - early["plain"] == pytest.approx(0.3 * 0.52, abs=0.03)


def _blas_threads(_) -> int:
    return max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")


def _page_faults_of_blocks_made_again(_) -> int:
    def blocks() -> list[np.ndarray]:
        return [np.ones(2 << 20) for _ in range(4)]  # 4 x 16 MB, every page written

    blocks()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_each_generation_worker_reuses_the_memory_it_frees():
    # Given back and mapped again, these 64 MB took 2,000 page faults in a young process.
    with process_pool(1) as pool:
        assert pool.submit(_page_faults_of_blocks_made_again, 0).result() < 50


def test_each_generation_worker_takes_one_blas_thread():
    # BLAS's own threads fought the other workers on the references' small products.
    with threadpool_limits(limits=2, user_api="blas"):  # a parent that would lend them 2
        with process_pool(2) as pool:
            assert set(pool.map(_blas_threads, range(4))) == {1}
