"""Doctests of the package's docstrings (`pytest --doctest-modules src/hf_audiogen`, run by scripts/test.sh).

Our examples sit in Markdown fences formatted like transformers' (no blank line before the closing fence), so the
examples are parsed with transformers' doctest pattern, which ends an example's expected output at the fence.
transformers' own ``HfDoctestModule`` does not run on this pytest (``import_path`` changed), and pytest builds its
finder with the stdlib parser's defaults, so the pattern is set on the stdlib parser itself.
"""

import doctest

from transformers.testing_utils import HfDocTestParser

doctest.DocTestParser._EXAMPLE_RE = HfDocTestParser._EXAMPLE_RE
