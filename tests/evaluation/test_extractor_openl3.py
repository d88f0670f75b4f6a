"""OpenL3Extractor: framing, shapes, prepare (stereo, peak, rates), seeded init, strict loading, errors. Parity with
torchopenl3 is in tests/parity/test_parity_extractor_openl3.py."""

import numpy as np
import pytest
import torch

from hf_audiogen.evaluation.extractors import ExtractorWeightsError, extractor_class
from hf_audiogen.evaluation.extractors.openl3 import OPENL3_WEIGHTS_FILE, OpenL3Extractor, num_windows
from hf_audiogen.validation import InvalidInputError

SR = 48000


@pytest.fixture(scope="module")
def extractor():
    return OpenL3Extractor.from_random(seed=0)


@pytest.fixture(scope="module")
def official_file(extractor, tmp_path_factory):
    """A file in torchopenl3's layout (the network's state dict with its front-end buffers, random values)."""
    path = tmp_path_factory.mktemp("openl3") / OPENL3_WEIGHTS_FILE
    torch.save(extractor.model.state_dict(), path)
    return path


def test_registered():
    assert extractor_class("openl3") is OpenL3Extractor
    assert (OpenL3Extractor.sampling_rate, OpenL3Extractor.channels, OpenL3Extractor.embedding_dim) == (SR, 2, 1024)


@pytest.mark.parametrize("seconds, count", [(0.3, 1), (0.5, 1), (1.0, 2), (2.3, 5), (10.0, 20), (12.25, 25)])
def test_frame_counts(extractor, seconds, count):
    samples = int(round(seconds * SR))
    assert num_windows(samples) == count
    frames = extractor.frames(torch.arange(samples, dtype=torch.float32) + 1)
    assert frames.shape == (count, 1, SR)
    # centred: the first window holds 0.5 s of zeros, then the clip; consecutive windows are 0.5 s apart
    assert not frames[0, 0, : SR // 2].any() and frames[0, 0, SR // 2].item() == 1
    if count > 1:
        assert frames[1, 0, 0].item() == 1


def test_embed_shapes_stereo_concatenated(extractor):
    rng = np.random.default_rng(0)
    left = 0.3 * rng.standard_normal(int(0.6 * SR)).astype(np.float32)
    stereo = extractor.embed(torch.from_numpy(np.stack([left, -left])))
    assert stereo.embeddings.shape == (num_windows(int(0.6 * SR)), 1024) == (2, 1024)
    assert stereo.logits is None
    mono = extractor.embed(extractor.prepare(left, SR))  # mono: the one channel on both sides
    torch.testing.assert_close(mono.embeddings[:, :512], mono.embeddings[:, 512:])


def test_prepare(extractor):
    stereo = np.stack([np.full(44100, 0.1, np.float32), np.full(44100, 0.5, np.float32)])
    prepared = extractor.prepare(stereo, 44100)
    assert prepared.shape == (2, SR) and prepared.dtype == torch.float32
    # one gain for both channels: the louder one peaks at -1 dBFS, the ratio is kept
    middle = prepared[:, 10000:38000]
    assert middle[1].max().item() == pytest.approx(10 ** (-1 / 20), rel=1e-3)
    assert (middle[1] / middle[0]).mean().item() == pytest.approx(5.0, rel=1e-3)
    mono = extractor.prepare(np.full(16000, 0.2, np.float32), 16000)
    assert mono.shape == (2, SR) and torch.equal(mono[0], mono[1])
    band_limited = OpenL3Extractor(evaluation_rate=44100).prepare(stereo, 44100)
    assert band_limited.shape == (2, SR)
    with pytest.raises(InvalidInputError):
        extractor.prepare(np.zeros((3, 4800), np.float32), SR)
    with pytest.raises(InvalidInputError):
        extractor.embed(torch.zeros(SR))


def test_from_random_is_seeded():
    a, b, c = (OpenL3Extractor.from_random(seed=s).model.state_dict() for s in (5, 5, 6))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["conv2d_1.weight"], c["conv2d_1.weight"])
    torch.testing.assert_close(a["speclayer.mel_basis"], c["speclayer.mel_basis"])  # fixed front-end


def test_from_pretrained_round_trips(extractor, official_file):
    for source in (official_file, official_file.parent):
        loaded = OpenL3Extractor.from_pretrained(source)
        expected = extractor.model.state_dict()
        assert all(torch.equal(v, expected[k]) for k, v in loaded.model.state_dict().items())
        assert loaded.describe()["weights"] == str(source)


def test_from_pretrained_bad_keys(extractor, tmp_path):
    state = dict(extractor.model.state_dict())
    state.pop("speclayer.mel_basis")
    state["conv2d_8.weight"] = torch.zeros(1)
    state["conv2d_1.weight"] = torch.zeros(64, 1, 5, 5)
    path = tmp_path / "bad.pth.tar"
    torch.save(state, path)
    with pytest.raises(InvalidInputError) as info:
        OpenL3Extractor.from_pretrained(path)
    message = str(info.value)
    assert "\n" not in message
    assert all(word in message for word in ("speclayer.mel_basis", "conv2d_8.weight", "conv2d_1.weight"))


def test_missing_weights_name_the_official_file(tmp_path):
    with pytest.raises(ExtractorWeightsError, match=OPENL3_WEIGHTS_FILE):
        OpenL3Extractor.from_pretrained(tmp_path / "nowhere.pth.tar")
    with pytest.raises(ExtractorWeightsError, match=OPENL3_WEIGHTS_FILE):
        OpenL3Extractor.from_pretrained("someone/openl3-weights", local_files_only=True)
