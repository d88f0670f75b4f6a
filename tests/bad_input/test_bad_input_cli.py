"""The hostile-input matrix of the command line: every user error is one line naming the value and what is allowed,
exit code 2, no traceback, checked before any heavy work, and no file left behind."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from hf_audiogen.cli import main
from hf_audiogen.pretrained import bundled_model_path

from factories import tiny_audiogen_pipeline_dir


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return str(tiny_audiogen_pipeline_dir(tmp_path_factory.mktemp("audiogen")))


@pytest.fixture
def files(tmp_path):
    (tmp_path / "notes.txt").write_text("not audio")
    (tmp_path / "a_file").write_text("x")
    sf.write(tmp_path / "clip.wav", np.sin(np.arange(8000) / 5).astype(np.float32) * 0.5, 16000)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{}")  # a config but no weights
    corrupt = tmp_path / "corrupt"
    shutil.copytree(bundled_model_path("sfx-codec-small"), corrupt)
    data = (corrupt / "model.safetensors").read_bytes()
    (corrupt / "model.safetensors").write_bytes(data[: len(data) // 3])  # truncated download
    return tmp_path


def _expand(args, tmp, model_dir):
    return [a.replace("{tmp}", str(tmp)).replace("{model}", model_dir) for a in args]


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.err


# (extra args of `generate`, substrings the one-line message must contain: the value given and what is allowed)
GENERATE_CASES = [
    (["--duration", "0"], ["--duration", "0", "(0, 600]"]),
    (["--duration", "-2"], ["--duration", "-2", "(0, 600]"]),
    (["--duration", "601"], ["--duration", "601", "(0, 600]"]),
    (["--duration", "nan"], ["--duration", "nan", "finite"]),
    (["--duration", "inf"], ["--duration", "inf", "finite"]),
    (["--duration", "1e400"], ["--duration", "inf", "finite"]),
    (["--num", "0"], ["--num", "0", "[1, 64]"]),
    (["--num", "-3"], ["--num", "-3", "[1, 64]"]),
    (["--num", "100000"], ["--num", "100000", "[1, 64]"]),
    (["--guidance", "-1"], ["--guidance", "-1", ">= 0"]),
    (["--guidance", "nan"], ["--guidance", "nan", "finite"]),
    (["--guidance", "inf"], ["--guidance", "inf", "finite"]),
    (["--guidance=-inf"], ["--guidance", "-inf", "finite"]),
    (["--top-p", "1.5"], ["--top-p", "1.5", "(0, 1]"]),
    (["--top-p", "0"], ["--top-p", "0", "(0, 1]"]),
    (["--top-p", "nan"], ["--top-p", "nan", "(0, 1]"]),
    (["--top-p", "-0.5"], ["--top-p", "-0.5", "(0, 1]"]),
    (["--temperature", "0"], ["--temperature", "0", "> 0"]),
    (["--temperature", "nan"], ["--temperature", "nan", "> 0"]),
    (["--temperature", "inf"], ["--temperature", "inf", "> 0"]),
    (["--temperature", "-1"], ["--temperature", "-1", "> 0"]),
    (["--top-k", "-1"], ["--top-k", "-1", ">= 0"]),
    (["--negative-prompt", "wind", "--guidance", "1"], ["--negative-prompt", "--guidance"]),
    (["--steps", "10"], ["--steps", "GenAU"]),  # a GenAU option given to an AudioGen model
    (["--rerank", "3"], ["--rerank", "GenAU"]),
    (["--dataset", "audiocaps"], ["--dataset", "GenAU"]),
    (["--model", "{tmp}/missing-model"], ["{tmp}/missing-model", "does not exist"]),
    (["--model", "{tmp}"], ["{tmp}", "config.json"]),
    (["--model", "{tmp}/broken"], ["{tmp}/broken"]),
    (["--model", "{tmp}/corrupt"], ["{tmp}/corrupt", "codec"]),  # a codec folder is not a text-to-audio model
    (["--continue-from", "{tmp}/nothing.wav"], ["{tmp}/nothing.wav", "not found"]),
    (["--continue-from", "{tmp}/notes.txt"], ["{tmp}/notes.txt", "decode"]),
    (["--out", "{tmp}"], ["--out", "{tmp}", "directory"]),
    (["--out", "{tmp}/a.mp3"], ["--out", "{tmp}/a.mp3", ".wav, .flac, .ogg"]),
    (["--out", "{tmp}/a_file/x.wav"], ["--out", "{tmp}/a_file/x.wav", "cannot be written"]),
    (["--out", "/proc/hf_audiogen_test/x.wav"], ["--out", "/proc/hf_audiogen_test/x.wav", "cannot be written"]),
]


@pytest.mark.parametrize("args, expected", GENERATE_CASES, ids=[" ".join(a) for a, _ in GENERATE_CASES])
def test_generate(model_dir, files, capsys, args, expected):
    out = files / "out.wav"
    argv = ["generate", "a dog barks", "--model", model_dir, "--out", str(out), "--duration", "0.2"]
    code, err = _run(argv + _expand(args, files, model_dir), capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("hf-audiogen generate: error: ") and "Traceback" not in err
    for part in _expand(expected, files, model_dir):
        assert part in err, f"{part!r} not in {err!r}"
    assert not out.exists()  # no empty or partial file


OTHER_CASES = [
    (["reconstruct", "{tmp}/nothing.wav"], ["{tmp}/nothing.wav", "not found"]),
    (["reconstruct", "{tmp}/notes.txt"], ["{tmp}/notes.txt", "decode"]),
    (["reconstruct", "{tmp}/clip.wav", "--num-codebooks", "0"], ["--num-codebooks", "0", ">= 1"]),
    (["reconstruct", "{tmp}/clip.wav", "--model", "{tmp}/corrupt"], ["{tmp}/corrupt"]),
    (["reconstruct", "{tmp}/clip.wav", "--model", "{model}"], ["{model}", "codec"]),  # an AudioGen folder
    (["reconstruct", "{tmp}/clip.wav", "--out", "{tmp}/a_file/x.wav"], ["--out", "{tmp}/a_file/x.wav", "written"]),
    (["caption", "{tmp}/nothing.wav", "--model", "{tmp}"], ["{tmp}/nothing.wav", "not found"]),
    (["caption", "{tmp}/clip.wav", "--model", "{tmp}", "--num-beams", "0"], ["--num-beams", "0", "[1, 16]"]),
    (["caption", "{tmp}/clip.wav", "--model", "{tmp}", "--num-beams", "1000"], ["--num-beams", "1000", "[1, 16]"]),
    (["caption", "{tmp}/clip.wav", "--model", "{tmp}", "--max-new-tokens", "0"], ["--max-new-tokens", "0", "[1, 512]"]),
    (["caption", "{tmp}/clip.wav", "--model", "{tmp}", "--metadata", "{bad"], ["--metadata", "JSON object"]),
    (["caption", "{tmp}/clip.wav", "--model", "{tmp}", "--metadata", "[1, 2]"], ["--metadata", "[1, 2]"]),
    (["caption", "{tmp}/clip.wav", "--model", "nonexistent"], ["nonexistent"]),
    (["card", "{tmp}/missing-dir"], ["{tmp}/missing-dir"]),
    (["space", "--port", "0"], ["--port", "0", "[1, 65535]"]),
    (["space", "--port", "70000"], ["--port", "70000", "[1, 65535]"]),
    (["space", "--concurrency", "0"], ["--concurrency", "0", "[1, 64]"]),
    (["data", "autorecap", "{tmp}/missing", "{tmp}/out", "--model", "x/y"], ["{tmp}/missing", "folder"]),
    (["data", "autorecap", "{tmp}", "{tmp}/out", "--model", "x/y", "--batch-size", "0"], ["--batch-size", "0"]),
    (["data", "autorecap", "{tmp}", "{tmp}/out", "--model", "x/y", "--min-seconds", "nan"], ["--min-seconds", "nan"]),
    (["convert", "audiocraft", "{tmp}/no_lm.bin", "{tmp}/no_comp.bin", "{tmp}/out"], ["{tmp}/no_lm.bin"]),
    (["convert", "genau", "{tmp}/no.ckpt", "{tmp}/out"], ["{tmp}/no.ckpt"]),
    (["convert", "autocap", "{tmp}/no.ckpt", "{tmp}/out"], ["{tmp}/no.ckpt"]),
]


@pytest.mark.parametrize("args, expected", OTHER_CASES, ids=[" ".join(a) for a, _ in OTHER_CASES])
def test_other_commands(model_dir, files, capsys, args, expected):
    argv = _expand(args, files, model_dir)
    code, err = _run(argv, capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"hf-audiogen {argv[0]}: error: ") and "Traceback" not in err
    for part in _expand(expected, files, model_dir):
        assert part in err, f"{part!r} not in {err!r}"


def test_a_bug_is_not_dressed_up_as_a_user_error(monkeypatch, model_dir, tmp_path):
    # A ValueError that no check of ours raised is a bug: it must keep its traceback, not become "error: ..." + exit 2
    import hf_audiogen.audiogen.pipeline_audiogen as pipeline_module

    def broken_call(self, *args, **kwargs):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(pipeline_module.AudioGenPipeline, "__call__", broken_call)
    with pytest.raises(ValueError, match="broadcast"):
        main(["generate", "x", "--model", model_dir, "--duration", "0.2", "--out", str(tmp_path / "x.wav")])
    assert not (tmp_path / "x.wav").exists()


def test_metadata_json_is_parsed_before_the_model_loads(files, capsys):
    code, err = _run(["caption", str(files / "clip.wav"), "--model", str(files), "--metadata", json.dumps("x")], capsys)
    assert code == 2 and "--metadata" in err


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    # e.g. the disk fills up mid-write: the target name must not exist afterwards, not even as 0 bytes
    import soundfile

    from hf_audiogen.audio import write_audio

    def failing_write(file, *args, **kwargs):
        with open(file, "wb") as handle:
            handle.write(b"RIFF")  # a few bytes, then the failure
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(soundfile, "write", failing_write)
    with pytest.raises(OSError, match="No space left"):
        write_audio(tmp_path / "x.wav", np.zeros(100, dtype=np.float32), 16000)
    assert list(tmp_path.iterdir()) == []
