"""Tests for hf_audiogen.audio: decoding, channel handling, resampling, PCM conversion, validation, writing, levels."""

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from hf_audiogen.audio import (
    AudioError,
    check_audio,
    check_sample_rate,
    int_to_float,
    load_audio,
    loudness_normalize,
    peak_normalize,
    resample,
    rms_db,
    to_mono,
    write_audio,
)

FIXTURES = Path(__file__).parent / "fixtures" / "audio"
COW = FIXTURES / "cow_moo.flac"


def tone(freq=440.0, sr=16000, seconds=0.5, amplitude=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(audio, sr):
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return np.argmax(spectrum) * sr / len(audio)


# ------------------------------------------------------------------------------------------------------ loading
def test_load_flac_fixture():
    audio, sr = load_audio(COW)
    reference, ref_sr = sf.read(COW, dtype="float32")
    assert sr == ref_sr == 16000
    assert audio.dtype == np.float32 and audio.shape == reference.shape
    np.testing.assert_array_equal(audio, reference)


@pytest.mark.parametrize("suffix, subtype, atol", [(".wav", "PCM_16", 1e-6), (".ogg", "VORBIS", None)])
def test_load_wav_and_ogg_match_the_flac(tmp_path, suffix, subtype, atol):
    reference, sr = sf.read(COW, dtype="float32")
    path = tmp_path / f"cow{suffix}"
    sf.write(path, reference, sr, subtype=subtype)
    audio, out_sr = load_audio(path)
    assert out_sr == sr
    if atol is not None:  # lossless: identical up to float rounding
        np.testing.assert_allclose(audio, reference, atol=atol)
    else:  # Vorbis is lossy and may shift length slightly: compare the overlapping part by correlation
        n = min(len(audio), len(reference))
        assert abs(len(audio) - len(reference)) < 0.01 * sr
        assert np.corrcoef(audio[:n], reference[:n])[0, 1] > 0.95


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview, io.BytesIO])
def test_load_from_bytes_and_file_objects(wrap):
    data = COW.read_bytes()
    audio, sr = load_audio(wrap(data))
    np.testing.assert_array_equal(audio, load_audio(COW)[0])
    assert sr == 16000


def write_stereo(path, sr=16000):
    left, right = tone(440, sr), tone(1000, sr, amplitude=0.25)
    sf.write(path, np.stack([left, right], axis=1), sr, subtype="FLOAT")
    return left, right


def test_stereo_is_downmixed_by_mean_or_first_channel(tmp_path):
    left, right = write_stereo(tmp_path / "stereo.wav")
    mean, _ = load_audio(tmp_path / "stereo.wav")
    first, _ = load_audio(tmp_path / "stereo.wav", mono="first")
    both, _ = load_audio(tmp_path / "stereo.wav", mono=False)
    np.testing.assert_allclose(mean, (left + right) / 2, atol=1e-6)
    np.testing.assert_allclose(first, left, atol=1e-6)
    assert both.shape == (2, len(left))
    np.testing.assert_allclose(both[1], right, atol=1e-6)


def test_stereo_is_rejected_when_mono_is_required(tmp_path):
    write_stereo(tmp_path / "stereo.wav")
    with pytest.raises(AudioError, match="expected mono audio, got 2 channels"):
        load_audio(tmp_path / "stereo.wav", mono="error")


def test_mono_file_keeps_a_channel_axis_when_asked():
    audio, _ = load_audio(COW, mono=False)
    assert audio.ndim == 2 and audio.shape[0] == 1


def test_load_resamples_to_the_requested_rate(tmp_path):
    sf.write(tmp_path / "tone.wav", tone(440, 44100, seconds=1.0), 44100, subtype="FLOAT")
    audio, sr = load_audio(tmp_path / "tone.wav", 16000)
    assert sr == 16000 and abs(len(audio) - 16000) <= 1
    assert dominant_frequency(audio, sr) == pytest.approx(440, abs=2)


# ------------------------------------------------------------------------------------------------ load errors
def test_missing_file():
    with pytest.raises(AudioError, match="audio file not found: .*nope.wav"):
        load_audio("nope.wav")


@pytest.mark.parametrize("content", [b"", b"this is not audio at all" * 10])
def test_unreadable_file(tmp_path, content):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match="cannot decode .*broken.wav"):
        load_audio(path)
    with pytest.raises(AudioError, match="cannot decode <audio bytes>"):
        load_audio(content)


def test_file_without_samples_is_empty(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="empty"):
        load_audio(tmp_path / "empty.wav")


def test_nan_samples_are_rejected(tmp_path):
    audio = tone()
    audio[100:103] = np.nan
    sf.write(tmp_path / "nan.wav", audio, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="3 NaN/inf sample"):
        load_audio(tmp_path / "nan.wav")


def test_silence_is_rejected_only_when_asked(tmp_path):
    sf.write(tmp_path / "silence.wav", np.zeros(1600, np.float32), 16000)
    audio, _ = load_audio(tmp_path / "silence.wav")
    assert not audio.any()
    with pytest.raises(AudioError, match="silent"):
        load_audio(tmp_path / "silence.wav", allow_silent=False)


def test_file_with_an_implausible_rate_is_rejected(tmp_path):
    sf.write(tmp_path / "slow.wav", tone(50, 500), 500)
    with pytest.raises(AudioError, match="sample rate of .*slow.wav=500 is not supported"):
        load_audio(tmp_path / "slow.wav")


@pytest.mark.parametrize(
    "rate, message",
    [
        (0, "is not supported"),
        (16, "is not supported"),
        (22050.5, "is not supported"),
        ("16000", "must be a number"),
        (True, "must be a number"),
    ],
)
def test_bad_target_rate_is_rejected_before_decoding(rate, message):
    with pytest.raises(AudioError, match=message):
        load_audio("does-not-exist.wav", rate)  # the argument is checked first, so no "not found" error


def test_check_sample_rate_accepts_numpy_scalars():
    assert check_sample_rate(np.int64(16000)) == 16000
    assert check_sample_rate(np.float32(22050)) == 22050
    assert isinstance(check_sample_rate(48000.0), int)


# --------------------------------------------------------------------------------------------- array helpers
def test_int_to_float_covers_signed_and_unsigned_pcm():
    np.testing.assert_array_equal(
        int_to_float(np.array([-32768, 0, 16384, 32767], np.int16)),
        np.array([-1.0, 0.0, 0.5, 32767 / 32768], np.float32),
    )
    np.testing.assert_array_equal(
        int_to_float(np.array([0, 128, 255], np.uint8)), np.array([-1.0, 0.0, 127 / 128], np.float32)
    )
    assert int_to_float(np.array([-(2**31)], np.int32))[0] == -1.0


def test_check_audio_converts_int_pcm_and_validates():
    out = check_audio(np.array([[0, 16384], [-16384, 0]], np.int16))
    assert out.dtype == np.float32 and out.tolist() == [[0.0, 0.5], [-0.5, 0.0]]
    with pytest.raises(AudioError, match="must hold numbers, got dtype bool"):
        check_audio(np.ones(4, bool))
    with pytest.raises(AudioError, match=r"shape \(samples,\) or \(channels, samples\), got shape \(1, 2, 3\)"):
        check_audio(np.zeros((1, 2, 3)))
    with pytest.raises(AudioError, match=r"empty \(shape \(2, 0\)\)"):
        check_audio(np.zeros((2, 0)))
    with pytest.raises(AudioError, match="1 NaN/inf"):
        check_audio(np.array([0.0, np.inf]))
    with pytest.raises(AudioError, match="silent"):
        check_audio(np.zeros(10), allow_silent=False)


def test_to_mono_modes():
    stereo = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    np.testing.assert_array_equal(to_mono(stereo), [0.5, 0.5])
    np.testing.assert_array_equal(to_mono(stereo, "first"), [1.0, 0.0])
    np.testing.assert_array_equal(to_mono(stereo[:1], "error"), [1.0, 0.0])  # one channel is mono
    with pytest.raises(ValueError, match="mode must be 'mean', 'first' or 'error', got 'sum'"):
        to_mono(stereo, "sum")


@pytest.mark.parametrize("orig, target", [(16000, 8000), (22050, 16000), (16000, 48000)])
def test_resample_length_rate_and_content(orig, target):
    audio = tone(300, orig, seconds=1.0)
    out = resample(audio, orig, target)
    assert out.dtype == np.float32 and abs(len(out) - target) <= 1
    assert dominant_frequency(out, target) == pytest.approx(300, abs=2)
    stereo = resample(np.stack([audio, -audio]), orig, target)
    assert stereo.shape == (2, len(out))
    np.testing.assert_allclose(stereo[0], out, atol=1e-6)
    np.testing.assert_allclose(stereo[1], -out, atol=1e-6)


def test_resample_same_rate_is_identity_and_bad_rates_raise():
    audio = tone()
    np.testing.assert_array_equal(resample(audio, 16000, 16000), audio)
    with pytest.raises(AudioError, match="orig_sr=0 is not supported"):
        resample(audio, 0, 16000)


# ------------------------------------------------------------------------------------------------------ writing
@pytest.mark.parametrize("suffix, atol", [(".wav", 1 / 32768), (".flac", 1 / 32768)])
def test_write_then_load_round_trip(tmp_path, suffix, atol):
    audio = tone(amplitude=0.9)
    path = write_audio(tmp_path / "nested" / f"out{suffix}", audio, 16000)
    loaded, sr = load_audio(path)
    assert sr == 16000
    np.testing.assert_allclose(loaded, audio, atol=atol)


def test_write_accepts_channels_first_and_torch_and_clips(tmp_path):
    stereo = torch.stack([torch.full((800,), 1.5), torch.full((800,), -0.25)])
    write_audio(tmp_path / "stereo.wav", stereo, 8000)
    info = sf.info(tmp_path / "stereo.wav")
    assert (info.channels, info.frames, info.samplerate) == (2, 800, 8000)
    loaded, _ = load_audio(tmp_path / "stereo.wav", mono=False)
    assert loaded[0].max() == pytest.approx(32767 / 32768)  # clipped to full scale, not wrapped around
    np.testing.assert_allclose(loaded[1], -0.25, atol=1e-4)


def test_write_rejects_bad_input(tmp_path):
    with pytest.raises(AudioError, match="out.xyz.*.xyz.*use a .wav, .flac or .ogg"):
        write_audio(tmp_path / "out.xyz", tone(), 16000)
    with pytest.raises(AudioError, match="NaN"):
        write_audio(tmp_path / "out.wav", np.full(10, np.nan), 16000)
    with pytest.raises(AudioError, match="sampling_rate=0 is not supported"):
        write_audio(tmp_path / "out.wav", tone(), 0)


# ---------------------------------------------------------------------------------------------------- levels
def test_peak_normalize():
    out = peak_normalize(tone(amplitude=0.1), peak_db=-1.0)
    assert np.max(np.abs(out)) == pytest.approx(10 ** (-1 / 20), rel=1e-5)
    silence = np.zeros(10, np.float32)
    np.testing.assert_array_equal(peak_normalize(silence), silence)


def test_rms_db_and_loudness_normalize():
    full_scale_sine = tone(amplitude=1.0, seconds=1.0)
    assert rms_db(full_scale_sine) == pytest.approx(-3.01, abs=0.01)
    out = loudness_normalize(tone(amplitude=0.01), target_db=-25.0)
    assert rms_db(out) == pytest.approx(-25.0, abs=0.01)
    quiet = tone(amplitude=1e-3)  # about -63 dBFS: the gain is capped at 30 dB instead of reaching -25 dBFS
    assert rms_db(loudness_normalize(quiet, target_db=-25.0, max_gain_db=30.0)) == pytest.approx(
        rms_db(quiet) + 30.0, abs=0.01
    )
