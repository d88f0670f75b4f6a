"""hf_audiogen: text-to-audio generation and audio captioning, the Hugging Face way.

Importing the package registers its configurations, models, feature extractors, processors and pipelines with the
transformers ``Auto*`` classes, so ``AutoModel.from_pretrained(dir)`` and ``pipeline("text-to-audio", model=dir)``
work on directories written by ``save_pretrained``.
"""

__version__ = "0.1.0"

from .audio import AudioError, load_audio, write_audio  # noqa: E402

# --- AudioGen language model ---
from .audiogen import AudioGenConfig, AudioGenForConditionalGeneration, AudioGenPipeline, AudioGenProcessor  # noqa: E402

# --- AutoCap captioner ---
from .autocap import (  # noqa: E402
    AutoCapConfig,
    AutoCapFeatureExtractor,
    AutoCapForConditionalGeneration,
    AutoCapPipeline,
    AutoCapProcessor,
)

# --- codec (EnCodec-style, issue #2) ---
from .codec import CodecConfig, CodecFeatureExtractor, CodecModel  # noqa: E402
from .registration import register_auto_classes  # noqa: E402

register_auto_classes()

# GenAU and Audio-Journey (latent diffusion) pull in diffusers: loaded on first use so `import hf_audiogen` stays light
# for AudioGen users.
_LAZY = {
    "AutoencoderKL1D": ".genau",
    "FiTTransformer1DModel": ".genau",
    "GenAUMelFeatureExtractor": ".genau",
    "GenAUPipeline": ".genau",
    "AudioJourneyConfig": ".audio_journey",
    "AudioJourneyPipeline": ".audio_journey",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'hf_audiogen' has no attribute {name!r}")


__all__ = [
    "AudioError",
    "AutoCapConfig",
    "AutoCapFeatureExtractor",
    "AutoCapForConditionalGeneration",
    "AutoCapPipeline",
    "AutoCapProcessor",
    "AutoencoderKL1D",
    "FiTTransformer1DModel",
    "GenAUMelFeatureExtractor",
    "GenAUPipeline",
    "AudioGenConfig",
    "AudioGenForConditionalGeneration",
    "AudioGenPipeline",
    "AudioGenProcessor",
    "AudioJourneyConfig",
    "AudioJourneyPipeline",
    "CodecConfig",
    "CodecFeatureExtractor",
    "CodecModel",
    "load_audio",
    "write_audio",
]
