"""Feature extractor of the codec: raw waveforms at any sampling rate -> padded ``input_values`` + ``padding_mask``."""

from typing import Literal

import numpy as np
from transformers import BatchFeature, SequenceFeatureExtractor

from ..audio import AudioError, check_audio, check_sample_rate, resample, to_mono
from ..validation import InvalidInputError, check_choice, check_int, check_optional_int

_MONO_MODES = ("error", "mean", "first")


class CodecFeatureExtractor(SequenceFeatureExtractor):
    """Turns one waveform or a batch of waveforms into the inputs of [`CodecModel`].

    Each waveform (numpy array, torch tensor or list of numbers) is ``(samples,)`` or ``(channels, samples)``; a batch
    is a list/tuple of waveforms or a 3-D ``(batch, channels, samples)`` array. Audio is checked (numeric, finite,
    non-empty), integer PCM is scaled to [-1, 1), multichannel audio is rejected or downmixed according to ``mono``,
    everything is resampled with soxr to ``self.sampling_rate`` and right-padded with zeros to the longest example.

    Args:
        feature_size (`int`): audio channels the codec expects (1 = mono).
        sampling_rate (`int`): the codec's sampling rate.
        padding_value (`float`): value of padded samples.
        mono (`str`): what to do with multichannel input when ``feature_size == 1``: ``"error"`` (default) rejects
            it, ``"mean"`` downmixes, ``"first"`` keeps channel 0.

    Example:

    ```python
    >>> import numpy as np
    >>> from hf_audiogen.codec import CodecFeatureExtractor
    >>> fe = CodecFeatureExtractor(sampling_rate=16000)
    >>> batch = fe([np.zeros(22050, dtype=np.float32), np.ones(11025)], sampling_rate=22050, return_tensors="pt")
    >>> batch["input_values"].shape, batch["padding_mask"].shape
    (torch.Size([2, 1, 16000]), torch.Size([2, 16000]))
    ```
    """

    model_input_names = ["input_values", "padding_mask"]

    def __init__(
        self,
        feature_size: int = 1,
        sampling_rate: int = 16_000,
        padding_value: float = 0.0,
        mono: Literal["error", "mean", "first"] = "error",
        **kwargs,
    ):
        feature_size = check_int("feature_size (audio channels)", feature_size, min=1)
        sampling_rate = check_sample_rate(sampling_rate)
        _check_mono(mono)
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        self.mono = mono

    def __call__(
        self,
        raw_audio,
        sampling_rate: int | None = None,
        padding: bool | str = True,
        max_length: int | None = None,
        truncation: bool = False,
        return_tensors: str | None = None,
        mono: Literal["error", "mean", "first"] | None = None,
    ) -> BatchFeature:
        """Prepare waveforms for the codec.

        Args:
            raw_audio: a waveform or a batch of waveforms (see the class docstring).
            sampling_rate: sampling rate of ``raw_audio`` in Hz (required: guessing it silently corrupts the audio).
            padding, max_length, truncation: as in [`SequenceFeatureExtractor.pad`] (default: pad to the longest).
            return_tensors: ``"pt"`` or ``"np"`` (default: lists of numpy arrays).
            mono: overrides ``self.mono`` for this call.

        Returns:
            [`BatchFeature`] with ``input_values`` (batch, channels, samples) float32 and ``padding_mask`` (batch,
            samples), 1 on real samples and 0 on padding.
        """
        if sampling_rate is None:
            raise InvalidInputError(
                f"{type(self).__name__} needs the sampling_rate of raw_audio (e.g. sampling_rate=44100); it resamples "
                f"to {self.sampling_rate} Hz"
            )
        sampling_rate = check_sample_rate(sampling_rate)
        mono = self.mono if mono is None else mono
        _check_mono(mono)
        max_length = check_optional_int("max_length (samples)", max_length, min=1)

        waveforms = [
            self._prepare_waveform(example, sampling_rate, mono, index)
            for index, example in enumerate(_split_batch(raw_audio))
        ]
        # SequenceFeatureExtractor.pad wants (samples,) for one channel and (samples, channels) otherwise.
        batch = BatchFeature({"input_values": [w[0] if self.feature_size == 1 else w.T for w in waveforms]})
        padded = self.pad(
            batch, padding=padding, max_length=max_length, truncation=truncation, return_attention_mask=True
        )
        padding_mask = padded.pop("attention_mask")
        input_values = [
            np.asarray(w, dtype=np.float32).reshape(-1, self.feature_size).T for w in padded["input_values"]
        ]
        output = BatchFeature({"input_values": input_values, "padding_mask": [np.asarray(m) for m in padding_mask]})
        return output.convert_to_tensors(return_tensors) if return_tensors is not None else output

    def _prepare_waveform(self, example, sampling_rate: int, mono: str, index: int) -> np.ndarray:
        """One waveform -> float32 (channels, samples) at ``self.sampling_rate``."""
        name = f"raw_audio[{index}]"
        if hasattr(example, "detach"):  # torch tensor
            example = _tensor_to_numpy(example)
        if isinstance(example, (list, tuple)):
            try:
                example = np.asarray(example)
            except ValueError as err:
                raise AudioError(f"{name} is a ragged list; give each waveform as one array") from err
        if not isinstance(example, np.ndarray) or example.dtype == object:
            raise AudioError(
                f"{name} must be a numpy array, torch tensor or list of numbers, got {type(example).__name__}"
            )
        audio = check_audio(example, name=name)
        audio = audio[None] if audio.ndim == 1 else audio
        channels = audio.shape[0]
        if self.feature_size == 1 and channels > 1:
            if mono == "error":
                raise AudioError(
                    f"{name} has {channels} channels (shape {tuple(example.shape)}) but the codec is mono: pass "
                    "mono='mean' to downmix, or a list of 1-D waveforms for a batch"
                )
            audio = to_mono(audio, mono)[None]
        elif channels != self.feature_size:
            raise AudioError(f"{name} has {channels} channel(s), the codec expects {self.feature_size}")
        return resample(audio, sampling_rate, self.sampling_rate)


def _check_mono(mono) -> None:
    check_choice("mono", mono, _MONO_MODES)


def _tensor_to_numpy(tensor) -> np.ndarray:
    tensor = tensor.detach().cpu()
    # numpy has no bfloat16; float16/bfloat16 audio is widened to float32 before the checks.
    return (tensor.float() if tensor.is_floating_point() else tensor).numpy()


def _split_batch(raw_audio) -> list:
    """A batch (list/tuple of waveforms or a 3-D array) -> list of waveforms; a single waveform -> [waveform]."""
    if hasattr(raw_audio, "detach"):
        raw_audio = _tensor_to_numpy(raw_audio)
    if isinstance(raw_audio, np.ndarray):
        if raw_audio.ndim == 3:
            return list(raw_audio)
        return [raw_audio]
    if isinstance(raw_audio, (list, tuple)):
        if len(raw_audio) == 0:
            raise AudioError("raw_audio is an empty list: give at least one waveform")
        if all(isinstance(x, (int, float, np.number)) and not isinstance(x, bool) for x in raw_audio):
            return [np.asarray(raw_audio)]  # one waveform given as a list of numbers
        return list(raw_audio)
    raise AudioError(f"raw_audio must be a numpy array, torch tensor or a list of them, got {type(raw_audio).__name__}")


__all__ = ["CodecFeatureExtractor"]
