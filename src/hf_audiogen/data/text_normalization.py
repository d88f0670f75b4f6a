"""Caption preprocessing from the AudioGen paper (Kreuk et al., 2023, §4.1 "Dataset").

The paper trains on a mix of tag-labelled corpora (AudioSet, VGG-Sound, FSD50K, ...) and captioned corpora (AudioCaps,
Clotho, ...). To bring both to one text distribution it

1. turns each tag list into a *pseudo-sentence* by concatenation ("dog, bark, park" -> "dog bark park"),
2. removes stop words and numbers from natural-language captions and lemmatises what is left
   ("a dog is barking at the park" -> "dog bark park"),
3. drops every sample whose tags or caption contain the word "speech" (speech dominates AudioSet).

Everything here runs offline:

* Lemmatisation uses `simplemma <https://pypi.org/project/simplemma/>`_, which ships its dictionaries inside the wheel.
  The paper used NLTK's WordNet lemmatiser, whose data has to be downloaded at run time (impossible here). simplemma
  is a per-word dictionary lemmatiser without part-of-speech context; unlike WordNet with its default noun POS it maps
  verb forms too ("barking" -> "bark"), which is what the paper's own example shows.
* Stop words are NLTK's English stop-word list (the 179-word ``nltk.corpus.stopwords.words("english")`` list that the
  paper's NLTK pipeline would have used), reproduced below so no corpus download is needed.

Example:
    >>> normalize_caption("A dog is barking at the park")
    'dog bark park'
    >>> tags_to_pseudo_sentence("Dog, Bark, Park")
    'dog bark park'
    >>> filter_speech("Male speech, man speaking").keep
    False
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..validation import InvalidInputError

# NLTK English stop words (nltk_data corpora/stopwords/english, 179 entries). Contractions are kept in their NLTK
# spelling for fidelity; our tokenizer splits at apostrophes, so "don't" arrives as "don" + "t", both listed too.
NLTK_ENGLISH_STOPWORDS: frozenset[str] = frozenset(
    """
    i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves he him his
    himself she she's her hers herself it it's its itself they them their theirs themselves what which who whom this
    that that'll these those am is are was were be been being have has had having do does did doing a an the and but
    if or because as until while of at by for with about against between into through during before after above below
    to from up down in out on off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will just don don't should
    should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't
    haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't
    weren weren't won won't wouldn wouldn't
    """.split()
)

# Spelled-out numbers count as numbers too ("two dogs bark" -> "dog bark"); NLTK's stop-word list does not cover them.
# Ordinals stop at "tenth" and skip "second", which in captions is almost always the unit of time.
NUMBER_WORDS: frozenset[str] = frozenset(
    """
    zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen
    eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million billion
    first third fourth fifth sixth seventh eighth ninth tenth
    """.split()
)

# A token is a decimal number ("3.5", "1,000", "12:30") or a run of letters/digits; apostrophes, hyphens and any other
# punctuation separate tokens, which drops the possessive "'s" as the stop word "s".
_TOKEN_RE = re.compile(r"\d+(?:[.,:]\d+)+|[^\W_]+")
# Digits with an optional ordinal or decade suffix: "10", "3.5", "1st", "22nd", "1990s".
_NUMBER_RE = re.compile(r"\d+(?:[.,:]\d+)*(?:st|nd|rd|th|s)?")
# Curly quotes would otherwise survive as separate characters inside words.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})

DEFAULT_FILTER_WORDS: tuple[str, ...] = ("speech",)


def _check_text(text, name: str) -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"{name} must be a string, got {type(text).__name__}: {text!r}")
    return text


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens of ``text``; punctuation (including apostrophes and hyphens) separates words."""
    text = _check_text(text, "text")
    return _TOKEN_RE.findall(text.translate(_APOSTROPHES).lower())


def is_number(token: str) -> bool:
    """True for digit tokens ("10", "3.5", "1st", "90s") and spelled-out numbers ("two", "hundred")."""
    return token in NUMBER_WORDS or _NUMBER_RE.fullmatch(token) is not None


@lru_cache(maxsize=65536)
def lemmatize_word(word: str) -> str:
    """English lemma of a lower-case word ("barking" -> "bark", "geese" -> "goose"); unknown words come back as-is."""
    try:  # imported here: simplemma is an optional (train) dependency and only lemmatisation needs it
        import simplemma
    except ImportError as err:
        raise ImportError(
            "lemmatisation needs simplemma (offline English lemmatiser): pip install 'hf_audiogen[train]' or "
            "pip install simplemma; or pass lemmatize=False"
        ) from err
    return simplemma.lemmatize(word, lang="en").lower()


def normalize_caption(
    text: str,
    *,
    remove_stopwords: bool = True,
    remove_numbers: bool = True,
    lemmatize: bool = True,
    stopwords: Iterable[str] | None = None,
) -> str:
    """Apply the paper's caption preprocessing: drop stop words and numbers, then lemmatise.

    Args:
        text: a natural-language caption.
        remove_stopwords: drop words in ``stopwords``.
        remove_numbers: drop digit tokens and spelled-out numbers (see :func:`is_number`).
        lemmatize: replace each remaining word by its lemma (simplemma, English).
        stopwords: stop-word set; defaults to :data:`NLTK_ENGLISH_STOPWORDS`.

    Returns:
        Space-separated lower-case words; ``""`` when nothing is left (e.g. a caption of only stop words).

    Example:
        >>> normalize_caption("Two dogs barking loudly in 3 rooms")
        'dog bark loudly room'
    """
    stop = NLTK_ENGLISH_STOPWORDS if stopwords is None else frozenset(w.lower() for w in stopwords)
    words = []
    for token in tokenize(text):
        if remove_stopwords and token in stop:
            continue
        if remove_numbers and is_number(token):
            continue
        words.append(lemmatize_word(token) if lemmatize else token)
    return " ".join(words)


def _split_tags(tags, name: str = "tags") -> list[str]:
    """Tags as a list of non-empty stripped strings, from "a, b" or ["a", "b"]."""
    if isinstance(tags, str):
        parts = tags.split(",")
    elif isinstance(tags, (list, tuple)):
        parts = []
        for i, tag in enumerate(tags):
            if not isinstance(tag, str):
                raise InvalidInputError(f"{name}[{i}] must be a string, got {type(tag).__name__}: {tag!r}")
            parts.append(tag)
    else:
        raise InvalidInputError(
            f"{name} must be a comma-separated string or a list of strings, got {type(tags).__name__}: {tags!r}"
        )
    return [part.strip() for part in parts if part.strip()]


def tags_to_pseudo_sentence(tags: str | Sequence[str]) -> str:
    """Concatenate a tag list into a pseudo-sentence, as the paper does ("dog, bark, park" -> "dog bark park").

    Tags may be a comma-separated string (AudioSet/VGG-Sound style) or a list of strings (FSD50K/Freesound style).
    Words are lower-cased, underscores become spaces ("Bass_guitar" -> "bass guitar") and any other punctuation is
    dropped, so tag text ends up in the same word space as normalised captions. Tag order is kept; empty tags are
    skipped and an empty list gives ``""``. Tags are not lemmatised, matching the paper, which only preprocesses
    captions.

    Example:
        >>> tags_to_pseudo_sentence(["Dog", "Bark", "Speech_synthesizer"])
        'dog bark speech synthesizer'
    """
    return " ".join(word for tag in _split_tags(tags) for word in tokenize(tag))


@dataclass(frozen=True)
class FilterDecision:
    """Outcome of :func:`filter_speech`: whether to keep a sample and, if not, why."""

    keep: bool
    reason: str
    matched: str | None = None


def filter_speech(
    caption: str | None = None,
    tags: str | Sequence[str] | None = None,
    *,
    words: Iterable[str] = DEFAULT_FILTER_WORDS,
) -> FilterDecision:
    """Decide whether to drop a sample whose caption or tags mention speech (the paper's class-balancing filter).

    The check is on whole words, case-insensitively, before any normalisation: "Male speech, man speaking" and
    "speeches" match ``"speech"`` (plurals via the lemmatiser); "speaking" and "speechless" do not.

    Args:
        caption: the sample's caption, or None.
        tags: the sample's tags (comma-separated string or list), or None.
        words: words whose presence drops the sample.

    Returns:
        ``FilterDecision(keep, reason, matched)``; ``reason`` names the field and the word that matched, so a data
        build can account for every dropped input.

    Example:
        >>> filter_speech("a man gives a speech", tags=["Crowd"])
        FilterDecision(keep=False, reason="caption contains 'speech'", matched='speech')
    """
    if caption is None and tags is None:
        raise InvalidInputError("filter_speech needs a caption or tags, got neither")
    targets = {_check_text(w, "filter word").strip().lower() for w in words}
    if not targets or "" in targets:
        raise InvalidInputError(f"words must be non-empty strings, got {sorted(targets)!r}")
    fields = []
    if caption is not None:
        fields.append(("caption", _check_text(caption, "caption")))
    if tags is not None:
        fields.append(("tags", " ".join(_split_tags(tags))))
    for field_name, text in fields:
        for token in tokenize(text):
            if token in targets or lemmatize_word(token) in targets:
                return FilterDecision(False, f"{field_name} contains {token!r}", token)
    return FilterDecision(True, "no filtered word", None)


class CaptionNormalizer:
    """Batched ``datasets.map`` function for the paper's text preprocessing: pseudo-sentences, caption normalisation,
    speech filter.

    Each row gets its text from ``caption_column`` when that holds a non-empty string, otherwise from ``tags_column``
    (turned into a pseudo-sentence). Captions are normalised with :func:`normalize_caption`; pseudo-sentences only if
    ``normalize_tags``. The result goes to ``output_column``; two extra columns account for every row:
    ``keep`` (bool) and ``filter_reason`` (str, ``""`` for kept rows) — follow with ``dataset.filter``.
    A row is dropped when its caption or tags contain one of ``filter_words`` (if ``drop_speech``), when it has
    neither caption nor tags, or when nothing is left after normalisation.

    Call it on a batch (dict of equal-length lists); for one row use :meth:`normalize_row`.

    Example:
        >>> normalizer = CaptionNormalizer(caption_column="caption", tags_column="tags")
        >>> out = normalizer({"caption": ["Dogs barking at 2 cats", None], "tags": [None, "Speech, Crowd"]})
        >>> out["text"], out["keep"], out["filter_reason"]
        (['dog bark cat', 'speech crowd'], [True, False], ['', "tags contains 'speech'"])
        >>> # dataset = dataset.map(normalizer, batched=True).filter(lambda row: row["keep"])
    """

    def __init__(
        self,
        caption_column: str | None = "caption",
        tags_column: str | None = None,
        output_column: str = "text",
        *,
        remove_stopwords: bool = True,
        remove_numbers: bool = True,
        lemmatize: bool = True,
        normalize_tags: bool = False,
        drop_speech: bool = True,
        filter_words: Iterable[str] = DEFAULT_FILTER_WORDS,
        stopwords: Iterable[str] | None = None,
    ):
        if caption_column is None and tags_column is None:
            raise InvalidInputError("CaptionNormalizer needs caption_column or tags_column (both are None)")
        self.caption_column = caption_column
        self.tags_column = tags_column
        self.output_column = output_column
        self.caption_options = dict(
            remove_stopwords=remove_stopwords,
            remove_numbers=remove_numbers,
            lemmatize=lemmatize,
            stopwords=None if stopwords is None else frozenset(w.lower() for w in stopwords),
        )
        self.normalize_tags = normalize_tags
        self.drop_speech = drop_speech
        self.filter_words = tuple(filter_words)

    def normalize_row(self, caption: str | None, tags: str | Sequence[str] | None) -> tuple[str, bool, str]:
        """``(text, keep, reason)`` for one row's caption and tags (either may be None)."""
        if caption is not None:
            _check_text(caption, f"caption in column {self.caption_column!r}")
        has_caption = caption is not None and caption.strip() != ""
        has_tags = tags is not None and len(_split_tags(tags, f"tags in column {self.tags_column!r}")) > 0
        if not has_caption and not has_tags:
            return "", False, "no caption or tags"
        if has_caption:
            text = normalize_caption(caption, **self.caption_options)
        else:
            text = tags_to_pseudo_sentence(tags)
            if self.normalize_tags:
                text = normalize_caption(text, **self.caption_options)
        if self.drop_speech:
            # The paper filters on the tag *or* the caption, so both are checked even when the text comes from one.
            decision = filter_speech(
                caption if has_caption else None, tags if has_tags else None, words=self.filter_words
            )
            if not decision.keep:
                return text, False, decision.reason
        if not text:
            return "", False, "empty after normalization"
        return text, True, ""

    def _column(self, batch: Mapping, column: str | None) -> list | None:
        if column is None:
            return None
        if column not in batch:
            raise InvalidInputError(f"column {column!r} not found; available columns: {sorted(batch)}")
        values = batch[column]
        if not isinstance(values, list):
            raise InvalidInputError(
                f"CaptionNormalizer works on batches (use datasets.map(..., batched=True)); column {column!r} holds "
                f"a {type(values).__name__}, not a list. For a single row call normalize_row(caption, tags)."
            )
        return values

    def __call__(self, batch: Mapping) -> dict:
        if not isinstance(batch, Mapping):  # datasets passes a LazyBatch, a Mapping but not a dict
            raise InvalidInputError(f"CaptionNormalizer expects a batch dict of lists, got {type(batch).__name__}")
        captions = self._column(batch, self.caption_column)
        tags = self._column(batch, self.tags_column)
        size = len(captions if captions is not None else tags)
        captions = captions if captions is not None else [None] * size
        tags = tags if tags is not None else [None] * size
        if len(captions) != len(tags):
            raise InvalidInputError(f"caption and tags columns differ in length: {len(captions)} vs {len(tags)}")
        rows = [self.normalize_row(caption, tag) for caption, tag in zip(captions, tags)]
        return {
            self.output_column: [text for text, _, _ in rows],
            "keep": [keep for _, keep, _ in rows],
            "filter_reason": [reason for _, _, reason in rows],
        }
