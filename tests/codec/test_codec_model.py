"""Tests of the codec model (hf_audiogen.codec.modeling_codec): shapes, determinism, save/load, RVQ training."""

import math

import pytest
import torch
from transformers import AutoConfig, AutoModel

import hf_audiogen  # noqa: F401  (registers the Auto classes)
from hf_audiogen.codec import CodecConfig, CodecModel, CodecOutput, ResidualVectorQuantizer
from hf_audiogen.codec.modeling_codec import ema_inplace, kmeans, laplace_smoothing

from factories import tiny_codec_config, tiny_codec_model

HOP = 320


@pytest.fixture(scope="module")
def trained_model():
    return tiny_codec_model()


# --------------------------------------------------------------------------------------------------- config
def test_presets_match_the_papers():
    release = CodecConfig.audiocraft_audiogen_16khz()
    assert (release.hop_length, release.frame_rate, release.num_quantizers, release.codebook_size) == (320, 50, 4, 2048)
    assert release.bits_per_second == 2200
    assert (release.pad_mode, release.use_causal_conv, release.use_conv_shortcut) == ("constant", False, False)

    single = CodecConfig.paper_single_stream()
    assert (single.num_filters, single.hop_length, single.frame_rate) == (32, 32, 500)
    assert (single.num_quantizers, single.codebook_size, single.hidden_size) == (1, 2048, 128)
    assert list(reversed(single.upsampling_ratios)) == [2, 2, 2, 4]  # encoder strides as written in the paper

    for k, hop in ((2, 64), (4, 128)):
        multi = CodecConfig.paper_multi_stream(k)
        assert (multi.hop_length, multi.num_quantizers, multi.codebook_size) == (hop, k, 2048 // k)
    with pytest.raises(ValueError, match="must be 2 or 4"):
        CodecConfig.paper_multi_stream(3)

    small = CodecConfig.small()
    assert (small.frame_rate, small.num_quantizers) == (50, 4)
    num_params = sum(p.numel() for p in CodecModel(small).parameters())
    assert num_params < 3_000_000  # a few MB in float32


@pytest.mark.parametrize("preset", ["audiocraft_audiogen_16khz", "paper_single_stream", "paper_multi_stream", "small"])
def test_every_preset_architecture_trains_and_codes(preset):
    """Each preset's layout (norm, padding, shortcut, strides) with tiny widths: a training step, then eval codes."""
    torch.manual_seed(0)
    config = getattr(CodecConfig, preset)(num_filters=2, hidden_size=8, codebook_size=16, kmeans_iters=2)
    model = CodecModel(config)
    audio = 0.1 * torch.randn(2, 1, 1000)
    output = model(audio)
    (output.audio_values.abs().mean() + output.commitment_loss).backward()
    assert model.encoder.layers[0].conv.bias.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        codes = model.encode(audio[:, :, :100])  # shorter than the reflect padding of the first strided convs
        assert codes.shape == (2, config.num_quantizers, math.ceil(100 / config.hop_length))
        assert model.decode(codes).shape[-1] == codes.shape[-1] * config.hop_length


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(norm_type="layer"), "norm_type"),
        (dict(pad_mode="zeros"), "pad_mode"),
        (dict(upsampling_ratios=[8, 5, 4, 3]), "multiple of the hop length"),
        (dict(num_quantizers=0), "num_quantizers"),
        (dict(codebook_dim=64), "codebook_dim"),
        (dict(ema_decay=1.0), "ema_decay"),
        (dict(trim_right_ratio=0.5), "trim_right_ratio"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CodecConfig(**kwargs)


# --------------------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("length", [1, 319, 320, 321, 3333, 16000])
def test_encode_decode_shapes_at_any_length(trained_model, length):
    audio = 0.1 * torch.randn(2, 1, length)
    frames = math.ceil(length / HOP)
    with torch.no_grad():
        codes = trained_model.encode(audio)
        assert codes.shape == (2, 3, frames) and codes.dtype == torch.long
        assert trained_model.decode(codes).shape == (2, 1, frames * HOP)
        output = trained_model(audio)
    assert isinstance(output, CodecOutput)
    assert output.audio_values.shape == (2, 1, length)
    assert torch.equal(output.audio_codes, codes)
    assert output.latents.shape == output.quantized_latents.shape == (2, 8, frames)


def test_mono_input_without_channel_axis(trained_model):
    audio = 0.1 * torch.randn(2, 1000)
    with torch.no_grad():
        assert torch.equal(trained_model.encode(audio), trained_model.encode(audio[:, None]))


def test_fewer_codebooks(trained_model):
    audio = 0.1 * torch.randn(1, 1, 2000)
    with torch.no_grad():
        codes = trained_model.encode(audio)
        assert torch.equal(trained_model.encode(audio, num_quantizers=2), codes[:, :2])
        assert trained_model.decode(codes[:, :1]).shape == (1, 1, 7 * HOP)
        latents = trained_model.quantizer.codes_to_latents(codes[:, :2])
        layers = trained_model.quantizer.layers
        expected = layers[0].decode(codes[:, 0]) + layers[1].decode(codes[:, 1])
    torch.testing.assert_close(latents, expected)


def test_latent_round_trip_matches_codes(trained_model):
    audio = 0.1 * torch.randn(1, 1, 1600)
    with torch.no_grad():
        latents = trained_model.encode_latents(audio)
        assert latents.shape == (1, 8, 5)
        quantized = trained_model.quantizer.codes_to_latents(trained_model.encode(audio))
        expected = trained_model.decode(trained_model.encode(audio))
        torch.testing.assert_close(trained_model.decode_latents(quantized), expected)


def test_eval_mode_is_deterministic_and_does_not_touch_codebooks(trained_model):
    audio = 0.1 * torch.randn(2, 1, 4000)
    before = {k: v.clone() for k, v in trained_model.state_dict().items()}
    with torch.no_grad():
        first, second = trained_model(audio), trained_model(audio)
    assert torch.equal(first.audio_codes, second.audio_codes)
    assert torch.equal(first.audio_values, second.audio_values)
    assert first.commitment_loss == 0
    # encode() never updates the codebooks, even in training mode.
    trained_model.train()
    try:
        with torch.no_grad():
            assert torch.equal(trained_model.encode(audio), first.audio_codes)
    finally:
        trained_model.eval()
    after = trained_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_padding_mask_zeroes_padded_samples(trained_model):
    audio = 0.1 * torch.randn(2, 1, 1000)
    mask = torch.ones(2, 1000, dtype=torch.long)
    mask[1, 600:] = 0
    with torch.no_grad():
        masked = trained_model(audio, padding_mask=mask).audio_codes
        zeroed = audio.clone()
        zeroed[1, :, 600:] = 0
        assert torch.equal(masked, trained_model.encode(zeroed))


def test_input_errors(trained_model):
    with pytest.raises(ValueError, match="float tensor"):
        trained_model.encode(torch.ones(1, 1, 100, dtype=torch.long))
    with pytest.raises(ValueError, match=r"shape \(batch, 1, samples\)"):
        trained_model.encode(torch.zeros(1, 2, 100))
    with pytest.raises(ValueError, match="empty"):
        trained_model.encode(torch.zeros(1, 1, 0))
    with pytest.raises(ValueError, match="torch.Tensor"):
        trained_model.encode([0.0] * 100)
    with pytest.raises(ValueError, match="padding_mask"):
        trained_model(torch.zeros(2, 1, 100), padding_mask=torch.ones(2, 99))
    with pytest.raises(ValueError, match=r"num_quantizers must be in \[1, 3\]"):
        trained_model.encode(torch.zeros(1, 1, 100), num_quantizers=4)
    with pytest.raises(ValueError, match=r"codes must be in \[0, 32\)"):
        trained_model.decode(torch.full((1, 3, 2), 32))
    with pytest.raises(ValueError, match="integer tensor"):
        trained_model.decode(torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match="latents must have shape"):
        trained_model.decode_latents(torch.zeros(1, 7, 2))


# --------------------------------------------------------------------------------------------------- init and I/O
def test_fresh_model_init():
    torch.manual_seed(0)
    model = CodecModel(tiny_codec_config())
    conv = model.encoder.layers[0].conv
    magnitude = conv.parametrizations.weight.original0
    direction = conv.parametrizations.weight.original1
    torch.testing.assert_close(magnitude, direction.norm(dim=(1, 2), keepdim=True))
    # torch's default conv init (bound 1/sqrt(fan_in)), not the N(0, 0.02) of the transformers base class
    assert direction.abs().max() > 0.1
    codebook = model.quantizer.layers[0].codebook
    assert codebook.inited.item() == 0 and not codebook.embed.any()
    assert not model.quantizer.is_initialized

    model = CodecModel(tiny_codec_config(kmeans_init=False))
    codebook = model.quantizer.layers[0].codebook
    assert codebook.inited.item() == 1 and codebook.embed.std() > 0
    torch.testing.assert_close(codebook.embed_avg, codebook.embed)


@pytest.mark.parametrize("trained", [True, False])
def test_save_load_round_trip_is_exact(tmp_path, trained):
    model = tiny_codec_model() if trained else CodecModel(tiny_codec_config()).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, CodecModel) and not loaded.training
    loaded_config, config = AutoConfig.from_pretrained(tmp_path).to_dict(), model.config.to_dict()
    loaded_config.pop("_name_or_path"), config.pop("_name_or_path")
    assert loaded_config == config
    expected, actual = model.state_dict(), loaded.state_dict()
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key
    assert loaded.quantizer.is_initialized == trained
    audio = 0.1 * torch.randn(1, 1, 2000)
    with torch.no_grad():
        assert torch.equal(model(audio).audio_values, loaded(audio).audio_values)


# --------------------------------------------------------------------------------------------------- RVQ training
def test_codebook_maths():
    average = torch.tensor([1.0, 2.0])
    ema_inplace(average, torch.tensor([3.0, 2.0]), decay=0.75)
    torch.testing.assert_close(average, torch.tensor([1.5, 2.0]))
    smoothed = laplace_smoothing(torch.tensor([0.0, 2.0, 2.0]), epsilon=0.5)
    torch.testing.assert_close(smoothed, torch.tensor([0.5, 2.5, 2.5]) / 5.5 * 4)  # same total, no zero

    torch.manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    samples = torch.cat([c + 0.1 * torch.randn(50, 2) for c in centres])
    means, bins = kmeans(samples, 3, num_iters=10)
    order = torch.stack([(means - c).norm(dim=1).argmin() for c in centres])
    torch.testing.assert_close(means[order], centres, atol=0.1, rtol=0)
    assert bins[order].tolist() == [50.0, 50.0, 50.0]


def test_kmeans_init_on_first_training_batch():
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(CodecConfig(hidden_size=4, codebook_size=8, num_quantizers=2, kmeans_iters=30))
    latents = torch.randn(2, 4, 40)
    rvq.eval()
    rvq(latents)
    assert not rvq.is_initialized  # eval mode never initialises
    rvq.train()
    quantized, codes, loss = rvq(latents)
    assert rvq.is_initialized
    first = rvq.layers[0].codebook
    assert first.embed.abs().sum() > 0 and first.cluster_size.sum() > 0
    # after k-means and the first EMA update each used code still sits at the mean of its vectors (not shrunk by the
    # cluster size, which happens if embed_avg stores means instead of sums)
    vectors = latents.transpose(1, 2).reshape(-1, 4)
    assignment = first.encode(vectors)
    for code in assignment.unique():
        if (assignment == code).sum() > first.threshold_ema_dead_code:
            torch.testing.assert_close(first.embed[code], vectors[assignment == code].mean(0), atol=0.05, rtol=0)
    assert torch.cdist(first.embed, vectors).min(dim=1).values.max() < 2.0
    assert codes.shape == (2, 2, 40) and quantized.shape == latents.shape and torch.isfinite(loss)


def test_ema_updates_follow_the_assignments():
    torch.manual_seed(0)
    config = CodecConfig(hidden_size=2, codebook_size=2, num_quantizers=1, ema_decay=0.5, threshold_ema_dead_code=0.0)
    rvq = ResidualVectorQuantizer(config).train()
    codebook = rvq.layers[0].codebook
    codebook.embed.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
    codebook.embed_avg.copy_(codebook.embed * 2)
    codebook.cluster_size.fill_(2.0)
    codebook.inited.fill_(1.0)
    # three vectors near code 0 and one near code 1
    vectors = torch.tensor([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0], [12.0, 10.0]])
    _, codes, _ = rvq(vectors.t()[None])
    assert codes.flatten().tolist() == [0, 0, 0, 1]
    torch.testing.assert_close(codebook.cluster_size, torch.tensor([2.5, 1.5]))  # 0.5 * 2 + 0.5 * counts
    torch.testing.assert_close(codebook.embed_avg, torch.tensor([[2.0, 0.0], [16.0, 15.0]]))
    smoothed = laplace_smoothing(codebook.cluster_size, config.laplace_smoothing_epsilon)
    torch.testing.assert_close(codebook.embed, codebook.embed_avg / smoothed[:, None])


def test_dead_codes_are_replaced_by_batch_vectors():
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(CodecConfig(hidden_size=4, codebook_size=8, num_quantizers=1, kmeans_iters=3)).train()
    latents = torch.randn(1, 4, 64)
    rvq(latents)  # k-means init
    codebook = rvq.layers[0].codebook
    codebook.embed[3] = 1000.0  # never the nearest code, so its usage decays below the threshold
    codebook.embed_avg[3] = 1000.0 * codebook.cluster_size[3]
    codebook.cluster_size[3] = 0.0
    rvq(latents)
    vectors = latents[0].t()
    assert (codebook.embed[3] - vectors).abs().sum(dim=1).min() == 0  # now one of the batch vectors
    assert codebook.cluster_size[3] == codebook.threshold_ema_dead_code
    torch.testing.assert_close(codebook.embed_avg[3], codebook.embed[3] * codebook.threshold_ema_dead_code)


def test_commitment_loss_and_straight_through_gradients():
    torch.manual_seed(0)
    model = CodecModel(tiny_codec_config()).train()
    audio = 0.1 * torch.randn(2, 1, 3200)
    model(audio)  # k-means init: codes equal the data, commitment loss ~0
    output = model(0.1 * torch.randn(2, 1, 3200))
    assert torch.isfinite(output.commitment_loss) and output.commitment_loss > 0
    output.commitment_loss.backward()
    encoder_grad = model.encoder.layers[0].conv.parametrizations.weight.original1.grad
    assert encoder_grad is not None and encoder_grad.abs().sum() > 0
    assert all(p.grad is None for p in model.decoder.parameters())
    model.zero_grad()

    # the reconstruction loss reaches the encoder through the straight-through estimator
    output = model(audio)
    (output.audio_values - audio).abs().mean().backward()
    assert model.encoder.layers[0].conv.parametrizations.weight.original1.grad.abs().sum() > 0
    assert all(buffer.grad is None for buffer in model.quantizer.buffers())


def test_quantizer_dropout_varies_the_number_of_codebooks():
    torch.manual_seed(0)
    model = CodecModel(tiny_codec_config(quantizer_dropout=True, num_quantizers=4)).train()
    audio = 0.1 * torch.randn(1, 1, 1600)
    counts = {model(audio).audio_codes.shape[1] for _ in range(30)}
    assert counts == {1, 2, 3, 4}
    assert model(audio, num_quantizers=2).audio_codes.shape[1] == 2
    model.eval()
    with torch.no_grad():
        assert {model(audio).audio_codes.shape[1] for _ in range(5)} == {4}


def test_padding_frames_do_not_update_the_codebooks():
    torch.manual_seed(0)
    model = CodecModel(tiny_codec_config(num_quantizers=1, threshold_ema_dead_code=0.0)).train()
    model(0.1 * torch.randn(2, 1, 3200))
    codebook = model.quantizer.layers[0].codebook
    before = codebook.cluster_size.sum().item()
    mask = torch.ones(2, 3200)
    mask[1, 1000:] = 0  # sample 1: 4 of its 10 frames hold real audio (1000 samples -> frames 0..3)
    model(0.1 * torch.randn(2, 1, 3200), padding_mask=mask)
    decay = model.config.ema_decay
    assert codebook.cluster_size.sum().item() == pytest.approx(decay * before + (1 - decay) * 14, rel=1e-5)


def test_codec_learns_to_reconstruct():
    """End to end: L1 + commitment loss with Adam, through the straight-through estimator and EMA codebooks."""
    torch.manual_seed(0)
    model = CodecModel(tiny_codec_config(num_filters=4)).train()
    t = torch.arange(3200) / 16000
    audio = torch.stack([0.5 * torch.sin(2 * math.pi * f * t) for f in (220, 440)])[:, None]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(80):
        output = model(audio)
        reconstruction = (output.audio_values - audio).abs().mean()
        optimizer.zero_grad()
        (reconstruction + output.commitment_loss).backward()
        optimizer.step()
        losses.append(reconstruction.item())
    assert all(math.isfinite(loss) for loss in losses)
    assert sum(losses[-5:]) / 5 < 0.75 * losses[0]
