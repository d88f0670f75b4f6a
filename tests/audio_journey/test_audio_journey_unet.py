"""The shared model tester on the denoiser as Audio-Journey configures diffusers' UNet2DConditionModel: D in/out
channels, cross-attention at every level, and the text projection adapter (``encoder_hid_dim_type="text_proj"``),
which must get gradients like every other weight."""

import torch
from model_tester import ModelTesterMixin

from factories import tiny_audio_journey_unet


class TestAudioJourneyUNet(ModelTesterMixin):
    def build_model(self):
        return tiny_audio_journey_unet(seed=0)

    def build_inputs(self, batch_size: int) -> dict:
        generator = torch.Generator().manual_seed(0)
        sample = torch.randn(4, 8, 4, 4, generator=generator)[:batch_size]
        states = torch.randn(4, 6, 16, generator=generator)[:batch_size]
        return {"sample": sample, "timestep": torch.tensor([10, 500, 900, 3])[:batch_size], "states": states}

    def forward(self, model, inputs: dict) -> torch.Tensor:
        return model(inputs["sample"], inputs["timestep"], encoder_hidden_states=inputs["states"]).sample
