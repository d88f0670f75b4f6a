"""The Gradio demo: text-to-audio and audio continuation with AudioGen, a spectrogram of every result.

Built by ``hf-audiogen space`` and by the Hugging Face Space (``spaces/app.py``). The work is done by plain functions
(:func:`text_to_audio`, :func:`continue_audio`, :func:`spectrogram_image`) that take the pipeline as an argument, so
they are usable and testable without a server; :func:`build_demo` only lays out the page and wires them up.

Concurrency: the page runs with a bounded queue (several users generate at once, up to ``concurrency_limit`` jobs in
parallel, at most ``MAX_QUEUE_SIZE`` waiting). The only shared object is the pipeline, loaded once on first use under a
lock and then only read; each request samples with its own ``torch.Generator`` seeded from the request's seed (never
the global RNG).

Bad input: every knob is bounded on the page *and* checked again by the handler (API clients can send anything,
NaN included), with the shared checks of :mod:`hf_audiogen.validation`. A handler raises ``InvalidInputError`` /
``AudioError`` (or the pipeline's own ``ValueError``); :func:`shown_to_user` turns them into one-line ``gr.Error``
messages naming the value and what is allowed. Uploads arrive as file paths and are decoded with soundfile (WAV, FLAC,
OGG, MP3 without ffmpeg), reading only the frames the model uses (the last ``MAX_CLIP_SECONDS`` of a clip to
continue, the first seconds AutoCap reads of a clip to caption), so a long upload costs no more than a short one.
Uploads are capped at ``MAX_UPLOAD_SIZE`` and temporary files are deleted after ``DELETE_CACHE``.

Privacy: gradio's usage analytics and its version check (requests to api.gradio.app and huggingface.co at build and
launch) are turned off; the server contacts no outside host.

Tabs for GenAU (text-to-audio latent diffusion), Audio-Journey (diffusion in the codec's latent space) and AutoCap
(audio captioning) appear only when the installed package provides their pipeline *and* a model is configured for
them (argument or the ``HF_GENAU_MODEL`` / ``HF_AUDIO_JOURNEY_MODEL`` / ``HF_AUTOCAP_MODEL`` environment variable).

Example:

```python
>>> from hf_audiogen.demo import build_demo
>>> demo = build_demo("path/to/audiogen")  # doctest: +SKIP
>>> demo.launch(server_name="127.0.0.1", server_port=7860)  # doctest: +SKIP
```
"""

from __future__ import annotations

import functools
import importlib
import logging
import math
import os
import threading
from collections.abc import Callable
from typing import Any, Literal

# Before gradio is imported: no usage analytics or version check (outside hosts contacted at build and launch).
# build_demo also passes analytics_enabled=False, which is what holds for this page whatever the environment says.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402
from transformers.audio_utils import (  # noqa: E402
    hertz_to_mel,
    mel_filter_bank,
    mel_to_hertz,
    spectrogram,
    window_function,
)

from .audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, AudioError, check_audio, check_sample_rate, to_mono  # noqa: E402
from .validation import MAX_INFERENCE_STEPS, MAX_SAMPLES_PER_CALL, InvalidInputError, check_float  # noqa: E402

logger = logging.getLogger(__name__)

MODEL_ENV_VAR = "HF_AUDIOGEN_MODEL"
OPTIONAL_MODELS = {  # tab -> (module, pipeline class, environment variable naming its model)
    "genau": ("hf_audiogen.genau", "GenAUPipeline", "HF_GENAU_MODEL"),
    "audio_journey": ("hf_audiogen.audio_journey", "AudioJourneyPipeline", "HF_AUDIO_JOURNEY_MODEL"),
    "autocap": ("hf_audiogen.autocap", "AutoCapPipeline", "HF_AUTOCAP_MODEL"),
}
# Bounds of every knob: the page's controls use them, and the handlers check them again (API clients).
MAX_SAMPLES = 4  # output slots on the page
assert MAX_SAMPLES <= MAX_SAMPLES_PER_CALL
MIN_DURATION = 0.1  # seconds
MAX_DURATION = 10.0  # seconds of new audio per request: keeps CPU requests short for everyone in the queue
MAX_GUIDANCE = 10.0
MAX_TOP_K = 500
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.1, 2.0
MAX_SEED = 2**32 - 1
MAX_GENAU_STEPS = min(200, MAX_INFERENCE_STEPS)
MAX_PROMPT_CHARS = 1000
MAX_CLIP_SECONDS = 10.0  # longer uploads are continued from their last MAX_CLIP_SECONDS (only those are read)
MAX_CLIP_CHANNELS = 8
# Server limits: upload size (gradio refuses larger files before they reach a handler), requests waiting in the queue,
# and how often / after how long gradio deletes the uploads and results it keeps on disk (seconds).
MAX_UPLOAD_SIZE = "100mb"
MAX_QUEUE_SIZE = 20
DELETE_CACHE = (3600, 3600)
DEFAULT_CONCURRENCY = 2
SPECTROGRAM_SIZE = (256, 640)  # (height, width) in pixels of the spectrogram images
EXAMPLE_PROMPTS = ["a dog barks in the rain", "footsteps on gravel", "a car passes by on a wet road"]

Result = tuple[int, np.ndarray, np.ndarray]  # (sampling rate, int16 audio, spectrogram RGB image)


# ---------------------------------------------------------------------------------------------------- model loading
class PipelineLoader:
    """Loads a pipeline on first use, exactly once even when requests arrive together (gradio runs handlers in
    worker threads); a failed load is retried by the next request."""

    def __init__(self, load: Callable[[], Any], description: str):
        self._load = load
        self.description = description
        self._pipeline = None
        self._lock = threading.Lock()

    def __call__(self):
        if self._pipeline is None:
            with self._lock:
                if self._pipeline is None:
                    try:
                        self._pipeline = self._load()
                    except (OSError, ValueError) as err:
                        raise gr.Error(f"The model {self.description} could not be loaded: {err}") from err
        return self._pipeline


def audiogen_loader(model=None) -> PipelineLoader:
    """Loader of the AudioGen pipeline: ``model`` (a directory, a Hub id or an already loaded ``AudioGenPipeline``),
    else ``$HF_AUDIOGEN_MODEL``, else the bundled demo model."""
    from .pretrained import DEMO_MODEL_NAME, load_pipeline

    if model is None:
        model = os.environ.get(MODEL_ENV_VAR) or None
    if model is not None and not isinstance(model, (str, os.PathLike)):
        return _loaded(model)
    return PipelineLoader(functools.partial(load_pipeline, model), _model_name(model, f"{DEMO_MODEL_NAME} (bundled)"))


def _loaded(pipeline) -> PipelineLoader:
    """A loader for a pipeline object that is already loaded (named after the directory its model came from)."""
    source = getattr(getattr(pipeline, "model", None), "name_or_path", None) or getattr(pipeline, "name_or_path", None)
    return PipelineLoader(lambda: pipeline, _model_name(source or None, type(pipeline).__name__))


def _model_name(model: str | os.PathLike | None, default: str) -> str:
    """How the page names a model: a Hub id as is, a local directory by its name (no server paths on the page)."""
    if model is None:
        return default
    model = os.fspath(model)
    return os.path.basename(os.path.normpath(model)) if os.path.isdir(model) else model


def optional_loader(tab: str, model=None) -> PipelineLoader | None:
    """Loader for the GenAU / AutoCap tab (``model``: directory, Hub id or loaded pipeline; default: its environment
    variable), or ``None`` when no model is configured or this install has no such pipeline."""
    module_name, class_name, env_var = OPTIONAL_MODELS[tab]
    if model is None:
        model = os.environ.get(env_var) or None
    if model is None:
        return None
    if not isinstance(model, (str, os.PathLike)):
        return _loaded(model)
    try:
        pipeline_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        logger.warning(
            "%s names a model, but this hf_audiogen has no %s: the %s tab is left out", env_var, class_name, tab
        )
        return None
    return PipelineLoader(functools.partial(pipeline_class.from_pretrained, os.fspath(model)), _model_name(model, ""))


# ------------------------------------------------------------------------------------------------------ conversions
def to_int16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int16 PCM (what gr.Audio plays without its float conversion warning)."""
    audio = np.clip(np.nan_to_num(np.asarray(audio, dtype=np.float32)), -1.0, 1.0)
    return np.round(audio * 32767.0).astype(np.int16)


def read_clip(
    clip, max_seconds: float, keep: Literal["end", "start"] = "end", name: str = "the clip"
) -> tuple[np.ndarray, int, float]:
    """An uploaded clip -> ``(mono float32 audio of at most max_seconds, sampling rate, seconds of the whole clip)``.

    ``clip`` is what gr.Audio(type="filepath") gives (a path to any file libsndfile reads: WAV, FLAC, OGG, MP3; no
    ffmpeg) or a ``(rate, samples)`` pair as gr.Audio(type="numpy") gives (``(samples,)`` or ``(samples, channels)``).
    Only the ``max_seconds`` at the ``keep`` end are read and converted, whatever the length of the upload.
    Raises ``InvalidInputError`` / ``AudioError`` (one line) for anything unusable.
    """
    if clip is None:
        raise InvalidInputError(f"Please upload {name} (or record one) first.")
    if isinstance(clip, (str, os.PathLike)):
        return _read_clip_file(os.fspath(clip), max_seconds, keep)
    if not isinstance(clip, (tuple, list)) or len(clip) != 2:
        raise InvalidInputError(
            f"{name} must be an audio file or a (sample rate, samples) pair, got {type(clip).__name__}"
        )
    sampling_rate, data = clip
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, float, np.number)):
        raise InvalidInputError(
            f"{name}'s sample rate must be an integer between {MIN_SAMPLE_RATE} and "
            f"{MAX_SAMPLE_RATE} Hz, got {_shown(sampling_rate)}"
        )
    sampling_rate = check_sample_rate(sampling_rate, f"{name}'s sample rate")  # 0, NaN, 44.1 (kHz): one line
    data = np.asarray(data)
    if data.dtype.kind not in "fiu" or data.ndim not in (1, 2):
        raise AudioError(
            f"{name} must be numbers of shape (samples,) or (samples, channels), got dtype {data.dtype} "
            f"and shape {data.shape}"
        )
    if data.ndim == 2 and data.shape[1] > MAX_CLIP_CHANNELS:
        raise AudioError(f"{name} must have 1 to {MAX_CLIP_CHANNELS} channels, got {data.shape[1]}")
    total = data.shape[0]
    count = min(total, int(round(max_seconds * sampling_rate)))
    data = data[total - count :] if keep == "end" else data[:count]  # trim before converting anything
    audio = check_audio(data.T, name=name)  # ints -> float32 in [-1, 1); empty or NaN/inf -> AudioError
    return to_mono(audio), sampling_rate, total / sampling_rate


def _read_clip_file(path: str, max_seconds: float, keep: Literal["end", "start"]) -> tuple[np.ndarray, int, float]:
    shown = os.path.basename(path) or "the clip"  # the page shows the file's name, never the server's path
    if not os.path.isfile(path):
        raise AudioError(f"the uploaded file {shown!r} is gone; please upload it again")
    try:
        with sf.SoundFile(path) as file:
            sampling_rate = check_sample_rate(file.samplerate, f"sample rate of {shown}")
            if not 1 <= file.channels <= MAX_CLIP_CHANNELS:
                raise AudioError(f"{shown} must have 1 to {MAX_CLIP_CHANNELS} channels, got {file.channels}")
            total = file.frames
            count = min(total, int(round(max_seconds * sampling_rate)))
            if keep == "end" and total > count:
                file.seek(total - count)
            data = file.read(count, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, sf.SoundFileError, RuntimeError, TypeError) as err:
        reason = str(err).replace(path, shown)  # libsndfile names the file: not the server's path on the page
        raise AudioError(f"cannot decode {shown} ({reason}); upload a WAV, FLAC, OGG or MP3 file") from err
    audio = check_audio(data.T, name=shown)  # (channels, samples); empty or NaN/inf -> AudioError
    return to_mono(audio), sampling_rate, total / sampling_rate


def spectrogram_image(audio: np.ndarray, sampling_rate: int, marker_seconds: float | None = None) -> np.ndarray:
    """Log-mel spectrogram of ``audio`` rendered as an RGB image of ``SPECTROGRAM_SIZE`` (time in seconds on x,
    frequency on y). ``marker_seconds`` draws a line there (where a continued clip ends)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    n_fft, hop, n_mels = 1024, 256, 64
    if audio.size < n_fft:  # shorter than one window: pad so the plot still has one column
        audio = np.pad(audio, (0, n_fft - audio.size))
    mel = spectrogram(
        audio,
        window_function(n_fft, "hann"),
        frame_length=n_fft,
        hop_length=hop,
        power=2.0,
        mel_filters=mel_filter_bank(n_fft // 2 + 1, n_mels, 0.0, sampling_rate / 2, sampling_rate, mel_scale="htk"),
        log_mel="dB",
        db_range=80.0,
    )
    height, width = SPECTROGRAM_SIZE
    dpi = 100
    # A Figure without pyplot: no global figure registry, so concurrent requests do not share plotting state.
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_axes((0.08, 0.2, 0.9, 0.72))
    seconds = audio.size / sampling_rate
    axes.imshow(mel, origin="lower", aspect="auto", cmap="magma", extent=(0.0, seconds, 0, n_mels))
    if marker_seconds is not None:
        axes.axvline(marker_seconds, color="cyan", linewidth=1.5, linestyle="--")
    axes.set_xlabel("time (s)", fontsize=8)
    # Label the mel bands with their frequencies (the HTK mel scale of the filter bank above).
    ticks = np.linspace(0, n_mels, 5)
    hertz = mel_to_hertz(ticks / n_mels * hertz_to_mel(sampling_rate / 2, "htk"), "htk")
    axes.set_yticks(ticks, [f"{h / 1000:.1f}" for h in hertz])
    axes.set_ylabel("frequency (kHz)", fontsize=8)
    axes.tick_params(labelsize=7)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


# ------------------------------------------------------------------------------------------------------- validation
# The page's controls bound their values, but the same endpoints are open to API clients (which can send NaN, inf,
# strings or None): everything is checked here, with the shared checks. They raise InvalidInputError / AudioError;
# shown_to_user turns those into gr.Error, in one place.
def shown_to_user(handler: Callable) -> Callable:
    """Decorator of the page's handlers: bad input (``ValueError``: ``InvalidInputError``, ``AudioError`` and what the
    pipelines raise for bad arguments) reaches the user as a one-line gr.Error instead of a bare "Error"."""

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except gr.Error:
            raise
        except ValueError as err:
            message = " ".join(str(err).split()) or type(err).__name__
            raise gr.Error(message[:1].upper() + message[1:]) from err

    return wrapper


def _shown(value) -> str:
    """How a bad value is named in a message (a short repr, also for long strings)."""
    text = f"{value:g}" if isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_number(label: str, value, minimum: float, maximum: float) -> float:
    """A finite number in ``[minimum, maximum]`` (NaN and infinities refused), else ``InvalidInputError``."""
    return check_float(label, value, min=minimum, max=maximum)


def check_whole(label: str, value, minimum: int, maximum: int) -> int:
    """A whole number in ``[minimum, maximum]`` (``3.0`` from a slider is fine, ``2.5`` and NaN are not)."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.number))
    if ok:
        number = float(value)
        ok = math.isfinite(number) and number == int(number) and minimum <= number <= maximum
    if not ok:
        raise InvalidInputError(f"{label} must be a whole number in [{minimum}, {maximum}], got {_shown(value)}")
    return int(value)


def check_text(label: str, value, required: bool = False) -> str:
    """Text of at most ``MAX_PROMPT_CHARS`` characters, stripped (``None`` = empty)."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{label} must be text of at most {MAX_PROMPT_CHARS} characters, got {type(value).__name__} {_shown(value)}"
        )
    if len(value) > MAX_PROMPT_CHARS:
        raise InvalidInputError(f"{label} must be text of at most {MAX_PROMPT_CHARS} characters, got {len(value)}")
    if required and not value.strip():
        raise InvalidInputError("Please describe the sound to generate (e.g. “a dog barks in the rain”).")
    return value.strip()


def check_duration(duration, maximum: float = MAX_DURATION) -> float:
    return check_number("Duration (s)", duration, MIN_DURATION, maximum)


def check_guidance(guidance_scale) -> float:
    return check_number("Guidance", guidance_scale, 0.0, MAX_GUIDANCE)


def seeded_generator(seed) -> torch.Generator:
    """Per-request generator: concurrent requests never touch the global RNG or each other's state."""
    return torch.Generator().manual_seed(check_whole("Seed", seed, 0, MAX_SEED))


def sampling_kwargs(duration, guidance_scale, top_k, top_p, temperature, seed) -> dict:
    """AudioGen's settings from the page -> ``AudioGenPipeline`` arguments (``InvalidInputError`` on a bad value)."""
    return dict(
        duration=check_duration(duration),
        guidance_scale=check_guidance(guidance_scale),
        top_k=check_whole("Top-k", top_k, 0, MAX_TOP_K),
        top_p=check_number("Top-p", top_p, 0.0, 1.0) or 1.0,
        temperature=check_number("Temperature", temperature, MIN_TEMPERATURE, MAX_TEMPERATURE),
        generator=seeded_generator(seed),
    )


def check_num_samples(num_samples) -> int:
    return check_whole("Number of samples", num_samples, 1, MAX_SAMPLES)


def _as_list(output) -> list[dict]:
    return output if isinstance(output, list) else [output]


def _result(output: dict, marker_seconds: float | None = None) -> Result:
    audio, sampling_rate = np.asarray(output["audio"]).reshape(-1), int(output["sampling_rate"])
    return sampling_rate, to_int16(audio), spectrogram_image(audio, sampling_rate, marker_seconds)


# -------------------------------------------------------------------------------------------------------- the tasks
@shown_to_user
def text_to_audio(
    pipeline,
    prompt: str,
    duration: float = 3.0,
    guidance_scale: float = 3.0,
    top_k: float = 0,
    top_p: float = 0.25,
    temperature: float = 1.0,
    seed: float = 0,
    num_samples: float = 1,
    negative_prompt: str = "",
) -> list[Result]:
    """Generate ``num_samples`` clips for ``prompt``: ``[(sampling_rate, int16 audio, spectrogram image), ...]``."""
    prompt = check_text("Prompt", prompt, required=True)
    negative_prompt = check_text("Negative prompt", negative_prompt) or None
    kwargs = sampling_kwargs(duration, guidance_scale, top_k, top_p, temperature, seed)
    num_samples = check_num_samples(num_samples)
    output = pipeline(prompt, negative_prompt=negative_prompt, num_return_sequences=num_samples, **kwargs)
    return [_result(out) for out in _as_list(output)]


@shown_to_user
def continue_audio(
    pipeline,
    clip,
    prompt: str = "",
    duration: float = 3.0,
    guidance_scale: float = 3.0,
    top_k: float = 0,
    top_p: float = 0.25,
    temperature: float = 1.0,
    seed: float = 0,
) -> Result:
    """Continue an uploaded clip (a file path, as gr.Audio(type="filepath") gives, or ``(rate, samples)``) by
    ``duration`` seconds, optionally steered by ``prompt``. Only what the model reads of the clip is read from the
    upload (its last ``MAX_CLIP_SECONDS``, or less for a model with a shorter window). The result starts with the
    part of the clip the model continued; its spectrogram marks where the clip ends, and a warning says when that
    is not the whole clip."""
    prompt = check_text("Prompt", prompt)
    kwargs = sampling_kwargs(duration, guidance_scale, top_k, top_p, temperature, seed)  # cheap checks first
    config = getattr(getattr(pipeline, "model", None), "config", None)
    read_seconds = min(MAX_CLIP_SECONDS, float(getattr(config, "max_duration", None) or MAX_CLIP_SECONDS))
    audio, sampling_rate, total_seconds = read_clip(clip, read_seconds, keep="end", name="the clip to continue")
    output = _as_list(pipeline(prompt, audio_prompt=(audio, sampling_rate), **kwargs))[0]
    # The output is (the part of) the clip the model read, then the new audio: the clip ends where the new audio
    # starts. The new audio is a whole number of codec frames.
    frame_rate = getattr(config, "frame_rate", None)
    new_seconds = int(kwargs["duration"] * frame_rate) / frame_rate if frame_rate else kwargs["duration"]
    output_seconds = np.asarray(output["audio"]).size / int(output["sampling_rate"])
    clip_seconds = min(max(output_seconds - new_seconds, 0.0), total_seconds)
    if total_seconds > clip_seconds + 0.05:
        gr.Warning(f"The clip is {total_seconds:.1f} s long: continuing its last {clip_seconds:.3g} s.")
    return _result(output, marker_seconds=clip_seconds)


@shown_to_user
def genau_text_to_audio(
    pipeline,
    prompt: str,
    duration: float = 5.0,
    num_inference_steps: float = 50,
    guidance_scale: float = 4.0,
    seed: float = 0,
    negative_prompt: str = "",
) -> Result:
    """Text-to-audio with a diffusion pipeline (``GenAUPipeline`` or ``AudioJourneyPipeline``: prompt, negative
    prompt, steps, guidance, length in seconds): ``(sampling_rate, int16 audio, spectrogram)``."""
    prompt = check_text("Prompt", prompt, required=True)
    negative_prompt = check_text("Negative prompt", negative_prompt) or None
    longest = getattr(pipeline, "max_audio_length_in_s", MAX_DURATION)  # GenAU: its transformer's positional range
    duration = check_duration(duration, min(MAX_DURATION, longest))
    steps = check_whole("Steps", num_inference_steps, 1, MAX_GENAU_STEPS)
    output = pipeline(
        prompt,
        negative_prompt=negative_prompt,
        num_inference_steps=steps,
        guidance_scale=check_guidance(guidance_scale),
        audio_length_in_s=duration,
        generator=seeded_generator(seed),
    )
    return _result({"audio": output.audios[0], "sampling_rate": pipeline.sampling_rate})


@shown_to_user
def caption_audio(pipeline, clip) -> str:
    """Caption an uploaded clip (file path or ``(rate, samples)``) with an ``AutoCapPipeline``. Only the seconds
    AutoCap reads (its feature extractor's ``max_length_s``, 10 s) are read from the upload."""
    extractor = getattr(getattr(pipeline, "processor", None), "feature_extractor", None)
    max_seconds = float(getattr(extractor, "max_length_s", MAX_CLIP_SECONDS))
    audio, sampling_rate, total_seconds = read_clip(clip, max_seconds, keep="start", name="the clip to caption")
    if total_seconds > audio.size / sampling_rate + 1e-6:
        gr.Warning(f"The clip is {total_seconds:.1f} s long: captioning its first {max_seconds:g} s.")
    return pipeline({"array": audio, "sampling_rate": sampling_rate})


# ------------------------------------------------------------------------------------------------------------ page
def _sampling_controls() -> list:
    guidance = gr.Slider(0.0, MAX_GUIDANCE, value=3.0, step=0.5, label="Guidance (classifier-free; 1 = none)")
    top_k = gr.Slider(0, MAX_TOP_K, value=0, step=1, label="Top-k (0 = off)")
    top_p = gr.Slider(0.0, 1.0, value=0.25, step=0.05, label="Top-p (0 or 1 = off)")
    temperature = gr.Slider(MIN_TEMPERATURE, MAX_TEMPERATURE, value=1.0, step=0.05, label="Temperature")
    return [guidance, top_k, top_p, temperature, _seed_control()]


def _seed_control() -> gr.Number:
    # No precision=0: gradio would turn a NaN from an API client into a crash before the handler could explain it.
    return gr.Number(value=0, minimum=0, maximum=MAX_SEED, step=1, label="Seed")


def _prompt_box(label: str, placeholder: str, **kwargs) -> gr.Textbox:
    return gr.Textbox(label=label, placeholder=placeholder, max_length=MAX_PROMPT_CHARS, **kwargs)


def _slots(results: list[Result]) -> list:
    """Values of the MAX_SAMPLES (audio, image) output pairs: the results, then None for the unused slots (plain
    values, so that API clients get file paths, not component updates)."""
    values = []
    for i in range(MAX_SAMPLES):
        if i < len(results):
            sampling_rate, audio, image = results[i]
            values += [(sampling_rate, audio), image]
        else:
            values += [None, None]
    return values


def _slot_visibility(num_samples: float) -> list:
    """Show as many output pairs as samples are asked for (one for a value the handler will refuse)."""
    try:
        shown = check_num_samples(num_samples)
    except InvalidInputError:
        shown = 1
    return [component(visible=i < shown) for i in range(MAX_SAMPLES) for component in (gr.Audio, gr.Image)]


def _diffusion_tab(tab: str, loader: PipelineLoader, description: str) -> None:
    """The tab of a text-to-audio diffusion pipeline (GenAU, Audio-Journey): prompt, length, steps, guidance, seed,
    negative prompt; its API name is the tab's name in lower case (``genau``, ``audio_journey``)."""
    api_name = tab.lower().replace("-", "_")
    with gr.Tab(tab):
        gr.Markdown(f"{description}, model `{loader.description}`.")
        with gr.Row():
            with gr.Column():
                inputs = [
                    _prompt_box("Prompt", "a dog barks in the rain", lines=2),
                    gr.Slider(MIN_DURATION, MAX_DURATION, value=5.0, step=0.1, label="Duration (s)"),
                    gr.Slider(1, MAX_GENAU_STEPS, value=50, step=1, label="Denoising steps"),
                    gr.Slider(0.0, MAX_GUIDANCE, value=4.0, step=0.5, label="Guidance (classifier-free; <= 1 = none)"),
                    _seed_control(),
                    _prompt_box("Negative prompt (optional)", ""),
                ]
                button = gr.Button(f"Generate with {tab}", variant="primary")
            with gr.Column():
                outputs = [
                    gr.Audio(label=f"{tab} sample", type="numpy", interactive=False),
                    gr.Image(label="Spectrogram", interactive=False, format="png"),
                ]

        def on_generate(
            prompt, duration, steps, guidance, seed, negative_prompt, progress=gr.Progress(track_tqdm=True)
        ):
            sampling_rate, audio, image = genau_text_to_audio(
                loader(), prompt, duration, steps, guidance, seed, negative_prompt
            )
            return (sampling_rate, audio), image

        button.click(on_generate, inputs, outputs, api_name=api_name)


class DemoBlocks(gr.Blocks):
    """The demo's ``gr.Blocks``: ``launch()`` caps uploads at ``MAX_UPLOAD_SIZE`` unless told otherwise (gradio
    only takes that limit at launch, and the Space, ``hf-audiogen space`` and the tests all launch this page)."""

    def launch(self, *args, **kwargs):
        kwargs.setdefault("max_file_size", MAX_UPLOAD_SIZE)
        return super().launch(*args, **kwargs)


def _demo_model_note() -> str:
    from .pretrained import DEMO_MODEL_NOTE

    return DEMO_MODEL_NOTE


def build_demo(
    model=None,
    genau_model: str | os.PathLike | None = None,
    autocap_model: str | os.PathLike | None = None,
    concurrency_limit: int | None = None,
    audio_journey_model: str | os.PathLike | None = None,
    max_queue_size: int = MAX_QUEUE_SIZE,
) -> DemoBlocks:
    """The demo page, with its queue set up; nothing is loaded until the first request.

    Args:
        model: AudioGen model directory, Hub id or loaded ``AudioGenPipeline`` (default: ``$HF_AUDIOGEN_MODEL``,
            else the bundled demo model).
        genau_model, autocap_model, audio_journey_model: models of the optional tabs (default: ``$HF_GENAU_MODEL``,
            ``$HF_AUTOCAP_MODEL``, ``$HF_AUDIO_JOURNEY_MODEL``).
        concurrency_limit: generation jobs run in parallel (default: ``$HF_AUDIOGEN_CONCURRENCY``, else 2); more
            requests wait in the queue.
        max_queue_size: requests that may wait in the queue; more are turned away with "the queue is full".
    """
    if concurrency_limit is None:
        setting = os.environ.get("HF_AUDIOGEN_CONCURRENCY", str(DEFAULT_CONCURRENCY))
        if not setting.strip().isdigit():
            raise InvalidInputError(f"HF_AUDIOGEN_CONCURRENCY must be an integer >= 1, got {setting!r}")
        concurrency_limit = int(setting)
    if isinstance(concurrency_limit, bool) or not isinstance(concurrency_limit, int) or concurrency_limit < 1:
        raise InvalidInputError(f"concurrency_limit must be an integer >= 1, got {concurrency_limit!r}")
    if isinstance(max_queue_size, bool) or not isinstance(max_queue_size, int) or max_queue_size < 1:
        raise InvalidInputError(f"max_queue_size must be an integer >= 1, got {max_queue_size!r}")
    audiogen = audiogen_loader(model)
    genau = optional_loader("genau", genau_model)
    audio_journey = optional_loader("audio_journey", audio_journey_model)
    autocap = optional_loader("autocap", autocap_model)

    def on_generate(
        prompt,
        negative_prompt,
        duration,
        num_samples,
        guidance,
        top_k,
        top_p,
        temperature,
        seed,
        progress=gr.Progress(track_tqdm=True),
    ):
        results = text_to_audio(
            audiogen(), prompt, duration, guidance, top_k, top_p, temperature, seed, num_samples, negative_prompt
        )
        return _slots(results)

    def on_continue(
        clip, prompt, duration, guidance, top_k, top_p, temperature, seed, progress=gr.Progress(track_tqdm=True)
    ):
        sampling_rate, audio, image = continue_audio(
            audiogen(), clip, prompt, duration, guidance, top_k, top_p, temperature, seed
        )
        return (sampling_rate, audio), image

    # analytics_enabled=False: no usage analytics and no version check (api.gradio.app, huggingface.co).
    with DemoBlocks(title="hf_audiogen: text-to-audio", analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(
            "# hf_audiogen: sound effects from text\n"
            f"AudioGen model: `{audiogen.description}`. Describe a sound, pick a duration and press **Generate**; "
            "or upload a clip to continue it. Each result comes with its log-mel spectrogram."
            + (f"\n\n*Model: {_demo_model_note()}.*" if audiogen.description.endswith("(bundled)") else "")
        )
        with gr.Tab("Text to audio"):
            with gr.Row():
                with gr.Column():
                    prompt = _prompt_box("Prompt", "a dog barks in the rain", lines=2, elem_id="prompt")
                    negative_prompt = _prompt_box("Negative prompt (optional)", "wind noise")
                    duration = gr.Slider(
                        MIN_DURATION, MAX_DURATION, value=3.0, step=0.1, label="Duration (s)", elem_id="duration"
                    )
                    num_samples = gr.Slider(
                        1, MAX_SAMPLES, value=1, step=1, label="Number of samples", elem_id="num-samples"
                    )
                    with gr.Accordion("Sampling", open=False):
                        sampling = _sampling_controls()
                    generate_button = gr.Button("Generate", variant="primary", elem_id="generate")
                    gr.Examples([[p] for p in EXAMPLE_PROMPTS], inputs=[prompt])
                with gr.Column():
                    outputs = []
                    for i in range(MAX_SAMPLES):
                        outputs.append(
                            gr.Audio(
                                label=f"Sample {i + 1}",
                                type="numpy",
                                interactive=False,
                                visible=i == 0,
                                elem_id=f"audio-{i}",
                            )
                        )
                        outputs.append(
                            gr.Image(
                                label=f"Spectrogram {i + 1}",
                                interactive=False,
                                format="png",
                                visible=i == 0,
                                elem_id=f"spectrogram-{i}",
                            )
                        )
            generate_inputs = [prompt, negative_prompt, duration, num_samples, *sampling]
            generate_button.click(on_generate, generate_inputs, outputs, api_name="generate")
            num_samples.change(_slot_visibility, num_samples, outputs, api_name=False, queue=False)
            prompt.submit(on_generate, generate_inputs, outputs, api_name=False)

        with gr.Tab("Continue a clip"):
            with gr.Row():
                with gr.Column():
                    # type="filepath": the handler decodes the upload with soundfile (no ffmpeg), reading only
                    # the part it continues; "numpy" would have gradio decode the whole file first.
                    clip = gr.Audio(
                        label=f"Clip to continue (its last {MAX_CLIP_SECONDS:g} s are used)",
                        type="filepath",
                        sources=["upload", "microphone"],
                        elem_id="clip",
                    )
                    continue_prompt = _prompt_box("Prompt (optional)", "footsteps on gravel")
                    continue_duration = gr.Slider(
                        MIN_DURATION,
                        MAX_DURATION,
                        value=3.0,
                        step=0.1,
                        label="Seconds to add",
                        elem_id="continue-duration",
                    )
                    with gr.Accordion("Sampling", open=False):
                        continue_sampling = _sampling_controls()
                    continue_button = gr.Button("Continue", variant="primary", elem_id="continue")
                with gr.Column():
                    continued = gr.Audio(
                        label="Clip + continuation", type="numpy", interactive=False, elem_id="continued"
                    )
                    continued_image = gr.Image(
                        label="Spectrogram (dashed line: end of the clip)",
                        interactive=False,
                        format="png",
                        elem_id="continued-spectrogram",
                    )
            continue_button.click(
                on_continue,
                [clip, continue_prompt, continue_duration, *continue_sampling],
                [continued, continued_image],
                api_name="continue",
            )

        for tab, loader, description in (
            ("GenAU", genau, "Latent-diffusion text-to-audio (a FiT over a 1D mel-VAE)"),
            ("Audio-Journey", audio_journey, "Diffusion in the codec's continuous latent space (a wide-channel U-Net)"),
        ):
            if loader is not None:
                _diffusion_tab(tab, loader, description)

        if autocap is not None:
            with gr.Tab("AutoCap captioning"):
                gr.Markdown(f"Describe a sound with AutoCap, model `{autocap.description}`.")
                caption_clip = gr.Audio(label="Clip to caption", type="filepath", sources=["upload", "microphone"])
                caption_button = gr.Button("Caption", variant="primary")
                caption = gr.Textbox(label="Caption", interactive=False)
                caption_button.click(
                    lambda clip: caption_audio(autocap(), clip), [caption_clip], [caption], api_name="caption"
                )

    return demo.queue(default_concurrency_limit=concurrency_limit, max_size=max_queue_size)


__all__ = [
    "DemoBlocks",
    "PipelineLoader",
    "audiogen_loader",
    "build_demo",
    "caption_audio",
    "check_duration",
    "check_guidance",
    "continue_audio",
    "genau_text_to_audio",
    "optional_loader",
    "read_clip",
    "sampling_kwargs",
    "seeded_generator",
    "shown_to_user",
    "spectrogram_image",
    "text_to_audio",
    "to_int16",
]
