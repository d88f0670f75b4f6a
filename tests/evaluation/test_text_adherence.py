"""Text adherence of AudioGen (retrieval with a fixed audio embedding against the corpus as the model's codec renders
it, codec-reconstruction oracle, held-out NLL) on a tiny model and fake corpora built from the real fixture clips."""

import importlib.util
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_audiogen.audio import AudioError, load_audio
from hf_audiogen.audiogen import AudioGenPipeline
from hf_audiogen.evaluation import (
    AdherenceReport,
    CorpusIndex,
    LogMelStatisticsEmbedding,
    StandardizedCosine,
    chance_of_hit,
    codec_reconstruction,
    domain_check,
    evaluate_text_adherence,
    heldout_nll,
    oracle_retrieval,
)

from factories import tiny_audiogen_pipeline_dir

FIXTURES = Path(__file__).parents[1] / "fixtures" / "audio"
CLIPS = ["dog_bark.flac", "cow_moo.flac", "explosion.flac", "snow_footsteps.flac", "water_flowing.flac"]
FAST = dict(duration=0.2, progress_bar=False)


def make_corpus(folder: Path, rows) -> Path:
    """A corpus folder: ``rows`` of (fixture clip, caption, source, split[, group]) -> copies + metadata.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "metadata.jsonl", "w") as f:
        for i, (clip, caption, source, split, *group) in enumerate(rows):
            name = f"clips/{i:02d}_{clip}"
            (folder / name).parent.mkdir(exist_ok=True)
            shutil.copy(FIXTURES / clip, folder / name)
            row = {"file": name, "caption": caption, "source": source, "split": split}
            if group:
                row["group"] = group[0]
            f.write(json.dumps(row) + "\n")
    return folder


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return AudioGenPipeline.from_pretrained(tiny_audiogen_pipeline_dir(tmp_path_factory.mktemp("model")), device="cpu")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The five fixture clips as they are (four train, one validation)."""
    rows = [json.loads(line) for line in open(FIXTURES / "metadata.jsonl")]
    return make_corpus(
        tmp_path_factory.mktemp("corpus"), [(r["file"], r["caption"], r["source"], r["split"]) for r in rows]
    )


@pytest.fixture(scope="module")
def seven_clip_corpus(tmp_path_factory):
    """Captions A x3, B, C, D, E (7 clips): chance levels computed by hand below."""
    rows = [
        ("dog_bark.flac", "A", "s1", "train"),
        ("cow_moo.flac", "A", "s1", "train"),
        ("explosion.flac", "A", "s1", "train"),
        ("snow_footsteps.flac", "B", "s2", "train"),
        ("water_flowing.flac", "C", "s2", "validation"),
        ("dog_bark.flac", "D", "s2", "train"),
        ("cow_moo.flac", "E", "s2", "train"),
    ]
    return make_corpus(tmp_path_factory.mktemp("corpus7"), rows)


# ----------------------------------------------------------------------------------------------------------------------
# Embedding
# ----------------------------------------------------------------------------------------------------------------------
def test_embedding_shape_level_invariance_and_rate():
    embed = LogMelStatisticsEmbedding()
    audio, rate = load_audio(FIXTURES / "cow_moo.flac")
    features = embed([audio, audio[:4000]], sampling_rate=rate)
    assert features.shape == (2, 128) == (2, embed.dim) and features.dtype == np.float64
    assert np.all(np.isfinite(features))
    assert not np.allclose(features[0], features[1])  # a different excerpt, different statistics
    # peak normalisation: a quieter copy has the same embedding; without it, the log-mel means drop by log(10)
    np.testing.assert_allclose(embed(0.1 * audio, sampling_rate=rate)[0], features[0], atol=1e-4)
    raw = LogMelStatisticsEmbedding(peak_normalize=False)
    noise = 0.3 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)  # no bin near the log floor
    loud, quiet = raw([noise, 0.1 * noise], sampling_rate=16000)
    np.testing.assert_allclose(loud[:64] - quiet[:64], math.log(10), atol=1e-4)  # means shift, stds do not
    np.testing.assert_allclose(loud[64:], quiet[64:], atol=1e-4)
    # the same sound at 44.1 kHz is resampled to 16 kHz first (the top mel bin, at Nyquist, loses some energy to the
    # round trip's anti-aliasing filters)
    from hf_audiogen.audio import resample

    upsampled = embed(resample(audio, rate, 44100), sampling_rate=44100)[0]
    below_nyquist = np.r_[0:63, 64:127]
    np.testing.assert_allclose(upsampled[below_nyquist], features[0, below_nyquist], atol=0.05)
    # a clip shorter than the FFT window is padded, not rejected
    assert embed(audio[:300], sampling_rate=rate).shape == (1, 128)


def test_embedding_with_codec_latents_and_errors():
    from factories import tiny_codec_model

    codec = tiny_codec_model()
    embed = LogMelStatisticsEmbedding(codec=codec)
    audio, rate = load_audio(FIXTURES / "dog_bark.flac")
    features = embed(audio, sampling_rate=rate)
    assert features.shape == (1, 128 + codec.config.hidden_size) and "codec" in embed.name
    expected = codec.encode_latents(torch.from_numpy(audio)[None, None] / np.abs(audio).max() * 10 ** (-1 / 20))
    np.testing.assert_allclose(features[0, 128:], expected[0].double().mean(-1).detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(features[0, :128], LogMelStatisticsEmbedding()(audio, sampling_rate=rate)[0])
    with pytest.raises(AudioError, match="empty list"):
        embed([], sampling_rate=rate)
    with pytest.raises(AudioError, match="finite|NaN"):
        embed(np.array([0.0, np.nan, 1.0] * 1000), sampling_rate=rate)
    with pytest.raises(ValueError, match="hop_length .* must not exceed n_fft"):
        LogMelStatisticsEmbedding(n_fft=128, hop_length=256)
    with pytest.raises(ValueError, match="codec must be a CodecModel"):
        LogMelStatisticsEmbedding(codec="a codec")


def test_standardized_cosine():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(20, 3)) * [1.0, 100.0, 0.0] + [5.0, -50.0, 7.0]  # last dimension constant
    cosine = StandardizedCosine(reference)
    sims = cosine(reference, reference)
    assert sims.shape == (20, 20) and np.all(np.isfinite(sims))
    np.testing.assert_allclose(np.diag(sims), 1.0)
    # scale per dimension does not matter after standardisation: dimension 1 does not dominate the cosine
    z = (reference[:, :2] - reference[:, :2].mean(0)) / reference[:, :2].std(0)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    np.testing.assert_allclose(sims, z @ z.T, atol=1e-12)
    with pytest.raises(ValueError, match="N >= 2"):
        StandardizedCosine(reference[:1])
    with pytest.raises(ValueError, match=r"features must be \(N, 3\)"):
        cosine(reference[:, :2], reference)


# ----------------------------------------------------------------------------------------------------------------------
# Chance and oracle
# ----------------------------------------------------------------------------------------------------------------------
def test_chance_of_hit_exact_values():
    assert chance_of_hit(1, 10, 1) == pytest.approx(0.1)
    assert chance_of_hit(1, 10, 5) == pytest.approx(0.5)
    assert chance_of_hit(2, 10, 5) == pytest.approx(1 - 56 / 252)  # 1 - C(8,5)/C(10,5)
    assert chance_of_hit(3, 4, 2) == 1.0  # any 2 of 4 include one of the 3
    assert chance_of_hit(1, 3, 5) == 1.0  # k larger than the candidates: every clip is drawn
    assert chance_of_hit(0, 10, 5) == 0.0
    with pytest.raises(ValueError, match="num_matching .* exceeds num_candidates"):
        chance_of_hit(4, 3, 1)
    with pytest.raises(ValueError, match="k must be a non-negative int"):
        chance_of_hit(1, 3, 1.5)


def test_oracle_on_duplicated_clips_is_perfect(tmp_path):
    rows = [(clip, f"caption {i}", "src", "train", f"group {i}{copy}") for i, clip in enumerate(CLIPS) for copy in "ab"]
    rows.append(("dog_bark.flac", "a caption nobody else has", "src", "train", "lonely"))
    index = CorpusIndex.from_corpus(make_corpus(tmp_path, rows), progress_bar=False)
    assert len(index) == 11
    scores = oracle_retrieval(index)
    # the 10 duplicated clips are queries (the singleton is not); each finds its identical copy first
    assert (scores.num_queries, scores.top1, scores.top5) == (10, 1.0, 1.0)
    assert scores.chance_top1 == pytest.approx(1 / 10)  # one matching clip among the 10 others
    assert scores.chance_top5 == pytest.approx(chance_of_hit(1, 10, 5))
    ranking = index.rank_leave_one_out([0])
    assert ranking[0, 0] == 1 and ranking[0, -1] == 0  # the copy first, the query itself last


def test_oracle_across_recordings_excludes_the_query_group(tmp_path):
    # "dog" twice from one recording (group g1) and once from another (g2); "other" clips from distinct groups
    rows = [
        ("dog_bark.flac", "dog", "s", "train", "g1"),
        ("dog_bark.flac", "dog", "s", "train", "g1"),
        ("cow_moo.flac", "dog", "s", "train", "g2"),
        ("explosion.flac", "boom", "s", "train", "g3"),
        ("water_flowing.flac", "water", "s", "train", "g4"),
    ]
    index = CorpusIndex.from_corpus(make_corpus(tmp_path, rows), progress_bar=False)
    cross = oracle_retrieval(index, exclude_same_group=True)
    # queries: the three "dog" clips (each has a "dog" clip in another group); candidates outside the query's group:
    # 3 (one "dog"), 3 (one "dog") and 4 (two "dog") clips
    assert cross.num_queries == 3
    assert cross.chance_top1 == pytest.approx((1 / 3 + 1 / 3 + 2 / 4) / 3)
    ranking = index.rank_leave_one_out([0], exclude_same_group=True)
    assert set(ranking[0, -2:]) == {0, 1}  # the query and its same-recording twin are ranked last
    plain = oracle_retrieval(index)  # the identical twins find each other when their group is not excluded
    assert plain.num_queries == 3 and plain.top1 >= 2 / 3


# ----------------------------------------------------------------------------------------------------------------------
# Codec domain: the index holds what the codec makes of the clips, as generated audio comes out of that codec
# ----------------------------------------------------------------------------------------------------------------------
def test_codec_reconstruction_is_the_codec_round_trip(pipe):
    codec = pipe.model.codec
    audio, rate = load_audio(FIXTURES / "cow_moo.flac")
    decoded, decoded_rate = codec_reconstruction(codec, audio, rate)
    assert decoded_rate == codec.config.sampling_rate == rate and decoded.shape == audio.shape
    with torch.no_grad():
        expected = codec.decode(codec.encode(torch.from_numpy(audio)[None, None]))[0, 0, : len(audio)]
    np.testing.assert_allclose(decoded, expected.numpy(), atol=1e-6)
    assert not np.allclose(decoded, audio, atol=1e-2)  # the tiny codec is far from transparent
    from hf_audiogen.audio import resample

    upsampled, upsampled_rate = codec_reconstruction(codec, resample(audio, rate, 32000), 32000)
    assert upsampled_rate == rate and abs(len(upsampled) - len(audio)) <= 1  # resampled to the codec's rate first
    with pytest.raises(ValueError, match="mono audio"):
        codec_reconstruction(codec, np.stack([audio, audio]), rate)


def test_index_domains_and_reconstruction_queries(pipe, corpus):
    codec = pipe.model.codec
    index = CorpusIndex.from_corpus(corpus, codec=codec, progress_bar=False)  # codec domain by default with a codec
    assert index.domain == "codec" and "codec reconstructions" in index.describe()
    embed = LogMelStatisticsEmbedding()
    audio, rate = load_audio(FIXTURES / "dog_bark.flac")  # clip 0 of the corpus
    np.testing.assert_allclose(
        index.keys[0], index.similarity.unit_vectors(embed(*codec_reconstruction(codec, audio, rate)))[0], atol=1e-9
    )
    # whole-clip queries are the indexed reconstructions themselves: each retrieves its own clip
    np.testing.assert_allclose(index.similarity.unit_vectors(index.reconstruction_queries), index.keys, atol=1e-9)
    assert domain_check(index) == {"num_queries": 5, "self_top1": 1.0}
    short = CorpusIndex.from_corpus(corpus, codec=codec, query_seconds=0.5, progress_bar=False)
    np.testing.assert_allclose(short.keys, index.keys)  # the index is the same, the queries are 0.5 s crops
    expected = embed(*codec_reconstruction(codec, audio[:8000], rate))[0]
    np.testing.assert_allclose(short.reconstruction_queries[0], expected, atol=1e-9)

    raw = CorpusIndex.from_corpus(corpus, codec=codec, domain="raw", progress_bar=False)
    assert raw.domain == "raw" and raw.reconstruction_queries is not None
    np.testing.assert_allclose(raw.keys, CorpusIndex.from_corpus(corpus, progress_bar=False).keys)
    # decoded audio of every clip lands on one "hub" clip of the raw index: the old measure's blindness
    assert domain_check(raw)["self_top1"] <= 0.4
    assert CorpusIndex.from_corpus(corpus, progress_bar=False).reconstruction_queries is None
    with pytest.raises(ValueError, match="pass the evaluated model's codec"):
        CorpusIndex.from_corpus(corpus, domain="codec", progress_bar=False)
    with pytest.raises(ValueError, match="domain must be one of"):
        CorpusIndex.from_corpus(corpus, codec=codec, domain="latent", progress_bar=False)
    with pytest.raises(ValueError, match="build it with CorpusIndex.from_corpus"):
        domain_check(CorpusIndex.from_corpus(corpus, progress_bar=False))


def test_codec_reconstruction_oracle(pipe, tmp_path):
    # every clip twice (two recording groups): a clip's reconstruction finds its twin's in the codec domain
    rows = [(clip, f"caption {i}", "src", "train", f"group {i}{copy}") for i, clip in enumerate(CLIPS) for copy in "ab"]
    path = make_corpus(tmp_path, rows)
    codec = pipe.model.codec
    index = CorpusIndex.from_corpus(path, codec=codec, progress_bar=False)
    scores = oracle_retrieval(index, query_features=index.reconstruction_queries)
    assert (scores.num_queries, scores.top1, scores.top5) == (10, 1.0, 1.0)
    assert scores.chance_top1 == pytest.approx(1 / 9)
    raw = CorpusIndex.from_corpus(path, codec=codec, domain="raw", progress_bar=False)
    blind = oracle_retrieval(raw, query_features=raw.reconstruction_queries)
    assert blind.top1 <= 0.4  # decoded queries against raw clips: the hub again
    assert oracle_retrieval(raw).top1 == 1.0  # raw against raw looks perfect: the false reassurance


def test_a_model_that_renders_its_clips_is_seen_only_in_the_codec_domain(pipe, corpus, monkeypatch):
    """A stand-in for a perfectly adherent model: for each caption it returns its clip as the codec reconstructs it
    (what a model over this codec can at best produce). The codec-domain index sees it; a raw index does not."""
    rows = [json.loads(line) for line in open(FIXTURES / "metadata.jsonl")]
    clips = {r["caption"]: load_audio(FIXTURES / r["file"], sampling_rate=16000)[0] for r in rows}

    def render_the_clip(self, prompt, duration, num_return_sequences=1, **kwargs):
        audio = codec_reconstruction(self.model.codec, clips[prompt][: int(duration * 16000)], 16000)[0]
        return [{"audio": audio, "sampling_rate": 16000}] * num_return_sequences

    monkeypatch.setattr(AudioGenPipeline, "__call__", render_the_clip)
    report = evaluate_text_adherence(pipe, corpus, duration=2.0, paraphrases={}, progress_bar=False)
    assert report.overall.top1 == 1.0 and report.domain_check == {"num_queries": 5, "self_top1": 1.0}
    assert report.settings["index"].startswith("codec reconstructions")
    raw = evaluate_text_adherence(pipe, corpus, duration=2.0, paraphrases={}, index_domain="raw", progress_bar=False)
    assert raw.overall.top1 <= 0.4 and raw.domain_check["self_top1"] <= 0.4
    assert raw.settings["index"].startswith("raw clips")
    assert "domain check" in report.format_table()


# ----------------------------------------------------------------------------------------------------------------------
# Generation-based evaluation
# ----------------------------------------------------------------------------------------------------------------------
def test_report_fields_shapes_and_json(pipe, corpus, tmp_path):
    report = evaluate_text_adherence(
        pipe,
        corpus,
        num_samples_per_caption=2,
        seed=0,
        paraphrases={"cattle lowing in a field": "a cow mooing"},
        **FAST,
    )
    assert isinstance(report, AdherenceReport)
    assert report.overall.num_queries == 5 and report.paraphrases.num_queries == 1
    assert [p.kind for p in report.prompts] == ["caption"] * 5 + ["paraphrase"]
    assert report.prompts[-1].prompt == "cattle lowing in a field" and report.prompts[-1].target == "a cow mooing"
    for prompt in report.prompts:
        assert prompt.num_samples == 2 and len(prompt.nearest_captions) == 2
        assert all(len(near) == 5 for near in prompt.nearest_captions)  # 5 clips in the corpus, all ranked
        assert 0 <= prompt.top1_hits <= prompt.top5_hits == 2  # top-5 of 5 clips always contains the caption
    # 5 clips with distinct captions: chance is 1/5 for top-1 and certainty for top-5
    assert report.overall.chance_top1 == pytest.approx(0.2) and report.overall.chance_top5 == 1.0
    assert report.overall.top1 == pytest.approx(np.mean([p.top1_hits / 2 for p in report.prompts[:5]]))
    assert set(report.by_source) == {"ovos", "opensfx", "minetest"} and report.by_source["minetest"].num_queries == 3
    assert set(report.by_split) == {"train", "held-out"} and report.by_split["held-out"].num_queries == 1
    # every nearest caption is one of the 5 listed captions, so the shuffled baseline is exactly 1/5 (top-1)
    assert report.prompt_shuffled == {"top1": pytest.approx(0.2), "top5": pytest.approx(1.0)}
    assert report.oracle.num_queries == 0  # no caption repeats: nothing for the oracle to find
    assert report.settings["num_corpus_clips"] == 5 and report.settings["duration"] == 0.2

    data = json.loads(report.save(tmp_path / "r.json").read_text())  # valid JSON: NaN written as null
    assert data["oracle"]["top1"] is None and data["overall"]["num_queries"] == 5
    table = report.format_table()
    assert "corpus captions" in table and "cattle lowing in a field" in table


def test_chance_levels_on_hand_made_corpus(pipe, seven_clip_corpus):
    report = evaluate_text_adherence(pipe, seven_clip_corpus, captions=["A", "B"], paraphrases={}, oracle=False, **FAST)
    by_prompt = {p.prompt: p for p in report.prompts}
    assert by_prompt["A"].chance_top1 == pytest.approx(3 / 7) and by_prompt["A"].chance_top5 == 1.0  # 4 non-A < 5
    assert by_prompt["B"].chance_top1 == pytest.approx(1 / 7)
    assert by_prompt["B"].chance_top5 == pytest.approx(1 - 6 / 21)  # 1 - C(6,5)/C(7,5)
    assert report.overall.chance_top1 == pytest.approx((3 / 7 + 1 / 7) / 2)
    assert report.overall.chance_top5 == pytest.approx((1 + 15 / 21) / 2)
    assert report.by_source["s1"].chance_top1 == pytest.approx(3 / 7)
    assert report.paraphrases is None and report.oracle is None


def test_same_seed_same_report(pipe, corpus):
    index = CorpusIndex.from_corpus(corpus, codec=pipe.model.codec, query_seconds=FAST["duration"], progress_bar=False)
    first = evaluate_text_adherence(pipe, corpus, seed=3, index=index, paraphrases={}, **FAST)
    again = evaluate_text_adherence(pipe, corpus, seed=3, index=index, paraphrases={}, **FAST)
    assert first.to_dict() == again.to_dict()
    # the prebuilt index gives the same figures as the one built inside
    assert evaluate_text_adherence(pipe, corpus, seed=3, paraphrases={}, **FAST).to_dict() == first.to_dict()


def test_clear_errors(pipe, corpus, tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        evaluate_text_adherence(pipe, tmp_path / "missing", **FAST)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no metadata.jsonl"):
        evaluate_text_adherence(pipe, tmp_path / "empty", **FAST)
    with pytest.raises(ValueError, match="captions is an empty list"):
        evaluate_text_adherence(pipe, corpus, captions=[], **FAST)
    with pytest.raises(ValueError, match="'a spaceship' is not carried by any clip"):
        evaluate_text_adherence(pipe, corpus, captions=["a cow mooing", "a spaceship"], **FAST)
    with pytest.raises(ValueError, match="targets 'a spaceship', which no corpus clip carries"):
        evaluate_text_adherence(pipe, corpus, paraphrases={"a rocket": "a spaceship"}, **FAST)
    with pytest.raises(ValueError, match="embedding must be 'logmel' or 'logmel\\+codec'"):
        evaluate_text_adherence(pipe, corpus, embedding="clap", **FAST)
    with pytest.raises(ValueError, match="duration must be a positive number"):
        evaluate_text_adherence(pipe, corpus, duration=0, progress_bar=False)
    with pytest.raises(ValueError, match="model directory .* does not exist"):
        evaluate_text_adherence(tmp_path / "no-model", corpus, **FAST)
    with pytest.raises(ValueError, match="index_domain must be one of"):
        evaluate_text_adherence(pipe, corpus, index_domain="latent", **FAST)
    raw_index = CorpusIndex.from_corpus(corpus, progress_bar=False)  # no codec: nothing for the oracle to query with
    with pytest.raises(ValueError, match="no codec-reconstruction queries"):
        evaluate_text_adherence(pipe, corpus, index=raw_index, **FAST)
    assert evaluate_text_adherence(pipe, corpus, index=raw_index, oracle=False, paraphrases={}, **FAST).oracle is None


# ----------------------------------------------------------------------------------------------------------------------
# Held-out NLL
# ----------------------------------------------------------------------------------------------------------------------
def test_heldout_nll_matches_model_loss_and_hand_computed_unigram(pipe, corpus):
    result = heldout_nll(pipe, corpus, progress_bar=False)
    model, config = pipe.model, pipe.model.config
    assert result.split == "validation" and result.num_clips == 1
    frames = int(config.max_duration * config.frame_rate)  # the 2 s validation clip is cut to the 1 s window
    assert result.num_codes == config.decoder.num_codebooks * frames
    assert all(math.isfinite(v) for v in (result.nll, result.unconditional_nll, result.unigram_nll))
    assert result.uniform_nll == pytest.approx(math.log(config.decoder.codebook_size))

    # the model's own forward loss on that clip (all positions valid, equal counts per codebook -> same mean)
    def codes_of(name, seconds=None):
        audio, _ = load_audio(FIXTURES / name, sampling_rate=config.sampling_rate)
        audio = audio[: int(seconds * config.sampling_rate)] if seconds else audio
        return model.encode_audio(torch.from_numpy(audio)[None, None])[0]

    labels = codes_of("water_flowing.flac", config.max_duration)
    tokens = pipe.processor(text=["flowing water"], return_tensors="pt")
    with torch.no_grad():
        loss = model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"], labels=labels).loss
        unconditional = model(labels=labels).loss
    assert result.nll == pytest.approx(float(loss), rel=1e-5)
    assert result.unconditional_nll == pytest.approx(float(unconditional), rel=1e-5)

    # unigram by hand: add-one smoothed code frequencies of the four (whole) training clips, per codebook
    train = [codes_of(name)[0].numpy() for name in CLIPS[:4]]
    expected = 0.0
    for q in range(config.decoder.num_codebooks):
        counts = sum(np.bincount(codes[q], minlength=config.decoder.codebook_size) for codes in train) + 1.0
        expected -= np.log(counts / counts.sum())[labels[0, q].numpy()].sum()
    assert result.unigram_nll == pytest.approx(expected / result.num_codes, rel=1e-9)


def test_heldout_nll_errors(pipe, corpus):
    with pytest.raises(ValueError, match="no clip in split 'test'; its splits are"):
        heldout_nll(pipe, corpus, split="test", progress_bar=False)
    with pytest.raises(ValueError, match="max_seconds must be a positive number"):
        heldout_nll(pipe, corpus, max_seconds=-1, progress_bar=False)


# ----------------------------------------------------------------------------------------------------------------------
# Script
# ----------------------------------------------------------------------------------------------------------------------
def _script():
    path = Path(__file__).parents[2] / "training_scripts" / "eval_audiogen_adherence.py"
    spec = importlib.util.spec_from_file_location("eval_audiogen_adherence", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_writes_json_and_prints_table(pipe, corpus, tmp_path, capsys):
    script = _script()
    model_dir = tmp_path / "model"
    pipe.save_pretrained(model_dir)
    out = tmp_path / "report.json"
    argv = [
        str(model_dir),
        str(corpus),
        "--out",
        str(out),
        "--duration",
        "0.2",
        "--no_paraphrases",
        "--no_progress",
        "--num_threads",
        "1",
    ]
    assert script.main(argv) == 0
    printed = capsys.readouterr().out
    assert "corpus captions" in printed and "held-out NLL" in printed and "eval_audiogen_adherence.py" in printed
    assert "codec-reconstruction oracle" in printed and "summary: model top-1" in printed
    data = json.loads(out.read_text())
    assert data["overall"]["num_queries"] == 5 and data["nll"]["num_clips"] == 1
    assert data["command"].endswith("--num_threads 1") and data["settings"]["duration"] == 0.2
    assert data["settings"]["model"] == str(model_dir)

    assert data["domain_check"]["num_queries"] == 5 and data["settings"]["index"].startswith("codec")

    oracle_out = tmp_path / "oracle.json"
    codec_dir = tmp_path / "codec"
    pipe.model.codec.save_pretrained(codec_dir)
    for codec_source in (codec_dir, model_dir):  # a codec directory, or a model's codec
        assert (
            script.main(
                ["--oracle_only", str(corpus), "--codec", str(codec_source), "--out", str(oracle_out), "--no_progress"]
            )
            == 0
        )
        oracle = json.loads(oracle_out.read_text())
        assert set(oracle) >= {"oracle", "oracle_cross_recording", "domain_check", "oracle_raw_clips", "command"}
        assert oracle["domain_check"]["self_top1"] == 1.0  # whole 2 s queries of clips up to 2 s: the indexed ones
    with pytest.raises(SystemExit):  # the oracle needs a codec
        script.main(["--oracle_only", str(corpus), "--out", str(oracle_out)])
    with pytest.raises(SystemExit):  # a model brings its own codec
        script.main([str(model_dir), str(corpus), "--codec", str(codec_dir)])

    capsys.readouterr()
    assert script.main([str(model_dir), str(tmp_path / "nowhere"), "--out", str(out), "--no_progress"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: corpus_dir")
    assert script.main([str(tmp_path / "no-model"), str(corpus), "--out", str(out), "--no_progress"]) == 2
    assert "error: model directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["--oracle_only", str(model_dir), str(corpus)])


def test_audio_journey_pipelines_are_measured_the_same_way(corpus, tmp_path):
    """The measure is family-agnostic: an Audio-Journey pipeline (object or saved folder) is indexed in its own
    codec's domain and generates through diffusers' calling convention; the report is seeded and complete."""
    from factories import tiny_audio_journey_pipeline

    journey = tiny_audio_journey_pipeline()
    settings = dict(duration=0.2, paraphrases={}, progress_bar=False, num_inference_steps=2, guidance_scale=1.0)
    report = evaluate_text_adherence(journey, corpus, seed=1, **settings)
    assert report.overall.num_queries == 5 and report.overall.chance_top1 == pytest.approx(0.2)
    assert report.settings["sampling"] == {"scheduler": type(journey.scheduler).__name__, **settings_sampling(settings)}
    assert report.oracle is not None  # the codec-reconstruction oracle ran with the pipeline's codec
    journey.save_pretrained(tmp_path / "journey")
    from_folder = evaluate_text_adherence(tmp_path / "journey", corpus, seed=1, **settings)
    assert from_folder.to_dict()["overall"] == report.to_dict()["overall"]
    assert [p.nearest_captions for p in from_folder.prompts] == [p.nearest_captions for p in report.prompts]
    with pytest.raises(ValueError, match="token-sampling settings"):
        evaluate_text_adherence(journey, corpus, top_k=5, **settings)


def settings_sampling(settings: dict) -> dict:
    return {name: settings[name] for name in ("guidance_scale", "num_inference_steps")}
