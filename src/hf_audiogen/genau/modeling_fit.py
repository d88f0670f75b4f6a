"""GenAU's denoiser: a FiT ("Far-reaching Interleaved Transformer") over 1-D VAE latents.

Paper §3.3 and the reference ``FIT`` + ``FITBlockV5`` (``GenAU/src/modules/fit/``). The latent sequence ``(batch,
channels, frames)`` is cut into patches of ``patch_size`` frames, and the patches into contiguous groups of
``group_size`` patches. Every group owns ``latents_per_group`` learned latent tokens. One block runs

1. *local* self-attention + feed-forward inside each group of patches,
2. cross-attention of all latent tokens to the conditioning *context* (text summary, timestep, dataset id tokens),
3. *read*: each group's latent tokens cross-attend to that group's patches,
4. *global* self-attention + feed-forward over all latent tokens (the only place groups exchange information),
5. *write*: each group's patches cross-attend to that group's latent tokens,

and a last block has only the local layers. Everything is pre-norm with residuals; there is no adaLN. Parameter and
buffer names are the reference's (``blocks.{i}.local_layers.{j}.{0,1}``, ``to_q``/``to_kv``/``to_out``,
``norm.gamma``/``norm.beta``, ``time_mlp.0.weights``, ``patches_pe``, ``latents`` ...) so a reference state dict loads
1:1 (the ``model.diffusion_model.`` prefix stripped).

Unlike the reference, which only accepts its configured input length, shorter inputs (a whole number of groups) use
the first groups' positional embeddings and latent tokens, so one model generates any length up to ``sample_size``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin  # keep both names bound: DiffusionPipeline looks them up here
from diffusers.configuration_utils import register_to_config
from diffusers.loaders import PeftAdapterMixin
from diffusers.utils import BaseOutput
from torch import nn

from ..loading import StrictLoadingMixin
from ..validation import InvalidInputError


class RINLayerNorm(nn.Module):
    """LayerNorm with a learned scale ``gamma`` and a fixed zero shift ``beta`` (a buffer, so it is saved).

    Written by hand because ``nn.LayerNorm`` names its parameters ``weight``/``bias`` and trains the bias, while the
    reference (from RIN) keeps the shift at zero and stores it as ``beta``.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))
        self.register_buffer("beta", torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.gamma, self.beta)


class LearnedSinusoidalPosEmb(nn.Module):
    """``t -> [t, sin(2π t w), cos(2π t w)]`` with learned frequencies ``w`` (``dim / 2`` of them), ``dim + 1``
    features. ``t`` is the raw diffusion step (0..999), as in the reference."""

    def __init__(self, dim: int):
        super().__init__()
        if dim % 2:
            raise InvalidInputError(f"time embedding size must be even, got {dim}")
        self.weights = nn.Parameter(torch.randn(dim // 2))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        t = t[:, None]
        freqs = t * self.weights[None, :] * 2 * math.pi
        return torch.cat([t, freqs.sin(), freqs.cos()], dim=-1)


class FiTAttention(nn.Module):
    """Pre-norm multi-head attention with bias-free projections (fused ``to_kv``) and torch SDPA.

    Self-attention when ``context_dim`` is ``None`` (keys/values come from the normalised input); otherwise
    cross-attention to a context that gets its own ``norm_context``.
    """

    def __init__(self, dim: int, heads: int, dim_head: int, context_dim: int | None = None):
        super().__init__()
        self.heads = heads
        inner = heads * dim_head
        self.norm = RINLayerNorm(dim)
        self.norm_context = RINLayerNorm(context_dim) if context_dim is not None else nn.Identity()
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(context_dim if context_dim is not None else dim, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norm(x)
        context = x if context is None else self.norm_context(context)
        k, v = self.to_kv(context).chunk(2, dim=-1)
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (self.to_q(x), k, v))
        out = F.scaled_dot_product_attention(q, k, v)  # default scale dim_head ** -0.5, no mask: as the reference
        return self.to_out(out.transpose(1, 2).flatten(2))


class FiTFeedForward(nn.Module):
    """Pre-norm MLP: ``norm`` -> Linear(dim, mult·dim) -> GELU -> [Dropout] -> Linear -> dim.

    ``with_dropout`` keeps a Dropout module in ``net`` (so the second Linear is ``net.3``, as in the reference's
    local/global feed-forwards, which use dropout) or leaves it out (``net.2``, as in its cross-attention and
    self-conditioning feed-forwards).
    """

    def __init__(self, dim: int, mult: int = 4, dropout: float = 0.0, with_dropout: bool = False):
        super().__init__()
        self.norm = RINLayerNorm(dim)
        layers = [nn.Linear(dim, dim * mult), nn.GELU()]
        if with_dropout:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(dim * mult, dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(x))


class FiTBlock(nn.Module):
    """One FiT block (see the module docstring); ``global_layers == 0`` gives the final local-only block."""

    def __init__(
        self,
        dim: int,
        latent_dim: int,
        context_dim: int,
        local_layers: int,
        global_layers: int,
        heads: int,
        dim_head: int,
        ff_mult: int,
        dropout: float,
    ):
        super().__init__()
        self.global_layers_count = global_layers
        if global_layers > 0:
            self.latents_attend_to_patches = FiTAttention(latent_dim, heads, dim_head, context_dim=dim)
            self.latents_cross_attn_ff = FiTFeedForward(latent_dim, ff_mult)
            self.latents_attend_to_context = FiTAttention(latent_dim, heads, dim_head, context_dim=context_dim)
            self.latents_context_attn_ff = FiTFeedForward(latent_dim, ff_mult)
        if local_layers > 0:
            self.local_layers = nn.ModuleList(
                nn.ModuleList([FiTAttention(dim, heads, dim_head), FiTFeedForward(dim, ff_mult, dropout, True)])
                for _ in range(local_layers)
            )
        if global_layers > 0:
            self.global_layers = nn.ModuleList(
                nn.ModuleList(
                    [FiTAttention(latent_dim, heads, dim_head), FiTFeedForward(latent_dim, ff_mult, dropout, True)]
                )
                for _ in range(global_layers)
            )
            self.patches_attend_to_latents = FiTAttention(dim, heads, dim_head, context_dim=latent_dim)
            self.patches_cross_attn_ff = FiTFeedForward(dim, ff_mult)

    def forward(
        self, patches: torch.Tensor, latents: torch.Tensor, context: torch.Tensor, num_groups: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``patches`` (B, groups·group_size, D), ``latents`` (B, groups·latents_per_group, D_latent), ``context``
        (B, tokens, D_context)."""
        batch = patches.shape[0]
        groups = patches.reshape(batch * num_groups, -1, patches.shape[-1])
        for attn, ff in getattr(self, "local_layers", []):
            groups = groups + attn(groups)
            groups = groups + ff(groups)
        if self.global_layers_count > 0:
            latents = latents + self.latents_attend_to_context(latents, context)
            latents = latents + self.latents_context_attn_ff(latents)
            group_latents = latents.reshape(batch * num_groups, -1, latents.shape[-1])
            group_latents = group_latents + self.latents_attend_to_patches(group_latents, groups)
            group_latents = group_latents + self.latents_cross_attn_ff(group_latents)
            latents = group_latents.reshape(batch, -1, latents.shape[-1])
            for attn, ff in self.global_layers:
                latents = latents + attn(latents)
                latents = latents + ff(latents)
            group_latents = latents.reshape(batch * num_groups, -1, latents.shape[-1])
            groups = groups + self.patches_attend_to_latents(groups, group_latents)
            groups = groups + self.patches_cross_attn_ff(groups)
        return groups.reshape(batch, -1, groups.shape[-1]), latents


@dataclass
class FiTTransformer1DOutput(BaseOutput):
    """
    Args:
        sample (`torch.Tensor` of shape `(batch, in_channels, frames)`): the ε prediction.
        latents (`torch.Tensor` of shape `(batch, latent tokens, latent_hidden_size)`): the final latent tokens
            (the reference feeds them back as self-conditioning; see ``use_self_conditioning``).
    """

    sample: torch.Tensor
    latents: torch.Tensor | None = None


# Named presets. "genau-s"/"genau-l" follow the paper (patch 1, group 32, 256 latent tokens for 10.24 s, FiT sizes
# ~493M/~1.25B parameters); the released widths/depths live only in the hub configs, which are not available here,
# so these sizes are guesses that reproduce the parameter counts (493.4M and 1242.1M). "genau-sample" is the
# repository's sample config (GenAU/settings/simple_runs/genau.yaml, 70.1M parameters, same count as the reference).
FIT_PRESETS: dict[str, dict] = {
    "genau-sample": dict(
        patch_size=2,
        group_size=16,
        num_latents=64,
        hidden_size=512,
        latent_hidden_size=512,
        context_dim=1024,
        num_blocks=2,
        local_layers_per_block=2,
        global_layers_per_block=4,
        num_attention_heads=8,
    ),
    "genau-s": dict(
        patch_size=1,
        group_size=32,
        num_latents=256,
        hidden_size=1024,
        latent_hidden_size=1024,
        context_dim=1024,
        num_blocks=4,
        local_layers_per_block=2,
        global_layers_per_block=4,
        num_attention_heads=16,
    ),
    "genau-l": dict(
        patch_size=1,
        group_size=32,
        num_latents=256,
        hidden_size=1280,
        latent_hidden_size=1280,
        context_dim=1280,
        num_blocks=6,
        local_layers_per_block=2,
        global_layers_per_block=5,
        num_attention_heads=20,
    ),
    # ~9M parameters for CPU training runs (training/genau.py); patch 2 as "genau-sample", 8 latent tokens per group.
    "small": dict(
        patch_size=2,
        group_size=8,
        num_latents=128,
        hidden_size=192,
        latent_hidden_size=256,
        context_dim=256,
        num_blocks=2,
        local_layers_per_block=1,
        global_layers_per_block=2,
        num_attention_heads=4,
        attention_head_dim=48,
    ),
}

# dataset2id of the reference sample config; "audiocaps" (0) is the id GenAU generates with.
GENAU_DATASET_NAMES = [
    "audiocaps",
    "clotho",
    "vggsounds",
    "wavcaps_audioset_strong",
    "wavcaps_bbcsound",
    "wavcaps_freesound",
    "wavcaps_soundbible",
    "fsd50k",
    "caption_audioset",
    "autocap",
]


class FiTTransformer1DModel(StrictLoadingMixin, ModelMixin, ConfigMixin, PeftAdapterMixin):
    r"""FiT ε-predictor over ``(batch, in_channels, frames)`` latents, conditioned on a pooled text embedding, the
    diffusion step and a dataset id (three context tokens).

    Args:
        in_channels (`int`): latent channels (64).
        sample_size (`int`): longest input in frames (256 = 10.24 s); sets the number of positional embeddings.
        patch_size (`int`): frames per patch (1 for GenAU-S/L).
        group_size (`int`): patches per local-attention group (32).
        num_latents (`int`): latent tokens for ``sample_size`` (256); must be a multiple of the number of groups.
        hidden_size (`int`): patch token width.
        latent_hidden_size (`int`): latent token width.
        context_dim (`int`): width of the context tokens.
        num_blocks (`int`): full FiT blocks (a local-only block is added after them).
        local_layers_per_block, global_layers_per_block (`int`): self-attention layers per block.
        num_attention_heads, attention_head_dim (`int`): every attention layer's heads and head width.
        ff_mult (`int`): feed-forward expansion.
        dropout (`float`): dropout inside local and global feed-forwards (0.1).
        text_embed_dim (`int`): size of the pooled text embedding (512 CLAP + 1024 FLAN-T5-large).
        num_dataset_ids (`int`): dataset-id vocabulary (32); 0 disables the dataset token.
        time_embed_dim (`int`): learned sinusoidal features of the timestep (16).
        use_self_conditioning (`bool`): build the reference's latent self-conditioning projection (zero-initialised
            and never trained by GenAU, so a no-op; kept so reference checkpoints load strictly).
        weight_init_scale (`float`): multiplies the default init of attention/feed-forward/patch projections
            (the reference's ``RINWeightScalerInitializer``, 1/√3).
        dataset_names (`list[str]`): names of the dataset ids, index = id (default: the reference's mapping).

    Example:

    ```python
    >>> import torch
    >>> from hf_audiogen.genau import FiTTransformer1DModel
    >>> fit = FiTTransformer1DModel(in_channels=8, sample_size=64, patch_size=2, group_size=4, num_latents=16,
    ...                             hidden_size=32, latent_hidden_size=48, context_dim=40, num_attention_heads=4,
    ...                             attention_head_dim=8, text_embed_dim=24, time_embed_dim=8)  # a tiny one
    >>> x = torch.randn(2, 8, 64)
    >>> eps = fit(x, timestep=torch.tensor([10, 999]), encoder_hidden_states=torch.randn(2, 24)).sample
    >>> eps.shape
    torch.Size([2, 8, 64])
    ```
    """

    _supports_gradient_checkpointing = True
    _no_split_modules = ["FiTBlock"]

    @register_to_config
    def __init__(
        self,
        in_channels: int = 64,
        sample_size: int = 256,
        patch_size: int = 1,
        group_size: int = 32,
        num_latents: int = 256,
        hidden_size: int = 1024,
        latent_hidden_size: int = 1024,
        context_dim: int = 1024,
        num_blocks: int = 4,
        local_layers_per_block: int = 2,
        global_layers_per_block: int = 4,
        num_attention_heads: int = 16,
        attention_head_dim: int = 64,
        ff_mult: int = 4,
        dropout: float = 0.1,
        text_embed_dim: int = 1536,
        num_dataset_ids: int = 32,
        time_embed_dim: int = 16,
        use_self_conditioning: bool = True,
        weight_init_scale: float = 3**-0.5,
        dataset_names: list[str] | None = None,
    ):
        super().__init__()
        positive = dict(
            in_channels=in_channels,
            sample_size=sample_size,
            patch_size=patch_size,
            group_size=group_size,
            num_latents=num_latents,
            hidden_size=hidden_size,
            latent_hidden_size=latent_hidden_size,
            context_dim=context_dim,
            num_attention_heads=num_attention_heads,
            attention_head_dim=attention_head_dim,
            ff_mult=ff_mult,
            text_embed_dim=text_embed_dim,
            time_embed_dim=time_embed_dim,
        )
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name} must be a positive int, got {value!r}")
        if sample_size % (patch_size * group_size):
            raise InvalidInputError(
                f"sample_size ({sample_size}) must be a multiple of patch_size * group_size = {patch_size * group_size}"
            )
        num_groups = sample_size // (patch_size * group_size)
        if num_latents % num_groups:
            raise InvalidInputError(
                f"num_latents ({num_latents}) must be a multiple of the number of groups ({num_groups})"
            )
        if num_blocks < 0 or local_layers_per_block < 0 or global_layers_per_block < 0 or num_dataset_ids < 0:
            raise InvalidInputError("num_blocks, local/global_layers_per_block and num_dataset_ids must be >= 0")
        if not 0 <= dropout < 1:
            raise InvalidInputError(f"dropout must be in [0, 1), got {dropout}")
        dataset_names = list(GENAU_DATASET_NAMES[:num_dataset_ids] if dataset_names is None else dataset_names)
        if len(dataset_names) > max(num_dataset_ids, 1) or len(set(dataset_names)) != len(dataset_names):
            raise InvalidInputError(
                f"dataset_names must be unique and at most num_dataset_ids={num_dataset_ids}, got {dataset_names}"
            )
        self.register_to_config(dataset_names=dataset_names)
        self.latents_per_group = num_latents // num_groups

        # Conditioning -> context tokens (in this order): text summary, timestep, dataset id.
        self.context_projection_summary_text_embeddings = nn.Linear(text_embed_dim, context_dim, bias=False)
        self.time_mlp = nn.Sequential(
            LearnedSinusoidalPosEmb(time_embed_dim),
            nn.Linear(time_embed_dim + 1, 4 * hidden_size),
            nn.GELU(),
            nn.Linear(4 * hidden_size, context_dim),
        )
        if num_dataset_ids > 0:
            # A Linear over one-hot ids (an embedding table plus a bias), kept as Linear for the reference's keys.
            self.dataset_id_conditioning_mlp = nn.Sequential(nn.Linear(num_dataset_ids, context_dim))

        self.to_patches = nn.Sequential(nn.Linear(in_channels * patch_size, hidden_size), nn.LayerNorm(hidden_size))
        self.patch_to_pixels = nn.Sequential(
            RINLayerNorm(hidden_size), nn.Linear(hidden_size, in_channels * patch_size)
        )
        self.latents = nn.Parameter(torch.randn(num_latents, latent_hidden_size) * 0.02)
        self.patches_pe = nn.Parameter(torch.randn(sample_size // patch_size, hidden_size) * 0.02)
        if use_self_conditioning:
            self.self_conditioning_latents_projection = nn.Sequential(
                FiTFeedForward(latent_hidden_size, ff_mult), RINLayerNorm(latent_hidden_size)
            )
            nn.init.zeros_(self.self_conditioning_latents_projection[1].gamma)  # starts (and, in GenAU, stays) a no-op

        block_args = dict(
            dim=hidden_size,
            latent_dim=latent_hidden_size,
            context_dim=context_dim,
            heads=num_attention_heads,
            dim_head=attention_head_dim,
            ff_mult=ff_mult,
            dropout=dropout,
        )
        blocks = [
            FiTBlock(local_layers=local_layers_per_block, global_layers=global_layers_per_block, **block_args)
            for _ in range(num_blocks)
        ]
        if local_layers_per_block > 0:
            blocks.append(FiTBlock(local_layers=local_layers_per_block, global_layers=0, **block_args))
        self.blocks = nn.ModuleList(blocks)
        self.gradient_checkpointing = False

        # The reference scales torch's default init of every attention/feed-forward Linear and of the patch in/out
        # projections by 1/sqrt(3) (RINWeightScalerInitializer); the conditioning MLPs keep the default init.
        scaled = [self.to_patches[0], self.patch_to_pixels[1]]
        scaled += [
            m
            for mod in self.modules()
            if isinstance(mod, (FiTAttention, FiTFeedForward))
            for m in mod.modules()
            if isinstance(m, nn.Linear)
        ]
        with torch.no_grad():
            for linear in scaled:
                linear.weight.mul_(weight_init_scale)
                if linear.bias is not None:
                    linear.bias.mul_(weight_init_scale)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "FiTTransformer1DModel":
        """Build a randomly initialised model from ``FIT_PRESETS[name]`` (``"genau-s"``, ``"genau-l"``,
        ``"genau-sample"``, ``"small"``; test sizes live in ``tests/factories.py``), with ``overrides`` applied."""
        if name not in FIT_PRESETS:
            raise InvalidInputError(f"unknown FiT preset {name!r}; choose one of {sorted(FIT_PRESETS)}")
        return cls(**{**FIT_PRESETS[name], **overrides})

    @property
    def frame_multiple(self) -> int:
        """Input lengths must be multiples of this many frames (one group of patches)."""
        return self.config.patch_size * self.config.group_size

    def dataset_id(self, name_or_id: str | int) -> int:
        """Map a dataset name (``config.dataset_names``) or an id to an id, with a clear error if unknown."""
        if isinstance(name_or_id, str):
            if name_or_id not in self.config.dataset_names:
                raise InvalidInputError(f"unknown dataset name {name_or_id!r}; known: {self.config.dataset_names}")
            return self.config.dataset_names.index(name_or_id)
        if isinstance(name_or_id, bool) or not isinstance(name_or_id, int):
            raise InvalidInputError(f"dataset_id must be a dataset name or an int, got {name_or_id!r}")
        if not 0 <= name_or_id < max(self.config.num_dataset_ids, 1):
            raise InvalidInputError(f"dataset_id must be in [0, {self.config.num_dataset_ids}), got {name_or_id}")
        return name_or_id

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        dataset_id: torch.Tensor | int | None = None,
        self_conditioning_latents: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> FiTTransformer1DOutput | tuple:
        """
        Args:
            sample: ``(batch, in_channels, frames)`` noisy latents; ``frames`` a multiple of ``frame_multiple`` and
                at most ``sample_size``.
            timestep: diffusion step(s), scalar or ``(batch,)``, on the scheduler's 0..999 scale.
            encoder_hidden_states: ``(batch, text_embed_dim)`` (or ``(batch, 1, text_embed_dim)``) pooled text.
            dataset_id: ``(batch,)`` ids or one int; default 0.
            self_conditioning_latents: the previous call's ``latents`` (reference sampler); needs
                ``use_self_conditioning``.
        """
        config = self.config
        if sample.ndim != 3 or sample.shape[1] != config.in_channels:
            raise InvalidInputError(f"sample must be (batch, {config.in_channels}, frames), got {tuple(sample.shape)}")
        batch, _, frames = sample.shape
        if frames % self.frame_multiple or not 0 < frames <= config.sample_size:
            raise InvalidInputError(
                f"sample has {frames} frames; need a positive multiple of patch_size * group_size = "
                f"{self.frame_multiple} up to sample_size={config.sample_size} (the positional range)"
            )
        if encoder_hidden_states.ndim == 3 and encoder_hidden_states.shape[1] == 1:
            encoder_hidden_states = encoder_hidden_states[:, 0]
        if encoder_hidden_states.shape != (batch, config.text_embed_dim):
            raise InvalidInputError(
                f"encoder_hidden_states must be ({batch}, {config.text_embed_dim}), got "
                f"{tuple(encoder_hidden_states.shape)}"
            )
        dtype = self.patches_pe.dtype
        timestep = torch.as_tensor(timestep, device=sample.device).to(dtype).reshape(-1).expand(batch)

        context = [
            self.context_projection_summary_text_embeddings(encoder_hidden_states.to(dtype))[:, None],
            self.time_mlp(timestep)[:, None],
        ]
        if config.num_dataset_ids > 0:
            ids = torch.as_tensor(0 if dataset_id is None else dataset_id, device=sample.device).long()
            ids = ids.reshape(-1).expand(batch)
            if ids.min() < 0 or ids.max() >= config.num_dataset_ids:
                raise InvalidInputError(
                    f"dataset_id values must be in [0, {config.num_dataset_ids}), got {ids.tolist()}"
                )
            one_hot = F.one_hot(ids, config.num_dataset_ids).to(dtype)
            context.append(self.dataset_id_conditioning_mlp(one_hot)[:, None])
        context = torch.cat(context, dim=1)

        num_patches = frames // config.patch_size
        num_groups = num_patches // config.group_size
        # 'b c (t p) -> b t (c p)': channel-major patch vectors, as the reference's einops pattern.
        patches = sample.to(dtype).reshape(batch, config.in_channels, num_patches, config.patch_size)
        patches = self.to_patches(patches.permute(0, 2, 1, 3).flatten(2)) + self.patches_pe[:num_patches]
        latents = self.latents[: num_groups * self.latents_per_group].expand(batch, -1, -1)
        if self_conditioning_latents is not None:
            if not config.use_self_conditioning:
                raise InvalidInputError("self_conditioning_latents given but the model has use_self_conditioning=False")
            latents = latents + self.self_conditioning_latents_projection(self_conditioning_latents)

        for block in self.blocks:
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                patches, latents = self._gradient_checkpointing_func(block, patches, latents, context, num_groups)
            else:
                patches, latents = block(patches, latents, context, num_groups)

        out = self.patch_to_pixels(patches).reshape(batch, num_patches, config.in_channels, config.patch_size)
        out = out.permute(0, 2, 1, 3).reshape(batch, config.in_channels, frames)
        return FiTTransformer1DOutput(sample=out, latents=latents) if return_dict else (out, latents)


__all__ = ["FIT_PRESETS", "FiTTransformer1DModel", "FiTTransformer1DOutput", "GENAU_DATASET_NAMES"]
