"""The Hub path for real: huggingface_hub talks HTTP to a local Hub on 127.0.0.1 (tests/hubserver.py).

Each test gets its own server on a free port, an empty HF cache and ``HF_ENDPOINT`` pointing at the
server (fixtures ``cache`` and ``local_hub`` of hubserver.py). Every wait is bounded: the server
sleeps at most 10 s, easynlu waits ``EASYNLU_HUB_TIMEOUT`` (1 or 2 s here).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TOKENIZER_FILES, make_bert_dir
from hubserver import COMMIT, cache_fixture, closed_port, local_hub_fixture, snapshot  # noqa: F401

import easynlu
from easynlu import cli
from easynlu import hub_cache as hub
from easynlu import hub_download as remote

MODEL = "google/bert_uncased_L-2_H-128_A-2"
REF = "en.embed.bert.small_L2_128"
TEXTS = ["I love NLP", "Paris is nice."]
NEEDED = {"config.json", "model.safetensors", *TOKENIZER_FILES}


@pytest.fixture(scope="module")
def small_bert(tmp_path_factory) -> Path:
    """A random BERT shaped like the catalogue's small_L2_128 (2 layers, hidden 128)."""
    return make_bert_dir(tmp_path_factory.mktemp("small-bert"), layers=2, hidden=128, heads=2, seed=5)


@pytest.fixture(scope="module")
def bin_bert(tmp_path_factory, small_bert) -> Path:
    """The same model with pytorch_model.bin (a torch.save state dict) instead of safetensors."""
    from safetensors.torch import load_file

    path = tmp_path_factory.mktemp("bin-bert")
    for name in ("config.json", *TOKENIZER_FILES):
        shutil.copy(small_bert / name, path / name)
    torch.save(load_file(small_bert / "model.safetensors"), path / "pytorch_model.bin")
    return path


def test_hub_local_download_fetches_only_what_is_needed_in_the_hub_layout(local_hub, cache, small_bert):
    local_hub.add(MODEL, small_bert, extra={"pytorch_model.bin": b"never fetched", "README.md": b"# card",
                                            "onnx/model.onnx": b"never fetched", "flax_model.msgpack": b"no"})
    got = easynlu.load(REF).embed(TEXTS)
    np.testing.assert_array_equal(got, easynlu.load(str(small_bert)).embed(TEXTS))
    assert set(local_hub.fetched(MODEL)) == NEEDED
    assert len(local_hub.requests) <= 3 * len(NEEDED) + 4  # info, tree, HEAD/GET per file at most
    repo = cache / ("models--" + MODEL.replace("/", "--"))
    assert (repo / "refs" / "main").read_text() == COMMIT
    weights = snapshot(cache, MODEL) / "model.safetensors"
    assert weights.is_symlink() and weights.resolve().parent == (repo / "blobs").resolve()
    assert weights.read_bytes() == (small_bert / "model.safetensors").read_bytes()
    assert not list((repo / "blobs").glob("*.incomplete"))


def test_hub_local_second_load_in_a_fresh_offline_process_finds_the_files(local_hub, cache, small_bert):
    local_hub.add(MODEL, small_bert)
    expected = easynlu.load(f"hf:{MODEL}").embed(TEXTS)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache),
           "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}
    code = f"import easynlu, json; print(json.dumps(easynlu.load({REF!r}).embed({TEXTS!r}).tolist()))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    np.testing.assert_allclose(np.array(json.loads(out.stdout), dtype=np.float32), expected, rtol=0, atol=0)


def test_hub_local_bin_only_is_fetched_and_loaded_with_weights_only(local_hub, cache, bin_bert, small_bert,
                                                                   monkeypatch):
    local_hub.add("someone/bin-only", bin_bert)
    loads: list[object] = []
    real_load = torch.load

    def spy(*args: object, **kwargs: object) -> object:
        loads.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    got = easynlu.load("hf:someone/bin-only").embed(TEXTS)
    assert set(local_hub.fetched("someone/bin-only")) == NEEDED - {"model.safetensors"} | {"pytorch_model.bin"}
    assert loads and all(flag is True for flag in loads)
    np.testing.assert_allclose(got, easynlu.load(str(small_bert)).embed(TEXTS), atol=1e-6)


def test_hub_local_auto_map_is_refused_after_download(local_hub, small_bert):
    config = json.loads((small_bert / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    local_hub.add("someone/custom-code", small_bert, extra={"config.json": json.dumps(config).encode()})
    with pytest.raises(easynlu.ModelUnavailableError, match="auto_map"):
        easynlu.load("hf:someone/custom-code").embed(TEXTS)


def test_hub_local_connection_refused_fails_fast_and_quietly(cache, monkeypatch, capfd):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("EASYNLU_HUB_TIMEOUT")  # the default
    start_time = time.monotonic()
    with pytest.raises(easynlu.ModelUnavailableError) as info:
        easynlu.load(REF).embed(TEXTS)
    assert time.monotonic() - start_time < 3
    message = str(info.value)
    assert "unreachable" in message and MODEL in message
    for fix in ("HF_HUB_OFFLINE=1", "easynlu download", "pipe.save"):
        assert fix in info.value.fix
    assert "Retrying" not in capfd.readouterr().err


def test_hub_local_hanging_hub_fails_within_the_timeout(local_hub, monkeypatch, small_bert, capfd):
    local_hub.add(MODEL, small_bert, mode="hang").hang_seconds = 5
    monkeypatch.setenv("EASYNLU_HUB_TIMEOUT", "1")
    start_time = time.monotonic()
    with pytest.raises(easynlu.ModelUnavailableError, match=r"no answer within 1 s") as info:
        easynlu.load(REF).embed(TEXTS)
    assert time.monotonic() - start_time < 4
    assert "HF_HUB_OFFLINE=1" in info.value.fix
    assert len(local_hub.requests) == 1
    assert "Retrying" not in capfd.readouterr().err


@pytest.mark.parametrize("status", ["500", "429"])
def test_hub_local_busy_hub_is_retried_briefly_then_reported(local_hub, small_bert, capfd, status):
    local_hub.add(MODEL, small_bert, mode=status)
    with pytest.raises(easynlu.ModelUnavailableError, match=f"HTTP {status}") as info:
        easynlu.load(REF).embed(TEXTS)
    assert len(local_hub.requests) == 1 + remote._RETRIES
    err = capfd.readouterr().err
    assert "Retrying" not in err
    assert len([line for line in err.splitlines() if "easynlu" in line]) <= 1
    assert "try again later" in info.value.fix


def test_hub_local_missing_model_says_so_and_suggests(local_hub, small_bert):
    local_hub.add(MODEL, small_bert)
    with pytest.raises(easynlu.ModelUnavailableError, match="the Hub has no model") as info:
        easynlu.load("hf:google/bert_uncased_L-2_H-128_A-3").embed(TEXTS)
    assert f"hf:{MODEL}" in info.value.fix and "easynlu models" in info.value.fix


def test_hub_local_gated_model_says_how_to_log_in(local_hub, small_bert):
    local_hub.add("someone/gated", small_bert, mode="gated")
    with pytest.raises(easynlu.ModelUnavailableError, match="gated") as info:
        easynlu.load("hf:someone/gated").embed(TEXTS)
    assert "HF_TOKEN" in info.value.fix


def test_hub_local_connection_dropped_once_is_restarted_by_itself(local_hub, cache, small_bert, capfd):
    local_hub.add(MODEL, small_bert, mode="drop")
    np.testing.assert_array_equal(easynlu.load(REF).embed(TEXTS), easynlu.load(str(small_bert)).embed(TEXTS))
    assert local_hub.fetched(MODEL).count("model.safetensors") == 2
    assert (snapshot(cache, MODEL) / "model.safetensors").read_bytes() == \
        (small_bert / "model.safetensors").read_bytes()
    assert "resume" not in capfd.readouterr().err


def test_hub_local_interrupted_download_is_never_taken_as_complete(local_hub, cache, small_bert, monkeypatch):
    import huggingface_hub.file_download

    repo = local_hub.add(MODEL, small_bert, mode="drop")
    repo.drop_times = 99  # every try is cut: huggingface_hub gives up after 5 more
    monkeypatch.setattr(huggingface_hub.file_download, "time", type("NoWait", (), {"sleep": staticmethod(
        lambda seconds: None)}))
    with pytest.raises(easynlu.ModelUnavailableError, match="connection broke during the download"):
        easynlu.load(REF).embed(TEXTS)
    assert not (snapshot(cache, MODEL) / "model.safetensors").exists()
    blobs = cache / ("models--" + MODEL.replace("/", "--")) / "blobs"
    sha256 = hashlib.sha256((small_bert / "model.safetensors").read_bytes()).hexdigest()
    assert not (blobs / sha256).exists()  # the blob is named by its sha256 only once it is whole
    with pytest.raises(easynlu.ModelUnavailableError):  # offline, the partial file is not taken
        easynlu.load(REF, offline=True).embed(TEXTS)
    repo.drop_times = 0
    np.testing.assert_array_equal(easynlu.load(REF).embed(TEXTS), easynlu.load(str(small_bert)).embed(TEXTS))
    assert (snapshot(cache, MODEL) / "model.safetensors").read_bytes() == \
        (small_bert / "model.safetensors").read_bytes()


def test_hub_local_easynlu_download_uses_the_same_path(local_hub, cache, small_bert, capsys):
    local_hub.add(MODEL, small_bert, extra={"pytorch_model.bin": b"never fetched"})
    assert cli.main(["download", REF]) == 0
    assert str(snapshot(cache, MODEL)) in capsys.readouterr().out
    assert set(local_hub.fetched(MODEL)) == NEEDED
    assert hub.download(f"hf:{MODEL}") == [snapshot(cache, MODEL)]
    local_hub.add("someone/gated", small_bert, mode="gated")
    assert cli.main(["download", "hf:someone/gated"]) != 0
    assert "HF_TOKEN" in capsys.readouterr().err
