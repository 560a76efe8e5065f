"""Device, dtype and backend choice: what load() accepts, what it refuses and what it imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

import easynlu
from easynlu.options import DEFAULT_BACKEND, LoadOptions
from easynlu.placement import Placement
from easynlu.placement import place as place_options


def place(**options):
    return place_options(LoadOptions(**options))


def test_placement_backend_comes_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.delenv("EASYNLU_BACKEND", raising=False)
    assert LoadOptions().requested_backend == DEFAULT_BACKEND == "auto"
    monkeypatch.setenv("EASYNLU_BACKEND", "ONNX")
    assert LoadOptions().requested_backend == "onnx"
    assert LoadOptions(backend="torch").requested_backend == "torch"
    monkeypatch.setenv("EASYNLU_BACKEND", "tensorflow")
    with pytest.raises(easynlu.OptionError, match="EASYNLU_BACKEND='tensorflow' is not a backend: use 'torch'"):
        easynlu.load("embed")  # refused at load, not at the first predict


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"backend": "jax"}, "backend='jax' is not a backend: use 'torch', 'onnx' or 'auto'"),
    ({"quantize": "int4"}, "quantize='int4' is not supported: use quantize='int8'"),
    ({"threads": 0}, "threads=0 is not a positive number of threads"),
    ({"threads": "2"}, "threads='2' is not a positive number of threads"),
])
def test_placement_bad_values_fail_at_load_and_say_what_to_type(kwargs, message):
    with pytest.raises(easynlu.OptionError, match=message):
        easynlu.load("embed", **kwargs)


def test_placement_default_is_auto_which_is_onnx_on_this_cpu(monkeypatch):
    monkeypatch.delenv("EASYNLU_BACKEND", raising=False)
    assert place() == Placement("cpu", "float32", "onnx", auto=True)
    assert place(backend="torch") == Placement("cpu", "float32", "torch")
    monkeypatch.setattr("easynlu.options.has_onnxruntime", lambda: False)  # without easynlu[onnx]
    assert place() == Placement("cpu", "float32", "torch", auto=True)


def test_placement_onnx_is_the_cpu_in_float32_with_quantize_and_threads():
    assert place(backend="onnx", quantize="int8", threads=1) == Placement("cpu", "float32", "onnx", "int8", 1)
    assert place(backend="auto") == Placement("cpu", "float32", "onnx", auto=True)


def test_placement_onnx_refuses_what_onnx_runtime_does_not_run_here():
    with pytest.raises(easynlu.OptionError, match="backend='torch'"):
        place(backend="onnx", dtype="bfloat16")
    with pytest.raises(easynlu.OptionError):
        place(backend="torch", quantize="int8")
    assert place(backend="auto", dtype="bfloat16").backend == "torch"  # auto: bf16 is torch's


def test_placement_of_an_onnx_pipeline_imports_no_torch():
    code = ("import sys, easynlu\n"
            "p = easynlu.load('embed', backend='onnx')\n"
            "print(p.placement, 'torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split()[-2:] == ["False", "False"], out.stdout + out.stderr


def test_placement_is_part_of_the_pipeline_info_and_its_pickle():
    import pickle

    pipe = easynlu.load("embed", backend="onnx", quantize="int8", threads=1)
    assert pipe.load_options == LoadOptions(backend="onnx", quantize="int8", threads=1)
    again = pickle.loads(pickle.dumps(pipe))
    assert again.load_options == pipe.load_options
    assert again._placed is None  # placed again where it is unpickled
    assert again.info()["backend"] == "onnx"
    assert easynlu.load("embed").info()["backend"] == "not chosen yet"
