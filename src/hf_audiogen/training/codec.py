"""Adversarial training of the codec (AudioGen paper §3.1, audiocraft's EnCodec recipe) with Accelerate.

``training_scripts/train_codec.py`` only parses arguments and calls :func:`train_codec`; everything it does is here so
that tests can run it. One optimizer step, per micro-batch ``x`` (random crops of real clips):

1. ``out = codec(x)`` (training mode: the RVQ codebooks learn by EMA, k-means initialised on the first batch);
2. once ``global_step >= adversarial_start_step``: a discriminator step on the hinge loss of ``D(x)`` vs
   ``D(sg(x̂))``;
3. a codec step on L1 + multi-scale mel (+ adversarial hinge + relative feature matching), combined by the
   :class:`~hf_audiogen.codec.losses.GradientBalancer` (or a plain weighted sum), plus the commitment loss.

Zero padding of short clips is excluded from every loss (x̂ is zeroed where x is padding). ``adversarial_start_step``
exists for short CPU runs: the multi-scale discriminator costs ~10x the codec per step, so a run of minutes spends
its budget on reconstruction first. Without the adversarial terms, audiocraft's weights (L1 0.1, mel 2) leave the
waveform uncorrelated for hundreds of steps; the bundled codec used L1 1.0, mel 0.5 (see its model card).
On a CPU shared with other jobs use ``--num_threads 1``: with two threads on two busy cores, each step was ~8x slower.

Periodic evaluation reports SI-SNR and the multi-scale mel distance of full held-out clips (the validation split)
and writes a few reconstructions to ``OUTPUT_DIR/samples/step-N/``. The final codec is saved with
``save_pretrained`` together with its ``CodecFeatureExtractor``, the discriminator in ``OUTPUT_DIR/discriminator``.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate.utils import set_seed
from torch.utils.data import DataLoader

from ..codec import CodecConfig, CodecFeatureExtractor, CodecModel
from ..codec.configuration_codec import CODEC_PRESETS
from ..codec.discriminator import MultiScaleSTFTDiscriminator, MultiScaleSTFTDiscriminatorConfig
from ..codec.losses import (
    GradientBalancer,
    MultiScaleMelLoss,
    discriminator_hinge_loss,
    feature_matching_loss,
    generator_hinge_loss,
    l1_waveform_loss,
)
from ..codec.metrics import si_snr
from ..data.streams import AudioCollator, load_audio_dataset
from ..validation import InvalidInputError
from .arguments import (
    add_audio_data_args,
    check_common_training_args,
    resolve_config,
    train_stream_from_args,
    training_arg_parser,
)
from .checkpointing import register_save_pretrained_hooks
from .loop import (
    StepBookkeeping,
    TimeBudget,
    epoch_batches,
    eval_mode,
    optimizer_update,
    save_eval_results,
    setup_accelerator,
    start_or_resume,
)
from .progress import RunningMeans, TrainingProgress
from .samples import clip_sample_name, write_clips
from .schedules import get_lr_scheduler

logger = logging.getLogger(__name__)

# audiocraft's solver/compression/default.yaml weights (mel there = our multi-scale mel, "msspec").
DEFAULT_LOSS_WEIGHTS = {"l1": 0.1, "mel": 2.0, "adversarial": 4.0, "feature_matching": 4.0}


# ----------------------------------------------------------------------------------------------- configuration
def load_codec_config(name_or_path: str) -> CodecConfig:
    """A :class:`CodecConfig` from a preset name (``CODEC_PRESETS``), a ``config.json`` or a directory holding one."""
    return resolve_config(name_or_path, CODEC_PRESETS, CodecConfig.from_preset, CodecConfig.from_dict)


def build_arg_parser() -> argparse.ArgumentParser:
    """All options of ``training_scripts/train_codec.py``."""
    parser = training_arg_parser(
        "Train the neural audio codec (SEANet + RVQ) with reconstruction and adversarial losses.",
        learning_rate=3e-4,
        train_batch_size=8,
    )

    model = parser.add_argument_group("model")
    model.add_argument(
        "--config", default="small", help=f"codec preset ({', '.join(CODEC_PRESETS)}) or path to a codec config.json"
    )
    model.add_argument("--discriminator_filters", type=int, default=32, help="channels of the MS-STFT discriminator")

    data = add_audio_data_args(
        parser, segment_seconds=1.0, segment_help="length of the random training crops", eval_max_seconds=10.0
    )
    data.add_argument(
        "--num_audio_samples",
        type=int,
        default=4,
        help="reconstructions written to OUTPUT_DIR/samples at each evaluation",
    )

    losses = parser.add_argument_group("losses")
    for name, weight in DEFAULT_LOSS_WEIGHTS.items():
        losses.add_argument(f"--{name}_weight", type=float, default=weight, help=f"weight of the {name} loss")
    losses.add_argument(
        "--no_balancer", action="store_true", help="plain weighted loss sum instead of audiocraft's gradient balancer"
    )
    losses.add_argument(
        "--adversarial_start_step",
        type=int,
        default=0,
        help="train the discriminator and use the adversarial losses from this step on",
    )
    losses.add_argument("--adam_beta1", type=float, default=0.5)
    losses.add_argument("--adam_beta2", type=float, default=0.9)
    losses.add_argument("--discriminator_learning_rate", type=float, default=None, help="default: --learning_rate")
    return parser


def check_args(args: argparse.Namespace) -> None:
    check_common_training_args(args, reads_train_data=True)
    if args.segment_seconds <= 0:
        raise InvalidInputError(f"--segment_seconds must be positive, got {args.segment_seconds}")
    if args.adversarial_start_step < 0:
        raise InvalidInputError(f"--adversarial_start_step must be >= 0, got {args.adversarial_start_step}")
    for name in DEFAULT_LOSS_WEIGHTS:
        if getattr(args, f"{name}_weight") < 0:
            raise InvalidInputError(f"--{name}_weight must be >= 0, got {getattr(args, f'{name}_weight')}")
    if args.l1_weight == 0 and args.mel_weight == 0:
        raise InvalidInputError("--l1_weight and --mel_weight are both 0: the codec needs a reconstruction loss")
    if args.discriminator_filters < 1:
        raise InvalidInputError(f"--discriminator_filters must be >= 1, got {args.discriminator_filters}")
    if args.max_eval_clips < 0 or args.num_audio_samples < 0 or args.eval_max_seconds <= 0:
        raise InvalidInputError("--max_eval_clips and --num_audio_samples must be >= 0 and --eval_max_seconds > 0")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_arg_parser().parse_args(argv)
    check_args(args)
    return args


# ----------------------------------------------------------------------------------------------- evaluation
@dataclass
class CodecEvaluation:
    """Mean metrics over held-out clips (SI-SNR in dB, higher is better; mel distance, lower is better)."""

    si_snr: float
    mel_distance: float
    l1: float
    num_clips: int
    seconds: float

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}si_snr": self.si_snr, f"{prefix}mel_distance": self.mel_distance, f"{prefix}l1": self.l1}


@torch.no_grad()
def evaluate_codec(
    codec: CodecModel,
    clips: list[torch.Tensor],
    mel_loss: MultiScaleMelLoss | None = None,
    num_quantizers: int | None = None,
) -> CodecEvaluation:
    """Reconstruct each clip ``(channels, samples)`` in eval mode (all codebooks unless ``num_quantizers``) and
    average SI-SNR, multi-scale mel distance and L1 over clips. Clips are run one at a time, so no padding enters
    the metrics."""
    if not clips:
        raise InvalidInputError("evaluate_codec needs at least one clip")
    mel_loss = mel_loss or MultiScaleMelLoss(codec.config.sampling_rate)
    device = next(codec.parameters()).device
    mel_loss = mel_loss.to(device)
    totals = {"si_snr": 0.0, "mel": 0.0, "l1": 0.0}
    samples = 0
    with eval_mode(codec):
        for clip in clips:
            audio = clip.to(device)[None]
            reconstruction = codec(audio, num_quantizers=num_quantizers).audio_values.float()
            totals["si_snr"] += float(si_snr(reconstruction, audio).mean())
            totals["mel"] += float(mel_loss(reconstruction, audio))
            totals["l1"] += float(l1_waveform_loss(reconstruction, audio))
            samples += clip.shape[-1]
    n = len(clips)
    return CodecEvaluation(
        si_snr=totals["si_snr"] / n,
        mel_distance=totals["mel"] / n,
        l1=totals["l1"] / n,
        num_clips=n,
        seconds=samples / codec.config.sampling_rate,
    )


@torch.no_grad()
def write_samples(codec: CodecModel, clips: list[torch.Tensor], folder: Path, step: int) -> None:
    """``folder/step-<step>/clip_i.wav``: reconstruction of clip i; the originals go to ``folder/reference/`` once."""
    device = next(codec.parameters()).device
    sampling_rate = codec.config.sampling_rate
    with eval_mode(codec):
        write_clips(
            folder / f"step-{step}",
            ((clip_sample_name(i), codec(clip.to(device)[None]).audio_values[0]) for i, clip in enumerate(clips)),
            sampling_rate,
        )
    references = [(clip_sample_name(i), clip) for i, clip in enumerate(clips)]
    write_clips(
        folder / "reference",
        [(name, clip) for name, clip in references if not (folder / "reference" / f"{name}.wav").exists()],
        sampling_rate,
    )


# ----------------------------------------------------------------------------------------------- training
@dataclass
class CodecTrainingResult:
    output_dir: Path
    global_step: int
    evaluation: CodecEvaluation | None  # last evaluation (main process only)
    is_main_process: bool = True


def _build_models(args: argparse.Namespace) -> tuple[CodecModel, MultiScaleSTFTDiscriminator]:
    codec = CodecModel(load_codec_config(args.config))
    discriminator = MultiScaleSTFTDiscriminator(
        MultiScaleSTFTDiscriminatorConfig(
            filters=args.discriminator_filters, audio_channels=codec.config.audio_channels
        )
    )
    segment = round(args.segment_seconds * codec.config.sampling_rate)
    if segment < discriminator.config.min_input_length:
        raise InvalidInputError(
            f"--segment_seconds {args.segment_seconds} gives {segment} samples, fewer than the discriminator's "
            f"largest FFT ({discriminator.config.min_input_length}); use longer segments"
        )
    return codec, discriminator


def _loss_weights(args: argparse.Namespace) -> dict[str, float]:
    return {name: getattr(args, f"{name}_weight") for name in DEFAULT_LOSS_WEIGHTS}


class _GanStep:
    """One micro-batch of codec training: a discriminator update (when adversarial), then a codec update.

    Runs inside ``accelerator.accumulate``: the prepared optimizers and schedulers only step on the micro-batch
    that completes an accumulation cycle.
    """

    def __init__(
        self,
        accelerator,
        codec,
        discriminator,
        optimizer_g,
        optimizer_d,
        scheduler_g,
        scheduler_d,
        mel_loss,
        weights,
        balancer,
        max_grad_norm,
    ):
        self.accelerator = accelerator
        self.codec, self.discriminator = codec, discriminator
        self.raw_discriminator = accelerator.unwrap_model(discriminator)
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        self.scheduler_g, self.scheduler_d = scheduler_g, scheduler_d
        self.mel_loss, self.weights, self.balancer = mel_loss, weights, balancer
        self.max_grad_norm = max_grad_norm

    def _update(self, loss, model, optimizer, scheduler) -> None:
        optimizer_update(self.accelerator, loss, model.parameters(), optimizer, scheduler, self.max_grad_norm)

    def discriminator_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # One forward over [real; fake]: a single DDP forward per backward, and one pass of the convolutions.
        with self.accelerator.autocast():
            scores = self.discriminator(torch.cat([x, y.detach()])).logits
        real_logits, fake_logits = zip(*(s.float().chunk(2) for s in scores))
        return discriminator_hinge_loss(real_logits, fake_logits)

    def codec_losses(self, x: torch.Tensor, y: torch.Tensor, adversarial: bool) -> dict[str, torch.Tensor]:
        losses = {"l1": l1_waveform_loss(y, x), "mel": self.mel_loss(y, x)}
        if adversarial:
            # Through the unwrapped (frozen) discriminator: gradients reach x̂, not D, and bypass DDP's hooks.
            with self.accelerator.autocast():
                fake = self.raw_discriminator(y)
                with torch.no_grad():  # targets, recomputed after this micro-batch's discriminator update
                    real = self.raw_discriminator(x)
            losses["adversarial"] = generator_hinge_loss([logits.float() for logits in fake.logits])
            losses["feature_matching"] = feature_matching_loss(real.feature_maps, fake.feature_maps)
        return losses

    def step(self, batch: dict[str, torch.Tensor], adversarial: bool) -> dict[str, torch.Tensor]:
        x, padding_mask = batch["input_values"], batch.get("padding_mask")
        with self.accelerator.autocast():
            output = self.codec(x, padding_mask=padding_mask)
        y = output.audio_values.to(torch.promote_types(output.audio_values.dtype, torch.float32))  # float32 at least
        if padding_mask is not None:
            # Padding is not audio: x is exactly 0 there, and the log-mel loss would make matching that digital
            # silence dominate every batch of short clips. Zeroing x̂ there too removes padding from all losses.
            y = y * padding_mask[:, None, :].to(y.dtype)
        metrics = {}
        if adversarial:
            loss_d = self.discriminator_loss(x, y)
            self._update(loss_d, self.discriminator, self.optimizer_d, self.scheduler_d)
            metrics["discriminator"] = loss_d.detach()

        self.raw_discriminator.requires_grad_(False)
        losses = self.codec_losses(x, y, adversarial)
        active = {name: loss for name, loss in losses.items() if self.weights[name] > 0}
        if self.balancer is not None:
            loss_g = self.balancer.surrogate_loss(active, y)
        else:
            loss_g = sum(self.weights[name] * loss for name, loss in active.items())
        # The commitment loss trains the encoder only; it stays outside the balancer (as in audiocraft).
        self._update(loss_g + output.commitment_loss, self.codec, self.optimizer_g, self.scheduler_g)
        self.raw_discriminator.requires_grad_(True)
        return {
            **metrics,
            **{name: loss.detach() for name, loss in losses.items()},
            "commitment": output.commitment_loss.detach(),
        }


def train_codec(args: argparse.Namespace) -> CodecTrainingResult:
    """Train a codec as configured by ``args`` (see :func:`build_arg_parser`); returns where it was saved."""
    check_args(args)
    output_dir = Path(args.output_dir)
    accelerator = setup_accelerator(args, "train_codec")
    set_seed(args.seed)

    codec, discriminator = _build_models(args)
    sampling_rate = codec.config.sampling_rate
    train_loader = build_train_dataloader(args, sampling_rate)
    eval_clips = load_eval_clips(
        args.dataset, args.eval_split, sampling_rate, args.max_eval_clips, args.eval_max_seconds
    )

    betas = (args.adam_beta1, args.adam_beta2)
    optimizer_g = torch.optim.Adam(codec.parameters(), lr=args.learning_rate, betas=betas)
    optimizer_d = torch.optim.Adam(
        discriminator.parameters(), lr=args.discriminator_learning_rate or args.learning_rate, betas=betas
    )
    scheduler_g = get_lr_scheduler(args.lr_scheduler, optimizer_g, args.lr_warmup_steps, args.max_train_steps)
    scheduler_d = get_lr_scheduler(args.lr_scheduler, optimizer_d, args.lr_warmup_steps, args.max_train_steps)
    codec, discriminator, optimizer_g, optimizer_d, scheduler_g, scheduler_d, train_loader = accelerator.prepare(
        codec, discriminator, optimizer_g, optimizer_d, scheduler_g, scheduler_d, train_loader
    )
    register_save_pretrained_hooks(accelerator, ["codec", "discriminator"])

    weights = _loss_weights(args)
    balancer = None
    if not args.no_balancer:
        # Averaging the norms over processes keeps every rank's gradient scaling identical.
        balancer = GradientBalancer(weights, norm_reduce=lambda t: accelerator.reduce(t, reduction="mean"))
    state = start_or_resume(
        accelerator, output_dir, args.resume_from_checkpoint, extra_states=[balancer] if balancer is not None else []
    )

    mel_loss = MultiScaleMelLoss(sampling_rate).to(accelerator.device)
    raw_codec = accelerator.unwrap_model(codec)
    trainer = _GanStep(
        accelerator,
        codec,
        discriminator,
        optimizer_g,
        optimizer_d,
        scheduler_g,
        scheduler_d,
        mel_loss,
        weights,
        balancer,
        args.max_grad_norm,
    )
    progress = TrainingProgress(
        accelerator, output_dir, args.max_train_steps, initial_step=state.global_step, description="codec"
    )
    means = RunningMeans()
    evaluation = None
    codec.train()
    discriminator.train()
    budget = TimeBudget(accelerator, args.max_train_minutes)
    bookkeeping = StepBookkeeping(accelerator, args, state, progress, budget)

    no_batch = f"the {args.train_split!r} split of {args.dataset!r} yielded no training batch"
    for batch in epoch_batches(
        accelerator, train_loader, train_loader.collate_fn, state, args.max_train_steps, no_batch
    ):
        adversarial = state.global_step >= args.adversarial_start_step
        with accelerator.accumulate(codec, discriminator):
            metrics = trainer.step(batch, adversarial)
        means.update({k: accelerator.reduce(v.float(), reduction="mean").item() for k, v in metrics.items()})

        if not accelerator.sync_gradients:
            continue
        update = bookkeeping.after_update(means, scheduler_g)  # count the step, log, checkpoint
        if update.is_due(args.eval_steps) and eval_clips:
            evaluation = _evaluate_and_write_samples(
                accelerator, raw_codec, eval_clips, mel_loss, args, output_dir, update.step, progress
            )
        if bookkeeping.finished(update):
            break

    progress.close()
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        raw_codec.save_pretrained(output_dir)
        CodecFeatureExtractor(
            feature_size=raw_codec.config.audio_channels, sampling_rate=sampling_rate
        ).save_pretrained(output_dir)
        trainer.raw_discriminator.save_pretrained(output_dir / "discriminator")
        if evaluation is not None:
            save_eval_results(output_dir, {"step": state.global_step, **vars(evaluation)})
    accelerator.end_training()
    return CodecTrainingResult(
        output_dir=output_dir,
        global_step=state.global_step,
        evaluation=evaluation,
        is_main_process=accelerator.is_main_process,
    )


def _evaluate_and_write_samples(accelerator, codec, clips, mel_loss, args, output_dir, step, progress):
    """Evaluate on the main process (the held-out set is small) and log; other processes wait."""
    evaluation = None
    if accelerator.is_main_process:
        evaluation = evaluate_codec(codec, clips, mel_loss)
        progress.log(evaluation.as_dict(prefix="eval_"), step=step)
        progress.write(
            f"step {step}: eval SI-SNR {evaluation.si_snr:.2f} dB, mel distance "
            f"{evaluation.mel_distance:.4f} ({evaluation.num_clips} clips)"
        )
        if args.num_audio_samples:
            write_samples(codec, clips[: args.num_audio_samples], output_dir / "samples", step)
    accelerator.wait_for_everyone()
    return evaluation


# ----------------------------------------------------------------------------------------------- data
class _TrainBatches:
    """The training DataLoader's collate function: fixed-length random crops, shaped ``(batch, 1, samples)``.

    Crops depend on (seed, epoch, clip id) only (:class:`~hf_audiogen.data.streams.RandomSegment`), which is what
    makes resuming exact; :meth:`set_epoch` must follow the stream's epoch.
    """

    def __init__(self, num_samples: int, seed: int):
        self.collator = AudioCollator(max_samples=num_samples, seed=seed, pad_to_max=True)

    def set_epoch(self, epoch: int) -> None:
        self.collator.set_epoch(epoch)

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        batch = self.collator(examples)
        audio = batch["audio"]
        if audio.dim() == 2:  # mono clips come as (batch, samples)
            audio = audio[:, None, :]
        return {"input_values": audio, "padding_mask": batch["padding_mask"]}


def build_train_dataloader(args: argparse.Namespace, sampling_rate: int) -> DataLoader:
    """A DataLoader over the shuffled, decoded training stream (not yet prepared by Accelerate)."""
    stream = train_stream_from_args(args, sampling_rate=sampling_rate)  # --train_data shards (resumed in place)
    if stream is None:
        stream = load_audio_dataset(args.dataset, split=args.train_split, streaming=True, sampling_rate=sampling_rate)
        stream = stream.shuffle(seed=args.seed, buffer_size=args.shuffle_buffer_size)
    collate = _TrainBatches(round(args.segment_seconds * sampling_rate), args.seed)
    # A private generator: every DataLoader iterator draws a base seed from it, which would otherwise come from the
    # global RNG and shift the codec's random draws (k-means, dead codes, quantizer dropout) after a resume.
    generator = torch.Generator().manual_seed(args.seed)
    return DataLoader(stream, batch_size=args.train_batch_size, collate_fn=collate, drop_last=True, generator=generator)


def load_eval_clips(
    dataset: str, split: str, sampling_rate: int, max_clips: int, max_seconds: float
) -> list[torch.Tensor]:
    """The first ``max_clips`` clips of the held-out split as ``(1, samples)`` tensors, truncated to ``max_seconds``
    (always the same clips and samples, so evaluations are comparable across runs)."""
    if max_clips == 0:
        return []
    clips = load_audio_dataset(dataset, split=split, streaming=False, sampling_rate=sampling_rate)
    max_samples = round(max_seconds * sampling_rate)
    selected = [
        torch.as_tensor(example["audio"][:max_samples], dtype=torch.float32)[None]
        for example in clips.select(range(min(max_clips, len(clips))))
    ]
    if not selected:
        raise InvalidInputError(f"the {split!r} split of {dataset!r} is empty: nothing to evaluate on")
    return selected


def main(argv: list[str] | None = None) -> CodecTrainingResult:
    return train_codec(parse_args(argv))


__all__ = [
    "CODEC_PRESETS",
    "CodecEvaluation",
    "build_arg_parser",
    "evaluate_codec",
    "load_codec_config",
    "parse_args",
    "train_codec",
]
