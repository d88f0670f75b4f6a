"""The Gradio demo (hf_audiogen.demo, spaces/app.py, ``hf-audiogen space``): its functions called directly, then the
running app through gradio_client on 127.0.0.1."""

import importlib.util
import os
import socket
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

gr = pytest.importorskip("gradio", reason="the demo needs gradio (pip install 'hf_audiogen[space]')")
gradio_client = pytest.importorskip("gradio_client", reason="the app tests need gradio_client")

import soundfile as sf  # noqa: E402
from PIL import Image  # noqa: E402

from hf_audiogen import demo as app  # noqa: E402
from hf_audiogen.pretrained import load_pipeline  # noqa: E402

from factories import tiny_audiogen_pipeline_dir  # noqa: E402,F401

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
REPO = Path(__file__).resolve().parents[2]
SR = 16_000
FAST = dict(duration=0.2, guidance_scale=1.0)  # 10 codec frames, no guidance branch: a fraction of a second


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return str(tiny_audiogen_pipeline_dir(tmp_path_factory.mktemp("audiogen")))


@pytest.fixture(scope="module")
def pipe(model_dir):
    return load_pipeline(model_dir)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tab_labels(demo) -> list[str]:
    return [block.label for block in demo.blocks.values() if isinstance(block, gr.Tab)]


# ------------------------------------------------------------------------------------------- functions, called directly
def test_text_to_audio_returns_int16_clips_with_spectrograms(pipe):
    results = app.text_to_audio(pipe, "a dog barks", num_samples=2, seed=3, **FAST)
    assert len(results) == 2
    for sampling_rate, audio, image in results:
        assert sampling_rate == SR
        assert audio.dtype == np.int16 and audio.shape == (int(0.2 * SR),)
        assert image.dtype == np.uint8 and image.shape == (*app.SPECTROGRAM_SIZE, 3)
    assert not np.array_equal(results[0][1], results[1][1])  # two samples, not one copied


def test_same_seed_same_audio_and_negative_prompt_changes_it(pipe):
    first = app.text_to_audio(pipe, "rain falls on a tin roof", seed=11, **FAST)[0][1]
    again = app.text_to_audio(pipe, "rain falls on a tin roof", seed=11, **FAST)[0][1]
    other_seed = app.text_to_audio(pipe, "rain falls on a tin roof", seed=12, **FAST)[0][1]
    steered = app.text_to_audio(
        pipe, "rain falls on a tin roof", seed=11, duration=0.2, guidance_scale=3.0, negative_prompt="a dog barks"
    )[0][1]
    unsteered = app.text_to_audio(pipe, "rain falls on a tin roof", seed=11, duration=0.2, guidance_scale=3.0)[0][1]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other_seed)
    assert not np.array_equal(steered, unsteered)


def test_concurrent_requests_do_not_disturb_each_other(pipe):
    """Per-request generators: two requests at once give what they give alone (no shared RNG state)."""
    alone = {seed: app.text_to_audio(pipe, "a door slams", seed=seed, **FAST)[0][1] for seed in (1, 2)}
    together, errors = {}, []

    def run(seed):
        try:
            together[seed] = app.text_to_audio(pipe, "a door slams", seed=seed, **FAST)[0][1]
        except Exception as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for seed in (1, 2):
        np.testing.assert_array_equal(together[seed], alone[seed])


def test_continue_audio_keeps_the_clip(pipe):
    rng = np.random.default_rng(0)
    stereo_8k = (rng.standard_normal((2400, 2)) * 3000).astype(np.int16)  # 0.3 s, (samples, channels) like gradio
    sampling_rate, audio, image = app.continue_audio(pipe, (8000, stereo_8k), "footsteps", seed=0, **FAST)
    assert sampling_rate == SR
    assert audio.dtype == np.int16 and audio.shape == (int((0.3 + 0.2) * SR),)
    assert image.shape == (*app.SPECTROGRAM_SIZE, 3)


def test_spectrogram_marker_is_drawn_where_the_clip_ends():
    audio = 0.1 * np.random.default_rng(0).standard_normal(int(0.5 * SR)).astype(np.float32)
    marked, unmarked = app.spectrogram_image(audio, SR, 0.3), app.spectrogram_image(audio, SR)
    changed_columns = np.flatnonzero(np.any(marked != unmarked, axis=(0, 2)))
    # The only difference is a thin line at 0.3 s of 0.5 s, i.e. 60% across the plot area (x from 8% to 98%).
    assert changed_columns.size and changed_columns.max() - changed_columns.min() < 6
    expected_x = (0.08 + 0.9 * 0.3 / 0.5) * app.SPECTROGRAM_SIZE[1]
    assert abs(changed_columns.mean() - expected_x) < 3


def test_long_clip_is_cropped_with_a_warning(pipe, monkeypatch):
    monkeypatch.setattr(app, "MAX_CLIP_SECONDS", 0.2)
    clip = (SR, np.zeros(int(0.5 * SR), dtype=np.int16))
    with pytest.warns(UserWarning, match=r"0\.5 s long: continuing its last 0\.2 s"):
        _, audio, _ = app.continue_audio(pipe, clip, seed=0, **FAST)
    assert audio.shape == (int(0.4 * SR),)


def test_spectrogram_shows_frequency_on_the_vertical_axis():
    t = np.arange(SR) / SR

    def brightest_row(freq):
        image = app.spectrogram_image(0.5 * np.sin(2 * np.pi * freq * t), SR).astype(float)
        height, width = app.SPECTROGRAM_SIZE
        plot = image[int(0.08 * height) : int(0.8 * height), int(0.1 * width) : int(0.95 * width)]
        return int(np.argmax(plot.sum(axis=(1, 2))))

    low, high = brightest_row(500.0), brightest_row(5000.0)
    assert high < low - 20  # image rows grow downwards: higher pitch = higher on the picture


def test_to_int16_scales_and_clips():
    out = app.to_int16(np.array([0.0, 0.5, 1.0, -1.0, 1.7, -3.0, np.nan], dtype=np.float32))
    assert out.dtype == np.int16
    assert out.tolist() == [0, 16384, 32767, -32767, 32767, -32767, 0]


def test_text_to_audio_rejects_an_empty_prompt(pipe):
    # Every other bad setting (NaN, out of range, wrong type...) is in tests/bad_input/test_bad_input_space.py.
    with pytest.raises(gr.Error, match="describe the sound"):
        app.text_to_audio(pipe, "   ", seed=0, **FAST)


def test_continue_audio_rejects_missing_or_tiny_clips(pipe):
    with pytest.raises(gr.Error, match="upload"):
        app.continue_audio(pipe, None, seed=0, **FAST)
    with pytest.raises(gr.Error, match="empty"):
        app.continue_audio(pipe, (SR, np.zeros(0, dtype=np.int16)), seed=0, **FAST)
    # The pipeline's own ValueError (shorter than one codec frame) reaches the user as a message, not a crash.
    with pytest.raises(gr.Error, match="shorter than one codec frame"):
        app.continue_audio(pipe, (SR, np.zeros(10, dtype=np.int16)), seed=0, **FAST)


def test_pipeline_loader_loads_once_and_reports_failures():
    calls = []

    def slow_load():
        calls.append(1)
        time.sleep(0.2)
        return object()

    loader = app.PipelineLoader(slow_load, "slow")
    results = []
    threads = [threading.Thread(target=lambda: results.append(loader())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1

    missing = app.audiogen_loader("/no/such/audiogen-model")
    with pytest.raises(gr.Error, match="could not be loaded: model directory '/no/such/audiogen-model' does not exist"):
        missing()


def test_model_comes_from_argument_then_environment(monkeypatch, model_dir):
    monkeypatch.setenv(app.MODEL_ENV_VAR, model_dir)
    assert app.audiogen_loader().description == Path(model_dir).name  # a directory is named, its path not shown
    assert app.audiogen_loader("other/model").description == "other/model"
    monkeypatch.delenv(app.MODEL_ENV_VAR)
    assert "bundled" in app.audiogen_loader().description


def test_optional_tabs_appear_only_with_a_configured_model(monkeypatch, model_dir, genau_pipe, tmp_path, caplog):
    monkeypatch.delenv("HF_GENAU_MODEL", raising=False)
    monkeypatch.delenv("HF_AUTOCAP_MODEL", raising=False)
    assert tab_labels(app.build_demo(model_dir)) == ["Text to audio", "Continue a clip"]

    genau_dir = tmp_path / "genau-tiny"
    genau_pipe.save_pretrained(genau_dir)
    monkeypatch.setenv("HF_GENAU_MODEL", str(genau_dir))
    demo = app.build_demo(model_dir)
    assert tab_labels(demo) == ["Text to audio", "Continue a clip", "GenAU"]
    assert "genau" in {fn.api_name for fn in demo.fns.values()}
    loaded = app.optional_loader("genau")()  # what the tab runs: the real pipeline class, from the directory
    assert type(loaded).__name__ == "GenAUPipeline" and loaded.sampling_rate == genau_pipe.sampling_rate

    # A model configured for a family this install does not have: no tab, and the log says why.
    monkeypatch.setitem(app.OPTIONAL_MODELS, "genau", ("hf_audiogen.no_such_family", "GenAUPipeline", "HF_GENAU_MODEL"))
    with caplog.at_level("WARNING", logger=app.__name__):
        assert tab_labels(app.build_demo(model_dir)) == ["Text to audio", "Continue a clip"]
    assert "HF_GENAU_MODEL names a model, but this hf_audiogen has no GenAUPipeline" in caplog.text


def test_genau_and_autocap_tabs(model_dir, genau_pipe, autocap_pipe):
    demo = app.build_demo(model_dir, genau_model=genau_pipe, autocap_model=autocap_pipe)
    assert tab_labels(demo) == ["Text to audio", "Continue a clip", "GenAU", "AutoCap captioning"]
    assert {"genau", "caption"} <= {fn.api_name for fn in demo.fns.values()}

    sampling_rate, audio, image = app.genau_text_to_audio(genau_pipe, "a dog barks", 0.2, 2, 3.0, seed=0)
    again = app.genau_text_to_audio(genau_pipe, "a dog barks", 0.2, 2, 3.0, seed=0)[1]
    assert sampling_rate == genau_pipe.sampling_rate
    assert audio.dtype == np.int16 and audio.shape == (round(0.2 * sampling_rate),)
    assert image.shape == (*app.SPECTROGRAM_SIZE, 3)
    np.testing.assert_array_equal(audio, again)
    with pytest.raises(gr.Error, match=rf"Duration \(s\) must .* in \[0.1, {genau_pipe.max_audio_length_in_s:g}\]"):
        app.genau_text_to_audio(genau_pipe, "a dog barks", genau_pipe.max_audio_length_in_s + 0.5, 2, 3.0)
    with pytest.raises(gr.Error, match=r"Steps must be a whole number in \[1, 200\], got 0"):
        app.genau_text_to_audio(genau_pipe, "a dog barks", 0.2, 0, 3.0)

    clip = (SR, (np.random.default_rng(0).standard_normal(SR) * 3000).astype(np.int16))
    caption = app.caption_audio(autocap_pipe, clip)
    assert isinstance(caption, str)
    with pytest.raises(gr.Error, match="upload"):
        app.caption_audio(autocap_pipe, None)


def test_build_demo_rejects_bad_concurrency(model_dir, monkeypatch):
    with pytest.raises(ValueError, match="concurrency_limit must be an integer >= 1, got 0"):
        app.build_demo(model_dir, concurrency_limit=0)
    monkeypatch.setenv("HF_AUDIOGEN_CONCURRENCY", "two")
    with pytest.raises(ValueError, match="HF_AUDIOGEN_CONCURRENCY must be an integer >= 1, got 'two'"):
        app.build_demo(model_dir)
    monkeypatch.setenv("HF_AUDIOGEN_CONCURRENCY", "3")
    assert app.build_demo(model_dir)._queue.default_concurrency_limit == 3


def test_space_app_file_builds_the_demo(monkeypatch, model_dir):
    monkeypatch.setenv(app.MODEL_ENV_VAR, model_dir)
    spec = importlib.util.spec_from_file_location("space_app", REPO / "spaces" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.demo, gr.Blocks)
    assert Path(model_dir).name in module.demo.blocks[min(module.demo.blocks)].value  # the header names the model
    assert {"generate", "continue"} <= {fn.api_name for fn in module.demo.fns.values()}


def test_space_card_header_parses():
    from huggingface_hub import SpaceCard

    data = SpaceCard.load(REPO / "spaces" / "README.md").data
    assert data.sdk == "gradio" and data.app_file == "app.py"
    requirements = (REPO / "spaces" / "requirements.txt").read_text().splitlines()
    assert f"gradio=={data.sdk_version}" in requirements  # the Space runs the gradio its requirements pin
    assert any(line.startswith("torch==") for line in requirements)
    assert any("hf_audiogen" in line or line.startswith("../") for line in requirements if not line.startswith("#"))


# -------------------------------------------------------------------------------------- the running app, via its API
class BarrierPipeline:
    """Wraps the real pipeline; each call waits until ``parties`` calls are running at once (or fails after a
    timeout), which proves that the queue runs that many jobs in parallel."""

    def __init__(self, pipe, parties: int):
        self.pipe, self.model = pipe, pipe.model
        self.barrier = threading.Barrier(parties, timeout=60)

    def __call__(self, *args, **kwargs):
        self.barrier.wait()
        return self.pipe(*args, **kwargs)


@pytest.fixture(scope="module")
def served(pipe):
    demo = app.build_demo(BarrierPipeline(pipe, parties=2), concurrency_limit=2)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        yield gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()


def test_api_lists_the_endpoints(served):
    endpoints = served.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/generate", "/continue"} <= set(endpoints)


def test_two_users_generate_at_once_and_get_their_own_results(served, pipe):
    # gradio's inputs order: prompt, negative prompt, duration, samples, guidance, top-k, top-p, temperature, seed
    jobs = [
        served.submit("a dog barks", "", 0.2, n, 1.0, 0, 0.25, 1.0, seed, api_name="/generate")
        for n, seed in ((2, 5), (1, 6))
    ]
    outputs = [job.result(timeout=120) for job in jobs]  # the barrier fails both unless they run together
    for (n, seed), output in zip(((2, 5), (1, 6)), outputs):
        assert len(output) == 2 * app.MAX_SAMPLES
        expected = app.text_to_audio(pipe, "a dog barks", seed=seed, num_samples=n, **FAST)
        for i in range(app.MAX_SAMPLES):
            audio_path, image_path = output[2 * i], output[2 * i + 1]
            if i >= n:
                assert audio_path is None and image_path is None  # hidden slots
                continue
            audio, sampling_rate = sf.read(audio_path, dtype="int16")
            assert sampling_rate == SR
            np.testing.assert_array_equal(audio, expected[i][1])  # same as calling the function directly
            assert Image.open(image_path).size == app.SPECTROGRAM_SIZE[::-1]


def test_api_reports_bad_input_as_a_message(served):
    with pytest.raises(gradio_client.exceptions.AppError, match="describe the sound"):
        served.predict("", "", 0.2, 1, 1.0, 0, 0.25, 1.0, 0, api_name="/generate")


def test_api_continues_an_uploaded_file(served, tmp_path):
    clip = tmp_path / "clip.wav"
    sf.write(clip, 0.1 * np.random.default_rng(1).standard_normal(int(0.3 * SR)), SR)
    # Both jobs must run at once (the barrier): continue two uploads together.
    jobs = [
        served.submit(gradio_client.handle_file(str(clip)), "rain", 0.2, 1.0, 0, 0.25, 1.0, seed, api_name="/continue")
        for seed in (0, 1)
    ]
    for job in jobs:
        audio_path, image_path = job.result(timeout=120)
        info = sf.info(audio_path)
        assert info.samplerate == SR and info.frames == int(0.5 * SR)
        assert Path(image_path).is_file()


# ------------------------------------------------------------------------------------------- `hf-audiogen space` CLI
def test_space_command_serves_the_page(model_dir, monkeypatch, capsys):
    from hf_audiogen.cli import main

    launched = []
    original_launch = gr.Blocks.launch

    def launch_without_blocking(demo, **kwargs):  # the command blocks until Ctrl+C; the test needs it back
        launched.append(demo)
        return original_launch(demo, prevent_thread_lock=True, quiet=True, **kwargs)

    monkeypatch.setattr(gr.Blocks, "launch", launch_without_blocking)
    port = free_port()
    try:
        assert main(["space", "--model", model_dir, "--port", str(port), "--concurrency", "3"]) == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
            page = response.read().decode()
        assert "hf_audiogen: text-to-audio" in page
        assert launched[0]._queue.default_concurrency_limit == 3
    finally:
        for demo in launched:
            demo.close()
    assert f"serving the demo of {model_dir} at http://127.0.0.1:{port}" in capsys.readouterr().out


def test_space_command_user_errors_are_one_line(capsys, tmp_path):
    from hf_audiogen.cli import main

    assert main(["space", "--model", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hf-audiogen space: error: model directory" in err and "does not exist" in err
    assert main(["space", "--port", "0", "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err  # the wording is the CLI's; the option, the bad value and the range are named
    assert err.count("\n") == 1 and "--port" in err and "got 0" in err and "65535" in err


def test_audio_journey_tab(model_dir, tmp_path, monkeypatch):
    from factories import tiny_audio_journey_pipeline

    pipe = tiny_audio_journey_pipeline()
    folder = tmp_path / "audio-journey-tiny"
    pipe.save_pretrained(folder)
    monkeypatch.setenv("HF_AUDIO_JOURNEY_MODEL", str(folder))
    demo = app.build_demo(model_dir)
    assert tab_labels(demo) == ["Text to audio", "Continue a clip", "Audio-Journey"]
    assert "audio_journey" in {fn.api_name for fn in demo.fns.values()}
    loaded = app.optional_loader("audio_journey")()  # what the tab runs: the saved pipeline, loaded by its class
    assert type(loaded).__name__ == "AudioJourneyPipeline"
    sampling_rate, audio, _ = app.genau_text_to_audio(loaded, "a dog barks", 0.2, 2, 3.0, seed=0)
    again = app.genau_text_to_audio(loaded, "a dog barks", 0.2, 2, 3.0, seed=0)[1]
    assert sampling_rate == pipe.sampling_rate and audio.dtype == np.int16 and audio.size > 0
    np.testing.assert_array_equal(audio, again)
