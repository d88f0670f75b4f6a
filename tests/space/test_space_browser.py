"""The demo page in a real headless Chromium (Debian's ``chromium``, driven by Playwright's Python package): a person
types a prompt, presses Generate, plays the result and sees its spectrogram. Saves ``docs/space_screenshot.png``.

Needs ``bash scripts/install_browser_test_deps.sh`` (apt ``chromium`` + pip ``playwright``); skipped without them.
"""

import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from factories import tiny_audiogen_pipeline_dir

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        "no chromium executable (install it with scripts/install_browser_test_deps.sh)", allow_module_level=True
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the Playwright Python package is missing (scripts/install_browser_test_deps.sh)"
)
pytest.importorskip("gradio", reason="the demo needs gradio (pip install 'hf_audiogen[space]')")

from hf_audiogen.demo import build_demo  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# The README's screenshot (docs/space_screenshot.png) is refreshed only on request, with the bundled model:
#   HF_AUDIOGEN_SCREENSHOT=docs/space_screenshot.png HF_AUDIOGEN_SPACE_TEST_MODEL=bundled pytest tests/space/test_space_browser.py
SCREENSHOT_REQUEST = os.environ.get("HF_AUDIOGEN_SCREENSHOT")
# Flags that work on this kind of machine: no GPU, no sandbox as root, no background connections to a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 120_000  # generous: the machine is shared; the tiny model itself needs about a second per request


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    # Named for what it is: the page (and so the screenshot) shows the model directory's name.
    if os.environ.get("HF_AUDIOGEN_SPACE_TEST_MODEL") == "bundled":
        demo = build_demo(None)  # the bundled demo model
    else:
        model_dir = tmp_path_factory.mktemp("models", numbered=True) / "audiogen-tiny-random-weights"
        demo = build_demo(str(tiny_audiogen_pipeline_dir(model_dir)))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with sync_api.sync_playwright() as playwright:
        # A persistent context is how Playwright takes a fresh --user-data-dir of our choosing.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser, url):
    page = browser.new_page()
    page.goto(url, wait_until="networkidle")
    yield page
    page.close()


def set_slider(page, elem_id: str, value: float) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def decoded_audio(page, slot: str) -> dict:
    """Fetch the result behind the player's download link and decode it with the browser's own audio decoder."""
    return page.evaluate(
        """async (slot) => {
            const href = document.querySelector(`#${slot} a[download]`).href;
            const audio = await new AudioContext().decodeAudioData(await (await fetch(href)).arrayBuffer());
            return {duration: audio.duration, channels: audio.numberOfChannels};
        }""",
        slot,
    )


def image_size(page, elem_id: str) -> list:
    page.wait_for_function(f"document.querySelector('#{elem_id} img')?.complete")
    return page.evaluate(
        "(id) => { const i = document.querySelector(`#${id} img`); return [i.naturalWidth, i.naturalHeight]; }", elem_id
    )


def test_type_generate_play_and_see_the_spectrogram(page, tmp_path):
    page.fill("#prompt textarea", "a dog barks in the rain")
    set_slider(page, "duration", 1.0)
    set_slider(page, "num-samples", 2)
    page.wait_for_selector("#audio-1", state="visible")  # the second output slot appears
    page.click("#generate")

    for i in range(2):
        page.wait_for_selector(f"#audio-{i} a[download]", state="attached")
        decoded = decoded_audio(page, f"audio-{i}")
        assert abs(decoded["duration"] - 1.0) < 0.01 and decoded["channels"] == 1
        assert image_size(page, f"spectrogram-{i}") == [640, 256]
    assert page.locator("#audio-2").count() == 0 or not page.locator("#audio-2").is_visible()

    # Playable: pressing Play starts playback and the clock moves.
    page.click("#audio-0 button[aria-label='Play']")
    page.wait_for_selector("#audio-0 button[aria-label='Pause']")
    page.wait_for_function("document.querySelector('#audio-0 #time').textContent !== '0:00'")

    screenshot = Path(SCREENSHOT_REQUEST) if SCREENSHOT_REQUEST else tmp_path / "space.png"
    screenshot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000


def test_missing_prompt_shows_a_message(page):
    page.click("#generate")
    message = page.get_by_text("Please describe the sound to generate")
    message.first.wait_for(state="visible")
    assert page.locator("#audio-0 a[download]").count() == 0  # nothing was generated


def test_upload_a_clip_and_continue_it(page, tmp_path):
    clip = tmp_path / "clip.wav"
    sf.write(clip, 0.1 * np.random.default_rng(0).standard_normal(int(0.5 * 16000)), 16000)
    page.get_by_role("tab", name="Continue a clip").click()
    page.locator("#clip input[type=file]").set_input_files(str(clip))
    page.wait_for_selector("#clip button[aria-label='Play']")  # the upload is loaded in its player
    set_slider(page, "continue-duration", 0.5)
    page.click("#continue")
    page.wait_for_selector("#continued a[download]", state="attached")
    assert abs(decoded_audio(page, "continued")["duration"] - 1.0) < 0.01  # 0.5 s clip + 0.5 s continuation
    assert image_size(page, "continued-spectrogram") == [640, 256]
