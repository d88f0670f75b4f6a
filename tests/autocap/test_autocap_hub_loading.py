"""``AutoCapPipeline.from_pretrained("mali6/autocap")`` on AutoCap's release layout, against a local Hub emulator.

Only the far end of the network is faked (tests/hub_emulator.py serves the Hub's HTTP routes on 127.0.0.1):
huggingface_hub, transformers and hf_audiogen run unchanged. The fixture repo ``mali6/autocap`` holds a tiny
random-weight ``autocap-full.ckpt`` (Lightning, the reference's key names) + ``autocap-full.yaml`` next to GenAU's
files; ``facebook/bart-base`` serves a tiny BART tokenizer under the id the converted processor references.
"""

import io
import json
import logging

import numpy as np
import pytest
import torch
import yaml
from hub_emulator import HubEmulator, fetched, folder_files, isolate_hf_home, point_hub_at
from huggingface_hub import constants
from reference_autocap import TINY, _randomised, reference_state_dict, reference_yaml

from hf_audiogen.autocap import AutoCapPipeline
from hf_audiogen.hub_conversion import CONVERSION_INFO_NAME, converted_dir
from hf_audiogen.validation import InvalidInputError

from factories import tiny_autocap_model, tiny_bart_tokenizer

REPO, BART_REPO = "mali6/autocap", "facebook/bart-base"
LOGGER = "hf_audiogen.autocap.hub_loading"
CLIP = np.random.default_rng(0).standard_normal(16000).astype(np.float32)


def _lightning(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save({"state_dict": state, "epoch": 19, "global_step": 1234, "pytorch-lightning_version": "2.1.0"}, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def models():
    old, new = _randomised(tiny_autocap_model(seed=2, **TINY)), _randomised(tiny_autocap_model(seed=2, **TINY))
    with torch.no_grad():  # _randomised draws the same values for both: make the second commit's model differ
        for parameter in new.parameters():
            parameter.mul_(-0.5)
    return {"old": old, "new": new}


@pytest.fixture(scope="module")
def repos(models, tmp_path_factory):
    def release(model) -> dict:
        text = yaml.safe_dump(reference_yaml(model.config)).replace("'!module src.", "!module 'src.")
        return {"autocap-full.ckpt": _lightning(reference_state_dict(model)), "autocap-full.yaml": text.encode()}

    others = {name: b"not fetched" for name in ("genau-full-l.ckpt", "genau-full-l.yaml", "1dvae_64_344999.ckpt")}
    tokenizer_dir = tmp_path_factory.mktemp("bart")
    tiny_bart_tokenizer().save_pretrained(tokenizer_dir)
    return {
        "v1": {**others, **release(models["old"])},
        "main": {**others, **release(models["new"]), "README.md": b"# autocap\n"},
        "bart": folder_files(tokenizer_dir),
        "bart_dir": tokenizer_dir,
    }


def _serve(hub: HubEmulator, repos) -> dict:
    shas = {"v1": hub.add_commit(REPO, repos["v1"], tags=("v1",)), "main": hub.add_commit(REPO, repos["main"])}
    hub.add_commit(BART_REPO, repos["bart"])
    hub.add_commit("me/autocap-broken", {"autocap-full.ckpt": repos["main"]["autocap-full.ckpt"]})
    hub.add_commit("me/autocap-private", repos["v1"], private=True, token="hf_secret")
    return shas


@pytest.fixture
def hub(repos, tmp_path, monkeypatch):
    isolate_hf_home(monkeypatch, tmp_path)
    with HubEmulator() as emulator:
        emulator.shas = _serve(emulator, repos)
        point_hub_at(monkeypatch, emulator.endpoint)
        yield emulator


def _same_weights(pipe, model) -> bool:
    expected = model.state_dict()
    return all(torch.equal(value, expected[key]) for key, value in pipe.model.state_dict().items())


def _caption(pipe) -> str:
    return pipe(CLIP, sampling_rate=16000, max_new_tokens=4)


def test_release_is_fetched_converted_cached_and_captions(hub, models, repos):
    pipe = AutoCapPipeline.from_pretrained(REPO, variant="autocap-full", device="cpu")
    assert _same_weights(pipe, models["new"])
    assert isinstance(_caption(pipe), str) and pipe.processor.tag_token_offset == 300
    assert fetched(hub, REPO) == {"autocap-full.ckpt", "autocap-full.yaml"}

    folder = converted_dir(REPO, hub.shas["main"], variant="autocap-full")
    info = json.loads((folder / CONVERSION_INFO_NAME).read_text())
    assert info["referenced"] == {"tokenizer": BART_REPO} and info["repo_variants"] == ["autocap-full"]
    assert not any(path.name.startswith(("tokenizer", "vocab", "merges")) for path in folder.iterdir())

    # The repo's only AutoCap release needs no variant=; the converted folder loads as a local path, with a local
    # tokenizer copy as well.
    assert _caption(AutoCapPipeline.from_pretrained(REPO, device="cpu")) == _caption(pipe)
    local = AutoCapPipeline.from_pretrained(folder, tokenizer=repos["bart_dir"], device="cpu")
    assert _caption(local) == _caption(pipe)


def test_unknown_variant_lists_the_known_ones(hub):
    with pytest.raises(InvalidInputError, match="no AutoCap variant 'autocap-xl'; known variants: autocap-full$"):
        AutoCapPipeline.from_pretrained(REPO, variant="autocap-xl")


def test_pinned_revision(hub, models):
    by_tag = AutoCapPipeline.from_pretrained(REPO, revision="v1", device="cpu")
    assert _same_weights(by_tag, models["old"]) and not _same_weights(by_tag, models["new"])
    assert converted_dir(REPO, hub.shas["v1"], variant="autocap-full").is_dir()
    by_sha = AutoCapPipeline.from_pretrained(REPO, revision=hub.shas["v1"], device="cpu")
    assert _same_weights(by_sha, models["old"])


def test_second_call_uses_the_conversion_cache_with_the_server_stopped(repos, tmp_path, monkeypatch, caplog):
    isolate_hf_home(monkeypatch, tmp_path)
    with HubEmulator() as emulator:
        _serve(emulator, repos)
        point_hub_at(monkeypatch, emulator.endpoint)
        first = AutoCapPipeline.from_pretrained(REPO, device="cpu")
        requests = len(emulator.requests)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger=LOGGER):
            again = AutoCapPipeline.from_pretrained(REPO, device="cpu")
        assert "loading the cached conversion" in caplog.text and "converting" not in caplog.text
        assert not any(".ckpt" in path or ".yaml" in path for _, path in emulator.requests[requests:])
    reference = _caption(first)
    assert _caption(again) == reference

    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        unreachable = AutoCapPipeline.from_pretrained(REPO, device="cpu")  # server stopped
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        offline = AutoCapPipeline.from_pretrained(REPO, variant="autocap-full", device="cpu")
    assert "converting" not in caplog.text
    assert _caption(unreachable) == _caption(offline) == reference


def test_copy_tokenizer_makes_a_self_contained_conversion(hub, models):
    pipe = AutoCapPipeline.from_pretrained(REPO, copy_tokenizer=True, device="cpu")
    folder = converted_dir(REPO, hub.shas["main"], variant="autocap-full+tokenizer")
    assert (folder / "tokenizer_config.json").is_file()
    assert json.loads((folder / CONVERSION_INFO_NAME).read_text())["referenced"] == {}
    plain = AutoCapPipeline.from_pretrained(folder, device="cpu")
    assert _same_weights(plain, models["new"]) and _caption(plain) == _caption(pipe)


def test_private_repo_needs_its_token(hub, models):
    with pytest.raises(InvalidInputError, match=r"^cannot access Hub repo me/autocap-private: .*token") as error:
        AutoCapPipeline.from_pretrained("me/autocap-private")
    assert "\n" not in str(error.value)
    pipe = AutoCapPipeline.from_pretrained("me/autocap-private", token="hf_secret", device="cpu")
    assert _same_weights(pipe, models["old"])


@pytest.mark.parametrize(
    "repo_id, kwargs, error, message",
    [
        ("me/autocap-broken", {}, FileNotFoundError, "incomplete AutoCap release 'autocap-full': autocap-full.yaml is"),
        ("me/no-such-repo", {}, InvalidInputError, "does not exist, or it is private"),
        (REPO, {"revision": "v9"}, InvalidInputError, "has no revision 'v9'"),
        (REPO, {"local_files_only": True}, FileNotFoundError, "not in the local cache"),
    ],
)
def test_clear_one_line_errors(hub, repo_id, kwargs, error, message):
    with pytest.raises(error, match=message) as raised:
        AutoCapPipeline.from_pretrained(repo_id, **kwargs)
    assert "\n" not in str(raised.value)


def test_offline_mode_without_a_cache(hub, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(FileNotFoundError, match=r"not in the local cache .*HF_HUB_OFFLINE=1"):
        AutoCapPipeline.from_pretrained(REPO)
    assert hub.requests == []
