"""Training loops of GenAU's 1D-VAE (hf_audiogen.training.genau_vae) and HiFi-GAN vocoder
(hf_audiogen.training.genau_vocoder) on the real fixture clips, with tiny models."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import SpeechT5HifiGan

from hf_audiogen.genau import AutoencoderKL1D, GenAUMelFeatureExtractor, MelPatchDiscriminator, genau_vocoder_config
from hf_audiogen.training import genau_vae, genau_vocoder
from hf_audiogen.training.genau_vae import MelSegmentCollator, compute_scaling_factor
from hf_audiogen.training.genau_vocoder import HifiGanDiscriminator, VocoderForTraining, hifigan_init_
from hf_audiogen.training.progress import read_metrics

from factories import tiny_genau_vae, tiny_genau_vocoder

# 4 train clips (2.0, 1.49, 1.33 and 0.27 s), 1 validation clip (2.0 s), real sounds at 16 kHz.
FIXTURES = Path(__file__).parents[1] / "fixtures" / "audio"
COMMON = ["--dataset", str(FIXTURES), "--logging_steps", "1", "--seed", "3", "--num_threads", "1"]


@pytest.fixture
def vae_config(tmp_path):
    tiny_genau_vae().save_config(tmp_path / "tiny_vae")
    return str(tmp_path / "tiny_vae")


@pytest.fixture
def vocoder_config(tmp_path):
    path = tmp_path / "tiny_vocoder.json"
    tiny_genau_vocoder().config.to_json_file(path)
    return str(path)


@pytest.fixture
def short_clips(tmp_path):
    """The fixture clips cut to their first 0.3 s: with 0.32 s segments every crop is a whole clip, and with batch 4
    (the whole train split) every step sees the same batch."""
    root = tmp_path / "short_clips"
    root.mkdir()
    rows = [json.loads(line) for line in (FIXTURES / "metadata.jsonl").read_text().splitlines()]
    for row in rows:
        audio, sampling_rate = sf.read(FIXTURES / row["file"], dtype="float32")
        sf.write(root / row["file"], audio[:4800], sampling_rate)
    (root / "metadata.jsonl").write_text(
        "".join(json.dumps({k: row[k] for k in ("file", "caption", "split")}) + "\n" for row in rows)
    )
    return str(root)


def _train_vae(config, output_dir, *extra):
    return genau_vae.main(
        [
            *COMMON,
            "--config",
            config,
            "--output_dir",
            str(output_dir),
            "--train_batch_size",
            "2",
            "--segment_seconds",
            "0.32",
            "--disc_base_channels",
            "4",
            "--disc_num_layers",
            "1",
            *extra,
        ]
    )


def _train_vocoder(config, output_dir, *extra):
    return genau_vocoder.main(
        [
            *COMMON,
            "--config",
            config,
            "--output_dir",
            str(output_dir),
            "--train_batch_size",
            "2",
            "--segment_seconds",
            "0.1",
            "--discriminator_channel_divisor",
            "64",
            "--num_audio_samples",
            "0",
            *extra,
        ]
    )


def _states(path, model_cls):
    return {name: t.clone() for name, t in model_cls.from_pretrained(path).state_dict().items()}


def _assert_same_states(a, b, what):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{what}: {name} differs after resume"


# ----------------------------------------------------------------------------------------------- data
def test_segments_are_normalised_per_clip_cropped_reproducibly_and_padded():
    extractor = GenAUMelFeatureExtractor(max_duration_s=None)
    collate = MelSegmentCollator(extractor, segment_samples=3200, seed=0)
    rng = np.random.default_rng(0)
    loud_then_quiet = np.concatenate([rng.normal(0, 1.0, 16000), rng.normal(0, 0.01, 16000)]).astype(np.float32)
    short = rng.normal(0.3, 0.1, 1600).astype(np.float32)  # shorter than a segment, with a DC offset
    examples = [
        {"audio": loud_then_quiet, "sampling_rate": 16000, "id": "long"},
        {"audio": short, "sampling_rate": 16000, "id": "short"},
    ]
    batch = collate(examples)
    assert batch["input_features"].shape == (2, 64, 20) and batch["waveform"].shape == (2, 3200)
    # The short clip is whole: mean removed, peak 0.5, then zero padding (mask 0) and the log floor's frames.
    short_out = batch["waveform"][1]
    assert batch["padding_mask"][1].sum() == 1600 and torch.all(short_out[1600:] == 0)
    assert short_out[:1600].abs().max() == pytest.approx(0.5, abs=1e-6) and abs(float(short_out[:1600].mean())) < 1e-3
    assert torch.allclose(batch["input_features"][1, :, -5:], torch.tensor(np.log(1e-5), dtype=torch.float32))
    # The long clip is normalised as a whole, then cropped: the crop is a window of the normalised clip (so a crop
    # of its quiet half stays quiet instead of being scaled up to 0.5).
    whole = loud_then_quiet - loud_then_quiet.mean()
    whole = 0.5 * whole / np.abs(whole).max()
    crop = batch["waveform"][0].numpy()
    start = int(np.argmin(np.abs(whole - crop[0])))
    np.testing.assert_allclose(whole[start : start + 3200], crop, atol=1e-6)
    assert torch.equal(collate(examples)["waveform"], batch["waveform"])  # same (seed, epoch, id): same crop
    collate.set_epoch(1)
    assert not torch.equal(collate(examples)["waveform"][0], batch["waveform"][0])
    with pytest.raises(ValueError, match="multiple of the hop"):
        MelSegmentCollator(extractor, segment_samples=3000, seed=0)
    with pytest.raises(ValueError, match="sampling_rate=16000"):
        collate([{"audio": short, "sampling_rate": 8000, "id": "x"}])


# ----------------------------------------------------------------------------------------------- VAE
def test_vae_run_saves_checkpoints_and_loadable_vaes_with_their_scaling_factor(vae_config, tmp_path):
    out = tmp_path / "run"
    result = _train_vae(
        vae_config,
        out,
        "--max_train_steps",
        "3",
        "--disc_start",
        "2",
        "--checkpointing_steps",
        "2",
        "--eval_steps",
        "2",
        "--gradient_accumulation_steps",
        "2",
        "--learning_rate",
        "1e-3",
    )
    assert result.global_step == 3
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]
    assert (out / "checkpoint-2" / "vae" / "config.json").is_file()
    metrics = read_metrics(out)
    evals = [m["step"] for m in metrics if "eval_mel_l1" in m]
    assert evals == [0, 2, 3]  # before training, every --eval_steps, and at the end
    train = [m for m in metrics if "rec_loss" in m]
    assert "disc_loss" not in train[1] and "disc_loss" in train[2] and "feature_matching_loss" in train[2]
    history = result.evaluations
    assert history.first == metrics[0]["eval_mel_l1"] and history.best == min(
        m["eval_mel_l1"] for m in metrics if "eval_mel_l1" in m
    )
    final = AutoencoderKL1D.from_pretrained(out / "final")
    assert history.best_step > 0 and AutoencoderKL1D.from_pretrained(out / "best").config.scaling_factor > 0
    assert GenAUMelFeatureExtractor.from_pretrained(out / "final").max_duration_s == 10.24
    # The stored scale is 1/std of posterior samples of the first training batch (epoch 0 of the stream).
    args = genau_vae.parse_args(
        [
            *COMMON,
            "--config",
            vae_config,
            "--output_dir",
            str(tmp_path / "x"),
            "--max_train_steps",
            "1",
            "--train_batch_size",
            "2",
            "--segment_seconds",
            "0.32",
        ]
    )
    extractor = GenAUMelFeatureExtractor(max_duration_s=None)
    first_batch = next(iter(genau_vae.build_train_dataloader(args, extractor)))["input_features"]
    assert final.config.scaling_factor == pytest.approx(compute_scaling_factor(final, first_batch, seed=3))
    assert final.config.scaling_factor != 1.0 and result.scaling_factor == final.config.scaling_factor


def test_vae_resume_is_exact(vae_config, tmp_path):
    # 4 clips / batch 2 = 2 steps per epoch: resuming at step 1 restarts mid-epoch and crosses into epoch 1; the
    # discriminator starts at step 1, so its optimizer, BatchNorm statistics and the RNG are resumed too.
    common = ("--eval_steps", "100", "--disc_start", "1")
    _train_vae(vae_config, tmp_path / "straight", "--max_train_steps", "3", *common)
    _train_vae(vae_config, tmp_path / "resumed", "--max_train_steps", "1", "--checkpointing_steps", "1", *common)
    result = _train_vae(
        vae_config, tmp_path / "resumed", "--max_train_steps", "3", "--resume_from_checkpoint", "latest", *common
    )
    assert result.global_step == 3
    straight, resumed = read_metrics(tmp_path / "straight"), read_metrics(tmp_path / "resumed")
    losses = lambda metrics: [(m["step"], m["loss"]) for m in metrics if "loss" in m]  # noqa: E731
    assert losses(resumed) == losses(straight) and [s for s, _ in losses(resumed)] == [1, 2, 3]
    assert result.evaluations.first == read_metrics(tmp_path / "straight")[0]["eval_mel_l1"]  # kept across resume
    for sub, cls in (("final", AutoencoderKL1D), ("discriminator", MelPatchDiscriminator)):
        _assert_same_states(_states(tmp_path / "straight" / sub, cls), _states(tmp_path / "resumed" / sub, cls), sub)


def test_vae_reconstruction_loss_falls_on_a_fixed_batch(vae_config, short_clips, tmp_path):
    _train_vae(
        vae_config,
        tmp_path / "run",
        "--dataset",
        short_clips,
        "--max_train_steps",
        "30",
        "--segment_seconds",
        "0.32",
        "--train_batch_size",
        "4",
        "--learning_rate",
        "3e-3",
        "--disc_start",
        "100",
        "--eval_steps",
        "100",
        "--checkpointing_steps",
        "100",
        "--max_eval_clips",
        "0",
    )
    rec = [m["rec_loss"] for m in read_metrics(tmp_path / "run") if "rec_loss" in m]
    assert len(rec) == 30 and rec[-1] < 0.6 * rec[0], rec


def test_vae_bad_options_raise_before_training(vae_config, tmp_path):
    base = [*COMMON, "--output_dir", str(tmp_path), "--max_train_steps", "1"]
    with pytest.raises(ValueError, match="multiple of the VAE's downsampling"):
        genau_vae.main([*base, "--config", vae_config, "--segment_seconds", "0.33"])
    with pytest.raises(ValueError, match="neither a preset"):
        genau_vae.main([*base, "--config", "no-such-preset"])
    with pytest.raises(ValueError, match="--kl_weight must be >= 0"):
        genau_vae.parse_args([*base, "--kl_weight", "-1"])
    with pytest.raises(ValueError, match="unknown VAE preset"):
        AutoencoderKL1D.from_preset("huge")


# ----------------------------------------------------------------------------------------------- vocoder
def test_discriminators_shapes_and_save_load(tmp_path):
    torch.manual_seed(0)
    disc = HifiGanDiscriminator(period_channels=(2, 2, 4, 4, 4), scale_channels=(4, 4, 8, 8, 16, 16, 16))
    logits, features = disc(torch.randn(2, 1, 1601))  # not a multiple of any period: reflect-padded
    assert len(logits) == 8 and [len(f) for f in features] == [6] * 5 + [8] * 3
    assert features[1][0].shape[-1] == 3  # period 3 folds the samples into 3 columns
    assert all(out.shape[0] == 2 for out in logits)
    disc.save_pretrained(tmp_path / "d")  # spectral-norm buffers and weight-norm (g, v) round-trip exactly
    _assert_same_states(disc.state_dict(), HifiGanDiscriminator.from_pretrained(tmp_path / "d").state_dict(), "disc")
    with pytest.raises(ValueError, match="samples >= 12"):
        disc(torch.randn(2, 1, 8))
    with pytest.raises(ValueError, match="scale_channels 7"):
        HifiGanDiscriminator(scale_channels=(4, 4))


def test_weight_normed_generator_folds_into_a_plain_speecht5_hifigan(tmp_path):
    model = VocoderForTraining(hifigan_init_(tiny_genau_vocoder()))
    with torch.no_grad():  # move g away from ||v|| so that folding has something to do
        model.vocoder.conv_pre.parametrizations.weight.original0.mul_(1.5)
    mel = torch.randn(1, 64, 7) - 4
    expected = model(mel)
    assert expected.shape == (1, 7 * 160)  # SpeechT5HifiGan's 32-sample overhang is cut
    model.save_pretrained(tmp_path / "v")
    plain = SpeechT5HifiGan.from_pretrained(tmp_path / "v")
    torch.testing.assert_close(plain(mel.transpose(1, 2))[:, : 7 * 160], expected, rtol=1e-5, atol=1e-6)
    _assert_same_states(model.state_dict(), VocoderForTraining.from_pretrained(tmp_path / "v").state_dict(), "wn")
    assert model(mel).abs().max() > 1e-3  # HiFi-GAN's init: the untrained output is above the log-mel floor


def test_vocoder_run_saves_a_loadable_vocoder_and_sets_input_normalisation(tmp_path):
    config = genau_vocoder_config(upsample_initial_channel=32, normalize_before=True)
    config.to_json_file(tmp_path / "vocoder.json")
    out = tmp_path / "run"
    result = _train_vocoder(
        str(tmp_path / "vocoder.json"),
        out,
        "--max_train_steps",
        "2",
        "--disc_start",
        "1",
        "--checkpointing_steps",
        "1",
        "--checkpoints_total_limit",
        "1",
        "--eval_steps",
        "2",
        "--num_audio_samples",
        "1",
    )
    assert result.global_step == 2 and [p.name for p in out.glob("checkpoint-*")] == ["checkpoint-2"]
    assert (out / "samples" / "step-2" / "clip_0.wav").is_file()
    metrics = read_metrics(out)
    train = [m for m in metrics if "mel" in m]
    assert "discriminator" not in train[0] and {"discriminator", "adversarial", "feature_matching"} <= set(train[1])
    assert [m["step"] for m in metrics if "eval_mel_l1" in m] == [0, 2]
    vocoder = SpeechT5HifiGan.from_pretrained(out / "final")
    assert vocoder.config.normalize_before and vocoder.mean.mean() < -2 and torch.all(vocoder.scale > 0.1)
    assert vocoder(torch.randn(1, 5, 64)).shape == (1, 5 * 160 + 32)


def test_vocoder_resume_is_exact(vocoder_config, tmp_path):
    common = ("--eval_steps", "100", "--disc_start", "1", "--max_eval_clips", "0")
    _train_vocoder(vocoder_config, tmp_path / "straight", "--max_train_steps", "3", *common)
    _train_vocoder(
        vocoder_config, tmp_path / "resumed", "--max_train_steps", "1", "--checkpointing_steps", "1", *common
    )
    _train_vocoder(
        vocoder_config,
        tmp_path / "resumed",
        "--max_train_steps",
        "3",
        "--resume_from_checkpoint",
        "checkpoint-1",
        *common,
    )
    straight, resumed = read_metrics(tmp_path / "straight"), read_metrics(tmp_path / "resumed")
    assert [(m["step"], m["mel"]) for m in resumed] == [(m["step"], m["mel"]) for m in straight]
    _assert_same_states(
        _states(tmp_path / "straight" / "final", SpeechT5HifiGan),
        _states(tmp_path / "resumed" / "final", SpeechT5HifiGan),
        "vocoder",
    )
    _assert_same_states(
        _states(tmp_path / "straight" / "discriminator", HifiGanDiscriminator),
        _states(tmp_path / "resumed" / "discriminator", HifiGanDiscriminator),
        "discriminator",
    )


def test_vocoder_mel_loss_falls_on_a_fixed_batch(vocoder_config, short_clips, tmp_path):
    _train_vocoder(
        vocoder_config,
        tmp_path / "run",
        "--dataset",
        short_clips,
        "--max_train_steps",
        "15",
        "--segment_seconds",
        "0.32",
        "--train_batch_size",
        "4",
        "--learning_rate",
        "3e-3",
        "--disc_start",
        "100",
        "--eval_steps",
        "100",
        "--checkpointing_steps",
        "100",
        "--max_eval_clips",
        "0",
    )
    mel = [m["mel"] for m in read_metrics(tmp_path / "run") if "mel" in m]
    assert len(mel) == 15 and mel[-1] < 0.5 * mel[0], mel


def test_vocoder_bad_options_raise_before_training(vocoder_config, tmp_path):
    base = [*COMMON, "--output_dir", str(tmp_path), "--max_train_steps", "1"]
    wrong_hop = tmp_path / "hop.json"
    genau_vocoder_config(upsample_initial_channel=32, upsample_rates=[4, 4, 2, 2, 2]).to_json_file(wrong_hop)
    with pytest.raises(ValueError, match="multiply to 128, not the mel hop"):
        genau_vocoder.main([*base, "--config", str(wrong_hop)])
    with pytest.raises(ValueError, match="gives 480 samples"):
        genau_vocoder.main([*base, "--config", vocoder_config, "--segment_seconds", "0.03"])
    with pytest.raises(ValueError, match="--mel_weight is 0"):
        genau_vocoder.parse_args([*base, "--mel_weight", "0"])
    with pytest.raises(ValueError, match="unknown vocoder preset"):
        genau_vocoder_config("huge")
