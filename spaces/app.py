"""Hugging Face Space of hf_audiogen: sound effects from text with AudioGen, and continuation of uploaded clips.

Model: ``$HF_AUDIOGEN_MODEL`` (a Hub id or a directory), else the small demo model bundled with hf_audiogen. It is
loaded on the first request. Tabs for GenAU, Audio-Journey and AutoCap captioning appear when the installed hf_audiogen
provides them and ``$HF_GENAU_MODEL`` / ``$HF_AUDIO_JOURNEY_MODEL`` / ``$HF_AUTOCAP_MODEL`` name their models. Concurrent jobs: ``$HF_AUDIOGEN_CONCURRENCY``
(default 2).

The page and its functions live in ``hf_audiogen.demo`` (importable and tested with the package); this file only
builds the page, so the Space, ``hf-audiogen space`` and the tests run the same code.

The server contacts no outside host: gradio's analytics and version check are off. Uploads are decoded with
soundfile (no ffmpeg needed) and only the seconds the model uses are read.

Run locally: ``python app.py`` (or ``hf-audiogen space --model DIR``), then open http://127.0.0.1:7860.
"""

import os

# Before gradio is imported (hf_audiogen.demo imports it): no usage analytics, no version check, no Hub telemetry.
# The page also builds its Blocks with analytics_enabled=False; these cover anything else in this process.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from hf_audiogen.demo import build_demo  # noqa: E402

demo = build_demo()  # uploads capped at launch (demo.MAX_UPLOAD_SIZE), bounded queue, temporary files deleted hourly

if __name__ == "__main__":
    demo.launch()
