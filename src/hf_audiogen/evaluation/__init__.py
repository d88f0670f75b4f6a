"""Evaluation of hf_audiogen's models: captioning metrics (coco-caption's BLEU, METEOR, ROUGE-L, CIDEr-D, SPICE,
SPIDEr), also as offline `evaluate` modules; text adherence of text-to-audio models (retrieval with a fixed audio
embedding, held-out NLL); the papers' objective metrics of generated audio (FD, FAD, FAD∞, KAD, KL, IS, CLAP score)
under the audioldm_eval, audiocraft and stable-audio-metrics protocols (`evaluate_audio`, `hf-audiogen evaluate`)."""

from pathlib import Path

from .audio_embedding import LogMelStatisticsEmbedding, StandardizedCosine
from .audio_evaluation import (
    PROTOCOLS,
    EvaluationProtocol,
    MetricSpec,
    ReferenceStatistics,
    evaluate_audio,
    get_protocol,
    load_prompts,
    save_reference_stats,
)
from .caption_in_the_loop import CaptionInTheLoopResult, caption_in_the_loop
from .caption_metrics import (
    CAPTION_METRICS,
    DCASE2024_METRICS,
    DEFAULT_CAPTION_METRICS,
    FluencyErrorDetector,
    MetricUnavailableError,
    bleu,
    caption_metric_availability,
    cider_d,
    compute_caption_metrics,
    evaluate_captions,
    meteor,
    rouge_l,
    spice,
    tokenize_caption,
)
from .distances import (
    EmbeddingStatistics,
    FrechetInfinityResult,
    SmallSampleWarning,
    clap_score,
    frechet_distance,
    frechet_distance_infinity,
    inception_score,
    kernel_audio_distance,
    kl_divergence,
)
from .text_adherence import (
    DEFAULT_PARAPHRASES,
    AdherenceReport,
    CorpusIndex,
    HeldoutNLL,
    RetrievalScores,
    chance_of_hit,
    codec_reconstruction,
    domain_check,
    evaluate_text_adherence,
    heldout_nll,
    oracle_retrieval,
)

METRIC_MODULES = ("bleu", "meteor", "rouge_l", "cider_d", "spice", "spider", "coco_caption")


def metric_module_path(name: str) -> str:
    """The folder of the local `evaluate` module ``name`` (one of :data:`METRIC_MODULES`), for ``evaluate.load``."""
    if name not in METRIC_MODULES:
        raise ValueError(f"unknown metric module {name!r}; choose from {list(METRIC_MODULES)}")
    return str(Path(__file__).parent / "metrics" / name)


__all__ = [
    "CAPTION_METRICS",
    "DEFAULT_CAPTION_METRICS",
    "METRIC_MODULES",
    "MetricUnavailableError",
    "bleu",
    "caption_metric_availability",
    "cider_d",
    "compute_caption_metrics",
    "meteor",
    "metric_module_path",
    "rouge_l",
    "spice",
    "tokenize_caption",
    # text adherence of text-to-audio models (text_adherence.py, audio_embedding.py)
    "DEFAULT_PARAPHRASES",
    "AdherenceReport",
    "CorpusIndex",
    "HeldoutNLL",
    "LogMelStatisticsEmbedding",
    "RetrievalScores",
    "StandardizedCosine",
    "chance_of_hit",
    "codec_reconstruction",
    "domain_check",
    "evaluate_text_adherence",
    "heldout_nll",
    "oracle_retrieval",
    # distribution metrics of generated audio (distances.py) and the protocols that report them (audio_evaluation.py)
    "EmbeddingStatistics",
    "EvaluationProtocol",
    "FrechetInfinityResult",
    "MetricSpec",
    "PROTOCOLS",
    "ReferenceStatistics",
    "SmallSampleWarning",
    "clap_score",
    "evaluate_audio",
    "frechet_distance",
    "frechet_distance_infinity",
    "get_protocol",
    "inception_score",
    "kernel_audio_distance",
    "kl_divergence",
    "load_prompts",
    "save_reference_stats",
    # DCASE 2024 caption metrics (aac-metrics' evaluate shape) and caption-in-the-loop scoring of generated audio
    "DCASE2024_METRICS",
    "CaptionInTheLoopResult",
    "FluencyErrorDetector",
    "caption_in_the_loop",
    "evaluate_captions",
]
