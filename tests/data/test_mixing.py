import math

import numpy as np
import pytest
import torch

from hf_audiogen.audio import AudioError, rms_db
from hf_audiogen.data.mixing import (
    MixingAugmentation,
    MixRecord,
    SilentAudioError,
    concatenate_captions,
    max_offset,
    mix_pair,
)

SR = 16000


def noise(seed, length, channels=None, scale=0.1):
    shape = (length,) if channels is None else (channels, length)
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def decompose(mix, a, b, offset):
    """Least-squares gains (alpha, beta) with mix ≈ alpha * a + beta * b_placed, and the relative residual.

    The realised SNR is then measured from the energies of the two components actually present in the mixture.
    """
    length = a.shape[-1]
    segment = b[..., : length - offset].astype(np.float64)
    placed = np.zeros_like(a, dtype=np.float64)
    placed[..., offset : offset + segment.shape[-1]] = segment
    basis = np.stack([a.astype(np.float64).ravel(), placed.ravel()], axis=1)
    coef, *_ = np.linalg.lstsq(basis, mix.astype(np.float64).ravel(), rcond=None)
    residual = np.linalg.norm(basis @ coef - mix.ravel()) / np.linalg.norm(mix)
    return coef[0], coef[1], segment, residual


def realised_snr_db(mix, a, b, offset):
    alpha, beta, segment, residual = decompose(mix, a, b, offset)
    assert residual < 1e-5  # the mixture is exactly a sum of the two scaled clips
    power_a = np.mean((alpha * a.astype(np.float64)) ** 2)
    power_b = np.mean((beta * segment) ** 2)
    return 10 * math.log10(power_a / power_b)


# --- mix_pair -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("snr_db", [-5.0, -1.3, 0.0, 2.5, 5.0])
@pytest.mark.parametrize("b_length, offset", [(SR, 0), (SR, 5000), (SR // 4, 3000), (2 * SR, 7999)])
def test_realised_snr_matches_request(snr_db, b_length, offset):
    a, b = noise(0, SR, scale=0.3), noise(1, b_length, scale=0.01)
    mix = mix_pair(a, b, snr_db=snr_db, offset=offset, target_rms_db=-25.0)
    assert mix.shape == a.shape and mix.dtype == np.float32
    assert realised_snr_db(mix, a, b, offset) == pytest.approx(snr_db, abs=0.01)


def test_snr_is_measured_on_the_added_part_of_a_clip_with_uneven_level():
    # b is loud in its first half and quiet in its second; only the second half overlaps a, so that half sets the gain.
    a = noise(0, 4000)
    b = np.concatenate([noise(1, 2000, scale=1.0), noise(2, 2000, scale=0.01)])
    mix = mix_pair(a, b, snr_db=0.0, offset=2000)
    assert realised_snr_db(mix, a, b, 2000) == pytest.approx(0.0, abs=0.01)


def test_offset_places_second_clip():
    a, b = noise(0, 8000), noise(1, 2000)
    offset = 3000
    mix = mix_pair(a, b, snr_db=0.0, offset=offset)
    alpha, beta, _, _ = decompose(mix, a, b, offset)
    before, inside, after = slice(0, offset), slice(offset, offset + 2000), slice(offset + 2000, None)
    np.testing.assert_allclose(mix[before], alpha * a[before], atol=1e-6)
    np.testing.assert_allclose(mix[after], alpha * a[after], atol=1e-6)
    assert np.abs(mix[inside] - alpha * a[inside]).mean() > 0.01
    # the same clip added one sample later does not explain the mixture
    assert decompose(mix, a, b, offset + 1)[3] > 0.1


def test_stereo_and_long_second_clip_keep_first_clip_layout():
    a, b = noise(0, 3000, channels=2), noise(1, 9000, channels=2)
    mix = mix_pair(a, b, snr_db=1.0, offset=1000, target_rms_db=-20.0)
    assert mix.shape == (2, 3000)
    assert realised_snr_db(mix, a, b, 1000) == pytest.approx(1.0, abs=0.01)


def test_mixture_level_target_and_default():
    a, b = noise(0, 4000, scale=0.05), noise(1, 4000, scale=0.5)
    assert rms_db(mix_pair(a, b, snr_db=0.0, offset=0, target_rms_db=-30.0)) == pytest.approx(-30.0, abs=0.01)
    # target None keeps the first clip's level
    assert rms_db(mix_pair(a, b, snr_db=3.0, offset=100)) == pytest.approx(rms_db(a), abs=0.01)


def test_no_clipping_and_snr_survives_declipping():
    a = noise(0, 4000)
    a[100] = 5.0  # a spike that would exceed full scale at the requested loudness
    b = noise(1, 4000)
    mix = mix_pair(a, b, snr_db=-2.0, offset=500, target_rms_db=-3.0, clip_limit=0.99)
    assert np.abs(mix).max() == pytest.approx(0.99, abs=1e-6)
    assert rms_db(mix) < -3.0  # scaled down as a whole
    assert realised_snr_db(mix, a, b, 500) == pytest.approx(-2.0, abs=0.01)


def test_torch_inputs_return_tensors_matching_numpy():
    a, b = noise(0, 2000), noise(1, 1500)
    expected = mix_pair(a, b, snr_db=2.0, offset=300, target_rms_db=-25.0)
    out = mix_pair(torch.from_numpy(a).double(), torch.from_numpy(b), snr_db=2.0, offset=300, target_rms_db=-25.0)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out.shape == (2000,)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-6)
    pcm = mix_pair(torch.tensor((a * 32767).astype(np.int16)), b, snr_db=2.0, offset=300, target_rms_db=-25.0)
    assert pcm.dtype == torch.float32  # an int16 tensor cannot hold the rescaled mixture
    np.testing.assert_allclose(pcm.numpy(), expected, atol=1e-4)


def test_mix_pair_errors():
    a, b = noise(0, 1000), noise(1, 1000)
    with pytest.raises(AudioError, match="first clip contains 1 NaN"):
        mix_pair(np.where(np.arange(1000) == 5, np.nan, a), b, snr_db=0.0, offset=0)
    with pytest.raises(AudioError, match="second clip is empty"):
        mix_pair(a, np.zeros(0, np.float32), snr_db=0.0, offset=0)
    with pytest.raises(AudioError, match="same channel layout"):
        mix_pair(a, noise(1, 1000, channels=2), snr_db=0.0, offset=0)
    with pytest.raises(ValueError, match=r"offset must be an integer sample index in \[0, 999\].*got 1000"):
        mix_pair(a, b, snr_db=0.0, offset=1000)
    with pytest.raises(ValueError, match="snr_db must be a finite number, got nan"):
        mix_pair(a, b, snr_db=float("nan"), offset=0)
    with pytest.raises(ValueError, match="clip_limit=1.5 is outside"):
        mix_pair(a, b, snr_db=0.0, offset=0, clip_limit=1.5)
    with pytest.raises(AudioError, match=r"different sampling rates \(16000 and 22050 Hz\); resample"):
        mix_pair(a, b, snr_db=0.0, offset=0, sampling_rates=(16000, 22050))
    with pytest.raises(AudioError, match="sampling rate of the second clip=16.5"):
        mix_pair(a, b, snr_db=0.0, offset=0, sampling_rates=(16000, 16.5))
    assert mix_pair(a, b, snr_db=0.0, offset=0, sampling_rates=(SR, SR)).shape == a.shape
    with pytest.raises(SilentAudioError, match="first clip is silent"):
        mix_pair(np.zeros(1000, np.float32), b, snr_db=0.0, offset=0)
    late = np.concatenate([np.zeros(900, np.float32), b[:100]])
    with pytest.raises(SilentAudioError, match="second clip is silent over the 500 samples"):
        mix_pair(a, late, snr_db=0.0, offset=500)


def test_concatenate_captions():
    assert concatenate_captions("dog bark", "car horn") == "dog bark car horn"
    assert concatenate_captions("dog bark", "dog bark") == "dog bark"
    assert concatenate_captions("dog", "car", separator=" and ") == "dog and car"
    assert concatenate_captions("", "car") == "car"
    with pytest.raises(ValueError, match="second caption must be a string, got NoneType"):
        concatenate_captions("dog", None)


# --- MixingAugmentation ---------------------------------------------------------------------------------------------


def make_batch(n=6, length=1600):
    return {
        "audio": [noise(10 + i, length - (length // 16) * i) for i in range(n)],
        "text": [f"sound{i}" for i in range(n)],
        "id": list(range(n)),
    }


def test_p_zero_is_identity():
    batch = make_batch()
    aug = MixingAugmentation(p=0.0, seed=0)
    out = aug(batch)
    assert out["text"] == batch["text"] and out["id"] == batch["id"]
    assert all(o is i for o, i in zip(out["audio"], batch["audio"]))
    assert aug.last_records == []


def test_p_one_mixes_every_example_faithfully():
    batch = make_batch()
    aug = MixingAugmentation(p=1.0, snr_range=(-5.0, 5.0), min_overlap=0.5, target_rms_db=(-35.0, -15.0), seed=3)
    out = aug(batch)
    records = aug.last_records
    assert [r.index for r in records] == list(range(6)) and all(r.mixed for r in records)
    assert out["id"] == batch["id"]
    for r in records:
        a, b = batch["audio"][r.index], batch["audio"][r.partner]
        assert r.partner != r.index
        assert -5.0 <= r.snr_db <= 5.0 and -35.0 <= r.target_rms_db <= -15.0
        assert 0 <= r.offset <= max_offset(a.shape[-1], 0.5)
        mix = out["audio"][r.index]
        assert mix.shape == a.shape and np.abs(mix).max() <= 0.99
        assert realised_snr_db(mix, a, b, r.offset) == pytest.approx(r.snr_db, abs=0.01)
        assert out["text"][r.index] == f"sound{r.index} sound{r.partner}"


def test_seed_makes_it_deterministic():
    def run(seed):
        aug = MixingAugmentation(p=0.5, seed=seed)
        return [aug(make_batch()) for _ in range(3)]

    first, again, other = run(7), run(7), run(8)
    for x, y in zip(first, again):
        assert x["text"] == y["text"]
        for u, v in zip(x["audio"], y["audio"]):
            np.testing.assert_array_equal(u, v)
    assert any(x["text"] != z["text"] for x, z in zip(first, other))


def test_indices_reseed_per_batch_independently_of_call_order():
    aug = MixingAugmentation(p=0.5, seed=1)
    forward = [aug(make_batch(), indices=list(range(start, start + 6)))["text"] for start in (0, 6)]
    backward = [aug(make_batch(), indices=list(range(start, start + 6)))["text"] for start in (6, 0)]
    assert forward == backward[::-1]
    assert forward[0] != forward[1]


def test_mixing_rate_and_snr_spread_follow_parameters():
    aug = MixingAugmentation(p=0.5, snr_range=(-5.0, 5.0), seed=0)
    records = []
    for _ in range(25):
        aug({"audio": [noise(i, 64) for i in range(16)], "text": [str(i) for i in range(16)]})
        records += aug.last_records
    assert 0.4 < len(records) / 400 < 0.6
    snrs = np.array([r.snr_db for r in records])
    assert snrs.min() < -4.0 and snrs.max() > 4.0 and abs(snrs.mean()) < 1.0


def test_report_columns():
    out = MixingAugmentation(p=0.5, seed=2, report_columns=True)(make_batch())
    mixed = [i for i, j in enumerate(out["mixed_with"]) if j >= 0]
    assert 0 < len(mixed) < 6
    for i in range(6):
        if i in mixed:
            assert out["text"][i] == f"sound{i} sound{out['mixed_with'][i]}" and -5 <= out["mix_snr_db"][i] <= 5
        else:
            assert out["text"][i] == f"sound{i}" and math.isnan(out["mix_snr_db"][i])


def test_list_of_pairs_and_torch_audio():
    pairs = [(torch.from_numpy(noise(i, 800)), f"c{i}") for i in range(3)]
    out = MixingAugmentation(p=1.0, seed=0)(pairs)
    assert len(out) == 3
    for (audio, caption), (orig, orig_caption) in zip(out, pairs):
        assert isinstance(audio, torch.Tensor) and audio.shape == orig.shape
        assert caption.startswith(orig_caption + " ") and not torch.equal(audio, orig)


def test_audio_dicts_keep_rate_and_mismatched_rates_raise():
    batch = {
        "audio": [{"array": noise(i, 800), "sampling_rate": SR, "path": f"{i}.wav"} for i in range(3)],
        "text": ["a", "b", "c"],
    }
    out = MixingAugmentation(p=1.0, seed=0, sampling_rate=SR)(batch)
    assert all(item["sampling_rate"] == SR and item["path"] is None for item in out["audio"])
    batch["audio"][1]["sampling_rate"] = 22050
    with pytest.raises(AudioError, match=r"different sampling rates in one batch: \{0: 16000, 1: 22050, 2: 16000\}"):
        MixingAugmentation(p=1.0, seed=0)(batch)
    with pytest.raises(AudioError, match=r"audio items \[1\] have sampling rates \[22050\], expected 16000 Hz"):
        MixingAugmentation(p=1.0, seed=0, sampling_rate=SR)(batch)


def test_silent_clip_is_skipped_with_reason_and_nan_raises():
    batch = {"audio": [noise(0, 800), np.zeros(800, np.float32)], "text": ["a", "b"]}
    aug = MixingAugmentation(p=1.0, seed=0)
    out = aug(batch)
    assert out["text"] == ["a", "b"]
    assert [(r.index, r.partner, r.mixed) for r in aug.last_records] == [(0, 1, False), (1, 0, False)]
    assert "silent" in aug.last_records[0].reason and isinstance(aug.last_records[0], MixRecord)
    batch["audio"][1] = np.full(800, np.nan, np.float32)
    with pytest.raises(AudioError, match="cannot mix audio item 0 with item 1: second clip contains 800 NaN"):
        aug(batch)


def test_datasets_map_integration():
    datasets = pytest.importorskip("datasets")
    data = make_batch(n=8, length=400)
    dataset = datasets.Dataset.from_dict({"audio": [a.tolist() for a in data["audio"]], "text": data["text"]})
    aug = MixingAugmentation(p=1.0, seed=0, report_columns=True)
    mapped = dataset.map(aug, batched=True, batch_size=4, with_indices=True)
    assert len(mapped) == 8
    for i, row in enumerate(mapped):
        start, partner = 4 * (i // 4), row["mixed_with"]  # partner is a position within the same batch of 4
        assert 0 <= partner < 4 and start + partner != i
        assert row["text"] == f"sound{i} sound{start + partner}"
        first = data["audio"][i]
        assert len(row["audio"]) == first.shape[-1] and not np.allclose(row["audio"], first)


def test_constructor_and_batch_errors():
    with pytest.raises(ValueError, match=r"p=1.5 is outside the allowed range \[0.0, 1.0\]"):
        MixingAugmentation(p=1.5)
    with pytest.raises(ValueError, match="snr_range must have low <= high"):
        MixingAugmentation(snr_range=(5, -5))
    with pytest.raises(ValueError, match="min_overlap must be > 0"):
        MixingAugmentation(min_overlap=0)
    with pytest.raises(ValueError, match="target_rms_db must be a \\(low, high\\) pair"):
        MixingAugmentation(target_rms_db=(-30, -20, -10))
    aug = MixingAugmentation(p=1.0)
    with pytest.raises(ValueError, match="column 'text' not found"):
        aug({"audio": [noise(0, 10)]})
    with pytest.raises(ValueError, match="got 2 audio items but 1 captions"):
        aug({"audio": [noise(0, 10), noise(1, 10)], "text": ["a"]})
    with pytest.raises(ValueError, match="caption 1 must be a string, got NoneType"):
        aug({"audio": [noise(0, 10), noise(1, 10)], "text": ["a", None]})
    with pytest.raises(ValueError, match="dict of lists or a list of \\(audio, caption\\) pairs"):
        aug(noise(0, 10))
