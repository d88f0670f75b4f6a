"""GenAU FiT denoiser (FiTTransformer1DModel): shapes, reference key layout, conditioning, save/load, LoRA.

Numerical parity with the reference FIT (fp64 max |Δ| 5.6e-16 with a strict state-dict load) was measured against a
local checkout of snap-research/GenAU; see the GenAU note."""

import pytest
import torch

from hf_audiogen.genau import FiTTransformer1DModel

from factories import tiny_genau_fit


def inputs(batch=2, frames=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 8, frames, generator=g), torch.randn(batch, 24, generator=g)


@pytest.mark.parametrize("frames", [8, 24, 64])
def test_shapes_for_every_whole_number_of_groups(frames):
    fit = tiny_genau_fit()
    x, text = inputs(frames=frames)
    out = fit(x, torch.tensor([3, 900]), text, dataset_id=torch.tensor([0, 2]))
    assert out.sample.shape == x.shape
    assert out.latents.shape == (2, frames // 8 * 2, 48)  # 16 latent tokens for 64 frames (8 groups) -> 2 per group


def test_reference_parameter_names_and_sample_config_size():
    names = set(tiny_genau_fit().state_dict())
    expected = [
        "latents",
        "patches_pe",
        "to_patches.0.weight",
        "to_patches.1.bias",
        "patch_to_pixels.0.gamma",
        "patch_to_pixels.0.beta",
        "patch_to_pixels.1.weight",
        "time_mlp.0.weights",
        "time_mlp.1.weight",
        "time_mlp.3.bias",
        "dataset_id_conditioning_mlp.0.weight",
        "context_projection_summary_text_embeddings.weight",
        "self_conditioning_latents_projection.0.net.2.weight",
        "self_conditioning_latents_projection.1.gamma",
        "blocks.0.local_layers.0.0.to_kv.weight",
        "blocks.0.local_layers.0.1.net.3.weight",
        "blocks.1.global_layers.0.0.norm.beta",
        "blocks.1.global_layers.0.1.net.3.bias",
        "blocks.0.latents_attend_to_context.norm_context.gamma",
        "blocks.0.latents_context_attn_ff.net.2.weight",
        "blocks.0.latents_attend_to_patches.to_q.weight",
        "blocks.0.latents_cross_attn_ff.net.0.weight",
        "blocks.0.patches_attend_to_latents.to_out.weight",
        "blocks.0.patches_cross_attn_ff.norm.gamma",
        "blocks.2.local_layers.0.0.to_q.weight",
    ]
    assert not [k for k in expected if k not in names]
    assert not [k for k in names if k.startswith("blocks.2.") and "local_layers" not in k]  # local-only tail block
    assert not [k for k in names if k.endswith(".bias") and (".to_q" in k or ".to_kv" in k or ".to_out" in k)]
    with torch.device("meta"):  # the reference's sample config measures 70,112,904 parameters
        assert sum(p.numel() for p in FiTTransformer1DModel.from_preset("genau-sample").parameters()) == 70_112_904


def test_every_condition_matters_and_batch_rows_are_independent():
    fit = tiny_genau_fit()
    x, text = inputs()
    base = fit(x, 500, text, dataset_id=1).sample
    assert not torch.allclose(base, fit(x, 501, text, dataset_id=1).sample)
    assert not torch.allclose(base, fit(x, 500, text.flip(0), dataset_id=1).sample)
    assert not torch.allclose(base, fit(x, 500, text, dataset_id=2).sample)
    single = fit(x[1:], torch.tensor([500]), text[1:], dataset_id=torch.tensor([1])).sample
    torch.testing.assert_close(single, base[1:], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fit(x, 500, text[:, None], dataset_id=1).sample, base)  # (B, 1, D) text is accepted


def test_self_conditioning_is_a_no_op_until_its_gamma_is_trained():
    fit = tiny_genau_fit()
    x, text = inputs()
    first = fit(x, 10, text)
    again = fit(x, 10, text, self_conditioning_latents=first.latents)
    assert torch.equal(again.sample, first.sample)
    with torch.no_grad():
        fit.self_conditioning_latents_projection[1].gamma.fill_(1.0)
    assert not torch.allclose(fit(x, 10, text, self_conditioning_latents=first.latents).sample, first.sample)


def test_save_load_exact_and_dataset_names(tmp_path):
    fit = tiny_genau_fit()
    fit.save_pretrained(tmp_path)
    loaded = FiTTransformer1DModel.from_pretrained(tmp_path).eval()
    x, text = inputs()
    assert torch.equal(loaded(x, 7, text).sample, fit(x, 7, text).sample)
    assert loaded.dataset_id("clotho") == 1 and loaded.dataset_id(3) == 3
    assert tiny_genau_fit(num_dataset_ids=32, dataset_names=None).config.dataset_names[9] == "autocap"


def test_gradient_checkpointing_gives_the_same_gradients():
    x, text = inputs()
    grads = []
    for checkpointing in (False, True):
        fit = tiny_genau_fit(dropout=0.0).train()
        if checkpointing:
            fit.enable_gradient_checkpointing()
        fit(x, 100, text).sample.square().mean().backward()
        grads.append(fit.blocks[0].local_layers[0][0].to_q.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def test_lora_adapter_saves_and_loads(tmp_path):
    from peft import LoraConfig

    x, text = inputs()
    fit = tiny_genau_fit()
    base = fit(x, 50, text).sample
    fit.add_adapter(LoraConfig(r=2, lora_alpha=2, target_modules=["to_q", "to_kv", "to_out"]), adapter_name="sfx")
    with torch.no_grad():  # a fresh adapter is a no-op (B = 0); give it weights as training would
        for name, param in fit.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.1)
    adapted = fit(x, 50, text).sample
    assert not torch.allclose(adapted, base)
    fit.save_lora_adapter(tmp_path, adapter_name="sfx")
    fresh = tiny_genau_fit()
    fresh.load_lora_adapter(tmp_path, prefix=None, adapter_name="sfx", use_safetensors=True)
    torch.testing.assert_close(fresh(x, 50, text).sample, adapted)
    fresh.unload_lora()
    torch.testing.assert_close(fresh(x, 50, text).sample, base)


def test_bad_inputs():
    fit = tiny_genau_fit()
    x, text = inputs()
    with pytest.raises(ValueError, match="positional range"):
        fit(torch.randn(1, 8, 72), 1, text[:1])
    with pytest.raises(ValueError, match="multiple of patch_size"):
        fit(torch.randn(1, 8, 12), 1, text[:1])
    with pytest.raises(ValueError, match=r"sample must be \(batch, 8, frames\)"):
        fit(torch.randn(1, 4, 64), 1, text[:1])
    with pytest.raises(ValueError, match="encoder_hidden_states"):
        fit(x, 1, torch.randn(2, 23))
    with pytest.raises(ValueError, match="dataset_id values"):
        fit(x, 1, text, dataset_id=4)
    with pytest.raises(ValueError, match="unknown dataset name"):
        fit.dataset_id("nope")
    with pytest.raises(ValueError, match="use_self_conditioning=False"):
        tiny_genau_fit(use_self_conditioning=False)(x, 1, text, self_conditioning_latents=torch.zeros(2, 16, 48))
    with pytest.raises(ValueError, match="num_latents"):
        tiny_genau_fit(num_latents=15)
    with pytest.raises(ValueError, match="unknown FiT preset"):
        FiTTransformer1DModel.from_preset("huge")
