"""AutoCap (Haji-Ali et al. 2024, §3.1): audio (+ metadata) -> caption.

Data flow (shapes for the default config, batch B):

```
input_features (B,1,1001,64) -> HTSAT (ClapAudioModel) -> (B,768,2,32) -> mean over freq -> (B,32,768)
  -> repeat each step 32x -> (B,1024,768) -> Linear -> dropout -> + audio positions -> LayerNorm
  -> Q-Former (256 queries, cross-attention to the frames) -> Linear -> audio tokens (B,256,768)
clap_input_features (B,1,1001,64) -> CLAP audio model -> L2-normalised embedding (B,512) -> Linear -> LayerNorm
  -> CLAP token (B,1,768)
metadata_ids (B,M) -> BART word table (ids < vocab) / tag table (tag ids) -> dropout -> (B,M,768)

BART encoder over [CLAP token] <s> audio tokens metadata (ends with </s>)  -> BART decoder -> caption
```

The reference places the CLAP token before the BART encoder at inference but after it in training;
``config.clap_token_position`` picks one for both (see [`AutoCapConfig`]). ``config.use_qformer=False`` (the
reference's ablation) drops the Q-Former: the projected frames (B,1024,768) are BART's audio tokens.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass

import torch
from torch import nn
from transformers import (
    BartForConditionalGeneration,
    Blip2QFormerModel,
    ClapAudioModel,
    ClapAudioModelWithProjection,
    GenerationConfig,
    GenerationMixin,
    PreTrainedModel,
)
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput, ModelOutput, Seq2SeqLMOutput
from transformers.models.bart.modeling_bart import shift_tokens_right

from ..loading import StrictLoadingMixin
from ..validation import InvalidInputError
from .configuration_autocap import AutoCapConfig


@dataclass
class AutoCapEncoderOutput(ModelOutput):
    """What the BART decoder cross-attends to.

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch, length, d_model)`): BART encoder states (with the CLAP
            token in front when ``clap_token_position="encoder_output"``).
        attention_mask (`torch.LongTensor` of shape `(batch, length)`): 1 for real positions, 0 for metadata padding.
        audio_tokens (`torch.FloatTensor` of shape `(batch, config.num_audio_tokens, d_model)`): the Q-Former's
            projected output (the projected frames when ``config.use_qformer=False``).
        clap_token (`torch.FloatTensor` of shape `(batch, 1, d_model)`, *optional*): the projected CLAP embedding.
    """

    last_hidden_state: torch.FloatTensor | None = None
    attention_mask: torch.LongTensor | None = None
    audio_tokens: torch.FloatTensor | None = None
    clap_token: torch.FloatTensor | None = None


class AutoCapPreTrainedModel(StrictLoadingMixin, PreTrainedModel):
    config: AutoCapConfig
    config_class = AutoCapConfig
    base_model_prefix = "autocap"
    main_input_name = "input_features"
    input_modalities = ("audio", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_attention_backend = True
    _no_split_modules = ["BartEncoderLayer", "BartDecoderLayer", "Blip2QFormerLayer", "ClapAudioLayer"]

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, AutoCapForConditionalGeneration) and module.config.use_qformer:
            # Random (not zero, as transformers' BLIP-2) queries: identical queries would all learn the same thing.
            init.normal_(module.query_tokens, mean=0.0, std=self.config.initializer_range)


class AutoCapForConditionalGeneration(AutoCapPreTrainedModel, GenerationMixin):
    r"""AutoCap: HTSAT frame features compressed by a Q-Former, a CLAP global token and tagged metadata, read by BART.

    ``generate`` runs the audio/metadata encoder once and hands BART's ``generate`` the encoder states, so every BART
    decoding option works (beam search, sampling, ``no_repeat_ngram_size`` ...). Default generation: 2 beams, at most
    30 tokens with the start token (the reference scripts' settings; see :meth:`default_generation_config`).

    Example:

    ```python
    >>> import torch
    >>> from hf_audiogen.autocap import AutoCapConfig, AutoCapForConditionalGeneration
    >>> model = AutoCapForConditionalGeneration(AutoCapConfig.small()).eval()  # random weights
    >>> features = torch.randn(2, 1, 1001, 64)  # (batch, 1, frames, mel bins): 10 s from AutoCapFeatureExtractor()
    >>> ids = model.generate(input_features=features, clap_input_features=features, max_new_tokens=5)
    >>> ids.shape[0]
    2
    ```
    """

    def __init__(self, config: AutoCapConfig):
        super().__init__(config)
        d_model = config.text_config.d_model
        self.audio_encoder = ClapAudioModel(config.audio_config)
        self.audio_projection = nn.Linear(config.audio_config.hidden_size, d_model)
        self.audio_dropout = nn.Dropout(config.audio_dropout)
        if config.use_qformer:
            self.audio_position_embedding = nn.Embedding(config.max_audio_positions, d_model)
            self.audio_layernorm = nn.LayerNorm(d_model)
            self.query_tokens = nn.Parameter(torch.zeros(1, config.num_query_tokens, config.qformer_config.hidden_size))
            self.qformer = Blip2QFormerModel(config.qformer_config)
            self.qformer_projection = nn.Linear(config.qformer_config.hidden_size, d_model)
        if config.use_clap:
            self.clap_model = ClapAudioModelWithProjection(config.clap_config)
            self.clap_projection = nn.Linear(config.clap_config.projection_dim, d_model)
            self.clap_layernorm = nn.LayerNorm(d_model)
        self.tag_embeddings = nn.Embedding(config.num_tag_tokens, d_model)
        self.metadata_dropout = nn.Dropout(config.metadata_dropout)
        self.language_model = BartForConditionalGeneration(config.text_config)
        self.post_init()
        self._freeze_pretrained_encoders()
        self.generation_config = self.default_generation_config(config)

    @staticmethod
    def default_generation_config(config: AutoCapConfig) -> GenerationConfig:
        """2 beams, at most 29 new tokens and at least 1 (the reference scripts' ``max_length=30`` / ``min_length=2``
        count the decoder start token), plus the decoding defaults those scripts inherited from facebook/bart-base's
        config (as recorded there; not checkable offline): ``no_repeat_ngram_size=3``, ``early_stopping=True``, forced
        ``<s>`` first and ``</s>`` at the length limit."""
        text = config.text_config
        return GenerationConfig(
            num_beams=2,
            max_new_tokens=29,
            min_new_tokens=1,
            no_repeat_ngram_size=3,
            early_stopping=True,
            decoder_start_token_id=text.decoder_start_token_id,
            bos_token_id=text.bos_token_id,
            eos_token_id=text.eos_token_id,
            pad_token_id=text.pad_token_id,
            forced_bos_token_id=text.bos_token_id,
            forced_eos_token_id=text.eos_token_id,
        )

    # ----------------------------------------------------------------------------------------------------------------
    # Freezing and training stages
    # ----------------------------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        model = super().from_pretrained(*args, **kwargs)
        loaded = model[0] if isinstance(model, tuple) else model  # output_loading_info=True returns (model, info)
        loaded._freeze_pretrained_encoders()  # loading materialises fresh parameters, which require grad again
        return model

    def _frozen_encoders(self) -> list[nn.Module]:
        frozen = [self.audio_encoder] if self.config.freeze_audio_encoder else []
        if self.config.use_clap and self.config.freeze_clap:
            frozen.append(self.clap_model)
        return frozen

    def _freeze_pretrained_encoders(self) -> None:
        for module in self._frozen_encoders():
            module.requires_grad_(False)
            module.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self._frozen_encoders():  # BatchNorm statistics and dropout of frozen encoders stay fixed
            module.eval()
        return self

    def set_training_stage(self, stage: int) -> None:
        """Set ``requires_grad`` for the paper's two-stage training.

        * Stage 1: BART frozen; trained: Q-Former and its queries, projections, audio positions, LayerNorms and the tag
          embeddings.
        * Stage 2: BART trained too, except its word embeddings (tied to its output layer) unless
          ``config.train_word_embeddings``.

        The audio encoders stay as ``config.freeze_audio_encoder`` / ``config.freeze_clap`` say in both stages.
        """
        if stage not in (1, 2):
            raise InvalidInputError(f"stage must be 1 or 2, got {stage!r}")
        self.requires_grad_(True)
        self.language_model.requires_grad_(stage == 2)
        if stage == 2 and not self.config.train_word_embeddings:
            self.language_model.get_input_embeddings().requires_grad_(False)
        self._freeze_pretrained_encoders()

    @torch.no_grad()
    def init_new_embeddings_from_language_model(self) -> None:
        """Initialise the new tables from BART's (after loading pretrained BART weights), as the reference: opening
        tags from ``<s>``'s embedding, closing tags from ``</s>``'s, audio positions (Q-Former input only) from BART's
        learned positions."""
        words = self.language_model.get_input_embeddings().weight
        text = self.config.text_config
        self.tag_embeddings.weight[0::2] = words[text.bos_token_id]
        self.tag_embeddings.weight[1::2] = words[text.eos_token_id]
        if not self.config.use_qformer:
            return
        positions = self.language_model.get_encoder().embed_positions.weight
        rows = min(positions.shape[0], self.audio_position_embedding.weight.shape[0])
        self.audio_position_embedding.weight[:rows] = positions[:rows]

    # ----------------------------------------------------------------------------------------------------------------
    # Encoder side
    # ----------------------------------------------------------------------------------------------------------------
    def get_audio_tokens(self, input_features: torch.FloatTensor) -> torch.FloatTensor:
        """HTSAT frame features -> Q-Former -> ``(batch, num_query_tokens, d_model)`` audio tokens (without the
        Q-Former: every projected frame, ``(batch, config.num_audio_tokens, d_model)``)."""
        if input_features.ndim != 4 or input_features.shape[1] != 1:
            raise InvalidInputError(
                f"input_features must have shape (batch, 1, frames, mel_bins), got {tuple(input_features.shape)}"
            )
        maps = self.audio_encoder(input_features=input_features).last_hidden_state  # (B, C, freq, time)
        frames = maps.mean(dim=2).transpose(1, 2)  # (B, time, C)
        frames = frames.repeat_interleave(self.config.audio_frame_repeat, dim=1)
        if not self.config.use_qformer:  # the reference's ablation: BART reads every frame, with its own positions
            return self.audio_dropout(self.audio_projection(frames))
        if frames.shape[1] > self.config.max_audio_positions:
            raise InvalidInputError(
                f"the audio encoder gives {frames.shape[1]} frames, more than max_audio_positions="
                f"{self.config.max_audio_positions}"
            )
        frames = self.audio_dropout(self.audio_projection(frames))
        positions = torch.arange(frames.shape[1], device=frames.device)
        frames = self.audio_layernorm(frames + self.audio_position_embedding(positions))
        queries = self.query_tokens.expand(frames.shape[0], -1, -1)
        query_output = self.qformer(query_embeds=queries, encoder_hidden_states=frames).last_hidden_state
        return self.qformer_projection(query_output.to(self.qformer_projection.weight.dtype))

    def get_clap_token(self, clap_input_features: torch.FloatTensor) -> torch.FloatTensor:
        """CLAP audio embedding (L2-normalised, as laion_clap returns it) -> ``(batch, 1, d_model)``."""
        if not self.config.use_clap:
            raise InvalidInputError("this model has no CLAP token (config.use_clap=False)")
        if clap_input_features.ndim != 4 or clap_input_features.shape[1] != 1:
            raise InvalidInputError(
                "clap_input_features must have shape (batch, 1, frames, mel_bins), got "
                f"{tuple(clap_input_features.shape)}"
            )
        embedding = self.clap_model(input_features=clap_input_features).audio_embeds
        embedding = nn.functional.normalize(embedding, dim=-1)
        return self.clap_layernorm(self.clap_projection(embedding)).unsqueeze(1)

    def embed_metadata(self, metadata_ids: torch.LongTensor) -> torch.FloatTensor:
        """Token ids -> embeddings: BART's word table below its vocabulary size, the tag table from there on."""
        offset = self.config.tag_token_offset
        if metadata_ids.min() < 0 or metadata_ids.max() >= offset + self.config.num_tag_tokens:
            raise InvalidInputError(
                f"metadata_ids must be in [0, {offset + self.config.num_tag_tokens}) (BART's {offset} words + "
                f"{self.config.num_tag_tokens} tags), got values in [{int(metadata_ids.min())}, "
                f"{int(metadata_ids.max())}]: was the tokenizer made by AutoCapProcessor?"
            )
        is_tag = metadata_ids >= offset
        words = self.language_model.get_input_embeddings()(metadata_ids.masked_fill(is_tag, 0))
        tags = self.tag_embeddings((metadata_ids - offset).clamp(min=0))
        return self.metadata_dropout(torch.where(is_tag.unsqueeze(-1), tags, words))

    def encode(
        self,
        input_features: torch.FloatTensor,
        clap_input_features: torch.FloatTensor | None = None,
        metadata_ids: torch.LongTensor | None = None,
        metadata_attention_mask: torch.LongTensor | None = None,
        **kwargs,
    ) -> AutoCapEncoderOutput:
        """Build ``[CLAP] <s> audio tokens metadata`` and run BART's encoder over it.

        Args:
            input_features: HTSAT log-mel ``(batch, 1, frames, mel_bins)``.
            clap_input_features: CLAP log-mel ``(batch, 1, frames, mel_bins)`` (required when ``config.use_clap``).
            metadata_ids: tagged metadata ending with ``</s>`` (from [`AutoCapProcessor`]); ``None`` = no metadata
                (the sequence then ends with ``</s>`` after the audio tokens).
            metadata_attention_mask: 1 for metadata tokens, 0 for padding.
        """
        audio_tokens = self.get_audio_tokens(input_features)
        batch, device = audio_tokens.shape[0], audio_tokens.device
        text = self.config.text_config
        if metadata_ids is None:
            metadata_ids = torch.full((batch, 1), text.eos_token_id, dtype=torch.long, device=device)
        if metadata_ids.ndim != 2 or metadata_ids.shape[0] != batch:
            raise InvalidInputError(
                f"metadata_ids must have shape (batch={batch}, length), got {tuple(metadata_ids.shape)}"
            )
        if metadata_attention_mask is None:
            metadata_attention_mask = torch.ones_like(metadata_ids)
        if metadata_attention_mask.shape != metadata_ids.shape:
            raise InvalidInputError(
                f"metadata_attention_mask has shape {tuple(metadata_attention_mask.shape)}, metadata_ids "
                f"{tuple(metadata_ids.shape)}"
            )
        bos = self.language_model.get_input_embeddings()(
            torch.full((batch, 1), text.bos_token_id, dtype=torch.long, device=device)
        )
        parts = [bos, audio_tokens, self.embed_metadata(metadata_ids)]
        clap_token = None
        if self.config.use_clap:
            if clap_input_features is None:
                raise InvalidInputError(
                    "this model uses a CLAP token: pass clap_input_features (from AutoCapFeatureExtractor)"
                )
            clap_token = self.get_clap_token(clap_input_features).to(audio_tokens.dtype)
            if self.config.clap_token_position == "encoder_input":
                parts.insert(0, clap_token)
        inputs_embeds = torch.cat(parts, dim=1)
        if inputs_embeds.shape[1] > text.max_position_embeddings:
            raise InvalidInputError(
                f"the encoder sequence is {inputs_embeds.shape[1]} long, more than BART's max_position_embeddings="
                f"{text.max_position_embeddings}: shorten the metadata (AutoCapProcessor max_metadata_length)"
            )
        prefix = inputs_embeds.shape[1] - metadata_ids.shape[1]
        attention_mask = torch.cat(
            [metadata_attention_mask.new_ones(batch, prefix), metadata_attention_mask.to(torch.long)], dim=1
        )
        hidden = self.language_model.get_encoder()(inputs_embeds=inputs_embeds, attention_mask=attention_mask)
        hidden = hidden.last_hidden_state
        if clap_token is not None and self.config.clap_token_position == "encoder_output":
            hidden = torch.cat([clap_token, hidden], dim=1)
            attention_mask = torch.cat([attention_mask.new_ones(batch, 1), attention_mask], dim=1)
        return AutoCapEncoderOutput(
            last_hidden_state=hidden, attention_mask=attention_mask, audio_tokens=audio_tokens, clap_token=clap_token
        )

    # ----------------------------------------------------------------------------------------------------------------
    # Decoder side
    # ----------------------------------------------------------------------------------------------------------------
    def forward(
        self,
        input_features: torch.FloatTensor | None = None,
        clap_input_features: torch.FloatTensor | None = None,
        metadata_ids: torch.LongTensor | None = None,
        metadata_attention_mask: torch.LongTensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.LongTensor | None = None,
        encoder_outputs: AutoCapEncoderOutput | None = None,
        past_key_values=None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> Seq2SeqLMOutput:
        r"""
        Args:
            input_features, clap_input_features, metadata_ids, metadata_attention_mask: see :meth:`encode` (not needed
                with ``encoder_outputs``).
            decoder_input_ids: caption tokens so far (default: ``labels`` shifted right).
            labels: caption token ids, ``-100`` where no loss is wanted (padding). The loss is cross-entropy with
                ``config.label_smoothing``, averaged over the labelled tokens.
        """
        if encoder_outputs is None:
            if input_features is None:
                raise InvalidInputError("pass input_features (and clap_input_features) or encoder_outputs")
            encoder_outputs = self.encode(input_features, clap_input_features, metadata_ids, metadata_attention_mask)
        text = self.config.text_config
        if labels is not None and decoder_input_ids is None:
            decoder_input_ids = shift_tokens_right(labels, text.pad_token_id, text.decoder_start_token_id)
        # transformers renamed BART's past_key_values to cache (the old name is removed in 5.40): pass whichever the
        # installed BART takes, from whichever name generate used.
        cache = kwargs.pop("cache", None)
        cache = cache if cache is not None else past_key_values
        cache_name = (
            "cache" if "cache" in inspect.signature(self.language_model.forward).parameters else "past_key_values"
        )
        outputs = self.language_model(
            encoder_outputs=(encoder_outputs.last_hidden_state,),
            attention_mask=encoder_outputs.attention_mask,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            use_cache=use_cache,
            **{cache_name: cache},
            **kwargs,
        )
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                outputs.logits.reshape(-1, outputs.logits.shape[-1]).float(),
                labels.reshape(-1).to(outputs.logits.device),
                ignore_index=-100,
                label_smoothing=self.config.label_smoothing,
            )
        return Seq2SeqLMOutput(
            loss=loss,
            logits=outputs.logits,
            past_key_values=outputs.past_key_values,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
        )

    @torch.no_grad()
    def generate(
        self,
        input_features: torch.FloatTensor | None = None,
        clap_input_features: torch.FloatTensor | None = None,
        metadata_ids: torch.LongTensor | None = None,
        metadata_attention_mask: torch.LongTensor | None = None,
        encoder_outputs: AutoCapEncoderOutput | None = None,
        generation_config: GenerationConfig | None = None,
        **kwargs,
    ):
        """Caption token ids ``(batch * num_return_sequences, length)`` (decode with the processor).

        ``kwargs`` are BART ``generate`` options (``num_beams``, ``max_new_tokens``, ``do_sample``, ``top_p``,
        ``num_return_sequences`` ...) overriding ``self.generation_config``.
        """
        if encoder_outputs is None:
            if input_features is None:
                raise InvalidInputError("pass input_features (and clap_input_features) or encoder_outputs")
            encoder_outputs = self.encode(input_features, clap_input_features, metadata_ids, metadata_attention_mask)
        generation_config = copy.deepcopy(generation_config or self.generation_config)
        if "max_length" in kwargs and "max_new_tokens" not in kwargs:
            kwargs["max_new_tokens"] = None  # an explicit max_length replaces the default max_new_tokens
        if "min_length" in kwargs and "min_new_tokens" not in kwargs:
            kwargs["min_new_tokens"] = None
        model_kwargs = generation_config.update(**kwargs)  # generation options -> the config; the rest passes through
        if generation_config.num_beams == 1:
            generation_config.early_stopping = None  # a beam-search flag: transformers warns about it otherwise
        return self.language_model.generate(
            encoder_outputs=BaseModelOutput(last_hidden_state=encoder_outputs.last_hidden_state),
            attention_mask=encoder_outputs.attention_mask,
            generation_config=generation_config,
            **model_kwargs,
        )


__all__ = ["AutoCapEncoderOutput", "AutoCapForConditionalGeneration", "AutoCapPreTrainedModel"]
