"""ClapExtractor ("clap"): transformers folders and laion ``.pt`` checkpoints load into the same embeddings, bad or
partial weights fail with one clear error, and nothing touches the network.

The laion-layout state dicts are made without laion_clap: a tiny ``ClapModel``'s state dict renamed back to laion's
names by ``_to_laion`` below (the inverse of the converter's table, written independently here: q/k/v concatenated
into ``qkv``, ``linear{1,2}`` -> ``{0,2}``, transformers' Swin names -> timm's), plus the laion-only entries the
converter must drop (torchlibrosa front-end, tagging head, shifted-window masks, training MLPs, position ids).
"""

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import ClapConfig, ClapModel

from hf_audiogen.evaluation.clap import clap_audio_embeddings, clap_similarity, clap_text_embeddings
from hf_audiogen.evaluation.extractors import ExtractorWeightsError, extractor_class
from hf_audiogen.evaluation.extractors.clap import ClapExtractor
from hf_audiogen.validation import InvalidInputError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from factories import tiny_clap_scorer, tiny_text_tokenizer  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _noise(seconds: float, rate: int = 48000, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * rate)) * 0.1).astype(np.float32)


@pytest.fixture()
def tiny_folder(tmp_path):
    model, processor = tiny_clap_scorer(seed=3)
    model.save_pretrained(tmp_path / "clap")
    processor.save_pretrained(tmp_path / "clap")
    return tmp_path / "clap", model, processor


def test_registered_under_clap():
    assert extractor_class("clap") is ClapExtractor


def test_folder_loads_and_embeds_like_the_model(tiny_folder):
    folder, model, processor = tiny_folder
    clap = ClapExtractor.from_pretrained(folder)
    assert clap.weights_source == str(folder) and clap.embedding_dim == 8
    clip = clap.prepare(_noise(0.7, 16000), 16000)
    assert clip.shape == (int(0.7 * 48000),) and clip.dtype == torch.float32
    out = clap.embed(clip)
    assert out.embeddings.shape == (1, 8) and out.logits is None
    torch.testing.assert_close(out.embeddings.norm(dim=-1), torch.ones(1))
    expected = clap_audio_embeddings(model, processor, [clip.numpy()], 48000, long_clips="random")
    torch.testing.assert_close(out.embeddings, expected)
    texts = ["a dog barks", "rain falls on a roof", "a dog barks"]
    text = clap.embed_text(texts)
    assert text.shape == (3, 8)
    torch.testing.assert_close(text, clap_text_embeddings(model, processor, texts))
    torch.testing.assert_close(text[0], text[2])
    assert not torch.allclose(text[0], text[1])
    assert clap.describe()["name"] == "clap" and clap.describe()["embedding_dim"] == 8


def test_different_clips_differ_and_long_clips_are_seeded(tiny_folder):
    clap = ClapExtractor.from_pretrained(tiny_folder[0])
    a = clap.embed(clap.prepare(_noise(0.5, seed=1), 48000)).embeddings
    b = clap.embed(clap.prepare(np.sin(np.linspace(0, 900, 24000)).astype(np.float32), 48000)).embeddings
    assert not torch.allclose(a, b, atol=1e-4)
    long = clap.prepare(_noise(3.0, seed=2), 48000)  # 3 s > the tiny model's 1 s window
    state = np.random.get_state()
    first, second = clap.embed(long).embeddings, clap.embed(long).embeddings
    assert np.array_equal(np.random.get_state()[1], state[1])  # numpy's global generator is left alone
    torch.testing.assert_close(first, second)
    clap.seed = 1  # another crop position gives another embedding
    assert not torch.allclose(first, clap.embed(long).embeddings, atol=1e-5)


def test_prepare_peak_normalises_and_rounds_through_int16(tiny_folder):
    clap = ClapExtractor.from_pretrained(tiny_folder[0])
    audio = clap.prepare(np.stack([_noise(0.2, 48000), _noise(0.2, 48000, seed=5)]), 48000).numpy()
    assert audio.ndim == 1
    assert abs(np.abs(audio).max() - 10 ** (-1 / 20)) < 1 / 32767
    np.testing.assert_allclose(audio * 32767, np.round(audio * 32767), atol=1e-3)
    silent = clap.prepare(np.zeros(4800, np.float32), 48000)
    assert torch.count_nonzero(silent) == 0
    clap.peak_normalize_db, clap.quantize_int16 = None, False
    raw = _noise(0.2, 48000)
    np.testing.assert_allclose(clap.prepare(raw, 48000).numpy(), raw, atol=1e-6)


def test_clap_similarity_is_the_cosine_of_the_embeddings(tiny_folder):
    _, model, processor = tiny_folder
    audios = [_noise(0.5, 16000, seed=1), _noise(2.5, 16000, seed=2)]
    texts = ["a dog barks", "a car passes by"]
    scores = clap_similarity(model, processor, audios, 16000, texts)
    audio = clap_audio_embeddings(model, processor, audios, 16000)
    text = clap_text_embeddings(model, processor, texts)
    torch.testing.assert_close(scores, (audio * text).sum(-1))


def test_fusion_embeds_a_short_clip_alone_or_batched_alike():
    # ClapFeatureExtractor flags a random clip of an all-short batch as "longer"; the true flags must be used.
    model, processor = _tiny_laion_like(enable_fusion=True)
    processor.feature_extractor.truncation = "fusion"
    clips = [_noise(3.0, seed=1), _noise(4.0, seed=2)]
    alone = torch.cat([clap_audio_embeddings(model, processor, [clip], 48000, seed=s) for s, clip in enumerate(clips)])
    batched = clap_audio_embeddings(model, processor, clips, 48000, seed=7)
    torch.testing.assert_close(alone, batched, atol=1e-5, rtol=1e-4)


# --- laion .pt checkpoints -----------------------------------------------------------------------------------------
def _tiny_laion_like(enable_fusion: bool, seed: int = 0):
    """A ClapModel with laion's geometry (spec 256, patch 4 = stride, 64 mel bins) at tiny widths, and laion's
    front-end."""
    from hf_audiogen.evaluation.extractors.clap import laion_feature_extractor

    config = ClapConfig(
        text_config=dict(
            vocab_size=64,
            hidden_size=64,
            num_hidden_layers=1,
            num_attention_heads=1,
            intermediate_size=32,
            max_position_embeddings=40,
            pad_token_id=1,
            layer_norm_eps=1e-5,
            projection_dim=8,
        ),
        audio_config=dict(
            spec_size=256,
            window_size=4,
            num_mel_bins=64,  # transformers' fusion thumbnail is 64 mel bins wide, as every laion config
            depths=[2, 2],
            num_attention_heads=[1, 2],
            hidden_size=16,
            patch_embeds_hidden_size=8,
            patch_size=4,
            patch_stride=[4, 4],
            enable_fusion=enable_fusion,
            projection_dim=8,
        ),
        projection_dim=8,
    )
    torch.manual_seed(seed)
    model = ClapModel(config).eval()
    for name, buffer in model.named_buffers():  # non-trivial batch-norm statistics
        if name.endswith(("running_mean", "running_var")):
            buffer.copy_(torch.rand_like(buffer) + (0.5 if name.endswith("var") else -0.5))
    from transformers import ClapProcessor

    return model, ClapProcessor(feature_extractor=laion_feature_extractor(config), tokenizer=tiny_text_tokenizer())


_SWIN_NAMES = {
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "attention.output.dense": "attn.proj",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
    "attention.self.relative_position_bias_table": "attn.relative_position_bias_table",
    "attention.self.relative_position_index": "attn.relative_position_index",
}


def _to_laion(model: ClapModel) -> dict:
    out = {}
    qkv = {}
    for key, value in model.state_dict().items():
        if key in ("text_model.embeddings.token_type_ids",):
            continue
        if match := re.fullmatch(r"(audio|text)_projection\.linear([12])\.(weight|bias)", key):
            out[f"{match[1]}_projection.{0 if match[2] == '1' else 2}.{match[3]}"] = value
        elif key.startswith("text_model."):
            out["text_branch." + key.removeprefix("text_model.")] = value
        elif key.startswith("audio_model.audio_encoder."):
            rest = key.removeprefix("audio_model.audio_encoder.").replace("batch_norm.", "bn0.")
            if match := re.fullmatch(r"(layers\.\d+\.blocks\.\d+\.)attention\.self\.(query|key|value)\.(\w+)", rest):
                qkv.setdefault(f"audio_branch.{match[1]}attn.qkv.{match[3]}", {})[match[2]] = value
                continue
            for ours, theirs in _SWIN_NAMES.items():
                rest = re.sub(rf"(blocks\.\d+\.){re.escape(ours)}(?=\.|$)", rf"\g<1>{theirs}", rest)
            out["audio_branch." + rest] = value
        else:
            out[key] = value
    for key, parts in qkv.items():
        out[key] = torch.cat([parts["query"], parts["key"], parts["value"]])
    # laion-only entries the converter drops
    out["audio_branch.spectrogram_extractor.stft.conv_real.weight"] = torch.zeros(513, 1, 1024)
    out["audio_branch.logmel_extractor.melW"] = torch.zeros(513, 64)
    out["audio_branch.head.weight"] = torch.zeros(527, 16)
    out["audio_branch.tscam_conv.weight"] = torch.zeros(527, 16, 2, 3)
    out["audio_branch.layers.0.blocks.1.attn_mask"] = torch.zeros(256, 16, 16)  # (256 / 4 / 4) ** 2 windows
    out["audio_transform.sequential.0.weight"] = torch.zeros(8, 8)
    out["text_transform.sequential.0.weight"] = torch.zeros(8, 8)
    return {"module." + key: value for key, value in out.items()}


@pytest.fixture()
def tokenizer_dir(tmp_path):
    tiny_text_tokenizer().save_pretrained(tmp_path / "tok")
    return tmp_path / "tok"


@pytest.mark.parametrize("fusion", [False, True])
def test_laion_checkpoint_converts_to_the_same_embeddings(tmp_path, tokenizer_dir, fusion):
    model, processor = _tiny_laion_like(enable_fusion=fusion, seed=int(fusion))
    torch.save({"epoch": 45, "state_dict": _to_laion(model)}, tmp_path / "clap.pt")
    clap = ClapExtractor.from_pretrained(tmp_path / "clap.pt", tokenizer=tokenizer_dir)
    config = clap.model.config
    assert config.audio_config.enable_fusion is fusion and config.audio_config.spec_size == 256
    assert config.audio_config.depths == [2, 2] and config.audio_config.num_attention_heads == [1, 2]
    assert clap.processor.feature_extractor.truncation == ("fusion" if fusion else "rand_trunc")
    clips = [_noise(2.0, seed=4), _noise(12.5, seed=5)]  # short and longer than the 10 s window
    for clip in clips:
        got = clap.embed(torch.from_numpy(clip)).embeddings
        want = clap_audio_embeddings(model, processor, [clip], 48000, long_clips="random")
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    ids = torch.tensor([[0, 5, 9, 11, 2, 1, 1], [0, 7, 3, 2, 1, 1, 1]])
    mask = (ids != 1).long()
    want = model.get_text_features(input_ids=ids, attention_mask=mask).pooler_output
    torch.testing.assert_close(clap.embed_text_ids(ids, mask), want)


def test_partial_or_foreign_laion_checkpoints_fail_with_one_error(tmp_path, tokenizer_dir):
    model, _ = _tiny_laion_like(enable_fusion=False)
    state = _to_laion(model)
    partial = dict(state)
    del partial["module.audio_branch.layers.1.blocks.0.norm1.bias"]
    torch.save({"state_dict": partial}, tmp_path / "partial.pt")
    with pytest.raises(InvalidInputError, match="missing"):
        ClapExtractor.from_pretrained(tmp_path / "partial.pt", tokenizer=tokenizer_dir)
    torch.save({"state_dict": {**state, "module.extra_head.weight": torch.zeros(2)}}, tmp_path / "extra.pt")
    with pytest.raises(InvalidInputError, match="extra_head"):
        ClapExtractor.from_pretrained(tmp_path / "extra.pt", tokenizer=tokenizer_dir)
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(InvalidInputError):
        ClapExtractor.from_pretrained(tmp_path / "text.pt", tokenizer=tokenizer_dir)
    with pytest.raises(ExtractorWeightsError, match="630k-audioset-fusion-best.pt"):
        ClapExtractor.from_pretrained(tmp_path / "absent.pt")


def test_partial_folder_fails_with_one_error(tiny_folder):
    from safetensors.torch import load_file, save_file

    folder = tiny_folder[0]
    weights = load_file(folder / "model.safetensors")
    weights.pop(next(key for key in weights if key.startswith("audio_projection.")))
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(InvalidInputError, match="audio_projection"):
        ClapExtractor.from_pretrained(folder)


def test_offline_hub_id_names_what_to_fetch(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ExtractorWeightsError, match="laion/clap-htsat-fused"):
        ClapExtractor.from_pretrained("laion/clap-htsat-fused", cache_dir=tmp_path, local_files_only=True)
    with pytest.raises(ExtractorWeightsError, match="not found"):
        ClapExtractor.from_pretrained(tmp_path / "no-such-folder")


def test_bad_inputs_are_one_line_errors(tiny_folder):
    clap = ClapExtractor.from_pretrained(tiny_folder[0])
    with pytest.raises(InvalidInputError):
        clap.embed(torch.zeros(2, 100))
    with pytest.raises(InvalidInputError):
        clap.embed_text("a dog")
    with pytest.raises(InvalidInputError):
        clap.prepare(np.full(100, np.nan, np.float32), 48000)


def test_from_random_runs_the_code_path_offline():
    """The random-weight CLAP (for `evaluate --allow-random-weights`) builds its own byte-level tokenizer offline."""
    extractor = extractor_class("clap").from_random(seed=0)
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    embedding = extractor.embed(extractor.prepare(audio, 16000)).embeddings
    texts = extractor.embed_text(["a dog barks", "rain on a roof"])
    assert embedding.shape == (1, extractor.embedding_dim) and texts.shape == (2, extractor.embedding_dim)
    assert torch.isfinite(embedding).all() and not torch.allclose(texts[0], texts[1])
    assert extractor.describe()["weights"].startswith("random")
