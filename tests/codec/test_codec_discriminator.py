"""Tests of the multi-scale STFT discriminator (hf_audiogen.codec.discriminator)."""

import pytest
import torch

from hf_audiogen.codec.discriminator import MultiScaleSTFTDiscriminator, MultiScaleSTFTDiscriminatorConfig


def _tiny_config(**kwargs):
    return MultiScaleSTFTDiscriminatorConfig(filters=4, **kwargs)


def test_default_config_matches_audiocraft_scales():
    config = MultiScaleSTFTDiscriminatorConfig()
    assert config.n_ffts == [1024, 2048, 512, 256, 128]
    assert config.hop_lengths == [n // 4 for n in config.n_ffts]
    assert config.filters == 32 and config.kernel_size == [3, 9] and config.dilations == [1, 2, 4]


@pytest.mark.parametrize("num_samples", [2048, 5000, 16000])
def test_output_shapes_for_several_lengths(num_samples):
    torch.manual_seed(0)
    config = _tiny_config()
    disc = MultiScaleSTFTDiscriminator(config).eval()
    out = disc(torch.randn(3, 1, num_samples))
    assert len(out.logits) == len(out.feature_maps) == 5
    for n_fft, hop, logits, features in zip(config.n_ffts, config.hop_lengths, out.logits, out.feature_maps):
        frames = (num_samples - n_fft) // hop + 1
        bins = n_fft // 2 + 1
        for _ in config.dilations:  # each dilated convolution halves the frequency axis (rounding up)
            bins = (bins + 1) // 2
        assert logits.shape == (3, 1, frames, bins)
        assert len(features) == len(config.dilations) + 2
        assert all(f.shape[:3] == (3, config.filters, frames) for f in features)
        assert torch.isfinite(logits).all()


def test_gradient_reaches_the_waveform():
    disc = MultiScaleSTFTDiscriminator(_tiny_config())
    audio = torch.randn(2, 1, 4096, requires_grad=True)
    sum(l.mean() for l in disc(audio).logits).backward()
    assert audio.grad is not None and audio.grad.abs().sum() > 0


def test_weight_norm_parameters_are_initialised_consistently():
    disc = MultiScaleSTFTDiscriminator(_tiny_config())
    names = [name for name, _ in disc.named_parameters()]
    assert any(name.endswith("parametrizations.weight.original0") for name in names)
    conv = disc.discriminators[0].convs[1]
    g, v = conv.parametrizations.weight.original0, conv.parametrizations.weight.original1
    torch.testing.assert_close(g, v.flatten(1).norm(dim=1).view_as(g))


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    disc = MultiScaleSTFTDiscriminator(_tiny_config(n_ffts=[256, 128])).eval()
    audio = torch.randn(2, 1, 3000)
    disc.save_pretrained(tmp_path)
    loaded = MultiScaleSTFTDiscriminator.from_pretrained(tmp_path).eval()
    assert loaded.config.n_ffts == [256, 128] and loaded.config.hop_lengths == [64, 32]
    for a, b in zip(disc(audio).logits, loaded(audio).logits):
        torch.testing.assert_close(a, b)


def test_bad_inputs_raise_clear_errors():
    disc = MultiScaleSTFTDiscriminator(_tiny_config())
    with pytest.raises(ValueError, match="at least 2048"):
        disc(torch.randn(1, 1, 1000))
    with pytest.raises(ValueError, match=r"shape \(batch, 1, samples\)"):
        disc(torch.randn(1, 4096))
    with pytest.raises(ValueError, match="hop_lengths"):
        MultiScaleSTFTDiscriminatorConfig(n_ffts=[256, 128], hop_lengths=[64])
    with pytest.raises(ValueError, match="n_ffts"):
        MultiScaleSTFTDiscriminatorConfig(n_ffts=[])
