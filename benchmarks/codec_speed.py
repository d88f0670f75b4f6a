"""Encode + decode speed of CodecModel vs transformers' EncodecModel (same config, same random weights).

Real-time factor (RTF) = processing time / audio duration (lower is faster), on one CPU thread, median of several
interleaved runs so both models see the same machine load.

    python benchmarks/codec_speed.py [--seconds 5] [--runs 7] [--batch 1]
"""

import argparse
import shlex
import statistics
import sys
import time

import torch
from transformers import EncodecConfig, EncodecModel

from hf_audiogen.codec import CodecConfig, CodecModel


def build_models() -> tuple[CodecModel, EncodecModel]:
    """audiocraft's AudioGen codec (random weights, random inited codebooks) and the EncodecModel with its weights."""
    torch.manual_seed(0)
    config = CodecConfig.audiocraft_audiogen_16khz(kmeans_init=False)
    codec = CodecModel(config).eval()
    encodec_config = EncodecConfig(
        sampling_rate=16000,
        audio_channels=1,
        hidden_size=128,
        num_filters=64,
        upsampling_ratios=[8, 5, 4, 2],
        norm_type="weight_norm",
        use_causal_conv=False,
        pad_mode="constant",
        num_lstm_layers=2,
        compress=2,
        use_conv_shortcut=False,
        codebook_size=2048,
        target_bandwidths=[2.2],
        normalize=False,
        chunk_length_s=None,
    )
    encodec = EncodecModel(encodec_config).eval()
    encodec.load_state_dict(codec.state_dict(), strict=True)
    return codec, encodec


@torch.no_grad()
def run_codec(codec: CodecModel, audio: torch.Tensor) -> torch.Tensor:
    return codec.decode(codec.encode(audio))


@torch.no_grad()
def run_encodec(encodec: EncodecModel, audio: torch.Tensor) -> torch.Tensor:
    encoded = encodec.encode(audio, bandwidth=2.2)
    return encodec.decode(encoded.audio_codes, encoded.audio_scales).audio_values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="audio length (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per model (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=1, help="batch size (default: %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    codec, encodec = build_models()
    audio = 0.1 * torch.randn(args.batch, 1, int(args.seconds * 16000), generator=torch.Generator().manual_seed(0))
    ours, theirs = run_codec(codec, audio), run_encodec(encodec, audio)  # warm-up, and a sanity check
    max_diff = (ours - theirs).abs().max().item()

    times = {"CodecModel": [], "EncodecModel": []}
    for _ in range(args.runs):  # interleaved so a load spike hits both
        for name, fn, model in (("CodecModel", run_codec, codec), ("EncodecModel", run_encodec, encodec)):
            start = time.perf_counter()
            fn(model, audio)
            times[name].append(time.perf_counter() - start)

    audio_seconds = args.seconds * args.batch
    print("command: " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]))
    print(
        f"config: audiocraft AudioGen 16 kHz codec (64 filters, 4 x 2048, 50 Hz), {args.batch} x {args.seconds} s, "
        f"1 thread, median of {args.runs} runs; max |audio difference| = {max_diff:.2e}"
    )
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, median in medians.items():
        print(
            f"{name:13s} encode+decode {median * 1000:8.1f} ms   RTF {median / audio_seconds:.4f}   "
            f"(min {min(times[name]) * 1000:.1f} ms)"
        )
    print(f"ratio CodecModel / EncodecModel time = {medians['CodecModel'] / medians['EncodecModel']:.3f}")


if __name__ == "__main__":
    main()
