"""Spark local[2] against the single-process embed() on the same texts, in the same run.

    python benchmarks/spark.py               # 20,000 short sentences, packaged MiniLM, document level
    python benchmarks/spark.py --n 4000

Both sides time a warm second pass (the first pass loads the model: in the driver for embed(), in
each Python worker for Spark), so the ratio measures Arrow batches, worker processes and the
DataFrame round trip, not loading. On 2 cores Spark has no extra hardware to gain from, so the
target is >= 0.8x the single process. Vectors must agree (min cosine >= 0.99999).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable

from stream import texts  # noqa: E402  (the streaming benchmark's generated sentences)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import numpy as np
    from pyspark.sql import SparkSession

    import easynlu

    data = texts(args.n)
    pipe = easynlu.load("en.embed_sentence.minilm", device="cpu")
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())
    try:
        sdf = spark.createDataFrame([(i, t) for i, t in enumerate(data)], "id long, text string").repartition(2)
        sdf = sdf.cache()
        sdf.count()
        column = pipe.components[0].column

        def single() -> np.ndarray:
            return pipe.embed(data, progress=False)

        def distributed() -> np.ndarray:
            rows = pipe.predict(sdf, output_level="document").select("id", column).collect()
            rows.sort(key=lambda r: r["id"])
            return np.asarray([r[column] for r in rows], dtype=np.float32)

        timings = {}
        vectors = {}
        for name, fn in (("single", single), ("spark", distributed)):
            fn()  # warm: loads the model (driver or workers)
            start = time.perf_counter()
            vectors[name] = fn()
            timings[name] = time.perf_counter() - start
    finally:
        spark.stop()
    a, b = vectors["single"], vectors["spark"]
    cos = float(np.min(np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))
    ratio = timings["single"] / timings["spark"]
    result = {"n": args.n, "single_s": timings["single"], "spark_s": timings["spark"],
              "single_texts_per_s": args.n / timings["single"], "spark_texts_per_s": args.n / timings["spark"],
              "ratio": ratio, "min_cosine": cos, "pass": bool(ratio >= 0.8 and cos >= 0.99999)}
    print(f"{args.n} texts, document level, packaged MiniLM, 2 cores")
    print(f"  single-process embed()  {timings['single']:7.2f} s  {result['single_texts_per_s']:7.1f} texts/s")
    print(f"  Spark local[2] predict  {timings['spark']:7.2f} s  {result['spark_texts_per_s']:7.1f} texts/s")
    print(f"  ratio {ratio:.2f}x (target >= 0.8x), min cosine {cos:.7f}: {'PASS' if result['pass'] else 'MISS'}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
