"""Smoke test of benchmarks/genau_speed.py: the tiny preset, one repeat, two short lengths, ours only."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "genau_speed.py"


@pytest.fixture(scope="module")
def genau_speed():
    spec = importlib.util.spec_from_file_location("genau_speed", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_run_writes_positive_times(genau_speed, tmp_path, capsys):
    threads = torch.get_num_threads()
    out = tmp_path / "speed.json"
    try:
        # 4 s is past the tiny preset's 2.56 s positional range, so the length table must extend it.
        genau_speed.main(
            [
                "--preset",
                "tiny",
                "--repeats",
                "1",
                "--decode-repeats",
                "1",
                "--lengths",
                "4",
                "1",
                "--skip-reference",
                "--json",
                str(out),
            ]
        )
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())

    assert report["reference_skipped"] == "--skip-reference was given"
    assert "reference part skipped: --skip-reference was given" in printed
    assert report["threads"] == 1 and len(report["loadavg_start"]) == 3 and report["command"].endswith(str(out))
    assert list(report["step"]["times"]) == ["ours"] and report["step"]["input_shape"] == [2, 8, 64]
    step = report["step"]["times"]["ours"]["cpu_s"]
    decode = report["decode"]["times"]["ours"]["cpu_s"]
    assert step > 0 and decode > 0 and report["decode"]["audio_samples"] >= 64 * 4 * 160
    assert report["clip_seconds"] == pytest.approx(2.56)
    assert report["clip"]["ours"]["total_cpu_s"] == pytest.approx(report["steps"] * step + decode)
    assert "ratio_ours_over_reference" not in report

    lengths = report["lengths"]
    assert [row["seconds"] for row in lengths["rows"]] == [1, 4]  # sorted
    # 25 latent frames/s, rounded up to whole groups of patch 2 x group 4 = 8 frames.
    assert [row["latent_frames"] for row in lengths["rows"]] == [32, 104]
    assert [row["patch_tokens"] for row in lengths["rows"]] == [16, 52]
    assert [row["fit_latent_tokens"] for row in lengths["rows"]] == [8, 26]  # 2 latents per group
    assert lengths["preset_max_length_s"] == pytest.approx(2.56) and lengths["benchmark_sample_size"] == 104
    # tiny FiT: 2 full blocks x (1 local + 1 global + 3 cross-attentions) + a local-only block = 11 attention layers
    assert lengths["full_attention_layers"] == 11
    for row in lengths["rows"]:
        assert row["fit"]["cpu_s"] > 0 and row["full_attention"]["cpu_s"] > 0
        assert row["ratio_fit_over_full"] == pytest.approx(row["fit"]["cpu_s"] / row["full_attention"]["cpu_s"])
    assert lengths["growth"]["tokens"] == pytest.approx(52 / 16)
    assert lengths["growth"]["fit"] > 0 and "full_attention_exponent" in lengths["growth"]
    assert "FiT s/step | full-attn s/step" in printed and "sample_size=104" in printed


def test_bad_arguments_raise(genau_speed):
    with pytest.raises(ValueError, match="--repeats must be >= 1, got 0"):
        genau_speed.main(["--preset", "tiny", "--repeats", "0", "--skip-reference"])
    with pytest.raises(ValueError, match="--lengths must be positive"):
        genau_speed.main(["--preset", "tiny", "--lengths", "0", "--skip-reference"])


def test_reference_reason_without_genau_repo(genau_speed, monkeypatch):
    monkeypatch.delenv("GENAU_REPO", raising=False)
    assert "GENAU_REPO is not set" in genau_speed.reference_unavailable_reason(False)
    monkeypatch.setenv("GENAU_REPO", "/nonexistent")
    assert "has no GenAU/src/modules/fit/fit_audio.py" in genau_speed.reference_unavailable_reason(False)
