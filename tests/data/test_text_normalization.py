import pytest

from hf_audiogen.data.text_normalization import (
    NLTK_ENGLISH_STOPWORDS,
    CaptionNormalizer,
    FilterDecision,
    filter_speech,
    is_number,
    normalize_caption,
    tags_to_pseudo_sentence,
)

# --- normalize_caption ----------------------------------------------------------------------------------------------


def test_paper_example():
    # The example given in AudioGen §4.1.
    assert normalize_caption("a dog is barking at the park") == "dog bark park"


@pytest.mark.parametrize(
    "caption, expected",
    [
        ("dogs barking", "dog bark"),
        ("Geese are honking while children run", "goose honk child run"),
        ("Birds chirping; wind blowing.", "bird chirp wind blow"),
    ],
)
def test_lemmatises_nouns_and_verbs(caption, expected):
    assert normalize_caption(caption) == expected


def test_stop_words_removed():
    assert normalize_caption("The dog and the cat are in the house") == "dog cat house"
    assert set(normalize_caption("it was then that they were there").split()) == set()


def test_numbers_removed():
    out = normalize_caption("3 dogs bark 2 times over 3.5 seconds in the 1990s, one after 22nd")
    assert out.split() == ["dog", "bark", "time", "second"]


def test_flags_turn_steps_off():
    caption = "The 2 dogs barking"
    assert normalize_caption(caption, remove_stopwords=False) == "the dog bark"
    assert normalize_caption(caption, remove_numbers=False) == "2 dog bark"
    assert normalize_caption(caption, lemmatize=False) == "dogs barking"
    untouched = normalize_caption(caption, remove_stopwords=False, remove_numbers=False, lemmatize=False)
    assert untouched == "the 2 dogs barking"


def test_custom_stopwords_replace_default():
    assert normalize_caption("The dog barks loudly", stopwords={"loudly"}) == "the dog bark"


def test_punctuation_and_possessives():
    assert normalize_caption("A dog’s bark, then a car-horn!") == "dog bark car horn"


def test_empty_and_all_stopword_captions_give_empty_string():
    assert normalize_caption("") == ""
    assert normalize_caption("it is the one") == ""


@pytest.mark.parametrize("bad", [None, 3, ["a dog"], b"dog"])
def test_non_string_caption_raises(bad):
    with pytest.raises(ValueError, match="must be a string"):
        normalize_caption(bad)


def test_stopword_list_is_nltk_english():
    assert len(NLTK_ENGLISH_STOPWORDS) == 179
    assert {"the", "is", "a", "at", "wouldn't", "ma"} <= NLTK_ENGLISH_STOPWORDS
    assert "dog" not in NLTK_ENGLISH_STOPWORDS


@pytest.mark.parametrize(
    "token, expected",
    [
        ("10", True),
        ("3.5", True),
        ("1st", True),
        ("90s", True),
        ("two", True),
        ("hundred", True),
        ("mp3", False),
        ("second", False),
        ("dog", False),
    ],
)
def test_is_number(token, expected):
    assert is_number(token) is expected


# --- tags_to_pseudo_sentence ----------------------------------------------------------------------------------------


def test_tags_string_becomes_pseudo_sentence():
    assert tags_to_pseudo_sentence("dog, bark, park") == "dog bark park"  # the paper's example
    assert tags_to_pseudo_sentence("Dog, Bark, Speech") == "dog bark speech"


def test_tags_list_with_underscores_and_blanks():
    assert tags_to_pseudo_sentence(["Dog", " ", "Bass_guitar", "Vehicle horn, car horn"]) == (
        "dog bass guitar vehicle horn car horn"
    )
    assert tags_to_pseudo_sentence([]) == ""
    assert tags_to_pseudo_sentence(" , ") == ""


def test_tags_are_not_lemmatised():
    assert tags_to_pseudo_sentence(["Barking", "Dogs"]) == "barking dogs"


def test_bad_tags_raise():
    with pytest.raises(ValueError, match=r"tags\[1\] must be a string, got int"):
        tags_to_pseudo_sentence(["dog", 5])
    with pytest.raises(ValueError, match="comma-separated string or a list of strings"):
        tags_to_pseudo_sentence(None)


# --- filter_speech --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "caption, tags, keep",
    [
        ("A man gives a speech", None, False),
        ("SPEECHES at a rally", None, False),
        (None, "Male speech, man speaking", False),
        (None, ["Crowd", "Speech"], False),
        ("birds chirping", ["Speech"], False),  # the tag alone is enough (paper: "tag or caption")
        ("a man speaking", None, True),  # only the word "speech" is filtered
        ("speechless silence", ["Wind"], True),
    ],
)
def test_filter_speech(caption, tags, keep):
    decision = filter_speech(caption, tags)
    assert isinstance(decision, FilterDecision)
    assert decision.keep is keep
    if keep:
        assert decision.matched is None
    else:
        assert "speech" in decision.reason and decision.matched.startswith("speech")


def test_filter_speech_reason_names_the_field_and_custom_words():
    assert filter_speech("dogs", tags=["Speech"]).reason == "tags contains 'speech'"
    decision = filter_speech("a crying baby", words=("music", "baby"))
    assert decision == FilterDecision(False, "caption contains 'baby'", "baby")


def test_filter_speech_errors():
    with pytest.raises(ValueError, match="needs a caption or tags"):
        filter_speech()
    with pytest.raises(ValueError, match="caption must be a string, got int"):
        filter_speech(42)


# --- CaptionNormalizer ----------------------------------------------------------------------------------------------


def test_caption_normalizer_accounts_for_every_row():
    normalizer = CaptionNormalizer(caption_column="caption", tags_column="tags")
    batch = {
        "caption": ["Dogs barking at 2 cats", None, "", "a woman gives a speech", "the one", None],
        "tags": [None, ["Bird", "Chirp"], "Rain, Thunder", None, None, None],
        "id": [0, 1, 2, 3, 4, 5],
    }
    out = normalizer(batch)
    assert out["text"][:3] == ["dog bark cat", "bird chirp", "rain thunder"]
    assert out["keep"] == [True, True, True, False, False, False]
    assert out["filter_reason"] == [
        "",
        "",
        "",
        "caption contains 'speech'",
        "empty after normalization",
        "no caption or tags",
    ]


def test_caption_normalizer_options():
    batch = {"tags": [["Barking", "Dogs"], ["Speech"]]}
    out = CaptionNormalizer(caption_column=None, tags_column="tags", normalize_tags=True, drop_speech=False)(batch)
    assert out["text"] == ["bark dog", "speech"]
    assert out["keep"] == [True, True]


def test_caption_normalizer_in_datasets_map():
    datasets = pytest.importorskip("datasets")
    dataset = datasets.Dataset.from_dict(
        {"caption": ["A dog is barking", "Speech and a goat bleating", "Cars passing by"]}
    )
    mapped = dataset.map(CaptionNormalizer(), batched=True, batch_size=2)
    assert mapped["filter_reason"] == ["", "caption contains 'speech'", ""]
    kept = mapped.filter(lambda row: row["keep"])
    assert kept["text"] == ["dog bark", "car pass"]


def test_caption_normalizer_errors():
    with pytest.raises(ValueError, match="caption_column or tags_column"):
        CaptionNormalizer(caption_column=None)
    normalizer = CaptionNormalizer()
    with pytest.raises(ValueError, match="column 'caption' not found; available columns: \\['text'\\]"):
        normalizer({"text": ["a"]})
    with pytest.raises(ValueError, match="batched=True"):
        normalizer({"caption": "a dog"})
    with pytest.raises(ValueError, match="caption in column 'caption' must be a string, got int"):
        normalizer({"caption": ["a dog", 7]})
