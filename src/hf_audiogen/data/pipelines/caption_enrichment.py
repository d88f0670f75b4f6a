"""Caption enrichment: weak labels -> one descriptive sentence with an LLM, Audio-Journey's data step (Michaels et al.,
2023, §3).

The paper gives every AudioSet clip a sentence written by Alpaca from the clip's label list, with the prompt "For each
of these, summarize the sounds into a single sentence: \\n describe a situation with all of these sounds together:
[LIST OF LABELS]" and zero, one or several worked examples (its Table 1: more examples, closer to human captions);
it also captions video frames with BLIP-2 and has Alpaca merge the audio and the visual description. Here:

* :func:`build_prompt` / :func:`build_merge_prompt`: the prompts, as chat messages when the tokenizer has a chat
  template, else in Alpaca's own instruction format.
* :class:`LabelEnricher`: a transformers causal LM (and optionally an image-to-text model for frames) that turns a
  batch of prepared rows into output rows, each checked by :func:`check_caption`.
* :func:`template_caption`: the fallback without an LLM, AudioGen's label-to-sentence rule
  (:func:`~hf_audiogen.data.text_normalization.tags_to_pseudo_sentence`: "dog, bark, park" -> "dog bark park").
* :func:`enrich_captions`: the batch job (sharded parquet, resumable, one accounted output row per input row), and
  :func:`caption_quality` for vocabulary size, label coverage and MiniLM similarity to reference captions.

Decisions where the paper is silent or where we differ from it (numbered, as in ``genau/pipeline_genau.py``):

1. **Worked examples.** The paper's appendix examples are not in the text we have; :data:`SHOT_EXAMPLES` are ours
   (AudioSet-style labels, one of them the paper's "shuffling cards -> a person" case). one-shot uses the first,
   few-shot all of them.
2. **Prompt format.** A tokenizer with a chat template gets the instruction as user turns and the examples as
   user/assistant pairs; one without gets Alpaca's "### Instruction / ### Response" format (the paper's model).
3. **Merge prompt.** The paper does not print it; ours asks for one sentence that keeps every sound of the audio
   description and adds only the visual context that fits (:data:`MERGE_INSTRUCTION`).
4. **Output clean-up.** Only the first non-empty line of the generation is kept, without quotes or an "Answer:"
   style prefix; nothing else is rewritten.
5. **Checks** (the paper notes that Alpaca "ignores relevant labels" and adds details, but does not filter): an output
   is *rejected* when it is empty, when it drops a label, or when it mentions speech (music) while no label does.
   A label is *covered* when more than half of its distinct content words (all of a one- or two-word label, 2 of
   3, 3 of 4) match a word of the sentence by (a) the same simplemma lemma ("barking" ~ "bark"), (b) a shared
   prefix of at least 5 letters ("explosion" ~ "explode", "thunder" ~ "thunderstorm", also "water" ~ "waterfall"),
   or (c) a small table of sound-domain synonyms and hyponyms (:data:`SYNONYMS`: a label "vehicle" is covered by
   "car", "speech" by "talks"). So "Vehicle horn" needs a vehicle and a horn, "Male speech, man speaking" three of
   its four words; the check catches dropped labels, not weak paraphrase. Speech and music are spotted by lemma
   (:data:`SPEECH_WORDS`, :data:`MUSIC_WORDS`); labels "license" them with a wider list (a "Crowd" label allows
   chatter, a "Guitar" label allows music).
6. **Video.** No video decoder (PyAV, OpenCV, decord, torchvision) is a dependency of this package, and none is
   installed offline. The ``video`` column may name a folder of pre-extracted frames, a list of frame images or an
   animated GIF/WebP/PNG (read with Pillow); a real video file (.mp4, ...) is read with transformers' ``load_video``
   only when one of those decoders is installed, and is refused up front otherwise. ``num_frames`` frames are
   sampled evenly, each captioned, and the distinct frame captions joined with "; " as the visual description.
7. **Determinism.** Greedy decoding by default. With sampling, the generator is seeded from ``seed`` and the ids of
   the batch, so a resumed run (same shards, same batches) redraws exactly what an uninterrupted run draws.

Example:
    >>> check_caption("A dog barks while a car passes by.", ["Dog", "Vehicle"]).ok
    True
    >>> check_caption("A dog barks and a man speaks.", ["Dog"]).reason
    "invents speech: 'speak'"
    >>> template_caption(["Dog", "Bark", "Park"])
    'dog bark park'
    >>> report = enrich_captions("labels.jsonl", "out/", llm="path/to/instruct-llm", shots="few")  # doctest: +SKIP
    >>> print(report.summary())  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...evaluation.sentence_embedding import sentence_embeddings
from ...validation import InvalidInputError, check_choice, check_float, check_int, check_seed
from ..text_normalization import (
    NLTK_ENGLISH_STOPWORDS,
    _split_tags,
    is_number,
    lemmatize_word,
    tags_to_pseudo_sentence,
    tokenize,
)

logger = logging.getLogger(__name__)

PAPER_INSTRUCTION = (
    "For each of these, summarize the sounds into a single sentence: \n"
    "describe a situation with all of these sounds together: {labels}"
)
MERGE_INSTRUCTION = (
    "Merge these two descriptions of the same clip into a single sentence that describes the situation: keep every "
    "sound of the audio description and add only what the visual description shows that fits it.\n"
    "Audio: {audio}\nVisual: {visual}"
)
# Alpaca's instruction format (the paper's LLM), for tokenizers without a chat template.
ALPACA_HEADER = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
)
# (labels, sentence): ours, see decision 1 of the module docstring.
SHOT_EXAMPLES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("Dog", "Bark", "Vehicle", "Car passing by"), "A dog barks at the roadside as a car passes by."),
    (("Shuffling cards", "Inside, small room"), "A person shuffles a deck of cards in a small quiet room."),
    (("Rain", "Thunder", "Wind"), "Rain pours down and the wind gusts while thunder rumbles in the distance."),
)
SHOTS = {"0": 0, "1": 1, "few": len(SHOT_EXAMPLES)}
PROMPT_VARIANTS = {"0": "zero-shot", "1": "one-shot", "few": "few-shot"}
TEMPLATE_VARIANT = "template (AudioGen pseudo-sentence)"

# Lemmas that mark speech / music in a generated sentence (decision 5).
SPEECH_WORDS = frozenset(
    "speak speech talk say said tell voice conversation converse chat chatter narrate narrator narration announce "
    "announcer whisper dialogue dialog lecture word sentence".split()
)
MUSIC_WORDS = frozenset(
    "music musical musician song sing singer singing melody melodic tune orchestra choir chorus concert guitar "
    "piano violin instrument soundtrack jingle fanfare symphony".split()
)
# Label lemmas that make speech / music in the sentence legitimate: the above, plus what implies it.
SPEECH_LICENSE = SPEECH_WORDS | frozenset("crowd babble shout yell laughter laugh male female child kid".split())
MUSIC_LICENSE = MUSIC_WORDS | frozenset(
    "drum flute trumpet saxophone cello harp organ synthesizer bass trombone clarinet accordion harmonica banjo "
    "ukulele xylophone marimba bagpipe rap hum whistling strum band".split()
)
# label word -> sentence words that also cover it (synonyms, and hyponyms of a general label word). Small on purpose:
# extend it with ``synonyms=`` rather than loosening the rule.
SYNONYMS: dict[str, frozenset[str]] = {
    key: frozenset(value.split())
    for key, value in {
        "vehicle": "car automobile truck bus motorcycle van lorry train tram engine traffic",
        "car": "automobile vehicle",
        "automobile": "car vehicle",
        "animal": "dog cat cow horse sheep goat pig bird chicken",
        "bird": "crow owl pigeon sparrow songbird chirp tweet",
        "dog": "puppy hound",
        "bark": "woof yap",
        "child": "kid toddler baby boy girl",
        "kid": "child toddler baby boy girl",
        "man": "male gentleman guy",
        "woman": "female lady",
        "people": "person crowd human",
        "speech": "speak talk say voice conversation converse chat chatter narrate announce whisper",
        "crowd": "people audience spectator chatter",
        "conversation": "talk chat converse speak",
        "person": "people man woman human someone",
        "human": "person people man woman someone",
        "water": "stream river splash drip liquid",
        "footstep": "step walk stride",
        "walk": "step footstep stride",
        "gunshot": "gun shot shoot fire",
        "gun": "gunshot shot shoot rifle pistol",
        "explosion": "blast boom bang detonation",
        "fire": "flame blaze burn",
        "flame": "fire blaze burn",
        "engine": "motor",
        "motor": "engine",
        "wind": "gust breeze",
        "boom": "explosion blast bang",
        "door": "gate",
        "laughter": "laugh giggle chuckle",
        "telephone": "phone",
        "phone": "telephone",
        "aircraft": "airplane plane jet helicopter",
        "airplane": "plane aircraft jet",
        "plane": "airplane aircraft jet",
        "rain": "raindrop drizzle downpour",
        "knock": "tap rap",
        "clock": "tick",
        "tick": "clock",
    }.items()
}
_PREFIX = 5  # letters two words must share to count as one word family (decision 5b)
_CONTENT_MIN_LETTERS = 2
_ANSWER_PREFIX = re.compile(r"^(?:answer|response|sentence|caption|output|summary)\s*:\s*", re.I)
VIDEO_FILE_SUFFIXES = frozenset(".mp4 .mkv .avi .mov .webm .m4v .mpg .mpeg .flv .wmv".split())
IMAGE_SUFFIXES = frozenset(".jpg .jpeg .png .bmp .gif .webp .tif .tiff".split())
INPUT_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}


# ------------------------------------------------------------------------------------------------ labels
def parse_labels(value, name: str = "labels") -> list[str]:
    """A row's weak labels as a list of non-empty strings: from a list, a comma-separated string or a JSON list
    string (what a CSV cell holds). ``None`` gives ``[]``.

    Example:
        >>> parse_labels('["Dog", "Bark"]'), parse_labels("Rain, Thunder")
        (['Dog', 'Bark'], ['Rain', 'Thunder'])
    """
    if value is None:
        return []
    if hasattr(value, "tolist"):  # numpy arrays from parquet list columns
        value = value.tolist()
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise InvalidInputError(f"{name} looks like a JSON list but is not one: {value!r} ({err})") from err
    return _split_tags(value, name)


def template_caption(labels: Sequence[str]) -> str:
    """The fallback without an LLM: AudioGen's pseudo-sentence ("Dog, Bark, Park" -> "dog bark park")."""
    return tags_to_pseudo_sentence(list(labels))


# ------------------------------------------------------------------------------------------------ checks
def _lemmas(text: str) -> list[str]:
    """Content-word lemmas of ``text`` (no stop words, no numbers), in order."""
    return [
        lemmatize_word(token)
        for token in tokenize(text)
        if token not in NLTK_ENGLISH_STOPWORDS and not is_number(token) and len(token) >= _CONTENT_MIN_LETTERS
    ]


def _same_family(a: str, b: str) -> bool:
    if a == b:
        return True
    return len(a) >= _PREFIX and len(b) >= _PREFIX and a[:_PREFIX] == b[:_PREFIX]


def _covers(label_word: str, sentence_words: set[str], synonyms: Mapping[str, frozenset[str]]) -> bool:
    if any(_same_family(label_word, word) for word in sentence_words):
        return True
    return bool(synonyms.get(label_word, frozenset()) & sentence_words)


@dataclass(frozen=True)
class CaptionCheck:
    """Outcome of :func:`check_caption`: ``ok``, the rejection ``reason`` (None when ok), the labels the sentence
    covers / misses, and the speech or music words it invents."""

    ok: bool
    reason: str | None
    covered: tuple[str, ...]
    missing: tuple[str, ...]
    invented: tuple[str, ...] = ()

    @property
    def coverage(self) -> float:
        total = len(self.covered) + len(self.missing)
        return len(self.covered) / total if total else 1.0


def check_caption(
    sentence: str | None,
    labels: Sequence[str],
    *,
    synonyms: Mapping[str, Iterable[str]] | None = None,
    check_speech: bool = True,
    check_music: bool = True,
) -> CaptionCheck:
    """Accept or reject an enriched caption against its weak labels (decision 5 of the module docstring).

    Rejected: an empty sentence; one that matches at most half of the content words of some label ("drops labels:
    ...");
    one that mentions speech (music) when no label does ("invents speech: 'speak'"). A label without any content
    word (only stop words or numbers) cannot be dropped.

    Example:
        >>> check = check_caption("Thunder rumbles over the sea.", ["Thunder", "Rain"])
        >>> check.ok, check.reason, check.coverage
        (False, "drops labels: 'Rain'", 0.5)
    """
    table = dict(SYNONYMS)
    for key, words in (synonyms or {}).items():
        table[lemmatize_word(key.lower())] = table.get(key, frozenset()) | frozenset(words)
    labels = list(labels)
    if sentence is None or not sentence.strip():
        return CaptionCheck(False, "empty output", (), tuple(labels))
    words = set(_lemmas(sentence))
    covered, missing = [], []
    for label in labels:
        content = set(_lemmas(label))
        matched = sum(_covers(w, words, table) for w in content)
        (covered if 2 * matched > len(content) or not content else missing).append(label)
    label_words = {w for label in labels for w in _lemmas(label)}
    invented, reasons = [], []
    if missing:
        reasons.append("drops labels: " + ", ".join(repr(label) for label in missing))
    for kind, enabled, marks, license in (
        ("speech", check_speech, SPEECH_WORDS, SPEECH_LICENSE),
        ("music", check_music, MUSIC_WORDS, MUSIC_LICENSE),
    ):
        if not enabled or any(_same_family(w, allowed) for w in label_words for allowed in license):
            continue
        found = sorted(words & marks)
        if found:
            invented += found
            reasons.append(f"invents {kind}: " + ", ".join(repr(w) for w in found))
    return CaptionCheck(not reasons, "; ".join(reasons) or None, tuple(covered), tuple(missing), tuple(invented))


def clean_generation(text: str) -> str:
    """The sentence in an LLM's raw output (decision 4): first non-empty line, no quotes, no "Answer:" prefix."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    for _ in range(2):  # '"Answer: ..."' and 'Answer: "..."' alike
        line = _ANSWER_PREFIX.sub("", line).strip()
        if len(line) >= 2 and line[0] == line[-1] and line[0] in "\"'`":
            line = line[1:-1].strip()
    return " ".join(line.split())


# ------------------------------------------------------------------------------------------------ prompts
def _label_list(labels: Sequence[str]) -> str:
    return ", ".join(labels)


def build_prompt(labels: Sequence[str], shots: str = "0", chat: bool = True) -> list[dict] | str:
    """The paper's prompt for ``labels`` with 0, 1 or ``"few"`` worked examples: chat messages (``chat=True``, for
    ``tokenizer.apply_chat_template``) or one Alpaca-format string.

    Example:
        >>> build_prompt(["Rain", "Wind"], shots="0", chat=True)[0]["content"].splitlines()[1]
        'describe a situation with all of these sounds together: Rain, Wind'
    """
    check_choice("shots", shots, SHOTS)
    turns = [(PAPER_INSTRUCTION.format(labels=_label_list(ex)), answer) for ex, answer in SHOT_EXAMPLES[: SHOTS[shots]]]
    return _format(turns, PAPER_INSTRUCTION.format(labels=_label_list(labels)), chat)


def build_merge_prompt(audio: str, visual: str, chat: bool = True) -> list[dict] | str:
    """The audio-visual merge prompt (decision 3): one sentence from the audio and the visual description."""
    return _format([], MERGE_INSTRUCTION.format(audio=audio, visual=visual), chat)


def _format(turns: Sequence[tuple[str, str]], instruction: str, chat: bool) -> list[dict] | str:
    if chat:
        messages = []
        for question, answer in turns:
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return messages + [{"role": "user", "content": instruction}]
    blocks = [f"### Instruction:\n{question}\n\n### Response:\n{answer}\n\n" for question, answer in turns]
    return ALPACA_HEADER + "".join(blocks) + f"### Instruction:\n{instruction}\n\n### Response:\n"


# ------------------------------------------------------------------------------------------------ frames
def video_reader_available() -> bool:
    """Whether transformers' ``load_video`` has a decoder to read real video files with (decision 6)."""
    import importlib.util

    return any(importlib.util.find_spec(name) is not None for name in ("av", "cv2", "decord", "torchvision"))


def _sample(items: list, count: int) -> list:
    if len(items) <= count:
        return items
    return [items[round(i * (len(items) - 1) / (count - 1))] if count > 1 else items[0] for i in range(count)]


def load_frames(video, num_frames: int = 4, base: Path | None = None) -> list:
    """``num_frames`` evenly spaced RGB ``PIL.Image`` frames of ``video``: a folder of frame images, a list of image
    paths, an (animated) image, or a video file when a decoder is installed (decision 6). Raises ``OSError`` /
    ``InvalidInputError`` for what cannot be read."""
    from PIL import Image, ImageSequence

    def resolve(path) -> Path:
        path = Path(path)
        return path if path.is_absolute() or base is None else base / path

    if hasattr(video, "tolist"):
        video = video.tolist()
    if isinstance(video, (list, tuple)):
        paths = [resolve(p) for p in video]
    else:
        path = resolve(video)
        if path.is_dir():
            paths = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not paths:
                raise InvalidInputError(f"frame folder {path} holds no images")
        elif path.suffix.lower() in VIDEO_FILE_SUFFIXES:
            from transformers.video_utils import load_video

            frames, _ = load_video(str(path), num_frames=num_frames)
            return [Image.fromarray(frame).convert("RGB") for frame in frames]
        else:
            with Image.open(path) as image:
                frames = [frame.convert("RGB") for frame in ImageSequence.Iterator(image)]
            return _sample(frames, num_frames)
    frames = []
    for path in _sample(paths, num_frames):
        with Image.open(path) as image:
            frames.append(image.convert("RGB"))
    return frames


# ------------------------------------------------------------------------------------------------ models
def folder_revision(path: str | os.PathLike) -> str | None:
    """A short hash of a local model folder (its config and the names and sizes of its files; hashing the weights of
    a 7B model would take minutes), or None for a Hub id."""
    if not os.path.isdir(path):
        return None
    digest = hashlib.sha256()
    for item in sorted(Path(path).rglob("*")):
        if item.is_file():
            digest.update(f"{item.relative_to(path).as_posix()}:{item.stat().st_size}".encode())
            if item.name == "config.json":
                digest.update(item.read_bytes())
    return "local-" + digest.hexdigest()[:16]


def model_revision(name: str, model) -> str | None:
    """What identifies a loaded model's weights: the Hub commit when it came from the Hub, else
    :func:`folder_revision` of its folder."""
    commit = getattr(getattr(model, "config", None), "_commit_hash", None)
    return commit or folder_revision(name)


@dataclass
class GenerationSettings:
    """How the LLM decodes: greedy unless ``do_sample`` (then seeded, decision 7)."""

    max_new_tokens: int = 60
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int = 0

    def describe(self) -> dict:
        """The options, and the seed when it matters (sampling)."""
        return self.options() | ({"seed": self.seed} if self.do_sample else {})

    def options(self) -> dict:
        options = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample}
        if self.do_sample:
            options.update(temperature=self.temperature, top_p=self.top_p)
        return options


class LabelEnricher:
    """Turns prepared rows (see :func:`prepare_row`) into output rows: the LLM sentence for each label list, the
    frame captions and the merged sentence when the row has frames, the check, and the provenance.

    ``llm=None`` is the template fallback (AudioGen's pseudo-sentence, no model).

    Example:
        >>> enricher = LabelEnricher(None)  # template fallback
        >>> enricher([prepare_row({"id": "a", "labels": ["Rain", "Wind"]})])[0]["caption"]
        'rain wind'
    """

    def __init__(
        self,
        llm: str | None,
        *,
        video_captioner: str | None = None,
        shots: str = "0",
        generation: GenerationSettings | None = None,
        captioner_max_new_tokens: int = 30,
        device: str | None = None,
        synonyms: Mapping[str, Iterable[str]] | None = None,
    ):
        check_choice("shots", shots, SHOTS)
        if video_captioner is not None and llm is None:
            raise InvalidInputError("video_captioner needs an llm: the audio and visual descriptions are merged by it")
        self.llm_name, self.captioner_name, self.shots = llm, video_captioner, shots
        self.generation = generation or GenerationSettings()
        self.captioner_max_new_tokens = captioner_max_new_tokens
        self.synonyms = synonyms
        self._loaded = False
        self._device = device

    # Loaded on first use, so that a job whose shards are all done does not load the weights.
    def _load(self) -> None:
        if self._loaded:
            return
        import torch

        self.device = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        if self.llm_name is not None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(self.llm_name)
            self.tokenizer.padding_side = "left"  # decoder-only batching: prompts end where generation starts
            if self.tokenizer.pad_token is None:
                if self.tokenizer.eos_token is None:
                    raise InvalidInputError(f"the tokenizer of {self.llm_name} has neither a pad nor an eos token")
                self.tokenizer.pad_token = self.tokenizer.eos_token
            self.model = AutoModelForCausalLM.from_pretrained(self.llm_name, dtype=dtype).to(self.device).eval()
            self.chat = bool(getattr(self.tokenizer, "chat_template", None))
        if self.captioner_name is not None:
            from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

            # BLIP / BLIP-2 / GIT folders hold a processor with both halves; a VisionEncoderDecoder folder has none
            # (AutoProcessor then gives its tokenizer alone).
            processor = AutoProcessor.from_pretrained(self.captioner_name)
            if hasattr(processor, "image_processor"):
                self.caption_processor, self.caption_tokenizer = processor, processor.tokenizer
            else:
                self.caption_processor = None
                self.image_processor = AutoImageProcessor.from_pretrained(self.captioner_name)
                self.caption_tokenizer = AutoTokenizer.from_pretrained(self.captioner_name)
            self.captioner = (
                AutoModelForImageTextToText.from_pretrained(self.captioner_name, dtype=dtype).to(self.device).eval()
            )
        self._loaded = True

    @property
    def prompt_variant(self) -> str:
        return TEMPLATE_VARIANT if self.llm_name is None else PROMPT_VARIANTS[self.shots]

    def provenance(self) -> dict:
        """Model ids and revisions and the prompt settings, the same for every row of a run."""
        self._load()
        if getattr(self, "_provenance", None) is None:
            self._provenance = self._describe()
        return dict(self._provenance)

    def _describe(self) -> dict:
        return {
            "llm": self.llm_name,
            "llm_revision": model_revision(self.llm_name, self.model) if self.llm_name else None,
            "video_captioner": self.captioner_name,
            "video_captioner_revision": (
                model_revision(self.captioner_name, self.captioner) if self.captioner_name else None
            ),
            "prompt_variant": self.prompt_variant,
            "prompt_format": None if self.llm_name is None else ("chat template" if self.chat else "alpaca"),
            "generation": None if self.llm_name is None else json.dumps(self.generation.describe(), sort_keys=True),
        }

    def generate(self, prompts: list, seed_key: str) -> list[str]:
        """Raw LLM outputs (new tokens only) for prompts (chat messages or strings), one batch."""
        import torch

        if self.chat:
            texts = [self.tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
            special = False  # the template already holds BOS
        else:
            texts, special = prompts, True
        inputs = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=special)
        inputs.pop("token_type_ids", None)  # BERT-style tokenizers; causal LMs take no segment ids
        inputs = inputs.to(self.device)
        if self.generation.do_sample:
            digest = hashlib.sha256(f"{self.generation.seed}:{seed_key}".encode()).digest()
            torch.manual_seed(int.from_bytes(digest[:8], "little"))
        with torch.inference_mode():
            output = self.model.generate(
                **inputs, pad_token_id=self.tokenizer.pad_token_id, **self.generation.options()
            )
        new = output[:, inputs["input_ids"].shape[1] :]
        return self.tokenizer.batch_decode(new, skip_special_tokens=True)

    def caption_frames(self, frames: list) -> list[str]:
        import torch

        if self.caption_processor is not None:
            inputs = self.caption_processor(images=frames, return_tensors="pt")
        else:
            inputs = self.image_processor(frames, return_tensors="pt")
        inputs = inputs.to(self.device)
        with torch.inference_mode():
            output = self.captioner.generate(**inputs, max_new_tokens=self.captioner_max_new_tokens, do_sample=False)
        return [
            " ".join(text.split()) for text in self.caption_tokenizer.batch_decode(output, skip_special_tokens=True)
        ]

    def __call__(self, records: list[dict]) -> list[dict]:
        self._load()
        provenance = self.provenance()
        rows = [_output_row(record, provenance) for record in records]
        todo = [row for row, record in zip(rows, records) if record["skip_reason"] is None]
        if not todo:
            return rows
        key = ",".join(str(row["id"]) for row in todo)
        if self.llm_name is None:
            for row in todo:
                row["audio_caption"] = template_caption(row["labels"])
        else:
            raw = self.generate([build_prompt(row["labels"], self.shots, self.chat) for row in todo], key)
            for row, text in zip(todo, raw):
                row["raw_output"], row["audio_caption"] = text, clean_generation(text)
        with_frames = [(row, record) for row, record in zip(rows, records) if record.get("frames")]
        if with_frames and self.captioner_name is not None:
            captions = self.caption_frames([frame for _, record in with_frames for frame in record["frames"]])
            start = 0
            for row, record in with_frames:
                parts = captions[start : start + len(record["frames"])]
                start += len(record["frames"])
                row["visual_caption"] = "; ".join(dict.fromkeys(p for p in parts if p)) or None
            merge = [row for row, _ in with_frames if row["audio_caption"] and row["visual_caption"]]
            if merge:
                raw = self.generate(
                    [build_merge_prompt(row["audio_caption"], row["visual_caption"], self.chat) for row in merge],
                    "merge:" + key,
                )
                for row, text in zip(merge, raw):
                    row["raw_output"] = text
                    row["candidate"] = clean_generation(text)
                    row["prompt_variant"] += " + audio-visual merge"
        for row in todo:
            if row["candidate"] is None and "audio-visual" not in row["prompt_variant"]:
                row["candidate"] = row["audio_caption"]
            check = check_caption(row["candidate"], row["labels"], synonyms=self.synonyms)
            row["label_coverage"] = check.coverage
            row["missing_labels"] = list(check.missing)
            if check.ok:
                row["status"], row["caption"] = "enriched", row["candidate"]
            else:
                row["status"], row["reason"] = "rejected", f"rejected output: {check.reason}"
        return rows


def _output_row(record: dict, provenance: dict) -> dict:
    return {
        "id": record["id"],
        "status": "skipped" if record["skip_reason"] else None,
        "reason": record["skip_reason"],
        "caption": None,  # the checked sentence; None unless status == "enriched"
        "candidate": None,  # the sentence that was checked (kept for rejected rows, to inspect)
        "labels": record["labels"],
        # as a list, one type for the parquet column: [folder or animated image], or the frame images given
        "video": [record["video"]] if isinstance(record.get("video"), str) else record.get("video"),
        "audio_caption": None,
        "visual_caption": None,
        "raw_output": None,
        "label_coverage": None,
        "missing_labels": [],
        **provenance,
    }


# ------------------------------------------------------------------------------------------------ input rows
def prepare_row(
    row: Mapping,
    *,
    labels_column: str = "labels",
    id_column: str = "id",
    video_column: str | None = None,
    num_frames: int = 4,
    base: Path | None = None,
) -> dict:
    """The CPU stage: one input row -> ``{"id", "labels", "video", "frames", "skip_reason"}``. Problems of the row's
    data (no labels, unreadable frames) become a ``skip_reason``, never an exception, so every input is accounted."""
    record = {"id": row.get(id_column), "labels": [], "video": None, "frames": [], "skip_reason": None}
    try:
        record["labels"] = parse_labels(row.get(labels_column), labels_column)
    except InvalidInputError as err:
        record["skip_reason"] = f"bad labels: {err}"
        return record
    if not record["labels"]:
        record["skip_reason"] = "empty labels"
        return record
    video = row.get(video_column) if video_column else None
    if video is not None and not (isinstance(video, float) and video != video):  # NaN: a CSV's empty cell
        record["video"] = video.tolist() if hasattr(video, "tolist") else video
        try:
            record["frames"] = load_frames(record["video"], num_frames, base)
        except (OSError, ValueError) as err:
            record["skip_reason"] = f"unreadable video: {' '.join(str(err).split())}"
    return record


# ------------------------------------------------------------------------------------------------ the batch job
JOB_NAME = "caption_enrichment"
JOB_VERSION = 1
PARQUET_FOLDER = "parquet"
ACCOUNTING_FILE = "accounting.json"
# Fields of an output row that hold lists: JSON text in the batch-job shards (which take scalars), lists in parquet.
_LIST_FIELDS = ("labels", "missing_labels", "video")
STATUSES = ("enriched", "rejected", "skipped")


def read_input_rows(path: str | os.PathLike) -> list[dict]:
    """The rows of a ``.jsonl`` / ``.json`` (JSON lines), ``.csv`` or ``.parquet`` file, as dicts."""
    path = Path(path)
    kind = INPUT_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InvalidInputError(f"IN {path} must end in {', '.join(INPUT_FORMATS)}, got {path.suffix or 'no suffix'!r}")
    if not path.is_file():
        raise InvalidInputError(f"IN {path} is not a file")
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a bad file
            raise InvalidInputError(f"IN {path} cannot be read as parquet: {' '.join(str(err).split())}") from err
    with open(path, encoding="utf-8", newline="") as handle:
        if kind == "csv":
            return [dict(row) for row in csv.DictReader(handle)]
        rows = []
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise InvalidInputError(f"IN {path} line {number} is not JSON: {err}") from err
            if not isinstance(row, dict):
                raise InvalidInputError(f"IN {path} line {number} must be a JSON object, got {type(row).__name__}")
            rows.append(row)
        return rows


def _plain(value):
    """A cell as a JSON value: numpy arrays -> lists, NaN (an empty CSV / pandas cell) -> None, "" -> None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value


def build_items(
    rows: Sequence[Mapping],
    *,
    id_column: str = "id",
    labels_column: str = "labels",
    video_column: str | None = None,
) -> list[tuple[str, dict]]:
    """Input rows -> the job's ``(id, source)`` items, every user error raised here, before any model loads:
    no rows, a missing id / labels / video column, an empty or repeated id, a video file without a decoder."""
    if not rows:
        raise InvalidInputError("IN holds no rows")
    columns = sorted({key for row in rows for key in row})
    for option, column in (("id column", id_column), ("labels column", labels_column), ("video column", video_column)):
        if column is not None and column not in columns:
            raise InvalidInputError(f"{option} {column!r} is not in IN; its columns: {', '.join(columns)}")
    items, seen, no_reader = [], set(), not video_reader_available()
    for number, row in enumerate(rows):
        item_id = _plain(row.get(id_column))
        if item_id is None or isinstance(item_id, (list, dict, bool)):
            raise InvalidInputError(f"row {number} has no usable id in column {id_column!r}: {row.get(id_column)!r}")
        item_id = str(item_id)
        if item_id in seen:
            raise InvalidInputError(f"row {number}: id {item_id!r} appears twice; ids must be unique")
        seen.add(item_id)
        source = {"id": item_id, "labels": _plain(row.get(labels_column))}
        if video_column is not None:
            video = _plain(row.get(video_column))
            if isinstance(video, str) and Path(video).suffix.lower() in VIDEO_FILE_SUFFIXES and no_reader:
                raise InvalidInputError(
                    f"row {number} names the video file {video!r}, and no video decoder (av, opencv, decord, "
                    "torchvision) is installed: give a folder or list of pre-extracted frame images instead"
                )
            source["video"] = video
        items.append((item_id, source))
    return items


class _ShardModel:
    """The job's model stage: the enricher's rows with list fields as JSON text (shards take scalars). A class, not
    a closure, so that an engine can pickle it to its workers."""

    def __init__(self, enricher: LabelEnricher):
        self.enricher = enricher

    def __call__(self, records: list[dict]) -> list[dict]:
        return [
            {key: json.dumps(value) if key in _LIST_FIELDS else value for key, value in row.items()}
            for row in self.enricher(records)
        ]


def _parquet_row(item_id: str, values: Mapping | None, failure: str | None) -> dict:
    if values is None:  # read_decode raised: an unexpected error of this one item, accounted as skipped
        return {"id": item_id, "status": "skipped", "reason": f"failed: {failure}"}
    return {key: json.loads(value) if key in _LIST_FIELDS else value for key, value in values.items()}


@dataclass
class EnrichmentReport:
    """What :func:`enrich_captions` found in its output folder: every input counted once, by status and reason."""

    out_dir: Path
    inputs: int = 0
    enriched: int = 0
    rejected: int = 0
    skipped: int = 0
    missing: int = 0  # items of shards not complete (another process's, or a stopped run's)
    reasons: Counter = field(default_factory=Counter)  # kind of reason -> count (rejected and skipped)
    written: int = 0  # items computed by this run (the rest come from an earlier run)
    seconds: float = 0.0

    @property
    def rejection_rate(self) -> float:
        """Rejected / (enriched + rejected): the share of produced sentences the checks refused."""
        produced = self.enriched + self.rejected
        return self.rejected / produced if produced else 0.0

    def as_dict(self) -> dict:
        return {
            "inputs": self.inputs,
            "enriched": self.enriched,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "missing": self.missing,
            "rejection_rate": self.rejection_rate,
            "reasons": dict(self.reasons.most_common()),
        }

    def summary(self) -> str:
        reasons = ", ".join(f"{count} {reason}" for reason, count in self.reasons.most_common()) or "none"
        return (
            f"{self.inputs} inputs: {self.enriched} enriched, {self.rejected} rejected "
            f"(rejection rate {self.rejection_rate:.1%}), {self.skipped} skipped, {self.missing} not done yet; "
            f"reasons: {reasons}; {self.written} computed by this run in {self.seconds:.1f} s; "
            f"see {self.out_dir / PARQUET_FOLDER}"
        )


def _reason_kind(reason: str) -> str:
    # "rejected output: drops labels: 'x'; invents speech: 'y'" -> "drops labels + invents speech"
    if reason.startswith("rejected output: "):
        return " + ".join(part.split(":", 1)[0].strip() for part in reason[len("rejected output: ") :].split(";"))
    return reason.split(":", 1)[0]


def enrich_captions(
    in_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    llm: str | None = None,
    template: bool = False,
    video_captioner: str | None = None,
    shots: str = "0",
    id_column: str = "id",
    labels_column: str = "labels",
    video_column: str | None = None,
    num_frames: int = 4,
    batch_size: int = 8,
    shard_size: int = 256,
    max_new_tokens: int = 60,
    sample: bool = False,
    temperature: float = 0.7,
    top_p: float = 0.9,
    seed: int = 0,
    process_index: int | None = None,
    num_processes: int | None = None,
    progress: bool = True,
    engine="local",
) -> EnrichmentReport:
    """Enrich the weak labels of every row of ``in_path`` into ``out_dir`` (see the module docstring).

    Output folder: the batch job's ``manifest.json`` and ``shard-*.json``/``.safetensors`` (the resumable state),
    ``parquet/shard-*.parquet`` (one row per input row of that shard: ``id``, ``status`` enriched / rejected /
    skipped, ``reason``, ``caption``, ``candidate``, the inputs and the provenance) and ``accounting.json``.
    Re-running on the same folder with the same settings redoes only the shards a stopped run left incomplete.
    ``engine``: ``"local"`` (in this process), ``"ray"`` or a ``RayEngine`` (Ray Data; the same shards and rows).
    """
    if (llm is None) == (not template):
        raise InvalidInputError("choose one: an llm, or template=True (the fallback without an LLM)")
    from .batch_job import MAX_BATCH_SIZE, MAX_SHARD_SIZE

    check_choice("shots", shots, SHOTS)
    batch_size = check_int("batch_size", batch_size, min=1, max=MAX_BATCH_SIZE)
    shard_size = check_int("shard_size", shard_size, min=1, max=MAX_SHARD_SIZE)
    num_frames = check_int("num_frames", num_frames, min=1, max=64)
    max_new_tokens = check_int("max_new_tokens", max_new_tokens, min=1, max=1024)
    temperature = check_float("temperature", temperature, min=0, min_inclusive=False)
    top_p = check_float("top_p", top_p, min=0, max=1, min_inclusive=False)
    seed = check_seed(seed)
    if video_captioner is not None and llm is None:
        raise InvalidInputError("a video captioner needs an llm: the audio and visual descriptions are merged by it")
    if video_captioner is None and video_column is not None:
        raise InvalidInputError("a video column needs a video captioner (the frames would be read for nothing)")
    if video_captioner is not None and video_column is None:
        video_column = "video"
    in_path, out_dir = Path(in_path), Path(out_dir)
    for option, name in (("llm", llm), ("video_captioner", video_captioner)):
        if name is not None and not os.path.isdir(name) and name.count("/") != 1:
            raise InvalidInputError(f"{option} {name!r} is neither a model folder nor a Hub repo id")
    items = build_items(
        read_input_rows(in_path),
        id_column=id_column,
        labels_column=labels_column,
        video_column=video_column,
    )
    generation = GenerationSettings(max_new_tokens, sample, temperature, top_p, seed)
    enricher = LabelEnricher(llm, video_captioner=video_captioner, shots=shots, generation=generation)
    fingerprint = {
        "job": JOB_NAME,
        "version": JOB_VERSION,
        "llm": llm,
        "llm_revision": folder_revision(llm) if llm else None,
        "video_captioner": video_captioner,
        "video_captioner_revision": folder_revision(video_captioner) if video_captioner else None,
        "prompt_variant": enricher.prompt_variant,
        "generation": generation.describe(),
        "num_frames": num_frames if video_captioner else None,
        "columns": [id_column, labels_column, video_column],
        # Left padding and the per-batch seed make outputs depend on how items are batched.
        "batch_size": batch_size if llm else None,
    }
    return run_enrichment_job(
        items,
        out_dir,
        enricher,
        fingerprint,
        base=in_path.parent,
        num_frames=num_frames,
        batch_size=batch_size,
        shard_size=shard_size,
        process_index=process_index,
        num_processes=num_processes,
        progress=progress,
        engine=engine,
    )


def run_enrichment_job(
    items: list[tuple[str, dict]],
    out_dir: Path,
    enricher: LabelEnricher,
    fingerprint: dict,
    *,
    base: Path | None = None,
    num_frames: int = 4,
    batch_size: int = 8,
    shard_size: int = 256,
    process_index: int | None = None,
    num_processes: int | None = None,
    progress: bool = True,
    engine="local",
) -> EnrichmentReport:
    """Run the stages on :class:`~hf_audiogen.data.pipelines.batch_job.BatchJob`, export each complete shard of
    this process to parquet, and count every input (:func:`account`)."""
    import time
    from functools import partial

    from .batch_job import BatchJob, prepare_output, read_complete_shard, read_shard

    start = time.perf_counter()
    read_decode = partial(prepare_row, video_column="video", num_frames=num_frames, base=base)
    job = BatchJob(read_decode, _ShardModel(enricher), fingerprint, batch_size=batch_size, shard_size=shard_size)
    run = job.run(
        items,
        out_dir,
        process_index=process_index,
        num_processes=num_processes,
        progress=progress,
        description="enriching captions",
        engine=engine,
    )
    plan = prepare_output(out_dir, fingerprint, items, shard_size)
    index, count = run.process_index, run.num_processes
    (out_dir / PARQUET_FOLDER).mkdir(exist_ok=True)
    for shard in plan.shards_of(index, count):
        target = out_dir / PARQUET_FOLDER / f"shard-{shard:05d}.parquet"
        sidecar = read_complete_shard(out_dir, plan.job_hash, shard)
        if sidecar is not None and not target.exists():
            _write_parquet(target, sidecar["ids"], read_shard(out_dir, sidecar), dict(sidecar["failed"]))
    report = account(out_dir)
    report.written, report.seconds = run.written, time.perf_counter() - start
    if index == 0:
        tmp = out_dir / f".{ACCOUNTING_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(report.as_dict(), indent=1) + "\n")
        os.replace(tmp, out_dir / ACCOUNTING_FILE)
    return report


def _write_parquet(target: Path, ids: Sequence[str], results: Mapping, failures: Mapping) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [_parquet_row(item_id, results.get(item_id), failures.get(item_id)) for item_id in ids]
    names = list(dict.fromkeys(key for row in rows for key in row))
    table = pa.Table.from_pylist([{name: row.get(name) for name in names} for row in rows])
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, target)  # atomic: a killed export leaves no half file, and the next run writes it


def _read_rows(out_dir) -> tuple[list[dict], int]:
    from .batch_job import load_results

    results = load_results(out_dir)
    failures = dict(results.failed)
    ids = json.loads((Path(out_dir) / "manifest.json").read_text(encoding="utf-8"))["ids"]
    rows = [
        _parquet_row(item_id, results.results.get(item_id), failures.get(item_id))
        for item_id in ids
        if item_id in results.results or item_id in failures
    ]
    return rows, len(results.missing)


def load_enriched(out_dir: str | os.PathLike) -> list[dict]:
    """Every output row of a (possibly partial) enrichment folder, in input order, read from the batch-job shards
    (the parquet files hold the same rows)."""
    return _read_rows(out_dir)[0]


def account(out_dir: str | os.PathLike) -> EnrichmentReport:
    """Count every input of an enrichment folder: enriched, rejected or skipped (with reasons), or not done yet."""
    rows, missing = _read_rows(out_dir)
    report = EnrichmentReport(Path(out_dir), inputs=len(rows) + missing, missing=missing)
    for row in rows:
        setattr(report, row["status"], getattr(report, row["status"]) + 1)
        if row["reason"]:
            report.reasons[_reason_kind(row["reason"])] += 1
    return report


# ------------------------------------------------------------------------------------------------ quality
def caption_quality(
    captions: Sequence[str | None],
    labels: Sequence[Sequence[str]],
    references: Sequence[str | None] | None = None,
    *,
    encoder: str = "minilm",
    seed: int = 0,
) -> dict:
    """Vocabulary size, label coverage and (with ``references``) mean cosine similarity to reference captions with
    a sentence encoder, next to a *shuffled* control (each caption against another row's reference): the gap between
    the two is what the similarity says about the captions.

    Rows whose caption is None are left out (``captions`` counts the rest); similarity uses rows with a reference.
    """
    import numpy as np

    kept = [(i, c) for i, c in enumerate(captions) if c]
    vocabulary = {word for _, caption in kept for word in tokenize(caption)}
    coverage = [check_caption(caption, labels[i]).coverage for i, caption in kept]
    quality = {
        "rows": len(captions),
        "captions": len(kept),
        "vocabulary_size": len(vocabulary),
        "mean_label_coverage": float(np.mean(coverage)) if coverage else None,
        "full_label_coverage": float(np.mean([c == 1.0 for c in coverage])) if coverage else None,
    }
    if references is None:
        return quality
    pairs = [(caption, references[i]) for i, caption in kept if references[i]]
    quality["similarity_pairs"] = len(pairs)
    if len(pairs) < 2:
        return quality
    a = sentence_embeddings([c for c, _ in pairs], encoder)
    b = sentence_embeddings([r for _, r in pairs], encoder)
    # A derangement: every caption meets a reference of another row.
    order = np.random.default_rng(seed).permutation(len(pairs))
    partner = np.empty_like(order)
    partner[order] = np.roll(order, -1)
    shuffled = b[partner]
    quality["similarity"] = float((a * b).sum(1).mean())
    quality["shuffled_similarity"] = float((a * shuffled).sum(1).mean())
    return quality


__all__ = [
    "MERGE_INSTRUCTION",
    "PAPER_INSTRUCTION",
    "SHOT_EXAMPLES",
    "CaptionCheck",
    "EnrichmentReport",
    "GenerationSettings",
    "LabelEnricher",
    "account",
    "build_items",
    "build_merge_prompt",
    "build_prompt",
    "caption_quality",
    "check_caption",
    "clean_generation",
    "enrich_captions",
    "load_enriched",
    "load_frames",
    "parse_labels",
    "prepare_row",
    "read_input_rows",
    "template_caption",
]
