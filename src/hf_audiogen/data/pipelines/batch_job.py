"""One interface for the package's batch jobs: items → ``read_decode`` (CPU) → ``model`` (batches) → fixed shards.

Evaluation embedding extraction, codec tokenisation, AutoReCap re-captioning and caption enrichment run on it. A job
is two plain, picklable callables and a fingerprint, and nothing else, so that an engine other than the in-process
one here (Ray Data, :mod:`.ray_engine`: ``read_decode`` as a ``map`` on CPU workers, ``model`` as ``map_batches``
with a class holding the model) runs the very same stages and writes the very same shards with :func:`write_shard`:

- ``read_decode(source) -> decoded``: reads and decodes one item on the CPU. An exception here marks that item failed
  with a one-line reason (:func:`decode_item`); the job goes on.
- ``model(list_of_decoded) -> list[dict]``: one dict per decoded item, in order, with values that are numpy arrays
  (numeric or bool; torch tensors are converted), numpy scalars, ``str``, ``int``, ``float``, ``bool`` or ``None``.
  An exception here stops the job (a model error is rarely about one item); rerunning resumes it.

Output folder::

    OUT/manifest.json                 the job: its fingerprint, shard size, item ids and a hash of the item list
    OUT/shard-00042.safetensors       the arrays of shard 42's items (key ``"{position}/{field}"``)
    OUT/shard-00042.json              its sidecar: ids, the other fields, failures (id, reason), checksum of the tensors

Shard ``s`` holds items ``[s * shard_size, (s + 1) * shard_size)`` of the item list, so the shards of a job never
depend on the engine, the batch size or the number of processes. Both files of a shard are written under a temporary
name and renamed, the sidecar last: a shard counts as complete only once its sidecar exists, so a killed run leaves
no half shard that counts, and a rerun redoes exactly the shards that are not complete. A rerun with another
fingerprint, shard size or item list stops with an error instead of mixing two jobs in one folder.

With ``N`` processes (``accelerate launch``, or explicit ``process_index``/``num_processes``), process ``k`` takes
shards ``k, k + N, k + 2N, …``; :func:`load_results` merges whatever shards are complete and lists the items missing.

Engines: ``BatchJob.run(..., engine="local")`` (the default, :class:`LocalEngine`) runs the stages in this process;
``engine="ray"`` (or a configured :class:`~hf_audiogen.data.pipelines.ray_engine.RayEngine`) runs them as a Ray Data
pipeline. An engine only computes: it yields finished shards, and :meth:`BatchJob.run` writes them with
:func:`write_shard` and does the accounting, so every engine skips the same shards and writes the same files.

Example:

```python
>>> import tempfile
>>> import numpy as np
>>> from hf_audiogen.data.pipelines import BatchJob, load_results
>>> def square(batch):
...     return [{"square": np.float32(x) ** 2} for x in batch]
>>> job = BatchJob(read_decode=float, model=square, fingerprint={"job": "square"}, batch_size=2, shard_size=2)
>>> out = tempfile.mkdtemp()
>>> report = job.run([("a", "1"), ("b", "two"), ("c", "3")], out, process_index=0, num_processes=1, progress=False)
>>> report.written, report.reused, report.failed
(2, 0, [('b', "ValueError: could not convert string to float: 'two'")])
>>> float(load_results(out).results["c"]["square"])
9.0

```
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import numbers
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy
from tqdm.auto import tqdm

from ...checkpoint_io import one_line
from ...validation import InvalidInputError, check_int

logger = logging.getLogger(__name__)

FORMAT = "hf_audiogen.batch_job"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
# Bounds of the knobs that multiply memory or processes: far above real use, low enough that a typo fails at once.
MAX_BATCH_SIZE = 4096
MAX_SHARD_SIZE = 1_000_000
MAX_PROCESSES = 65536


# ------------------------------------------------------------------------------------------------ stages
@dataclass(frozen=True)
class Decoded:
    """One item after ``read_decode``: its ``value``, or the one-line ``error`` that made it fail."""

    id: str
    value: Any = None
    error: str | None = None


def decode_item(read_decode: Callable[[Any], Any], item: tuple[str, Any]) -> Decoded:
    """Run ``read_decode`` on one ``(id, source)`` item; any exception becomes that item's failure reason (the CPU
    stage of every engine: a bad file must not stop a job over thousands of them). ``KeyboardInterrupt`` still
    stops the job."""
    item_id, source = item
    try:
        return Decoded(item_id, read_decode(source))
    except Exception as err:  # noqa: BLE001 - whatever the decoder raises is that item's reason, reported
        return Decoded(item_id, error=f"{type(err).__name__}: {one_line(err)}")


def run_model(
    model: Callable[[list], list[Mapping[str, Any]]], decoded: Sequence[Decoded]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The model stage of every engine on one batch of decoded items: ``(outputs by id, failures)``. Items that
    failed to decode are not given to the model; the model must give one dict per item it gets."""
    failed = [(item.id, item.error) for item in decoded if item.error is not None]
    ok = [item for item in decoded if item.error is None]
    outputs = {}
    if ok:
        results = model([item.value for item in ok])
        if not isinstance(results, Sequence) or len(results) != len(ok):
            raise InvalidInputError(
                f"the model stage must return a list with one dict per item: got "
                f"{len(results) if isinstance(results, Sequence) else type(results).__name__} for {len(ok)}"
            )
        outputs.update((item.id, result) for item, result in zip(ok, results))
    return outputs, failed


# ------------------------------------------------------------------------------------------------ reports
@dataclass
class BatchJobReport:
    """What one process of :meth:`BatchJob.run` did, over the shards it owns. Every item it owns is counted once:
    ``written + reused + len(failed)`` is the number of items in its shards."""

    output_dir: Path
    process_index: int = 0
    num_processes: int = 1
    shards: int = 0  # shards owned by this process
    shards_written: int = 0
    shards_reused: int = 0  # complete from an earlier run, skipped
    written: int = 0  # items computed by this run
    reused: int = 0  # items found complete in reused shards
    failed: list[tuple[str, str]] = field(default_factory=list)  # (id, reason), from this run or a reused shard
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"process {self.process_index}/{self.num_processes}: {self.written} items written, {self.reused} reused, "
            f"{len(self.failed)} failed ({self.shards_written} shards written, {self.shards_reused} reused of "
            f"{self.shards}) in {self.seconds:.1f} s; output in {self.output_dir}"
        )


@dataclass
class BatchResults:
    """Everything :func:`load_results` found in an output folder, in item order. Every item of the job is in exactly
    one of ``results``, ``failed`` and ``missing`` (items of shards not complete yet)."""

    output_dir: Path
    fingerprint: dict
    results: dict[str, dict[str, Any]]
    failed: list[tuple[str, str]]
    missing: list[str]

    @property
    def complete(self) -> bool:
        return not self.missing


# ------------------------------------------------------------------------------------------------ output folder
@dataclass(frozen=True)
class JobPlan:
    """An output folder checked against a job and its items (:func:`prepare_output`): what every engine needs to
    know which shards exist, which items each holds and which are complete."""

    output_dir: Path
    job_hash: str  # sha256 of fingerprint + shard size + item list: written into every sidecar
    ids: tuple[str, ...]
    sources: tuple[Any, ...]
    shard_size: int

    @property
    def num_shards(self) -> int:
        return math.ceil(len(self.ids) / self.shard_size)

    def shard_items(self, shard: int) -> list[tuple[str, Any]]:
        span = slice(shard * self.shard_size, (shard + 1) * self.shard_size)
        return list(zip(self.ids[span], self.sources[span]))

    def shards_of(self, process_index: int, num_processes: int) -> range:
        return range(process_index, self.num_shards, num_processes)


def canonical_fingerprint(fingerprint: Mapping[str, Any]) -> dict:
    """``fingerprint`` as the JSON it is stored as (tuples become lists), so that a rerun compares equal values."""
    if not isinstance(fingerprint, Mapping):
        raise InvalidInputError(f"fingerprint must be a dict of JSON values, got {type(fingerprint).__name__}")
    try:
        return json.loads(json.dumps(dict(fingerprint), sort_keys=True, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"fingerprint must hold only JSON values (str, numbers, lists, dicts): {err}") from err


def _source_key(item_id: str, source: Any) -> str:
    # A stable text of the source for the item-list hash: repr() of an arbitrary object may hold a memory address,
    # which would make every rerun look like another job.
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "sha256:" + hashlib.sha256(bytes(source)).hexdigest()
    try:
        return json.dumps(source, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"the source of item {item_id!r} must be a path, bytes or a JSON value, got {type(source).__name__}"
        ) from None


def _check_items(items: Iterable[tuple[str, Any]]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    ids, sources, seen = [], [], set()
    for position, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise InvalidInputError(f"item {position} must be an (id, source) pair, got {item!r:.80}")
        item_id, source = item
        if not isinstance(item_id, str) or not item_id:
            raise InvalidInputError(f"item {position}: the id must be a non-empty string, got {item_id!r:.80}")
        if item_id in seen:
            raise InvalidInputError(f"item {position}: the id {item_id!r} appears twice; ids must be unique")
        seen.add(item_id)
        ids.append(item_id)
        sources.append(source)
    if not ids:
        raise InvalidInputError("a batch job needs at least one (id, source) item, got none")
    return tuple(ids), tuple(sources)


def _atomic_write(path: Path, data: bytes) -> None:
    # The pid keeps two processes that write the same folder off each other's temporary files.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)  # atomic: a reader sees the old file or the new one, never a part


def _json_bytes(value) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise InvalidInputError(
            f"{path} cannot be read as JSON ({one_line(err)}); delete it to redo that part"
        ) from err


def prepare_output(
    output_dir: str | os.PathLike, fingerprint: Mapping[str, Any], items: Iterable[tuple[str, Any]], shard_size: int
) -> JobPlan:
    """Create ``output_dir`` for a job, or check that the job it already holds is this one (same fingerprint, shard
    size and item list) so that it can be resumed. Any difference is an :class:`InvalidInputError` naming it."""
    fingerprint = canonical_fingerprint(fingerprint)
    shard_size = check_int("shard_size", shard_size, min=1, max=MAX_SHARD_SIZE)
    ids, sources = _check_items(items)
    items_hash = hashlib.sha256(
        json.dumps([[item_id, _source_key(item_id, source)] for item_id, source in zip(ids, sources)]).encode()
    ).hexdigest()
    job_hash = hashlib.sha256(json.dumps([fingerprint, shard_size, items_hash], sort_keys=True).encode()).hexdigest()
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise InvalidInputError(f"output_dir {output_dir} is a file, not a folder")
    manifest_path = output_dir / MANIFEST_FILE
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "fingerprint": fingerprint,
        "shard_size": shard_size,
        "num_items": len(ids),
        "num_shards": math.ceil(len(ids) / shard_size),
        "items_sha256": items_hash,
        "job_sha256": job_hash,
        "ids": list(ids),
    }
    previous = _read_json(manifest_path)
    if previous is None and output_dir.is_dir() and any(output_dir.glob("shard-*")):
        # Shards are only written once the manifest exists: another process may have just started this job.
        previous = _read_json(manifest_path)
        if previous is None:
            raise InvalidInputError(f"{output_dir} holds shard files but no {MANIFEST_FILE}: refusing to write into it")
    if previous is None:
        output_dir.mkdir(parents=True, exist_ok=True)
        # Several processes may get here at once; they write the same bytes, and the rename is atomic.
        _atomic_write(manifest_path, _json_bytes(manifest))
    else:
        _check_same_job(output_dir, previous, manifest)
    return JobPlan(output_dir, job_hash, ids, sources, shard_size)


def _check_same_job(output_dir: Path, previous: dict, manifest: dict) -> None:
    if not isinstance(previous, dict) or previous.get("format") != FORMAT:
        raise InvalidInputError(f"{output_dir / MANIFEST_FILE} is not a batch-job manifest: use another output folder")
    if previous.get("version") != FORMAT_VERSION:
        raise InvalidInputError(
            f"{output_dir} was written by batch-job format {previous.get('version')}, this is {FORMAT_VERSION}: use a "
            "new output folder"
        )
    old, new = previous.get("fingerprint") or {}, manifest["fingerprint"]
    changed = sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))
    if changed:
        raise InvalidInputError(
            f"{output_dir} was written by another job (its fingerprint differs in {', '.join(map(repr, changed))}); "
            "use a new output folder, or delete this one to start over"
        )
    if previous.get("shard_size") != manifest["shard_size"]:
        raise InvalidInputError(
            f"{output_dir} was written with shard_size={previous.get('shard_size')}, not {manifest['shard_size']}: "
            "use the same shard size to resume, or a new output folder"
        )
    if previous.get("items_sha256") != manifest["items_sha256"]:
        raise InvalidInputError(
            f"{output_dir} was written for another item list ({previous.get('num_items')} items, now "
            f"{manifest['num_items']}, or the same number with other ids or sources): use a new output folder"
        )


def shard_paths(output_dir: str | os.PathLike, shard: int) -> tuple[Path, Path]:
    """The ``(tensors, sidecar)`` paths of shard ``shard``."""
    stem = Path(output_dir) / f"shard-{shard:05d}"
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def read_complete_shard(output_dir: str | os.PathLike, job_hash: str, shard: int) -> dict | None:
    """The sidecar of shard ``shard`` if that shard is complete and belongs to job ``job_hash``, else None."""
    tensors_path, sidecar_path = shard_paths(output_dir, shard)
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
        size = tensors_path.stat().st_size
    except (OSError, ValueError):
        return None  # no sidecar (not finished), or no tensors next to it: redo the shard
    if not isinstance(sidecar, dict) or sidecar.get("job_sha256") != job_hash or sidecar.get("tensors_bytes") != size:
        return None
    return sidecar


def _to_record(position: int, item_id: str, output: Any) -> tuple[dict[str, np.ndarray], dict]:
    """One model output → its arrays (safetensors keys) and its sidecar record (field order and JSON values)."""
    if not isinstance(output, Mapping):
        raise InvalidInputError(
            f"the model stage must return one dict per item; for {item_id!r} it gave {output!r:.80}"
        )
    arrays, values = {}, {}
    for name, value in output.items():
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"the model stage gave {item_id!r} a field named {name!r}; names must be strings")
        if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
            value = value.detach().cpu().numpy()
        if isinstance(value, (np.ndarray, np.generic)) and not isinstance(value, np.str_):
            array = np.asarray(value)  # not ascontiguousarray: it turns a 0-d scalar into shape (1,)
            if not array.flags.c_contiguous:
                array = array.copy(order="C")
            if array.dtype.kind not in "biuf":
                raise InvalidInputError(
                    f"the model stage gave {item_id!r} field {name!r} an array of dtype {array.dtype}; arrays must "
                    "be numeric or bool (safetensors), text must be a str"
                )
            arrays[f"{position}/{name}"] = array
        elif value is None or isinstance(value, (str, bool, numbers.Integral, numbers.Real)):
            values[name] = value.item() if hasattr(value, "item") else value  # np.str_ → str
        else:
            raise InvalidInputError(
                f"the model stage gave {item_id!r} field {name!r} a {type(value).__name__}; allowed: numpy arrays, "
                "numbers, str, bool, None"
            )
    return arrays, {"position": position, "fields": list(output), "values": values}


def write_shard(
    plan: JobPlan,
    shard: int,
    outputs: Mapping[str, Mapping[str, Any]],
    failed: Sequence[tuple[str, str]],
    info: Mapping[str, Any] | None = None,
) -> dict:
    """Write shard ``shard`` of ``plan``: ``outputs`` (id → the model's dict) and ``failed`` (id, reason) must
    together cover the shard's items exactly. Tensors first, sidecar last, each atomically; returns the sidecar."""
    ids = [item_id for item_id, _ in plan.shard_items(shard)]
    failed = [(str(item_id), str(reason)) for item_id, reason in failed]
    failed_ids = {item_id for item_id, _ in failed}
    unaccounted = [item_id for item_id in ids if (item_id in outputs) == (item_id in failed_ids)]
    extra = (set(outputs) | failed_ids) - set(ids)
    if unaccounted or extra or len(failed_ids) != len(failed):
        raise InvalidInputError(
            f"shard {shard}: every item must have one output or one failure; unaccounted or doubled: "
            f"{(unaccounted + sorted(extra))[:5]}"
        )
    tensors, records = {}, []
    for position, item_id in enumerate(ids):
        if item_id in outputs:
            arrays, record = _to_record(position, item_id, outputs[item_id])
            tensors.update(arrays)
            records.append(record)
    # One metadata key: safetensors writes its metadata map in no fixed order, and a shard's bytes should not vary.
    data = safetensors.numpy.save(tensors, metadata={"batch_job": json.dumps([plan.job_hash, shard])})
    sidecar = {
        "format": FORMAT,
        "shard": shard,
        "job_sha256": plan.job_hash,
        "ids": ids,
        "results": records,
        "failed": [list(pair) for pair in failed],
        "tensors_bytes": len(data),
        "tensors_sha256": hashlib.sha256(data).hexdigest(),
        **dict(info or {}),
    }
    tensors_path, sidecar_path = shard_paths(plan.output_dir, shard)
    for stale in plan.output_dir.glob(f".shard-{shard:05d}.*.tmp"):  # left by a killed run of this shard
        stale.unlink(missing_ok=True)
    _atomic_write(tensors_path, data)
    _atomic_write(sidecar_path, _json_bytes(sidecar))  # last: from now on the shard counts as complete
    return sidecar


def read_shard(output_dir: str | os.PathLike, sidecar: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The results (id → fields) of a complete shard, given its sidecar; checks the tensors' checksum."""
    tensors_path, _ = shard_paths(output_dir, sidecar["shard"])
    data = tensors_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sidecar["tensors_sha256"]:
        raise InvalidInputError(f"{tensors_path} does not match its sidecar's checksum: delete both files and rerun")
    tensors = safetensors.numpy.load(data)
    results = {}
    for record in sidecar["results"]:
        position, values = record["position"], record["values"]
        results[sidecar["ids"][position]] = {
            name: values[name] if name in values else tensors[f"{position}/{name}"] for name in record["fields"]
        }
    return results


def load_results(output_dir: str | os.PathLike) -> BatchResults:
    """Merge every complete shard of ``output_dir`` (whichever process wrote it) into one :class:`BatchResults`, in
    item order, with the failed items and the items of shards not complete yet (``missing``)."""
    output_dir = Path(output_dir)
    manifest = _read_json(output_dir / MANIFEST_FILE)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidInputError(f"{output_dir} is not a batch-job output folder (no valid {MANIFEST_FILE})")
    ids, shard_size = manifest["ids"], manifest["shard_size"]
    found, failed, missing = {}, [], []
    for shard in range(manifest["num_shards"]):
        sidecar = read_complete_shard(output_dir, manifest["job_sha256"], shard)
        if sidecar is None:
            missing.extend(ids[shard * shard_size : (shard + 1) * shard_size])
            continue
        found.update(read_shard(output_dir, sidecar))
        failed.extend((item_id, reason) for item_id, reason in sidecar["failed"])
    results = {item_id: found[item_id] for item_id in ids if item_id in found}
    return BatchResults(output_dir, manifest["fingerprint"], results, failed, missing)


# ------------------------------------------------------------------------------------------------ the job
def resolve_processes(process_index: int | None, num_processes: int | None) -> tuple[int, int]:
    """``(process_index, num_processes)``: the explicit pair, or accelerate's ``PartialState`` (which reads what
    ``accelerate launch`` / torchrun set, and is process 0 of 1 in a plain run)."""
    if process_index is None and num_processes is None:
        import torch
        from accelerate import PartialState
        from accelerate.utils import parse_flag_from_env

        # PartialState joins CPU processes (gloo) only when told cpu=True: Accelerator reads ACCELERATE_USE_CPU for
        # it, PartialState does not, and on a machine without an accelerator `accelerate launch --multi_gpu` (the
        # way to start several CPU processes) does not set it at all.
        accelerator = getattr(torch, "accelerator", None)
        has_accelerator = accelerator.is_available() if accelerator is not None else torch.cuda.is_available()
        state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not has_accelerator)
        return state.process_index, state.num_processes
    if process_index is None or num_processes is None:
        raise InvalidInputError("give both process_index and num_processes, or neither (then accelerate decides)")
    num_processes = check_int("num_processes", num_processes, min=1, max=MAX_PROCESSES)
    return check_int("process_index", process_index, min=0, max=num_processes - 1), num_processes


@dataclass
class BatchJob:
    """A batch job: ``read_decode`` and ``model`` (see the module docstring), the ``fingerprint`` that says what they
    compute (a JSON dict, e.g. the extractor's ``describe()`` and decoder versions), and how items are grouped.

    ``batch_size`` items go through ``model`` at a time (batches never cross a shard, and failed items leave a batch
    smaller); ``shard_size`` items make a shard. ``batch_size`` is not part of the job's identity: a resumed job may
    change it (record it in ``fingerprint`` if your model's results depend on it).
    """

    read_decode: Callable[[Any], Any]
    model: Callable[[list], list[Mapping[str, Any]]]
    fingerprint: Mapping[str, Any]
    batch_size: int = 8
    shard_size: int = 256

    def __post_init__(self):
        for name in ("read_decode", "model"):
            if not callable(getattr(self, name)):
                raise InvalidInputError(f"{name} must be callable, got {type(getattr(self, name)).__name__}")
        self.fingerprint = canonical_fingerprint(self.fingerprint)
        self.batch_size = check_int("batch_size", self.batch_size, min=1, max=MAX_BATCH_SIZE)
        self.shard_size = check_int("shard_size", self.shard_size, min=1, max=MAX_SHARD_SIZE)

    def run(
        self,
        items: Iterable[tuple[str, Any]],
        output_dir: str | os.PathLike,
        *,
        process_index: int | None = None,
        num_processes: int | None = None,
        progress: bool = True,
        description: str = "batch job",
        engine: str | Engine = "local",
    ) -> BatchJobReport:
        """Compute this process's shards of ``items`` (``(id, source)`` pairs, ids unique) into ``output_dir``,
        skipping shards an earlier run completed. ``engine``: ``"local"`` (decode, model and write one after the
        other in this process), ``"ray"`` (a Ray Data pipeline, see :mod:`.ray_engine`) or an engine object.

        Under ``accelerate launch`` every process calls this with the same items; wait for all of them
        (``PartialState().wait_for_everyone()``) before :func:`load_results`.
        """
        start = time.perf_counter()
        engine = resolve_engine(engine)
        process_index, num_processes = resolve_processes(process_index, num_processes)
        plan = prepare_output(output_dir, self.fingerprint, items, self.shard_size)
        report = BatchJobReport(plan.output_dir, process_index, num_processes)
        todo, total = [], 0
        for shard in plan.shards_of(process_index, num_processes):
            report.shards += 1
            size = len(plan.shard_items(shard))
            total += size
            sidecar = read_complete_shard(plan.output_dir, plan.job_hash, shard)
            if sidecar is None:
                todo.append(shard)
                continue
            report.shards_reused += 1
            report.reused += size - len(sidecar["failed"])
            report.failed.extend((item_id, reason) for item_id, reason in sidecar["failed"])
        label = description if num_processes == 1 else f"{description} [process {process_index}/{num_processes}]"
        # Process 0's bar stands for all: the processes' shards are interleaved, so they advance at about one pace.
        with tqdm(
            total=total,
            initial=total - sum(len(plan.shard_items(s)) for s in todo),
            desc=label,
            unit="item",
            disable=not progress or process_index != 0,
            dynamic_ncols=True,
        ) as bar:
            for done in engine.compute(self, plan, todo, bar) if todo else ():
                write_shard(
                    plan,
                    done.shard,
                    done.outputs,
                    done.failed,
                    {"batch_size": self.batch_size, "seconds": round(done.seconds, 3)},
                )
                report.shards_written += 1
                report.written += len(done.outputs)
                report.failed.extend(done.failed)
        # Shards finish in any order on a parallel engine: report failures in item order, as a serial run would.
        order = {item_id: position for position, item_id in enumerate(plan.ids)}
        report.failed.sort(key=lambda pair: order[pair[0]])
        report.seconds = time.perf_counter() - start
        if report.failed:
            # Info, not a warning: report.failed is the account, and callers warn about it in their own terms.
            logger.info(
                "%d of %d items failed in %s: first %s", len(report.failed), total, plan.output_dir, report.failed[0]
            )
        return report

    def batches(self, shard_items: Sequence[tuple[str, Any]]) -> list[list[tuple[str, Any]]]:
        """A shard's items as the model sees them: ``batch_size`` consecutive items at a time (less the ones that
        fail to decode). Every engine batches this way, so a model whose output depends on its batch (padding, a
        per-batch seed) gives the same outputs on every engine."""
        return [
            list(shard_items[begin : begin + self.batch_size]) for begin in range(0, len(shard_items), self.batch_size)
        ]


# ------------------------------------------------------------------------------------------------ engines
@dataclass
class ShardResult:
    """One shard computed by an engine: outputs by id, failures (id, reason) and the seconds spent on it."""

    shard: int
    outputs: dict[str, Any]
    failed: list[tuple[str, str]]
    seconds: float


class Engine:
    """What runs a job's stages: ``compute(job, plan, shards, bar)`` yields a :class:`ShardResult` for each of
    ``shards`` (in any order) and advances ``bar`` by items done. Writing and accounting stay in
    :meth:`BatchJob.run`."""

    name = "engine"

    def compute(self, job: BatchJob, plan: JobPlan, shards: Sequence[int], bar) -> Iterator[ShardResult]:
        raise NotImplementedError


class LocalEngine(Engine):
    """The in-process engine: each shard's batches are decoded and run through the model here, one after the other."""

    name = "local"

    def compute(self, job: BatchJob, plan: JobPlan, shards: Sequence[int], bar) -> Iterator[ShardResult]:
        for shard in shards:
            start = time.perf_counter()
            outputs, failed = {}, []
            for batch in job.batches(plan.shard_items(shard)):
                batch_outputs, batch_failed = run_model(job.model, [decode_item(job.read_decode, i) for i in batch])
                outputs.update(batch_outputs)
                failed.extend(batch_failed)
                bar.update(len(batch))
            yield ShardResult(shard, outputs, failed, time.perf_counter() - start)


ENGINES = ("local", "ray")


def resolve_engine(engine: str | Engine) -> Engine:
    """``"local"``, ``"ray"`` (a :class:`~.ray_engine.RayEngine` with its defaults) or an :class:`Engine`."""
    if isinstance(engine, Engine):
        return engine
    if engine == "local":
        return LocalEngine()
    if engine == "ray":
        from .ray_engine import RayEngine

        return RayEngine()
    raise InvalidInputError(f"engine must be one of {', '.join(map(repr, ENGINES))} or an Engine, got {engine!r}")


def make_engine(
    name: str = "local", *, address: str | None = None, model_workers: int = 1, num_gpus: float = 0.0
) -> Engine:
    """The engine a command line names: ``"local"``, or ``"ray"`` with the Ray options (the cluster ``address``,
    ``model_workers`` actors with ``num_gpus`` GPUs each); Ray options with ``"local"`` are refused, not ignored."""
    if name == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise InvalidInputError("engine 'ray' needs Ray Data: pip install 'hf_audiogen[ray]'")
        from .ray_engine import RayEngine

        return RayEngine(address=address, model_workers=model_workers, num_gpus=num_gpus)
    if name == "local" and (address is not None or model_workers != 1 or num_gpus):
        raise InvalidInputError("the Ray options (address, model workers, GPUs per worker) need engine 'ray'")
    return resolve_engine(name)


__all__ = [
    "ENGINES",
    "BatchJob",
    "BatchJobReport",
    "BatchResults",
    "Decoded",
    "Engine",
    "JobPlan",
    "LocalEngine",
    "MAX_BATCH_SIZE",
    "MAX_PROCESSES",
    "MAX_SHARD_SIZE",
    "canonical_fingerprint",
    "decode_item",
    "load_results",
    "make_engine",
    "prepare_output",
    "read_complete_shard",
    "read_shard",
    "resolve_engine",
    "resolve_processes",
    "run_model",
    "shard_paths",
    "ShardResult",
    "write_shard",
]
