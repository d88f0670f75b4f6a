"""The three names of ``xformers.ops`` that audiocraft's transformer touches (see the package docstring)."""

import torch

unbind = torch.unbind


class LowerTriangularMask:
    """Marker for a causal mask: audiocraft's torch backend only compares against it, never calls into it."""


def memory_efficient_attention(*args, **kwargs):
    raise NotImplementedError(
        "this is hf_audiogen's xformers stub: use audiocraft's default 'torch' attention backend "
        "(audiocraft.modules.transformer.set_efficient_attention_backend('torch'))"
    )
