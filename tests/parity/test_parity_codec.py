"""Codec parity: audiocraft's EnCodec (AudioGen 16 kHz flags, tiny) vs ``CodecModel`` converted by our converter."""

import pytest
import torch
from audiocraft_oracle import export_package, import_audiocraft, tiny_encodec_cfg

import_audiocraft()

from audiocraft.models import builders  # noqa: E402

from hf_audiogen.codec.convert_audiocraft import convert_audiocraft_compression_checkpoint  # noqa: E402

pytestmark = pytest.mark.parity


@pytest.fixture(scope="module")
def codecs(tmp_path_factory):
    """(audiocraft EnCodec, our converted CodecModel), both eval mode, from one exported checkpoint file."""
    torch.manual_seed(0)
    cfg = tiny_encodec_cfg(n_q=3, bins=32)
    reference = builders.get_compression_model(cfg)
    # One training forward runs the k-means initialisation and an EMA update of every codebook, so the codebooks
    # (and hence the codes) are not trivial.
    reference.train()
    with torch.no_grad():
        reference(0.1 * torch.randn(4, 1, 8000, generator=torch.Generator().manual_seed(1)))
    reference.eval()
    assert all(bool(layer._codebook.inited) for layer in reference.quantizer.vq.layers)

    path = tmp_path_factory.mktemp("audiocraft") / "compression_state_dict.bin"
    torch.save(export_package(reference, cfg), path)
    converted = convert_audiocraft_compression_checkpoint(str(path))
    return reference, converted


@pytest.fixture(scope="module")
def audio():
    # 16123 samples: not a multiple of the hop (320), so the padding of the last frame is exercised.
    return 0.1 * torch.randn(2, 1, 16123, generator=torch.Generator().manual_seed(2))


def test_config_read_from_xp_cfg(codecs):
    reference, converted = codecs
    config = converted.config
    assert (config.sampling_rate, config.audio_channels) == (16000, 1)
    assert (config.hop_length, config.frame_rate) == (reference.encoder.hop_length, reference.frame_rate) == (320, 50)
    assert (config.num_quantizers, config.codebook_size) == (reference.num_codebooks, reference.cardinality) == (3, 32)
    assert (config.pad_mode, config.use_causal_conv, config.use_conv_shortcut) == ("constant", False, False)


@torch.no_grad()
def test_latents_match(codecs, audio):
    reference, converted = codecs
    expected = reference.encoder(audio)
    actual = converted.encode_latents(audio)
    assert actual.shape == expected.shape == (2, 16, 51)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)


@torch.no_grad()
def test_codes_identical(codecs, audio):
    reference, converted = codecs
    expected, scale = reference.encode(audio)
    assert scale is None  # renormalize=False, as in AudioGen
    actual = converted.encode(audio)
    assert actual.shape == expected.shape == (2, 3, 51)
    assert len(torch.unique(expected)) > 8, "codes are degenerate, the comparison would be weak"
    assert torch.equal(actual, expected)


@torch.no_grad()
def test_decoded_audio_matches(codecs, audio):
    reference, converted = codecs
    codes, _ = reference.encode(audio)
    latents = converted.quantizer.codes_to_latents(codes)
    torch.testing.assert_close(latents, reference.decode_latent(codes), atol=1e-5, rtol=0)
    expected = reference.decode(codes)
    actual = converted.decode(codes)
    assert actual.shape == expected.shape == (2, 1, 51 * 320)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)


@torch.no_grad()
def test_full_forward_matches(codecs, audio):
    reference, converted = codecs
    expected = reference(audio)
    actual = converted(audio)
    assert torch.equal(actual.audio_codes, expected.codes)
    torch.testing.assert_close(actual.audio_values, expected.x, atol=1e-5, rtol=0)
