"""Processor of AutoCap: audio -> log-mels, metadata -> tagged token ids, captions -> labels and back to text.

Metadata follow the reference's format: each field the model was trained with is wrapped in its tag pair, fields are
written in a fixed order and joined by ``" \\n "``, e.g. for ``metadata_keys=("video_caption", "title")``::

    <HQVC> a man plays a guitar on a stage </HQVC> \\n <TITLE> live at the club </TITLE>

A missing field keeps its (empty) tags, as the reference writes it for clips without video or title, so "no metadata"
is the input the model saw for audio-only sources. The ids are tokenised without ``<s>``/``</s>``, cut to
``max_metadata_length`` (with a warning) and closed with ``</s>``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import torch
from transformers import BatchFeature, ProcessorMixin

from ..validation import InvalidInputError
from .configuration_autocap import METADATA_TAGS, TAG_TOKENS

logger = logging.getLogger(__name__)

# The order in which the reference writes metadata fields (its `ordered_keys`; it has no slot for "description",
# which comes last here).
METADATA_ORDER = ("labels", "video_caption", "title", "subtitle", "videollama_caption", "description")


class AutoCapProcessor(ProcessorMixin):
    r"""Feature extractor + BART tokenizer (with AutoCap's 12 tag tokens) + metadata formatting.

    Args:
        feature_extractor ([`AutoCapFeatureExtractor`]): the HTSAT and CLAP log-mel front-ends.
        tokenizer (`BartTokenizer` or any BART-vocabulary tokenizer): the tag tokens (``<TITLE>`` ...) are added if
            missing; they must get the ids right after the base vocabulary, where the model's tag table starts.
        metadata_keys (`list[str]`): the metadata fields the model reads, any of ``video_caption``,
            ``videollama_caption``, ``title``, ``description``, ``subtitle``, ``labels`` (default: the reference's
            ``["video_caption", "title"]``). Written in the reference's order whatever the order given.
        max_metadata_length (`int`): metadata tokens kept before the closing ``</s>`` (128, as the reference).
        max_caption_length (`int`): caption tokens (with ``<s>``/``</s>``) for training labels (30).

    Example:

    ```python
    >>> from hf_audiogen.autocap import AutoCapProcessor
    >>> processor = AutoCapProcessor.from_pretrained("path/to/autocap")  # doctest: +SKIP
    >>> inputs = processor(audio=[clip], sampling_rate=44100, metadata=[{"title": "Thunderstorm"}],
    ...                    return_tensors="pt")  # doctest: +SKIP
    >>> sorted(inputs)  # doctest: +SKIP
    ['clap_input_features', 'input_features', 'metadata_attention_mask', 'metadata_ids']
    >>> processor.format_metadata({"title": "Thunderstorm"})  # doctest: +SKIP
    '<HQVC>  </HQVC> \n <TITLE> Thunderstorm </TITLE>'
    ```
    """

    def __init__(
        self,
        feature_extractor,
        tokenizer,
        metadata_keys: Sequence[str] = ("video_caption", "title"),
        max_metadata_length: int = 128,
        max_caption_length: int = 30,
        **kwargs,
    ):
        if isinstance(metadata_keys, str) or not isinstance(metadata_keys, Sequence):
            raise InvalidInputError(f"metadata_keys must be a list of field names, got {metadata_keys!r}")
        unknown = [key for key in metadata_keys if key not in METADATA_TAGS]
        if unknown:
            raise InvalidInputError(f"unknown metadata key(s) {unknown}; AutoCap knows {list(METADATA_ORDER)}")
        for name, value in (("max_metadata_length", max_metadata_length), ("max_caption_length", max_caption_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
        self.metadata_keys = [key for key in METADATA_ORDER if key in metadata_keys]
        self.max_metadata_length = max_metadata_length
        self.max_caption_length = max_caption_length
        _add_tag_tokens(tokenizer)
        super().__init__(feature_extractor, tokenizer, **kwargs)

    @property
    def sampling_rate(self) -> int:
        """Rate the audio is resampled to (the HTSAT front-end's)."""
        return self.feature_extractor.sampling_rate

    @property
    def tag_token_offset(self) -> int:
        """Id of the first tag token; must equal the model's ``config.tag_token_offset`` (BART's vocabulary size)."""
        return self.tokenizer.convert_tokens_to_ids(TAG_TOKENS[0])

    # ----------------------------------------------------------------------------------------------------------------
    # Metadata
    # ----------------------------------------------------------------------------------------------------------------
    def format_metadata(self, metadata: Mapping | None) -> str:
        """One item's metadata dict -> the tagged string (missing / ``None`` fields -> empty tags).

        Values are strings; ``labels`` may also be a list of strings (joined with ``", "``).

        Raises:
            ValueError: a key that AutoCap does not know, or that this model was not trained with, or a bad value.
        """
        metadata = {} if metadata is None else metadata
        if not isinstance(metadata, Mapping):
            raise InvalidInputError(
                f"metadata must be a dict of field -> text (or None), got {type(metadata).__name__}"
            )
        for key in metadata:
            if key not in METADATA_TAGS:
                raise InvalidInputError(
                    f"unknown metadata key {key!r}: this model reads {self.metadata_keys} (AutoCap knows "
                    f"{list(METADATA_ORDER)})"
                )
            if key not in self.metadata_keys:
                raise InvalidInputError(
                    f"metadata key {key!r} is not used by this model: it was trained with {self.metadata_keys}"
                )
        segments = []
        for key in self.metadata_keys:
            value = metadata.get(key)
            if value is None:
                value = ""
            elif key == "labels" and isinstance(value, (list, tuple)):
                if not all(isinstance(label, str) for label in value):
                    raise InvalidInputError(f"metadata 'labels' must be a string or a list of strings, got {value!r}")
                value = ", ".join(value)
            elif not isinstance(value, str):
                raise InvalidInputError(f"metadata {key!r} must be a string (or None), got {value!r}")
            opening, closing = METADATA_TAGS[key]
            segments.append(f"{opening} {value.strip()} {closing}")
        return " \n ".join(segments)

    def encode_metadata(self, metadata: Sequence[Mapping | None], return_tensors: str | None = "pt") -> dict:
        """Metadata dicts -> ``metadata_ids`` (tagged tokens + ``</s>``, right-padded) and ``metadata_attention_mask``.

        Metadata longer than ``max_metadata_length`` tokens is cut there (a warning says which item and how long).
        """
        texts = [self.format_metadata(item) for item in metadata]
        encoded = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        rows = []
        for i, ids in enumerate(encoded):
            if len(ids) > self.max_metadata_length:
                logger.warning(
                    "metadata of item %d is %d tokens long, more than max_metadata_length=%d: it was cut to %r",
                    i,
                    len(ids),
                    self.max_metadata_length,
                    self.tokenizer.decode(ids[: self.max_metadata_length]),
                )
                ids = ids[: self.max_metadata_length]
            rows.append([*ids, self.tokenizer.eos_token_id])
        length = max(len(row) for row in rows)
        pad = self.tokenizer.pad_token_id
        ids = [row + [pad] * (length - len(row)) for row in rows]
        mask = [[1] * len(row) + [0] * (length - len(row)) for row in rows]
        if return_tensors == "pt":
            return {"metadata_ids": torch.tensor(ids), "metadata_attention_mask": torch.tensor(mask)}
        if return_tensors is None:
            return {"metadata_ids": ids, "metadata_attention_mask": mask}
        raise InvalidInputError(f"return_tensors must be 'pt' or None, got {return_tensors!r}")

    # ----------------------------------------------------------------------------------------------------------------
    # Call / decode
    # ----------------------------------------------------------------------------------------------------------------
    def __call__(
        self,
        audio=None,
        sampling_rate: int | None = None,
        metadata: Mapping | Sequence[Mapping | None] | None = None,
        text: str | Sequence[str] | None = None,
        return_tensors: str | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        """Prepare model inputs.

        Args:
            audio: one mono clip or a list of clips (see [`AutoCapFeatureExtractor`]); any rate.
            sampling_rate: rate of ``audio`` in Hz.
            metadata: a dict for one clip, or one dict (or ``None``) per clip; ``None`` = no metadata for any clip.
            text: reference caption(s) for training: returned as ``labels`` (``<s> caption </s>``, cut to
                ``max_caption_length``, padding = -100).
            return_tensors: ``"pt"`` (default) or ``None``.
            kwargs: passed to the feature extractor (``crop``, ``rng``).

        Returns:
            [`BatchFeature`] with ``input_features``, ``clap_input_features`` (if the extractor has a CLAP front-end),
            ``metadata_ids``, ``metadata_attention_mask`` and, with ``text``, ``labels``.
        """
        if audio is None and text is None and metadata is None:
            raise InvalidInputError("AutoCapProcessor needs audio=..., metadata=... and/or text=...; got none")
        inputs = BatchFeature()
        num_items = None
        if audio is not None:
            features = self.feature_extractor(
                audio, sampling_rate=sampling_rate, return_tensors=return_tensors, **kwargs
            )
            inputs.update(features)
            num_items = len(features["input_features"])
        elif sampling_rate is not None:
            raise InvalidInputError(f"sampling_rate={sampling_rate} was given without audio")
        if metadata is None or isinstance(metadata, Mapping):
            metadata = [metadata] * (num_items if num_items is not None else 1)
        elif not isinstance(metadata, Sequence) or isinstance(metadata, str):
            raise InvalidInputError(f"metadata must be a dict, a list of dicts or None, got {type(metadata).__name__}")
        if num_items is not None and len(metadata) != num_items:
            raise InvalidInputError(
                f"got {num_items} audio clip(s) but {len(metadata)} metadata entries; give one per clip"
            )
        num_items = len(metadata)
        inputs.update(self.encode_metadata(metadata, return_tensors=return_tensors))
        if text is not None:
            texts = [text] if isinstance(text, str) else text
            if not isinstance(texts, Sequence) or not all(isinstance(t, str) for t in texts):
                raise InvalidInputError(f"text must be a caption or a list of captions, got {text!r}")
            if len(texts) != num_items:
                raise InvalidInputError(
                    f"got {num_items} item(s) but {len(texts)} caption(s); give one caption per clip"
                )
            inputs["labels"] = self.encode_captions(texts, return_tensors=return_tensors)
        return inputs

    def encode_captions(self, captions: Sequence[str], return_tensors: str | None = "pt"):
        """Captions -> training labels ``<s> caption </s>`` (cut to ``max_caption_length``), padding = -100."""
        tokens = self.tokenizer(list(captions), truncation=True, max_length=self.max_caption_length, padding=True)
        labels = [
            [t if m else -100 for t, m in zip(ids, mask)]
            for ids, mask in zip(tokens["input_ids"], tokens["attention_mask"])
        ]
        return torch.tensor(labels) if return_tensors == "pt" else labels

    def batch_decode(self, sequences, **kwargs) -> list[str]:
        """Generated ids -> captions (special and tag tokens dropped, whitespace stripped)."""
        kwargs.setdefault("skip_special_tokens", True)
        return [caption.strip() for caption in self.tokenizer.batch_decode(sequences, **kwargs)]

    def decode(self, sequence, **kwargs) -> str:
        kwargs.setdefault("skip_special_tokens", True)
        return self.tokenizer.decode(sequence, **kwargs).strip()


def _add_tag_tokens(tokenizer) -> None:
    """Add the 12 tag tokens (as special tokens, so decoding drops them) unless the tokenizer has them; check that
    they sit right after the base vocabulary in the reference's order."""
    vocab = tokenizer.get_vocab()
    missing = [tag for tag in TAG_TOKENS if tag not in vocab]
    if missing and len(missing) != len(TAG_TOKENS):
        raise InvalidInputError(
            f"the tokenizer has some AutoCap tag tokens but not {missing}: give one with all or none"
        )
    if missing:
        tokenizer.add_tokens(TAG_TOKENS, special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids(TAG_TOKENS)
    if ids != list(range(ids[0], ids[0] + len(TAG_TOKENS))):
        raise InvalidInputError(f"AutoCap tag tokens must have consecutive ids in the order {TAG_TOKENS}, got {ids}")


__all__ = ["AutoCapProcessor", "METADATA_ORDER"]
