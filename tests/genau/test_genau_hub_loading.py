"""``GenAUPipeline.from_pretrained("mali6/autocap", variant=...)`` on GenAU's release layout, against a local Hub emulator.

Only the far end of the network is faked (tests/hub_emulator.py serves the Hub's HTTP routes on 127.0.0.1):
huggingface_hub, transformers, diffusers and hf_audiogen run unchanged. The fixture repo ``mali6/autocap`` holds tiny
random-weight releases in the exact layout (Lightning ``<variant>.ckpt`` + ``<variant>.yaml``, the shared VAE and
HiFi-GAN ``{"generator": ...}`` files, AutoCap's files); ``google/flan-t5-large`` and ``roberta-base`` serve a tiny T5
and a tiny tokenizer under the ids the converted pipeline references.
"""

import io
import json
import logging

import pytest
import torch
from hub_emulator import HubEmulator, fetched, folder_files, isolate_hf_home, point_hub_at
from huggingface_hub import constants
from reference_genau import REFERENCE_YAML, original_pipeline, reference_hifigan, reference_state_dict
from transformers import ClapTextConfig, ClapTextModelWithProjection

from hf_audiogen.genau import GenAUPipeline
from hf_audiogen.hub_conversion import CONVERSION_INFO_NAME, converted_dir
from hf_audiogen.validation import InvalidInputError

from factories import tiny_text_tokenizer

REPO = "mali6/autocap"
T5_REPO, CLAP_TOKENIZER_REPO = "google/flan-t5-large", "roberta-base"
VARIANTS = ["genau-full-l", "genau-full-s", "genau-l-full-hq-data"]
LOGGER = "hf_audiogen.genau.hub_loading"


def _bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _lightning(state: dict) -> bytes:
    return _bytes({"state_dict": state, "epoch": 3, "global_step": 1500, "pytorch-lightning_version": "2.1.0"})


def _tiny_release_pipeline(seed: int, text_from: GenAUPipeline | None = None) -> GenAUPipeline:
    """The reference tiny pipeline with a CLAP text tower whose sizes the converter reads from the tensors (width
    64 = 1 head of 64, roberta's epsilon and padding id, as laion's tower); ``text_from``'s text encoders if given."""
    pipe = original_pipeline(seed)
    torch.manual_seed(seed + 7)
    clap = ClapTextModelWithProjection(
        ClapTextConfig(
            vocab_size=64,
            hidden_size=64,
            num_hidden_layers=1,
            num_attention_heads=1,
            intermediate_size=32,
            max_position_embeddings=32,
            projection_dim=8,
            pad_token_id=1,
            layer_norm_eps=1e-5,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )
    ).eval()
    components = {**pipe.components, "text_encoder": clap}
    if text_from is not None:
        components.update(text_encoder=text_from.text_encoder, text_encoder_2=text_from.text_encoder_2)
    pipe = GenAUPipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _vocoder_json(pipe) -> bytes:
    config = pipe.vocoder.config
    return json.dumps(
        {
            "resblock": "1",
            "num_mels": config.model_in_dim,
            "upsample_rates": config.upsample_rates,
            "upsample_kernel_sizes": config.upsample_kernel_sizes,
            "upsample_initial_channel": config.upsample_initial_channel,
            "resblock_kernel_sizes": config.resblock_kernel_sizes,
            "resblock_dilation_sizes": config.resblock_dilation_sizes,
            "sampling_rate": 16000,
        }
    ).encode()


@pytest.fixture(scope="module")
def pipes():
    old = _tiny_release_pipeline(0)
    return {"old": old, "new": _tiny_release_pipeline(1, text_from=old)}


@pytest.fixture(scope="module")
def repos(pipes, tmp_path_factory):
    """File trees of the fixture repos."""
    old, new = pipes["old"], pipes["new"]
    yaml = REFERENCE_YAML.encode()
    others = {  # in the real repo, never needed by a GenAU release that holds its VAE and vocoder
        "1dvae_64_344999.ckpt": b"not fetched",
        "hifigan_16k_64bins.ckpt": b"not fetched",
        "hifigan_16k_64bins.json": _vocoder_json(new),
        "autocap-full.ckpt": b"not fetched",
        "autocap-full.yaml": b"not fetched",
        "clap_htsat_tiny.pt": b"not fetched",
        "README.md": b"# autocap\n",
    }
    new_ckpt, old_ckpt = _lightning(reference_state_dict(new)), _lightning(reference_state_dict(old))
    main = {
        **others,
        "genau-full-l.ckpt": new_ckpt,
        "genau-full-l.yaml": yaml,
        "genau-full-s.ckpt": old_ckpt,
        "genau-full-s.yaml": yaml,
        "genau-l-full-hq-data.ckpt": new_ckpt,
        "genau-l-full-hq-data.yaml": yaml,
    }
    # A release whose GenAU checkpoint lacks the first stage: the VAE and the vocoder come from their own files.
    state = reference_state_dict(new)
    split = {k: v for k, v in state.items() if not k.startswith("first_stage_model.")}
    split["scale_factor"] = state["scale_factor"]
    vae = {k.removeprefix("first_stage_model."): v for k, v in state.items() if k.startswith("first_stage_model.")}
    vae = {k: v for k, v in vae.items() if not k.startswith("vocoder.")}
    split_files = {
        "genau-full-l.ckpt": _lightning(split),
        "genau-full-l.yaml": yaml,
        "1dvae_64_344999.ckpt": _lightning(vae),
        "hifigan_16k_64bins.ckpt": _bytes({"generator": reference_hifigan(new.vocoder, weight_norm=True)}),
        "hifigan_16k_64bins.json": _vocoder_json(new),
    }
    t5_dir, tokenizer_dir = tmp_path_factory.mktemp("t5"), tmp_path_factory.mktemp("tokenizer")
    old.text_encoder_2.save_pretrained(t5_dir)
    tiny_text_tokenizer().save_pretrained(t5_dir)
    tiny_text_tokenizer().save_pretrained(tokenizer_dir)
    return {
        "v1": {**others, "genau-full-l.ckpt": old_ckpt, "genau-full-l.yaml": yaml},
        "main": main,
        "split": split_files,
        "t5": folder_files(t5_dir),
        "tokenizer": folder_files(tokenizer_dir),
        "t5_dir": t5_dir,
    }


def _serve(hub: HubEmulator, repos) -> dict:
    shas = {"v1": hub.add_commit(REPO, repos["v1"], tags=("v1",)), "main": hub.add_commit(REPO, repos["main"])}
    hub.add_commit(T5_REPO, repos["t5"])
    hub.add_commit(CLAP_TOKENIZER_REPO, repos["tokenizer"])
    hub.add_commit("me/genau-split", repos["split"])
    hub.add_commit("me/genau-broken", {"genau-full-l.ckpt": repos["main"]["genau-full-l.ckpt"]})
    hub.add_commit("me/genau-private", repos["v1"], private=True, token="hf_secret")
    return shas


@pytest.fixture
def hub(repos, tmp_path, monkeypatch):
    isolate_hf_home(monkeypatch, tmp_path)
    with HubEmulator() as emulator:
        emulator.shas, emulator.t5_dir = _serve(emulator, repos), repos["t5_dir"]
        point_hub_at(monkeypatch, emulator.endpoint)
        yield emulator


def _latents(pipe, seed: int = 0):
    return pipe(
        ["a dog barks in the park", "rain falls"],
        num_inference_steps=2,
        audio_length_in_s=0.64,
        generator=torch.Generator().manual_seed(seed),
        output_type="latent",
        guidance_scale=3.0,
    ).audios


def _same_fit(pipe, original) -> bool:
    expected = original.transformer.state_dict()
    return all(torch.equal(value, expected[key]) for key, value in pipe.transformer.state_dict().items())


def test_release_is_fetched_converted_cached_and_generates(hub, pipes):
    pipe = GenAUPipeline.from_pretrained(REPO, variant="genau-full-l")
    assert _same_fit(pipe, pipes["new"])
    torch.testing.assert_close(_latents(pipe), _latents(pipes["new"]), rtol=0, atol=0)
    audio = pipe("a dog barks", num_inference_steps=2, audio_length_in_s=0.64).audios
    assert audio.shape == (1, 10240) and torch.isfinite(torch.as_tensor(audio)).all()

    # Only the variant's two files and the vocoder's JSON are fetched; the T5 comes from its own repo.
    assert fetched(hub, REPO) == {"genau-full-l.ckpt", "genau-full-l.yaml", "hifigan_16k_64bins.json"}
    assert "model.safetensors" in fetched(hub, T5_REPO)
    folder = converted_dir(REPO, hub.shas["main"], variant="genau-full-l")
    info = json.loads((folder / CONVERSION_INFO_NAME).read_text())
    assert info["referenced"] == {"tokenizer": "roberta-base", "tokenizer_2": T5_REPO, "text_encoder_2": T5_REPO}
    assert info["repo_variants"] == sorted(VARIANTS) and info["commit"] == hub.shas["main"]
    assert (folder / "text_encoder").is_dir()  # CLAP's text tower has no Hub repo to point at
    assert not any((folder / name).exists() for name in ("text_encoder_2", "tokenizer", "tokenizer_2"))

    # The converted folder is a local path like any other; local copies replace the referenced components.
    local = GenAUPipeline.from_pretrained(folder, text_encoder_2=str(hub.t5_dir), tokenizer_2=hub.t5_dir)
    torch.testing.assert_close(_latents(local), _latents(pipe), rtol=0, atol=0)


def test_variants(hub, pipes, repos):
    small = GenAUPipeline.from_pretrained(REPO, variant="genau-full-s")
    assert _same_fit(small, pipes["old"])
    with pytest.raises(InvalidInputError, match="no GenAU variant 'genau-xl'; known variants: genau-full-l, ") as error:
        GenAUPipeline.from_pretrained(REPO, variant="genau-xl")
    assert "\n" not in str(error.value) and "autocap-full" not in str(error.value)
    with pytest.raises(InvalidInputError, match="several GenAU releases: pass variant= one of genau-full-l"):
        GenAUPipeline.from_pretrained(REPO)
    # A repo with one release needs no variant; one without the first stage fetches the VAE and vocoder files.
    split = GenAUPipeline.from_pretrained("me/genau-split")
    assert fetched(hub, "me/genau-split") == set(repos["split"])
    torch.testing.assert_close(_latents(split), _latents(pipes["new"]), rtol=0, atol=0)


def test_pinned_revision(hub, pipes):
    by_tag = GenAUPipeline.from_pretrained(REPO, variant="genau-full-l", revision="v1")
    assert _same_fit(by_tag, pipes["old"]) and not _same_fit(by_tag, pipes["new"])
    assert converted_dir(REPO, hub.shas["v1"], variant="genau-full-l").is_dir()
    assert not converted_dir(REPO, hub.shas["main"]).exists()
    by_sha = GenAUPipeline.from_pretrained(REPO, variant="genau-full-l", revision=hub.shas["v1"])
    assert _same_fit(by_sha, pipes["old"])


def test_second_call_uses_the_conversion_cache_with_the_server_stopped(repos, tmp_path, monkeypatch, caplog):
    isolate_hf_home(monkeypatch, tmp_path)
    with HubEmulator() as emulator:
        _serve(emulator, repos)
        point_hub_at(monkeypatch, emulator.endpoint)
        first = GenAUPipeline.from_pretrained(REPO, variant="genau-full-l")
        requests = len(emulator.requests)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger=LOGGER):
            again = GenAUPipeline.from_pretrained(REPO, variant="genau-full-l")
        assert "loading the cached conversion" in caplog.text and "converting" not in caplog.text
        assert not any(".ckpt" in path or ".yaml" in path for _, path in emulator.requests[requests:])
    reference = _latents(first)
    torch.testing.assert_close(_latents(again), reference, rtol=0, atol=0)

    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        unreachable = GenAUPipeline.from_pretrained(REPO, variant="genau-full-l")  # server stopped
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        offline = GenAUPipeline.from_pretrained(REPO, variant="genau-full-l")
    assert "converting" not in caplog.text
    for pipe in (unreachable, offline):
        torch.testing.assert_close(_latents(pipe), reference, rtol=0, atol=0)
    # Offline as online: the repo's variants were recorded, so one cached variant does not make variant= optional.
    with pytest.raises(InvalidInputError, match="several GenAU releases"):
        GenAUPipeline.from_pretrained(REPO)


def test_copy_text_encoders_makes_a_self_contained_conversion(hub, pipes):
    pipe = GenAUPipeline.from_pretrained(REPO, variant="genau-full-s", copy_text_encoders=True)
    folder = converted_dir(REPO, hub.shas["main"], variant="genau-full-s+text-encoders")
    assert all((folder / name).is_dir() for name in ("text_encoder_2", "tokenizer", "tokenizer_2"))
    assert not json.loads((folder / CONVERSION_INFO_NAME).read_text())["referenced"]
    torch.testing.assert_close(_latents(pipe), _latents(pipes["old"]), rtol=0, atol=0)


def test_private_repo_needs_its_token(hub, pipes):
    with pytest.raises(InvalidInputError, match=r"^cannot access Hub repo me/genau-private: .*token") as error:
        GenAUPipeline.from_pretrained("me/genau-private", variant="genau-full-l")
    assert "\n" not in str(error.value)
    pipe = GenAUPipeline.from_pretrained("me/genau-private", variant="genau-full-l", token="hf_secret")
    assert _same_fit(pipe, pipes["old"])


@pytest.mark.parametrize(
    "repo_id, kwargs, error, message",
    [
        ("me/genau-broken", {}, FileNotFoundError, "incomplete GenAU release 'genau-full-l': genau-full-l.yaml is"),
        ("me/no-such-repo", {}, InvalidInputError, "does not exist, or it is private"),
        (REPO, {"revision": "v9", "variant": "genau-full-l"}, InvalidInputError, "has no revision 'v9'"),
        (REPO, {"local_files_only": True, "variant": "genau-full-l"}, FileNotFoundError, "not in the local cache"),
    ],
)
def test_clear_one_line_errors(hub, repo_id, kwargs, error, message):
    with pytest.raises(error, match=message) as raised:
        GenAUPipeline.from_pretrained(repo_id, **kwargs)
    assert "\n" not in str(raised.value)


def test_offline_mode_without_a_cache(hub, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(FileNotFoundError, match=r"not in the local cache .*HF_HUB_OFFLINE=1"):
        GenAUPipeline.from_pretrained(REPO, variant="genau-full-l")
    assert hub.requests == []
