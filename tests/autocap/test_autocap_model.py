"""AutoCapConfig / AutoCapForConditionalGeneration with tiny random towers and BART (tests/factories.py)."""

import pytest
import torch

from hf_audiogen.autocap import AutoCapConfig, AutoCapForConditionalGeneration

from factories import register_autocap_auto_classes, tiny_autocap_config, tiny_autocap_model

FRAMES, MELS = 101, 16  # what tiny_autocap_feature_extractor gives for a 1 s clip


def features(batch=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 1, FRAMES, MELS, generator=generator) * 10 - 40


def metadata(rows):
    """Right-padded metadata ids (pad = 1) and their mask."""
    length = max(len(row) for row in rows)
    ids = torch.tensor([row + [1] * (length - len(row)) for row in rows])
    mask = torch.tensor([[1] * len(row) + [0] * (length - len(row)) for row in rows])
    return ids, mask


# tag ids start at 300 (= tiny BART vocabulary): <HQVC>=300 </HQVC>=301 <AVC> </AVC> <TITLE>=304 </TITLE>=305 ...
META = [[304, 40, 41, 42, 305, 2], [300, 50, 301, 304, 305, 2], [304, 60, 305, 2]]


# ---------------------------------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------------------------------
def test_default_config_is_the_reference_architecture():
    config = AutoCapConfig()
    assert config.audio_config.hidden_size == 768 and config.audio_config.depths == [2, 2, 6, 2]
    assert config.clap_config.hidden_size == 1024 and config.clap_config.projection_dim == 512
    assert (config.qformer_config.hidden_size, config.qformer_config.num_hidden_layers) == (256, 2)
    assert config.qformer_config.cross_attention_frequency == 1
    assert config.qformer_config.encoder_hidden_size == config.text_config.d_model == 768
    assert config.text_config.vocab_size == config.tag_token_offset == 50265 and config.num_tag_tokens == 12
    assert (config.num_query_tokens, config.audio_frame_repeat, config.max_audio_positions) == (256, 32, 1026)
    assert config.clap_token_position == "encoder_input" and config.train_word_embeddings is False


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"clap_token_position": "middle"}, "clap_token_position must be one of"),
        ({"num_query_tokens": 0}, "num_query_tokens must be a positive integer"),
        ({"num_query_tokens": 100}, "leaves no room for metadata"),
        ({"audio_dropout": 1.5}, r"audio_dropout must be in \[0, 1\)"),
        ({"audio_config": {"hidden_size": 32}}, r"audio_config.hidden_size \(32\) must equal"),
        ({"text_config": {"model_type": "t5"}}, "must be a BART config"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        if "text_config" in kwargs:
            AutoCapConfig(**kwargs)
        else:
            tiny_autocap_config(**kwargs)


def test_config_round_trip(tmp_path):
    register_autocap_auto_classes()
    from transformers import AutoConfig

    config = tiny_autocap_config(clap_token_position="encoder_output", use_clap=True, num_query_tokens=4)
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, AutoCapConfig)
    assert loaded.to_diff_dict() | {"_name_or_path": ""} == config.to_diff_dict() | {"_name_or_path": ""}
    assert loaded.text_config.model_type == "bart" and loaded.qformer_config.encoder_hidden_size == 16


# ---------------------------------------------------------------------------------------------------------------------
# Encoder sequence
# ---------------------------------------------------------------------------------------------------------------------
def test_encoder_sequence_layout_and_clap_token_positions():
    ids, mask = metadata(META[:2])
    x = features()
    inside = tiny_autocap_model(clap_token_position="encoder_input")
    outside = tiny_autocap_model(clap_token_position="encoder_output")
    outside.load_state_dict(inside.state_dict())
    no_clap = tiny_autocap_model(use_clap=False)
    queries = inside.config.num_query_tokens
    with torch.no_grad():
        a = inside.encode(x, x, ids, mask)
        b = outside.encode(x, x, ids, mask)
        c = no_clap.encode(x, None, ids, mask)
    # [CLAP] <s> queries metadata: same length both ways, CLAP read by BART's encoder or handed to the decoder as is.
    assert a.last_hidden_state.shape == b.last_hidden_state.shape == (2, 1 + 1 + queries + ids.shape[1], 16)
    assert torch.equal(b.last_hidden_state[:, :1], b.clap_token)
    assert not torch.allclose(a.last_hidden_state[:, :1], a.clap_token)
    assert torch.equal(a.attention_mask, b.attention_mask)
    assert a.attention_mask[:, : 2 + queries].all() and torch.equal(a.attention_mask[:, 2 + queries :], mask)
    assert c.last_hidden_state.shape == (2, 1 + queries + ids.shape[1], 16) and c.clap_token is None
    assert not hasattr(no_clap, "clap_model")
    assert a.audio_tokens.shape == (2, queries, 16)


def test_all_inputs_reach_the_encoder_states():
    model = tiny_autocap_model()
    ids, mask = metadata(META[:2])
    x, other = features(seed=0), features(seed=1)
    with torch.no_grad():
        base = model.encode(x, x, ids, mask).last_hidden_state
        changed_audio = model.encode(other, x, ids, mask).last_hidden_state
        changed_clap = model.encode(x, other, ids, mask).last_hidden_state
        changed_meta = model.encode(x, x, ids.roll(1, dims=0), mask.roll(1, dims=0)).last_hidden_state
    for changed in (changed_audio, changed_clap, changed_meta):
        assert (changed - base).abs().max() > 1e-3


def test_metadata_embedding_uses_the_word_table_and_the_tag_table():
    model = tiny_autocap_model()
    words = model.language_model.get_input_embeddings().weight
    ids = torch.tensor([[304, 40, 305, 2]])
    with torch.no_grad():
        embedded = model.embed_metadata(ids)[0]
    assert torch.equal(embedded[1], words[40]) and torch.equal(embedded[3], words[2])
    tags = model.tag_embeddings.weight
    assert torch.equal(embedded[0], tags[4]) and torch.equal(embedded[2], tags[5])
    with pytest.raises(ValueError, match=r"metadata_ids must be in \[0, 312\).*AutoCapProcessor"):
        model.embed_metadata(torch.tensor([[312]]))


def test_new_embeddings_can_start_from_bart():
    model = tiny_autocap_model()
    model.init_new_embeddings_from_language_model()
    words = model.language_model.get_input_embeddings().weight
    assert torch.equal(model.tag_embeddings.weight[0::2], words[0].expand(6, -1))  # opening tags = <s>
    assert torch.equal(model.tag_embeddings.weight[1::2], words[2].expand(6, -1))  # closing tags = </s>
    positions = model.language_model.get_encoder().embed_positions.weight
    assert torch.equal(model.audio_position_embedding.weight, positions[:64])


def test_no_metadata_ends_the_sequence_with_eos():
    model = tiny_autocap_model()
    x = features()
    with torch.no_grad():
        implicit = model.encode(x, x).last_hidden_state
        explicit = model.encode(x, x, torch.full((2, 1), 2), torch.ones(2, 1, dtype=torch.long)).last_hidden_state
    assert torch.equal(implicit, explicit)


def test_bad_inputs_raise_clear_errors():
    model = tiny_autocap_model()
    x = features()
    with pytest.raises(ValueError, match=r"input_features must have shape \(batch, 1, frames, mel_bins\)"):
        model.encode(x[:, 0], x)
    with pytest.raises(ValueError, match="pass clap_input_features"):
        model.encode(x, None)
    with pytest.raises(ValueError, match=r"metadata_ids must have shape \(batch=2"):
        model.encode(x, x, torch.ones(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="pass input_features"):
        model.generate()
    long_meta = torch.full((2, 60), 40)
    with pytest.raises(ValueError, match="more than BART's max_position_embeddings=64"):
        model.encode(x, x, long_meta)


# ---------------------------------------------------------------------------------------------------------------------
# Loss, freezing, stages
# ---------------------------------------------------------------------------------------------------------------------
def test_loss_is_label_smoothed_cross_entropy_over_labelled_tokens():
    model = tiny_autocap_model()
    ids, mask = metadata(META[:2])
    x = features()
    labels = torch.tensor([[0, 10, 11, 12, 2], [0, 13, 2, -100, -100]])
    with torch.no_grad():
        out = model(
            input_features=x, clap_input_features=x, metadata_ids=ids, metadata_attention_mask=mask, labels=labels
        )
    expected = torch.nn.functional.cross_entropy(out.logits.reshape(-1, 300), labels.reshape(-1), label_smoothing=0.1)
    assert out.loss == pytest.approx(expected.item(), rel=1e-6)
    # decoder input = labels shifted right behind the decoder start token </s> (= 2); -100 -> pad
    assert out.logits.shape == (2, 5, 300)


def test_pretrained_encoders_are_frozen_and_stay_in_eval_mode():
    model = tiny_autocap_model()
    assert not any(p.requires_grad for p in model.audio_encoder.parameters())
    assert not any(p.requires_grad for p in model.clap_model.parameters())
    model.train()
    assert not model.audio_encoder.training and not model.clap_model.training  # BatchNorm statistics stay fixed
    assert model.qformer.training and model.language_model.training
    unfrozen = tiny_autocap_model(freeze_audio_encoder=False)
    assert all(p.requires_grad for p in unfrozen.audio_encoder.parameters())


def trainable(module):
    return {name for name, p in module.named_parameters() if p.requires_grad}


def test_training_stages_select_the_trained_parameters():
    model = tiny_autocap_model()
    model.set_training_stage(1)
    assert not trainable(model.language_model)
    assert trainable(model) == {
        name
        for name, _ in model.named_parameters()
        if not name.startswith(("language_model.", "audio_encoder.", "clap_model."))
    }
    assert {"query_tokens", "tag_embeddings.weight", "audio_position_embedding.weight"} <= trainable(model)

    model.set_training_stage(2)
    bart = trainable(model.language_model)
    assert "model.encoder.layers.0.fc1.weight" in bart and "model.decoder.layers.0.self_attn.q_proj.weight" in bart
    assert "model.shared.weight" not in bart  # the paper: word embeddings stay frozen (tied output layer too)
    assert not model.language_model.get_output_embeddings().weight.requires_grad
    assert not trainable(model.audio_encoder) and not trainable(model.clap_model)

    ids, mask = metadata(META[:2])
    x = features()
    loss = model(
        input_features=x,
        clap_input_features=x,
        metadata_ids=ids,
        metadata_attention_mask=mask,
        labels=torch.tensor([[0, 10, 2], [0, 11, 2]]),
    ).loss
    loss.backward()
    assert model.language_model.model.shared.weight.grad is None
    assert model.language_model.model.decoder.layers[0].fc1.weight.grad.abs().sum() > 0
    assert model.qformer_projection.weight.grad.abs().sum() > 0

    unfrozen_words = tiny_autocap_model(train_word_embeddings=True)
    unfrozen_words.set_training_stage(2)
    assert unfrozen_words.language_model.get_input_embeddings().weight.requires_grad
    with pytest.raises(ValueError, match="stage must be 1 or 2"):
        model.set_training_stage(3)


# ---------------------------------------------------------------------------------------------------------------------
# Generation, batching, save/load
# ---------------------------------------------------------------------------------------------------------------------
PURE_GREEDY = dict(
    num_beams=1,
    no_repeat_ngram_size=0,
    forced_bos_token_id=None,
    forced_eos_token_id=None,
    min_new_tokens=0,
    max_new_tokens=6,
)


def test_greedy_generate_equals_argmax_decoding_with_forward():
    model = tiny_autocap_model()
    ids, mask = metadata(META[:2])
    x = features()
    generated = model.generate(
        input_features=x, clap_input_features=x, metadata_ids=ids, metadata_attention_mask=mask, **PURE_GREEDY
    )
    encoder_outputs = model.encode(x, x, ids, mask)
    tokens = torch.full((2, 1), 2)
    with torch.no_grad():
        for _ in range(6):
            logits = model(encoder_outputs=encoder_outputs, decoder_input_ids=tokens, use_cache=False).logits
            tokens = torch.cat([tokens, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    for row, manual in zip(generated, tokens):
        length = len(row)
        eos = (manual == 2).nonzero()[1:]  # the first 2 is the decoder start token
        stop = int(eos[0]) + 1 if len(eos) else length
        assert torch.equal(row[:stop], manual[:stop])


@pytest.mark.parametrize("num_beams", [1, 2])
def test_batched_generation_equals_one_by_one(num_beams):
    model = tiny_autocap_model()
    ids, mask = metadata(META)  # three different metadata lengths -> padding in the batch
    x = features(batch=3)
    kwargs = dict(num_beams=num_beams, max_new_tokens=8)
    batched = model.generate(
        input_features=x, clap_input_features=x, metadata_ids=ids, metadata_attention_mask=mask, **kwargs
    )
    for i in range(3):
        length = int(mask[i].sum())
        single = model.generate(
            input_features=x[i : i + 1],
            clap_input_features=x[i : i + 1],
            metadata_ids=ids[i : i + 1, :length],
            **kwargs,
        )
        assert torch.equal(batched[i, : single.shape[1]], single[0])
        assert (batched[i, single.shape[1] :] == 1).all()  # the rest is padding


def test_beam_search_returns_ranked_distinct_hypotheses_and_sampling_is_seeded():
    model = tiny_autocap_model()
    x = features(batch=1)
    out = model.generate(
        input_features=x,
        clap_input_features=x,
        num_beams=3,
        num_return_sequences=3,
        max_new_tokens=6,
        return_dict_in_generate=True,
        output_scores=True,
    )
    assert out.sequences.shape[0] == 3 and len({tuple(s.tolist()) for s in out.sequences}) == 3
    assert (out.sequences_scores[:-1] >= out.sequences_scores[1:]).all()
    torch.manual_seed(0)
    first = model.generate(input_features=x, clap_input_features=x, do_sample=True, num_beams=1, max_new_tokens=6)
    torch.manual_seed(0)
    again = model.generate(input_features=x, clap_input_features=x, do_sample=True, num_beams=1, max_new_tokens=6)
    assert torch.equal(first, again)


def test_default_generation_config_follows_the_reference_scripts():
    config = tiny_autocap_model().generation_config
    assert (config.num_beams, config.max_new_tokens, config.min_new_tokens) == (2, 29, 1)
    assert (config.no_repeat_ngram_size, config.forced_bos_token_id, config.forced_eos_token_id) == (3, 0, 2)
    x = features(batch=1)
    ids = tiny_autocap_model().generate(input_features=x, clap_input_features=x)
    assert ids.shape[1] <= 30 and int(ids[0, 1]) == 0  # forced <s> after the start token


def test_save_and_load_round_trip(tmp_path):
    register_autocap_auto_classes()
    from transformers import AutoModel

    model = tiny_autocap_model(clap_token_position="encoder_output")
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, AutoCapForConditionalGeneration)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    assert not any(p.requires_grad for p in loaded.audio_encoder.parameters())
    ids, mask = metadata(META[:2])
    x = features()
    kwargs = dict(input_features=x, clap_input_features=x, metadata_ids=ids, metadata_attention_mask=mask)
    assert torch.equal(model.generate(**kwargs), loaded.generate(**kwargs))
    assert loaded.generation_config.num_beams == 2 and loaded.generation_config.max_new_tokens == 29
    # tied BART weights stay tied after loading (one tensor for words and the output layer)
    assert loaded.language_model.lm_head.weight.data_ptr() == loaded.language_model.model.shared.weight.data_ptr()
