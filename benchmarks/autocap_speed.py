"""Captioning speed of AutoCap with and without its Q-Former: seconds per 10 s clip, from waveform to caption.

The paper (Haji-Ali et al. 2024, §3.1) credits the Q-Former, which "summarizes the audio representation into four times
fewer tokens", for AutoCap's inference speed. This measures it on CPU for a bart-base-sized AutoCap with random
weights (speed does not depend on the weight values), against the reference's own ablation
``use_audio_qformer: false`` (``AutoCapConfig(use_qformer=False)``):

* ``qformer``: the reference architecture, ``AutoCapConfig()``: HTSAT (Swin-T, 768 channels) gives 32 time steps,
  each repeated 32x -> 1024 frames -> Q-Former with 256 queries; BART (bart-base: d_model 768, 6+6 layers, 12 heads,
  vocabulary 50265) reads ``[CLAP] <s> 256 audio tokens metadata </s>``; plus the CLAP HTSAT-base token;
* ``no_qformer``: the 1024 frames are projected and read by BART directly (its position table enlarged to 1171
  positions, as the reference's ``adjust_max_pos_embeds`` does for this variant);
* ``no_qformer_no_repeat``: no Q-Former and no 32x repetition: BART reads the 32 distinct HTSAT time steps. Not in
  the paper; it shows what the "4x fewer tokens" is counted against (1024 frames that hold 32 distinct vectors).

Each run goes from waveforms to caption strings, the steps ``AutoCapPipeline`` takes for one batch:
``features`` (AutoCapProcessor: resampling, both log-mels, metadata ids), ``encode`` (model.encode: HTSAT, CLAP,
Q-Former, BART encoder; also split per tower with forward hooks), ``generate`` (BART beam search on the encoder
states — model.generate(**inputs) is encode + this) and ``decode`` (ids -> text). Generation uses the reference
defaults (2 beams, at most 29 new tokens = ``max_length=30`` with the start token, no_repeat_ngram_size 3) with
``min_new_tokens = max_new_tokens``, so every variant writes the same number of tokens (random weights would
otherwise stop at arbitrary lengths). Clips carry no metadata (empty tags, as the reference writes for audio-only
clips). One torch thread (and one BLAS thread for the numpy front-end), a warm-up per shape, variants interleaved in
every repeat so machine load hits all alike, medians of ``--repeats`` runs. The machine may be shared: load averages
are printed, and process CPU time (with one thread, the compute cost) is given beside wall time.

    python benchmarks/autocap_speed.py [--repeats 3] [--batch-sizes 1 8] [--tiny] [--json out.json]
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # the numpy front-end's BLAS on one thread, like torch below

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from hf_audiogen.autocap import (  # noqa: E402
    AutoCapConfig,
    AutoCapFeatureExtractor,
    AutoCapForConditionalGeneration,
    AutoCapProcessor,
)
from hf_audiogen.autocap.configuration_autocap import BART_BASE_KWARGS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("qformer", "no_qformer", "no_qformer_no_repeat")
PHASES = ("features", "encode", "generate", "decode")
# The reference widens BART's position table for the no-Q-Former variant to 1024 frames + 128 metadata tokens + 21
# (CLAP, <s>, </s>, slack) rows, of which BART's learned positions keep 2 as an offset.
NO_QFORMER_POSITIONS = 1024 + 128 + 21 - 2
SENTENCES = [
    "a dog barks in the park while cars pass by",
    "rain falls on a tin roof and thunder rumbles in the distance",
    "a man speaks while birds chirp in the background",
    "people talk and laugh in a busy cafe",
]


def build_tokenizer(vocab_size: int):
    """A byte-level BPE ``BartTokenizer`` (BART's special-token ids) with exactly ``vocab_size`` entries, so the
    processor's tag tokens get the ids the model's tag table expects. Built locally (nothing can be downloaded): a BPE
    trained on a few sentences, padded with unused entries up to BART's vocabulary size."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BartTokenizer

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(SENTENCES, trainer)
    model = json.loads(tokenizer.to_str())["model"]
    vocab = dict(model["vocab"])
    vocab.update({f"<unused{i}>": i for i in range(len(vocab), vocab_size)})
    return BartTokenizer(vocab=vocab, merges=[tuple(merge) for merge in model["merges"]])


def build_configs(tiny: bool) -> dict[str, AutoCapConfig]:
    """The three variants (see the module docstring); ``tiny``: the tests' tiny sizes, frames repeated 2x."""
    if tiny:
        sys.path.insert(0, str(REPO / "tests"))
        from factories import tiny_autocap_config

        common = dict(audio_frame_repeat=2, text_config={"max_position_embeddings": 128})
        return {
            "qformer": tiny_autocap_config(**common),
            "no_qformer": tiny_autocap_config(use_qformer=False, **common),
            "no_qformer_no_repeat": tiny_autocap_config(use_qformer=False, **{**common, "audio_frame_repeat": 1}),
        }
    wide_bart = {**BART_BASE_KWARGS, "max_position_embeddings": NO_QFORMER_POSITIONS}
    return {
        "qformer": AutoCapConfig(),
        "no_qformer": AutoCapConfig(use_qformer=False, text_config=wide_bart),
        "no_qformer_no_repeat": AutoCapConfig(use_qformer=False, audio_frame_repeat=1),
    }


def build_feature_extractor(tiny: bool) -> AutoCapFeatureExtractor:
    if not tiny:
        return AutoCapFeatureExtractor()  # the reference's: 10 s at 32 kHz (HTSAT) and 48 kHz (CLAP)
    sys.path.insert(0, str(REPO / "tests"))
    from factories import tiny_autocap_feature_extractor  # 1 s clips, 16 mel bins, for tiny_autocap_config

    return tiny_autocap_feature_extractor()


class TowerTimer:
    """Wall and CPU seconds spent inside some submodules during one ``model.encode`` (forward hooks), to split the
    encoder time per tower without running any of them again."""

    def __init__(self, modules: dict[str, nn.Module]):
        self._started = {}
        self.seconds = dict.fromkeys(modules, (0.0, 0.0))
        for name, module in modules.items():
            module.register_forward_pre_hook(lambda *_, name=name: self._start(name))
            module.register_forward_hook(lambda *_, name=name: self._stop(name))

    def reset(self) -> None:
        self.seconds = dict.fromkeys(self.seconds, (0.0, 0.0))

    def _start(self, name: str) -> None:
        self._started[name] = (time.perf_counter(), time.process_time())

    def _stop(self, name: str) -> None:
        (wall, cpu), (spent_wall, spent_cpu) = self._started[name], self.seconds[name]
        self.seconds[name] = (spent_wall + time.perf_counter() - wall, spent_cpu + time.process_time() - cpu)


def towers(model: AutoCapForConditionalGeneration) -> dict[str, nn.Module]:
    modules = {"htsat": model.audio_encoder}
    if model.config.use_clap:
        modules["clap"] = model.clap_model
    if model.config.use_qformer:
        modules["qformer"] = model.qformer
    modules["bart_encoder"] = model.language_model.get_encoder()
    return modules


def caption_batch(model, processor, clips, sampling_rate, generate_kwargs, timer):
    """Waveforms -> captions once. Returns per-phase (wall, cpu) seconds, per-tower (wall, cpu) seconds inside
    ``encode``, the encoder sequence length and the number of generated tokens per caption."""
    phases = {}
    mark = (time.perf_counter(), time.process_time())

    def lap(phase):
        nonlocal mark
        now = (time.perf_counter(), time.process_time())
        phases[phase] = (now[0] - mark[0], now[1] - mark[1])
        mark = now

    inputs = processor(audio=clips, sampling_rate=sampling_rate, return_tensors="pt")
    lap("features")
    timer.reset()
    encoder_outputs = model.encode(**inputs)
    lap("encode")
    sequences = model.generate(encoder_outputs=encoder_outputs, **generate_kwargs)
    lap("generate")
    captions = processor.batch_decode(sequences)
    lap("decode")
    assert len(captions) == len(clips)
    return phases, dict(timer.seconds), encoder_outputs.last_hidden_state.shape[1], sequences.shape[1] - 1


def median_pair(pairs) -> tuple[float, float]:
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant and batch size (median)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=29,
        help="tokens generated per caption, forced (default: the reference's max_length 30 - 1)",
    )
    parser.add_argument("--sampling-rate", type=int, default=32000, help="rate of the input waveforms")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (tests/factories.py, 1 s clips): smoke test")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    for name in ("repeats", "max_new_tokens", "sampling_rate"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if min(args.batch_sizes) < 1:
        parser.error(f"--batch-sizes must be >= 1, got {args.batch_sizes}")
    torch.set_num_threads(1)
    command = shlex.join(
        [os.path.relpath(sys.executable), os.path.relpath(__file__), *(sys.argv[1:] if argv is None else argv)]
    )
    load_start = os.getloadavg()
    print("command:", command)
    print(
        f"load average at start (1/5/15 min): {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f} "
        f"on {os.cpu_count()} CPUs"
    )

    feature_extractor = build_feature_extractor(args.tiny)
    models, processors, timers = {}, {}, {}
    for variant, config in build_configs(args.tiny).items():
        torch.manual_seed(0)
        models[variant] = AutoCapForConditionalGeneration(config).eval()
        processors[variant] = AutoCapProcessor(feature_extractor, build_tokenizer(config.text_config.vocab_size))
        timers[variant] = TowerTimer(towers(models[variant]))
    generate_kwargs = dict(max_new_tokens=args.max_new_tokens, min_new_tokens=args.max_new_tokens)
    generation = models["qformer"].generation_config
    clip_seconds = feature_extractor.max_length_s
    text = models["qformer"].config.text_config
    print(
        f"BART d_model {text.d_model}, {text.encoder_layers}+{text.decoder_layers} layers, "
        f"{text.encoder_attention_heads} heads, vocabulary {text.vocab_size}; {clip_seconds:g} s clips at "
        f"{args.sampling_rate} Hz; {generation.num_beams} beams, {args.max_new_tokens} new tokens forced "
        f"(min_new_tokens = max_new_tokens), no_repeat_ngram_size {generation.no_repeat_ngram_size}; "
        f"torch {torch.__version__}, 1 thread, median of {args.repeats} runs"
    )
    for variant, model in models.items():
        config = model.config
        audio = (
            f"Q-Former with {config.num_query_tokens} queries"
            if config.use_qformer
            else f"every frame, each HTSAT time step repeated {config.audio_frame_repeat}x"
        )
        print(
            f"  {variant:20s} {sum(p.numel() for p in model.parameters()):12,d} parameters, "
            f"{config.num_audio_tokens} audio tokens ({audio})"
        )

    rng = np.random.default_rng(0)
    results = []
    with torch.inference_mode():
        for batch_size in args.batch_sizes:
            clips = [
                0.1 * rng.standard_normal(int(clip_seconds * args.sampling_rate)).astype(np.float32)
                for _ in range(batch_size)
            ]
            for variant in VARIANTS:  # warm-up: allocations and lazy initialisations at this shape
                caption_batch(
                    models[variant],
                    processors[variant],
                    clips,
                    args.sampling_rate,
                    dict(max_new_tokens=2, min_new_tokens=2),
                    timers[variant],
                )
            runs = {variant: [] for variant in VARIANTS}
            for repeat in range(args.repeats):
                for variant in VARIANTS:  # interleaved: a load spike hits every variant
                    runs[variant].append(
                        caption_batch(
                            models[variant],
                            processors[variant],
                            clips,
                            args.sampling_rate,
                            generate_kwargs,
                            timers[variant],
                        )
                    )
                progress = ", ".join(
                    f"{variant} {sum(w for w, _ in run[-1][0].values()):.2f} s" for variant, run in runs.items()
                )
                print(f"batch {batch_size}, run {repeat + 1}/{args.repeats} (wall): {progress}", flush=True)
            for variant, variant_runs in runs.items():
                totals = [tuple(sum(p[i] for p in run[0].values()) for i in (0, 1)) for run in variant_runs]
                total_wall, total_cpu = median_pair(totals)
                phases = {phase: median_pair([run[0][phase] for run in variant_runs]) for phase in PHASES}
                tower_names = variant_runs[0][1].keys()
                tower_seconds = {name: median_pair([run[1][name] for run in variant_runs]) for name in tower_names}
                results.append(
                    {
                        "variant": variant,
                        "batch_size": batch_size,
                        "encoder_tokens": variant_runs[0][2],
                        "audio_tokens": models[variant].config.num_audio_tokens,
                        "generated_tokens": variant_runs[0][3],
                        "seconds_per_clip": {"wall": total_wall / batch_size, "cpu": total_cpu / batch_size},
                        "encode_seconds_per_clip": {
                            "wall": phases["encode"][0] / batch_size,
                            "cpu": phases["encode"][1] / batch_size,
                        },
                        "phase_seconds_per_batch": {phase: {"wall": w, "cpu": c} for phase, (w, c) in phases.items()},
                        "encoder_tower_seconds_per_batch": {
                            name: {"wall": w, "cpu": c} for name, (w, c) in tower_seconds.items()
                        },
                        "runs_wall_seconds": [total[0] for total in totals],
                    }
                )

    load_end = os.getloadavg()
    report = {
        "command": command,
        "tiny": args.tiny,
        "repeats": args.repeats,
        "batch_sizes": args.batch_sizes,
        "clip_seconds": clip_seconds,
        "sampling_rate": args.sampling_rate,
        "num_beams": generation.num_beams,
        "max_new_tokens": args.max_new_tokens,
        "min_new_tokens": args.max_new_tokens,
        "torch": torch.__version__,
        "num_threads": torch.get_num_threads(),
        "loadavg_start": list(load_start),
        "loadavg_end": list(load_end),
        "results": results,
        "ratios": ratios(results),
    }
    print_table(report)
    print(f"load average at end (1/5/15 min): {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return report


def ratios(results: list[dict]) -> list[dict]:
    """Each variant's time over the Q-Former variant's, per batch size (whole pipeline and the encoder part)."""
    table = []
    for batch_size in dict.fromkeys(row["batch_size"] for row in results):
        rows = {row["variant"]: row for row in results if row["batch_size"] == batch_size}
        base = rows["qformer"]
        for variant in VARIANTS[1:]:
            row = rows[variant]
            table.append(
                {
                    "batch_size": batch_size,
                    "variant": variant,
                    "over": "qformer",
                    "encoder_tokens": row["encoder_tokens"],
                    "qformer_encoder_tokens": base["encoder_tokens"],
                    **{
                        f"total_{clock}": row["seconds_per_clip"][clock] / base["seconds_per_clip"][clock]
                        for clock in ("cpu", "wall")
                    },
                    **{
                        f"encode_{clock}": row["encode_seconds_per_clip"][clock]
                        / base["encode_seconds_per_clip"][clock]
                        for clock in ("cpu", "wall")
                    },
                }
            )
    return table


def print_table(report: dict) -> None:
    clip = f"{report['clip_seconds']:g} s clip"
    print()
    print(f"batch | variant              | encoder tokens | s / {clip} (cpu) | (wall) | encode s / clip (cpu) | (wall)")
    for row in report["results"]:
        total, encode = row["seconds_per_clip"], row["encode_seconds_per_clip"]
        print(
            f"{row['batch_size']:5d} | {row['variant']:20s} | {row['encoder_tokens']:14d} | "
            f"{total['cpu']:{len(clip) + 10}.3f} | {total['wall']:6.3f} | {encode['cpu']:21.3f} | "
            f"{encode['wall']:6.3f}"
        )
    names = list(dict.fromkeys(name for row in report["results"] for name in row["encoder_tower_seconds_per_batch"]))
    columns = ["features", "encode", *(f"({name})" for name in names), "(other)", "generate", "decode"]
    print()
    print(
        "CPU seconds per batch, by step; the parenthesised columns split encode (other: projections, metadata "
        "embedding, concatenation)"
    )
    print("batch | variant              | " + " | ".join(f"{column:>{max(len(column), 8)}s}" for column in columns))
    for row in report["results"]:
        phases, towers_cpu = row["phase_seconds_per_batch"], row["encoder_tower_seconds_per_batch"]
        encode = phases["encode"]["cpu"]
        values = [
            phases["features"]["cpu"],
            encode,
            *(towers_cpu[name]["cpu"] if name in towers_cpu else None for name in names),
        ]
        values += [
            encode - sum(v for v in values[2:] if v is not None),
            phases["generate"]["cpu"],
            phases["decode"]["cpu"],
        ]
        cells = [
            f"{'-' if value is None else f'{value:.3f}':>{max(len(column), 8)}s}"
            for column, value in zip(columns, values)
        ]
        print(f"{row['batch_size']:5d} | {row['variant']:20s} | " + " | ".join(cells))
    print()
    for ratio in report["ratios"]:
        print(
            f"batch {ratio['batch_size']}: {ratio['variant']} ({ratio['encoder_tokens']} encoder tokens vs "
            f"{ratio['qformer_encoder_tokens']} with the Q-Former) takes {ratio['total_cpu']:.2f}x the Q-Former "
            f"variant's time per clip (wall {ratio['total_wall']:.2f}x); encoder part {ratio['encode_cpu']:.2f}x "
            f"(wall {ratio['encode_wall']:.2f}x)"
        )


if __name__ == "__main__":
    main()
