"""Training objectives of GenAU's 1D-VAE (paper §3.3: reconstruction + adversarial + KL, following Esser et al.).

The reference (``GenAU/src/losses/contperceptual.py``, ``LPIPSWithDiscriminator``) minimises, per batch,

    sum(|x - x̂| + w_p · LPIPS(x, x̂)) / exp(logvar) + logvar     (summed over mel elements, averaged over the batch)
    + kl_weight · KL(q(z|x) || N(0, 1))                            (averaged over latent elements and batch)
    + λ_adapt · disc_factor · (-mean D(x̂))                         (from step ``disc_start`` on)

with a PatchGAN discriminator on the mel "image" trained with the hinge loss and ``λ_adapt = ‖∇nll‖ / ‖∇g‖`` at the
decoder's last layer, times ``disc_weight``. LPIPS needs ImageNet-trained VGG weights, which are not available here
and were never meant for spectrograms, so the perceptual-style term is discriminator feature matching (L1 between
the discriminator's intermediate activations for ``x`` and ``x̂``, as in MelGAN/HiFi-GAN).
"""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin  # keep both names bound: DiffusionPipeline looks them up here
from diffusers.configuration_utils import register_to_config
from torch import nn

from ..training.adversarial import discriminator_loss
from ..training.adversarial import feature_matching_loss as adversarial_feature_matching_loss
from ..validation import InvalidInputError
from .modeling_autoencoder_kl_1d import DiagonalGaussianDistribution1D


def reconstruction_loss(inputs: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
    """Per-example sum of absolute log-mel errors, ``(batch,)`` (the reference's pixel loss)."""
    if inputs.shape != reconstructions.shape:
        raise InvalidInputError(
            f"inputs and reconstructions differ in shape: {tuple(inputs.shape)} vs {tuple(reconstructions.shape)}"
        )
    return (inputs - reconstructions).abs().flatten(1).sum(dim=1)


def kl_loss(posterior: DiagonalGaussianDistribution1D) -> torch.Tensor:
    """``KL(q(z|x) || N(0, I))`` averaged over latent elements and the batch: the reference's posterior takes the
    *mean* over latent elements (``kl_weight=1000`` is meant for that), where diffusers' ``kl()`` sums them."""
    return posterior.kl().mean() / posterior.mean[0].numel()


def hinge_discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """The reference's ``hinge_d_loss``: ``0.5 · (mean(max(0, 1 - D(x))) + mean(max(0, 1 + D(x̂))))``."""
    return discriminator_loss([logits_real], [logits_fake], "hinge_taming")


def feature_matching_loss(features_real: list[torch.Tensor], features_fake: list[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of the mean absolute difference of discriminator activations (real ones are detached)."""
    return adversarial_feature_matching_loss([features_real], [features_fake], "mean")


class MelPatchDiscriminator(ModelMixin, ConfigMixin):
    """PatchGAN discriminator over a log-mel seen as a one-channel image ``(batch, 1, frames, mel_bins)``.

    Same layout as the reference's ``NLayerDiscriminator`` (taming-transformers): 4x4 convs, stride 2 for the first
    ``num_layers``, BatchNorm and LeakyReLU(0.2), channel width doubling up to ``8 * base_channels``, one logit per
    patch.

    Example:

    ```python
    >>> import torch
    >>> from hf_audiogen.genau.losses import MelPatchDiscriminator
    >>> disc = MelPatchDiscriminator(base_channels=8, num_layers=2)
    >>> logits, features = disc(torch.randn(2, 64, 128))
    >>> logits.shape[0], len(features)
    (2, 3)
    ```
    """

    @register_to_config
    def __init__(self, base_channels: int = 64, num_layers: int = 3):
        super().__init__()
        if base_channels < 1 or num_layers < 1:
            raise InvalidInputError(f"base_channels and num_layers must be >= 1, got {base_channels} and {num_layers}")
        layers = [nn.Sequential(nn.Conv2d(1, base_channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2))]
        channels = base_channels
        for n in range(1, num_layers + 1):
            out_channels = base_channels * min(2**n, 8)
            stride = 2 if n < num_layers else 1
            layers.append(
                nn.Sequential(
                    nn.Conv2d(channels, out_channels, 4, stride=stride, padding=1, bias=False),
                    nn.BatchNorm2d(out_channels),
                    nn.LeakyReLU(0.2),
                )
            )
            channels = out_channels
        self.layers = nn.ModuleList(layers)
        self.conv_out = nn.Conv2d(channels, 1, 4, stride=1, padding=1)
        for module in self.modules():  # the reference's weights_init: N(0, 0.02) convs, N(1, 0.02) norms
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.02)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(batch, mel_bins, frames)`` -> (patch logits, intermediate activations)."""
        x = mel.transpose(1, 2).unsqueeze(1)
        features = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return self.conv_out(x), features


class AutoencoderKL1DLoss(nn.Module):
    """The VAE objective of the module docstring, with the reference's defaults (``1d_vae.yaml``: ``kl_weight=1000``,
    ``disc_weight=0.5``, ``disc_start=20001``).

    ``generator_loss`` returns the autoencoder's loss (it owns the learned ``logvar``, so optimise this module's
    parameters together with the VAE's); ``discriminator_loss`` returns the discriminator's hinge loss.

    Example:

    ```python
    >>> import torch
    >>> from hf_audiogen.genau import AutoencoderKL1D
    >>> from hf_audiogen.genau.losses import AutoencoderKL1DLoss, MelPatchDiscriminator
    >>> vae = AutoencoderKL1D(block_out_channels=(8, 8), layers_per_block=1, z_channels=4, latent_channels=2,
    ...                       norm_num_groups=4)
    >>> loss_fn, disc = AutoencoderKL1DLoss(disc_start=0), MelPatchDiscriminator(base_channels=4, num_layers=1)
    >>> mel = torch.randn(2, 64, 32)
    >>> posterior = vae.encode(mel).latent_dist
    >>> rec = vae.decode(posterior.sample()).sample
    >>> loss, logs = loss_fn.generator_loss(mel, rec, posterior, disc, global_step=1, last_layer=vae.get_last_layer())
    >>> sorted(logs)[:3]
    ['d_weight', 'disc_factor', 'feature_matching_loss']
    ```
    """

    def __init__(
        self,
        kl_weight: float = 1000.0,
        disc_weight: float = 0.5,
        disc_start: int = 20001,
        disc_factor: float = 1.0,
        perceptual_weight: float = 1.0,
        logvar_init: float = 0.0,
    ):
        super().__init__()
        for name, value in (
            ("kl_weight", kl_weight),
            ("disc_weight", disc_weight),
            ("disc_factor", disc_factor),
            ("perceptual_weight", perceptual_weight),
            ("disc_start", disc_start),
        ):
            if value < 0:
                raise InvalidInputError(f"{name} must be >= 0, got {value}")
        self.kl_weight = kl_weight
        self.disc_weight = disc_weight
        self.disc_start = disc_start
        self.disc_factor = disc_factor
        self.perceptual_weight = perceptual_weight
        self.logvar = nn.Parameter(torch.tensor(float(logvar_init)))

    def _disc_factor(self, global_step: int) -> float:
        return self.disc_factor if global_step >= self.disc_start else 0.0

    def _adaptive_weight(self, nll: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor | None):
        if last_layer is None or not torch.is_grad_enabled():
            return torch.tensor(0.0, device=nll.device)  # evaluation: there is no gradient to balance
        nll_grad = torch.autograd.grad(nll, last_layer, retain_graph=True)[0]
        g_grad = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
        weight = torch.clamp(nll_grad.norm() / (g_grad.norm() + 1e-4), 0.0, 1e4).detach()
        return weight * self.disc_weight

    def generator_loss(
        self,
        inputs: torch.Tensor,
        reconstructions: torch.Tensor,
        posterior: DiagonalGaussianDistribution1D,
        discriminator: MelPatchDiscriminator | None = None,
        global_step: int = 0,
        last_layer: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        rec = reconstruction_loss(inputs, reconstructions)
        nll = (rec / torch.exp(self.logvar) + self.logvar).mean()
        kl = kl_loss(posterior)
        loss = nll + self.kl_weight * kl
        logs = {
            "rec_loss": rec.mean().item() / inputs[0].numel(),
            "nll_loss": nll.item(),
            "kl_loss": kl.item(),
            "logvar": self.logvar.item(),
        }
        disc_factor = self._disc_factor(global_step)
        if discriminator is not None and disc_factor > 0:
            logits_fake, features_fake = discriminator(reconstructions)
            with torch.no_grad():
                _, features_real = discriminator(inputs)
            g_loss = -logits_fake.mean()
            fm = feature_matching_loss(features_real, features_fake)
            d_weight = self._adaptive_weight(nll, g_loss, last_layer)
            loss = loss + self.perceptual_weight * fm + d_weight * disc_factor * g_loss
            logs.update(g_loss=g_loss.item(), feature_matching_loss=fm.item(), d_weight=d_weight.item())
        logs["disc_factor"] = disc_factor
        logs["loss"] = loss.item()
        return loss, logs

    def discriminator_loss(
        self,
        inputs: torch.Tensor,
        reconstructions: torch.Tensor,
        discriminator: MelPatchDiscriminator,
        global_step: int = 0,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        logits_real, _ = discriminator(inputs.detach())
        logits_fake, _ = discriminator(reconstructions.detach())
        loss = self._disc_factor(global_step) * hinge_discriminator_loss(logits_real, logits_fake)
        return loss, {
            "disc_loss": loss.item(),
            "logits_real": logits_real.mean().item(),
            "logits_fake": logits_fake.mean().item(),
        }


__all__ = [
    "AutoencoderKL1DLoss",
    "MelPatchDiscriminator",
    "feature_matching_loss",
    "hinge_discriminator_loss",
    "kl_loss",
    "reconstruction_loss",
]
