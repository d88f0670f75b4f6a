"""PANNs CNN14 ("cnn14-16k", "cnn14-32k"): one 2048-d embedding and 527 logits per clip, audioldm_eval's reading
(first channel, mean removed, resampled, padded to 32,000 samples), seeded random weights, the official checkpoint
layout (state dict under "model", front-end kernels included, numpy sampler state beside it) loaded exactly and
strictly, and one clear error for every way the weights can be wrong or absent. Parity with audioldm_eval's and
panns_inference's CNN14 is in tests/parity/test_parity_extractor_panns.py."""

import json

import numpy as np
import pytest
import torch

from hf_audiogen.evaluation.extractors import ExtractorWeightsError, extractor_class
from hf_audiogen.evaluation.extractors.panns import Cnn14Extractor16k, Cnn14Extractor32k, dft_kernels
from hf_audiogen.validation import InvalidInputError

OFFICIAL = {Cnn14Extractor16k: "Cnn14_16k_mAP=0.438.pth", Cnn14Extractor32k: "Cnn14_mAP=0.431.pth"}
CLASSES = [Cnn14Extractor16k, Cnn14Extractor32k]


def _noise(seconds: float, rate: int, channels: int = 0, seed: int = 0) -> np.ndarray:
    shape = (channels, int(seconds * rate)) if channels else (int(seconds * rate),)
    return (np.random.default_rng(seed).standard_normal(shape) * 0.1).astype(np.float32)


def _layout_only(model: torch.nn.Module) -> dict:
    """The model's state dict in a file of kilobytes: the front-end kernels as they are, every other tensor a
    stride-0 view of one zero with the right shape (for the tests whose file must fail before its values matter)."""
    front_end = model.front_end_kernels()
    return {
        key: front_end[key] if key in front_end else torch.zeros((), dtype=value.dtype).expand(value.shape)
        for key, value in model.state_dict().items()
    }


@pytest.fixture(scope="module", params=CLASSES, ids=["16k", "32k"])
def model(request):
    return request.param.from_random(seed=0)


def test_registry_and_description(model):
    assert extractor_class(model.name) is type(model)
    described = model.describe()
    json.dumps(described)
    assert (described["embedding_dim"], described["num_classes"], described["pooling"]) == (2048, 527, "clip")
    assert described["front_end"]["n_fft"] == model.window_size


@pytest.mark.parametrize("seconds", [0.3, 2.0, 3.55])
def test_one_embedding_and_logits_per_clip(model, seconds):
    rate = model.sampling_rate
    prepared = model.prepare(_noise(seconds, rate), rate)
    assert prepared.shape == (max(int(seconds * rate), 32000),)  # short clips padded to 32,000 samples
    frames = model.log_mel(prepared[None]).shape[2]
    assert frames == model.num_frames(int(seconds * rate)) == 1 + prepared.shape[0] // model.hop_size
    out = model.embed(prepared)
    assert out.embeddings.shape == (1, 2048) and out.logits.shape == (527,)
    assert out.embeddings.dtype == out.logits.dtype == torch.float32
    assert (out.embeddings >= 0).all()  # the "2048" output is after fc1's ReLU
    assert torch.isfinite(out.logits).all()


def test_logits_come_from_the_embedding(model):
    out = model.embed(model.prepare(_noise(2.0, model.sampling_rate), model.sampling_rate))
    assert torch.allclose(model.fc_audioset(out.embeddings)[0], out.logits)


def test_prepare_follows_audioldm_eval(model):
    """First channel only, DC offset removed, resampled, padded at the end."""
    rate = model.sampling_rate
    stereo = _noise(2.5, 44100, channels=2) + 0.3
    prepared = model.prepare(stereo, 44100)
    assert prepared.shape == (int(2.5 * rate),)
    other = stereo.copy()
    other[1] = 0.0  # the second channel is ignored
    assert torch.equal(prepared, model.prepare(other, 44100))
    assert abs(float(prepared.mean())) < 1e-3
    same_rate = _noise(0.5, rate) + 0.2
    padded = model.prepare(same_rate, rate)
    assert torch.allclose(padded[: same_rate.size], torch.from_numpy(same_rate - same_rate.mean()), atol=1e-6)
    assert torch.equal(padded[same_rate.size :], torch.zeros(32000 - same_rate.size))


def test_embed_refuses_bad_input(model):
    with pytest.raises(InvalidInputError):
        model.embed(torch.zeros(1, 32000))
    with pytest.raises(InvalidInputError, match="at least"):
        model.embed(torch.zeros(model.window_size // 2))


def test_from_random_is_seeded_and_has_the_computed_front_end():
    audio = Cnn14Extractor16k.from_random(seed=0).prepare(_noise(1.0, 16000), 16000)
    first, again, other = (Cnn14Extractor16k.from_random(seed=seed) for seed in (3, 3, 4))
    assert torch.equal(first.embed(audio).logits, again.embed(audio).logits)
    assert not torch.equal(first.embed(audio).logits, other.embed(audio).logits)
    real, imag = dft_kernels(512)
    assert torch.equal(first.spectrogram_extractor.stft.conv_real.weight, real)
    assert torch.equal(first.spectrogram_extractor.stft.conv_imag.weight, imag)
    first.check_front_end("random")
    assert not any(parameter.requires_grad for parameter in first.parameters())


def test_dft_kernels_give_the_power_spectrum():
    """The convolution kernels are the periodic-Hann-windowed DFT: the same power as torch.stft (centred, reflect)."""
    model = Cnn14Extractor16k.from_random(seed=0)
    audio = torch.from_numpy(_noise(1.0, 16000))
    power = model.spectrogram_extractor(audio[None])[0, 0]
    spectrum = torch.stft(
        audio, 512, 160, window=torch.hann_window(512), center=True, pad_mode="reflect", return_complex=True
    )
    assert torch.allclose(power, spectrum.abs().T ** 2, rtol=1e-3, atol=1e-4)


def test_official_layout_round_trips_exactly(tmp_path):
    """A training checkpoint as released: the state dict under "model", with the iteration and numpy sampler state
    beside it (rebuilt by the weights-only loader with numpy's array constructors allowed)."""
    model = Cnn14Extractor16k.from_random(seed=1)
    path = tmp_path / OFFICIAL[Cnn14Extractor16k]
    sampler = {"indexes_per_class": [np.arange(5), np.arange(3.0)], "random_state": np.int64(7)}
    torch.save({"iteration": 600000, "model": model.state_dict(), "sampler": sampler}, path)
    loaded = Cnn14Extractor16k.from_pretrained(path)
    assert loaded.weights_source == str(path)
    theirs = loaded.state_dict()
    assert theirs.keys() == model.state_dict().keys()
    assert all(torch.equal(value, theirs[key]) for key, value in model.state_dict().items())
    audio = model.prepare(_noise(2.0, 16000), 16000)
    ours, again = model.embed(audio), loaded.embed(audio)
    assert torch.equal(ours.embeddings, again.embeddings) and torch.equal(ours.logits, again.logits)


@pytest.mark.parametrize("cls", CLASSES, ids=["16k", "32k"])
def test_plain_state_dict_and_old_files_without_step_counters_load(cls, tmp_path):
    model = cls.from_random(seed=0)
    state = {key: value for key, value in _layout_only(model).items() if not key.endswith("num_batches_tracked")}
    path = tmp_path / "plain.pth"
    torch.save(state, path)  # not under "model", no BatchNorm step counters (files from torch < 0.4.1)
    loaded = cls.from_pretrained(path)
    assert int(loaded.bn0.num_batches_tracked) == 0


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("missing", "fc_audioset.bias"),
        ("unexpected", "conv_block7.conv1.weight"),
        ("misshaped", "logmel_extractor.melW"),
    ],
)
def test_wrong_layout_is_one_clear_error(model, tmp_path, change, named):
    state = _layout_only(model)
    if change == "missing":
        del state[named]
    elif change == "unexpected":
        state[named] = torch.zeros(3)
    else:
        state[named] = torch.zeros(model.window_size // 2 + 1, 128)
    path = tmp_path / "cnn14.pth"
    torch.save({"model": state}, path)
    with pytest.raises(InvalidInputError, match=change) as caught:
        type(model).from_pretrained(path)
    message = str(caught.value)
    assert named in message and OFFICIAL[type(model)] in message and "\n" not in message


def test_the_other_rate_s_checkpoint_is_refused(tmp_path):
    path = tmp_path / OFFICIAL[Cnn14Extractor16k]
    torch.save({"model": _layout_only(Cnn14Extractor16k.from_random(seed=0))}, path)
    with pytest.raises(InvalidInputError, match="misshaped .*spectrogram_extractor.stft.conv_real.weight"):
        Cnn14Extractor32k.from_pretrained(path)


def test_front_end_of_another_configuration_is_refused(tmp_path):
    """Right shapes, wrong values: mel filters for 50-8000 Hz in a 32 kHz file (whose band ends at 14 kHz)."""
    from hf_audiogen.mel import slaney_mel_filters

    state = _layout_only(Cnn14Extractor32k.from_random(seed=0))
    state["logmel_extractor.melW"] = torch.from_numpy(slaney_mel_filters(1024, 64, 50.0, 8000.0, 32000))
    path = tmp_path / "cnn14.pth"
    torch.save({"model": state}, path)
    with pytest.raises(InvalidInputError, match="logmel_extractor.melW differs") as caught:
        Cnn14Extractor32k.from_pretrained(path)
    assert OFFICIAL[Cnn14Extractor32k].replace("=", "%3D") in str(caught.value)


@pytest.mark.parametrize("cls", CLASSES, ids=["16k", "32k"])
def test_missing_file_names_the_official_one(cls, tmp_path):
    with pytest.raises(ExtractorWeightsError, match="zenodo.org") as caught:
        cls.from_pretrained(tmp_path / "nowhere" / OFFICIAL[cls])
    assert OFFICIAL[cls].replace("=", "%3D") in str(caught.value)


@pytest.mark.parametrize("cls", CLASSES, ids=["16k", "32k"])
def test_hub_id_offline_names_the_official_file(cls, tmp_path):
    with pytest.raises(ExtractorWeightsError, match=OFFICIAL[cls]):
        cls.from_pretrained("someone/panns-cnn14", local_files_only=True, cache_dir=str(tmp_path))
