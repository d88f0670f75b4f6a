"""Released checkpoints straight from the Hub: the machinery every family's loader shares, each piece once.

A reference release (audiocraft's ``state_dict.bin`` + ``compression_state_dict.bin``, GenAU's and AutoCap's
Lightning ``<variant>.ckpt`` + ``<variant>.yaml`` in ``mali6/autocap``) is not a ``save_pretrained`` folder. The family
loaders (``audiogen/hub_loading.py``, ``genau/hub_loading.py``, ``autocap/hub_loading.py``) turn it into one once,
with these steps:

1. :func:`resolve_snapshot`: ``revision`` (branch, tag or sha) -> commit sha and file list, from one ``model_info``
   call; offline (``HF_HUB_OFFLINE=1``, ``local_files_only=True``, an unreachable Hub) from the revision -> commit map
   kept next to earlier conversions (``refs/``).
2. :func:`fetch`: only the files the layout needs, through ``hf_hub_download`` (HF cache, ``revision`` pinned to the
   commit, ``token``, ``cache_dir``, ``local_files_only``, ``force_download``).
3. :func:`save_conversion`: the converted folder is written into a staging folder and moved into place with one
   ``os.replace``, so a folder under the cache is complete or absent; :data:`CONVERSION_INFO_NAME` (written last)
   records where it came from and which frozen components it references by Hub id instead of holding a copy.
   Its place, :func:`converted_dir`, is keyed by the source commit (and the variant):
   ``<cache_dir or HF_HOME>/hf_audiogen/converted/models--<org>--<name>/<commit>[/<variant>]``.

Errors are one line: :func:`hub_error` for what the Hub refused (unknown or private repo, unknown revision, missing
file), :func:`offline_error` for what is not cached while the Hub cannot be used.

Example:

```python
>>> from hf_audiogen.hub_conversion import converted_dir
>>> converted_dir("mali6/autocap", "0" * 40, cache_dir="/cache", variant="genau-full-l").as_posix()
'/cache/hf_audiogen/converted/models--mali6--autocap/0000000000000000000000000000000000000000/genau-full-l'

```
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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

from .checkpoint_io import one_line
from .validation import InvalidInputError

CONVERTED_SUBDIR = os.path.join("hf_audiogen", "converted")
# Written last into a converted folder: its presence means the folder is complete.
CONVERSION_INFO_NAME = "hf_audiogen_conversion.json"
# The ``from_pretrained`` keyword arguments that say where and how to fetch from the Hub.
HUB_KWARGS = ("revision", "token", "cache_dir", "local_files_only", "force_download")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def pop_hub_kwargs(kwargs: dict) -> dict:
    """Remove the Hub-access arguments (:data:`HUB_KWARGS`) from ``kwargs`` and return them."""
    return {key: kwargs.pop(key) for key in HUB_KWARGS if key in kwargs}


def transport_errors() -> tuple[type[Exception], ...]:
    """What "the Hub cannot be reached" looks like: huggingface_hub lets its HTTP client's transport errors
    (connection refused, timeouts) through unwrapped."""
    from .hub import _http_transport_errors

    return (OfflineModeIsEnabled, ConnectionError, TimeoutError, *_http_transport_errors())


def check_repo_id(source: str) -> None:
    """``source`` is a valid Hub repo id (it is neither a directory nor a path), else a one-line error."""
    try:
        validate_repo_id(source)
    except HFValidationError as err:
        raise InvalidInputError(f"{source!r} is neither a directory nor a valid Hub repo id: {one_line(err)}") from None


# ---------------------------------------------------------------------------------------------------------------------
# The conversion cache
# ---------------------------------------------------------------------------------------------------------------------
def converted_cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where converted releases are kept: ``<cache_dir or HF_HOME>/hf_audiogen/converted``."""
    return Path(cache_dir if cache_dir is not None else constants.HF_HOME) / CONVERTED_SUBDIR


def _repo_root(repo_id: str, cache_dir) -> Path:
    return converted_cache_root(cache_dir) / repo_folder_name(repo_id=repo_id, repo_type="model")


def converted_dir(
    repo_id: str, commit: str, cache_dir: str | os.PathLike | None = None, variant: str | None = None
) -> Path:
    """The folder holding the conversion of ``repo_id`` at ``commit`` (of one ``variant`` for repos holding several)."""
    folder = _repo_root(repo_id, cache_dir) / commit
    return folder / variant if variant else folder


def is_complete(folder: Path, required: Iterable[str] = ()) -> bool:
    """Whether ``folder`` is a finished conversion (its info file and the ``required`` files exist)."""
    return (folder / CONVERSION_INFO_NAME).is_file() and all((folder / name).exists() for name in required)


def read_conversion_info(folder: str | os.PathLike) -> dict | None:
    """The :data:`CONVERSION_INFO_NAME` record of a converted folder, or None for any other folder."""
    path = Path(folder) / CONVERSION_INFO_NAME
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InvalidInputError(f"{path} cannot be read: {one_line(err)}") from None
    return info if isinstance(info, dict) else None


def cached_conversions(repo_id: str, commit: str, cache_dir=None) -> list[tuple[Path, dict]]:
    """The complete variant conversions of ``repo_id`` at ``commit`` with their info records."""
    root = converted_dir(repo_id, commit, cache_dir)
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        info = read_conversion_info(folder) if folder.is_dir() else None
        if info is not None:
            found.append((folder, info))
    return found


def cached_commit(repo_id: str, revision: str, cache_dir=None) -> str | None:
    """The commit ``revision`` pointed to when ``repo_id`` was last converted (offline lookup)."""
    if _COMMIT.match(revision):
        return revision
    ref = _repo_root(repo_id, cache_dir) / "refs" / revision
    return ref.read_text().strip() if ref.is_file() else None


def write_ref(repo_id: str, revision: str, commit: str, cache_dir=None) -> None:
    """Remember that ``revision`` of ``repo_id`` is ``commit``, for offline loads."""
    if _COMMIT.match(revision):
        return
    ref = _repo_root(repo_id, cache_dir) / "refs" / revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp = ref.with_name(f".{ref.name}.{os.getpid()}.tmp")
    tmp.write_text(commit)
    os.replace(tmp, ref)


def save_conversion(
    target: Path, write: Callable[[Path], dict | None], info: dict, required: Iterable[str] = ()
) -> Path:
    """Write a conversion into ``target`` atomically.

    ``write(staging)`` saves the converted files into an empty staging folder next to ``target`` and may return more
    fields for the info record; the record is written last, then the staging folder replaces ``target`` in one
    ``os.replace``. A leftover of an interrupted conversion is replaced; a complete folder another process moved
    there first is kept.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name[:24]}.", dir=target.parent))
    try:
        extra = write(staging) or {}
        (staging / CONVERSION_INFO_NAME).write_text(json.dumps({**info, **extra}, indent=2) + "\n")
        if target.exists() and not is_complete(target, required):
            shutil.rmtree(target, ignore_errors=True)  # an interrupted conversion of another process
        try:
            os.replace(staging, target)
        except OSError:  # another process finished first: keep its folder
            if not is_complete(target, required):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# ---------------------------------------------------------------------------------------------------------------------
# Talking to the Hub
# ---------------------------------------------------------------------------------------------------------------------
def hub_error(repo_id: str, revision: str, err: Exception) -> Exception:
    """A one-line error for what huggingface_hub raised about ``repo_id``."""
    if isinstance(err, RevisionNotFoundError):
        return InvalidInputError(f"Hub repo {repo_id} has no revision {revision!r} (a branch, tag or commit sha)")
    if isinstance(err, RepositoryNotFoundError):
        return InvalidInputError(
            f"cannot access Hub repo {repo_id}: it does not exist, or it is private/gated and no valid token was "
            "given (pass token=... or run `hf auth login`)"
        )
    if isinstance(err, EntryNotFoundError):
        return FileNotFoundError(f"Hub repo {repo_id}@{revision}: {one_line(err)}")
    return InvalidInputError(f"cannot load Hub repo {repo_id}@{revision}: {one_line(err)}")


def offline_error(repo_id: str, revision: str, why: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{repo_id}@{revision} is not in the local cache and the Hub cannot be used ({why}): load it once online "
        "(or give a local directory)"
    )


def missing_files_error(where: str, layout: str, missing: Iterable[str]) -> FileNotFoundError:
    """``where`` (e.g. ``"Hub repo org/name@main"``) lacks files its ``layout`` needs."""
    missing = list(missing)
    verb = "is" if len(missing) == 1 else "are"
    return FileNotFoundError(f"{where} is an incomplete {layout}: {', '.join(missing)} {verb} missing")


def referenced_hub_kwargs(hub: dict, offline: bool = False) -> dict:
    """The Hub arguments that apply to a component referenced by its own Hub id (a text encoder, a tokenizer): the
    access ones, not the release's ``revision``; offline, only the local cache."""
    kwargs = {k: hub[k] for k in ("token", "cache_dir", "local_files_only") if hub.get(k) is not None}
    if offline:
        kwargs["local_files_only"] = True
    return kwargs


def fetch(repo_id: str, filename: str, commit: str, hub: dict) -> str:
    """``filename`` of ``repo_id`` at ``commit``, through the HF cache; one-line errors."""
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
        raise hub_error(repo_id, commit, err) from None
    except (LocalEntryNotFoundError, *transport_errors()) as err:
        raise offline_error(repo_id, commit, f"{filename}: {type(err).__name__}") from None


@dataclass(frozen=True)
class HubSnapshot:
    """What one revision of a Hub repo is: its commit and files (online), or the cached commit (offline)."""

    repo_id: str
    revision: str  # as asked
    commit: str | None  # None: offline and never converted at this revision
    files: frozenset[str] | None  # None offline
    offline_why: str | None  # None online

    @property
    def online(self) -> bool:
        return self.offline_why is None


def resolve_snapshot(repo_id: str, hub: dict) -> HubSnapshot:
    """``repo_id`` at ``hub["revision"]`` (default ``main``): one ``model_info`` call online; offline, the commit an
    earlier conversion recorded. An unknown or inaccessible repo or revision is a one-line error."""
    revision = hub.get("revision") or constants.DEFAULT_REVISION
    offline_why = "local_files_only=True" if hub.get("local_files_only") else None
    if constants.is_offline_mode():
        offline_why = "HF_HUB_OFFLINE=1"
    if offline_why is None:
        try:
            info = HfApi().model_info(repo_id, revision=revision, token=hub.get("token"), files_metadata=False)
        except (RepositoryNotFoundError, RevisionNotFoundError) as err:
            raise hub_error(repo_id, revision, err) from None
        except transport_errors() as err:
            offline_why = f"unreachable: {type(err).__name__}"
        except HfHubHTTPError as err:
            if err.response is None or err.response.status_code < 500:
                raise hub_error(repo_id, revision, err) from None
            offline_why = f"HTTP {err.response.status_code}"
        else:
            files = frozenset(sibling.rfilename for sibling in info.siblings or [])
            return HubSnapshot(repo_id, revision, info.sha, files, None)
    return HubSnapshot(repo_id, revision, cached_commit(repo_id, revision, hub.get("cache_dir")), None, offline_why)


# ---------------------------------------------------------------------------------------------------------------------
# Release variants (several checkpoints in one repo, e.g. mali6/autocap)
# ---------------------------------------------------------------------------------------------------------------------
def release_variants(files: Iterable[str], belongs: Callable[[str], bool]) -> list[str]:
    """The variant names of the ``<variant>.ckpt`` + ``<variant>.yaml`` releases in ``files`` that ``belongs`` to a
    family (either file present counts, so that a half-uploaded variant is named as incomplete, not unknown)."""
    stems = {name.rsplit(".", 1)[0] for name in files if "/" not in name and name.endswith((".ckpt", ".yaml"))}
    return sorted(stem for stem in stems if belongs(stem))


def pick_variant(repo_id: str, revision: str, family: str, variant: str | None, known: list[str]) -> str:
    """``variant`` if the repo has it; without one, the repo's only variant of the family; else a one-line error
    listing the known ones."""
    if variant is None:
        if len(known) == 1:
            return known[0]
        raise InvalidInputError(
            f"Hub repo {repo_id}@{revision} holds several {family} releases: pass variant= one of {', '.join(known)}"
        )
    if variant not in known:
        raise InvalidInputError(
            f"Hub repo {repo_id}@{revision} has no {family} variant {variant!r}; known variants: "
            f"{', '.join(known) or 'none'}"
        )
    return variant


def cached_variant(snapshot: HubSnapshot, hub: dict, family: str, variant: str | None, suffix: str = "") -> Path | None:
    """Offline: the complete cached conversion of ``variant`` (its folder is ``<variant><suffix>``; without a variant,
    the repo's only one of the family, by the variant list recorded at conversion time), or None."""
    if snapshot.commit is None:
        return None
    found = [
        (folder, info)
        for folder, info in cached_conversions(snapshot.repo_id, snapshot.commit, hub.get("cache_dir"))
        if info.get("family") == family
    ]
    if not found:
        return None
    if variant is None:
        variant = pick_variant(snapshot.repo_id, snapshot.revision, family, None, found[0][1].get("repo_variants", []))
    return next((folder for folder, _ in found if folder.name == variant + suffix), None)


# ---------------------------------------------------------------------------------------------------------------------
# Components referenced by Hub id
# ---------------------------------------------------------------------------------------------------------------------
def load_referenced_component(class_name: str, source: str | os.PathLike, hub_kwargs: dict) -> Any:
    """A frozen component a converted folder names instead of holding: a tokenizer (``AutoTokenizer``) or a
    transformers model class (``T5EncoderModel``), from a Hub id or a local directory."""
    import transformers

    source = os.fspath(source)
    if os.path.isdir(source):
        hub_kwargs = {}
    if "Tokenizer" in class_name or class_name == "TokenizersBackend":
        return transformers.AutoTokenizer.from_pretrained(source, **hub_kwargs)
    cls = getattr(transformers, class_name, None)
    if cls is None:
        raise InvalidInputError(f"unknown transformers class {class_name!r} for the referenced component {source}")
    return cls.from_pretrained(source, **hub_kwargs).eval()


__all__ = [
    "CONVERSION_INFO_NAME",
    "HUB_KWARGS",
    "HubSnapshot",
    "cached_commit",
    "cached_conversions",
    "cached_variant",
    "check_repo_id",
    "converted_cache_root",
    "converted_dir",
    "fetch",
    "hub_error",
    "is_complete",
    "load_referenced_component",
    "missing_files_error",
    "offline_error",
    "pick_variant",
    "pop_hub_kwargs",
    "read_conversion_info",
    "referenced_hub_kwargs",
    "release_variants",
    "resolve_snapshot",
    "save_conversion",
    "write_ref",
]
