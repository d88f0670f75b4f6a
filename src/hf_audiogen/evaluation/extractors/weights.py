"""Official weight files of the evaluation extractors, read the same way by all of them: a path, a folder holding the
official file, or a Hub id (fetched only when asked, never silently); checked key for key and shape for shape
against the network before anything is copied; seeded random weights for tests and code-path runs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from urllib.parse import unquote

import numpy as np
import torch
from torch import nn

from ...checkpoint_io import looks_like_local_path, one_line
from ...validation import InvalidInputError, check_seed
from .base import ExtractorWeightsError

_HUB_KWARGS = ("revision", "cache_dir", "token", "local_files_only", "filename")
# Only BatchNorm's step counter may be absent (files saved before torch 0.4.1 lack it); it plays no part in eval mode.
_OPTIONAL_SUFFIXES = (".num_batches_tracked",)


def official_filename(url: str) -> str:
    """The file name an official URL downloads to (``Cnn14_mAP%3D0.431.pth`` -> ``Cnn14_mAP=0.431.pth``)."""
    return unquote(url.rsplit("/", 1)[-1].split("?", 1)[0])


def resolve_weights_file(weights: str | os.PathLike, official_url: str, what: str, hub_kwargs: dict) -> str:
    """The local path of an official weight file given as a path or as a Hub id (the file is then fetched with
    ``hf_hub_download``, named as the official one unless ``hub_kwargs["filename"]`` says otherwise).

    Raises :class:`ExtractorWeightsError` naming the official file when the path does not exist or the Hub cannot
    give it (offline, unknown repository or file)."""
    unknown = sorted(set(hub_kwargs) - set(_HUB_KWARGS))
    if unknown:
        raise InvalidInputError(f"unknown argument(s) {unknown} for loading {what}; expected some of {_HUB_KWARGS}")
    filename = hub_kwargs.get("filename") or official_filename(official_url)
    source = os.fspath(weights)
    if not source:
        raise ExtractorWeightsError(f"{what}: no path given; download the official file {official_url}")
    if looks_like_local_path(source) or source.endswith((".pth", ".pt", ".bin", ".tar", ".ckpt")):
        path = os.path.expanduser(source)
        if os.path.isdir(path):  # a folder holding the official file
            path = os.path.join(path, filename)
        if not os.path.isfile(path):
            raise ExtractorWeightsError(
                f"{what} not found: {path} (no such file); download the official file {official_url}"
            )
        return path
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError

    hub = {key: value for key, value in hub_kwargs.items() if key != "filename" and value is not None}
    try:
        return hf_hub_download(source, filename, **hub)
    except (OSError, ValueError, HfHubHTTPError) as err:  # offline, unknown repo/file, invalid id
        raise ExtractorWeightsError(
            f"cannot fetch {filename} for {what} from the Hub repository {source!r} ({one_line(err, 160)}); "
            f"download the official file {official_url} and pass its local path"
        ) from err


@contextlib.contextmanager
def numpy_arrays_allowed():
    """Let torch's weights-only unpickler rebuild numpy arrays and scalars (training checkpoints store sampler state,
    the VGGish PCA file its matrices, as numpy): the arrays' contents still go through the same restricted
    unpickler, so no other code can run. Files pickled by numpy 1 name ``numpy.core``, numpy 2 ``numpy._core``."""
    safe_globals = getattr(torch.serialization, "safe_globals", None)
    if safe_globals is None:  # torch < 2.5: such files fail with load_torch_file's one-line refusal
        yield
        return
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1
        from numpy.core import multiarray
    allowed = [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar]
    allowed += [kind for name, kind in vars(getattr(np, "dtypes", object)).items() if name.endswith("DType")]
    for name in ("_reconstruct", "scalar"):
        for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            allowed.append((getattr(multiarray, name), f"{module}.{name}"))
    with safe_globals(allowed):
        yield


def _listed(keys: list[str], limit: int = 6) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def check_state_dict(state, expected: Mapping[str, torch.Tensor], source: str, official_url: str) -> dict:
    """``state`` as a plain dict if its keys and shapes are exactly ``expected``'s (a model's ``state_dict()``),
    cast to the model's dtypes; otherwise one :class:`InvalidInputError` listing the missing, unexpected and
    misshaped keys. Missing ``*.num_batches_tracked`` counters are filled with 0."""
    name = official_filename(official_url)
    if not isinstance(state, Mapping):
        raise InvalidInputError(f"{source} holds a {type(state).__name__}, not a state dict like {name}")
    state = dict(state)
    not_tensors = sorted(key for key, value in state.items() if not isinstance(value, torch.Tensor))
    missing = sorted(key for key in expected if key not in state and not key.endswith(_OPTIONAL_SUFFIXES))
    unexpected = sorted(key for key in state if key not in expected)
    misshaped = sorted(
        f"{key} {tuple(state[key].shape)} (expected {tuple(expected[key].shape)})"
        for key in expected
        if isinstance(state.get(key), torch.Tensor) and state[key].shape != expected[key].shape
    )
    problems = [
        f"{label} {len(keys)} key(s): {_listed(keys)}"
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("misshaped", misshaped),
            ("non-tensor", [key for key in not_tensors if key in expected]),
        )
        if keys
    ]
    if problems:
        raise InvalidInputError(
            f"{source} does not have the layout of the official {name} ({'; '.join(problems)}); expected the file "
            f"from {official_url}"
        )
    for key, reference in expected.items():
        state[key] = state[key].to(reference.dtype) if key in state else torch.zeros_like(reference, device="cpu")
    return state


def load_strict(cls: type[nn.Module], state, source: str, official_url: str) -> nn.Module:
    """A ``cls()`` holding exactly ``state`` (checked by :func:`check_state_dict`). The module is built on the meta
    device and the file's tensors are assigned to it, so no time goes into a random initialisation that would be
    overwritten."""
    with torch.device("meta"):
        model = cls()
    state = check_state_dict(state, model.state_dict(), source, official_url)
    model.load_state_dict(state, strict=True, assign=True)
    return model.requires_grad_(False).eval()


def seeded_init_(model: nn.Module, seed: int) -> nn.Module:
    """Fill every convolution and linear layer (and BatchNorm) with seeded random values in place: He-normal weights,
    so activations stay of order one through the ReLU stacks, small random biases and BatchNorm statistics, so that
    random-weight runs exercise every parameter."""
    generator = torch.Generator().manual_seed(check_seed(seed))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                module.weight.normal_(0.0, (2.0 / module.weight[0].numel()) ** 0.5, generator=generator)
                if module.bias is not None:
                    module.bias.normal_(0.0, 0.1, generator=generator)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.normal_(0.0, 0.1, generator=generator)
                module.running_mean.normal_(0.0, 0.1, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
                module.num_batches_tracked.zero_()
    return model


def check_prepared(waveform, name: str, min_samples: int) -> torch.Tensor:
    """``waveform`` if it is a 1-D floating tensor of at least ``min_samples`` (what ``prepare`` returns)."""
    if not isinstance(waveform, torch.Tensor) or waveform.ndim != 1 or not waveform.is_floating_point():
        shown = tuple(waveform.shape) if isinstance(waveform, torch.Tensor) else type(waveform).__name__
        raise InvalidInputError(f"{name}.embed takes one prepared mono clip, a 1-D float tensor; got {shown}")
    if waveform.shape[0] < min_samples:
        raise InvalidInputError(f"{name}.embed needs at least {min_samples} samples, got {waveform.shape[0]}")
    return waveform


def load_state_dict_strictly(module: nn.Module, state, source: str, official_url: str) -> nn.Module:
    """Copy ``state`` into ``module`` after :func:`check_state_dict` (exact keys and shapes, one clear error)."""
    module.load_state_dict(check_state_dict(state, module.state_dict(), source, official_url), strict=True)
    return module


__all__ = [
    "check_prepared",
    "check_state_dict",
    "load_state_dict_strictly",
    "load_strict",
    "numpy_arrays_allowed",
    "official_filename",
    "resolve_weights_file",
    "seeded_init_",
]
