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

from ..validation import InvalidInputError

PRETRAINED_DIR = Path(__file__).resolve().parent
DEMO_MODEL_NAME = "audiogen-sfx-demo"
CODEC_MODEL_NAME = "sfx-codec-small"


# Said wherever the bundled model is used by default, so that nobody takes it for a released model.
DEMO_MODEL_NOTE = (
    "the bundled demo model audiogen-sfx-demo: a 14 MB AudioGen trained on a CPU on 5.4 minutes of sound effects, "
    "to show the pipeline work -- not a released model, and it does not follow prompts reliably"
)


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


# What ``load_pipeline`` can load, as messages name it (keys: the families of hub.detect_family).
TEXT_TO_AUDIO_FAMILIES = {
    "audiogen": "an AudioGen model",
    "genau": "a GenAU pipeline",
    "audio_journey": "an Audio-Journey pipeline",
}


def model_family(model: str | os.PathLike | None = None) -> str:
    """The family of the model ``model`` names, read from one small JSON file (no weights are loaded).

    ``None`` (the bundled demo) -> ``"audiogen"``; a diffusers pipeline directory (``model_index.json``) -> the family
    of its pipeline class (``"genau"`` for a ``GenAUPipeline``); a transformers directory (``config.json``) -> the
    family of its ``model_type`` (``"audiogen"``, ``"codec"``...), or ``"audiogen"`` when the config does not tell,
    so that the AudioGen loader says what is wrong with it; a Hub id -> the family of the repository's
    ``model_index.json`` if it has one, else ``"audiogen"``. A missing directory raises ``FileNotFoundError`` as
    :func:`resolve_model_source` does.
    """
    from ..hub import detect_family

    if model is None:
        return "audiogen"
    source = os.path.expanduser(os.fspath(model))
    if os.path.isfile(os.path.join(source, "model_index.json")):
        return detect_family(source)  # ValueError naming the class of a pipeline of no known family
    source = resolve_model_source(source)
    if os.path.isdir(source):
        try:
            return detect_family(source)
        except ValueError:
            return "audiogen"
    return _hub_pipeline_family(source)


def _hub_pipeline_family(repo_id: str) -> str:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    from ..hub import detect_family

    try:
        index_path = hf_hub_download(repo_id, "model_index.json")
    except (OSError, ValueError, EntryNotFoundError):
        # No such file (a transformers repository), an unreachable Hub or an unknown repository: the AudioGen loader
        # then reports the problem in its own words.
        return "audiogen"
    return detect_family(os.path.dirname(index_path))


def load_pipeline(model: str | os.PathLike | None = None, family: str | None = "audiogen", **kwargs):
    """A text-to-audio pipeline for ``model`` (see :func:`resolve_model_source`); ``kwargs`` go to ``from_pretrained``.

    ``family``: ``"audiogen"`` (default) loads an ``AudioGenPipeline``, ``"genau"`` a ``GenAUPipeline`` (diffusers
    pipeline directory or Hub id), ``"audio_journey"`` an ``AudioJourneyPipeline``, ``None`` whichever :func:`model_family` finds. A local model of another family
    than the one asked for raises ``ValueError`` saying what it is. Loading problems (missing directory, incomplete
    save, unreachable Hub) raise ``FileNotFoundError`` with one line of explanation, so command-line tools and the
    Space can show it as is.
    """
    if family is not None and family not in TEXT_TO_AUDIO_FAMILIES:
        raise InvalidInputError(f"family must be one of {sorted(TEXT_TO_AUDIO_FAMILIES)} or None, got {family!r}")
    # With the family given, only local directories (and the bundled default) are checked: asking the Hub costs a
    # request, and the loader fails clearly on a repository of another family anyway.
    local = model is None or os.path.isdir(os.path.expanduser(os.fspath(model)))
    found = model_family(model) if family is None or local else family
    name = "the bundled demo model" if model is None else os.fspath(model)
    if found not in TEXT_TO_AUDIO_FAMILIES or (family is not None and found != family):
        wanted = TEXT_TO_AUDIO_FAMILIES[family] if family else " or ".join(TEXT_TO_AUDIO_FAMILIES.values())
        raise InvalidInputError(f"{name} holds {TEXT_TO_AUDIO_FAMILIES.get(found, f'a {found} model')}, not {wanted}")
    if found == "genau":
        from ..genau import GenAUPipeline as pipeline_class

        source = os.path.expanduser(os.fspath(model))
    elif found == "audio_journey":
        from ..audio_journey import AudioJourneyPipeline as pipeline_class

        source = os.path.expanduser(os.fspath(model))
    else:
        from ..audiogen import AudioGenPipeline as pipeline_class

        source = resolve_model_source(model)
    try:
        return pipeline_class.from_pretrained(source, **kwargs)
    except OSError as err:  # the libraries report a missing file or an unreachable Hub as OSError
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if not os.path.exists(source):  # taken for a Hub id: say so, a mistyped folder name looks the same
            reason = f"there is no local directory of that name, and as a Hub repo id: {reason}"
        raise FileNotFoundError(f"cannot load {TEXT_TO_AUDIO_FAMILIES[found]} from {source!r}: {reason}") from err


__all__ = [
    "BundledModelMissingError",
    "CODEC_MODEL_NAME",
    "DEMO_MODEL_NAME",
    "DEMO_MODEL_NOTE",
    "TEXT_TO_AUDIO_FAMILIES",
    "bundled_model_path",
    "default_model_path",
    "load_pipeline",
    "model_family",
    "resolve_model_source",
]
