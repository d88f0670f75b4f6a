"""GenAU vocoder: transformers' SpeechT5HifiGan with the reference HiFi-GAN layout (64 mels -> 16 kHz, hop 160)."""

import pytest
import torch
from transformers import SpeechT5HifiGan

from hf_audiogen.genau import genau_vocoder_config, vocoder_hop_length

from factories import tiny_genau_vocoder


def test_config_is_the_16k_64_bin_hifigan():
    config = genau_vocoder_config()
    assert config.model_in_dim == 64 and config.sampling_rate == 16000 and not config.normalize_before
    assert list(config.upsample_rates) == [5, 4, 2, 2, 2] and list(config.upsample_kernel_sizes) == [16, 16, 8, 4, 4]
    assert [list(d) for d in config.resblock_dilation_sizes] == [[1, 3, 5]] * 3


def test_reference_generator_layout():
    """Every tensor of the reference Generator (``ups`` renamed to ``upsampler``) with its shape, and nothing else
    but SpeechT5HifiGan's unused normalisation buffers."""
    vocoder = tiny_genau_vocoder()
    width, rates, kernels = 32, [5, 4, 2, 2, 2], [16, 16, 8, 4, 4]
    expected = {"conv_pre.weight": (width, 64, 7), "conv_pre.bias": (width,)}
    for i, (u, k) in enumerate(zip(rates, kernels)):
        c_in, c_out = width // 2**i, width // 2 ** (i + 1)
        expected[f"upsampler.{i}.weight"], expected[f"upsampler.{i}.bias"] = (c_in, c_out, k), (c_out,)
        for j, kernel in enumerate([3, 7, 11]):
            for convs in ("convs1", "convs2"):
                for n in range(3):
                    expected[f"resblocks.{3 * i + j}.{convs}.{n}.weight"] = (c_out, c_out, kernel)
                    expected[f"resblocks.{3 * i + j}.{convs}.{n}.bias"] = (c_out,)
    expected["conv_post.weight"], expected["conv_post.bias"] = (1, 1, 7), (1,)
    expected["mean"] = expected["scale"] = (64,)
    assert {k: tuple(v.shape) for k, v in vocoder.state_dict().items()} == expected
    assert vocoder.upsampler[0].padding == ((16 - 5) // 2,) and vocoder.resblocks[4].convs1[2].dilation == (5,)


def test_hop_160_output_length_and_save_load(tmp_path):
    vocoder = tiny_genau_vocoder()
    assert vocoder_hop_length(vocoder) == 160
    mel = torch.randn(2, 25, 64)  # (batch, frames, mel bins)
    with torch.no_grad():
        wave = vocoder(mel)
    assert wave.shape == (2, 160 * 25 + 32)  # the transposed convs overhang by 32 samples; callers cut
    assert wave.abs().max() <= 1.0
    vocoder.save_pretrained(tmp_path)
    with torch.no_grad():
        assert torch.equal(SpeechT5HifiGan.from_pretrained(tmp_path).eval()(mel), wave)


def test_bad_width():
    with pytest.raises(ValueError, match="upsample_initial_channel"):
        genau_vocoder_config(upsample_initial_channel=16)
