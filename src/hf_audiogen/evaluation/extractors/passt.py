"""PaSST-S (Koutini et al., 2021) as the KL-divergence protocols run it: the AudioSet classifier of hear21passt 0.0.26
``get_basic_model(mode="logits")`` with the weights ``passt-s-f128-p16-s10-ap.476-swa.pt``.

Ported from hear21passt (``models/preprocess.py``: ``AugmentMelSTFT``; ``models/passt.py``: ``PaSST``) in eval mode:
no spectrogram augmentation and no patchout. Module and parameter names are the reference's, so the official file
loads into :attr:`PaSSTExtractor.net` 1:1 with strict key checking.

Decisions (each one where a reference had to be matched or could not be):

1. **Two protocols cut clips differently**, chosen with ``protocol=``:

   * ``"stable-audio"`` (stable-audio-metrics ``passt_kld.return_probabilities``, used by Stable Audio Open and
     TangoFlux): the mono 32 kHz clip is peak-normalised to -1 dBFS, cut into 10 s windows every 5 s
     (``range(0, max(5 s, len - 5 s), 5 s)``); a window shorter than 10 s is zero-padded to 10 s when it is longer than
     1.5 s and fed as it is otherwise; the window **logits are averaged** and the KL's softmax comes after.
   * ``"audiocraft"`` (audiocraft ``PasstKLDivergenceMetric``, AudioGen): no normalisation; the clip is split into
     consecutive 10 s segments, the last one **not padded**, segments of 0.15 s or less dropped; audiocraft's KL then
     takes a softmax per segment and counts **each segment as its own pair**. :attr:`PaSSTOutput.segment_logits` holds
     those rows; ``logits`` is their mean (identical to the one segment for clips of at most 10 s, AudioGen's case).
2. **Resampling is soxr HQ** (``hf_audiogen.audio.resample``), which is what stable-audio-metrics gets from
   ``librosa.load(sr=32000)`` (librosa >= 0.10: ``res_type="soxr_hq"``); audiocraft resamples with julius' windowed
   sinc instead, so our audiocraft-protocol logits differ from audiocraft's by that resampler for non-32 kHz input.
3. **The embedding** is the network's pre-head feature, the mean of the CLS and distillation tokens after the final
   norm (768-d; hear21passt's ``mode="embed_only"``), averaged over the same windows as the logits. It costs nothing
   extra: the head runs on it.
4. Clips too short for the network (the 16-frame patch needs more than 0.15 s, 4800 samples at 32 kHz) are an
   :class:`~hf_audiogen.validation.InvalidInputError`; stable-audio-metrics skips such ids after the model raises and
   audiocraft drops the segment.
5. The Kaldi mel filterbank is rebuilt here in float32 torch with torchaudio's operation order (bit-identical to
   ``torchaudio.compliance.kaldi.get_mel_banks``); transformers' ``mel_filter_bank(mel_scale="kaldi")`` computes it in
   float64 and differs by up to 1.3e-5.

Example (random weights; ``PaSSTExtractor.from_pretrained("passt-s-f128-p16-s10-ap.476-swa.pt")`` for the real ones):

```python
>>> import numpy as np
>>> from hf_audiogen.evaluation.extractors.passt import PaSSTExtractor
>>> extractor = PaSSTExtractor.from_random(seed=0)
>>> out = extractor.embed(extractor.prepare(np.zeros(16000, dtype=np.float32), 16000))
>>> tuple(out.logits.shape), tuple(out.embeddings.shape)
((527,), (1, 768))

```
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...audio import peak_normalize
from ...checkpoint_io import load_torch_file
from ...validation import InvalidInputError, check_choice, check_seed
from .base import AudioEmbeddingExtractor, ExtractorOutput
from .weights import load_state_dict_strictly, resolve_weights_file

PASST_WEIGHTS_FILE = "passt-s-f128-p16-s10-ap.476-swa.pt"
PASST_WEIGHTS_URL = f"https://github.com/kkoutini/PaSST/releases/download/v0.0.1-audioset/{PASST_WEIGHTS_FILE}"

SAMPLING_RATE = 32000
WINDOW_SAMPLES = 10 * SAMPLING_RATE  # PaSST-S was trained on 10 s clips: 998 frames, 99 time patches
STABLE_AUDIO_HOP = 5 * SAMPLING_RATE  # stable-audio-metrics: 10 s windows overlapping by 5 s
STABLE_AUDIO_MIN_PAD = int(WINDOW_SAMPLES * 0.15)  # windows of at most 1.5 s are fed unpadded
MIN_SAMPLES = int(0.15 * SAMPLING_RATE)  # audiocraft keeps segments longer than this; shorter ones cannot be patched
PROTOCOLS = ("stable-audio", "audiocraft")


# ---------------------------------------------------------------------------------------------------------------------
# Front-end: hear21passt's AugmentMelSTFT in eval mode
# ---------------------------------------------------------------------------------------------------------------------
def kaldi_mel_banks(n_mels: int, n_fft: int, sampling_rate: int, fmin: float, fmax: float) -> torch.Tensor:
    """Kaldi's triangular mel filters (mel = 1127 ln(1 + f/700)), ``(n_mels, n_fft // 2 + 1)``, the Nyquist bin zero.

    Written by hand instead of torchaudio (not a dependency), in float32 and in the order
    ``torchaudio.compliance.kaldi.get_mel_banks`` uses, so that the filters are bit-identical to the reference's."""
    mel_low = 1127.0 * math.log(1.0 + fmin / 700.0)
    mel_high = 1127.0 * math.log(1.0 + fmax / 700.0)
    delta = (mel_high - mel_low) / (n_mels + 1)
    band = torch.arange(n_mels).unsqueeze(1)
    left, center, right = (mel_low + (band + k) * delta for k in (0.0, 1.0, 2.0))
    mel = (1127.0 * (1.0 + (sampling_rate / n_fft) * torch.arange(n_fft / 2) / 700.0).log()).unsqueeze(0)
    banks = torch.clamp(torch.min((mel - left) / (center - left), (right - mel) / (right - center)), min=0.0)
    return F.pad(banks, (0, 1))


class AugmentMelSTFT(nn.Module):
    """Waveform ``(batch, samples)`` at 32 kHz → normalised log-mel ``(batch, 128, frames)``, hear21passt's
    front-end without its training-time augmentation (random fmin/fmax shifts, frequency/time masking). It has no
    weights: its buffers are not saved, as in the reference."""

    def __init__(self, n_mels=128, sr=32000, win_length=800, hopsize=320, n_fft=1024, fmin=0.0, fmax_aug_range=2000):
        super().__init__()
        self.n_fft, self.hopsize, self.win_length = n_fft, hopsize, win_length
        fmax = sr // 2 - fmax_aug_range // 2  # the reference's eval-mode fmax (15 kHz)
        self.register_buffer("window", torch.hann_window(win_length, periodic=False), persistent=False)
        self.register_buffer("preemphasis_coefficient", torch.tensor([[[-0.97, 1.0]]]), persistent=False)
        self.register_buffer("mel_basis", kaldi_mel_banks(n_mels, n_fft, sr, fmin, fmax), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x = F.conv1d(waveform.unsqueeze(1), self.preemphasis_coefficient).squeeze(1)  # x[n+1] - 0.97 x[n]
        spec = torch.stft(
            x, self.n_fft, self.hopsize, self.win_length, window=self.window, center=True, return_complex=True
        )
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(self.mel_basis, power)
        return ((mel + 1e-5).log() + 4.5) / 5.0  # the reference's "fast normalization"


# ---------------------------------------------------------------------------------------------------------------------
# Network: hear21passt's PaSST (a DeiT-B with separate frequency / time position embeddings)
# ---------------------------------------------------------------------------------------------------------------------
class PatchEmbed(nn.Module):
    """16×16 patches every 10 bins / frames: ``(batch, 1, 128, frames)`` → ``(batch, 768, 12, time patches)``."""

    def __init__(self, patch_size=16, stride=10, in_chans=1, embed_dim=768):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        q, k, v = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        # torch's fused kernel: the reference's softmax(q k^T / sqrt(d)) v, to float rounding
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(batch, tokens, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (timm's ViT block; LayerNorm eps 1e-6)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PaSST(nn.Module):
    """PaSST-S at inference: patches + frequency and time position embeddings, CLS and distillation tokens, 12
    blocks; ``forward`` returns ``(logits (batch, 527), features (batch, 768))`` where features is the mean of the two
    tokens and the logits are ``head(features)`` (``head_dist`` is kept for the checkpoint but unused, as in the
    reference). Inputs shorter than 10 s use the first time position embeddings; longer ones are the caller's to cut.
    """

    def __init__(self, num_classes=527, embed_dim=768, depth=12, num_heads=12, freq_patches=12, time_patches=99):
        super().__init__()
        self.patch_embed = PatchEmbed(embed_dim=embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.new_pos_embed = nn.Parameter(torch.zeros(1, 2, embed_dim))  # of the two tokens
        self.freq_new_pos_embed = nn.Parameter(torch.zeros(1, embed_dim, freq_patches, 1))
        self.time_new_pos_embed = nn.Parameter(torch.zeros(1, embed_dim, 1, time_patches))
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Sequential(nn.LayerNorm(embed_dim), nn.Linear(embed_dim, num_classes))
        self.head_dist = nn.Linear(embed_dim, num_classes)

    def forward(self, spec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.patch_embed(spec)  # (batch, dim, freq patches, time patches)
        time_patches = x.shape[-1]
        if time_patches > self.time_new_pos_embed.shape[-1]:
            raise InvalidInputError(f"PaSST takes at most 10 s at once, got {time_patches} time patches")
        x = x + self.time_new_pos_embed[..., :time_patches] + self.freq_new_pos_embed
        x = x.flatten(2).transpose(1, 2)
        batch = x.shape[0]
        cls = self.cls_token.expand(batch, -1, -1) + self.new_pos_embed[:, :1]
        dist = self.dist_token.expand(batch, -1, -1) + self.new_pos_embed[:, 1:]
        x = self.norm(self.blocks(torch.cat([cls, dist, x], dim=1)))
        features = (x[:, 0] + x[:, 1]) / 2
        return self.head(features), features

    @torch.no_grad()
    def init_random_(self, generator: torch.Generator) -> None:
        """Seeded random values for every parameter (tests, code-path runs): truncated-normal-like small weights,
        unit norms. Not the reference's initialisation (its head starts at zero, which would make logits constant)."""
        for name, param in self.named_parameters():
            if name.endswith("bias"):
                param.copy_(0.02 * torch.randn(param.shape, generator=generator))
            elif param.ndim == 1:  # LayerNorm weights
                param.copy_(1.0 + 0.02 * torch.randn(param.shape, generator=generator))
            else:
                param.copy_((0.02 * torch.randn(param.shape, generator=generator)).clamp_(-0.04, 0.04))


# ---------------------------------------------------------------------------------------------------------------------
# Extractor
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class PaSSTOutput(ExtractorOutput):
    """:class:`ExtractorOutput` plus the per-window logits ``(windows, 527)``: what audiocraft's KL pairs one by
    one."""

    segment_logits: torch.Tensor | None = None


class PaSSTExtractor(AudioEmbeddingExtractor):
    """PaSST-S logits (527 AudioSet classes, before the activation) and its 768-d embedding, for the KL metrics.

    ``protocol``: ``"stable-audio"`` (default) or ``"audiocraft"`` — how clips are normalised, cut and pooled (see the
    module docstring).
    """

    name: ClassVar[str] = "passt"
    sampling_rate: ClassVar[int] = SAMPLING_RATE
    channels: ClassVar[int] = 1
    embedding_dim: ClassVar[int] = 768
    pooling: ClassVar[Literal["frame", "clip"]] = "clip"
    num_classes: ClassVar[int | None] = 527
    official_weights: ClassVar[str] = PASST_WEIGHTS_URL

    def __init__(self, protocol: str = "stable-audio"):
        super().__init__()
        self.protocol = check_choice("protocol", protocol, PROTOCOLS)
        self.mel = AugmentMelSTFT()
        self.net = PaSST()
        self.eval()

    @classmethod
    def from_random(cls, seed: int = 0, protocol: str = "stable-audio") -> PaSSTExtractor:
        extractor = cls(protocol=protocol)
        extractor.net.init_random_(torch.Generator().manual_seed(check_seed(seed)))
        extractor.weights_source = f"random(seed={seed})"
        return extractor

    @classmethod
    def from_pretrained(
        cls, weights: str | os.PathLike, protocol: str = "stable-audio", **hub_kwargs
    ) -> PaSSTExtractor:
        """``passt-s-f128-p16-s10-ap.476-swa.pt`` by path, by a folder holding it, or by a Hub id whose repo holds
        it."""
        extractor = cls(protocol=protocol)
        path = resolve_weights_file(weights, PASST_WEIGHTS_URL, "the PaSST weights", hub_kwargs)
        state_dict = load_torch_file(path, "PaSST weights")
        if isinstance(state_dict, dict) and isinstance(state_dict.get("model"), dict):
            state_dict = state_dict["model"]  # DeiT-style wrapping, which hear21passt's loader also unwraps
        load_state_dict_strictly(extractor.net, state_dict, path, PASST_WEIGHTS_URL)
        extractor.weights_source = os.fspath(weights)
        return extractor

    def describe(self) -> dict:
        return {**super().describe(), "protocol": self.protocol, "reference": "hear21passt==0.0.26"}

    def prepare(self, waveform: np.ndarray, sampling_rate: int) -> torch.Tensor:
        """Mono 32 kHz float32 (the base class: channel mean, then soxr), peak-normalised to -1 dBFS under the
        stable-audio protocol (after resampling, as ``librosa.load`` then ``pyln.normalize.peak`` does)."""
        audio = super().prepare(waveform, sampling_rate)
        if self.protocol == "stable-audio":
            audio = torch.from_numpy(peak_normalize(audio.numpy(), -1.0))
        return audio

    def windows(self, waveform: torch.Tensor) -> list[torch.Tensor]:
        """The protocol's cut of a prepared ``(samples,)`` clip into the pieces the network sees (each ≤ 10 s)."""
        if waveform.ndim != 1:
            raise InvalidInputError(f"PaSST takes a prepared mono clip (samples,), got shape {tuple(waveform.shape)}")
        length = waveform.shape[0]
        if self.protocol == "audiocraft":
            pieces = [s for s in torch.split(waveform, WINDOW_SAMPLES) if s.shape[0] > MIN_SAMPLES]
        else:
            pieces = []
            for start in range(0, max(STABLE_AUDIO_HOP, length - STABLE_AUDIO_HOP), STABLE_AUDIO_HOP):
                piece = waveform[start : start + WINDOW_SAMPLES]
                if STABLE_AUDIO_MIN_PAD < piece.shape[0] < WINDOW_SAMPLES:
                    piece = F.pad(piece, (0, WINDOW_SAMPLES - piece.shape[0]))
                pieces.append(piece)
        if not pieces or min(p.shape[0] for p in pieces) <= MIN_SAMPLES:
            raise InvalidInputError(
                f"clip too short for PaSST: {length / SAMPLING_RATE:.3f} s at 32 kHz; it needs more than 0.15 s"
            )
        return pieces

    @torch.no_grad()
    def embed(self, waveform: torch.Tensor) -> PaSSTOutput:
        logits, features = [], []
        for piece in self.windows(waveform):
            piece_logits, piece_features = self.net(self.mel(piece[None].float()).unsqueeze(1))
            logits.append(piece_logits[0])
            features.append(piece_features[0])
        segment_logits = torch.stack(logits)
        return PaSSTOutput(
            embeddings=torch.stack(features).mean(0, keepdim=True),
            logits=segment_logits.mean(0),
            segment_logits=segment_logits,
        )


__all__ = ["PASST_WEIGHTS_FILE", "PASST_WEIGHTS_URL", "AugmentMelSTFT", "PaSST", "PaSSTExtractor", "PaSSTOutput"]
