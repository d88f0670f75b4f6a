"""The reference AutoCap -> AutoCapForConditionalGeneration converter on synthetic reference-layout checkpoints.

A tiny random ``AutoCapForConditionalGeneration`` is written out the way the reference LightningModule
(snap-research/GenAU ``AutoCap``) names its state dict — HTSAT ``encoder.audio_enc.*`` with fused ``attn.qkv``, LAVIS
Q-Former ``audio_Qformer.bert.*``, LAION-CLAP ``clap_model.model.*``, BART ``decoder.*`` plus its second copy under
``special_tokens_embed.model.*`` and the extras the port drops — and wrapped as a Lightning checkpoint. The converter
must give the model back exactly and refuse broken checkpoints with errors that name the problem. Numerical parity of
the Q-Former against LAVIS / AutoCap's own code is in tests/parity/test_parity_autocap_qformer.py.
"""

import re

import pytest
import torch
import yaml
from reference_autocap import (  # noqa: F401
    FRAMES,
    MELS,
    SWIN_NAMES,
    TINY,
    _randomised,
    _swin_to_reference,
    reference_state_dict,
    reference_yaml,
)

from hf_audiogen.autocap import (
    TAG_TOKENS,
    AutoCapConfig,
    AutoCapForConditionalGeneration,
    AutoCapPipeline,
    AutoCapProcessor,
)
from hf_audiogen.autocap.convert_autocap import (
    BART_DUPLICATE,
    CLAP_TEXT,
    CLAP_TRAINING,
    FRONT_END,
    QFORMER_POSITION_IDS,
    SHIFT_MASK,
    TAGGING_HEAD,
    TIED_COPY,
    autocap_config_from_checkpoint,
    convert_autocap_checkpoint,
    convert_autocap_state_dict,
    feature_extractor_from_reference_config,
)
from hf_audiogen.cli import main

from factories import tiny_autocap_model, tiny_bart_tokenizer

# A tiny model whose architecture the converter can read back from the weights alone, as for real checkpoints: a
# second Swin stage with a shifted-window block (whose mask buffer tells the spectrogram size), BART heads of width
# 64 (as every facebook/bart-*), and the reference's 32x frame repetition with its 1026-row audio position table.


# ---------------------------------------------------------------------------------------------------------------------
# Our model -> the reference's names (written from the reference code, independently of the converter's tables)
# ---------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source():
    """(tiny model with random weights, its reference-layout state dict)."""
    model = _randomised(tiny_autocap_model(seed=2, **TINY))
    return model, reference_state_dict(model)


@pytest.fixture(scope="module")
def checkpoint_path(tmp_path_factory, source):
    path = tmp_path_factory.mktemp("autocap") / "autocap-full.ckpt"
    torch.save(
        {
            "epoch": 19,
            "global_step": 1234,
            "pytorch-lightning_version": "2.1.0",
            "state_dict": source[1],
            "optimizer_states": [],
            "lr_schedulers": [],
        },
        path,
    )
    return path


@pytest.fixture(scope="module")
def yaml_path(tmp_path_factory, source):
    path = tmp_path_factory.mktemp("autocap_cfg") / "autocap-full.yaml"
    text = yaml.safe_dump(reference_yaml(source[0].config)).replace("'!module src.", "!module 'src.")
    path.write_text(text)
    return path


def _inputs(batch=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(batch, 1, FRAMES, MELS, generator=generator) * 10 - 40
    metadata = torch.tensor([[304, 40, 41, 305, 2], [300, 50, 301, 2, 1]])[:batch]
    mask = (metadata != 1).long()
    return dict(
        input_features=features,
        clap_input_features=features.flip(2),
        metadata_ids=metadata,
        metadata_attention_mask=mask,
    )


def _outputs(model):
    inputs = _inputs()
    labels = torch.tensor([[0, 10, 11, 12, 2], [0, 13, 2, -100, -100]])
    with torch.no_grad():
        encoded = model.encode(**inputs)
        logits = model(**inputs, labels=labels).logits
    return encoded, logits


# ---------------------------------------------------------------------------------------------------------------------
# Round trip
# ---------------------------------------------------------------------------------------------------------------------
def test_synthetic_checkpoint_has_the_reference_layout(source):
    state = source[1]
    assert state["encoder.audio_enc.layers.0.blocks.0.attn.qkv.weight"].shape == (24, 8)  # q|k|v of width 8
    assert state["encoder.audio_enc.layers.1.blocks.1.attn_mask"].shape == (4, 16, 16)  # 8x8 grid, 4x4 windows
    assert state["audio_Qformer.bert.encoder.layer.0.crossattention.self.key.weight"].shape == (16, 64)
    assert torch.equal(state["special_tokens_embed.model.shared.weight"], state["decoder.model.shared.weight"])
    assert "clap_model.model.audio_projection.2.bias" in state and "decoder.lm_head.weight" in state
    swin = [key for key in state if key.startswith(("encoder.audio_enc.", "clap_model.model.audio_branch."))]
    assert not any(re.search(r"layernorm_|\.attention\.|intermediate|batch_norm", key) for key in swin)
    assert not any(key.startswith(("language_model.", "qformer.", "audio_encoder.", "tag_")) for key in state)


def test_config_is_read_from_the_weights_and_the_yaml(source, yaml_path):
    model, state = source
    inferred = autocap_config_from_checkpoint(state, yaml_path)
    expected = model.config
    for name in (
        "spec_size",
        "num_mel_bins",
        "patch_size",
        "window_size",
        "depths",
        "num_attention_heads",
        "patch_embeds_hidden_size",
        "hidden_size",
        "mlp_ratio",
    ):
        assert getattr(inferred.audio_config, name) == getattr(expected.audio_config, name), name
        assert getattr(inferred.clap_config, name) == getattr(expected.clap_config, name), name
    assert inferred.clap_config.projection_dim == 12
    for name in (
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "cross_attention_frequency",
        "encoder_hidden_size",
    ):
        assert getattr(inferred.qformer_config, name) == getattr(expected.qformer_config, name), name
    for name in (
        "vocab_size",
        "d_model",
        "encoder_layers",
        "decoder_layers",
        "encoder_attention_heads",
        "encoder_ffn_dim",
        "decoder_ffn_dim",
        "max_position_embeddings",
    ):
        assert getattr(inferred.text_config, name) == getattr(expected.text_config, name), name
    assert (inferred.num_query_tokens, inferred.max_audio_positions, inferred.audio_frame_repeat) == (8, 1026, 32)
    assert inferred.use_clap and (inferred.audio_dropout, inferred.metadata_dropout) == (0.0, 0.0)


def test_round_trip_gives_the_same_model(tmp_path, source, checkpoint_path, yaml_path):
    model, _ = source
    out_dir = tmp_path / "converted"
    converted = convert_autocap_checkpoint(
        checkpoint_path, out_dir=out_dir, reference_config=yaml_path, tokenizer=tiny_bart_tokenizer()
    )
    assert not converted.training
    own = model.state_dict()
    for key, value in converted.state_dict().items():
        assert torch.equal(value, own[key]), key
    (encoded, logits), (expected_encoded, expected_logits) = _outputs(converted), _outputs(model)
    assert torch.equal(encoded.audio_tokens, expected_encoded.audio_tokens)
    assert torch.equal(encoded.clap_token, expected_encoded.clap_token)
    assert torch.equal(encoded.last_hidden_state, expected_encoded.last_hidden_state)
    assert torch.equal(logits, expected_logits)
    assert converted.language_model.lm_head.weight.data_ptr() == converted.language_model.model.shared.weight.data_ptr()

    # The directory is a complete AutoCap: model, processor (tiny BART tokenizer + the YAML's front-end), pipeline.
    pipe = AutoCapPipeline.from_pretrained(out_dir)
    assert torch.equal(_outputs(pipe.model)[1], expected_logits)
    extractor = pipe.processor.feature_extractor
    assert (extractor.sampling_rate, extractor.feature_size, extractor.hop_length, extractor.max_length_s) == (
        16000,
        MELS,
        160,
        1.0,
    )
    assert pipe.processor.metadata_keys == ["video_caption", "title"] and pipe.processor.tag_token_offset == 300
    captions = pipe([torch.randn(16000).numpy()], sampling_rate=16000, max_new_tokens=4)
    assert isinstance(captions[0], str)


def test_dropped_keys_are_grouped_by_reason(source):
    model, state = source
    _, dropped = convert_autocap_state_dict(state, model.config)
    assert set(dropped) == {
        FRONT_END,
        TAGGING_HEAD,
        SHIFT_MASK,
        CLAP_TEXT,
        CLAP_TRAINING,
        QFORMER_POSITION_IDS,
        TIED_COPY,
        BART_DUPLICATE,
    }
    assert sorted(dropped[BART_DUPLICATE]) == sorted(k for k in state if k.startswith("special_tokens_embed.model."))
    assert set(dropped[TIED_COPY]) == {
        "decoder.lm_head.weight",
        "decoder.model.encoder.embed_tokens.weight",
        "decoder.model.decoder.embed_tokens.weight",
    }
    assert sorted(dropped[SHIFT_MASK]) == [
        "clap_model.model.audio_branch.layers.1.blocks.1.attn_mask",
        "encoder.audio_enc.layers.1.blocks.1.attn_mask",
    ]
    used = len(state) - sum(len(keys) for keys in dropped.values())
    qkv = sum(key.endswith(("attn.qkv.weight", "attn.qkv.bias")) for key in state)  # each becomes three keys
    tied = 3  # our state dict lists BART's tied copies too
    assert used + 2 * qkv + tied == len(model.state_dict())


def test_tag_rows_follow_the_reference_token_order(source):
    model, state = source
    order = [
        "<TITLE>",
        "</TITLE>",
        "<HQVC>",
        "</HQVC>",
        "<AVC>",
        "</AVC>",
        "<DESC>",
        "</DESC>",
        "<SUB>",
        "</SUB>",
        "<LBL>",
        "</LBL>",
    ]
    permuted = dict(state)
    ours = model.tag_embeddings.weight.detach()
    permuted["special_tokens_embed.special_token_embed.weight"] = ours[[TAG_TOKENS.index(tag) for tag in order]]
    weights, _ = convert_autocap_state_dict(permuted, model.config, tag_tokens=order)
    assert torch.equal(weights["tag_embeddings.weight"], ours)
    with pytest.raises(ValueError, match=r"special tokens .* are not AutoCap's tags"):
        convert_autocap_state_dict(permuted, model.config, tag_tokens=order[:-1] + ["<X>"])


def test_clap_weights_from_a_separate_laion_checkpoint(tmp_path, source):
    model, state = source
    without_clap = {key: value for key, value in state.items() if not key.startswith("clap_model.")}
    with pytest.raises(ValueError, match="no CLAP weights .*pass the LAION-CLAP checkpoint it used as clap_checkpoint"):
        convert_autocap_checkpoint({"state_dict": without_clap}, config=model.config)
    laion = {
        "module." + key.removeprefix("clap_model.model."): value
        for key, value in state.items()
        if key.startswith("clap_model.model.")
    }
    path = tmp_path / "music_speech_audioset_epoch_15_esc_89.98.pt"
    torch.save({"epoch": 15, "state_dict": laion}, path)
    converted = convert_autocap_checkpoint(
        {"state_dict": without_clap}, clap_checkpoint=path, reference_config=reference_yaml(model.config)
    )
    assert torch.equal(_outputs(converted)[1], _outputs(model)[1])


def test_full_size_reference_layout_converts_key_for_key():
    """The real architecture (HTSAT, HTSAT-base CLAP, 2-layer Q-Former with 256 queries, bart-base), on the meta
    device: the inferred config is the reference's and every key is accounted for."""
    with torch.device("meta"):
        model = AutoCapForConditionalGeneration(AutoCapConfig())
    state = reference_state_dict(model)
    reference = reference_yaml(AutoCapConfig())
    reference["audio_args"] = {
        "sr": 32000,
        "n_fft": 1024,
        "hop_length": 320,
        "f_min": 50,
        "f_max": 14000,
        "n_mels": 64,
        "max_length": 10,
    }
    inferred = autocap_config_from_checkpoint(state, reference)
    assert inferred.to_diff_dict() | {"_name_or_path": ""} == AutoCapConfig(
        audio_dropout=0.2, metadata_dropout=0.2
    ).to_diff_dict() | {"_name_or_path": ""}
    weights, dropped = convert_autocap_state_dict(state, inferred)
    assert weights.keys() == model.state_dict().keys()
    # every second block of a stage wider than the window: HTSAT 1 + 1 + 3 (+ 0 in the 8x8 stage), CLAP 1 + 1 + 6
    assert len(dropped[SHIFT_MASK]) == 13
    assert feature_extractor_from_reference_config(reference, inferred).to_dict() == (
        feature_extractor_from_reference_config(None).to_dict()
    )


def test_cli_converts_a_checkpoint(tmp_path, capsys, checkpoint_path, yaml_path, source):
    tokenizer_dir = tmp_path / "bart"
    tiny_bart_tokenizer().save_pretrained(tokenizer_dir)
    out_dir = tmp_path / "cli"
    code = main(
        [
            "convert",
            "autocap",
            str(checkpoint_path),
            str(out_dir),
            "--config",
            str(yaml_path),
            "--tokenizer",
            str(tokenizer_dir),
        ]
    )
    assert code == 0
    assert "1-layer Q-Former (8 queries), BART d_model 64, a CLAP token" in capsys.readouterr().out
    reloaded = AutoCapForConditionalGeneration.from_pretrained(out_dir).eval()
    assert torch.equal(_outputs(reloaded)[1], _outputs(source[0])[1])
    assert AutoCapProcessor.from_pretrained(out_dir).tag_token_offset == 300

    no_tokenizer = tmp_path / "model_only"
    assert main(["convert", "autocap", str(checkpoint_path), str(no_tokenizer), "--config", str(yaml_path)]) == 0
    assert "no processor (pass --tokenizer to add one)" in capsys.readouterr().out
    assert (no_tokenizer / "preprocessor_config.json").is_file()
    assert not (no_tokenizer / "tokenizer_config.json").exists()

    assert main(["convert", "autocap", str(tmp_path / "missing.ckpt"), str(tmp_path / "x")]) == 2
    assert "AutoCap checkpoint not found" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------------
# Broken checkpoints
# ---------------------------------------------------------------------------------------------------------------------
def _convert(state, config):
    return convert_autocap_state_dict(state, config)


def test_missing_key_is_named(source):
    model, state = source
    broken = {k: v for k, v in state.items() if k != "audio_Qformer.bert.encoder.layer.0.output_query.dense.bias"}
    with pytest.raises(
        ValueError,
        match=r"1 missing key\(s\): \['audio_Qformer\.bert\.encoder\.layer\.0\."
        r"output_query\.dense\.bias'\]",
    ):  # as the checkpoint names it
        _convert(broken, model.config)


def test_extra_key_is_named(source):
    model, state = source
    broken = {
        **state,
        "text_Qformer.bert.embeddings.LayerNorm.weight": torch.ones(16),
        "encoder.audio_enc.layers.0.blocks.0.attn.unknown": torch.ones(1),
    }
    unknown = r"2 unknown key\(s\): \['encoder\.audio_enc\.layers\.0\.blocks\.0\.attn\.unknown', 'text_Qformer\."
    with pytest.raises(ValueError, match=unknown):
        _convert(broken, model.config)


def test_differing_bart_duplicate_and_untied_copy_are_refused(source):
    model, state = source
    broken = dict(state)
    fc1 = "encoder.layers.0.fc1.weight"
    broken["special_tokens_embed.model." + fc1] = state["decoder.model." + fc1] + 1
    broken["decoder.lm_head.weight"] = state["decoder.lm_head.weight"] * 2
    with pytest.raises(ValueError) as error:
        _convert(broken, model.config)
    message = str(error.value)
    assert (
        "special_tokens_embed.model.encoder.layers.0.fc1.weight differs from decoder.model.encoder.layers.0.fc1."
        "weight: the two BART copies must be one model"
    ) in message
    assert "decoder.lm_head.weight differs from decoder.model.shared.weight" in message


def test_shape_mismatch_is_named(source):
    model, state = source
    broken = {
        **state,
        "audio_qformer_proj.weight": torch.zeros(64, 8),
        "encoder.audio_enc.layers.0.blocks.0.attn.qkv.weight": torch.zeros(25, 8),
    }
    with pytest.raises(ValueError) as error:
        _convert(broken, model.config)
    message = str(error.value)
    assert "audio_qformer_proj.weight -> qformer_projection.weight: checkpoint (64, 8) vs model (64, 16)" in message
    assert "encoder.audio_enc.layers.0.blocks.0.attn.qkv.weight: (25, 8) is not three stacked q|k|v" in message


def test_non_checkpoints_are_refused(tmp_path, source):
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(ValueError, match=r"notes\.ckpt is not a PyTorch checkpoint"):
        convert_autocap_checkpoint(text)
    listed = tmp_path / "list.ckpt"
    torch.save([torch.zeros(1)], listed)
    with pytest.raises(ValueError, match="must be a dict .* got list"):
        convert_autocap_checkpoint(listed)
    other = tmp_path / "other.ckpt"
    torch.save({"epoch": 3, "optimizer_states": []}, other)
    with pytest.raises(ValueError, match=r"no 'state_dict' \(or 'model'\) entry .* \['epoch', 'optimizer_states'\]"):
        convert_autocap_checkpoint(other)
    with pytest.raises(FileNotFoundError, match="AutoCap checkpoint not found"):
        convert_autocap_checkpoint(tmp_path / "absent.ckpt")
    with pytest.raises(ValueError, match="lacks 'audio_query_tokens'.*is it an AutoCap one"):
        convert_autocap_checkpoint({"state_dict": {"model.diffusion_model.latents": torch.zeros(2)}})
    pickled = tmp_path / "pickled.ckpt"
    torch.save({"state_dict": source[1], "hyper_parameters": {"loss": torch.nn.CrossEntropyLoss()}}, pickled)
    with pytest.raises(ValueError, match="Python global torch.nn.modules.loss.CrossEntropyLoss.*allow_pickle=True"):
        convert_autocap_checkpoint(pickled)


def test_unsupported_reference_settings_are_refused(source):
    _, state = source
    with pytest.raises(ValueError, match=r"model\.use_text_qformer=True \(supported: False\).*resize_token_embeds"):
        autocap_config_from_checkpoint(state, {"model": {"use_text_qformer": True, "resize_token_embeds": True}})
