"""OpenL3 (Cramer et al., 2019) as stable-audio-metrics' FD_openl3 runs it: the audio network with the ``mel256``
input, the ``env`` content type and 512-d embeddings, one embedding per 1 s window every 0.5 s, stereo channels
embedded separately and concatenated (1024-d).

Ported from torchopenl3 1.0.1 (``models.PytorchOpenl3``, ``utils.preprocess_audio_batch``), the torch conversion of
the official Keras models, with its parameter and buffer names, so its converted checkpoint
``torchopenl3_mel256_env_512.pth.tar`` loads 1:1 with strict key checking (the file carries the front-end's DFT
kernels and mel filters as buffers, as torchopenl3's own strict loader requires).

Decisions:

1. **Protocol** (stable-audio-metrics ``openl3_fd.extract_embeddings``, AudioCaps example: channels=2, hop 0.5 s,
   ``env``): each file is peak-normalised to -1 dBFS over both channels (``pyln.normalize.peak``), resampled to the
   evaluation rate with soxr HQ, and each channel is embedded on its own (mono files: the one channel twice), then
   L and R are concatenated per frame. ``evaluation_rate`` is that rate: 48000 by default (OpenL3's own rate);
   stable-audio-metrics' AudioCaps example uses 44100, after which openl3 resamples to 48 kHz itself.
2. **Resampling**: soxr throughout (``hf_audiogen.audio.resample``); openl3 and torchopenl3 resample to 48 kHz with
   resampy's ``kaiser_best`` filter, so for input that is not at 48 kHz our frames differ from theirs by that
   resampler (the parity tests feed 48 kHz audio).
3. **Framing** as torchopenl3 (``center=True``): 0.5 s of zeros before the clip, zeros after it up to a whole number of
   hops, ``1 + ceil((samples + 24000 - 48000) / 24000)`` windows (at least one): a clip shorter than 1 s gives one
   zero-padded window, a 10 s clip 20.
4. **Front-end**: torchopenl3 reproduces the kapre 0.1.4 mel layer of openl3 <= 0.3 (power STFT as a conv1d with
   Hann-windowed DFT kernels, "same" padding, HTK mel filters with unit area, square root, 10·log10, each window
   referenced to its own maximum and floored at -80 dB). stable-audio-metrics pins openl3 0.4.2 with kapre 0.3.7,
   whose mel layer is set up differently (Slaney mel filters on the magnitude, end padding); its FD_openl3 values
   therefore need not equal ours to the digit even with the same weights. We match torchopenl3, the reference this
   port is tested against.

Example (random weights; ``OpenL3Extractor.from_pretrained("torchopenl3_mel256_env_512.pth.tar")`` for the real
ones):

```python
>>> import numpy as np
>>> from hf_audiogen.evaluation.extractors.openl3 import OpenL3Extractor
>>> extractor = OpenL3Extractor.from_random(seed=0)
>>> out = extractor.embed(extractor.prepare(np.zeros((2, 48000), dtype=np.float32), 48000))
>>> tuple(out.embeddings.shape)  # 1 s of stereo: two windows, L|R side by side
(2, 1024)

```
"""

from __future__ import annotations

import math
import os
import warnings
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...audio import check_audio, peak_normalize, resample
from ...checkpoint_io import load_torch_file
from ...validation import InvalidInputError, check_int, check_seed
from .base import AudioEmbeddingExtractor, ExtractorOutput
from .weights import load_state_dict_strictly, resolve_weights_file

OPENL3_WEIGHTS_FILE = "torchopenl3_mel256_env_512.pth.tar"
OPENL3_WEIGHTS_URL = f"https://github.com/torchopenl3/torchopenl3-models/raw/master/{OPENL3_WEIGHTS_FILE}"

SAMPLING_RATE = 48000
WINDOW = SAMPLING_RATE  # OpenL3 sees 1 s at a time
HOP = SAMPLING_RATE // 2  # stable-audio-metrics' openl3_hop_size=0.5


def num_windows(samples: int) -> int:
    """How many 1 s windows every 0.5 s a centred clip of ``samples`` (at 48 kHz) gives."""
    padded = samples + WINDOW // 2
    return 1 if padded <= WINDOW else 1 + math.ceil((padded - WINDOW) / HOP)


def htk_mel_filters(sampling_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa's ``filters.mel(htk=True, norm=1)`` from 0 Hz to Nyquist: transformers' HTK triangles, each scaled to
    unit sum (librosa leaves all-zero filters as they are). ``(n_mels, n_fft // 2 + 1)`` float32."""
    from transformers.audio_utils import mel_filter_bank

    with warnings.catch_warnings():  # 256 HTK bands over 1025 bins leave the lowest two empty, as in the reference
        warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")
        filters = mel_filter_bank(
            num_frequency_bins=n_fft // 2 + 1,
            num_mel_filters=n_mels,
            min_frequency=0.0,
            max_frequency=sampling_rate / 2,
            sampling_rate=sampling_rate,
            norm=None,
            mel_scale="htk",
        ).T
    area = filters.sum(axis=1, keepdims=True)
    return np.where(area > 0, filters / np.where(area > 0, area, 1.0), filters).astype(np.float32)


def dft_kernels(n_dft: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Hann-windowed (periodic) DFT kernels for a strided conv1d STFT, ``(n_dft // 2 + 1, 1, n_dft)`` each: the
    buffers of torchopenl3's ``CustomSTFT``, computed as it does (float32 window times float64 kernels)."""
    n = np.arange(n_dft)
    phase = np.arange(n_dft // 2 + 1)[:, None] * (2 * np.pi / n_dft) * n[None, :]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * n / n_dft)).astype(np.float32)
    real, imag = np.cos(phase) * window, -np.sin(phase) * window
    return (torch.from_numpy(k.astype(np.float32))[:, None, :] for k in (real, imag))


class CustomMelSTFT(nn.Module):
    """1 s at 48 kHz ``(batch, 1, 48000)`` → log-mel in dB ``(batch, 256, 199)``: kapre 0.1.4's mel layer as
    torchopenl3 writes it (STFT by conv1d with DFT kernels: the kernels are saved in its checkpoints)."""

    def __init__(self, sr: int = SAMPLING_RATE, n_dft: int = 2048, n_hop: int = 242, n_mels: int = 256):
        super().__init__()
        self.n_hop = n_hop
        real, imag = dft_kernels(n_dft)
        self.register_buffer("dft_real_kernels", real)
        self.register_buffer("dft_imag_kernels", imag)
        self.register_buffer("mel_basis", torch.from_numpy(htk_mel_filters(sr, n_dft, n_mels)))
        # Keras "same" padding of a 1 s input (computed from the window length sr, as the reference does)
        remainder = sr % n_hop
        total = max(n_dft - (n_hop if remainder == 0 else remainder), 0)
        self.padding = (total // 2, total - total // 2)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = F.pad(frames, self.padding)
        real = F.conv1d(x, self.dft_real_kernels, stride=self.n_hop)
        imag = F.conv1d(x, self.dft_imag_kernels, stride=self.n_hop)
        mel = torch.matmul(self.mel_basis, real.square() + imag.square()).sqrt()  # power_melgram=1: magnitude
        db = 10.0 * torch.log10(mel.clamp(min=1e-10))
        db = db - db.amax(dim=(1, 2), keepdim=True)  # each window relative to its own maximum
        return db.clamp(min=-80.0)


# The eight conv layers after the input batch norm: (name, in, out, max-pool after it). Each conv is followed by
# batch_normalization_{k+1} and a ReLU, except the last (audio_embedding_layer), which is max-pooled to 512.
_CONVS = [
    ("conv2d_1", 1, 64, False),
    ("conv2d_2", 64, 64, True),
    ("conv2d_3", 64, 128, False),
    ("conv2d_4", 128, 128, True),
    ("conv2d_5", 128, 256, False),
    ("conv2d_6", 256, 256, True),
    ("conv2d_7", 256, 512, False),
    ("audio_embedding_layer", 512, 512, False),
]


class PytorchOpenl3(nn.Module):
    """OpenL3's audio network (mel256, 512-d): batch-normed log-mel, four VGG-style conv blocks, a (32, 24) max pool
    over the last map. ``(batch, 1, 48000)`` → ``(batch, 512)``. Batch norms are used with their running statistics
    (eval mode), eps 1e-3 as in Keras."""

    def __init__(self):
        super().__init__()
        self.speclayer = CustomMelSTFT()
        self.batch_normalization_1 = nn.BatchNorm2d(1, eps=1e-3)
        for index, (name, cin, cout, _) in enumerate(_CONVS):
            setattr(self, name, nn.Conv2d(cin, cout, kernel_size=3, padding=1))
            if name != "audio_embedding_layer":
                setattr(self, f"batch_normalization_{index + 2}", nn.BatchNorm2d(cout, eps=1e-3))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = self.batch_normalization_1(self.speclayer(frames).unsqueeze(1))
        for index, (name, _, _, pool) in enumerate(_CONVS):
            x = getattr(self, name)(x)
            if name == "audio_embedding_layer":
                break
            x = F.relu(getattr(self, f"batch_normalization_{index + 2}")(x))
            if pool:
                x = F.max_pool2d(x, 2)
        return F.max_pool2d(x, kernel_size=(32, 24)).flatten(1)

    @torch.no_grad()
    def init_random_(self, generator: torch.Generator) -> None:
        """Seeded random weights and batch-norm statistics (tests, code-path runs); the front-end buffers keep their
        fixed values."""
        for name, module in self.named_children():
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * math.sqrt(2.0 / fan_in))
                module.bias.copy_(0.01 * torch.randn(module.bias.shape, generator=generator))
            elif isinstance(module, nn.BatchNorm2d):
                size = module.num_features
                module.weight.copy_(1.0 + 0.1 * torch.randn(size, generator=generator))
                module.bias.copy_(0.1 * torch.randn(size, generator=generator))
                module.running_mean.copy_(0.1 * torch.randn(size, generator=generator))
                module.running_var.copy_(1.0 + 0.2 * torch.rand(size, generator=generator))
        # the input batch norm sees dB values in [-80, 0]: random statistics of that scale keep activations O(1)
        self.batch_normalization_1.running_mean.fill_(-40.0)
        self.batch_normalization_1.running_var.fill_(400.0)


class OpenL3Extractor(AudioEmbeddingExtractor):
    """OpenL3 mel256/env/512 frame embeddings, left and right channel side by side: ``(frames, 1024)``.

    ``evaluation_rate``: the rate :meth:`prepare` band-limits to before OpenL3's 48 kHz (stable-audio-metrics'
    ``samplingrate``; 48000 by default, 44100 in its AudioCaps example).
    """

    name: ClassVar[str] = "openl3"
    sampling_rate: ClassVar[int] = SAMPLING_RATE
    channels: ClassVar[int] = 2
    embedding_dim: ClassVar[int] = 1024
    pooling: ClassVar[Literal["frame", "clip"]] = "frame"
    num_classes: ClassVar[int | None] = None
    official_weights: ClassVar[str] = OPENL3_WEIGHTS_URL

    def __init__(self, evaluation_rate: int = SAMPLING_RATE, batch_size: int = 32):
        super().__init__()
        self.evaluation_rate = check_int("evaluation_rate", evaluation_rate, min=8000, max=SAMPLING_RATE)
        self.batch_size = check_int("batch_size", batch_size, min=1)
        self.model = PytorchOpenl3()
        self.eval()

    @classmethod
    def from_random(cls, seed: int = 0, **kwargs) -> OpenL3Extractor:
        extractor = cls(**kwargs)
        extractor.model.init_random_(torch.Generator().manual_seed(check_seed(seed)))
        extractor.weights_source = f"random(seed={seed})"
        return extractor

    @classmethod
    def from_pretrained(
        cls, weights: str | os.PathLike, *, evaluation_rate: int = SAMPLING_RATE, batch_size: int = 32, **hub_kwargs
    ) -> OpenL3Extractor:
        """``torchopenl3_mel256_env_512.pth.tar`` by path, by a folder holding it, or by a Hub id whose repo holds
        it."""
        extractor = cls(evaluation_rate=evaluation_rate, batch_size=batch_size)
        path = resolve_weights_file(weights, OPENL3_WEIGHTS_URL, "the OpenL3 weights", hub_kwargs)
        load_state_dict_strictly(extractor.model, load_torch_file(path, "OpenL3 weights"), path, OPENL3_WEIGHTS_URL)
        extractor.weights_source = os.fspath(weights)
        return extractor

    def describe(self) -> dict:
        return {
            **super().describe(),
            "evaluation_rate": self.evaluation_rate,
            "hop_seconds": HOP / SAMPLING_RATE,
            "model": "mel256/env/512 per channel, L|R concatenated",
            "reference": "torchopenl3==1.0.1",
        }

    def prepare(self, waveform: np.ndarray, sampling_rate: int) -> torch.Tensor:
        """``(2, samples)`` float32 at 48 kHz: peak-normalised to -1 dBFS over all channels at the input rate,
        resampled to ``evaluation_rate`` and then to 48 kHz; mono is duplicated to both channels."""
        audio = check_audio(np.asarray(waveform), name="waveform")
        if audio.ndim == 2 and audio.shape[0] == 1:
            audio = audio[0]
        if audio.ndim == 2 and audio.shape[0] != 2:
            raise InvalidInputError(f"OpenL3 takes mono or stereo audio, got {audio.shape[0]} channels")
        audio = peak_normalize(audio, -1.0)
        audio = resample(audio, sampling_rate, self.evaluation_rate)
        audio = resample(audio, self.evaluation_rate, SAMPLING_RATE)
        if audio.ndim == 1:
            audio = np.stack([audio, audio])
        return torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))

    def frames(self, channel: torch.Tensor) -> torch.Tensor:
        """One channel ``(samples,)`` at 48 kHz → its windows ``(windows, 1, 48000)`` (decision 3)."""
        count = num_windows(channel.shape[-1])
        padded = F.pad(channel, (WINDOW // 2, (count - 1) * HOP + WINDOW - WINDOW // 2 - channel.shape[-1]))
        return padded.unfold(0, WINDOW, HOP).unsqueeze(1)

    @torch.no_grad()
    def embed(self, waveform: torch.Tensor) -> ExtractorOutput:
        if waveform.ndim != 2 or waveform.shape[0] != 2:
            raise InvalidInputError(f"OpenL3 takes a prepared stereo clip (2, samples), got {tuple(waveform.shape)}")
        frames = torch.cat([self.frames(channel.float()) for channel in waveform])  # L windows, then R windows
        rows = torch.cat([self.model(batch) for batch in frames.split(self.batch_size)])
        left, right = rows.chunk(2)
        return ExtractorOutput(embeddings=torch.cat([left, right], dim=1))


__all__ = ["OPENL3_WEIGHTS_FILE", "OPENL3_WEIGHTS_URL", "CustomMelSTFT", "OpenL3Extractor", "PytorchOpenl3"]
