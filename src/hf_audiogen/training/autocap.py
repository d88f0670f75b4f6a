"""Two-stage training of AutoCap (paper §3.1, §4.1, appendix D.1) with Accelerate over `datasets` streams.

``training_scripts/train_autocap.py`` only parses arguments and calls :func:`train_autocap`; the loop lives here so
that tests run it. One invocation trains one stage:

* **stage 1** (``--stage 1``): the audio encoders and BART frozen; the Q-Former, its queries, the projections, the
  audio positions, the LayerNorms and the tag embeddings are trained (reference: lr 1e-4, 20-40 epochs, on a large
  weakly-labelled set);
* **stage 2** (``--stage 2 --init_from STAGE1_DIR``): BART is trained too, except its word embeddings (the paper's
  choice, see ``AutoCapConfig.train_word_embeddings``); reference: lr 1e-5, 20 epochs on AudioCaps.

Both use Adam(W) (β = 0.9, 0.999, weight decay 1e-6), a cosine schedule with linear warm-up, the model's
label-smoothed (0.1) cross-entropy, and optional metadata dropout (each metadata field of a clip dropped with
probability ``--metadata_dropout_p``). Clips longer than the model's window get a random crop (seeded by clip and
epoch, so resuming is exact). Every ``--eval_steps`` the held-out split is captioned (beam search) and scored with
BLEU-1/4, ROUGE-L and CIDEr-D (:mod:`hf_audiogen.evaluation.caption_metrics`), next to its teacher-forced loss.
The final model is saved with its processor in ``--output_dir``, a directory ``AutoCapPipeline.from_pretrained``
loads.
"""

from __future__ import annotations

import argparse
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from accelerate.utils import set_seed
from torch.utils.data import DataLoader

from ..autocap import AutoCapConfig, AutoCapFeatureExtractor, AutoCapForConditionalGeneration, AutoCapProcessor
from ..autocap.configuration_autocap import CLAP_TOKEN_POSITIONS, METADATA_TAGS
from ..data.streams import load_audio_dataset
from ..evaluation.caption_metrics import compute_caption_metrics
from .arguments import check_common_training_args, training_arg_parser
from .checkpointing import register_save_pretrained_hooks
from .loop import (
    StepBookkeeping,
    StepLoss,
    TimeBudget,
    adamw_with_decay_groups,
    epoch_batches,
    eval_mode,
    global_mean_loss,
    optimizer_update,
    save_eval_results,
    setup_accelerator,
    start_or_resume,
)
from .progress import RunningMeans, TrainingProgress
from .schedules import get_lr_scheduler

logger = logging.getLogger(__name__)

MODEL_INPUTS = ("input_features", "clap_input_features", "metadata_ids", "metadata_attention_mask")


# ----------------------------------------------------------------------------------------------------------------------
# Presets for new models: name -> (text_config, **config overrides) -> (config, feature extractor)
# ----------------------------------------------------------------------------------------------------------------------
def _with_reference_front_end(make_config):
    def preset(text_config: dict, **overrides) -> tuple[AutoCapConfig, AutoCapFeatureExtractor]:
        return make_config(text_config=text_config, **overrides), AutoCapFeatureExtractor()

    return preset


# ``reference``: the paper's architecture (bart-base, HTSAT, 256 queries); ``small``: :meth:`AutoCapConfig.small`.
# Both use the reference's 10 s / 32 kHz front-end; ``text_config`` overrides BART fields (at least ``vocab_size``).
MODEL_PRESETS = {
    "small": _with_reference_front_end(AutoCapConfig.small),
    "reference": _with_reference_front_end(AutoCapConfig),
}


# ----------------------------------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------------------------------
def _metadata_column(text: str) -> tuple[str, str]:
    key, sep, column = text.partition("=")
    if key not in METADATA_TAGS:
        raise argparse.ArgumentTypeError(f"unknown metadata key {key!r} in {text!r}; choose from {list(METADATA_TAGS)}")
    return key, (column if sep else key)


def build_arg_parser() -> argparse.ArgumentParser:
    """All options of ``training_scripts/train_autocap.py``."""
    parser = training_arg_parser(
        "Train AutoCap (audio captioning with metadata) in two stages.",
        learning_rate=1e-4,
        lr_scheduler="cosine",
        lr_warmup_steps=0,
        max_grad_norm=2.0,
        train_batch_size=32,
    )
    optim = parser.add_argument_group("optimiser (reference: Adam 0.9/0.999, weight decay 1e-6)")
    optim.add_argument("--weight_decay", type=float, default=1e-6)
    optim.add_argument("--adam_beta1", type=float, default=0.9)
    optim.add_argument("--adam_beta2", type=float, default=0.999)

    model = parser.add_argument_group("model (--init_from a saved AutoCap, or --model_preset + --tokenizer)")
    model.add_argument(
        "--stage",
        type=int,
        choices=(1, 2),
        required=True,
        help="1: train the new layers only; 2: also BART (except its word embeddings)",
    )
    model.add_argument(
        "--init_from",
        default=None,
        help="an AutoCap directory (save_pretrained, a stage-1 output, a checkpoint's model folder)",
    )
    model.add_argument("--model_preset", choices=MODEL_PRESETS, default=None, help="architecture of a new model")
    model.add_argument(
        "--tokenizer", default=None, help="BART tokenizer directory for a new model (default: the one in --bart_model)"
    )
    model.add_argument(
        "--bart_model",
        default=None,
        help="a pretrained BartForConditionalGeneration directory for a new model (its config replaces "
        "the preset's BART)",
    )
    model.add_argument(
        "--audio_encoder", default=None, help="a pretrained ClapAudioModel directory (HTSAT) for a new model"
    )
    model.add_argument(
        "--clap_model",
        default=None,
        help="a pretrained ClapAudioModelWithProjection directory (CLAP audio tower) for a new model",
    )
    model.add_argument(
        "--metadata_keys",
        nargs="*",
        default=None,
        help=f"metadata fields of a new model (default: video_caption title), of {list(METADATA_TAGS)}",
    )
    model.add_argument("--clap_token_position", choices=CLAP_TOKEN_POSITIONS, default=None)
    model.add_argument("--no_clap", action="store_true", help="a new model without the CLAP token")
    model.add_argument(
        "--train_word_embeddings",
        action="store_true",
        help="stage 2 also trains BART's word embeddings (the reference code; the paper keeps them)",
    )
    model.add_argument("--gradient_checkpointing", action="store_true")

    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset",
        required=True,
        help="audio dataset: a folder with metadata.jsonl/csv, parquet or webdataset shards, or a Hub id",
    )
    data.add_argument("--train_split", default="train")
    data.add_argument("--eval_split", default="validation", help="held-out split ('' = no evaluation)")
    data.add_argument(
        "--caption_column",
        default="caption",
        help="reference caption(s): a string, or a list of strings (one picked at random per step)",
    )
    data.add_argument(
        "--metadata_column",
        type=_metadata_column,
        action="append",
        default=[],
        metavar="KEY[=COLUMN]",
        help="feed column COLUMN as metadata field KEY (e.g. title=original_caption); repeatable",
    )
    data.add_argument(
        "--metadata_dropout_p",
        type=float,
        default=0.0,
        help="probability of dropping each metadata field of a training clip",
    )
    data.add_argument("--shuffle_buffer_size", type=int, default=1000)
    data.add_argument("--dataloader_num_workers", type=int, default=0)
    data.add_argument("--max_eval_clips", type=int, default=64, help="caption at most this many held-out clips")
    data.add_argument("--eval_batch_size", type=int, default=8)
    data.add_argument("--eval_num_beams", type=int, default=2, help="beam size of the evaluation captions")
    return parser


def check_args(args: argparse.Namespace) -> None:
    check_common_training_args(args)
    if (args.init_from is None) == (args.model_preset is None):
        raise ValueError("pass exactly one of --init_from (a saved AutoCap) and --model_preset (a new model)")
    new_model_options = (
        "tokenizer",
        "bart_model",
        "audio_encoder",
        "clap_model",
        "metadata_keys",
        "clap_token_position",
    )
    if args.init_from is not None:
        given = [f"--{name}" for name in new_model_options if getattr(args, name) is not None]
        if given or args.no_clap:
            raise ValueError(f"{given or ['--no_clap']} only apply to a new model (--model_preset), not --init_from")
    elif args.tokenizer is None and args.bart_model is None:
        raise ValueError("a new model needs a BART tokenizer: --tokenizer DIR or --bart_model DIR")
    if not 0.0 <= args.metadata_dropout_p <= 1.0:
        raise ValueError(f"--metadata_dropout_p must be in [0, 1], got {args.metadata_dropout_p}")
    for name in ("max_eval_clips", "dataloader_num_workers"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name} must be >= 0, got {getattr(args, name)}")
    for name in ("eval_batch_size", "shuffle_buffer_size", "eval_num_beams"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_arg_parser().parse_args(argv)
    check_args(args)
    return args


# ----------------------------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------------------------
def build_model(args: argparse.Namespace) -> tuple[AutoCapForConditionalGeneration, AutoCapProcessor]:
    """Load ``--init_from`` or build a new model (preset, optionally with pretrained BART / HTSAT / CLAP), with its
    processor, and set the trained parameters of ``--stage``."""
    if args.init_from is not None:
        model = AutoCapForConditionalGeneration.from_pretrained(args.init_from)
        processor = AutoCapProcessor.from_pretrained(args.init_from)
    else:
        from transformers import (
            AutoTokenizer,
            BartForConditionalGeneration,
            ClapAudioModel,
            ClapAudioModelWithProjection,
        )

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or args.bart_model)
        tags = [t for t in tokenizer.get_vocab() if t in {tag for pair in METADATA_TAGS.values() for tag in pair}]
        vocab_size = len(tokenizer) - len(tags)
        bart = BartForConditionalGeneration.from_pretrained(args.bart_model) if args.bart_model else None
        text_config = {}
        if bart is not None:  # BART's own fields (sizes, special ids); not the bookkeeping of its config.json
            text_config = {
                k: v
                for k, v in bart.config.to_diff_dict().items()
                if k not in ("model_type", "transformers_version", "architectures", "_name_or_path")
            }
        if text_config.get("vocab_size", vocab_size) != vocab_size:
            raise ValueError(
                f"--bart_model has {text_config['vocab_size']} words but the tokenizer {vocab_size} (without tags)"
            )
        overrides = dict(use_clap=not args.no_clap, train_word_embeddings=args.train_word_embeddings)
        if args.clap_token_position:
            overrides["clap_token_position"] = args.clap_token_position
        config, extractor = MODEL_PRESETS[args.model_preset]({**text_config, "vocab_size": vocab_size}, **overrides)
        model = AutoCapForConditionalGeneration(config)
        if bart is not None:
            model.language_model.load_state_dict(bart.state_dict())
        if args.audio_encoder:
            model.audio_encoder.load_state_dict(ClapAudioModel.from_pretrained(args.audio_encoder).state_dict())
        if args.clap_model and config.use_clap:
            model.clap_model.load_state_dict(ClapAudioModelWithProjection.from_pretrained(args.clap_model).state_dict())
        model.init_new_embeddings_from_language_model()
        if not config.use_clap:
            extractor = AutoCapFeatureExtractor(**{**extractor.to_dict(), "clap_sampling_rate": None})
        keys = args.metadata_keys if args.metadata_keys is not None else ["video_caption", "title"]
        processor = AutoCapProcessor(extractor, tokenizer, metadata_keys=keys)
        if processor.tag_token_offset != model.config.tag_token_offset:
            raise ValueError(
                f"the tokenizer's tag tokens start at {processor.tag_token_offset} but the model's BART vocabulary "
                f"has {model.config.tag_token_offset} entries"
            )
    if args.train_word_embeddings and not model.config.train_word_embeddings:
        model.config.train_word_embeddings = True
    model.set_training_stage(args.stage)
    unknown = [key for key, _ in args.metadata_column if key not in processor.metadata_keys]
    if unknown:
        raise ValueError(f"--metadata_column {unknown}: the model reads only {processor.metadata_keys}")
    return model, processor


# ----------------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------------
def _stable_rng(seed: int, epoch: int, ids: Sequence) -> np.random.Generator:
    """A generator determined by ``(seed, epoch, clip ids)`` (crc32: stable across processes, unlike ``hash``)."""
    key = zlib.crc32("\x00".join(str(i) for i in ids).encode("utf-8"))
    return np.random.default_rng([int(seed), int(epoch), key])


class AutoCapCollator:
    """Examples ``{"audio", "sampling_rate", caption column, metadata columns, "id"}`` -> a model batch.

    Args:
        processor: the model's [`AutoCapProcessor`].
        caption_column: a caption string, or a list of them (one is drawn per clip and epoch).
        metadata_columns: ``{metadata key: column}``; a missing or empty value means "no such metadata".
        metadata_dropout_p: probability of dropping each field (training).
        train: random crops and draws (seeded by ``seed``, epoch and clip ids); ``False``: first window, first caption.

    Returns:
        ``{"input_features", ["clap_input_features"], "metadata_ids", "metadata_attention_mask", "labels",
        "references": list[list[str]]}``.
    """

    def __init__(
        self, processor, caption_column="caption", metadata_columns=None, metadata_dropout_p=0.0, seed=0, train=True
    ):
        self.processor = processor
        self.caption_column = caption_column
        self.metadata_columns = dict(metadata_columns or {})
        self.metadata_dropout_p = metadata_dropout_p
        self.seed = seed
        self.train = train
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __call__(self, examples: Sequence[dict]) -> dict:
        if not examples:
            raise ValueError("cannot collate an empty list of examples")
        rates = {int(example["sampling_rate"]) for example in examples}
        if len(rates) != 1:
            raise ValueError(f"a batch mixes sampling rates {sorted(rates)}: load the dataset with one sampling_rate")
        rng = _stable_rng(self.seed, self.epoch, [example.get("id") for example in examples])
        references = [self._references(example) for example in examples]
        captions = [refs[rng.integers(len(refs))] if self.train else refs[0] for refs in references]
        metadata = []
        for example in examples:
            fields = {}
            for key, column in self.metadata_columns.items():
                value = example.get(column)
                if value and not (self.train and rng.random() < self.metadata_dropout_p):
                    fields[key] = value
            metadata.append(fields)
        batch = self.processor(
            audio=[np.asarray(example["audio"], dtype=np.float32) for example in examples],
            sampling_rate=rates.pop(),
            metadata=metadata,
            text=captions,
            crop="random" if self.train else "start",
            rng=rng,
        )
        return {**batch, "references": references}

    def _references(self, example: dict) -> list[str]:
        value = example.get(self.caption_column)
        refs = [value] if isinstance(value, str) else list(value or [])
        if not refs or not all(isinstance(r, str) and r.strip() for r in refs):
            raise ValueError(
                f"clip {example.get('id')!r} has no usable caption in column {self.caption_column!r}: got {value!r}"
            )
        return refs


def build_train_dataloader(args, processor) -> tuple[DataLoader, AutoCapCollator]:
    """The training stream (shuffled with ``seed``, re-shuffled per epoch) and its collator."""
    dataset = load_audio_dataset(
        args.dataset, split=args.train_split, sampling_rate=processor.sampling_rate, caption_column=args.caption_column
    )
    dataset = dataset.shuffle(seed=args.seed, buffer_size=args.shuffle_buffer_size)
    collate = AutoCapCollator(
        processor, args.caption_column, dict(args.metadata_column), args.metadata_dropout_p, seed=args.seed
    )
    loader = DataLoader(
        dataset, batch_size=args.train_batch_size, collate_fn=collate, num_workers=args.dataloader_num_workers
    )
    return loader, collate


def load_eval_batches(args, processor) -> list[dict]:
    """At most ``--max_eval_clips`` held-out clips (their first window, no metadata dropout), collated once."""
    if args.max_eval_clips == 0 or not args.eval_split:
        return []
    try:
        dataset = load_audio_dataset(
            args.dataset,
            split=args.eval_split,
            sampling_rate=processor.sampling_rate,
            caption_column=args.caption_column,
        )
    except ValueError as err:
        logger.warning("no held-out evaluation: %s", err)
        return []
    collate = AutoCapCollator(processor, args.caption_column, dict(args.metadata_column), train=False)
    loader = DataLoader(dataset.take(args.max_eval_clips), batch_size=args.eval_batch_size, collate_fn=collate)
    batches = list(loader)
    if not batches:
        logger.warning("the %r split is empty: no held-out evaluation", args.eval_split)
    return batches


# ----------------------------------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate_captions(model, processor, batches: list[dict], num_beams: int = 2) -> dict:
    """Held-out teacher-forced loss and the captions' BLEU-1/4, ROUGE-L and CIDEr-D; also returns the first captions.

    Returns:
        ``{"val_loss", "bleu_1", "bleu_4", "rouge_l", "cider_d", "examples": [(prediction, reference), ...]}``.
    """
    losses, predictions, references = [], [], []
    with eval_mode(model):
        for batch in batches:
            inputs = {k: batch[k].to(model.device) for k in MODEL_INPUTS if k in batch}
            losses.append(model(**inputs, labels=batch["labels"].to(model.device)).loss.item())
            predictions += processor.batch_decode(model.generate(**inputs, num_beams=num_beams))
            references += batch["references"]
    scores = compute_caption_metrics(predictions, references, metrics=["bleu", "rouge_l", "cider_d"])
    return {
        "val_loss": float(np.mean(losses)),
        **{name: scores[name] for name in ("bleu_1", "bleu_4", "rouge_l", "cider_d")},
        "examples": [(p, r[0]) for p, r in zip(predictions[:4], references[:4])],
    }


# ----------------------------------------------------------------------------------------------------------------------
# Loop
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class AutoCapTrainingResult:
    output_dir: Path
    global_step: int
    first_loss: float | None
    last_loss: float | None
    evaluation: dict | None


def training_loss(accelerator, model, batch: dict) -> torch.Tensor:
    """The teacher-forced caption cross-entropy, averaged over the caption tokens of every process (captions differ
    in length, so the processes hold different numbers of tokens: see
    :func:`~hf_audiogen.training.loop.global_mean_loss`); exactly the model's loss with one process."""
    loss = model(**{k: batch[k] for k in (*MODEL_INPUTS, "labels") if k in batch}).loss
    return global_mean_loss(accelerator, loss, (batch["labels"] != -100).sum())


def run_training(
    args: argparse.Namespace, model: AutoCapForConditionalGeneration, processor: AutoCapProcessor
) -> AutoCapTrainingResult:
    output_dir = Path(args.output_dir)
    accelerator = setup_accelerator(args, "train_autocap")
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    model.to(accelerator.device)
    train_loader, collate = build_train_dataloader(args, processor)
    eval_batches = load_eval_batches(args, processor) if accelerator.is_main_process else []

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = adamw_with_decay_groups(
        trainable, args.learning_rate, args.weight_decay, (args.adam_beta1, args.adam_beta2)
    )
    scheduler = get_lr_scheduler(args.lr_scheduler, optimizer, args.lr_warmup_steps, args.max_train_steps)
    model, optimizer, scheduler, train_loader = accelerator.prepare(model, optimizer, scheduler, train_loader)
    register_save_pretrained_hooks(accelerator, ["model"])
    state = start_or_resume(accelerator, output_dir, args.resume_from_checkpoint)

    raw = accelerator.unwrap_model(model)
    progress = TrainingProgress(
        accelerator,
        output_dir,
        args.max_train_steps,
        initial_step=state.global_step,
        description=f"autocap-stage{args.stage}",
    )
    means = RunningMeans()
    losses = StepLoss()
    evaluation = None
    budget = TimeBudget(accelerator, args.max_train_minutes)
    # A checkpoint's model folder is a pipeline directory (written before the checkpoint is complete).
    bookkeeping = StepBookkeeping(
        accelerator, args, state, progress, budget, write_extra=lambda path: processor.save_pretrained(path / "model")
    )
    model.train()
    # Dropout draws from the global RNG: reseeding per micro-batch makes a resumed run draw the same masks.
    for batch in epoch_batches(
        accelerator,
        train_loader,
        collate,
        state,
        args.max_train_steps,
        f"the {args.train_split!r} split yielded no training batch",
        reseed=args.seed,
    ):
        with accelerator.accumulate(model):
            with accelerator.autocast():
                loss = training_loss(accelerator, model, batch)
            optimizer_update(accelerator, loss, trainable, optimizer, scheduler, args.max_grad_norm)
        losses.add(accelerator, loss)
        if not accelerator.sync_gradients:
            continue
        means.update({"loss": losses.end_step()})
        update = bookkeeping.after_update(means, scheduler)  # count the step, log, checkpoint
        step = update.step
        if eval_batches and update.is_due(args.eval_steps):
            evaluation = evaluate_captions(raw, processor, eval_batches, args.eval_num_beams)
            progress.log({k: v for k, v in evaluation.items() if k != "examples"}, step=step)
            progress.write(
                f"step {step}: val loss {evaluation['val_loss']:.3f}, BLEU-1 {evaluation['bleu_1']:.3f}, "
                f"BLEU-4 {evaluation['bleu_4']:.3f}, CIDEr-D {evaluation['cider_d']:.3f}; e.g. "
                f"{evaluation['examples'][0][0]!r} (ref {evaluation['examples'][0][1]!r})"
            )
        accelerator.wait_for_everyone()
        if bookkeeping.finished(update):
            break

    progress.close()
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        raw.save_pretrained(output_dir)
        processor.save_pretrained(output_dir)
        results = {"stage": args.stage, "step": state.global_step, "first_loss": losses.first, "last_loss": losses.last}
        if evaluation is not None:
            results.update(evaluation)
        save_eval_results(output_dir, results)
    accelerator.end_training()
    return AutoCapTrainingResult(output_dir, state.global_step, losses.first, losses.last, evaluation)


def train_autocap(args: argparse.Namespace) -> AutoCapTrainingResult:
    """Train one stage of AutoCap as configured by ``args`` (see :func:`build_arg_parser`)."""
    check_args(args)
    set_seed(args.seed)
    model, processor = build_model(args)
    logger.info(
        "AutoCap stage %d: %s trainable parameters",
        args.stage,
        f"{sum(p.numel() for p in model.parameters() if p.requires_grad):,}",
    )
    return run_training(args, model, processor)


def main(argv: list[str] | None = None) -> AutoCapTrainingResult:
    return train_autocap(parse_args(argv))


__all__ = ["AutoCapCollator", "build_arg_parser", "build_model", "evaluate_captions", "main", "train_autocap"]
