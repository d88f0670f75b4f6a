"""Datasets: the real sound-effect corpus builder, the audio streams every training script reads, and data helpers."""

from .sfx_corpus import CorpusReport, build_sfx_corpus
from .streams import AudioCollator, RandomSegment, load_audio_dataset, random_crop

__all__ = [
    "AudioCollator",
    "CorpusReport",
    "RandomSegment",
    "build_sfx_corpus",
    "load_audio_dataset",
    "random_crop",
]
