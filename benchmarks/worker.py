"""One cold measurement in a fresh process; run.py starts it and reads the JSON on the last line.

    python worker.py import                            # time of `import easynlu`
    python worker.py first easynlu|easynlu_embed|raw|raw_df MODEL DEVICE   # import + load + one sentence
    python worker.py rss CONTENDER MODEL DEVICE CORPUS_JSON N_SENTENCES N_DOCUMENTS RAW_TOKEN_BUDGET
                                                      # import + load + run, then peak RSS
    python worker.py serve CONTENDER MODEL_DIR ONNX_DIR TEXTS_JSON OUT_NPY TOKEN_BUDGET
                                                      # cpu.py: load, warm up, then one timed run per
                                                      # "run" line on stdin (vectors saved once);
                                                      # "sts TEXTS_JSON OUT_NPY" saves other texts' vectors
    python worker.py embed_rss LOAD_JSON MODEL_DIR TEXTS_JSON   # cpu.py: easynlu.load(**LOAD).embed, peak RSS
Keep this file's own imports minimal: they count in every figure it reports.
"""

from __future__ import annotations

import json
import os
import sys
import time

FIRST_SENTENCE = "The quick brown fox jumps over the lazy dog."


def _emit(payload: dict) -> None:
    print(json.dumps(payload), flush=True)


def peak_rss() -> int:
    """This process's peak resident set size in bytes.

    Linux keeps ``getrusage(RUSAGE_SELF).ru_maxrss`` across ``execve``: a process started by a big
    parent (fork, then exec) reports at least the parent's RSS at the fork. ``VmHWM`` in
    /proc/self/status is the high-water mark of this process's own address space, so it is the
    figure used where it exists; ``ru_maxrss`` is the fallback elsewhere.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def task_import() -> None:
    start = time.perf_counter()
    import easynlu  # noqa: F401

    seconds = time.perf_counter() - start
    heavy = [m for m in ("torch", "transformers", "pandas", "numpy", "sentence_transformers") if m in sys.modules]
    _emit({"import_s": seconds, "heavy_modules": heavy})


def task_first(who: str, model_key: str, device: str) -> None:
    """Import, load and embed one sentence; report the wall-clock moment of the first result.

    ``easynlu`` returns predict()'s DataFrame and ``easynlu_embed`` embed()'s array; ``raw`` returns
    the raw loop's array and ``raw_df`` the same wrapped in a DataFrame, as predict() hands it back.
    """
    from models import MODELS, path_of

    model = MODELS[model_key]
    if who.startswith("easynlu"):
        import easynlu

        ref = "en.embed_sentence.minilm" if model.real else f"embed_sentence:{path_of(model)}"
        pipe = easynlu.load(ref, device=device)
        if who == "easynlu_embed":
            vector = pipe.embed([FIRST_SENTENCE], progress=False)[0]
        else:
            vector = pipe.predict(FIRST_SENTENCE, progress=False).iloc[0, -1]
    else:
        from raw import RawLoop

        loop = RawLoop(str(path_of(model)), device, pooling="mean_norm" if model.real else "pooler",
                       max_length=model.max_length)
        if who == "raw_df":
            vector = loop.sentence_frame([FIRST_SENTENCE]).iloc[0, -1]
        else:
            vector = loop.encode([FIRST_SENTENCE])[0]
    done = time.time()
    _emit({"first_result_at": done, "dim": int(len(vector))})


def task_rss(key: str, model_key: str, device: str, corpus_file: str, n_sent: int, n_doc: int,
             budget: int) -> None:
    import resource

    with open(corpus_file, encoding="utf-8") as f:
        corpus = json.load(f)
    from contenders import Contender
    from models import MODELS, path_of

    model = MODELS[model_key]
    contender = Contender(key, model, path_of(model), device, None, instrument=False, token_budget=budget)
    texts = corpus[contender.corpus][: n_doc if contender.corpus == "documents" else n_sent]
    start = time.perf_counter()
    out = contender.run(texts)
    seconds = time.perf_counter() - start
    if key in ("raw.token", "raw.sentence_df"):
        vector_bytes = int(sum(v.nbytes for v in out["embeddings"].to_numpy()))
        rows = len(out)
    elif key.startswith("easynlu.") and not hasattr(out, "nbytes"):
        column = out[contender.column].to_numpy()
        vector_bytes = int(sum(v.nbytes for v in column if v is not None))
        rows = len(out)
    else:
        vector_bytes = int(out.nbytes)
        rows = len(out)
    _emit({"peak_rss_bytes": peak_rss(), "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
           "vector_bytes": vector_bytes, "rows": rows, "seconds": seconds, "texts": len(texts)})


def task_serve(key: str, model_dir: str, onnx_dir: str, texts_file: str, out_file: str, budget: int) -> None:
    """Serve timed runs of one contender, so that cpu.py can interleave contenders living in other venvs.

    Prints one JSON line when ready (or ``{"skip": why}`` when the contender cannot be set up),
    then answers each ``run`` line on stdin with the seconds of one encode call over all the texts.
    The first run's vectors are saved to OUT_NPY (float32, one row per text) for the cosine check.
    """
    with open(texts_file, encoding="utf-8") as f:
        texts = json.load(f)
    start = time.perf_counter()
    try:
        from contenders import Contender
        from models import MODELS

        contender = Contender(key, MODELS["minilm"], model_dir, "cpu", None, instrument=False, token_budget=budget,
                              onnx_dir=onnx_dir or None)
        contender.run(texts[:64])  # warm-up: first batches, lazy loading
    except Exception as error:  # noqa: BLE001 - reported to cpu.py, which prints it and skips the row
        _emit({"skip": f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"})
        return
    _emit({"ready": True, "setup_s": time.perf_counter() - start, "note": contender.note})
    saved = False
    for line in sys.stdin:
        if line.startswith("sts "):  # "sts TEXTS_JSON OUT_NPY": vectors of other texts (STS-B), untimed
            sts_in, sts_out = line.split()[1:3]
            with open(sts_in, encoding="utf-8") as f:
                import numpy as np

                np.save(sts_out, contender.vectors(contender.run(json.load(f))).astype(np.float32))
            _emit({"saved": sts_out})
            continue
        if line.strip() != "run":
            break
        start = time.perf_counter()
        out = contender.run(texts)
        seconds = time.perf_counter() - start
        if not saved:
            import numpy as np

            np.save(out_file, contender.vectors(out).astype(np.float32))
            saved = True
        _emit({"seconds": seconds, "padding": contender.padding()})


def task_embed_rss(load_json: str, model_dir: str, texts_file: str) -> None:
    """Peak RSS of a fresh process that loads easynlu with LOAD_JSON's keywords and embeds the texts."""
    with open(texts_file, encoding="utf-8") as f:
        texts = json.load(f)
    import easynlu

    pipe = easynlu.load(model_dir, **json.loads(load_json))
    start = time.perf_counter()
    vectors = pipe.embed(texts, progress=False)
    seconds = time.perf_counter() - start
    heavy = [m for m in ("torch", "transformers") if m in sys.modules]
    _emit({"peak_rss_bytes": peak_rss(), "rows": len(vectors), "seconds": seconds, "heavy_modules": heavy})


def main(argv: list[str]) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    task = argv[0]
    if task == "import":
        task_import()
    elif task == "first":
        task_first(argv[1], argv[2], argv[3])
    elif task == "rss":
        task_rss(argv[1], argv[2], argv[3], argv[4], int(argv[5]), int(argv[6]), int(argv[7]))
    elif task == "serve":
        task_serve(argv[1], argv[2], argv[3], argv[4], argv[5], int(argv[6]))
    elif task == "embed_rss":
        task_embed_rss(argv[1], argv[2], argv[3])
    else:
        raise SystemExit(f"unknown task {task!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
