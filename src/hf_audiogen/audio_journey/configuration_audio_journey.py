"""What an Audio-Journey pipeline needs besides its models: the latent layout, the per-channel normalisation statistics
and the text settings (Michaels et al. 2023, §4).

The pipeline stores these fields in its ``model_index.json`` (``latent_config``), so a saved pipeline decodes with the
statistics it was trained with.

Example:

```python
>>> from hf_audiogen.audio_journey import AudioJourneyConfig
>>> config = AudioJourneyConfig(latent_channels=4, image_width=24, latent_mean=[0.0] * 4, latent_std=[1.0] * 4)
>>> config.image_size(504)  # the paper's 128 x 504 latent -> a 21 x 24 image
(21, 24)
>>> AudioJourneyConfig.from_dict(config.to_dict()) == config
True

```
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from ..validation import InvalidInputError

PAPER_MAX_TEXT_LENGTH = 50  # "we reduce our max token length to 50" (§5)


@dataclass
class AudioJourneyConfig:
    """Latent layout, normalisation and text settings of an Audio-Journey pipeline.

    Args:
        latent_channels: D, the width of the codec's decoder-side embedding (128 for EnCodec 24 kHz, 64 for the
            bundled sfx-codec-small); the U-Net's input/output channels.
        image_width: W, frames per row of the D-channel image (the paper: 24, so T = 504 frames is 21 rows).
        size_multiple: height and width must be multiples of this (``2 ** (number of U-Net down blocks - 1)``, so
            every down-sampling halves a whole number of pixels); ``image_width`` must already be one.
        latent_mean, latent_std: per-channel statistics of the training set's latents (length D). ``None`` = not yet
            computed (identity normalisation): a trainer fills them before its first step.
        max_text_length: tokens of every prompt, padding included (the paper: 50).
        text_attention_mask: ``False`` (the paper's "unmasked" T5): cross-attention sees every one of the
            ``max_text_length`` text states, padding included; ``True``: padding positions are masked out
            (the paper's "-M" models).
        default_audio_length_in_s: what the pipeline generates when no length is asked for (a trainer sets its
            crop length).
    """

    latent_channels: int = 128
    image_width: int = 24
    size_multiple: int = 1
    latent_mean: list[float] | None = None
    latent_std: list[float] | None = None
    max_text_length: int = PAPER_MAX_TEXT_LENGTH
    text_attention_mask: bool = False
    default_audio_length_in_s: float = 10.0
    extra: dict = field(default_factory=dict, repr=False)  # unknown keys of a newer config, kept when re-saved

    def __post_init__(self):
        for name in ("latent_channels", "image_width", "size_multiple", "max_text_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"AudioJourneyConfig.{name} must be a positive int, got {value!r}")
        if self.image_width % self.size_multiple:
            raise InvalidInputError(
                f"AudioJourneyConfig.image_width {self.image_width} must be a multiple of size_multiple "
                f"{self.size_multiple} (the U-Net halves it at every down-sampling)"
            )
        if (self.latent_mean is None) != (self.latent_std is None):
            raise InvalidInputError("give latent_mean and latent_std together (or neither)")
        if self.latent_mean is not None:
            self.latent_mean = [float(v) for v in self.latent_mean]
            self.latent_std = [float(v) for v in self.latent_std]
            for name in ("latent_mean", "latent_std"):
                values = getattr(self, name)
                if len(values) != self.latent_channels:
                    raise InvalidInputError(
                        f"AudioJourneyConfig.{name} has {len(values)} values for {self.latent_channels} channels"
                    )
                if not all(math.isfinite(v) for v in values):
                    raise InvalidInputError(f"AudioJourneyConfig.{name} must be finite")
            if min(self.latent_std) <= 0:
                raise InvalidInputError("AudioJourneyConfig.latent_std must be positive in every channel")
        self.text_attention_mask = bool(self.text_attention_mask)
        if not self.default_audio_length_in_s > 0:
            raise InvalidInputError(
                f"AudioJourneyConfig.default_audio_length_in_s must be positive, got {self.default_audio_length_in_s}"
            )
        self.default_audio_length_in_s = float(self.default_audio_length_in_s)

    @property
    def is_normalized(self) -> bool:
        """Whether the training-set statistics are filled in."""
        return self.latent_mean is not None

    def image_size(self, frames: int) -> tuple[int, int]:
        """(H, W) of the image that holds ``frames`` latent frames: W = ``image_width``, H = ceil(frames / W) rounded
        up to a multiple of ``size_multiple``."""
        if frames < 1:
            raise InvalidInputError(f"a latent needs at least one frame, got {frames}")
        rows = -(-frames // self.image_width)
        rows = -(-rows // self.size_multiple) * self.size_multiple
        return rows, self.image_width

    def to_dict(self) -> dict:
        values = asdict(self)
        extra = values.pop("extra")
        return {**extra, **values}

    @classmethod
    def from_dict(cls, values: dict | AudioJourneyConfig | None) -> AudioJourneyConfig:
        if values is None:
            return cls()
        if isinstance(values, cls):
            return values
        if not isinstance(values, dict):
            raise InvalidInputError(f"latent_config must be a dict or an AudioJourneyConfig, got {type(values)}")
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(
            **{k: v for k, v in values.items() if k in known}, extra={k: v for k, v in values.items() if k not in known}
        )


__all__ = ["AudioJourneyConfig", "PAPER_MAX_TEXT_LENGTH"]
