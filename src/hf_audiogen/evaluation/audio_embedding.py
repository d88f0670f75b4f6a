"""A fixed, training-free audio embedding for retrieval-style evaluation: log-mel statistics (+ codec latents).

No pretrained audio classifier or CLAP model installs offline (``reference/eval.md`` §1), so the text-adherence
evaluation compares clips with a fixed, hand-made descriptor instead:

* **log-mel statistics** — the mean and the standard deviation over time of each bin of a 64-bin log-mel spectrogram
  at 16 kHz (window 1024, hop 160, 0-8 kHz). The front-end is GenAU's (:mod:`hf_audiogen.mel`, shared with
  ``GenAUMelFeatureExtractor``), reused as is: it is exactly the "64-bin log-mel at 16 kHz" this needs. The mean captures the spectral envelope (a whistle, a moo and a crash differ
  there), the standard deviation how much each band moves (steady wind vs. footsteps).
* optionally the **codec-latent mean** — the time average of a codec encoder's continuous latents. It depends on the
  codec one passes, so it is only comparable between runs that use the same codec.

Every waveform is peak-normalised first, so a quieter generation of the right sound is not penalised for its level.
The raw features are standardised per dimension with statistics of a reference set (the corpus) and compared by
cosine similarity, see :class:`StandardizedCosine`.

Example:

```python
>>> import numpy as np
>>> from hf_audiogen.evaluation.audio_embedding import LogMelStatisticsEmbedding
>>> embed = LogMelStatisticsEmbedding()
>>> features = embed([np.random.randn(16000), np.random.randn(8000)], sampling_rate=16000)
>>> features.shape  # 64 means + 64 standard deviations per clip
(2, 128)

```
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..audio import AudioError, check_audio, check_sample_rate, peak_normalize, resample, to_mono
from ..mel import log_mel_spectrogram, slaney_mel_filters
from ..validation import InvalidInputError


class LogMelStatisticsEmbedding:
    """Waveforms -> ``(N, 2 * n_mels [+ codec hidden size])`` float64 features: per-bin mean and standard deviation
    over time of a log-mel spectrogram, optionally followed by the time-mean of a codec's encoder latents.

    Args:
        sampling_rate (`int`): rate the audio is resampled to before the mel front-end (16000).
        n_mels (`int`): mel bins (64).
        n_fft (`int`): FFT and Hann-window size (1024).
        hop_length (`int`): hop between frames (160, i.e. 10 ms at 16 kHz).
        max_frequency (`float`): top of the mel filter bank in Hz (8000).
        codec ([`~hf_audiogen.codec.CodecModel`], *optional*): when given, the mean over time of
            ``codec.encode_latents`` is appended (the audio is resampled to the codec's rate for it).
        peak_normalize (`bool`): scale each clip to a -1 dBFS peak first, so the level does not matter (True).

    Example:

    ```python
    >>> import numpy as np
    >>> embed = LogMelStatisticsEmbedding(n_mels=32)
    >>> embed(np.zeros(4000) + 0.1 * np.sin(np.arange(4000)), sampling_rate=16000).shape
    (1, 64)

    ```
    """

    def __init__(
        self,
        sampling_rate: int = 16_000,
        n_mels: int = 64,
        n_fft: int = 1024,
        hop_length: int = 160,
        max_frequency: float = 8000.0,
        codec=None,
        peak_normalize: bool = True,
    ):
        self.sampling_rate = check_sample_rate(sampling_rate)
        for name, value in (("n_mels", n_mels), ("n_fft", n_fft), ("hop_length", hop_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name} must be a positive int, got {value!r}")
        if hop_length > n_fft:
            raise InvalidInputError(f"hop_length ({hop_length}) must not exceed n_fft ({n_fft})")
        if not 0 < max_frequency <= self.sampling_rate / 2:
            raise InvalidInputError(
                f"max_frequency must be in (0, sampling_rate / 2 = {self.sampling_rate / 2}], got {max_frequency}"
            )
        if codec is not None and not hasattr(codec, "encode_latents"):
            raise InvalidInputError(f"codec must be a CodecModel (with encode_latents), got {type(codec).__name__}")
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.max_frequency = float(max_frequency)
        self.codec = codec
        self.peak_normalize = peak_normalize
        # Same filters as GenAU's feature extractor.
        self._mel_filters = torch.from_numpy(
            slaney_mel_filters(n_fft, n_mels, 0.0, self.max_frequency, self.sampling_rate)
        )
        self._window = torch.hann_window(n_fft)

    @property
    def dim(self) -> int:
        """Length of one feature vector."""
        return 2 * self.n_mels + (self.codec.config.hidden_size if self.codec is not None else 0)

    @property
    def name(self) -> str:
        """Short description recorded in reports (which embedding produced the figures)."""
        name = f"logmel{self.n_mels}-stats@{self.sampling_rate // 1000}kHz"
        return name + ("+codec-latent-mean" if self.codec is not None else "")

    def __call__(self, audio, sampling_rate: int) -> np.ndarray:
        """Embed one waveform ``(samples,)`` / ``(channels, samples)`` or a list of them (any lengths) at
        ``sampling_rate``; returns ``(N, dim)`` float64."""
        sampling_rate = check_sample_rate(sampling_rate)
        if isinstance(audio, torch.Tensor):
            audio = audio.detach().cpu().float().numpy()
        if isinstance(audio, np.ndarray) and audio.ndim <= 2 and audio.dtype != object:
            waveforms = [audio]
        elif isinstance(audio, Sequence) and not isinstance(audio, str):
            if len(audio) == 0:
                raise AudioError("audio is an empty list: give at least one waveform")
            waveforms = list(audio)
        else:
            raise AudioError(
                f"audio must be a waveform (numpy array / tensor) or a list of them, got {type(audio).__name__}"
            )
        return np.stack([self._embed_one(w, sampling_rate, i) for i, w in enumerate(waveforms)])

    @torch.no_grad()
    def _embed_one(self, waveform, sampling_rate: int, index: int) -> np.ndarray:
        if isinstance(waveform, torch.Tensor):
            waveform = waveform.detach().cpu().float().numpy()
        waveform = check_audio(np.asarray(waveform, dtype=np.float32), name=f"audio[{index}]")
        if waveform.ndim == 2:
            waveform = to_mono(waveform, "mean")
        if self.peak_normalize:
            waveform = peak_normalize(waveform)
        mel_input = resample(waveform, sampling_rate, self.sampling_rate).astype(np.float32)
        if len(mel_input) < self.n_fft:
            # The reflect-padded front-end needs some context; very short clips get trailing silence (their
            # statistics then include a few silent frames, which is the honest description of such a clip).
            mel_input = np.pad(mel_input, (0, self.n_fft - len(mel_input)))
        log_mel = log_mel_spectrogram(
            torch.from_numpy(mel_input)[None], self._mel_filters, self._window, self.hop_length
        )[0].double()
        parts = [log_mel.mean(dim=-1), log_mel.std(dim=-1, correction=0)]
        if self.codec is not None:
            codec_rate = self.codec.config.sampling_rate
            codec_input = torch.from_numpy(resample(waveform, sampling_rate, codec_rate).astype(np.float32))
            codec_input = codec_input.to(device=self.codec.device, dtype=self.codec.dtype)
            latents = self.codec.encode_latents(codec_input[None, None])
            parts.append(latents[0].double().mean(dim=-1).cpu())
        return torch.cat(parts).numpy()


class StandardizedCosine:
    """Cosine similarity after a per-dimension z-score fitted on reference features (e.g. the whole corpus).

    Without standardisation the log-mel means (tens of nats, all of one sign) would dominate every cosine; with it,
    each dimension counts by how much it varies across the reference clips. Dimensions constant over the reference
    get unit scale instead of a division by zero.

    Example:

    ```python
    >>> import numpy as np
    >>> reference = np.random.default_rng(0).normal(size=(10, 4))
    >>> cosine = StandardizedCosine(reference)
    >>> sims = cosine(reference[:2], reference)
    >>> sims.shape, bool(np.allclose(np.diag(sims[:, :2]), 1.0))
    ((2, 10), True)

    ```
    """

    def __init__(self, reference: np.ndarray, eps: float = 1e-8):
        reference = np.asarray(reference, dtype=np.float64)
        if reference.ndim != 2 or reference.shape[0] < 2:
            raise InvalidInputError(f"reference features must be (N >= 2, dim), got shape {reference.shape}")
        if not np.all(np.isfinite(reference)):
            raise InvalidInputError("reference features contain NaN or infinite values")
        self.mean = reference.mean(axis=0)
        std = reference.std(axis=0)
        self.std = np.where(std > eps, std, 1.0)

    def unit_vectors(self, features: np.ndarray) -> np.ndarray:
        """Standardise ``(N, dim)`` features and scale each row to unit length (all-zero rows stay zero)."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.mean.shape[0]:
            raise InvalidInputError(f"features must be (N, {self.mean.shape[0]}), got shape {features.shape}")
        z = (features - self.mean) / self.std
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        return z / np.where(norms > 0, norms, 1.0)

    def __call__(self, queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """``(Q, dim)`` x ``(N, dim)`` -> ``(Q, N)`` cosine similarities of the standardised features."""
        return self.unit_vectors(queries) @ self.unit_vectors(keys).T


__all__ = ["LogMelStatisticsEmbedding", "StandardizedCosine"]
