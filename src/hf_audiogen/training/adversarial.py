"""The adversarial losses of our GAN-trained models, each written once, with a named variant where the references
differ (the codec follows audiocraft's EnCodec, GenAU's VAE taming-transformers' LPIPSWithDiscriminator, GenAU's
vocoder HiFi-GAN). ``codec.losses`` and ``genau.losses`` re-export the names their models train with.

Logits and feature maps come per sub-discriminator (a scale, a period, or the single PatchGAN): ``logits[k]`` is
``D_k``'s output, ``features[k][l]`` its ``l``-th activation.

- discriminator: ``hinge`` (audiocraft): ``1/K Σ_k mean(max(0, 1 - D_k(x))) + mean(max(0, 1 + D_k(x̂)))``;
  ``hinge_taming`` (GenAU's VAE, taming's ``hinge_d_loss``): half of that; ``lsgan`` (HiFi-GAN):
  ``Σ_k mean((1 - D_k(x))²) + mean(D_k(x̂)²)``.
- generator: ``hinge`` (the AudioGen paper's ℓg): ``1/K Σ_k mean(max(0, 1 - D_k(x̂)))``; ``lsgan`` (HiFi-GAN):
  ``Σ_k mean((1 - D_k(x̂))²)``.
- feature matching: ``relative`` (audiocraft): ``mean_{k,l} mean|D_k^l(x) - D_k^l(x̂)| / mean|D_k^l(x)|``; ``mean``
  (GenAU's VAE, as MelGAN): ``mean_{k,l} mean|D_k^l(x) - D_k^l(x̂)|``; ``hifigan``:
  ``2 · Σ_{k,l} mean|D_k^l(x) - D_k^l(x̂)|``.

(The GenAU VAE's generator term, ``-mean D(x̂)``, is one line in its loss and stays there.) Real features are
detached: they are targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F

from ..validation import InvalidInputError

DISCRIMINATOR_VARIANTS = ("hinge", "hinge_taming", "lsgan")
GENERATOR_VARIANTS = ("hinge", "lsgan")
FEATURE_MATCHING_VARIANTS = ("relative", "mean", "hifigan")


def _check_variant(variant: str, variants: tuple[str, ...]) -> None:
    if variant not in variants:
        raise InvalidInputError(f"unknown variant {variant!r}; choose one of {list(variants)}")


def discriminator_loss(
    real_logits: Sequence[torch.Tensor], fake_logits: Sequence[torch.Tensor], variant: str = "hinge"
) -> torch.Tensor:
    """The discriminators' loss on real ``D_k(x)`` and fake ``D_k(x̂)`` logits (see the module docstring)."""
    _check_variant(variant, DISCRIMINATOR_VARIANTS)
    if len(real_logits) != len(fake_logits) or not real_logits:
        raise InvalidInputError(
            f"need the same non-zero number of real and fake logits, got {len(real_logits)} and {len(fake_logits)}"
        )
    if variant == "lsgan":
        return sum(((1 - real) ** 2).mean() + (fake**2).mean() for real, fake in zip(real_logits, fake_logits))
    losses = [F.relu(1 - real).mean() + F.relu(1 + fake).mean() for real, fake in zip(real_logits, fake_logits)]
    loss = torch.stack(losses).mean()
    return 0.5 * loss if variant == "hinge_taming" else loss


def generator_loss(fake_logits: Sequence[torch.Tensor], variant: str = "hinge") -> torch.Tensor:
    """The generator's adversarial loss on fake logits ``D_k(x̂)`` (see the module docstring)."""
    _check_variant(variant, GENERATOR_VARIANTS)
    if not fake_logits:
        raise InvalidInputError("need at least one scale of fake logits")
    if variant == "lsgan":
        return sum(((1 - fake) ** 2).mean() for fake in fake_logits)
    return torch.stack([F.relu(1 - fake).mean() for fake in fake_logits]).mean()


def feature_matching_loss(
    real_features: Sequence[Sequence[torch.Tensor]],
    fake_features: Sequence[Sequence[torch.Tensor]],
    variant: str = "relative",
    eps: float = 1e-8,
) -> torch.Tensor:
    """L1 between the discriminators' activations for real and fake inputs (see the module docstring).

    ``relative`` divides each layer's distance by the real activation's magnitude (``+ eps``), so that layers with
    large activations do not dominate; ``hifigan`` sums where ``mean`` averages, and doubles.
    """
    _check_variant(variant, FEATURE_MATCHING_VARIANTS)
    if len(real_features) != len(fake_features) or not real_features:
        raise InvalidInputError(
            f"need the same non-zero number of scales, got {len(real_features)} and {len(fake_features)}"
        )
    terms = []
    for real_scale, fake_scale in zip(real_features, fake_features):
        if len(real_scale) != len(fake_scale):
            raise InvalidInputError(
                f"scales have different depths: {len(real_scale)} and {len(fake_scale)} feature maps"
            )
        for real, fake in zip(real_scale, fake_scale):
            real = real.detach()
            distance = F.l1_loss(fake, real)
            terms.append(distance / (real.abs().mean() + eps) if variant == "relative" else distance)
    loss = torch.stack(terms).mean()
    return 2 * len(terms) * loss if variant == "hifigan" else loss


# The names the models' losses have always used, each one variant.
discriminator_hinge_loss = partial(discriminator_loss, variant="hinge")  # the codec (audiocraft)
generator_hinge_loss = partial(generator_loss, variant="hinge")  # the codec: the paper's ℓg (audiocraft: -mean D)
lsgan_discriminator_loss = partial(discriminator_loss, variant="lsgan")  # GenAU's vocoder (HiFi-GAN)
lsgan_generator_loss = partial(generator_loss, variant="lsgan")
hifigan_feature_matching_loss = partial(feature_matching_loss, variant="hifigan")


__all__ = [
    "DISCRIMINATOR_VARIANTS",
    "FEATURE_MATCHING_VARIANTS",
    "GENERATOR_VARIANTS",
    "discriminator_hinge_loss",
    "discriminator_loss",
    "feature_matching_loss",
    "generator_hinge_loss",
    "generator_loss",
    "hifigan_feature_matching_loss",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
]
