"""easynlu.options: the one definition of predict/embed's keywords, checked before anything loads."""

import dataclasses
import inspect
import os
import subprocess
import sys

import pytest

import easynlu
from easynlu import cli
from easynlu.options import FRAME_ONLY, LAYER_POOLINGS, LEVELS, NAMES, POOLINGS, SUBWORD_POOLINGS, Options
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
