"""Mixing augmentation from the AudioGen paper (Kreuk et al., 2023, §4.1 "Data Augmentations").

Two clips x1, x2 with captions c1, c2 are fused into a new training example: x2 is added to x1 at a random temporal
offset and at a random signal-to-noise ratio drawn from [-5, 5] dB, and the captions are concatenated. The paper
credits this with better text adherence (KL, REL) and with the model's ability to compose unseen sound combinations.

How a pair is mixed (:func:`mix_pair`), following the recipe of the reference implementation:

1. both clips are RMS-normalised (in float64, so no earlier peak normalisation is needed to stay in range — RMS
   normalisation is scale invariant and would undo it anyway);
2. the second clip is scaled so that the first clip's RMS over its whole length is ``snr_db`` above the RMS of the
   part of the second clip that is actually added;
3. that part is added from sample ``offset`` on, cut at the end of the first clip (the output keeps the first clip's
   length and channel layout);
4. the mixture is rescaled to ``target_rms_db`` dBFS (None: the first clip's own level);
5. if its peak then exceeds ``clip_limit`` the whole mixture is scaled down, which keeps the SNR intact.

:class:`MixingAugmentation` applies this to batches with probability ``p`` per example, with these choices where the
reference implementation differs from the paper or is arbitrary:

* the SNR is continuous and uniform over ``snr_range`` for every pair (the reference draws one *integer* SNR per
  batch from [-5, 4]; the paper says "the interval [-5, 5]");
* each selected example is mixed with a partner drawn uniformly from the *other* examples of the batch, so the batch
  keeps its size (the reference mixes a random subset of (src, dst) index pairs that may pair a clip with itself);
* captions are joined with a space, "c1 c2" (as in the reference), and a caption is not repeated when both clips
  share it. Normalised captions are keyword lists ("dog bark" + "car horn"), so a plain space reads naturally;
* the start offset is uniform over ``[0, (1 - min_overlap) * len(x1)]`` samples, so at least ``min_overlap`` of the
  first clip lies after the point where the second one starts (the overlap is shorter if the second clip is short).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.standard_normal(16000) * 0.1, rng.standard_normal(8000) * 0.1
    >>> mix_pair(a, b, snr_db=3.0, offset=4000).shape
    (16000,)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio import AudioError, check_audio, check_sample_rate
from ..validation import InvalidInputError

# Energy below this (mean square, float64) is treated as silence: there is nothing to set an SNR against.
SILENCE_POWER = 1e-12


class SilentAudioError(AudioError):
    """A clip to mix is silent, so no SNR can be set; batches skip such pairs instead of failing."""


def _to_numpy(audio, name: str) -> tuple[np.ndarray, Any]:
    """``(float32 array, torch tensor or None)``; the tensor is kept to return the result in the same form."""
    if hasattr(audio, "detach"):  # torch.Tensor; duck-typed so that this module does not import torch
        return check_audio(audio.detach().cpu().float().numpy(), name=name), audio
    return check_audio(audio, name=name), None


def _like(result: np.ndarray, template) -> Any:
    if template is None:
        return result
    import torch

    # integer PCM tensors cannot hold a rescaled mixture, so those come back as float32
    dtype = template.dtype if template.is_floating_point() else torch.float32
    return torch.from_numpy(result).to(device=template.device, dtype=dtype)


def _power(audio: np.ndarray) -> float:
    return float(np.mean(np.square(audio, dtype=np.float64)))


def _check_number(value, name: str, low: float | None = None, high: float | None = None) -> float:
    is_real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not is_real or not math.isfinite(value):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise InvalidInputError(f"{name}={value!r} is outside the allowed range [{low}, {high}]")
    return float(value)


def max_offset(length: int, min_overlap: float) -> int:
    """Largest start offset (in samples) that leaves ``min_overlap`` of a ``length``-sample first clip to overlap."""
    return int(math.floor((1.0 - min_overlap) * length))


def mix_pair(
    a,
    b,
    *,
    snr_db: float,
    offset: int,
    target_rms_db: float | None = None,
    clip_limit: float = 0.99,
    sampling_rates: tuple[int, int] | None = None,
):
    """Add clip ``b`` to clip ``a`` at ``offset`` samples so that ``a`` is ``snr_db`` dB louder than ``b`` (RMS).

    Args:
        a: first clip, ``(samples,)`` or ``(channels, samples)``, numpy or torch. Sets the output length.
        b: second clip with the same channel layout and sample rate, any length.
        snr_db: level of ``a`` (RMS over its whole length) relative to the added part of ``b``, in dB.
        offset: sample of ``a`` where ``b`` starts, ``0 <= offset < a.shape[-1]``; ``b`` is cut at the end of ``a``.
        target_rms_db: RMS level of the mixture in dBFS; None keeps the level of ``a``.
        clip_limit: peak ceiling; a louder mixture is scaled down as a whole (preserving the SNR).
        sampling_rates: ``(rate of a, rate of b)`` if known; different rates raise instead of mixing garbage.

    Returns:
        The mixture, float32 (or a torch tensor on ``a``'s device and dtype if ``a`` is a tensor), shaped like ``a``.

    Raises:
        SilentAudioError: ``a``, the overlapping part of ``b`` or the mixture is silent.
        AudioError: empty / non-finite audio, or clips with different channel layouts or sample rates.
        ValueError: bad ``snr_db``, ``offset``, ``target_rms_db`` or ``clip_limit``.

    Example:
        >>> import numpy as np
        >>> t = np.arange(16000) / 16000
        >>> mix = mix_pair(np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 1000 * t), snr_db=0.0, offset=8000)
        >>> bool(np.abs(mix).max() <= 0.99)
        True
    """
    if sampling_rates is not None:
        if not isinstance(sampling_rates, (tuple, list)) or len(sampling_rates) != 2:
            raise InvalidInputError(f"sampling_rates must be a (first, second) pair of rates, got {sampling_rates!r}")
        rate_a = check_sample_rate(sampling_rates[0], "sampling rate of the first clip")
        rate_b = check_sample_rate(sampling_rates[1], "sampling rate of the second clip")
        if rate_a != rate_b:
            raise AudioError(f"cannot mix clips with different sampling rates ({rate_a} and {rate_b} Hz); resample")
    a_np, template = _to_numpy(a, "first clip")
    b_np, _ = _to_numpy(b, "second clip")
    if a_np.ndim != b_np.ndim or (a_np.ndim == 2 and a_np.shape[0] != b_np.shape[0]):
        raise AudioError(
            f"clips must have the same channel layout, got shapes {a_np.shape} and {b_np.shape}; "
            "downmix with hf_audiogen.audio.to_mono first"
        )
    snr_db = _check_number(snr_db, "snr_db")
    clip_limit = _check_number(clip_limit, "clip_limit", 1e-6, 1.0)
    if target_rms_db is not None:
        target_rms_db = _check_number(target_rms_db, "target_rms_db", None, 0.0)
    length = a_np.shape[-1]
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or not 0 <= offset < length:
        raise InvalidInputError(
            f"offset must be an integer sample index in [0, {length - 1}] (first clip length), got {offset!r}"
        )

    segment = b_np[..., : length - offset].astype(np.float64)
    power_a, power_b = _power(a_np), _power(segment)
    if power_a < SILENCE_POWER:
        raise SilentAudioError("first clip is silent: an SNR cannot be set against it")
    if power_b < SILENCE_POWER:
        raise SilentAudioError(
            f"second clip is silent over the {segment.shape[-1]} samples that overlap the first clip"
        )

    # Both at unit RMS, then b down by snr_db: the SNR is exact before any common gain below.
    mix = a_np.astype(np.float64) / math.sqrt(power_a)
    mix[..., offset : offset + segment.shape[-1]] += segment / math.sqrt(power_b) * 10 ** (-snr_db / 20)

    power_mix = _power(mix)
    if power_mix < SILENCE_POWER:
        raise SilentAudioError("the two clips cancel each other out (the mixture is silent)")
    target_power = power_a if target_rms_db is None else 10 ** (target_rms_db / 10)
    mix *= math.sqrt(target_power / power_mix)
    peak = float(np.max(np.abs(mix)))
    if peak > clip_limit:
        mix *= clip_limit / peak
    return _like(mix.astype(np.float32), template)


def concatenate_captions(first: str, second: str, separator: str = " ") -> str:
    """Caption of a mixture: ``first + separator + second``, or ``first`` alone when both are the same."""
    for name, caption in (("first caption", first), ("second caption", second)):
        if not isinstance(caption, str):
            raise InvalidInputError(f"{name} must be a string, got {type(caption).__name__}: {caption!r}")
    first, second = first.strip(), second.strip()
    if first == second or not second:
        return first
    if not first:
        return second
    return f"{first}{separator}{second}"


@dataclass(frozen=True)
class MixRecord:
    """An example drawn for mixing: ``index`` got ``partner`` added, or was kept as is (``mixed=False``, ``reason``)."""

    index: int
    partner: int
    mixed: bool
    snr_db: float
    offset: int
    target_rms_db: float | None
    reason: str = ""


class MixingAugmentation:
    """On-the-fly audio + caption mixing for batches (AudioGen §4.1), deterministic under a seed.

    Each example is, with probability ``p``, replaced by the mixture of itself and another example of the same batch
    (see :func:`mix_pair`), with the two captions concatenated. The batch keeps its size and its other columns.

    Accepted batches:

    * a dict of lists (``datasets.map(..., batched=True)``): ``audio_column`` holds arrays, tensors or
      ``{"array", "sampling_rate"}`` dicts; ``text_column`` holds captions;
    * a list of ``(audio, caption)`` pairs.

    Randomness comes from a numpy ``Generator`` seeded with ``seed``. When ``datasets.map`` is given
    ``with_indices=True`` (and ``seed`` is set) each batch instead gets a generator seeded from ``(seed, first index
    of the batch)``, so results do not depend on the order batches are processed in or on ``num_proc`` (each worker
    holds its own copy of the object, and a shared stateful generator would repeat the same draws in every worker).

    Args:
        p: probability that an example is mixed.
        snr_range: ``(low, high)`` dB; the SNR is uniform over it.
        min_overlap: fraction of the first clip that must lie after the second clip's start, in (0, 1].
        target_rms_db: mixture level: a fixed dBFS value, a ``(low, high)`` range to draw from (loudness
            augmentation, as in the reference recipe), or None to keep the first clip's level.
        audio_column, text_column: columns of dict batches.
        sampling_rate: if given, every clip whose rate is known (dict audio) must have this rate.
        caption_separator: joins the two captions.
        clip_limit: peak ceiling of a mixture.
        report_columns: add ``mixed_with`` (partner index in the batch, -1 if not mixed) and ``mix_snr_db`` (NaN if not
            mixed) columns to dict batches.
        seed: seed of the generator.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> audio = [rng.standard_normal(1600) * 0.1 for _ in range(4)]
        >>> batch = {"audio": audio, "text": ["dog", "car", "rain", "bell"]}
        >>> out = MixingAugmentation(p=1.0, seed=0)(batch)
        >>> len(out["audio"]), out["text"][0].startswith("dog ")
        (4, True)
        >>> # dataset = dataset.map(MixingAugmentation(seed=0), batched=True, batch_size=64, with_indices=True)
    """

    def __init__(
        self,
        p: float = 0.5,
        snr_range: tuple[float, float] = (-5.0, 5.0),
        min_overlap: float = 0.5,
        target_rms_db: float | tuple[float, float] | None = (-35.0, -15.0),
        *,
        audio_column: str = "audio",
        text_column: str = "text",
        sampling_rate: int | None = None,
        caption_separator: str = " ",
        clip_limit: float = 0.99,
        report_columns: bool = False,
        seed: int | None = None,
    ):
        self.p = _check_number(p, "p", 0.0, 1.0)
        self.snr_range = self._check_range(snr_range, "snr_range")
        self.min_overlap = _check_number(min_overlap, "min_overlap", 0.0, 1.0)
        if self.min_overlap == 0.0:
            raise InvalidInputError("min_overlap must be > 0 (the second clip has to overlap the first), got 0")
        if target_rms_db is None:
            self.target_rms_db = None
        elif isinstance(target_rms_db, (int, float, np.integer, np.floating)):
            self.target_rms_db = _check_number(target_rms_db, "target_rms_db", None, 0.0)
        else:
            self.target_rms_db = self._check_range(target_rms_db, "target_rms_db", high=0.0)
        self.clip_limit = _check_number(clip_limit, "clip_limit", 1e-6, 1.0)
        self.audio_column = audio_column
        self.text_column = text_column
        self.sampling_rate = None if sampling_rate is None else check_sample_rate(sampling_rate)
        self.caption_separator = caption_separator
        self.report_columns = report_columns
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.last_records: list[MixRecord] = []

    @staticmethod
    def _check_range(value, name: str, high: float | None = None) -> tuple[float, float]:
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise InvalidInputError(f"{name} must be a (low, high) pair, got {value!r}")
        low_v, high_v = (_check_number(v, name, None, high) for v in value)
        if low_v > high_v:
            raise InvalidInputError(f"{name} must have low <= high, got {value!r}")
        return low_v, high_v

    # -- one pair -------------------------------------------------------------------------------------------------

    def _draw_target_db(self, rng: np.random.Generator) -> float | None:
        if isinstance(self.target_rms_db, tuple):
            return float(rng.uniform(*self.target_rms_db))
        return self.target_rms_db

    def _unpack(self, item, index: int) -> tuple[Any, int | None]:
        """``(array or tensor, sampling rate or None)`` of one audio cell."""
        if isinstance(item, Mapping):
            if "array" not in item:
                raise InvalidInputError(
                    f"audio item {index} is a dict without an 'array' key (keys: {sorted(item)}); "
                    "decode the audio first"
                )
            rate = item.get("sampling_rate")
            if rate is not None:
                rate = check_sample_rate(rate, f"sampling_rate of audio item {index}")
            return item["array"], rate
        return item, None

    @staticmethod
    def _pack(template, mixed):
        if isinstance(template, Mapping):
            packed = dict(template, array=mixed)
            if "path" in packed:
                packed["path"] = None  # the mixture is no longer that file
            return packed
        return mixed

    def _check_rates(self, rates: list[int | None]) -> None:
        known = {i: r for i, r in enumerate(rates) if r is not None}
        if self.sampling_rate is not None:
            wrong = {i: r for i, r in known.items() if r != self.sampling_rate}
            if wrong:
                raise AudioError(
                    f"audio items {sorted(wrong)} have sampling rates {sorted(set(wrong.values()))}, expected "
                    f"{self.sampling_rate} Hz; resample them first"
                )
        elif len(set(known.values())) > 1:
            raise AudioError(
                f"cannot mix clips with different sampling rates in one batch: {known}; resample them first"
            )

    # -- batches --------------------------------------------------------------------------------------------------

    def mix_batch(
        self, audios: Sequence, captions: Sequence[str], rng: np.random.Generator | None = None
    ) -> tuple[list, list[str], list[MixRecord]]:
        """Mix lists of audio items and captions; returns ``(audios, captions, records)`` of the same length."""
        if len(audios) != len(captions):
            raise InvalidInputError(f"got {len(audios)} audio items but {len(captions)} captions")
        for i, caption in enumerate(captions):
            if not isinstance(caption, str):
                raise InvalidInputError(f"caption {i} must be a string, got {type(caption).__name__}: {caption!r}")
        rng = self.rng if rng is None else rng
        unpacked = [self._unpack(item, i) for i, item in enumerate(audios)]
        self._check_rates([rate for _, rate in unpacked])
        out_audio, out_text, records = list(audios), list(captions), []
        n = len(audios)
        if n < 2 or self.p == 0.0:
            return out_audio, out_text, records
        selected = rng.random(n) < self.p
        for i in np.flatnonzero(selected).tolist():
            partner = int(rng.integers(n - 1))
            partner += partner >= i  # uniform over the other examples
            snr_db = float(rng.uniform(*self.snr_range))
            first, second = unpacked[i][0], unpacked[partner][0]
            length = int(np.shape(first)[-1]) if np.ndim(first) else 0
            offset = int(rng.integers(max_offset(length, self.min_overlap) + 1)) if length else 0
            target_db = self._draw_target_db(rng)
            try:
                mixed = mix_pair(
                    first, second, snr_db=snr_db, offset=offset, target_rms_db=target_db, clip_limit=self.clip_limit
                )
            except SilentAudioError as err:
                # Silence is legitimate in sound-effect corpora (e.g. a quiet crop): keep the example, say why.
                records.append(MixRecord(i, partner, False, snr_db, offset, target_db, str(err)))
                continue
            except AudioError as err:  # NaN, empty, channel mismatch: a data bug, reported with the batch positions
                raise AudioError(f"cannot mix audio item {i} with item {partner}: {err}") from err
            out_audio[i] = self._pack(audios[i], mixed)
            out_text[i] = concatenate_captions(captions[i], captions[partner], self.caption_separator)
            records.append(MixRecord(i, partner, True, snr_db, offset, target_db))
        return out_audio, out_text, records

    def __call__(self, batch, indices: Sequence[int] | None = None):
        rng = None
        if indices is not None and len(indices) and self.seed is not None:
            rng = np.random.default_rng([self.seed, int(indices[0])])
        if isinstance(batch, Mapping):  # datasets passes a LazyBatch, a Mapping but not a dict
            for column in (self.audio_column, self.text_column):
                if column not in batch:
                    raise InvalidInputError(f"column {column!r} not found; available columns: {sorted(batch)}")
                if not isinstance(batch[column], list):
                    raise InvalidInputError(
                        f"column {column!r} must be a list (use datasets.map(..., batched=True)), "
                        f"got {type(batch[column]).__name__}"
                    )
            audios, texts, records = self.mix_batch(batch[self.audio_column], batch[self.text_column], rng)
            out = dict(batch)
            out[self.audio_column], out[self.text_column] = audios, texts
            if self.report_columns:
                partner = {r.index: r for r in records if r.mixed}
                out["mixed_with"] = [partner[i].partner if i in partner else -1 for i in range(len(audios))]
                out["mix_snr_db"] = [partner[i].snr_db if i in partner else float("nan") for i in range(len(audios))]
        elif isinstance(batch, (list, tuple)):
            for i, pair in enumerate(batch):
                if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                    raise InvalidInputError(
                        f"list batches must hold (audio, caption) pairs; item {i} is {type(pair).__name__}"
                    )
            audios, texts, records = self.mix_batch([a for a, _ in batch], [c for _, c in batch], rng)
            out = list(zip(audios, texts))
        else:
            raise InvalidInputError(
                "MixingAugmentation expects a dict of lists or a list of (audio, caption) pairs, "
                f"got {type(batch).__name__}"
            )
        self.last_records = records
        return out
