"""Tests of the codec training losses (hf_audiogen.codec.losses)."""

import math

import pytest
import torch
from transformers.audio_utils import hertz_to_mel

from hf_audiogen.codec.losses import (
    GradientBalancer,
    MultiScaleMelLoss,
    discriminator_hinge_loss,
    feature_matching_loss,
    generator_hinge_loss,
    l1_waveform_loss,
)

SR = 16000


def _sine(freq, seconds=0.5, amplitude=0.5):
    t = torch.arange(int(SR * seconds)) / SR
    return (amplitude * torch.sin(2 * math.pi * freq * t)).view(1, 1, -1)


def test_l1_waveform_loss():
    x = torch.randn(2, 1, 100)
    assert l1_waveform_loss(x, x) == 0
    torch.testing.assert_close(l1_waveform_loss(x + 0.25, x), torch.tensor(0.25))
    with pytest.raises(ValueError, match="same shape"):
        l1_waveform_loss(x, x[..., :50])


def test_mel_loss_uses_the_paper_scales():
    loss = MultiScaleMelLoss(SR)
    assert loss.n_ffts == [32, 64, 128, 256, 512, 1024, 2048]
    assert loss.mel_spectrogram(torch.zeros(2, 1, SR), 512).shape == (2, SR // 128, 64)  # one frame per hop


def test_mel_spectrogram_puts_a_sine_in_the_right_band():
    loss = MultiScaleMelLoss(SR)
    mel = loss.mel_spectrogram(_sine(1000.0), 2048).mean(dim=1)[0]
    # HTK mel bands are evenly spaced between 0 and the Nyquist frequency.
    expected_band = hertz_to_mel(1000.0) / hertz_to_mel(SR / 2) * 65 - 1
    assert abs(int(mel.argmax()) - expected_band) <= 1


def test_mel_loss_zero_for_identical_and_detects_changes():
    torch.manual_seed(0)
    loss = MultiScaleMelLoss(SR)
    x = _sine(440.0) + 0.05 * torch.randn(1, 1, SR // 2)
    assert loss(x, x) == 0
    small, large = loss(x, 0.9 * x), loss(x, 0.5 * x)
    assert 0 < small < large
    assert loss(x, _sine(880.0)) > large  # a different pitch is a bigger change than a level change
    assert loss(x, x[..., torch.arange(x.shape[-1] - 1, -1, -1)]) > 0  # time reversal moves energy in time


def test_mel_loss_is_differentiable_and_finite_on_silence():
    torch.manual_seed(0)
    loss = MultiScaleMelLoss(SR)
    target = torch.randn(2, 1, 4000)
    prediction = (0.1 * torch.randn(2, 1, 4000)).requires_grad_(True)
    loss(prediction, target).backward()
    assert torch.isfinite(prediction.grad).all() and prediction.grad.abs().sum() > 0
    # A silent output is a stationary point of a magnitude loss (zero gradient), but must not produce NaN/inf.
    silence = torch.zeros(2, 1, 4000, requires_grad=True)
    value = loss(silence, target)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(silence.grad).all()


def test_mel_loss_rejects_bad_arguments():
    with pytest.raises(ValueError, match="min_exponent"):
        MultiScaleMelLoss(SR, min_exponent=8, max_exponent=6)
    with pytest.raises(ValueError, match="sampling_rate"):
        MultiScaleMelLoss(0)
    with pytest.raises(ValueError, match="same shape"):
        MultiScaleMelLoss(SR)(torch.zeros(1, 1, 100), torch.zeros(1, 1, 200))


def test_hinge_losses_on_known_logits():
    real = [torch.tensor([2.0, 0.5, -1.0]), torch.tensor([1.0])]
    fake = [torch.tensor([-2.0, 0.0, 1.0]), torch.tensor([-1.0])]
    # scale 0: mean(0, .5, 2) + mean(0, 1, 2) = 5/6 + 1; scale 1: 0 + 0
    torch.testing.assert_close(discriminator_hinge_loss(real, fake), torch.tensor((5 / 6 + 1) / 2))
    # scale 0: mean(3, 1, 0) = 4/3; scale 1: 2
    torch.testing.assert_close(generator_hinge_loss(fake), torch.tensor((4 / 3 + 2) / 2))
    with pytest.raises(ValueError, match="same non-zero number"):
        discriminator_hinge_loss(real, fake[:1])


def test_feature_matching_is_relative_and_only_trains_the_fake_branch():
    torch.manual_seed(0)
    real = [[torch.randn(2, 4, 5, 6, requires_grad=True) for _ in range(3)] for _ in range(2)]
    fake = [[r.detach() + 0.1 * torch.randn_like(r) for r in scale] for scale in real]
    for scale in fake:
        for f in scale:
            f.requires_grad_(True)
    assert feature_matching_loss(real, real) == 0
    value = feature_matching_loss(real, fake)
    scaled = feature_matching_loss([[10 * r for r in s] for s in real], [[10 * f for f in s] for s in fake])
    torch.testing.assert_close(value, scaled)  # relative L1: invariant to the activation scale
    value.backward()
    assert real[0][0].grad is None and fake[0][0].grad.abs().sum() > 0


def test_balancer_normalises_each_loss_to_its_weight():
    torch.manual_seed(0)
    y = torch.randn(4, 1, 64, requires_grad=True)
    # Two losses acting on disjoint halves, with very different raw scales.
    losses = {"a": 1000.0 * y[..., :32].pow(2).sum(), "b": 0.001 * y[..., 32:].abs().sum()}
    balancer = GradientBalancer({"a": 3.0, "b": 1.0}, total_norm=1.0, per_batch_item=False)
    balancer.surrogate_loss(losses, y).backward()
    norm_a, norm_b = y.grad[..., :32].norm(), y.grad[..., 32:].norm()
    torch.testing.assert_close(norm_a / norm_b, torch.tensor(3.0))
    torch.testing.assert_close(norm_a, torch.tensor(0.75))  # weight share 3/4 of total_norm 1


def test_balancer_state_round_trip_and_errors():
    y = torch.randn(2, 1, 8, requires_grad=True)
    balancer = GradientBalancer({"a": 1.0}, ema_decay=0.9)
    balancer.surrogate_loss({"a": y.pow(2).sum()}, y)
    restored = GradientBalancer({"a": 1.0}, ema_decay=0.9)
    restored.load_state_dict(balancer.state_dict())
    assert restored.state_dict() == balancer.state_dict()
    with pytest.raises(ValueError, match=r"losses \['c'\] have no weight"):
        balancer.surrogate_loss({"c": y.sum()}, y)
    with pytest.raises(ValueError, match="non-negative"):
        GradientBalancer({"a": -1.0})
