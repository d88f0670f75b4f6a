"""Convert a GenAU checkpoint (snap-research/GenAU, PyTorch Lightning) to a [`GenAUPipeline`] directory.

GenAU saves its whole ``GenAu`` LightningModule: ``torch.load(ckpt)["state_dict"]`` holds the FiT, the 1D-VAE with its
HiFi-GAN, both frozen text encoders, a second CLAP for re-ranking, the diffusion schedule buffers and training-only
tensors. Every key is either used or dropped for a stated reason; a key that fits no rule, a missing key or a shape
mismatch is an error that lists them all. The accounting (``GenAUConversion.summary()``):

```
model.diffusion_model.*                          -> transformer (FiTTransformer1DModel), names 1:1
model_ema.*   (LitEma: wrapper names without dots, decay, num_updates)
                                                 -> the FiT parameters with use_ema, else dropped
first_stage_model.{encoder,decoder,quant_conv,post_quant_conv}.*
                                                 -> vae (AutoencoderKL1D), names 1:1
first_stage_model.vocoder.*                      -> vocoder (SpeechT5HifiGan): ups. -> upsampler., weight norm folded
scale_factor                                     -> vae.config.scaling_factor
alphas_cumprod                                   -> checks the DDIM scheduler (defines it for unnamed schedules)
alphas_cumprod_prev, sqrt_alphas_cumprod, sqrt_one_minus_alphas_cumprod
                                                 -> dropped: derived from alphas_cumprod
cond_stage_models.<CLAP>.model.{text_branch,text_projection}.*
                                                 -> text_encoder (ClapTextModelWithProjection)
cond_stage_models.<CLAP>.{model.audio_*,model.text_transform,model.logit_scale_*,mel_transform}.*
                                                 -> dropped: GenAU conditions on the CLAP *text* embedding only
cond_stage_models.<T5>.model.*                   -> text_encoder_2 (T5EncoderModel)
clap.*                                           -> dropped: the re-ranking CLAP (laion HTSAT-base); give the
                                                    pipeline a transformers ClapModel (clap_model) instead
first_stage_model.loss.*, logvar                 -> dropped: training losses
```

Sizes come from the reference run's YAML (``config``: the ``genau-*.yaml`` next to the checkpoint, custom ``!module``
tags allowed) when given, and from the tensor shapes otherwise; the YAML is also checked against the shapes. Two FiT
sizes are not in any tensor: the group size (``group_size``; GenAU-S/L use 32) and the split of the attention width
into heads (default head width 64, as every GenAU config). Without a YAML, ``fit_config={"group_size": ...}`` must
give the first. The HiFi-GAN upsampling rates are not in the tensors either: they come from ``vocoder_config`` (the
``hifigan_16k_64bins.json``) or, when the kernel sizes match, from the GenAU/AudioLDM 16 kHz preset.

Text encoders: the checkpoint holds the frozen CLAP (laion, RoBERTa text tower) and FLAN-T5 weights, but not their
tokenizers. By default the encoders are rebuilt from the checkpoint (configs from the shapes) and the tokenizers are
loaded from ``roberta-base`` and the T5 named in the YAML (``google/flan-t5-large``), which needs the Hub or a local
cache; ``tokenizer=``/``tokenizer_2=`` (a directory or an object) avoid that. An encoder given as a directory/Hub id or
model is used as it is (the checkpoint's copy is then dropped); one given as a config is built with it and filled
with the checkpoint's weights.

Example:

```python
>>> from hf_audiogen.genau.convert_genau import convert_genau_checkpoint
>>> result = convert_genau_checkpoint("genau-full-l.ckpt", config="genau-full-l.yaml",
...                                   out_dir="genau-l-hf")  # doctest: +SKIP
>>> print(result.summary())  # doctest: +SKIP
```
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import yaml
from transformers import (
    AutoConfig,
    ClapModel,
    ClapTextConfig,
    ClapTextModelWithProjection,
    PretrainedConfig,
    PreTrainedModel,
    SpeechT5HifiGan,
    SpeechT5HifiGanConfig,
    T5Config,
    T5EncoderModel,
)
from transformers.initialization import no_init_weights

from ..checkpoint_io import (
    check_input_dir,
    check_input_file,
    check_out_dir,
    check_tokenizer,
    check_tokenizer_dir,
    load_json_file,
    load_pretrained_checked,
    load_tokenizer,
    load_torch_file,
    load_yaml_file,
    looks_like_local_path,
)
from ..codec.convert_audiocraft import _check_converted_keys
from ..validation import InvalidInputError
from .modeling_autoencoder_kl_1d import AutoencoderKL1D
from .modeling_fit import FiTTransformer1DModel
from .pipeline_genau import GenAUPipeline, genau_ddim_scheduler
from .vocoder import genau_vocoder_config

FIT_PREFIX = "model.diffusion_model."
EMA_PREFIX = "model_ema."
FIRST_STAGE_PREFIX = "first_stage_model."
VAE_PARTS = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")
SCHEDULE_BUFFERS = ("alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod")
# GenAU's text encoders: laion CLAP's text tower reads ``roberta-base``'s tokenizer; the T5 is named in the YAML.
DEFAULT_CLAP_TOKENIZER = "roberta-base"
DEFAULT_T5_NAME = "google/flan-t5-large"
# The attention head width of every GenAU config (heads x 64); the tensors only give heads x head width.
DEFAULT_ATTENTION_HEAD_DIM = 64
# Absolute tolerance between the checkpoint's alphas_cumprod (computed in float64, stored in float32) and the
# scheduler's (float32): diffusers' own float32 arithmetic differs by ~3e-7.
SCHEDULE_TOLERANCE = 1e-5


# ---------------------------------------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------------------------------------
class _ReferenceYamlLoader(yaml.SafeLoader):
    """PyYAML loader for GenAU's configs: ``!module a.b.C`` tags (classes picked by the reference code) become the
    string ``"a.b.C"``; anchors and aliases work as usual."""


_ReferenceYamlLoader.add_constructor("!module", lambda loader, node: loader.construct_scalar(node))


def _refuse_include(loader, node):
    raise InvalidInputError(
        f"the GenAU config uses `!include {loader.construct_scalar(node)}`, which the converter does not "
        "follow: paste the included file into the YAML"
    )


_ReferenceYamlLoader.add_constructor("!include", _refuse_include)


# The YAML fields the converter reads, with the type each must have when present: "map", "list", "int", "number",
# "str", "int-map" (a mapping of names to integers); a trailing "?" lets null stand for "not set". "*" is any key.
_FIT = "model.params.unet_config.params."
_FIT_BLOCK = _FIT + "fit_block_config."
_VAE = "model.params.first_stage_config.params."
_CONFIG_TYPES = {
    "model.params.timesteps": "int",
    "model.params.linear_start": "number",
    "model.params.linear_end": "number",
    "model.params.parameterization": "str",
    "model.params.beta_schedule": "str",
    "model.params.scale_factor": "number",
    "model.params.sampling_rate": "int?",
    "model.params.dataset2id": "int-map?",
    "model.params.unet_config": "map?",
    "model.params.unet_config.params": "map?",
    **{_FIT + name: "list?" for name in ("input_size", "patch_size", "group_size")},
    _FIT + "time_scaling": "number",
    **{
        _FIT + name: "int?"
        for name in (
            "input_channels",
            "latent_count",
            "patch_channels",
            "latent_channels",
            "context_channels",
            "summary_text_embeddings_channels",
            "fit_blocks_count",
            "local_layers_per_block",
            "global_layers_per_block",
            "dataset_ids_count",
            "learned_sinusoidal_dim",
        )
    },
    _FIT + "self_conditioning_ff_config": "map?",
    _FIT + "self_conditioning_ff_config.mult": "number?",
    _FIT + "fit_block_config": "map?",
    _FIT_BLOCK + "drop_units": "number?",
    _FIT_BLOCK + "*_attention_config": "map?",
    _FIT_BLOCK + "*_attention_config.heads": "int?",
    _FIT_BLOCK + "*_attention_config.dim_head": "int?",
    _FIT_BLOCK + "*_ff_config": "map?",
    _FIT_BLOCK + "*_ff_config.mult": "number?",
    "model.params.first_stage_config": "map?",
    "model.params.first_stage_config.params": "map?",
    _VAE + "ddconfig": "map?",
    _VAE + "embed_dim": "int?",
    _VAE + "subband": "int",
    _VAE + "time_shuffle": "int",
    **{_VAE + "ddconfig." + name: "int?" for name in ("in_channels", "out_ch", "z_channels", "num_res_blocks")},
    _VAE + "ddconfig.ch": "int",
    _VAE + "ddconfig.ch_mult": "int-list",
    _VAE + "ddconfig.attn_resolutions": "list?",
    _VAE + "ddconfig.dropout": "number?",
    "model.params.cond_stage_config": "map?",
    "model.params.cond_stage_config.*": "map?",
    "model.params.cond_stage_config.*.params": "map?",
    "model.params.cond_stage_config.*.params.dataset2id": "int-map?",
    "model.params.cond_stage_config.*.params.text_encoder_name": "str?",
    "preprocessing": "map?",
    "preprocessing.audio": "map?",
    "preprocessing.audio.sampling_rate": "int?",
    "preprocessing.stft": "map?",
    "preprocessing.stft.hop_length": "int?",
}
_KIND_TEXT = {
    "map": "a mapping",
    "list": "a list",
    "int": "an integer",
    "number": "a number",
    "str": "a string",
    "int-map": "a mapping of names to integers",
    "int-list": "a list of integers",
}


def _has_kind(value: Any, kind: str) -> bool:
    if kind == "map":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    if kind == "str":
        return isinstance(value, str)
    if kind == "int-map":
        return isinstance(value, dict) and all(_has_kind(v, "int") for v in value.values())
    if kind == "int-list":
        return isinstance(value, list) and all(_has_kind(v, "int") for v in value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return kind == "number" or float(value).is_integer()


def _check_config_types(config: dict) -> None:
    """Every field of :data:`_CONFIG_TYPES` present in ``config`` has its type, else one error naming the field."""
    for pattern, kind in _CONFIG_TYPES.items():
        nodes = [("", config)]
        for part in pattern.split("."):
            matched = []
            for path, node in nodes:
                if not isinstance(node, dict):
                    continue
                for key in node if "*" in part else [part]:
                    if key in node and re.fullmatch(re.escape(part).replace(r"\*", ".*"), str(key)):
                        matched.append((f"{path}.{key}" if path else str(key), node[key]))
            nodes = matched
        for path, value in nodes:
            if value is None and kind.endswith("?"):
                continue
            if not _has_kind(value, kind.rstrip("?")):
                raise InvalidInputError(
                    f"the GenAU config's {path} must be {_KIND_TEXT[kind.rstrip('?')]}, got {value!r}"
                )


def load_genau_config(config: str | os.PathLike | dict) -> dict:
    """The reference run's YAML (``genau-*.yaml``) as a dict, or ``config`` itself if it already is one. It must have
    the ``model.params`` section (GenAU's ``GenAu`` arguments)."""
    where = "the GenAU config"
    if isinstance(config, (str, os.PathLike)):
        where = f"the GenAU config {os.fspath(config)}"
        config = load_yaml_file(config, "GenAU config", _ReferenceYamlLoader)
    if (
        not isinstance(config, dict)
        or not isinstance(config.get("model"), dict)
        or not isinstance(config["model"].get("params"), dict)
    ):
        found = f"top-level keys {sorted(map(str, config))[:10]}" if isinstance(config, dict) else type(config).__name__
        raise InvalidInputError(
            f"{where} must be a mapping with a `model: params:` section (the reference "
            f"genau-*.yaml, e.g. GenAU/settings/simple_runs/genau.yaml), got {found}"
        )
    _check_config_types(config)
    return config


def _torch_load(path: str, what: str, allow_pickle: bool) -> Any:
    return load_torch_file(
        path, what, allow_pickle=allow_pickle, force_hint="convert with allow_pickle=True (CLI: --allow-pickle)"
    )


def load_lightning_state_dict(
    source: str | os.PathLike | dict, what: str = "GenAU checkpoint", allow_pickle: bool = False
) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of a Lightning checkpoint (path or loaded dict); a bare state dict is accepted too."""
    checkpoint = _torch_load(os.fspath(source), what, allow_pickle) if not isinstance(source, dict) else source
    if not isinstance(checkpoint, dict):
        raise InvalidInputError(
            f"{what} must be a Lightning checkpoint (a dict with 'state_dict'), got {type(checkpoint).__name__}"
        )
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(v) for v in state.values()):
        raise InvalidInputError(
            f"{what} is not a Lightning checkpoint: no 'state_dict' of tensors (top-level keys: "
            f"{sorted(map(str, checkpoint))[:20]})"
        )
    return state


def load_hifigan_state_dict(source: str | os.PathLike | dict, allow_pickle: bool = False) -> dict:
    """A HiFi-GAN generator state dict from GenAU's ``hifigan_16k_64bins.ckpt`` (``{"generator": state_dict}``) or a
    bare state dict; the ``_orig_mod.`` prefix of ``torch.compile`` is removed."""
    checkpoint = (
        _torch_load(os.fspath(source), "vocoder checkpoint", allow_pickle) if not isinstance(source, dict) else source
    )
    if not isinstance(checkpoint, dict):
        raise InvalidInputError(f"the vocoder checkpoint must be a dict, got {type(checkpoint).__name__}")
    state = checkpoint.get("generator", checkpoint)
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(v) for v in state.values()):
        raise InvalidInputError(
            f"the vocoder checkpoint has no 'generator' state dict of tensors (top-level keys: "
            f"{sorted(map(str, checkpoint))[:20]})"
        )
    return {k.replace("_orig_mod.", ""): v for k, v in state.items()}


def _load_json(source: str | os.PathLike | dict, what: str) -> dict:
    if isinstance(source, dict):
        return source
    path = os.fspath(source)
    loaded = load_json_file(path, what)
    if not isinstance(loaded, dict):
        raise InvalidInputError(
            f"{what} {path} must be a JSON object (the HiFi-GAN config, e.g. "
            f"hifigan_16k_64bins.json), got {type(loaded).__name__}"
        )
    return loaded


# ---------------------------------------------------------------------------------------------------------------------
# Key accounting
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class KeyGroup:
    """A set of checkpoint keys and what the conversion did with them."""

    source: str
    keys: str
    count: int
    outcome: str


@dataclass
class GenAUConversion:
    """The converted pipeline and the accounting of every checkpoint key."""

    pipeline: GenAUPipeline
    key_groups: list[KeyGroup] = field(default_factory=list)

    def summary(self) -> str:
        lines = []
        for group in self.key_groups:
            lines.append(f"{group.source}: {group.count:>6} x {group.keys} -> {group.outcome}")
        return "\n".join(lines)


@dataclass
class _Rule:
    keys: str  # shown in the report
    match: Any  # callable(key) -> bool
    outcome: str
    target: str | None = None  # name under which the matched keys are collected (None: dropped)


def _account(state: dict, rules: list[_Rule], source: str, report: list[KeyGroup]) -> dict[str, dict]:
    """Assign every key of ``state`` to the first matching rule; raise on keys no rule explains."""
    collected: dict[str, dict] = {}
    counts = [0] * len(rules)
    unknown = []
    for key, value in state.items():
        for i, rule in enumerate(rules):
            if rule.match(key):
                counts[i] += 1
                if rule.target is not None:
                    collected.setdefault(rule.target, {})[key] = value
                break
        else:
            unknown.append(key)
    if unknown:
        shown = sorted(unknown)[:30]
        more = f" ... and {len(unknown) - len(shown)} more" if len(unknown) > len(shown) else ""
        raise InvalidInputError(
            f"the {source} has {len(unknown)} key(s) the GenAU converter does not know: {shown}{more}"
        )
    report.extend(KeyGroup(source, rule.keys, n, rule.outcome) for rule, n in zip(rules, counts) if n)
    return collected


def _strip(state: dict, prefix: str) -> dict:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _names(items, name: Callable[[str], str | list[str]]) -> list[str]:
    out = []
    for item in items:
        named = name(item)
        out.extend([named] if isinstance(named, str) else named)
    return out


def _load_strict(
    module: torch.nn.Module,
    state: dict,
    what: str,
    prefix: str = "",
    defaults=(),
    name: Callable[[str], str | list[str]] | None = None,
) -> None:
    """Load ``state`` into ``module`` with one error listing unknown, missing and mis-shaped keys, named as the
    checkpoint names them: ``name(key)`` (default ``prefix + key``; a list for a key stored as several).
    ``defaults``: buffers the checkpoint may lack (kept as built)."""
    name = name or (lambda key: prefix + key)
    expected = module.state_dict()
    unknown = _names([k for k in state if k not in expected], name)
    missing = _names([k for k in expected if k not in state and k not in defaults], name)
    wrong = [
        f"{', '.join(_names([k], name))}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    _check_converted_keys(what, unknown, sorted(missing), wrong)
    module.load_state_dict({**{k: expected[k] for k in defaults if k not in state}, **state}, strict=True)


def _indices(state: dict, prefix: str) -> list[int]:
    """Sorted distinct integers ``i`` of keys ``{prefix}{i}.…``."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return sorted({int(m.group(1)) for k in state if (m := pattern.match(k))})


def _shape(state: dict, key: str, what: str, prefix: str | Callable[[str], Any] = "") -> tuple[int, ...]:
    """Shape of ``state[key]``; if missing, an error naming the key as the checkpoint does (``prefix + key``, or
    ``prefix(key)``)."""
    if key not in state:
        named = prefix(key) if callable(prefix) else prefix + key
        named = named if isinstance(named, str) else " / ".join(named)
        raise InvalidInputError(f"the {what} weights lack {named!r}, which the converter needs to size the model")
    return tuple(state[key].shape)


def _mismatches(derived: dict, reference: dict, what: str) -> None:
    problems = [
        f"{k}: config {reference[k]!r} vs checkpoint tensors {derived[k]!r}"
        for k in reference
        if k in derived and reference[k] != derived[k]
    ]
    if problems:
        raise InvalidInputError(f"the GenAU config does not describe the checkpoint's {what}: " + "; ".join(problems))


# ---------------------------------------------------------------------------------------------------------------------
# FiT
# ---------------------------------------------------------------------------------------------------------------------
def _fit_reference_settings(params: dict) -> dict:
    """Our FiT arguments from the reference ``unet_config.params``; raises on features the port does not have."""
    problems = []
    block = str(params.get("fit_block_module", "FITBlockV5"))
    if not block.endswith("FITBlockV5"):
        problems.append(f"fit_block_module={block} (only FITBlockV5)")
    if not params.get("conditioning_in_context", False):
        problems.append("conditioning_in_context is false (only context-token conditioning)")
    if params.get("time_pe_type", "learned") != "learned":
        problems.append(f"time_pe_type={params['time_pe_type']!r} (only 'learned')")
    for flag in (
        "use_resolution_conditioning",
        "use_audio_image_conditioning",
        "summary_text_embeddings_use_mask_token",
        "mask_non_extra_input",
    ):
        if params.get(flag):
            problems.append(f"{flag}=true")
    for name in ("classes_count", "extra_average_inputs", "output_conv", "input_conv"):
        if params.get(name):
            problems.append(f"{name}={params[name]!r}")
    if float(params.get("time_scaling", 1.0)) != 1.0:
        problems.append(f"time_scaling={params['time_scaling']} (only 1)")
    for name, default in (
        ("linear_layer_module", "Linear"),
        ("layer_normalization_module", "LayerNorm"),
        ("feed_forward_module", "FeedForward"),
    ):
        if name in params and not str(params[name]).endswith(default):
            problems.append(f"{name}={params[name]}")
    sizes = {}
    for name in ("input_size", "patch_size", "group_size"):
        value = list(params.get(name) or [])
        if len(value) != 3 or value[0] != 1 or value[2] != 1:
            problems.append(f"{name}={value} (only [1, n, 1]: 1-D latents)")
        else:
            sizes[name] = int(value[1])

    block_config = params.get("fit_block_config") or {}
    for name, default in (("attention_class", "Attention"), ("ff_class", "FeedForward")):
        if name in block_config and not str(block_config[name]).endswith(default):
            problems.append(f"fit_block_config.{name}={block_config[name]}")
    if not block_config.get("use_cross_attention_feedforward", True):
        problems.append("use_cross_attention_feedforward is false")
    default_attention = block_config.get("default_attention_config") or {}
    attentions = {
        name: block_config.get(name, default_attention)
        for name in (
            "default_attention_config",
            "read_attention_config",
            "read_context_attention_config",
            "write_attention_config",
            "local_attention_config",
            "global_attention_config",
        )
    }
    if len({json.dumps(a, sort_keys=True) for a in attentions.values()}) > 1:
        problems.append(f"attention configs differ between layer kinds ({attentions}); the port uses one for all")
    default_ff = block_config.get("default_ff_config") or {}
    ffs = [
        block_config.get(name, default_ff) or {}
        for name in (
            "default_ff_config",
            "read_ff_config",
            "read_context_ff_config",
            "write_ff_config",
            "local_ff_config",
            "global_ff_config",
        )
    ] + [params.get("self_conditioning_ff_config") or {}]
    if any(set(ff) - {"mult"} for ff in ffs) or len({ff.get("mult", 4) for ff in ffs}) > 1:
        problems.append(f"feed-forward configs other than one shared 'mult' ({ffs})")
    if problems:
        raise InvalidInputError(
            "the GenAU config's FiT (unet_config) uses settings the port does not implement: " + "; ".join(problems)
        )

    settings = dict(
        sample_size=sizes["input_size"],
        patch_size=sizes["patch_size"],
        group_size=sizes["group_size"],
        in_channels=params.get("input_channels", 3),
        num_latents=params.get("latent_count"),
        hidden_size=params.get("patch_channels"),
        latent_hidden_size=params.get("latent_channels"),
        context_dim=params.get("context_channels"),
        text_embed_dim=params.get("summary_text_embeddings_channels"),
        num_blocks=params.get("fit_blocks_count"),
        local_layers_per_block=params.get("local_layers_per_block"),
        global_layers_per_block=params.get("global_layers_per_block"),
        num_dataset_ids=params.get("dataset_ids_count", 32) if params.get("use_dataset_id_conditioning") else 0,
        time_embed_dim=params.get("learned_sinusoidal_dim", 16),
        ff_mult=ffs[0].get("mult", 4),
        dropout=block_config.get("drop_units", 0.1),
        num_attention_heads=default_attention.get("heads"),
        attention_head_dim=default_attention.get("dim_head"),
    )
    return {k: v for k, v in settings.items() if v is not None}


def fit_config_from_state_dict(state: dict, in_channels: int, prefix: str = "") -> dict:
    """FiT arguments readable from the tensors (``state`` without the ``model.diffusion_model.`` prefix);
    ``in_channels`` (the VAE's latent channels) splits the patch width into channels x patch size. ``prefix``: what
    the checkpoint puts before the keys (named in errors)."""
    what = "FiT"

    hidden_size, patch_features = _shape(state, "to_patches.0.weight", what, prefix)
    if patch_features % in_channels:
        raise InvalidInputError(
            f"the FiT patch projection takes {patch_features} features, not a multiple of the VAE's "
            f"{in_channels} latent channels"
        )
    patch_size = patch_features // in_channels
    num_latents, latent_hidden_size = _shape(state, "latents", what, prefix)
    context_dim, text_embed_dim = _shape(state, "context_projection_summary_text_embeddings.weight", what, prefix)
    blocks = _indices(state, "blocks.")
    local = _indices(state, "blocks.0.local_layers.")
    attention = "blocks.0.local_layers.0.0" if local else "blocks.0.global_layers.0.0"
    feed_forward = "blocks.0.local_layers.0.1" if local else "blocks.0.global_layers.0.1"
    dataset = state.get("dataset_id_conditioning_mlp.0.weight")
    return dict(
        in_channels=in_channels,
        sample_size=_shape(state, "patches_pe", what, prefix)[0] * patch_size,
        patch_size=patch_size,
        num_latents=num_latents,
        hidden_size=hidden_size,
        latent_hidden_size=latent_hidden_size,
        context_dim=context_dim,
        text_embed_dim=text_embed_dim,
        num_blocks=len(blocks) - 1,  # the last block is the local-only tail
        local_layers_per_block=len(local),
        global_layers_per_block=len(_indices(state, "blocks.0.global_layers.")),
        ff_mult=_shape(state, f"{feed_forward}.net.0.weight", what, prefix)[0]
        // (hidden_size if local else latent_hidden_size),
        num_dataset_ids=0 if dataset is None else dataset.shape[1],
        time_embed_dim=2 * _shape(state, "time_mlp.0.weights", what, prefix)[0],
        use_self_conditioning=any(k.startswith("self_conditioning_latents_projection.") for k in state),
        _attention_width=_shape(state, f"{attention}.to_q.weight", what, prefix)[0],
    )


def _dataset_names(config: dict | None) -> list[str] | None:
    """Names by id from the YAML's ``dataset2id`` (first name wins for a shared id, e.g. 'unconditional': 0)."""
    if config is None:
        return None
    params = config["model"]["params"]
    mapping = params.get("dataset2id")
    for stage in (params.get("cond_stage_config") or {}).values():
        if isinstance(stage, dict) and str(stage.get("target", "")).endswith("DatasetIDs"):
            mapping = (stage.get("params") or {}).get("dataset2id", mapping)
    if not mapping:
        return None
    names: dict[int, str] = {}
    for name, index in mapping.items():
        names.setdefault(int(index), str(name))
    return [names.get(i, f"dataset_{i}") for i in range(max(names) + 1)]


def fit_kwargs(state: dict, in_channels: int, config: dict | None, overrides: dict | None, prefix: str = "") -> dict:
    """[`FiTTransformer1DModel`] arguments for the FiT weights ``state`` (keys without ``prefix``): the tensors,
    checked against and completed by the YAML, then ``overrides`` (our argument names, e.g. ``{"group_size": 32}``)."""
    derived = fit_config_from_state_dict(state, in_channels, prefix)
    attention_width = derived.pop("_attention_width")
    kwargs = dict(derived)
    if config is not None:
        unet = config["model"]["params"].get("unet_config") or {}
        if not str(unet.get("target", "FIT")).endswith("FIT"):
            raise InvalidInputError(
                f"the GenAU config's unet_config.target is {unet.get('target')!r}: only the FiT "
                "backbone (src.modules.fit.fit_audio.FIT) can be converted"
            )
        reference = _fit_reference_settings(unet.get("params") or {})
        _mismatches(derived, reference, "FiT")
        kwargs.update(reference)
    allowed = [name for name in inspect.signature(FiTTransformer1DModel.__init__).parameters if name != "self"]
    unknown = sorted(set(overrides or {}) - set(allowed))
    if unknown:
        raise InvalidInputError(f"fit_config has unknown key(s) {unknown}; allowed: {', '.join(sorted(allowed))}")
    kwargs.update(overrides or {})
    if "attention_head_dim" not in kwargs:
        kwargs["attention_head_dim"] = DEFAULT_ATTENTION_HEAD_DIM
    if "num_attention_heads" not in kwargs:
        if attention_width % kwargs["attention_head_dim"]:
            raise InvalidInputError(
                f"the FiT attention width {attention_width} is not a multiple of attention_head_dim="
                f"{kwargs['attention_head_dim']}: pass the GenAU config or fit_config={{'attention_head_dim': ...}} "
                "(--attention-head-dim)"
            )
        kwargs["num_attention_heads"] = attention_width // kwargs["attention_head_dim"]
    if "group_size" not in kwargs:
        raise InvalidInputError(
            "the FiT group size is not stored in the checkpoint: pass the GenAU config (unet_config.params.group_size"
            ") or fit_config={'group_size': N} (--group-size; GenAU-S/L use 32, the sample config 16)"
        )
    if kwargs.get("dataset_names") is None and (names := _dataset_names(config)) is not None:
        kwargs["dataset_names"] = names[: kwargs["num_dataset_ids"]]
    return kwargs


def build_fit(state: dict, kwargs: dict) -> FiTTransformer1DModel:
    """A [`FiTTransformer1DModel`] built with ``kwargs`` and holding ``state`` (keys without prefix)."""
    try:
        model = FiTTransformer1DModel(**kwargs)
    except ValueError as err:
        raise InvalidInputError(f"cannot build the FiT for this checkpoint ({kwargs}): {err}") from err
    _load_strict(model, state, "the checkpoint's FiT weights do not match the FiT built for them", FIT_PREFIX)
    return model.eval()


def _ema_fit_state(state: dict, ema: dict, model_keys: list[str]) -> dict:
    """Replace the FiT parameters by their EMA copies. LitEma names a parameter by its path in GenAU's wrapper with
    the dots removed (``diffusion_model.blocks.0.x`` -> ``diffusion_modelblocks0x``)."""
    names = {"diffusion_model" + k.replace(".", ""): k for k in model_keys}
    if len(names) != len(model_keys):
        raise InvalidInputError(
            "the FiT parameter names collide once their dots are removed: the EMA copy is ambiguous"
        )
    found = {names[k]: v for k, v in ema.items() if k in names}
    extra = sorted(EMA_PREFIX + k for k in ema if k not in names and k not in ("decay", "num_updates"))
    missing = sorted(EMA_PREFIX + k for k, name in names.items() if name not in found)
    _check_converted_keys("the checkpoint's EMA weights (model_ema.*) do not match the FiT", extra, missing, [])
    return {**state, **found}


# ---------------------------------------------------------------------------------------------------------------------
# VAE and vocoder
# ---------------------------------------------------------------------------------------------------------------------
def vae_config_from_state_dict(state: dict, prefix: str = "") -> dict:
    """[`AutoencoderKL1D`] arguments from the VAE tensors (``encoder.*``, ``decoder.*``, ``quant_conv.*``,
    ``post_quant_conv.*``; ``prefix``: what the checkpoint puts before them, named in errors)."""
    what = "VAE"

    levels = _indices(state, "encoder.down.")
    return dict(
        in_channels=_shape(state, "encoder.conv_in.weight", what, prefix)[1],
        out_channels=_shape(state, "decoder.conv_out.weight", what, prefix)[0],
        block_out_channels=tuple(
            _shape(state, f"encoder.down.{i}.block.0.conv1.weight", what, prefix)[0] for i in levels
        ),
        layers_per_block=len(_indices(state, "encoder.down.0.block.")),
        z_channels=_shape(state, "encoder.conv_out.weight", what, prefix)[0] // 2,
        latent_channels=_shape(state, "quant_conv.weight", what, prefix)[0] // 2,
    )


def _vae_reference_settings(config: dict) -> dict:
    stage = config["model"]["params"].get("first_stage_config") or {}
    target = str(stage.get("target", "AutoencoderKL1D"))
    params = stage.get("params") or {}
    dd = params.get("ddconfig") or {}
    problems = []
    if not target.endswith("AutoencoderKL1D"):
        problems.append(f"target={target} (only the 1D-VAE, AutoencoderKL1D)")
    if not dd.get("double_z", True):
        problems.append("double_z is false")
    if dd.get("attn_resolutions"):
        problems.append(f"attn_resolutions={dd['attn_resolutions']} (only [], attention in the middle block only)")
    if dd.get("downsample_time_stride4_levels"):
        problems.append(f"downsample_time_stride4_levels={dd['downsample_time_stride4_levels']}")
    if dd.get("use_linear_attn") or dd.get("attn_type", "vanilla") != "vanilla":
        problems.append("non-vanilla attention")
    if not dd.get("resamp_with_conv", True):
        problems.append("resamp_with_conv is false")
    for name in ("subband", "time_shuffle"):
        if int(params.get(name, 1)) != 1:
            problems.append(f"{name}={params[name]} (only 1)")
    if params.get("image_key", "fbank") != "fbank":
        problems.append(f"image_key={params['image_key']!r} (only 'fbank': log-mel input)")
    if problems:
        raise InvalidInputError(
            "the GenAU config's VAE (first_stage_config) uses settings the port does not implement: "
            + "; ".join(problems)
        )
    settings = dict(
        in_channels=dd.get("in_channels"),
        out_channels=dd.get("out_ch"),
        z_channels=dd.get("z_channels"),
        latent_channels=params.get("embed_dim"),
        layers_per_block=dd.get("num_res_blocks"),
        dropout=dd.get("dropout"),
    )
    if "ch" in dd and "ch_mult" in dd:
        settings["block_out_channels"] = tuple(int(dd["ch"]) * int(m) for m in dd["ch_mult"])
    return {k: v for k, v in settings.items() if v is not None}


def build_vae(state: dict, config: dict | None, scaling_factor: float, what: str, prefix: str) -> AutoencoderKL1D:
    """An [`AutoencoderKL1D`] holding ``state`` (the VAE keys without prefix); GroupNorm uses 32 groups, as the
    reference's ``Normalize``."""
    kwargs = vae_config_from_state_dict(state, prefix)
    if config is not None:
        reference = _vae_reference_settings(config)
        _mismatches(kwargs, reference, "VAE")
        kwargs.update(reference)
    try:
        vae = AutoencoderKL1D(**kwargs, norm_num_groups=32, scaling_factor=scaling_factor)
    except ValueError as err:
        raise InvalidInputError(f"cannot build the VAE for this checkpoint ({kwargs}): {err}") from err
    _load_strict(vae, state, f"the {what}'s VAE weights do not match the VAE built for them", prefix)
    return vae.eval()


def fold_weight_norm(state: dict, prefix: str = "") -> dict:
    """Replace every ``x.weight_g``/``x.weight_v`` pair (``torch.nn.utils.weight_norm``, dim 0) by ``x.weight``.

    Written out (rather than rebuilding weight-normed modules to call ``remove_weight_norm``) because only tensors
    are at hand: ``weight = g * v / ||v||``, the norm over every dim but the first. ``prefix``: what the checkpoint
    puts before the keys (named in errors).
    """
    pattern = re.compile(r"(?:^|\.)weight_[gv]$")
    folded = {k: v for k, v in state.items() if not pattern.search(k)}
    halves = {k[:-2] for k in state if pattern.search(k)}  # "x.weight"
    lonely = sorted(prefix + k + suffix for k in halves for suffix in ("_g", "_v") if k + suffix not in state)
    if lonely:
        raise InvalidInputError(f"weight-norm pairs are incomplete, missing: {lonely}")
    for key in halves:
        g, v = state[key + "_g"], state[key + "_v"]
        norm = torch.linalg.vector_norm(v.double(), dim=tuple(range(1, v.ndim)), keepdim=True)
        folded[key] = (v.double() * (g.double() / norm)).to(v.dtype)
    return folded


def convert_hifigan_state_dict(state: dict, prefix: str = "") -> dict:
    """A GenAU HiFi-GAN ``Generator`` state dict (weight-normed or not) -> ``SpeechT5HifiGan``'s names."""
    return {re.sub(r"^ups\.", "upsampler.", k): v for k, v in fold_weight_norm(state, prefix).items()}


def _hifigan_source_name(prefix: str, weight_normed: bool) -> Callable[[str], str | list[str]]:
    """Our ``SpeechT5HifiGan`` key -> the reference Generator's key(s) under ``prefix`` (``upsampler.`` -> ``ups.``; a
    folded weight is two keys, ``weight_g`` and ``weight_v``, in a weight-normed checkpoint)."""

    def name(key: str) -> str | list[str]:
        key = prefix + re.sub(r"^upsampler\.", "ups.", key)
        if weight_normed and key.endswith(".weight"):
            return [key + "_g", key + "_v"]
        return key

    return name


def vocoder_config_from_state_dict(
    state: dict,
    hifigan_config: dict | None,
    sampling_rate: int,
    hop_length: int | None,
    name: Callable[[str], Any] | None = None,
) -> SpeechT5HifiGanConfig:
    """``SpeechT5HifiGanConfig`` for a converted HiFi-GAN state dict (``SpeechT5HifiGan`` names). The upsampling
    rates and dilations are not in the tensors: they come from ``hifigan_config`` (the reference JSON) or, if the
    kernel sizes match, from the GenAU preset. ``name``: our key -> the checkpoint's (named in errors)."""
    what = "vocoder"

    width, mel_bins, _ = _shape(state, "conv_pre.weight", what, name or "")
    ups = _indices(state, "upsampler.")
    kernels = [_shape(state, f"upsampler.{i}.weight", what, name or "")[2] for i in ups]
    num_kernels = len(_indices(state, "resblocks.")) // max(len(ups), 1)
    res_kernels = [_shape(state, f"resblocks.{j}.convs1.0.weight", what, name or "")[2] for j in range(num_kernels)]
    if any(k.startswith("resblocks.") for k in state) and not any(".convs2." in k for k in state):
        raise InvalidInputError("the vocoder uses HiFi-GAN ResBlock type 2; only type 1 (GenAU's) is supported")
    values = dict(
        model_in_dim=mel_bins,
        upsample_initial_channel=width,
        upsample_kernel_sizes=kernels,
        resblock_kernel_sizes=res_kernels,
        sampling_rate=sampling_rate,
    )
    if hifigan_config is not None:
        if str(hifigan_config.get("resblock", "1")) != "1":
            raise InvalidInputError(
                f"the HiFi-GAN config has resblock={hifigan_config['resblock']!r}; only '1' is supported"
            )
        reference = dict(
            model_in_dim=hifigan_config.get("num_mels"),
            upsample_initial_channel=hifigan_config.get("upsample_initial_channel"),
            upsample_kernel_sizes=hifigan_config.get("upsample_kernel_sizes"),
            resblock_kernel_sizes=hifigan_config.get("resblock_kernel_sizes"),
            sampling_rate=hifigan_config.get("sampling_rate"),
        )
        _mismatches(values, {k: v for k, v in reference.items() if v is not None and k != "sampling_rate"}, "vocoder")
        for name in ("upsample_rates", "resblock_dilation_sizes"):
            if name not in hifigan_config:
                raise InvalidInputError(f"the HiFi-GAN config lacks {name!r}")
            values[name] = hifigan_config[name]
    else:
        preset = genau_vocoder_config()
        if kernels != list(preset.upsample_kernel_sizes) or res_kernels != list(preset.resblock_kernel_sizes):
            raise InvalidInputError(
                f"the vocoder's kernel sizes (upsampling {kernels}, residual {res_kernels}) are not the GenAU "
                "preset's, so its upsampling rates are unknown: pass its HiFi-GAN config JSON (vocoder_config=, "
                "--vocoder-config)"
            )
        values.update(
            upsample_rates=list(preset.upsample_rates),
            resblock_dilation_sizes=[list(d) for d in preset.resblock_dilation_sizes],
        )
    if hop_length is not None and math.prod(values["upsample_rates"]) != hop_length:
        raise InvalidInputError(
            f"the vocoder upsamples by {math.prod(values['upsample_rates'])} "
            f"({values['upsample_rates']}) but the config's mel hop is {hop_length}"
        )
    return genau_vocoder_config(**values)


def build_vocoder(state: dict, what: str, hifigan_config, sampling_rate: int, hop_length: int | None, prefix: str = ""):
    """A ``SpeechT5HifiGan`` holding a GenAU HiFi-GAN state dict (``ups.*``, weight-normed or folded; ``prefix``:
    what the checkpoint puts before the keys, named in errors)."""
    name = _hifigan_source_name(prefix, any(k.endswith("weight_g") for k in state))
    state = convert_hifigan_state_dict(state, prefix)
    vocoder = SpeechT5HifiGan(vocoder_config_from_state_dict(state, hifigan_config, sampling_rate, hop_length, name))
    # mean/scale only serve normalize_before=True, which GenAU does not use: they stay as built.
    _load_strict(
        vocoder,
        state,
        f"the {what}'s HiFi-GAN weights do not match the vocoder built for them",
        defaults=("mean", "scale"),
        name=name,
    )
    return vocoder.eval()


# ---------------------------------------------------------------------------------------------------------------------
# Text encoders
# ---------------------------------------------------------------------------------------------------------------------
def clap_text_config_from_state_dict(state: dict, prefix: str = "") -> ClapTextConfig:
    """``ClapTextConfig`` for laion CLAP's RoBERTa text tower (keys ``text_branch.*``, ``text_projection.*``). The
    head count is not in the tensors: RoBERTa's width / 64 (12 for roberta-base)."""
    what = "CLAP text"

    vocab, hidden = _shape(state, "text_branch.embeddings.word_embeddings.weight", what, prefix)
    if hidden % 64:
        raise InvalidInputError(
            f"the CLAP text width {hidden} is not a multiple of 64: pass text_encoder= as a "
            "ClapTextConfig with its num_attention_heads"
        )
    return ClapTextConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=len(_indices(state, "text_branch.encoder.layer.")),
        num_attention_heads=hidden // 64,
        intermediate_size=_shape(state, "text_branch.encoder.layer.0.intermediate.dense.weight", what, prefix)[0],
        max_position_embeddings=_shape(state, "text_branch.embeddings.position_embeddings.weight", what, prefix)[0],
        type_vocab_size=_shape(state, "text_branch.embeddings.token_type_embeddings.weight", what, prefix)[0],
        projection_dim=_shape(state, "text_projection.2.weight", what, prefix)[0],
        layer_norm_eps=1e-5,  # roberta-base's (laion builds the tower with RobertaModel.from_pretrained)
        pad_token_id=1,
    )


def convert_clap_text_state_dict(state: dict) -> dict:
    """laion CLAP text tower -> ``ClapTextModelWithProjection``: ``text_branch.`` -> ``text_model.``,
    ``text_projection.{0,2}`` -> ``text_projection.linear{1,2}``."""
    renames = (
        (r"^text_branch\.", "text_model."),
        (r"^text_projection\.0\.", "text_projection.linear1."),
        (r"^text_projection\.2\.", "text_projection.linear2."),
    )
    converted = {}
    for key, value in state.items():
        for pattern, replacement in renames:
            key = re.sub(pattern, replacement, key)
        converted[key] = value
    return converted


def t5_config_from_state_dict(state: dict, prefix: str = "") -> T5Config:
    """``T5Config`` for a ``T5EncoderModel`` state dict: sizes from the shapes, a gated-GELU feed-forward when
    ``wi_0``/``wi_1`` exist (FLAN-T5 / T5 v1.1) else ReLU; max distance and epsilon are T5's defaults."""
    what = "T5"

    vocab, d_model = _shape(state, "shared.weight", what, prefix)
    buckets, heads = _shape(state, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", what, prefix)
    gated = "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" in state
    ff_key = "encoder.block.0.layer.1.DenseReluDense." + ("wi_0" if gated else "wi") + ".weight"
    layers = len(_indices(state, "encoder.block."))
    inner = _shape(state, "encoder.block.0.layer.0.SelfAttention.q.weight", what, prefix)[0]
    return T5Config(
        vocab_size=vocab,
        d_model=d_model,
        d_kv=inner // heads,
        d_ff=_shape(state, ff_key, what, prefix)[0],
        num_layers=layers,
        num_decoder_layers=layers,
        num_heads=heads,
        relative_attention_num_buckets=buckets,
        feed_forward_proj="gated-gelu" if gated else "relu",
        dropout_rate=0.0,
    )


def _load_pretrained_text_encoder(source: str, kind: str):
    def load(path, **kwargs):
        if kind == "clap":
            try:
                model_type = AutoConfig.from_pretrained(path).model_type
            except (OSError, ValueError) as err:
                raise OSError(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__) from err
            cls = ClapModel if model_type == "clap" else ClapTextModelWithProjection
        else:
            cls = T5EncoderModel
        return cls.from_pretrained(path, **kwargs)

    loaded = load_pretrained_checked(load, source, f"{kind} text encoder")
    return loaded.eval()


def _tokenizer_hint(argument: str) -> str:
    return (
        f"the GenAU checkpoint holds no tokenizer: pass {argument}= (a local directory holding it, or a tokenizer "
        "object)"
    )


def _load_tokenizer(source: Any, kind: str, argument: str, vocab_size: int | None = None):
    if source is None:
        return source
    if not isinstance(source, (str, os.PathLike)):
        return check_tokenizer(source, f"{kind} tokenizer", f"given as {argument}=", vocab_size)
    return load_tokenizer(source, f"{kind} tokenizer", hint=_tokenizer_hint(argument), vocab_size=vocab_size)


def _clap_source_name(prefix: str) -> Callable[[str], str]:
    """``ClapTextModelWithProjection`` key -> laion CLAP's (the inverse of ``convert_clap_text_state_dict``)."""
    renames = (
        (r"^text_model\.", "text_branch."),
        (r"^text_projection\.linear1\.", "text_projection.0."),
        (r"^text_projection\.linear2\.", "text_projection.2."),
    )

    def name(key: str) -> str:
        for pattern, replacement in renames:
            key = re.sub(pattern, replacement, key)
        return prefix + key

    return name


def build_text_encoder(kind: str, state: dict, given: Any, prefix: str = ""):
    """The CLAP (``kind="clap"``) or T5 text encoder: from the checkpoint weights ``state`` (without the cond-stage
    prefix, which ``prefix`` gives for errors) or from ``given`` (directory / Hub id / model: used as is; config:
    filled with ``state``)."""
    if isinstance(given, PreTrainedModel):
        return given.eval()
    if isinstance(given, (str, os.PathLike)):
        return _load_pretrained_text_encoder(os.fspath(given), kind)
    if given is not None and not isinstance(given, PretrainedConfig):
        raise InvalidInputError(
            f"the {kind} text encoder must be a directory/Hub id, a transformers model or config, got "
            f"{type(given).__name__}"
        )
    if not state:
        argument = "text_encoder" if kind == "clap" else "text_encoder_2"
        raise InvalidInputError(
            f"the checkpoint holds no {kind} text-encoder weights: pass {argument}= (a directory, Hub id or model)"
        )
    if kind == "clap":
        config = given or clap_text_config_from_state_dict(state, prefix)
        state = convert_clap_text_state_dict(state)
        name = _clap_source_name(prefix)
        # RoBERTa's position/token-type id buffers (arange / zeros) are not saved by recent transformers versions.
        cls, defaults = (
            ClapTextModelWithProjection,
            ("text_model.embeddings.position_ids", "text_model.embeddings.token_type_ids"),
        )
    else:
        config, cls, defaults = given or t5_config_from_state_dict(state, prefix), T5EncoderModel, ()
        name = None
    with no_init_weights():  # every weight is overwritten below
        model = cls(config)
    _load_strict(
        model,
        state,
        f"the checkpoint's {kind} text-encoder weights do not match {cls.__name__}",
        prefix=prefix,
        defaults=defaults,
        name=name,
    )
    return model.eval()


def _cond_stage_kinds(state: dict, config: dict | None) -> dict[int, str]:
    """``{index: "clap" | "t5" | "ids"}`` of ``cond_stage_models.{index}``: from the YAML's ``cond_stage_config``
    order, or from the keys (a CLAP has ``model.text_branch.*``, a T5 ``model.encoder.block.*``)."""
    if config is not None:
        stages = config["model"]["params"].get("cond_stage_config") or {}
        kinds, film = {}, []
        for index, (name, stage) in enumerate(stages.items()):
            target = str((stage or {}).get("target", ""))
            params = (stage or {}).get("params") or {}
            if target.endswith("CLAPAudioEmbeddingClassifierFreev2") and params.get("embed_mode", "text") == "text":
                kinds[index] = "clap"
            elif target.endswith("FlanT5HiddenState") and params.get("return_embeds") and params.get("pool_tokens"):
                kinds[index] = "t5"
            elif target.endswith("DatasetIDs") and not params.get("encode_dataset_ids", False):
                kinds[index] = "ids"
            else:
                raise InvalidInputError(
                    f"the GenAU config's conditioner {name!r} ({target} {params}) is not supported: only "
                    "the CLAP text embedding, pooled FLAN-T5 embeddings and dataset ids"
                )
            if "film" in name:  # GenAU concatenates the conditioners whose key contains "film", in config order
                film.append(kinds[index])
        if film not in (["clap", "t5"], ["clap"], ["t5"]):
            raise InvalidInputError(
                f"the GenAU config concatenates the text embeddings as {film}; the pipeline builds "
                "[CLAP, T5] (either may be absent)"
            )
        return kinds
    kinds = {}
    for index in _indices(state, "cond_stage_models."):
        prefix = f"cond_stage_models.{index}."
        if any(k.startswith(prefix + "model.text_branch.") for k in state):
            kinds[index] = "clap"
        elif any(k.startswith(prefix + "model.encoder.block.") for k in state):
            kinds[index] = "t5"
    text = [kinds[i] for i in sorted(kinds)]
    if text == ["t5", "clap"]:
        raise InvalidInputError(
            "the checkpoint's T5 conditioner comes before its CLAP one, so the text embeddings are "
            "concatenated as [T5, CLAP]; the pipeline builds [CLAP, T5]"
        )
    return kinds


# ---------------------------------------------------------------------------------------------------------------------
# Scheduler
# ---------------------------------------------------------------------------------------------------------------------
def _round_significant(x: float, digits: int) -> float:
    return float(f"{x:.{digits}g}")


def build_scheduler(alphas_cumprod: torch.Tensor, config: dict | None):
    """The DDIM scheduler of the checkpoint: GenAU's ``genau_ddim_scheduler`` for its "linear" schedule (LDM's name
    for diffusers' "scaled_linear"), with ``linear_start``/``linear_end`` from the YAML or, without one, read off the
    stored ``alphas_cumprod``; other schedules get their betas from ``alphas_cumprod``. Always checked against it."""
    reference = alphas_cumprod.double()
    params = config["model"]["params"] if config is not None else {}
    steps = int(params.get("timesteps", len(reference)))
    if steps != len(reference):
        raise InvalidInputError(
            f"the config says timesteps={steps} but the checkpoint's alphas_cumprod has {len(reference)}"
        )
    parameterization = params.get("parameterization", "eps")
    prediction = {"eps": "epsilon", "v": "v_prediction"}.get(parameterization)
    if prediction is None:
        raise InvalidInputError(
            f"parameterization={parameterization!r}: only 'eps' and 'v' can be converted (GenAU's DDIM "
            "treats an 'x0' output as ε)"
        )
    schedule = params.get("beta_schedule", "linear")

    def difference(scheduler) -> float:
        return float((scheduler.alphas_cumprod.double() - reference).abs().max())

    def matches(scheduler) -> bool:
        return difference(scheduler) <= SCHEDULE_TOLERANCE

    def scaled_linear(start, end):
        return genau_ddim_scheduler(
            num_train_timesteps=steps, beta_start=start, beta_end=end, prediction_type=prediction
        )

    scheduler = None
    if config is not None and schedule == "linear":
        # DDPM's defaults when the YAML leaves them out (GenAU's YAMLs set 0.0015 / 0.0195)
        start, end = float(params.get("linear_start", 1e-4)), float(params.get("linear_end", 2e-2))
        if not 0 < start <= end < 1:
            raise InvalidInputError(
                f"the GenAU config's linear_start={start:g} and linear_end={end:g} must satisfy "
                "0 < linear_start <= linear_end < 1 (betas of a linear schedule)"
            )
        scheduler = scaled_linear(start, end)
        if not matches(scheduler):
            raise InvalidInputError(
                f"the checkpoint's alphas_cumprod does not follow the config's linear schedule (linear_start "
                f"{start:g}, linear_end {end:g}): max |Δᾱ| {difference(scheduler):.2e} > {SCHEDULE_TOLERANCE:g}"
            )
    elif config is None:
        start, end = 1 - float(reference[0]), 1 - float(reference[-1] / reference[-2])
        for digits in range(2, 8):  # the shortest decimals that reproduce the stored schedule (0.0015, 0.0195)
            candidate = scaled_linear(_round_significant(start, digits), _round_significant(end, digits))
            if matches(candidate):
                scheduler = candidate
                break
    if scheduler is None:  # cosine, shifted_cosine, simple_linear...: the betas of the stored schedule
        previous = torch.cat([torch.ones(1, dtype=reference.dtype), reference[:-1]])
        betas = (1 - reference / previous).clamp(0, 0.999)
        scheduler = genau_ddim_scheduler(
            num_train_timesteps=steps, trained_betas=betas.tolist(), prediction_type=prediction
        )
        if not matches(scheduler):
            raise InvalidInputError(
                f"cannot reproduce the checkpoint's alphas_cumprod with a DDIM scheduler: max |Δᾱ| "
                f"{difference(scheduler):.2e} > {SCHEDULE_TOLERANCE:g}"
            )
    return scheduler


# ---------------------------------------------------------------------------------------------------------------------
# Whole pipeline
# ---------------------------------------------------------------------------------------------------------------------
def _genau_rules(kinds: dict[int, str], use_ema: bool, vae_source: str, vocoder_source: str, encoders: dict) -> list:
    def prefix(p):
        return lambda key: key.startswith(p)

    def vae_part(p):
        return lambda key: key.startswith(p) and key[len(p) :].startswith(VAE_PARTS)

    rules = [
        _Rule(
            FIT_PREFIX + "*",
            prefix(FIT_PREFIX),
            "transformer buffers (parameters from model_ema.*)" if use_ema else "transformer",
            "fit",
        ),
        _Rule(
            EMA_PREFIX + "*",
            prefix(EMA_PREFIX),
            "transformer parameters (use_ema)" if use_ema else "dropped: EMA copy (use_ema=False)",
            "ema" if use_ema else None,
        ),
        _Rule(
            FIRST_STAGE_PREFIX + "{encoder,decoder,quant_conv,post_quant_conv}.*",
            vae_part(FIRST_STAGE_PREFIX),
            "vae" if vae_source == "checkpoint" else f"dropped: replaced by the {vae_source}",
            "vae" if vae_source == "checkpoint" else None,
        ),
        _Rule(
            FIRST_STAGE_PREFIX + "vocoder.*",
            prefix(FIRST_STAGE_PREFIX + "vocoder."),
            "vocoder" if vocoder_source == "checkpoint" else f"dropped: replaced by the {vocoder_source}",
            "vocoder",
        ),
        _Rule(
            FIRST_STAGE_PREFIX + "loss.*",
            prefix(FIRST_STAGE_PREFIX + "loss."),
            "dropped: the VAE's training loss (LPIPS, discriminator, log-variance)",
        ),
        _Rule("scale_factor", lambda key: key == "scale_factor", "vae.config.scaling_factor", "scale"),
        _Rule("alphas_cumprod", lambda key: key == "alphas_cumprod", "scheduler (checked against it)", "schedule"),
        _Rule(", ".join(SCHEDULE_BUFFERS), lambda key: key in SCHEDULE_BUFFERS, "dropped: derived from alphas_cumprod"),
        _Rule("logvar", lambda key: key == "logvar", "dropped: per-timestep loss weights (training only)"),
        _Rule(
            "clap.*",
            prefix("clap."),
            "dropped: re-ranking CLAP (laion HTSAT-base); give the pipeline a transformers ClapModel as clap_model",
        ),
    ]
    for index, kind in sorted(kinds.items()):
        stage = f"cond_stage_models.{index}."
        if kind == "clap":
            text = (stage + "model.text_branch.", stage + "model.text_projection.")
            from_checkpoint = encoders["clap"] is None or isinstance(encoders["clap"], PretrainedConfig)
            rules.append(
                _Rule(
                    stage + "model.{text_branch,text_projection}.*",
                    lambda key, text=text: key.startswith(text),
                    "text_encoder (CLAP text tower)"
                    if from_checkpoint
                    else "dropped: replaced by the given text_encoder",
                    "clap",
                )
            )
            rest = tuple(
                stage + name
                for name in (
                    "model.audio_branch.",
                    "model.audio_projection.",
                    "model.audio_transform.",
                    "model.text_transform.",
                    "model.logit_scale_a",
                    "model.logit_scale_t",
                    "mel_transform.",
                )
            )
            rules.append(
                _Rule(
                    stage + "{model.audio_*,model.text_transform,model.logit_scale_*,mel_transform}.*",
                    lambda key, rest=rest: key.startswith(rest),
                    "dropped: CLAP audio tower and training heads (GenAU conditions on the CLAP text embedding only)",
                )
            )
        elif kind == "t5":
            from_checkpoint = encoders["t5"] is None or isinstance(encoders["t5"], PretrainedConfig)
            rules.append(
                _Rule(
                    stage + "model.*",
                    prefix(stage + "model."),
                    "text_encoder_2 (T5 encoder)"
                    if from_checkpoint
                    else "dropped: replaced by the given text_encoder_2",
                    "t5",
                )
            )
    return rules


def _vocab_size(model) -> int | None:
    config = getattr(model, "config", None)
    config = getattr(config, "text_config", config)  # a whole ClapModel
    return getattr(config, "vocab_size", None)


def _check_given_paths(checkpoint, vae, vocoder, text_encoder, tokenizer, text_encoder_2, tokenizer_2) -> None:
    """The files and directories given as paths exist and are what they should be (tokenizer directories hold a
    vocabulary), before any of them is read."""
    for path, what in ((checkpoint, "GenAU checkpoint"), (vae, "VAE checkpoint"), (vocoder, "vocoder checkpoint")):
        if isinstance(path, (str, os.PathLike)):
            check_input_file(path, what)
    for source, what in ((text_encoder, "CLAP text encoder"), (text_encoder_2, "T5 text encoder")):
        if isinstance(source, (str, os.PathLike)) and looks_like_local_path(os.fspath(source)):
            check_input_dir(
                os.path.expanduser(os.fspath(source)), what, "expected a save_pretrained directory or a Hub id"
            )
    for source, encoder, kind, argument in (
        (tokenizer, text_encoder, "CLAP", "tokenizer"),
        (tokenizer_2, text_encoder_2, "T5", "tokenizer_2"),
    ):
        source = encoder if source is None and isinstance(encoder, (str, os.PathLike)) else source
        if isinstance(source, (str, os.PathLike)) and looks_like_local_path(os.fspath(source)):
            check_tokenizer_dir(os.path.expanduser(os.fspath(source)), f"{kind} tokenizer", _tokenizer_hint(argument))


def convert_genau_checkpoint(
    checkpoint: str | os.PathLike | dict,
    out_dir: str | os.PathLike | None = None,
    *,
    config: str | os.PathLike | dict | None = None,
    vae: str | os.PathLike | dict | None = None,
    vocoder: str | os.PathLike | dict | None = None,
    vocoder_config: str | os.PathLike | dict | None = None,
    fit_config: dict | None = None,
    use_ema: bool | None = None,
    text_encoder: Any = None,
    tokenizer: Any = None,
    text_encoder_2: Any = None,
    tokenizer_2: Any = None,
    allow_pickle: bool = False,
) -> GenAUConversion:
    """Convert a GenAU Lightning checkpoint to a [`GenAUPipeline`] (saved to ``out_dir`` if given).

    Args:
        checkpoint: the ``genau-*.ckpt`` (path or the loaded dict).
        out_dir: where to ``save_pretrained`` the pipeline.
        config: the reference YAML of the run (path or dict); recommended (see the module docstring).
        vae: a separate 1D-VAE Lightning checkpoint (``1dvae_64_344999.ckpt``) replacing the checkpoint's first stage.
        vocoder: a separate HiFi-GAN checkpoint (``hifigan_16k_64bins.ckpt``, ``{"generator": ...}``, weight-normed)
            replacing the VAE's vocoder.
        vocoder_config: the HiFi-GAN JSON (``hifigan_16k_64bins.json``); default: the GenAU preset if it fits.
        fit_config: [`FiTTransformer1DModel`] arguments to set (e.g. ``{"group_size": 32}`` without a config).
        use_ema: take the FiT parameters from ``model_ema.*``; default: the YAML's ``force_use_ema`` (GenAU's
            ``text_to_audio.py`` rule), else False.
        text_encoder, text_encoder_2: the CLAP text / T5 encoders: ``None`` (from the checkpoint), a directory or Hub
            id or model (used as is), or a config (built and filled from the checkpoint).
        tokenizer, tokenizer_2: their tokenizers (directory, Hub id or object); default: next to a directory
            encoder, else ``roberta-base`` / the YAML's T5 name (needs the Hub or its cache).
        allow_pickle: unpickle the files in full (only for files you trust) if the safe loader refuses them.

    Returns:
        [`GenAUConversion`] with the pipeline and the key accounting (``summary()``).
    """
    # Everything a user gives is checked before the checkpoint (gigabytes) is read.
    if out_dir is not None:
        out_dir = check_out_dir(out_dir)
    _check_given_paths(checkpoint, vae, vocoder, text_encoder, tokenizer, text_encoder_2, tokenizer_2)
    config = load_genau_config(config) if config is not None else None
    params = config["model"]["params"] if config is not None else {}
    hifigan_config = _load_json(vocoder_config, "HiFi-GAN config") if vocoder_config is not None else None
    if use_ema is None:
        use_ema = bool(config.get("force_use_ema", False)) if config is not None else False
    state = load_lightning_state_dict(checkpoint, "GenAU checkpoint", allow_pickle)
    if FIT_PREFIX + "to_patches.0.weight" not in state:
        denoiser = sorted(k for k in state if k.startswith(FIT_PREFIX))[:5]
        raise InvalidInputError(
            f"the checkpoint has no FiT denoiser ({FIT_PREFIX}to_patches.0.weight); only GenAU's FiT "
            f"backbone can be converted. Its denoiser keys: {denoiser or 'none'}"
        )
    if use_ema and not any(k.startswith(EMA_PREFIX) for k in state):
        raise InvalidInputError("use_ema=True but the checkpoint has no EMA weights (model_ema.*)")
    kinds = _cond_stage_kinds(state, config)
    report: list[KeyGroup] = []

    vae_state = load_lightning_state_dict(vae, "VAE checkpoint", allow_pickle) if vae is not None else None
    if vocoder is not None:
        vocoder_source = "vocoder checkpoint"
    elif vae_state is not None and any(k.startswith("vocoder.") for k in vae_state):
        vocoder_source = "VAE checkpoint"
    else:
        vocoder_source = "checkpoint"
    groups = _account(
        state,
        _genau_rules(
            kinds,
            use_ema,
            "checkpoint" if vae is None else "VAE checkpoint",
            vocoder_source,
            {"clap": text_encoder, "t5": text_encoder_2},
        ),
        "GenAU checkpoint",
        report,
    )
    if vae_state is not None:
        vae_groups = _account(
            vae_state,
            [
                _Rule(
                    "{encoder,decoder,quant_conv,post_quant_conv}.*",
                    lambda key: key.startswith(VAE_PARTS),
                    "vae",
                    "vae",
                ),
                _Rule(
                    "vocoder.*",
                    lambda key: key.startswith("vocoder."),
                    "vocoder" if vocoder_source == "VAE checkpoint" else "dropped: replaced by the vocoder checkpoint",
                    "vocoder",
                ),
                _Rule("loss.*", lambda key: key.startswith("loss."), "dropped: the VAE's training loss"),
            ],
            "VAE checkpoint",
            report,
        )
        vae_weights, vae_what, vae_prefix = vae_groups.get("vae", {}), "VAE checkpoint", ""
    else:
        vae_weights = _strip(groups.get("vae", {}), FIRST_STAGE_PREFIX)
        vae_what, vae_prefix = "GenAU checkpoint", FIRST_STAGE_PREFIX
        vae_groups = {}

    # Scale factor: a buffer with scale_by_std (GenAU's setting), else a plain argument in the YAML.
    if "scale" in groups:
        scaling_factor = float(groups["scale"]["scale_factor"])
    elif config is not None and not params.get("scale_by_std", False):
        scaling_factor = float(params.get("scale_factor", 1.0))
    else:
        raise InvalidInputError(
            "the GenAU checkpoint has no scale_factor (GenAU stores 1/std of the VAE latents there): "
            "pass the config if the run used scale_by_std=false"
        )
    if not vae_weights:
        raise InvalidInputError("the GenAU checkpoint holds no VAE (first_stage_model.encoder/decoder...): pass vae=")
    vae_model = build_vae(vae_weights, config, scaling_factor, vae_what, vae_prefix)

    fit_weights = _strip(groups["fit"], FIT_PREFIX)
    kwargs = fit_kwargs(fit_weights, vae_model.config.latent_channels, config, fit_config, FIT_PREFIX)
    if use_ema:
        with torch.device("meta"):  # only the parameter names are needed
            names = [name for name, _ in FiTTransformer1DModel(**kwargs).named_parameters()]
        fit_weights = _ema_fit_state(fit_weights, _strip(groups.get("ema", {}), EMA_PREFIX), names)
    transformer = build_fit(fit_weights, kwargs)

    preprocessing = (config or {}).get("preprocessing") or {}
    sampling_rate = int(params.get("sampling_rate") or (preprocessing.get("audio") or {}).get("sampling_rate", 16000))
    hop_length = (preprocessing.get("stft") or {}).get("hop_length")
    if vocoder is not None:
        vocoder_weights, vocoder_prefix = load_hifigan_state_dict(vocoder, allow_pickle), ""
        _account(
            vocoder_weights,
            [
                _Rule(
                    "{conv_pre,ups,resblocks,conv_post}.*",
                    lambda key: key.startswith(("conv_pre.", "ups.", "resblocks.", "conv_post.")),
                    "vocoder",
                )
            ],
            "vocoder checkpoint",
            report,
        )
    elif vocoder_source == "VAE checkpoint":
        vocoder_weights, vocoder_prefix = _strip(vae_groups["vocoder"], "vocoder."), "vocoder."
    else:
        vocoder_prefix = FIRST_STAGE_PREFIX + "vocoder."
        vocoder_weights = _strip(groups.get("vocoder", {}), vocoder_prefix)
    if not vocoder_weights:
        raise InvalidInputError(
            "no vocoder weights found (first_stage_model.vocoder.*): pass vocoder= (hifigan_16k_64bins.ckpt)"
        )
    vocoder_model = build_vocoder(
        vocoder_weights,
        vocoder_source,
        hifigan_config,
        sampling_rate,
        int(hop_length) if hop_length else None,
        vocoder_prefix,
    )
    if vocoder_model.config.model_in_dim != vae_model.config.out_channels:
        raise InvalidInputError(
            f"the vocoder reads {vocoder_model.config.model_in_dim} mel bins but the VAE makes "
            f"{vae_model.config.out_channels}"
        )

    if "schedule" not in groups:
        raise InvalidInputError("the GenAU checkpoint has no alphas_cumprod buffer (the diffusion schedule)")
    scheduler = build_scheduler(groups["schedule"]["alphas_cumprod"], config)

    clap_index = next((i for i, kind in kinds.items() if kind == "clap"), None)
    t5_index = next((i for i, kind in kinds.items() if kind == "t5"), None)
    components: dict[str, Any] = {}
    if clap_index is not None or text_encoder is not None:
        clap_prefix = f"cond_stage_models.{clap_index}.model."
        clap_state = _strip(groups.get("clap", {}), clap_prefix)
        components["text_encoder"] = build_text_encoder("clap", clap_state, text_encoder, clap_prefix)
        if tokenizer is None and isinstance(text_encoder, (str, os.PathLike)):
            tokenizer = text_encoder
        tokenizer = DEFAULT_CLAP_TOKENIZER if tokenizer is None else tokenizer
        components["tokenizer"] = _load_tokenizer(
            tokenizer, "CLAP", "tokenizer", _vocab_size(components["text_encoder"])
        )
    if t5_index is not None or text_encoder_2 is not None:
        t5_prefix = f"cond_stage_models.{t5_index}.model."
        t5_state = _strip(groups.get("t5", {}), t5_prefix)
        components["text_encoder_2"] = build_text_encoder("t5", t5_state, text_encoder_2, t5_prefix)
        if tokenizer_2 is None:
            stages = list((params.get("cond_stage_config") or {}).values())
            name = (
                ((stages[t5_index] or {}).get("params") or {}).get("text_encoder_name")
                if (t5_index is not None and t5_index < len(stages))
                else None
            )
            tokenizer_2 = text_encoder_2 if isinstance(text_encoder_2, (str, os.PathLike)) else name or DEFAULT_T5_NAME
        components["tokenizer_2"] = _load_tokenizer(
            tokenizer_2, "T5", "tokenizer_2", _vocab_size(components["text_encoder_2"])
        )
    if not components:
        raise InvalidInputError(
            "the checkpoint has no text encoders and none were given: pass text_encoder= and/or text_encoder_2="
        )

    widths = []  # CLAP's projection, then the T5's hidden size (the reference's [CLAP, FLAN-T5] concatenation)
    if "text_encoder" in components:
        widths.append(components["text_encoder"].config.projection_dim)
    if "text_encoder_2" in components:
        config_2 = components["text_encoder_2"].config
        widths.append(getattr(config_2, "d_model", None) or config_2.hidden_size)
    if sum(widths) != transformer.config.text_embed_dim:
        raise InvalidInputError(
            f"the text encoders give {' + '.join(map(str, widths))} = {sum(widths)} features but the "
            f"FiT expects text_embed_dim={transformer.config.text_embed_dim}"
        )
    try:
        pipeline = GenAUPipeline(
            vae=vae_model, transformer=transformer, scheduler=scheduler, vocoder=vocoder_model, **components
        )
    except ValueError as err:
        raise InvalidInputError(f"cannot assemble the GenAU pipeline: {err}") from err
    if out_dir is not None:
        pipeline.save_pretrained(out_dir)
    return GenAUConversion(pipeline=pipeline, key_groups=report)


__all__ = [
    "GenAUConversion",
    "KeyGroup",
    "build_scheduler",
    "convert_genau_checkpoint",
    "convert_hifigan_state_dict",
    "fold_weight_norm",
    "load_genau_config",
    "load_hifigan_state_dict",
    "load_lightning_state_dict",
]
