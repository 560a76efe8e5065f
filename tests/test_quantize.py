"""int8 quantisation of an ONNX export: smaller, close to fp32, written atomically, torch-free."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from easynlu.backends import quantize as q  # noqa: E402
from easynlu.errors import ModelUnavailableError  # noqa: E402

SENTENCES = [
    "The cat sat on the mat.",
    "Quantisation keeps most of the signal.",
    "A very small random BERT is enough to check the plumbing of int8 weights.",
    "Hello",
    "Numbers like 3.14159 and 2,718 become several word pieces each.",
    "Short and sweet.",
]


@pytest.fixture(scope="module")
def fp32_onnx(tiny_bert_onnx) -> Path:
    """easynlu's fp32 export of the tiny random BERT (weights in an external data file)."""
    return tiny_bert_onnx / "model.onnx"


@pytest.fixture(scope="module")
def int8_onnx(fp32_onnx, tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("int8") / "model.int8.onnx"
    q.quantize_int8(fp32_onnx, dst)
    return dst


def sentence_vectors(model: Path, tokenizer_dir: Path) -> np.ndarray:
    """Mean-pooled, L2-normalised last hidden states of SENTENCES, one padded batch."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    ids = [e.ids for e in tok.encode_batch(SENTENCES)]
    width = max(map(len, ids))
    input_ids = np.zeros((len(ids), width), np.int64)
    mask = np.zeros_like(input_ids)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
    (hidden,) = session.run(["last_hidden_state"], {i.name: feed[i.name] for i in session.get_inputs()})
    weights = mask[..., None].astype(np.float32)
    vectors = (hidden * weights).sum(1) / weights.sum(1)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_int8_file_is_smaller_and_its_matmuls_are_integer(fp32_onnx, int8_onnx):
    import onnx

    fp32_bytes = sum(f.stat().st_size for f in fp32_onnx.parent.glob("model.onnx*"))  # + external weights
    assert int8_onnx.stat().st_size < fp32_bytes
    fp32 = onnx.load(str(fp32_onnx))
    roles = q.matmul_roles(fp32)
    assert len(roles) == 2 * 6 + 1  # 2 layers x (q, k, v, attention out, FFN up, FFN down) + pooler
    nodes = onnx.load(str(int8_onnx)).graph.node
    ops = [n.op_type for n in nodes]
    assert ops.count("MatMulInteger") + ops.count("DynamicQuantizeMatMul") == 2 * 6
    assert "Gather" in ops  # embeddings stay fp32 lookups
    (pooler,) = [name for name, (role, _) in roles.items() if role == "pooler"]
    assert {n.op_type for n in nodes if n.name.startswith(pooler)} <= {"Gemm", "MatMul", "Add"}  # stays fp32


def test_int8_vectors_close_to_fp32(fp32_onnx, int8_onnx, tiny_bert):
    fp32 = sentence_vectors(fp32_onnx, tiny_bert)
    int8 = sentence_vectors(int8_onnx, tiny_bert)
    assert fp32.shape == int8.shape == (len(SENTENCES), 64)
    cosine = (fp32 * int8).sum(1)
    assert cosine.min() > 0.9
    assert not np.allclose(fp32, int8, atol=1e-6)  # it really is quantised


def test_matmul_roles_of_minilm_shape(fp32_onnx):
    import onnx

    roles = q.matmul_roles(onnx.load(str(fp32_onnx)))
    by_layer: dict[int, list[str]] = {}
    for role, layer in roles.values():
        by_layer.setdefault(layer, []).append(role)
    assert {k: sorted(v) for k, v in by_layer.items()} == {
        0: ["attn_out", "ffn_down", "ffn_up", "qkv", "qkv", "qkv"],
        1: ["attn_out", "ffn_down", "ffn_up", "qkv", "qkv", "qkv"],
        2: ["pooler"],
    }


def test_failed_quantisation_leaves_no_partial_file(fp32_onnx, tmp_path, monkeypatch):
    import onnxruntime.quantization as ortq

    def half_written(model, out, **kwargs):
        Path(out).write_bytes(b"partial")
        raise RuntimeError("killed half way")

    monkeypatch.setattr(ortq, "quantize_dynamic", half_written)
    dst = tmp_path / "cache" / "model.int8.onnx"
    with pytest.raises(ModelUnavailableError, match="killed half way"):
        q.quantize_int8(fp32_onnx, dst)
    assert list(dst.parent.iterdir()) == []  # neither dst nor its temporary file

    dst.write_bytes(b"previous good file")
    with pytest.raises(ModelUnavailableError):
        q.quantize_int8(fp32_onnx, dst)
    assert dst.read_bytes() == b"previous good file"
    assert [p.name for p in dst.parent.iterdir()] == [dst.name]


def test_unreadable_source_says_what_to_do(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(ModelUnavailableError, match="quantize=None") as info:
        q.quantize_int8(bad, tmp_path / "model.int8.onnx")
    assert str(bad) in str(info.value)
    assert not (tmp_path / "model.int8.onnx").exists()


def test_quality_note_has_measured_figures():
    assert q.QUALITY_NOTE.startswith("int8: cosine to float32 vectors min 0.9")
    assert re.search(r"min 0\.9\d\d \(mean 0\.9\d+\)", q.QUALITY_NOTE)


def test_quantize_imports_no_torch(fp32_onnx, tmp_path):
    code = (
        "import sys; from pathlib import Path; from easynlu.backends.quantize import quantize_int8; "
        f"quantize_int8(Path({str(fp32_onnx)!r}), Path({str(tmp_path / 'm.onnx')!r})); "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
