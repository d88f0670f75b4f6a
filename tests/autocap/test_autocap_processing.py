"""AutoCapFeatureExtractor (the reference's 32 kHz HTSAT / 48 kHz CLAP log-mels) and AutoCapProcessor (metadata)."""

import logging

import numpy as np
import pytest
import torch
from transformers.audio_utils import mel_filter_bank

from hf_audiogen.audio import AudioError
from hf_audiogen.autocap import TAG_TOKENS, AutoCapFeatureExtractor, AutoCapProcessor

from factories import register_autocap_auto_classes, tiny_autocap_feature_extractor, tiny_autocap_processor

RNG = np.random.default_rng(0)


def reference_log_mel(audio, sampling_rate, n_fft, hop, n_mels, fmin, fmax):
    """The reference front-end written out with torch: torchlibrosa Spectrogram (periodic Hann, centred, reflect
    padding, power 2) + LogmelFilterBank (librosa slaney mel filters, 10 log10(max(x, 1e-10)), no top-dB)."""
    window = torch.hann_window(n_fft, dtype=torch.float64)
    spec = (
        torch.stft(
            torch.from_numpy(audio).double(),
            n_fft,
            hop,
            window=window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        ).abs()
        ** 2
    )
    filters = mel_filter_bank(
        num_frequency_bins=n_fft // 2 + 1,
        num_mel_filters=n_mels,
        min_frequency=fmin,
        max_frequency=fmax,
        sampling_rate=sampling_rate,
        norm="slaney",
        mel_scale="slaney",
    )
    mel = torch.from_numpy(filters).T @ spec  # (mels, frames)
    return (10 * torch.log10(mel.clamp(min=1e-10))).T.numpy()  # (frames, mels)


def normalised(audio, num_samples):
    audio = audio.astype(np.float64) - audio.mean()
    audio = 0.5 * audio / (np.abs(audio).max() + 1e-8)
    return np.pad(audio, (0, num_samples - len(audio)))


# ---------------------------------------------------------------------------------------------------------------------
# Feature extractor
# ---------------------------------------------------------------------------------------------------------------------
def test_default_front_end_matches_the_reference_definition():
    extractor = AutoCapFeatureExtractor()
    clip = RNG.standard_normal(32000 * 3).astype(np.float32)  # 3 s at 32 kHz: no resampling for HTSAT
    features = extractor(clip, sampling_rate=32000, return_tensors="np")
    assert features["input_features"].shape == (1, 1, 1001, 64)  # 10 s, hop 320, centred
    assert features["clap_input_features"].shape == (1, 1, 1001, 64)  # 10 s at 48 kHz, hop 480
    assert features["input_features"].dtype == np.float32
    expected = reference_log_mel(normalised(clip, 320000), 32000, 1024, 320, 64, 50, 14000)
    np.testing.assert_allclose(features["input_features"][0, 0], expected, atol=2e-3)
    # silence after the clip: -100 dB floor
    assert (features["input_features"][0, 0, 320:] == -100).all()


def test_clap_front_end_is_the_48khz_resample_of_the_prepared_clip():
    extractor = tiny_autocap_feature_extractor()
    clip = np.sin(2 * np.pi * 440 * np.arange(12000) / 16000).astype(np.float32)
    features = extractor(clip, sampling_rate=16000, return_tensors="np")
    from hf_audiogen.audio import resample

    upsampled = resample(normalised(clip, 16000).astype(np.float32), 16000, 24000)
    expected = reference_log_mel(upsampled.astype(np.float64), 24000, 256, 240, 16, 50, 10000)
    np.testing.assert_allclose(features["clap_input_features"][0, 0], expected, atol=2e-3)


def test_any_rate_is_resampled_and_long_audio_is_cut():
    extractor = tiny_autocap_feature_extractor()
    seconds = np.arange(44100 * 2) / 44100
    tone_44k = np.sin(2 * np.pi * 500 * seconds).astype(np.float32)  # 2 s: cut to the first 1 s
    tone_16k = np.sin(2 * np.pi * 500 * np.arange(16000) / 16000).astype(np.float32)
    a = extractor(tone_44k, sampling_rate=44100, return_tensors="np")["input_features"][0, 0]
    b = extractor(tone_16k, sampling_rate=16000, return_tensors="np")["input_features"][0, 0]
    assert a.shape == b.shape == (101, 16)
    loud = b > b.max() - 30  # bins within 30 dB of the peak (the tone's); elsewhere resampling noise differs
    np.testing.assert_allclose(a[loud], b[loud], atol=0.5)
    window = extractor.prepare_waveform(np.arange(40000.0), crop="random", rng=np.random.default_rng(1))
    assert window.shape == (16000,) and abs(window.max() - 0.5) < 1e-6


def test_batch_gives_the_same_features_as_single_clips():
    extractor = tiny_autocap_feature_extractor()
    clips = [RNG.standard_normal(n).astype(np.float32) for n in (4000, 16000, 9000)]
    batch = extractor(clips, sampling_rate=16000, return_tensors="pt")
    for i, clip in enumerate(clips):
        single = extractor(clip, sampling_rate=16000, return_tensors="pt")
        assert torch.equal(batch["input_features"][i], single["input_features"][0])
        assert torch.equal(batch["clap_input_features"][i], single["clap_input_features"][0])


def test_silence_is_accepted_and_stays_at_the_floor():
    features = tiny_autocap_feature_extractor()(np.zeros(8000), sampling_rate=16000, return_tensors="np")
    assert (features["input_features"] == -100).all() and (features["clap_input_features"] == -100).all()


@pytest.mark.parametrize(
    "audio,kwargs,message",
    [
        (np.zeros(0), {"sampling_rate": 16000}, "empty"),
        (np.array([0.1, np.nan, 0.2]), {"sampling_rate": 16000}, "NaN/inf"),
        ([np.zeros(10), np.zeros((2, 10))], {"sampling_rate": 16000}, r"audio\[1\] must be mono"),
        (np.zeros(100), {}, "sampling_rate is required"),
        (np.zeros(100), {"sampling_rate": 16}, "not supported"),
        ([], {"sampling_rate": 16000}, "empty list"),
    ],
)
def test_feature_extractor_rejects_bad_audio(audio, kwargs, message):
    with pytest.raises(AudioError, match=message):
        tiny_autocap_feature_extractor()(audio, **kwargs)


def test_feature_extractor_save_load_and_no_clap_variant(tmp_path):
    extractor = tiny_autocap_feature_extractor(clap_sampling_rate=None)
    extractor.save_pretrained(tmp_path)
    loaded = AutoCapFeatureExtractor.from_pretrained(tmp_path)
    assert loaded.to_dict() == extractor.to_dict() and "_frontends" not in loaded.to_dict()
    features = loaded(np.ones(100), sampling_rate=16000)
    assert set(features) == {"input_features"}


# ---------------------------------------------------------------------------------------------------------------------
# Processor: metadata
# ---------------------------------------------------------------------------------------------------------------------
def test_metadata_is_formatted_as_the_reference():
    processor = tiny_autocap_processor()
    assert processor.format_metadata({"title": "Storm", "video_caption": "dark clouds"}) == (
        "<HQVC> dark clouds </HQVC> \n <TITLE> Storm </TITLE>"
    )
    assert processor.format_metadata(None) == "<HQVC>  </HQVC> \n <TITLE>  </TITLE>"  # tags stay, empty
    everything = tiny_autocap_processor(metadata_keys=["description", "title", "labels", "video_caption"])
    assert everything.metadata_keys == ["labels", "video_caption", "title", "description"]  # the reference's order
    assert everything.format_metadata({"labels": ["Dog", "Bark"], "description": " a clip "}) == (
        "<LBL> Dog, Bark </LBL> \n <HQVC>  </HQVC> \n <TITLE>  </TITLE> \n <DESC> a clip </DESC>"
    )


@pytest.mark.parametrize(
    "metadata,message",
    [
        ({"tilte": "x"}, r"unknown metadata key 'tilte': this model reads \['video_caption', 'title'\]"),
        ({"description": "x"}, "'description' is not used by this model: it was trained with"),
        ({"title": 3}, "metadata 'title' must be a string"),
        ("a title", "metadata must be a dict"),
    ],
)
def test_bad_metadata_raises_clear_errors(metadata, message):
    with pytest.raises(ValueError, match=message):
        tiny_autocap_processor().format_metadata(metadata)


def test_metadata_ids_use_tag_ids_end_with_eos_and_are_padded():
    processor = tiny_autocap_processor()
    assert processor.tokenizer.convert_tokens_to_ids(TAG_TOKENS) == list(range(300, 312))
    encoded = processor.encode_metadata([{"title": "a dog barks"}, None])
    ids, mask = encoded["metadata_ids"], encoded["metadata_attention_mask"]
    lengths = mask.sum(1)
    assert lengths[0] > lengths[1]
    for row, length in zip(ids, lengths):
        assert int(row[length - 1]) == processor.tokenizer.eos_token_id
        assert (row[length:] == processor.tokenizer.pad_token_id).all()
    tokens = processor.tokenizer.convert_ids_to_tokens(ids[1, : lengths[1]].tolist())
    assert tokens[0] == "<HQVC>" and "<TITLE>" in tokens and "</TITLE>" in tokens
    title = processor.tokenizer.decode(ids[0, : lengths[0]], skip_special_tokens=False)
    assert "<TITLE> a dog barks </TITLE>" in title


def test_too_long_metadata_is_cut_with_a_warning(caplog):
    processor = tiny_autocap_processor(max_metadata_length=12)
    with caplog.at_level(logging.WARNING):
        encoded = processor.encode_metadata([{"title": "a dog barks " * 20}, {"title": "rain"}])
    assert "metadata of item 0 is" in caplog.text and "more than max_metadata_length=12" in caplog.text
    assert "item 1" not in caplog.text
    assert encoded["metadata_ids"].shape[1] == 13 and int(encoded["metadata_attention_mask"][0].sum()) == 13
    assert int(encoded["metadata_ids"][0, -1]) == processor.tokenizer.eos_token_id


def test_processor_call_captions_and_decoding():
    processor = tiny_autocap_processor()
    clips = [RNG.standard_normal(8000).astype(np.float32), RNG.standard_normal(3000).astype(np.float32)]
    inputs = processor(
        audio=clips, sampling_rate=8000, metadata=[{"title": "x"}, None], text=["a dog barks in the park", "rain"]
    )
    assert set(inputs) == {"input_features", "clap_input_features", "metadata_ids", "metadata_attention_mask", "labels"}
    assert inputs["input_features"].shape == (2, 1, 101, 16)
    labels = inputs["labels"]
    assert int(labels[0, 0]) == 0 and (labels[1] == -100).any()  # <s> first, padding ignored
    kept = labels[0][labels[0] != -100]
    assert processor.decode(kept) == "a dog barks in the park"
    words = processor.tokenizer("rain falls", add_special_tokens=False)["input_ids"]
    generated = torch.tensor([[2, 0, *words, 304, 2]])
    assert processor.batch_decode(generated) == ["rain falls"]  # special and tag tokens dropped
    with pytest.raises(ValueError, match="got 2 audio clip"):
        processor(audio=clips, sampling_rate=8000, metadata=[None])
    with pytest.raises(ValueError, match="one caption per clip"):
        processor(audio=clips, sampling_rate=8000, text=["only one"])


def test_processor_round_trip(tmp_path):
    register_autocap_auto_classes()
    processor = tiny_autocap_processor(metadata_keys=["title", "labels"], max_metadata_length=40)
    processor.save_pretrained(tmp_path)
    loaded = AutoCapProcessor.from_pretrained(tmp_path)
    assert loaded.metadata_keys == ["labels", "title"] and loaded.max_metadata_length == 40
    assert loaded.tag_token_offset == 300 and len(loaded.tokenizer) == 312
    assert loaded.feature_extractor.to_dict() == processor.feature_extractor.to_dict()
    clip = RNG.standard_normal(5000).astype(np.float32)
    a = processor(audio=clip, sampling_rate=16000, metadata={"title": "Storm"})
    b = loaded(audio=clip, sampling_rate=16000, metadata={"title": "Storm"})
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_processor_rejects_bad_settings():
    with pytest.raises(ValueError, match=r"unknown metadata key\(s\) \['tags'\]"):
        tiny_autocap_processor(metadata_keys=["tags"])
    with pytest.raises(ValueError, match="max_metadata_length must be a positive integer"):
        tiny_autocap_processor(max_metadata_length=0)
    tokenizer = tiny_autocap_processor().tokenizer  # has the tags already: reused as is
    assert AutoCapProcessor(tiny_autocap_feature_extractor(), tokenizer).tag_token_offset == 300
