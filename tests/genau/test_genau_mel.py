"""GenAU mel front-end against an independent numpy implementation of the reference (librosa-style slaney filters,
reflect padding, center=False magnitude STFT, log clamp)."""

import numpy as np
import pytest
import torch

from hf_audiogen import AudioError
from hf_audiogen.genau import GenAUMelFeatureExtractor


def slaney_hz_to_mel(hz):
    hz = np.asarray(hz, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-12) / min_log_hz) / logstep, hz / f_sp)


def slaney_mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


def reference_filters(sr=16000, n_fft=1024, n_mels=64, fmin=0.0, fmax=8000.0):
    """librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax) (slaney scale, slaney norm) written out: (n_mels, bins)."""
    fft_freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = slaney_mel_to_hz(np.linspace(slaney_hz_to_mel(fmin), slaney_hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    return weights * (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]


def reference_log_mel(wav, n_fft=1024, hop=160):
    pad = (n_fft - hop) // 2
    padded = np.pad(wav.astype(np.float64), (pad, pad), mode="reflect")
    frames = 1 + (len(padded) - n_fft) // hop
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann (torch.hann_window)
    stack = np.stack([padded[i * hop : i * hop + n_fft] * window for i in range(frames)], axis=1)
    magnitude = np.abs(np.fft.rfft(stack, axis=0))
    return np.log(np.maximum(reference_filters() @ magnitude, 1e-5))


def test_filters_match_slaney_formula():
    fe = GenAUMelFeatureExtractor()
    assert fe.mel_filters.shape == (513, 64)
    np.testing.assert_allclose(fe.mel_filters.T, reference_filters(), rtol=1e-5, atol=1e-8)


def test_features_match_reference_and_frame_count():
    rng = np.random.default_rng(0)
    wav = (0.3 * rng.standard_normal(16000)).astype(np.float32)
    fe = GenAUMelFeatureExtractor(max_duration_s=None, do_normalize=False)
    features = fe(wav, sampling_rate=16000, return_tensors="np")["input_features"]
    assert features.shape == (1, 64, 100)  # one frame per hop of 160 samples
    np.testing.assert_allclose(features[0], reference_log_mel(wav), atol=2e-4)


def test_default_window_is_1024_frames_and_mask_marks_audio():
    fe = GenAUMelFeatureExtractor()
    out = fe([np.ones(8000) * 0.1, np.random.randn(40000)], sampling_rate=16000, return_tensors="pt")
    assert out["input_features"].shape == (2, 64, 1024) and out["input_features"].dtype == torch.float32
    assert out["attention_mask"].sum(-1).tolist() == [50, 250]
    # padding is digital silence: log(1e-5) in every frame past the audio (reflect padding aside at the border)
    assert torch.allclose(out["input_features"][0, :, 60:], torch.tensor(np.log(1e-5), dtype=torch.float32))


def test_normalisation_resampling_and_longer_audio_is_cut():
    fe = GenAUMelFeatureExtractor(max_duration_s=1.0)
    wav = np.sin(np.linspace(0, 2000, 3 * 16000)).astype(np.float32) * 0.01 + 0.2
    a = fe(wav, sampling_rate=16000, return_tensors="np")["input_features"]
    b = fe(wav * 30 - 6.0, sampling_rate=16000, return_tensors="np")["input_features"]  # same after mean/peak norm
    assert a.shape == (1, 64, 100)  # 3 s cut to 1 s
    np.testing.assert_allclose(a, b, atol=1e-2)  # float32 rounding of the DC removal shows in near-silent bins
    raw = fe(wav, sampling_rate=16000, return_tensors="np", do_normalize=False)["input_features"]
    assert not np.allclose(raw, a, atol=1e-2)
    # 44.1 kHz input is resampled: same frame count, and a 1 kHz tone peaks in the same mel bin
    tone = np.sin(2 * np.pi * 1000 * np.arange(44100) / 44100).astype(np.float32)
    tone_16k = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000).astype(np.float32)
    c = fe(tone, sampling_rate=44100, return_tensors="np")["input_features"]
    d = fe(tone_16k, sampling_rate=16000, return_tensors="np")["input_features"]
    assert c.shape == (1, 64, 100)
    np.testing.assert_allclose(c[0, :, 10:90], d[0, :, 10:90], atol=0.05)


def test_save_load_round_trip(tmp_path):
    fe = GenAUMelFeatureExtractor(feature_size=32, max_frequency=7000.0, max_duration_s=2.0)
    fe.save_pretrained(tmp_path)
    loaded = GenAUMelFeatureExtractor.from_pretrained(tmp_path)
    assert "mel_filters" not in (tmp_path / "preprocessor_config.json").read_text()
    np.testing.assert_array_equal(loaded.mel_filters, fe.mel_filters)
    wav = np.random.default_rng(1).standard_normal(5000)
    np.testing.assert_array_equal(
        loaded(wav, sampling_rate=16000)["input_features"][0], fe(wav, sampling_rate=16000)["input_features"][0]
    )


def test_bad_inputs():
    fe = GenAUMelFeatureExtractor()
    with pytest.raises(ValueError, match="sampling_rate"):
        fe(np.zeros(100))
    with pytest.raises(AudioError, match="empty list"):
        fe([], sampling_rate=16000)
    with pytest.raises(AudioError, match="NaN"):
        fe(np.array([0.0, np.nan] * 500), sampling_rate=16000)
    with pytest.raises(ValueError, match="max_frequency"):
        GenAUMelFeatureExtractor(max_frequency=9000.0)
    with pytest.raises(ValueError, match="hop_length"):
        GenAUMelFeatureExtractor(hop_length=0)
