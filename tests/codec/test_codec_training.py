"""Tests of the shared training modules (hf_audiogen.training) and of the codec training loop."""

import argparse
import math

import pytest
import torch

from hf_audiogen.training.arguments import add_common_training_args, check_common_training_args
from hf_audiogen.training.checkpointing import (
    TrainingState,
    checkpoint_step,
    list_checkpoints,
    resolve_resume_checkpoint,
    rotate_checkpoints,
    write_manifest,
)
from hf_audiogen.training.progress import RunningMeans
from hf_audiogen.training.schedules import get_lr_scheduler


# ----------------------------------------------------------------------------------------------- shared modules
def _make_checkpoints(root, steps):
    for step in steps:
        (root / f"checkpoint-{step}").mkdir(parents=True)
        write_manifest(root / f"checkpoint-{step}", step)  # complete (an empty one, for naming and rotation)
    (root / "checkpoint-final-notes").mkdir()  # not a checkpoint: must be ignored
    (root / "logs").mkdir()


def test_checkpoints_are_listed_by_step_and_rotated(tmp_path):
    _make_checkpoints(tmp_path, [100, 20, 3])
    assert [checkpoint_step(p) for p in list_checkpoints(tmp_path)] == [3, 20, 100]
    removed = rotate_checkpoints(tmp_path, 2)
    assert [p.name for p in removed] == ["checkpoint-3"]
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-20", "checkpoint-100"]
    assert rotate_checkpoints(tmp_path, None) == []
    with pytest.raises(ValueError, match="checkpoints_total_limit"):
        rotate_checkpoints(tmp_path, 0)


def test_resolve_resume_checkpoint(tmp_path):
    assert resolve_resume_checkpoint(tmp_path, None) is None
    assert resolve_resume_checkpoint(tmp_path, "latest") is None  # nothing yet: a relaunched job starts fresh
    _make_checkpoints(tmp_path, [5, 10])
    assert resolve_resume_checkpoint(tmp_path, "latest").name == "checkpoint-10"
    assert resolve_resume_checkpoint(tmp_path, "checkpoint-5") == tmp_path / "checkpoint-5"
    assert resolve_resume_checkpoint(tmp_path, str(tmp_path / "checkpoint-5")) == tmp_path / "checkpoint-5"
    with pytest.raises(ValueError, match="no such checkpoint"):
        resolve_resume_checkpoint(tmp_path, "checkpoint-7")
    with pytest.raises(ValueError, match="not a checkpoint directory"):
        resolve_resume_checkpoint(tmp_path, str(tmp_path / "logs"))


def test_training_state_round_trip():
    state = TrainingState(global_step=7, epoch=2, batches_in_epoch=3)
    restored = TrainingState()
    restored.load_state_dict(state.state_dict())
    assert restored == state


def test_lr_schedules():
    def lrs(name, steps, **kwargs):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        scheduler = get_lr_scheduler(name, optimizer, **kwargs)
        return [scheduler.lr_lambdas[0](s) for s in steps]

    assert lrs("constant", [0, 100]) == [1.0, 1.0]
    assert lrs("inverse_sqrt", [0, 5, 10, 40], num_warmup_steps=10) == pytest.approx([0.0, 0.5, 1.0, 0.5])
    assert lrs("cosine", [0, 10, 60, 110], num_warmup_steps=10, num_training_steps=110, min_lr_ratio=0.3) == (
        pytest.approx([0.0, 1.0, 0.65, 0.3])
    )
    with pytest.raises(ValueError, match="unknown lr schedule"):
        lrs("linear-ish", [0])
    with pytest.raises(ValueError, match="num_warmup_steps > 0"):
        lrs("inverse_sqrt", [0])
    with pytest.raises(ValueError, match="num_training_steps > num_warmup_steps"):
        lrs("cosine", [0], num_warmup_steps=10, num_training_steps=5)


def test_common_arguments():
    parser = add_common_training_args(argparse.ArgumentParser())
    args = parser.parse_args(["--output_dir", "out", "--max_train_steps", "3", "--checkpoints_total_limit", "2"])
    assert (args.train_batch_size, args.gradient_accumulation_steps, args.checkpoints_total_limit) == (8, 1, 2)
    check_common_training_args(args)
    with pytest.raises(SystemExit):
        parser.parse_args(["--output_dir", "out", "--max_train_steps", "0"])
    args.lr_scheduler, args.lr_warmup_steps = "inverse_sqrt", 0
    with pytest.raises(ValueError, match="inverse_sqrt needs --lr_warmup_steps"):
        check_common_training_args(args)


def test_running_means():
    means = RunningMeans()
    means.update({"a": 1.0, "b": 4.0})
    means.update({"a": 3.0})
    assert means.pop() == {"a": 2.0, "b": 4.0}
    assert means.pop() == {}


# ----------------------------------------------------------------------------------------------- codec training loop
from pathlib import Path  # noqa: E402

from hf_audiogen.codec import CodecFeatureExtractor, CodecModel  # noqa: E402
from hf_audiogen.codec.discriminator import MultiScaleSTFTDiscriminator  # noqa: E402
from hf_audiogen.training.codec import evaluate_codec, load_eval_clips, main, parse_args  # noqa: E402
from hf_audiogen.training.progress import read_metrics  # noqa: E402

from factories import tiny_codec_config  # noqa: E402

FIXTURES = Path(__file__).parents[1] / "fixtures" / "audio"  # 4 train clips, 1 validation clip (real sounds)


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    # The runs below use --num_threads 1 (two threads on two cores shared with other jobs made each step ~8x slower);
    # torch's thread count is process-wide, so give the other tests of this session their setting back.
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_config_path(tmp_path):
    path = tmp_path / "tiny_codec.json"
    tiny_codec_config().to_json_file(path)
    return str(path)


def _train(config_path, output_dir, *extra):
    argv = [
        "--dataset",
        str(FIXTURES),
        "--config",
        config_path,
        "--output_dir",
        str(output_dir),
        "--train_batch_size",
        "2",
        "--segment_seconds",
        "0.2",
        "--discriminator_filters",
        "2",
        "--num_audio_samples",
        "1",
        "--logging_steps",
        "1",
        "--seed",
        "3",
        "--num_threads",
        "1",
        *extra,
    ]
    return main(argv)


def _state(model):
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


def test_short_run_saves_checkpoints_samples_and_a_loadable_codec(tiny_config_path, tmp_path):
    out = tmp_path / "run"
    result = _train(
        tiny_config_path,
        out,
        "--max_train_steps",
        "2",
        "--checkpointing_steps",
        "1",
        "--checkpoints_total_limit",
        "1",
        "--eval_steps",
        "2",
        "--gradient_accumulation_steps",
        "2",
        "--adversarial_start_step",
        "1",
    )
    assert result.global_step == 2
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]  # rotation kept 1
    assert (out / "checkpoint-2" / "codec" / "model.safetensors").is_file()
    assert (out / "checkpoint-2" / "discriminator" / "config.json").is_file()
    assert (out / "samples" / "step-2" / "clip_0.wav").is_file() and (out / "samples" / "reference").is_dir()
    metrics = read_metrics(out)
    assert [m["step"] for m in metrics if "l1" in m] == [1, 2]
    assert "discriminator" not in metrics[0] and "discriminator" in metrics[1]  # adversarial from step 1 on
    assert all(math.isfinite(m[k]) for m in metrics for k in m if isinstance(m[k], float))
    codec = CodecModel.from_pretrained(out)
    assert codec.quantizer.is_initialized
    assert CodecFeatureExtractor.from_pretrained(out).sampling_rate == 16000
    MultiScaleSTFTDiscriminator.from_pretrained(out / "discriminator")
    assert result.evaluation.num_clips == 1 and math.isfinite(result.evaluation.si_snr)


def test_resume_is_exact(tiny_config_path, tmp_path):
    # 4 train clips / batch 2 = 2 steps per epoch: resuming from step 1 restarts mid-epoch 0 and then crosses into
    # epoch 1; the discriminator starts at step 1, so its optimizer and the balancer are resumed too.
    common = (
        "--checkpointing_steps",
        "1",
        "--eval_steps",
        "100",
        "--adversarial_start_step",
        "1",
        "--num_audio_samples",
        "0",
    )
    _train(tiny_config_path, tmp_path / "straight", "--max_train_steps", "3", *common)
    _train(tiny_config_path, tmp_path / "resumed", "--max_train_steps", "1", *common)
    result = _train(
        tiny_config_path,
        tmp_path / "resumed",
        "--max_train_steps",
        "3",
        "--resume_from_checkpoint",
        "checkpoint-1",
        *common,
    )
    assert result.global_step == 3
    steps = [m["step"] for m in read_metrics(tmp_path / "resumed") if "l1" in m]
    assert steps == [1, 2, 3]  # the resumed run continued at step 2
    for sub in ("", "discriminator"):
        model_cls = MultiScaleSTFTDiscriminator if sub else CodecModel
        straight = _state(model_cls.from_pretrained(tmp_path / "straight" / sub))
        resumed = _state(model_cls.from_pretrained(tmp_path / "resumed" / sub))
        assert straight.keys() == resumed.keys()
        for name in straight:
            assert torch.equal(straight[name], resumed[name]), f"{sub or 'codec'} {name} differs after resume"


def test_time_budget_stops_at_a_step_boundary_and_saves(tiny_config_path, tmp_path):
    out = tmp_path / "run"
    result = _train(
        tiny_config_path,
        out,
        "--max_train_steps",
        "100",
        "--max_train_minutes",
        "1e-6",
        "--checkpointing_steps",
        "50",
        "--eval_steps",
        "50",
        "--num_audio_samples",
        "0",
    )
    assert result.global_step == 1
    assert [p.name for p in out.glob("checkpoint-*")] == ["checkpoint-1"]  # resumable where it stopped
    assert (out / "model.safetensors").is_file() and result.evaluation is not None


def test_bad_options_raise_before_training(tiny_config_path, tmp_path):
    base = ["--dataset", str(FIXTURES), "--output_dir", str(tmp_path), "--max_train_steps", "1"]
    with pytest.raises(ValueError, match="neither a preset"):
        main([*base, "--config", "no-such-preset"])
    with pytest.raises(ValueError, match="fewer than the discriminator's"):
        main([*base, "--config", tiny_config_path, "--segment_seconds", "0.05"])
    with pytest.raises(ValueError, match="both 0"):
        parse_args([*base, "--l1_weight", "0", "--mel_weight", "0"])
    with pytest.raises(ValueError, match="not found"):
        main([*base[:1], str(tmp_path / "missing"), *base[2:], "--config", tiny_config_path])


def test_short_run_lowers_the_reconstruction_loss_on_real_clips(tiny_config_path, tmp_path):
    torch.manual_seed(0)
    clips = load_eval_clips(str(FIXTURES), "train", 16000, max_clips=4, max_seconds=2.0)
    before = evaluate_codec(CodecModel.from_pretrained(_untrained(tiny_config_path, tmp_path)), clips)
    _train(
        tiny_config_path,
        tmp_path / "run",
        "--max_train_steps",
        "20",
        "--eval_steps",
        "100",
        "--checkpointing_steps",
        "100",
        "--adversarial_start_step",
        "100",
        "--learning_rate",
        "3e-3",
        "--max_eval_clips",
        "0",
    )
    after = evaluate_codec(CodecModel.from_pretrained(tmp_path / "run"), clips)
    # (SI-SNR is not asserted: a 2-filter codec does not get the waveform's phase right in 20 steps.)
    assert after.mel_distance < 0.7 * before.mel_distance, (before, after)
    assert after.l1 < 0.5 * before.l1, (before, after)


def _untrained(config_path, tmp_path):
    """The run's step-0 codec (same seed), saved without training."""
    from transformers import set_seed

    from hf_audiogen.training.codec import load_codec_config

    set_seed(3)
    path = tmp_path / "untrained"
    CodecModel(load_codec_config(config_path)).save_pretrained(path)
    return path


def _write_parquet_shards(folder, shards=3, clips_per_shard=2, seconds=0.3):
    """The fixture clips cut into ``shards`` parquet files of ``clips_per_shard`` rows (audio as FLAC bytes)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    import soundfile as sf

    folder.mkdir(parents=True)
    files = sorted(FIXTURES.glob("*.flac"))
    for shard in range(shards):
        rows = []
        for i in range(clips_per_shard):
            index = shard * clips_per_shard + i
            audio, sr = sf.read(files[index % len(files)], dtype="float32")
            start = (index // len(files)) * int(seconds * sr)
            buffer = io.BytesIO()
            sf.write(buffer, audio[start : start + int(seconds * sr)], sr, format="FLAC")
            rows.append({"id": f"clip{index}", "audio": {"bytes": buffer.getvalue(), "path": f"clip{index}.flac"}})
        pq.write_table(pa.Table.from_pylist(rows), folder / f"train-{shard:05d}.parquet")


def test_training_from_parquet_shards_resumes_in_place(tiny_config_path, tmp_path):
    # --train_data streams the shards (seeded shuffle); a run resumed from step 1 must end where an uninterrupted one
    # does: same examples in the same order, the stream restarted at its position instead of replayed.
    _write_parquet_shards(tmp_path / "shards")
    common = (
        "--train_data",
        str(tmp_path / "shards"),
        "--checkpointing_steps",
        "1",
        "--eval_steps",
        "100",
        "--num_audio_samples",
        "0",
    )
    _train(tiny_config_path, tmp_path / "straight", "--max_train_steps", "4", *common)
    _train(tiny_config_path, tmp_path / "resumed", "--max_train_steps", "1", *common)
    result = _train(
        tiny_config_path,
        tmp_path / "resumed",
        "--max_train_steps",
        "4",
        "--resume_from_checkpoint",
        "checkpoint-1",
        *common,
    )
    assert result.global_step == 4
    straight = _state(CodecModel.from_pretrained(tmp_path / "straight"))
    resumed = _state(CodecModel.from_pretrained(tmp_path / "resumed"))
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)
    # and the shards were read at all: training on another shard set gives another codec
    _write_parquet_shards(tmp_path / "other", seconds=0.25)
    other_args = [a if a != str(tmp_path / "shards") else str(tmp_path / "other") for a in common]
    _train(tiny_config_path, tmp_path / "other_run", "--max_train_steps", "4", *other_args)
    other = _state(CodecModel.from_pretrained(tmp_path / "other_run"))
    assert any(not torch.equal(straight[name], other[name]) for name in straight)
