"""extract_embeddings: ids, failures, the per-file cache, resume after a kill, and accelerate's processes.

The extractor here is a test double of the extractor interface (frame-wise RMS and spectral centroid), not of the code
under test: it makes results depend on the audio, deterministically, and counts its ``embed`` calls.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from hf_audiogen.audio import load_audio
from hf_audiogen.evaluation import embedding_extraction
from hf_audiogen.evaluation.embedding_extraction import EmbeddingResults, extract_embeddings
from hf_audiogen.evaluation.extractors.base import AudioEmbeddingExtractor, ExtractorOutput
from hf_audiogen.validation import InvalidInputError

FRAME, HOP = 512, 256
# The corrupt file of the fixture folder is warned about on every run; the test that checks the warning catches it.
pytestmark = pytest.mark.filterwarnings("ignore:1 of 6 audio files could not be read:UserWarning")


class RmsCentroid(AudioEmbeddingExtractor):
    name = "rms-centroid"
    sampling_rate = 16000
    embedding_dim = 2
    pooling = "frame"
    num_classes = 2

    def __init__(self, fail_after: int | None = None, weights_source: str = "closed-form"):
        super().__init__()
        self.calls = 0
        self.fail_after = fail_after
        self.weights_source = weights_source
        self.register_buffer("window", torch.hann_window(FRAME))

    def embed(self, waveform: torch.Tensor) -> ExtractorOutput:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("killed in the model stage")
        assert not torch.is_grad_enabled()  # the model stage runs under inference_mode
        waveform = torch.nn.functional.pad(waveform, (0, max(0, FRAME - waveform.shape[-1])))
        frames = waveform.unfold(-1, FRAME, HOP)
        rms = frames.pow(2).mean(-1).sqrt()
        spectrum = torch.fft.rfft(frames * self.window).abs()
        freqs = torch.fft.rfftfreq(FRAME, 1 / self.sampling_rate)
        centroid = (spectrum * freqs).sum(-1) / (spectrum.sum(-1) + 1e-8) / self.sampling_rate
        return ExtractorOutput(torch.stack([rms, centroid], -1), torch.stack([rms.mean(), centroid.mean()]))


class RmsOnly(RmsCentroid):
    name = "rms-only"
    num_classes = None

    def embed(self, waveform):
        return ExtractorOutput(super().embed(waveform).embeddings[:, :1])


def tone(frequency: float, rate: int, seconds: float = 0.3, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    audio = 0.5 * np.sin(2 * np.pi * frequency * t)
    return np.stack([audio, 0.5 * audio], 1) if channels == 2 else audio


def make_folder(folder: Path) -> Path:
    (folder / "birds").mkdir(parents=True)
    sf.write(folder / "low.wav", tone(220, 16000), 16000)
    sf.write(folder / "high.flac", tone(3000, 22050), 22050)  # resampled by prepare()
    sf.write(folder / "birds" / "chirp.wav", tone(1500, 8000, channels=2), 8000)  # stereo, downmixed
    sf.write(folder / "birds" / "short.ogg", tone(800, 16000, seconds=0.02), 16000)  # shorter than one frame
    sf.write(folder / "zz_last.wav", tone(440, 16000, seconds=0.5), 16000)
    (folder / "broken.wav").write_bytes(b"RIFF not really a wave file")
    (folder / "notes.txt").write_text("not audio")
    return folder


IDS = ["birds/chirp", "birds/short", "high", "low", "zz_last"]


@pytest.fixture
def clips(tmp_path):
    return make_folder(tmp_path / "clips")


def expected_output(extractor, path):
    audio, rate = load_audio(path, mono=False)
    with torch.inference_mode():
        return extractor.embed(extractor.prepare(audio, rate))


def assert_same(a: dict, b: dict):
    assert list(a) == list(b)
    for clip_id in a:
        for name in ("embeddings", "logits"):
            x, y = a[clip_id][name], b[clip_id][name]
            assert (x is None) == (y is None)
            if x is not None:
                assert x.dtype == y.dtype == np.float32 and x.tobytes() == y.tobytes()


def test_folder_results_ids_and_failures(clips):
    extractor = RmsCentroid()
    with pytest.warns(UserWarning, match=r"1 of 6 audio files could not be read .*broken"):
        results = extract_embeddings(clips, extractor, batch_size=2, progress=False)
    assert isinstance(results, EmbeddingResults) and isinstance(results, dict)
    assert list(results) == IDS
    assert [clip_id for clip_id, _ in results.failed] == ["broken"] and "\n" not in results.failed[0][1]
    assert results.ignored == ["notes.txt"] and results.computed == 6 and results.reused == 0
    assert results.extractor["extractor"]["name"] == "rms-centroid" and "libsndfile" in results.extractor["decode"]
    assert extractor.calls == 5
    for clip_id in IDS:
        suffix = {"high": ".flac", "birds/short": ".ogg"}.get(clip_id, ".wav")
        expected = expected_output(RmsCentroid(), clips / f"{clip_id}{suffix}")
        np.testing.assert_array_equal(results[clip_id]["embeddings"], expected.embeddings.numpy())
        np.testing.assert_array_equal(results[clip_id]["logits"], expected.logits.numpy())
        assert results[clip_id]["embeddings"].dtype == np.float32 and results[clip_id]["embeddings"].shape[1] == 2
    assert results["birds/short"]["embeddings"].shape == (1, 2)
    assert results["zz_last"]["embeddings"].shape[0] > results["low"]["embeddings"].shape[0]
    assert "5 clips embedded" in results.summary()


def test_path_list_ids_are_stems_and_logits_may_be_none(clips):
    paths = [clips / "zz_last.wav", str(clips / "birds" / "chirp.wav")]
    results = extract_embeddings(paths, RmsOnly(), progress=False)
    assert list(results) == ["zz_last", "chirp"] and not results.failed
    assert results["chirp"]["logits"] is None and results["chirp"]["embeddings"].shape[1] == 1


def test_cache_reuse_and_invalidation(clips, tmp_path):
    cache = tmp_path / "cache"
    first = extract_embeddings(clips, RmsCentroid(), cache_dir=cache, progress=False)

    extractor = RmsCentroid()
    with pytest.warns(UserWarning, match="broken"):  # a cached failure is still reported
        second = extract_embeddings(clips, extractor, cache_dir=cache, progress=False)
    assert extractor.calls == 0 and second.reused == 6 and second.computed == 0
    assert_same(second, first) and second.failed == first.failed

    # Another subset of the same files: all found, whichever job computed them
    extractor = RmsCentroid()
    subset = extract_embeddings([clips / "low.wav", clips / "high.flac"], extractor, cache_dir=cache, progress=False)
    assert extractor.calls == 0 and list(subset) == ["low", "high"]

    # A changed file is recomputed, the others are not
    sf.write(clips / "low.wav", tone(5000, 16000), 16000)
    os.utime(clips / "low.wav", ns=(time.time_ns(), time.time_ns() + 10**9))
    extractor = RmsCentroid()
    third = extract_embeddings(clips, extractor, cache_dir=cache, progress=False)
    assert extractor.calls == 1 and third.reused == 5 and third.computed == 1
    assert not np.array_equal(third["low"]["embeddings"], first["low"]["embeddings"])
    assert_same({k: v for k, v in third.items() if k != "low"}, {k: v for k, v in first.items() if k != "low"})

    # Another extractor fingerprint never reads these results
    extractor = RmsCentroid(weights_source="random(seed=1)")
    extract_embeddings(clips, extractor, cache_dir=cache, progress=False)
    assert extractor.calls == 5
    assert len(list(cache.glob("rms-centroid-*"))) == 2


def test_killed_extraction_resumes_to_identical_results(clips, tmp_path, monkeypatch):
    monkeypatch.setattr(embedding_extraction, "SHARD_SIZE", 2)  # 3 shards for 6 files
    uninterrupted = extract_embeddings(clips, RmsCentroid(), batch_size=1, progress=False)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        extract_embeddings(clips, RmsCentroid(fail_after=2), cache_dir=cache, batch_size=1, progress=False)
    # Shard 0 (birds/chirp, birds/short) is complete; shard 1 (broken, high) died at high's embed: not complete.
    assert len(list(cache.glob("*/job-*/shard-*.json"))) == 1
    extractor = RmsCentroid()
    resumed = extract_embeddings(clips, extractor, cache_dir=cache, batch_size=1, progress=False)
    assert extractor.calls == 3 and resumed.reused == 2 and resumed.computed == 4
    assert_same(resumed, uninterrupted) and resumed.failed == uninterrupted.failed


def test_without_cache_dir_nothing_is_left_behind(clips, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    extract_embeddings([clips / "low.wav"], RmsCentroid(), progress=False)
    assert not list(scratch.iterdir())


def test_progress_on_and_off(clips, capsys):
    extract_embeddings([clips / "low.wav"], RmsCentroid(), progress=False)
    assert "rms-centroid" not in capsys.readouterr().err
    extract_embeddings([clips / "low.wav"], RmsCentroid(), progress=True)
    assert "rms-centroid embeddings" in capsys.readouterr().err


def test_several_processes_need_a_shared_cache(clips, monkeypatch):
    monkeypatch.setattr(embedding_extraction, "resolve_processes", lambda index, count: (0, 2))
    with pytest.raises(InvalidInputError, match="cache_dir"):
        extract_embeddings(clips, RmsCentroid(), progress=False)


@pytest.mark.parametrize(
    "make_sources, kwargs, match",
    [
        (lambda d: d / "missing", {}, "not found"),
        (lambda d: d / "low.wav", {}, "is a file"),
        (lambda d: [], {}, "empty"),
        (lambda d: [d / "low.wav", d / "nope.wav"], {}, r"sources\[1\]"),
        (lambda d: [d / "low.wav", 3], {}, r"sources\[1\]"),
        (lambda d: [d / "low.wav", d / "birds" / "low.wav"], {}, "both give the clip id 'low'"),
        (lambda d: d / "birds" / "empty", {}, "no audio files"),
        (lambda d: 42, {}, "sources"),
        (lambda d: d, {"batch_size": 0}, "batch_size"),
        (lambda d: d, {"batch_size": 10**6}, "batch_size"),
        (lambda d: d, {"extractor": object()}, "AudioEmbeddingExtractor"),
    ],
)
def test_bad_input(clips, make_sources, kwargs, match):
    shutil.copy(clips / "low.wav", clips / "birds" / "low.wav")
    (clips / "birds" / "empty").mkdir()
    (clips / "birds" / "empty" / "readme.md").write_text("x")
    kwargs = {"extractor": RmsCentroid(), "progress": False, **kwargs}
    with pytest.raises(InvalidInputError, match=match) as error:
        extract_embeddings(make_sources(clips), kwargs.pop("extractor"), **kwargs)
    assert "\n" not in str(error.value)


def test_same_stem_in_a_folder_is_refused(clips):
    sf.write(clips / "low.flac", tone(220, 16000), 16000)
    with pytest.raises(InvalidInputError, match="both give the clip id 'low'"):
        extract_embeddings(clips, RmsCentroid(), progress=False)


LAUNCHED = """
import json, sys
sys.path.insert(0, {tests!r})
from accelerate import PartialState
from hf_audiogen.evaluation import embedding_extraction
from test_embedding_extraction import RmsCentroid

embedding_extraction.SHARD_SIZE = 2  # 3 shards: both processes get work
results = embedding_extraction.extract_embeddings({clips!r}, RmsCentroid(), cache_dir={cache!r}, batch_size=1, progress=False)
rank = PartialState().process_index
with open({out!r} + f"/rank{{rank}}.json", "w") as handle:
    json.dump({{"ids": list(results), "failed": results.failed, "world": PartialState().num_processes,
               "embeddings": {{k: v["embeddings"].tolist() for k, v in results.items()}}}}, handle)
"""


def test_accelerate_launch_two_processes(clips, tmp_path):
    """Two CPU processes under ``accelerate launch`` (about 20-30 s here, mostly two interpreters importing torch)."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    out.mkdir()
    script = tmp_path / "launched.py"
    tests = str(Path(__file__).parent)
    script.write_text(LAUNCHED.format(tests=tests, clips=str(clips), cache=str(cache), out=str(out)))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    with socket.socket() as probe:  # a free local port for the two processes' rendezvous
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    command += ["--main_process_port", port, str(script)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert ranks[0] == ranks[1] and ranks[0]["world"] == 2
    single = extract_embeddings(clips, RmsCentroid(), progress=False)
    assert ranks[0]["ids"] == list(single) and [tuple(f) for f in ranks[0]["failed"]] == single.failed
    for clip_id, rows in ranks[0]["embeddings"].items():
        assert np.array_equal(np.asarray(rows, dtype=np.float32), single[clip_id]["embeddings"])
    shards = sorted(cache.glob("*/job-*/shard-*.json"))
    assert len(shards) == 3  # written by process 0 (shards 0, 2) and process 1 (shard 1), each once
