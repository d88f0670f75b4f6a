"""``hf-audiogen generate`` with a GenAU pipeline directory: dispatch by family, options, files and user errors."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from hf_audiogen.cli import main
from hf_audiogen.genau import GenAUPipeline
from hf_audiogen.pretrained import load_pipeline, model_family

from factories import tiny_clap_scorer, tiny_genau_pipeline  # noqa: F401 (fixture)

SR = 16_000
LONGEST = 2.56  # the tiny FiT's positional range: 64 latent frames


def audible_tiny_pipeline(**components):
    """``tiny_genau_pipeline`` with torch's default conv init in the vocoder: HiFi-GAN's own init (std 0.01) gives
    ~1e-12 amplitudes, which 16-bit WAV files round to silence, and silent files would all compare equal."""
    pipe = tiny_genau_pipeline()
    torch.manual_seed(0)
    with torch.no_grad():
        for module in pipe.vocoder.modules():
            if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                module.reset_parameters()
    return GenAUPipeline(**{**pipe.components, **components})


@pytest.fixture(scope="module")
def pipe():
    pipe = audible_tiny_pipeline()
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def model_dir(pipe, tmp_path_factory):
    path = tmp_path_factory.mktemp("genau")
    pipe.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def reranking_model_dir(tmp_path_factory):
    clap_model, clap_processor = tiny_clap_scorer()
    path = tmp_path_factory.mktemp("genau-clap")
    audible_tiny_pipeline(clap_model=clap_model, clap_processor=clap_processor).save_pretrained(path)
    return str(path)


def generate(model_dir, out, *extra, duration="0.64"):
    duration = ["--duration", duration] if duration else []
    return main(["generate", "a dog barks", "--model", model_dir, *duration, "--steps", "2", "--out", str(out), *extra])


def read(path):
    return sf.read(path, dtype="float32")[0]


def differ(a, b) -> bool:
    """Different beyond 16-bit rounding (the tiny random models change the waveform by ~1e-3 between seeds)."""
    return float(np.abs(a - b).max()) > 4 / 2**15


def test_family_detection_and_loader_refuses_the_other_family(model_dir, tmp_path):
    assert model_family(model_dir) == "genau" and model_family(None) == "audiogen"
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "hf_audiogen_audiogen"}))
    assert model_family(tmp_path) == "audiogen"
    with pytest.raises(ValueError, match=f"{model_dir} holds a GenAU pipeline, not an AudioGen model"):
        load_pipeline(model_dir)  # the default family stays AudioGen for the Space and the demo
    assert isinstance(load_pipeline(model_dir, family=None), GenAUPipeline)


def test_writes_the_pipelines_audio_with_all_options_passed_through(pipe, model_dir, tmp_path, capsys):
    out = tmp_path / "sub" / "dog.wav"
    options = ["--seed", "5", "--guidance", "3", "--negative-prompt", "rain falls", "--dataset", "clotho"]
    assert generate(model_dir, out, *options) == 0
    info = sf.info(out)
    assert (info.samplerate, info.frames, info.channels, info.format) == (SR, round(0.64 * SR), 1, "WAV")
    assert capsys.readouterr().out == f"wrote {out} (0.64 s at {SR} Hz, seed 5)\n"
    expected = pipe(
        "a dog barks",
        negative_prompt="rain falls",
        num_inference_steps=2,
        guidance_scale=3.0,
        audio_length_in_s=0.64,
        dataset_id="clotho",
        generator=torch.Generator().manual_seed(5),
    ).audios[0]
    written = read(out)
    assert np.abs(written).max() > 0.01  # not silence
    np.testing.assert_allclose(written, np.clip(expected, -1, 1), atol=1 / 2**15)  # 16-bit WAV rounding
    plain = pipe(
        "a dog barks", num_inference_steps=2, audio_length_in_s=0.64, generator=torch.Generator().manual_seed(5)
    ).audios[0]
    assert differ(written, plain)  # the options matter, so the comparison above checks they were passed


def test_same_seed_same_file_other_seed_other_file(model_dir, tmp_path):
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        assert generate(model_dir, tmp_path / f"{name}.wav", "--seed", seed) == 0
    a, b, c = (read(tmp_path / f"{name}.wav") for name in "abc")
    np.testing.assert_array_equal(a, b)
    assert differ(a, c)


def test_num_2_writes_two_files_and_default_duration_is_the_longest(model_dir, tmp_path, capsys):
    out = tmp_path / "rain.flac"
    assert generate(model_dir, out, "--num", "2", "--seed", "0", duration=None) == 0
    paths = [tmp_path / "rain_0.flac", tmp_path / "rain_1.flac"]
    assert not out.exists() and all(path.is_file() for path in paths)
    first, second = (read(path) for path in paths)
    assert first.shape == second.shape == (round(LONGEST * SR),) and differ(first, second)
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {path} ({LONGEST:.2f} s at {SR} Hz, seed 0)" for path in paths
    ]


def test_rerank_keeps_the_best_candidate_by_clap_score(reranking_model_dir, tmp_path, capsys):
    out = tmp_path / "best.wav"
    assert generate(reranking_model_dir, out, "--rerank", "3", "--seed", "2") == 0
    loaded = GenAUPipeline.from_pretrained(reranking_model_dir)
    loaded.set_progress_bar_config(disable=True)
    expected = loaded(
        "a dog barks",
        num_inference_steps=2,
        audio_length_in_s=0.64,
        num_candidates_per_prompt=3,
        generator=torch.Generator().manual_seed(2),
    )
    np.testing.assert_allclose(read(out), np.clip(expected.audios[0], -1, 1), atol=1 / 2**15)
    assert capsys.readouterr().out == (
        f"wrote {out} (0.64 s at {SR} Hz, seed 2, CLAP score {expected.clap_scores[0]:.3f})\n"
    )


@pytest.mark.parametrize(
    "model, args, message, before_load",
    [
        # options of the other family
        ("genau", ["--top-k", "5"], "--top-k only applies to AudioGen models, and {genau} is a GenAU pipeline", True),
        ("genau", ["--top-p", "0.5"], "--top-p only applies to AudioGen models", True),
        ("genau", ["--temperature", "0.9"], "--temperature only applies to AudioGen models", True),
        ("genau", ["--continue-from", "{tmp}/clip.wav"], "--continue-from only applies to AudioGen models", True),
        (
            "audiogen",
            ["--steps", "5"],
            "--steps only applies to GenAU pipelines, and {audiogen} is an AudioGen model",
            True,
        ),
        ("audiogen", ["--dataset", "clotho"], "--dataset only applies to GenAU pipelines", True),
        ("audiogen", ["--rerank", "3"], "--rerank only applies to GenAU pipelines", True),
        (
            None,
            ["--steps", "5"],
            "--steps only applies to GenAU pipelines, and the bundled demo model is an AudioGen",
            True,
        ),
        # values that need no model
        ("genau", ["--duration", "0"], "--duration must be a finite number > 0, got 0", True),
        ("genau", ["--steps", "0"], "--steps must be an integer in [1, 1000], got 0", True),
        ("genau", ["--rerank", "1", "--num", "2"], "--rerank must be an integer in [2, 64], got 1", True),
        (
            "genau",
            ["--negative-prompt", "wind", "--guidance", "1"],
            "GenAU needs --guidance above 1 (e.g. 4), got 1",
            True,
        ),
        ("codec", [], "--model {codec} holds a codec model; generate runs AudioGen models and GenAU pipelines", True),
        # values checked against the loaded pipeline, before sampling
        (
            "genau",
            ["--duration", "3"],
            "--duration 3 is too long for {genau}: this GenAU pipeline generates at most 2.56 seconds",
            False,
        ),
        (
            "genau",
            ["--rerank", "2"],
            "--rerank needs a CLAP scorer in the pipeline (clap_model + clap_processor)",
            False,
        ),
        ("genau", ["--dataset", "nope"], "--dataset: unknown dataset name 'nope'", False),
        ("genau", ["--dataset", "9"], "--dataset: dataset_id must be in [0, 4), got 9", False),
    ],
)
def test_user_errors_exit_2_with_one_clear_line(model_dir, tmp_path, capsys, model, args, message, before_load):
    dirs = {"genau": model_dir, "audiogen": tmp_path / "audiogen", "codec": tmp_path / "codec"}
    # Config-only directories: they cannot be loaded, so their errors must come from the family check.
    for family in ("audiogen", "codec"):
        dirs[family].mkdir()
        (dirs[family] / "config.json").write_text(json.dumps({"model_type": f"hf_audiogen_{family}"}))
    argv = ["generate", "a dog barks", "--out", str(tmp_path / "out.wav")]
    argv += [] if model is None else ["--model", str(dirs[model])]
    argv += [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    if before_load:
        assert err.count("\n") == 1
    # else: after diffusers' "Loading pipeline components" progress bar
    last = err.splitlines()[-1]
    assert last.startswith("hf-audiogen generate: error: ") and err.endswith(last + "\n")
    assert message.format(tmp=tmp_path, **dirs) in last
    assert not (tmp_path / "out.wav").exists()
