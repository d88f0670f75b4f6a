"""AudioGenPipeline and the transformers text-to-audio entry points on a tiny model directory."""

import logging
import os
import re
from unittest import mock

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from transformers import pipeline
from transformers.pipelines import TextToAudioPipeline

from hf_audiogen.audiogen import AudioGenPipeline

from factories import (
    tiny_audiogen_model,
    tiny_audiogen_pipeline_dir,
    tiny_codec_model,
    tiny_text_tokenizer,
)

SR = 16000
FAST = {"duration": 0.1, "progress_bar": False}  # 5 codec frames


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_audiogen_pipeline_dir(tmp_path_factory.mktemp("audiogen-tiny"))


@pytest.fixture(scope="module")
def pipe(model_dir):
    return AudioGenPipeline.from_pretrained(model_dir, device="cpu")


def test_single_prompt_list_and_several_samples(pipe):
    out = pipe("a dog barks", duration=0.2, seed=0, progress_bar=False)
    assert set(out) == {"audio", "sampling_rate"}
    assert out["sampling_rate"] == SR and out["audio"].dtype == np.float32 and out["audio"].shape == (3200,)

    outs = pipe(["a dog barks", "rain falls on a tin roof"], seed=0, **FAST)
    assert isinstance(outs, list) and [o["audio"].shape for o in outs] == [(1600,), (1600,)]

    several = pipe(["a dog barks", "rain"], seed=0, num_return_sequences=2, **FAST)
    assert [[o["audio"].shape for o in per_prompt] for per_prompt in several] == [[(1600,)] * 2] * 2
    assert not np.array_equal(several[0][0]["audio"], several[0][1]["audio"])  # two different samples


def test_seeds_make_each_prompt_reproducible(pipe):
    first = pipe("a door slams", seed=3, **FAST)["audio"]
    assert np.array_equal(first, pipe("a door slams", seed=3, **FAST)["audio"])
    assert not np.array_equal(first, pipe("a door slams", seed=4, **FAST)["audio"])
    # each prompt is seeded on its own: its audio does not depend on the other prompts of the list
    in_list = pipe(["birds sing", "a door slams"], seed=3, **FAST)[1]["audio"]
    assert np.array_equal(first, in_list)
    # a generator is an alternative random source
    gen_a = pipe("a door slams", generator=torch.Generator().manual_seed(1), **FAST)["audio"]
    gen_b = pipe("a door slams", generator=torch.Generator().manual_seed(1), **FAST)["audio"]
    assert np.array_equal(gen_a, gen_b)


def test_unconditional_and_negative_prompts(pipe):
    for prompt in ("", None, ["", None]):
        out = pipe(prompt, seed=0, **FAST)
        outs = out if isinstance(out, list) else [out]
        assert all(o["audio"].shape == (1600,) for o in outs)
    assert np.array_equal(pipe("", seed=0, **FAST)["audio"], pipe(None, seed=0, **FAST)["audio"])
    plain = pipe("rain", seed=0, **FAST)["audio"]
    negative = pipe("rain", negative_prompt="a dog barks", seed=0, **FAST)["audio"]
    assert negative.shape == plain.shape and not np.array_equal(plain, negative)


def test_audio_prompt_is_continued(pipe, tmp_path):
    rng = np.random.default_rng(0)
    prompt = (0.1 * rng.standard_normal(4000)).astype(np.float32)  # 0.5 s at 8 kHz
    out = pipe("rain", audio_prompt=(prompt, 8000), seed=0, **FAST)
    assert out["audio"].shape == (8000 + 1600,)  # prompt (at 16 kHz) + 0.1 s of new audio
    # a file and a datasets-style dict give the same result
    path = tmp_path / "prompt.wav"
    sf.write(path, prompt, 8000, subtype="FLOAT")
    assert np.array_equal(pipe("rain", audio_prompt=str(path), seed=0, **FAST)["audio"], out["audio"])
    as_dict = pipe("rain", audio_prompt={"array": prompt, "sampling_rate": 8000}, seed=0, **FAST)["audio"]
    assert np.array_equal(as_dict, out["audio"])


def test_continuation_keeps_the_users_own_prompt_samples(pipe):
    from hf_audiogen.audio import resample
    from hf_audiogen.audiogen.pipeline_audiogen import PROMPT_CROSSFADE_SECONDS

    rng = np.random.default_rng(1)
    prompt = (0.3 * rng.standard_normal(8000)).astype(np.float32)  # 0.5 s at 16 kHz: no resampling
    kept = pipe("rain", audio_prompt=(prompt, 16000), seed=0, **FAST)["audio"]
    codec = pipe("rain", audio_prompt=(prompt, 16000), seed=0, keep_original_prompt=False, **FAST)["audio"]
    fade = int(PROMPT_CROSSFADE_SECONDS * 16000)
    np.testing.assert_array_equal(kept[: 8000 - fade], prompt[: 8000 - fade])  # the user's samples, untouched
    np.testing.assert_array_equal(kept[8000:], codec[8000:])  # the continuation is the same generation
    # across the cross-fade the output moves from the original to the reconstruction, never outside both
    low, high = (
        np.minimum(prompt[-fade:], codec[8000 - fade : 8000]),
        np.maximum(prompt[-fade:], codec[8000 - fade : 8000]),
    )
    assert np.all((kept[8000 - fade : 8000] >= low - 1e-6) & (kept[8000 - fade : 8000] <= high + 1e-6))
    assert not np.allclose(codec[:8000], prompt)  # the old behaviour: the codec's (different) reconstruction
    # a prompt at another rate comes back resampled to the model's rate
    at_8k = pipe("rain", audio_prompt=(prompt[:4000], 8000), seed=0, **FAST)["audio"]
    expected = resample(prompt[:4000], 8000, 16000)
    np.testing.assert_allclose(at_8k[: 8000 - fade], expected[: 8000 - fade], atol=1e-6)


def test_save_and_reload_gives_identical_outputs(pipe, tmp_path):
    pipe.save_pretrained(tmp_path)
    assert {
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "processor_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    } <= set(os.listdir(tmp_path))
    assert not list(tmp_path.glob("*.py"))  # no remote-code copy of the pipeline module
    reloaded = AudioGenPipeline.from_pretrained(tmp_path)
    for prompt in ("a dog barks", ""):
        assert np.array_equal(reloaded(prompt, seed=5, **FAST)["audio"], pipe(prompt, seed=5, **FAST)["audio"])


def test_transformers_pipeline_entry_points(model_dir, pipe):
    reference = pipe("a dog barks", seed=0, duration=0.2, progress_bar=False)["audio"]

    builtin = pipeline("text-to-audio", model=str(model_dir), device="cpu")  # AudioGenPipeline since hf_audiogen
    assert type(builtin) is AudioGenPipeline and builtin.sampling_rate == SR
    out = builtin("a dog barks", generate_kwargs={"duration": 0.2, "seed": 0, "progress_bar": False})
    assert out["sampling_rate"] == SR and np.array_equal(out["audio"], reference)
    outs = builtin(["a dog barks", "rain"], generate_kwargs={"duration": 0.1, "seed": 0, "progress_bar": False})
    assert [o["audio"].shape for o in outs] == [(1600,), (1600,)]

    custom = pipeline("audiogen-text-to-audio", model=str(model_dir), device="cpu")
    assert isinstance(custom, AudioGenPipeline)
    assert np.array_equal(custom("a dog barks", seed=0, duration=0.2, progress_bar=False)["audio"], reference)


def test_long_prompts_are_truncated_with_a_warning(pipe, caplog):
    limit = pipe.tokenizer.model_max_length
    pipe.tokenizer.model_max_length = 4
    try:
        with caplog.at_level(logging.WARNING, logger="hf_audiogen.audiogen.pipeline_audiogen"):
            long = pipe("a dog barks in the park while rain falls", seed=0, **FAST)["audio"]
        assert "more than the text encoder's limit of 4" in caplog.text
        short = pipe("a dog barks in", seed=0, **FAST)["audio"]  # the first 3 words + </s> = 4 tokens
    finally:
        pipe.tokenizer.model_max_length = limit
    assert np.array_equal(long, short)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((123,), {}, "prompt must be a string or a list of strings"),
        ((["rain", 5],), {}, "prompt[1] must be a string"),
        (([],), {}, "prompt is an empty list"),
        (("rain",), {"duration": 0}, "duration must be a finite number in (0, 600]"),
        (("rain",), {"duration": -1.0}, "duration must be a finite number in (0, 600]"),
        (("rain",), {"duration": 1e6}, "duration must be a finite number in (0, 600]"),
        (("rain",), {"duration": "5"}, "duration must be a finite number"),
        (("rain",), {"duration": 0.001}, "shorter than one codec frame"),
        (("rain",), {"guidance_scale": -1.0}, "guidance_scale must be a finite number >= 0"),
        (("rain",), {"top_p": 0.0}, "top_p must be a finite number in (0, 1]"),
        (("rain",), {"top_p": 1.5}, "top_p must be a finite number in (0, 1]"),
        (("rain",), {"temperature": 0.0}, "temperature must be a finite number > 0"),
        (("rain",), {"top_k": -2}, "top_k must be an integer >= 0"),
        (("rain",), {"num_return_sequences": 0}, "num_return_sequences must be an integer in [1, 64]"),
        (("rain",), {"seed": 1, "generator": torch.Generator()}, "either seed or generator"),
        (("rain",), {"seed": "1"}, "seed must be an integer"),
        (("rain",), {"negative_prompt": 3}, "negative_prompt must be a string"),
        (("rain",), {"batch_size": 4}, "batch_size=4 is not supported"),
        (("rain",), {"audio_prompt": (np.zeros(1000), 8)}, "not supported: expected an integer between"),
        (("rain",), {"audio_prompt": (np.zeros((2, 1000)), 16000)}, "audio_prompt must be mono"),
        (("rain",), {"audio_prompt": (np.zeros(100), 16000)}, "shorter than one codec frame"),
        (("rain",), {"audio_prompt": "no/such/file.wav"}, "does not exist"),
        (("rain",), {"audio_prompt": 5}, "audio_prompt must be a file path, an (audio, sampling_rate) pair"),
    ],
)
def test_bad_inputs_raise_clear_value_errors(pipe, args, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        pipe(*args, **{"progress_bar": False, **kwargs})


def test_from_pretrained_converts_an_audiocraft_directory(tmp_path, caplog):
    from reference_audiocraft import _audiocraft_state_dict, _to_audiocraft_layout, _xp_cfg, _xp_cfg_dict

    model = tiny_audiogen_model(seed=3)
    directory = tmp_path / "audiocraft"
    directory.mkdir()
    torch.save(
        {"best_state": _audiocraft_state_dict(model), "xp.cfg": yaml.safe_dump(_xp_cfg_dict(model))},
        directory / "state_dict.bin",
    )
    codec = tiny_codec_model(seed=1, num_quantizers=2)
    torch.save(
        {"best_state": _to_audiocraft_layout(codec), "xp.cfg": _xp_cfg().replace("n_q: 3", "n_q: 2")},
        directory / "compression_state_dict.bin",
    )
    text_dir = tmp_path / "t5"
    model.text_encoder.save_pretrained(text_dir)
    tiny_text_tokenizer().save_pretrained(text_dir)

    with caplog.at_level(logging.WARNING, logger="hf_audiogen.audiogen.pipeline_audiogen"):
        converted = AudioGenPipeline.from_pretrained(directory, text_encoder=str(text_dir))
    assert "is an audiocraft checkpoint" in caplog.text and "converting it" in caplog.text
    assert torch.equal(converted.model.decoder.linears[0].weight, model.decoder.linears[0].weight)
    assert converted("a dog barks", seed=0, **FAST)["audio"].shape == (1600,)
    converted.save_pretrained(tmp_path / "converted")  # then it loads like any other directory
    again = AudioGenPipeline.from_pretrained(tmp_path / "converted")
    assert np.array_equal(again("rain", seed=1, **FAST)["audio"], converted("rain", seed=1, **FAST)["audio"])


def test_push_to_hub_uploads_a_complete_directory(pipe):
    seen = {}

    def fake_push(folder, repo_id, **kwargs):
        seen.update(files=set(os.listdir(folder)), repo_id=repo_id, kwargs=kwargs)
        return f"https://huggingface.co/{repo_id}/commit/abc"

    with mock.patch("hf_audiogen.hub.push_to_hub", side_effect=fake_push):
        url = pipe.push_to_hub("me/audiogen-tiny", private=True, token="hf_fake")
    assert url.endswith("/commit/abc") and seen["repo_id"] == "me/audiogen-tiny"
    assert {"config.json", "model.safetensors", "processor_config.json", "tokenizer.json"} <= seen["files"]
    assert seen["kwargs"]["private"] is True and seen["kwargs"]["token"] == "hf_fake"


def test_pipeline_needs_an_audiogen_model_and_a_processor(pipe):
    with pytest.raises(ValueError, match="needs an AudioGenForConditionalGeneration"):
        AudioGenPipeline(model=torch.nn.Linear(2, 2), processor=pipe.processor)
    with pytest.raises(ValueError, match="needs an AudioGenProcessor"):
        AudioGenPipeline(model=pipe.model, processor=None)


def test_transformers_text_to_audio_task_builds_audiogen_pipeline_for_audiogen_only(model_dir):
    # pipeline("text-to-audio") gives AudioGenPipeline (duration=, seed=) for an AudioGen model...
    from transformers import (
        EncodecConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        T5Config,
    )

    from factories import tiny_text_tokenizer

    tta = pipeline("text-to-audio", model=model_dir)
    assert type(tta) is AudioGenPipeline
    assert tta("rain", seed=0, **FAST)["audio"].shape == (1600,)
    # ... while any other model (here a tiny random MusicGen) still gets transformers' own TextToAudioPipeline
    tokenizer = tiny_text_tokenizer()
    config = MusicgenConfig(
        text_encoder=T5Config(
            vocab_size=len(tokenizer), d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8
        ).to_dict(),
        audio_encoder=EncodecConfig(
            num_filters=4,
            hidden_size=8,
            codebook_size=16,
            codebook_dim=8,
            upsampling_ratios=[4, 4],
            num_residual_layers=1,
            num_lstm_layers=1,
            target_bandwidths=[5.0],
            sampling_rate=8000,  # 1 codebook
        ).to_dict(),
        decoder=MusicgenDecoderConfig(
            vocab_size=16,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            ffn_dim=32,
            num_codebooks=1,
            max_position_embeddings=64,
            pad_token_id=16,
            bos_token_id=16,
        ).to_dict(),
    )
    musicgen = MusicgenForConditionalGeneration(config).eval()
    other = pipeline("text-to-audio", model=musicgen, tokenizer=tokenizer)
    assert type(other) is TextToAudioPipeline and not isinstance(other, AudioGenPipeline)
    out = other("rain", forward_params={"max_new_tokens": 4, "do_sample": False})
    assert out["audio"].size > 0 and out["sampling_rate"] == 8000
