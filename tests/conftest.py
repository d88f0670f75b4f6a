"""Fixtures shared by several test files (tiny models from factories.py)."""

import pytest


@pytest.fixture(scope="module")
def genau_pipe():
    from factories import tiny_genau_pipeline

    return tiny_genau_pipeline()


@pytest.fixture(scope="module")
def autocap_pipe():
    from hf_audiogen.autocap import AutoCapPipeline

    from factories import tiny_autocap_model, tiny_autocap_processor

    return AutoCapPipeline(model=tiny_autocap_model(), processor=tiny_autocap_processor())
