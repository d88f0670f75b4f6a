"""The evaluation extractors, by protocol name. Imported lazily: each one is a large network."""

from __future__ import annotations

import importlib

from .base import AudioEmbeddingExtractor, ExtractorOutput, ExtractorWeightsError

# name → (module, class); the module is imported on first use
EXTRACTORS: dict[str, tuple[str, str]] = {
    "vggish": ("vggish", "VGGish"),
    "cnn14-16k": ("panns", "Cnn14Extractor16k"),
    "cnn14-32k": ("panns", "Cnn14Extractor32k"),
    "passt": ("passt", "PaSSTExtractor"),
    "openl3": ("openl3", "OpenL3Extractor"),
    "clap": ("clap", "ClapExtractor"),
}


def extractor_class(name: str) -> type[AudioEmbeddingExtractor]:
    """The extractor class registered as ``name`` (one of :data:`EXTRACTORS`)."""
    from ...validation import InvalidInputError

    if name not in EXTRACTORS:
        raise InvalidInputError(f"extractor must be one of {sorted(EXTRACTORS)}, got {name!r}")
    module, cls = EXTRACTORS[name]
    return getattr(importlib.import_module(f".{module}", __name__), cls)


__all__ = ["EXTRACTORS", "AudioEmbeddingExtractor", "ExtractorOutput", "ExtractorWeightsError", "extractor_class"]
