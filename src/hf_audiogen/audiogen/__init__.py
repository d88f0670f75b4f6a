"""AudioGen (Kreuk et al. 2023): text-conditioned Transformer language model over neural-codec tokens."""

from .codebook_patterns import DelayPattern
from .configuration_audiogen import AudioGenConfig, AudioGenDecoderConfig, AudioGenGenerationConfig
from .modeling_audiogen import (
    AudioGenDecoder,
    AudioGenForConditionalGeneration,
    AudioGenGenerationOutput,
    AudioGenOutput,
    AudioGenPreTrainedModel,
)
from .pipeline_audiogen import AudioGenPipeline
from .processing_audiogen import AudioGenProcessor

__all__ = [
    "AudioGenConfig",
    "AudioGenDecoder",
    "AudioGenDecoderConfig",
    "AudioGenGenerationConfig",
    "AudioGenForConditionalGeneration",
    "AudioGenGenerationOutput",
    "AudioGenOutput",
    "AudioGenPipeline",
    "AudioGenPreTrainedModel",
    "AudioGenProcessor",
    "DelayPattern",
]
