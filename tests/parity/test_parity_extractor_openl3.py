"""OpenL3 parity: torchopenl3 1.0.1's ``PytorchOpenl3("env", "mel256", 512)`` with seeded random weights and
``get_audio_embedding(hop_size=0.5)`` vs :class:`OpenL3Extractor` loaded from the same state dict.

Run in the oracle venv: ``bash scripts/setup_eval_oracles.sh && .venv-audiocraft/bin/python -m pytest -m parity
tests/parity/test_parity_extractor_openl3.py``.
"""

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.parity

try:
    import torchopenl3
    from torchopenl3.models import PytorchOpenl3 as ReferenceOpenl3
except Exception as err:  # noqa: BLE001 - any import failure means "no oracle here"
    pytest.skip(
        f"torchopenl3 1.0.1 does not import here ({type(err).__name__}: {err}); run: bash scripts/setup_eval_oracles.sh "
        "&& .venv-audiocraft/bin/python -m pytest -m parity tests/parity/test_parity_extractor_openl3.py",
        allow_module_level=True,
    )

from hf_audiogen.evaluation.extractors.openl3 import OPENL3_WEIGHTS_URL, OpenL3Extractor  # noqa: E402
from hf_audiogen.evaluation.extractors.weights import load_state_dict_strictly  # noqa: E402


def _report(name, actual, expected):
    actual, expected = actual.double(), expected.double()
    abs_err = (actual - expected).abs().max().item()
    rel_err = abs_err / expected.abs().max().item()
    print(f"{name}: max abs {abs_err:.3g}, max rel {rel_err:.3g} (max |ref| {expected.abs().max().item():.3g})")
    return abs_err, rel_err


@pytest.fixture(scope="module")
def models():
    """(reference in eval mode with seeded random weights and statistics, ours loaded from its state dict)."""
    reference = ReferenceOpenl3(content_type="env", input_repr="mel256", embedding_size=512).eval()
    ours = OpenL3Extractor.from_random(seed=3)
    # Front-end buffers first: ours are computed without librosa and must equal torchopenl3's.
    for name in ("dft_real_kernels", "dft_imag_kernels", "mel_basis"):
        _report(f"openl3 buffer {name}", getattr(ours.model.speclayer, name), getattr(reference.speclayer, name))
        torch.testing.assert_close(
            getattr(ours.model.speclayer, name), getattr(reference.speclayer, name), atol=1e-6, rtol=0
        )
    # The reference takes our random weights (its own init leaves batch-norm statistics trivial): same keys both ways.
    reference.load_state_dict(ours.model.state_dict(), strict=True)
    load_state_dict_strictly(ours.model, reference.state_dict(), "torchopenl3 state dict", OPENL3_WEIGHTS_URL)
    return reference, ours


def _audio(seconds, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 48000)) / 48000
    tone = 0.4 * np.sin(2 * np.pi * np.array([[330.0], [1250.0]])[:channels] * t)
    return (tone + 0.05 * rng.standard_normal((channels, t.size))).astype(np.float32)


def test_front_end_matches(models):
    reference, ours = models
    frames = torch.from_numpy(_audio(1.0, channels=2)).unsqueeze(1)  # two 1 s windows
    with torch.no_grad():
        expected = reference.speclayer(frames).squeeze(-1)
        actual = ours.model.speclayer(frames)
    assert actual.shape == expected.shape == (2, 256, 199)
    abs_err, _ = _report("openl3 log-mel (dB)", actual, expected)
    assert abs_err < 1e-3  # dB in [-80, 0]: 1e-3 dB is 2e-5 relative to the range


@pytest.mark.parametrize("seconds", [0.4, 2.3, 10.0])
def test_stereo_embeddings_match(models, seconds):
    """stable-audio-metrics' stereo path: each channel through get_audio_embedding (48 kHz, hop 0.5 s, center), then
    L and R concatenated per frame."""
    reference, ours = models
    audio = _audio(seconds, channels=2, seed=1)
    expected_lr, _ = torchopenl3.get_audio_embedding(
        [audio[0], audio[1]], [48000, 48000], model=reference, hop_size=0.5, verbose=False, batch_size=8
    )
    expected = torch.cat([expected_lr[0], expected_lr[1]], dim=1)
    actual = ours.embed(torch.from_numpy(audio)).embeddings
    assert actual.shape == expected.shape
    abs_err, rel_err = _report(f"openl3 embeddings {seconds} s ({actual.shape[0]} frames)", actual, expected)
    assert rel_err < 1e-5
