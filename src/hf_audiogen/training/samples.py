"""The audio a training run writes for listening (``OUTPUT_DIR/samples/step-N/``), named the same way by every
family's loop: ``NN_<prompt>.wav`` for generated samples, ``clip_N.wav`` for resynthesised held-out clips.

Each family's ``write_samples`` makes the audio (generation, reconstruction) inside
:func:`~hf_audiogen.training.loop.eval_mode` and hands it to :func:`write_clips`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..audio import slugify, write_audio


def prompt_sample_name(index: int, prompt: str) -> str:
    """``NN_<prompt as a file name>``: the name of the sample generated from the ``index``-th prompt."""
    return f"{index:02d}_{slugify(prompt, fallback='unconditional')}"


def clip_sample_name(index: int) -> str:
    """``clip_N``: the name of the ``index``-th resynthesised held-out clip."""
    return f"clip_{index}"


def write_clips(folder: str | Path, clips: Iterable, sampling_rate: int) -> list[Path]:
    """Write each ``(name, audio)`` of ``clips`` (audio: a tensor or array of ``(samples,)`` or ``(channels,
    samples)``) to ``folder/<name>.wav``; returns the paths. ``clips`` may be a generator: each clip is made, written
    and dropped in turn."""
    folder = Path(folder)
    return [Path(write_audio(folder / f"{name}.wav", audio, sampling_rate)) for name, audio in clips]


__all__ = ["clip_sample_name", "prompt_sample_name", "write_clips"]
