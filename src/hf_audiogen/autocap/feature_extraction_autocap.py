"""Audio front-end of AutoCap: waveforms at any rate -> the two log-mel spectrograms the model reads.

* ``input_features`` for the HTSAT frame encoder: 32 kHz, n_fft 1024, hop 320, 64 slaney mel bins 50-14000 Hz, power
  in dB (``10 log10(max(x, 1e-10))``, no top-dB clipping) — the reference's torchlibrosa front-end;
* ``clap_input_features`` for the CLAP audio model: the same clip resampled to 48 kHz, hop 480 — LAION-CLAP's
  front-end (the reference resamples its 32 kHz clip to 48 kHz for CLAP).

Before both, each clip is prepared as the reference's ``read_wav_file`` does: resampled to 32 kHz, cut to
``max_length_s`` (10 s), mean removed, peak-normalised to 0.5, zero-padded at the end to ``max_length_s``. Both
spectrograms come from transformers' [`ClapFeatureExtractor`] (its non-fusion path computes exactly this
slaney-mel dB spectrogram), configured for each rate.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from transformers import BatchFeature, ClapFeatureExtractor
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor

from ..audio import AudioError, check_audio, check_sample_rate, resample
from ..validation import MAX_AUDIO_PROMPT_SECONDS, check_choice, check_float

CROP_MODES = ("start", "random")
_TRIM_MARGIN_S = 0.5  # seconds kept past max_length_s before resampling (the clip is cut exactly after it)


class AutoCapFeatureExtractor(SequenceFeatureExtractor):
    r"""Log-mel front-ends of AutoCap's HTSAT encoder (32 kHz) and CLAP model (48 kHz).

    Args:
        feature_size (`int`): mel bins of the HTSAT front-end (64).
        sampling_rate (`int`): rate of the HTSAT front-end (32000); input audio is resampled to it.
        hop_length (`int`), n_fft (`int`): STFT hop and window of the HTSAT front-end (320, 1024).
        frequency_min (`float`), frequency_max (`float`): mel filter range in Hz (50, 14000).
        max_length_s (`float`): clip length in seconds (10.0): longer audio is cut, shorter is zero-padded.
        clap_sampling_rate (`int`, *optional*): rate of the CLAP front-end (48000); ``None`` for a model without the
            CLAP token (no ``clap_input_features``).
        clap_feature_size (`int`), clap_hop_length (`int`), clap_n_fft (`int`), clap_frequency_min (`float`),
            clap_frequency_max (`float`): the CLAP front-end (64, 480, 1024, 50, 14000).

    Example:

    ```python
    >>> import numpy as np
    >>> from hf_audiogen.autocap import AutoCapFeatureExtractor
    >>> extractor = AutoCapFeatureExtractor()
    >>> features = extractor(np.random.randn(44100), sampling_rate=44100, return_tensors="np")
    >>> features["input_features"].shape, features["clap_input_features"].shape
    ((1, 1, 1001, 64), (1, 1, 1001, 64))
    ```
    """

    model_input_names = ["input_features", "clap_input_features"]

    def __init__(
        self,
        feature_size: int = 64,
        sampling_rate: int = 32000,
        hop_length: int = 320,
        n_fft: int = 1024,
        frequency_min: float = 50.0,
        frequency_max: float = 14000.0,
        max_length_s: float = 10.0,
        clap_sampling_rate: int | None = 48000,
        clap_feature_size: int = 64,
        clap_hop_length: int = 480,
        clap_n_fft: int = 1024,
        clap_frequency_min: float = 50.0,
        clap_frequency_max: float = 14000.0,
        padding_value: float = 0.0,
        **kwargs,
    ):
        kwargs.setdefault("return_attention_mask", False)  # clips are padded to one length and not masked
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        check_sample_rate(sampling_rate)
        if clap_sampling_rate is not None:
            check_sample_rate(clap_sampling_rate, "clap_sampling_rate")
        max_length_s = check_float(
            "max_length_s", max_length_s, min=0, max=MAX_AUDIO_PROMPT_SECONDS, min_inclusive=False
        )
        self.hop_length = hop_length
        self.n_fft = n_fft
        self.frequency_min = frequency_min
        self.frequency_max = frequency_max
        self.max_length_s = max_length_s
        self.clap_sampling_rate = clap_sampling_rate
        self.clap_feature_size = clap_feature_size
        self.clap_hop_length = clap_hop_length
        self.clap_n_fft = clap_n_fft
        self.clap_frequency_min = clap_frequency_min
        self.clap_frequency_max = clap_frequency_max
        self._frontends = self._build_frontends()

    def _build_frontends(self) -> dict[str, ClapFeatureExtractor]:
        # "rand_trunc" + "pad" is ClapFeatureExtractor's plain path (slaney mel, dB); clips arrive at exactly
        # max_length samples, so it neither crops nor pads.
        common = dict(truncation="rand_trunc", padding="pad", top_db=None)
        frontends = {
            "input_features": ClapFeatureExtractor(
                feature_size=self.feature_size,
                sampling_rate=self.sampling_rate,
                hop_length=self.hop_length,
                fft_window_size=self.n_fft,
                frequency_min=self.frequency_min,
                frequency_max=self.frequency_max,
                max_length_s=self.max_length_s,
                **common,
            )
        }
        if self.clap_sampling_rate is not None:
            frontends["clap_input_features"] = ClapFeatureExtractor(
                feature_size=self.clap_feature_size,
                sampling_rate=self.clap_sampling_rate,
                hop_length=self.clap_hop_length,
                fft_window_size=self.clap_n_fft,
                frequency_min=self.clap_frequency_min,
                frequency_max=self.clap_frequency_max,
                max_length_s=self.max_length_s,
                **common,
            )
        return frontends

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        output.pop("_frontends", None)  # rebuilt from the fields above
        return output

    @property
    def num_samples(self) -> int:
        """Samples of one clip at :attr:`sampling_rate` (``max_length_s`` seconds)."""
        return int(round(self.max_length_s * self.sampling_rate))

    @property
    def num_frames(self) -> int:
        """Frames of ``input_features`` (centred STFT)."""
        return self.num_samples // self.hop_length + 1

    def prepare_waveform(
        self, audio: np.ndarray, crop: str = "start", rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """One clip at :attr:`sampling_rate` -> ``num_samples`` samples: cut (``"start"`` keeps the first
        ``max_length_s`` seconds, ``"random"`` a random window, as the reference's training), remove the mean,
        peak-normalise to 0.5 (silence stays silence), zero-pad at the end."""
        check_choice("crop", crop, CROP_MODES)
        audio = np.asarray(audio, dtype=np.float64)
        if audio.shape[-1] > self.num_samples:
            start = 0
            if crop == "random":
                rng = rng if rng is not None else np.random.default_rng()
                start = int(rng.integers(0, audio.shape[-1] - self.num_samples + 1))
            audio = audio[start : start + self.num_samples]
        audio = audio - audio.mean()
        audio = 0.5 * audio / (np.max(np.abs(audio)) + 1e-8)
        return np.pad(audio, (0, self.num_samples - audio.shape[-1]))

    def __call__(
        self,
        raw_audio,
        sampling_rate: int | None = None,
        return_tensors: str | None = None,
        crop: str = "start",
        rng: np.random.Generator | None = None,
        **kwargs,
    ) -> BatchFeature:
        """Featurize one clip or a batch.

        Args:
            raw_audio: mono audio: a 1-D array / list of floats / tensor (one clip), a list of them, or a 2-D array
                ``(batch, samples)``.
            sampling_rate: rate of ``raw_audio`` in Hz (required; any rate, resampled to :attr:`sampling_rate`).
            return_tensors: ``"pt"``, ``"np"`` or ``None`` (lists).
            crop: how clips longer than ``max_length_s`` are cut (see :meth:`prepare_waveform`).
            rng: random source for ``crop="random"``.

        Returns:
            [`BatchFeature`] with ``input_features`` ``(batch, 1, num_frames, feature_size)`` and, with a CLAP
            front-end, ``clap_input_features`` ``(batch, 1, frames, clap_feature_size)``.

        Raises:
            AudioError (a `ValueError`): empty, non-finite or multichannel audio, or a missing/invalid rate.
        """
        if sampling_rate is None:
            raise AudioError(
                f"sampling_rate is required: pass the rate of raw_audio in Hz (it is resampled to {self.sampling_rate})"
            )
        sampling_rate = check_sample_rate(sampling_rate)
        check_choice("crop", crop, CROP_MODES)
        clips = _as_clip_list(raw_audio)
        prepared = []
        # With crop="start" only the first max_length_s seconds are used: cut longer clips (with a margin for the
        # resampler's edge) before they are checked and resampled, so that a long clip costs what a short one does.
        keep = math.ceil((self.max_length_s + _TRIM_MARGIN_S) * sampling_rate) if crop == "start" else None
        for i, clip in enumerate(clips):
            if keep is not None and np.ndim(clip) == 1:
                clip = clip[:keep]
            clip = check_audio(clip, name=f"audio[{i}]" if len(clips) > 1 else "audio")
            if clip.ndim != 1:
                raise AudioError(
                    f"audio[{i}] must be mono with shape (samples,), got shape {clip.shape}; downmix it first "
                    "(e.g. audio.mean(axis=0) for (channels, samples))"
                )
            clip = resample(clip, sampling_rate, self.sampling_rate)
            prepared.append(self.prepare_waveform(clip, crop=crop, rng=rng))
        features = {"input_features": self._log_mel("input_features", prepared, self.sampling_rate, self.num_samples)}
        if "clap_input_features" in self._frontends:
            clap_samples = int(round(self.max_length_s * self.clap_sampling_rate))
            clap_clips = [
                _fit(resample(clip.astype(np.float32), self.sampling_rate, self.clap_sampling_rate), clap_samples)
                for clip in prepared
            ]
            features["clap_input_features"] = self._log_mel(
                "clap_input_features", clap_clips, self.clap_sampling_rate, clap_samples
            )
        return BatchFeature(features, tensor_type=return_tensors)

    def _log_mel(self, name: str, clips: list[np.ndarray], sampling_rate: int, num_samples: int) -> np.ndarray:
        frontend = self._frontends[name]
        mel = frontend(clips, sampling_rate=sampling_rate, max_length=num_samples, return_tensors="np")
        return mel["input_features"].astype(np.float32)  # (batch, 1, frames, mel bins)


def _fit(audio: np.ndarray, num_samples: int) -> np.ndarray:
    """Cut or zero-pad to exactly ``num_samples`` (resampling may be off by a sample)."""
    audio = audio[:num_samples]
    return np.pad(audio, (0, num_samples - audio.shape[-1]))


def _as_clip_list(raw_audio) -> list[np.ndarray]:
    if hasattr(raw_audio, "detach"):  # torch tensor
        raw_audio = raw_audio.detach().cpu().float().numpy()
    if isinstance(raw_audio, np.ndarray):
        if raw_audio.ndim == 1:
            return [raw_audio]
        if raw_audio.ndim == 2:
            return list(raw_audio)
        raise AudioError(f"audio array must be (samples,) or (batch, samples), got shape {raw_audio.shape}")
    if isinstance(raw_audio, (list, tuple)):
        if len(raw_audio) == 0:
            raise AudioError("audio is an empty list: give at least one clip")
        if all(isinstance(x, (int, float, np.number)) and not isinstance(x, bool) for x in raw_audio):
            return [np.asarray(raw_audio)]
        return [c.detach().cpu().float().numpy() if hasattr(c, "detach") else np.asarray(c) for c in raw_audio]
    raise AudioError(f"audio must be an array, a tensor or a list of them, got {type(raw_audio).__name__}")


__all__ = ["AutoCapFeatureExtractor"]
