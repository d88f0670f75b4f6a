"""Held-out report of a codec, per source and on pure tones (the figures of the codec issue).

    python training_scripts/codec_heldout_report.py CODEC_DIR CORPUS_DIR [--split validation] [--out report.json]

Every clip of the split (cut to --max_seconds) is reconstructed with all codebooks; SI-SNR (mean, median, share of
clips >= 0 dB), multi-scale mel distance and L1 come from ``hf_audiogen.training.codec.evaluate_codec``, overall and
per ``source`` column; pure tones (200 Hz - 4 kHz, 2 s, amplitude 0.5) show whether the codec keeps a tone a tone.
"""

import argparse
import collections
import json
from pathlib import Path

import numpy as np
import torch

from hf_audiogen.audio import load_audio
from hf_audiogen.codec import CodecModel
from hf_audiogen.codec.metrics import si_snr
from hf_audiogen.training.codec import evaluate_codec

TONES_HZ = (200, 500, 1000, 2000, 4000)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("codec", help="codec directory (save_pretrained)")
    parser.add_argument("corpus", help="corpus folder with metadata.jsonl (file, source, split columns)")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--max_seconds", type=float, default=10.0)
    parser.add_argument("--out", default=None, help="also write the report to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = CodecModel.from_pretrained(args.codec).eval()
    rate = model.config.sampling_rate
    rows = [json.loads(line) for line in open(Path(args.corpus) / "metadata.jsonl")]
    by_source = collections.defaultdict(list)
    for row in rows:
        if row.get("split") == args.split:
            audio, _ = load_audio(Path(args.corpus) / row["file"], rate)
            by_source[row.get("source", "?")].append(torch.from_numpy(audio[: int(args.max_seconds * rate)])[None])
    clips = [clip for group in by_source.values() for clip in group]
    overall = evaluate_codec(model, clips)
    with torch.no_grad():
        per_clip = np.array([float(si_snr(model(c[None]).audio_values.float(), c[None]).mean()) for c in clips])
    frames_per_second = rate / int(np.prod(model.config.upsampling_ratios))
    report = {
        "codec": args.codec,
        "kbps": model.config.num_quantizers * np.log2(model.config.codebook_size) * frames_per_second / 1000,
        "all": {
            "clips": len(clips),
            "si_snr_mean": overall.si_snr,
            "si_snr_median": float(np.median(per_clip)),
            "share_si_snr_ge_0": float(np.mean(per_clip >= 0)),
            "mel": overall.mel_distance,
            "l1": overall.l1,
        },
        "by_source": {},
        "tones": {},
    }
    for source, group in sorted(by_source.items(), key=lambda item: -len(item[1])):
        result = evaluate_codec(model, group)
        report["by_source"][source] = {"clips": len(group), "si_snr": result.si_snr, "mel": result.mel_distance}
    t = np.arange(2 * rate) / rate
    for hz in TONES_HZ:
        tone = torch.from_numpy((0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32))[None]
        result = evaluate_codec(model, [tone])
        report["tones"][str(hz)] = {"si_snr": result.si_snr, "mel": result.mel_distance}
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return report


if __name__ == "__main__":
    main()
