"""GenAU FiT training (hf_audiogen.training.genau): schedule, condition dropout, loss, scale factor, exact resume and
the saved pipeline, with tiny components on the fixture clips (4 train clips, 1 validation clip)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import SpeechT5HifiGan

from hf_audiogen.data.streams import load_audio_dataset
from hf_audiogen.genau import AutoencoderKL1D, FiTTransformer1DModel, GenAUMelFeatureExtractor, GenAUPipeline
from hf_audiogen.training.genau import (
    DiffusionBatches,
    apply_condition_dropout,
    build_train_dataloader,
    diffusion_loss,
    main,
    noise_scheduler_for,
    parse_args,
    scale_from_latents,
)
from hf_audiogen.training.loop import lamb_like_genau, micro_batch_seed
from hf_audiogen.training.progress import read_metrics

from factories import tiny_fit_preset, tiny_genau_pipeline, tiny_genau_training_pieces  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("tiny_fit_preset")

FIXTURES = Path(__file__).parents[1] / "fixtures" / "audio"
SEGMENT = "0.64"  # 64 mel frames -> 16 latent frames = 2 groups of the tiny FiT


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    return tiny_genau_training_pieces(tmp_path_factory.mktemp("genau_pieces"))


def _argv(pieces, output_dir, *extra, vocoder=True, vae=None):
    argv = [
        "--dataset",
        str(FIXTURES),
        "--output_dir",
        str(output_dir),
        "--vae",
        str(vae or pieces["vae"]),
        "--text_encoder",
        str(pieces["text_encoder"]),
        "--text_encoder_2",
        str(pieces["text_encoder_2"]),
        "--fit_preset",
        "tiny",
        "--segment_seconds",
        SEGMENT,
        "--train_batch_size",
        "2",
        "--learning_rate",
        "1e-3",
        "--eval_timesteps",
        "2",
        "--num_samples",
        "1",
        "--sample_inference_steps",
        "2",
        "--logging_steps",
        "1",
        "--seed",
        "3",
        "--num_threads",
        "1",
        *extra,
    ]
    return argv + (["--vocoder", str(pieces["vocoder"])] if vocoder else [])


def _train(pieces, output_dir, *extra, **kwargs):
    return main(_argv(pieces, output_dir, *extra, **kwargs))


def _generate(pipe, **kwargs):
    pipe.set_progress_bar_config(disable=True)
    return pipe(
        "a dog barks",
        num_inference_steps=2,
        audio_length_in_s=0.64,
        generator=torch.Generator().manual_seed(0),
        **kwargs,
    ).audios


# ----------------------------------------------------------------------------------------------------------------------
# Pieces
# ----------------------------------------------------------------------------------------------------------------------
def test_noise_schedule_is_the_references_scaled_linear():
    pipe = tiny_genau_pipeline()
    scheduler = noise_scheduler_for(pipe)
    assert scheduler.config.num_train_timesteps == 1000 and scheduler.config.prediction_type == "epsilon"
    # LDM's "linear" schedule: linspace(sqrt(0.0015), sqrt(0.0195), 1000) ** 2, in float64
    reference = np.linspace(0.0015**0.5, 0.0195**0.5, 1000, dtype=np.float64) ** 2
    np.testing.assert_allclose(scheduler.betas.numpy(), reference, rtol=1e-5)
    np.testing.assert_allclose(scheduler.alphas_cumprod.numpy(), np.cumprod(1 - reference), rtol=1e-5)
    assert torch.equal(scheduler.alphas_cumprod, pipe.scheduler.alphas_cumprod)  # the sampler's schedule
    x0, noise, t = torch.randn(2, 8, 16), torch.randn(2, 8, 16), torch.tensor([0, 999])
    alpha_bar = torch.tensor(np.cumprod(1 - reference)[[0, 999]], dtype=torch.float32)[:, None, None]
    torch.testing.assert_close(
        scheduler.add_noise(x0, noise, t), alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise
    )


def test_condition_dropout_replaces_exactly_the_chosen_rows():
    embeds, unconditional = torch.randn(64, 5), torch.randn(1, 5).expand(64, -1)
    ids = torch.randint(1, 4, (64,))
    out, out_ids, dropped = apply_condition_dropout(
        embeds, unconditional, ids, 0.25, generator=torch.Generator().manual_seed(3)
    )
    assert torch.equal(dropped, torch.rand(64, generator=torch.Generator().manual_seed(3)) < 0.25)
    assert 0 < int(dropped.sum()) < 64
    assert torch.equal(out[dropped], unconditional[dropped]) and torch.equal(out[~dropped], embeds[~dropped])
    assert (out_ids[dropped] == 0).all() and torch.equal(out_ids[~dropped], ids[~dropped])
    # p = 0 changes nothing and draws nothing from the global RNG
    state = torch.get_rng_state()
    out, out_ids, dropped = apply_condition_dropout(embeds, unconditional, ids, 0.0)
    assert torch.equal(out, embeds) and torch.equal(out_ids, ids) and not dropped.any()
    assert torch.equal(torch.get_rng_state(), state)


def test_loss_decreases_on_a_fixed_batch():
    pipe = tiny_genau_pipeline()
    clips = load_audio_dataset(FIXTURES, split="train", streaming=False)
    collate = DiffusionBatches(GenAUMelFeatureExtractor(max_duration_s=0.64), ["audiocaps"], random_crop=False)
    batch = collate([clips[i] for i in range(len(clips))])
    assert batch["input_features"].shape == (4, 64, 64) and batch["dataset_ids"].tolist() == [0] * 4
    with torch.no_grad():
        z = pipe.vae.encode(batch["input_features"]).latent_dist.mode()
        embeds, _ = pipe.encode_prompt(batch["captions"], torch.device("cpu"), 1, do_classifier_free_guidance=False)
    latents = z * scale_from_latents(z)
    assert latents.std().item() == pytest.approx(1.0, rel=1e-5)
    fit, scheduler = pipe.transformer.train(), noise_scheduler_for(pipe)
    optimizer = torch.optim.AdamW(fit.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        torch.manual_seed(0)  # the same noise, steps and dropout masks every step: a fixed batch
        loss = diffusion_loss(fit, latents, embeds, batch["dataset_ids"], scheduler)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_lamb_follows_the_references_update_rule():
    # GenAU's LAMB (jettify's torch-optimizer): m, v without bias correction; r = m / (sqrt(v) + eps) + wd * p;
    # p -= lr * clamp(|p|, 0, 10) / |r| * r, per parameter tensor, weight decay on every tensor.
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 3).double()
    params = [p.detach().clone() for p in model.parameters()]
    lr, wd, (b1, b2), eps = 5e-3, 0.01, (0.9, 0.99), 1e-6
    optimizer = lamb_like_genau(list(model.parameters()), lr, wd, (b1, b2))
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    for _ in range(3):
        x = torch.randn(5, 6, dtype=torch.float64)
        optimizer.zero_grad()
        model(x).pow(2).mean().backward()
        optimizer.step()
    # Recompute the same three steps by the formula from the initial weights.
    torch.manual_seed(0)
    reference = torch.nn.Linear(6, 3).double()
    for _ in range(3):
        x = torch.randn(5, 6, dtype=torch.float64)
        reference.zero_grad()
        reference(x).pow(2).mean().backward()
        with torch.no_grad():
            for p, (m, v) in zip(reference.parameters(), moments):
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                r = m / (v.sqrt() + eps) + wd * p
                p -= lr * (p.norm().clamp(0, 10) / r.norm()) * r
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-8)  # the package adds eps to |r|: ~2e-9 apart
    assert not torch.equal(next(model.parameters()), params[0])  # it did move


# ----------------------------------------------------------------------------------------------------------------------
# Training runs
# ----------------------------------------------------------------------------------------------------------------------
def test_run_saves_a_loadable_pipeline_with_the_first_batch_scale_factor(pieces, tmp_path):
    out = tmp_path / "run"
    argv = _argv(
        pieces,
        out,
        "--max_train_steps",
        "2",
        "--checkpointing_steps",
        "2",
        "--eval_steps",
        "2",
        "--sample_every",
        "2",
        "--use_ema",
    )
    result = main(argv)
    assert result.global_step == 2
    metrics = read_metrics(out)
    assert [m["step"] for m in metrics if "eval_loss" in m] == [0, 2]  # untrained baseline, then step 2
    assert [m["step"] for m in metrics if "loss" in m] == [1, 2]
    assert all(math.isfinite(m[k]) for m in metrics for k in ("loss", "eval_loss") if k in m)
    assert result.first_evaluation.num_clips == 1 and sorted(result.evaluation.per_timestep) == [250, 750]
    assert (out / "samples" / "step-2" / "00_flowing_water.wav").is_file()  # the validation caption
    assert (out / "checkpoint-2" / "transformer" / "config.json").is_file()
    assert json.loads((out / "eval_results.json").read_text())["scaling_factor"] == result.scaling_factor

    # The scale factor is 1/std of the first batch's latents: the same batch and posterior sample, re-derived.
    args = parse_args(argv)
    vae = AutoencoderKL1D.from_pretrained(pieces["vae"])
    loader, _ = build_train_dataloader(args, GenAUMelFeatureExtractor(max_duration_s=0.64), ["audiocaps"], 0)
    first = next(iter(loader))
    torch.manual_seed(micro_batch_seed(3, 0, 0, 0))
    with torch.no_grad():
        z = vae.encode(first["input_features"]).latent_dist.sample()
    assert result.scaling_factor == pytest.approx(1 / z.std().item(), rel=1e-5)
    assert vae.config.scaling_factor == 1.0  # the input VAE is untouched

    pipe = GenAUPipeline.from_pretrained(out)
    assert pipe.vae.config.scaling_factor == pytest.approx(result.scaling_factor)
    assert pipe.transformer.config.sample_size == 16 and pipe.transformer.config.in_channels == 8
    audio = _generate(pipe)
    assert audio.shape == (1, 10240) and np.isfinite(audio).all()
    # with EMA the saved FiT is the average, not the last weights of the checkpoint
    raw = FiTTransformer1DModel.from_pretrained(out / "checkpoint-2" / "transformer")
    assert not torch.equal(raw.latents, pipe.transformer.latents)

    # --init_from continues from the saved pipeline: its FiT, its scale factor (non-default, so kept)
    again = _train_init_from(out, tmp_path / "again")
    assert again.scaling_factor == pytest.approx(result.scaling_factor)
    continued = GenAUPipeline.from_pretrained(tmp_path / "again").transformer
    difference = (continued.latents - pipe.transformer.latents).abs().max().item()
    assert 0 < difference < 1e-3  # one AdamW step (lr 1e-4) away from the saved FiT, not a new one


def _train_init_from(init_dir, output_dir):
    return main(
        [
            "--dataset",
            str(FIXTURES),
            "--output_dir",
            str(output_dir),
            "--init_from",
            str(init_dir),
            "--segment_seconds",
            SEGMENT,
            "--train_batch_size",
            "2",
            "--max_train_steps",
            "1",
            "--max_eval_clips",
            "0",
            "--num_threads",
            "1",
        ]
    )


@pytest.mark.parametrize("optimizer", ["adamw", "lamb"])
def test_resume_is_exact(pieces, tmp_path, optimizer):
    # 4 train clips / batch 2 = 2 steps per epoch: resuming after step 1 restarts mid-epoch 0, then crosses into
    # epoch 1. Condition dropout 0.5, FiT dropout, posterior samples, noise and steps must all repeat. The first
    # part is stopped by the time budget (same --max_train_steps, so the same cosine schedule).
    common = (
        "--max_train_steps",
        "3",
        "--checkpointing_steps",
        "3",
        "--eval_steps",
        "100",
        "--num_samples",
        "0",
        "--use_ema",
        "--condition_dropout",
        "0.5",
        "--optimizer",
        optimizer,
    )
    _train(pieces, tmp_path / "straight", *common)
    stopped = _train(pieces, tmp_path / "resumed", *common, "--max_train_minutes", "1e-6")
    assert stopped.global_step == 1 and (tmp_path / "resumed" / "checkpoint-1").is_dir()
    result = _train(pieces, tmp_path / "resumed", *common, "--resume_from_checkpoint", "latest")
    assert result.global_step == 3
    losses = {
        run: [(m["step"], m["loss"]) for m in read_metrics(tmp_path / run) if "loss" in m]
        for run in ("straight", "resumed")
    }
    assert losses["resumed"] == losses["straight"] and [s for s, _ in losses["straight"]] == [1, 2, 3]
    for sub in ("checkpoint-3/transformer", "transformer"):  # last weights, and the EMA weights saved at the end
        straight = FiTTransformer1DModel.from_pretrained(tmp_path / "straight" / sub).state_dict()
        resumed = FiTTransformer1DModel.from_pretrained(tmp_path / "resumed" / sub).state_dict()
        for name in straight:
            assert torch.equal(straight[name], resumed[name]), f"{sub}: {name} differs after resume"
    scales = [
        json.loads((tmp_path / run / "vae" / "config.json").read_text())["scaling_factor"]
        for run in ("straight", "resumed")
    ]
    assert scales[0] == scales[1] != 1.0  # the resumed run took the factor from the checkpoint


def test_vae_scale_is_kept_unless_recomputed_and_without_vocoder_samples_are_mels(pieces, tmp_path):
    vae = AutoencoderKL1D.from_pretrained(pieces["vae"])
    vae.register_to_config(scaling_factor=0.5)
    vae.save_pretrained(tmp_path / "vae")
    common = ("--max_train_steps", "1", "--eval_steps", "1", "--num_samples", "1")
    kept = _train(pieces, tmp_path / "kept", *common, vae=tmp_path / "vae", vocoder=False)
    assert kept.scaling_factor == 0.5
    mel = np.load(tmp_path / "kept" / "samples" / "step-1" / "00_flowing_water.npy")
    assert mel.shape == (64, 64) and np.isfinite(mel).all()  # 0.64 s of log-mel: 64 bins x 64 frames
    pipe = GenAUPipeline.from_pretrained(tmp_path / "kept")
    assert pipe.vocoder is None and pipe.vae.config.scaling_factor == 0.5
    with pytest.raises(ValueError, match="no vocoder"):
        _generate(pipe)
    assert _generate(pipe, output_type="latent").shape == (1, 8, 16)
    with_vocoder = GenAUPipeline.from_pretrained(
        tmp_path / "kept", vocoder=SpeechT5HifiGan.from_pretrained(pieces["vocoder"])
    )
    assert _generate(with_vocoder).shape == (1, 10240)

    recomputed = _train(
        pieces, tmp_path / "recomputed", *common, "--recompute_scale_factor", "--num_samples", "0", vae=tmp_path / "vae"
    )
    assert recomputed.scaling_factor != 0.5 and 0 < recomputed.scaling_factor < math.inf


def test_bad_options_raise_before_training(pieces, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(
        ValueError, match=r"--segment_seconds 0.5 gives 13 latent frames; the FiT needs a multiple of 8"
    ):
        main([*_argv(pieces, out, "--max_train_steps", "1"), "--segment_seconds", "0.5"])
    with pytest.raises(ValueError, match="at least one text encoder"):
        parse_args(["--dataset", str(FIXTURES), "--output_dir", str(out), "--max_train_steps", "1", "--vae", "v"])
    with pytest.raises(ValueError, match="--init_from brings its own .* --vae"):
        parse_args(
            [
                "--dataset",
                str(FIXTURES),
                "--output_dir",
                str(out),
                "--max_train_steps",
                "1",
                "--vae",
                "v",
                "--init_from",
                "p",
            ]
        )
    with pytest.raises(ValueError, match=r"--condition_dropout must be in \[0, 1\)"):
        parse_args(_argv(pieces, out, "--max_train_steps", "1", "--condition_dropout", "1"))
    with pytest.raises(ValueError, match="holds no saved AutoencoderKL1D"):
        main(_argv(pieces, out, "--max_train_steps", "1", vae=tmp_path))
    with pytest.raises(ValueError, match="the CLAP slot takes"):
        main([*_argv(pieces, out, "--max_train_steps", "1"), "--text_encoder", str(pieces["text_encoder_2"])])
    with pytest.raises(ValueError, match="unknown dataset name 'bbc'"):
        main(_argv(pieces, out, "--max_train_steps", "1", "--dataset_name", "bbc"))
    with pytest.raises(
        ValueError, match="dataset name '(ovos|opensfx|minetest)' .* not one of the FiT's dataset_names"
    ):
        main(_argv(pieces, out, "--max_train_steps", "1", "--dataset_column", "source", "--max_eval_clips", "0"))
