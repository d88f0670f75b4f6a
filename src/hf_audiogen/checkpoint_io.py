"""Reading the files the checkpoint converters are given, with one-line errors for every way a file can be wrong.

The converters (``hf_audiogen.{codec,audiogen}.convert_audiocraft``, ``autocap.convert_autocap``,
``genau.convert_genau``) read PyTorch checkpoints, YAML/JSON configs, tokenizer and text-encoder directories, and
write an output directory. Everything here raises :class:`~hf_audiogen.validation.InvalidInputError` (a
``ValueError``) with one line that names the file and what was expected, so the CLI prints it without a traceback;
a path that does not exist raises :class:`InputFileNotFoundError`, which is also a ``FileNotFoundError``.

PyTorch checkpoints are read with torch's safe unpickler (``weights_only=True``) unless the caller allows more. When
it refuses a file, torch's own message suggests ``weights_only=False`` "will likely succeed" — for a file that may
call ``os.system``. :func:`load_torch_file` names the global the file references instead and says not to force it
unless the file is trusted.

Example:

```python
>>> from hf_audiogen.checkpoint_io import blocked_global
>>> blocked_global("Trying to load unsupported GLOBAL posix.system whose module posix is blocked.")
'posix.system'

```
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Callable
from typing import Any

from .validation import InvalidInputError


class InputFileNotFoundError(InvalidInputError, FileNotFoundError):
    """A file or directory given to a converter does not exist (an :class:`InvalidInputError` and a
    ``FileNotFoundError``)."""


# Files that hold a tokenizer's vocabulary, one of which a tokenizer directory must have. Without them transformers'
# AutoTokenizer builds an empty tokenizer from tokenizer_config.json / config.json alone (e.g. a 104-token T5 one that
# maps every word to <unk>) instead of failing.
TOKENIZER_VOCABULARY_FILES = (
    "tokenizer.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
)
# A plain phrase every real text tokenizer splits into known tokens.
_TOKENIZER_PROBE = "a dog barks in the rain"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The wordings torch's weights-only unpickler uses for what it refused.
_BLOCKED_PATTERNS = [
    re.compile(pattern)
    for pattern in (
        r"GLOBAL\s+([\w.<>]+)",
        r"unrecognized function\s+(\S+)",
        r"got <class '([\w.]+)'>",
        r"global ([\w.<>]+) is not allowed",
    )
]
# First bytes of what torch.save writes: a zip archive (torch >= 1.6) or a pickle (older files, protocol >= 2).
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = b"\x80"


def one_line(text: Any, limit: int = 300) -> str:
    """``text`` (an exception or a string) as one line: ANSI codes and line breaks removed, at most ``limit`` chars."""
    if isinstance(text, BaseException):
        text = str(text).strip() or type(text).__name__
    flat = " ".join(_ANSI.sub("", str(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _reason(err: BaseException) -> str:
    """The first line of an error, prefixed with its type when that says more than the text."""
    text = str(err).strip()
    first = _ANSI.sub("", text.splitlines()[0]).strip() if text else ""
    if not first:
        return type(err).__name__
    if isinstance(err, (EOFError, KeyError, zipfile.BadZipFile, UnicodeDecodeError)):
        first = f"{type(err).__name__}: {first}"
    return one_line(first)


# ---------------------------------------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------------------------------------
def _with(hint: str) -> str:
    return f"; {hint}" if hint else ""


def check_input_file(path: str | os.PathLike, what: str, hint: str = "") -> str:
    """``path`` as a string if it is a readable, non-empty file; else an error naming ``what`` and the path (and
    ``hint``, e.g. how else to give it, when it does not exist)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputFileNotFoundError(f"{what} not found: {path} (no such file){_with(hint)}")
    if os.path.isdir(path):
        raise InvalidInputError(f"{what} {path} is a directory; expected a file")
    if not os.path.isfile(path):  # reading a pipe or a device would block or never end
        raise InvalidInputError(f"{what} {path} is not a regular file (a pipe, socket or device); expected a file")
    if not os.access(path, os.R_OK):
        raise InvalidInputError(f"{what} {path} is not readable (permission denied)")
    if os.path.getsize(path) == 0:
        raise InvalidInputError(f"{what} {path} is empty (0 bytes); expected a non-empty file")
    return path


def check_input_dir(path: str | os.PathLike, what: str, hint: str = "") -> str:
    """``path`` as a string if it is an existing directory; else an error naming ``what`` and the path (and
    ``hint``)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputFileNotFoundError(f"{what} not found: {path} (no such directory){_with(hint)}")
    if not os.path.isdir(path):
        raise InvalidInputError(f"{what} {path} is a file, not a directory{_with(hint)}")
    return path


def looks_like_local_path(source: str) -> bool:
    """Whether a string given as "a directory or a Hub id" can only be meant as a local path (absolute, relative with
    ``./`` / ``../`` / ``~``, Windows-style, or more than one ``/`` — a Hub id is ``name`` or ``owner/name``)."""
    return (
        source.startswith(("/", ".", "~", "\\"))
        or os.path.exists(source)
        or source.count("/") > 1
        or bool(re.match(r"^[A-Za-z]:[\\/]", source))
    )


def check_out_dir(out_dir: str | os.PathLike, what: str = "out_dir") -> str:
    """``out_dir`` as a string if a directory can be written there: an existing writable directory, or a new one
    whose nearest existing parent is a writable directory. Checked before any heavy work."""
    out_dir = os.fspath(out_dir)
    if not out_dir:
        raise InvalidInputError(f"{what} must be a directory path, got an empty string")
    if os.path.exists(out_dir):
        if not os.path.isdir(out_dir):
            raise InvalidInputError(f"{what} {out_dir} is an existing file; expected a directory (new or existing)")
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise InvalidInputError(f"{what} {out_dir} is not writable (permission denied)")
        return out_dir
    parent = os.path.dirname(os.path.abspath(out_dir))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise InvalidInputError(f"{what} {out_dir} cannot be created: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidInputError(f"{what} {out_dir} cannot be created: {parent} is not writable (permission denied)")
    return out_dir


# ---------------------------------------------------------------------------------------------------------------------
# PyTorch checkpoints
# ---------------------------------------------------------------------------------------------------------------------
def blocked_global(message: str) -> str | None:
    """The Python global (``module.name``) that torch's safe unpickler refused, read from its error message (e.g.
    ``posix.system`` from "unsupported GLOBAL posix.system whose module posix is blocked"), or ``None``."""
    for pattern in _BLOCKED_PATTERNS:
        match = pattern.search(message)
        if match:
            return match.group(1).rstrip(".")
    return None


def load_torch_file(
    path: str | os.PathLike, what: str, *, allow_pickle: bool = False, force_hint: str | None = None
) -> Any:
    """``torch.load(path)`` on the CPU with torch's safe unpickler (tensors, containers, strings and numbers), unless
    ``allow_pickle`` (then the file is unpickled in full: only for trusted files).

    Every failure is one line naming ``what`` and ``path``: a missing, empty or non-PyTorch file, a truncated or
    damaged archive, and a file the safe unpickler refuses — then the line names the global the file references and
    says not to force it unless the file is trusted, with ``force_hint`` saying how (e.g. "convert with
    allow_pickle=True (CLI: --allow-pickle)"); ``None``: the caller has no way to.
    """
    import torch

    path = check_input_file(path, what)
    with open(path, "rb") as file:
        magic = file.read(4)
    if not (magic.startswith(_ZIP_MAGIC) or magic.startswith(_PICKLE_MAGIC)):
        raise InvalidInputError(
            f"{what} {path} is not a PyTorch checkpoint: it starts with {magic!r}, not a zip "
            "archive (b'PK\\x03\\x04') or a pickle (b'\\x80') as torch.save writes"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as err:
        message = str(err)
        name = blocked_global(message)
        if not allow_pickle and (name is not None or "Weights only load failed" in message):
            refused = f"the Python global {name}" if name else f"a Python object ({_unpickler_reason(message)})"
            how = f"; if you do, {force_hint}" if force_hint else ""
            raise InvalidInputError(
                f"{what} {path} was not loaded: it references {refused}, which torch's safe (weights-only) loader "
                f"refuses. Do not force it unless you trust the file, as full unpickling runs whatever code it "
                f"names{how}"
            ) from err
        raise InvalidInputError(f"{what} {path} is not a readable PyTorch checkpoint ({_reason(err)})") from err
    except MemoryError:
        raise
    except Exception as err:  # truncated zip / pickle, damaged records: RuntimeError, EOFError, OSError, ...
        raise InvalidInputError(
            f"{what} {path} is not a readable PyTorch checkpoint, probably truncated or damaged ({_reason(err)})"
        ) from err


def _unpickler_reason(message: str) -> str:
    """The line of torch's weights-only error that says what was refused (not its advice)."""
    for line in _ANSI.sub("", message).splitlines():
        line = line.strip()
        if line.startswith("WeightsUnpickler error:"):
            return one_line(line.removeprefix("WeightsUnpickler error:"), 160)
    lines = [line.strip() for line in _ANSI.sub("", message).splitlines() if line.strip()]
    useful = [
        line
        for line in lines
        if not line.startswith(
            ("Weights only load failed", "Check the documentation", "Please file an issue", "(1)", "(2)")
        )
    ]
    return one_line(useful[0], 160) if useful else "refused by the weights-only unpickler"


# ---------------------------------------------------------------------------------------------------------------------
# YAML / JSON
# ---------------------------------------------------------------------------------------------------------------------
def read_text_file(path: str | os.PathLike, what: str) -> str:
    """The UTF-8 text of a config file; one-line errors for a missing, empty, binary or unreadable file."""
    path = check_input_file(path, what)
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except UnicodeDecodeError as err:
        raise InvalidInputError(f"{what} {path} is not a text file ({_reason(err)}); expected UTF-8 text") from err
    except OSError as err:
        raise InvalidInputError(f"{what} {path} cannot be read ({_reason(err)})") from err


def load_yaml_file(path: str | os.PathLike, what: str, loader: Any = None) -> Any:
    """A YAML config file parsed with ``loader`` (default ``yaml.SafeLoader``); one-line errors."""
    import yaml

    path = os.fspath(path)
    text = read_text_file(path, what)
    try:
        return yaml.load(text, Loader=loader or yaml.SafeLoader)  # noqa: S506 - SafeLoader or a subclass of it
    except yaml.YAMLError as err:
        raise InvalidInputError(f"{what} {path} is not valid YAML: {yaml_problem(err)}") from err
    except ValueError as err:  # a refusing constructor (e.g. !include)
        raise InvalidInputError(one_line(err)) from err


def yaml_problem(err: Exception) -> str:
    """A PyYAML error as one line: the problem and where (``expected ',' or ']' at line 3, column 1``)."""
    problem, mark = getattr(err, "problem", None), getattr(err, "problem_mark", None)
    if problem and mark is not None:
        context = getattr(err, "context", None)
        return one_line(
            f"{problem} at line {mark.line + 1}, column {mark.column + 1}" + (f" ({context})" if context else "")
        )
    return one_line(err)


def load_json_file(path: str | os.PathLike, what: str) -> Any:
    """A JSON config file; one-line errors."""
    import json

    path = os.fspath(path)
    text = read_text_file(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidInputError(f"{what} {path} is not valid JSON: {one_line(err)}") from err


def require_mapping(value: Any, what: str, expected: str = "a mapping") -> dict:
    """``value`` if it is a dict; else an error naming what was found."""
    if not isinstance(value, dict):
        shown = type(value).__name__ if value is not None else "nothing (an empty document)"
        raise InvalidInputError(f"{what} must be {expected}, got {shown}")
    return value


# ---------------------------------------------------------------------------------------------------------------------
# Tokenizers and pretrained text encoders
# ---------------------------------------------------------------------------------------------------------------------
def check_tokenizer_dir(path: str | os.PathLike, what: str, hint: str = "") -> str:
    """``path`` if it is a directory holding a tokenizer vocabulary (one of :data:`TOKENIZER_VOCABULARY_FILES`);
    else an error naming the directory and the files looked for (``hint``: how else to give the tokenizer)."""
    path = check_input_dir(path, what, hint)
    if not any(os.path.isfile(os.path.join(path, name)) for name in TOKENIZER_VOCABULARY_FILES):
        raise InvalidInputError(
            f"{what} {path} has no tokenizer files (looked for {', '.join(TOKENIZER_VOCABULARY_FILES)}): without "
            f"them the tokenizer would be an empty one that maps every word to <unk>{_with(hint)}"
        )
    return path


def check_tokenizer(tokenizer: Any, what: str, source: str, vocab_size: int | None = None) -> Any:
    """``tokenizer`` if it has a vocabulary (a plain phrase is not all ``<unk>``) and, with ``vocab_size`` (the text
    encoder's embedding rows), no token id beyond it; else an error naming ``source``."""
    try:
        pieces = [list(tokenizer(word, add_special_tokens=False)["input_ids"]) for word in _TOKENIZER_PROBE.split()]
    except Exception as err:  # not a callable tokenizer
        raise InvalidInputError(
            f"{what} {source} cannot tokenize text ({_reason(err)}); expected a transformers tokenizer"
        ) from err
    unk = getattr(tokenizer, "unk_token_id", None)
    if not any(ids and unk not in ids for ids in pieces):  # no word of plain English is known
        raise InvalidInputError(
            f"{what} {source} has an empty vocabulary ({len(tokenizer)} tokens): every word of "
            f"{_TOKENIZER_PROBE!r} becomes <unk> (unk id {unk}) or nothing; expected the tokenizer the text encoder "
            "was trained with"
        )
    if vocab_size is not None and len(tokenizer) > int(vocab_size):
        raise InvalidInputError(
            f"{what} {source} has {len(tokenizer)} tokens but the text encoder embeds only {vocab_size}: expected "
            "the tokenizer the text encoder was trained with"
        )
    return tokenizer


def load_tokenizer(source: str | os.PathLike, what: str, hint: str = "", vocab_size: int | None = None) -> Any:
    """``AutoTokenizer.from_pretrained(source)``, refusing directories without tokenizer files and tokenizers with an
    empty vocabulary; one-line errors naming ``source`` (``hint``: how else to give it)."""
    from transformers import AutoTokenizer

    source = os.fspath(source)
    if looks_like_local_path(source):
        check_tokenizer_dir(os.path.expanduser(source), what, hint)
        source = os.path.expanduser(source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InvalidInputError(
            f"cannot load the {what} {source!r} (a directory or a Hub id): {_reason(err)}{_with(hint)}"
        ) from err
    return check_tokenizer(tokenizer, what, repr(source), vocab_size)


def load_pretrained_checked(load: Callable[..., Any], source: str, what: str) -> Any:
    """``load(source)`` (a ``from_pretrained``), refusing weights that would be missing or re-initialised because of
    a shape mismatch (transformers only logs a report of those); one-line errors naming ``source``."""
    from transformers.utils import logging as transformers_logging

    if looks_like_local_path(source):
        source = check_input_dir(os.path.expanduser(source), what, "expected a save_pretrained directory or a Hub id")
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()  # the multi-line load report: the error below says it in one line
    try:
        model, info = load(source, output_loading_info=True, ignore_mismatched_sizes=True)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as err:
        raise InvalidInputError(f"cannot load the {what} {source!r} (a directory or a Hub id): {_reason(err)}") from err
    except MemoryError:
        raise
    except Exception as err:  # safetensors / zip readers on damaged files
        raise InvalidInputError(
            f"cannot load the {what} {source!r}: its weights are unreadable ({_reason(err)})"
        ) from err
    finally:
        transformers_logging.set_verbosity(verbosity)
    problems = [str(key) for key in sorted(info.get("missing_keys") or ())]
    for mismatch in sorted(info.get("mismatched_keys") or (), key=str):
        if isinstance(mismatch, tuple) and len(mismatch) == 3:
            key, stored, built = mismatch
            problems.append(f"{key}: stored {tuple(stored)} vs config {tuple(built)}")
        else:
            problems.append(f"{mismatch} (shape)")
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise InvalidInputError(
            f"the {what} {source!r} lacks {len(problems)} weight(s) its config needs or stores them with other "
            f"shapes (they would be random): {shown}; expected a complete save_pretrained directory"
        )
    return model


__all__ = [
    "InputFileNotFoundError",
    "TOKENIZER_VOCABULARY_FILES",
    "blocked_global",
    "check_input_dir",
    "check_input_file",
    "check_out_dir",
    "check_tokenizer",
    "check_tokenizer_dir",
    "load_json_file",
    "load_pretrained_checked",
    "load_tokenizer",
    "load_torch_file",
    "load_yaml_file",
    "one_line",
    "read_text_file",
    "require_mapping",
]
