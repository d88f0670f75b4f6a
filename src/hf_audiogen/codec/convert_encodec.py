"""Convert a transformers ``EncodecModel`` into a ``CodecModel`` (same weights, same codes, same audio).

``CodecModel`` keeps ``EncodecModel``'s state-dict layout, so conversion is a config translation plus a strict
``load_state_dict``. Only EnCodec features that ``CodecModel`` does not implement are refused: input normalisation
(``normalize=True``) and chunked encoding (``chunk_length_s``), both used by the 48 kHz EnCodec, not by AudioGen.

Example:

```python
>>> from transformers import EncodecConfig, EncodecModel
>>> from hf_audiogen.codec.convert_encodec import codec_from_encodec
>>> encodec = EncodecModel(EncodecConfig(num_filters=4, hidden_size=8, target_bandwidths=[1.5]))  # 24 kHz
>>> codec = codec_from_encodec(encodec)
>>> codec.config.num_quantizers, codec.config.frame_rate
(2, 75)
```
"""

from transformers import EncodecConfig, EncodecModel

from ..validation import InvalidInputError
from .configuration_codec import CodecConfig
from .modeling_codec import CodecModel

# EncodecConfig fields that CodecConfig has under the same name and meaning.
_SHARED_FIELDS = (
    "sampling_rate",
    "audio_channels",
    "num_filters",
    "hidden_size",
    "upsampling_ratios",
    "num_residual_layers",
    "kernel_size",
    "last_kernel_size",
    "residual_kernel_size",
    "dilation_growth_rate",
    "compress",
    "num_lstm_layers",
    "use_causal_conv",
    "pad_mode",
    "norm_type",
    "trim_right_ratio",
    "use_conv_shortcut",
    "codebook_size",
    "codebook_dim",
)


def encodec_config_to_codec_config(encodec_config: EncodecConfig, **kwargs) -> CodecConfig:
    """Translate an ``EncodecConfig``; ``num_quantizers`` is the number EnCodec uses at its highest bandwidth.

    ``kwargs`` override fields of the result (e.g. the training knobs, which EnCodec has no notion of). A pretrained
    EnCodec codebook is already trained, so ``kmeans_init`` defaults to False here.
    """
    if not isinstance(encodec_config, EncodecConfig):
        raise InvalidInputError(f"expected a transformers EncodecConfig, got {type(encodec_config).__name__}")
    if encodec_config.normalize:
        raise InvalidInputError(
            "EncodecConfig.normalize=True (per-input RMS normalisation) is not supported by CodecModel"
        )
    if encodec_config.chunk_length_s is not None:
        raise InvalidInputError(
            f"EncodecConfig.chunk_length_s={encodec_config.chunk_length_s} (chunked encoding with overlap-add) is not "
            "supported by CodecModel, which encodes the whole input at once"
        )
    fields = {name: getattr(encodec_config, name) for name in _SHARED_FIELDS}
    fields["upsampling_ratios"] = list(fields["upsampling_ratios"])
    fields["num_quantizers"] = encodec_config.num_quantizers
    fields["kmeans_init"] = False
    return CodecConfig(**{**fields, **kwargs})


def codec_from_encodec(encodec: EncodecModel, **config_kwargs) -> CodecModel:
    """A ``CodecModel`` with the weights and codebooks of ``encodec`` (loaded with ``strict=True``).

    The result is in eval mode, like a model from ``from_pretrained``.
    """
    if not isinstance(encodec, EncodecModel):
        raise InvalidInputError(f"expected a transformers EncodecModel, got {type(encodec).__name__}")
    config = encodec_config_to_codec_config(encodec.config, **config_kwargs)
    codec = CodecModel(config)
    codec.load_state_dict(encodec.state_dict(), strict=True)
    return codec.eval()


__all__ = ["codec_from_encodec", "encodec_config_to_codec_config"]
