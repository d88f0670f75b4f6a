"""LoRA on the AudioGen decoder: fine-tuning script output, load into the pipeline, merge, unload."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file

from hf_audiogen.audiogen import AudioGenForConditionalGeneration, AudioGenPipeline
from hf_audiogen.training.audiogen import finetune_lora, lora_target_regex, parse_lora_args

from factories import tiny_audiogen_pipeline_dir, tiny_text_tokenizer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "audio"
FAST = {"duration": 0.1, "progress_bar": False}


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    return tiny_audiogen_pipeline_dir(tmp_path_factory.mktemp("base"))


def _inputs():
    tokens = tiny_text_tokenizer()(["a dog barks in the park", "rain"], padding=True, return_tensors="pt")
    codes = torch.randint(0, 32, (2, 2, 12), generator=torch.Generator().manual_seed(0))
    return {"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"], "audio_codes": codes}


@torch.no_grad()
def _logits(model):
    return model(**_inputs()).logits


def test_finetune_lora_writes_the_adapter_alone(base_dir, tmp_path):
    out = tmp_path / "lora"
    result = finetune_lora(
        parse_lora_args(
            [
                "--model",
                str(base_dir),
                "--dataset",
                str(FIXTURES),
                "--output_dir",
                str(out),
                "--max_train_steps",
                "3",
                "--train_batch_size",
                "2",
                "--learning_rate",
                "1e-2",
                "--lora_rank",
                "4",
                "--checkpointing_steps",
                "2",
                "--eval_steps",
                "3",
                "--num_samples",
                "0",
                "--segment_seconds",
                "0.5",
            ]
        )
    )
    assert result.global_step == 3 and result.evaluation is not None

    top_level = {p.name for p in out.iterdir() if p.is_file()}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= top_level
    assert not top_level & {"config.json", "model.safetensors", "tokenizer.json", "processor_config.json"}
    weights = load_file(out / "adapter_model.safetensors")
    assert weights and all("lora_" in key and ".decoder.layers." in key for key in weights)
    adapted = {re.sub(r".*decoder\.layers\.\d+\.", "", k).rsplit(".lora_", 1)[0] for k in weights}
    assert adapted == {
        f"{a}.{p}" for a in ("self_attn", "cross_attention") for p in ("q_proj", "k_proj", "v_proj", "out_proj")
    } | {"linear1", "linear2"}
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == os.path.abspath(base_dir) and config["r"] == 4
    checkpoint_files = set(os.listdir(out / "checkpoint-2" / "adapter"))  # checkpoints hold the adapter only too
    assert "adapter_model.safetensors" in checkpoint_files
    assert checkpoint_files <= {"adapter_config.json", "adapter_model.safetensors", "README.md"}

    # The adapter directory alone is enough for the pipeline: it loads its base model and applies the adapter.
    adapted_pipe = AudioGenPipeline.from_pretrained(out)
    base_pipe = AudioGenPipeline.from_pretrained(base_dir)
    assert not torch.allclose(_logits(adapted_pipe.model), _logits(base_pipe.model))
    assert adapted_pipe("a dog barks", seed=0, **FAST)["audio"].shape == (1600,)


def test_load_merge_and_unload_reproduce_the_trained_adapter(base_dir, tmp_path):
    # "train" an adapter: random non-zero LoRA weights (a fresh adapter has B = 0 and changes nothing)
    trained = get_peft_model(
        AudioGenForConditionalGeneration.from_pretrained(base_dir),
        LoraConfig(r=4, lora_alpha=8, target_modules=lora_target_regex(["q", "v", "ffn"])),
    )
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in trained.named_parameters():
            if "lora_" in name:
                param.copy_(0.2 * torch.randn(param.shape, generator=generator))
    trained.eval()
    trained.save_pretrained(tmp_path / "adapter")
    expected = _logits(trained)

    pipe = AudioGenPipeline.from_pretrained(base_dir)
    base = _logits(pipe.model)
    pipe.load_lora(tmp_path / "adapter")
    assert torch.allclose(_logits(pipe.model), expected, atol=1e-6)
    # generation goes through the adapter: same audio as the trained model's own generate
    audio = pipe("rain", seed=0, **FAST)["audio"]
    tokens = tiny_text_tokenizer()(["rain"], return_tensors="pt")
    assert np.array_equal(audio, trained.get_base_model().generate(**tokens, seed=0, **FAST)[0, 0].numpy())

    with pytest.raises(ValueError, match="not merged"):
        pipe.save_pretrained(tmp_path / "unmerged")

    pipe.merge_lora()
    assert torch.allclose(_logits(pipe.model), expected, atol=1e-5)
    assert not any("lora_" in key for key in pipe.model.state_dict())
    assert type(pipe.model) is AudioGenForConditionalGeneration
    pipe.save_pretrained(tmp_path / "merged")
    reloaded = AudioGenPipeline.from_pretrained(tmp_path / "merged")
    assert torch.allclose(_logits(reloaded.model), expected, atol=1e-5)

    fresh = AudioGenPipeline.from_pretrained(base_dir)
    fresh.load_lora(tmp_path / "adapter")
    fresh.unload_lora()
    assert torch.equal(_logits(fresh.model), base)


def test_lora_errors(base_dir, tmp_path):
    pipe = AudioGenPipeline.from_pretrained(base_dir)
    with pytest.raises(ValueError, match="no LoRA adapter is loaded"):
        pipe.merge_lora()
    with pytest.raises(ValueError, match="no LoRA adapter is loaded"):
        pipe.unload_lora()
    with pytest.raises(ValueError, match="is not a LoRA adapter directory"):
        pipe.load_lora(tmp_path)
    with pytest.raises(ValueError, match="LoRA targets must be a non-empty subset"):
        lora_target_regex(["q", "wq"])
    with pytest.raises(SystemExit):
        parse_lora_args(
            [
                "--model",
                str(base_dir),
                "--dataset",
                str(FIXTURES),
                "--output_dir",
                str(tmp_path),
                "--max_train_steps",
                "1",
                "--lora_targets",
                "attention",
            ]
        )


def test_target_regex_selects_decoder_linears_only(base_dir):
    model = AudioGenForConditionalGeneration.from_pretrained(base_dir)
    pattern = re.compile(lora_target_regex(["q", "k", "v", "o", "ffn"]))
    selected = [name for name, _ in model.named_modules() if pattern.fullmatch(name)]
    layers = model.config.decoder.num_hidden_layers
    assert len(selected) == layers * (2 * 4 + 2)
    assert all(name.startswith("decoder.layers.") for name in selected)  # never the text encoder or the codec
