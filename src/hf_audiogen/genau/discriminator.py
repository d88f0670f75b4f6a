"""HiFi-GAN's discriminators (Kong et al. 2020), which train GenAU's vocoder (:mod:`.vocoder`): the multi-period
(MPD) and multi-scale (MSD) discriminators in one diffusers model. Each sub-discriminator returns its logits and the
activations of its layers; the logits feed the least-squares GAN losses and the activations the feature-matching loss
(:mod:`hf_audiogen.training.adversarial`, variants ``lsgan`` and ``hifigan``).

Written here because no maintained library offers HiFi-GAN's MPD/MSD for reuse: transformers and diffusers ship
generators only, and ESPnet/SpeechBrain, which have them, pull in torchaudio (broken here) and whole toolkits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

from ..validation import InvalidInputError

HIFIGAN_PERIOD_CHANNELS = (32, 128, 512, 1024, 1024)  # HiFi-GAN's widths of the MPD and MSD convolutions
HIFIGAN_SCALE_CHANNELS = (128, 128, 256, 512, 1024, 1024, 1024)


class _SubDiscriminator(nn.Module):
    """``convs`` (each followed by LeakyReLU(0.1)) then ``conv_post``, as every HiFi-GAN sub-discriminator."""

    convs: nn.ModuleList
    conv_post: nn.Module

    def run_layers(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """-> (the flattened logits, the output of every layer)."""
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            features.append(x)
        x = self.conv_post(x)
        features.append(x)
        return x.flatten(1), features


class _PeriodDiscriminator(_SubDiscriminator):
    """HiFi-GAN's sub-discriminator of one period: the waveform folded into ``(samples / period, period)`` and seen
    by 2-D convolutions with (k, 1) kernels, so each column holds samples one period apart."""

    def __init__(self, period: int, channels: list[int], kernel_size: int = 5, stride: int = 3):
        super().__init__()
        self.period = period
        widths = [1, *channels]
        strides = [stride] * (len(channels) - 1) + [1]
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(c_in, c_out, (kernel_size, 1), (s, 1), padding=((kernel_size - 1) // 2, 0)))
            for c_in, c_out, s in zip(widths[:-1], widths[1:], strides)
        )
        self.conv_post = weight_norm(nn.Conv2d(channels[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        batch, channels, samples = x.shape
        if samples % self.period:
            x = F.pad(x, (0, self.period - samples % self.period), mode="reflect")
        return self.run_layers(x.view(batch, channels, -1, self.period))


class _ScaleDiscriminator(_SubDiscriminator):
    """HiFi-GAN's sub-discriminator of one scale: strided, grouped 1-D convolutions over the waveform."""

    # (kernel, stride, groups) of HiFi-GAN's seven convolutions; groups are capped to divide the chosen widths.
    LAYOUT = ((15, 1, 1), (41, 2, 4), (41, 2, 16), (41, 4, 16), (41, 4, 16), (41, 1, 16), (5, 1, 1))

    def __init__(self, channels: list[int], use_spectral_norm: bool = False):
        super().__init__()
        norm = spectral_norm if use_spectral_norm else weight_norm
        widths = [1, *channels]
        self.convs = nn.ModuleList(
            norm(nn.Conv1d(c_in, c_out, k, s, groups=math.gcd(g, c_in, c_out), padding=(k - 1) // 2))
            for (k, s, g), c_in, c_out in zip(self.LAYOUT, widths[:-1], widths[1:])
        )
        self.conv_post = norm(nn.Conv1d(channels[-1], 1, 3, 1, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.run_layers(x)


class HifiGanDiscriminator(ModelMixin, ConfigMixin):
    """HiFi-GAN's multi-period (MPD) + multi-scale (MSD) discriminators in one model.

    Args:
        periods (`tuple[int]`): one period sub-discriminator per entry (HiFi-GAN: 2, 3, 5, 7, 11).
        period_channels (`tuple[int]`): widths of the five convolutions of each period sub-discriminator.
        num_scales (`int`): scale sub-discriminators; scale ``i`` sees the waveform average-pooled ``i`` times by 2
            (the first one uses spectral normalisation, the others weight normalisation, as in HiFi-GAN).
        scale_channels (`tuple[int]`): widths of the seven convolutions of each scale sub-discriminator.

    Example:

    ```python
    >>> import torch
    >>> from hf_audiogen.genau.discriminator import HifiGanDiscriminator
    >>> disc = HifiGanDiscriminator(period_channels=(4, 4, 8, 8, 8), scale_channels=(4, 4, 8, 8, 16, 16, 16))
    >>> logits, features = disc(torch.randn(2, 1, 3200))
    >>> len(logits), len(features[0]), len(features[-1])  # 5 periods + 3 scales; 6 and 8 feature maps
    (8, 6, 8)

    ```
    """

    @register_to_config
    def __init__(
        self,
        periods: tuple[int, ...] = (2, 3, 5, 7, 11),
        period_channels: tuple[int, ...] = HIFIGAN_PERIOD_CHANNELS,
        num_scales: int = 3,
        scale_channels: tuple[int, ...] = HIFIGAN_SCALE_CHANNELS,
    ):
        super().__init__()
        if any(p < 1 for p in periods) or num_scales < 0 or not (periods or num_scales):
            raise InvalidInputError(
                f"need periods >= 1 and num_scales >= 0, with at least one sub-discriminator; got "
                f"periods={tuple(periods)}, num_scales={num_scales}"
            )
        if len(period_channels) != 5 or len(scale_channels) != 7 or min(*period_channels, *scale_channels) < 1:
            raise InvalidInputError(
                f"period_channels needs 5 and scale_channels 7 positive widths, got "
                f"{tuple(period_channels)} and {tuple(scale_channels)}"
            )
        self.period_discriminators = nn.ModuleList(_PeriodDiscriminator(p, list(period_channels)) for p in periods)
        self.scale_discriminators = nn.ModuleList(
            _ScaleDiscriminator(list(scale_channels), use_spectral_norm=i == 0) for i in range(num_scales)
        )
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    @property
    def min_input_length(self) -> int:
        """Shortest waveform every sub-discriminator accepts (reflect padding to a whole period needs > period)."""
        return max(self.config.periods, default=0) + 1

    def forward(self, waveform: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """``(batch, 1, samples)`` -> (logits of every sub-discriminator, their feature maps)."""
        if waveform.ndim != 3 or waveform.shape[1] != 1 or waveform.shape[-1] < self.min_input_length:
            raise InvalidInputError(
                f"expected waveforms of shape (batch, 1, samples >= {self.min_input_length}), got "
                f"{tuple(waveform.shape)}"
            )
        logits, features = [], []
        for discriminator in self.period_discriminators:
            out, maps = discriminator(waveform)
            logits.append(out)
            features.append(maps)
        x = waveform
        for i, discriminator in enumerate(self.scale_discriminators):
            x = self.pool(x) if i > 0 else x
            out, maps = discriminator(x)
            logits.append(out)
            features.append(maps)
        return logits, features


__all__ = ["HIFIGAN_PERIOD_CHANNELS", "HIFIGAN_SCALE_CHANNELS", "HifiGanDiscriminator"]
