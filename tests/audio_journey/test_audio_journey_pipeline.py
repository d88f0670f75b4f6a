"""AudioJourneyPipeline: generation, save/load round trip, swappable schedulers, masking, LoRA, bad input."""

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, PNDMScheduler

from hf_audiogen.audio_journey import AudioJourneyPipeline, audio_journey_scheduler
from hf_audiogen.validation import InvalidInputError

from factories import tiny_audio_journey_pipeline

PROMPT = "a dog barks in the park"


def _generate(pipe, prompt=PROMPT, seed=0, **kwargs):
    kwargs.setdefault("num_inference_steps", 3)
    return pipe(prompt, generator=torch.Generator().manual_seed(seed), **kwargs).audios


def test_generates_the_requested_length_at_the_codec_rate(tiny_pipeline):
    audio = _generate(
        tiny_pipeline, [PROMPT, "rain falls on a tin roof"], audio_length_in_s=0.23, num_waveforms_per_prompt=2
    )
    assert audio.shape == (4, round(0.23 * 16000)) and audio.dtype.name == "float32"
    latents = _generate(tiny_pipeline, audio_length_in_s=0.23, output_type="latent")
    assert latents.shape == (1, 8, 12)  # ceil(0.23 s x 50 Hz) frames of the D = 8 decoder-side latent
    assert _generate(tiny_pipeline).shape == (1, round(0.3 * 16000))  # latent_config.default_audio_length_in_s


def test_same_seed_same_audio_and_prompts_matter(tiny_pipeline):
    first = _generate(tiny_pipeline)
    assert (first == _generate(tiny_pipeline)).all()
    assert not (first == _generate(tiny_pipeline, seed=1)).all()
    assert not (first == _generate(tiny_pipeline, "rain falls on a tin roof")).all()
    assert not (first == _generate(tiny_pipeline, negative_prompt="rain")).all()
    # Without guidance the negative prompt is not used.
    assert (
        _generate(tiny_pipeline, guidance_scale=1.0)
        == _generate(tiny_pipeline, guidance_scale=1.0, negative_prompt="rain")
    ).all()


def test_save_load_gives_identical_samples(tiny_pipeline, tmp_path):
    expected = _generate(tiny_pipeline)
    tiny_pipeline.save_pretrained(tmp_path)
    loaded = AudioJourneyPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert loaded.latent_config == tiny_pipeline.latent_config
    assert isinstance(loaded.scheduler, PNDMScheduler) and loaded.scheduler.config.beta_schedule == "squaredcos_cap_v2"
    assert (_generate(loaded) == expected).all()


@pytest.mark.parametrize("scheduler_class", [DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler])
def test_schedulers_swap_in_on_the_same_schedule(tiny_pipeline, scheduler_class):
    tiny_pipeline.scheduler = scheduler_class.from_config(tiny_pipeline.scheduler.config)
    torch.testing.assert_close(tiny_pipeline.scheduler.alphas_cumprod, audio_journey_scheduler().alphas_cumprod)
    audio = _generate(tiny_pipeline, num_inference_steps=4)
    assert audio.shape == (1, 4800) and torch.isfinite(torch.from_numpy(audio)).all()


def test_unmasked_uses_every_text_state_and_masked_only_the_tokens():
    unmasked, masked = tiny_audio_journey_pipeline(), tiny_audio_journey_pipeline(text_attention_mask=True)
    states, mask = unmasked.text_states(["a dog"], "cpu")
    assert states.shape == (1, 8, 16) and mask is None  # max_text_length states, padding included
    _, mask = masked.text_states(["a dog"], "cpu")
    assert mask.tolist() == [[1, 1, 1, 0, 0, 0, 0, 0]]  # "a dog </s>" then padding
    for pipe in (unmasked, masked):
        pipe.set_progress_bar_config(disable=True)
    assert not (_generate(unmasked, "a dog") == _generate(masked, "a dog")).all()


def test_lora_changes_the_output_and_loads_back_and_unloads(tiny_pipeline, tmp_path):
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    base = _generate(tiny_pipeline)
    tiny_pipeline.unet.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0", "encoder_hid_proj"])
    )
    assert (_generate(tiny_pipeline) == base).all()  # a fresh adapter (B = 0) changes nothing
    with torch.no_grad():
        for name, parameter in tiny_pipeline.unet.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    adapted = _generate(tiny_pipeline)
    assert not (adapted == base).all()
    AudioJourneyPipeline.save_lora_weights(tmp_path, unet_lora_layers=get_peft_model_state_dict(tiny_pipeline.unet))

    fresh = tiny_audio_journey_pipeline()
    fresh.set_progress_bar_config(disable=True)
    fresh.load_lora_weights(tmp_path, adapter_name="style")
    assert (_generate(fresh) == adapted).all()
    fresh.unload_lora_weights()
    assert (_generate(fresh) == base).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(prompt=3),
        dict(prompt=[]),
        dict(prompt=["a", 1]),
        dict(negative_prompt=["a", "b"]),
        dict(negative_prompt=5),
        dict(audio_length_in_s=0),
        dict(audio_length_in_s=-1.0),
        dict(audio_length_in_s=float("nan")),
        dict(audio_length_in_s=3600),
        dict(num_inference_steps=0),
        dict(num_inference_steps=2.5),
        dict(num_inference_steps=5000),
        dict(guidance_scale=-1),
        dict(guidance_scale="high"),
        dict(num_waveforms_per_prompt=0),
        dict(output_type="mp3"),
        dict(generator="seed"),
        dict(generator=[torch.Generator(), torch.Generator()]),
        dict(latents=torch.zeros(1, 8, 3, 3)),
        dict(latents=torch.full((1, 8, 4, 4), float("nan"))),
    ],
)
def test_bad_input_is_one_clear_line(tiny_pipeline, kwargs):
    kwargs = {"prompt": PROMPT, "num_inference_steps": 2, **kwargs}
    with pytest.raises(InvalidInputError) as error:
        tiny_pipeline(**kwargs)
    message = str(error.value)
    assert message and "\n" not in message


def test_components_that_do_not_fit_are_refused():
    pipe = tiny_audio_journey_pipeline()
    parts = dict(
        unet=pipe.unet,
        scheduler=pipe.scheduler,
        codec=pipe.codec,
        text_encoder=pipe.text_encoder,
        tokenizer=pipe.tokenizer,
    )
    with pytest.raises(ValueError, match="channels"):
        AudioJourneyPipeline(**parts, latent_config={"latent_channels": 4})
    with pytest.raises(ValueError, match="size_multiple"):
        AudioJourneyPipeline(**parts, latent_config={"latent_channels": 8, "image_width": 4, "size_multiple": 1})


def test_transformers_encodec_works_as_the_codec():
    from transformers import EncodecConfig, EncodecModel, T5EncoderModel

    from hf_audiogen.audio_journey import AudioJourneyConfig, codes_to_latents

    from factories import tiny_audio_journey_unet, tiny_t5_config, tiny_text_tokenizer

    torch.manual_seed(0)
    config = EncodecConfig(
        num_filters=4,
        hidden_size=8,
        codebook_size=16,
        codebook_dim=8,
        sampling_rate=16000,
        upsampling_ratios=[8, 5, 4, 2],
        target_bandwidths=[1.6],
        num_lstm_layers=1,
    )
    codec = EncodecModel(config).eval()
    encoded = codec.encode(torch.randn(1, 1, 3200), bandwidth=1.6)
    latents = codes_to_latents(codec, encoded.audio_codes[0])  # (batch, codebooks, frames) codes
    torch.testing.assert_close(codec.decoder(latents), codec.decode(encoded.audio_codes, encoded.audio_scales)[0])
    pipe = AudioJourneyPipeline(
        unet=tiny_audio_journey_unet(),
        scheduler=audio_journey_scheduler(),
        codec=codec,
        text_encoder=T5EncoderModel(tiny_t5_config()).eval(),
        tokenizer=tiny_text_tokenizer(),
        latent_config=AudioJourneyConfig(
            latent_channels=8, image_width=4, size_multiple=2, max_text_length=8
        ).to_dict(),
    )
    pipe.set_progress_bar_config(disable=True)
    assert _generate(pipe, audio_length_in_s=0.2).shape == (1, 3200)


@pytest.mark.parametrize("kind", ["pndm", "ddim", "dpm"])
def test_an_exact_denoiser_leads_every_sampler_to_its_latent(tiny_pipeline, kind):
    """End to end through layout, normalisation and scheduler: a denoiser that knows the clean image x0 (its ε is
    (x_t - sqrt(ᾱ) x0) / sqrt(1 - ᾱ)) must end on x0, i.e. on the un-normalised latent decode_image(x0)."""
    from hf_audiogen.audio_journey import decode_image

    pipe = tiny_pipeline
    pipe.scheduler = audio_journey_scheduler(kind)
    x0 = torch.randn(1, 8, 4, 4, generator=torch.Generator().manual_seed(3))
    alphas = pipe.scheduler.alphas_cumprod

    def exact_epsilon(sample, t, encoder_hidden_states=None, encoder_attention_mask=None, return_dict=True):
        alpha = alphas[int(t)]
        return ((sample - alpha.sqrt() * x0) / (1 - alpha).sqrt(),)

    pipe.unet.forward = exact_epsilon
    latents = _generate(pipe, output_type="latent", audio_length_in_s=0.32, guidance_scale=1.0, num_inference_steps=20)
    # PNDM and DDIM stop at t = 0 (set_alpha_to_one=False), i.e. sqrt(1 - alpha_bar_0) ~ 0.006 of noise away from x0.
    torch.testing.assert_close(latents, decode_image(x0, 16, pipe.latent_config), rtol=0, atol=0.05)


def test_saved_pipeline_is_known_to_the_package_and_gets_a_card(tiny_pipeline, tmp_path):
    """One family detection for the CLI, load_pipeline and the card: a saved Audio-Journey folder is recognised,
    loads through load_pipeline and gets its card (the template of model_cards/audio_journey.md)."""
    import yaml

    from hf_audiogen import hub
    from hf_audiogen.pretrained import load_pipeline, model_family

    tiny_pipeline.save_pretrained(tmp_path)
    assert hub.detect_family(tmp_path) == model_family(tmp_path) == "audio_journey"
    assert type(load_pipeline(tmp_path, family=None)).__name__ == "AudioJourneyPipeline"
    readme = str(hub.write_model_card(tmp_path))
    metadata = yaml.safe_load(readme.split("---")[1])
    assert metadata["pipeline_tag"] == "text-to-audio" and "audio-journey" in metadata["tags"]
    assert f"| Codec latent channels (U-Net in/out) | {tiny_pipeline.unet.config.in_channels} |" in readme
