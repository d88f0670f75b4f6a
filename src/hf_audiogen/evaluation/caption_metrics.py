"""Captioning metrics as coco-caption (``pycocoevalcap``) computes them: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, SPICE
and SPIDEr — the numbers audio-captioning papers (AutoCap, ENCLAP, CNext-trans) report on AudioCaps and Clotho.

BLEU, ROUGE-L and CIDEr-D are pure Python here; METEOR and SPICE run the original Java programs when Java and their
jars are on this machine, and otherwise raise :class:`MetricUnavailableError` saying what is missing.

Differences from coco-caption, on purpose:

* Tokenisation. coco-caption runs the Stanford PTB tokenizer (Java) with lower-casing and then drops the tokens
  ``'' ' `` ` . ? ! , : - -- ... ;``. :func:`tokenize_caption` reproduces its rules in Python (so the default metrics
  need no Java): contractions and clitics split (``doesn't`` -> ``does n't``, ``man's`` -> ``man 's``, ``cannot`` ->
  ``can not``), brackets escaped and kept (lower-cased ``-lrb-``, ``-rrb-``, ``-lsb-`` ... are not on coco's drop list),
  ``$ % # & * @`` split off, final periods split off except after abbreviations (``e.g.``, ``p.m.``, ``mr.``, ...),
  numbers such as ``1,000``, ``3.5``, ``5:30``, ``3/4`` and hyphenated words kept whole. It matches the Java tokenizer
  on every string pinned in ``tests/evaluation/test_caption_metrics.py``; rarer PTB rules (``10:00am`` -> ``10:00 am``, a few
  apostrophe words such as ``d'ya``) are not reproduced, which does not occur in ordinary captions.
* Empty predictions score 0 (coco-caption divides by zero in ROUGE-L).

Example:

```python
>>> from hf_audiogen.evaluation import compute_caption_metrics
>>> scores = compute_caption_metrics(
...     ["a dog barks while cars pass by"],
...     [["A dog is barking as cars drive past.", "A dog barks and vehicles pass by on a road"]],
... )
>>> sorted(scores)
['bleu_1', 'bleu_2', 'bleu_3', 'bleu_4', 'cider_d', 'rouge_l']
```
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..validation import InvalidInputError

# ---------------------------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------------------------


def _check_inputs(predictions, references) -> tuple[list[str], list[list[str]]]:
    """Validate ``predictions`` (one string per item) and ``references`` (one or more strings per item)."""
    if isinstance(predictions, str) or not isinstance(predictions, Sequence):
        raise InvalidInputError(f"predictions must be a list of strings, got {type(predictions).__name__}")
    if isinstance(references, str) or not isinstance(references, Sequence):
        raise InvalidInputError(
            f"references must be a list (one entry per prediction), got {type(references).__name__}"
        )
    if len(predictions) == 0:
        raise InvalidInputError("predictions is empty: give at least one caption to score")
    if len(predictions) != len(references):
        raise InvalidInputError(
            f"got {len(predictions)} prediction(s) but {len(references)} reference entries; give one entry (a string "
            "or a list of strings) per prediction"
        )
    for i, prediction in enumerate(predictions):
        if not isinstance(prediction, str):
            raise InvalidInputError(f"predictions[{i}] must be a string, got {prediction!r}")
    checked = []
    for i, refs in enumerate(references):
        refs = [refs] if isinstance(refs, str) else refs
        if not isinstance(refs, Sequence) or len(refs) == 0:
            raise InvalidInputError(f"references[{i}] must be a non-empty list of strings, got {refs!r}")
        for j, ref in enumerate(refs):
            if not isinstance(ref, str):
                raise InvalidInputError(f"references[{i}][{j}] must be a string, got {ref!r}")
        checked.append(list(refs))
    return list(predictions), checked


# ---------------------------------------------------------------------------------------------------------------------
# PTB-style tokenisation (coco-caption's PTBTokenizer + punctuation removal, in Python)
# ---------------------------------------------------------------------------------------------------------------------

# coco-caption drops these tokens after tokenising (compared with the lower-cased tokens, so "-lrb-" stays).
_DROPPED_TOKENS = frozenset(["''", "'", "``", "`", ".", "?", "!", ",", ":", "-", "--", "...", ";"])
# Words whose final period is part of the word (PTB keeps "mr." / "etc." whole).
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc inc ltd co corp approx dept est fig gen gov min max sec mt no "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
# Apostrophe words the PTB tokenizer keeps whole.
_APOSTROPHE_WORDS = frozenset(["o'clock", "ma'am", "y'all", "d'ya"])
_BRACKETS = {"(": " -LRB- ", ")": " -RRB- ", "[": " -LSB- ", "]": " -RSB- ", "{": " -LCB- ", "}": " -RCB- "}


def tokenize_caption(text: str) -> list[str]:
    """Tokenise a caption as coco-caption does before scoring (PTB rules, lower case, punctuation dropped).

    >>> tokenize_caption("Birds chirp, and a man's voice (loud) speaks.")
    ['birds', 'chirp', 'and', 'a', 'man', "'s", 'voice', '-lrb-', 'loud', '-rrb-', 'speaks']
    """
    if not isinstance(text, str):
        raise InvalidInputError(f"a caption must be a string, got {text!r}")
    text = f" {text} "
    text = text.replace('"', " `` ")  # PTB turns double quotes into `` / '', both dropped
    for bracket, escaped in _BRACKETS.items():
        text = text.replace(bracket, escaped)
    text = re.sub(r"\.\.\.+", " ... ", text)
    text = re.sub(r"-{2,}", " -- ", text)
    text = re.sub(r"[!?]+", lambda m: f" {m.group(0)} ", text)
    text = re.sub(r"(?<!\d)[,:]|[,:](?!\d)", lambda m: f" {m.group(0)} ", text)  # not in 1,000 or 5:30
    text = re.sub(r";", " ; ", text)
    text = re.sub(r"[$%#&*@]", lambda m: f" {m.group(0)} ", text)
    text = re.sub(r"(?i)\b(can)(not)\b", r"\1 \2", text)
    text = re.sub(r"(?i)\b(gon|wan)(na)\b", r"\1 \2", text)
    text = re.sub(r"(?i)\b(got)(ta)\b", r"\1 \2", text)
    text = re.sub(r"(?i)'n'", " 'n' ", text)  # rock 'n' roll
    tokens = []
    for word in text.split():
        tokens.extend(_split_word(word))
    return [token for token in (t.lower() for t in tokens) if token not in _DROPPED_TOKENS]


def _split_word(word: str) -> list[str]:
    """Clitics, quotes and the final period of one whitespace-separated chunk."""
    if word in ("'n'", "``") or word.startswith("-") and word.endswith("-") and len(word) > 2:
        return [word]  # already a token: 'n', a quote, an escaped bracket (-LRB-) or a dash run
    # Final period: a token of its own unless the word is an abbreviation (e.g. / p.m. / etc.).
    tail = []
    if word.endswith(".") and len(word) > 1 and not word.endswith("..."):
        stem = word[:-1]
        is_initialism = re.fullmatch(r"(?:[^\W\d_]+\.)+[^\W\d_]+", stem) is not None  # e.g. / u.s.a. / p.m.
        if not is_initialism and stem.lower() not in _ABBREVIATIONS:
            word, tail = stem, ["."]
    if word.lower() in _APOSTROPHE_WORDS:
        return [word, *tail]
    head = []
    while word.startswith("'") and len(word) > 1 and word[1:].lower() not in ("s", "re", "ve", "ll", "d", "m"):
        head.append("'")
        word = word[1:]
    match = re.fullmatch(r"(?i)(.+?)(n't|'s|'re|'ve|'ll|'d|'m)", word)
    clitic = []
    if match and re.search(r"\w", match.group(1)):
        word, clitic = match.group(1), [match.group(2)]
    parts = [part for part in re.split(r"(')", word) if part]  # any other apostrophe: a token of its own
    return [*head, *parts, *clitic, *tail]


def _tokenize_all(predictions: list[str], references: list[list[str]], tokenize: bool):
    if not tokenize:  # already tokenised text: split on whitespace only
        return [p.split() for p in predictions], [[r.split() for r in refs] for refs in references]
    return [tokenize_caption(p) for p in predictions], [[tokenize_caption(r) for r in refs] for refs in references]


def _ngrams(tokens: list[str], max_order: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for n in range(1, max_order + 1) for i in range(len(tokens) - n + 1))


# ---------------------------------------------------------------------------------------------------------------------
# BLEU (coco-caption: "closest" reference length, corpus-level counts, tiny/small smoothing constants)
# ---------------------------------------------------------------------------------------------------------------------

# coco-caption adds these to every precision and length ratio, so a missing n-gram order gives ~1e-6 instead of 0.
_TINY, _SMALL = 1e-15, 1e-9


def _bleu_from_counts(correct, guess, test_len, ref_len, max_order) -> list[float]:
    scores, product = [], 1.0
    for k in range(max_order):
        product *= (correct[k] + _TINY) / (guess[k] + _SMALL)
        scores.append(product ** (1.0 / (k + 1)))
    ratio = (test_len + _TINY) / (ref_len + _SMALL)
    if ratio < 1:  # brevity penalty
        scores = [score * math.exp(1 - 1 / ratio) for score in scores]
    return scores


def bleu(
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    max_order: int = 4,
    tokenize: bool = True,
    return_per_item: bool = False,
) -> dict:
    """Corpus BLEU-1..``max_order`` as coco-caption: clipped n-gram counts summed over the corpus, and a brevity
    penalty on the sum of each prediction's *closest* reference length (ties -> the shorter reference).

    Returns ``{"bleu_1": ..., ..., "bleu_N": ...}`` (plus ``"bleu_n_per_item"`` lists with ``return_per_item``; the
    per-item scores use each item's own brevity penalty, as coco-caption's).
    """
    if isinstance(max_order, bool) or not isinstance(max_order, int) or max_order < 1:
        raise InvalidInputError(f"max_order must be a positive integer, got {max_order!r}")
    predictions, references = _check_inputs(predictions, references)
    hyps, refs_list = _tokenize_all(predictions, references, tokenize)
    total_correct, total_guess = [0] * max_order, [0] * max_order
    total_test, total_ref = 0, 0
    per_item = []
    for hyp, refs in zip(hyps, refs_list):
        max_ref_counts: Counter = Counter()
        for ref in refs:
            for ngram, count in _ngrams(ref, max_order).items():
                max_ref_counts[ngram] = max(max_ref_counts[ngram], count)
        hyp_counts = _ngrams(hyp, max_order)
        correct = [0] * max_order
        for ngram, count in hyp_counts.items():
            correct[len(ngram) - 1] += min(count, max_ref_counts[ngram])
        guess = [max(len(hyp) - k, 0) for k in range(max_order)]
        ref_len = min((len(ref) for ref in refs), key=lambda length: (abs(length - len(hyp)), length))
        per_item.append(_bleu_from_counts(correct, guess, len(hyp), ref_len, max_order))
        total_correct = [a + b for a, b in zip(total_correct, correct)]
        total_guess = [a + b for a, b in zip(total_guess, guess)]
        total_test += len(hyp)
        total_ref += ref_len
    corpus = _bleu_from_counts(total_correct, total_guess, total_test, total_ref, max_order)
    result = {f"bleu_{n + 1}": corpus[n] for n in range(max_order)}
    if return_per_item:
        result.update({f"bleu_{n + 1}_per_item": [scores[n] for scores in per_item] for n in range(max_order)})
    return result


# ---------------------------------------------------------------------------------------------------------------------
# ROUGE-L (coco-caption: best precision and best recall over the references, F-measure with beta = 1.2)
# ---------------------------------------------------------------------------------------------------------------------


def _lcs_length(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for token_a in a:
        current = [0]
        for j, token_b in enumerate(b):
            current.append(previous[j] + 1 if token_a == token_b else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    beta: float = 1.2,
    tokenize: bool = True,
    return_per_item: bool = False,
) -> dict:
    """ROUGE-L F-measure from the longest common subsequence, averaged over items (coco-caption's definition:
    precision and recall are each maximised over the references before combining them)."""
    predictions, references = _check_inputs(predictions, references)
    hyps, refs_list = _tokenize_all(predictions, references, tokenize)
    scores = []
    for hyp, refs in zip(hyps, refs_list):
        if not hyp:
            scores.append(0.0)
            continue
        lcs = [_lcs_length(ref, hyp) for ref in refs]
        precision = max(length / len(hyp) for length in lcs)
        recall = max(length / len(ref) if ref else 0.0 for length, ref in zip(lcs, refs))
        if precision == 0 or recall == 0:
            scores.append(0.0)
        else:
            scores.append((1 + beta**2) * precision * recall / (recall + beta**2 * precision))
    result = {"rouge_l": sum(scores) / len(scores)}
    if return_per_item:
        result["rouge_l_per_item"] = scores
    return result


# ---------------------------------------------------------------------------------------------------------------------
# CIDEr-D (coco-caption's "Cider": TF-IDF over 1-4-grams, document frequencies from the references of the scored set,
# clipped hypothesis weights, Gaussian length penalty sigma = 6, x10)
# ---------------------------------------------------------------------------------------------------------------------


def _tfidf(counts: Counter, document_frequency: Counter, log_num_docs: float, max_order: int):
    vectors = [{} for _ in range(max_order)]
    norms = [0.0] * max_order
    for ngram, term_frequency in counts.items():
        n = len(ngram) - 1
        weight = term_frequency * (log_num_docs - math.log(max(1.0, document_frequency[ngram])))
        vectors[n][ngram] = weight
        norms[n] += weight**2
    num_bigrams = sum(count for ngram, count in counts.items() if len(ngram) == 2)  # coco's "length"
    return vectors, [math.sqrt(norm) for norm in norms], num_bigrams


def cider_d(
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    max_order: int = 4,
    sigma: float = 6.0,
    tokenize: bool = True,
    return_per_item: bool = False,
) -> dict:
    """CIDEr-D averaged over items. The IDF comes from the references being scored, so the value depends on the whole
    set (score a test split at once; with a single item every IDF is 0 and so is the score)."""
    predictions, references = _check_inputs(predictions, references)
    hyps, refs_list = _tokenize_all(predictions, references, tokenize)
    hyp_counts = [_ngrams(hyp, max_order) for hyp in hyps]
    ref_counts = [[_ngrams(ref, max_order) for ref in refs] for refs in refs_list]
    document_frequency: Counter = Counter()
    for counts in ref_counts:
        document_frequency.update(set().union(*counts))
    log_num_docs = math.log(len(ref_counts))
    scores = []
    for hyp_count, counts in zip(hyp_counts, ref_counts):
        hyp_vec, hyp_norm, hyp_len = _tfidf(hyp_count, document_frequency, log_num_docs, max_order)
        total = 0.0
        for ref_count in counts:
            ref_vec, ref_norm, ref_len = _tfidf(ref_count, document_frequency, log_num_docs, max_order)
            penalty = math.exp(-((hyp_len - ref_len) ** 2) / (2 * sigma**2))
            for n in range(max_order):
                value = sum(min(w, ref_vec[n].get(g, 0.0)) * ref_vec[n].get(g, 0.0) for g, w in hyp_vec[n].items())
                if hyp_norm[n] != 0 and ref_norm[n] != 0:
                    value /= hyp_norm[n] * ref_norm[n]
                total += value * penalty
        scores.append(10.0 * total / max_order / len(counts))
    result = {"cider_d": sum(scores) / len(scores)}
    if return_per_item:
        result["cider_d_per_item"] = scores
    return result


# ---------------------------------------------------------------------------------------------------------------------
# Java-backed metrics: METEOR 1.5 and SPICE 1.0 (the programs coco-caption runs)
# ---------------------------------------------------------------------------------------------------------------------


class MetricUnavailableError(RuntimeError):
    """A metric needs a program or file that is not on this machine; the message says what and how to get it."""


METEOR_JAR_ENV = "HF_AUDIOGEN_METEOR_JAR"
SPICE_JAR_ENV = "HF_AUDIOGEN_SPICE_JAR"
# SPICE parses captions with Stanford CoreNLP 3.6.0, which the pycocoevalcap wheel does not ship (it downloads it).
SPICE_CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")


def find_java(java: str | os.PathLike | None = None) -> str | None:
    """The ``java`` executable: the one given, else ``$JAVA_HOME/bin/java``, else ``java`` on the PATH."""
    if java is not None:
        return os.fspath(java) if shutil.which(os.fspath(java)) else None
    java_home = os.environ.get("JAVA_HOME")
    if java_home and shutil.which(os.path.join(java_home, "bin", "java")):
        return os.path.join(java_home, "bin", "java")
    return shutil.which("java")


def _candidate_jars(explicit, env_name: str, relative: str, cache_relative: str) -> list[Path]:
    if explicit is not None:
        return [Path(explicit)]
    candidates = []
    if os.environ.get(env_name):
        candidates.append(Path(os.environ[env_name]))
    spec = importlib.util.find_spec("pycocoevalcap")  # the PyPI wheel ships meteor-1.5.jar and spice-1.0.jar
    if spec is not None and spec.submodule_search_locations:
        candidates.extend(Path(location, relative) for location in spec.submodule_search_locations)
    # Where aac-metrics' downloader puts them.
    candidates.append(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "aac-metrics", cache_relative))
    return candidates


def find_meteor_jar(meteor_jar: str | os.PathLike | None = None) -> Path | None:
    """``meteor-1.5.jar`` with its ``data/paraphrase-en.gz``: the path given, ``$HF_AUDIOGEN_METEOR_JAR``, the
    ``pycocoevalcap`` package, or aac-metrics' cache. None when none is complete."""
    for jar in _candidate_jars(meteor_jar, METEOR_JAR_ENV, "meteor/meteor-1.5.jar", "meteor/meteor-1.5.jar"):
        if jar.is_file() and (jar.parent / "data" / "paraphrase-en.gz").is_file():
            return jar
    return None


def find_spice_jar(spice_jar: str | os.PathLike | None = None) -> Path | None:
    """``spice-1.0.jar`` with Stanford CoreNLP 3.6.0 in its ``lib/`` folder (same search order as METEOR)."""
    for jar in _candidate_jars(spice_jar, SPICE_JAR_ENV, "spice/spice-1.0.jar", "spice/spice-1.0.jar"):
        if jar.is_file() and all((jar.parent / "lib" / name).is_file() for name in SPICE_CORENLP_JARS):
            return jar
    return None


def _require_java(metric: str, java) -> str:
    found = find_java(java)
    if found is None:
        where = f"java={os.fspath(java)!r} is not an executable" if java is not None else "no `java` on the PATH"
        raise MetricUnavailableError(
            f"{metric} runs a Java program but {where} (and $JAVA_HOME is unset or has no bin/java): install a Java "
            "runtime (e.g. `apt-get install default-jre-headless`)"
        )
    return found


def _require_meteor(meteor_jar, java) -> tuple[str, Path]:
    jar = find_meteor_jar(meteor_jar)
    if jar is None:
        looked = ", ".join(
            str(p)
            for p in _candidate_jars(meteor_jar, METEOR_JAR_ENV, "meteor/meteor-1.5.jar", "meteor/meteor-1.5.jar")
        )
        raise MetricUnavailableError(
            "METEOR needs meteor-1.5.jar with data/paraphrase-en.gz beside it; none found (looked at: "
            f"{looked}). `pip install pycocoevalcap` ships both, or pass meteor_jar=/path/to/meteor-1.5.jar or set "
            f"${METEOR_JAR_ENV}"
        )
    return _require_java("METEOR", java), jar


def _require_spice(spice_jar, java) -> tuple[str, Path]:
    jar = find_spice_jar(spice_jar)
    if jar is None:
        looked = ", ".join(
            str(p) for p in _candidate_jars(spice_jar, SPICE_JAR_ENV, "spice/spice-1.0.jar", "spice/spice-1.0.jar")
        )
        raise MetricUnavailableError(
            f"SPICE (and SPIDEr) need spice-1.0.jar with {' and '.join(SPICE_CORENLP_JARS)} in its lib/ folder; none "
            f"found (looked at: {looked}). pycocoevalcap ships spice-1.0.jar but not CoreNLP 3.6.0 (its "
            "get_stanford_models.py downloads stanford-corenlp-full-2015-12-09.zip from nlp.stanford.edu); put the two "
            f"jars in lib/, then pass spice_jar=... or set ${SPICE_JAR_ENV}"
        )
    return _require_java("SPICE", java), jar


def meteor(
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    tokenize: bool = True,
    return_per_item: bool = False,
    meteor_jar: str | os.PathLike | None = None,
    java: str | os.PathLike | None = None,
    max_memory: str = "2G",
) -> dict:
    """METEOR 1.5 (English, normalised; coco-caption's settings) through its ``-stdio`` protocol: one ``SCORE``
    line per item gives its statistics, one ``EVAL`` line aggregates them into per-item and corpus scores.

    Raises:
        MetricUnavailableError: Java or the jar (with its paraphrase table) is missing; the message says which.
    """
    predictions, references = _check_inputs(predictions, references)
    java_exe, jar = _require_meteor(meteor_jar, java)
    hyps, refs_list = _tokenize_all(predictions, references, tokenize)

    def clean(tokens):  # "|||" separates fields in the protocol
        return " ".join(tokens).replace("|||", "").strip()

    score_lines = [
        " ||| ".join(["SCORE", *(clean(ref) for ref in refs), clean(hyp)]) for hyp, refs in zip(hyps, refs_list)
    ]
    command = [java_exe, "-jar", f"-Xmx{max_memory}", jar.name, "-", "-", "-stdio", "-l", "en", "-norm"]
    process = subprocess.Popen(
        command,
        cwd=jar.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        stats = []
        for line in score_lines:
            process.stdin.write(line + "\n")
            process.stdin.flush()
            stats.append(process.stdout.readline().strip())
        process.stdin.write(" ||| ".join(["EVAL", *stats]) + "\n")
        process.stdin.flush()
        per_item = [float(process.stdout.readline()) for _ in stats]
        corpus = float(process.stdout.readline())
    except (ValueError, BrokenPipeError) as err:
        process.kill()
        stderr = process.stderr.read()[-2000:]
        raise RuntimeError(f"METEOR ({' '.join(command)}) failed: {err}; its stderr ends with:\n{stderr}") from err
    finally:
        if process.poll() is None:
            process.stdin.close()
            process.wait(timeout=60)
    result = {"meteor": corpus}
    if return_per_item:
        result["meteor_per_item"] = per_item
    return result


def spice(
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    tokenize: bool = True,
    return_per_item: bool = False,
    spice_jar: str | os.PathLike | None = None,
    java: str | os.PathLike | None = None,
    max_memory: str = "8G",
) -> dict:
    """SPICE F-score (scene-graph tuples from SPICE's own CoreNLP parse), averaged over items. As in coco-caption,
    SPICE is given the tokenised captions (``tokenize=True``).

    Raises:
        MetricUnavailableError: Java, ``spice-1.0.jar`` or Stanford CoreNLP 3.6.0 is missing.
    """
    predictions, references = _check_inputs(predictions, references)
    java_exe, jar = _require_spice(spice_jar, java)
    if tokenize:
        predictions = [" ".join(tokenize_caption(p)) for p in predictions]
        references = [[" ".join(tokenize_caption(r)) for r in refs] for refs in references]
    with tempfile.TemporaryDirectory(prefix="spice-") as folder:
        input_path, output_path = Path(folder, "input.json"), Path(folder, "output.json")
        items = [{"image_id": i, "test": p, "refs": refs} for i, (p, refs) in enumerate(zip(predictions, references))]
        input_path.write_text(json.dumps(items), encoding="utf-8")
        command = [
            java_exe,
            "-jar",
            f"-Xmx{max_memory}",
            jar.name,
            str(input_path),
            "-out",
            str(output_path),
            "-subset",
            "-silent",
        ]
        completed = subprocess.run(command, cwd=jar.parent, capture_output=True, text=True)
        if completed.returncode != 0 or not output_path.is_file():
            raise RuntimeError(
                f"SPICE ({' '.join(command)}) failed with exit code {completed.returncode}; its stderr ends with:\n"
                f"{completed.stderr[-2000:]}"
            )
        results = {item["image_id"]: item for item in json.loads(output_path.read_text(encoding="utf-8"))}
    per_item = [float(results[i]["scores"]["All"]["f"]) for i in range(len(predictions))]
    result = {"spice": sum(per_item) / len(per_item)}
    if return_per_item:
        result["spice_per_item"] = per_item
    return result


# ---------------------------------------------------------------------------------------------------------------------
# All at once
# ---------------------------------------------------------------------------------------------------------------------

CAPTION_METRICS = ("bleu", "meteor", "rouge_l", "cider_d", "spice", "spider")
DEFAULT_CAPTION_METRICS = ("bleu", "rouge_l", "cider_d")  # the ones that need nothing but Python


def caption_metric_availability(
    meteor_jar: str | os.PathLike | None = None,
    spice_jar: str | os.PathLike | None = None,
    java: str | os.PathLike | None = None,
) -> dict[str, str | None]:
    """``{metric: None if it can run here, else the reason it cannot}`` for every metric of :data:`CAPTION_METRICS`."""
    reasons: dict[str, str | None] = {"bleu": None, "rouge_l": None, "cider_d": None}
    for name, check in (
        ("meteor", lambda: _require_meteor(meteor_jar, java)),
        ("spice", lambda: _require_spice(spice_jar, java)),
    ):
        try:
            check()
            reasons[name] = None
        except MetricUnavailableError as err:
            reasons[name] = str(err)
    reasons["spider"] = reasons["spice"]
    return {name: reasons[name] for name in CAPTION_METRICS}


def compute_caption_metrics(
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    metrics: Sequence[str] = DEFAULT_CAPTION_METRICS,
    tokenize: bool = True,
    return_per_item: bool = False,
    meteor_jar: str | os.PathLike | None = None,
    spice_jar: str | os.PathLike | None = None,
    java: str | os.PathLike | None = None,
) -> dict:
    """Score predicted captions against one or more references each.

    Args:
        predictions: one caption per item.
        references: one string or a list of strings per item.
        metrics: any of ``"bleu"`` (gives ``bleu_1``..``bleu_4``), ``"meteor"``, ``"rouge_l"``, ``"cider_d"``,
            ``"spice"``, ``"spider"`` (= (CIDEr-D + SPICE) / 2; also returns both parts); ``"all"`` for every one.
        tokenize: apply :func:`tokenize_caption` first (False: the text is already tokenised; split on spaces).
        return_per_item: also return ``<name>_per_item`` lists.
        meteor_jar, spice_jar, java: where the Java programs are (default: searched, see :func:`find_meteor_jar`).

    Raises:
        ValueError: unknown metric names or malformed inputs.
        MetricUnavailableError: a requested Java metric cannot run here (checked before any scoring).
    """
    if isinstance(metrics, str):
        metrics = CAPTION_METRICS if metrics == "all" else [metrics]
    unknown = [name for name in metrics if name not in CAPTION_METRICS]
    if unknown or not metrics:
        raise InvalidInputError(
            f"unknown caption metric(s) {unknown or metrics!r}; choose from {list(CAPTION_METRICS)}"
        )
    predictions, references = _check_inputs(predictions, references)
    if "meteor" in metrics:
        _require_meteor(meteor_jar, java)
    if "spice" in metrics or "spider" in metrics:
        _require_spice(spice_jar, java)
    results: dict = {}
    common = dict(return_per_item=return_per_item)
    if "bleu" in metrics:
        results.update(bleu(predictions, references, tokenize=tokenize, **common))
    if "meteor" in metrics:
        results.update(meteor(predictions, references, tokenize=tokenize, meteor_jar=meteor_jar, java=java, **common))
    if "rouge_l" in metrics:
        results.update(rouge_l(predictions, references, tokenize=tokenize, **common))
    if "cider_d" in metrics or "spider" in metrics:
        results.update(cider_d(predictions, references, tokenize=tokenize, **common))
    if "spice" in metrics or "spider" in metrics:
        results.update(spice(predictions, references, tokenize=tokenize, spice_jar=spice_jar, java=java, **common))
    if "spider" in metrics:
        results["spider"] = (results["cider_d"] + results["spice"]) / 2
        if return_per_item:
            results["spider_per_item"] = [
                (c + s) / 2 for c, s in zip(results["cider_d_per_item"], results["spice_per_item"])
            ]
    return results


# ---------------------------------------------------------------------------------------------------------------------
# DCASE 2024 (aac-metrics' "dcase2024" set): vocabulary, SBERT similarity, FENSE's fluency-error detector, FENSE,
# FER and SPIDEr-FL, behind aac-metrics' ``evaluate(candidates, mult_references)`` shape
# ---------------------------------------------------------------------------------------------------------------------

DCASE2024_METRICS = ("meteor", "cider_d", "spice", "spider", "spider_fl", "fer", "fense", "vocab")
EVALUATE_METRICS = (*CAPTION_METRICS, "spider_fl", "fer", "fense", "sbert_sim", "vocab")
FENSE_SBERT = "sentence-transformers/paraphrase-TinyBERT-L6-v2"  # FENSE's and aac-metrics' default SBERT
FENSE_ECHECKER_URL = "https://github.com/blmoistawinde/fense/releases/download/V0.1/echecker_clotho_audiocaps_base.ckpt"
# FENSE's error detector has 5 sigmoid outputs (add_tail, repeat_event, repeat_word, delete_word, error); a caption is
# "not fluent" when the last one is above 0.9, and its score is then multiplied by 1 - 0.9.
FENSE_ERROR_THRESHOLD, FENSE_PENALTY = 0.9, 0.9


def vocabulary(
    candidates: Sequence[str], mult_references: Sequence[Sequence[str]], tokenize: bool = True
) -> dict[str, float]:
    """Vocabulary size of the candidates (``vocab``), of all references (``vocab_mrefs_full``) and their ratio
    (``vocab_ratio_full``). Tokens are :func:`tokenize_caption`'s (aac-metrics splits its preprocessed text on
    spaces, which differs only around punctuation)."""
    candidates, mult_references = _check_inputs(candidates, mult_references)
    hyps, refs_list = _tokenize_all(candidates, mult_references, tokenize)
    cands = {token for hyp in hyps for token in hyp}
    refs = {token for refs in refs_list for ref in refs for token in ref}
    return {
        "vocab": float(len(cands)),
        "vocab_mrefs_full": float(len(refs)),
        "vocab_ratio_full": len(cands) / max(len(refs), 1),
    }


def sbert_similarity(
    candidates: Sequence[str], mult_references: Sequence[Sequence[str]], sbert_model: str | os.PathLike
) -> list[float]:
    """Per item: the mean cosine between the candidate's and each reference's sentence embedding (FENSE's
    ``sbert_sim``). ``sbert_model``: a sentence-transformers folder of a BERT model with mean pooling (FENSE:
    paraphrase-TinyBERT-L6-v2), or ``"minilm"`` (the offline all-MiniLM-L6-v2; not the paper's model)."""
    from .sentence_embedding import sentence_embeddings

    candidates, mult_references = _check_inputs(candidates, mult_references)
    flat = [ref for refs in mult_references for ref in refs]
    embeddings = sentence_embeddings([*candidates, *flat], encoder=os.fspath(sbert_model))
    cand, refs = embeddings[: len(candidates)], embeddings[len(candidates) :]
    scores, start = [], 0
    for i, item_refs in enumerate(mult_references):
        scores.append(float((refs[start : start + len(item_refs)] @ cand[i]).mean()))
        start += len(item_refs)
    return scores


class FluencyErrorDetector:
    """FENSE's error checker (``echecker_clotho_audiocaps_{base,tiny}.ckpt``) on transformers: a ``BertModel``, its
    [CLS] state, dropout and one linear layer to 5 sigmoid outputs, the last being "has an error".

    The checkpoint (``torch.save`` of ``{"model_type": "prajjwal1/bert-...", "num_classes": 5, "state_dict":
    {"encoder.<BertModel keys>", "clf.weight", "clf.bias"}}``, FENSE's ``BERTFlatClassifier``) is read with
    :func:`hf_audiogen.checkpoint_io.load_torch_file`; the BERT sizes come from the shapes (heads: ``hidden // 64``,
    as every prajjwal1 BERT). The tokenizer is the one of ``model_type`` (a folder or Hub id; uncased BERT WordPiece).
    """

    def __init__(self, encoder, classifier, tokenizer, model_type: str = ""):
        self.encoder, self.classifier, self.tokenizer, self.model_type = encoder, classifier, tokenizer, model_type

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike, tokenizer: str | os.PathLike | None = None, allow_pickle: bool = False
    ) -> FluencyErrorDetector:
        import torch
        from transformers import AutoTokenizer, BertConfig, BertModel

        from ..checkpoint_io import load_torch_file

        loaded = load_torch_file(path, "FENSE error-checker checkpoint", allow_pickle=allow_pickle, force_hint=None)
        if not isinstance(loaded, dict) or not isinstance(loaded.get("state_dict"), dict):
            raise InvalidInputError(
                f"FENSE error-checker checkpoint {os.fspath(path)} has no 'state_dict' (expected FENSE's "
                "{'model_type', 'num_classes', 'state_dict'})"
            )
        state = {k: v for k, v in loaded["state_dict"].items() if k != "encoder.embeddings.position_ids"}
        needed = ("encoder.embeddings.word_embeddings.weight", "encoder.embeddings.position_embeddings.weight")
        if not all(key in state for key in (*needed, "clf.weight", "clf.bias")):
            raise InvalidInputError(
                f"FENSE error-checker checkpoint {os.fspath(path)} lacks {[k for k in (*needed, 'clf.weight', 'clf.bias') if k not in state]}"
            )
        words = state["encoder.embeddings.word_embeddings.weight"]
        layers = {int(m.group(1)) for k in state if (m := re.match(r"encoder\.encoder\.layer\.(\d+)\.", k))}
        hidden = words.shape[1]
        config = BertConfig(
            vocab_size=words.shape[0],
            hidden_size=hidden,
            num_hidden_layers=len(layers),
            num_attention_heads=max(hidden // 64, 1),
            intermediate_size=state["encoder.encoder.layer.0.intermediate.dense.weight"].shape[0] if layers else hidden,
            max_position_embeddings=state["encoder.embeddings.position_embeddings.weight"].shape[0],
            type_vocab_size=state["encoder.embeddings.token_type_embeddings.weight"].shape[0]
            if "encoder.embeddings.token_type_embeddings.weight" in state
            else 2,
        )
        encoder = BertModel(config, add_pooling_layer="encoder.pooler.dense.weight" in state).eval()
        classifier = torch.nn.Linear(hidden, state["clf.weight"].shape[0])
        encoder_state = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
        unexpected = sorted(k for k in state if not k.startswith(("encoder.", "clf.")))
        try:
            result = encoder.load_state_dict(encoder_state, strict=False)
            classifier.load_state_dict({"weight": state["clf.weight"], "bias": state["clf.bias"]})
        except RuntimeError as err:
            raise InvalidInputError(f"FENSE error-checker checkpoint {os.fspath(path)}: {str(err).splitlines()[0]}")
        missing = [k for k in result.missing_keys if k not in ("embeddings.position_ids", "embeddings.token_type_ids")]
        unexpected += list(result.unexpected_keys)
        if missing or unexpected:
            raise InvalidInputError(
                f"FENSE error-checker checkpoint {os.fspath(path)} does not fill a BertModel: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}"
            )
        model_type = str(loaded.get("model_type", ""))
        source = os.fspath(tokenizer) if tokenizer is not None else model_type
        try:
            tokenizer_object = AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError) as err:
            raise MetricUnavailableError(
                f"the FENSE error checker needs the tokenizer of {model_type or 'its BERT'} ({source!r} cannot be "
                "loaded offline): pass echecker_tokenizer=/path/to/a saved copy"
            ) from err
        return cls(encoder, classifier.eval(), tokenizer_object, model_type)

    def error_probabilities(self, texts: Sequence[str], batch_size: int = 32) -> list[float]:
        """P("has an error") per text (FENSE: tokens padded / truncated to 64)."""
        import torch

        probs = []
        for begin in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                list(texts[begin : begin + batch_size]),
                truncation=True,
                padding="max_length",
                max_length=64,
                return_tensors="pt",
            )
            with torch.inference_mode():
                states = self.encoder(**batch).last_hidden_state[:, 0]
                probs.extend(torch.sigmoid(self.classifier(states))[:, -1].tolist())
        return probs


def evaluate_captions(
    candidates: Sequence[str],
    mult_references: Sequence[Sequence[str]],
    metrics: str | Sequence[str] = "dcase2024",
    *,
    sbert_model: str | os.PathLike | None = None,
    echecker: str | os.PathLike | FluencyErrorDetector | None = None,
    echecker_tokenizer: str | os.PathLike | None = None,
    tokenize: bool = True,
    meteor_jar: str | os.PathLike | None = None,
    spice_jar: str | os.PathLike | None = None,
    java: str | os.PathLike | None = None,
) -> tuple[dict, dict]:
    """aac-metrics' ``evaluate(candidates, mult_references, metrics=...)``: ``(corpus_scores, per_item_scores)``.

    ``metrics``: ``"dcase2024"`` (:data:`DCASE2024_METRICS`), ``"all"`` or names from :data:`EVALUATE_METRICS`.
    A metric whose program or model is not here is not computed: ``corpus_scores["unavailable"]`` maps it to the
    reason (what to fetch). Models: ``sbert_model`` (a sentence-transformers folder of FENSE's
    paraphrase-TinyBERT-L6-v2, or ``"minilm"`` for the offline all-MiniLM-L6-v2, whose scores are reported as
    ``sbert_sim_minilm`` / ``fense_minilm``: not comparable with the papers' numbers); ``echecker`` (FENSE's
    ``echecker_clotho_audiocaps_base.ckpt`` or a loaded :class:`FluencyErrorDetector`) with ``echecker_tokenizer``.

    Example:

    ```python
    >>> from hf_audiogen.evaluation.caption_metrics import evaluate_captions
    >>> corpus, per_item = evaluate_captions(["a dog barks"], [["a dog is barking", "a dog barks loudly"]],
    ...                                      metrics=["bleu", "vocab"])
    >>> corpus["vocab"], len(per_item["bleu_1"])
    (3.0, 1)

    ```
    """
    if isinstance(metrics, str):
        metrics = {"dcase2024": DCASE2024_METRICS, "all": EVALUATE_METRICS}.get(metrics, (metrics,))
    metrics = list(dict.fromkeys(metrics))
    unknown = [name for name in metrics if name not in EVALUATE_METRICS]
    if unknown or not metrics:
        raise InvalidInputError(
            f"unknown caption metric(s) {unknown or metrics!r}; choose from {list(EVALUATE_METRICS)}"
        )
    candidates, mult_references = _check_inputs(candidates, mult_references)
    unavailable: dict[str, str] = {}
    java_reasons = caption_metric_availability(meteor_jar, spice_jar, java)
    sbert_reason = (
        None
        if sbert_model is not None
        else f"needs the SBERT model {FENSE_SBERT} (a sentence-transformers folder): pass sbert_model=/path, or "
        "sbert_model='minilm' for the offline all-MiniLM-L6-v2 (labelled *_minilm, not comparable with the papers)"
    )
    echecker_reason = (
        None
        if echecker is not None
        else f"needs FENSE's fluency-error checker: fetch {FENSE_ECHECKER_URL} and its BERT tokenizer "
        "(prajjwal1/bert-medium), pass echecker=/path/to.ckpt, echecker_tokenizer=/path"
    )
    needs = {
        "spider_fl": ["spider", "echecker"],
        "fer": ["echecker"],
        "fense": ["sbert", "echecker"],
        "sbert_sim": ["sbert"],
    }
    reasons = {**java_reasons, "sbert": sbert_reason, "echecker": echecker_reason}
    runnable = []
    for name in metrics:
        blocking = [reasons[need] for need in needs.get(name, [name]) if reasons.get(need)]
        if blocking:
            unavailable[name] = "; ".join(blocking)
        else:
            runnable.append(name)

    corpus: dict = {}
    per_item: dict = {}
    coco = [name for name in CAPTION_METRICS if name in runnable or (name == "spider" and "spider_fl" in runnable)]
    if coco:
        scores = compute_caption_metrics(
            candidates,
            mult_references,
            metrics=coco,
            tokenize=tokenize,
            return_per_item=True,
            meteor_jar=meteor_jar,
            spice_jar=spice_jar,
            java=java,
        )
        for key, value in scores.items():
            (per_item if key.endswith("_per_item") else corpus)[key.removesuffix("_per_item")] = value
    if "vocab" in runnable:
        corpus.update(vocabulary(candidates, mult_references, tokenize=tokenize))
    suffix = (
        "_minilm"
        if sbert_model is not None and os.fspath(sbert_model).lower() in ("minilm", "all-minilm-l6-v2")
        else ""
    )
    if any(name in runnable for name in ("sbert_sim", "fense")):
        per_item["sbert_sim" + suffix] = sbert_similarity(candidates, mult_references, sbert_model)
    if any(name in runnable for name in ("fer", "fense", "spider_fl")):
        detector = (
            echecker
            if isinstance(echecker, FluencyErrorDetector)
            else FluencyErrorDetector.from_checkpoint(echecker, tokenizer=echecker_tokenizer)
        )
        probabilities = detector.error_probabilities(candidates)
        per_item["fer"] = [float(p > FENSE_ERROR_THRESHOLD) for p in probabilities]
        penalties = [1.0 - FENSE_PENALTY * error for error in per_item["fer"]]
        if "fense" in runnable:
            per_item["fense" + suffix] = [s * p for s, p in zip(per_item["sbert_sim" + suffix], penalties)]
        if "spider_fl" in runnable:
            per_item["spider_fl"] = [s * p for s, p in zip(per_item["spider"], penalties)]
    for key, values in per_item.items():
        corpus.setdefault(key, sum(values) / len(values))
    # only what was asked for (SPIDEr-FL computes SPIDEr, FENSE computes sbert_sim, ...): keep the parts, they are cheap
    corpus["unavailable"] = unavailable
    return corpus, per_item


__all__ = [
    "CAPTION_METRICS",
    "DCASE2024_METRICS",
    "EVALUATE_METRICS",
    "FluencyErrorDetector",
    "evaluate_captions",
    "sbert_similarity",
    "vocabulary",
    "DEFAULT_CAPTION_METRICS",
    "MetricUnavailableError",
    "bleu",
    "caption_metric_availability",
    "cider_d",
    "compute_caption_metrics",
    "find_java",
    "find_meteor_jar",
    "find_spice_jar",
    "meteor",
    "rouge_l",
    "spice",
    "tokenize_caption",
]
