"""The latent layout of Audio-Journey: codes -> decoder-side latent -> per-channel normalisation -> D-channel image,
and back (paper §4: "these transformations can be fully inverted")."""

import pytest
import torch

from hf_audiogen.audio_journey import (
    AudioJourneyConfig,
    channel_statistics,
    codes_to_latents,
    decode_image,
    denormalize_latents,
    encode_codes,
    image_to_latents,
    latents_to_image,
    normalize_latents,
)
from hf_audiogen.validation import InvalidInputError

from factories import tiny_codec_model


def _config(channels, width=24, multiple=1, normalized=True, seed=0):
    generator = torch.Generator().manual_seed(seed)
    stats = {}
    if normalized:
        stats = dict(
            latent_mean=torch.randn(channels, generator=generator).tolist(),
            latent_std=(0.1 + 3 * torch.rand(channels, generator=generator)).tolist(),
        )
    return AudioJourneyConfig(latent_channels=channels, image_width=width, size_multiple=multiple, **stats)


def test_paper_layout_128_by_504_is_a_21_by_24_image():
    config = _config(128, width=24)
    latents = torch.randn(2, 128, 504)
    image = latents_to_image(latents, config)
    assert image.shape == (2, 128, 21, 24)
    assert torch.equal(image[:, :, 1, 0], latents[:, :, 24])  # row-major: frame t at (t // W, t % W)


@pytest.mark.parametrize(
    ("channels", "frames", "width", "multiple"),
    [(128, 504, 24, 1), (64, 100, 10, 2), (64, 101, 10, 2), (8, 1, 4, 4), (3, 37, 6, 2), (16, 500, 16, 8)],
)
def test_reshape_is_exactly_inverted_for_any_size(channels, frames, width, multiple):
    config = _config(channels, width, multiple)
    latents = torch.randn(2, channels, frames, dtype=torch.float64)
    image = latents_to_image(latents, config)
    height, image_width = image.shape[-2:]
    assert image_width == width and height % multiple == 0 and height * width >= frames
    assert (height - multiple) * width < frames  # no more rows than needed
    assert torch.all(image.flatten(2)[..., frames:] == 0)  # padding = zero = the channel mean after normalisation
    assert torch.equal(image_to_latents(image, frames), latents)


@pytest.mark.parametrize(("channels", "frames"), [(64, 100), (128, 504), (5, 7)])
def test_normalisation_is_inverted(channels, frames):
    config = _config(channels)
    latents = torch.randn(3, channels, frames) * 4 + 2
    normalized = normalize_latents(latents, config)
    torch.testing.assert_close(denormalize_latents(normalized, config), latents, rtol=1e-6, atol=1e-5)
    # Full round trip through the image layout.
    image = latents_to_image(normalized, config)
    torch.testing.assert_close(decode_image(image, frames, config), latents, rtol=1e-6, atol=1e-5)


def test_channel_statistics_normalise_the_data_they_come_from():
    data = [torch.randn(2, 6, 50) * torch.arange(1, 7)[:, None] + 3, torch.randn(6, 30) * 2]
    mean, std = channel_statistics(data)
    flat = torch.cat([data[0].transpose(0, 1).reshape(6, -1), data[1]], dim=1).double()
    torch.testing.assert_close(torch.tensor(mean, dtype=torch.float64), flat.mean(1))
    torch.testing.assert_close(torch.tensor(std, dtype=torch.float64), flat.std(1))
    config = AudioJourneyConfig(latent_channels=6, latent_mean=mean, latent_std=std)
    normalized = normalize_latents(flat.float()[None], config)
    torch.testing.assert_close(normalized.mean(-1), torch.zeros(1, 6), atol=1e-5, rtol=0)
    torch.testing.assert_close(normalized.std(-1), torch.ones(1, 6), atol=1e-5, rtol=0)


def test_codes_to_image_and_back_decodes_like_the_codec():
    codec = tiny_codec_model()
    codes = torch.randint(0, codec.config.codebook_size, (2, codec.config.num_quantizers, 13))
    latents = codes_to_latents(codec, codes)
    assert latents.shape == (2, codec.config.hidden_size, 13)
    config = _config(codec.config.hidden_size, width=4, multiple=2)
    image = encode_codes(codec, codes, config)
    assert image.shape == (2, codec.config.hidden_size, 4, 4)
    with torch.no_grad():
        expected = codec.decode(codes)
        actual = codec.decode_latents(decode_image(image, 13, config))
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(latent_channels=0),
        dict(image_width=6, size_multiple=4),
        dict(latent_channels=2, latent_mean=[0.0, 0.0]),
        dict(latent_channels=2, latent_mean=[0.0], latent_std=[1.0]),
        dict(latent_channels=2, latent_mean=[0.0, 0.0], latent_std=[1.0, 0.0]),
        dict(max_text_length=0),
        dict(default_audio_length_in_s=0),
    ],
)
def test_bad_config_values_are_refused(kwargs):
    with pytest.raises(InvalidInputError):
        AudioJourneyConfig(**kwargs)


def test_config_round_trips_through_a_dict_and_keeps_unknown_keys():
    config = _config(4)
    values = {**config.to_dict(), "added_later": 1}
    again = AudioJourneyConfig.from_dict(values)
    assert again.to_dict() == values and again.latent_mean == config.latent_mean
