"""Fixtures of the Audio-Journey tests (tiny models from tests/factories.py)."""

import pytest

from factories import tiny_audio_journey_pipeline


@pytest.fixture
def tiny_pipeline():
    pipe = tiny_audio_journey_pipeline()
    pipe.set_progress_bar_config(disable=True)
    return pipe
