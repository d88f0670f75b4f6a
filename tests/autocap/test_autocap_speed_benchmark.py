"""Smoke test of benchmarks/autocap_speed.py: tiny sizes, one repeat, batch sizes 1 and 2."""

import importlib.util
import json
from pathlib import Path

import torch

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "autocap_speed.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("autocap_speed", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_run_reports_times_token_counts_and_ratios(tmp_path, capsys):
    benchmark = load_benchmark()
    out = tmp_path / "speed.json"
    threads = torch.get_num_threads()
    try:
        returned = benchmark.main(["--tiny", "--repeats", "1", "--batch-sizes", "1", "2", "--json", str(out)])
    finally:
        torch.set_num_threads(threads)
    report = json.loads(out.read_text())
    assert report == json.loads(json.dumps(returned))
    printed = capsys.readouterr().out
    assert report["command"] in printed and "--tiny" in report["command"]
    assert "load average at start" in printed and len(report["loadavg_start"]) == 3

    assert report["num_threads"] == 1 and report["num_beams"] == 2
    assert report["min_new_tokens"] == report["max_new_tokens"] == 29
    rows = {(row["variant"], row["batch_size"]): row for row in report["results"]}
    assert set(rows) == {(variant, batch) for variant in benchmark.VARIANTS for batch in (1, 2)}
    for (variant, batch), row in rows.items():
        assert row["generated_tokens"] == 29  # forced: every variant writes the same number of tokens
        for clock in ("cpu", "wall"):
            assert row["seconds_per_clip"][clock] > 0 and row["encode_seconds_per_clip"][clock] > 0
            assert row["encode_seconds_per_clip"][clock] < row["seconds_per_clip"][clock]
            phases = row["phase_seconds_per_batch"]
            assert abs(sum(phases[p][clock] for p in benchmark.PHASES) / batch - row["seconds_per_clip"][clock]) < 1e-9
        towers = row["encoder_tower_seconds_per_batch"]
        assert ("qformer" in towers) == (variant == "qformer")
        assert all(towers[name]["wall"] > 0 for name in ("htsat", "clap", "bart_encoder"))
        assert sum(t["wall"] for t in towers.values()) <= row["phase_seconds_per_batch"]["encode"]["wall"]

    for batch in (1, 2):
        qformer, no_qformer = rows[("qformer", batch)], rows[("no_qformer", batch)]
        distinct = rows[("no_qformer_no_repeat", batch)]
        # tiny: 8 queries vs 32 HTSAT steps x 2 = 64 frames vs 32 distinct frames, plus the same CLAP/<s>/metadata
        assert (qformer["audio_tokens"], no_qformer["audio_tokens"], distinct["audio_tokens"]) == (8, 64, 32)
        assert no_qformer["encoder_tokens"] - qformer["encoder_tokens"] == 64 - 8
        assert distinct["encoder_tokens"] - qformer["encoder_tokens"] == 32 - 8
    ratios = {(r["variant"], r["batch_size"]): r for r in report["ratios"]}
    assert set(ratios) == {(variant, batch) for variant in benchmark.VARIANTS[1:] for batch in (1, 2)}
    ratio = ratios[("no_qformer", 2)]
    assert (
        ratio["total_cpu"]
        == rows[("no_qformer", 2)]["seconds_per_clip"]["cpu"] / rows[("qformer", 2)]["seconds_per_clip"]["cpu"]
    )
    assert all(value > 0 for r in ratios.values() for key, value in r.items() if key.startswith(("total", "encode")))
