"""GenAU's vocoder: a HiFi-GAN V1 generator, hosted by transformers' ``SpeechT5HifiGan``.

The reference generator (``GenAU/src/modules/hifigan/models.py::Generator``) and ``SpeechT5HifiGan`` are the same
network: ``conv_pre`` (k7) -> per stage LeakyReLU(0.1), ConvTranspose1d(k, stride u, padding (k - u) // 2) and the
mean of three type-1 residual blocks (dilations 1/3/5, LeakyReLU 0.1) -> LeakyReLU(0.01) -> ``conv_post`` (k7) -> tanh.
Checked by loading a reference generator's weights (``ups.{i}`` renamed to ``upsampler.{i}``; ``SpeechT5HifiGan``
adds ``mean``/``scale`` buffers that are unused with ``normalize_before=False``): the outputs are bit-identical.

The released ``hifigan_16k_64bins.json`` is not in the reference repository; the values below are those of the
AudioLDM 16 kHz / 64-bin HiFi-GAN of the same name (upsampling 5·4·2·2·2 = 160 = the mel hop). A converter must check
them against the checkpoint's tensor shapes. Note that ``F`` mel frames give ``160 F + 32`` samples with these
kernels (the transposed convolutions overhang), so callers cut the waveform to the length they want.
"""

from __future__ import annotations

import math

from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

from ..validation import InvalidInputError

# Widths on top of the GenAU values: "genau" is HiFi-GAN V1 (upsample_initial_channel 1024, ~55M params with these
# rates), "small" is HiFi-GAN V2's width (128, ~0.9M params), for CPU training runs (training_scripts/train_vocoder.py).
VOCODER_PRESETS: dict[str, dict] = {"genau": {}, "small": dict(upsample_initial_channel=128)}


def genau_vocoder_config(preset: str = "genau", **overrides) -> SpeechT5HifiGanConfig:
    """HiFi-GAN config for GenAU: 64 mel bins in, 16 kHz out, hop 160; ``preset`` is a ``VOCODER_PRESETS`` name.

    Example:

    ```python
    >>> from transformers import SpeechT5HifiGan
    >>> from hf_audiogen.genau import genau_vocoder_config, vocoder_hop_length
    >>> config = genau_vocoder_config(upsample_initial_channel=32)  # a tiny one for tests
    >>> vocoder = SpeechT5HifiGan(config)
    >>> vocoder_hop_length(vocoder)
    160
    ```
    """
    values = dict(
        model_in_dim=64,
        sampling_rate=16000,
        upsample_initial_channel=1024,
        upsample_rates=[5, 4, 2, 2, 2],
        upsample_kernel_sizes=[16, 16, 8, 4, 4],
        resblock_kernel_sizes=[3, 7, 11],
        resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        leaky_relu_slope=0.1,
        normalize_before=False,  # GenAU feeds the VAE's log-mels as they are (no mean/std normalisation)
    )
    if preset not in VOCODER_PRESETS:
        raise InvalidInputError(f"unknown vocoder preset {preset!r}; choose one of {sorted(VOCODER_PRESETS)}")
    values.update(VOCODER_PRESETS[preset])
    values.update(overrides)
    if values["upsample_initial_channel"] < 2 ** len(values["upsample_rates"]):
        raise InvalidInputError(
            f"upsample_initial_channel ({values['upsample_initial_channel']}) must be at least "
            f"2 ** len(upsample_rates) = {2 ** len(values['upsample_rates'])} (it is halved at every stage)"
        )
    return SpeechT5HifiGanConfig(**values)


def vocoder_hop_length(vocoder: SpeechT5HifiGan) -> int:
    """Waveform samples per mel frame (product of the upsampling rates)."""
    return math.prod(vocoder.config.upsample_rates)


__all__ = ["VOCODER_PRESETS", "genau_vocoder_config", "vocoder_hop_length"]
