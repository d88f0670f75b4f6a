"""Checkpoints of the training scripts: naming, rotation, ``--resume_from_checkpoint`` and exact resume.

A checkpoint is ``OUTPUT_DIR/checkpoint-STEP/`` written by ``accelerator.save_state`` (accelerate's layout, unchanged:
optimizer, scheduler, RNG and grad-scaler states, ``custom_checkpoint_<i>.pkl`` for each object registered with
``accelerator.register_for_checkpointing`` — the :class:`TrainingState` (step, epoch, position in the epoch's data
stream) first — and, with FSDP/DeepSpeed, their sharded folders) with every prepared model in ``save_pretrained``
format in its own subfolder (so a checkpoint is also a loadable model, as in diffusers' training examples).

Saving is atomic: :func:`save_checkpoint` writes ``OUTPUT_DIR/.checkpoint-STEP.incomplete/``, adds the manifest
``hf_audiogen_checkpoint.json`` (the step and the size of every file) once every process has finished, then renames
the folder to ``checkpoint-STEP``. A run killed while saving leaves no ``checkpoint-STEP`` behind, and a folder that
lacks its manifest, or whose files do not match it (a file missing or truncated), is incomplete: ``latest`` skips it
with a warning and resumes from the newest complete checkpoint; a path given explicitly is refused.

Loading is safe: every pickle in a checkpoint (``*.bin``, ``*.pt``, ``*.pth``, ``*.pkl``, and the ``.metadata`` of
sharded states) is first read with ``torch.load(weights_only=True)`` (tensors, numbers, containers, and the numpy
types of the RNG states, :data:`RNG_SAFE_GLOBALS`, nothing else), and ``accelerator.load_state`` then runs with
``TORCH_FORCE_WEIGHTS_ONLY_LOAD=1``, which also covers the registered states that accelerate loads with
``weights_only=False``. A file that would need more is refused with the global it asks for; nothing in it runs. JSON
files and safetensors headers are parsed in the same pass, so a corrupt file is named before anything is loaded.

Resuming is exact: the models, optimizers and RNGs are restored (a missing or unreadable RNG state is an error, where
accelerate would only log it), and the data stream is replayed to the same position (same epoch seed, the batches
already seen in that epoch skipped with ``accelerator.skip_first_batches``), so a resumed run takes the same steps as
an uninterrupted one. That holds as long as the stream is a deterministic function of (seed, epoch) — shuffling
seeded per epoch, random crops seeded per example, not drawn from the global RNG — which is how
:mod:`hf_audiogen.data.streams` builds it, and as long as the ``DataLoader`` has its own ``generator``: each new
DataLoader iterator draws a base seed, by default from the global torch RNG, and the resumed run creates its epoch
iterator after the RNG states were restored, which shifted every later random draw. A
:class:`~hf_audiogen.data.streams.ShardedAudioStream` (``--train_data``) is not replayed but moved to the position
(:func:`seek_stream`): the shards before it are skipped, not read and decoded again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import logging
import os
import pickle
import random
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator

from ..checkpoint_io import blocked_global
from ..validation import InvalidInputError

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint-"
MANIFEST_NAME = "hf_audiogen_checkpoint.json"  # written last: a checkpoint without it never finished saving
MANIFEST_FORMAT = 1
_CHECKPOINT_RE = re.compile(rf"^{CHECKPOINT_PREFIX}(\d+)$")
# Folders save_checkpoint and rotate_checkpoints leave behind only when killed; removed by the next save.
_LEFTOVER_RE = re.compile(rf"^\.{CHECKPOINT_PREFIX}\d+\.(incomplete|replaced|deleting)$")
_PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".ckpt"}
_CHECKED_SUFFIXES = _PICKLE_SUFFIXES | {".json", ".safetensors"}  # what verify_checkpoint reads before loading
_DCP_METADATA = ".metadata"  # torch.distributed.checkpoint's index of a sharded state (a plain pickle)
_RNG_KEYS = ("random_state", "numpy_random_seed", "torch_manual_seed")
_DO_NOT_FORCE = (
    "do not force it (weights_only=False, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD or "
    "torch.serialization.add_safe_globals) unless you wrote this file yourself"
)


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


# What the RNG states of accelerate's random_states_<i>.pkl need beyond torch's defaults: numpy's MT19937 state is a
# uint32 array (``np.random.get_state()``). Arrays are rebuilt from raw bytes; none of these runs code of the file's
# choosing. The second entry names the function as numpy 1.x pickled it, so older RNG files still load.
RNG_SAFE_GLOBALS = [
    _numpy_reconstruct(),
    (_numpy_reconstruct(), "numpy.core.multiarray._reconstruct"),
    np.ndarray,
    np.dtype,
    type(np.dtype(np.uint32)),  # numpy.dtypes.UInt32DType
]


@dataclass
class TrainingState:
    """Counters that locate a run in its data stream; registered with ``accelerator.register_for_checkpointing``.

    Attributes:
        global_step: optimizer steps done.
        epoch: current pass over the training stream (its shuffle seed is ``seed + epoch``).
        batches_in_epoch: micro-batches already consumed in the current epoch (what a resumed run skips).
    """

    global_step: int = 0
    epoch: int = 0
    batches_in_epoch: int = 0

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        try:
            values = {name: state[name] for name in ("global_step", "epoch", "batches_in_epoch")}
        except (KeyError, TypeError) as err:
            raise InvalidInputError(
                f"training state must be a dict with global_step, epoch and batches_in_epoch, got {state!r:.200}"
            ) from err
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInputError(f"training state {name} must be an int >= 0, got {value!r:.100}")
        self.global_step, self.epoch, self.batches_in_epoch = (
            values["global_step"],
            values["epoch"],
            values["batches_in_epoch"],
        )


def seek_stream(train_loader, epoch: int, batches: int) -> bool:
    """Move the :class:`~hf_audiogen.data.streams.ShardedAudioStream` under ``train_loader`` (a DataLoader, prepared
    or not) to where ``batches`` micro-batches of ``epoch`` end, without reading what comes before; ``False`` when
    the loader reads another kind of dataset, or uses worker processes (then the caller skips batches instead).

    The position comes from the :class:`TrainingState` counters, not from the stream's own ``state_dict``: a prepared
    DataLoader reads one batch ahead, so the stream has always yielded more than was trained on. With several
    processes, accelerate's ``IterableDatasetShard`` hands each process one slice of every ``num_processes``
    batches, so a batch consumed stands for ``batch_size * num_processes`` examples of the stream.
    """
    from accelerate.data_loader import IterableDatasetShard

    from ..data.streams import ShardedAudioStream

    dataset, per_batch = getattr(train_loader, "dataset", None), getattr(train_loader, "batch_size", None)
    if isinstance(dataset, IterableDatasetShard):
        dataset, per_batch = dataset.dataset, dataset.batch_size * dataset.num_processes
    if not isinstance(dataset, ShardedAudioStream) or not per_batch or getattr(train_loader, "num_workers", 0):
        return False
    dataset.load_state_dict({"epoch": epoch, "examples": batches * per_batch})
    return True


def checkpoint_step(path: str | Path) -> int:
    """Step number of a ``checkpoint-STEP`` directory."""
    match = _CHECKPOINT_RE.match(Path(path).name)
    if match is None:
        raise InvalidInputError(
            f"{str(path)!r} is not a checkpoint directory (expected a name like '{CHECKPOINT_PREFIX}100')"
        )
    return int(match.group(1))


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """``checkpoint-STEP`` directories under ``output_dir``, oldest (smallest step) first, complete or not (see
    :func:`incomplete_reason`)."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = [p for p in output_dir.iterdir() if p.is_dir() and _CHECKPOINT_RE.match(p.name)]
    return sorted(found, key=checkpoint_step)


# ----------------------------------------------------------------------------------------------- manifest
def _checkpoint_files(path: Path) -> dict[str, int]:
    """Every file under ``path`` (relative POSIX path -> size), the manifest excluded."""
    files = {}
    for root, _dirs, names in os.walk(path):
        for name in names:
            file = Path(root) / name
            rel = file.relative_to(path).as_posix()
            if rel != MANIFEST_NAME:
                files[rel] = file.stat().st_size
    return dict(sorted(files.items()))


def _fsync(path: Path, directory: bool = False) -> None:
    """Flush ``path`` to disk, best effort (some filesystems and platforms refuse it for directories)."""
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_manifest(path: str | Path, step: int) -> Path:
    """Record ``path``'s files and their sizes in its manifest, flushing them to disk first. :func:`save_checkpoint`
    calls it once every process has written its part; only then is the checkpoint complete."""
    path = Path(path)
    files = _checkpoint_files(path)
    for rel in files:
        _fsync(path / rel)
    manifest = path / MANIFEST_NAME
    manifest.write_text(json.dumps({"format": MANIFEST_FORMAT, "step": int(step), "files": files}, indent=1))
    _fsync(manifest)
    return manifest


def _read_manifest(path: Path) -> tuple[dict | None, str | None]:
    """(manifest, None) or (None, why it is unusable)."""
    file = path / MANIFEST_NAME
    if not file.is_file():
        return None, (
            f"it has no {MANIFEST_NAME}: its save never finished (the run was killed while writing it) or "
            "it was not written by hf_audiogen's save_checkpoint"
        )
    try:
        manifest = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return None, f"its {MANIFEST_NAME} is unreadable ({type(err).__name__}: {str(err)[:100]})"
    files = manifest.get("files") if isinstance(manifest, dict) else None
    step = manifest.get("step") if isinstance(manifest, dict) else None
    if (
        not isinstance(files, dict)
        or isinstance(step, bool)
        or not isinstance(step, int)
        or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0 for k, v in files.items()
        )
    ):
        return None, f"its {MANIFEST_NAME} is not a dict with an int 'step' and 'files' mapping names to sizes"
    return manifest, None


def incomplete_reason(path: str | Path) -> str | None:
    """``None`` if the checkpoint at ``path`` is complete (its manifest matches its files), else one line saying what
    is wrong: no manifest (an interrupted save), a file missing or of another size (truncated), a wrong step."""
    path = Path(path)
    if not path.is_dir():
        return "it is not a directory"
    manifest, problem = _read_manifest(path)
    if problem is not None:
        return problem
    step = checkpoint_step(path)
    if manifest["step"] != step:
        return f"its {MANIFEST_NAME} says step {manifest['step']}, but its name says {step}"
    for rel, size in manifest["files"].items():
        file = path / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            return f"its {MANIFEST_NAME} lists {rel!r}, a path outside the checkpoint"
        if not file.is_file():
            return f"{rel} is missing"
        actual = file.stat().st_size
        if actual != size:
            return f"{rel} is {'truncated' if actual < size else 'altered'} ({actual} bytes, {size} when saved)"
    return None


def complete_checkpoints(output_dir: str | Path) -> list[Path]:
    """The complete ``checkpoint-STEP`` directories under ``output_dir``, oldest first."""
    return [path for path in list_checkpoints(output_dir) if incomplete_reason(path) is None]


def _remove_dir(path: Path, suffix: str) -> None:
    """Delete ``path`` by first renaming it to a hidden leftover name, so that a crash halfway leaves no partial
    ``checkpoint-STEP`` behind (the next save removes the leftover)."""
    doomed = path.with_name(f".{path.name}.{suffix}")
    if doomed.exists():
        shutil.rmtree(doomed)
    path.rename(doomed)
    shutil.rmtree(doomed)


def rotate_checkpoints(output_dir: str | Path, total_limit: int | None) -> list[Path]:
    """Delete the oldest complete checkpoints so that at most ``total_limit`` complete ones remain; returns the
    deleted paths.

    ``None`` keeps everything. Incomplete ``checkpoint-STEP`` folders are neither counted nor deleted (save_checkpoint
    never leaves one; anything else is not ours to remove). Call it on the main process only, after the newest
    checkpoint is complete, so that a crash while saving never leaves fewer than ``total_limit`` usable checkpoints.
    """
    if total_limit is None:
        return []
    if total_limit < 1:
        raise InvalidInputError(f"checkpoints_total_limit must be >= 1 (or None to keep all), got {total_limit}")
    checkpoints = complete_checkpoints(output_dir)
    removed = checkpoints[: max(0, len(checkpoints) - total_limit)]
    for path in removed:
        logger.info("removing old checkpoint %s", path)
        _remove_dir(path, "deleting")
    return removed


def resolve_resume_checkpoint(output_dir: str | Path, resume_from_checkpoint: str | None) -> Path | None:
    """Turn ``--resume_from_checkpoint`` into a directory.

    ``None`` -> no resume. ``"latest"`` -> the newest *complete* checkpoint in ``output_dir``: newer incomplete ones
    are skipped with a warning naming each and why; ``None`` if there is no checkpoint at all yet, so that a relaunched
    job starts fresh; an error if checkpoints exist but none is complete (starting over from step 0 would silently
    throw a run away). A path (or a name inside ``output_dir``) -> that checkpoint, which must exist (its content is
    checked by :func:`load_checkpoint`).
    """
    if resume_from_checkpoint is None:
        return None
    if resume_from_checkpoint == "latest":
        checkpoints = list_checkpoints(output_dir)
        if not checkpoints:
            logger.warning("--resume_from_checkpoint latest: no checkpoint in %s, starting a new run", output_dir)
            return None
        skipped = []
        for path in reversed(checkpoints):
            reason = incomplete_reason(path)
            if reason is None:
                return path
            logger.warning("--resume_from_checkpoint latest: skipping incomplete checkpoint %s: %s", path, reason)
            skipped.append(f"{path}: {reason}")
        raise InvalidInputError(
            f"--resume_from_checkpoint latest: none of the {len(checkpoints)} checkpoints in {str(output_dir)!r} is "
            f"complete (newest {skipped[0]}); give a complete checkpoint's path, or move the incomplete ones away to "
            "start a new run"
        )
    path = Path(resume_from_checkpoint)
    if not path.is_dir():
        # Also accept a bare name relative to the output directory, e.g. `checkpoint-500`.
        candidate = Path(output_dir) / resume_from_checkpoint
        if not candidate.is_dir():
            raise InvalidInputError(
                f"--resume_from_checkpoint {resume_from_checkpoint!r}: no such checkpoint directory (give 'latest', "
                f"a path, or a checkpoint name inside {str(output_dir)!r})"
            )
        path = candidate
    checkpoint_step(path)  # validates the name
    return path


# ----------------------------------------------------------------------------------------------- save
def register_save_pretrained_hooks(accelerator: Accelerator, subfolders: Sequence[str]) -> None:
    """Make ``accelerator.save_state``/``load_state`` store the prepared models with ``save_pretrained``.

    ``subfolders[i]`` names the i-th model passed to ``accelerator.prepare``. Weights are then written once, as
    ``checkpoint-STEP/<subfolder>/{config.json,model.safetensors}``, instead of accelerate's ``model_<i>.safetensors``.
    """
    subfolders = list(subfolders)

    def save_hook(models, weights, output_dir):
        if len(models) != len(subfolders):
            raise InvalidInputError(
                f"{len(models)} prepared models but {len(subfolders)} checkpoint subfolders {subfolders}"
            )
        for model, subfolder in zip(models, subfolders):
            if accelerator.is_main_process:
                accelerator.unwrap_model(model).save_pretrained(Path(output_dir) / subfolder)
        # Popping on every rank keeps accelerate from also writing model_<i>.safetensors.
        weights.clear()

    def load_hook(models, input_dir):
        missing = [name for name in subfolders[: len(models)] if not (Path(input_dir) / name / "config.json").is_file()]
        if missing:
            raise InvalidInputError(
                f"checkpoint {str(input_dir)!r} has no model folder {missing[0]}/ (with its "
                "config.json): it is incomplete or from another training script"
            )
        while models:
            model = models.pop()
            unwrapped = accelerator.unwrap_model(model)
            saved = type(unwrapped).from_pretrained(Path(input_dir) / subfolders[len(models)])
            unwrapped.load_state_dict(saved.state_dict())

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


def _is_renamer(accelerator: Accelerator) -> bool:
    """The process that finalizes a checkpoint folder: the main one, or each node's with ``save_on_each_node``."""
    if accelerator.project_configuration.save_on_each_node:
        return accelerator.is_local_main_process
    return accelerator.is_main_process


def save_checkpoint(
    accelerator: Accelerator,
    output_dir: str | Path,
    global_step: int,
    total_limit: int | None = None,
    write_extra: Callable[[Path], None] | None = None,
) -> Path:
    """``accelerator.save_state`` to ``output_dir/checkpoint-<global_step>``, atomically, on every rank, then rotate.

    The state goes to ``.checkpoint-<step>.incomplete/`` first; ``write_extra(folder)`` (main process; e.g. a
    processor next to the model) adds to it; the manifest is written once every process is done, and only then is the
    folder renamed to ``checkpoint-<step>`` (replacing one of the same step, as ``save_state`` would have).
    """
    if accelerator.project_configuration.automatic_checkpoint_naming:
        raise InvalidInputError(
            "save_checkpoint names checkpoints itself: create the Accelerator without "
            "ProjectConfiguration(automatic_checkpoint_naming=True)"
        )
    output_dir = Path(output_dir)
    final = output_dir / f"{CHECKPOINT_PREFIX}{global_step}"
    partial = output_dir / f".{final.name}.incomplete"
    if _is_renamer(accelerator):
        output_dir.mkdir(parents=True, exist_ok=True)
        for leftover in output_dir.iterdir():  # from a run killed while saving or rotating
            if leftover.is_dir() and _LEFTOVER_RE.match(leftover.name):
                logger.info("removing %s, left by an interrupted save", leftover)
                shutil.rmtree(leftover)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    if write_extra is not None and accelerator.is_main_process:
        write_extra(partial)
    accelerator.wait_for_everyone()
    if _is_renamer(accelerator):
        write_manifest(partial, global_step)
        if final.exists():
            replaced = output_dir / f".{final.name}.replaced"
            final.rename(replaced)
            partial.rename(final)
            shutil.rmtree(replaced)
        else:
            partial.rename(final)
        _fsync(output_dir, directory=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        rotate_checkpoints(output_dir, total_limit)
    return final


# ----------------------------------------------------------------------------------------------- safe loading
@contextlib.contextmanager
def weights_only_loads():
    """Within: every ``torch.load`` is ``weights_only=True`` (``TORCH_FORCE_WEIGHTS_ONLY_LOAD=1``, torch's own switch,
    which overrides accelerate's ``weights_only=False`` for registered states), with :data:`RNG_SAFE_GLOBALS` allowed
    on top of torch's defaults. ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is suspended meanwhile."""
    saved_env = {
        name: os.environ.get(name) for name in ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    }
    saved_globals = torch.serialization.get_safe_globals()
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    torch.serialization.add_safe_globals(RNG_SAFE_GLOBALS)
    try:
        yield
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(saved_globals)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _error_detail(err: BaseException) -> str:
    """The informative line of an error (for a weights-only failure, the unpickler's, not torch's preamble)."""
    text = str(err)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:")[-1]
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0][:160] if lines else ''}"


def refusal_message(file: Path, err: BaseException) -> str | None:
    """The one line for a file whose weights-only load failed because it names a global that could run code
    (``None`` if it failed for another reason: a truncated or corrupt file)."""
    blocked = blocked_global(str(err))
    if blocked is None:
        return None
    return (
        f"refusing checkpoint file {file}: loading it needs {blocked}, which is not a tensor, number or "
        f"container type, so the file could run code; {_DO_NOT_FORCE}"
    )


class _DCPMetadataUnpickler(pickle.Unpickler):
    """Reads the ``.metadata`` index of a sharded (torch.distributed.checkpoint) state, which torch loads with plain
    ``pickle.load``: only its dataclasses and enums, ``torch.Size``, dtypes/layouts and paths may be named."""

    _PATHS = {"Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath", "PureWindowsPath"}

    def find_class(self, module: str, name: str):
        allowed = None
        if module.startswith("torch.distributed.checkpoint.") and not name.startswith("__"):
            obj = super().find_class(module, name)
            if isinstance(obj, type) and (dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum)):
                allowed = obj
        elif module == "torch" and name == "Size":
            allowed = torch.Size
        elif module == "torch" and isinstance(
            getattr(torch, name, None), (torch.dtype, torch.layout, torch.memory_format)
        ):
            allowed = getattr(torch, name)
        elif module == "torch.serialization" and name == "_get_layout":
            allowed = torch.serialization._get_layout
        elif module == "pathlib" and name in self._PATHS:
            allowed = super().find_class(module, name)
        elif module == "collections" and name == "OrderedDict":
            allowed = super().find_class(module, name)
        if allowed is None:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        return allowed


def _load_file(file: Path):
    """One checkpoint file: ``torch.load``, weights-only (memory-mapped where possible, so that a multi-GB optimizer
    state costs little to check), the DCP ``.metadata`` through :class:`_DCPMetadataUnpickler`, a JSON file, or a
    safetensors file's header."""
    if file.name == _DCP_METADATA:
        with open(file, "rb") as handle:
            return _DCPMetadataUnpickler(handle).load()
    if file.suffix == ".json":
        return json.loads(file.read_text())
    if file.suffix == ".safetensors":  # the header only: what is corrupt there fails later without a file name
        from safetensors import safe_open

        with safe_open(str(file), framework="pt") as handle:
            return list(handle.keys())
    with weights_only_loads():
        try:
            return torch.load(file, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as err:
            if "mmap" not in str(err):
                raise
            return torch.load(file, map_location="cpu", weights_only=True)  # the legacy (non-zip) format


def load_checkpoint_file(file: str | Path, checkpoint: str | Path | None = None):
    """One checkpoint file, weights-only; an :class:`InvalidInputError` naming the file if it needs code to load or
    cannot be read (truncated, corrupt)."""
    file = Path(file)
    where = f"checkpoint {str(checkpoint)!r}: " if checkpoint is not None else ""
    try:
        return _load_file(file)
    except Exception as err:  # noqa: BLE001 - every failure becomes one line naming the file
        refused = refusal_message(file, err)
        if refused is not None:
            raise InvalidInputError(refused) from err
        weights_only = "Weights only load failed" in str(err)
        raise InvalidInputError(
            f"{where}cannot read {file} ({_error_detail(err)}); the file is truncated or corrupt"
            + (f", or not plain tensors and numbers: {_DO_NOT_FORCE}" if weights_only else "")
        ) from err


# ----------------------------------------------------------------------------------------------- load
def _device_rng_key() -> str | None:
    try:
        from accelerate.utils import get_torch_accelerator_backend

        device_type, _ = get_torch_accelerator_backend()
    except Exception:  # noqa: BLE001 - only decides whether to warn
        return None
    return None if device_type is None else f"torch_{device_type}_manual_seed"


def _check_rng_states(file: Path, states) -> None:
    """The RNG states accelerate would restore, checked on scratch generators: accelerate skips the whole restore with
    an info log on any error, which would make a resume silently inexact."""
    if not isinstance(states, dict):
        raise InvalidInputError(f"RNG state file {file} holds a {type(states).__name__}, not a dict of RNG states")
    missing = [key for key in _RNG_KEYS if key not in states]
    if missing:
        raise InvalidInputError(f"RNG state file {file} has no {missing[0]!r}: the resume would not be exact")
    try:
        random.Random().setstate(states["random_state"])
        np.random.RandomState().set_state(states["numpy_random_seed"])
        seed = states["torch_manual_seed"]
        if not isinstance(seed, torch.Tensor) or seed.dtype != torch.uint8:
            raise TypeError(f"torch_manual_seed is a {type(seed).__name__}, not a uint8 tensor")
        torch.Generator().set_state(seed)
    except Exception as err:  # noqa: BLE001
        raise InvalidInputError(
            f"RNG state file {file} holds an invalid RNG state ({type(err).__name__}: "
            f"{str(err)[:120]}): the resume would not be exact"
        ) from err
    device_key = _device_rng_key()
    if device_key is not None and device_key not in states:
        logger.warning(
            "%s has no %s (saved on another kind of device): the %s RNG is not restored, so the resumed run "
            "is not bit-exact",
            file,
            device_key,
            device_key.split("_")[1],
        )


def _expected_files(accelerator: Accelerator) -> list[str]:
    """The files ``load_state`` will open for this accelerator's registered optimizers, schedulers and scaler (only in
    the plain and DDP layouts; FSDP and DeepSpeed name theirs differently, and load_state reports them)."""
    from accelerate.utils import DistributedType

    if accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED, DistributedType.MEGATRON_LM):
        return []
    names = []
    for attr, stem in (("_optimizers", "optimizer"), ("_schedulers", "scheduler")):
        for i in range(len(getattr(accelerator, attr, []))):
            names.append(f"{stem}.bin" if i == 0 else f"{stem}_{i}.bin")
    if getattr(accelerator, "scaler", None) is not None:
        names.append("scaler.pt")
    return names


def verify_checkpoint(path: str | Path, accelerator: Accelerator | None = None) -> None:
    """Raise :class:`InvalidInputError` (one line naming the folder or file) unless the checkpoint at ``path`` is
    complete and safe: its manifest matches its files, every pickle in it loads weights-only, the files this run's
    ``load_state`` needs (RNG state of this process, optimizers, schedulers, registered states) are there and the RNG
    state is usable. Changes nothing."""
    path = Path(path)
    checkpoint_step(path)
    reason = incomplete_reason(path)
    if reason is not None:
        raise InvalidInputError(f"checkpoint {str(path)!r} is incomplete: {reason}")
    process = accelerator.process_index if accelerator is not None else 0
    rng_file = path / f"random_states_{process}.pkl"
    if not rng_file.is_file():
        raise InvalidInputError(
            f"checkpoint {str(path)!r} has no {rng_file.name} (the RNG state of process {process}):"
            " it is incomplete, or was saved by fewer processes; the resume would not be exact"
        )
    if accelerator is not None:
        for name in _expected_files(accelerator):
            if not (path / name).is_file():
                raise InvalidInputError(
                    f"checkpoint {str(path)!r} has no {name}: it is incomplete or was written by a "
                    "run with other optimizers/schedulers"
                )
        registered = len(getattr(accelerator, "_custom_objects", []))
        custom = sorted(p.name for p in path.glob("custom_checkpoint_*.pkl"))
        if custom != [f"custom_checkpoint_{i}.pkl" for i in range(registered)]:
            raise InvalidInputError(
                f"checkpoint {str(path)!r} holds the registered states {custom} but this run "
                f"registers {registered}: it was written by another training script or version"
            )
    for root, _dirs, names in os.walk(path):
        for name in sorted(names):
            file = Path(root) / name
            if file.suffix in _CHECKED_SUFFIXES or name == _DCP_METADATA:
                loaded = load_checkpoint_file(file, path)
                if file == rng_file:
                    _check_rng_states(file, loaded)
                del loaded


def _agree(accelerator: Accelerator, problem: InvalidInputError | None) -> None:
    """Raise on every process if any process found a problem (one process failing alone would leave the others
    waiting for it forever at the first collective)."""
    failed = torch.tensor(float(problem is not None), device=accelerator.device)
    if accelerator.num_processes > 1:
        failed = accelerator.reduce(failed, reduction="sum")
    if problem is not None:
        raise problem
    if failed.item() > 0:
        raise InvalidInputError("the checkpoint was refused on another process (see its error)")


def load_checkpoint(accelerator: Accelerator, path: str | Path, state: TrainingState) -> None:
    """:func:`verify_checkpoint`, then ``accelerator.load_state(path)`` with weights-only loads (``state`` must be
    registered for checkpointing), then check its step and that the RNG states really were restored."""
    path = Path(path)
    problem = None
    try:
        verify_checkpoint(path, accelerator)
    except InvalidInputError as err:
        problem = err
    _agree(accelerator, problem)
    with weights_only_loads():
        try:
            accelerator.load_state(str(path))
        except pickle.UnpicklingError as err:  # a file the check could not see (it changed since?)
            raise InvalidInputError(refusal_message(path, err) or f"checkpoint {str(path)!r}: {err}") from err
        except FileNotFoundError as err:
            raise InvalidInputError(f"checkpoint {str(path)!r} has no {err.filename}: it is incomplete") from err
        except InvalidInputError as err:  # e.g. a registered state refusing its values
            if str(path) in str(err):
                raise
            raise InvalidInputError(f"checkpoint {str(path)!r}: {err}") from err
    rng_file = path / f"random_states_{accelerator.process_index}.pkl"
    rng = load_checkpoint_file(rng_file, path)
    if not (
        torch.equal(torch.get_rng_state(), rng["torch_manual_seed"])
        and random.getstate() == rng["random_state"]
        and np.array_equal(np.random.get_state()[1], rng["numpy_random_seed"][1])
    ):
        raise InvalidInputError(
            f"the RNG states of {rng_file} were not restored (accelerate skipped them): the resume would not be exact"
        )
    expected = checkpoint_step(path)
    if state.global_step != expected:
        raise InvalidInputError(
            f"checkpoint {str(path)!r} holds global_step {state.global_step}, but its name says {expected}: "
            "was TrainingState registered with accelerator.register_for_checkpointing before loading?"
        )
    logger.info(
        "resumed from %s at step %d (epoch %d, batch %d)", path, state.global_step, state.epoch, state.batches_in_epoch
    )
