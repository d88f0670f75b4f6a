"""How well does a text-to-audio model follow its prompt? Retrieval against the corpus it was trained on.

No CLAP or audio-tagging network installs offline (``reference/eval.md`` §1), so adherence is measured by retrieval
with a fixed audio embedding (:mod:`hf_audiogen.evaluation.audio_embedding`: log-mel statistics, optionally with
codec latents):

1. for every caption of the corpus (and a few hand-written paraphrases of some), generate audio;
2. embed it and rank **all** corpus clips by cosine similarity of the standardised features;
3. a **top-1 hit** is when the nearest clip carries the prompt's caption (exact string), a **top-5 hit** when any of
   the five nearest does.

**The index holds the corpus clips as the evaluated model's codec reconstructs them** (encode, decode), not the raw
clips. Generated audio comes out of that codec's decoder, and codec-decoded audio of any kind sits in its own region
of the log-mel-statistics space: with a raw index, the small sound-effect codec's reconstruction of a real clip
retrieves that very clip top-1 for about 1% of the clips (a raw crop of it: 86-93%); every decoded query lands on a
handful of "hub" clips and a model that follows its captions scores chance. With the reconstructed index, generated
audio and index live in the same domain. ``index_domain="raw"`` keeps the old behaviour, for comparison only.

The figures come with the baselines needed to read them:

* **chance** — computed exactly from the corpus: the probability that one random clip (top-1), or five clips drawn
  without replacement (top-5), carry the caption, averaged over the captions evaluated;
* **prompt-shuffled** — the expected accuracy if each generated sound were scored against a random prompt of the
  list (exact expectation over permutations; the list includes the prompt itself). A model that ignores the text
  but always produces, say, footsteps scores this much; the gap between accuracy and this baseline is what the text
  is responsible for;
* **codec-reconstruction oracle** — each real clip whose caption another clip carries, held out of the candidates,
  is passed through the codec (its first ``duration`` seconds, as long as a generation) and used as the query: how
  often its own caption comes first / in the top 5. It is the figure a model that reproduced its training clips
  perfectly *through this codec* would reach, the ceiling to read the model's figure against (a raw-versus-raw oracle
  would flatter the measure: it never meets the codec). Most repeated captions of the sound-effect corpus are
  variants cut from one recording (``group`` column), so a second oracle also leaves out the query's whole recording
  group: retrieval across genuinely different recordings;
* **domain check** — how often a clip's reconstruction retrieves *the clip itself* top-1 (the clip in the index): near
  1 when queries and index live in the same domain, near 0 when they do not (a raw index queried with decoded audio).

:func:`heldout_nll` adds the model's per-code negative log-likelihood on held-out clips, with the unigram baseline
counted on the training split's codes, and the same NLL with the text removed (what the caption is worth in nats).

Example:

```python
>>> from hf_audiogen.evaluation import evaluate_text_adherence, heldout_nll
>>> report = evaluate_text_adherence("outputs/audiogen-sfx", "data_cache/sfx_corpus", duration=2.0)  # doctest: +SKIP
>>> report.overall.top1, report.oracle.top1, report.overall.chance_top1  # model, codec oracle, chance  # doctest: +SKIP
>>> report.nll = heldout_nll("outputs/audiogen-sfx", "data_cache/sfx_corpus")  # doctest: +SKIP
>>> print(report.format_table())  # doctest: +SKIP
>>> report.save("adherence.json")  # doctest: +SKIP
```
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..audio import resample
from .audio_embedding import LogMelStatisticsEmbedding, StandardizedCosine

TOP_K = 5  # the "top-5" of the report
TRAIN_SPLIT = "train"
INDEX_DOMAINS = ("codec", "raw")

# Hand-written paraphrases of corpus captions (paraphrase -> the corpus caption it should retrieve), worded away from
# the caption on purpose (other verbs/nouns), and written before looking at any model output.
DEFAULT_PARAPHRASES: dict[str, str] = {
    "cattle lowing in a field": "a cow mooing",
    "a pair of dogs yapping": "two dogs barking",
    "walking through fresh snow": "footsteps on snow",
    "someone walking on loose stones": "footsteps on gravel",
    "a campfire crackles": "a fire crackling",
    "a stream of running water": "flowing water",
    "a horse whinnies": "a horse neighing",
    "a crowd clapping their hands": "applause",
    "a cockerel calls at dawn": "a rooster crowing",
    "a kitten mews": "a cat meowing",
    "a power saw slicing a plank": "a circular saw cutting wood",
    "a big ship sounds its foghorn": "ship horn",
}


# ----------------------------------------------------------------------------------------------------------------------
# Chance levels
# ----------------------------------------------------------------------------------------------------------------------
def chance_of_hit(num_matching: int, num_candidates: int, k: int) -> float:
    """Probability that at least one of ``k`` clips drawn without replacement from ``num_candidates`` carries the
    caption, when ``num_matching`` of them do: ``1 - C(N - n, k) / C(N, k)`` (exact, via integers).

    Example:
        >>> chance_of_hit(1, 10, 1), chance_of_hit(1, 10, 5), chance_of_hit(2, 4, 3)
        (0.1, 0.5, 1.0)
    """
    for name, value in (("num_matching", num_matching), ("num_candidates", num_candidates), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    if num_candidates == 0 or k == 0:
        raise ValueError(f"need num_candidates >= 1 and k >= 1, got {num_candidates} and {k}")
    if num_matching > num_candidates:
        raise ValueError(f"num_matching ({num_matching}) exceeds num_candidates ({num_candidates})")
    k = min(k, num_candidates)
    return float(1 - Fraction(math.comb(num_candidates - num_matching, k), math.comb(num_candidates, k)))


# ----------------------------------------------------------------------------------------------------------------------
# The corpus as a retrieval index
# ----------------------------------------------------------------------------------------------------------------------
def _codec_name(codec) -> str:
    return getattr(codec, "name_or_path", "") or getattr(codec.config, "_name_or_path", "") or "codec"


def _check_corpus_dir(corpus_dir) -> Path:
    path = Path(corpus_dir)
    if not path.is_dir():
        raise ValueError(
            f"corpus_dir {os.fspath(corpus_dir)!r} is not a folder (expected a corpus folder with "
            "metadata.jsonl, e.g. data_cache/sfx_corpus from `hf-audiogen data build-sfx-corpus`)"
        )
    if not (path / "metadata.jsonl").is_file():
        raise ValueError(
            f"corpus_dir {os.fspath(corpus_dir)!r} has no metadata.jsonl (one row per clip: file, "
            "caption, source, split)"
        )
    return path


def _load_corpus_rows(corpus_dir, sampling_rate: int, progress_bar: bool) -> list[dict]:
    """Every clip of the corpus (all splits) decoded to mono float32 at ``sampling_rate``."""
    from ..data.streams import load_audio_dataset

    path = _check_corpus_dir(corpus_dir)
    dataset = load_audio_dataset(path, split=None, streaming=False, sampling_rate=sampling_rate)
    rows = []
    for row in tqdm(dataset, desc="loading corpus", unit="clip", disable=not progress_bar):
        caption = row.get("caption")
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f"corpus clip {row['id']!r} has no caption; every clip of {path} needs one")
        rows.append(
            {
                "id": row["id"],
                "caption": caption,
                "source": row.get("source") or "unknown",
                "split": row.get("split") or "unknown",
                "group": row.get("group") or row["id"],
                "audio": np.asarray(row["audio"], dtype=np.float32),
            }
        )
    if len(rows) < 2:
        raise ValueError(f"corpus {path} has {len(rows)} clip(s); retrieval needs at least 2")
    return rows


@torch.no_grad()
def codec_reconstruction(codec, audio, sampling_rate: int) -> tuple[np.ndarray, int]:
    """Mono ``audio`` (``(samples,)`` at ``sampling_rate``) through ``codec``'s encode and decode: the sound as the
    codec can render it, i.e. in the same domain as what a model over this codec generates. Returns ``(audio, rate)`` at
    the codec's rate, cut to the input's length (the decoder rounds up to whole frames).

    Example:
        >>> from hf_audiogen.codec.reconstruct import load_codec
        >>> codec, _ = load_codec()  # the bundled sfx-codec-small  # doctest: +SKIP
        >>> decoded, rate = codec_reconstruction(codec, np.random.randn(16000) * 0.1, 16000)  # doctest: +SKIP
    """
    rate = codec.config.sampling_rate
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"codec_reconstruction takes mono audio of shape (samples,), got shape {audio.shape}")
    if sampling_rate != rate:
        audio = resample(audio, sampling_rate, rate).astype(np.float32)
    inputs = torch.from_numpy(audio).to(device=codec.device, dtype=codec.dtype)[None, None]
    decoded = codec.decode(codec.encode(inputs))[0, 0, : len(audio)]
    return decoded.float().cpu().numpy(), rate


class CorpusIndex:
    """The corpus clips' embeddings, standardised with the corpus' own statistics, ready to rank queries.

    Args:
        ids, captions, sources, splits (`list[str]`): one entry per clip.
        features (`np.ndarray` of shape `(N, dim)`): raw embeddings of the clips.
        embedding: the callable that produced them (applied to queries by :meth:`embed`).
        groups (`list[str]`, *optional*): the recording each clip was cut or edited from (the corpus' ``group``
            column; default: each clip its own group), for the cross-recording oracle.
        domain (`str`): what ``features`` describe, recorded in reports: ``"raw"`` (the clips as they are) or
            ``"codec"`` (their codec reconstructions).
        reconstruction_queries (`np.ndarray` of shape `(N, dim)`, *optional*): per clip, the embedding of its codec
            reconstruction as a generation-length query (the codec-reconstruction oracle's queries).
        codec_name (`str`, *optional*), query_seconds (`float`, *optional*): provenance of those, for reports.

    Example:
        >>> from hf_audiogen.codec.reconstruct import load_codec
        >>> index = CorpusIndex.from_corpus("data_cache/sfx_corpus", codec=load_codec()[0])  # doctest: +SKIP
        >>> ranking = index.rank(index.embed([audio], sampling_rate=16000))  # doctest: +SKIP
        >>> index.captions[ranking[0, 0]]  # caption of the nearest clip  # doctest: +SKIP
    """

    def __init__(
        self,
        ids,
        captions,
        sources,
        splits,
        features: np.ndarray,
        embedding,
        groups=None,
        domain: str = "raw",
        reconstruction_queries: np.ndarray | None = None,
        codec_name: str | None = None,
        query_seconds: float | None = None,
    ):
        if domain not in INDEX_DOMAINS:
            raise ValueError(f"domain must be one of {INDEX_DOMAINS}, got {domain!r}")
        features = np.asarray(features, dtype=np.float64)
        groups = list(ids) if groups is None else list(groups)
        if len(groups) != len(ids):
            raise ValueError(f"groups must have one entry per clip, got {len(groups)} for {len(ids)} clips")
        if not len(ids) == len(captions) == len(sources) == len(splits) == features.shape[0]:
            raise ValueError(
                f"ids, captions, sources, splits and features must have one entry per clip, got "
                f"{len(ids)}, {len(captions)}, {len(sources)}, {len(splits)}, {features.shape[0]}"
            )
        self.ids, self.captions, self.sources, self.splits = list(ids), list(captions), list(sources), list(splits)
        self.groups = groups
        self.embedding = embedding
        self.similarity = StandardizedCosine(features)
        self.keys = self.similarity.unit_vectors(features)
        self.caption_counts = Counter(self.captions)
        self.domain, self.codec_name, self.query_seconds = domain, codec_name, query_seconds
        self.reconstruction_queries = None
        if reconstruction_queries is not None:
            reconstruction_queries = np.asarray(reconstruction_queries, dtype=np.float64)
            if reconstruction_queries.shape != features.shape:
                raise ValueError(
                    f"reconstruction_queries must have the features' shape {features.shape}, got "
                    f"{reconstruction_queries.shape}"
                )
            self.reconstruction_queries = reconstruction_queries

    @classmethod
    def from_corpus(
        cls,
        corpus_dir,
        embedding=None,
        progress_bar: bool = True,
        *,
        codec=None,
        domain: str | None = None,
        query_seconds: float | None = None,
    ) -> CorpusIndex:
        """Load and embed every clip of ``corpus_dir`` (default embedding: :class:`LogMelStatisticsEmbedding`).

        With a ``codec`` (the evaluated model's), the index holds the clips' codec reconstructions (``domain``
        ``"codec"``, the default then; ``"raw"`` indexes the clips as they are, for comparison only) and each clip's
        reconstruction as a query of the codec-reconstruction oracle: its first ``query_seconds`` (default: whole)."""
        domain = domain or ("codec" if codec is not None else "raw")
        if domain not in INDEX_DOMAINS:
            raise ValueError(f"domain must be one of {INDEX_DOMAINS}, got {domain!r}")
        if domain == "codec" and codec is None:
            raise ValueError("domain='codec' indexes codec reconstructions: pass the evaluated model's codec")
        if query_seconds is not None and not query_seconds > 0:
            raise ValueError(f"query_seconds must be a positive number of seconds, got {query_seconds!r}")
        embedding = embedding or LogMelStatisticsEmbedding()
        rate = embedding.sampling_rate
        rows = _load_corpus_rows(corpus_dir, rate, progress_bar)
        features, queries = [], []
        for row in tqdm(rows, desc="embedding corpus", unit="clip", disable=not progress_bar):
            audio = row["audio"]
            whole = codec_reconstruction(codec, audio, rate) if domain == "codec" else None
            features.append(embedding(*whole)[0] if whole is not None else embedding(audio, sampling_rate=rate)[0])
            if codec is not None:
                # The oracle's query is as long as a generation, and goes through the codec on its own.
                crop = audio if query_seconds is None else audio[: max(1, int(round(query_seconds * rate)))]
                decoded = (
                    whole if whole is not None and len(crop) == len(audio) else codec_reconstruction(codec, crop, rate)
                )
                queries.append(embedding(*decoded)[0])
        return cls(
            [r["id"] for r in rows],
            [r["caption"] for r in rows],
            [r["source"] for r in rows],
            [r["split"] for r in rows],
            np.stack(features),
            embedding,
            [r["group"] for r in rows],
            domain=domain,
            reconstruction_queries=np.stack(queries) if queries else None,
            codec_name=_codec_name(codec) if codec is not None else None,
            query_seconds=query_seconds,
        )

    def __len__(self) -> int:
        return len(self.ids)

    def embed(self, audio, sampling_rate: int) -> np.ndarray:
        return self.embedding(audio, sampling_rate=sampling_rate)

    def rank(self, features: np.ndarray) -> np.ndarray:
        """``(Q, dim)`` query features -> ``(Q, N)`` clip indices, most similar first (ties: lower index first)."""
        return np.argsort(-(self.similarity.unit_vectors(features) @ self.keys.T), axis=1, kind="stable")

    def rank_leave_one_out(
        self, clips: Sequence[int], exclude_same_group: bool = False, query_features: np.ndarray | None = None
    ) -> np.ndarray:
        """Rank the corpus for some of its own clips: ``(len(clips), N)`` indices with the query clip itself (and,
        with ``exclude_same_group``, every clip of its recording group) ranked last. The queries are the indexed
        clips themselves, or ``query_features`` (raw features, one row per corpus clip, e.g.
        ``reconstruction_queries``)."""
        clips = np.asarray(clips, dtype=np.int64)
        queries = self.keys[clips] if query_features is None else self.similarity.unit_vectors(query_features)[clips]
        similarities = queries @ self.keys.T
        similarities[np.arange(len(clips)), clips] = -np.inf
        if exclude_same_group:
            groups = np.asarray(self.groups, dtype=object)
            similarities[groups[clips][:, None] == groups[None, :]] = -np.inf
        return np.argsort(-similarities, axis=1, kind="stable")

    def describe(self) -> str:
        """One line on what the index holds, for reports."""
        if self.domain == "codec":
            return f"codec reconstructions ({self.codec_name})"
        return "raw clips" + (f" (queries: {self.codec_name} reconstructions)" if self.codec_name else "")

    def caption_source(self, caption: str) -> str:
        """The source most of the caption's clips come from (ties: alphabetical)."""
        sources = Counter(s for c, s in zip(self.captions, self.sources) if c == caption)
        return min(sources, key=lambda s: (-sources[s], s))

    def caption_split_group(self, caption: str) -> str:
        """``"train"`` if a training clip carries the caption, else ``"held-out"`` (the model never heard it)."""
        return (
            TRAIN_SPLIT
            if any(c == caption and s == TRAIN_SPLIT for c, s in zip(self.captions, self.splits))
            else "held-out"
        )


# ----------------------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class RetrievalScores:
    """Top-1 / top-5 caption-match rates of a set of queries and their exact chance levels (fractions in [0, 1])."""

    num_queries: int
    top1: float
    top5: float
    chance_top1: float
    chance_top5: float

    def to_dict(self) -> dict:
        """JSON-ready fields (an undefined figure, NaN, becomes None)."""
        return _json_ready(asdict(self))


@dataclass
class PromptResult:
    """One prompt: its target caption, hits over its samples and the captions of the nearest clips of each sample."""

    prompt: str
    target: str
    kind: str  # "caption" or "paraphrase"
    source: str
    split_group: str
    num_samples: int
    top1_hits: int
    top5_hits: int
    chance_top1: float
    chance_top5: float
    nearest_captions: list[list[str]]  # per sample, the captions of the 5 nearest clips


@dataclass
class HeldoutNLL:
    """Per-code negative log-likelihood (nats) on held-out clips, with baselines.

    ``nll``: the model with the clips' captions; ``unconditional_nll``: the same clips with the text removed (null
    condition); ``unigram_nll``: per-codebook code frequencies of the training split (add-one smoothed);
    ``uniform_nll``: ``log(codebook_size)``."""

    split: str
    num_clips: int
    num_codes: int
    max_seconds: float
    nll: float
    per_codebook: list[float]
    unconditional_nll: float
    unigram_nll: float
    uniform_nll: float

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll)


@dataclass
class AdherenceReport:
    """Everything :func:`evaluate_text_adherence` measured; ``save`` writes it as JSON, ``format_table`` as text."""

    settings: dict
    overall: RetrievalScores
    prompt_shuffled: dict  # {"top1": ..., "top5": ...}: expected accuracy against a random other prompt
    by_source: dict[str, RetrievalScores]
    by_split: dict[str, RetrievalScores]
    paraphrases: RetrievalScores | None
    oracle: RetrievalScores | None  # codec-reconstruction oracle (held-out real clip, through the codec, as query)
    oracle_cross_recording: RetrievalScores | None  # the same, the query's recording group left out
    prompts: list[PromptResult] = field(default_factory=list)
    nll: HeldoutNLL | None = None
    command: str | None = None
    domain_check: dict | None = None  # {"num_queries", "self_top1"}: see domain_check()

    def to_dict(self) -> dict:
        """Plain JSON-ready data; undefined figures (NaN, e.g. an oracle without any repeated caption) become None."""
        out = asdict(self)
        if self.nll is not None:
            out["nll"]["perplexity"] = self.nll.perplexity
        return _json_ready(out)

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return path

    def format_table(self) -> str:
        """The figures as a plain-text table (percentages), followed by the paraphrase prompts."""
        lines = [f"{'set':<28} {'n':>5} {'top-1':>7} {'chance':>7} {'top-5':>7} {'chance':>7}"]

        def row(name: str, scores: RetrievalScores | None) -> None:
            if scores is not None and scores.num_queries:
                lines.append(
                    f"{name:<28} {scores.num_queries:>5} {100 * scores.top1:>6.1f}% "
                    f"{100 * scores.chance_top1:>6.1f}% {100 * scores.top5:>6.1f}% "
                    f"{100 * scores.chance_top5:>6.1f}%"
                )

        row("corpus captions", self.overall)
        lines.append(
            f"{'  prompt-shuffled baseline':<28} {'':>5} {100 * self.prompt_shuffled['top1']:>6.1f}% "
            f"{'':>7} {100 * self.prompt_shuffled['top5']:>6.1f}%"
        )
        for name, scores in sorted(self.by_split.items()):
            row(f"  split: {name}", scores)
        for name, scores in sorted(self.by_source.items()):
            row(f"  source: {name}", scores)
        row("paraphrases", self.paraphrases)
        row("codec-reconstruction oracle", self.oracle)
        row("  other recordings only", self.oracle_cross_recording)
        lines.append(
            "(n = captions/prompts, or clips for the oracle; samples per prompt: "
            f"{self.settings.get('num_samples_per_caption')}; embedding: {self.settings.get('embedding')}; "
            f"index: {self.settings.get('index')})"
        )
        if self.domain_check is not None:
            lines.append(
                f"domain check: a clip's codec reconstruction retrieves the clip itself top-1 for "
                f"{100 * self.domain_check['self_top1']:.1f}% of {self.domain_check['num_queries']} clips "
                "(with a raw index about 1%: decoded audio then lands on a few hub clips)"
            )
        if self.nll is not None:
            n = self.nll
            lines.append(
                f"held-out NLL ({n.split}, {n.num_clips} clips, {n.num_codes} codes): {n.nll:.4f} nats/code "
                f"(ppl {n.perplexity:.1f}); without text {n.unconditional_nll:.4f}; unigram (train codes) "
                f"{n.unigram_nll:.4f}; uniform {n.uniform_nll:.4f}"
            )
        paraphrases = [p for p in self.prompts if p.kind == "paraphrase"]
        if paraphrases:
            lines.append("")
            lines.append(f"{'paraphrase':<36} {'target caption':<28} {'top1':>4} {'top5':>4}  nearest clip's caption")
            for p in paraphrases:
                lines.append(
                    f"{p.prompt[:36]:<36} {p.target[:28]:<28} {p.top1_hits:>2}/{p.num_samples:<1} "
                    f"{p.top5_hits:>2}/{p.num_samples:<1}  {p.nearest_captions[0][0]}"
                )
        if self.command:
            lines.append("")
            lines.append(f"command: {self.command}")
        return "\n".join(lines)


def _json_ready(value):
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _aggregate(results: Sequence[PromptResult]) -> RetrievalScores:
    """Mean over prompts of each prompt's hit rate (its samples averaged), and of its chance levels."""
    if not results:
        return RetrievalScores(0, float("nan"), float("nan"), float("nan"), float("nan"))
    return RetrievalScores(
        num_queries=len(results),
        top1=float(np.mean([r.top1_hits / r.num_samples for r in results])),
        top5=float(np.mean([r.top5_hits / r.num_samples for r in results])),
        chance_top1=float(np.mean([r.chance_top1 for r in results])),
        chance_top5=float(np.mean([r.chance_top5 for r in results])),
    )


# ----------------------------------------------------------------------------------------------------------------------
# Oracles: real clips as queries
# ----------------------------------------------------------------------------------------------------------------------
def oracle_retrieval(
    index: CorpusIndex, exclude_same_group: bool = False, query_features: np.ndarray | None = None
) -> RetrievalScores:
    """Leave-one-out retrieval of each real clip among the others, over the clips whose caption another candidate
    carries (for a caption with a single clip there is nothing to find). Chance per clip: the caption's other clips
    among the candidates.

    The query of clip ``i`` is the indexed clip itself, or row ``i`` of ``query_features`` — with
    ``index.reconstruction_queries``, the **codec-reconstruction oracle** (the held-out clip as the codec renders it,
    what the model's generations are compared with).

    ``exclude_same_group=True`` also removes the query's recording group (variants cut or edited from the same
    recording, e.g. ``footstep.1`` / ``footstep.2``) from the candidates: retrieval across *different* recordings.
    """
    groups = np.asarray(index.groups, dtype=object)
    captions = np.asarray(index.captions, dtype=object)
    queries, candidates, matching = [], [], []
    for i, caption in enumerate(index.captions):
        allowed = groups != groups[i] if exclude_same_group else np.arange(len(index)) != i
        num_matching = int(np.sum(allowed & (captions == caption)))
        if num_matching:
            queries.append(i)
            candidates.append(int(allowed.sum()))
            matching.append(num_matching)
    if not queries:
        return RetrievalScores(0, float("nan"), float("nan"), float("nan"), float("nan"))
    ranking = index.rank_leave_one_out(queries, exclude_same_group, query_features)
    top1, top5, chance1, chance5 = [], [], [], []
    for row, i, num_candidates, num_matching in zip(ranking, queries, candidates, matching):
        nearest = [index.captions[j] for j in row[: min(TOP_K, num_candidates)]]
        top1.append(nearest[0] == index.captions[i])
        top5.append(index.captions[i] in nearest)
        chance1.append(chance_of_hit(num_matching, num_candidates, 1))
        chance5.append(chance_of_hit(num_matching, num_candidates, TOP_K))
    return RetrievalScores(
        len(queries), float(np.mean(top1)), float(np.mean(top5)), float(np.mean(chance1)), float(np.mean(chance5))
    )


def domain_check(index: CorpusIndex) -> dict:
    """How often a clip's codec reconstruction (``index.reconstruction_queries``) retrieves the clip itself top-1 with
    the clip in the index: ``{"num_queries", "self_top1"}``. Near 1 when decoded audio and the index share a domain;
    near 0 with a raw index (decoded audio of any kind lands on a few hub clips), and then the generation figures
    mean nothing."""
    if index.reconstruction_queries is None:
        raise ValueError("the index has no reconstruction queries: build it with CorpusIndex.from_corpus(codec=...)")
    ranking = index.rank(index.reconstruction_queries)
    return {"num_queries": len(index), "self_top1": float(np.mean(ranking[:, 0] == np.arange(len(index))))}


# ----------------------------------------------------------------------------------------------------------------------
# Generation-based evaluation
# ----------------------------------------------------------------------------------------------------------------------
def _load_pipeline(pipeline_or_model_dir):
    from ..audiogen import AudioGenPipeline

    if isinstance(pipeline_or_model_dir, AudioGenPipeline):
        return pipeline_or_model_dir, getattr(pipeline_or_model_dir.model, "name_or_path", "") or "<pipeline>"
    if isinstance(pipeline_or_model_dir, (str, os.PathLike)):
        if not Path(pipeline_or_model_dir).is_dir():
            raise ValueError(
                f"model directory {os.fspath(pipeline_or_model_dir)!r} does not exist (expected a "
                "save_pretrained AudioGen directory)"
            )
        return AudioGenPipeline.from_pretrained(pipeline_or_model_dir, device="cpu"), os.fspath(pipeline_or_model_dir)
    raise ValueError(
        f"pipeline_or_model_dir must be an AudioGenPipeline or a model directory, got "
        f"{type(pipeline_or_model_dir).__name__}"
    )


class _TextToAudio:
    """What the adherence measure needs of a text-to-audio pipeline, whatever its family: its codec (the corpus index
    is built in that codec's domain), its sampling defaults (for the report) and ``generate``."""

    def __init__(self, pipe, name: str):
        self.pipe, self.name = pipe, name
        self.is_audiogen = hasattr(pipe, "model") and hasattr(pipe.model, "generation_config")
        self.codec = pipe.model.codec if self.is_audiogen else pipe.codec

    def sampling_defaults(self) -> dict:
        if self.is_audiogen:
            config = self.pipe.model.generation_config.to_dict()
            return {
                k: v for k, v in config.items() if k in ("guidance_scale", "top_k", "top_p", "temperature", "do_sample")
            }
        return {"scheduler": type(self.pipe.scheduler).__name__}

    def generate(self, prompt: str, duration: float, seed: int, num_samples: int, sampling: dict) -> list[dict]:
        """``[{"audio", "sampling_rate"}]``: ``num_samples`` samples of ``prompt`` with seed ``seed``."""
        if self.is_audiogen:
            outputs = self.pipe(
                prompt, duration=duration, seed=seed, num_return_sequences=num_samples, progress_bar=False, **sampling
            )
            return outputs if isinstance(outputs, list) else [outputs]
        # A diffusion pipeline (Audio-Journey, diffusers' calling convention).
        output = self.pipe(
            prompt,
            audio_length_in_s=duration,
            num_waveforms_per_prompt=num_samples,
            generator=torch.Generator().manual_seed(seed),
            **sampling,
        )
        return [{"audio": audio, "sampling_rate": self.pipe.sampling_rate} for audio in output.audios]


def _text_to_audio(pipeline_or_model_dir) -> _TextToAudio:
    """An AudioGen pipeline (or folder) as before, or any text-to-audio pipeline this package loads with a codec
    (Audio-Journey): a folder is loaded by the family its config names."""
    from ..audiogen import AudioGenPipeline

    if isinstance(pipeline_or_model_dir, AudioGenPipeline):
        return _TextToAudio(*_load_pipeline(pipeline_or_model_dir))
    if isinstance(pipeline_or_model_dir, (str, os.PathLike)):
        from ..pretrained import load_pipeline, model_family

        if Path(pipeline_or_model_dir).is_dir() and model_family(pipeline_or_model_dir) != "audiogen":
            pipe = load_pipeline(pipeline_or_model_dir, family=None)
            if not hasattr(pipe, "codec"):
                raise ValueError(
                    f"{os.fspath(pipeline_or_model_dir)!r} holds a {type(pipe).__name__}, which has no codec: the "
                    "codec-aware measure needs a codec-based text-to-audio model (AudioGen, Audio-Journey)"
                )
            return _TextToAudio(pipe, os.fspath(pipeline_or_model_dir))
        return _TextToAudio(*_load_pipeline(pipeline_or_model_dir))
    if hasattr(pipeline_or_model_dir, "codec") and hasattr(pipeline_or_model_dir, "sampling_rate"):
        return _TextToAudio(pipeline_or_model_dir, getattr(pipeline_or_model_dir, "name_or_path", "") or "<pipeline>")
    raise ValueError(
        "pipeline_or_model_dir must be an AudioGenPipeline, a codec-based diffusion pipeline (Audio-Journey) or a "
        f"model directory, got {type(pipeline_or_model_dir).__name__}"
    )


def _check_prompts(index: CorpusIndex, captions, paraphrases) -> list[tuple[str, str, str]]:
    """``[(prompt, target caption, kind)]``: the captions (default: every distinct corpus caption, in corpus order)
    then the paraphrases (default: :data:`DEFAULT_PARAPHRASES` whose target is in the corpus)."""
    if captions is None:
        captions = list(dict.fromkeys(index.captions))
    else:
        if isinstance(captions, str) or not isinstance(captions, Sequence):
            raise ValueError(f"captions must be a list of corpus captions, got {captions!r}")
        if len(captions) == 0:
            raise ValueError("captions is an empty list: give at least one corpus caption (or None for all of them)")
        unknown = [c for c in captions if c not in index.caption_counts]
        if unknown:
            raise ValueError(
                f"caption {unknown[0]!r} is not carried by any clip of the corpus; captions must be "
                f"corpus captions, e.g. {sorted(index.caption_counts)[:3]}"
            )
        captions = list(dict.fromkeys(captions))
    if paraphrases is None:
        paraphrases = {p: t for p, t in DEFAULT_PARAPHRASES.items() if t in index.caption_counts}
    elif not isinstance(paraphrases, Mapping):
        raise ValueError(f"paraphrases must be a dict {{paraphrase: corpus caption}}, got {type(paraphrases).__name__}")
    for prompt, target in paraphrases.items():
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"paraphrase prompts must be non-empty strings, got {prompt!r}")
        if target not in index.caption_counts:
            raise ValueError(f"paraphrase {prompt!r} targets {target!r}, which no corpus clip carries")
    return [(c, c, "caption") for c in captions] + [(p, t, "paraphrase") for p, t in paraphrases.items()]


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def evaluate_text_adherence(
    pipeline_or_model_dir,
    corpus_dir: str | os.PathLike,
    *,
    captions: Sequence[str] | None = None,
    paraphrases: Mapping[str, str] | None = None,
    duration: float = 2.0,
    num_samples_per_caption: int = 1,
    seed: int = 0,
    guidance_scale: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    temperature: float | None = None,
    num_inference_steps: int | None = None,
    embedding: str = "logmel",
    oracle: bool = True,
    index: CorpusIndex | None = None,
    index_domain: str = "codec",
    progress_bar: bool = True,
) -> AdherenceReport:
    """Generate audio for corpus captions (and paraphrases) and check it retrieves clips that carry the caption.

    Args:
        pipeline_or_model_dir: an [`AudioGenPipeline`], an [`AudioJourneyPipeline`] (any pipeline with a codec that
            follows diffusers' calling convention), or a ``save_pretrained`` directory of either.
        corpus_dir: corpus folder with ``metadata.jsonl`` (``file``, ``caption``, ``source``, ``split``); all its
            clips, every split, are the retrieval candidates.
        captions: the corpus captions to prompt with (default: every distinct caption).
        paraphrases: ``{prompt: corpus caption}`` prompts scored against the caption (default:
            :data:`DEFAULT_PARAPHRASES` whose caption is in the corpus; ``{}`` for none).
        duration: seconds generated per prompt.
        num_samples_per_caption: samples per prompt (one ``generate`` call); a prompt's hit rate averages them.
        seed: every prompt is generated with this seed, so the prompts differ only by their text.
        guidance_scale, top_k, top_p, temperature: sampling settings (default: the model's generation config);
            diffusion pipelines take ``guidance_scale`` and ``num_inference_steps`` (default: the pipeline's).
        embedding: ``"logmel"`` (log-mel statistics) or ``"logmel+codec"`` (plus the mean of the evaluated model's
            codec latents; comparable only between models sharing that codec).
        oracle: also run the codec-reconstruction oracle (held-out real clips, through the model's codec, as queries)
            and the domain check.
        index: a prebuilt :class:`CorpusIndex` of ``corpus_dir`` (skips loading/embedding the corpus again; its
            embedding and domain are used, ``embedding`` must then be ``"logmel"``; built with the model's codec,
            ``CorpusIndex.from_corpus(corpus_dir, codec=pipe.model.codec, query_seconds=duration)``).
        index_domain: ``"codec"`` (default): index the corpus clips as the model's codec reconstructs them, the
            domain generated audio lives in; ``"raw"``: the clips as they are — only to show how blind that is
            (decoded audio retrieves a few hub clips whatever it is).
        progress_bar: show tqdm bars.

    Returns:
        [`AdherenceReport`] (fill ``report.nll`` with :func:`heldout_nll` for the full picture).
    """
    if embedding not in ("logmel", "logmel+codec"):
        raise ValueError(f"embedding must be 'logmel' or 'logmel+codec', got {embedding!r}")
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not duration > 0:
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    num_samples_per_caption = _check_positive_int("num_samples_per_caption", num_samples_per_caption)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if index is not None and embedding != "logmel":
        raise ValueError("index= brings its own embedding; leave embedding='logmel' when passing an index")
    if index_domain not in INDEX_DOMAINS:
        raise ValueError(f"index_domain must be one of {INDEX_DOMAINS}, got {index_domain!r}")
    if index is not None and oracle and index.reconstruction_queries is None:
        raise ValueError(
            "the index has no codec-reconstruction queries for the oracle: build it with "
            "CorpusIndex.from_corpus(corpus_dir, codec=pipe.model.codec), or pass oracle=False"
        )
    _check_corpus_dir(corpus_dir)
    generator = _text_to_audio(pipeline_or_model_dir)
    if index is None:
        codec = generator.codec
        index = CorpusIndex.from_corpus(
            corpus_dir,
            LogMelStatisticsEmbedding(codec=codec if embedding == "logmel+codec" else None),
            progress_bar,
            codec=codec,
            domain=index_domain,
            query_seconds=float(duration),
        )
    prompts = _check_prompts(index, captions, paraphrases)

    if generator.is_audiogen:
        sampling = dict(guidance_scale=guidance_scale, top_k=top_k, top_p=top_p, temperature=temperature)
        if num_inference_steps is not None:
            raise ValueError("num_inference_steps is a setting of diffusion pipelines; AudioGen samples token by token")
    else:
        sampling = dict(guidance_scale=guidance_scale, num_inference_steps=num_inference_steps)
        token_settings = {"top_k": top_k, "top_p": top_p, "temperature": temperature}
        given = sorted(name for name, value in token_settings.items() if value is not None)
        if given:
            raise ValueError(f"{given} are token-sampling settings of AudioGen; a diffusion pipeline takes neither")
    sampling = {name: value for name, value in sampling.items() if value is not None}
    results: list[PromptResult] = []
    caption_prompts = [p for p, _, kind in prompts if kind == "caption"]
    shuffled_top1, shuffled_top5 = [], []
    n = len(index)
    for prompt, target, kind in tqdm(prompts, desc="generating", unit="prompt", disable=not progress_bar):
        outputs = generator.generate(prompt, float(duration), int(seed), num_samples_per_caption, sampling)
        features = index.embed([o["audio"] for o in outputs], sampling_rate=outputs[0]["sampling_rate"])
        nearest = [[index.captions[j] for j in row[:TOP_K]] for row in index.rank(features)]
        matches = index.caption_counts[target]
        results.append(
            PromptResult(
                prompt=prompt,
                target=target,
                kind=kind,
                source=index.caption_source(target),
                split_group=index.caption_split_group(target),
                num_samples=len(outputs),
                top1_hits=sum(near[0] == target for near in nearest),
                top5_hits=sum(target in near for near in nearest),
                chance_top1=chance_of_hit(matches, n, 1),
                chance_top5=chance_of_hit(matches, n, TOP_K),
                nearest_captions=nearest,
            )
        )
        if kind == "caption":
            # Against a uniformly random prompt of the list: the share of the list's captions this sample "hits".
            listed = set(caption_prompts)
            shuffled_top1.extend(float(near[0] in listed) / len(listed) for near in nearest)
            shuffled_top5.extend(len(listed & set(near)) / len(listed) for near in nearest)

    caption_results = [r for r in results if r.kind == "caption"]
    paraphrase_results = [r for r in results if r.kind == "paraphrase"]
    settings = dict(
        model=generator.name,
        corpus=os.fspath(corpus_dir),
        duration=float(duration),
        seed=int(seed),
        num_samples_per_caption=num_samples_per_caption,
        embedding=index.embedding.name,
        index=index.describe(),
        oracle_query_seconds=index.query_seconds,
        num_corpus_clips=n,
        num_distinct_captions=len(index.caption_counts),
        sampling={**generator.sampling_defaults(), **sampling},
    )
    return AdherenceReport(
        settings=settings,
        overall=_aggregate(caption_results),
        prompt_shuffled={
            "top1": float(np.mean(shuffled_top1)) if shuffled_top1 else float("nan"),
            "top5": float(np.mean(shuffled_top5)) if shuffled_top5 else float("nan"),
        },
        by_source={
            s: _aggregate([r for r in caption_results if r.source == s])
            for s in sorted({r.source for r in caption_results})
        },
        by_split={
            g: _aggregate([r for r in caption_results if r.split_group == g])
            for g in sorted({r.split_group for r in caption_results})
        },
        paraphrases=_aggregate(paraphrase_results) if paraphrase_results else None,
        oracle=oracle_retrieval(index, query_features=index.reconstruction_queries) if oracle else None,
        oracle_cross_recording=oracle_retrieval(index, True, index.reconstruction_queries) if oracle else None,
        prompts=results,
        domain_check=domain_check(index) if oracle else None,
    )


# ----------------------------------------------------------------------------------------------------------------------
# Held-out NLL
# ----------------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def heldout_nll(
    pipeline_or_model_dir,
    corpus_dir: str | os.PathLike,
    split: str = "validation",
    *,
    train_split: str = TRAIN_SPLIT,
    max_seconds: float | None = None,
    batch_size: int = 8,
    progress_bar: bool = True,
) -> HeldoutNLL:
    """Mean per-code NLL (nats) of the model on the ``split`` clips of the corpus, with its captions and without.

    It is the training loop's own held-out evaluation (:func:`hf_audiogen.training.audiogen.evaluate_nll`: the model's
    forward logits, scored on the positions its loss uses, token-weighted over clips), so the numbers compare with
    the training log. Each clip is cut to its first ``max_seconds`` (default: the model's trained window), as there.
    The unigram baseline counts the codes of every ``train_split`` clip (whole clips), per codebook, add-one smoothed.
    Captions go through the model's processor (which normalises them when the model was trained so).
    """
    from ..data.streams import load_audio_dataset
    from ..training.audiogen import codes_and_labels, evaluate_nll
    from ..training.audiogen_data import CodeUnigram, TextAudioCollator

    batch_size = _check_positive_int("batch_size", batch_size)
    path = _check_corpus_dir(corpus_dir)
    pipe, _ = _load_pipeline(pipeline_or_model_dir)
    model, processor = pipe.model, pipe.processor
    config = model.config
    if max_seconds is None:
        max_seconds = float(config.max_duration)
    elif isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float)) or not max_seconds > 0:
        raise ValueError(f"max_seconds must be a positive number of seconds, got {max_seconds!r}")

    # All splits are decoded once and filtered here (rather than with load_audio_dataset(split=...)) so that an empty
    # or misspelt split gives a clear error naming the splits that exist.
    dataset = load_audio_dataset(path, split=None, streaming=False, sampling_rate=config.sampling_rate)
    splits = Counter(dataset["split"]) if "split" in dataset.column_names else Counter()
    for name in (split, train_split):
        if splits[name] == 0:
            raise ValueError(f"corpus {path} has no clip in split {name!r}; its splits are {dict(splits)}")
    rows = list(tqdm(dataset, desc="loading clips", unit="clip", disable=not progress_bar))

    unigram = CodeUnigram(config.decoder.num_codebooks, config.decoder.codebook_size)
    for row in tqdm(
        [r for r in rows if r["split"] == train_split],
        desc="unigram (train codes)",
        unit="clip",
        disable=not progress_bar,
    ):
        audio = torch.as_tensor(np.asarray(row["audio"], dtype=np.float32), device=model.device)
        codes, _ = model.encode_audio(audio[None, None])
        unigram.update(codes)

    collate = TextAudioCollator(processor, max_samples=int(max_seconds * config.sampling_rate), random_crop=False)
    held_out = [r for r in rows if r["split"] == split]
    batches = []
    for start in tqdm(
        range(0, len(held_out), batch_size), desc=f"encoding {split}", unit="batch", disable=not progress_bar
    ):
        batch = collate([{**r, "sampling_rate": config.sampling_rate} for r in held_out[start : start + batch_size]])
        batch = {k: v.to(model.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        labels = codes_and_labels(model, batch)
        batches.append(
            {**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}, "labels": labels}
        )
    conditional = evaluate_nll(model, batches, unigram)
    unconditional = evaluate_nll(model, [{"labels": b["labels"]} for b in batches])
    return HeldoutNLL(
        split=split,
        num_clips=len(held_out),
        num_codes=conditional.num_codes,
        max_seconds=float(max_seconds),
        nll=conditional.nll,
        per_codebook=conditional.per_codebook,
        unconditional_nll=unconditional.nll,
        unigram_nll=conditional.unigram_nll,
        uniform_nll=conditional.uniform_nll,
    )


__all__ = [
    "DEFAULT_PARAPHRASES",
    "AdherenceReport",
    "CorpusIndex",
    "HeldoutNLL",
    "PromptResult",
    "RetrievalScores",
    "chance_of_hit",
    "codec_reconstruction",
    "domain_check",
    "evaluate_text_adherence",
    "heldout_nll",
    "oracle_retrieval",
]
