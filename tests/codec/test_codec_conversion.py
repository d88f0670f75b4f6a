"""Tests of the codec converters: transformers EncodecModel <-> CodecModel, audiocraft checkpoints -> CodecModel."""

import pytest
import torch
from reference_audiocraft import XP_CFG, _to_audiocraft_layout, _xp_cfg  # noqa: F401
from transformers import EncodecConfig, EncodecModel

from hf_audiogen.codec import CodecConfig
from hf_audiogen.codec.convert_audiocraft import (
    codec_config_from_audiocraft_cfg,
    convert_audiocraft_compression_checkpoint,
    rename_audiocraft_key,
)
from hf_audiogen.codec.convert_encodec import codec_from_encodec, encodec_config_to_codec_config

from factories import tiny_codec_config, tiny_codec_model


def _audiogen_encodec_config(**kwargs):
    """audiogen.md §3.1's EncodecConfig for audiocraft's 16 kHz AudioGen codec, with tiny channels."""
    defaults = dict(
        sampling_rate=16000,
        audio_channels=1,
        hidden_size=8,
        num_filters=2,
        upsampling_ratios=[8, 5, 4, 2],
        norm_type="weight_norm",
        use_causal_conv=False,
        pad_mode="constant",
        num_lstm_layers=2,
        compress=2,
        use_conv_shortcut=False,
        codebook_size=32,
        target_bandwidths=[0.75],
        normalize=False,
        chunk_length_s=None,
    )
    return EncodecConfig(**{**defaults, **kwargs})


def _assert_same_state(expected: dict, actual: dict):
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key


# --------------------------------------------------------------------------------------------------- EncodecModel
def test_encodec_config_translation():
    encodec_config = _audiogen_encodec_config()
    config = encodec_config_to_codec_config(encodec_config, quantizer_dropout=True)
    assert encodec_config.num_quantizers == config.num_quantizers == 3  # 0.75 kbps / (50 Hz * 5 bits)
    assert config.hop_length == encodec_config.hop_length and config.frame_rate == encodec_config.frame_rate
    assert (config.pad_mode, config.use_conv_shortcut, config.kmeans_init, config.quantizer_dropout) == (
        "constant",
        False,
        False,
        True,
    )
    with pytest.raises(ValueError, match="normalize"):
        encodec_config_to_codec_config(_audiogen_encodec_config(normalize=True))
    with pytest.raises(ValueError, match="chunk_length_s"):
        encodec_config_to_codec_config(_audiogen_encodec_config(chunk_length_s=1.0, overlap=0.01))
    with pytest.raises(ValueError, match="EncodecConfig"):
        encodec_config_to_codec_config(tiny_codec_config())


def test_encodec_model_parity_both_ways():
    # EncodecModel -> CodecModel: random weights and a random (trained-looking) codebook
    torch.manual_seed(0)
    encodec = EncodecModel(_audiogen_encodec_config()).eval()
    with torch.no_grad():
        for layer in encodec.quantizer.layers:
            layer.codebook.embed.normal_(0, 0.1)
            layer.codebook.embed_avg.copy_(layer.codebook.embed)
    codec = codec_from_encodec(encodec)
    assert not codec.training
    _assert_same_state(encodec.state_dict(), codec.state_dict())

    for length in (16123, 4000):
        audio = 0.1 * torch.randn(2, 1, length)
        with torch.no_grad():
            encoded = encodec.encode(audio, bandwidth=0.75)
            codes = codec.encode(audio)
            assert torch.equal(codes, encoded.audio_codes[0])
            assert len(codes.unique()) > 3  # a real test: the codes vary
            expected = encodec.decode(encoded.audio_codes, encoded.audio_scales).audio_values
            torch.testing.assert_close(codec.decode(codes), expected, atol=1e-5, rtol=0)
            torch.testing.assert_close(
                codec(audio).audio_values, encodec(audio, bandwidth=0.75).audio_values, atol=1e-5, rtol=0
            )

    # CodecModel (k-means-trained codebooks) -> EncodecModel, strict
    trained = tiny_codec_model(seed=1)
    back = EncodecModel(_audiogen_encodec_config()).eval()
    back.load_state_dict(trained.state_dict(), strict=True)
    audio = 0.1 * torch.randn(1, 1, 7777)
    with torch.no_grad():
        encoded = back.encode(audio, bandwidth=0.75)
        assert torch.equal(trained.encode(audio), encoded.audio_codes[0])
        torch.testing.assert_close(
            trained.decode(encoded.audio_codes[0]),
            back.decode(encoded.audio_codes, [None]).audio_values,
            atol=1e-5,
            rtol=0,
        )


def test_codec_from_encodec_rejects_other_models():
    with pytest.raises(ValueError, match="EncodecModel"):
        codec_from_encodec(tiny_codec_model())


# --------------------------------------------------------------------------------------------------- audiocraft


@pytest.mark.parametrize(
    "cfg_kwargs, config_kwargs",
    [
        ({}, {}),
        (
            dict(norm="time_group_norm", pad_mode="reflect", true_skip="false"),
            dict(norm_type="time_group_norm", pad_mode="reflect", use_conv_shortcut=True),
        ),
    ],
)
def test_audiocraft_checkpoint_conversion(tmp_path, cfg_kwargs, config_kwargs):
    source = tiny_codec_model(seed=2, **config_kwargs)
    state = _to_audiocraft_layout(source)
    if not cfg_kwargs:  # spot-check the layout of audiogen.md §2
        assert "encoder.model.0.conv.conv.weight_g" in state and "encoder.model.13.lstm.weight_ih_l1" in state
        assert "decoder.model.3.convtr.convtr.weight_v" in state and "decoder.model.4.block.1.conv.conv.bias" in state
        assert "quantizer.vq.layers.2._codebook.embed_avg" in state
    else:
        assert "encoder.model.0.conv.norm.weight" in state and "decoder.model.3.convtr.norm.bias" in state
        assert "encoder.model.1.shortcut.conv.conv.weight" in state
    assert all(rename_audiocraft_key(k) in source.state_dict() for k in state)

    pkg = {"best_state": state, "xp.cfg": _xp_cfg(**cfg_kwargs), "version": "1.3.0", "exported": True}
    path = tmp_path / "compression_state_dict.bin"
    torch.save(pkg, path)
    for checkpoint in (pkg, str(path), {**pkg, "best_state": {"model": state}}):
        converted = convert_audiocraft_compression_checkpoint(checkpoint)
        assert not converted.training
        _assert_same_state(source.state_dict(), converted.state_dict())
    config = converted.config
    assert (config.hop_length, config.num_quantizers, config.codebook_size, config.kmeans_iters) == (320, 3, 32, 3)
    assert config.use_causal_conv is False  # resolved through ${encodec.causal}
    audio = 0.1 * torch.randn(1, 1, 5000)
    with torch.no_grad():
        assert torch.equal(converted.encode(audio), source.encode(audio))


def test_audiocraft_conversion_refuses_mismatched_checkpoints():
    source = tiny_codec_model(seed=3)
    state = _to_audiocraft_layout(source)
    cfg = _xp_cfg()

    extra = {**state, "encoder.model.99.conv.conv.bias": torch.zeros(2)}
    with pytest.raises(ValueError, match=r"1 unknown key\(s\): \['encoder.model.99.conv.conv.bias'\]"):
        convert_audiocraft_compression_checkpoint({"best_state": extra, "xp.cfg": cfg})
    missing = {k: v for k, v in state.items() if k != "decoder.model.1.lstm.bias_hh_l0"}
    with pytest.raises(ValueError, match=r"missing key\(s\): \['decoder\.model\.1\.lstm\.bias_hh_l0'\]"):
        convert_audiocraft_compression_checkpoint({"best_state": missing, "xp.cfg": cfg})
    with pytest.raises(ValueError, match="shape mismatch"):
        convert_audiocraft_compression_checkpoint({"best_state": state, "xp.cfg": cfg.replace("bins: 32", "bins: 64")})
    with pytest.raises(ValueError, match=r"lacks \['xp.cfg'\]"):
        convert_audiocraft_compression_checkpoint({"best_state": state})
    with pytest.raises(ValueError, match="EncodecModel"):
        convert_audiocraft_compression_checkpoint({"pretrained": "facebook/encodec_32khz"})
    with pytest.raises(FileNotFoundError):
        convert_audiocraft_compression_checkpoint("/nonexistent/compression_state_dict.bin")


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("renormalize: false", "renormalize: true", "renormalize"),
        ("    final_activation: null", "    final_activation: Tanh", "final_activation"),
        ("  encoder: {}", "  encoder: {n_filters: 4}", "overrides"),
        ("activation: ELU", "activation: GELU", "activation"),
        ("  lstm: 2", "  lstm: 0", "lstm"),
        ("compression_model: encodec", "compression_model: dac", "only 'encodec'"),
        ("  n_filters: 2\n", "", "no field 'seanet.n_filters'"),
        ("causal: ${encodec.causal}", "causal: ${oc.env:CAUSAL}", "interpolation"),
        ("norm: weight_norm", "norm: spectral_norm", "norm_type"),
    ],
)
def test_audiocraft_config_refusals(old, new, message):
    cfg = _xp_cfg()
    assert old in cfg
    with pytest.raises(ValueError, match=message):
        codec_config_from_audiocraft_cfg(cfg.replace(old, new))


def test_audiocraft_config_release_values():
    """The release codec (audiogen.md §1.5): n_filters 64 and 4 x 2048 on top of encodec/default."""
    cfg = _xp_cfg().replace("n_filters: 2", "n_filters: 64").replace("dimension: 8", "dimension: 128")
    cfg = cfg.replace("bins: 32", "bins: 2048").replace("n_q: 3", "n_q: 4")
    cfg = cfg.replace("kmeans_iters: 3", "kmeans_iters: 50")
    config = codec_config_from_audiocraft_cfg(cfg)
    reference = CodecConfig.audiocraft_audiogen_16khz()
    for name in (
        "num_filters",
        "hidden_size",
        "upsampling_ratios",
        "codebook_size",
        "num_quantizers",
        "pad_mode",
        "use_causal_conv",
        "use_conv_shortcut",
        "norm_type",
        "num_lstm_layers",
        "kmeans_iters",
        "frame_rate",
    ):
        assert getattr(config, name) == getattr(reference, name), name
