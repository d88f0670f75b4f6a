"""AudioGenGenerationConfig owns AudioGen's generation defaults and their checks."""

import pytest
from transformers import GenerationConfig

from hf_audiogen.audiogen import AudioGenForConditionalGeneration, AudioGenGenerationConfig
from hf_audiogen.validation import InvalidInputError

from factories import tiny_audiogen_config, tiny_audiogen_model


def test_precedence_call_then_config_then_paper_recipe():
    config = tiny_audiogen_config()
    stored = AudioGenGenerationConfig(guidance_scale=1.5, top_p=None)
    merged = stored.merged({"temperature": 0.7, "top_k": None}, config)
    recipe = AudioGenGenerationConfig.from_audiogen_config(config)
    assert merged.temperature == 0.7  # the call
    assert merged.guidance_scale == 1.5  # the stored config
    assert merged.top_p == recipe.top_p == 0.25  # neither: the paper's recipe
    assert merged.top_k == 0 and merged.extend_stride == pytest.approx(config.max_duration / 5)
    assert stored.guidance_scale == 1.5 and stored.temperature is None  # merged() leaves its receiver alone


@pytest.mark.parametrize(
    "overrides",
    [{"top_p": 0.0}, {"temperature": -1.0}, {"num_return_sequences": 10_000}, {"extend_stride": 1e6}, {"typo": 1}],
)
def test_bad_values_are_refused(overrides):
    with pytest.raises(InvalidInputError):
        AudioGenGenerationConfig().merged(overrides, tiny_audiogen_config())


def test_saved_generation_config_round_trips_and_drives_generate(tmp_path):
    model = tiny_audiogen_model().eval()
    model.generation_config.guidance_scale = 1.0
    model.generation_config.extend_stride = 0.5
    model.save_pretrained(tmp_path)
    loaded = AudioGenForConditionalGeneration.from_pretrained(tmp_path)
    # transformers reads generation_config.json as its own class; AudioGen's fields survive and are used
    assert isinstance(loaded.generation_config, GenerationConfig)
    params = loaded._generation_params(None, None, None, {})
    assert params["guidance_scale"] == 1.0 and params["extend_stride"] == 0.5
