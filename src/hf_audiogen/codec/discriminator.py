"""Multi-scale STFT discriminator (MS-STFT-D) used to train the codec adversarially (AudioGen paper §3.1).

Five identically structured 2D-convolutional networks each look at the complex STFT of the waveform at one
resolution (real and imaginary parts stacked as channels). Each returns a map of logits and the activations of its
hidden layers; the logits feed the hinge losses and the activations the feature-matching loss
(see :mod:`hf_audiogen.codec.losses`).

It is a transformers ``PreTrainedModel`` (rather than a diffusers ``ModelMixin``) because the codec it trains is one:
both then share ``save_pretrained``/``from_pretrained``, the safetensors format, and ``AutoModel`` registration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from ..validation import InvalidInputError


class MultiScaleSTFTDiscriminatorConfig(PreTrainedConfig):
    r"""Configuration of :class:`MultiScaleSTFTDiscriminator`.

    Args:
        n_ffts: FFT (= window) length of each scale. One sub-discriminator per entry.
        hop_lengths: hop of each scale; ``None`` uses ``n_fft // 4`` for every scale.
        filters: channels of every hidden 2D convolution.
        kernel_size: (time, frequency) kernel of the hidden convolutions.
        dilations: time dilations of the strided convolutions (one convolution per entry, stride 2 in frequency).
        negative_slope: slope of the LeakyReLU activations.
        audio_channels: channels of the input waveform (1 = mono).

    Example:

    ```python
    >>> from hf_audiogen.codec.discriminator import MultiScaleSTFTDiscriminatorConfig
    >>> MultiScaleSTFTDiscriminatorConfig(filters=8).hop_lengths
    [256, 512, 128, 64, 32]
    ```
    """

    model_type = "msstft_discriminator"

    # audiocraft's order (the paper lists the same windows sorted): the order only decides which scale is "scale 0".
    n_ffts: list[int] | tuple[int, ...] = (1024, 2048, 512, 256, 128)
    hop_lengths: list[int] | tuple[int, ...] | None = None
    filters: int = 32
    kernel_size: list[int] | tuple[int, int] = (3, 9)
    dilations: list[int] | tuple[int, ...] = (1, 2, 4)
    negative_slope: float = 0.2
    audio_channels: int = 1

    def __post_init__(self, **kwargs):
        self.n_ffts = [int(n) for n in self.n_ffts]
        if not self.n_ffts or any(n < 8 for n in self.n_ffts):
            raise InvalidInputError(f"n_ffts must be a non-empty list of FFT sizes >= 8, got {self.n_ffts}")
        if self.hop_lengths is None:
            self.hop_lengths = [n // 4 for n in self.n_ffts]
        self.hop_lengths = [int(h) for h in self.hop_lengths]
        if len(self.hop_lengths) != len(self.n_ffts) or any(h < 1 for h in self.hop_lengths):
            raise InvalidInputError(
                f"hop_lengths must hold one positive hop per n_fft ({len(self.n_ffts)}), got {self.hop_lengths}"
            )
        self.kernel_size = [int(k) for k in self.kernel_size]
        if len(self.kernel_size) != 2 or any(k < 1 for k in self.kernel_size):
            raise InvalidInputError(f"kernel_size must be two positive ints (time, frequency), got {self.kernel_size}")
        self.dilations = [int(d) for d in self.dilations]
        if any(d < 1 for d in self.dilations):
            raise InvalidInputError(f"dilations must be positive ints, got {self.dilations}")
        if self.filters < 1:
            raise InvalidInputError(f"filters must be >= 1, got {self.filters}")
        if self.audio_channels < 1:
            raise InvalidInputError(f"audio_channels must be >= 1, got {self.audio_channels}")
        super().__post_init__(**kwargs)

    @property
    def min_input_length(self) -> int:
        """Shortest waveform every scale can analyse (the STFT is not centred, so one full window is needed)."""
        return max(self.n_ffts)


@dataclass
class DiscriminatorOutput(ModelOutput):
    """Output of :class:`MultiScaleSTFTDiscriminator`.

    Args:
        logits: one tensor ``(batch, 1, frames, freq_bins')`` per scale.
        feature_maps: per scale, the activations of every hidden convolution (for the feature-matching loss).
    """

    logits: list[torch.Tensor] | None = None
    feature_maps: list[list[torch.Tensor]] | None = None


def _same_padding(kernel_size: tuple[int, int], dilation: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    return ((kernel_size[0] - 1) * dilation[0] // 2, (kernel_size[1] - 1) * dilation[1] // 2)


def _weight_normed_conv(in_channels, out_channels, kernel_size, stride=(1, 1), dilation=(1, 1)) -> nn.Conv2d:
    conv = nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        dilation=dilation,
        padding=_same_padding(kernel_size, dilation),
    )
    return nn.utils.parametrizations.weight_norm(conv)


class STFTDiscriminator(nn.Module):
    """One scale: complex STFT -> 2D convolutions over (time, frequency) -> logits map."""

    def __init__(self, config: MultiScaleSTFTDiscriminatorConfig, n_fft: int, hop_length: int):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        # persistent=False: the window is a constant, not a learned weight, so it stays out of checkpoints.
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        kernel = tuple(config.kernel_size)
        channels = config.filters
        self.convs = nn.ModuleList([_weight_normed_conv(2 * config.audio_channels, channels, kernel)])
        for dilation in config.dilations:
            self.convs.append(_weight_normed_conv(channels, channels, kernel, stride=(1, 2), dilation=(dilation, 1)))
        self.convs.append(_weight_normed_conv(channels, channels, (kernel[0], kernel[0])))
        self.conv_post = _weight_normed_conv(channels, 1, (kernel[0], kernel[0]))
        self.activation = nn.LeakyReLU(config.negative_slope)

    def spectrogram(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, channels, samples)`` -> ``(batch, 2 * channels, frames, n_fft // 2 + 1)`` (real, imag)."""
        batch, channels, samples = waveform.shape
        # STFT in float32 even under autocast: half-precision FFTs are unsupported on CPU and lossy elsewhere.
        spec = torch.stft(
            waveform.reshape(batch * channels, samples).float(),
            self.n_fft,
            hop_length=self.hop_length,
            win_length=self.n_fft,
            window=self.window.float(),
            center=False,
            normalized=True,
            return_complex=True,
        )
        spec = spec.reshape(batch, channels, *spec.shape[-2:]).transpose(-1, -2)  # time first, like an image row
        return torch.cat([spec.real, spec.imag], dim=1)

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        hidden = self.spectrogram(waveform)
        feature_maps = []
        for conv in self.convs:
            hidden = self.activation(conv(hidden))
            feature_maps.append(hidden)
        return self.conv_post(hidden), feature_maps


class MultiScaleSTFTDiscriminator(PreTrainedModel):
    """Multi-scale STFT discriminator: one :class:`STFTDiscriminator` per FFT size.

    Example:

    ```python
    >>> import torch
    >>> from hf_audiogen.codec.discriminator import MultiScaleSTFTDiscriminator, MultiScaleSTFTDiscriminatorConfig
    >>> disc = MultiScaleSTFTDiscriminator(MultiScaleSTFTDiscriminatorConfig(filters=8))
    >>> out = disc(torch.randn(2, 1, 16000))
    >>> len(out.logits), len(out.feature_maps[0])
    (5, 5)
    ```
    """

    config_class = MultiScaleSTFTDiscriminatorConfig
    config: MultiScaleSTFTDiscriminatorConfig
    main_input_name = "input_values"
    base_model_prefix = "discriminator"

    def __init__(self, config: MultiScaleSTFTDiscriminatorConfig):
        super().__init__(config)
        self.discriminators = nn.ModuleList(
            [STFTDiscriminator(config, n, h) for n, h in zip(config.n_ffts, config.hop_lengths)]
        )
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        # The generic initialiser would write into `conv.weight`, which weight norm recomputes from (g, v) on every
        # access; initialise (g, v) themselves instead, with PyTorch's default conv init so that g = ||v||.
        if isinstance(module, nn.Conv2d) and hasattr(module, "parametrizations"):
            direction = module.parametrizations.weight.original1
            init.kaiming_uniform_(direction, a=math.sqrt(5))
            init.copy_(
                module.parametrizations.weight.original0,
                torch.linalg.vector_norm(direction, dim=(1, 2, 3), keepdim=True),
            )
            if module.bias is not None:
                bound = 1.0 / math.sqrt(direction[0].numel())
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, STFTDiscriminator):
            init.copy_(module.window, torch.hann_window(module.n_fft))

    def forward(self, input_values: torch.Tensor) -> DiscriminatorOutput:
        """Score a batch of waveforms ``(batch, audio_channels, samples)``."""
        if input_values.dim() != 3 or input_values.shape[1] != self.config.audio_channels:
            raise InvalidInputError(
                f"input_values must have shape (batch, {self.config.audio_channels}, samples), "
                f"got {tuple(input_values.shape)}"
            )
        if input_values.shape[-1] < self.config.min_input_length:
            raise InvalidInputError(
                f"input_values has {input_values.shape[-1]} samples; the discriminator needs at least "
                f"{self.config.min_input_length} (its largest FFT size)"
            )
        logits, feature_maps = [], []
        for discriminator in self.discriminators:
            scale_logits, scale_features = discriminator(input_values)
            logits.append(scale_logits)
            feature_maps.append(scale_features)
        return DiscriminatorOutput(logits=logits, feature_maps=feature_maps)
