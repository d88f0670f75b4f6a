"""Extraction throughput of each evaluation extractor (random weights: speed does not depend on the values).

One CPU thread, 10 s clips of noise given at 16 kHz (each extractor's ``prepare`` resamples to its own rate, as in a
real run), clips per second = 1 / median seconds per clip over ``--runs`` runs, split into the CPU side (``prepare``:
resampling, mixing) and the model side (``embed``).

    python benchmarks/extractor_throughput.py [--extractors vggish cnn14-16k ...] [--seconds 10] [--runs 3]
"""

import argparse
import json
import shlex
import statistics
import sys
import time

import numpy as np
import torch

from hf_audiogen.evaluation.extractors import EXTRACTORS, extractor_class


def measure(name: str, seconds: float, runs: int) -> dict:
    torch.manual_seed(0)
    extractor = extractor_class(name).from_random(seed=0).eval()
    rng = np.random.default_rng(0)
    clip = (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
    prepare_times, embed_times = [], []
    with torch.inference_mode():
        extractor.embed(extractor.prepare(clip, 16000))  # warm-up (allocations, lazy buffers)
        for _ in range(runs):
            start = time.perf_counter()
            prepared = extractor.prepare(clip, 16000)
            middle = time.perf_counter()
            output = extractor.embed(prepared)
            prepare_times.append(middle - start)
            embed_times.append(time.perf_counter() - middle)
    total = statistics.median(p + e for p, e in zip(prepare_times, embed_times))
    return {
        "extractor": name,
        "clips_per_s": round(1 / total, 3),
        "prepare_s": round(statistics.median(prepare_times), 4),
        "embed_s": round(statistics.median(embed_times), 4),
        "realtime_factor": round(seconds / total, 1),
        "embeddings": list(output.embeddings.shape),
        "logits": None if output.logits is None else list(output.logits.shape),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extractors", nargs="+", default=sorted(EXTRACTORS), choices=sorted(EXTRACTORS))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("$ python " + " ".join(shlex.quote(a) for a in sys.argv), flush=True)
    print(f"{args.seconds:g} s clips, 1 thread, median of {args.runs}; torch {torch.__version__}")
    print(f"{'extractor':<11} {'clips/s':>8} {'prepare s':>10} {'embed s':>9} {'x realtime':>11}  outputs")
    rows = []
    for name in args.extractors:
        row = measure(name, args.seconds, args.runs)
        rows.append(row)
        print(
            f"{name:<11} {row['clips_per_s']:>8.2f} {row['prepare_s']:>10.3f} {row['embed_s']:>9.3f} "
            f"{row['realtime_factor']:>11.1f}  embeddings {row['embeddings']}, logits {row['logits']}",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
