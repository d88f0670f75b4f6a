#!/usr/bin/env python
"""Pre-tokenise an audio dataset with a codec: parquet shards of (id, caption, codes) that train_audiogen.py reads
with ``--token_shards`` instead of running the codec on every batch.

The codec comes from ``--codec`` (a codec directory) or from a saved AudioGen model (``--model``, its codec). Clips
are encoded whole, or their first ``--max_seconds``; training crops them afterwards.

It is a resumable batch job: rerun the same command after an interruption and only the unfinished shards are
computed. A metadata folder (``metadata.jsonl`` / ``.csv``, e.g. ``hf-audiogen data build-sfx-corpus``) is read file
by file in the job's CPU stage; other sources (parquet / WebDataset shards, Hub ids) are decoded with
``load_audio_dataset`` first and held in memory. ``--engine ray`` runs the job on Ray Data (``pip install
'hf_audiogen[ray]'``): decoding on CPU workers, the codec in ``--model_workers`` actors, ``--gpus_per_worker`` GPUs
each (docs/scaling.md).

Example:

    python training_scripts/tokenize_audiogen_dataset.py --dataset data_cache/sfx_corpus \\
        --codec src/hf_audiogen/pretrained/sfx-codec-small --output_dir data_cache/sfx_tokens \\
        --splits train validation
"""

import argparse
import csv
import json
import sys
from pathlib import Path

import torch

from hf_audiogen.audiogen import AudioGenForConditionalGeneration
from hf_audiogen.codec import CodecModel
from hf_audiogen.data.pipelines.batch_job import make_engine
from hf_audiogen.data.streams import load_audio_dataset
from hf_audiogen.training.audiogen_data import tokenize_audio_dataset, tokenize_audio_files

METADATA_FILES = ("metadata.jsonl", "metadata.csv")
AUDIO_COLUMNS = ("file", "file_name", "path", "audio")  # load_audio_dataset's order


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--dataset", required=True, help="audio dataset (folder with metadata, shards, or Hub id)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--codec", help="directory of a trained codec")
    source.add_argument("--model", help="directory of a saved AudioGen model (its codec is used)")
    parser.add_argument("--output_dir", required=True, help="folder for the shards and tokenization.json")
    parser.add_argument("--splits", nargs="+", default=["train", "validation"], help="splits to tokenise")
    parser.add_argument("--caption_column", default="caption")
    parser.add_argument("--max_seconds", type=float, default=None, help="keep at most this much of each clip")
    parser.add_argument("--batch_size", type=int, default=8, help="clips encoded together")
    parser.add_argument("--shard_size", type=int, default=1000, help="clips per parquet shard")
    parser.add_argument("--num_threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--engine", choices=("local", "ray"), default="local", help="run in-process or on Ray Data")
    parser.add_argument("--ray_address", default=None, help="with --engine ray: cluster to join (default: local)")
    parser.add_argument("--model_workers", type=int, default=1, help="with --engine ray: codec actors")
    parser.add_argument("--gpus_per_worker", type=float, default=0.0, help="with --engine ray: GPUs per codec actor")
    args = parser.parse_args(argv)
    if args.max_seconds is not None and args.max_seconds <= 0:
        parser.error(f"--max_seconds must be positive, got {args.max_seconds}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    if args.codec:
        codec, name = CodecModel.from_pretrained(args.codec), args.codec
    else:
        codec, name = AudioGenForConditionalGeneration.from_pretrained(args.model).codec, f"{args.model} (codec)"
    engine = make_engine(
        args.engine, address=args.ray_address, model_workers=args.model_workers, num_gpus=args.gpus_per_worker
    )
    options = dict(
        batch_size=args.batch_size,
        max_seconds=args.max_seconds,
        shard_size=args.shard_size,
        codec_name=name,
        engine=engine,
    )
    metadata = next((Path(args.dataset) / f for f in METADATA_FILES if (Path(args.dataset) / f).is_file()), None)
    for split in args.splits:
        if metadata is not None:
            clips = metadata_clips(metadata, split, args.caption_column)
            stats = tokenize_audio_files(clips, codec, args.output_dir, split, **options)
        else:
            dataset = load_audio_dataset(
                args.dataset, split=split, sampling_rate=codec.config.sampling_rate, caption_column=args.caption_column
            )
            stats = tokenize_audio_dataset(
                dataset, codec, args.output_dir, split, caption_column=args.caption_column, **options
            )
        failed = f", {len(stats['failed'])} unreadable (listed in tokenization.json)" if stats["failed"] else ""
        print(
            f"{split}: {stats['clips']} clips, {stats['frames']} frames -> {len(stats['shards'])} shard(s) in "
            f"{args.output_dir}{failed}"
        )


def metadata_clips(metadata: Path, split: str, caption_column: str) -> list[tuple[str, Path, str | None]]:
    """``(id, path, caption)`` of a metadata file's rows of ``split`` (all rows without a ``split`` column), with the
    ids ``load_audio_dataset`` gives them (the audio path as written)."""
    with open(metadata, encoding="utf-8", newline="") as handle:
        if metadata.suffix == ".csv":
            rows = list(csv.DictReader(handle))
        else:
            rows = [json.loads(line) for line in handle if line.strip()]
    column = next((c for c in AUDIO_COLUMNS if any(c in row for row in rows)), None)
    if column is None:
        raise SystemExit(f"{metadata} has no audio column ({', '.join(AUDIO_COLUMNS)})")
    if not any("split" in row for row in rows):
        chosen = rows
    else:
        chosen = [row for row in rows if row.get("split") == split]
    if not chosen:
        raise SystemExit(f"{metadata} has no rows of split {split!r}")
    return [(row[column], metadata.parent / row[column], row.get(caption_column)) for row in chosen]


if __name__ == "__main__":
    main(sys.argv[1:])
