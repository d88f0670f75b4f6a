"""Tiny-model factories shared by the tests (one place to build small, fast, seeded models).

Each family appends its own functions below; keep them fast (well under a second on one CPU core).
"""

import pytest
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


@pytest.fixture
def one_torch_thread():
    """Run a test on one torch thread: on this shared 2-core box, two OpenMP threads competing with other jobs made a
    2 s training test take 55 s. Use with ``from factories import one_torch_thread`` and
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- AudioGen processor, pipeline and training (hf_audiogen.audiogen / hf_audiogen.training.audiogen) -------------
def tiny_audiogen_processor(normalize_text: bool = False):
    """``AudioGenProcessor`` of the tiny models: ``tiny_text_tokenizer`` + a 16 kHz mono ``CodecFeatureExtractor``."""
    from hf_audiogen.audiogen import AudioGenProcessor
    from hf_audiogen.codec import CodecFeatureExtractor

    return AudioGenProcessor(CodecFeatureExtractor(sampling_rate=16_000), tiny_text_tokenizer(),
                             normalize_text=normalize_text)  # fmt: skip


def tiny_audiogen_pipeline_dir(path, seed: int = 0, **config_kwargs):
    """Write a complete tiny AudioGen directory (model, generation config, tokenizer, processor) to ``path`` — what
    ``AudioGenPipeline.from_pretrained`` and ``pipeline("text-to-audio", model=path)`` load. Returns ``path``.

    The codec gets k-means-initialised codebooks (``tiny_codec_model``) so that encoding audio prompts gives varied
    codes; ``config_kwargs`` go to ``AudioGenConfig.tiny``."""
    from hf_audiogen.audiogen import AudioGenConfig, AudioGenForConditionalGeneration

    codec = tiny_codec_model(seed=seed, num_quantizers=config_kwargs.get("num_codebooks", 2))
    torch.manual_seed(seed)
    config = AudioGenConfig.tiny(**{"text_encoder": tiny_t5_config(), **config_kwargs})
    model = AudioGenForConditionalGeneration(config, codec=codec).eval()
    model.save_pretrained(path)
    tiny_audiogen_processor().save_pretrained(path)
    return path


def tiny_audiogen_training_pieces(path):
    """The pieces ``train_audiogen --codec ... --text_encoder ...`` assembles, saved under ``path``: ``codec/`` (a
    tiny trained-looking codec, 2 x 32 codes at 50 Hz) and ``text_encoder/`` (tiny T5 + tokenizer).
    Returns ``(codec_dir, text_encoder_dir)``."""
    from pathlib import Path

    from transformers import T5EncoderModel

    path = Path(path)
    tiny_codec_model(num_quantizers=2).save_pretrained(path / "codec")
    torch.manual_seed(0)
    T5EncoderModel(tiny_t5_config()).save_pretrained(path / "text_encoder")
    tiny_text_tokenizer().save_pretrained(path / "text_encoder")
    return path / "codec", path / "text_encoder"


# --- GenAU (hf_audiogen.genau) -------------------------------------------------------------------------------------
def tiny_genau_vae(seed: int = 0, **kwargs):
    """A tiny ``AutoencoderKL1D`` (64 mel bins -> 8 latent channels, x4 in time, ~60k parameters), eval mode."""
    from hf_audiogen.genau import AutoencoderKL1D

    torch.manual_seed(seed)
    defaults = dict(block_out_channels=(16, 16, 32), layers_per_block=1, z_channels=8, latent_channels=8,
                    norm_num_groups=4)  # fmt: skip
    return AutoencoderKL1D(**{**defaults, **kwargs}).eval()
