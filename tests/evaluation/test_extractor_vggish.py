"""VGGish ("vggish"): one 128-d row per 0.96 s of 16 kHz mono, seeded random weights, the official file layout loaded
exactly and strictly, the optional PCA post-processing, and one clear error for every way the weights can be wrong or
absent. Parity with torchvggish itself is in tests/parity/test_parity_extractor_vggish.py."""

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import constants

from hf_audiogen.evaluation.extractors import ExtractorWeightsError, extractor_class
from hf_audiogen.evaluation.extractors.vggish import VGGish, log_mel_examples, num_examples
from hf_audiogen.validation import InvalidInputError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hub_emulator import HubEmulator  # noqa: E402

OFFICIAL = "vggish-10086976.pth"


def _noise(seconds: float, rate: int = 16000, channels: int = 0, seed: int = 0) -> np.ndarray:
    shape = (channels, int(seconds * rate)) if channels else (int(seconds * rate),)
    return (np.random.default_rng(seed).standard_normal(shape) * 0.1).astype(np.float32)


def _layout_only(model: torch.nn.Module) -> dict:
    """The model's state dict with every tensor a stride-0 view of one zero: the right keys and shapes in a file of a
    few kilobytes (for the tests whose file must fail before its values matter)."""
    return {key: torch.zeros((), dtype=value.dtype).expand(value.shape) for key, value in model.state_dict().items()}


@pytest.fixture(scope="module")
def model():
    return VGGish.from_random(seed=0)


@pytest.fixture(scope="module")
def official_file(model, tmp_path_factory):
    """The random model saved as the official file is: a plain state dict."""
    path = tmp_path_factory.mktemp("vggish") / OFFICIAL
    torch.save(model.state_dict(), path)
    return path


def test_registry_and_description(model):
    assert extractor_class("vggish") is VGGish
    described = model.describe()
    json.dumps(described)
    assert described["weights"] == "random(seed=0)"
    assert (described["sampling_rate"], described["embedding_dim"], described["pooling"]) == (16000, 128, "frame")
    assert described["postprocess"] is False


@pytest.mark.parametrize(
    ("samples", "rows"),
    [(8000, 0), (15599, 0), (15600, 1), (16000, 1), (30959, 1), (30960, 2), (56000, 3), (80000, 5)],
)
def test_one_row_per_full_example(model, samples, rows):
    assert num_examples(samples) == rows
    out = model.embed(model.prepare(_noise(samples / 16000), 16000))
    assert out.embeddings.shape == (rows, 128) and out.embeddings.dtype == torch.float32
    assert out.logits is None
    assert torch.isfinite(out.embeddings).all()


def test_log_mel_examples_shape_and_floor():
    examples = log_mel_examples(torch.zeros(32000))
    assert examples.shape == (2, 1, 96, 64) and examples.dtype == torch.float32
    assert torch.allclose(examples, torch.full_like(examples, float(np.log(0.01))))  # log(0 + offset)


def test_examples_are_independent_of_what_follows(model):
    """Examples do not overlap: the first 0.96 s give the first row whatever comes after them."""
    audio = _noise(3.0)
    full = model.embed(torch.from_numpy(audio)).embeddings
    head = model.embed(torch.from_numpy(audio[:15600])).embeddings
    assert torch.allclose(full[0], head[0], rtol=0, atol=1e-5 * float(full.abs().max()))  # batch size: fp32 order


def test_prepare_downmixes_and_resamples(model):
    stereo = _noise(2.0, rate=44100, channels=2)
    prepared = model.prepare(stereo, 44100)
    assert prepared.shape == (32000,) and prepared.dtype == torch.float32
    assert torch.allclose(prepared, model.prepare(stereo.mean(axis=0), 44100), atol=1e-6)
    assert torch.equal(model.prepare(stereo[0], 16000), torch.from_numpy(stereo[0]))  # at 16 kHz: untouched
    assert model.embed(prepared).embeddings.shape == (2, 128)


def test_prepare_and_embed_refuse_bad_input(model):
    with pytest.raises(ValueError):
        model.prepare(np.full(16000, np.nan, dtype=np.float32), 16000)
    with pytest.raises(InvalidInputError):
        model.embed(torch.zeros(2, 16000))
    with pytest.raises(InvalidInputError):
        model.embed(np.zeros(16000, dtype=np.float32))


def test_from_random_is_seeded():
    audio = torch.from_numpy(_noise(1.0))
    first, again, other = (VGGish.from_random(seed=seed) for seed in (5, 5, 6))
    assert torch.equal(first.embed(audio).embeddings, again.embed(audio).embeddings)
    assert not torch.equal(first.embed(audio).embeddings, other.embed(audio).embeddings)
    assert not any(parameter.requires_grad for parameter in first.parameters())


def test_official_layout_round_trips_exactly(model, official_file):
    loaded = VGGish.from_pretrained(official_file)
    assert loaded.weights_source == str(official_file)
    theirs = loaded.state_dict()
    assert theirs.keys() == model.state_dict().keys()
    assert all(torch.equal(value, theirs[key]) for key, value in model.state_dict().items())
    audio = torch.from_numpy(_noise(2.0))
    assert torch.equal(loaded.embed(audio).embeddings, model.embed(audio).embeddings)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("missing", "embeddings.4.bias"),
        ("unexpected", "embeddings.5.weight"),
        ("misshaped", "features.0.weight"),
    ],
)
def test_wrong_layout_is_one_clear_error(model, tmp_path, change, named):
    state = _layout_only(model)
    if change == "missing":
        del state[named]
    elif change == "unexpected":
        state[named] = torch.zeros(3)
    else:
        state[named] = torch.zeros(64, 1, 5, 5)
    path = tmp_path / "vggish.pth"
    torch.save(state, path)
    with pytest.raises(InvalidInputError, match=change) as caught:
        VGGish.from_pretrained(path)
    message = str(caught.value)
    assert named in message and OFFICIAL in message and "\n" not in message


def test_a_file_that_is_not_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "vggish.pth"
    torch.save([torch.zeros(3)], path)
    with pytest.raises(InvalidInputError, match="not a state dict"):
        VGGish.from_pretrained(path)


def test_missing_file_names_the_official_one(tmp_path):
    with pytest.raises(ExtractorWeightsError, match=OFFICIAL) as caught:
        VGGish.from_pretrained(tmp_path / "nowhere" / OFFICIAL)
    assert "github.com/harritaylor/torchvggish" in str(caught.value)


def test_hub_id_offline_names_the_official_file(tmp_path):
    with pytest.raises(ExtractorWeightsError, match=OFFICIAL):
        VGGish.from_pretrained("someone/vggish-weights", local_files_only=True, cache_dir=str(tmp_path))


def test_unknown_loading_argument_is_refused(official_file):
    with pytest.raises(InvalidInputError, match="unknown argument"):
        VGGish.from_pretrained(official_file, revison="main")


def test_pca_postprocessing(model, official_file, tmp_path):
    """The PCA file as released (numpy arrays: (128, 128) vectors, (128,) means) turns on torchvggish's default
    output: whitened, clipped and quantised to 0..255."""
    rng = np.random.default_rng(1)
    pca_file = tmp_path / "vggish_pca_params-970ea276.pth"
    torch.save(
        {"pca_eigen_vectors": rng.standard_normal((128, 128)) / 40, "pca_means": rng.standard_normal(128)}, pca_file
    )
    loaded = VGGish.from_pretrained(official_file, pca_params=pca_file)
    assert loaded.postprocess and loaded.describe()["postprocess"] is True
    assert "PCA" in loaded.weights_source
    assert "pca_eigen_vectors" not in loaded.state_dict()  # the official weights' layout is unchanged
    embeddings = loaded.embed(torch.from_numpy(_noise(2.0))).embeddings
    assert embeddings.shape == (2, 128)
    assert embeddings.min() >= 0 and embeddings.max() <= 255 and torch.equal(embeddings, embeddings.round())


def test_bad_pca_file_is_one_clear_error(official_file, tmp_path):
    pca_file = tmp_path / "pca.pth"
    torch.save({"pca_eigen_vectors": np.zeros((64, 128)), "pca_means": np.zeros(128)}, pca_file)
    with pytest.raises(InvalidInputError, match=r"\(128, 128\)"):
        VGGish.from_pretrained(official_file, pca_params=pca_file)
    torch.save({"pca_matrix": np.zeros((128, 128))}, pca_file)
    with pytest.raises(InvalidInputError, match="pca_eigen_vectors"):
        VGGish.from_pretrained(official_file, pca_params=pca_file)
    with pytest.raises(ExtractorWeightsError, match="vggish_pca_params-970ea276.pth"):
        VGGish.from_pretrained(official_file, pca_params=tmp_path / "missing_pca.pth")


def test_hub_id_downloads_the_official_file_name(model, tmp_path, monkeypatch):
    """Online (a local Hub emulator): the file named as the official one is fetched from the repository; another
    name can be given with ``filename``."""
    buffer = io.BytesIO()
    torch.save(_layout_only(model), buffer)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with HubEmulator() as hub:
        hub.add_commit("someone/vggish", {OFFICIAL: buffer.getvalue(), "renamed.pth": buffer.getvalue()})
        monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
        monkeypatch.setattr(
            constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        )
        loaded = VGGish.from_pretrained("someone/vggish")
        assert loaded.weights_source == "someone/vggish"
        assert loaded.state_dict().keys() == model.state_dict().keys()
        assert VGGish.from_pretrained("someone/vggish", filename="renamed.pth").weights_source == "someone/vggish"
        with pytest.raises(ExtractorWeightsError, match="missing.pth"):
            VGGish.from_pretrained("someone/vggish", filename="missing.pth")
