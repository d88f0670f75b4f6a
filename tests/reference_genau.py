"""The reference GenAU checkpoint layout (Lightning state dict + YAML) built from our tiny pipeline, shared by the converter and bad-input tests."""

import torch

from hf_audiogen.genau import AutoencoderKL1D, GenAUPipeline

from factories import tiny_genau_pipeline, tiny_text_tokenizer

PROMPTS = ["a dog barks in the park", "rain falls"]


REFERENCE_YAML = """
variables:
  latent_t_size: &latent_t_size 64
preprocessing:
  audio: {sampling_rate: 16000, duration: 10.24}
  stft: {filter_length: 1024, hop_length: 160, win_length: 1024}
model:
  target: src.models.genau_ddpm.GenAu
  params:
    use_ema: False
    sampling_rate: 16000
    linear_start: 0.0015
    linear_end: 0.0195
    timesteps: 1000
    parameterization: eps
    scale_by_std: True
    first_stage_config:
      target: src.modules.latent_encoder.autoencoder_1d.AutoencoderKL1D
      params:
        embed_dim: 8
        subband: 1
        time_shuffle: 1
        image_key: fbank
        ddconfig: {double_z: true, mel_bins: 64, z_channels: 8, resolution: 256, downsample_time: false,
                   in_channels: 64, out_ch: 64, ch: 32, ch_mult: [1, 1, 2], num_res_blocks: 1, attn_resolutions: [],
                   dropout: 0.0}
    backbone_type: fit
    unet_config:
      target: src.modules.fit.fit_audio.FIT
      params:
        weight_initializer:
          target: !module src.modules.initializers.initializers.RINWeightScalerInitializer
          scale: 0.57735026919
        fit_block_module: !module src.modules.fit.layers.fit_layers.FITBlockV5
        context_channels: 40
        summary_text_embeddings_channels: 24
        conditioning_in_context: True
        time_pe_type: learned
        use_dataset_id_conditioning: True
        dataset_ids_count: 4
        use_resolution_conditioning: False
        input_size: [1, *latent_t_size, 1]
        patch_size: [1, 2, 1]
        group_size: [1, 4, 1]
        input_channels: 8
        patch_channels: 32
        fit_blocks_count: 2
        local_layers_per_block: 1
        global_layers_per_block: 1
        latent_count: 16
        latent_channels: 48
        learned_sinusoidal_dim: 8
        self_conditioning_ff_config: {}
        fit_block_config:
          attention_class: !module src.modules.fit.layers.rin_layers.Attention
          ff_class: !module src.modules.fit.layers.rin_layers.FeedForward
          drop_units: 0.1
          drop_path: 0.0
          use_cross_attention_feedforward: True
          default_attention_config: {heads: 4, dim_head: 8}
          ff_config: {}
    cond_stage_config:
      film_clap_cond1:
        cond_stage_key: text
        conditioning_key: film
        target: src.modules.conditional.conditional_models.CLAPAudioEmbeddingClassifierFreev2
        params: {pretrained_path: clap_htsat_tiny, sampling_rate: 16000, embed_mode: text, amodel: HTSAT-tiny}
      film_flan_t5_cond2:
        cond_stage_key: text
        conditioning_key: film
        target: src.modules.conditional.conditional_models.FlanT5HiddenState
        params: {text_encoder_name: google/flan-t5-large, freeze_text_encoder: True, return_embeds: True,
                 pool_tokens: True}
      noncond_dataset_ids:
        cond_stage_key: all
        conditioning_key: ignore
        target: src.modules.conditional.conditional_models.DatasetIDs
        params:
          encode_dataset_ids: False
          dataset2id: {audiocaps: 0, clotho: 1, vggsound: 2, fsd50k: 3, unconditional: 0}
"""


def original_pipeline(seed: int = 0) -> GenAUPipeline:
    """The tiny pipeline with a VAE whose GroupNorms have 32 groups (fixed in the reference) and a vocoder with
    torch's default conv init (the HiFi-GAN init makes ~1e-10 waveforms, useless for comparisons)."""
    pipe = tiny_genau_pipeline(seed)
    torch.manual_seed(seed + 100)
    vae = AutoencoderKL1D(
        block_out_channels=(32, 32, 64),
        layers_per_block=1,
        z_channels=8,
        latent_channels=8,
        norm_num_groups=32,
        scaling_factor=1.25,
    ).eval()
    with torch.no_grad():
        for module in pipe.vocoder.modules():
            if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                module.reset_parameters()
    pipe = GenAUPipeline(**{**pipe.components, "vae": vae})
    pipe.set_progress_bar_config(disable=True)
    return pipe


def reference_hifigan(vocoder, weight_norm: bool = False, seed: int = 0) -> dict:
    """Our vocoder's weights in the reference Generator's names; with ``weight_norm``, as ``weight_g``/``weight_v``
    (v = a randomly rescaled weight, g = the weight's norm, so that g v / |v| is the weight again)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in vocoder.state_dict().items():
        if key in ("mean", "scale"):
            continue
        key = key.replace("upsampler.", "ups.")
        if weight_norm and key.endswith(".weight"):
            scale = 0.5 + torch.rand((value.shape[0],) + (1,) * (value.ndim - 1), generator=generator)
            state[key + "_v"] = value * scale
            state[key + "_g"] = torch.linalg.vector_norm(value, dim=tuple(range(1, value.ndim)), keepdim=True)
        else:
            state[key] = value
    return state


def reference_schedule() -> dict:
    """GenAU's schedule buffers: LDM 'linear' betas (linspace of square roots, squared) in float64, stored float32."""
    betas = torch.linspace(0.0015**0.5, 0.0195**0.5, 1000, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1 - betas, dim=0)
    previous = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
    return {
        "alphas_cumprod": alphas_cumprod.float(),
        "alphas_cumprod_prev": previous.float(),
        "sqrt_alphas_cumprod": alphas_cumprod.sqrt().float(),
        "sqrt_one_minus_alphas_cumprod": (1 - alphas_cumprod).sqrt().float(),
    }


def reference_state_dict(pipe: GenAUPipeline) -> dict:
    """The state dict GenAU's LightningModule would save for ``pipe``'s weights (plus training-only tensors)."""
    state = {f"model.diffusion_model.{k}": v for k, v in pipe.transformer.state_dict().items()}
    state.update({f"first_stage_model.{k}": v for k, v in pipe.vae.state_dict().items()})
    state.update({f"first_stage_model.vocoder.{k}": v for k, v in reference_hifigan(pipe.vocoder).items()})
    state.update(
        {
            "first_stage_model.loss.logvar": torch.zeros(()),
            "first_stage_model.loss.discriminator.main.0.weight": torch.randn(4, 1, 4, 4),
        }
    )
    for key, value in pipe.text_encoder.state_dict().items():  # laion CLAP names; RoBERTa's id buffers not saved
        if key.endswith(("position_ids", "token_type_ids")):
            continue
        key = key.replace("text_model.", "text_branch.").replace("text_projection.linear1.", "text_projection.0.")
        state["cond_stage_models.0.model." + key.replace("text_projection.linear2.", "text_projection.2.")] = value
    for key in (
        "model.audio_branch.patch_embed.proj.weight",
        "model.audio_projection.0.weight",
        "model.text_transform.sequential.0.weight",
        "mel_transform.mel_scale.fb",
    ):
        state[f"cond_stage_models.0.{key}"] = torch.randn(3, 2)
    state["cond_stage_models.0.model.logit_scale_a"] = state["cond_stage_models.0.model.logit_scale_t"] = torch.ones(())
    state.update({f"cond_stage_models.1.model.{k}": v for k, v in pipe.text_encoder_2.state_dict().items()})
    state.update(
        {
            "clap.model.audio_branch.patch_embed.proj.weight": torch.randn(3, 2),
            "clap.model.logit_scale_a": torch.ones(()),
            "clap.mel_transform.mel_scale.fb": torch.randn(3, 2),
        }
    )
    state.update(reference_schedule())
    state["logvar"] = torch.zeros(1000)
    state["scale_factor"] = torch.tensor(pipe.vae.config.scaling_factor)
    return state


def save_lightning(path, state: dict):
    torch.save(
        {
            "state_dict": state,
            "epoch": 3,
            "global_step": 1500,
            "pytorch-lightning_version": "2.1.0",
            "optimizer_states": [],
            "lr_schedulers": [],
        },
        path,
    )
    return path


def encoders(pipe):
    """The tokenizers (not in GenAU checkpoints) and, as the tiny encoders have head counts and a T5 position range
    that the tensors do not show, their configs (the weights still come from the checkpoint)."""
    return dict(
        tokenizer=tiny_text_tokenizer(),
        tokenizer_2=tiny_text_tokenizer(),
        text_encoder=pipe.text_encoder.config,
        text_encoder_2=pipe.text_encoder_2.config,
    )
