"""audiocraft 1.3.0 as a numerical oracle: import it (or skip the module) and build tiny models with AudioGen's flags.

audiocraft is installed only in the separate venv made by ``scripts/setup_audiocraft_oracle.sh``; in the main venv
every parity module skips itself at import with the reason below. The configs here are the merged audiocraft YAML
(``config/model/encodec/default.yaml`` + ``encodec_large_nq4_s320.yaml`` for the codec, ``model/lm/default.yaml`` +
``audiogen_lm.yaml`` + ``conditioner/text2sound.yaml`` for the LM) with only the sizes shrunk. They are written as
audiocraft's exporter would (``OmegaConf.to_yaml`` of the run config, interpolations unresolved), so our converters
read the same kind of ``xp.cfg`` as the released checkpoints.
"""

import pytest

SETUP_HINT = "bash scripts/setup_audiocraft_oracle.sh && .venv-audiocraft/bin/python -m pytest -m parity tests/parity"


def import_audiocraft():
    """Import audiocraft (switched to its pure-torch attention backend) or skip the calling test module."""
    try:
        import audiocraft  # noqa: F401
        from audiocraft.modules.transformer import set_efficient_attention_backend
    except Exception as err:  # noqa: BLE001 - any import failure means "no oracle here", reported in the reason
        pytest.skip(
            f"parity tests need audiocraft 1.3.0, which does not import here ({type(err).__name__}: {err}); "
            f"run them with: {SETUP_HINT}",
            allow_module_level=True,
        )
    # 'torch' = torch SDPA; the xformers backend is not installed (tests/parity/stubs/xformers is a stub).
    set_efficient_attention_backend("torch")
    return audiocraft


# ---------------------------------------------------------------------------------------------------------------------
# EnCodec (AudioGen's 16 kHz codec, tiny)
# ---------------------------------------------------------------------------------------------------------------------
def tiny_encodec_cfg(n_filters: int = 4, dimension: int = 16, n_q: int = 3, bins: int = 32, kmeans_iters: int = 5):
    """Run config of AudioGen's 16 kHz EnCodec (hop 320, 50 Hz) with tiny channels and codebooks."""
    from omegaconf import OmegaConf

    return OmegaConf.create(
        {
            "device": "cpu",
            "dtype": "float32",
            "sample_rate": 16000,
            "channels": 1,
            "compression_model": "encodec",
            "encodec": {
                "autoencoder": "seanet",
                "quantizer": "rvq",
                "sample_rate": "${sample_rate}",
                "channels": "${channels}",
                "causal": False,
                "renormalize": False,
            },
            "seanet": {
                "dimension": dimension,
                "channels": "${channels}",
                "causal": "${encodec.causal}",
                "n_filters": n_filters,
                "n_residual_layers": 1,
                "ratios": [8, 5, 4, 2],
                "activation": "ELU",
                "activation_params": {"alpha": 1.0},
                "norm": "weight_norm",
                "norm_params": {},
                "kernel_size": 7,
                "residual_kernel_size": 3,
                "last_kernel_size": 7,
                "dilation_base": 2,
                "pad_mode": "constant",
                "true_skip": True,
                "compress": 2,
                "lstm": 2,
                "disable_norm_outer_blocks": 0,
                "decoder": {"trim_right_ratio": 1.0, "final_activation": None, "final_activation_params": None},
                "encoder": {},
            },
            "rvq": {
                "n_q": n_q,
                "q_dropout": False,
                "bins": bins,
                "decay": 0.99,
                "kmeans_init": True,
                "kmeans_iters": kmeans_iters,
                "threshold_ema_dead_code": 2,
                "orthogonal_reg_weight": 0.0,
                "orthogonal_reg_active_codes_only": False,
            },
            "no_quant": {},
        }
    )


def export_package(model, cfg) -> dict:
    """The dict audiocraft's ``utils.export`` writes: run config as YAML (unresolved) + the model state dict."""
    from omegaconf import OmegaConf

    return {"best_state": model.state_dict(), "xp.cfg": OmegaConf.to_yaml(cfg), "version": "1.3.0", "exported": True}


# ---------------------------------------------------------------------------------------------------------------------
# AudioGen LM (tiny) with a local T5
# ---------------------------------------------------------------------------------------------------------------------
T5_NAME = "t5-large"  # what text2sound.yaml names; audiocraft fixes its width to 1024 (T5Conditioner.MODELS_DIMS)
T5_WIDTH = 1024
PROMPT_WORDS = "a dog barks while cars pass by rain falls on metal roof footsteps in the snow wind howls".split()


def tiny_t5_tokenizer():
    """A word-level tokenizer over a few prompt words, T5-style: pad=0, eos=1 appended, unk=2."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for word in PROMPT_WORDS:
        vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def tiny_t5_encoder(vocab_size: int, seed: int = 0):
    """A randomly initialised one-layer T5 encoder as wide as t5-large (so audiocraft's T5Conditioner accepts it)."""
    import torch
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=vocab_size,
        d_model=T5_WIDTH,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=16,
        dropout_rate=0.0,
        feed_forward_proj="relu",
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    return T5EncoderModel(config).eval()


def tiny_audiogen_lm_cfg(
    dim: int = 64,
    num_layers: int = 2,
    num_heads: int = 2,
    n_q: int = 2,
    card: int = 32,
    modeling: str = "delay",
    delays=(0, 1),
    bias: bool = False,
    segment_duration: float = 1.0,
):
    """Run config of audiogen_lm.yaml (+ lm/default.yaml, text2sound.yaml) with tiny sizes."""
    from omegaconf import OmegaConf

    return OmegaConf.create(
        {
            "device": "cpu",
            "dtype": "float32",
            "sample_rate": 16000,
            "channels": 1,
            "lm_model": "transformer_lm",
            "dataset": {"segment_duration": segment_duration},
            "codebooks_pattern": {
                "modeling": modeling,
                "delay": {"delays": list(delays), "flatten_first": 0, "empty_initial": 0},
                "unroll": {"flattening": list(range(n_q)), "delays": [0] * n_q},
                "music_lm": {"group_by": 2},
                "valle": {"delays": [0] * (n_q - 1)},
            },
            "transformer_lm": {
                "dim": dim,
                "num_heads": num_heads,
                "num_layers": num_layers,
                "hidden_scale": 4,
                "n_q": n_q,
                "card": card,
                "dropout": 0.0,
                "emb_lr": None,
                "activation": "gelu",
                "norm_first": True,
                "bias_ff": bias,
                "bias_attn": bias,
                "bias_proj": bias,
                "past_context": None,
                "causal": True,
                "custom": False,
                "memory_efficient": True,
                "attention_as_float32": False,
                "layer_scale": None,
                "positional_embedding": "sin",
                "xpos": False,
                "checkpointing": "none",
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
                    "t5": {"name": T5_NAME, "finetune": False, "word_dropout": 0.0, "normalize_text": False},
                }
            },
            "generate": {"lm": {"use_sampling": True, "temp": 1.0, "top_k": 250, "top_p": 0.0}},
        }
    )


def build_audiocraft_lm(cfg, tokenizer, t5, seed: int = 0):
    """audiocraft's ``builders.get_lm_model(cfg)`` with its T5 downloads answered by our local tokenizer / encoder."""
    import torch
    from audiocraft.models import builders
    from audiocraft.modules import conditioners

    class _Local:
        def __init__(self, obj):
            self.obj = obj

        def from_pretrained(self, name, *args, **kwargs):
            assert name == T5_NAME, name
            return self.obj

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conditioners, "T5Tokenizer", _Local(tokenizer))
        patch.setattr(conditioners, "T5EncoderModel", _Local(t5))
        torch.manual_seed(seed)
        return builders.get_lm_model(cfg).eval()
