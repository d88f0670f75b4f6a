"""The pieces of a training loop that every family's loop (``training.codec``, ``training.autocap``,
``training.audiogen``, ``training.genau``, ``training.genau_vae``, ``training.genau_vocoder``) shares: the
Accelerator of a run, the optimizer update of one micro-batch, the epoch stream with exact resume, the
``--max_train_minutes`` budget, the bookkeeping after each optimizer step, AdamW with weight-decay groups, eval mode
and EMA weights for the duration of an evaluation.

A family's loop reads top to bottom as::

    accelerator = setup_accelerator(args, "train_codec")
    ...  # models, data, optimizers, accelerator.prepare, checkpoint hooks
    state = start_or_resume(accelerator, output_dir, args.resume_from_checkpoint)
    budget = TimeBudget(accelerator, args.max_train_minutes)
    bookkeeping = StepBookkeeping(accelerator, args, state, progress, budget)
    for batch in epoch_batches(accelerator, train_loader, collate, state, args.max_train_steps, ...):
        with accelerator.accumulate(model):
            optimizer_update(accelerator, loss, parameters, optimizer, scheduler, args.max_grad_norm)
        if not accelerator.sync_gradients:
            continue
        update = bookkeeping.after_update(means, scheduler)  # count the step, log, checkpoint
        ...  # evaluation, samples: if update.is_due(args.eval_steps), inside eval_mode / ema_weights
        if bookkeeping.finished(update):  # the last step (says so when the time budget ended the run)
            break
    ...  # main process: save the model, save_eval_results(output_dir, {...})
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration

from ..validation import InvalidInputError
from .checkpointing import (
    TrainingState,
    list_checkpoints,
    load_checkpoint,
    resolve_resume_checkpoint,
    save_checkpoint,
    seek_stream,
)
from .progress import RunningMeans, TrainingProgress

logger = logging.getLogger(__name__)

TRAINING_ARGS_FILE = "training_args.json"  # the names hub.write_model_card looks for
EVAL_RESULTS_FILE = "eval_results.json"


def setup_accelerator(args: argparse.Namespace, project_name: str) -> Accelerator:
    """The run's Accelerator from the common options (:mod:`.arguments`); also sets ``--num_threads``, creates
    ``--output_dir`` with ``training_args.json`` in it (main process) and starts the ``--report_to`` tracker."""
    if args.num_threads is not None:
        torch.set_num_threads(args.num_threads)
    output_dir = Path(args.output_dir)
    accelerator = Accelerator(
        # `accelerate launch --multi_gpu` on a machine without an accelerator: gloo on CPU (without cpu=True,
        # Accelerate would start every process as a separate single-process run).
        cpu=int(os.environ.get("WORLD_SIZE", "1")) > 1 and torch.accelerator.current_accelerator() is None,
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=args.report_to,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        # Every process reads its own shard of the stream (prepare() shards a datasets.IterableDataset itself, so
        # the stream must not also be split with split_dataset_by_node).
        dataloader_config=DataLoaderConfiguration(dispatch_batches=False),
    )
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / TRAINING_ARGS_FILE).write_text(json.dumps(vars(args), indent=2, default=str))
    if args.report_to:
        accelerator.init_trackers(project_name, config={k: v for k, v in vars(args).items() if v is not None})
    return accelerator


def start_or_resume(
    accelerator: Accelerator, output_dir: str | Path, resume_from_checkpoint: str | None, extra_states: Iterable = ()
) -> TrainingState:
    """A new :class:`TrainingState`, registered for checkpointing (then ``extra_states``, in order: accelerate
    names them by position, so the order is part of the checkpoint format), loaded from ``--resume_from_checkpoint``
    if that resolves to a checkpoint. Call it after ``accelerator.prepare`` and the save/load hooks."""
    state = TrainingState()
    accelerator.register_for_checkpointing(state)
    for extra in extra_states:
        accelerator.register_for_checkpointing(extra)
    resume_path = resolve_resume_checkpoint(output_dir, resume_from_checkpoint)
    if resume_path is not None:
        load_checkpoint(accelerator, resume_path, state)
    elif resume_from_checkpoint is None and accelerator.is_main_process and list_checkpoints(output_dir):
        logger.warning(
            "%s already holds checkpoints (newest %s) and --resume_from_checkpoint is not given: this run "
            "starts from step 0, and its checkpoints replace those of the same step",
            output_dir,
            list_checkpoints(output_dir)[-1].name,
        )
    return state


def micro_batch_seed(seed: int, process: int, epoch: int, batch: int) -> int:
    """A torch seed determined by ``(seed, process, epoch, micro-batch)``, for loops that reseed per micro-batch."""
    return int(np.random.SeedSequence([seed, process, epoch, batch]).generate_state(1)[0])


def epoch_batches(
    accelerator: Accelerator,
    train_loader,
    collate,
    state: TrainingState,
    max_steps: int,
    empty_message: str,
    reseed: int | None = None,
) -> Iterator:
    """The prepared ``train_loader``'s micro-batches, epoch after epoch, while ``state.global_step < max_steps``.

    Each epoch sets the stream's and the collator's epoch (new shuffle, new crops); a resumed run replays the
    current epoch and skips the ``state.batches_in_epoch`` micro-batches already trained on (a shard stream jumps
    there instead, :func:`~.checkpointing.seek_stream`). The counter is advanced before each batch is yielded, so a
    checkpoint saved while handling it records it as consumed. With ``reseed``, torch's global RNG is reseeded from
    :func:`micro_batch_seed` before each micro-batch, so that dropout draws the same masks in a resumed run. An epoch
    without a single batch raises ``ValueError(empty_message)``. The caller ``break``s out on its last step.
    """
    while state.global_step < max_steps:
        train_loader.set_epoch(state.epoch)  # reaches the stream's shuffle (seed + epoch)
        collate.set_epoch(state.epoch)  # and the crops
        # a shard stream jumps to the resume position; any other stream replays the epoch up to it
        seeked = bool(state.batches_in_epoch) and seek_stream(train_loader, state.epoch, state.batches_in_epoch)
        loader = (
            accelerator.skip_first_batches(train_loader, state.batches_in_epoch)
            if state.batches_in_epoch and not seeked
            else train_loader
        )
        for batch in loader:
            if reseed is not None:
                torch.manual_seed(
                    micro_batch_seed(reseed, accelerator.process_index, state.epoch, state.batches_in_epoch)
                )
            state.batches_in_epoch += 1
            yield batch
        if state.batches_in_epoch == 0:
            raise InvalidInputError(empty_message)
        state.epoch += 1
        state.batches_in_epoch = 0


def optimizer_update(
    accelerator: Accelerator, loss: torch.Tensor, parameters, optimizer, scheduler, max_grad_norm: float | None
) -> None:
    """Backward, clip (on the micro-batch that completes an accumulation cycle), step and zero the gradients; the
    prepared optimizer and scheduler only really step at the end of a cycle. Call it inside
    ``accelerator.accumulate``."""
    accelerator.backward(loss)
    if accelerator.sync_gradients and max_grad_norm:
        accelerator.clip_grad_norm_(parameters, max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def adamw_with_decay_groups(
    parameters: list[torch.nn.Parameter], learning_rate: float, weight_decay: float, betas: tuple[float, float]
) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases and LayerNorm scales)."""
    decay = [p for p in parameters if p.dim() >= 2]
    no_decay = [p for p in parameters if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=learning_rate,
        betas=betas,
    )


def lamb_like_genau(
    parameters: list[torch.nn.Parameter], learning_rate: float, weight_decay: float, betas: tuple[float, float]
) -> torch.optim.Optimizer:
    """LAMB as GenAU trains with it (its ``src/modules/optimizers/lamb.py``, jettify's torch-optimizer LAMB: no bias
    correction, L2 term added to the Adam step before the trust ratio, weight norm clamped to 10, weight decay on every
    parameter), from the maintained ``pytorch-optimizer`` package (torch-optimizer is unmaintained; timm's Lamb pulls
    torchvision)."""
    try:
        from pytorch_optimizer import Lamb
    except ImportError as err:
        raise ImportError(
            "--optimizer lamb needs the pytorch-optimizer package: pip install 'hf_audiogen[train]'"
        ) from err
    # adam_debias=True: step size lr, not lr / (1 - beta1^t); weight_decouple=False: the L2 term joins the Adam step.
    return Lamb(
        parameters,
        lr=learning_rate,
        betas=betas,
        weight_decay=weight_decay,
        weight_decouple=False,
        adam_debias=True,
        eps=1e-6,
    )


@dataclass(frozen=True)
class OptimizerStep:
    """Where a run stands after an optimizer step (from :func:`count_optimizer_step`): which periodic work is due."""

    step: int  # optimizer steps done, this one included
    out_of_time: bool  # --max_train_minutes is spent (a collective decision, see TimeBudget)
    last: bool  # the run stops after this step: --max_train_steps reached or out of time
    logged: dict[str, float] | None = None  # what StepBookkeeping logged at this step, if anything

    def is_due(self, every: int) -> bool:
        """Every ``every`` steps and on the last one (logging, evaluation, samples)."""
        return self.step % every == 0 or self.last

    def saves_checkpoint(self, every: int) -> bool:
        """Every ``every`` steps, and when the time budget stops the run early, so that it can be resumed."""
        return self.step % every == 0 or self.out_of_time


def count_optimizer_step(
    state: TrainingState, progress: TrainingProgress, budget: TimeBudget, max_steps: int
) -> OptimizerStep:
    """Count the optimizer step that just happened (``state.global_step`` and the progress bar) and ask the time
    budget whether to stop; every process must call it on every optimizer step (``budget.is_spent`` is collective)."""
    state.global_step += 1
    progress.step()
    out_of_time = budget.is_spent()
    return OptimizerStep(
        step=state.global_step, out_of_time=out_of_time, last=state.global_step >= max_steps or out_of_time
    )


class StepBookkeeping:
    """The bookkeeping after each optimizer step: :meth:`after_update` counts the step
    (:func:`count_optimizer_step`), logs the running means and the learning rate every ``--logging_steps`` and on the
    last step, and saves a checkpoint when :meth:`OptimizerStep.saves_checkpoint` (with ``write_extra``, see
    :func:`save_checkpoint`); :meth:`finished` ends the loop. Evaluation and samples stay in the loop, which differs
    there from family to family."""

    def __init__(
        self,
        accelerator: Accelerator,
        args: argparse.Namespace,
        state: TrainingState,
        progress: TrainingProgress,
        budget: TimeBudget,
        write_extra: Callable[[Path], None] | None = None,
    ):
        self.accelerator, self.args, self.state, self.progress, self.budget = accelerator, args, state, progress, budget
        self.write_extra = write_extra

    def after_update(self, means: RunningMeans, scheduler) -> OptimizerStep:
        """Call on every optimizer step (``accelerator.sync_gradients``), on every process."""
        args = self.args
        update = count_optimizer_step(self.state, self.progress, self.budget, args.max_train_steps)
        if update.is_due(args.logging_steps):
            update = replace(update, logged={**means.pop(), "lr": scheduler.get_last_lr()[0]})
            self.progress.log(update.logged, step=update.step)
        if update.saves_checkpoint(args.checkpointing_steps):  # also when --max_train_minutes stops the run
            save_checkpoint(
                self.accelerator,
                args.output_dir,
                update.step,
                args.checkpoints_total_limit,
                write_extra=self.write_extra,
            )
        return update

    def finished(self, update: OptimizerStep) -> bool:
        """Whether the loop ``break``s after this step (``update.last``); says so when the time budget ended it."""
        if update.last and update.out_of_time:
            self.progress.write(self.budget.stop_note(update.step))
        return update.last


def global_mean_loss(accelerator: Accelerator, loss: torch.Tensor, count: torch.Tensor | int) -> torch.Tensor:
    """``loss``, this process's mean over its ``count`` terms (tokens, frames, rows; per entry when both are
    vectors), rescaled to this process's share of the mean over every process's terms.

    DDP averages gradients over processes, which is the gradient of the global mean only when every process holds
    as many terms; with masks (padding, pattern delays, caption lengths) they do not. Scaling by
    ``count * num_processes / global count`` makes the averaged gradient, and the loss averaged over processes,
    exactly those of one process with the whole batch. With one process ``loss`` is returned as it is.
    """
    if accelerator.num_processes == 1:
        return loss
    count = torch.as_tensor(count, device=loss.device).detach().to(loss.dtype)
    total = accelerator.reduce(count.clone(), reduction="sum")
    return loss * (count * accelerator.num_processes / total.clamp(min=1))


class StepLoss:
    """The training loss of each optimizer step: the mean over its micro-batches of the loss averaged over processes,
    with the run's first and latest."""

    def __init__(self):
        self.first: float | None = None
        self.last: float | None = None
        self._micro_batches: list[float] = []

    def add(self, accelerator: Accelerator, loss: torch.Tensor) -> None:
        """One micro-batch's loss; every process calls (the loss is averaged over them)."""
        self._micro_batches.append(accelerator.reduce(loss.detach().float(), reduction="mean").item())

    def end_step(self) -> float:
        """The mean over the step's micro-batches (now ``last``); the next step starts empty."""
        self.last = sum(self._micro_batches) / len(self._micro_batches)
        self.first = self.last if self.first is None else self.first
        self._micro_batches = []
        return self.last


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module):
    """``module`` in eval mode for the duration of the block (evaluation, samples), then back in the mode it was."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def build_ema(parameters: list[torch.nn.Parameter], decay: float, device):
    """diffusers' ``EMAModel`` of ``parameters`` on ``device`` (``--use_ema``); the caller registers it for
    checkpointing where its loop's checkpoint layout puts it."""
    from diffusers.training_utils import EMAModel

    ema = EMAModel(parameters, decay=decay, foreach=False)
    ema.to(device)
    return ema


@contextlib.contextmanager
def ema_weights(ema, parameters: list[torch.nn.Parameter]):
    """The EMA weights in ``parameters`` for the duration of the block (evaluation, samples, a best-model save), the
    trained ones back afterwards; nothing changes when ``ema`` is ``None``."""
    if ema is None:
        yield
        return
    ema.store(parameters)
    ema.copy_to(parameters)
    try:
        yield
    finally:
        ema.restore(parameters)


def save_eval_results(output_dir: str | Path, results: dict) -> None:
    """``OUTPUT_DIR/eval_results.json`` (the run's final figures; hub.write_model_card reads it). Main process."""
    (Path(output_dir) / EVAL_RESULTS_FILE).write_text(json.dumps(results, indent=2))


class TimeBudget:
    """``--max_train_minutes``, counted from construction; ``None`` never runs out.

    :meth:`is_spent` is collective (every process must call it at the same step): all processes take the same
    decision, or they would wait for each other forever.
    """

    def __init__(self, accelerator: Accelerator, minutes: float | None):
        self.accelerator = accelerator
        self.minutes = minutes
        self.deadline = None if minutes is None else time.monotonic() + 60 * minutes

    def is_spent(self) -> bool:
        if self.deadline is None:
            return False
        over = torch.tensor(float(time.monotonic() > self.deadline), device=self.accelerator.device)
        return bool(self.accelerator.reduce(over, reduction="sum") > 0)

    def stop_note(self, step: int) -> str:
        """The line a loop prints when the budget ended the run at ``step``."""
        return f"--max_train_minutes {self.minutes} reached at step {step}"
