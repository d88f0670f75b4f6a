"""Hostile input against the Space (hf_audiogen.demo): every bad value ends in one clear gr.Error that names the value
and what is allowed, never a crash, a hang or a silently changed request; uploads are decoded without ffmpeg, reading
only what the model uses; the server contacts no outside host.

The handlers are called directly with the tiny models of tests/factories.py, as API clients reach them (the page's
controls bound the same values, but nothing stops a client from sending NaN)."""

import math
import os
import socket
import struct
import threading
import time
import tracemalloc

import httpx
import numpy as np
import pytest

gr = pytest.importorskip("gradio", reason="the demo needs gradio (pip install 'hf_audiogen[space]')")
gradio_client = pytest.importorskip("gradio_client", reason="the app tests need gradio_client")

import soundfile as sf  # noqa: E402

from hf_audiogen import demo as app  # noqa: E402
from hf_audiogen.pretrained import load_pipeline  # noqa: E402

from factories import tiny_audiogen_pipeline_dir  # noqa: E402,F401

SR = 16_000
FAST = dict(duration=0.2, guidance_scale=1.0)  # 10 codec frames, no guidance branch: a fraction of a second
NAN, INF = float("nan"), float("inf")
DURATION = "[0.1, 10]"
SEED = f"[0, {2**32 - 1}]"
RATE = ("1000", "384000")  # the allowed sample rates, named in the message


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return str(tiny_audiogen_pipeline_dir(tmp_path_factory.mktemp("audiogen")))


class CountingPipeline:
    """The real pipeline, counting its calls: a refused value must be refused before any work."""

    def __init__(self, pipe):
        self.pipe, self.calls = pipe, 0

    def __getattr__(self, name):
        return getattr(self.pipe, name)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.pipe(*args, **kwargs)


@pytest.fixture(scope="module")
def real_pipe(model_dir):
    return load_pipeline(model_dir)


@pytest.fixture
def pipe(real_pipe):
    return CountingPipeline(real_pipe)


def noise(seconds: float, sampling_rate: int = SR, channels: int = 1) -> np.ndarray:
    shape = (int(seconds * sampling_rate), channels) if channels > 1 else (int(seconds * sampling_rate),)
    return (0.1 * np.random.default_rng(0).standard_normal(shape)).astype(np.float32)


def assert_one_clear_line(err: pytest.ExceptionInfo, *expected: str) -> None:
    message = err.value.message
    assert "\n" not in message and len(message) < 300, message
    for text in expected:  # the value and what is allowed, whatever the wording around them
        assert text.lower() in message.lower(), f"{text!r} not in {message!r}"


# --------------------------------------------------------------------------------- numbers: NaN, inf, out of range
BAD_SETTINGS = [  # (override of a text_to_audio argument, texts the message must contain: the value, the range)
    (dict(duration=NAN), ["Duration", "nan", DURATION]),
    (dict(duration=INF), ["Duration", "inf", DURATION]),
    (dict(duration=-INF), ["Duration", "-inf", DURATION]),
    (dict(duration=0), ["Duration", "got 0", DURATION]),
    (dict(duration=-3), ["Duration", "-3", DURATION]),
    (dict(duration=3600), ["Duration", "3600", DURATION]),
    (dict(duration="3"), ["Duration", "'3'", DURATION]),
    (dict(duration=None), ["Duration", "None", DURATION]),
    (dict(guidance_scale=NAN), ["Guidance", "nan", "[0, 10]"]),
    (dict(guidance_scale=-1), ["Guidance", "-1", "[0, 10]"]),
    (dict(guidance_scale=1e9), ["Guidance", "1e+09", "[0, 10]"]),
    (dict(top_k=2.5), ["Top-k", "2.5", "[0, 500]"]),
    (dict(top_k=-1), ["Top-k", "-1", "[0, 500]"]),
    (dict(top_k=NAN), ["Top-k", "nan", "[0, 500]"]),
    (dict(top_k=10**6), ["Top-k", "1000000", "[0, 500]"]),
    (dict(top_p=1.5), ["Top-p", "1.5", "[0, 1]"]),
    (dict(top_p=NAN), ["Top-p", "nan", "[0, 1]"]),
    (dict(top_p=-INF), ["Top-p", "-inf", "[0, 1]"]),
    (dict(temperature=0), ["Temperature", "got 0", "[0.1, 2]"]),
    (dict(temperature=NAN), ["Temperature", "nan", "[0.1, 2]"]),
    (dict(temperature=INF), ["Temperature", "inf", "[0.1, 2]"]),
    (dict(temperature=np.float32(-1)), ["Temperature", "-1", "[0.1, 2]"]),
    (dict(seed=NAN), ["Seed", "nan", SEED]),
    (dict(seed=-1), ["Seed", "-1", SEED]),
    (dict(seed=1.5), ["Seed", "1.5", SEED]),
    (dict(seed=2**40), ["Seed", str(2**40), SEED]),
    (dict(seed=None), ["Seed", "None", SEED]),
    (dict(seed=True), ["Seed", "True", SEED]),
    (dict(num_samples=0), ["Number of samples", "got 0", "[1, 4]"]),
    (dict(num_samples=app.MAX_SAMPLES + 1), ["Number of samples", "5", "[1, 4]"]),
    (dict(num_samples=NAN), ["Number of samples", "nan", "[1, 4]"]),
    (dict(num_samples=2**31), ["Number of samples", str(2**31), "[1, 4]"]),
    (dict(num_samples=1.5), ["Number of samples", "1.5", "[1, 4]"]),
    (dict(prompt="x" * 5000), ["Prompt", "5000", "1000 characters"]),
    (dict(prompt=42), ["Prompt", "42", "1000 characters"]),
    (dict(negative_prompt="y" * 2000), ["Negative prompt", "2000", "1000 characters"]),
]


def case_id(overrides: dict) -> str:
    return ",".join(f"{name}={value!r}"[:30] for name, value in overrides.items())


@pytest.mark.parametrize("overrides, expected", BAD_SETTINGS, ids=[case_id(o) for o, _ in BAD_SETTINGS])
def test_text_to_audio_refuses_a_bad_setting_in_one_line(pipe, overrides, expected):
    kwargs = dict(prompt="a dog barks", seed=0, **FAST) | overrides
    with pytest.raises(gr.Error) as err:
        app.text_to_audio(pipe, **kwargs)
    assert_one_clear_line(err, *expected)
    assert pipe.calls == 0  # refused before any work


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (dict(duration=NAN), ["Duration", "nan", DURATION]),
        (dict(guidance_scale=INF), ["Guidance", "inf", "[0, 10]"]),
        (dict(temperature=NAN), ["Temperature", "nan", "[0.1, 2]"]),
        (dict(seed=-INF), ["Seed", "-inf", SEED]),
        (dict(prompt=["a", "list"]), ["Prompt", "list", "1000 characters"]),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_continue_audio_refuses_a_bad_setting_in_one_line(pipe, overrides, expected):
    kwargs = dict(clip=(SR, noise(0.3)), seed=0, **FAST) | overrides
    with pytest.raises(gr.Error) as err:
        app.continue_audio(pipe, **kwargs)
    assert_one_clear_line(err, *expected)
    assert pipe.calls == 0


@pytest.mark.parametrize(
    "args, expected",
    [
        (dict(num_inference_steps=NAN), ["Steps", "nan", "[1, 200]"]),
        (dict(num_inference_steps=0), ["Steps", "got 0", "[1, 200]"]),
        (dict(num_inference_steps=10**6), ["Steps", "1000000", "[1, 200]"]),
        (dict(num_inference_steps=2.5), ["Steps", "2.5", "[1, 200]"]),
        (dict(duration=INF), ["Duration", "inf", "[0.1, 2.56]"]),
        (dict(duration=3.06), ["Duration", "3.06", "[0.1, 2.56]"]),  # past the tiny model's 2.56 s
        (dict(guidance_scale=NAN), ["Guidance", "nan", "[0, 10]"]),
        (dict(seed=1e30), ["Seed", "1e+30", SEED]),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_genau_refuses_a_bad_setting_in_one_line(genau_pipe, args, expected):
    kwargs = dict(prompt="a dog barks", duration=0.2, num_inference_steps=2, guidance_scale=3.0, seed=0) | args
    with pytest.raises(gr.Error) as err:
        app.genau_text_to_audio(CountingPipeline(genau_pipe), **kwargs)
    assert_one_clear_line(err, *expected)


# --------------------------------------------------------------------------------------- clips: rates, shapes, files
@pytest.mark.parametrize(
    "rate, expected",
    [
        (0, ["rate", "=0", *RATE]),  # was a ZeroDivisionError
        (-16000, ["rate", "-16000", *RATE]),
        (NAN, ["rate", "nan", *RATE]),
        (44.1, ["rate", "44.1", *RATE]),  # kHz given as Hz
        (16000.5, ["rate", "16000.5", *RATE]),
        (10**9, ["rate", str(10**9), *RATE]),
        ("16000", ["rate", "'16000'", *RATE]),
        (None, ["rate", "None", *RATE]),
    ],
    ids=repr,
)
def test_a_clip_with_a_bad_sample_rate_is_refused_in_one_line(pipe, autocap_pipe, rate, expected):
    clip = (rate, (noise(0.3) * 32767).astype(np.int16))
    with pytest.raises(gr.Error) as err:
        app.continue_audio(pipe, clip, seed=0, **FAST)
    assert_one_clear_line(err, *expected)
    assert pipe.calls == 0
    with pytest.raises(gr.Error) as err:
        app.caption_audio(autocap_pipe, clip)
    assert_one_clear_line(err, *expected)


def _nan_clip():
    audio = noise(0.3)
    audio[100] = np.nan
    return SR, audio


@pytest.mark.parametrize(
    "clip, expected",
    [
        (None, ["upload"]),
        ((SR, np.zeros(0, dtype=np.int16)), ["empty", "(0,)"]),
        (_nan_clip(), ["1 NaN/inf sample"]),
        ((SR, np.zeros((2, 3, 4), dtype=np.int16)), ["(samples,) or (samples, channels)", "(2, 3, 4)"]),
        ((SR, np.array(["a", "b"])), ["numbers", "<U1"]),
        ((SR, noise(0.3, channels=16)), ["1 to 8 channels", "16"]),
        ("not a clip", ["'not a clip'", "upload it again"]),
        (42, ["audio file or a (sample rate, samples) pair", "int"]),
        ((SR, np.zeros(10, dtype=np.int16)), ["shorter than one codec frame"]),  # the pipeline's own check
    ],
    ids=lambda v: repr(v)[:30],
)
def test_an_unusable_clip_is_refused_in_one_line(pipe, clip, expected):
    with pytest.raises(gr.Error) as err:
        app.continue_audio(pipe, clip, seed=0, **FAST)
    assert_one_clear_line(err, *expected)


def _write_wav_header(path, frames: int, sampling_rate: int, channels: int = 1) -> None:
    """A 16-bit PCM WAV whose data is left sparse (zeros): a long file in no time and almost no disk."""
    data_bytes = frames * channels * 2
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, sampling_rate, sampling_rate * channels * 2, channels * 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )
    with open(path, "wb") as file:
        file.write(header)
        file.truncate(len(header) + data_bytes)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: p.write_text("not audio at all"), ["cannot decode", "clip.wav", "WAV, FLAC, OGG or MP3"]),
        (lambda p: p.write_bytes(b""), ["cannot decode", "clip.wav"]),
        (lambda p: sf.write(p, noise(0.5, 500), 500), ["rate", "500", *RATE]),
        (lambda p: sf.write(p, np.zeros(0, dtype=np.float32), SR), ["clip.wav", "empty"]),
        (lambda p: sf.write(p, _nan_clip()[1], SR, subtype="FLOAT"), ["clip.wav", "1 NaN/inf sample"]),
        (lambda p: sf.write(p, noise(0.1, channels=12), SR), ["1 to 8 channels", "12"]),
    ],
    ids=["text", "zero-bytes", "500-Hz", "no-frames", "nan-samples", "12-channels"],
)
def test_an_unusable_upload_is_refused_in_one_line(pipe, tmp_path, make, expected):
    path = tmp_path / "clip.wav"
    make(path)
    with pytest.raises(gr.Error) as err:
        app.continue_audio(pipe, str(path), seed=0, **FAST)
    assert_one_clear_line(err, *expected)
    assert str(tmp_path) not in err.value.message  # the server's paths stay off the page
    assert pipe.calls == 0


# ------------------------------------------------------------------------------------------------- uploads that work
@pytest.mark.parametrize("suffix", ["flac", "ogg", "mp3", "wav"])
def test_flac_ogg_and_mp3_uploads_are_continued_without_ffmpeg(pipe, tmp_path, monkeypatch, suffix):
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg to be found, whatever this machine has
    path = tmp_path / f"clip.{suffix}"
    sf.write(path, noise(0.4, 22050, channels=2), 22050)  # stereo, another rate: downmixed and resampled
    sampling_rate, audio, image = app.continue_audio(pipe, str(path), "rain", seed=0, **FAST)
    assert sampling_rate == SR and audio.dtype == np.int16
    assert abs(audio.size - int(0.6 * SR)) <= SR // 100  # the 0.4 s clip + 0.2 s
    assert image.shape == (*app.SPECTROGRAM_SIZE, 3)


def test_the_page_hands_uploads_to_the_handler_undecoded(model_dir, tmp_path):
    """gr.Audio(type="filepath") without a format: gradio passes the upload's path as is (no ffmpeg, no decoding
    of the whole file), the handler reads it."""
    demo = app.build_demo(model_dir)
    clip = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "clip")
    assert clip.type == "filepath" and clip.format is None
    path = tmp_path / "clip.flac"
    sf.write(path, noise(0.3), SR)
    assert clip.preprocess(gr.FileData(path=str(path))) == str(path)


def test_a_long_upload_is_read_only_where_the_model_looks(pipe, tmp_path, monkeypatch):
    """10 minutes at 96 kHz (57.6 M frames; 230 MB as float32): only the last MAX_CLIP_SECONDS are read, converted
    and resampled, so it takes about as long and as much memory as a 10 s clip."""
    rate, minutes = 96_000, 10
    path = tmp_path / "long.wav"
    _write_wav_header(path, minutes * 60 * rate, rate)
    with sf.SoundFile(path, "r+") as file:  # a tone in the last second, to check that the end is what is read
        file.seek(file.frames - rate)
        file.write((0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32))
    read_frames = []
    original_read = sf.SoundFile.read

    def counting_read(self, frames=-1, *args, **kwargs):
        read_frames.append(frames)
        return original_read(self, frames, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", counting_read)

    start = time.perf_counter()
    tracemalloc.start()
    try:
        audio, sampling_rate, total_seconds = app.read_clip(str(path), app.MAX_CLIP_SECONDS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 3
    assert read_frames == [int(app.MAX_CLIP_SECONDS * rate)]
    assert peak < 30 * 2**20  # 10 s at 96 kHz is 3.8 MB as float32; the whole file would be 230 MB
    assert sampling_rate == rate and total_seconds == minutes * 60 and audio.size == app.MAX_CLIP_SECONDS * rate
    assert np.abs(audio[-rate:]).max() > 0.4 and not audio[:-rate].any()  # the tone sits at the end

    # Continuing it reads no more than the model's window (1 s for the tiny model), and says what was continued.
    read_frames.clear()
    start = time.perf_counter()
    with pytest.warns(UserWarning, match=r"600\.0 s long: continuing its last 0\.8 s"):
        sampling_rate, result, image = app.continue_audio(pipe, str(path), seed=0, **FAST)
    assert time.perf_counter() - start < 15  # shared 2-core box; the whole file took 77 s and 5 GB before
    assert read_frames == [pipe.model.config.max_duration * rate]
    assert sampling_rate == SR and result.size == int(pipe.model.config.max_duration * SR)  # 0.8 s read + 0.2 s new


def test_captioning_reads_only_the_start_of_a_long_upload(autocap_pipe, tmp_path):
    rate = 48_000
    path = tmp_path / "long.wav"
    _write_wav_header(path, 5 * 60 * rate, rate)
    with sf.SoundFile(path, "r+") as file:
        file.write(noise(0.5, rate))
    max_seconds = autocap_pipe.processor.feature_extractor.max_length_s
    audio, sampling_rate, total = app.read_clip(str(path), max_seconds, keep="start")
    assert audio.size == int(max_seconds * rate) and total == 300 and audio[: rate // 4].any()
    with pytest.warns(UserWarning, match=f"captioning its first {max_seconds:g} s"):
        assert isinstance(app.caption_audio(autocap_pipe, str(path)), str)


# ------------------------------------------------------------------------------------------------ the running server
LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def _is_loopback(host) -> bool:
    host = host.decode() if isinstance(host, bytes) else str(host)
    return host in LOOPBACK or host.startswith("127.") or host.startswith("::ffff:127.")


@pytest.fixture
def outside_blocked(monkeypatch):
    """Every attempt to resolve or connect to a non-loopback host is refused and recorded."""
    attempts = []
    original_getaddrinfo, original_connect, original_connect_ex = (
        socket.getaddrinfo,
        socket.socket.connect,
        socket.socket.connect_ex,
    )

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _is_loopback(host):
            attempts.append(("resolve", host))
            raise socket.gaierror(f"blocked by the test: {host}")
        return original_getaddrinfo(host, *args, **kwargs)

    def guard(address):
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            attempts.append(("connect", address))
            raise ConnectionRefusedError(f"blocked by the test: {address}")

    def connect(self, address):
        guard(address)
        return original_connect(self, address)

    def connect_ex(self, address):
        guard(address)
        return original_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return attempts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raw_api_error(port: int, api_name: str, body: str) -> str:
    """POST ``body`` as is to the API (the JSON may hold NaN) and return the error event's data."""
    url = f"http://127.0.0.1:{port}/gradio_api/call/{api_name}"
    response = httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=30)
    response.raise_for_status()
    with httpx.stream("GET", f"{url}/{response.json()['event_id']}", timeout=60) as events:
        text = events.read().decode()
    assert "event: error" in text, text
    return text


def test_the_server_contacts_no_outside_host(model_dir, outside_blocked, tmp_path, monkeypatch):
    # The check sees what gradio sends: a plain Blocks with analytics on asks api.gradio.app for its latest version
    # (in a thread; the environment variable keeps its other analytics threads out of this control).
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    before = set(threading.enumerate())
    gr.Blocks(analytics_enabled=True)
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=10)
    assert outside_blocked, "the blocker saw no request from a Blocks with analytics on: this test checks nothing"
    outside_blocked.clear()

    monkeypatch.delenv("GRADIO_ANALYTICS_ENABLED")  # gradio's default (analytics on): the page turns them off itself

    demo = app.build_demo(model_dir, concurrency_limit=1)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        assert demo.max_file_size == 100 * 1024 * 1024  # uploads capped, by default, at launch
        assert demo._queue.max_size == app.MAX_QUEUE_SIZE and demo.delete_cache == app.DELETE_CACHE
        client = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        # An OGG upload through the API: decoded without ffmpeg.
        clip = tmp_path / "clip.ogg"
        sf.write(clip, noise(0.3), SR)
        audio_path, _ = client.predict(
            gradio_client.handle_file(str(clip)), "", 0.2, 1.0, 0, 0.25, 1.0, 0, api_name="/continue"
        )
        assert math.isclose(sf.info(audio_path).duration, 0.5, abs_tol=0.02)
        # NaN through the API (raw JSON: gradio_client refuses to send it) reaches the handler and comes back as
        # one line naming it and the range.
        for position, expected in (
            (4, "Guidance must be a finite number in [0, 10], got nan"),
            (8, f"Seed must be a whole number in {SEED}, got nan"),
        ):
            values = ['"a dog barks"', '""', "0.2", "1", "1.0", "0", "0.25", "1.0", "0"]
            values[position] = "NaN"
            assert expected in raw_api_error(port, "generate", f'{{"data": [{", ".join(values)}]}}')
        time.sleep(1.0)  # room for any background thread (analytics, version check) to try
    finally:
        demo.close()
    assert outside_blocked == []
    assert os.environ.get("HF_HUB_DISABLE_TELEMETRY")  # gradio's own switch, set when analytics are off
