"""hf_audiogen: text-to-audio generation and audio captioning, the Hugging Face way.

Importing the package registers its configurations, models, feature extractors, processors and pipelines with the
transformers ``Auto*`` classes, so ``AutoModel.from_pretrained(dir)`` and ``pipeline("text-to-audio", model=dir)``
work on directories written by ``save_pretrained``.
"""

__version__ = "0.1.0"

from .audio import AudioError, load_audio, write_audio  # noqa: E402
from .registration import register_auto_classes  # noqa: E402

# --- codec (EnCodec-style, issue #2) ---
from .codec import CodecConfig, CodecFeatureExtractor, CodecModel  # noqa: E402

# --- AudioGen language model ---
from .audiogen import AudioGenConfig, AudioGenForConditionalGeneration, AudioGenPipeline, AudioGenProcessor  # noqa: E402

register_auto_classes()

__all__ = [
    "AudioError",
    "AudioGenConfig",
    "AudioGenForConditionalGeneration",
    "AudioGenPipeline",
    "AudioGenProcessor",
    "CodecConfig",
    "CodecFeatureExtractor",
    "CodecModel",
    "load_audio",
    "write_audio",
]
