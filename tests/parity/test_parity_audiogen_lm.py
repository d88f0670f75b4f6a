"""LM parity: audiocraft's AudioGen ``LMModel`` (audiogen_lm.yaml flags, tiny, with a local random T5 standing in for
t5-large) vs ``AudioGenForConditionalGeneration`` produced by our converter from exported checkpoint files.

Both sides run the whole conditioning path: tokenizer -> T5 -> ``output_proj`` -> mask -> cross-attention.
"""

import pytest
import torch
from audiocraft_oracle import (
    PROMPT_WORDS,
    build_audiocraft_lm,
    export_package,
    import_audiocraft,
    tiny_audiogen_lm_cfg,
    tiny_encodec_cfg,
    tiny_t5_encoder,
    tiny_t5_tokenizer,
)

import_audiocraft()

from audiocraft.models import builders  # noqa: E402
from audiocraft.models.audiogen import AudioGen  # noqa: E402
from audiocraft.modules.conditioners import ConditioningAttributes  # noqa: E402

from hf_audiogen.audiogen.convert_audiocraft import convert_audiocraft_checkpoint  # noqa: E402

pytestmark = pytest.mark.parity

# Prompts of different lengths (padding in the batch) and one empty prompt (the null condition on both sides).
PROMPTS = ["a dog barks", "rain falls on metal roof while wind howls", "", "footsteps in the snow"]


@pytest.fixture(scope="module")
def text_encoder_dir(tmp_path_factory):
    tokenizer = tiny_t5_tokenizer()
    t5 = tiny_t5_encoder(vocab_size=len(tokenizer))
    path = tmp_path_factory.mktemp("t5")
    t5.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path, tokenizer, t5


@pytest.fixture(scope="module")
def reference_codec():
    torch.manual_seed(0)
    cfg = tiny_encodec_cfg(n_q=2, bins=32)
    codec = builders.get_compression_model(cfg).train()
    with torch.no_grad():  # k-means initialisation of the codebooks
        codec(0.1 * torch.randn(4, 1, 8000, generator=torch.Generator().manual_seed(1)))
    return codec.eval(), cfg


def _convert(tmp_path_factory, text_encoder_dir, reference_codec, **cfg_kwargs):
    """(audiocraft LM, our converted model, our save_pretrained dir) for one tiny config."""
    path, tokenizer, t5 = text_encoder_dir
    codec, codec_cfg = reference_codec
    cfg = tiny_audiogen_lm_cfg(**cfg_kwargs)
    reference = build_audiocraft_lm(cfg, tokenizer, t5)
    files = tmp_path_factory.mktemp("audiocraft")
    torch.save(export_package(reference, cfg), files / "state_dict.bin")
    torch.save(export_package(codec, codec_cfg), files / "compression_state_dict.bin")
    out_dir = tmp_path_factory.mktemp("converted")
    ours = convert_audiocraft_checkpoint(
        files / "state_dict.bin", files / "compression_state_dict.bin", text_encoder=str(path), out_dir=out_dir
    )
    return reference, ours, out_dir


@pytest.fixture(scope="module")
def delay_models(tmp_path_factory, text_encoder_dir, reference_codec):
    return _convert(tmp_path_factory, text_encoder_dir, reference_codec)


def _conditions(prompts):
    """audiocraft's conditions: an empty prompt is a missing description (what its CFG dropout produces)."""
    return [ConditioningAttributes(text={"description": prompt or None}) for prompt in prompts]


def _tokenize(tokenizer, prompts):
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    # Our convention for "no text": an all-zero mask (the processor / pipeline do the same for "").
    empty = torch.tensor([prompt == "" for prompt in prompts])
    batch["attention_mask"][empty] = 0
    return batch


def test_converted_config(delay_models):
    reference, ours, _ = delay_models
    config = ours.config
    decoder = config.decoder
    assert (decoder.hidden_size, decoder.num_hidden_layers, decoder.num_attention_heads) == (64, 2, 2)
    assert (config.decoder.num_codebooks, config.decoder.codebook_size) == (reference.num_codebooks, reference.card)
    assert config.decoder.codebook_delays == [0, 1] and config.decoder.cross_attention_mask is False
    assert (config.decoder.bias_attn, config.decoder.bias_ff, config.decoder.bias_proj) == (False, False, False)
    assert ours.generation_config.guidance_scale == reference.cfg_coef == 3.0
    assert ours.generation_config.top_k == 250 and ours.generation_config.do_sample is True
    assert config.max_duration == 1.0 and config.frame_rate == 50


@pytest.mark.parametrize(
    "cfg_kwargs",
    [{}, {"bias": True}, {"modeling": "parallel", "delays": (0, 0)}, {"n_q": 3, "delays": (0, 2, 3), "card": 16}],
    ids=["delay", "biases", "parallel", "delay-023"],
)
@torch.no_grad()
def test_teacher_forced_logits_match(tmp_path_factory, text_encoder_dir, reference_codec, cfg_kwargs):
    if cfg_kwargs.get("n_q", 2) != 2:
        # A codec with the LM's number of codebooks and size.
        torch.manual_seed(0)
        codec_cfg = tiny_encodec_cfg(n_q=cfg_kwargs["n_q"], bins=cfg_kwargs["card"])
        codec = builders.get_compression_model(codec_cfg).train()
        codec(0.1 * torch.randn(2, 1, 8000))
        reference_codec = (codec.eval(), codec_cfg)
    reference, ours, _ = _convert(tmp_path_factory, text_encoder_dir, reference_codec, **cfg_kwargs)
    tokenizer = text_encoder_dir[1]
    n_q, card = reference.num_codebooks, reference.card
    codes = torch.randint(0, card, (len(PROMPTS), n_q, 23), generator=torch.Generator().manual_seed(3))

    expected = reference.compute_predictions(codes, _conditions(PROMPTS))
    batch = _tokenize(tokenizer, PROMPTS)
    actual = ours(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], audio_codes=codes)

    assert actual.logits.shape == expected.logits.shape == (len(PROMPTS), n_q, 23, card)
    mask = expected.mask
    assert mask.sum() > 0.8 * mask.numel()
    torch.testing.assert_close(actual.logits[mask], expected.logits[mask], atol=1e-5, rtol=0)

    # Which logits count. audiocraft feeds only the pattern's "valid" steps (keep_only_valid_steps=True), so the last
    # delays[q] frames of codebook q get no logit (NaN, mask False) and stay out of its training loss; we feed every
    # step but the last, so those frames have logits too. Everything audiocraft marks valid we mark valid.
    delays = ours.config.decoder.codebook_delays
    audiocraft_rule = torch.stack([torch.arange(23) < 23 - delay for delay in delays])
    assert torch.equal(expected.mask, audiocraft_rule[None].expand_as(expected.mask))
    assert torch.equal(actual.logits_mask, torch.ones_like(actual.logits_mask))

    # audiocraft's training loss (CE over its valid positions, averaged over codebooks) from our logits: giving the
    # frames audiocraft leaves out the label -100 reproduces it.
    cross_entropy = torch.nn.functional.cross_entropy
    expected_loss = torch.stack(
        [cross_entropy(expected.logits[:, q][mask[:, q]], codes[:, q][mask[:, q]]) for q in range(n_q)]
    ).mean()
    labels = codes.masked_fill(~mask, -100)
    text = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    loss = ours(**text, audio_codes=codes, labels=labels).loss
    torch.testing.assert_close(loss, expected_loss, atol=1e-5, rtol=0)


@torch.no_grad()
def test_greedy_generation_with_guidance_matches(delay_models, text_encoder_dir):
    reference, ours, _ = delay_models
    tokenizer = text_encoder_dir[1]
    frames = 30
    expected = reference.generate(None, _conditions(PROMPTS), max_gen_len=frames, use_sampling=False, cfg_coef=3.0)
    batch = _tokenize(tokenizer, PROMPTS)
    output = ours.generate(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        max_new_frames=frames,
        do_sample=False,
        guidance_scale=3.0,
        return_dict_in_generate=True,
        progress_bar=False,
    )
    assert output.audio_codes.shape == expected.shape == (len(PROMPTS), 2, frames)
    assert len(torch.unique(expected)) > 4, "degenerate greedy codes would make the comparison weak"
    assert torch.equal(output.audio_codes, expected)


@torch.no_grad()
def test_top_k_sampling_with_same_seed_matches(delay_models, text_encoder_dir):
    reference, ours, _ = delay_models
    tokenizer = text_encoder_dir[1]
    torch.manual_seed(1234)
    expected = reference.generate(None, _conditions(PROMPTS), max_gen_len=25, use_sampling=True, top_k=8, cfg_coef=3.0)
    batch = _tokenize(tokenizer, PROMPTS)
    actual = ours.generate(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        max_new_frames=25,
        do_sample=True,
        top_k=8,
        top_p=1.0,
        guidance_scale=3.0,
        seed=1234,
        return_dict_in_generate=True,
        progress_bar=False,
    ).audio_codes
    assert torch.equal(actual, expected)


@torch.no_grad()
def test_audiogen_api_audio_matches_saved_and_reloaded_model(delay_models, text_encoder_dir, reference_codec):
    """End to end: audiocraft's ``AudioGen.generate`` (text -> codes -> EnCodec audio) vs our model loaded back from
    the converter's ``save_pretrained`` directory, greedy with guidance."""
    from hf_audiogen.audiogen import AudioGenForConditionalGeneration
    from hf_audiogen.audiogen.processing_audiogen import AudioGenProcessor

    reference_lm, _, out_dir = delay_models
    # AudioGen.__init__ checks its default 2 s stride against max_duration; 0.4 s of audio is one window either way.
    audiogen = AudioGen("tiny-parity", reference_codec[0], reference_lm, max_duration=3.0)
    audiogen.set_generation_params(use_sampling=False, duration=0.4, cfg_coef=3.0, extend_stride=0.5)
    prompts = [p for p in PROMPTS if p]  # AudioGen.generate takes real descriptions
    expected = audiogen.generate(prompts, progress=False)

    model = AudioGenForConditionalGeneration.from_pretrained(out_dir).eval()
    processor = AudioGenProcessor.from_pretrained(out_dir)
    inputs = processor(text=prompts, return_tensors="pt")
    actual = model.generate(**inputs, duration=0.4, do_sample=False, guidance_scale=3.0, progress_bar=False)
    assert actual.shape == expected.shape == (3, 1, 20 * 320)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)


def test_prompt_words_cover_the_prompts():
    # Guards the fixture itself: an unknown word would map both sides to <unk> and weaken the comparison.
    assert {word for prompt in PROMPTS for word in prompt.split()} <= set(PROMPT_WORDS)
