"""AutoCap (Haji-Ali et al. 2024): audio captioning with HTSAT + Q-Former + CLAP token + metadata + BART."""

from .configuration_autocap import METADATA_TAGS, TAG_TOKENS, AutoCapConfig
from .feature_extraction_autocap import AutoCapFeatureExtractor
from .modeling_autocap import AutoCapEncoderOutput, AutoCapForConditionalGeneration, AutoCapPreTrainedModel
from .pipeline_autocap import PIPELINE_TASK, AutoCapPipeline
from .processing_autocap import METADATA_ORDER, AutoCapProcessor

__all__ = [
    "METADATA_ORDER",
    "METADATA_TAGS",
    "PIPELINE_TASK",
    "TAG_TOKENS",
    "AutoCapConfig",
    "AutoCapEncoderOutput",
    "AutoCapFeatureExtractor",
    "AutoCapForConditionalGeneration",
    "AutoCapPipeline",
    "AutoCapPreTrainedModel",
    "AutoCapProcessor",
]
