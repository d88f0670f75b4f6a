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

The Hub steps (revision -> commit, fetching, the atomic conversion cache keyed by commit, one-line errors) are shared
with GenAU's and AutoCap's release loaders: ``hf_audiogen.hub_conversion``.

Example:

```python
>>> from hf_audiogen.audiogen.hub_loading import load_audiogen
>>> model, processor = load_audiogen("facebook/audiogen-medium")  # doctest: +SKIP
```
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from transformers import AutoModelForTextEncoding, AutoTokenizer

from ..checkpoint_io import looks_like_local_path
from ..codec import CodecFeatureExtractor
from ..hub_conversion import (
    CONVERSION_INFO_NAME,
    check_repo_id,
    converted_cache_root,
    converted_dir,
    fetch,
    is_complete,
    missing_files_error,
    offline_error,
    pop_hub_kwargs,
    referenced_hub_kwargs,
    resolve_snapshot,
    save_conversion,
    write_ref,
)
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

# A converted AudioGen folder is complete with its info record and its config (hub_conversion.save_conversion).
_REQUIRED = ("config.json",)


def _is_complete(folder: Path) -> bool:
    return is_complete(folder, _REQUIRED)


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
    lm_path = fetch(repo_id, LM_CHECKPOINT_NAME, commit, hub)
    compression_path = fetch(repo_id, COMPRESSION_CHECKPOINT_NAME, commit, hub)
    logger.warning(
        "%s@%s is an audiocraft release: converting it once to hf_audiogen (cached for the next loads)",
        repo_id,
        commit[:10],
    )
    package = _load_lm_package(lm_path)
    text_encoder_id = default_text_encoder_id(package["xp.cfg"])
    text_hub = referenced_hub_kwargs(hub)

    text_model = AutoModelForTextEncoding.from_pretrained(text_encoder_id, **text_hub)
    tokenizer = AutoTokenizer.from_pretrained(text_encoder_id, **text_hub)
    model = convert_audiocraft_checkpoint(package, compression_path, text_encoder=text_model, tokenizer=tokenizer)
    # The saved folder refers to the text encoder by its Hub id instead of holding a copy of it.
    model.config.text_encoder_source = text_encoder_id
    model.config.text_encoder._name_or_path = text_encoder_id
    processor = _processor_for(model, tokenizer, None)

    def write(staging: Path) -> None:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)

    info = {"repo_id": repo_id, "revision": revision, "commit": commit, "text_encoder_source": text_encoder_id}
    save_conversion(converted_dir(repo_id, commit, hub.get("cache_dir")), write, info, _REQUIRED)
    write_ref(repo_id, revision, commit, hub.get("cache_dir"))
    if dtype is not None and dtype != "auto":
        model = model.to(dtype)
    return model.eval(), processor


def _load_from_hub(repo_id: str, text_encoder, tokenizer, dtype, model_kwargs: dict, hub: dict):
    snapshot = resolve_snapshot(repo_id, hub)
    revision, cache_dir = snapshot.revision, hub.get("cache_dir")
    if not snapshot.online:  # only what is cached
        commit = snapshot.commit
        if commit is not None and _is_complete(converted_dir(repo_id, commit, cache_dir)):
            if text_encoder is None and tokenizer is None:
                logger.info("loading the cached conversion of %s@%s (%s)", repo_id, commit[:10], snapshot.offline_why)
                folder = str(converted_dir(repo_id, commit, cache_dir))
                return _load_saved(folder, dtype, model_kwargs, referenced_hub_kwargs(hub, offline=True))
        try:  # a save_pretrained repo in the HF cache: transformers loads it offline
            return _load_saved(repo_id, dtype, model_kwargs, {**hub, "local_files_only": True})
        except (OSError, ValueError):
            raise offline_error(repo_id, revision, snapshot.offline_why) from None

    files, commit = snapshot.files, snapshot.commit
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
        raise missing_files_error(f"Hub repo {repo_id}@{revision}", "audiocraft release", missing)
    if text_encoder is not None or tokenizer is not None:  # the caller's text encoder: convert, do not cache
        lm_path = fetch(repo_id, LM_CHECKPOINT_NAME, commit, hub)
        compression_path = fetch(repo_id, COMPRESSION_CHECKPOINT_NAME, commit, hub)
        return _convert_in_memory(lm_path, compression_path, text_encoder, tokenizer, dtype, repo_id)
    target = converted_dir(repo_id, commit, cache_dir)
    if _is_complete(target) and not hub.get("force_download"):
        write_ref(repo_id, revision, commit, cache_dir)
        logger.info("loading the cached conversion of %s@%s from %s", repo_id, commit[:10], target)
        return _load_saved(str(target), dtype, model_kwargs, referenced_hub_kwargs(hub))
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
    hub = pop_hub_kwargs(kwargs)
    if os.path.isdir(source) and is_audiocraft_checkpoint_dir(source):
        return _convert_in_memory(source, None, text_encoder, tokenizer, dtype, source)
    if looks_like_local_path(source) or os.path.isdir(source):
        if text_encoder is not None or tokenizer is not None:
            raise InvalidInputError(
                "text_encoder= and tokenizer= only apply to audiocraft checkpoints; a save_pretrained directory "
                f"({source}) brings its own"
            )
        return _load_saved(source, dtype, kwargs, hub)
    check_repo_id(source)
    return _load_from_hub(source, text_encoder, tokenizer, dtype, kwargs, hub)


__all__ = ["CONVERSION_INFO_NAME", "converted_cache_root", "converted_dir", "load_audiogen"]
