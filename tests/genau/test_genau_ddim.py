"""GenAU's sampler: ``genau_ddim_scheduler`` (diffusers DDIM) against LDM's DDIM as GenAU runs it, restated from its
formulas (genau.md §1; ``GenAU/src/modules/latent_diffusion/ddim.py`` + ``utilities/diffusion/diffusion_util.py``):

* betas: ``linspace(sqrt(0.0015), sqrt(0.0195), 1000) ** 2`` (float64), ᾱ = cumprod(1 - β);
* timesteps ``range(0, 1000, 1000 // S) + 1`` walked backwards; ᾱ_prev of the first (t = 1) step is ᾱ[0];
* σ_t = η sqrt((1 - ᾱ_prev) / (1 - ᾱ_t) (1 - ᾱ_t / ᾱ_prev));
* x_prev = sqrt(ᾱ_prev) x̂_0 + sqrt(1 - ᾱ_prev - σ_t²) ε + σ_t z, with x̂_0 = (x_t - sqrt(1 - ᾱ_t) ε) / sqrt(ᾱ_t) and
  ε = ε_u + s (ε_c - ε_u) (two passes; the unconditional one with dataset id 0).

The whole GenAUPipeline trajectory (η = 1, CFG) is compared step by step in float64. The parity suite
(tests/parity/test_parity_genau.py) runs the reference sampler itself.
"""

import pytest
import torch

from hf_audiogen.genau import genau_ddim_scheduler

from factories import tiny_genau_pipeline

PROMPTS = ["a dog barks in the park", "rain falls"]


def ldm_alphas_cumprod() -> torch.Tensor:
    betas = torch.linspace(0.0015**0.5, 0.0195**0.5, 1000, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, dim=0)


def ldm_ddim(steps: int, eta: float):
    """LDM's DDIM timesteps (ascending), ᾱ_t, ᾱ_prev and σ_t."""
    alphas_cumprod = ldm_alphas_cumprod()
    timesteps = torch.arange(0, 1000, 1000 // steps) + 1
    alphas = alphas_cumprod[timesteps]
    alphas_prev = torch.cat([alphas_cumprod[:1], alphas_cumprod[timesteps[:-1]]])
    sigmas = eta * ((1 - alphas_prev) / (1 - alphas) * (1 - alphas / alphas_prev)).sqrt()
    return timesteps, alphas, alphas_prev, sigmas


@pytest.mark.parametrize("steps", [10, 50, 100, 200, 250])
def test_timesteps_and_alphas_are_ldm_ddim(steps):
    scheduler = genau_ddim_scheduler()
    scheduler.set_timesteps(steps)
    timesteps, alphas, alphas_prev, _ = ldm_ddim(steps, eta=1.0)
    assert scheduler.timesteps.tolist() == timesteps.flip(0).tolist()
    ours = scheduler.alphas_cumprod.double()
    ours_prev = torch.stack(
        [
            ours[t - 1000 // steps] if t - 1000 // steps >= 0 else scheduler.final_alpha_cumprod.double()
            for t in scheduler.timesteps
        ]
    )
    # float32 (diffusers) vs float64 (LDM before its float32 buffers): relative 1e-6
    torch.testing.assert_close(ours[scheduler.timesteps], alphas.flip(0), rtol=2e-6, atol=0)
    torch.testing.assert_close(ours_prev, alphas_prev.flip(0), rtol=2e-6, atol=0)


def test_non_divisor_step_counts_differ_from_ldm():
    """Documented limit: LDM walks ``range(0, 1000, 1000 // S)``, i.e. 31 steps for S = 30; diffusers takes 30."""
    scheduler = genau_ddim_scheduler()
    scheduler.set_timesteps(30)
    assert len(scheduler.timesteps) == 30 and len(ldm_ddim(30, 1.0)[0]) == 31


@pytest.fixture(scope="module")
def pipe():
    pipe = tiny_genau_pipeline().to(torch.float64)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def ldm_trajectory(pipe, x_t, steps, eta, scale, dataset_id, seed):
    """LDM's DDIM loop in float64 with ``pipe``'s FiT as ε-model; the per-step noise z is drawn from a generator
    seeded like the pipeline's, in the same order."""
    cond, uncond = pipe.encode_prompt(PROMPTS, torch.device("cpu"), 1, True, None)
    generator = torch.Generator().manual_seed(seed)
    timesteps, alphas, alphas_prev, sigmas = ldm_ddim(steps, eta)
    trajectory = []
    for index in reversed(range(len(timesteps))):
        t = timesteps[index]
        eps_u = pipe.transformer(x_t, t, uncond, dataset_id=0).sample
        eps_c = pipe.transformer(x_t, t, cond, dataset_id=dataset_id).sample
        eps = eps_u + scale * (eps_c - eps_u)
        a_t, a_prev, sigma = alphas[index], alphas_prev[index], sigmas[index]
        x0 = (x_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        noise = torch.randn(x_t.shape, generator=generator, dtype=torch.float64) if eta > 0 else 0.0
        x_t = a_prev.sqrt() * x0 + (1 - a_prev - sigma**2).sqrt() * eps + sigma * noise
        trajectory.append(x_t)
    return torch.stack(trajectory)


def pipeline_trajectory(pipe, x_t, steps, eta, scale, dataset_id, seed):
    trajectory = []

    def record(pipe, i, t, tensors):
        trajectory.append(tensors["latents"].clone())
        return tensors

    pipe(
        PROMPTS,
        latents=x_t.clone(),
        num_inference_steps=steps,
        eta=eta,
        guidance_scale=scale,
        dataset_id=dataset_id,
        audio_length_in_s=0.64,
        output_type="latent",
        callback_on_step_end=record,
        generator=torch.Generator().manual_seed(seed),
    )
    return torch.stack(trajectory)


@pytest.mark.parametrize("eta", [1.0, 0.0])
def test_pipeline_trajectory_is_ldm_ddim(pipe, eta):
    steps, scale, dataset_id, seed = 100, 4.0, 1, 0
    x_t = torch.randn(2, 8, 16, generator=torch.Generator().manual_seed(123), dtype=torch.float64)
    with torch.no_grad():
        reference = ldm_trajectory(pipe, x_t, steps, eta, scale, dataset_id, seed)
        ours = pipeline_trajectory(pipe, x_t, steps, eta, scale, dataset_id, seed)
        assert ours.shape == reference.shape == (steps, 2, 8, 16)
        # As configured: the only difference is diffusers' float32 ᾱ (relative ~1e-6)
        assert (ours - reference).abs().max() < 1e-4 * reference.abs().max()
        # Same ᾱ (LDM's float64): the update itself is the same to float64 rounding
        original = pipe.scheduler.alphas_cumprod, pipe.scheduler.final_alpha_cumprod
        try:
            pipe.scheduler.alphas_cumprod = ldm_alphas_cumprod()
            pipe.scheduler.final_alpha_cumprod = pipe.scheduler.alphas_cumprod[0]
            exact = pipeline_trajectory(pipe, x_t, steps, eta, scale, dataset_id, seed)
        finally:
            pipe.scheduler.alphas_cumprod, pipe.scheduler.final_alpha_cumprod = original
        assert (exact - reference).abs().max() < 1e-10


def test_callback_validation(pipe):
    with pytest.raises(ValueError, match=r"callback_on_step_end_tensor_inputs must be among \['latents', "):
        pipe(
            PROMPTS,
            num_inference_steps=2,
            audio_length_in_s=0.32,
            output_type="latent",
            callback_on_step_end=lambda *args: {},
            callback_on_step_end_tensor_inputs=["noise"],
        )
