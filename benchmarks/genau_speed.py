"""Speed of GenAU's FiT denoiser: ours vs the reference ``FIT`` (same weights), and the growth of the step time with
the audio length compared with a full-attention transformer of the same width and depth.

What is timed, all on one CPU thread under ``torch.inference_mode`` (warm-up first, then the median of ``--repeats``
interleaved runs, so a load spike hits every implementation alike):

1. **One denoising step** = one FiT forward on a batch of 2 (the classifier-free-guidance batch of one prompt:
   unconditional + conditional rows) over the preset's full latent, ``(2, 64, 256)`` = 10.24 s for the GenAU presets.
   The CFG mix and the DDIM update are elementwise on that latent and left out. Our pipeline runs the two CFG rows as
   one batch; the reference's ``DDIMSampler`` makes two batch-1 calls, which is timed as an extra row.
2. **One clip** (10.24 s for the GenAU presets) = ``steps`` x (1) for the pipeline's default number of DDIM steps,
   plus the 1D-VAE decode and the HiFi-GAN vocoder run once on the guided latent (batch 1). Text encoding (CLAP +
   FLAN-T5, once per prompt) is not included. The reference's decode is its ``Decoder1D`` + ``post_quant_conv`` +
   HiFi-GAN ``Generator`` with our weights.
3. **Length sweep**: one step (batch 2) for 5..60 s of audio, FiT vs a full-attention transformer over all patch
   tokens (same width, same number of attention + feed-forward layers as the FiT has in total, built from the FiT's
   own layer classes, so only the attention pattern differs). The FiT is built with a positional range long enough
   for the longest length.

Times are process CPU seconds (with one thread, the compute cost; on a shared machine much steadier than wall time,
which is reported too). The reference code is imported from a checkout named by ``GENAU_REPO`` (it needs ``einops``;
the ``xformers`` it imports but never calls on this path is stubbed); without it only our side runs.

    GENAU_REPO=/path/to/GenAU python benchmarks/genau_speed.py [--preset genau-sample] [--repeats 9]
        [--decode-repeats 3] [--lengths 5 10 20 30 60] [--skip-reference] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import math
import os
import shlex
import statistics
import sys
import time
import types
import warnings
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import SpeechT5HifiGan

from hf_audiogen.genau import (
    FIT_PRESETS,
    AutoencoderKL1D,
    FiTTransformer1DModel,
    GenAUPipeline,
    genau_vocoder_config,
    vocoder_hop_length,
)
from hf_audiogen.genau.modeling_fit import FiTAttention, FiTFeedForward

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "parity"))
import genau_reference  # noqa: E402 (the reference importer shared with tests/parity/test_parity_genau.py)

PRESETS = sorted([*FIT_PRESETS, "tiny"])  # "tiny": the tests' FiT (tests/factories.py), for a smoke run


def fit_preset(name: str, **overrides) -> FiTTransformer1DModel:
    """A randomly initialised FiT of the preset ``name`` (one of ``PRESETS``), with ``overrides``."""
    if name != "tiny":
        return FiTTransformer1DModel.from_preset(name, **overrides)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from factories import TINY_FIT_CONFIG

    return FiTTransformer1DModel(**{**TINY_FIT_CONFIG, **overrides})


DEFAULT_STEPS = inspect.signature(GenAUPipeline.__call__).parameters["num_inference_steps"].default
TIMESTEP = 500  # any step: the FiT's cost does not depend on it


# ----------------------------------------------------------------------------------------------------------------------
# The reference, imported from its checkout
# ----------------------------------------------------------------------------------------------------------------------
def reference_unavailable_reason(skip_reference: bool) -> str | None:
    """Why the reference part cannot run, or ``None`` if it can."""
    if skip_reference:
        return "--skip-reference was given"
    return genau_reference.unavailable_reason(os.environ.get("GENAU_REPO"))


def build_reference_fit(ref: types.SimpleNamespace, config) -> nn.Module:
    """The reference FIT (GenAU's sample-yaml structure: FITBlockV5, conditioning as context tokens) with the sizes
    of our ``config``."""
    attention = dict(heads=config.num_attention_heads, dim_head=config.attention_head_dim)
    return ref.FIT(
        weight_initializer={"target": ref.RINWeightScalerInitializer, "scale": config.weight_init_scale},
        fit_block_module=ref.FITBlockV5,
        context_channels=config.context_dim,
        summary_text_embeddings_channels=config.text_embed_dim,
        conditioning_in_context=True,
        time_pe_type="learned",
        learned_sinusoidal_dim=config.time_embed_dim,
        use_dataset_id_conditioning=config.num_dataset_ids > 0,
        dataset_ids_count=config.num_dataset_ids,
        input_size=[1, config.sample_size, 1],
        patch_size=[1, config.patch_size, 1],
        group_size=[1, config.group_size, 1],
        input_channels=config.in_channels,
        patch_channels=config.hidden_size,
        fit_blocks_count=config.num_blocks,
        local_layers_per_block=config.local_layers_per_block,
        global_layers_per_block=config.global_layers_per_block,
        latent_count=config.num_latents,
        latent_channels=config.latent_hidden_size,
        self_conditioning_ff_config={"mult": config.ff_mult},
        fit_block_config=dict(
            attention_class=ref.Attention,
            ff_class=ref.FeedForward,
            drop_units=config.dropout,
            drop_path=0.0,
            use_cross_attention_feedforward=True,
            default_attention_config=attention,
            default_ff_config={"mult": config.ff_mult},
        ),
    )


def run_reference_fit(ref: types.SimpleNamespace, model: nn.Module, sample, timestep, text, dataset_id):
    """The reference FIT's ε for one input, fed as GenAU's ``DiffusionWrapper`` does."""
    return genau_reference.run_reference_fit(ref, model, sample, timestep, text, dataset_id)[0]


def build_reference_decoder(ref: types.SimpleNamespace, vae: AutoencoderKL1D, vocoder: SpeechT5HifiGan):
    """The reference ``Decoder1D`` + ``post_quant_conv`` + HiFi-GAN ``Generator``, strictly loaded with our weights."""
    vae_config, voc_config = vae.config, vocoder.config
    if vae_config.norm_num_groups != 32:
        raise ValueError(f"the reference VAE hard-codes GroupNorm(32); this VAE uses {vae_config.norm_num_groups}")
    base = vae_config.block_out_channels[0]
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "making attention of type 'vanilla' ..."
        decoder = ref.Decoder1D(
            ch=base,
            out_ch=vae_config.out_channels,
            ch_mult=[c // base for c in vae_config.block_out_channels],
            num_res_blocks=vae_config.layers_per_block,
            attn_resolutions=[],
            dropout=vae_config.dropout,
            in_channels=vae_config.in_channels,
            resolution=256,
            z_channels=vae_config.z_channels,
            double_z=True,
        )
    decoder.load_state_dict(
        {k.removeprefix("decoder."): v for k, v in vae.state_dict().items() if k.startswith("decoder.")}, strict=True
    )
    post_quant_conv = nn.Conv1d(vae_config.latent_channels, vae_config.z_channels, kernel_size=1)
    post_quant_conv.load_state_dict(vae.post_quant_conv.state_dict(), strict=True)
    h = types.SimpleNamespace(
        resblock="1",
        upsample_rates=voc_config.upsample_rates,
        upsample_kernel_sizes=voc_config.upsample_kernel_sizes,
        upsample_initial_channel=voc_config.upsample_initial_channel,
        resblock_kernel_sizes=voc_config.resblock_kernel_sizes,
        resblock_dilation_sizes=voc_config.resblock_dilation_sizes,
        num_mels=voc_config.model_in_dim,
    )
    with warnings.catch_warnings():  # its torch.nn.utils.weight_norm is deprecated; that is the reference's business
        warnings.simplefilter("ignore", FutureWarning)
        generator = ref.Generator(h)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Removing weight norm..."
        generator.remove_weight_norm()  # GenAU loads the weight-normed checkpoint, then removes weight norm
    generator.load_state_dict(
        {k.replace("upsampler.", "ups."): v for k, v in vocoder.state_dict().items() if k not in ("mean", "scale")},
        strict=True,
    )
    return decoder.eval(), post_quant_conv.eval(), generator.eval()


# ----------------------------------------------------------------------------------------------------------------------
# Our side
# ----------------------------------------------------------------------------------------------------------------------
def build_decoder(in_channels: int) -> tuple[AutoencoderKL1D, SpeechT5HifiGan]:
    """The released GenAU sizes (the reference's 1d_vae.yaml VAE, the AudioLDM 16 kHz HiFi-GAN) for 64-channel
    latents; a tiny VAE + vocoder for other latent widths (the ``tiny`` preset)."""
    if in_channels == 64:
        return AutoencoderKL1D().eval(), SpeechT5HifiGan(genau_vocoder_config()).eval()
    vae = AutoencoderKL1D(
        block_out_channels=(32, 32, 64), layers_per_block=1, z_channels=8, latent_channels=in_channels
    )
    return vae.eval(), SpeechT5HifiGan(genau_vocoder_config(upsample_initial_channel=32)).eval()


class FullAttentionTransformer(nn.Module):
    """Baseline: the FiT's patch embedding, then ``num_layers`` pre-norm self-attention + feed-forward layers over all
    patch tokens, then the FiT's output projection. Hand-built from the FiT's own ``FiTAttention``/``FiTFeedForward``
    (rather than ``nn.TransformerEncoder``) so both models run the same kernels and only the attention pattern
    differs."""

    def __init__(
        self,
        in_channels: int,
        patch_size: int,
        max_patches: int,
        hidden_size: int,
        num_layers: int,
        heads: int,
        dim_head: int,
        ff_mult: int,
    ):
        super().__init__()
        self.patch_size = patch_size
        self.to_patches = nn.Sequential(nn.Linear(in_channels * patch_size, hidden_size), nn.LayerNorm(hidden_size))
        self.patches_pe = nn.Parameter(torch.randn(max_patches, hidden_size) * 0.02)
        self.layers = nn.ModuleList(
            nn.ModuleList([FiTAttention(hidden_size, heads, dim_head), FiTFeedForward(hidden_size, ff_mult)])
            for _ in range(num_layers)
        )
        self.patch_to_pixels = nn.Sequential(
            nn.LayerNorm(hidden_size), nn.Linear(hidden_size, in_channels * patch_size)
        )

    def forward(self, sample: torch.Tensor) -> torch.Tensor:
        batch, channels, frames = sample.shape
        num_patches = frames // self.patch_size
        tokens = sample.reshape(batch, channels, num_patches, self.patch_size).permute(0, 2, 1, 3).flatten(2)
        hidden = self.to_patches(tokens) + self.patches_pe[:num_patches]
        for attn, ff in self.layers:
            hidden = hidden + attn(hidden)
            hidden = hidden + ff(hidden)
        out = self.patch_to_pixels(hidden).reshape(batch, num_patches, channels, self.patch_size)
        return out.permute(0, 2, 1, 3).reshape(batch, channels, frames)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----------------------------------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------------------------
def time_interleaved(runs: dict, repeats: int, warmup: int, desc: str) -> dict[str, dict[str, float]]:
    """``{name: {"cpu_s", "wall_s", "cpu_min_s"}}``: medians over ``repeats`` rounds; each round calls every runner
    once, in turn, so they see the same machine load."""
    for _ in range(warmup):
        for run in runs.values():
            run()
    samples = {name: [] for name in runs}
    for _ in tqdm(range(repeats), desc=desc, leave=False):
        for name, run in runs.items():
            cpu, wall = time.process_time(), time.perf_counter()
            run()
            samples[name].append((time.process_time() - cpu, time.perf_counter() - wall))
    return {
        name: {
            "cpu_s": statistics.median(c for c, _ in values),
            "wall_s": statistics.median(w for _, w in values),
            "cpu_min_s": min(c for c, _ in values),
        }
        for name, values in samples.items()
    }


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _fmt(seconds: float) -> str:
    return f"{seconds:.4f}" if seconds < 10 else f"{seconds:.2f}"


# ----------------------------------------------------------------------------------------------------------------------
# The three measurements
# ----------------------------------------------------------------------------------------------------------------------
def measure_step(fit, ref, args) -> dict:
    """(1): one FiT forward on the CFG batch of one prompt, ours vs the reference with the same weights."""
    config = fit.config
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(2, config.in_channels, config.sample_size, generator=generator)
    text = torch.randn(2, config.text_embed_dim, generator=generator)  # rows: unconditional, conditional
    timestep = torch.full((2,), float(TIMESTEP))
    dataset_id = torch.zeros(2, dtype=torch.long)  # "audiocaps" for both rows, as the pipeline does
    result = {"input_shape": list(sample.shape), "timestep": TIMESTEP}
    runs = {"ours": lambda: fit(sample, timestep, text, dataset_id)}
    if ref is not None:
        ref_fit = build_reference_fit(ref, config).eval()
        ref_fit.load_state_dict(fit.state_dict(), strict=True)  # our names are the reference's, 1:1
        ours_out, ref_out = runs["ours"]().sample, run_reference_fit(ref, ref_fit, sample, timestep, text, dataset_id)
        max_diff = (ours_out - ref_out).abs().max().item()
        scale = ref_out.abs().max().item()
        result.update(max_abs_diff=max_diff, output_max_abs=scale)
        if not max_diff <= 1e-5 * max(1.0, scale):
            raise RuntimeError(f"ours and the reference FiT disagree (max |diff| {max_diff:.2e}): not timing them")
        runs["reference"] = lambda: run_reference_fit(ref, ref_fit, sample, timestep, text, dataset_id)
        runs["reference_two_batch1_calls"] = lambda: [
            run_reference_fit(ref, ref_fit, sample[i : i + 1], timestep[:1], text[i : i + 1], dataset_id[:1])
            for i in range(2)
        ]
    result["times"] = time_interleaved(runs, args.repeats, warmup=2, desc="denoising step")
    return result


def measure_decode(fit, vae, vocoder, ref, args) -> dict:
    """(2), the decode part: 1D-VAE decode + vocoder once, batch 1, ours vs the reference with the same weights."""
    generator = torch.Generator().manual_seed(1)
    latent = torch.randn(1, fit.config.in_channels, fit.config.sample_size, generator=generator)
    runs = {"ours": lambda: vocoder(vae.decode(latent).sample.transpose(1, 2))}
    ours_audio = runs["ours"]()
    result = {"latent_shape": list(latent.shape), "audio_samples": ours_audio.shape[-1]}
    if ref is not None:
        decoder, post_quant_conv, ref_vocoder = build_reference_decoder(ref, vae, vocoder)
        runs["reference"] = lambda: ref_vocoder(decoder(post_quant_conv(latent)))[:, 0]
        ref_audio = runs["reference"]()
        max_diff = (ours_audio - ref_audio).abs().max().item()
        scale = ref_audio.abs().max().item()  # random weights give quiet audio: compare relative to it
        result.update(max_abs_diff=max_diff, output_max_abs=scale)
        if not max_diff <= 1e-5 * scale:
            raise RuntimeError(
                f"our and the reference decoder disagree (max |diff| {max_diff:.2e}, audio up to "
                f"{scale:.2e}): not timing them"
            )
    result["times"] = time_interleaved(runs, args.decode_repeats, warmup=1, desc="VAE decode + vocoder")
    return result


def measure_lengths(preset: str, preset_config, seconds_per_frame: float, args) -> dict:
    """(3): step time for each length, FiT vs full attention over the FiT's patch tokens."""
    multiple = preset_config.patch_size * preset_config.group_size
    frames = [math.ceil(s / seconds_per_frame / multiple - 1e-9) * multiple for s in args.lengths]
    sample_size = max(preset_config.sample_size, max(frames))
    latents_per_group = preset_config.num_latents // (preset_config.sample_size // multiple)
    torch.manual_seed(0)
    num_latents = latents_per_group * (sample_size // multiple)
    fit = fit_preset(preset, sample_size=sample_size, num_latents=num_latents).eval()
    # Same width and the same number of attention + feed-forward layers as the FiT has in total.
    num_layers = sum(isinstance(m, FiTAttention) for m in fit.modules())
    full = FullAttentionTransformer(
        preset_config.in_channels,
        preset_config.patch_size,
        sample_size // preset_config.patch_size,
        preset_config.hidden_size,
        num_layers,
        preset_config.num_attention_heads,
        preset_config.attention_head_dim,
        preset_config.ff_mult,
    ).eval()
    result = {
        "preset_max_length_s": preset_config.sample_size * seconds_per_frame,
        "benchmark_sample_size": sample_size,
        "benchmark_max_length_s": sample_size * seconds_per_frame,
        "fit_parameters": count_parameters(fit),
        "full_attention_layers": num_layers,
        "full_attention_parameters": count_parameters(full),
        "rows": [],
    }
    generator = torch.Generator().manual_seed(2)
    text = torch.randn(2, preset_config.text_embed_dim, generator=generator)
    timestep, dataset_id = torch.full((2,), float(TIMESTEP)), torch.zeros(2, dtype=torch.long)
    for seconds, num_frames in zip(args.lengths, frames):
        sample = torch.randn(2, preset_config.in_channels, num_frames, generator=generator)
        times = time_interleaved(
            {"fit": lambda: fit(sample, timestep, text, dataset_id), "full_attention": lambda: full(sample)},
            args.repeats,
            warmup=1,
            desc=f"{seconds:g} s",
        )
        num_patches = num_frames // preset_config.patch_size
        result["rows"].append(
            {
                "seconds": seconds,
                "latent_frames": num_frames,
                "patch_tokens": num_patches,
                "fit_latent_tokens": num_patches // preset_config.group_size * latents_per_group,
                "fit": times["fit"],
                "full_attention": times["full_attention"],
                "ratio_fit_over_full": times["fit"]["cpu_s"] / times["full_attention"]["cpu_s"],
            }
        )
    first, last = result["rows"][0], result["rows"][-1]
    tokens = [math.log(r["patch_tokens"]) for r in result["rows"]]
    result["growth"] = {"tokens": last["patch_tokens"] / first["patch_tokens"]}
    for name in ("fit", "full_attention"):
        result["growth"][name] = last[name]["cpu_s"] / first[name]["cpu_s"]
        if len(set(tokens)) > 1:  # log-log slope: ~1 = linear in the sequence length, ~2 = quadratic
            result["growth"][f"{name}_exponent"] = statistics.linear_regression(
                tokens, [math.log(r[name]["cpu_s"]) for r in result["rows"]]
            ).slope
    return result


# ----------------------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--preset",
        default="genau-sample",
        choices=PRESETS,
        help="FiT size (default: %(default)s = the reference's sample config, 70.1M parameters)",
    )
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds per step measurement (median)")
    parser.add_argument("--decode-repeats", type=int, default=3, help="timed rounds of VAE decode + vocoder")
    parser.add_argument(
        "--steps",
        type=int,
        default=DEFAULT_STEPS,
        help="denoising steps per clip (default: GenAUPipeline's %(default)s)",
    )
    parser.add_argument(
        "--lengths",
        type=float,
        nargs="+",
        default=[5, 10, 20, 30, 60],
        help="audio lengths in seconds for the growth table",
    )
    parser.add_argument("--skip-reference", action="store_true", help="time ours only")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    for name in ("repeats", "decode_repeats", "steps"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if any(not s > 0 for s in args.lengths):
        raise ValueError(f"--lengths must be positive seconds, got {args.lengths}")
    args.lengths = sorted(args.lengths)

    torch.set_num_threads(1)
    command = (
        shlex.join([os.path.relpath(sys.executable), *sys.argv])
        if argv is None
        else shlex.join(["benchmarks/genau_speed.py", *argv])
    )
    skipped = reference_unavailable_reason(args.skip_reference)
    with contextlib.ExitStack() as stack:
        ref = None if skipped else stack.enter_context(genau_reference.reference_modules(os.environ["GENAU_REPO"]))
        return _run(args, command, skipped, ref)


def _run(args: argparse.Namespace, command: str, skipped: str | None, ref: types.SimpleNamespace | None) -> dict:
    """The measurements of :func:`main`, with the reference modules (or ``None``) loaded for the whole run."""
    report = {
        "command": command,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "loadavg_start": loadavg(),
        "preset": args.preset,
        "steps": args.steps,
        "reference_skipped": skipped,
    }
    print("command:", command)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread, inference_mode; load average (1/5/15 min) at "
        f"start: {report['loadavg_start']}"
    )
    print("reference: " + (f"SKIPPED ({skipped})" if skipped else f"GENAU_REPO={os.environ['GENAU_REPO']}"))

    torch.manual_seed(0)
    fit = fit_preset(args.preset).eval()
    vae, vocoder = build_decoder(fit.config.in_channels)
    seconds_per_frame = vocoder_hop_length(vocoder) * vae.temporal_downsampling / vocoder.config.sampling_rate
    clip_seconds = fit.config.sample_size * seconds_per_frame
    report["fit_parameters"] = count_parameters(fit)
    report["clip_seconds"] = clip_seconds
    with torch.inference_mode():
        report["step"] = step = measure_step(fit, ref, args)
        report["decode"] = decode = measure_decode(fit, vae, vocoder, ref, args)
        report["lengths"] = lengths = measure_lengths(args.preset, fit.config, seconds_per_frame, args)
    report["loadavg_end"] = loadavg()

    # ---- (1) + (2)
    print(
        f"\nFiT preset {args.preset!r}: {report['fit_parameters'] / 1e6:.2f}M parameters; latent frames at "
        f"{1 / seconds_per_frame:g}/s (16 kHz, hop {vocoder_hop_length(vocoder)}, x{vae.temporal_downsampling} VAE)"
    )
    print(
        f"(1) one denoising step = one FiT forward on the CFG batch of one prompt, input "
        f"{tuple(step['input_shape'])} = {clip_seconds:g} s; median of {args.repeats} (CPU s, wall s in brackets)"
    )
    if "max_abs_diff" in step:
        print(
            f"    same weights check: max |ours - reference| = {step['max_abs_diff']:.2e} (outputs up to "
            f"{step['output_max_abs']:.2f}), fp32"
        )
    labels = {
        "ours": "ours (batch 2)",
        "reference": "reference (batch 2)",
        "reference_two_batch1_calls": "reference, 2 x batch 1 (its DDIMSampler)",
    }
    for name, t in step["times"].items():
        print(
            f"    {labels[name]:42s} {_fmt(t['cpu_s'])} s/step  ({_fmt(t['wall_s'])} s wall, min "
            f"{_fmt(t['cpu_min_s'])})"
        )
    print(
        f"(2) one {clip_seconds:g} s clip = {args.steps} steps x (1) + VAE decode + vocoder once (batch 1, "
        f"median of {args.decode_repeats}); text encoding not included"
    )
    if "max_abs_diff" in decode:
        print(
            f"    same weights check: max |audio ours - reference| = {decode['max_abs_diff']:.2e} (audio up to "
            f"{decode['output_max_abs']:.2e}), fp32"
        )
    clip = {}
    for name in decode["times"]:
        dec = decode["times"][name]["cpu_s"]
        total = args.steps * step["times"][name]["cpu_s"] + dec
        clip[name] = {"decode_cpu_s": dec, "total_cpu_s": total, "per_10s_audio_cpu_s": total * 10 / clip_seconds}
        print(
            f"    {name:10s} {args.steps} x {_fmt(step['times'][name]['cpu_s'])} + decode {_fmt(dec)} = "
            f"{total:.2f} s per clip = {clip[name]['per_10s_audio_cpu_s']:.2f} s per 10 s of audio "
            f"(RTF {total / clip_seconds:.2f})"
        )
    report["clip"] = clip
    if "reference" in step["times"]:
        report["ratio_ours_over_reference"] = ratios = {
            "step": step["times"]["ours"]["cpu_s"] / step["times"]["reference"]["cpu_s"],
            "step_vs_two_batch1_calls": step["times"]["ours"]["cpu_s"]
            / step["times"]["reference_two_batch1_calls"]["cpu_s"],
            "decode": clip["ours"]["decode_cpu_s"] / clip["reference"]["decode_cpu_s"],
            "clip": clip["ours"]["total_cpu_s"] / clip["reference"]["total_cpu_s"],
        }
        print(
            f"    ratio ours / reference (CPU time): step {ratios['step']:.3f} (vs its 2 x batch-1 sampling "
            f"{ratios['step_vs_two_batch1_calls']:.3f}), decode {ratios['decode']:.3f}, clip {ratios['clip']:.3f}"
        )
    else:
        print(f"    reference part skipped: {skipped}")

    # ---- (3)
    print(
        f"\n(3) step time vs audio length (batch 2, median of {args.repeats} CPU s). The preset's positional range "
        f"is {lengths['preset_max_length_s']:g} s; ",
        end="",
    )
    if lengths["benchmark_sample_size"] > fit.config.sample_size:
        print(
            f"for this table the FiT is built with sample_size={lengths['benchmark_sample_size']} latent frames "
            f"({lengths['benchmark_max_length_s']:g} s) and latents in proportion (same latents per group)."
        )
    else:
        print("every length fits in it.")
    print(
        f"    FiT {lengths['fit_parameters'] / 1e6:.2f}M parameters; full attention: "
        f"{lengths['full_attention_layers']} self-attention + feed-forward layers (= the FiT's attention layers) of "
        f"width {fit.config.hidden_size} over all patch tokens, "
        f"{lengths['full_attention_parameters'] / 1e6:.2f}M parameters"
    )
    print("    length | latent frames | patch tokens | FiT latent tokens | FiT s/step | full-attn s/step | FiT/full")
    for row in lengths["rows"]:
        print(
            f"    {row['seconds']:5g} s | {row['latent_frames']:13d} | {row['patch_tokens']:12d} | "
            f"{row['fit_latent_tokens']:17d} | {_fmt(row['fit']['cpu_s']):>10s} | "
            f"{_fmt(row['full_attention']['cpu_s']):>16s} | {row['ratio_fit_over_full']:8.3f}"
        )
    growth, first, last = lengths["growth"], lengths["rows"][0]["seconds"], lengths["rows"][-1]["seconds"]
    print(
        f"    growth {first:g} s -> {last:g} s: tokens x{growth['tokens']:.2f}; FiT x{growth['fit']:.2f}, "
        f"full attention x{growth['full_attention']:.2f}",
        end="",
    )
    if "fit_exponent" in growth:
        print(
            f"; log-log slope (1 = linear, 2 = quadratic): FiT {growth['fit_exponent']:.2f}, full attention "
            f"{growth['full_attention_exponent']:.2f}"
        )
    else:
        print()
    print(f"load average at end: {report['loadavg_end']}")

    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
