"""Save a pipeline with its model files, load it back offline, and refuse changed files."""

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from conftest import make_bert_dir, put_in_hf_cache

import easynlu
from easynlu import saved
from easynlu.options import LoadOptions

TEXTS = ["I love NLP. It is fun!", "", "Berlin is a city in Germany."]
LEVELS = ("token", "sentence", "document")


def _assert_same_outputs(original, restored):
    for level in LEVELS:
        a = original.predict(TEXTS, output_level=level, positions=True, progress=False)
        b = restored.predict(TEXTS, output_level=level, positions=True, progress=False)
        assert list(a.columns) == list(b.columns)
        assert list(a.index) == list(b.index)
        for column in a.columns:
            for x, y in zip(a[column], b[column], strict=True):
                if isinstance(x, np.ndarray):
                    assert x.dtype == y.dtype == np.float32
                    np.testing.assert_allclose(y, x, rtol=0, atol=1e-6)
                else:
                    assert x == y or (x is None and y is None)


def _round_trip(pipe, directory):
    saved.save(pipe, directory)
    restored = easynlu.load(directory)
    assert [c.ref for c in restored.components] == [c.ref for c in pipe.components]
    assert [c.column for c in restored.components] == [c.column for c in pipe.components]
    assert [c.action for c in restored.components] == [c.action for c in pipe.components]
    assert restored.default_level == pipe.default_level
    assert restored.offline is True
    assert all(c.source == "path" and Path(c.model).is_relative_to(directory) for c in restored.components)
    return restored


def _files(directory):
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if not p.is_dir())


@pytest.mark.slow
@pytest.mark.parametrize("request_", ["en.embed.minilm", "en.embed_sentence.minilm"])
def test_saved_catalogue_minilm_round_trip(tmp_path, request_):
    pipe = easynlu.load(request_)
    restored = _round_trip(pipe, tmp_path / "saved")
    assert restored.components[0].entry == pipe.components[0].entry  # same language rules
    _assert_same_outputs(pipe, restored)
    if request_ == "en.embed_sentence.minilm":
        files = _files(tmp_path / "saved")
        assert "models/0-sentence-transformers--all-MiniLM-L6-v2/1_Pooling/config.json" in files
        assert "models/0-sentence-transformers--all-MiniLM-L6-v2/modules.json" in files


def test_saved_two_models_catalogue_and_path(tmp_path, tiny_bert):
    pipe = easynlu.load(f"en.embed.minilm {tiny_bert}")
    restored = _round_trip(pipe, tmp_path / "two")
    assert restored.components[0].column == "en_embed_minilm_embeddings"
    _assert_same_outputs(pipe, restored)
    models = sorted(os.listdir(tmp_path / "two" / "models"))
    assert models == ["0-sentence-transformers--all-MiniLM-L6-v2", f"1-{tiny_bert.name}"]


def test_saved_shared_model_dir_copied_once(tmp_path):
    pipe = easynlu.load("en.embed.minilm en.embed_sentence.minilm")
    saved.save(pipe, tmp_path / "s")
    assert os.listdir(tmp_path / "s" / "models") == ["0-sentence-transformers--all-MiniLM-L6-v2"]
    restored = easynlu.load(tmp_path / "s")
    assert restored.components[0].model == restored.components[1].model
    assert [c.action for c in restored.components] == ["embed", "embed_sentence"]


def test_saved_hf_model_needs_no_cache_afterwards(tmp_path, hf_cache):
    repo_id = "easynlu-test/saved-tiny"
    repo_dir = hf_cache / ("models--" + repo_id.replace("/", "--"))
    put_in_hf_cache(hf_cache, repo_id, make_bert_dir(tmp_path / "src", layers=1, hidden=32, heads=2, seed=3))
    try:
        pipe = easynlu.load(f"hf:{repo_id}")
        directory = tmp_path / "hf-save"
        saved.save(pipe, directory)
        expected = {level: pipe.predict(TEXTS, output_level=level, positions=True, progress=False)
                    for level in LEVELS}
    finally:
        shutil.rmtree(repo_dir, ignore_errors=True)
    assert not any(p.is_symlink() for p in directory.rglob("*"))  # real contents, not cache links
    restored = easynlu.load(directory)
    assert [c.ref for c in restored.components] == [f"hf:{repo_id}"]
    assert restored.components[0].column == "hf_easynlu_test_saved_tiny_embeddings"
    for level in LEVELS:
        got = restored.predict(TEXTS, output_level=level, positions=True, progress=False)
        assert list(got.columns) == list(expected[level].columns)
        column = restored.components[0].column
        for x, y in zip(expected[level][column], got[column], strict=True):
            assert (x is None and y is None) or np.allclose(x, y, rtol=0, atol=1e-6)
    easynlu.unload(f"hf:{repo_id}")
    with pytest.raises(easynlu.ModelUnavailableError):  # the original really is gone
        easynlu.load(f"hf:{repo_id}", offline=True).embed(["x"], progress=False)


def test_saved_sentence_model_by_path_prefix(tmp_path, tiny_bert):
    pipe = easynlu.load(f"embed_sentence:{tiny_bert}")
    restored = _round_trip(pipe, tmp_path / "sent")
    assert restored.default_level == "sentence"
    assert restored.components[0].ref == str(tiny_bert)
    _assert_same_outputs(pipe, restored)


def test_saved_manifest_lists_every_file(tmp_path, tiny_bert):
    import hashlib

    pipe = easynlu.load(str(tiny_bert), device="cpu", dtype="float32")
    directory = saved.save(pipe, tmp_path / "m")
    manifest = json.loads((directory / "easynlu.json").read_text())
    assert manifest["format"] == 1 and manifest["easynlu_version"] == easynlu.__version__
    assert manifest["default_level"] == "token"
    assert (manifest["device"], manifest["gpu"], manifest["dtype"]) == ("cpu", False, "float32")
    files = [f for f in _files(directory) if f != "easynlu.json"]
    assert sorted(manifest["files"]) == files
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256((directory / rel).read_bytes()).hexdigest() == digest
    assert "models/0-" + tiny_bert.name + "/model.safetensors" in files
    assert manifest["components"][0]["dir"] == "models/0-" + tiny_bert.name
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temp dir left behind
    assert saved.is_saved_pipeline(directory) and not saved.is_saved_pipeline(tiny_bert)
    restored = easynlu.load(directory, device="cpu", dtype=None)
    assert restored.load_options == LoadOptions(device="cpu", offline=True)


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["022", "027"])
def test_saved_directory_and_files_get_the_umask_permissions(tmp_path, tiny_bert, umask):
    pipe = easynlu.load(str(tiny_bert))
    old = os.umask(umask)
    try:
        directory = saved.save(pipe, tmp_path / "m")
        saved.save(pipe, directory)  # replacing an earlier save, too
    finally:
        os.umask(old)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o777 & ~umask  # was 0o700 (tempfile.mkdtemp)
    for path in directory.rglob("*"):
        want = 0o777 & ~umask if path.is_dir() else 0o666 & ~umask
        assert stat.S_IMODE(path.stat().st_mode) == want, path
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary or old directory left


def test_saved_weights_only_safetensors_and_no_extras(tmp_path, tiny_bert):
    src = tmp_path / "src"
    shutil.copytree(tiny_bert, src)
    (src / "onnx").mkdir()
    (src / "onnx" / "model.onnx").write_bytes(b"x" * 100)
    (src / "pytorch_model.bin").write_bytes(b"PK\x03\x04")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ref")
    directory = saved.save(easynlu.load(str(src)), tmp_path / "out")
    names = {Path(f).name for f in _files(directory)}
    assert "model.safetensors" in names and "vocab.txt" in names and "config.json" in names
    assert not names & {"pytorch_model.bin", "model.onnx", "HEAD"}


def test_saved_tampered_weights_refused_before_loading(tmp_path, tiny_bert):
    directory = saved.save(easynlu.load(str(tiny_bert)), tmp_path / "t")
    weights = directory / "models" / f"0-{tiny_bert.name}" / "model.safetensors"
    easynlu.load(directory)  # fine before
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(easynlu.ModelUnavailableError) as err:
        easynlu.load(directory)
    assert str(weights) in err.value.summary and "expected" in err.value.summary
    assert "pipe.save(dir)" in err.value.fix
    assert not any(m.path.startswith(str(directory)) for m in easynlu.loaded_models())


def test_saved_missing_or_extra_file_refused(tmp_path, tiny_bert):
    directory = saved.save(easynlu.load(str(tiny_bert)), tmp_path / "x")
    model_dir = directory / "models" / f"0-{tiny_bert.name}"
    (model_dir / "pytorch_model.bin").write_bytes(b"PK\x03\x04")
    with pytest.raises(easynlu.ModelUnavailableError, match="pytorch_model.bin"):
        easynlu.load(directory)
    (model_dir / "pytorch_model.bin").unlink()
    (model_dir / "vocab.txt").unlink()
    with pytest.raises(easynlu.ModelUnavailableError, match="vocab.txt.*missing"):
        easynlu.load(directory)


def test_saved_bad_or_newer_manifest_refused(tmp_path, tiny_bert):
    directory = saved.save(easynlu.load(str(tiny_bert)), tmp_path / "v")
    manifest_file = directory / "easynlu.json"
    manifest = json.loads(manifest_file.read_text())
    manifest_file.write_text(json.dumps({**manifest, "format": 2, "easynlu_version": "9.0"}))
    with pytest.raises(easynlu.ModelUnavailableError, match="easynlu 9.0 in save format 2"):
        easynlu.load(directory)
    manifest_file.write_text(json.dumps({**manifest, "format": "one"}))
    with pytest.raises(easynlu.ModelUnavailableError, match="not an easynlu save format"):
        easynlu.load(directory)
    outside = {**manifest, "files": {"../escape": "0" * 64, **manifest["files"]}}
    manifest_file.write_text(json.dumps(outside))
    with pytest.raises(easynlu.ModelUnavailableError, match="outside the saved pipeline"):
        easynlu.load(directory)
    manifest_file.write_text("{not json")
    with pytest.raises(easynlu.ModelUnavailableError, match="cannot be read"):
        easynlu.load(directory)


def test_saved_refuses_foreign_directory_and_replaces_own_save(tmp_path, tiny_bert):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    pipe = easynlu.load(str(tiny_bert))
    with pytest.raises(easynlu.OptionError, match="not empty"):
        saved.save(pipe, foreign)
    assert (foreign / "notes.txt").read_text() == "mine"
    with pytest.raises(easynlu.OptionError, match="is a file"):
        saved.save(pipe, foreign / "notes.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    saved.save(pipe, empty)
    assert saved.is_saved_pipeline(empty)
    # saving again over a save, even the pipeline loaded from it, replaces it cleanly
    restored = easynlu.load(empty)
    saved.save(restored, empty)
    assert easynlu.load(empty).components[0].ref == str(tiny_bert)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "foreign"]


def test_saved_load_of_a_non_save_is_refused(tmp_path):
    with pytest.raises(easynlu.ModelUnavailableError, match="no easynlu.json"):
        saved.read(tmp_path)
