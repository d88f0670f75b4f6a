"""``evaluate_audio`` / ``hf-audiogen evaluate``: the protocol table, every bad input failing in one line before any
extraction, pairing, prompts, the reference-statistics round trip, and the command end to end on short synthetic clips
with the real VGGish and CNN14 on random weights.

Most tests swap the registry's extractors for tiny deterministic ones (band energies of the clip), so that the
planning, pairing and bookkeeping are tested in milliseconds; the file and cache handling stays the real
``extract_embeddings``."""

import importlib
import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from hf_audiogen.cli import main
from hf_audiogen.evaluation import audio_evaluation
from hf_audiogen.evaluation.audio_evaluation import (
    METRIC_KINDS,
    PROTOCOLS,
    ReferenceStatistics,
    evaluate_audio,
    load_prompts,
    save_reference_stats,
)
from hf_audiogen.evaluation.distances import frechet_distance
from hf_audiogen.evaluation.extractors import EXTRACTORS, extractor_class
from hf_audiogen.evaluation.extractors.base import AudioEmbeddingExtractor, ExtractorOutput
from hf_audiogen.validation import InvalidInputError

RATE = 16000
TONES = (250.0, 500.0, 1000.0, 2000.0)


# ------------------------------------------------------------------------------------------------ fixtures
def _write_clips(folder, tones, seconds=1.0, seed=0, names=None):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    for i, tone in enumerate(tones):
        audio = 0.4 * np.sin(2 * np.pi * tone * t) + 0.02 * rng.standard_normal(t.size)
        sf.write(folder / f"{names[i] if names else f'clip{i}'}.wav", audio.astype(np.float32), RATE)
    return folder


class _TinyExtractor(AudioEmbeddingExtractor):
    """Energies in the four bands around :data:`TONES`, per 0.25 s frame (or their clip mean), and logits that
    follow them: a stand-in with the real interface, deterministic and instant."""

    sampling_rate = RATE
    embedding_dim = 4
    num_classes = 4
    official_weights = "https://example.invalid/tiny.pth"

    def __init__(self, seed=0, **options):
        super().__init__()
        self.options = options
        self.weights_source = f"random(seed={seed})"

    @classmethod
    def from_random(cls, seed=0, **options):
        return cls(seed, **options)

    @classmethod
    def from_pretrained(cls, weights, **options):
        extractor = cls(**options)
        extractor.weights_source = str(weights)
        return extractor

    def embed(self, waveform):
        frames = waveform[: len(waveform) // 4000 * 4000].reshape(-1, 4000).double()
        spectrum = torch.fft.rfft(frames).abs() ** 2
        freqs = torch.fft.rfftfreq(4000, 1 / RATE)
        bands = torch.stack([spectrum[:, (freqs > f / 1.4) & (freqs < f * 1.4)].sum(1) for f in TONES], 1)
        rows = bands if self.name == "clap" else torch.log1p(bands)  # "clap": the tone's band dominates the direction
        if self.pooling == "clip":
            rows = rows.mean(0, keepdim=True)
        return ExtractorOutput(rows.float(), (rows.mean(0) * 2.0).float())

    def embed_text(self, texts):
        return torch.stack([torch.nn.functional.one_hot(torch.tensor(int(t.split()[-1])), 4).float() for t in texts])


def _tiny_class(name):
    pooling = "frame" if name in ("vggish", "openl3") else "clip"
    return type(f"Tiny_{name}", (_TinyExtractor,), {"name": name, "pooling": pooling})


@pytest.fixture
def tiny_extractors(monkeypatch):
    classes = {name: _tiny_class(name) for name in EXTRACTORS}
    monkeypatch.setattr(audio_evaluation, "extractor_class", classes.__getitem__)
    return classes


@pytest.fixture
def no_extraction(monkeypatch):
    """Fail the test if anything gets as far as building an extractor or reading audio."""

    def refuse(*args, **kwargs):
        raise AssertionError("extraction started before the inputs were checked")

    monkeypatch.setattr(audio_evaluation, "_build_extractor", refuse)
    monkeypatch.setattr(audio_evaluation, "_extract", refuse)


@pytest.fixture
def sets(tmp_path):
    generated = _write_clips(tmp_path / "gen", TONES * 2, seed=1)  # clip0..clip7
    reference = _write_clips(tmp_path / "ref", TONES[::-1] * 2, seed=2)
    return generated, reference


# ------------------------------------------------------------------------------------------------ the table
def test_protocol_table_is_consistent():
    assert set(PROTOCOLS) == {"audioldm", "audiocraft", "stable-audio"}
    for name, protocol in PROTOCOLS.items():
        keys = [metric.key for metric in protocol.metrics]
        assert protocol.name == name and len(keys) == len(set(keys))
        assert {metric.kind for metric in protocol.metrics} <= set(METRIC_KINDS)
        assert set(protocol.extractors) <= set(EXTRACTORS)
        kinds = {metric.kind: metric for metric in protocol.metrics}
        assert "kad" in kinds and "frechet_infinity" in kinds  # the newer metrics, on one main embedding
        assert kinds["kad"].extractor == kinds["frechet_infinity"].extractor
        for metric in protocol.metrics:
            if metric.kind == "kl":
                assert metric.kwargs["activation"] in ("softmax", "sigmoid")
                assert metric.kwargs["direction"] in ("ref_gen", "gen_ref")
    audioldm = {m.key: m for m in PROTOCOLS["audioldm"].metrics}
    assert (audioldm["fd"].extractor, audioldm["fad"].extractor) == ("cnn14-16k", "vggish")
    assert {audioldm["kl_softmax"].kwargs["activation"], audioldm["kl_sigmoid"].kwargs["activation"]} == {
        "softmax",
        "sigmoid",
    }
    assert audioldm["is"].kwargs == {"splits": 10, "seed": 2020}  # audioldm_eval's calculate_isc call
    stable = {m.key: m for m in PROTOCOLS["stable-audio"].metrics}
    assert stable["kl_passt"].kwargs["direction"] == "gen_ref"  # passt_kld: kl_div((p_ref + 1e-6).log(), p_gen)
    assert stable["fd_openl3"].extractor == "openl3"
    assert {m.kind for m in PROTOCOLS["audiocraft"].metrics} >= {"frechet", "kl", "clap_score"}


def test_protocol_extractor_options_are_accepted_by_the_extractors():
    for protocol in PROTOCOLS.values():
        for name in protocol.extractors:
            options = protocol.options_for(name)
            if not options:
                continue
            module = EXTRACTORS[name][0]
            try:
                cls = extractor_class(name)
            except ImportError:
                pytest.skip(f"extractor module {module}.py not written yet")
            assert options["protocol"] in importlib.import_module(cls.__module__).PROTOCOLS


def test_main_embedding_of_the_newer_metrics_is_per_frame():
    for protocol in PROTOCOLS.values():
        main_embedding = next(m.extractor for m in protocol.metrics if m.kind == "kad")
        try:
            assert extractor_class(main_embedding).pooling == "frame"
        except ImportError:
            continue  # openl3 may not be written yet: checked where it is


# ------------------------------------------------------------------------------------------------ bad input
def test_missing_weights_fail_in_one_line_naming_each_extractor_and_its_official_file(sets, no_extraction):
    generated, reference = sets
    with pytest.raises(InvalidInputError) as error:
        evaluate_audio(generated, reference=reference, protocol="audioldm")
    message = str(error.value)
    assert "\n" not in message
    for name in ("vggish", "cnn14-16k"):
        assert name in message and extractor_class(name).official_weights in message
    with pytest.raises(InvalidInputError) as error:  # given weights are not asked for again
        evaluate_audio(generated, reference=reference, protocol="audioldm", extractor_weights={"vggish": "v.pth"})
    assert "cnn14-16k" in str(error.value) and extractor_class("vggish").official_weights not in str(error.value)


@pytest.mark.parametrize(
    "change",
    [
        {"generated": "missing"},
        {"reference": "missing"},
        {"reference": None},  # neither reference nor reference_stats
        {"reference_stats": "stats.safetensors"},  # both
        {"protocol": "audioldm2"},
        {"extractor_weights": {"vgish": "v.pth"}},
        {"extractor_weights": ["vggish=v.pth"]},
        {"batch_size": 0},
        {"batch_size": 10**6},
        {"seed": -1},
        {"allow_random_weights": "yes"},
        {"prompts": "prompts.txt"},
        {"prompts": {"clip0": "a tone"}},  # clip1..clip7 have no prompt
    ],
)
def test_bad_input_fails_before_any_extraction(sets, no_extraction, tmp_path, change):
    generated, reference = sets
    (tmp_path / "prompts.txt").write_text("clip0,a tone\n")
    kwargs = {"generated": generated, "reference": reference, "protocol": "audioldm", "allow_random_weights": True}
    for key, value in change.items():
        kwargs[key] = tmp_path / value if key in ("generated", "reference") and value else value
    with pytest.raises(InvalidInputError):
        evaluate_audio(**kwargs)


def test_reference_stats_must_exist_and_be_ours(sets, no_extraction, tmp_path):
    generated, _ = sets
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    for stats in ("missing.safetensors", "junk.safetensors"):
        with pytest.raises(InvalidInputError):
            evaluate_audio(generated, reference_stats=tmp_path / stats, protocol="audioldm", allow_random_weights=True)


def test_prompts_load_from_jsonl_and_csv(tmp_path):
    (tmp_path / "p.jsonl").write_text('{"id": "a", "text": "a dog barks"}\n\n{"id": 7, "text": "rain"}\n')
    (tmp_path / "p.csv").write_text('id,text\na,a dog barks\n7,"rain"\n')
    assert load_prompts(tmp_path / "p.jsonl") == load_prompts(tmp_path / "p.csv") == {"a": "a dog barks", "7": "rain"}
    (tmp_path / "twice.jsonl").write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n')
    (tmp_path / "bad.jsonl").write_text('{"id": "a"}\n')
    (tmp_path / "bad.csv").write_text("name,caption\na,x\n")
    for name in ("twice.jsonl", "bad.jsonl", "bad.csv", "missing.csv"):
        with pytest.raises(InvalidInputError):
            load_prompts(tmp_path / name)


# ------------------------------------------------------------------------------------------------ behaviour
def test_identical_sets_score_zero_and_different_sets_do_not(tiny_extractors, tmp_path):
    generated = _write_clips(tmp_path / "gen", TONES * 2, seed=1)
    same = evaluate_audio(
        generated, reference=generated, protocol="audioldm", allow_random_weights=True, progress=False
    )
    other = _write_clips(tmp_path / "other", (300.0, 3000.0) * 4, seed=3)
    different = evaluate_audio(
        generated, reference=other, protocol="audioldm", allow_random_weights=True, progress=False
    )
    for key in ("fd", "fad", "kl_softmax"):
        assert same["metrics"][key]["value"] < 1e-6 < different["metrics"][key]["value"]
    assert abs(same["metrics"]["kad"]["value"]) < different["metrics"]["kad"]["value"]
    assert same["sets"]["generated"] == {
        "clips": 8,
        "rows": {"cnn14-16k": 8, "vggish": 32},
        "failed": {"cnn14-16k": 0, "vggish": 0},
    }
    assert any("code path only" in warning for warning in same["warnings"])
    assert json.loads(json.dumps(different)) == different  # JSON-able as it is


def test_unpaired_clips_are_left_out_of_kl_with_a_warning(tiny_extractors, tmp_path):
    generated = _write_clips(tmp_path / "gen", TONES, seed=1, names=["a", "b", "c", "d"])
    reference = _write_clips(tmp_path / "ref", TONES, seed=2, names=["a", "b", "x", "y"])
    result = evaluate_audio(
        generated, reference=reference, protocol="audioldm", allow_random_weights=True, progress=False
    )
    assert result["metrics"]["kl_softmax"]["pairs"] == 2
    assert any("kl_softmax" in w and "2 generated clips have no reference" in w for w in result["warnings"])
    strangers = _write_clips(tmp_path / "strangers", TONES, seed=2, names=["p", "q", "r", "s"])
    result = evaluate_audio(
        generated, reference=strangers, protocol="audioldm", allow_random_weights=True, progress=False
    )
    assert result["metrics"]["kl_softmax"]["value"] is None and "unavailable" in result["metrics"]["kl_softmax"]
    assert result["metrics"]["fd"]["value"] is not None  # unpaired metrics still run


def test_reference_stats_round_trip_gives_the_same_numbers(tiny_extractors, sets, tmp_path):
    generated, reference = sets
    common = {"protocol": "audioldm", "allow_random_weights": True, "progress": False}
    direct = evaluate_audio(generated, reference=reference, reference_stats_out=tmp_path / "stats", **common)
    assert (tmp_path / "stats").is_file()
    from_file = evaluate_audio(generated, reference_stats=tmp_path / "stats", **common)
    assert from_file["sets"]["reference"]["source"] == "statistics"
    for key, entry in direct["metrics"].items():
        assert entry["value"] is not None and from_file["metrics"][key]["value"] == entry["value"], key

    folder = tmp_path / "folder"
    folder.mkdir()
    save_reference_stats(reference, folder, include_embeddings=False, **common)  # a folder holds the default name
    slim = evaluate_audio(generated, reference_stats=folder, **common)
    assert slim["metrics"]["fd"]["value"] == direct["metrics"]["fd"]["value"]
    assert slim["metrics"]["fad_inf"]["value"] == direct["metrics"]["fad_inf"]["value"]
    for key in ("kad", "kl_softmax", "kl_sigmoid"):
        assert slim["metrics"][key]["value"] is None and "without" in slim["metrics"][key]["unavailable"]
    loaded = ReferenceStatistics.load(tmp_path / "stats")
    assert set(loaded.statistics) == {"cnn14-16k", "vggish"} and loaded.statistics["vggish"].n == 32
    assert frechet_distance(loaded.statistics["vggish"], loaded.statistics["vggish"]) < 1e-9


def test_reference_stats_of_another_protocol_leave_its_metrics_unavailable(tiny_extractors, sets, tmp_path):
    generated, reference = sets
    save_reference_stats(reference, tmp_path / "ldm.safetensors", protocol="audioldm", allow_random_weights=True)
    result = evaluate_audio(
        generated, reference_stats=tmp_path / "ldm.safetensors", protocol="audiocraft", allow_random_weights=True
    )
    assert result["metrics"]["fad"]["value"] is not None  # vggish is in both
    assert "passt" in result["metrics"]["kl"]["unavailable"] and "prompts" in result["metrics"]["clap"]["unavailable"]
    assert "passt" not in result["extractors"] and "clap" not in result["extractors"]  # nothing loaded for nothing


def test_clap_score_pairs_each_clip_with_its_own_prompt(tiny_extractors, sets, tmp_path):
    generated, reference = sets
    prompts = {f"clip{i}": f"a tone {i % 4}" for i in range(8)}  # the band of each clip's tone
    shuffled = {f"clip{i}": f"a tone {(i + 1) % 4}" for i in range(8)}
    common = {"reference": reference, "protocol": "audiocraft", "allow_random_weights": True, "progress": False}
    right = evaluate_audio(generated, prompts=prompts, **common)["metrics"]["clap"]
    wrong = evaluate_audio(generated, prompts=shuffled, **common)["metrics"]["clap"]
    assert right["clips"] == 8 and right["value"] > 0.9 and wrong["value"] < 0.5


# ------------------------------------------------------------------------------------------------ end to end
def _real_extractors_or_skip(*names):
    for name in names:
        try:
            extractor_class(name)
        except ImportError:
            pytest.skip(f"extractor {name!r} ({EXTRACTORS[name][0]}.py) is not written yet")


def test_cli_end_to_end_audioldm_with_random_weights(tmp_path, capsys):
    _real_extractors_or_skip("vggish", "cnn14-16k")
    # 2 s clips: CNN14's front-end wants 2 s at 16 kHz, VGGish gives one row per 0.96 s
    generated = _write_clips(tmp_path / "gen", TONES[:3], seconds=2.0, seed=1)
    reference = _write_clips(tmp_path / "ref", TONES[1:], seconds=2.0, seed=2)
    out = tmp_path / "results.json"
    argv = ["evaluate", str(generated), "--reference", str(reference), "--protocol", "audioldm", "--out", str(out)]
    assert main(argv + ["--allow-random-weights", "--cache-dir", str(tmp_path / "cache")]) == 0
    result = json.loads(out.read_text())
    assert result["protocol"] == "audioldm" and result["sets"]["generated"]["clips"] == 3
    assert result["sets"]["generated"]["rows"] == {"cnn14-16k": 3, "vggish": 6}
    assert set(result["metrics"]) == {"fd", "fad", "kl_softmax", "kl_sigmoid", "is", "kad", "fad_inf"}
    assert all(math.isfinite(entry["value"]) for entry in result["metrics"].values())
    assert result["extractors"]["vggish"]["weights"] == "random(seed=0)"
    assert {"hf_audiogen", "torch", "transformers"} <= set(result["extractors"]["cnn14-16k"]["versions"])
    assert any("code path only" in warning for warning in result["warnings"])
    assert "audioldm: fd" in capsys.readouterr().out

    capsys.readouterr()
    assert main(argv) == 2  # no weights and no --allow-random-weights
    error = capsys.readouterr().err.strip()
    assert error.startswith("hf-audiogen evaluate: error:") and "\n" not in error and "cnn14-16k" in error


def test_cli_rejects_malformed_weights(tmp_path, capsys):
    generated = _write_clips(tmp_path / "gen", TONES[:1])
    argv = ["evaluate", str(generated), "--reference", str(generated), "--protocol", "audioldm", "--weights", "vggish"]
    assert main(argv) == 2
    assert "NAME=PATH_OR_HUB_ID" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize(
    "protocol, extractors",
    [("audiocraft", ("vggish", "passt", "clap")), ("stable-audio", ("openl3", "passt", "clap"))],
)
def test_other_protocols_end_to_end_with_random_weights(tmp_path, protocol, extractors):
    _real_extractors_or_skip(*extractors)
    generated = _write_clips(tmp_path / "gen", TONES[:3], seconds=2.0, seed=1)
    reference = _write_clips(tmp_path / "ref", TONES[1:], seconds=2.0, seed=2)
    prompts = {f"clip{i}": f"a steady tone, number {i}" for i in range(3)}
    result = evaluate_audio(
        generated, reference=reference, prompts=prompts, protocol=protocol, allow_random_weights=True, progress=False
    )
    assert set(result["extractors"]) == set(extractors)
    assert all(math.isfinite(entry["value"]) for entry in result["metrics"].values()), result["metrics"]
    assert result["metrics"]["clap"]["clips"] == 3
