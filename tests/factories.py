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
        vocab_size=64,
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=16,
        dropout_rate=0.0,
        feed_forward_proj="relu",
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
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


def tiny_audiogen_config(num_codebooks: int = 2, codebook_size: int = 32, **kwargs):
    """An ``AudioGenConfig`` of a few thousand parameters: ``tiny_t5_config`` text encoder, a 2-filter codec with
    ``num_codebooks`` x ``codebook_size`` codes at 50 Hz (hop 320, 16 kHz), a 2-layer decoder of width 32 and a 1 s
    window. Pass ``decoder={...}`` / ``codec={...}`` to override fields of those sub-configs."""
    from hf_audiogen.audiogen import AudioGenConfig, AudioGenDecoderConfig
    from hf_audiogen.codec import CodecConfig

    codec = CodecConfig(
        sampling_rate=16_000,
        num_filters=2,
        hidden_size=8,
        upsampling_ratios=[8, 5, 4, 2],
        num_lstm_layers=1,
        codebook_size=codebook_size,
        num_quantizers=num_codebooks,
        kmeans_init=False,
        **kwargs.pop("codec", {}),
    )
    decoder = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        ffn_dim=64,
        num_codebooks=num_codebooks,
        codebook_size=codebook_size,
        max_position_embeddings=256,
    )
    preset = dict(
        text_encoder=tiny_t5_config(),
        codec=codec,
        decoder=AudioGenDecoderConfig(**{**decoder, **kwargs.pop("decoder", {})}),
        max_duration=1.0,
    )
    return AudioGenConfig(**{**preset, **kwargs})


def tiny_audiogen_model(seed: int = 0, **config_kwargs):
    """A tiny ``AudioGenForConditionalGeneration`` in eval mode (random weights, ~77k parameters): ``tiny_t5_config``
    text encoder, 2 x 32-code codec at 50 Hz (hop 320, 16 kHz), 2-layer width-32 decoder, 1 s window.
    ``config_kwargs`` go to ``tiny_audiogen_config`` (e.g. ``num_codebooks=3``, ``decoder={...}``)."""
    from hf_audiogen.audiogen import AudioGenForConditionalGeneration

    torch.manual_seed(seed)
    return AudioGenForConditionalGeneration(tiny_audiogen_config(**config_kwargs)).eval()


# --- AudioGen processor, pipeline and training (hf_audiogen.audiogen / hf_audiogen.training.audiogen) -------------
def tiny_audiogen_processor(normalize_text: bool = False):
    """``AudioGenProcessor`` of the tiny models: ``tiny_text_tokenizer`` + a 16 kHz mono ``CodecFeatureExtractor``."""
    from hf_audiogen.audiogen import AudioGenProcessor
    from hf_audiogen.codec import CodecFeatureExtractor

    return AudioGenProcessor(
        CodecFeatureExtractor(sampling_rate=16_000), tiny_text_tokenizer(), normalize_text=normalize_text
    )


def tiny_audiogen_pipeline_dir(path, seed: int = 0, **config_kwargs):
    """Write a complete tiny AudioGen directory (model, generation config, tokenizer, processor) to ``path`` — what
    ``AudioGenPipeline.from_pretrained`` and ``pipeline("text-to-audio", model=path)`` load. Returns ``path``.

    The codec gets k-means-initialised codebooks (``tiny_codec_model``) so that encoding audio prompts gives varied
    codes; ``config_kwargs`` go to ``tiny_audiogen_config``."""
    from hf_audiogen.audiogen import AudioGenForConditionalGeneration

    codec = tiny_codec_model(seed=seed, num_quantizers=config_kwargs.get("num_codebooks", 2))
    torch.manual_seed(seed)
    config = tiny_audiogen_config(**config_kwargs)
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
    defaults = dict(
        block_out_channels=(16, 16, 32), layers_per_block=1, z_channels=8, latent_channels=8, norm_num_groups=4
    )
    return AutoencoderKL1D(**{**defaults, **kwargs}).eval()


# A FiT of ~80k parameters: 8 latent channels, up to 64 frames in groups of 8 frames, 2 FiT blocks + the local tail,
# 24-dim text embedding, 4 dataset ids.
TINY_FIT_CONFIG = dict(
    in_channels=8,
    sample_size=64,
    patch_size=2,
    group_size=4,
    num_latents=16,
    hidden_size=32,
    latent_hidden_size=48,
    context_dim=40,
    num_blocks=2,
    local_layers_per_block=1,
    global_layers_per_block=1,
    num_attention_heads=4,
    attention_head_dim=8,
    text_embed_dim=24,
    num_dataset_ids=4,
    time_embed_dim=8,
    dataset_names=["audiocaps", "clotho", "other", "unused"],
)


def tiny_genau_fit(seed: int = 0, **overrides):
    """A tiny ``FiTTransformer1DModel`` (``TINY_FIT_CONFIG`` with ``overrides``), eval mode."""
    from hf_audiogen.genau import FiTTransformer1DModel

    torch.manual_seed(seed)
    return FiTTransformer1DModel(**{**TINY_FIT_CONFIG, **overrides}).eval()


@pytest.fixture
def tiny_fit_preset(monkeypatch):
    """``train_genau --fit_preset tiny``: ``TINY_FIT_CONFIG``, for the duration of a test (the library's presets are
    the real sizes only)."""
    from hf_audiogen.genau import FIT_PRESETS

    monkeypatch.setitem(FIT_PRESETS, "tiny", TINY_FIT_CONFIG)


def tiny_genau_vocoder(seed: int = 0):
    """A tiny GenAU HiFi-GAN (``SpeechT5HifiGan`` with the GenAU rates 5·4·2·2·2 = hop 160, width 32), eval mode."""
    from transformers import SpeechT5HifiGan

    from hf_audiogen.genau import genau_vocoder_config

    torch.manual_seed(seed)
    return SpeechT5HifiGan(genau_vocoder_config(upsample_initial_channel=32)).eval()


def tiny_genau_pipeline(seed: int = 0, **fit_overrides):
    """A tiny ``GenAUPipeline``: random CLAP text branch (8-dim projection) + random T5 encoder (width 16) with the
    tiny word-level tokenizer, ``tiny_genau_fit`` (text_embed_dim 24 = 8 + 16), ``tiny_genau_vae``,
    ``tiny_genau_vocoder`` and the reference DDIM. Longest audio: 64 latent frames = 2.56 s."""
    from transformers import ClapTextConfig, ClapTextModelWithProjection, T5EncoderModel

    from hf_audiogen.genau import GenAUPipeline, genau_ddim_scheduler

    torch.manual_seed(seed)
    clap_config = ClapTextConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        projection_dim=8,
        pad_token_id=0,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    clap = ClapTextModelWithProjection(clap_config).eval()
    t5 = T5EncoderModel(tiny_t5_config()).eval()
    return GenAUPipeline(
        vae=tiny_genau_vae(seed),
        transformer=tiny_genau_fit(seed, **fit_overrides),
        scheduler=genau_ddim_scheduler(),
        vocoder=tiny_genau_vocoder(seed),
        text_encoder=clap,
        tokenizer=tiny_text_tokenizer(),
        text_encoder_2=t5,
        tokenizer_2=tiny_text_tokenizer(),
    )


# --- AutoCap captioning model (hf_audiogen.autocap) ----------------------------------------------------------------
TINY_CAPTIONS = [
    "a dog barks in the park",
    "rain falls on a tin roof",
    "a man speaks while birds chirp",
    "a car passes by on a wet road",
    "thunder rumbles in the distance",
    "people talk and laugh in a busy cafe",
]


def tiny_bart_tokenizer(vocab_size: int = 300):
    """A byte-level BPE ``BartTokenizer`` (BART's class and special-token layout: ``<s>`` 0, ``<pad>`` 1, ``</s>`` 2,
    ``<unk>`` 3, ``<mask>`` 4) trained on ``TINY_CAPTIONS`` to ``vocab_size`` entries (= ``tiny_autocap_config``)."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BartTokenizer

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(TINY_CAPTIONS * 4 + TINY_TEXT_SENTENCES, trainer)
    model = json.loads(tokenizer.to_str())["model"]
    return BartTokenizer(vocab=model["vocab"], merges=[tuple(merge) for merge in model["merges"]])


def tiny_autocap_feature_extractor(**kwargs):
    """AutoCap's front-end scaled down to 1 s clips: 16 mel bins, 16 kHz / hop 160 (HTSAT) and 24 kHz / hop 240 (CLAP),
    101 frames each (what ``tiny_autocap_config``'s Swin towers take)."""
    from hf_audiogen.autocap import AutoCapFeatureExtractor

    defaults = dict(
        feature_size=16,
        sampling_rate=16000,
        hop_length=160,
        n_fft=256,
        frequency_min=50.0,
        frequency_max=7000.0,
        max_length_s=1.0,
        clap_sampling_rate=24000,
        clap_feature_size=16,
        clap_hop_length=240,
        clap_n_fft=256,
        clap_frequency_min=50.0,
        clap_frequency_max=10000.0,
    )
    return AutoCapFeatureExtractor(**{**defaults, **kwargs})


def tiny_autocap_processor(**kwargs):
    """``AutoCapProcessor`` with the tiny feature extractor and tokenizer (tag ids 300-311)."""
    from hf_audiogen.autocap import AutoCapProcessor

    return AutoCapProcessor(tiny_autocap_feature_extractor(), tiny_bart_tokenizer(), **kwargs)


def tiny_autocap_config(**kwargs):
    """An ``AutoCapConfig`` of ~30k parameters: 2-stage Swin towers (width 16) on 16 mel bins, 8 queries, a 1+1-layer
    BART of width 16 (vocabulary 300, as ``tiny_bart_tokenizer``). Pass ``audio_config={...}`` etc. to override
    fields of the sub-configs."""
    from transformers import AutoConfig, Blip2QFormerConfig, ClapAudioConfig

    from hf_audiogen.autocap import AutoCapConfig

    swin = dict(
        spec_size=64,
        num_mel_bins=16,
        patch_size=4,
        patch_stride=[4, 4],
        window_size=4,
        depths=[1, 1],
        num_attention_heads=[1, 2],
        patch_embeds_hidden_size=8,
        hidden_size=16,
        enable_fusion=False,
    )
    qformer = dict(
        hidden_size=16,
        num_attention_heads=2,
        num_hidden_layers=1,
        intermediate_size=32,
        cross_attention_frequency=1,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    bart = dict(
        vocab_size=300,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=64,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_eos_token_id=2,
    )
    preset = dict(
        audio_config=ClapAudioConfig(**{**swin, **kwargs.pop("audio_config", {})}),
        clap_config=ClapAudioConfig(**{**swin, "projection_dim": 12, **kwargs.pop("clap_config", {})}),
        qformer_config=Blip2QFormerConfig(**{**qformer, **kwargs.pop("qformer_config", {})}),
        text_config=AutoConfig.for_model("bart", **{**bart, **kwargs.pop("text_config", {})}),
        num_query_tokens=8,
        audio_frame_repeat=1,
        max_audio_positions=64,
        audio_dropout=0.0,
        metadata_dropout=0.0,
    )
    return AutoCapConfig(**{**preset, **kwargs})


def tiny_autocap_model(seed: int = 0, **config_kwargs):
    """A tiny ``AutoCapForConditionalGeneration`` (eval mode, random weights, ~29k parameters) matching
    ``tiny_autocap_processor``; ``config_kwargs`` go to ``tiny_autocap_config``."""
    from hf_audiogen.autocap import AutoCapForConditionalGeneration

    torch.manual_seed(seed)
    return AutoCapForConditionalGeneration(tiny_autocap_config(**config_kwargs)).eval()


@pytest.fixture
def tiny_autocap_training_preset(monkeypatch):
    """``train_autocap --model_preset tiny``: ``tiny_autocap_config`` with ``tiny_autocap_feature_extractor``, for
    the duration of a test (the library's presets are the real sizes only)."""
    from hf_audiogen.training import autocap

    def tiny(text_config: dict, **overrides):
        return tiny_autocap_config(text_config=text_config, **overrides), tiny_autocap_feature_extractor()

    monkeypatch.setitem(autocap.MODEL_PRESETS, "tiny", tiny)


def register_autocap_auto_classes():
    """Register AutoCap with the transformers Auto* classes (idempotent) until ``hf_audiogen.registration`` does it."""
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoProcessor

    from hf_audiogen.autocap import (
        AutoCapConfig,
        AutoCapFeatureExtractor,
        AutoCapForConditionalGeneration,
        AutoCapProcessor,
    )

    AutoConfig.register(AutoCapConfig.model_type, AutoCapConfig, exist_ok=True)
    AutoModel.register(AutoCapConfig, AutoCapForConditionalGeneration, exist_ok=True)
    AutoFeatureExtractor.register(AutoCapConfig, AutoCapFeatureExtractor, exist_ok=True)
    AutoProcessor.register(AutoCapConfig, AutoCapProcessor, exist_ok=True)

    from transformers.pipelines import PIPELINE_REGISTRY

    from hf_audiogen.autocap import PIPELINE_TASK, AutoCapPipeline

    if PIPELINE_TASK not in PIPELINE_REGISTRY.get_supported_tasks():
        PIPELINE_REGISTRY.register_pipeline(
            PIPELINE_TASK, pipeline_class=AutoCapPipeline, pt_model=AutoModel, type="multimodal"
        )


# --- GenAU CLAP re-ranking and conversion (hf_audiogen.genau) -------------------------------------------------------
def tiny_clap_scorer(seed: int = 0):
    """A tiny audio-text ``ClapModel`` (eval mode, ~10k parameters, 8-dim joint space) and its ``ClapProcessor``: a
    48 kHz ``ClapFeatureExtractor`` with 16 mel bins and 1 s clips (``rand_trunc`` + repeat-padding, the unfused laion
    CLAP layout) and ``tiny_text_tokenizer``. For ``GenAUPipeline(clap_model=..., clap_processor=...)``."""
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    text_config = dict(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        pad_token_id=0,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    audio_config = dict(
        spec_size=64,
        window_size=4,
        num_mel_bins=16,
        intermediate_size=16,
        depths=[1, 1],
        num_attention_heads=[2, 2],
        num_hidden_layers=2,
        hidden_size=16,
        patch_embeds_hidden_size=8,
        patch_stride=2,
        patch_embed_input_channels=1,
        enable_fusion=False,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(seed)
    model = ClapModel(ClapConfig(text_config=text_config, audio_config=audio_config, projection_dim=8)).eval()
    feature_extractor = ClapFeatureExtractor(
        feature_size=16, sampling_rate=48000, max_length_s=1, truncation="rand_trunc"
    )
    return model, ClapProcessor(feature_extractor=feature_extractor, tokenizer=tiny_text_tokenizer())


# --- GenAU diffusion training (hf_audiogen.training.genau) --------------------------------------------------------
def tiny_genau_training_pieces(path, seed: int = 0):
    """What ``train_genau --vae ... --vocoder ... --text_encoder ... --text_encoder_2 ...`` loads, saved under
    ``path`` from ``tiny_genau_pipeline``'s components: ``vae/`` (8 latent channels, x4), ``vocoder/`` (hop 160),
    ``text_encoder/`` (CLAP text, 8 features) and ``text_encoder_2/`` (T5, 16 features), each text encoder with the
    tiny word-level tokenizer. Returns a dict of the four directories."""
    from pathlib import Path

    pipe = tiny_genau_pipeline(seed)
    path = Path(path)
    dirs = {name: path / name for name in ("vae", "vocoder", "text_encoder", "text_encoder_2")}
    pipe.vae.save_pretrained(dirs["vae"])
    pipe.vocoder.save_pretrained(dirs["vocoder"])
    for encoder, tokenizer in (("text_encoder", "tokenizer"), ("text_encoder_2", "tokenizer_2")):
        getattr(pipe, encoder).save_pretrained(dirs[encoder])
        getattr(pipe, tokenizer).save_pretrained(dirs[encoder])
    return dirs


# --- Audio-Journey (hf_audiogen.audio_journey) ---------------------------------------------------------------------
def tiny_audio_journey_unet(seed: int = 0, latent_channels: int = 8, text_width: int = 16):
    """A 2-level UNet2DConditionModel with ``latent_channels`` in/out channels and the text projection adapter."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=4,
        in_channels=latent_channels,
        out_channels=latent_channels,
        block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=1,
        cross_attention_dim=16,
        attention_head_dim=4,
        norm_num_groups=8,
        encoder_hid_dim=text_width,
        encoder_hid_dim_type="text_proj",
    ).eval()


def tiny_audio_journey_pipeline(seed: int = 0, text_attention_mask: bool = False, normalized: bool = True):
    """Tiny codec (D = 8, 50 Hz) + random 2-layer T5 encoder (width 16, 8 tokens) + tiny U-Net, PNDM."""
    from transformers import T5EncoderModel

    from hf_audiogen.audio_journey import AudioJourneyConfig, AudioJourneyPipeline, audio_journey_scheduler

    codec = tiny_codec_model(seed)
    torch.manual_seed(seed)
    text_encoder = T5EncoderModel(tiny_t5_config()).eval()
    generator = torch.Generator().manual_seed(seed)
    stats = {}
    if normalized:
        stats = dict(
            latent_mean=(0.1 * torch.randn(8, generator=generator)).tolist(),
            latent_std=(0.5 + torch.rand(8, generator=generator)).tolist(),
        )
    config = AudioJourneyConfig(
        latent_channels=8,
        image_width=4,
        size_multiple=2,
        max_text_length=8,
        text_attention_mask=text_attention_mask,
        default_audio_length_in_s=0.3,
        **stats,
    )
    return AudioJourneyPipeline(
        unet=tiny_audio_journey_unet(seed),
        scheduler=audio_journey_scheduler(),
        codec=codec,
        text_encoder=text_encoder,
        tokenizer=tiny_text_tokenizer(),
        latent_config=config.to_dict(),
    )
