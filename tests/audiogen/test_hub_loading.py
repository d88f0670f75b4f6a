"""``AudioGenPipeline.from_pretrained(<Hub id>)`` on an audiocraft release, against a local Hub emulator.

Only the far end of the network is emulated (tests/hub_emulator.py serves the Hub's HTTP routes on 127.0.0.1):
huggingface_hub, transformers and hf_audiogen run unchanged, with ``huggingface_hub.constants`` pointed at the emulator
and at a per-test cache.
"""

import io
import logging

import numpy as np
import pytest
import torch
import yaml
from hub_emulator import HubEmulator
from huggingface_hub import constants
from reference_audiocraft import _audiocraft_state_dict, _to_audiocraft_layout, _xp_cfg, _xp_cfg_dict
from safetensors import safe_open
from transformers.utils import hub as transformers_hub

from hf_audiogen.audiogen import AudioGenPipeline
from hf_audiogen.audiogen.hub_loading import CONVERSION_INFO_NAME, converted_dir
from hf_audiogen.validation import InvalidInputError

from factories import tiny_audiogen_model, tiny_codec_model, tiny_text_tokenizer

REPO = "facebook/audiogen-tiny"
T5_REPO = "google-t5/t5-large"  # the id the fixture's xp.cfg names ("t5-large"), serving a tiny T5
FAST = dict(duration=0.1, seed=0)


def _bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _audiocraft_files(model, codec) -> dict[str, bytes]:
    lm = {"best_state": _audiocraft_state_dict(model), "xp.cfg": yaml.safe_dump(_xp_cfg_dict(model))}
    compression = {"best_state": _to_audiocraft_layout(codec), "xp.cfg": _xp_cfg().replace("n_q: 3", "n_q: 2")}
    return {
        "state_dict.bin": _bytes({**lm, "version": "1.3.0", "exported": True}),
        "compression_state_dict.bin": _bytes(compression),
        "README.md": b"# audiogen-tiny\n",
        "big_unused_file.bin": b"x" * 1000,  # never fetched
    }


def _folder_files(path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    """Files of the fixture repos: two commits of an audiocraft-layout AudioGen, its T5, broken variants."""
    old, new = tiny_audiogen_model(seed=3), tiny_audiogen_model(seed=4)
    codec = tiny_codec_model(seed=1, num_quantizers=2)
    # Both LMs must share the T5 the repo's xp.cfg names.
    new.text_encoder.load_state_dict(old.text_encoder.state_dict())
    t5_dir = tmp_path_factory.mktemp("t5")
    old.text_encoder.save_pretrained(t5_dir)
    tiny_text_tokenizer().save_pretrained(t5_dir)
    return {"old": old, "new": new, "codec": codec, "t5": _folder_files(t5_dir)}


def _serve(hub: HubEmulator, repos) -> dict[str, str]:
    shas = {
        "old": hub.add_commit(REPO, _audiocraft_files(repos["old"], repos["codec"]), tags=("v1",)),
        "new": hub.add_commit(REPO, _audiocraft_files(repos["new"], repos["codec"])),
    }
    hub.add_commit(T5_REPO, repos["t5"])
    files = _audiocraft_files(repos["old"], repos["codec"])
    hub.add_commit("facebook/audiogen-broken", {"state_dict.bin": files["state_dict.bin"]})
    hub.add_commit("me/audiogen-private", files, private=True, token="hf_secret")
    return shas


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    """A fresh HF cache, no token, online, and huggingface_hub's endpoint set by ``point_at``."""
    monkeypatch.setattr(constants, "HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))

    def point_at(endpoint: str) -> None:
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        monkeypatch.setattr(constants, "ENDPOINT", endpoint)
        monkeypatch.setattr(
            constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        )
        # transformers keeps one HfApi, built with the endpoint of its first use (huggingface.co if an earlier test
        # touched it): drop it so that it is rebuilt against the emulator.
        monkeypatch.setattr(transformers_hub, "_hf_api", None)

    return point_at


@pytest.fixture
def hub(repos, hub_env):
    with HubEmulator() as emulator:
        emulator.shas = _serve(emulator, repos)
        hub_env(emulator.endpoint)
        yield emulator


def _same_decoder(pipe, model) -> bool:
    expected = model.decoder.state_dict()
    return all(torch.equal(value, expected[key]) for key, value in pipe.model.decoder.state_dict().items())


def test_hub_id_is_fetched_converted_cached_and_generates(hub, repos):
    pipe = AudioGenPipeline.from_pretrained(REPO, device="cpu")
    assert _same_decoder(pipe, repos["new"])
    audio = pipe("a dog barks", progress_bar=False, **FAST)["audio"]
    assert audio.shape == (1600,) and np.isfinite(audio).all()

    fetched = {path for method, path in hub.requests if method == "GET" and "/resolve/" in path}
    assert {p.rsplit("/", 1)[-1] for p in fetched if p.startswith(f"/{REPO}/")} == {
        "state_dict.bin",
        "compression_state_dict.bin",
    }
    folder = converted_dir(REPO, hub.shas["new"])
    assert (folder / CONVERSION_INFO_NAME).is_file()
    with safe_open(str(folder / "model.safetensors"), "pt") as weights:  # the T5 is referenced, not copied
        assert not any(key.startswith("text_encoder.") for key in weights.keys())
    assert pipe.model.config.text_encoder_source == T5_REPO


def test_pinned_revision(hub, repos):
    by_tag = AudioGenPipeline.from_pretrained(REPO, revision="v1", device="cpu")
    assert _same_decoder(by_tag, repos["old"]) and not _same_decoder(by_tag, repos["new"])
    assert converted_dir(REPO, hub.shas["old"]).is_dir() and not converted_dir(REPO, hub.shas["new"]).exists()
    by_sha = AudioGenPipeline.from_pretrained(REPO, revision=hub.shas["old"], device="cpu")
    assert _same_decoder(by_sha, repos["old"])


def test_second_call_uses_the_conversion_cache_with_the_server_stopped(repos, hub_env, monkeypatch, caplog):
    with HubEmulator() as emulator:
        _serve(emulator, repos)
        hub_env(emulator.endpoint)
        first = AudioGenPipeline.from_pretrained(REPO, device="cpu")
        requests = len(emulator.requests)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="hf_audiogen.audiogen.hub_loading"):
            online_again = AudioGenPipeline.from_pretrained(REPO, device="cpu")
        assert "loading the cached conversion" in caplog.text and "converting" not in caplog.text
        # Only the revision lookup and the T5 check: no checkpoint is downloaded again.
        assert not any("state_dict.bin" in path for _, path in emulator.requests[requests:])
    reference = first("rain", progress_bar=False, **FAST)["audio"]
    assert np.array_equal(online_again("rain", progress_bar=False, **FAST)["audio"], reference)

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hf_audiogen.audiogen.hub_loading"):
        unreachable = AudioGenPipeline.from_pretrained(REPO, device="cpu")  # server stopped
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        offline = AudioGenPipeline.from_pretrained(REPO, device="cpu")
    assert "converting" not in caplog.text
    for pipe in (unreachable, offline):
        assert np.array_equal(pipe("rain", progress_bar=False, **FAST)["audio"], reference)


def test_private_repo_needs_its_token(hub, repos):
    with pytest.raises(InvalidInputError, match=r"^cannot access Hub repo me/audiogen-private: .*token") as error:
        AudioGenPipeline.from_pretrained("me/audiogen-private")
    assert "\n" not in str(error.value)
    pipe = AudioGenPipeline.from_pretrained("me/audiogen-private", token="hf_secret", device="cpu")
    assert _same_decoder(pipe, repos["old"])


@pytest.mark.parametrize(
    "repo_id, kwargs, error, message",
    [
        ("facebook/audiogen-broken", {}, FileNotFoundError, "compression_state_dict.bin is missing"),
        ("facebook/no-such-repo", {}, InvalidInputError, "does not exist, or it is private"),
        (REPO, {"revision": "v9"}, InvalidInputError, "has no revision 'v9'"),
        (REPO, {"local_files_only": True}, FileNotFoundError, "not in the local cache"),
    ],
)
def test_clear_one_line_errors(hub, repo_id, kwargs, error, message):
    with pytest.raises(error, match=message) as raised:
        AudioGenPipeline.from_pretrained(repo_id, **kwargs)
    assert "\n" not in str(raised.value)


def test_offline_mode_without_a_cache(hub, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(FileNotFoundError, match=r"not in the local cache .*HF_HUB_OFFLINE=1"):
        AudioGenPipeline.from_pretrained(REPO)
    assert hub.requests == []
