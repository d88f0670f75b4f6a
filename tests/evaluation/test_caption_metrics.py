"""Caption metrics (hf_audiogen.evaluation) against coco-caption's own numbers.

The expected values below were computed once with the reference implementation, PyPI ``pycocoevalcap`` 1.2 (Java
PTBTokenizer from stanford-corenlp-3.4.1, Bleu(4), Meteor 1.5, Rouge, Cider), installed in a scratch venv outside the
project: ``PTBTokenizer().tokenize`` on references and predictions, then each scorer's ``compute_score(gts, res)``.
"""

import math
import shutil
import subprocess

import pytest

from hf_audiogen.evaluation import (
    METRIC_MODULES,
    MetricUnavailableError,
    bleu,
    caption_metric_availability,
    cider_d,
    compute_caption_metrics,
    meteor,
    metric_module_path,
    rouge_l,
    spice,
    tokenize_caption,
)
from hf_audiogen.evaluation.caption_metrics import find_java, find_meteor_jar

TOY2 = (
    ["a dog barks while cars pass by", "rain falls on a metal roof"],
    [
        ["A dog is barking as cars drive past.", "A dog barks and vehicles pass by on a road"],
        ["Rain is falling on a tin roof.", "Heavy rain falls onto a metal roof while thunder rumbles"],
    ],
)
MIXED5 = (
    [
        "Birds chirp, and a man's voice speaks.",
        "water",
        "a car engine revs up and then idles",
        "people talk (loudly) in a crowd - then applause!",
        "a door doesn't close",
    ],
    [
        [
            "Birds are chirping while a man speaks",
            "A man talks as birds chirp in the background.",
            "birds chirp and a man speaks",
            "Several birds sing; a man's voice is heard",
            "A man speaking with birds chirping",
        ],
        ["Water flows from a faucet.", "Water is running"],
        ["a car engine revs up and then idles"],
        ["A crowd of people talk and then applaud", "People are talking loudly before clapping"],
        ["A door won't shut", "someone closes a door"],
    ],
)

# pycocoevalcap 1.2 outputs (corpus value, per-item values).
EXPECTED = {
    "toy2": {
        "bleu": [0.7914497714109537, 0.6571387669965693, 0.4349396919296202, 5.63434761977862e-05],
        "bleu_1_per_item": [0.7430381995735735, 0.8464817246084536],
        "bleu_4_per_item": [5.898019930403657e-05, 7.648825823211366e-05],
        "rouge_l": 0.6130037182192745,
        "rouge_l_per_item": [0.5700934579439253, 0.6559139784946236],
        "cider_d": 1.9475724801610887,
        "cider_d_per_item": [1.9340838265768285, 1.961061133745349],
        "meteor": 0.30548285701687716,
        "meteor_per_item": [0.3393833660195104, 0.27007301119646276],
    },
    "mixed5": {
        "bleu": [0.8124999999746094, 0.6938886664650191, 0.6129355520271331, 0.5580141422816952],
        "bleu_1_per_item": [
            0.9999999998750002,
            0.1353352829659427,
            0.9999999997500004,
            0.5999999999400001,
            0.5999999997600003,
        ],
        "bleu_4_per_item": [
            0.8091067114418721,
            4.2796774227674215e-06,
            0.9999999997163694,
            6.985342055743659e-09,
            1.2574334290280229e-08,
        ],
        "rouge_l": 0.6557206015467607,
        "rouge_l_per_item": [0.8798076923076923, 0.45864661654135336, 1.0, 0.34014869888475835, 0.6],
        "cider_d": 3.406246783094287,
        "cider_d_per_item": [2.9068248896223454, 1.2760869682305118, 10.0, 1.1990883772075467, 1.649233680411031],
        "meteor": 0.42230977343282156,
        "meteor_per_item": [0.49199802584502117, 0.1875, 1.0, 0.3036740373763213, 0.3717762847008795],
    },
}
CASES = {"toy2": TOY2, "mixed5": MIXED5}

# Java PTBTokenizer (as pycocoevalcap runs it) + coco's punctuation removal.
PTB_OUTPUTS = [
    ('A man\'s voice: "Hello!" -- then (loud) applause...', "a man 's voice hello then -lrb- loud -rrb- applause"),
    ("It's 3.5 seconds long; isn't it?", "it 's 3.5 seconds long is n't it"),
    ("Cars/trucks pass by, e.g. on a high-way.", "cars/trucks pass by e.g. on a high-way"),
    ("A dog barks & a cat meows", "a dog barks & a cat meows"),
    ("Rock 'n' roll plays $5 U.S.A.", "rock 'n' roll plays $ 5 u.s.a."),
    (
        "I cannot hear; you're gonna love it, we'll see. They've gone! I'd say I'm done.",
        "i can not hear you 're gon na love it we 'll see they 've gone i 'd say i 'm done",
    ),
    (
        "A 1,000-ton ship [in port] {maybe} horns: BWAAA!!!",
        "a 1,000-ton ship -lsb- in port -rsb- -lcb- maybe -rcb- horns bwaaa !!!",
    ),
    ("Dogs' barks, the dog's bark, and the dogs's barks", "dogs barks the dog 's bark and the dogs 's barks"),
    ("It was 'quiet' then \"loud\"?", "it was quiet then loud"),
    ("Wind blows... and it's raining -- hard", "wind blows and it 's raining hard"),
    ("A man says 'hello' and a woman wanna talk, gotta go", "a man says hello and a woman wan na talk got ta go"),
    (
        "Music plays at 5:30 p.m. with 50% volume; #1 hit @ home",
        "music plays at 5:30 p.m. with 50 % volume # 1 hit @ home",
    ),
    ("a car's engine*revs* up", "a car 's engine * revs * up"),
    ("  Multiple   spaces\tand\ttabs  ", "multiple spaces and tabs"),
    ("Ain't nothing like d'ya know", "ai n't nothing like d'ya know"),
    ('He said "the end."', "he said the end"),
    ("Mr. Smith vs. Dr. Jones etc.", "mr. smith vs. dr. jones etc."),
    ("Don't! Won't? Can't.", "do n't wo n't ca n't"),
    ("a b-c d--e f---g", "a b-c d e f g"),
    ("Whoa!?", "whoa !?"),
    ("x'y o'clock rock'n'roll", "x y o'clock rock 'n' roll"),
    ("naïve café sounds", "naïve café sounds"),
    ("50.5% of 3/4 cups", "50.5 % of 3/4 cups"),
]


@pytest.mark.parametrize("text,expected", PTB_OUTPUTS)
def test_tokenizer_matches_coco_ptb_tokenizer(text, expected):
    assert " ".join(tokenize_caption(text)) == expected


@pytest.mark.parametrize("case", ["toy2", "mixed5"])
def test_bleu_rouge_cider_match_pycocoevalcap(case):
    predictions, references = CASES[case]
    expected = EXPECTED[case]
    scores = compute_caption_metrics(predictions, references, return_per_item=True)
    for n in range(4):
        assert scores[f"bleu_{n + 1}"] == pytest.approx(expected["bleu"][n], rel=1e-12, abs=1e-15)
    for name in ("bleu_1_per_item", "bleu_4_per_item", "rouge_l_per_item", "cider_d_per_item"):
        assert scores[name] == pytest.approx(expected[name], rel=1e-12, abs=1e-15), name
    assert scores["rouge_l"] == pytest.approx(expected["rouge_l"], rel=1e-12)
    assert scores["cider_d"] == pytest.approx(expected["cider_d"], rel=1e-12)


def test_scores_on_exact_and_disjoint_captions():
    refs = [["a car engine revs up and then idles", "an engine idles"], ["birds sing"], ["thunder rumbles far away"]]
    exact = bleu([r[0] for r in refs], refs)
    assert exact["bleu_1"] == pytest.approx(1.0) and exact["bleu_2"] == pytest.approx(1.0)
    assert rouge_l([r[0] for r in refs], refs)["rouge_l"] == pytest.approx(1.0)
    disjoint = compute_caption_metrics(["xylophone", "zither", "oboe"], refs)
    assert disjoint["bleu_1"] < 1e-6 and disjoint["rouge_l"] == 0 and disjoint["cider_d"] == 0
    # An empty prediction scores 0 instead of crashing (coco-caption divides by zero in ROUGE-L).
    empty = compute_caption_metrics(["", "birds sing", "thunder"], refs, return_per_item=True)
    assert empty["rouge_l_per_item"][0] == 0 and empty["cider_d_per_item"][0] == 0
    assert empty["rouge_l_per_item"][1] == pytest.approx(1.0)


def test_cider_d_depends_on_the_whole_set_and_single_item_is_zero():
    predictions, references = TOY2
    assert cider_d(predictions[:1], references[:1])["cider_d"] == 0.0  # log(1 document) = 0: every IDF weight is 0
    alone = cider_d(predictions, references)["cider_d"]
    more = cider_d(predictions + ["water"], references + [["water is running"]], return_per_item=True)
    assert more["cider_d_per_item"][0] != pytest.approx(alone)


def test_pretokenized_input_skips_the_tokenizer():
    predictions, references = TOY2
    tokenized_preds = [" ".join(tokenize_caption(p)) for p in predictions]
    tokenized_refs = [[" ".join(tokenize_caption(r)) for r in refs] for refs in references]
    assert compute_caption_metrics(tokenized_preds, tokenized_refs, tokenize=False) == pytest.approx(
        compute_caption_metrics(predictions, references)
    )
    raw = compute_caption_metrics(["A dog barks."], [["a dog barks"]], tokenize=False)
    assert raw["bleu_1"] < 0.9  # "A" / "barks." do not match without tokenisation


def test_single_string_reference_equals_one_element_list():
    assert compute_caption_metrics(["a dog barks"], ["a dog is barking"]) == compute_caption_metrics(
        ["a dog barks"], [["a dog is barking"]]
    )


@pytest.mark.parametrize(
    "predictions,references,message",
    [
        ([], [], "predictions is empty"),
        ("a dog", [["a dog"]], "predictions must be a list"),
        (["a", "b"], [["a"]], "2 prediction"),
        ([None], [["a"]], r"predictions\[0\] must be a string"),
        (["a"], [[]], r"references\[0\] must be a non-empty list"),
        (["a"], [["a", 3]], r"references\[0\]\[1\] must be a string"),
    ],
)
def test_bad_inputs_raise_clear_errors(predictions, references, message):
    with pytest.raises(ValueError, match=message):
        compute_caption_metrics(predictions, references)


def test_unknown_metric_name_is_rejected():
    with pytest.raises(ValueError, match=r"unknown caption metric.*'blue'.*choose from"):
        compute_caption_metrics(["a"], [["a"]], metrics=["blue"])


def test_meteor_missing_jar_or_java_says_what_is_missing(tmp_path):
    with pytest.raises(MetricUnavailableError, match=r"meteor-1\.5\.jar.*paraphrase-en\.gz.*pip install pycocoevalcap"):
        meteor(["a dog"], [["a dog"]], meteor_jar=tmp_path / "meteor-1.5.jar")
    # A complete jar folder but no Java: the message names Java.
    (tmp_path / "data").mkdir()
    (tmp_path / "meteor-1.5.jar").write_bytes(b"")
    (tmp_path / "data" / "paraphrase-en.gz").write_bytes(b"")
    with pytest.raises(MetricUnavailableError, match="METEOR runs a Java program.*not an executable"):
        compute_caption_metrics(
            ["a"], [["a"]], metrics=["meteor"], meteor_jar=tmp_path / "meteor-1.5.jar", java=tmp_path / "no-java"
        )
    availability = caption_metric_availability(meteor_jar=tmp_path / "nothing.jar", spice_jar=tmp_path / "nothing.jar")
    assert availability["bleu"] is None and availability["cider_d"] is None
    assert "meteor-1.5.jar" in availability["meteor"] and "CoreNLP 3.6.0" in availability["spider"]


def test_spice_and_spider_without_corenlp_say_what_is_missing(tmp_path):
    (tmp_path / "spice-1.0.jar").write_bytes(b"")  # the pycocoevalcap layout: the jar, but no CoreNLP 3.6.0 in lib/
    with pytest.raises(MetricUnavailableError, match=r"stanford-corenlp-3\.6\.0\.jar.*lib/"):
        spice(["a dog"], [["a dog"]], spice_jar=tmp_path / "spice-1.0.jar")
    with pytest.raises(MetricUnavailableError, match="SPICE"):
        compute_caption_metrics(["a"], [["a"]], metrics=["spider"], spice_jar=tmp_path / "spice-1.0.jar")


FAKE_SPICE = r"""
import java.nio.file.*;
public class FakeSpice {  // writes SPICE's output format: F = (number of tokens of the test caption) / 10
  public static void main(String[] args) throws Exception {
    String in = new String(Files.readAllBytes(Paths.get(args[0])), "UTF-8");
    String out = args[2];
    StringBuilder sb = new StringBuilder("[");
    int id = 0, pos = 0;
    while ((pos = in.indexOf("\"test\": \"", pos)) >= 0) {
      int start = pos + 9, end = in.indexOf('"', start);
      int tokens = in.substring(start, end).trim().split(" +").length;
      if (id > 0) sb.append(",");
      sb.append("{\"image_id\": " + id + ", \"scores\": {\"All\": {\"f\": " + (tokens / 10.0) + "}}}");
      id++; pos = end;
    }
    Files.write(Paths.get(out), sb.append("]").toString().getBytes("UTF-8"));
  }
}
"""


@pytest.mark.skipif(shutil.which("javac") is None or find_java() is None, reason="needs a JDK (javac) to build a jar")
def test_spice_and_spider_run_the_jar_and_parse_its_output(tmp_path):
    """SPICE itself needs CoreNLP 3.6.0 (not obtainable offline): a stand-in jar with SPICE's command line and output
    format checks the plumbing (command, tokenised input, JSON parsing, SPIDEr = (CIDEr-D + SPICE) / 2)."""
    (tmp_path / "FakeSpice.java").write_text(FAKE_SPICE)
    subprocess.run(["javac", "FakeSpice.java"], cwd=tmp_path, check=True)
    (tmp_path / "manifest.txt").write_text("Main-Class: FakeSpice\n")
    subprocess.run(["jar", "cfm", "spice-1.0.jar", "manifest.txt", "FakeSpice.class"], cwd=tmp_path, check=True)
    (tmp_path / "lib").mkdir()
    for name in ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar"):
        (tmp_path / "lib" / name).write_bytes(b"")
    predictions, references = TOY2
    scores = compute_caption_metrics(
        predictions, references, metrics=["spider"], spice_jar=tmp_path / "spice-1.0.jar", return_per_item=True
    )
    assert scores["spice_per_item"] == pytest.approx([0.7, 0.6])  # 7 and 6 tokens
    assert scores["spice"] == pytest.approx(0.65)
    assert scores["spider"] == pytest.approx((EXPECTED["toy2"]["cider_d"] + 0.65) / 2)


@pytest.mark.slow
@pytest.mark.skipif(find_meteor_jar() is None or find_java() is None, reason="needs Java and meteor-1.5.jar")
def test_meteor_matches_pycocoevalcap():
    """~20 s (JVM start + paraphrase table). Runs with `pycocoevalcap` installed or $HF_AUDIOGEN_METEOR_JAR set."""
    for case, (predictions, references) in CASES.items():
        scores = meteor(predictions, references, return_per_item=True)
        assert scores["meteor"] == pytest.approx(EXPECTED[case]["meteor"], abs=1e-9)
        assert scores["meteor_per_item"] == pytest.approx(EXPECTED[case]["meteor_per_item"], abs=1e-9)


def test_evaluate_modules_load_offline_and_match(monkeypatch, tmp_path):
    evaluate = pytest.importorskip("evaluate")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    predictions, references = MIXED5
    cider = evaluate.load(metric_module_path("cider_d"))
    # Batches accumulate: CIDEr-D's IDF is computed over everything added, as in one call.
    cider.add_batch(predictions=predictions[:2], references=references[:2])
    cider.add_batch(predictions=predictions[2:], references=references[2:])
    assert cider.compute()["cider_d"] == pytest.approx(EXPECTED["mixed5"]["cider_d"], rel=1e-12)
    suite = evaluate.load(metric_module_path("coco_caption")).compute(predictions=predictions, references=references)
    assert sorted(suite) == ["bleu_1", "bleu_2", "bleu_3", "bleu_4", "cider_d", "rouge_l"]
    assert suite["bleu_4"] == pytest.approx(EXPECTED["mixed5"]["bleu"][3], rel=1e-12)
    single = evaluate.load(metric_module_path("bleu")).compute(predictions=["a dog barks"], references=["a dog"])
    assert single == pytest.approx(bleu(["a dog barks"], [["a dog"]]))
    with pytest.raises(MetricUnavailableError, match="meteor-1.5.jar"):
        evaluate.load(metric_module_path("meteor")).compute(
            predictions=["a"], references=[["a"]], meteor_jar=str(tmp_path / "missing.jar")
        )
    with pytest.raises(ValueError, match="unknown metric module 'blue'"):
        metric_module_path("blue")
    assert all(metric_module_path(name).endswith(name) for name in METRIC_MODULES)


def test_bleu_brevity_penalty_uses_closest_reference_length():
    # 4-token prediction; references of 3 and 7 tokens: coco picks 3 (closest) -> no penalty; shortest would also be
    # 3, so add a 5-token one too: |4-3| = |4-5| = 1, ties go to the shorter (3) -> ratio > 1, BP = 1.
    scores = bleu(["a b c d"], [["a b c", "a b c d e", "x y z w v u t"]])
    assert scores["bleu_1"] == pytest.approx(1.0)
    # Closest is now 6 tokens (|4-6| = 2 < |4-1| = 3): BP = exp(1 - 6/4).
    scores = bleu(["a b c d"], [["a", "a b c d e f"]])
    assert scores["bleu_1"] == pytest.approx(math.exp(1 - 6 / 4), rel=1e-6)
