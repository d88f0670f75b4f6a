"""Tests of the codec feature extractor (hf_audiogen.codec.feature_extraction_codec)."""

import numpy as np
import pytest
import torch
from transformers import AutoFeatureExtractor

import hf_audiogen  # noqa: F401  (registers the Auto classes)
from hf_audiogen.audio import AudioError
from hf_audiogen.codec import CodecFeatureExtractor

from factories import tiny_codec_config


@pytest.fixture
def fe():
    return CodecFeatureExtractor(sampling_rate=16000)


def test_batch_is_padded_with_a_mask(fe):
    rng = np.random.default_rng(0)
    short, long = rng.uniform(-0.5, 0.5, 1000).astype(np.float32), rng.uniform(-0.5, 0.5, 1600)
    batch = fe([short, torch.from_numpy(long), list(short[:10])], sampling_rate=16000, return_tensors="pt")
    values, mask = batch["input_values"], batch["padding_mask"]
    assert values.shape == (3, 1, 1600) and values.dtype == torch.float32
    assert mask.shape == (3, 1600)
    assert mask.sum(1).tolist() == [1000, 1600, 10]
    np.testing.assert_array_equal(values[0, 0, :1000].numpy(), short)
    assert not values[0, 0, 1000:].any() and not values[2, 0, 10:].any()
    np.testing.assert_allclose(values[1, 0].numpy(), long.astype(np.float32))


def test_single_waveforms_and_3d_batches(fe):
    one = fe(np.zeros(500, dtype=np.float32), sampling_rate=16000, return_tensors="pt")
    assert one["input_values"].shape == (1, 1, 500)
    from_list = fe([0.1, 0.2, -0.3], sampling_rate=16000, return_tensors="np")
    np.testing.assert_allclose(from_list["input_values"], np.array([[[0.1, 0.2, -0.3]]], dtype=np.float32))
    batch = fe(torch.zeros(4, 1, 320, dtype=torch.bfloat16), sampling_rate=16000, return_tensors="pt")
    assert batch["input_values"].shape == (4, 1, 320) and batch["input_values"].dtype == torch.float32
    lists = fe([[0.1, 0.2], [0.3]], sampling_rate=16000, return_tensors="pt")  # a list of lists is a batch
    assert lists["input_values"].shape == (2, 1, 2) and lists["padding_mask"].tolist() == [[1, 1], [1, 0]]


def test_resampling_to_the_codec_rate(fe):
    t = np.arange(44100) / 44100
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    batch = fe([tone, tone[:22050]], sampling_rate=44100, return_tensors="pt")
    assert batch["input_values"].shape == (2, 1, 16000)
    assert batch["padding_mask"].sum(1).tolist() == [16000, 8000]
    expected = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    np.testing.assert_allclose(batch["input_values"][0, 0, 100:-100].numpy(), expected[100:-100], atol=2e-3)


def test_integer_pcm_is_scaled(fe):
    pcm = np.array([0, 16384, -32768], dtype=np.int16)
    values = fe(pcm, sampling_rate=16000, return_tensors="pt")["input_values"]
    torch.testing.assert_close(values[0, 0], torch.tensor([0.0, 0.5, -1.0]))


def test_stereo_is_rejected_or_downmixed(fe):
    stereo = np.stack([np.full(100, 0.2), np.full(100, 0.4)]).astype(np.float32)
    with pytest.raises(AudioError, match="2 channels.*mono='mean'"):
        fe(stereo, sampling_rate=16000)
    mixed = fe(stereo, sampling_rate=16000, mono="mean", return_tensors="pt")["input_values"]
    torch.testing.assert_close(mixed, torch.full((1, 1, 100), 0.3))
    first = CodecFeatureExtractor(mono="first")(stereo, sampling_rate=16000, return_tensors="pt")["input_values"]
    torch.testing.assert_close(first, torch.full((1, 1, 100), 0.2))


@pytest.mark.parametrize(
    "audio, message",
    [
        (np.zeros(0, dtype=np.float32), "empty"),
        ([], "empty list"),
        (np.array([0.1, np.nan, 0.2]), "NaN/inf"),
        (np.array([0.1, np.inf]), "NaN/inf"),
        (np.array(["a", "b"]), "must hold numbers"),
        (np.array([1 + 1j, 2j]), "must hold numbers"),
        (np.zeros((2, 2, 2, 2)), "shape"),
        ("dog.wav", "numpy array, torch tensor or a list"),
        ({"array": np.zeros(3)}, "numpy array, torch tensor or a list"),
        ([np.zeros(3), "x"], r"raw_audio\[1\]"),
        ([[[0.1, 0.2], [0.3]]], "ragged"),  # one waveform whose two channels differ in length
    ],
)
def test_bad_audio_is_rejected(fe, audio, message):
    with pytest.raises(ValueError, match=message):
        fe(audio, sampling_rate=16000)


@pytest.mark.parametrize(
    "rate, message",
    [(None, "needs the sampling_rate"), (0, "not supported"), (-16000, "not supported"), ("16k", "samples per second")],
)
def test_bad_sampling_rate_is_rejected(fe, rate, message):
    with pytest.raises(ValueError, match=message):
        fe(np.zeros(10, dtype=np.float32), sampling_rate=rate)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="mono must be one of"):
        CodecFeatureExtractor(mono="left")
    with pytest.raises(ValueError, match="feature_size"):
        CodecFeatureExtractor(feature_size=0)
    with pytest.raises(ValueError, match="not supported"):
        CodecFeatureExtractor(sampling_rate=-1)


def test_save_load_round_trip(tmp_path):
    fe = CodecFeatureExtractor(sampling_rate=24000, mono="mean")
    fe.save_pretrained(tmp_path)
    tiny_codec_config(sampling_rate=24000).save_pretrained(tmp_path)
    for loaded in (CodecFeatureExtractor.from_pretrained(tmp_path), AutoFeatureExtractor.from_pretrained(tmp_path)):
        assert isinstance(loaded, CodecFeatureExtractor)
        assert (loaded.sampling_rate, loaded.mono, loaded.feature_size) == (24000, "mean", 1)
