"""AudioGen: a Transformer decoder over neural-codec tokens, conditioned on text by cross-attention.

Reading order: sinusoidal positions -> attention -> one decoder block -> the decoder (code embeddings, blocks, output
heads; ``step`` + ``AudioGenDecodeCache``, the sampling fast path) -> the pre-trained base (weight init) ->
``AudioGenForConditionalGeneration`` (text encoder + codec + decoder: training ``forward`` and the sampling loop in
``generate``).

Parameter names follow audiocraft's ``LMModel`` so a checkpoint maps one to one:

==============================================================  ===================================================
audiocraft                                                      here
==============================================================  ===================================================
``emb.{k}``                                                     ``decoder.emb.{k}``
``transformer.layers.{i}.self_attn.in_proj_weight`` (q|k|v)     ``decoder.layers.{i}.self_attn.{q,k,v}_proj.weight``
``transformer.layers.{i}.self_attn.out_proj``                   ``decoder.layers.{i}.self_attn.out_proj``
``transformer.layers.{i}.cross_attention.*``                    ``decoder.layers.{i}.cross_attention.*`` (same split)
``transformer.layers.{i}.{linear1,linear2,norm1,norm2,norm_cross}``  ``decoder.layers.{i}.{...}`` (same names)
``out_norm``, ``linears.{k}``                                   ``decoder.out_norm``, ``decoder.linears.{k}``
``condition_provider.conditioners.description.output_proj``     ``enc_to_dec_proj``
==============================================================  ===================================================
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm
from transformers import AutoModelForTextEncoding, GenerationConfig, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.masking_utils import create_bidirectional_mask, create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import ModelOutput

from ..codec.modeling_codec import CodecModel
from ..loading import StrictLoadingMixin
from ..text_encoder_source import resolve_text_encoder_source
from ..validation import (
    MAX_AUDIO_PROMPT_SECONDS,
    MAX_PROMPTS_PER_CALL,
    InvalidInputError,
    check_float,
    check_int,
    check_seed,
)
from .codebook_patterns import DelayPattern
from .configuration_audiogen import AudioGenConfig, AudioGenDecoderConfig, AudioGenGenerationConfig

# Longest audio `generate` accepts in one call; beyond this a typo (e.g. frames passed as seconds) is more likely than
# an intent, and the codes of the whole output are kept in memory.
MAX_GENERATION_SECONDS = 600.0
# Marks pattern slots that are still to be sampled (never fed to the model: they all lie at or after the current step).
_UNKNOWN_TOKEN = -1
# Generation kwargs that transformers' pipelines pass by default and that mean nothing for codec tokens.


# ----------------------------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------------------------
def sinusoidal_position_embedding(positions: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Positions (L,) -> (L, dim) embeddings ``cat([cos(p / T_i), sin(p / T_i)])`` with ``T_i = max_period **
    (i / (dim/2 - 1))`` — the formula of audiocraft and transformers' MusicGen (note the ``-1``)."""
    half = dim // 2
    periods = max_period ** (torch.arange(half, device=positions.device, dtype=torch.float32) / (half - 1))
    phase = positions.to(torch.float32)[:, None] / periods[None, :]
    return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain softmax attention; ``attention_mask`` is the additive float mask ``masking_utils`` builds for "eager"."""
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = F.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = F.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


class AudioGenAttention(nn.Module):
    """Multi-head attention with separate q/k/v projections (audiocraft fuses them in ``in_proj_weight``).

    Self-attention appends to the self-attention half of an ``EncoderDecoderCache``; cross-attention projects the
    text states once and reads them back from the cross-attention half on later steps.
    """

    def __init__(self, config: AudioGenDecoderConfig, layer_idx: int, is_cross_attention: bool = False):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.is_cross_attention = is_cross_attention
        self.is_causal = not is_cross_attention  # read by the sdpa backend when it gets no explicit mask
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=config.bias_attn)
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=config.bias_attn)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=config.bias_attn)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=config.bias_attn)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, D) -> (B, heads, L, head_dim)
        return x.view(x.shape[0], x.shape[1], -1, self.head_dim).transpose(1, 2)

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_value_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        past_key_values: EncoderDecoderCache | None = None,
    ) -> torch.Tensor:
        query = self._heads(self.q_proj(hidden_states))
        cache = None
        if past_key_values is not None:
            cache = past_key_values.self_attention_cache
            if self.is_cross_attention:
                cache = past_key_values.cross_attention_cache
        if self.is_cross_attention and cache is not None and past_key_values.is_updated.get(self.layer_idx):
            key, value = cache.layers[self.layer_idx].keys, cache.layers[self.layer_idx].values
        else:
            source = key_value_states if self.is_cross_attention else hidden_states
            key, value = self._heads(self.k_proj(source)), self._heads(self.v_proj(source))
            if cache is not None:
                key, value = cache.update(key, value, self.layer_idx)
                if self.is_cross_attention:
                    past_key_values.is_updated[self.layer_idx] = True

        attention: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        output, _ = attention(
            self,
            query,
            key,
            value,
            attention_mask,
            scaling=self.scaling,
            dropout=self.config.attention_dropout if self.training else 0.0,
        )
        return self.out_proj(output.reshape(*hidden_states.shape[:2], -1))


class AudioGenDecoderLayer(GradientCheckpointingLayer):
    """One pre-norm block: ``x += SelfAttn(LN(x))``; ``x += CrossAttn(LN(x), text)``; ``x += FFN(LN(x))``."""

    def __init__(self, config: AudioGenDecoderConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.self_attn = AudioGenAttention(config, layer_idx)
        self.norm_cross = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.cross_attention = AudioGenAttention(config, layer_idx, is_cross_attention=True)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.linear1 = nn.Linear(config.hidden_size, config.ffn_dim, bias=config.bias_ff)
        self.activation = ACT2FN[config.activation_function]
        self.linear2 = nn.Linear(config.ffn_dim, config.hidden_size, bias=config.bias_ff)
        self.dropout = nn.Dropout(config.dropout)
        # Tag the block's linear layers with their depth for the depthwise init (`_init_weights` sees one module at a
        # time, and transformers skips initialising modules without parameters of their own, like this block).
        for module in self.modules():
            if isinstance(module, nn.Linear):
                module._audiogen_depth = layer_idx + 1

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        past_key_values: EncoderDecoderCache | None = None,
    ) -> torch.Tensor:
        x = hidden_states
        x = x + self.dropout(
            self.self_attn(self.norm1(x), attention_mask=attention_mask, past_key_values=past_key_values)
        )
        x = x + self.dropout(
            self.cross_attention(
                self.norm_cross(x),
                key_value_states=encoder_hidden_states,
                attention_mask=encoder_attention_mask,
                past_key_values=past_key_values,
            )
        )
        x = x + self.dropout(self.linear2(self.dropout(self.activation(self.linear1(self.norm2(x))))))
        return x

    def step(
        self,
        hidden_states: torch.Tensor,
        cache: "AudioGenDecodeCache",
        start: int,
        causal_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``forward`` at sampling time (no dropout): the keys/values of the ``n`` new steps, placed at ``[start,
        start + n)``, go into ``cache``; ``causal_mask`` (n, start + n) is needed only when ``n > 1``."""
        x, attn, cross, linear = hidden_states, self.self_attn, self.cross_attention, cache.linear
        h = self.norm1(x)
        query, key, value = (attn._heads(linear(proj, h)) for proj in (attn.q_proj, attn.k_proj, attn.v_proj))
        key, value = cache.update(self.layer_idx, key, value, start)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=causal_mask, scale=attn.scaling)
        x = x + linear(attn.out_proj, _merge_heads(out))
        query = cross._heads(linear(cross.q_proj, self.norm_cross(x)))
        key, value = cache.cross_keys_values[self.layer_idx]
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=cache.cross_mask, scale=cross.scaling)
        x = x + linear(cross.out_proj, _merge_heads(out))
        return x + linear(self.linear2, self.activation(linear(self.linear1, self.norm2(x))))


class AudioGenDecoder(nn.Module):
    """The language model over pattern sequences: K code embeddings (combined by sum or mean) + sinusoidal positions
    -> pre-norm blocks -> final LayerNorm -> K output heads.

    ``forward(input_ids (B, K, S), ...)`` returns logits (B, K, S, codebook_size); the output at step ``s`` predicts
    the tokens of step ``s + 1``. Input ids may be ``codebook_size`` (the special token), never the output.
    """

    def __init__(self, config: AudioGenDecoderConfig):
        super().__init__()
        self.config = config
        self.emb = nn.ModuleList(
            [nn.Embedding(config.codebook_size + 1, config.hidden_size) for _ in range(config.num_codebooks)]
        )
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList([AudioGenDecoderLayer(config, i) for i in range(config.num_hidden_layers)])
        self.out_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.linears = nn.ModuleList(
            [
                nn.Linear(config.hidden_size, config.codebook_size, bias=config.bias_proj)
                for _ in range(config.num_codebooks)
            ]
        )

    def embed(self, input_ids: torch.LongTensor) -> torch.Tensor:
        """(B, K, S) token ids -> (B, S, D): the K code embeddings summed (audiocraft) or averaged (paper)."""
        embeddings = sum(self.emb[q](input_ids[:, q]) for q in range(self.config.num_codebooks))
        if self.config.embedding_combine == "mean":
            embeddings = embeddings / self.config.num_codebooks
        return embeddings

    def forward(
        self,
        input_ids: torch.LongTensor,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None = None,
        past_key_values: EncoderDecoderCache | None = None,
    ) -> torch.Tensor:
        config = self.config
        if input_ids.dim() != 3 or input_ids.shape[1] != config.num_codebooks:
            raise InvalidInputError(
                f"decoder input ids must have shape (batch, num_codebooks={config.num_codebooks}, steps), "
                f"got {tuple(input_ids.shape)}"
            )
        if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() > config.special_token_id):
            raise InvalidInputError(
                f"decoder input ids must be in [0, {config.special_token_id}] ({config.special_token_id} = special "
                f"token), got values in [{int(input_ids.min())}, {int(input_ids.max())}]"
            )
        if past_key_values is not None and not isinstance(past_key_values, EncoderDecoderCache):
            raise InvalidInputError(
                "past_key_values must be an EncoderDecoderCache(DynamicCache(), DynamicCache()), got "
                f"{type(past_key_values).__name__}"
            )
        past_length = past_key_values.get_seq_length() if past_key_values is not None else 0
        num_steps = input_ids.shape[-1]
        if past_length + num_steps > config.max_position_embeddings:
            raise InvalidInputError(
                f"sequence of {past_length + num_steps} pattern steps exceeds decoder.max_position_embeddings="
                f"{config.max_position_embeddings}"
            )

        hidden_states = self.embed(input_ids)
        positions = torch.arange(past_length, past_length + num_steps, device=input_ids.device)
        hidden_states = hidden_states + sinusoidal_position_embedding(positions, config.hidden_size).to(
            hidden_states.dtype
        )
        hidden_states = self.dropout(hidden_states)

        self_cache = past_key_values.self_attention_cache if past_key_values is not None else None
        # The cache goes by position: transformers renamed its keyword (past_key_values -> cache, the old name goes in 5.40)
        causal_mask = create_causal_mask(config, hidden_states, None, self_cache)
        cross_mask = None
        if encoder_attention_mask is not None:
            cross_mask = create_bidirectional_mask(
                config=config,
                inputs_embeds=hidden_states,
                attention_mask=encoder_attention_mask,
                encoder_hidden_states=encoder_hidden_states,
            )
        for layer in self.layers:
            hidden_states = layer(
                hidden_states,
                encoder_hidden_states,
                attention_mask=causal_mask,
                encoder_attention_mask=cross_mask,
                past_key_values=past_key_values,
            )
        hidden_states = self.out_norm(hidden_states)
        return torch.stack([head(hidden_states) for head in self.linears], dim=1)

    def step(self, input_ids: torch.LongTensor, cache: "AudioGenDecodeCache", start: int) -> torch.Tensor:
        """Sampling-time ``forward``: ``input_ids`` (B, K, n) are the pattern steps ``[start, start + n)`` (the whole
        prompt first, then one step at a time); returns the logits (rows, K, codebook_size) of the last one. With
        guidance the cache has ``rows = 2B`` and the null branch reads the same tokens. Inputs are not checked: they
        come from the sampling loop."""
        num_steps = input_ids.shape[-1]
        x = self.embed(input_ids) + cache.positions[start : start + num_steps]
        x = x.repeat(cache.rows // x.shape[0], 1, 1)
        causal_mask = None  # one new step attends to every cached one
        if num_steps > 1:
            causal_mask = torch.ones(num_steps, start + num_steps, dtype=torch.bool, device=x.device).tril(start)
        for layer in self.layers:
            x = layer.step(x, cache, start, causal_mask)
        x = self.out_norm(x[:, -1])
        return torch.stack([cache.linear(head, x) for head in self.linears], dim=1)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:  # (B, heads, L, head_dim) -> (B, L, D)
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], -1)


class AudioGenDecodeCache:
    """What every sampling step of one window reads, built once: self-attention keys/values pre-allocated for the
    window and written in place, the cross-attention keys/values of the text, the position embeddings and, where it
    pays, the linear weights in MKL's packed layout.

    Sampling uses it instead of ``forward`` with an ``EncoderDecoderCache(DynamicCache, DynamicCache)``, which
    concatenates a copy of the whole past at every step and rebuilds masks and positions each time (``forward``
    keeps transformers' cache for step-wise use from outside). Same logits, to float rounding.

    Args:
        decoder ([`AudioGenDecoder`]): the decoder whose ``step`` reads this cache.
        encoder_hidden_states (`(rows, L, D)`): the text states (conditional then null branch with guidance).
        encoder_attention_mask (`(rows, L)`, *optional*): their cross-attention mask (1 = attend).
        max_steps (`int`): pattern steps the window holds.
    """

    # Rows per step (batch x branches) from which the packed GEMM pays: at 12 x 512 on one CPU thread, 4 x 2048
    # codes, 8 rows run the linear layers ~25% faster, 2 rows ~5% slower.
    PACKED_MIN_ROWS = 4

    def __init__(
        self,
        decoder: AudioGenDecoder,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None,
        max_steps: int,
    ):
        config = decoder.config
        states = encoder_hidden_states
        self.rows = states.shape[0]
        heads = config.num_attention_heads
        shape = (config.num_hidden_layers, self.rows, heads, max_steps, config.hidden_size // heads)
        self.keys, self.values = states.new_empty(shape), states.new_empty(shape)
        self.cross_keys_values = [
            (
                layer.cross_attention._heads(layer.cross_attention.k_proj(states)),
                layer.cross_attention._heads(layer.cross_attention.v_proj(states)),
            )
            for layer in decoder.layers
        ]
        self.cross_mask = None if encoder_attention_mask is None else encoder_attention_mask.bool()[:, None, None, :]
        positions = torch.arange(max_steps, device=states.device)
        self.positions = sinusoidal_position_embedding(positions, config.hidden_size).to(states.dtype)
        self.packed = _pack_linear_weights(decoder, self.rows) if self.rows >= self.PACKED_MIN_ROWS else {}

    def update(
        self, layer_idx: int, key: torch.Tensor, value: torch.Tensor, start: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the keys/values (rows, heads, n, head_dim) of steps ``[start, start + n)``; return steps ``< start +
        n``."""
        end = start + key.shape[2]
        self.keys[layer_idx, :, :, start:end] = key
        self.values[layer_idx, :, :, start:end] = value
        return self.keys[layer_idx, :, :, :end], self.values[layer_idx, :, :, :end]

    def linear(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``module(x)``, through the packed weight when there is one."""
        packed = self.packed.get(module)
        if packed is None:
            return module(x)
        return torch.ops.mkl._mkl_linear(x, packed, module.weight, module.bias, self.rows)


def _pack_linear_weights(decoder: AudioGenDecoder, rows: int) -> dict[nn.Module, torch.Tensor]:
    """The per-step linear layers' weights in MKL's packed GEMM layout for ``rows`` input rows (CPU, float32).

    MKL otherwise repacks a weight at every call, which dominates products with a few rows; the packed copies cost
    the memory of those weights once more while a window is sampled. Only plain ``nn.Linear`` layers without hooks
    are packed: adapters (LoRA), quantised or offloaded layers keep their own ``forward``.
    """
    if not (torch.backends.mkl.is_available() and hasattr(torch.ops.mkl, "_mkl_reorder_linear_weight")):
        return {}
    modules = [decoder.linears[q] for q in range(len(decoder.linears))]
    for layer in decoder.layers:
        attn, cross = layer.self_attn, layer.cross_attention
        modules += [attn.q_proj, attn.k_proj, attn.v_proj, attn.out_proj, cross.q_proj, cross.out_proj]
        modules += [layer.linear1, layer.linear2]
    packed = {}
    for module in modules:
        plain = type(module) is nn.Linear and not (module._forward_hooks or module._forward_pre_hooks)
        weight = module.weight if plain else None
        if weight is not None and weight.device.type == "cpu" and weight.dtype == torch.float32:
            packed[module] = torch.ops.mkl._mkl_reorder_linear_weight(weight.contiguous(), rows)
    return packed


def sample_next_tokens(
    logits: torch.Tensor,
    do_sample: bool,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.LongTensor:
    """Pick one token per row of ``logits`` (..., vocab): argmax, or a draw from ``softmax(logits / temperature)``
    restricted to the ``top_k`` most likely tokens (0 = all) and then to the smallest set of mass ``>= top_p``.

    Probabilities are masked in vocabulary order and all rows are drawn with one ``torch.multinomial`` call, so a
    seeded ``generator`` gives reproducible tokens. With top-k alone this is draw-for-draw what audiocraft does; its
    top-p draws in sorted order (same distribution, different seeded tokens), and it ignores top-k when top-p is set.
    """
    if not do_sample:
        return logits.argmax(dim=-1)
    probs = F.softmax(logits.float() / temperature, dim=-1)
    if 0 < top_k < probs.shape[-1]:
        kth_largest = torch.topk(probs, top_k, dim=-1).values[..., -1:]
        probs = probs * (probs >= kth_largest)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        # Drop a token once the mass strictly before it already reaches top_p (the most likely token always stays).
        drop_sorted = (torch.cumsum(sorted_probs, dim=-1) - sorted_probs) > top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        probs = probs.masked_fill(drop, 0.0)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, num_samples=1, generator=generator).view(probs.shape[:-1])


def plan_generation_windows(
    prompt_frames: int, total_frames: int, window_frames: int, stride_frames: int
) -> list[tuple[int, int]]:
    """Split generation of ``total_frames`` (prompt included) into windows of at most ``window_frames`` frames.

    Returns ``(context_frames, window_size)`` per window: each window re-reads the last ``context_frames`` frames
    produced so far as its prompt and ends ``window_size - context_frames`` frames later. After the first window the
    context is ``window_frames - stride_frames`` (audiocraft's ``extend_stride`` scheme), so each later window adds
    ``stride_frames`` frames.
    """
    windows = []
    done = prompt_frames
    context = prompt_frames if prompt_frames < window_frames else window_frames - stride_frames
    while done < total_frames:
        context = min(context, done)
        size = min(window_frames, context + total_frames - done)
        windows.append((context, size))
        done += size - context
        context = window_frames - stride_frames
    return windows


# ----------------------------------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class AudioGenOutput(ModelOutput):
    """Output of [`AudioGenForConditionalGeneration.forward`].

    Args:
        loss (`torch.FloatTensor`, scalar): mean over codebooks of the per-codebook cross-entropy on valid positions.
        codebook_losses (`torch.FloatTensor` of shape `(num_codebooks,)`): the per-codebook cross-entropies.
        logits (`torch.FloatTensor`): `(B, K, T, codebook_size)` per frame when the input was `audio_codes` /
            `input_values`; `(B, K, S, codebook_size)` per pattern step when it was `decoder_input_ids`.
        logits_mask (`torch.BoolTensor` of shape `(B, K, T)`): which frame logits exist in the pattern and belong to
            real (not padded) frames; only with frame-level inputs.
        past_key_values (`EncoderDecoderCache`): the key/value cache when `use_cache=True`.
        encoder_hidden_states (`torch.FloatTensor` of shape `(B, L, hidden_size)`): the projected, masked text states
            the decoder cross-attends to (zeros for nulled conditions).
        encoder_attention_mask (`torch.LongTensor` of shape `(B, L)`): their mask (all zeros for nulled conditions).
    """

    loss: torch.FloatTensor | None = None
    codebook_losses: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    logits_mask: torch.BoolTensor | None = None
    past_key_values: EncoderDecoderCache | None = None
    encoder_hidden_states: torch.FloatTensor | None = None
    encoder_attention_mask: torch.LongTensor | None = None


@dataclass
class AudioGenGenerationOutput(ModelOutput):
    """Output of [`AudioGenForConditionalGeneration.generate`] with ``return_dict_in_generate=True``.

    Args:
        audio_values (`torch.FloatTensor` of shape `(B * num_return_sequences, 1, samples)`): decoded audio at the
            codec's sampling rate, audio prompt included.
        audio_codes (`torch.LongTensor` of shape `(B * num_return_sequences, K, frames)`): the codes, prompt included.
        audio (`torch.FloatTensor`): same tensor as ``audio_values``, under the key transformers' text-to-audio
            pipeline reads.
        sequences (`torch.LongTensor`): same tensor as ``audio_codes``, under the name ``GenerationMixin`` uses.
    """

    audio_values: torch.FloatTensor | None = None
    audio_codes: torch.LongTensor | None = None
    audio: torch.FloatTensor | None = None
    sequences: torch.LongTensor | None = None


# ----------------------------------------------------------------------------------------------------------------------
# Pre-trained base
# ----------------------------------------------------------------------------------------------------------------------
class AudioGenPreTrainedModel(StrictLoadingMixin, PreTrainedModel):
    config: AudioGenConfig
    base_model_prefix = "audiogen"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["AudioGenDecoderLayer"]
    _supports_sdpa = True
    _supports_flash_attn = False
    _supports_attention_backend = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """audiocraft's LM init: truncated normal (±3 std) with ``std = 1/sqrt(fan_in)`` (embedding width for
        embeddings), divided by ``sqrt(2 (i+1))`` inside block ``i`` when ``depthwise_init``; zero biases.

        """
        if isinstance(module, nn.Linear):
            depth = getattr(module, "_audiogen_depth", None) if self.config.decoder.depthwise_init else None
            _init_linear(module, depth)
        elif isinstance(module, nn.Embedding):
            _trunc_normal(module.weight, 1.0 / math.sqrt(module.embedding_dim))
        else:
            super()._init_weights(module)  # LayerNorm: ones / zeros


def _trunc_normal(tensor: torch.Tensor, std: float) -> None:
    init.trunc_normal_(tensor, mean=0.0, std=std, a=-3 * std, b=3 * std)


def _init_linear(linear: nn.Linear, depth: int | None) -> None:
    std = 1.0 / math.sqrt(linear.in_features)
    if depth is not None:
        std = std / math.sqrt(2 * depth)
    _trunc_normal(linear.weight, std)
    if linear.bias is not None:
        init.zeros_(linear.bias)


# ----------------------------------------------------------------------------------------------------------------------
# Text-to-audio model
# ----------------------------------------------------------------------------------------------------------------------
class AudioGenForConditionalGeneration(AudioGenPreTrainedModel, GenerationMixin):
    """AudioGen: text encoder (frozen) -> projection -> Transformer decoder over codec tokens -> codec decoder.

    ``forward`` trains on codec codes (or raw audio it encodes) with teacher forcing and returns per-frame logits and
    the loss; ``generate`` samples codes with classifier-free guidance and decodes them to audio.

    Args:
        config ([`AudioGenConfig`]): the model configuration.
        text_encoder (`PreTrainedModel`, *optional*): an already built / pre-trained text encoder (its config
            replaces ``config.text_encoder``). Default: ``AutoModelForTextEncoding.from_config(config.text_encoder)``.
        codec ([`CodecModel`], *optional*): an already built / trained codec (its config replaces ``config.codec``).

    Example:

    ```python
    >>> import torch
    >>> from transformers import T5Config
    >>> from hf_audiogen.audiogen import AudioGenConfig, AudioGenDecoderConfig, AudioGenForConditionalGeneration
    >>> from hf_audiogen.codec import CodecConfig
    >>> config = AudioGenConfig(                              # a few thousand parameters, random weights
    ...     text_encoder=T5Config(vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2),
    ...     codec=CodecConfig.small(num_filters=2, hidden_size=8, num_quantizers=2, codebook_size=32,
    ...                             kmeans_init=False),
    ...     decoder=AudioGenDecoderConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, ffn_dim=64,
    ...                                   num_codebooks=2, codebook_size=32, max_position_embeddings=256),
    ...     max_duration=1.0)
    >>> model = AudioGenForConditionalGeneration(config).eval()
    >>> input_ids = torch.tensor([[5, 6, 7, 1]])            # a tokenized prompt (T5 ids in a real model)
    >>> audio = model.generate(input_ids=input_ids, duration=0.2, seed=0, progress_bar=False)
    >>> audio.shape                                          # (batch, 1, 0.2 s * 16 kHz)
    torch.Size([1, 1, 3200])
    >>> codes = torch.randint(0, 32, (1, 2, 10))             # teacher-forced training step on codec codes
    >>> output = model(input_ids=input_ids, audio_codes=codes, labels=codes)
    >>> output.logits.shape, output.loss.dim()
    (torch.Size([1, 2, 10, 32]), 0)
    ```
    """

    output_modalities = ("audio",)

    # ------------------------------------------------------------------------------------------------------------
    # Saving without the (large, separately published) frozen text encoder: see `AudioGenConfig.text_encoder_source`
    # ------------------------------------------------------------------------------------------------------------
    def save_pretrained(self, save_directory, *args, **kwargs):
        if self.config.text_encoder_source is not None:
            state_dict = kwargs.pop("state_dict", None) or self.state_dict()
            kwargs["state_dict"] = {k: v for k, v in state_dict.items() if not k.startswith("text_encoder.")}
        return super().save_pretrained(save_directory, *args, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        loaded = model[0] if isinstance(model, tuple) else model  # output_loading_info=True returns (model, info)
        if loaded.config.text_encoder_source is not None:
            hub_kwargs = {k: kwargs[k] for k in ("cache_dir", "token", "local_files_only") if k in kwargs}
            loaded.load_text_encoder_from_source(**hub_kwargs)
        return model

    def load_text_encoder_from_source(self, **hub_kwargs) -> None:
        """Load the frozen text encoder's weights from ``config.text_encoder_source`` (strict). ``hub_kwargs``
        (``cache_dir``, ``token``, ``local_files_only``) apply when the source is a Hub id."""
        source = resolve_text_encoder_source(self.config.text_encoder_source)
        encoder = AutoModelForTextEncoding.from_pretrained(source, **hub_kwargs)
        missing, unexpected = self.text_encoder.load_state_dict(encoder.state_dict(), strict=False)
        if missing or unexpected:
            raise InvalidInputError(
                f"the text encoder at {self.config.text_encoder_source} does not match this model's text_encoder "
                f"config (missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
            )

    def __init__(
        self,
        config: AudioGenConfig,
        text_encoder: PreTrainedModel | None = None,
        codec: CodecModel | None = None,
    ):
        if text_encoder is not None:
            config.text_encoder = text_encoder.config
        if codec is not None:
            if (codec.config.num_quantizers, codec.config.codebook_size) != (
                config.decoder.num_codebooks,
                config.decoder.codebook_size,
            ):
                raise InvalidInputError(
                    f"codec has {codec.config.num_quantizers} x {codec.config.codebook_size} codes but the decoder "
                    f"expects {config.decoder.num_codebooks} x {config.decoder.codebook_size}"
                )
            config.codec = codec.config
        super().__init__(config)
        self.text_encoder = text_encoder or AutoModelForTextEncoding.from_config(config.text_encoder)
        self.codec = codec or CodecModel(config.codec)
        # The sub-models share the composite's sub-configs, so `set_attn_implementation` and saving see one truth.
        # A text-encoder config passed through AudioGenConfig(...) has lost its implementation (the composite config's
        # setter recurses into sub-configs with None), and without one T5 ignores its attention mask: use ours.
        self.config.text_encoder._attn_implementation = (
            self.text_encoder.config._attn_implementation or self.config._attn_implementation
        )
        self.text_encoder.config = self.config.text_encoder
        self.codec.config = self.config.codec
        # The decoder is a plain module, so transformers' init-time dispatch does not reach its sub-config.
        if self.config.decoder._attn_implementation is None:
            self.config.decoder._attn_implementation = self.config._attn_implementation

        # audiocraft always projects the text states (`output_proj`, with bias), even when the widths match.
        self.enc_to_dec_proj = nn.Linear(config.text_encoder.hidden_size, config.decoder.hidden_size)
        self.decoder = AudioGenDecoder(config.decoder)
        self.pattern = DelayPattern(config.decoder.codebook_delays)

        if config.text_encoder_source is not None:
            # Saved without the text encoder (it is loaded from its source): not a missing weight worth a warning.
            self._keys_to_ignore_on_load_missing = [r"^text_encoder\."]
        self.codec.requires_grad_(False)
        if config.freeze_text_encoder:
            self.text_encoder.requires_grad_(False)
        self.post_init()
        self.generation_config = self.default_generation_config(config)
        self.train(self.training)

    @staticmethod
    def default_generation_config(config: AudioGenConfig) -> AudioGenGenerationConfig:
        """The paper's sampling recipe (see :meth:`AudioGenGenerationConfig.from_audiogen_config`)."""
        return AudioGenGenerationConfig.from_audiogen_config(config)

    def train(self, mode: bool = True) -> "AudioGenForConditionalGeneration":
        """Switch the trainable parts; a frozen text encoder and the codec stay in eval mode (no dropout, no
        codebook updates) because they are not trained."""
        super().train(mode)
        self.codec.eval()
        if self.config.freeze_text_encoder:
            self.text_encoder.eval()
        return self

    def get_encoder(self) -> PreTrainedModel:
        return self.text_encoder

    def get_input_embeddings(self) -> nn.Module:
        return self.text_encoder.get_input_embeddings()

    # --- conditions -------------------------------------------------------------------------------------------------
    def encode_text(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_outputs: ModelOutput | tuple | None = None,
        token_type_ids: torch.LongTensor | None = None,
    ) -> tuple[torch.Tensor, torch.LongTensor]:
        """Text -> (states (B, L, decoder hidden), mask (B, L)): the projected text-encoder states times the mask.

        A row whose ``attention_mask`` is all zeros is the null condition (its states are zeros), which is how a
        processor marks an empty prompt. ``encoder_outputs`` (the text encoder's output) skips the encoder.
        """
        if encoder_outputs is None:
            if input_ids is None:
                raise InvalidInputError("pass input_ids (tokenized text) or encoder_outputs")
            if input_ids.dim() != 2:
                raise InvalidInputError(f"input_ids must have shape (batch, text_length), got {tuple(input_ids.shape)}")
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_text_encoder):
                encoder_outputs = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask, **extra)
        hidden = encoder_outputs[0]
        if attention_mask is None:
            attention_mask = torch.ones(hidden.shape[:2], dtype=torch.long, device=hidden.device)
        if attention_mask.shape != hidden.shape[:2]:
            raise InvalidInputError(
                f"attention_mask shape {tuple(attention_mask.shape)} does not match the text states "
                f"{tuple(hidden.shape[:2])}"
            )
        attention_mask = attention_mask.long()
        states = self.enc_to_dec_proj(hidden.to(self.enc_to_dec_proj.weight.dtype))
        return states * attention_mask[..., None].to(states.dtype), attention_mask

    def null_condition(self, batch_size: int, length: int = 1) -> tuple[torch.Tensor, torch.LongTensor]:
        """The null (unconditional) condition: zero states and an all-zero mask, as audiocraft's dropped text."""
        weight = self.enc_to_dec_proj.weight
        states = weight.new_zeros(batch_size, length, self.config.decoder.hidden_size)
        return states, torch.zeros(batch_size, length, dtype=torch.long, device=self.device)

    def _cross_attention_mask(self, mask: torch.LongTensor) -> torch.LongTensor | None:
        """The mask the decoder's cross-attention uses: none in audiocraft mode, else the text mask with null rows
        opened up. A null row's states are zeros, so attending to all of them is exact and avoids a fully masked
        softmax (NaN in sdpa)."""
        if not self.config.decoder.cross_attention_mask:
            return None
        is_null = mask.sum(dim=-1, keepdim=True) == 0
        return torch.where(is_null, torch.ones_like(mask), mask)

    # --- audio ------------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_audio(
        self,
        input_values: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
        sampling_rate: int | None = None,
    ) -> tuple[torch.LongTensor, torch.BoolTensor]:
        """Audio (B, 1, samples) at the codec rate -> codes (B, K, F) and a frame mask (B, F) (True = real audio;
        a frame is real if any of its samples is)."""
        expected_rate = self.config.codec.sampling_rate
        if sampling_rate is not None and sampling_rate != expected_rate:
            raise InvalidInputError(
                f"audio must be sampled at {expected_rate} Hz (the codec's rate), got {sampling_rate} Hz"
            )
        if not isinstance(input_values, torch.Tensor) or input_values.dim() != 3 or input_values.shape[1] != 1:
            shape = tuple(input_values.shape) if isinstance(input_values, torch.Tensor) else type(input_values).__name__
            raise InvalidInputError(f"input_values must be mono audio of shape (batch, 1, samples), got {shape}")
        codes = self.codec.encode(input_values.to(self.codec.dtype), padding_mask=padding_mask)
        hop = self.config.codec.hop_length
        if padding_mask is None:
            frame_mask = torch.ones(codes.shape[0], codes.shape[-1], dtype=torch.bool, device=codes.device)
        else:
            samples = padding_mask.reshape(padding_mask.shape[0], 1, -1).to(torch.float32)
            frame_mask = F.max_pool1d(samples, hop, hop, ceil_mode=True)[:, 0].bool()[:, : codes.shape[-1]]
        return codes, frame_mask

    @torch.no_grad()
    def decode_audio(self, audio_codes: torch.LongTensor) -> torch.FloatTensor:
        """Codes (B, K, F) -> audio (B, 1, F * hop_length) at the codec's sampling rate."""
        return self.codec.decode(audio_codes)

    # --- training forward -------------------------------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_outputs: ModelOutput | tuple | None = None,
        audio_codes: torch.LongTensor | None = None,
        input_values: torch.FloatTensor | None = None,
        padding_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        null_condition_mask: torch.BoolTensor | None = None,
        generator: torch.Generator | None = None,
        past_key_values: EncoderDecoderCache | None = None,
        use_cache: bool | None = None,
        token_type_ids: torch.LongTensor | None = None,
        return_dict: bool | None = None,
    ) -> AudioGenOutput | tuple:
        r"""Teacher-forced pass of the decoder on codec codes, conditioned on text.

        Args:
            input_ids, attention_mask (`(B, L)`): tokenized text (padding marked by 0 in the mask; an all-zero row
                is the null condition). Omit both (and ``encoder_outputs``) for unconditional audio.
            encoder_outputs: the text encoder's output, instead of ``input_ids``.
            audio_codes (`(B, K, T)`): codec codes. The model builds the interleaving pattern itself and returns
                per-frame logits `(B, K, T, card)`.
            input_values (`(B, 1, samples)`), padding_mask (`(B, samples)`): raw audio at the codec rate instead of
                ``audio_codes``; it is encoded by the frozen codec and, unless ``labels`` is given, its codes become the
                labels with padded frames ignored.
            decoder_input_ids (`(B, K, S)`): an already interleaved pattern sequence (what ``generate`` feeds); the
                logits then stay per step `(B, K, S, card)`, and ``labels`` must be per step too.
            labels: target codes aligned with the logits (`(B, K, T)` per frame, or `(B, K, S)` per step), -100 =
                ignore (e.g. padded frames). When ``audio_codes`` is omitted the labels are also the input (ignored
                frames enter as the special token). Giving labels returns the loss: per-codebook cross-entropy on the
                valid positions, averaged over codebooks. Unlike audiocraft, which trims the pattern to ``T + 1`` steps
                and so never trains the last ``delay[q]`` frames of codebook ``q``, every frame is trained here (those
                frames are sampled at generation time).
            null_condition_mask (`(B,)` bool): samples whose text condition is replaced by the null condition. If
                omitted, in training each sample is nulled with probability ``config.decoder.condition_dropout``
                (classifier-free guidance training), drawn from ``generator`` when given. Per sample, as the paper
                says; audiocraft draws one coin for the whole batch.
            past_key_values, use_cache: the decoder's ``EncoderDecoderCache`` (step-wise decoding).
            token_type_ids: passed to text encoders that take them (BERT).

        Returns:
            [`AudioGenOutput`].
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        decoder_config = self.config.decoder
        if input_values is not None:
            if audio_codes is not None or decoder_input_ids is not None:
                raise InvalidInputError("pass only one of input_values, audio_codes and decoder_input_ids")
            audio_codes, frame_mask = self.encode_audio(input_values, padding_mask)
            if labels is None:
                labels = audio_codes.masked_fill(~frame_mask[:, None, :], -100)
        if audio_codes is not None and decoder_input_ids is not None:
            raise InvalidInputError(
                "pass either audio_codes (per frame) or decoder_input_ids (per pattern step), not both"
            )
        if audio_codes is None and decoder_input_ids is None:
            if labels is None:
                raise InvalidInputError("pass audio_codes, input_values, decoder_input_ids or labels")
            ignored = labels == -100
            self._check_codes(labels.masked_fill(ignored, 0), "labels")
            audio_codes = labels.masked_fill(ignored, decoder_config.special_token_id)
        elif audio_codes is not None:
            self._check_codes(audio_codes, "audio_codes")
        frame_inputs = audio_codes is not None
        if labels is not None:
            reference = audio_codes if frame_inputs else decoder_input_ids
            if labels.shape != reference.shape:
                name = "audio_codes" if frame_inputs else "decoder_input_ids"
                raise InvalidInputError(
                    f"labels shape {tuple(labels.shape)} must match the {name} shape {tuple(reference.shape)}"
                )
        batch_size = (audio_codes if frame_inputs else decoder_input_ids).shape[0]

        # Condition: text states, or the null condition; nulled samples get zero states and a zero mask.
        if input_ids is not None or encoder_outputs is not None:
            states, text_mask = self.encode_text(input_ids, attention_mask, encoder_outputs, token_type_ids)
            if states.shape[0] != batch_size:
                raise InvalidInputError(f"text batch ({states.shape[0]}) and audio batch ({batch_size}) differ")
        else:
            states, text_mask = self.null_condition(batch_size)
        if null_condition_mask is None and self.training and decoder_config.condition_dropout > 0:
            draws = torch.rand(batch_size, generator=generator, device=generator.device if generator else "cpu")
            null_condition_mask = draws < decoder_config.condition_dropout
        if null_condition_mask is not None:
            if null_condition_mask.shape != (batch_size,):
                raise InvalidInputError(
                    f"null_condition_mask must have shape ({batch_size},), got {tuple(null_condition_mask.shape)}"
                )
            keep = (~null_condition_mask.bool()).to(states.device)
            states = states * keep[:, None, None].to(states.dtype)
            text_mask = text_mask * keep[:, None].to(text_mask.dtype)

        if use_cache and past_key_values is None:
            past_key_values = EncoderDecoderCache(
                DynamicCache(config=decoder_config), DynamicCache(config=decoder_config)
            )
        if frame_inputs:  # the last pattern step is only ever a target
            decoder_inputs = self.pattern.build(audio_codes, decoder_config.special_token_id)[..., :-1]
        else:
            decoder_inputs = decoder_input_ids
        logits = self.decoder(
            decoder_inputs,
            states,
            encoder_attention_mask=self._cross_attention_mask(text_mask),
            past_key_values=past_key_values,
        )

        logits_mask = None
        if frame_inputs:
            num_frames = audio_codes.shape[-1]
            logits, valid = self.pattern.revert_logits(logits, num_frames)
            logits_mask = valid[None].expand(batch_size, -1, -1)
            if labels is not None:
                logits_mask = logits_mask & (labels != -100)

        loss = codebook_losses = None
        if labels is not None:
            # Per step, holes (special-token targets) never count: the heads cannot even output that token.
            loss_mask = logits_mask if frame_inputs else (labels != -100) & (labels != decoder_config.special_token_id)
            codebook_losses = self._codebook_losses(logits, labels, loss_mask)
            loss = codebook_losses.mean()

        output = AudioGenOutput(
            loss=loss,
            codebook_losses=codebook_losses,
            logits=logits,
            logits_mask=logits_mask,
            past_key_values=past_key_values if use_cache else None,
            encoder_hidden_states=states,
            encoder_attention_mask=text_mask,
        )
        return output if return_dict else output.to_tuple()

    def _check_codes(self, codes: torch.Tensor, name: str) -> None:
        config = self.config.decoder
        if codes.dim() != 3 or codes.shape[1] != config.num_codebooks:
            raise InvalidInputError(
                f"{name} must have shape (batch, num_codebooks={config.num_codebooks}, frames), "
                f"got {tuple(codes.shape)}"
            )
        if codes.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            raise InvalidInputError(f"{name} must be integer codes, got dtype {codes.dtype}")
        if codes.numel() and (codes.min() < 0 or codes.max() >= config.codebook_size):
            raise InvalidInputError(
                f"{name} must hold codes in [0, {config.codebook_size - 1}], got values in "
                f"[{int(codes.min())}, {int(codes.max())}]"
            )

    @staticmethod
    def _codebook_losses(logits: torch.Tensor, labels: torch.LongTensor, mask: torch.BoolTensor) -> torch.Tensor:
        """Cross-entropy of each codebook over its valid positions (audiocraft averages these over codebooks)."""
        losses = []
        for q in range(logits.shape[1]):
            valid = mask[:, q]
            if valid.any():
                losses.append(F.cross_entropy(logits[:, q][valid].float(), labels[:, q][valid]))
            else:  # no valid position (e.g. a tiny clip with a large delay): contributes nothing, keeps the graph
                losses.append(logits[:, q].sum() * 0.0)
        return torch.stack(losses)

    # --- generation -------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        negative_input_ids: torch.LongTensor | None = None,
        negative_attention_mask: torch.Tensor | None = None,
        audio_codes: torch.LongTensor | None = None,
        input_values: torch.FloatTensor | None = None,
        padding_mask: torch.Tensor | None = None,
        sampling_rate: int | None = None,
        duration: float | None = None,
        max_new_frames: int | None = None,
        generation_config: GenerationConfig | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        use_cache: bool = True,
        progress_bar: bool = True,
        token_type_ids: torch.LongTensor | None = None,
        negative_token_type_ids: torch.LongTensor | None = None,
        encoder_outputs: ModelOutput | tuple | torch.Tensor | None = None,
        **kwargs,
    ) -> torch.FloatTensor | AudioGenGenerationOutput:
        r"""Sample audio from text, an audio prompt, both, or nothing.

        The loop is written here rather than through ``GenerationMixin.generate``: with K tokens per step, the delay
        pattern's forced special tokens and prompt slots, and the conditional + null branches in one batch, flat
        ``(batch, vocab)`` logits processors would need the reshaping tricks MusicGen relies on.

        Args:
            input_ids, attention_mask (`(B, L)`): tokenized prompts; rows with an all-zero mask (empty prompts) and
                ``input_ids=None`` (no text at all) use the null condition.
            negative_input_ids, negative_attention_mask (`(B or 1, L')`): a negative prompt used as the guidance's
                "unconditional" branch instead of the null condition.
            audio_codes (`(B, K, T_p)`): an audio prompt as codec codes, continued by the model and kept in the output.
            input_values (`(B, 1, samples)`): an audio prompt as audio at the codec rate (checked against
                ``sampling_rate`` when given); encoded with the codec. A prompt longer than the trained window is
                first cut to the part generation reads (its last ``max_duration - extend_stride`` seconds, see
                :meth:`audio_prompt_samples`), which is also the part the output starts with.
            padding_mask (`(B, samples)`): padding of ``input_values`` (from a processor). All prompts of a batch
                must have the same length; trailing padding common to all rows is cut.
            duration (`float`): seconds of new audio after the prompt (at most 10 minutes). Past the trained window
                (``config.max_duration``) generation continues with a sliding window that keeps the last
                ``max_duration - extend_stride`` seconds as context.
            max_new_frames (`int`): the same in codec frames (``max_new_tokens`` is accepted as an alias).
            encoder_outputs: precomputed text-encoder output (``(B, L, text hidden)`` states first, e.g. the output of
                ``model.text_encoder(input_ids, attention_mask)``, or the states tensor itself) instead of
                ``input_ids``; ``attention_mask`` still marks its padding. Gives the same audio as ``input_ids``.
            generation_config (`GenerationConfig`): defaults for the parameters below (else ``self.generation_config``).
            generator / seed: random source for sampling (a seed builds a generator on the model's device).
            use_cache: decode step by step with a pre-allocated key/value cache ([`AudioGenDecodeCache`]; same
                codes as recomputing the prefix). On CPU with 4 or more rows per step (batch x 2 with guidance)
                it also holds the per-step weights in MKL's packed layout: faster, one more copy of them in memory.
            progress_bar: show a tqdm bar over decoding steps.
            kwargs: generation parameters — ``do_sample``, ``temperature`` (> 0), ``top_k`` (>= 0, 0 = off),
                ``top_p`` (in (0, 1], 1 = off; applied after top-k), ``guidance_scale`` (>= 0; 1 = no guidance and no
                null branch; logits = uncond + (cond - uncond) * scale), ``num_return_sequences``, ``extend_stride``
                (seconds), ``max_new_tokens``, ``return_dict_in_generate``.

        Returns:
            audio `(B * num_return_sequences, 1, samples)`, or an [`AudioGenGenerationOutput`] with audio and codes
            when ``return_dict_in_generate=True``.
        """
        params = self._generation_params(generation_config, duration, max_new_frames, kwargs)
        if generator is not None and seed is not None:
            raise InvalidInputError("pass either generator or seed, not both")
        if seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(check_seed(seed))

        # Audio prompt -> codes.
        if audio_codes is not None and input_values is not None:
            raise InvalidInputError("pass the audio prompt either as audio_codes or as input_values, not both")
        if padding_mask is not None and input_values is None:
            raise InvalidInputError("padding_mask describes input_values; it was given without input_values")
        if input_values is not None:
            if padding_mask is not None:
                lengths = padding_mask.reshape(padding_mask.shape[0], -1).long().sum(dim=-1)
                if (lengths != lengths[0]).any():
                    raise InvalidInputError(
                        f"audio prompts of one batch must have the same length to be continued together, got "
                        f"{lengths.tolist()} samples; generate them in separate calls"
                    )
                input_values = input_values[..., : int(lengths[0])]
            if isinstance(input_values, torch.Tensor) and input_values.dim() == 3:
                # Encode only the part generation reads: a long prompt costs time and memory in the codec otherwise.
                input_values = input_values[
                    ...,
                    input_values.shape[-1]
                    - self.audio_prompt_samples(input_values.shape[-1], params["extend_stride"]) :,
                ]
                if input_values.shape[-1] > MAX_AUDIO_PROMPT_SECONDS * self.config.codec.sampling_rate:
                    raise InvalidInputError(
                        f"the audio prompt is {input_values.shape[-1] / self.config.codec.sampling_rate:g} s long "
                        f"after trimming to what the model reads; at most {MAX_AUDIO_PROMPT_SECONDS:g} s is allowed"
                    )
                if input_values.is_floating_point() and not torch.isfinite(input_values).all():
                    raise InvalidInputError("input_values (the audio prompt) must be finite, got NaN/inf samples")
            audio_codes, _ = self.encode_audio(input_values, sampling_rate=sampling_rate)
        elif sampling_rate is not None and sampling_rate != self.config.codec.sampling_rate:
            raise InvalidInputError(
                f"sampling_rate={sampling_rate} Hz does not match the codec's {self.config.codec.sampling_rate} Hz"
            )
        if audio_codes is not None:
            self._check_codes(audio_codes, "audio prompt codes")
            max_prompt_frames = int(MAX_AUDIO_PROMPT_SECONDS * self.config.frame_rate)
            if audio_codes.shape[-1] > max_prompt_frames:
                raise InvalidInputError(
                    f"audio prompt codes must have at most {max_prompt_frames} frames "
                    f"({MAX_AUDIO_PROMPT_SECONDS:g} s), got {audio_codes.shape[-1]}"
                )
            audio_codes = audio_codes.to(self.device, torch.long)

        # Precomputed text states stand in for input_ids.
        if encoder_outputs is not None:
            if input_ids is not None:
                raise InvalidInputError("pass the text either as input_ids or as encoder_outputs, not both")
            if isinstance(encoder_outputs, torch.Tensor):
                encoder_outputs = (encoder_outputs,)
            hidden = encoder_outputs[0]
            if not isinstance(hidden, torch.Tensor) or hidden.dim() != 3:
                shape = tuple(hidden.shape) if isinstance(hidden, torch.Tensor) else type(hidden).__name__
                raise InvalidInputError(
                    f"encoder_outputs[0] must be the text states of shape (batch, text_length, hidden), got {shape}"
                )
        text_batch = encoder_outputs[0] if encoder_outputs is not None else input_ids

        # Batch size: from the text, else the audio prompt, else 1; everything must agree.
        batch_size = text_batch.shape[0] if text_batch is not None else None
        if audio_codes is not None:
            if batch_size is not None and audio_codes.shape[0] != batch_size:
                raise InvalidInputError(
                    f"audio prompt batch ({audio_codes.shape[0]}) does not match the text batch ({batch_size})"
                )
            batch_size = audio_codes.shape[0]
        batch_size = batch_size or 1
        if batch_size * params["num_return_sequences"] > MAX_PROMPTS_PER_CALL:
            raise InvalidInputError(
                f"batch size x num_return_sequences must be in [1, {MAX_PROMPTS_PER_CALL}] sequences per call, got "
                f"{batch_size} x {params['num_return_sequences']} = {batch_size * params['num_return_sequences']}"
            )

        # Conditions: the conditional branch and, with guidance, the null/negative branch stacked after it.
        if text_batch is not None:
            cond_states, cond_mask = self.encode_text(
                input_ids, attention_mask, encoder_outputs=encoder_outputs, token_type_ids=token_type_ids
            )
        else:
            cond_states, cond_mask = self.null_condition(batch_size)
        use_guidance = params["guidance_scale"] != 1.0 and (text_batch is not None or negative_input_ids is not None)
        if negative_input_ids is not None:
            if negative_input_ids.shape[0] not in (1, batch_size):
                raise InvalidInputError(
                    f"negative prompt batch ({negative_input_ids.shape[0]}) must be 1 or the prompt batch "
                    f"({batch_size})"
                )
            neg_states, neg_mask = self.encode_text(
                negative_input_ids, negative_attention_mask, token_type_ids=negative_token_type_ids
            )
            neg_states = neg_states.expand(batch_size, -1, -1)
            neg_mask = neg_mask.expand(batch_size, -1)
        else:
            neg_states, neg_mask = self.null_condition(batch_size, cond_states.shape[1])
        if use_guidance:
            length = max(cond_states.shape[1], neg_states.shape[1])
            states = torch.cat([_pad_time(cond_states, length), _pad_time(neg_states, length)])
            text_mask = torch.cat([_pad_time(cond_mask, length), _pad_time(neg_mask, length)])
        else:
            states, text_mask = cond_states, cond_mask

        # One copy of every condition / prompt per returned sequence ([a, a, b, b] order, as GenerationMixin).
        copies = params["num_return_sequences"]
        if copies > 1:
            branches = 2 if use_guidance else 1
            states = (
                states.reshape(branches, batch_size, *states.shape[1:]).repeat_interleave(copies, dim=1).flatten(0, 1)
            )
            text_mask = text_mask.reshape(branches, batch_size, -1).repeat_interleave(copies, dim=1).flatten(0, 1)
            if audio_codes is not None:
                audio_codes = audio_codes.repeat_interleave(copies, dim=0)
        batch_size *= copies
        if audio_codes is None:
            audio_codes = torch.zeros(
                batch_size, self.config.decoder.num_codebooks, 0, dtype=torch.long, device=self.device
            )
        condition = (states, self._cross_attention_mask(text_mask))

        # Windows: one if everything fits in the trained window, else a sliding window.
        window_frames = self.config.max_frames
        stride_frames = int(params["extend_stride"] * self.config.frame_rate)  # checked by _generation_params
        prompt_frames = audio_codes.shape[-1]
        total_frames = prompt_frames + params["new_frames"]
        windows = plan_generation_windows(prompt_frames, total_frames, window_frames, stride_frames)
        total_steps = sum(
            self.pattern.num_steps(size) - self.pattern.first_step_of_frame(context) for context, size in windows
        )

        codes = audio_codes
        with tqdm(total=total_steps, desc="AudioGen", unit="step", disable=not progress_bar) as bar:
            for context, size in windows:
                context_codes = codes[..., codes.shape[-1] - context :]
                window = self._generate_window(
                    condition, context_codes, size, params, use_guidance, generator, use_cache, bar
                )
                codes = torch.cat([codes, window[..., context:]], dim=-1)

        audio = self.decode_audio(codes)
        if params["return_dict_in_generate"]:
            return AudioGenGenerationOutput(audio_values=audio, audio_codes=codes, audio=audio, sequences=codes)
        return audio

    def audio_prompt_samples(self, num_samples: int, extend_stride: float) -> int:
        """How many of the last samples (at the codec's rate) of a ``num_samples`` audio prompt generation reads.

        A prompt shorter than the trained window is read whole; a longer one only through its last ``max_duration -
        extend_stride`` seconds (the context of the sliding window, see :func:`plan_generation_windows`), so trimming
        it to those samples before encoding changes nothing but the cost (and the output, which starts with the part
        of the prompt that was read).
        """
        hop = self.config.codec.hop_length
        window_frames = self.config.max_frames
        if -(-num_samples // hop) < window_frames:
            return num_samples
        stride_frames = int(extend_stride * self.config.frame_rate)
        return min(num_samples, (window_frames - stride_frames) * hop)

    def _generation_params(
        self,
        generation_config: GenerationConfig | None,
        duration: float | None,
        max_new_frames: int | None,
        kwargs: dict,
    ) -> dict:
        """Call kwargs merged over the generation config and checked (by :class:`AudioGenGenerationConfig`), plus
        the number of frames to generate from ``duration`` / ``max_new_frames`` / ``max_new_tokens``."""
        generation_config = generation_config or self.generation_config
        if not isinstance(generation_config, AudioGenGenerationConfig):  # e.g. read from generation_config.json
            generation_config = AudioGenGenerationConfig.from_dict(generation_config.to_dict())
        merged = generation_config.merged(kwargs, self.config)
        params = {name: getattr(merged, name) for name in AudioGenGenerationConfig.SUPPORTED}
        frame_rate = self.config.frame_rate

        explicit_frames = max_new_frames if max_new_frames is not None else kwargs.get("max_new_tokens")
        if duration is not None and explicit_frames is not None:
            raise InvalidInputError(
                "pass either duration (seconds) or max_new_frames / max_new_tokens (frames), not both"
            )
        if duration is not None:
            duration = check_float("duration", duration, min=0, max=MAX_GENERATION_SECONDS, min_inclusive=False)
            new_frames = int(duration * frame_rate)
            if new_frames < 1:
                raise InvalidInputError(
                    f"duration={duration:g} s is shorter than one codec frame: it must be in [{1 / frame_rate:g}, "
                    f"{MAX_GENERATION_SECONDS:g}] seconds"
                )
        else:
            name = "max_new_frames" if max_new_frames is not None else "max_new_tokens"
            new_frames = explicit_frames if explicit_frames is not None else params["max_new_tokens"]
            new_frames = check_int(
                f"{name} ({MAX_GENERATION_SECONDS:g} s at {frame_rate} frames/s at most)",
                new_frames,
                min=1,
                max=int(MAX_GENERATION_SECONDS * frame_rate),
            )
        params["new_frames"] = int(new_frames)
        return params

    def _generate_window(
        self,
        condition: tuple[torch.Tensor, torch.Tensor | None],
        prompt: torch.LongTensor,
        num_frames: int,
        params: dict,
        use_guidance: bool,
        generator: torch.Generator | None,
        use_cache: bool,
        bar: tqdm,
    ) -> torch.LongTensor:
        """Continue ``prompt`` (B, K, T_p) to ``num_frames`` frames within one window; returns (B, K, num_frames)."""
        states, cross_mask = condition
        batch_size, num_codebooks, prompt_frames = prompt.shape
        special = self.config.decoder.special_token_id

        codes = prompt.new_full((batch_size, num_codebooks, num_frames), _UNKNOWN_TOKEN)
        codes[..., :prompt_frames] = prompt
        sequence = self.pattern.build(codes, special)  # holes = special, slots to sample = _UNKNOWN_TOKEN
        cache = AudioGenDecodeCache(self.decoder, states, cross_mask, sequence.shape[-1]) if use_cache else None

        fed = 0  # steps already in the cache
        for step in range(self.pattern.first_step_of_frame(prompt_frames), sequence.shape[-1]):
            if use_cache:
                logits = self.decoder.step(sequence[..., fed:step], cache, fed)
            else:
                inputs = sequence[..., :step]
                if use_guidance:
                    inputs = torch.cat([inputs, inputs])
                logits = self.decoder(inputs, states, encoder_attention_mask=cross_mask)[:, :, -1]
            if use_guidance:
                cond_logits, uncond_logits = logits.float().chunk(2)
                logits = uncond_logits + (cond_logits - uncond_logits) * params["guidance_scale"]
            tokens = sample_next_tokens(
                logits,
                do_sample=params["do_sample"],
                temperature=params["temperature"],
                top_k=params["top_k"],
                top_p=params["top_p"],
                generator=generator,
            )
            current = sequence[..., step]
            sequence[..., step] = torch.where(current == _UNKNOWN_TOKEN, tokens, current)
            fed = step if use_cache else 0
            bar.update(1)

        codes, _ = self.pattern.revert_codes(sequence, num_frames)
        return codes


def _pad_time(x: torch.Tensor, length: int) -> torch.Tensor:
    """Zero-pad dim 1 of (B, L, ...) to ``length`` (zero states / zero mask = padding)."""
    if x.shape[1] == length:
        return x
    pad = x.new_zeros(x.shape[0], length - x.shape[1], *x.shape[2:])
    return torch.cat([x, pad], dim=1)


__all__ = [
    "AudioGenDecodeCache",
    "AudioGenDecoder",
    "AudioGenForConditionalGeneration",
    "AudioGenGenerationOutput",
    "AudioGenOutput",
    "AudioGenPreTrainedModel",
    "plan_generation_windows",
    "sample_next_tokens",
]
