"""Strict ``from_pretrained``: a model folder of another family, or weights that do not fit, are errors.

transformers and diffusers load leniently: a ``config.json`` of another ``model_type`` only logs a warning, and
missing / unexpected keys in the weights are reported in a logged table while the missing parameters are freshly
initialised. A codec built from an AutoCap folder would then "work" with random weights. :class:`StrictLoadingMixin`
puts this library's model classes in front of the libraries' ``from_pretrained`` and turns both into one-line errors:

* the folder's ``config.json`` must name the class's ``model_type`` (diffusers models: ``_class_name``);
* the weights must fill every parameter and buffer (ties and the class's ``_keys_to_ignore_on_load_missing`` aside)
  and hold nothing else, with matching shapes.

``from_pretrained(..., strict=False)`` keeps the libraries' lenient behaviour (e.g. to start fine-tuning from a
partial checkpoint on purpose); ``output_loading_info=True`` still returns ``(model, info)``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from contextlib import contextmanager

from .aligned_memory import realign_weights
from .validation import InvalidInputError

_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# The keyword arguments of ``from_pretrained`` that say where / how to fetch a config file.
_HUB_KWARGS = ("cache_dir", "force_download", "proxies", "token", "revision", "local_files_only", "subfolder")
_SHOWN_KEYS = 5  # keys named in a message; the count says how many there are in all


class IncompatibleCheckpointError(InvalidInputError):
    """The folder given to ``from_pretrained`` holds another kind of model, or weights that do not fit this one."""


def _source_name(source, subfolder: str | None = None) -> str:
    name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else repr(source)
    return os.path.join(name, subfolder) if subfolder else name


def _list_keys(keys) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:_SHOWN_KEYS])
    return f"{len(keys)} ({shown}{', ...' if len(keys) > _SHOWN_KEYS else ''})"


def check_loading_info(source, class_name: str, info: dict) -> None:
    """Raise if transformers' / diffusers' ``output_loading_info`` reports missing, unexpected or mismatched keys."""
    problems = []
    if info.get("missing_keys"):
        problems.append(f"missing keys {_list_keys(info['missing_keys'])}")
    if info.get("unexpected_keys"):
        problems.append(f"unexpected keys {_list_keys(info['unexpected_keys'])}")
    if info.get("mismatched_keys"):
        mismatched = [k[0] if isinstance(k, (tuple, list)) else k for k in info["mismatched_keys"]]
        problems.append(f"keys of another shape {_list_keys(mismatched)}")
    if info.get("error_msgs"):
        problems.append(f"errors {' | '.join(str(e).splitlines()[0] for e in info['error_msgs'][:2])}")
    if problems:
        raise IncompatibleCheckpointError(
            f"the weights in {source} do not fit {class_name}: "
            + "; ".join(problems)
            + " (from_pretrained(..., strict=False) loads them anyway, initialising what is missing)"
        )


class _DropLoadReport(logging.Filter):
    """Hides transformers' multi-line LOAD REPORT table while a strict load turns its content into an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "LOAD REPORT" not in str(record.msg)


@contextmanager
def _quiet_load_report():
    logger = logging.getLogger("transformers.modeling_utils")
    drop = _DropLoadReport()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def _read_config(source, kwargs: dict, config_name: str) -> dict | None:
    """The folder's config as a dict (local folders and Hub repos), or None if it cannot be read here (the library's
    own loader then reports the problem)."""
    subfolder = kwargs.get("subfolder") or ""
    path = os.path.join(os.fspath(source), subfolder, config_name)
    if os.path.isdir(os.path.join(os.fspath(source), subfolder)):
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    try:
        from huggingface_hub import hf_hub_download

        hub = {k: kwargs[k] for k in _HUB_KWARGS if k in kwargs}
        with open(hf_hub_download(os.fspath(source), config_name, **hub), encoding="utf-8") as file:
            return json.load(file)
    except Exception:  # noqa: BLE001 - unreachable Hub / no such file: from_pretrained says so in its own words
        return None


@contextmanager
def _corrupt_weights_as_one_line(source: str):
    """A truncated or garbled weights file is the file's fault: one line naming the folder, not a deep traceback."""
    try:
        from safetensors import SafetensorError
    except ImportError:  # pragma: no cover - safetensors is a dependency of transformers and diffusers
        SafetensorError = ()  # noqa: N806
    try:
        yield
    except SafetensorError as err:
        raise IncompatibleCheckpointError(
            f"{source}: its .safetensors weights cannot be read (truncated or corrupt file?): {err}"
        ) from err


class _LoadReportCollector(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = _ANSI.sub("", record.getMessage())
        if "LOAD REPORT" in text:
            lines = [line.strip(" |") for line in text.splitlines() if line.strip()]
            model = lines[0].split(" LOAD REPORT")[0]
            problems = [
                " ".join(line.split())
                for line in lines[1:]
                if any(status in line for status in ("MISSING", "UNEXPECTED", "MISMATCH", "CONVERSION"))
            ]
            self.reports.append(f"the {model} weights do not match the model: {_list_keys(problems)}")


@contextmanager
def transformers_load_reports():
    """Collect the load reports transformers logs (and otherwise only logs) for the models loaded inside the block:
    one line each, naming the model class and its missing / unexpected / mis-shaped keys."""
    collector = _LoadReportCollector()
    target = logging.getLogger("transformers.modeling_utils")
    target.addHandler(collector)
    try:
        yield collector.reports
    finally:
        target.removeHandler(collector)


class StrictLoadingMixin:
    """Put first in the bases of a transformers ``PreTrainedModel`` or diffusers ``ModelMixin`` subclass: its
    ``from_pretrained`` refuses a folder of another model type and weights with missing or unexpected keys."""

    @classmethod
    def _strict_loading_expectation(cls) -> tuple[str, str, str]:
        """(config file, key holding the type, expected value)."""
        config_class = getattr(cls, "config_class", None)
        model_type = getattr(config_class, "model_type", None) if config_class is not None else None
        if model_type:  # transformers
            return "config.json", "model_type", model_type
        return "config.json", "_class_name", cls.__name__  # diffusers

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, strict: bool = True, **kwargs):
        if not strict or pretrained_model_name_or_path is None:
            loaded = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
            realign_weights(loaded[0] if isinstance(loaded, tuple) else loaded)
            return loaded
        source = _source_name(pretrained_model_name_or_path, kwargs.get("subfolder"))
        config_name, key, expected = cls._strict_loading_expectation()
        given_config = kwargs.get("config")
        if given_config is None or isinstance(given_config, (str, os.PathLike)):
            config = _read_config(given_config or pretrained_model_name_or_path, kwargs, config_name)
            if config is not None:
                found = config.get(key)
                if found != expected:
                    raise IncompatibleCheckpointError(
                        f"{source} holds another kind of model than {cls.__name__}: its {config_name} has "
                        f"{key}={found!r}, expected {expected!r}"
                    )
        want_info = kwargs.pop("output_loading_info", False)
        is_transformers = key == "model_type"
        if is_transformers:
            # Shape mismatches are reported in the info (and refused below) instead of a RuntimeError after a table.
            kwargs.setdefault("ignore_mismatched_sizes", True)
        with _quiet_load_report(), _corrupt_weights_as_one_line(source):
            model, info = super().from_pretrained(
                pretrained_model_name_or_path, *args, output_loading_info=True, **kwargs
            )
        check_loading_info(source, cls.__name__, info)
        # Weights are views into the memory-mapped file (8-byte aligned); some CPU kernels round differently on those
        # than on freshly allocated memory, so a save -> load round trip would not be exact everywhere.
        realign_weights(model)
        return (model, info) if want_info else model


__all__ = ["IncompatibleCheckpointError", "StrictLoadingMixin", "check_loading_info"]
