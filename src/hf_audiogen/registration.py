"""Registration of hf_audiogen's classes with the transformers Auto* factories.

Each model family lists what it registers here, so one place shows what ``import hf_audiogen`` adds to transformers.
GenAU and Audio-Journey are diffusers pipelines (``GenAUPipeline`` / ``AudioJourneyPipeline.from_pretrained``) and
register nothing; their components are diffusers or transformers classes, or the codec registered below.
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

    from transformers import AutoModelForTextToWaveform

    from .audiogen import AudioGenConfig, AudioGenDecoderConfig, AudioGenForConditionalGeneration

    AutoConfig.register(AudioGenConfig.model_type, AudioGenConfig, exist_ok=True)
    AutoConfig.register(AudioGenDecoderConfig.model_type, AudioGenDecoderConfig, exist_ok=True)
    AutoModel.register(AudioGenConfig, AudioGenForConditionalGeneration, exist_ok=True)
    AutoModelForTextToWaveform.register(AudioGenConfig, AudioGenForConditionalGeneration, exist_ok=True)

    # AudioGen processor and pipeline: AutoProcessor / pipeline("text-to-audio") load the processor of an AudioGen
    # directory, and pipeline("audiogen-text-to-audio") builds AudioGenPipeline.
    from transformers import AutoProcessor
    from transformers.pipelines import PIPELINE_REGISTRY

    from .audiogen import AudioGenPipeline, AudioGenProcessor
    from .audiogen.pipeline_audiogen import PIPELINE_TASK, TextToAudioPipelineDispatch

    AutoFeatureExtractor.register(AudioGenConfig, CodecFeatureExtractor, exist_ok=True)
    AutoProcessor.register(AudioGenConfig, AudioGenProcessor, exist_ok=True)
    PIPELINE_REGISTRY.register_pipeline(
        PIPELINE_TASK, pipeline_class=AudioGenPipeline, pt_model=AutoModelForTextToWaveform, type="text"
    )
    # pipeline("text-to-audio") with an AudioGen model builds AudioGenPipeline, any other model transformers' own class:
    # only the task's class is swapped (in place: re-registering would log an "Overwriting" warning on every import).
    PIPELINE_REGISTRY.supported_tasks["text-to-audio"]["impl"] = TextToAudioPipelineDispatch

    # AutoCap captioner
    from .autocap import (
        AutoCapConfig,
        AutoCapFeatureExtractor,
        AutoCapForConditionalGeneration,
        AutoCapPipeline,
        AutoCapProcessor,
    )
    from .autocap.pipeline_autocap import PIPELINE_TASK as AUTOCAP_TASK

    AutoConfig.register(AutoCapConfig.model_type, AutoCapConfig, exist_ok=True)
    AutoModel.register(AutoCapConfig, AutoCapForConditionalGeneration, exist_ok=True)
    AutoFeatureExtractor.register(AutoCapConfig, AutoCapFeatureExtractor, exist_ok=True)
    AutoProcessor.register(AutoCapConfig, AutoCapProcessor, exist_ok=True)
    PIPELINE_REGISTRY.register_pipeline(
        AUTOCAP_TASK, pipeline_class=AutoCapPipeline, pt_model=AutoModel, type="multimodal"
    )

    _REGISTERED = True
