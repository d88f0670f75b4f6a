"""The Gradio demo: text-to-audio and audio continuation with AudioGen, a spectrogram of every result.

Built by ``hf-audiogen space`` and by the Hugging Face Space (``spaces/app.py``). The work is done by plain functions
(:func:`text_to_audio`, :func:`continue_audio`, :func:`spectrogram_image`) that take the pipeline as an argument, so
they are usable and testable without a server; :func:`build_demo` only lays out the page and wires them up.

Concurrency: the page runs with a queue (several users generate at once, up to ``concurrency_limit`` jobs in
parallel). The only shared object is the pipeline, loaded once on first use under a lock and then only read; each
request samples with its own ``torch.Generator`` seeded from the request's seed (never the global RNG).

Tabs for GenAU (text-to-audio latent diffusion) and AutoCap (audio captioning) appear only when the installed
package provides ``GenAUPipeline`` / ``AutoCapPipeline`` *and* a model is configured for them (argument or the
``HF_GENAU_MODEL`` / ``HF_AUTOCAP_MODEL`` environment variable).

Example:

```python
>>> from hf_audiogen.demo import build_demo
>>> demo = build_demo("path/to/audiogen")  # doctest: +SKIP
>>> demo.launch(server_name="127.0.0.1", server_port=7860)  # doctest: +SKIP
```
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import gradio as gr
import numpy as np
import torch
from transformers.audio_utils import hertz_to_mel, mel_filter_bank, mel_to_hertz, spectrogram, window_function

from .audio import int_to_float, to_mono

logger = logging.getLogger(__name__)

MODEL_ENV_VAR = "HF_AUDIOGEN_MODEL"
OPTIONAL_MODELS = {  # tab -> (module, pipeline class, environment variable naming its model)
    "genau": ("hf_audiogen.genau", "GenAUPipeline", "HF_GENAU_MODEL"),
    "autocap": ("hf_audiogen.autocap", "AutoCapPipeline", "HF_AUTOCAP_MODEL"),
}
MAX_SAMPLES = 4  # output slots on the page
MAX_DURATION = 10.0  # seconds of new audio per request: keeps CPU requests short for everyone in the queue
MAX_CLIP_SECONDS = 10.0  # longer uploads are continued from their last MAX_CLIP_SECONDS
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
        logger.warning("%s names a model, but this hf_audiogen has no %s: the %s tab is left out", env_var,
                       class_name, tab)  # fmt: skip
        return None
    return PipelineLoader(functools.partial(pipeline_class.from_pretrained, os.fspath(model)), _model_name(model, ""))


# ------------------------------------------------------------------------------------------------------ conversions
def to_int16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int16 PCM (what gr.Audio plays without its float conversion warning)."""
    audio = np.clip(np.nan_to_num(np.asarray(audio, dtype=np.float32)), -1.0, 1.0)
    return np.round(audio * 32767.0).astype(np.int16)


def from_gradio_audio(value: tuple[int, np.ndarray] | None, name: str = "the uploaded clip") -> tuple[np.ndarray, int]:
    """gr.Audio(type="numpy") value ``(rate, (samples,) or (samples, channels) PCM)`` -> (mono float32, rate)."""
    if value is None:
        raise gr.Error(f"Please upload {name} (or record one) first.")
    sampling_rate, data = value
    data = np.asarray(data)
    if data.size == 0:
        raise gr.Error(f"{name.capitalize()} is empty.")
    audio = int_to_float(data) if np.issubdtype(data.dtype, np.integer) else data.astype(np.float32)
    if audio.ndim == 2:
        audio = to_mono(audio.T)  # gradio gives (samples, channels)
    return audio, int(sampling_rate)


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
        audio, window_function(n_fft, "hann"), frame_length=n_fft, hop_length=hop, power=2.0,
        mel_filters=mel_filter_bank(n_fft // 2 + 1, n_mels, 0.0, sampling_rate / 2, sampling_rate, mel_scale="htk"),
        log_mel="dB", db_range=80.0,
    )  # fmt: skip
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
# The page's controls bound their values, but the same endpoints are open to API clients: everything is checked here,
# with messages for the user (gr.Error).
def _number(value, label: str) -> float:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise gr.Error(f"{label} must be a number, got {value!r}.")
    if not np.isfinite(value):
        raise gr.Error(f"{label} must be a finite number, got {value!r}.")
    return float(value)


def check_duration(duration, maximum: float = MAX_DURATION) -> float:
    duration = _number(duration, "Duration")
    if not 0 < duration <= maximum:
        raise gr.Error(f"Duration must be more than 0 and at most {maximum:g} seconds, got {duration:g}.")
    return duration


def check_guidance(guidance_scale) -> float:
    guidance_scale = _number(guidance_scale, "Guidance")
    if guidance_scale < 0:
        raise gr.Error(f"Guidance must be 0 or more (1 = no guidance), got {guidance_scale:g}.")
    return guidance_scale


def seeded_generator(seed) -> torch.Generator:
    """Per-request generator: concurrent requests never touch the global RNG or each other's state."""
    seed = _number(seed, "Seed")
    if seed < 0 or seed != int(seed) or seed >= 2**63:
        raise gr.Error(f"Seed must be a whole number, 0 or more, got {seed:g}.")
    return torch.Generator().manual_seed(int(seed))


def sampling_kwargs(duration, guidance_scale, top_k, top_p, temperature, seed) -> dict:
    """AudioGen's settings from the page -> ``AudioGenPipeline`` arguments (raises gr.Error on a bad value)."""
    top_k = _number(top_k, "Top-k")
    if top_k < 0 or top_k != int(top_k):
        raise gr.Error(f"Top-k must be a whole number, 0 or more (0 = off), got {top_k:g}.")
    top_p = _number(top_p, "Top-p")
    if not 0 <= top_p <= 1:
        raise gr.Error(f"Top-p must be between 0 and 1 (0 or 1 = off), got {top_p:g}.")
    temperature = _number(temperature, "Temperature")
    if temperature <= 0:
        raise gr.Error(f"Temperature must be more than 0, got {temperature:g}.")
    return dict(duration=check_duration(duration), guidance_scale=check_guidance(guidance_scale), top_k=int(top_k),
                top_p=top_p or 1.0, temperature=temperature, generator=seeded_generator(seed))  # fmt: skip


def check_num_samples(num_samples: float) -> int:
    if num_samples is None or isinstance(num_samples, bool) or num_samples != int(num_samples):
        raise gr.Error(f"Number of samples must be a whole number, got {num_samples!r}.")
    if not 1 <= num_samples <= MAX_SAMPLES:
        raise gr.Error(f"Number of samples must be between 1 and {MAX_SAMPLES}, got {int(num_samples)}.")
    return int(num_samples)


@contextlib.contextmanager
def user_errors():
    """The pipeline reports bad input as ValueError (AudioError included): show it to the user, not as a crash."""
    try:
        yield
    except gr.Error:
        raise
    except ValueError as err:
        raise gr.Error(str(err)) from err


def _as_list(output) -> list[dict]:
    return output if isinstance(output, list) else [output]


def _result(output: dict, marker_seconds: float | None = None) -> Result:
    audio, sampling_rate = np.asarray(output["audio"]).reshape(-1), int(output["sampling_rate"])
    return sampling_rate, to_int16(audio), spectrogram_image(audio, sampling_rate, marker_seconds)


# -------------------------------------------------------------------------------------------------------- the tasks
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
    if not isinstance(prompt, str) or not prompt.strip():
        raise gr.Error("Please describe the sound to generate (e.g. “a dog barks in the rain”).")
    kwargs = sampling_kwargs(duration, guidance_scale, top_k, top_p, temperature, seed)
    num_samples = check_num_samples(num_samples)
    negative_prompt = (negative_prompt or "").strip() or None
    with user_errors():
        output = pipeline(
            prompt.strip(), negative_prompt=negative_prompt, num_return_sequences=num_samples, **kwargs
        )
    return [_result(out) for out in _as_list(output)]


def continue_audio(
    pipeline,
    clip: tuple[int, np.ndarray] | None,
    prompt: str = "",
    duration: float = 3.0,
    guidance_scale: float = 3.0,
    top_k: float = 0,
    top_p: float = 0.25,
    temperature: float = 1.0,
    seed: float = 0,
) -> Result:
    """Continue an uploaded clip (gr.Audio numpy value) by ``duration`` seconds, optionally steered by ``prompt``.
    The result starts with the clip; its spectrogram marks where the clip ends."""
    audio, sampling_rate = from_gradio_audio(clip)
    kwargs = sampling_kwargs(duration, guidance_scale, top_k, top_p, temperature, seed)
    clip_seconds = audio.size / sampling_rate
    if clip_seconds > MAX_CLIP_SECONDS:
        gr.Warning(f"The clip is {clip_seconds:.1f} s long: continuing its last {MAX_CLIP_SECONDS:g} s.")
        audio = audio[-int(MAX_CLIP_SECONDS * sampling_rate) :]
        clip_seconds = audio.size / sampling_rate
    with user_errors():
        output = pipeline((prompt or "").strip(), audio_prompt=(audio, sampling_rate), **kwargs)
    return _result(_as_list(output)[0], marker_seconds=clip_seconds)


def genau_text_to_audio(
    pipeline, prompt: str, duration: float = 5.0, num_inference_steps: float = 50, guidance_scale: float = 4.0,
    seed: float = 0, negative_prompt: str = "",
) -> Result:  # fmt: skip
    """Text-to-audio with a ``GenAUPipeline`` (latent diffusion): ``(sampling_rate, int16 audio, spectrogram)``."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise gr.Error("Please describe the sound to generate (e.g. “a dog barks in the rain”).")
    duration = check_duration(duration, min(MAX_DURATION, pipeline.max_audio_length_in_s))
    steps = _number(num_inference_steps, "Steps")
    if steps < 1 or steps != int(steps):
        raise gr.Error(f"Steps must be a whole number, 1 or more, got {steps:g}.")
    with user_errors():
        output = pipeline(
            prompt.strip(), negative_prompt=(negative_prompt or "").strip() or None, num_inference_steps=int(steps),
            guidance_scale=check_guidance(guidance_scale), audio_length_in_s=duration,
            generator=seeded_generator(seed),
        )  # fmt: skip
    return _result({"audio": output.audios[0], "sampling_rate": pipeline.sampling_rate})


def caption_audio(pipeline, clip: tuple[int, np.ndarray] | None) -> str:
    """Caption an uploaded clip (gr.Audio numpy value) with an ``AutoCapPipeline``."""
    audio, sampling_rate = from_gradio_audio(clip)
    with user_errors():
        return pipeline({"array": audio, "sampling_rate": sampling_rate})


# ------------------------------------------------------------------------------------------------------------ page
def _sampling_controls() -> list:
    guidance = gr.Slider(0.0, 10.0, value=3.0, step=0.5, label="Guidance (classifier-free; 1 = none)")
    top_k = gr.Slider(0, 500, value=0, step=1, label="Top-k (0 = off)")
    top_p = gr.Slider(0.0, 1.0, value=0.25, step=0.05, label="Top-p (0 or 1 = off)")
    temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature")
    seed = gr.Number(value=0, precision=0, minimum=0, label="Seed")
    return [guidance, top_k, top_p, temperature, seed]


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
    """Show as many output pairs as samples are asked for."""
    shown = int(num_samples or 1)
    return [component(visible=i < shown) for i in range(MAX_SAMPLES) for component in (gr.Audio, gr.Image)]


def build_demo(
    model=None,
    genau_model: str | os.PathLike | None = None,
    autocap_model: str | os.PathLike | None = None,
    concurrency_limit: int | None = None,
) -> gr.Blocks:
    """The demo page, with its queue set up; nothing is loaded until the first request.

    Args:
        model: AudioGen model directory, Hub id or loaded ``AudioGenPipeline`` (default: ``$HF_AUDIOGEN_MODEL``,
            else the bundled demo model).
        genau_model, autocap_model: models of the optional tabs (default: ``$HF_GENAU_MODEL``, ``$HF_AUTOCAP_MODEL``).
        concurrency_limit: generation jobs run in parallel (default: ``$HF_AUDIOGEN_CONCURRENCY``, else 2); more
            requests wait in the queue.
    """
    if concurrency_limit is None:
        setting = os.environ.get("HF_AUDIOGEN_CONCURRENCY", str(DEFAULT_CONCURRENCY))
        if not setting.strip().isdigit():
            raise ValueError(f"HF_AUDIOGEN_CONCURRENCY must be an integer >= 1, got {setting!r}")
        concurrency_limit = int(setting)
    if isinstance(concurrency_limit, bool) or not isinstance(concurrency_limit, int) or concurrency_limit < 1:
        raise ValueError(f"concurrency_limit must be an integer >= 1, got {concurrency_limit!r}")
    audiogen = audiogen_loader(model)
    genau = optional_loader("genau", genau_model)
    autocap = optional_loader("autocap", autocap_model)

    def on_generate(prompt, negative_prompt, duration, num_samples, guidance, top_k, top_p, temperature, seed,
                    progress=gr.Progress(track_tqdm=True)):  # fmt: skip
        results = text_to_audio(audiogen(), prompt, duration, guidance, top_k, top_p, temperature, seed, num_samples,
                                negative_prompt)  # fmt: skip
        return _slots(results)

    def on_continue(clip, prompt, duration, guidance, top_k, top_p, temperature, seed,
                    progress=gr.Progress(track_tqdm=True)):  # fmt: skip
        sampling_rate, audio, image = continue_audio(audiogen(), clip, prompt, duration, guidance, top_k, top_p,
                                                     temperature, seed)  # fmt: skip
        return (sampling_rate, audio), image

    with gr.Blocks(title="hf_audiogen: text-to-audio") as demo:
        gr.Markdown(
            "# hf_audiogen: sound effects from text\n"
            f"AudioGen model: `{audiogen.description}`. Describe a sound, pick a duration and press **Generate**; "
            "or upload a clip to continue it. Each result comes with its log-mel spectrogram."
        )
        with gr.Tab("Text to audio"):
            with gr.Row():
                with gr.Column():
                    prompt = gr.Textbox(label="Prompt", placeholder="a dog barks in the rain", lines=2,
                                        elem_id="prompt")  # fmt: skip
                    negative_prompt = gr.Textbox(label="Negative prompt (optional)", placeholder="wind noise")
                    duration = gr.Slider(0.1, MAX_DURATION, value=3.0, step=0.1, label="Duration (s)",
                                         elem_id="duration")  # fmt: skip
                    num_samples = gr.Slider(1, MAX_SAMPLES, value=1, step=1, label="Number of samples",
                                            elem_id="num-samples")  # fmt: skip
                    with gr.Accordion("Sampling", open=False):
                        sampling = _sampling_controls()
                    generate_button = gr.Button("Generate", variant="primary", elem_id="generate")
                    gr.Examples([[p] for p in EXAMPLE_PROMPTS], inputs=[prompt])
                with gr.Column():
                    outputs = []
                    for i in range(MAX_SAMPLES):
                        outputs.append(gr.Audio(label=f"Sample {i + 1}", type="numpy", interactive=False,
                                                visible=i == 0, elem_id=f"audio-{i}"))  # fmt: skip
                        outputs.append(gr.Image(label=f"Spectrogram {i + 1}", interactive=False, format="png",
                                                visible=i == 0, elem_id=f"spectrogram-{i}"))  # fmt: skip
            generate_inputs = [prompt, negative_prompt, duration, num_samples, *sampling]
            generate_button.click(on_generate, generate_inputs, outputs, api_name="generate")
            num_samples.change(_slot_visibility, num_samples, outputs, api_name=False, queue=False)
            prompt.submit(on_generate, generate_inputs, outputs, api_name=False)

        with gr.Tab("Continue a clip"):
            with gr.Row():
                with gr.Column():
                    clip = gr.Audio(label="Clip to continue", type="numpy", sources=["upload", "microphone"],
                                    elem_id="clip")  # fmt: skip
                    continue_prompt = gr.Textbox(label="Prompt (optional)", placeholder="footsteps on gravel")
                    continue_duration = gr.Slider(0.1, MAX_DURATION, value=3.0, step=0.1, label="Seconds to add",
                                                  elem_id="continue-duration")  # fmt: skip
                    with gr.Accordion("Sampling", open=False):
                        continue_sampling = _sampling_controls()
                    continue_button = gr.Button("Continue", variant="primary", elem_id="continue")
                with gr.Column():
                    continued = gr.Audio(label="Clip + continuation", type="numpy", interactive=False,
                                         elem_id="continued")  # fmt: skip
                    continued_image = gr.Image(label="Spectrogram (dashed line: end of the clip)", interactive=False,
                                               format="png", elem_id="continued-spectrogram")  # fmt: skip
            continue_button.click(
                on_continue, [clip, continue_prompt, continue_duration, *continue_sampling],
                [continued, continued_image], api_name="continue",
            )  # fmt: skip

        if genau is not None:
            with gr.Tab("GenAU"):
                gr.Markdown(f"Latent-diffusion text-to-audio, model `{genau.description}`.")
                with gr.Row():
                    with gr.Column():
                        genau_inputs = [
                            gr.Textbox(label="Prompt", placeholder="a dog barks in the rain", lines=2),
                            gr.Slider(0.1, MAX_DURATION, value=5.0, step=0.1, label="Duration (s)"),
                            gr.Slider(1, 200, value=50, step=1, label="Denoising steps"),
                            gr.Slider(0.0, 10.0, value=4.0, step=0.5, label="Guidance (classifier-free; <= 1 = none)"),
                            gr.Number(value=0, precision=0, minimum=0, label="Seed"),
                            gr.Textbox(label="Negative prompt (optional)"),
                        ]
                        genau_button = gr.Button("Generate with GenAU", variant="primary")
                    with gr.Column():
                        genau_outputs = [gr.Audio(label="GenAU sample", type="numpy", interactive=False),
                                         gr.Image(label="Spectrogram", interactive=False, format="png")]  # fmt: skip

                def on_genau(prompt, duration, steps, guidance, seed, negative_prompt,
                             progress=gr.Progress(track_tqdm=True)):  # fmt: skip
                    sampling_rate, audio, image = genau_text_to_audio(genau(), prompt, duration, steps, guidance,
                                                                      seed, negative_prompt)  # fmt: skip
                    return (sampling_rate, audio), image

                genau_button.click(on_genau, genau_inputs, genau_outputs, api_name="genau")

        if autocap is not None:
            with gr.Tab("AutoCap captioning"):
                gr.Markdown(f"Describe a sound with AutoCap, model `{autocap.description}`.")
                caption_clip = gr.Audio(label="Clip to caption", type="numpy", sources=["upload", "microphone"])
                caption_button = gr.Button("Caption", variant="primary")
                caption = gr.Textbox(label="Caption", interactive=False)
                caption_button.click(lambda clip: caption_audio(autocap(), clip), [caption_clip], [caption],
                                     api_name="caption")  # fmt: skip

    return demo.queue(default_concurrency_limit=concurrency_limit)


__all__ = [
    "PipelineLoader",
    "audiogen_loader",
    "build_demo",
    "caption_audio",
    "check_duration",
    "check_guidance",
    "continue_audio",
    "genau_text_to_audio",
    "optional_loader",
    "sampling_kwargs",
    "seeded_generator",
    "spectrogram_image",
    "text_to_audio",
    "to_int16",
]
