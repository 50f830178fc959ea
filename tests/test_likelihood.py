"""Tests of the physics reference: the marginalised likelihood ratio against a direct summation,
its priors from the metadata, the evaluator's ceiling and the reference learned from records."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from benchmarks.bench_reference import brute_force_log_ratio
from challenge.detector import Detector, NoiseSpectrum
from challenge.likelihood import (
    DRIFT_NODES,
    POSITION_NODES,
    SHARE_NODES,
    Priors,
    Reference,
    gauss_hermite,
    learn_reference,
    log_height_integral,
    log_likelihood_ratio,
    oracle_bank,
    oracle_reference,
    priors_from_config,
)
from challenge.matched_filter import matched_filter_score
from challenge.metrics import roc_auc_score
from challenge.simulate import NO_RESPONSE, SimulationConfig, simulate

LENGTH = 512
CONFIG = SimulationConfig(
    detector=Detector(record_length=LENGTH),
    pileup_fraction=0.0,
    flux_jump_fraction=0.0,
    spike_fraction=0.0,
)


def metadata(config: SimulationConfig = CONFIG) -> dict:
    simulation = config.to_dict()
    return {"detector": simulation.pop("detector"), "simulation": simulation,
            **FORMAT}  # fmt: skip


FORMAT = {"sampling_rate_hz": 25_000.0, "record_length": LENGTH, "trigger_index": LENGTH // 4}


def events(n: int, seed: int, config: SimulationConfig = CONFIG):
    ev = simulate(n, seed=seed, config=config)
    return ev, ev.counts * config.detector.volts_per_count


def test_oracle_priors_come_from_the_simulation_settings():
    pri = priors_from_config(CONFIG)
    trigger_ms = Detector(record_length=LENGTH).trigger_index * 0.04
    assert pri.onset_ms == pytest.approx((trigger_ms - 1.0, trigger_ms + 1.0))
    assert (pri.tau_jitter, pri.height_min_v, pri.height_alpha) == (0.03, 0.0015, 0.4)
    ref = oracle_reference(CONFIG)
    assert ref.shifts()[[0, -1]].tolist() == [128 - 25, 128 + 25]  # 1 ms = 25 samples


def test_gauss_hermite_integrates_the_normal_moments():
    nodes, log_w = gauss_hermite(3, 0.5, 2)
    w = np.exp(log_w)
    assert w.sum() == pytest.approx(1.0)
    assert w @ nodes[:, 0] ** 2 == pytest.approx(0.25)
    assert w @ nodes[:, 1] ** 4 == pytest.approx(3 * 0.5**4)


def test_height_integral_matches_quadrature():
    pri = Priors((0.0, 1.0), 0.03, 0.005, 10.0, 0.4)
    width = 0.002
    a = np.linspace(pri.height_min_v, 0.2, 400_001)
    norm = pri.height_alpha / (pri.height_min_v**-0.4 - pri.height_max_v**-0.4)
    prior = norm * a**-1.4
    for mean in (-0.01, -0.005, 0.0, 0.004, 0.006, 0.02, 0.04, 0.05):
        gauss = np.exp(-0.5 * ((a - mean) / width) ** 2) / (np.sqrt(2 * np.pi) * width)
        expected = np.log(np.trapezoid(prior * gauss, a))
        assert log_height_integral(np.array(mean), width, pri) == pytest.approx(expected, abs=0.006)


@pytest.mark.timeout(120)
def test_fast_ratio_equals_a_direct_sum_over_the_same_priors():
    # Same nodes and onsets (3 nodes, whole samples): only the SVD basis and the height table
    # separate the fast ratio from the direct sum.
    ev, X = events(40, seed=3, config=replace(CONFIG, height_max_v=0.05))
    ref = oracle_reference(CONFIG)
    fast = log_likelihood_ratio(X, ref)
    direct = brute_force_log_ratio(X, ref, nodes=3, substeps=1, z_nodes=241)
    np.testing.assert_allclose(fast, direct, atol=0.005, rtol=0)


def test_beats_the_plain_matched_filter_and_stays_below_the_ceiling():
    # 2,000 events: the gain over the plain filter is ~0.003 AUC on these 20 ms records.
    ev, X = events(2000, seed=5)
    meta = metadata()
    ref = oracle_reference(CONFIG)
    physics = roc_auc_score(ev.label, log_likelihood_ratio(X, ref))
    plain = roc_auc_score(ev.label, matched_filter_score(X, metadata=meta))
    ceiling = roc_auc_score(
        ev.label, log_likelihood_ratio(X, ref, truth=(ev.pulse_height, ev.onset))
    )
    assert plain < physics < ceiling


def test_learned_reference_finds_the_onset_window_and_round_trips():
    ev, X = events(400, seed=7, config=replace(CONFIG, height_min_v=0.02))
    meta = dict(FORMAT)  # the record format alone
    ref = learn_reference(X, ev.label, metadata=meta)
    lo, hi = ref.priors.onset_ms
    # Learned templates start LEAD_SAMPLES (1 ms) before their 20% point, so the window holds
    # the true +- 1 ms shifted by up to ~1 ms; its width is the jitter's 2 ms plus a few samples.
    assert 1.8 < hi - lo < 3.5
    again = Reference.from_state(ref.state(), metadata=meta)
    np.testing.assert_array_equal(log_likelihood_ratio(X, ref), log_likelihood_ratio(X, again))
    assert roc_auc_score(ev.label, log_likelihood_ratio(X, ref)) > 0.97


def test_learned_reference_reads_nothing_of_the_simulator_but_the_record_format():
    """The same scores whether the metadata describe the simulator truly, describe another
    detector (noise, saturation, priors, shapes' jitter) or give the record format alone."""
    ev, X = events(300, seed=9, config=replace(CONFIG, height_min_v=0.01))
    other = replace(CONFIG, detector=replace(CONFIG.detector, saturation_v=0.5,
                    noise=NoiseSpectrum(white_rms_v=0.1, corner_hz=5.0, beta=1.0)),
                    tau_jitter=0.3, onset_jitter_ms=5.0, height_min_v=1.0)  # fmt: skip
    scores = [
        log_likelihood_ratio(X, learn_reference(X, ev.label, metadata=meta))
        for meta in (metadata(), metadata(other), dict(FORMAT))
    ]
    np.testing.assert_array_equal(scores[0], scores[1])
    np.testing.assert_array_equal(scores[0], scores[2])
    with pytest.raises(ValueError, match=r"no record format \(missing \['sampling_rate_hz'"):
        learn_reference(X, ev.label, metadata={"detector": metadata()["detector"]})


def test_rejects_records_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"shape \(n, 512\)"):
        log_likelihood_ratio(np.zeros((2, 100)), oracle_reference(CONFIG))


def test_oracle_knows_the_organizers_shape_continuum_and_read_out_filter():
    """On records whose shapes spread along a continuum (here a strong one) through a read-out
    filter, the oracle's bank follows the simulator's own shapes: it separates the classes
    better than the same ratio with one shape per class."""
    strong = ((0.8, 0.8, 0.8, 0.8), (-0.8, -0.8, -0.8, -0.8))
    hidden = replace(CONFIG, detector=replace(CONFIG.detector, lowpass_hz=2000.0),
                     position_response=strong, tau_jitter=0.02)  # fmt: skip
    ev, X = events(1500, seed=12, config=hidden)
    bank, log_w = oracle_bank(hidden, 1, priors_from_config(hidden), last_shift=200)
    assert bank.shape == (POSITION_NODES * DRIFT_NODES, LENGTH)
    assert np.exp(log_w).sum() == pytest.approx(1.0)
    knows = roc_auc_score(ev.label, log_likelihood_ratio(X, oracle_reference(hidden)))
    believed = replace(hidden, position_response=NO_RESPONSE)  # one shape per class
    believes = roc_auc_score(ev.label, log_likelihood_ratio(X, oracle_reference(believed)))
    assert knows > believes + 0.001  # 0.9482 against 0.9459; equal without the continuum


def test_oracle_knows_the_energy_shared_with_the_other_crystal():
    """Absorbers at the highest 40% of positions carry up to 90% of a carrier pulse: the
    oracle's bank holds those mixtures (the simulator's own, at nodes where the share ramps),
    and ranks the mixed absorbers as absorbers, which a ratio of pure shapes cannot."""
    hidden = replace(CONFIG, mixing_fraction=(0.4, 0.0), mixing_max=(0.9, 0.0))
    bank, log_w = oracle_bank(hidden, 0, priors_from_config(hidden), last_shift=200)
    pure, _ = oracle_bank(CONFIG, 0, priors_from_config(CONFIG), last_shift=200)
    carrier, _ = oracle_bank(CONFIG, 1, priors_from_config(CONFIG), last_shift=200)
    assert bank.shape == ((1 + SHARE_NODES) * len(pure), LENGTH)
    assert np.exp(log_w).sum() == pytest.approx(1.0)
    # The first node lies where nothing is shared; the last near the top, where the share
    # reaches 0.9 * (its position's place along the ramp), the same for every jitter node.
    n = len(pure)
    np.testing.assert_allclose(bank[:n], pure, atol=1e-6)
    top = bank[-n:]
    x, _ = np.polynomial.legendre.leggauss(SHARE_NODES)
    expected = 0.9 * (x[-1] + 1.0) / 2.0
    np.testing.assert_allclose(top, (1 - expected) * pure + expected * carrier, atol=1e-5)
    ev, X = events(1500, seed=13, config=hidden)
    knows = roc_auc_score(ev.label, log_likelihood_ratio(X, oracle_reference(hidden)))
    believed = replace(hidden, mixing_fraction=(0.0, 0.0), mixing_max=(0.0, 0.0))
    believes = roc_auc_score(ev.label, log_likelihood_ratio(X, oracle_reference(believed)))
    assert knows > believes + 0.01
