"""AutoReCap: re-caption an audio corpus with AutoCap, GenAU's data pipeline (Haji-Ali et al., 2024, §3.2, App. A).

The paper's steps, and where they are here:

1. **Ambient segments** (App. A.2): the parts of a recording without any subtitle (speech or music) and longer than
   1 s, limited to 10 s because AutoCap was trained on 10 s clips — :func:`read_subtitles` + :func:`ambient_segments`.
2. **Captioning** with AutoCap, title / description / other metadata as its metadata fields, and the CLAP
   audio-text similarity of each new caption — :func:`recaption`, which also **merges consecutive segments with
   identical captions** (:func:`merge_identical_captions`).
3. **Subsets** by CLAP similarity and length, as in the GenAU README: AutoReCap-XL (> 0.1), -MQ (> 0.4), -MQ-L
   (> 0.4 and > 5 s), -HQ (> 0.5) — :func:`autorecap_subsets`, and the ``subsets`` column of the output.

(The paper's post-filter of captions containing speech/music keywords used an LLM-made word list that was never
released; it is not reproduced.)

Input: a folder with ``metadata.jsonl`` (the format of ``hf-audiogen data build-sfx-corpus``): one JSON object per
line with the audio path in ``file`` (relative to the folder) and optional columns: metadata to give AutoCap (mapped
explicitly, ``metadata_columns={"title": "original_caption"}``), ``start`` / ``end`` (seconds: caption only that part
of the file) and ``subtitles`` (an ``.srt`` / ``.vtt`` / ``.sbv`` file: caption only its ambient segments).

Output folder::

    OUT/metadata.jsonl     one row per captioned segment: the input row, with `file` made relative to OUT, plus
                           source_row, start, end, duration (of the segment), autocap_caption, clap_similarity and
                           subsets (e.g. ["XL", "MQ"]; null without a CLAP model)
    OUT/accounting.jsonl   one row per input row: "captioned" (how many output rows) or "skipped" with the reason,
                           and every skipped segment with its reason (unreadable, silent, too short, ...)
    OUT/autorecap_config.json   the settings, so that a resumed run cannot silently mix two models

Rows name segments of their ``file`` by ``start`` / ``end``; a segment that is not the whole file is not cut into
a file of its own, so crop ``[start, end)`` when reading the audio.

Re-running on the same OUT resumes: input rows already in the accounting are skipped, rows of an input row that was
interrupted half-way are dropped and redone, so the result equals that of one uninterrupted run.

The captioning is a batch job (:class:`~hf_audiogen.data.pipelines.BatchJob`): its CPU stage (:class:`RowSegments`)
plans a row's segments and reads their audio, its model stage (:class:`CaptionStage`) runs AutoCap and CLAP, so it
runs in-process or on Ray Data (``engine="ray"``: reading on CPU workers, the models in an actor pool). The job's
shards (``OUT/batch_job/<hash of the rows to do>/``) are its resumable state while it runs: a run stopped mid-job
resumes from its complete shards, and once every row is captioned they are appended to the two JSON-lines files in
input order and deleted. The output stays JSON lines, the format ``load_audio_dataset`` reads next to the audio.

Example:
    >>> report = recaption("data_cache/sfx_corpus", "outputs/sfx_autorecap", "outputs/autocap",
    ...                    clap="path/to/clap", metadata_columns={"title": "original_caption"})  # doctest: +SKIP
    >>> print(report.summary())  # doctest: +SKIP
    >>> ds = load_audio_dataset("outputs/sfx_autorecap", caption_column="autocap_caption")  # doctest: +SKIP
    >>> hq = ds.filter(lambda subsets: "HQ" in subsets, input_columns="subsets")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio import AudioError, check_audio, rms_db, to_mono
from ..validation import InvalidInputError

logger = logging.getLogger(__name__)

SUBTITLE_FORMATS = {".srt": "srt", ".vtt": "vtt", ".sbv": "sbv"}
# name -> (CLAP similarity must exceed, duration must exceed in seconds); the GenAU README's AutoReCap subsets.
AUTORECAP_SUBSETS = {"XL": (0.1, 0.0), "MQ": (0.4, 0.0), "MQ-L": (0.4, 5.0), "HQ": (0.5, 0.0)}
# Segment boundaries closer than this (seconds) are the same instant (float sums of equal pieces).
_TIME_TOLERANCE = 1e-6
_CONFIG_FILE = "autorecap_config.json"
JOB_NAME = "autorecap"
JOB_VERSION = 1
BATCH_JOB_FOLDER = "batch_job"
SHARD_ROWS = 64  # input rows per job shard: what a stopped run may have to redo


# ------------------------------------------------------------------------------------------------ ambient segments
def read_subtitles(path: str | os.PathLike, format: str | None = None) -> list[tuple[float, float]]:
    """The ``(start, end)`` times in seconds of the non-empty cues of an SRT, WebVTT or SBV subtitle file.

    YouTube's automatic captions (WebVTT) repeat text across overlapping cues; :func:`ambient_segments` takes the
    union, so that does not matter. ``format`` (``"srt"``, ``"vtt"``, ``"sbv"``) defaults to the file extension.
    """
    try:
        import webvtt  # webvtt-py: maintained, pure Python, no dependencies, reads SRT and SBV too
    except ImportError as err:
        raise ImportError("reading subtitles needs webvtt-py: pip install 'hf_audiogen[train]'") from err

    path = Path(path)
    if format is None:
        format = SUBTITLE_FORMATS.get(path.suffix.lower())
        if format is None:
            raise InvalidInputError(
                f"cannot tell the subtitle format of {path}: expected a file ending in "
                f"{', '.join(SUBTITLE_FORMATS)} or format="
            )
    if format not in SUBTITLE_FORMATS.values():
        raise InvalidInputError(f"format must be one of {sorted(SUBTITLE_FORMATS.values())}, got {format!r}")
    if not path.is_file():
        raise FileNotFoundError(f"subtitle file not found: {path}")
    with open(path, encoding="utf-8-sig") as handle:
        try:
            captions = webvtt.from_buffer(handle, format=format)
        except webvtt.errors.MalformedFileError as err:
            raise InvalidInputError(f"{path} is not a valid {format} file: {err}") from err

    def seconds(t) -> float:  # Timestamp fields, exact to the millisecond (its in_seconds() truncates)
        return t.hours * 3600 + t.minutes * 60 + t.seconds + t.milliseconds / 1000

    return [(seconds(c.start_time), seconds(c.end_time)) for c in captions if c.text.strip()]


def ambient_segments(
    subtitle_intervals: Iterable[Sequence[float]],
    duration: float,
    min_seconds: float = 1.0,
    max_seconds: float = 10.0,
) -> list[tuple[float, float]]:
    """The parts of a ``duration``-second recording not covered by any subtitle interval, as ``(start, end)``.

    As the paper (App. A.2): every gap longer than ``min_seconds`` is kept and cut into pieces of at most
    ``max_seconds``. A longer gap is cut into ``ceil(length / max_seconds)`` equal pieces (each more than half of
    ``max_seconds``), so no ambient audio is lost to a short remainder.

    Intervals may be unsorted and overlap (they are merged); ones reaching past ``duration`` are clipped to it (a
    subtitle file often outlasts the audio track by a moment). Negative, reversed or non-finite times raise.

    Example:
        >>> ambient_segments([(3.5, 4.0), (2.0, 3.0)], duration=24.0)  # the 0.5 s gap is too short
        [(0.0, 2.0), (4.0, 14.0), (14.0, 24.0)]
    """
    if (
        isinstance(duration, bool)
        or not isinstance(duration, (int, float, np.number))
        or not math.isfinite(duration)
        or duration <= 0
    ):
        raise InvalidInputError(f"duration must be a positive number of seconds, got {duration!r}")
    if not 0 <= min_seconds < math.inf:
        raise InvalidInputError(f"min_seconds must be 0 or more, got {min_seconds!r}")
    if not max_seconds > 0 or not max_seconds >= min_seconds:
        raise InvalidInputError(
            f"max_seconds must be positive and at least min_seconds={min_seconds}, got {max_seconds!r}"
        )
    intervals = []
    for i, interval in enumerate(subtitle_intervals):
        try:
            start, end = (float(t) for t in interval)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"subtitle interval {i} must be a (start, end) pair of seconds, got {interval!r}"
            ) from None
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
            raise InvalidInputError(
                f"subtitle interval {i} = ({start}, {end}) is invalid: need 0 <= start <= end, finite"
            )
        intervals.append((start, min(end, duration)))
    covered = []  # union of the intervals, sorted
    for start, end in sorted(intervals):
        if start >= duration:
            continue
        if covered and start <= covered[-1][1]:
            covered[-1][1] = max(covered[-1][1], end)
        else:
            covered.append([start, end])
    gaps, cursor = [], 0.0
    for start, end in covered:
        gaps.append((cursor, start))
        cursor = end
    gaps.append((cursor, float(duration)))

    segments = []
    for start, end in gaps:
        length = end - start
        if length <= min_seconds or length <= 0:
            continue
        pieces = math.ceil(length / max_seconds - _TIME_TOLERANCE)
        segments.extend((start + length * k / pieces, start + length * (k + 1) / pieces) for k in range(pieces))
    return segments


# ------------------------------------------------------------------------------------------------ merging, subsets
def merge_identical_captions(rows: Sequence[Mapping], caption_column: str = "autocap_caption") -> list[dict]:
    """Join consecutive rows of the same ``file`` whose segments touch (one's ``end`` is the next one's ``start``)
    and whose captions are identical, into one longer row (paper, App. A.2).

    The merged row keeps the first row's other columns, spans ``start`` .. ``end`` (``duration`` updated) and gets
    the duration-weighted mean ``clap_similarity`` of its parts. Rows without ``start`` / ``end`` are left alone.
    """
    merged: list[dict] = []
    for row in rows:
        row = dict(row)
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and row.get("start") is not None
            and previous.get("end") is not None
            and row.get("file") == previous.get("file")
            and row.get(caption_column) == previous.get(caption_column)
            and abs(row["start"] - previous["end"]) <= _TIME_TOLERANCE
        ):
            before, after = previous["end"] - previous["start"], row["end"] - row["start"]
            if previous.get("clap_similarity") is not None and row.get("clap_similarity") is not None:
                previous["clap_similarity"] = (
                    previous["clap_similarity"] * before + row["clap_similarity"] * after
                ) / (before + after)
            previous["end"] = row["end"]
            previous["duration"] = previous["end"] - previous["start"]
            continue
        merged.append(row)
    return merged


def subsets_of(clap_similarity: float, duration: float) -> list[str]:
    """Names of the AutoReCap subsets a clip belongs to (``[]``: below the XL threshold, i.e. filtered out)."""
    return [
        name
        for name, (similarity, seconds) in AUTORECAP_SUBSETS.items()
        if clap_similarity > similarity and duration > seconds
    ]


def autorecap_subsets(rows: Iterable[Mapping]) -> dict[str, list[dict]]:
    """Split captioned rows into the paper's subsets by ``clap_similarity`` and length (``duration``, else
    ``end - start``): ``{"XL": [...], "MQ": [...], "MQ-L": [...], "HQ": [...]}``. Subsets nest (HQ ⊂ MQ ⊂ XL,
    MQ-L ⊂ MQ); thresholds are strict (> 0.1, > 0.4, > 0.4 and > 5 s, > 0.5), as in the GenAU README."""
    subsets: dict[str, list[dict]] = {name: [] for name in AUTORECAP_SUBSETS}
    for i, row in enumerate(rows):
        similarity = row.get("clap_similarity")
        if similarity is None or isinstance(similarity, bool) or not math.isfinite(similarity):
            raise InvalidInputError(
                f"row {i} ({row.get('file')}) has clap_similarity={similarity!r}: the subsets need a "
                "CLAP score for every row (recaption with a CLAP model)"
            )
        duration = row.get("duration")
        if duration is None and row.get("start") is not None and row.get("end") is not None:
            duration = row["end"] - row["start"]
        if duration is None:
            raise InvalidInputError(
                f"row {i} ({row.get('file')}) has no duration (nor start/end): MQ-L needs the length"
            )
        for name in subsets_of(similarity, duration):
            subsets[name].append(dict(row))
    return subsets


# ------------------------------------------------------------------------------------------------ re-captioning
@dataclass
class RecaptionReport:
    """What :func:`recaption` did (``summary()`` prints it in one paragraph)."""

    out_dir: Path
    rows: int = 0  # input rows
    resumed: int = 0  # input rows already done by an earlier run
    captioned_rows: int = 0
    skipped_rows: int = 0
    segments: int = 0  # output rows written by this run (after merging)
    merged: int = 0  # segments folded into a neighbour with the same caption
    skipped_segments: int = 0
    reasons: Counter = field(default_factory=Counter)  # kind of reason -> count, rows and segments
    subsets: Counter = field(default_factory=Counter)  # over the whole output, resumed rows included
    seconds: float = 0.0

    def summary(self) -> str:
        reasons = ", ".join(f"{count} {reason}" for reason, count in self.reasons.most_common()) or "none"
        subsets = ", ".join(f"{name} {self.subsets[name]}" for name in AUTORECAP_SUBSETS) if self.subsets else "n/a"
        return (
            f"{self.rows} input rows: {self.captioned_rows} captioned, {self.skipped_rows} skipped, {self.resumed} "
            f"already done; {self.segments} segments written ({self.merged} merged into identical neighbours, "
            f"{self.skipped_segments} skipped); skip reasons: {reasons}; subsets: {subsets}; {self.seconds:.1f} s; "
            f"see {self.out_dir / 'accounting.jsonl'}"
        )


def recaption(
    in_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    model,
    *,
    clap=None,
    metadata_columns: Mapping[str, str] | None = None,
    batch_size: int = 8,
    num_beams: int | None = None,
    max_new_tokens: int | None = None,
    min_seconds: float = 1.0,
    max_seconds: float | None = None,
    merge_captions: bool = True,
    silence_db: float = -70.0,
    subtitles_column: str = "subtitles",
    progress_bar: bool = True,
    engine="local",
) -> RecaptionReport:
    """Caption every row (or every ambient segment) of a metadata folder with AutoCap and write ``out_dir``.

    Args:
        in_dir: folder with ``metadata.jsonl`` (see the module docstring for its columns).
        out_dir: output folder; an existing one from an earlier run with the same settings is resumed.
        model: an [`AutoCapPipeline`] or the directory / Hub id of one.
        clap: a CLAP scorer for ``clap_similarity``: a directory with a transformers ``ClapModel`` and
            ``ClapProcessor``, or a ``(ClapModel, ClapProcessor)`` pair; None leaves the column null.
        metadata_columns: ``{AutoCap metadata key: column}``, e.g. ``{"title": "original_caption"}``; keys must be
            among the model's ``processor.metadata_keys``. Missing or empty values mean "no such metadata".
        batch_size: clips per ``generate`` call (and per CLAP call).
        num_beams, max_new_tokens: decoding options (default: the model's generation config).
        min_seconds: segments (and whole clips) must be longer than this; shorter ones are skipped as too short.
        max_seconds: longer stretches are cut into equal pieces of at most this (default: the model's window,
            ``feature_extractor.max_length_s``, 10 s for AutoCap: it captions only the first that many seconds).
        merge_captions: merge touching segments of one recording that got identical captions.
        silence_db: segments whose RMS level is below this (dBFS) are skipped as silent.
        subtitles_column: column naming a subtitle file: only the file's ambient segments are captioned.
        progress_bar: a tqdm bar over the input rows.
        engine: ``"local"`` (in this process), ``"ray"`` or a ``RayEngine`` (Ray Data; the same output).
    """
    from ..autocap import AutoCapPipeline

    started = time.perf_counter()
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    metadata_path = in_dir / "metadata.jsonl" if in_dir.is_dir() else in_dir
    if not metadata_path.is_file():
        raise FileNotFoundError(
            f"no metadata.jsonl in {in_dir}: expected a folder written like `hf-audiogen data "
            "build-sfx-corpus` does (metadata.jsonl with a `file` column)"
        )
    in_dir = metadata_path.parent
    if out_dir.resolve() == in_dir.resolve():
        raise InvalidInputError(f"out_dir must differ from in_dir ({in_dir}): the output has its own metadata.jsonl")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    rows = _read_jsonl(metadata_path)

    pipe = model if isinstance(model, AutoCapPipeline) else AutoCapPipeline.from_pretrained(model)
    window = float(pipe.processor.feature_extractor.max_length_s)
    max_seconds = window if max_seconds is None else max_seconds
    ambient_segments([], 1.0, min_seconds, max_seconds)  # validates the limits
    if max_seconds > window:
        logger.warning(
            "max_seconds=%g is longer than the model's %g s window: AutoCap captions only the first %g s "
            "of longer segments",
            max_seconds,
            window,
            window,
        )
    metadata_columns = dict(metadata_columns or {})
    unknown = [key for key in metadata_columns if key not in pipe.processor.metadata_keys]
    if unknown:
        raise InvalidInputError(
            f"metadata key(s) {unknown} are not read by this AutoCap model: it reads {pipe.processor.metadata_keys}"
        )
    columns = set().union(*(row.keys() for row in rows)) if rows else set()
    absent = [column for column in metadata_columns.values() if column not in columns]
    if rows and absent:
        raise InvalidInputError(
            f"metadata column(s) {absent} are in no row of {metadata_path}; columns are {sorted(columns)}"
        )
    clap_model, clap_processor, clap_name = _load_clap(clap)

    settings = {
        "input": str(metadata_path.resolve()),
        "model": getattr(pipe.model, "name_or_path", None),
        "clap": clap_name,
        "metadata_columns": metadata_columns,
        "num_beams": num_beams,
        "max_new_tokens": max_new_tokens,
        "min_seconds": min_seconds,
        "max_seconds": max_seconds,
        "merge_captions": merge_captions,
        "silence_db": silence_db,
        "subtitles_column": subtitles_column,
    }
    done = _prepare_output(out_dir, settings, rows)
    report = RecaptionReport(out_dir=out_dir, rows=len(rows), resumed=len(done))

    generate_options = {
        name: value
        for name, value in (("num_beams", num_beams), ("max_new_tokens", max_new_tokens))
        if value is not None
    }
    items = [(f"row-{index:09d}", {"index": index, "row": row}) for index, row in enumerate(rows) if index not in done]
    if items:
        from ..data.pipelines.batch_job import BatchJob, load_results

        job = BatchJob(
            RowSegments(in_dir, subtitles_column, min_seconds, max_seconds, silence_db, metadata_columns),
            CaptionStage(pipe, clap_model, clap_processor, generate_options, batch_size),
            {"job": JOB_NAME, "version": JOB_VERSION, **settings},
            batch_size=batch_size,  # rows per model call; generate calls take batch_size segments of them
            shard_size=SHARD_ROWS,
        )
        # One job folder per list of rows to do: a stopped job is found again by the rerun (the accounting is only
        # written once the job is complete, so the rerun has the same rows to do).
        digest = hashlib.sha256(json.dumps([item_id for item_id, _ in items]).encode()).hexdigest()[:16]
        job_dir = out_dir / BATCH_JOB_FOLDER / f"rows-{digest}"
        job.run(
            items,
            job_dir,
            process_index=0,
            num_processes=1,
            progress=progress_bar,
            description="captioning",
            engine=engine,
        )
        results = load_results(job_dir)
        failures = dict(results.failed)
        with (
            open(out_dir / "metadata.jsonl", "a", encoding="utf-8") as metadata_file,
            open(out_dir / "accounting.jsonl", "a", encoding="utf-8") as accounting_file,
        ):
            for item_id, source in items:  # a row is written whole (metadata rows, then its accounting row)
                plan = _plan_from_result(source, in_dir, results.results.get(item_id), failures.get(item_id))
                out_rows, account = _finish_row(plan, in_dir, out_dir, merge_captions, clap_model is not None)
                for out_row in out_rows:
                    metadata_file.write(json.dumps(out_row, ensure_ascii=False) + "\n")
                accounting_file.write(json.dumps(account, ensure_ascii=False) + "\n")
                report.segments += len(out_rows)
                report.merged += account["merged"]
                report.skipped_segments += len(account["skipped_segments"])
                if account["status"] == "captioned":
                    report.captioned_rows += 1
                else:
                    report.skipped_rows += 1
                    report.reasons[_reason_kind(account["reason"])] += 1
                for skipped in account["skipped_segments"]:
                    if account["status"] == "captioned":
                        report.reasons[_reason_kind(skipped["reason"])] += 1
        shutil.rmtree(job_dir)  # exported: the accounting now says these rows are done

    if clap_model is not None:
        report.subsets.update({name: 0 for name in AUTORECAP_SUBSETS})
        for row in _read_jsonl(out_dir / "metadata.jsonl"):
            report.subsets.update(row.get("subsets") or [])
    report.seconds = time.perf_counter() - started
    return report


def _load_clap(clap):
    """``clap`` argument -> ``(ClapModel or None, ClapProcessor or None, name for the settings file)``."""
    if clap is None:
        return None, None, None
    from transformers import ClapModel, ClapProcessor

    if isinstance(clap, (str, os.PathLike)):
        model = ClapModel.from_pretrained(clap).eval()
        return model, ClapProcessor.from_pretrained(clap), str(clap)
    if isinstance(clap, Sequence) and len(clap) == 2:
        model, processor = clap
        if not isinstance(model, ClapModel) or not isinstance(processor, ClapProcessor):
            raise InvalidInputError(
                f"clap must be a (ClapModel, ClapProcessor) pair, got ({type(model).__name__}, "
                f"{type(processor).__name__})"
            )
        return model.eval(), processor, getattr(model, "name_or_path", None) or type(model).__name__
    raise InvalidInputError(
        f"clap must be a CLAP directory / Hub id or a (ClapModel, ClapProcessor) pair, got {clap!r}"
    )


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise InvalidInputError(f"{path} line {number} is not JSON: {err}") from err
            if not isinstance(row, dict):
                raise InvalidInputError(f"{path} line {number} must be a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def _prepare_output(out_dir: Path, settings: dict, rows: list[dict]) -> set[int]:
    """Create ``out_dir`` or check it for resuming; return the indices of input rows already done."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError(f"out_dir {out_dir} is a file, not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path, accounting_path = out_dir / _CONFIG_FILE, out_dir / "accounting.jsonl"
    metadata_path = out_dir / "metadata.jsonl"
    if not config_path.exists():
        if accounting_path.exists() or metadata_path.exists():
            raise InvalidInputError(
                f"{out_dir} holds metadata.jsonl / accounting.jsonl but no {_CONFIG_FILE}: not an "
                "AutoReCap output folder, refusing to write into it"
            )
        config_path.write_text(json.dumps(settings, indent=2) + "\n")
        return set()
    previous = json.loads(config_path.read_text())
    changed = sorted(key for key in set(previous) | set(settings) if previous.get(key) != settings.get(key))
    if changed:
        differences = "; ".join(f"{key}: {previous.get(key)!r} -> {settings.get(key)!r}" for key in changed)
        raise InvalidInputError(f"{out_dir} was written with other settings ({differences}); use a new output folder")
    # A run stopped mid-write can leave a cut last line: keep complete lines only.
    done = {}
    for account in _complete_lines(accounting_path):
        index = account["row"]
        if not 0 <= index < len(rows) or rows[index].get("file") != account["file"]:
            raise InvalidInputError(
                f"{accounting_path} row {index} ({account['file']}) does not match the input's "
                "metadata.jsonl any more: it changed since this output was written; use a new folder"
            )
        done[index] = account
    kept = [row for row in _complete_lines(metadata_path) if row.get("source_row") in done]
    _rewrite_jsonl(metadata_path, kept)
    _rewrite_jsonl(accounting_path, list(done.values()))
    if done:
        logger.info("resuming in %s: %d of %d input rows already done", out_dir, len(done), len(rows))
    return set(done)


def _complete_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.endswith("\n"):
            rows.append(json.loads(line))
    return rows


def _rewrite_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    os.replace(tmp, path)  # atomic: an interruption here leaves the old file or the new one


def _plan_row(
    index: int, row: dict, in_dir: Path, subtitles_column: str, min_seconds: float, max_seconds: float
) -> dict:
    """One input row -> its segments to caption, or the reason it has none."""
    plan = {"index": index, "row": row, "segments": [], "skipped": [], "reason": None, "path": None}
    file = row.get("file")
    if not isinstance(file, str) or not file:
        plan["reason"] = f"no audio: the row has no 'file' string (got {file!r})"
        return plan
    path = in_dir / file
    plan["path"] = path
    if not path.is_file():
        plan["reason"] = f"unreadable audio: file not found: {file}"
        return plan
    try:
        info = sf.info(str(path))
        duration = info.frames / info.samplerate
    except (sf.LibsndfileError, RuntimeError, ZeroDivisionError) as err:
        plan["reason"] = f"unreadable audio: {err}"
        return plan
    if info.frames <= 0:
        plan["reason"] = "unreadable audio: the file holds no samples"
        return plan
    plan["samplerate"] = info.samplerate
    span_start, span_end = row.get("start", 0.0), row.get("end", duration)
    valid_span = all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in (span_start, span_end))
    if not valid_span or not 0 <= span_start < span_end <= duration + 1e-3:
        plan["reason"] = f"bad start/end ({span_start!r}, {span_end!r}) for {duration:.3f} s of audio"
        return plan
    span_end = min(span_end, duration)
    intervals = []
    subtitles = row.get(subtitles_column)
    if subtitles:
        try:
            absolute = read_subtitles(in_dir / subtitles)
        except (ValueError, OSError) as err:
            plan["reason"] = f"unreadable subtitles: {err}"
            return plan
        # Subtitle times are of the whole file: shift them into the row's span.
        intervals = [(max(s - span_start, 0.0), e - span_start) for s, e in absolute if e > span_start]
    try:
        relative = ambient_segments(intervals, span_end - span_start, min_seconds, max_seconds)
    except ValueError as err:
        plan["reason"] = f"bad subtitles: {err}"
        return plan
    plan["segments"] = [{"start": span_start + s, "end": span_start + e} for s, e in relative]
    if not plan["segments"]:
        length = span_end - span_start
        plan["reason"] = (
            f"too short: no stretch without subtitles longer than min_seconds={min_seconds:g}"
            if subtitles
            else f"too short: {length:.3f} s <= min_seconds={min_seconds:g}"
        )
    return plan


def _load_segment(plan: dict, segment: dict) -> np.ndarray:
    rate = plan["samplerate"]
    first, last = round(segment["start"] * rate), round(segment["end"] * rate)
    try:
        # sf.read seeks, so a 10 s piece of an hour-long recording reads only those 10 s.
        audio, _ = sf.read(str(plan["path"]), start=first, stop=last, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(f"unreadable audio: {err}") from err
    return to_mono(check_audio(audio.T, name=str(plan["path"])), "mean")


class RowSegments:
    """The CPU stage: one input row (``{"index", "row"}``) → its segments, each with its mono audio or the reason it
    is skipped (unreadable, silent), the row's AutoCap metadata and sampling rate, or the reason the row has no
    segment. Problems of the row's data are reasons, never exceptions."""

    def __init__(self, in_dir, subtitles_column, min_seconds, max_seconds, silence_db, metadata_columns):
        self.in_dir, self.subtitles_column = Path(in_dir), subtitles_column
        self.min_seconds, self.max_seconds, self.silence_db = min_seconds, max_seconds, silence_db
        self.metadata_columns = dict(metadata_columns)

    def __call__(self, source: dict) -> dict:
        row = source["row"]
        plan = _plan_row(source["index"], row, self.in_dir, self.subtitles_column, self.min_seconds, self.max_seconds)
        for segment in plan["segments"]:
            try:
                audio = _load_segment(plan, segment)
            except AudioError as err:
                segment["reason"] = str(err) if str(err).startswith("unreadable") else f"unreadable audio: {err}"
                continue
            level = rms_db(audio)
            if level < self.silence_db:
                segment["reason"] = f"silent: RMS {level:.1f} dBFS < silence_db={self.silence_db:g}"
                continue
            segment["audio"] = audio
        metadata = {key: _metadata_value(row.get(column)) for key, column in self.metadata_columns.items()}
        return {**plan, "metadata": metadata}


class CaptionStage:
    """The model stage: rows from :class:`RowSegments` → per row ``{"reason", "segments"}`` (segments as JSON text:
    start, end and the AutoCap ``caption`` + ``clap_similarity``, or the skip ``reason``). Segments are captioned
    ``batch_size`` at a time, across the rows of the call, and scored with CLAP when a scorer is given."""

    def __init__(self, pipe, clap_model, clap_processor, generate_options: dict, batch_size: int):
        self.pipe, self.clap_model, self.clap_processor = pipe, clap_model, clap_processor
        self.generate_options, self.batch_size = dict(generate_options), batch_size

    def to(self, device) -> CaptionStage:
        """Move AutoCap and CLAP (a Ray actor given a GPU calls this)."""
        import torch

        self.pipe.model.to(device)
        self.pipe.device = torch.device(device)
        if self.clap_model is not None:
            self.clap_model.to(device)
        return self

    def __call__(self, rows: list[dict]) -> list[dict]:
        from ..evaluation.clap import clap_similarity

        ready = [(row, segment) for row in rows for segment in row["segments"] if "audio" in segment]
        for start in range(0, len(ready), self.batch_size):
            batch = ready[start : start + self.batch_size]
            captions = self.pipe(
                [{"array": segment["audio"], "sampling_rate": row["samplerate"]} for row, segment in batch],
                metadata=[row["metadata"] for row, _ in batch],
                batch_size=len(batch),
                progress_bar=False,
                **self.generate_options,
            )
            for (_, segment), caption in zip(batch, captions):
                segment["caption"] = caption
            if self.clap_model is None:
                continue
            by_rate: dict[int, list] = {}  # the shared scorer takes one sampling rate per call
            for row, segment in batch:
                by_rate.setdefault(row["samplerate"], []).append(segment)
            for rate, segments in by_rate.items():
                scores = clap_similarity(
                    self.clap_model,
                    self.clap_processor,
                    [segment["audio"] for segment in segments],
                    rate,
                    [segment["caption"] for segment in segments],
                )
                for segment, score in zip(segments, scores.tolist()):
                    segment["clap_similarity"] = score
        return [
            {
                "reason": row["reason"],
                "segments": json.dumps(
                    [{key: value for key, value in segment.items() if key != "audio"} for segment in row["segments"]]
                ),
            }
            for row in rows
        ]


def _plan_from_result(source: dict, in_dir: Path, result: dict | None, failure: str | None) -> dict:
    """The plan :func:`_finish_row` takes, from a row's job result (or the error its CPU stage raised)."""
    row = source["row"]
    file = row.get("file")
    plan = {"index": source["index"], "row": row, "segments": [], "reason": None, "path": None}
    if isinstance(file, str) and file and (in_dir / file).is_file():
        plan["path"] = in_dir / file
    if result is None:
        plan["reason"] = f"failed: {failure}"
    else:
        plan["reason"], plan["segments"] = result["reason"], json.loads(result["segments"])
    return plan


def _metadata_value(value):
    """A metadata cell as AutoCap takes it: text, a list of labels, or None for missing / empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, list):
        return [str(item) for item in value]
    return str(value)


def _finish_row(plan: dict, in_dir: Path, out_dir: Path, merge_captions: bool, scored: bool) -> tuple[list, dict]:
    """Output rows and the accounting row of one planned input row."""
    row, index = plan["row"], plan["index"]
    out_rows, skipped = [], []
    # `file` relative to OUT, so that OUT/metadata.jsonl loads from its own folder (load_audio_dataset).
    file = os.path.relpath(os.path.abspath(plan["path"]), os.path.abspath(out_dir)) if plan["path"] else None
    for segment in plan["segments"]:
        if "caption" not in segment:
            skipped.append({"start": segment["start"], "end": segment["end"], "reason": segment["reason"]})
            continue
        out_rows.append(
            {
                **row,
                "file": file,
                "source_row": index,
                "start": segment["start"],
                "end": segment["end"],
                "duration": segment["end"] - segment["start"],
                "autocap_caption": segment["caption"],
                "clap_similarity": segment.get("clap_similarity"),
            }
        )
    before = len(out_rows)
    if merge_captions:
        out_rows = merge_identical_captions(out_rows)
    for out_row in out_rows:
        for name in ("start", "end", "duration"):
            out_row[name] = round(out_row[name], 6)
        out_row["subsets"] = subsets_of(out_row["clap_similarity"], out_row["duration"]) if scored else None
    reason = plan["reason"]
    if not out_rows and reason is None:
        kinds = sorted({item["reason"] for item in skipped})
        reason = kinds[0] if len(kinds) == 1 else f"all {len(skipped)} segments skipped: {'; '.join(kinds)}"
    account = {
        "row": index,
        "file": row.get("file"),
        "status": "captioned" if out_rows else "skipped",
        "reason": None if out_rows else reason,
        "segments": len(out_rows),
        "merged": before - len(out_rows),
        "skipped_segments": skipped,
    }
    return out_rows, account


def _reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0]


__all__ = [
    "AUTORECAP_SUBSETS",
    "CaptionStage",
    "RecaptionReport",
    "RowSegments",
    "ambient_segments",
    "autorecap_subsets",
    "merge_identical_captions",
    "read_subtitles",
    "recaption",
    "subsets_of",
]
