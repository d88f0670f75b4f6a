"""Audio-Journey (Michaels et al. 2023, §4): latent diffusion in an EnCodec-style codec's continuous latent space,
with a wide-channel ``UNet2DConditionModel`` and a frozen text encoder behind a learned linear projection.

Example:

```python
>>> from hf_audiogen.audio_journey import AudioJourneyPipeline  # doctest: +SKIP
>>> pipe = AudioJourneyPipeline.from_pretrained("path/to/audio-journey")  # doctest: +SKIP
>>> pipe("footsteps on gravel", audio_length_in_s=2.0).audios.shape  # doctest: +SKIP
(1, 32000)

```
"""

from .configuration_audio_journey import PAPER_MAX_TEXT_LENGTH, AudioJourneyConfig
from .latents import (
    channel_statistics,
    codes_to_latents,
    decode_image,
    denormalize_latents,
    encode_codes,
    image_to_latents,
    latents_to_image,
    normalize_latents,
)
from .pipeline_audio_journey import MAX_AUDIO_SECONDS, AudioJourneyPipeline, audio_journey_scheduler

__all__ = [
    "MAX_AUDIO_SECONDS",
    "PAPER_MAX_TEXT_LENGTH",
    "AudioJourneyConfig",
    "AudioJourneyPipeline",
    "audio_journey_scheduler",
    "channel_statistics",
    "codes_to_latents",
    "decode_image",
    "denormalize_latents",
    "encode_codes",
    "image_to_latents",
    "latents_to_image",
    "normalize_latents",
]
