"""Hostile and broken training checkpoints: each is refused with one line naming the folder or file and what is wrong,
before anything is loaded, and nothing in a checkpoint's pickles runs (hf_audiogen.training.checkpointing)."""

import json
import logging
import os
import pickle
import random
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate import Accelerator

from hf_audiogen.training import checkpointing
from hf_audiogen.training.checkpointing import (
    MANIFEST_NAME,
    complete_checkpoints,
    incomplete_reason,
    resolve_resume_checkpoint,
    rotate_checkpoints,
    save_checkpoint,
    write_manifest,
)
from hf_audiogen.training.loop import start_or_resume
from hf_audiogen.validation import InvalidInputError

STEP = 3


# ----------------------------------------------------------------------------------------------- a tiny run
def _prepared(seed=0):
    accelerator = Accelerator(cpu=True)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1 + step))
    return accelerator, *accelerator.prepare(model, optimizer, scheduler)


def _run(out: Path, resume=None, seed=0):
    """A run with a model, an optimizer, a scheduler and the TrainingState, resumed from ``resume`` if given."""
    accelerator, model, optimizer, scheduler = _prepared(seed)
    state = start_or_resume(accelerator, out, resume)
    return accelerator, model, optimizer, scheduler, state


def _train(run, out: Path, to_step: int, every: int = STEP) -> list[float]:
    """Train to ``to_step``: every step draws from torch's (batch, dropout), numpy's and Python's RNG."""
    accelerator, model, optimizer, scheduler, state = run
    losses = []
    while state.global_step < to_step:
        x = torch.randn(5, 4)
        loss = (model(x) ** 2).mean() * (1.0 + np.random.rand() + random.random())
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        state.global_step += 1
        losses.append(loss.item())
        if state.global_step % every == 0:
            save_checkpoint(accelerator, out, state.global_step)
    return losses


def _seed_all(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """``checkpoint-3`` of a real run (the cases copy it and break the copy)."""
    out = tmp_path_factory.mktemp("template")
    _seed_all(0)
    _train(_run(out), out, STEP)
    return out / f"checkpoint-{STEP}"


@pytest.fixture
def checkpoint(template, tmp_path) -> Path:
    path = tmp_path / "out" / template.name
    shutil.copytree(template, path)
    return path


# ----------------------------------------------------------------------------------------------- payloads
MARKER = {"path": None}


def _payload_ran(*args):  # what a hostile pickle would call; harmless, leaves a trace
    Path(MARKER["path"]).write_text("payload ran")


class SystemPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class MarkerPayload:
    def __reduce__(self):
        return _payload_ran, ()


class EvalPayload:
    def __reduce__(self):
        return eval, ("__import__('pathlib').Path(" + repr(MARKER["path"]) + ").write_text('ran')",)


class Harmless:  # a plain object: still needs its class to be imported, so it is refused too
    def __init__(self):
        self.value = 1


def _save(path: Path, obj, *, refresh_manifest=True):
    torch.save(obj, path)
    if refresh_manifest:  # a consistent manifest: the refusal must come from the content, not the sizes
        write_manifest(path.parent if path.parent.name.startswith("checkpoint-") else path.parents[1], STEP)


def _training_state(**values):
    return {"global_step": STEP, "epoch": 0, "batches_in_epoch": 0, **values}


def _dcp_metadata_payload(checkpoint: Path, marker: Path):
    folder = checkpoint / "pytorch_model_fsdp_0"
    folder.mkdir()
    (folder / ".metadata").write_bytes(pickle.dumps({"state_dict_metadata": SystemPayload(marker)}))
    write_manifest(checkpoint, STEP)


def _rng(checkpoint: Path) -> dict:
    return torch.load(checkpoint / "random_states_0.pkl", weights_only=False)


def _drop_rng_key(checkpoint, key):
    states = _rng(checkpoint)
    del states[key]
    _save(checkpoint / "random_states_0.pkl", states)


def _rewrite_manifest(checkpoint, change):
    manifest = json.loads((checkpoint / MANIFEST_NAME).read_text())
    change(manifest)
    (checkpoint / MANIFEST_NAME).write_text(json.dumps(manifest))


def _truncate(file: Path, refresh: bool):
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    if refresh:
        write_manifest(file.parent, STEP)


def _remove(file: Path, refresh: bool):
    file.unlink()
    if refresh:
        write_manifest(file.parent, STEP)


# (id, how to break checkpoint-3 (checkpoint, marker file), what the one-line message must contain)
CASES = [
    (
        "os_system_in_training_state",
        lambda c, m: _save(c / "custom_checkpoint_0.pkl", _training_state(global_step=SystemPayload(m))),
        ["custom_checkpoint_0.pkl", "posix.system", "do not force it"],
    ),
    (
        "marker_function_in_optimizer",
        lambda c, m: _save(c / "optimizer.bin", {"state": {}, "param_groups": [], "x": MarkerPayload()}),
        ["optimizer.bin", "_payload_ran"],
    ),
    (
        "eval_in_scheduler",
        lambda c, m: _save(c / "scheduler.bin", {"last_epoch": EvalPayload()}),
        ["scheduler.bin", "eval"],
    ),
    (
        "os_system_in_rng_state",
        lambda c, m: _save(c / "random_states_0.pkl", {**_rng(c), "step": SystemPayload(m)}),
        ["random_states_0.pkl", "posix.system"],
    ),
    ("payload_in_a_stray_pickle", lambda c, m: _save(c / "notes.pt", [MarkerPayload()]), ["notes.pt", "_payload_ran"]),
    (
        "plain_object_in_training_state",
        lambda c, m: _save(c / "custom_checkpoint_0.pkl", Harmless()),
        ["custom_checkpoint_0.pkl", "Harmless"],
    ),
    (
        "numpy_scalar_in_training_state",
        lambda c, m: _save(c / "custom_checkpoint_0.pkl", _training_state(epoch=np.float64(1))),
        ["custom_checkpoint_0.pkl", "numpy._core.multiarray.scalar"],
    ),
    ("payload_in_sharded_state_metadata", _dcp_metadata_payload, [".metadata", "pytorch_model_fsdp_0", "posix.system"]),
    (
        "rng_file_missing",
        lambda c, m: _remove(c / "random_states_0.pkl", refresh=True),
        ["checkpoint-3", "has no random_states_0.pkl"],
    ),
    (
        "rng_file_missing_from_manifest",
        lambda c, m: _remove(c / "random_states_0.pkl", refresh=False),
        ["checkpoint-3", "random_states_0.pkl is missing"],
    ),
    (
        "rng_state_without_numpy",
        lambda c, m: _drop_rng_key(c, "numpy_random_seed"),
        ["random_states_0.pkl", "'numpy_random_seed'"],
    ),
    (
        "rng_state_of_wrong_type",
        lambda c, m: _save(c / "random_states_0.pkl", {**_rng(c), "torch_manual_seed": "seed"}),
        ["random_states_0.pkl", "invalid RNG state", "str"],
    ),
    ("rng_state_not_a_dict", lambda c, m: _save(c / "random_states_0.pkl", [1, 2, 3]), ["random_states_0.pkl", "list"]),
    (
        "optimizer_truncated",
        lambda c, m: _truncate(c / "optimizer.bin", refresh=False),
        ["checkpoint-3", "optimizer.bin is truncated"],
    ),
    (
        "optimizer_truncated_behind_a_matching_manifest",
        lambda c, m: _truncate(c / "optimizer.bin", refresh=True),
        ["optimizer.bin", "truncated or corrupt"],
    ),
    (
        "scheduler_garbage",
        lambda c, m: (c.joinpath("scheduler.bin").write_bytes(b"\x00garbage" * 10), write_manifest(c, STEP)),
        ["scheduler.bin", "truncated or corrupt"],
    ),
    (
        "model_weights_garbage",
        lambda c, m: (c.joinpath("model.safetensors").write_bytes(b"\xff" * 64), write_manifest(c, STEP)),
        ["model.safetensors", "truncated or corrupt"],
    ),
    (
        "optimizer_missing",
        lambda c, m: _remove(c / "optimizer.bin", refresh=True),
        ["checkpoint-3", "has no optimizer.bin"],
    ),
    (
        "model_weights_missing",
        lambda c, m: _remove(c / "model.safetensors", refresh=False),
        ["checkpoint-3", "model.safetensors is missing"],
    ),
    ("manifest_missing", lambda c, m: (c / MANIFEST_NAME).unlink(), ["checkpoint-3", f"no {MANIFEST_NAME}"]),
    ("manifest_not_json", lambda c, m: (c / MANIFEST_NAME).write_text("{not json"), ["checkpoint-3", "unreadable"]),
    (
        "manifest_of_another_step",
        lambda c, m: _rewrite_manifest(c, lambda d: d.update(step=7)),
        ["checkpoint-3", "says step 7"],
    ),
    (
        "manifest_pointing_outside",
        lambda c, m: _rewrite_manifest(c, lambda d: d["files"].update({"../x.bin": 1})),
        ["checkpoint-3", "'../x.bin'", "outside"],
    ),
    (
        "extra_registered_state",
        lambda c, m: (
            shutil.copy(c / "custom_checkpoint_0.pkl", c / "custom_checkpoint_1.pkl"),
            write_manifest(c, STEP),
        ),
        ["checkpoint-3", "custom_checkpoint_1.pkl", "registers 1"],
    ),
    (
        "training_state_with_a_string_step",
        lambda c, m: _save(c / "custom_checkpoint_0.pkl", _training_state(global_step="3")),
        ["checkpoint-3", "global_step must be an int >= 0", "'3'"],
    ),
    (
        "training_state_of_another_step",
        lambda c, m: _save(c / "custom_checkpoint_0.pkl", _training_state(global_step=5)),
        ["checkpoint-3", "holds global_step 5"],
    ),
]


@pytest.mark.parametrize("break_it, expected", [pytest.param(f, e, id=i) for i, f, e in CASES])
def test_a_broken_or_hostile_checkpoint_is_refused_in_one_line(checkpoint, tmp_path, break_it, expected):
    marker = tmp_path / "payload_ran"
    MARKER["path"] = str(marker)
    break_it(checkpoint, marker)
    out = checkpoint.parent
    with pytest.raises(InvalidInputError) as info:
        _run(out, resume=str(checkpoint), seed=1)
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message, (part, message)
    assert not marker.exists(), "the checkpoint's payload ran"


def test_refusal_comes_before_anything_is_loaded(checkpoint, tmp_path):
    MARKER["path"] = str(tmp_path / "payload_ran")
    _save(checkpoint / "scheduler.bin", {"last_epoch": MarkerPayload()})  # models and optimizer load before it
    accelerator, model, optimizer, _ = _prepared(seed=5)
    state = checkpointing.TrainingState()
    accelerator.register_for_checkpointing(state)
    before = [p.detach().clone() for p in model.parameters()] + [torch.get_rng_state()]
    with pytest.raises(InvalidInputError, match="scheduler.bin"):
        checkpointing.load_checkpoint(accelerator, checkpoint, state)
    after = [p.detach().clone() for p in model.parameters()] + [torch.get_rng_state()]
    assert all(torch.equal(a, b) for a, b in zip(before, after)) and optimizer.state_dict()["state"] == {}
    assert state == checkpointing.TrainingState() and not Path(MARKER["path"]).exists()


def test_a_payload_is_refused_even_past_the_check(checkpoint, tmp_path, monkeypatch):
    """Defence in depth: accelerate loads registered states with weights_only=False; the load itself must still be
    weights-only (TORCH_FORCE_WEIGHTS_ONLY_LOAD) if the file changed after the check."""
    marker = tmp_path / "payload_ran"
    MARKER["path"] = str(marker)
    _save(checkpoint / "custom_checkpoint_0.pkl", _training_state(global_step=MarkerPayload()))
    monkeypatch.setattr(checkpointing, "verify_checkpoint", lambda *args, **kwargs: None)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # a user's global override does not reopen it
    with pytest.raises(InvalidInputError, match="_payload_ran.*do not force it"):
        _run(checkpoint.parent, resume=str(checkpoint))
    assert not marker.exists()
    assert os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "1" and "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ


def test_sharded_state_metadata_of_torch_dcp_is_accepted(checkpoint):
    """A real torch.distributed.checkpoint index passes the restricted unpickler (sharded states keep working)."""
    import torch.distributed.checkpoint as dcp

    model = torch.nn.Linear(3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no process group": a single-rank save
        dcp.save({"model": model.state_dict()}, checkpoint_id=str(checkpoint / "pytorch_model_fsdp_0"))
    write_manifest(checkpoint, STEP)
    checkpointing.verify_checkpoint(checkpoint)


# ----------------------------------------------------------------------------------------------- resume and latest
def test_exact_resume_stays_exact(tmp_path):
    _seed_all(0)
    full_run = _run(tmp_path / "full")
    full = _train(full_run, tmp_path / "full", 6)
    split = tmp_path / "split"
    _seed_all(0)
    _train(_run(split), split, STEP)
    _seed_all(123)  # the resumed run starts from other RNG states: the checkpoint must restore them all
    resumed_run = _run(split, resume="latest", seed=123)
    assert resumed_run[-1].global_step == STEP
    resumed = _train(resumed_run, split, 6)
    assert resumed == full[STEP:]
    for a, b in zip(full_run[1].parameters(), resumed_run[1].parameters()):
        assert torch.equal(a, b)
    assert [p.name for p in complete_checkpoints(split)] == ["checkpoint-3", "checkpoint-6"]
    manifest = json.loads((split / "checkpoint-6" / MANIFEST_NAME).read_text())
    assert manifest["step"] == 6 and {"optimizer.bin", "random_states_0.pkl", "custom_checkpoint_0.pkl"} <= set(
        manifest["files"]
    )


def test_a_save_killed_midway_leaves_no_checkpoint_for_latest(tmp_path):
    out = tmp_path / "out"
    _seed_all(0)
    run = _run(out)
    _train(run, out, STEP)

    def crash(folder):  # the process dies after accelerate wrote its files, before the checkpoint is complete
        raise KeyboardInterrupt

    run[-1].global_step = 4
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(run[0], out, 4, write_extra=crash)
    assert not (out / "checkpoint-4").exists() and (out / ".checkpoint-4.incomplete" / "optimizer.bin").is_file()
    assert resolve_resume_checkpoint(out, "latest") == out / "checkpoint-3"
    assert _run(out, resume="latest")[-1].global_step == STEP
    save_checkpoint(run[0], out, 5)  # the next save clears what the killed one left
    assert sorted(p.name for p in out.iterdir() if "checkpoint" in p.name) == ["checkpoint-3", "checkpoint-5"]


def test_latest_skips_incomplete_checkpoints_and_says_so(checkpoint, caplog):
    out = checkpoint.parent
    partial = out / "checkpoint-9"
    shutil.copytree(checkpoint, partial)  # e.g. copied by hand while a save ran: its manifest does not match
    truncated = out / "checkpoint-12"
    shutil.copytree(checkpoint, truncated)
    write_manifest(truncated, 12)
    _truncate(truncated / "optimizer.bin", refresh=False)
    with caplog.at_level(logging.WARNING, logger="hf_audiogen.training.checkpointing"):
        assert resolve_resume_checkpoint(out, "latest") == checkpoint
    assert "checkpoint-12: optimizer.bin is truncated" in caplog.text
    assert "checkpoint-9" in caplog.text and "says step 3" in caplog.text
    assert incomplete_reason(checkpoint) is None
    assert rotate_checkpoints(out, 1) == [] and partial.is_dir()  # incomplete ones are neither counted nor deleted
    (checkpoint / MANIFEST_NAME).unlink()
    with pytest.raises(InvalidInputError, match=r"none of the 3 checkpoints .* is complete \(newest .*checkpoint-12"):
        resolve_resume_checkpoint(out, "latest")


def test_a_checkpoint_of_the_same_step_is_replaced_whole(tmp_path):
    out = tmp_path / "out"
    _seed_all(0)
    run = _run(out)
    _train(run, out, STEP)
    (out / "checkpoint-3" / "stale.txt").write_text("from an earlier run")
    save_checkpoint(run[0], out, STEP, total_limit=1)
    assert not (out / "checkpoint-3" / "stale.txt").exists() and incomplete_reason(out / "checkpoint-3") is None
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
