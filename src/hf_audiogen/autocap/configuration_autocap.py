"""Configuration of AutoCap (Haji-Ali et al. 2024, §3.1): audio captioning with an HTSAT audio encoder, a Q-Former, a
CLAP global token, metadata (title, video caption, ...) and BART.

Defaults describe the reference model (snap-research/GenAU ``AutoCap``): HTSAT (Swin-T, 768 channels) frame features
at 32 kHz, a 2-layer width-256 Q-Former with 256 queries, a HTSAT-base CLAP audio embedding, and bart-base.
``AutoCapConfig.small()`` is a CPU-sized model with the same front-end; the test sizes live in ``tests/factories.py``.
"""

from typing import ClassVar

from transformers import AutoConfig, Blip2QFormerConfig, ClapAudioConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from ..validation import InvalidInputError

# Metadata fields the reference knows, in the order it writes them, with the tag pair that wraps each one. Tag tokens
# get ids after BART's vocabulary in this (open, close) order — the reference's 12 special tokens.
METADATA_TAGS: dict[str, tuple[str, str]] = {
    "video_caption": ("<HQVC>", "</HQVC>"),  # Panda-70M video caption ("high-quality video caption")
    "videollama_caption": ("<AVC>", "</AVC>"),  # Video-LLaMA caption ("automatic video caption")
    "title": ("<TITLE>", "</TITLE>"),
    "description": ("<DESC>", "</DESC>"),
    "subtitle": ("<SUB>", "</SUB>"),
    "labels": ("<LBL>", "</LBL>"),
}
TAG_TOKENS: list[str] = [tag for pair in METADATA_TAGS.values() for tag in pair]
CLAP_TOKEN_POSITIONS = ("encoder_input", "encoder_output")

# Architectures of the pretrained parts, spelled out because nothing can be downloaded here.
# HTSAT as in the reference (WavCaps/ACT `HTSAT_Swin_Transformer`): transformers' CLAP audio tower is the same Swin.
HTSAT_KWARGS = dict(
    spec_size=256,
    num_mel_bins=64,
    patch_size=4,
    patch_stride=[4, 4],
    window_size=8,
    depths=[2, 2, 6, 2],
    num_attention_heads=[4, 8, 16, 32],
    patch_embeds_hidden_size=96,
    hidden_size=768,
    enable_fusion=False,
)
# LAION-CLAP HTSAT-base (`music_speech_audioset_epoch_15_esc_89.98.pt`, 48 kHz), whose 512-d audio embedding is the
# global token.
CLAP_HTSAT_BASE_KWARGS = dict(
    spec_size=256,
    num_mel_bins=64,
    patch_size=4,
    patch_stride=[4, 4],
    window_size=8,
    depths=[2, 2, 12, 2],
    num_attention_heads=[4, 8, 16, 32],
    patch_embeds_hidden_size=128,
    hidden_size=1024,
    projection_dim=512,
    enable_fusion=False,
)
# The reference Q-Former: LAVIS BLIP-2 BERT with hidden 256, 8 heads, 2 layers, cross-attention in every layer.
QFORMER_KWARGS = dict(
    hidden_size=256,
    num_attention_heads=8,
    num_hidden_layers=2,
    intermediate_size=3072,
    cross_attention_frequency=1,
    layer_norm_eps=1e-12,
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    encoder_hidden_size=768,
)
# facebook/bart-base.
BART_BASE_KWARGS = dict(
    vocab_size=50265,
    d_model=768,
    encoder_layers=6,
    decoder_layers=6,
    encoder_attention_heads=12,
    decoder_attention_heads=12,
    encoder_ffn_dim=3072,
    decoder_ffn_dim=3072,
    max_position_embeddings=1024,
    dropout=0.1,
    attention_dropout=0.1,
    activation_dropout=0.1,
    activation_function="gelu",
    scale_embedding=False,
    pad_token_id=1,
    bos_token_id=0,
    eos_token_id=2,
    decoder_start_token_id=2,
    forced_eos_token_id=2,
)


class AutoCapConfig(PreTrainedConfig):
    r"""
    Configuration of [`AutoCapForConditionalGeneration`].

    The BART encoder reads ``[CLAP token] <s> [audio tokens] [metadata] </s>``; the BART decoder writes the caption.
    Audio tokens: HTSAT frame features -> linear -> + learned positions -> LayerNorm -> Q-Former (``num_query_tokens``
    queries) -> linear to BART's width. Metadata: tagged segments (``<TITLE> … </TITLE>``) embedded with BART's word
    table, the tags with a small table of their own.

    Two places where the reference code contradicts itself, and what this port does:

    * **Where the CLAP token goes.** The reference's ``generate()`` puts it *before* the BART encoder (the paper's
      eq. 3, and what produced its reported scores), but its training ``forward`` prepends it to the encoder
      *outputs*. ``clap_token_position`` chooses, and the same choice is used for training and generation (no
      train/test mismatch). Default ``"encoder_input"``: the paper's design and the reference's inference path, so a
      converted checkpoint generates as the released model did; ``"encoder_output"`` matches how the released
      weights were trained.
    * **Word embeddings in stage 2.** The paper (§3.1 and its ablation "Unfreeze Word Embed": CIDEr 82.6 vs 83.2)
      keeps BART's word embeddings frozen when the rest of BART is fine-tuned; the reference's ``finetuning.yaml``
      unfreezes them. Default ``train_word_embeddings=False`` follows the paper (the better setting in its ablation).
      BART ties the word table to its output projection, so that stays frozen too.

    Args:
        audio_config (`dict` or `ClapAudioConfig`, *optional*): the HTSAT frame encoder (transformers' CLAP audio
            tower). Default: HTSAT as in the reference (Swin-T, 768 channels, 64 mel bins at 32 kHz).
        clap_config (`dict` or `ClapAudioConfig`, *optional*): the CLAP audio model whose normalised embedding (of
            ``projection_dim``) becomes the global token. Default: LAION-CLAP HTSAT-base (48 kHz, 512-d).
        qformer_config (`dict` or `Blip2QFormerConfig`, *optional*): the Q-Former. Its ``encoder_hidden_size`` is set to
            BART's width. Default: the reference's (hidden 256, 8 heads, 2 layers).
        text_config (`dict` or `BartConfig`, *optional*): BART. Default: bart-base.
        use_clap (`bool`): add the CLAP token (the paper's ablation "w/o CLAP" is ``False``).
        use_qformer (`bool`): ``False`` is the reference's ``use_audio_qformer: false`` ablation: no Q-Former, queries,
            audio positions or audio LayerNorm; the frame features (after ``audio_frame_repeat``) go to BART through
            the linear projection and dropout alone, and BART's own positions order them. BART then reads every
            frame — ``num_audio_tokens`` = HTSAT time steps x ``audio_frame_repeat`` (32 x 32 = 1024 by default, 4x
            the Q-Former's 256 queries: the sequence compression the paper credits for AutoCap's speed), so
            ``text_config.max_position_embeddings`` must hold them plus the metadata (the reference enlarges
            bart-base's position table for this variant). ``num_query_tokens``, ``qformer_config`` and
            ``max_audio_positions`` are unused then.
        clap_token_position (`str`): ``"encoder_input"`` or ``"encoder_output"`` (see above).
        num_query_tokens (`int`): Q-Former queries = audio tokens given to BART (256) when ``use_qformer``.
        audio_frame_repeat (`int`): each HTSAT time step is repeated this many times before the Q-Former (the
            reference's "fine-grained embedding": 32 steps x 32 = 1024 frames).
        max_audio_positions (`int`): rows of the learned audio position table (the reference clones BART's 1026-row
            position table into it).
        audio_dropout (`float`): dropout on the projected frame features (0.2).
        metadata_dropout (`float`): dropout on the metadata embeddings (0.2).
        label_smoothing (`float`): label smoothing of the training loss (0.1).
        freeze_audio_encoder (`bool`), freeze_clap (`bool`): keep the pretrained audio encoders frozen (no gradients,
            always in eval mode).
        train_word_embeddings (`bool`): whether [`~AutoCapForConditionalGeneration.set_training_stage`] ``(2)`` trains
            BART's word embeddings (see above).
        initializer_range (`float`): std of the normal init of the new layers.

    Example:

    ```python
    >>> from hf_audiogen.autocap import AutoCapConfig
    >>> config = AutoCapConfig()
    >>> config.num_query_tokens, config.text_config.d_model, config.clap_token_position
    (256, 768, 'encoder_input')
    >>> AutoCapConfig.small().text_config.d_model
    128
    ```
    """

    model_type = "hf_audiogen_autocap"
    sub_configs_defaults: ClassVar = {
        "audio_config": SubConfigSpec(config_class=ClapAudioConfig, init_kwargs=HTSAT_KWARGS),
        "clap_config": SubConfigSpec(config_class=ClapAudioConfig, init_kwargs=CLAP_HTSAT_BASE_KWARGS),
        "qformer_config": SubConfigSpec(config_class=Blip2QFormerConfig, init_kwargs=QFORMER_KWARGS),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="bart", init_kwargs=BART_BASE_KWARGS),
    }

    audio_config: dict | PreTrainedConfig | None = None
    clap_config: dict | PreTrainedConfig | None = None
    qformer_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    use_clap: bool = True
    use_qformer: bool = True
    clap_token_position: str = "encoder_input"
    num_query_tokens: int = 256
    audio_frame_repeat: int = 32
    max_audio_positions: int = 1026
    audio_dropout: float = 0.2
    metadata_dropout: float = 0.2
    label_smoothing: float = 0.1
    freeze_audio_encoder: bool = True
    freeze_clap: bool = True
    train_word_embeddings: bool = False
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.is_encoder_decoder = True
        if self.text_config.model_type != "bart":
            raise InvalidInputError(
                f"text_config must be a BART config, got model_type={self.text_config.model_type!r}"
            )
        # The Q-Former cross-attends to frame features projected to BART's width.
        self.qformer_config.encoder_hidden_size = self.text_config.d_model
        if not isinstance(self.use_qformer, bool):  # a string "false" from a YAML/CLI would silently mean True
            raise InvalidInputError(f"AutoCapConfig.use_qformer must be True or False, got {self.use_qformer!r}")
        if self.clap_token_position not in CLAP_TOKEN_POSITIONS:
            raise InvalidInputError(
                f"clap_token_position must be one of {CLAP_TOKEN_POSITIONS}, got {self.clap_token_position!r}"
            )
        for name in ("num_query_tokens", "audio_frame_repeat", "max_audio_positions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"AutoCapConfig.{name} must be a positive integer, got {value!r}")
        for name in ("audio_dropout", "metadata_dropout", "label_smoothing"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise InvalidInputError(f"AutoCapConfig.{name} must be in [0, 1), got {value!r}")
        for name, config in (("audio_config", self.audio_config), ("clap_config", self.clap_config)):
            channels = config.patch_embeds_hidden_size * 2 ** (len(config.depths) - 1)
            if channels != config.hidden_size:
                raise InvalidInputError(
                    f"{name}.hidden_size ({config.hidden_size}) must equal patch_embeds_hidden_size * "
                    f"2**(len(depths) - 1) = {channels} (the width of the last Swin stage)"
                )
        longest = 2 + self.num_audio_tokens + 2  # [CLAP] <s> audio tokens, then at least one tag and </s>
        positions = self.text_config.max_position_embeddings
        if longest > positions and self.use_qformer:
            raise InvalidInputError(
                f"num_query_tokens={self.num_query_tokens} leaves no room for metadata in BART's "
                f"max_position_embeddings={positions}"
            )
        if longest > positions:
            raise InvalidInputError(
                f"use_qformer=False feeds BART all {self.num_audio_tokens} audio frames (HTSAT time steps x "
                f"audio_frame_repeat={self.audio_frame_repeat}), which leaves no room for metadata in its "
                f"max_position_embeddings={positions}: raise text_config.max_position_embeddings or lower "
                "audio_frame_repeat"
            )

    @property
    def num_audio_tokens(self) -> int:
        """Audio tokens in BART's input: the Q-Former's queries, or without it every (repeated) HTSAT frame."""
        if self.use_qformer:
            return self.num_query_tokens
        audio = self.audio_config
        stride = audio.patch_stride if isinstance(audio.patch_stride, int) else audio.patch_stride[1]
        # ClapAudioEncoder: the spec_size x spec_size image loses a factor 2 per Swin stage after the first and the
        # patch stride, then its freq_ratio frequency folds are laid back along time.
        time_steps = audio.spec_size // 2 ** (len(audio.depths) - 1) // stride * (audio.spec_size // audio.num_mel_bins)
        return time_steps * self.audio_frame_repeat

    @property
    def num_tag_tokens(self) -> int:
        """Tag tokens (``<TITLE>``, ``</TITLE>``, ...); their ids follow BART's vocabulary."""
        return len(TAG_TOKENS)

    @property
    def tag_token_offset(self) -> int:
        """Id of the first tag token (= BART's vocabulary size)."""
        return self.text_config.vocab_size

    def get_text_config(self, decoder=None, encoder=None) -> PreTrainedConfig:
        """BART's config (the generating stack) for generic transformers utilities."""
        return self.text_config

    @classmethod
    def small(cls, **kwargs) -> "AutoCapConfig":
        """The reference's front-end (10 s, HTSAT's 64 mel bins) with narrow towers: 4-stage Swin towers of width 128,
        32 queries and a 2+2-layer BART of width 128, a CPU-sized model for real audio (``train_autocap.py
        --model_preset small``). Pass ``text_config={...}`` (at least ``vocab_size`` for a new tokenizer) etc. to
        override fields of the sub-configs."""
        swin = dict(depths=[1, 1, 1, 1], num_attention_heads=[1, 2, 4, 8], patch_embeds_hidden_size=16, hidden_size=128)
        bart = dict(
            d_model=128,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=512,
            decoder_ffn_dim=512,
            max_position_embeddings=256,
            dropout=0.1,
            attention_dropout=0.1,
            activation_dropout=0.1,
        )
        preset = dict(
            audio_config=swin,
            clap_config={**swin, "projection_dim": 64},
            qformer_config=dict(
                hidden_size=64,
                num_attention_heads=4,
                num_hidden_layers=2,
                intermediate_size=256,
                cross_attention_frequency=1,
            ),
            text_config={**bart, **kwargs.pop("text_config", {})},
            num_query_tokens=32,
            audio_frame_repeat=1,
            max_audio_positions=64,
        )
        return cls(**{**preset, **kwargs})


__all__ = ["AutoCapConfig", "CLAP_TOKEN_POSITIONS", "METADATA_TAGS", "TAG_TOKENS"]
