"""Training of GenAU's HiFi-GAN vocoder (log-mel -> 16 kHz waveform) with Accelerate, following HiFi-GAN (Kong et al.
2020, V1 recipe).

``training_scripts/train_vocoder.py`` only parses arguments and calls :func:`train_vocoder`. The generator is
transformers' ``SpeechT5HifiGan`` built from :func:`~hf_audiogen.genau.genau_vocoder_config` (the network of the
reference's HiFi-GAN), trained with weight normalisation as HiFi-GAN is. One optimizer step, per micro-batch of
random waveform segments ``y`` and their log-mel frames ``m`` (:class:`~.genau_vae.MelSegmentCollator`: the VAE's
front-end, so the vocoder learns exactly the mels the VAE produces):

1. ``ŷ = G(m)`` (``SpeechT5HifiGan`` takes ``(batch, frames, mel_bins)``: the ``(batch, mel_bins, frames)`` mels are
   transposed, and the 32 samples its transposed convolutions overhang are cut, so ``ŷ`` has ``frames * 160``
   samples like ``y``);
2. from ``global_step >= --disc_start`` on (HiFi-GAN: 0): a step of the multi-period (periods 2, 3, 5, 7, 11) and
   multi-scale (raw, x2 and x4 average-pooled) discriminators
   (:class:`~hf_audiogen.genau.discriminator.HifiGanDiscriminator`) on the least-squares GAN loss
   ``Σ_k mean((1 - D_k(y))²) + mean(D_k(sg(ŷ))²)``;
3. a generator step on ``45 · L1(log-mel(ŷ), m)`` + (from ``--disc_start``) ``Σ_k mean((1 - D_k(ŷ))²)`` +
   ``2 · Σ_layers mean|D(y) - D(ŷ)|`` (feature matching, real features recomputed after the discriminator step).

``normalize_before``: ``SpeechT5HifiGan`` can standardise its input with its ``mean``/``scale`` buffers. GenAU's
vocoder does not (``normalize_before=False``: it is fed the VAE's raw log-mels), so the buffers stay unused. A config
with ``normalize_before=True`` gets them set, on a new run, to the per-mel-bin mean and standard deviation of the
first training batch; they are saved with the model, so inference applies the same standardisation.

Periodic evaluation resynthesises full held-out clips from their log-mels and reports the mean absolute log-mel
error of the result (``eval_mel_l1``, HiFi-GAN's validation "mel error"), before training too, and writes a few of
them to ``OUTPUT_DIR/samples/step-N/``. The final generator goes to ``OUTPUT_DIR/final`` and the best one to
``OUTPUT_DIR/best``, weight norm folded in: plain ``SpeechT5HifiGan.from_pretrained`` checkpoints.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate.utils import set_seed
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.utils import parametrize
from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

from ..genau import GenAUMelFeatureExtractor, log_mel_spectrogram, vocoder_hop_length
from ..genau.discriminator import HIFIGAN_PERIOD_CHANNELS, HIFIGAN_SCALE_CHANNELS, HifiGanDiscriminator
from ..genau.vocoder import VOCODER_PRESETS, genau_vocoder_config
from ..validation import InvalidInputError
from .adversarial import hifigan_feature_matching_loss, lsgan_discriminator_loss, lsgan_generator_loss
from .arguments import add_audio_data_args, check_common_training_args, resolve_config, training_arg_parser
from .checkpointing import register_save_pretrained_hooks
from .genau_vae import EvaluationHistory, build_gan_optimizers, build_train_dataloader, load_eval_mels, segment_samples
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

logger = logging.getLogger(__name__)

WEIGHT_NORM_FILE = "generator_weight_norm.safetensors"


# ----------------------------------------------------------------------------------------------- generator
class VocoderForTraining(nn.Module):
    """``SpeechT5HifiGan`` with HiFi-GAN's weight normalisation, taking log-mels as the VAE lays them out.

    ``forward`` maps ``(batch, mel_bins, frames)`` to ``(batch, frames * hop)`` samples. ``save_pretrained`` writes a
    plain ``SpeechT5HifiGan`` (weight norm folded in, loadable as is) plus the weight-normalised parameters in
    ``generator_weight_norm.safetensors``, which ``from_pretrained`` restores, so resuming from a checkpoint is exact.
    """

    def __init__(self, vocoder: SpeechT5HifiGan):
        super().__init__()
        vocoder.apply_weight_norm()
        self.vocoder = vocoder
        self.hop_length = vocoder_hop_length(vocoder)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.vocoder(mel.transpose(1, 2))[..., : mel.shape[-1] * self.hop_length]

    def without_weight_norm(self) -> SpeechT5HifiGan:
        """A copy with the weight norm folded into plain weights (what inference and ``save_pretrained`` use)."""
        # Not deepcopy + remove_parametrizations: the copy shares its parametrized classes with the original, and
        # removing the parametrization from one deletes the `weight` property of both.
        state = {k: v for k, v in self.vocoder.state_dict().items() if ".parametrizations." not in k}
        for name, module in self.vocoder.named_modules():
            if parametrize.is_parametrized(module, "weight"):
                state[f"{name}.weight"] = module.weight.detach()
        plain = SpeechT5HifiGan(self.vocoder.config)
        plain.load_state_dict(state)
        return plain

    def save_pretrained(self, path) -> None:
        self.without_weight_norm().save_pretrained(path)
        save_file({k: v.contiguous() for k, v in self.vocoder.state_dict().items()}, str(Path(path) / WEIGHT_NORM_FILE))

    @classmethod
    def from_pretrained(cls, path) -> VocoderForTraining:
        model = cls(SpeechT5HifiGan.from_pretrained(path))
        weight_norm_file = Path(path) / WEIGHT_NORM_FILE
        if weight_norm_file.is_file():  # a training checkpoint: restore the exact (g, v) parameters
            model.vocoder.load_state_dict(load_file(str(weight_norm_file)))
        return model


def hifigan_init_(vocoder: SpeechT5HifiGan) -> SpeechT5HifiGan:
    """HiFi-GAN's initialisation, in place: PyTorch's default for every convolution, then N(0, 0.01) weights for the
    upsampling and residual ones. (transformers' generic init puts N(0, 0.01) on *every* conv with zero biases: the
    untrained output is then ~1e-7, entirely under the log-mel floor, where the mel loss has no gradient.)"""
    convolutions = (nn.Conv1d, nn.ConvTranspose1d)
    for module in vocoder.modules():
        if isinstance(module, convolutions):
            module.reset_parameters()
    for module in [*vocoder.upsampler.modules(), *vocoder.resblocks.modules()]:
        if isinstance(module, convolutions):
            nn.init.normal_(module.weight, 0.0, 0.01)
    return vocoder


# ----------------------------------------------------------------------------------------------- configuration
def load_vocoder_config(name_or_path: str) -> SpeechT5HifiGanConfig:
    """A GenAU vocoder config from a preset name (``VOCODER_PRESETS``), a ``config.json`` or a directory holding
    one."""
    # (SpeechT5HifiGanConfig(**config) is what SpeechT5HifiGanConfig.from_json_file does with the file.)
    return resolve_config(
        name_or_path,
        VOCODER_PRESETS,
        genau_vocoder_config,
        lambda config: SpeechT5HifiGanConfig(**config),
        kind="SpeechT5HifiGan config",
    )


def build_arg_parser() -> argparse.ArgumentParser:
    """All options of ``training_scripts/train_vocoder.py``."""
    parser = training_arg_parser(
        "Train GenAU's HiFi-GAN vocoder (log-mel -> waveform) with MPD/MSD discriminators and mel loss.",
        learning_rate=2e-4,
        train_batch_size=16,
    )

    model = parser.add_argument_group("model")
    model.add_argument(
        "--config",
        default="small",
        help=f"vocoder preset ({', '.join(VOCODER_PRESETS)}) or path to a SpeechT5HifiGan config.json",
    )
    model.add_argument(
        "--discriminator_channel_divisor",
        type=int,
        default=1,
        help="divide HiFi-GAN's MPD/MSD widths by this (1 = HiFi-GAN's discriminators)",
    )

    data = add_audio_data_args(
        parser,
        segment_seconds=0.512,
        eval_max_seconds=10.24,
        segment_help="length of the random training segments (HiFi-GAN: 8192 samples at 22 kHz)",
    )
    data.add_argument(
        "--num_audio_samples",
        type=int,
        default=2,
        help="resynthesised clips written to OUTPUT_DIR/samples at each evaluation",
    )

    losses = parser.add_argument_group("losses (defaults: HiFi-GAN V1)")
    losses.add_argument("--mel_weight", type=float, default=45.0, help="weight of the log-mel L1 loss")
    losses.add_argument(
        "--feature_matching_weight",
        type=float,
        default=1.0,
        help="multiplies HiFi-GAN's feature-matching loss (which already carries its factor 2)",
    )
    losses.add_argument(
        "--disc_start",
        type=int,
        default=0,
        help="train the discriminators and use the adversarial losses from this step on",
    )
    losses.add_argument("--adam_beta1", type=float, default=0.8)
    losses.add_argument("--adam_beta2", type=float, default=0.99)
    losses.add_argument("--weight_decay", type=float, default=0.01, help="AdamW weight decay (matrices only)")
    losses.add_argument("--discriminator_learning_rate", type=float, default=None, help="default: --learning_rate")
    return parser


def check_args(args: argparse.Namespace) -> None:
    check_common_training_args(args, reads_train_data=True)
    if args.segment_seconds <= 0:
        raise InvalidInputError(f"--segment_seconds must be positive, got {args.segment_seconds}")
    for name in ("mel_weight", "feature_matching_weight", "weight_decay", "disc_start"):
        if getattr(args, name) < 0:
            raise InvalidInputError(f"--{name} must be >= 0, got {getattr(args, name)}")
    if args.mel_weight == 0:
        raise InvalidInputError("--mel_weight is 0: the vocoder needs its reconstruction loss")
    if args.discriminator_channel_divisor < 1:
        raise InvalidInputError(
            f"--discriminator_channel_divisor must be >= 1, got {args.discriminator_channel_divisor}"
        )
    if args.max_eval_clips < 0 or args.num_audio_samples < 0 or args.eval_max_seconds <= 0:
        raise InvalidInputError(
            f"--max_eval_clips and --num_audio_samples must be >= 0 and --eval_max_seconds > 0, got "
            f"{args.max_eval_clips}, {args.num_audio_samples} and {args.eval_max_seconds}"
        )
    if args.discriminator_learning_rate is not None and args.discriminator_learning_rate <= 0:
        raise InvalidInputError(
            f"--discriminator_learning_rate must be positive, got {args.discriminator_learning_rate}"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_arg_parser().parse_args(argv)
    check_args(args)
    return args


def build_discriminator(divisor: int) -> HifiGanDiscriminator:
    """HiFi-GAN's MPD + MSD with every width divided by ``divisor`` (at least 1 channel)."""
    return HifiGanDiscriminator(
        period_channels=tuple(max(1, c // divisor) for c in HIFIGAN_PERIOD_CHANNELS),
        scale_channels=tuple(max(1, c // divisor) for c in HIFIGAN_SCALE_CHANNELS),
    )


# ----------------------------------------------------------------------------------------------- evaluation
class MelFrontEnd(nn.Module):
    """The feature extractor's log-mel as a differentiable module on the training device (for the mel loss)."""

    def __init__(self, feature_extractor: GenAUMelFeatureExtractor):
        super().__init__()
        self.hop_length = feature_extractor.hop_length
        self.log_floor = feature_extractor.log_floor
        self.register_buffer("mel_filters", torch.from_numpy(feature_extractor.mel_filters), persistent=False)
        self.register_buffer("window", torch.hann_window(feature_extractor.n_fft), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, samples)`` -> ``(batch, mel_bins, samples // hop)``."""
        return log_mel_spectrogram(waveform.float(), self.mel_filters, self.window, self.hop_length, self.log_floor)


@torch.no_grad()
def evaluate_vocoder(model: VocoderForTraining, mels: list[torch.Tensor], front_end: MelFrontEnd) -> float:
    """Mean over clips of the mean absolute error between each log-mel and the log-mel of its resynthesis."""
    if not mels:
        raise InvalidInputError("evaluate_vocoder needs at least one log-mel")
    device = next(model.parameters()).device
    front_end = front_end.to(device)
    errors = []
    with eval_mode(model):
        for mel in mels:
            mel = mel.to(device)[None]
            errors.append(float((front_end(model(mel)) - mel).abs().mean()))
    return sum(errors) / len(errors)


# ----------------------------------------------------------------------------------------------- training
@dataclass
class VocoderTrainingResult:
    output_dir: Path
    global_step: int
    evaluations: EvaluationHistory  # eval_mel_l1 history (main process)
    is_main_process: bool = True


def _set_input_normalization(vocoder: SpeechT5HifiGan, mel: torch.Tensor) -> None:
    """``mean``/``scale`` buffers = per-mel-bin statistics of ``mel`` ``(batch, mel_bins, frames)``."""
    with torch.no_grad():
        vocoder.mean.copy_(mel.mean(dim=(0, 2)))
        vocoder.scale.copy_(mel.std(dim=(0, 2)).clamp(min=1e-5))


def train_vocoder(args: argparse.Namespace) -> VocoderTrainingResult:
    """Train a vocoder as configured by ``args`` (see :func:`build_arg_parser`); returns where it was saved."""
    check_args(args)
    output_dir = Path(args.output_dir)
    accelerator = setup_accelerator(args, "train_vocoder")
    set_seed(args.seed)

    config = load_vocoder_config(args.config)
    feature_extractor = GenAUMelFeatureExtractor(
        feature_size=config.model_in_dim, sampling_rate=config.sampling_rate, max_duration_s=None
    )
    generator = hifigan_init_(SpeechT5HifiGan(config))
    if vocoder_hop_length(generator) != feature_extractor.hop_length:
        raise InvalidInputError(
            f"the vocoder's upsampling rates {config.upsample_rates} multiply to "
            f"{vocoder_hop_length(generator)}, not the mel hop ({feature_extractor.hop_length})"
        )
    discriminator = build_discriminator(args.discriminator_channel_divisor)
    samples = segment_samples(args, feature_extractor)
    if samples <= feature_extractor.n_fft // 2:  # (the discriminators need far less: the longest period + 1)
        raise InvalidInputError(
            f"--segment_seconds {args.segment_seconds} gives {samples} samples; need more than "
            f"{feature_extractor.n_fft // 2} (half the mel FFT)"
        )
    train_loader = build_train_dataloader(args, feature_extractor)
    if config.normalize_before:
        _set_input_normalization(
            generator, next(iter(build_train_dataloader(args, feature_extractor)))["input_features"]
        )
    model = VocoderForTraining(generator)
    eval_mels = load_eval_mels(
        args.dataset, args.eval_split, feature_extractor, args.max_eval_clips, args.eval_max_seconds
    )
    front_end = MelFrontEnd(feature_extractor).to(accelerator.device)

    optimizer_g, optimizer_d, scheduler_g, scheduler_d = build_gan_optimizers(args, model, discriminator)
    model, discriminator, optimizer_g, optimizer_d, scheduler_g, scheduler_d, train_loader = accelerator.prepare(
        model, discriminator, optimizer_g, optimizer_d, scheduler_g, scheduler_d, train_loader
    )
    register_save_pretrained_hooks(accelerator, ["vocoder", "discriminator"])
    history = EvaluationHistory()
    state = start_or_resume(accelerator, output_dir, args.resume_from_checkpoint, extra_states=[history])

    raw_model = accelerator.unwrap_model(model)
    raw_discriminator = accelerator.unwrap_model(discriminator)
    progress = TrainingProgress(
        accelerator, output_dir, args.max_train_steps, initial_step=state.global_step, description="vocoder"
    )

    def evaluate(step: int) -> None:
        if accelerator.is_main_process:
            value = evaluate_vocoder(raw_model, eval_mels, front_end)
            progress.log({"eval_mel_l1": value}, step=step)
            progress.write(f"step {step}: eval mel L1 of resynthesis {value:.4f} ({len(eval_mels)} clips)")
            if history.update(value, step) and step > 0:
                raw_model.without_weight_norm().save_pretrained(output_dir / "best")
            write_samples(
                raw_model,
                eval_mels[: args.num_audio_samples],
                output_dir / "samples" / f"step-{step}",
                config.sampling_rate,
            )
        accelerator.wait_for_everyone()

    if state.global_step == 0 and eval_mels:
        evaluate(0)
    means = RunningMeans()
    model.train()
    discriminator.train()
    budget = TimeBudget(accelerator, args.max_train_minutes)
    bookkeeping = StepBookkeeping(accelerator, args, state, progress, budget)

    no_batch = f"the {args.train_split!r} split of {args.dataset!r} yielded no training batch"
    for batch in epoch_batches(
        accelerator, train_loader, train_loader.collate_fn, state, args.max_train_steps, no_batch
    ):
        adversarial = state.global_step >= args.disc_start
        mel, waveform = batch["input_features"], batch["waveform"][:, None]
        metrics = {}
        with accelerator.accumulate(model, discriminator):
            with accelerator.autocast():
                generated = model(mel)[:, None].float()
            if adversarial:
                # One forward over [real; fake]: a single DDP forward per backward.
                with accelerator.autocast():
                    logits, _ = discriminator(torch.cat([waveform, generated.detach()]))
                real_logits, fake_logits = zip(*(s.float().chunk(2) for s in logits))
                loss_d = lsgan_discriminator_loss(real_logits, fake_logits)
                optimizer_update(
                    accelerator, loss_d, discriminator.parameters(), optimizer_d, scheduler_d, args.max_grad_norm
                )
                metrics["discriminator"] = loss_d.detach()

            # Frozen for the generator step: gradients reach ŷ, and none pile up in D's .grad for the next D step.
            raw_discriminator.requires_grad_(False)
            metrics["mel"] = F.l1_loss(front_end(generated[:, 0]), mel.float())
            loss_g = args.mel_weight * metrics["mel"]
            if adversarial:
                with accelerator.autocast():
                    fake_logits, fake_features = raw_discriminator(generated)
                    with torch.no_grad():  # targets, after this micro-batch's discriminator update (as HiFi-GAN)
                        _, real_features = raw_discriminator(waveform)
                metrics["adversarial"] = lsgan_generator_loss([s.float() for s in fake_logits])
                metrics["feature_matching"] = hifigan_feature_matching_loss(real_features, fake_features)
                loss_g = loss_g + metrics["adversarial"] + args.feature_matching_weight * metrics["feature_matching"]
            optimizer_update(accelerator, loss_g, model.parameters(), optimizer_g, scheduler_g, args.max_grad_norm)
            raw_discriminator.requires_grad_(True)
        means.update({k: accelerator.reduce(v.detach().float(), reduction="mean").item() for k, v in metrics.items()})

        if not accelerator.sync_gradients:
            continue
        update = bookkeeping.after_update(means, scheduler_g)  # count the step, log, checkpoint
        if update.is_due(args.eval_steps) and eval_mels:
            evaluate(update.step)
        if bookkeeping.finished(update):
            break

    progress.close()
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        raw_model.without_weight_norm().save_pretrained(output_dir / "final")
        raw_discriminator.save_pretrained(output_dir / "discriminator")
        save_eval_results(output_dir, {"step": state.global_step, "eval_mel_l1": vars(history)})
    accelerator.end_training()
    return VocoderTrainingResult(
        output_dir=output_dir,
        global_step=state.global_step,
        evaluations=history,
        is_main_process=accelerator.is_main_process,
    )


@torch.no_grad()
def write_samples(model: VocoderForTraining, mels: list[torch.Tensor], folder: Path, sampling_rate: int) -> list[Path]:
    """``folder/clip_i.wav``: the resynthesis of log-mel i."""
    device = next(model.parameters()).device
    with eval_mode(model):
        resynthesised = ((clip_sample_name(i), model(mel.to(device)[None])[0]) for i, mel in enumerate(mels))
        return write_clips(folder, resynthesised, sampling_rate)


def main(argv: list[str] | None = None) -> VocoderTrainingResult:
    return train_vocoder(parse_args(argv))


__all__ = [
    "HifiGanDiscriminator",
    "MelFrontEnd",
    "VocoderForTraining",
    "build_arg_parser",
    "build_discriminator",
    "evaluate_vocoder",
    "hifigan_feature_matching_loss",
    "hifigan_init_",
    "load_vocoder_config",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    "main",
    "parse_args",
    "train_vocoder",
    "write_samples",
]
