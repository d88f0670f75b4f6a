"""The Ray Data engine gives what the in-process engine gives: the same shard files, results, failures and resume.

One local Ray cluster (2 CPUs, on 127.0.0.1) serves the module. Each job runs once in-process and once on Ray on the
fixture clips (tests/fixtures/audio, plus a broken file), and the outputs are compared byte for byte: embedding
extraction, codec tokenisation, caption enrichment (template mode) and AutoReCap (a tiny untrained AutoCap and CLAP:
the captions are nonsense, and the same on both engines) are the package's batch jobs.
"""

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

# Ray turns 127.0.0.1 into this machine's network address (so that other nodes could join) unless this is off:
# with it, the cluster binds and announces the loopback address only. Read when ray is imported.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
pytest.importorskip("ray.data", reason="the Ray engine needs the ray extra: pip install 'hf_audiogen[ray]'")
import ray  # noqa: E402

from hf_audiogen.autocap import AutoCapPipeline  # noqa: E402
from hf_audiogen.data.autorecap import recaption  # noqa: E402
from hf_audiogen.data.pipelines import BatchJob, load_results  # noqa: E402
from hf_audiogen.data.pipelines.batch_job import prepare_output, shard_paths  # noqa: E402
from hf_audiogen.data.pipelines.caption_enrichment import enrich_captions, load_enriched  # noqa: E402
from hf_audiogen.data.pipelines.ray_engine import RayEngine  # noqa: E402
from hf_audiogen.evaluation.embedding_extraction import extract_embeddings  # noqa: E402
from hf_audiogen.evaluation.extractors.base import AudioEmbeddingExtractor, ExtractorOutput  # noqa: E402
from hf_audiogen.training.audiogen_data import read_shard_info, tokenize_audio_files  # noqa: E402
from hf_audiogen.validation import InvalidInputError  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "audio"
# The fixture folder's broken file is warned about by extract_embeddings on both engines.
pytestmark = pytest.mark.filterwarnings("ignore:1 of 6 audio files could not be read:UserWarning")


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    """A local cluster: 2 CPUs, no dashboard, on the loopback address (nothing is reachable from outside)."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import this test module
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """The 5 fixture clips (real recordings, 0.3 to 2 s) and a file that is not audio."""
    folder = tmp_path_factory.mktemp("clips")
    for path in sorted(FIXTURES.glob("*.flac")):
        shutil.copy(path, folder / path.name)
    (folder / "broken.wav").write_bytes(b"RIFF not really a wave file")
    return folder


def assert_same_files(a: Path, b: Path, skip=("seconds",)):
    """Every file under ``a`` is under ``b`` with the same bytes; JSON files equal but for timing fields."""
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert names
    for name in names:
        if name.suffix == ".json":
            left, right = (json.loads((root / name).read_text()) for root in (a, b))
            if isinstance(left, dict):
                left, right = ({k: v for k, v in d.items() if k not in skip} for d in (left, right))
            assert left == right, name
        else:
            assert (a / name).read_bytes() == (b / name).read_bytes(), name


# ------------------------------------------------------------------------------------------------ a generic job
ITEMS = [(f"clip-{index:02d}", f"source-{index:02d}") for index in range(11)]


def read_decode(source: str) -> np.ndarray:
    if source.endswith(("-04", "-09")):
        raise ValueError(f"cannot decode {source}")
    seed = int(source[-2:])
    return np.random.default_rng(seed).standard_normal((1 + seed % 5, 3)).astype(np.float32)


class Model:
    """Batch-dependent on purpose (each output holds its batch's size), so that other batching would show."""

    def __init__(self, fail_on_call=None):
        self.calls, self.fail_on_call = 0, fail_on_call

    def __call__(self, batch):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt("killed")
        return [{"x": x, "mean": x.mean(axis=0), "batch": len(batch), "label": f"{x.shape[0]} rows"} for x in batch]


class Broken:
    def __call__(self, batch):
        raise ValueError("the model stage broke")


def make_job(model=None):
    return BatchJob(read_decode, model or Model(), {"job": "ray-test"}, batch_size=2, shard_size=3)


def run(job, out, engine):
    return job.run(ITEMS, out, process_index=0, num_processes=1, progress=False, engine=engine)


def test_generic_job_same_shards_results_and_failures(tmp_path):
    local, on_ray = run(make_job(), tmp_path / "local", "local"), run(make_job(), tmp_path / "ray", "ray")
    for name in ("shards", "shards_written", "shards_reused", "written", "reused", "failed"):
        assert getattr(local, name) == getattr(on_ray, name), name
    assert [item_id for item_id, _ in on_ray.failed] == ["clip-04", "clip-09"]
    assert_same_files(tmp_path / "local", tmp_path / "ray")
    assert load_results(tmp_path / "ray").results["clip-05"]["batch"] == 1  # clip-04 failed: a batch of one


def test_resume_on_ray_after_a_killed_run(tmp_path):
    reference = tmp_path / "reference"
    run(make_job(), reference, "local")
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run(make_job(Model(fail_on_call=4)), out, "local")  # dies inside shard 1: shard 0 is complete
    shard_paths(out, 1)[0].write_bytes(b"half a shard")  # what a kill between the two files of a shard leaves
    report = run(make_job(), out, RayEngine(model_workers=2, model_cpus=0.5))  # 1 CPU left for decoding
    assert (report.shards_reused, report.shards_written, report.reused, report.written) == (1, 3, 3, 6)
    assert [item_id for item_id, _ in report.failed] == ["clip-04", "clip-09"]
    assert_same_files(reference, out)
    again = run(make_job(), out, "ray")
    assert again.reused == 9 and again.written == 0 and again.shards_written == 0


def test_a_model_error_stops_the_ray_job_and_keeps_the_folder_resumable(tmp_path):
    with pytest.raises(ValueError, match="the model stage broke"):
        run(make_job(Broken()), tmp_path, "ray")
    assert not list(tmp_path.glob("shard-*.json"))
    assert run(make_job(), tmp_path, "ray").written == 9


def test_a_pool_that_leaves_no_cpu_for_decoding_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="need 3 CPUs; the Ray cluster has 2"):
        run(make_job(), tmp_path, RayEngine(model_workers=2))


def test_decoding_is_a_stage_of_its_own(tmp_path, capsys):
    job = make_job()
    plan = prepare_output(tmp_path, job.fingerprint, ITEMS, job.shard_size)
    dataset, expected = RayEngine().pipeline(job, plan, range(plan.num_shards))
    assert expected == {0: 2, 1: 2, 2: 2, 3: 1}  # model batches per shard, as in-process
    dataset.explain()
    optimized = capsys.readouterr().out.split("Physical Plan (Optimized)")[1]
    assert "TaskPoolMapOperator[Map(_decode_row)]" in optimized
    assert "ActorPoolMapOperator[MapBatches(_ModelWorker)]" in optimized  # not fused with the decoding


# ------------------------------------------------------------------------------------------------ the package's jobs
class RmsCentroid(AudioEmbeddingExtractor):
    """A closed-form extractor: frame RMS and spectral centroid (as tests/evaluation/test_embedding_extraction.py)."""

    name = "rms-centroid"
    sampling_rate = 16000
    embedding_dim = 2
    pooling = "frame"
    num_classes = 2

    def __init__(self):
        super().__init__()
        self.register_buffer("window", torch.hann_window(512))

    def embed(self, waveform):
        frames = torch.nn.functional.pad(waveform, (0, max(0, 512 - waveform.shape[-1]))).unfold(-1, 512, 256)
        rms = frames.pow(2).mean(-1).sqrt()
        spectrum = torch.fft.rfft(frames * self.window).abs()
        centroid = (spectrum * torch.fft.rfftfreq(512, 1 / 16000)).sum(-1) / (spectrum.sum(-1) + 1e-8) / 16000
        return ExtractorOutput(torch.stack([rms, centroid], -1), torch.stack([rms.mean(), centroid.mean()]))


def test_embedding_extraction(clips, tmp_path):
    local = extract_embeddings(clips, RmsCentroid(), cache_dir=tmp_path / "local", batch_size=2, progress=False)
    on_ray = extract_embeddings(
        clips, RmsCentroid(), cache_dir=tmp_path / "ray", batch_size=2, progress=False, engine="ray"
    )
    assert list(local) == list(on_ray) == ["cow_moo", "dog_bark", "explosion", "snow_footsteps", "water_flowing"]
    for clip_id in local:
        for name in ("embeddings", "logits"):
            assert local[clip_id][name].tobytes() == on_ray[clip_id][name].tobytes()
    assert local.failed == on_ray.failed and [clip_id for clip_id, _ in on_ray.failed] == ["broken"]
    assert on_ray.computed == 6 and on_ray.reused == 0
    assert_same_files(tmp_path / "local", tmp_path / "ray")
    # the Ray run's cache serves an in-process rerun
    assert extract_embeddings(clips, RmsCentroid(), cache_dir=tmp_path / "ray", progress=False).reused == 6


def test_codec_tokenisation(clips, tmp_path):
    from factories import tiny_codec_model

    codec = tiny_codec_model()
    files = [(path.name, path, f"caption of {path.stem}") for path in sorted(clips.iterdir())]
    options = dict(batch_size=2, shard_size=3, codec_name="tiny", progress=False)
    local = tokenize_audio_files(files, codec, tmp_path / "local", "train", **options)
    on_ray = tokenize_audio_files(files, codec, tmp_path / "ray", "train", engine="ray", **options)
    assert (
        local == on_ray and on_ray["clips"] == 5 and on_ray["shards"] == ["train-00000.parquet", "train-00001.parquet"]
    )
    assert [clip_id for clip_id, _ in on_ray["failed"]] == ["broken.wav"]
    assert read_shard_info(tmp_path / "ray") == read_shard_info(tmp_path / "local")
    assert_same_files(tmp_path / "local", tmp_path / "ray")  # parquet shards and the codes' safetensors alike


def test_caption_enrichment_template(tmp_path):
    rows = [json.loads(line) for line in (FIXTURES / "metadata.jsonl").read_text().splitlines()]
    lines = [{"id": row["file"], "labels": [row["source"], row["caption"]]} for row in rows]
    lines.append({"id": "no-labels", "labels": []})
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    options = dict(template=True, batch_size=2, shard_size=4, progress=False)
    local = enrich_captions(tmp_path / "in.jsonl", tmp_path / "local", **options)
    on_ray = enrich_captions(tmp_path / "in.jsonl", tmp_path / "ray", engine="ray", **options)
    assert local.as_dict() == on_ray.as_dict() and on_ray.enriched + on_ray.rejected == 5 and on_ray.skipped == 1
    assert load_enriched(tmp_path / "local") == load_enriched(tmp_path / "ray")
    assert_same_files(tmp_path / "local", tmp_path / "ray")


def test_autorecap(clips, tmp_path):
    from factories import tiny_autocap_model, tiny_autocap_processor, tiny_clap_scorer

    corpus = tmp_path / "corpus"
    shutil.copytree(clips, corpus)
    rows = [json.loads(line) for line in (FIXTURES / "metadata.jsonl").read_text().splitlines()]
    rows.append({"file": "broken.wav", "caption": "not audio"})
    (corpus / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    pipe = AutoCapPipeline(model=tiny_autocap_model(), processor=tiny_autocap_processor(), device="cpu")
    options = dict(
        clap=tiny_clap_scorer(),
        metadata_columns={"title": "caption"},
        batch_size=2,
        num_beams=1,
        max_new_tokens=8,
        min_seconds=0.5,
        max_seconds=1.0,
        progress_bar=False,
    )
    local = recaption(corpus, tmp_path / "local", pipe, **options)
    on_ray = recaption(corpus, tmp_path / "ray", pipe, engine="ray", **options)
    counts = ("rows", "captioned_rows", "skipped_rows", "segments", "merged", "skipped_segments", "reasons", "subsets")
    assert [getattr(local, name) for name in counts] == [getattr(on_ray, name) for name in counts]
    assert on_ray.rows == 6 and on_ray.skipped_rows == 2  # snow_footsteps is too short, broken.wav unreadable
    for name in ("metadata.jsonl", "accounting.jsonl", "autorecap_config.json"):
        assert (tmp_path / "local" / name).read_text() == (tmp_path / "ray" / name).read_text()
    assert not list((tmp_path / "ray" / "batch_job").iterdir())  # the job's state is gone once exported
