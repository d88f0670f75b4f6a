"""Hostile inputs: no input crashes, hangs, or silently misleads.

Every case gives one bad value to a user-facing entry point (a pipeline's ``__call__``, ``model.generate``, a feature
extractor's ``__call__`` or constructor, ``from_pretrained``) and checks that it fails before any heavy work with the
expected error type and a one-line message that names the bad value and what is allowed (not the exact wording).
Then the fixes that are behaviours rather than errors: long audio prompts are cut to what the model reads before they
are encoded, numpy scalars are accepted, and real saved models keep loading under the strict loader.
"""

import json
import math
import time

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file, save_file

from hf_audiogen.audio import AudioError
from hf_audiogen.audiogen import AudioGenForConditionalGeneration, AudioGenPipeline
from hf_audiogen.autocap import AutoCapForConditionalGeneration, AutoCapPipeline
from hf_audiogen.codec import CodecFeatureExtractor, CodecModel
from hf_audiogen.codec.reconstruct import reconstruct_file
from hf_audiogen.genau import AutoencoderKL1D, FiTTransformer1DModel, GenAUMelFeatureExtractor
from hf_audiogen.loading import IncompatibleCheckpointError
from hf_audiogen.validation import InvalidInputError

from factories import (
    register_autocap_auto_classes,
    tiny_audiogen_pipeline_dir,
    tiny_autocap_feature_extractor,
    tiny_autocap_model,
    tiny_autocap_processor,
    tiny_codec_model,
    tiny_genau_pipeline,
)

NAN, INF = float("nan"), float("inf")
SR = 16000


# ----------------------------------------------------------------------------------------------------------------------
# Fixtures: tiny models (module scope: built once)
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    """Saved tiny models of every family: {"audiogen", "codec", "autocap", "genau"} -> directory."""
    root = tmp_path_factory.mktemp("models")
    register_autocap_auto_classes()
    tiny_audiogen_pipeline_dir(root / "audiogen")
    tiny_codec_model().save_pretrained(root / "codec")
    tiny_autocap_model().save_pretrained(root / "autocap")
    tiny_autocap_processor().save_pretrained(root / "autocap")
    tiny_genau_pipeline().save_pretrained(root / "genau")
    return {name: root / name for name in ("audiogen", "codec", "autocap", "genau")}


@pytest.fixture(scope="module")
def audiogen(dirs):
    return AudioGenPipeline.from_pretrained(dirs["audiogen"], device="cpu")


@pytest.fixture(scope="module")
def genau():
    pipe = tiny_genau_pipeline()
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def autocap(dirs):
    return AutoCapPipeline.from_pretrained(dirs["autocap"], device="cpu")


def _noise(seconds: float, rate: int = SR, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * rate))).astype(np.float32)


def _with_nan(audio: np.ndarray) -> np.ndarray:
    audio = audio.copy()
    audio[len(audio) // 2] = np.nan
    return audio


def _check_error(info, needles):
    """The error is one line and names the bad value and the allowed range (each needle is a substring)."""
    message = str(info.value)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


# ----------------------------------------------------------------------------------------------------------------------
# AudioGenPipeline.__call__
# ----------------------------------------------------------------------------------------------------------------------
AUDIOGEN_CALL_CASES = {
    "duration nan": (dict(duration=NAN), InvalidInputError, ["nan", "(0, 600]"]),
    "duration inf": (dict(duration=INF), InvalidInputError, ["inf", "(0, 600]"]),
    "duration negative": (dict(duration=-1.0), InvalidInputError, ["-1", "(0, 600]"]),
    "duration too long": (dict(duration=601), InvalidInputError, ["601", "(0, 600]"]),
    "duration below a frame": (dict(duration=0.001), InvalidInputError, ["0.001", "[0.02, 600]"]),
    "duration string": (dict(duration="5"), InvalidInputError, ["'5'", "(0, 600]"]),
    "guidance nan": (dict(guidance_scale=NAN), InvalidInputError, ["nan", ">= 0"]),
    "guidance inf": (dict(guidance_scale=INF), InvalidInputError, ["inf", ">= 0"]),
    "temperature nan": (dict(temperature=NAN), InvalidInputError, ["nan", "> 0"]),
    "temperature zero": (dict(temperature=0.0), InvalidInputError, ["got 0", "> 0"]),
    "top_p nan": (dict(top_p=NAN), InvalidInputError, ["nan", "(0, 1]"]),
    "top_p above one": (dict(top_p=1.5), InvalidInputError, ["1.5", "(0, 1]"]),
    "top_k negative": (dict(top_k=-1), InvalidInputError, ["-1", ">= 0"]),
    "top_k float": (dict(top_k=2.5), InvalidInputError, ["2.5", "integer >= 0"]),
    "num_return_sequences too many": (dict(num_return_sequences=65), InvalidInputError, ["65", "[1, 64]"]),
    "num_return_sequences huge": (dict(num_return_sequences=10**9), InvalidInputError, ["1000000000", "[1, 64]"]),
    "num_return_sequences zero": (dict(num_return_sequences=0), InvalidInputError, ["got 0", "[1, 64]"]),
    "extend_stride nan": (dict(generate_kwargs={"extend_stride": NAN}), InvalidInputError, ["nan", "[0.02, 1)"]),
    "max_new_tokens huge": (
        dict(duration=None, generate_kwargs={"max_new_tokens": 10**9}),
        InvalidInputError,
        ["1000000000", "[1, 30000]"],
    ),
    "seed negative": (dict(seed=-1), InvalidInputError, ["-1", "[0, 2**64 - 1]"]),
    "seed float": (dict(seed=1.5), InvalidInputError, ["1.5", "integer"]),
    "do_sample string": (dict(do_sample="yes"), InvalidInputError, ["'yes'", "True, False"]),
    "progress_bar string": (dict(progress_bar="no"), InvalidInputError, ["'no'", "True, False"]),
    "unknown argument": (dict(num_inference_steps=10), InvalidInputError, ["num_inference_steps", "allowed"]),
    "generate_kwargs not a dict": (dict(generate_kwargs=[1]), InvalidInputError, ["[1]", "dict"]),
    "audio prompt nan": (dict(audio_prompt=(_with_nan(_noise(0.5)), SR)), AudioError, ["NaN"]),
    "audio prompt rate nan": (dict(audio_prompt=(_noise(0.5), NAN)), AudioError, ["nan", "1000", "384000"]),
    "audio prompt rate zero": (dict(audio_prompt=(_noise(0.5), 0)), AudioError, ["=0", "1000", "384000"]),
    "audio prompt empty": (dict(audio_prompt=(np.zeros(0, np.float32), SR)), AudioError, ["empty"]),
    "audio prompt 3-D": (dict(audio_prompt=(np.zeros((1, 1, 800), np.float32), SR)), AudioError, ["(1, 1, 800)"]),
    "audio prompt stereo": (dict(audio_prompt=(np.zeros((2, 800), np.float32), SR)), AudioError, ["(2, 800)", "mono"]),
}


@pytest.mark.parametrize("kwargs, error, needles", AUDIOGEN_CALL_CASES.values(), ids=AUDIOGEN_CALL_CASES.keys())
def test_audiogen_pipeline_refuses(audiogen, kwargs, error, needles):
    kwargs = {"duration": 0.1, "progress_bar": False, **kwargs}
    if kwargs["duration"] is None:
        del kwargs["duration"]
    with pytest.raises(error) as info:
        audiogen("rain", **kwargs)
    _check_error(info, needles)


def test_audiogen_pipeline_refuses_too_many_prompts(audiogen):
    with pytest.raises(InvalidInputError) as info:
        audiogen(["rain"] * 257, duration=0.1, progress_bar=False)
    _check_error(info, ["257", "[1, 256]"])


# ----------------------------------------------------------------------------------------------------------------------
# AudioGenForConditionalGeneration.generate
# ----------------------------------------------------------------------------------------------------------------------
IDS = torch.tensor([[5, 6, 7, 1]])
GENERATE_CASES = {
    "duration nan": (dict(duration=NAN), InvalidInputError, ["nan", "(0, 600]"]),
    "temperature inf": (dict(temperature=INF), InvalidInputError, ["inf", "> 0"]),
    "top_p zero": (dict(top_p=0.0), InvalidInputError, ["got 0", "(0, 1]"]),
    "guidance negative": (dict(guidance_scale=-0.5), InvalidInputError, ["-0.5", ">= 0"]),
    "guidance nan": (dict(guidance_scale=NAN), InvalidInputError, ["nan", ">= 0"]),
    "num_return_sequences 100": (dict(num_return_sequences=100), InvalidInputError, ["100", "[1, 64]"]),
    "max_new_frames zero": (dict(max_new_frames=0), InvalidInputError, ["got 0", "[1, 30000]"]),
    "max_new_frames float": (dict(max_new_frames=1.5), InvalidInputError, ["1.5", "[1, 30000]"]),
    "do_sample string": (dict(do_sample="no"), InvalidInputError, ["'no'", "True, False"]),
    "rows per call": (
        dict(input_ids=IDS.repeat(5, 1), num_return_sequences=60),
        InvalidInputError,
        ["300", "[1, 256]"],
    ),
    "audio prompt nan": (dict(input_values=torch.full((1, 1, 800), NAN)), InvalidInputError, ["NaN"]),
    "audio codes too long": (
        dict(audio_codes=torch.zeros(1, 2, 30_001, dtype=torch.long)),
        InvalidInputError,
        ["30001", "30000"],
    ),
    "unknown argument": (dict(num_beams=3), ValueError, ["num_beams", "supported"]),
}


@pytest.mark.parametrize("kwargs, error, needles", GENERATE_CASES.values(), ids=GENERATE_CASES.keys())
def test_audiogen_generate_refuses(audiogen, kwargs, error, needles):
    kwargs = {"input_ids": IDS, "progress_bar": False, **kwargs}
    if "duration" not in kwargs:
        kwargs.setdefault("max_new_frames", 2)
    with pytest.raises(error) as info:
        audiogen.model.generate(**kwargs)
    _check_error(info, needles)


# ----------------------------------------------------------------------------------------------------------------------
# GenAUPipeline.__call__
# ----------------------------------------------------------------------------------------------------------------------
GENAU_CASES = {
    "length nan": (dict(audio_length_in_s=NAN), ["nan", "(0, 2.56]"]),
    "length inf": (dict(audio_length_in_s=INF), ["inf", "(0, 2.56]"]),
    "length too long": (dict(audio_length_in_s=10.0), ["got 10", "(0, 2.56]"]),
    "guidance nan": (dict(guidance_scale=NAN), ["nan", ">= 0"]),
    "guidance -inf": (dict(guidance_scale=-INF), ["-inf", ">= 0"]),
    "eta nan": (dict(eta=NAN), ["nan", "[0, 1]"]),
    "eta above one": (dict(eta=2.0), ["got 2", "[0, 1]"]),
    "steps = schedule length": (dict(num_inference_steps=1000), ["1000", "[1, 999]"]),
    "steps huge": (dict(num_inference_steps=10**6), ["1000000", "[1, 1000]"]),
    "steps zero": (dict(num_inference_steps=0), ["got 0", "[1, 1000]"]),
    "steps float": (dict(num_inference_steps=2.0), ["2.0", "[1, 1000]"]),
    "waveforms too many": (dict(num_waveforms_per_prompt=65), ["65", "[1, 64]"]),
    "candidates too many": (dict(num_candidates_per_prompt=65), ["65", "[1, 64]"]),
    "candidates below waveforms": (dict(num_waveforms_per_prompt=3, num_candidates_per_prompt=2), ["got 2", "[3, 64]"]),
    "prompts too many": (dict(prompt=["rain"] * 257), ["257", "[1, 256]"]),
    "prompts x waveforms": (dict(prompt=["rain"] * 10, num_waveforms_per_prompt=30), ["300", "[1, 256]"]),
    "output_type": (dict(output_type="wav"), ["'wav'", "'np'", "'latent'"]),
    "latents nan": (dict(latents=torch.full((1, 8, 8), NAN)), ["NaN"]),
}


@pytest.mark.parametrize("kwargs, needles", GENAU_CASES.values(), ids=GENAU_CASES.keys())
def test_genau_pipeline_refuses(genau, kwargs, needles):
    kwargs = {"prompt": "rain", "num_inference_steps": 2, "audio_length_in_s": 0.32, **kwargs}
    with pytest.raises(InvalidInputError) as info:
        genau(**kwargs)
    _check_error(info, needles)


def test_genau_refusal_leaves_the_pipeline_usable(genau):
    """A refused call changes nothing: the next good call gives what it gave before."""
    run = dict(num_inference_steps=2, audio_length_in_s=0.32, output_type="latent")
    before = genau("rain", generator=torch.Generator().manual_seed(0), **run).audios
    with pytest.raises(InvalidInputError):
        genau("rain", **{**run, "num_inference_steps": 1000})
    after = genau("rain", generator=torch.Generator().manual_seed(0), **run).audios
    assert torch.equal(before, after)
    assert genau._timesteps_fit(999) and not genau._timesteps_fit(1000)


# ----------------------------------------------------------------------------------------------------------------------
# AutoCapPipeline.__call__
# ----------------------------------------------------------------------------------------------------------------------
AUTOCAP_CASES = {
    "num_beams zero": (dict(num_beams=0), InvalidInputError, ["got 0", "[1, 64]"]),
    "num_beams huge": (dict(num_beams=1000), InvalidInputError, ["1000", "[1, 64]"]),
    "num_return_sequences too many": (
        dict(num_return_sequences=65, do_sample=True),
        InvalidInputError,
        ["65", "[1, 64]"],
    ),
    "max_new_tokens huge": (dict(max_new_tokens=10**6), InvalidInputError, ["1000000", "[1, "]),
    "min above max tokens": (dict(min_new_tokens=9, max_new_tokens=3), InvalidInputError, ["9", "max_new_tokens=3"]),
    "temperature nan": (dict(temperature=NAN, do_sample=True), InvalidInputError, ["nan", "> 0"]),
    "top_p nan": (dict(top_p=NAN, do_sample=True), InvalidInputError, ["nan", "(0, 1]"]),
    "repetition_penalty inf": (dict(repetition_penalty=INF), InvalidInputError, ["inf", "> 0"]),
    "no_repeat_ngram_size negative": (dict(no_repeat_ngram_size=-2), InvalidInputError, ["-2", ">= 0"]),
    "batch_size huge": (dict(batch_size=10**6), InvalidInputError, ["1000000", "[1, 256]"]),
    "seed negative": (dict(seed=-3), InvalidInputError, ["-3", "[0, 2**64 - 1]"]),
    "do_sample string": (dict(do_sample="yes"), InvalidInputError, ["'yes'", "True, False"]),
    "generate_kwargs not a dict": (dict(generate_kwargs="fast"), InvalidInputError, ["'fast'", "dict"]),
    "sampling_rate nan": (dict(sampling_rate=NAN), AudioError, ["nan", "1000", "384000"]),
    "sampling_rate huge": (dict(sampling_rate=10**7), AudioError, ["10000000", "1000", "384000"]),
    "audio nan": (dict(inputs=_with_nan(_noise(1.0))), AudioError, ["NaN"]),
    "audio empty": (dict(inputs=np.zeros(0, np.float32)), AudioError, ["empty"]),
    "audio 3-D": (dict(inputs=np.zeros((1, 2, 800), np.float32)), AudioError, ["(1, 2, 800)"]),
}


@pytest.mark.parametrize("kwargs, error, needles", AUTOCAP_CASES.values(), ids=AUTOCAP_CASES.keys())
def test_autocap_pipeline_refuses(autocap, kwargs, error, needles):
    kwargs = {"inputs": _noise(1.0), "sampling_rate": SR, **kwargs}
    with pytest.raises(error) as info:
        autocap(kwargs.pop("inputs"), **kwargs)
    _check_error(info, needles)


# ----------------------------------------------------------------------------------------------------------------------
# Feature extractors: __call__ and constructors
# ----------------------------------------------------------------------------------------------------------------------
def _codec_fe(**kwargs):
    return CodecFeatureExtractor(sampling_rate=SR, **kwargs)


FEATURE_CASES = {
    "codec rate nan": (_codec_fe, {}, dict(sampling_rate=NAN), ["nan", "1000", "384000"]),
    "codec rate zero": (_codec_fe, {}, dict(sampling_rate=0), ["=0", "1000", "384000"]),
    "codec rate float": (_codec_fe, {}, dict(sampling_rate=16000.5), ["16000.5", "1000", "384000"]),
    "codec audio nan": (_codec_fe, {}, dict(raw_audio=_with_nan(_noise(0.1))), ["NaN"]),
    "codec audio inf": (_codec_fe, {}, dict(raw_audio=np.array([0.0, INF, 0.0])), ["NaN/inf"]),
    "codec audio empty": (_codec_fe, {}, dict(raw_audio=np.zeros(0)), ["empty"]),
    "codec audio 4-D": (_codec_fe, {}, dict(raw_audio=np.zeros((1, 1, 1, 10))), ["(1, 1, 1, 10)"]),
    "codec audio strings": (_codec_fe, {}, dict(raw_audio=np.array(["a", "b"])), ["dtype"]),
    "codec mono mode": (_codec_fe, {}, dict(mono="avg"), ["'avg'", "'mean'"]),
    "codec max_length": (_codec_fe, {}, dict(max_length=-5, padding="max_length"), ["-5", ">= 1"]),
    "genau rate inf": (GenAUMelFeatureExtractor, {}, dict(sampling_rate=INF), ["inf", "1000", "384000"]),
    "genau audio nan": (GenAUMelFeatureExtractor, {}, dict(raw_audio=_with_nan(_noise(0.1))), ["NaN"]),
    "genau audio empty": (GenAUMelFeatureExtractor, {}, dict(raw_audio=[]), ["empty"]),
    "genau audio 4-D": (GenAUMelFeatureExtractor, {}, dict(raw_audio=np.zeros((1, 1, 1, 10))), ["(1, 1, 10)"]),
    "autocap rate negative": (tiny_autocap_feature_extractor, {}, dict(sampling_rate=-SR), ["-16000", "1000"]),
    "autocap audio nan": (tiny_autocap_feature_extractor, {}, dict(raw_audio=_with_nan(_noise(0.5))), ["NaN"]),
    "autocap audio empty": (tiny_autocap_feature_extractor, {}, dict(raw_audio=np.zeros(0)), ["empty"]),
    "autocap audio 3-D": (tiny_autocap_feature_extractor, {}, dict(raw_audio=np.zeros((1, 2, 10))), ["(1, 2, 10)"]),
    "autocap crop mode": (tiny_autocap_feature_extractor, {}, dict(crop="middle"), ["'middle'", "'start'"]),
}


@pytest.mark.parametrize("build, init, call, needles", FEATURE_CASES.values(), ids=FEATURE_CASES.keys())
def test_feature_extractors_refuse(build, init, call, needles):
    call = {"raw_audio": _noise(0.5), "sampling_rate": SR, **call}
    extractor = build(**init)
    with pytest.raises(ValueError) as info:
        extractor(call.pop("raw_audio"), **call)
    _check_error(info, needles)


CONSTRUCTOR_CASES = {
    "genau log_floor nan": (GenAUMelFeatureExtractor, dict(log_floor=NAN), ["nan", "> 0"]),
    "genau max_duration nan": (GenAUMelFeatureExtractor, dict(max_duration_s=NAN), ["nan", "600"]),
    "genau hop above n_fft": (GenAUMelFeatureExtractor, dict(hop_length=2048), ["2048", "[1, 1024]"]),
    "genau max_frequency above nyquist": (GenAUMelFeatureExtractor, dict(max_frequency=9000.0), ["9000", "8000"]),
    "autocap max_length inf": (tiny_autocap_feature_extractor, dict(max_length_s=INF), ["inf", "600"]),
    "codec feature_size zero": (_codec_fe, dict(feature_size=0), ["got 0", ">= 1"]),
}


@pytest.mark.parametrize("build, init, needles", CONSTRUCTOR_CASES.values(), ids=CONSTRUCTOR_CASES.keys())
def test_feature_extractor_constructors_refuse(build, init, needles):
    with pytest.raises(InvalidInputError) as info:
        build(**init)
    _check_error(info, needles)


# ----------------------------------------------------------------------------------------------------------------------
# from_pretrained: a folder of another family, an unknown model_type, partial or extra weights
# ----------------------------------------------------------------------------------------------------------------------
def _weights_file(folder):
    return next(p for p in folder.iterdir() if p.suffix == ".safetensors")


def _damaged_copy(source, target, drop: int = 0, add: dict | None = None, reshape: bool = False, config=None):
    """Copy a saved model folder with weights removed / added / reshaped, or config.json fields changed."""
    import shutil

    shutil.copytree(source, target)
    path = _weights_file(target)
    weights = load_file(path)
    for key in sorted(weights)[:drop]:
        del weights[key]
    weights.update(add or {})
    if reshape:
        key = next(k for k in sorted(weights) if weights[k].dim() >= 1 and weights[k].numel() > 1)
        weights[key] = torch.zeros(weights[key].numel() + 1)
    save_file(weights, path, metadata={"format": "pt"})
    if config is not None:
        config_path = target / "config.json"
        data = json.loads(config_path.read_text())
        for key, value in config.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        config_path.write_text(json.dumps(data))
    return target


BOGUS = {"bogus.weight": torch.zeros(2)}
LOADING_CASES = {
    "codec from autocap folder": (CodecModel, "autocap", {}, ["hf_audiogen_autocap", "hf_audiogen_codec"]),
    "codec from audiogen folder": (CodecModel, "audiogen", {}, ["hf_audiogen_audiogen", "hf_audiogen_codec"]),
    "audiogen from codec folder": (
        AudioGenForConditionalGeneration,
        "codec",
        {},
        ["hf_audiogen_codec", "hf_audiogen_audiogen"],
    ),
    "autocap from codec folder": (
        AutoCapForConditionalGeneration,
        "codec",
        {},
        ["hf_audiogen_codec", "hf_audiogen_autocap"],
    ),
    "audiogen pipeline from autocap folder": (
        AudioGenPipeline,
        "autocap",
        {},
        ["hf_audiogen_autocap", "hf_audiogen_audiogen"],
    ),
    "codec unknown model_type": (
        CodecModel,
        "codec",
        dict(config={"model_type": "nonsense"}),
        ["'nonsense'", "hf_audiogen_codec"],
    ),
    "codec without model_type": (CodecModel, "codec", dict(config={"model_type": None}), ["None", "hf_audiogen_codec"]),
    "codec missing key": (CodecModel, "codec", dict(drop=1), ["missing keys 1", "decoder."]),
    "codec unexpected key": (CodecModel, "codec", dict(add=BOGUS), ["unexpected keys 1", "bogus.weight"]),
    "codec reshaped key": (CodecModel, "codec", dict(reshape=True), ["another shape"]),
    "audiogen missing keys": (AudioGenForConditionalGeneration, "audiogen", dict(drop=3), ["missing keys 3"]),
    "audiogen pipeline unexpected key": (AudioGenPipeline, "audiogen", dict(add=BOGUS), ["bogus.weight"]),
    "autocap unexpected key": (AutoCapForConditionalGeneration, "autocap", dict(add=BOGUS), ["bogus.weight"]),
    "autocap pipeline missing key": (AutoCapPipeline, "autocap", dict(drop=1), ["missing keys 1"]),
    "fit from vae folder": (FiTTransformer1DModel, "genau/vae", {}, ["'AutoencoderKL1D'", "'FiTTransformer1DModel'"]),
    "fit missing key": (FiTTransformer1DModel, "genau/transformer", dict(drop=1), ["missing keys 1"]),
    "vae unexpected key": (AutoencoderKL1D, "genau/vae", dict(add=BOGUS), ["bogus.weight"]),
}


@pytest.mark.parametrize("cls, source, damage, needles", LOADING_CASES.values(), ids=LOADING_CASES.keys())
def test_from_pretrained_refuses(dirs, tmp_path, cls, source, damage, needles):
    family, _, sub = source.partition("/")
    folder = dirs[family] / sub if sub else dirs[family]
    if damage:
        folder = _damaged_copy(folder, tmp_path / "damaged", **damage)
    with pytest.raises(IncompatibleCheckpointError) as info:
        cls.from_pretrained(folder)
    _check_error(info, [str(folder), *needles])


GENAU_COMPONENT_CASES = {
    "vocoder missing key": ("vocoder", dict(drop=1), ["SpeechT5HifiGan", "MISSING"]),
    "text encoder unexpected key": ("text_encoder", dict(add=BOGUS), ["bogus.weight", "UNEXPECTED"]),
    "text encoder 2 reshaped key": ("text_encoder_2", dict(reshape=True), ["MISMATCH"]),
}


@pytest.mark.parametrize("component, damage, needles", GENAU_COMPONENT_CASES.values(), ids=GENAU_COMPONENT_CASES.keys())
def test_genau_pipeline_refuses_damaged_transformers_components(dirs, tmp_path, component, damage, needles):
    # transformers only logs a report for these and initialises missing weights at random: the pipeline refuses
    import shutil

    from hf_audiogen.genau import GenAUPipeline

    folder = tmp_path / "genau"
    shutil.copytree(dirs["genau"], folder)
    shutil.rmtree(folder / component)
    _damaged_copy(dirs["genau"] / component, folder / component, **damage)
    with pytest.raises(IncompatibleCheckpointError) as info:
        GenAUPipeline.from_pretrained(folder)
    _check_error(info, [str(folder), *needles])
    if "reshape" not in damage:  # transformers itself refuses mis-shaped weights, strict or not
        assert isinstance(GenAUPipeline.from_pretrained(folder, strict=False), GenAUPipeline)  # lenient on request


def test_reconstruct_refuses_a_folder_of_another_family(dirs, tmp_path):
    sf.write(tmp_path / "in.wav", _noise(0.2), SR)
    with pytest.raises(IncompatibleCheckpointError) as info:
        reconstruct_file(tmp_path / "in.wav", tmp_path / "out.wav", model=dirs["autocap"])
    _check_error(info, [str(dirs["autocap"]), "hf_audiogen_autocap", "hf_audiogen_codec"])
    assert not (tmp_path / "out.wav").exists()


def test_reconstruct_refuses_overlong_audio_before_loading(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(601 * 1000, np.int16), 1000, subtype="PCM_16")
    with pytest.raises(InvalidInputError) as info:
        reconstruct_file(path, tmp_path / "out.wav", model=tmp_path / "no-such-codec")  # the model is never loaded
    _check_error(info, ["601.0 s", "600 s"])


def test_strict_false_and_loading_info_still_work(dirs, tmp_path):
    damaged = _damaged_copy(dirs["codec"], tmp_path / "damaged", drop=1, add=BOGUS)
    model = CodecModel.from_pretrained(damaged, strict=False)  # the libraries' lenient behaviour, on request
    assert isinstance(model, CodecModel)
    model, info = CodecModel.from_pretrained(dirs["codec"], output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]


def test_real_saved_models_load_strictly(dirs):
    """Tied and ignored weights are not "missing": every family's own save loads, as do the bundled models."""
    from hf_audiogen.genau import GenAUPipeline
    from hf_audiogen.pretrained import CODEC_MODEL_NAME, bundled_model_path, default_model_path

    assert isinstance(AudioGenPipeline.from_pretrained(dirs["audiogen"]), AudioGenPipeline)
    assert isinstance(AutoCapPipeline.from_pretrained(dirs["autocap"]), AutoCapPipeline)
    assert isinstance(CodecModel.from_pretrained(dirs["codec"]), CodecModel)
    assert isinstance(GenAUPipeline.from_pretrained(dirs["genau"]), GenAUPipeline)
    try:
        demo, codec = default_model_path(), bundled_model_path(CODEC_MODEL_NAME)
    except FileNotFoundError:
        pytest.skip("the bundled models are not installed in this checkout")
    assert isinstance(AudioGenForConditionalGeneration.from_pretrained(demo), AudioGenForConditionalGeneration)
    assert isinstance(CodecModel.from_pretrained(codec), CodecModel)


# ----------------------------------------------------------------------------------------------------------------------
# Behaviours: long audio is cut before it is encoded; numpy scalars are accepted
# ----------------------------------------------------------------------------------------------------------------------
class _EncoderSpy:
    """Records the length of every waveform the codec encodes."""

    def __init__(self, codec, monkeypatch):
        self.lengths = []
        encode = codec.encode

        def spy(input_values, *args, **kwargs):
            self.lengths.append(input_values.shape[-1])
            return encode(input_values, *args, **kwargs)

        monkeypatch.setattr(codec, "encode", spy)


def test_ten_minute_audio_prompt_is_trimmed_before_encoding(audiogen, tmp_path, monkeypatch):
    model = audiogen.model
    spy = _EncoderSpy(model.codec, monkeypatch)
    ten_minutes = _noise(600.0)
    stride = model.generation_config.extend_stride
    expected = (model.config.max_frames - int(stride * model.config.frame_rate)) * model.config.codec.hop_length
    assert model.audio_prompt_samples(len(ten_minutes), stride) == expected < model.config.max_duration * SR

    start = time.perf_counter()
    long = audiogen("rain", audio_prompt=(ten_minutes, SR), duration=0.1, seed=0, progress_bar=False)["audio"]
    assert time.perf_counter() - start < 30  # whole-prompt encoding took minutes and ~18 GB for a real codec
    assert spy.lengths == [expected]
    # Only the part the model reads matters: the prompt's last seconds alone give the same audio.
    tail = ten_minutes[-2 * SR :]
    short = audiogen("rain", audio_prompt=(tail, SR), duration=0.1, seed=0, progress_bar=False)["audio"]
    assert np.array_equal(long, short)
    assert len(long) == expected + int(0.1 * model.config.frame_rate) * model.config.codec.hop_length

    # A file is read only through its end (before it is resampled): a 10-minute 8 kHz file.
    path = tmp_path / "ten_minutes.wav"
    sf.write(path, _noise(600.0, rate=8000), 8000, subtype="PCM_16")
    spy.lengths.clear()
    audiogen("rain", audio_prompt=str(path), duration=0.1, seed=0, progress_bar=False)
    assert spy.lengths == [expected]


def test_generate_trims_input_values_before_encoding(audiogen, monkeypatch):
    model = audiogen.model
    spy = _EncoderSpy(model.codec, monkeypatch)
    prompt = torch.from_numpy(_noise(30.0))[None, None]
    model.generate(input_ids=IDS, input_values=prompt, max_new_frames=2, seed=0, progress_bar=False)
    assert spy.lengths == [model.audio_prompt_samples(prompt.shape[-1], model.generation_config.extend_stride)]
    spy.lengths.clear()
    short = torch.from_numpy(_noise(0.5))[None, None]  # shorter than the window: encoded whole, as before
    model.generate(input_ids=IDS, input_values=short, max_new_frames=2, seed=0, progress_bar=False)
    assert spy.lengths == [short.shape[-1]]


def test_long_audio_is_cut_before_captioning(autocap, tmp_path, monkeypatch, caplog):
    import hf_audiogen.autocap.feature_extraction_autocap as fe_module

    seen = []
    resample = fe_module.resample

    def spy(audio, orig_sr, target_sr, *args, **kwargs):
        seen.append(audio.shape[-1] / orig_sr)
        return resample(audio, orig_sr, target_sr, *args, **kwargs)

    monkeypatch.setattr(fe_module, "resample", spy)
    path = tmp_path / "ten_minutes.wav"
    sf.write(path, _noise(600.0, rate=8000), 8000, subtype="PCM_16")
    with caplog.at_level("WARNING"):
        caption = autocap(str(path), max_new_tokens=3)
    assert isinstance(caption, str) and "600.0 s long" in caplog.text
    limit = autocap.processor.feature_extractor.max_length_s + 1.0
    assert seen and max(seen) <= limit  # never the whole 10 minutes
    seen.clear()
    autocap(_noise(600.0), sampling_rate=SR, max_new_tokens=3)
    assert seen and max(seen) <= limit


def test_numpy_scalars_are_accepted(audiogen, genau):
    out = audiogen(
        "rain",
        duration=np.float32(0.1),
        guidance_scale=np.float64(2.0),
        top_p=np.float32(0.5),
        num_return_sequences=np.int64(1),
        seed=np.int32(3),
        progress_bar=False,
    )
    assert out["audio"].shape == (int(0.1 * 50) * 320,)
    audio = audiogen.model.generate(input_ids=IDS, duration=np.float32(0.1), seed=0, progress_bar=False)
    assert audio.shape == (1, 1, 1600)
    latents = genau(
        "rain",
        num_inference_steps=np.int64(2),
        audio_length_in_s=np.float32(0.32),
        guidance_scale=np.float32(3.0),
        eta=np.float32(0.5),
        output_type="latent",
    ).audios
    assert latents.shape[0] == 1 and torch.isfinite(latents).all()
    assert math.isfinite(float(genau("rain", num_inference_steps=2, audio_length_in_s=np.float32(0.32)).audios.sum()))


def test_genau_refuses_a_generator_list_of_the_wrong_length(genau):
    with pytest.raises(InvalidInputError) as info:
        genau("rain", num_inference_steps=2, audio_length_in_s=0.32, generator=[torch.Generator()] * 3)
    _check_error(info, ["got 3", "one per sample: 1"])
