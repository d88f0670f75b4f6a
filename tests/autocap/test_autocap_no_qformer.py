"""AutoCap without its Q-Former (``AutoCapConfig(use_qformer=False)``, the reference's ``use_audio_qformer: false``
ablation): every projected HTSAT frame is an audio token of BART."""

import numpy as np
import pytest
import torch

from hf_audiogen.autocap import AutoCapConfig, AutoCapForConditionalGeneration, AutoCapPipeline
from hf_audiogen.autocap.configuration_autocap import BART_BASE_KWARGS

from factories import register_autocap_auto_classes, tiny_autocap_config, tiny_autocap_model, tiny_autocap_processor

FRAMES, MELS = 101, 16  # what tiny_autocap_feature_extractor gives for a 1 s clip
QFORMER_PARTS = ("qformer", "query_tokens", "qformer_projection", "audio_position_embedding", "audio_layernorm")


def features(batch=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 1, FRAMES, MELS, generator=generator) * 10 - 40


# <TITLE>=304 word word </TITLE>=305 </s>, right-padded with 1
META_IDS = torch.tensor([[304, 40, 41, 305, 2], [304, 50, 305, 2, 1]])
META_MASK = (META_IDS != 1).long()


# ---------------------------------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------------------------------
def test_audio_token_count_is_every_repeated_htsat_frame():
    assert AutoCapConfig().use_qformer is True and AutoCapConfig().num_audio_tokens == 256
    # reference HTSAT: 32 time steps x 32 = the 1024 "fine-grained" frames, 4x the Q-Former's 256 queries
    wide = AutoCapConfig(use_qformer=False, text_config={**BART_BASE_KWARGS, "max_position_embeddings": 1171})
    assert wide.num_audio_tokens == 1024
    assert AutoCapConfig(use_qformer=False, audio_frame_repeat=1).num_audio_tokens == 32
    tiny = tiny_autocap_config(use_qformer=False, audio_frame_repeat=2, text_config={"max_position_embeddings": 96})
    assert tiny.num_audio_tokens == 64  # tiny HTSAT: 32 time steps


@pytest.mark.parametrize(
    "make,message",
    [
        (
            lambda: AutoCapConfig(use_qformer=False),
            r"use_qformer=False feeds BART all 1024 audio frames .*max_position_embeddings=1024: raise",
        ),
        (
            lambda: tiny_autocap_config(use_qformer=False, audio_frame_repeat=2),
            r"all 64 audio frames .*audio_frame_repeat=2.*max_position_embeddings=64",
        ),
        (lambda: tiny_autocap_config(use_qformer="false"), r"use_qformer must be True or False, got 'false'"),
    ],
)
def test_config_rejects_bad_values(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_config_round_trip(tmp_path):
    register_autocap_auto_classes()
    from transformers import AutoConfig

    config = tiny_autocap_config(use_qformer=False, audio_frame_repeat=2, text_config={"max_position_embeddings": 96})
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, AutoCapConfig) and loaded.use_qformer is False
    assert loaded.num_audio_tokens == 64 and loaded.text_config.max_position_embeddings == 96


# ---------------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------------
def test_no_qformer_modules_or_weights():
    model = tiny_autocap_model(use_qformer=False)
    with_qformer = tiny_autocap_model()
    for name in QFORMER_PARTS:
        assert not hasattr(model, name) and hasattr(with_qformer, name)
    assert not any(key.startswith(QFORMER_PARTS) for key in model.state_dict())
    model.init_new_embeddings_from_language_model()  # tag tables only: there are no audio positions to fill
    assert torch.equal(model.tag_embeddings.weight[0], model.language_model.get_input_embeddings().weight[0])


def test_every_projected_frame_reaches_the_bart_encoder():
    model = tiny_autocap_model(use_qformer=False, audio_frame_repeat=2, text_config={"max_position_embeddings": 96})
    x = features()
    with torch.no_grad():
        out = model.encode(x, x, META_IDS, META_MASK)
        maps = model.audio_encoder(input_features=x).last_hidden_state
        steps = model.audio_projection(maps.mean(dim=2).transpose(1, 2))  # (batch, 32 time steps, d_model)
    assert out.audio_tokens.shape == (2, 64, 16)
    # no positions or LayerNorm before BART: the two copies of each HTSAT step are identical tokens
    torch.testing.assert_close(out.audio_tokens[:, 0::2], steps)
    torch.testing.assert_close(out.audio_tokens[:, 1::2], steps)
    # [CLAP] <s> 64 frames metadata
    assert out.last_hidden_state.shape == (2, 1 + 1 + 64 + META_IDS.shape[1], 16)
    assert out.attention_mask[:, :66].all() and torch.equal(out.attention_mask[:, 66:], META_MASK)


def test_generate_and_a_training_step():
    model = tiny_autocap_model(use_qformer=False)
    x = features()
    ids = model.generate(
        input_features=x,
        clap_input_features=x,
        metadata_ids=META_IDS,
        metadata_attention_mask=META_MASK,
        max_new_tokens=6,
        min_new_tokens=6,
    )
    assert ids.shape == (2, 7) and (ids[:, 0] == model.config.text_config.decoder_start_token_id).all()
    one = model.generate(
        input_features=x[1:],
        clap_input_features=x[1:],
        metadata_ids=META_IDS[1:, :4],
        metadata_attention_mask=META_MASK[1:, :4],
        max_new_tokens=6,
        min_new_tokens=6,
    )
    assert torch.equal(one[0], ids[1])  # batching (with metadata padding) does not change a caption

    model.set_training_stage(1)
    model.train()
    labels = torch.tensor([[0, 40, 41, 2], [0, 50, 2, -100]])
    loss = model(
        input_features=x, clap_input_features=x, metadata_ids=META_IDS, metadata_attention_mask=META_MASK, labels=labels
    ).loss
    loss.backward()
    assert model.audio_projection.weight.grad.abs().sum() > 0  # stage 1 trains the frame projection
    assert all(p.grad is None for p in model.language_model.parameters())


def test_save_and_load_round_trip(tmp_path):
    register_autocap_auto_classes()
    from transformers import AutoModel

    model = tiny_autocap_model(use_qformer=False, seed=3)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, AutoCapForConditionalGeneration) and loaded.config.use_qformer is False
    assert not hasattr(loaded, "qformer")
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[key], restored[key]) for key in original)
    x = features(seed=1)
    options = dict(input_features=x, clap_input_features=x, max_new_tokens=5)
    assert torch.equal(model.generate(**options), loaded.generate(**options))


def test_pipeline_captions_with_the_no_qformer_model(tmp_path):
    pipe = AutoCapPipeline(model=tiny_autocap_model(use_qformer=False), processor=tiny_autocap_processor())
    pipe.save_pretrained(tmp_path)
    loaded = AutoCapPipeline.from_pretrained(tmp_path, device="cpu")
    clips = [np.random.default_rng(seed).standard_normal(16000).astype(np.float32) * 0.1 for seed in (0, 1)]
    captions = loaded(clips, sampling_rate=16000, max_new_tokens=4, batch_size=2)
    assert captions == pipe(clips, sampling_rate=16000, max_new_tokens=4)
    assert len(captions) == 2 and all(isinstance(caption, str) for caption in captions)
