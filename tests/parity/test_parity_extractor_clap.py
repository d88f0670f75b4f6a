"""CLAP extractor parity: laion_clap 1.1.7's own ``CLAP`` (HTSAT-tiny audio tower + RoBERTa text tower, seeded random
weights) saved as a laion ``.pt`` -> ``ClapExtractor.from_pretrained`` (our key map) -> transformers' ``ClapModel``:
the audio and text embeddings must be equal.

The reference is imported file by file from the installed ``laion_clap`` (``pip install --no-deps laion-clap==1.1.7``,
``scripts/setup_eval_oracles.sh``); ``laion_clap/__init__.py`` and ``hook.py`` never run, so
``CLAP_Module.__init__``'s ``RobertaTokenizer.from_pretrained('roberta-base')`` is bypassed, and
``RobertaModel.from_pretrained('roberta-base')`` inside ``CLAP.__init__`` is replaced by a seeded 2-layer RoBERTa of
roberta-base's width (768, which ``text_projection`` hard-codes). Packages the reference imports only for datasets and
downloads (h5py, torchvision, wget, braceexpand, webdataset) are stubbed when missing; ``torchvision``'s ``Resize``
(the thumbnail of clips > 10 s, a documented deviation) is a stub that returns zeros, so that channel is not compared
on that path.

What is compared (laion's front-end where it can run here):

* non-fusion (``630k-audioset-best`` layout): waveform -> laion's in-model torchlibrosa STFT + log-mel -> HTSAT vs
  waveform -> ``ClapFeatureExtractor`` (numpy mel) -> ``ClapModel``; for a 7 s clip (repeat-padded as laion's
  ``get_audio_features`` does) and a 13 s clip (laion's ``rand_trunc`` with the same seeded numpy draw);
* fusion (``630k-audioset-fusion-best`` layout, ``aff_2d``): laion's ``get_audio_features(..., "fusion",
  "repeatpad")`` (torchaudio mel; the venv's torchaudio is the pure-Python shim) vs ours for a 7 s clip, and for a 13 s
  clip the three random 10 s chunks it picks (same seed); then both models on the same 4-channel input, short
  (not longer) and long (fused);
* text: token ids -> laion ``get_text_embedding`` (padded to 77 as ``CLAP_Module.tokenizer``) vs ours.

Run: ``.venv-audiocraft/bin/python -m pytest -m parity -q -p no:cacheprovider tests/parity/test_parity_extractor_clap.py
-s`` (prints max abs / rel errors).
"""

import contextlib
import importlib
import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from module_restore import restore_modules

from hf_audiogen.evaluation.extractors.clap import ClapExtractor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from factories import tiny_text_tokenizer  # noqa: E402

pytestmark = [pytest.mark.parity, pytest.mark.usefixtures("one_torch_thread")]

_SPEC = importlib.util.find_spec("laion_clap")
if _SPEC is None or not _SPEC.submodule_search_locations:
    pytest.skip("needs laion_clap: bash scripts/setup_eval_oracles.sh (.venv-audiocraft)", allow_module_level=True)
LAION_DIR = Path(next(iter(_SPEC.submodule_search_locations)))
if importlib.util.find_spec("torchlibrosa") is None:
    pytest.skip("needs torchlibrosa (requirements/eval-oracles-deps.txt)", allow_module_level=True)

# model_configs/HTSAT-tiny.json
AUDIO_CFG = dict(
    audio_length=1024,
    clip_samples=480000,
    mel_bins=64,
    sample_rate=48000,
    window_size=1024,
    hop_size=480,
    fmin=50,
    fmax=14000,
    class_num=527,
    model_type="HTSAT",
    model_name="tiny",
)
ROBERTA = dict(
    vocab_size=100,
    hidden_size=768,
    num_hidden_layers=2,
    num_attention_heads=12,
    intermediate_size=128,
    max_position_embeddings=80,
    type_vocab_size=1,
    pad_token_id=1,
    layer_norm_eps=1e-5,
)


def _module(name: str, is_package: bool = False, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None, is_package=is_package)
    module.__dict__.update(attributes)
    return module


class _ResizeStub:
    """torchvision.transforms.Resize stand-in: zeros of the asked size (the thumbnail channel is not compared)."""

    def __init__(self, size, *args, **kwargs):
        self.size = size

    def __call__(self, image):
        return torch.zeros(image.shape[0], *self.size)


def _stubs() -> dict[str, types.ModuleType]:
    stubs = {}
    for name in ("h5py", "wget", "braceexpand", "webdataset"):
        if importlib.util.find_spec(name) is None:
            stubs[name] = _module(name)
    stubs["torchvision.ops.misc"] = _module("torchvision.ops.misc", FrozenBatchNorm2d=None)
    stubs["torchvision.ops"] = _module("torchvision.ops", True, misc=stubs["torchvision.ops.misc"])
    stubs["torchvision.transforms"] = _module("torchvision.transforms", Resize=_ResizeStub)
    stubs["torchvision.datasets"] = _module("torchvision.datasets")
    stubs["torchvision"] = _module(
        "torchvision", True, ops=stubs["torchvision.ops"], transforms=stubs["torchvision.transforms"]
    )
    stubs["torchvision"].datasets = stubs["torchvision.datasets"]
    return stubs


@contextlib.contextmanager
def _reference_import():
    """``clap_module`` (an empty package over laion's folder: its ``__init__`` imports ftfy and the tokenizers) and
    ``laion_training`` in ``sys.modules`` with the stubs; restored on exit."""
    saved = dict(sys.modules)
    sys.modules.update(_stubs())
    sys.modules["clap_module"] = _module("clap_module", True, __path__=[str(LAION_DIR / "clap_module")], tokenize=None)
    sys.modules["laion_training"] = _module("laion_training", True, __path__=[str(LAION_DIR / "training")])
    try:
        yield importlib.import_module("clap_module.model"), importlib.import_module("laion_training.data")
    finally:
        restore_modules(saved)


@pytest.fixture(scope="module")
def laion():
    with _reference_import() as modules:
        yield modules


def _laion_clap(model_module, fusion: bool, seed: int):
    from transformers import RobertaConfig, RobertaModel

    torch.manual_seed(seed)
    roberta = RobertaModel(RobertaConfig(**ROBERTA))
    with mock.patch.object(model_module.RobertaModel, "from_pretrained", lambda *args, **kwargs: roberta):
        clap = model_module.CLAP(
            embed_dim=768,
            audio_cfg=AUDIO_CFG,
            text_cfg=dict(context_length=77, vocab_size=49408, width=512, heads=8, layers=12, model_type="roberta"),
            enable_fusion=fusion,
            fusion_type="aff_2d" if fusion else "None",
        )
    with torch.no_grad():
        for name, tensor in clap.state_dict().items():  # non-trivial norms, batch-norm statistics and scales
            if name.endswith("running_var"):
                tensor.copy_(torch.rand_like(tensor) + 0.5)
            elif name.endswith("running_mean") or (name.endswith(".bias") and tensor.is_floating_point()):
                tensor.copy_(torch.randn_like(tensor) * 0.1)
    return clap.eval()


def _save(clap, path: Path) -> Path:
    state = {"module." + key: value for key, value in clap.state_dict().items()}
    torch.save({"epoch": 1, "state_dict": state}, path)
    return path


def _errors(name: str, ours: torch.Tensor, theirs: torch.Tensor) -> float:
    abs_err = (ours - theirs).abs().max().item()
    rel_err = abs_err / theirs.abs().max().item()
    print(f"{name}: max abs {abs_err:.3e}, max rel {rel_err:.3e}")
    return abs_err


def _noise(seconds: float, seed: int) -> np.ndarray:
    audio = np.random.default_rng(seed).standard_normal(int(seconds * 48000)).astype(np.float32) * 0.2
    return (np.clip(audio, -1, 1) * 32767).astype(np.int16) / np.float32(32767)  # laion's int16 round trip


@pytest.fixture()
def tokenizer_dir(tmp_path):
    tiny_text_tokenizer().save_pretrained(tmp_path / "tok")
    return tmp_path / "tok"


@torch.no_grad()
def test_non_fusion_audio_and_text_match(laion, tmp_path, tokenizer_dir):
    model_module, data = laion
    reference = _laion_clap(model_module, fusion=False, seed=0)
    ours = ClapExtractor.from_pretrained(_save(reference, tmp_path / "630k-audioset-best.pt"), tokenizer=tokenizer_dir)
    assert not ours.model.config.audio_config.enable_fusion
    for seconds, seed in ((7.0, 1), (13.0, 2)):
        audio = _noise(seconds, seed)
        np.random.seed(seed)
        sample = data.get_audio_features(
            {}, torch.from_numpy(audio), 480000, "rand_trunc", "repeatpad", AUDIO_CFG, require_grad=False
        )
        theirs = reference.get_audio_embedding([sample])
        ours.seed = seed
        got = ours.embed(torch.from_numpy(audio)).embeddings
        assert _errors(f"audio, no fusion, {seconds:g} s", got, theirs) < 2e-4
    _check_text(reference, ours)


@torch.no_grad()
def test_fusion_audio_and_text_match(laion, tmp_path, tokenizer_dir):
    model_module, data = laion
    reference = _laion_clap(model_module, fusion=True, seed=1)
    ours = ClapExtractor.from_pretrained(
        _save(reference, tmp_path / "630k-audioset-fusion-best.pt"), tokenizer=tokenizer_dir
    )
    assert ours.model.config.audio_config.enable_fusion
    feature_extractor = ours.processor.feature_extractor
    # 7 s: repeat-padded, 4 copies of one mel, not "longer": laion's whole front-end
    audio = _noise(7.0, 3)
    sample = data.get_audio_features({}, torch.from_numpy(audio), 480000, "fusion", "repeatpad", AUDIO_CFG)
    assert not sample["longer"].item()
    mel = feature_extractor([audio], sampling_rate=48000, return_tensors="pt").input_features[0]
    _errors("fusion front-end (torchaudio shim vs numpy mel), 7 s", mel, sample["mel_fusion"])
    theirs = reference.get_audio_embedding([sample])
    got = ours.embed(torch.from_numpy(audio)).embeddings
    assert _errors("audio, fusion, 7 s (laion front-end)", got, theirs) < 2e-4
    # 13 s: the three random chunks laion picks with a seeded numpy generator are ours (channel 0: Resize stub)
    audio = _noise(13.0, 4)
    np.random.seed(5)
    sample = data.get_audio_features({}, torch.from_numpy(audio), 480000, "fusion", "repeatpad", AUDIO_CFG)
    assert sample["longer"].item()
    np.random.seed(5)
    mel = torch.from_numpy(feature_extractor._get_input_mel(audio, 480000, "fusion", "repeatpad")[0]).float()
    assert mel.shape == sample["mel_fusion"].shape
    _errors("fusion chunks 1-3, 13 s", mel[1:], sample["mel_fusion"][1:])
    torch.testing.assert_close(mel[1:], sample["mel_fusion"][1:].float(), atol=1e-2, rtol=1e-3)
    # the models on one 4-channel input, not longer and longer
    for longer in (False, True):
        theirs = reference.get_audio_embedding([{"mel_fusion": mel, "longer": torch.tensor([longer])}])
        got = ours.model.get_audio_features(input_features=mel[None], is_longer=torch.tensor([[longer]])).pooler_output
        assert _errors(f"audio, fusion model, longer={longer}", got, theirs) < 2e-4
    _check_text(reference, ours)


def _check_text(reference, ours):
    tokenizer = ours.processor.tokenizer
    texts = ["a dog barks", "rain falls on a metal roof while a car passes by"]
    batch = tokenizer(texts, padding="max_length", truncation=True, max_length=77, return_tensors="pt")
    theirs = reference.get_text_embedding({"input_ids": batch.input_ids, "attention_mask": batch.attention_mask})
    assert (
        _errors("text (ids, padded to 77)", ours.embed_text_ids(batch.input_ids, batch.attention_mask), theirs) < 1e-5
    )
    assert _errors("text (embed_text)", ours.embed_text(texts), theirs) < 1e-5
