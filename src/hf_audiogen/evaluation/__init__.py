"""Evaluation of hf_audiogen's models: captioning metrics (coco-caption's BLEU, METEOR, ROUGE-L, CIDEr-D, SPICE,
SPIDEr), also as offline `evaluate` modules; text adherence of text-to-audio models (retrieval with a fixed audio
embedding, held-out NLL)."""

from pathlib import Path

from .audio_embedding import LogMelStatisticsEmbedding, StandardizedCosine
from .caption_metrics import (
    CAPTION_METRICS,
    DEFAULT_CAPTION_METRICS,
    MetricUnavailableError,
    bleu,
    caption_metric_availability,
    cider_d,
    compute_caption_metrics,
    meteor,
    rouge_l,
    spice,
    tokenize_caption,
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
]
