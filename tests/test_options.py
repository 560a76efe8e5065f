"""easynlu.options: the one definition of predict/embed's keywords, checked before anything loads."""

import dataclasses
import inspect
import os
import subprocess
import sys

import pytest

import easynlu
from easynlu import cli
from easynlu.options import FRAME_ONLY, LAYER_POOLINGS, LEVELS, NAMES, POOLINGS, SUBWORD_POOLINGS, LoadOptions, Options
from easynlu.pipeline import Pipeline


def test_options_defaults_are_the_documented_ones():
    o = Options()
    assert (o.output_level, o.positions, o.pooling, o.subword_pooling, o.layers, o.layer_pooling,
            o.normalize, o.batch_size, o.progress, o.text_column) == (
        None, False, None, "first", -1, "mean", False, None, None, None)
    assert o.layer_indices == (-1,)
    assert LEVELS == ("token", "sentence", "document") and POOLINGS == ("mean", "max", "cls")
    assert SUBWORD_POOLINGS == ("first", "last", "mean", "max") and LAYER_POOLINGS == ("mean", "concat")


def test_options_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Options().pooling = "max"


@pytest.mark.parametrize("method, skipped", [(Pipeline.predict, {"self", "data"}),
                                             (Pipeline.embed, {"self", "texts"})])
def test_options_predict_and_embed_take_exactly_the_options_with_their_defaults(method, skipped):
    params = {n: p for n, p in inspect.signature(method).parameters.items() if n not in skipped}
    defaults = {f.name: f.default for f in dataclasses.fields(Options)}
    expected = NAMES if method is Pipeline.predict else tuple(n for n in NAMES if n not in FRAME_ONLY)
    assert tuple(params) == expected
    assert {n: p.default for n, p in params.items()} == {n: defaults[n] for n in expected}


def test_options_cli_choices_come_from_the_options():
    actions = {a.dest: a for sub in cli._parser()._subparsers._group_actions for a in sub.choices["predict"]._actions}
    assert tuple(actions["level"].choices) == LEVELS
    assert tuple(actions["pooling"].choices) == POOLINGS
    assert tuple(actions["subword_pooling"].choices) == SUBWORD_POOLINGS
    assert tuple(actions["layer_pooling"].choices) == LAYER_POOLINGS
    assert actions["pooling"].default == Options().pooling


@pytest.mark.parametrize("kwargs, message", [
    ({"output_level": "tokens"}, "output_level='tokens' is not supported: use one of 'token', 'sentence', 'document'"),
    ({"pooling": "avg"}, "pooling='avg' is not supported: use one of 'mean', 'max', 'cls'"),
    ({"pooling": "own"}, "pooling='own' is not supported"),
    ({"subword_pooling": "sum"}, "subword_pooling='sum' is not supported"),
    ({"layer_pooling": "sum"}, "layer_pooling='sum' is not supported: use one of 'mean', 'concat'"),
    ({"layers": "last"}, "layers='last': pass an int"),
    ({"layers": []}, "layers=\\[\\]: pass an int"),
    ({"layers": [1, True]}, "layers=\\[1, True\\]"),
    ({"layers": 1.0}, "layers=1.0"),
    ({"batch_size": 0}, "batch_size=0: pass a positive int"),
    ({"batch_size": 2.5}, "batch_size=2.5"),
    ({"batch_size": True}, "batch_size=True"),
    ({"normalize": "yes"}, "normalize='yes': pass True or False"),
    ({"positions": 1}, "positions=1: pass True or False"),
    ({"progress": "auto"}, "progress='auto': pass True or False"),
    ({"metadata": "yes"}, "metadata='yes': pass True or False"),
    ({"columns": "spark"}, "columns='spark' is not supported: use one of 'easynlu', 'nlu'"),
])
def test_options_refuse_bad_values_with_what_to_type(kwargs, message):
    with pytest.raises(easynlu.OptionError, match=message) as info:
        Options(**kwargs)
    assert isinstance(info.value, ValueError) and isinstance(info.value, easynlu.EasyNLUError)


def test_options_accept_numpy_ints_and_lists():
    np = pytest.importorskip("numpy")
    assert Options(layers=np.int64(-2)).layer_indices == (-2,)
    assert Options(layers=[-1, np.int32(-2)]).layer_indices == (-1, -2)
    assert Options(layers=(0,), batch_size=np.int64(8), normalize=np.bool_(True)).batch_size == 8


def test_options_bad_option_fails_before_torch_loads():
    code = (
        "import sys, easynlu\n"
        "p = easynlu.load('en.embed.minilm')\n"
        "for kwargs in ({'pooling': 'bogus'}, {'output_level': 'word'}, {'layers': 'last'}):\n"
        "    try:\n"
        "        p.predict(['x'], **kwargs)\n"
        "    except easynlu.OptionError as err:\n"
        "        print(type(err).__name__)\n"
        "try:\n"
        "    p.embed(['x'], subword_pooling='bogus')\n"
        "except ValueError as err:\n"
        "    print(type(err).__name__)\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.stdout.split() == ["OptionError"] * 4 + ["[]"]


# -- LoadOptions: load()'s options, defined once ---------------------------------------------------
@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"device": "gpu0"}, easynlu.DeviceError, "device='gpu0' is not a device easynlu knows: use 'cpu', 'cuda'"),
    ({"dtype": "int8"}, easynlu.DeviceError, "dtype='int8' is not supported: use 'float32', 'float16'"),
    ({"gpu": "yes"}, easynlu.OptionError, "gpu='yes': pass True or False"),
    ({"offline": 1}, easynlu.OptionError, "offline=1: pass True or False"),
    ({"backend": "jax"}, easynlu.OptionError, "backend='jax' is not a backend"),
    ({"quantize": "int4"}, easynlu.OptionError, "quantize='int4' is not supported"),
    ({"threads": -1}, easynlu.OptionError, "threads=-1 is not a positive number"),
    ({"share_cpu": "yes"}, easynlu.OptionError, "share_cpu='yes': pass True or False"),
    ({"backend": "torch", "quantize": "int8"}, easynlu.OptionError, "runs on the ONNX backend: pass backend='onnx'"),
    ({"backend": "onnx", "dtype": "bfloat16"}, easynlu.OptionError, "computes in float32, not bfloat16"),
    ({"backend": "onnx", "device": "cuda:1"}, easynlu.OptionError, "runs on the CPU here, not on cuda:1"),
    ({"backend": "auto", "quantize": "int8", "gpu": True}, easynlu.OptionError, "runs on the CPU here, not on cuda"),
])
def test_options_load_refuses_every_bad_value_at_load(kwargs, error, message):
    with pytest.raises(error, match=message):
        easynlu.load("embed", **kwargs)


def test_options_load_checks_without_importing_torch():
    code = ("import sys, easynlu\n"
            "for bad in ({'dtype': 'int8'}, {'device': 'gpu'}, {'backend': 'onnx', 'dtype': 'float16'}):\n"
            "    try:\n"
            "        easynlu.load('embed', **bad)\n"
            "    except easynlu.EasyNLUError:\n"
            "        pass\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_options_load_options_keep_strings_for_torch_values():
    import torch

    given = LoadOptions(device=torch.device("cpu"), dtype=torch.bfloat16)
    assert (given.device, given.dtype) == ("cpu", "bfloat16")
    assert LoadOptions(device=1, dtype="fp16").device == "cuda:1"
    assert LoadOptions(dtype="half").dtype == "float16"
    assert LoadOptions(threads=2, backend="onnx").given() == {"threads": 2, "backend": "onnx"}
    with pytest.raises(easynlu.OptionError, match="is not a backend"):
        LoadOptions().replace(backend="tf")


def test_options_every_load_option_is_a_keyword_of_load_and_a_flag_of_the_cli():
    signature = inspect.signature(easynlu.load)
    for option in dataclasses.fields(LoadOptions):
        assert signature.parameters[option.name].default == option.default
        assert signature.parameters[option.name].kind is inspect.Parameter.KEYWORD_ONLY
    with pytest.raises(easynlu.OptionTypeError, match="Its arguments are: request, path, verbose, device, gpu"):
        easynlu.load("embed", devices="cpu")
    parser = cli._parser()
    for command in ("predict", "save"):
        args = parser.parse_args([command, "x", *(["d"] if command == "save" else []), "--threads", "2",
                                  "--backend", "onnx", "--offline", "--gpu", "--device", "cpu", "--dtype", "float32",
                                  "--share-cpu"])
        assert cli._load_options(args) == {"threads": 2, "backend": "onnx", "offline": True, "gpu": True,
                                           "device": "cpu", "dtype": "float32", "share_cpu": True}
        assert cli._load_options(parser.parse_args([command, "x", *(["d"] if command == "save" else [])])) == {}


def test_options_a_saved_pipeline_keeps_its_load_options_and_takes_new_ones(tmp_path, tiny_bert):
    pipe = easynlu.load(str(tiny_bert), device="cpu", backend="torch", dtype="float32")
    pipe.save(tmp_path / "p")
    assert easynlu.load(tmp_path / "p").load_options == LoadOptions(device="cpu", dtype="float32", backend="torch",
                                                                    offline=True)
    assert easynlu.load(tmp_path / "p", backend="onnx", device=None).load_options == LoadOptions(
        dtype="float32", backend="onnx", offline=True)
