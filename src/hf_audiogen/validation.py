"""The few value checks every entry point shares: the CLI, the pipelines, the models and the Space.

Each check returns the value in its plain Python type, or raises :class:`InvalidInputError` with one line that names the
argument, the value given and what is allowed. They need nothing but the value, so callers run them before any weights
load. ``x < 0`` is ``False`` for NaN, so every float check here rejects NaN and infinities first.

Example:

```python
>>> from hf_audiogen.validation import MAX_SAMPLES_PER_CALL, check_float, check_int
>>> check_float("guidance_scale", 3, min=0)
3.0
>>> check_int("num_return_sequences", 2, min=1, max=MAX_SAMPLES_PER_CALL)
2
>>> check_float("temperature", float("nan"), min=0, min_inclusive=False)
Traceback (most recent call last):
...
hf_audiogen.validation.InvalidInputError: temperature must be a finite number > 0, got nan

```
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection

# Upper bounds of the knobs that multiply work. Each one is far above what the models are used with, and low enough
# that a typo (an extra zero) fails in a line instead of allocating tens of GB.
MAX_SAMPLES_PER_CALL = 64  # num_return_sequences / num_waveforms_per_prompt / --num
MAX_PROMPTS_PER_CALL = 256  # prompts in one pipeline call
MAX_CANDIDATES_PER_PROMPT = 64  # GenAU re-ranking candidates
MAX_INFERENCE_STEPS = 1000  # diffusion steps (also limited by the scheduler's training schedule)
MAX_AUDIO_PROMPT_SECONDS = 600.0  # audio given to continue or caption, after trimming to what the model reads
MAX_SEED = 2**64 - 1  # torch.Generator.manual_seed's range


class InvalidInputError(ValueError):
    """A value a user gave is not allowed. One line: the argument, the value and what is allowed.

    A subclass of ``ValueError`` (what transformers and diffusers raise for bad arguments), so existing
    ``except ValueError`` code keeps working; the CLI prints it as one line, while any other exception is a bug and
    keeps its traceback.
    """


def _bound_text(bound) -> str:
    if isinstance(bound, numbers.Integral):  # exact: 2**64 - 1 must not print as 1.84467e+19
        bits = int(bound).bit_length()
        return f"2**{bits} - 1" if bits >= 32 and int(bound) == 2**bits - 1 else str(int(bound))
    return f"{bound:g}"


def _range_text(min, max, min_inclusive: bool, max_inclusive: bool) -> str:
    if min is not None and max is not None:
        return (
            f"in {'[' if min_inclusive else '('}{_bound_text(min)}, {_bound_text(max)}{']' if max_inclusive else ')'}"
        )
    if min is not None:
        return f"{'>=' if min_inclusive else '>'} {_bound_text(min)}"
    if max is not None:
        return f"{'<=' if max_inclusive else '<'} {_bound_text(max)}"
    return ""


def _is_number(value) -> bool:
    # numbers.Real covers int, float, numpy scalars and Fractions; bool is an int subclass but never a quantity here.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return hasattr(value, "item") and getattr(value, "ndim", None) == 0 and not isinstance(value.item(), bool)
    return True


def check_float(
    name: str,
    value,
    *,
    min: float | None = None,
    max: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> float:
    """``value`` as a finite ``float`` within the bounds (numpy and 0-d tensor scalars accepted), else an error."""
    allowed = " ".join(filter(None, ["a finite number", _range_text(min, max, min_inclusive, max_inclusive)]))
    if not _is_number(value):
        raise InvalidInputError(f"{name} must be {allowed}, got {value!r}")
    number = float(value.item() if hasattr(value, "item") else value)
    if not math.isfinite(number):
        raise InvalidInputError(f"{name} must be {allowed}, got {number!r}")
    too_low = min is not None and (number < min if min_inclusive else number <= min)
    too_high = max is not None and (number > max if max_inclusive else number >= max)
    if too_low or too_high:
        raise InvalidInputError(f"{name} must be {allowed}, got {number:g}")
    return number


def check_int(name: str, value, *, min: int | None = None, max: int | None = None) -> int:
    """``value`` as an ``int`` within ``[min, max]`` (numpy integers accepted; floats and bools refused)."""
    allowed = " ".join(filter(None, ["an integer", _range_text(min, max, True, True)]))
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInputError(f"{name} must be {allowed}, got {value!r}")
    number = int(value)
    if (min is not None and number < min) or (max is not None and number > max):
        raise InvalidInputError(f"{name} must be {allowed}, got {number}")
    return number


def check_seed(seed, name: str = "seed") -> int:
    """A seed for ``torch.Generator.manual_seed``: an integer in [0, 2**64 - 1] (numpy integers accepted)."""
    return check_int(name, seed, min=0, max=MAX_SEED)


def check_optional_float(name: str, value, **bounds) -> float | None:
    """:func:`check_float`, letting ``None`` (= the model's default) through."""
    return None if value is None else check_float(name, value, **bounds)


def check_optional_int(name: str, value, **bounds) -> int | None:
    """:func:`check_int`, letting ``None`` (= the model's default) through."""
    return None if value is None else check_int(name, value, **bounds)


def check_prompts(prompt, negative_prompt=None, max_prompts: int = MAX_PROMPTS_PER_CALL) -> list[str]:
    """The prompts of a text-to-audio call as a list (a string is one prompt), checked with ``negative_prompt`` (None,
    one string for all, or one string per prompt)."""
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, (list, tuple)) or not all(isinstance(p, str) for p in prompts):
        raise InvalidInputError(f"prompt must be a string or a list of strings, got {type(prompt).__name__}")
    if len(prompts) == 0:
        raise InvalidInputError("prompt is an empty list: give at least one prompt")
    if len(prompts) > max_prompts:
        raise InvalidInputError(
            f"number of prompts must be in [1, {max_prompts}] per call, got {len(prompts)}: split them over several calls"
        )
    if negative_prompt is not None and not isinstance(negative_prompt, str):
        if not isinstance(negative_prompt, (list, tuple)) or not all(isinstance(p, str) for p in negative_prompt):
            raise InvalidInputError(
                f"negative_prompt must be a string or a list of strings, got {type(negative_prompt).__name__}"
            )
        if len(negative_prompt) != len(prompts):
            raise InvalidInputError(
                f"negative_prompt has {len(negative_prompt)} entries but prompt has {len(prompts)}: give one "
                "negative prompt per prompt, or a single string"
            )
    return list(prompts)


def check_choice(name: str, value, choices: Collection):
    """``value`` if it is one of ``choices``, else an error listing them."""
    if value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise InvalidInputError(f"{name} must be one of {listed}, got {value!r}")
    return value
