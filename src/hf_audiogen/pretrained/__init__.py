"""Models shipped inside the package (``save_pretrained`` directories next to this file).

* ``sfx-codec-small`` — the neural codec used by ``hf-audiogen reconstruct``;
* ``audiogen-sfx-demo`` — the small AudioGen text-to-audio model used by default by ``hf-audiogen generate``,
  ``hf-audiogen space`` and the Gradio Space.

Example:

```python
>>> from hf_audiogen.pretrained import default_model_path
>>> from hf_audiogen import AudioGenPipeline
>>> pipe = AudioGenPipeline.from_pretrained(default_model_path())  # doctest: +SKIP
```
"""

from __future__ import annotations

import os
from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parent
DEMO_MODEL_NAME = "audiogen-sfx-demo"
CODEC_MODEL_NAME = "sfx-codec-small"


class BundledModelMissingError(FileNotFoundError):
    """A model that should ship with the package is not there (e.g. a source checkout where it was not trained)."""


def bundled_model_path(name: str) -> Path:
    """Directory of the bundled model ``name``; raises :class:`BundledModelMissingError` naming what is available."""
    path = PRETRAINED_DIR / name
    if not (path / "config.json").is_file():
        available = sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "config.json").is_file())
        raise BundledModelMissingError(
            f"the bundled model {name!r} is not installed (looked for {path / 'config.json'}; bundled models: "
            f"{', '.join(available) or 'none'}); pass a model directory or Hub id instead (CLI: --model DIR)"
        )
    return path


def default_model_path() -> Path:
    """The bundled AudioGen demo model: the default of ``hf-audiogen generate`` and of the Space."""
    return bundled_model_path(DEMO_MODEL_NAME)


def resolve_model_source(model: str | os.PathLike | None = None) -> str:
    """Where to load an AudioGen model from: ``None`` -> the bundled demo, else a local directory or a Hub id.

    A value that exists on disk, or is spelt like a path (``./x``, ``/x``, ``~/x``, ``a/b/c``), must be a model
    directory; anything else is taken for a Hub id (``org/name``). Raises ``FileNotFoundError`` with the reason.
    """
    if model is None:
        return str(default_model_path())
    source = os.path.expanduser(os.fspath(model))
    if os.path.exists(source):
        if not os.path.isfile(os.path.join(source, "config.json")):
            raise FileNotFoundError(f"{source} is not a model directory (it has no config.json)")
        return source
    spelt_like_path = (
        source.startswith((".", "/", "~")) or source.count("/") > 1 or (os.sep != "/" and os.sep in source)
    )
    if spelt_like_path or not source.strip():
        raise FileNotFoundError(f"model directory {source!r} does not exist")
    return source


def load_pipeline(model: str | os.PathLike | None = None, **kwargs):
    """An ``AudioGenPipeline`` from :func:`resolve_model_source` ``(model)``; ``kwargs`` go to ``from_pretrained``.

    Loading problems (missing directory, incomplete save, unreachable Hub) raise ``FileNotFoundError`` with one line
    of explanation, so command-line tools and the Space can show it as is.
    """
    from ..audiogen import AudioGenPipeline

    source = resolve_model_source(model)
    try:
        return AudioGenPipeline.from_pretrained(source, **kwargs)
    except OSError as err:  # transformers/huggingface_hub report a missing file or an unreachable Hub as OSError
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FileNotFoundError(f"cannot load an AudioGen model from {source!r}: {reason}") from err


__all__ = [
    "BundledModelMissingError",
    "CODEC_MODEL_NAME",
    "DEMO_MODEL_NAME",
    "bundled_model_path",
    "default_model_path",
    "load_pipeline",
    "resolve_model_source",
]
