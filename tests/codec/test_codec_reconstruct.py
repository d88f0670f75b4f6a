"""Tests of ``reconstruct_file`` and the ``hf-audiogen reconstruct`` command."""

import numpy as np
import pytest
import soundfile as sf
import torch

from hf_audiogen import cli
from hf_audiogen.codec import CodecFeatureExtractor, CodecModel, reconstruct
from hf_audiogen.codec.metrics import si_snr
from hf_audiogen.codec.reconstruct import reconstruct_file

from factories import tiny_codec_model


@pytest.fixture(scope="module")
def codec_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("codec")
    tiny_codec_model().save_pretrained(path)
    CodecFeatureExtractor(sampling_rate=16000, mono="mean").save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def stereo_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "tone.wav"
    t = np.arange(int(22050 * 0.5)) / 22050
    tone = 0.3 * np.sin(2 * np.pi * 330 * t)
    sf.write(path, np.stack([tone, 0.5 * tone], axis=1), 22050)
    return path


def test_reconstruct_file(codec_dir, stereo_wav, tmp_path):
    result = reconstruct_file(stereo_wav, tmp_path / "out.wav", model=codec_dir, num_codebooks=2)
    audio, rate = sf.read(result.path)
    assert rate == result.sampling_rate == 16000
    assert len(audio) == 8000 and result.duration == pytest.approx(0.5)
    assert (result.num_codebooks, result.num_frames) == (2, 25)
    assert np.isfinite(result.si_snr)
    # same as running the feature extractor and the codec by hand
    codec = CodecModel.from_pretrained(codec_dir)
    inputs = CodecFeatureExtractor(mono="mean")(sf.read(stereo_wav)[0].T, sampling_rate=22050, return_tensors="pt")
    with torch.no_grad():
        expected = codec.decode(codec.encode(inputs["input_values"], num_quantizers=2))[..., :8000]
    np.testing.assert_allclose(audio, expected[0, 0].numpy(), atol=1 / 32768)  # 16-bit WAV
    assert float(si_snr(expected, inputs["input_values"])) == pytest.approx(result.si_snr, abs=1e-4)


def test_reconstruct_errors(codec_dir, stereo_wav, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"num_codebooks must be an integer in \[1, 3\]"):
        reconstruct_file(stereo_wav, tmp_path / "out.wav", model=codec_dir, num_codebooks=4)
    monkeypatch.setattr(reconstruct, "BUNDLED_CODEC_DIR", tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no bundled codec"):
        reconstruct_file(stereo_wav, tmp_path / "out.wav")
    with pytest.raises(FileNotFoundError, match="cannot load a codec"):
        reconstruct_file(stereo_wav, tmp_path / "out.wav", model=tmp_path / "nothing-here")


def test_cli_reconstruct(codec_dir, stereo_wav, tmp_path, capsys):
    out = tmp_path / "cli.wav"
    assert cli.main(["reconstruct", str(stereo_wav), "--out", str(out), "--model", str(codec_dir)]) == 0
    assert out.is_file() and "3 codebooks x 25 frames" in capsys.readouterr().out
    assert cli.main(["reconstruct", str(tmp_path / "no.wav"), "--model", str(codec_dir)]) == 2
    assert "not found" in capsys.readouterr().err
