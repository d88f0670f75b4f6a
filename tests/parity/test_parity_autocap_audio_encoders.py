"""AutoCap audio-encoder parity: the reference HTSAT frame encoder and LAION-CLAP audio tower (as AutoCap builds and
runs them) vs the transformers ``ClapAudio`` modules of ``AutoCapForConditionalGeneration``, loaded through our
converter's key mapping and shape-based config inference, same random weights and log-mel input.

The reference code is imported file by file (no package ``__init__`` runs, nothing is copied into hf_audiogen):

* HTSAT: ``AutoCap/src/modules/audio_encoder/htsat.py`` of a snap-research/GenAU checkout named by ``GENAU_REPO``,
  built with the arguments ``AudioEncoderModel`` passes (Swin geometry of the real model: 256x256 image from a
  1001x64 log-mel folded 4x, patch 4, window 8, four stages);
* CLAP: ``clap_module/{htsat,model}.py`` of PyPI ``laion-clap`` (what AutoCap imports; ``pip install --no-deps
  laion-clap==1.1.7``) and/or the copy GenAU vendors in ``GenAU/src/modules/clap/open_clip`` (identical on the
  non-fusion path AutoCap uses). The embedding is the reference's own ``CLAP.get_audio_embedding`` (audio tower ->
  ``audio_projection`` -> L2 normalisation), as ``CLAP_Module.get_audio_embedding_from_data`` calls it.

Both feed their in-model torchlibrosa front-end (STFT + mel) first; here the log-mel is given directly: the
front-end modules are replaced by ``nn.Identity``, so the test starts where the mel enters (``bn0``). The packages
that only the skipped front-end, SpecAugment (training) or LAION-CLAP's training tools need are stubbed while the
reference is imported, when they are not installed: ``torchlibrosa`` (needs librosa), ``ruamel.yaml`` (htsat.py's
``__main__``), ``torchvision`` / ``h5py`` (imported by CLAP's ``utils.py`` for frozen batch norm and datasets).

Each tower is compared at two sizes: tiny widths with the real geometry (every path of the fold, the windows and the
shifted-window masks), and the real AutoCap sizes (HTSAT: Swin-T 96/[2,2,6,2]; CLAP: HTSAT-base 128/[2,2,12,2]).
Run: ``GENAU_REPO=/path/to/GenAU .venv/bin/python -m pytest tests/parity/test_parity_autocap_audio_encoders.py -s``.
"""

import contextlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types
from pathlib import Path
from unittest import mock

import pytest
import torch
from module_restore import restore_modules
from torch import nn

from hf_audiogen.autocap import AutoCapConfig, AutoCapForConditionalGeneration
from hf_audiogen.autocap.configuration_autocap import CLAP_HTSAT_BASE_KWARGS, HTSAT_KWARGS
from hf_audiogen.autocap.convert_autocap import (
    CLAP_TEXT,
    CLAP_TRAINING,
    FRONT_END,
    SHIFT_MASK,
    TAGGING_HEAD,
    _rename_autocap,
    _swin_config,
    load_laion_clap_checkpoint,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/factories.py when this file runs on its own

pytestmark = pytest.mark.parity

GENAU_REPO = os.environ.get("GENAU_REPO")
HTSAT_DIR = Path(GENAU_REPO or "", "AutoCap", "src", "modules", "audio_encoder")
if not GENAU_REPO or not (HTSAT_DIR / "htsat.py").is_file():
    pytest.skip(
        "set GENAU_REPO to a snap-research/GenAU checkout (with AutoCap/src/modules/audio_encoder/htsat.py) to run "
        f"the AutoCap audio-encoder parity tests (GENAU_REPO={GENAU_REPO!r})",
        allow_module_level=True,
    )


def _laion_clap_dir() -> Path | None:
    spec = importlib.util.find_spec("laion_clap")  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "clap_module"
    return path if (path / "htsat.py").is_file() else None


CLAP_SOURCES = {
    "laion_clap": (
        _laion_clap_dir,
        "install the LAION-CLAP that AutoCap imports: pip install --no-deps laion-clap==1.1.7",
    ),
    "genau_open_clip": (
        lambda: Path(GENAU_REPO, "GenAU", "src", "modules", "clap", "open_clip"),
        "the GENAU_REPO checkout has no GenAU/src/modules/clap/open_clip",
    ),
}

# AutoCap's audio_args (settings/pretraining.yaml): what the HTSAT's in-model front-end and bn0 are built from.
AUTOCAP_AUDIO_ARGS = dict(sr=32000, n_fft=1024, hop_length=320, f_min=50, f_max=14000, n_mels=64, max_length=10)
# LAION-CLAP's HTSAT-base audio_cfg (model_configs/HTSAT-base.json); model_name picks the Swin sizes.
CLAP_AUDIO_CFG = dict(
    model_type="HTSAT",
    model_name="base",
    audio_length=1024,
    clip_samples=480000,
    mel_bins=64,
    sample_rate=48000,
    window_size=1024,
    hop_size=480,
    fmin=50,
    fmax=14000,
    class_num=527,
)
FRAMES, MELS = 1001, 64  # 10 s at 32 kHz / hop 320 and at 48 kHz / hop 480: both front-ends give 1001 x 64
# Tiny widths, real geometry: every stage has a shifted-window block (the last one has none: its 8x8 grid is one
# window, where both implementations turn the shift off); head width 8.
TINY_SWIN = dict(embed_dim=16, depths=[2, 2, 2, 2], num_heads=[2, 4, 8, 16])
AUTOCAP_SWIN_T = dict(embed_dim=96, depths=[2, 2, 6, 2], num_heads=[4, 8, 16, 32])  # AudioEncoderModel's HTSAT
CLAP_HTSAT_BASE = dict(embed_dim=128, depths=[2, 2, 12, 2], num_heads=[4, 8, 16, 32])  # create_htsat_model("base")


# ---------------------------------------------------------------------------------------------------------------------
# Importing the reference
# ---------------------------------------------------------------------------------------------------------------------
class _FrontEndStub(nn.Module):
    """torchlibrosa module of the skipped front-end / training-only SpecAugment: built, never run."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, *args, **kwargs):
        raise RuntimeError("torchlibrosa stub: the parity test feeds log-mels and replaces the front-end")


def _module(name: str, is_package: bool = False, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None, is_package=is_package)
    module.__dict__.update(attributes)
    return module


def _stubs() -> dict[str, types.ModuleType]:
    """Modules for the packages the reference imports only for paths this test does not run, where not installed."""
    stubs = {}
    # STFT / mel front-end and SpecAugment; torchlibrosa's stft module needs librosa
    if importlib.util.find_spec("torchlibrosa") is None or importlib.util.find_spec("librosa") is None:
        stubs["torchlibrosa.stft"] = _module(
            "torchlibrosa.stft", Spectrogram=_FrontEndStub, LogmelFilterBank=_FrontEndStub
        )
        stubs["torchlibrosa.augmentation"] = _module("torchlibrosa.augmentation", SpecAugmentation=_FrontEndStub)
        stubs["torchlibrosa"] = _module(
            "torchlibrosa",
            True,
            stft=stubs["torchlibrosa.stft"],
            augmentation=stubs["torchlibrosa.augmentation"],
            Spectrogram=_FrontEndStub,
            LogmelFilterBank=_FrontEndStub,
            SpecAugmentation=_FrontEndStub,
        )
    if importlib.util.find_spec("ruamel") is None:  # AutoCap's htsat.py reads YAML only in its __main__
        stubs["ruamel.yaml"] = _module("ruamel.yaml")
        stubs["ruamel"] = _module("ruamel", True, yaml=stubs["ruamel.yaml"])
    if importlib.util.find_spec("torchvision") is None:  # CLAP utils.py: FrozenBatchNorm2d for freeze_batch_norm_2d
        stubs["torchvision.ops.misc"] = _module("torchvision.ops.misc", FrozenBatchNorm2d=None)
        stubs["torchvision.ops"] = _module("torchvision.ops", True, misc=stubs["torchvision.ops.misc"])
        stubs["torchvision"] = _module("torchvision", True, ops=stubs["torchvision.ops"])
    if importlib.util.find_spec("h5py") is None:  # CLAP utils.py: dataset tools
        stubs["h5py"] = _module("h5py")
    return stubs


@contextlib.contextmanager
def _reference_import(packages: dict[str, Path]):
    """Import with ``packages`` (name -> folder; empty packages whose ``__init__`` does not run) and the stubs in
    ``sys.modules``; ``sys.modules`` is restored on exit (the imported classes stay usable)."""
    saved = dict(sys.modules)
    sys.modules.update(_stubs())
    for name, folder in packages.items():
        sys.modules[name] = _module(name, True, __path__=[str(folder)])
    try:
        yield importlib.import_module
    finally:
        restore_modules(saved)


@pytest.fixture(scope="module")
def autocap_htsat():
    """AutoCap's ``src.modules.audio_encoder.htsat`` module (it imports ``src.modules.audio_encoder.feature_extractor``
    by that absolute name)."""
    autocap_src = HTSAT_DIR.parents[1]
    packages = {"src": autocap_src, "src.modules": autocap_src / "modules", "src.modules.audio_encoder": HTSAT_DIR}
    with _reference_import(packages) as import_module:
        yield import_module("src.modules.audio_encoder.htsat")


@pytest.fixture(scope="module", params=list(CLAP_SOURCES))
def clap_model_module(request):
    """(source, the reference CLAP ``model`` module) — its ``htsat`` and ``feature_fusion`` come along."""
    find, reason = CLAP_SOURCES[request.param]
    folder = find()
    if folder is None or not (folder / "model.py").is_file():
        pytest.skip(reason)
    with _reference_import({"reference_clap_module": folder}) as import_module:
        yield request.param, import_module("reference_clap_module.model")


# ---------------------------------------------------------------------------------------------------------------------
# Random weights, conversion
# ---------------------------------------------------------------------------------------------------------------------
def _randomize(module: nn.Module, seed: int) -> nn.Module:
    """Random weights for every parameter and batch-norm statistic (norm gains around 1, every bias non-zero), scaled
    so that activations stay O(1) through the depth; eval mode (no dropout, drop-path, SpecAugment)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
            if name.endswith(("norm.weight", "norm1.weight", "norm2.weight", "bn0.weight")):
                parameter.copy_(1.0 + 0.1 * noise)
            elif parameter.ndim >= 2:  # linear / conv: fan-in scaling
                parameter.copy_(noise / parameter[0].numel() ** 0.5)
            else:  # biases, the relative position bias tables
                parameter.copy_(0.1 * noise)
        for name, buffer in module.named_buffers():
            if name.endswith("running_mean"):
                buffer.copy_(0.5 * torch.randn(buffer.shape, generator=generator))
            elif name.endswith("running_var"):
                buffer.copy_(1.0 + torch.rand(buffer.shape, generator=generator))
    return module.eval()


def _convert(reference_keys: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, list[str]]]:
    """Our converter's per-key rules (``convert_autocap_state_dict`` applies the same ones to every AutoCap key; the
    rest of a real checkpoint — Q-Former, BART — is not built here): our keys, and dropped keys by reason."""
    converted, dropped = {}, {}
    for key, value in reference_keys.items():
        rule = _rename_autocap(key)
        assert rule is not None, f"the converter does not know the reference key {key}"
        if rule.drop:
            dropped.setdefault(rule.drop, []).append(key)
            continue
        parts = value.chunk(3, dim=0) if len(rule.targets) == 3 else (value,)
        converted.update({target: part.contiguous() for target, part in zip(rule.targets, parts)})
    return converted, dropped


def _our_model(audio_config: dict, clap_config: dict, converted: dict[str, torch.Tensor], towers: tuple[str, ...]):
    """``AutoCapForConditionalGeneration`` (tiny BART, no Q-Former: ``get_audio_tokens`` returns the projected frames)
    with the converted weights in ``towers``; every key of those towers must come from the reference."""
    config = AutoCapConfig(
        audio_config=audio_config,
        clap_config=clap_config,
        use_qformer=False,
        num_query_tokens=4,
        text_config={
            "vocab_size": 99,
            "d_model": 32,
            "encoder_layers": 1,
            "decoder_layers": 1,
            "encoder_attention_heads": 2,
            "decoder_attention_heads": 2,
            "encoder_ffn_dim": 32,
            "decoder_ffn_dim": 32,
            "max_position_embeddings": 1100,
        },
    )
    torch.manual_seed(0)
    model = AutoCapForConditionalGeneration(config).eval()
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert unexpected == []
    assert [key for key in missing if key.startswith(towers)] == []
    return model.double()


def _log_mels(batch: int, seed: int) -> torch.Tensor:
    """(batch, 1, 1001, 64) dB-scale log-mels, the shape both front-ends give for a 10 s clip."""
    generator = torch.Generator().manual_seed(seed)
    return -40.0 + 20.0 * torch.randn(batch, 1, FRAMES, MELS, generator=generator, dtype=torch.float64)


@contextlib.contextmanager
def _capture(module: nn.Module):
    """``{"input": (first positional input,) or (), "output": output}`` of ``module``'s next call."""
    seen = {}
    handle = module.register_forward_hook(lambda _, args, output: seen.update(input=args[:1], output=output))
    try:
        yield seen
    finally:
        handle.remove()


def _max_diff(got: torch.Tensor, expected: torch.Tensor) -> float:
    assert got.shape == expected.shape, (got.shape, expected.shape)
    return (got - expected).abs().max().item()


def _assert_config_reads(fields: dict, expected: dict) -> None:
    """The converter's shape-based config inference (spec size from the shifted-window masks, widths, depths, heads,
    window, patch, mel bins) gives the reference's sizes."""
    assert {key: fields[key] for key in expected} == expected


# ---------------------------------------------------------------------------------------------------------------------
# HTSAT (AutoCap's frame encoder)
# ---------------------------------------------------------------------------------------------------------------------
def reference_htsat(htsat_module, sizes: dict, seed: int = 0) -> nn.Module:
    """``HTSAT_Swin_Transformer`` as ``AudioEncoderModel`` builds it (spec 256, patch 4, stride 4, window 8, 527
    classes), with ``sizes`` = Swin width / depths / heads; random weights; the torchlibrosa front-end replaced."""
    config = types.SimpleNamespace(to_dict=lambda: {"audio_args": dict(AUTOCAP_AUDIO_ARGS)})  # AudioEncoderConfig
    model = htsat_module.HTSAT_Swin_Transformer(
        spec_size=256, patch_size=4, patch_stride=(4, 4), num_classes=527, window_size=8, config=config, **sizes
    )
    model.audio_feats_extractor = nn.Identity()  # the log-mel enters here (then bn0, fold, Swin)
    return _randomize(model, seed).double()


@pytest.mark.parametrize("sizes", [TINY_SWIN, AUTOCAP_SWIN_T], ids=["tiny-width", "autocap-swin-t"])
def test_htsat_frame_features_match_the_reference(autocap_htsat, sizes):
    reference = reference_htsat(autocap_htsat, sizes)
    checkpoint = {f"encoder.audio_enc.{key}": value for key, value in reference.state_dict().items()}
    converted, dropped = _convert(checkpoint)
    assert set(dropped) <= {SHIFT_MASK, TAGGING_HEAD, FRONT_END}
    audio_config = _swin_config(checkpoint, "encoder.audio_enc.", HTSAT_KWARGS)  # as autocap_config_from_checkpoint
    _assert_config_reads(audio_config, {**HTSAT_KWARGS, **_swin_fields(sizes)})
    model = _our_model(
        audio_config, {**CLAP_HTSAT_BASE_KWARGS, **_swin_fields(TINY_SWIN)}, converted, ("audio_encoder.",)
    )

    batch = 2 if sizes == TINY_SWIN else 1  # mixing within a batch is checked at tiny widths (keeps the test fast)
    mels = _log_mels(batch, seed=1)
    with torch.no_grad():
        # The map AutoCap's head reads (B, C, 2, 32) enters tscam_conv; AutoCap itself reads
        # representation="fine_grained_embedding": (B, 1024, C), its freq-mean, each of the 32 steps repeated 32x.
        with _capture(reference.tscam_conv) as expected_map:
            expected_frames = reference(mels, representation="fine_grained_embedding")
        # get_audio_tokens without Q-Former = audio_projection(frames): compare through the same projection.
        with _capture(model.audio_encoder) as ours_map:
            ours_tokens = model.get_audio_tokens(mels)
        expected_tokens = model.audio_projection(expected_frames)
    map_diff = _max_diff(ours_map["output"].last_hidden_state, expected_map["input"][0])
    token_diff = _max_diff(ours_tokens, expected_tokens)
    print(
        f"\nHTSAT {sizes['embed_dim']}/{sizes['depths']} (float64): max |diff| frame map {map_diff:.3g} "
        f"(scale {expected_map['input'][0].abs().max().item():.3g}), projected frames {token_diff:.3g} "
        f"(scale {expected_tokens.abs().max().item():.3g})"
    )
    assert expected_frames.shape == (batch, 1024, reference.num_features)
    assert map_diff < 1e-10 and token_diff < 1e-10


# ---------------------------------------------------------------------------------------------------------------------
# LAION-CLAP audio tower (AutoCap's global token)
# ---------------------------------------------------------------------------------------------------------------------
def _swin_fields(sizes: dict) -> dict:
    """``ClapAudioConfig`` fields of a reference HTSAT with ``sizes`` (width, depths, heads)."""
    return dict(
        patch_embeds_hidden_size=sizes["embed_dim"],
        depths=sizes["depths"],
        num_attention_heads=sizes["num_heads"],
        hidden_size=sizes["embed_dim"] * 8,
    )


def reference_clap(model_module, sizes: dict, seed: int = 0) -> nn.Module:
    """LAION-CLAP's ``CLAP`` as ``CLAP_Module(amodel="HTSAT-base", enable_fusion=False)`` builds it (joint size 512,
    ReLU projection MLP), with a tiny local text tower (AutoCap's RoBERTa one needs the Hub and is not on the audio
    path); other ``sizes`` than HTSAT-base's give a HTSAT of the same geometry at those widths. Random weights; the
    torchlibrosa front-end replaced."""
    text_cfg = dict(context_length=8, vocab_size=16, width=8, heads=1, layers=1, model_type="transformer")
    htsat_class = model_module.create_htsat_model.__globals__["HTSAT_Swin_Transformer"]

    def tiny_htsat(audio_cfg, enable_fusion, fusion_type):  # create_htsat_model's call at tiny widths
        return htsat_class(
            spec_size=256,
            patch_size=4,
            patch_stride=(4, 4),
            num_classes=audio_cfg.class_num,
            window_size=8,
            config=audio_cfg,
            enable_fusion=enable_fusion,
            fusion_type=fusion_type,
            **sizes,
        )

    # HTSAT-base comes from the reference's own create_htsat_model (model_name "base").
    factory = model_module.create_htsat_model if sizes == CLAP_HTSAT_BASE else tiny_htsat
    with mock.patch.object(model_module, "create_htsat_model", factory):
        clap = model_module.CLAP(
            embed_dim=sizes["embed_dim"] * 8,
            audio_cfg=dict(CLAP_AUDIO_CFG),
            text_cfg=text_cfg,
            enable_fusion=False,
            joint_embed_shape=512,
            mlp_act="relu",
        )
    clap.audio_branch.spectrogram_extractor = nn.Identity()
    clap.audio_branch.logmel_extractor = nn.Identity()
    return _randomize(clap, seed).double()


@pytest.mark.parametrize("sizes", [TINY_SWIN, CLAP_HTSAT_BASE], ids=["tiny-width", "htsat-base"])
def test_clap_audio_embedding_matches_the_reference(clap_model_module, sizes):
    source, model_module = clap_model_module
    reference = reference_clap(model_module, sizes)
    # As a LAION-CLAP *.pt file (DistributedDataParallel prefix) given to the converter as clap_checkpoint.
    laion_checkpoint = {"state_dict": {f"module.{key}": value for key, value in reference.state_dict().items()}}
    checkpoint = load_laion_clap_checkpoint(laion_checkpoint)
    converted, dropped = _convert(checkpoint)
    assert set(dropped) <= {SHIFT_MASK, TAGGING_HEAD, FRONT_END, CLAP_TEXT, CLAP_TRAINING}
    clap_config = _swin_config(checkpoint, "clap_model.model.audio_branch.", CLAP_HTSAT_BASE_KWARGS)
    _assert_config_reads(clap_config, {**CLAP_HTSAT_BASE_KWARGS, **_swin_fields(sizes)})
    model = _our_model({**HTSAT_KWARGS, **_swin_fields(TINY_SWIN)}, clap_config, converted, ("clap_model.",))

    batch = 2 if sizes == TINY_SWIN else 1  # mixing within a batch is checked at tiny widths (keeps the test fast)
    mels = _log_mels(batch, seed=2)
    with torch.no_grad():
        # CLAP_Module.get_audio_embedding_from_data -> CLAP.get_audio_embedding: audio tower "embedding" ->
        # audio_projection -> L2 norm; laion_clap takes a list of per-clip dicts, the GenAU copy one batched dict.
        clips = [{"waveform": mel} for mel in mels] if source == "laion_clap" else {"waveform": mels}
        with _capture(reference.audio_projection) as expected_pooled:
            expected = reference.get_audio_embedding(clips)  # (B, 512)
        with _capture(model.clap_model.audio_projection) as ours_pooled:
            ours_token = model.get_clap_token(mels)
        # our CLAP token vs the reference embedding through the same clap_proj + clap_layernorm
        token_diff = _max_diff(ours_token, model.clap_layernorm(model.clap_projection(expected)).unsqueeze(1))
    ours = nn.functional.normalize(ours_pooled["output"], dim=-1)  # what get_clap_token normalises
    expected_pooled = expected_pooled["input"][0]
    pooled_diff, embedding_diff = _max_diff(ours_pooled["input"][0], expected_pooled), _max_diff(ours, expected)
    print(
        f"\n{source} CLAP {sizes['embed_dim']}/{sizes['depths']} (float64): max |diff| pooled {pooled_diff:.3g} "
        f"(scale {expected_pooled.abs().max().item():.3g}), embedding {embedding_diff:.3g} (scale "
        f"{expected.abs().max().item():.3g}), CLAP token {token_diff:.3g}"
    )
    assert expected.shape == (batch, 512)
    assert pooled_diff < 1e-10 and embedding_diff < 1e-10 and token_diff < 1e-10
