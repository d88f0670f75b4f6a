"""Configuration of the EnCodec-style neural audio codec (SEANet encoder/decoder + residual vector quantizer).

Field names follow transformers' ``EncodecConfig`` wherever the two overlap, so the SEANet building blocks of
``transformers.models.encodec`` can be built straight from a ``CodecConfig`` and an ``EncodecModel`` state dict loads
into ``CodecModel``. The extra fields describe what EnCodec in transformers does not have: a fixed number of
quantizers and the knobs of the trainable residual vector quantizer (EMA codebooks, k-means init, dead codes).
"""

import math

from transformers import PreTrainedConfig

from ..validation import InvalidInputError

_NORM_TYPES = ("weight_norm", "time_group_norm")
_PAD_MODES = ("constant", "reflect", "replicate", "circular")


class CodecConfig(PreTrainedConfig):
    r"""
    Configuration of [`CodecModel`]. The defaults are the 16 kHz EnCodec that audiocraft's AudioGen release uses
    (see [`CodecConfig.audiocraft_audiogen_16khz`]); the class methods give the other presets.

    Args:
        sampling_rate (`int`): audio sampling rate in Hz.
        audio_channels (`int`): number of audio channels (1 = mono).
        num_filters (`int`): channels of the first convolution; doubled at every down-sampling.
        hidden_size (`int`): channels of the latent the quantizer sees (one latent vector per frame).
        upsampling_ratios (`list[int]`): decoder up-sampling strides; the encoder uses them reversed. Their product is
            the hop length (samples per frame). Each strided convolution has kernel size ``2 * ratio``.
        num_residual_layers (`int`): residual units per resolution.
        kernel_size (`int`), last_kernel_size (`int`), residual_kernel_size (`int`): convolution kernel sizes.
        dilation_growth_rate (`int`): dilation of residual unit ``j`` is ``dilation_growth_rate ** j``.
        compress (`int`): channel reduction inside the residual branch.
        num_lstm_layers (`int`): LSTM layers (with a skip connection) after the encoder / before the decoder.
        use_causal_conv (`bool`): causal (streaming) padding instead of symmetric padding.
        pad_mode (`str`): padding mode of the convolutions (audiocraft's AudioGen codec uses ``"constant"``).
        norm_type (`str`): ``"weight_norm"`` or ``"time_group_norm"``. The latter is EnCodec's layer normalisation
            (``GroupNorm`` with one group: statistics over channels and time), the norm of the AudioGen paper's codec.
        trim_right_ratio (`float`): how the causal transposed convolutions split their trimming (1.0 = all right).
        use_conv_shortcut (`bool`): 1x1 convolution on the residual skip path (``False`` = identity, "true skip").
        codebook_size (`int`): entries per codebook.
        codebook_dim (`int`, *optional*): dimension of a codebook vector; must equal ``hidden_size`` (no projection).
        num_quantizers (`int`): residual codebooks (streams) K.
        ema_decay (`float`): decay of the exponential moving averages that update the codebooks in training.
        kmeans_init (`bool`): initialise each codebook with k-means on the first training batch it sees.
        kmeans_iters (`int`): k-means iterations for that initialisation.
        threshold_ema_dead_code (`float`): codes whose EMA usage falls below this are replaced by batch vectors.
        laplace_smoothing_epsilon (`float`): additive smoothing of the EMA cluster sizes.
        commitment_weight (`float`): weight of the commitment loss ``||z - sg(q)||^2``.
        quantizer_dropout (`bool`): in training, use a random number of quantizers 1..K per batch.

    Example:

    ```python
    >>> from hf_audiogen.codec import CodecConfig
    >>> config = CodecConfig.audiocraft_audiogen_16khz()
    >>> config.hop_length, config.frame_rate, config.num_quantizers, config.codebook_size
    (320, 50, 4, 2048)
    ```
    """

    model_type = "hf_audiogen_codec"

    sampling_rate: int = 16_000
    audio_channels: int = 1
    num_filters: int = 64
    hidden_size: int = 128
    upsampling_ratios: list[int] | tuple[int, ...] = (8, 5, 4, 2)
    num_residual_layers: int = 1
    kernel_size: int = 7
    last_kernel_size: int = 7
    residual_kernel_size: int = 3
    dilation_growth_rate: int = 2
    compress: int = 2
    num_lstm_layers: int = 2
    use_causal_conv: bool = False
    pad_mode: str = "constant"
    norm_type: str = "weight_norm"
    trim_right_ratio: float = 1.0
    use_conv_shortcut: bool = False
    codebook_size: int = 2048
    codebook_dim: int | None = None
    num_quantizers: int = 4
    ema_decay: float = 0.99
    kmeans_init: bool = True
    kmeans_iters: int = 50
    threshold_ema_dead_code: float = 2.0
    laplace_smoothing_epsilon: float = 1e-5
    commitment_weight: float = 1.0
    quantizer_dropout: bool = False

    def __post_init__(self, **kwargs):
        # JSON turns tuples into lists; keep one type so configs compare equal after a save/load round trip.
        self.upsampling_ratios = [int(r) for r in self.upsampling_ratios]
        self.codebook_dim = self.hidden_size if self.codebook_dim is None else self.codebook_dim
        self._check_values()
        super().__post_init__(**kwargs)

    def _check_values(self) -> None:
        positive_ints = (
            "sampling_rate",
            "audio_channels",
            "num_filters",
            "hidden_size",
            "num_residual_layers",
            "kernel_size",
            "last_kernel_size",
            "residual_kernel_size",
            "dilation_growth_rate",
            "compress",
            "num_lstm_layers",
            "codebook_size",
            "num_quantizers",
            "kmeans_iters",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"CodecConfig.{name} must be a positive integer, got {value!r}")
        if not self.upsampling_ratios or any(r < 1 for r in self.upsampling_ratios):
            raise InvalidInputError(
                f"CodecConfig.upsampling_ratios must be a non-empty list of positive ints, got "
                f"{self.upsampling_ratios!r}"
            )
        if self.sampling_rate % self.hop_length != 0:
            raise InvalidInputError(
                f"CodecConfig.sampling_rate ({self.sampling_rate}) must be a multiple of the hop length "
                f"prod(upsampling_ratios) = {self.hop_length} so that frame_rate is a whole number of frames per second"
            )
        if self.norm_type not in _NORM_TYPES:
            raise InvalidInputError(f"CodecConfig.norm_type must be one of {_NORM_TYPES}, got {self.norm_type!r}")
        if self.pad_mode not in _PAD_MODES:
            raise InvalidInputError(f"CodecConfig.pad_mode must be one of {_PAD_MODES}, got {self.pad_mode!r}")
        if self.codebook_dim != self.hidden_size:
            raise InvalidInputError(
                f"CodecConfig.codebook_dim ({self.codebook_dim}) must equal hidden_size ({self.hidden_size}): the "
                "quantizer has no input/output projection"
            )
        if not 0.0 < self.ema_decay < 1.0:
            raise InvalidInputError(f"CodecConfig.ema_decay must be in (0, 1), got {self.ema_decay!r}")
        if self.threshold_ema_dead_code < 0:
            raise InvalidInputError(
                f"CodecConfig.threshold_ema_dead_code must be >= 0, got {self.threshold_ema_dead_code!r}"
            )
        if self.commitment_weight < 0:
            raise InvalidInputError(f"CodecConfig.commitment_weight must be >= 0, got {self.commitment_weight!r}")
        if not self.use_causal_conv and self.trim_right_ratio != 1.0:
            raise InvalidInputError(
                "CodecConfig.trim_right_ratio != 1.0 only makes sense with use_causal_conv=True, got "
                f"{self.trim_right_ratio!r}"
            )

    @property
    def hop_length(self) -> int:
        """Audio samples per codec frame (product of the strides)."""
        return math.prod(self.upsampling_ratios)

    @property
    def frame_rate(self) -> int:
        """Codec frames per second."""
        return self.sampling_rate // self.hop_length

    @property
    def bits_per_second(self) -> float:
        """Bitrate of the codes: frames/s x codebooks x bits per code."""
        return self.frame_rate * self.num_quantizers * math.log2(self.codebook_size)

    # ----------------------------------------------------------------------------------------------------------------
    # Presets (the sizes ``train_codec.py --config NAME`` builds are these classmethods, see CODEC_PRESETS)
    # ----------------------------------------------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, name: str, **kwargs) -> "CodecConfig":
        """The config of the preset ``name`` (one of ``CODEC_PRESETS``), with ``kwargs`` overriding its fields."""
        if name not in CODEC_PRESETS:
            raise InvalidInputError(f"unknown codec preset {name!r}; choose one of {list(CODEC_PRESETS)}")
        return getattr(cls, name)(**kwargs)

    @classmethod
    def audiocraft_audiogen_16khz(cls, **kwargs) -> "CodecConfig":
        """The codec of audiocraft's released AudioGen (``encodec_large_nq4_s320``): 4 x 2048 codes at 50 Hz."""
        preset = dict(
            sampling_rate=16_000,
            audio_channels=1,
            num_filters=64,
            hidden_size=128,
            upsampling_ratios=[8, 5, 4, 2],
            num_residual_layers=1,
            kernel_size=7,
            last_kernel_size=7,
            residual_kernel_size=3,
            dilation_growth_rate=2,
            compress=2,
            num_lstm_layers=2,
            use_causal_conv=False,
            pad_mode="constant",
            norm_type="weight_norm",
            use_conv_shortcut=False,
            codebook_size=2048,
            num_quantizers=4,
            ema_decay=0.99,
            kmeans_init=True,
            kmeans_iters=50,
            threshold_ema_dead_code=2.0,
            quantizer_dropout=False,
        )
        return cls(**{**preset, **kwargs})

    @classmethod
    def paper_single_stream(cls, **kwargs) -> "CodecConfig":
        """The AudioGen paper's codec (Kreuk et al. 2023, §3.1): C=32, encoder strides (2,2,2,4) => hop 32 (500 Hz),
        one codebook of 2048 codes of dimension 128, two-layer LSTM, ELU, layer norm.

        The paper does not give padding or skip type; we use EnCodec's defaults for a non-streaming model
        (reflect padding, 1x1-conv shortcut).
        """
        preset = dict(
            sampling_rate=16_000,
            num_filters=32,
            hidden_size=128,
            upsampling_ratios=[4, 2, 2, 2],
            num_lstm_layers=2,
            use_causal_conv=False,
            pad_mode="reflect",
            norm_type="time_group_norm",
            use_conv_shortcut=True,
            codebook_size=2048,
            num_quantizers=1,
        )
        return cls(**{**preset, **kwargs})

    @classmethod
    def paper_multi_stream(cls, num_codebooks: int = 2, **kwargs) -> "CodecConfig":
        """The paper's multi-stream codecs (§3.2, Table 2): k streams of 2048/k codes at a down-sampling factor 32·k
        (x64 with 2 x 1024, x128 with 4 x 512), so every model keeps 2048 codes overall.

        The paper does not list the strides of these models; we keep B=4 blocks and raise the last strides
        (encoder strides (2,2,4,4) for x64 and (2,4,4,4) for x128).
        """
        strides_by_k = {2: [4, 4, 2, 2], 4: [4, 4, 4, 2]}  # decoder order (= encoder strides reversed)
        if num_codebooks not in strides_by_k:
            raise InvalidInputError(
                f"paper_multi_stream(num_codebooks=...) must be 2 or 4 (the paper's x64 / x128 models), "
                f"got {num_codebooks!r}"
            )
        preset = dict(
            upsampling_ratios=strides_by_k[num_codebooks],
            codebook_size=2048 // num_codebooks,
            num_quantizers=num_codebooks,
        )
        return cls.paper_single_stream(**{**preset, **kwargs})

    @classmethod
    def small(cls, **kwargs) -> "CodecConfig":
        """A small codec that trains on a CPU in minutes: 16 kHz, 16 filters, 4 x 1024 codes at 50 Hz, one LSTM
        layer (~2.6 M parameters, ~12 MB with the codebooks). Quantizer dropout is on so it also decodes from fewer
        codebooks."""
        preset = dict(
            sampling_rate=16_000,
            num_filters=16,
            hidden_size=64,
            upsampling_ratios=[8, 5, 4, 2],
            num_lstm_layers=1,
            use_causal_conv=False,
            pad_mode="constant",
            norm_type="weight_norm",
            use_conv_shortcut=False,
            codebook_size=1024,
            num_quantizers=4,
            kmeans_iters=20,
            quantizer_dropout=True,
        )
        return cls(**{**preset, **kwargs})


# The named sizes, each a classmethod above (test sizes live in tests/factories.py).
CODEC_PRESETS = ("small", "audiocraft_audiogen_16khz", "paper_single_stream", "paper_multi_stream")

__all__ = ["CODEC_PRESETS", "CodecConfig"]
