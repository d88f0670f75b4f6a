"""The objective metrics of text-to-audio papers, computed the way each paper's tool computes them:
:func:`evaluate_audio` (Python) and ``hf-audiogen evaluate`` (CLI).

A protocol (:data:`PROTOCOLS`) names the metrics a tool reports and the extractor each one reads
(``extractors.EXTRACTORS``); the extractors own their front-ends (rate, channels, framing, pooling),
``embedding_extraction.extract_embeddings`` turns folders into per-clip embeddings and logits (batched, cached), and
``distances.py`` does the maths. This module plans which extractors a run needs, checks every input before any
extraction, and writes one JSON-able result.

=================  ==========================================================================================
``audioldm``       audioldm_eval (AudioLDM, GenAU): FD on CNN14 (16 kHz) 2048-d clip embeddings; FAD on VGGish
                   128-d frames; KL (softmax and sigmoid) on CNN14 logits paired by file name; Inception score on
                   CNN14 logits (10 splits, shuffle seed 2020)
``audiocraft``     audiocraft's metrics (AudioGen): FAD on VGGish frames; KL (softmax) on PaSST logits, both
                   directions; CLAP score
``stable-audio``   stable-audio-metrics (Stable Audio Open, TangoFlux): FD on OpenL3 frames; KL (softmax) on
                   PaSST logits; CLAP score
=================  ==========================================================================================

Every protocol also reports the newer distances on its main per-frame embedding (VGGish for ``audioldm`` and
``audiocraft``, OpenL3 for ``stable-audio``): KAD (kadtk) and FAD∞ (fadtk).

Decisions where the issue left a choice:

1. **Pairing** (KL) is by clip id: the file's path relative to its folder, without extension (audioldm_eval pairs by
   base name with extension, stable-audio-metrics by id). Clips on one side only are left out with a warning, as
   audioldm_eval does; no pair at all makes KL unavailable (audioldm_eval's unpaired mode reports -1).
2. **The reported KL direction** is the tool's: ``KL(p_ref ‖ p_gen)`` for audioldm and audiocraft,
   ``KL(p_gen ‖ p_ref)`` for stable-audio (its ``passt_kld`` puts the reference inside the log); both directions are
   in the result. audiocraft counts every 10 s PaSST segment of a longer clip as its own pair; we pair the clip's
   mean logits, which is the same for clips of at most 10 s (AudioGen's case).
3. **Main embedding of KAD and FAD∞**: the per-frame one, as fadtk and kadtk (they concatenate frames), with fadtk's
   ``min_n`` of 500 rows; with fewer generated rows the sizes run from 500 down to the set size (as fadtk would)
   and a warning says the extrapolation is unreliable.
4. **Inception score** uses ``min(10, clips)`` splits (audioldm_eval's 10 would average empty chunks, NaN, below
   10 clips).
5. **Prompts** (CLAP score): a ``.jsonl`` file of ``{"id": ..., "text": ...}`` objects or a ``.csv`` with an
   ``id,text`` header, or a dict; ids are the generated clip ids. Every generated clip needs a prompt (a file for
   another set is the likely cause otherwise); prompts of clips not in the set are ignored. Without prompts the
   CLAP score is reported unavailable and the CLAP extractor is not loaded.
6. **Reference statistics** (:func:`save_reference_stats`, ``--save-reference-stats``): one ``.safetensors`` file
   with, per extractor, the float64 mean and covariance and, by default, the reference embeddings and logits
   themselves (float32, as extracted) with their clip ids, so that KAD and KL can be computed from the file as well
   (stable-audio-metrics stores only μ, Σ for FD and the probabilities for KL). Saved without embeddings
   (``include_embeddings=False``), FD/FAD/FAD∞ still run and KAD/KL are reported unavailable with that reason.
7. **Warnings** (few rows per dimension, random weights, unpaired clips, unreadable files, reference statistics made
   with other weights) go into the result's ``warnings`` list instead of being printed.

Example:

```python
>>> from hf_audiogen.evaluation import evaluate_audio
>>> result = evaluate_audio(  # doctest: +SKIP
...     "generated/", reference="audiocaps_test/", protocol="audioldm",
...     extractor_weights={"vggish": "vggish-10086976.pth", "cnn14-16k": "Cnn14_16k_mAP=0.438.pth"},
... )
>>> result["metrics"]["fd"]["value"], result["metrics"]["fad"]["value"]  # doctest: +SKIP
```
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..validation import InvalidInputError, check_choice, check_int, check_seed
from .distances import (
    EmbeddingStatistics,
    SmallSampleWarning,
    clap_score,
    frechet_distance,
    frechet_distance_infinity,
    inception_score,
    kernel_audio_distance,
    kl_divergence,
    read_safetensors,
)
from .extractors import EXTRACTORS, extractor_class

REFERENCE_STATS_FORMAT = "hf_audiogen.reference_stats/1"
REFERENCE_STATS_FILENAME = "reference_stats.safetensors"  # the file inside a folder given as reference stats
MAX_EVAL_BATCH_SIZE = 256  # clips per model-stage call: each one is a decoded clip held in memory
FAD_INF_MIN_N = 500  # fadtk's min_n
FAD_INF_POINTS = 15
AUDIOLDM_IS_SPLITS, AUDIOLDM_IS_SEED = 10, 2020  # audioldm_eval's calculate_isc arguments
RANDOM_WEIGHTS_WARNING = "numbers exercise the code path only"


# ------------------------------------------------------------------------------------------------ protocols
@dataclass(frozen=True)
class MetricSpec:
    """One reported number: ``key`` in the result, ``kind`` of computation, the ``extractor`` it reads, and the
    ``options`` of that computation (``activation``/``direction`` of a KL, ``splits``/``seed`` of an IS)."""

    key: str
    kind: str  # one of METRIC_KINDS
    extractor: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.options)

    @property
    def needs_reference(self) -> bool:
        return self.kind in ("frechet", "frechet_infinity", "kad", "kl")


# what each kind needs: generated rows / logits / prompts, and reference statistics / rows / logits
METRIC_KINDS = ("frechet", "frechet_infinity", "kad", "kl", "inception_score", "clap_score")


@dataclass(frozen=True)
class EvaluationProtocol:
    """A tool's set of metrics. ``extractor_options`` are keyword arguments of the extractors' constructors
    (``from_pretrained``/``from_random``) under this protocol, e.g. PaSST's way of cutting clips."""

    name: str
    description: str
    metrics: tuple[MetricSpec, ...]
    extractor_options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    @property
    def extractors(self) -> tuple[str, ...]:
        """The extractors the metrics read, in order of first use."""
        return tuple(dict.fromkeys(metric.extractor for metric in self.metrics))

    def options_for(self, extractor: str) -> dict[str, Any]:
        return dict(dict(self.extractor_options).get(extractor, ()))


def _newer_metrics(extractor: str, prefix: str) -> tuple[MetricSpec, ...]:
    return (
        MetricSpec("kad", "kad", extractor),
        MetricSpec(f"{prefix}_inf", "frechet_infinity", extractor),
    )


PROTOCOLS: dict[str, EvaluationProtocol] = {
    "audioldm": EvaluationProtocol(
        "audioldm",
        "audioldm_eval 0.0.3 (AudioLDM, GenAU): FD on PANNs CNN14 16 kHz clip embeddings, FAD on VGGish frames, KL "
        "(softmax, sigmoid) on CNN14 logits paired by name, Inception score on CNN14 logits",
        (
            MetricSpec("fd", "frechet", "cnn14-16k"),
            MetricSpec("fad", "frechet", "vggish"),
            MetricSpec("kl_softmax", "kl", "cnn14-16k", (("activation", "softmax"), ("direction", "ref_gen"))),
            MetricSpec("kl_sigmoid", "kl", "cnn14-16k", (("activation", "sigmoid"), ("direction", "ref_gen"))),
            MetricSpec(
                "is", "inception_score", "cnn14-16k", (("splits", AUDIOLDM_IS_SPLITS), ("seed", AUDIOLDM_IS_SEED))
            ),
            *_newer_metrics("vggish", "fad"),
        ),
    ),
    "audiocraft": EvaluationProtocol(
        "audiocraft",
        "audiocraft metrics (AudioGen): FAD on VGGish frames, KL (softmax, both directions) on PaSST logits, CLAP "
        "score",
        (
            MetricSpec("fad", "frechet", "vggish"),
            MetricSpec("kl", "kl", "passt", (("activation", "softmax"), ("direction", "ref_gen"))),
            MetricSpec("clap", "clap_score", "clap"),
            *_newer_metrics("vggish", "fad"),
        ),
        (("passt", (("protocol", "audiocraft"),)),),
    ),
    "stable-audio": EvaluationProtocol(
        "stable-audio",
        "stable-audio-metrics (Stable Audio Open, TangoFlux): FD on OpenL3 frames, KL (softmax) on PaSST logits, "
        "CLAP score",
        (
            MetricSpec("fd_openl3", "frechet", "openl3"),
            MetricSpec("kl_passt", "kl", "passt", (("activation", "softmax"), ("direction", "gen_ref"))),
            MetricSpec("clap", "clap_score", "clap"),
            *_newer_metrics("openl3", "fd_openl3"),
        ),
        (("passt", (("protocol", "stable-audio"),)),),
    ),
}


def get_protocol(protocol: str | EvaluationProtocol) -> EvaluationProtocol:
    """``protocol`` by name (one of :data:`PROTOCOLS`), or the protocol object itself."""
    if isinstance(protocol, EvaluationProtocol):
        return protocol
    return PROTOCOLS[check_choice("protocol", protocol, tuple(PROTOCOLS))]


# ------------------------------------------------------------------------------------------------ inputs
def load_prompts(prompts: str | os.PathLike | Mapping[str, str]) -> dict[str, str]:
    """Clip id → prompt from a ``.jsonl`` file (one ``{"id": ..., "text": ...}`` object a line), a ``.csv`` file with
    an ``id,text`` header, or a mapping. An id given twice with two texts is an error."""
    if isinstance(prompts, Mapping):
        rows, where = list(prompts.items()), "prompts"
    else:
        path = Path(prompts).expanduser()
        if not path.is_file():
            raise InvalidInputError(f"prompts file not found: {path}")
        suffix, where = path.suffix.lower(), str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise InvalidInputError(f"prompts file {path} is not UTF-8 text: {err}") from err
        if suffix == ".jsonl":
            rows = []
            for number, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as err:
                    raise InvalidInputError(f"{path}:{number} is not JSON: {err}") from err
                if not isinstance(item, dict) or "id" not in item or "text" not in item:
                    raise InvalidInputError(f'{path}:{number} must be an object with "id" and "text", got {line:.80}')
                rows.append((item["id"], item["text"]))
        elif suffix == ".csv":
            reader = csv.DictReader(text.splitlines())
            if not reader.fieldnames or not {"id", "text"} <= set(reader.fieldnames):
                raise InvalidInputError(f"{path} must have a header with the columns id,text, got {reader.fieldnames}")
            rows = [(row["id"], row["text"]) for row in reader]
        else:
            raise InvalidInputError(f"prompts must be a .jsonl or .csv file, got {path.name}")
    result: dict[str, str] = {}
    for clip_id, prompt in rows:
        clip_id = str(clip_id) if isinstance(clip_id, (str, int)) and not isinstance(clip_id, bool) else clip_id
        if not isinstance(clip_id, str) or not isinstance(prompt, str) or not prompt.strip():
            raise InvalidInputError(f"{where}: each prompt needs a string id and a non-empty text, got {clip_id!r}")
        if result.setdefault(clip_id, prompt) != prompt:
            raise InvalidInputError(f"{where}: id {clip_id!r} has two different prompts")
    if not result:
        raise InvalidInputError(f"{where} holds no prompts")
    return result


def _list_clips(role: str, sources) -> list[str]:
    """The clip ids of a folder or file list (``embedding_extraction.list_audio_clips``), errors prefixed by role."""
    from .embedding_extraction import list_audio_clips

    try:
        clips, _ = list_audio_clips(sources)
    except InvalidInputError as err:
        raise InvalidInputError(f"{role}: {err}") from err
    return [clip_id for clip_id, _ in clips]


def _check_weights(extractor_weights) -> dict[str, str]:
    if extractor_weights is None:
        return {}
    if not isinstance(extractor_weights, Mapping):
        raise InvalidInputError(
            f"extractor_weights must be a dict of extractor name -> path or Hub id, got {type(extractor_weights).__name__}"
        )
    for name, weights in extractor_weights.items():
        check_choice("extractor_weights key", name, tuple(EXTRACTORS))
        if not isinstance(weights, (str, os.PathLike)) or not os.fspath(weights):
            raise InvalidInputError(f"extractor_weights[{name!r}] must be a file path or Hub id, got {weights!r}")
    return {name: os.fspath(weights) for name, weights in extractor_weights.items()}


def _examples(ids, limit: int = 3) -> str:
    ids = sorted(ids)
    return ", ".join(repr(i) for i in ids[:limit]) + (", ..." if len(ids) > limit else "")


# ------------------------------------------------------------------------------------------------ reference statistics
@dataclass
class ReferenceStatistics:
    """What the metrics need of a reference set, per extractor: float64 :class:`EmbeddingStatistics` and, unless
    saved without them, the per-clip embeddings and logits (clip id → ``{"embeddings", "logits"}``).

    Written by :func:`save_reference_stats` (``hf-audiogen evaluate --save-reference-stats``) as one
    ``.safetensors`` file (decision 6 of the module); read back with :meth:`load`.
    """

    protocol: str
    extractors: dict[str, dict]  # extractor name → its describe()
    statistics: dict[str, EmbeddingStatistics]
    features: dict[str, dict[str, dict]] = field(default_factory=dict)  # only for extractors saved with embeddings

    @classmethod
    def from_features(cls, protocol: str, extractors: dict[str, dict], features: dict[str, Mapping]):
        """Statistics of extracted features (extractor → clip id → ``{"embeddings", "logits"}``); an extractor with
        fewer than 2 rows gets none (its distances are then reported unavailable)."""
        statistics = {}
        for name, clips in features.items():
            rows = _rows(clips)
            if len(rows) >= 2:
                statistics[name] = EmbeddingStatistics.from_embeddings(rows, meta={"extractor": extractors[name]})
        return cls(protocol, dict(extractors), statistics, {name: dict(clips) for name, clips in features.items()})

    def save(self, path: str | os.PathLike, *, include_embeddings: bool = True) -> Path:
        from safetensors.numpy import save_file

        from .distances import _atomic_save

        path = _reference_stats_path(path)
        tensors, described = {}, {}
        for name, stats in self.statistics.items():
            tensors[f"{name}/mu"], tensors[f"{name}/sigma"] = stats.mu, stats.sigma
            entry = {"describe": self.extractors.get(name, {}), "n": stats.n, "meta": stats.meta, "ids": None}
            clips = self.features.get(name) if include_embeddings else None
            if clips:
                ids = list(clips)
                rows = [np.asarray(clips[i]["embeddings"], dtype=np.float32) for i in ids]
                tensors[f"{name}/embeddings"] = np.concatenate(rows).reshape(-1, stats.dim)
                tensors[f"{name}/frames"] = np.array([len(r) for r in rows], dtype=np.int64)
                if all(clips[i]["logits"] is not None for i in ids):
                    tensors[f"{name}/logits"] = np.stack([np.asarray(clips[i]["logits"], np.float32) for i in ids])
                entry["ids"] = ids
            described[name] = entry
        metadata = {
            "format": REFERENCE_STATS_FORMAT,
            "protocol": self.protocol,
            "extractors": json.dumps(described, sort_keys=True),
        }
        _atomic_save(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> ReferenceStatistics:
        tensors, metadata = read_safetensors(_reference_stats_path(path), REFERENCE_STATS_FORMAT)
        described = json.loads(metadata["extractors"])
        statistics, features, extractors = {}, {}, {}
        for name, entry in described.items():
            extractors[name] = entry["describe"]
            statistics[name] = EmbeddingStatistics(
                tensors[f"{name}/mu"], tensors[f"{name}/sigma"], entry["n"], entry["meta"]
            )
            if entry["ids"] is not None:
                rows = np.split(tensors[f"{name}/embeddings"], np.cumsum(tensors[f"{name}/frames"])[:-1])
                logits = tensors.get(f"{name}/logits")
                features[name] = {
                    clip_id: {"embeddings": row, "logits": None if logits is None else logits[i]}
                    for i, (clip_id, row) in enumerate(zip(entry["ids"], rows))
                }
        return cls(metadata["protocol"], extractors, statistics, features)


def _reference_stats_path(path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    return path / REFERENCE_STATS_FILENAME if path.is_dir() else path


# ------------------------------------------------------------------------------------------------ extraction
def _versions() -> dict[str, str]:
    import torch
    import transformers

    from .. import __version__

    return {
        "hf_audiogen": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
    }


def _check_extractors_loadable(names, protocol: EvaluationProtocol, weights: dict, allow_random: bool) -> None:
    """One line naming every needed extractor without weights and where its official weights come from."""
    missing = [name for name in names if name not in weights]
    if missing and not allow_random:
        listed = "; ".join(f"{name} (official weights: {extractor_class(name).official_weights})" for name in missing)
        raise InvalidInputError(
            f"protocol {protocol.name!r} needs weights for: {listed}. Pass extractor_weights={{name: path or Hub id}} "
            "(CLI: --weights NAME=PATH), or allow_random_weights=True (--allow-random-weights) to exercise the code "
            "path only"
        )


def _build_extractor(name: str, protocol: EvaluationProtocol, weights: dict, seed: int):
    cls = extractor_class(name)
    options = protocol.options_for(name)
    if name in weights:
        return cls.from_pretrained(weights[name], **options)
    return cls.from_random(seed=seed, **options)


def _extract(sources, extractor, *, cache_dir, batch_size: int, progress: bool, engine):
    from .embedding_extraction import extract_embeddings

    return extract_embeddings(
        sources, extractor, cache_dir=cache_dir, batch_size=batch_size, progress=progress, engine=engine
    )


def _run_extractors(spec, weights, seed, run, *, on_generated, on_reference, prompts=None):
    """Load each extractor once and embed what it is needed for: ``(descriptions, generated features, reference
    features, CLAP text embeddings of the generated clips' prompts or None)``. ``run`` holds generated, reference,
    cache_dir, batch_size and progress."""
    described, generated, reference, text_embeddings = {}, {}, {}, None
    cache = None if run["cache_dir"] is None else Path(run["cache_dir"]).expanduser()
    options = {
        "cache_dir": cache,
        "batch_size": run["batch_size"],
        "progress": run["progress"],
        "engine": run["engine"],
    }
    for name in dict.fromkeys(on_generated + on_reference):
        extractor = _build_extractor(name, spec, weights, seed)
        described[name] = extractor.describe()
        if name in on_generated:
            generated[name] = _extract(run["generated"], extractor, **options)
        if name in on_reference:
            reference[name] = _extract(run["reference"], extractor, **options)
        if name == "clap" and prompts is not None:
            text_embeddings = _text_embeddings(extractor, prompts, sorted(generated[name]), run["batch_size"])
        del extractor  # one large network in memory at a time
    return described, generated, reference, text_embeddings


def _set_summary(features: Mapping[str, Mapping]) -> dict:
    return {
        "rows": {
            name: int(sum(len(clip["embeddings"]) for clip in clips.values())) for name, clips in features.items()
        },
        "failed": {name: len(getattr(clips, "failed", ())) for name, clips in features.items()},
    }


def _rows(clips: Mapping[str, dict]) -> np.ndarray:
    """Every clip's embedding rows, stacked in clip-id order (per-frame extractors: all frames)."""
    parts = [np.asarray(clips[clip_id]["embeddings"], dtype=np.float64) for clip_id in sorted(clips)]
    return np.concatenate(parts) if parts else np.zeros((0, 0))


def _logits(clips: Mapping[str, dict], extractor: str) -> dict[str, np.ndarray]:
    missing = [clip_id for clip_id, clip in clips.items() if clip["logits"] is None]
    if missing:
        raise InvalidInputError(f"extractor {extractor!r} gave no logits (clip {missing[0]!r}): it is no classifier")
    return {clip_id: clip["logits"] for clip_id, clip in clips.items()}


# ------------------------------------------------------------------------------------------------ metrics
class _Unavailable(Exception):
    """A metric that cannot be computed from what this run has: reported with the reason, not raised."""


@dataclass
class _MetricInputs:
    """What one metric may read: the features of its extractor on both sides, and the run's shared pieces."""

    gen: Mapping[str, dict]  # clip id → {"embeddings", "logits"}
    ref_stats: EmbeddingStatistics | None
    ref_clips: Mapping[str, dict] | None  # None: reference statistics saved without embeddings
    text_embeddings: np.ndarray | None
    seed: int
    notes: list[str]


def _generated_rows(metric: MetricSpec, inputs: _MetricInputs) -> np.ndarray:
    rows = _rows(inputs.gen)
    if rows.shape[0] < 2:
        raise _Unavailable(f"{rows.shape[0]} generated {metric.extractor} rows (< 2)")
    if inputs.ref_stats is None:
        raise _Unavailable(f"fewer than 2 reference {metric.extractor} rows")
    return rows


def _note_rank(metric: MetricSpec, rows: np.ndarray, reference: EmbeddingStatistics, notes: list[str]) -> None:
    # one note per metric, naming it, instead of distances.SmallSampleWarning's generic one per set
    if min(rows.shape[0], reference.n) < reference.dim:
        notes.append(
            f"{metric.key}: {rows.shape[0]} generated / {reference.n} reference {metric.extractor} rows for "
            f"{reference.dim} dimensions: the covariance is rank-deficient, the Fréchet distance biased upwards (about "
            "D/n) and not comparable across set sizes"
        )


def _frechet(metric: MetricSpec, inputs: _MetricInputs) -> dict:
    rows = _generated_rows(metric, inputs)
    _note_rank(metric, rows, inputs.ref_stats, inputs.notes)
    value = frechet_distance(rows, inputs.ref_stats)
    return {"value": value, "generated_rows": len(rows), "reference_rows": inputs.ref_stats.n}


def _frechet_infinity(metric: MetricSpec, inputs: _MetricInputs) -> dict:
    rows = _generated_rows(metric, inputs)
    _note_rank(metric, rows, inputs.ref_stats, inputs.notes)
    if len(rows) < FAD_INF_MIN_N:
        inputs.notes.append(
            f"{metric.key}: {len(rows)} generated rows < fadtk's min_n={FAD_INF_MIN_N}: the set sizes run from "
            f"{FAD_INF_MIN_N} down to {len(rows)} (drawn with replacement); the extrapolation is unreliable"
        )
    try:
        result = frechet_distance_infinity(
            rows, inputs.ref_stats, num_points=FAD_INF_POINTS, min_n=FAD_INF_MIN_N, seed=inputs.seed
        )
    except InvalidInputError as err:  # too few distinct set sizes to fit a line
        raise _Unavailable(str(err)) from err
    points = [[n, fd] for n, fd in result.points]
    return {"value": result.value, "slope": result.slope, "r2": result.r2, "points": points}


def _kad(metric: MetricSpec, inputs: _MetricInputs) -> dict:
    rows = _generated_rows(metric, inputs)
    if inputs.ref_clips is None:
        raise _Unavailable("the reference statistics were saved without embeddings")
    ref_rows = _rows(inputs.ref_clips)
    value = kernel_audio_distance(ref_rows, rows, seed=inputs.seed)
    return {"value": value, "generated_rows": len(rows), "reference_rows": len(ref_rows)}


def _kl(metric: MetricSpec, inputs: _MetricInputs) -> dict:
    if inputs.ref_clips is None:
        raise _Unavailable("the reference statistics were saved without logits")
    gen, ref = _logits(inputs.gen, metric.extractor), _logits(inputs.ref_clips, metric.extractor)
    pairs = sorted(set(gen) & set(ref))
    if not pairs:
        raise _Unavailable(
            "no generated clip id matches a reference clip id (KL pairs clips by path without extension)"
        )
    only_gen, only_ref = set(gen) - set(ref), set(ref) - set(gen)
    if only_gen or only_ref:
        inputs.notes.append(
            f"{metric.key}: KL on {len(pairs)} pairs; {len(only_gen)} generated clips have no reference "
            f"({_examples(only_gen)}), {len(only_ref)} reference clips no generation ({_examples(only_ref)})"
        )
    activation, direction = metric.kwargs["activation"], metric.kwargs["direction"]
    result = kl_divergence(_subset(gen, pairs), _subset(ref, pairs), activation=activation)
    return {"value": result[f"kl_{direction}"], "activation": activation, "reported": f"kl_{direction}", **result}


def _inception_score(metric: MetricSpec, inputs: _MetricInputs) -> dict:
    logits = _logits(inputs.gen, metric.extractor)
    wanted, seed = metric.kwargs["splits"], metric.kwargs["seed"]
    splits = min(wanted, len(logits))
    if splits < wanted:
        inputs.notes.append(f"{metric.key}: {len(logits)} clips < {wanted} splits; using {splits}")
    mean, std = inception_score(np.stack([logits[i] for i in sorted(logits)]), splits=splits, seed=seed)
    return {"value": mean, "std": std, "splits": splits, "shuffle_seed": seed}


def _clap(metric: MetricSpec, inputs: _MetricInputs) -> dict:
    ids = sorted(inputs.gen)  # the order _text_embeddings embedded the prompts in
    audio = np.stack([np.asarray(inputs.gen[i]["embeddings"], dtype=np.float64).mean(0) for i in ids])
    return {"value": clap_score(audio, inputs.text_embeddings), "clips": len(ids)}


_METRICS = {
    "frechet": _frechet,
    "frechet_infinity": _frechet_infinity,
    "kad": _kad,
    "kl": _kl,
    "inception_score": _inception_score,
    "clap_score": _clap,
}


def _compute_metric(metric: MetricSpec, inputs: _MetricInputs) -> dict:
    """``{"kind", "extractor", "value", ...details}``; ``value`` None with an ``unavailable`` reason."""
    entry = {"kind": metric.kind, "extractor": metric.extractor}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmallSampleWarning)  # _note_rank says it, naming the metric
            entry.update(_METRICS[metric.kind](metric, inputs))
    except _Unavailable as reason:
        entry.update(value=None, unavailable=str(reason))
    if entry["value"] is not None and not np.isfinite(entry["value"]):
        entry.update(value=None, unavailable=f"not finite ({entry['value']})")
    return entry


def _subset(mapping: Mapping, keys) -> dict:
    return {key: mapping[key] for key in keys}


def _text_embeddings(extractor, prompts: dict[str, str], ids: list[str], batch_size: int) -> np.ndarray:
    texts = [prompts[i] for i in ids]
    chunks = [extractor.embed_text(texts[start : start + batch_size]) for start in range(0, len(texts), batch_size)]
    return np.concatenate([chunk.detach().cpu().double().numpy() for chunk in chunks])


# ------------------------------------------------------------------------------------------------ entry points
def _plan(protocol: EvaluationProtocol, prompts, reference: ReferenceStatistics | None, from_folder: bool):
    """(extractors to run on the generated set, extractors to run on the reference folder, reasons a metric
    cannot run) — decided before anything is loaded."""
    unavailable = {}
    for metric in protocol.metrics:
        if metric.kind == "clap_score" and prompts is None:
            unavailable[metric.key] = "needs prompts (a .jsonl/.csv of id, text)"
        if reference is not None and metric.needs_reference and metric.extractor not in reference.statistics:
            unavailable[metric.key] = f"the reference statistics have no {metric.extractor!r} entry"
    generated = tuple(dict.fromkeys(m.extractor for m in protocol.metrics if m.key not in unavailable))
    on_reference = (
        tuple(dict.fromkeys(m.extractor for m in protocol.metrics if m.needs_reference)) if from_folder else ()
    )
    return generated, on_reference, unavailable


def evaluate_audio(
    generated: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    protocol: str,
    reference: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    reference_stats: str | os.PathLike | None = None,
    prompts: str | os.PathLike | Mapping[str, str] | None = None,
    extractor_weights: Mapping[str, str | os.PathLike] | None = None,
    allow_random_weights: bool = False,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 8,
    progress: bool = True,
    reference_stats_out: str | os.PathLike | None = None,
    engine="local",
) -> dict:
    """Score a folder (or list) of generated audio against a reference folder, or against reference statistics,
    under one of :data:`PROTOCOLS`.

    Args:
        generated: folder of audio files (recursive; clip id = relative path without extension) or list of files.
        protocol: ``"audioldm"``, ``"audiocraft"`` or ``"stable-audio"``.
        reference / reference_stats: the reference audio (folder or list), or a file (or folder holding
            ``reference_stats.safetensors``) written by :func:`save_reference_stats` — exactly one of them.
        prompts: clip id → prompt, for the CLAP score (see :func:`load_prompts`).
        extractor_weights: extractor name (``extractors.EXTRACTORS``) → official weights by path or Hub id.
        allow_random_weights: run extractors without weights on seeded random ones (the result then says the
            numbers exercise the code path only). Without it, a needed extractor without weights is an error, raised
            before any extraction.
        seed: seed of the random weights, of FAD∞'s draws and of KAD's sampled median.
        cache_dir: per-file embedding cache (see ``embedding_extraction``).
        batch_size: decoded clips per model call.
        progress: progress bars.
        reference_stats_out: also save the reference folder's statistics (and embeddings) here.
        engine: where the extraction batch jobs run: ``"local"`` (this process), ``"ray"`` or an engine object
            (``data.pipelines.make_engine``).

    Returns:
        A JSON-able dict: ``protocol``, ``description``, ``versions``, ``extractors`` (each one's description),
        ``sets`` (clips and embedding rows), ``metrics`` (key → ``{"value", "extractor", ...}``, ``value`` None with
        an ``unavailable`` reason where a metric cannot run) and ``warnings``.
    """
    spec = get_protocol(protocol)
    seed, batch_size = check_seed(seed), check_int("batch_size", batch_size, min=1, max=MAX_EVAL_BATCH_SIZE)
    if not isinstance(allow_random_weights, bool):
        raise InvalidInputError(f"allow_random_weights must be True or False, got {allow_random_weights!r}")
    gen_ids = _list_clips("generated", generated)
    if (reference is None) == (reference_stats is None):
        raise InvalidInputError("give exactly one of reference (audio) and reference_stats (a saved statistics file)")
    loaded = ReferenceStatistics.load(reference_stats) if reference_stats is not None else None
    ref_ids = _list_clips("reference", reference) if reference is not None else None
    if reference_stats_out is not None and reference is None:
        raise InvalidInputError("reference_stats_out saves the statistics of reference audio: give reference too")
    prompt_map = None
    if prompts is not None:
        prompt_map = load_prompts(prompts)
        without = set(gen_ids) - set(prompt_map)
        if without:
            raise InvalidInputError(
                f"{len(without)} of {len(gen_ids)} generated clips have no prompt ({_examples(without)}); prompt ids "
                f"must be the generated clip ids (e.g. {gen_ids[0]!r})"
            )
    weights = _check_weights(extractor_weights)
    on_generated, on_reference, unavailable = _plan(spec, prompt_map, loaded, reference is not None)
    needed = tuple(dict.fromkeys(on_generated + on_reference))
    _check_extractors_loadable(needed, spec, weights, allow_random_weights)

    notes: list[str] = []
    unused = sorted(set(weights) - set(needed))
    if unused:
        notes.append(f"extractor_weights for {', '.join(unused)} not used by this run")
    random_names = [name for name in needed if name not in weights]
    if random_names:
        notes.append(f"random weights for {', '.join(random_names)}: {RANDOM_WEIGHTS_WARNING}")
    run = dict(
        generated=generated,
        reference=reference,
        cache_dir=cache_dir,
        batch_size=batch_size,
        progress=progress,
        engine=engine,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        described, gen_features, ref_features, text_embeddings = _run_extractors(
            spec, weights, seed, run, on_generated=on_generated, on_reference=on_reference, prompts=prompt_map
        )
        if loaded is None:
            ref_side = ReferenceStatistics.from_features(
                spec.name, {n: described[n] for n in on_reference}, ref_features
            )
        else:
            ref_side = loaded
            for name in needed:
                saved = loaded.extractors.get(name, {}).get("weights")
                if saved is not None and saved != described[name].get("weights"):
                    notes.append(
                        f"reference statistics for {name} were made with weights {saved}, the generated set is "
                        f"embedded with {described[name].get('weights')}: the numbers are not comparable"
                    )
        metrics = {}
        for metric in spec.metrics:
            if metric.key in unavailable:
                metrics[metric.key] = {"kind": metric.kind, "extractor": metric.extractor, "value": None}
                metrics[metric.key]["unavailable"] = unavailable[metric.key]
                continue
            inputs = _MetricInputs(
                gen_features[metric.extractor],
                ref_side.statistics.get(metric.extractor),
                ref_side.features.get(metric.extractor),
                text_embeddings,
                seed,
                notes,
            )
            metrics[metric.key] = _compute_metric(metric, inputs)
        if reference_stats_out is not None:
            ref_side.save(reference_stats_out)
    notes.extend(_our_warnings(caught))

    versions = _versions()
    sets = {"generated": {"clips": len(gen_ids), **_set_summary(gen_features)}}
    if loaded is None:
        sets["reference"] = {"source": "audio", "clips": len(ref_ids), **_set_summary(ref_features)}
    else:
        rows = {name: stats.n for name, stats in loaded.statistics.items()}
        sets["reference"] = {"source": "statistics", "rows": rows}
    return {
        "protocol": spec.name,
        "description": spec.description,
        "versions": versions,
        "extractors": {name: {**description, "versions": versions} for name, description in described.items()},
        "sets": sets,
        "metrics": metrics,
        "warnings": list(dict.fromkeys(notes)),
    }


def _our_warnings(caught) -> list[str]:
    """The messages of warnings raised by hf_audiogen during the run; anything else (a library's deprecation) is
    shown again as it would have been."""
    package = str(Path(__file__).resolve().parents[1])
    ours = []
    for item in caught:
        if issubclass(item.category, UserWarning) and str(Path(item.filename).resolve()).startswith(package):
            ours.append(" ".join(str(item.message).split()))
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return ours


def save_reference_stats(
    reference: str | os.PathLike | Sequence[str | os.PathLike],
    path: str | os.PathLike,
    *,
    protocol: str,
    extractor_weights: Mapping[str, str | os.PathLike] | None = None,
    allow_random_weights: bool = False,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 8,
    progress: bool = True,
    include_embeddings: bool = True,
    engine="local",
) -> Path:
    """Embed a reference set once with the extractors ``protocol``'s reference-side metrics need and save what they
    need (statistics, and unless ``include_embeddings=False`` the embeddings and logits) to ``path``, for
    :func:`evaluate_audio`'s ``reference_stats``."""
    spec = get_protocol(protocol)
    seed, batch_size = check_seed(seed), check_int("batch_size", batch_size, min=1, max=MAX_EVAL_BATCH_SIZE)
    _list_clips("reference", reference)
    weights = _check_weights(extractor_weights)
    names = tuple(dict.fromkeys(m.extractor for m in spec.metrics if m.needs_reference))
    _check_extractors_loadable(names, spec, weights, allow_random_weights)
    run = dict(
        generated=None,
        reference=reference,
        cache_dir=cache_dir,
        batch_size=batch_size,
        progress=progress,
        engine=engine,
    )
    described, _, features, _ = _run_extractors(spec, weights, seed, run, on_generated=(), on_reference=names)
    return ReferenceStatistics.from_features(spec.name, described, features).save(
        path, include_embeddings=include_embeddings
    )


__all__ = [
    "PROTOCOLS",
    "EvaluationProtocol",
    "MetricSpec",
    "ReferenceStatistics",
    "evaluate_audio",
    "get_protocol",
    "load_prompts",
    "save_reference_stats",
]
