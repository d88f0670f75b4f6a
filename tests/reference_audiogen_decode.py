"""The AudioGen decode loop before its pre-allocated cache, kept once: tests/audiogen/test_audiogen_decode_speed.py
checks the new loop against it and benchmarks/generation_speed.py times both in one run."""

import torch
from transformers.cache_utils import DynamicCache, EncoderDecoderCache

from hf_audiogen.audiogen.modeling_audiogen import _UNKNOWN_TOKEN, sample_next_tokens


def dynamic_cache_window(self, condition, prompt, num_frames, params, use_guidance, generator, use_cache, bar):
    """``AudioGenForConditionalGeneration._generate_window`` as it was before ``AudioGenDecodeCache`` (transformers'
    ``DynamicCache``): the reference its replacement must equal code for code, and the baseline it is timed against."""
    states, cross_mask = condition
    batch_size, num_codebooks, prompt_frames = prompt.shape
    codes = prompt.new_full((batch_size, num_codebooks, num_frames), _UNKNOWN_TOKEN)
    codes[..., :prompt_frames] = prompt
    sequence = self.pattern.build(codes, self.config.decoder.special_token_id)
    config = self.config.decoder
    cache = EncoderDecoderCache(DynamicCache(config=config), DynamicCache(config=config))
    fed = 0
    for step in range(self.pattern.first_step_of_frame(prompt_frames), sequence.shape[-1]):
        inputs = sequence[..., fed:step]
        if use_guidance:
            inputs = torch.cat([inputs, inputs])
        logits = self.decoder(inputs, states, encoder_attention_mask=cross_mask, past_key_values=cache)[:, :, -1]
        if use_guidance:
            cond_logits, uncond_logits = logits.float().chunk(2)
            logits = uncond_logits + (cond_logits - uncond_logits) * params["guidance_scale"]
        tokens = sample_next_tokens(
            logits, params["do_sample"], params["temperature"], params["top_k"], params["top_p"], generator
        )
        current = sequence[..., step]
        sequence[..., step] = torch.where(current == _UNKNOWN_TOKEN, tokens, current)
        fed = step
    return self.pattern.revert_codes(sequence, num_frames)[0]
