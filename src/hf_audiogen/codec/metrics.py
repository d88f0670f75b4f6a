"""Reconstruction metrics of the codec (also usable as differentiable training losses)."""

import torch

from ..validation import InvalidInputError


def si_snr(estimate: torch.Tensor, reference: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant signal-to-noise ratio in dB over the last (time) axis (Le Roux et al. 2019).

    Both signals are made zero-mean; the reference is scaled by the projection of the estimate onto it, and the ratio
    of that target's energy to the residual's is returned. Shapes broadcast; the result drops the time axis.
    Differentiable, so ``-si_snr(...)`` works as a loss.

    Example:

    ```python
    >>> import torch
    >>> from hf_audiogen.codec.metrics import si_snr
    >>> reference = torch.tensor([1.0, -1.0, 1.0, -1.0])
    >>> noise = torch.tensor([1.0, 1.0, -1.0, -1.0]) * 0.1  # orthogonal to the reference, 1/100 of its energy
    >>> round(float(si_snr(3 * (reference + noise), reference)), 2)  # the gain of 3 does not matter
    20.0
    ```
    """
    if estimate.shape[-1] != reference.shape[-1]:
        raise InvalidInputError(
            f"si_snr needs signals of the same length, got {estimate.shape[-1]} and {reference.shape[-1]}"
        )
    if estimate.shape[-1] == 0:
        raise InvalidInputError("si_snr of empty signals is undefined")
    estimate = estimate - estimate.mean(dim=-1, keepdim=True)
    reference = reference - reference.mean(dim=-1, keepdim=True)
    scale = (estimate * reference).sum(-1, keepdim=True) / (reference.square().sum(-1, keepdim=True) + eps)
    target = scale * reference
    noise = estimate - target
    return 10 * torch.log10((target.square().sum(-1) + eps) / (noise.square().sum(-1) + eps))


__all__ = ["si_snr"]
