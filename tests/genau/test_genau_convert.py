"""GenAU checkpoint conversion: reference-layout Lightning checkpoints built from our tiny random modules (the names
renamed back: prefixes, ``upsampler`` -> ``ups``, weight norm un-folded, laion CLAP names) convert back to a pipeline
that computes the same numbers; every key is accounted for; bad files and mismatches give clear errors."""

import argparse
import json

import numpy as np
import pytest
import torch
from reference_genau import (  # noqa: F401
    PROMPTS,
    REFERENCE_YAML,
    encoders,
    original_pipeline,
    reference_hifigan,
    reference_schedule,
    reference_state_dict,
    save_lightning,
)

from hf_audiogen.cli import main
from hf_audiogen.genau import GenAUPipeline
from hf_audiogen.genau.convert_genau import convert_genau_checkpoint, fold_weight_norm, load_genau_config

from factories import tiny_text_tokenizer

# The reference YAML of a run with the tiny models' sizes (structure of GenAU/settings/simple_runs/genau.yaml).


@pytest.fixture(scope="module")
def original():
    return original_pipeline()


@pytest.fixture(scope="module")
def files(original, tmp_path_factory):
    root = tmp_path_factory.mktemp("genau-reference")
    (root / "genau.yaml").write_text(REFERENCE_YAML)
    for name in ("clap", "t5"):
        tiny_text_tokenizer().save_pretrained(root / f"{name}-tokenizer")
    original.text_encoder.save_pretrained(root / "clap-encoder")
    original.text_encoder_2.save_pretrained(root / "t5-encoder")
    save_lightning(root / "genau.ckpt", reference_state_dict(original))
    return root


def latents(pipe, seed=0):
    return pipe(
        PROMPTS,
        num_inference_steps=3,
        audio_length_in_s=0.64,
        generator=torch.Generator().manual_seed(seed),
        output_type="latent",
        guidance_scale=3.0,
    ).audios


def assert_same_model_outputs(converted: GenAUPipeline, original: GenAUPipeline, exact: bool = True):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 8, 32, generator=generator)
    text = torch.randn(2, 24, generator=generator)
    z = torch.randn(2, 8, 16, generator=generator)
    mel = torch.randn(2, 20, 64, generator=generator)
    check = torch.testing.assert_close if not exact else (lambda a, b: torch.testing.assert_close(a, b, rtol=0, atol=0))
    with torch.no_grad():
        for t in (0, 500, 999):
            check(converted.transformer(x, t, text, dataset_id=1).sample, original.transformer(x, t, text, 1).sample)
        check(converted.vae.decode(z).sample, original.vae.decode(z).sample)
        wave = original.vocoder(mel)
        assert wave.abs().max() > 1e-2  # a real signal, so the comparison means something
        torch.testing.assert_close(converted.vocoder(mel), wave, rtol=1e-5, atol=1e-6)
        check(converted._text_summary(PROMPTS, "cpu"), original._text_summary(PROMPTS, "cpu"))


def test_convert_with_reference_config(original, files, tmp_path):
    result = convert_genau_checkpoint(
        files / "genau.ckpt", tmp_path / "out", config=files / "genau.yaml", **encoders(original)
    )
    pipe = result.pipeline
    pipe.set_progress_bar_config(disable=True)
    assert_same_model_outputs(pipe, original)
    assert pipe.vae.config.scaling_factor == pytest.approx(1.25)
    assert pipe.transformer.config.group_size == 4 and pipe.transformer.config.num_attention_heads == 4
    assert pipe.transformer.config.dataset_names == ["audiocaps", "clotho", "vggsound", "fsd50k"]
    scheduler = pipe.scheduler.config
    assert (scheduler.beta_schedule, scheduler.beta_start, scheduler.beta_end, scheduler.steps_offset) == (
        "scaled_linear",
        0.0015,
        0.0195,
        1,
    )
    torch.testing.assert_close(latents(pipe), latents(original), rtol=0, atol=0)

    # every key accounted for: used or dropped with a reason
    state = reference_state_dict(original)
    assert sum(group.count for group in result.key_groups) == len(state)
    outcomes = {group.keys: (group.count, group.outcome) for group in result.key_groups}
    assert outcomes["model.diffusion_model.*"] == (len(original.transformer.state_dict()), "transformer")
    assert outcomes["clap.*"][1].startswith("dropped: re-ranking CLAP")
    assert outcomes["first_stage_model.loss.*"][1].startswith("dropped: the VAE's training loss")
    assert outcomes["cond_stage_models.1.model.*"] == (
        len(original.text_encoder_2.state_dict()),
        "text_encoder_2 (T5 encoder)",
    )
    assert "cond_stage_models.0.{model.audio_*" in result.summary()

    loaded = GenAUPipeline.from_pretrained(tmp_path / "out")
    loaded.set_progress_bar_config(disable=True)
    torch.testing.assert_close(latents(loaded), latents(original), rtol=0, atol=0)


def test_convert_without_config_infers_the_sizes(original, files):
    with pytest.raises(ValueError, match="group size is not stored in the checkpoint"):
        convert_genau_checkpoint(files / "genau.ckpt", fit_config={"attention_head_dim": 8}, **encoders(original))
    with pytest.raises(ValueError, match="attention width 32 is not a multiple of attention_head_dim=64"):
        convert_genau_checkpoint(files / "genau.ckpt", fit_config={"group_size": 4}, **encoders(original))
    with pytest.raises(ValueError, match=r"fit_config has unknown key\(s\) \['groupsize'\]; allowed: .*group_size"):
        convert_genau_checkpoint(files / "genau.ckpt", fit_config={"groupsize": 4}, **encoders(original))
    pipe = convert_genau_checkpoint(
        files / "genau.ckpt", fit_config={"group_size": 4, "attention_head_dim": 8}, **encoders(original)
    ).pipeline
    for name in (
        "in_channels",
        "sample_size",
        "patch_size",
        "num_latents",
        "hidden_size",
        "latent_hidden_size",
        "context_dim",
        "num_blocks",
        "local_layers_per_block",
        "global_layers_per_block",
        "text_embed_dim",
        "num_dataset_ids",
        "time_embed_dim",
        "num_attention_heads",
    ):
        assert pipe.transformer.config[name] == original.transformer.config[name], name
    assert list(pipe.vae.config.block_out_channels) == [32, 32, 64] and pipe.vae.config.latent_channels == 8
    # the schedule's end points, read off the stored alphas_cumprod
    assert (pipe.scheduler.config.beta_start, pipe.scheduler.config.beta_end) == (0.0015, 0.0195)
    assert pipe.scheduler.config.trained_betas is None
    assert_same_model_outputs(pipe, original)
    pipe.set_progress_bar_config(disable=True)
    torch.testing.assert_close(latents(pipe), latents(original), rtol=0, atol=0)


def test_separate_vae_and_weight_normed_vocoder_files(original, files, tmp_path):
    other = original_pipeline(seed=1)  # different VAE and vocoder weights
    vae_state = {**other.vae.state_dict(), "loss.logvar": torch.zeros(())}
    vae_state.update({f"vocoder.{k}": v for k, v in reference_hifigan(original.vocoder).items()})
    save_lightning(tmp_path / "vae.ckpt", vae_state)
    torch.save({"generator": reference_hifigan(other.vocoder, weight_norm=True)}, tmp_path / "hifigan.ckpt")
    result = convert_genau_checkpoint(
        files / "genau.ckpt",
        config=files / "genau.yaml",
        vae=tmp_path / "vae.ckpt",
        vocoder=tmp_path / "hifigan.ckpt",
        **encoders(original),
    )
    pipe = result.pipeline
    z, mel = torch.randn(1, 8, 16), torch.randn(1, 20, 64)
    with torch.no_grad():
        torch.testing.assert_close(pipe.vae.decode(z).sample, other.vae.decode(z).sample, rtol=0, atol=0)
        expected = other.vocoder(mel)
        assert not torch.allclose(expected, original.vocoder(mel))
        torch.testing.assert_close(pipe.vocoder(mel), expected, rtol=1e-5, atol=1e-6)  # weight norm folded
    summary = result.summary()
    assert (
        "first_stage_model.{encoder,decoder,quant_conv,post_quant_conv}.* -> dropped: replaced by the VAE "
        "checkpoint" in summary
    )
    assert "VAE checkpoint:      1 x loss.* -> dropped" in summary
    assert "vocoder.* -> dropped: replaced by the vocoder checkpoint" in summary


def test_ema_weights(original, files, tmp_path):
    ema = original_pipeline(seed=2).transformer
    state = reference_state_dict(original)
    state.update({"model_ema.diffusion_model" + k.replace(".", ""): v for k, v in ema.named_parameters()})
    state.update({"model_ema.decay": torch.tensor(0.999), "model_ema.num_updates": torch.tensor(7)})
    save_lightning(tmp_path / "ema.ckpt", state)
    x, text = torch.randn(1, 8, 32), torch.randn(1, 24)
    with torch.no_grad():
        result = convert_genau_checkpoint(
            tmp_path / "ema.ckpt", config=files / "genau.yaml", use_ema=True, **encoders(original)
        )
        torch.testing.assert_close(result.pipeline.transformer(x, 10, text).sample, ema(x, 10, text).sample)
        plain = convert_genau_checkpoint(tmp_path / "ema.ckpt", config=files / "genau.yaml", **encoders(original))
        torch.testing.assert_close(
            plain.pipeline.transformer(x, 10, text).sample, original.transformer(x, 10, text).sample
        )
    assert "model_ema.* -> dropped: EMA copy (use_ema=False)" in plain.summary()
    with pytest.raises(ValueError, match="use_ema=True but the checkpoint has no EMA weights"):
        convert_genau_checkpoint(files / "genau.ckpt", config=files / "genau.yaml", use_ema=True, **encoders(original))


@pytest.mark.filterwarnings("ignore:.*weight_norm.* is deprecated")
def test_fold_weight_norm_equals_torch_remove_weight_norm():
    torch.manual_seed(0)
    for conv in (torch.nn.Conv1d(3, 5, 7), torch.nn.ConvTranspose1d(6, 3, 8, stride=4)):
        normed = torch.nn.utils.weight_norm(conv)
        with torch.no_grad():
            normed.weight_g.mul_(torch.rand_like(normed.weight_g) + 0.5)
        folded = fold_weight_norm(normed.state_dict())
        torch.nn.utils.remove_weight_norm(normed)
        assert set(folded) == {"weight", "bias"}
        torch.testing.assert_close(folded["weight"], normed.weight)
    with pytest.raises(ValueError, match=r"weight-norm pairs are incomplete, missing: \['x.weight_v'\]"):
        fold_weight_norm({"x.weight_g": torch.ones(2, 1, 1)})


def test_config_loader_reads_module_tags(files):
    config = load_genau_config(files / "genau.yaml")
    params = config["model"]["params"]["unet_config"]["params"]
    assert params["fit_block_module"] == "src.modules.fit.layers.fit_layers.FITBlockV5"
    assert params["input_size"] == [1, 64, 1]  # anchors resolved


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda s: s.pop("model.diffusion_model.blocks.1.global_layers.0.1.net.3.bias"),
            r"1 missing key\(s\): \['model.diffusion_model.blocks.1.global_layers.0.1.net.3.bias'\]",
        ),
        (
            lambda s: s.update({"model.diffusion_model.extra.weight": torch.ones(1)}),
            r"1 unknown key\(s\): \['model.diffusion_model.extra.weight'\]",
        ),
        (
            lambda s: s.update({"cond_stage_models.7.foo": torch.ones(1), "bar": torch.ones(1)}),
            r"2 key\(s\) the GenAU converter does not know: \['bar', 'cond_stage_models.7.foo'\]",
        ),
        (
            lambda s: s.update({"model.diffusion_model.blocks.0.local_layers.0.0.to_out.weight": torch.ones(32, 31)}),
            r"shape mismatch.*to_out.weight: checkpoint \(32, 31\) vs model \(32, 32\)",
        ),
        (
            lambda s: s.update({"first_stage_model.decoder.conv_out.bias": torch.ones(65)}),
            r"GenAU checkpoint's VAE weights do not match.*decoder.conv_out.bias: checkpoint \(65,\) vs model \(64,\)",
        ),
        (
            lambda s: s.pop("first_stage_model.vocoder.resblocks.4.convs2.1.bias"),
            r"HiFi-GAN weights do not match.*missing key\(s\): \['first_stage_model\.vocoder\.resblocks\.4\.convs2\.1\."
            r"bias'\]",
        ),
        (
            lambda s: s.update({"alphas_cumprod": s["alphas_cumprod"] ** 1.1}),
            "alphas_cumprod does not follow the config's linear schedule",
        ),
        (lambda s: s.pop("scale_factor"), "has no scale_factor"),
    ],
)
def test_bad_checkpoints(original, files, tmp_path, edit, message):
    state = reference_state_dict(original)
    edit(state)
    save_lightning(tmp_path / "bad.ckpt", state)
    with pytest.raises(ValueError, match=message):
        convert_genau_checkpoint(tmp_path / "bad.ckpt", config=files / "genau.yaml", **encoders(original))


def test_bad_files_and_arguments(original, files, tmp_path):
    (tmp_path / "notes.txt").write_text("not a checkpoint\n")
    with pytest.raises(ValueError, match="notes.txt is not a PyTorch checkpoint"):
        convert_genau_checkpoint(tmp_path / "notes.txt")
    torch.save({"model": {"w": torch.ones(1)}, "epoch": 1}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match=r"not a Lightning checkpoint: no 'state_dict' of tensors \(top-level keys: "):
        convert_genau_checkpoint(tmp_path / "other.ckpt")
    save_lightning(tmp_path / "unet.ckpt", {"model.diffusion_model.input_blocks.0.0.weight": torch.ones(1)})
    with pytest.raises(ValueError, match=r"no FiT denoiser .*Its denoiser keys: \['model.diffusion_model.input_bl"):
        convert_genau_checkpoint(tmp_path / "unet.ckpt")  # e.g. an AudioLDM (UNet) checkpoint
    with pytest.raises(FileNotFoundError, match="GenAU checkpoint not found"):
        convert_genau_checkpoint(tmp_path / "missing.ckpt")

    # hyper-parameters saved as an object the safe unpickler refuses
    torch.save({"state_dict": {"w": torch.ones(1)}, "hparams": argparse.Namespace(lr=1)}, tmp_path / "pickled.ckpt")
    with pytest.raises(ValueError, match="Python global argparse.Namespace, which torch's safe .*--allow-pickle"):
        convert_genau_checkpoint(tmp_path / "pickled.ckpt")

    config = load_genau_config(files / "genau.yaml")
    config["model"]["params"]["unet_config"]["params"]["patch_channels"] = 64
    with pytest.raises(ValueError, match="config does not describe the checkpoint's FiT: hidden_size: config 64 vs"):
        convert_genau_checkpoint(files / "genau.ckpt", config=config, **encoders(original))
    config = load_genau_config(files / "genau.yaml")
    config["model"]["params"]["unet_config"]["params"]["time_pe_type"] = "sinusoidal_pix2seq"
    with pytest.raises(ValueError, match="FiT .unet_config. uses settings the port does not implement: time_pe_type"):
        convert_genau_checkpoint(files / "genau.ckpt", config=config, **encoders(original))
    with pytest.raises(ValueError, match="CLAP tokenizer not found: .*nope .no such directory.*pass tokenizer="):
        convert_genau_checkpoint(
            files / "genau.ckpt",
            config=files / "genau.yaml",
            **{**encoders(original), "tokenizer": str(tmp_path / "nope")},
        )
    with pytest.raises(ValueError, match="upsamples by 128 .* but the config's mel hop is 160"):
        convert_genau_checkpoint(
            files / "genau.ckpt",
            config=files / "genau.yaml",
            **encoders(original),
            vocoder_config={"upsample_rates": [4, 4, 2, 2, 2], "resblock_dilation_sizes": [[1, 3, 5]] * 3},
        )


def test_cli(files, tmp_path, capsys):
    out_dir = tmp_path / "cli-out"
    argv = [
        "convert",
        "genau",
        str(files / "genau.ckpt"),
        str(out_dir),
        "--config",
        str(files / "genau.yaml"),
        "--tokenizer",
        str(files / "clap-tokenizer"),
        "--tokenizer-2",
        str(files / "t5-tokenizer"),
        "--text-encoder",
        str(files / "clap-encoder"),
        "--text-encoder-2",
        str(files / "t5-encoder"),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out_dir}: GenAU with a 2-block FiT" in printed and "clap.* -> dropped" in printed
    assert "cond_stage_models.1.model.* -> dropped: replaced by the given text_encoder_2" in printed
    assert json.loads((out_dir / "model_index.json").read_text())["_class_name"] == "GenAUPipeline"
    assert main(["convert", "genau", str(tmp_path / "nope.ckpt"), str(tmp_path / "x")]) == 2
    assert "GenAU checkpoint not found" in capsys.readouterr().err
    argv = [
        "convert",
        "genau",
        str(files / "genau.ckpt"),
        str(tmp_path / "y"),
        "--tokenizer",
        str(files / "clap-tokenizer"),
        "--tokenizer-2",
        str(files / "t5-tokenizer"),
    ]
    assert main(argv) == 2
    assert "(--attention-head-dim)" in capsys.readouterr().err
    assert main(argv + ["--attention-head-dim", "8"]) == 2
    assert "group size is not stored in the checkpoint" in capsys.readouterr().err
    np.testing.assert_array_equal(  # the written pipeline generates
        GenAUPipeline.from_pretrained(out_dir)(
            "rain", num_inference_steps=2, audio_length_in_s=0.32, generator=torch.Generator().manual_seed(0)
        ).audios.shape,
        (1, 5120),
    )


def test_text_encoders_are_rebuilt_from_checkpoint_shapes():
    """Without a config, the CLAP text tower (RoBERTa: width / 64 heads, eps 1e-5) and the T5 encoder (gated-GELU
    when wi_0/wi_1 exist, T5's default position range) are sized from the tensors alone."""
    from transformers import ClapTextConfig, ClapTextModelWithProjection, T5Config, T5EncoderModel

    from hf_audiogen.genau.convert_genau import build_text_encoder

    torch.manual_seed(0)
    clap = ClapTextModelWithProjection(
        ClapTextConfig(
            vocab_size=64,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=1,
            intermediate_size=32,
            max_position_embeddings=34,
            projection_dim=8,
            layer_norm_eps=1e-5,
            pad_token_id=1,
        )
    ).eval()
    laion = {
        k.replace("text_model.", "text_branch.")
        .replace("text_projection.linear1.", "text_projection.0.")
        .replace("text_projection.linear2.", "text_projection.2."): v
        for k, v in clap.state_dict().items()
        if not k.endswith(("position_ids", "token_type_ids"))
    }
    t5 = T5EncoderModel(
        T5Config(
            vocab_size=64,
            d_model=16,
            d_kv=4,
            d_ff=24,
            num_layers=2,
            num_heads=3,
            relative_attention_num_buckets=8,
            feed_forward_proj="gated-gelu",
        )
    ).eval()
    ids = torch.tensor([[5, 9, 3, 22, 17, 2, 1, 1]])
    mask = (ids != 1).long()
    rebuilt_clap = build_text_encoder("clap", laion, None)
    rebuilt_t5 = build_text_encoder("t5", t5.state_dict(), None)
    assert rebuilt_clap.config.num_attention_heads == 1 and rebuilt_t5.config.is_gated_act
    with torch.no_grad():
        torch.testing.assert_close(
            rebuilt_clap(input_ids=ids, attention_mask=mask).text_embeds,
            clap(input_ids=ids, attention_mask=mask).text_embeds,
            rtol=0,
            atol=0,
        )
        torch.testing.assert_close(
            rebuilt_t5(input_ids=ids, attention_mask=mask).last_hidden_state,
            t5(input_ids=ids, attention_mask=mask).last_hidden_state,
            rtol=0,
            atol=0,
        )
    with pytest.raises(ValueError, match="holds no clap text-encoder weights: pass text_encoder="):
        build_text_encoder("clap", {}, None)


def test_schedules_other_than_linear_and_v_prediction():
    from hf_audiogen.genau.convert_genau import build_scheduler

    # LDM's "cosine" schedule (cosine_s 8e-3, betas clipped at 0.999), as the reference's make_beta_schedule
    steps = torch.arange(1001, dtype=torch.float64) / 1000 + 8e-3
    alphas = torch.cos(steps / (1 + 8e-3) * torch.pi / 2) ** 2
    betas = (1 - alphas[1:] / alphas[:-1]).clamp(0, 0.999)
    alphas_cumprod = torch.cumprod(1 - betas, 0).float()
    config = {"model": {"params": {"beta_schedule": "cosine", "parameterization": "v", "timesteps": 1000}}}
    scheduler = build_scheduler(alphas_cumprod, config)
    assert scheduler.config.prediction_type == "v_prediction" and scheduler.config.trained_betas is not None
    assert (scheduler.alphas_cumprod.double() - alphas_cumprod.double()).abs().max() < 1e-5
    assert build_scheduler(alphas_cumprod, None).config.trained_betas is not None  # not a scaled-linear one
    with pytest.raises(ValueError, match="parameterization='x0': only 'eps' and 'v'"):
        build_scheduler(alphas_cumprod, {"model": {"params": {"parameterization": "x0"}}})
    with pytest.raises(ValueError, match="timesteps=500 but the checkpoint's alphas_cumprod has 1000"):
        build_scheduler(alphas_cumprod, {"model": {"params": {"timesteps": 500}}})
