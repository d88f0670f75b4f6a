"""A minimal stand-in for the ``xformers`` package, only for running audiocraft 1.3.0 as a parity oracle.

audiocraft imports ``xformers.ops`` at import time and checks it when ``memory_efficient=True`` (the AudioGen setting),
but with its default ``'torch'`` attention backend it computes attention with ``torch.nn.functional.
scaled_dot_product_attention`` and only uses ``ops.unbind`` and ``ops.LowerTriangularMask`` (as a marker). The real
xformers wheel needs a matching CUDA torch build, so the oracle venv ships this stub instead. Never used by hf_audiogen.
"""

from . import ops  # noqa: F401

__version__ = "0.0.0+hf_audiogen_stub"
