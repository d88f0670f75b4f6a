"""Training of GenAU's 1D-VAE (paper §3.3; the reference's ``autoencoder_1d.py`` + ``LPIPSWithDiscriminator``) with
Accelerate.

``training_scripts/train_vae.py`` only parses arguments and calls :func:`train_vae`. One optimizer step, per
micro-batch of log-mels ``x`` (random crops of real clips, see :class:`MelSegmentCollator`), in the reference's order:

1. ``x̂ = decode(z)``, ``z ~ q(z|x)`` (the posterior is *sampled* while training, as in the reference);
2. from ``global_step >= --disc_start`` on: a discriminator step on the hinge loss of ``D(x)`` vs ``D(sg(x̂))``
   (a PatchGAN over the mel "image", :class:`~hf_audiogen.genau.losses.MelPatchDiscriminator`);
3. a VAE step on :class:`~hf_audiogen.genau.losses.AutoencoderKL1DLoss`: summed L1 reconstruction + ``kl_weight`` ·
   KL (averaged over latent elements, as the reference does) and, from ``--disc_start`` on, discriminator feature
   matching (our stand-in for LPIPS) + the adaptively weighted adversarial term.

As in the reference (and the latent-diffusion autoencoder it comes from), the loss's ``logvar`` is not optimised: it
stays at 0, so the NLL term is the plain summed L1. The reference trains with Adam(0.5, 0.9); here it is AdamW with
the same betas and ``--weight_decay`` 0 by default, i.e. the same update.

Periodic evaluation reports the mean absolute log-mel error of the reconstruction (posterior mean) of full held-out
clips (``eval_mel_l1``), before training too. The final VAE goes to ``OUTPUT_DIR/final`` and the one with the lowest
``eval_mel_l1`` to ``OUTPUT_DIR/best`` (``save_pretrained`` + the ``GenAUMelFeatureExtractor``), each with its
``scaling_factor`` set to ``1 / std`` of posterior samples of the first training batch (what the reference's
``scale_by_std`` and diffusers' training scripts compute, for this VAE's latents); the ``scaling_factor`` in a
checkpoint is only the last one computed (1.0 before the first export). The run's discriminator goes to
``OUTPUT_DIR/discriminator``.
"""

from __future__ import annotations

import argparse
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from accelerate.utils import set_seed
from torch import nn
from torch.utils.data import DataLoader

from ..audio import peak_normalize
from ..data.streams import RandomSegment, load_audio_dataset
from ..genau import AutoencoderKL1D, GenAUMelFeatureExtractor
from ..genau.losses import AutoencoderKL1DLoss, MelPatchDiscriminator
from ..genau.modeling_autoencoder_kl_1d import VAE_PRESETS
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
    adamw_with_decay_groups,
    epoch_batches,
    eval_mode,
    optimizer_update,
    save_eval_results,
    setup_accelerator,
    start_or_resume,
)
from .progress import RunningMeans, TrainingProgress
from .schedules import get_lr_scheduler

logger = logging.getLogger(__name__)

_REFERENCE_PEAK_DB = 20 * math.log10(0.5)  # the reference scales every clip's peak to 0.5


# ----------------------------------------------------------------------------------------------- data
class MelSegmentCollator:
    """The training DataLoader's collate function for GenAU's VAE and vocoder: random waveform segments and their
    log-mel frames.

    Each clip is normalised as the reference's data loader does (mean removed, peak scaled to 0.5, over the whole
    clip, so quiet passages stay quiet), cropped to a random window of ``segment_samples`` (:class:`RandomSegment`:
    the window depends on (seed, epoch, clip id) only, which makes resuming exact), zero-padded at the end like the
    reference pads short clips, and turned into log-mels by ``feature_extractor`` (without normalising again).

    Returns ``{"input_features": (batch, mel_bins, frames), "waveform": (batch, samples), "padding_mask": (batch,
    samples)}`` with ``samples = frames * hop_length = segment_samples``.

    Example:

    ```python
    >>> import numpy as np
    >>> from hf_audiogen.genau import GenAUMelFeatureExtractor
    >>> from hf_audiogen.training.genau_vae import MelSegmentCollator
    >>> collate = MelSegmentCollator(GenAUMelFeatureExtractor(max_duration_s=None), segment_samples=3200, seed=0)
    >>> batch = collate([{"audio": np.random.randn(8000).astype("float32"), "sampling_rate": 16000, "id": "a"}])
    >>> batch["input_features"].shape, batch["waveform"].shape
    (torch.Size([1, 64, 20]), torch.Size([1, 3200]))

    ```
    """

    def __init__(self, feature_extractor: GenAUMelFeatureExtractor, segment_samples: int, seed: int):
        hop = feature_extractor.hop_length
        if segment_samples % hop or segment_samples <= feature_extractor.n_fft // 2:
            raise InvalidInputError(
                f"segment_samples must be a multiple of the hop ({hop}) longer than n_fft / 2 "
                f"({feature_extractor.n_fft // 2}), got {segment_samples}"
            )
        self.feature_extractor = feature_extractor
        self.segment_samples = segment_samples
        self.segment = RandomSegment(segment_samples, seed)

    def set_epoch(self, epoch: int) -> None:
        self.segment.set_epoch(epoch)

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        sampling_rate = self.feature_extractor.sampling_rate
        waveform = np.zeros((len(examples), self.segment_samples), dtype=np.float32)
        padding_mask = np.zeros((len(examples), self.segment_samples), dtype=np.int64)
        for row, example in enumerate(examples):
            if int(example["sampling_rate"]) != sampling_rate:
                raise InvalidInputError(
                    f"clip {example.get('id')!r} is at {example['sampling_rate']} Hz; load the dataset "
                    f"with sampling_rate={sampling_rate}"
                )
            audio = np.asarray(example["audio"], dtype=np.float32)
            audio = peak_normalize(audio - audio.mean(), peak_db=_REFERENCE_PEAK_DB)
            crop = self.segment({**example, "audio": audio})["audio"]
            waveform[row, : len(crop)] = crop
            padding_mask[row, : len(crop)] = 1
        features = self.feature_extractor(
            list(waveform), sampling_rate=sampling_rate, return_tensors="pt", do_normalize=False
        )
        return {
            "input_features": features["input_features"],
            "waveform": torch.from_numpy(waveform),
            "padding_mask": torch.from_numpy(padding_mask),
        }


def build_train_dataloader(args: argparse.Namespace, feature_extractor: GenAUMelFeatureExtractor) -> DataLoader:
    """A DataLoader over the shuffled, decoded training stream (not yet prepared by Accelerate)."""
    sampling_rate = feature_extractor.sampling_rate
    stream = train_stream_from_args(args, sampling_rate=sampling_rate)  # --train_data shards (resumed in place)
    if stream is None:
        stream = load_audio_dataset(args.dataset, split=args.train_split, streaming=True, sampling_rate=sampling_rate)
        stream = stream.shuffle(seed=args.seed, buffer_size=args.shuffle_buffer_size)
    collate = MelSegmentCollator(feature_extractor, segment_samples(args, feature_extractor), args.seed)
    # A private generator: every DataLoader iterator draws a base seed, by default from the global RNG, which would
    # shift the posterior samples of a resumed run (see training.checkpointing).
    generator = torch.Generator().manual_seed(args.seed)
    return DataLoader(stream, batch_size=args.train_batch_size, collate_fn=collate, drop_last=True, generator=generator)


def segment_samples(args: argparse.Namespace, feature_extractor: GenAUMelFeatureExtractor) -> int:
    """``--segment_seconds`` in samples, rounded to whole mel frames."""
    return round(args.segment_seconds * feature_extractor.sampling_rate / feature_extractor.hop_length) * (
        feature_extractor.hop_length
    )


def load_eval_mels(
    dataset: str, split: str, feature_extractor: GenAUMelFeatureExtractor, max_clips: int, max_seconds: float
) -> list[torch.Tensor]:
    """Log-mels ``(mel_bins, frames)`` of the first ``max_clips`` clips of the held-out split, each truncated to
    ``max_seconds`` and normalised as in training (always the same clips, so evaluations compare across runs)."""
    if max_clips == 0:
        return []
    clips = load_audio_dataset(dataset, split=split, streaming=False, sampling_rate=feature_extractor.sampling_rate)
    max_samples = round(max_seconds * feature_extractor.sampling_rate)
    mels = []
    for example in clips.select(range(min(max_clips, len(clips)))):
        audio = np.asarray(example["audio"][:max_samples], dtype=np.float32)
        features = feature_extractor(audio, sampling_rate=feature_extractor.sampling_rate, return_tensors="pt")
        mels.append(features["input_features"][0])
    if not mels:
        raise InvalidInputError(f"the {split!r} split of {dataset!r} is empty: nothing to evaluate on")
    return mels


# ----------------------------------------------------------------------------------------------- configuration
def load_vae(name_or_path: str) -> AutoencoderKL1D:
    """A randomly initialised :class:`AutoencoderKL1D` from a preset name (``VAE_PRESETS``), a ``config.json`` or a
    directory holding one."""
    return resolve_config(
        name_or_path, VAE_PRESETS, AutoencoderKL1D.from_preset, AutoencoderKL1D.from_config, kind="VAE config"
    )


def build_arg_parser() -> argparse.ArgumentParser:
    """All options of ``training_scripts/train_vae.py``."""
    parser = training_arg_parser(
        "Train GenAU's 1D-VAE on log-mels with reconstruction, KL and adversarial losses.",
        learning_rate=1e-4,
        train_batch_size=8,
    )

    model = parser.add_argument_group("model")
    model.add_argument(
        "--config",
        default="small",
        help=f"VAE preset ({', '.join(VAE_PRESETS)}) or path to an AutoencoderKL1D config.json",
    )
    model.add_argument("--disc_base_channels", type=int, default=64, help="width of the PatchGAN discriminator")
    model.add_argument("--disc_num_layers", type=int, default=3, help="strided layers of the PatchGAN discriminator")

    add_audio_data_args(
        parser,
        segment_seconds=10.24,
        eval_max_seconds=10.24,
        segment_help="length of the random training crops (the reference: 10.24 s = 1024 frames); "
        "the frame count must be a multiple of the VAE's downsampling (4)",
    )

    losses = parser.add_argument_group("losses (defaults: the reference's 1d_vae.yaml)")
    losses.add_argument(
        "--kl_weight",
        type=float,
        default=1000.0,
        help="weight of the KL term (averaged over latent elements, as in the reference)",
    )
    losses.add_argument("--disc_weight", type=float, default=0.5, help="scale of the adaptive adversarial weight")
    losses.add_argument(
        "--disc_start",
        type=int,
        default=20001,
        help="train the discriminator and use the adversarial losses from this step on",
    )
    losses.add_argument(
        "--feature_matching_weight",
        type=float,
        default=1.0,
        help="weight of discriminator feature matching (the LPIPS stand-in), from --disc_start on; "
        "it is a mean over activations while the reconstruction term is a sum over mel "
        "elements, so it only matters when weighted up",
    )
    losses.add_argument("--adam_beta1", type=float, default=0.5)
    losses.add_argument("--adam_beta2", type=float, default=0.9)
    losses.add_argument("--weight_decay", type=float, default=0.0, help="AdamW weight decay (matrices only)")
    losses.add_argument("--discriminator_learning_rate", type=float, default=None, help="default: --learning_rate")
    return parser


def check_args(args: argparse.Namespace) -> None:
    check_common_training_args(args, reads_train_data=True)
    if args.segment_seconds <= 0:
        raise InvalidInputError(f"--segment_seconds must be positive, got {args.segment_seconds}")
    for name in ("kl_weight", "disc_weight", "feature_matching_weight", "weight_decay", "disc_start"):
        if getattr(args, name) < 0:
            raise InvalidInputError(f"--{name} must be >= 0, got {getattr(args, name)}")
    if args.disc_base_channels < 1 or args.disc_num_layers < 1:
        raise InvalidInputError(
            f"--disc_base_channels and --disc_num_layers must be >= 1, got {args.disc_base_channels} "
            f"and {args.disc_num_layers}"
        )
    if args.max_eval_clips < 0 or args.eval_max_seconds <= 0:
        raise InvalidInputError(
            f"--max_eval_clips must be >= 0 and --eval_max_seconds > 0, got {args.max_eval_clips} and "
            f"{args.eval_max_seconds}"
        )
    if args.discriminator_learning_rate is not None and args.discriminator_learning_rate <= 0:
        raise InvalidInputError(
            f"--discriminator_learning_rate must be positive, got {args.discriminator_learning_rate}"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_arg_parser().parse_args(argv)
    check_args(args)
    return args


# ----------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_vae(vae: AutoencoderKL1D, mels: list[torch.Tensor]) -> float:
    """Mean over clips of the mean absolute log-mel error of the reconstruction from the posterior mean (one clip
    at a time, so no padding enters the figure)."""
    if not mels:
        raise InvalidInputError("evaluate_vae needs at least one log-mel")
    device = next(vae.parameters()).device
    with eval_mode(vae):
        errors = [float((vae(mel.to(device)[None]).sample[0] - mel.to(device)).abs().mean()) for mel in mels]
    return sum(errors) / len(errors)


@torch.no_grad()
def compute_scaling_factor(vae: AutoencoderKL1D, mel: torch.Tensor, seed: int = 0) -> float:
    """``1 / std`` of posterior samples ``z ~ q(z | mel)`` for a batch ``(batch, mel_bins, frames)``: the latent
    scale GenAU (``scale_by_std``) and diffusers' training scripts derive from the first batch. A private generator
    keeps the global RNG (and so exact resume) untouched."""
    device = next(vae.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    z = vae.encode(mel.to(device)).latent_dist.sample(generator=generator)
    std = float(z.float().std())
    if not std > 0 or not math.isfinite(std):
        raise InvalidInputError(f"latents of the first batch have std {std}: cannot derive a scaling_factor")
    return 1.0 / std


# ----------------------------------------------------------------------------------------------- training
class VAEForTraining(nn.Module):
    """The VAE as Accelerate/DDP sees it: ``forward`` returns the reconstruction of a sampled latent *and* the
    posterior the KL needs (``AutoencoderKL1D.forward`` returns only the mel, and DDP syncs gradients only for what
    runs through ``forward``). ``save_pretrained``/``from_pretrained`` store the wrapped VAE, so the checkpoint hooks
    of :mod:`.checkpointing` write a loadable VAE."""

    def __init__(self, vae: AutoencoderKL1D):
        super().__init__()
        self.vae = vae

    def forward(self, mel: torch.Tensor):
        posterior = self.vae.encode(mel).latent_dist
        reconstruction = self.vae.decode(posterior.sample()).sample[..., : mel.shape[-1]]
        return reconstruction, posterior

    def save_pretrained(self, path) -> None:
        self.vae.save_pretrained(path)

    @classmethod
    def from_pretrained(cls, path) -> VAEForTraining:
        return cls(AutoencoderKL1D.from_pretrained(path))


@dataclass
class EvaluationHistory:
    """First, latest and best ``eval_mel_l1`` of a run (registered for checkpointing, so a resumed run still
    reports its start and keeps the best model honest)."""

    first: float | None = None
    last: float | None = None
    best: float | None = None
    best_step: int | None = None

    def update(self, value: float, step: int) -> bool:
        """Record an evaluation; True if it is a new best."""
        self.first = value if self.first is None else self.first
        self.last = value
        if self.best is None or value < self.best:
            self.best, self.best_step = value, step
            return True
        return False

    def state_dict(self) -> dict:
        return dict(vars(self))

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)


@dataclass
class VAETrainingResult:
    output_dir: Path
    global_step: int
    evaluations: EvaluationHistory  # eval_mel_l1 history (main process)
    scaling_factor: float | None  # of the final VAE (main process)
    is_main_process: bool = True


def _reduced(accelerator, logs: dict[str, float]) -> dict[str, float]:
    values = torch.tensor([float(v) for v in logs.values()], device=accelerator.device)
    return dict(zip(logs, accelerator.reduce(values, reduction="mean").tolist()))


def build_gan_optimizers(args: argparse.Namespace, generator: nn.Module, discriminator: nn.Module) -> tuple:
    """``(optimizer_g, optimizer_d, scheduler_g, scheduler_d)`` of GenAU's VAE and vocoder: AdamW with
    ``--adam_beta1/2`` and ``--weight_decay`` on matrices only, the discriminator at ``--discriminator_learning_rate``
    (default ``--learning_rate``), both on ``--lr_scheduler``."""
    betas = (args.adam_beta1, args.adam_beta2)
    optimizer_g = adamw_with_decay_groups(list(generator.parameters()), args.learning_rate, args.weight_decay, betas)
    optimizer_d = adamw_with_decay_groups(
        list(discriminator.parameters()),
        args.discriminator_learning_rate or args.learning_rate,
        args.weight_decay,
        betas,
    )
    scheduler_g = get_lr_scheduler(args.lr_scheduler, optimizer_g, args.lr_warmup_steps, args.max_train_steps)
    scheduler_d = get_lr_scheduler(args.lr_scheduler, optimizer_d, args.lr_warmup_steps, args.max_train_steps)
    return optimizer_g, optimizer_d, scheduler_g, scheduler_d


def train_vae(args: argparse.Namespace) -> VAETrainingResult:
    """Train a VAE as configured by ``args`` (see :func:`build_arg_parser`); returns where it was saved."""
    check_args(args)
    output_dir = Path(args.output_dir)
    accelerator = setup_accelerator(args, "train_vae")
    set_seed(args.seed)

    vae = load_vae(args.config)
    feature_extractor = GenAUMelFeatureExtractor(feature_size=vae.config.in_channels, max_duration_s=None)
    frames = segment_samples(args, feature_extractor) // feature_extractor.hop_length
    if frames < vae.temporal_downsampling or frames % vae.temporal_downsampling:
        raise InvalidInputError(
            f"--segment_seconds {args.segment_seconds} gives {frames} mel frames; use a multiple of the "
            f"VAE's downsampling ({vae.temporal_downsampling} frames = "
            f"{vae.temporal_downsampling * feature_extractor.hop_length / feature_extractor.sampling_rate}"
            f" s)"
        )
    model = VAEForTraining(vae)
    discriminator = MelPatchDiscriminator(base_channels=args.disc_base_channels, num_layers=args.disc_num_layers)
    loss_fn = AutoencoderKL1DLoss(
        kl_weight=args.kl_weight,
        disc_weight=args.disc_weight,
        disc_start=args.disc_start,
        perceptual_weight=args.feature_matching_weight,
    ).to(accelerator.device)
    loss_fn.logvar.requires_grad_(False)  # not optimised, as in the reference (see the module docstring)
    train_loader = build_train_dataloader(args, feature_extractor)
    eval_mels = load_eval_mels(
        args.dataset, args.eval_split, feature_extractor, args.max_eval_clips, args.eval_max_seconds
    )

    optimizer_g, optimizer_d, scheduler_g, scheduler_d = build_gan_optimizers(args, model, discriminator)
    model, discriminator, optimizer_g, optimizer_d, scheduler_g, scheduler_d, train_loader = accelerator.prepare(
        model, discriminator, optimizer_g, optimizer_d, scheduler_g, scheduler_d, train_loader
    )
    register_save_pretrained_hooks(accelerator, ["vae", "discriminator"])
    history = EvaluationHistory()
    state = start_or_resume(accelerator, output_dir, args.resume_from_checkpoint, extra_states=[history])

    raw_vae = accelerator.unwrap_model(model).vae
    raw_discriminator = accelerator.unwrap_model(discriminator)
    progress = TrainingProgress(
        accelerator, output_dir, args.max_train_steps, initial_step=state.global_step, description="vae"
    )
    evaluate = _Evaluator(accelerator, raw_vae, feature_extractor, eval_mels, history, args, progress)
    if state.global_step == 0 and eval_mels:
        evaluate(step=0)  # the starting point of the run's reconstruction error
    means = RunningMeans()
    model.train()
    discriminator.train()
    budget = TimeBudget(accelerator, args.max_train_minutes)
    bookkeeping = StepBookkeeping(accelerator, args, state, progress, budget)

    no_batch = f"the {args.train_split!r} split of {args.dataset!r} yielded no training batch"
    for batch in epoch_batches(
        accelerator, train_loader, train_loader.collate_fn, state, args.max_train_steps, no_batch
    ):
        step = state.global_step  # steps done before this one (the loss's disc_start counts the same way)
        mel = batch["input_features"]
        with accelerator.accumulate(model, discriminator):
            with accelerator.autocast():
                reconstruction, posterior = model(mel)
            reconstruction = reconstruction.float()
            logs = {}
            if step >= args.disc_start:
                loss_d, logs_d = loss_fn.discriminator_loss(mel, reconstruction, discriminator, global_step=step)
                optimizer_update(
                    accelerator, loss_d, discriminator.parameters(), optimizer_d, scheduler_d, args.max_grad_norm
                )
                logs.update(logs_d)
            # Frozen for the VAE step: its gradients reach x̂, and none pile up in D's .grad for the next D step.
            raw_discriminator.requires_grad_(False)
            loss_g, logs_g = loss_fn.generator_loss(
                mel, reconstruction, posterior, raw_discriminator, global_step=step, last_layer=raw_vae.get_last_layer()
            )
            optimizer_update(accelerator, loss_g, model.parameters(), optimizer_g, scheduler_g, args.max_grad_norm)
            raw_discriminator.requires_grad_(True)
            logs.update(logs_g)
        means.update(_reduced(accelerator, logs))

        if not accelerator.sync_gradients:
            continue
        update = bookkeeping.after_update(means, scheduler_g)  # count the step, log, checkpoint
        if update.is_due(args.eval_steps) and eval_mels:
            evaluate(update.step)
        if bookkeeping.finished(update):
            break

    progress.close()
    accelerator.wait_for_everyone()
    scaling_factor = None
    if accelerator.is_main_process:
        scaling_factor = evaluate.save(output_dir / "final")
        raw_discriminator.save_pretrained(output_dir / "discriminator")
        save_eval_results(
            output_dir, {"step": state.global_step, "eval_mel_l1": vars(history), "scaling_factor": scaling_factor}
        )
    accelerator.end_training()
    return VAETrainingResult(
        output_dir=output_dir,
        global_step=state.global_step,
        evaluations=history,
        scaling_factor=scaling_factor,
        is_main_process=accelerator.is_main_process,
    )


class _Evaluator:
    """Evaluation on the main process (the held-out set is small) and the ``best``/``final`` exports."""

    def __init__(self, accelerator, vae, feature_extractor, eval_mels, history, args, progress):
        self.accelerator, self.vae, self.feature_extractor = accelerator, vae, feature_extractor
        self.eval_mels, self.history, self.args, self.progress = eval_mels, history, args, progress
        self._first_batch = None

    def __call__(self, step: int) -> None:
        if self.accelerator.is_main_process:
            value = evaluate_vae(self.vae, self.eval_mels)
            self.progress.log({"eval_mel_l1": value}, step=step)
            self.progress.write(f"step {step}: eval mel L1 {value:.4f} ({len(self.eval_mels)} clips)")
            if self.history.update(value, step) and step > 0:
                self.save(Path(self.args.output_dir) / "best")
        self.accelerator.wait_for_everyone()

    def save(self, path: Path) -> float:
        """``save_pretrained`` the VAE (with its scaling factor) and the default 10.24 s feature extractor."""
        if self._first_batch is None:
            # A fresh pass over the stream: the first batch of epoch 0, the same whether or not the run resumed.
            self._first_batch = next(iter(build_train_dataloader(self.args, self.feature_extractor)))
        scaling_factor = compute_scaling_factor(self.vae, self._first_batch["input_features"], self.args.seed)
        self.vae.register_to_config(scaling_factor=scaling_factor)
        self.vae.save_pretrained(path)
        GenAUMelFeatureExtractor(feature_size=self.vae.config.in_channels).save_pretrained(path)
        return scaling_factor


def main(argv: list[str] | None = None) -> VAETrainingResult:
    return train_vae(parse_args(argv))


__all__ = [
    "EvaluationHistory",
    "MelSegmentCollator",
    "VAEForTraining",
    "build_arg_parser",
    "compute_scaling_factor",
    "evaluate_vae",
    "load_eval_mels",
    "load_vae",
    "main",
    "parse_args",
    "train_vae",
]
