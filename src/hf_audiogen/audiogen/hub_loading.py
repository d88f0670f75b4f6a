"""One way in for every AudioGen source: a ``save_pretrained`` directory or Hub repo, or an audiocraft release
(``state_dict.bin`` + ``compression_state_dict.bin``, no ``config.json``) in a local directory or a Hub repo.

:func:`load_audiogen` decides what ``source`` is and returns ``(model, processor)``:

* a local audiocraft directory is converted in memory (as before);
* a Hub repo is looked up once (``model_info`` at ``revision``: its commit sha and file list). A repo with
  ``config.json`` loads with ``from_pretrained``. An audiocraft repo (e.g. ``facebook/audiogen-medium``): only the two
  checkpoint files are fetched with ``hf_hub_download`` (HF cache, ``revision``, ``token``, ``local_files_only``),
  converted once, and the result is saved under ``<cache>/hf_audiogen/converted/models--<org>--<name>/<commit>/``
  (``<cache>`` = ``cache_dir`` or ``HF_HOME``). The text encoder is not copied there: the converted config names it
  by its Hub id (``text_encoder_source``, from ``xp.cfg``, e.g. ``google-t5/t5-large``), so it stays in the HF cache
  once. Later calls load the converted folder without converting, and keep working offline (``HF_HUB_OFFLINE=1``,
  ``local_files_only=True`` or an unreachable Hub): the revision -> commit map is kept next to it in ``refs/``.
* Passing ``text_encoder=`` / ``tokenizer=`` with an audiocraft source converts with them, in memory, uncached.

Example:

```python
>>> from hf_audiogen.audiogen.hub_loading import load_audiogen
>>> model, processor = load_audiogen("facebook/audiogen-medium")  # doctest: +SKIP
```
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi, constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils import HFValidationError, validate_repo_id
from transformers import AutoModelForTextEncoding, AutoTokenizer

from ..checkpoint_io import looks_like_local_path
from ..codec import CodecFeatureExtractor
from ..validation import InvalidInputError
from .convert_audiocraft import (
    COMPRESSION_CHECKPOINT_NAME,
    LM_CHECKPOINT_NAME,
    _load_lm_package,
    convert_audiocraft_checkpoint,
    default_text_encoder_id,
    is_audiocraft_checkpoint_dir,
)
from .modeling_audiogen import AudioGenForConditionalGeneration
from .processing_audiogen import AudioGenProcessor

logger = logging.getLogger(__name__)

CONVERTED_SUBDIR = os.path.join("hf_audiogen", "converted")
# Written last into a converted folder: its presence means the folder is complete.
CONVERSION_INFO_NAME = "hf_audiogen_conversion.json"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_HUB_KWARGS = ("revision", "token", "cache_dir", "local_files_only", "force_download")


def _transport_errors() -> tuple[type[Exception], ...]:
    # huggingface_hub lets its HTTP client's transport errors (connection refused, timeouts) through unwrapped.
    from ..hub import _http_transport_errors

    return (OfflineModeIsEnabled, ConnectionError, TimeoutError, *_http_transport_errors())


def converted_cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where converted audiocraft releases are kept: ``<cache_dir or HF_HOME>/hf_audiogen/converted``."""
    return Path(cache_dir if cache_dir is not None else constants.HF_HOME) / CONVERTED_SUBDIR


def converted_dir(repo_id: str, commit: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the conversion of ``repo_id`` at ``commit``."""
    return converted_cache_root(cache_dir) / repo_folder_name(repo_id=repo_id, repo_type="model") / commit


def _is_complete(folder: Path) -> bool:
    return (folder / CONVERSION_INFO_NAME).is_file() and (folder / "config.json").is_file()


def _cached_commit(repo_id: str, revision: str, cache_dir) -> str | None:
    """The commit ``revision`` pointed to when ``repo_id`` was last converted (offline lookup)."""
    if _COMMIT.match(revision):
        return revision
    ref = converted_cache_root(cache_dir) / repo_folder_name(repo_id=repo_id, repo_type="model") / "refs" / revision
    return ref.read_text().strip() if ref.is_file() else None


def _write_ref(repo_id: str, revision: str, commit: str, cache_dir) -> None:
    if _COMMIT.match(revision):
        return
    ref = converted_cache_root(cache_dir) / repo_folder_name(repo_id=repo_id, repo_type="model") / "refs" / revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp = ref.with_name(f".{ref.name}.{os.getpid()}.tmp")
    tmp.write_text(commit)
    os.replace(tmp, ref)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]


def _hub_error(repo_id: str, revision: str, err: Exception) -> Exception:
    """A one-line error for what huggingface_hub raised about ``repo_id``."""
    if isinstance(err, RevisionNotFoundError):
        return InvalidInputError(f"Hub repo {repo_id} has no revision {revision!r} (a branch, tag or commit sha)")
    if isinstance(err, RepositoryNotFoundError):
        return InvalidInputError(
            f"cannot access Hub repo {repo_id}: it does not exist, or it is private/gated and no valid token was "
            "given (pass token=... or run `hf auth login`)"
        )
    if isinstance(err, EntryNotFoundError):
        return FileNotFoundError(f"Hub repo {repo_id}@{revision}: {_one_line(err)}")
    return InvalidInputError(f"cannot load Hub repo {repo_id}@{revision}: {_one_line(err)}")


def _offline_error(repo_id: str, revision: str, why: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{repo_id}@{revision} is not in the local cache and the Hub cannot be used ({why}): load it once online "
        "(or give a local directory)"
    )


def _text_encoder_hub(hub: dict, offline: bool = False) -> dict:
    """The Hub arguments that apply to the text encoder a converted folder names by its Hub id."""
    text_hub = {k: hub[k] for k in ("token", "cache_dir", "local_files_only") if hub.get(k) is not None}
    if offline:
        text_hub["local_files_only"] = True
    return text_hub


def _fetch(repo_id: str, filename: str, commit: str, hub: dict) -> str:
    try:
        return hf_hub_download(
            repo_id,
            filename,
            revision=commit,
            token=hub.get("token"),
            cache_dir=hub.get("cache_dir"),
            local_files_only=bool(hub.get("local_files_only")),
            force_download=bool(hub.get("force_download")),
        )
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as err:
        raise _hub_error(repo_id, commit, err) from None
    except (LocalEntryNotFoundError, *_transport_errors()) as err:
        raise _offline_error(repo_id, commit, f"{filename}: {type(err).__name__}") from None


# ---------------------------------------------------------------------------------------------------------------------
# Building (model, processor)
# ---------------------------------------------------------------------------------------------------------------------
def _processor_for(model: AudioGenForConditionalGeneration, tokenizer: Any, text_encoder: Any) -> AudioGenProcessor:
    if tokenizer is None:  # the converter loaded the text encoder from this id / directory
        tokenizer_source = text_encoder if isinstance(text_encoder, (str, os.PathLike)) else None
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_source or model.text_encoder.name_or_path)
    feature_extractor = CodecFeatureExtractor(
        feature_size=model.config.codec.audio_channels, sampling_rate=model.config.sampling_rate
    )
    return AudioGenProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)


def _convert_in_memory(lm, compression, text_encoder, tokenizer, dtype, what: str):
    logger.warning(
        "%s is an audiocraft checkpoint (state_dict.bin + compression_state_dict.bin): converting it to hf_audiogen "
        "on the fly. Save the result with pipe.save_pretrained(dir) to skip this next time.",
        what,
    )
    model = convert_audiocraft_checkpoint(lm, compression, text_encoder=text_encoder, tokenizer=tokenizer)
    if dtype is not None and dtype != "auto":
        model = model.to(dtype)
    return model.eval(), _processor_for(model, tokenizer, text_encoder)


def _load_saved(source: str, dtype, model_kwargs: dict, hub: dict):
    kwargs = {**model_kwargs, **{k: v for k, v in hub.items() if v is not None}}
    if dtype is not None:
        kwargs["dtype"] = dtype
    model = AudioGenForConditionalGeneration.from_pretrained(source, **kwargs)
    processor_kwargs = {k: v for k, v in hub.items() if k != "force_download" and v is not None}
    processor = AudioGenProcessor.from_pretrained(source, **processor_kwargs)
    return model.eval(), processor


def _convert_to_cache(repo_id: str, revision: str, commit: str, hub: dict, dtype):
    """Fetch the two checkpoints at ``commit``, convert, save under the cache (atomically) and return the model."""
    lm_path = _fetch(repo_id, LM_CHECKPOINT_NAME, commit, hub)
    compression_path = _fetch(repo_id, COMPRESSION_CHECKPOINT_NAME, commit, hub)
    logger.warning(
        "%s@%s is an audiocraft release: converting it once to hf_audiogen (cached for the next loads)",
        repo_id,
        commit[:10],
    )
    package = _load_lm_package(lm_path)
    text_encoder_id = default_text_encoder_id(package["xp.cfg"])
    text_hub = _text_encoder_hub(hub)

    text_model = AutoModelForTextEncoding.from_pretrained(text_encoder_id, **text_hub)
    tokenizer = AutoTokenizer.from_pretrained(text_encoder_id, **text_hub)
    model = convert_audiocraft_checkpoint(package, compression_path, text_encoder=text_model, tokenizer=tokenizer)
    # The saved folder refers to the text encoder by its Hub id instead of holding a copy of it.
    model.config.text_encoder_source = text_encoder_id
    model.config.text_encoder._name_or_path = text_encoder_id
    processor = _processor_for(model, tokenizer, None)

    target = converted_dir(repo_id, commit, hub.get("cache_dir"))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{commit[:10]}.", dir=target.parent))
    try:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        info = {"repo_id": repo_id, "revision": revision, "commit": commit, "text_encoder_source": text_encoder_id}
        (staging / CONVERSION_INFO_NAME).write_text(json.dumps(info, indent=2) + "\n")
        if target.exists() and not _is_complete(target):
            shutil.rmtree(target, ignore_errors=True)  # an interrupted conversion of another process
        try:
            os.replace(staging, target)
        except OSError:  # another process finished first: keep its folder
            if not _is_complete(target):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _write_ref(repo_id, revision, commit, hub.get("cache_dir"))
    if dtype is not None and dtype != "auto":
        model = model.to(dtype)
    return model.eval(), processor


def _load_from_hub(repo_id: str, text_encoder, tokenizer, dtype, model_kwargs: dict, hub: dict):
    revision = hub.get("revision") or constants.DEFAULT_REVISION
    cache_dir = hub.get("cache_dir")
    offline_why = "local_files_only=True" if hub.get("local_files_only") else None
    if constants.is_offline_mode():
        offline_why = "HF_HUB_OFFLINE=1"
    info = None
    if offline_why is None:
        try:
            info = HfApi().model_info(repo_id, revision=revision, token=hub.get("token"), files_metadata=False)
        except (RepositoryNotFoundError, RevisionNotFoundError) as err:
            raise _hub_error(repo_id, revision, err) from None
        except _transport_errors() as err:
            offline_why = f"unreachable: {type(err).__name__}"
        except HfHubHTTPError as err:
            if err.response is None or err.response.status_code < 500:
                raise _hub_error(repo_id, revision, err) from None
            offline_why = f"HTTP {err.response.status_code}"

    if info is None:  # offline: only what is cached
        commit = _cached_commit(repo_id, revision, cache_dir)
        if commit is not None and _is_complete(converted_dir(repo_id, commit, cache_dir)):
            if text_encoder is None and tokenizer is None:
                logger.info("loading the cached conversion of %s@%s (%s)", repo_id, commit[:10], offline_why)
                folder = str(converted_dir(repo_id, commit, cache_dir))
                return _load_saved(folder, dtype, model_kwargs, _text_encoder_hub(hub, offline=True))
        try:  # a save_pretrained repo in the HF cache: transformers loads it offline
            return _load_saved(repo_id, dtype, model_kwargs, {**hub, "local_files_only": True})
        except (OSError, ValueError):
            raise _offline_error(repo_id, revision, offline_why) from None

    files = {sibling.rfilename for sibling in info.siblings or []}
    commit = info.sha
    if "config.json" in files or not ({LM_CHECKPOINT_NAME, COMPRESSION_CHECKPOINT_NAME} & files):
        if text_encoder is not None or tokenizer is not None:
            raise InvalidInputError(
                "text_encoder= and tokenizer= only apply to audiocraft checkpoints; a save_pretrained repo "
                f"({repo_id}) brings its own"
            )
        if "config.json" not in files:
            raise FileNotFoundError(
                f"Hub repo {repo_id}@{revision} holds neither config.json (a save_pretrained model) nor "
                f"{LM_CHECKPOINT_NAME} + {COMPRESSION_CHECKPOINT_NAME} (an audiocraft release)"
            )
        return _load_saved(repo_id, dtype, model_kwargs, {**hub, "revision": commit})
    missing = sorted({LM_CHECKPOINT_NAME, COMPRESSION_CHECKPOINT_NAME} - files)
    if missing:
        raise FileNotFoundError(
            f"Hub repo {repo_id}@{revision} is an incomplete audiocraft release: {', '.join(missing)} is missing"
        )
    if text_encoder is not None or tokenizer is not None:  # the caller's text encoder: convert, do not cache
        lm_path = _fetch(repo_id, LM_CHECKPOINT_NAME, commit, hub)
        compression_path = _fetch(repo_id, COMPRESSION_CHECKPOINT_NAME, commit, hub)
        return _convert_in_memory(lm_path, compression_path, text_encoder, tokenizer, dtype, repo_id)
    target = converted_dir(repo_id, commit, cache_dir)
    if _is_complete(target) and not hub.get("force_download"):
        _write_ref(repo_id, revision, commit, cache_dir)
        logger.info("loading the cached conversion of %s@%s from %s", repo_id, commit[:10], target)
        return _load_saved(str(target), dtype, model_kwargs, _text_encoder_hub(hub))
    return _convert_to_cache(repo_id, revision, commit, hub, dtype)


def load_audiogen(
    source: str | os.PathLike,
    *,
    text_encoder: Any = None,
    tokenizer: Any = None,
    dtype: Any = None,
    **kwargs,
) -> tuple[AudioGenForConditionalGeneration, AudioGenProcessor]:
    """``(model, processor)`` from a directory or Hub repo id, in ``save_pretrained`` or audiocraft layout.

    Args:
        source: a local directory or a Hub repo id.
        text_encoder, tokenizer: only for audiocraft sources: the text encoder to pair the LM with (a local directory,
            Hub id or loaded model; default: the T5 named in ``xp.cfg``, referenced by its Hub id).
        dtype: weights dtype (``torch.float32`` default, or ``"auto"``).
        kwargs: ``revision``, ``token``, ``cache_dir``, ``local_files_only``, ``force_download`` (Hub access) and
            other ``from_pretrained`` keyword arguments of the model.

    Raises:
        InvalidInputError: an unknown or inaccessible repo (private without token), an unknown revision.
        FileNotFoundError: a file the layout needs is missing, or the source is not cached while offline.
    """
    source = os.fspath(source)
    hub = {key: kwargs.pop(key) for key in _HUB_KWARGS if key in kwargs}
    if os.path.isdir(source) and is_audiocraft_checkpoint_dir(source):
        return _convert_in_memory(source, None, text_encoder, tokenizer, dtype, source)
    if looks_like_local_path(source) or os.path.isdir(source):
        if text_encoder is not None or tokenizer is not None:
            raise InvalidInputError(
                "text_encoder= and tokenizer= only apply to audiocraft checkpoints; a save_pretrained directory "
                f"({source}) brings its own"
            )
        return _load_saved(source, dtype, kwargs, hub)
    try:
        validate_repo_id(source)
    except HFValidationError as err:
        raise InvalidInputError(
            f"{source!r} is neither a directory nor a valid Hub repo id: {_one_line(err)}"
        ) from None
    return _load_from_hub(source, text_encoder, tokenizer, dtype, kwargs, hub)


__all__ = ["CONVERSION_INFO_NAME", "converted_cache_root", "converted_dir", "load_audiogen"]
