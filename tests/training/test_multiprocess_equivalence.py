"""One process with the whole batch and two processes with half of it each train to the same weights.

Each case spawns processes (``torch.multiprocessing``, gloo on CPU; :mod:`multiprocess_steps` holds the steps) and
compares every parameter and buffer after a few optimizer steps: with dropout and condition dropout off, everything
that crosses processes (codebook statistics, k-means, dead codes, quantizer dropout, token-normalised losses, latent
scale) must add up to what one process computes. The models are float32, hence the tolerances (the reductions add in
another order). The first case also shows that the comparison fails when the codebook keeps per-process statistics.
"""

import socket

import multiprocess_steps
import pytest
import torch
import torch.multiprocessing as mp

STEPS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _train(tmp_path, family: str, world_size: int, break_codebook: bool = False, steps: int = STEPS) -> list[dict]:
    """The trained state of every process of a ``world_size``-process run."""
    mp.start_processes(
        multiprocess_steps.worker,
        args=(world_size, family, _free_port(), str(tmp_path), steps, break_codebook),
        nprocs=world_size,
        start_method="spawn",
    )
    return [
        torch.load(tmp_path / f"{family}-{world_size}-rank{rank}.pt", weights_only=True) for rank in range(world_size)
    ]


def _max_difference(a: dict, b: dict) -> tuple[float, str]:
    """The largest difference between two states, relative to the largest entry of its tensor, and its tensor."""
    worst = (0.0, "")
    for name, x in a.items():
        if not x.is_floating_point():
            assert torch.equal(x, b[name]), name
            continue
        relative = float((x.double() - b[name].double()).abs().max() / x.double().abs().max().clamp(min=1e-12))
        worst = max(worst, (relative, name))
    return worst


def _check_equivalent(tmp_path, family: str, tolerance: float) -> None:
    (single,) = _train(tmp_path, family, 1)
    rank0, rank1 = _train(tmp_path, family, 2)
    difference, name = _max_difference(single, rank0)
    print(f"{family}: max relative difference 1 vs 2 processes after {STEPS} steps: {difference:.2e} ({name})")
    assert difference < tolerance, (difference, name)
    for key in rank0:  # the processes hold one model, buffers included
        assert torch.equal(rank0[key], rank1[key]), key


def test_codec_two_processes_match_one_with_the_whole_batch(tmp_path):
    _check_equivalent(tmp_path, "codec", 1e-5)


def test_codec_with_per_process_codebooks_does_not_match(tmp_path):
    (single,) = _train(tmp_path, "codec", 1)
    rank0, rank1 = _train(tmp_path, "codec", 2, break_codebook=True)
    difference, name = _max_difference(single, rank0)
    print(f"codec, per-process codebooks: max relative difference {difference:.2e} ({name})")
    assert difference > 1e-3, (difference, name)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["audiogen", "genau", "autocap"])
def test_family_two_processes_match_one_with_the_whole_batch(tmp_path, family):
    _check_equivalent(tmp_path, family, 1e-5)


@pytest.mark.slow
def test_fsdp_step_on_gloo_matches_one_process(tmp_path):
    # One AutoCap step with FSDP full sharding (accelerate_configs/fsdp_multi_gpu.yaml's strategy) on 2 CPU processes.
    (single,) = _train(tmp_path, "autocap", 1, steps=1)
    mp.start_processes(
        multiprocess_steps.worker,
        args=(2, "autocap", _free_port(), str(tmp_path), 1, False, True),
        nprocs=2,
        start_method="spawn",
    )
    sharded = torch.load(tmp_path / "autocap-2-fsdp-rank0.pt", weights_only=True)  # gathered whole on rank 0
    assert sharded.keys() == single.keys()
    difference, name = _max_difference(single, sharded)
    print(f"autocap, FSDP: max relative difference 1 process vs 2 FSDP processes after 1 step: {difference:.2e}")
    assert difference < 1e-5, (difference, name)
