"""predict/embed against independent computations with plain transformers and sentence-transformers."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_bert_dir
from transformers import AutoModel, AutoTokenizer

import easynlu
from easynlu import backends


def hidden_states(model_dir, text, layers=-1):
    """All hidden states of one text, with [CLS]/[SEP], computed directly (no easynlu)."""
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    enc = tok(text, return_tensors="pt", return_offsets_mapping=True, truncation=False)
    offsets = enc.pop("offset_mapping")[0]
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    return out, enc, offsets, enc.word_ids()


def word_first_piece(word_ids):
    firsts, seen = [], set()
    for i, w in enumerate(word_ids):
        if w is not None and w not in seen:
            seen.add(w)
            firsts.append(i)
    return firsts


def stack(column):
    return np.stack(column.to_list())


# -- real MiniLM ------------------------------------------------------------------------------

def test_pipeline_token_level_real_minilm(minilm_dir):
    df = easynlu.load("en.embed.minilm").predict("I love NLP", output_level="token")
    assert df["token"].tolist() == ["I", "love", "NLP"]
    assert list(df.index) == [0, 0, 0]
    assert list(df.columns) == ["token", "en_embed_minilm_embeddings"]
    out, _, _, word_ids = hidden_states(minilm_dir, "I love NLP")
    expected = out.last_hidden_state[0, word_first_piece(word_ids)].numpy()
    for cell in df["en_embed_minilm_embeddings"]:
        assert isinstance(cell, np.ndarray) and cell.dtype == np.float32 and cell.shape == (384,)
    np.testing.assert_allclose(stack(df["en_embed_minilm_embeddings"]), expected, atol=1e-4)


def test_pipeline_sentence_level_matches_sentence_transformers(minilm_dir):
    from sentence_transformers import SentenceTransformer

    text = "The cat sat on the mat. Dr. Smith arrived at 5 p.m. yesterday!"
    df = easynlu.load("en.embed_sentence.minilm").predict(text, positions=True)
    assert df["sentence"].tolist() == ["The cat sat on the mat.", "Dr. Smith arrived at 5 p.m. yesterday!"]
    assert df["start"].tolist() == [0, 24] and df["end"].tolist() == [23, len(text)]
    assert all(text[s:e] == t for s, e, t in zip(df["start"], df["end"], df["sentence"], strict=True))
    st = SentenceTransformer(str(minilm_dir), device="cpu")
    expected = st.encode(df["sentence"].tolist(), convert_to_numpy=True)
    np.testing.assert_allclose(stack(df["en_embed_sentence_minilm_embeddings"]), expected, atol=1e-5)


def test_pipeline_document_level_keeps_every_row_and_index():
    data = pd.Series(["First doc. Two sentences.", None, "", "   ", "last"], index=[10, 11, 12, 13, 14])
    df = easynlu.load("en.embed_sentence.minilm").predict(data, output_level="document")
    assert list(df.index) == [10, 11, 12, 13, 14]
    col = df["en_embed_sentence_minilm_embeddings"]
    assert [v is None for v in col] == [False, True, True, True, False]
    assert df["document"].iloc[0] == "First doc. Two sentences." and pd.isna(df["document"].iloc[1])
    vectors = easynlu.load("en.embed_sentence.minilm").embed(data)
    assert vectors.dtype == np.float32 and vectors.shape == (5, 384)
    assert np.isnan(vectors[[1, 2, 3]]).all() and not np.isnan(vectors[[0, 4]]).any()
    np.testing.assert_allclose(vectors[0], col.iloc[0], atol=1e-6)


def test_pipeline_sentence_model_at_token_level_gives_sentence_vector():
    p = easynlu.load("en.embed_sentence.minilm")
    tokens = p.predict("Hello world. Bye now.", output_level="token")
    sentences = p.predict("Hello world. Bye now.", output_level="sentence")
    col = "en_embed_sentence_minilm_embeddings"
    assert tokens["token"].tolist() == ["Hello", "world", ".", "Bye", "now", "."]
    np.testing.assert_array_equal(stack(tokens[col])[:3], np.repeat(stack(sentences[col])[:1], 3, 0))
    np.testing.assert_array_equal(stack(tokens[col])[3:], np.repeat(stack(sentences[col])[1:], 3, 0))


def test_pipeline_dataframe_input_carries_columns_and_index():
    frame = pd.DataFrame({"id": [7, 8], "text": ["a b", "c"], "label": pd.Categorical(["x", "y"])},
                         index=["r1", "r2"])
    before = frame.copy(deep=True)
    df = easynlu.load("en.embed.minilm").predict(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert list(df.index) == ["r1", "r1", "r2"]
    assert df["token"].tolist() == ["a", "b", "c"]
    assert df["id"].tolist() == [7, 7, 8] and isinstance(df["label"].dtype, pd.CategoricalDtype)


def test_pipeline_two_components_two_columns(tiny_bert):
    p = easynlu.load(f"en.embed.minilm {tiny_bert}")
    df = p.predict(["I love NLP", "café crème"], output_level="token")
    assert list(df.columns) == ["token", "en_embed_minilm_embeddings", f"{tiny_bert.name.replace('-', '_')}_embeddings"]
    assert df.iloc[:, 2].iloc[0].shape == (64,)
    alone = easynlu.load(str(tiny_bert)).predict(["I love NLP", "café crème"], output_level="token")
    np.testing.assert_allclose(stack(df.iloc[:, 2]), stack(alone.iloc[:, 1]), atol=1e-6)
    both = p.embed(["I love NLP"])
    assert both.shape == (1, 384 + 64)


def test_pipeline_bad_options_say_what_to_type():
    p = easynlu.load("en.embed.minilm")
    with pytest.raises(ValueError, match="output_level='tokens'.*'token'"):
        p.predict("x", output_level="tokens")
    with pytest.raises(ValueError, match="pooling"):
        p.predict("x", pooling="avg")
    with pytest.raises(ValueError, match="layers"):
        p.predict("x", layers="last")
    with pytest.raises(easynlu.InputError, match="position 1"):
        p.predict(["ok", 3])


def test_pipeline_lazy_shared_and_loaded_once(tmp_path, monkeypatch):
    fresh = make_bert_dir(tmp_path / "fresh", layers=1, hidden=32, heads=1)
    loads = []
    real_load = backends.load
    monkeypatch.setattr(backends, "load", lambda *args, **kw: loads.append(args) or real_load(*args, **kw))
    a = easynlu.load(str(fresh))
    b = easynlu.load(str(fresh))
    assert not a.info()["loaded"] and "not loaded yet" in repr(a)
    assert str(fresh) not in [m.model for m in easynlu.loaded_models()]
    a.predict("x")
    b.predict("y")
    assert len(loads) == 1
    assert [m.model for m in easynlu.loaded_models()].count(str(fresh)) == 1
    assert a._parts()[0].backend is b._parts()[0].backend
    info = a.info()
    assert info["loaded"] and info["device"] == "cpu" and info["dtype"] == "float32"


def test_pipeline_gpu_true_fails_clearly_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(easynlu.DeviceError, match="gpu=True"):
        easynlu.load("en.embed.minilm", gpu=True)


# -- tiny random BERT: every option against a hand computation -------------------------------

TEXT = "Tokenization handles unbelievable words, naturally."


@pytest.fixture(scope="module")
def tiny_states(tiny_bert):
    out, enc, offsets, word_ids = hidden_states(tiny_bert, TEXT)
    return out, word_ids


def word_groups(word_ids):
    groups = {}
    for i, w in enumerate(word_ids):
        if w is not None:
            groups.setdefault(w, []).append(i)
    return [groups[w] for w in sorted(groups)]


@pytest.mark.parametrize("how", ["first", "last", "mean", "max"])
def test_pipeline_subword_pooling(tiny_bert, tiny_states, how):
    out, word_ids = tiny_states
    h = out.last_hidden_state[0].numpy()
    groups = word_groups(word_ids)
    assert any(len(g) > 1 for g in groups)  # the text really has multi-piece words
    reduce = {"first": lambda g: h[g[0]], "last": lambda g: h[g[-1]],
              "mean": lambda g: h[g].mean(0), "max": lambda g: h[g].max(0)}[how]
    expected = np.stack([reduce(g) for g in groups])
    df = easynlu.load(str(tiny_bert)).predict(TEXT, output_level="token", subword_pooling=how)
    assert df["token"].tolist() == ["Tokenization", "handles", "unbelievable", "words", ",", "naturally", "."]
    np.testing.assert_allclose(stack(df.iloc[:, 1]), expected, atol=1e-5)


@pytest.mark.parametrize("pool", ["mean", "max", "cls"])
@pytest.mark.parametrize("how", ["first", "mean"])
def test_pipeline_pooling_over_words(tiny_bert, tiny_states, pool, how):
    out, word_ids = tiny_states
    h = out.last_hidden_state[0].numpy()
    words = np.stack([h[g[0]] if how == "first" else h[g].mean(0) for g in word_groups(word_ids)])
    expected = {"mean": words.mean(0), "max": words.max(0), "cls": h[0]}[pool]
    p = easynlu.load(str(tiny_bert))
    for level in ("sentence", "document"):
        df = p.predict(TEXT, output_level=level, pooling=pool, subword_pooling=how)
        assert len(df) == 1
        np.testing.assert_allclose(df.iloc[0, 1], expected, atol=1e-5)


@pytest.mark.parametrize("layers,layer_pooling", [(0, "mean"), (1, "mean"), (-2, "mean"),
                                                  ([1, 2], "mean"), ([0, -1], "concat")])
def test_pipeline_layers(tiny_bert, tiny_states, layers, layer_pooling):
    out, word_ids = tiny_states
    firsts = word_first_piece(word_ids)
    picked = [out.hidden_states[i][0, firsts].numpy() for i in ([layers] if isinstance(layers, int) else layers)]
    expected = np.concatenate(picked, -1) if layer_pooling == "concat" else np.mean(picked, 0)
    df = easynlu.load(str(tiny_bert)).predict(TEXT, output_level="token", layers=layers,
                                              layer_pooling=layer_pooling)
    np.testing.assert_allclose(stack(df.iloc[:, 1]), expected, atol=1e-5)


def test_pipeline_layers_out_of_range(tiny_bert):
    with pytest.raises(ValueError, match="2 layers"):
        easynlu.load(str(tiny_bert)).predict("x", layers=5)


def test_pipeline_normalize(tiny_bert):
    df = easynlu.load(str(tiny_bert)).predict(TEXT, output_level="token", normalize=True)
    np.testing.assert_allclose(np.linalg.norm(stack(df.iloc[:, 1]), axis=1), 1.0, atol=1e-5)


def test_pipeline_pooler_output_for_embed_sentence(tiny_bert, tiny_states):
    out, _ = tiny_states
    df = easynlu.load(f"embed_sentence:{tiny_bert}").predict(TEXT)
    assert len(df) == 1
    np.testing.assert_allclose(df.iloc[0, 1], out.pooler_output[0].numpy(), atol=1e-5)


def test_pipeline_long_text_windows(tiny_bert):
    rng = np.random.default_rng(0)
    vocab = ["alpha", "beta", "gamma", "delta", "river", "mountain", "unbelievable", "quietly", "x"]
    words = [vocab[i] for i in rng.integers(0, len(vocab), 2000)]
    text = " ".join(words)
    p = easynlu.load(str(tiny_bert))
    df = p.predict(text, output_level="token", positions=True)
    assert len(df) == 2000 and df["token"].tolist() == words
    assert all(v is not None for v in df.iloc[:, 3])
    # Recompute the windows the documented way: 510-token windows, 255 apart.
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    enc = tok(text, add_special_tokens=False, truncation=False)
    ids, word_ids = enc["input_ids"], enc.word_ids()
    assert len(ids) > 1500
    start = 255  # second window: tokens [255, 765); its centre is far from every window edge
    centre = start + 255
    w = word_ids[centre]
    first = word_ids.index(w)
    model = AutoModel.from_pretrained(tiny_bert).eval()
    window = torch.tensor([[tok.cls_token_id] + ids[start:start + 510] + [tok.sep_token_id]])
    with torch.no_grad():
        direct = model(input_ids=window).last_hidden_state[0, 1 + first - start].numpy()
    np.testing.assert_allclose(df.iloc[w, 3], direct, atol=1e-5)
    # Document vector of a long text pools over all its words.
    doc = p.predict(text, output_level="document")
    np.testing.assert_allclose(doc.iloc[0, 1], stack(df.iloc[:, 3]).mean(0), atol=1e-5)


@pytest.mark.parametrize("level", ["token", "sentence", "document"])
def test_pipeline_vectors_are_views_into_one_block(tiny_bert, level):
    df = easynlu.load(str(tiny_bert)).predict(["One two. Three four five.", "", "six"], output_level=level)
    cells = [c for c in df.iloc[:, -1] if c is not None]
    assert all(type(c) is np.ndarray and c.dtype == np.float32 and c.ndim == 1 for c in cells)
    bases = {id(c.base) for c in cells}
    assert len(bases) == 1 and cells[0].base is not None and cells[0].base.flags["C_CONTIGUOUS"]
    assert not any(isinstance(c, list) for c in df.iloc[:, -1])


def test_pipeline_progress_bar(tiny_bert, capsys):
    easynlu.load(str(tiny_bert)).predict(["a b c"] * 5, progress=True)
    err = capsys.readouterr().err
    assert "easynlu" in err and "0/5 " in err and "text/s" in err  # the user's texts, with their total
    assert "window" not in err
    easynlu.load(str(tiny_bert)).predict(["a b c"] * 5, progress=False)
    assert capsys.readouterr().err == ""


def test_pipeline_progress_bar_by_default_on_over_1000_texts(tiny_bert, capsys):
    p = easynlu.load(str(tiny_bert))
    p.predict(["a b c"] * 1001, output_level="document")  # progress=None: many texts, so a bar
    err = capsys.readouterr().err
    assert "easynlu" in err and "/1001 " in err and "window" not in err
    p.predict(["a b c"] * 1001, output_level="document", progress=False)
    assert capsys.readouterr().err == ""


def test_pipeline_pickles_as_its_spec_and_unpickling_loads_nothing(tiny_bert):
    import pickle

    pipe = easynlu.load(f"en.embed.minilm {tiny_bert}", device="cpu", dtype="float32")
    before = pipe.predict("I love NLP", output_level="document", progress=False)
    data = pickle.dumps(pipe)
    assert len(data) < 10_000  # the spec, not the weights
    code = ("import pickle, sys\n"
            "pipe = pickle.loads(sys.stdin.buffer.read())\n"
            "import easynlu\n"
            "print(pipe.info()['loaded'], easynlu.loaded_models() == [], 'torch' in sys.modules)\n")
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, check=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.stdout.decode().split() == ["False", "True", "False"]
    again = pickle.loads(data)
    assert again.components == pipe.components and again.load_options == pipe.load_options
    pd.testing.assert_frame_equal(again.predict("I love NLP", output_level="document", progress=False).iloc[:, :1],
                                  before.iloc[:, :1])


def test_pipeline_progress_bar_counts_texts_across_models(tiny_bert):
    from easynlu.progress import TextsBar

    class Bar:  # what tqdm shows: n of total
        n = 0

        def update(self, k):
            self.n += k

    bar = Bar()
    texts = TextsBar(bar, n_texts=10, runs=2)  # two models: each run is half of the texts' progress
    seen = []
    for windows in (4, 2):
        texts.total += windows  # as a backend does when its run starts
        for _ in range(windows):
            texts.update(1)
            seen.append(bar.n)
    assert seen == [1, 2, 3, 5, 7, 10]  # never backwards, never past the total
