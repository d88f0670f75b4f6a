"""Checkpoints of the training scripts: naming, rotation, ``--resume_from_checkpoint`` and exact resume.

A checkpoint is ``OUTPUT_DIR/checkpoint-STEP/`` written by ``accelerator.save_state``: optimizer, scheduler, RNG and
grad-scaler states, the registered :class:`TrainingState` (step, epoch, position in the epoch's data stream) and
every prepared model in ``save_pretrained`` format in its own subfolder (so a checkpoint is also a loadable model,
as in diffusers' training examples).

Resuming is exact: the models, optimizers and RNGs are restored, and the data stream is replayed to the same
position (same epoch seed, the batches already seen in that epoch skipped with ``accelerator.skip_first_batches``),
so a resumed run takes the same steps as an uninterrupted one. That holds as long as the stream is a deterministic
function of (seed, epoch) — shuffling seeded per epoch, random crops seeded per example, not drawn from the global
RNG — which is how :mod:`hf_audiogen.data.streams` builds it, and as long as the ``DataLoader`` has its own
``generator``: each new DataLoader iterator draws a base seed, by default from the global torch RNG, and the resumed
run creates its epoch iterator after the RNG states were restored, which shifted every later random draw.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from accelerate import Accelerator

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint-"
_CHECKPOINT_RE = re.compile(rf"^{CHECKPOINT_PREFIX}(\d+)$")


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
        self.global_step = int(state["global_step"])
        self.epoch = int(state["epoch"])
        self.batches_in_epoch = int(state["batches_in_epoch"])


def checkpoint_step(path: str | Path) -> int:
    """Step number of a ``checkpoint-STEP`` directory."""
    match = _CHECKPOINT_RE.match(Path(path).name)
    if match is None:
        raise ValueError(f"{str(path)!r} is not a checkpoint directory (expected a name like '{CHECKPOINT_PREFIX}100')")
    return int(match.group(1))


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """``checkpoint-STEP`` directories under ``output_dir``, oldest (smallest step) first."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = [p for p in output_dir.iterdir() if p.is_dir() and _CHECKPOINT_RE.match(p.name)]
    return sorted(found, key=checkpoint_step)


def rotate_checkpoints(output_dir: str | Path, total_limit: int | None) -> list[Path]:
    """Delete the oldest checkpoints so that at most ``total_limit`` remain; returns the deleted paths.

    ``None`` keeps everything. Call it on the main process only, after the newest checkpoint is complete, so that a
    crash while saving never leaves fewer than ``total_limit`` usable checkpoints.
    """
    if total_limit is None:
        return []
    if total_limit < 1:
        raise ValueError(f"checkpoints_total_limit must be >= 1 (or None to keep all), got {total_limit}")
    checkpoints = list_checkpoints(output_dir)
    removed = checkpoints[: max(0, len(checkpoints) - total_limit)]
    for path in removed:
        logger.info("removing old checkpoint %s", path)
        shutil.rmtree(path)
    return removed


def resolve_resume_checkpoint(output_dir: str | Path, resume_from_checkpoint: str | None) -> Path | None:
    """Turn ``--resume_from_checkpoint`` into a directory: ``None`` -> no resume; ``"latest"`` -> the newest
    checkpoint in ``output_dir`` (``None`` if there is none yet, so a relaunched job starts fresh); a path -> that
    checkpoint, which must exist."""
    if resume_from_checkpoint is None:
        return None
    if resume_from_checkpoint == "latest":
        checkpoints = list_checkpoints(output_dir)
        if not checkpoints:
            logger.warning("--resume_from_checkpoint latest: no checkpoint in %s, starting a new run", output_dir)
            return None
        return checkpoints[-1]
    path = Path(resume_from_checkpoint)
    if not path.is_dir():
        # Also accept a bare name relative to the output directory, e.g. `checkpoint-500`.
        candidate = Path(output_dir) / resume_from_checkpoint
        if not candidate.is_dir():
            raise ValueError(
                f"--resume_from_checkpoint {resume_from_checkpoint!r}: no such checkpoint directory (give 'latest', "
                f"a path, or a checkpoint name inside {str(output_dir)!r})"
            )
        path = candidate
    checkpoint_step(path)  # validates the name
    return path


def register_save_pretrained_hooks(accelerator: Accelerator, subfolders: Sequence[str]) -> None:
    """Make ``accelerator.save_state``/``load_state`` store the prepared models with ``save_pretrained``.

    ``subfolders[i]`` names the i-th model passed to ``accelerator.prepare``. Weights are then written once, as
    ``checkpoint-STEP/<subfolder>/{config.json,model.safetensors}``, instead of accelerate's ``model_<i>.safetensors``.
    """
    subfolders = list(subfolders)

    def save_hook(models, weights, output_dir):
        if len(models) != len(subfolders):
            raise ValueError(f"{len(models)} prepared models but {len(subfolders)} checkpoint subfolders {subfolders}")
        for model, subfolder in zip(models, subfolders):
            if accelerator.is_main_process:
                accelerator.unwrap_model(model).save_pretrained(Path(output_dir) / subfolder)
        # Popping on every rank keeps accelerate from also writing model_<i>.safetensors.
        weights.clear()

    def load_hook(models, input_dir):
        while models:
            model = models.pop()
            unwrapped = accelerator.unwrap_model(model)
            saved = type(unwrapped).from_pretrained(Path(input_dir) / subfolders[len(models)])
            unwrapped.load_state_dict(saved.state_dict())

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


def save_checkpoint(
    accelerator: Accelerator, output_dir: str | Path, global_step: int, total_limit: int | None = None
) -> Path:
    """``accelerator.save_state`` to ``output_dir/checkpoint-<global_step>`` on every rank, then rotate."""
    path = Path(output_dir) / f"{CHECKPOINT_PREFIX}{global_step}"
    accelerator.save_state(str(path))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        rotate_checkpoints(output_dir, total_limit)
    return path


def load_checkpoint(accelerator: Accelerator, path: str | Path, state: TrainingState) -> None:
    """``accelerator.load_state(path)`` (``state`` must be registered for checkpointing) and check its step."""
    accelerator.load_state(str(path))
    expected = checkpoint_step(path)
    if state.global_step != expected:
        raise ValueError(
            f"checkpoint {str(path)!r} holds global_step {state.global_step}, but its name says {expected}: "
            "was TrainingState registered with accelerator.register_for_checkpointing before loading?"
        )
    logger.info("resumed from %s at step %d (epoch %d, batch %d)", path, state.global_step, state.epoch,
                state.batches_in_epoch)
