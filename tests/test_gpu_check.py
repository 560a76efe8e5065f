"""tools/gpu_check.sh runs here, on the CPU, as it will on a GPU machine: the gpu tests are collected and
skip, the GPU benchmark runs its tiny CPU shape, and every result file is written."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROWS = {"easynlu.embed", "easynlu.token_df", "easynlu.embed@8192", "easynlu.token_df@8192", "raw.sentence@2048",
        "raw.token_df@2048", "st.default", "st.best"}


@pytest.mark.slow
def test_gpu_check_script_runs_on_the_cpu(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh"), str(out), "--cpu"], cwd=str(ROOT),
                          env=dict(os.environ, PYTHON=sys.executable), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert {p.name for p in out.iterdir()} == {"env.txt", "gpu-tests.xml", "gpu-tests.txt", "gpu-bench.json",
                                               "gpu-bench.txt", "summary.json"}

    cases = list(ET.parse(out / "gpu-tests.xml").getroot().iter("testcase"))
    assert len(cases) >= 10 and all(case.find("skipped") is not None for case in cases)
    assert "needs a CUDA GPU" in (out / "gpu-tests.txt").read_text()

    bench = json.loads((out / "gpu-bench.json").read_text())
    assert bench["machine"]["device"] == "cpu" and bench["correct"] is True
    (config,) = bench["configs"].values()
    assert (config["shape"], config["dtype"]) == ("tiny", "float32")
    assert set(config["rows"]) == ROWS
    for key, row in config["rows"].items():
        assert row["sentences_per_s"] > 0 and row["real_tokens_per_s"] > row["sentences_per_s"], key
        assert row["gpu_busy_s"] is None  # no GPU: nothing to profile
        assert row.get("rows_match", True) and row["min_cos_vs_raw"] > 0.9999, key
    assert config["rows"]["st.default"]["x_st_default"] == pytest.approx(1.0)
    assert len(config["targets"]) == 3 and all(isinstance(v, bool) for v in config["targets"].values())
    for line in ("### tiny float32", "x ST default", "embed() >= 2.0x ST.encode (defaults)"):
        assert line in (out / "gpu-bench.txt").read_text()

    summary = json.loads((out / "summary.json").read_text())
    assert summary["tests_exit"] == 0 and summary["bench_exit"] == 0
    assert summary["tests"] == {"skipped": len(cases)} and summary["targets"] == {"tiny/float32": config["targets"]}


def test_gpu_benchmark_busy_time_counts_overlapping_kernels_once():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpu

    assert gpu.union_seconds([]) == 0.0
    assert gpu.union_seconds([(0.0, 10.0)]) == pytest.approx(10e-6)
    # two overlapping kernels (0-10, 5-12), a gap, one nested pair (20-30 holding 22-25), one touching (30-31)
    spans = [(20.0, 30.0), (0.0, 10.0), (22.0, 25.0), (5.0, 12.0), (30.0, 31.0)]
    assert gpu.union_seconds(spans) == pytest.approx((12 + 11) * 1e-6)
