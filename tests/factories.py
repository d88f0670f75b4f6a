"""Tiny-model factories shared by the tests (one place to build small, fast, seeded models).

Each family appends its own functions below; keep them fast (well under a second on one CPU core).
"""

import torch


# --- codec (hf_audiogen.codec) -------------------------------------------------------------------------------------
def tiny_codec_config(**kwargs):
    """A codec config small enough for millisecond forward passes: 16 kHz, hop 320 (50 Hz), 3 x 32 codes of dim 8.

    Architecture flags are the audiocraft AudioGen ones (non-causal, constant padding, weight norm, true skip,
    2 LSTM layers), so parity tests exercise the real code paths.
    """
    from hf_audiogen.codec import CodecConfig

    defaults = dict(num_filters=2, hidden_size=8, codebook_size=32, num_quantizers=3, kmeans_iters=3)
    return CodecConfig.audiocraft_audiogen_16khz(**{**defaults, **kwargs})


def tiny_codec_model(seed: int = 0, **config_kwargs):
    """A tiny ``CodecModel`` (eval mode) whose codebooks were k-means initialised on a few random batches, so that
    ``encode`` gives varied codes."""
    from hf_audiogen.codec import CodecModel

    torch.manual_seed(seed)
    model = CodecModel(tiny_codec_config(**config_kwargs)).train()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(2):
        model(0.1 * torch.randn(2, 1, 3200, generator=generator), num_quantizers=model.config.num_quantizers)
    return model.eval()


# --- AudioGen language model (hf_audiogen.audiogen) ----------------------------------------------------------------
TINY_TEXT_SENTENCES = [
    "a dog barks in the park",
    "rain falls on a tin roof",
    "a car passes by on a wet road",
    "birds sing while wind blows through the trees",
    "people talk and laugh in a busy cafe",
    "a door slams and footsteps walk away",
]


def tiny_t5_config(**kwargs):
    """A 2-layer T5 (width 16, vocabulary 64) with random weights: the text encoder of the tiny AudioGen models."""
    from transformers import T5Config

    defaults = dict(
        vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_decoder_layers=2, num_heads=2,
        relative_attention_num_buckets=8, relative_attention_max_distance=16, dropout_rate=0.0,
        feed_forward_proj="relu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )  # fmt: skip
    return T5Config(**{**defaults, **kwargs})


def tiny_text_tokenizer():
    """A word-level tokenizer trained on ``TINY_TEXT_SENTENCES`` (ids < 64): ``<pad>`` = 0, ``</s>`` = 1 (appended,
    as T5 does), ``<unk>`` = 2, right padding."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"], vocab_size=64)
    tokenizer.train_from_iterator(TINY_TEXT_SENTENCES, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", padding_side="right"
    )


def tiny_audiogen_model(seed: int = 0, **config_kwargs):
    """A tiny ``AudioGenForConditionalGeneration`` in eval mode (random weights, ~77k parameters): ``tiny_t5_config``
    text encoder, 2 x 32-code codec at 50 Hz (hop 320, 16 kHz), 2-layer width-32 decoder, 1 s window.
    ``config_kwargs`` go to ``AudioGenConfig.tiny`` (e.g. ``num_codebooks=3``, ``decoder={...}``)."""
    from hf_audiogen.audiogen import AudioGenConfig, AudioGenForConditionalGeneration

    torch.manual_seed(seed)
    config_kwargs.setdefault("text_encoder", tiny_t5_config())
    return AudioGenForConditionalGeneration(AudioGenConfig.tiny(**config_kwargs)).eval()
