"""PaSSTExtractor: the protocols' cuts, shapes, prepare, seeded init, strict loading of the official layout, errors.
Parity with hear21passt is in tests/parity/test_parity_extractor_passt.py."""

import numpy as np
import pytest
import torch

from hf_audiogen.evaluation.extractors import ExtractorWeightsError, extractor_class
from hf_audiogen.evaluation.extractors.passt import PASST_WEIGHTS_FILE, PaSSTExtractor
from hf_audiogen.validation import InvalidInputError

SR = 32000


@pytest.fixture(scope="module")
def extractor():
    return PaSSTExtractor.from_random(seed=0)


@pytest.fixture(scope="module")
def official_file(extractor, tmp_path_factory):
    """A file in the official layout (the network's state dict, random values)."""
    path = tmp_path_factory.mktemp("passt") / PASST_WEIGHTS_FILE
    torch.save(extractor.net.state_dict(), path)
    return path


def test_registered():
    assert extractor_class("passt") is PaSSTExtractor
    assert (PaSSTExtractor.sampling_rate, PaSSTExtractor.channels, PaSSTExtractor.embedding_dim) == (SR, 1, 768)


@pytest.mark.parametrize(
    "seconds, lengths",
    [
        (0.5, [16000]),  # at most 1.5 s: fed unpadded
        (3.0, [320000]),  # longer than 1.5 s: zero-padded to 10 s
        (10.0, [320000]),
        (12.0, [320000, 320000]),  # windows at 0 and 5 s, the second padded
        (25.0, [320000] * 4),  # windows at 0, 5, 10, 15 s
    ],
)
def test_stable_audio_windows(extractor, seconds, lengths):
    pieces = extractor.windows(torch.zeros(int(seconds * SR)))
    assert [p.shape[0] for p in pieces] == lengths


@pytest.mark.parametrize(
    "seconds, lengths",
    [(3.0, [96000]), (10.0, [320000]), (20.1, [320000, 320000]), (25.0, [320000, 320000, 160000])],
)
def test_audiocraft_segments(seconds, lengths):
    pieces = PaSSTExtractor(protocol="audiocraft").windows(torch.zeros(int(round(seconds * SR))))
    assert [p.shape[0] for p in pieces] == lengths  # 20.1 s: the 0.1 s tail is dropped, nothing is padded


def test_too_short_and_bad_shapes(extractor):
    with pytest.raises(InvalidInputError, match="too short"):
        extractor.windows(torch.zeros(int(0.1 * SR)))
    with pytest.raises(InvalidInputError):
        extractor.windows(torch.zeros(2, SR))
    with pytest.raises(InvalidInputError):
        PaSSTExtractor(protocol="fad")


def test_embed_shapes(extractor):
    rng = np.random.default_rng(0)
    short = extractor.embed(extractor.prepare(0.1 * rng.standard_normal(SR).astype(np.float32), SR))
    assert short.logits.shape == (527,) and short.embeddings.shape == (1, 768)
    assert short.segment_logits.shape == (1, 527)
    long = extractor.embed(torch.from_numpy(0.1 * rng.standard_normal(12 * SR).astype(np.float32)))
    assert long.segment_logits.shape == (2, 527)
    torch.testing.assert_close(long.logits, long.segment_logits.mean(0))
    assert torch.isfinite(long.logits).all() and long.logits.std() > 0


def test_prepare_mixes_resamples_and_normalises(extractor):
    stereo = np.stack([np.full(16000, 0.2, np.float32), np.full(16000, 0.4, np.float32)])
    prepared = extractor.prepare(stereo, 16000)
    assert prepared.dtype == torch.float32 and prepared.shape == (32000,)
    assert prepared.abs().max().item() == pytest.approx(10 ** (-1 / 20), rel=1e-4)  # stable-audio: peak at -1 dBFS
    raw = PaSSTExtractor(protocol="audiocraft").prepare(stereo, 16000)  # audiocraft: channel mean, no normalisation
    assert raw[8000:24000].mean().item() == pytest.approx(0.3, rel=1e-3)
    silence = extractor.prepare(np.zeros(32000, np.float32), SR)
    assert not silence.any()


def test_from_random_is_seeded():
    a, b, c = (PaSSTExtractor.from_random(seed=s).net.state_dict() for s in (5, 5, 6))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["blocks.0.attn.qkv.weight"], c["blocks.0.attn.qkv.weight"])


def test_from_pretrained_round_trips(extractor, official_file):
    for source in (official_file, official_file.parent):  # the file, or a folder holding it
        loaded = PaSSTExtractor.from_pretrained(source)
        expected = extractor.net.state_dict()
        assert all(torch.equal(v, expected[k]) for k, v in loaded.net.state_dict().items())
        assert loaded.describe()["weights"] == str(source)


def test_from_pretrained_bad_keys(extractor, tmp_path):
    state = dict(extractor.net.state_dict())
    state.pop("head_dist.weight")
    state["pos_embed"] = torch.zeros(1, 3, 768)
    state["cls_token"] = torch.zeros(1, 2, 768)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(InvalidInputError) as info:
        PaSSTExtractor.from_pretrained(path)
    message = str(info.value)
    assert "\n" not in message
    assert all(word in message for word in ("head_dist.weight", "pos_embed", "cls_token"))


def test_missing_weights_name_the_official_file(tmp_path):
    with pytest.raises(ExtractorWeightsError, match=PASST_WEIGHTS_FILE):
        PaSSTExtractor.from_pretrained(tmp_path / "nowhere.pt")
    with pytest.raises(ExtractorWeightsError, match=PASST_WEIGHTS_FILE):
        PaSSTExtractor.from_pretrained(tmp_path)  # a folder without the file
    with pytest.raises(ExtractorWeightsError, match=PASST_WEIGHTS_FILE):
        PaSSTExtractor.from_pretrained("someone/passt-weights", local_files_only=True)  # offline Hub id
