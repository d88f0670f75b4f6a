"""Audio-Journey text-to-audio pipeline (Michaels et al. 2023, §4): a wide-channel U-Net denoises the codec's
continuous decoder-side latent, reshaped to a D-channel image; the codec's decoder makes the waveform.

prompt -> frozen text encoder (50 tokens, unmasked) -> U-Net's linear projection -> cross-attention in a
``UNet2DConditionModel`` with D in/out channels -> PNDM over a cosine schedule -> un-normalise -> reshape to D x T ->
codec decoder -> waveform.

No code or checkpoint of the paper is public; this is a reference implementation from the text. What the paper
leaves open, and what we chose:

1. **Latent.** The codec's decoder-side embedding: the sum of the K quantised codebook vectors per frame
   (:func:`~hf_audiogen.audio_journey.latents.codes_to_latents`), computed at load time from stored codes (the paper
   stores 8 x 504 codes and trains on the 128 x 504 embedding). Any codec with that interface fits: this package's
   ``CodecModel`` (D = 64 for the bundled sfx-codec-small) or transformers' ``EncodecModel`` (D = 128).
2. **2-D layout** (the paper only gives 128 x 504 -> 21 x 24): row-major, frame t at pixel (t // W, t % W) with
   W = ``latent_config.image_width`` (24 in the paper); H = ceil(T / W) rounded up to a multiple of
   ``size_multiple`` = 2 ** (down blocks - 1). Missing pixels are zero *after* normalisation (the training mean of
   each channel) and are cut off on the way back, so the reshape inverts exactly for any D and T.
3. **Normalisation statistics**: per channel, mean and (unbiased) standard deviation over every latent frame of the
   training split's clips (whole clips, before cropping and padding), stored in ``latent_config`` (model_index.json).
4. **Projection adapter**: the U-Net's own ``encoder_hid_proj`` (``encoder_hid_dim_type="text_proj"``), a learned
   ``nn.Linear(text width, cross_attention_dim)`` applied to every text state, trained with the U-Net; the text
   encoder stays frozen. It is part of the U-Net's weights, so it is saved, loaded and LoRA-adapted with them.
5. **Text states**: the encoder's last hidden states of the prompt tokenised to exactly ``max_text_length`` = 50
   tokens (padded or truncated). The encoder itself always runs with its attention mask (its padding states are
   what a padded batch gives); "unmasked" (default, the paper's choice) means the U-Net's cross-attention sees all
   50 states, padding included; ``text_attention_mask=True`` (the paper's "-M") masks padding there.
6. **Text encoder**: any transformers encoder with a ``last_hidden_state`` (T5EncoderModel as the paper, CLAP's
   text model as its alternative, BERT-like sentence encoders); the offline demo uses all-MiniLM-L6-v2.
7. **Classifier-free guidance**: the unconditional input is the empty prompt "" encoded the same way (50 states);
   a ``negative_prompt`` replaces it. Training drops a caption to "" with probability 0.1. CFG runs when
   ``guidance_scale > 1``: ``uncond + s * (cond - uncond)``, both branches in one batch.
8. **Schedule**: 1000-step cosine (``squaredcos_cap_v2``, the paper's f(t) with δ = 0.008 and β clipped at 0.999),
   ε-prediction, trained as DDPM; sampling with PNDM (PLMS steps, ``skip_prk_steps=True`` as diffusers' Stable
   Diffusion configs) by default; DDIM, DDPM, DPM-Solver swap in with ``X.from_config(pipe.scheduler.config)``.
   The cosine schedule's last steps have ᾱ -> 0, so every sampler's x0 estimate multiplies the ε error by up to
   1 / sqrt(ᾱ) (~30 at t = 981): a U-Net that is not yet near-exact there diverges. ``v_prediction`` (a training
   option, not the paper's) bounds that target; DDIM with ``clip_sample_range`` (normalised units) tames it at
   sampling time.
9. **Length**: the U-Net is convolutional, so any length up to ``MAX_AUDIO_SECONDS`` generates; the default is
   ``latent_config.default_audio_length_in_s`` (the training crop length). Frames = ceil(seconds x frame rate); the
   waveform is cut to the requested length.
10. **Training crops** (``hf_audiogen.training.audio_journey``): fixed-length windows of the stored codes (seeded by
    clip and epoch); clips shorter than the window are right-padded with the codec's codes of silence, not with a
    constant latent, so the padding is audio the decoder knows; the loss covers the whole window.
11. **LoRA**: PEFT adapters on the U-Net's attention projections and the text projection adapter, loaded and saved
    with diffusers' ``StableDiffusionLoraLoaderMixin`` (the text encoder stays frozen and un-adapted).
"""

from __future__ import annotations

import inspect

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DiffusionPipeline, DPMSolverMultistepScheduler, PNDMScheduler
from diffusers.loaders import StableDiffusionLoraLoaderMixin
from diffusers.models import UNet2DConditionModel
from diffusers.pipelines.pipeline_utils import AudioPipelineOutput
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils.torch_utils import randn_tensor
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..aligned_memory import realign_weights
from ..loading import IncompatibleCheckpointError, transformers_load_reports
from ..validation import (
    MAX_INFERENCE_STEPS,
    MAX_PROMPTS_PER_CALL,
    MAX_SAMPLES_PER_CALL,
    InvalidInputError,
    check_choice,
    check_float,
    check_int,
    check_prompts,
)
from .configuration_audio_journey import AudioJourneyConfig
from .latents import decode_image

MAX_AUDIO_SECONDS = 60.0


SCHEDULERS = {"pndm": PNDMScheduler, "ddim": DDIMScheduler, "ddpm": DDPMScheduler, "dpm": DPMSolverMultistepScheduler}

EXAMPLE_DOC_STRING = """
    Examples (they need a trained pipeline folder, e.g. from ``train_audio_journey.py``; none is bundled):
        ```py
        >>> import torch
        >>> from hf_audiogen.audio_journey import AudioJourneyPipeline
        >>> pipe = AudioJourneyPipeline.from_pretrained("path/to/audio-journey")  # doctest: +SKIP
        >>> audio = pipe(  # doctest: +SKIP
        ...     "a dog barks in the rain",
        ...     num_inference_steps=50,
        ...     guidance_scale=3.0,
        ...     audio_length_in_s=4.0,
        ...     generator=torch.Generator().manual_seed(0),
        ... ).audios[0]
        >>> # any diffusers scheduler of the same schedule swaps in:
        >>> from diffusers import DDIMScheduler
        >>> pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)  # doctest: +SKIP
        >>> # a LoRA fine-tune of the U-Net (train_audio_journey.py --lora) loads with diffusers' loader:
        >>> pipe.load_lora_weights("path/to/lora-run", adapter_name="style")  # doctest: +SKIP
        ```
"""


def audio_journey_scheduler(kind: str = "pndm", **overrides):
    """The paper's schedule (1000 steps, cosine ``squaredcos_cap_v2``, ε-prediction) in the sampler ``kind``:
    ``"pndm"`` (the paper's choice, PLMS steps only), ``"ddim"``, ``"ddpm"`` or ``"dpm"`` (DPM-Solver++)."""
    if kind not in SCHEDULERS:
        raise InvalidInputError(f"scheduler must be one of {sorted(SCHEDULERS)}, got {kind!r}")
    config = dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="epsilon")
    if kind == "pndm":
        config.update(skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)
    elif kind == "ddim":
        config.update(clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    elif kind == "ddpm":
        config.update(clip_sample=False)
    config.update(overrides)
    return SCHEDULERS[kind](**config)


def _codec_frame_rate(codec) -> float:
    config = codec.config
    rate = getattr(config, "frame_rate", None)
    return float(rate) if rate else config.sampling_rate / float(np.prod(config.upsampling_ratios))


def _codec_latent_channels(codec) -> int:
    # The decoder's input width: CodecConfig.hidden_size, EncodecConfig.hidden_size (= its codebook_dim).
    return int(codec.config.hidden_size)


class AudioJourneyPipeline(DiffusionPipeline, StableDiffusionLoraLoaderMixin):
    r"""Text-to-audio generation with Audio-Journey (latent diffusion in an EnCodec-style codec's space).

    Components:
        unet ([`~diffusers.UNet2DConditionModel`]): the ε-predictor, ``in_channels == out_channels`` = the codec's
            latent width D, with ``encoder_hid_dim_type="text_proj"`` (the projection adapter, decision 4).
        scheduler: PNDM by default (:func:`audio_journey_scheduler`); any diffusers scheduler of the same schedule.
        codec ([`~hf_audiogen.codec.CodecModel`] or transformers' ``EncodecModel``): its decoder makes the waveform.
        text_encoder ([`~transformers.PreTrainedModel`]): frozen; T5EncoderModel in the paper, MiniLM offline.
        tokenizer: the text encoder's tokenizer.
        latent_config (`dict`): an :class:`AudioJourneyConfig` as a dict (layout, statistics, text settings).

    LoRA on the U-Net comes from diffusers' ``StableDiffusionLoraLoaderMixin``: ``pipe.load_lora_weights(dir)``,
    ``AudioJourneyPipeline.save_lora_weights(dir, unet_lora_layers=...)``, ``pipe.unload_lora_weights()``.
    """

    model_cpu_offload_seq = "text_encoder->unet->codec"

    def __init__(
        self,
        unet: UNet2DConditionModel,
        scheduler: KarrasDiffusionSchedulers,
        codec: PreTrainedModel,
        text_encoder: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        latent_config: dict | None = None,
    ):
        super().__init__()
        config = AudioJourneyConfig.from_dict(latent_config)
        channels = _codec_latent_channels(codec)
        if (unet.config.in_channels, unet.config.out_channels) != (channels, channels):
            raise ValueError(
                f"the U-Net takes {unet.config.in_channels} and gives {unet.config.out_channels} channels; the "
                f"codec's latent has {channels}: they must be equal"
            )
        if config.latent_channels != channels:
            raise ValueError(f"latent_config has {config.latent_channels} channels, the codec's latent {channels}")
        factor = 2 ** (len(unet.config.down_block_types) - 1)
        if config.size_multiple % factor:
            raise ValueError(
                f"latent_config.size_multiple {config.size_multiple} must be a multiple of {factor} (the U-Net has "
                f"{len(unet.config.down_block_types)} down blocks)"
            )
        text_width = getattr(text_encoder.config, "d_model", None) or text_encoder.config.hidden_size
        expected = unet.config.encoder_hid_dim or unet.config.cross_attention_dim
        if text_width != expected:
            raise ValueError(
                f"the text encoder gives {text_width}-wide states; the U-Net's projection takes {expected}"
            )
        self.register_modules(
            unet=unet, scheduler=scheduler, codec=codec, text_encoder=text_encoder, tokenizer=tokenizer
        )
        self.register_to_config(latent_config=config.to_dict())

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, strict: bool = True, **kwargs):
        """``DiffusionPipeline.from_pretrained``; the loaded weights are then copied into aligned memory
        (:func:`~hf_audiogen.aligned_memory.realign_weights`) so the loaded pipeline computes bit for bit what the
        saved one did. ``strict``: a transformers component whose weights lack or add keys is an error."""
        passed = set(kwargs)
        with transformers_load_reports() as reports:
            pipe = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        if strict and reports:
            raise IncompatibleCheckpointError(f"{pretrained_model_name_or_path}: {reports[0]}")
        for name, component in pipe.components.items():
            if isinstance(component, torch.nn.Module) and name not in passed:
                realign_weights(component)
        return pipe

    # ----------------------------------------------------------------------------------------------------------------
    # Geometry
    # ----------------------------------------------------------------------------------------------------------------
    @property
    def latent_config(self) -> AudioJourneyConfig:
        return AudioJourneyConfig.from_dict(dict(self.config.latent_config))

    @property
    def sampling_rate(self) -> int:
        return int(self.codec.config.sampling_rate)

    @property
    def frame_rate(self) -> float:
        return _codec_frame_rate(self.codec)

    def latent_frames(self, audio_length_in_s: float) -> int:
        return max(1, int(np.ceil(audio_length_in_s * self.frame_rate - 1e-6)))

    # ----------------------------------------------------------------------------------------------------------------
    # Text conditioning
    # ----------------------------------------------------------------------------------------------------------------
    def text_states(self, texts: list[str], device) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(len(texts), max_text_length, width)`` last hidden states of the frozen encoder, and the cross-attention
        mask (``None`` when unmasked, decision 5)."""
        config = self.latent_config
        inputs = self.tokenizer(
            list(texts), padding="max_length", truncation=True, max_length=config.max_text_length, return_tensors="pt"
        )
        input_ids, attention_mask = inputs.input_ids.to(device), inputs.attention_mask.to(device)
        states = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return states, (attention_mask if config.text_attention_mask else None)

    def encode_prompt(
        self,
        prompt: list[str],
        device,
        num_waveforms_per_prompt: int = 1,
        do_classifier_free_guidance: bool = True,
        negative_prompt: list[str] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """``(prompt_embeds, negative_embeds, prompt_mask, negative_mask)``, each repeated per waveform (prompt-major);
        the negative ones (``None`` without guidance) encode ``negative_prompt`` or the empty prompt."""
        embeds, mask = self.text_states(prompt, device)
        embeds = embeds.repeat_interleave(num_waveforms_per_prompt, dim=0)
        mask = None if mask is None else mask.repeat_interleave(num_waveforms_per_prompt, dim=0)
        negative_embeds = negative_mask = None
        if do_classifier_free_guidance:
            negative = negative_prompt if negative_prompt is not None else [""] * len(prompt)
            negative_embeds, negative_mask = self.text_states(negative, device)
            negative_embeds = negative_embeds.repeat_interleave(num_waveforms_per_prompt, dim=0)
            if negative_mask is not None:
                negative_mask = negative_mask.repeat_interleave(num_waveforms_per_prompt, dim=0)
        return embeds, negative_embeds, mask, negative_mask

    # ----------------------------------------------------------------------------------------------------------------
    # Sampling
    # ----------------------------------------------------------------------------------------------------------------
    def check_inputs(
        self,
        prompt,
        negative_prompt,
        audio_length_in_s,
        num_inference_steps,
        guidance_scale,
        num_waveforms_per_prompt,
        output_type,
        generator,
        latents,
    ) -> list[str]:
        """Validate every argument of ``__call__`` before any work; returns the prompts as a list."""
        prompt = check_prompts(prompt, negative_prompt)
        check_float("audio_length_in_s", audio_length_in_s, min=0, max=MAX_AUDIO_SECONDS, min_inclusive=False)
        max_steps = min(MAX_INFERENCE_STEPS, int(self.scheduler.config.num_train_timesteps))
        check_int("num_inference_steps", num_inference_steps, min=1, max=max_steps)
        check_float("guidance_scale", guidance_scale, min=0)
        check_int("num_waveforms_per_prompt", num_waveforms_per_prompt, min=1, max=MAX_SAMPLES_PER_CALL)
        check_choice("output_type", output_type, ("np", "pt", "latent"))
        batch = len(prompt) * num_waveforms_per_prompt
        if batch > MAX_PROMPTS_PER_CALL:
            raise InvalidInputError(
                f"prompts x waveforms per prompt must be at most {MAX_PROMPTS_PER_CALL} per call (one batch), got "
                f"{batch}: split the prompts over several calls"
            )
        generators = generator if isinstance(generator, list) else [generator]
        if not all(g is None or isinstance(g, torch.Generator) for g in generators):
            raise InvalidInputError(f"generator must be a torch.Generator or a list of them, got {generator!r}")
        if isinstance(generator, list) and len(generator) != batch:
            raise InvalidInputError(f"a list of generators needs one per waveform ({batch}), got {len(generator)}")
        if latents is not None:
            if not isinstance(latents, torch.Tensor) or not latents.is_floating_point():
                raise InvalidInputError(f"latents must be a float torch.Tensor, got {type(latents).__name__}")
            if not torch.isfinite(latents).all():
                raise InvalidInputError("latents must be finite, got NaN/inf values")
        return list(prompt)

    def prepare_latents(self, batch: int, frames: int, dtype, device, generator, latents=None) -> torch.Tensor:
        """Initial noise in image layout (batch, D, H, W), scaled by the scheduler's ``init_noise_sigma``."""
        config = self.latent_config
        shape = (batch, config.latent_channels, *config.image_size(frames))
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        elif tuple(latents.shape) != shape:
            raise InvalidInputError(f"latents must have shape {shape} (batch, D, H, W), got {tuple(latents.shape)}")
        return latents.to(device=device, dtype=dtype) * self.scheduler.init_noise_sigma

    def prepare_extra_step_kwargs(self, generator, eta: float) -> dict:
        parameters = set(inspect.signature(self.scheduler.step).parameters)  # PNDM takes neither
        kwargs = {}
        if "eta" in parameters:
            kwargs["eta"] = eta
        if "generator" in parameters:
            kwargs["generator"] = generator
        return kwargs

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        negative_prompt: str | list[str] | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float = 3.0,
        audio_length_in_s: float | None = None,
        num_waveforms_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        eta: float = 0.0,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
    ) -> AudioPipelineOutput | tuple:
        r"""Generate audio from text.

        Args:
            prompt: one prompt or a list.
            negative_prompt: replaces the empty prompt as the unconditional branch (a string or one per prompt).
            num_inference_steps: denoising steps (PNDM: 50 is plenty).
            guidance_scale: classifier-free guidance scale; guidance runs when it is > 1.
            audio_length_in_s: seconds to generate (default: ``latent_config.default_audio_length_in_s``, at most
                ``MAX_AUDIO_SECONDS``).
            num_waveforms_per_prompt: samples per prompt.
            generator: torch generator(s) of the initial noise (and of stochastic samplers' noise).
            eta: DDIM's η; ignored by the other samplers.
            latents: initial noise ``(batch x n, D, H, W)`` in image layout.
            output_type: ``"np"`` / ``"pt"`` waveforms ``(batch x n, samples)``, or ``"latent"`` for the generated
                decoder-side latents ``(batch x n, D, frames)``, un-normalised (what the codec's decoder takes).

        Returns:
            [`~diffusers.pipelines.AudioPipelineOutput`] with ``audios``, or a tuple with ``return_dict=False``.
        """
        config = self.latent_config
        if audio_length_in_s is None:
            audio_length_in_s = config.default_audio_length_in_s
        prompt = self.check_inputs(
            prompt,
            negative_prompt,
            audio_length_in_s,
            num_inference_steps,
            guidance_scale,
            num_waveforms_per_prompt,
            output_type,
            generator,
            latents,
        )
        if isinstance(negative_prompt, str):
            negative_prompt = [negative_prompt] * len(prompt)
        device = self._execution_device
        do_cfg = float(guidance_scale) > 1.0
        batch = len(prompt) * num_waveforms_per_prompt

        embeds, negative_embeds, mask, negative_mask = self.encode_prompt(
            prompt, device, num_waveforms_per_prompt, do_cfg, negative_prompt
        )
        if do_cfg:
            embeds = torch.cat([negative_embeds, embeds])
            mask = None if mask is None else torch.cat([negative_mask, mask])

        frames = self.latent_frames(float(audio_length_in_s))
        latents = self.prepare_latents(batch, frames, embeds.dtype, device, generator, latents)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator, eta)

        for t in self.progress_bar(self.scheduler.timesteps):
            model_input = torch.cat([latents] * 2) if do_cfg else latents
            model_input = self.scheduler.scale_model_input(model_input, t)
            noise_pred = self.unet(
                model_input, t, encoder_hidden_states=embeds, encoder_attention_mask=mask, return_dict=False
            )[0]
            if do_cfg:
                noise_uncond, noise_cond = noise_pred.chunk(2)
                noise_pred = noise_uncond + guidance_scale * (noise_cond - noise_uncond)
            latents = self.scheduler.step(noise_pred, t, latents, **extra_step_kwargs).prev_sample

        latents = decode_image(latents, frames, config)
        if output_type == "latent":
            self.maybe_free_model_hooks()
            return AudioPipelineOutput(audios=latents) if return_dict else (latents,)
        decode = getattr(self.codec, "decode_latents", None) or self.codec.decoder
        audio = decode(latents.to(self.codec.dtype))[:, 0]
        audio = audio[:, : round(float(audio_length_in_s) * self.sampling_rate)].float().cpu()
        self.maybe_free_model_hooks()
        if output_type == "np":
            audio = audio.numpy()
        return AudioPipelineOutput(audios=audio) if return_dict else (audio,)


AudioJourneyPipeline.__call__.__doc__ += EXAMPLE_DOC_STRING

__all__ = ["MAX_AUDIO_SECONDS", "AudioJourneyPipeline", "audio_journey_scheduler"]
