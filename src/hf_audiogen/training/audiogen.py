"""Training of the AudioGen language model (paper §3.2, §4.1) with Accelerate, and LoRA fine-tuning of a trained one.

``training_scripts/train_audiogen.py`` and ``training_scripts/finetune_lora.py`` only parse arguments and call
:func:`train_audiogen` / :func:`finetune_lora`; the loop lives here so that tests run it. One optimizer step is

1. a batch of captions + audio crops (or pre-tokenised codes, see :mod:`hf_audiogen.training.audiogen_data`);
2. audio -> codes with the frozen codec (in float32, outside autocast: the codes must not depend on the precision);
3. teacher-forced decoder pass conditioned on the frozen text encoder, 10% of the conditions nulled for
   classifier-free guidance (the model does this in training mode); the loss is the per-codebook cross-entropy on the
   valid positions of the interleaving pattern, averaged over codebooks (``model(...).loss``);
4. AdamW (β = 0.9, 0.95, weight decay 0.1, gradient clipping 1.0, as audiocraft) with a linear warm-up and an inverse
   square-root decay (the paper: lr 5e-4, 3k warm-up steps), optional EMA of the trained weights.

Every ``eval_steps`` the held-out negative log-likelihood (nats per code, on the validation split, whole clips up to
the model's window) is logged next to two baselines it must beat: a per-codebook unigram counted on the training codes
seen so far, and the uniform ``log(codebook_size)``. Samples are generated every ``sample_steps`` into
``OUTPUT_DIR/samples/step-N/``. The final model (EMA weights if enabled; with ``--load_best_model_at_end`` the weights
of the evaluation with the lowest held-out NLL — on a corpus of minutes the model soon memorises its training clips)
is saved with its processor in OUTPUT_DIR, a directory ``AudioGenPipeline.from_pretrained`` loads.

Exact resume: besides model, optimizer, scheduler, EMA and step counters, each micro-batch reseeds torch from
``(seed, process, epoch, batch)`` — the DataLoader draws from the global RNG whenever an epoch's iterator is created,
which would otherwise shift condition dropout between a resumed and an uninterrupted run.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader

from ..audiogen import AudioGenConfig, AudioGenDecoderConfig, AudioGenForConditionalGeneration, AudioGenProcessor
from ..audiogen.configuration_audiogen import DECODER_PRESETS
from ..codec import CodecFeatureExtractor, CodecModel
from ..data.mixing import MixingAugmentation
from ..data.streams import load_audio_dataset
from ..data.text_normalization import CaptionNormalizer
from ..text_encoder_source import resolve_text_encoder_source
from ..validation import InvalidInputError
from .arguments import check_common_training_args, training_arg_parser
from .audiogen_data import (
    IGNORE_INDEX,
    TEXT_KEYS,
    CodeUnigram,
    TextAudioCollator,
    TextCodesCollator,
    check_shards_match_codec,
    load_token_shards,
    read_shard_info,
)
from .checkpointing import register_save_pretrained_hooks
from .loop import (
    StepBookkeeping,
    StepLoss,
    TimeBudget,
    adamw_with_decay_groups,
    build_ema,
    ema_weights,
    epoch_batches,
    eval_mode,
    global_mean_loss,
    optimizer_update,
    save_eval_results,
    setup_accelerator,
    start_or_resume,
)
from .progress import RunningMeans, TrainingProgress
from .samples import prompt_sample_name, write_clips
from .schedules import get_lr_scheduler

logger = logging.getLogger(__name__)


# The name this module's callers know the shared resolver by.
resolve_text_encoder = resolve_text_encoder_source


# ----------------------------------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------------------------------
def _add_data_and_eval_args(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    source = data.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--dataset",
        help="audio dataset: a folder with metadata.jsonl/csv, parquet or webdataset shards, or a Hub "
        "id; codes are computed on the fly by the frozen codec",
    )
    source.add_argument(
        "--token_shards", help="folder of pre-tokenised code shards written by tokenize_audiogen_dataset.py"
    )
    data.add_argument("--train_split", default="train", help="split to train on")
    data.add_argument("--eval_split", default="validation", help="held-out split for the NLL evaluation")
    data.add_argument("--caption_column", default="caption", help="column holding the caption")
    data.add_argument(
        "--normalize_captions",
        action="store_true",
        help="paper §4.1 caption preprocessing (no stop words / numbers, lemmas, drop 'speech' clips); "
        "saved in the processor so prompts are normalised the same way at inference",
    )
    data.add_argument(
        "--mixing_p",
        type=float,
        default=0.0,
        help="probability that a clip is mixed with another of its batch (paper §4.1; 0 = off)",
    )
    data.add_argument(
        "--mixing_snr_range",
        type=float,
        nargs=2,
        default=(-5.0, 5.0),
        metavar=("LOW", "HIGH"),
        help="SNR range of the mixing augmentation in dB",
    )
    data.add_argument(
        "--segment_seconds",
        type=float,
        default=None,
        help="length of the random training crops (default: the model's max_duration)",
    )
    data.add_argument("--shuffle_buffer_size", type=int, default=1000, help="shuffle buffer of the training stream")
    data.add_argument("--dataloader_num_workers", type=int, default=0, help="DataLoader worker processes")
    data.add_argument("--max_eval_clips", type=int, default=64, help="evaluate on at most this many held-out clips")
    data.add_argument("--eval_batch_size", type=int, default=8, help="batch size of the evaluation")

    samples = parser.add_argument_group("samples")
    samples.add_argument(
        "--sample_prompts",
        nargs="*",
        default=None,
        help="prompts of the periodic samples (default: the first held-out captions)",
    )
    samples.add_argument("--num_samples", type=int, default=4, help="samples written at each sampling step")
    samples.add_argument("--sample_seconds", type=float, default=2.0, help="length of each sample")
    samples.add_argument("--sample_guidance_scale", type=float, default=3.0, help="guidance scale of the samples")
    samples.add_argument(
        "--sample_steps",
        type=int,
        default=None,
        help="write samples every N steps (and at the end; default: --eval_steps)",
    )

    optim = parser.add_argument_group("AdamW and EMA")
    optim.add_argument("--adam_beta1", type=float, default=0.9)
    optim.add_argument("--adam_beta2", type=float, default=0.95)
    optim.add_argument("--weight_decay", type=float, default=0.1)
    optim.add_argument("--use_ema", action="store_true", help="keep an EMA of the trained weights (saved as final)")
    optim.add_argument("--ema_decay", type=float, default=0.99, help="EMA decay per optimizer step")
    optim.add_argument("--gradient_checkpointing", action="store_true", help="recompute activations in backward")
    optim.add_argument(
        "--load_best_model_at_end",
        action="store_true",
        help="save the weights of the evaluation with the lowest held-out NLL as the final model "
        "(early stopping for small datasets, where the model overfits)",
    )


def build_arg_parser() -> argparse.ArgumentParser:
    """All options of ``training_scripts/train_audiogen.py``."""
    parser = training_arg_parser(
        "Train the AudioGen language model over a frozen codec and a frozen text encoder.",
        learning_rate=5e-4,
        lr_scheduler="inverse_sqrt",
        lr_warmup_steps=3000,
        max_grad_norm=1.0,
        train_batch_size=16,
    )

    model = parser.add_argument_group("model (either --init_from, or --codec + --text_encoder + decoder sizes)")
    model.add_argument(
        "--init_from",
        default=None,
        help="start from a saved AudioGen directory (save_pretrained / a checkpoint's model folder)",
    )
    model.add_argument("--codec", default=None, help="directory of a trained codec (CodecModel.save_pretrained)")
    model.add_argument(
        "--text_encoder",
        default="minilm",
        help="any transformers text encoder: a directory, a Hub id, or 'minilm' (offline MiniLM)",
    )
    model.add_argument(
        "--decoder_preset",
        choices=sorted(DECODER_PRESETS),
        default="small",
        help="decoder size; the options below override single fields",
    )
    model.add_argument("--hidden_size", type=int, default=None)
    model.add_argument("--num_layers", type=int, default=None)
    model.add_argument("--num_heads", type=int, default=None)
    model.add_argument("--ffn_dim", type=int, default=None)
    model.add_argument("--max_duration", type=float, default=10.0, help="seconds of the decoder's context window")
    model.add_argument("--codebook_pattern", choices=("delay", "parallel"), default="delay")
    model.add_argument(
        "--embedding_combine",
        choices=("sum", "mean"),
        default="sum",
        help="combine the K code embeddings by sum (audiocraft) or mean (paper)",
    )
    model.add_argument("--condition_dropout", type=float, default=0.1, help="classifier-free guidance dropout")
    model.add_argument("--dropout", type=float, default=0.0, help="decoder dropout")
    _add_data_and_eval_args(parser)
    return parser


def build_lora_arg_parser() -> argparse.ArgumentParser:
    """All options of ``training_scripts/finetune_lora.py``."""
    parser = training_arg_parser(
        "Fine-tune a trained AudioGen model with LoRA adapters on its decoder; saves the adapter only.",
        learning_rate=1e-4,
        lr_scheduler="constant_with_warmup",
        lr_warmup_steps=0,
        max_grad_norm=1.0,
        train_batch_size=8,
    )
    lora = parser.add_argument_group("LoRA")
    lora.add_argument("--model", required=True, help="the trained AudioGen directory to adapt")
    lora.add_argument("--lora_rank", type=int, default=8)
    lora.add_argument("--lora_alpha", type=float, default=16.0)
    lora.add_argument("--lora_dropout", type=float, default=0.0)
    lora.add_argument(
        "--lora_targets",
        nargs="+",
        default=list(LORA_TARGETS),
        choices=list(LORA_TARGETS),
        help="decoder linears that get an adapter",
    )
    _add_data_and_eval_args(parser)
    return parser


def check_args(args: argparse.Namespace) -> None:
    check_common_training_args(args)
    if args.lr_scheduler == "inverse_sqrt" and args.lr_warmup_steps > args.max_train_steps:
        logger.warning(
            "--lr_warmup_steps %d > --max_train_steps %d: the learning rate never reaches its peak",
            args.lr_warmup_steps,
            args.max_train_steps,
        )
    if not 0.0 <= args.mixing_p <= 1.0:
        raise InvalidInputError(f"--mixing_p must be in [0, 1], got {args.mixing_p}")
    if args.mixing_p > 0 and args.token_shards:
        raise InvalidInputError("--mixing_p needs audio: it cannot be used with --token_shards (codes cannot be mixed)")
    if args.segment_seconds is not None and args.segment_seconds <= 0:
        raise InvalidInputError(f"--segment_seconds must be positive, got {args.segment_seconds}")
    for name in ("max_eval_clips", "num_samples", "dataloader_num_workers"):
        if getattr(args, name) < 0:
            raise InvalidInputError(f"--{name} must be >= 0, got {getattr(args, name)}")
    if args.eval_batch_size < 1 or args.shuffle_buffer_size < 1:
        raise InvalidInputError("--eval_batch_size and --shuffle_buffer_size must be >= 1")
    if args.sample_seconds <= 0 or args.sample_guidance_scale < 0:
        raise InvalidInputError("--sample_seconds must be > 0 and --sample_guidance_scale >= 0")
    if args.sample_steps is not None and args.sample_steps < 1:
        raise InvalidInputError(f"--sample_steps must be >= 1, got {args.sample_steps}")
    if not 0.0 < args.ema_decay < 1.0:
        raise InvalidInputError(f"--ema_decay must be in (0, 1), got {args.ema_decay}")
    if getattr(args, "init_from", None) is not None and getattr(args, "codec", None) is not None:
        raise InvalidInputError("--init_from brings its own codec: do not also pass --codec")
    if hasattr(args, "init_from") and args.init_from is None and args.codec is None:
        raise InvalidInputError(
            "pass --codec (a trained codec directory) to build a new model, or --init_from a saved model"
        )
    if getattr(args, "lora_rank", 1) < 1:
        raise InvalidInputError(f"--lora_rank must be >= 1, got {args.lora_rank}")
    if hasattr(args, "max_duration") and args.max_duration <= 0:
        raise InvalidInputError(f"--max_duration must be positive, got {args.max_duration}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_arg_parser().parse_args(argv)
    check_args(args)
    return args


def parse_lora_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_lora_arg_parser().parse_args(argv)
    check_args(args)
    return args


# ----------------------------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------------------------
def build_model(args: argparse.Namespace) -> tuple[AudioGenForConditionalGeneration, AudioGenProcessor]:
    """The model to train and its processor: loaded from ``--init_from``, or assembled from a trained codec, a
    pre-trained text encoder and a freshly initialised decoder."""
    if args.init_from is not None:
        model = AudioGenForConditionalGeneration.from_pretrained(args.init_from)
        processor = AudioGenProcessor.from_pretrained(args.init_from)
        processor.normalize_text = processor.normalize_text or args.normalize_captions
        return model, processor

    from transformers import AutoModelForTextEncoding, AutoTokenizer

    if not Path(args.codec, "config.json").is_file():
        raise InvalidInputError(f"--codec {args.codec!r} is not a saved codec directory (no config.json)")
    codec = CodecModel.from_pretrained(args.codec)
    if not codec.quantizer.is_initialized:
        raise InvalidInputError(f"the codec in {args.codec} has uninitialised codebooks: train it first")
    text_source = resolve_text_encoder_source(args.text_encoder)
    text_encoder = AutoModelForTextEncoding.from_pretrained(text_source)
    tokenizer = AutoTokenizer.from_pretrained(text_source)
    sizes = {
        "hidden_size": args.hidden_size,
        "num_hidden_layers": args.num_layers,
        "num_attention_heads": args.num_heads,
        "ffn_dim": args.ffn_dim,
    }
    decoder = AudioGenDecoderConfig.from_preset(
        args.decoder_preset,
        **{k: v for k, v in sizes.items() if v is not None},
        num_codebooks=codec.config.num_quantizers,
        codebook_size=codec.config.codebook_size,
        codebook_pattern=args.codebook_pattern,
        embedding_combine=args.embedding_combine,
        condition_dropout=args.condition_dropout,
        dropout=args.dropout,
    )
    config = AudioGenConfig(
        text_encoder=text_encoder.config, codec=codec.config, decoder=decoder, max_duration=args.max_duration
    )
    model = AudioGenForConditionalGeneration(config, text_encoder=text_encoder, codec=codec)
    feature_extractor = CodecFeatureExtractor(
        feature_size=codec.config.audio_channels, sampling_rate=codec.config.sampling_rate
    )
    processor = AudioGenProcessor(feature_extractor, tokenizer, normalize_text=args.normalize_captions)
    return model, processor


# Decoder linears LoRA can adapt: attention projections of self- and cross-attention, and the feed-forward layers.
LORA_TARGETS = {
    "q": r"(self_attn|cross_attention)\.q_proj",
    "k": r"(self_attn|cross_attention)\.k_proj",
    "v": r"(self_attn|cross_attention)\.v_proj",
    "o": r"(self_attn|cross_attention)\.out_proj",
    "ffn": r"linear[12]",
}


def lora_target_regex(targets) -> str:
    """A peft ``target_modules`` regex (full match on module names) selecting only decoder-block linears."""
    unknown = sorted(set(targets) - set(LORA_TARGETS))
    if unknown or not targets:
        raise InvalidInputError(
            f"LoRA targets must be a non-empty subset of {sorted(LORA_TARGETS)}, got {list(targets)}"
        )
    return rf"(.*\.)?decoder\.layers\.\d+\.({'|'.join(LORA_TARGETS[t] for t in targets)})"


# ----------------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------------
def _caption_normalizer(args) -> CaptionNormalizer:
    return CaptionNormalizer(caption_column=args.caption_column, output_column=args.caption_column)


def _normalize_captions(dataset, args):
    if not args.normalize_captions:
        return dataset
    dataset = dataset.map(_caption_normalizer(args), batched=True)
    return dataset.filter(lambda keep: keep, input_columns="keep").remove_columns(["keep", "filter_reason"])


def build_train_dataloader(args, processor, model_config: AudioGenConfig) -> tuple[DataLoader, object]:
    """The training stream (shuffled with ``seed``, re-shuffled per epoch) and its collator."""
    if args.token_shards:
        check_shards_match_codec(read_shard_info(args.token_shards), model_config.codec)
        dataset = load_token_shards(args.token_shards, args.train_split)
        segment = args.segment_seconds or model_config.max_duration
        collate = TextCodesCollator(
            processor,
            max_frames=max(1, int(segment * model_config.frame_rate)),
            seed=args.seed,
            caption_column=args.caption_column,
        )
    else:
        dataset = load_audio_dataset(
            args.dataset,
            split=args.train_split,
            sampling_rate=model_config.sampling_rate,
            caption_column=args.caption_column,
        )
        segment = args.segment_seconds or model_config.max_duration
        mixing = None
        if args.mixing_p > 0:
            mixing = MixingAugmentation(
                p=args.mixing_p, snr_range=tuple(args.mixing_snr_range), sampling_rate=model_config.sampling_rate
            )
        collate = TextAudioCollator(
            processor,
            max_samples=int(segment * model_config.sampling_rate),
            seed=args.seed,
            mixing=mixing,
            caption_column=args.caption_column,
        )
    dataset = _normalize_captions(dataset, args)
    dataset = dataset.shuffle(seed=args.seed, buffer_size=args.shuffle_buffer_size)
    loader = DataLoader(
        dataset, batch_size=args.train_batch_size, collate_fn=collate, num_workers=args.dataloader_num_workers
    )
    return loader, collate


def training_loss(accelerator: Accelerator, output) -> torch.Tensor:
    """The loss to backpropagate: ``output.loss`` (each codebook's cross-entropy over its valid positions, averaged
    over codebooks) with each codebook's mean taken over the valid positions of every process
    (:func:`~hf_audiogen.training.loop.global_mean_loss`), since clips of different lengths leave the processes with
    different numbers of positions. Exactly ``output.loss`` with one process. ``output`` comes from a forward with
    ``labels`` as frame codes (its ``logits_mask`` marks the scored positions)."""
    return global_mean_loss(accelerator, output.codebook_losses, output.logits_mask.sum(dim=(0, 2))).mean()


@torch.no_grad()
def codes_and_labels(model: AudioGenForConditionalGeneration, batch: dict) -> torch.LongTensor:
    """Labels (B, K, T) of a batch: its pre-tokenised ``labels``, or its audio encoded by the frozen codec with the
    padded frames set to -100."""
    if "labels" in batch:
        return batch["labels"]
    codes, frame_mask = model.encode_audio(batch["input_values"].float(), batch["padding_mask"])
    return codes.masked_fill(~frame_mask[:, None, :], IGNORE_INDEX)


def load_eval_batches(args, processor, model: AudioGenForConditionalGeneration) -> list[dict]:
    """The held-out clips (first ``max_duration`` seconds of each, at most ``max_eval_clips``) as batches of text
    tokens + labels, encoded once."""
    if args.max_eval_clips == 0 or not args.eval_split:
        return []
    config = model.config
    try:
        if args.token_shards:
            dataset = load_token_shards(args.token_shards, args.eval_split)
            collate = TextCodesCollator(
                processor, max_frames=config.max_frames, random_crop=False, caption_column=args.caption_column
            )
        else:
            dataset = load_audio_dataset(
                args.dataset,
                split=args.eval_split,
                sampling_rate=config.sampling_rate,
                caption_column=args.caption_column,
            )
            collate = TextAudioCollator(
                processor,
                max_samples=int(config.max_duration * config.sampling_rate),
                random_crop=False,
                caption_column=args.caption_column,
            )
    except ValueError as err:
        logger.warning("no held-out evaluation: %s", err)
        return []
    dataset = _normalize_captions(dataset, args).take(args.max_eval_clips)
    batches = []
    for batch in DataLoader(dataset, batch_size=args.eval_batch_size, collate_fn=collate):
        batch = {key: value.to(model.device) if torch.is_tensor(value) else value for key, value in batch.items()}
        labels = codes_and_labels(model, batch)
        batches.append(
            {**{k: batch[k] for k in TEXT_KEYS if k in batch}, "labels": labels, "captions": batch["captions"]}
        )
    if not batches:
        logger.warning("the %r split is empty: no held-out evaluation", args.eval_split)
    return batches


# ----------------------------------------------------------------------------------------------------------------------
# Evaluation and samples
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class NLLEvaluation:
    """Held-out negative log-likelihood in nats per code, and the baselines it is compared with."""

    nll: float
    per_codebook: list[float]
    unigram_nll: float
    uniform_nll: float
    num_codes: int

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll)

    def as_dict(self, prefix: str = "eval_") -> dict[str, float]:
        out = {f"{prefix}nll": self.nll, f"{prefix}unigram_nll": self.unigram_nll, f"{prefix}ppl": self.perplexity}
        out.update({f"{prefix}nll_q{q}": value for q, value in enumerate(self.per_codebook)})
        return out


@dataclass
class BestEvaluation:
    """The lowest held-out NLL seen and its step (``--load_best_model_at_end``); registered for checkpointing, so a
    resumed run keeps comparing against it. The weights of that step are in ``OUTPUT_DIR/best_model/``."""

    step: int = 0
    metrics: dict | None = None

    @property
    def nll(self) -> float:
        return self.metrics["nll"] if self.metrics else math.inf

    def state_dict(self) -> dict:
        return {"step": self.step, "metrics": self.metrics}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.metrics = int(state["step"]), state["metrics"]


@torch.no_grad()
def evaluate_nll(model, batches: list[dict], unigram: CodeUnigram | None = None) -> NLLEvaluation:
    """Token-weighted NLL of ``batches`` (text + ``labels``) over the positions the training loss uses (valid
    pattern positions, real frames), with the text conditions kept (eval mode: no condition dropout)."""
    if not batches:
        raise InvalidInputError("evaluate_nll needs at least one batch")
    num_codebooks = model.config.decoder.num_codebooks
    sums = torch.zeros(num_codebooks, dtype=torch.float64)
    counts = torch.zeros(num_codebooks, dtype=torch.float64)
    unigram_total, unigram_count = 0.0, 0
    with eval_mode(model):
        for batch in batches:
            labels = batch["labels"]
            output = model(**{k: batch[k] for k in TEXT_KEYS if k in batch}, labels=labels)
            log_probs = F.log_softmax(output.logits.float(), dim=-1)
            token_nll = -log_probs.gather(-1, labels.clamp(min=0)[..., None])[..., 0]
            mask = output.logits_mask
            sums += (token_nll * mask).sum(dim=(0, 2)).double().cpu()
            counts += mask.sum(dim=(0, 2)).double().cpu()
            if unigram is not None:
                total, count = unigram.nll(labels, valid=mask)
                unigram_total += total
                unigram_count += count
    if counts.sum() == 0:
        raise InvalidInputError(
            "the held-out batches have no valid position to score (clips shorter than the pattern delay?)"
        )
    per_codebook = (sums / counts.clamp(min=1)).tolist()
    return NLLEvaluation(
        nll=float(sums.sum() / counts.sum()),
        per_codebook=per_codebook,
        unigram_nll=unigram_total / unigram_count if unigram_count else float("nan"),
        uniform_nll=math.log(model.config.decoder.codebook_size),
        num_codes=int(counts.sum()),
    )


@torch.no_grad()
def write_samples(
    model, processor, prompts: list[str], folder: Path, step: int, seconds: float, guidance_scale: float, seed: int = 0
) -> list[Path]:
    """Generate one clip per prompt (seeded) into ``folder/step-<step>/NN_<prompt>.wav``."""

    def generate(i: int, prompt: str) -> torch.Tensor:
        tokens = processor(text=[prompt], return_tensors="pt")
        tokens = {k: tokens[k].to(model.device) for k in TEXT_KEYS if k in tokens}
        return model.generate(
            **tokens, duration=seconds, guidance_scale=guidance_scale, seed=seed + i, progress_bar=False
        )[0]

    with eval_mode(model):
        return write_clips(
            folder / f"step-{step}",
            ((prompt_sample_name(i, p), generate(i, p)) for i, p in enumerate(prompts)),
            model.config.sampling_rate,
        )


# ----------------------------------------------------------------------------------------------------------------------
# Training loop
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class AudioGenTrainingResult:
    output_dir: Path
    global_step: int
    first_loss: float | None
    last_loss: float | None
    evaluation: NLLEvaluation | None


def _register_peft_hooks(accelerator: Accelerator) -> None:
    """Checkpoints of a LoRA run hold the adapter only (``checkpoint-N/adapter/``), not the frozen base."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    def save_hook(models, weights, output_dir):
        if accelerator.is_main_process:
            for model in models:
                accelerator.unwrap_model(model).save_pretrained(Path(output_dir) / "adapter")
        weights.clear()

    def load_hook(models, input_dir):
        while models:
            model = accelerator.unwrap_model(models.pop())
            set_peft_model_state_dict(model, load_file(Path(input_dir) / "adapter" / "adapter_model.safetensors"))

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


def run_training(args: argparse.Namespace, model, processor, is_lora: bool = False) -> AudioGenTrainingResult:
    """The loop shared by full training (``model`` = AudioGen) and LoRA fine-tuning (``model`` = its PeftModel)."""
    output_dir = Path(args.output_dir)
    accelerator = setup_accelerator(args, "train_audiogen")

    audiogen = model.get_base_model() if is_lora else model
    config = audiogen.config
    if args.gradient_checkpointing:
        audiogen.gradient_checkpointing_enable()
    audiogen.to(accelerator.device)
    train_loader, collate = build_train_dataloader(args, processor, config)
    eval_batches = load_eval_batches(args, processor, audiogen) if accelerator.is_main_process else []
    sample_prompts = args.sample_prompts
    if sample_prompts is None:
        sample_prompts = [c for batch in eval_batches for c in batch["captions"]][: args.num_samples]
    sample_prompts = sample_prompts[: args.num_samples]

    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise InvalidInputError("the model has no trainable parameter")
    optimizer = adamw_with_decay_groups(
        trainable, args.learning_rate, args.weight_decay, (args.adam_beta1, args.adam_beta2)
    )
    scheduler = get_lr_scheduler(args.lr_scheduler, optimizer, args.lr_warmup_steps, args.max_train_steps)
    model, optimizer, scheduler, train_loader = accelerator.prepare(model, optimizer, scheduler, train_loader)
    if is_lora:
        _register_peft_hooks(accelerator)
    else:
        register_save_pretrained_hooks(accelerator, ["model"])

    ema = build_ema(trainable, args.ema_decay, accelerator.device) if args.use_ema else None
    if ema is not None:
        accelerator.register_for_checkpointing(ema)  # before TrainingState: the checkpoint layout of AudioGen runs
    unigram = CodeUnigram(config.decoder.num_codebooks, config.decoder.codebook_size)
    best = BestEvaluation()
    state = start_or_resume(accelerator, output_dir, args.resume_from_checkpoint, extra_states=[unigram, best])

    progress = TrainingProgress(
        accelerator,
        output_dir,
        args.max_train_steps,
        initial_step=state.global_step,
        description="audiogen-lora" if is_lora else "audiogen",
    )
    means = RunningMeans()
    raw = accelerator.unwrap_model(model)
    losses = StepLoss()
    evaluation = None
    sample_steps = args.sample_steps or args.eval_steps
    budget = TimeBudget(accelerator, args.max_train_minutes)
    # A checkpoint's model folder is then a pipeline directory (written before the checkpoint is complete).
    write_processor = None if is_lora else lambda path: processor.save_pretrained(path / "model")
    bookkeeping = StepBookkeeping(accelerator, args, state, progress, budget, write_extra=write_processor)
    model.train()

    for batch in epoch_batches(
        accelerator,
        train_loader,
        collate,
        state,
        args.max_train_steps,
        f"the {args.train_split!r} split yielded no training batch",
        reseed=args.seed,
    ):
        labels = codes_and_labels(audiogen, batch)
        with accelerator.accumulate(model):
            with accelerator.autocast():
                output = model(**{k: batch[k] for k in TEXT_KEYS if k in batch}, labels=labels)
            loss = training_loss(accelerator, output)
            optimizer_update(accelerator, loss, trainable, optimizer, scheduler, args.max_grad_norm)
        losses.add(accelerator, loss)  # averaged over processes: the token mean of the whole batch
        # Every process counts every process's codes, so the unigram (saved by the main process) is exact.
        padded = accelerator.pad_across_processes(labels, dim=0, pad_index=IGNORE_INDEX)
        unigram.update(accelerator.gather(accelerator.pad_across_processes(padded, dim=2, pad_index=IGNORE_INDEX)))

        if not accelerator.sync_gradients:
            continue
        if ema is not None:
            ema.step(trainable)
        means.update({"loss": losses.end_step()})
        update = bookkeeping.after_update(means, scheduler)  # count the step, log, checkpoint
        step = update.step
        if eval_batches and update.is_due(args.eval_steps):
            evaluation = _evaluate(raw, eval_batches, unigram, ema, trainable, progress, step)
            if args.load_best_model_at_end and evaluation.nll < best.nll:
                best.step, best.metrics = step, vars(evaluation)
                with ema_weights(ema, trainable):
                    _save_model(raw, processor, output_dir / BEST_MODEL_DIR, is_lora)
        if sample_prompts and update.is_due(sample_steps) and accelerator.is_main_process:
            with ema_weights(ema, trainable):
                write_samples(
                    audiogen,
                    processor,
                    sample_prompts,
                    output_dir / "samples",
                    step,
                    args.sample_seconds,
                    args.sample_guidance_scale,
                    seed=args.seed,
                )
        accelerator.wait_for_everyone()
        if bookkeeping.finished(update):
            break

    progress.close()
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        results = {"step": state.global_step, "first_loss": losses.first, "last_loss": losses.last}
        if evaluation is not None:
            results["last_evaluation"] = vars(evaluation)
        best_dir = output_dir / BEST_MODEL_DIR
        if args.load_best_model_at_end and best.metrics is not None and best_dir.is_dir():
            _load_saved_weights(raw, best_dir, is_lora)  # already the EMA weights when EMA is on
            evaluation = NLLEvaluation(**best.metrics)
            results["best_step"] = best.step
            progress.write(f"final model = step {best.step} (held-out NLL {best.nll:.4f})")
        elif ema is not None:
            ema.copy_to(trainable)
        _save_model(raw, processor, output_dir, is_lora)
        if best_dir.is_dir():  # the root now holds what is worth keeping
            shutil.rmtree(best_dir)
        if evaluation is not None:
            results.update(vars(evaluation))
        save_eval_results(output_dir, results)
    accelerator.end_training()
    return AudioGenTrainingResult(output_dir, state.global_step, losses.first, losses.last, evaluation)


BEST_MODEL_DIR = "best_model"


def _save_model(raw, processor, path: Path, is_lora: bool) -> None:
    """The model with its processor (a pipeline directory), or the LoRA adapter alone."""
    raw.save_pretrained(path)
    if not is_lora:
        processor.save_pretrained(path)


def _load_saved_weights(raw, path: Path, is_lora: bool) -> None:
    """Put the weights written by :func:`_save_model` back into ``raw``."""
    from safetensors.torch import load_file

    if is_lora:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(raw, load_file(path / "adapter_model.safetensors"))
    else:
        raw.load_state_dict(type(raw).from_pretrained(path).state_dict())


def _evaluate(raw, eval_batches, unigram, ema, trainable, progress, step) -> NLLEvaluation:
    with ema_weights(ema, trainable):
        evaluation = evaluate_nll(raw, eval_batches, unigram)
    progress.log(evaluation.as_dict(), step=step)
    progress.write(
        f"step {step}: held-out NLL {evaluation.nll:.4f} nats/code (unigram {evaluation.unigram_nll:.4f}, uniform "
        f"{evaluation.uniform_nll:.4f}; {evaluation.num_codes} codes)"
    )
    return evaluation


def train_audiogen(args: argparse.Namespace) -> AudioGenTrainingResult:
    """Train (or continue training) an AudioGen model as configured by ``args`` (see :func:`build_arg_parser`)."""
    check_args(args)
    set_seed(args.seed)
    model, processor = build_model(args)
    logger.info(
        "AudioGen: %s trainable parameters", f"{sum(p.numel() for p in model.parameters() if p.requires_grad):,}"
    )
    return run_training(args, model, processor)


def finetune_lora(args: argparse.Namespace) -> AudioGenTrainingResult:
    """Add LoRA adapters to the decoder of the model in ``args.model``, train them, save the adapter alone."""
    from peft import LoraConfig, get_peft_model

    check_args(args)
    set_seed(args.seed)
    model = AudioGenForConditionalGeneration.from_pretrained(args.model)
    processor = AudioGenProcessor.from_pretrained(args.model)
    lora_config = LoraConfig(
        r=args.lora_rank,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=lora_target_regex(args.lora_targets),
    )
    model = get_peft_model(model, lora_config)
    # The adapter records its base; an absolute path lets AudioGenPipeline.from_pretrained(adapter_dir) find it.
    if os.path.isdir(args.model):
        model.peft_config["default"].base_model_name_or_path = os.path.abspath(args.model)
    return run_training(args, model, processor, is_lora=True)


def main(argv: list[str] | None = None) -> AudioGenTrainingResult:
    return train_audiogen(parse_args(argv))


def main_lora(argv: list[str] | None = None) -> AudioGenTrainingResult:
    return finetune_lora(parse_lora_args(argv))


__all__ = [
    "DECODER_PRESETS",
    "LORA_TARGETS",
    "NLLEvaluation",
    "build_arg_parser",
    "build_lora_arg_parser",
    "build_model",
    "evaluate_nll",
    "finetune_lora",
    "lora_target_regex",
    "parse_args",
    "parse_lora_args",
    "run_training",
    "train_audiogen",
    "write_samples",
]
