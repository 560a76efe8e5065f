"""Exact search: easynlu.search.Index.search against the plain numpy one-liner, on random vectors.

    python benchmarks/search.py            # 100,000 corpus vectors, then 1,000,000 (ours only), ~1 min
    python benchmarks/search.py --quick    # 100,000 only

The corpus is random L2-normalised float32 384-d vectors (fixed seed), 1,000 queries, k=10. The
baseline is ``scores = q @ C.T; np.argsort(-scores, axis=1)[:, :10]``; the script exits 1 if its
top-10 indices differ from ours. Peak extra memory is what tracemalloc sees numpy allocate during
the call (the corpus itself is not counted). No model is loaded: this measures search alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from easynlu.search import CORPUS_BLOCK, QUERY_BLOCK, Index  # noqa: E402

DIM, N_QUERIES, K = 384, 1_000, 10


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def measure(fn, reps: int):
    """(result, best seconds, peak extra MB) of ``fn()``; memory from one extra traced run."""
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return result, best, peak / 2**20


def baseline(queries: np.ndarray, corpus: np.ndarray) -> np.ndarray:
    scores = queries @ corpus.T
    return np.argsort(-scores, axis=1)[:, :K]


def report(name: str, seconds: float, mb: float, one: float | None = None) -> None:
    alone = f"   (1 query alone: {one * 1e3:.1f} ms)" if one is not None else ""
    print(f"  {name:22s} {seconds:7.3f} s   peak extra {mb:8.1f} MB{alone}")


def single_query_seconds(index: Index, queries: np.ndarray, n: int = 20) -> float:
    index.search(queries[:1], K)
    start = time.perf_counter()
    for q in queries[:n]:
        index.search(q, K)
    return (time.perf_counter() - start) / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the 1,000,000-vector run")
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions (best is reported)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    queries = unit_vectors(rng, N_QUERIES)
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs; {N_QUERIES:,} queries, {DIM}-d, k={K}; "
          f"blocks of {QUERY_BLOCK} queries x {CORPUS_BLOCK:,} corpus rows")

    n = 100_000
    corpus = unit_vectors(rng, n)
    index = Index(corpus, np.arange(n), [""] * n)
    (ours_i, _), ours_t, ours_mb = measure(lambda: index.search(queries, K), args.reps)
    base_i, base_t, base_mb = measure(lambda: baseline(queries, index.vectors), args.reps)
    same = np.array_equal(ours_i, base_i)
    one = single_query_seconds(index, queries)
    print(f"\ncorpus {n:,}:")
    report("easynlu Index.search", ours_t, ours_mb, one)
    report("numpy q @ C.T+argsort", base_t, base_mb)
    print(f"  speed-up (baseline / ours): {base_t / ours_t:.1f}x; memory: {base_mb / ours_mb:.0f}x less")
    print(f"  top-{K} indices identical: {same}")
    if not same:
        rows = np.flatnonzero((ours_i != base_i).any(axis=1))
        print(f"  differing queries: {rows[:10].tolist()} ({len(rows)} in all)")

    if not args.quick:
        del corpus, index
        n = 1_000_000
        index = Index(unit_vectors(rng, n), np.arange(n), [""] * n)
        _, big_t, big_mb = measure(lambda: index.search(queries, K), 1)
        one = single_query_seconds(index, queries)
        print(f"\ncorpus {n:,} (ours only; the baseline would need {N_QUERIES * n * 16 / 2**30:.0f} GB):")
        report("easynlu Index.search", big_t, big_mb, one)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
