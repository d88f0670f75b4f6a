"""Codec codes <-> the D-channel image the Audio-Journey U-Net denoises (paper §4, "Wide Channel U-Net").

codes (B, K, T) --codec--> continuous latent (B, D, T) --normalise per channel--> --reshape--> image (B, D, H, W)

* **Continuous latent** = the decoder-side embedding: the sum of the K quantised codebook vectors of each frame
  (:meth:`~hf_audiogen.codec.ResidualVectorQuantizer.codes_to_latents`, or ``quantizer.decode`` of transformers'
  ``EncodecModel``), which is what the codec's decoder takes.
* **Normalisation**: each channel to zero mean and unit standard deviation with the training set's statistics
  (:func:`channel_statistics`); the inverse multiplies back.
* **Layout** (row-major): frame ``t`` goes to pixel ``(t // W, t % W)``, so a row holds W consecutive frames. Frames
  past T up to H x W are zero-padded *after* normalisation (zero = the training mean of every channel); the inverse
  reads the first T pixels back, bit for bit. T = 504, W = 24 gives the paper's 21 x 24.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..validation import InvalidInputError
from .configuration_audio_journey import AudioJourneyConfig


def codes_to_latents(codec, codes: torch.Tensor) -> torch.Tensor:
    """(B, K, T) codes -> (B, D, T) decoder-side latents: this package's ``CodecModel`` or transformers'
    ``EncodecModel`` (whose quantizer's ``decode`` takes codes as (K, B, T))."""
    quantizer = codec.quantizer
    if hasattr(quantizer, "codes_to_latents"):
        return quantizer.codes_to_latents(codes)
    return quantizer.decode(codes.transpose(0, 1))


def latents_to_image(latents: torch.Tensor, config: AudioJourneyConfig) -> torch.Tensor:
    """(B, D, T) -> (B, D, H, W) with H, W from :meth:`AudioJourneyConfig.image_size`; zero padding at the end."""
    batch, channels, frames = latents.shape
    height, width = config.image_size(frames)
    padded = latents.new_zeros(batch, channels, height * width)
    padded[..., :frames] = latents
    return padded.view(batch, channels, height, width)


def image_to_latents(image: torch.Tensor, frames: int) -> torch.Tensor:
    """(B, D, H, W) -> (B, D, ``frames``): the exact inverse of :func:`latents_to_image`."""
    batch, channels, height, width = image.shape
    if frames > height * width:
        raise InvalidInputError(f"an image of {height} x {width} holds {height * width} frames, not {frames}")
    return image.reshape(batch, channels, height * width)[..., :frames]


def _stats(config: AudioJourneyConfig, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(config.latent_mean, dtype=like.dtype, device=like.device)[:, None]
    std = torch.tensor(config.latent_std, dtype=like.dtype, device=like.device)[:, None]
    return mean, std


def normalize_latents(latents: torch.Tensor, config: AudioJourneyConfig) -> torch.Tensor:
    """(B, D, T) -> per-channel zero mean / unit std (unchanged while the config has no statistics)."""
    if not config.is_normalized:
        return latents
    mean, std = _stats(config, latents)
    return (latents - mean) / std


def denormalize_latents(latents: torch.Tensor, config: AudioJourneyConfig) -> torch.Tensor:
    """Inverse of :func:`normalize_latents` (up to float rounding)."""
    if not config.is_normalized:
        return latents
    mean, std = _stats(config, latents)
    return latents * std + mean


def encode_codes(codec, codes: torch.Tensor, config: AudioJourneyConfig) -> torch.Tensor:
    """Codes (B, K, T) -> normalised D-channel images (B, D, H, W): what the U-Net is trained on."""
    return latents_to_image(normalize_latents(codes_to_latents(codec, codes), config), config)


def decode_image(image: torch.Tensor, frames: int, config: AudioJourneyConfig) -> torch.Tensor:
    """Images (B, D, H, W) -> un-normalised (B, D, ``frames``) latents for the codec's decoder."""
    return denormalize_latents(image_to_latents(image, frames), config)


@torch.no_grad()
def channel_statistics(latents: Iterable[torch.Tensor]) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation over every frame of ``latents`` (tensors of (B, D, T) or (D, T)),
    accumulated in float64; returns two lists of D floats."""
    count, total, squares = 0, None, None
    for x in latents:
        x = x.detach().double()
        x = x.unsqueeze(0) if x.dim() == 2 else x
        flat = x.transpose(0, 1).reshape(x.shape[1], -1)
        total = flat.sum(1) if total is None else total + flat.sum(1)
        squares = (flat**2).sum(1) if squares is None else squares + (flat**2).sum(1)
        count += flat.shape[1]
    if count < 2:
        raise InvalidInputError("channel statistics need at least two latent frames")
    mean = total / count
    variance = (squares / count - mean**2).clamp_min(0) * count / (count - 1)
    std = variance.sqrt().clamp_min(1e-5)  # a dead channel must not divide by zero
    return mean.tolist(), std.tolist()


__all__ = [
    "channel_statistics",
    "codes_to_latents",
    "decode_image",
    "denormalize_latents",
    "encode_codes",
    "image_to_latents",
    "latents_to_image",
    "normalize_latents",
]
