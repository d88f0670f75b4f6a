"""The Ray Data engine of :class:`~hf_audiogen.data.pipelines.BatchJob`: the same stages, on a Ray cluster.

``BatchJob.run(..., engine="ray")`` (or ``engine=RayEngine(...)``) builds this pipeline::

    from_items(batches of items)                   one row per model batch of the in-process engine
      → map(read_decode on each item)              CPU tasks (``decode_cpus`` each), as many as the cluster has CPUs
      → map_batches(_ModelWorker)                  an actor pool (``model_workers`` actors) each holding the model,
                                                   on a GPU each with ``num_gpus=1``
      → driver: collect a shard's batches          then :func:`~.batch_job.write_shard`, as in-process

and :meth:`BatchJob.run` writes and accounts the shards exactly as with the in-process engine, so the shard files,
the failures and the resume behaviour are the same (``tests/data/test_ray_engine.py`` checks the bytes).

Decisions:

1. **A Ray row is one model batch**, the list of (at most ``batch_size``) consecutive items of one shard that the
   in-process engine hands to the model (:meth:`BatchJob.batches`), not one item. Ray Data forms its own batches
   from block boundaries, and a model whose output depends on its batch (padding in a codec or an LLM, a per-batch
   seed) would then give other outputs than in-process. Decoding is still spread over the CPU workers, a batch per
   task call.
2. **Values travel pickled** (``bytes`` columns): decoded values are whatever ``read_decode`` returns (tensors, dicts,
   images) and outputs hold ragged arrays, neither of which Arrow types well; Ray moves the bytes untouched.
3. **The driver writes the shards.** Model outputs (codes, embeddings, captions) are small next to the audio, which
   never leaves the workers; writing on the driver keeps one writer per shard, the output folder needs to be
   reachable only from the driver (no shared file system), and :meth:`BatchJob.run` keeps the accounting. A shard
   is written as soon as all its batches are back, so a killed run leaves complete shards to resume from.
4. **The model is a constructor argument** of the actor class (put in the object store once, unpickled once per
   actor). With ``num_gpus > 0`` the actor moves it with ``model.to("cuda")`` when it has a ``to`` method (the
   package's stages do: ``ExtractorStage``, ``CodecStage``; ``LabelEnricher`` picks CUDA itself when it loads).
5. **The cluster**: the one this process is connected to (``ray.init(...)`` called before), else
   ``ray.init(address)`` with ``address`` (``"auto"`` on a node of a running cluster), else a local one with
   ``num_cpus`` CPUs (Ray's defaults otherwise), shut down after the job. The model actors keep their CPUs for the
   whole job, so the cluster must have ``model_workers * model_cpus + decode_cpus`` CPUs or more; a local cluster
   with fewer is refused at once rather than left waiting.
6. **Errors**: a ``read_decode`` error is that item's failure, as in-process; an error of the model stage stops the
   job, raised in the driver as itself (the actor returns it instead of raising it: Ray would hand the driver a
   ``RayTaskError`` holding only its text), and a rerun resumes from the written shards.

Example:

```python
>>> from hf_audiogen.data.pipelines import BatchJob
>>> from hf_audiogen.data.pipelines.ray_engine import RayEngine
>>> job = BatchJob(read_decode, model, fingerprint, batch_size=8, shard_size=256)  # doctest: +SKIP
>>> job.run(items, "out/", engine=RayEngine(model_workers=4, num_gpus=1))  # doctest: +SKIP
```
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from ...validation import InvalidInputError, check_int
from .batch_job import BatchJob, Engine, JobPlan, ShardResult, decode_item, run_model

logger = logging.getLogger(__name__)

# Rows of the item dataset become at most this many blocks: enough to keep every CPU of a large cluster busy, few
# enough that a job of millions of items does not schedule millions of tasks.
MAX_BLOCKS = 4096


def ray_available() -> bool:
    """Whether Ray Data is installed (the ``ray`` extra: ``pip install 'hf_audiogen[ray]'``)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None and importlib.util.find_spec("ray.data") is not None


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise ImportError("engine='ray' needs Ray Data: pip install 'hf_audiogen[ray]'") from err
    return ray


# ------------------------------------------------------------------------------------------------ stages
def _decode_row(read_decode, row: dict) -> dict:
    """CPU stage: one model batch of ``(id, source)`` items → its decoded items (failures included), pickled."""
    start = time.perf_counter()
    decoded = [decode_item(read_decode, item) for item in pickle.loads(row["items"])]
    return {
        "shard": row["shard"],
        "batch": row["batch"],
        "decoded": pickle.dumps(decoded, protocol=pickle.HIGHEST_PROTOCOL),
        "seconds": time.perf_counter() - start,
    }


class _ModelWorker:
    """Model stage: an actor holding the model; each row is one model batch, run as the in-process engine runs it."""

    def __init__(self, model, device: str | None = None):
        if device is not None and callable(getattr(model, "to", None)):
            moved = model.to(device)
            model = moved if moved is not None else model
        self.model = model

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        results = []
        for decoded, seconds in zip(batch["decoded"], batch["seconds"]):
            start = time.perf_counter()
            try:
                outputs, failed = run_model(self.model, pickle.loads(decoded))
            except Exception as err:  # noqa: BLE001 - handed to the driver, which raises it (decision 6)
                results.append(_pickled_error(err))
                continue
            seconds = float(seconds) + time.perf_counter() - start
            results.append(pickle.dumps(("ok", outputs, failed, seconds), pickle.HIGHEST_PROTOCOL))
        return {"shard": list(batch["shard"]), "batch": list(batch["batch"]), "results": results}


def _pickled_error(err: Exception) -> bytes:
    # Ray would re-raise a stage's exception in the driver as a RayTaskError holding only its text; sent as a
    # result, the driver raises the exception itself, of its own type.
    try:
        return pickle.dumps(("error", err), pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - an exception that does not pickle: its type and text
        return pickle.dumps(("error", RuntimeError(f"{type(err).__name__}: {err}")), pickle.HIGHEST_PROTOCOL)


# ------------------------------------------------------------------------------------------------ the engine
@dataclass
class RayEngine(Engine):
    """Runs a :class:`~hf_audiogen.data.pipelines.BatchJob` as a Ray Data pipeline (module docstring).

    Args:
        address: the Ray cluster to join when this process is not connected to one yet (``"auto"``: the cluster of
            this node); None starts a local cluster for the job.
        num_cpus: CPUs of that local cluster (None: all of this machine's).
        model_workers: actors in the model pool (each holds one copy of the model).
        num_gpus: GPUs per model actor (0: the model runs on CPU).
        model_cpus: CPUs reserved per model actor (the torch threads it may use).
        decode_cpus: CPUs per decode task; the number of decode tasks at once is the cluster's free CPUs over this.
        decode_workers: at most this many decode tasks at once (None: as many as fit).
    """

    address: str | None = None
    num_cpus: int | None = None
    model_workers: int = 1
    num_gpus: float = 0.0
    model_cpus: float = 1.0
    decode_cpus: float = 1.0
    decode_workers: int | None = None

    name = "ray"

    def __post_init__(self):
        self.model_workers = check_int("model_workers", self.model_workers, min=1, max=4096)
        if self.num_cpus is not None:
            self.num_cpus = check_int("num_cpus", self.num_cpus, min=1, max=1 << 16)
        if self.decode_workers is not None:
            self.decode_workers = check_int("decode_workers", self.decode_workers, min=1, max=1 << 16)
        for name in ("num_gpus", "model_cpus", "decode_cpus"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1024:
                raise InvalidInputError(f"{name} must be a number of devices between 0 and 1024, got {value!r}")
        if self.decode_cpus == 0:
            raise InvalidInputError("decode_cpus must be positive: decoding runs on CPU workers")

    def compute(self, job: BatchJob, plan: JobPlan, shards: Sequence[int], bar) -> Iterator[ShardResult]:
        ray = _import_ray()
        started_here = False
        if not ray.is_initialized():
            if self.address is not None:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False)
            started_here = True
        try:
            self._check_resources(ray)
            yield from self._run(job, plan, shards, bar)
        finally:
            if started_here:
                ray.shutdown()

    def _check_resources(self, ray) -> None:
        # The model actors hold their CPUs for the whole job: without one left for a decode task, Ray would wait
        # for ever (the actors wait for decoded batches).
        cpus = ray.cluster_resources().get("CPU", 0)
        needed = self.model_workers * self.model_cpus + self.decode_cpus
        if cpus < needed:
            message = (
                f"{self.model_workers} model workers x {self.model_cpus} CPU + {self.decode_cpus} CPU for decoding "
                f"need {needed:g} CPUs; the Ray cluster has {cpus:g}: use fewer model workers or a smaller model_cpus"
            )
            if self.address is None:
                raise InvalidInputError(message)
            logger.warning("%s (waiting for the cluster to grow)", message)
        if self.num_gpus and ray.cluster_resources().get("GPU", 0) < self.model_workers * self.num_gpus:
            logger.warning("the Ray cluster has fewer GPUs than the model workers ask for: they wait for them")

    def pipeline(self, job: BatchJob, plan: JobPlan, shards: Sequence[int]):
        """``(dataset, batches per shard)``: the Ray Data pipeline of ``shards``, not started yet."""
        ray = _import_ray()
        rows, expected = [], {}
        for shard in shards:
            batches = job.batches(plan.shard_items(shard))
            expected[shard] = len(batches)
            rows += [
                {"shard": shard, "batch": index, "items": pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)}
                for index, batch in enumerate(batches)
            ]
        dataset = ray.data.from_items(rows, override_num_blocks=min(len(rows), MAX_BLOCKS))
        dataset = dataset.map(
            partial(_decode_row, job.read_decode),
            compute=ray.data.TaskPoolStrategy(size=self.decode_workers),
            num_cpus=self.decode_cpus,
            # Ray fuses a task map into the next actor map when their remote args are equal, and the model actors
            # would then decode too, one batch at a time. max_calls=0 is Ray's default for CPU tasks (no limit):
            # stated, it keeps decoding a stage of its own (tests/data/test_ray_engine.py checks the plan).
            max_calls=0,
        )
        dataset = dataset.map_batches(
            _ModelWorker,
            fn_constructor_args=(job.model, "cuda" if self.num_gpus > 0 else None),
            batch_size=1,  # one row is one model batch (decision 1)
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.model_workers),
            num_gpus=self.num_gpus or None,
            num_cpus=self.model_cpus,
        )
        return dataset, expected

    def _run(self, job: BatchJob, plan: JobPlan, shards: Sequence[int], bar) -> Iterator[ShardResult]:
        from ray.data import DataContext

        context = DataContext.get_current()
        saved = context.enable_progress_bars, context.execution_options.preserve_order
        context.enable_progress_bars = False  # the batch job's own bar counts items
        # In order: shards then complete one after the other, so the driver holds the outputs of few shards at once.
        context.execution_options.preserve_order = True
        pending: dict[int, list] = {}
        try:
            dataset, expected = self.pipeline(job, plan, shards)
            for row in dataset.iter_rows():
                status, *result = pickle.loads(row["results"])
                if status == "error":
                    raise result[0]
                outputs, failed, seconds = result
                shard = int(row["shard"])
                pending.setdefault(shard, []).append((int(row["batch"]), outputs, failed, seconds))
                bar.update(len(outputs) + len(failed))
                if len(pending[shard]) == expected[shard]:
                    parts = sorted(pending.pop(shard), key=lambda part: part[0])
                    merged_outputs, merged_failed = {}, []
                    for _, outputs, failed, _ in parts:
                        merged_outputs.update(outputs)
                        merged_failed.extend(failed)
                    yield ShardResult(shard, merged_outputs, merged_failed, sum(part[3] for part in parts))
        finally:
            context.enable_progress_bars, context.execution_options.preserve_order = saved
        if pending:
            raise RuntimeError(f"Ray returned only part of shards {sorted(pending)}: rerun to redo them")


__all__ = ["MAX_BLOCKS", "RayEngine", "ray_available"]
