"""CLAP text-audio similarity (Wu et al. 2023, laion CLAP through transformers' ``ClapModel``): the score GenAU's
pipeline re-ranks its candidates with and AutoReCap filters its captions by, written once for both.
"""

from __future__ import annotations

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
def clap_similarity(
    clap_model: ClapModel, clap_processor: ClapProcessor, audios, sampling_rate: int, texts: list[str]
) -> torch.Tensor:
    """CLAP cosine similarity of each mono waveform ``audios[i]`` (1-D arrays, any lengths, at ``sampling_rate``)
    with ``texts[i]``: ``(n,)`` float32 on the CPU. Shared by GenAU's re-ranking (``GenAUPipeline.score_audio_text``)
    and the AutoReCap data pipeline."""
    feature_extractor, tokenizer = clap_processor.feature_extractor, clap_processor.tokenizer
    # The CLAP audio tower works at its own rate (48 kHz for laion CLAP); GenAU makes 16 kHz audio.
    audios = [
        resample(np.asarray(audio, np.float32), sampling_rate, feature_extractor.sampling_rate) for audio in audios
    ]
    # ClapFeatureExtractor crops clips longer than its max_length_s at a random place (numpy's global RNG): take
    # the centre instead, so that a seeded call always scores, and keeps, the same candidates.
    limit = feature_extractor.nb_max_samples
    audios = [
        audio[(len(audio) - limit) // 2 : (len(audio) - limit) // 2 + limit] if len(audio) > limit else audio
        for audio in audios
    ]
    features = feature_extractor(audios, sampling_rate=feature_extractor.sampling_rate, return_tensors="pt")
    device, dtype = clap_model.device, clap_model.dtype
    is_longer = features.get("is_longer")  # set by the "fusion" truncation of clips longer than 10 s
    audio_embeds = clap_model.get_audio_features(
        input_features=features.input_features.to(device, dtype),
        is_longer=None if is_longer is None else is_longer.to(device),
    ).pooler_output
    max_length = clap_text_max_length(tokenizer, clap_model.config.text_config)
    text_inputs = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    text_embeds = clap_model.get_text_features(
        input_ids=text_inputs.input_ids.to(device), attention_mask=text_inputs.attention_mask.to(device)
    ).pooler_output
    return F.cosine_similarity(audio_embeds.float(), text_embeds.float(), dim=-1).cpu()


__all__ = ["clap_similarity", "clap_text_max_length"]
