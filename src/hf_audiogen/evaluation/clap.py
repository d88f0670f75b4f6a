"""CLAP text-audio embeddings and similarity (Wu et al. 2023, laion CLAP through transformers' ``ClapModel``), written
once for GenAU's re-ranking, AutoReCap's caption filter and the CLAP-score extractor (``extractors/clap.py``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from transformers import ClapModel, ClapProcessor

from ..audio import resample


def clap_text_max_length(tokenizer, text_config) -> int:
    """The longest text CLAP's text tower takes: the tokenizer's limit, within the position embeddings."""
    # RoBERTa positions start after the padding index, so 2 of the position embeddings are never used by tokens.
    return min(tokenizer.model_max_length, text_config.max_position_embeddings - 2)


@torch.no_grad()
def clap_audio_embeddings(
    clap_model: ClapModel,
    clap_processor: ClapProcessor,
    audios,
    sampling_rate: int,
    long_clips: Literal["center", "random"] = "center",
    seed: int = 0,
) -> torch.Tensor:
    """L2-normalised, projected CLAP audio embeddings ``(n, projection_dim)`` of mono waveforms ``audios[i]`` (1-D
    arrays, any lengths, at ``sampling_rate``), on the model's device.

    Clips longer than the feature extractor's window (10 s for laion CLAP): ``"center"`` crops the centre (the
    re-ranking: a seeded call always scores the same candidates); ``"random"`` keeps laion's own handling — a random
    crop (``rand_trunc``) or, for a fusion model, the whole-clip thumbnail plus three random 10 s chunks — with the
    chunk positions drawn from numpy's generator seeded with ``seed`` (numpy's global state is restored after).
    """
    feature_extractor = clap_processor.feature_extractor
    # The CLAP audio tower works at its own rate (48 kHz for laion CLAP); GenAU makes 16 kHz audio.
    audios = [
        resample(np.asarray(audio, np.float32), sampling_rate, feature_extractor.sampling_rate) for audio in audios
    ]
    limit = feature_extractor.nb_max_samples
    if long_clips == "center":
        # ClapFeatureExtractor crops at a random place (numpy's global RNG): take the centre instead.
        audios = [
            audio[(len(audio) - limit) // 2 : (len(audio) - limit) // 2 + limit] if len(audio) > limit else audio
            for audio in audios
        ]
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        features = feature_extractor(audios, sampling_rate=feature_extractor.sampling_rate, return_tensors="pt")
    finally:
        np.random.set_state(state)
    device, dtype = clap_model.device, clap_model.dtype
    is_longer = features.get("is_longer")  # set by the "fusion" truncation of clips longer than 10 s
    if is_longer is not None:
        # When no clip of a batch is longer, ClapFeatureExtractor marks a random one as longer (a laion *training*
        # trick); laion's inference (CLAP_Module.get_audio_embedding_from_data) fuses only the clips that are.
        really_longer = torch.tensor([[len(audio) > limit] for audio in audios])
        is_longer = (is_longer.bool() & really_longer).to(device)
    return clap_model.get_audio_features(
        input_features=features.input_features.to(device, dtype), is_longer=is_longer
    ).pooler_output


@torch.no_grad()
def clap_text_embeddings(
    clap_model: ClapModel, clap_processor: ClapProcessor, texts: list[str], max_length: int | None = None
) -> torch.Tensor:
    """L2-normalised, projected CLAP text embeddings ``(n, projection_dim)`` on the model's device. ``max_length``:
    tokens kept per text (default: :func:`clap_text_max_length`; laion's ``CLAP_Module`` keeps 77)."""
    tokenizer = clap_processor.tokenizer
    if max_length is None:
        max_length = clap_text_max_length(tokenizer, clap_model.config.text_config)
    text_inputs = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return clap_text_embeddings_from_ids(clap_model, text_inputs.input_ids, text_inputs.attention_mask)


@torch.no_grad()
def clap_text_embeddings_from_ids(
    clap_model: ClapModel, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """The text embeddings of already tokenised texts (``(n, tokens)`` ids and mask)."""
    device = clap_model.device
    mask = None if attention_mask is None else attention_mask.to(device)
    return clap_model.get_text_features(input_ids=input_ids.to(device), attention_mask=mask).pooler_output


@torch.no_grad()
def clap_similarity(
    clap_model: ClapModel, clap_processor: ClapProcessor, audios, sampling_rate: int, texts: list[str]
) -> torch.Tensor:
    """CLAP cosine similarity of each mono waveform ``audios[i]`` (1-D arrays, any lengths, at ``sampling_rate``)
    with ``texts[i]``: ``(n,)`` float32 on the CPU. Shared by GenAU's re-ranking (``GenAUPipeline.score_audio_text``)
    and the AutoReCap data pipeline; long clips are centre-cropped."""
    audio_embeds = clap_audio_embeddings(clap_model, clap_processor, audios, sampling_rate, long_clips="center")
    text_embeds = clap_text_embeddings(clap_model, clap_processor, texts)
    return F.cosine_similarity(audio_embeds.float(), text_embeds.float(), dim=-1).cpu()


__all__ = [
    "clap_audio_embeddings",
    "clap_similarity",
    "clap_text_embeddings",
    "clap_text_embeddings_from_ids",
    "clap_text_max_length",
]
