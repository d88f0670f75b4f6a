"""The audiocraft -> AudioGen converter on synthetic audiocraft-layout checkpoints (no audiocraft needed).

A tiny ``AudioGenForConditionalGeneration`` is written out the way audiocraft names its ``LMModel`` (fused q|k|v
``in_proj_weight``, ``transformer.layers.*``, ``condition_provider...output_proj``) with a matching ``xp.cfg``; the
converter must give the model back, and refuse broken checkpoints with errors that name the problem.
Numerical parity against audiocraft itself is in tests/parity (oracle venv).
"""

import pytest
import torch
import yaml
from reference_audiocraft import _audiocraft_state_dict, _to_audiocraft_layout, _xp_cfg, _xp_cfg_dict  # noqa: F401
from transformers import T5EncoderModel

from hf_audiogen.audiogen import AudioGenForConditionalGeneration
from hf_audiogen.audiogen.convert_audiocraft import (
    convert_audiocraft_checkpoint,
    default_text_encoder_id,
    is_audiocraft_checkpoint_dir,
)
from hf_audiogen.cli import main

from factories import tiny_audiogen_config, tiny_audiogen_model, tiny_codec_model, tiny_t5_config, tiny_text_tokenizer


@pytest.fixture(scope="module")
def source():
    """(tiny model, its audiocraft LM package, a text-encoder directory with tokenizer)."""
    model = tiny_audiogen_model(seed=3)
    package = {
        "best_state": _audiocraft_state_dict(model),
        "xp.cfg": yaml.safe_dump(_xp_cfg_dict(model)),
        "version": "1.3.0",
        "exported": True,
    }
    return model, package


@pytest.fixture(scope="module")
def text_encoder_dir(tmp_path_factory, source):
    path = tmp_path_factory.mktemp("t5")
    source[0].text_encoder.save_pretrained(path)
    tiny_text_tokenizer().save_pretrained(path)
    return path


def _convert(source, text_encoder_dir, cfg=None, state=None):
    """Convert ``source``'s package with its xp.cfg (as a dict) and/or state dict replaced."""
    model, package = source
    package = {**package}
    if cfg is not None:
        package["xp.cfg"] = yaml.safe_dump(cfg)
    if state is not None:
        package["best_state"] = state
    return convert_audiocraft_checkpoint(package, model.codec, text_encoder=str(text_encoder_dir))


def _inputs():
    tokenizer = tiny_text_tokenizer()
    batch = tokenizer(["a dog barks in the distance", "rain"], return_tensors="pt", padding=True)
    codes = torch.randint(0, 32, (2, 2, 12), generator=torch.Generator().manual_seed(0))
    return batch, codes


def test_audiocraft_layout_of_the_synthetic_checkpoint(source):
    state = source[1]["best_state"]
    assert state["transformer.layers.0.self_attn.in_proj_weight"].shape == (96, 32)  # q|k|v of width 32
    assert "transformer.layers.1.cross_attention.in_proj_weight" in state and "linears.1.weight" in state
    assert "condition_provider.conditioners.description.output_proj.bias" in state
    assert not any(".q_proj." in key or key.startswith(("decoder.", "text_encoder.", "codec.")) for key in state)


def test_round_trip_gives_the_same_model(tmp_path, source, text_encoder_dir):
    model, package = source
    path = tmp_path / "state_dict.bin"
    torch.save(package, path)
    out_dir = tmp_path / "converted"
    converted = convert_audiocraft_checkpoint(path, model.codec, text_encoder=str(text_encoder_dir), out_dir=out_dir)

    assert not converted.training and converted.config.decoder.cross_attention_mask is False
    own = {k: v for k, v in model.state_dict().items()}
    for key, value in converted.state_dict().items():
        assert torch.equal(value, own[key]), key
    generation = converted.generation_config
    sampling = (generation.guidance_scale, generation.top_k, generation.top_p, generation.do_sample)
    assert sampling == (3.0, 250, 1.0, True)
    assert generation.max_new_tokens == 50 and generation.extend_stride == pytest.approx(0.2)  # 1 s window

    # Same logits as the source model when both attend to padded text as audiocraft does.
    model.config.decoder.cross_attention_mask = False
    batch, codes = _inputs()
    with torch.no_grad():
        expected = model(**batch, audio_codes=codes).logits
        torch.testing.assert_close(converted(**batch, audio_codes=codes).logits, expected, atol=1e-6, rtol=0)
        reloaded = AudioGenForConditionalGeneration.from_pretrained(out_dir).eval()
        torch.testing.assert_close(reloaded(**batch, audio_codes=codes).logits, expected, atol=1e-6, rtol=0)
    model.config.decoder.cross_attention_mask = True

    from hf_audiogen.audiogen.processing_audiogen import AudioGenProcessor

    processor = AudioGenProcessor.from_pretrained(out_dir)  # the tokenizer next to the text encoder was saved too
    assert processor.sampling_rate == 16000
    assert processor(text="rain")["input_ids"] == [batch["input_ids"][1, 0].item(), 1]


def test_a_passed_text_encoder_keeps_masking_padded_prompts():
    """The converter hands a loaded text encoder to the model, whose config then went through AudioGenConfig(...):
    its attention implementation must survive, or T5 ignores the padding mask and padded prompts change."""
    text_encoder = T5EncoderModel(tiny_t5_config()).eval()
    model = AudioGenForConditionalGeneration(
        tiny_audiogen_config(text_encoder=text_encoder.config), text_encoder=text_encoder
    ).eval()
    assert model.text_encoder.config._attn_implementation is not None
    tokenizer = tiny_text_tokenizer()
    padded = tokenizer(["a dog barks in the distance", "rain"], return_tensors="pt", padding=True)
    alone = tokenizer(["rain"], return_tensors="pt")
    with torch.no_grad():
        states, _ = model.encode_text(padded["input_ids"], padded["attention_mask"])
        expected, _ = model.encode_text(alone["input_ids"], alone["attention_mask"])
    torch.testing.assert_close(states[1, : expected.shape[1]], expected[0], atol=1e-5, rtol=0)


def test_unknown_keys_are_listed(source, text_encoder_dir):
    package = source[1]
    state = dict(package["best_state"])
    state["transformer.layers.0.layer_scale_1.scale"] = torch.ones(32)
    state["condition_provider.conditioners.description.embed.weight"] = torch.ones(4, 32)
    with pytest.raises(ValueError, match=r"2 unknown key\(s\).*description\.embed\.weight.*layer_scale_1\.scale"):
        _convert(source, text_encoder_dir, state=state)


def test_missing_keys_are_listed(source, text_encoder_dir):
    package = source[1]
    state = dict(package["best_state"])
    del state["linears.1.weight"], state["transformer.layers.1.cross_attention.in_proj_weight"]
    # named as the checkpoint names them: the fused q|k|v projection once, not our three split keys
    with pytest.raises(
        ValueError,
        match=r"2 missing key\(s\): \['linears\.1\.weight', "
        r"'transformer\.layers\.1\.cross_attention\.in_proj_weight'\]",
    ):
        _convert(source, text_encoder_dir, state=state)


def test_text_encoder_width_must_match_the_projection(source):
    model, package = source
    wider = T5EncoderModel(tiny_t5_config(d_model=24))
    with pytest.raises(ValueError, match=r"text encoder has hidden size 24.*expects 16-dimensional text states"):
        convert_audiocraft_checkpoint(package, model.codec, text_encoder=wider)


def test_config_and_weights_must_agree(source, text_encoder_dir):
    package = source[1]
    cfg = yaml.safe_load(package["xp.cfg"])
    cfg["transformer_lm"]["card"] = 64
    with pytest.raises(ValueError, match=r"codec has 2 x 32 codes but the LM models n_q=2 x card=64"):
        _convert(source, text_encoder_dir, cfg=cfg)
    cfg = yaml.safe_load(package["xp.cfg"])
    cfg["transformer_lm"]["hidden_scale"] = 4  # FFN 128 in the config, 64 in the weights
    with pytest.raises(ValueError, match=r"shape mismatch\(es\).*linear1\.weight.*\(64, 32\) vs model \(128, 32\)"):
        _convert(source, text_encoder_dir, cfg=cfg)


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("transformer_lm.norm_first", False, r"norm_first=False \(supported: True\)"),
        ("transformer_lm.positional_embedding", "rope", r"positional_embedding='rope'"),
        ("transformer_lm.layer_scale", 0.1, r"layer_scale=0\.1"),
        ("codebooks_pattern.modeling", "unroll", r"modeling='unroll': only 'delay' and 'parallel'"),
        ("fuser.prepend", ["description"], r"fuser has cross=\['description'\]"),
        ("conditioners.description.model", "lut", r"conditioners\.description\.model='lut'"),
        ("lm_model", "transformer_lm_magnet", r"lm_model='transformer_lm_magnet'"),
    ],
)
def test_unsupported_settings_are_refused(source, text_encoder_dir, path, value, message):
    package = source[1]
    cfg = yaml.safe_load(package["xp.cfg"])
    node = cfg
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = value
    with pytest.raises(ValueError, match=message):
        _convert(source, text_encoder_dir, cfg=cfg)


def test_default_text_encoder_is_the_runs_t5(source):
    assert default_text_encoder_id(source[1]["xp.cfg"]) == "google-t5/t5-large"


def test_audiocraft_directory_and_cli(tmp_path, source, text_encoder_dir, capsys):
    model, package = source
    directory = tmp_path / "audiogen-tiny"
    directory.mkdir()
    torch.save(package, directory / "state_dict.bin")
    assert not is_audiocraft_checkpoint_dir(directory)  # the codec file is still missing
    codec = tiny_codec_model(seed=1, num_quantizers=2)
    codec_package = {"best_state": _to_audiocraft_layout(codec), "xp.cfg": _xp_cfg().replace("n_q: 3", "n_q: 2")}
    torch.save(codec_package, directory / "compression_state_dict.bin")
    assert is_audiocraft_checkpoint_dir(directory) and not is_audiocraft_checkpoint_dir(directory / "state_dict.bin")

    from_dir = convert_audiocraft_checkpoint(directory, text_encoder=str(text_encoder_dir))
    for key, value in codec.state_dict().items():
        assert torch.equal(from_dir.codec.state_dict()[key], value), key

    out_dir = tmp_path / "cli-out"
    argv = [
        "convert",
        "audiocraft",
        str(directory / "state_dict.bin"),
        str(directory / "compression_state_dict.bin"),
        str(out_dir),
        "--text-encoder",
        str(text_encoder_dir),
    ]
    assert main(argv) == 0
    assert "2-layer x 32 decoder, 2 x 32 codes at 50 Hz" in capsys.readouterr().out
    reloaded = AudioGenForConditionalGeneration.from_pretrained(out_dir)
    assert torch.equal(reloaded.decoder.linears[1].weight, model.decoder.linears[1].weight)

    # User errors: one line on stderr, exit code 2.
    assert (
        main(
            [
                "convert",
                "audiocraft",
                str(tmp_path / "nope.bin"),
                str(directory / "compression_state_dict.bin"),
                str(out_dir),
                "--text-encoder",
                str(text_encoder_dir),
            ]
        )
        == 2
    )
    assert "audiocraft LM checkpoint not found" in capsys.readouterr().err
    assert main(argv[:-1] + [str(tmp_path / "no-such-encoder")]) == 2
    assert "text encoder directory not found" in capsys.readouterr().err
