"""Learning-rate schedules shared by the training scripts, built on ``transformers.optimization``.

The names are the ones the papers use: AudioGen's LM trains with a linear warm-up then an inverse square-root decay
(audiocraft ``inverse_sqrt``, warm-up 3000), GenAU with a warm-up then a cosine decay to a floor
(``cosine`` with ``min_lr_ratio`` = final lr / peak lr), and the codec with a constant rate.
"""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR
from transformers.optimization import (
    get_constant_schedule,
    get_constant_schedule_with_warmup,
    get_cosine_with_min_lr_schedule_with_warmup,
    get_inverse_sqrt_schedule,
)

from ..validation import InvalidInputError

LR_SCHEDULES = ("constant", "constant_with_warmup", "inverse_sqrt", "cosine")


def get_lr_scheduler(
    name: str,
    optimizer: Optimizer,
    num_warmup_steps: int = 0,
    num_training_steps: int | None = None,
    min_lr_ratio: float = 0.0,
) -> LambdaLR:
    """Build a per-optimizer-step learning-rate schedule.

    Args:
        name: one of ``LR_SCHEDULES``. ``inverse_sqrt`` multiplies the rate by ``sqrt(num_warmup_steps / step)``
            after the warm-up (so it is continuous at the end of the warm-up); ``cosine`` decays from the peak to
            ``min_lr_ratio`` x peak at ``num_training_steps``.
        optimizer: the optimizer whose learning rate is the peak rate.
        num_warmup_steps: linear warm-up from 0 to the peak rate.
        num_training_steps: total optimizer steps (needed by ``cosine``).
        min_lr_ratio: floor of the cosine schedule as a fraction of the peak rate.

    Example:

    ```python
    >>> import torch
    >>> from hf_audiogen.training.schedules import get_lr_scheduler
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> sched = get_lr_scheduler("inverse_sqrt", opt, num_warmup_steps=4)
    >>> [round(sched.lr_lambdas[0](s), 3) for s in (0, 2, 4, 16)]
    [0.0, 0.5, 1.0, 0.5]
    ```
    """
    if name not in LR_SCHEDULES:
        raise InvalidInputError(f"unknown lr schedule {name!r}; choose one of {LR_SCHEDULES}")
    if num_warmup_steps < 0:
        raise InvalidInputError(f"num_warmup_steps must be >= 0, got {num_warmup_steps}")
    if name == "constant":
        return get_constant_schedule(optimizer)
    if name == "constant_with_warmup":
        return get_constant_schedule_with_warmup(optimizer, num_warmup_steps)
    if name == "inverse_sqrt":
        if num_warmup_steps == 0:
            raise InvalidInputError(
                "the inverse_sqrt schedule needs num_warmup_steps > 0 (its decay is relative to it)"
            )
        return get_inverse_sqrt_schedule(optimizer, num_warmup_steps, timescale=num_warmup_steps)
    if num_training_steps is None or num_training_steps <= num_warmup_steps:
        raise InvalidInputError(
            f"the cosine schedule needs num_training_steps > num_warmup_steps, got {num_training_steps} "
            f"and {num_warmup_steps}"
        )
    if not 0.0 <= min_lr_ratio <= 1.0:
        raise InvalidInputError(f"min_lr_ratio must be in [0, 1], got {min_lr_ratio}")
    return get_cosine_with_min_lr_schedule_with_warmup(
        optimizer, num_warmup_steps, num_training_steps, min_lr_rate=min_lr_ratio
    )
