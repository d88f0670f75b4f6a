"""GenAU text-to-audio pipeline: CLAP + FLAN-T5 text summary -> FiT latent diffusion -> 1D-VAE -> HiFi-GAN.

Decisions about the reference's inference quirks (``GenAU/src/modules/conditional/conditional_models.py``,
``GenAU/src/models/genau_ddpm.py``), see genau.md §1:

* **CLAP null replacement.** The reference's CLAP conditioner replaces each prompt's embedding by the empty-prompt
  embedding with probability 0.1 *also at inference* (its ``forward`` has no training check). That is condition
  dropout leaking into sampling; this pipeline never does it, so a seeded call is deterministic and every prompt is
  honoured.
* **FLAN-T5 mean pool over padding.** The reference averages T5's last hidden state over *all* positions, padding
  included, so a prompt's embedding depends on the longest prompt in its batch. The default ``t5_pooling=
  "masked_mean"`` averages over real tokens only: identical to the reference for a single prompt (the way GenAU
  generates) and batch-independent otherwise. ``t5_pooling="mean"`` reproduces the reference exactly (prompts,
  negative prompts and the empty prompt are then encoded as separate batches, as the reference does).
* **Unconditional input** = the embeddings of the empty prompt ``""`` for both encoders and dataset id 0, as in the
  reference; a ``negative_prompt`` replaces the empty prompt.
* **Sampler.** :func:`genau_ddim_scheduler` is the reference DDIM (scaled-linear betas 0.0015..0.0195, ``steps_offset
  =1``, ``set_alpha_to_one=False``, no clipping, leading spacing) and ``eta=1.0`` is the reference default. Initial
  noise comes from ``generator`` (the reference seeds each prompt with an md5 of its text). CFG is
  ``uncond + s · (cond - uncond)``; the two branches run as one batch (rows are independent, so this equals the
  reference's two passes). The reference's FiT self-conditioning at sampling time is skipped: its projection is
  zero-initialised and never trained, so it adds exactly zero.
* **Length.** The reference always generates 10.24 s. Here the latent is the shortest whole number of FiT groups that
  covers ``audio_length_in_s`` (up to the FiT's positional range), and the waveform is cut to the requested length.
* **CLAP re-ranking.** The reference generates ``n_cand`` candidates per prompt (3 in ``inference_file.py``) and keeps
  the one whose waveform is closest to the prompt under a second CLAP (laion HTSAT-base "music_speech", cosine
  similarity of 48 kHz audio and text embeddings). Here ``num_candidates_per_prompt`` candidates are generated and the
  best ``num_waveforms_per_prompt`` of them are returned, best first, with their scores; the scorer is the optional
  ``clap_model`` + ``clap_processor`` (e.g. ``laion/larger_clap_music_and_speech``). The reference's CLAP also swaps a
  text embedding for the empty prompt's with probability 0.1 while scoring (the conditioning quirk above); the scorer
  here never does.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DiffusionPipeline
from diffusers.pipelines.pipeline_utils import AudioPipelineOutput
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils.torch_utils import randn_tensor
from transformers import (
    ClapModel,
    ClapProcessor,
    ClapTextModelWithProjection,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    SpeechT5HifiGan,
    T5EncoderModel,
)

from ..aligned_memory import realign_weights
from ..evaluation.clap import clap_similarity, clap_text_max_length  # noqa: F401 (clap_similarity: re-exported)
from ..loading import IncompatibleCheckpointError, transformers_load_reports
from ..validation import (
    MAX_CANDIDATES_PER_PROMPT,
    MAX_INFERENCE_STEPS,
    MAX_PROMPTS_PER_CALL,
    MAX_SAMPLES_PER_CALL,
    InvalidInputError,
    check_choice,
    check_float,
    check_int,
    check_prompts,
)
from .modeling_autoencoder_kl_1d import AutoencoderKL1D
from .modeling_fit import FiTTransformer1DModel

T5_POOLING_MODES = ("masked_mean", "mean")

EXAMPLE_DOC_STRING = """
    Examples (they need a converted GenAU checkpoint, e.g. from ``hf-audiogen convert genau``; none is bundled):
        ```py
        >>> import torch
        >>> from hf_audiogen.genau import GenAUPipeline
        >>> pipe = GenAUPipeline.from_pretrained("path/to/genau-pipeline")  # doctest: +SKIP
        >>> audio = pipe(  # doctest: +SKIP
        ...     "a dog barks in the rain",
        ...     num_inference_steps=100,
        ...     guidance_scale=4.0,
        ...     audio_length_in_s=10.24,
        ...     generator=torch.Generator().manual_seed(0),
        ... ).audios[0]
        >>> # pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)  # ~25 steps suffice
        >>> # GenAU's re-ranking: best of 3 candidates by CLAP similarity
        >>> from transformers import ClapModel, ClapProcessor
        >>> pipe = GenAUPipeline.from_pretrained(  # doctest: +SKIP
        ...     "path/to/genau-pipeline",
        ...     clap_model=ClapModel.from_pretrained("laion/larger_clap_music_and_speech"),
        ...     clap_processor=ClapProcessor.from_pretrained("laion/larger_clap_music_and_speech"),
        ... )
        >>> out = pipe("a dog barks in the rain", num_candidates_per_prompt=3)  # doctest: +SKIP
        >>> out.audios.shape, out.clap_scores  # doctest: +SKIP
        ((1, 163840), ...)
        ```
"""


def genau_ddim_scheduler(**overrides) -> DDIMScheduler:
    """The DDIM sampler configured exactly as GenAU's (LDM ``DDIMSampler`` with 1000 training steps).

    For step counts that divide 1000 (the reference's 100 and 200) it takes LDM's timesteps, ᾱ_t, ᾱ_prev and σ_t and
    the same x_t update (tests/genau/test_genau_ddim.py; tests/parity/test_parity_genau.py against the reference sampler).
    Other step counts differ: LDM walks ``range(0, 1000, 1000 // S)``, i.e. more than S steps (31 for S = 30), while
    diffusers takes exactly S steps of that stride.
    """
    config = dict(
        num_train_timesteps=1000,
        beta_schedule="scaled_linear",  # LDM "linear": linspace(sqrt(start), sqrt(end)) ** 2
        beta_start=0.0015,
        beta_end=0.0195,
        steps_offset=1,  # LDM's make_ddim_timesteps adds 1: t = 991 ... 1 for 100 steps
        set_alpha_to_one=False,  # alphas_prev[0] = alphas_cumprod[0]
        clip_sample=False,
        timestep_spacing="leading",
        prediction_type="epsilon",
    )
    config.update(overrides)
    return DDIMScheduler(**config)


@dataclass
class GenAUPipelineOutput(AudioPipelineOutput):
    """
    Args:
        audios (`np.ndarray` or `torch.Tensor` of shape `(batch * num_waveforms_per_prompt, samples)`): waveforms, or
            the final latents for ``output_type="latent"``.
        clap_scores (`np.ndarray` or `torch.Tensor` of shape `(batch * num_waveforms_per_prompt,)`, *optional*): CLAP
            audio-text cosine similarity of each returned waveform (only when re-ranking with
            ``num_candidates_per_prompt``); within a prompt the waveforms are sorted by it, best first.
    """

    clap_scores: np.ndarray | torch.Tensor | None = None


class GenAUPipeline(DiffusionPipeline):
    r"""Text-to-audio generation with GenAU.

    Components:
        vae ([`AutoencoderKL1D`]): log-mel <-> latent.
        transformer ([`FiTTransformer1DModel`]): the ε-predictor.
        scheduler ([`~diffusers.DDIMScheduler`] or any Karras scheduler, e.g. DPM-Solver++).
        vocoder ([`~transformers.SpeechT5HifiGan`], optional): log-mel -> waveform. A pipeline saved without one
            (its FiT trained before its vocoder) only gives ``output_type="latent"`` until one is passed to
            ``from_pretrained(..., vocoder=...)``.
        text_encoder ([`~transformers.ClapTextModelWithProjection`] or [`~transformers.ClapModel`], optional): CLAP
            text branch; its L2-normalised projection is the first part of the text summary.
        tokenizer: CLAP's tokenizer.
        text_encoder_2 ([`~transformers.T5EncoderModel`], optional): FLAN-T5 encoder, pooled; the second part.
            Any encoder with a ``last_hidden_state`` fits here, e.g. the sentence encoder all-MiniLM-L6-v2 (whose
            own pooling is this masked mean).
        tokenizer_2: T5's tokenizer.
        t5_pooling (`str`): ``"masked_mean"`` (default) or ``"mean"`` (the reference's, padding included).
        t5_max_length (`int`): T5 truncation length (128, as the reference).
        clap_model ([`~transformers.ClapModel`], optional): audio-text CLAP that scores candidates when
            ``num_candidates_per_prompt`` is given (GenAU re-ranks with an HTSAT-base "music_speech" CLAP).
        clap_processor ([`~transformers.ClapProcessor`], optional): its 48 kHz feature extractor + tokenizer.

    Either text encoder may be left out (or swapped for another model of the same class); the widths of those
    present must add up to ``transformer.config.text_embed_dim``.
    """

    model_cpu_offload_seq = "text_encoder->text_encoder_2->transformer->vae->vocoder->clap_model"
    _optional_components = [
        "text_encoder",
        "tokenizer",
        "text_encoder_2",
        "tokenizer_2",
        "clap_model",
        "clap_processor",
        "vocoder",
    ]
    _callback_tensor_inputs = ["latents", "prompt_embeds"]

    def __init__(
        self,
        vae: AutoencoderKL1D,
        transformer: FiTTransformer1DModel,
        scheduler: KarrasDiffusionSchedulers,
        vocoder: SpeechT5HifiGan | None,
        text_encoder: ClapTextModelWithProjection | ClapModel | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
        text_encoder_2: T5EncoderModel | PreTrainedModel | None = None,
        tokenizer_2: PreTrainedTokenizerBase | None = None,
        t5_pooling: str = "masked_mean",
        t5_max_length: int = 128,
        clap_model: ClapModel | None = None,
        clap_processor: ClapProcessor | None = None,
    ):
        super().__init__()
        if t5_pooling not in T5_POOLING_MODES:
            raise ValueError(f"t5_pooling must be one of {T5_POOLING_MODES}, got {t5_pooling!r}")
        if (text_encoder is None) != (tokenizer is None) or (text_encoder_2 is None) != (tokenizer_2 is None):
            raise ValueError(
                "give each text encoder together with its tokenizer (text_encoder + tokenizer, "
                "text_encoder_2 + tokenizer_2)"
            )
        if text_encoder is None and text_encoder_2 is None:
            raise ValueError(
                "GenAUPipeline needs at least one text encoder (CLAP text_encoder and/or T5 text_encoder_2)"
            )
        if (clap_model is None) != (clap_processor is None):
            raise ValueError("give the re-ranking clap_model together with its clap_processor (or neither)")
        if clap_model is not None and not isinstance(clap_model, ClapModel):
            raise ValueError(
                f"clap_model must be a transformers ClapModel (audio and text towers), got {type(clap_model).__name__}"
            )
        self.register_modules(
            vae=vae,
            transformer=transformer,
            scheduler=scheduler,
            vocoder=vocoder,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            text_encoder_2=text_encoder_2,
            tokenizer_2=tokenizer_2,
            clap_model=clap_model,
            clap_processor=clap_processor,
        )
        self.register_to_config(t5_pooling=t5_pooling, t5_max_length=t5_max_length)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, strict: bool = True, **kwargs):
        """A saved pipeline (directory or Hub repo with ``model_index.json``), or a GenAU release on the Hub converted
        once and cached: ``GenAUPipeline.from_pretrained("mali6/autocap", variant="genau-full-l")`` (variants
        ``genau-full-l``, ``genau-full-s``, ``genau-l-full-hq-data``; ``revision``, ``token``, ``cache_dir``,
        ``local_files_only``, ``copy_text_encoders``: see :func:`~hf_audiogen.genau.hub_loading.load_genau_pipeline`).
        The frozen T5 and the tokenizers of a converted release are named by Hub id and loaded from the HF cache;
        ``text_encoder_2=`` / ``tokenizer=`` / ``tokenizer_2=`` (a directory or an object) replace them.
        Loading itself is :meth:`_from_saved`.
        """
        from .hub_loading import load_genau_pipeline

        return load_genau_pipeline(pretrained_model_name_or_path, strict=strict, **kwargs)

    @classmethod
    def _from_saved(cls, pretrained_model_name_or_path, strict: bool = True, **kwargs):
        """``DiffusionPipeline.from_pretrained``, then the loaded components' weights moved out of the memory-mapped
        files into aligned memory (:func:`~hf_audiogen.aligned_memory.realign_weights`): the loaded pipeline then
        computes bit for bit what the saved one did, whatever BLAS code path the CPU takes. Components passed in as
        keyword arguments are left as they are.

        ``strict`` (default): a transformers component (vocoder, text encoders, CLAP) whose weights file lacks keys,
        has extra ones or mis-shaped ones is an error, as it is for our own components (transformers would only log a
        report and initialise the missing weights at random). ``strict=False`` loads it anyway.
        """
        with transformers_load_reports() as reports:
            try:
                pipe = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
            except RuntimeError as err:  # transformers raises after its report for mis-shaped weights
                if not reports:
                    raise
                raise IncompatibleCheckpointError(f"{pretrained_model_name_or_path}: {reports[0]}") from err
        if strict and reports:
            raise IncompatibleCheckpointError(f"{pretrained_model_name_or_path}: {reports[0]}")
        for name, component in pipe.components.items():
            if isinstance(component, torch.nn.Module) and name not in kwargs:
                realign_weights(component)
        return pipe

    # ----------------------------------------------------------------------------------------------------------------
    # Geometry: seconds <-> latent frames
    # ----------------------------------------------------------------------------------------------------------------
    @property
    def sampling_rate(self) -> int:
        # Without a vocoder, GenAU's mel front-end (GenAUMelFeatureExtractor defaults): 16 kHz, hop 160.
        return self.vocoder.config.sampling_rate if self.vocoder is not None else 16000

    @property
    def _seconds_per_latent_frame(self) -> float:
        hop = math.prod(self.vocoder.config.upsample_rates) if self.vocoder is not None else 160
        return hop * self.vae.temporal_downsampling / self.sampling_rate

    @property
    def max_audio_length_in_s(self) -> float:
        """Longest audio the FiT's positional range allows (10.24 s for GenAU)."""
        return self.transformer.config.sample_size * self._seconds_per_latent_frame

    def _latent_frames(self, audio_length_in_s: float) -> int:
        frames = math.ceil(audio_length_in_s / self._seconds_per_latent_frame - 1e-9)
        multiple = self.transformer.frame_multiple
        return -(-frames // multiple) * multiple

    # ----------------------------------------------------------------------------------------------------------------
    # Text conditioning
    # ----------------------------------------------------------------------------------------------------------------
    def _clap_embeddings(self, texts: list[str], device) -> torch.Tensor:
        text_config = getattr(self.text_encoder.config, "text_config", self.text_encoder.config)  # ClapModel nests it
        max_length = clap_text_max_length(self.tokenizer, text_config)
        inputs = self.tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        input_ids, attention_mask = inputs.input_ids.to(device), inputs.attention_mask.to(device)
        if isinstance(self.text_encoder, ClapModel):
            embeds = self.text_encoder.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
            embeds = getattr(embeds, "pooler_output", embeds)  # transformers 5 returns an output object
        else:
            embeds = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).text_embeds
        return F.normalize(embeds, dim=-1)  # laion CLAP (the reference) L2-normalises the text embedding

    def _t5_embeddings(self, texts: list[str], device) -> torch.Tensor:
        inputs = self.tokenizer_2(
            texts, padding=True, truncation=True, max_length=self.config.t5_max_length, return_tensors="pt"
        )
        input_ids, attention_mask = inputs.input_ids.to(device), inputs.attention_mask.to(device)
        hidden = self.text_encoder_2(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.config.t5_pooling == "mean":
            return hidden.mean(dim=1)
        mask = attention_mask[..., None].to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    def _text_summary(self, texts: list[str], device) -> torch.Tensor:
        """``(len(texts), text_embed_dim)``: [CLAP, FLAN-T5] concatenated, the reference's order."""
        parts = []
        if self.text_encoder is not None:
            parts.append(self._clap_embeddings(texts, device))
        if self.text_encoder_2 is not None:
            parts.append(self._t5_embeddings(texts, device))
        embeds = torch.cat(parts, dim=-1)
        if embeds.shape[-1] != self.transformer.config.text_embed_dim:
            raise ValueError(
                f"the text encoders give {embeds.shape[-1]} features but the transformer expects text_embed_dim="
                f"{self.transformer.config.text_embed_dim}"
            )
        return embeds.to(self.transformer.dtype)

    @torch.no_grad()
    def encode_prompt(
        self,
        prompt: list[str],
        device,
        num_waveforms_per_prompt: int = 1,
        do_classifier_free_guidance: bool = True,
        negative_prompt: list[str] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pooled text summaries ``(len(prompt) * num_waveforms_per_prompt, text_embed_dim)`` for the prompts and,
        with CFG, for the negative prompts (the empty prompt if ``negative_prompt`` is ``None``)."""
        prompt_embeds = self._text_summary(prompt, device).repeat_interleave(num_waveforms_per_prompt, dim=0)
        if not do_classifier_free_guidance:
            return prompt_embeds, None
        if negative_prompt is None:
            negative_embeds = self._text_summary([""], device).expand(len(prompt), -1)
        else:
            negative_embeds = self._text_summary(negative_prompt, device)
        return prompt_embeds, negative_embeds.repeat_interleave(num_waveforms_per_prompt, dim=0)

    # ----------------------------------------------------------------------------------------------------------------
    # CLAP re-ranking
    # ----------------------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def score_audio_text(self, audios: torch.Tensor | np.ndarray, texts: list[str]) -> torch.Tensor:
        """CLAP cosine similarity of each waveform ``audios[i]`` (``(n, samples)`` at ``self.sampling_rate``) with
        ``texts[i]``, as GenAU's re-ranking: ``(n,)`` float32 on the CPU. Needs ``clap_model`` and
        ``clap_processor``."""
        if self.clap_model is None:
            raise ValueError(
                "CLAP scoring needs a scorer: build the pipeline with clap_model (a transformers ClapModel) and "
                "clap_processor (its ClapProcessor), e.g. from laion/larger_clap_music_and_speech"
            )
        audios = audios.float().cpu().numpy() if isinstance(audios, torch.Tensor) else np.asarray(audios, np.float32)
        if audios.ndim != 2 or len(audios) != len(texts):
            raise ValueError(f"expected (n, samples) waveforms and n texts, got {audios.shape} and {len(texts)} texts")
        return clap_similarity(self.clap_model, self.clap_processor, list(audios), self.sampling_rate, texts)

    # ----------------------------------------------------------------------------------------------------------------
    # Call
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
        num_candidates_per_prompt=None,
        eta=1.0,
        latents=None,
    ) -> list[str]:
        """Validate every argument of ``__call__`` before any work; returns the prompts as a list."""
        prompt = check_prompts(prompt, negative_prompt)
        audio_length_in_s = check_float(
            "audio_length_in_s (the transformer's positional range)",
            audio_length_in_s,
            min=0,
            max=self.max_audio_length_in_s + 1e-9,
            min_inclusive=False,
        )
        max_steps = min(MAX_INFERENCE_STEPS, int(self.scheduler.config.num_train_timesteps))
        check_int("num_inference_steps", num_inference_steps, min=1, max=max_steps)
        if not self._timesteps_fit(num_inference_steps):
            # The scheduler's timesteps must stay inside its training schedule: with steps_offset=1 and "leading"
            # spacing (GenAU's DDIM, as the reference's), 1000 steps would ask for timestep 1000 of a 0..999 schedule.
            while max_steps > 1 and not self._timesteps_fit(max_steps):
                max_steps -= 1
            check_int(
                f"num_inference_steps (what {type(self.scheduler).__name__} takes)",
                num_inference_steps,
                min=1,
                max=max_steps,
            )
        check_float("guidance_scale", guidance_scale, min=0)
        check_float("eta", eta, min=0, max=1)
        check_int("num_waveforms_per_prompt", num_waveforms_per_prompt, min=1, max=MAX_SAMPLES_PER_CALL)
        check_choice("output_type", output_type, ("np", "pt", "latent"))
        if output_type != "latent" and self.vocoder is None:
            raise InvalidInputError(
                "this pipeline has no vocoder: use output_type='latent', or load it with "
                "GenAUPipeline.from_pretrained(path, vocoder=SpeechT5HifiGan.from_pretrained(...))"
            )
        per_prompt = num_waveforms_per_prompt
        if num_candidates_per_prompt is not None:
            check_int(
                "num_candidates_per_prompt (at least num_waveforms_per_prompt)",
                num_candidates_per_prompt,
                min=num_waveforms_per_prompt,
                max=MAX_CANDIDATES_PER_PROMPT,
            )
            per_prompt = num_candidates_per_prompt
            if self.clap_model is None:
                raise InvalidInputError(
                    "re-ranking with num_candidates_per_prompt needs a CLAP scorer: build the pipeline with "
                    "clap_model (a transformers ClapModel) and clap_processor (its ClapProcessor)"
                )
            if output_type == "latent":
                raise InvalidInputError(
                    "re-ranking scores waveforms: use output_type 'np' or 'pt' with num_candidates_per_prompt"
                )
        # All prompts' samples run through the transformer as one batch (twice with guidance).
        if len(prompt) * per_prompt > MAX_PROMPTS_PER_CALL:
            raise InvalidInputError(
                f"prompts x samples per prompt must be in [1, {MAX_PROMPTS_PER_CALL}] per call (they run as one "
                f"batch), got {len(prompt)} x {per_prompt} = {len(prompt) * per_prompt}: split the prompts over "
                "several calls"
            )
        if latents is not None:
            if not isinstance(latents, torch.Tensor):
                raise InvalidInputError(f"latents must be a torch.Tensor, got {type(latents).__name__}")
            if latents.is_floating_point() and not torch.isfinite(latents).all():
                raise InvalidInputError("latents must be finite, got NaN/inf values")
        return list(prompt)

    def _timesteps_fit(self, num_inference_steps: int) -> bool:
        """Whether ``num_inference_steps`` keeps the scheduler's timesteps inside its training schedule (checked on a
        fresh copy, so the pipeline's scheduler keeps its state)."""
        try:
            scheduler = type(self.scheduler).from_config(self.scheduler.config)
            scheduler.set_timesteps(num_inference_steps)
        except (ValueError, IndexError):
            return False
        timesteps = scheduler.timesteps
        return len(timesteps) > 0 and 0 <= float(timesteps.max()) < self.scheduler.config.num_train_timesteps

    def prepare_extra_step_kwargs(self, generator, eta: float) -> dict:
        # Only DDIM-like schedulers take eta; multistep solvers take neither eta nor (always) a generator.
        parameters = set(inspect.signature(self.scheduler.step).parameters)
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
        num_inference_steps: int = 100,
        guidance_scale: float = 4.0,
        audio_length_in_s: float | None = None,
        num_waveforms_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        dataset_id: str | int = "audiocaps",
        eta: float = 1.0,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        num_candidates_per_prompt: int | None = None,
        callback_on_step_end: Callable[["GenAUPipeline", int, torch.Tensor, dict], dict] | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> GenAUPipelineOutput | tuple:
        r"""Generate audio from text.

        Args:
            prompt: one prompt or a list.
            negative_prompt: replaces the empty prompt as the unconditional branch (a string or one per prompt).
            num_inference_steps: denoising steps (reference scripts: 100 or 200); at most what the scheduler's
                training schedule allows (999 for GenAU's DDIM, whose ``steps_offset=1`` puts step 1000 past it).
            guidance_scale: classifier-free guidance scale; CFG runs when it is > 1 (reference: 4.0).
            audio_length_in_s: seconds to generate, at most ``max_audio_length_in_s`` (default: that maximum).
            num_waveforms_per_prompt: samples returned per prompt (at most 64; prompts x samples at most 256,
                as they run as one batch).
            generator: torch generator(s) for the initial noise and the DDIM noise.
            dataset_id: dataset-style token, a name of ``transformer.config.dataset_names`` or an id (GenAU
                generates with "audiocaps" = 0).
            eta: DDIM η (the reference's default 1.0); ignored by schedulers without it.
            latents: optional initial noise ``(batch * n, channels, frames)``, ``n`` = ``num_candidates_per_prompt``
                when re-ranking, else ``num_waveforms_per_prompt``.
            output_type: ``"np"`` / ``"pt"`` waveforms ``(batch * n, samples)``, or ``"latent"`` for the final
                (scaled) latents.
            num_candidates_per_prompt: re-rank as GenAU does (its scripts use 3): generate this many candidates per
                prompt, score them with ``clap_model`` and return the best ``num_waveforms_per_prompt``, best first.
                ``None`` (default) returns the samples as generated.
            callback_on_step_end: called after every denoising step as ``callback_on_step_end(pipe, step_index,
                timestep, tensors)`` (diffusers' convention); ``tensors`` holds the names of
                ``callback_on_step_end_tensor_inputs`` (default ``["latents"]``) and the returned dict may replace them.
            callback_on_step_end_tensor_inputs: names out of ``_callback_tensor_inputs``.

        Returns:
            [`GenAUPipelineOutput`] with ``audios`` (and ``clap_scores`` when re-ranking); ``return_dict=False`` gives
            the tuple of the fields that are set.
        """
        if audio_length_in_s is None:
            audio_length_in_s = self.max_audio_length_in_s
        prompt = self.check_inputs(
            prompt,
            negative_prompt,
            audio_length_in_s,
            num_inference_steps,
            guidance_scale,
            num_waveforms_per_prompt,
            output_type,
            num_candidates_per_prompt,
            eta,
            latents,
        )
        audio_length_in_s = float(audio_length_in_s)
        guidance_scale, eta = float(guidance_scale), float(eta)
        if isinstance(negative_prompt, str):
            negative_prompt = [negative_prompt] * len(prompt)
        callback_on_step_end_tensor_inputs = callback_on_step_end_tensor_inputs or ["latents"]
        unknown = [name for name in callback_on_step_end_tensor_inputs if name not in self._callback_tensor_inputs]
        if unknown:
            raise InvalidInputError(
                f"callback_on_step_end_tensor_inputs must be among {self._callback_tensor_inputs}, got {unknown}"
            )
        if isinstance(dataset_id, bool) or not isinstance(dataset_id, (str, int, np.integer)):
            raise InvalidInputError(f"dataset_id must be a dataset name or an integer id, got {dataset_id!r}")
        dataset_id = int(dataset_id) if isinstance(dataset_id, np.integer) else dataset_id
        try:
            dataset_index = self.transformer.dataset_id(dataset_id) if self.transformer.config.num_dataset_ids else 0
        except ValueError as err:  # an unknown name or an id out of range: the transformer's message says which
            raise InvalidInputError(str(err)) from None
        device = self._execution_device
        do_cfg = guidance_scale > 1.0
        per_prompt = num_waveforms_per_prompt if num_candidates_per_prompt is None else num_candidates_per_prompt
        batch = len(prompt) * per_prompt
        generators = generator if isinstance(generator, list) else [generator]
        if not all(g is None or isinstance(g, torch.Generator) for g in generators):
            raise InvalidInputError(f"generator must be a torch.Generator or a list of them, got {generator!r}")
        if isinstance(generator, list) and len(generator) != batch:
            raise InvalidInputError(
                f"a list of generators must have one per sample: {batch} (prompts x samples per "
                f"prompt), got {len(generator)}"
            )

        prompt_embeds, negative_embeds = self.encode_prompt(prompt, device, per_prompt, do_cfg, negative_prompt)
        ids = torch.full((batch,), dataset_index, device=device, dtype=torch.long)
        if do_cfg:
            prompt_embeds = torch.cat([negative_embeds, prompt_embeds])
            ids = torch.cat([torch.zeros_like(ids), ids])  # the reference's unconditional dataset id is 0

        shape = (batch, self.transformer.config.in_channels, self._latent_frames(audio_length_in_s))
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=prompt_embeds.dtype)
        elif tuple(latents.shape) != shape:
            raise InvalidInputError(f"latents must have shape {shape}, got {tuple(latents.shape)}")
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        latents = latents.to(device) * self.scheduler.init_noise_sigma
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator, eta)

        for i, t in enumerate(self.progress_bar(self.scheduler.timesteps)):
            model_input = torch.cat([latents] * 2) if do_cfg else latents
            model_input = self.scheduler.scale_model_input(model_input, t)
            noise_pred = self.transformer(model_input, t, encoder_hidden_states=prompt_embeds, dataset_id=ids).sample
            if do_cfg:
                noise_uncond, noise_cond = noise_pred.chunk(2)
                noise_pred = noise_uncond + guidance_scale * (noise_cond - noise_uncond)
            latents = self.scheduler.step(noise_pred, t, latents, **extra_step_kwargs).prev_sample
            if callback_on_step_end is not None:
                tensors = {"latents": latents, "prompt_embeds": prompt_embeds}
                outputs = callback_on_step_end(self, i, t, {k: tensors[k] for k in callback_on_step_end_tensor_inputs})
                latents = outputs.pop("latents", latents)
                prompt_embeds = outputs.pop("prompt_embeds", prompt_embeds)

        if output_type == "latent":
            self.maybe_free_model_hooks()
            return GenAUPipelineOutput(audios=latents) if return_dict else (latents,)
        mel = self.vae.decode(latents / self.vae.config.scaling_factor).sample
        audio = self.vocoder(mel.transpose(1, 2).to(self.vocoder.dtype))
        audio = audio[:, : round(audio_length_in_s * self.sampling_rate)].float().cpu()
        scores = None
        if num_candidates_per_prompt is not None:
            # Candidates are prompt-major (encode_prompt repeats each prompt per_prompt times in a row).
            scores = self.score_audio_text(audio, [text for text in prompt for _ in range(per_prompt)])
            best = scores.view(len(prompt), per_prompt).topk(num_waveforms_per_prompt, dim=1)  # sorted, best first
            keep = (best.indices + per_prompt * torch.arange(len(prompt))[:, None]).flatten()
            audio, scores = audio[keep], best.values.flatten()
        self.maybe_free_model_hooks()
        if output_type == "np":
            audio = audio.numpy().astype(np.float32)
            scores = None if scores is None else scores.numpy()
        output = GenAUPipelineOutput(audios=audio, clap_scores=scores)
        return output if return_dict else output.to_tuple()


GenAUPipeline.__call__.__doc__ += EXAMPLE_DOC_STRING

__all__ = ["GenAUPipeline", "GenAUPipelineOutput", "genau_ddim_scheduler"]
