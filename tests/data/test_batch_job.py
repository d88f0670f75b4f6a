"""The batch-job interface: shards, exact resume after a kill, fingerprints, failure accounting, process sharding."""

import hashlib
import json

import numpy as np
import pytest

from hf_audiogen.data.pipelines import BatchJob, load_results
from hf_audiogen.data.pipelines.batch_job import shard_paths
from hf_audiogen.validation import InvalidInputError

ITEMS = [(f"clip-{index:02d}", f"source-{index:02d}") for index in range(11)]
FINGERPRINT = {"job": "test", "version": 1}


def read_decode(source: str) -> np.ndarray:
    if source.endswith("-04") or source.endswith("-09"):
        raise ValueError(f"cannot decode {source}\nsecond line of the reason")
    seed = int(hashlib.sha256(source.encode()).hexdigest()[:8], 16)  # per item, not per call order
    return np.random.default_rng(seed).standard_normal((1 + seed % 5, 3)).astype(np.float32)


class Model:
    """Every value type the interface stores; ``fail_on_call`` simulates a run killed in the model stage."""

    def __init__(self, fail_on_call: int | None = None):
        self.calls = 0
        self.fail_on_call = fail_on_call

    def __call__(self, batch):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt("killed")
        return [
            {
                "frames": x,
                "mean": x.mean(axis=0).astype(np.float64),
                "peak": np.float32(np.abs(x).max()),
                "count": len(x),
                "label": "loud" if np.abs(x).max() > 2 else "quiet",
                "nothing": None,
                "flags": x > 0,
            }
            for x in batch
        ]


def make_job(model=None, **kwargs):
    kwargs = {"batch_size": 2, "shard_size": 3, **kwargs}
    return BatchJob(read_decode, model or Model(), FINGERPRINT, **kwargs)


def run(job, out, **kwargs):
    kwargs = {"process_index": 0, "num_processes": 1, "progress": False, **kwargs}
    return job.run(ITEMS, out, **kwargs)


def assert_identical(a, b):
    assert list(a.results) == list(b.results)
    for item_id, fields in a.results.items():
        other = b.results[item_id]
        assert list(fields) == list(other)
        for name, value in fields.items():
            if isinstance(value, np.ndarray):
                assert value.dtype == other[name].dtype and value.shape == other[name].shape
                assert value.tobytes() == other[name].tobytes()
            else:
                assert type(value) is type(other[name]) and value == other[name]
    assert a.failed == b.failed and a.missing == b.missing


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    report = run(make_job(), out)
    return out, report, load_results(out)


def test_shards_results_and_accounting(reference):
    out, report, results = reference
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"] + [
        f"shard-{s:05d}.{ext}" for s in range(4) for ext in ("json", "safetensors")
    ]
    assert (report.shards, report.shards_written, report.shards_reused) == (4, 4, 0)
    assert report.written == 9 and report.reused == 0 and report.seconds > 0
    assert [item_id for item_id, _ in report.failed] == ["clip-04", "clip-09"]
    for _, reason in report.failed:
        assert reason.startswith("ValueError: cannot decode") and "\n" not in reason
    assert results.complete and results.failed == report.failed
    assert list(results.results) == [item_id for item_id, _ in ITEMS if item_id not in ("clip-04", "clip-09")]
    fields = results.results["clip-00"]
    x = read_decode("source-00")
    np.testing.assert_array_equal(fields["frames"], x)
    assert fields["mean"].dtype == np.float64 and fields["peak"].shape == () and fields["peak"].dtype == np.float32
    assert fields["count"] == len(x) and fields["label"] in ("loud", "quiet") and fields["nothing"] is None
    assert fields["flags"].dtype == bool
    assert "0 reused" in report.summary()


def test_killed_run_resumes_to_identical_results(tmp_path, reference):
    reference_dir, _, expected = reference
    out = tmp_path / "out"
    # Shard 0 takes 2 model calls, shard 1 two (clip-04 fails to decode): the 4th call dies inside shard 1.
    with pytest.raises(KeyboardInterrupt):
        run(make_job(Model(fail_on_call=4)), out)
    assert sorted(p.name for p in out.glob("shard-*.json")) == ["shard-00000.json"]
    # What a kill -9 at the worst moments leaves: the tensors of a shard without its sidecar, and a temporary file.
    tensors, _ = shard_paths(out, 1)
    tensors.write_bytes(b"half a shard")
    (out / ".shard-00002.safetensors.999.tmp").write_bytes(b"garbage")
    partial = load_results(out)
    assert len(partial.results) == 3 and partial.missing == [item_id for item_id, _ in ITEMS[3:]]

    model = Model()
    report = run(make_job(model), out)
    assert (report.shards_reused, report.shards_written, report.reused, report.written) == (1, 3, 3, 6)
    assert model.calls == 5  # only the incomplete shards went through the model again
    assert not list(out.glob(".*.tmp"))
    assert_identical(load_results(out), expected)
    for shard in range(4):  # the files too, byte for byte
        assert shard_paths(out, shard)[0].read_bytes() == shard_paths(reference_dir, shard)[0].read_bytes()

    again = Model()
    report = run(make_job(again), out)
    assert again.calls == 0 and report.reused == 9 and report.written == 0 and len(report.failed) == 2


def test_two_processes_merge_to_the_single_process_result(tmp_path, reference):
    _, _, expected = reference
    out = tmp_path / "out"
    first = run(make_job(), out, process_index=0, num_processes=2)
    assert first.shards == 2 and first.written + len(first.failed) == 6  # shards 0 and 2
    halfway = load_results(out)
    assert not halfway.complete and halfway.missing == [item_id for item_id, _ in ITEMS[3:6] + ITEMS[9:]]
    second = run(make_job(), out, process_index=1, num_processes=2)
    assert second.shards == 2 and second.written + len(second.failed) == 5
    assert_identical(load_results(out), expected)


def test_another_job_in_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "out"
    run(make_job(), out)
    with pytest.raises(InvalidInputError, match="'version'"):
        BatchJob(read_decode, Model(), {"job": "test", "version": 2}, shard_size=3).run(
            ITEMS, out, process_index=0, num_processes=1, progress=False
        )
    with pytest.raises(InvalidInputError, match="shard_size"):
        run(make_job(shard_size=4), out)
    with pytest.raises(InvalidInputError, match="item list"):
        make_job().run(ITEMS[:-1], out, process_index=0, num_processes=1, progress=False)
    with pytest.raises(InvalidInputError, match="item list"):
        make_job().run(ITEMS[:-1] + [("clip-10", "other")], out, process_index=0, num_processes=1, progress=False)
    # batch_size is not part of a job's identity: the same job with another batch size resumes
    assert run(make_job(batch_size=5), out).reused == 9


def test_tuples_in_fingerprint_compare_equal_after_storage(tmp_path):
    job = BatchJob(read_decode, Model(), {"shape": (1, 2)}, shard_size=3)
    job.run(ITEMS, tmp_path, process_index=0, num_processes=1, progress=False)
    assert job.run(ITEMS, tmp_path, process_index=0, num_processes=1, progress=False).reused == 9
    assert load_results(tmp_path).fingerprint == {"shape": [1, 2]}


def test_corrupted_shard_is_reported(tmp_path):
    run(make_job(), tmp_path)
    tensors, _ = shard_paths(tmp_path, 2)
    data = bytearray(tensors.read_bytes())
    data[-1] ^= 0xFF
    tensors.write_bytes(bytes(data))
    with pytest.raises(InvalidInputError, match="checksum"):
        load_results(tmp_path)


def test_progress_bar_on_and_off(tmp_path, capsys):
    run(make_job(), tmp_path / "quiet", progress=False)
    assert "batch job" not in capsys.readouterr().err
    run(make_job(), tmp_path / "loud", progress=True, description="square job")
    err = capsys.readouterr().err
    assert "square job" in err and "11/11" in err
    run(make_job(), tmp_path / "other", process_index=1, num_processes=2, progress=True, description="second")
    assert "second" not in capsys.readouterr().err  # one bar per machine: process 0's


def test_accelerate_state_is_used_without_explicit_processes(tmp_path):
    report = make_job().run(ITEMS, tmp_path, progress=False)  # a plain process: 0 of 1
    assert (report.process_index, report.num_processes) == (0, 1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 10**6}, "batch_size"),
        ({"shard_size": 0}, "shard_size"),
        ({"shard_size": True}, "shard_size"),
        ({"read_decode": "not callable"}, "read_decode"),
        ({"fingerprint": {"object": object()}}, "fingerprint"),
        ({"fingerprint": {"nan": float("nan")}}, "fingerprint"),
        ({"fingerprint": ["not", "a", "dict"]}, "fingerprint"),
    ],
)
def test_bad_job_settings(kwargs, match):
    settings = {"read_decode": read_decode, "model": Model(), "fingerprint": FINGERPRINT, **kwargs}
    with pytest.raises(InvalidInputError, match=match) as error:
        BatchJob(**settings)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "items, run_kwargs, match",
    [
        ([], {}, "at least one"),
        ([("a", "x"), ("a", "y")], {}, "twice"),
        ([("a", "x", "extra")], {}, "pair"),
        ([(3, "x")], {}, "id"),
        ([("", "x")], {}, "id"),
        ([("a", object())], {}, "source"),
        ([("a", "x")], {"process_index": 0, "num_processes": None}, "both"),
        ([("a", "x")], {"process_index": 2, "num_processes": 2}, "process_index"),
        ([("a", "x")], {"process_index": 0, "num_processes": 0}, "num_processes"),
    ],
)
def test_bad_items_and_processes(tmp_path, items, run_kwargs, match):
    kwargs = {"process_index": 0, "num_processes": 1, "progress": False, **run_kwargs}
    with pytest.raises(InvalidInputError, match=match) as error:
        make_job().run(items, tmp_path / "out", **kwargs)
    assert "\n" not in str(error.value)


def test_bad_output_folders(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(InvalidInputError, match="is a file"):
        run(make_job(), a_file)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "shard-00000.json").write_text("{}")
    with pytest.raises(InvalidInputError, match="no manifest"):
        run(make_job(), foreign)
    (foreign / "manifest.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InvalidInputError, match="not a batch-job manifest"):
        run(make_job(), foreign)
    with pytest.raises(InvalidInputError, match="not a batch-job output folder"):
        load_results(foreign)


@pytest.mark.parametrize(
    "model, match",
    [
        (lambda batch: [{"x": np.zeros(2)}], "one dict per item"),  # too few outputs
        (lambda batch: [np.zeros(2) for _ in batch], "one dict per item"),
        (lambda batch: [{"x": np.array(["text"])} for _ in batch], "dtype"),
        (lambda batch: [{"x": [1, 2]} for _ in batch], "list"),
        (lambda batch: [{1: np.zeros(2)} for _ in batch], "field named"),
    ],
)
def test_bad_model_outputs(tmp_path, model, match):
    with pytest.raises(InvalidInputError, match=match) as error:
        BatchJob(read_decode, model, FINGERPRINT, batch_size=2, shard_size=3).run(
            ITEMS, tmp_path, process_index=0, num_processes=1, progress=False
        )
    assert "\n" not in str(error.value)
    assert not list(tmp_path.glob("shard-*.json"))  # nothing half-checked counts as done
