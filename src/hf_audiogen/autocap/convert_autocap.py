"""Convert a reference AutoCap checkpoint (snap-research/GenAU ``AutoCap``, a PyTorch Lightning ``.ckpt``) to
[`AutoCapForConditionalGeneration`].

The reference LightningModule (``AutoCap/src/models/pl_htsat_q_bart_captioning.py``) is saved as
``{"state_dict": {...}, ...}`` (its own loader also accepts ``{"model": {...}}``). The converter

1. builds an [`AutoCapConfig`] from the training YAML (``autocap-full.yaml`` / ``settings/*.yaml``, optional) and the
   tensor shapes: Q-Former width, depth, queries and FFN size, BART sizes, position tables, whether there is a CLAP
   token; refusing settings this port does not implement (text Q-Former, no audio Q-Former, resized BART vocabulary,
   plain-text metadata);
2. renames every key (table below), splitting the fused Swin attention projection ``qkv`` (q|k|v stacked on dim 0)
   into ``query`` / ``key`` / ``value``; keys with no counterpart are dropped, each for a named reason
   (``DROPPED_KEY_REASONS``). Unknown, missing or mis-shaped keys are refused with one error that lists them all;
3. checks values the port keeps only once: the second copy of BART that ``SpecialTokensEmbeddings.model`` puts in
   the state dict and BART's tied word-table copies must equal the originals.

```
encoder.audio_enc.* (HTSAT)                   -> audio_encoder.audio_encoder.*   (Swin renames below)
clap_model.model.audio_branch.* (HTSAT)       -> clap_model.audio_model.audio_encoder.*
clap_model.model.audio_projection.{0,2}.*     -> clap_model.audio_projection.linear{1,2}.*
enc_to_dec_proj.*                             -> audio_projection.*
audio_position_embedding.weight               -> audio_position_embedding.weight
audio_Qfromer_layernorm_embedding.* (sic)     -> audio_layernorm.*
audio_query_tokens                            -> query_tokens
audio_Qformer.bert.embeddings.LayerNorm.*     -> qformer.layernorm.*
audio_Qformer.bert.encoder.layer.{i}.{attention,crossattention}.self.*
                                              -> qformer.encoder.layer.{i}.{attention,crossattention}.attention.*
audio_Qformer.bert.encoder.layer.{i}.{attention.output,crossattention.output,intermediate_query,output_query}.*
                                              -> qformer.encoder.layer.{i}.<same>.* (LayerNorm keeps its name)
audio_qformer_proj.*                          -> qformer_projection.*
clap_proj.*, clap_layernorm.*                 -> clap_projection.*, clap_layernorm.*
special_tokens_embed.special_token_embed.weight
                                              -> tag_embeddings.weight
decoder.* (BartForConditionalGeneration)      -> language_model.*

Swin (HTSAT / CLAP audio tower), per block layers.{i}.blocks.{j}:
  norm1 / norm2 -> layernorm_before / layernorm_after     attn.qkv -> attention.self.{query,key,value}
  attn.proj -> attention.output.dense                     attn.relative_position_{bias_table,index} -> attention.self.*
  mlp.fc1 / mlp.fc2 -> intermediate.dense / output.dense
and bn0 -> batch_norm; patch_embed.*, layers.{i}.downsample.*, norm.* keep their names.
```

The CLAP weights may also come from a separate LAION-CLAP checkpoint (``clap_checkpoint``, e.g.
``music_speech_audioset_epoch_15_esc_89.98.pt``), for training checkpoints saved without them.

Example:

```python
>>> from hf_audiogen.autocap.convert_autocap import convert_autocap_checkpoint
>>> model = convert_autocap_checkpoint("autocap-full.ckpt", reference_config="autocap-full.yaml",
...                                    tokenizer="facebook/bart-base", out_dir="autocap-hf")  # doctest: +SKIP
```
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Any

import torch
import yaml
from transformers import AutoConfig, Blip2QFormerConfig, ClapAudioConfig
from transformers.initialization import no_init_weights

from ..checkpoint_io import (
    check_input_file,
    check_out_dir,
    check_tokenizer,
    load_tokenizer,
    load_torch_file,
    load_yaml_file,
    one_line,
)
from ..codec.convert_audiocraft import _check_converted_keys
from ..validation import InvalidInputError
from .configuration_autocap import (
    BART_BASE_KWARGS,
    CLAP_HTSAT_BASE_KWARGS,
    HTSAT_KWARGS,
    QFORMER_KWARGS,
    TAG_TOKENS,
    AutoCapConfig,
)
from .feature_extraction_autocap import AutoCapFeatureExtractor
from .modeling_autocap import AutoCapForConditionalGeneration
from .processing_autocap import AutoCapProcessor

logger = logging.getLogger(__name__)

# Why each kind of reference key has no counterpart in the converted model.
FRONT_END = "fixed STFT / mel-filter weights of the reference's in-model front-end (AutoCapFeatureExtractor does it)"
TAGGING_HEAD = "AudioSet tagging head (tscam_conv / head, 527 classes): AutoCap reads the frame features before it"
SHIFT_MASK = "shifted-window attention mask buffer: transformers' ClapAudioLayer recomputes it from the input size"
CLAP_TEXT = "LAION-CLAP text tower: AutoCap uses only CLAP's audio embedding"
CLAP_TRAINING = "LAION-CLAP contrastive-training parts (audio_transform MLP, logit scales): not on the embedding path"
QFORMER_POSITION_IDS = "position-id buffer of LAVIS' BERT embeddings: AutoCap removed the Q-Former's position table"
TIED_COPY = "tied copy of BART's word table decoder.model.shared.weight (checked identical)"
BART_DUPLICATE = "second reference to the same BART (SpecialTokensEmbeddings.model), checked equal to decoder.model.*"
REPLACED_CLAP = "CLAP weights of the checkpoint, replaced by the ones of clap_checkpoint"
DROPPED_KEY_REASONS = (
    FRONT_END,
    TAGGING_HEAD,
    SHIFT_MASK,
    CLAP_TEXT,
    CLAP_TRAINING,
    QFORMER_POSITION_IDS,
    TIED_COPY,
    BART_DUPLICATE,
    REPLACED_CLAP,
)

# BART ties these to decoder.model.shared.weight.
_TIED_BART_KEYS = (
    "decoder.model.encoder.embed_tokens.weight",
    "decoder.model.decoder.embed_tokens.weight",
    "decoder.lm_head.weight",
)
_SHARED_BART_KEY = "decoder.model.shared.weight"
_BART_COPY_PREFIX = "special_tokens_embed.model."


@dataclass(frozen=True)
class _Rule:
    """What becomes of one reference key: ``targets`` (our key; three keys = a fused q|k|v split on dim 0) or
    ``drop`` (the reason it is not kept)."""

    targets: tuple[str, ...] = ()
    drop: str | None = None


# ---------------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------------
def _torch_load(path: str | os.PathLike, what: str, allow_pickle: bool) -> Any:
    # Tensors, dicts, strings and numbers only by default: a checkpoint from the internet is untrusted code.
    return load_torch_file(
        path, what, allow_pickle=allow_pickle, force_hint="convert with allow_pickle=True (CLI: --allow-pickle)"
    )


def _as_state_dict(loaded: Any, what: str) -> dict[str, torch.Tensor]:
    """The state dict inside a Lightning checkpoint (``state_dict``, or ``model`` as the reference's loader also
    accepts), or the dict itself when it is already one."""
    if not isinstance(loaded, dict):
        raise InvalidInputError(
            f"{what} must be a dict (a Lightning checkpoint or a state dict), got {type(loaded).__name__}"
        )
    for field in ("state_dict", "model"):
        if isinstance(loaded.get(field), dict):
            loaded = loaded[field]
            break
    else:
        if not loaded or not all(isinstance(value, torch.Tensor) for value in loaded.values()):
            raise InvalidInputError(
                f"{what} has no 'state_dict' (or 'model') entry and is not a state dict itself; its top-level keys "
                f"are {sorted(map(str, loaded))[:20]}"
            )
    not_tensors = sorted(str(key) for key, value in loaded.items() if not isinstance(value, torch.Tensor))
    if not_tensors:
        raise InvalidInputError(f"{what}: the state dict has non-tensor entries {not_tensors[:10]}; expected tensors")
    if not loaded:
        raise InvalidInputError(f"{what} has an empty state dict; expected the model's weights")
    return loaded


def load_autocap_checkpoint(
    checkpoint: dict | str | os.PathLike, allow_pickle: bool = False
) -> dict[str, torch.Tensor]:
    """The state dict of a reference AutoCap checkpoint (a path or an already loaded dict).

    Args:
        allow_pickle: unpickle arbitrary Python objects in the file (only for files you trust); by default only
            tensors and plain containers are read.
    """
    if isinstance(checkpoint, (str, os.PathLike)):
        checkpoint = _torch_load(checkpoint, "AutoCap checkpoint", allow_pickle)
    return _as_state_dict(checkpoint, "the AutoCap checkpoint")


def load_laion_clap_checkpoint(
    checkpoint: dict | str | os.PathLike, allow_pickle: bool = False
) -> dict[str, torch.Tensor]:
    """A LAION-CLAP checkpoint (``laion_clap``'s ``*.pt``: ``{"state_dict": {"module.audio_branch...": ...}}``) as
    ``clap_model.model.*`` keys of an AutoCap state dict."""
    if isinstance(checkpoint, (str, os.PathLike)):
        checkpoint = _torch_load(checkpoint, "LAION-CLAP checkpoint", allow_pickle)
    state_dict = _as_state_dict(checkpoint, "the LAION-CLAP checkpoint")
    # laion_clap strips the DistributedDataParallel prefix the same way when loading.
    state_dict = {key.removeprefix("module."): value for key, value in state_dict.items()}
    if not any(key.startswith("audio_branch.") for key in state_dict):
        raise InvalidInputError(
            "the LAION-CLAP checkpoint has no audio_branch.* keys; its keys start with "
            f"{sorted({key.split('.')[0] for key in state_dict})}"
        )
    return {f"clap_model.model.{key}": value for key, value in state_dict.items()}


class _TaggedLoader(yaml.SafeLoader):
    """YAML loader that reads the reference's custom tags (``target: !module src.models...``) as plain strings."""


_TaggedLoader.add_multi_constructor("!", lambda loader, tag, node: f"!{tag} {loader.construct_scalar(node)}")


def load_reference_config(reference_config: dict | str | os.PathLike) -> dict:
    """The reference training YAML (a path or an already parsed dict) as a dict."""
    if isinstance(reference_config, (str, os.PathLike)):
        path = os.fspath(reference_config)
        reference_config = load_yaml_file(path, "reference config", _TaggedLoader)
        if not isinstance(reference_config, dict):
            raise InvalidInputError(
                f"the reference config {path} must be a YAML mapping (the training YAML, e.g. "
                f"autocap-full.yaml), got {type(reference_config).__name__}"
            )
    if not isinstance(reference_config, dict):
        raise InvalidInputError(f"the reference config must be a YAML mapping, got {type(reference_config).__name__}")
    return reference_config


def _get(config: dict, dotted: str, default: Any = None) -> Any:
    value = config
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value


def _get_number(config: dict, dotted: str, cast: type, default: Any) -> Any:
    """``cast`` (int or float) of the reference config's field ``dotted``, or an error naming the field and value."""
    value = _get(config, dotted, default)
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")) or (cast is int and not number.is_integer()):
            raise ValueError
        return int(number) if cast is int else number
    except ValueError:
        kind = "an integer" if cast is int else "a finite number"
        raise InvalidInputError(f"the reference config's {dotted} must be {kind}, got {value!r}") from None


# ---------------------------------------------------------------------------------------------------------------------
# Reference config + shapes -> AutoCapConfig
# ---------------------------------------------------------------------------------------------------------------------
def _check_supported(reference: dict) -> None:
    """Refuse reference settings that change the network in ways AutoCapForConditionalGeneration does not have."""
    unsupported = []
    for dotted, supported in (
        ("model.use_audio_qformer", True),
        ("model.use_text_qformer", False),
        ("model.add_special_tokens", True),
        ("model.resize_token_embeds", False),
        ("model.meta_input", True),
        ("audio_encoder_args.model_arch", "transformer"),
        ("audio_encoder_args.model_name", "htsat"),
    ):
        value = _get(reference, dotted, supported)
        if value != supported:
            unsupported.append(f"{dotted}={value!r} (supported: {supported!r})")
    if unsupported:
        raise InvalidInputError(
            "the reference config has settings this port does not implement: " + "; ".join(unsupported)
        )


def _require(state_dict: dict[str, torch.Tensor], key: str) -> torch.Tensor:
    if key not in state_dict:
        raise InvalidInputError(
            f"the AutoCap checkpoint lacks {key!r}, which every AutoCap model has: is it an AutoCap one?"
        )
    return state_dict[key]


def _layer_indices(state_dict: dict[str, torch.Tensor], pattern: str) -> list[int]:
    regex = re.compile(pattern)
    return sorted({int(match.group(1)) for key in state_dict if (match := regex.fullmatch(key))})


def _swin_config(state_dict: dict[str, torch.Tensor], prefix: str, defaults: dict) -> dict:
    """``ClapAudioConfig`` fields of the HTSAT whose reference keys start with ``prefix``, read from the shapes: stage
    depths and heads, window, patch size, widths, MLP ratio, mel bins and (from a shifted-window mask buffer, when a
    stage has two blocks) the spectrogram size; ``defaults`` for what the weights do not tell."""
    stages = _layer_indices(state_dict, re.escape(prefix) + r"layers\.(\d+)\.blocks\.0\.norm1\.weight")
    if not stages:
        raise InvalidInputError(f"the checkpoint has no HTSAT under {prefix}*: is it an AutoCap checkpoint?")
    block = f"{prefix}layers.{{}}.blocks.{{}}."
    depths = [
        len(_layer_indices(state_dict, re.escape(f"{prefix}layers.{i}.blocks.") + r"(\d+)\.norm1\.weight"))
        for i in stages
    ]
    tables = [_require(state_dict, block.format(i, 0) + "attn.relative_position_bias_table") for i in stages]
    window = (round(tables[0].shape[0] ** 0.5) + 1) // 2  # the table has (2 * window - 1) ** 2 rows
    patch = _require(state_dict, prefix + "patch_embed.proj.weight")  # (width, 1, patch, patch); stride = patch
    width = patch.shape[0]
    fields = dict(
        defaults,
        depths=depths,
        num_attention_heads=[table.shape[1] for table in tables],
        window_size=window,
        patch_size=patch.shape[-1],
        patch_stride=[patch.shape[-1]] * 2,
        patch_embeds_hidden_size=width,
        hidden_size=_require(state_dict, prefix + "norm.weight").shape[0],
        num_mel_bins=_require(state_dict, prefix + "bn0.weight").shape[0],
        mlp_ratio=_require(state_dict, block.format(0, 0) + "mlp.fc1.weight").shape[0] / width,
    )
    for stage in stages:
        if depths[stage] > 1 and block.format(stage, 1) + "attn_mask" in state_dict:
            windows = state_dict[block.format(stage, 1) + "attn_mask"].shape[0]  # (grid / window) ** 2 windows
            fields["spec_size"] = round(windows**0.5) * window * 2**stage * patch.shape[-1]
            break
    return fields


def autocap_config_from_checkpoint(
    state_dict: dict[str, torch.Tensor], reference_config: dict | str | os.PathLike | None = None
) -> AutoCapConfig:
    """[`AutoCapConfig`] of a reference checkpoint.

    From the tensor shapes: both Swin towers (see ``_swin_config``), the Q-Former's width, depth, FFN size,
    cross-attention layers and number of queries, the audio position table, BART's sizes (vocabulary, width, depths,
    FFN sizes, positions; heads = width / 64 as in every facebook/bart-* model), the CLAP embedding size and whether
    there is a CLAP token. From the reference YAML (when given): the Q-Former's heads (default 8) and the dropouts.
    The rest is the reference's fixed design (e.g. each HTSAT time step repeated 32 times).
    """
    reference = load_reference_config(reference_config) if reference_config is not None else {}
    _check_supported(reference)

    query_tokens = _require(state_dict, "audio_query_tokens")
    layer = r"audio_Qformer\.bert\.encoder\.layer\.(\d+)"
    qformer_layers = _layer_indices(state_dict, layer + r"\.attention\.self\.query\.weight")
    cross_layers = _layer_indices(state_dict, layer + r"\.crossattention\.self\.query\.weight")
    if not qformer_layers or not cross_layers or cross_layers[0] != 0:
        raise InvalidInputError(
            "the checkpoint has no audio_Qformer.bert.encoder.layer.* Q-Former with cross-attention"
        )
    frequency = cross_layers[1] - cross_layers[0] if len(cross_layers) > 1 else len(qformer_layers)
    if cross_layers != list(range(0, len(qformer_layers), frequency)):
        raise InvalidInputError(f"the Q-Former has cross-attention in layers {cross_layers}: not every n-th layer")
    intermediate = _require(state_dict, "audio_Qformer.bert.encoder.layer.0.intermediate_query.dense.weight")
    qformer_config = Blip2QFormerConfig(
        **{
            **QFORMER_KWARGS,
            "hidden_size": query_tokens.shape[-1],
            "num_hidden_layers": len(qformer_layers),
            "intermediate_size": intermediate.shape[0],
            "cross_attention_frequency": frequency,
            "num_attention_heads": _get_number(
                reference, "audio_qformer.num_attention_heads", int, QFORMER_KWARGS["num_attention_heads"]
            ),
        }
    )

    shared = _require(state_dict, _SHARED_BART_KEY)
    vocab_size, d_model = shared.shape
    if d_model % 64:
        raise InvalidInputError(
            f"BART's width {d_model} is not a multiple of 64, so its number of heads is unknown: pass config=... "
            "(an AutoCapConfig) to convert this checkpoint"
        )
    positions = _require(state_dict, "decoder.model.encoder.embed_positions.weight")
    ffn = {
        side: _require(state_dict, f"decoder.model.{side}.layers.0.fc1.weight").shape[0]
        for side in ("encoder", "decoder")
    }
    text_config = AutoConfig.for_model(
        "bart",
        **{
            **BART_BASE_KWARGS,
            "vocab_size": vocab_size,
            "d_model": d_model,
            "encoder_layers": len(_layer_indices(state_dict, r"decoder\.model\.encoder\.layers\.(\d+)\.fc1\.weight")),
            "decoder_layers": len(_layer_indices(state_dict, r"decoder\.model\.decoder\.layers\.(\d+)\.fc1\.weight")),
            "encoder_ffn_dim": ffn["encoder"],
            "decoder_ffn_dim": ffn["decoder"],
            "encoder_attention_heads": d_model // 64,
            "decoder_attention_heads": d_model // 64,
            "max_position_embeddings": positions.shape[0] - 2,  # BART's learned positions start at offset 2
        },
    )

    use_clap = "clap_proj.weight" in state_dict
    clap_config = dict(CLAP_HTSAT_BASE_KWARGS)
    if use_clap:
        clap_config["projection_dim"] = state_dict["clap_proj.weight"].shape[1]
        if any(key.startswith("clap_model.model.audio_branch.") for key in state_dict):
            clap_config = _swin_config(state_dict, "clap_model.model.audio_branch.", clap_config)

    audio_config = ClapAudioConfig(**_swin_config(state_dict, "encoder.audio_enc.", HTSAT_KWARGS))
    max_audio_positions = _require(state_dict, "audio_position_embedding.weight").shape[0]
    try:
        return AutoCapConfig(
            audio_config=audio_config,
            clap_config=ClapAudioConfig(**clap_config),
            qformer_config=qformer_config,
            text_config=text_config,
            use_clap=use_clap,
            num_query_tokens=query_tokens.shape[1],
            max_audio_positions=max_audio_positions,
            audio_dropout=_get_number(reference, "model.audio_features_dropout_p", float, 0.2),
            metadata_dropout=_get_number(reference, "model.text_features_dropout_p", float, 0.2),
        )
    except InvalidInputError:
        raise
    except ValueError as err:  # e.g. a dropout of the reference config out of [0, 1)
        raise InvalidInputError(
            f"the checkpoint and reference config describe a model AutoCapConfig cannot hold: {one_line(err)}"
        ) from err


def feature_extractor_from_reference_config(
    reference_config: dict | str | os.PathLike | None, config: AutoCapConfig | None = None
) -> AutoCapFeatureExtractor:
    """[`AutoCapFeatureExtractor`] with the reference's ``audio_args`` (rate, STFT, mel range, clip length; its
    defaults when no config is given) and LAION-CLAP's fixed 48 kHz front-end, with as many mel bins as ``config``'s
    towers read (and no CLAP front-end for a model without the CLAP token)."""
    reference = load_reference_config(reference_config) if reference_config is not None else {}
    if not isinstance(_get(reference, "audio_args", {}) or {}, dict):
        raise InvalidInputError(
            f"the reference config's audio_args must be a mapping, got {_get(reference, 'audio_args')!r}"
        )
    defaults = AutoCapFeatureExtractor()

    def arg(name, cast, default):
        return _get_number(reference, f"audio_args.{name}", cast, default)

    try:
        extractor = _feature_extractor(arg, defaults, config)
    except InvalidInputError:
        raise
    except ValueError as err:  # AudioError included: a rate, STFT size or mel range the front-end refuses
        raise InvalidInputError(
            f"the reference config's audio_args describe a front-end AutoCapFeatureExtractor "
            f"cannot build: {one_line(err)}"
        ) from err
    if config is not None and extractor.feature_size != config.audio_config.num_mel_bins:
        raise InvalidInputError(
            f"the reference config's audio_args.n_mels={extractor.feature_size} but the checkpoint's HTSAT reads "
            f"{config.audio_config.num_mel_bins} mel bins"
        )
    return extractor


def _feature_extractor(arg, defaults: AutoCapFeatureExtractor, config: AutoCapConfig | None):
    return AutoCapFeatureExtractor(
        feature_size=arg("n_mels", int, defaults.feature_size),
        sampling_rate=arg("sr", int, defaults.sampling_rate),
        hop_length=arg("hop_length", int, defaults.hop_length),
        n_fft=arg("n_fft", int, defaults.n_fft),
        frequency_min=arg("f_min", float, defaults.frequency_min),
        frequency_max=arg("f_max", float, defaults.frequency_max),
        max_length_s=arg("max_length", float, defaults.max_length_s),
        clap_sampling_rate=None if config is not None and not config.use_clap else defaults.clap_sampling_rate,
        clap_feature_size=config.clap_config.num_mel_bins if config is not None else defaults.clap_feature_size,
    )


# ---------------------------------------------------------------------------------------------------------------------
# Key renames
# ---------------------------------------------------------------------------------------------------------------------
_SWIN_BLOCK = re.compile(r"(layers\.\d+\.blocks\.\d+\.)(.+)")
_SWIN_BLOCK_RENAMES = {
    "norm1.weight": "layernorm_before.weight",
    "norm1.bias": "layernorm_before.bias",
    "norm2.weight": "layernorm_after.weight",
    "norm2.bias": "layernorm_after.bias",
    "attn.proj.weight": "attention.output.dense.weight",
    "attn.proj.bias": "attention.output.dense.bias",
    "attn.relative_position_bias_table": "attention.self.relative_position_bias_table",
    "attn.relative_position_index": "attention.self.relative_position_index",
    "mlp.fc1.weight": "intermediate.dense.weight",
    "mlp.fc1.bias": "intermediate.dense.bias",
    "mlp.fc2.weight": "output.dense.weight",
    "mlp.fc2.bias": "output.dense.bias",
}
_SWIN_SAME_NAME = re.compile(
    r"patch_embed\.(proj|norm)\.(weight|bias)|norm\.(weight|bias)"
    r"|layers\.\d+\.downsample\.(reduction\.weight|norm\.weight|norm\.bias)"
)


def _rename_swin(key: str, prefix: str) -> _Rule | None:
    """One key of the reference HTSAT (AutoCap's ``HTSAT_Swin_Transformer`` or LAION-CLAP's ``audio_branch``, which
    share their names) -> transformers' ``ClapAudioEncoder`` under ``prefix``."""
    if key.startswith(("audio_feats_extractor.", "spectrogram_extractor.", "logmel_extractor.")):
        return _Rule(drop=FRONT_END)
    if key.startswith(("tscam_conv.", "head.")):
        return _Rule(drop=TAGGING_HEAD)
    if key.startswith("bn0."):
        return _Rule((prefix + "batch_norm." + key.removeprefix("bn0."),))
    if _SWIN_SAME_NAME.fullmatch(key):
        return _Rule((prefix + key,))
    match = _SWIN_BLOCK.fullmatch(key)
    if match is None:
        return None
    block, rest = match.groups()
    if rest == "attn_mask":
        return _Rule(drop=SHIFT_MASK)
    if rest in ("attn.qkv.weight", "attn.qkv.bias"):
        kind = rest.rsplit(".", 1)[1]
        return _Rule(tuple(f"{prefix}{block}attention.self.{name}.{kind}" for name in ("query", "key", "value")))
    if rest in _SWIN_BLOCK_RENAMES:
        return _Rule((prefix + block + _SWIN_BLOCK_RENAMES[rest],))
    return None


_QFORMER_LAYER = re.compile(r"bert\.encoder\.layer\.(\d+)\.(.+)")
_QFORMER_MODULE = re.compile(
    r"(attention|crossattention)\.(self\.(query|key|value)|output\.(dense|LayerNorm))"
    r"|intermediate_query\.dense|output_query\.(dense|LayerNorm)"
)


def _rename_qformer(key: str, prefix: str = "") -> _Rule | None:
    """One key of AutoCap's LAVIS Q-Former (``BertLMHeadModel`` with word / position embeddings, text FFNs and LM
    head removed; keys ``bert.*``) -> transformers' ``Blip2QFormerModel`` under ``prefix``."""
    if key == "bert.embeddings.position_ids":
        return _Rule(drop=QFORMER_POSITION_IDS)
    if key in ("bert.embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.bias"):
        return _Rule((prefix + "layernorm." + key.rsplit(".", 1)[1],))
    match = _QFORMER_LAYER.fullmatch(key)
    if match is None:
        return None
    index, rest = match.groups()
    module, _, kind = rest.rpartition(".")
    if kind not in ("weight", "bias") or not _QFORMER_MODULE.fullmatch(module):
        return None
    module = module.replace("attention.self.", "attention.attention.")  # both attention and crossattention
    return _Rule((f"{prefix}encoder.layer.{index}.{module}.{kind}",))


_DIRECT_RENAMES = {
    "enc_to_dec_proj.": "audio_projection.",
    "audio_Qfromer_layernorm_embedding.": "audio_layernorm.",  # (sic) the reference's spelling
    "audio_qformer_proj.": "qformer_projection.",
    "clap_proj.": "clap_projection.",
    "clap_layernorm.": "clap_layernorm.",
}
_SINGLE_KEYS = {
    "audio_position_embedding.weight": "audio_position_embedding.weight",
    "audio_query_tokens": "query_tokens",
    "special_tokens_embed.special_token_embed.weight": "tag_embeddings.weight",
}
_CLAP_TEXT_PREFIXES = ("text_branch.", "text_transform.", "text_projection.", "token_embedding.", "ln_final.")


def _rename_clap(rest: str) -> _Rule | None:
    """One key of ``clap_model.model.*`` (LAION-CLAP's ``CLAP``) -> transformers' ``ClapAudioModelWithProjection``."""
    if rest.startswith("audio_branch."):
        return _rename_swin(rest.removeprefix("audio_branch."), "clap_model.audio_model.audio_encoder.")
    match = re.fullmatch(r"audio_projection\.([02])\.(weight|bias)", rest)
    if match:
        return _Rule((f"clap_model.audio_projection.linear{1 if match.group(1) == '0' else 2}.{match.group(2)}",))
    if rest.startswith(_CLAP_TEXT_PREFIXES) or rest == "positional_embedding":
        return _Rule(drop=CLAP_TEXT)
    if rest.startswith("audio_transform.") or rest in ("logit_scale_a", "logit_scale_t"):
        return _Rule(drop=CLAP_TRAINING)
    return None


def _rename_autocap(key: str) -> _Rule | None:
    """One reference AutoCap key -> our key(s), a drop reason, or ``None`` (unknown)."""
    if key in _SINGLE_KEYS:
        return _Rule((_SINGLE_KEYS[key],))
    for old, new in _DIRECT_RENAMES.items():
        if key.startswith(old) and key.removeprefix(old) in ("weight", "bias"):
            return _Rule((new + key.removeprefix(old),))
    if key.startswith("encoder.audio_enc."):
        return _rename_swin(key.removeprefix("encoder.audio_enc."), "audio_encoder.audio_encoder.")
    if key.startswith("clap_model.model."):
        return _rename_clap(key.removeprefix("clap_model.model."))
    if key.startswith("audio_Qformer."):
        return _rename_qformer(key.removeprefix("audio_Qformer."), "qformer.")
    if key in _TIED_BART_KEYS:
        return _Rule(drop=TIED_COPY)
    if key.startswith("decoder."):
        return _Rule(("language_model." + key.removeprefix("decoder."),))
    if key.startswith(_BART_COPY_PREFIX):
        return _Rule(drop=BART_DUPLICATE)
    return None


_SWIN_BLOCK_SOURCES = {ours: theirs for theirs, ours in _SWIN_BLOCK_RENAMES.items()}
_SWIN_PREFIXES = (
    ("audio_encoder.audio_encoder.", "encoder.audio_enc."),
    ("clap_model.audio_model.audio_encoder.", "clap_model.model.audio_branch."),
)


def _swin_source(rest: str) -> str:
    """The reference HTSAT name of a ``ClapAudioEncoder`` key (without prefix): the inverse of ``_rename_swin``."""
    if rest.startswith("batch_norm."):
        return "bn0." + rest.removeprefix("batch_norm.")
    match = _SWIN_BLOCK.fullmatch(rest)
    if match is None:
        return rest
    block, name = match.groups()
    fused = re.fullmatch(r"attention\.self\.(query|key|value)\.(weight|bias)", name)
    if fused:
        return f"{block}attn.qkv.{fused.group(2)}"
    return block + _SWIN_BLOCK_SOURCES.get(name, name)


def _reference_key(key: str) -> str:
    """The reference checkpoint key that holds our ``key`` (the inverse of ``_rename_autocap``), checked by renaming it
    back; what a missing-key error names, so that it can be looked up in the checkpoint."""
    if key in {"language_model." + tied.removeprefix("decoder.") for tied in _TIED_BART_KEYS}:
        return _SHARED_BART_KEY  # BART's tied copies all come from the one word table
    name = None
    for ours, theirs in _SINGLE_KEYS.items():
        if key == theirs:
            name = ours
    for theirs, ours in _DIRECT_RENAMES.items():
        if name is None and key.startswith(ours) and key.removeprefix(ours) in ("weight", "bias"):
            name = theirs + key.removeprefix(ours)
    for ours, theirs in _SWIN_PREFIXES:
        if name is None and key.startswith(ours):
            name = theirs + _swin_source(key.removeprefix(ours))
    if name is None and (match := re.fullmatch(r"clap_model\.audio_projection\.linear([12])\.(weight|bias)", key)):
        name = f"clap_model.model.audio_projection.{'0' if match.group(1) == '1' else '2'}.{match.group(2)}"
    if name is None and key.startswith("qformer.layernorm."):
        name = "audio_Qformer.bert.embeddings.LayerNorm." + key.removeprefix("qformer.layernorm.")
    if name is None and key.startswith("qformer.encoder.layer."):
        name = "audio_Qformer.bert." + key.removeprefix("qformer.").replace("attention.attention.", "attention.self.")
    if name is None and key.startswith("language_model."):
        name = "decoder." + key.removeprefix("language_model.")
    rule = _rename_autocap(name) if name is not None else None
    return name if rule is not None and key in rule.targets else f"{key} (our name)"


def convert_qformer_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """AutoCap's LAVIS Q-Former state dict (keys ``bert.*``, as ``audio_Qformer.state_dict()``) -> the keys of
    ``transformers.Blip2QFormerModel``. Raises a ``ValueError`` listing unknown keys; load the result with
    ``strict=True`` to check that nothing is missing."""
    converted, unknown = {}, []
    for key, value in state_dict.items():
        rule = _rename_qformer(key)
        if rule is None:
            unknown.append(key)
        elif not rule.drop:
            converted[rule.targets[0]] = value
    _check_converted_keys("the Q-Former state dict has keys Blip2QFormerModel does not", unknown, [], [])
    return converted


def _check_duplicates(state_dict: dict[str, torch.Tensor], shared: torch.Tensor | None) -> list[str]:
    """Problems with values the converted model stores only once (BART's tied word-table copies and the second copy
    of BART under ``special_tokens_embed.model.``)."""
    problems = []
    for key in _TIED_BART_KEYS:
        if key in state_dict and shared is not None and not _identical(state_dict[key], shared):
            problems.append(f"{key} differs from {_SHARED_BART_KEY} (BART ties them; untied copies are not supported)")
    for key, value in state_dict.items():
        if key.startswith(_BART_COPY_PREFIX):
            original = "decoder.model." + key.removeprefix(_BART_COPY_PREFIX)
            if original not in state_dict:
                problems.append(f"{key} has no counterpart {original}")
            elif not _identical(value, state_dict[original]):
                problems.append(f"{key} differs from {original}: the two BART copies must be one model")
    return problems


def _identical(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.is_meta or b.is_meta:  # shape-only state dicts (no values to compare)
        return a.shape == b.shape
    return a.shape == b.shape and torch.equal(a, b)


def convert_autocap_state_dict(
    state_dict: dict[str, torch.Tensor],
    config: AutoCapConfig,
    tag_tokens: list[str] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, list[str]]]:
    """Rename a reference AutoCap state dict to the keys of [`AutoCapForConditionalGeneration`] built from
    ``config``.

    Args:
        tag_tokens: the reference's ``tokenizer.special_tokens`` order, if it differs from ``TAG_TOKENS`` (the tag
            table's rows are reordered to ours).

    Returns:
        ``(weights, dropped)``: our state dict (BART's tied copies included), and the dropped reference keys grouped
        by reason.

    Raises:
        ValueError: one error listing every unknown key, missing key, shape mismatch and differing duplicate.
    """
    with torch.device("meta"):  # the expected keys and shapes, without allocating a model
        expected = AutoCapForConditionalGeneration(config).state_dict()
    expected = {key: tuple(value.shape) for key, value in expected.items()}
    tied = {"language_model." + key.removeprefix("decoder.") for key in _TIED_BART_KEYS}

    converted: dict[str, torch.Tensor] = {}
    dropped: dict[str, list[str]] = {}
    unknown, wrong_shape = [], []
    for key, value in state_dict.items():
        rule = _rename_autocap(key)
        if rule is None or any(target not in expected for target in rule.targets):
            unknown.append(key)
            continue
        if rule.drop:
            dropped.setdefault(rule.drop, []).append(key)
            continue
        if len(rule.targets) == 3 and value.shape[0] % 3:
            wrong_shape.append(f"{key}: {tuple(value.shape)} is not three stacked q|k|v projections")
            continue
        parts = value.chunk(3, dim=0) if len(rule.targets) == 3 else (value,)
        for target, part in zip(rule.targets, parts):
            if tuple(part.shape) != expected[target]:
                wrong_shape.append(f"{key} -> {target}: checkpoint {tuple(part.shape)} vs model {expected[target]}")
            converted[target] = part.contiguous()

    shared = converted.get("language_model.model.shared.weight")
    if shared is not None:
        converted.update(dict.fromkeys(tied, shared))
    if tag_tokens is not None and (
        not isinstance(tag_tokens, (list, tuple)) or not all(isinstance(tag, str) for tag in tag_tokens)
    ):
        raise InvalidInputError(
            f"the reference config's tokenizer.special_tokens must be a list of AutoCap's tags "
            f"{TAG_TOKENS} (in any order), got {tag_tokens!r}"
        )
    if "tag_embeddings.weight" in converted and tag_tokens is not None and list(tag_tokens) != TAG_TOKENS:
        if sorted(tag_tokens) != sorted(TAG_TOKENS):
            raise InvalidInputError(
                f"the reference's special tokens {list(tag_tokens)} are not AutoCap's tags {TAG_TOKENS}"
            )
        converted["tag_embeddings.weight"] = converted["tag_embeddings.weight"][
            [list(tag_tokens).index(tag) for tag in TAG_TOKENS]
        ]
    missing = [key for key in expected if key not in converted]
    if missing and config.use_clap and not any(key.startswith("clap_model.model.") for key in state_dict):
        missing = [key for key in missing if not key.startswith("clap_model.")]
        wrong_shape.append(
            "the checkpoint has no CLAP weights (clap_model.*; the reference's load_from_checkpoint skips them): pass "
            "the LAION-CLAP checkpoint it used as clap_checkpoint (CLI: --clap-checkpoint)"
        )
    missing = list(dict.fromkeys(_reference_key(key) for key in missing))  # as the checkpoint names them
    wrong_shape += _check_duplicates(state_dict, state_dict.get(_SHARED_BART_KEY))
    _check_converted_keys(
        "the AutoCap checkpoint does not match the model built from its config", unknown, missing, wrong_shape
    )
    return converted, dropped


# ---------------------------------------------------------------------------------------------------------------------
# Whole model
# ---------------------------------------------------------------------------------------------------------------------
def _load_tokenizer(tokenizer: Any):
    if isinstance(tokenizer, (str, os.PathLike)):
        return load_tokenizer(
            tokenizer,
            "tokenizer",
            hint="pass BART's tokenizer (e.g. a local copy of facebook/bart-base) as tokenizer= (CLI: --tokenizer)",
        )
    return check_tokenizer(tokenizer, "tokenizer", "given as an object")


def convert_autocap_checkpoint(
    checkpoint: dict | str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    reference_config: dict | str | os.PathLike | None = None,
    tokenizer: Any = None,
    clap_checkpoint: dict | str | os.PathLike | None = None,
    config: AutoCapConfig | None = None,
    feature_extractor: AutoCapFeatureExtractor | None = None,
    allow_pickle: bool = False,
) -> AutoCapForConditionalGeneration:
    """An [`AutoCapForConditionalGeneration`] (eval mode) from a reference AutoCap checkpoint.

    Args:
        checkpoint: the Lightning checkpoint (``autocap-full.ckpt``) as a path or a loaded dict.
        out_dir: if given, ``save_pretrained`` the model there, with an [`AutoCapProcessor`] when ``tokenizer`` is
            given and the feature extractor alone otherwise (add the processor later with
            ``AutoCapProcessor(feature_extractor, tokenizer).save_pretrained(out_dir)``).
        reference_config: the training YAML (``autocap-full.yaml``): Q-Former heads, CLAP tower, dropouts, front-end
            (``audio_args``), metadata keys and lengths, tag order. Without it the reference defaults are used.
        tokenizer: BART's tokenizer (a directory, a Hub id or a tokenizer), e.g. ``facebook/bart-base``'s. The 12
            tag tokens are added after its vocabulary, which must be BART's (the model's tag table starts there).
        clap_checkpoint: a LAION-CLAP checkpoint whose audio tower replaces the checkpoint's ``clap_model.*``
            (needed when the checkpoint was saved without them).
        config: the [`AutoCapConfig`] to convert into, instead of inferring it (for non-reference architectures).
        feature_extractor: the front-end to save (default: from ``reference_config``).
        allow_pickle: unpickle arbitrary Python objects in the checkpoint files (only for files you trust).
    """
    # Everything a user gives is checked before the checkpoint (gigabytes) is read.
    if out_dir is not None:
        out_dir = check_out_dir(out_dir)
    reference = load_reference_config(reference_config) if reference_config is not None else {}
    if tokenizer is not None and out_dir is not None:
        tokenizer = _load_tokenizer(tokenizer)
    for path, what in ((checkpoint, "AutoCap checkpoint"), (clap_checkpoint, "LAION-CLAP checkpoint")):
        if isinstance(path, (str, os.PathLike)):
            check_input_file(path, what)
    state_dict = dict(load_autocap_checkpoint(checkpoint, allow_pickle=allow_pickle))
    dropped_clap = []
    if clap_checkpoint is not None:
        dropped_clap = [key for key in state_dict if key.startswith("clap_model.")]
        state_dict = {key: value for key, value in state_dict.items() if not key.startswith("clap_model.")}
        state_dict.update(load_laion_clap_checkpoint(clap_checkpoint, allow_pickle=allow_pickle))
    if config is None:
        config = autocap_config_from_checkpoint(state_dict, reference)
    tag_tokens = _get(reference, "tokenizer.special_tokens")
    weights, dropped = convert_autocap_state_dict(state_dict, config, tag_tokens=tag_tokens)
    if dropped_clap:
        dropped[REPLACED_CLAP] = dropped_clap
    for reason, keys in dropped.items():
        logger.info("dropped %d key(s) (%s), e.g. %s", len(keys), reason, keys[0])

    # Every weight is overwritten below: skip the random init.
    with no_init_weights():
        model = AutoCapForConditionalGeneration(config)
    model.tie_weights()  # no_init_weights also skips the tying of BART's word table and output layer
    model.load_state_dict(weights, strict=True)
    model.eval()

    if out_dir is not None:
        if feature_extractor is None:
            feature_extractor = feature_extractor_from_reference_config(reference, config)
        if tokenizer is not None:
            try:
                processor = AutoCapProcessor(
                    feature_extractor,
                    tokenizer,
                    metadata_keys=_get(reference, "model.meta_keys", ["video_caption", "title"]),
                    max_metadata_length=_get_number(reference, "meta.max_prompt_len", int, 128),
                    max_caption_length=_get_number(reference, "tokenizer.max_length", int, 30),
                )
            except InvalidInputError:
                raise
            except ValueError as err:
                raise InvalidInputError(
                    f"the reference config's model.meta_keys / meta.max_prompt_len / "
                    f"tokenizer.max_length: {one_line(err)}"
                ) from err
            if processor.tag_token_offset != config.tag_token_offset:
                raise InvalidInputError(
                    f"the tokenizer puts the tag tokens at id {processor.tag_token_offset}, but the model's tag "
                    f"table starts at {config.tag_token_offset} (BART's vocabulary size): use BART's own tokenizer"
                )
            processor.save_pretrained(out_dir)
        else:
            feature_extractor.save_pretrained(out_dir)
        model.save_pretrained(out_dir)
    return model


__all__ = [
    "DROPPED_KEY_REASONS",
    "autocap_config_from_checkpoint",
    "convert_autocap_checkpoint",
    "convert_autocap_state_dict",
    "convert_qformer_state_dict",
    "feature_extractor_from_reference_config",
    "load_autocap_checkpoint",
    "load_laion_clap_checkpoint",
    "load_reference_config",
]
