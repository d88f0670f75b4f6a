"""Model cards and Hub pushes (hf_audiogen.hub), offline.

The Hub is faked at its HTTP boundary only (see shared/reference/hf.md §6): ``HfApi.create_repo``,
``HfApi.create_commit`` and ``HfApi._validate_yaml`` are replaced and ``hf_xet`` is switched off, so the real
``upload_folder`` code runs (file listing, ignore patterns, README validation hook) and the fakes record what would be
sent.
"""

import json
import re
import runpy
from pathlib import Path
from unittest import mock

import pytest
import torch
from huggingface_hub import HfApi, ModelCard
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.hf_api import CommitInfo, RepoUrl
from safetensors.torch import save_file

from hf_audiogen import cli, hub

CODEC_CONFIG = {
    "model_type": "hf_audiogen_codec",
    "architectures": ["CodecModel"],
    "sampling_rate": 16000,
    "upsampling_ratios": [8, 5, 4, 2],
    "num_quantizers": 4,
    "codebook_size": 1024,
    "hidden_size": 64,
    "num_filters": 16,
    "norm_type": "weight_norm",
    "use_causal_conv": False,
}
MODEL_FILES = {"README.md", "config.json", "model.safetensors", "preprocessor_config.json"}


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def codec_dir(tmp_path: Path) -> Path:
    """A save_pretrained-like codec directory (3x4 + 10 = 22 stored values) plus training leftovers."""
    d = tmp_path / "codec-tiny"
    _write_json(d / "config.json", CODEC_CONFIG)
    _write_json(d / "preprocessor_config.json", {"sampling_rate": 16000, "feature_size": 1})
    save_file({"encoder.weight": torch.zeros(3, 4), "decoder.bias": torch.zeros(10)}, str(d / "model.safetensors"))
    (d / "checkpoint-100").mkdir()
    save_file({"encoder.weight": torch.zeros(50, 50)}, str(d / "checkpoint-100" / "model.safetensors"))
    (d / "checkpoint-100" / "optimizer.pt").write_bytes(b"state")
    for leftover in ("optimizer.pt", "scheduler.pt", "random_states_0.pkl", "__pycache__/x.cpython-311.pyc"):
        (d / leftover).parent.mkdir(exist_ok=True)
        (d / leftover).write_bytes(b"x")
    return d


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A local corpus in the layout of `hf-audiogen data build-sfx-corpus` (metadata.jsonl + ATTRIBUTION.md)."""
    d = tmp_path / "sfx_corpus"
    d.mkdir()
    records = [
        {"file": "a0.flac", "caption": "door creaks", "source": "minetest-data", "licence": "CC0-1.0", "duration": 1.5},
        {
            "file": "a1.flac",
            "caption": "wood breaks",
            "source": "minetest-data",
            "licence": "CC-BY-SA-3.0",
            "duration": 2.5,
        },
        {
            "file": "b0.flac",
            "caption": "train horn",
            "source": "openttd-opensfx",
            "licence": "GPL-2.0",
            "duration": 3.0,
        },
    ]
    (d / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    (d / "ATTRIBUTION.md").write_text("# Attribution\n\n- a1.flac: by Jane Doe (CC-BY-SA-3.0)\n", encoding="utf-8")
    return d


class FakeHub:
    """Records what HfApi would send; only the HTTP calls are replaced."""

    def __init__(self):
        self.create_repo_calls, self.commits, self.validated = [], [], []

    def create_repo(self, api, repo_id, **kwargs):
        self.create_repo_calls.append({"repo_id": repo_id, "token": api.token, **kwargs})
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_commit(self, api, repo_id, operations, *, commit_message, **kwargs):
        operations = list(operations)
        readme = [op for op in operations if op.path_in_repo == "README.md"]
        self.commits.append(
            {
                "repo_id": repo_id,
                "paths": sorted(op.path_in_repo for op in operations),
                "message": commit_message,
                "readme": Path(readme[0].path_or_fileobj).read_text(encoding="utf-8") if readme else None,
            }
        )
        return CommitInfo(
            commit_url=f"https://huggingface.co/{repo_id}/commit/abc123",
            commit_message=commit_message,
            commit_description="",
            oid="abc123",
        )

    def validate_yaml(self, api, content, **kwargs):
        self.validated.append(content)


@pytest.fixture
def fake_hub():
    fake = FakeHub()

    def as_method(record):  # a plain function set on the class binds to the HfApi instance (to see its token)
        return lambda api, *args, **kwargs: record(api, *args, **kwargs)

    with (
        mock.patch.object(HfApi, "create_repo", as_method(fake.create_repo)),
        mock.patch.object(HfApi, "create_commit", as_method(fake.create_commit)),
        mock.patch.object(HfApi, "_validate_yaml", as_method(fake.validate_yaml)),
        mock.patch("huggingface_hub.hf_api.is_xet_available", lambda: False),
    ):
        yield fake


def _card_metadata(readme_text: str) -> dict:
    return ModelCard(readme_text).data.to_dict()


# ----------------------------------------------------------------------------------------------- reading a model dir
def test_detect_family_from_model_type_and_model_index(tmp_path):
    cases = {
        "hf_audiogen_codec": "codec",
        "hf_audiogen_audiogen": "audiogen",
        "genau": "genau",
        "hf_audiogen_autocap": "autocap",
        "hf_audiogen_genau_vae": "genau",
    }
    for model_type, family in cases.items():
        _write_json(tmp_path / model_type / "config.json", {"model_type": model_type})
        assert hub.detect_family(tmp_path / model_type) == family
    _write_json(tmp_path / "pipe" / "model_index.json", {"_class_name": "GenAUPipeline"})
    assert hub.detect_family(tmp_path / "pipe") == "genau"

    _write_json(tmp_path / "encodec" / "config.json", {"model_type": "encodec"})
    with pytest.raises(ValueError, match=r"model_type='encodec'.*hf_audiogen_codec, hf_audiogen_audiogen"):
        hub.detect_family(tmp_path / "encodec")
    _write_json(tmp_path / "sd" / "model_index.json", {"_class_name": "StableDiffusionPipeline"})
    with pytest.raises(ValueError, match="_class_name='StableDiffusionPipeline'"):
        hub.detect_family(tmp_path / "sd")


def test_count_parameters_reads_headers_and_skips_checkpoints(codec_dir, tmp_path):
    assert hub.count_parameters(codec_dir) == {"": 22}  # checkpoint-100/ (2500 values) is not counted

    pipe = tmp_path / "pipe"
    _write_json(pipe / "model_index.json", {"_class_name": "GenAUPipeline"})
    (pipe / "transformer").mkdir()
    (pipe / "vae").mkdir()
    save_file({"w": torch.zeros(7, 3)}, str(pipe / "transformer" / "diffusion_pytorch_model.safetensors"))
    save_file({"w": torch.zeros(5)}, str(pipe / "vae" / "diffusion_pytorch_model-00001-of-00002.safetensors"))
    save_file(
        {"b": torch.zeros(2, 2, dtype=torch.bfloat16)},
        str(pipe / "vae" / "diffusion_pytorch_model-00002-of-00002.safetensors"),
    )
    assert hub.count_parameters(pipe) == {"transformer": 21, "vae": 9}


# ----------------------------------------------------------------------------------------------- the card
def test_codec_card_metadata_and_architecture(codec_dir):
    card = hub.write_model_card(codec_dir, repo_id="me/codec-tiny", datasets=["my-org/audiocaps-mini"])
    readme = (codec_dir / "README.md").read_text(encoding="utf-8")
    assert readme == str(card)
    meta = _card_metadata(readme)
    assert meta["library_name"] == "hf_audiogen"
    assert meta["pipeline_tag"] == "audio-to-audio"
    assert meta["license"] == "cc-by-nc-4.0"
    assert meta["datasets"] == ["my-org/audiocaps-mini"]
    assert {"audio-tokenizer", "neural-audio-codec", "hf_audiogen"} <= set(meta["tags"])
    assert "language" not in meta  # audio in, audio out
    assert "| Parameters | 22 |" in readme
    # 16 kHz / (8*5*4*2) = 50 frames/s; 50 * 4 codebooks * log2(1024) = 2 kbit/s
    assert "| Frame rate (Hz) | 50 |" in readme and "| Bitrate of the codes (kbit/s) | 2 |" in readme
    assert "| Codes per codebook | 1024 |" in readme
    assert 'CodecModel.from_pretrained("me/codec-tiny")' in readme
    assert "@inproceedings{kreuk2023audiogen" in readme
    assert "{{" not in readme and "{%" not in readme


def test_card_training_eval_and_data_sections(codec_dir, corpus_dir):
    training_args = {
        "command": ["python", "training_scripts/train_codec.py", "--out", "my dir"],
        "max_steps": 2000,
        "per_device_train_batch_size": 8,
        "learning_rate": 3e-4,
        "seed": 0,
    }
    hub.write_model_card(
        codec_dir,
        training_args=training_args,
        eval_results={"si_snr_db": 5.123, "mel_l1": 0.91},
        datasets=[corpus_dir, {"name": "Extra clips", "license": "CC0-1.0", "url": "https://x.org"}],
    )
    readme = (codec_dir / "README.md").read_text(encoding="utf-8")
    assert "python training_scripts/train_codec.py --out 'my dir'" in readme  # the exact, shell-quoted command
    assert "| Training steps | 2000 |" in readme
    assert "| Batch size (per device) | 8 |" in readme
    assert "| Learning rate | 0.0003 |" in readme
    assert "|  | si_snr_db | 5.123 |" in readme and "|  | mel_l1 | 0.91 |" in readme
    # the corpus is summarised per source with clip counts, durations and licences
    assert "| sfx_corpus/minetest-data | 2 | 4.0 s | CC0-1.0 (1), CC-BY-SA-3.0 (1) |" in readme
    assert "| sfx_corpus/openttd-opensfx | 1 | 3.0 s | GPL-2.0 |" in readme
    assert "| [Extra clips](https://x.org) |  |  | CC0-1.0 |" in readme
    assert "a1.flac: by Jane Doe" in readme and "\n#### Attribution\n" in readme  # heading demoted under the card's
    assert "datasets" not in _card_metadata(readme)  # local folders are not Hub dataset ids


def test_card_reads_training_args_and_eval_results_from_the_directory(codec_dir):
    _write_json(codec_dir / "training_args.json", {"command": "accelerate launch train.py", "lr": 1e-3, "steps": 5})
    _write_json(codec_dir / "eval_results.json", {"test": {"si_snr_db": 4.5}})
    readme = str(hub.write_model_card(codec_dir))
    assert "accelerate launch train.py" in readme and "| Learning rate | 0.001 |" in readme
    assert "| Training steps | 5 |" in readme
    assert "| test | si_snr_db | 4.5 |" in readme


def test_cards_of_the_other_families(tmp_path):
    ag = tmp_path / "audiogen"
    _write_json(
        ag / "config.json",
        {
            "model_type": "hf_audiogen_audiogen",
            "architectures": ["AudioGenForConditionalGeneration"],
            "decoder": {"hidden_size": 32, "num_hidden_layers": 2, "num_codebooks": 4, "vocab_size": 1024},
            "audio_encoder": {"sampling_rate": 16000, "upsampling_ratios": [8, 5, 4, 2]},
        },
    )
    save_file({"w": torch.zeros(4, 4)}, str(ag / "model.safetensors"))
    readme = str(hub.write_model_card(ag, base_model="facebook/audiogen-medium"))
    meta = _card_metadata(readme)
    assert (meta["pipeline_tag"], meta["language"], meta["base_model"]) == (
        "text-to-audio",
        ["en"],
        "facebook/audiogen-medium",
    )
    assert "| Transformer layers | 2 |" in readme and "| Frame rate (Hz) | 50 |" in readme
    assert 'pipeline("text-to-audio", model="<your-namespace>/audiogen")' in readme

    genau = tmp_path / "genau"
    _write_json(
        genau / "model_index.json",
        {
            "_class_name": "GenAUPipeline",
            "transformer": ["hf_audiogen", "FiT"],
            "scheduler": ["diffusers", "DDIMScheduler"],
            "text_encoder": [None, None],
            "text_encoder_2": ["transformers", "T5EncoderModel"],
        },
    )
    _write_json(genau / "transformer" / "config.json", {"num_layers": 3})
    _write_json(genau / "scheduler" / "scheduler_config.json", {"num_train_timesteps": 1000})
    save_file({"w": torch.zeros(10)}, str(genau / "transformer" / "diffusion_pytorch_model.safetensors"))
    readme = str(hub.write_model_card(genau))
    assert _card_metadata(readme)["pipeline_tag"] == "text-to-audio"
    assert "| Denoiser blocks | 3 |" in readme and "| Scheduler | DDIMScheduler |" in readme
    assert "| Parameters of `transformer` | 10 |" in readme
    assert "| Text encoder (T5 slot) | T5EncoderModel |" in readme and "CLAP slot" not in readme  # absent: not listed
    assert "@article{hajiali2024taming" in readme and "@misc{michaels2023audiojourney" in readme

    autocap = tmp_path / "autocap"
    _write_json(autocap / "config.json", {"model_type": "hf_audiogen_autocap", "num_query_tokens": 256})
    readme = str(hub.write_model_card(autocap, eval_results={"AudioCaps": {"CIDEr": 83.2}}))
    assert _card_metadata(readme)["pipeline_tag"] == "audio-text-to-text"
    assert "| Parameters | unknown (no .safetensors weights) |" in readme
    assert "| AudioCaps | CIDEr | 83.2 |" in readme
    assert "| Q-Former query tokens | 256 |" in readme

    # use_qformer=False keeps the unused Q-Former sizes in its config: the card must not list them as architecture
    _write_json(
        autocap / "config.json", {"model_type": "hf_audiogen_autocap", "num_query_tokens": 256, "use_qformer": False}
    )
    readme = str(hub.write_model_card(autocap))
    assert "Q-Former query tokens" not in readme
    assert "| Q-Former | none (every audio frame goes to BART) |" in readme


def test_card_rejects_bad_arguments(codec_dir, tmp_path):
    with pytest.raises(
        ValueError, match=r"family must be one of \['audio_journey', 'audiogen', 'autocap', 'codec', 'genau'\]"
    ):
        hub.write_model_card(codec_dir, family="musicgen")
    with pytest.raises(ValueError, match="license must be a Hub licence identifier.*'CC BY 4.0'"):
        hub.write_model_card(codec_dir, license="CC BY 4.0")
    with pytest.raises(ValueError, match="invalid base_model .*'not/a/model'"):
        hub.write_model_card(codec_dir, base_model="not/a/model")
    with pytest.raises(ValueError, match="dataset 'no such--dir' is neither an existing local folder"):
        hub.write_model_card(codec_dir, datasets=["no such--dir"])
    with pytest.raises(ValueError, match=r"eval_results\['fad'\] must be a number"):
        hub.write_model_card(codec_dir, eval_results={"fad": [1, 2]})
    with pytest.raises(FileNotFoundError, match="training_args file 'missing.json' does not exist"):
        hub.write_model_card(codec_dir, training_args="missing.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has neither config.json nor model_index.json"):
        hub.write_model_card(tmp_path / "empty")
    assert not (codec_dir / "README.md").exists()  # nothing is written when an argument is bad


# ----------------------------------------------------------------------------------------------- pushing
def test_push_uploads_the_model_but_not_training_leftovers(codec_dir, fake_hub):
    url = hub.push_to_hub(codec_dir, "me/codec-tiny", token="hf_fake")
    assert url == "https://huggingface.co/me/codec-tiny/commit/abc123"
    assert fake_hub.create_repo_calls == [
        {"repo_id": "me/codec-tiny", "token": "hf_fake", "private": False, "exist_ok": True, "repo_type": "model"}
    ]
    (commit,) = fake_hub.commits
    assert set(commit["paths"]) == MODEL_FILES  # no checkpoint-100/, optimizer/scheduler states, caches
    assert commit["message"] == "Upload codec-tiny with hf_audiogen"
    assert fake_hub.validated == [commit["readme"]]  # the README's YAML goes through the (faked) Hub validation
    meta = _card_metadata(commit["readme"])
    assert (meta["library_name"], meta["pipeline_tag"], meta["license"]) == (
        "hf_audiogen",
        "audio-to-audio",
        "cc-by-nc-4.0",
    )
    assert 'CodecModel.from_pretrained("me/codec-tiny")' in commit["readme"]


def test_push_forwards_private_and_commit_message(codec_dir, fake_hub):
    hub.push_to_hub(codec_dir, "me/codec-tiny", private=True, commit_message="first release")
    assert fake_hub.create_repo_calls[0]["private"] is True
    assert fake_hub.commits[0]["message"] == "first release"


def test_push_card_only_sends_only_the_readme(codec_dir, fake_hub):
    hub.push_to_hub(codec_dir, "me/codec-tiny", card_only=True)
    assert fake_hub.commits[0]["paths"] == ["README.md"]
    assert fake_hub.commits[0]["message"] == "Update model card"
    assert _card_metadata(fake_hub.commits[0]["readme"])["pipeline_tag"] == "audio-to-audio"


def test_push_keeps_an_existing_card_but_replaces_a_placeholder(codec_dir, fake_hub):
    own_card = "---\nlicense: mit\nlibrary_name: hf_audiogen\n---\n# My hand-written card\n"
    (codec_dir / "README.md").write_text(own_card, encoding="utf-8")
    hub.push_to_hub(codec_dir, "me/codec-tiny", card_only=True)
    assert fake_hub.commits[-1]["readme"] == own_card

    # the card PyTorchModelHubMixin.save_pretrained writes is a placeholder: it is replaced by the family card
    placeholder = (
        "---\ntags:\n- model_hub_mixin\n---\n\nThis model has been pushed to the Hub using the "
        "[PytorchModelHubMixin](https://huggingface.co/docs) integration:\n"
    )
    (codec_dir / "README.md").write_text(placeholder, encoding="utf-8")
    hub.push_to_hub(codec_dir, "me/codec-tiny", card_only=True)
    assert hub.CARD_MARKER in fake_hub.commits[-1]["readme"]

    # explicit card arguments refresh the card
    hub.push_to_hub(codec_dir, "me/codec-tiny", card_only=True, license="apache-2.0")
    assert _card_metadata(fake_hub.commits[-1]["readme"])["license"] == "apache-2.0"


@pytest.mark.parametrize(
    "repo_id, message",
    [
        ("me/codec--tiny", "invalid repo id 'me/codec--tiny'.*Cannot have -- or"),
        ("a/b/c", "invalid repo id 'a/b/c'.*form 'repo_name' or 'namespace/repo_name'"),
        ("", "repo id must be a non-empty string"),
    ],
)
def test_push_rejects_invalid_repo_ids_before_any_request(codec_dir, fake_hub, repo_id, message):
    with pytest.raises(ValueError, match=message):
        hub.push_to_hub(codec_dir, repo_id)
    assert fake_hub.create_repo_calls == [] and fake_hub.commits == []


def test_push_rejects_missing_or_unsaved_directories(tmp_path, fake_hub):
    with pytest.raises(FileNotFoundError, match="model directory '.*nowhere' does not exist"):
        hub.push_to_hub(tmp_path / "nowhere", "me/x")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "weights.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="'.*notes' has neither config.json nor model_index.json"):
        hub.push_to_hub(tmp_path / "notes", "me/x")
    assert fake_hub.create_repo_calls == []


# ----------------------------------------------------------------------------------------------- CLI
def test_cli_card_and_push(codec_dir, corpus_dir, fake_hub, capsys):
    assert (
        cli.main(
            [
                "card",
                str(codec_dir),
                "--family",
                "codec",
                "--repo-id",
                "me/codec-tiny",
                "--license",
                "apache-2.0",
                "--dataset",
                str(corpus_dir),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == f"wrote {codec_dir / 'README.md'} (audio-to-audio, licence apache-2.0)"

    assert cli.main(["push", str(codec_dir), "me/codec-tiny", "--private", "--message", "v1"]) == 0
    url = "https://huggingface.co/me/codec-tiny/commit/abc123"
    assert capsys.readouterr().out.strip() == f"pushed {codec_dir} to {url}"
    assert fake_hub.create_repo_calls[0]["private"] is True
    assert set(fake_hub.commits[0]["paths"]) == MODEL_FILES
    assert _card_metadata(fake_hub.commits[0]["readme"])["license"] == "apache-2.0"  # the card written by `card`

    assert cli.main(["push", str(codec_dir), "me/codec-tiny", "--card-only"]) == 0
    assert fake_hub.commits[1]["paths"] == ["README.md"]


def test_cli_errors_are_one_line(codec_dir, tmp_path, fake_hub, capsys):
    assert cli.main(["push", str(tmp_path / "nowhere"), "me/x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hf-audiogen push: error: model directory")

    assert cli.main(["push", str(codec_dir), "me/x--y"]) == 2
    assert re.fullmatch(r"hf-audiogen push: error: invalid repo id 'me/x--y': .*\n", capsys.readouterr().err)

    assert cli.main(["card", str(codec_dir), "--family", "wavenet"]) == 2
    assert capsys.readouterr().err.startswith("hf-audiogen card: error: family must be one of")

    response = mock.Mock(status_code=401, headers={}, url="https://huggingface.co/api/repos/create")
    unauthorized = HfHubHTTPError(
        "401 Client Error: Unauthorized for url: https://huggingface.co/api/repos/create\n"
        "Invalid credentials in Authorization header",
        response=response,
    )
    with mock.patch.object(HfApi, "create_repo", side_effect=unauthorized):
        assert cli.main(["push", str(codec_dir), "me/x"]) == 2
    err = capsys.readouterr().err
    assert (
        err == "hf-audiogen push: error: push to me/x failed: 401 Client Error: Unauthorized for url: "
        "https://huggingface.co/api/repos/create\n"
    )


def test_cli_push_without_hub_access_is_a_one_line_error(codec_dir, monkeypatch, capsys):
    import huggingface_hub.constants

    # the real client, stopped by huggingface_hub's own offline switch before any connection is made
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert cli.main(["push", str(codec_dir), "me/x", "--token", "hf_fake"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        "hf-audiogen push: error: push to me/x failed: Cannot reach "
        "https://huggingface.co/api/repos/create: offline mode is enabled"
    )


# ----------------------------------------------------------------------------------------------- a real model
def test_push_a_real_codec_and_run_the_card_snippet(tmp_path, fake_hub, monkeypatch):
    from hf_audiogen.codec import CodecFeatureExtractor

    from factories import tiny_codec_model

    model = tiny_codec_model()  # codebooks k-means initialised, so the snippet's encode gives real codes
    model_dir = tmp_path / "codec-real"
    model.save_pretrained(model_dir)
    CodecFeatureExtractor(sampling_rate=model.config.sampling_rate).save_pretrained(model_dir)

    hub.push_to_hub(model_dir, "me/codec-real")
    (commit,) = fake_hub.commits
    assert {"README.md", "config.json", "model.safetensors", "preprocessor_config.json"} <= set(commit["paths"])
    stored = sum(t.numel() for t in model.state_dict().values())  # parameters + persistent buffers (codebooks)
    assert f"| Parameters | {hub._format_count(stored)} |" in commit["readme"]
    assert "| Codebooks (RVQ streams) | 3 |" in commit["readme"] and "| Frame rate (Hz) | 50 |" in commit["readme"]

    # the usage snippet of the card runs as written (with the Hub id pointing at the local directory)
    snippet = re.findall(r"```python\n(.*?)```", commit["readme"], flags=re.DOTALL)[0]
    script = tmp_path / "snippet.py"
    script.write_text(snippet.replace('"me/codec-real"', repr(str(model_dir))), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script))
    assert (tmp_path / "reconstruction.wav").stat().st_size > 16000  # one second of 16-bit audio was written
