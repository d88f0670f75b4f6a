"""Batch jobs over many files (embedding extraction, caption enrichment; codec tokenisation and AutoReCap re-captioning
next): one interface, :class:`BatchJob`, whose stages an in-process engine runs here and a Ray Data engine
can run unchanged."""

from .batch_job import (
    BatchJob,
    BatchJobReport,
    BatchResults,
    Decoded,
    JobPlan,
    decode_item,
    load_results,
    prepare_output,
    read_complete_shard,
    read_shard,
    resolve_processes,
    write_shard,
)
from .caption_enrichment import EnrichmentReport, LabelEnricher, caption_quality, check_caption, enrich_captions

__all__ = [
    # caption enrichment (Audio-Journey §3): weak labels -> one sentence, with an LLM or the template rule
    "EnrichmentReport",
    "LabelEnricher",
    "caption_quality",
    "check_caption",
    "enrich_captions",
    # the batch-job interface
    "BatchJob",
    "BatchJobReport",
    "BatchResults",
    "Decoded",
    "JobPlan",
    "decode_item",
    "load_results",
    "prepare_output",
    "read_complete_shard",
    "read_shard",
    "resolve_processes",
    "write_shard",
]
