"""Survey the candidate sound-effect sources without converting anything.

For each source: fetch (download + selective unpack, cached), run its adapter, and count the distinct
(byte-identical files counted once), captioned, licensed, non-music, non-speech recordings and their duration
(from the file headers). Writes ``survey.json`` and ``survey.md``.

Usage:
    python -m hf_audiogen.data.builders.survey --cache-dir /root/hf_audiogen_runs/cache --out docs/sfx_survey
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import soundfile as sf

from .build import _reason_kind
from .catalog import DEFAULT_SOURCES, resolve_sources
from .core import licence_allowed


def _duration(audio) -> float | None:
    try:
        info = sf.info(io.BytesIO(audio) if isinstance(audio, (bytes, bytearray)) else str(audio))
    except Exception:  # noqa: BLE001
        return None
    return info.frames / info.samplerate if info.samplerate else None


def survey_source(source, folder) -> dict:
    counts = Counter()
    seen = set()
    usable_seconds = speech_seconds = 0.0
    licences = Counter()
    usable = speech = 0
    for clip in source.iter_clips(folder):
        counts["files"] += 1
        if clip.skip_reason or not clip.caption or not licence_allowed(clip.licence):
            counts[_reason_kind(clip.skip_reason) or "no caption/licence"] += 1
            continue
        data = clip.audio if isinstance(clip.audio, bytes) else Path(clip.audio).read_bytes()
        digest = hashlib.sha1(data).hexdigest()
        if digest in seen:
            counts["duplicate (hash)"] += 1
            continue
        seen.add(digest)
        duration = _duration(clip.audio)
        if duration is None:
            counts["unreadable"] += 1
            continue
        if clip.extra.get("speech"):
            speech += 1
            speech_seconds += duration
            counts["speech"] += 1
            continue
        usable += 1
        usable_seconds += duration
        licences[clip.licence] += 1
    return {
        "source": source.name,
        "package": getattr(source, "package_label", None) or str(source.package),
        "licences": dict(licences.most_common()),
        "files": counts.pop("files", 0),
        "clips": usable,
        "minutes": round(usable_seconds / 60, 2),
        "speech_clips": speech,
        "speech_minutes": round(speech_seconds / 60, 2),
        "skipped": dict(counts.most_common()),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--out", required=True, help="output prefix (writes PREFIX.json and PREFIX.md)")
    parser.add_argument("--sources", nargs="+", default=list(DEFAULT_SOURCES))
    args = parser.parse_args(argv)
    results = []
    for source in resolve_sources(args.sources):
        try:
            folder = source.fetch(args.cache_dir)
            results.append(survey_source(source, folder))
        except Exception as err:  # noqa: BLE001
            results.append({"source": source.name, "error": f"{type(err).__name__}: {err}"})
        print(json.dumps(results[-1]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    lines = [
        "| source | package | licence(s) | files | usable clips | minutes | speech clips (min) | skipped |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['source']} | error: {r['error']} | | | | | | |")
            continue
        lines.append(
            f"| {r['source']} | {r['package']} | {', '.join(r['licences'])} | {r['files']} | {r['clips']} | "
            f"{r['minutes']:.1f} | {r['speech_clips']} ({r['speech_minutes']:.1f}) | "
            f"{', '.join(f'{k}: {v}' for k, v in r['skipped'].items())} |"
        )
    ok = [r for r in results if "error" not in r]
    lines.append(
        f"| **total** | | | {sum(r['files'] for r in ok)} | {sum(r['clips'] for r in ok)} | "
        f"{sum(r['minutes'] for r in ok):.1f} | {sum(r['speech_clips'] for r in ok)} "
        f"({sum(r['speech_minutes'] for r in ok):.1f}) | |"
    )
    Path(args.out + ".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
