"""GenAU's 1D-VAE: a KL autoencoder over log-mel spectrograms whose mel bins are Conv1d channels.

The paper (§3.3) swaps the usual 2-D mel-as-image VAE for 1-D convolutions over time, because mel bins are not
spatially uniform. Layout and parameter names follow the reference ``Encoder1D``/``Decoder1D``
(``GenAU/src/modules/diffusionmodules/model_1d.py``: ``encoder.down.{i}.block.{j}``, ``mid.block_1/attn_1/block_2``,
``quant_conv``/``post_quant_conv``) so that released checkpoints map 1:1: GroupNorm(32, eps 1e-6) + swish residual
blocks, one stride-2 downsampling per level but the last (x4 in time for three levels), a single-head attention block
in the middle, ``z_channels`` at the encoder output and ``latent_channels`` (64) in the latent.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin  # keep both names bound: DiffusionPipeline looks them up here
from diffusers.configuration_utils import register_to_config
from diffusers.models.autoencoders.vae import DecoderOutput, DiagonalGaussianDistribution
from diffusers.models.downsampling import Downsample1D
from diffusers.models.modeling_outputs import AutoencoderKLOutput
from diffusers.models.upsampling import Upsample1D
from diffusers.utils.accelerate_utils import apply_forward_hook
from torch import nn

from ..loading import StrictLoadingMixin
from ..validation import InvalidInputError


class DiagonalGaussianDistribution1D(DiagonalGaussianDistribution):
    """diffusers' posterior for ``(batch, channels, frames)`` moments.

    diffusers sums ``kl``/``nll`` over dims ``[1, 2, 3]`` (4-D image latents); these overrides sum over every
    non-batch dim so the same class works for 1-D latents.
    """

    def kl(self, other: DiagonalGaussianDistribution | None = None) -> torch.Tensor:
        if self.deterministic:
            return torch.zeros(self.mean.shape[0], device=self.mean.device, dtype=self.mean.dtype)
        if other is None:
            terms = self.mean.pow(2) + self.var - 1.0 - self.logvar
        else:
            terms = (self.mean - other.mean).pow(2) / other.var + self.var / other.var - 1.0 - self.logvar
            terms = terms + other.logvar
        return 0.5 * terms.flatten(1).sum(dim=1)

    def nll(self, sample: torch.Tensor, dims=None) -> torch.Tensor:
        if self.deterministic:
            return torch.zeros(self.mean.shape[0], device=self.mean.device, dtype=self.mean.dtype)
        log_two_pi = torch.log(torch.tensor(2.0 * torch.pi, dtype=self.mean.dtype, device=self.mean.device))
        terms = log_two_pi + self.logvar + (sample - self.mean).pow(2) / self.var
        return 0.5 * terms.flatten(1).sum(dim=1)


class ResnetBlock1D(nn.Module):
    """Pre-activation residual block (GroupNorm -> swish -> Conv1d k3, twice) with a 1x1 ``nin_shortcut`` when the
    width changes. diffusers' 1-D blocks (``ResidualTemporalBlock1D``) use Mish and no GroupNorm, hence this one."""

    def __init__(self, in_channels: int, out_channels: int, norm_num_groups: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(norm_num_groups, in_channels, eps=1e-6)
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size=3, padding=1)
        self.norm2 = nn.GroupNorm(norm_num_groups, out_channels, eps=1e-6)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size=3, padding=1)
        self.nin_shortcut = nn.Conv1d(in_channels, out_channels, kernel_size=1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + (x if self.nin_shortcut is None else self.nin_shortcut(x))


class AttnBlock1D(nn.Module):
    """Single-head self-attention over time with 1x1-conv projections (``q``, ``k``, ``v``, ``proj_out``)."""

    def __init__(self, channels: int, norm_num_groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(norm_num_groups, channels, eps=1e-6)
        self.q = nn.Conv1d(channels, channels, kernel_size=1)
        self.k = nn.Conv1d(channels, channels, kernel_size=1)
        self.v = nn.Conv1d(channels, channels, kernel_size=1)
        self.proj_out = nn.Conv1d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        q, k, v = (proj(h).transpose(1, 2).unsqueeze(1) for proj in (self.q, self.k, self.v))  # (B, 1, T, C)
        h = F.scaled_dot_product_attention(q, k, v).squeeze(1).transpose(1, 2)
        return x + self.proj_out(h)


class _MidBlock(nn.Module):
    def __init__(self, channels: int, norm_num_groups: int, dropout: float):
        super().__init__()
        self.block_1 = ResnetBlock1D(channels, channels, norm_num_groups, dropout)
        self.attn_1 = AttnBlock1D(channels, norm_num_groups)
        self.block_2 = ResnetBlock1D(channels, channels, norm_num_groups, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class _Level(nn.Module):
    """One resolution level: residual blocks, then an optional resampler (``downsample`` or ``upsample``)."""

    def __init__(self, blocks: list[nn.Module], resampler_name: str | None = None, resampler: nn.Module | None = None):
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.resampler_name = resampler_name
        if resampler_name is not None:
            self.add_module(resampler_name, resampler)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.block:
            x = block(x)
        return x if self.resampler_name is None else getattr(self, self.resampler_name)(x)


class Encoder1D(nn.Module):
    def __init__(self, in_channels, block_out_channels, layers_per_block, z_channels, norm_num_groups, dropout):
        super().__init__()
        self.conv_in = nn.Conv1d(in_channels, block_out_channels[0], kernel_size=3, padding=1)
        self.down = nn.ModuleList()
        channels = block_out_channels[0]
        for level, out_channels in enumerate(block_out_channels):
            blocks = []
            for _ in range(layers_per_block):
                blocks.append(ResnetBlock1D(channels, out_channels, norm_num_groups, dropout))
                channels = out_channels
            is_last = level == len(block_out_channels) - 1
            # Downsample1D(padding=1) is the reference's zero-pad (1, 1) + stride-2 k3 conv.
            resampler = (None, None) if is_last else ("downsample", Downsample1D(channels, use_conv=True))
            self.down.append(_Level(blocks, *resampler))
        self.mid = _MidBlock(channels, norm_num_groups, dropout)
        self.norm_out = nn.GroupNorm(norm_num_groups, channels, eps=1e-6)
        self.conv_out = nn.Conv1d(channels, 2 * z_channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for level in self.down:
            x = level(x)
        return self.conv_out(F.silu(self.norm_out(self.mid(x))))


class Decoder1D(nn.Module):
    def __init__(self, out_channels, block_out_channels, layers_per_block, z_channels, norm_num_groups, dropout):
        super().__init__()
        channels = block_out_channels[-1]
        self.conv_in = nn.Conv1d(z_channels, channels, kernel_size=3, padding=1)
        self.mid = _MidBlock(channels, norm_num_groups, dropout)
        levels = []
        for level in reversed(range(len(block_out_channels))):
            blocks = []
            for _ in range(layers_per_block + 1):
                blocks.append(ResnetBlock1D(channels, block_out_channels[level], norm_num_groups, dropout))
                channels = block_out_channels[level]
            upsample = ("upsample", Upsample1D(channels, use_conv=True)) if level != 0 else (None, None)
            levels.insert(0, _Level(blocks, *upsample))
        # Stored lowest level first (reference order) but run from the deepest level up.
        self.up = nn.ModuleList(levels)
        self.norm_out = nn.GroupNorm(norm_num_groups, channels, eps=1e-6)
        self.conv_out = nn.Conv1d(channels, out_channels, kernel_size=3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            x = level(x)
        return self.conv_out(F.silu(self.norm_out(x)))


# "genau": the reference's 1d_vae.yaml (ch 512, ch_mult 1/2/4, 3 res blocks, z 256, 64 latent channels; ~392M params).
# "small": same latent layout (x4 in time, 64 channels) at 1/8 of the width, 1 block per level (~4.2M params), for CPU
# training runs (training_scripts/train_vae.py).
VAE_PRESETS: dict[str, dict] = {
    "genau": dict(block_out_channels=(512, 1024, 2048), layers_per_block=3, z_channels=256, latent_channels=64),
    "small": dict(block_out_channels=(64, 128, 256), layers_per_block=1, z_channels=64, latent_channels=64),
}


class AutoencoderKL1D(StrictLoadingMixin, ModelMixin, ConfigMixin):
    r"""GenAU's 1-D KL autoencoder: ``(batch, mel_bins, frames)`` log-mels <-> ``(batch, latent_channels, frames / 4)``.

    The latent the diffusion model sees is ``posterior.sample() * scaling_factor`` (GenAU samples the posterior and
    sets ``scaling_factor = 1 / std(z)`` on its first training batch); decoding divides by it again.

    Args:
        in_channels (`int`): mel bins of the input (64).
        out_channels (`int`): mel bins of the output (64).
        block_out_channels (`tuple[int]`): width per level; ``len - 1`` stride-2 downsamplings (reference:
            ``ch=512, ch_mult=(1, 2, 4)``).
        layers_per_block (`int`): residual blocks per encoder level (the decoder has one more), reference 3.
        z_channels (`int`): width of the encoder output (doubled for mean/log-variance) and of the decoder input,
            between the 1x1 ``quant_conv``/``post_quant_conv`` (256).
        latent_channels (`int`): channels of the latent (64).
        norm_num_groups (`int`): GroupNorm groups (32).
        dropout (`float`): dropout inside the residual blocks (0).
        scaling_factor (`float`): multiplies the latent for diffusion (``1 / std`` of training latents).

    Example:

    ```python
    >>> import torch
    >>> from hf_audiogen.genau import AutoencoderKL1D
    >>> vae = AutoencoderKL1D(block_out_channels=(32, 32, 64), layers_per_block=1, z_channels=16, latent_channels=8,
    ...                       norm_num_groups=8)
    >>> mel = torch.randn(2, 64, 1024)
    >>> z = vae.encode(mel).latent_dist.sample() * vae.config.scaling_factor
    >>> z.shape, vae.decode(z / vae.config.scaling_factor).sample.shape
    (torch.Size([2, 8, 256]), torch.Size([2, 64, 1024]))
    ```
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        in_channels: int = 64,
        out_channels: int = 64,
        block_out_channels: tuple[int, ...] = (512, 1024, 2048),
        layers_per_block: int = 3,
        z_channels: int = 256,
        latent_channels: int = 64,
        norm_num_groups: int = 32,
        dropout: float = 0.0,
        scaling_factor: float = 1.0,
    ):
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("z_channels", z_channels),
            ("latent_channels", latent_channels),
            ("layers_per_block", layers_per_block),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name} must be a positive int, got {value!r}")
        if len(block_out_channels) < 1 or any(c % norm_num_groups for c in block_out_channels):
            raise InvalidInputError(
                f"block_out_channels must be non-empty multiples of norm_num_groups={norm_num_groups}, got "
                f"{tuple(block_out_channels)}"
            )
        if not scaling_factor > 0:
            raise InvalidInputError(f"scaling_factor must be > 0, got {scaling_factor}")
        shared = (block_out_channels, layers_per_block, z_channels, norm_num_groups, dropout)
        self.encoder = Encoder1D(in_channels, *shared)
        self.decoder = Decoder1D(out_channels, *shared)
        self.quant_conv = nn.Conv1d(2 * z_channels, 2 * latent_channels, kernel_size=1)
        self.post_quant_conv = nn.Conv1d(latent_channels, z_channels, kernel_size=1)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "AutoencoderKL1D":
        """A randomly initialised VAE from ``VAE_PRESETS[name]`` (``"genau"``, ``"small"``) with ``overrides``."""
        if name not in VAE_PRESETS:
            raise InvalidInputError(f"unknown VAE preset {name!r}; choose one of {sorted(VAE_PRESETS)}")
        return cls(**{**VAE_PRESETS[name], **overrides})

    @property
    def temporal_downsampling(self) -> int:
        """Mel frames per latent frame (4 for three levels)."""
        return 2 ** (len(self.config.block_out_channels) - 1)

    @apply_forward_hook
    def encode(self, x: torch.Tensor, return_dict: bool = True) -> AutoencoderKLOutput | tuple:
        """``(batch, in_channels, frames)`` log-mels -> posterior over ``(batch, latent_channels, frames / 4)``
        (rounded up)."""
        if x.ndim != 3 or x.shape[1] != self.config.in_channels:
            raise InvalidInputError(
                f"expected log-mels of shape (batch, {self.config.in_channels}, frames) (mel bins as channels), got "
                f"{tuple(x.shape)}"
            )
        posterior = DiagonalGaussianDistribution1D(self.quant_conv(self.encoder(x)))
        return AutoencoderKLOutput(latent_dist=posterior) if return_dict else (posterior,)

    @apply_forward_hook
    def decode(self, z: torch.Tensor, return_dict: bool = True) -> DecoderOutput | tuple:
        """``(batch, latent_channels, latent_frames)`` (unscaled) -> ``(batch, out_channels, 4 * latent_frames)``."""
        if z.ndim != 3 or z.shape[1] != self.config.latent_channels:
            raise InvalidInputError(
                f"expected latents of shape (batch, {self.config.latent_channels}, frames), got {tuple(z.shape)}"
            )
        mel = self.decoder(self.post_quant_conv(z))
        return DecoderOutput(sample=mel) if return_dict else (mel,)

    def forward(
        self,
        sample: torch.Tensor,
        sample_posterior: bool = False,
        generator: torch.Generator | None = None,
        return_dict: bool = True,
    ) -> DecoderOutput | tuple:
        """Encode and decode (posterior mean unless ``sample_posterior``); output frames are cut to the input's."""
        posterior = self.encode(sample).latent_dist
        z = posterior.sample(generator=generator) if sample_posterior else posterior.mode()
        mel = self.decode(z).sample[..., : sample.shape[-1]]
        return DecoderOutput(sample=mel) if return_dict else (mel,)

    def get_last_layer(self) -> torch.Tensor:
        """Weight of the decoder's output conv (the adversarial loss balances its gradient against this layer's)."""
        return self.decoder.conv_out.weight


__all__ = ["VAE_PRESETS", "AutoencoderKL1D", "DiagonalGaussianDistribution1D"]
