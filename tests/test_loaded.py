"""loaded_models() and unload(): what is in memory, and freeing it."""

import gc
import weakref

import numpy as np
import pytest
from conftest import make_bert_dir
from safetensors import safe_open

import easynlu


@pytest.fixture
def fresh(tmp_path):
    return make_bert_dir(tmp_path / "fresh-loaded", layers=2, hidden=64, heads=2, seed=5)


def expected_mb(model_dir) -> float:
    """Parameter bytes from the weights file, read independently of easynlu."""
    with safe_open(str(model_dir / "model.safetensors"), "np") as f:
        return sum(f.get_tensor(k).nbytes for k in f.keys()) / 2**20


def test_loaded_models_lists_device_dtype_and_memory(fresh):
    pipe = easynlu.load(str(fresh))
    assert str(fresh) not in [m.model for m in easynlu.loaded_models()]
    pipe.predict("x", progress=False)
    (mine,) = [m for m in easynlu.loaded_models() if m.model == str(fresh)]
    assert (mine.path, mine.device, mine.dtype) == (str(fresh), "cpu", "float32")
    # the file holds the parameters; memory adds buffers (position ids) only
    assert expected_mb(fresh) <= mine.memory_mb <= expected_mb(fresh) * 1.01 + 0.1


def test_loaded_models_catalogue_and_hf_share_one_entry():
    easynlu.load("en.embed.minilm").embed(["x"], progress=False)
    easynlu.load("hf:sentence-transformers/all-MiniLM-L6-v2").embed(["x"], progress=False)
    ids = [m.model for m in easynlu.loaded_models() if m.device == "cpu" and m.dtype == "float32"]
    assert ids.count("sentence-transformers/all-MiniLM-L6-v2") == 1
    (minilm,) = [m for m in easynlu.loaded_models() if m.model == "sentence-transformers/all-MiniLM-L6-v2"]
    assert 80 < minilm.memory_mb < 95  # 22.7 M float32 parameters


def test_loaded_unload_one_ref_frees_it_and_the_pipeline_loads_again(fresh):
    pipe = easynlu.load(str(fresh))
    before = pipe.embed(["I love NLP"], progress=False)
    backend = weakref.ref(pipe._parts()[0].backend)
    dropped = easynlu.unload(str(fresh))
    assert [m.model for m in dropped] == [str(fresh)]
    assert not pipe.info()["loaded"] and str(fresh) not in [m.model for m in easynlu.loaded_models()]
    gc.collect()
    assert backend() is None  # nothing else holds the weights
    np.testing.assert_array_equal(pipe.embed(["I love NLP"], progress=False), before)
    assert pipe.info()["loaded"]
    assert easynlu.unload(str(fresh)) and easynlu.unload(str(fresh)) == []  # second time: nothing to free


def test_loaded_unload_all(fresh):
    easynlu.load(str(fresh)).predict("x", progress=False)
    easynlu.load("embed").predict("x", progress=False)
    dropped = {m.model for m in easynlu.unload()}
    assert {str(fresh), "sentence-transformers/all-MiniLM-L6-v2"} <= dropped
    assert easynlu.loaded_models() == []


def test_loaded_unload_unknown_ref_says_so():
    with pytest.raises(easynlu.UnknownReferenceError, match="Did you mean"):
        easynlu.unload("en.embed.bert.smal_L2_128")
