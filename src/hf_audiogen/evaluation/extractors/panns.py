"""PANNs CNN14 (Kong et al., 2020) as audioldm_eval 0.0.3 runs it for FD, KL and IS: one 2048-d embedding and 527
AudioSet logits per clip, at 16 kHz (``Cnn14_16k_mAP=0.438.pth``) or 32 kHz (``Cnn14_mAP=0.431.pth``).

What audioldm_eval takes (``EvaluationHelper`` + its ``Cnn14.forward``): the ``"2048"`` output is
``relu(fc1(pooled))`` (FD, KID) and ``"logits"`` is ``fc_audioset`` of that same ReLU output, before the sigmoid
(KL softmax/sigmoid and IS apply their activations to it). panns_inference exposes the same embedding (its dropout is
off in eval mode) and only ``sigmoid(logits)`` as ``clipwise_output``.

Front-end (torchlibrosa 0.1.0 as the checkpoints were trained with it): reflect padding by ``n_fft // 2`` on both
sides, the DFT of periodic-Hann frames as two strided 1-D convolutions (``conv_real``/``conv_imag``, whose kernels the
checkpoints store), power spectrum, librosa's slaney mel filters (``melW``, also stored), ``10 * log10(max(mel,
1e-10))`` (ref 1.0, no top_db), then ``bn0`` over the 64 mel bands.

Protocol (audioldm_eval's ``WaveDataset``), done by :meth:`Cnn14Extractor.prepare`: keep the first channel, subtract
the clip's mean, resample, and zero-pad clips shorter than 32,000 samples at the end (2 s at 16 kHz, 1 s at 32 kHz).

Key map: identical to the reference ``Cnn14`` (``spectrogram_extractor.stft.conv_{real,imag}.weight``,
``logmel_extractor.melW``, ``bn0``, ``conv_block{1..6}.{conv1,conv2,bn1,bn2}``, ``fc1``, ``fc_audioset``); the
official files hold it under ``"model"`` and load with strict keys.

Decisions (where this differs from the reference):

1. Resampling is soxr's HQ resampler (:func:`hf_audiogen.audio.resample`), not ``torchaudio.functional.resample``
   (windowed sinc, Hann, 6 zero crossings); audio already at the extractor's rate is not resampled.
2. The stored front-end kernels are used as they are, after a check that they match the front-end this class
   computes (to 1e-4 of their largest value): a file whose STFT or mel filters belong to another configuration is
   refused. Random models get the computed ones (``hf_audiogen.mel.slaney_mel_filters``, within one float32 ulp of
   librosa's).
3. Dropout and SpecAugment are left out: the extractor only runs inference.
4. Training checkpoints also pickle numpy arrays (sampler state): those are rebuilt by torch's weights-only loader
   with numpy's array constructors allowed, nothing else.

Example:

```python
>>> import numpy as np
>>> from hf_audiogen.evaluation.extractors.panns import Cnn14Extractor16k
>>> model = Cnn14Extractor16k.from_random(seed=0)
>>> out = model.embed(model.prepare(np.zeros(8000, dtype=np.float32), 16000))  # padded to 2 s
>>> tuple(out.embeddings.shape), tuple(out.logits.shape)
((1, 2048), (527,))

```
"""

from __future__ import annotations

import os
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...audio import check_audio, resample
from ...checkpoint_io import load_torch_file
from ...mel import slaney_mel_filters
from ...validation import InvalidInputError
from .base import AudioEmbeddingExtractor, ExtractorOutput
from .weights import check_prepared, load_strict, numpy_arrays_allowed, resolve_weights_file, seeded_init_

MIN_SAMPLES = 32000  # audioldm_eval's pad_short_audio(min_samples=32000), whatever the rate
AMIN = 1e-10  # power_to_db's floor; ref = 1.0 subtracts 10 * log10(1) = 0


# ---------------------------------------------------------------------------------------------------------------------
# Front-end
# ---------------------------------------------------------------------------------------------------------------------
def dft_kernels(n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n_fft // 2 + 1, 1, n_fft)`` float32 kernels whose strided convolution with a signal gives the real and
    imaginary parts of the DFT of its periodic-Hann-windowed frames (torchlibrosa's ``STFT`` weights)."""
    n = np.arange(n_fft)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
    # (k * n) mod n_fft keeps the angle exact where torchlibrosa raises a complex root of unity to large powers
    angle = 2 * np.pi * (np.outer(np.arange(n_fft // 2 + 1), n) % n_fft) / n_fft
    real = np.cos(angle) * window
    imag = -np.sin(angle) * window
    return tuple(torch.from_numpy(part.astype(np.float32))[:, None, :] for part in (real, imag))


class ConvSTFT(nn.Module):
    """Power spectrogram by two frozen strided 1-D convolutions (torchlibrosa's ``STFT`` + ``Spectrogram``)."""

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        bins = n_fft // 2 + 1
        self.conv_real = nn.Conv1d(1, bins, kernel_size=n_fft, stride=hop_length, bias=False)
        self.conv_imag = nn.Conv1d(1, bins, kernel_size=n_fft, stride=hop_length, bias=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` -> ``(batch, 1, frames, bins)`` power, frames centred (reflect padding)."""
        x = F.pad(waveform[:, None, :], (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        return (self.conv_real(x) ** 2 + self.conv_imag(x) ** 2).transpose(1, 2)[:, None]


class Spectrogram(nn.Module):
    """Holds the STFT under the reference's name (``spectrogram_extractor.stft``)."""

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        self.stft = ConvSTFT(n_fft, hop_length)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.stft(waveform)


class LogmelFilterBank(nn.Module):
    """Mel projection with the stored ``melW`` (``(bins, mel_bins)``), then decibels (``power_to_db``)."""

    def __init__(self, n_fft: int, mel_bins: int):
        super().__init__()
        self.melW = nn.Parameter(torch.zeros(n_fft // 2 + 1, mel_bins), requires_grad=False)

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        return 10.0 * torch.log10(torch.clamp(power @ self.melW, min=AMIN))


# ---------------------------------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------------------------------
class ConvBlock(nn.Module):
    """Two 3x3 convolutions (no bias) with BatchNorm and ReLU, then average pooling."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, pool_size: tuple[int, int]) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, kernel_size=pool_size)


class Cnn14Extractor(AudioEmbeddingExtractor):
    """CNN14 with its log-mel front-end; subclasses fix the rate, STFT and mel band (16 kHz, 32 kHz)."""

    channels: ClassVar[int] = 1
    embedding_dim: ClassVar[int] = 2048
    pooling: ClassVar[str] = "clip"
    num_classes: ClassVar[int | None] = 527
    window_size: ClassVar[int]
    hop_size: ClassVar[int]
    mel_bins: ClassVar[int] = 64
    fmin: ClassVar[float] = 50.0
    fmax: ClassVar[float]

    def __init__(self):
        super().__init__()
        self.spectrogram_extractor = Spectrogram(self.window_size, self.hop_size)
        self.logmel_extractor = LogmelFilterBank(self.window_size, self.mel_bins)
        self.bn0 = nn.BatchNorm2d(self.mel_bins)
        widths = (1, 64, 128, 256, 512, 1024, 2048)
        for index in range(6):
            self.add_module(f"conv_block{index + 1}", ConvBlock(widths[index], widths[index + 1]))
        self.fc1 = nn.Linear(2048, 2048)
        self.fc_audioset = nn.Linear(2048, self.num_classes)
        self.requires_grad_(False)

    def front_end_kernels(self) -> dict[str, torch.Tensor]:
        """The front-end tensors this configuration computes, under their state-dict names."""
        real, imag = dft_kernels(self.window_size)
        mel = slaney_mel_filters(self.window_size, self.mel_bins, self.fmin, self.fmax, self.sampling_rate)
        return {
            "spectrogram_extractor.stft.conv_real.weight": real,
            "spectrogram_extractor.stft.conv_imag.weight": imag,
            "logmel_extractor.melW": torch.from_numpy(mel),
        }

    def check_front_end(self, source: str) -> None:
        """Refuse stored front-end tensors that are not this configuration's (see the module's decision 2)."""
        state = self.state_dict()
        for key, computed in self.front_end_kernels().items():
            stored = state[key].detach().cpu().float()
            scale = float(computed.abs().max())
            error = float((stored - computed).abs().max())
            if not error <= 1e-4 * scale:  # also catches NaN
                raise InvalidInputError(
                    f"{source}: {key} differs from the {self.sampling_rate} Hz front-end (n_fft {self.window_size}, "
                    f"hop {self.hop_size}, {self.mel_bins} mels, {self.fmin:g}-{self.fmax:g} Hz) by {error:.3g} "
                    f"(largest value {scale:.3g}); expected the official {self.official_weights}"
                )

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` -> ``(batch, 1, frames, mel_bins)`` log-mel in dB, before ``bn0``."""
        return self.logmel_extractor(self.spectrogram_extractor(waveform))

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch, samples)`` -> (embeddings ``(batch, 2048)``, logits ``(batch, 527)``)."""
        x = self.log_mel(waveform)
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)  # normalise each mel band
        for index in range(1, 7):
            x = getattr(self, f"conv_block{index}")(x, pool_size=(2, 2) if index < 6 else (1, 1))
        x = x.mean(dim=3)  # over mel
        x = x.amax(dim=2) + x.mean(dim=2)  # over time
        embeddings = F.relu(self.fc1(x))
        return embeddings, self.fc_audioset(embeddings)

    def prepare(self, waveform: np.ndarray, sampling_rate: int) -> torch.Tensor:
        """audioldm_eval's ``WaveDataset`` reading: first channel, mean removed, resampled, padded to 32,000
        samples."""
        audio = check_audio(np.asarray(waveform), name="waveform")
        if audio.ndim == 2:
            audio = audio[0]
        audio = resample(audio - audio.mean(), sampling_rate, self.sampling_rate)
        if audio.shape[0] < MIN_SAMPLES:
            audio = np.pad(audio, (0, MIN_SAMPLES - audio.shape[0]))
        return torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))

    @torch.no_grad()
    def embed(self, waveform: torch.Tensor) -> ExtractorOutput:
        """A prepared clip -> embeddings ``(1, 2048)`` and logits ``(527,)`` (before the sigmoid / softmax)."""
        # reflect padding needs more samples than it pads
        waveform = check_prepared(waveform, type(self).__name__, self.window_size // 2 + 1)
        parameter = self.fc1.weight
        embeddings, logits = self(waveform.to(device=parameter.device, dtype=parameter.dtype)[None])
        return ExtractorOutput(embeddings=embeddings.float(), logits=logits[0].float())

    @classmethod
    def from_pretrained(cls, weights: str | os.PathLike, **hub_kwargs) -> Cnn14Extractor:
        """The official checkpoint by local path or Hub id (``hub_kwargs``: revision, cache_dir, token,
        local_files_only, filename); its state dict is under ``"model"``."""
        what = f"the {cls.name} weights"
        path = resolve_weights_file(weights, cls.official_weights, what, dict(hub_kwargs))
        with numpy_arrays_allowed():
            checkpoint = load_torch_file(path, what)
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get("model"), dict):
            checkpoint = checkpoint["model"]
        model = load_strict(cls, checkpoint, f"{what} {path}", cls.official_weights)
        model.check_front_end(f"{what} {path}")
        model.weights_source = os.fspath(weights)
        return model

    @classmethod
    def from_random(cls, seed: int = 0) -> Cnn14Extractor:
        """Seeded random network weights (see :func:`~.weights.seeded_init_`) with the computed front-end."""
        with torch.device("meta"):
            model = cls()
        model = seeded_init_(model.to_empty(device="cpu"), seed)
        model.load_state_dict(model.front_end_kernels(), strict=False)
        model.weights_source = f"random(seed={seed})"
        return model.requires_grad_(False).eval()

    def describe(self) -> dict:
        return {
            **super().describe(),
            "reference": "PANNs Cnn14 as audioldm_eval 0.0.3 runs it (embedding '2048', pre-sigmoid 'logits')",
            "front_end": {
                "n_fft": self.window_size,
                "hop_length": self.hop_size,
                "mel_bins": self.mel_bins,
                "fmin": self.fmin,
                "fmax": self.fmax,
                "min_samples": MIN_SAMPLES,
            },
        }

    @classmethod
    def num_frames(cls, num_samples: int) -> int:
        """STFT frames of a clip of ``num_samples`` at the extractor's rate once :meth:`prepare` has padded it
        (centred frames: ``1 + samples // hop``)."""
        return 1 + max(int(num_samples), MIN_SAMPLES) // cls.hop_size


class Cnn14Extractor16k(Cnn14Extractor):
    """CNN14 at 16 kHz (``Cnn14_16k_mAP=0.438.pth``: n_fft 512, hop 160, 64 mels from 50 to 8000 Hz)."""

    name: ClassVar[str] = "cnn14-16k"
    sampling_rate: ClassVar[int] = 16000
    window_size: ClassVar[int] = 512
    hop_size: ClassVar[int] = 160
    fmax: ClassVar[float] = 8000.0
    official_weights: ClassVar[str] = "https://zenodo.org/record/3987831/files/Cnn14_16k_mAP%3D0.438.pth"


class Cnn14Extractor32k(Cnn14Extractor):
    """CNN14 at 32 kHz (``Cnn14_mAP=0.431.pth``: n_fft 1024, hop 320, 64 mels from 50 to 14000 Hz)."""

    name: ClassVar[str] = "cnn14-32k"
    sampling_rate: ClassVar[int] = 32000
    window_size: ClassVar[int] = 1024
    hop_size: ClassVar[int] = 320
    fmax: ClassVar[float] = 14000.0
    official_weights: ClassVar[str] = "https://zenodo.org/record/3576403/files/Cnn14_mAP%3D0.431.pth"


__all__ = ["Cnn14Extractor", "Cnn14Extractor16k", "Cnn14Extractor32k", "dft_kernels"]
