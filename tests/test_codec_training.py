"""Tests of the shared training modules (hf_audiogen.training) and of the codec training loop."""

import argparse

import pytest
import torch

from hf_audiogen.training.arguments import add_common_training_args, check_common_training_args
from hf_audiogen.training.checkpointing import (
    TrainingState,
    checkpoint_step,
    list_checkpoints,
    resolve_resume_checkpoint,
    rotate_checkpoints,
)
from hf_audiogen.training.progress import RunningMeans
from hf_audiogen.training.schedules import get_lr_scheduler


# ----------------------------------------------------------------------------------------------- shared modules
def _make_checkpoints(root, steps):
    for step in steps:
        (root / f"checkpoint-{step}").mkdir(parents=True)
    (root / "checkpoint-final-notes").mkdir()  # not a checkpoint: must be ignored
    (root / "logs").mkdir()


def test_checkpoints_are_listed_by_step_and_rotated(tmp_path):
    _make_checkpoints(tmp_path, [100, 20, 3])
    assert [checkpoint_step(p) for p in list_checkpoints(tmp_path)] == [3, 20, 100]
    removed = rotate_checkpoints(tmp_path, 2)
    assert [p.name for p in removed] == ["checkpoint-3"]
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-20", "checkpoint-100"]
    assert rotate_checkpoints(tmp_path, None) == []
    with pytest.raises(ValueError, match="checkpoints_total_limit"):
        rotate_checkpoints(tmp_path, 0)


def test_resolve_resume_checkpoint(tmp_path):
    assert resolve_resume_checkpoint(tmp_path, None) is None
    assert resolve_resume_checkpoint(tmp_path, "latest") is None  # nothing yet: a relaunched job starts fresh
    _make_checkpoints(tmp_path, [5, 10])
    assert resolve_resume_checkpoint(tmp_path, "latest").name == "checkpoint-10"
    assert resolve_resume_checkpoint(tmp_path, "checkpoint-5") == tmp_path / "checkpoint-5"
    assert resolve_resume_checkpoint(tmp_path, str(tmp_path / "checkpoint-5")) == tmp_path / "checkpoint-5"
    with pytest.raises(ValueError, match="no such checkpoint"):
        resolve_resume_checkpoint(tmp_path, "checkpoint-7")
    with pytest.raises(ValueError, match="not a checkpoint directory"):
        resolve_resume_checkpoint(tmp_path, str(tmp_path / "logs"))


def test_training_state_round_trip():
    state = TrainingState(global_step=7, epoch=2, batches_in_epoch=3)
    restored = TrainingState()
    restored.load_state_dict(state.state_dict())
    assert restored == state


def test_lr_schedules():
    def lrs(name, steps, **kwargs):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        scheduler = get_lr_scheduler(name, optimizer, **kwargs)
        return [scheduler.lr_lambdas[0](s) for s in steps]

    assert lrs("constant", [0, 100]) == [1.0, 1.0]
    assert lrs("inverse_sqrt", [0, 5, 10, 40], num_warmup_steps=10) == pytest.approx([0.0, 0.5, 1.0, 0.5])
    assert lrs("cosine", [0, 10, 60, 110], num_warmup_steps=10, num_training_steps=110, min_lr_ratio=0.3) == (
        pytest.approx([0.0, 1.0, 0.65, 0.3])
    )
    with pytest.raises(ValueError, match="unknown lr schedule"):
        lrs("linear-ish", [0])
    with pytest.raises(ValueError, match="num_warmup_steps > 0"):
        lrs("inverse_sqrt", [0])
    with pytest.raises(ValueError, match="num_training_steps > num_warmup_steps"):
        lrs("cosine", [0], num_warmup_steps=10, num_training_steps=5)


def test_common_arguments():
    parser = add_common_training_args(argparse.ArgumentParser())
    args = parser.parse_args(["--output_dir", "out", "--max_train_steps", "3", "--checkpoints_total_limit", "2"])
    assert (args.train_batch_size, args.gradient_accumulation_steps, args.checkpoints_total_limit) == (8, 1, 2)
    check_common_training_args(args)
    with pytest.raises(SystemExit):
        parser.parse_args(["--output_dir", "out", "--max_train_steps", "0"])
    args.lr_scheduler, args.lr_warmup_steps = "inverse_sqrt", 0
    with pytest.raises(ValueError, match="inverse_sqrt needs --lr_warmup_steps"):
        check_common_training_args(args)


def test_running_means():
    means = RunningMeans()
    means.update({"a": 1.0, "b": 4.0})
    means.update({"a": 3.0})
    assert means.pop() == {"a": 2.0, "b": 4.0}
    assert means.pop() == {}
