"""AutoReCap data pipeline: ambient segments from subtitles, re-captioning a metadata folder, merging, subsets, CLI."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from hf_audiogen.autocap import AutoCapPipeline
from hf_audiogen.cli import main
from hf_audiogen.data.autorecap import (
    ambient_segments,
    autorecap_subsets,
    merge_identical_captions,
    read_subtitles,
    recaption,
    subsets_of,
)

from factories import tiny_autocap_model, tiny_autocap_processor, tiny_clap_scorer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "audio"


# ------------------------------------------------------------------------------------------------ segments
def test_gaps_longer_than_min_seconds_are_kept():
    assert ambient_segments([(2.0, 3.0), (3.5, 4.0)], duration=6.0) == [(0.0, 2.0), (4.0, 6.0)]  # 0.5 s gap dropped
    assert ambient_segments([], duration=5.0) == [(0.0, 5.0)]
    assert ambient_segments([(0.0, 5.0)], duration=5.0) == []
    # "longer than one second": a gap of exactly min_seconds is not kept
    assert ambient_segments([(1.0, 2.0)], duration=2.5, min_seconds=1.0) == []
    assert ambient_segments([(1.0, 2.0)], duration=2.5, min_seconds=0.4) == [(0.0, 1.0), (2.0, 2.5)]


def test_long_gaps_are_cut_into_equal_pieces_of_at_most_max_seconds():
    segments = ambient_segments([(1.5, 2.0)], duration=27.0)  # gap 2..27 = 25 s -> 3 pieces of 8.33 s
    assert segments[0] == (0.0, 1.5)
    pieces = segments[1:]
    assert len(pieces) == 3
    np.testing.assert_allclose([e - s for s, e in pieces], [25 / 3] * 3)
    assert pieces[0][0] == 2.0 and pieces[-1][1] == 27.0
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))  # touching, nothing lost
    assert ambient_segments([], duration=20.0) == [(0.0, 10.0), (10.0, 20.0)]  # exactly 2 x 10 s, no third piece
    assert ambient_segments([], duration=3.0, max_seconds=1.0) == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]


def test_overlapping_unsorted_and_out_of_range_intervals():
    # unsorted, overlapping and nested intervals are merged; one past the end is clipped, one after it ignored
    intervals = [(8.0, 9.0), (3.0, 5.0), (4.0, 6.0), (4.5, 4.6), (11.5, 14.0), (12.5, 13.0)]
    assert ambient_segments(intervals, duration=12.0) == [(0.0, 3.0), (6.0, 8.0), (9.0, 11.5)]
    assert ambient_segments([(2.0, 2.0)], duration=4.0) == [(0.0, 2.0), (2.0, 4.0)]  # zero-length cue splits only


@pytest.mark.parametrize(
    "intervals, message",
    [
        ([(-1.0, 2.0)], "interval 0 = \\(-1.0, 2.0\\) is invalid"),
        ([(0.0, 1.0), (3.0, 2.0)], "interval 1"),
        ([(0.0, float("nan"))], "interval 0"),
        ([(1.0,)], "must be a \\(start, end\\) pair"),
        ([("a", 2)], "pair"),
    ],
)
def test_bad_intervals_are_rejected_by_index(intervals, message):
    with pytest.raises(ValueError, match=message):
        ambient_segments(intervals, duration=10.0)


def test_bad_limits_are_rejected():
    with pytest.raises(ValueError, match="duration must be a positive"):
        ambient_segments([], duration=0)
    with pytest.raises(ValueError, match="min_seconds must be 0 or more"):
        ambient_segments([], duration=5, min_seconds=-1)
    with pytest.raises(ValueError, match="max_seconds must be positive and at least min_seconds"):
        ambient_segments([], duration=5, min_seconds=2, max_seconds=1)


SRT = """1
00:00:01,250 --> 00:00:03,000
Hello there

2
00:00:02,500 --> 00:00:04,100
[Music]

3
00:00:08,000 --> 00:00:08,500


"""

VTT = """WEBVTT
Kind: captions
Language: en

00:00:01.250 --> 00:00:03.000 align:start position:0%
hello<00:00:01.800><c> there</c>

00:00:02.500 --> 00:00:04.100
[Music]

00:00:08.000 --> 00:00:08.500
 
"""  # noqa: W293 (a cue of one space is part of the test data)


@pytest.mark.parametrize("name, text", [("talk.srt", SRT), ("talk.vtt", VTT)])
def test_subtitle_files_give_cue_times_to_the_millisecond(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    intervals = read_subtitles(path)
    assert intervals == [(1.25, 3.0), (2.5, 4.1)]  # the blank cue at 8 s is not speech or music
    assert ambient_segments(intervals, duration=12.0) == [(0.0, 1.25), (4.1, 12.0)]


def test_subtitle_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot tell the subtitle format"):
        read_subtitles(tmp_path / "talk.txt")
    with pytest.raises(FileNotFoundError, match="subtitle file not found"):
        read_subtitles(tmp_path / "missing.srt")
    (tmp_path / "bad.vtt").write_text("not a subtitle file\n")
    with pytest.raises(ValueError, match="is not a valid vtt file"):
        read_subtitles(tmp_path / "bad.vtt")


# ------------------------------------------------------------------------------------------------ merging, subsets
def test_merge_identical_captions_of_touching_segments_of_one_file():
    rows = [
        {"file": "a.wav", "start": 0.0, "end": 2.0, "duration": 2.0, "autocap_caption": "rain", "clap_similarity": 0.2},
        {"file": "a.wav", "start": 2.0, "end": 3.0, "duration": 1.0, "autocap_caption": "rain", "clap_similarity": 0.5},
        {"file": "a.wav", "start": 3.0, "end": 4.0, "duration": 1.0, "autocap_caption": "wind", "clap_similarity": 0.1},
        {"file": "a.wav", "start": 5.0, "end": 6.0, "duration": 1.0, "autocap_caption": "wind", "clap_similarity": 0.1},
        {"file": "b.wav", "start": 6.0, "end": 7.0, "duration": 1.0, "autocap_caption": "wind", "clap_similarity": 0.1},
    ]
    merged = merge_identical_captions(rows)
    assert [(r["file"], r["start"], r["end"], r["autocap_caption"]) for r in merged] == [
        ("a.wav", 0.0, 3.0, "rain"),
        ("a.wav", 3.0, 4.0, "wind"),
        ("a.wav", 5.0, 6.0, "wind"),
        ("b.wav", 6.0, 7.0, "wind"),
    ]  # not across a gap (5.0 != 4.0) nor across files
    assert merged[0]["duration"] == 3.0
    assert merged[0]["clap_similarity"] == pytest.approx((0.2 * 2 + 0.5 * 1) / 3)  # duration-weighted
    assert rows[0]["end"] == 2.0  # the input is not modified


def test_subset_thresholds_are_strict_and_nested():
    assert subsets_of(0.1, 10.0) == []
    assert subsets_of(0.1001, 10.0) == ["XL"]
    assert subsets_of(0.4, 10.0) == ["XL"]
    assert subsets_of(0.45, 5.0) == ["XL", "MQ"]  # MQ-L needs more than 5 s
    assert subsets_of(0.45, 5.01) == ["XL", "MQ", "MQ-L"]
    assert subsets_of(0.5, 2.0) == ["XL", "MQ"]
    assert subsets_of(0.51, 6.0) == ["XL", "MQ", "MQ-L", "HQ"]
    rows = [
        {"file": "a", "clap_similarity": 0.05, "duration": 9.0},
        {"file": "b", "clap_similarity": 0.45, "start": 0.0, "end": 7.0},
        {"file": "c", "clap_similarity": 0.6, "duration": 1.0},
    ]
    subsets = autorecap_subsets(rows)
    assert {name: [r["file"] for r in members] for name, members in subsets.items()} == {
        "XL": ["b", "c"],
        "MQ": ["b", "c"],
        "MQ-L": ["b"],
        "HQ": ["c"],
    }
    with pytest.raises(ValueError, match="row 1 \\(b\\) has clap_similarity=None"):
        autorecap_subsets([rows[0], {"file": "b", "clap_similarity": None, "duration": 1.0}])


# ------------------------------------------------------------------------------------------------ re-captioning
@pytest.fixture(scope="module")
def pipe():
    """The tiny AutoCap, briefly trained so that its captions depend on the audio and on the title (a random one
    says the same thing for every input, which would let the tests below pass without looking at the audio)."""
    import torch

    sounds = {
        name: sf.read(FIXTURES / f"{name}.flac", dtype="float32")[0][:16000]
        for name in ("dog_bark", "water_flowing", "explosion", "cow_moo")
    }
    examples = [
        ("dog_bark", None, "a dog barks in the park"),
        ("water_flowing", None, "rain falls on a tin roof"),
        ("explosion", None, "thunder rumbles in the distance"),
        ("cow_moo", {"title": "a cow mooing"}, "a man speaks while birds chirp"),
        ("cow_moo", None, "a car passes by on a wet road"),
    ]
    processor = tiny_autocap_processor()
    model = tiny_autocap_model(train_word_embeddings=True)
    model.set_training_stage(2)
    captions = [caption for *_, caption in examples]
    batch = processor(
        audio=[sounds[name] for name, *_ in examples],
        sampling_rate=16000,
        metadata=[metadata for _, metadata, _ in examples],
        text=captions,
    )
    inputs = {name: value for name, value in batch.items() if name != "labels"}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for step in range(300):
        model.train()
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 20 == 19:
            model.eval()
            if processor.batch_decode(model.generate(**inputs, num_beams=1)) == captions:
                break
    assert processor.batch_decode(model.eval().generate(**inputs, num_beams=1)) == captions
    return AutoCapPipeline(model=model, processor=processor, device="cpu")


@pytest.fixture(scope="module")
def clap():
    return tiny_clap_scorer()


def _corpus(root: Path) -> Path:
    """A metadata folder: 4 fixture clips (one too short for min_seconds=0.5), a corrupt file, a silent clip, a
    missing file, a 4 x 1 s recording of one bark (2 identical 2 s pieces -> identical captions -> merged) and a 6 s
    recording with subtitles covering 1.0-2.5 s (two ambient segments, the second cut in two by max_seconds=2)."""
    root.mkdir()
    rows = []
    for line in (FIXTURES / "metadata.jsonl").read_text().splitlines()[:4]:
        row = json.loads(line)
        shutil.copy(FIXTURES / row["file"], root / row["file"])
        rows.append(row)
    (root / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 20)
    rows.append({"file": "corrupt.wav", "caption": "broken", "original_caption": "Broken"})
    sf.write(root / "silent.wav", np.zeros(16000, np.float32), 16000)
    rows.append({"file": "silent.wav", "caption": "nothing", "original_caption": ""})
    rows.append({"file": "missing.flac", "caption": "gone"})
    bark, rate = sf.read(FIXTURES / "dog_bark.flac", dtype="float32")
    sf.write(root / "barks.wav", np.tile(bark[:rate], 4), rate)
    rows.append({"file": "barks.wav", "caption": "dog barks", "original_caption": "Dogs"})
    names = ("water_flowing.flac", "explosion.flac", "cow_moo.flac", "water_flowing.flac")
    long = np.concatenate([sf.read(FIXTURES / name, dtype="float32")[0][: 2 * rate] for name in names])
    sf.write(root / "street.wav", long[: 6 * rate], rate)
    (root / "street.srt").write_text("1\n00:00:01,000 --> 00:00:02,500\nsomeone talks\n")
    rows.append({"file": "street.wav", "subtitles": "street.srt", "caption": "a street"})
    (root / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _run(pipe, clap, in_dir, out_dir, **kwargs):
    options = dict(
        clap=clap,
        metadata_columns={"title": "caption"},
        batch_size=3,
        num_beams=1,
        max_new_tokens=30,
        min_seconds=0.5,
        max_seconds=2.0,
        progress_bar=False,
    )
    return recaption(in_dir, out_dir, pipe, **{**options, **kwargs})


@pytest.fixture(scope="module")
def full_run(pipe, clap, tmp_path_factory):
    root = tmp_path_factory.mktemp("autorecap")
    in_dir = _corpus(root / "corpus")
    report = _run(pipe, clap, in_dir, root / "out")
    return in_dir, root / "out", report


def test_every_input_row_is_accounted_for(full_run):
    in_dir, out_dir, report = full_run
    accounting = {row["file"]: row for row in _read(out_dir / "accounting.jsonl")}
    assert len(accounting) == len(_read(in_dir / "metadata.jsonl")) == report.rows == 9
    status = {file: (row["status"], (row["reason"] or "").split(":")[0]) for file, row in accounting.items()}
    assert status == {
        "dog_bark.flac": ("captioned", ""),
        "cow_moo.flac": ("captioned", ""),
        "explosion.flac": ("captioned", ""),
        "snow_footsteps.flac": ("skipped", "too short"),
        "corrupt.wav": ("skipped", "unreadable audio"),
        "silent.wav": ("skipped", "silent"),
        "missing.flac": ("skipped", "unreadable audio"),
        "barks.wav": ("captioned", ""),
        "street.wav": ("captioned", ""),
    }
    assert report.captioned_rows == 5 and report.skipped_rows == 4
    assert report.reasons == {"too short": 1, "unreadable audio": 2, "silent": 1}


def test_captions_and_clap_scores_for_every_segment(full_run, clap):
    _, out_dir, report = full_run
    rows = _read(out_dir / "metadata.jsonl")
    segments = [(row["file"], row["start"], row["end"]) for row in rows]
    # barks.wav's two identical 2 s pieces got one caption and are merged into one 4 s row
    assert [s for s in segments if "barks" in s[0]] == [("../corpus/barks.wav", 0.0, 4.0)]
    assert len(rows) == report.segments
    for row in rows:
        assert isinstance(row["autocap_caption"], str) and row["autocap_caption"]
        assert -1.0 <= row["clap_similarity"] <= 1.0
        assert row["subsets"] == subsets_of(row["clap_similarity"], row["duration"])
        assert (out_dir / row["file"]).is_file()  # paths are relative to OUT
    dog = next(row for row in rows if row["file"].endswith("dog_bark.flac"))
    assert dog["caption"] == "two dogs barking" and dog["licence"] == "CC0-1.0"  # the input row is kept
    # clap_similarity is the shared CLAP scorer's score of that audio and caption
    from hf_audiogen.evaluation.clap import clap_similarity

    audio, rate = sf.read(FIXTURES / "dog_bark.flac", dtype="float32")
    expected = clap_similarity(*clap, [audio], rate, [dog["autocap_caption"]])
    assert dog["clap_similarity"] == pytest.approx(float(expected[0]), abs=1e-5)


def test_segments_and_metadata_reach_the_model(full_run, pipe, clap, tmp_path):
    in_dir, out_dir, _ = full_run
    rows = _read(out_dir / "metadata.jsonl")
    street = [row for row in rows if row["file"].endswith("street.wav")]
    audio, rate = sf.read(in_dir / "street.wav", dtype="float32")
    first = street[0]
    expected = pipe(
        {"array": audio[: int(first["end"] * rate)], "sampling_rate": rate},
        metadata={"title": "a street"},
        num_beams=1,
        max_new_tokens=30,
    )
    assert first["autocap_caption"] == expected
    # the title changes the caption of this tiny model for at least one clip, so metadata is passed on
    plain = _run(pipe, clap, in_dir, tmp_path / "plain", metadata_columns=None)
    assert plain.segments >= 1
    titled = {Path(row["file"]).name: row["autocap_caption"] for row in rows if row["file"].endswith(".flac")}
    untitled = {
        Path(row["file"]).name: row["autocap_caption"]
        for row in _read(tmp_path / "plain" / "metadata.jsonl")
        if row["file"].endswith(".flac")
    }
    assert titled.keys() == untitled.keys() and titled != untitled


def test_resume_skips_done_rows_and_gives_the_same_output(full_run, pipe, clap, tmp_path, monkeypatch):
    in_dir, out_dir, _ = full_run
    resumed = out_dir.with_name("resumed")  # beside out_dir: the same relative paths to the corpus
    shutil.copytree(out_dir, resumed)
    # Simulate a run stopped after 7 input rows, half-way through writing the 8th (barks.wav): its metadata row is
    # there, its accounting row is cut half-way.
    accounting = (resumed / "accounting.jsonl").read_text().splitlines(keepends=True)
    assert [json.loads(line)["row"] for line in accounting] == list(range(9))  # written in input order
    metadata = [
        line
        for line in (resumed / "metadata.jsonl").read_text().splitlines(keepends=True)
        if json.loads(line)["source_row"] <= 7
    ]
    (resumed / "accounting.jsonl").write_text("".join(accounting[:7]) + accounting[7][:10])
    (resumed / "metadata.jsonl").write_text("".join(metadata))
    captioned = []
    original_call = AutoCapPipeline.__call__

    def counting_call(self, inputs, **kwargs):
        captioned.extend(inputs)
        return original_call(self, inputs, **kwargs)

    monkeypatch.setattr(AutoCapPipeline, "__call__", counting_call)
    report = _run(pipe, clap, in_dir, resumed)
    assert report.resumed == 7 and report.captioned_rows + report.skipped_rows == 2
    assert len(captioned) == 2 + 3  # only barks.wav (2 pieces before merging) and street.wav (3 segments)
    for name in ("metadata.jsonl", "accounting.jsonl"):
        assert (resumed / name).read_text() == (out_dir / name).read_text()
    # a finished run resumed again does nothing
    captioned.clear()
    assert _run(pipe, clap, in_dir, resumed).resumed == 9 and not captioned


def test_resume_refuses_other_settings_and_foreign_folders(full_run, pipe, clap, tmp_path):
    in_dir, out_dir, _ = full_run
    with pytest.raises(ValueError, match="written with other settings \\(max_seconds: 2.0 -> 3.0\\)"):
        _run(pipe, clap, in_dir, out_dir, max_seconds=3.0)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "metadata.jsonl").write_text("{}\n")
    with pytest.raises(ValueError, match="not an AutoReCap output folder"):
        _run(pipe, clap, in_dir, foreign)


def test_without_clap_and_without_merging(full_run, pipe, tmp_path):
    in_dir, merged_dir, _ = full_run
    unmerged = merged_dir.with_name("unmerged")  # beside merged_dir: the same relative paths to the corpus
    report = _run(pipe, None, in_dir, unmerged, merge_captions=False)
    rows = _read(unmerged / "metadata.jsonl")
    assert all(row["clap_similarity"] is None and row["subsets"] is None for row in rows)
    assert [(row["start"], row["end"]) for row in rows if row["file"].endswith("barks.wav")] == [(0.0, 2.0), (2.0, 4.0)]
    # street.wav: subtitles cover 1.0-2.5 s; 2.5-6 s is longer than max_seconds=2, so it is cut in two
    assert [(row["start"], row["end"]) for row in rows if row["file"].endswith("street.wav")] == [
        (0.0, 1.0),
        (2.5, 4.25),
        (4.25, 6.0),
    ]
    assert report.merged == 0 and not report.subsets
    # the merged run's rows are exactly these rows merged
    key = ("file", "start", "end", "autocap_caption")
    assert [tuple(r[k] for k in key) for r in merge_identical_captions(rows)] == [
        tuple(r[k] for k in key) for r in _read(merged_dir / "metadata.jsonl")
    ]


def test_bad_arguments(full_run, pipe, tmp_path):
    in_dir, _, _ = full_run
    with pytest.raises(FileNotFoundError, match="no metadata.jsonl in"):
        _run(pipe, None, tmp_path, tmp_path / "out")
    with pytest.raises(ValueError, match="metadata key\\(s\\) \\['description'\\] are not read by this AutoCap"):
        _run(pipe, None, in_dir, tmp_path / "out", metadata_columns={"description": "caption"})
    with pytest.raises(ValueError, match="metadata column\\(s\\) \\['nope'\\] are in no row"):
        _run(pipe, None, in_dir, tmp_path / "out", metadata_columns={"title": "nope"})
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        _run(pipe, None, in_dir, tmp_path / "out", batch_size=0)


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_end_to_end_and_one_line_errors(full_run, pipe, clap, tmp_path, capsys):
    in_dir, _, _ = full_run
    pipe.save_pretrained(tmp_path / "autocap")
    clap[0].save_pretrained(tmp_path / "clap")
    clap[1].save_pretrained(tmp_path / "clap")
    args = [
        "data",
        "autorecap",
        str(in_dir),
        str(tmp_path / "out"),
        "--model",
        str(tmp_path / "autocap"),
        "--clap",
        str(tmp_path / "clap"),
        "--metadata-column",
        "title=caption",
        "--batch-size",
        "4",
        "--num-beams",
        "1",
        "--max-new-tokens",
        "30",
        "--min-seconds",
        "0.5",
        "--max-seconds",
        "2",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("9 input rows: 5 captioned, 4 skipped, 0 already done") and "subsets: XL" in out
    assert len(_read(tmp_path / "out" / "accounting.jsonl")) == 9
    assert main(args) == 0  # resumed: nothing left to do
    assert "9 already done" in capsys.readouterr().out

    cases = [
        (
            ["data", "autorecap", str(tmp_path / "nope"), str(tmp_path / "o"), "--model", str(tmp_path / "autocap")],
            "is not a folder",
        ),
        (
            ["data", "autorecap", str(in_dir), str(tmp_path / "o"), "--model", str(tmp_path / "no_model")],
            "--model '" + str(tmp_path / "no_model") + "' is neither a directory nor a Hub repo id",
        ),
        (
            [
                "data",
                "autorecap",
                str(in_dir),
                str(tmp_path / "o"),
                "--model",
                str(tmp_path / "autocap"),
                "--metadata-column",
                "title=",
            ],
            "--metadata-column must be KEY or KEY=COLUMN",
        ),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
