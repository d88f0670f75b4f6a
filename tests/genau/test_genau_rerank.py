"""GenAUPipeline CLAP re-ranking (``num_candidates_per_prompt``) with a tiny local ClapModel: selection by score,
count, order, determinism, the scorer itself, save/load and errors."""

import json

import numpy as np
import pytest
import soxr
import torch

from hf_audiogen.genau import GenAUPipeline
from hf_audiogen.genau.pipeline_genau import GenAUPipelineOutput

from factories import tiny_clap_scorer, tiny_genau_pipeline  # noqa: F401 (fixture)

PROMPTS = ["a dog barks in the park", "rain falls"]


@pytest.fixture(scope="module")
def pipe():
    base = tiny_genau_pipeline()
    # The tiny vocoder's HiFi-GAN init (std 0.01) makes ~1e-10 amplitudes, which CLAP cannot tell apart: use torch's
    # default conv init so that candidates sound (a little) different.
    torch.manual_seed(0)
    with torch.no_grad():
        for module in base.vocoder.modules():
            if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                module.reset_parameters()
    clap_model, clap_processor = tiny_clap_scorer()
    pipe = GenAUPipeline(**{**base.components, "clap_model": clap_model, "clap_processor": clap_processor})
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(pipe, seed=0, **kwargs):
    kwargs = {"num_inference_steps": 3, "audio_length_in_s": 0.64, **kwargs}
    return pipe(PROMPTS, generator=torch.Generator().manual_seed(seed), **kwargs)


def test_returns_the_best_candidates_by_clap_score_best_first(pipe):
    # Without re-ranking, 3 waveforms per prompt are exactly the candidates the re-ranking run draws (same seed,
    # same batch layout), so the re-ranked output must be their top 2 by score, in order.
    candidates = run(pipe, seed=3, num_waveforms_per_prompt=3, output_type="pt")
    assert candidates.clap_scores is None
    scores = pipe.score_audio_text(candidates.audios, [p for p in PROMPTS for _ in range(3)]).view(2, 3)
    assert len(set(scores.flatten().tolist())) == 6  # distinct, so the order is well defined
    assert (scores.argmax(dim=1) != 0).all()  # (seed chosen so that) keeping the first candidates would be wrong

    out = run(pipe, seed=3, num_waveforms_per_prompt=2, num_candidates_per_prompt=3, output_type="pt")
    assert isinstance(out, GenAUPipelineOutput)
    assert out.audios.shape == (4, 10240) and out.clap_scores.shape == (4,)
    for i in range(2):
        order = scores[i].argsort(descending=True)[:2]
        torch.testing.assert_close(out.audios[2 * i : 2 * i + 2], candidates.audios[3 * i + order])
        torch.testing.assert_close(out.clap_scores[2 * i : 2 * i + 2], scores[i, order])
        assert out.clap_scores[2 * i] >= out.clap_scores[2 * i + 1]

    best = run(pipe, seed=3, num_candidates_per_prompt=3, output_type="np")  # the reference's setting: best 1 of 3
    assert best.audios.shape == (2, 10240) and isinstance(best.clap_scores, np.ndarray)
    np.testing.assert_allclose(best.clap_scores, scores.max(dim=1).values.numpy(), rtol=1e-6)


def test_seeded_reranking_is_deterministic_and_tuple_output(pipe):
    a = run(pipe, num_candidates_per_prompt=2, seed=3)
    b = run(pipe, num_candidates_per_prompt=2, seed=3)
    assert np.array_equal(a.audios, b.audios) and np.array_equal(a.clap_scores, b.clap_scores)
    audio, scores = run(pipe, num_candidates_per_prompt=2, seed=3, return_dict=False)
    assert np.array_equal(audio, a.audios) and np.array_equal(scores, a.clap_scores)
    assert len(run(pipe, seed=3, return_dict=False)) == 1  # no scores without re-ranking


def test_score_is_the_clap_cosine_similarity_of_48khz_audio_and_text(pipe):
    """The score equals ClapModel.forward's audio-text logit divided by its temperature, on audio resampled to the
    feature extractor's 48 kHz."""
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((3, 8000))).astype(np.float32)
    texts = ["a dog barks in the park", "rain falls on a tin roof", "birds sing"]
    scores = pipe.score_audio_text(audio, texts)

    processor, model = pipe.clap_processor, pipe.clap_model
    audio_48k = soxr.resample(audio.T, 16000, 48000, quality="HQ").T
    features = processor.feature_extractor(list(audio_48k), sampling_rate=48000, return_tensors="pt")
    tokens = processor.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        outputs = model(
            input_ids=tokens.input_ids,
            attention_mask=tokens.attention_mask,
            input_features=features.input_features,
            is_longer=features.is_longer,
        )
    logits = outputs.logits_per_audio
    expected = logits.diagonal() / model.logit_scale_a.exp()
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-6)
    assert scores.abs().max() <= 1.0


def test_clips_longer_than_the_scorers_window_score_the_same_every_time(pipe):
    """ClapFeatureExtractor crops clips longer than max_length_s (1 s here) at a random place with numpy's global RNG;
    the pipeline scores the centre window instead, so scores (and re-ranking) do not depend on that RNG."""
    rng = np.random.default_rng(1)
    audio = (0.1 * rng.standard_normal((2, 48000))).astype(np.float32)  # 3 s at 16 kHz, 9 s at 48 kHz
    texts = ["a dog barks in the park", "rain falls"]
    scores = []
    for numpy_seed in (0, 1, 2):
        np.random.seed(numpy_seed)
        scores.append(pipe.score_audio_text(audio, texts))
    assert torch.equal(scores[0], scores[1]) and torch.equal(scores[0], scores[2])
    edges, centre = audio.copy(), audio.copy()
    edges[:, :8000] = 0.1 * rng.standard_normal((2, 8000))  # the first 0.5 s: outside the centre 1 s window
    centre[:, 20000:28000] = 0.1 * rng.standard_normal((2, 8000))  # inside it
    torch.testing.assert_close(pipe.score_audio_text(edges, texts), scores[0])
    assert not torch.allclose(pipe.score_audio_text(centre, texts), scores[0])


def test_save_load_keeps_the_scorer(pipe, tmp_path):
    before = run(pipe, num_candidates_per_prompt=2)
    pipe.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["clap_model"] == ["transformers", "ClapModel"] and index["clap_processor"][1] == "ClapProcessor"
    loaded = GenAUPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    after = run(loaded, num_candidates_per_prompt=2)
    assert np.array_equal(after.audios, before.audios) and np.array_equal(after.clap_scores, before.clap_scores)


def test_errors(pipe):
    plain = tiny_genau_pipeline()
    plain.set_progress_bar_config(disable=True)
    with pytest.raises(ValueError, match="needs a CLAP scorer: build the pipeline with clap_model"):
        run(plain, num_candidates_per_prompt=3)
    with pytest.raises(ValueError, match="CLAP scoring needs a scorer"):
        plain.score_audio_text(np.zeros((1, 100), np.float32), ["x"])
    with pytest.raises(ValueError, match=r"num_candidates_per_prompt .*must be an integer in \[2, 64\], got 1"):
        run(pipe, num_waveforms_per_prompt=2, num_candidates_per_prompt=1)
    with pytest.raises(ValueError, match="re-ranking scores waveforms"):
        run(pipe, num_candidates_per_prompt=2, output_type="latent")
    with pytest.raises(ValueError, match="expected \\(n, samples\\) waveforms and n texts"):
        pipe.score_audio_text(np.zeros((2, 100), np.float32), ["x"])
    with pytest.raises(ValueError, match="together with its clap_processor"):
        GenAUPipeline(**{**pipe.components, "clap_processor": None})
    with pytest.raises(ValueError, match="clap_model must be a transformers ClapModel"):
        GenAUPipeline(**{**pipe.components, "clap_model": pipe.text_encoder})


def test_scorer_can_be_added_to_a_saved_pipeline_without_one(tmp_path):
    plain = tiny_genau_pipeline()
    plain.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "model_index.json").read_text())["clap_model"] == [None, None]
    clap_model, clap_processor = tiny_clap_scorer()
    pipe = GenAUPipeline.from_pretrained(tmp_path, clap_model=clap_model, clap_processor=clap_processor)
    pipe.set_progress_bar_config(disable=True)
    out = pipe("rain", num_candidates_per_prompt=2, num_inference_steps=2, audio_length_in_s=0.32)
    assert pipe.clap_model is clap_model and out.audios.shape == (1, 5120) and out.clap_scores.shape == (1,)
