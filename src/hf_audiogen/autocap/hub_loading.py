"""``AutoCapPipeline.from_pretrained("mali6/autocap")``: AutoCap's released checkpoint from the Hub.

The release repo ``mali6/autocap`` (genau.md §4) holds AutoCap as a Lightning checkpoint with its training YAML,
``autocap-full.ckpt`` + ``autocap-full.yaml``, next to GenAU's files. :func:`load_autocap` (which
``AutoCapPipeline.from_pretrained`` calls) takes a directory or Hub id:

* a ``save_pretrained`` directory or Hub repo (``config.json``) loads as before;
* a Hub repo in the release layout is converted once and cached (the shared steps: ``hf_audiogen.hub_conversion``):
  only ``<variant>.ckpt`` and ``<variant>.yaml`` are fetched, and the converted model and processor are saved under
  ``<cache>/hf_audiogen/converted/models--mali6--autocap/<commit>/<variant>/``;
* a local directory in the release layout is converted without caching.

Decisions:

1. **Variant.** ``variant=`` names the release (the file stem, ``"autocap-full"``); a stem belongs to AutoCap when it
   contains ``autocap``. ``mali6/autocap`` has one, so ``variant`` may be left out; an unknown one is an error
   listing those the repo has.
2. **Tokenizer referenced, not copied.** BART's tokenizer is named by the Hub id the YAML gives
   (``text_decoder_args.name``, ``facebook/bart-base``) in the folder's ``hf_audiogen_conversion.json`` and loaded
   from the HF cache; AutoCap's 12 tag tokens are added to it on load, as the processor always does. BART's weights
   are fine-tuned (stage 2 trains them) and the CLAP audio tower has no transformers-format repo with the same
   weights, so both stay in the converted model.
3. **Local paths keep working.** ``tokenizer=`` (a directory, a Hub id or a tokenizer) replaces the referenced one,
   also when converting. ``copy_tokenizer=True`` caches a self-contained conversion (``<variant>+tokenizer/``);
   ``pipe.save_pretrained(dir)`` of any loaded pipeline also writes the tokenizer.
4. The checkpoint must hold the CLAP tower (``clap_model.*``); for one saved without it, ``clap_checkpoint=`` (a local
   LAION-CLAP ``.pt``) is passed on to the converter.

Example:

```python
>>> from hf_audiogen.autocap import AutoCapPipeline
>>> pipe = AutoCapPipeline.from_pretrained("mali6/autocap", variant="autocap-full")  # doctest: +SKIP
>>> pipe("thunder.wav")  # doctest: +SKIP
```
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..checkpoint_io import looks_like_local_path
from ..hub_conversion import (
    HubSnapshot,
    cached_variant,
    check_repo_id,
    converted_dir,
    fetch,
    is_complete,
    load_referenced_component,
    missing_files_error,
    offline_error,
    pick_variant,
    pop_hub_kwargs,
    read_conversion_info,
    referenced_hub_kwargs,
    release_variants,
    resolve_snapshot,
    save_conversion,
    write_ref,
)
from .convert_autocap import convert_autocap_checkpoint, load_reference_config
from .modeling_autocap import AutoCapForConditionalGeneration
from .processing_autocap import AutoCapProcessor

logger = logging.getLogger(__name__)

FAMILY = "AutoCap"
AUTOCAP_VARIANTS = ("autocap-full",)  # those of mali6/autocap
DEFAULT_TOKENIZER = "facebook/bart-base"
COPY_SUFFIX = "+tokenizer"
_REQUIRED = ("config.json",)
# Files of the processor itself, kept when the tokenizer's files are removed.
_PROCESSOR_FILES = {"processor_config.json", "preprocessor_config.json"}


def is_autocap_variant(stem: str) -> bool:
    """Whether a ``<stem>.ckpt`` / ``<stem>.yaml`` of a release repo is an AutoCap model (decision 1)."""
    return "autocap" in stem.lower()


def autocap_variants(files) -> list[str]:
    """The AutoCap releases among a repo's file names."""
    return release_variants(files, is_autocap_variant)


def _tokenizer(given: Any, source: str, hub_kwargs: dict) -> Any:
    if given is not None and not isinstance(given, (str, os.PathLike)):
        return given
    return load_referenced_component("AutoTokenizer", given or source, hub_kwargs)


def _load_saved(folder: str, dtype, tokenizer: Any, model_kwargs: dict, hub_kwargs: dict):
    """``(model, processor)`` from a ``save_pretrained`` folder or repo; a tokenizer the folder references by Hub id
    (or the ``tokenizer`` given) is loaded with ``hub_kwargs``."""
    info = read_conversion_info(folder) if os.path.isdir(folder) else None
    referenced = ((info or {}).get("referenced") or {}).get("tokenizer")
    if referenced is not None or tokenizer is not None:
        tokenizer = _tokenizer(tokenizer, referenced, hub_kwargs)
    model = AutoCapForConditionalGeneration.from_pretrained(
        folder, **({"dtype": dtype} if dtype else {}), **model_kwargs
    )
    processor_kwargs = {**model_kwargs, **({"tokenizer": tokenizer} if tokenizer is not None else {})}
    processor = AutoCapProcessor.from_pretrained(folder, **processor_kwargs)
    return model.eval(), processor


def _write_conversion(
    get: Callable[[str], str], files, variant: str, where: str, tokenizer: Any, hub_kwargs: dict, copy: bool, **convert
) -> Callable[[Path], dict]:
    names = (f"{variant}.ckpt", f"{variant}.yaml")
    missing = [name for name in names if name not in files]
    if missing:
        raise missing_files_error(where, f"AutoCap release {variant!r}", missing)

    def write(staging: Path) -> dict:
        reference = load_reference_config(get(f"{variant}.yaml"))
        source = ((reference.get("text_decoder_args") or {}).get("name")) or DEFAULT_TOKENIZER
        loaded = _tokenizer(tokenizer, source, hub_kwargs)
        convert_autocap_checkpoint(
            get(f"{variant}.ckpt"), out_dir=staging, reference_config=reference, tokenizer=loaded, **convert
        )
        if copy:
            return {"referenced": {}, "files": list(names)}
        with tempfile.TemporaryDirectory() as scratch:  # which files are the tokenizer's
            tokenizer_files = {os.path.basename(path) for path in loaded.save_pretrained(scratch)}
        for name in tokenizer_files - _PROCESSOR_FILES:
            (staging / name).unlink(missing_ok=True)
        return {"referenced": {"tokenizer": source}, "files": list(names)}

    return write


def _convert_to_cache(snapshot: HubSnapshot, variant: str, known: list[str], hub: dict, tokenizer, copy, convert):
    repo_id, commit = snapshot.repo_id, snapshot.commit
    logger.warning(
        "%s@%s %s is an AutoCap release: converting it once (cached for the next loads)", repo_id, commit[:10], variant
    )
    write = _write_conversion(
        lambda name: fetch(repo_id, name, commit, hub),
        snapshot.files,
        variant,
        f"Hub repo {repo_id}@{snapshot.revision}",
        tokenizer,
        referenced_hub_kwargs(hub),
        copy,
        **convert,
    )
    info = {
        "family": FAMILY,
        "repo_id": repo_id,
        "revision": snapshot.revision,
        "commit": commit,
        "variant": variant,
        "repo_variants": known,
    }
    target = converted_dir(repo_id, commit, hub.get("cache_dir"), variant + (COPY_SUFFIX if copy else ""))
    save_conversion(target, write, info, _REQUIRED)
    write_ref(repo_id, snapshot.revision, commit, hub.get("cache_dir"))
    return target


def load_autocap(
    source: str | os.PathLike,
    *,
    variant: str | None = None,
    copy_tokenizer: bool = False,
    tokenizer: Any = None,
    clap_checkpoint: str | os.PathLike | None = None,
    dtype: Any = None,
    **kwargs,
) -> tuple[AutoCapForConditionalGeneration, AutoCapProcessor]:
    """``(model, processor)`` from a ``save_pretrained`` directory / Hub repo or an AutoCap release (see the module
    docstring).

    Args:
        source: a local directory or a Hub repo id (e.g. ``"mali6/autocap"``).
        variant: the release to load from a release repo (``"autocap-full"``; optional when the repo has one).
        copy_tokenizer: cache a conversion that holds BART's tokenizer instead of naming it by Hub id.
        tokenizer: BART's tokenizer (directory, Hub id or object), replacing the referenced / saved one.
        clap_checkpoint: a local LAION-CLAP checkpoint for a release saved without its CLAP tower.
        dtype: weights dtype.
        kwargs: ``revision``, ``token``, ``cache_dir``, ``local_files_only``, ``force_download`` (Hub access) and
            other ``from_pretrained`` arguments.

    Raises:
        InvalidInputError: an unknown or inaccessible repo (private without token), an unknown revision or variant.
        FileNotFoundError: a file the release needs is missing, or the source is not cached while offline.
    """
    source = os.fspath(source)
    hub = pop_hub_kwargs(kwargs)
    convert = {"clap_checkpoint": clap_checkpoint} if clap_checkpoint is not None else {}
    if looks_like_local_path(source) or os.path.isdir(source):
        if os.path.isdir(source) and not os.path.isfile(os.path.join(source, "config.json")):
            files = set(os.listdir(source))
            variants = autocap_variants(files)
            if variants:  # a release downloaded by hand: convert into a temporary folder, not cached
                variant = pick_variant(source, "local", FAMILY, variant, variants)
                get = lambda name: os.path.join(source, name)  # noqa: E731
                write = _write_conversion(
                    get,
                    files,
                    variant,
                    f"the directory {source}",
                    tokenizer,
                    referenced_hub_kwargs(hub),
                    True,
                    **convert,
                )
                with tempfile.TemporaryDirectory() as scratch:
                    write(Path(scratch))
                    return _load_saved(scratch, dtype, None, {}, {})  # weights are copied out of the files
        return _load_saved(source, dtype, tokenizer, {**hub, **kwargs}, referenced_hub_kwargs(hub))

    check_repo_id(source)
    snapshot = resolve_snapshot(source, hub)
    suffix = COPY_SUFFIX if copy_tokenizer else ""
    if not snapshot.online:
        folder = cached_variant(snapshot, hub, FAMILY, variant, suffix)
        if folder is not None:
            logger.info(
                "loading the cached conversion of %s@%s %s (%s)",
                source,
                snapshot.commit[:10],
                folder.name,
                snapshot.offline_why,
            )
            return _load_saved(str(folder), dtype, tokenizer, kwargs, referenced_hub_kwargs(hub, offline=True))
        try:  # a save_pretrained repo in the HF cache
            return _load_saved(source, dtype, tokenizer, {**hub, **kwargs, "local_files_only": True}, {})
        except (OSError, ValueError):
            raise offline_error(source, snapshot.revision, snapshot.offline_why) from None

    variants = autocap_variants(snapshot.files)
    if "config.json" in snapshot.files or not variants:
        if "config.json" not in snapshot.files:
            raise FileNotFoundError(
                f"Hub repo {source}@{snapshot.revision} holds neither config.json (a save_pretrained model) nor an "
                "AutoCap release (<variant>.ckpt + <variant>.yaml)"
            )
        model_kwargs = {**hub, **kwargs, "revision": snapshot.commit}
        return _load_saved(source, dtype, tokenizer, model_kwargs, referenced_hub_kwargs(hub))
    variant = pick_variant(source, snapshot.revision, FAMILY, variant, variants)
    target = converted_dir(source, snapshot.commit, hub.get("cache_dir"), variant + suffix)
    if is_complete(target, _REQUIRED) and not hub.get("force_download"):
        write_ref(source, snapshot.revision, snapshot.commit, hub.get("cache_dir"))
        logger.info("loading the cached conversion of %s@%s %s from %s", source, snapshot.commit[:10], variant, target)
    else:
        target = _convert_to_cache(snapshot, variant, variants, hub, tokenizer, copy_tokenizer, convert)
    return _load_saved(str(target), dtype, tokenizer, kwargs, referenced_hub_kwargs(hub))


__all__ = ["AUTOCAP_VARIANTS", "autocap_variants", "is_autocap_variant", "load_autocap"]
