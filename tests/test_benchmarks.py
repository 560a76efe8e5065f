"""The benchmark's correctness check, on a small slice: every contender's vectors agree with the
raw transformers loop (benchmarks/raw.py) to a minimum cosine of 0.99999 in float32."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmark_contenders_agree_with_the_raw_loop(tmp_path):
    out = tmp_path / "check.json"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--check", "--n", "64", "--models", "minilm",
         "--json", str(out)],
        capture_output=True, text=True, timeout=300, env=env, cwd=str(ROOT),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    results = json.loads(out.read_text())
    contenders = results["models"]["minilm"]["contenders"]
    checked = {key: entry["min_cosine"] for key, entry in contenders.items() if "min_cosine" in entry}
    assert set(checked) == {"easynlu.sentence", "easynlu.token", "easynlu.document", "st.default",
                            "st.bs128", "pipeline"}
    for key, cos in checked.items():
        assert cos >= 0.99999, f"{key}: min cosine {cos} against the raw loop"
    token = contenders["easynlu.token"]
    assert token["token_text_mismatches"] == 0
    assert results["correct"] is True


def _bench_module(name):
    """benchmarks/NAME.py as a module (cpu.py and quality.py import only numpy, easynlu's light modules and the
    benchmark helpers at the top)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"easynlu_bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cpu_module():
    return _bench_module("cpu")


def test_cpu_benchmark_targets_and_results_section(tmp_path):
    cpu = _cpu_module()
    rows = {"raw.sentence": {"per_s": 100.0}, "st.default": {"per_s": 70.0},
            "st.onnx": {"skip": "venv st-onnx missing: create it with `bash benchmarks/venvs.sh st-onnx`"},
            "ort.loop": {"per_s": 140.0, "min_cos": 0.9999999, "x_raw": 1.4, "x_st": 2.0},
            "easynlu.torch": {"per_s": 105.0, "min_cos": 0.9999999},
            "easynlu.torch_bf16": {"per_s": 230.0, "min_cos": 0.99994},
            "easynlu.onnx": {"per_s": 150.0, "min_cos": 0.9999999},
            "easynlu.onnx_int8": {"per_s": 300.0, "min_cos": 0.98, "mean_cos": 0.99}}
    status = {t["what"]: t["status"] for t in cpu.targets(rows, None)}
    assert status["backend='onnx' fp32 vs PyTorch raw loop"] == "PASS"       # 1.5x >= 1.3x
    assert status["backend='onnx' fp32 vs ST default encode"] == "PASS"      # 2.14x >= 1.8x
    assert status["backend='onnx' fp32 vs every fp32 ONNX contender"] == "PASS"  # 150 >= 140, st.onnx skipped
    assert status["quantize='int8' vs backend='onnx' fp32"] == "FAIL"         # 2.0x < 2.5x
    bf16 = "fastest easynlu setting with min cos >= 0.9999 vs easynlu fp32 (easynlu.torch)"
    assert status[bf16] == "PASS"                                             # bf16 2.19x >= 1.9x
    assert status["fastest exact easynlu setting vs ST OpenVINO"] == "SKIP"   # not measured

    result = {"rows": rows, "n": 64, "rounds": 1, "corpus_sha256": "0" * 64, "onnx_export": "test",
              "machine": {"cores": 2, "cpu": "test", "avx512_bf16": True, "amx_bf16": False},
              "cold": None, "targets": cpu.targets(rows, None)}
    text = cpu.table(result)
    assert "not available: venv st-onnx missing" in text
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text(f"# run.py\n\n{cpu.OTHER_SCRIPTS}\n## Spark\n\nkept\n", encoding="utf-8")
    for _ in range(2):  # a second write replaces the section instead of adding one
        cpu.write_section(f"{cpu.SECTION} (test)\n\n{text}", results_md)
    written = results_md.read_text(encoding="utf-8")
    assert written.startswith("# run.py\n") and "## Spark\n\nkept\n" in written
    assert written.count(cpu.SECTION) == 1 and written.index("## Spark") < written.index(cpu.SECTION)


def test_cpu_benchmark_help():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cpu.py"), "--help"], capture_output=True,
                          text=True, timeout=60, cwd=str(ROOT))
    assert proc.returncode == 0 and "venvs.sh" in proc.stdout


def test_ceiling_benchmark_help():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ceiling.py"), "--help"], capture_output=True,
                          text=True, timeout=60, cwd=str(ROOT))
    assert proc.returncode == 0 and "float32" in proc.stdout and "--rounds" in proc.stdout


def test_quality_benchmark_variants_keep_the_roles_asked_in_float(tiny_bert_onnx, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    quality = _bench_module("quality")
    dst = tmp_path / "ffn-only.onnx"
    quality.quantize_variant(tiny_bert_onnx / "model.onnx", dst, keep_fp32=("qkv", "attn_out"))
    ops = [n.op_type for n in onnx.load(str(dst)).graph.node]
    assert ops.count("MatMulInteger") + ops.count("DynamicQuantizeMatMul") == 2 * 2 + 1  # FFN up, down; pooler
    assert "Gemm" not in ops
    with pytest.raises(ValueError, match="keep_fp32"):
        quality.quantize_variant(tiny_bert_onnx / "model.onnx", tmp_path / "x.onnx", keep_fp32=("ffn",))


def test_cpu_benchmark_issue25_targets_per_cpu_family(monkeypatch):
    targets = _bench_module("cpu_targets")
    rows = {"raw.sentence": {"per_s": 100.0}, "ort.loop": {"per_s": 120.0},
            "ov.direct": {"per_s": 180.0, "note": "precision f32"}, "ov.direct_bf16": {"per_s": 200.0},
            "ov.direct_f32": {"per_s": 110.0},
            "easynlu.torch": {"per_s": 105.0, "sts_spearman": 0.8203},
            "easynlu.torch_bf16": {"per_s": 210.0, "min_cos": 0.99994, "first_x_warm": 1.3},
            "easynlu.onnx": {"per_s": 150.0},
            "easynlu.onnx_int8": {"per_s": 300.0, "min_cos": 0.98, "mean_cos": 0.995, "sts_spearman": 0.8150}}
    got = {t["what"]: t for t in targets.family_targets(rows, "avx512_bf16", "AMD EPYC")}
    assert got["[avx512_bf16] easynlu bf16 vs easynlu torch fp32"]["status"] == "PASS"  # 2.0x >= 1.9x
    assert got["[avx512_bf16] easynlu bf16 vs OpenVINO direct (its fastest row)"]["status"] == "PASS"  # 210 >= 200
    assert got["[AVX2] easynlu's fastest fp32 vs every fp32 peer"]["status"] == "SKIP"
    amx = [t for what, t in got.items() if what.startswith("[AMX]")]
    assert len(amx) == 3 and all(t["status"] == "SKIP" and "needs an AMX CPU" in t["measured"] for t in amx)
    int8 = got["[every CPU] int8 is the fastest stack measured"]
    assert int8["status"] == "PASS" and "1.43x the next (easynlu.torch_bf16)" in int8["measured"]
    assert "STS-B dev Spearman 0.8150 vs fp32 0.8203" in int8["measured"]

    got = {t["what"]: t["status"] for t in targets.family_targets(rows, "AMX", "Xeon")}
    assert got["[AMX] easynlu bf16 vs easynlu torch fp32"] == "FAIL"            # 2.0x < 2.7x
    assert got["[AMX] easynlu bf16 first pass over the texts vs a warm pass"] == "FAIL"  # 1.3x > 1.15x
    from easynlu.backends import device

    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset({"avx2"}))
    monkeypatch.setattr(device, "_warned_slow_bf16", False)
    got = {t["what"]: t for t in targets.family_targets(rows, "AVX2", "an AVX2 CPU")}
    assert got["[AVX2] dtype='bfloat16' refused or warned as slow"]["status"] == "PASS"
    fp32 = got["[AVX2] easynlu's fastest fp32 vs every fp32 peer"]  # ov.direct ran in f32: a peer, 180 > 150
    assert fp32["status"] == "FAIL" and "easynlu.onnx vs ov.direct" in fp32["measured"]


def test_sts_dev_is_read_by_tabs_and_scored_by_spearman(tmp_path, monkeypatch):
    import zipfile

    import numpy as np

    stsb = _bench_module("stsb")
    path = tmp_path / stsb.WHEEL
    lines = ['main-captions\tMSRvid\t2012test\t0000\t5.000\tA "man" is dancing.\tA man dances.',
             "main-news\theadlines\t2015\t0001\t1.5\tStocks fell.\tIt rained.\tsource-a\tsource-b"]
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(stsb.MEMBER.format(split="dev"), "\n".join(lines) + "\n")
    monkeypatch.setenv("STSB_WHEEL", str(path))
    dev = stsb.read("dev")
    assert dev["score"].tolist() == [5.0, 1.5] and dev["text_a"].tolist() == ['A "man" is dancing.', "Stocks fell."]
    assert dev["text_b"].tolist() == ["A man dances.", "It rained."]
    with pytest.raises(ValueError, match="test split is never used"):
        stsb.read("test")
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.0, 1.0], [1.0, 0.0]])
    # pairs (0, 3): cos ~1, (1, 4) and (2, 5): cos 0; gold 4, 1, 1: the same ranking, tie included
    assert stsb.score(vectors, np.array([4.0, 1.0, 1.0])) == pytest.approx(1.0)