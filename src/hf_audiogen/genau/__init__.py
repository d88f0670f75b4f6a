"""GenAU (Haji-Ali et al. 2024): latent-diffusion text-to-audio with a 1D mel VAE, a FiT denoiser and HiFi-GAN."""

from .discriminator import HifiGanDiscriminator
from .feature_extraction_genau import GenAUMelFeatureExtractor, log_mel_spectrogram
from .losses import AutoencoderKL1DLoss, MelPatchDiscriminator
from .modeling_autoencoder_kl_1d import AutoencoderKL1D, DiagonalGaussianDistribution1D
from .modeling_fit import FIT_PRESETS, GENAU_DATASET_NAMES, FiTTransformer1DModel, FiTTransformer1DOutput
from .pipeline_genau import GenAUPipeline, GenAUPipelineOutput, genau_ddim_scheduler
from .vocoder import genau_vocoder_config, vocoder_hop_length

__all__ = [
    "AutoencoderKL1D",
    "AutoencoderKL1DLoss",
    "DiagonalGaussianDistribution1D",
    "FIT_PRESETS",
    "FiTTransformer1DModel",
    "FiTTransformer1DOutput",
    "GENAU_DATASET_NAMES",
    "GenAUMelFeatureExtractor",
    "GenAUPipeline",
    "GenAUPipelineOutput",
    "HifiGanDiscriminator",
    "MelPatchDiscriminator",
    "genau_ddim_scheduler",
    "genau_vocoder_config",
    "log_mel_spectrogram",
    "vocoder_hop_length",
]
