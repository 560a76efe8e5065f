"""Length buckets (issue 25): cold and warm speed of each engine with padded lengths rounded up to
a multiple of 1 (off), 8 or 16, each run in a fresh process.

    python benchmarks/buckets.py                          # 2,000 sentences, buckets 1,8,16, 2 rounds
    python benchmarks/buckets.py --configs bf16,bf16_plain --buckets 1,16 --rounds 3

A process imports easynlu, sets ``easynlu.backends.batching.BUCKET``, loads all-MiniLM-L6-v2 with the
config's keywords, embeds one sentence (the load), then times ``embed`` over the sentences twice:
the first pass (every batch shape new: kernel set-up included) and a warm second one. It reports
the batch shapes met, the padding (padded tokens over real ones) and the vectors. "bf16_plain" is
bf16 with plain ``nn.Linear`` (as chosen on AMX: the CPU's flags are faked to include amx_bf16).
Processes run in a rotating order, round after round, medians kept: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ["HF_HUB_OFFLINE"] = "1"

CONFIGS = {
    "torch": {"backend": "torch", "dtype": "float32"},
    "onnx": {"backend": "onnx", "dtype": "float32"},
    "int8": {"backend": "onnx", "quantize": "int8"},
    "bf16": {"backend": "torch", "dtype": "bfloat16"},
    "bf16_plain": {"backend": "torch", "dtype": "bfloat16"},
}


def one(config: str, bucket: int, texts_file: str, out: str) -> None:
    """In a fresh process: load, then a cold and a warm pass; one JSON line."""
    import warnings

    import numpy as np

    warnings.simplefilter("ignore")
    import easynlu
    from easynlu.backends import batching, device

    if config == "bf16_plain":
        flags = device.cpu_flags() or frozenset()
        device.cpu_flags = lambda: flags | {"amx_bf16"}  # type: ignore[assignment]
    batching.BUCKET = bucket
    shapes: set[tuple[int, int]] = set()
    tokens = [0, 0]
    pad = batching.pad

    def counting(*args, **kwargs):
        ids, mask = pad(*args, **kwargs)
        shapes.add(ids.shape)
        tokens[0] += int(mask.sum())
        tokens[1] += mask.size
        return ids, mask

    batching.pad = counting
    with open(texts_file, encoding="utf-8") as f:
        texts = json.load(f)
    from models import minilm_path

    pipe = easynlu.load(str(minilm_path()), **CONFIGS[config])
    pipe.embed(["Loaded."], progress=False)
    shapes.clear()
    tokens[:] = [0, 0]
    times = []
    for _ in range(2):
        start = time.perf_counter()
        vectors = pipe.embed(texts, progress=False)
        times.append(time.perf_counter() - start)
    np.save(out, vectors)
    print(json.dumps({"cold_s": times[0], "warm_s": times[1], "shapes": len(shapes),
                      "padding": tokens[1] / tokens[0] - 1}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--buckets", default="1,8,16")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--json", default=str(HERE / "results" / "buckets.json"))
    args = parser.parse_args(argv)
    import corpus as corpus_mod
    import numpy as np
    from machine import cpu_info

    info = cpu_info()
    texts = corpus_mod.build()["sentences"][: args.n]
    runs = [(c, int(b)) for c in args.configs.split(",") for b in args.buckets.split(",")]
    print(f"buckets on {info['cpu']} (flags {' '.join(info['flags'])}), {info['cores']} cores, {len(texts)} "
          f"sentences, {args.rounds} rounds, load average {os.getloadavg()[0]:.2f}", flush=True)
    got: dict[tuple[str, int], list[dict]] = {r: [] for r in runs}
    with tempfile.TemporaryDirectory(prefix="easynlu-buckets-") as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        for r in range(args.rounds):
            for config, bucket in runs[r % len(runs):] + runs[: r % len(runs)]:
                out = Path(tmp) / f"{config}_{bucket}.npy"
                proc = subprocess.run([sys.executable, __file__, "one", config, str(bucket), str(texts_file), str(out)],
                                      capture_output=True, text=True, timeout=900)
                lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
                if proc.returncode or not lines:
                    print(f"  {config} bucket {bucket}: failed: {proc.stderr.strip().splitlines()[-1:]}")
                    continue
                row = json.loads(lines[-1])
                got[(config, bucket)].append(row)
                print(f"  round {r + 1} {config:10s} bucket {bucket:2d}: cold {row['cold_s']:6.2f} s, warm "
                      f"{row['warm_s']:6.2f} s, {row['shapes']} shapes, padding {100 * row['padding']:.1f}%",
                      flush=True)
        diffs = {}
        for config, bucket in runs:
            base, this = Path(tmp) / f"{config}_1.npy", Path(tmp) / f"{config}_{bucket}.npy"
            if base.exists() and this.exists():
                diffs[(config, bucket)] = float(np.abs(np.load(base) - np.load(this)).max())
    lines = ["| config | bucket | shapes | padding | cold s | warm s | cold × warm | cold × bucket 1's | "
             "warm × bucket 1's | max abs diff vs bucket 1 |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    table = {}
    for (config, bucket), rows in got.items():
        if rows:
            table[(config, bucket)] = {k: statistics.median(x[k] for x in rows) for k in rows[0]}
    for (config, bucket), m in table.items():
        base = table.get((config, 1))
        cold_x, warm_x = (f"{base['cold_s'] / m['cold_s']:.2f}×", f"{base['warm_s'] / m['warm_s']:.2f}×") if base \
            else ("", "")
        lines.append(f"| {config} | {bucket} | {m['shapes']:.0f} | {100 * m['padding']:.1f}% | {m['cold_s']:.2f} | "
                     f"{m['warm_s']:.2f} | {m['cold_s'] / m['warm_s']:.2f}× | {cold_x} | {warm_x} | "
                     f"{diffs.get((config, bucket), float('nan')):.1e} |")
    print("\n" + "\n".join(lines) + f"\n\n(× bucket 1's: speed-up, higher is faster; medians of {args.rounds} rounds; "
          f"load average at end {os.getloadavg()[0]:.2f})")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"machine": info, "n": len(texts), "rounds": args.rounds,
                                           "rows": {f"{c}/{b}": v for (c, b), v in table.items()},
                                           "max_abs_diff": {f"{c}/{b}": v for (c, b), v in diffs.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "one":
        one(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        sys.exit(main())
