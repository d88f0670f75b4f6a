"""GenAU's mel front-end: waveforms -> log-mel spectrograms with mel bins as channels.

This is the AudioLDM/GenAU front-end (``GenAU/src/utilities/data/videoaudio_dataset.py`` in the reference): 16 kHz
audio, Hann window of 1024, hop 160, reflect padding of ``(n_fft - hop) / 2`` on both sides with ``center=False``,
magnitude STFT, 64 slaney-scale, slaney-normalised mel filters from 0 to 8000 Hz, ``log(clamp(x, 1e-5))``, no mean/std
normalisation. 10.24 s of audio give exactly 1024 frames (one frame per hop). The spectrogram itself is
:func:`hf_audiogen.mel.log_mel_spectrogram` (re-exported here), shared with the evaluation's audio embedding.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import BatchFeature, SequenceFeatureExtractor

from ..audio import AudioError, check_audio, check_sample_rate, resample, to_mono
from ..mel import log_mel_spectrogram, slaney_mel_filters
from ..validation import (
    MAX_AUDIO_PROMPT_SECONDS,
    InvalidInputError,
    check_choice,
    check_float,
    check_int,
    check_optional_float,
)


class GenAUMelFeatureExtractor(SequenceFeatureExtractor):
    """Log-mel features for GenAU's 1D-VAE and HiFi-GAN vocoder.

    Each waveform is resampled to ``sampling_rate`` (soxr), optionally normalised as the reference training data are
    (mean removed, peak scaled to 0.5), zero-padded at the end or cut to ``max_duration_s`` (10.24 s by default) and
    turned into ``(feature_size, frames)`` log-mel magnitudes, one frame per ``hop_length`` samples.

    Args:
        feature_size (`int`): number of mel bins (64).
        sampling_rate (`int`): model sampling rate in Hz (16000).
        n_fft (`int`): FFT and Hann-window size (1024).
        hop_length (`int`): hop between frames in samples (160).
        min_frequency, max_frequency (`float`): mel filter range in Hz (0 and 8000).
        log_floor (`float`): magnitudes are clamped to this before the natural log (1e-5).
        max_duration_s (`float` or `None`): every waveform is padded/cut to this duration; ``None`` pads to the longest
            waveform of the batch instead.
        do_normalize (`bool`): remove the mean and scale the peak to 0.5 (the reference's ``normalize_wav``).
        padding_value (`float`): value of padded samples.

    Example:

    ```python
    >>> import numpy as np
    >>> from hf_audiogen.genau import GenAUMelFeatureExtractor
    >>> fe = GenAUMelFeatureExtractor()
    >>> features = fe(np.random.randn(44100), sampling_rate=44100, return_tensors="pt")
    >>> features["input_features"].shape  # (batch, mel bins, frames) for 10.24 s
    torch.Size([1, 64, 1024])
    ```
    """

    model_input_names = ["input_features"]

    def __init__(
        self,
        feature_size: int = 64,
        sampling_rate: int = 16_000,
        n_fft: int = 1024,
        hop_length: int = 160,
        min_frequency: float = 0.0,
        max_frequency: float = 8000.0,
        log_floor: float = 1e-5,
        max_duration_s: float | None = 10.24,
        do_normalize: bool = True,
        padding_value: float = 0.0,
        **kwargs,
    ):
        sampling_rate = check_sample_rate(sampling_rate)
        feature_size = check_int("feature_size", feature_size, min=1)
        n_fft = check_int("n_fft", n_fft, min=1)
        hop_length = check_int("hop_length (at most n_fft)", hop_length, min=1, max=n_fft)
        max_frequency = check_float(
            "max_frequency (Hz, up to sampling_rate / 2)",
            max_frequency,
            min=0,
            max=sampling_rate / 2,
            min_inclusive=False,
        )
        min_frequency = check_float(
            "min_frequency (Hz, below max_frequency)", min_frequency, min=0, max=max_frequency, max_inclusive=False
        )
        log_floor = check_float("log_floor", log_floor, min=0, min_inclusive=False)
        max_duration_s = check_optional_float(
            "max_duration_s (seconds, at least one hop)",
            max_duration_s,
            min=hop_length / sampling_rate,
            max=MAX_AUDIO_PROMPT_SECONDS,
        )
        check_choice("do_normalize", do_normalize, (True, False))
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.min_frequency = float(min_frequency)
        self.max_frequency = float(max_frequency)
        self.log_floor = float(log_floor)
        self.max_duration_s = max_duration_s
        self.do_normalize = do_normalize
        self.mel_filters = slaney_mel_filters(n_fft, feature_size, min_frequency, max_frequency, sampling_rate)

    @property
    def max_samples(self) -> int | None:
        """Samples every waveform is padded/cut to (whole hops), or ``None`` to pad to the longest."""
        if self.max_duration_s is None:
            return None
        return int(self.max_duration_s * self.sampling_rate / self.hop_length) * self.hop_length

    def __call__(
        self,
        raw_audio,
        sampling_rate: int | None = None,
        return_tensors: str | None = None,
        do_normalize: bool | None = None,
    ) -> BatchFeature:
        """Compute log-mel features.

        Args:
            raw_audio: one waveform ``(samples,)`` / ``(channels, samples)`` (multichannel is averaged to mono), or a
                list of them; numpy arrays, torch tensors or lists of numbers.
            sampling_rate: sampling rate of ``raw_audio`` in Hz (required).
            return_tensors: ``"pt"``, ``"np"`` or ``None`` (lists of numpy arrays).
            do_normalize: overrides ``self.do_normalize`` for this call.

        Returns:
            [`BatchFeature`] with ``input_features`` ``(batch, feature_size, frames)`` float32 and ``attention_mask``
            ``(batch, frames)``: 1 on frames that contain audio, 0 on frames that only hold padding.
        """
        if sampling_rate is None:
            raise InvalidInputError(
                f"{type(self).__name__} needs the sampling_rate of raw_audio (e.g. sampling_rate=44100); it resamples "
                f"to {self.sampling_rate} Hz"
            )
        sampling_rate = check_sample_rate(sampling_rate)
        do_normalize = (
            self.do_normalize if do_normalize is None else check_choice("do_normalize", do_normalize, (True, False))
        )
        waveforms = [self._prepare_waveform(w, sampling_rate, do_normalize, i) for i, w in enumerate(_split(raw_audio))]
        lengths = [len(w) for w in waveforms]
        target = self.max_samples or -(-max(lengths) // self.hop_length) * self.hop_length
        batch = np.zeros((len(waveforms), target), dtype=np.float32) + np.float32(self.padding_value)
        for row, waveform in zip(batch, waveforms):
            row[: min(len(waveform), target)] = waveform[:target]
        with torch.no_grad():
            features = log_mel_spectrogram(
                torch.from_numpy(batch),
                torch.from_numpy(self.mel_filters),
                torch.hann_window(self.n_fft),
                self.hop_length,
                self.log_floor,
            ).numpy()
        frames = features.shape[-1]
        attention_mask = np.zeros((len(waveforms), frames), dtype=np.int32)
        for row, length in zip(attention_mask, lengths):
            row[: min(-(-length // self.hop_length), frames)] = 1
        output = BatchFeature({"input_features": list(features), "attention_mask": list(attention_mask)})
        return output.convert_to_tensors(return_tensors) if return_tensors is not None else output

    def _prepare_waveform(self, example, sampling_rate: int, do_normalize: bool, index: int) -> np.ndarray:
        name = f"raw_audio[{index}]"
        if isinstance(example, torch.Tensor):
            example = example.detach().cpu().float().numpy()
        audio = check_audio(np.asarray(example), name=name)
        if audio.ndim == 2:
            audio = to_mono(audio, "mean")
        audio = resample(audio, sampling_rate, self.sampling_rate)
        if len(audio) <= (self.n_fft - self.hop_length) // 2 and self.max_samples is None:
            raise AudioError(
                f"{name} has {len(audio)} samples at {self.sampling_rate} Hz; need more than "
                f"{(self.n_fft - self.hop_length) // 2}"
            )
        if do_normalize:
            audio = audio - audio.mean()
            audio = 0.5 * audio / (np.abs(audio).max() + 1e-8)
        return audio.astype(np.float32, copy=False)


def _split(raw_audio) -> list:
    """A batch (list/tuple of waveforms or a 2-D/3-D array of mono/multichannel items) -> list of waveforms."""
    if isinstance(raw_audio, torch.Tensor):
        raw_audio = raw_audio.detach().cpu().float().numpy()
    if isinstance(raw_audio, np.ndarray):
        return [raw_audio] if raw_audio.ndim <= 2 else list(raw_audio)
    if isinstance(raw_audio, (list, tuple)):
        if len(raw_audio) == 0:
            raise AudioError("raw_audio is an empty list: give at least one waveform")
        if all(isinstance(x, (int, float, np.number)) and not isinstance(x, bool) for x in raw_audio):
            return [np.asarray(raw_audio, dtype=np.float32)]
        return list(raw_audio)
    raise AudioError(f"raw_audio must be a numpy array, torch tensor or a list of them, got {type(raw_audio).__name__}")


__all__ = ["GenAUMelFeatureExtractor", "log_mel_spectrogram"]
