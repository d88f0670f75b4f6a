"""Data side of AudioGen training: batches of text + audio (or text + codec codes), code shards, unigram baseline.

The language model learns on codec codes. They come either

* **on the fly** — :class:`TextAudioCollator` crops clips from :func:`hf_audiogen.data.streams.load_audio_dataset`,
  optionally mixes pairs (AudioGen §4.1), pads them and tokenizes the captions; the training step then encodes the
  audio with the frozen codec; or
* **pre-tokenised** — :func:`tokenize_audio_files` / :func:`tokenize_audio_dataset` encode a dataset once into
  parquet shards (``id``, ``caption``, ``codes``), :func:`load_token_shards` streams them back and
  :class:`TextCodesCollator` crops and pads the codes. Codec work is then paid once instead of every epoch; mixing
  needs audio, so it is on-the-fly only. Tokenisation is a resumable batch job
  (:class:`~hf_audiogen.data.pipelines.BatchJob`), run in-process or on Ray Data (``engine="ray"``).

Both collators give ``input_ids`` / ``attention_mask`` (+ ``token_type_ids`` for BERT-like encoders) and either
``input_values`` / ``padding_mask`` (audio) or ``labels`` (codes, ``-100`` on padding). Every random choice (crop
window, mixing partners) is a function of ``(seed, epoch, clip ids)``, never of a global RNG, so a resumed run replays
exactly the batches of an uninterrupted one.

:class:`CodeUnigram` counts the codes seen in training; its held-out negative log-likelihood is the baseline the
language model's NLL must beat (a model that ignores context and text does no better than the unigram).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.mixing import MixingAugmentation
from ..data.streams import AudioCollator, RandomSegment
from ..validation import InvalidInputError

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
SHARD_INFO_NAME = "tokenization.json"
TEXT_KEYS = ("input_ids", "attention_mask", "token_type_ids")


def _stable_rng(seed: int, epoch: int, ids: Iterable) -> np.random.Generator:
    """A generator determined by ``(seed, epoch, ids)`` (crc32: stable across processes, unlike ``hash``)."""
    key = zlib.crc32("\x00".join(str(i) for i in ids).encode("utf-8"))
    return np.random.default_rng([int(seed), int(epoch), key])


def _tokenize(processor, captions: Sequence[str]) -> dict[str, torch.Tensor]:
    tokens = processor(
        text=list(captions), return_tensors="pt", padding=True, truncation=True, max_length=_max_text_tokens(processor)
    )
    return {key: tokens[key] for key in TEXT_KEYS if key in tokens}


def _max_text_tokens(processor) -> int | None:
    """The tokenizer's own limit, if it has a real one (long captions are truncated in training)."""
    limit = getattr(processor.tokenizer, "model_max_length", None)
    return int(limit) if limit is not None and limit < 1_000_000 else None


def _captions(examples: Sequence[dict], caption_column: str) -> list[str]:
    captions = []
    for example in examples:
        caption = example.get(caption_column)
        if caption is not None and not isinstance(caption, str):
            raise InvalidInputError(f"caption of clip {example.get('id')!r} must be a string, got {caption!r}")
        captions.append(caption or "")  # no caption = an unconditional example
    return captions


# ----------------------------------------------------------------------------------------------------------------------
# On-the-fly batches: audio + text
# ----------------------------------------------------------------------------------------------------------------------
class TextAudioCollator:
    """Examples ``{"audio": (samples,), "sampling_rate", "caption", "id"}`` -> a model batch with audio.

    Each clip is cropped to ``max_samples`` (a random window, or its start with ``random_crop=False``); with
    ``mixing`` set, pairs of the batch are mixed and their captions joined; clips are right-padded; captions are
    tokenized with ``processor`` (a missing caption is ``""``, which the processor marks as "no text").

    Returns ``{"input_ids", "attention_mask", ["token_type_ids"], "input_values": (B, 1, T), "padding_mask": (B, T),
    "captions": list[str]}``.

    Example:
        >>> collate = TextAudioCollator(processor, max_samples=16000, seed=0)  # doctest: +SKIP
        >>> batch = collate([{"audio": clip, "sampling_rate": 16000, "caption": "a dog barks", "id": "dog.flac"}])  # doctest: +SKIP
    """

    def __init__(
        self,
        processor,
        max_samples: int | None = None,
        seed: int = 0,
        random_crop: bool = True,
        mixing: MixingAugmentation | None = None,
        caption_column: str = "caption",
    ):
        self.processor = processor
        self.segment = RandomSegment(max_samples, seed, random_crop) if max_samples is not None else None
        self.pad = AudioCollator()
        self.mixing = mixing
        self.seed = seed
        self.epoch = 0
        self.caption_column = caption_column

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if self.segment is not None:
            self.segment.set_epoch(epoch)

    def __call__(self, examples: Sequence[dict]) -> dict:
        if not examples:
            raise InvalidInputError("cannot collate an empty list of examples")
        expected_rate = self.processor.sampling_rate
        for example in examples:
            if int(example["sampling_rate"]) != expected_rate:
                raise InvalidInputError(
                    f"clip {example.get('id')!r} is at {example['sampling_rate']} Hz but the codec needs "
                    f"{expected_rate} Hz: load the dataset with sampling_rate={expected_rate}"
                )
        if self.segment is not None:
            examples = [self.segment(example) for example in examples]
        captions = _captions(examples, self.caption_column)
        audios = [np.asarray(example["audio"], dtype=np.float32) for example in examples]
        if self.mixing is not None:
            rng = _stable_rng(self.seed, self.epoch, [example.get("id") for example in examples])
            audios, captions, _ = self.mixing.mix_batch(audios, captions, rng=rng)
        padded = self.pad([{"audio": a, "sampling_rate": expected_rate} for a in audios])
        return {
            **_tokenize(self.processor, captions),
            "input_values": padded["audio"][:, None, :],
            "padding_mask": padded["padding_mask"],
            "captions": captions,
        }


# ----------------------------------------------------------------------------------------------------------------------
# Pre-tokenised batches: codes + text
# ----------------------------------------------------------------------------------------------------------------------
class TextCodesCollator:
    """Examples ``{"codes": K x T nested lists, "caption", "id"}`` (from :func:`load_token_shards`) -> a model batch.

    Codes are cropped to ``max_frames`` (a window chosen by ``(seed, epoch, id)``, or the start with
    ``random_crop=False``) and right-padded with ``-100``. Returns ``{"input_ids", "attention_mask",
    ["token_type_ids"], "labels": (B, K, T), "captions"}``.
    """

    def __init__(
        self,
        processor,
        max_frames: int | None = None,
        seed: int = 0,
        random_crop: bool = True,
        caption_column: str = "caption",
    ):
        if max_frames is not None and max_frames < 1:
            raise InvalidInputError(f"max_frames must be >= 1, got {max_frames}")
        self.processor = processor
        self.max_frames = max_frames
        self.seed = seed
        self.random_crop = random_crop
        self.epoch = 0
        self.caption_column = caption_column

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _crop(self, codes: np.ndarray, clip_id) -> np.ndarray:
        length = codes.shape[-1]
        if self.max_frames is None or length <= self.max_frames:
            return codes
        start = 0
        if self.random_crop:
            start = int(_stable_rng(self.seed, self.epoch, [clip_id]).integers(0, length - self.max_frames + 1))
        return codes[:, start : start + self.max_frames]

    def __call__(self, examples: Sequence[dict]) -> dict:
        if not examples:
            raise InvalidInputError("cannot collate an empty list of examples")
        codes = []
        for example in examples:
            array = np.asarray(example["codes"], dtype=np.int64)
            if array.ndim != 2 or array.shape[-1] == 0:
                raise InvalidInputError(
                    f"codes of clip {example.get('id')!r} must be (num_codebooks, frames), got {array.shape}"
                )
            codes.append(self._crop(array, example.get("id")))
        if len({c.shape[0] for c in codes}) != 1:
            raise InvalidInputError(f"a batch mixes numbers of codebooks: {sorted({c.shape[0] for c in codes})}")
        labels = torch.full((len(codes), codes[0].shape[0], max(c.shape[-1] for c in codes)), IGNORE_INDEX)
        for i, c in enumerate(codes):
            labels[i, :, : c.shape[-1]] = torch.from_numpy(c)
        captions = _captions(examples, self.caption_column)
        return {**_tokenize(self.processor, captions), "labels": labels, "captions": captions}


# ----------------------------------------------------------------------------------------------------------------------
# Pre-tokenisation: a batch job (hf_audiogen.data.pipelines.BatchJob), in-process or on Ray Data
# ----------------------------------------------------------------------------------------------------------------------
TOKENIZE_JOB = "tokenize_audio"
TOKENIZE_JOB_VERSION = 1
BATCH_JOB_FOLDER = "batch_job"  # OUTPUT_DIR/batch_job/<split>/: the job's resumable state (codes in safetensors)


class CodecInput:
    """CPU stage for files: ``{"file", "id", "caption"}`` → the clip decoded at the codec's rate, mono, cut to its
    first ``max_samples``."""

    def __init__(self, sampling_rate: int, max_samples: int | None = None):
        self.sampling_rate, self.max_samples = sampling_rate, max_samples

    def __call__(self, source: dict) -> dict:
        from ..audio import load_audio

        audio, _ = load_audio(source["file"], self.sampling_rate, mono="mean")
        return {"audio": audio[: self.max_samples], "id": source["id"], "caption": source.get("caption")}


class StoredAudio:
    """CPU stage for examples already decoded in memory (a ``datasets`` split, a list of dicts): position → clip."""

    def __init__(self, clips: Sequence[dict]):
        self.clips = clips

    def __call__(self, source: dict) -> dict:
        return self.clips[source["index"]]


class CodecStage:
    """Model stage: clips → their codec codes, encoded in one padded batch and cut at each clip's last real frame
    (``int16``, ``(num_codebooks, num_frames)``)."""

    def __init__(self, codec):
        self.codec = codec.eval()

    # Sent to Ray workers as class, config and weights: torch does not pickle weight-normed (parametrized) modules.
    def __getstate__(self) -> dict:
        return {"class": type(self.codec), "config": self.codec.config, "weights": self.codec.state_dict()}

    def __setstate__(self, state: dict) -> None:
        codec = state["class"](state["config"])
        codec.load_state_dict(state["weights"])
        self.codec = codec.eval()

    def to(self, device) -> CodecStage:
        """Move the codec (a Ray actor given a GPU calls this)."""
        self.codec.to(device)
        return self

    @torch.no_grad()
    def __call__(self, clips: list[dict]) -> list[dict]:
        config = self.codec.config
        device = next(self.codec.parameters()).device
        padded = AudioCollator()([{"audio": clip["audio"], "sampling_rate": config.sampling_rate} for clip in clips])
        codes = self.codec.encode(
            padded["audio"][:, None, :].to(device), padding_mask=padded["padding_mask"].to(device)
        )
        outputs = []
        for clip, clip_codes in zip(clips, codes.cpu().numpy()):
            frames = math.ceil(len(clip["audio"]) / config.hop_length)
            caption = clip.get("caption")
            outputs.append(
                {
                    "id": str(clip["id"]),
                    "caption": caption if caption is None or isinstance(caption, str) else str(caption),
                    "codes": clip_codes[:, :frames].astype(np.int16),
                    "num_frames": frames,
                }
            )
        return outputs


def codec_fingerprint(codec) -> str:
    """sha256 of the codec's weights: two codecs of one layout give other codes, and must not share a resumed job."""
    digest = hashlib.sha256()
    for name, tensor in sorted(codec.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def tokenize_audio_dataset(
    dataset: Iterable[dict],
    codec,
    output_dir: str | os.PathLike,
    split: str,
    *,
    batch_size: int = 8,
    max_seconds: float | None = None,
    shard_size: int = 1000,
    caption_column: str = "caption",
    codec_name: str | None = None,
    progress: bool = True,
    engine="local",
) -> dict:
    """Encode every clip of ``dataset`` (decoded examples: ``audio``, ``sampling_rate``, ``id``, caption) with
    ``codec`` and write parquet shards ``OUTPUT_DIR/<split>-NNNNN.parquet``.

    The clips are held in memory (cut to ``max_seconds``) while the job runs; for a corpus larger than memory give
    files to :func:`tokenize_audio_files`, which decodes them in the job's CPU stage. See that function for the
    output, the resuming and ``engine``.
    """
    config = codec.config
    max_samples = None if max_seconds is None else int(max_seconds * config.sampling_rate)
    clips, items = [], []
    for example in tqdm(dataset, desc=f"read {split}", unit="clip", disable=not progress):
        if int(example["sampling_rate"]) != config.sampling_rate:
            raise InvalidInputError(
                f"clip {example.get('id')!r} is at {example['sampling_rate']} Hz, the codec at "
                f"{config.sampling_rate} Hz: load the dataset with sampling_rate={config.sampling_rate}"
            )
        audio = np.asarray(example["audio"], dtype=np.float32)[:max_samples]
        caption = example.get(caption_column)
        clips.append({"audio": audio, "id": str(example.get("id")), "caption": caption})
        # The audio's hash makes the item list (and so a resumed job) depend on the clips, not only on their order.
        source = {"index": len(items), "id": str(example.get("id")), "caption": caption}
        items.append((f"{len(items):09d}", {**source, "sha256": hashlib.sha256(audio.tobytes()).hexdigest()}))
    return _run_tokenize_job(
        items,
        StoredAudio(clips),
        codec,
        output_dir,
        split,
        batch_size=batch_size,
        max_seconds=max_seconds,
        shard_size=shard_size,
        codec_name=codec_name,
        progress=progress,
        engine=engine,
        reader="examples",
    )


def tokenize_audio_files(
    clips: Sequence[tuple[str, str | os.PathLike, str | None]],
    codec,
    output_dir: str | os.PathLike,
    split: str,
    *,
    batch_size: int = 8,
    max_seconds: float | None = None,
    shard_size: int = 1000,
    codec_name: str | None = None,
    progress: bool = True,
    engine="local",
) -> dict:
    """Encode audio files, ``(clip id, path, caption)`` triples, with ``codec`` into parquet shards
    ``OUTPUT_DIR/<split>-NNNNN.parquet``: a batch job (:class:`~hf_audiogen.data.pipelines.BatchJob`) whose CPU stage
    decodes each file at the codec's rate (:class:`CodecInput`) and whose model stage encodes padded batches of
    ``batch_size`` (:class:`CodecStage`).

    Rows: ``id`` (str), ``caption`` (str or null), ``codes`` (K lists of ``num_frames`` int16), ``num_frames``; one
    parquet file per job shard of ``shard_size`` clips (fewer when clips failed; none when all did).
    ``OUTPUT_DIR/tokenization.json`` records the codec (so training can refuse shards of another codec) and per split
    ``clips``, ``frames``, ``shards``, ``max_seconds`` and ``failed`` (clip id, reason: files that could not be read).

    The job's state, ``OUTPUT_DIR/batch_job/<split>/`` (the codes as the batch job's safetensors shards), makes a
    rerun resume: complete shards are kept, the rest computed. A rerun with another codec, clip list, ``max_seconds``,
    ``batch_size`` or ``shard_size`` replaces the split. ``engine``: ``"local"`` (this process), ``"ray"`` or a
    ``RayEngine`` (decoding on CPU workers, the codec in an actor pool; the same files).

    Returns the split's entry of ``tokenization.json``.
    """
    items = []
    for position, (clip_id, path, caption) in enumerate(clips):
        source = {"index": position, "id": str(clip_id), "caption": caption, "file": os.fspath(path)}
        items.append((f"{position:09d}", source))
    max_samples = None if max_seconds is None else int(max_seconds * codec.config.sampling_rate)
    return _run_tokenize_job(
        items,
        CodecInput(codec.config.sampling_rate, max_samples),
        codec,
        output_dir,
        split,
        batch_size=batch_size,
        max_seconds=max_seconds,
        shard_size=shard_size,
        codec_name=codec_name,
        progress=progress,
        engine=engine,
        reader="files: hf_audiogen.audio.load_audio(mono='mean')",
    )


def _run_tokenize_job(
    items,
    read_decode,
    codec,
    output_dir,
    split,
    *,
    batch_size,
    max_seconds,
    shard_size,
    codec_name,
    progress,
    engine,
    reader,
) -> dict:
    import shutil

    from ..data.pipelines.batch_job import BatchJob, load_results, prepare_output, read_complete_shard, read_shard

    if batch_size < 1 or shard_size < 1:
        raise InvalidInputError(f"batch_size and shard_size must be >= 1, got {batch_size} and {shard_size}")
    if not split or "/" in split or os.sep in split:
        raise InvalidInputError(f"split must be a plain name like 'train', got {split!r}")
    if not items:
        raise InvalidInputError(f"the {split!r} split yielded no clip to tokenize")
    config = codec.config
    if config.codebook_size > np.iinfo(np.int16).max:
        raise InvalidInputError(f"codebook_size {config.codebook_size} does not fit the int16 code column")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    info_path = output_dir / SHARD_INFO_NAME
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    codec_info = codec_summary(config, codec_name)
    if info.get("codec") not in (None, codec_info):
        raise InvalidInputError(
            f"{output_dir} already holds shards of another codec ({info['codec']}); use a new folder"
        )
    fingerprint = {
        "job": TOKENIZE_JOB,
        "version": TOKENIZE_JOB_VERSION,
        "codec": codec_info,
        "codec_sha256": codec_fingerprint(codec),
        "max_seconds": max_seconds,
        "batch_size": batch_size,  # clips are padded to their batch's longest
        "reader": reader,
    }
    state = output_dir / BATCH_JOB_FOLDER / split
    try:
        plan = prepare_output(state, fingerprint, items, shard_size)
    except InvalidInputError:
        if not state.exists():
            raise
        logger.warning("%s holds another tokenisation of split %r: replacing it", output_dir, split)
        shutil.rmtree(state)
        for stale in output_dir.glob(f"{split}-*.parquet"):
            stale.unlink()
        plan = prepare_output(state, fingerprint, items, shard_size)
    job = BatchJob(read_decode, CodecStage(codec), fingerprint, batch_size=batch_size, shard_size=shard_size)
    job.run(
        items,
        state,
        process_index=0,
        num_processes=1,
        progress=progress,
        description=f"tokenize {split}",
        engine=engine,
    )

    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("id", pa.string()),
            ("caption", pa.string()),
            ("codes", pa.list_(pa.list_(pa.int16()))),
            ("num_frames", pa.int32()),
        ]
    )
    shards = []
    for shard in range(plan.num_shards):
        sidecar = read_complete_shard(state, plan.job_hash, shard)
        results = read_shard(state, sidecar)
        if not results:
            continue  # every clip of the shard failed
        name = f"{split}-{shard:05d}.parquet"
        shards.append(name)
        if (output_dir / name).is_file():
            continue  # exported by an earlier run of this job
        rows = [
            {**{key: fields[key] for key in ("id", "caption", "num_frames")}, "codes": fields["codes"].tolist()}
            for _, fields in sorted(results.items())
        ]
        tmp = output_dir / f".{name}.{os.getpid()}.tmp"
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
        os.replace(tmp, output_dir / name)
    for stale in output_dir.glob(f"{split}-*.parquet"):  # shards of an earlier tokenisation of this split
        if stale.name not in shards:
            stale.unlink()
    done = load_results(state)
    if not done.results:
        raise InvalidInputError(f"none of the {len(items)} clips of the {split!r} split could be tokenized")
    ids = {item_id: source["id"] for item_id, source in items}
    stats = {
        "clips": len(done.results),
        "frames": int(sum(fields["num_frames"] for fields in done.results.values())),
        "shards": shards,
        "max_seconds": max_seconds,
        "failed": [[ids[item_id], reason] for item_id, reason in done.failed],
    }
    if done.failed:
        logger.warning(
            "%d of %d clips of %r could not be tokenized: first %s",
            len(done.failed),
            len(items),
            split,
            stats["failed"][0],
        )
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    info["codec"] = codec_info
    info.setdefault("splits", {})[split] = stats
    tmp = info_path.with_name(f".{info_path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info, indent=2))
    os.replace(tmp, info_path)
    return stats


def codec_summary(config, name: str | None = None) -> dict:
    """What must match between token shards and a model: the code layout and rates (and a name, for people)."""
    return {
        "name": name,
        "num_codebooks": config.num_quantizers,
        "codebook_size": config.codebook_size,
        "frame_rate": config.frame_rate,
        "sampling_rate": config.sampling_rate,
    }


def read_shard_info(folder: str | os.PathLike) -> dict:
    path = Path(folder) / SHARD_INFO_NAME
    if not path.is_file():
        raise InvalidInputError(
            f"{folder} is not a token-shard folder (no {SHARD_INFO_NAME}); write one with "
            "training_scripts/tokenize_audiogen_dataset.py"
        )
    return json.loads(path.read_text())


def check_shards_match_codec(info: dict, codec_config) -> None:
    """Refuse shards written by a codec with another code layout than the model's."""
    expected = codec_summary(codec_config)
    found = info["codec"]
    wrong = {k: (found.get(k), v) for k, v in expected.items() if k != "name" and found.get(k) != v}
    if wrong:
        details = ", ".join(f"{k}: shards {a} vs model {b}" for k, (a, b) in wrong.items())
        raise InvalidInputError(
            f"the token shards were written by another codec ({details}); re-tokenize with this model's codec"
        )


IN_MEMORY_SHARD_BYTES = 1 << 30  # token shards up to 1 GiB (hundreds of hours of codes) are iterated from memory


def load_token_shards(folder: str | os.PathLike, split: str, streaming: bool = True):
    """The rows of ``folder/<split>-*.parquet`` as a ``datasets`` (iterable) dataset."""
    import datasets

    info = read_shard_info(folder)
    if split not in info.get("splits", {}):
        raise InvalidInputError(f"{folder} has no {split!r} split; it has {sorted(info.get('splits', {}))}")
    files = [str(Path(folder) / name) for name in info["splits"][split]["shards"]]
    if streaming and sum(os.path.getsize(file) for file in files) <= IN_MEMORY_SHARD_BYTES:
        # Small splits are read whole and iterated from memory: datasets' streaming parquet reader sleeps 5 s at the
        # end of every pass (a workaround for an Arrow thread-shutdown bug), which on a small corpus, where a pass
        # takes a few steps, would make training mostly sleep.
        table = datasets.load_dataset("parquet", data_files={split: files}, split=split)
        return table.to_iterable_dataset(num_shards=min(len(files), len(table)) or 1)
    return datasets.load_dataset("parquet", data_files={split: files}, split=split, streaming=streaming)


# ----------------------------------------------------------------------------------------------------------------------
# Unigram baseline
# ----------------------------------------------------------------------------------------------------------------------
class CodeUnigram:
    """Per-codebook unigram model of codec codes, counted from training labels (add-one smoothed).

    Its held-out NLL (nats per code) is what a language model that ignores both the text and the past would reach;
    a uniform guess is ``log(codebook_size)``. Registered for checkpointing, so counts survive a resume.

    Example:
        >>> unigram = CodeUnigram(num_codebooks=1, codebook_size=4)
        >>> unigram.update(torch.tensor([[[0, 0, 0, 1]]]))
        >>> round(unigram.nll(torch.tensor([[[0, 0]]]))[0] / 2, 3)  # -log(4/8) with add-one smoothing
        0.693
    """

    def __init__(self, num_codebooks: int, codebook_size: int):
        self.counts = torch.zeros(num_codebooks, codebook_size, dtype=torch.float64)

    def update(self, labels: torch.Tensor) -> None:
        """Count the codes of ``labels`` (B, K, T); ``-100`` positions are skipped."""
        labels = labels.detach().cpu()
        for q in range(self.counts.shape[0]):
            values = labels[:, q][labels[:, q] != IGNORE_INDEX]
            self.counts[q] += torch.bincount(values, minlength=self.counts.shape[1]).to(torch.float64)

    def log_probs(self) -> torch.Tensor:
        smoothed = self.counts + 1.0
        return (smoothed / smoothed.sum(dim=-1, keepdim=True)).log()

    def nll(self, labels: torch.Tensor, valid: torch.Tensor | None = None) -> tuple[float, int]:
        """``(total negative log-likelihood in nats, number of codes)`` of ``labels`` (B, K, T) under the unigram.

        ``valid`` (B, K, T) restricts it to the positions a language model is scored on."""
        labels = labels.detach().cpu()
        mask = labels != IGNORE_INDEX
        if valid is not None:
            mask &= valid.detach().cpu().bool()
        log_probs = self.log_probs()
        total = 0.0
        for q in range(log_probs.shape[0]):
            total -= float(log_probs[q][labels[:, q][mask[:, q]]].sum())
        return total, int(mask.sum())

    def state_dict(self) -> dict:
        return {"counts": self.counts.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.counts = state["counts"].clone().to(torch.float64)


__all__ = [
    "CodeUnigram",
    "TextAudioCollator",
    "TextCodesCollator",
    "check_shards_match_codec",
    "codec_summary",
    "load_token_shards",
    "read_shard_info",
    "tokenize_audio_dataset",
    "tokenize_audio_files",
]
