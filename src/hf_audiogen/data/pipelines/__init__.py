"""Batch jobs over many files (embedding extraction, caption enrichment, codec tokenisation, AutoReCap re-captioning):
one interface, :class:`BatchJob`, whose stages the in-process engine (:class:`LocalEngine`, the default) or the Ray
Data engine (:class:`RayEngine`, ``engine="ray"``, the ``ray`` extra) runs unchanged, into the same shards."""

from .batch_job import (
    ENGINES,
    BatchJob,
    BatchJobReport,
    BatchResults,
    Decoded,
    Engine,
    JobPlan,
    LocalEngine,
    ShardResult,
    decode_item,
    load_results,
    make_engine,
    prepare_output,
    read_complete_shard,
    read_shard,
    resolve_engine,
    resolve_processes,
    run_model,
    write_shard,
)
from .caption_enrichment import EnrichmentReport, LabelEnricher, caption_quality, check_caption, enrich_captions
from .ray_engine import RayEngine, ray_available  # imports ray only when a job runs on it

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
    # engines: in-process (default) or Ray Data
    "ENGINES",
    "Engine",
    "LocalEngine",
    "RayEngine",
    "ShardResult",
    "make_engine",
    "ray_available",
    "resolve_engine",
    "run_model",
]
