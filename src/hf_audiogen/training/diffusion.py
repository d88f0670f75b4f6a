"""What the two diffusion training loops (GenAU's FiT, Audio-Journey's U-Net) share: the held-out ε-MSE, measured at
fixed diffusion steps with fixed noise so that evaluations are comparable across a run and across runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .loop import eval_mode


@dataclass
class DiffusionEvaluation:
    """Held-out ε-MSE, overall and per diffusion step."""

    loss: float
    per_timestep: dict[int, float] = field(default_factory=dict)
    num_clips: int = 0


@torch.no_grad()
def held_out_diffusion_loss(
    model: torch.nn.Module,
    batches: Iterable[tuple[int, Any]],
    timesteps: torch.Tensor,
    batch_loss: Callable[[Any, int, torch.Tensor], torch.Tensor],
) -> DiffusionEvaluation:
    """Mean loss of ``model`` (in eval mode: no dropout) over held-out ``batches`` of ``(clips, batch)`` at each of
    ``timesteps``; ``batch_loss(batch, k, t)`` is the batch's mean loss at step ``t`` (the ``k``-th) with its fixed
    noise. The overall loss is the mean over the steps."""
    sums = torch.zeros(len(timesteps), dtype=torch.float64)
    clips = 0
    with eval_mode(model):
        for size, batch in batches:
            for k, t in enumerate(timesteps):
                sums[k] += float(batch_loss(batch, k, t)) * size
            clips += size
    per_timestep = (sums / max(clips, 1)).tolist()
    return DiffusionEvaluation(
        loss=float(np.mean(per_timestep)),
        per_timestep=dict(zip(timesteps.tolist(), per_timestep)),
        num_clips=clips,
    )


def run_summary(
    step: int,
    minutes: float,
    logged_losses: list[float],
    first_evaluation: DiffusionEvaluation | None,
    evaluation: DiffusionEvaluation | None,
    **extra,
) -> dict:
    """The final figures of a diffusion run for ``eval_results.json``: step, minutes, first/last logged training loss,
    the held-out loss before the first update (the untrained control) and the last one, plus ``extra``."""
    results = {
        "step": step,
        **extra,
        "minutes": round(minutes, 2),
        "first_logged_loss": logged_losses[0] if logged_losses else None,
        "last_logged_loss": logged_losses[-1] if logged_losses else None,
    }
    for key, value in (("first_evaluation", first_evaluation), ("last_evaluation", evaluation)):
        if value is not None:
            results[key] = vars(value)
    return results


__all__ = ["DiffusionEvaluation", "held_out_diffusion_loss", "run_summary"]
