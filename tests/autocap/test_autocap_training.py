"""Two-stage AutoCap training (hf_audiogen.training.autocap) on a tiny dataset folder with the tiny preset."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import BartForConditionalGeneration

from hf_audiogen.autocap import AutoCapForConditionalGeneration, AutoCapPipeline
from hf_audiogen.training.autocap import AutoCapCollator, main, parse_args
from hf_audiogen.training.progress import read_metrics

from factories import (
    register_autocap_auto_classes,
    tiny_autocap_config,
    tiny_autocap_training_preset,  # noqa: F401 (a fixture)
    tiny_bart_tokenizer,
)

pytestmark = pytest.mark.usefixtures("tiny_autocap_training_preset")

SR = 16000
TIME = np.arange(SR) / SR
SOUNDS = {
    "tone": np.sin(2 * np.pi * 440 * TIME),
    "noise": np.random.default_rng(0).standard_normal(SR) * 0.3,
    "chirp": np.sin(2 * np.pi * (200 + 3000 * TIME) * TIME),
    "clicks": (np.arange(SR) % 1600 < 20).astype(float),
}
ROWS = [  # (sound, caption, title)
    ("tone", "a dog barks in the park", ""),
    ("noise", "rain falls on a tin roof", ""),
    ("chirp", "a man speaks while birds chirp", ""),
    ("clicks", "thunder rumbles in the distance", "thunder"),
    ("clicks", "a car passes by on a wet road", "car"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A dataset folder (train = validation = the five ROWS, 1.5 s clips) and a saved tiny BART tokenizer."""
    register_autocap_auto_classes()
    root = tmp_path_factory.mktemp("autocap_training")
    data = root / "data"
    (data / "clips").mkdir(parents=True)
    lines = []
    for split in ("train", "validation"):
        for i, (sound, caption, title) in enumerate(ROWS):
            name = f"clips/{split}_{i}_{sound}.wav"
            sf.write(data / name, np.tile(SOUNDS[sound], 2)[: int(1.5 * SR)].astype(np.float32), SR)
            lines.append({"file": name, "caption": caption, "title": title, "split": split})
    (data / "metadata.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    # A stand-in for pretrained BART (stage 1 keeps BART frozen, so a default std-0.02 random BART would barely react
    # to its inputs): random, but with large weights; it also exercises --bart_model.
    bart_dir = root / "bart"
    torch.manual_seed(0)
    bart_config = tiny_autocap_config(text_config={"init_std": 0.5}).text_config
    BartForConditionalGeneration(bart_config).save_pretrained(bart_dir)
    tiny_bart_tokenizer().save_pretrained(bart_dir)
    return root, data, bart_dir


def common_args(data, output_dir, steps, **extra):
    args = [
        "--dataset",
        str(data),
        "--output_dir",
        str(output_dir),
        "--max_train_steps",
        str(steps),
        "--train_batch_size",
        "5",
        "--learning_rate",
        "1e-2",
        "--lr_scheduler",
        "constant",
        "--metadata_column",
        "title",
        "--shuffle_buffer_size",
        "8",
        "--num_threads",
        "1",
        "--seed",
        "0",
        "--eval_steps",
        str(steps),
        "--checkpointing_steps",
        str(extra.pop("checkpointing_steps", steps)),
        "--logging_steps",
        "5",
        "--eval_batch_size",
        "5",
    ]
    for name, value in extra.items():
        args += [f"--{name}"] + ([] if value is True else [str(value)])
    return args


def bart_state(model):
    return {k: v.clone() for k, v in model.language_model.state_dict().items()}


def test_stage_1_then_stage_2(workspace):
    root, data, tokenizer_dir = workspace
    stage1 = main(
        common_args(
            data, root / "stage1", 40, stage=1, model_preset="tiny", bart_model=tokenizer_dir, metadata_keys="title"
        )
    )
    assert stage1.global_step == 40 and stage1.last_loss < 0.9 * stage1.first_loss
    # Stage 1 leaves BART as initialised: rebuild the same initial model (same seed) and compare.
    from hf_audiogen.training.autocap import build_model

    torch.manual_seed(0)
    from accelerate.utils import set_seed

    set_seed(0)
    initial, _ = build_model(
        parse_args(
            common_args(
                data, root / "unused", 1, stage=1, model_preset="tiny", bart_model=tokenizer_dir, metadata_keys="title"
            )
        )
    )
    trained1 = AutoCapForConditionalGeneration.from_pretrained(root / "stage1")
    for name, value in bart_state(initial).items():
        assert torch.equal(value, trained1.language_model.state_dict()[name]), name
    assert not torch.equal(initial.qformer_projection.weight, trained1.qformer_projection.weight)

    metrics = read_metrics(root / "stage1")
    evaluations = [m for m in metrics if "cider_d" in m]
    assert evaluations and {"val_loss", "bleu_1", "bleu_4", "rouge_l"} <= set(evaluations[-1])
    assert (root / "stage1" / "checkpoint-40" / "model" / "processor_config.json").is_file()
    bart = BartForConditionalGeneration.from_pretrained(tokenizer_dir)
    assert torch.equal(trained1.language_model.lm_head.weight, bart.lm_head.weight)  # --bart_model was loaded

    stage2 = main(common_args(data, root / "stage2", 60, stage=2, init_from=root / "stage1"))
    assert stage2.last_loss < stage1.last_loss
    trained2 = AutoCapForConditionalGeneration.from_pretrained(root / "stage2")
    words = "model.shared.weight"
    assert torch.equal(trained1.language_model.state_dict()[words], trained2.language_model.state_dict()[words])
    layer = "model.decoder.layers.0.fc1.weight"
    assert not torch.equal(trained1.language_model.state_dict()[layer], trained2.language_model.state_dict()[layer])
    # Validation moves the right way from stage 1 (the control: stage 2 with no training is exactly stage 1). Fixed
    # margins on 5 clips' BLEU/CIDEr are not: over 17 (stage-1, stage-2) seed pairs, BLEU-1 gains ranged 0.02-0.29
    # and CIDEr-D 0.11-2.1, and kernels of another CPU or library version move one run across such a margin. The
    # teacher-forced loss is the stable signal (ratio 0.33-0.41 over those pairs; 0.60 with --learning_rate 1e-3,
    # 0.86 with 1e-4, 1.0 with ~0), so it carries the size check; each caption metric must rise (from ~0: the
    # stage-1 captions share no words with the references), which it never did with those weaker rates.
    first, second = (json.loads((root / d / "eval_results.json").read_text()) for d in ("stage1", "stage2"))
    assert (first["stage"], second["stage"]) == (1, 2)
    assert second["val_loss"] < 0.5 * first["val_loss"], (first["val_loss"], second["val_loss"])
    for metric in ("bleu_1", "rouge_l", "cider_d"):
        assert second[metric] > first[metric] + 1e-3, (metric, first[metric], second[metric])
    caption = AutoCapPipeline.from_pretrained(root / "stage2")(str(data / "clips" / "validation_0_tone.wav"))
    assert isinstance(caption, str) and caption


def test_resume_is_exact(workspace):
    root, data, tokenizer_dir = workspace
    new_model = dict(
        stage=1,
        model_preset="tiny",
        bart_model=tokenizer_dir,
        metadata_keys="title",
        metadata_dropout_p=0.3,
        max_eval_clips=0,
    )
    main(common_args(data, root / "full", 8, checkpointing_steps=4, **new_model))
    main(common_args(data, root / "resumed", 4, checkpointing_steps=4, **new_model))
    main(common_args(data, root / "resumed", 8, checkpointing_steps=4, resume_from_checkpoint="latest", **new_model))
    full = AutoCapForConditionalGeneration.from_pretrained(root / "full").state_dict()
    resumed = AutoCapForConditionalGeneration.from_pretrained(root / "resumed").state_dict()
    for name in full:
        torch.testing.assert_close(full[name], resumed[name], rtol=0, atol=1e-6, msg=name)


def test_time_budget_stop_leaves_a_resumable_checkpoint(workspace):
    root, data, tokenizer_dir = workspace
    main(
        common_args(
            data,
            root / "timed",
            8,
            checkpointing_steps=4,
            stage=1,
            model_preset="tiny",
            bart_model=tokenizer_dir,
            max_eval_clips=0,
            max_train_minutes=1e-6,
        )
    )
    assert sorted(p.name for p in (root / "timed").glob("checkpoint-*")) == ["checkpoint-1"]
    assert (root / "timed" / "checkpoint-1" / "model" / "processor_config.json").is_file()


def test_collator_metadata_dropout_and_caption_lists():
    from factories import tiny_autocap_processor

    processor = tiny_autocap_processor(metadata_keys=["title"])
    examples = [
        {
            "audio": np.ones(8000, np.float32),
            "sampling_rate": SR,
            "caption": ["a dog", "dogs bark"],
            "title": "dog",
            "id": f"clip{i}",
        }
        for i in range(40)
    ]
    collate = AutoCapCollator(processor, "caption", {"title": "title"}, metadata_dropout_p=0.5, seed=0)
    batch = collate(examples)
    with_title = (batch["metadata_attention_mask"].sum(1) > batch["metadata_attention_mask"].sum(1).min()).float()
    assert 0.2 < with_title.mean() < 0.8  # about half the titles dropped
    assert batch["references"][0] == ["a dog", "dogs bark"]
    again = collate(examples)
    assert torch.equal(batch["metadata_ids"], again["metadata_ids"])  # seeded by (seed, epoch, ids)
    collate.set_epoch(1)
    assert not torch.equal(collate(examples)["metadata_ids"], batch["metadata_ids"])
    evaluation = AutoCapCollator(processor, "caption", {"title": "title"}, metadata_dropout_p=0.5, train=False)
    lengths = evaluation(examples)["metadata_attention_mask"].sum(1)
    assert (lengths == batch["metadata_attention_mask"].sum(1).max()).all()  # no dropout outside training
    with pytest.raises(ValueError, match="has no usable caption"):
        collate([{**examples[0], "caption": None}])


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--stage", "1"], "exactly one of --init_from"),
        (["--stage", "1", "--model_preset", "tiny"], "needs a BART tokenizer"),
        (["--stage", "2", "--init_from", "x", "--tokenizer", "t"], "only apply to a new model"),
        (
            ["--stage", "1", "--model_preset", "tiny", "--tokenizer", "t", "--metadata_dropout_p", "2"],
            "metadata_dropout_p must be in",
        ),
    ],
)
def test_bad_options_are_rejected(argv, message):
    with pytest.raises(ValueError, match=message):
        parse_args(argv + ["--dataset", "d", "--output_dir", "o", "--max_train_steps", "1"])
