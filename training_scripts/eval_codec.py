#!/usr/bin/env python
"""Evaluate a codec on held-out clips: mean SI-SNR (dB, higher is better) and multi-scale mel distance (lower is
better) of the reconstructions, clip by clip, as ``train_codec.py`` does during training.

    python training_scripts/eval_codec.py --model src/hf_audiogen/pretrained/sfx-codec-small \\
        --dataset data_cache/sfx_corpus --split validation

``--model`` also accepts a preset name (``small``, ...) or a config JSON: the codec is then built untrained with
``--seed`` (exactly the weights ``train_codec.py --seed`` starts from), which gives the "before training" figures.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
from transformers import set_seed

from hf_audiogen.codec import CodecModel
from hf_audiogen.training.codec import CODEC_PRESETS, evaluate_codec, load_codec_config, load_eval_clips


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--model",
        required=True,
        help=f"trained codec directory, or an untrained preset ({', '.join(CODEC_PRESETS)}) / config JSON",
    )
    parser.add_argument("--dataset", required=True, help="audio dataset (as train_codec.py --dataset)")
    parser.add_argument("--split", default="validation", help="split to evaluate on")
    parser.add_argument("--max_clips", type=int, default=32, help="evaluate on at most this many clips")
    parser.add_argument("--max_seconds", type=float, default=10.0, help="truncate clips to this length")
    parser.add_argument("--num_quantizers", type=int, default=None, help="decode with the first K codebooks only")
    parser.add_argument("--seed", type=int, default=0, help="seed of an untrained codec built from a preset")
    parser.add_argument("--num_threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--output_json", default=None, help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def load_model(spec: str, seed: int) -> tuple[CodecModel, str]:
    if (Path(spec) / "model.safetensors").is_file():
        return CodecModel.from_pretrained(spec), "trained"
    set_seed(seed)
    return CodecModel(load_codec_config(spec)), f"untrained (seed {seed})"


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    model, kind = load_model(args.model, args.seed)
    clips = load_eval_clips(args.dataset, args.split, model.config.sampling_rate, args.max_clips, args.max_seconds)
    result = evaluate_codec(model, clips, num_quantizers=args.num_quantizers)
    report = {
        "model": args.model,
        "kind": kind,
        "dataset": args.dataset,
        "split": args.split,
        "num_quantizers": args.num_quantizers or model.config.num_quantizers,
        **vars(result),
    }
    print(
        f"{args.model} [{kind}] on {result.num_clips} {args.split} clips ({result.seconds:.1f} s), "
        f"{report['num_quantizers']} codebooks: SI-SNR {result.si_snr:.2f} dB, mel distance "
        f"{result.mel_distance:.4f}, L1 {result.l1:.4f}"
    )
    if args.output_json:
        Path(args.output_json).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
