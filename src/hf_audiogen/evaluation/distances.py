"""Distribution metrics over audio embeddings and classifier logits, in float64: the Fréchet distance (FD/FAD), its
extrapolation FAD∞ (fadtk), the kernel audio distance KAD (kadtk), the KL divergence of paired classifier outputs
(audioldm_eval / audiocraft / stable-audio-metrics), the Inception score (audioldm_eval) and the CLAP score.

Pure maths: arrays in, floats out. What a protocol feeds them (which extractor, per-frame or per-clip rows) is
``audio_evaluation.py``'s business.

Decisions, where we differ from or choose between the references:

1. **Fréchet distance: one symmetric float64 form.** ``‖μ1−μ2‖² + trΣ1 + trΣ2 − 2·Σ√λ``, λ the eigenvalues of
   ``Σ1½ Σ2 Σ1½`` (``Σ1½`` from ``eigh(Σ1)`` with negative eigenvalues clipped at 0), instead of pytorch-fid's
   ``scipy.linalg.sqrtm(Σ1Σ2)``. Same value (``tr√(Σ1Σ2)`` = ``tr√(Σ1½Σ2Σ1½)``, the matrices being similar), but
   real and positive semi-definite by construction: no imaginary parts to drop, no ``1e-6·I`` retry, and at 2048-d it
   takes about 1.8 s of CPU on one thread where ``sqrtm`` takes 11.5 s (``benchmarks/frechet_distance.py``). The
   result is clamped at 0: rank-deficient sets (n ≤ D) of identical data otherwise give tiny negative values.
2. **Small sets warn.** FD's bias is about ``c·D/n``; with fewer rows than dimensions (a few hundred clips of 2048-d
   CNN14 features) the covariance is rank-deficient and numbers are not comparable across set sizes, so
   :func:`frechet_distance` warns (:class:`SmallSampleWarning`). Use :func:`frechet_distance_infinity` or
   :func:`kernel_audio_distance` there.
3. **FAD∞** follows fadtk's ``score_inf``: FD of the reference statistics against ``n`` rows drawn *with
   replacement* from the generated rows, for ``n`` in ``linspace(min_n, N, num_points)`` (truncated to int as fadtk
   does), then a least-squares line in ``1/n`` whose intercept is the score. fadtk uses 25 points; our default is
   15 (the fit is a line: 15 points fix it to well under the sampling noise, and each point is one FD). The
   intercept is returned as fitted (not clamped): it is an extrapolation. The draws use a seeded
   ``numpy.random.default_rng`` instead of fadtk's global ``np.random``.
4. **KAD** follows kadtk's ``calc_kernel_audio_distance``: unbiased MMD² with a Gaussian kernel
   ``exp(−‖a−b‖²/(2·h²+1e-8))``, ``h`` the median pairwise distance of the *reference* set (kadtk's current code;
   an older revision took it from the evaluated set), times a scale factor of **100**, kadtk's ``SCALE_FACTOR`` (we
   keep kadtk's value so that numbers compare with kadtk's output). Differences: float64 instead of float32, squared
   distances clamped at 0, and sums taken in blocks so memory stays bounded for tens of thousands of per-frame rows;
   above :data:`MAX_MEDIAN_PAIRS` pairs the median is taken over a seeded random sample of pairs (kadtk's
   ``subsample`` option, which its CLI leaves off). Being unbiased, KAD can be slightly negative; it is not clamped.
5. **KL** is audioldm_eval's ``calculate_kl`` (= audiocraft's ``kld``): ``kl_div((p_gen + 1e-6).log(), p_ref,
   reduction="sum") / N`` = mean over pairs of ``KL(p_ref ‖ p_gen)``, with ``p = softmax(logits)``, or
   ``sigmoid(logits)`` for audioldm_eval's "sigmoid" variant (the same expression on per-class sigmoids: not a
   Bernoulli KL, kept as audioldm_eval computes it so numbers compare). Both directions are returned:
   ``kl_ref_gen`` (what AudioLDM/GenAU report through audioldm_eval, and AudioGen through audiocraft's ``kld``) and
   ``kl_gen_ref`` (audiocraft's ``kld_qp``; stable-audio-metrics' ``passt_kld`` reports this direction:
   ``kl_div((p_ref + 1e-6).log(), p_gen)``). Pairs are matched by id and must match exactly.
6. **Inception score** is audioldm_eval's ``calculate_isc``: softmax of the logits, optional shuffle with
   ``numpy.random.RandomState(seed)`` (audioldm_eval uses seed 2020), ``splits`` contiguous chunks, mean and
   (population) standard deviation of ``exp(E[KL(p ‖ p̄)])`` over chunks.

Example:

```python
>>> import numpy as np
>>> from hf_audiogen.evaluation.distances import EmbeddingStatistics, frechet_distance
>>> rng = np.random.default_rng(0)
>>> a = rng.standard_normal((500, 8))
>>> round(frechet_distance(a, a + 1.0), 6)  # a shift by δ costs ‖δ‖² = 8
8.0

```
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch

from ..validation import InvalidInputError, check_choice, check_float, check_int, check_optional_int

STATISTICS_FORMAT = "hf_audiogen.EmbeddingStatistics/1"
KL_EPS = 1e-6  # audioldm_eval's and audiocraft's epsilon inside the log
KAD_SCALE = 100.0  # kadtk's SCALE_FACTOR
KAD_KERNEL_EPS = 1e-8  # kadtk's eps in gamma = 1 / (2 h² + eps)
MAX_MEDIAN_PAIRS = 2**22  # exact median pairwise distance up to ~2,900 rows; a seeded sample of pairs beyond
MAX_INFINITY_POINTS = 100  # FAD∞ fit points: each one is a full Fréchet distance
MAX_INFINITY_MIN_N = 1_000_000  # rows drawn for the first FAD∞ point: n·D float64 are held at once
_KAD_BLOCK = 2048  # rows per block of the kernel sums: 2048 × 2048 float64 = 32 MiB at a time


class SmallSampleWarning(UserWarning):
    """A distribution metric was computed from fewer rows than the embedding has dimensions (rank-deficient
    covariance): the value is biased upwards, roughly by ``D/n``, and not comparable across set sizes."""


# --------------------------------------------------------------------------------------------- input checks
def _as_rows(name: str, value, *, min_rows: int = 2) -> np.ndarray:
    """``value`` as a finite float64 ``(rows, dim)`` array with at least ``min_rows`` rows, else one line."""
    try:
        array = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"{name} must be a numeric (rows, dim) array, got {type(value).__name__}") from err
    if array.ndim != 2 or array.shape[1] == 0:
        raise InvalidInputError(f"{name} must be a 2-D (rows, dim) array with dim >= 1, got shape {array.shape}")
    if array.shape[0] < min_rows:
        raise InvalidInputError(f"{name} must have at least {min_rows} rows, got {array.shape[0]}")
    if not np.isfinite(array).all():
        raise InvalidInputError(f"{name} must be finite, got {int((~np.isfinite(array)).sum())} NaN/inf values")
    return array


def _warn_small(name: str, n: int, dim: int, stacklevel: int = 3) -> None:
    if n < dim:
        warnings.warn(
            f"{name}: {n} rows < {dim} dimensions: the covariance is rank-deficient and the Fréchet distance is "
            f"biased upwards (about D/n) and not comparable across set sizes; see FAD∞ or KAD",
            SmallSampleWarning,
            stacklevel=stacklevel,
        )


# --------------------------------------------------------------------------------------------- statistics
@dataclass
class EmbeddingStatistics:
    """Mean and covariance of a set of embeddings, in float64: what a Fréchet distance needs of a set.

    ``meta`` is free JSON-able information stored with the file (the extractor's :meth:`describe`, the protocol...).

    Example:

    ```python
    >>> import numpy as np
    >>> stats = EmbeddingStatistics.from_embeddings(np.random.default_rng(0).standard_normal((100, 4)))
    >>> stats.mu.shape, stats.sigma.shape, stats.n
    ((4,), (4, 4), 100)

    ```
    """

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.mu = np.asarray(self.mu, dtype=np.float64)
        self.sigma = np.asarray(self.sigma, dtype=np.float64)
        if self.mu.ndim != 1 or self.sigma.shape != (self.mu.shape[0], self.mu.shape[0]):
            raise InvalidInputError(
                f"statistics must have mu (D,) and sigma (D, D), got {self.mu.shape} and {self.sigma.shape}"
            )
        if not (np.isfinite(self.mu).all() and np.isfinite(self.sigma).all()):
            raise InvalidInputError("statistics mu and sigma must be finite")
        self.n = check_int("statistics n (rows)", self.n, min=2)
        if not isinstance(self.meta, Mapping):
            raise InvalidInputError(f"statistics meta must be a dict, got {type(self.meta).__name__}")
        self.meta = dict(self.meta)

    @property
    def dim(self) -> int:
        return self.mu.shape[0]

    @classmethod
    def from_embeddings(cls, embeddings, meta: dict | None = None) -> EmbeddingStatistics:
        """Mean and unbiased covariance (``np.cov``, ddof=1, as pytorch-fid and fadtk) of ``(rows, dim)`` embeddings."""
        rows = _as_rows("embeddings", embeddings)
        dim = rows.shape[1]
        return cls(rows.mean(axis=0), np.cov(rows, rowvar=False).reshape(dim, dim), rows.shape[0], dict(meta or {}))

    def save(self, path: str | os.PathLike) -> Path:
        """Write a ``.safetensors`` file (``mu``, ``sigma``; ``n`` and ``meta`` as JSON in its metadata), atomically:
        an interrupted save leaves the previous file or none, never a truncated one."""
        from safetensors.numpy import save_file

        path = Path(path)
        metadata = {"format": STATISTICS_FORMAT, "n": str(self.n), "meta": _json_metadata(self.meta)}
        _atomic_save(path, lambda tmp: save_file({"mu": self.mu, "sigma": self.sigma}, tmp, metadata=metadata))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> EmbeddingStatistics:
        """Read a file written by :meth:`save` (no pickle: safetensors + JSON)."""
        tensors, metadata = read_safetensors(path, STATISTICS_FORMAT)
        return cls(tensors["mu"], tensors["sigma"], int(metadata["n"]), json.loads(metadata.get("meta", "{}")))


def _json_metadata(meta) -> str:
    try:
        return json.dumps(meta, sort_keys=True)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"statistics meta must be JSON-serialisable: {err}") from err


def _atomic_save(path: Path, write) -> None:
    """``write(tmp_path)`` then ``os.replace``: the temporary file sits in the target folder (same file system)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_safetensors(path: str | os.PathLike, expected_format: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and metadata of a safetensors file whose metadata ``format`` is ``expected_format``; anything else
    (missing file, not safetensors, another format) is one :class:`InvalidInputError` line."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"statistics file not found: {path}")
    try:
        with safe_open(path, framework="np") as file:
            metadata = dict(file.metadata() or {})
            tensors = {key: file.get_tensor(key) for key in file.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise InvalidInputError(f"{path} is not a readable .safetensors file: {err}") from err
    if metadata.get("format") != expected_format:
        raise InvalidInputError(f"{path} is not a {expected_format} file (its format is {metadata.get('format')!r})")
    return tensors, metadata


def _as_statistics(name: str, value) -> EmbeddingStatistics:
    return (
        value if isinstance(value, EmbeddingStatistics) else EmbeddingStatistics.from_embeddings(_as_rows(name, value))
    )


# --------------------------------------------------------------------------------------------- Fréchet distance
class _FrechetReference:
    """One side of a Fréchet distance with ``Σ½`` computed once: FAD∞ compares one reference with many samples."""

    def __init__(self, stats: EmbeddingStatistics):
        self.mu = torch.from_numpy(stats.mu)
        sigma = torch.from_numpy(stats.sigma)
        self.trace = float(torch.trace(sigma))
        # eigh reads one triangle, so Σ needs no symmetrisation; negative eigenvalues are rounding (Σ is PSD)
        eigenvalues, eigenvectors = torch.linalg.eigh(sigma)
        # W = V·√Λ: Wᵀ Σ2 W = Vᵀ (Σ1½ Σ2 Σ1½) V has the eigenvalues of Σ1½ Σ2 Σ1½ (Σ1½ = W Vᵀ) one product cheaper
        self.half = eigenvectors * eigenvalues.clamp_min(0).sqrt()

    def distance(self, other: EmbeddingStatistics) -> float:
        sigma = torch.from_numpy(other.sigma)
        product = self.half.T @ sigma @ self.half
        # eigvalsh reads the lower triangle: average with the transpose so rounding in the products cannot bias it
        eigenvalues = torch.linalg.eigvalsh((product + product.T) / 2).clamp_min(0)
        diff = self.mu - torch.from_numpy(other.mu)
        value = float(diff @ diff) + self.trace + float(torch.trace(sigma)) - 2 * float(eigenvalues.sqrt().sum())
        return max(value, 0.0)


def frechet_distance(a, b) -> float:
    """Fréchet distance between two Gaussians fitted to two sets: :class:`EmbeddingStatistics` or ``(rows, dim)``
    arrays (float64 statistics are computed from arrays).

    Symmetric eigh form (decision 1 of the module), clamped at 0. Warns :class:`SmallSampleWarning` when a set has
    fewer rows than dimensions; a set of fewer than 2 rows is an error.
    """
    a, b = _as_statistics("a", a), _as_statistics("b", b)
    if a.dim != b.dim:
        raise InvalidInputError(f"the two sets must have the same embedding dimension, got {a.dim} and {b.dim}")
    _warn_small("frechet_distance (first set)", a.n, a.dim)
    _warn_small("frechet_distance (second set)", b.n, b.dim)
    return _FrechetReference(a).distance(b)


class FrechetInfinityResult(NamedTuple):
    """FAD∞: ``value`` (the intercept of the fit at 1/n = 0), ``slope`` of FD against 1/n, ``r2`` of the line, and
    the ``points`` ``(n, FD)`` it was fitted to."""

    value: float
    slope: float
    r2: float
    points: list[tuple[int, float]]


def frechet_distance_infinity(
    gen_embeddings, reference, *, num_points: int = 15, min_n: int = 500, seed: int | None = 0
) -> FrechetInfinityResult:
    """fadtk's FAD∞ (decision 3 of the module): Fréchet distances of ``reference`` (:class:`EmbeddingStatistics`
    or rows) against ``n`` rows drawn with replacement from ``gen_embeddings`` ``(N, dim)``, ``n`` from ``min_n`` to
    ``N`` in ``num_points`` steps, extrapolated linearly in ``1/n`` to ``n → ∞``.

    fadtk's ``min_n`` is 500 (rows, i.e. frames for per-frame embeddings). When ``N < min_n`` the sizes run from
    ``min_n`` down to ``N``, as in fadtk. Fewer than two distinct sizes is an error.
    """
    rows = _as_rows("gen_embeddings", gen_embeddings)
    reference = _as_statistics("reference", reference)
    num_points = check_int("num_points", num_points, min=2, max=MAX_INFINITY_POINTS)
    min_n = check_int("min_n", min_n, min=2, max=MAX_INFINITY_MIN_N)
    seed = check_optional_int("seed", seed, min=0)
    if rows.shape[1] != reference.dim:
        raise InvalidInputError(
            f"gen_embeddings have dimension {rows.shape[1]}, the reference statistics {reference.dim}"
        )
    sizes = [int(n) for n in np.linspace(min_n, rows.shape[0], num_points)]
    if len(set(sizes)) < 2:
        raise InvalidInputError(
            f"FAD∞ needs at least 2 distinct set sizes between min_n={min_n} and the {rows.shape[0]} generated rows"
        )
    _warn_small("frechet_distance_infinity (reference)", reference.n, reference.dim)
    _warn_small("frechet_distance_infinity (smallest draw)", min(sizes), reference.dim)
    rng = np.random.default_rng(seed)
    base = _FrechetReference(reference)
    points = []
    for n in sizes:
        sample = rows[rng.integers(0, rows.shape[0], size=n)]
        points.append((n, base.distance(EmbeddingStatistics.from_embeddings(sample))))
    xs = 1.0 / np.array(sizes, dtype=np.float64)
    ys = np.array([fd for _, fd in points])
    slope, intercept = np.polyfit(xs, ys, 1)
    residual = np.sum((ys - (slope * xs + intercept)) ** 2)
    spread = np.sum((ys - ys.mean()) ** 2)
    r2 = 1.0 - residual / spread if spread > 0 else 1.0
    return FrechetInfinityResult(float(intercept), float(slope), float(r2), points)


# --------------------------------------------------------------------------------------------- KAD
def median_pairwise_distance(x, *, seed: int | None = 0) -> float:
    """Median Euclidean distance over the pairs of rows of ``x`` (``torch.median``: the lower middle value for an
    even count, as kadtk). Above :data:`MAX_MEDIAN_PAIRS` pairs, over that many random pairs of distinct rows."""
    rows = torch.from_numpy(_as_rows("x", x))
    n = rows.shape[0]
    if n * (n - 1) // 2 <= MAX_MEDIAN_PAIRS:
        distances = torch.pdist(rows)
    else:
        generator = torch.Generator().manual_seed(seed or 0)
        first = torch.randint(0, n, (MAX_MEDIAN_PAIRS,), generator=generator)
        offset = torch.randint(1, n, (MAX_MEDIAN_PAIRS,), generator=generator)  # never 0: the pair is distinct
        second = (first + offset) % n
        distances = torch.linalg.vector_norm(rows[first] - rows[second], dim=1)
    return float(torch.median(distances))


def _kernel_sum(a: torch.Tensor, b: torch.Tensor, gamma: float, same: bool) -> float:
    """Σ exp(−γ‖a_i − b_j‖²) over all pairs (``same``: ``a`` is ``b`` and the diagonal is left out), in blocks."""
    total = 0.0
    b_sq = (b * b).sum(dim=1)
    for start in range(0, a.shape[0], _KAD_BLOCK):
        block = a[start : start + _KAD_BLOCK]
        d2 = ((block * block).sum(dim=1)[:, None] + b_sq[None, :] - 2 * block @ b.T).clamp_min(0)
        kernel = torch.exp(-gamma * d2)
        if same:
            rows = torch.arange(block.shape[0])
            kernel[rows, rows + start] = 0
        total += float(kernel.sum())
    return total


def kernel_audio_distance(
    x, y, *, bandwidth: float | None = None, scale: float = KAD_SCALE, seed: int | None = 0
) -> float:
    """Kernel audio distance (KAD, Chung et al. 2025, kadtk; decision 4 of the module): unbiased MMD² between the
    reference rows ``x`` ``(m, dim)`` and the evaluated rows ``y`` ``(n, dim)`` with a Gaussian RBF kernel, times
    ``scale``.

    ``bandwidth``: the kernel's ``h``; ``None`` takes the median pairwise distance of ``x`` (the reference), as kadtk.
    ``seed`` only matters above :data:`MAX_MEDIAN_PAIRS` reference pairs (sampled median). About 0 for two samples
    of one distribution (it can be slightly negative: the estimator is unbiased), > 0 when they differ.
    """
    a, b = _as_rows("x", x), _as_rows("y", y)
    if a.shape[1] != b.shape[1]:
        raise InvalidInputError(f"x and y must have the same embedding dimension, got {a.shape[1]} and {b.shape[1]}")
    scale = check_float("scale", scale, min=0, min_inclusive=False)
    if bandwidth is None:
        bandwidth = median_pairwise_distance(a, seed=seed)
    else:
        bandwidth = check_float("bandwidth", bandwidth, min=0, min_inclusive=False)
    gamma = 1.0 / (2.0 * bandwidth**2 + KAD_KERNEL_EPS)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    m, n = a.shape[0], b.shape[0]
    k_xx = _kernel_sum(ta, ta, gamma, same=True) / (m * (m - 1))
    k_yy = _kernel_sum(tb, tb, gamma, same=True) / (n * (n - 1))
    k_xy = _kernel_sum(ta, tb, gamma, same=False) / (m * n)
    return (k_xx + k_yy - 2.0 * k_xy) * scale


# --------------------------------------------------------------------------------------------- classifier metrics
def _paired_logits(gen_logits: Mapping, ref_logits: Mapping) -> tuple[torch.Tensor, torch.Tensor]:
    for name, value in (("gen_logits", gen_logits), ("ref_logits", ref_logits)):
        if not isinstance(value, Mapping):
            raise InvalidInputError(f"{name} must be a dict of clip id -> logits, got {type(value).__name__}")
    missing_ref = sorted(set(gen_logits) - set(ref_logits))
    missing_gen = sorted(set(ref_logits) - set(gen_logits))
    if missing_ref or missing_gen:
        raise InvalidInputError(
            "generated and reference logits must pair by id: "
            f"{len(missing_ref)} generated id(s) have no reference (e.g. {missing_ref[:3]}), "
            f"{len(missing_gen)} reference id(s) have no generation (e.g. {missing_gen[:3]})"
        )
    if not gen_logits:
        raise InvalidInputError("KL divergence needs at least one pair of logits, got none")
    ids = sorted(gen_logits)
    gen = _as_rows(
        "gen_logits", np.stack([np.asarray(gen_logits[i], dtype=np.float64).reshape(-1) for i in ids]), min_rows=1
    )
    ref = _as_rows(
        "ref_logits", np.stack([np.asarray(ref_logits[i], dtype=np.float64).reshape(-1) for i in ids]), min_rows=1
    )
    return torch.from_numpy(gen), torch.from_numpy(ref)


def kl_divergence(
    gen_logits: Mapping[str, np.ndarray],
    ref_logits: Mapping[str, np.ndarray],
    *,
    activation: Literal["softmax", "sigmoid"] = "softmax",
) -> dict[str, float]:
    """Mean KL divergence between the class probabilities of each generated clip and of its reference, paired by
    id (decision 5 of the module).

    Returns ``{"kl_ref_gen": KL(p_ref ‖ p_gen), "kl_gen_ref": KL(p_gen ‖ p_ref), "pairs": N}``. ``kl_ref_gen`` is
    what AudioLDM, GenAU (audioldm_eval) and AudioGen (audiocraft) report; stable-audio-metrics reports
    ``kl_gen_ref``. Ids that do not pair exactly are one :class:`InvalidInputError`.

    Example:

    ```python
    >>> import numpy as np
    >>> logits = {"a": np.array([2.0, 0.0]), "b": np.array([0.0, 1.0])}
    >>> kl_divergence(logits, logits)["kl_ref_gen"] < 1e-5
    True

    ```
    """
    check_choice("activation", activation, ("softmax", "sigmoid"))
    gen, ref = _paired_logits(gen_logits, ref_logits)
    if gen.shape[1] != ref.shape[1]:
        raise InvalidInputError(
            f"generated and reference logits must have the same classes, got {gen.shape[1]} and {ref.shape[1]}"
        )
    p_gen, p_ref = (
        (gen.softmax(dim=1), ref.softmax(dim=1)) if activation == "softmax" else (gen.sigmoid(), ref.sigmoid())
    )
    n = gen.shape[0]
    # F.kl_div(input=log q, target=p) is KL(p ‖ q): the target is the distribution the expectation runs over
    kl_ref_gen = torch.nn.functional.kl_div((p_gen + KL_EPS).log(), p_ref, reduction="sum") / n
    kl_gen_ref = torch.nn.functional.kl_div((p_ref + KL_EPS).log(), p_gen, reduction="sum") / n
    return {"kl_ref_gen": float(kl_ref_gen), "kl_gen_ref": float(kl_gen_ref), "pairs": n}


def inception_score(logits, *, splits: int = 10, seed: int | None = None) -> tuple[float, float]:
    """audioldm_eval's Inception score of ``(N, classes)`` logits (decision 6 of the module): ``(mean, std)`` over
    ``splits`` chunks; ``seed`` shuffles the rows first with ``numpy.random.RandomState`` (audioldm_eval: 2020).

    Example:

    ```python
    >>> import numpy as np
    >>> inception_score(np.eye(4) * 50.0, splits=1)[0]  # 4 confident, distinct predictions
    4.0

    ```
    """
    rows = _as_rows("logits", logits, min_rows=1)
    n = rows.shape[0]
    splits = check_int("splits", splits, min=1, max=n)  # an empty chunk would average nothing (NaN)
    seed = check_optional_int("seed", seed, min=0, max=2**32 - 1)  # RandomState's range
    if seed is not None:
        rows = rows[np.random.RandomState(seed).permutation(n)]
    features = torch.from_numpy(rows)
    p, log_p = features.softmax(dim=1), features.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        chunk, log_chunk = p[i * n // splits : (i + 1) * n // splits], log_p[i * n // splits : (i + 1) * n // splits]
        marginal = chunk.mean(dim=0, keepdim=True)
        scores.append(math.exp(float((chunk * (log_chunk - marginal.log())).sum(dim=1).mean())))
    return float(np.mean(scores)), float(np.std(scores))


def clap_score(audio_embeddings, text_embeddings) -> float:
    """Mean cosine similarity of each clip's CLAP audio embedding with its prompt's text embedding (row ``i`` with
    row ``i``), as stable-audio-metrics' and audiocraft's CLAP scores."""
    audio, text = (
        _as_rows("audio_embeddings", audio_embeddings, min_rows=1),
        _as_rows("text_embeddings", text_embeddings, min_rows=1),
    )
    if audio.shape != text.shape:
        raise InvalidInputError(
            f"audio and text embeddings must have the same shape, got {audio.shape} and {text.shape}"
        )
    cosine = torch.nn.functional.cosine_similarity(torch.from_numpy(audio), torch.from_numpy(text), dim=1)
    return float(cosine.mean())


__all__ = [
    "EmbeddingStatistics",
    "FrechetInfinityResult",
    "SmallSampleWarning",
    "clap_score",
    "frechet_distance",
    "frechet_distance_infinity",
    "inception_score",
    "kernel_audio_distance",
    "kl_divergence",
    "median_pairwise_distance",
]
