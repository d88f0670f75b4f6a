"""AudioGen training: the loop on the fixture clips, exact resume, learning on a fixed batch, code shards, NLL."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hf_audiogen.audiogen import AudioGenPipeline
from hf_audiogen.data.streams import load_audio_dataset
from hf_audiogen.training.audiogen import (
    build_model,
    codes_and_labels,
    evaluate_nll,
    load_eval_batches,
    parse_args,
    resolve_text_encoder,
    train_audiogen,
)
from hf_audiogen.training.audiogen_data import (
    CodeUnigram,
    TextAudioCollator,
    load_token_shards,
    read_shard_info,
    tokenize_audio_dataset,
)
from hf_audiogen.training.progress import read_metrics

from factories import tiny_audiogen_training_pieces, tiny_codec_model

FIXTURES = Path(__file__).parents[1] / "fixtures" / "audio"


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    return tiny_audiogen_training_pieces(tmp_path_factory.mktemp("pieces"))


def _args(pieces, output_dir, *extra):
    codec, text_encoder = pieces
    return parse_args(
        [
            "--dataset",
            str(FIXTURES),
            "--codec",
            str(codec),
            "--text_encoder",
            str(text_encoder),
            "--decoder_preset",
            "tiny",
            "--max_duration",
            "1",
            "--output_dir",
            str(output_dir),
            "--train_batch_size",
            "2",
            "--lr_warmup_steps",
            "2",
            "--learning_rate",
            "1e-3",
            "--seed",
            "0",
            "--num_samples",
            "1",
            "--sample_seconds",
            "0.1",
            *extra,
        ]
    )


def test_training_runs_checkpoints_and_saves_a_pipeline_directory(pieces, tmp_path):
    out = tmp_path / "run"
    result = train_audiogen(
        _args(
            pieces,
            out,
            "--max_train_steps",
            "3",
            "--checkpointing_steps",
            "2",
            "--eval_steps",
            "3",
            "--mixing_p",
            "0.5",
            "--normalize_captions",
        )
    )
    assert result.global_step == 3 and math.isfinite(result.first_loss) and math.isfinite(result.last_loss)
    assert (out / "checkpoint-2" / "model" / "model.safetensors").is_file()
    assert (out / "checkpoint-2" / "model" / "processor_config.json").is_file()  # a checkpoint is a pipeline dir
    # the sample prompt is the held-out caption "flowing water", normalised like the training captions
    assert sorted(p.name for p in (out / "samples" / "step-3").iterdir()) == ["00_flow_water.wav"]

    evaluation = json.loads((out / "eval_results.json").read_text())
    assert evaluation["step"] == 3 and evaluation["num_codes"] > 0
    assert evaluation["uniform_nll"] == pytest.approx(math.log(32))
    assert 0 < evaluation["unigram_nll"] < evaluation["uniform_nll"]  # fitted to the codes it saw

    pipe = AudioGenPipeline.from_pretrained(out)
    assert pipe.processor.normalize_text is True  # the option travels with the model
    assert pipe("a cow mooing", duration=0.1, seed=0, progress_bar=False)["audio"].shape == (1600,)


def test_resume_is_exact(pieces, tmp_path):
    """4 steps in one go == 2 steps, stop, resume to 4 (two epochs of the 4 training clips, EMA and mixing on)."""
    # condition dropout 0.5: a resume that replayed other dropout draws would diverge (checked: it does without the
    # per-micro-batch reseeding)
    common = (
        "--checkpointing_steps",
        "2",
        "--eval_steps",
        "100",
        "--num_samples",
        "0",
        "--use_ema",
        "--condition_dropout",
        "0.5",
        "--mixing_p",
        "0.5",
        "--segment_seconds",
        "0.5",
    )
    full = tmp_path / "full"
    train_audiogen(_args(pieces, full, "--max_train_steps", "4", *common))
    split = tmp_path / "split"
    train_audiogen(_args(pieces, split, "--max_train_steps", "2", *common))
    resumed = train_audiogen(
        _args(pieces, split, "--max_train_steps", "4", "--resume_from_checkpoint", "latest", *common)
    )
    assert resumed.global_step == 4
    a, b = load_file(full / "model.safetensors"), load_file(split / "model.safetensors")
    changed = load_file(full / "checkpoint-2" / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert any(not torch.equal(a[k], changed[k]) for k in a if k.startswith("decoder."))  # steps 3-4 did train


def test_time_budget_stops_and_still_saves(pieces, tmp_path):
    out = tmp_path / "timed"
    result = train_audiogen(
        _args(pieces, out, "--max_train_steps", "50", "--max_train_minutes", "1e-6", "--eval_steps", "100")
    )
    assert result.global_step == 1 and result.evaluation is not None  # evaluated at the (early) last step
    assert (out / "model.safetensors").is_file() and (out / "samples" / "step-1").is_dir()
    assert (out / "checkpoint-1" / "model").is_dir()  # a run stopped by the clock can be resumed


def test_load_best_model_at_end_keeps_the_lowest_held_out_nll(pieces, tmp_path):
    out = tmp_path / "best"
    args = _args(
        pieces,
        out,
        "--max_train_steps",
        "4",
        "--eval_steps",
        "1",
        "--num_samples",
        "0",
        "--learning_rate",
        "3e-2",
        "--lr_warmup_steps",
        "1",
        "--load_best_model_at_end",
    )
    result = train_audiogen(args)
    logged = [r for r in read_metrics(out) if "eval_nll" in r]
    assert [r["step"] for r in logged] == [1, 2, 3, 4]
    best = min(logged, key=lambda r: r["eval_nll"])
    saved = json.loads((out / "eval_results.json").read_text())
    assert saved["best_step"] == best["step"] and saved["nll"] == pytest.approx(best["eval_nll"])
    assert saved["last_evaluation"]["nll"] == pytest.approx(logged[-1]["eval_nll"])
    assert result.evaluation.nll == pytest.approx(best["eval_nll"])
    assert not (out / "best_model").exists()
    # the saved model really is the best one: re-evaluating it gives the logged best NLL
    pipe = AudioGenPipeline.from_pretrained(out)
    batches = load_eval_batches(args, pipe.processor, pipe.model)
    assert evaluate_nll(pipe.model, batches).nll == pytest.approx(best["eval_nll"], rel=1e-5)


def test_loss_decreases_on_a_fixed_batch(pieces):
    args = _args(pieces, "/tmp/unused", "--max_train_steps", "1")
    model, processor = build_model(args)
    model.train()
    dataset = load_audio_dataset(FIXTURES, split="train", streaming=False)
    collate = TextAudioCollator(processor, max_samples=16000, random_crop=False)
    batch = collate([dataset[i] for i in range(4)])
    labels = codes_and_labels(model, batch)
    text = {k: batch[k] for k in ("input_ids", "attention_mask")}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    keep_text = torch.zeros(4, dtype=torch.bool)  # no condition dropout: the same objective every step
    losses = []
    for _ in range(20):
        loss = model(**text, labels=labels, null_condition_mask=keep_text).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def test_pre_tokenised_shards_match_the_codec_and_train(pieces, tmp_path):
    codec_dir, _ = pieces
    args = _args(pieces, tmp_path / "unused", "--max_train_steps", "1")
    model, _ = build_model(args)
    shards = tmp_path / "shards"
    for split in ("train", "validation"):
        dataset = load_audio_dataset(FIXTURES, split=split)
        tokenize_audio_dataset(dataset, model.codec, shards, split, batch_size=3, progress=False, codec_name="tiny")
    info = read_shard_info(shards)
    assert info["splits"]["train"]["clips"] == 4 and info["codec"]["num_codebooks"] == 2

    # the shard codes are the codec's codes of each whole clip
    rows = {row["id"]: row for row in load_token_shards(shards, "train")}
    clip = next(iter(load_audio_dataset(FIXTURES, split="train")))
    expected = model.codec.encode(torch.from_numpy(clip["audio"])[None, None])[0]
    assert torch.equal(torch.tensor(rows[clip["id"]]["codes"]), expected)
    assert rows[clip["id"]]["num_frames"] == expected.shape[-1]

    out = tmp_path / "run"
    codec, text_encoder = pieces
    result = train_audiogen(
        parse_args(
            [
                "--token_shards",
                str(shards),
                "--codec",
                str(codec),
                "--text_encoder",
                str(text_encoder),
                "--decoder_preset",
                "tiny",
                "--max_duration",
                "1",
                "--output_dir",
                str(out),
                "--max_train_steps",
                "2",
                "--train_batch_size",
                "2",
                "--lr_warmup_steps",
                "1",
                "--eval_steps",
                "2",
                "--num_samples",
                "0",
            ]
        )
    )
    assert result.evaluation is not None and result.evaluation.num_codes > 0

    other_codec = tmp_path / "other-codec"
    tiny_codec_model(num_quantizers=2, codebook_size=16).save_pretrained(other_codec)
    with pytest.raises(ValueError, match="written by another codec .*codebook_size: shards 32 vs model 16"):
        train_audiogen(
            parse_args(
                [
                    "--token_shards",
                    str(shards),
                    "--codec",
                    str(other_codec),
                    "--text_encoder",
                    str(text_encoder),
                    "--decoder_preset",
                    "tiny",
                    "--max_duration",
                    "1",
                    "--output_dir",
                    str(tmp_path / "x"),
                    "--max_train_steps",
                    "1",
                    "--lr_warmup_steps",
                    "1",
                ]
            )
        )


def test_evaluate_nll_matches_the_model_loss_and_the_unigram_is_exact(pieces):
    args = _args(pieces, "/tmp/unused", "--max_train_steps", "1")
    model, processor = build_model(args)
    dataset = load_audio_dataset(FIXTURES, split="train", streaming=False)
    batch = TextAudioCollator(processor, max_samples=16000, random_crop=False)([dataset[i] for i in range(3)])
    labels = codes_and_labels(model, batch)
    text = {k: batch[k] for k in ("input_ids", "attention_mask")}
    model.eval()
    with torch.no_grad():
        output = model(**text, labels=labels)

    unigram = CodeUnigram(2, 32)
    unigram.update(labels)
    evaluation = evaluate_nll(model, [{**text, "labels": labels}], unigram)
    assert evaluation.per_codebook == pytest.approx(output.codebook_losses.tolist(), rel=1e-5)
    counts = output.logits_mask.sum(dim=(0, 2)).double()
    assert evaluation.nll == pytest.approx(float((output.codebook_losses * counts).sum() / counts.sum()), rel=1e-5)

    # unigram NLL by hand: add-one smoothed frequencies of each codebook, scored on the same positions
    expected, n = 0.0, 0
    for q in range(2):
        values = labels[:, q][labels[:, q] != -100]
        probs = (torch.bincount(values, minlength=32).double() + 1) / (len(values) + 32)
        scored = labels[:, q][output.logits_mask[:, q]]
        expected -= float(probs[scored].log().sum())
        n += len(scored)
    assert evaluation.unigram_nll == pytest.approx(expected / n)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--token_shards", "x", "--mixing_p", "0.5"], "not allowed with argument"),
        (["--init_from", "somewhere"], "--init_from brings its own codec"),
        (["--mixing_p", "1.5"], "--mixing_p must be in [0, 1]"),
        (["--segment_seconds", "0"], "--segment_seconds must be positive"),
        (["--ema_decay", "1"], "--ema_decay must be in (0, 1)"),
    ],
)
def test_bad_options_are_refused(pieces, tmp_path, extra, message, capsys):
    if extra[0] == "--token_shards":  # argparse: --dataset and --token_shards are exclusive
        with pytest.raises(SystemExit):
            _args(pieces, tmp_path, "--max_train_steps", "1", *extra)
        assert message in capsys.readouterr().err
        return
    with pytest.raises(ValueError, match=re.escape(message)):
        _args(pieces, tmp_path, "--max_train_steps", "1", *extra)


def test_a_new_model_needs_a_codec(tmp_path):
    with pytest.raises(ValueError, match="pass --codec"):
        parse_args(["--dataset", str(FIXTURES), "--output_dir", str(tmp_path), "--max_train_steps", "1"])


def test_minilm_keyword_points_to_the_offline_encoder():
    path = Path(resolve_text_encoder("minilm"))
    assert (path / "config.json").is_file() and (path / "tokenizer.json").is_file()
    assert resolve_text_encoder("google-t5/t5-base") == "google-t5/t5-base"


def test_unigram_counts_skip_padding():
    unigram = CodeUnigram(num_codebooks=2, codebook_size=3)
    unigram.update(torch.tensor([[[0, 1, -100], [2, 2, 2]]]))
    assert unigram.counts.tolist() == [[1, 1, 0], [0, 0, 3]]
    state = unigram.state_dict()
    other = CodeUnigram(2, 3)
    other.load_state_dict(state)
    assert torch.equal(other.counts, unigram.counts)
    total, count = unigram.nll(torch.tensor([[[0, -100], [2, 2]]]))
    assert count == 3
    assert total == pytest.approx(-(np.log(2 / 5) + 2 * np.log(4 / 6)))
