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
  on every string pinned in ``tests/test_caption_metrics.py``; rarer PTB rules (``10:00am`` -> ``10:00 am``, a few
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


__all__ = [
    "CAPTION_METRICS",
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
