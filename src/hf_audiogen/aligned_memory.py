"""Give loaded weights their own, aligned memory, so that a save -> load round trip computes bit for bit the same.

``from_pretrained`` in transformers (v5) and diffusers loads ``.safetensors`` files zero-copy: each parameter is a
view into the memory-mapped file, at its offset there. The format only aligns tensors to 8 bytes, so most loaded
weights sit at addresses that are not multiples of 16 or 64, whereas torch's CPU allocator gives every fresh tensor
a 64-byte-aligned block. Some BLAS kernels take a different path (and sum in a different order) for unaligned
operands: MKL's SSE4.2/AVX single-row ``sgemv`` (a ``Linear`` on one token, e.g. CLAP on an empty negative prompt),
which MKL runs on CPUs without AVX2 or when ``MKL_ENABLE_INSTRUCTIONS`` caps it, returns results ~1e-7 apart for the
same numbers at another alignment. A loaded pipeline then drifts from the one that was saved (~1e-6 after a few
denoising steps) on some machines only. Copying the misaligned tensors once after loading removes that dependence.
"""

from __future__ import annotations

import torch

CPU_ALIGNMENT = 64  # bytes: c10's CPU allocator alignment, what a freshly built model's tensors have


def realign_weights(module: torch.nn.Module, alignment: int = CPU_ALIGNMENT) -> int:
    """Copy every CPU parameter and buffer of ``module`` whose data is not ``alignment``-byte aligned into fresh
    memory, in place (``tensor.data = copy``: tied weights stay tied, ``requires_grad`` is kept, and the copy no
    longer reads from the file it was loaded from). Returns how many tensors were copied."""
    seen: set[int] = set()
    copied = 0
    tensors = [*module.parameters(), *module.buffers()]
    for tensor in tensors:
        if id(tensor) in seen or type(tensor) not in (torch.Tensor, torch.nn.Parameter):  # skip quantised subclasses
            continue
        seen.add(id(tensor))
        if tensor.device.type != "cpu" or tensor.numel() == 0 or tensor.data_ptr() % alignment == 0:
            continue
        tensor.data = tensor.data.clone(memory_format=torch.preserve_format)
        copied += 1
    return copied


__all__ = ["CPU_ALIGNMENT", "realign_weights"]
