"""Training of Audio-Journey's wide-channel U-Net (paper §4) with Accelerate over precomputed codec codes.

``training_scripts/train_audio_journey.py`` only parses arguments and calls :func:`train_audio_journey`. The codec and
the text encoder are frozen; the U-Net (with its text projection adapter) is trained, or, with ``--lora``, only LoRA
adapters on the U-Net of a saved pipeline (``--init_from``). One micro-batch is

1. crops of ``--segment_seconds`` of the stored codes (parquet shards of ``training_scripts/tokenize_audiogen_dataset.py``,
   read with :func:`~hf_audiogen.training.audiogen_data.load_token_shards`), a window seeded by (seed, epoch, clip) as
   for AudioGen; clips shorter than the crop are right-padded with the codec's **silence codes** (the codes of a
   zero signal), so the model learns "sound, then silence" rather than a padding value the decoder never saw;
2. codes -> decoder-side latents (sum of codebook vectors) -> per-channel normalisation with the training split's
   statistics (computed once before training, over whole clips, and stored in the pipeline's ``latent_config``) ->
   the D-channel image (:mod:`hf_audiogen.audio_journey.latents`);
3. text states of the frozen encoder (50 tokens, unmasked by default), cached per caption (each caption encoded
   alone, so the values do not depend on batch composition and a resumed run sees the same numbers);
4. condition dropout: each caption becomes "" with probability ``--condition_dropout`` (0.1), the input the
   pipeline's unconditional branch uses;
5. ε-prediction MSE (or v with ``--prediction_type v_prediction``) at a uniform step of the 1000-step cosine schedule (``DDPMScheduler`` built from the pipeline's
   sampler config, so training and sampling share betas), AdamW, optional EMA, optional mixed precision.

Every ``--eval_steps`` (and before the first update: the untrained control) the held-out loss is measured on fixed
crops (the start of each clip) with fixed noise at ``--eval_timesteps`` fixed steps, so figures compare across steps
and runs. Every ``--sample_every`` steps prompts are generated through the pipeline into ``OUTPUT_DIR/samples/step-N``.
Resuming is exact: each micro-batch reseeds torch from (seed, process, epoch, batch) (noise, steps, dropout).
The result is a complete ``AudioJourneyPipeline`` in OUTPUT_DIR, or with ``--lora`` the adapter
(``pytorch_lora_weights.safetensors``) that ``pipe.load_lora_weights(OUTPUT_DIR)`` adds to the ``--init_from``
pipeline.
"""

from __future__ import annotations

import argparse
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
from diffusers import DDPMScheduler, UNet2DConditionModel
from torch.utils.data import DataLoader

from ..audio_journey import (
    PAPER_MAX_TEXT_LENGTH,
    AudioJourneyConfig,
    AudioJourneyPipeline,
    audio_journey_scheduler,
    channel_statistics,
    codes_to_latents,
    encode_codes,
)
from ..validation import InvalidInputError
from .arguments import check_common_training_args, training_arg_parser
from .audiogen_data import TextCodesCollator, _captions, check_shards_match_codec, load_token_shards, read_shard_info
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
    eval_mode,
    optimizer_update,
    save_eval_results,
    setup_accelerator,
    start_or_resume,
)
from .progress import RunningMeans, TrainingProgress
from .samples import prompt_sample_name, write_clips
from .schedules import get_lr_scheduler

logger = logging.getLogger(__name__)

LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "encoder_hid_proj")


# ----------------------------------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------------------------------
def build_arg_parser() -> argparse.ArgumentParser:
    """All options of ``training_scripts/train_audio_journey.py``."""
    parser = training_arg_parser(
        "Train Audio-Journey's U-Net on precomputed codec codes (frozen codec and text encoder).",
        learning_rate=2e-4,
        lr_scheduler="cosine",
        max_grad_norm=1.0,
        train_batch_size=16,
    )
    model = parser.add_argument_group("model (either --init_from, or --codec + --text_encoder + U-Net sizes)")
    model.add_argument("--init_from", default=None, help="a saved AudioJourneyPipeline directory to continue from")
    model.add_argument(
        "--codec", default=None, help="codec directory (default: the bundled sfx-codec-small); must match the shards"
    )
    model.add_argument(
        "--text_encoder",
        default="minilm",
        help="frozen text encoder + tokenizer with a last_hidden_state: a directory, a Hub id (the paper: "
        "google-t5/t5-base) or 'package:NAME' / 'minilm' (offline all-MiniLM-L6-v2)",
    )
    model.add_argument("--max_text_length", type=int, default=PAPER_MAX_TEXT_LENGTH, help="tokens per prompt")
    model.add_argument(
        "--text_attention_mask",
        action="store_true",
        help="mask padding text states in cross-attention (the paper's '-M'; default: unmasked, the paper's choice)",
    )
    model.add_argument("--block_out_channels", type=int, nargs="+", default=[128, 256], help="U-Net widths per level")
    model.add_argument("--layers_per_block", type=int, default=1)
    model.add_argument("--cross_attention_dim", type=int, default=256, help="width after the projection adapter")
    model.add_argument("--attention_head_dim", type=int, default=32)
    model.add_argument(
        "--image_width",
        type=int,
        default=None,
        help="frames per row of the D-channel image (the paper: 24; default: about sqrt of the crop's frames, "
        "a multiple of the U-Net's down-sampling)",
    )

    lora = parser.add_argument_group("LoRA fine-tuning (needs --init_from)")
    lora.add_argument("--lora", action="store_true", help="train LoRA adapters on the U-Net only")
    lora.add_argument("--lora_rank", type=int, default=8)
    lora.add_argument("--lora_alpha", type=float, default=None, help="default: the rank (scale 1)")
    lora.add_argument("--lora_targets", nargs="+", default=list(LORA_TARGETS), help="U-Net module names to adapt")

    diffusion = parser.add_argument_group("diffusion")
    diffusion.add_argument(
        "--condition_dropout", type=float, default=0.1, help="probability that a caption is replaced by ''"
    )
    diffusion.add_argument(
        "--prediction_type",
        choices=("epsilon", "v_prediction"),
        default="epsilon",
        help="what the U-Net predicts for a new pipeline: ε (the paper) or v (bounded targets near the end of the "
        "cosine schedule, where ε errors are amplified 1/sqrt(alpha_bar)-fold by every sampler)",
    )

    data = parser.add_argument_group("data")
    data.add_argument(
        "--token_shards", required=True, help="folder of code shards (training_scripts/tokenize_audiogen_dataset.py)"
    )
    data.add_argument("--train_split", default="train")
    data.add_argument("--eval_split", default="validation")
    data.add_argument("--segment_seconds", type=float, default=2.0, help="length of the training crops")
    data.add_argument("--shuffle_buffer_size", type=int, default=1000)
    data.add_argument("--max_eval_clips", type=int, default=64, help="held-out clips of the validation loss")
    data.add_argument("--eval_batch_size", type=int, default=16)
    data.add_argument("--eval_timesteps", type=int, default=10, help="steps (evenly spread) the loss averages")

    samples = parser.add_argument_group("samples")
    samples.add_argument("--sample_every", type=int, default=None, help="default: --eval_steps")
    samples.add_argument("--sample_prompts", nargs="*", default=None, help="default: the first held-out captions")
    samples.add_argument("--num_samples", type=int, default=4)
    samples.add_argument("--sample_guidance_scale", type=float, default=3.0)
    samples.add_argument("--sample_inference_steps", type=int, default=50, help="PNDM steps")

    optim = parser.add_argument_group("optimizer and EMA")
    optim.add_argument("--adam_beta1", type=float, default=0.9)
    optim.add_argument("--adam_beta2", type=float, default=0.999)
    optim.add_argument("--weight_decay", type=float, default=0.01)
    optim.add_argument("--min_lr_ratio", type=float, default=0.1, help="floor of the cosine schedule")
    optim.add_argument("--use_ema", action="store_true", help="EMA of the trained weights for eval/samples/save")
    optim.add_argument("--ema_decay", type=float, default=0.999)
    return parser


def check_args(args: argparse.Namespace) -> None:
    check_common_training_args(args)
    if args.lora and args.init_from is None:
        raise InvalidInputError("--lora fine-tunes a saved pipeline: pass --init_from DIR")
    if args.init_from is not None and args.codec is not None:
        raise InvalidInputError("--init_from brings its own codec: do not also pass --codec")
    if not 0.0 <= args.condition_dropout < 1.0:
        raise InvalidInputError(f"--condition_dropout must be in [0, 1), got {args.condition_dropout}")
    if args.segment_seconds <= 0:
        raise InvalidInputError(f"--segment_seconds must be positive, got {args.segment_seconds}")
    for name in ("max_text_length", "layers_per_block", "cross_attention_dim", "attention_head_dim", "lora_rank"):
        if getattr(args, name) < 1:
            raise InvalidInputError(f"--{name} must be >= 1, got {getattr(args, name)}")
    for name in ("eval_batch_size", "eval_timesteps", "shuffle_buffer_size", "sample_inference_steps"):
        if getattr(args, name) < 1:
            raise InvalidInputError(f"--{name} must be >= 1, got {getattr(args, name)}")
    for name in ("max_eval_clips", "num_samples"):
        if getattr(args, name) < 0:
            raise InvalidInputError(f"--{name} must be >= 0, got {getattr(args, name)}")
    if not args.block_out_channels or min(args.block_out_channels) < 1:
        raise InvalidInputError(f"--block_out_channels must be positive widths, got {args.block_out_channels}")
    if args.image_width is not None and args.image_width < 1:
        raise InvalidInputError(f"--image_width must be >= 1, got {args.image_width}")
    if args.sample_every is not None and args.sample_every < 1:
        raise InvalidInputError(f"--sample_every must be >= 1, got {args.sample_every}")
    if not 0.0 < args.ema_decay < 1.0:
        raise InvalidInputError(f"--ema_decay must be in (0, 1), got {args.ema_decay}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_arg_parser().parse_args(argv)
    check_args(args)
    return args


# ----------------------------------------------------------------------------------------------------------------------
# Components
# ----------------------------------------------------------------------------------------------------------------------
def build_unet(args, latent_channels: int, text_width: int, frames: int) -> tuple[UNet2DConditionModel, dict]:
    """A new wide-channel U-Net (every level with cross-attention) and the layout fields of its latent_config."""
    levels = len(args.block_out_channels)
    multiple = 2 ** (levels - 1)
    width = args.image_width or -(-round(math.sqrt(frames)) // multiple) * multiple
    if width % multiple:
        raise InvalidInputError(f"--image_width {width} must be a multiple of {multiple} ({levels} U-Net levels)")
    layout = AudioJourneyConfig(latent_channels=latent_channels, image_width=width, size_multiple=multiple)
    height = layout.image_size(frames)[0]
    unet = UNet2DConditionModel(
        sample_size=(height, width),
        in_channels=latent_channels,
        out_channels=latent_channels,
        block_out_channels=tuple(args.block_out_channels),
        down_block_types=("CrossAttnDownBlock2D",) * levels,
        up_block_types=("CrossAttnUpBlock2D",) * levels,
        layers_per_block=args.layers_per_block,
        cross_attention_dim=args.cross_attention_dim,
        attention_head_dim=args.attention_head_dim,
        norm_num_groups=min(32, math.gcd(*args.block_out_channels)),
        encoder_hid_dim=text_width,
        encoder_hid_dim_type="text_proj",
    )
    return unet, {"image_width": width, "size_multiple": multiple}


def build_pipeline(args) -> AudioJourneyPipeline:
    """The pipeline whose U-Net is trained: ``--init_from``, or a new U-Net over ``--codec`` and ``--text_encoder``
    (without normalisation statistics yet: :func:`fill_statistics` adds them)."""
    if args.init_from is not None:
        if not Path(args.init_from, "model_index.json").is_file():
            raise InvalidInputError(f"--init_from {args.init_from!r} is not a saved pipeline (no model_index.json)")
        pipe = AudioJourneyPipeline.from_pretrained(args.init_from)
    else:
        from ..codec import CodecModel
        from ..pretrained import CODEC_MODEL_NAME, bundled_model_path
        from .genau import load_text_encoder

        codec = CodecModel.from_pretrained(args.codec or bundled_model_path(CODEC_MODEL_NAME))
        text_encoder, tokenizer = load_text_encoder(args.text_encoder, "--text_encoder", clap=False)
        text_width = getattr(text_encoder.config, "d_model", None) or text_encoder.config.hidden_size
        channels = codec.config.hidden_size
        frames = math.ceil(args.segment_seconds * codec.config.frame_rate - 1e-6)
        unet, layout = build_unet(args, channels, text_width, frames)
        config = AudioJourneyConfig(
            latent_channels=channels,
            max_text_length=args.max_text_length,
            text_attention_mask=args.text_attention_mask,
            default_audio_length_in_s=args.segment_seconds,
            **layout,
        )
        pipe = AudioJourneyPipeline(
            unet=unet,
            scheduler=audio_journey_scheduler(prediction_type=args.prediction_type),
            codec=codec,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            latent_config=config.to_dict(),
        )
    for module in (pipe.codec, pipe.text_encoder):
        module.requires_grad_(False).eval()
    return pipe


@torch.no_grad()
def fill_statistics(pipe: AudioJourneyPipeline, token_shards: str, split: str) -> AudioJourneyConfig:
    """Per-channel mean/std of the decoder-side latents over every frame of ``split`` (decision 3), written into the
    pipeline's ``latent_config``; a pipeline that has them keeps them."""
    config = pipe.latent_config
    if config.is_normalized:
        return config
    rows = load_token_shards(token_shards, split)
    latents = (
        codes_to_latents(pipe.codec, torch.as_tensor(np.asarray(row["codes"], dtype=np.int64))[None]) for row in rows
    )
    config.latent_mean, config.latent_std = channel_statistics(latents)
    config = AudioJourneyConfig.from_dict(config.to_dict())  # re-validated
    pipe.register_to_config(latent_config=config.to_dict())
    return config


@torch.no_grad()
def silence_codes(codec) -> torch.Tensor:
    """(K,) codes of a zero signal (a frame away from the edges): what short clips are padded with."""
    hop = int(np.prod(codec.config.upsampling_ratios))
    device = next(codec.parameters()).device
    codes = codec.encode(torch.zeros(1, 1, 16 * hop, device=device))
    return codes[0, :, 8].cpu()


def noise_scheduler_for(pipe: AudioJourneyPipeline) -> DDPMScheduler:
    """DDPM on the betas and prediction type of the pipeline's sampler (the paper: cosine schedule, ε)."""
    scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    if scheduler.config.prediction_type not in ("epsilon", "v_prediction"):
        raise InvalidInputError(f"cannot train prediction_type {scheduler.config.prediction_type!r}")
    return scheduler


# ----------------------------------------------------------------------------------------------------------------------
# Data, text and loss
# ----------------------------------------------------------------------------------------------------------------------
class CodeCrops(TextCodesCollator):
    """Shard rows -> ``{"codes": (B, K, frames) long, "captions", "ids"}``: AudioGen's seeded crop windows, then
    right padding with the codec's silence codes (step 1 of the module docstring)."""

    def __init__(self, frames: int, silence: torch.Tensor, seed: int = 0, random_crop: bool = True):
        super().__init__(None, max_frames=frames, seed=seed, random_crop=random_crop)
        self.silence = silence.long()

    def __call__(self, examples) -> dict:
        if not examples:
            raise InvalidInputError("cannot collate an empty list of examples")
        batch = self.silence[None, :, None].repeat(len(examples), 1, self.max_frames)
        for i, example in enumerate(examples):
            codes = np.asarray(example["codes"], dtype=np.int64)
            if codes.ndim != 2 or codes.shape[0] != len(self.silence) or codes.shape[1] == 0:
                raise InvalidInputError(
                    f"codes of clip {example.get('id')!r} must be ({len(self.silence)}, frames), got {codes.shape}"
                )
            codes = self._crop(codes, example.get("id"))
            batch[i, :, : codes.shape[1]] = torch.from_numpy(codes)
        return {"codes": batch, "captions": _captions(examples, "caption"), "ids": [e.get("id") for e in examples]}


class CaptionStates:
    """Text states of the frozen encoder per caption, each computed alone once (step 3 of the module docstring)."""

    def __init__(self, pipe: AudioJourneyPipeline, device):
        self.pipe, self.device = pipe, device
        self.cache: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}

    @torch.no_grad()
    def __call__(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
        for caption in captions:
            if caption not in self.cache:
                states, mask = self.pipe.text_states([caption], self.device)
                self.cache[caption] = (states[0], None if mask is None else mask[0])
        states = torch.stack([self.cache[c][0] for c in captions])
        masks = [self.cache[c][1] for c in captions]
        return states, (None if masks[0] is None else torch.stack(masks))


def drop_captions(captions: list[str], probability: float) -> list[str]:
    """Classifier-free-guidance dropout: each caption becomes "" with ``probability`` (global torch RNG; no draw at
    p = 0, so the RNG stream stays as it was)."""
    if probability <= 0:
        return list(captions)
    dropped = (torch.rand(len(captions)) < probability).tolist()
    return ["" if drop else caption for caption, drop in zip(captions, dropped)]


def diffusion_loss(
    unet,
    images: torch.Tensor,
    states: torch.Tensor,
    mask: torch.Tensor | None,
    noise_scheduler: DDPMScheduler,
    noise: torch.Tensor | None = None,
    timesteps: torch.Tensor | None = None,
) -> torch.Tensor:
    """MSE of the U-Net's prediction (ε, or v for a ``v_prediction`` scheduler) at ``timesteps`` (default: uniform)
    with ``noise`` (default: standard normal)."""
    if noise is None:
        noise = torch.randn_like(images)
    if timesteps is None:
        timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (images.shape[0],))
    timesteps = timesteps.to(images.device)
    noisy = noise_scheduler.add_noise(images, noise, timesteps)
    prediction = unet(noisy, timesteps, encoder_hidden_states=states, encoder_attention_mask=mask).sample
    target = noise
    if noise_scheduler.config.prediction_type == "v_prediction":
        target = noise_scheduler.get_velocity(images, noise, timesteps)
    return F.mse_loss(prediction.float(), target.float())


def build_train_dataloader(args, frames: int, silence: torch.Tensor) -> tuple[DataLoader, CodeCrops]:
    stream = load_token_shards(args.token_shards, args.train_split)
    stream = stream.shuffle(seed=args.seed, buffer_size=args.shuffle_buffer_size)
    collate = CodeCrops(frames, silence, seed=args.seed)
    generator = torch.Generator().manual_seed(args.seed)  # not the global RNG (see training.checkpointing)
    return DataLoader(stream, batch_size=args.train_batch_size, collate_fn=collate, generator=generator), collate


@dataclass
class ValidationSet:
    """Fixed held-out inputs: per batch the images, text states (and mask), one noise tensor per eval step."""

    images: list[torch.Tensor]
    states: list[torch.Tensor]
    masks: list[torch.Tensor | None]
    noise: list[torch.Tensor]
    timesteps: torch.Tensor
    captions: list[str]

    @property
    def num_clips(self) -> int:
        return sum(len(x) for x in self.images)


@torch.no_grad()
def load_validation_set(args, pipe, texts: CaptionStates, frames: int, silence, device) -> ValidationSet | None:
    """The first ``--max_eval_clips`` held-out clips (their first ``--segment_seconds``)."""
    if args.max_eval_clips == 0 or not args.eval_split:
        return None
    if args.eval_split not in read_shard_info(args.token_shards).get("splits", {}):
        logger.warning("no %r split in %s: no validation loss", args.eval_split, args.token_shards)
        return None
    stream = load_token_shards(args.token_shards, args.eval_split).take(args.max_eval_clips)
    collate = CodeCrops(frames, silence, seed=args.seed, random_crop=False)
    generator = torch.Generator().manual_seed(args.seed)
    num_steps = pipe.scheduler.config.num_train_timesteps
    timesteps = ((torch.arange(args.eval_timesteps) + 0.5) * num_steps / args.eval_timesteps).long()
    config = pipe.latent_config
    validation = ValidationSet([], [], [], [], timesteps, [])
    for batch in DataLoader(stream, batch_size=args.eval_batch_size, collate_fn=collate):
        images = encode_codes(pipe.codec, batch["codes"].to(device), config)
        states, mask = texts(batch["captions"])
        validation.images.append(images)
        validation.states.append(states)
        validation.masks.append(mask)
        validation.noise.append(torch.randn((len(timesteps), *images.shape), generator=generator).to(device))
        validation.captions += batch["captions"]
    return validation if validation.images else None


def evaluate_diffusion(unet, validation: ValidationSet, noise_scheduler: DDPMScheduler) -> DiffusionEvaluation:
    """Mean ε-MSE over the validation clips and steps (eval mode: no dropout)."""

    def batch_loss(batch, k, t):
        images, states, mask, noise = batch
        return diffusion_loss(unet, images, states, mask, noise_scheduler, noise[k], t.expand(images.shape[0]))

    batches = [
        (images.shape[0], (images, states, mask, noise))
        for images, states, mask, noise in zip(validation.images, validation.states, validation.masks, validation.noise)
    ]
    return held_out_diffusion_loss(unet, batches, validation.timesteps, batch_loss)


@torch.no_grad()
def write_samples(pipe, prompts, folder: Path, seconds: float, guidance_scale: float, steps: int, seed: int = 0):
    """One seeded sample per prompt: ``folder/NN_<prompt>.wav``."""

    def generate(i: int, prompt: str):
        generator = torch.Generator().manual_seed(seed + i)
        output = pipe(
            prompt,
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            audio_length_in_s=seconds,
            generator=generator,
        )
        return prompt_sample_name(i, prompt), output.audios[0]

    return write_clips(folder, (generate(i, p) for i, p in enumerate(prompts)), pipe.sampling_rate)


# ----------------------------------------------------------------------------------------------------------------------
# Training loop
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class AudioJourneyTrainingResult:
    output_dir: Path
    global_step: int
    first_loss: float | None
    last_loss: float | None
    first_evaluation: DiffusionEvaluation | None  # before the first update (fresh runs): the untrained control
    evaluation: DiffusionEvaluation | None
    minutes: float = 0.0
    is_main_process: bool = True


def add_lora(unet: UNet2DConditionModel, args) -> dict:
    """LoRA adapters (PEFT, through diffusers' ``add_adapter``) on ``--lora_targets``; the rest of the U-Net frozen.
    Returns the adapter's config (saved next to the weights as diffusers' LoRA metadata)."""
    from peft import LoraConfig

    unet.requires_grad_(False)
    config = LoraConfig(
        r=args.lora_rank,
        lora_alpha=args.lora_alpha or args.lora_rank,
        target_modules=list(args.lora_targets),
        init_lora_weights="gaussian",  # B = 0: a fresh adapter leaves the U-Net's outputs unchanged
    )
    unet.add_adapter(config)
    return config.to_dict()


def train_audio_journey(args: argparse.Namespace) -> AudioJourneyTrainingResult:
    """Train as configured by ``args`` (see :func:`build_arg_parser`); the result is saved in ``args.output_dir``."""
    check_args(args)
    started = time.monotonic()
    output_dir = Path(args.output_dir)
    accelerator = setup_accelerator(args, "train_audio_journey")
    set_seed(args.seed)
    pipe = build_pipeline(args)
    pipe.set_progress_bar_config(disable=True)
    check_shards_match_codec(read_shard_info(args.token_shards), pipe.codec.config)
    device = accelerator.device
    pipe.codec.to(device)
    pipe.text_encoder.to(device)
    config = fill_statistics(pipe, args.token_shards, args.train_split)
    raw = pipe.unet
    lora_config = add_lora(raw, args) if args.lora else None
    trainable = [p for p in raw.parameters() if p.requires_grad]
    logger.info("U-Net: %s trainable parameters", f"{sum(p.numel() for p in trainable):,}")
    noise_scheduler = noise_scheduler_for(pipe)
    frames = pipe.latent_frames(args.segment_seconds)
    silence = silence_codes(pipe.codec)
    texts = CaptionStates(pipe, device)

    train_loader, collate = build_train_dataloader(args, frames, silence)
    validation = (
        load_validation_set(args, pipe, texts, frames, silence, device) if accelerator.is_main_process else None
    )
    prompts = args.sample_prompts if args.sample_prompts is not None else (validation.captions if validation else [])
    prompts = prompts[: args.num_samples]

    optimizer = adamw_with_decay_groups(
        trainable, args.learning_rate, args.weight_decay, (args.adam_beta1, args.adam_beta2)
    )
    lr_scheduler = get_lr_scheduler(
        args.lr_scheduler, optimizer, args.lr_warmup_steps, args.max_train_steps, min_lr_ratio=args.min_lr_ratio
    )
    unet, optimizer, lr_scheduler, train_loader = accelerator.prepare(raw, optimizer, lr_scheduler, train_loader)
    if not args.lora:  # a PEFT-wrapped U-Net is checkpointed as accelerate's plain state dict
        register_save_pretrained_hooks(accelerator, ["unet"])
    ema = build_ema(trainable, args.ema_decay, device) if args.use_ema else None
    state = start_or_resume(accelerator, output_dir, args.resume_from_checkpoint, extra_states=[ema] if ema else [])

    progress = TrainingProgress(
        accelerator, output_dir, args.max_train_steps, initial_step=state.global_step, description="audio-journey"
    )
    means = RunningMeans()
    logged_losses: list[float] = []
    losses = StepLoss()
    first_evaluation = evaluation = None
    sample_every = args.sample_every or args.eval_steps
    budget = TimeBudget(accelerator, args.max_train_minutes)
    bookkeeping = StepBookkeeping(accelerator, args, state, progress, budget)
    unet.train()

    def evaluate(step: int) -> DiffusionEvaluation | None:
        result = None
        if validation is not None:
            with ema_weights(ema, trainable):
                result = evaluate_diffusion(raw, validation, noise_scheduler)
            progress.log({"eval_loss": result.loss}, step=step)
            progress.write(f"step {step}: held-out loss {result.loss:.4f} ({result.num_clips} clips)")
        accelerator.wait_for_everyone()
        return result

    if state.global_step == 0:
        first_evaluation = evaluation = evaluate(step=0)
    no_batch = f"the {args.train_split!r} split of {args.token_shards!r} yielded no training batch"
    for batch in epoch_batches(
        accelerator, train_loader, collate, state, args.max_train_steps, no_batch, reseed=args.seed
    ):
        with torch.no_grad():
            images = encode_codes(pipe.codec, batch["codes"].to(device), config)
            states, mask = texts(drop_captions(batch["captions"], args.condition_dropout))
        with accelerator.accumulate(unet):
            with accelerator.autocast():
                loss = diffusion_loss(unet, images, states, mask, noise_scheduler)
            optimizer_update(accelerator, loss, trainable, optimizer, lr_scheduler, args.max_grad_norm)
        losses.add(accelerator, loss)
        if not accelerator.sync_gradients:
            continue
        if ema is not None:
            ema.step(trainable)
        means.update({"loss": losses.end_step()})
        update = bookkeeping.after_update(means, lr_scheduler)
        if update.logged is not None:
            logged_losses.append(update.logged["loss"])
        if update.is_due(args.eval_steps):
            evaluation = evaluate(update.step) or evaluation
        if prompts and update.is_due(sample_every) and accelerator.is_main_process:
            with ema_weights(ema, trainable), eval_mode(raw):
                write_samples(
                    pipe,
                    prompts,
                    output_dir / "samples" / f"step-{update.step}",
                    args.segment_seconds,
                    args.sample_guidance_scale,
                    args.sample_inference_steps,
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
        if args.lora:
            from peft.utils import get_peft_model_state_dict

            AudioJourneyPipeline.save_lora_weights(
                output_dir, unet_lora_layers=get_peft_model_state_dict(raw), unet_lora_adapter_metadata=lora_config
            )
            (output_dir / "base_pipeline.json").write_text(json.dumps({"init_from": str(args.init_from)}))
        else:
            pipe.save_pretrained(output_dir)  # latent_config carries the normalisation statistics
        save_eval_results(
            output_dir, run_summary(state.global_step, minutes, logged_losses, first_evaluation, evaluation)
        )
    accelerator.end_training()
    return AudioJourneyTrainingResult(
        output_dir=output_dir,
        global_step=state.global_step,
        first_loss=logged_losses[0] if logged_losses else None,
        last_loss=logged_losses[-1] if logged_losses else None,
        first_evaluation=first_evaluation,
        evaluation=evaluation,
        minutes=minutes,
        is_main_process=accelerator.is_main_process,
    )


def main(argv: list[str] | None = None) -> AudioJourneyTrainingResult:
    return train_audio_journey(parse_args(argv))


__all__ = [
    "AudioJourneyTrainingResult",
    "CaptionStates",
    "CodeCrops",
    "DiffusionEvaluation",
    "add_lora",
    "build_arg_parser",
    "build_pipeline",
    "build_unet",
    "diffusion_loss",
    "drop_captions",
    "evaluate_diffusion",
    "fill_statistics",
    "noise_scheduler_for",
    "parse_args",
    "silence_codes",
    "train_audio_journey",
    "write_samples",
]
