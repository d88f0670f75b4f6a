"""The distribution metrics of ``evaluation/distances.py`` against closed forms, against the formulas the reference
tools use (scipy's ``sqrtm`` Fréchet distance; audioldm_eval's KL and Inception score, imported by path from the
oracle venv when it is there), and on bad input."""

import glob
import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import scipy.spatial
import torch

from hf_audiogen.evaluation import distances
from hf_audiogen.evaluation.distances import (
    EmbeddingStatistics,
    SmallSampleWarning,
    clap_score,
    frechet_distance,
    frechet_distance_infinity,
    inception_score,
    kernel_audio_distance,
    kl_divergence,
    median_pairwise_distance,
)
from hf_audiogen.validation import InvalidInputError

REPO = Path(__file__).resolve().parents[2]


def _audioldm_eval_metric(name: str):
    """audioldm_eval's ``metrics/<name>.py`` from the oracle venv (scripts/setup_eval_oracles.sh), loaded by path: it
    imports only torch and numpy."""
    found = glob.glob(str(REPO / ".venv-audiocraft/lib/python*/site-packages/audioldm_eval/metrics" / f"{name}.py"))
    if not found:
        pytest.skip("audioldm_eval oracle not installed: bash scripts/setup_eval_oracles.sh")
    spec = importlib.util.spec_from_file_location(f"audioldm_eval_oracle_{name}", found[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _correlated(rng, n, dim, shift=0.0):
    mixing = rng.standard_normal((dim, dim)) / math.sqrt(dim) + np.eye(dim)
    return rng.standard_normal((n, dim)) @ mixing + shift


# ------------------------------------------------------------------------------------------------ Fréchet distance
def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    rng = np.random.default_rng(0)
    dim = 16
    var_a, var_b = rng.uniform(0.1, 3.0, dim), rng.uniform(0.1, 3.0, dim)
    mu_a, mu_b = rng.standard_normal(dim), rng.standard_normal(dim)
    a = EmbeddingStatistics(mu_a, np.diag(var_a), n=10_000)
    b = EmbeddingStatistics(mu_b, np.diag(var_b), n=10_000)
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum(var_a + var_b - 2 * np.sqrt(var_a * var_b))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-12)


def test_identical_sets_give_zero_never_negative_even_rank_deficient():
    rng = np.random.default_rng(1)
    full = rng.standard_normal((400, 32))
    assert 0.0 <= frechet_distance(full, full) < 1e-9
    small = rng.standard_normal((20, 64))  # n < D: covariance of rank 19, the case where sqrtm goes negative
    with pytest.warns(SmallSampleWarning):
        value = frechet_distance(small, small)
    assert 0.0 <= value < 1e-9


def test_a_shift_costs_its_squared_norm_and_the_distance_is_symmetric():
    rng = np.random.default_rng(2)
    x = _correlated(rng, 600, 24)
    delta = rng.standard_normal(24)
    assert frechet_distance(x, x + delta) == pytest.approx(float(delta @ delta), rel=1e-9)
    y = _correlated(rng, 500, 24, shift=0.3) * 1.5
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-9)
    assert frechet_distance(x, y) > 1.0


def test_frechet_distance_agrees_with_the_scipy_sqrtm_formula():
    rng = np.random.default_rng(3)
    x, y = _correlated(rng, 800, 64), _correlated(rng, 700, 64, shift=0.2) * 0.8
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real  # pytorch-fid / audioldm_eval's formula, full rank here
    reference = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert frechet_distance(x, y) == pytest.approx(reference, rel=1e-6)


def test_frechet_distance_warns_only_when_rows_are_fewer_than_dimensions():
    rng = np.random.default_rng(4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frechet_distance(rng.standard_normal((40, 8)), rng.standard_normal((40, 8)))
    with pytest.warns(SmallSampleWarning):
        frechet_distance(rng.standard_normal((40, 8)), rng.standard_normal((5, 8)))


@pytest.mark.parametrize(
    "a, b",
    [
        (np.zeros((1, 4)), np.zeros((5, 4))),  # a single row has no covariance
        (np.full((5, 4), np.nan), np.zeros((5, 4))),
        (np.ones((5, 4)), np.ones((5, 3))),  # dimensions differ
        (np.ones(5), np.ones((5, 1))),  # not (rows, dim)
    ],
)
def test_frechet_distance_rejects_bad_sets(a, b):
    with pytest.raises(InvalidInputError):
        frechet_distance(a, b)


def test_statistics_save_load_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(5)
    stats = EmbeddingStatistics.from_embeddings(rng.standard_normal((50, 6)), meta={"extractor": {"name": "vggish"}})
    path = stats.save(tmp_path / "sub" / "stats.safetensors")
    loaded = EmbeddingStatistics.load(path)
    assert np.array_equal(loaded.mu, stats.mu) and np.array_equal(loaded.sigma, stats.sigma)
    assert loaded.mu.dtype == np.float64 and loaded.n == 50 and loaded.meta == stats.meta
    assert [p.name for p in path.parent.iterdir()] == ["stats.safetensors"]  # no temporary file left behind
    assert frechet_distance(loaded, stats) < 1e-12


def test_statistics_load_rejects_other_files(tmp_path):
    from safetensors.numpy import save_file

    save_file({"mu": np.zeros(3)}, tmp_path / "other.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    for name in ("other.safetensors", "junk.safetensors", "missing.safetensors"):
        with pytest.raises(InvalidInputError):
            EmbeddingStatistics.load(tmp_path / name)


# ------------------------------------------------------------------------------------------------ FAD∞
def test_frechet_infinity_removes_the_small_sample_bias():
    rng = np.random.default_rng(6)
    dim = 32
    delta = np.full(dim, 0.25)  # true FD = ‖δ‖² = 2.0
    reference = EmbeddingStatistics(np.zeros(dim), np.eye(dim), n=10**6)  # the exact reference Gaussian
    generated = rng.standard_normal((3000, dim)) + delta
    result = frechet_distance_infinity(generated, reference, num_points=15, min_n=300, seed=0)
    true_fd, smallest = float(delta @ delta), result.points[0][1]
    assert smallest - true_fd > 0.5  # the small-sample bias FAD∞ is there to remove (300 rows, D=32)
    assert abs(result.value - true_fd) < 0.2 * (smallest - true_fd)
    assert [n for n, _ in result.points] == [int(n) for n in np.linspace(300, 3000, 15)]
    assert result.slope > 0 and result.r2 > 0.8
    assert frechet_distance_infinity(generated, reference, num_points=15, min_n=300, seed=0) == result


def test_frechet_infinity_rejects_degenerate_fits():
    rng = np.random.default_rng(7)
    rows = rng.standard_normal((100, 4))
    with pytest.raises(InvalidInputError):
        frechet_distance_infinity(rows, rows, min_n=100)  # a single size: nothing to fit
    with pytest.raises(InvalidInputError):
        frechet_distance_infinity(rows, rows, num_points=10**6)


# ------------------------------------------------------------------------------------------------ KAD
def test_kad_is_zero_in_expectation_for_one_distribution_and_positive_for_shifted_ones():
    rng = np.random.default_rng(8)
    same, shifted = [], []
    for _ in range(30):
        x = rng.standard_normal((60, 8))
        same.append(kernel_audio_distance(x, rng.standard_normal((60, 8))))
        shifted.append(kernel_audio_distance(x, rng.standard_normal((60, 8)) + 0.5))
    stderr = np.std(same) / math.sqrt(len(same))
    assert abs(np.mean(same)) < 3 * stderr
    assert min(same) < 0  # unbiased: a biased (V-statistic) MMD² could never go below 0
    assert np.mean(shifted) > 20 * stderr and min(shifted) > 0


def test_kad_matches_a_direct_double_sum_with_the_reference_median_bandwidth(monkeypatch):
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((9, 3)), rng.standard_normal((7, 3)) + 0.3
    h = float(np.median(scipy.spatial.distance.pdist(x)))  # any given bandwidth is used as is

    def k(a, b, bandwidth):
        return math.exp(-np.sum((a - b) ** 2) / (2 * bandwidth**2 + 1e-8))

    def direct(bandwidth):
        xx = sum(k(a, b, bandwidth) for i, a in enumerate(x) for j, b in enumerate(x) if i != j) / (9 * 8)
        yy = sum(k(a, b, bandwidth) for i, a in enumerate(y) for j, b in enumerate(y) if i != j) / (7 * 6)
        xy = sum(k(a, b, bandwidth) for a in x for b in y) / (9 * 7)
        return 100.0 * (xx + yy - 2 * xy)

    assert kernel_audio_distance(x, y, bandwidth=h) == pytest.approx(direct(h), rel=1e-12)
    lower = float(np.sort(scipy.spatial.distance.pdist(x))[17])  # torch.median: the lower middle value (kadtk)
    assert median_pairwise_distance(x) == lower
    assert kernel_audio_distance(x, y) == pytest.approx(direct(lower), rel=1e-12)
    monkeypatch.setattr(distances, "_KAD_BLOCK", 2)  # the blocked sums add up to the same
    assert kernel_audio_distance(x, y) == pytest.approx(direct(lower), rel=1e-12)


def test_sampled_median_is_close_to_the_exact_one(monkeypatch):
    rows = np.random.default_rng(10).standard_normal((300, 4))
    exact = median_pairwise_distance(rows)
    monkeypatch.setattr(distances, "MAX_MEDIAN_PAIRS", 5000)
    sampled = median_pairwise_distance(rows, seed=1)
    assert sampled != exact and sampled == pytest.approx(exact, rel=0.05)


def test_kad_rejects_bad_input():
    rows = np.zeros((5, 3))
    for kwargs in ({"bandwidth": 0.0}, {"bandwidth": float("nan")}, {"scale": -1.0}):
        with pytest.raises(InvalidInputError):
            kernel_audio_distance(rows, rows, **kwargs)
    with pytest.raises(InvalidInputError):
        kernel_audio_distance(rows, np.zeros((5, 4)))


# ------------------------------------------------------------------------------------------------ KL
def test_kl_of_identical_logits_is_zero():
    rng = np.random.default_rng(11)
    logits = {f"clip{i}": rng.standard_normal(10) for i in range(5)}
    for activation in ("softmax", "sigmoid"):
        result = kl_divergence(logits, dict(logits), activation=activation)
        assert abs(result["kl_ref_gen"]) < 1e-4 and abs(result["kl_gen_ref"]) < 1e-4 and result["pairs"] == 5


def test_kl_two_classes_by_hand():
    gen, ref = {"a": np.array([0.0, 0.0])}, {"a": np.array([math.log(3.0), 0.0])}  # p_gen = (½, ½), p_ref = (¾, ¼)
    eps = 1e-6  # inside the log of the second distribution, as audioldm_eval and audiocraft

    def kl(p, q):
        return float(np.sum(p * (np.log(p) - np.log(q + eps))))

    result = kl_divergence(gen, ref)
    assert result["kl_ref_gen"] == pytest.approx(kl(np.array([0.75, 0.25]), np.array([0.5, 0.5])), rel=1e-12)
    assert result["kl_gen_ref"] == pytest.approx(kl(np.array([0.5, 0.5]), np.array([0.75, 0.25])), rel=1e-12)
    assert result["kl_ref_gen"] == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5), abs=1e-5)
    s_gen, s_ref = np.array([0.5, 0.5]), np.array([0.75, 0.5])  # per-class sigmoids of the same logits
    sigmoid = kl_divergence(gen, ref, activation="sigmoid")
    assert sigmoid["kl_ref_gen"] == pytest.approx(kl(s_ref, s_gen), rel=1e-12)


def test_kl_matches_audioldm_eval():
    kl = _audioldm_eval_metric("kl")
    rng = np.random.default_rng(12)
    ids = [f"clip{i}.wav" for i in range(12)]
    gen = {i: rng.standard_normal(527) * 3 for i in ids}
    ref = {i: rng.standard_normal(527) * 3 for i in ids}
    oracle, _, _ = kl.calculate_kl(
        {"logits": torch.tensor(np.stack([gen[i] for i in ids])), "file_path_": ids},
        {"logits": torch.tensor(np.stack([ref[i] for i in ids[::-1]])), "file_path_": ids[::-1]},
        "logits",
    )
    ours = kl_divergence(gen, ref), kl_divergence(gen, ref, activation="sigmoid")
    assert ours[0]["kl_ref_gen"] == pytest.approx(oracle["kullback_leibler_divergence_softmax"], rel=1e-12)
    assert ours[1]["kl_ref_gen"] == pytest.approx(oracle["kullback_leibler_divergence_sigmoid"], rel=1e-12)


def test_kl_rejects_ids_that_do_not_pair():
    gen = {"a": np.zeros(3), "b": np.zeros(3)}
    with pytest.raises(InvalidInputError, match="pair"):
        kl_divergence(gen, {"a": np.zeros(3), "c": np.zeros(3)})
    with pytest.raises(InvalidInputError):
        kl_divergence(gen, {"a": np.zeros(4), "b": np.zeros(4)})
    with pytest.raises(InvalidInputError):
        kl_divergence(gen, dict(gen), activation="relu")


# ------------------------------------------------------------------------------------------------ IS, CLAP
def test_inception_score_closed_forms():
    assert inception_score(np.zeros((20, 7)), splits=4) == pytest.approx((1.0, 0.0), abs=1e-12)
    n = 6
    mean, std = inception_score(np.eye(n, 10) * 60.0, splits=1)  # n confident predictions of n distinct classes
    assert mean == pytest.approx(n, rel=1e-9) and std == 0.0
    with pytest.raises(InvalidInputError):
        inception_score(np.zeros((3, 7)), splits=4)  # more splits than clips


def test_inception_score_matches_audioldm_eval():
    isc = _audioldm_eval_metric("isc")
    logits = np.random.default_rng(13).standard_normal((95, 527)) * 4
    oracle = isc.calculate_isc(
        {"logits": torch.tensor(logits)}, "logits", rng_seed=2020, samples_shuffle=True, splits=10
    )
    mean, std = inception_score(logits, splits=10, seed=2020)
    assert mean == pytest.approx(oracle["inception_score_mean"], rel=1e-12)
    assert std == pytest.approx(oracle["inception_score_std"], rel=1e-9)


def test_clap_score_is_the_mean_cosine():
    audio = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    text = np.array([[2.0, 0.0], [1.0, 0.0], [-1.0, -1.0]])  # cosines 1, 0, -1
    assert clap_score(audio, text) == pytest.approx(0.0, abs=1e-12)
    assert clap_score(audio, audio * 5) == pytest.approx(1.0)
    with pytest.raises(InvalidInputError):
        clap_score(audio, text[:2])
