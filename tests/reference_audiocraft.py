"""audiocraft's checkpoint layouts (codec and LM) built from our tiny models: the inverse of the converters' renames, shared by the converter, Hub-loading and bad-input tests."""

import re

import torch
from transformers.models.encodec.modeling_encodec import EncodecConvTranspose1d

from hf_audiogen.codec import CodecModel

XP_CFG = """\
sample_rate: 16000
channels: 1
device: cpu
dtype: float32
compression_model: encodec
encodec:
  autoencoder: seanet
  quantizer: rvq
  sample_rate: ${{sample_rate}}
  channels: ${{channels}}
  causal: false
  renormalize: false
seanet:
  dimension: 8
  channels: ${{channels}}
  causal: ${{encodec.causal}}
  n_filters: 2
  n_residual_layers: 1
  ratios: [8, 5, 4, 2]
  activation: ELU
  activation_params: {{"alpha": 1.}}
  norm: {norm}
  norm_params: {{}}
  kernel_size: 7
  residual_kernel_size: 3
  last_kernel_size: 7
  dilation_base: 2
  pad_mode: {pad_mode}
  true_skip: {true_skip}
  compress: 2
  lstm: 2
  disable_norm_outer_blocks: 0
  decoder:
    trim_right_ratio: 1.0
    final_activation: null
    final_activation_params: null
  encoder: {{}}
rvq:
  n_q: 3
  q_dropout: false
  bins: 32
  decay: 0.99
  kmeans_init: true
  kmeans_iters: 3
  threshold_ema_dead_code: 2
  orthogonal_reg_weight: 0.0
  orthogonal_reg_active_codes_only: false
"""


def _xp_cfg(norm="weight_norm", pad_mode="constant", true_skip="true"):
    return XP_CFG.format(norm=norm, pad_mode=pad_mode, true_skip=true_skip)


def _to_audiocraft_layout(model: CodecModel) -> dict:
    """Our state dict renamed the way audiocraft's EnCodec names it (the inverse of the converter's renames)."""
    transposed = {name for name, module in model.named_modules() if isinstance(module, EncodecConvTranspose1d)}
    state = {}
    for key, value in model.state_dict().items():
        key = key.replace(".parametrizations.weight.original0", ".weight_g")
        key = key.replace(".parametrizations.weight.original1", ".weight_v")
        conv_or_norm = re.match(r"^(.*)\.(conv|norm)\.(\w+)$", key)
        if key.startswith("quantizer."):
            key = re.sub(r"^quantizer\.layers\.(\d+)\.codebook\.", r"quantizer.vq.layers.\1._codebook.", key)
        elif conv_or_norm:  # audiocraft wraps each conv: NormConv1d.conv.{conv,norm} / NormConvTranspose1d.convtr.*
            owner, kind, name = conv_or_norm.groups()
            wrapper = "convtr" if owner in transposed else "conv"
            key = f"{owner}.{wrapper}.{wrapper if kind == 'conv' else 'norm'}.{name}"
        state[re.sub(r"^(encoder|decoder)\.layers\.", r"\1.model.", key)] = value.clone()
    return state


def _xp_cfg_dict(model) -> dict:
    """The parts of an audiocraft LM run config that describe ``model``'s decoder (audiogen_lm.yaml flags)."""
    decoder = model.config.decoder
    return {
        "device": "cpu",
        "dtype": "float32",
        "sample_rate": model.config.codec.sampling_rate,
        "lm_model": "transformer_lm",
        "dataset": {"segment_duration": model.config.max_duration},
        "codebooks_pattern": {
            "modeling": "delay",
            "delay": {"delays": decoder.codebook_delays, "flatten_first": 0, "empty_initial": 0},
        },
        "transformer_lm": {
            "dim": decoder.hidden_size,
            "num_heads": decoder.num_attention_heads,
            "num_layers": decoder.num_hidden_layers,
            "hidden_scale": decoder.ffn_dim / decoder.hidden_size,
            "n_q": decoder.num_codebooks,
            "card": decoder.codebook_size,
            "dropout": 0.0,
            "activation": "gelu",
            "norm_first": True,
            "bias_ff": False,
            "bias_attn": False,
            "bias_proj": False,
            "past_context": None,
            "causal": True,
            "custom": False,
            "memory_efficient": True,
            "layer_scale": None,
            "positional_embedding": "sin",
            "xpos": False,
            "weight_init": "gaussian",
            "depthwise_init": "current",
            "zero_bias_init": True,
            "norm": "layer_norm",
            "cross_attention": False,
            "qk_layer_norm": False,
            "qk_layer_norm_cross": False,
            "attention_dropout": None,
            "kv_repeat": 1,
            "two_step_cfg": False,
        },
        "classifier_free_guidance": {"training_dropout": 0.1, "inference_coef": 3.0},
        "attribute_dropout": {},
        "fuser": {
            "cross_attention_pos_emb": False,
            "cross_attention_pos_emb_scale": 1,
            "sum": [],
            "prepend": [],
            "cross": ["description"],
            "input_interpolate": [],
        },
        "conditioners": {
            "description": {
                "model": "t5",
                "t5": {"name": "t5-large", "finetune": False, "word_dropout": 0.0, "normalize_text": False},
            }
        },
        "generate": {"lm": {"use_sampling": True, "temp": 1.0, "top_k": 250, "top_p": 0.0}},
    }


def _audiocraft_state_dict(model) -> dict:
    """``model``'s decoder + text projection under audiocraft's ``LMModel`` names (q|k|v fused, as audiocraft's
    custom attention stores them)."""
    own = model.state_dict()
    state = {}
    for key, value in own.items():
        if key.startswith("enc_to_dec_proj."):
            state[key.replace("enc_to_dec_proj.", "condition_provider.conditioners.description.output_proj.")] = value
        elif key.startswith("decoder.layers."):
            name = "transformer.layers." + key.removeprefix("decoder.layers.")
            projection = re.fullmatch(r"(.*)\.([qkv])_proj\.(weight|bias)", name)
            if projection is None:
                state[name] = value
            elif projection.group(2) == "q":
                prefix, _, kind = projection.groups()
                fused = [own[key.replace(".q_proj.", f".{p}_proj.")] for p in "qkv"]
                state[f"{prefix}.in_proj_{kind}"] = torch.cat(fused)
        elif key.startswith("decoder."):
            state[key.removeprefix("decoder.")] = value
    return {key: value.clone() for key, value in state.items()}
