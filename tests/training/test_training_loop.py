"""Tests of hf_audiogen.training.loop, the pieces every family's training loop shares."""

import pytest
import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader

from hf_audiogen.training.checkpointing import TrainingState
from hf_audiogen.training.loop import TimeBudget, adamw_with_decay_groups, epoch_batches, micro_batch_seed


class _EpochCollate:
    def __init__(self):
        self.epochs = []

    def set_epoch(self, epoch):
        self.epochs.append(epoch)

    def __call__(self, examples):
        return torch.tensor(examples)


def _run(accelerator, items, state, max_steps, reseed=None):
    """Take one optimizer step per micro-batch until ``max_steps``; returns (epoch, item, first random draw)."""
    collate = _EpochCollate()
    loader = accelerator.prepare(DataLoader(items, batch_size=1, collate_fn=collate))
    seen = []
    for batch in epoch_batches(accelerator, loader, collate, state, max_steps, "no batch", reseed=reseed):
        seen.append((state.epoch, int(batch[0]), float(torch.rand(()))))
        state.global_step += 1
        if state.global_step >= max_steps:
            break
    return seen, collate.epochs


def test_epoch_batches_runs_epochs_and_resumes_exactly():
    accelerator = Accelerator(cpu=True)
    full, epochs = _run(accelerator, [10, 11, 12], TrainingState(), max_steps=5, reseed=0)
    assert [(epoch, item) for epoch, item, _ in full] == [(0, 10), (0, 11), (0, 12), (1, 10), (1, 11)]
    assert epochs == [0, 1]
    # A run resumed after 4 steps (epoch 1, one batch in) continues with the same batch and the same random draw.
    resumed, _ = _run(
        accelerator, [10, 11, 12], TrainingState(global_step=4, epoch=1, batches_in_epoch=1), max_steps=5, reseed=0
    )
    assert resumed == full[4:]
    # Nothing left to do: no batch at all.
    assert _run(accelerator, [10], TrainingState(global_step=5), max_steps=5)[0] == []


def test_epoch_batches_rejects_an_empty_stream():
    with pytest.raises(ValueError, match="^no batch$"):
        _run(Accelerator(cpu=True), [], TrainingState(), max_steps=1)
    assert micro_batch_seed(0, 0, 1, 2) != micro_batch_seed(0, 0, 2, 1)


def test_time_budget_and_adamw_groups():
    accelerator = Accelerator(cpu=True)
    assert not TimeBudget(accelerator, None).is_spent()
    assert not TimeBudget(accelerator, 10.0).is_spent()
    assert TimeBudget(accelerator, 1e-9).is_spent()
    linear = torch.nn.Linear(3, 2)
    optimizer = adamw_with_decay_groups(list(linear.parameters()), 1e-3, 0.1, (0.9, 0.95))
    assert [(len(g["params"]), g["weight_decay"]) for g in optimizer.param_groups] == [(1, 0.1), (1, 0.0)]
    assert optimizer.param_groups[0]["params"][0] is linear.weight


def test_start_or_resume_warns_before_starting_over_next_to_old_checkpoints(tmp_path, caplog):
    from hf_audiogen.training.checkpointing import save_checkpoint
    from hf_audiogen.training.loop import start_or_resume

    accelerator = Accelerator(cpu=True)
    start_or_resume(accelerator, tmp_path, None).global_step = 2
    save_checkpoint(accelerator, tmp_path, 2)
    with caplog.at_level("WARNING", logger="hf_audiogen.training.loop"):
        state = start_or_resume(Accelerator(cpu=True), tmp_path, None)
    assert state.global_step == 0 and "already holds checkpoints (newest checkpoint-2)" in caplog.text
    assert start_or_resume(Accelerator(cpu=True), tmp_path, "latest").global_step == 2
