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
