"""AudioGenProcessor: text + audio preparation, empty prompts, batch_decode trimming, save/load and Auto loading."""

import re

import numpy as np
import pytest
import torch
from transformers import AutoProcessor

from hf_audiogen.audiogen import AudioGenProcessor

from factories import tiny_audiogen_config, tiny_audiogen_processor, tiny_text_tokenizer


def test_text_and_audio_are_prepared_together():
    processor = tiny_audiogen_processor()
    audio = [np.ones(8000, dtype=np.float32) * 0.1, np.ones(4000, dtype=np.float32) * 0.1]
    batch = processor(text=["a dog barks in the park", "rain"], audio=audio, sampling_rate=8000, return_tensors="pt")

    expected = tiny_text_tokenizer()(["a dog barks in the park", "rain"], padding=True, return_tensors="pt")
    assert torch.equal(batch["input_ids"], expected["input_ids"])
    assert torch.equal(batch["attention_mask"], expected["attention_mask"])
    # 8 kHz -> 16 kHz: 1 s and 0.5 s, padded to the longest
    assert batch["input_values"].shape == (2, 1, 16000)
    assert batch["padding_mask"].sum(dim=-1).tolist() == [16000, 8000]
    assert processor.sampling_rate == 16000


def test_empty_prompt_gets_an_all_zero_attention_mask():
    processor = tiny_audiogen_processor()
    batch = processor(text=["a dog barks", "", "   "], return_tensors="pt")
    assert batch["attention_mask"][0].sum() > 0
    assert batch["attention_mask"][1:].sum() == 0  # the model reads these rows as the null condition
    single = processor(text="")
    assert single["attention_mask"] == [0] * len(single["input_ids"])
    lists = processor(text=["rain", ""])
    assert lists["attention_mask"][1] == [0] * len(lists["input_ids"][1]) and sum(lists["attention_mask"][0]) > 0


def test_normalize_text_applies_the_paper_preprocessing():
    processor = tiny_audiogen_processor(normalize_text=True)
    normalized = processor(text=["A dog is barking in 2 parks"], return_tensors="pt")
    plain = tiny_audiogen_processor()(text=["dog bark park"], return_tensors="pt")
    assert torch.equal(normalized["input_ids"], plain["input_ids"])


def test_batch_decode_trims_prompt_padding_and_keeps_generated_audio():
    processor = tiny_audiogen_processor()
    prompts = processor(
        audio=[np.ones(300, np.float32), np.ones(100, np.float32)], sampling_rate=16000, return_tensors="pt"
    )
    generated = 50
    audio_values = torch.arange(2 * (300 + generated), dtype=torch.float32).reshape(2, 1, 300 + generated)
    decoded = processor.batch_decode(audio_values, padding_mask=prompts["padding_mask"])
    assert [d.shape for d in decoded] == [(1, 350), (1, 150)]
    # the second example lost its 200 padded prompt samples (100..299), nothing else
    expected = np.concatenate([audio_values[1, 0, :100].numpy(), audio_values[1, 0, 300:].numpy()])
    np.testing.assert_array_equal(decoded[1][0], expected)
    np.testing.assert_array_equal(decoded[0], audio_values[0].numpy())
    # without a mask nothing is cut; numpy input works too
    assert [d.shape for d in processor.batch_decode(audio_values.numpy())] == [(1, 350), (1, 350)]


def test_batch_decode_of_token_ids_is_the_tokenizers():
    processor = tiny_audiogen_processor()
    ids = processor(text=["a dog barks"], return_tensors="pt")["input_ids"]
    assert processor.batch_decode(ids, skip_special_tokens=True) == ["a dog barks"]


def test_save_and_load_round_trip(tmp_path):
    processor = tiny_audiogen_processor(normalize_text=True)
    processor.save_pretrained(tmp_path)
    loaded = AudioGenProcessor.from_pretrained(tmp_path)
    assert loaded.normalize_text is True
    assert loaded.feature_extractor.to_dict() == processor.feature_extractor.to_dict()
    text = ["a car passes by", "birds sing"]
    assert loaded(text=text)["input_ids"] == processor(text=text)["input_ids"]

    # AutoProcessor finds the class through the AudioGen config of the directory (registered on import).
    tiny_audiogen_config().save_pretrained(tmp_path)
    auto = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(auto, AudioGenProcessor) and auto.sampling_rate == 16000


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "needs text=..., audio=... or both"),
        ({"text": 3}, "text must be a string or a list of strings, got int"),
        ({"text": ["ok", None]}, "text must be a string or a list of strings"),
        ({"text": []}, "text is an empty list"),
        ({"text": "rain", "sampling_rate": 16000}, "sampling_rate=16000 was given without audio"),
        ({"text": ["a", "b"], "audio": [np.zeros(100)], "sampling_rate": 16000}, "2 text prompt(s) but 1 audio"),
        ({"audio": np.zeros(100)}, "needs the sampling_rate"),
    ],
)
def test_bad_inputs_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        tiny_audiogen_processor()(**kwargs)


def test_normalize_text_must_be_a_bool():
    with pytest.raises(ValueError, match="normalize_text must be True or False, got 'yes'"):
        AudioGenProcessor(tiny_audiogen_processor().feature_extractor, tiny_text_tokenizer(), normalize_text="yes")


def test_batch_decode_rejects_mismatched_padding_mask():
    processor = tiny_audiogen_processor()
    with pytest.raises(ValueError, match=r"padding_mask must have shape \(batch=2, samples\)"):
        processor.batch_decode(torch.zeros(2, 1, 10), padding_mask=torch.ones(3, 10))
