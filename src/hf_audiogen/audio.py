"""Audio I/O shared by every model family: load, check, downmix, resample, normalise, write.

Decoding goes through soundfile (libsndfile: wav/flac/ogg/mp3) and resampling through soxr, so nothing here needs
torchaudio or ffmpeg. Arrays are float32 numpy with shape ``(samples,)`` for mono or ``(channels, samples)``.
"""

from __future__ import annotations

import io
import math
import os
import re
from typing import Literal, Union

import numpy as np
import soundfile as sf
import soxr

from .validation import InvalidInputError, check_choice, check_optional_float

AudioSource = Union[str, os.PathLike, bytes, bytearray, memoryview, io.IOBase]

# Anything outside this range is almost certainly a unit mistake (kHz given as Hz, or samples given as a rate).
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 384000


class AudioError(ValueError):
    """Raised for audio that cannot be used: unreadable, empty, non-finite, silent or of the wrong shape/rate."""


def check_sample_rate(sampling_rate, name: str = "sampling_rate") -> int:
    """Validate a sample rate and return it as an int."""
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, np.integer, float, np.floating)):
        raise AudioError(f"{name} must be a number of samples per second, got {sampling_rate!r}")
    if not MIN_SAMPLE_RATE <= sampling_rate <= MAX_SAMPLE_RATE or int(sampling_rate) != sampling_rate:
        raise AudioError(
            f"{name}={sampling_rate!r} is not supported: expected an integer between {MIN_SAMPLE_RATE} and "
            f"{MAX_SAMPLE_RATE} Hz"
        )
    return int(sampling_rate)


def check_audio(audio: np.ndarray, *, name: str = "audio", allow_silent: bool = True) -> np.ndarray:
    """Validate a waveform: numeric, 1-D or 2-D (channels, samples), non-empty and finite. Returns float32."""
    audio = np.asarray(audio)
    if audio.dtype.kind not in "fiu":
        raise AudioError(f"{name} must hold numbers, got dtype {audio.dtype}")
    if audio.ndim not in (1, 2):
        raise AudioError(f"{name} must have shape (samples,) or (channels, samples), got shape {audio.shape}")
    if audio.size == 0 or audio.shape[-1] == 0:
        raise AudioError(f"{name} is empty (shape {audio.shape})")
    if audio.dtype.kind in "iu":
        audio = int_to_float(audio)
    audio = audio.astype(np.float32, copy=False)
    if not np.isfinite(audio).all():
        bad = int((~np.isfinite(audio)).sum())
        raise AudioError(f"{name} contains {bad} NaN/inf sample(s)")
    if not allow_silent and not np.any(audio):
        raise AudioError(f"{name} is silent (all samples are zero)")
    return audio


def int_to_float(audio: np.ndarray) -> np.ndarray:
    """PCM integers to float32 in [-1, 1)."""
    info = np.iinfo(audio.dtype)
    scale = float(max(abs(info.min), info.max + 1))
    offset = 0.0 if info.min < 0 else scale / 2  # unsigned PCM (e.g. 8-bit WAV) is centred on half-scale
    return ((audio.astype(np.float64) - offset) / (scale if info.min < 0 else scale / 2)).astype(np.float32)


def to_mono(audio: np.ndarray, mode: Literal["mean", "first", "error"] = "mean") -> np.ndarray:
    """Reduce ``(channels, samples)`` to ``(samples,)``; ``mode="error"`` rejects anything multichannel."""
    if audio.ndim == 1:
        return audio
    if audio.shape[0] == 1:
        return audio[0]
    if mode == "error":
        raise AudioError(f"expected mono audio, got {audio.shape[0]} channels (shape {audio.shape})")
    if mode == "first":
        return audio[0]
    if mode == "mean":
        return audio.mean(axis=0).astype(np.float32)
    raise InvalidInputError(f"mode must be 'mean', 'first' or 'error', got {mode!r}")


def resample(audio: np.ndarray, orig_sr: int, target_sr: int, quality: str = "HQ") -> np.ndarray:
    """Resample along the last axis with soxr (band-limited, no torchaudio needed)."""
    orig_sr = check_sample_rate(orig_sr, "orig_sr")
    target_sr = check_sample_rate(target_sr, "target_sr")
    if orig_sr == target_sr:
        return audio.astype(np.float32, copy=False)
    if audio.ndim == 1:
        return soxr.resample(audio, orig_sr, target_sr, quality=quality).astype(np.float32)
    # soxr wants (frames, channels)
    return soxr.resample(audio.T, orig_sr, target_sr, quality=quality).T.astype(np.float32)


def _readable(source: AudioSource) -> tuple[str, AudioSource]:
    """(name for messages, something soundfile opens): a missing path is an AudioError, bytes become a file object."""
    name = str(source) if isinstance(source, (str, os.PathLike)) else "<audio bytes>"
    if isinstance(source, (str, os.PathLike)) and not os.path.isfile(source):
        raise AudioError(f"audio file not found: {name}")
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    return name, source


def load_audio(
    source: AudioSource,
    sampling_rate: int | None = None,
    *,
    mono: Literal["mean", "first", "error", False] = "mean",
    allow_silent: bool = True,
    max_duration: float | None = None,
    keep: Literal["start", "end"] = "start",
) -> tuple[np.ndarray, int]:
    """Read a file path, bytes or file object into float32.

    Args:
        source: path (wav/flac/ogg/mp3 — whatever libsndfile reads), raw bytes or a binary file object.
        sampling_rate: resample to this rate (None keeps the file's rate).
        mono: ``"mean"`` downmixes, ``"first"`` keeps channel 0, ``"error"`` rejects multichannel, ``False`` keeps
            all channels as ``(channels, samples)``.
        allow_silent: if False, all-zero audio raises :class:`AudioError`.
        max_duration: read at most this many seconds (of the file's rate, rounded up to a sample): the first ones
            (``keep="start"``) or the last ones (``keep="end"``). Only that part is decoded, checked and resampled, so a
            model that reads 10 s of a 10-minute file does not pay for the other 590.
        keep: which end of a longer file ``max_duration`` keeps.

    Returns:
        ``(audio, sampling_rate)``.

    Example:
        >>> audio, sr = load_audio("clip.flac", 16000)  # doctest: +SKIP
    """
    if sampling_rate is not None:
        check_sample_rate(sampling_rate)  # fail before decoding
    max_duration = check_optional_float("max_duration (seconds)", max_duration, min=0, min_inclusive=False)
    check_choice("keep", keep, ("start", "end"))
    name, source = _readable(source)
    try:
        with sf.SoundFile(source) as file:
            sr = file.samplerate
            check_sample_rate(sr, f"sample rate of {name}")  # a corrupt header can claim any rate
            if max_duration is None:
                data = file.read(dtype="float32", always_2d=True)
            elif keep == "start":
                data = file.read(math.ceil(max_duration * sr), dtype="float32", always_2d=True)
            elif file.seekable() and file.frames > math.ceil(max_duration * sr):
                file.seek(file.frames - math.ceil(max_duration * sr))
                data = file.read(dtype="float32", always_2d=True)
            else:
                data = file.read(dtype="float32", always_2d=True)[-math.ceil(max_duration * sr) :]
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(f"cannot decode {name}: {err}") from err
    audio = check_audio(data.T, name=name, allow_silent=allow_silent)  # (channels, samples)
    if mono:
        audio = to_mono(audio, mono)
    elif audio.ndim == 1:
        audio = audio[None]
    if sampling_rate is not None:
        audio = resample(audio, sr, sampling_rate)
        sr = int(sampling_rate)
    return audio, int(sr)


def audio_file_duration(source: AudioSource) -> float:
    """Seconds of audio in a file (path, bytes or binary file object), read from its header: nothing is decoded. A
    file object is left at its start."""
    name, source = _readable(source)
    try:
        with sf.SoundFile(source) as file:
            frames, rate = file.frames, file.samplerate
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(f"cannot decode {name}: {err}") from err
    finally:
        if hasattr(source, "seek"):
            source.seek(0)
    return frames / rate if rate > 0 else 0.0


def write_audio(path: str | os.PathLike, audio, sampling_rate: int, subtype: str | None = None) -> str:
    """Write ``(samples,)`` or ``(channels, samples)`` float audio; the format follows the extension (wav, flac, ogg).

    Values are clipped to [-1, 1] so that integer PCM formats do not wrap around. The file appears whole or not at
    all: it is written under a temporary name in the same folder and renamed, so an interrupted or failed write never
    leaves an empty or truncated file at ``path``.
    """
    sampling_rate = check_sample_rate(sampling_rate)
    if hasattr(audio, "detach"):
        audio = audio.detach().cpu().float().numpy()
    audio = check_audio(np.asarray(audio), name="audio to write")
    audio = np.clip(audio, -1.0, 1.0)
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    extension = os.path.splitext(name)[1]
    audio_format = sf.available_formats().get(extension[1:].upper()) and extension[1:].upper()
    if not audio_format:
        raise AudioError(f"cannot write {path}: unknown extension {extension!r} (use a .wav, .flac or .ogg path)")
    temporary = os.path.join(folder, f".{name}.{os.getpid()}.partial")
    try:
        sf.write(temporary, audio.T if audio.ndim == 2 else audio, sampling_rate, subtype=subtype, format=audio_format)
        os.replace(temporary, path)
    except (TypeError, ValueError) as err:  # soundfile's errors for an unknown subtype
        raise AudioError(f"cannot write {path}: {err} (use a .wav, .flac or .ogg path)") from err
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return str(path)


def slugify(text: str, fallback: str, limit: int = 40) -> str:
    """A file name (without extension) for audio named by ``text`` (a prompt, a caption): its lowercase ASCII letters
    and digits, other runs joined by ``_``, at most ``limit`` characters; ``fallback`` if nothing is left."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:limit] or fallback


def peak_normalize(audio: np.ndarray, peak_db: float = -1.0, eps: float = 1e-8) -> np.ndarray:
    """Scale so that the absolute peak sits at ``peak_db`` dBFS (silence is returned unchanged)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < eps:
        return audio
    return (audio * (10 ** (peak_db / 20) / peak)).astype(np.float32)


def rms_db(audio: np.ndarray, eps: float = 1e-10) -> float:
    """Root-mean-square level in dBFS."""
    return float(10 * np.log10(np.mean(np.square(audio, dtype=np.float64)) + eps))


def loudness_normalize(audio: np.ndarray, target_db: float = -25.0, max_gain_db: float = 40.0) -> np.ndarray:
    """RMS loudness normalisation to ``target_db`` dBFS, with the gain capped so near-silence is not blown up."""
    gain_db = min(target_db - rms_db(audio), max_gain_db)
    return (audio * 10 ** (gain_db / 20)).astype(np.float32)
