"""GPU throughput (issue 26): easynlu against a raw torch loop and SentenceTransformer.encode, one GPU, one run.

    python benchmarks/gpu.py                      # MiniLM and BERT-base shapes, float16 and bfloat16
    python benchmarks/gpu.py --cpu-smoke          # a tiny shape on the CPU in float32: checks that it runs
    python benchmarks/gpu.py --corpus tools/gpu_carry/corpus.json --json out.json --strict

The models are random-weight BERTs of real shapes with bert-base-uncased's tokenizer (models.build_bert,
no download): MiniLM (L6_H384, 12 heads, 256 tokens) and BERT-base (L12_H768, 512 tokens), each a
sentence-transformers directory (mean pooling + Normalize), so easynlu's ``embed()``, the raw loop and
``SentenceTransformer.encode`` compute the same vectors (checked: min cosine to the raw loop). The texts
are the CPU benchmarks' 2,048 sentences (benchmarks/corpus.py; ``--corpus`` reads them from a JSON file
written where the corpus was built, since the exact text depends on the installed stdlib/numpy/pandas).

Every row is warmed up once, then timed ``--reps`` times (best and median kept; the GPU is synchronised
before each clock stops), then run once more under torch's profiler (CUDA activity only) for its GPU
busy time: the union of its kernels' and copies' intervals. Busy time well under the wall time means the
CPU side (tokenizing, pooling, building frames) leaves the GPU idle. Rows marked ``@N`` rerun easynlu
with its token budget set to N (by setting easynlu.backends.batching.TOKEN_BUDGET in this process): what
a GPU-sized budget would give. Exit status: 0; with ``--strict``, 2 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import numpy as np  # noqa: E402

# shape -> (layers, hidden, heads, sentence-transformers max_seq_length)
SHAPES = {"minilm": (6, 384, 12, 256), "bert-base": (12, 768, 12, 512), "tiny": (2, 128, 2, 256)}
TARGET_X_ST = 2.0   # easynlu embed() against SentenceTransformer.encode at the same precision
TARGET_X_RAW = 0.9  # easynlu predict() at token level, DataFrame included, against the raw loop
LABELS = {
    "easynlu.embed": "easynlu embed()",
    "easynlu.token_df": "easynlu predict(token) + DataFrame",
    "raw.sentence": "raw loop (sentence)",
    "raw.token_df": "raw loop (token + DataFrame)",
    "st.default": "SentenceTransformer.encode (defaults, batch_size=32)",
    "st.best": "SentenceTransformer.encode (best batch_size)",
}


def log(*args: object) -> None:
    print(*args, flush=True)


def load_sentences(path: str | None, n: int) -> tuple[list[str], str]:
    """The corpus's first ``n`` sentences and the corpus's sha256 (from a JSON file, or built here)."""
    if path:
        data = json.loads(Path(path).read_text())
    else:
        import corpus

        data = corpus.build()
    return data["sentences"][:n], data["sha256"]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def union_seconds(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by (start, end) intervals in microseconds, overlaps counted once."""
    busy, start, end = 0.0, None, None
    for s, e in sorted(spans):
        if end is None or s > end:
            busy += 0.0 if end is None else end - start
            start, end = s, e
        else:
            end = max(end, e)
    return (busy + (0.0 if end is None else end - start)) / 1e6


def gpu_busy_s(fn, device: str) -> float | None:
    """Seconds the GPU spent on kernels and copies during ``fn()``, or None off CUDA.

    Profiles CUDA activity only (no per-op CPU events, so the CPU side runs at its own speed); where
    that records no device events, once more with CPU activity too.
    """
    if not device.startswith("cuda"):
        return None
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    for activities in ([ProfilerActivity.CUDA], [ProfilerActivity.CPU, ProfilerActivity.CUDA]):
        with profile(activities=activities) as prof:
            fn()
            sync(device)
        spans = [(e.time_range.start, e.time_range.end) for e in prof.events() if e.device_type == DeviceType.CUDA]
        if spans:
            return union_seconds(spans)
    return None


def timed(fn, device: str, reps: int) -> dict:
    """Warm up once, then ``reps`` timed calls, then one profiled call; the last output is kept."""
    out = fn()
    sync(device)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        out = fn()
        sync(device)
        times.append(time.perf_counter() - start)
    row = {"best_s": min(times), "median_s": statistics.median(times), "times_s": times, "output": out}
    try:
        row["gpu_busy_s"] = gpu_busy_s(fn, device)
    except Exception as err:  # noqa: BLE001 - a profiler problem must not lose the timings
        row["gpu_busy_s"], row["profiler_error"] = None, f"{type(err).__name__}: {err}"
    return row


def min_cosine(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(np.nanmin(cos))


def run_config(path: Path, shape: str, device: str, dtype: str, sentences: list[str], args) -> dict:
    """Every row on one model at one precision, and their ratios and targets."""
    import torch
    from raw import RawLoop
    from sentence_transformers import SentenceTransformer

    import easynlu
    from easynlu.backends import batching

    torch_dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    max_len = SHAPES[shape][3]
    default_budget = batching.TOKEN_BUDGET
    pipe = easynlu.load(str(path), device=device, dtype=dtype, backend="torch")
    raws = {b: RawLoop(str(path), device, dtype=torch_dtype, pooling="mean_norm", max_length=max_len, token_budget=b)
            for b in sorted({default_budget, *args.raw_budgets})}
    st = SentenceTransformer(str(path), device=device)
    st.to(torch_dtype)
    first_raw = raws[default_budget]
    n_tokens = sum(len(ids) for ids in first_raw._tokenize(sentences)["input_ids"])

    def with_budget(budget, fn):
        def call():
            batching.TOKEN_BUDGET = budget
            try:
                return fn()
            finally:
                batching.TOKEN_BUDGET = default_budget
        return call

    rows: dict[str, dict] = {}
    calls = {"easynlu.embed": lambda: pipe.embed(sentences, progress=False),
             "easynlu.token_df": lambda: pipe.predict(sentences, output_level="token", progress=False)}
    for budget in args.what_if_budgets:
        calls[f"easynlu.embed@{budget}"] = with_budget(budget, calls["easynlu.embed"])
        calls[f"easynlu.token_df@{budget}"] = with_budget(budget, calls["easynlu.token_df"])
    for budget, raw in raws.items():
        calls[f"raw.sentence@{budget}"] = lambda raw=raw: raw.encode(sentences)
        calls[f"raw.token_df@{budget}"] = lambda raw=raw: raw.tokens(sentences)
    calls["st.default"] = lambda: st.encode(sentences, show_progress_bar=False)
    sweep = {}
    for size in args.st_batch_sizes:  # one timed call each, after a warm-up, to find ST's best batch size
        sweep[size] = timed(lambda size=size: st.encode(sentences, batch_size=size, show_progress_bar=False),
                            device, 1)["best_s"]
    best_size = min(sweep, key=sweep.get)
    calls["st.best"] = lambda: st.encode(sentences, batch_size=best_size, show_progress_bar=False)
    for key, fn in calls.items():
        rows[key] = timed(fn, device, args.reps)
        rows[key]["label"] = LABELS.get(key.split("@")[0], key) + (f" @ budget {key.split('@')[1]}" if "@" in key
                                                                    else "")
        log(f"  {key:28s} best {rows[key]['best_s']:.4f} s")

    outputs = {key: row.pop("output") for key, row in rows.items()}
    raw_sentence = outputs[f"raw.sentence@{default_budget}"]
    raw_tokens = outputs[f"raw.token_df@{default_budget}"]
    for key, out in outputs.items():
        if "token_df" in key:  # same words in the same order, vectors of the same first wordpieces
            rows[key]["rows_match"] = len(out) == len(raw_tokens) and list(out.iloc[:, 0]) == list(raw_tokens["token"])
            if rows[key]["rows_match"]:
                rows[key]["min_cos_vs_raw"] = min_cosine(np.stack(out.iloc[:, -1].to_numpy()),
                                                         np.stack(raw_tokens["embeddings"].to_numpy()))
        else:
            rows[key]["min_cos_vs_raw"] = min_cosine(out, raw_sentence)
    for row in rows.values():
        row["sentences_per_s"] = len(sentences) / row["best_s"]
        row["real_tokens_per_s"] = n_tokens / row["best_s"]
        busy = row.get("gpu_busy_s")
        row["gpu_busy_fraction"] = None if busy is None else busy / row["best_s"]
    best_raw_sentence = max((rows[k] for k in rows if k.startswith("raw.sentence")), key=lambda r: r["sentences_per_s"])
    best_raw_token = max((rows[k] for k in rows if k.startswith("raw.token_df")), key=lambda r: r["sentences_per_s"])
    for key, row in rows.items():
        row["x_st_default"] = row["sentences_per_s"] / rows["st.default"]["sentences_per_s"]
        row["x_st_best"] = row["sentences_per_s"] / rows["st.best"]["sentences_per_s"]
        raw_row = best_raw_token if "token_df" in key else best_raw_sentence
        row["x_raw"] = row["sentences_per_s"] / raw_row["sentences_per_s"]
    embed, token = rows["easynlu.embed"], rows["easynlu.token_df"]
    targets = {
        f"embed() >= {TARGET_X_ST}x ST.encode (defaults)": embed["x_st_default"] >= TARGET_X_ST,
        f"embed() >= {TARGET_X_ST}x ST.encode (best batch_size {best_size})": embed["x_st_best"] >= TARGET_X_ST,
        f"predict(token)+DataFrame >= {TARGET_X_RAW}x raw loop (token+DataFrame)": token["x_raw"] >= TARGET_X_RAW,
    }
    correct = all(r.get("rows_match", True) and r.get("min_cos_vs_raw", 1.0) >= args.min_cos for r in rows.values())
    return {"shape": shape, "dtype": dtype, "layers_hidden_heads_max_len": SHAPES[shape], "sentences": len(sentences),
            "real_tokens": n_tokens, "easynlu_token_budget": default_budget, "st_batch_size_sweep_s": sweep,
            "st_best_batch_size": best_size, "rows": rows, "targets": targets, "correct": correct}


def machine(device: str) -> dict:
    import sentence_transformers
    import torch
    import transformers

    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "transformers": transformers.__version__, "sentence_transformers": sentence_transformers.__version__,
            "cpu_count": os.cpu_count(), "device": device}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    multiprocessors=props.multi_processor_count)
    return info


def write(path: str | None, results: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(results, indent=1, default=str))


def print_config(result: dict) -> None:
    log(f"\n### {result['shape']} {result['dtype']}: {result['sentences']} sentences, {result['real_tokens']} real "
        f"tokens; easynlu budget {result['easynlu_token_budget']}; ST best batch size {result['st_best_batch_size']}")
    log("| row | best s | median s | sentences/s | real tokens/s | GPU busy | x ST default | x ST best | x raw | "
        "min cos vs raw |")
    log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in result["rows"].values():
        busy = "n/a" if r["gpu_busy_fraction"] is None else f"{100 * r['gpu_busy_fraction']:.0f}%"
        cos = r.get("min_cos_vs_raw")
        log(f"| {r['label']} | {r['best_s']:.4f} | {r['median_s']:.4f} | {r['sentences_per_s']:.0f} | "
            f"{r['real_tokens_per_s']:.0f} | {busy} | {r['x_st_default']:.2f} | {r['x_st_best']:.2f} | "
            f"{r['x_raw']:.2f} | {'rows differ' if cos is None else f'{cos:.6f}'} |")
    for name, ok in result["targets"].items():
        log(f"{'PASS' if ok else 'FAIL'}  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny shape, CPU, float32, few sentences, 1 rep")
    parser.add_argument("--shapes", default="minilm,bert-base", help=f"comma-separated, of {sorted(SHAPES)}")
    parser.add_argument("--dtypes", default="float16,bfloat16")
    parser.add_argument("--n", type=int, default=2048, help="sentences (the corpus has 2,048)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--corpus", help="the corpus as JSON (sentences, sha256); default: build it here")
    parser.add_argument("--st-batch-sizes", default="32,64,128,256,512,1024")
    parser.add_argument("--raw-budgets", default="8192,32768", help="raw loop token budgets beside easynlu's")
    parser.add_argument("--what-if-budgets", default="16384,65536", help="easynlu rows rerun at these budgets")
    parser.add_argument("--min-cos", type=float, default=0.999, help="least cosine to the raw loop that passes")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    args = parser.parse_args(argv)
    if args.cpu_smoke:
        device, args.shapes, args.dtypes, args.n, args.reps = "cpu", "tiny", "float32", min(args.n, 32), 1
        args.st_batch_sizes, args.raw_budgets, args.what_if_budgets = "16,64", "", "8192"
    else:
        import torch

        if not torch.cuda.is_available():
            parser.error("torch sees no CUDA device: run on a GPU, or pass --cpu-smoke")
        device = "cuda"
    ints = lambda text: [int(x) for x in text.split(",") if x]  # noqa: E731
    args.st_batch_sizes, args.raw_budgets, args.what_if_budgets = (
        ints(args.st_batch_sizes), ints(args.raw_budgets), ints(args.what_if_budgets))
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the "Loading weights" bars of every model load
    started = time.perf_counter()
    sentences, sha = load_sentences(args.corpus, args.n)
    info = machine(device)
    log(f"# easynlu GPU benchmark: {info}\ncorpus sha256 {sha[:16]}..., {len(sentences)} sentences")
    results = {"machine": info, "corpus_sha256": sha, "configs": {}}
    import models

    with tempfile.TemporaryDirectory(prefix="easynlu-gpu-bench-") as tmp:
        for shape in args.shapes.split(","):
            layers, hidden, heads, max_len = SHAPES[shape]
            path = models.build_bert(Path(tmp) / shape, layers, hidden, heads, sentence_max_length=max_len)
            for dtype in args.dtypes.split(","):
                log(f"\n{shape} {dtype} on {device}")
                result = run_config(path, shape, device, dtype, sentences, args)
                results["configs"][f"{shape}/{dtype}"] = result
                print_config(result)
                write(args.json, results)  # after each config: a run cut short keeps what it measured
                import easynlu

                easynlu.unload()
    results["targets_passed"] = all(all(r["targets"].values()) for r in results["configs"].values())
    results["correct"] = all(r["correct"] for r in results["configs"].values())
    results["seconds"] = time.perf_counter() - started
    log(f"\nall targets {'PASS' if results['targets_passed'] else 'FAIL'}; vectors agree with the raw loop: "
        f"{results['correct']}; {results['seconds']:.0f} s")
    write(args.json, results)
    if not results["correct"]:
        return 1
    return 2 if args.strict and not results["targets_passed"] else 0


if __name__ == "__main__":
    sys.exit(main())
