"""training_scripts/codec_heldout_report.py: overall, per-source and tone figures of a saved codec."""

import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from factories import tiny_codec_model

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training_scripts"))
import codec_heldout_report  # noqa: E402


def test_report_per_source_and_tones(tmp_path):
    codec_dir = tmp_path / "codec"
    tiny_codec_model().save_pretrained(codec_dir)
    rng = np.random.default_rng(0)
    rows = []
    for i, (source, split) in enumerate(
        [("a", "validation"), ("a", "validation"), ("b", "validation"), ("b", "train")]
    ):
        (tmp_path / "clips").mkdir(exist_ok=True)
        sf.write(tmp_path / "clips" / f"{i}.wav", 0.1 * rng.standard_normal(4000).astype(np.float32), 16000)
        rows.append({"file": f"clips/{i}.wav", "source": source, "split": split})
    (tmp_path / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = codec_heldout_report.main([str(codec_dir), str(tmp_path), "--out", str(tmp_path / "r.json")])
    assert report["all"]["clips"] == 3  # the train clip is left out
    assert {k: v["clips"] for k, v in report["by_source"].items()} == {"a": 2, "b": 1}
    assert set(report["tones"]) == {"200", "500", "1000", "2000", "4000"}
    assert all(np.isfinite(v["mel"]) for v in report["tones"].values())
    assert json.loads((tmp_path / "r.json").read_text()) == json.loads(json.dumps(report))
