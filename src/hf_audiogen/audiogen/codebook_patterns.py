"""Codebook interleaving patterns: how K parallel code streams become one sequence the language model predicts.

A codec gives K codes per frame, ``codes[b, q, t]``. The language model predicts one *step* at a time, K tokens per
step (one per codebook, with K output heads). A pattern decides which frame of codebook ``q`` sits at step ``s``:

* **delay** (MusicGen, released AudioGen): codebook ``q`` is shifted right by ``delays[q]`` steps (default
  ``delays = [0, 1, ..., K-1]``), so when codebook ``q`` of frame ``t`` is predicted, codebooks ``< q`` of the same
  frame are already known.
* **parallel**: every delay is 0; the K codes of a frame are predicted together, independently of each other.

Both are the same object with different delays. Every pattern starts with one empty step (the model must predict
frame 0 from nothing but the condition), so for ``T`` frames a pattern has ``S = T + 1 + max(delays)`` steps and step
``s`` carries frame ``s - 1 - delays[q]`` of codebook ``q``. Steps that fall outside ``[0, T)`` are holes filled with
the special token (``codebook_size``, the extra embedding row).

The language model's output at step ``s`` is its prediction for step ``s + 1``, so logits are reverted with a shift
of one step (``revert_logits``) while codes are reverted without (``revert_codes``).

Example:

```python
>>> import torch
>>> from hf_audiogen.audiogen.codebook_patterns import DelayPattern
>>> pattern = DelayPattern([0, 1])
>>> codes = torch.tensor([[[1, 2, 3], [4, 5, 6]]])  # (B=1, K=2, T=3)
>>> pattern.build(codes, special_token=9)
tensor([[[9, 1, 2, 3, 9],
         [9, 9, 4, 5, 6]]])
>>> codes_back, valid = pattern.revert_codes(pattern.build(codes, special_token=9), num_frames=3)
>>> bool((codes_back == codes).all()), bool(valid.all())
(True, True)
```
"""

from collections.abc import Sequence

import torch

from ..validation import InvalidInputError

PATTERN_NAMES = ("delay", "parallel")


class DelayPattern:
    """A delay interleaving pattern: codebook ``q`` is delayed by ``delays[q]`` steps after one empty initial step.

    Args:
        delays (`Sequence[int]`): one non-negative delay per codebook. ``[0, 1, 2, 3]`` is MusicGen/AudioGen's delay
            pattern; all zeros is the parallel pattern.
    """

    def __init__(self, delays: Sequence[int]):
        delays = [int(d) for d in delays]
        if not delays or any(d < 0 for d in delays):
            raise InvalidInputError(
                f"delays must be a non-empty list of non-negative ints (one per codebook), got {delays}"
            )
        self.delays = delays

    @classmethod
    def from_name(cls, name: str, num_codebooks: int, delays: Sequence[int] | None = None) -> "DelayPattern":
        """Build the ``"delay"`` (default delays ``0..K-1``) or ``"parallel"`` (all delays 0) pattern."""
        if name not in PATTERN_NAMES:
            raise InvalidInputError(f"codebook pattern must be one of {PATTERN_NAMES}, got {name!r}")
        if name == "parallel":
            if delays is not None and any(d != 0 for d in delays):
                raise InvalidInputError(f"the parallel pattern has all delays 0, got delays={list(delays)}")
            return cls([0] * num_codebooks)
        delays = list(range(num_codebooks)) if delays is None else list(delays)
        if len(delays) != num_codebooks:
            raise InvalidInputError(f"need one delay per codebook ({num_codebooks}), got delays={delays}")
        return cls(delays)

    @property
    def num_codebooks(self) -> int:
        return len(self.delays)

    @property
    def max_delay(self) -> int:
        return max(self.delays)

    def num_steps(self, num_frames: int) -> int:
        """Pattern length ``S`` for ``num_frames`` frames: one initial step, the frames, and the largest delay."""
        return num_frames + 1 + self.max_delay

    def first_step_of_frame(self, frame: int) -> int:
        """The first step that carries ``frame`` for any codebook (where generation after a prompt must resume)."""
        return frame + 1 + min(self.delays)

    def _check_codebooks(self, tensor: torch.Tensor, what: str) -> None:
        if tensor.dim() < 3 or tensor.shape[1] != self.num_codebooks:
            raise InvalidInputError(
                f"{what} must have shape (batch, num_codebooks={self.num_codebooks}, length, ...), "
                f"got {tuple(tensor.shape)}"
            )

    def build(self, codes: torch.Tensor, special_token: int, num_steps: int | None = None) -> torch.Tensor:
        """Interleave ``codes`` (B, K, T) into a pattern sequence (B, K, S) with ``special_token`` in the holes.

        ``num_steps`` (default ``num_steps(T)``) may exceed the natural length: the extra steps are holes too
        (generation builds the full pattern of the target length and fills in a prompt of fewer frames).
        """
        self._check_codebooks(codes, "codes")
        batch, num_codebooks, num_frames = codes.shape[:3]
        num_steps = self.num_steps(num_frames) if num_steps is None else num_steps
        sequence = codes.new_full((batch, num_codebooks, num_steps, *codes.shape[3:]), special_token)
        for q, delay in enumerate(self.delays):
            start = 1 + delay
            length = max(0, min(num_frames, num_steps - start))
            sequence[:, q, start : start + length] = codes[:, q, :length]
        return sequence

    def _revert(self, sequence: torch.Tensor, num_frames: int, shift: int) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_codebooks(sequence, "sequence")
        batch, num_codebooks, num_steps = sequence.shape[:3]
        frames = sequence.new_zeros((batch, num_codebooks, num_frames, *sequence.shape[3:]))
        valid = torch.zeros(num_codebooks, num_frames, dtype=torch.bool, device=sequence.device)
        for q, delay in enumerate(self.delays):
            start = 1 + delay - shift
            length = max(0, min(num_frames, num_steps - start))
            frames[:, q, :length] = sequence[:, q, start : start + length]
            valid[q, :length] = True
        return frames, valid

    def revert_codes(self, sequence: torch.Tensor, num_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Undo :meth:`build`: (B, K, S) -> codes (B, K, T) and a validity mask (K, T).

        Frames the sequence is too short to contain are zero and marked invalid.
        """
        return self._revert(sequence, num_frames, shift=0)

    def revert_logits(self, logits: torch.Tensor, num_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Map model outputs (B, K, S, card) to per-frame logits (B, K, T, card) and a validity mask (K, T).

        The output at step ``s`` predicts step ``s + 1``, hence the one-step shift relative to :meth:`revert_codes`.
        """
        return self._revert(logits, num_frames, shift=1)
