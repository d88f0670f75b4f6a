"""Convert an audiocraft EnCodec compression checkpoint (e.g. AudioGen's ``compression_state_dict.bin``) to a
``CodecModel``.

An exported audiocraft compression package is a dict ``{"best_state": state_dict, "xp.cfg": yaml_string, ...}``.
``xp.cfg`` is the OmegaConf YAML of the training run; the fields that shape the model are ``sample_rate``,
``channels``, ``encodec.*``, ``seanet.*`` and ``rvq.*``. The state dict is renamed to ``CodecModel``'s (=
transformers ``EncodecModel``'s) layout:

```
encoder.model.N.conv.conv.{bias,weight_g,weight_v}  -> encoder.layers.N.conv.{bias,parametrizations.weight.original0/1}
encoder.model.N.block.M.conv.conv.*                 -> encoder.layers.N.block.M.conv.*
encoder.model.N.shortcut.conv.conv.*                -> encoder.layers.N.shortcut.conv.*
encoder.model.N.conv.norm.*                         -> encoder.layers.N.norm.*        (time_group_norm)
decoder.model.N.convtr.convtr.*                     -> decoder.layers.N.conv.*
{encoder,decoder}.model.N.lstm.*                    -> {encoder,decoder}.layers.N.lstm.*
quantizer.vq.layers.i._codebook.X                   -> quantizer.layers.i.codebook.X
```

Checkpoints with keys or config values this layout cannot hold are refused with an error that lists them.

Example:

```python
>>> from hf_audiogen.codec.convert_audiocraft import convert_audiocraft_compression_checkpoint
>>> codec = convert_audiocraft_compression_checkpoint("compression_state_dict.bin")  # doctest: +SKIP
>>> codec.save_pretrained("audiogen-codec")  # doctest: +SKIP
```
"""

import math
import os
import re
from typing import Any

import torch
import yaml

from ..checkpoint_io import load_torch_file, one_line, yaml_problem
from ..validation import InvalidInputError
from .configuration_codec import CodecConfig
from .modeling_codec import CodecModel

# Applied in order to every audiocraft key.
_KEY_RENAMES = (
    (re.compile(r"^(encoder|decoder)\.model\."), r"\1.layers."),
    (re.compile(r"\.conv\.conv\."), ".conv."),
    (re.compile(r"\.convtr\.convtr\."), ".conv."),
    (re.compile(r"\.(conv|convtr)\.norm\."), ".norm."),
    (re.compile(r"\.weight_g$"), ".parametrizations.weight.original0"),  # torch.nn.utils.weight_norm (old API)
    (re.compile(r"\.weight_v$"), ".parametrizations.weight.original1"),
    (re.compile(r"^quantizer\.vq\.layers\.(\d+)\._codebook\."), r"quantizer.layers.\1.codebook."),
)

_INTERPOLATION = re.compile(r"\$\{([^}]*)\}")


# ---------------------------------------------------------------------------------------------------------------------
# xp.cfg
# ---------------------------------------------------------------------------------------------------------------------
def _parse_xp_cfg(xp_cfg: str | dict) -> dict:
    """The YAML string (or an already-parsed dict) of an audiocraft run."""
    if isinstance(xp_cfg, bytes):
        try:
            xp_cfg = xp_cfg.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InvalidInputError(f"xp.cfg is not UTF-8 text ({one_line(err)}); expected the run's YAML") from err
    if isinstance(xp_cfg, str):
        try:
            xp_cfg = yaml.safe_load(xp_cfg)
        except yaml.YAMLError as err:
            raise InvalidInputError(f"xp.cfg is not valid YAML: {yaml_problem(err)}") from err
    if not isinstance(xp_cfg, dict):
        raise InvalidInputError(f"xp.cfg must be a YAML mapping (the run's config), got {type(xp_cfg).__name__}")
    return xp_cfg


def _cfg_get(cfg: dict, path: str, default: Any = KeyError, _depth: int = 0) -> Any:
    """Value at a dotted ``path``, resolving OmegaConf's absolute ``${a.b}`` interpolations (the only kind audiocraft's
    compression configs use; PyYAML does not resolve them and omegaconf is not a dependency)."""
    if _depth > 20:
        raise InvalidInputError(f"xp.cfg: interpolation loop while resolving {path!r}")
    node: Any = cfg
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is KeyError:
                raise InvalidInputError(f"xp.cfg has no field {path!r}, which the converter needs")
            return default
        node = node[part]
    if isinstance(node, str):
        whole = _INTERPOLATION.fullmatch(node.strip())
        if whole:
            return _cfg_get(cfg, _check_interpolation(whole.group(1), path), default, _depth + 1)
        if _INTERPOLATION.search(node):
            return _INTERPOLATION.sub(
                lambda m: str(_cfg_get(cfg, _check_interpolation(m.group(1), path), default, _depth + 1)), node
            )
    return node


def _cfg_number(cfg: dict, path: str, cast: type = int, default: Any = KeyError) -> Any:
    """``cast(value)`` of the field at ``path`` (int or float), or an error naming the field and the value."""
    return _as_number(_cfg_get(cfg, path, default), path, cast)


def _as_number(value: Any, path: str, cast: type = int) -> Any:
    """``value`` as an int (``cast=int``; integral floats accepted) or a finite float, else an error naming the
    xp.cfg field ``path`` and the value."""
    number = math.nan
    if not isinstance(value, bool) and isinstance(value, (int, float, str)):
        try:
            number = float(value)
        except ValueError:
            pass
    if cast is int and math.isfinite(number) and number.is_integer():
        return int(number)
    if cast is not int and math.isfinite(number):
        return number
    kind = "an integer" if cast is int else "a finite number"
    raise InvalidInputError(f"xp.cfg field {path!r} must be {kind}, got {value!r}")


def _cfg_bool(cfg: dict, path: str, default: Any = KeyError) -> bool:
    """The boolean field at ``path`` (``true``/``false``, or 0/1), or an error naming the field and the value."""
    value = _cfg_get(cfg, path, default)
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    if value is None:
        return False
    raise InvalidInputError(f"xp.cfg field {path!r} must be true or false, got {value!r}")


def _cfg_mapping(cfg: dict, path: str, default: Any = KeyError) -> dict:
    """The mapping at ``path`` (``None`` read as empty), or an error naming the field and what it holds."""
    value = _cfg_get(cfg, path, default)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInputError(f"xp.cfg field {path!r} must be a mapping, got {value!r}")
    return value


def _check_interpolation(reference: str, path: str) -> str:
    if reference.startswith(".") or ":" in reference:
        raise InvalidInputError(
            f"xp.cfg field {path!r} uses the interpolation ${{{reference}}}, which this converter does not resolve "
            "(only absolute ${a.b} references)"
        )
    return reference


def codec_config_from_audiocraft_cfg(xp_cfg: str | dict) -> CodecConfig:
    """``CodecConfig`` from an audiocraft ``xp.cfg`` (YAML string or dict) of an EnCodec compression model."""
    cfg = _parse_xp_cfg(xp_cfg)
    compression_model = _cfg_get(cfg, "compression_model", "encodec")
    if compression_model != "encodec":
        raise InvalidInputError(
            f"xp.cfg compression_model={compression_model!r}: only 'encodec' models can be converted"
        )
    for path, expected in (("encodec.autoencoder", "seanet"), ("encodec.quantizer", "rvq")):
        value = _cfg_get(cfg, path, expected)
        if value != expected:
            raise InvalidInputError(f"xp.cfg {path}={value!r}: only {expected!r} is supported")
    if _cfg_get(cfg, "encodec.renormalize", False) or _cfg_get(cfg, "encodec.renorm", False):
        raise InvalidInputError(
            "xp.cfg encodec.renormalize=true (per-input normalisation) is not supported by CodecModel"
        )

    seanet = {key: _cfg_get(cfg, f"seanet.{key}") for key in _cfg_mapping(cfg, "seanet")}
    # audiocraft lets the encoder and decoder override any SEANet field; CodecConfig has one set of fields for both.
    encoder_overrides = dict(_cfg_mapping(cfg, "seanet.encoder", None))
    decoder_overrides = dict(_cfg_mapping(cfg, "seanet.decoder", None))
    seanet.pop("encoder", None), seanet.pop("decoder", None)
    trim_right_ratio = _cfg_number(cfg, "seanet.decoder.trim_right_ratio", float, 1.0)
    decoder_overrides.pop("trim_right_ratio", None)
    if decoder_overrides.pop("final_activation", None) is not None:
        raise InvalidInputError("xp.cfg seanet.decoder.final_activation is set: a final activation is not supported")
    decoder_overrides.pop("final_activation_params", None)
    if encoder_overrides or decoder_overrides:
        raise InvalidInputError(
            f"xp.cfg has encoder/decoder-specific SEANet overrides {encoder_overrides} / "
            f"{decoder_overrides}, which CodecConfig cannot represent"
        )

    unsupported = []
    activation = seanet.get("activation", "ELU")
    alpha = _cfg_number(cfg, "seanet.activation_params.alpha", float, 1.0) if seanet.get("activation_params") else 1.0
    if activation != "ELU" or alpha != 1.0:
        unsupported.append(f"activation={activation} {seanet.get('activation_params') or {}} (only ELU with alpha=1)")
    if _cfg_number(cfg, "seanet.disable_norm_outer_blocks", int, 0) != 0:
        unsupported.append(f"disable_norm_outer_blocks={seanet['disable_norm_outer_blocks']} (only 0)")
    if _cfg_number(cfg, "seanet.lstm", int, 2) < 1:
        unsupported.append(f"lstm={seanet.get('lstm')} (the SEANet blocks always have an LSTM)")
    if seanet.get("norm_params"):
        unsupported.append(f"norm_params={seanet['norm_params']} (only the defaults)")
    if "channels" in seanet and _cfg_number(cfg, "seanet.channels") != _cfg_number(cfg, "channels"):
        unsupported.append(f"seanet.channels={seanet['channels']} differs from channels={_cfg_get(cfg, 'channels')}")
    if unsupported:
        raise InvalidInputError("xp.cfg has SEANet settings CodecModel does not support: " + "; ".join(unsupported))

    try:
        return _codec_config(cfg, trim_right_ratio)
    except InvalidInputError:
        raise
    except ValueError as err:
        raise InvalidInputError(f"xp.cfg describes a codec CodecConfig cannot hold: {one_line(err)}") from err


def _cfg_int_list(cfg: dict, path: str) -> list[int]:
    value = _cfg_get(cfg, path)
    if not isinstance(value, (list, tuple)) or not value:
        raise InvalidInputError(f"xp.cfg field {path!r} must be a non-empty list of integers, got {value!r}")
    return [_as_number(item, path) for item in value]


def _cfg_str(cfg: dict, path: str) -> str:
    value = _cfg_get(cfg, path)
    if not isinstance(value, str):
        raise InvalidInputError(f"xp.cfg field {path!r} must be a string, got {value!r}")
    return value


def _codec_config(cfg: dict, trim_right_ratio: float) -> CodecConfig:
    causal = _cfg_bool(cfg, "seanet.causal", _cfg_bool(cfg, "encodec.causal", False))
    return CodecConfig(
        sampling_rate=_cfg_number(cfg, "sample_rate"),
        audio_channels=_cfg_number(cfg, "channels"),
        num_filters=_cfg_number(cfg, "seanet.n_filters"),
        hidden_size=_cfg_number(cfg, "seanet.dimension"),
        upsampling_ratios=_cfg_int_list(cfg, "seanet.ratios"),
        num_residual_layers=_cfg_number(cfg, "seanet.n_residual_layers"),
        kernel_size=_cfg_number(cfg, "seanet.kernel_size"),
        last_kernel_size=_cfg_number(cfg, "seanet.last_kernel_size"),
        residual_kernel_size=_cfg_number(cfg, "seanet.residual_kernel_size"),
        dilation_growth_rate=_cfg_number(cfg, "seanet.dilation_base"),
        compress=_cfg_number(cfg, "seanet.compress"),
        num_lstm_layers=_cfg_number(cfg, "seanet.lstm"),
        use_causal_conv=causal,
        pad_mode=_cfg_str(cfg, "seanet.pad_mode"),
        norm_type=_cfg_str(cfg, "seanet.norm"),
        trim_right_ratio=float(trim_right_ratio),
        use_conv_shortcut=not _cfg_bool(cfg, "seanet.true_skip"),
        codebook_size=_cfg_number(cfg, "rvq.bins"),
        num_quantizers=_cfg_number(cfg, "rvq.n_q"),
        ema_decay=_cfg_number(cfg, "rvq.decay", float, 0.99),
        kmeans_init=_cfg_bool(cfg, "rvq.kmeans_init", True),
        kmeans_iters=_cfg_number(cfg, "rvq.kmeans_iters", int, 50),
        threshold_ema_dead_code=_cfg_number(cfg, "rvq.threshold_ema_dead_code", float, 2),
        quantizer_dropout=_cfg_bool(cfg, "rvq.q_dropout", False),
    )


# ---------------------------------------------------------------------------------------------------------------------
# best_state
# ---------------------------------------------------------------------------------------------------------------------
def rename_audiocraft_key(key: str) -> str:
    """One audiocraft EnCodec state-dict key -> the ``CodecModel`` key."""
    for pattern, replacement in _KEY_RENAMES:
        key = pattern.sub(replacement, key)
    return key


_OWN_CONV_KEY = re.compile(r"^(.*)\.(conv|norm)\.([\w.]+)$")


def audiocraft_key(key: str, model: CodecModel) -> str:
    """The audiocraft key of a ``CodecModel`` key of ``model`` (the inverse of :func:`rename_audiocraft_key`): what an
    error about a missing weight names, so that it can be looked up in the checkpoint."""
    name = key.replace(".parametrizations.weight.original0", ".weight_g")
    name = name.replace(".parametrizations.weight.original1", ".weight_v")
    if name.startswith("quantizer."):
        name = re.sub(r"^quantizer\.layers\.(\d+)\.codebook\.", r"quantizer.vq.layers.\1._codebook.", name)
    else:
        match = _OWN_CONV_KEY.match(name)
        if match:
            owner, kind, rest = match.groups()
            module = model.get_submodule(owner) if owner else None
            wrapper = "convtr" if module is not None and "Transpose" in type(module).__name__ else "conv"
            name = f"{owner}.{wrapper}.{wrapper if kind == 'conv' else 'norm'}.{rest}"
        name = re.sub(r"^(encoder|decoder)\.layers\.", r"\1.model.", name)
    return name if rename_audiocraft_key(name) == key else f"{key} (our name)"


def _check_state_dict(state_dict: Any, what: str) -> dict[str, torch.Tensor]:
    """``state_dict`` if it is a non-empty dict of tensors; else an error naming what it is or its bad entries."""
    if not isinstance(state_dict, dict):
        raise InvalidInputError(f"{what} must be a state dict (a dict of tensors), got {type(state_dict).__name__}")
    if not state_dict:
        raise InvalidInputError(f"{what} is an empty state dict; expected the model's weights")
    not_tensors = sorted(str(key) for key, value in state_dict.items() if not torch.is_tensor(value))
    if not_tensors:
        raise InvalidInputError(
            f"{what} has {len(not_tensors)} entries that are not tensors: {not_tensors[:10]}; "
            "expected a state dict of tensors"
        )
    return state_dict


def convert_audiocraft_state_dict(state_dict: dict[str, torch.Tensor], model: CodecModel) -> dict[str, torch.Tensor]:
    """Rename an audiocraft EnCodec state dict for ``model``; raises if keys are unknown, missing or mis-shaped
    (named as the checkpoint names them)."""
    state_dict = _check_state_dict(state_dict, "the audiocraft compression checkpoint's best_state")
    expected = model.state_dict()
    converted, source, unknown = {}, {}, []
    for key, value in state_dict.items():
        new_key = rename_audiocraft_key(key)
        if new_key not in expected:
            unknown.append(key)
        else:
            converted[new_key], source[new_key] = value, key
    missing = sorted(audiocraft_key(key, model) for key in set(expected) - set(converted))
    wrong_shape = [
        f"{source[key]}: checkpoint {tuple(value.shape)} vs model {tuple(expected[key].shape)}"
        for key, value in converted.items()
        if tuple(value.shape) != tuple(expected[key].shape)
    ]
    _check_converted_keys(
        "the audiocraft checkpoint does not match the codec built from its xp.cfg", unknown, missing, wrong_shape
    )
    return converted


def _check_converted_keys(
    what: str, unknown: list[str], missing: list[str], wrong_shape: list[str], missing_note: str = ""
) -> None:
    """One :class:`InvalidInputError` that lists every unknown, missing and mis-shaped key of a converted state dict
    (so a user sees all that is wrong at once), starting with ``what``. Callers name the keys as the source
    checkpoint does (or would). Also used by the LM, AutoCap and GenAU converters; long lists are shortened."""
    problems = []
    if unknown:
        problems.append(f"{len(unknown)} unknown key(s): {_shown(sorted(unknown))}")
    if missing:
        problems.append(f"{len(missing)} missing key(s){missing_note}: {_shown(missing)}")
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} shape mismatch(es): {_shown(wrong_shape)}")
    if problems:
        raise InvalidInputError(f"{what}: " + "; ".join(problems))


def _shown(items: list[str], limit: int = 40) -> str:
    """``items`` as a list, cut after ``limit`` with a count of the rest (a whole missing tower is thousands)."""
    if len(items) <= limit:
        return str(items)
    return f"{items[:limit]} ... and {len(items) - limit} more"


def _load_package(pkg_or_path: dict | str | os.PathLike, kind: str = "compression") -> dict:
    """An audiocraft package (a dict with ``best_state`` and ``xp.cfg``), given as such or as the path of its
    ``.bin`` file; ``kind`` ("compression" or "LM") names it in error messages. Also used by the LM converter."""
    if isinstance(pkg_or_path, (str, os.PathLike)):
        # An exported package holds only tensors, strings and numbers, so the safe unpickler reads it.
        pkg_or_path = load_torch_file(
            pkg_or_path,
            f"audiocraft {kind} checkpoint",
            force_hint="load it yourself with torch.load(path, weights_only=False) and pass the dict (audiocraft's "
            "exported packages never need that)",
        )
    if not isinstance(pkg_or_path, dict):
        raise InvalidInputError(
            f"an audiocraft {kind} package is a dict with best_state and xp.cfg, got {type(pkg_or_path).__name__}"
        )
    if kind == "compression" and "pretrained" in pkg_or_path and "best_state" not in pkg_or_path:
        raise InvalidInputError(
            f"this package only points to the Hugging Face EnCodec {pkg_or_path['pretrained']!r}: load it with "
            "transformers.EncodecModel and convert it with hf_audiogen.codec.convert_encodec.codec_from_encodec"
        )
    missing = [key for key in ("best_state", "xp.cfg") if key not in pkg_or_path]
    if missing:
        raise InvalidInputError(
            f"the audiocraft {kind} package lacks {missing}; it has keys {sorted(map(str, pkg_or_path))[:20]}"
        )
    return pkg_or_path


def convert_audiocraft_compression_checkpoint(pkg_or_path: dict | str | os.PathLike) -> CodecModel:
    """A ``CodecModel`` (eval mode) from an audiocraft compression package or the path of one.

    Accepts exported packages (``best_state`` = the model state dict) and solver checkpoints
    (``best_state = {"model": state_dict, ...}``).
    """
    pkg = _load_package(pkg_or_path)
    config = codec_config_from_audiocraft_cfg(pkg["xp.cfg"])
    state_dict = pkg["best_state"]
    if isinstance(state_dict, dict) and isinstance(state_dict.get("model"), dict):
        state_dict = state_dict["model"]
    state_dict = _check_state_dict(state_dict, "the audiocraft compression checkpoint's best_state")
    model = CodecModel(config)
    model.load_state_dict(convert_audiocraft_state_dict(state_dict, model), strict=True)
    return model.eval()


__all__ = [
    "audiocraft_key",
    "codec_config_from_audiocraft_cfg",
    "convert_audiocraft_compression_checkpoint",
    "convert_audiocraft_state_dict",
    "rename_audiocraft_key",
]
