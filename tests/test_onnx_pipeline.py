"""The ONNX backend through the public API: load(backend=...), the default, save, export, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import easynlu
from easynlu import cli, loaded
from easynlu.backends import export

TEXTS = ["I love NLP.", "Paris is nice. So is Rome!", ""]


def test_onnx_pipeline_equals_torch_at_every_level(tiny_bert, tiny_bert_onnx):
    onnx = easynlu.load(str(tiny_bert), backend="onnx")
    torch = easynlu.load(str(tiny_bert), backend="torch")
    for level in ("token", "sentence", "document"):
        a, b = onnx.predict(TEXTS, level, positions=True), torch.predict(TEXTS, level, positions=True)
        assert a.drop(columns=a.columns[-1]).equals(b.drop(columns=b.columns[-1]))
        got, want = np.stack(a.iloc[:, -1].dropna()), np.stack(b.iloc[:, -1].dropna())
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert {m.backend for m in easynlu.loaded_models() if m.path == str(tiny_bert)} == {"onnx", "torch"}


def test_onnx_auto_falls_back_to_torch_when_the_export_fails(tiny_bert, monkeypatch):
    def broken(path, quantize=None):
        raise easynlu.ModelUnavailableError("Cannot export the model to ONNX (test).", fix="load it with torch")

    monkeypatch.setattr(export, "ensure", broken)
    easynlu.unload(str(tiny_bert))
    with pytest.warns(easynlu.EasyNLUWarning, match="runs this model on torch instead"):
        vectors = easynlu.load(str(tiny_bert), backend="auto").embed(["hello"])
    assert vectors.shape == (1, 64)
    assert [m.backend for m in easynlu.loaded_models() if m.path == str(tiny_bert)] == ["torch"]
    with pytest.raises(easynlu.ModelUnavailableError, match="test"):  # asked for by name: no fallback
        easynlu.load(str(tiny_bert), backend="onnx").embed(["hello"])
    easynlu.unload(str(tiny_bert))


@pytest.mark.slow
def test_onnx_save_carries_the_export_and_loads_without_torch(tiny_bert, tiny_bert_onnx, tmp_path):
    pipe = easynlu.load(str(tiny_bert), backend="onnx")
    expected = pipe.embed(TEXTS[:2])
    directory = pipe.save(tmp_path / "saved")
    manifest = json.loads((directory / "easynlu.json").read_text())
    assert manifest["backend"] == "onnx"
    rel = manifest["components"][0]["dir"] + "/easynlu-onnx/float32/"
    assert {rel + name for name in ("model.onnx", "tokenizer.json", "easynlu-onnx.json")} <= set(manifest["files"])
    code = (f"import sys, json, easynlu\n"
            f"v = easynlu.load({str(directory)!r}).embed({TEXTS[:2]!r})\n"
            f"print(json.dumps(v.tolist())); print('torch' in sys.modules, 'transformers' in sys.modules)")
    env = {**os.environ, "EASYNLU_CACHE_DIR": str(tmp_path / "empty-cache"), "EASYNLU_BACKEND": "auto"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    vectors, modules = out.stdout.splitlines()
    np.testing.assert_allclose(np.array(json.loads(vectors), dtype=np.float32), expected, rtol=0, atol=1e-6)
    assert modules == "False False"
    assert not (tmp_path / "empty-cache" / "onnx").exists() or not any((tmp_path / "empty-cache" / "onnx").glob(
        "*/model.onnx"))  # nothing exported again


def test_onnx_export_command_and_predict_with_the_backend(tiny_bert, tiny_bert_onnx, capsys):
    assert cli.main(["export", str(tiny_bert)]) == 0
    assert capsys.readouterr().out == f"{tiny_bert}: ONNX export in {tiny_bert_onnx}\n"
    assert easynlu.export(str(tiny_bert)) == {str(tiny_bert): tiny_bert_onnx}
    assert cli.main(["predict", "I love NLP", "-m", str(tiny_bert), "--backend", "onnx", "--threads", "1",
                     "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["token"] for r in rows] == ["I", "love", "NLP"]
    with pytest.raises(easynlu.OptionError, match="quantize='int4'"):
        easynlu.export(str(tiny_bert), quantize="int4")
    assert cli.main(["predict", "hi", "-m", str(tiny_bert), "--backend", "onnx", "--dtype", "bfloat16"]) == 2
    assert "backend='torch'" in capsys.readouterr().err
    assert loaded.listing()  # something stayed loaded for the next test
