"""Hostile inputs to the checkpoint converters (codec / AudioGen audiocraft, AutoCap, GenAU): every one must fail with
one line that names the offending file, key or value and what is expected — never a traceback, a hang, a payload
that runs, or weights that load silently wrong.

The checkpoints are the tiny synthetic ones of the converters' own tests (tests/test_*_convert*.py).
"""

import argparse
import os
import pickle

import pytest
import torch
import yaml
from reference_audiocraft import _audiocraft_state_dict, _to_audiocraft_layout, _xp_cfg, _xp_cfg_dict
from reference_autocap import TINY, _randomised, reference_yaml
from reference_autocap import reference_state_dict as autocap_reference_state_dict
from reference_genau import REFERENCE_YAML, encoders, original_pipeline, reference_hifigan, save_lightning
from reference_genau import reference_state_dict as genau_reference_state_dict
from safetensors.torch import load_file, save_file

from hf_audiogen.audiogen.convert_audiocraft import _rename, _source_key, convert_audiocraft_checkpoint
from hf_audiogen.autocap.convert_autocap import (
    _reference_key,
    _rename_autocap,
    convert_autocap_checkpoint,
    convert_autocap_state_dict,
    feature_extractor_from_reference_config,
)
from hf_audiogen.checkpoint_io import InputFileNotFoundError, blocked_global
from hf_audiogen.cli import main
from hf_audiogen.codec.convert_audiocraft import (
    audiocraft_key,
    convert_audiocraft_compression_checkpoint,
    rename_audiocraft_key,
)
from hf_audiogen.genau.convert_genau import convert_genau_checkpoint
from hf_audiogen.validation import InvalidInputError

from factories import (  # noqa: F401
    tiny_audiogen_model,
    tiny_autocap_model,
    tiny_bart_tokenizer,
    tiny_codec_model,
    tiny_text_tokenizer,
)


def _assert_one_line(error: BaseException, needles, absent=()) -> str:
    """The message is one line, holds every ``needle`` (the offending value and what is expected) and no ``absent``
    text (e.g. our own key names where the checkpoint's are due)."""
    message = str(error)
    assert "\n" not in message and "Traceback" not in message, message
    for needle in needles:
        assert str(needle) in message, f"{needle!r} not in {message!r}"
    for text in absent:
        assert text not in message, f"{text!r} in {message!r}"
    return message


# ---------------------------------------------------------------------------------------------------------------------
# The tiny source checkpoints (one fixture per converter family, built only when a test asks for it)
# ---------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def codec():
    model = tiny_codec_model(seed=1, num_quantizers=2)
    return {
        "model": model,
        "pkg": {"best_state": _to_audiocraft_layout(model), "xp.cfg": _xp_cfg().replace("n_q: 3", "n_q: 2")},
    }


@pytest.fixture(scope="module")
def audiogen(tmp_path_factory):
    model = tiny_audiogen_model(seed=3)
    text_encoder = tmp_path_factory.mktemp("t5")
    model.text_encoder.save_pretrained(text_encoder)
    tiny_text_tokenizer().save_pretrained(text_encoder)
    pkg = {"best_state": _audiocraft_state_dict(model), "xp.cfg": yaml.safe_dump(_xp_cfg_dict(model))}
    return {"model": model, "pkg": pkg, "text_encoder": text_encoder}


@pytest.fixture(scope="module")
def autocap(tmp_path_factory):
    model = _randomised(tiny_autocap_model(seed=2, **TINY))
    root = tmp_path_factory.mktemp("autocap")
    (root / "autocap.yaml").write_text(yaml.safe_dump(reference_yaml(model.config)))
    return {"model": model, "state": autocap_reference_state_dict(model), "yaml": root / "autocap.yaml"}


@pytest.fixture(scope="module")
def genau(tmp_path_factory):
    pipe = original_pipeline()
    root = tmp_path_factory.mktemp("genau")
    (root / "genau.yaml").write_text(REFERENCE_YAML)
    save_lightning(root / "genau.ckpt", genau_reference_state_dict(pipe))
    return {"pipe": pipe, "root": root, "ckpt": root / "genau.ckpt", "yaml": root / "genau.yaml"}


def _convert_file(family: str, ctx: dict, path, **kwargs):
    """Run ``family``'s converter on the checkpoint file ``path`` (everything else valid)."""
    if family == "codec":
        return convert_audiocraft_compression_checkpoint(path)
    if family == "audiogen":
        return convert_audiocraft_checkpoint(path, ctx["model"].codec, text_encoder=str(ctx["text_encoder"]), **kwargs)
    if family == "autocap":
        return convert_autocap_checkpoint(path, **kwargs)
    return convert_genau_checkpoint(path, config=ctx["yaml"], **encoders(ctx["pipe"]), **kwargs)


FAMILIES = ("codec", "audiogen", "autocap", "genau")
# Only the Lightning-checkpoint converters have --allow-pickle; the audiocraft ones say how to do it in Python.
FORCE_HINT = {
    "codec": "weights_only=False",
    "audiogen": "weights_only=False",
    "autocap": "--allow-pickle",
    "genau": "--allow-pickle",
}


# ---------------------------------------------------------------------------------------------------------------------
# Files that are not checkpoints: every converter, one line each
# ---------------------------------------------------------------------------------------------------------------------
def _hostile_file(kind: str, path):
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("model: not a checkpoint\n")
    elif kind == "truncated":  # a download cut in the middle
        torch.save({"state_dict": {"w": torch.ones(256)}}, path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "fifo":  # reading it would block forever
        os.mkfifo(path)
    elif kind == "pickled-class":  # Lightning hyper-parameters saved as an object
        torch.save({"state_dict": {"w": torch.ones(1)}, "hparams": argparse.Namespace(lr=1)}, path)
    return path


FILE_CASES = {
    "missing": (InputFileNotFoundError, ["not found", "no such file"]),
    "directory": (InvalidInputError, ["is a directory; expected a file"]),
    "empty": (InvalidInputError, ["is empty (0 bytes)", "expected a non-empty file"]),
    "fifo": (InvalidInputError, ["is not a regular file", "expected a file"]),
    "text": (InvalidInputError, ["not a PyTorch checkpoint", "b'mode'", "zip archive"]),
    "truncated": (InvalidInputError, ["not a readable PyTorch checkpoint", "truncated or damaged"]),
    "pickled-class": (InvalidInputError, ["argparse.Namespace", "safe (weights-only) loader refuses", "trust"]),
}


@pytest.mark.parametrize("kind", list(FILE_CASES))
@pytest.mark.parametrize("family", FAMILIES)
def test_checkpoint_files_that_are_not_checkpoints(request, tmp_path, family, kind):
    ctx = request.getfixturevalue(family)
    path = _hostile_file(kind, tmp_path / "model.ckpt")
    error, needles = FILE_CASES[kind]
    if family == "audiogen" and kind == "directory":  # a directory is read as an audiocraft model directory
        needles = ["is not an audiocraft model directory", "state_dict.bin", "compression_state_dict.bin"]
    if kind == "pickled-class":
        needles = needles + [FORCE_HINT[family]]
    with pytest.raises(error) as excinfo:
        _convert_file(family, ctx, path)
    _assert_one_line(excinfo.value, [path, *needles], absent=["will likely succeed"])
    if kind == "missing":
        assert isinstance(excinfo.value, FileNotFoundError) and isinstance(excinfo.value, ValueError)


# ---------------------------------------------------------------------------------------------------------------------
# A pickle payload: refused, never run, and the message names the callable
# ---------------------------------------------------------------------------------------------------------------------
class _Payload:
    """Unpickling this calls ``os.system("touch <marker>")``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_the_payload_is_live(tmp_path):
    """The payload of the next test does run when unpickled in full (so its marker staying absent means something)."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("family", FAMILIES)
def test_pickle_payload_is_refused_and_not_run(request, tmp_path, family, zip_format):
    ctx = request.getfixturevalue(family)
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.ckpt"
    torch.save(
        {"state_dict": {"w": torch.ones(1)}, "best_state": {}, "xp.cfg": "", "x": _Payload(marker)},
        path,
        _use_new_zipfile_serialization=zip_format,
    )
    with pytest.raises(InvalidInputError) as excinfo:
        _convert_file(family, ctx, path)
    assert not marker.exists()
    message = _assert_one_line(
        excinfo.value,
        [path, "posix.system", "Do not force it unless you trust the file", FORCE_HINT[family]],
        absent=["will likely succeed"],
    )
    assert message.count("posix.system") == 1


def test_cli_prints_the_refused_payload_in_one_line(tmp_path, capsys):
    marker = tmp_path / "payload-ran"
    torch.save({"state_dict": {"w": torch.ones(1)}, "x": _Payload(marker)}, tmp_path / "evil.ckpt")
    for family in ("genau", "autocap"):
        assert main(["convert", family, str(tmp_path / "evil.ckpt"), str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "posix.system" in err and "--allow-pickle" in err and "Traceback" not in err
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_cli_refuses_a_text_encoder_folder_without_tokenizer_files(audiogen, codec, tmp_path, capsys):
    folder = tmp_path / "t5-weights-only"
    audiogen["model"].text_encoder.save_pretrained(folder)
    lm = _package(tmp_path, audiogen["pkg"])
    compression = _package(tmp_path, codec["pkg"], "compression_state_dict.bin")
    argv = ["convert", "audiocraft", str(lm), str(compression), str(tmp_path / "out"), "--text-encoder", str(folder)]
    capsys.readouterr()  # the progress bar of save_pretrained above
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(folder) in err and "has no tokenizer files" in err and "tokenizer.json" in err
    assert not (tmp_path / "out").exists()


def test_blocked_global_reads_torchs_messages():
    assert blocked_global("Trying to load unsupported GLOBAL posix.system whose module posix is blocked.") == (
        "posix.system"
    )
    assert blocked_global("Unsupported global: GLOBAL argparse.Namespace was not an allowed global by default.") == (
        "argparse.Namespace"
    )
    assert blocked_global("Unsupported operand 149") is None


# ---------------------------------------------------------------------------------------------------------------------
# Converter-specific hostile inputs
# ---------------------------------------------------------------------------------------------------------------------
CASES = []


def hostile(family: str, error: type = InvalidInputError):
    """Register a case: ``fn(ctx, tmp_path) -> (run, needles[, absent])``; ``run()`` must raise ``error``."""

    def register(fn):
        CASES.append(pytest.param(family, fn, error, id=f"{family}-{fn.__name__}"))
        return fn

    return register


def _package(tmp_path, pkg, name="state_dict.bin"):
    torch.save(pkg, tmp_path / name)
    return tmp_path / name


# --- codec (audiocraft compression package) --------------------------------------------------------------------------
@hostile("codec")
def xp_cfg_not_yaml(ctx, tmp_path):
    pkg = {**ctx["pkg"], "xp.cfg": "seanet: [8, 5\nrvq: {"}
    return lambda: convert_audiocraft_compression_checkpoint(pkg), ["xp.cfg is not valid YAML", "line"]


@hostile("codec")
def xp_cfg_field_not_an_integer(ctx, tmp_path):
    pkg = {**ctx["pkg"], "xp.cfg": ctx["pkg"]["xp.cfg"].replace("n_filters: 2", "n_filters: two")}
    return lambda: convert_audiocraft_compression_checkpoint(pkg), ["'seanet.n_filters'", "an integer", "'two'"]


@hostile("codec")
def xp_cfg_ratios_not_a_list(ctx, tmp_path):
    pkg = {**ctx["pkg"], "xp.cfg": ctx["pkg"]["xp.cfg"].replace("ratios: [8, 5, 4, 2]", "ratios: 8")}
    return lambda: convert_audiocraft_compression_checkpoint(pkg), ["'seanet.ratios'", "list of integers", "got 8"]


@hostile("codec")
def xp_cfg_flag_not_a_bool(ctx, tmp_path):
    pkg = {**ctx["pkg"], "xp.cfg": _xp_cfg(true_skip="maybe").replace("n_q: 3", "n_q: 2")}
    return lambda: convert_audiocraft_compression_checkpoint(pkg), ["'seanet.true_skip'", "true or false", "'maybe'"]


@hostile("codec")
def missing_codebook_is_named_as_in_the_checkpoint(ctx, tmp_path):
    state = {k: v for k, v in ctx["pkg"]["best_state"].items() if k != "quantizer.vq.layers.1._codebook.embed"}
    pkg = {**ctx["pkg"], "best_state": state}
    return (
        lambda: convert_audiocraft_compression_checkpoint(pkg),
        ["1 missing key(s): ['quantizer.vq.layers.1._codebook.embed']"],
        ["quantizer.layers.1.codebook"],
    )


@hostile("codec")
def best_state_with_lists_instead_of_tensors(ctx, tmp_path):
    pkg = {**ctx["pkg"], "best_state": {**ctx["pkg"]["best_state"], "encoder.model.0.conv.conv.bias": [0.0, 1.0]}}
    return (
        lambda: convert_audiocraft_compression_checkpoint(pkg),
        ["entries that are not tensors", "encoder.model.0.conv.conv.bias", "expected a state dict of tensors"],
    )


@hostile("codec")
def package_that_is_a_list(ctx, tmp_path):
    path = _package(tmp_path, [torch.ones(1)], "compression_state_dict.bin")
    return lambda: convert_audiocraft_compression_checkpoint(path), ["a dict with best_state and xp.cfg", "got list"]


# --- AudioGen LM (audiocraft LM package + text encoder) --------------------------------------------------------------
@hostile("audiogen")
def text_encoder_folder_without_tokenizer_files(ctx, tmp_path):
    folder = tmp_path / "t5-weights-only"
    ctx["model"].text_encoder.save_pretrained(folder)
    # the LM path does not exist: the folder is checked before any checkpoint is read
    run = lambda: convert_audiocraft_checkpoint(
        tmp_path / "absent.bin",
        ctx["model"].codec,  # noqa: E731
        text_encoder=str(folder),
        out_dir=tmp_path / "out",
    )
    return run, [
        "text encoder directory",
        folder,
        "has no tokenizer files",
        "tokenizer.json",
        "spiece.model",
        "<unk>",
        "pass tokenizer=",
    ]


@hostile("audiogen")
def text_encoder_folder_with_a_missing_weight(ctx, tmp_path):
    folder = tmp_path / "t5-partial"
    ctx["model"].text_encoder.save_pretrained(folder)
    tiny_text_tokenizer().save_pretrained(folder)
    weights = load_file(folder / "model.safetensors")
    del weights["encoder.block.1.layer.1.DenseReluDense.wo.weight"]
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    run = lambda: convert_audiocraft_checkpoint(ctx["pkg"], ctx["model"].codec, text_encoder=str(folder))  # noqa: E731
    return run, [
        "text encoder",
        folder,
        "lacks 1 weight(s)",
        "encoder.block.1.layer.1.DenseReluDense.wo.weight",
        "expected a complete save_pretrained directory",
    ]


@hostile("audiogen")
def tokenizer_object_with_an_empty_vocabulary(ctx, tmp_path):
    from transformers import AutoTokenizer

    folder = tmp_path / "config-only"
    ctx["model"].text_encoder.config.save_pretrained(folder)
    empty = AutoTokenizer.from_pretrained(folder)  # what transformers builds from a folder without tokenizer files
    run = lambda: convert_audiocraft_checkpoint(
        ctx["pkg"],
        ctx["model"].codec,  # noqa: E731
        text_encoder=ctx["model"].text_encoder,
        tokenizer=empty,
    )
    return run, ["empty vocabulary", "unk id", "expected the tokenizer the text encoder was trained with"]


@hostile("audiogen")
def tokenizer_larger_than_the_text_encoders_vocabulary(ctx, tmp_path):
    run = lambda: convert_audiocraft_checkpoint(
        ctx["pkg"],
        ctx["model"].codec,  # noqa: E731
        text_encoder=ctx["model"].text_encoder,
        tokenizer=tiny_bart_tokenizer(),
    )
    return run, ["300 tokens", "embeds only 64", "expected the tokenizer the text encoder was trained with"]


def _lm_with(ctx, edit):
    cfg = _xp_cfg_dict(ctx["model"])
    edit(cfg)
    return {**ctx["pkg"], "xp.cfg": yaml.safe_dump(cfg)}


@hostile("audiogen")
def xp_cfg_width_not_an_integer(ctx, tmp_path):
    pkg = _lm_with(ctx, lambda cfg: cfg["transformer_lm"].update(dim="wide"))
    run = lambda: convert_audiocraft_checkpoint(pkg, ctx["model"].codec, text_encoder=str(ctx["text_encoder"]))  # noqa
    return run, ["'transformer_lm.dim'", "must be an integer", "'wide'"]


@hostile("audiogen")
def xp_cfg_without_the_codebook_size(ctx, tmp_path):
    pkg = _lm_with(ctx, lambda cfg: cfg["transformer_lm"].pop("card"))
    run = lambda: convert_audiocraft_checkpoint(pkg, ctx["model"].codec, text_encoder=str(ctx["text_encoder"]))  # noqa
    return run, ["xp.cfg has no field 'transformer_lm.card'", "the converter needs"]


@hostile("audiogen")
def missing_fused_projection_is_named_as_in_the_checkpoint(ctx, tmp_path):
    state = dict(ctx["pkg"]["best_state"])
    del state["transformer.layers.0.self_attn.in_proj_weight"]
    pkg = {**ctx["pkg"], "best_state": state}
    run = lambda: convert_audiocraft_checkpoint(pkg, ctx["model"].codec, text_encoder=str(ctx["text_encoder"]))  # noqa
    return run, ["1 missing key(s): ['transformer.layers.0.self_attn.in_proj_weight']"], ["q_proj", "our name"]


@hostile("audiogen")
def out_dir_is_an_existing_file(ctx, tmp_path):
    (tmp_path / "model.txt").write_text("keep me")
    run = lambda: convert_audiocraft_checkpoint(
        tmp_path / "absent.bin",
        ctx["model"].codec,  # noqa: E731
        text_encoder=str(ctx["text_encoder"]),
        out_dir=tmp_path / "model.txt",
    )
    return run, ["out_dir", tmp_path / "model.txt", "is an existing file", "expected a directory"]


@hostile("audiogen")
def out_dir_below_a_file(ctx, tmp_path):
    (tmp_path / "model.txt").write_text("keep me")
    run = lambda: convert_audiocraft_checkpoint(
        tmp_path / "absent.bin",
        ctx["model"].codec,  # noqa: E731
        text_encoder=str(ctx["text_encoder"]),
        out_dir=tmp_path / "model.txt" / "hf",
    )
    return run, ["out_dir", tmp_path / "model.txt" / "hf", "cannot be created", "is a file, not a directory"]


# --- AutoCap (Lightning checkpoint + reference YAML + BART tokenizer) -------------------------------------------------
@hostile("autocap")
def reference_yaml_not_yaml(ctx, tmp_path):
    (tmp_path / "autocap.yaml").write_text("model:\n  use_clap_embeds: [true\n")
    return (
        lambda: convert_autocap_checkpoint(ctx["state"], reference_config=tmp_path / "autocap.yaml"),
        ["reference config", tmp_path / "autocap.yaml", "is not valid YAML", "line"],
    )


@hostile("autocap")
def reference_yaml_that_is_a_list(ctx, tmp_path):
    (tmp_path / "autocap.yaml").write_text("- model\n- audio_args\n")
    return (
        lambda: convert_autocap_checkpoint(ctx["state"], reference_config=tmp_path / "autocap.yaml"),
        [tmp_path / "autocap.yaml", "must be a YAML mapping", "got list"],
    )


@hostile("autocap")
def reference_yaml_that_is_binary(ctx, tmp_path):
    (tmp_path / "autocap.yaml").write_bytes(b"\xff\xfe\x00\x81garbage")
    return (
        lambda: convert_autocap_checkpoint(ctx["state"], reference_config=tmp_path / "autocap.yaml"),
        [tmp_path / "autocap.yaml", "is not a text file", "expected UTF-8 text"],
    )


@hostile("autocap", InputFileNotFoundError)
def reference_yaml_that_does_not_exist(ctx, tmp_path):
    return (
        lambda: convert_autocap_checkpoint(ctx["state"], reference_config=tmp_path / "nope.yaml"),
        ["reference config not found", tmp_path / "nope.yaml", "no such file"],
    )


@hostile("autocap")
def tokenizer_folder_without_tokenizer_files(ctx, tmp_path):
    folder = tmp_path / "bart"
    ctx["model"].config.text_config.save_pretrained(folder)  # a config.json, no vocabulary
    run = lambda: convert_autocap_checkpoint(
        tmp_path / "absent.ckpt",
        out_dir=tmp_path / "out",  # noqa: E731
        tokenizer=folder,
    )
    return run, ["tokenizer", folder, "has no tokenizer files", "vocab.json", "tokenizer.json", "--tokenizer"]


@hostile("autocap", InputFileNotFoundError)
def tokenizer_folder_that_does_not_exist(ctx, tmp_path):
    run = lambda: convert_autocap_checkpoint(
        tmp_path / "absent.ckpt",
        out_dir=tmp_path / "out",  # noqa: E731
        tokenizer=tmp_path / "bart",
    )
    return run, ["tokenizer not found", tmp_path / "bart", "no such directory"]


@hostile("autocap")
def out_dir_is_a_file_checked_before_the_checkpoint(ctx, tmp_path):
    (tmp_path / "out").write_text("")
    return (
        lambda: convert_autocap_checkpoint(tmp_path / "absent.ckpt", out_dir=tmp_path / "out"),
        ["out_dir", tmp_path / "out", "is an existing file", "expected a directory"],
    )


@hostile("autocap")
def missing_fused_swin_projection_is_named_as_in_the_checkpoint(ctx, tmp_path):
    key = "encoder.audio_enc.layers.0.blocks.0.attn.qkv.weight"
    state = {k: v for k, v in ctx["state"].items() if k != key}
    return (
        lambda: convert_autocap_state_dict(state, ctx["model"].config),
        [f"1 missing key(s): ['{key}']"],
        ["attention.self", "our name"],
    )


@hostile("autocap")
def missing_clap_projection_and_word_table_are_named_as_in_the_checkpoint(ctx, tmp_path):
    dropped = ("clap_model.model.audio_projection.2.weight", "decoder.model.shared.weight")
    state = {k: v for k, v in ctx["state"].items() if k not in dropped}
    return (
        lambda: convert_autocap_state_dict(state, ctx["model"].config),
        ["2 missing key(s)", *dropped],
        ["linear2", "language_model.", "our name"],
    )


@hostile("autocap")
def audio_args_value_not_a_number(ctx, tmp_path):
    reference = reference_yaml(ctx["model"].config)
    reference["audio_args"]["n_mels"] = "lots"
    return (
        lambda: feature_extractor_from_reference_config(reference, ctx["model"].config),
        ["audio_args.n_mels", "must be an integer", "'lots'"],
    )


@hostile("autocap")
def special_tokens_that_are_not_a_list(ctx, tmp_path):
    reference = reference_yaml(ctx["model"].config)
    reference["tokenizer"]["special_tokens"] = 12
    return (
        lambda: convert_autocap_checkpoint(ctx["state"], reference_config=reference),
        ["tokenizer.special_tokens", "must be a list of AutoCap's tags", "got 12"],
    )


@hostile("autocap")
def dropout_out_of_range(ctx, tmp_path):
    reference = reference_yaml(ctx["model"].config)
    reference["model"]["audio_features_dropout_p"] = 1.5
    return (
        lambda: convert_autocap_checkpoint(ctx["state"], reference_config=reference),
        ["audio_dropout", "[0, 1)", "1.5"],
    )


# --- GenAU (Lightning checkpoint + YAML + separate files) ------------------------------------------------------------
def _genau(ctx, **kwargs):
    return lambda: convert_genau_checkpoint(
        **{"checkpoint": ctx["ckpt"], "config": ctx["yaml"], **encoders(ctx["pipe"]), **kwargs}
    )


@hostile("genau")
def config_not_yaml(ctx, tmp_path):
    (tmp_path / "genau.yaml").write_text("model:\n  params: {timesteps: 1000\n")
    return _genau(ctx, config=tmp_path / "genau.yaml"), ["GenAU config", tmp_path / "genau.yaml", "not valid YAML"]


@hostile("genau")
def config_without_model_params(ctx, tmp_path):
    (tmp_path / "genau.yaml").write_text("model:\n  target: src.models.genau_ddpm.GenAu\n")
    return _genau(ctx, config=tmp_path / "genau.yaml"), [
        tmp_path / "genau.yaml",
        "`model: params:` section",
        "top-level keys ['model']",
    ]


@hostile("genau")
def config_field_of_the_wrong_type(ctx, tmp_path):
    (tmp_path / "genau.yaml").write_text(REFERENCE_YAML.replace("group_size: [1, 4, 1]", "group_size: 4"))
    return _genau(ctx, config=tmp_path / "genau.yaml"), [
        "model.params.unet_config.params.group_size",
        "must be a list",
        "got 4",
    ]


@hostile("genau")
def config_schedule_out_of_range(ctx, tmp_path):
    (tmp_path / "genau.yaml").write_text(REFERENCE_YAML.replace("linear_start: 0.0015", "linear_start: -0.5"))
    return _genau(ctx, config=tmp_path / "genau.yaml"), ["linear_start=-0.5", "0 < linear_start <= linear_end < 1"]


@hostile("genau")
def config_with_an_include(ctx, tmp_path):
    (tmp_path / "genau.yaml").write_text("model: !include base.yaml\n")
    return _genau(ctx, config=tmp_path / "genau.yaml"), ["!include base.yaml", "paste the included file"]


@hostile("genau")
def vocoder_config_that_is_a_list(ctx, tmp_path):
    (tmp_path / "hifigan.json").write_text("[5, 4, 2, 2, 2]")
    return _genau(ctx, vocoder_config=tmp_path / "hifigan.json"), [
        tmp_path / "hifigan.json",
        "must be a JSON object",
        "got list",
    ]


@hostile("genau")
def vocoder_config_not_json(ctx, tmp_path):
    (tmp_path / "hifigan.json").write_text("{upsample_rates: [5, 4]}")
    return _genau(ctx, vocoder_config=tmp_path / "hifigan.json"), [
        tmp_path / "hifigan.json",
        "not valid JSON",
        "line 1",
    ]


@hostile("genau")
def clap_tokenizer_folder_without_tokenizer_files(ctx, tmp_path):
    folder = tmp_path / "roberta"
    ctx["pipe"].text_encoder.config.save_pretrained(folder)
    run = _genau(ctx, tokenizer=folder)
    return run, ["CLAP tokenizer", folder, "has no tokenizer files", "vocab.json", "pass tokenizer="]


@hostile("genau", InputFileNotFoundError)
def text_encoder_folder_that_does_not_exist(ctx, tmp_path):
    run = _genau(ctx, text_encoder_2=tmp_path / "flan-t5", tokenizer_2=tiny_text_tokenizer())
    return run, ["T5 text encoder not found", tmp_path / "flan-t5", "no such directory"]


@hostile("genau")
def out_dir_below_a_file_checked_before_the_checkpoint(ctx, tmp_path):
    (tmp_path / "file").write_text("")
    return (
        lambda: convert_genau_checkpoint(tmp_path / "absent.ckpt", tmp_path / "file" / "out"),
        ["out_dir", tmp_path / "file" / "out", "cannot be created", "is a file, not a directory"],
    )


def _genau_without(ctx, tmp_path, *keys):
    state = genau_reference_state_dict(ctx["pipe"])
    for key in keys:
        del state[key]
    return save_lightning(tmp_path / "bad.ckpt", state)


@hostile("genau")
def missing_vae_key_is_named_as_in_the_checkpoint(ctx, tmp_path):
    path = _genau_without(ctx, tmp_path, "first_stage_model.encoder.conv_in.weight")
    return _genau(ctx, checkpoint=path), ["'first_stage_model.encoder.conv_in.weight'", "needs to size the model"]


@hostile("genau")
def missing_clap_text_key_is_named_as_in_the_checkpoint(ctx, tmp_path):
    key = "cond_stage_models.0.model.text_branch.encoder.layer.0.attention.self.query.weight"
    return _genau(ctx, checkpoint=_genau_without(ctx, tmp_path, key)), [f"1 missing key(s): ['{key}']"], ["text_model."]


@hostile("genau")
def missing_t5_key_is_named_as_in_the_checkpoint(ctx, tmp_path):
    key = "cond_stage_models.1.model.encoder.block.0.layer.0.SelfAttention.q.weight"
    return _genau(ctx, checkpoint=_genau_without(ctx, tmp_path, key)), [f"1 missing key(s): ['{key}']"]


@hostile("genau")
def missing_weight_normed_vocoder_conv_is_named_as_in_the_checkpoint(ctx, tmp_path):
    state = reference_hifigan(ctx["pipe"].vocoder, weight_norm=True)
    del state["resblocks.2.convs1.1.weight_g"], state["resblocks.2.convs1.1.weight_v"]
    torch.save({"generator": state}, tmp_path / "hifigan.ckpt")
    return _genau(ctx, vocoder=tmp_path / "hifigan.ckpt"), [
        "2 missing key(s): ['resblocks.2.convs1.1.weight_g', 'resblocks.2.convs1.1.weight_v']"
    ]


@hostile("genau")
def clap_tokenizer_larger_than_the_text_encoders_vocabulary(ctx, tmp_path):
    return _genau(ctx, tokenizer=tiny_bart_tokenizer()), ["CLAP tokenizer", "300 tokens", "embeds only 64"]


@pytest.mark.parametrize("family, case, error", CASES)
def test_hostile_input(request, tmp_path, family, case, error):
    ctx = request.getfixturevalue(family)
    run, needles, *absent = case(ctx, tmp_path)
    with pytest.raises(error) as excinfo:
        run()
    _assert_one_line(excinfo.value, needles, *absent)
    assert not (tmp_path / "out").is_dir() or not any((tmp_path / "out").iterdir())  # nothing half-written


def test_out_dir_that_is_not_writable(tmp_path, monkeypatch):
    """(The tests run as root, who may write anywhere: os.access is what check_out_dir asks.)"""
    from hf_audiogen import checkpoint_io

    (tmp_path / "locked").mkdir()
    monkeypatch.setattr(checkpoint_io.os, "access", lambda path, mode: False)
    for out_dir, needles in (
        (tmp_path / "locked", ["out_dir", tmp_path / "locked", "is not writable"]),
        (tmp_path / "locked" / "new", ["cannot be created", tmp_path / "locked", "not writable"]),
    ):
        with pytest.raises(InvalidInputError) as excinfo:
            checkpoint_io.check_out_dir(out_dir)
        _assert_one_line(excinfo.value, needles)


def test_enough_hostile_cases():
    assert len(CASES) + len(FILE_CASES) * len(FAMILIES) >= 25


# ---------------------------------------------------------------------------------------------------------------------
# Error messages name the checkpoint's keys: the inverse renames are exact on whole checkpoints
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("norm", ["weight_norm", "time_group_norm"])
def test_codec_keys_map_back_to_the_audiocraft_names(norm):
    model = tiny_codec_model(seed=0, norm_type=norm, use_conv_shortcut=norm == "time_group_norm")
    theirs = _to_audiocraft_layout(model)  # written independently of the converter
    assert {audiocraft_key(key, model) for key in model.state_dict()} == set(theirs)
    assert all(rename_audiocraft_key(audiocraft_key(key, model)) == key for key in model.state_dict())


def test_audiogen_keys_map_back_to_the_audiocraft_names(audiogen):
    theirs = audiogen["pkg"]["best_state"]
    for key in theirs:
        for target, _ in _rename(key, "description"):
            assert _source_key(target, "description") == key


def test_autocap_keys_map_back_to_the_reference_names(autocap):
    for key in autocap["state"]:
        rule = _rename_autocap(key)
        for target in rule.targets if rule is not None else ():
            assert _reference_key(target) == key, target
    for tied in ("language_model.lm_head.weight", "language_model.model.encoder.embed_tokens.weight"):
        assert _reference_key(tied) == "decoder.model.shared.weight"
