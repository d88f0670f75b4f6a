"""train_audio_journey on tiny precomputed codes: the held-out loss falls, resume is exact, LoRA fine-tuning runs."""

import json

import numpy as np
import pytest
import torch

from hf_audiogen.audio_journey import AudioJourneyPipeline
from hf_audiogen.training import audio_journey
from hf_audiogen.training.audiogen_data import tokenize_audio_dataset
from hf_audiogen.training.progress import read_metrics
from hf_audiogen.validation import InvalidInputError

from factories import tiny_codec_model, tiny_t5_config, tiny_text_tokenizer

CAPTIONS = ["a dog barks in the park", "rain falls on a tin roof", "a door slams and footsteps walk away"]


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    """A tiny codec, a tiny T5 text encoder directory and token shards of 12 train / 4 validation clips."""
    from transformers import T5EncoderModel

    root = tmp_path_factory.mktemp("audio_journey")
    codec = tiny_codec_model()
    codec.save_pretrained(root / "codec")
    torch.manual_seed(0)
    T5EncoderModel(tiny_t5_config()).save_pretrained(root / "text")
    tiny_text_tokenizer().save_pretrained(root / "text")
    rng = np.random.default_rng(0)
    for split, count in (("train", 12), ("validation", 4)):
        clips = []
        for i in range(count):
            seconds = rng.uniform(0.2, 0.5)  # some shorter than the 0.32 s crops: padded with silence codes
            tone = np.sin(2 * np.pi * (200 + 300 * (i % 3)) * np.arange(int(seconds * 16000)) / 16000)
            clips.append(
                {
                    "audio": (0.3 * tone).astype(np.float32),
                    "sampling_rate": 16000,
                    "caption": CAPTIONS[i % 3],
                    "id": f"{split}-{i}",
                }
            )
        tokenize_audio_dataset(clips, codec, root / "tokens", split, progress=False)
    return root


def _train(pieces, output_dir, *extra):
    args = audio_journey.parse_args(
        [
            "--token_shards",
            str(pieces / "tokens"),
            "--output_dir",
            str(output_dir),
            "--codec",
            str(pieces / "codec"),
            "--text_encoder",
            str(pieces / "text"),
            "--max_text_length",
            "8",
            "--segment_seconds",
            "0.32",
            "--block_out_channels",
            "16",
            "32",
            "--cross_attention_dim",
            "16",
            "--attention_head_dim",
            "4",
            "--train_batch_size",
            "4",
            "--lr_scheduler",
            "constant",
            "--num_samples",
            "0",
            "--logging_steps",
            "1",
            "--eval_timesteps",
            "4",
            "--num_threads",
            "1",
            *extra,
        ]
    )
    return audio_journey.train_audio_journey(args)


def test_statistics_crops_and_silence_padding(pieces, tmp_path):
    args = audio_journey.parse_args(
        [
            "--token_shards",
            str(pieces / "tokens"),
            "--output_dir",
            str(tmp_path),
            "--codec",
            str(pieces / "codec"),
            "--text_encoder",
            str(pieces / "text"),
            "--max_train_steps",
            "1",
            "--segment_seconds",
            "0.32",
            "--block_out_channels",
            "16",
            "32",
            "--cross_attention_dim",
            "16",
            "--attention_head_dim",
            "4",
        ]
    )
    pipe = audio_journey.build_pipeline(args)
    config = audio_journey.fill_statistics(pipe, args.token_shards, "train")
    assert config.is_normalized and len(config.latent_mean) == 8 and min(config.latent_std) > 0
    assert (config.image_width, config.size_multiple) == (4, 2)  # 16 frames -> a 4 x 4 image
    silence = audio_journey.silence_codes(pipe.codec)
    crops = audio_journey.CodeCrops(16, silence, seed=0)
    rows = [{"codes": [[1] * 10] * 3, "caption": "a", "id": "short"}, {"codes": [[2] * 40] * 3, "caption": None}]
    batch = crops(rows)
    assert batch["codes"].shape == (2, 3, 16) and batch["captions"] == ["a", ""]
    assert torch.equal(batch["codes"][0, :, 10:], silence[:, None].expand(3, 6))
    assert torch.all(batch["codes"][1] == 2)


def test_condition_dropout_replaces_captions_with_the_empty_prompt():
    torch.manual_seed(0)
    dropped = audio_journey.drop_captions(["x"] * 1000, 0.1)
    assert set(dropped) == {"x", ""} and 60 < dropped.count("") < 140
    assert audio_journey.drop_captions(["x", "y"], 0.0) == ["x", "y"]


def test_heldout_loss_falls_and_the_output_is_a_pipeline(pieces, tmp_path):
    result = _train(
        pieces,
        tmp_path / "run",
        "--max_train_steps",
        "40",
        "--learning_rate",
        "2e-3",
        "--eval_steps",
        "40",
        "--checkpointing_steps",
        "100",
    )
    assert result.global_step == 40
    assert result.evaluation.loss < 0.9 * result.first_evaluation.loss
    results = json.loads((tmp_path / "run" / "eval_results.json").read_text())
    assert results["first_evaluation"]["loss"] == pytest.approx(result.first_evaluation.loss)
    pipe = AudioJourneyPipeline.from_pretrained(tmp_path / "run")
    assert pipe.latent_config.is_normalized and pipe.latent_config.default_audio_length_in_s == 0.32
    audio = pipe("a dog barks", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).audios
    assert audio.shape == (1, round(0.32 * 16000))


def _unet_states(path):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel.from_pretrained(path / "unet").state_dict()


def test_resume_is_exact(pieces, tmp_path):
    # 12 clips / batch 4 = 3 steps per epoch: resuming at step 2 restarts mid-epoch and crosses into epoch 1.
    common = ("--eval_steps", "100", "--condition_dropout", "0.3", "--use_ema")
    _train(pieces, tmp_path / "straight", "--max_train_steps", "5", *common)
    _train(pieces, tmp_path / "resumed", "--max_train_steps", "2", "--checkpointing_steps", "2", *common)
    result = _train(
        pieces, tmp_path / "resumed", "--max_train_steps", "5", "--resume_from_checkpoint", "latest", *common
    )
    assert result.global_step == 5
    losses = lambda path: [(m["step"], m["loss"]) for m in read_metrics(path) if "loss" in m]  # noqa: E731
    assert losses(tmp_path / "resumed") == losses(tmp_path / "straight")
    straight, resumed = _unet_states(tmp_path / "straight"), _unet_states(tmp_path / "resumed")
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)


def test_lora_fine_tuning_saves_an_adapter_for_the_base_pipeline(pieces, tmp_path):
    _train(pieces, tmp_path / "base", "--max_train_steps", "2", "--eval_steps", "100")
    args = ["--max_train_steps", "5", "--learning_rate", "1e-2", "--eval_steps", "5"]
    args = audio_journey.parse_args(
        [
            "--token_shards",
            str(pieces / "tokens"),
            "--output_dir",
            str(tmp_path / "lora"),
            "--init_from",
            str(tmp_path / "base"),
            "--lora",
            "--lora_rank",
            "4",
            "--segment_seconds",
            "0.32",
            "--train_batch_size",
            "4",
            "--num_samples",
            "0",
            "--eval_timesteps",
            "4",
            "--num_threads",
            "1",
            *args,
        ]
    )
    result = audio_journey.train_audio_journey(args)
    assert (tmp_path / "lora" / "pytorch_lora_weights.safetensors").is_file()
    base = AudioJourneyPipeline.from_pretrained(tmp_path / "base")
    base.set_progress_bar_config(disable=True)
    generate = lambda: base("a dog barks", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).audios  # noqa: E731
    before = generate()
    base.load_lora_weights(tmp_path / "lora")
    assert not (generate() == before).all()
    base.unload_lora_weights()
    assert (generate() == before).all()
    assert result.global_step == 5


def test_lora_needs_a_base_pipeline(pieces, tmp_path):
    with pytest.raises(InvalidInputError):
        audio_journey.parse_args(
            [
                "--token_shards",
                str(pieces / "tokens"),
                "--output_dir",
                str(tmp_path),
                "--max_train_steps",
                "1",
                "--lora",
            ]
        )


def test_the_loss_target_follows_the_prediction_type():
    from types import SimpleNamespace

    from hf_audiogen.audio_journey import audio_journey_scheduler

    images, noise, timesteps = torch.randn(2, 3, 2, 2), torch.randn(2, 3, 2, 2), torch.tensor([10, 900])
    zero_unet = lambda x, t, **_: SimpleNamespace(sample=torch.zeros_like(x))  # noqa: E731
    for prediction_type in ("epsilon", "v_prediction"):
        pipe = SimpleNamespace(scheduler=audio_journey_scheduler(prediction_type=prediction_type))
        scheduler = audio_journey.noise_scheduler_for(pipe)
        loss = audio_journey.diffusion_loss(zero_unet, images, None, None, scheduler, noise, timesteps)
        target = noise if prediction_type == "epsilon" else scheduler.get_velocity(images, noise, timesteps)
        torch.testing.assert_close(loss, target.pow(2).mean())
