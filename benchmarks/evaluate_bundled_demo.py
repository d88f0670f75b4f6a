"""`hf-audiogen evaluate` on the bundled demo model's generations against a corpus's held-out split, under every
protocol, next to a control: real held-out clips (other than the reference ones) scored the same way.

Here no official extractor weights can be downloaded, so the extractors run on seeded random weights
(``allow_random_weights``): the numbers exercise the whole code path (decode → resample → extract → cache →
distances → JSON) and are NOT comparable to published ones. Pass ``--weights NAME=PATH`` to use the official files.

    python benchmarks/evaluate_bundled_demo.py HELDOUT_DIR OUT_DIR [--clips 32] [--duration 3] [--weights vggish=...]

HELDOUT_DIR is a corpus folder (``metadata.jsonl`` with ``file``/``caption`` rows and the clips), e.g. the held-out
split written by ``hf-audiogen data build-sfx-corpus``. Writes OUT_DIR/{generated,reference,control}/ (clip ids =
corpus paths, so KL is paired by id), prompts.jsonl, one results_<protocol>[_control].json each, and prints a table.
"""

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from hf_audiogen.audio import write_audio
from hf_audiogen.evaluation.audio_evaluation import PROTOCOLS, evaluate_audio
from hf_audiogen.pretrained import default_model_path, load_pipeline


def select_rows(heldout: Path, clips: int, seed: int) -> tuple[list[dict], list[dict]]:
    rows = [json.loads(line) for line in (heldout / "metadata.jsonl").read_text().splitlines() if line.strip()]
    order = np.random.default_rng(seed).permutation(len(rows))
    picked = [rows[i] for i in order]
    return picked[:clips], picked[clips : 2 * clips]


def clip_id(row: dict) -> str:
    return str(Path(row["file"]).with_suffix("")).removeprefix("clips/")


def copy_clips(rows: list[dict], heldout: Path, target: Path) -> None:
    for row in rows:
        destination = target / (clip_id(row) + Path(row["file"]).suffix)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(heldout / row["file"], destination)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("heldout", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", nargs="*", default=[], help="NAME=PATH_OR_HUB_ID of official extractor weights")
    parser.add_argument("--protocols", nargs="+", default=sorted(PROTOCOLS), choices=sorted(PROTOCOLS))
    args = parser.parse_args()
    print("$ python " + " ".join(shlex.quote(a) for a in sys.argv), flush=True)
    weights = dict(item.split("=", 1) for item in args.weights)

    reference_rows, control_rows = select_rows(args.heldout, args.clips, args.seed)
    generated_dir, reference_dir, control_dir = (args.out / name for name in ("generated", "reference", "control"))
    copy_clips(reference_rows, args.heldout, reference_dir)
    copy_clips(control_rows, args.heldout, control_dir)
    prompts = {clip_id(row): row["caption"] for row in reference_rows}
    control_prompts = {clip_id(row): row["caption"] for row in control_rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "prompts.jsonl").write_text(
        "".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in prompts.items())
    )

    pipe = load_pipeline(default_model_path())
    start = time.perf_counter()
    for index, (identifier, caption) in enumerate(prompts.items()):
        path = generated_dir / f"{identifier}.wav"
        if path.exists():
            continue
        out = pipe(caption, duration=args.duration, seed=args.seed + index)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(path, out["audio"], out["sampling_rate"])
    print(f"generated {len(prompts)} clips of {args.duration:g} s in {time.perf_counter() - start:.0f} s", flush=True)

    cache = args.out / "embedding_cache"
    table = []
    for protocol in args.protocols:
        for label, generated, generated_prompts in (
            ("demo", generated_dir, prompts),
            ("control: real held-out clips", control_dir, control_prompts),
        ):
            result = evaluate_audio(
                generated,
                protocol=protocol,
                reference=reference_dir,
                prompts=generated_prompts,
                extractor_weights=weights,
                allow_random_weights=True,
                seed=args.seed,
                cache_dir=cache,
                progress=False,
            )
            suffix = "" if label == "demo" else "_control"
            (args.out / f"results_{protocol}{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
            values = {
                name: (None if metric["value"] is None else round(float(metric["value"]), 4))
                for name, metric in result["metrics"].items()
            }
            table.append((protocol, label, values))
            print(f"{protocol:<12} {label:<30} {values}", flush=True)


if __name__ == "__main__":
    main()
