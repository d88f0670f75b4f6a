"""Convert an audiocraft AudioGen checkpoint (``state_dict.bin`` + ``compression_state_dict.bin``) to
``AudioGenForConditionalGeneration``.

audiocraft exports a trained LM as a dict ``{"best_state": state_dict, "xp.cfg": yaml_string, ...}`` (the layout of
``facebook/audiogen-medium``); the text encoder (T5) is not in it, and the codec is a second package of the same kind.
The converter

1. reads ``xp.cfg`` (the OmegaConf YAML of the training run) into an [`AudioGenConfig`]: ``transformer_lm.*`` (widths,
   layers, heads, codebooks, biases), ``codebooks_pattern.*`` (delay / parallel), ``classifier_free_guidance.*``,
   ``dataset.segment_duration`` (the context window) and ``generate.lm.*`` (sampling defaults), refusing settings the
   decoder does not implement (post-norm, RoPE, layer scale, ...);
2. renames every key of ``best_state`` (below), splitting the fused attention projection ``in_proj_weight`` (q|k|v
   stacked on dim 0) into ``q_proj`` / ``k_proj`` / ``v_proj``, and refuses unknown, missing or mis-shaped keys with
   one error that lists them all;
3. checks that the text encoder's hidden size is the input width of the checkpoint's text projection (``output_proj``);
4. converts the codec with [`~hf_audiogen.codec.convert_audiocraft.convert_audiocraft_compression_checkpoint`].

```
condition_provider.conditioners.<text>.output_proj.*      -> enc_to_dec_proj.*
emb.{k}.weight                                             -> decoder.emb.{k}.weight
transformer.layers.{i}.{self_attn,cross_attention}.in_proj_{weight,bias}
                                                           -> decoder.layers.{i}.<same>.{q,k,v}_proj.{weight,bias}
transformer.layers.{i}.{self_attn,cross_attention}.out_proj.*, linear1/2.*, norm1/2.*, norm_cross.*
                                                           -> decoder.layers.{i}.<same name>
out_norm.*, linears.{k}.*                                  -> decoder.out_norm.*, decoder.linears.{k}.*
```

The converted model sets ``cross_attention_mask=False``: audiocraft's decoder attends to padded text positions
(whose projected states are zero), and the converted model must give the same logits.

Example:

```python
>>> from hf_audiogen.audiogen.convert_audiocraft import convert_audiocraft_checkpoint
>>> model = convert_audiocraft_checkpoint(
...     "audiogen-medium/state_dict.bin", "audiogen-medium/compression_state_dict.bin",
...     text_encoder="google-t5/t5-large", out_dir="audiogen-medium-hf")  # doctest: +SKIP
```
"""

from __future__ import annotations

import os
import re
from typing import Any

import torch
from transformers import AutoModelForTextEncoding, PreTrainedModel
from transformers.initialization import no_init_weights

from ..checkpoint_io import (
    check_input_dir,
    check_out_dir,
    check_tokenizer,
    check_tokenizer_dir,
    load_pretrained_checked,
    load_tokenizer,
    looks_like_local_path,
    one_line,
)
from ..codec.convert_audiocraft import (
    _as_number,
    _cfg_bool,
    _cfg_get,
    _cfg_mapping,
    _cfg_number,
    _check_converted_keys,
    _check_state_dict,
    _load_package,
    _parse_xp_cfg,
    convert_audiocraft_compression_checkpoint,
)
from ..codec.feature_extraction_codec import CodecFeatureExtractor
from ..codec.modeling_codec import CodecModel
from ..validation import InvalidInputError
from .configuration_audiogen import AudioGenConfig, AudioGenDecoderConfig, AudioGenGenerationConfig
from .modeling_audiogen import AudioGenForConditionalGeneration
from .processing_audiogen import AudioGenProcessor

# File names of an audiocraft model directory (the layout of facebook/audiogen-medium on the Hub).
LM_CHECKPOINT_NAME = "state_dict.bin"
COMPRESSION_CHECKPOINT_NAME = "compression_state_dict.bin"

# The Hub ids of the T5 models audiocraft's T5Conditioner accepts (the bare "t5-*" names moved to "google-t5/").
_T5_HUB_IDS = {name: f"google-t5/{name}" for name in ("t5-small", "t5-base", "t5-large", "t5-3b", "t5-11b")}

# transformer_lm fields whose value changes the network in a way AudioGenDecoder does not implement:
# field -> (audiocraft's default when the field is absent, the values we accept).
_FIXED_LM_FIELDS = {
    "norm": ("layer_norm", ("layer_norm",)),
    "norm_first": (False, (True,)),  # pre-norm with a final LayerNorm
    "causal": (True, (True,)),
    "positional_embedding": ("sin", ("sin",)),
    "max_period": (10_000, (10_000,)),
    "positional_scale": (1.0, (1.0,)),
    "xpos": (False, (False,)),
    "layer_scale": (None, (None,)),
    "qk_layer_norm": (False, (False,)),
    "qk_layer_norm_cross": (False, (False,)),
    "kv_repeat": (1, (1,)),
    "past_context": (None, (None,)),
    "activation": ("gelu", ("gelu", "relu")),
}

_LAYER_KEY = re.compile(r"^transformer\.layers\.(\d+)\.(.+)$")
_ATTENTIONS = ("self_attn", "cross_attention")
# Per-layer parameters that keep their name (weight and, with biases, bias).
_LAYER_MODULES = (
    "self_attn.out_proj",
    "cross_attention.out_proj",
    "linear1",
    "linear2",
    "norm1",
    "norm2",
    "norm_cross",
)


# ---------------------------------------------------------------------------------------------------------------------
# Loading packages
# ---------------------------------------------------------------------------------------------------------------------
def is_audiocraft_checkpoint_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory holding an audiocraft model (``state_dict.bin`` + ``compression_state_dict.bin``,
    no ``config.json``), i.e. something to convert rather than to load with ``from_pretrained``."""
    path = os.fspath(path)
    return (
        os.path.isdir(path)
        and os.path.isfile(os.path.join(path, LM_CHECKPOINT_NAME))
        and os.path.isfile(os.path.join(path, COMPRESSION_CHECKPOINT_NAME))
        and not os.path.isfile(os.path.join(path, "config.json"))
    )


def _load_lm_package(pkg_or_path: dict | str | os.PathLike) -> dict:
    pkg_or_path = _load_package(pkg_or_path, kind="LM")
    state_dict = pkg_or_path["best_state"]
    # A solver checkpoint (not exported) nests the model state: {"model": state_dict, "optimizer": ..., ...}.
    if isinstance(state_dict, dict) and isinstance(state_dict.get("model"), dict):
        state_dict = state_dict["model"]
    state_dict = _check_state_dict(state_dict, "the audiocraft LM checkpoint's best_state")
    return {"xp.cfg": _parse_xp_cfg(pkg_or_path["xp.cfg"]), "best_state": state_dict}


# ---------------------------------------------------------------------------------------------------------------------
# xp.cfg -> AudioGenConfig
# ---------------------------------------------------------------------------------------------------------------------
def _text_conditioner(cfg: dict) -> tuple[str, dict]:
    """Name and config of the one text conditioner the decoder cross-attends to (``description`` for AudioGen)."""
    fuser = _cfg_mapping(cfg, "fuser", {})
    for method in ("cross", "sum", "prepend", "input_interpolate"):
        if not isinstance(fuser.get(method) or [], (list, tuple)):
            raise InvalidInputError(
                f"xp.cfg field 'fuser.{method}' must be a list of condition names, got {fuser[method]!r}"
            )
    cross = list(fuser.get("cross") or [])
    others = {method: list(fuser.get(method) or []) for method in ("sum", "prepend", "input_interpolate")}
    if len(cross) != 1 or any(others.values()):
        raise InvalidInputError(
            f"xp.cfg fuser has cross={cross} and {others}: only one text condition fused by cross-attention (and "
            "nothing summed, prepended or interpolated) can be converted"
        )
    if fuser.get("cross_attention_pos_emb", False):
        raise InvalidInputError(
            "xp.cfg fuser.cross_attention_pos_emb=true (positions added to the text states) is not supported"
        )
    name = cross[0]
    conditioner = _cfg_get(cfg, f"conditioners.{name}", None)
    if not isinstance(conditioner, dict) or conditioner.get("model") != "t5":
        model = conditioner.get("model") if isinstance(conditioner, dict) else conditioner
        raise InvalidInputError(
            f"xp.cfg conditioners.{name}.model={model!r}: only a 't5' text conditioner can be converted"
        )
    return name, dict(_cfg_mapping(cfg, f"conditioners.{name}.t5", {}))


def _pattern(cfg: dict, num_codebooks: int) -> tuple[str, list[int]]:
    modeling = _cfg_get(cfg, "codebooks_pattern.modeling", None)
    if modeling == "parallel":
        return "parallel", [0] * num_codebooks
    if modeling != "delay":
        raise InvalidInputError(
            f"xp.cfg codebooks_pattern.modeling={modeling!r}: only 'delay' and 'parallel' are supported"
        )
    delays = _cfg_get(cfg, "codebooks_pattern.delay.delays", list(range(num_codebooks)))
    for field in ("flatten_first", "empty_initial"):
        value = _cfg_get(cfg, f"codebooks_pattern.delay.{field}", 0)
        if value:
            raise InvalidInputError(f"xp.cfg codebooks_pattern.delay.{field}={value!r}: only 0 is supported")
    if not isinstance(delays, (list, tuple)) or len(delays) != num_codebooks:
        raise InvalidInputError(
            f"xp.cfg codebooks_pattern.delay.delays={delays!r} must be a list with one delay per codebook "
            f"(n_q={num_codebooks})"
        )
    delays = [_as_number(delay, "codebooks_pattern.delay.delays") for delay in delays]
    if any(delay < 0 for delay in delays):
        raise InvalidInputError(f"xp.cfg codebooks_pattern.delay.delays={delays} must be >= 0")
    return "delay", delays


def audiogen_decoder_config_from_audiocraft_cfg(xp_cfg: str | dict, frame_rate: int = 50) -> AudioGenDecoderConfig:
    """[`AudioGenDecoderConfig`] from an audiocraft LM ``xp.cfg`` (YAML string or dict); ``frame_rate`` (of the codec)
    sizes the position range so that the trained window (``dataset.segment_duration``) fits."""
    cfg = _parse_xp_cfg(xp_cfg)
    lm_model = _cfg_get(cfg, "lm_model", "transformer_lm")
    if lm_model != "transformer_lm":
        raise InvalidInputError(
            f"xp.cfg lm_model={lm_model!r}: only 'transformer_lm' (AudioGen / MusicGen) can be converted"
        )
    _cfg_mapping(cfg, "transformer_lm")

    unsupported = []
    for field, (default, allowed) in _FIXED_LM_FIELDS.items():
        value = _cfg_get(cfg, f"transformer_lm.{field}", default)
        if value not in allowed:
            unsupported.append(f"{field}={value!r} (supported: {', '.join(repr(a) for a in allowed)})")
    if unsupported:
        raise InvalidInputError(
            "xp.cfg transformer_lm has settings AudioGenDecoder does not implement: " + "; ".join(unsupported)
        )
    _text_conditioner(cfg)  # validates the fuser / conditioner up front

    def number(field, cast=int, default=KeyError):
        return _cfg_number(cfg, f"transformer_lm.{field}", cast, default)

    dim, num_codebooks = number("dim"), number("n_q")
    for field, value in (
        ("dim", dim),
        ("n_q", num_codebooks),
        ("num_layers", number("num_layers")),
        ("num_heads", number("num_heads")),
        ("card", number("card")),
    ):
        if value < 1:
            raise InvalidInputError(f"xp.cfg field 'transformer_lm.{field}' must be >= 1, got {value}")
    if dim % number("num_heads"):
        raise InvalidInputError(f"xp.cfg transformer_lm.dim={dim} is not a multiple of num_heads={number('num_heads')}")
    pattern, delays = _pattern(cfg, num_codebooks)
    has_dropout = _cfg_get(cfg, "transformer_lm.dropout", None) is not None  # audiocraft: null means 0
    dropout = _cfg_number(cfg, "transformer_lm.dropout", float) if has_dropout else 0.0
    attention_dropout = _cfg_get(cfg, "transformer_lm.attention_dropout", None)
    depthwise_init = _cfg_get(cfg, "transformer_lm.depthwise_init", None)
    frames = int(_cfg_number(cfg, "dataset.segment_duration", float, 10.0) * frame_rate)
    try:
        return AudioGenDecoderConfig(
            hidden_size=dim,
            num_hidden_layers=number("num_layers"),
            num_attention_heads=number("num_heads"),
            ffn_dim=int(number("hidden_scale", float, 4) * dim),
            activation_function=str(_cfg_get(cfg, "transformer_lm.activation", "gelu")),
            bias_attn=_cfg_bool(cfg, "transformer_lm.bias_attn", True),
            bias_ff=_cfg_bool(cfg, "transformer_lm.bias_ff", True),
            bias_proj=_cfg_bool(cfg, "transformer_lm.bias_proj", True),
            num_codebooks=num_codebooks,
            codebook_size=number("card"),
            codebook_pattern=pattern,
            codebook_delays=delays,
            embedding_combine="sum",
            max_position_embeddings=max(2048, frames + 1 + max(delays)),
            dropout=dropout,
            attention_dropout=dropout
            if attention_dropout is None
            else _cfg_number(cfg, "transformer_lm.attention_dropout", float),
            layer_norm_eps=1e-5,  # audiocraft's 'layer_norm' is nn.LayerNorm with its default eps
            cross_attention_mask=False,
            condition_dropout=_cfg_number(cfg, "classifier_free_guidance.training_dropout", float, 0.0),
            depthwise_init=depthwise_init == "current",
        )
    except InvalidInputError:
        raise
    except ValueError as err:
        raise InvalidInputError(
            f"xp.cfg describes a decoder AudioGenDecoderConfig cannot hold: {one_line(err)}"
        ) from err


def generation_config_from_audiocraft_cfg(xp_cfg: str | dict, frame_rate: int) -> AudioGenGenerationConfig:
    """Sampling defaults of audiocraft's ``AudioGen`` API for this run: ``generate.lm.*`` of the config when present
    (else audiocraft's defaults: sampling with top-k 250), guidance ``classifier_free_guidance.inference_coef``, 5 s of
    audio (``AudioGen.__init__``) and a long-form stride of a fifth of the window (``extend_stride``: 2 s of the
    released 10 s)."""
    cfg = _parse_xp_cfg(xp_cfg)
    window = _cfg_number(cfg, "dataset.segment_duration", float, 10.0)
    if window <= 0:
        raise InvalidInputError(f"xp.cfg field 'dataset.segment_duration' must be > 0 seconds, got {window:g}")
    top_p = _cfg_number(cfg, "generate.lm.top_p", float, 0.0) if _cfg_get(cfg, "generate.lm.top_p", None) else 0.0
    return AudioGenGenerationConfig(
        do_sample=_cfg_bool(cfg, "generate.lm.use_sampling", True),
        temperature=_cfg_number(cfg, "generate.lm.temp", float, 1.0),
        top_k=_cfg_number(cfg, "generate.lm.top_k", int, 250),
        top_p=top_p if top_p > 0 else 1.0,  # audiocraft: top_p=0 means "off" (and top_p>0 replaces top-k)
        guidance_scale=_cfg_number(cfg, "classifier_free_guidance.inference_coef", float, 3.0),
        max_new_tokens=int(min(5.0, window) * frame_rate),
        extend_stride=window / 5,
    )


def default_text_encoder_id(xp_cfg: str | dict) -> str:
    """The Hub id of the T5 model the run was trained with (``conditioners.<text>.t5.name``)."""
    _, t5 = _text_conditioner(_parse_xp_cfg(xp_cfg))
    name = t5.get("name")
    if not name or not isinstance(name, str):
        raise InvalidInputError(
            "xp.cfg does not name its T5 model (conditioners.<text>.t5.name); pass text_encoder=..."
        )
    return _T5_HUB_IDS.get(name, name)


# ---------------------------------------------------------------------------------------------------------------------
# best_state -> our state dict
# ---------------------------------------------------------------------------------------------------------------------
def _expected_shapes(config: AudioGenDecoderConfig, text_hidden_size: int) -> dict[str, tuple[int, ...]]:
    """Every parameter the converted part of the model (text projection + decoder) has, with its shape."""
    d, f, card = config.hidden_size, config.ffn_dim, config.codebook_size
    shapes = {"enc_to_dec_proj.weight": (d, text_hidden_size), "enc_to_dec_proj.bias": (d,)}
    for k in range(config.num_codebooks):
        shapes[f"decoder.emb.{k}.weight"] = (card + 1, d)
        shapes[f"decoder.linears.{k}.weight"] = (card, d)
        if config.bias_proj:
            shapes[f"decoder.linears.{k}.bias"] = (card,)
    shapes.update({"decoder.out_norm.weight": (d,), "decoder.out_norm.bias": (d,)})
    for i in range(config.num_hidden_layers):
        prefix = f"decoder.layers.{i}."
        for attention in _ATTENTIONS:
            for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                shapes[f"{prefix}{attention}.{proj}.weight"] = (d, d)
                if config.bias_attn:
                    shapes[f"{prefix}{attention}.{proj}.bias"] = (d,)
        shapes[f"{prefix}linear1.weight"], shapes[f"{prefix}linear2.weight"] = (f, d), (d, f)
        if config.bias_ff:
            shapes[f"{prefix}linear1.bias"], shapes[f"{prefix}linear2.bias"] = (f,), (d,)
        for norm in ("norm1", "norm2", "norm_cross"):
            shapes[f"{prefix}{norm}.weight"] = shapes[f"{prefix}{norm}.bias"] = (d,)
    return shapes


def _rename(key: str, text_condition: str) -> list[tuple[str, slice | None]] | None:
    """Our key(s) for one audiocraft key, with the slice of dim 0 each takes (fused q|k|v); ``None`` if unknown."""
    if key.startswith(f"condition_provider.conditioners.{text_condition}.output_proj."):
        return [("enc_to_dec_proj." + key.rsplit(".", 1)[1], None)]
    if re.fullmatch(r"(emb|linears)\.\d+\.(weight|bias)|out_norm\.(weight|bias)", key):
        return [("decoder." + key, None)]
    match = _LAYER_KEY.match(key)
    if not match:
        return None
    layer, rest = match.groups()
    prefix = f"decoder.layers.{layer}."
    fused = re.fullmatch(r"(self_attn|cross_attention)\.in_proj_(weight|bias)", rest)
    if fused:
        attention, kind = fused.groups()
        return [(f"{prefix}{attention}.{proj}_proj.{kind}", slice(i, i + 1)) for i, proj in enumerate("qkv")]
    module, _, kind = rest.rpartition(".")
    if module in _LAYER_MODULES and kind in ("weight", "bias"):
        return [(prefix + rest, None)]
    return None


def _source_key(key: str, text_condition: str) -> str:
    """The audiocraft key that holds our ``key`` (the inverse of ``_rename``): what a missing-key error names."""
    if key.startswith("enc_to_dec_proj."):
        name = f"condition_provider.conditioners.{text_condition}.output_proj." + key.removeprefix("enc_to_dec_proj.")
    elif key.startswith("decoder.layers."):
        name = "transformer.layers." + key.removeprefix("decoder.layers.")
        name = re.sub(r"\.(self_attn|cross_attention)\.[qkv]_proj\.(weight|bias)$", r".\1.in_proj_\2", name)
    else:
        name = key.removeprefix("decoder.")
    targets = _rename(name, text_condition)
    return name if targets and key in [target for target, _ in targets] else f"{key} (our name)"


def convert_audiocraft_lm_state_dict(
    state_dict: dict[str, torch.Tensor],
    config: AudioGenDecoderConfig,
    text_hidden_size: int,
    text_condition: str = "description",
) -> dict[str, torch.Tensor]:
    """Rename an audiocraft ``LMModel`` state dict to ``enc_to_dec_proj.*`` + ``decoder.*`` keys of
    [`AudioGenForConditionalGeneration`].

    Raises one ``ValueError`` listing every unknown key, missing key and shape mismatch, named as the audiocraft
    checkpoint names them. A text projection whose input width is not ``text_hidden_size`` gets its own error naming
    the text encoder width the checkpoint needs.
    """
    state_dict = _check_state_dict(state_dict, "the audiocraft LM checkpoint's best_state")
    expected = _expected_shapes(config, text_hidden_size)
    proj_key = f"condition_provider.conditioners.{text_condition}.output_proj.weight"
    if proj_key in state_dict and state_dict[proj_key].dim() == 2 and state_dict[proj_key].shape[1] != text_hidden_size:
        raise InvalidInputError(
            f"the text encoder has hidden size {text_hidden_size}, but the checkpoint's text projection {proj_key} "
            f"{tuple(state_dict[proj_key].shape)} expects {state_dict[proj_key].shape[1]}-dimensional text states: "
            "use the text encoder the model was trained with (see conditioners.<text>.t5.name in xp.cfg)"
        )

    converted: dict[str, torch.Tensor] = {}
    unknown, wrong_shape = [], []
    for key, value in state_dict.items():
        targets = _rename(key, text_condition)
        if targets is None or any(new_key not in expected for new_key, _ in targets):
            unknown.append(key)
            continue
        if len(targets) == 3 and value.shape[0] % 3 != 0:
            wrong_shape.append(f"{key}: {tuple(value.shape)} is not three stacked q|k|v projections")
            continue
        parts = value.chunk(3, dim=0) if len(targets) == 3 else [value]
        for (new_key, _), part in zip(targets, parts):
            if tuple(part.shape) != expected[new_key]:
                wrong_shape.append(f"{key} -> {new_key}: checkpoint {tuple(part.shape)} vs model {expected[new_key]}")
            converted[new_key] = part.contiguous()
    missing = sorted({_source_key(key, text_condition) for key in set(expected) - set(converted)})

    _check_converted_keys(
        "the audiocraft LM checkpoint does not match the model built from its xp.cfg", unknown, missing, wrong_shape
    )
    return converted


# ---------------------------------------------------------------------------------------------------------------------
# Whole model
# ---------------------------------------------------------------------------------------------------------------------
_TOKENIZER_HINT = "copy the tokenizer files there (or pass tokenizer=)"


def _check_text_encoder_source(text_encoder: Any, tokenizer: Any) -> None:
    """Local text-encoder / tokenizer directories exist and hold a tokenizer, checked before the checkpoints are read
    (``_load_text_encoder`` loads them after)."""
    if isinstance(text_encoder, (str, os.PathLike)) and looks_like_local_path(os.fspath(text_encoder)):
        path = os.path.expanduser(os.fspath(text_encoder))
        check_input_dir(path, "text encoder directory", "expected a save_pretrained directory or a Hub id")
        if tokenizer is None:
            check_tokenizer_dir(path, "text encoder directory", _TOKENIZER_HINT)
    if isinstance(tokenizer, (str, os.PathLike)) and looks_like_local_path(os.fspath(tokenizer)):
        check_tokenizer_dir(
            os.path.expanduser(os.fspath(tokenizer)), "tokenizer", "expected the text encoder's tokenizer directory"
        )


def _load_text_encoder(text_encoder: Any, tokenizer: Any, xp_cfg: dict):
    """(text encoder model, tokenizer or None) from a model, a Hub id / directory, or None (the run's T5). A Hub id or
    directory must hold the tokenizer too unless ``tokenizer`` is given: the output would have none, or an empty one."""
    if text_encoder is None:
        text_encoder = default_text_encoder_id(xp_cfg)
    if isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = load_tokenizer(tokenizer, "tokenizer", hint="expected the text encoder's tokenizer directory")
    if isinstance(text_encoder, (str, os.PathLike)):
        source = os.fspath(text_encoder)
        if looks_like_local_path(source) and not os.path.isdir(os.path.expanduser(source)):
            kind = "a file, not a directory" if os.path.exists(os.path.expanduser(source)) else "no such directory"
            raise InvalidInputError(
                f"cannot load the text encoder {source!r}: {kind} (expected a save_pretrained directory or a Hub id)"
            )
        if tokenizer is None:
            # Before the (large) model: a text-encoder directory without tokenizer files gives an empty tokenizer.
            tokenizer = load_tokenizer(source, "text encoder directory", hint=_TOKENIZER_HINT)
        model = load_pretrained_checked(AutoModelForTextEncoding.from_pretrained, source, "text encoder")
    elif isinstance(text_encoder, PreTrainedModel):
        model = text_encoder
    else:
        raise InvalidInputError(
            "text_encoder must be a Hub id, a directory or a transformers PreTrainedModel, got "
            f"{type(text_encoder).__name__}"
        )
    if tokenizer is not None:
        check_tokenizer(tokenizer, "tokenizer", "of the text encoder", getattr(model.config, "vocab_size", None))
    return model, tokenizer


def convert_audiocraft_checkpoint(
    lm_pkg_or_path: dict | str | os.PathLike,
    compression_pkg_or_path: dict | str | os.PathLike | CodecModel | None = None,
    text_encoder: str | os.PathLike | PreTrainedModel | None = None,
    out_dir: str | os.PathLike | None = None,
    tokenizer: Any = None,
) -> AudioGenForConditionalGeneration:
    """An [`AudioGenForConditionalGeneration`] (eval mode) from an audiocraft AudioGen checkpoint.

    Args:
        lm_pkg_or_path: the LM package (``state_dict.bin``) as a dict or a path, or an audiocraft model directory
            holding ``state_dict.bin`` and ``compression_state_dict.bin``.
        compression_pkg_or_path: the codec package (``compression_state_dict.bin``) as a dict or a path, or an already
            converted [`CodecModel`]; optional when ``lm_pkg_or_path`` is a directory.
        text_encoder: the frozen text encoder: a Hub id, a local directory, or a loaded ``PreTrainedModel``. Default:
            the T5 named in ``xp.cfg`` (``google-t5/t5-large`` for AudioGen), which must be reachable.
        out_dir: if given, ``save_pretrained`` the model there, with an [`AudioGenProcessor`] when a tokenizer is known
            (``tokenizer`` or the one next to ``text_encoder``) and the codec's feature extractor otherwise.
        tokenizer: the text encoder's tokenizer (default: loaded from ``text_encoder`` when that is a path or id,
            which must then hold the tokenizer files: a directory with weights only is refused, as transformers would
            build an empty tokenizer from it).

    Raises:
        InvalidInputError: (a ``ValueError``, one line) for anything wrong with the inputs: unreadable or refused
            checkpoint files, an ``xp.cfg`` field of the wrong type, keys that are missing, unknown or mis-shaped
            (named as the checkpoint names them), a tokenizer without a vocabulary, an ``out_dir`` that cannot be
            written. All paths are checked before the checkpoints are read.

    Returns:
        The converted model, with audiocraft's unmasked cross-attention (``cross_attention_mask=False``) and its
        generation defaults (``generate.lm.*`` / ``classifier_free_guidance.inference_coef`` of ``xp.cfg``).
    """
    # What a user gives is checked before the checkpoints (gigabytes) are read.
    if out_dir is not None:
        out_dir = check_out_dir(out_dir)
    _check_text_encoder_source(text_encoder, tokenizer)
    if isinstance(lm_pkg_or_path, (str, os.PathLike)) and os.path.isdir(lm_pkg_or_path):
        directory = os.fspath(lm_pkg_or_path)
        if not is_audiocraft_checkpoint_dir(directory):
            raise InvalidInputError(
                f"{directory} is not an audiocraft model directory: it needs {LM_CHECKPOINT_NAME} and "
                f"{COMPRESSION_CHECKPOINT_NAME} (and no config.json)"
            )
        lm_pkg_or_path = os.path.join(directory, LM_CHECKPOINT_NAME)
        if compression_pkg_or_path is None:
            compression_pkg_or_path = os.path.join(directory, COMPRESSION_CHECKPOINT_NAME)
    if compression_pkg_or_path is None:
        raise InvalidInputError(
            "compression_pkg_or_path is required unless lm_pkg_or_path is an audiocraft model directory"
        )

    package = _load_lm_package(lm_pkg_or_path)
    xp_cfg, state_dict = package["xp.cfg"], package["best_state"]
    if isinstance(compression_pkg_or_path, CodecModel):
        codec = compression_pkg_or_path.eval()
    else:
        codec = convert_audiocraft_compression_checkpoint(compression_pkg_or_path)
    decoder_config = audiogen_decoder_config_from_audiocraft_cfg(xp_cfg, codec.config.frame_rate)
    text_condition, _ = _text_conditioner(xp_cfg)
    lm_rate = _cfg_number(xp_cfg, "sample_rate", int, codec.config.sampling_rate)
    if lm_rate != codec.config.sampling_rate:
        raise InvalidInputError(
            f"the LM was trained at sample_rate={lm_rate} but the codec runs at {codec.config.sampling_rate} Hz"
        )
    codec_codes = (codec.config.num_quantizers, codec.config.codebook_size)
    if codec_codes != (decoder_config.num_codebooks, decoder_config.codebook_size):
        raise InvalidInputError(
            f"the codec has {codec_codes[0]} x {codec_codes[1]} codes but the LM models "
            f"n_q={decoder_config.num_codebooks} x card={decoder_config.codebook_size}: pass the compression "
            "checkpoint the LM was trained with"
        )

    text_model, tokenizer = _load_text_encoder(text_encoder, tokenizer, xp_cfg)
    text_hidden_size = text_model.config.hidden_size
    weights = convert_audiocraft_lm_state_dict(state_dict, decoder_config, text_hidden_size, text_condition)

    config = AudioGenConfig(
        text_encoder=text_model.config,
        codec=codec.config,
        decoder=decoder_config,
        max_duration=_cfg_number(xp_cfg, "dataset.segment_duration", float, 10.0),
    )
    # Every decoder weight is overwritten below: skip the random init (minutes for the 1.5B-parameter release).
    with no_init_weights():
        model = AudioGenForConditionalGeneration(config, text_encoder=text_model, codec=codec)
    # strict: the decoder and projection must be covered exactly (the sub-models keep their own loaded weights).
    own_keys = {key for key in model.state_dict() if key.startswith(("decoder.", "enc_to_dec_proj."))}
    if own_keys != set(weights):
        raise InvalidInputError(f"converted keys differ from the model's: {sorted(own_keys ^ set(weights))}")
    model.load_state_dict({**model.state_dict(), **weights}, strict=True)
    model.generation_config = generation_config_from_audiocraft_cfg(xp_cfg, config.frame_rate)
    model.eval()

    if out_dir is not None:
        model.save_pretrained(out_dir)
        feature_extractor = CodecFeatureExtractor(
            feature_size=codec.config.audio_channels, sampling_rate=codec.config.sampling_rate
        )
        if tokenizer is not None:
            AudioGenProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(out_dir)
        else:
            feature_extractor.save_pretrained(out_dir)
    return model


__all__ = [
    "audiogen_decoder_config_from_audiocraft_cfg",
    "convert_audiocraft_checkpoint",
    "convert_audiocraft_lm_state_dict",
    "default_text_encoder_id",
    "generation_config_from_audiocraft_cfg",
    "is_audiocraft_checkpoint_dir",
]
