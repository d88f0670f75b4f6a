"""Sentence embeddings for caption similarity (sbert_sim, FENSE, caption-in-the-loop, the enrichment quality
measure): a sentence-transformers model's own recipe — Transformer, mean pooling over real tokens, L2 normalisation —
on transformers, so that the offline all-MiniLM-L6-v2 package (``"minilm"``) or any local sentence-transformers folder
works without the sentence-transformers library.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache


@lru_cache(maxsize=2)
def _sentence_encoder(encoder: str):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from ..text_encoder_source import resolve_text_encoder_source

    path = resolve_text_encoder_source(encoder)
    torch.manual_seed(0)
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def sentence_embeddings(texts: Sequence[str], encoder: str = "minilm", batch_size: int = 64):
    """L2-normalised mean-pooled embeddings (all-MiniLM-L6-v2's own recipe: Transformer -> mean pooling ->
    normalise), as a float32 numpy array ``(len(texts), dim)``."""
    import numpy as np
    import torch

    tokenizer, model = _sentence_encoder(encoder)
    out = []
    for begin in range(0, len(texts), batch_size):
        batch = tokenizer(
            list(texts[begin : begin + batch_size]), padding=True, truncation=True, max_length=128, return_tensors="pt"
        )
        with torch.inference_mode():
            states = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


__all__ = ["sentence_embeddings"]
