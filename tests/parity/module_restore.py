"""Putting ``sys.modules`` back after importing a reference implementation by path with stand-in modules.

Only what the import window added is dropped, and never numba/llvmlite: numba registers types in process-wide tables
when its submodules are first imported, so a numba imported inside the window (librosa and resampy pull it in) and
dropped afterwards fails on its next import ("duplicate registration for ...PolynomialType").
"""

from __future__ import annotations

import sys

KEPT = ("numba", "llvmlite")


def restore_modules(saved: dict) -> None:
    """Drop the modules added since ``saved = dict(sys.modules)`` (except numba's) and put replaced ones back."""
    for name in set(sys.modules) - set(saved):
        if name.split(".", 1)[0] not in KEPT:
            del sys.modules[name]
    sys.modules.update(saved)
