"""Caption enrichment (Audio-Journey §3): the checks on hand-written sentences, the prompts, the template fallback,
and the LLM path's plumbing with a tiny random Llama (batching, determinism, resume after a kill, accounting) and a
tiny random image-to-text model for video frames."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from hf_audiogen.cli import main
from hf_audiogen.data.pipelines.caption_enrichment import (
    SHOT_EXAMPLES,
    LabelEnricher,
    account,
    build_merge_prompt,
    build_prompt,
    caption_quality,
    check_caption,
    clean_generation,
    enrich_captions,
    load_enriched,
    parse_labels,
    prepare_row,
    template_caption,
)
from hf_audiogen.validation import InvalidInputError

SRC = Path(__file__).parents[2] / "src"
LABELS = [
    ["Rain", "Wind"],
    ["Dog", "Bark"],
    [],
    ["Vehicle horn", "Traffic noise"],
    ["Speech", "Crowd"],
    ["Thunder"],
    ["Footsteps", "Gravel"],
    ["Water tap, faucet"],
    ["Glass", "Shatter"],
    ["Engine", "Idling"],
    ["Bird", "Chirp"],
]


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A random 2-layer Llama and a random ViT -> BERT image captioner, both with the offline MiniLM WordPiece
    tokenizer, saved as folders (what --llm / --video-captioner take)."""
    import torch
    from transformers import (
        AutoTokenizer,
        BertConfig,
        LlamaConfig,
        LlamaForCausalLM,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    from hf_audiogen.text_encoder_source import resolve_text_encoder_source

    root = tmp_path_factory.mktemp("tiny_models")
    tokenizer = AutoTokenizer.from_pretrained(resolve_text_encoder_source("minilm"))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(root / "llm")
    tokenizer.save_pretrained(root / "llm")
    # The same model with a chat template, for the chat-message prompt path.
    LlamaForCausalLM(config).save_pretrained(root / "chat_llm")
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}"
    )
    tokenizer.save_pretrained(root / "chat_llm")
    tokenizer.chat_template = None

    encoder = ViTConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    decoder = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        is_decoder=True,
        add_cross_attention=True,
    )
    captioner = VisionEncoderDecoderModel(VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder))
    for config in (captioner.config, captioner.generation_config):
        config.decoder_start_token_id = tokenizer.cls_token_id
        config.pad_token_id = tokenizer.pad_token_id
    captioner.save_pretrained(root / "captioner")
    tokenizer.save_pretrained(root / "captioner")
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(root / "captioner")
    return root


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def labels_file(tmp_path):
    return write_jsonl(
        tmp_path / "labels.jsonl", [{"id": f"clip{i}", "labels": labels} for i, labels in enumerate(LABELS)]
    )


def parquet_rows(out_dir: Path) -> list[dict]:
    return [row for path in sorted((out_dir / "parquet").glob("*.parquet")) for row in pq.read_table(path).to_pylist()]


# ------------------------------------------------------------------------------------------------ checks
def test_check_rejects_a_sentence_that_drops_a_label():
    check = check_caption("Thunder rumbles over the sea at night.", ["Thunder", "Rain"])
    assert not check.ok and check.missing == ("Rain",) and check.coverage == 0.5


def test_check_rejects_speech_that_no_label_has():
    check = check_caption("A dog barks in the yard and a man speaks.", ["Dog", "Bark"])
    assert not check.ok and "speak" in check.invented
    assert check_caption("Music plays while a dog barks.", ["Dog"]).invented == ("music",)


def test_check_keeps_a_good_sentence_with_other_word_forms():
    for sentence, labels in [
        ("A dog is barking while cars pass by.", ["Dog", "Bark", "Vehicle"]),  # lemma, hypernym
        ("A huge explosion echoes through the valley.", ["Explode"]),  # word family (shared prefix)
        ("Footsteps crunch on the gravel path.", ["Footsteps", "Gravel"]),
        ("People chatter in a busy hall as someone speaks.", ["Speech", "Crowd"]),  # speech licensed by a label
        ("A guitarist strums a song.", ["Guitar"]),  # music licensed by an instrument label
    ]:
        check = check_caption(sentence, labels)
        assert check.ok, (sentence, check)


def test_check_needs_most_words_of_a_multi_word_label():
    assert check_caption("A car honks its horn.", ["Vehicle horn"]).ok
    assert not check_caption("A horn sounds.", ["Vehicle horn"]).ok  # half of the label is not enough
    assert check_caption("A man speaks quietly.", ["Male speech, man speaking"]).ok  # 3 of 4 words
    assert not check_caption("A waterfall roars.", ["water footstep"]).ok


def test_check_rejects_empty_output_and_accepts_extra_synonyms():
    assert check_caption("  ", ["Rain"]).reason == "empty output"
    assert not check_caption("A kettle hisses.", ["Teapot"]).ok
    assert check_caption("A kettle hisses.", ["Teapot"], synonyms={"teapot": ["kettle"]}).ok


def test_clean_generation_keeps_the_first_line_without_decoration():
    assert clean_generation('\n  "Answer: A dog barks."\nSecond line') == "A dog barks."
    assert clean_generation("Sentence:  Rain   falls. ") == "Rain falls."
    assert clean_generation("") == ""


def test_parse_labels_accepts_lists_comma_strings_and_json_text():
    assert parse_labels(["Dog", " Bark "]) == ["Dog", "Bark"]
    assert parse_labels("Dog, Bark") == ["Dog", "Bark"]
    assert parse_labels('["Water tap, faucet"]') == ["Water tap, faucet"]
    assert parse_labels(None) == []
    assert prepare_row({"id": "x", "labels": "  "})["skip_reason"] == "empty labels"


def test_template_is_audiogens_pseudo_sentence():
    assert template_caption(["Dog", "Bark", "Park"]) == "dog bark park"
    assert template_caption(["Speech_synthesizer"]) == "speech synthesizer"


# ------------------------------------------------------------------------------------------------ prompts
@pytest.mark.parametrize("shots, examples", [("0", 0), ("1", 1), ("few", len(SHOT_EXAMPLES))])
def test_prompt_variants_hold_the_papers_instruction_and_the_examples(shots, examples):
    messages = build_prompt(["Rain", "Wind"], shots, chat=True)
    assert len(messages) == 2 * examples + 1 and messages[-1]["role"] == "user"
    assert messages[-1]["content"].startswith("For each of these, summarize the sounds into a single sentence:")
    assert messages[-1]["content"].endswith("describe a situation with all of these sounds together: Rain, Wind")
    text = build_prompt(["Rain", "Wind"], shots, chat=False)
    assert text.count("### Instruction:") == examples + 1 and text.endswith("### Response:\n")
    merge = build_merge_prompt("rain falls", "a street at night", chat=False)
    assert "Audio: rain falls" in merge and "Visual: a street at night" in merge


# ------------------------------------------------------------------------------------------------ the job
def test_template_fallback_accounts_for_every_input(labels_file, tmp_path):
    report = enrich_captions(labels_file, tmp_path / "out", template=True, shard_size=4, progress=False)
    rows = parquet_rows(tmp_path / "out")
    assert report.inputs == len(rows) == len(LABELS) == report.enriched + report.rejected + report.skipped
    assert report.skipped == 1 and report.reasons == {"empty labels": 1} and report.rejected == 0
    assert [row["id"] for row in rows] == [f"clip{i}" for i in range(len(LABELS))]
    first = rows[0]
    assert first["caption"] == "rain wind" and first["labels"] == ["Rain", "Wind"]
    assert first["prompt_variant"].startswith("template") and first["llm"] is None
    assert json.loads((tmp_path / "out" / "accounting.json").read_text())["inputs"] == len(LABELS)


def test_llm_path_batches_accounts_and_records_provenance(tiny_models, labels_file, tmp_path, monkeypatch):
    calls = []
    generate = LabelEnricher.generate

    def counting(self, prompts, seed_key):
        calls.append(len(prompts))
        return generate(self, prompts, seed_key)

    monkeypatch.setattr(LabelEnricher, "generate", counting)
    out = tmp_path / "out"
    report = enrich_captions(
        labels_file,
        out,
        llm=str(tiny_models / "llm"),
        shots="few",
        batch_size=3,
        shard_size=5,
        max_new_tokens=8,
        progress=False,
    )
    # shards of 5, 5, 1 rows, batches of at most 3 inside a shard; clip2 (no labels) needs no prompt
    assert calls == [2, 2, 3, 2, 1]
    rows = parquet_rows(out)
    assert report.inputs == len(rows) == len(LABELS)
    assert report.enriched + report.rejected + report.skipped == len(LABELS)
    assert report.rejected > 0 and 0 < report.rejection_rate <= 1  # random weights write gibberish
    produced = [row for row in rows if row["status"] != "skipped"]
    assert all(row["raw_output"] is not None and row["candidate"] is not None for row in produced)
    assert all(row["caption"] is None for row in rows if row["status"] == "rejected")
    assert {row["prompt_variant"] for row in rows} == {"few-shot"} and {row["prompt_format"] for row in rows} == {
        "alpaca"
    }
    assert all(row["llm"] == str(tiny_models / "llm") and row["llm_revision"].startswith("local-") for row in rows)
    assert json.loads(rows[0]["generation"]) == {"do_sample": False, "max_new_tokens": 8}
    assert account(out).as_dict() == report.as_dict()


def test_chat_template_path_and_seeded_sampling_are_deterministic(tiny_models, labels_file, tmp_path):
    options = dict(llm=str(tiny_models / "chat_llm"), shots="1", sample=True, max_new_tokens=6, progress=False)
    first = enrich_captions(labels_file, tmp_path / "a", seed=1, **options)
    again = enrich_captions(labels_file, tmp_path / "b", seed=1, **options)
    other = enrich_captions(labels_file, tmp_path / "c", seed=2, **options)
    outputs = [[row["raw_output"] for row in load_enriched(r.out_dir)] for r in (first, again, other)]
    assert outputs[0] == outputs[1] and outputs[0] != outputs[2]
    assert {row["prompt_format"] for row in load_enriched(first.out_dir)} == {"chat template"}


def test_greedy_runs_write_identical_shards(tiny_models, labels_file, tmp_path):
    for name in ("a", "b"):
        enrich_captions(labels_file, tmp_path / name, llm=str(tiny_models / "llm"), max_new_tokens=6, progress=False)
    assert parquet_rows(tmp_path / "a") == parquet_rows(tmp_path / "b")


def test_resume_after_a_kill_gives_identical_output(tiny_models, tmp_path):
    rows = [{"id": f"r{i:02d}", "labels": LABELS[i % len(LABELS)]} for i in range(24)]
    labels_file = write_jsonl(tmp_path / "labels.jsonl", rows)
    options = dict(llm=str(tiny_models / "llm"), shots="1", batch_size=2, shard_size=3, max_new_tokens=6)
    enrich_captions(labels_file, tmp_path / "whole", progress=False, **options)

    # A separate process, slowed to ~0.3 s a batch, killed with SIGKILL once its first shard is complete.
    killed = tmp_path / "killed"
    script = textwrap.dedent(
        f"""
        import time
        from hf_audiogen.data.pipelines import caption_enrichment as ce
        call = ce.LabelEnricher.__call__
        ce.LabelEnricher.__call__ = lambda self, records: (time.sleep(0.3), call(self, records))[1]
        ce.enrich_captions({str(labels_file)!r}, {str(killed)!r}, progress=False, **{options!r})
        """
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.monotonic() + 120
    while not (killed / "shard-00000.json").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before its first shard"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = sorted(killed.glob("shard-*.json"))
    assert 1 <= len(done) < 8, "the kill should land mid-run"
    partial = account(killed)
    assert partial.missing > 0 and partial.inputs == len(rows)

    report = enrich_captions(labels_file, killed, progress=False, **options)
    assert report.missing == 0 and report.written == len(rows) - 3 * len(done)
    assert parquet_rows(killed) == parquet_rows(tmp_path / "whole")
    for path in sorted((tmp_path / "whole" / "parquet").glob("*.parquet")):
        assert pq.read_table(path).equals(pq.read_table(killed / "parquet" / path.name))


def test_video_frames_are_captioned_and_merged(tiny_models, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [Image.fromarray((rng.random((40, 48, 3)) * 255).astype("uint8")) for _ in range(5)]
    (tmp_path / "frames").mkdir()
    for i, image in enumerate(images[:3]):
        image.save(tmp_path / "frames" / f"{i:03d}.png")
    images[0].save(tmp_path / "clip.gif", save_all=True, append_images=images[1:])
    labels_file = write_jsonl(
        tmp_path / "labels.jsonl",
        [
            {"id": "folder", "labels": ["Rain"], "video": "frames"},
            {"id": "gif", "labels": ["Dog"], "video": "clip.gif"},
            {"id": "list", "labels": ["Wind"], "video": ["frames/000.png", "frames/002.png"]},
            {"id": "none", "labels": ["Car"]},
            {"id": "missing", "labels": ["Car"], "video": "nowhere"},
        ],
    )
    report = enrich_captions(
        labels_file,
        tmp_path / "out",
        llm=str(tiny_models / "llm"),
        video_captioner=str(tiny_models / "captioner"),
        num_frames=2,
        max_new_tokens=6,
        progress=False,
    )
    rows = {row["id"]: row for row in parquet_rows(tmp_path / "out")}
    assert report.inputs == 5 and rows["missing"]["status"] == "skipped"
    assert rows["missing"]["reason"].startswith("unreadable video")
    for name in ("folder", "gif", "list"):
        assert rows[name]["visual_caption"] and rows[name]["prompt_variant"] == "zero-shot + audio-visual merge"
        assert rows[name]["video_captioner_revision"].startswith("local-")
    assert rows["none"]["visual_caption"] is None and rows["none"]["prompt_variant"] == "zero-shot"


def test_caption_quality_similarity_beats_the_shuffled_control():
    captions = ["a dog barks loudly", "rain falls on a tin roof", "a car engine starts", "birds chirp at dawn", None]
    references = ["a dog is barking", "heavy rain on a roof", "an engine revs up", "birdsong in the morning", "x"]
    labels = [["Dog"], ["Rain"], ["Engine"], ["Bird"], ["Wind"]]
    quality = caption_quality(captions, labels, references)
    assert quality["captions"] == 4 and quality["similarity_pairs"] == 4
    assert quality["mean_label_coverage"] == 1.0 and quality["vocabulary_size"] == 16
    assert quality["similarity"] > quality["shuffled_similarity"] + 0.2


# ------------------------------------------------------------------------------------------------ bad input
def test_bad_input_fails_in_one_line_before_any_work(labels_file, tmp_path, tiny_models):
    bad = [
        dict(in_path=labels_file, template=True, llm=str(tiny_models / "llm")),  # both
        dict(in_path=labels_file),  # neither
        dict(in_path=tmp_path / "labels.txt", template=True),
        dict(in_path=labels_file, template=True, labels_column="tags"),
        dict(in_path=labels_file, template=True, batch_size=0),
        dict(in_path=labels_file, llm=str(tiny_models / "llm"), shots="2"),
        dict(in_path=labels_file, llm="no/such/model/folder"),
        dict(in_path=labels_file, template=True, video_column="video"),  # frames with no captioner
        dict(
            in_path=write_jsonl(tmp_path / "twice.jsonl", [{"id": 1, "labels": "a"}, {"id": "1", "labels": "b"}]),
            template=True,
        ),
    ]
    if not __import__("hf_audiogen.data.pipelines.caption_enrichment", fromlist=["x"]).video_reader_available():
        video = write_jsonl(tmp_path / "video.jsonl", [{"id": "a", "labels": "Dog", "video": "clip.mp4"}])
        bad.append(dict(in_path=video, llm=str(tiny_models / "llm"), video_captioner=str(tiny_models / "captioner")))
    for kwargs in bad:
        in_path = kwargs.pop("in_path")
        with pytest.raises(InvalidInputError):
            enrich_captions(in_path, tmp_path / "never", progress=False, **kwargs)
    assert not (tmp_path / "never").exists()


def test_resuming_with_other_settings_is_refused(labels_file, tmp_path, tiny_models):
    enrich_captions(labels_file, tmp_path / "out", template=True, progress=False)
    with pytest.raises(InvalidInputError):
        enrich_captions(labels_file, tmp_path / "out", llm=str(tiny_models / "llm"), progress=False)


def test_cli(labels_file, tmp_path, capsys):
    assert main(["data", "enrich-captions", str(labels_file), str(tmp_path / "out"), "--template"]) == 0
    assert f"{len(LABELS)} inputs" in capsys.readouterr().out
    assert main(["data", "enrich-captions", str(labels_file), str(tmp_path / "bad"), "--shots", "7", "--llm", "x"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
