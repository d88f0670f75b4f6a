"""What every evaluation extractor (VGGish, PANNs CNN14, PaSST, OpenL3, CLAP) is: a torch module with a fixed front-end
(rate, channels, framing) that turns one clip into embeddings, and optionally class logits, the way the protocol that
made it famous does.

The distribution metrics (``evaluation/distances.py``) only see what :meth:`AudioEmbeddingExtractor.embed` returns;
the batch job (``data/pipelines/batch_job.py``) only calls :meth:`prepare` (CPU workers) and :meth:`embed` (the model
stage). Weights are never downloaded silently: :meth:`from_pretrained` takes the official file by local path or by an
explicit Hub id, and offline it fails with one line naming what to fetch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
from torch import nn

from ...audio import check_audio, resample, to_mono


@dataclass
class ExtractorOutput:
    """One clip's features.

    ``embeddings``: ``(frames, dim)`` float32 — per-frame extractors (VGGish: one row per 0.96 s, OpenL3: one per hop)
    return every frame, per-clip ones (CNN14, PaSST, CLAP) one row. ``logits``: ``(num_classes,)`` clip-level class
    scores before the activation (CNN14, PaSST: AudioSet's 527 classes), or ``None`` for pure embedders.
    """

    embeddings: torch.Tensor
    logits: torch.Tensor | None = None


class ExtractorWeightsError(FileNotFoundError):
    """The official weights are not where the user said, or cannot be fetched (offline): one line naming what to
    fetch and from where."""


class AudioEmbeddingExtractor(nn.Module):
    """Base class of the evaluation extractors.

    Subclasses set the class attributes, implement :meth:`embed` and the two constructors, and keep the reference's
    module names so that the official checkpoints load 1:1 (with ``strict=True``).
    """

    name: ClassVar[str]  # "vggish", "cnn14-16k", "cnn14-32k", "passt", "openl3", "clap"
    sampling_rate: ClassVar[int]  # the rate the front-end expects
    channels: ClassVar[int] = 1  # 1: clips are averaged to mono before :meth:`embed`; 2: stereo kept (OpenL3)
    embedding_dim: ClassVar[int]
    pooling: ClassVar[Literal["frame", "clip"]]
    num_classes: ClassVar[int | None] = None  # classes of ``logits``, or None
    official_weights: ClassVar[str] = ""  # where the official file comes from (URL or Hub id), for error messages

    weights_source: str = "unset"  # what was loaded: a path, a Hub id, or "random(seed=N)"

    def prepare(self, waveform: np.ndarray, sampling_rate: int) -> torch.Tensor:
        """CPU side of the front-end: a ``(samples,)`` or ``(channels, samples)`` array at ``sampling_rate`` →
        float32 ``(samples,)`` (mono) or ``(channels, samples)`` at :attr:`sampling_rate`. Subclasses may extend it
        (padding rules of their protocol)."""
        audio = check_audio(np.asarray(waveform), name="waveform")
        if audio.ndim == 2 and self.channels == 1:
            audio = to_mono(audio)
        elif audio.ndim == 1 and self.channels == 2:
            audio = np.stack([audio, audio])
        return torch.from_numpy(np.ascontiguousarray(resample(audio, sampling_rate, self.sampling_rate)))

    def embed(self, waveform: torch.Tensor) -> ExtractorOutput:
        """Model side: one prepared clip (the output of :meth:`prepare`) → :class:`ExtractorOutput`."""
        raise NotImplementedError

    @classmethod
    def from_pretrained(cls, weights: str | os.PathLike, **hub_kwargs) -> AudioEmbeddingExtractor:
        """The official weights, by local file path or Hub id (``hub_kwargs``: revision, cache_dir, token,
        local_files_only). Raises :class:`ExtractorWeightsError` naming :attr:`official_weights` when they are not
        there."""
        raise NotImplementedError

    @classmethod
    def from_random(cls, seed: int = 0) -> AudioEmbeddingExtractor:
        """The same architecture with seeded random weights: for tests and for runs that only exercise the code path
        (the result JSON records ``weights_source="random(seed=N)"``)."""
        raise NotImplementedError

    def describe(self) -> dict:
        """What a result JSON records about this extractor."""
        return {
            "name": self.name,
            "weights": self.weights_source,
            "sampling_rate": self.sampling_rate,
            "channels": self.channels,
            "embedding_dim": self.embedding_dim,
            "pooling": self.pooling,
            "num_classes": self.num_classes,
        }


__all__ = ["AudioEmbeddingExtractor", "ExtractorOutput", "ExtractorWeightsError"]
