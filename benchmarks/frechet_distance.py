"""Fréchet distance at D=2048 (CNN14's embedding size): our float64 symmetric eigh form vs the ``scipy.linalg.sqrtm``
formula of pytorch-fid / audioldm_eval / stable-audio-metrics, on the same statistics, on one CPU thread.

Two random sets of N=2500 rows (full-rank covariances) → statistics once (timed apart), then each distance from the
statistics, median of ``--runs`` interleaved runs. The goal (issue 11) is under 5 s for ours.

    OMP_NUM_THREADS=1 python benchmarks/frechet_distance.py [--dim 2048] [--rows 2500] [--runs 3]
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/torch load their BLAS
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.linalg  # noqa: E402
import torch  # noqa: E402

from hf_audiogen.evaluation.distances import EmbeddingStatistics, frechet_distance  # noqa: E402


def scipy_sqrtm_fd(a: EmbeddingStatistics, b: EmbeddingStatistics) -> float:
    """pytorch-fid's formula (what audioldm_eval and stable-audio-metrics call), without its singular-product
    retry: both covariances are full rank here."""
    covmean = scipy.linalg.sqrtm(a.sigma @ b.sigma)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    diff = a.mu - b.mu
    return float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2 * np.trace(covmean))


def timed(fn, *args) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process, value): on a shared machine the CPU time shows what the wall time
    would be without other jobs competing for the core."""
    start, cpu = time.perf_counter(), time.process_time()
    value = fn(*args)
    return time.perf_counter() - start, time.process_time() - cpu, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--rows", type=int, default=2500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.rows, args.dim))
    y = rng.standard_normal((args.rows, args.dim)) * 1.1 + 0.05
    stats_seconds, _, a = timed(EmbeddingStatistics.from_embeddings, x)
    b = EmbeddingStatistics.from_embeddings(y)

    ours, reference, values = [], [], []
    for _ in range(args.runs):  # interleaved: both see the same machine load
        *seconds, value = timed(frechet_distance, a, b)
        ours.append(seconds)
        *seconds, ref_value = timed(scipy_sqrtm_fd, a, b)
        reference.append(seconds)
        values.append((value, ref_value))

    ours_s, ref_s = (statistics.median(wall for wall, _ in runs) for runs in (ours, reference))
    ours_cpu, ref_cpu = (statistics.median(cpu for _, cpu in runs) for runs in (ours, reference))
    value, ref_value = values[-1]
    print(f"Fréchet distance, D={args.dim}, N={args.rows}, 1 thread, median of {args.runs}")
    print(f"  torch {torch.__version__}, numpy {np.__version__}, scipy {scipy.__version__}")
    print(f"  statistics (mean + covariance of one set): {stats_seconds:.2f} s")
    print(f"  ours (float64 symmetric eigh):  {ours_s:.2f} s (CPU {ours_cpu:.2f} s)   FD = {value:.6f}")
    print(f"  scipy.linalg.sqrtm reference:   {ref_s:.2f} s (CPU {ref_cpu:.2f} s)   FD = {ref_value:.6f}")
    print(f"  ratio sqrtm / ours: {ref_s / ours_s:.1f}x; relative difference {abs(value - ref_value) / ref_value:.1e}")
    print(f"  goal < 5 s: {'met' if ours_s < 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
