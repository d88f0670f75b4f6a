#!/usr/bin/env python
"""Pre-tokenise an audio dataset with a codec: parquet shards of (id, caption, codes) that train_audiogen.py reads
with ``--token_shards`` instead of running the codec on every batch.

The codec comes from ``--codec`` (a codec directory) or from a saved AudioGen model (``--model``, its codec). Clips
are encoded whole, or their first ``--max_seconds``; training crops them afterwards.

Example:

    python training_scripts/tokenize_audiogen_dataset.py --dataset data_cache/sfx_corpus \\
        --codec src/hf_audiogen/pretrained/sfx-codec-small --output_dir data_cache/sfx_tokens \\
        --splits train validation
"""

import argparse
import sys

import torch

from hf_audiogen.audiogen import AudioGenForConditionalGeneration
from hf_audiogen.codec import CodecModel
from hf_audiogen.data.streams import load_audio_dataset
from hf_audiogen.training.audiogen_data import tokenize_audio_dataset


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
    for split in args.splits:
        dataset = load_audio_dataset(
            args.dataset, split=split, sampling_rate=codec.config.sampling_rate, caption_column=args.caption_column
        )
        stats = tokenize_audio_dataset(
            dataset,
            codec,
            args.output_dir,
            split,
            batch_size=args.batch_size,
            max_seconds=args.max_seconds,
            shard_size=args.shard_size,
            caption_column=args.caption_column,
            codec_name=name,
        )
        print(
            f"{split}: {stats['clips']} clips, {stats['frames']} frames -> {len(stats['shards'])} shard(s) in "
            f"{args.output_dir}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
