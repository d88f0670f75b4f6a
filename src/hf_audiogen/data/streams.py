"""Audio datasets for every training script: load, decode with soundfile, crop, and collate into padded batches.

``datasets`` handles the storage (a local folder with ``metadata.jsonl``/``metadata.csv``, parquet or WebDataset
shards in a folder or at any fsspec URL, or a Hub dataset id), shuffling and epochs. For training on shards,
:class:`ShardedAudioStream` (:func:`load_shard_stream`) adds what ``datasets``' streams lack: a shuffle whose
position can be restored exactly, and a split of the shards across processes. Its own ``Audio`` decoding needs torchcodec, which does not work
here, so audio stays as paths or bytes and :func:`load_audio_dataset` decodes it in ``.map`` with soundfile (via
:func:`hf_audiogen.audio.load_audio`), downmixing and resampling with soxr. Every example then looks like::

    {"audio": float32 array (samples,), "sampling_rate": 16000, "caption": "a cow mooing" or None,
     "id": "clips/opensfx/37_cow.flac", ...the dataset's other columns}

Example:
    >>> from torch.utils.data import DataLoader
    >>> ds = load_audio_dataset("data_cache/sfx_corpus", split="train")  # doctest: +SKIP
    >>> ds = ds.shuffle(seed=0, buffer_size=256)  # doctest: +SKIP
    >>> collate = AudioCollator(max_samples=16000, seed=0)  # random 1 s crops  # doctest: +SKIP
    >>> batch = next(iter(DataLoader(ds, batch_size=8, collate_fn=collate)))  # doctest: +SKIP
    >>> batch["audio"].shape, batch["padding_mask"].shape  # doctest: +SKIP
    (torch.Size([8, 16000]), torch.Size([8, 16000]))
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import zlib
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch

from ..audio import AudioError, check_sample_rate, load_audio
from ..validation import InvalidInputError

logger = logging.getLogger(__name__)

_AUDIO_COLUMNS = ("file", "file_name", "path", "audio")  # tried in this order when audio_column is None
_AUDIO_EXTENSIONS = ("flac", "wav", "ogg", "mp3", "oga", "opus")
_METADATA_FILES = ("metadata.jsonl", "metadata.json", "metadata.csv")


def load_audio_dataset(
    source: str | os.PathLike,
    split: str | None = None,
    streaming: bool = True,
    *,
    sampling_rate: int | None = 16000,
    mono: bool = True,
    audio_column: str | None = None,
    caption_column: str = "caption",
    on_error: Literal["raise", "skip"] = "raise",
    skipped: list | None = None,
    cache_dir: str | os.PathLike | None = None,
):
    """Load an audio dataset and decode it to float32 arrays.

    Args:
        source: one of
            * a folder (or file) with ``metadata.jsonl`` / ``metadata.csv``: one row per clip, the audio path in
              ``file`` (or ``file_name``/``path``/``audio``) relative to the metadata file, e.g. the corpus
              written by ``hf-audiogen data build-sfx-corpus``;
            * a folder (or file, or glob) of ``*.parquet`` shards with an audio column of ``{"bytes", "path"}``
              structs, raw bytes or paths;
            * a folder (or file, or glob) of WebDataset ``*.tar`` shards (audio in ``.flac``/``.wav``/... members,
              caption in ``.txt`` or in ``.json`` under ``caption``);
            * a Hugging Face Hub dataset id (needs network access).
        split: for metadata files, keep rows whose ``split`` column equals it (None keeps all rows); for shards,
            use the files named after it (``train-00000.parquet``, ``validation/…``) or else filter a ``split``
            column; for a Hub id, the dataset split (default ``"train"``).
        streaming: True returns a ``datasets.IterableDataset`` decoded lazily while iterating; False returns a
            map-style ``datasets.Dataset`` decoded once, in memory (fine for a few hours of audio at 16 kHz).
        sampling_rate: resample every clip to this rate (None keeps each file's own rate).
        mono: downmix to ``(samples,)`` by averaging channels; False keeps ``(channels, samples)``.
        audio_column: column holding the audio (default: the first of ``file``, ``file_name``, ``path``, ``audio``).
        caption_column: column holding the caption; examples without one get ``caption=None``.
        on_error: what to do with a clip that cannot be decoded (missing, corrupt, NaN, empty): ``"raise"`` an
            :class:`~hf_audiogen.audio.AudioError` naming the clip, or ``"skip"`` it, logging a warning that names
            the clip and the reason. Nothing is dropped silently.
        skipped: with ``on_error="skip"``, a list that receives ``(id, reason)`` for each skipped clip. It is
            filled in the process that decodes (not inside DataLoader worker processes; the warning is logged
            there too).
        cache_dir: datasets cache folder for the metadata tables.

    Returns:
        A ``datasets.IterableDataset`` or ``datasets.Dataset`` of examples with ``audio``, ``sampling_rate``,
        ``caption``, ``id`` and the source's other columns. Shuffle with ``ds.shuffle(seed=..., buffer_size=...)``
        and call ``ds.set_epoch(epoch)`` for a new order each epoch.
    """
    if on_error not in ("raise", "skip"):
        raise InvalidInputError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if skipped is not None and on_error != "skip":
        raise InvalidInputError("skipped= collects skipped clips, so it needs on_error='skip'")
    if sampling_rate is not None:
        sampling_rate = check_sample_rate(sampling_rate)

    map_kwargs = {} if streaming else {"keep_in_memory": True}  # map-style: no cache files for decoded audio
    ds, kind, base_dir, split_column = _load_table(source, split, streaming, cache_dir)
    columns = _column_names(ds)
    if audio_column is None:
        audio_column = next((c for c in _AUDIO_COLUMNS if c in columns), None)
        if audio_column is None and kind == "webdataset":
            audio_column = next((c for c in columns if c.rsplit(".", 1)[-1].lower() in _AUDIO_EXTENSIONS), None)
        if audio_column is None:
            raise InvalidInputError(
                f"no audio column in {source}: expected one of {', '.join(_AUDIO_COLUMNS)}"
                f"{' or an audio file extension' if kind == 'webdataset' else ''}; columns are "
                f"{columns}. Pass audio_column="
            )
    elif columns and audio_column not in columns:
        raise InvalidInputError(f"audio_column={audio_column!r} is not a column of {source}; columns are {columns}")
    if split_column is not None:
        ds = ds.filter(lambda value: value == split_column, input_columns="split", **map_kwargs)

    decode = _Decoder(audio_column, caption_column, base_dir, sampling_rate, mono, on_error, skipped)
    # The raw column becomes "audio" (arrays); when it is a path column ("file") it is kept as well.
    remove = [audio_column] if audio_column in ("audio",) or kind == "webdataset" else []
    ds = ds.map(decode, with_indices=True, remove_columns=remove or None, **map_kwargs)
    if on_error == "skip":
        ds = ds.filter(lambda error: error is None, input_columns="decode_error", **map_kwargs)
    ds = ds.remove_columns(["decode_error"])
    if not streaming:
        ds = ds.with_format("numpy", columns=["audio"], output_all_columns=True)
    return ds


def _load_table(source, split, streaming, cache_dir):
    """``(dataset of undecoded rows, kind, folder audio paths are relative to, split value to filter on)``."""
    import datasets

    kwargs = {"streaming": streaming, "cache_dir": str(cache_dir) if cache_dir is not None else None}
    path = Path(source)
    if _is_url(source):  # s3://, gs://, https://, file://, memory://, ...: parquet or webdataset shards via fsspec
        files, builder = resolve_shards(source)
        return _load_shard_table(files, builder, split, source, kwargs)
    if path.is_dir():
        metadata = next((path / name for name in _METADATA_FILES if (path / name).is_file()), None)
        shards = sorted(path.rglob("*.parquet")) or sorted(path.rglob("*.tar"))
        if metadata is None and not shards:
            raise InvalidInputError(f"{source} holds no {', '.join(_METADATA_FILES)}, *.parquet or *.tar shards")
        files = [metadata] if metadata is not None else shards
    elif path.is_file():
        files = [path]
    elif any(ch in str(source) for ch in "*?[") and sorted(Path().glob(str(source))):
        files = sorted(Path().glob(str(source)))
    elif not _looks_like_hub_id(str(source)):
        raise InvalidInputError(f"audio dataset {str(source)!r} not found (no such file or folder)")
    else:
        try:
            ds = datasets.load_dataset(str(source), split=split or "train", **kwargs)
        except Exception as err:  # offline, unknown id, gated, ...: say both readings of `source` failed
            raise InvalidInputError(
                f"audio dataset {str(source)!r} is not a local file or folder and could not be loaded "
                f"from the Hub: {err}"
            ) from err
        return _undecoded(ds), ds.info.builder_name if ds.info else "hub", None, None

    suffix = files[0].suffix.lower()
    builders = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet", ".tar": "webdataset"}
    builder = builders.get(suffix)
    if builder is None:
        raise InvalidInputError(f"cannot read {files[0]}: expected metadata.jsonl/.csv, *.parquet or *.tar")
    if builder in ("parquet", "webdataset"):
        root = path if path.is_dir() else files[0].parent
        return _load_shard_table([str(f) for f in files], builder, split, source, kwargs, root=str(root))
    data_files = {"train": [str(f) for f in files]}
    ds = _undecoded(datasets.load_dataset(builder, data_files=data_files, split="train", **kwargs))
    _check_split_column(ds, split, source)
    return ds, builder, files[0].parent, split


def _check_split_column(ds, split, source) -> None:
    if split is not None and "split" not in (ds.features or {}):
        raise InvalidInputError(
            f"split={split!r} was requested but {source} has no 'split' column and no files named "
            f"after the split; use split=None to read every row"
        )


def _load_shard_table(files: list[str], builder: str, split, source, kwargs, root: str | None = None):
    """:func:`_load_table` for parquet/webdataset shards, local paths or fsspec URLs alike."""
    import datasets

    files, split_value = _files_of_split(files, split, root)
    data_files = {"train": files}
    if builder == "webdataset":
        # The webdataset builder types audio members as datasets.Audio, whose encoding needs torchcodec:
        # read the inferred schema, then load again with the audio members as plain bytes.
        probe = datasets.load_dataset("webdataset", data_files=data_files, split="train", streaming=True)
        features = datasets.Features(
            {
                name: datasets.Value("binary") if isinstance(f, datasets.Audio) else f
                for name, f in probe.features.items()
            }
        )
        ds = datasets.load_dataset("webdataset", data_files=data_files, split="train", features=features, **kwargs)
    else:
        ds = _undecoded(datasets.load_dataset(builder, data_files=data_files, split="train", **kwargs))
    _check_split_column(ds, split_value, source)
    base_dir = None if _is_url(files[0]) else Path(files[0]).parent  # relative audio paths: next to the shard
    return ds, builder, base_dir, split_value


def _files_of_split(files: list[str], split: str | None, root: str | None) -> tuple[list[str], str | None]:
    """``(shards named after split, None)`` (``train-00000.parquet``, ``train/…``), or ``(files, split)``: no shard
    is named after it, so rows are filtered on a ``split`` column instead."""
    if split is None:
        return files, None
    root = (root or "").rstrip("/")
    named = []
    for file in files:
        relative = file[len(root) :].lstrip("/") if root and file.startswith(root) else file.rsplit("/", 1)[-1]
        *folders, name = relative.split("/")
        if split in folders or name.startswith((f"{split}-", f"{split}_", f"{split}.")):
            named.append(file)
    return (named, None) if named else (files, split)


def _column_names(ds) -> list[str]:
    if ds.features is not None:
        return list(ds.features)
    # streamed csv (and some Hub datasets) declare no features: read the first row's keys
    first = next(iter(ds.take(1)), None)
    return list(first) if first is not None else []


def _looks_like_hub_id(text: str) -> bool:
    # "name" or "owner/name"; anything else that does not exist locally is a mistyped path
    parts = text.split("/")
    return len(parts) <= 2 and all(parts) and not text.startswith((".", "/", "~")) and "\\" not in text


def _undecoded(ds):
    """Keep ``datasets.Audio`` columns as ``{"bytes", "path"}`` (decoding them would need torchcodec)."""
    import datasets

    for name, feature in (ds.features or {}).items():
        if isinstance(feature, datasets.Audio) and feature.decode:
            ds = ds.cast_column(name, datasets.Audio(decode=False))
    return ds


class _Decoder:
    """The ``.map`` function: raw audio value -> float32 array at the target rate (a class so it pickles)."""

    def __init__(self, audio_column, caption_column, base_dir, sampling_rate, mono, on_error, skipped):
        self.audio_column = audio_column
        self.caption_column = caption_column
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.sampling_rate = sampling_rate
        self.mono = mono
        self.on_error = on_error
        self.skipped = skipped

    def _resolve(self, value):
        """``(what to decode, id)`` for a path string, raw bytes or an ``{"bytes", "path"}`` struct."""
        if isinstance(value, dict):
            data, path = value.get("bytes"), value.get("path")
            if data is not None:
                return data, path
            value = path
        if isinstance(value, (bytes, bytearray)):
            return bytes(value), None
        if isinstance(value, str):
            full = Path(value).expanduser()
            if not full.is_absolute() and self.base_dir is not None:
                full = self.base_dir / full
            return str(full), value
        raise AudioError(f"unsupported audio value of type {type(value).__name__} in column {self.audio_column!r}")

    def __call__(self, example, index):
        raw = example[self.audio_column]
        clip_id = example.get("__key__") or (raw if isinstance(raw, str) else None)
        out = {"decode_error": None}
        try:
            if raw is None:
                raise AudioError(f"no audio in column {self.audio_column!r}")
            data, path = self._resolve(raw)
            clip_id = clip_id or path or f"row {index}"
            audio, sr = load_audio(data, self.sampling_rate, mono="mean" if self.mono else False)
        except AudioError as err:
            clip_id = clip_id or f"row {index}"
            if self.on_error == "raise":
                raise AudioError(f"cannot use clip {clip_id}: {err}") from err
            logger.warning("skipping clip %s: %s", clip_id, err)
            if self.skipped is not None:
                self.skipped.append((clip_id, str(err)))
            out["decode_error"] = str(err)
            audio, sr = np.zeros(0, np.float32), self.sampling_rate or 0
        out.update(audio=audio, sampling_rate=int(sr), caption=_caption(example, self.caption_column), id=clip_id)
        return out


def _caption(example, caption_column):
    if example.get(caption_column) is not None:
        return example[caption_column]
    if isinstance(example.get("json"), dict) and example["json"].get("caption") is not None:
        return example["json"]["caption"]  # WebDataset: caption inside the .json member
    if isinstance(example.get("txt"), str):
        return example["txt"]  # WebDataset: caption as the .txt member
    return None


# ---------------------------------------------------------------------------------------- shards, local or remote
_SHARD_FORMATS = {".parquet": "parquet", ".tar": "webdataset"}


def _is_url(source) -> bool:
    return isinstance(source, str) and "://" in source


def resolve_shards(source: str | os.PathLike, storage_options: dict | None = None) -> tuple[list[str], str]:
    """The shard files of ``source`` and their format, ``"parquet"`` or ``"webdataset"``.

    ``source`` is a local folder, file or glob, or any fsspec URL of one (``s3://bucket/audio/``,
    ``https://host/shards/train-*.tar``, ``file:///data/shards``, ``memory://…``; ``storage_options`` go to the
    filesystem, e.g. ``{"anon": True}``). A folder is searched recursively for ``*.parquet``, else ``*.tar``.
    Files are sorted, so every process sees them in the same order; URLs stay URLs (nothing is downloaded).

    Example:
        >>> resolve_shards("s3://my-bucket/audioset/train-*.tar")  # doctest: +SKIP
        (['s3://my-bucket/audioset/train-000000.tar', ...], 'webdataset')
    """
    from fsspec.core import url_to_fs

    text = os.fspath(source)
    try:
        fs, path = url_to_fs(text, **(storage_options or {}))
        if any(ch in path for ch in "*?["):
            found = fs.glob(path)
        elif fs.isdir(path):
            found = fs.find(path)
        elif fs.isfile(path):
            found = [path]
        else:
            found = []
    except (OSError, ValueError, ImportError) as err:  # unknown protocol, missing backend (s3fs, gcsfs), refused
        raise InvalidInputError(f"cannot list shards at {text!r}: {type(err).__name__}: {err}") from err
    by_format = {fmt: sorted(f for f in found if f.lower().endswith(ext)) for ext, fmt in _SHARD_FORMATS.items()}
    fmt = "parquet" if by_format["parquet"] else "webdataset"
    if not by_format[fmt]:
        other = f" (found {', '.join(sorted({Path(f).suffix or f for f in found})[:5])})" if found else ""
        raise InvalidInputError(f"no *.parquet or *.tar shards at {text!r}{other}")
    # Local paths stay plain paths; anything else gets its protocol back (``memory:///a.tar``).
    keep = _is_url(text) and not text.startswith("file://")
    return [fs.unstrip_protocol(f) if keep else f for f in by_format[fmt]], fmt


def _parquet_rows(file, fs, skip: int):
    """Rows of one parquet shard from row ``skip`` on, reading the row groups before it only from the footer;
    returns the shard's row count."""
    import pyarrow.parquet as pq

    with fs.open(file, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        for group in range(parquet.num_row_groups):
            rows = parquet.metadata.row_group(group).num_rows
            if skip >= rows:
                skip -= rows
                continue
            yield from parquet.read_row_group(group).slice(skip).to_pylist()
            skip = 0
        return parquet.metadata.num_rows


def _webdataset_rows(file, fs, skip: int):
    """Samples of one WebDataset tar (members grouped by key, ``.json`` parsed, ``.txt`` decoded, the rest bytes)
    from sample ``skip`` on (skipped samples are read, not parsed); returns the shard's sample count."""
    import tarfile

    def value(ext, data):
        if ext == "json":
            return json.loads(data)
        return data.decode("utf-8") if ext in ("txt", "cls") else data

    with fs.open(file, "rb") as handle, tarfile.open(fileobj=handle, mode="r|*") as tar:
        sample, index = None, 0
        for member in tar:
            if not member.isfile():
                continue
            folder, _, name = member.name.rpartition("/")
            stem, _, ext = name.partition(".")
            key = f"{folder}/{stem}" if folder else stem
            if sample is not None and sample["__key__"] != key:
                if index >= skip:
                    yield sample
                index += 1
                sample = None
            if sample is None:
                sample = {"__key__": key}
            if index >= skip:  # skipped samples: only the headers matter
                sample[ext] = value(ext, tar.extractfile(member).read())
        if sample is not None and index >= skip:
            yield sample
        return index + (sample is not None)


class ShardedAudioStream(torch.utils.data.IterableDataset):
    """A training stream over parquet or WebDataset shards, local or at any fsspec URL, with an exact resume position.

    Streaming: shards are opened one at a time through fsspec (nothing is downloaded first). Each epoch the shard
    order is drawn from ``(seed, epoch)``; the rows then pass through a shuffle buffer of ``buffer_size`` raw rows,
    permuted by ``(seed, epoch, window)``, and are decoded with soundfile only after it (the buffer holds bytes, not
    float arrays). Process ``rank`` of ``world_size`` reads only the shards ``order[rank::world_size]`` of each epoch,
    so processes never read the same shard and together read every one; DataLoader workers split a process's shards
    the same way.

    Resumable: ``state_dict()`` is ``{"epoch", "examples"}`` (examples yielded in that epoch by this process), and
    after ``load_state_dict`` the next iteration yields exactly what an uninterrupted one would have yielded from
    there on. It jumps to the position without decoding anything before it: parquet shards before it are skipped
    from their footers, WebDataset shards read through (their headers, no audio decoding). (``datasets``'
    ``IterableDataset.state_dict`` drops the content of its shuffle buffer, so a run resumed through it yields other
    examples; hence this class.) With ``on_error="skip"`` the position is found by decoding from the epoch's start,
    since how many clips failed before it is not known otherwise. A position with DataLoader workers is refused.

    Examples look like :func:`load_audio_dataset`'s (``audio``, ``sampling_rate``, ``caption``, ``id`` and the
    shard's other columns); ``id`` is the WebDataset key, else an ``id``/path column, else ``shard:row``.

    Example:
        >>> stream = load_shard_stream("s3://bucket/sfx/train-*.tar", seed=0, buffer_size=1000)  # doctest: +SKIP
        >>> stream.set_epoch(0)  # doctest: +SKIP
        >>> first = [ex["id"] for _, ex in zip(range(8), stream)]  # doctest: +SKIP
        >>> stream.load_state_dict({"epoch": 0, "examples": 4})  # doctest: +SKIP
        >>> [ex["id"] for _, ex in zip(range(4), stream)] == first[4:]  # doctest: +SKIP
        True
    """

    def __init__(
        self,
        shards: Sequence[str],
        shard_format: Literal["parquet", "webdataset"],
        *,
        seed: int = 0,
        buffer_size: int = 1000,
        rank: int = 0,
        world_size: int = 1,
        split: str | None = None,
        sampling_rate: int | None = 16000,
        mono: bool = True,
        audio_column: str | None = None,
        caption_column: str = "caption",
        on_error: Literal["raise", "skip"] = "raise",
        storage_options: dict | None = None,
    ):
        if shard_format not in ("parquet", "webdataset"):
            raise InvalidInputError(f"shard_format must be 'parquet' or 'webdataset', got {shard_format!r}")
        if on_error not in ("raise", "skip"):
            raise InvalidInputError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        for name, value, low in (("buffer_size", buffer_size, 1), ("world_size", world_size, 1), ("rank", rank, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise InvalidInputError(f"{name} must be an int >= {low}, got {value!r}")
        if rank >= world_size:
            raise InvalidInputError(f"rank must be < world_size ({world_size}), got {rank}")
        if len(shards) < world_size:
            raise InvalidInputError(
                f"{len(shards)} shard(s) cannot be split across {world_size} processes: write at least one shard "
                "per process"
            )
        self.shards = list(shards)
        self.shard_format = shard_format
        self.seed, self.buffer_size, self.rank, self.world_size = int(seed), int(buffer_size), int(rank), world_size
        self.split = split
        self.audio_column, self.caption_column = audio_column, caption_column
        self.storage_options = storage_options or {}
        if sampling_rate is not None:
            sampling_rate = check_sample_rate(sampling_rate)
        self._decode = _Decoder(audio_column, caption_column, None, sampling_rate, mono, on_error, None)
        self._auto_audio = audio_column is None
        self.epoch = 0
        self._resume = 0  # examples of self.epoch the next iteration skips
        self._yielded = 0  # examples of self.epoch yielded so far (state_dict)

    # ------------------------------------------------------------------ position
    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` from its beginning (a no-op when it is already the current epoch, so that a
        position just loaded survives the ``set_epoch`` calls of a DataLoader)."""
        if int(epoch) != self.epoch:
            self.epoch, self._resume, self._yielded = int(epoch), 0, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "examples": self._yielded}

    def load_state_dict(self, state: dict) -> None:
        try:
            epoch, examples = state["epoch"], state["examples"]
        except (KeyError, TypeError) as err:
            raise InvalidInputError(f"stream state must be a dict with epoch and examples, got {state!r:.200}") from err
        for name, value in (("epoch", epoch), ("examples", examples)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise InvalidInputError(f"stream state {name} must be an int >= 0, got {value!r:.100}")
        self.epoch, self._resume, self._yielded = int(epoch), int(examples), int(examples)

    def epoch_shards(self, epoch: int | None = None) -> list[str]:
        """The shards this process reads in ``epoch`` (default: the current one), in reading order."""
        epoch = self.epoch if epoch is None else epoch
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.shards))
        return [self.shards[i] for i in order[self.rank :: self.world_size]]

    # ------------------------------------------------------------------ reading
    def _raw_rows(self, shards: list[str], skip: int):
        """``(shard, row index, row)`` of ``shards`` in order, from the ``skip``-th row on."""
        from fsspec.core import url_to_fs

        read = _parquet_rows if self.shard_format == "parquet" else _webdataset_rows
        for shard in shards:
            fs, path = url_to_fs(shard, **self.storage_options)
            rows, index = read(path, fs, skip), skip
            while True:
                try:
                    row = next(rows)
                except StopIteration as stop:  # the reader returns the shard's row count
                    skip = max(0, skip - stop.value)
                    break
                yield shard, index, row
                index += 1

    def _check_row(self, shard: str, row: dict) -> None:
        columns = [c for c in row if c != "__key__"]
        if self._decode.audio_column is None:
            audio = next((c for c in _AUDIO_COLUMNS if c in columns), None)
            if audio is None and self.shard_format == "webdataset":
                audio = next((c for c in columns if c.lower() in _AUDIO_EXTENSIONS), None)
            if audio is None:
                raise InvalidInputError(
                    f"shard {shard} has no audio column: expected one of {', '.join(_AUDIO_COLUMNS)}"
                    f"{' or an audio file extension' if self.shard_format == 'webdataset' else ''}; its columns "
                    f"are {columns}. Pass audio_column="
                )
            self._decode.audio_column = audio
        if self.split is not None and "split" not in columns:
            raise InvalidInputError(
                f"split={self.split!r} was requested but shard {shard} has no 'split' column and no shard is named "
                "after the split; use split=None to read every row"
            )
        if self._decode.audio_column not in columns:
            raise InvalidInputError(
                f"shard {shard} has no column {self._decode.audio_column!r}; its columns are {columns}"
            )

    def _example(self, shard: str, index: int, row: dict) -> dict:
        if self._auto_audio and self.shard_format == "webdataset" and self._decode.audio_column not in row:
            # WebDataset samples may mix extensions (.flac here, .wav there): take this sample's audio member
            self._decode.audio_column = next((c for c in row if c.lower() in _AUDIO_EXTENSIONS), "flac")
        audio_column = self._decode.audio_column
        row.setdefault(audio_column, None)  # a sample without it: "no audio" (raised or skipped, as on_error says)
        if "__key__" not in row:  # parquet: an id column, else the clip's path, else the row's place
            raw = row.get(audio_column)
            path = raw.get("path") if isinstance(raw, dict) else raw if isinstance(raw, str) else None
            row["__key__"] = row.get("id") or path or f"{shard.rsplit('/', 1)[-1]}:{index}"
        self._decode.base_dir = None if _is_url(shard) else Path(shard).parent  # relative paths: next to the shard
        out = self._decode(row, index)
        keep_path = (
            self.shard_format == "parquet" and isinstance(row.get(audio_column), str) and audio_column != "audio"
        )
        example = {k: v for k, v in row.items() if k != "__key__" and (keep_path or k != audio_column)}
        example.update(out)
        return example

    def __iter__(self):
        shards = self.epoch_shards()
        worker = torch.utils.data.get_worker_info()
        if worker is not None:
            if self._resume:
                raise InvalidInputError(
                    "a ShardedAudioStream position can only be restored with num_workers=0 (each worker reads "
                    "its own shards, so the position of each is not known)"
                )
            shards = shards[worker.id :: worker.num_workers]
        # Skipped clips and split filtering make rows and examples differ: then the position is found by replay.
        cheap = self._decode.on_error == "raise" and self.split is None
        start = self._resume if cheap else 0
        to_drop = 0 if cheap else self._resume
        self._yielded, self._resume = self._resume, 0
        window = start // self.buffer_size
        rows = self._raw_rows(shards, window * self.buffer_size)
        offset = start - window * self.buffer_size
        checked = set()
        while True:
            buffer = list(itertools.islice(rows, self.buffer_size))
            if not buffer:
                return
            order = np.random.default_rng([self.seed, self.epoch, self.rank, window]).permutation(len(buffer))
            for i in order[offset:]:
                shard, index, row = buffer[i]
                if shard not in checked:
                    self._check_row(shard, row)
                    checked.add(shard)
                if self.split is not None and row.get("split", self.split) != self.split:
                    continue
                example = self._example(shard, index, row)
                if example.pop("decode_error") is not None:
                    continue
                if to_drop:
                    to_drop -= 1
                    continue
                if worker is None:
                    self._yielded += 1
                yield example
            window, offset = window + 1, 0


def load_shard_stream(
    source: str | os.PathLike,
    *,
    seed: int = 0,
    buffer_size: int = 1000,
    rank: int = 0,
    world_size: int = 1,
    split: str | None = None,
    storage_options: dict | None = None,
    **decode_options,
) -> ShardedAudioStream:
    """A :class:`ShardedAudioStream` over the parquet or WebDataset shards at ``source`` (a local folder, file or
    glob, or any fsspec URL; see :func:`resolve_shards`).

    ``split`` keeps the shards named after it (``train-00000.parquet``, ``train/…``) or, when none is, the rows whose
    ``split`` column equals it. ``decode_options`` (``sampling_rate``, ``mono``, ``audio_column``,
    ``caption_column``, ``on_error``) are :func:`load_audio_dataset`'s.

    Example:
        >>> from torch.utils.data import DataLoader
        >>> stream = load_shard_stream("gs://bucket/sfx/", seed=0, buffer_size=256, split="train")  # doctest: +SKIP
        >>> loader = DataLoader(stream, batch_size=8, collate_fn=AudioCollator(max_samples=16000))  # doctest: +SKIP
    """
    files, shard_format = resolve_shards(source, storage_options)
    root = None if _is_url(os.fspath(source)) else os.fspath(source)
    files, split_value = _files_of_split(files, split, root if root and Path(root).is_dir() else None)
    return ShardedAudioStream(
        files,
        shard_format,
        seed=seed,
        buffer_size=buffer_size,
        rank=rank,
        world_size=world_size,
        split=split_value,
        storage_options=storage_options,
        **decode_options,
    )


# ---------------------------------------------------------------------------------------- crops and batches
def random_crop(audio: np.ndarray, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """A random window of ``num_samples`` along the last axis; shorter audio is returned whole (pad it later)."""
    if num_samples <= 0:
        raise InvalidInputError(f"num_samples must be positive, got {num_samples}")
    length = audio.shape[-1]
    if length <= num_samples:
        return audio
    start = int(rng.integers(0, length - num_samples + 1))
    return audio[..., start : start + num_samples]


class RandomSegment:
    """Crop each example's ``audio`` to at most ``num_samples``: a random window, or the start with ``random=False``.

    The window depends only on ``(seed, epoch, example id)``, so it is the same whatever the order, batch size or
    number of DataLoader workers; call :meth:`set_epoch` (next to ``dataset.set_epoch``) for new windows each epoch.
    Use it as ``dataset.map(RandomSegment(...))`` or pass it to :class:`AudioCollator`.

    Example:
        >>> segment = RandomSegment(4, seed=0)
        >>> segment({"audio": np.arange(10, dtype=np.float32), "id": "a.flac"})["audio"].shape
        (4,)
    """

    def __init__(self, num_samples: int, seed: int = 0, random: bool = True):
        if not isinstance(num_samples, (int, np.integer)) or isinstance(num_samples, bool) or num_samples <= 0:
            raise InvalidInputError(f"num_samples must be a positive integer, got {num_samples!r}")
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.random = random
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __call__(self, example: dict) -> dict:
        audio = np.asarray(example["audio"])
        if self.random:
            key = zlib.crc32(str(example.get("id", "")).encode("utf-8"))  # stable across processes, unlike hash()
            rng = np.random.default_rng([self.seed, self.epoch, key])
            audio = random_crop(audio, self.num_samples, rng)
        else:
            audio = audio[..., : self.num_samples]
        return {**example, "audio": audio}


class AudioCollator:
    """Collate examples into ``{"audio": (B, [C,] T) float32, "padding_mask": (B, T) long, "lengths", ...}``.

    ``padding_mask`` is 1 on real samples and 0 on padding (the transformers EnCodec convention). Clips are cropped
    with :class:`RandomSegment` when ``max_samples`` is set, then right-padded with zeros to the longest clip in the
    batch, or to ``max_samples`` with ``pad_to_max=True`` (fixed-shape batches). Captions and ids are kept as lists.
    All clips of a batch must share a sampling rate. (transformers' ``SequenceFeatureExtractor.pad`` needs a
    model's feature extractor; this collator is model-agnostic and also crops.)

    Example:
        >>> collate = AudioCollator(max_samples=4, seed=0)
        >>> batch = collate([{"audio": np.ones(6, np.float32), "sampling_rate": 16000, "caption": "x", "id": "a"},
        ...                  {"audio": np.ones(2, np.float32), "sampling_rate": 16000, "caption": "y", "id": "b"}])
        >>> batch["audio"].shape, batch["padding_mask"].tolist()
        (torch.Size([2, 4]), [[1, 1, 1, 1], [1, 1, 0, 0]])
    """

    def __init__(
        self, max_samples: int | None = None, seed: int = 0, random_crop: bool = True, pad_to_max: bool = False
    ):
        if pad_to_max and max_samples is None:
            raise InvalidInputError("pad_to_max=True needs max_samples")
        self.segment = RandomSegment(max_samples, seed, random_crop) if max_samples is not None else None
        self.max_samples = max_samples
        self.pad_to_max = pad_to_max

    def set_epoch(self, epoch: int) -> None:
        if self.segment is not None:
            self.segment.set_epoch(epoch)

    def __call__(self, examples: Sequence[dict]) -> dict:
        if not examples:
            raise InvalidInputError("cannot collate an empty list of examples")
        if self.segment is not None:
            examples = [self.segment(example) for example in examples]
        audios = [np.asarray(example["audio"], dtype=np.float32) for example in examples]
        rates = {int(example["sampling_rate"]) for example in examples}
        if len(rates) != 1:
            raise InvalidInputError(
                f"a batch mixes sampling rates {sorted(rates)}; load the dataset with sampling_rate="
            )
        shapes = {audio.shape[:-1] for audio in audios}
        if len(shapes) != 1:
            raise InvalidInputError(f"a batch mixes channel layouts {sorted(shapes)}; load the dataset with mono=True")
        lengths = [audio.shape[-1] for audio in audios]
        total = self.max_samples if self.pad_to_max else max(lengths)
        batch = np.zeros((len(audios), *shapes.pop(), total), dtype=np.float32)
        mask = np.zeros((len(audios), total), dtype=np.int64)
        for i, (audio, length) in enumerate(zip(audios, lengths)):
            batch[i, ..., :length] = audio
            mask[i, :length] = 1
        return {
            "audio": torch.from_numpy(batch),
            "padding_mask": torch.from_numpy(mask),
            "lengths": torch.tensor(lengths),
            "sampling_rate": rates.pop(),
            "caption": [example.get("caption") for example in examples],
            "id": [example.get("id") for example in examples],
        }
