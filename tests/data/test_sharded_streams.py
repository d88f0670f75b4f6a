"""Tests for hf_audiogen.data.streams' shard streams: parquet and WebDataset shards from a folder or an fsspec URL,
seeded shuffling, the split across processes, the exact resume position and the errors."""

import functools
import http.server
import io
import json
import tarfile
import threading
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import torch

from hf_audiogen.data.streams import ShardedAudioStream, load_audio_dataset, load_shard_stream, resolve_shards
from hf_audiogen.validation import InvalidInputError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "audio"
CLIPS = sorted(p.name for p in FIXTURES.glob("*.flac"))
CAPTIONS = {
    row["file"]: row["caption"] for row in map(json.loads, (FIXTURES / "metadata.jsonl").read_text().splitlines())
}


def clip_bytes(name: str, start: int = 0, seconds: float = 0.05) -> bytes:
    """A short FLAC cut from a fixture clip (clips are many and small, so that shuffles have something to move)."""
    audio, sr = sf.read(FIXTURES / name, dtype="float32")
    out = io.BytesIO()
    sf.write(out, audio[start : start + int(seconds * sr)], sr, format="FLAC")
    return out.getvalue()


def items(count: int) -> list[tuple[str, bytes, str]]:
    """``count`` (id, flac bytes, caption) made from the fixture clips."""
    return [
        (f"clip{i:03d}", clip_bytes(CLIPS[i % len(CLIPS)], start=160 * i), CAPTIONS[CLIPS[i % len(CLIPS)]])
        for i in range(count)
    ]


def write_parquet_shards(folder: Path, count: int = 24, shards: int = 4, prefix: str = "train") -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    clips = items(count)
    for s in range(shards):
        part = clips[s::shards]
        table = pa.table(
            {
                "id": [c[0] for c in part],
                "audio": [{"bytes": c[1], "path": f"{c[0]}.flac"} for c in part],
                "caption": [c[2] for c in part],
            }
        )
        pq.write_table(table, folder / f"{prefix}-{s:05d}.parquet", row_group_size=2)
    return [c[0] for c in clips]


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def write_webdataset_shards(folder: Path, count: int = 24, shards: int = 4) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    clips = items(count)
    for s in range(shards):
        members = []
        for i, (key, data, caption) in enumerate(clips[s::shards]):
            members.append((f"{key}.flac", data))
            # half the samples carry the caption in .json, half in .txt
            members.append(
                (f"{key}.json", json.dumps({"caption": caption}).encode())
                if i % 2
                else (f"{key}.txt", caption.encode())
            )
        write_tar(folder / f"shard-{s:05d}.tar", members)
    return [c[0] for c in clips]


def ids(stream, limit=None) -> list[str]:
    out = []
    for example in stream:
        out.append(example["id"])
        if limit is not None and len(out) == limit:
            break
    return out


@pytest.fixture(params=["parquet", "webdataset"])
def shards(request, tmp_path):
    folder = tmp_path / "shards"
    write = write_parquet_shards if request.param == "parquet" else write_webdataset_shards
    return folder, write(folder), request.param


# ------------------------------------------------------------------------------------------------------- reading
def test_local_folder_streams_every_clip_decoded(shards):
    folder, all_ids, fmt = shards
    stream = load_shard_stream(folder, seed=0, buffer_size=5)
    assert stream.shard_format == fmt and len(stream.shards) == 4
    examples = list(stream)
    assert sorted(ex["id"] for ex in examples) == sorted(all_ids)
    by_id = {c[0]: c for c in items(len(all_ids))}
    for ex in examples:
        assert ex["audio"].dtype == np.float32 and ex["audio"].ndim == 1 and ex["sampling_rate"] == 16000
        reference, _ = sf.read(io.BytesIO(by_id[ex["id"]][1]), dtype="float32")
        np.testing.assert_allclose(ex["audio"], reference, atol=1e-6)
        assert ex["caption"] == by_id[ex["id"]][2]


def test_file_and_memory_urls_read_like_the_folder(shards):
    folder, all_ids, fmt = shards
    local = ids(load_shard_stream(folder, seed=3, buffer_size=4))
    assert ids(load_shard_stream(f"file://{folder}", seed=3, buffer_size=4)) == local
    memory = fsspec.filesystem("memory")
    for path in folder.iterdir():
        memory.pipe(f"/sharded-{fmt}/{path.name}", path.read_bytes())
    try:
        files, found = resolve_shards(f"memory://sharded-{fmt}/")
        assert found == fmt and all(f.startswith("memory://") for f in files) and len(files) == 4
        assert ids(load_shard_stream(f"memory://sharded-{fmt}/", seed=3, buffer_size=4)) == local
        suffix = "parquet" if fmt == "parquet" else "tar"
        globbed = load_shard_stream(f"memory://sharded-{fmt}/*-0000[01].{suffix}", seed=3, buffer_size=4)
        assert len(globbed.shards) == 2
        if fmt == "parquet":  # (datasets' webdataset reader wants the same members in every sample)
            # load_audio_dataset (the datasets stream every script reads with --dataset) takes URLs too
            streamed = ids(load_audio_dataset(f"memory://sharded-{fmt}"))
            assert sorted(i.removesuffix(".flac") for i in streamed) == sorted(all_ids)  # its ids: paths or keys
    finally:
        memory.rm(f"/sharded-{fmt}", recursive=True)


def test_http_url_served_on_loopback(tmp_path):
    folder = tmp_path / "www"
    all_ids = write_webdataset_shards(folder, count=8, shards=2)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        stream = load_shard_stream(url, seed=0, buffer_size=3)  # the folder's listing page names the shards
        assert [s.rsplit("/", 1)[-1] for s in stream.shards] == ["shard-00000.tar", "shard-00001.tar"]
        assert sorted(ids(stream)) == sorted(all_ids)
    finally:
        server.shutdown()
        server.server_close()


def test_split_picks_shards_named_after_it(tmp_path):
    train = write_parquet_shards(tmp_path / "data", count=8, shards=2, prefix="train")
    write_parquet_shards(tmp_path / "data", count=4, shards=1, prefix="validation")
    assert sorted(ids(load_shard_stream(tmp_path / "data", split="train"))) == sorted(train)
    assert len(ids(load_shard_stream(tmp_path / "data", split="validation"))) == 4


# ------------------------------------------------------------------------------------------------------- order
def test_shuffle_is_seeded_and_changes_with_the_epoch(shards):
    folder, all_ids, _ = shards
    stream = load_shard_stream(folder, seed=1, buffer_size=6)
    epoch0 = ids(stream)
    assert ids(load_shard_stream(folder, seed=1, buffer_size=6)) == epoch0  # same seed, same order
    assert ids(load_shard_stream(folder, seed=2, buffer_size=6)) != epoch0
    stream.set_epoch(1)
    epoch1 = ids(stream)
    assert epoch1 != epoch0 and sorted(epoch1) == sorted(epoch0)
    assert stream.epoch_shards(0) != stream.epoch_shards(1) or stream.epoch_shards(0) != stream.epoch_shards(2)
    stream.set_epoch(0)
    assert ids(stream) == epoch0
    assert epoch0 != all_ids  # rows really moved


def test_two_processes_read_disjoint_shards_and_together_every_clip(shards):
    folder, all_ids, _ = shards
    for epoch in (0, 1):
        parts = []
        for rank in (0, 1):
            stream = load_shard_stream(folder, seed=0, buffer_size=4, rank=rank, world_size=2)
            stream.set_epoch(epoch)
            parts.append((set(stream.epoch_shards()), ids(stream)))
        assert not parts[0][0] & parts[1][0]  # each process its own shards
        assert not set(parts[0][1]) & set(parts[1][1])
        assert sorted(parts[0][1] + parts[1][1]) == sorted(all_ids)


@pytest.mark.parametrize("position", [0, 1, 5, 6, 13, 23])
def test_resume_yields_exactly_what_the_uninterrupted_run_yields(shards, position):
    folder, _, _ = shards
    uninterrupted = load_shard_stream(folder, seed=4, buffer_size=6)
    uninterrupted.set_epoch(2)
    expected = ids(uninterrupted)
    first = load_shard_stream(folder, seed=4, buffer_size=6)
    first.set_epoch(2)
    assert ids(first, limit=position or None)[: position or None] == expected[: position or None]
    state = first.state_dict() if position else {"epoch": 2, "examples": 0}
    assert state == {"epoch": 2, "examples": position or len(expected)} or not position
    resumed = load_shard_stream(folder, seed=4, buffer_size=6)  # a new process: only the state carries over
    resumed.load_state_dict(json.loads(json.dumps(state)))
    resumed.set_epoch(2)  # what a DataLoader does at the start of the epoch keeps the position
    assert ids(resumed) == expected[position:]


def test_resume_with_skipped_clips_replays_to_the_same_position(tmp_path):
    folder = tmp_path / "shards"
    write_parquet_shards(folder, count=12, shards=2)
    table = pa.table({"id": ["broken"], "audio": [{"bytes": b"not audio", "path": "x.flac"}], "caption": ["x"]})
    pq.write_table(table, folder / "train-00002.parquet")
    expected = ids(load_shard_stream(folder, seed=0, buffer_size=5, on_error="skip"))
    assert len(expected) == 12 and "broken" not in expected
    resumed = load_shard_stream(folder, seed=0, buffer_size=5, on_error="skip")
    resumed.load_state_dict({"epoch": 0, "examples": 7})
    assert ids(resumed) == expected[7:]


# ------------------------------------------------------------------------------------------------------- errors
def test_bad_sources_raise_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="no \\*.parquet or \\*.tar shards"):
        load_shard_stream(tmp_path / "empty")
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "rows.csv").write_text("a,b\n")
    with pytest.raises(InvalidInputError, match=r"\.csv"):
        load_shard_stream(tmp_path / "csv")  # an unknown format: named in the error
    with pytest.raises(InvalidInputError, match="cannot list shards"):
        load_shard_stream("nosuchprotocol://bucket/shards/")
    with pytest.raises(InvalidInputError):
        ShardedAudioStream(["a.parquet"], "orc")
    with pytest.raises(InvalidInputError, match="2 processes"):
        ShardedAudioStream(["a.parquet"], "parquet", world_size=2, rank=1)
    stream = ShardedAudioStream(["a.parquet"], "parquet")
    with pytest.raises(InvalidInputError):
        stream.load_state_dict({"epoch": -1, "examples": 0})


def test_shard_without_audio_column_names_the_shard(tmp_path):
    folder = tmp_path / "noaudio"
    folder.mkdir()
    pq.write_table(pa.table({"caption": ["a dog"], "label": [1]}), folder / "train-00000.parquet")
    with pytest.raises(InvalidInputError, match="train-00000.parquet has no audio column"):
        list(load_shard_stream(folder))
    write_tar(folder / "x.tar", [("a.txt", b"only a caption")])
    with pytest.raises(InvalidInputError, match="x.tar has no audio column"):
        list(load_shard_stream(folder / "x.tar"))


# ------------------------------------------------------------------------------------------------------- training
def collate_ids(examples):
    return {"lengths": torch.tensor([len(ex["audio"]) for ex in examples]), "id": [ex["id"] for ex in examples]}


class _NoCrops:
    def set_epoch(self, epoch):
        pass


@pytest.mark.parametrize("consumed", [0, 3, 5, 8])
def test_training_loop_resumes_the_stream_at_its_position(tmp_path, consumed):
    """epoch_batches over a prepared DataLoader: a run restarted from the counters of a checkpoint taken after
    ``consumed`` micro-batches (epoch 1 from 6 on) yields exactly the batches the uninterrupted run yielded next."""
    from accelerate import Accelerator
    from torch.utils.data import DataLoader

    from hf_audiogen.training.checkpointing import TrainingState
    from hf_audiogen.training.loop import epoch_batches

    write_parquet_shards(tmp_path / "shards", count=24, shards=4)

    def run(state, steps):
        accelerator = Accelerator(cpu=True)
        accelerator.skip_first_batches = None  # the stream is moved to its position, never replayed
        stream = load_shard_stream(tmp_path / "shards", seed=5, buffer_size=7)
        loader = accelerator.prepare(DataLoader(stream, batch_size=4, collate_fn=collate_ids))
        out = []
        for batch in epoch_batches(accelerator, loader, _NoCrops(), state, max_steps=steps, empty_message="empty"):
            out.append(batch["id"])
            state.global_step += 1
            if state.global_step >= steps:
                break
        return out

    uninterrupted = run(TrainingState(), 10)  # 6 batches per epoch: into epoch 1
    state = TrainingState(global_step=consumed, epoch=consumed // 6, batches_in_epoch=consumed % 6)
    assert run(state, 10) == uninterrupted[consumed:]


def test_position_counts_every_process_slice_under_accelerate(tmp_path):
    """With N processes accelerate's IterableDatasetShard gives each one slice of every N batches: a batch trained on
    stands for batch_size * N examples of the stream."""
    from accelerate.data_loader import IterableDatasetShard
    from torch.utils.data import DataLoader

    from hf_audiogen.training.checkpointing import seek_stream

    write_parquet_shards(tmp_path / "shards", count=24, shards=4)

    def loader(rank):
        stream = load_shard_stream(tmp_path / "shards", seed=0, buffer_size=5)
        shard = IterableDatasetShard(stream, batch_size=2, num_processes=2, process_index=rank)
        return DataLoader(shard, batch_size=2, collate_fn=collate_ids)

    for rank in (0, 1):
        full = list(loader(rank))
        resumed = loader(rank)
        assert seek_stream(resumed, epoch=0, batches=2)
        assert resumed.dataset.dataset.state_dict() == {"epoch": 0, "examples": 8}
        assert [b["id"] for b in resumed] == [b["id"] for b in full[2:]]
    assert not seek_stream(DataLoader(list(range(4)), batch_size=2), epoch=0, batches=1)  # other datasets: replay


def test_train_data_option(tmp_path):
    from hf_audiogen.training.arguments import check_common_training_args, train_stream_from_args, training_arg_parser

    write_parquet_shards(tmp_path / "shards", count=8, shards=2)
    parser = training_arg_parser("test")
    base = ["--output_dir", str(tmp_path / "out"), "--max_train_steps", "1"]
    args = parser.parse_args([*base, "--train_data", f"file://{tmp_path / 'shards'}", "--seed", "3"])
    check_common_training_args(args, reads_train_data=True)
    stream = train_stream_from_args(args, sampling_rate=16000)
    assert isinstance(stream, ShardedAudioStream) and stream.seed == 3 and len(stream.shards) == 2
    with pytest.raises(InvalidInputError, match="does not read --train_data"):
        check_common_training_args(args)  # a script that would ignore it refuses it
    assert train_stream_from_args(parser.parse_args(base)) is None
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--train_data", "x", "--storage_options", "[1]"])
