"""EnCodec-style neural audio codec (SEANet + trainable residual vector quantizer), the AudioGen tokenizer."""

from .configuration_codec import CodecConfig
from .feature_extraction_codec import CodecFeatureExtractor
from .modeling_codec import CodecModel, CodecOutput, CodecPreTrainedModel, ResidualVectorQuantizer

__all__ = [
    "CodecConfig",
    "CodecFeatureExtractor",
    "CodecModel",
    "CodecOutput",
    "CodecPreTrainedModel",
    "ResidualVectorQuantizer",
]
