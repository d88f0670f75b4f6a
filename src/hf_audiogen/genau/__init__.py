"""GenAU (Haji-Ali et al. 2024): latent-diffusion text-to-audio with a 1D mel VAE, a FiT denoiser and HiFi-GAN."""

from .feature_extraction_genau import GenAUMelFeatureExtractor, log_mel_spectrogram
from .losses import AutoencoderKL1DLoss, MelPatchDiscriminator
from .modeling_autoencoder_kl_1d import AutoencoderKL1D, DiagonalGaussianDistribution1D

__all__ = [
    "AutoencoderKL1D",
    "AutoencoderKL1DLoss",
    "DiagonalGaussianDistribution1D",
    "GenAUMelFeatureExtractor",
    "MelPatchDiscriminator",
    "log_mel_spectrogram",
]
