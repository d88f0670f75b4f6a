"""The reference AutoCap checkpoint layout (LAION-CLAP HTSAT + Q-Former + BART names) built from our tiny models, shared by the converter and bad-input tests."""

import torch

from hf_audiogen.autocap import (
    TAG_TOKENS,
    AutoCapConfig,
    AutoCapForConditionalGeneration,
)

FRAMES, MELS = 101, 16  # tiny_autocap_feature_extractor: 1 s clips

TINY = dict(
    audio_config={"depths": [1, 2]},
    clap_config={"depths": [1, 2]},
    text_config={"d_model": 64, "encoder_attention_heads": 1, "decoder_attention_heads": 1},
    audio_frame_repeat=32,
    max_audio_positions=1026,
)


SWIN_NAMES = [  # ours -> reference (HTSAT_Swin_Transformer / LAION-CLAP audio_branch); order matters
    ("layernorm_before.", "norm1."),
    ("layernorm_after.", "norm2."),
    ("attention.output.dense.", "attn.proj."),
    ("attention.self.relative_position", "attn.relative_position"),
    ("intermediate.dense.", "mlp.fc1."),
    ("output.dense.", "mlp.fc2."),
    ("batch_norm.", "bn0."),
]


def _swin_to_reference(own: dict, source: str, target: str, config, front_end: dict) -> dict:
    """A transformers ClapAudioEncoder under ``source`` as the reference HTSAT under ``target``, with the buffers and
    modules the reference has and the port drops."""
    state = {}
    for key, value in own.items():
        if not key.startswith(source):
            continue
        rest = key.removeprefix(source)
        if ".attention.self.query." in rest:
            kind = rest.rsplit(".", 1)[1]
            qkv = [own[key.replace(".query.", f".{name}.")] for name in ("query", "key", "value")]
            state[target + rest.split("attention.self.")[0] + f"attn.qkv.{kind}"] = torch.cat(qkv)
            continue
        if ".attention.self.key." in rest or ".attention.self.value." in rest:
            continue
        for ours, theirs in SWIN_NAMES:
            rest = rest.replace(ours, theirs)
        state[target + rest] = value.clone()
    # shifted blocks keep their window mask: (windows, window**2, window**2)
    window, grid = config.window_size, config.spec_size // config.patch_stride[0]
    for stage, depth in enumerate(config.depths):
        side = grid // 2**stage
        for block in range(1, depth, 2):
            if side > window:
                state[f"{target}layers.{stage}.blocks.{block}.attn_mask"] = torch.zeros(
                    (side // window) ** 2, window**2, window**2
                )
    state.update({target + key: value for key, value in front_end.items()})
    state[target + "tscam_conv.weight"] = torch.randn(527, config.hidden_size, 2, 3)
    state[target + "tscam_conv.bias"] = torch.randn(527)
    state[target + "head.weight"], state[target + "head.bias"] = torch.randn(527, 527), torch.randn(527)
    return state


def reference_state_dict(model: AutoCapForConditionalGeneration) -> dict:
    """``model`` under the reference AutoCap LightningModule's state-dict names."""
    own = model.state_dict()
    config = model.config
    n_fft = 16
    state = _swin_to_reference(
        own,
        "audio_encoder.audio_encoder.",
        "encoder.audio_enc.",
        config.audio_config,
        {
            "audio_feats_extractor.mel_trans.stft.conv_real.weight": torch.randn(n_fft // 2 + 1, 1, n_fft),
            "audio_feats_extractor.mel_trans.stft.conv_imag.weight": torch.randn(n_fft // 2 + 1, 1, n_fft),
            "audio_feats_extractor.log_trans.melW": torch.randn(n_fft // 2 + 1, MELS),
        },
    )
    renames = {
        "audio_projection.": "enc_to_dec_proj.",
        "audio_layernorm.": "audio_Qfromer_layernorm_embedding.",
        "qformer_projection.": "audio_qformer_proj.",
        "clap_projection.": "clap_proj.",
        "clap_layernorm.": "clap_layernorm.",
        "audio_position_embedding.": "audio_position_embedding.",
        "tag_embeddings.": "special_tokens_embed.special_token_embed.",
    }
    for key, value in own.items():
        for ours, theirs in renames.items():
            if key.startswith(ours):
                state[theirs + key.removeprefix(ours)] = value.clone()
        if key == "query_tokens":
            state["audio_query_tokens"] = value.clone()
        elif key.startswith("qformer."):
            rest = key.removeprefix("qformer.").replace("attention.attention.", "attention.self.")
            rest = rest.replace("layernorm.", "embeddings.LayerNorm.") if rest.startswith("layernorm.") else rest
            state["audio_Qformer.bert." + rest] = value.clone()
        elif key.startswith("language_model."):
            state["decoder." + key.removeprefix("language_model.")] = value.clone()
            if key.startswith("language_model.model."):  # SpecialTokensEmbeddings keeps a reference to the BartModel
                state["special_tokens_embed.model." + key.removeprefix("language_model.model.")] = value.clone()
        elif key.startswith("clap_model.audio_projection.linear"):
            index = {"1": "0", "2": "2"}[key.split("linear")[1][0]]
            state[f"clap_model.model.audio_projection.{index}.{key.rsplit('.', 1)[1]}"] = value.clone()
    state["audio_Qformer.bert.embeddings.position_ids"] = torch.arange(1024).expand(1, -1)
    if config.use_clap:
        state.update(
            _swin_to_reference(
                own,
                "clap_model.audio_model.audio_encoder.",
                "clap_model.model.audio_branch.",
                config.clap_config,
                {
                    "spectrogram_extractor.stft.conv_real.weight": torch.randn(9, 1, n_fft),
                    "spectrogram_extractor.stft.conv_imag.weight": torch.randn(9, 1, n_fft),
                    "logmel_extractor.melW": torch.randn(9, MELS),
                },
            )
        )
        projection = config.clap_config.projection_dim
        state.update(
            {  # the CLAP text tower and contrastive-training parts
                "clap_model.model.text_branch.embeddings.word_embeddings.weight": torch.randn(50, 8),
                "clap_model.model.text_branch.encoder.layer.0.attention.self.query.weight": torch.randn(8, 8),
                "clap_model.model.text_transform.sequential.0.weight": torch.randn(projection, projection),
                "clap_model.model.text_projection.0.weight": torch.randn(projection, 8),
                "clap_model.model.audio_transform.sequential.0.weight": torch.randn(projection, projection),
                "clap_model.model.logit_scale_a": torch.tensor(2.6),
                "clap_model.model.logit_scale_t": torch.tensor(2.6),
            }
        )
    return state


def reference_yaml(config: AutoCapConfig) -> dict:
    """The parts of the reference training YAML the converter reads, for ``config``'s model."""
    return {
        "target": "!module src.models.pl_htsat_q_bart_captioning.AutoCap",
        "model": {
            "audio_features_dropout_p": config.audio_dropout,
            "text_features_dropout_p": config.metadata_dropout,
            "use_text_qformer": False,
            "use_audio_qformer": True,
            "use_clap_embeds": config.use_clap,
            "meta_input": True,
            "add_special_tokens": True,
            "meta_keys": ["video_caption", "title"],
        },
        "meta": {"max_prompt_len": 128},
        "clap_embeds": {"ckpt": "pretrained_models/clap/music_speech_audioset_epoch_15_esc_89.98.pt", "embed_dim": 512},
        "audio_qformer": {
            "num_audio_query_token": config.num_query_tokens,
            "frozen_audio_Qformer": False,
            "hidden_size": config.qformer_config.hidden_size,
            "add_cross_attention": True,
            "num_attention_heads": config.qformer_config.num_attention_heads,
            "num_hidden_layers": config.qformer_config.num_hidden_layers,
        },
        "tokenizer": {"max_length": 30, "special_tokens": list(TAG_TOKENS)},
        "audio_args": {
            "sr": 16000,
            "n_fft": 256,
            "hop_length": 160,
            "f_min": 50,
            "f_max": 7000,
            "n_mels": MELS,
            "max_length": 1,
            "mono": True,
        },
        "audio_encoder_args": {"model_arch": "transformer", "model_name": "htsat", "pretrained": True, "freeze": True},
        "text_decoder_args": {"name": "facebook/bart-base", "pretrained": True},
    }


def _randomised(model):
    """Every float weight and buffer random (LayerNorm = 1 / biases = 0 / BatchNorm statistics 0, 1 would hide
    swapped or unloaded tensors)."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                if name.endswith("running_var"):
                    tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
                else:
                    tensor.copy_(0.3 * torch.randn(tensor.shape, generator=generator))
    return model
