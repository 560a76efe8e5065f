"""The CUDA path on a real GPU (issue 26): skipped where torch sees no CUDA device.

Run on a GPU machine with ``python -m pytest -m gpu tests/test_gpu.py`` (``tools/gpu_check.sh`` does,
with the benchmark). Models are random-weight BERTs of real shapes with bert-base-uncased's tokenizer,
built from the committed vocab (benchmarks/models.py), so nothing is downloaded. Each test that
compares precisions records its minimum cosine as a JUnit property (``min_cosine_<level>``).
"""

import gc
import os
import pickle
import re
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import easynlu


def _cuda() -> bool:
    if not os.path.exists("/proc/driver/nvidia/version"):  # no NVIDIA driver: no torch import needed
        return False
    import torch

    return torch.cuda.is_available()


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU (torch sees none)")]

# shape -> (layers, hidden, heads): the BERT miniatures' hidden/64 heads, MiniLM's 12 heads of 32
SHAPES = {"L2_H128": (2, 128, 2), "L12_H128": (12, 128, 2), "L8_H512": (8, 512, 8), "L6_H384": (6, 384, 12),
          "L12_H768": (12, 768, 12)}
LEVELS = ("token", "sentence", "document")
MIN_COSINE = 0.999
ROOT = Path(__file__).resolve().parents[1]
LONG = " ".join(f"Sentence number {i} talks about the weather in city {i % 7} and its old trains." for i in range(90))
TEXTS = ["I love NLP.", "Paris is nice in spring. The museums open late on Fridays!", "",
         "Naïve café owners write 中文, emoji 😀 and numbers like 3.14.", LONG, "One more short text."]
MiB = 2**20
WIDE = 65536  # feed-forward width of the out-of-memory model: 4 * 65536 bytes of float16 activations a token
WORDS = ("the of and to in was he is for on as with by at from his it an were are which this also be had first one "
         "their its new after but who not they have her she two been other when there all during into school time "
         "may years more most only over city some world would where later up such used many can state about").split()


@pytest.fixture(scope="module")
def models():
    """benchmarks/models.py (build_bert), registered as a module so that its dataclasses work."""
    import importlib.util

    name = "easynlu_bench_models"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "models.py")
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def bert_dir(models, tmp_path_factory):
    """``bert_dir(shape)``: the random BERT of that shape, built once."""
    built = {}

    def get(shape):
        if shape not in built:
            layers, hidden, heads = SHAPES[shape]
            built[shape] = models.build_bert(tmp_path_factory.mktemp(shape), layers, hidden, heads)
        return built[shape]

    return get


@pytest.fixture(scope="module")
def on_cpu(bert_dir):
    """``on_cpu(shape, level)``: float32 torch on the CPU, the reference, computed once."""
    done = {}

    def get(shape, level):
        if (shape, level) not in done:
            pipe = easynlu.load(str(bert_dir(shape)), device="cpu", dtype="float32", backend="torch")
            done[shape, level] = pipe.predict(TEXTS, output_level=level, positions=True, progress=False)
        return done[shape, level]

    return get


def vector_column(frame):
    (column,) = [c for c in frame.columns if str(c).endswith("_embeddings")]
    return frame[column]


def row_cosines(got, want) -> np.ndarray:
    """Per-row cosine of two vector columns, after checking the same rows have no vector."""
    missing = [v is None for v in got]
    assert missing == [v is None for v in want]
    a = np.stack([v for v in got if v is not None]).astype(np.float64)
    b = np.stack([v for v in want if v is not None]).astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def assert_float32_vectors(frame) -> None:
    for v in vector_column(frame):
        assert v is None or (isinstance(v, np.ndarray) and v.dtype == np.float32)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_gpu_half_precision_matches_float32_on_the_cpu(shape, dtype, bert_dir, on_cpu, record_property):
    pipe = easynlu.load(str(bert_dir(shape)), device="cuda", dtype=dtype, backend="torch")
    for level in LEVELS:
        got = pipe.predict(TEXTS, output_level=level, positions=True, progress=False)
        want = on_cpu(shape, level)
        assert got.index.equals(want.index)
        text_columns = [c for c in want.columns if not str(c).endswith("_embeddings")]
        assert list(got.columns) == list(want.columns)
        assert got[text_columns].equals(want[text_columns])  # same rows, texts and offsets
        assert_float32_vectors(got)
        cosine = float(row_cosines(vector_column(got), vector_column(want)).min())
        record_property(f"min_cosine_{level}", round(cosine, 6))
        print(f"min cosine {shape} {dtype} {level}: {cosine:.6f}")
        assert cosine >= MIN_COSINE, f"{shape} {dtype} {level}: min cosine {cosine}"
    loaded = [m for m in easynlu.loaded_models() if m.path == str(bert_dir(shape)) and m.device.startswith("cuda")]
    assert {m.dtype for m in loaded} >= {dtype}


def test_gpu_default_is_torch_in_float16_with_float32_numpy_out(bert_dir, on_cpu):
    import torch

    pipe = easynlu.load(str(bert_dir("L2_H128")), backend="auto")  # what a user gets with no options
    assert (pipe.placement.device, pipe.placement.dtype, pipe.placement.backend) == ("cuda", "float16", "torch")
    vectors = pipe.embed(TEXTS, progress=False)
    assert isinstance(vectors, np.ndarray) and vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 128)
    assert np.isnan(vectors[2]).all() and np.isfinite(np.delete(vectors, 2, axis=0)).all()
    assert_float32_vectors(pipe.predict(TEXTS, progress=False))
    backend = next(m for m in easynlu.loaded_models() if m.path == str(bert_dir("L2_H128")) and m.dtype == "float16")
    assert backend.device == "cuda" and backend.backend == "torch"
    assert torch.cuda.memory_allocated() > 0


@pytest.fixture(scope="module")
def wide_pipe(models, tmp_path_factory):
    """One layer with a 65,536-wide feed-forward block: cheap to run, 256 KiB of activations a token."""
    path = models.build_bert(tmp_path_factory.mktemp("wide"), layers=1, hidden=128, heads=2, intermediate=WIDE)
    pipe = easynlu.load(str(path), device="cuda", backend="torch")
    pipe.embed(["warm up"], progress=False)
    yield pipe
    easynlu.unload(str(path))


def word_texts(n: int, words: int = 500, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=words)) for _ in range(n)]


def test_gpu_out_of_memory_halves_a_batch_too_large_for_the_card(wide_pipe, monkeypatch):
    import torch
    from transformers import AutoTokenizer

    from easynlu.backends import batching

    card = torch.cuda.get_device_properties(0).total_memory
    texts = word_texts(1 + int(3 * card / (4 * WIDE)) // 500)  # one batch would need ~3x the card
    counts = [len(ids) for ids in AutoTokenizer.from_pretrained(wide_pipe.components[0].model)(texts)["input_ids"]]
    assert max(counts) <= 512 and sum(counts) * 4 * WIDE > 2 * card  # one window a text; ~3x the card in all
    start, ooms = torch.cuda.memory_allocated(), torch.cuda.memory_stats()["num_ooms"]
    monkeypatch.setattr(batching, "TOKEN_BUDGET", 10**9)  # far too large: all windows in one batch
    halved = wide_pipe.embed(texts, progress=False)
    assert torch.cuda.memory_stats()["num_ooms"] > ooms  # the card really ran out, and easynlu carried on
    monkeypatch.setattr(batching, "TOKEN_BUDGET", 4096)
    small = wide_pipe.embed(texts, progress=False)
    assert halved.shape == small.shape == (len(texts), 128) and halved.dtype == np.float32
    assert np.isfinite(halved).all()
    assert row_cosines(list(halved), list(small)).min() >= 0.9999
    gc.collect()
    torch.cuda.empty_cache()
    assert abs(torch.cuda.memory_allocated() - start) < 16 * MiB


def test_gpu_one_window_that_cannot_fit_raises_out_of_memory_with_the_advice(wide_pipe):
    import torch

    text = word_texts(1, seed=1)
    gc.collect()
    torch.cuda.empty_cache()
    start = torch.cuda.memory_allocated()
    # Leave 32 MiB beside what is held: one window's 500 tokens need 4 * 64 MiB of feed-forward activations.
    card = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction((torch.cuda.memory_reserved() + 32 * MiB) / card)
    try:
        with pytest.raises(easynlu.OutOfMemoryError) as caught:
            wide_pipe.embed(text, progress=False)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    error = caught.value
    assert isinstance(error, easynlu.DeviceError) and isinstance(error.__cause__, torch.cuda.OutOfMemoryError)
    message = str(error)
    assert re.search(r"split the batch down to one window of \d+ tokens and it still does not fit on cuda", message)
    assert "Free memory on the device" in message and "easynlu.load(..., device='cpu')" in message
    del caught, error  # the traceback holds the failed batch's tensors
    gc.collect()
    torch.cuda.empty_cache()
    assert abs(torch.cuda.memory_allocated() - start) < 16 * MiB
    assert np.isfinite(wide_pipe.embed(text, progress=False)).all()  # the pipeline still works


def test_gpu_device_cuda0_and_gpu_true(bert_dir):
    path = str(bert_dir("L2_H128"))
    by_index = easynlu.load(path, device="cuda:0", backend="torch")
    insisted = easynlu.load(path, gpu=True, backend="torch")
    assert (by_index.placement.device, insisted.placement.device) == ("cuda:0", "cuda")
    a, b = by_index.embed(TEXTS, progress=False), insisted.embed(TEXTS, progress=False)
    np.testing.assert_allclose(a, b, atol=1e-3, equal_nan=True)
    devices = {m.device for m in easynlu.loaded_models() if m.path == path}
    assert {"cuda:0", "cuda"} <= devices


def test_gpu_two_pipelines_on_one_gpu(bert_dir):
    small, minilm = str(bert_dir("L2_H128")), str(bert_dir("L6_H384"))
    first = easynlu.load(small, device="cuda", backend="torch")
    alone = first.embed(TEXTS, progress=False)
    second = easynlu.load(minilm, device="cuda", backend="torch")
    other = second.embed(TEXTS, progress=False)
    np.testing.assert_allclose(first.embed(TEXTS, progress=False), alone, atol=1e-3, equal_nan=True)
    both = easynlu.load(f"{small} {minilm}", device="cuda", backend="torch").embed(TEXTS, progress=False)
    assert both.shape == (len(TEXTS), 128 + 384)
    np.testing.assert_allclose(both, np.hstack([alone, other]), atol=1e-3, equal_nan=True)
    on_gpu = {m.path for m in easynlu.loaded_models() if m.device == "cuda"}
    assert {small, minilm} <= on_gpu


def test_gpu_pipeline_used_from_four_threads(bert_dir):
    path = str(bert_dir("L6_H384"))
    easynlu.unload(path)
    pipe = easynlu.load(path, device="cuda", backend="torch")  # not loaded yet: the threads race to load it
    chunks = [TEXTS[i:] + TEXTS[:i] for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        frames = list(pool.map(lambda texts: pipe.predict(texts, output_level="sentence", progress=False), chunks))
    assert len([m for m in easynlu.loaded_models() if m.path == path]) == 1
    for texts, frame in zip(chunks, frames, strict=True):
        want = pipe.predict(texts, output_level="sentence", progress=False)
        assert frame.index.equals(want.index) and frame["sentence"].equals(want["sentence"])
        assert row_cosines(vector_column(frame), vector_column(want)).min() >= 0.9999


def test_gpu_predict_to_parquet_streams_on_the_gpu(bert_dir, tmp_path):
    import pandas as pd

    pipe = easynlu.load(str(bert_dir("L6_H384")), device="cuda", backend="torch")
    texts = TEXTS * 3
    out = pipe.predict_to_parquet(texts, tmp_path / "vectors.parquet", chunk_size=4, output_level="sentence")
    read = pd.read_parquet(out).set_index("index")
    want = pipe.predict(texts, output_level="sentence", progress=False)
    assert list(read.index) == list(want.index) and list(read["sentence"]) == list(want["sentence"])
    column = vector_column(read)
    got = [None if v is None else np.asarray(v, dtype=np.float32) for v in column]
    assert row_cosines(got, vector_column(want)).min() >= 0.9999


def test_gpu_pipeline_pickled_on_the_cpu_loads_on_the_gpu(bert_dir, tmp_path):
    """As Spark ships it: pickled where no GPU is seen, unpickled here, where the GPU is chosen."""
    path = str(bert_dir("L2_H128"))
    script = textwrap.dedent(f"""
        import pickle, numpy as np, easynlu
        pipe = easynlu.load({path!r}, backend="torch")
        vectors = pipe.embed({TEXTS!r}, progress=False)
        assert pipe.placement.device == "cpu", pipe.placement
        np.save({str(tmp_path / "cpu.npy")!r}, vectors)
        with open({str(tmp_path / "pipe.pkl")!r}, "wb") as f:
            pickle.dump(pipe, f)
    """)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "pipe.pkl", "rb") as f:
        pipe = pickle.load(f)
    assert not pipe.loaded
    assert (pipe.placement.device, pipe.placement.dtype) == ("cuda", "float16")
    got, want = pipe.embed(TEXTS, progress=False), np.load(tmp_path / "cpu.npy")
    assert row_cosines([None if np.isnan(v).all() else v for v in got],
                       [None if np.isnan(v).all() else v for v in want]).min() >= MIN_COSINE
