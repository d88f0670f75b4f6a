"""The log-mel front-end shared by GenAU's feature extractor (and its VAE / vocoder training) and the evaluation's
audio embedding: slaney-scale, slaney-normalised mel filters (librosa's defaults, the AudioLDM/GenAU reference's
filters) and a reflect-padded magnitude STFT -> ``log(clamp(mel, floor))``.

It lives outside both families so that the evaluation path imports only torch and transformers' ``mel_filter_bank``
(importing ``hf_audiogen.genau`` pulls in diffusers). Only torch and transformers are needed (no librosa, no
torchaudio).

Example:

```python
>>> import torch
>>> from hf_audiogen.mel import log_mel_spectrogram, slaney_mel_filters
>>> filters = torch.from_numpy(slaney_mel_filters(n_fft=1024, n_mels=64, min_frequency=0.0, max_frequency=8000.0,
...                                               sampling_rate=16000))
>>> log_mel_spectrogram(torch.randn(2, 16000), filters, torch.hann_window(1024), hop_length=160).shape
torch.Size([2, 64, 100])

```
"""

from __future__ import annotations

import numpy as np
import torch
from transformers.audio_utils import mel_filter_bank

from .validation import InvalidInputError


def slaney_mel_filters(
    n_fft: int, n_mels: int, min_frequency: float, max_frequency: float, sampling_rate: int
) -> np.ndarray:
    """``(n_fft // 2 + 1, n_mels)`` float32 filters: librosa.filters.mel's defaults (slaney mel scale, slaney area
    normalisation), the filters of the GenAU reference."""
    return mel_filter_bank(
        num_frequency_bins=n_fft // 2 + 1,
        num_mel_filters=n_mels,
        min_frequency=min_frequency,
        max_frequency=max_frequency,
        sampling_rate=sampling_rate,
        norm="slaney",
        mel_scale="slaney",
    ).astype(np.float32)


def log_mel_spectrogram(
    waveform: torch.Tensor,
    mel_filters: torch.Tensor,
    window: torch.Tensor,
    hop_length: int,
    log_floor: float = 1e-5,
) -> torch.Tensor:
    """``(batch, samples)`` waveforms -> ``(batch, n_mels, samples // hop_length)`` natural-log mel magnitudes.

    ``mel_filters`` is ``(n_fft // 2 + 1, n_mels)`` and ``window`` has ``n_fft`` samples. Works on any device and
    keeps gradients (the VAE and vocoder training code calls it on batches of tensors).
    """
    n_fft = window.shape[-1]
    if waveform.ndim != 2:
        raise InvalidInputError(f"waveform must be (batch, samples), got shape {tuple(waveform.shape)}")
    pad = (n_fft - hop_length) // 2
    if waveform.shape[-1] <= pad:
        raise InvalidInputError(
            f"waveform has {waveform.shape[-1]} samples; reflect padding needs more than (n_fft - hop) / 2 = {pad}"
        )
    # Reflect-pad by (n_fft - hop) / 2 and use center=False (not center=True) so that frame k is centred on sample
    # k * hop + hop / 2 and N samples give exactly N // hop frames, as in the reference.
    padded = torch.nn.functional.pad(waveform.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    spectrum = torch.stft(
        padded, n_fft, hop_length=hop_length, win_length=n_fft, window=window, center=False, return_complex=True
    ).abs()
    mel = torch.matmul(mel_filters.T.to(spectrum.dtype), spectrum)
    return torch.log(torch.clamp(mel, min=log_floor))


__all__ = ["log_mel_spectrogram", "slaney_mel_filters"]
