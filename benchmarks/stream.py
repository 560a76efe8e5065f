"""Streaming against predict(): throughput ratio and peak RSS, on the same texts in the same run.

    python benchmarks/stream.py                  # 20,000 short sentences, packaged MiniLM, ~2-3 min on 2 cores
    python benchmarks/stream.py --n 2000 --json out.json

The texts are generated short English sentences (fixed seed, 6-14 words). Each mode runs in its
own subprocess, so its peak RSS (``ru_maxrss``) is its own: ``predict`` on the whole list,
``predict_batches`` (the chunks' frames are dropped as they come, as a consumer that writes them
somewhere would) and ``predict_to_parquet`` into a fresh directory, each at document level with
chunk_size 1,000, plus ``predict_to_parquet`` on two chunks' worth of texts to show memory is flat.
Times exclude loading the model (a warm-up call runs first); each mode runs ``--rounds`` times,
interleaved, and the fastest run counts (peak RSS: the highest). Targets: streaming >= 0.95x
``predict()``; peak RSS of ``predict_to_parquet`` on n texts within 15% of that on two chunks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("the data model reads every short text and writes one vector for each of them while people "
         "watch a small bar move across the screen in a quiet room near the old river town").split()


def texts(n: int, seed: int = 0) -> list[str]:
    """n short sentences, 6-14 words each, the same for a given seed."""
    import random

    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(6, 14))).capitalize() + "." for _ in range(n)]


def worker(mode: str, n: int, model: str, chunk_size: int) -> dict[str, float]:
    """Run one mode in this process; returns seconds and peak RSS in MB."""
    import resource

    sys.path.insert(0, str(ROOT))
    import easynlu
    from easynlu import stream

    data = texts(n)
    pipe = easynlu.load(model)
    pipe.predict(data[:64], output_level="document", progress=False)  # load and warm up
    start = time.perf_counter()
    if mode == "predict":
        rows = len(pipe.predict(data, output_level="document", progress=False))
    elif mode == "predict_batches":
        rows = sum(len(f) for f in stream.predict_batches(pipe, data, chunk_size=chunk_size,
                                                           output_level="document", progress=False))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            stream.predict_to_parquet(pipe, data, Path(tmp) / "out", chunk_size=chunk_size,
                                      output_level="document", progress=False)
            rows = n
    seconds = time.perf_counter() - start
    assert rows == n
    return {"seconds": seconds, "texts_per_s": n / seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run(mode: str, n: int, model: str, chunk_size: int) -> dict[str, float]:
    code = (f"import sys, json; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import stream; "
            f"print(json.dumps(stream.worker({mode!r}, {n}, {model!r}, {chunk_size})))")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> int:
    """Run every mode, print a table and the ratios; exits 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--model", default="embed")
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each mode, interleaved; the fastest counts")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    results: dict[str, dict[str, float]] = {}
    modes = (("predict", args.n), ("predict_batches", args.n), ("predict_to_parquet", args.n),
             ("predict_to_parquet_small", 2 * args.chunk_size))
    for round_ in range(args.rounds):
        for mode, n in modes:
            r = run(mode.removesuffix("_small"), n, args.model, args.chunk_size)
            print(f"round {round_ + 1}  {mode:26s} n={n:>7,}  {r['seconds']:7.2f} s  {r['texts_per_s']:8.1f} "
                  f"texts/s  peak RSS {r['peak_rss_mb']:7.1f} MB", flush=True)
            best = results.setdefault(mode, r)
            if r["seconds"] < best["seconds"]:
                results[mode] = {**r, "peak_rss_mb": max(r["peak_rss_mb"], best["peak_rss_mb"])}
            else:
                best["peak_rss_mb"] = max(r["peak_rss_mb"], best["peak_rss_mb"])
    base = results["predict"]["texts_per_s"]
    ratios = {m: results[m]["texts_per_s"] / base for m in ("predict_batches", "predict_to_parquet")}
    memory = results["predict_to_parquet"]["peak_rss_mb"] / results["predict_to_parquet_small"]["peak_rss_mb"]
    for mode, ratio in ratios.items():
        print(f"{mode} / predict throughput: {ratio:.3f}x (target >= 0.95x)")
    print(f"predict_to_parquet peak RSS, n vs 2 chunks: {memory:.3f}x (target <= 1.15x)")
    ok = all(r >= 0.95 for r in ratios.values()) and memory <= 1.15
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "model": args.model, "chunk_size": args.chunk_size,
                                         "results": results, "ratios": ratios, "memory_ratio": memory,
                                         "ok": ok}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
