"""GenAU parity: the reference FiT denoiser, 1D-VAE and HiFi-GAN (snap-research/GenAU) vs ours, same random weights.

The reference code is imported from a local checkout named by ``GENAU_REPO`` (the repository root, containing
``GenAU/src``); it is never copied into hf_audiogen. Its FiT needs ``einops`` and imports ``xformers`` at module level
without using it for the classes GenAU runs, so a stub ``xformers`` is put in ``sys.modules`` for the test.
Run: ``GENAU_REPO=/path/to/GenAU .venv/bin/python -m pytest -m parity tests/parity/test_parity_genau.py``
(``pip install einops`` in that venv first).
"""

import importlib.machinery
import os
import sys
import types
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.parity

GENAU_REPO = os.environ.get("GENAU_REPO")
if not GENAU_REPO or not (Path(GENAU_REPO) / "GenAU" / "src" / "modules" / "fit" / "fit_audio.py").is_file():
    pytest.skip("set GENAU_REPO to a checkout of snap-research/GenAU (containing GenAU/src/modules/fit) to run the "
                "GenAU parity tests", allow_module_level=True)  # fmt: skip
pytest.importorskip("einops", reason="the reference FiT imports einops: pip install einops")


def _xformers_stub() -> dict[str, types.ModuleType]:
    """Modules for the names ``rin_layers.py`` imports from xformers (none is called by Attention/FeedForward)."""
    names = ["xformers", "xformers.ops", "xformers.ops.fmha", "xformers.ops.fmha.cutlass", "xformers.ops.fmha.flash",
             "xformers.components", "xformers.components.feedforward", "xformers.components.attention",
             "xformers.components.activations"]  # fmt: skip
    modules = {name: types.ModuleType(name) for name in names}
    for name, module in modules.items():  # importlib.util.find_spec() refuses modules without a spec
        module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None, is_package=True)
    for name, module in modules.items():
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(modules[parent], child, module)
    modules["xformers.ops"].memory_efficient_attention = None
    for op in ("cutlass", "flash"):
        modules[f"xformers.ops.fmha.{op}"].FwOp = modules[f"xformers.ops.fmha.{op}"].BwOp = None
    modules["xformers.components.attention"].ScaledDotProduct = None
    modules["xformers.components.activations"].Activation = None
    return modules


@pytest.fixture(scope="module")
def reference():
    """Import the reference modules under their own ``src`` package; undo sys.path/sys.modules changes afterwards."""
    # Import our side (and the libraries that probe for xformers at import time) before the stub exists.
    import hf_audiogen.genau  # noqa: F401
    from transformers import SpeechT5HifiGan  # noqa: F401

    saved_modules, saved_path = dict(sys.modules), list(sys.path)
    if "xformers" not in sys.modules:
        sys.modules.update(_xformers_stub())
    sys.path.insert(0, str(Path(GENAU_REPO) / "GenAU"))
    for name in [n for n in sys.modules if n == "src" or n.startswith("src.")]:
        del sys.modules[name]
    # model_1d.py imports two names it does not use on the 1D-VAE path; their modules pull in Lightning and more.
    for name, attribute in (("src.utilities.model.model_util", "instantiate_from_config"),
                            ("src.modules.diffusionmodules.attention", "LinearAttention")):  # fmt: skip
        sys.modules[name] = types.ModuleType(name)
        setattr(sys.modules[name], attribute, type(attribute, (), {}))  # LinearAttention is subclassed at import
    try:
        from src.modules.data_representation.data_entries import DataEntries
        from src.modules.diffusionmodules.model_1d import Decoder1D, Encoder1D
        from src.modules.data_representation.data_entry import DataEntry
        from src.modules.fit.fit_audio import FIT
        from src.modules.fit.layers.fit_layers import FITBlockV5
        from src.modules.fit.layers.rin_layers import Attention, FeedForward
        from src.modules.hifigan.models import Generator
        from src.modules.initializers.initializers import RINWeightScalerInitializer

        yield types.SimpleNamespace(**locals())
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - set(saved_modules):
            del sys.modules[name]


TINY = dict(C=8, D=32, Dl=48, ctx=40, text=24, blocks=2, local=2, glob=2, heads=4, dim_head=8, ids=32)


def build_reference_fit(ref, T, p, g, L):
    """The reference FIT with GenAU's sample-yaml structure (FITBlockV5, context conditioning) at tiny sizes."""
    c = TINY
    return ref.FIT(
        weight_initializer={"target": ref.RINWeightScalerInitializer, "scale": 3**-0.5},
        fit_block_module=ref.FITBlockV5, context_channels=c["ctx"], summary_text_embeddings_channels=c["text"],
        conditioning_in_context=True, time_pe_type="learned", use_dataset_id_conditioning=True,
        dataset_ids_count=c["ids"], input_size=[1, T, 1], patch_size=[1, p, 1], group_size=[1, g, 1],
        input_channels=c["C"], patch_channels=c["D"], fit_blocks_count=c["blocks"], local_layers_per_block=c["local"],
        global_layers_per_block=c["glob"], latent_count=L, latent_channels=c["Dl"], self_conditioning_ff_config={},
        fit_block_config=dict(attention_class=ref.Attention, ff_class=ref.FeedForward, drop_units=0.1, drop_path=0.0,
                              use_cross_attention_feedforward=True,
                              default_attention_config=dict(heads=c["heads"], dim_head=c["dim_head"])),
    )  # fmt: skip


def run_reference(ref, model, x, text, t, dataset_id, latents=None):
    """Feed the FIT exactly as GenAU's DiffusionWrapper does: (B, C, T, 1) input, (B, 1, text) summary."""
    entries = ref.DataEntries()
    entries.add(ref.DataEntry("input", x[..., None]))
    entries.add(ref.DataEntry("summary_text_embeddings", text[:, None]))
    entries.add(ref.DataEntry("noise_labels", t))
    entries.add(ref.DataEntry("dataset_id", dataset_id))
    if latents is not None:
        entries.add(ref.DataEntry("latents", latents))
    out = model(entries)
    return out["input"].data[..., 0], out["latents"].data


@pytest.mark.parametrize("T, p, g, L", [(32, 1, 8, 8), (64, 2, 4, 16)])
def test_fit_parity(reference, T, p, g, L):
    from hf_audiogen.genau import FiTTransformer1DModel

    torch.manual_seed(0)
    ref_model = build_reference_fit(reference, T, p, g, L).double().eval()
    c = TINY
    ours = FiTTransformer1DModel(
        in_channels=c["C"], sample_size=T, patch_size=p, group_size=g, num_latents=L, hidden_size=c["D"],
        latent_hidden_size=c["Dl"], context_dim=c["ctx"], num_blocks=c["blocks"], local_layers_per_block=c["local"],
        global_layers_per_block=c["glob"], num_attention_heads=c["heads"], attention_head_dim=c["dim_head"],
        text_embed_dim=c["text"], num_dataset_ids=c["ids"],
    ).double().eval()  # fmt: skip
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

    h = types.SimpleNamespace(resblock="1", upsample_rates=[5, 4, 2, 2, 2], upsample_kernel_sizes=[16, 16, 8, 4, 4],
                              upsample_initial_channel=64, resblock_kernel_sizes=[3, 7, 11],
                              resblock_dilation_sizes=[[1, 3, 5]] * 3, num_mels=64)  # fmt: skip
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

    ddconfig = dict(double_z=True, mel_bins=64, z_channels=8, resolution=256, downsample_time=False, in_channels=64,
                    out_ch=64, ch=32, ch_mult=[1, 1, 2], num_res_blocks=1, attn_resolutions=[],
                    dropout=0.0)  # fmt: skip
    torch.manual_seed(0)
    parts = {"encoder": reference.Encoder1D(**ddconfig), "decoder": reference.Decoder1D(**ddconfig),
             "quant_conv": torch.nn.Conv1d(16, 16, 1), "post_quant_conv": torch.nn.Conv1d(8, 8, 1)}  # fmt: skip
    state = {f"{prefix}.{k}": v for prefix, part in parts.items() for k, v in part.double().eval().state_dict().items()}
    ours = AutoencoderKL1D(block_out_channels=(32, 32, 64), layers_per_block=1, z_channels=8, latent_channels=8)
    ours.double().eval().load_state_dict(state, strict=True)  # the reference's names (first_stage_model. stripped)
    mel = torch.randn(2, 64, 1024, dtype=torch.float64)
    z = torch.randn(2, 8, 256, dtype=torch.float64)
    with torch.no_grad():
        moments = parts["quant_conv"](parts["encoder"](mel))
        torch.testing.assert_close(ours.encode(mel).latent_dist.parameters, moments, rtol=0, atol=1e-9)
        torch.testing.assert_close(ours.decode(z).sample, parts["decoder"](parts["post_quant_conv"](z)), rtol=0,
                                   atol=1e-9)  # fmt: skip
