"""Import the reference GenAU code (snap-research/GenAU) from a local checkout, for the parity tests and
``benchmarks/genau_speed.py``. The reference is never copied into hf_audiogen; it is on no package registry, so a
checkout named by ``GENAU_REPO`` (the repository root, containing ``GenAU/src``) is imported as it is.

Its FiT needs ``einops`` and imports ``xformers`` at module level without using it for the classes GenAU runs (real
xformers needs CUDA), so stub ``xformers`` modules stand in while the reference is imported.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Iterator
from pathlib import Path

from module_restore import restore_modules

FIT_FILE = Path("GenAU", "src", "modules", "fit", "fit_audio.py")


def unavailable_reason(repo: str | None) -> str | None:
    """Why the reference cannot be imported from ``repo`` (the value of ``GENAU_REPO``), or ``None`` if it can."""
    if not repo:
        return "GENAU_REPO is not set (point it at a checkout of snap-research/GenAU)"
    if not (Path(repo) / FIT_FILE).is_file():
        return f"GENAU_REPO={repo} has no {FIT_FILE}"
    if importlib.util.find_spec("einops") is None:
        return "the reference FiT imports einops, which is not installed (pip install einops)"
    return None


def _xformers_stub() -> dict[str, types.ModuleType]:
    """Modules for the names ``rin_layers.py`` imports from xformers (none is called by Attention/FeedForward)."""
    names = [
        "xformers",
        "xformers.ops",
        "xformers.ops.fmha",
        "xformers.ops.fmha.cutlass",
        "xformers.ops.fmha.flash",
        "xformers.components",
        "xformers.components.feedforward",
        "xformers.components.attention",
        "xformers.components.activations",
    ]
    modules = {name: types.ModuleType(name) for name in names}
    for name, module in modules.items():  # importlib.util.find_spec() refuses modules without a spec
        module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None, is_package=True)
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(modules[parent], child, module)
    modules["xformers.ops"].memory_efficient_attention = None
    for op in ("cutlass", "flash"):
        modules[f"xformers.ops.fmha.{op}"].FwOp = modules[f"xformers.ops.fmha.{op}"].BwOp = None
    modules["xformers.components.attention"].ScaledDotProduct = None
    modules["xformers.components.activations"].Activation = None
    return modules


@contextlib.contextmanager
def reference_modules(repo: str) -> Iterator[types.SimpleNamespace]:
    """The reference classes and functions, imported under the checkout's own ``src`` package; ``sys.path`` and
    ``sys.modules`` are restored on exit."""
    reason = unavailable_reason(repo)
    if reason:
        raise RuntimeError(reason)
    # Import our side (and the libraries that probe for xformers at import time) before the stub exists.
    from transformers import SpeechT5HifiGan  # noqa: F401

    import hf_audiogen.genau  # noqa: F401

    saved_modules, saved_path = dict(sys.modules), list(sys.path)
    if "xformers" not in sys.modules:
        sys.modules.update(_xformers_stub())
    sys.path.insert(0, str(Path(repo) / "GenAU"))
    for name in [n for n in sys.modules if n == "src" or n.startswith("src.")]:
        del sys.modules[name]
    # model_1d.py imports two names it does not use on the 1D-VAE path; their modules pull in Lightning and more.
    for name, attribute in (
        ("src.utilities.model.model_util", "instantiate_from_config"),
        ("src.modules.diffusionmodules.attention", "LinearAttention"),
    ):
        sys.modules[name] = types.ModuleType(name)
        setattr(sys.modules[name], attribute, type(attribute, (), {}))  # LinearAttention is subclassed at import
    try:
        from src.modules.data_representation.data_entries import DataEntries
        from src.modules.data_representation.data_entry import DataEntry
        from src.modules.diffusionmodules.model_1d import Decoder1D, Encoder1D
        from src.modules.fit.fit_audio import FIT
        from src.modules.fit.layers.fit_layers import FITBlockV5
        from src.modules.fit.layers.rin_layers import Attention, FeedForward
        from src.modules.hifigan.models import Generator
        from src.modules.initializers.initializers import RINWeightScalerInitializer
        from src.modules.latent_diffusion import ddim as ddim_module
        from src.modules.latent_diffusion.ddim import DDIMSampler
        from src.utilities.diffusion.diffusion_util import make_beta_schedule

        yield types.SimpleNamespace(
            Attention=Attention,
            DataEntries=DataEntries,
            DataEntry=DataEntry,
            DDIMSampler=DDIMSampler,
            Decoder1D=Decoder1D,
            Encoder1D=Encoder1D,
            FeedForward=FeedForward,
            FIT=FIT,
            FITBlockV5=FITBlockV5,
            Generator=Generator,
            RINWeightScalerInitializer=RINWeightScalerInitializer,
            ddim_module=ddim_module,
            make_beta_schedule=make_beta_schedule,
        )
    finally:
        sys.path[:] = saved_path
        restore_modules(saved_modules)


def run_reference_fit(ref, model, sample, timestep, text, dataset_id, latents=None):
    """Feed the reference FIT exactly as GenAU's ``DiffusionWrapper`` does: (B, C, T, 1) input, (B, 1, text)
    summary; returns (ε, latents)."""
    entries = ref.DataEntries()
    entries.add(ref.DataEntry("input", sample[..., None]))
    entries.add(ref.DataEntry("summary_text_embeddings", text[:, None]))
    entries.add(ref.DataEntry("noise_labels", timestep))
    entries.add(ref.DataEntry("dataset_id", dataset_id))
    if latents is not None:
        entries.add(ref.DataEntry("latents", latents))
    out = model(entries)
    return out["input"].data[..., 0], out["latents"].data
