"""Tests for hf_audiogen.data.streams on the real fixture clips: sources, decoding, errors, order, crops, batches."""

import io
import json
import logging
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from hf_audiogen.audio import AudioError
from hf_audiogen.data.streams import AudioCollator, RandomSegment, load_audio_dataset, random_crop

FIXTURES = Path(__file__).parents[1] / "fixtures" / "audio"
ROWS = [json.loads(line) for line in (FIXTURES / "metadata.jsonl").read_text().splitlines()]
TRAIN = [row["file"] for row in ROWS if row["split"] == "train"]


def reference(name, sr=16000):
    audio, file_sr = sf.read(FIXTURES / name, dtype="float32")
    assert file_sr == sr
    return audio


@pytest.fixture
def hf_cache(tmp_path):
    return tmp_path / "hf_cache"


# ------------------------------------------------------------------------------------------------------- sources
def test_metadata_folder_streams_decoded_clips_of_one_split(hf_cache):
    ds = load_audio_dataset(FIXTURES, split="train", cache_dir=hf_cache)
    examples = list(ds)
    assert [ex["id"] for ex in examples] == TRAIN
    for ex in examples:
        assert ex["audio"].dtype == np.float32 and ex["sampling_rate"] == 16000
        np.testing.assert_allclose(ex["audio"], reference(ex["id"]), atol=1e-6)
    assert examples[0]["caption"] == "two dogs barking"
    assert examples[0]["licence"] == "CC0-1.0"  # other metadata columns pass through
    validation = list(load_audio_dataset(FIXTURES, split="validation", cache_dir=hf_cache))
    assert [ex["id"] for ex in validation] == ["water_flowing.flac"]
    assert len(list(load_audio_dataset(FIXTURES, cache_dir=hf_cache))) == len(ROWS)


def test_map_style_dataset_matches_the_stream(hf_cache):
    ds = load_audio_dataset(FIXTURES, split="train", streaming=False, cache_dir=hf_cache)
    assert len(ds) == len(TRAIN)
    streamed = {ex["id"]: ex["audio"] for ex in load_audio_dataset(FIXTURES, split="train", cache_dir=hf_cache)}
    for i in range(len(ds)):
        ex = ds[i]
        assert isinstance(ex["audio"], np.ndarray) and ex["audio"].dtype == np.float32
        np.testing.assert_array_equal(ex["audio"], streamed[ex["id"]])
        assert isinstance(ex["caption"], str)


def test_resampling_to_the_requested_rate(hf_cache):
    ex = next(iter(load_audio_dataset(FIXTURES, split="train", sampling_rate=8000, cache_dir=hf_cache)))
    assert ex["sampling_rate"] == 8000
    assert abs(len(ex["audio"]) - len(reference(ex["id"])) // 2) <= 1


def write_stereo_folder(folder):
    """A metadata.csv folder (no split column) with one stereo WAV made from two fixture clips."""
    folder.mkdir()
    dog, cow = reference("dog_bark.flac"), reference("cow_moo.flac")
    stereo = np.stack([dog[: len(cow)], cow], axis=1)
    sf.write(folder / "stereo.wav", stereo, 16000, subtype="FLOAT")
    shutil.copy(FIXTURES / "explosion.flac", folder / "boom.flac")
    (folder / "metadata.csv").write_text("file_name,caption\nstereo.wav,dog and cow\nboom.flac,an explosion\n")
    return stereo


def test_csv_metadata_downmixes_or_keeps_channels(tmp_path, hf_cache):
    stereo = write_stereo_folder(tmp_path / "csv")
    mono = list(load_audio_dataset(tmp_path / "csv", cache_dir=hf_cache))
    assert [ex["caption"] for ex in mono] == ["dog and cow", "an explosion"]
    np.testing.assert_allclose(mono[0]["audio"], stereo.mean(axis=1), atol=1e-6)
    both = next(iter(load_audio_dataset(tmp_path / "csv", mono=False, cache_dir=hf_cache)))
    assert both["audio"].shape == (2, len(stereo))
    with pytest.raises(ValueError, match="split='train' was requested but .* has no 'split' column"):
        load_audio_dataset(tmp_path / "csv", split="train", cache_dir=hf_cache)


def write_parquet(path, names, hf_audio_metadata):
    struct = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    metadata = None
    if hf_audio_metadata:  # how datasets / the Hub store an Audio column
        features = {"audio": {"_type": "Audio"}, "caption": {"dtype": "string", "_type": "Value"}}
        metadata = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    schema = pa.schema([("audio", struct), ("caption", pa.string())], metadata=metadata)
    captions = {row["file"]: row["caption"] for row in ROWS}
    table = pa.table(
        {
            "audio": [{"bytes": (FIXTURES / n).read_bytes(), "path": n} for n in names],
            "caption": [captions[n] for n in names],
        },
        schema=schema,
    )
    pq.write_table(table, path)


@pytest.mark.parametrize("hf_audio_metadata", [True, False])
def test_parquet_shards_chosen_by_split_name(tmp_path, hf_cache, hf_audio_metadata):
    shards = tmp_path / "shards"
    shards.mkdir()
    write_parquet(shards / "train-00000-of-00002.parquet", TRAIN[:2], hf_audio_metadata)
    write_parquet(shards / "train-00001-of-00002.parquet", TRAIN[2:], hf_audio_metadata)
    write_parquet(shards / "validation-00000-of-00001.parquet", ["water_flowing.flac"], hf_audio_metadata)
    train = list(load_audio_dataset(shards, split="train", cache_dir=hf_cache))
    assert [ex["id"] for ex in train] == TRAIN
    np.testing.assert_allclose(train[1]["audio"], reference(TRAIN[1]), atol=1e-6)
    assert train[1]["caption"] == "a cow mooing"
    validation = list(load_audio_dataset(shards, split="validation", streaming=False, cache_dir=hf_cache))
    assert [ex["id"] for ex in validation] == ["water_flowing.flac"]


def write_tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_webdataset_shards_with_json_or_txt_captions(tmp_path, hf_cache):
    shards = tmp_path / "wds"
    shards.mkdir()
    write_tar(
        shards / "shard-000.tar",
        [
            ("dog.flac", (FIXTURES / "dog_bark.flac").read_bytes()),
            ("dog.json", b'{"caption": "two dogs barking"}'),
            ("cow.flac", (FIXTURES / "cow_moo.flac").read_bytes()),
            ("cow.json", b'{"caption": "a cow mooing"}'),
        ],
    )
    examples = list(load_audio_dataset(shards, cache_dir=hf_cache))
    assert [(ex["id"], ex["caption"]) for ex in examples] == [("dog", "two dogs barking"), ("cow", "a cow mooing")]
    np.testing.assert_allclose(examples[1]["audio"], reference("cow_moo.flac"), atol=1e-6)

    write_tar(tmp_path / "txt.tar", [("boom.wav", _wav_bytes(reference("explosion.flac"))), ("boom.txt", b"boom")])
    ex = next(iter(load_audio_dataset(tmp_path / "txt.tar", cache_dir=hf_cache)))
    assert (ex["id"], ex["caption"], len(ex["audio"])) == ("boom", "boom", len(reference("explosion.flac")))


def _wav_bytes(audio, sr=16000):
    buf = io.BytesIO()
    sf.write(buf, audio, sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


# -------------------------------------------------------------------------------------------------------- errors
def write_folder_with_bad_clips(folder):
    folder.mkdir()
    shutil.copy(FIXTURES / "cow_moo.flac", folder / "cow.flac")
    (folder / "broken.flac").write_bytes(b"not audio")
    rows = [
        {"file": "cow.flac", "caption": "cow"},
        {"file": "missing.flac", "caption": "x"},
        {"file": "broken.flac", "caption": "y"},
    ]
    (folder / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_undecodable_clip_raises_naming_the_clip(tmp_path, hf_cache):
    write_folder_with_bad_clips(tmp_path / "bad")
    ds = load_audio_dataset(tmp_path / "bad", cache_dir=hf_cache)
    with pytest.raises(AudioError, match="cannot use clip missing.flac: audio file not found"):
        list(ds)
    with pytest.raises(AudioError, match="cannot use clip missing.flac"):
        load_audio_dataset(tmp_path / "bad", streaming=False, cache_dir=hf_cache)


@pytest.mark.parametrize("streaming", [True, False])
def test_skipped_clips_are_reported(tmp_path, hf_cache, caplog, streaming):
    write_folder_with_bad_clips(tmp_path / "bad")
    skipped = []
    with caplog.at_level(logging.WARNING, logger="hf_audiogen.data.streams"):
        ds = load_audio_dataset(
            tmp_path / "bad", streaming=streaming, on_error="skip", skipped=skipped, cache_dir=hf_cache
        )
        kept = [ds[i] for i in range(len(ds))] if not streaming else list(ds)
    assert [ex["id"] for ex in kept] == ["cow.flac"]
    assert [clip for clip, _ in skipped] == ["missing.flac", "broken.flac"]
    assert "audio file not found" in skipped[0][1] and "cannot decode" in skipped[1][1]
    assert "skipping clip missing.flac" in caplog.text and "skipping clip broken.flac" in caplog.text


def test_bad_arguments_are_rejected(tmp_path, hf_cache):
    with pytest.raises(ValueError, match="audio dataset './no/such/folder' not found"):
        load_audio_dataset("./no/such/folder")
    with pytest.raises(ValueError, match="on_error must be 'raise' or 'skip', got 'ignore'"):
        load_audio_dataset(FIXTURES, on_error="ignore")
    with pytest.raises(ValueError, match="skipped= collects skipped clips, so it needs on_error='skip'"):
        load_audio_dataset(FIXTURES, skipped=[])
    with pytest.raises(AudioError, match="sampling_rate=16 is not supported"):
        load_audio_dataset(FIXTURES, sampling_rate=16)
    with pytest.raises(ValueError, match="audio_column='wav' is not a column"):
        load_audio_dataset(FIXTURES, audio_column="wav", cache_dir=hf_cache)
    (tmp_path / "nocol").mkdir()
    (tmp_path / "nocol" / "metadata.jsonl").write_text('{"sound": "a.flac", "caption": "a"}\n')
    with pytest.raises(ValueError, match="no audio column in .*columns are \\['sound', 'caption'\\]"):
        load_audio_dataset(tmp_path / "nocol", cache_dir=hf_cache)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no metadata.jsonl"):
        load_audio_dataset(tmp_path / "empty")


# -------------------------------------------------------------------------------------------- order and epochs
def ids(ds):
    return [ex["id"] for ex in ds]


def test_shuffle_is_deterministic_and_changes_with_the_epoch(hf_cache):
    ds = load_audio_dataset(FIXTURES, cache_dir=hf_cache)
    first = ids(ds.shuffle(seed=3, buffer_size=16))
    assert first == ids(load_audio_dataset(FIXTURES, cache_dir=hf_cache).shuffle(seed=3, buffer_size=16))
    assert sorted(first) == sorted(row["file"] for row in ROWS)
    shuffled = ds.shuffle(seed=3, buffer_size=16)
    orders = []
    for epoch in range(3):
        shuffled.set_epoch(epoch)
        orders.append(ids(shuffled))
    assert orders[0] == first and len({tuple(o) for o in orders}) > 1


# ------------------------------------------------------------------------------------------ crops and batches
def test_random_crop_returns_a_window_of_the_input():
    audio = np.arange(100, dtype=np.float32)
    crop = random_crop(audio, 30, np.random.default_rng(0))
    assert len(crop) == 30 and np.all(np.diff(crop) == 1) and 0 <= crop[0] <= 70
    np.testing.assert_array_equal(random_crop(audio[:10], 30, np.random.default_rng(0)), audio[:10])  # too short
    stereo = np.stack([audio, -audio])
    crop = random_crop(stereo, 30, np.random.default_rng(0))
    assert crop.shape == (2, 30) and np.array_equal(crop[1], -crop[0])
    with pytest.raises(ValueError, match="num_samples must be positive"):
        random_crop(audio, 0, np.random.default_rng(0))


def test_random_segment_depends_only_on_seed_epoch_and_id():
    audio = np.arange(16000, dtype=np.float32)
    segment = RandomSegment(1000, seed=7)

    def start(example_id, seg=segment):
        return int(seg({"audio": audio, "id": example_id})["audio"][0])

    assert start("a") == start("a") == start("a", RandomSegment(1000, seed=7))  # same key, same window
    starts = {start(f"clip{i}") for i in range(20)}
    assert len(starts) > 10  # different clips get different windows
    epoch0 = [start(f"clip{i}") for i in range(5)]
    segment.set_epoch(1)
    assert [start(f"clip{i}") for i in range(5)] != epoch0
    assert [start(f"clip{i}") for i in range(5)] != [start(f"clip{i}", RandomSegment(1000, seed=8)) for i in range(5)]
    head = RandomSegment(1000, random=False)({"audio": audio, "id": "a"})["audio"]
    np.testing.assert_array_equal(head, audio[:1000])
    with pytest.raises(ValueError, match="num_samples must be a positive integer, got 1.5"):
        RandomSegment(1.5)


def test_collator_pads_and_masks(hf_cache):
    examples = list(load_audio_dataset(FIXTURES, split="train", cache_dir=hf_cache))
    batch = AudioCollator()(examples)
    lengths = [len(ex["audio"]) for ex in examples]
    assert batch["audio"].shape == (len(examples), max(lengths)) and batch["audio"].dtype == torch.float32
    assert batch["lengths"].tolist() == lengths and batch["padding_mask"].sum(1).tolist() == lengths
    for i, ex in enumerate(examples):
        np.testing.assert_array_equal(batch["audio"][i, : lengths[i]].numpy(), ex["audio"])
        assert not batch["audio"][i, lengths[i] :].any()
    assert batch["caption"] == [ex["caption"] for ex in examples] and batch["sampling_rate"] == 16000

    fixed = AudioCollator(max_samples=8000, seed=0, pad_to_max=True)(examples)
    assert fixed["audio"].shape == (len(examples), 8000)
    short = TRAIN.index("snow_footsteps.flac")  # 0.27 s: kept whole and padded
    assert fixed["lengths"].tolist() == [min(n, 8000) for n in lengths] and fixed["lengths"][short] == lengths[short]


def test_collator_rejects_mixed_batches():
    a = {"audio": np.ones(4, np.float32), "sampling_rate": 16000}
    with pytest.raises(ValueError, match=r"mixes sampling rates \[16000, 22050\]"):
        AudioCollator()([a, {**a, "sampling_rate": 22050}])
    with pytest.raises(ValueError, match="mixes channel layouts"):
        AudioCollator()([a, {**a, "audio": np.ones((2, 4), np.float32)}])
    with pytest.raises(ValueError, match="pad_to_max=True needs max_samples"):
        AudioCollator(pad_to_max=True)


def test_dataloader_batches_are_reproducible(hf_cache):
    def batches(epoch):
        ds = load_audio_dataset(FIXTURES, cache_dir=hf_cache).shuffle(seed=0, buffer_size=8)
        ds.set_epoch(epoch)
        collate = AudioCollator(max_samples=4000, seed=0)
        collate.set_epoch(epoch)
        return [b["audio"] for b in DataLoader(ds, batch_size=2, collate_fn=collate)]

    first, again, other = batches(0), batches(0), batches(1)
    assert [b.shape[0] for b in first] == [2, 2, 1]
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    assert not all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(first, other))
