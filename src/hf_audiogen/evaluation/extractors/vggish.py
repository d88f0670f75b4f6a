"""VGGish (Hershey et al., 2017) as the FAD of audioldm_eval 0.0.3 and frechet-audio-distance runs it: torchvggish's
network (harritaylor, the ``torch.hub`` "vggish" entry) and its numpy front-end, with the PCA post-processing off and
the last ReLU of the embedding head dropped, so one clip gives one raw 128-d embedding per 0.96 s.

Front-end (``vggish_params.py`` / ``mel_features.py`` of torchvggish 0.2): 16 kHz mono, magnitude STFT of 25 ms
periodic-Hann frames every 10 ms (FFT of 512), 64 HTK-mel bands from 125 to 7500 Hz, ``log(mel + 0.01)``, then
non-overlapping examples of 96 frames (0.96 s); the tail that does not fill an example is dropped.

Key map: identical to torchvggish, so ``vggish-10086976.pth`` loads 1:1 with strict keys: ``features.{0,3,6,8,11,13}``
(the six 3x3 convolutions; ReLUs and max-pools keep their Sequential slots) and ``embeddings.{0,2,4}`` (three linear
layers). The optional PCA file (``vggish_pca_params-970ea276.pth``: ``pca_eigen_vectors`` (128, 128) and
``pca_means`` (128,)) is held in non-persistent buffers, outside that state dict.

Decisions (where this differs from the reference):

1. Resampling is soxr's HQ band-limited resampler (:func:`hf_audiogen.audio.resample`), not resampy's
   ``kaiser_best``; both are band-limited sinc resamplers, but their outputs differ slightly near Nyquist. At 16 kHz
   input nothing is resampled and the results match the reference.
2. Decoding is the caller's: audioldm_eval reads files as int16 and divides by 32768, which equals soundfile's float
   decoding of 16-bit files; float and 24-bit files are not quantised to 16 bits here.
3. A clip shorter than one example (15,600 samples at 16 kHz, 0.975 s) gives zero rows: in the reference the
   network raises on an empty batch and audioldm_eval skips the file, so neither contributes to FAD.
4. The front-end runs in torch float64 (the reference: numpy float64) and the network in float32, as the reference.
5. With ``pca_params`` the output is torchvggish's default (``postprocess=True``, last ReLU kept): PCA whitening,
   clipping to [-2, 2] and 8-bit quantisation, i.e. the features of the AudioSet release, not the FAD embedding.

Example:

```python
>>> import numpy as np
>>> from hf_audiogen.evaluation.extractors.vggish import VGGish
>>> model = VGGish.from_random(seed=0)
>>> out = model.embed(model.prepare(np.zeros((2, 44100), dtype=np.float32), 22050))  # 2 s of stereo
>>> tuple(out.embeddings.shape), out.logits
((2, 128), None)

```
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from transformers.audio_utils import mel_filter_bank

from ...checkpoint_io import load_torch_file
from ...validation import InvalidInputError
from .base import AudioEmbeddingExtractor, ExtractorOutput
from .weights import (
    check_prepared,
    load_strict,
    numpy_arrays_allowed,
    official_filename,
    resolve_weights_file,
    seeded_init_,
)

# ---------------------------------------------------------------------------------------------------------------------
# Front-end
# ---------------------------------------------------------------------------------------------------------------------
SAMPLE_RATE = 16000
WINDOW_LENGTH = 400  # 25 ms
HOP_LENGTH = 160  # 10 ms
FFT_LENGTH = 512  # the next power of two above the window
NUM_MEL_BINS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s per example, examples do not overlap


@functools.lru_cache(maxsize=1)
def _front_end_constants() -> tuple[np.ndarray, np.ndarray]:
    """(periodic Hann window (400,), HTK mel matrix (257, 64)) in float64, as ``mel_features.py`` builds them.

    transformers' HTK filters triangulated in mel space are VGGish's ``spectrogram_to_mel_matrix`` (they agree to
    3e-14; VGGish zeroes the DC row, which is already zero because 0 Hz lies below 125 Hz)."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW_LENGTH) / WINDOW_LENGTH)
    mel = mel_filter_bank(
        num_frequency_bins=FFT_LENGTH // 2 + 1,
        num_mel_filters=NUM_MEL_BINS,
        min_frequency=MEL_MIN_HZ,
        max_frequency=MEL_MAX_HZ,
        sampling_rate=SAMPLE_RATE,
        norm=None,
        mel_scale="htk",
        triangularize_in_mel_space=True,
    )
    return window, mel


def num_examples(num_samples: int) -> int:
    """How many 0.96 s examples the front-end cuts from ``num_samples`` samples at 16 kHz."""
    if num_samples < WINDOW_LENGTH:
        return 0
    return (1 + (num_samples - WINDOW_LENGTH) // HOP_LENGTH) // EXAMPLE_FRAMES


def log_mel_examples(waveform: torch.Tensor) -> torch.Tensor:
    """A 16 kHz mono ``(samples,)`` clip -> float32 ``(examples, 1, 96, 64)`` log-mel patches, VGGish's input."""
    count = num_examples(waveform.shape[-1])
    if count == 0:
        return waveform.new_zeros((0, 1, EXAMPLE_FRAMES, NUM_MEL_BINS), dtype=torch.float32)
    window, mel = (torch.from_numpy(array).to(waveform.device) for array in _front_end_constants())
    used = WINDOW_LENGTH + (count * EXAMPLE_FRAMES - 1) * HOP_LENGTH  # the samples the kept frames cover
    # By hand, not torch.stft: that centres the 400-sample window in the 512-point frame, VGGish zero-pads after it.
    frames = waveform[:used].to(torch.float64).unfold(0, WINDOW_LENGTH, HOP_LENGTH)
    magnitude = torch.fft.rfft(frames * window, n=FFT_LENGTH).abs()
    log_mel = torch.log(magnitude @ mel + LOG_OFFSET)
    return log_mel.reshape(count, 1, EXAMPLE_FRAMES, NUM_MEL_BINS).to(torch.float32)


# ---------------------------------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------------------------------
def _vgg_features() -> nn.Sequential:
    """VGG configuration "A"-like trunk: 3x3 convolutions (64, M, 128, M, 256, 256, M, 512, 512, M) with ReLU."""
    layers: list[nn.Module] = []
    channels = 1
    for width in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M"):
        if width == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = width
    return nn.Sequential(*layers)


class VGGish(AudioEmbeddingExtractor):
    """VGGish embeddings for FAD: ``embed`` returns one raw 128-d row per 0.96 s of 16 kHz audio.

    Build it with :meth:`from_pretrained` (the official ``vggish-10086976.pth``, by path or Hub id) or
    :meth:`from_random`; ``prepare`` downmixes to mono and resamples to 16 kHz.
    """

    name: ClassVar[str] = "vggish"
    sampling_rate: ClassVar[int] = SAMPLE_RATE
    channels: ClassVar[int] = 1
    embedding_dim: ClassVar[int] = 128
    pooling: ClassVar[str] = "frame"
    num_classes: ClassVar[int | None] = None
    official_weights: ClassVar[str] = (
        "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth"
    )
    official_pca_params: ClassVar[str] = (
        "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish_pca_params-970ea276.pth"
    )

    def __init__(self):
        super().__init__()
        self.features = _vgg_features()
        self.embeddings = nn.Sequential(  # torchvggish's head minus its last ReLU, as audioldm_eval runs it
            nn.Linear(512 * 4 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, 128),
        )
        # PCA post-processing (optional, loaded by set_pca_params); not part of the official weights' state dict
        self.register_buffer("pca_eigen_vectors", None, persistent=False)
        self.register_buffer("pca_means", None, persistent=False)

    @property
    def postprocess(self) -> bool:
        """Whether :meth:`embed` applies the AudioSet-release PCA + quantisation (see the module's decision 5)."""
        return self.pca_eigen_vectors is not None

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        """``(examples, 1, 96, 64)`` log-mel patches -> ``(examples, 128)`` raw embeddings."""
        x = self.features(examples)
        # Flatten channels-last ((examples, 6, 4, 512)): the order of the TF checkpoint that fc1 was trained on.
        x = x.permute(0, 2, 3, 1).flatten(1)
        return self.embeddings(x)

    @torch.no_grad()
    def embed(self, waveform: torch.Tensor) -> ExtractorOutput:
        """A prepared 16 kHz mono clip -> ``(examples, 128)`` embeddings (zero rows under 0.975 s)."""
        waveform = check_prepared(waveform, "VGGish", 1)
        parameter = self.embeddings[0].weight
        examples = log_mel_examples(waveform.to(parameter.device)).to(parameter.dtype)
        if examples.shape[0] == 0:
            return ExtractorOutput(embeddings=examples.new_zeros((0, self.embedding_dim)))
        embeddings = self(examples)
        if self.postprocess:
            embeddings = self._pca_quantize(torch.relu(embeddings))
        return ExtractorOutput(embeddings=embeddings.float())

    def _pca_quantize(self, embeddings: torch.Tensor) -> torch.Tensor:
        """torchvggish's ``Postprocessor``: PCA with whitening, clip to [-2, 2], quantise to 0..255 (as floats)."""
        projected = (embeddings - self.pca_means.T) @ self.pca_eigen_vectors.T
        return torch.round((projected.clamp(-2.0, 2.0) + 2.0) * (255.0 / 4.0))

    def set_pca_params(self, params, source: str = "the PCA parameters") -> None:
        """Turn on the PCA post-processing with the contents of ``vggish_pca_params-970ea276.pth``
        (``pca_eigen_vectors`` (128, 128), ``pca_means`` (128,); numpy arrays or tensors)."""
        name = official_filename(self.official_pca_params)
        if not isinstance(params, Mapping) or set(params) != {"pca_eigen_vectors", "pca_means"}:
            found = sorted(params) if isinstance(params, Mapping) else type(params).__name__
            raise InvalidInputError(
                f"{source} does not have the layout of the official {name} (keys pca_eigen_vectors, pca_means); "
                f"found {found}"
            )
        vectors = torch.as_tensor(np.asarray(params["pca_eigen_vectors"]), dtype=torch.float32)
        means = torch.as_tensor(np.asarray(params["pca_means"]), dtype=torch.float32).reshape(-1, 1)
        if vectors.shape != (128, 128) or means.shape != (128, 1):
            raise InvalidInputError(
                f"{source} has pca_eigen_vectors {tuple(vectors.shape)} and pca_means of {means.numel()} values; "
                f"expected (128, 128) and 128 as in the official {name}"
            )
        device = self.embeddings[0].weight.device
        self.pca_eigen_vectors, self.pca_means = vectors.to(device), means.to(device)

    @classmethod
    def from_pretrained(
        cls, weights: str | os.PathLike, pca_params: str | os.PathLike | None = None, **hub_kwargs
    ) -> VGGish:
        """The official ``vggish-10086976.pth`` by local path or Hub id (``hub_kwargs``: revision, cache_dir, token,
        local_files_only, filename), and optionally the official PCA file the same way."""
        path = resolve_weights_file(weights, cls.official_weights, "the VGGish weights", dict(hub_kwargs))
        state = load_torch_file(path, "the VGGish weights")
        model = load_strict(cls, state, f"the VGGish weights {path}", cls.official_weights)
        model.weights_source = os.fspath(weights)
        if pca_params is not None:
            pca_path = resolve_weights_file(
                pca_params, cls.official_pca_params, "the VGGish PCA parameters", dict(hub_kwargs)
            )
            with numpy_arrays_allowed():
                params = load_torch_file(pca_path, "the VGGish PCA parameters")
            model.set_pca_params(params, f"the VGGish PCA parameters {pca_path}")
            model.weights_source += f" + PCA {os.fspath(pca_params)}"
        return model

    @classmethod
    def from_random(cls, seed: int = 0) -> VGGish:
        """The same network with seeded random weights (see :func:`seeded_init_`)."""
        with torch.device("meta"):
            model = cls()
        model = seeded_init_(model.to_empty(device="cpu"), seed)
        model.weights_source = f"random(seed={seed})"
        return model.requires_grad_(False).eval()

    def describe(self) -> dict:
        return {
            **super().describe(),
            "reference": "torchvggish 0.2 as audioldm_eval 0.0.3 runs it (no PCA, last ReLU dropped)",
            "postprocess": self.postprocess,
        }


__all__ = [
    "VGGish",
    "log_mel_examples",
    "num_examples",
]
