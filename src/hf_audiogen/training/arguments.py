"""Command-line options every training script shares (names follow diffusers' and transformers' example scripts).

A script builds its parser with :func:`training_arg_parser` (or :func:`add_common_training_args` on a parser of its
own), adds its own options (the audio-only families: :func:`add_audio_data_args`), then calls
:func:`check_common_training_args` so bad values stop the run before any model is built. :func:`resolve_config` reads
the ``--config`` option of the families that take "a preset name or a config.json".
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TypeVar

from ..validation import InvalidInputError
from .schedules import LR_SCHEDULES

MIXED_PRECISION_CHOICES = ("no", "fp16", "bf16")

ConfigT = TypeVar("ConfigT")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {text!r}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {text!r}")
    return value


def add_common_training_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add run, optimisation, checkpointing and logging options to ``parser`` (returned for chaining)."""
    run = parser.add_argument_group("run")
    run.add_argument("--output_dir", required=True, help="where checkpoints, logs, samples and the final model go")
    run.add_argument("--seed", type=int, default=0, help="seed of model init, data order and crops")
    run.add_argument(
        "--num_threads",
        type=_positive_int,
        default=None,
        help="torch CPU threads per process (default: torch's choice)",
    )
    run.add_argument(
        "--mixed_precision",
        choices=MIXED_PRECISION_CHOICES,
        default=None,
        help="autocast dtype (default: accelerate's config / 'no'); bf16 also works on CPU",
    )

    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--max_train_steps", type=_positive_int, required=True, help="optimizer steps to train for")
    optim.add_argument(
        "--max_train_minutes",
        type=float,
        default=None,
        help="also stop (and save) at the first optimizer step after this much wall time in this "
        "invocation; for CPU runs on a time budget",
    )
    optim.add_argument("--train_batch_size", type=_positive_int, default=8, help="micro-batch size per process")
    optim.add_argument(
        "--gradient_accumulation_steps", type=_positive_int, default=1, help="micro-batches per optimizer step"
    )
    optim.add_argument("--learning_rate", type=float, default=3e-4, help="peak learning rate")
    optim.add_argument("--lr_scheduler", choices=LR_SCHEDULES, default="constant", help="learning-rate schedule")
    optim.add_argument("--lr_warmup_steps", type=int, default=0, help="linear warm-up steps of the schedule")
    optim.add_argument(
        "--max_grad_norm", type=float, default=None, help="clip the gradient norm to this value (default: no clipping)"
    )

    ckpt = parser.add_argument_group("checkpointing")
    ckpt.add_argument(
        "--checkpointing_steps",
        type=_positive_int,
        default=500,
        help="save a resumable checkpoint every N optimizer steps",
    )
    ckpt.add_argument(
        "--checkpoints_total_limit",
        type=_positive_int,
        default=None,
        help="keep at most N checkpoints (oldest deleted first; default: keep all)",
    )
    ckpt.add_argument(
        "--resume_from_checkpoint",
        default=None,
        help="'latest' (newest checkpoint in --output_dir, if any) or a checkpoint directory",
    )

    shards = parser.add_argument_group("training data in shards")
    shards.add_argument(
        "--train_data",
        default=None,
        help="train on parquet or WebDataset shards: a local folder, file or glob, or any fsspec URL "
        "(s3://, gs://, https://...), streamed with a seeded shuffle, split across processes by shard and resumed "
        "at the exact position (see docs/multi_process_training.md)",
    )
    shards.add_argument(
        "--storage_options",
        type=_json_object,
        default=None,
        help="fsspec options of --train_data's filesystem, as JSON (e.g. '{\"anon\": true}')",
    )

    logs = parser.add_argument_group("evaluation and logging")
    logs.add_argument(
        "--eval_steps",
        type=_positive_int,
        default=500,
        help="evaluate on the held-out split every N optimizer steps (and at the end)",
    )
    logs.add_argument("--logging_steps", type=_positive_int, default=10, help="log averaged metrics every N steps")
    logs.add_argument(
        "--report_to", default=None, help="also log to an accelerate tracker ('tensorboard', 'wandb', 'trackio', ...)"
    )
    return parser


def training_arg_parser(description: str, **defaults) -> argparse.ArgumentParser:
    """A parser with the common options (:func:`add_common_training_args`), ``defaults`` overriding theirs (the
    family's learning rate, schedule, batch size...), and every option's default shown in ``--help``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_common_training_args(parser)
    parser.set_defaults(**defaults)
    return parser


def add_audio_data_args(
    parser: argparse.ArgumentParser, segment_seconds: float, segment_help: str, eval_max_seconds: float
) -> argparse._ArgumentGroup:
    """The "data" group of the families trained on audio alone (codec, GenAU's VAE and vocoder): the dataset, its
    train/eval splits, random crops of ``--segment_seconds`` and the held-out clips. Returned so that a family can
    add its own data options after these."""
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset",
        required=True,
        help="audio dataset: a local folder with metadata.jsonl/csv, parquet or webdataset shards, or a Hub dataset id",
    )
    data.add_argument("--train_split", default="train", help="split to train on")
    data.add_argument("--eval_split", default="validation", help="held-out split for evaluation")
    data.add_argument("--segment_seconds", type=float, default=segment_seconds, help=segment_help)
    data.add_argument("--shuffle_buffer_size", type=int, default=1000, help="shuffle buffer of the training stream")
    data.add_argument("--max_eval_clips", type=int, default=32, help="evaluate on at most this many held-out clips")
    data.add_argument(
        "--eval_max_seconds", type=float, default=eval_max_seconds, help="truncate held-out clips to this length"
    )
    return data


def resolve_config(
    name_or_path: str,
    presets: Collection[str],
    from_preset: Callable[[str], ConfigT],
    from_dict: Callable[[dict], ConfigT],
    kind: str = "config",
) -> ConfigT:
    """``--config``: ``from_preset(name)`` for a name in ``presets``, else ``from_dict`` of a ``config.json`` file
    or of the one in a directory; anything else raises ``ValueError`` naming the presets and ``kind`` of file."""
    if name_or_path in presets:
        return from_preset(name_or_path)
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise InvalidInputError(
            f"--config {name_or_path!r} is neither a preset ({', '.join(presets)}) nor a {kind} JSON file"
        )
    return from_dict(json.loads(path.read_text(encoding="utf-8")))


def train_stream_from_args(args: argparse.Namespace, **decode_options):
    """The :class:`~hf_audiogen.data.streams.ShardedAudioStream` of ``--train_data`` (``None`` without it), seeded by
    ``--seed``, shuffled with ``--shuffle_buffer_size`` (1000 where the script has no such option), ``--train_split``
    picking shards or rows when the script has it. ``decode_options`` go to
    :func:`~hf_audiogen.data.streams.load_shard_stream` (``sampling_rate``, ``caption_column``, ...). Each process
    reads the whole list and accelerate's ``prepare`` hands it its batches; the loop resumes it at its position
    (:func:`~hf_audiogen.training.checkpointing.seek_stream`).

    Example:
        >>> stream = train_stream_from_args(args, sampling_rate=16000) or today_stream(args)  # doctest: +SKIP
    """
    if getattr(args, "train_data", None) is None:
        return None
    from ..data.streams import load_shard_stream

    return load_shard_stream(
        args.train_data,
        seed=args.seed,
        buffer_size=getattr(args, "shuffle_buffer_size", 1000),
        split=getattr(args, "train_split", None),
        storage_options=args.storage_options,
        **decode_options,
    )


def check_common_training_args(args: argparse.Namespace, reads_train_data: bool = False) -> None:
    """Raise ``ValueError`` on option values argparse cannot check on its own. A script whose training stream comes
    from :func:`train_stream_from_args` passes ``reads_train_data=True``; the others refuse ``--train_data`` rather
    than ignore it."""
    if getattr(args, "train_data", None) is not None and not reads_train_data:
        raise InvalidInputError(
            "this training script does not read --train_data yet; give the shard folder or URL to its dataset "
            "option instead (read through datasets, resumed by replaying the epoch)"
        )
    if getattr(args, "storage_options", None) is not None and getattr(args, "train_data", None) is None:
        raise InvalidInputError("--storage_options configures --train_data's filesystem; give --train_data too")
    if args.learning_rate <= 0:
        raise InvalidInputError(f"--learning_rate must be positive, got {args.learning_rate}")
    if args.lr_warmup_steps < 0:
        raise InvalidInputError(f"--lr_warmup_steps must be >= 0, got {args.lr_warmup_steps}")
    if args.lr_scheduler == "inverse_sqrt" and args.lr_warmup_steps == 0:
        raise InvalidInputError("--lr_scheduler inverse_sqrt needs --lr_warmup_steps > 0")
    if args.max_train_minutes is not None and args.max_train_minutes <= 0:
        raise InvalidInputError(f"--max_train_minutes must be positive, got {args.max_train_minutes}")
    if args.max_grad_norm is not None and args.max_grad_norm <= 0:
        raise InvalidInputError(f"--max_grad_norm must be positive, got {args.max_grad_norm}")
