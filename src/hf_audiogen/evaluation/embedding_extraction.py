"""Embeddings of many audio files with an evaluation extractor: batched, cached per file, resumable, and sharded over
the processes of ``accelerate launch`` — the extraction step of every distribution metric (FD, FAD, KAD, KL, IS).

It is a :class:`~hf_audiogen.data.pipelines.BatchJob`: the CPU stage (:class:`DecodeForExtractor`) decodes a file
with :func:`hf_audiogen.audio.load_audio` (soundfile; no torchaudio) and runs the extractor's ``prepare`` (downmix,
resample); the model stage (:class:`ExtractorStage`) runs ``embed`` clip by clip under ``torch.inference_mode()``.
Both are plain picklable callables, so a Ray Data engine can run them as they are.

Decisions where the brief left a choice:

1. **The result** is an :class:`EmbeddingResults`, a ``dict`` (clip id → ``{"embeddings", "logits"}``) with the
   accounting as attributes: ``failed`` (clip id, reason) for files that could not be decoded (also announced by
   one warning), ``ignored`` (files of a directory without an audio extension), ``reused``, ``computed``,
   ``seconds`` and ``extractor`` (the fingerprint). Failed clips are not keys: every consumer can iterate the dict
   without checking for holes, and nothing is dropped silently because they are listed and warned about.
2. **The cache** is a folder per fingerprint, ``cache_dir/<name>-<hash>/``, holding batch-job output folders
   (``job-<hash of the items it computed>/``). An item is a file identity ``"size:mtime_ns:resolved path"``, so an
   edited file is a new item (recomputed) and an unchanged one is found in whichever job computed it. The fingerprint
   is the extractor's ``describe()`` and class plus the versions of soundfile, libsndfile, soxr and torch: results
   from another decoder or resampler are never mixed in. Decode failures are cached like results (the same file with
   the same decoder fails the same way); edit the file or use another ``cache_dir`` to retry one.
3. **Without** ``cache_dir`` the job runs in a temporary folder, deleted afterwards: the same code path, no reuse.
4. **Several processes** (``accelerate launch``) need a ``cache_dir`` they all see: each computes its shards, and
   every process returns all results. All processes look the cache up before any writes into it (a barrier), so
   they agree on which files are missing.
5. ``batch_size`` is how many decoded clips are handed to the model stage at once (``embed`` itself takes one clip);
   shards hold :data:`SHARD_SIZE` clips (or ``batch_size`` if larger), the unit of resuming.
6. A directory is searched recursively for :data:`AUDIO_EXTENSIONS`, in sorted order; symbolic links to folders are
   not followed (no loops). An explicit path list is taken as given: a file soundfile cannot read is a failure.
7. ``engine="ray"`` runs the same stages on Ray Data (decoding on CPU tasks, the extractor in an actor pool; see
   :mod:`hf_audiogen.data.pipelines.ray_engine`) and writes the same cache; pass a ``RayEngine`` to size the pool or
   give each actor a GPU (the stage moves the extractor there).

Example:

```python
>>> from hf_audiogen.evaluation.embedding_extraction import extract_embeddings
>>> results = extract_embeddings("generated/", extractor, cache_dir="~/.cache/hf_audiogen/embeddings")  # doctest: +SKIP
>>> results["dog_bark"]["embeddings"].shape, results.failed  # doctest: +SKIP
((10, 128), [])
```
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import tempfile
import time
import warnings
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import soundfile as sf
import soxr
import torch

from ..audio import load_audio
from ..data.pipelines.batch_job import (
    MANIFEST_FILE,
    MAX_BATCH_SIZE,
    BatchJob,
    canonical_fingerprint,
    read_complete_shard,
    read_shard,
    resolve_processes,
)
from ..validation import InvalidInputError, check_int
from .extractors.base import AudioEmbeddingExtractor

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1
SHARD_SIZE = 64  # clips per shard: what a killed run may have to redo, and the unit handed to each process
AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".caf", ".w64")
MAX_FAILURES_SHOWN = 5


class EmbeddingResults(dict):
    """Clip id → ``{"embeddings": (frames, D) float32, "logits": (C,) float32 or None}``, in clip order, with the
    accounting of :func:`extract_embeddings` as attributes (see the module docstring, decision 1)."""

    def __init__(self, results=(), *, failed=(), ignored=(), reused=0, computed=0, seconds=0.0, extractor=None):
        super().__init__(results)
        self.failed: list[tuple[str, str]] = list(failed)  # (clip id, reason): no entry in the dict
        self.ignored: list[str] = list(ignored)  # files of the directory that are not audio by their extension
        self.reused = reused  # clips (results or failures) found in the cache
        self.computed = computed  # clips extracted by this call, over all processes
        self.seconds = seconds
        self.extractor: dict = extractor or {}

    def summary(self) -> str:
        return (
            f"{len(self)} clips embedded ({self.computed} computed, {self.reused} from the cache), "
            f"{len(self.failed)} failed, {len(self.ignored)} non-audio files ignored, {self.seconds:.1f} s"
        )


# ------------------------------------------------------------------------------------------------ stages
class DecodeForExtractor:
    """CPU stage: an audio file → the extractor's prepared input (its rate and channels)."""

    def __init__(self, extractor: AudioEmbeddingExtractor):
        self.extractor = extractor

    def __call__(self, path: str) -> torch.Tensor:
        audio, sampling_rate = load_audio(path, mono=False)  # prepare() downmixes the way its protocol does
        return self.extractor.prepare(audio, sampling_rate)


class ExtractorStage:
    """Model stage: prepared clips → ``{"embeddings", "logits"}`` numpy dicts, one ``embed`` call per clip."""

    def __init__(self, extractor: AudioEmbeddingExtractor):
        self.extractor = extractor

    def to(self, device) -> ExtractorStage:
        """Move the extractor (a Ray actor given a GPU calls this)."""
        self.extractor.to(device)
        return self

    def __call__(self, batch: list[torch.Tensor]) -> list[dict]:
        device = next(itertools.chain(self.extractor.parameters(), self.extractor.buffers()), torch.empty(0)).device
        outputs = []
        with torch.inference_mode():
            for waveform in batch:
                output = self.extractor.embed(waveform.to(device))
                embeddings = output.embeddings.detach().to("cpu", torch.float32).numpy()
                if embeddings.ndim != 2:
                    raise InvalidInputError(
                        f"{type(self.extractor).__name__}.embed returned embeddings of shape {tuple(embeddings.shape)}"
                        "; expected (frames, dim)"
                    )
                logits = None
                if output.logits is not None:
                    logits = output.logits.detach().to("cpu", torch.float32).numpy().reshape(-1)
                outputs.append({"embeddings": embeddings, "logits": logits})
        return outputs


# ------------------------------------------------------------------------------------------------ inputs
def list_audio_clips(sources) -> tuple[list[tuple[str, Path]], list[str]]:
    """``(clips, ignored)``: ``[(clip id, path)]`` of a directory (recursive, sorted; id = relative path without
    extension) or of a list of files (id = file stem), and the directory's files skipped as not audio."""
    if isinstance(sources, (str, os.PathLike)):
        folder = Path(sources).expanduser()
        if folder.is_file():
            raise InvalidInputError(f"sources must be a folder or a list of files; {folder} is a file (pass [path])")
        if not folder.is_dir():
            raise InvalidInputError(f"sources folder not found: {folder}")
        clips, ignored = [], []
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                relative = (Path(root) / name).relative_to(folder)
                if relative.suffix.lower() in AUDIO_EXTENSIONS:
                    clips.append((relative.with_suffix("").as_posix(), folder / relative))
                else:
                    ignored.append(relative.as_posix())
        clips.sort()
        if not clips:
            raise InvalidInputError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) in {folder}")
        if ignored:
            logger.info("%d files in %s are not audio by their extension and are ignored", len(ignored), folder)
        described = f"in {folder}"
    elif isinstance(sources, Sequence) and not isinstance(sources, (bytes, bytearray)):
        clips, ignored = [], []
        for position, path in enumerate(sources):
            if not isinstance(path, (str, os.PathLike)):
                raise InvalidInputError(f"sources[{position}] must be a file path, got {type(path).__name__}")
            path = Path(path).expanduser()
            if not path.is_file():
                raise InvalidInputError(f"sources[{position}]: audio file not found: {path}")
            clips.append((path.stem, path))
        if not clips:
            raise InvalidInputError("sources is an empty list: give at least one audio file")
        described = "in the list"
    else:
        raise InvalidInputError(f"sources must be a folder or a list of audio files, got {type(sources).__name__}")
    seen: dict[str, Path] = {}
    for clip_id, path in clips:
        if clip_id in seen:
            raise InvalidInputError(
                f"{seen[clip_id]} and {path} {described} both give the clip id {clip_id!r}: rename one of them"
            )
        seen[clip_id] = path
    return clips, ignored


def file_identity(path: Path) -> str:
    """``"size:mtime_ns:resolved path"``: what makes a cached result still valid for a file."""
    resolved = path.resolve()
    stat = resolved.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}:{resolved}"


def extraction_fingerprint(extractor: AudioEmbeddingExtractor) -> dict:
    """What the cached embeddings depend on: the extractor, and the decoder and resampler that fed it."""
    return canonical_fingerprint(
        {
            "cache_format": CACHE_FORMAT,
            "extractor": extractor.describe(),
            "extractor_class": f"{type(extractor).__module__}.{type(extractor).__qualname__}",
            "decode": {
                "read": "hf_audiogen.audio.load_audio(mono=False) then extractor.prepare",
                "soundfile": sf.__version__,
                "libsndfile": sf.__libsndfile_version__,
                "soxr": soxr.__version__,
            },
            "torch": torch.__version__,
        }
    )


# ------------------------------------------------------------------------------------------------ cache
def _cache_index(root: Path, fingerprint: dict) -> dict[str, tuple[Path, dict]]:
    """File identity → (job folder, sidecar of the complete shard holding it), over every job in ``root``."""
    index: dict[str, tuple[Path, dict]] = {}
    for job_dir in sorted(root.glob("job-*")):
        try:
            manifest = json.loads((job_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a job folder whose manifest was never written holds no complete shard
        if manifest.get("fingerprint") != fingerprint:
            logger.warning("ignoring %s: written for another extractor fingerprint", job_dir)
            continue
        for shard in range(manifest["num_shards"]):
            sidecar = read_complete_shard(job_dir, manifest["job_sha256"], shard)
            for key in sidecar["ids"] if sidecar else ():
                index.setdefault(key, (job_dir, sidecar))
    return index


def _collect(keys: list[str], index: dict[str, tuple[Path, dict]]) -> tuple[dict[str, dict], dict[str, str]]:
    """The cached results and failure reasons of ``keys``, reading each shard once."""
    results, reasons, by_shard = {}, {}, {}
    for key in keys:
        job_dir, sidecar = index[key]
        by_shard.setdefault((job_dir, sidecar["shard"]), (job_dir, sidecar))
    for job_dir, sidecar in by_shard.values():
        results.update(read_shard(job_dir, sidecar))
        reasons.update((key, reason) for key, reason in sidecar["failed"])
    return results, reasons


# ------------------------------------------------------------------------------------------------ entry point
def extract_embeddings(
    sources,
    extractor: AudioEmbeddingExtractor,
    *,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 8,
    progress: bool = True,
    engine="local",
) -> EmbeddingResults:
    """Embed every audio file of ``sources`` with ``extractor``.

    Args:
        sources: a folder (every audio file in it, recursively, sorted; clip id = relative path without extension)
            or a list of audio file paths (clip id = file stem; two files with one stem are an error).
        extractor: an :class:`AudioEmbeddingExtractor`; it is put in eval mode.
        cache_dir: keep results here per (extractor fingerprint, file identity) and reuse them; an interrupted run
            resumes from its complete shards. Required when running under ``accelerate launch`` with several
            processes (a folder they all see).
        batch_size: prepared clips per model-stage call.
        progress: show a tqdm bar (on process 0).
        engine: ``"local"`` (in this process), ``"ray"`` or a ``RayEngine`` (decision 7).

    Returns:
        :class:`EmbeddingResults`: clip id → ``{"embeddings": (frames, D) float32, "logits": (C,) float32 or
        None}``, and ``.failed`` (clip id, reason) for files that could not be read (also warned about).
    """
    start = time.perf_counter()
    if not isinstance(extractor, AudioEmbeddingExtractor):
        raise InvalidInputError(f"extractor must be an AudioEmbeddingExtractor, got {type(extractor).__name__}")
    batch_size = check_int("batch_size", batch_size, min=1, max=MAX_BATCH_SIZE)
    clips, ignored = list_audio_clips(sources)
    keys = {clip_id: file_identity(path) for clip_id, path in clips}
    paths = dict(zip(keys.values(), (str(path) for _, path in clips)))  # one item per file, even if linked twice
    fingerprint = extraction_fingerprint(extractor)
    process_index, num_processes = resolve_processes(None, None)
    if num_processes > 1 and cache_dir is None:
        raise InvalidInputError(
            f"running on {num_processes} processes needs cache_dir, a folder all of them can read and write"
        )
    extractor.eval()
    with ExitStack() as stack:
        base = Path(cache_dir).expanduser() if cache_dir is not None else Path(stack.enter_context(_temporary()))
        name = re.sub(r"[^\w.-]+", "_", str(fingerprint["extractor"].get("name", "extractor")))
        digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()
        root = base / f"{name}-{digest[:16]}"
        _write_fingerprint(root, fingerprint)
        index = _cache_index(root, fingerprint)
        missing = [(key, path) for key, path in paths.items() if key not in index]
        reused = sum(key in index for key in keys.values())
        _wait_for_everyone(num_processes)  # every process has looked before any writes: they agree on `missing`
        if missing:
            job = BatchJob(
                DecodeForExtractor(extractor),
                ExtractorStage(extractor),
                fingerprint,
                batch_size=batch_size,
                shard_size=max(SHARD_SIZE, batch_size),
            )
            job_name = hashlib.sha256(json.dumps([key for key, _ in missing]).encode()).hexdigest()[:16]
            description = f"{name} embeddings"
            job.run(missing, root / f"job-{job_name}", progress=progress, description=description, engine=engine)
            _wait_for_everyone(num_processes)
            index = _cache_index(root, fingerprint)
        absent = [clip_id for clip_id, key in keys.items() if key not in index]
        if absent:  # only when another process stopped before finishing its shards
            raise RuntimeError(f"{len(absent)} clips have no result in {root} (first: {absent[0]!r}); run again")
        cached, reasons = _collect(list(dict.fromkeys(keys.values())), index)
    results = EmbeddingResults(
        {clip_id: dict(cached[key]) for clip_id, key in keys.items() if key in cached},
        failed=[(clip_id, reasons[key]) for clip_id, key in keys.items() if key in reasons],
        ignored=ignored,
        reused=reused,
        computed=len(keys) - reused,
        extractor=fingerprint,
    )
    results.seconds = time.perf_counter() - start
    if results.failed:
        shown = "; ".join(f"{clip_id} ({reason})" for clip_id, reason in results.failed[:MAX_FAILURES_SHOWN])
        more = (
            f"; and {len(results.failed) - MAX_FAILURES_SHOWN} more" if len(results.failed) > MAX_FAILURES_SHOWN else ""
        )
        warnings.warn(
            f"{len(results.failed)} of {len(keys)} audio files could not be read and have no embeddings: {shown}"
            f"{more} (all of them in the result's .failed)",
            stacklevel=2,
        )
    return results


def _temporary():
    return tempfile.TemporaryDirectory(prefix="hf_audiogen-embeddings-")


def _wait_for_everyone(num_processes: int) -> None:
    if num_processes > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()


def _write_fingerprint(root: Path, fingerprint: dict) -> None:
    # For people browsing the cache: which extractor a folder belongs to (the folder name only holds a hash).
    path = root / "fingerprint.json"
    if path.exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".fingerprint.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(fingerprint, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


__all__ = [
    "AUDIO_EXTENSIONS",
    "DecodeForExtractor",
    "EmbeddingResults",
    "ExtractorStage",
    "extract_embeddings",
    "extraction_fingerprint",
    "file_identity",
    "list_audio_clips",
]
