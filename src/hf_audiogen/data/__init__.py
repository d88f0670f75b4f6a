"""Datasets: the real sound-effect corpus builder, the audio streams every training script reads, the AutoReCap
re-captioning pipeline, and data helpers."""

from .autorecap import (
    RecaptionReport,
    ambient_segments,
    autorecap_subsets,
    merge_identical_captions,
    read_subtitles,
    recaption,
)
from .builders import CorpusReport, build_sfx_corpus
from .streams import AudioCollator, RandomSegment, load_audio_dataset, random_crop

__all__ = [
    "AudioCollator",
    "CorpusReport",
    "RandomSegment",
    "RecaptionReport",
    "ambient_segments",
    "autorecap_subsets",
    "build_sfx_corpus",
    "load_audio_dataset",
    "merge_identical_captions",
    "random_crop",
    "read_subtitles",
    "recaption",
]
