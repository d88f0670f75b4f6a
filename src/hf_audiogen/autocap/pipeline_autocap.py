"""Audio-captioning pipeline of AutoCap: audio (+ metadata) in, caption strings out.

Two ways in, one implementation:

* ``AutoCapPipeline.from_pretrained(dir_or_repo)`` — the library's API;
* ``transformers.pipeline("autocap-audio-captioning", model=dir)`` — the same class through the transformers factory
  (once ``hf_audiogen`` is imported, which registers the task).

The pipeline holds no model maths: it loads and checks audio, pairs each clip with its metadata, prepares inputs
with the [`AutoCapProcessor`], batches them (``batch_size``), calls
[`AutoCapForConditionalGeneration.generate`] and decodes the ids.
"""

from __future__ import annotations

import io
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import Pipeline

from ..audio import AudioError, audio_file_duration, check_audio, check_sample_rate, load_audio, to_mono
from ..validation import (
    MAX_PROMPTS_PER_CALL,
    MAX_SAMPLES_PER_CALL,
    InvalidInputError,
    check_choice,
    check_float,
    check_int,
    check_seed,
)
from .modeling_autocap import AutoCapForConditionalGeneration
from .processing_autocap import AutoCapProcessor

logger = logging.getLogger(__name__)

# The task name under which `transformers.pipeline(...)` builds this class (registered in hf_audiogen.registration).
PIPELINE_TASK = "autocap-audio-captioning"
# Seconds kept beyond the captioned window before resampling, so that the resampler's edge never reaches it (the
# feature extractor then cuts the clip exactly).
_TRIM_MARGIN_S = 0.5

EXAMPLE_DOC_STRING = """
    Example:

    ```python
    >>> from hf_audiogen.autocap import AutoCapPipeline
    >>> pipe = AutoCapPipeline.from_pretrained("outputs/autocap")  # doctest: +SKIP
    >>> pipe("thunder.wav")  # doctest: +SKIP
    'thunder rumbles in the distance as rain falls'
    >>> pipe(audio_array, sampling_rate=44100, metadata={"title": "Storm over the city"})  # doctest: +SKIP
    >>> pipe(["a.wav", "b.flac"], num_beams=3, max_new_tokens=20, batch_size=8)  # doctest: +SKIP
    ['...', '...']
    >>> pipe(dataset)  # a `datasets.Dataset` with an "audio" column (and optional metadata columns) # doctest: +SKIP
    ```
"""


class AutoCapPipeline(Pipeline):
    __doc__ = (
        """Caption audio with an AutoCap model.

    Inputs: a file path, raw bytes, a numpy array / tensor with ``sampling_rate=``, a ``{"array", "sampling_rate"}``
    or ``{"path", "bytes"}`` dict (a `datasets` ``Audio`` value), a `datasets` row (``{"audio": ..., "title": ...}``:
    metadata columns named as the model's metadata keys are used), a list of any of these, or a whole
    ``datasets.Dataset``. Any sampling rate works (audio is resampled); multichannel audio is averaged to mono; only
    the first ``max_length_s`` seconds (10 s) of longer audio are captioned (a warning says so).

    Bad inputs: empty or NaN/inf audio raises ``AudioError`` (a ``ValueError``) naming the item; silent audio is
    captioned (the model sees a -100 dB spectrogram) with a warning, since the caption says nothing about the sound.

    Greedy and beam-search captions do not depend on how the inputs are batched.
"""
        + EXAMPLE_DOC_STRING
    )

    # generate() options are this pipeline's own call parameters (see _sanitize_parameters), not transformers' ones
    _pipeline_calls_generate = False

    def __init__(self, model: AutoCapForConditionalGeneration, processor: AutoCapProcessor | None = None, **kwargs):
        if not isinstance(model, AutoCapForConditionalGeneration):
            raise InvalidInputError(
                f"AutoCapPipeline needs an AutoCapForConditionalGeneration, got {type(model).__name__}"
            )
        if not isinstance(processor, AutoCapProcessor):
            raise InvalidInputError(
                "AutoCapPipeline needs an AutoCapProcessor (feature extractor + tokenizer), got "
                f"{type(processor).__name__}; save one next to the model (AutoCapProcessor(...).save_pretrained(dir))"
            )
        if processor.tag_token_offset != model.config.tag_token_offset:
            raise InvalidInputError(
                f"the processor's tag tokens start at id {processor.tag_token_offset} but the model's tag table at "
                f"{model.config.tag_token_offset} (its BART vocabulary size): they were not made for each other"
            )
        if model.config.use_clap != (processor.feature_extractor.clap_sampling_rate is not None):
            raise InvalidInputError(
                f"the model's use_clap={model.config.use_clap} does not match the feature extractor's CLAP front-end "
                f"(clap_sampling_rate={processor.feature_extractor.clap_sampling_rate})"
            )
        kwargs.setdefault("task", PIPELINE_TASK)
        kwargs.setdefault("tokenizer", processor.tokenizer)
        kwargs.setdefault("feature_extractor", processor.feature_extractor)
        super().__init__(model=model, processor=processor, **kwargs)

    # ----------------------------------------------------------------------------------------------------------------
    # Loading and saving
    # ----------------------------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        device: int | str | torch.device | None = None,
        dtype: torch.dtype | str | None = None,
        **kwargs,
    ) -> AutoCapPipeline:
        """Load model and processor from a ``save_pretrained`` directory or Hub repo, or from AutoCap's release on the
        Hub, converted once and cached: ``AutoCapPipeline.from_pretrained("mali6/autocap", variant="autocap-full")``
        (see :func:`~hf_audiogen.autocap.hub_loading.load_autocap`).

        Args:
            device: where to run (default: the first accelerator if any, else CPU).
            dtype: weights dtype (default float32).
            kwargs: ``revision``, ``token``, ``local_files_only``, ``cache_dir``; ``variant``, ``tokenizer``,
                ``copy_tokenizer`` for a release; ``batch_size`` for the pipeline.
        """
        from .hub_loading import load_autocap

        batch_size = kwargs.pop("batch_size", None)
        model, processor = load_autocap(pretrained_model_name_or_path, dtype=dtype, **kwargs)
        return cls(model=model, processor=processor, device=device, batch_size=batch_size)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """Write the model (``config.json``, ``generation_config.json``, ``model.safetensors``) and the processor
        (tokenizer files, ``processor_config.json``) to one directory."""
        if os.path.isfile(save_directory):
            raise InvalidInputError(f"save_directory must be a directory, got the file {save_directory}")
        os.makedirs(save_directory, exist_ok=True)
        # Pipeline.save_pretrained would also copy this module as remote code; the package provides it.
        self.model.save_pretrained(save_directory, **kwargs)
        self.processor.save_pretrained(save_directory)

    # ----------------------------------------------------------------------------------------------------------------
    # Call
    # ----------------------------------------------------------------------------------------------------------------
    def __call__(
        self,
        inputs,
        metadata: Mapping | Sequence[Mapping | None] | None = None,
        sampling_rate: int | None = None,
        batch_size: int | None = None,
        progress_bar: bool | None = None,
        **kwargs,
    ):
        r"""Caption one clip or many.

        Args:
            inputs: see the class docstring.
            metadata (`dict` or `list[dict]`, *optional*): the clip's metadata (one dict for one input, one dict or
                ``None`` per input for a list). Keys: the model's ``processor.metadata_keys`` (reference:
                ``video_caption``, ``title``); others raise ``ValueError``. Overrides metadata columns of rows.
            sampling_rate (`int`): rate of raw arrays / tensors (required for them; not used for files or dicts).
            batch_size (`int`, *optional*): clips per ``generate`` call (default: the pipeline's, else 1).
            progress_bar (`bool`, *optional*): show a tqdm bar over clips (default: when there is more than one batch).
            num_beams (`int`), max_new_tokens (`int`), min_new_tokens (`int`), do_sample (`bool`), top_p (`float`),
                top_k (`int`), temperature (`float`), repetition_penalty (`float`), no_repeat_ngram_size (`int`),
                num_return_sequences (`int`): decoding options (defaults: the model's generation config — 2 beams,
                at most 29 new tokens).
            seed (`int`, *optional*): seeds sampling (set before each ``generate`` call).
            generate_kwargs (`dict`, *optional*): any other ``generate`` option.

        Returns:
            A caption (`str`) for a single input, a list of captions for a list / dataset; with
            ``num_return_sequences > 1`` each caption is a list of strings.
        """
        single = _is_single_input(inputs)
        items = [inputs] if single else inputs
        count = len(items) if hasattr(items, "__len__") else None
        if count == 0:
            raise InvalidInputError("inputs is empty: give at least one audio clip")
        if metadata is not None:
            if single or isinstance(metadata, Mapping):
                if not isinstance(metadata, Mapping):
                    raise InvalidInputError(f"metadata for one input must be a dict, got {type(metadata).__name__}")
                if not single:
                    raise InvalidInputError(
                        "inputs is a list: give metadata as a list with one dict (or None) per input"
                    )
                metadata = [metadata]
            elif isinstance(metadata, str) or not isinstance(metadata, Sequence):
                raise InvalidInputError(f"metadata must be a dict or a list of dicts, got {type(metadata).__name__}")
            elif count is None or len(metadata) != count:
                raise InvalidInputError(
                    f"got {count if count is not None else 'an unsized iterable of'} input(s) but {len(metadata)} "
                    "metadata entries; give one dict (or None) per input"
                )
        if sampling_rate is not None:
            sampling_rate = check_sample_rate(sampling_rate)
        batch_size = batch_size if batch_size is not None else (self._batch_size or 1)
        batch_size = check_int("batch_size", batch_size, min=1, max=MAX_PROMPTS_PER_CALL)
        if progress_bar is not None:
            progress_bar = bool(check_choice("progress_bar", progress_bar, (True, False)))
        if progress_bar is None:
            progress_bar = count is None or count > batch_size

        def requests():
            for i, item in enumerate(items):
                yield {
                    "input": item,
                    "index": i,
                    "sampling_rate": sampling_rate,
                    "metadata": metadata[i] if metadata is not None else None,
                }

        outputs = super().__call__(requests(), batch_size=batch_size, **kwargs)
        captions = list(tqdm(outputs, total=count, desc="captioning", unit="clip", disable=not progress_bar))
        return captions[0] if single else captions

    def _sanitize_parameters(
        self,
        num_beams: int | None = None,
        max_new_tokens: int | None = None,
        min_new_tokens: int | None = None,
        do_sample: bool | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        temperature: float | None = None,
        repetition_penalty: float | None = None,
        no_repeat_ngram_size: int | None = None,
        num_return_sequences: int | None = None,
        seed: int | None = None,
        generate_kwargs: dict | None = None,
        **kwargs,
    ):
        if kwargs:
            raise InvalidInputError(
                f"unknown argument(s) {sorted(kwargs)} for AutoCapPipeline; pass other generate() options as "
                "generate_kwargs={...}"
            )
        if generate_kwargs is not None and not isinstance(generate_kwargs, dict):
            raise InvalidInputError(f"generate_kwargs must be a dict of generate() options, got {generate_kwargs!r}")
        generate = dict(generate_kwargs or {})
        options = dict(
            num_beams=num_beams,
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            do_sample=do_sample,
            top_p=top_p,
            top_k=top_k,
            temperature=temperature,
            repetition_penalty=repetition_penalty,
            no_repeat_ngram_size=no_repeat_ngram_size,
            num_return_sequences=num_return_sequences,
        )
        generate.update({name: value for name, value in options.items() if value is not None})
        self._check_generate_options(generate)
        if generate.get("num_return_sequences", 1) > 1 and not generate.get("do_sample"):
            beams = generate.get("num_beams", self.model.generation_config.num_beams or 1)
            if generate["num_return_sequences"] > beams:
                raise InvalidInputError(
                    f"num_return_sequences={generate['num_return_sequences']} needs num_beams >= it (got {beams}) "
                    "or do_sample=True"
                )
        forward = {"generate_kwargs": generate}
        if seed is not None:
            forward["seed"] = check_seed(seed)
        return {}, forward, {}

    def _check_generate_options(self, generate: dict) -> None:
        """Check the decoding options in place (plain Python values), before any clip is read."""
        max_tokens = int(self.model.config.text_config.max_position_embeddings)
        ints = {
            "num_beams": (1, MAX_SAMPLES_PER_CALL),
            "num_return_sequences": (1, MAX_SAMPLES_PER_CALL),
            "max_new_tokens": (1, max_tokens),
            "min_new_tokens": (0, max_tokens),
            "top_k": (0, None),
            "no_repeat_ngram_size": (0, None),
        }
        for name, (low, high) in ints.items():
            if generate.get(name) is not None:
                generate[name] = check_int(name, generate[name], min=low, max=high)
        floats = {
            "top_p": dict(min=0, max=1, min_inclusive=False),
            "temperature": dict(min=0, min_inclusive=False),
            "repetition_penalty": dict(min=0, min_inclusive=False),
        }
        for name, bounds in floats.items():
            if generate.get(name) is not None:
                generate[name] = check_float(name, generate[name], **bounds)
        if generate.get("do_sample") is not None:
            generate["do_sample"] = bool(check_choice("do_sample", generate["do_sample"], (True, False)))
        low, high = generate.get("min_new_tokens"), generate.get("max_new_tokens")
        if low is not None and high is not None and low > high:
            raise InvalidInputError(f"min_new_tokens must be in [0, max_new_tokens={high}], got {low}")

    # ----------------------------------------------------------------------------------------------------------------
    # Steps
    # ----------------------------------------------------------------------------------------------------------------
    def preprocess(self, request: dict) -> dict:
        audio, sampling_rate, row_metadata, seconds = self._load(
            request["input"], request["sampling_rate"], request["index"]
        )
        metadata = request["metadata"] if request["metadata"] is not None else row_metadata
        name = f"input {request['index']}"
        if not np.any(audio):
            logger.warning("%s is silent (all samples are zero): its caption says nothing about the sound", name)
        if seconds > self.processor.feature_extractor.max_length_s + 1e-6:
            logger.warning(
                "%s is %.1f s long: only its first %g s are captioned (cut longer audio into clips to caption it all)",
                name,
                seconds,
                self.processor.feature_extractor.max_length_s,
            )
        try:
            inputs = self.processor(audio=audio, sampling_rate=sampling_rate, metadata=[metadata], return_tensors="pt")
        except ValueError as err:
            raise type(err)(f"{name}: {err}") from err
        return dict(inputs)

    def _load(self, item: Any, sampling_rate: int | None, index: int) -> tuple[np.ndarray, int, dict | None, float]:
        """One input -> (mono float32 audio, its rate, metadata found in a datasets row, its full length in seconds).

        Only the part the model reads (the first ``max_length_s`` seconds, and a margin) is decoded, checked and
        handed on to be resampled: a 10-minute file costs what a 10-second one does.
        """
        name = f"input {index}"
        keep_seconds = self.processor.feature_extractor.max_length_s + _TRIM_MARGIN_S
        row_metadata = None
        if isinstance(item, Mapping) and "audio" in item:  # a datasets row
            row_metadata = {key: item[key] for key in self.processor.metadata_keys if key in item}
            item = item["audio"]
        if isinstance(item, Mapping):
            if item.get("array") is not None:
                if "sampling_rate" not in item:
                    raise AudioError(f"{name}: an audio dict with 'array' needs 'sampling_rate'")
                audio, seconds = self._check_array(item["array"], item["sampling_rate"], name, keep_seconds)
                return audio, int(item["sampling_rate"]), row_metadata, seconds
            if item.get("bytes") is not None or item.get("path") is not None:  # datasets Audio(decode=False)
                item = item["bytes"] if item.get("bytes") is not None else item["path"]
            else:
                raise AudioError(
                    f"{name}: an audio dict needs 'array' + 'sampling_rate' or 'path' / 'bytes', got keys "
                    f"{sorted(item)}"
                )
        if isinstance(item, (str, os.PathLike, bytes, bytearray)):
            source = item if isinstance(item, (str, os.PathLike)) else io.BytesIO(bytes(item))
            seconds = audio_file_duration(source)
            if isinstance(source, io.BytesIO):
                source.seek(0)
            audio, rate = load_audio(source, mono="mean", max_duration=keep_seconds)
            return audio, rate, row_metadata, seconds
        if hasattr(item, "get_all_samples"):  # datasets' torchcodec AudioDecoder
            samples = item.get_all_samples()
            audio, seconds = self._check_array(samples.data, samples.sample_rate, name, keep_seconds)
            return audio, int(samples.sample_rate), row_metadata, seconds
        if isinstance(item, (np.ndarray, torch.Tensor, list)):
            if sampling_rate is None:
                raise AudioError(f"{name} is a raw array: pass sampling_rate= (its rate in Hz)")
            audio, seconds = self._check_array(item, sampling_rate, name, keep_seconds)
            return audio, sampling_rate, row_metadata, seconds
        raise AudioError(
            f"{name}: cannot caption a {type(item).__name__}; give a file path, an array with sampling_rate, an audio "
            "dict or a datasets row"
        )

    @staticmethod
    def _check_array(audio, sampling_rate, name: str, keep_seconds: float | None = None) -> tuple[np.ndarray, float]:
        """-> (mono float32 audio cut to its first ``keep_seconds``, the full length in seconds)."""
        sampling_rate = check_sample_rate(sampling_rate, f"{name} sampling_rate")
        if isinstance(audio, torch.Tensor):
            audio = audio.detach()
        else:
            audio = np.asarray(audio)
        seconds = audio.shape[-1] / sampling_rate if audio.ndim else 0.0
        if keep_seconds is not None and audio.ndim in (1, 2):
            audio = audio[..., : math.ceil(keep_seconds * sampling_rate)]
        if isinstance(audio, torch.Tensor):
            audio = audio.cpu().float().numpy()
        audio = check_audio(audio, name=name)
        return to_mono(audio, "mean"), seconds  # (channels, samples) -> mean over channels

    def _forward(self, model_inputs: dict, generate_kwargs: dict | None = None, seed: int | None = None) -> dict:
        if seed is not None:
            torch.manual_seed(seed)
        model_inputs = {
            name: value.to(self.model.dtype) if value.is_floating_point() else value
            for name, value in model_inputs.items()
        }
        generate_kwargs = dict(generate_kwargs or {})
        sequences = self.model.generate(**model_inputs, **generate_kwargs)
        batch = model_inputs["input_features"].shape[0]
        # (batch, num_return_sequences, length): the pipeline's un-batching then gives each clip all its sequences.
        return {"sequences": sequences.reshape(batch, -1, sequences.shape[-1])}

    def postprocess(self, model_outputs: dict) -> str | list[str]:
        sequences = model_outputs["sequences"]
        sequences = sequences.reshape(-1, sequences.shape[-1])
        captions = self.processor.batch_decode(sequences)
        return captions[0] if len(captions) == 1 else captions


def _is_single_input(inputs) -> bool:
    """A single clip (path, bytes, array, audio dict, datasets row) vs. a collection of clips."""
    if isinstance(inputs, (str, os.PathLike, bytes, bytearray, Mapping, np.ndarray, torch.Tensor)):
        return True
    if isinstance(inputs, list):
        if not inputs:
            return False
        # A flat list of numbers is one waveform.
        return all(isinstance(x, (int, float, np.number)) and not isinstance(x, bool) for x in inputs)
    if isinstance(inputs, (tuple, Iterable)):
        return False
    return True


__all__ = ["AutoCapPipeline", "PIPELINE_TASK"]
