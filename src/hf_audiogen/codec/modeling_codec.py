"""EnCodec-style neural audio codec: SEANet encoder -> residual vector quantizer (RVQ) -> SEANet decoder.

The SEANet encoder and decoder are transformers' own EnCodec blocks (``EncodecEncoder`` / ``EncodecDecoder``), built
from a ``CodecConfig`` whose field names match ``EncodecConfig``. The residual vector quantizer is written here because
transformers' EnCodec can only run a trained codebook: it has no k-means initialisation, EMA codebook updates,
dead-code replacement, commitment loss or straight-through estimator. Buffer names follow ``EncodecModel``
(``quantizer.layers.i.codebook.{inited,cluster_size,embed,embed_avg}``), so an ``EncodecModel`` state dict loads into
``CodecModel`` with ``strict=True`` and back.

Read top to bottom: small pure functions for the codebook maths, the codebook, one quantizer, the residual quantizer,
then the pretrained-model base and ``CodecModel``.
"""

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

# diffusers loads a pipeline component saved as ("hf_audiogen.codec.modeling_codec", "CodecModel") with the loader of
# a base class it finds by name in this module (PreTrainedModel -> from_pretrained): Audio-Journey holds a codec.
from transformers import PreTrainedModel  # noqa: F401
from transformers import initialization as init
from transformers.modeling_utils import PreTrainedAudioTokenizerBase
from transformers.models.encodec.modeling_encodec import (
    EncodecConv1d,
    EncodecDecoder,
    EncodecEncoder,
    EncodecEuclideanCodebook,
)
from transformers.utils import ModelOutput, logging

from ..loading import StrictLoadingMixin
from ..validation import InvalidInputError
from .configuration_codec import CodecConfig

logger = logging.get_logger(__name__)


# ---------------------------------------------------------------------------------------------------------------------
# Codebook maths (pure functions, each used by the codebook below)
# ---------------------------------------------------------------------------------------------------------------------
def ema_inplace(moving_avg: torch.Tensor, new: torch.Tensor, decay: float) -> None:
    """``moving_avg <- decay * moving_avg + (1 - decay) * new``, in place."""
    moving_avg.mul_(decay).add_(new, alpha=1 - decay)


def laplace_smoothing(counts: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Additive smoothing of counts so that no cluster size is zero (it divides the EMA sums)."""
    return (counts + epsilon) / (counts.sum() + counts.numel() * epsilon) * counts.sum()


def sample_vectors(samples: torch.Tensor, num: int) -> torch.Tensor:
    """``num`` rows of ``samples`` (N, D): without replacement if there are enough rows, else with replacement."""
    if samples.shape[0] >= num:
        indices = torch.randperm(samples.shape[0], device=samples.device)[:num]
    else:
        indices = torch.randint(0, samples.shape[0], (num,), device=samples.device)
    return samples[indices]


def kmeans(samples: torch.Tensor, num_clusters: int, num_iters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means on rows of ``samples`` (N, D), squared Euclidean distance.

    Returns the means (num_clusters, D) and the number of samples in each cluster (num_clusters,). An empty cluster
    keeps its previous mean.
    """
    means = sample_vectors(samples, num_clusters)
    bins = torch.zeros(num_clusters, dtype=samples.dtype, device=samples.device)
    for _ in range(num_iters):
        distances = torch.cdist(samples, means).square()
        assignment = distances.argmin(dim=-1)
        bins = torch.bincount(assignment, minlength=num_clusters).to(samples.dtype)
        sums = torch.zeros_like(means).index_add_(0, assignment, samples)
        empty = bins == 0
        means = torch.where(empty[:, None], means, sums / bins.clamp(min=1)[:, None])
    return means, bins


# ---------------------------------------------------------------------------------------------------------------------
# The same codebook on every process (pure functions; each is the identity, or a plain call, with one process)
# ---------------------------------------------------------------------------------------------------------------------
def is_distributed() -> bool:
    """Whether several processes train together (``torch.distributed`` initialised with a world size above 1)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum_(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over processes, in place: the count or sum a single process would get from every batch."""
    if is_distributed():
        dist.all_reduce(tensor)
    return tensor


def gather_rows(samples: torch.Tensor) -> torch.Tensor:
    """Every process's rows of ``samples`` (N_p, D), concatenated in rank order; N_p may differ between processes
    (frames of padding are left out), so each process pads to the longest before the gather."""
    if not is_distributed():
        return samples
    sizes = [torch.zeros(1, dtype=torch.long, device=samples.device) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, torch.tensor([samples.shape[0]], dtype=torch.long, device=samples.device))
    longest = int(max(size.item() for size in sizes))
    padded = samples.new_zeros(longest, samples.shape[1])
    padded[: samples.shape[0]] = samples
    gathered = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(gathered, padded)
    return torch.cat([rows[: int(size.item())] for rows, size in zip(gathered, sizes)])


def from_rank_zero(compute, *shapes_and_dtypes, device) -> tuple[torch.Tensor, ...]:
    """``compute()``'s tensors, computed by rank 0 alone and broadcast: random draws (k-means seeds, dead-code
    replacements) are made once, from one RNG, so every process holds the same codebook."""
    if not is_distributed():
        return compute()
    if dist.get_rank() == 0:
        results = tuple(t.contiguous() for t in compute())
    else:
        results = tuple(torch.empty(shape, dtype=dtype, device=device) for shape, dtype in shapes_and_dtypes)
    for tensor in results:
        dist.broadcast(tensor, src=0)
    return results


# ---------------------------------------------------------------------------------------------------------------------
# Quantizer
# ---------------------------------------------------------------------------------------------------------------------
class CodecEuclideanCodebook(EncodecEuclideanCodebook):
    """EnCodec's Euclidean codebook (same buffers, same nearest-code search) plus the training updates.

    In training mode the quantizer calls ``init_embed_`` (k-means on the first batch) and then ``update_`` on every
    batch: every code moves towards the mean of the vectors assigned to it (exponential moving averages of the
    assignment counts ``cluster_size`` and vector sums ``embed_avg``, ``embed = embed_avg / cluster_size``), and codes
    that are rarely used ("dead") are replaced by vectors of the current batch.
    """

    def __init__(self, config: CodecConfig):
        super().__init__(config)
        self.decay = config.ema_decay
        self.epsilon = config.laplace_smoothing_epsilon
        self.kmeans_iters = config.kmeans_iters
        self.threshold_ema_dead_code = config.threshold_ema_dead_code
        # EnCodec's inference-only codebook starts "inited"; ours waits for k-means unless that is switched off.
        self.inited.fill_(0.0 if config.kmeans_init else 1.0)
        if not config.kmeans_init:
            nn.init.kaiming_uniform_(self.embed)
            self.embed_avg.copy_(self.embed)

    @torch.no_grad()
    def init_embed_(self, vectors: torch.Tensor) -> None:
        """K-means initialisation from a batch of vectors (N, D); no-op once initialised.

        With several processes, k-means runs on rank 0 over every process's vectors (in rank order, the batch one
        process would see) and its result is broadcast: every process starts from the same codebook.
        """
        if self.inited.item():
            return
        vectors = gather_rows(vectors)
        if vectors.shape[0] == 0:  # no real frame on any process: wait for a batch that has some
            return
        shape, dtype = (self.codebook_size, vectors.shape[1]), vectors.dtype
        means, bins = from_rank_zero(
            lambda: kmeans(vectors, self.codebook_size, self.kmeans_iters),
            (shape, dtype),
            (shape[:1], dtype),
            device=vectors.device,
        )
        self.embed.copy_(means)
        # Sums, not means (audiocraft stores the means here): keeps embed == embed_avg / cluster_size from the start,
        # instead of shrinking every code by its cluster size at the first EMA update.
        self.embed_avg.copy_(means * bins[:, None])
        self.cluster_size.copy_(bins)
        self.inited.fill_(1.0)

    @torch.no_grad()
    def update_(self, vectors: torch.Tensor, codes: torch.Tensor) -> None:
        """EMA update of the codebook from vectors (N, D) and their codes (N,), then dead-code replacement.

        With several processes the batch's counts and sums are summed over processes before the EMA update (one
        process with the whole batch would count them all), so every process keeps the same codebook.
        """
        onehot = F.one_hot(codes, self.codebook_size).to(vectors.dtype)
        counts, sums = all_reduce_sum_(onehot.sum(0)), all_reduce_sum_(onehot.t() @ vectors)
        if is_distributed() and counts.sum() == 0:  # no real frame on any process (one process never gets here)
            return
        ema_inplace(self.cluster_size, counts, self.decay)
        ema_inplace(self.embed_avg, sums, self.decay)
        cluster_size = laplace_smoothing(self.cluster_size, self.epsilon)
        self.embed.copy_(self.embed_avg / cluster_size[:, None])
        self.expire_codes_(vectors)

    @torch.no_grad()
    def expire_codes_(self, vectors: torch.Tensor) -> None:
        """Replace codes whose EMA usage fell below the threshold by random batch vectors.

        The EMA statistics of a replaced code are reset to "used ``threshold`` times at that vector", so the next EMA
        update keeps the new vector instead of overwriting it with the stale average. With several processes the
        usage is already summed over them (every process finds the same dead codes), and rank 0 draws the
        replacements from every process's vectors.
        """
        dead = self.cluster_size < self.threshold_ema_dead_code
        if not dead.any():
            return
        vectors = gather_rows(vectors)
        (replacements,) = from_rank_zero(
            lambda: (sample_vectors(vectors, self.codebook_size),),
            ((self.codebook_size, vectors.shape[1]), vectors.dtype),
            device=vectors.device,
        )
        self.embed.copy_(torch.where(dead[:, None], replacements, self.embed))
        self.cluster_size.masked_fill_(dead, self.threshold_ema_dead_code)
        self.embed_avg.copy_(torch.where(dead[:, None], replacements * self.threshold_ema_dead_code, self.embed_avg))


class CodecVectorQuantization(nn.Module):
    """One quantizer stage: nearest code of each frame latent, with the codebook's training updates."""

    def __init__(self, config: CodecConfig):
        super().__init__()
        self.codebook = CodecEuclideanCodebook(config)

    def encode(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, D, F) latents -> (B, F) codes."""
        return self.codebook.encode(latents.transpose(1, 2))

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, F) codes -> (B, D, F) code vectors."""
        return self.codebook.decode(codes).transpose(1, 2)

    def forward(self, latents: torch.Tensor, frame_mask: torch.Tensor | None = None):
        """Quantize (B, D, F) latents; in training mode also initialise / update the codebook.

        Only frames where ``frame_mask`` (B, F) is true feed the codebook statistics, so padding does not pull codes
        towards silence. Returns (quantized (B, D, F), codes (B, F)).
        """
        vectors = latents.detach().transpose(1, 2)  # (B, F, D)
        if not self.training:
            codes = self.codebook.encode(vectors)
            return self.decode(codes), codes

        used = vectors.reshape(-1, vectors.shape[-1]) if frame_mask is None else vectors[frame_mask]
        # With several processes every one joins the codebook's collectives, even with no real frame of its own.
        updates = used.shape[0] > 0 or is_distributed()
        if updates:
            self.codebook.init_embed_(used)
        codes = self.codebook.encode(vectors)
        quantized = self.decode(codes)  # with the codebook before this batch's update, as the loss expects
        if updates:
            self.codebook.update_(used, codes.reshape(-1) if frame_mask is None else codes[frame_mask])
        return quantized, codes


class ResidualVectorQuantizer(nn.Module):
    """Residual vector quantizer: stage ``k`` quantizes what stages ``0..k-1`` left over (Zeghidour et al. 2021).

    In training mode the codebooks learn by EMA (no gradient), the commitment loss pulls the encoder output towards
    its quantization, and a straight-through estimator passes the decoder's gradient to the encoder.

    Example:

    ```python
    >>> import torch
    >>> from hf_audiogen.codec import CodecConfig, ResidualVectorQuantizer
    >>> rvq = ResidualVectorQuantizer(CodecConfig(hidden_size=8, codebook_size=16, num_quantizers=2, kmeans_iters=2))
    >>> quantized, codes, loss = rvq(torch.randn(2, 8, 30))  # training mode: k-means init on this batch
    >>> codes.shape, bool(rvq.layers[0].codebook.inited)
    (torch.Size([2, 2, 30]), True)
    ```
    """

    def __init__(self, config: CodecConfig):
        super().__init__()
        self.num_quantizers = config.num_quantizers
        self.codebook_size = config.codebook_size
        self.commitment_weight = config.commitment_weight
        self.quantizer_dropout = config.quantizer_dropout
        self.layers = nn.ModuleList([CodecVectorQuantization(config) for _ in range(config.num_quantizers)])

    def _check_num_quantizers(self, num_quantizers: int | None) -> int:
        if num_quantizers is None:
            return self.num_quantizers
        if isinstance(num_quantizers, bool) or not isinstance(num_quantizers, int):
            raise InvalidInputError(
                f"num_quantizers must be an int in [1, {self.num_quantizers}], got {num_quantizers!r}"
            )
        if not 1 <= num_quantizers <= self.num_quantizers:
            raise InvalidInputError(f"num_quantizers must be in [1, {self.num_quantizers}], got {num_quantizers}")
        return num_quantizers

    @property
    def is_initialized(self) -> bool:
        """Whether every codebook holds trained or k-means-initialised codes."""
        return all(bool(layer.codebook.inited.item()) for layer in self.layers)

    def forward(self, latents: torch.Tensor, num_quantizers: int | None = None, frame_mask: torch.Tensor | None = None):
        """Quantize (B, D, F) latents.

        Returns ``(quantized (B, D, F), codes (B, K, F), commitment_loss)``. In training mode ``quantized`` carries the
        straight-through gradient to ``latents``, and with ``quantizer_dropout`` K is drawn uniformly in
        1..num_quantizers unless ``num_quantizers`` is given. In eval mode ``quantized`` equals
        ``codes_to_latents(encode(latents))``.
        """
        if num_quantizers is None and self.training and self.quantizer_dropout:
            # One draw for all processes (as one process draws one for the whole batch); the codebooks' collectives
            # would otherwise wait forever on a process that skipped a stage.
            (drawn,) = from_rank_zero(
                lambda: (torch.randint(1, self.num_quantizers + 1, (1,)).to(latents.device),),
                ((1,), torch.long),
                device=latents.device,
            )
            num_quantizers = int(drawn.item())
        num_quantizers = self._check_num_quantizers(num_quantizers)

        residual = latents
        quantized_sum = torch.zeros_like(latents)
        all_codes, losses = [], []
        for layer in self.layers[:num_quantizers]:
            quantized, codes = layer(residual, frame_mask=frame_mask)
            if self.training:
                losses.append(_masked_mse(residual, quantized.detach(), frame_mask))
            residual = residual - quantized
            quantized_sum = quantized_sum + quantized
            all_codes.append(codes)

        if self.training:
            # Straight-through on the *sum* (not per stage): the decoder's gradient reaches the encoder unchanged.
            quantized_sum = latents + (quantized_sum - latents).detach()
            commitment_loss = torch.stack(losses).mean() * self.commitment_weight
        else:
            commitment_loss = torch.zeros((), device=latents.device, dtype=latents.dtype)
        return quantized_sum, torch.stack(all_codes, dim=1), commitment_loss

    def encode(self, latents: torch.Tensor, num_quantizers: int | None = None) -> torch.Tensor:
        """(B, D, F) latents -> (B, K, F) codes. Never changes the codebooks."""
        num_quantizers = self._check_num_quantizers(num_quantizers)
        residual = latents
        all_codes = []
        for layer in self.layers[:num_quantizers]:
            codes = layer.encode(residual)
            residual = residual - layer.decode(codes)
            all_codes.append(codes)
        return torch.stack(all_codes, dim=1)

    def codes_to_latents(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, K, F) codes -> (B, D, F) quantized latents (sum of the K code vectors); K may be < num_quantizers."""
        if codes.dim() != 3:
            raise InvalidInputError(f"codes must have shape (batch, num_codebooks, frames), got {tuple(codes.shape)}")
        if codes.dtype not in (torch.int64, torch.int32):
            raise InvalidInputError(f"codes must be an integer tensor (torch.long), got dtype {codes.dtype}")
        self._check_num_quantizers(codes.shape[1])
        if codes.numel() and (codes.min() < 0 or codes.max() >= self.codebook_size):
            raise InvalidInputError(
                f"codes must be in [0, {self.codebook_size}), got values in [{int(codes.min())}, {int(codes.max())}]"
            )
        quantized = self.layers[0].decode(codes[:, 0])
        for k in range(1, codes.shape[1]):
            quantized = quantized + self.layers[k].decode(codes[:, k])
        return quantized


def _masked_mse(prediction: torch.Tensor, target: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
    """MSE over (B, D, F) tensors, restricted to frames where ``frame_mask`` (B, F) is true."""
    if frame_mask is None:
        return F.mse_loss(prediction, target)
    weights = frame_mask[:, None, :].to(prediction.dtype)
    total = weights.sum() * prediction.shape[1]
    return ((prediction - target).square() * weights).sum() / total.clamp(min=1)


# ---------------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class CodecOutput(ModelOutput):
    """Output of [`CodecModel.forward`].

    Args:
        audio_values (`torch.FloatTensor` of shape `(batch, channels, samples)`): reconstructed audio, same length as
            the input.
        audio_codes (`torch.LongTensor` of shape `(batch, num_codebooks, frames)`): the codes (frames = ceil(samples /
            hop_length)).
        commitment_loss (`torch.FloatTensor`, scalar): weighted commitment loss (0 in eval mode).
        latents (`torch.FloatTensor` of shape `(batch, hidden_size, frames)`): encoder output.
        quantized_latents (`torch.FloatTensor` of shape `(batch, hidden_size, frames)`): quantizer output (with the
            straight-through gradient in training mode).
    """

    audio_values: torch.FloatTensor | None = None
    audio_codes: torch.LongTensor | None = None
    commitment_loss: torch.FloatTensor | None = None
    latents: torch.FloatTensor | None = None
    quantized_latents: torch.FloatTensor | None = None


class CodecPreTrainedModel(StrictLoadingMixin, PreTrainedAudioTokenizerBase):
    config: CodecConfig
    base_model_prefix = "codec"
    main_input_name = "input_values"
    # No attention layers, so any attention implementation a parent model (AudioGen) dispatches applies trivially.
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
            _init_conv_like_torch(module)
        elif isinstance(module, EncodecConv1d):
            # Non-persistent buffers: recomputed here because a model built on the meta device has none.
            kernel_size, stride, dilation = module.conv.kernel_size[0], module.conv.stride[0], module.conv.dilation[0]
            effective_kernel = (kernel_size - 1) * dilation + 1
            init.copy_(module.stride, torch.tensor(stride, dtype=torch.int64))
            init.copy_(module.kernel_size, torch.tensor(effective_kernel, dtype=torch.int64))
            init.copy_(module.padding_total, torch.tensor(effective_kernel - stride, dtype=torch.int64))
        elif isinstance(module, CodecEuclideanCodebook):
            kmeans_init = self.config.kmeans_init
            init.copy_(module.inited, torch.tensor([0.0 if kmeans_init else 1.0]))
            init.zeros_(module.cluster_size)
            if kmeans_init:
                init.zeros_(module.embed)
            else:
                init.kaiming_uniform_(module.embed)
            init.copy_(module.embed_avg, module.embed)
        else:
            super()._init_weights(module)  # LSTM (xavier), GroupNorm (ones / zeros)


def _init_conv_like_torch(conv: nn.Conv1d | nn.ConvTranspose1d) -> None:
    """PyTorch's default convolution init, which audiocraft's codecs train from.

    Written out because the base class would draw N(0, 0.02) weights, which shrink the signal through the ~20 layers
    of SEANet, and because a weight-normed convolution stores its weight as direction ``original1`` and norm
    ``original0``: the norm must be that of the direction.
    """
    if parametrize.is_parametrized(conv, "weight"):
        magnitude, direction = conv.parametrizations.weight.original0, conv.parametrizations.weight.original1
        init.kaiming_uniform_(direction, a=math.sqrt(5))
        init.copy_(magnitude, torch._weight_norm_interface(direction, torch.ones_like(magnitude), 0)[1])
        weight = direction
    else:
        init.kaiming_uniform_(conv.weight, a=math.sqrt(5))
        weight = conv.weight
    if conv.bias is not None:
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        init.uniform_(conv.bias, -bound, bound)


class CodecModel(CodecPreTrainedModel):
    """EnCodec-style codec: audio (B, C, T) <-> codes (B, K, ceil(T / hop_length)).

    ``encode``/``decode`` map audio to codes and back, ``encode_latents``/``decode_latents`` use the continuous latent
    instead, and ``forward`` runs the whole auto-encoder (in training mode with the quantizer's training updates,
    commitment loss and straight-through gradient).

    Example:

    ```python
    >>> import torch
    >>> from hf_audiogen.codec import CodecConfig, CodecModel
    >>> config = CodecConfig.audiocraft_audiogen_16khz(num_filters=4, hidden_size=8, codebook_size=16, kmeans_iters=2)
    >>> model = CodecModel(config)
    >>> audio = torch.randn(2, 1, 16000)
    >>> output = model(audio)                 # training mode: the codebooks are k-means initialised on this batch
    >>> model = model.eval()
    >>> codes = model.encode(audio)           # (2, 4, 50)
    >>> model.decode(codes).shape
    torch.Size([2, 1, 16000])
    ```
    """

    def __init__(self, config: CodecConfig):
        super().__init__(config)
        self.encoder = EncodecEncoder(config)
        self.decoder = EncodecDecoder(config)
        self.quantizer = ResidualVectorQuantizer(config)
        self.post_init()

    # --- input checks -----------------------------------------------------------------------------------------------
    def _prepare_input(self, input_values: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        """Validate (B, T) or (B, C, T) audio and zero the padded samples; returns (B, C, T)."""
        if not isinstance(input_values, torch.Tensor):
            raise InvalidInputError(f"input_values must be a torch.Tensor, got {type(input_values).__name__}")
        if not input_values.is_floating_point():
            raise InvalidInputError(f"input_values must be a float tensor, got dtype {input_values.dtype}")
        if input_values.dim() == 2 and self.config.audio_channels == 1:
            input_values = input_values[:, None, :]
        if input_values.dim() != 3 or input_values.shape[1] != self.config.audio_channels:
            raise InvalidInputError(
                f"input_values must have shape (batch, {self.config.audio_channels}, samples)"
                + (" or (batch, samples)" if self.config.audio_channels == 1 else "")
                + f", got {tuple(input_values.shape)}"
            )
        if input_values.shape[0] == 0 or input_values.shape[-1] == 0:
            raise InvalidInputError(f"input_values is empty: shape {tuple(input_values.shape)}")
        if not torch.isfinite(input_values).all():
            bad = int((~torch.isfinite(input_values)).sum())
            raise InvalidInputError(f"input_values must be finite audio samples, got {bad} NaN/inf sample(s)")
        if padding_mask is not None:
            mask = self._prepare_padding_mask(padding_mask, input_values)
            input_values = input_values * mask[:, None, :].to(input_values.dtype)
        return input_values

    @staticmethod
    def _prepare_padding_mask(padding_mask: torch.Tensor, input_values: torch.Tensor) -> torch.Tensor:
        """(B, T) or (B, 1, T) mask -> (B, T) bool."""
        mask = padding_mask.reshape(padding_mask.shape[0], -1) if padding_mask.dim() == 3 else padding_mask
        if mask.dim() != 2 or mask.shape != (input_values.shape[0], input_values.shape[-1]):
            raise InvalidInputError(
                f"padding_mask must have shape (batch, samples) = ({input_values.shape[0]}, "
                f"{input_values.shape[-1]}), got {tuple(padding_mask.shape)}"
            )
        return mask.bool()

    def _frame_mask(self, padding_mask: torch.Tensor | None, input_values: torch.Tensor) -> torch.Tensor | None:
        """(B, F) bool: frames that contain at least one real (non-padding) sample."""
        if padding_mask is None:
            return None
        mask = self._prepare_padding_mask(padding_mask, input_values).to(input_values.dtype)
        hop = self.config.hop_length
        return F.max_pool1d(mask[:, None, :], hop, hop, ceil_mode=True)[:, 0].bool()

    # --- continuous latents -----------------------------------------------------------------------------------------
    def encode_latents(self, input_values: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Audio (B, C, T) or (B, T) -> continuous encoder latents (B, hidden_size, ceil(T / hop_length))."""
        return self.encoder(self._prepare_input(input_values, padding_mask))

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (B, hidden_size, F) -> audio (B, C, F * hop_length)."""
        if latents.dim() != 3 or latents.shape[1] != self.config.hidden_size:
            raise InvalidInputError(
                f"latents must have shape (batch, {self.config.hidden_size}, frames), got {tuple(latents.shape)}"
            )
        return self.decoder(latents)

    # --- discrete codes ---------------------------------------------------------------------------------------------
    def encode(
        self,
        input_values: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
        num_quantizers: int | None = None,
    ) -> torch.LongTensor:
        """Audio (B, C, T) or (B, T) -> codes (B, K, ceil(T / hop_length)); K = ``num_quantizers`` or all.

        Deterministic and side-effect free in both train and eval mode (the codebooks only learn in ``forward``).
        """
        if not self.quantizer.is_initialized:
            logger.warning_once(
                "CodecModel.encode: some codebooks are not initialised yet (k-means runs on the first training "
                "forward), so the codes are meaningless. Load a trained codec or train this one first."
            )
        latents = self.encode_latents(input_values, padding_mask)
        return self.quantizer.encode(latents, num_quantizers)

    def decode(self, audio_codes: torch.LongTensor) -> torch.FloatTensor:
        """Codes (B, K, F) -> audio (B, C, F * hop_length). K may be smaller than ``num_quantizers``."""
        return self.decoder(self.quantizer.codes_to_latents(audio_codes))

    def forward(
        self,
        input_values: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
        num_quantizers: int | None = None,
        return_dict: bool | None = None,
    ) -> CodecOutput | tuple:
        r"""Encode, quantize and decode ``input_values`` (B, C, T) or (B, T).

        Args:
            input_values: float audio in [-1, 1].
            padding_mask: (B, T) or (B, 1, T), 1 for real samples, 0 for padding. Padded samples are zeroed and
                frames made only of padding do not update the codebooks nor count in the commitment loss.
            num_quantizers: use the first K codebooks (default: all, or a random K with quantizer dropout in training).

        Returns:
            [`CodecOutput`] with ``audio_values`` trimmed to T samples.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        input_values = self._prepare_input(input_values, padding_mask)
        frame_mask = self._frame_mask(padding_mask, input_values)
        latents = self.encoder(input_values)
        quantized, codes, commitment_loss = self.quantizer(latents, num_quantizers, frame_mask=frame_mask)
        audio_values = self.decoder(quantized)[..., : input_values.shape[-1]]
        output = CodecOutput(
            audio_values=audio_values,
            audio_codes=codes,
            commitment_loss=commitment_loss,
            latents=latents,
            quantized_latents=quantized,
        )
        return output if return_dict else output.to_tuple()


__all__ = ["CodecModel", "CodecOutput", "CodecPreTrainedModel", "ResidualVectorQuantizer"]
