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

import os
import re
from typing import Any

import torch
import yaml

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
    if isinstance(xp_cfg, str):
        try:
            xp_cfg = yaml.safe_load(xp_cfg)
        except yaml.YAMLError as err:
            raise ValueError(f"xp.cfg is not valid YAML: {err}") from err
    if not isinstance(xp_cfg, dict):
        raise ValueError(f"xp.cfg must be a YAML mapping, got {type(xp_cfg).__name__}")
    return xp_cfg


def _cfg_get(cfg: dict, path: str, default: Any = KeyError, _depth: int = 0) -> Any:
    """Value at a dotted ``path``, resolving OmegaConf's absolute ``${a.b}`` interpolations (the only kind audiocraft's
    compression configs use; PyYAML does not resolve them and omegaconf is not a dependency)."""
    if _depth > 20:
        raise ValueError(f"xp.cfg: interpolation loop while resolving {path!r}")
    node: Any = cfg
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is KeyError:
                raise ValueError(f"xp.cfg has no field {path!r}, which the codec needs")
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


def _check_interpolation(reference: str, path: str) -> str:
    if reference.startswith(".") or ":" in reference:
        raise ValueError(f"xp.cfg field {path!r} uses the interpolation ${{{reference}}}, which this converter does "
                         "not resolve (only absolute ${a.b} references)")  # fmt: skip
    return reference


def codec_config_from_audiocraft_cfg(xp_cfg: str | dict) -> CodecConfig:
    """``CodecConfig`` from an audiocraft ``xp.cfg`` (YAML string or dict) of an EnCodec compression model."""
    cfg = _parse_xp_cfg(xp_cfg)
    compression_model = _cfg_get(cfg, "compression_model", "encodec")
    if compression_model != "encodec":
        raise ValueError(f"xp.cfg compression_model={compression_model!r}: only 'encodec' models can be converted")
    for path, expected in (("encodec.autoencoder", "seanet"), ("encodec.quantizer", "rvq")):
        value = _cfg_get(cfg, path, expected)
        if value != expected:
            raise ValueError(f"xp.cfg {path}={value!r}: only {expected!r} is supported")
    if _cfg_get(cfg, "encodec.renormalize", False) or _cfg_get(cfg, "encodec.renorm", False):
        raise ValueError("xp.cfg encodec.renormalize=true (per-input normalisation) is not supported by CodecModel")

    seanet = {key: _cfg_get(cfg, f"seanet.{key}") for key in _cfg_get(cfg, "seanet")}
    # audiocraft lets the encoder and decoder override any SEANet field; CodecConfig has one set of fields for both.
    encoder_overrides = dict(seanet.pop("encoder", None) or {})
    decoder_overrides = dict(seanet.pop("decoder", None) or {})
    trim_right_ratio = decoder_overrides.pop("trim_right_ratio", 1.0)
    if decoder_overrides.pop("final_activation", None) is not None:
        raise ValueError("xp.cfg seanet.decoder.final_activation is set: a final activation is not supported")
    decoder_overrides.pop("final_activation_params", None)
    if encoder_overrides or decoder_overrides:
        raise ValueError(f"xp.cfg has encoder/decoder-specific SEANet overrides {encoder_overrides} / "
                         f"{decoder_overrides}, which CodecConfig cannot represent")  # fmt: skip

    unsupported = []
    activation, activation_params = seanet.get("activation", "ELU"), seanet.get("activation_params") or {}
    if activation != "ELU" or float(activation_params.get("alpha", 1.0)) != 1.0:
        unsupported.append(f"activation={activation} {activation_params} (only ELU with alpha=1)")
    if int(seanet.get("disable_norm_outer_blocks", 0)) != 0:
        unsupported.append(f"disable_norm_outer_blocks={seanet['disable_norm_outer_blocks']} (only 0)")
    if int(seanet.get("lstm", 2)) < 1:
        unsupported.append(f"lstm={seanet.get('lstm')} (the SEANet blocks always have an LSTM)")
    if seanet.get("norm_params"):
        unsupported.append(f"norm_params={seanet['norm_params']} (only the defaults)")
    if "channels" in seanet and int(seanet["channels"]) != int(_cfg_get(cfg, "channels")):
        unsupported.append(f"seanet.channels={seanet['channels']} differs from channels={_cfg_get(cfg, 'channels')}")
    if unsupported:
        raise ValueError("xp.cfg has SEANet settings CodecModel does not support: " + "; ".join(unsupported))

    try:
        return _codec_config(cfg, trim_right_ratio)
    except ValueError as err:
        raise ValueError(f"xp.cfg describes a codec CodecConfig cannot hold: {err}") from err


def _codec_config(cfg: dict, trim_right_ratio: float) -> CodecConfig:
    return CodecConfig(
        sampling_rate=int(_cfg_get(cfg, "sample_rate")),
        audio_channels=int(_cfg_get(cfg, "channels")),
        num_filters=int(_cfg_get(cfg, "seanet.n_filters")),
        hidden_size=int(_cfg_get(cfg, "seanet.dimension")),
        upsampling_ratios=[int(r) for r in _cfg_get(cfg, "seanet.ratios")],
        num_residual_layers=int(_cfg_get(cfg, "seanet.n_residual_layers")),
        kernel_size=int(_cfg_get(cfg, "seanet.kernel_size")),
        last_kernel_size=int(_cfg_get(cfg, "seanet.last_kernel_size")),
        residual_kernel_size=int(_cfg_get(cfg, "seanet.residual_kernel_size")),
        dilation_growth_rate=int(_cfg_get(cfg, "seanet.dilation_base")),
        compress=int(_cfg_get(cfg, "seanet.compress")),
        num_lstm_layers=int(_cfg_get(cfg, "seanet.lstm")),
        use_causal_conv=bool(_cfg_get(cfg, "seanet.causal", _cfg_get(cfg, "encodec.causal", False))),
        pad_mode=str(_cfg_get(cfg, "seanet.pad_mode")),
        norm_type=str(_cfg_get(cfg, "seanet.norm")),
        trim_right_ratio=float(trim_right_ratio),
        use_conv_shortcut=not bool(_cfg_get(cfg, "seanet.true_skip")),
        codebook_size=int(_cfg_get(cfg, "rvq.bins")),
        num_quantizers=int(_cfg_get(cfg, "rvq.n_q")),
        ema_decay=float(_cfg_get(cfg, "rvq.decay", 0.99)),
        kmeans_init=bool(_cfg_get(cfg, "rvq.kmeans_init", True)),
        kmeans_iters=int(_cfg_get(cfg, "rvq.kmeans_iters", 50)),
        threshold_ema_dead_code=float(_cfg_get(cfg, "rvq.threshold_ema_dead_code", 2)),
        quantizer_dropout=bool(_cfg_get(cfg, "rvq.q_dropout", False)),
    )


# ---------------------------------------------------------------------------------------------------------------------
# best_state
# ---------------------------------------------------------------------------------------------------------------------
def rename_audiocraft_key(key: str) -> str:
    """One audiocraft EnCodec state-dict key -> the ``CodecModel`` key."""
    for pattern, replacement in _KEY_RENAMES:
        key = pattern.sub(replacement, key)
    return key


def convert_audiocraft_state_dict(state_dict: dict[str, torch.Tensor], model: CodecModel) -> dict[str, torch.Tensor]:
    """Rename an audiocraft EnCodec state dict for ``model``; raises if keys are unknown, missing or mis-shaped."""
    expected = model.state_dict()
    converted, unknown = {}, []
    for key, value in state_dict.items():
        new_key = rename_audiocraft_key(key)
        if new_key not in expected:
            unknown.append(key)
        else:
            converted[new_key] = value
    missing = sorted(set(expected) - set(converted))
    wrong_shape = [
        f"{key}: checkpoint {tuple(value.shape)} vs model {tuple(expected[key].shape)}"
        for key, value in converted.items()
        if tuple(value.shape) != tuple(expected[key].shape)
    ]
    _check_converted_keys("the audiocraft checkpoint does not match the codec built from its xp.cfg", unknown, missing,
                          wrong_shape)
    return converted


def _check_converted_keys(
    what: str, unknown: list[str], missing: list[str], wrong_shape: list[str], missing_note: str = ""
) -> None:
    """One ``ValueError`` that lists every unknown, missing and mis-shaped key of a converted state dict (so a user
    sees all that is wrong at once), starting with ``what``. Also used by the LM converter."""
    problems = []
    if unknown:
        problems.append(f"{len(unknown)} unknown key(s): {sorted(unknown)}")
    if missing:
        problems.append(f"{len(missing)} missing key(s){missing_note}: {missing}")
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} shape mismatch(es): {wrong_shape}")
    if problems:
        raise ValueError(f"{what}: " + "; ".join(problems))


def _load_package(pkg_or_path: dict | str | os.PathLike, kind: str = "compression") -> dict:
    """An audiocraft package (a dict with ``best_state`` and ``xp.cfg``), given as such or as the path of its
    ``.bin`` file; ``kind`` ("compression" or "LM") names it in error messages. Also used by the LM converter."""
    if isinstance(pkg_or_path, (str, os.PathLike)):
        if not os.path.isfile(pkg_or_path):
            raise FileNotFoundError(f"audiocraft {kind} checkpoint not found: {pkg_or_path}")
        # An exported package holds only tensors, strings and numbers, so the safe unpickler reads it.
        pkg_or_path = torch.load(pkg_or_path, map_location="cpu", weights_only=True)
    if not isinstance(pkg_or_path, dict):
        raise ValueError(f"an audiocraft {kind} package is a dict, got {type(pkg_or_path).__name__}")
    if kind == "compression" and "pretrained" in pkg_or_path and "best_state" not in pkg_or_path:
        raise ValueError(
            f"this package only points to the Hugging Face EnCodec {pkg_or_path['pretrained']!r}: load it with "
            "transformers.EncodecModel and convert it with hf_audiogen.codec.convert_encodec.codec_from_encodec"
        )
    missing = [key for key in ("best_state", "xp.cfg") if key not in pkg_or_path]
    if missing:
        raise ValueError(f"the audiocraft {kind} package lacks {missing}; it has keys {sorted(pkg_or_path)}")
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
    model = CodecModel(config)
    model.load_state_dict(convert_audiocraft_state_dict(state_dict, model), strict=True)
    return model.eval()


__all__ = [
    "codec_config_from_audiocraft_cfg",
    "convert_audiocraft_compression_checkpoint",
    "convert_audiocraft_state_dict",
    "rename_audiocraft_key",
]
