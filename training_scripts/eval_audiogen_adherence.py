#!/usr/bin/env python
"""Measure how well an AudioGen model follows text: retrieval of corpus clips by generated audio, and held-out NLL.

For every caption of the corpus (and a few hand-written paraphrases) the model generates ``--duration`` seconds; the
nearest corpus clips under a fixed audio embedding (log-mel statistics) must carry that caption. The corpus is indexed
as the model's codec reconstructs it (generated audio comes out of that codec; against raw clips every decoded sound
lands on a few hub clips and the measure is blind). Prints top-1/top-5 accuracy next to the codec-reconstruction
oracle (each held-out real clip, through the codec, as the query: the ceiling) and exact chance, a prompt-shuffled
baseline, per source and per split, a domain check, and the held-out NLL against a unigram baseline; writes
everything, with the command, to ``--out`` as JSON. The library side is ``hf_audiogen.evaluation.text_adherence``.

Examples:

    python training_scripts/eval_audiogen_adherence.py outputs/audiogen-sfx data_cache/sfx_corpus \\
        --duration 2 --seed 0 --out outputs/audiogen-sfx/adherence.json --num_threads 2

    # only the oracles (no generation): through a codec (a codec directory or an AudioGen model's), and raw
    python training_scripts/eval_audiogen_adherence.py --oracle_only data_cache/sfx_corpus \\
        --codec src/hf_audiogen/pretrained/sfx-codec-small --out oracle.json
"""

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from hf_audiogen.audiogen import AudioGenPipeline
from hf_audiogen.evaluation.audio_embedding import LogMelStatisticsEmbedding
from hf_audiogen.evaluation.text_adherence import (
    CorpusIndex,
    domain_check,
    evaluate_text_adherence,
    heldout_nll,
    oracle_retrieval,
)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="MODEL_DIR CORPUS_DIR",
        help="AudioGen model directory and corpus folder (metadata.jsonl); with --oracle_only, the corpus folder alone",
    )
    parser.add_argument("--out", default="adherence_report.json", help="JSON report path")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds generated per prompt")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (the same for every prompt)")
    parser.add_argument("--num_samples", type=int, default=1, help="samples per prompt")
    parser.add_argument("--guidance_scale", type=float, default=None, help="default: the model's generation config")
    parser.add_argument("--top_k", type=int, default=None)
    parser.add_argument("--top_p", type=float, default=None)
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument(
        "--embedding",
        choices=["logmel", "logmel+codec"],
        default="logmel",
        help="log-mel statistics, optionally with the model codec's latent mean",
    )
    parser.add_argument(
        "--index_domain",
        choices=["codec", "raw"],
        default="codec",
        help="index the corpus as the model's codec reconstructs it (the domain of generated audio), "
        "or raw (for comparison only: decoded audio then lands on a few hub clips)",
    )
    parser.add_argument(
        "--codec",
        default=None,
        help="with --oracle_only: the codec of the oracle (a codec directory or an AudioGen model "
        "directory, whose codec is used)",
    )
    parser.add_argument("--no_paraphrases", action="store_true", help="skip the hand-written paraphrase prompts")
    parser.add_argument("--no_nll", action="store_true", help="skip the held-out NLL")
    parser.add_argument("--nll_split", default="validation", help="corpus split scored by the held-out NLL")
    parser.add_argument(
        "--oracle_only",
        action="store_true",
        help="only the oracles: held-out real clips through --codec as queries, and raw clips",
    )
    parser.add_argument("--num_threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--no_progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    expected = 1 if args.oracle_only else 2
    if len(args.paths) != expected:
        parser.error(
            "give CORPUS_DIR alone with --oracle_only"
            if args.oracle_only
            else f"give MODEL_DIR and CORPUS_DIR, got {len(args.paths)} path(s)"
        )
    if args.num_threads < 1:
        parser.error(f"--num_threads must be >= 1, got {args.num_threads}")
    if args.oracle_only and args.codec is None:
        parser.error("--oracle_only needs --codec (the codec whose reconstructions are the oracle's queries)")
    if args.codec is not None and not args.oracle_only:
        parser.error("--codec only goes with --oracle_only (otherwise the model's own codec is used)")
    return args


def load_codec_or_model_codec(path: str):
    """A codec directory, or an AudioGen model directory (its codec)."""
    from hf_audiogen.audiogen import AudioGenForConditionalGeneration
    from hf_audiogen.codec import CodecModel

    config = Path(path) / "config.json"
    if not config.is_file():
        raise ValueError(f"--codec {path!r} is neither a codec nor an AudioGen model directory (no config.json)")
    if json.loads(config.read_text()).get("model_type") == CodecModel.config_class.model_type:
        return CodecModel.from_pretrained(path).eval()
    codec = AudioGenForConditionalGeneration.from_pretrained(path).codec.eval()
    codec.name_or_path = f"{path} (codec)"
    return codec


def _scores_line(name: str, scores) -> str:
    return (
        f"  {name:<36} {scores.num_queries:>4} clips  top-1 {100 * scores.top1:5.1f}% (chance "
        f"{100 * scores.chance_top1:4.1f}%)  top-5 {100 * scores.top5:5.1f}% (chance "
        f"{100 * scores.chance_top5:4.1f}%)"
    )


def run(args, command: str) -> dict:
    torch.set_num_threads(args.num_threads)
    progress = not args.no_progress
    start = time.time()
    if args.oracle_only:
        if args.embedding != "logmel":
            raise ValueError("--oracle_only: use --embedding logmel")
        (corpus_dir,) = args.paths
        codec = load_codec_or_model_codec(args.codec)
        index = CorpusIndex.from_corpus(
            corpus_dir,
            LogMelStatisticsEmbedding(),
            progress_bar=progress,
            codec=codec,
            domain=args.index_domain,
            query_seconds=args.duration,
        )
        oracle = oracle_retrieval(index, query_features=index.reconstruction_queries)
        cross = oracle_retrieval(index, True, index.reconstruction_queries)
        check = domain_check(index)
        raw = CorpusIndex.from_corpus(corpus_dir, LogMelStatisticsEmbedding(), progress_bar=progress)
        raw_oracle = oracle_retrieval(raw)
        print(
            f"oracles on {corpus_dir} ({len(index)} clips, {len(index.caption_counts)} captions), embedding "
            f"{index.embedding.name}, index: {index.describe()}, queries: first {args.duration:g} s"
        )
        for name, scores in (
            ("codec-reconstruction oracle", oracle),
            ("  other recordings only", cross),
            ("raw clips, no codec (not comparable)", raw_oracle),
        ):
            print(_scores_line(name, scores))
        print(f"  domain check: a clip's reconstruction retrieves itself top-1 for {100 * check['self_top1']:.1f}%")
        settings = {
            "corpus": corpus_dir,
            "embedding": index.embedding.name,
            "index": index.describe(),
            "oracle_query_seconds": args.duration,
            "num_corpus_clips": len(index),
            "num_distinct_captions": len(index.caption_counts),
        }
        report = {
            "settings": settings,
            "oracle": oracle.to_dict(),
            "oracle_cross_recording": cross.to_dict(),
            "domain_check": check,
            "oracle_raw_clips": raw_oracle.to_dict(),
            "command": command,
        }
    else:
        model_dir, corpus_dir = args.paths
        if not Path(model_dir).is_dir():
            raise ValueError(
                f"model directory {model_dir!r} does not exist (expected a save_pretrained AudioGen directory)"
            )
        pipe = AudioGenPipeline.from_pretrained(model_dir, device="cpu")  # loaded once for both measurements
        result = evaluate_text_adherence(
            pipe,
            corpus_dir,
            duration=args.duration,
            num_samples_per_caption=args.num_samples,
            seed=args.seed,
            guidance_scale=args.guidance_scale,
            top_k=args.top_k,
            top_p=args.top_p,
            temperature=args.temperature,
            embedding=args.embedding,
            paraphrases={} if args.no_paraphrases else None,
            progress_bar=progress,
            index_domain=args.index_domain,
        )
        if not args.no_nll:
            result.nll = heldout_nll(pipe, corpus_dir, split=args.nll_split, progress_bar=progress)
        result.command = command
        print(result.format_table())
        o, c = result.overall, result.oracle
        print(
            f"summary: model top-1 {100 * o.top1:.1f}% / top-5 {100 * o.top5:.1f}% | codec-reconstruction oracle "
            f"{100 * c.top1:.1f}% / {100 * c.top5:.1f}% | chance {100 * o.chance_top1:.1f}% / "
            f"{100 * o.chance_top5:.1f}%"
        )
        report = result.to_dict()
    report["seconds"] = round(time.time() - start, 1)
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"report written to {path} ({report['seconds']} s)")
    return report


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    command = shlex.join(["python", "training_scripts/eval_audiogen_adherence.py", *argv])
    import datasets
    import transformers

    if args.no_progress:  # also the libraries' own bars (dataset maps, weight loading)
        datasets.disable_progress_bars()
        transformers.utils.logging.disable_progress_bar()
    try:
        run(args, command)
    except ValueError as err:  # bad corpus, model or option: one line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        if args.no_progress:
            datasets.enable_progress_bars()
            transformers.utils.logging.enable_progress_bar()
    return 0


if __name__ == "__main__":
    sys.exit(main())
