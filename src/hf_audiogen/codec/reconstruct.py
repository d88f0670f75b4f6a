"""Encode an audio file to codec tokens and decode it back (``hf-audiogen reconstruct``)."""

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..audio import audio_file_duration, load_audio, write_audio
from ..validation import MAX_AUDIO_PROMPT_SECONDS, InvalidInputError, check_int
from .feature_extraction_codec import CodecFeatureExtractor
from .metrics import si_snr
from .modeling_codec import CodecModel

# Trained by training_scripts/train_codec.py on the sound-effect corpus and shipped inside the package.
BUNDLED_CODEC_DIR = Path(__file__).resolve().parent.parent / "pretrained" / "sfx-codec-small"


@dataclass
class ReconstructionResult:
    """What ``reconstruct_file`` wrote and how close it is to the input."""

    path: str
    duration: float  # seconds
    sampling_rate: int
    num_codebooks: int
    num_frames: int
    si_snr: float  # dB, reconstruction vs the input resampled to the codec rate


def load_codec(model: str | os.PathLike | CodecModel | None = None) -> tuple[CodecModel, CodecFeatureExtractor]:
    """The codec (eval mode) and its feature extractor from a directory / Hub id, a model, or the bundled codec."""
    if isinstance(model, CodecModel):
        codec = model
        source = None
    else:
        if model is None:
            if not (BUNDLED_CODEC_DIR / "config.json").is_file():
                raise FileNotFoundError(
                    f"no bundled codec found at {BUNDLED_CODEC_DIR}: this install ships without one. Pass a codec "
                    "directory saved with CodecModel.save_pretrained (CLI: --model DIR)"
                )
            model = BUNDLED_CODEC_DIR
        source = str(model)
        try:
            codec = CodecModel.from_pretrained(source)
        except OSError as err:  # neither a local directory with a saved codec nor a reachable Hub repository
            raise FileNotFoundError(f"cannot load a codec from {source!r}: {err}") from err
    codec.eval()
    feature_extractor = None
    if source is not None and os.path.isfile(os.path.join(source, "preprocessor_config.json")):
        feature_extractor = CodecFeatureExtractor.from_pretrained(source)
    if feature_extractor is None:
        feature_extractor = CodecFeatureExtractor(
            feature_size=codec.config.audio_channels, sampling_rate=codec.config.sampling_rate
        )
    return codec, feature_extractor


@torch.no_grad()
def reconstruct_file(
    audio_path: str | os.PathLike,
    out_path: str | os.PathLike,
    model: str | os.PathLike | CodecModel | None = None,
    num_codebooks: int | None = None,
) -> ReconstructionResult:
    """Encode ``audio_path`` with the codec and write the decoded audio to ``out_path``.

    Args:
        audio_path: any file libsndfile reads (wav/flac/ogg/mp3); multichannel audio is downmixed to mono.
        out_path: output file; the format follows the extension.
        model: codec directory or Hub id, a ``CodecModel``, or None for the codec bundled with the package.
        num_codebooks: decode from the first N codebooks only (default: all).

    Example:

    ```python
    >>> from hf_audiogen.codec.reconstruct import reconstruct_file
    >>> result = reconstruct_file("dog.wav", "dog_codec.wav", num_codebooks=2)  # doctest: +SKIP
    >>> print(f"{result.si_snr:.1f} dB")  # doctest: +SKIP
    ```
    """
    # Checks that need no model first: the file's length from its header (the codec reads all of it, and its memory
    # grows with the length).
    seconds = audio_file_duration(audio_path)
    if seconds > MAX_AUDIO_PROMPT_SECONDS:
        raise InvalidInputError(
            f"{os.fspath(audio_path)} is {seconds:.1f} s long; audio to reconstruct must be at most "
            f"{MAX_AUDIO_PROMPT_SECONDS:g} s: cut it into parts first"
        )
    codec, feature_extractor = load_codec(model)
    total = codec.config.num_quantizers
    num_codebooks = total if num_codebooks is None else check_int("num_codebooks", num_codebooks, min=1, max=total)

    audio, sampling_rate = load_audio(audio_path, mono="mean" if codec.config.audio_channels == 1 else False)
    inputs = feature_extractor(audio, sampling_rate=sampling_rate, return_tensors="pt")
    input_values = inputs["input_values"].to(codec.device, codec.dtype)
    codes = codec.encode(input_values, num_quantizers=num_codebooks)
    reconstruction = codec.decode(codes)[..., : input_values.shape[-1]]

    path = write_audio(out_path, reconstruction[0].squeeze(0), codec.config.sampling_rate)
    return ReconstructionResult(
        path=path,
        duration=input_values.shape[-1] / codec.config.sampling_rate,
        sampling_rate=codec.config.sampling_rate,
        num_codebooks=num_codebooks,
        num_frames=codes.shape[-1],
        si_snr=float(si_snr(reconstruction.float(), input_values.float()).mean()),
    )


__all__ = ["BUNDLED_CODEC_DIR", "ReconstructionResult", "load_codec", "reconstruct_file"]
