"""``GenAUPipeline.from_pretrained("mali6/autocap", variant="genau-full-l")``: GenAU's released checkpoints from the Hub.

The release repo ``mali6/autocap`` holds Lightning checkpoints with their run YAML, not ``save_pretrained`` folders
(genau.md §4): ``genau-full-l``, ``genau-full-s`` and ``genau-l-full-hq-data`` (each ``<variant>.ckpt`` +
``<variant>.yaml``), the shared 1D-VAE ``1dvae_64_344999.ckpt`` and HiFi-GAN ``hifigan_16k_64bins.ckpt`` / ``.json``,
AutoCap's ``autocap-full.*`` and CLAP's ``clap_htsat_tiny.pt``. :func:`load_genau_pipeline` (which
``GenAUPipeline.from_pretrained`` calls) takes a directory or Hub id:

* a ``save_pretrained`` directory or Hub repo (``model_index.json``) loads as before;
* a Hub repo in the release layout is converted once and cached (the shared steps: ``hf_audiogen.hub_conversion``).
  Fetched: ``<variant>.ckpt`` and ``<variant>.yaml``, and ``hifigan_16k_64bins.json`` when the repo has it (a few
  hundred bytes that give the vocoder's upsampling rates instead of the preset's guess). The GenAU checkpoint holds
  the whole LightningModule, VAE and vocoder included (``first_stage_model.*``), so ``1dvae_64_344999.ckpt`` /
  ``hifigan_16k_64bins.ckpt`` are fetched only for a checkpoint without them. The converted pipeline is saved under
  ``<cache>/hf_audiogen/converted/models--mali6--autocap/<commit>/<variant>/``;
* a local directory in the release layout is converted in memory (not cached).

Decisions:

1. **Variant.** ``variant=`` names the release (the file stem). Without it, a repo with one GenAU release loads that
   one; ``mali6/autocap`` has three, so it is required there, and an unknown one is an error listing those the repo
   has. A stem belongs to GenAU unless it names AutoCap (contains ``autocap``) or is the shared VAE / vocoder.
   (diffusers' own ``variant``, a weights-file suffix such as ``fp16``, still applies to ``model_index.json`` repos.)
2. **Referenced, not copied.** The frozen FLAN-T5 encoder and both tokenizers are not stored in the converted folder;
   its :data:`~hf_audiogen.hub_conversion.CONVERSION_INFO_NAME` names them by Hub id (the T5 as the YAML's
   ``text_encoder_name``, ``google/flan-t5-large``; CLAP's tokenizer ``roberta-base``, which laion CLAP's text tower
   uses), and they are loaded from the HF cache. The T5 is referenced only if the checkpoint's copy equals the Hub
   model bit for bit (checked at conversion); otherwise the checkpoint's copy is kept, with a warning.
3. **CLAP's text tower is kept.** GenAU's CLAP is ``clap_htsat_tiny`` (a laion checkpoint in ``mali6/autocap``), which
   has no transformers-format repo on the Hub to point at; its text tower (~125M parameters) is taken from the GenAU
   checkpoint and saved with the pipeline.
4. **Local paths keep working.** ``tokenizer=``, ``text_encoder_2=``, ``tokenizer_2=`` (and ``text_encoder=``) may be
   a directory, a Hub id or a loaded object; they replace the referenced components (also when converting, e.g. with
   local copies and no Hub). ``copy_text_encoders=True`` caches a self-contained conversion instead (in
   ``<variant>+text-encoders/``), which needs nothing else from the Hub; ``pipe.save_pretrained(dir)`` of any loaded
   pipeline also writes every component.

Example:

```python
>>> from hf_audiogen.genau import GenAUPipeline
>>> pipe = GenAUPipeline.from_pretrained("mali6/autocap", variant="genau-full-l")  # doctest: +SKIP
>>> audio = pipe("a dog barks in the rain", num_inference_steps=100).audios[0]  # doctest: +SKIP
```
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import T5EncoderModel

from ..aligned_memory import realign_weights
from ..checkpoint_io import looks_like_local_path
from ..hub_conversion import (
    CONVERSION_INFO_NAME,
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
from .convert_genau import (
    DEFAULT_CLAP_TOKENIZER,
    DEFAULT_T5_NAME,
    FIRST_STAGE_PREFIX,
    _cond_stage_kinds,
    convert_genau_checkpoint,
    load_genau_config,
    load_lightning_state_dict,
)
from .pipeline_genau import GenAUPipeline

logger = logging.getLogger(__name__)

FAMILY = "GenAU"
GENAU_VARIANTS = ("genau-full-l", "genau-full-s", "genau-l-full-hq-data")  # those of mali6/autocap
VAE_CHECKPOINT = "1dvae_64_344999.ckpt"
VOCODER_CHECKPOINT = "hifigan_16k_64bins.ckpt"
VOCODER_CONFIG = "hifigan_16k_64bins.json"
COPY_SUFFIX = "+text-encoders"
# The components a converted folder may name by Hub id instead of holding.
REFERENCEABLE = ("tokenizer", "text_encoder_2", "tokenizer_2")
_SHARED_STEMS = {name.rsplit(".", 1)[0] for name in (VAE_CHECKPOINT, VOCODER_CHECKPOINT)}
_REQUIRED = ("model_index.json",)


def is_genau_variant(stem: str) -> bool:
    """Whether a ``<stem>.ckpt`` / ``<stem>.yaml`` of a release repo is a GenAU model (see decision 1)."""
    return "autocap" not in stem.lower() and stem not in _SHARED_STEMS


def genau_variants(files) -> list[str]:
    """The GenAU releases among a repo's file names."""
    return release_variants(files, is_genau_variant)


# ---------------------------------------------------------------------------------------------------------------------
# Referenced components
# ---------------------------------------------------------------------------------------------------------------------
def with_referenced_components(folder: str | os.PathLike, kwargs: dict, hub_kwargs: dict) -> dict:
    """``kwargs`` for ``from_pretrained(folder)`` completed with the components the converted ``folder`` names by
    Hub id (a component given in ``kwargs`` as an object wins; one given as a directory / Hub id replaces the
    reference)."""
    info = read_conversion_info(folder)
    referenced = (info or {}).get("referenced") or {}
    if not referenced:
        return kwargs
    index = json.loads((Path(folder) / "model_index.json").read_text(encoding="utf-8"))
    kwargs = dict(kwargs)
    for name, source in referenced.items():
        given = kwargs.get(name)
        if given is not None and not isinstance(given, (str, os.PathLike)):
            continue
        class_name = (index.get(name) or [None, None])[1] or "AutoTokenizer"
        component = load_referenced_component(class_name, given or source, hub_kwargs)
        if isinstance(component, torch.nn.Module):
            realign_weights(component)  # as _from_saved does for the components it loads
        kwargs[name] = component
    return kwargs


def _load_converted(folder: Path, strict: bool, kwargs: dict, hub: dict, offline: bool) -> GenAUPipeline:
    kwargs = with_referenced_components(folder, kwargs, referenced_hub_kwargs(hub, offline))
    return GenAUPipeline._from_saved(str(folder), strict=strict, **kwargs)


# ---------------------------------------------------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------------------------------------------------
def _t5_name(config: dict) -> str:
    for stage in (config["model"]["params"].get("cond_stage_config") or {}).values():
        name = ((stage or {}).get("params") or {}).get("text_encoder_name")
        if name:
            return name
    return DEFAULT_T5_NAME


def _same_weights(state: dict, prefix: str, model: torch.nn.Module) -> bool:
    own = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
    reference = model.state_dict()
    return own.keys() <= reference.keys() and all(
        own[key].shape == reference[key].shape and torch.equal(own[key].to(reference[key].dtype), reference[key])
        for key in own
    )


def _convert(
    get: Callable[[str], str], files, variant: str, text_kwargs: dict, hub_kwargs: dict, copy: bool, where: str
) -> tuple[GenAUPipeline, dict[str, str], list[str]]:
    """Convert ``variant`` (files read through ``get``): the pipeline, the components to reference by Hub id, and the
    files read."""

    def need(*names: str) -> None:
        missing = [name for name in names if name not in files]
        if missing:
            raise missing_files_error(where, f"GenAU release {variant!r}", missing)

    need(f"{variant}.ckpt", f"{variant}.yaml")
    read = [f"{variant}.ckpt", f"{variant}.yaml"]
    config = load_genau_config(get(f"{variant}.yaml"))
    state = load_lightning_state_dict(get(f"{variant}.ckpt"), f"{variant}.ckpt")
    vae = vocoder = vocoder_config = None
    if not any(key.startswith(FIRST_STAGE_PREFIX + "encoder.") for key in state):
        need(VAE_CHECKPOINT)
        vae, read = get(VAE_CHECKPOINT), [*read, VAE_CHECKPOINT]
    has_vocoder = any(key.startswith(FIRST_STAGE_PREFIX + "vocoder.") for key in state)
    if not has_vocoder and vae is not None:
        has_vocoder = any(key.startswith("vocoder.") for key in load_lightning_state_dict(vae, VAE_CHECKPOINT))
    if not has_vocoder:
        need(VOCODER_CHECKPOINT)
        vocoder, read = get(VOCODER_CHECKPOINT), [*read, VOCODER_CHECKPOINT]
    if VOCODER_CONFIG in files:
        vocoder_config, read = get(VOCODER_CONFIG), [*read, VOCODER_CONFIG]

    # The frozen text side: tokenizers by Hub id (or as given), the T5 referenced if the checkpoint's copy is the Hub's.
    t5_name = _t5_name(config)
    sources = {"tokenizer": DEFAULT_CLAP_TOKENIZER, "text_encoder_2": t5_name, "tokenizer_2": t5_name}
    kinds = _cond_stage_kinds(state, config)
    t5_index = next((index for index, kind in kinds.items() if kind == "t5"), None)
    if t5_index is None:
        sources = {"tokenizer": DEFAULT_CLAP_TOKENIZER}
    if "clap" not in kinds.values():
        sources.pop("tokenizer")

    def load(name: str, class_name: str):
        given = text_kwargs.get(name)
        if given is not None and not isinstance(given, (str, os.PathLike)):
            return given
        return load_referenced_component(class_name, given or sources[name], hub_kwargs)

    components = {name: load(name, "AutoTokenizer") for name in ("tokenizer", "tokenizer_2") if name in sources}
    referenced = {name: sources[name] for name in components}
    if t5_index is not None:
        t5 = load("text_encoder_2", T5EncoderModel.__name__)
        if _same_weights(state, f"cond_stage_models.{t5_index}.model.", t5):
            components["text_encoder_2"], referenced["text_encoder_2"] = t5, sources["text_encoder_2"]
        else:
            logger.warning(
                "%s: the checkpoint's T5 differs from %s: its own copy is kept in the converted pipeline",
                variant,
                sources["text_encoder_2"],
            )
            components["text_encoder_2"] = t5.config  # built from the checkpoint's weights
    pipeline = convert_genau_checkpoint(
        state, config=config, vae=vae, vocoder=vocoder, vocoder_config=vocoder_config, **components
    ).pipeline
    return pipeline, ({} if copy else referenced), read


def _write_pipeline(pipeline: GenAUPipeline, referenced: dict[str, str]) -> Callable[[Path], dict]:
    def write(staging: Path) -> dict:
        pipeline.save_pretrained(staging)
        for name in referenced:  # model_index.json keeps their classes; the info record says where they are
            shutil.rmtree(staging / name, ignore_errors=True)
        return {"referenced": referenced}

    return write


def _convert_to_cache(snapshot: HubSnapshot, variant: str, known: list[str], hub: dict, text_kwargs: dict, copy: bool):
    repo_id, commit = snapshot.repo_id, snapshot.commit
    logger.warning(
        "%s@%s %s is a GenAU release: converting it once (cached for the next loads)", repo_id, commit[:10], variant
    )
    pipeline, referenced, read = _convert(
        lambda name: fetch(repo_id, name, commit, hub),
        snapshot.files,
        variant,
        text_kwargs,
        referenced_hub_kwargs(hub),
        copy,
        f"Hub repo {repo_id}@{snapshot.revision}",
    )
    info = {
        "family": FAMILY,
        "repo_id": repo_id,
        "revision": snapshot.revision,
        "commit": commit,
        "variant": variant,
        "repo_variants": known,
        "files": read,
    }
    target = converted_dir(repo_id, commit, hub.get("cache_dir"), variant + (COPY_SUFFIX if copy else ""))
    save_conversion(target, _write_pipeline(pipeline, referenced), info, _REQUIRED)
    write_ref(repo_id, snapshot.revision, commit, hub.get("cache_dir"))
    return target


# ---------------------------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------------------------
def load_genau_pipeline(
    source: str | os.PathLike,
    *,
    variant: str | None = None,
    copy_text_encoders: bool = False,
    strict: bool = True,
    **kwargs,
) -> GenAUPipeline:
    """A [`GenAUPipeline`] from a ``save_pretrained`` directory / Hub repo or a GenAU release (see the module
    docstring).

    Args:
        source: a local directory or a Hub repo id (e.g. ``"mali6/autocap"``).
        variant: the release to load from a release repo (``"genau-full-l"``, ``"genau-full-s"``,
            ``"genau-l-full-hq-data"``); for a ``model_index.json`` repo, diffusers' weights variant.
        copy_text_encoders: cache a conversion that holds the T5 encoder and the tokenizers instead of naming them
            by Hub id (for machines that will not see the Hub or its cache).
        strict: see [`GenAUPipeline.from_pretrained`].
        kwargs: ``revision``, ``token``, ``cache_dir``, ``local_files_only``, ``force_download`` (Hub access), and
            components / other ``from_pretrained`` arguments.

    Raises:
        InvalidInputError: an unknown or inaccessible repo (private without token), an unknown revision or variant.
        FileNotFoundError: a file the release needs is missing, or the source is not cached while offline.
    """
    source = os.fspath(source)
    hub = pop_hub_kwargs(kwargs)
    text_kwargs = {name: kwargs[name] for name in REFERENCEABLE if kwargs.get(name) is not None}
    if looks_like_local_path(source) or os.path.isdir(source):
        if os.path.isdir(source) and not os.path.isfile(os.path.join(source, "model_index.json")):
            files = set(os.listdir(source))
            variants = genau_variants(files)
            if variants:  # a release downloaded by hand: convert in memory
                variant = pick_variant(source, "local", FAMILY, variant, variants)
                kwargs = {k: v for k, v in kwargs.items() if k not in REFERENCEABLE}
                pipeline, _, _ = _convert(
                    lambda name: os.path.join(source, name),
                    files,
                    variant,
                    text_kwargs,
                    referenced_hub_kwargs(hub),
                    True,
                    f"the directory {source}",
                )
                return pipeline
        if variant is not None:
            kwargs["variant"] = variant
        kwargs = (
            with_referenced_components(source, kwargs, referenced_hub_kwargs(hub)) if os.path.isdir(source) else kwargs
        )
        return GenAUPipeline._from_saved(source, strict=strict, **hub, **kwargs)

    check_repo_id(source)
    snapshot = resolve_snapshot(source, hub)
    suffix = COPY_SUFFIX if copy_text_encoders else ""
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
            return _load_converted(folder, strict, kwargs, hub, offline=True)
        try:  # a save_pretrained repo in the HF cache
            extra = {"variant": variant} if variant is not None else {}
            return GenAUPipeline._from_saved(
                source, strict=strict, **{**hub, "local_files_only": True}, **extra, **kwargs
            )
        except (OSError, ValueError):
            raise offline_error(source, snapshot.revision, snapshot.offline_why) from None

    variants = genau_variants(snapshot.files)
    if "model_index.json" in snapshot.files or not variants:
        if "model_index.json" not in snapshot.files:
            raise FileNotFoundError(
                f"Hub repo {source}@{snapshot.revision} holds neither model_index.json (a save_pretrained pipeline) "
                "nor a GenAU release (<variant>.ckpt + <variant>.yaml)"
            )
        extra = {"variant": variant} if variant is not None else {}
        return GenAUPipeline._from_saved(
            source, strict=strict, **{**hub, "revision": snapshot.commit}, **extra, **kwargs
        )
    variant = pick_variant(source, snapshot.revision, FAMILY, variant, variants)
    target = converted_dir(source, snapshot.commit, hub.get("cache_dir"), variant + suffix)
    if is_complete(target, _REQUIRED) and not hub.get("force_download"):
        write_ref(source, snapshot.revision, snapshot.commit, hub.get("cache_dir"))
        logger.info("loading the cached conversion of %s@%s %s from %s", source, snapshot.commit[:10], variant, target)
    else:
        target = _convert_to_cache(snapshot, variant, variants, hub, text_kwargs, copy_text_encoders)
    return _load_converted(target, strict, kwargs, hub, offline=False)


__all__ = [
    "CONVERSION_INFO_NAME",
    "GENAU_VARIANTS",
    "genau_variants",
    "is_genau_variant",
    "load_genau_pipeline",
    "with_referenced_components",
]
