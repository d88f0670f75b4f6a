"""Does the train-and-generate path make a model follow its text? A controlled test on procedural sounds.

Six procedural sound classes, one caption each (a low hum, a high beep, static hiss, a rising sweep, rapid ticking,
pulsing noise bursts; every clip draws its own pitch, rate, phase and level) are written as a corpus, tokenized with a
codec by ``training_scripts/tokenize_audiogen_dataset.py``, and a tiny AudioGen LM is trained from scratch on the codes
by the project's training loop (``hf_audiogen.training.audiogen.main``, i.e. ``training_scripts/train_audiogen.py``)
over a tiny frozen T5 whose word-level vocabulary covers the captions. Every caption is then generated
``--samples`` times (the same seeds for every caption, so a model that ignores the text produces the same sounds
whatever the caption) at guidance 1 and 3, decoded by the codec, and labelled by a nearest-class classifier: class
centroids of log-mel statistics (:class:`~hf_audiogen.evaluation.LogMelStatisticsEmbedding`, standardised cosine)
fitted on **codec reconstructions** of fresh clips, the domain generated audio lives in.

Reported, against chance (1/6):

* the codec's **separability**: the classifier's accuracy on reconstructions of other fresh clips (the ceiling);
* the model's **accuracy** at guidance 1 and 3;
* the **control**: the same run with the training captions shuffled against the codes (conditioning broken on
  purpose), at guidance 3. A model that ignores the text scores 1/6 in expectation whatever it generates.

The codec is the bundled ``sfx-codec-small`` cut to its first ``--num_codebooks`` codebooks (it was trained with
quantizer dropout, so a prefix of its codebooks is a valid lower-bitrate codec). On these sounds its reconstructions
separate the classes (96-100% with 2 codebooks); its 1.5-2.5 kHz tones come back as hiss, which is why the high beep
sits at 0.7-1 kHz.

Measured (seeds 0, 1, 2; chance 16.7%): guidance 1 62-65%, guidance 3 76-91%, control 15-18%; about 70 s of CPU per
seed on one thread. ``--quick`` (the suite's size), seeds 0-4: guidance 3 78-93%, control 12-23%; 27 s of CPU per seed.

    python benchmarks/synthetic_adherence.py --seeds 0 1 2 --json synthetic_adherence.json
    python benchmarks/synthetic_adherence.py --quick --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
SAMPLING_RATE = 16_000
GUIDANCE_SCALES = (1.0, 3.0)
CONTROL_GUIDANCE = 3.0


# ----------------------------------------------------------------------------------------------------------------------
# Procedural classes
# ----------------------------------------------------------------------------------------------------------------------
def _time(n: int) -> np.ndarray:
    return np.arange(n) / SAMPLING_RATE


def low_hum(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.sin(2 * np.pi * rng.uniform(110, 180) * _time(n) + rng.uniform(0, 2 * np.pi))


def high_beep(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.sin(2 * np.pi * rng.uniform(700, 1000) * _time(n) + rng.uniform(0, 2 * np.pi))


def static_hiss(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.standard_normal(n)


def rising_sweep(rng: np.random.Generator, n: int) -> np.ndarray:
    """Exponential sweep from 250-400 Hz to 3-4.5 kHz over the clip."""
    f0, f1, seconds = rng.uniform(250, 400), rng.uniform(3000, 4500), n / SAMPLING_RATE
    rate = np.log(f1 / f0) / seconds
    return np.sin(2 * np.pi * f0 * np.expm1(rate * _time(n)) / rate)


def rapid_ticking(rng: np.random.Generator, n: int) -> np.ndarray:
    """8-14 clicks per second: 10 ms noise grains with a fast exponential decay."""
    out, grain = np.zeros(n), 160
    envelope = np.exp(-np.arange(grain) / 20.0)
    period = 1.0 / rng.uniform(8, 14)
    for onset in np.arange(rng.uniform(0, period), n / SAMPLING_RATE, period):
        start = int(onset * SAMPLING_RATE)
        piece = (rng.standard_normal(grain) * envelope)[: n - start]
        out[start : start + len(piece)] += piece
    return out


def noise_bursts(rng: np.random.Generator, n: int) -> np.ndarray:
    """White noise gated on for 40% of each 0.25-0.4 s period."""
    gate = ((_time(n) * rng.uniform(2.5, 4.0) + rng.uniform(0, 1)) % 1.0) < 0.4
    return rng.standard_normal(n) * gate


CLASSES = {
    "a low hum": low_hum,
    "a high beep": high_beep,
    "steady static hiss": static_hiss,
    "a rising sweep": rising_sweep,
    "rapid ticking clicks": rapid_ticking,
    "pulsing noise bursts": noise_bursts,
}
CAPTIONS = list(CLASSES)


def synthesize(caption: str, rng: np.random.Generator, seconds: float) -> np.ndarray:
    """One clip of the class ``caption``, peak level drawn in [0.3, 0.8]."""
    audio = CLASSES[caption](rng, int(round(seconds * SAMPLING_RATE)))
    return (audio / np.abs(audio).max() * rng.uniform(0.3, 0.8)).astype(np.float32)


def write_corpus(folder: Path, clips_per_class: dict[str, int], seconds: float, seed: int) -> Path:
    """WAV clips + ``metadata.jsonl`` (file, caption, source, split), ``clips_per_class`` per split."""
    from hf_audiogen.audio import write_audio

    rng = np.random.default_rng(seed)
    rows = []
    for split, count in clips_per_class.items():
        for i in range(count):
            for c, caption in enumerate(CAPTIONS):
                name = f"clips/{split}-{c}-{i:03d}.wav"
                write_audio(folder / name, synthesize(caption, rng, seconds), SAMPLING_RATE)
                rows.append({"file": name, "caption": caption, "source": "synthetic", "split": split})
    (folder / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


# ----------------------------------------------------------------------------------------------------------------------
# Codec, text encoder, classifier
# ----------------------------------------------------------------------------------------------------------------------
def prepare_codec(folder: Path, num_codebooks: int, source: str | os.PathLike | None = None) -> Path:
    """The codec (default: the bundled one) cut to its first ``num_codebooks`` codebooks, saved in ``folder``."""
    from hf_audiogen.codec.reconstruct import load_codec

    codec, _ = load_codec(source)
    if not 1 <= num_codebooks <= codec.config.num_quantizers:
        raise ValueError(f"num_codebooks must be in [1, {codec.config.num_quantizers}], got {num_codebooks}")
    codec.quantizer.layers = codec.quantizer.layers[:num_codebooks]
    codec.quantizer.num_quantizers = codec.config.num_quantizers = num_codebooks
    codec.save_pretrained(folder)
    return folder


def prepare_text_encoder(folder: Path, captions: list[str], seed: int = 0) -> Path:
    """A 2-layer random T5 encoder (width 32) and a word-level tokenizer whose vocabulary is the captions' words: a
    distinct token sequence per caption is all this test needs from the text side, and it costs nothing to run."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(captions, trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"]))
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", padding_side="right"
    )
    config = T5Config(
        vocab_size=64,
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_heads=2,
        dropout_rate=0.0,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=16,
        feed_forward_proj="relu",
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    torch.manual_seed(seed)
    T5EncoderModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


class NearestClassClassifier:
    """Nearest class centroid under the standardised cosine of an audio embedding (default: log-mel statistics).

    Example:
        >>> clf = NearestClassClassifier().fit(train_audio, train_labels, sampling_rate=16000)  # doctest: +SKIP
        >>> clf.predict(generated_audio, sampling_rate=16000)  # doctest: +SKIP
    """

    def __init__(self, embedding=None):
        from hf_audiogen.evaluation import LogMelStatisticsEmbedding

        self.embedding = embedding or LogMelStatisticsEmbedding()

    def fit(self, audio: list[np.ndarray], labels, sampling_rate: int) -> NearestClassClassifier:
        from hf_audiogen.evaluation import StandardizedCosine

        features = self.embedding(audio, sampling_rate=sampling_rate)
        labels = np.asarray(labels)
        self.classes = np.unique(labels)
        self.similarity = StandardizedCosine(features)
        units = self.similarity.unit_vectors(features)
        self.centroids = np.stack([units[labels == c].mean(axis=0) for c in self.classes])
        return self

    def predict(self, audio: list[np.ndarray], sampling_rate: int) -> np.ndarray:
        units = self.similarity.unit_vectors(self.embedding(audio, sampling_rate=sampling_rate))
        return self.classes[np.argmax(units @ self.centroids.T, axis=1)]


def reconstructions(codec, clips: list[np.ndarray]) -> list[np.ndarray]:
    from hf_audiogen.evaluation import codec_reconstruction

    return [codec_reconstruction(codec, clip, SAMPLING_RATE)[0] for clip in clips]


def fit_classifier(codec, seconds: float, clips_per_class: int, seed: int) -> tuple[NearestClassClassifier, float]:
    """The classifier fitted on reconstructions of fresh clips, and its accuracy on reconstructions of other fresh
    clips (the codec's separability of the classes: the ceiling of the model's accuracy)."""
    rng = np.random.default_rng(seed)

    def clips(count):
        labels = [c for c in range(len(CAPTIONS)) for _ in range(count)]
        return reconstructions(codec, [synthesize(CAPTIONS[c], rng, seconds) for c in labels]), np.array(labels)

    (fit_audio, fit_labels), (test_audio, test_labels) = clips(clips_per_class), clips(clips_per_class)
    classifier = NearestClassClassifier().fit(fit_audio, fit_labels, SAMPLING_RATE)
    return classifier, float(np.mean(classifier.predict(test_audio, SAMPLING_RATE) == test_labels))


# ----------------------------------------------------------------------------------------------------------------------
# Tokenize, train, generate
# ----------------------------------------------------------------------------------------------------------------------
def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "training_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def training_shards(source: Path, target: Path, repeats: int, shuffle_seed: int | None = None) -> Path:
    """A copy of the token shards for training: each training clip ``repeats`` times, so that the whole run is one
    epoch (``datasets``' streaming parquet reader sleeps 5 s whenever an epoch ends, which would dominate a run of
    a few hundred steps over a hundred clips), and with ``shuffle_seed`` the captions dealt out anew: the control.

    The deal breaks the link between caption and codes completely. In every repeat, the clips of each class are dealt
    evenly over all the captions (in a random order, rotated from one repeat to the next), so each caption covers the
    same mix of classes and, over the repeats, every clip comes with every caption. (A plain permutation would leave
    each caption with a chance excess of some class, and each clip with one caption; guidance amplifies both.)"""
    import pyarrow as pa
    import pyarrow.parquet as pq

    target.mkdir(parents=True, exist_ok=True)
    info = json.loads((source / "tokenization.json").read_text())
    rng = np.random.default_rng(shuffle_seed)
    for split_name, split in info["splits"].items():
        table = pa.concat_tables([pq.read_table(source / name) for name in split["shards"]])
        copies = repeats if split_name == "train" else 1
        if shuffle_seed is None:
            table = pa.concat_tables([table] * copies)
        else:
            captions = table.column("caption").to_pylist()
            order = {
                caption: rng.permutation([i for i, c in enumerate(captions) if c == caption]) for caption in CAPTIONS
            }
            offsets = {caption: int(rng.integers(len(CAPTIONS))) for caption in CAPTIONS}
            parts = []
            for copy in range(copies):
                dealt = list(captions)
                for caption, rows in order.items():
                    for j, i in enumerate(rows):
                        dealt[i] = CAPTIONS[(offsets[caption] + j + copy) % len(CAPTIONS)]
                column = table.schema.get_field_index("caption")
                parts.append(table.set_column(column, "caption", pa.array(dealt, pa.string())))
            table = pa.concat_tables(parts)
        name = f"{split_name}-00000.parquet"
        pq.write_table(table, target / name)
        split.update(shards=[name], clips=table.num_rows)
    (target / "tokenization.json").write_text(json.dumps(info))
    return target


@dataclass
class Settings:
    """Sizes of one run (defaults: the benchmark; :data:`QUICK`: the test suite's)."""

    seconds: float = 1.0
    train_clips_per_class: int = 48
    classifier_clips_per_class: int = 12
    num_codebooks: int = 2
    train_steps: int = 400
    batch_size: int = 16
    learning_rate: float = 2e-3
    hidden_size: int = 64
    num_layers: int = 2
    samples_per_caption: int = 16


QUICK = Settings(train_clips_per_class=24, classifier_clips_per_class=8, train_steps=150)


@dataclass
class RunResult:
    seed: int
    separability: float
    accuracy: dict  # guidance scale (str) -> accuracy
    control_accuracy: float
    chance: float
    confusion: dict = field(default_factory=dict)  # guidance scale or "control" -> 6 x 6 counts (rows: caption)
    seconds: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Accuracy at guidance 3 at least 3 x chance, the control at most 1.5 x chance (exactly, on counts)."""
        hits = {name: (np.trace(np.asarray(c)), np.sum(c)) for name, c in self.confusion.items()}
        (model_hits, model_total), (control_hits, control_total) = hits[str(CONTROL_GUIDANCE)], hits["control"]
        classes = len(CAPTIONS)
        return bool(model_hits * classes >= 3 * model_total and 2 * control_hits * classes <= 3 * control_total)


def train_model(
    workdir: Path, shards: Path, codec_dir: Path, text_dir: Path, settings: Settings, seed: int, num_threads: int
) -> Path:
    """A tiny AudioGen LM trained by the project's loop (what ``train_audiogen.py`` runs), saved in ``workdir``."""
    from hf_audiogen.training.audiogen import main as train_main

    argv = [
        "--token_shards",
        str(shards),
        "--codec",
        str(codec_dir),
        "--text_encoder",
        str(text_dir),
        "--decoder_preset",
        "tiny",
        "--hidden_size",
        str(settings.hidden_size),
        "--num_layers",
        str(settings.num_layers),
        "--max_duration",
        str(settings.seconds),
        "--output_dir",
        str(workdir),
        "--max_train_steps",
        str(settings.train_steps),
        "--train_batch_size",
        str(settings.batch_size),
        "--learning_rate",
        str(settings.learning_rate),
        "--lr_scheduler",
        "cosine",
        "--lr_warmup_steps",
        str(min(20, settings.train_steps)),
        "--eval_steps",
        str(settings.train_steps),
        "--checkpointing_steps",
        str(10 * settings.train_steps),
        "--logging_steps",
        str(settings.train_steps),
        "--max_eval_clips",
        "12",
        "--num_samples",
        "0",
        "--seed",
        str(seed),
        "--num_threads",
        str(num_threads),
    ]
    train_main(argv)
    return workdir


@torch.no_grad()
def generate_and_classify(
    model_dir: Path, classifier: NearestClassClassifier, guidance_scale: float, settings: Settings, seed: int
) -> np.ndarray:
    """``samples_per_caption`` clips per caption (the same seeds for every caption) -> confusion counts
    ``(caption, predicted class)``."""
    from hf_audiogen.audiogen import AudioGenPipeline

    pipe = AudioGenPipeline.from_pretrained(model_dir, device="cpu")
    confusion = np.zeros((len(CAPTIONS), len(CAPTIONS)), dtype=np.int64)
    for c, caption in enumerate(CAPTIONS):
        outputs = pipe(
            caption,
            duration=settings.seconds,
            seed=seed,
            guidance_scale=guidance_scale,
            num_return_sequences=settings.samples_per_caption,
            progress_bar=False,
        )
        outputs = outputs if isinstance(outputs, list) else [outputs]
        predicted = classifier.predict([o["audio"] for o in outputs], outputs[0]["sampling_rate"])
        confusion[c] += np.bincount(predicted, minlength=len(CAPTIONS))
    return confusion


def run(workdir: Path, seed: int, settings: Settings = Settings(), num_threads: int = 1, log=print) -> RunResult:
    """One seeded run in ``workdir``: corpus, codec, tokens, classifier, model + control model, generations."""
    from hf_audiogen.codec import CodecModel

    torch.set_num_threads(num_threads)
    workdir = Path(workdir)
    timings, start = {}, (time.perf_counter(), time.process_time())

    def lap(name):  # wall and CPU seconds (on a shared machine the CPU time is the steadier figure)
        nonlocal start
        now = (time.perf_counter(), time.process_time())
        timings[name] = {"wall": round(now[0] - start[0], 1), "cpu": round(now[1] - start[1], 1)}
        start = now

    codec_dir = prepare_codec(workdir / "codec", settings.num_codebooks)
    text_dir = prepare_text_encoder(workdir / "text_encoder", CAPTIONS, seed)
    corpus = write_corpus(
        workdir / "corpus", {"train": settings.train_clips_per_class, "validation": 2}, settings.seconds, seed
    )
    shards = workdir / "tokens"
    _load_script("tokenize_audiogen_dataset").main(
        [
            "--dataset",
            str(corpus),
            "--codec",
            str(codec_dir),
            "--output_dir",
            str(shards),
            "--num_threads",
            str(num_threads),
        ]
    )
    codec = CodecModel.from_pretrained(codec_dir).eval()
    classifier, separability = fit_classifier(codec, settings.seconds, settings.classifier_clips_per_class, seed + 1000)
    log(f"[seed {seed}] codec separability of the classes: {separability:.1%} (chance {1 / len(CAPTIONS):.1%})")
    lap("data, codec and classifier")

    repeats = math.ceil(settings.train_steps * settings.batch_size / (settings.train_clips_per_class * len(CAPTIONS)))
    model_dir = train_model(
        workdir / "model",
        training_shards(shards, workdir / "tokens-train", repeats),
        codec_dir,
        text_dir,
        settings,
        seed,
        num_threads,
    )
    lap("training")
    confusion, accuracy = {}, {}
    for scale in GUIDANCE_SCALES:
        counts = generate_and_classify(model_dir, classifier, scale, settings, seed)
        confusion[str(scale)], accuracy[str(scale)] = counts.tolist(), float(np.trace(counts) / counts.sum())
    lap("generation")

    shuffled = training_shards(shards, workdir / "tokens-shuffled", repeats, shuffle_seed=seed)
    control_dir = train_model(workdir / "control", shuffled, codec_dir, text_dir, settings, seed, num_threads)
    counts = generate_and_classify(control_dir, classifier, CONTROL_GUIDANCE, settings, seed)
    confusion["control"], control = counts.tolist(), float(np.trace(counts) / counts.sum())
    lap("control (training + generation)")
    result = RunResult(seed, separability, accuracy, control, 1 / len(CAPTIONS), confusion, timings)
    log(
        f"[seed {seed}] accuracy "
        + ", ".join(f"g{float(s):g} {a:.1%}" for s, a in accuracy.items())
        + f"; control (shuffled captions, g{CONTROL_GUIDANCE:g}) {control:.1%}; chance {result.chance:.1%}; "
        f"{'PASS' if result.passed else 'FAIL'}; {timings}"
    )
    return result


# ----------------------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------------------
def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="the test suite's sizes (about a minute per seed)")
    parser.add_argument("--train_steps", type=int, default=None, help="override the optimizer steps")
    parser.add_argument("--samples", type=int, default=None, help="override the samples per caption")
    parser.add_argument("--num_codebooks", type=int, default=None, help="codebooks of the bundled codec kept (1-4)")
    parser.add_argument("--workdir", default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--num_threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="write the report here")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    overrides = {
        "train_steps": args.train_steps,
        "samples_per_caption": args.samples,
        "num_codebooks": args.num_codebooks,
    }
    settings = Settings(**{**asdict(settings), **{k: v for k, v in overrides.items() if v is not None}})
    command = shlex.join(["python", "benchmarks/synthetic_adherence.py", *(sys.argv[1:] if argv is None else argv)])
    print(command)
    print(f"settings: {asdict(settings)}; {os.cpu_count()} CPUs, load average {os.getloadavg()}")

    import tempfile

    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    results = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.workdir or tmp)
        for seed in args.seeds:
            results.append(run(root / f"seed-{seed}", seed, settings, args.num_threads))
    report = {
        "command": command,
        "settings": asdict(settings),
        "captions": CAPTIONS,
        "runs": [{**asdict(r), "passed": r.passed} for r in results],
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(f"\n{'seed':>4} {'codec':>6} {'g1':>6} {'g3':>6} {'control':>8} {'chance':>7}  pass")
    for r in results:
        print(
            f"{r.seed:>4} {r.separability:>6.1%} {r.accuracy['1.0']:>6.1%} {r.accuracy['3.0']:>6.1%} "
            f"{r.control_accuracy:>8.1%} {r.chance:>7.1%}  {r.passed}"
        )
    print(f"(pass: g3 >= 3 x chance and control <= 1.5 x chance; {report['seconds']} s in all)")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
