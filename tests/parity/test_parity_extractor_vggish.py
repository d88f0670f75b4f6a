"""VGGish parity: ``hf_audiogen``'s :class:`VGGish` vs torchvggish 0.2 (PyPI, harritaylor) as audioldm_eval 0.0.3's
``FrechetAudioDistance`` runs it (``use_pca=False``: no post-processing; ``use_activation=False``: the last ReLU of
the embedding head removed), with the same seeded random weights and the same audio.

Compared: the numpy front-end (``vggish_input.waveform_to_examples``: log-mel examples and how many), the embeddings,
the optional PCA post-processing (torchvggish's ``Postprocessor``, with the ReLU kept), audioldm_eval's file reading
(``metrics/fad.py: load_audio_task``: int16, mean of channels) against ``prepare``, and, as a finding rather than a
bound, what our soxr resampling changes against the reference's resampy.

torchvggish imports without side effects (its weights are only fetched by ``vggish()``), so it is imported normally;
audioldm_eval's ``fad.py`` is loaded by path (its package ``__init__`` pulls in the whole evaluation stack).
Run: ``.venv-audiocraft/bin/python -m pytest -m parity -q -s -p no:cacheprovider
tests/parity/test_parity_extractor_vggish.py`` (after ``bash scripts/setup_eval_oracles.sh``).
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

pytestmark = pytest.mark.parity

SETUP_HINT = "bash scripts/setup_eval_oracles.sh, then run with .venv-audiocraft/bin/python -m pytest -m parity"
try:
    from torchvggish import mel_features, vggish_input
    from torchvggish import torchvggish as reference
except Exception as err:  # noqa: BLE001 - any import failure means "no oracle here", reported in the reason
    pytest.skip(
        f"VGGish parity needs torchvggish==0.2 (and resampy), which does not import here "
        f"({type(err).__name__}: {err}); {SETUP_HINT}",
        allow_module_level=True,
    )

from hf_audiogen.audio import load_audio  # noqa: E402
from hf_audiogen.evaluation.extractors.vggish import VGGish, log_mel_examples, num_examples  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "audio"
TOLERANCE = 1e-5  # fp32, relative to the largest reference value


def _errors(ours, ref) -> tuple[float, float]:
    ours, ref = (torch.as_tensor(np.asarray(x, dtype=np.float64)) for x in (ours, ref))
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    error = float((ours - ref).abs().max()) if ref.numel() else 0.0
    return error, error / max(float(ref.abs().max()), 1e-30)


def _report(label: str, ours, ref) -> float:
    error, relative = _errors(ours, ref)
    print(f"\n[vggish parity] {label}: max abs {error:.3g}, max rel {relative:.3g}")
    return relative


def _clips() -> dict[str, np.ndarray]:
    """16 kHz float32 clips: the real fixture clips that are long enough, and seeded synthetic ones (a chirp in
    noise, 3.3 s; noise bursts, 5 s)."""
    clips = {}
    for path in sorted(FIXTURES.glob("*.flac")):
        audio, rate = load_audio(path)
        if rate == 16000 and num_examples(audio.shape[-1]) > 0:
            clips[path.stem] = audio
    rng = np.random.default_rng(0)
    t = np.arange(int(3.3 * 16000)) / 16000
    clips["chirp"] = (0.4 * np.sin(2 * np.pi * (200 + 1200 * t) * t) + 0.05 * rng.standard_normal(t.size)).astype(
        np.float32
    )
    bursts = rng.standard_normal(5 * 16000) * np.repeat(rng.uniform(0, 0.5, 50), 1600)
    clips["bursts"] = bursts.astype(np.float32)
    return clips


@pytest.fixture(scope="module")
def models():
    """(ours, the reference as audioldm_eval runs it, the reference with ReLU for the PCA path), same weights."""
    ours = VGGish.from_random(seed=1234)
    ref = reference._vgg(postprocess=False)  # no download: vggish() would fetch the weights
    ref.load_state_dict(ours.state_dict(), strict=True)  # the reference's own strict load: same key layout
    ref_with_relu = reference._vgg(postprocess=False)
    ref_with_relu.load_state_dict(ours.state_dict(), strict=True)
    # audioldm_eval's FrechetAudioDistance(use_activation=False): drop the last module of the head
    ref.embeddings = nn.Sequential(*list(ref.embeddings.children())[:-1])
    return ours, ref.eval(), ref_with_relu.eval()


def test_front_end_matches_waveform_to_examples():
    worst = 0.0
    for name, audio in _clips().items():
        expected = vggish_input.waveform_to_examples(audio.astype(np.float64), 16000, return_tensor=False)
        ours = log_mel_examples(torch.from_numpy(audio))[:, 0]
        worst = max(worst, _report(f"log-mel examples, {name} ({expected.shape[0]} examples)", ours, expected))
    assert worst <= TOLERANCE


@pytest.mark.parametrize("samples", [400, 15599, 15600, 16000, 30959, 30960, 47000])
def test_example_count_matches_frame(samples):
    frames = 1 + (samples - 400) // 160
    expected = 1 + int(np.floor((frames - 96) / 96))  # mel_features.frame's count (negative means "none")
    assert num_examples(samples) == max(expected, 0)
    if expected > 0:
        audio = np.random.default_rng(samples).standard_normal(samples)
        assert vggish_input.waveform_to_examples(audio, 16000, return_tensor=False).shape[0] == expected


def test_mel_matrix_matches_spectrogram_to_mel_matrix():
    from hf_audiogen.evaluation.extractors.vggish import _front_end_constants

    window, mel = _front_end_constants()
    expected = mel_features.spectrogram_to_mel_matrix(
        num_mel_bins=64, num_spectrogram_bins=257, audio_sample_rate=16000, lower_edge_hertz=125, upper_edge_hertz=7500
    )
    assert _report("mel matrix (float64)", mel, expected) < 1e-12
    assert _report("periodic Hann (float64)", window, mel_features.periodic_hann(400)) < 1e-12


def test_embeddings_match_reference(models):
    ours, ref, _ = models
    worst = 0.0
    for name, audio in _clips().items():
        examples = vggish_input.waveform_to_examples(audio.astype(np.float64), 16000)
        with torch.no_grad():
            expected = ref(examples)
        got = ours.embed(ours.prepare(audio, 16000)).embeddings
        worst = max(worst, _report(f"embeddings, {name} {tuple(expected.shape)}", got, expected))
    assert worst <= TOLERANCE


def test_pca_postprocessing_matches_reference(models, tmp_path):
    ours, _, ref_with_relu = models
    rng = np.random.default_rng(7)
    # the official file's layout: numpy arrays, means as a flat vector (torchvggish reshapes them to a column)
    params = {
        "pca_eigen_vectors": rng.standard_normal((128, 128)) / 40.0,
        "pca_means": rng.standard_normal(128),
    }
    weights, pca_file = tmp_path / "vggish.pth", tmp_path / "vggish_pca_params.pth"
    torch.save(ours.state_dict(), weights)
    torch.save(params, pca_file)
    ours_pca = VGGish.from_pretrained(weights, pca_params=pca_file)
    postprocessor = object.__new__(reference.Postprocessor)  # its __init__ downloads the official PCA file
    postprocessor._pca_matrix = torch.as_tensor(params["pca_eigen_vectors"]).float()
    postprocessor._pca_means = torch.as_tensor(params["pca_means"].reshape(-1, 1)).float()
    mismatched = total = 0
    for name, audio in _clips().items():
        with torch.no_grad():
            raw = ref_with_relu(vggish_input.waveform_to_examples(audio.astype(np.float64), 16000))
            expected = postprocessor.postprocess(raw).reshape(-1, 128)
        got = ours_pca.embed(ours_pca.prepare(audio, 16000)).embeddings
        assert got.shape == expected.shape
        mismatched += int((got != expected).sum())
        total += expected.numel()
        assert float((got - expected).abs().max()) <= 1.0  # at most one quantisation step, at a rounding boundary
    print(f"\n[vggish parity] PCA + 8-bit quantisation: {mismatched} of {total} values differ (by one step)")
    assert mismatched <= total * 1e-3


def test_prepare_matches_audioldm_eval_file_reading(models, tmp_path):
    """audioldm_eval's FAD reads int16 and averages the channels (16-bit stereo WAV at 16 kHz: no resampling)."""
    spec = importlib.util.find_spec("audioldm_eval")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"audioldm-eval==0.0.3 is not installed; {SETUP_HINT}")
    fad = _load_by_path("audioldm_eval_fad", Path(next(iter(spec.submodule_search_locations))) / "metrics" / "fad.py")
    ours, ref, _ = models
    rng = np.random.default_rng(3)
    stereo = np.stack([_clips()["chirp"], 0.3 * rng.standard_normal(int(3.3 * 16000)).astype(np.float32)])
    path = tmp_path / "stereo.wav"
    sf.write(path, np.clip(stereo, -1, 1).T, 16000, subtype="PCM_16")
    audio, rate = fad.load_audio_task(str(path))
    with torch.no_grad():
        expected = ref(vggish_input.waveform_to_examples(audio, rate))
    decoded, file_rate = load_audio(path, mono=False)
    got = ours.embed(ours.prepare(decoded, file_rate)).embeddings
    assert _report("audioldm_eval load_audio_task (16-bit stereo) vs prepare", got, expected) <= TOLERANCE


def test_resampling_difference_is_reported(models):
    """A finding, not a bound on parity: soxr HQ (ours) vs resampy kaiser_best (reference) on 44.1 kHz input.

    Measured: the 62 lower mel bands (up to ~7 kHz) agree to < 0.01 (natural-log units); the top two bands (~7.0 to
    7.5 kHz, up to 0.94 of the 8 kHz Nyquist) differ by up to ~0.5, because soxr's passband ends at ~0.91 of Nyquist
    and resampy kaiser_best's at ~0.95; the embeddings then differ by ~1 % of their largest value."""
    ours, ref, _ = models
    rng = np.random.default_rng(11)
    t = np.arange(int(4 * 44100)) / 44100
    audio = (0.3 * np.sin(2 * np.pi * (100 + 900 * t) * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    expected_mel = vggish_input.waveform_to_examples(audio.astype(np.float64), 44100, return_tensor=False)
    prepared = ours.prepare(audio, 44100)
    got_mel = log_mel_examples(prepared)[:, 0].numpy()
    low, _ = _errors(got_mel[..., :62], expected_mel[..., :62])
    top, _ = _errors(got_mel[..., 62:], expected_mel[..., 62:])
    print(
        f"\n[vggish parity] log-mel after resampling 44.1 kHz (soxr vs resampy): max abs {low:.3g} in bands 0-61, "
        f"{top:.3g} in bands 62-63"
    )
    with torch.no_grad():
        expected = ref(torch.from_numpy(expected_mel).float()[:, None])
    relative = _report(
        "embeddings after resampling 44.1 kHz (soxr vs resampy)", ours.embed(prepared).embeddings, expected
    )
    assert low < 0.01 and relative < 0.05


def _load_by_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
