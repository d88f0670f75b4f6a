"""Tests of the codebook interleaving patterns (hf_audiogen.audiogen.codebook_patterns)."""

import pytest
import torch

from hf_audiogen.audiogen.codebook_patterns import DelayPattern

SPECIAL = 99


def test_delay_layout_matches_the_definition():
    # Step s carries frame s - 1 - delay[q] of codebook q; everything else is the special token.
    codes = torch.tensor([[[10, 11, 12], [20, 21, 22], [30, 31, 32]]])
    sequence = DelayPattern([0, 1, 2]).build(codes, SPECIAL)
    expected = torch.tensor(
        [
            [
                [SPECIAL, 10, 11, 12, SPECIAL, SPECIAL],
                [SPECIAL, SPECIAL, 20, 21, 22, SPECIAL],
                [SPECIAL, SPECIAL, SPECIAL, 30, 31, 32],
            ]
        ]
    )
    assert torch.equal(sequence, expected)


def test_parallel_layout_has_one_empty_step():
    codes = torch.tensor([[[1, 2], [3, 4]]])
    pattern = DelayPattern.from_name("parallel", num_codebooks=2)
    assert pattern.delays == [0, 0]
    assert torch.equal(pattern.build(codes, SPECIAL), torch.tensor([[[SPECIAL, 1, 2], [SPECIAL, 3, 4]]]))


@pytest.mark.parametrize("delays", [[0, 1, 2, 3], [0, 0, 0], [0, 2, 1], [1, 3]])
def test_round_trip_codes_and_logits(delays):
    generator = torch.Generator().manual_seed(0)
    pattern = DelayPattern(delays)
    codes = torch.randint(0, 50, (3, len(delays), 7), generator=generator)
    sequence = pattern.build(codes, SPECIAL)
    assert sequence.shape == (3, len(delays), pattern.num_steps(7))

    reverted, valid = pattern.revert_codes(sequence, num_frames=7)
    assert torch.equal(reverted, codes) and valid.all()

    # A perfect model outputs at step s the tokens of step s + 1: one-hot "logits" of the shifted sequence.
    logits = torch.nn.functional.one_hot(sequence[..., 1:], num_classes=SPECIAL + 1).float()
    frame_logits, valid = pattern.revert_logits(logits, num_frames=7)
    assert frame_logits.shape == (3, len(delays), 7, SPECIAL + 1)
    assert valid.all()
    assert torch.equal(frame_logits.argmax(-1), codes)


def test_batched_padding_is_per_sample():
    # A padded second example: its real frames revert exactly as when built alone.
    pattern = DelayPattern([0, 1, 2])
    long = torch.randint(0, 50, (1, 3, 6))
    short = torch.randint(0, 50, (1, 3, 4))
    batch = torch.cat([long, torch.cat([short, torch.zeros(1, 3, 2, dtype=torch.long)], dim=-1)])
    reverted, _ = pattern.revert_codes(pattern.build(batch, SPECIAL), num_frames=6)
    alone, _ = pattern.revert_codes(pattern.build(short, SPECIAL), num_frames=4)
    assert torch.equal(reverted[1, :, :4], alone[0])
    assert torch.equal(
        pattern.build(batch, SPECIAL)[1:, :, : pattern.num_steps(4) - 2],
        pattern.build(short, SPECIAL)[:, :, : pattern.num_steps(4) - 2],
    )


def test_short_sequences_mark_missing_frames_invalid():
    pattern = DelayPattern([0, 1, 2])
    codes = torch.randint(0, 50, (2, 3, 5))
    truncated = pattern.build(codes, SPECIAL)[..., :5]  # steps 0..4 only
    reverted, valid = pattern.revert_codes(truncated, num_frames=5)
    # codebook q has frames 0 .. 3 - q in steps 1 + q .. 4
    assert valid.sum(dim=1).tolist() == [4, 3, 2]
    for q in range(3):
        assert torch.equal(reverted[:, q, : 4 - q], codes[:, q, : 4 - q])


def test_build_into_longer_pattern_and_resume_step():
    pattern = DelayPattern([0, 1])
    prompt = torch.tensor([[[1, 2], [3, 4]]])
    sequence = pattern.build(prompt, SPECIAL, num_steps=pattern.num_steps(5))
    assert sequence.shape[-1] == 7
    assert torch.equal(sequence[0, 0], torch.tensor([SPECIAL, 1, 2, SPECIAL, SPECIAL, SPECIAL, SPECIAL]))
    assert pattern.first_step_of_frame(2) == 3  # frame 2 of codebook 0 is the first unknown slot
    assert DelayPattern([1, 2]).first_step_of_frame(0) == 2


def test_bad_patterns_raise():
    with pytest.raises(ValueError, match="non-negative"):
        DelayPattern([0, -1])
    with pytest.raises(ValueError, match="must be one of"):
        DelayPattern.from_name("flatten", num_codebooks=2)
    with pytest.raises(ValueError, match="one delay per codebook"):
        DelayPattern.from_name("delay", num_codebooks=3, delays=[0, 1])
    with pytest.raises(ValueError, match="num_codebooks=2"):
        DelayPattern([0, 1]).build(torch.zeros(1, 3, 4, dtype=torch.long), SPECIAL)
