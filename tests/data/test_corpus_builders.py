"""Tests for the multi-source corpus builder (hf_audiogen.data.builders), offline, on tiny fake package trees."""

import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from hf_audiogen.data.builders import (
    DENY_PATTERNS,
    SOURCE_FACTORIES,
    DebSoundPackage,
    DeniedSourceError,
    PackageSoundSource,
    build_corpus,
    caption_from_path,
    check_allowed,
    dep5_lookup,
    group_key,
    normalise_licence,
    normalise_stem,
    parse_dep5,
    resolve_sources,
)
from hf_audiogen.data.builders.core import extract_deb_tar, extract_zip
from hf_audiogen.data.sfx_corpus import assign_splits

SR = 22050
COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fakegame

Files: *
Copyright: 2010 Fake Team
License: GPL-2+

Files: data/sounds/animals/*
Copyright: 2012 Jane Recordist
License: CC-BY-SA-3.0

Files: data/sounds/gfdl/*
Copyright: 2012 Someone
License: GFDL-1.3

Files: data/music/* data/sounds/ui/*
Copyright: 2013 Composer
License: GPL-2+ or CC-BY-3.0
"""


def tone(seconds, freq=440.0, seed=0, amp=0.3):
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    return (amp * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def write(path, audio, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, SR, format=fmt)


def make_fake_package(root, package="fakegame-data", game="fake"):
    """Installed-layout tree: usr/share/games/<game>/sounds/... and usr/share/doc/<package>/copyright."""
    doc = root / "usr/share/doc" / package
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    s = root / "usr/share/games" / game / "sounds"
    write(s / "animals/cow_1.ogg", tone(1.0, 200, 1), "OGG")
    write(s / "animals/cow_2.ogg", tone(1.2, 210, 2), "OGG")
    write(s / "animals/sheep.wav", tone(0.8, 600, 3))
    write(s / "weapons/sword_hit_01.wav", tone(0.5, 900, 4))
    write(s / "weapons/sword_hit_02.wav", tone(0.5, 900, 4))  # byte-identical copy of _01
    write(s / "music/main_theme.ogg", tone(3.0, 330, 5), "OGG")
    write(s / "voices/hello.wav", tone(0.6, 150, 6))
    write(s / "misc/a1.wav", tone(0.5, 700, 7))  # no descriptive word
    write(s / "impacts/thud.wav", tone(0.05, 100, 8))  # too short
    write(s / "impacts/silence.wav", np.zeros(SR, np.float32))
    write(s / "gfdl/bell.wav", tone(0.5, 1000, 9))
    write(s / "ui/click.wav", tone(0.3, 2000, 10))
    return root


class LocalSource(PackageSoundSource):
    """A PackageSoundSource whose fetch returns a prepared folder (no download)."""

    folder: Path = None

    def fetch(self, cache_dir):
        return self.folder


def local_source(name, root, package="fakegame-data", game="fake", **kwargs):
    src = LocalSource(name=name, package=package, roots=[f"usr/share/games/{game}/sounds"], **kwargs)
    src.folder = root
    return src


@pytest.fixture()
def fake_root(tmp_path):
    return make_fake_package(tmp_path / "pkg")


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------------- deny-list
@pytest.mark.parametrize(
    "name",
    [
        "wesnoth",
        "wesnoth-1.16-data",
        "wesnoth-music",
        "wesnoth-data",
        "lincity-ng",
        "lincity-ng-data",
        "lincity",
        "LinCity-NG",
    ],
)
def test_deny_list_refuses_held_out_packages(name):
    with pytest.raises(DeniedSourceError):
        check_allowed(name)
    with pytest.raises(DeniedSourceError):
        resolve_sources([name])
    with pytest.raises(DeniedSourceError):
        DebSoundPackage(name)
    with pytest.raises(DeniedSourceError):
        PackageSoundSource(name="fine", package=name, roots=["x"])


def test_deny_list_covers_both_games_and_no_catalog_source_is_denied():
    assert any("wesnoth" in p for p in DENY_PATTERNS) and any("lincity" in p for p in DENY_PATTERNS)
    for name, factory in SOURCE_FACTORIES.items():
        source = factory()
        check_allowed(name)
        package = source.package if isinstance(source.package, str) else source.package.name
        check_allowed(package)


def test_deny_list_also_refuses_source_objects(tmp_path):
    class Sneaky:
        name = "sneaky"
        package = "wesnoth-1.16-data"

    with pytest.raises(DeniedSourceError):
        resolve_sources([Sneaky()])
    with pytest.raises(DeniedSourceError):
        build_corpus(tmp_path / "out", sources=[Sneaky()])
    assert not (tmp_path / "out" / "clips").exists()


# ---------------------------------------------------------------------------------------- licences and captions
@pytest.mark.parametrize(
    "text, expected",
    [
        ("CC-BY-SA-3.0", "CC-BY-SA-3.0"),
        ("CC-BY-SA-3", "CC-BY-SA-3.0"),
        ("CC-BY-SA-3.0+", "CC-BY-SA-3.0"),
        ("CC-BY-SA-3.0-AU", "CC-BY-SA-3.0-AU"),
        ("CC0", "CC0-1.0"),
        ("CC0-1.0", "CC0-1.0"),
        ("GPL-2+", "GPL-2.0+"),
        ("GPL-3", "GPL-3.0"),
        ("public-domain", "public-domain"),
        ("GFDL-1.3", None),
        ("GPL-2+ or CC-BY-SA-3.0", "CC-BY-SA-3.0"),
        ("CC-BY-NC-3.0", None),
        ("GPL-3+ with Font exception", None),
        ("", None),
    ],
)
def test_normalise_licence(text, expected):
    assert normalise_licence(text) == expected


def test_dep5_last_matching_stanza_wins_with_installed_paths():
    stanzas = parse_dep5(COPYRIGHT)
    assert [s.licence for s in stanzas] == ["GPL-2+", "CC-BY-SA-3.0", "GFDL-1.3", "GPL-2+ or CC-BY-3.0"]
    assert stanzas[3].patterns == ["data/music/*", "data/sounds/ui/*"]
    installed = "usr/share/games/fake/sounds/animals/cow_1.ogg"
    assert dep5_lookup(stanzas, installed).licence == "CC-BY-SA-3.0"
    assert dep5_lookup(stanzas, "usr/share/games/fake/sounds/weapons/x.wav").licence == "GPL-2+"
    assert stanzas[1].copyright == "2012 Jane Recordist"


def test_caption_and_group_heuristics():
    assert normalise_stem("fs_rock_12") == "fs_rock"
    assert normalise_stem("Step-03b") == "step"
    assert normalise_stem("crash2") == "crash"
    assert group_key("a/b/step_2.ogg") == group_key("a/b/step1.ogg") == "a/b/step"
    assert group_key("a/b/step_2.ogg") != group_key("a/c/step_2.ogg")
    assert caption_from_path("fauna/animal/cattle_04.ogg") == "cattle (fauna, animal)"
    assert caption_from_path("singlesteps/fs_rock1.ogg", {"fs": "footsteps", "singlesteps": ""}) == "footsteps rock"
    assert caption_from_path("sfx/WilhelmScream.ogg") == "wilhelm scream"
    assert caption_from_path("misc/a1.wav") is None
    assert caption_from_path("x/s_01.wav") is None


def test_adapter_extracts_captions_licences_and_flags(fake_root):
    source = local_source("fake", fake_root)
    clips = {c.original_name.split("sounds/")[1]: c for c in source.iter_clips(fake_root)}
    assert len(clips) == 12
    cow = clips["animals/cow_1.ogg"]
    assert (cow.caption, cow.licence) == ("cow (animals)", "CC-BY-SA-3.0")
    assert "Jane Recordist" in cow.attribution
    assert cow.group == clips["animals/cow_2.ogg"].group == "animals/cow"
    assert clips["weapons/sword_hit_01.wav"].licence == "GPL-2.0+"
    assert clips["ui/click.wav"].licence == "CC-BY-3.0"  # "GPL-2+ or CC-BY-3.0": the more permissive choice
    assert clips["music/main_theme.ogg"].skip_reason.startswith("music")
    assert clips["voices/hello.wav"].extra["speech"] is True
    assert clips["misc/a1.wav"].skip_reason.startswith("no caption")
    assert "not free enough" in clips["gfdl/bell.wav"].skip_reason
    assert clips["animals/sheep.wav"].extra["speech"] is False


def test_adapter_package_wide_licence_and_rules(fake_root):
    source = local_source(
        "fake",
        fake_root,
        licence="CC0-1.0",
        credit="Fake Team",
        captions={r"sheep": "a sheep bleating"},
        speech=[r"sword"],
        exclude={r"^impacts/": "impact placeholder"},
    )
    clips = {c.original_name.split("sounds/")[1]: c for c in source.iter_clips(fake_root)}
    assert clips["gfdl/bell.wav"].licence == "CC0-1.0" and clips["gfdl/bell.wav"].skip_reason is None
    assert clips["animals/sheep.wav"].caption == "a sheep bleating"
    assert clips["animals/sheep.wav"].extra["caption_origin"] == "curated"
    assert clips["weapons/sword_hit_01.wav"].extra["speech"] is True
    assert clips["impacts/thud.wav"].skip_reason == "impact placeholder"
    assert clips["animals/cow_1.ogg"].attribution == "Fake Team"


def test_adapter_rejects_a_folder_without_its_sound_folders(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(local_source("fake", tmp_path).iter_clips(tmp_path))


# ---------------------------------------------------------------------------------------------------- building
def test_build_accounts_for_every_file_with_reasons(tmp_path, fake_root):
    report = build_corpus(tmp_path / "out", sources=[local_source("fake", fake_root)], log=lambda *_: None)
    out = tmp_path / "out"
    accounting = read_jsonl(out / "accounting.jsonl")
    rows = read_jsonl(out / "metadata.jsonl")
    assert len(accounting) == 12
    by_name = {r["original_name"].split("sounds/")[1]: r for r in accounting}
    reason = lambda name: (by_name[name]["reason"] or "").split(" (")[0]  # noqa: E731
    assert reason("music/main_theme.ogg") == "music"
    assert reason("voices/hello.wav") == "speech"
    assert reason("weapons/sword_hit_02.wav") == "duplicate"
    assert by_name["weapons/sword_hit_02.wav"]["reason"].startswith("duplicate (hash) of")
    assert reason("impacts/thud.wav") == "too short"
    assert reason("impacts/silence.wav") == "silent"
    assert reason("misc/a1.wav") == "no caption"
    assert reason("gfdl/bell.wav").startswith("licence")
    kept = {r["original_name"].split("sounds/")[1] for r in accounting if r["status"] == "kept"}
    assert kept == {
        "animals/cow_1.ogg",
        "animals/cow_2.ogg",
        "animals/sheep.wav",
        "weapons/sword_hit_01.wav",
        "ui/click.wav",
    }
    assert len(rows) == 5 == report["clips"]
    for row in rows:
        info = sf.info(out / row["file"])
        assert (info.samplerate, info.channels, info.format) == (16000, 1, "FLAC")
        assert row["speech"] is False and row["split"] in {"train", "validation"}
        assert set(row) >= {"file", "caption", "source", "licence", "attribution", "duration", "group", "split"}
        assert abs(info.frames / 16000 - row["duration"]) < 1e-3
    assert report["skipped_by_reason"]["music"] == 1
    attribution = (out / "ATTRIBUTION.md").read_text()
    assert "Jane Recordist" in attribution and "CC-BY-SA-3.0" in attribution


def test_keep_speech_keeps_speech_clips_flagged(tmp_path, fake_root):
    build_corpus(tmp_path / "out", sources=[local_source("fake", fake_root)], keep_speech=True, log=lambda *_: None)
    rows = read_jsonl(tmp_path / "out" / "metadata.jsonl")
    assert [r["speech"] for r in rows if "hello" in r["file"]] == [True]
    assert sum(r["speech"] for r in rows) == 1


def test_cross_source_duplicates_are_dropped_and_accounted(tmp_path, fake_root):
    other = make_fake_package(tmp_path / "pkg2", package="other-data", game="other")
    sources = [local_source("fake", fake_root), local_source("other", other, package="other-data", game="other")]
    report = build_corpus(tmp_path / "out", sources=sources, log=lambda *_: None)
    accounting = read_jsonl(tmp_path / "out" / "accounting.jsonl")
    dups = [r for r in accounting if r["source"] == "other" and "other source" in (r["reason"] or "")]
    assert len(dups) == 5 and all(r["file"] is None for r in dups)
    assert report["by_source"] == {"fake": report["by_source"]["fake"]}
    assert not list((tmp_path / "out" / "clips" / "other").glob("*.flac"))


def test_resume_skips_finished_sources_and_reproduces_the_corpus_exactly(tmp_path, fake_root):
    other = make_fake_package(tmp_path / "pkg2", package="other-data", game="other")
    write(other / "usr/share/games/other/sounds/animals/goat.wav", tone(0.7, 450, 42))
    sources = lambda: [
        local_source("fake", fake_root),  # noqa: E731
        local_source("other", other, package="other-data", game="other"),
    ]
    out = tmp_path / "out"
    build_corpus(out, sources=sources(), log=lambda *_: None)
    files = ["metadata.jsonl", "accounting.jsonl", "ATTRIBUTION.md", "report.json"]
    first = {f: (out / f).read_bytes() for f in files}
    flac = out / read_jsonl(out / "metadata.jsonl")[0]["file"]
    mtime = flac.stat().st_mtime_ns

    logs = []
    build_corpus(out, sources=sources(), log=logs.append)
    assert sum("already built" in line for line in logs) == 2
    assert {f: (out / f).read_bytes() for f in files} == first
    assert flac.stat().st_mtime_ns == mtime  # not rewritten

    # an interrupted source (no DONE.json, half-written clips) is rebuilt from scratch, with the same result
    (out / "sources" / "other" / "DONE.json").unlink()
    (out / "clips" / "other" / "stray.flac").write_bytes(b"partial")
    logs = []
    build_corpus(out, sources=sources(), log=logs.append)
    assert sum("already built" in line for line in logs) == 1
    assert {f: (out / f).read_bytes() for f in files} == first
    assert not (out / "clips" / "other" / "stray.flac").exists()

    # different settings invalidate the stages
    logs = []
    build_corpus(out, sources=sources(), min_duration=0.01, log=logs.append)
    assert not any("already built" in line for line in logs)


def test_build_refuses_a_foreign_folder(tmp_path, fake_root):
    (tmp_path / "out" / "clips").mkdir(parents=True)
    with pytest.raises(ValueError, match="not a v2 corpus"):
        build_corpus(tmp_path / "out", sources=[local_source("fake", fake_root)], log=lambda *_: None)


def test_split_holds_out_whole_recording_groups_about_ten_percent():
    rows = []
    for g in range(60):
        for variant in range(1 + g % 4):
            word = "".join(chr(97 + int(c)) for c in f"{g:02d}")  # distinct words: "aa", "ab", ...
            rows.append({"source": "s", "group": group_key(f"x/sound_{word}_{variant}.ogg")})
    assign_splits(rows, 0.1)
    splits = {}
    for row in rows:
        splits.setdefault(row["group"], set()).add(row["split"])
    assert all(len(s) == 1 for s in splits.values())
    assert len(splits) == 60
    share = sum(r["split"] == "validation" for r in rows) / len(rows)
    assert 0.08 <= share <= 0.14


# ------------------------------------------------------------------------------------------------- unpacking
def test_selective_unpacking_keeps_audio_and_texts_only_and_rejects_unsafe_paths(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in [
            ("./usr/share/games/g/sounds/a.ogg", b"OggS"),
            ("./usr/share/doc/g/copyright", b"c"),
            ("./usr/share/games/g/textures/t.png", b"png"),
            ("../evil.ogg", b"x"),
            ("./usr/share/games/g/data.zip", b"zip"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    package = DebSoundPackage("g-data", inner_archives=["usr/share/games/g/data.zip"])
    root = tmp_path / "root"
    assert extract_deb_tar(buf, root, package._keep) == 3
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "usr/share/doc/g/copyright",
        "usr/share/games/g/data.zip",
        "usr/share/games/g/sounds/a.ogg",
    ]
    assert not (tmp_path / "evil.ogg").exists()

    zpath = tmp_path / "inner.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("audio/boom.wav", b"RIFF")
        z.writestr("audio/LICENSE.txt", b"CC-BY-SA 3.0")
        z.writestr("art/x.dds", b"dds")
        z.writestr("../../escape.wav", b"x")
    from hf_audiogen.data.builders.core import default_keep

    assert extract_zip(zpath, tmp_path / "z", default_keep) == 2
    assert not (tmp_path / "escape.wav").exists()


def test_cli_multi_source_refuses_deny_listed_sources(tmp_path, capsys):
    from hf_audiogen.cli import main

    code = main(["data", "build-sfx-corpus", str(tmp_path / "out"), "--multi-source", "--sources", "wesnoth"])
    err = capsys.readouterr().err
    assert code == 2 and "deny-list" in err and "held-out" in err
    assert not (tmp_path / "out").exists()
