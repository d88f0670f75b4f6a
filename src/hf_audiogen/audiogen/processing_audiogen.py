"""Processor of AudioGen: one object that prepares both inputs of the model.

* text (the prompt) -> the text encoder's tokenizer -> ``input_ids`` / ``attention_mask``;
* audio (an optional prompt to continue) -> the codec's [`CodecFeatureExtractor`] -> ``input_values`` /
  ``padding_mask`` at the codec's sampling rate;

and, on the way out, :meth:`AudioGenProcessor.batch_decode` turns generated audio back into one numpy array per
example with the padding of its audio prompt removed (as ``MusicgenProcessor`` does).
"""

from __future__ import annotations

import numpy as np
from transformers import BatchFeature, ProcessorMixin
from transformers.utils import to_numpy

from ..validation import InvalidInputError


class AudioGenProcessor(ProcessorMixin):
    r"""Tokenizer of the text encoder + feature extractor of the codec.

    Args:
        feature_extractor ([`CodecFeatureExtractor`]): prepares audio prompts for the codec.
        tokenizer (`PreTrainedTokenizerBase`): the tokenizer of the model's text encoder (T5, MiniLM, ...).
        normalize_text (`bool`): apply the AudioGen paper's caption preprocessing
            ([`~hf_audiogen.data.text_normalization.normalize_caption`]: no stop words or numbers, lemmas) to every
            prompt. Set by the training script when the model was trained on normalised captions, so prompts at
            inference look like the training text ("A dog is barking" -> "dog bark").

    Example:

    ```python
    >>> import numpy as np
    >>> from hf_audiogen.audiogen import AudioGenProcessor
    >>> processor = AudioGenProcessor.from_pretrained("path/to/audiogen")  # doctest: +SKIP
    >>> inputs = processor(text=["a dog barks", "rain"], audio=[np.zeros(8000), np.zeros(4000)], sampling_rate=16000,
    ...                    return_tensors="pt")  # doctest: +SKIP
    >>> sorted(inputs)  # doctest: +SKIP
    ['attention_mask', 'input_ids', 'input_values', 'padding_mask']
    ```
    """

    def __init__(self, feature_extractor, tokenizer, normalize_text: bool = False, **kwargs):
        if not isinstance(normalize_text, bool):
            raise InvalidInputError(f"normalize_text must be True or False, got {normalize_text!r}")
        self.normalize_text = normalize_text
        super().__init__(feature_extractor, tokenizer, **kwargs)

    @property
    def sampling_rate(self) -> int:
        """Sampling rate of the codec (of the audio this processor prepares and the model generates)."""
        return self.feature_extractor.sampling_rate

    def __call__(
        self,
        text: str | list[str] | None = None,
        audio=None,
        sampling_rate: int | None = None,
        return_tensors: str | None = None,
        padding: bool | str = True,
        truncation: bool | None = None,
        max_length: int | None = None,
        **kwargs,
    ) -> BatchFeature:
        """Tokenize ``text`` and/or prepare ``audio``.

        Args:
            text: a prompt or a list of prompts (``""`` is a valid, empty prompt).
            audio: one waveform or a list of waveforms (see [`CodecFeatureExtractor`]); resampled to
                :attr:`sampling_rate` and right-padded to the longest.
            sampling_rate: sampling rate of ``audio`` in Hz (required with ``audio``).
            return_tensors: ``"pt"``, ``"np"`` or ``None``.
            padding, truncation, max_length: passed to the tokenizer (the audio is always padded to the longest).
            kwargs: further tokenizer arguments.

        Returns:
            [`BatchFeature`] with ``input_ids``/``attention_mask`` (text) and ``input_values``/``padding_mask`` (audio).
        """
        if text is None and audio is None:
            raise InvalidInputError("AudioGenProcessor needs text=..., audio=... or both; got neither")
        if audio is None and sampling_rate is not None:
            raise InvalidInputError(f"sampling_rate={sampling_rate} was given without audio")
        if text is not None:
            texts = [text] if isinstance(text, str) else text
            if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
                raise InvalidInputError(f"text must be a string or a list of strings, got {_describe(text)}")
            if len(texts) == 0:
                raise InvalidInputError("text is an empty list: give at least one prompt")
        if text is not None and audio is not None:
            num_audio = len(audio) if isinstance(audio, (list, tuple)) and not _is_number_list(audio) else None
            num_text = 1 if isinstance(text, str) else len(text)
            if num_audio is not None and num_audio != num_text:
                raise InvalidInputError(
                    f"got {num_text} text prompt(s) but {num_audio} audio prompt(s); give one per text"
                )

        inputs = BatchFeature()
        if text is not None:
            if self.normalize_text:
                from ..data.text_normalization import normalize_caption

                text = normalize_caption(text) if isinstance(text, str) else [normalize_caption(t) for t in text]
            tokens = self.tokenizer(
                text,
                return_tensors=return_tensors,
                padding=padding,
                truncation=truncation,
                max_length=max_length,
                **kwargs,
            )
            # An empty prompt means "no text": the model reads an all-zero attention mask as the null condition
            # (the unconditional branch of classifier-free guidance), whatever special tokens the tokenizer added.
            texts = [text] if isinstance(text, str) else text
            empty = [i for i, t in enumerate(texts) if not t.strip()]
            if empty and "attention_mask" in tokens:
                mask = tokens["attention_mask"]
                if not isinstance(mask, list):  # tensors / arrays: (batch, length), also for a single prompt
                    mask[empty] = 0
                elif isinstance(text, str):  # a single prompt without return_tensors: one flat list
                    tokens["attention_mask"] = [0] * len(mask)
                else:
                    for i in empty:
                        mask[i] = [0] * len(mask[i])
            inputs.update(tokens)
        if audio is not None:
            inputs.update(self.feature_extractor(audio, sampling_rate=sampling_rate, return_tensors=return_tensors))
        return inputs

    def batch_decode(self, *args, padding_mask=None, **kwargs):
        """Audio -> a list of numpy arrays without padding; token ids -> the tokenizer's ``batch_decode``.

        Args:
            audio_values (`torch.Tensor` or `np.ndarray` of shape `(batch, channels, samples)`): generated audio.
            padding_mask (*optional*, `(batch, prompt_samples)`): the ``padding_mask`` of the audio prompts the audio
                continues. Generated audio starts with its prompt, so the padded part of a shorter prompt is
                dropped (the samples after the prompt are kept whatever the mask's length).

        Returns:
            `list[np.ndarray]` of shape `(channels, samples_i)`, one per example.
        """
        audio_values = kwargs.pop("audio", kwargs.pop("audio_values", None))
        if args and audio_values is None and _looks_like_audio(args[0]):
            audio_values, args = args[0], args[1:]
        if audio_values is None:
            return self.tokenizer.batch_decode(*args, **kwargs)
        return self._decode_audio(audio_values, padding_mask)

    def _decode_audio(self, audio_values, padding_mask=None) -> list[np.ndarray]:
        audio_values = np.asarray(to_numpy(audio_values))
        if audio_values.ndim == 2:  # (batch, samples): a mono batch without the channel axis
            audio_values = audio_values[:, None, :]
        if audio_values.ndim != 3:
            raise InvalidInputError(
                f"audio_values must have shape (batch, channels, samples), got {audio_values.shape}"
            )
        if padding_mask is None:
            return list(audio_values)
        padding_mask = np.asarray(to_numpy(padding_mask)).astype(bool)
        if padding_mask.ndim == 3:
            padding_mask = padding_mask.reshape(padding_mask.shape[0], -1)
        if padding_mask.ndim != 2 or padding_mask.shape[0] != audio_values.shape[0]:
            raise InvalidInputError(
                f"padding_mask must have shape (batch={audio_values.shape[0]}, samples), got {padding_mask.shape}"
            )
        samples = audio_values.shape[-1]
        if padding_mask.shape[-1] > samples:
            padding_mask = padding_mask[:, :samples]
        # Samples beyond the prompt are generated ones: keep them (pad the mask with "real").
        keep = np.pad(padding_mask, ((0, 0), (0, samples - padding_mask.shape[-1])), constant_values=True)
        return [audio[:, mask] for audio, mask in zip(audio_values, keep)]


def _is_number_list(values) -> bool:
    return len(values) > 0 and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in values)


def _looks_like_audio(value) -> bool:
    """Float arrays/tensors are audio; integer ones (and lists of ints) are token ids."""
    if hasattr(value, "is_floating_point"):
        return bool(value.is_floating_point())
    if isinstance(value, np.ndarray):
        return np.issubdtype(value.dtype, np.floating)
    return False


def _describe(value) -> str:
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {sorted({type(v).__name__ for v in value})}"
    return type(value).__name__


__all__ = ["AudioGenProcessor"]
