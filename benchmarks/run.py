"""easynlu benchmark: speed, padding, memory, start-up and correctness against a raw loop.

    python benchmarks/run.py                  # full run (< 15 min on 2 CPU cores)
    python benchmarks/run.py --quick          # MiniLM + L2_H128 on small slices (< 3 min)
    python benchmarks/run.py --device cuda    # on a GPU (float16 by default, as easynlu does)
    python benchmarks/run.py --models minilm,L4_H512 --reps 5
    python benchmarks/run.py --check --n 64 --models minilm   # correctness only, one pass

See benchmarks/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ["HF_HUB_OFFLINE"] = "1"                 # never the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")  # the default, set so forks do not warn
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import corpus as corpus_mod  # noqa: E402
import numpy as np  # noqa: E402
from contenders import KINDS, LABELS, Contender, easynlu_token_budget  # noqa: E402
from machine import cpu_info  # noqa: E402
from models import MODELS, path_of  # noqa: E402

# texts per model: (sentences, documents). BERT-base size is ~8x MiniLM's work per token.
FULL_SIZES = {"minilm": (2048, 256), "L2_H128": (2048, 256), "L12_H128": (2048, 256),
              "L4_H512": (1024, 128), "L12_H768": (256, 32)}
QUICK_SIZES = {"minilm": (256, 32), "L2_H128": (256, 32), "L12_H128": (256, 32),
               "L4_H512": (128, 16), "L12_H768": (64, 8)}
PIPELINE_TEXTS = {"full": 128, "quick": 32}
FULL_MAX_REPS = {"L12_H768": 2}  # BERT-base size: 2 timed reps in a full run, to stay under 15 min
# MiniLM's target contenders get extra timed repetitions: the targets are judged on them
FOCUS = ("raw.sentence", "easynlu.sentence", "raw.token", "easynlu.token", "st.default")
FOCUS_EXTRA_REPS = 2
SWEEP_BUDGETS = (512, 1024, 2048, 4096, 8192, 16384)
FP32_MIN_COS = 0.99999
LOW_PRECISION_MIN_COS = 0.999

# (target, easynlu contender, the raw-loop contender that delivers the same thing) for peak RSS.
RSS_PAIRS = [("rss_embed", "easynlu.embed", "raw.sentence"),
             ("rss_sentence", "easynlu.sentence", "raw.sentence_df"),
             ("rss_token", "easynlu.token", "raw.token")]
# (target, easynlu worker, the raw-loop worker that returns the same kind of object) for first results.
FIRST_PAIRS = [("first_result", "easynlu", "raw_df"), ("first_result_embed", "easynlu_embed", "raw")]
TARGETS_DOC = {
    "sentence_vs_raw": "sentence level >= 0.95x raw loop (MiniLM)",
    "sentence_vs_st": "sentence level >= 1.4x SentenceTransformer.encode (MiniLM, defaults)",
    "token_vs_raw": "token level incl. DataFrame >= 0.85x raw token mode",
    "import": "import easynlu <= 0.3 s",
    "first_result": "time to first result, predict() DataFrame <= raw loop's (same DataFrame) + 0.5 s",
    "first_result_embed": "time to first result, embed() array <= raw loop's (array) + 0.5 s",
    "rss_embed": "peak RSS (embed(), numpy out) <= raw loop's (numpy out) + 1.5x returned vector bytes",
    "rss_sentence": "peak RSS (sentence DataFrame) <= raw loop's (same DataFrame) + 1.5x returned vector bytes",
    "rss_token": "peak RSS (token DataFrame) <= raw loop's (same DataFrame) + 1.5x returned vector bytes",
    "segment_frames": "sentence splitting + frame building <= 10% of token-level wall time",
    "bf16": "torch bf16 >= 1.9x torch fp32 with min cosine >= 0.9999 (CPU with avx512_bf16 or amx_bf16)",
}


def log(*args) -> None:
    print(*args, flush=True)


# -- the machine --------------------------------------------------------------------------------
def machine_info(device: str) -> dict:
    import sentence_transformers
    import tokenizers
    import torch
    import transformers

    info = {
        **cpu_info(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "device": device,
        "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM"),
        "load_average_start": os.getloadavg(),
    }
    try:
        import pandas

        info["pandas"] = pandas.__version__
    except ImportError:
        pass
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# -- speed and correctness in this process ------------------------------------------------------
def contender_keys(model, mode: str) -> list[str]:
    keys = ["raw.sentence", "easynlu.sentence", "raw.token", "easynlu.token", "raw.document", "easynlu.document"]
    if model.real:
        keys += ["st.default", "st.bs128", "pipeline"]
    return keys


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return float("nan")
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    return float(((a * b).sum(1) / (na * nb)).min())


def timed(contender, texts, device):
    start = time.perf_counter()
    out = contender.run(texts)
    return time.perf_counter() - start, out


def bench_model(key: str, corpus: dict, sizes: tuple[int, int], n_pipeline: int, reps: int,
                device: str, dtype: str | None, mode: str, budget: int) -> dict:
    model = MODELS[key]
    path = path_of(model)
    n_sent, n_doc = sizes
    slices = {"sentences": corpus["sentences"][:n_sent], "documents": corpus["documents"][:n_doc],
              "pipeline": corpus["sentences"][:n_pipeline]}
    log(f"\n== {key} ({path.name if not model.real else 'all-MiniLM-L6-v2'}): "
        f"{n_sent} sentences, {n_doc} documents, {reps} timed rep(s) ==")
    contenders = []
    for ck in contender_keys(model, mode):
        t = time.perf_counter()
        contenders.append(Contender(ck, model, path, device, dtype, token_budget=budget))
        log(f"  set up {ck:18s} {time.perf_counter() - t:6.2f} s")
    real_tokens = {name: _real_tokens(path, texts, model.max_length) for name, texts in slices.items()}

    if mode != "check":  # warm up each contender once (first batches, lazy loading)
        for c in contenders:
            t = time.perf_counter()
            c.run(slices[c.corpus][:16])
            log(f"  warm  {c.key:18s} {time.perf_counter() - t:6.2f} s")

    times = {c.key: [] for c in contenders}
    stages = {c.key: [] for c in contenders}
    outputs = {}
    extra = FOCUS_EXTRA_REPS if model.real and mode == "full" else 0
    n_reps = {c.key: reps + (extra if c.key in FOCUS else 0) for c in contenders}
    for rep in range(reps + extra):  # round-robin, so that noise hits every contender alike
        for c in contenders:
            if rep >= n_reps[c.key]:
                continue
            gc.collect()
            seconds, out = timed(c, slices[c.corpus], device)
            times[c.key].append(seconds)
            stages[c.key].append(c.stages)
            outputs[c.key] = out
            log(f"  rep {rep + 1} {c.key:18s} {seconds:8.3f} s")

    results = {}
    low_precision = dtype not in (None, "float32") or device.startswith("cuda") and dtype is None
    threshold = LOW_PRECISION_MIN_COS if low_precision else FP32_MIN_COS
    for c in contenders:
        best = min(times[c.key])
        texts = slices[c.corpus]
        entry = {
            "label": c.label, "level": c.level, "corpus": c.corpus, "texts": len(texts),
            "real_tokens": real_tokens[c.corpus], "times_s": times[c.key], "best_s": best,
            "texts_per_s": len(texts) / best, "tokens_per_s": real_tokens[c.corpus] / best,
        }
        pad = c.padding()
        if pad:
            entry["padding_fraction"] = 1 - pad[0] / pad[1]
            entry["batch_tokens"] = pad[1]
        if stages[c.key][0] is not None:
            best_rep = int(np.argmin(times[c.key]))
            entry["stages_s"] = stages[c.key][best_rep]
        if c.reference:
            ref = next(r for r in contenders if r.key == c.reference)
            ref_out = outputs[c.reference]
            ours = c.vectors(outputs[c.key])
            theirs = ref.vectors(ref_out)
            if c.corpus == "pipeline":  # the reference ran on the full slice: compare the subset
                theirs = theirs[: len(ours)]
            if c.level == "token":  # rows must line up (the cosine needs equal shapes); texts are informative
                a, b = c.words(outputs[c.key]), ref.words(ref_out)
                entry["token_text_mismatches"] = sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))
            cos = min_cosine(ours, theirs)
            entry["min_cosine"] = cos
            entry["correct"] = bool(cos >= threshold)
            entry["threshold"] = threshold
            log(f"  min cosine {c.key:18s} vs {c.reference:13s} {cos:.7f}  "
                f"{'ok' if entry['correct'] else 'FAILED'}")
        results[c.key] = entry

    # ratios: easynlu against the raw loop of the same level, and against sentence-transformers
    for ck, entry in results.items():
        if ck.startswith("easynlu.") or ck.startswith("st.") or ck == "pipeline":
            ref = KINDS[ck][2]
            if ref in results:
                entry["x_raw"] = entry["texts_per_s"] / results[ref]["texts_per_s"]
        if ck.startswith("easynlu.") and "st.default" in results and entry["corpus"] == "sentences" \
                and KINDS[ck][0] != "token":
            entry["x_st_default"] = entry["texts_per_s"] / results["st.default"]["texts_per_s"]
            entry["x_st_bs128"] = entry["texts_per_s"] / results["st.bs128"]["texts_per_s"]
    info = {"model": key, "path": str(path), "layers": model.layers, "hidden": model.hidden, "reps": reps,
            "real": model.real, "sentences": n_sent, "documents": n_doc, "pipeline_texts": n_pipeline,
            "contenders": results}
    del contenders, outputs
    gc.collect()
    return info


def _real_tokens(path, texts, max_length) -> int:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(path) / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length)
    return sum(len(e.ids) for e in tok.encode_batch(texts))


def bench_bf16(corpus: dict, info: dict, device: str, n: int) -> dict:
    """bf16 vs fp32 for easynlu sentence vectors (MiniLM, torch backend): for CPUs with bf16 instructions."""
    if device != "cpu":
        return {"status": "skipped", "reason": f"the bf16 target is for CPUs; {device} uses float16 by default"}
    if not (info["amx_bf16"] or info["avx512_bf16"]):
        return {"status": "skipped", "reason": "skipped, no avx512_bf16 or amx_bf16 CPU flag (bf16 is emulated)"}
    import easynlu

    texts = corpus["sentences"][:n]
    fp32 = easynlu.load("en.embed_sentence.minilm", device="cpu", dtype="float32", backend="torch")
    bf16 = easynlu.load("en.embed_sentence.minilm", device="cpu", dtype="bfloat16", backend="torch")
    best = {}
    vecs = {}
    for pipe in (fp32, bf16):
        pipe.embed(texts[:16], progress=False)
    for _ in range(3):
        for name, pipe in (("fp32", fp32), ("bf16", bf16)):
            t = time.perf_counter()
            vecs[name] = pipe.embed(texts, progress=False)
            best[name] = min(best.get(name, 1e9), time.perf_counter() - t)
    ratio = best["fp32"] / best["bf16"]
    cos = min_cosine(vecs["bf16"], vecs["fp32"])
    return {"status": "measured", "fp32_s": best["fp32"], "bf16_s": best["bf16"], "ratio": ratio,
            "min_cosine": cos, "pass": bool(ratio >= 1.9 and cos >= 0.9999)}


def budget_sweep(corpus: dict, device: str, reps: int = 3) -> dict:
    """Forward passes only (the raw loop's batches) of MiniLM over the sentences, per token budget."""
    import torch
    from raw import RawLoop, sync

    model = MODELS["minilm"]
    raw = RawLoop(str(path_of(model)), device, max_length=model.max_length)
    enc = raw._tokenize(corpus["sentences"])
    flat, starts, lengths = raw._flatten(enc["input_ids"])
    plans = {}
    for budget in SWEEP_BUDGETS:
        raw.token_budget = budget
        plans[budget] = [raw._padded(flat, starts, lengths, b) for b in raw._batches(lengths)]

    def forward(budget):
        with torch.inference_mode():
            for ids, mask in plans[budget]:
                raw._forward(ids, mask)
        sync(device)

    forward(SWEEP_BUDGETS[0])
    times = {b: [] for b in plans}
    for _ in range(reps):
        for budget in plans:
            t = time.perf_counter()
            forward(budget)
            times[budget].append(time.perf_counter() - t)
    out = {}
    for budget, v in times.items():
        out[str(budget)] = {"batches": len(plans[budget]), "batch_tokens": int(sum(a.size for a, _ in plans[budget])),
                            "times_s": v, "best_s": min(v)}
        log(f"  budget {budget:6d}: {len(plans[budget]):4d} batches, {out[str(budget)]['batch_tokens']:6d} "
            f"tokens, best {min(v):.3f} s")
    return out


# -- cold figures in subprocesses ---------------------------------------------------------------
def _worker(args: list[str], timeout: float = 600) -> dict:
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, str(HERE / "worker.py"), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=str(HERE))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker {args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def cold_figures(corpus: dict, device: str, mode: str, n_rss: tuple[int, int], budget: int) -> dict:
    out: dict = {}
    n_import = 7 if mode == "full" else 3
    runs = [_worker(["import"]) for _ in range(n_import)]
    out["import"] = {"runs_s": [r["import_s"] for r in runs],
                     "median_s": statistics.median(r["import_s"] for r in runs),
                     "heavy_modules": runs[0]["heavy_modules"]}
    log(f"  import easynlu: median {out['import']['median_s']:.3f} s of {n_import} "
        f"(heavy modules imported: {out['import']['heavy_modules'] or 'none'})")

    n_first = 3 if mode == "full" else 1
    first = {"easynlu": [], "raw_df": [], "easynlu_embed": [], "raw": []}
    for _ in range(n_first):  # alternate, so page cache and noise treat all alike
        for who in first:
            start = time.time()
            result = _worker(["first", who, "minilm", device])
            first[who].append(result["first_result_at"] - start)
    out["first_result"] = {who: {"runs_s": v, "median_s": statistics.median(v)} for who, v in first.items()}
    log("  time to first result (MiniLM, cold process): " + ", ".join(
        f"{who} {v['median_s']:.2f} s" for who, v in out["first_result"].items()))

    corpus_file = HERE / "results" / "corpus.tmp"
    corpus_file.parent.mkdir(exist_ok=True)
    corpus_file.write_text(json.dumps(corpus), encoding="utf-8")
    rss = {}
    keys = ["raw.sentence", "easynlu.embed", "raw.sentence_df", "easynlu.sentence", "raw.token", "easynlu.token"]
    if mode == "full":
        keys += ["raw.document", "easynlu.document", "st.default"]
    n_runs = 3 if mode == "full" else 1  # peak RSS moves by +-30 MiB run to run (allocator, page cache)
    runs: dict[str, list] = {key: [] for key in keys}
    for _ in range(n_runs):  # round-robin, so drift on the machine treats every contender alike
        for key in keys:
            runs[key].append(_worker(["rss", key, "minilm", device, str(corpus_file), str(n_rss[0]),
                                      str(n_rss[1]), str(budget)]))
    for key in keys:
        peaks = [r["peak_rss_bytes"] for r in runs[key]]
        rss[key] = {**runs[key][0], "peak_rss_bytes": statistics.median(peaks), "peak_rss_runs_bytes": peaks}
        log(f"  peak RSS {key:18s} {rss[key]['peak_rss_bytes'] / 2**20:8.1f} MiB, median of "
            f"{', '.join(f'{p / 2**20:.0f}' for p in peaks)} "
            f"(returned vectors {rss[key]['vector_bytes'] / 2**20:.1f} MiB)")
    corpus_file.unlink()
    out["rss"] = rss
    out["rss_texts"] = n_rss
    return out


# -- targets, tables, files ---------------------------------------------------------------------
def evaluate_targets(results: dict) -> list[dict]:
    rows = []

    def add(key, measured, limit, ok, note=""):  # noqa: ANN001
        rows.append({"target": key, "what": TARGETS_DOC[key], "measured": measured, "limit": limit,
                     "status": "PASS" if ok else "MISS", "note": note})

    models = results["models"]
    mini = models.get("minilm")
    if mini:
        c = mini["contenders"]
        r = c["easynlu.sentence"]["x_raw"]
        add("sentence_vs_raw", f"{r:.2f}x", ">= 0.95x", r >= 0.95)
        if "x_st_default" in c["easynlu.sentence"]:
            r = c["easynlu.sentence"]["x_st_default"]
            add("sentence_vs_st", f"{r:.2f}x", ">= 1.4x", r >= 1.4,
                f"vs batch_size=128: {c['easynlu.sentence']['x_st_bs128']:.2f}x")
    for key, m in models.items():
        r = m["contenders"]["easynlu.token"]["x_raw"]
        add("token_vs_raw", f"{r:.2f}x ({key})", ">= 0.85x", r >= 0.85)
    cold = results.get("cold")
    if cold:
        imp = cold["import"]["median_s"]
        add("import", f"{imp:.3f} s", "<= 0.300 s", imp <= 0.3)
        first = {who: v["median_s"] for who, v in cold["first_result"].items()}
        for target, ours, raw in FIRST_PAIRS:
            if ours in first and raw in first:
                fe, fr = first[ours], first[raw]
                add(target, f"{fe:.2f} s vs {fr:.2f} s ({fe - fr:+.2f} s)", "<= raw + 0.50 s", fe <= fr + 0.5)
        for target, ours_key, raw_key in RSS_PAIRS:
            ours, raw = cold["rss"].get(ours_key), cold["rss"].get(raw_key)
            if ours is None or raw is None:
                continue
            extra = ours["peak_rss_bytes"] - raw["peak_rss_bytes"]
            allowed = 1.5 * ours["vector_bytes"]
            add(target, f"{extra / 2**20:+.1f} MiB over {LABELS[raw_key]}", f"<= +{allowed / 2**20:.1f} MiB",
                extra <= allowed)
    for key, m in models.items():
        st = m["contenders"]["easynlu.token"].get("stages_s")
        if st:
            share = (st["segment"] + st["frames"]) / st["total"]
            add("segment_frames", f"{100 * share:.1f}% ({key})", "<= 10%", share <= 0.10)
            break  # judged on the first model (MiniLM in a normal run)
    bf = results.get("bf16", {})
    if bf.get("status") == "measured":
        add("bf16", f"{bf['ratio']:.2f}x, min cos {bf['min_cosine']:.5f}", ">= 1.9x, >= 0.9999", bf["pass"])
    else:
        rows.append({"target": "bf16", "what": TARGETS_DOC["bf16"], "measured": bf.get("reason", "skipped"),
                     "limit": ">= 2.5x, >= 0.999", "status": "SKIP", "note": ""})
    return rows


def _fmt_pct(x):
    return "" if x is None else f"{100 * x:.1f}%"


def markdown(results: dict) -> str:
    lines = []
    info = results["machine"]
    lines.append(f"Corpus sha256 `{results['corpus']['sha256'][:16]}…` "
                 f"({results['corpus']['stats']['sentences']} sentences, "
                 f"{results['corpus']['stats']['documents']} documents); device `{info['device']}`, "
                 f"dtype `{results['dtype'] or 'default'}`, {results['reps']} timed reps (best kept"
                 + (f"; MiniLM's {', '.join(FOCUS)}: {results['reps'] + FOCUS_EXTRA_REPS}" if results["mode"] == "full"
                    else "")
                 + "".join(f"; {k}: {m['reps']}" for k, m in results["models"].items() if m["reps"] != results["reps"])
                 + "), "
                 f"torch threads {info['torch_threads']}; raw loop token budget {results['raw_token_budget']} "
                 f"padded tokens per batch ({results['raw_token_budget_source']}).")
    lines.append("")
    lines.append("### Speed (ratios are throughput ratios; >1 means faster)")
    lines.append("")
    lines.append("| model | contender | texts | best s | texts/s | real tok/s | padding | × raw loop | × ST.encode "
                 "| min cos vs raw |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, m in results["models"].items():
        for _ck, e in m["contenders"].items():
            cos = e.get("min_cosine")
            lines.append(
                f"| {key} | {e['label']} | {e['texts']} {e['corpus'] if e['corpus'] != 'pipeline' else 'sentences'} "
                f"| {e['best_s']:.3f} | {e['texts_per_s']:.1f} | {e['tokens_per_s']:.0f} "
                f"| {_fmt_pct(e.get('padding_fraction'))} "
                f"| {'' if 'x_raw' not in e else format(e['x_raw'], '.2f') + '×'} "
                f"| {'' if 'x_st_default' not in e else format(e['x_st_default'], '.2f') + '×'} "
                f"| {'' if cos is None else format(cos, '.7f')} |")
    lines.append("")
    lines.append("### easynlu per-stage breakdown (seconds in the best rep; share of wall time)")
    lines.append("")
    lines.append("| model | level | total s | segment | tokenize | forward | pool | frames | other |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for key, m in results["models"].items():
        for _ck, e in m["contenders"].items():
            st = e.get("stages_s")
            if not st:
                continue
            cells = " | ".join(f"{st[s]:.3f} ({100 * st[s] / st['total']:.0f}%)"
                               for s in ("segment", "tokenize", "forward", "pool", "frames", "other"))
            lines.append(f"| {key} | {e['level']} | {st['total']:.3f} | {cells} |")
    sweep = results.get("budget_sweep")
    if sweep:
        lines.append("")
        lines.append("### Token budget sweep (MiniLM forward passes only, the raw loop's batches, all sentences)")
        lines.append("")
        lines.append("| token budget | batches | padded tokens | best s | × budget 8192 |")
        lines.append("|---:|---:|---:|---:|---:|")
        ref = sweep.get("8192", {}).get("best_s")
        for budget, r in sweep.items():
            vs = f"{ref / r['best_s']:.2f}×" if ref else ""
            lines.append(f"| {budget} | {r['batches']} | {r['batch_tokens']} | {r['best_s']:.3f} | {vs} |")
    cold = results.get("cold")
    if cold:
        lines.append("")
        lines.append("### Cold start and memory (MiniLM, each in its own process)")
        lines.append("")
        lines.append(f"- `import easynlu`: median {cold['import']['median_s']:.3f} s "
                     f"(runs: {', '.join(f'{x:.3f}' for x in cold['import']['runs_s'])}); heavy modules "
                     f"imported: {', '.join(cold['import']['heavy_modules']) or 'none'}")
        fr = cold["first_result"]
        names = {"easynlu": "easynlu predict() (DataFrame)", "raw_df": "raw loop + DataFrame",
                 "easynlu_embed": "easynlu embed() (array)", "raw": "raw loop (array)"}
        lines.append("- time to first result (start process → import → load → one sentence), medians: "
                     + ", ".join(f"{names.get(who, who)} {v['median_s']:.2f} s" for who, v in fr.items()))
        lines.append("")
        lines.append("| contender | texts | peak RSS MiB (median) | returned vectors MiB | rows | vs raw loop |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        baseline = {ours: raw for _, ours, raw in RSS_PAIRS} | {"easynlu.document": "raw.document"}
        for key, r in cold["rss"].items():
            raw = cold["rss"].get(baseline.get(key, ""))
            vs = (f"{(r['peak_rss_bytes'] - raw['peak_rss_bytes']) / 2**20:+.1f} MiB vs {LABELS[baseline[key]]}"
                  if raw else "")
            lines.append(f"| {LABELS[key]} | {r['texts']} {KINDS[key][1]} | {r['peak_rss_bytes'] / 2**20:.1f} "
                         f"| {r['vector_bytes'] / 2**20:.2f} | {r['rows']} | {vs} |")
    lines.append("")
    lines.append("### Targets")
    lines.append("")
    lines.append("| target | measured | limit | status |")
    lines.append("|---|---|---|---|")
    for t in results["targets"]:
        note = f" ({t['note']})" if t["note"] else ""
        lines.append(f"| {t['what']} | {t['measured']}{note} | {t['limit']} | **{t['status']}** |")
    return "\n".join(lines) + "\n"


def write_results_md(results: dict, table: str, path: Path) -> None:
    info = results["machine"]
    head = [
        "# Benchmark results",
        "",
        f"Produced by `python benchmarks/run.py` on {info['date']}. Raw figures: "
        "`benchmarks/results/latest.json`. How it is measured: `benchmarks/README.md`.",
        "",
        "## Machine",
        "",
        f"- CPU: {info['cpu']}, {info['cores']} cores, torch threads {info['torch_threads']} (default), "
        f"amx_bf16: {'yes' if info['amx_bf16'] else 'no'}",
        f"- Python {info['python']}, torch {info['torch']}, transformers {info['transformers']}, "
        f"sentence-transformers {info['sentence_transformers']}, tokenizers {info['tokenizers']}, "
        f"numpy {info['numpy']}, pandas {info.get('pandas', '?')}",
        f"- {info['platform']}; device {info['device']}"
        + (f" ({info['gpu']})" if info.get("gpu") else ""),
        f"- Load average at start {tuple(round(x, 2) for x in info['load_average_start'])}, at end "
        f"{tuple(round(x, 2) for x in info['load_average_end'])} (other work on the machine makes "
        f"timings noisy; ratios within one run are what to compare)",
        f"- Run took {results['wall_s'] / 60:.1f} min.",
        "",
        "## Results",
        "",
    ]
    # Sections from the other scripts (search, Spark, streaming) follow a marker and are kept.
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    kept = old[old.index(OTHER_SCRIPTS):] if OTHER_SCRIPTS in old else ""
    path.write_text("\n".join(head) + table + ("\n\n" + kept if kept else ""), encoding="utf-8")


OTHER_SCRIPTS = "<!-- other benchmark scripts: kept when run.py rewrites this file -->"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small slices, MiniLM and L2_H128 (< 3 min)")
    parser.add_argument("--check", action="store_true",
                        help="correctness only: one pass per contender, no warm-up, no cold figures")
    parser.add_argument("--models", default=None, help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--dtype", default=None, help="float32, float16 or bfloat16 (default: easynlu's "
                                                      "default for the device: float32 on CPU, float16 on CUDA)")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions per contender, best kept "
                                                               "(default 3, --quick 2)")
    parser.add_argument("--n", type=int, default=None, help="sentences per model (overrides the sizes)")
    parser.add_argument("--no-cold", action="store_true", help="skip the subprocess figures "
                                                               "(import time, first result, peak RSS)")
    parser.add_argument("--json", default=None, help="where to write the JSON (default "
                                                     "results/latest.json; --quick: results/quick.json)")
    parser.add_argument("--strict", action="store_true", help="also exit non-zero when a target is missed")
    parser.add_argument("--token-budget", type=int, default=None,
                        help="the raw loop's padded tokens per batch (default: easynlu's default budget)")
    parser.add_argument("--sweep", action="store_true",
                        help="also time MiniLM forward passes at token budgets 512..16384 (~1-2 min)")
    args = parser.parse_args(argv)

    mode = "check" if args.check else "quick" if args.quick else "full"
    if args.models:
        keys = [k.strip() for k in args.models.split(",") if k.strip()]
        unknown = [k for k in keys if k not in MODELS]
        if unknown:
            parser.error(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    else:
        keys = list(MODELS) if mode == "full" else ["minilm", "L2_H128"]
    reps = args.reps or {"full": 3, "quick": 2, "check": 1}[mode]
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda, but torch sees no CUDA device")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except Exception:  # noqa: BLE001
        pass

    wall = time.perf_counter()
    info = machine_info(args.device)
    log(f"easynlu benchmark ({mode}) on {info['cpu']}, {info['cores']} cores, torch {info['torch']} "
        f"({info['torch_threads']} threads), transformers {info['transformers']}, device {args.device}")
    t = time.perf_counter()
    corpus = corpus_mod.build()
    log(f"corpus sha256 {corpus['sha256']} ({len(corpus['sentences'])} sentences, "
        f"{len(corpus['documents'])} documents, built in {time.perf_counter() - t:.1f} s)")

    sizes = FULL_SIZES if mode == "full" else QUICK_SIZES
    n_pipeline = PIPELINE_TEXTS["full" if mode == "full" else "quick"]
    budget = args.token_budget or easynlu_token_budget()
    source = "--token-budget" if args.token_budget else "easynlu's default"
    log(f"raw loop token budget: {budget} padded tokens per batch ({source})")
    results: dict = {"mode": mode, "machine": info, "dtype": args.dtype, "reps": reps,
                     "raw_token_budget": budget, "raw_token_budget_source": source,
                     "corpus": {"sha256": corpus["sha256"], "stats": corpus["stats"]}, "models": {}}
    for key in keys:
        n_sent, n_doc = sizes[key]
        if args.n:
            n_sent, n_doc = args.n, max(8, args.n // 8)
        model_reps = min(reps, FULL_MAX_REPS.get(key, reps)) if mode == "full" and not args.reps else reps
        results["models"][key] = bench_model(key, corpus, (n_sent, n_doc), min(n_pipeline, n_sent), model_reps,
                                             args.device, args.dtype, mode, budget)
    if mode != "check":
        results["bf16"] = bench_bf16(corpus, info, args.device, sizes["minilm"][0])
        log(f"\nbf16: {results['bf16'].get('reason') or results['bf16']}")
        if not args.no_cold:
            log("\n== cold figures (subprocesses) ==")
            n_rss = (args.n, max(8, args.n // 8)) if args.n else sizes["minilm"]
            results["cold"] = cold_figures(corpus, args.device, mode, n_rss, budget)
        if args.sweep:
            log("\n== token budget sweep (MiniLM, forward only) ==")
            results["budget_sweep"] = budget_sweep(corpus, args.device)
    results["targets"] = evaluate_targets(results) if mode != "check" else []
    info["load_average_end"] = os.getloadavg()
    results["wall_s"] = time.perf_counter() - wall

    failures = [(m, ck, e.get("min_cosine")) for m, r in results["models"].items()
                for ck, e in r["contenders"].items() if e.get("correct") is False]
    results["correct"] = not failures
    table = markdown(results)
    log("\n" + table)
    for t in results["targets"]:
        log(f"{t['status']:4s}  {t['what']}: {t['measured']} (limit {t['limit']})"
            + (f"; {t['note']}" if t["note"] else ""))
    default_json = {"full": "latest.json", "quick": "quick.json", "check": "check.json"}[mode]
    out = Path(args.json) if args.json else HERE / "results" / default_json
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=float), encoding="utf-8")
    log(f"\nJSON: {out}")
    if mode == "full" and not args.json and set(keys) == set(MODELS):
        write_results_md(results, table, HERE / "RESULTS.md")
        log(f"Markdown: {HERE / 'RESULTS.md'}")
    log(f"total {results['wall_s'] / 60:.1f} min")
    if failures:
        for m, ck, cos in failures:
            log(f"CORRECTNESS FAILED: {m} {ck}: min cosine {cos} (or rows do not line up)")
        return 1
    if args.strict and any(t["status"] == "MISS" for t in results["targets"]):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
