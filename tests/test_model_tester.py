"""Every model class through the shared ``ModelTesterMixin`` (tests/model_tester.py), with tiny models."""

import torch
from model_tester import ModelTesterMixin

from factories import (
    tiny_audiogen_model,
    tiny_autocap_model,
    tiny_codec_model,
    tiny_genau_fit,
    tiny_genau_vae,
    tiny_genau_vocoder,
)


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class TestCodecModel(ModelTesterMixin):
    """Audio -> codes -> audio. Codebooks are EMA buffers, not parameters; in training mode the straight-through
    estimator carries the decoder's gradient to the encoder."""

    def build_model(self):
        return tiny_codec_model()

    def build_inputs(self, batch_size):
        return {"input_values": 0.1 * torch.randn(batch_size, 1, 3200, generator=_generator())}

    def forward(self, model, inputs):
        return model(**inputs, num_quantizers=model.config.num_quantizers).audio_values


class TestAudioGenForConditionalGeneration(ModelTesterMixin):
    """Teacher-forced logits on codec codes, conditioned on (padded) text. The condition dropout is pinned by an
    explicit ``null_condition_mask`` so that training mode is deterministic."""

    def build_model(self):
        return tiny_audiogen_model()

    def build_inputs(self, batch_size):
        ids = torch.tensor([[5, 6, 7, 1], [8, 9, 1, 0], [10, 1, 0, 0]])[:batch_size]
        return {
            "input_ids": ids,
            "attention_mask": (ids != 0).long(),
            "audio_codes": torch.randint(0, 32, (batch_size, 2, 10), generator=_generator()),
            "null_condition_mask": torch.zeros(batch_size, dtype=torch.bool),
        }

    def forward(self, model, inputs):
        return model(**inputs).logits


class TestAutoCapForConditionalGeneration(ModelTesterMixin):
    """Caption logits from audio features, a CLAP token and tagged, right-padded metadata (tag ids from 300)."""

    def build_model(self):
        return tiny_autocap_model()

    def build_inputs(self, batch_size):
        features = torch.randn(batch_size, 1, 101, 16, generator=_generator()) * 10 - 40
        metadata = torch.tensor([[304, 40, 41, 305, 2], [300, 50, 301, 2, 1], [304, 60, 305, 2, 1]])[:batch_size]
        labels = torch.tensor([[0, 10, 11, 12, 2], [0, 13, 2, -100, -100], [0, 14, 15, 2, -100]])[:batch_size]
        return {
            "input_features": features,
            "clap_input_features": features,
            "metadata_ids": metadata,
            "metadata_attention_mask": (metadata != 1).long(),
            "labels": labels,
        }

    def forward(self, model, inputs):
        return model(**inputs).logits


class TestFiTTransformer1DModel(ModelTesterMixin):
    """The GenAU denoiser: noisy latents (16 frames = 2 groups of 2 latents), per-sample timesteps, pooled text,
    dataset ids and self-conditioning latents (without them the self-conditioning projection gets no gradient).
    Training mode has dropout 0.1 (the reference's)."""

    grad_exclusions = {
        r"^self_conditioning_latents_projection\.0\.": "behind the projection's output gain, zero-initialised as in the "
        "reference (self_conditioning_latents_projection.1.gamma = 0): no gradient until that gain moves",
    }

    def build_model(self):
        return tiny_genau_fit()

    def build_inputs(self, batch_size):
        generator = _generator()
        return {
            "sample": torch.randn(batch_size, 8, 16, generator=generator),
            "timestep": torch.tensor([10, 500, 999])[:batch_size],
            "encoder_hidden_states": torch.randn(batch_size, 24, generator=generator),
            "dataset_id": torch.tensor([0, 1, 2])[:batch_size],
            "self_conditioning_latents": torch.randn(batch_size, 4, 48, generator=generator),
        }

    def forward(self, model, inputs):
        return model(**inputs).sample


class TestAutoencoderKL1D(ModelTesterMixin):
    """Log-mels -> posterior mean -> log-mels."""

    def build_model(self):
        return tiny_genau_vae()

    def build_inputs(self, batch_size):
        return {"sample": torch.randn(batch_size, 64, 32, generator=_generator())}

    def forward(self, model, inputs):
        return model(**inputs).sample


class TestSpeechT5HifiGan(ModelTesterMixin):
    """The GenAU vocoder (transformers' ``SpeechT5HifiGan``): (batch, frames, 64 mel bins) -> waveform."""

    def build_model(self):
        return tiny_genau_vocoder()

    def build_inputs(self, batch_size):
        return {"spectrogram": torch.randn(batch_size, 20, 64, generator=_generator())}

    def forward(self, model, inputs):
        return model(**inputs)
