"""Multi-source, resumable sound-effect corpus builder (v2).

Layout of ``OUT``::

    clips/<source>/<name>.flac       16 kHz mono FLAC (16-bit)
    sources/<source>/rows.jsonl      per-source stage: the source's kept clips (before cross-source merging)
    sources/<source>/accounting.jsonl  every file of the source: kept or skipped with the reason
    sources/<source>/DONE.json       written last: a source with it is not rebuilt (resume)
    metadata.jsonl                   merged: file, caption, source, licence, attribution, duration, group, split,
                                     speech, ...
    accounting.jsonl                 merged accounting (cross-source duplicates marked there)
    ATTRIBUTION.md                   per-clip licence and credits
    report.json                      totals: hours per source / licence / split, skip counts per reason

Skip reasons (the ``reason`` column starts with the kind): ``music``, ``speech`` (unless ``keep_speech``),
``duplicate (hash)``, ``too short``, ``silent``, ``no caption``, ``no licence`` / ``licence ...``, ``unreadable``,
or a source-specific reason (placeholder, jingle...).

Example:
    >>> report = build_corpus("/root/runs/sfx_corpus_v2", cache_dir="/root/runs/cache")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable

import numpy as np

from ...audio import AudioError, load_audio, resample, to_mono, write_audio
from ..sfx_corpus import DEFAULT_VALIDATION_FRACTION, SourceClip, _reason_kind, assign_splits
from .catalog import resolve_sources
from .core import LICENCE_URLS, licence_allowed

DEFAULT_SAMPLING_RATE = 16000
STAGE_VERSION = 1


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _write_jsonl(path: Path, rows) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def _package_label(source) -> str:
    label = getattr(source, "package_label", None)
    if label:
        return label
    package = getattr(source, "package", None)
    if getattr(package, "version", None):
        return f"{package.name} {package.version}"
    return getattr(package, "name", source.name)


def _source_bytes(clip: SourceClip) -> bytes | None:
    if isinstance(clip.audio, (bytes, bytearray)):
        return bytes(clip.audio)
    try:
        return Path(clip.audio).read_bytes()
    except (OSError, TypeError):
        return None


def build_source(source, folder, out_dir: Path, *, sampling_rate: int = DEFAULT_SAMPLING_RATE,
                 min_duration: float = 0.2, silence_peak_db: float = -60.0, keep_speech: bool = False,
                 log: Callable[[str], None] = print) -> dict:
    """Convert one unpacked source into ``out_dir/clips/<source>`` and its stage folder; returns the DONE record."""
    name = source.name
    stage = out_dir / "sources" / name
    clips_dir = out_dir / "clips" / name
    shutil.rmtree(stage, ignore_errors=True)
    shutil.rmtree(clips_dir, ignore_errors=True)  # a partial earlier attempt is redone from scratch
    stage.mkdir(parents=True)
    package = _package_label(source)
    accounting, rows = [], []
    seen_bytes: dict[str, str] = {}
    seen_pcm: dict[str, str] = {}
    used: set[str] = set()
    started = time.time()
    clips = list(source.iter_clips(folder))
    for k, clip in enumerate(clips):
        if k and k % 200 == 0:
            log(f"  {name}: {k}/{len(clips)} files, {len(rows)} kept, {time.time() - started:.0f} s")
        record = {"source": name, "original_name": clip.original_name, "status": "skipped", "reason": None,
                  "file": None, "caption": clip.caption, "licence": clip.licence, "duration": None}
        accounting.append(record)
        speech = bool(clip.extra.get("speech"))
        if clip.skip_reason:
            record["reason"] = clip.skip_reason
            continue
        if not clip.caption:
            record["reason"] = "no caption"
            continue
        if not licence_allowed(clip.licence):
            record["reason"] = f"licence {clip.licence!r} is not accepted"
            continue
        if speech and not keep_speech:
            record["reason"] = f"speech ({clip.extra.get('speech_evidence', 'source metadata')!r} in the path)"
            continue
        data = _source_bytes(clip)
        if data is None:
            record["reason"] = "unreadable: the file cannot be read"
            continue
        digest = hashlib.sha1(data).hexdigest()
        if digest in seen_bytes:
            record["reason"] = f"duplicate (hash) of {seen_bytes[digest]}"
            continue
        seen_bytes[digest] = clip.original_name
        try:
            audio, original_rate = load_audio(data, mono=False)
        except AudioError as err:
            record["reason"] = f"unreadable: {err}"
            continue
        channels = audio.shape[0]
        audio = resample(to_mono(audio, "mean"), original_rate, sampling_rate)
        duration = audio.shape[-1] / sampling_rate
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        peak_db = 20 * np.log10(peak) if peak > 0 else -np.inf
        if duration < min_duration:
            record["reason"] = f"too short ({duration:.3f} s < {min_duration} s)"
            continue
        if peak_db < silence_peak_db:
            record["reason"] = f"silent (peak {peak_db:.1f} dBFS < {silence_peak_db} dBFS)"
            continue
        pcm = np.round(np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
        pcm_digest = hashlib.sha1(pcm).hexdigest()
        if pcm_digest in seen_pcm:
            record["reason"] = f"duplicate (hash) of {seen_pcm[pcm_digest]} (same decoded audio)"
            continue
        seen_pcm[pcm_digest] = clip.original_name
        stem = clip.file_stem
        relative = f"clips/{name}/{stem}.flac"
        n = 1
        while relative in used:
            n += 1
            relative = f"clips/{name}/{stem}_{n}.flac"
        used.add(relative)
        write_audio(out_dir / relative, audio, sampling_rate)
        record.update(status="kept", file=relative, duration=round(duration, 4))
        rows.append({
            "file": relative,
            "caption": clip.caption,
            "source": name,
            "licence": clip.licence,
            "licence_url": LICENCE_URLS.get(clip.licence, ""),
            "attribution": clip.attribution,
            "duration": round(duration, 4),
            "group": f"{name}/{clip.group or clip.file_stem}",
            "split": None,
            "speech": speech,
            "sampling_rate": sampling_rate,
            "original_name": clip.original_name,
            "original_caption": clip.extra.get("original_caption", ""),
            "caption_origin": clip.extra.get("caption_origin", "source metadata"),
            "original_sampling_rate": int(original_rate),
            "original_channels": int(channels),
            "peak_db": round(float(peak_db), 2),
            "licence_note": clip.extra.get("licence_note", ""),
            "package": package,
            "sha1_pcm": pcm_digest,
        })
    _write_jsonl(stage / "rows.jsonl", rows)
    _write_jsonl(stage / "accounting.jsonl", accounting)
    done = {"source": name, "package": package, "stage_version": STAGE_VERSION, "files": len(accounting),
            "kept": len(rows), "seconds": round(sum(r["duration"] for r in rows), 2),
            "settings": {"sampling_rate": sampling_rate, "min_duration": min_duration,
                         "silence_peak_db": silence_peak_db, "keep_speech": keep_speech}}
    tmp = stage / "DONE.json.tmp"
    tmp.write_text(json.dumps(done, indent=1), encoding="utf-8")
    os.replace(tmp, stage / "DONE.json")  # written last: its presence means the stage is complete
    return done


def stage_done(out_dir: Path, name: str, settings: dict) -> bool:
    path = Path(out_dir) / "sources" / name / "DONE.json"
    if not path.is_file():
        return False
    done = json.loads(path.read_text(encoding="utf-8"))
    return done.get("stage_version") == STAGE_VERSION and done.get("settings") == settings


def merge_corpus(out_dir: Path, names: list[str], validation_fraction: float = DEFAULT_VALIDATION_FRACTION) -> dict:
    """Merge the finished source stages (in ``names`` order): cross-source duplicates (same decoded audio) are
    dropped from the metadata and marked in the accounting, splits assigned by recording group, and
    metadata.jsonl, accounting.jsonl, ATTRIBUTION.md and report.json written. Deterministic."""
    out_dir = Path(out_dir)
    rows, accounting = [], []
    first_file: dict[str, str] = {}
    for name in names:
        stage = out_dir / "sources" / name
        own_rows = _read_jsonl(stage / "rows.jsonl")
        dropped = {}
        for row in own_rows:
            if row["sha1_pcm"] in first_file:
                dropped[row["file"]] = first_file[row["sha1_pcm"]]
                continue
            first_file[row["sha1_pcm"]] = row["file"]
            rows.append(row)
        for record in _read_jsonl(stage / "accounting.jsonl"):
            if record.get("file") in dropped:
                record.update(status="skipped", reason=f"duplicate (hash) of {dropped[record['file']]} (other source)",
                              duration=None)
                (out_dir / record["file"]).unlink(missing_ok=True)
                record["file"] = None
            accounting.append(record)
    assign_splits(rows, validation_fraction)
    _write_jsonl(out_dir / "metadata.jsonl", rows)
    _write_jsonl(out_dir / "accounting.jsonl", accounting)
    (out_dir / "ATTRIBUTION.md").write_text(attribution_markdown(rows), encoding="utf-8")
    report = corpus_report(rows, accounting)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    return report


def corpus_report(rows: list[dict], accounting: list[dict]) -> dict:
    hours = lambda rs: round(sum(r["duration"] for r in rs) / 3600, 4)  # noqa: E731
    by = lambda key: {k: {"clips": len(v), "hours": hours(v)}  # noqa: E731
                      for k, v in sorted(_group(rows, key).items(), key=lambda kv: -sum(r["duration"] for r in kv[1]))}
    reasons = Counter(_reason_kind(r["reason"]) for r in accounting if r["status"] == "skipped")
    per_source_reasons = defaultdict(Counter)
    for r in accounting:
        per_source_reasons[r["source"]][_reason_kind(r["reason"]) if r["status"] == "skipped" else "kept"] += 1
    return {
        "clips": len(rows), "hours": hours(rows), "files_accounted": len(accounting),
        "by_source": by("source"), "by_licence": by("licence"), "by_split": by("split"),
        "skipped_by_reason": dict(reasons.most_common()),
        "accounting_by_source": {s: dict(c.most_common()) for s, c in per_source_reasons.items()},
    }


def _group(rows, key):
    out = defaultdict(list)
    for row in rows:
        out[row[key]].append(row)
    return out


def attribution_markdown(rows: list[dict]) -> str:
    lines = ["# Attribution", "",
             "Every clip was converted (downmixed to mono, resampled to 16 kHz, stored as FLAC) from the freely "
             "licensed packages below; captions come from the packages' own labels and file names. Each clip keeps "
             "its licence (column `licence` of metadata.jsonl). CC-BY/CC-BY-SA clips require this attribution; "
             "CC-BY-SA and GPL clips and works derived from them carry the same licence.", ""]
    for source, own in _group(rows, "source").items():
        counts = Counter(r["licence"] for r in own)
        lines += [f"## {source} ({own[0]['package']})", "",
                  "Licences: " + ", ".join(f"{n} {lic}" for lic, n in counts.most_common()), "",
                  "| file | caption | licence | original | credits |", "|---|---|---|---|---|"]
        for r in own:
            cells = [r["file"], r["caption"], r["licence"], r["original_name"], r["attribution"]]
            lines.append("| " + " | ".join(str(c).replace("|", "/").replace("\n", " ") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def build_corpus(out_dir, cache_dir=None, sources=None, *, sampling_rate: int = DEFAULT_SAMPLING_RATE,
                 validation_fraction: float = DEFAULT_VALIDATION_FRACTION, min_duration: float = 0.2,
                 silence_peak_db: float = -60.0, keep_speech: bool = False, continue_on_error: bool = False,
                 log: Callable[[str], None] = print) -> dict:
    """Build (or resume) the multi-source corpus; returns the report (see :func:`corpus_report`).

    A source whose stage is complete (``sources/<name>/DONE.json`` with the same settings) is skipped, so an
    interrupted build resumes at the first unfinished source and a finished one is reproduced exactly.
    ``continue_on_error`` logs a source that cannot be fetched and goes on with the others.
    """
    out_dir = Path(out_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir / ".cache"
    if (out_dir / "clips").exists() and not (out_dir / "sources").exists():
        raise ValueError(f"{out_dir} holds clips/ but no sources/ stages: not a v2 corpus folder, refusing to write")
    resolved = resolve_sources(sources)  # deny-listed or unknown names fail before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {"sampling_rate": sampling_rate, "min_duration": min_duration, "silence_peak_db": silence_peak_db,
                "keep_speech": keep_speech}
    names = []
    for source in resolved:
        if stage_done(out_dir, source.name, settings):
            log(f"{source.name}: already built, skipped (resume)")
            names.append(source.name)
            continue
        started = time.time()
        try:
            log(f"{source.name}: fetching")
            folder = source.fetch(cache_dir)
            log(f"{source.name}: converting")
            done = build_source(source, folder, out_dir, sampling_rate=sampling_rate, min_duration=min_duration,
                                silence_peak_db=silence_peak_db, keep_speech=keep_speech, log=log)
        except Exception as err:  # noqa: BLE001
            if not continue_on_error:
                raise
            log(f"{source.name}: FAILED ({type(err).__name__}: {err}); continuing")
            continue
        names.append(source.name)
        log(f"{source.name}: {done['kept']}/{done['files']} kept, {done['seconds'] / 60:.1f} min "
            f"({time.time() - started:.0f} s)")
    report = merge_corpus(out_dir, names, validation_fraction)
    log(f"total: {report['clips']} clips, {report['hours']:.2f} h; skipped: {report['skipped_by_reason']}")
    return report
