"""GenAU parity: the reference FiT denoiser, 1D-VAE and HiFi-GAN (snap-research/GenAU) vs ours, same random weights;
checkpoint conversion of a Lightning state dict made from the reference modules; the reference DDIM sampler vs
GenAUPipeline over whole trajectories.

The reference code is imported from a local checkout named by ``GENAU_REPO`` (the repository root, containing
``GenAU/src``) by ``genau_reference.py`` (shared with ``benchmarks/genau_speed.py``); it is never copied into
hf_audiogen.
Run: ``GENAU_REPO=/path/to/GenAU .venv/bin/python -m pytest -m parity tests/parity/test_parity_genau.py``
(``pip install einops`` in that venv first).
"""

import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

# tests/factories.py (tiny text encoders for the conversion and sampling tests), when this file runs on its own
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

sys.path.insert(0, str(Path(__file__).resolve().parent))
import genau_reference  # noqa: E402 (the reference importer shared with benchmarks/genau_speed.py)

pytestmark = pytest.mark.parity

GENAU_REPO = os.environ.get("GENAU_REPO")
if genau_reference.unavailable_reason(GENAU_REPO):
    pytest.skip(
        f"{genau_reference.unavailable_reason(GENAU_REPO)}: set GENAU_REPO to a checkout of "
        "snap-research/GenAU (containing GenAU/src/modules/fit) to run the GenAU parity tests",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def reference():
    with genau_reference.reference_modules(GENAU_REPO) as ref:
        yield ref


TINY = dict(C=8, D=32, Dl=48, ctx=40, text=24, blocks=2, local=2, glob=2, heads=4, dim_head=8, ids=32)


def build_reference_fit(ref, T, p, g, L):
    """The reference FIT with GenAU's sample-yaml structure (FITBlockV5, context conditioning) at tiny sizes."""
    c = TINY
    return ref.FIT(
        weight_initializer={"target": ref.RINWeightScalerInitializer, "scale": 3**-0.5},
        fit_block_module=ref.FITBlockV5,
        context_channels=c["ctx"],
        summary_text_embeddings_channels=c["text"],
        conditioning_in_context=True,
        time_pe_type="learned",
        use_dataset_id_conditioning=True,
        dataset_ids_count=c["ids"],
        input_size=[1, T, 1],
        patch_size=[1, p, 1],
        group_size=[1, g, 1],
        input_channels=c["C"],
        patch_channels=c["D"],
        fit_blocks_count=c["blocks"],
        local_layers_per_block=c["local"],
        global_layers_per_block=c["glob"],
        latent_count=L,
        latent_channels=c["Dl"],
        self_conditioning_ff_config={},
        fit_block_config=dict(
            attention_class=ref.Attention,
            ff_class=ref.FeedForward,
            drop_units=0.1,
            drop_path=0.0,
            use_cross_attention_feedforward=True,
            default_attention_config=dict(heads=c["heads"], dim_head=c["dim_head"]),
        ),
    )


def run_reference(ref, model, x, text, t, dataset_id, latents=None):
    return genau_reference.run_reference_fit(ref, model, x, t, text, dataset_id, latents)


@pytest.mark.parametrize("T, p, g, L", [(32, 1, 8, 8), (64, 2, 4, 16)])
def test_fit_parity(reference, T, p, g, L):
    from hf_audiogen.genau import FiTTransformer1DModel

    torch.manual_seed(0)
    ref_model = build_reference_fit(reference, T, p, g, L).double().eval()
    c = TINY
    ours = (
        FiTTransformer1DModel(
            in_channels=c["C"],
            sample_size=T,
            patch_size=p,
            group_size=g,
            num_latents=L,
            hidden_size=c["D"],
            latent_hidden_size=c["Dl"],
            context_dim=c["ctx"],
            num_blocks=c["blocks"],
            local_layers_per_block=c["local"],
            global_layers_per_block=c["glob"],
            num_attention_heads=c["heads"],
            attention_head_dim=c["dim_head"],
            text_embed_dim=c["text"],
            num_dataset_ids=c["ids"],
        )
        .double()
        .eval()
    )
    ours.load_state_dict(ref_model.state_dict(), strict=True)  # the reference's names, 1:1
    with torch.no_grad():  # exercise the self-conditioning path with a non-zero gamma
        gamma = ours.self_conditioning_latents_projection[1].gamma
        gamma.normal_()
        ref_model.self_conditioning_latents_projection[1].gamma.copy_(gamma)
    g_ = torch.Generator().manual_seed(1)
    x = torch.randn(3, c["C"], T, generator=g_, dtype=torch.float64)
    text = torch.randn(3, c["text"], generator=g_, dtype=torch.float64)
    t = torch.tensor([0.0, 500.0, 999.0], dtype=torch.float64)
    dataset_id = torch.tensor([0, 9, 3])
    with torch.no_grad():
        eps_ref, latents_ref = run_reference(reference, ref_model, x, text, t, dataset_id)
        out = ours(x, t, text, dataset_id)
        assert (out.sample - eps_ref).abs().max() < 1e-9 and (out.latents - latents_ref).abs().max() < 1e-9
        prev = torch.randn(latents_ref.shape, generator=g_, dtype=torch.float64)
        eps_ref_sc, _ = run_reference(reference, ref_model, x, text, t, dataset_id, prev)
        assert (ours(x, t, text, dataset_id, self_conditioning_latents=prev).sample - eps_ref_sc).abs().max() < 1e-9
        ref_model.float(), ours.float()
        eps_ref32, _ = run_reference(reference, ref_model, x.float(), text.float(), t.float(), dataset_id)
        assert (ours(x.float(), t.float(), text.float(), dataset_id).sample - eps_ref32).abs().max() < 3e-5


def test_vocoder_parity(reference):
    from transformers import SpeechT5HifiGan

    from hf_audiogen.genau import genau_vocoder_config

    h = types.SimpleNamespace(
        resblock="1",
        upsample_rates=[5, 4, 2, 2, 2],
        upsample_kernel_sizes=[16, 16, 8, 4, 4],
        upsample_initial_channel=64,
        resblock_kernel_sizes=[3, 7, 11],
        resblock_dilation_sizes=[[1, 3, 5]] * 3,
        num_mels=64,
    )
    torch.manual_seed(0)
    generator = reference.Generator(h)
    generator.remove_weight_norm()  # GenAU loads the weight-normed checkpoint, then removes weight norm
    ours = SpeechT5HifiGan(genau_vocoder_config(upsample_initial_channel=64)).eval()
    state = {k.replace("ups.", "upsampler."): v for k, v in generator.eval().state_dict().items()}
    missing, unexpected = ours.load_state_dict(state, strict=False)
    assert sorted(missing) == ["mean", "scale"] and not unexpected
    mel = torch.randn(2, 64, 40)
    with torch.no_grad():
        torch.testing.assert_close(ours(mel.transpose(1, 2)), generator(mel)[:, 0], rtol=0, atol=1e-6)


def test_vae_parity(reference):
    """Encoder1D/Decoder1D + quant convs (the reference's AutoencoderKL1D minus Lightning) vs AutoencoderKL1D."""
    from hf_audiogen.genau import AutoencoderKL1D

    ddconfig = dict(
        double_z=True,
        mel_bins=64,
        z_channels=8,
        resolution=256,
        downsample_time=False,
        in_channels=64,
        out_ch=64,
        ch=32,
        ch_mult=[1, 1, 2],
        num_res_blocks=1,
        attn_resolutions=[],
        dropout=0.0,
    )
    torch.manual_seed(0)
    parts = {
        "encoder": reference.Encoder1D(**ddconfig),
        "decoder": reference.Decoder1D(**ddconfig),
        "quant_conv": torch.nn.Conv1d(16, 16, 1),
        "post_quant_conv": torch.nn.Conv1d(8, 8, 1),
    }
    state = {f"{prefix}.{k}": v for prefix, part in parts.items() for k, v in part.double().eval().state_dict().items()}
    ours = AutoencoderKL1D(block_out_channels=(32, 32, 64), layers_per_block=1, z_channels=8, latent_channels=8)
    ours.double().eval().load_state_dict(state, strict=True)  # the reference's names (first_stage_model. stripped)
    mel = torch.randn(2, 64, 1024, dtype=torch.float64)
    z = torch.randn(2, 8, 256, dtype=torch.float64)
    with torch.no_grad():
        moments = parts["quant_conv"](parts["encoder"](mel))
        torch.testing.assert_close(ours.encode(mel).latent_dist.parameters, moments, rtol=0, atol=1e-9)
        torch.testing.assert_close(
            ours.decode(z).sample, parts["decoder"](parts["post_quant_conv"](z)), rtol=0, atol=1e-9
        )


# ---------------------------------------------------------------------------------------------------------------------
# Checkpoint conversion and DDIM sampling against the reference
# ---------------------------------------------------------------------------------------------------------------------
def reference_schedule_buffers(ref) -> dict:
    """GenAU's DDPM.register_schedule for its config: LDM "linear" betas, float32 buffers."""
    betas = ref.make_beta_schedule("linear", 1000, linear_start=0.0015, linear_end=0.0195)
    alphas_cumprod = np.cumprod(1.0 - betas, axis=0)
    return {
        "alphas_cumprod": torch.tensor(alphas_cumprod, dtype=torch.float32),
        "alphas_cumprod_prev": torch.tensor(np.append(1.0, alphas_cumprod[:-1]), dtype=torch.float32),
        "sqrt_alphas_cumprod": torch.tensor(np.sqrt(alphas_cumprod), dtype=torch.float32),
        "sqrt_one_minus_alphas_cumprod": torch.tensor(np.sqrt(1.0 - alphas_cumprod), dtype=torch.float32),
    }


HIFIGAN = dict(
    resblock="1",
    upsample_rates=[5, 4, 2, 2, 2],
    upsample_kernel_sizes=[16, 16, 8, 4, 4],
    upsample_initial_channel=32,
    resblock_kernel_sizes=[3, 7, 11],
    resblock_dilation_sizes=[[1, 3, 5]] * 3,
    num_mels=64,
    sampling_rate=16000,
)
VAE_DDCONFIG = dict(
    double_z=True,
    mel_bins=64,
    z_channels=8,
    resolution=256,
    downsample_time=False,
    in_channels=64,
    out_ch=64,
    ch=32,
    ch_mult=[1, 1, 2],
    num_res_blocks=1,
    attn_resolutions=[],
    dropout=0.0,
)


def tiny_reference_config(T, p, g, L) -> dict:
    """The run YAML (as a dict) for the reference modules built here (sizes of TINY)."""
    c = TINY
    fit = dict(
        fit_block_module="src.modules.fit.layers.fit_layers.FITBlockV5",
        context_channels=c["ctx"],
        summary_text_embeddings_channels=c["text"],
        conditioning_in_context=True,
        time_pe_type="learned",
        use_dataset_id_conditioning=True,
        dataset_ids_count=c["ids"],
        input_size=[1, T, 1],
        patch_size=[1, p, 1],
        group_size=[1, g, 1],
        input_channels=c["C"],
        patch_channels=c["D"],
        fit_blocks_count=c["blocks"],
        local_layers_per_block=c["local"],
        global_layers_per_block=c["glob"],
        latent_count=L,
        latent_channels=c["Dl"],
        self_conditioning_ff_config={},
        fit_block_config=dict(
            drop_units=0.1,
            drop_path=0.0,
            use_cross_attention_feedforward=True,
            default_attention_config=dict(heads=c["heads"], dim_head=c["dim_head"]),
        ),
    )
    film = "src.modules.conditional.conditional_models."
    return {
        "preprocessing": {"stft": {"hop_length": 160}},
        "model": {
            "params": dict(
                sampling_rate=16000,
                linear_start=0.0015,
                linear_end=0.0195,
                timesteps=1000,
                parameterization="eps",
                scale_by_std=True,
                unet_config={"target": "src.modules.fit.fit_audio.FIT", "params": fit},
                first_stage_config={
                    "target": "src.modules.latent_encoder.autoencoder_1d.AutoencoderKL1D",
                    "params": {"embed_dim": 8, "ddconfig": VAE_DDCONFIG},
                },
                cond_stage_config={
                    "film_clap_cond1": {
                        "target": film + "CLAPAudioEmbeddingClassifierFreev2",
                        "params": {"embed_mode": "text"},
                    },
                    "film_flan_t5_cond2": {
                        "target": film + "FlanT5HiddenState",
                        "params": {"return_embeds": True, "pool_tokens": True},
                    },
                    "noncond_dataset_ids": {"target": film + "DatasetIDs", "params": {"encode_dataset_ids": False}},
                },
            )
        },
    }


def test_converter_parity(reference, tmp_path):
    """A Lightning state dict made from the REFERENCE FiT, Encoder1D/Decoder1D and HiFi-GAN Generator (random weights)
    converts into a pipeline whose FiT, VAE and vocoder compute what the reference modules compute."""
    from hf_audiogen.genau.convert_genau import convert_genau_checkpoint

    from factories import tiny_genau_pipeline, tiny_text_tokenizer

    T, p, g, L = 64, 2, 4, 16
    torch.manual_seed(0)
    fit = build_reference_fit(reference, T, p, g, L).eval()
    parts = {
        "encoder": reference.Encoder1D(**VAE_DDCONFIG),
        "decoder": reference.Decoder1D(**VAE_DDCONFIG),
        "quant_conv": torch.nn.Conv1d(16, 16, 1),
        "post_quant_conv": torch.nn.Conv1d(8, 8, 1),
    }
    hifigan = reference.Generator(types.SimpleNamespace(**HIFIGAN))  # weight-normed, as hifigan_16k_64bins.ckpt
    with torch.no_grad():  # HiFi-GAN's init (std 0.01) is nearly silent: torch's default init gives a real signal
        for module in hifigan.modules():
            if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                module.weight_v.normal_(0, 1)
                module.weight_g.uniform_(0.5, 1.5)
    torch.save({"generator": hifigan.state_dict()}, tmp_path / "hifigan.ckpt")
    folded = reference.Generator(types.SimpleNamespace(**HIFIGAN))
    folded.load_state_dict(hifigan.state_dict())
    folded.remove_weight_norm()  # GenAU's get_vocoder removes weight norm, so its checkpoints hold folded weights

    texts = tiny_genau_pipeline()  # the text encoders: the reference CLAP/FLAN-T5 need pretrained downloads
    state = {f"model.diffusion_model.{k}": v for k, v in fit.state_dict().items()}
    state.update(
        {f"first_stage_model.{name}.{k}": v for name, part in parts.items() for k, v in part.state_dict().items()}
    )
    state.update({f"first_stage_model.vocoder.{k}": v for k, v in folded.state_dict().items()})
    state["first_stage_model.loss.logvar"] = torch.zeros(())
    for key, value in texts.text_encoder.state_dict().items():
        if not key.endswith(("position_ids", "token_type_ids")):
            key = key.replace("text_model.", "text_branch.").replace("text_projection.linear1.", "text_projection.0.")
            state["cond_stage_models.0.model." + key.replace("text_projection.linear2.", "text_projection.2.")] = value
    state.update({f"cond_stage_models.1.model.{k}": v for k, v in texts.text_encoder_2.state_dict().items()})
    state.update(
        {**reference_schedule_buffers(reference), "logvar": torch.zeros(1000), "scale_factor": torch.tensor(0.85)}
    )
    torch.save({"state_dict": state, "global_step": 10}, tmp_path / "genau.ckpt")
    kwargs = dict(
        config=tiny_reference_config(T, p, g, L),
        tokenizer=tiny_text_tokenizer(),
        tokenizer_2=tiny_text_tokenizer(),
        text_encoder=texts.text_encoder.config,
        text_encoder_2=texts.text_encoder_2.config,
    )
    pipe = convert_genau_checkpoint(tmp_path / "genau.ckpt", **kwargs).pipeline
    from_file = convert_genau_checkpoint(tmp_path / "genau.ckpt", vocoder=tmp_path / "hifigan.ckpt", **kwargs).pipeline

    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3, 8, T, generator=generator)
    text = torch.randn(3, 24, generator=generator)
    t, ids = torch.tensor([0.0, 500.0, 999.0]), torch.tensor([0, 9, 3])
    mel = torch.randn(2, 64, 1024, generator=generator)
    z = torch.randn(2, 8, 256, generator=generator)
    with torch.no_grad():
        diffs = {}
        diffs["FiT eps (fp32)"] = (
            (pipe.transformer(x, t, text, ids).sample - run_reference(reference, fit, x, text, t, ids)[0]).abs().max()
        )
        diffs["VAE encode (fp32)"] = (
            (pipe.vae.encode(mel).latent_dist.parameters - parts["quant_conv"](parts["encoder"](mel))).abs().max()
        )
        diffs["VAE decode (fp32)"] = (
            (pipe.vae.decode(z).sample - parts["decoder"](parts["post_quant_conv"](z))).abs().max()
        )
        wave = hifigan(mel[:, :, :40])[:, 0]
        assert wave.abs().max() > 0.05
        diffs["vocoder, folded in ckpt (fp32)"] = (pipe.vocoder(mel[:, :, :40].transpose(1, 2)) - wave).abs().max()
        diffs["vocoder, weight-normed file (fp32)"] = (
            (from_file.vocoder(mel[:, :, :40].transpose(1, 2)) - wave).abs().max()
        )
        fit.double(), pipe.transformer.double()
        diffs["FiT eps (fp64)"] = (
            (
                pipe.transformer(x.double(), t.double(), text.double(), ids).sample
                - run_reference(reference, fit, x.double(), text.double(), t.double(), ids)[0]
            )
            .abs()
            .max()
        )
    print("converter parity, max |ours - reference|: " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))
    assert pipe.vae.config.scaling_factor == pytest.approx(0.85)
    assert diffs["FiT eps (fp64)"] < 1e-12 and diffs["FiT eps (fp32)"] < 1e-4
    assert diffs["VAE encode (fp32)"] < 1e-4 and diffs["VAE decode (fp32)"] < 1e-4
    assert diffs["vocoder, folded in ckpt (fp32)"] < 1e-5 and diffs["vocoder, weight-normed file (fp32)"] < 1e-5


class ReferenceGenAuStub:
    """What the reference ``DDIMSampler`` reads from ``GenAu``: the float32 schedule buffers, ``parameterization``
    and ``apply_model``, which feeds the reference FIT the way ``DiffusionWrapper.forward`` does (the "film" entries
    concatenated into the text summary, the dataset ids, and the previous step's latents for self-conditioning)."""

    def __init__(self, ref, fit, buffers):
        self.ref, self.fit = ref, fit
        self.num_timesteps, self.device, self.parameterization = 1000, torch.device("cpu"), "eps"
        self.alphas_cumprod, self.alphas_cumprod_prev = buffers["alphas_cumprod"], buffers["alphas_cumprod_prev"]

    def apply_model(self, x, t, cond, return_model_out=False, prev_iter_model_out=None):
        entries = self.ref.DataEntries()
        text = torch.cat([cond[key].squeeze(1) for key in cond if "film" in key], dim=-1)
        entries.add(self.ref.DataEntry("input", x, type="input"))
        entries.add(self.ref.DataEntry("summary_text_embeddings", text.unsqueeze(1)))
        entries.add(self.ref.DataEntry("noise_labels", t))
        entries.add(self.ref.DataEntry("dataset_id", cond["noncond_dataset_ids"]))
        if prev_iter_model_out is not None:
            for key in list(prev_iter_model_out.keys(types_filter="self-conditioning")):
                entries.add(prev_iter_model_out[key].shallow_copy())
        out = self.fit(entries)
        return (out["input"].data, out) if return_model_out else out["input"].data


@pytest.mark.parametrize("steps, eta", [(100, 1.0), (200, 1.0), (100, 0.0)])
def test_ddim_sampler_parity(reference, steps, eta):
    """The reference DDIMSampler (LDM, as GenAU samples: CFG 4, the FIT with self-conditioning) and GenAUPipeline
    with the same FiT weights, initial noise and per-step noise give the same x_t at every step (float64 arithmetic;
    the reference's schedule buffers are float32, as GenAU registers them)."""
    from hf_audiogen.genau import FiTTransformer1DModel, GenAUPipeline

    from factories import tiny_genau_pipeline

    T, p, g, L, c = 32, 1, 8, 8, TINY
    torch.manual_seed(0)
    fit = build_reference_fit(reference, T, p, g, L).double().eval()  # self-conditioning gamma 0, as trained
    ours = FiTTransformer1DModel(
        in_channels=c["C"],
        sample_size=T,
        patch_size=p,
        group_size=g,
        num_latents=L,
        hidden_size=c["D"],
        latent_hidden_size=c["Dl"],
        context_dim=c["ctx"],
        num_blocks=c["blocks"],
        local_layers_per_block=c["local"],
        global_layers_per_block=c["glob"],
        num_attention_heads=c["heads"],
        attention_head_dim=c["dim_head"],
        text_embed_dim=c["text"],
        num_dataset_ids=c["ids"],
    )
    ours.load_state_dict(fit.state_dict(), strict=True)
    pipe = GenAUPipeline(**{**tiny_genau_pipeline().components, "transformer": ours.eval()}).to(torch.float64)
    pipe.set_progress_bar_config(disable=True)
    prompts, scale, dataset_id, seed = ["a dog barks in the park", "rain falls"], 4.0, 3, 0
    x_T = torch.randn(2, c["C"], T, 1, generator=torch.Generator().manual_seed(7), dtype=torch.float64)

    with torch.no_grad():
        cond, uncond = pipe.encode_prompt(prompts, torch.device("cpu"), 1, True, None)
        buffers = reference_schedule_buffers(reference)
        sampler = reference.DDIMSampler(ReferenceGenAuStub(reference, fit, buffers), device=torch.device("cpu"))
        recorded, taken = [], []
        p_sample_ddim = sampler.p_sample_ddim

        def recording(x, c_, t, *args, **kwargs):
            out = p_sample_ddim(x, c_, t, *args, **kwargs)
            recorded.append(out[0][..., 0].clone())
            taken.append(int(t[0]))
            return out

        sampler.p_sample_ddim = recording
        noise_generator = torch.Generator().manual_seed(seed)
        saved_noise_like, saved_dtype = reference.ddim_module.noise_like, torch.get_default_dtype()
        # the reference draws the DDIM noise from the global RNG: draw it from a generator the pipeline also gets
        reference.ddim_module.noise_like = lambda shape, device, repeat=False: torch.randn(
            shape, generator=noise_generator, dtype=torch.float64
        )
        torch.set_default_dtype(torch.float64)  # the sampler's torch.full coefficients
        try:
            sampler.make_schedule(ddim_num_steps=steps, ddim_eta=eta, verbose=False)
            conditioning = {
                "film_clap_cond1": cond[:, None, :8],
                "film_flan_t5_cond2": cond[:, None, 8:],
                "noncond_dataset_ids": torch.full((2,), dataset_id),
            }
            unconditional = {
                "film_clap_cond1": uncond[:, None, :8],
                "film_flan_t5_cond2": uncond[:, None, 8:],
                "noncond_dataset_ids": torch.zeros(2, dtype=torch.long),
            }
            sampler.ddim_sampling(
                conditioning,
                x_T.shape,
                x_T=x_T,
                unconditional_guidance_scale=scale,
                unconditional_conditioning=unconditional,
                backbone_type="fit",
                log_every_t=10**6,
            )
        finally:
            reference.ddim_module.noise_like = saved_noise_like
            torch.set_default_dtype(saved_dtype)
        reference_trajectory = torch.stack(recorded)

        def pipeline_trajectory():
            trajectory = []
            pipe(
                prompts,
                latents=x_T[..., 0].clone(),
                num_inference_steps=steps,
                eta=eta,
                guidance_scale=scale,
                dataset_id=dataset_id,
                audio_length_in_s=T * 0.04,
                output_type="latent",
                generator=torch.Generator().manual_seed(seed),
                callback_on_step_end=lambda pipe, i, t, tensors: trajectory.append(tensors["latents"].clone()) or {},
            )
            return torch.stack(trajectory)

        as_configured = pipeline_trajectory()
        original = pipe.scheduler.alphas_cumprod, pipe.scheduler.final_alpha_cumprod
        try:  # the reference's float32 alphas_cumprod buffer instead of diffusers' own float32 computation
            pipe.scheduler.alphas_cumprod = buffers["alphas_cumprod"].double()
            pipe.scheduler.final_alpha_cumprod = pipe.scheduler.alphas_cumprod[0]
            same_alphas = pipeline_trajectory()
        finally:
            pipe.scheduler.alphas_cumprod, pipe.scheduler.final_alpha_cumprod = original

    assert taken == pipe.scheduler.timesteps.tolist() and len(taken) == steps
    scale_x = reference_trajectory.abs().max()
    diff_configured = (as_configured - reference_trajectory).abs().max()
    diff_same = (same_alphas - reference_trajectory).abs().max()
    print(
        f"DDIM S={steps} eta={eta}: max |x_t ours - reference| over the trajectory (fp64, max |x_t| "
        f"{scale_x:.1f}): as configured {diff_configured:.1e}, with the reference's alphas_cumprod {diff_same:.1e}"
    )
    # With the same alphas_cumprod values the remaining difference is the reference computing sqrt(1 - ᾱ_t) in
    # float32 (its ddim_sqrt_one_minus_alphas); diffusers' own float32 ᾱ add ~1e-6 relative.
    assert diff_same < 1e-7 * scale_x
    assert diff_configured < 1e-5 * scale_x


def test_converter_reads_the_reference_sample_config():
    """The repository's sample run YAML (with its !module tags) describes the "genau-sample" FiT preset, the
    released 1D-VAE sizes, the [CLAP, FLAN-T5] text summary and the dataset-id mapping."""
    from hf_audiogen.genau import FIT_PRESETS, GENAU_DATASET_NAMES
    from hf_audiogen.genau.convert_genau import (
        _cond_stage_kinds,
        _dataset_names,
        _fit_reference_settings,
        _vae_reference_settings,
        load_genau_config,
    )

    config = load_genau_config(Path(GENAU_REPO) / "GenAU" / "settings" / "simple_runs" / "genau.yaml")
    fit = _fit_reference_settings(config["model"]["params"]["unet_config"]["params"])
    assert {k: fit[k] for k in FIT_PRESETS["genau-sample"]} == FIT_PRESETS["genau-sample"]
    assert (fit["in_channels"], fit["sample_size"], fit["text_embed_dim"]) == (64, 256, 1536)
    assert fit["num_dataset_ids"] == 32
    assert _vae_reference_settings(config) == dict(
        in_channels=64,
        out_channels=64,
        z_channels=256,
        latent_channels=64,
        layers_per_block=3,
        dropout=0.0,
        block_out_channels=(512, 1024, 2048),
    )
    assert _cond_stage_kinds({}, config) == {0: "clap", 1: "t5", 2: "ids"}
    assert _dataset_names(config) == GENAU_DATASET_NAMES


def test_lamb_matches_the_reference_optimizer():
    """``--optimizer lamb`` (pytorch-optimizer's Lamb, configured by lamb_like_genau) vs GenAU's own lamb.py over 20
    steps in float64 (the package adds eps to the update norm in the trust ratio: a few 1e-9 apart)."""
    import importlib.util

    from hf_audiogen.training.loop import lamb_like_genau

    folder = Path(GENAU_REPO) / "GenAU" / "src" / "modules" / "optimizers"
    package = types.ModuleType("genau_reference_optimizers")
    package.__path__ = [str(folder)]
    sys.modules[package.__name__] = package
    try:
        spec = importlib.util.spec_from_file_location(f"{package.__name__}.lamb", folder / "lamb.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # its "from .types import ..." resolves inside the stub package
    finally:
        for name in [n for n in sys.modules if n.startswith(package.__name__)]:
            del sys.modules[name]
    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(16, 8).double(), torch.nn.Linear(16, 8).double()
    theirs.load_state_dict(ours.state_dict())
    optimizers = {
        id(ours): lamb_like_genau(list(ours.parameters()), 5e-3, 0.01, (0.9, 0.99)),
        id(theirs): module.Lamb(theirs.parameters(), lr=5e-3, betas=(0.9, 0.99), weight_decay=0.01),
    }
    for _ in range(20):
        x = torch.randn(4, 16, dtype=torch.float64)
        for model in (ours, theirs):
            optimizers[id(model)].zero_grad()
            model(x).pow(2).mean().backward()
            optimizers[id(model)].step()
    diff = max((a - b).abs().max().item() for a, b in zip(ours.parameters(), theirs.parameters()))
    print(f"LAMB, 20 steps, float64: max |ours - reference| = {diff:.2e}")
    assert diff < 1e-7
