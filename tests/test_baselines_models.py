"""Shapes of every baseline, the hand-made pulse-shape features, and the model registry."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from baselines.models import MODELS, get_spec
from baselines.models.bdt import pulse_shape_features

NEURAL = [name for name, spec in MODELS.items() if spec.is_neural]


@pytest.mark.parametrize("name", NEURAL)
@pytest.mark.parametrize("n_samples", [25, 409])
def test_forward_and_score_shapes(name, n_samples):
    module = get_spec(name).module
    torch.manual_seed(0)
    net = module.Net(n_samples, module.Hparams()).eval()
    x = torch.randn(5, n_samples)
    with torch.no_grad():
        out, score = net(x), net.score(x)
    assert out.shape == (5,) and score.shape == (5,)
    assert torch.isfinite(score).all()
    loss = net.loss(x, torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0]))
    assert loss.shape == ()


def test_one_training_step_changes_every_optimised_weight():
    module = get_spec("gan").module
    torch.manual_seed(0)
    net = module.Net(40, module.Hparams())
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.training_step(
        torch.randn(8, 40), torch.tensor([0.0, 1.0] * 4), net.configure_optimizers(net.hp)
    )
    changed = {k for k, v in net.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == set(before)  # discriminator and generator both took a step


def test_vae_score_is_the_elbo_difference():
    module = get_spec("vae").module
    torch.manual_seed(0)
    net = module.Net(30, module.Hparams()).eval()
    assert net.generate(1, 3).shape == (3, 30)
    net = module.Net(2000, module.Hparams()).eval()  # ELBOs ~3000, differences ~1
    x = torch.randn(64, 2000)
    with torch.no_grad():
        score = net.score(x).double()
        net64, x = copy.deepcopy(net).double(), x.double()  # the reference, without float32's loss
        ones = torch.ones(64, dtype=x.dtype)
        reference = net64.elbo(x, ones, sample=False) - net64.elbo(x, 0 * ones, sample=False)
    # subtracting the ELBOs after summing them would be ~5e-4 off in float32
    assert torch.allclose(score, reference, rtol=0, atol=2e-5)


def test_gan_generator_and_discriminator_shapes():
    module = get_spec("gan").module
    net = module.Net(50, module.Hparams())
    fake = net.generate(6)
    assert fake.shape == (6, 50)
    assert net.discriminator(fake).shape == (6, 2)


def test_starter_is_one_hidden_layer_of_100_on_the_raw_record():
    module = get_spec("starter").module
    hp = module.Hparams()
    net = module.Net(16384, hp)
    assert net.hidden.weight.shape == (100, 16384)
    assert sum(p.numel() for p in net.parameters()) == 16384 * 100 + 100 + 100 + 1
    cfg = hp.preprocessing
    assert (cfg.downsample, cfg.subtract_baseline, cfg.window) == (1, False, (0.0, 1.0))


def test_pulse_shape_features_of_a_hand_made_pulse():
    # 100 samples of 1 ms; baseline line 0.01 * t before, then a triangle rising over
    # samples 40..50 to height 10 and falling linearly to 0 at sample 70
    t = np.arange(100.0)
    z = np.zeros(100)
    z[40:51] = np.linspace(0, 10, 11)
    z[50:71] = np.linspace(10, 0, 21)
    z[:20] = 0.01 * (t[:20] - 9.5)
    f = pulse_shape_features(z[None, :], n_pre=20, sample_period_ms=1.0)[0]
    height, rise, decay, onset, rms, slope, area = f
    assert height == 10.0
    assert onset == 40.0  # last sample below 10% of height before the peak
    assert rise == 9.0  # 40 -> 49, the first sample >= 90%
    # first sample below 10 / e after the peak at 50: 10 - 0.5 k < 3.679 -> k = 13
    assert decay == 13.0
    assert slope == pytest.approx(0.01)
    assert rms == pytest.approx(np.std(z[:20]))
    assert area == pytest.approx(z[20:].sum() / 10.0)


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match="'svm'.*logit, mlp, cnn"):
        get_spec("svm")


def test_cnn_sees_the_carrier_s_slow_component_whitened():
    """The cnn's window reaches past the carrier's slow decay time (136 ms after the trigger) and
    starts before the earliest onsets (5 ms before it): the window that ended 59 ms after the
    trigger measured 0.011 worse on the organizers' detector (docs/participant.md)."""
    from challenge.detector import CARRIER, TRIGGER_FRACTION, Detector

    cfg = get_spec("cnn").module.Hparams().preprocessing
    det = Detector()
    record_ms = det.record_length * 1000.0 / det.sampling_rate_hz
    start, stop = ((f - TRIGGER_FRACTION) * record_ms for f in cfg.window)
    assert start <= -5.0 and stop >= CARRIER.tau_n
    assert cfg.whiten and cfg.scaling == "global"
