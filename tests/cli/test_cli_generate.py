"""``hf-audiogen generate``: writes the asked-for audio, and every user error is one line with a non-zero exit."""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import hf_audiogen.pretrained as pretrained
from hf_audiogen.cli import main

from factories import tiny_audiogen_pipeline_dir

SR = 16_000


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return str(tiny_audiogen_pipeline_dir(tmp_path_factory.mktemp("audiogen")))


def generate(model_dir, out, *extra):
    return main(
        [
            "generate",
            "a dog barks",
            "--model",
            model_dir,
            "--duration",
            "0.2",
            "--guidance",
            "1",
            "--out",
            str(out),
            *extra,
        ]
    )


def test_writes_a_wav_of_the_asked_duration(model_dir, tmp_path, capsys):
    out = tmp_path / "sub" / "dog.wav"  # the folder is created
    assert generate(model_dir, out, "--seed", "3") == 0
    info = sf.info(out)
    assert (info.samplerate, info.frames, info.channels, info.format) == (SR, int(0.2 * SR), 1, "WAV")
    captured = capsys.readouterr()
    assert captured.out == f"wrote {out} (0.20 s at {SR} Hz, seed 3)\n"
    assert "AudioGen: 100%" in captured.err  # the progress bar


def test_same_seed_same_file_and_no_seed_prints_the_one_drawn(model_dir, tmp_path, capsys):
    assert generate(model_dir, tmp_path / "a.wav", "--seed", "7") == 0
    assert generate(model_dir, tmp_path / "b.wav", "--seed", "7") == 0
    np.testing.assert_array_equal(sf.read(tmp_path / "a.wav")[0], sf.read(tmp_path / "b.wav")[0])
    capsys.readouterr()
    assert generate(model_dir, tmp_path / "c.wav") == 0
    drawn = int(capsys.readouterr().out.rsplit("seed ", 1)[1].rstrip(")\n"))
    assert generate(model_dir, tmp_path / "d.wav", "--seed", str(drawn)) == 0
    np.testing.assert_array_equal(sf.read(tmp_path / "c.wav")[0], sf.read(tmp_path / "d.wav")[0])


def test_num_2_writes_two_different_files(model_dir, tmp_path, capsys):
    out = tmp_path / "rain.flac"
    assert generate(model_dir, out, "--num", "2", "--seed", "0", "--top-k", "5", "--temperature", "1.2") == 0
    paths = [tmp_path / "rain_0.flac", tmp_path / "rain_1.flac"]
    assert not out.exists() and all(path.is_file() for path in paths)
    first, second = (sf.read(path)[0] for path in paths)
    assert first.shape == second.shape == (int(0.2 * SR),) and not np.array_equal(first, second)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"wrote {path} (0.20 s at {SR} Hz, seed 0)" for path in paths]


def test_continue_from_starts_with_the_clip(model_dir, tmp_path):
    clip = tmp_path / "clip.wav"
    sf.write(clip, 0.1 * np.random.default_rng(0).standard_normal((int(0.3 * 22050), 2)), 22050)  # stereo 22 kHz
    out = tmp_path / "longer.wav"
    assert generate(model_dir, out, "--continue-from", str(clip), "--seed", "0") == 0
    assert sf.info(out).frames == int((0.3 + 0.2) * SR)


def test_negative_prompt_changes_the_audio(model_dir, tmp_path):
    common = ["--seed", "1", "--guidance", "3"]
    assert generate(model_dir, tmp_path / "plain.wav", *common) == 0
    assert generate(model_dir, tmp_path / "steered.wav", *common, "--negative-prompt", "rain falls") == 0
    assert not np.array_equal(sf.read(tmp_path / "plain.wav")[0], sf.read(tmp_path / "steered.wav")[0])


def test_default_model_is_the_bundled_demo(model_dir, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "pretrained"
    empty.mkdir()
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", empty)
    out = tmp_path / "x.wav"
    assert main(["generate", "wind", "--duration", "0.2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the bundled model '{pretrained.DEMO_MODEL_NAME}' is not installed" in err
    assert "--model" in err and not out.exists()

    os.symlink(model_dir, empty / pretrained.DEMO_MODEL_NAME)
    assert main(["generate", "wind", "--duration", "0.2", "--out", str(out)]) == 0
    assert sf.info(out).frames == int(0.2 * SR)


def test_installed_command_reports_user_errors_without_traceback(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "hf_audiogen", "generate", "a dog barks", "--model", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr == f"hf-audiogen generate: error: model directory '{tmp_path / 'nope'}' does not exist\n"
    assert result.stdout == ""
