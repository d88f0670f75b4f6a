"""The sampling fast path (``AudioGenDecodeCache`` + ``AudioGenDecoder.step``) gives what the slow paths give.

The reference is the loop generation used before: ``decoder.forward`` stepped with transformers'
``EncoderDecoderCache(DynamicCache, DynamicCache)``. Greedy codes identical to audiocraft 1.3.0 (batch 4 with
guidance, i.e. 8 rows per step: the packed-weight path) are pinned by ``tests/parity/test_parity_audiogen_lm.py``.
Speed itself is measured by ``benchmarks/generation_speed.py``, not here.
"""

import copy
import types

import pytest
import torch
import torch.nn.functional as F
from reference_audiogen_decode import dynamic_cache_window
from transformers.cache_utils import DynamicCache, EncoderDecoderCache

from hf_audiogen.audiogen.modeling_audiogen import (
    AudioGenDecodeCache,
    _pack_linear_weights,
)

from factories import tiny_audiogen_model, tiny_text_tokenizer

CARD = 32
HAS_PACKED_GEMM = torch.backends.mkl.is_available() and hasattr(torch.ops.mkl, "_mkl_reorder_linear_weight")


@pytest.fixture(scope="module")
def base_model():
    return tiny_audiogen_model(num_codebooks=3)  # delays [0, 1, 2]


@pytest.fixture
def model(base_model):
    return copy.deepcopy(base_model)


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_text_tokenizer()


def _text(tokenizer, batch_size):
    prompts = ["a dog barks in the park", "rain falls", "wind", "a dog barks"][:batch_size]
    return tokenizer(prompts, padding=True, return_tensors="pt")


def _codes(model, **kwargs):
    return model.generate(progress_bar=False, return_dict_in_generate=True, **kwargs).audio_codes


# 1 prompt x guidance = 2 rows per step (plain GEMM); 3 prompts x guidance = 6 rows (packed weights where MKL is).
@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize(
    "sampling",
    [dict(do_sample=False), dict(do_sample=True, top_k=8, seed=5), dict(do_sample=True, top_k=0, top_p=0.8, seed=6)],
    ids=["greedy", "top-k", "top-p"],
)
def test_generate_equals_dynamic_cache_loop(model, tokenizer, batch_size, sampling):
    """Same codes (greedy, and sampled with a seed: the random draws come in the same order) as the DynamicCache
    loop, with an audio prompt (fed in one prefill step) and past the 1 s window (a second, sliding window)."""
    text = _text(tokenizer, batch_size)
    prompt = torch.randint(0, CARD, (batch_size, 3, 7), generator=torch.Generator().manual_seed(0))
    kwargs = dict(**text, audio_codes=prompt, max_new_frames=60, guidance_scale=3.0, **sampling)
    fast = _codes(model, **kwargs)
    model._generate_window = types.MethodType(dynamic_cache_window, model)
    reference = _codes(model, **kwargs)
    assert fast.shape == (batch_size, 3, 67)
    assert len(torch.unique(fast[..., 7:])) > 4, "degenerate codes would make the comparison weak"
    assert torch.equal(fast, reference)


def test_unguided_and_uncached_generation_agree(model, tokenizer):
    text = _text(tokenizer, 2)
    cached = _codes(model, **text, max_new_frames=15, guidance_scale=1.0, do_sample=False)
    uncached = _codes(model, **text, max_new_frames=15, guidance_scale=1.0, do_sample=False, use_cache=False)
    model._generate_window = types.MethodType(dynamic_cache_window, model)
    reference = _codes(model, **text, max_new_frames=15, guidance_scale=1.0, do_sample=False)
    assert torch.equal(cached, uncached) and torch.equal(cached, reference)


@pytest.mark.parametrize("rows", [2, 6])
def test_step_logits_equal_forward_with_dynamic_cache(model, rows):
    """Decoder level: a 5-step prefill then single steps, with a cross-attention mask that hides text positions."""
    decoder = model.decoder
    states = torch.randn(rows, 4, decoder.config.hidden_size, generator=torch.Generator().manual_seed(1))
    mask = torch.ones(rows, 4, dtype=torch.long)
    mask[0, 2:] = 0
    ids = torch.randint(0, CARD + 1, (rows, 3, 9), generator=torch.Generator().manual_seed(2))
    cache = AudioGenDecodeCache(decoder, states, mask, max_steps=9)
    dynamic = EncoderDecoderCache(DynamicCache(), DynamicCache())
    with torch.no_grad():
        for start, end in [(0, 5), (5, 6), (6, 7), (7, 8), (8, 9)]:
            fast = decoder.step(ids[..., start:end], cache, start)
            slow = decoder(ids[..., start:end], states, encoder_attention_mask=mask, past_key_values=dynamic)
            torch.testing.assert_close(fast, slow[:, :, -1], rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not HAS_PACKED_GEMM, reason="MKL's packed GEMM is not in this torch build")
def test_packed_weights_only_for_plain_linears_and_close_to_linear(model):
    decoder = model.decoder
    hooked = decoder.layers[0].linear1
    hooked.register_forward_hook(lambda module, args, output: output * 2)
    packed = _pack_linear_weights(decoder, rows=6)
    assert hooked not in packed  # a layer with hooks (adapters, offloading, ...) runs its own forward
    assert decoder.layers[0].cross_attention.k_proj not in packed  # used once per window, not per step
    assert len(packed) == 3 + 2 * 8 - 1  # 3 heads + 2 layers x (q, k, v, out, cross q, cross out, linear1, linear2)
    cache = AudioGenDecodeCache(decoder, torch.zeros(6, 1, decoder.config.hidden_size), None, max_steps=2)
    x = torch.randn(6, 1, decoder.config.hidden_size)
    head = decoder.linears[0]
    torch.testing.assert_close(cache.linear(head, x), F.linear(x, head.weight, head.bias), rtol=1e-5, atol=1e-5)
    assert torch.equal(cache.linear(hooked, x), hooked(x))
    small = AudioGenDecodeCache(decoder, torch.zeros(2, 1, decoder.config.hidden_size), None, max_steps=2)
    assert small.packed == {}  # 2 rows: the plain GEMM is as fast
