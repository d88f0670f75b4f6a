"""LAION-CLAP as an evaluation extractor: the audio embedding of the CLAP score (stable-audio-metrics, audiocraft's
CLAP consistency) on transformers' ``ClapModel`` + ``ClapProcessor``.

Weights: a ``save_pretrained`` folder or a Hub id of a transformers CLAP (``laion/clap-htsat-unfused``,
``laion/clap-htsat-fused``, ``laion/larger_clap_general``, ...), or an official LAION-CLAP ``.pt`` checkpoint
(``630k-audioset-fusion-best.pt``, the one stable-audio-metrics uses, from ``lukewys/laion_clap`` on the Hub),
converted on load. transformers 5 no longer ships ``convert_clap_original_pytorch_to_hf.py``, so the key map is
written here; its HTSAT part is the one AutoCap's converter already uses (``autocap/convert_autocap.py``).

```
module.                                    (DistributedDataParallel prefix)   -> removed
audio_branch.* (HTSAT; Swin renames of convert_autocap)                       -> audio_model.audio_encoder.*
audio_branch.patch_embed.{mel_conv2d,fusion_model}.*  (fusion "aff_2d")       -> same names
audio_branch.{spectrogram,logmel}_extractor.*  (torchlibrosa STFT / mel)      -> dropped: ClapFeatureExtractor
audio_branch.{head,tscam_conv}.*  (AudioSet tagging head)                     -> dropped: not on the embedding path
audio_projection.{0,2}.* / text_projection.{0,2}.*                            -> {audio,text}_projection.linear{1,2}.*
text_branch.* (transformers RobertaModel)                                     -> text_model.*
text_branch.embeddings.position_ids (buffer; laion_clap issue 118)            -> dropped
audio_transform.*, text_transform.* (training MLPs)                           -> dropped
logit_scale_a, logit_scale_t                                                  -> same names
```

Which laion configuration becomes which ``ClapConfig`` (read from the tensor shapes, so any of them converts):

* ``630k-best.pt``, ``630k-audioset-best.pt``: HTSAT-tiny (``patch_embeds_hidden_size=96``, depths 2/2/6/2, heads
  4/8/16/32, window 8, ``spec_size=256``, 768-d), ``enable_fusion=False``; RoBERTa-base text tower; 512-d joint space.
* ``630k-fusion-best.pt``, ``630k-audioset-fusion-best.pt``: the same with ``enable_fusion=True`` (laion's
  ``fusion_type="aff_2d"``, the only fusion transformers implements; the 1-D fusion types are refused).
* ``music_*_epoch_15_esc_*.pt``: HTSAT-base (128-d patches, depths 2/2/12/2, 1024-d), no fusion.
What the shapes cannot tell is taken from laion's code: the RoBERTa head count (``hidden_size // 64``: 12 for
roberta-base) and ``layer_norm_eps=1e-5``, the 48 kHz / hop 480 / 1024-point / 64-mel / 50-14000 Hz front-end and
10 s window (``HTSAT-*.json``); the tokenizer is roberta-base's (``tokenizer=``, default
``laion/clap-htsat-unfused``, which ships it).

The CLAP-score protocol of stable-audio-metrics (``src/clap_score.py``), and what this extractor matches:

1. audio read at 48 kHz mono (librosa / soxr; here :func:`hf_audiogen.audio.resample`, soxr HQ), peak-normalised to
   -1 dBFS (``pyln.normalize.peak(audio, -1.0)``) and rounded through int16 (``int16_to_float32(float32_to_int16)``):
   :meth:`ClapExtractor.prepare` does all three (``peak_normalize_db=None`` / ``quantize_int16=False`` turn them off);
2. clips shorter than 10 s are repeated and zero-padded (``repeatpad``); longer ones go through laion's "fusion":
   a 10 s thumbnail of the whole clip plus three 10 s chunks from the front, middle and back thirds at random
   positions. The positions are drawn exactly as laion draws them (numpy ``choice`` per third), from a generator
   seeded with ``seed`` per clip, so the score is reproducible (stable-audio-metrics does not seed). Non-fusion
   models crop 10 s at a random (seeded) place, like laion's ``rand_trunc``;
3. text embedded with ``get_text_embedding``: RoBERTa tokens truncated at 77 (``CLAP_Module.tokenizer``);
4. score = cosine(audio embedding, text embedding) per clip, averaged over clips.

Deviations, on purpose: (a) transformers' feature extractor computes the mel in numpy; laion computes it with
torchlibrosa (non-fusion) or torchaudio (fusion), equal up to float32 rounding. (b) For clips > 10 s the thumbnail
is resized with bilinear interpolation without antialiasing (transformers); laion calls ``torchvision``'s ``Resize``,
which antialiases since torchvision 0.17, so the thumbnail channel of long clips differs slightly with a recent
torchvision. (c) ``ClapFeatureExtractor`` marks a random clip of an all-short batch as "longer" (a laion training
trick); we pass the true flags, as laion's inference does.

Example:

```python
>>> from hf_audiogen.evaluation.extractors import extractor_class
>>> clap = extractor_class("clap").from_pretrained("630k-audioset-fusion-best.pt")  # doctest: +SKIP
>>> audio = clap.embed(clap.prepare(waveform, 16000)).embeddings  # doctest: +SKIP
>>> text = clap.embed_text(["a dog barks"])  # doctest: +SKIP
>>> float(torch.nn.functional.cosine_similarity(audio, text))  # the CLAP score of one clip  # doctest: +SKIP
```
"""

from __future__ import annotations

import json
import os
import re
from typing import ClassVar, Literal

import numpy as np
import torch
from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

from ...audio import AudioError
from ...checkpoint_io import load_pretrained_checked, load_torch_file, looks_like_local_path, one_line
from ...validation import InvalidInputError
from ..clap import clap_audio_embeddings, clap_text_embeddings, clap_text_embeddings_from_ids
from .base import AudioEmbeddingExtractor, ExtractorOutput, ExtractorWeightsError

OFFICIAL_LAION_CHECKPOINT = "630k-audioset-fusion-best.pt"
OFFICIAL_WEIGHTS = (
    f"https://huggingface.co/lukewys/laion_clap/resolve/main/{OFFICIAL_LAION_CHECKPOINT} (stable-audio-metrics' "
    "CLAP score), or a transformers CLAP such as laion/clap-htsat-fused"
)
DEFAULT_TOKENIZER = "laion/clap-htsat-unfused"  # roberta-base's tokenizer, as laion's CLAP_Module loads it
LAION_TEXT_MAX_LENGTH = 77  # CLAP_Module.tokenizer: padding="max_length", truncation=True, max_length=77
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")

# HTSAT front-end of every laion config (model_configs/HTSAT-*.json: sample_rate, hop_size, window_size, mel_bins,
# fmin, fmax; clip_samples = 480000).
LAION_FRONT_END = dict(
    sampling_rate=48_000, hop_length=480, fft_window_size=1024, max_length_s=10, frequency_min=50, frequency_max=14_000
)


# ---------------------------------------------------------------------------------------------------------------------
# LAION-CLAP checkpoint -> ClapModel
# ---------------------------------------------------------------------------------------------------------------------
_FUSION_KEY = re.compile(
    r"patch_embed\.(mel_conv2d\.(weight|bias)"
    r"|fusion_model\.(local|global)_att\.\d+\.(weight|bias|running_mean|running_var|num_batches_tracked))"
)
_PROJECTION_KEY = re.compile(r"(audio|text)_projection\.([02])\.(weight|bias)")
_DROPPED_PREFIXES = ("audio_transform.", "text_transform.")


def _rename_laion_key(key: str) -> tuple[str, ...] | None:
    """One laion ``CLAP`` key -> our key(s) (three for a fused ``qkv``), ``()`` to drop it, ``None`` if unknown."""
    from ...autocap.convert_autocap import _rename_swin  # HTSAT's Swin names: one table for AutoCap and CLAP

    if key.startswith("audio_branch."):
        rest = key.removeprefix("audio_branch.")
        if _FUSION_KEY.fullmatch(rest):
            return ("audio_model.audio_encoder." + rest,)
        rule = _rename_swin(rest, "audio_model.audio_encoder.")
        if rule is None:
            return None
        return () if rule.drop else rule.targets
    if match := _PROJECTION_KEY.fullmatch(key):
        tower, index, kind = match.groups()
        return (f"{tower}_projection.linear{1 if index == '0' else 2}.{kind}",)
    if key == "text_branch.embeddings.position_ids" or key.startswith(_DROPPED_PREFIXES):
        return ()
    if key.startswith("text_branch."):
        return ("text_model." + key.removeprefix("text_branch."),)
    if key in ("logit_scale_a", "logit_scale_t"):
        return (key,)
    return None


def laion_clap_config(state_dict: dict[str, torch.Tensor]) -> ClapConfig:
    """The ``ClapConfig`` of a laion ``CLAP`` state dict (keys without ``module.``), from its tensor shapes."""
    from ...autocap.convert_autocap import _layer_indices, _swin_config

    if any(key.startswith("audio_branch.mel_conv1d.") for key in state_dict):
        raise InvalidInputError(
            "this LAION-CLAP checkpoint uses a 1-D fusion (mel_conv1d: fusion_type daf_1d/aff_1d/iaff_1d); "
            "transformers' ClapModel implements only aff_2d (the released *-fusion-best.pt checkpoints)"
        )
    for key in ("text_branch.embeddings.word_embeddings.weight", "audio_projection.0.weight"):
        if key not in state_dict:
            raise InvalidInputError(f"the LAION-CLAP checkpoint lacks {key!r}: is it a laion_clap CLAP checkpoint?")
    projection_dim = state_dict["audio_projection.0.weight"].shape[0]
    audio = _swin_config(
        state_dict,
        "audio_branch.",
        dict(
            spec_size=256,
            enable_fusion="audio_branch.patch_embed.mel_conv2d.weight" in state_dict,
            projection_dim=projection_dim,
        ),
    )
    words = state_dict["text_branch.embeddings.word_embeddings.weight"]
    hidden = words.shape[1]
    layers = _layer_indices(state_dict, r"text_branch\.encoder\.layer\.(\d+)\.attention\.self\.query\.weight")
    text = dict(
        vocab_size=words.shape[0],
        hidden_size=hidden,
        num_hidden_layers=len(layers),
        num_attention_heads=max(hidden // 64, 1),  # not in the shapes: roberta-base's 64-d heads
        intermediate_size=state_dict["text_branch.encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_position_embeddings=state_dict["text_branch.embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=state_dict["text_branch.embeddings.token_type_embeddings.weight"].shape[0],
        layer_norm_eps=1e-5,  # roberta-base's, which laion builds its text tower from
        pad_token_id=1,
        projection_dim=projection_dim,
    )
    return ClapConfig(text_config=text, audio_config=audio, projection_dim=projection_dim)


def convert_laion_clap_state_dict(
    state_dict: dict[str, torch.Tensor], config: ClapConfig | None = None
) -> tuple[ClapConfig, dict[str, torch.Tensor]]:
    """A laion ``CLAP`` state dict (``checkpoint["state_dict"]``, with or without ``module.``) -> ``(config, state
    dict of ClapModel)``. Unknown keys are refused with one error listing them."""
    state_dict = {key.removeprefix("module."): value for key, value in state_dict.items()}
    config = config if config is not None else laion_clap_config(state_dict)
    converted, unknown = {}, []
    for key, value in state_dict.items():
        targets = _rename_laion_key(key)
        if targets is None:
            unknown.append(key)
        elif len(targets) == 3:  # Swin's fused attention projection: q | k | v stacked on dim 0
            converted.update(zip(targets, value.chunk(3, dim=0)))
        elif targets:
            converted[targets[0]] = value
    if unknown:
        raise InvalidInputError(
            f"the LAION-CLAP checkpoint has {len(unknown)} key(s) with no ClapModel counterpart: {unknown[:10]}"
        )
    return config, converted


def load_laion_clap_model(path: str | os.PathLike, allow_pickle: bool = False) -> ClapModel:
    """An official LAION-CLAP ``.pt`` as an eval-mode ``ClapModel``; refuses missing, unexpected or mis-shaped
    weights (one error naming them)."""
    checkpoint = load_torch_file(
        path, "LAION-CLAP checkpoint", allow_pickle=allow_pickle, force_hint="pass allow_pickle=True"
    )
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, dict) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise InvalidInputError(f"LAION-CLAP checkpoint {os.fspath(path)} holds no state dict of tensors")
    config, state_dict = convert_laion_clap_state_dict(checkpoint)
    model = ClapModel(config).eval()
    # buffers transformers rebuilds itself (RoBERTa's position / token-type ids)
    rebuilt = {"text_model.embeddings.position_ids", "text_model.embeddings.token_type_ids"}
    expected = set(model.state_dict())
    missing = sorted(expected - set(state_dict) - rebuilt)
    unexpected = sorted(set(state_dict) - expected)
    shapes = [
        f"{key}: {tuple(value.shape)} vs {tuple(model.state_dict()[key].shape)}"
        for key, value in state_dict.items()
        if key in expected and value.shape != model.state_dict()[key].shape
    ]
    if missing or unexpected or shapes:
        raise InvalidInputError(
            f"LAION-CLAP checkpoint {os.fspath(path)} does not fill ClapModel: missing {missing[:5]} "
            f"({len(missing)}), unexpected {unexpected[:5]} ({len(unexpected)}), shapes {shapes[:3]} ({len(shapes)})"
        )
    model.load_state_dict(state_dict, strict=False)
    return model


def laion_feature_extractor(config: ClapConfig) -> ClapFeatureExtractor:
    """laion's HTSAT front-end (``LAION_FRONT_END``) with the truncation its CLAP_Module uses for this model."""
    return ClapFeatureExtractor(
        feature_size=config.audio_config.num_mel_bins,
        padding="repeatpad",
        truncation="fusion" if config.audio_config.enable_fusion else "rand_trunc",
        **LAION_FRONT_END,
    )


def byte_level_tokenizer():
    """A RoBERTa-style byte-level BPE tokenizer with no merges (256 byte tokens + specials), made offline: for
    :meth:`ClapExtractor.from_random`, which only exercises the code path."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    # the 256 printable stand-ins of the bytes, as GPT-2/RoBERTa's byte-level BPE maps them
    vocab = {token: i for i, token in enumerate(specials + sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))  # (sep, cls)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


# ---------------------------------------------------------------------------------------------------------------------
# The extractor
# ---------------------------------------------------------------------------------------------------------------------
class ClapExtractor(AudioEmbeddingExtractor):
    """LAION-CLAP audio (and text) embeddings for the CLAP score: ``embed`` -> ``(1, D)`` projected, L2-normalised
    audio embedding; :meth:`embed_text` -> ``(N, D)``.

    Example:

    ```python
    >>> from hf_audiogen.evaluation.extractors.clap import ClapExtractor
    >>> clap = ClapExtractor.from_pretrained("laion/clap-htsat-fused")  # doctest: +SKIP
    >>> clap.embed(clap.prepare(np.zeros(16000, np.float32) + 0.1, 16000)).embeddings.shape  # doctest: +SKIP
    torch.Size([1, 512])
    ```
    """

    name: ClassVar[str] = "clap"
    sampling_rate: ClassVar[int] = 48_000
    channels: ClassVar[int] = 1
    embedding_dim: ClassVar[int] = 512
    pooling: ClassVar[Literal["frame", "clip"]] = "clip"
    official_weights: ClassVar[str] = OFFICIAL_WEIGHTS

    def __init__(
        self,
        model: ClapModel,
        processor: ClapProcessor,
        weights_source: str = "unset",
        peak_normalize_db: float | None = -1.0,
        quantize_int16: bool = True,
        text_max_length: int = LAION_TEXT_MAX_LENGTH,
        seed: int = 0,
    ):
        super().__init__()
        if processor.feature_extractor.sampling_rate != self.sampling_rate:
            raise InvalidInputError(
                f"the CLAP feature extractor works at {processor.feature_extractor.sampling_rate} Hz; the CLAP score "
                f"protocol is {self.sampling_rate} Hz"
            )
        self.model = model.eval()
        self.processor = processor
        self.weights_source = weights_source
        self.embedding_dim = model.config.projection_dim  # 512 for every released laion CLAP
        self.peak_normalize_db = peak_normalize_db
        self.quantize_int16 = quantize_int16
        self.text_max_length = text_max_length
        self.seed = seed

    # --- front-end ---------------------------------------------------------------------------------------------------
    def prepare(self, waveform: np.ndarray, sampling_rate: int) -> torch.Tensor:
        """Mono, 48 kHz, peak-normalised to ``peak_normalize_db`` dBFS and rounded through int16 (stable-audio-metrics'
        ``clap_score``). A silent clip stays silent (no peak to normalise)."""
        try:
            audio = super().prepare(waveform, sampling_rate).numpy()
        except AudioError as err:
            raise InvalidInputError(str(err)) from err
        if self.peak_normalize_db is not None:
            peak = float(np.max(np.abs(audio)))
            if peak > 0:
                audio = audio * (10.0 ** (self.peak_normalize_db / 20.0) / peak)
        if self.quantize_int16:
            audio = (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16) / 32767.0
        return torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))

    # --- model side --------------------------------------------------------------------------------------------------
    def embed(self, waveform: torch.Tensor) -> ExtractorOutput:
        """One prepared clip ``(samples,)`` at 48 kHz -> ``ExtractorOutput(embeddings=(1, D))`` (float32, CPU)."""
        if not isinstance(waveform, torch.Tensor) or waveform.ndim != 1 or waveform.numel() == 0:
            raise InvalidInputError(
                "ClapExtractor.embed takes one prepared mono clip, a non-empty 1-D tensor (use prepare() first); got "
                f"{type(waveform).__name__} {tuple(getattr(waveform, 'shape', ()))}"
            )
        embeddings = clap_audio_embeddings(
            self.model,
            self.processor,
            [waveform.detach().cpu().numpy()],
            self.sampling_rate,
            long_clips="random",
            seed=self.seed,
        )
        return ExtractorOutput(embeddings=embeddings.float().cpu())

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """``(N, D)`` float32 text embeddings (L2-normalised), tokens truncated at :attr:`text_max_length`."""
        if isinstance(texts, str) or not texts or not all(isinstance(text, str) for text in texts):
            raise InvalidInputError(f"texts must be a non-empty list of strings, got {texts!r:.80}")
        return clap_text_embeddings(self.model, self.processor, texts, max_length=self.text_max_length).float().cpu()

    def embed_text_ids(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`embed_text` for already tokenised texts."""
        return clap_text_embeddings_from_ids(self.model, input_ids, attention_mask).float().cpu()

    # --- constructors ------------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        weights: str | os.PathLike,
        tokenizer: str | os.PathLike | None = None,
        allow_pickle: bool = False,
        **hub_kwargs,
    ) -> ClapExtractor:
        """A transformers CLAP (``save_pretrained`` folder or Hub id) or an official LAION-CLAP ``.pt`` (converted).

        ``tokenizer``: for a ``.pt``, where roberta-base's tokenizer comes from (a folder or Hub id; default
        ``laion/clap-htsat-unfused``). ``hub_kwargs`` (revision, cache_dir, token, local_files_only) go to every Hub
        call. Raises :class:`ExtractorWeightsError` when the weights (or the tokenizer) are neither here nor
        downloadable, ``InvalidInputError`` for a file that is not a complete CLAP.
        """
        source = os.fspath(weights)
        if source.endswith(CHECKPOINT_SUFFIXES) or os.path.isfile(source):
            if not os.path.exists(source):
                raise ExtractorWeightsError(f"LAION-CLAP checkpoint not found: {source}; fetch {OFFICIAL_WEIGHTS}")
            model = load_laion_clap_model(source, allow_pickle=allow_pickle)
            tokenizer_source = os.fspath(tokenizer) if tokenizer is not None else DEFAULT_TOKENIZER
            tokenizer_object = _load_pretrained(
                "AutoTokenizer", tokenizer_source, "CLAP (roberta-base) tokenizer", hub_kwargs
            )
            processor = ClapProcessor(
                feature_extractor=laion_feature_extractor(model.config), tokenizer=tokenizer_object
            )
            return cls(model, processor, weights_source=source)
        model = _load_pretrained("ClapModel", source, "CLAP model", hub_kwargs)
        processor = _load_pretrained("ClapProcessor", source, "CLAP processor", hub_kwargs)
        return cls(model, processor, weights_source=source)

    @classmethod
    def from_random(cls, seed: int = 0, config: ClapConfig | None = None, processor=None) -> ClapExtractor:
        """Seeded random weights: by default laion's ``630k-audioset-fusion-best`` architecture (HTSAT-tiny + fusion,
        RoBERTa-base) with :func:`byte_level_tokenizer` (no download)."""
        if config is None:
            config = ClapConfig(
                text_config=dict(layer_norm_eps=1e-5, projection_dim=512),
                audio_config=dict(enable_fusion=True, projection_dim=512),
                projection_dim=512,
            )
        torch.manual_seed(seed)
        model = ClapModel(config).eval()
        if processor is None:
            processor = ClapProcessor(
                feature_extractor=laion_feature_extractor(config), tokenizer=byte_level_tokenizer()
            )
        return cls(model, processor, weights_source=f"random(seed={seed})")

    def describe(self) -> dict:
        return {
            **super().describe(),
            "fusion": bool(self.model.config.audio_config.enable_fusion),
            "peak_normalize_db": self.peak_normalize_db,
            "quantize_int16": self.quantize_int16,
            "text_max_length": self.text_max_length,
            "seed": self.seed,
        }


def _load_pretrained(kind: str, source: str, what: str, hub_kwargs: dict):
    """``<kind>.from_pretrained(source)`` with one-line errors: weights that are not here and cannot be fetched ->
    :class:`ExtractorWeightsError`; incomplete weights (missing, unexpected, mis-shaped) -> ``InvalidInputError``."""
    import transformers

    loader = getattr(transformers, kind)
    is_local = looks_like_local_path(source)
    if is_local and not os.path.exists(os.path.expanduser(source)):
        raise ExtractorWeightsError(f"{what} not found: {source}; fetch {OFFICIAL_WEIGHTS}")
    try:
        if kind != "ClapModel":
            return loader.from_pretrained(os.path.expanduser(source) if is_local else source, **hub_kwargs)
        infos = {}

        def load(path, **kwargs):
            model, info = loader.from_pretrained(path, **hub_kwargs, **kwargs)
            infos.update(info)
            return model, info

        model = load_pretrained_checked(load, source, what)
        unexpected = sorted(infos.get("unexpected_keys") or ())
        if unexpected:
            raise InvalidInputError(
                f"the {what} {source!r} stores {len(unexpected)} weight(s) ClapModel does not have: {unexpected[:10]}"
            )
        return model.eval()
    except (OSError, InvalidInputError) as err:
        cause = err.__cause__ if isinstance(err, InvalidInputError) else err
        if not is_local and isinstance(cause, OSError):
            raise ExtractorWeightsError(
                f"{what} {source!r} is not in the Hub cache and cannot be downloaded ({one_line(cause, 160)}); fetch "
                f"it while online (`huggingface-cli download {source}`) or give a local folder / .pt: {OFFICIAL_WEIGHTS}"
            ) from err
        if isinstance(err, InvalidInputError):
            raise
        raise InvalidInputError(f"cannot load the {what} {source!r}: {one_line(err, 200)}") from err
    except (ValueError, json.JSONDecodeError) as err:
        raise InvalidInputError(f"cannot load the {what} {source!r}: {one_line(err, 200)}") from err


__all__ = [
    "ClapExtractor",
    "LAION_FRONT_END",
    "OFFICIAL_LAION_CHECKPOINT",
    "convert_laion_clap_state_dict",
    "laion_clap_config",
    "laion_feature_extractor",
    "load_laion_clap_model",
]
