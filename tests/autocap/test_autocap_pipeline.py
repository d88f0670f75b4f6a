"""AutoCapPipeline end to end with a tiny AutoCap taught five captions (four sounds; one sound whose caption depends on
its title metadata), so captions are checkable text rather than random tokens."""

import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from hf_audiogen.audio import AudioError
from hf_audiogen.autocap import PIPELINE_TASK, AutoCapPipeline

from factories import register_autocap_auto_classes, tiny_autocap_model, tiny_autocap_processor

SR = 16000
TIME = np.arange(SR) / SR
SOUNDS = {
    "tone": np.sin(2 * np.pi * 440 * TIME).astype(np.float32),
    "noise": np.random.default_rng(0).standard_normal(SR).astype(np.float32),
    "chirp": np.sin(2 * np.pi * (200 + 3000 * TIME) * TIME).astype(np.float32),
    "clicks": (np.arange(SR) % 1600 < 20).astype(np.float32),
}
EXAMPLES = [  # (sound, metadata, caption)
    ("tone", None, "a dog barks in the park"),
    ("noise", None, "rain falls on a tin roof"),
    ("chirp", None, "a man speaks while birds chirp"),
    ("clicks", {"title": "thunder"}, "thunder rumbles in the distance"),
    ("clicks", {"title": "car"}, "a car passes by on a wet road"),
]
CAPTIONS = [caption for *_, caption in EXAMPLES]


@pytest.fixture(scope="module")
def trained():
    """(pipeline, losses): stage-2 training of the tiny model on EXAMPLES until greedy decoding reproduces them."""
    register_autocap_auto_classes()
    processor = tiny_autocap_processor()
    model = tiny_autocap_model(train_word_embeddings=True)
    model.set_training_stage(2)
    batch = processor(
        audio=[SOUNDS[s] for s, *_ in EXAMPLES], sampling_rate=SR, metadata=[m for _, m, _ in EXAMPLES], text=CAPTIONS
    )
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for step in range(300):
        model.train()
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % 20 == 19:
            model.eval()
            if processor.batch_decode(model.generate(**inputs, num_beams=1)) == CAPTIONS:
                break
    model.eval()
    return AutoCapPipeline(model=model, processor=processor, device="cpu"), losses


def test_training_learns_the_captions(trained):
    pipe, losses = trained
    assert losses[-1] < 0.5 * losses[0]
    assert pipe([SOUNDS[s] for s, *_ in EXAMPLES[:3]], sampling_rate=SR) == CAPTIONS[:3]


def test_metadata_present_vs_absent_changes_the_caption(trained):
    pipe, _ = trained
    clicks = SOUNDS["clicks"]
    assert pipe(clicks, sampling_rate=SR, metadata={"title": "thunder"}) == "thunder rumbles in the distance"
    assert pipe(clicks, sampling_rate=SR, metadata={"title": "car"}) == "a car passes by on a wet road"
    # No metadata = the model's fields with empty tags, as for audio-only training clips.
    without = pipe(clicks, sampling_rate=SR)
    assert without == pipe(clicks, sampling_rate=SR, metadata={})
    assert without == pipe(clicks, sampling_rate=SR, metadata={"title": None})
    # metadata given for a list: one entry per input (None = no metadata)
    assert pipe([clicks, SOUNDS["tone"]], sampling_rate=SR, metadata=[{"title": "car"}, None]) == [
        "a car passes by on a wet road",
        "a dog barks in the park",
    ]


@pytest.mark.parametrize("generate", [{"num_beams": 1}, {"num_beams": 3}, {}])
def test_batched_equals_single_for_greedy_and_beam(trained, generate):
    pipe, _ = trained
    clips = [SOUNDS[s] for s, *_ in EXAMPLES]
    metadata = [m for _, m, _ in EXAMPLES]
    batched = pipe(clips, sampling_rate=SR, metadata=metadata, batch_size=4, **generate)
    single = [pipe(c, sampling_rate=SR, metadata=m, **generate) for c, m in zip(clips, metadata)]
    assert batched == single == CAPTIONS


def test_beam_and_sampling_options(trained):
    pipe, _ = trained
    tone = SOUNDS["tone"]
    candidates = pipe(tone, sampling_rate=SR, num_beams=3, num_return_sequences=3)
    assert isinstance(candidates, list) and len(candidates) == 3 and candidates[0] == CAPTIONS[0]
    short = pipe(tone, sampling_rate=SR, max_new_tokens=4, num_beams=1)  # <s>, 2 tokens, forced </s>
    assert short and CAPTIONS[0].startswith(short) and len(short) < len(CAPTIONS[0]) / 2
    sampled = [pipe(tone, sampling_rate=SR, do_sample=True, num_beams=1, temperature=3.0, seed=s) for s in (0, 0, 1)]
    assert sampled[0] == sampled[1]
    lists = pipe(
        [tone, SOUNDS["noise"]],
        sampling_rate=SR,
        do_sample=True,
        num_beams=1,
        num_return_sequences=2,
        seed=0,
        batch_size=2,
    )
    assert [len(x) for x in lists] == [2, 2]
    with pytest.raises(ValueError, match="num_return_sequences=3 needs num_beams >= it"):
        pipe(tone, sampling_rate=SR, num_beams=2, num_return_sequences=3)
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['beams'\]"):
        pipe(tone, sampling_rate=SR, beams=2)


def test_any_rate_files_bytes_dicts_and_channels(trained, tmp_path):
    pipe, _ = trained
    import soxr

    tone = SOUNDS["tone"]
    for rate in (8000, 22050, 44100):
        assert pipe(soxr.resample(tone, SR, rate), sampling_rate=rate) == CAPTIONS[0]
    path = tmp_path / "rain.flac"
    noise = soxr.resample(SOUNDS["noise"], SR, 44100) * 0.2
    sf.write(path, np.stack([noise, noise], axis=1), 44100)  # a stereo file at 44.1 kHz
    assert pipe(str(path)) == CAPTIONS[1]
    assert pipe(path.read_bytes()) == CAPTIONS[1]
    assert pipe({"path": str(path), "bytes": None}) == CAPTIONS[1]
    assert pipe({"array": SOUNDS["chirp"], "sampling_rate": SR}) == CAPTIONS[2]
    stereo = np.stack([SOUNDS["chirp"], SOUNDS["chirp"]])  # (channels, samples): averaged to mono
    assert pipe(torch.from_numpy(stereo), sampling_rate=SR) == CAPTIONS[2]


def test_datasets_rows_and_dataset(trained, tmp_path):
    pipe, _ = trained
    from datasets import Audio, Dataset

    paths = []
    for name in ("tone", "clicks", "clicks"):
        paths.append(str(tmp_path / f"{name}.wav"))
        sf.write(paths[-1], SOUNDS[name], SR)
    dataset = Dataset.from_dict({"audio": paths, "title": [None, "thunder", "car"]}).cast_column(
        "audio", Audio(decode=False)
    )
    assert pipe(dataset[1]) == "thunder rumbles in the distance"  # the row's title column is its metadata
    assert pipe(dataset, batch_size=2) == [CAPTIONS[0], CAPTIONS[3], CAPTIONS[4]]
    row = {"audio": {"array": SOUNDS["clicks"], "sampling_rate": SR}, "title": "car", "other_column": 1}
    assert pipe(row) == CAPTIONS[4]
    assert pipe(row, metadata={"title": "thunder"}) == CAPTIONS[3]  # explicit metadata wins over columns


def test_progress_bar_for_more_than_one_batch(trained, capsys):
    pipe, _ = trained
    clips = [SOUNDS["tone"]] * 3
    pipe(clips, sampling_rate=SR, batch_size=2)
    assert "captioning" in capsys.readouterr().err
    pipe(clips, sampling_rate=SR, batch_size=4)
    assert "captioning" not in capsys.readouterr().err
    pipe(clips, sampling_rate=SR, batch_size=1, progress_bar=False)
    assert "captioning" not in capsys.readouterr().err


def test_bad_inputs_behave_as_documented(trained, caplog):
    pipe, _ = trained
    with pytest.raises(AudioError, match="input 1 is empty"):
        pipe([SOUNDS["tone"], np.zeros(0, dtype=np.float32)], sampling_rate=SR)
    nan = SOUNDS["tone"].copy()
    nan[100] = np.nan
    with pytest.raises(AudioError, match="input 0 contains 1 NaN/inf"):
        pipe(nan, sampling_rate=SR)
    with pytest.raises(AudioError, match="raw array: pass sampling_rate"):
        pipe(SOUNDS["tone"])
    with pytest.raises(AudioError, match="audio file not found"):
        pipe("/nonexistent/clip.wav")
    with pytest.raises(ValueError, match="unknown metadata key 'titel'"):
        pipe(SOUNDS["tone"], sampling_rate=SR, metadata={"titel": "x"})
    with pytest.raises(ValueError, match="give one dict"):
        pipe([SOUNDS["tone"]] * 2, sampling_rate=SR, metadata=[None])
    with pytest.raises(ValueError, match="inputs is empty"):
        pipe([], sampling_rate=SR)
    with caplog.at_level(logging.WARNING):
        caption = pipe(np.zeros(SR, dtype=np.float32), sampling_rate=SR)
    assert isinstance(caption, str) and "input 0 is silent" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        long_caption = pipe(np.tile(SOUNDS["tone"], 3), sampling_rate=SR)
    assert long_caption == CAPTIONS[0] and "3.0 s long: only its first 1 s" in caplog.text


def test_save_load_and_transformers_pipeline_factory(trained, tmp_path):
    pipe, _ = trained
    pipe.save_pretrained(tmp_path)
    loaded = AutoCapPipeline.from_pretrained(tmp_path)
    clips = [SOUNDS[s] for s, *_ in EXAMPLES]
    metadata = [m for _, m, _ in EXAMPLES]
    assert loaded(clips, sampling_rate=SR, metadata=metadata, batch_size=5) == CAPTIONS
    from transformers import pipeline

    factory = pipeline(PIPELINE_TASK, model=str(tmp_path), device="cpu")
    assert isinstance(factory, AutoCapPipeline)
    assert factory(SOUNDS["noise"], sampling_rate=SR) == CAPTIONS[1]


def test_pipeline_checks_model_and_processor_agree():
    processor = tiny_autocap_processor()
    with pytest.raises(ValueError, match="does not match the feature extractor's CLAP front-end"):
        AutoCapPipeline(model=tiny_autocap_model(use_clap=False), processor=processor, device="cpu")
    with pytest.raises(ValueError, match="tag tokens start at id 300 but the model's tag table at 400"):
        AutoCapPipeline(model=tiny_autocap_model(text_config={"vocab_size": 400}), processor=processor, device="cpu")
    with pytest.raises(ValueError, match="needs an AutoCapProcessor"):
        AutoCapPipeline(model=tiny_autocap_model(), processor=None, device="cpu")


def test_caption_command_prints_one_line_per_file(trained, tmp_path, capsys):
    from hf_audiogen.cli import main

    pipe, _ = trained
    pipe.save_pretrained(tmp_path / "autocap")
    for name in ("tone", "noise"):
        sf.write(tmp_path / f"{name}.wav", SOUNDS[name], SR)
    files = [str(tmp_path / "tone.wav"), str(tmp_path / "noise.wav")]
    assert main(["caption", *files, "--model", str(tmp_path / "autocap"), "--num-beams", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"{files[0]}\t{CAPTIONS[0]}", f"{files[1]}\t{CAPTIONS[1]}"]
    assert main(["caption", str(tmp_path / "missing.wav"), "--model", str(tmp_path / "autocap")]) == 2
    assert "not found: " in capsys.readouterr().err
