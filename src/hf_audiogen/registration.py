"""Registration of hf_audiogen's classes with the transformers Auto* factories.

Each model family lists what it registers here, so one place shows what ``import hf_audiogen`` adds to transformers.
"""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

_REGISTERED = False


def register_auto_classes() -> None:
    """Idempotently register every family (safe to call twice, e.g. after ``importlib.reload``)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from .codec import CodecConfig, CodecFeatureExtractor, CodecModel

    AutoConfig.register(CodecConfig.model_type, CodecConfig, exist_ok=True)
    AutoModel.register(CodecConfig, CodecModel, exist_ok=True)
    AutoFeatureExtractor.register(CodecConfig, CodecFeatureExtractor, exist_ok=True)

    _REGISTERED = True
