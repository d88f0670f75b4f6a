"""Sampling speed of the AudioGen language model: hf_audiogen vs audiocraft's ``LMModel`` vs transformers'
``MusicgenForCausalLM``, all three with the same weights.

A mid-size decoder (12 layers x 512, 8 heads, 4 codebooks x 2048 codes, delay pattern [0, 1, 2, 3]) is built with
audiocraft's builders (random weights, a one-layer random T5 as wide as t5-large as its text encoder), converted to
``AudioGenForConditionalGeneration`` with our audiocraft converter and renamed to ``MusicgenForCausalLM`` (the renames
of transformers' MusicGen conversion script). Each run samples ``--frames`` frames with top-k 250 and classifier-free
guidance 3.0 (conditional + null batch), on one CPU thread. Runs of the implementations are interleaved so they see
the same machine load; the table gives medians of the process CPU time (with one thread, the compute cost: on a
shared machine it is much steadier than wall time, which is printed too). At each batch size, greedy decoding of a
few frames first checks that all of them produce identical codes (i.e. that they really run the same network).

The row ``ours (DynamicCache)`` is the package's sampling loop as it was before ``AudioGenDecodeCache``: the same
model stepped through ``decoder.forward`` with transformers' ``EncoderDecoderCache(DynamicCache, DynamicCache)``.

``--real-size`` adds the same table for AudioGen-medium's decoder (24 layers x 1536, 24 heads; ~0.9 B parameters,
~3.7 GB in float32 per copy; MusicGen shares our tensors), with fewer frames and repeats: at that size a step is
bound by reading the weights from memory, and there is no speed goal.

Needs audiocraft, so it runs in the oracle venv:

    bash scripts/setup_audiocraft_oracle.sh
    .venv-audiocraft/bin/python benchmarks/generation_speed.py [--frames 250] [--repeats 3] [--batch-sizes 1 4]
        [--real-size [--real-frames 25] [--real-repeats 1]]
"""

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
# The tiny-model builders of the parity tests (audiocraft configs with AudioGen's flags, local T5).
sys.path.insert(0, str(REPO / "tests" / "parity"))
sys.path.insert(0, str(REPO / "tests"))  # reference_audiogen_decode: the pre-cache loop, timed as a baseline

from audiocraft_oracle import (  # noqa: E402
    build_audiocraft_lm,
    export_package,
    import_audiocraft,
    tiny_audiogen_lm_cfg,
    tiny_encodec_cfg,
    tiny_t5_encoder,
    tiny_t5_tokenizer,
)
from reference_audiogen_decode import dynamic_cache_window  # noqa: E402

PROMPTS = ["a dog barks while cars pass by", "rain falls on metal roof", "footsteps in the snow", "wind howls"]
GUIDANCE, TOP_K = 3.0, 250
GOAL = 1.5  # issue 14: at mid size, at least 1.5x both references at batch 1 and 4
MID_SIZE = {"dim": 512, "num_layers": 12, "num_heads": 8}
REAL_SIZE = {"dim": 1536, "num_layers": 24, "num_heads": 24}  # AudioGen-medium's decoder


def build(frames: int, size: dict = MID_SIZE):
    """(audiocraft LM, our converted model, transformers MusicgenForCausalLM, tokenizer), same weights."""
    import_audiocraft()
    from audiocraft.models import builders
    from transformers import MusicgenDecoderConfig, MusicgenForCausalLM

    from hf_audiogen.audiogen.convert_audiocraft import convert_audiocraft_checkpoint

    tokenizer = tiny_t5_tokenizer()
    t5 = tiny_t5_encoder(vocab_size=len(tokenizer))
    cfg = tiny_audiogen_lm_cfg(
        **size,
        n_q=4,
        card=2048,
        delays=(0, 1, 2, 3),
        segment_duration=max(10.0, frames / 50),
    )
    reference = build_audiocraft_lm(cfg, tokenizer, t5)
    torch.manual_seed(0)
    codec_cfg = tiny_encodec_cfg(n_q=4, bins=2048)
    codec = builders.get_compression_model(codec_cfg).eval()  # weights are irrelevant for speed
    with tempfile.TemporaryDirectory() as text_dir:
        t5.save_pretrained(text_dir)
        tokenizer.save_pretrained(text_dir)
        ours = convert_audiocraft_checkpoint(
            export_package(reference, cfg), export_package(codec, codec_cfg), text_encoder=text_dir
        ).eval()

    decoder = ours.config.decoder
    musicgen = MusicgenForCausalLM(
        MusicgenDecoderConfig(
            vocab_size=decoder.codebook_size,
            hidden_size=decoder.hidden_size,
            num_hidden_layers=decoder.num_hidden_layers,
            num_attention_heads=decoder.num_attention_heads,
            ffn_dim=decoder.ffn_dim,
            num_codebooks=decoder.num_codebooks,
            max_position_embeddings=4096,
            activation_function="gelu",
            dropout=0.0,
            attention_dropout=0.0,
            activation_dropout=0.0,
            layerdrop=0.0,
            scale_embedding=False,
            tie_word_embeddings=False,
            pad_token_id=decoder.codebook_size,
            bos_token_id=decoder.codebook_size,
            decoder_start_token_id=decoder.codebook_size,
        )
    ).eval()
    renames = (
        ("decoder.emb.", "model.decoder.embed_tokens."),
        ("decoder.out_norm.", "model.decoder.layer_norm."),
        ("decoder.linears.", "lm_heads."),
        ("decoder.layers.", "model.decoder.layers."),
        (".cross_attention.", ".encoder_attn."),
        (".linear1.", ".fc1."),
        (".linear2.", ".fc2."),
        (".norm1.", ".self_attn_layer_norm."),
        (".norm_cross.", ".encoder_attn_layer_norm."),
        (".norm2.", ".final_layer_norm."),
    )
    state = {}
    for key, value in ours.state_dict().items():
        if key.startswith("decoder."):
            for old, new in renames:
                key = key.replace(old, new)
            state[key] = value
    # assign=True: MusicGen reads our tensors instead of a third copy of the weights (it never writes them).
    missing, unexpected = musicgen.load_state_dict(state, strict=False, assign=True)
    assert not unexpected and set(missing) <= {"model.decoder.embed_positions.weights"}, (missing, unexpected)
    return reference, ours, musicgen, tokenizer


def make_runners(reference, ours, musicgen, tokenizer, batch_size: int, frames: int):
    """One zero-argument callable per implementation: samples ``frames`` frames for ``batch_size`` prompts and returns
    the codes (B, K, frames). Each includes its own text encoding."""
    from audiocraft.modules.conditioners import ConditioningAttributes
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    prompts = (PROMPTS * batch_size)[:batch_size]
    conditions = [ConditioningAttributes(text={"description": p}) for p in prompts]
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    num_codebooks, special = ours.config.decoder.num_codebooks, ours.config.decoder.special_token_id

    def run_ours(use_cache=True, do_sample=True, num_frames=frames):
        return ours.generate(
            **batch,
            max_new_frames=num_frames,
            do_sample=do_sample,
            top_k=TOP_K,
            top_p=1.0,
            guidance_scale=GUIDANCE,
            use_cache=use_cache,
            seed=0,
            progress_bar=False,
            return_dict_in_generate=True,
        ).audio_codes

    def run_audiocraft(do_sample=True, num_frames=frames):
        return reference.generate(
            None, conditions, max_gen_len=num_frames, use_sampling=do_sample, top_k=TOP_K, cfg_coef=GUIDANCE
        )

    def run_musicgen(do_sample=True, num_frames=frames):
        # audiogen.md §3.1: an explicit (B, 1) mask (the automatic one masks BOS, which equals pad) and an
        # EncoderDecoderCache (generate() would make a plain DynamicCache shared by self- and cross-attention).
        states, _ = ours.encode_text(batch["input_ids"], batch["attention_mask"])
        return musicgen.generate(
            input_ids=torch.full((batch_size * num_codebooks, 1), special),
            attention_mask=torch.ones(batch_size, 1),
            encoder_hidden_states=torch.cat([states, torch.zeros_like(states)]),
            past_key_values=EncoderDecoderCache(DynamicCache(), DynamicCache()),
            do_sample=do_sample,
            top_k=TOP_K if do_sample else None,
            guidance_scale=GUIDANCE,
            num_return_sequences=1,
            max_new_tokens=num_frames + num_codebooks - 1,
        )

    def run_ours_dynamic(do_sample=True, num_frames=frames):
        ours._generate_window = types.MethodType(dynamic_cache_window, ours)
        try:
            return run_ours(do_sample=do_sample, num_frames=num_frames)
        finally:
            del ours._generate_window

    return {
        "ours": run_ours,
        "ours (DynamicCache)": run_ours_dynamic,
        "audiocraft": run_audiocraft,
        "transformers": run_musicgen,
    }


def timed(fn) -> tuple[float, float]:
    """(process CPU seconds, wall seconds) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=250, help="frames to sample per call (50 frames = 1 s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per implementation (median reported)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--greedy-frames", type=int, default=20, help="frames of the greedy identical-codes check")
    parser.add_argument("--real-size", action="store_true", help="also time AudioGen-medium's decoder size")
    parser.add_argument("--real-frames", type=int, default=25)
    parser.add_argument("--real-repeats", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("command:", shlex.join([os.path.relpath(sys.executable), *sys.argv]))

    sizes = [("mid size", MID_SIZE, args.frames, args.repeats)]
    if args.real_size:
        sizes.append(("real size", REAL_SIZE, args.real_frames, args.real_repeats))
    for label, size, frames, repeats in sizes:
        models = build(frames, size)
        rows = bench(*models, args.batch_sizes, frames, repeats, args.greedy_frames, label)
        report(rows, frames, goal=GOAL if size is MID_SIZE else None)
        del models, rows


def bench(reference, ours, musicgen, tokenizer, batch_sizes, frames, repeats, greedy_frames, label):
    """[(batch size, greedy codes identical to ours per implementation, {implementation: (CPU s, wall s)})]."""
    decoder = ours.config.decoder
    print(
        f"\n{label}: decoder {decoder.num_hidden_layers} layers x {decoder.hidden_size}, "
        f"{decoder.num_attention_heads} heads, {decoder.num_codebooks} x {decoder.codebook_size} codes, delays "
        f"{decoder.codebook_delays}; {sum(p.numel() for p in ours.decoder.parameters()) / 1e6:.1f} M decoder "
        f"parameters; {frames} frames, top-k {TOP_K}, guidance {GUIDANCE}, torch {torch.__version__}, 1 thread",
        flush=True,
    )
    rows = []
    with torch.no_grad():
        for batch_size in batch_sizes:
            runs = make_runners(reference, ours, musicgen, tokenizer, batch_size, frames)
            greedy = {name: run(do_sample=False, num_frames=greedy_frames) for name, run in runs.items()}
            identical = {name: torch.equal(codes, greedy["ours"]) for name, codes in greedy.items()}
            print(f"batch {batch_size}: greedy codes ({greedy_frames} frames) identical to ours: {identical}")
            for run in runs.values():  # warm-up (allocations, lazy inits)
                run(num_frames=3)
            times = {name: [] for name in runs}
            for repeat in range(repeats):
                for name, run in runs.items():
                    times[name].append(timed(run))
                progress = ", ".join(f"{name} {values[-1][0]:.2f} s cpu" for name, values in times.items())
                print(f"batch {batch_size}, run {repeat + 1}/{repeats}: {progress}", flush=True)
            rows.append((batch_size, identical, {name: _medians(values) for name, values in times.items()}))
    return rows


def report(rows, frames: int, goal: float | None) -> None:
    print()
    print(
        "batch | implementation      | CPU s / call | frames / CPU s | ours is x faster | wall s / call | greedy = ours"
    )
    for batch_size, identical, medians in rows:
        ours_cpu = medians["ours"][0]
        for name, (cpu, wall) in medians.items():
            print(
                f"{batch_size:5d} | {name:19s} | {cpu:12.2f} | {batch_size * frames / cpu:14.1f} | "
                f"{cpu / ours_cpu:15.2f}x | {wall:13.2f} | {identical[name]}"
            )
    for batch_size, identical, medians in rows:
        ours_cpu = medians["ours"][0]
        ratios = {name: medians[name][0] / ours_cpu for name in ("audiocraft", "transformers", "ours (DynamicCache)")}
        verdict = ""
        if goal is not None:
            met = min(ratios["audiocraft"], ratios["transformers"]) >= goal and all(identical.values())
            verdict = f" -> goal (>= {goal}x both, identical greedy codes) {'met' if met else 'NOT met'}"
        print(
            f"batch {batch_size}: ours is {ratios['audiocraft']:.2f}x audiocraft, {ratios['transformers']:.2f}x "
            f"transformers' MusicGen, {ratios['ours (DynamicCache)']:.2f}x its DynamicCache loop (CPU time){verdict}"
        )


def _medians(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


if __name__ == "__main__":
    main()
