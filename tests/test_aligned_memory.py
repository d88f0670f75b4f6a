"""realign_weights: loaded (memory-mapped, 8-byte-aligned) weights get their own 64-byte-aligned memory."""

import torch

from hf_audiogen.aligned_memory import realign_weights


def misaligned_copy(tensor: torch.Tensor, offset_elements: int = 1) -> torch.Tensor:
    """``tensor``'s values in a view that starts ``offset_elements`` floats past a 64-byte boundary."""
    buffer = torch.empty(tensor.numel() + 32)
    start = (-(buffer.data_ptr() // 4)) % 16 + offset_elements
    view = buffer[start : start + tensor.numel()].view(tensor.shape)
    view.copy_(tensor)
    return view


def test_realign_copies_only_misaligned_cpu_tensors_and_keeps_ties_and_grad_flags():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(10, 8), torch.nn.Linear(8, 10), torch.nn.BatchNorm1d(10))
    model[1].weight = model[0].weight  # tied, as embeddings and LM heads are
    model[1].bias.requires_grad_(False)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    model[0].weight.data = misaligned_copy(model[0].weight.data)
    model[1].bias.data = misaligned_copy(model[1].bias.data, 3)
    model[2].running_mean = misaligned_copy(model[2].running_mean, 2)
    assert model[0].weight.data_ptr() % 64 != 0

    assert realign_weights(model) == 3  # the tied weight counted once; the aligned ones left alone
    assert all(t.data_ptr() % 64 == 0 for t in [*model.parameters(), *model.buffers()])
    assert model[1].weight is model[0].weight and model[1].weight.requires_grad and not model[1].bias.requires_grad
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in expected.items())
    assert realign_weights(model) == 0
