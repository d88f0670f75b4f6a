"""Training objectives of the codec (AudioGen paper §3.1): reconstruction, adversarial and feature-matching losses.

The generator (the codec) minimises ``λt·L1(x, x̂) + λf·mel(x, x̂) + λg·hinge_G(D(x̂)) + λfeat·feat(D(x), D(x̂))``
plus the quantiser's commitment loss; the discriminator minimises ``hinge_D(D(x), D(x̂))``. With
:class:`GradientBalancer` the λ's set each loss's share of the gradient reaching the decoded waveform instead of
multiplying raw loss values, which is how audiocraft trains its EnCodec models (weights adv 4, feat 4, l1 0.1,
msspec 2).

All waveforms are ``(batch, channels, samples)`` tensors.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers.audio_utils import mel_filter_bank

# The adversarial terms are shared with GenAU's losses; the codec trains with their audiocraft variants.
from ..training.adversarial import discriminator_hinge_loss, feature_matching_loss, generator_hinge_loss  # noqa: F401
from ..validation import InvalidInputError


def _check_pair(prediction: torch.Tensor, target: torch.Tensor) -> None:
    if prediction.shape != target.shape:
        raise InvalidInputError(
            f"prediction and target must have the same shape, got {tuple(prediction.shape)} and {tuple(target.shape)}"
        )


def l1_waveform_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error between two waveforms (the paper's time-domain loss ``ℓt``)."""
    _check_pair(prediction, target)
    return F.l1_loss(prediction, target)


class MultiScaleMelLoss(nn.Module):
    r"""Multi-scale mel-spectrogram loss (paper eq. 1): for window sizes ``2**i``, ``i`` in ``[min_exponent,
    max_exponent]``, hop ``2**i // 4`` and ``n_mels`` bins, ``L1(mel(x), mel(x̂)) + alpha · MSE(log mel(x), log mel(x̂))``,
    averaged over the scales.

    The L2 term compares log-mels (as in Gritsenko et al. 2020 and audiocraft) so that quiet, high-frequency detail
    counts as much as loud low-frequency energy; the paper sets ``alpha = 1``. Spectrograms use a Hann window and a
    normalised STFT. Filters come from ``transformers.audio_utils.mel_filter_bank`` (HTK scale, no area norm).

    Example:

    ```python
    >>> import torch
    >>> from hf_audiogen.codec.losses import MultiScaleMelLoss
    >>> loss = MultiScaleMelLoss(sampling_rate=16000)
    >>> x = torch.randn(2, 1, 16000)
    >>> float(loss(x, x))
    0.0
    ```
    """

    def __init__(
        self,
        sampling_rate: int,
        n_mels: int = 64,
        min_exponent: int = 5,
        max_exponent: int = 11,
        alpha: float = 1.0,
        floor: float = 1e-5,
    ):
        super().__init__()
        if sampling_rate <= 0:
            raise InvalidInputError(f"sampling_rate must be positive, got {sampling_rate}")
        if not 2 <= min_exponent <= max_exponent:
            raise InvalidInputError(
                f"need 2 <= min_exponent <= max_exponent, got min_exponent={min_exponent}, max_exponent={max_exponent}"
            )
        if n_mels < 1 or alpha < 0 or floor <= 0:
            raise InvalidInputError(f"need n_mels >= 1, alpha >= 0, floor > 0; got {n_mels}, {alpha}, {floor}")
        self.sampling_rate = sampling_rate
        self.alpha = alpha
        self.floor = floor
        self.n_ffts = [2**i for i in range(min_exponent, max_exponent + 1)]
        for n_fft in self.n_ffts:
            with warnings.catch_warnings():
                # The smallest windows have fewer FFT bins than mel bands, so some bands are empty: harmless here
                # (an empty band is zero for both signals), and the paper uses these scales anyway.
                warnings.simplefilter("ignore", UserWarning)
                filters = mel_filter_bank(
                    num_frequency_bins=n_fft // 2 + 1,
                    num_mel_filters=n_mels,
                    min_frequency=0.0,
                    max_frequency=sampling_rate / 2,
                    sampling_rate=sampling_rate,
                    dtype=np.float32,
                )
            # persistent=False: derived constants, rebuilt from the arguments, never checkpointed.
            self.register_buffer(f"mel_filters_{n_fft}", torch.from_numpy(filters), persistent=False)
            self.register_buffer(f"window_{n_fft}", torch.hann_window(n_fft), persistent=False)

    def mel_spectrogram(self, waveform: torch.Tensor, n_fft: int) -> torch.Tensor:
        """``(batch, channels, samples)`` -> ``(batch * channels, frames, n_mels)`` magnitude mel spectrogram."""
        hop = n_fft // 4
        flat = waveform.reshape(-1, waveform.shape[-1]).float()
        # Zero-pad instead of reflect so any clip longer than one hop works; the frames cover the whole clip.
        flat = F.pad(flat, ((n_fft - hop) // 2, (n_fft - hop + 1) // 2))
        spec = torch.stft(
            flat,
            n_fft,
            hop_length=hop,
            win_length=n_fft,
            window=getattr(self, f"window_{n_fft}"),
            center=False,
            normalized=True,
            return_complex=True,
        ).abs()
        return spec.transpose(1, 2) @ getattr(self, f"mel_filters_{n_fft}")

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(prediction, target)
        total = prediction.new_zeros((), dtype=torch.float32)
        for n_fft in self.n_ffts:
            mel_prediction = self.mel_spectrogram(prediction, n_fft)
            mel_target = self.mel_spectrogram(target, n_fft)
            log_prediction = torch.log10(mel_prediction.clamp(min=self.floor))
            log_target = torch.log10(mel_target.clamp(min=self.floor))
            total = total + F.l1_loss(mel_prediction, mel_target) + self.alpha * F.mse_loss(log_prediction, log_target)
        return total / len(self.n_ffts)


# ----------------------------------------------------------------------------------------------- gradient balancer
class GradientBalancer:
    r"""Combine losses by their share of the gradient on a shared tensor (audiocraft's ``Balancer``, re-derived).

    For every loss ``ℓ_k`` with weight ``w_k``, take ``g_k = ∂ℓ_k/∂y`` where ``y`` is the decoded waveform, track an
    exponential moving average ``n_k`` of its norm, and send ``total_norm · Σ_k (w_k / Σw) · g_k / n_k`` back through
    the model. A loss's weight thus sets its fraction of the gradient whatever its raw scale, so the adversarial
    losses cannot drown the reconstruction losses (or vice versa) as training moves their magnitudes.

    :meth:`surrogate_loss` returns ``Σ y · g.detach()``, a scalar whose gradient w.r.t. ``y`` is the balanced ``g``,
    so the caller still backpropagates with ``accelerator.backward`` (mixed-precision scaling and gradient
    accumulation keep working).

    Args:
        weights: loss name -> weight. Losses passed to :meth:`surrogate_loss` must be a subset of these names.
        total_norm: norm of the combined gradient (per batch item if ``per_batch_item``).
        ema_decay: decay of the gradient-norm moving averages.
        per_batch_item: measure norms per batch item and average them (as audiocraft) instead of over the batch.
        norm_reduce: called on the stacked norms before they update the averages, e.g. ``lambda t:
            accelerator.reduce(t, "mean")`` so that every process scales its gradients identically.

    Example:

    ```python
    >>> import torch
    >>> from hf_audiogen.codec.losses import GradientBalancer
    >>> balancer = GradientBalancer({"l1": 0.1, "mel": 2.0})
    >>> y = torch.randn(2, 1, 100, requires_grad=True)
    >>> balancer.surrogate_loss({"l1": y.abs().mean(), "mel": (y**2).mean()}, y).backward()
    >>> y.grad.shape
    torch.Size([2, 1, 100])
    ```
    """

    def __init__(
        self,
        weights: Mapping[str, float],
        total_norm: float = 1.0,
        ema_decay: float = 0.999,
        per_batch_item: bool = True,
        epsilon: float = 1e-12,
        norm_reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise InvalidInputError(f"weights must be non-negative with a positive sum, got {dict(weights)}")
        if not 0.0 <= ema_decay < 1.0:
            raise InvalidInputError(f"ema_decay must be in [0, 1), got {ema_decay}")
        if total_norm <= 0:
            raise InvalidInputError(f"total_norm must be positive, got {total_norm}")
        self.weights = dict(weights)
        self.total_norm = total_norm
        self.ema_decay = ema_decay
        self.per_batch_item = per_batch_item
        self.epsilon = epsilon
        self.norm_reduce = norm_reduce
        # Bias-corrected EMA (as Adam's moments): sum of decayed norms and sum of decayed weights per loss.
        self._norm_sums: dict[str, float] = {}
        self._weight_sums: dict[str, float] = {}

    def _gradient_norm(self, gradient: torch.Tensor) -> torch.Tensor:
        if self.per_batch_item:
            return gradient.flatten(1).norm(dim=1).mean()
        return gradient.norm()

    def surrogate_loss(self, losses: Mapping[str, torch.Tensor], output: torch.Tensor) -> torch.Tensor:
        """Scalar to backpropagate instead of the weighted loss sum (see the class docstring)."""
        unknown = sorted(set(losses) - set(self.weights))
        if unknown:
            raise InvalidInputError(f"losses {unknown} have no weight; weighted losses are {sorted(self.weights)}")
        names = [name for name in losses if self.weights[name] > 0]
        if not names:
            raise InvalidInputError(f"all of {sorted(losses)} have weight 0: nothing to backpropagate")
        gradients = []
        for name in names:
            # One call per loss: autograd.grad on several outputs would return the gradient of their sum.
            # allow_unused: a loss may not depend on `output` (then its gradient is zero, not an error).
            (gradient,) = torch.autograd.grad(losses[name], output, retain_graph=True, allow_unused=True)
            gradients.append(torch.zeros_like(output) if gradient is None else gradient)
        norms = torch.stack([self._gradient_norm(g.float()) for g in gradients]).detach()
        if self.norm_reduce is not None:
            norms = self.norm_reduce(norms)
        total_weight = sum(self.weights[n] for n in names)
        combined = torch.zeros_like(output)
        for name, gradient, norm in zip(names, gradients, norms.tolist()):
            self._norm_sums[name] = self.ema_decay * self._norm_sums.get(name, 0.0) + norm
            self._weight_sums[name] = self.ema_decay * self._weight_sums.get(name, 0.0) + 1.0
            average_norm = self._norm_sums[name] / self._weight_sums[name]
            scale = self.total_norm * self.weights[name] / total_weight / (average_norm + self.epsilon)
            combined = combined + scale * gradient
        return (output * combined.detach()).sum()

    def state_dict(self) -> dict:
        return {"norm_sums": dict(self._norm_sums), "weight_sums": dict(self._weight_sums)}

    def load_state_dict(self, state: Mapping) -> None:
        self._norm_sums = dict(state["norm_sums"])
        self._weight_sums = dict(state["weight_sums"])
