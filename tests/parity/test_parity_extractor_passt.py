"""PaSST parity: hear21passt 0.0.26's ``get_basic_model(mode="logits")`` with seeded random weights vs
:class:`PaSSTExtractor` loaded from the same state dict, and audiocraft's ``PasstKLDivergenceMetric`` segmenting vs
our ``protocol="audiocraft"``.

Run in the oracle venv: ``bash scripts/setup_eval_oracles.sh && .venv-audiocraft/bin/python -m pytest -m parity
tests/parity/test_parity_extractor_passt.py``.
"""

import contextlib
import io
import sys
import types
from functools import partial
from unittest import mock

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.parity

# hear21passt imports timm only for its file downloader (timm.models._hub.download_cached_file), which a model built
# with pretrained=False never calls; timm itself would pull torchvision, whose PyPI wheel does not load next to torch
# CPU. A stand-in module with that one name lets hear21passt import.
if "timm" not in sys.modules:
    _timm_hub = types.ModuleType("timm.models._hub")
    _timm_hub.download_cached_file = lambda *args, **kwargs: pytest.fail("hear21passt tried to download weights")
    sys.modules.update({"timm": types.ModuleType("timm"), "timm.models": types.ModuleType("timm.models")})
    sys.modules["timm.models._hub"] = _timm_hub

try:
    import hear21passt.base as passt_base
    from hear21passt.models.passt import get_model as passt_get_model
except Exception as err:  # noqa: BLE001 - any import failure means "no oracle here"
    pytest.skip(
        f"hear21passt 0.0.26 does not import here ({type(err).__name__}: {err}); run: bash scripts/setup_eval_oracles.sh "
        "&& .venv-audiocraft/bin/python -m pytest -m parity tests/parity/test_parity_extractor_passt.py",
        allow_module_level=True,
    )

from hf_audiogen.evaluation.extractors.passt import PASST_WEIGHTS_URL, PaSSTExtractor  # noqa: E402

ATOL = 1e-4  # logits of a 12-block ViT over 1200 tokens; the observed gaps are printed by each test


def _report(name, actual, expected):
    actual, expected = actual.double(), expected.double()
    abs_err = (actual - expected).abs().max().item()
    rel_err = abs_err / expected.abs().max().item()
    print(f"{name}: max abs {abs_err:.3g}, max rel {rel_err:.3g} (max |ref| {expected.abs().max().item():.3g})")
    return abs_err, rel_err


@pytest.fixture(scope="module")
def models():
    """(reference wrapper in eval mode, ours) with identical seeded random weights."""
    # get_basic_model downloads the official file (pretrained=True): build the same model without it.
    with mock.patch.object(passt_base, "get_model_passt", partial(passt_get_model, pretrained=False)):
        with contextlib.redirect_stdout(io.StringIO()):  # hear21passt prints the model and shapes
            reference = passt_base.get_basic_model(mode="logits")
    reference.eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in reference.net.named_parameters():
            scale = 1.0 if name.endswith(("norm1.weight", "norm2.weight", "norm.weight", "head.0.weight")) else 0.0
            param.copy_(scale + 0.02 * torch.randn(param.shape, generator=generator))
    ours = PaSSTExtractor()
    from hf_audiogen.evaluation.extractors.weights import load_state_dict_strictly

    load_state_dict_strictly(ours.net, reference.net.state_dict(), "hear21passt state dict", PASST_WEIGHTS_URL)
    return reference, ours


def _run_reference(reference, waveform):
    with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        return reference(waveform)


def _audio(seconds, seed=1):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 32000)) / 32000
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.shape)).astype(np.float32)


def test_front_end_matches(models):
    reference, ours = models
    x = torch.from_numpy(_audio(10.0))[None]
    with torch.no_grad():
        expected = reference.mel(x)
        actual = ours.mel(x)
    assert actual.shape == expected.shape == (1, 128, 1000)  # pre-emphasis drops one sample
    abs_err, _ = _report("passt mel", actual, expected)
    assert abs_err < 1e-5


@pytest.mark.parametrize("seconds", [10.0, 3.0])
def test_logits_and_features_match(models, seconds):
    reference, ours = models
    x = torch.from_numpy(_audio(seconds))[None]
    expected_logits = _run_reference(reference, x)
    reference.mode = "embed_only"
    try:
        expected_features = _run_reference(reference, x)
    finally:
        reference.mode = "logits"
    with torch.no_grad():
        logits, features = ours.net(ours.mel(x).unsqueeze(1))
    abs_err, _ = _report(f"passt logits {seconds} s", logits, expected_logits)
    assert abs_err < ATOL
    abs_err, _ = _report(f"passt features {seconds} s", features, expected_features)
    assert abs_err < ATOL


@pytest.mark.parametrize("seconds", [0.8, 12.5, 21.0])
def test_stable_audio_windows_match(models, seconds):
    """stable-audio-metrics' return_probabilities: 10 s windows every 5 s, zero-padded to 10 s when longer than 1.5 s,
    window logits averaged (restated here from its source; the package is not on PyPI)."""
    reference, ours = models
    audio = _audio(seconds, seed=2)
    window, step = 320000, 160000
    rows = []
    for start in range(0, max(step, len(audio) - step), step):
        piece = audio[start : start + window]
        if 48000 < len(piece) < window:
            piece = np.concatenate([piece, np.zeros(window - len(piece), np.float32)])
        rows.append(_run_reference(reference, torch.from_numpy(piece)[None])[0])
    expected = torch.stack(rows).mean(0)
    out = ours.embed(torch.from_numpy(audio))
    assert out.segment_logits.shape[0] == len(rows)
    abs_err, _ = _report(f"passt stable-audio {seconds} s ({len(rows)} windows)", out.logits, expected)
    assert abs_err < ATOL


@pytest.mark.parametrize("seconds", [4.0, 23.0])
def test_audiocraft_segments_match(models, seconds):
    """audiocraft 1.3.0's PasstKLDivergenceMetric, run with the reference model, gives one probability row per 10 s
    segment (segments of 0.15 s or less dropped): softmax of our segment logits must equal them row by row."""
    reference, ours = models
    try:
        from audiocraft.metrics.kld import PasstKLDivergenceMetric
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"audiocraft does not import here ({type(err).__name__}: {err})")
    with mock.patch.object(
        PasstKLDivergenceMetric, "_load_base_model", lambda self, length: (reference, 32000, 320000, 4800)
    ):
        metric = PasstKLDivergenceMetric()
    audio = torch.from_numpy(_audio(seconds, seed=3))
    with contextlib.redirect_stdout(io.StringIO()):
        expected = metric._get_label_distribution(audio[None, None], torch.tensor([len(audio)]), torch.tensor([32000]))
    ours.protocol = "audiocraft"
    try:
        out = ours.embed(audio)
    finally:
        ours.protocol = "stable-audio"
    actual = torch.softmax(out.segment_logits, dim=-1)
    assert actual.shape == expected.shape
    abs_err, _ = _report(f"passt audiocraft probs {seconds} s ({len(actual)} segments)", actual, expected)
    assert abs_err < 1e-6
