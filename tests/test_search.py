"""easynlu.search: cosine similarity and exact top-k search, checked against plain numpy."""

import numpy as np
import pandas as pd
import pytest

import easynlu
from easynlu import search as S

TEXTS = [
    "The cat sat on the warm windowsill.",
    "Stock markets fell sharply after the interest rate decision.",
    "The striker scored twice in the cup final.",
    "Bake the bread at 220 degrees for thirty minutes.",
    "The new graphics card renders games at 4K.",
    "Heavy rain and strong winds are expected tomorrow.",
    "The patient was prescribed antibiotics for the infection.",
    "The orchestra played Beethoven's ninth symphony.",
    "The spacecraft entered orbit around Mars.",
    "Volcanoes erupt when magma reaches the surface.",
]


@pytest.fixture(scope="module")
def pipe():
    pipe = easynlu.load("en.embed_sentence.minilm")
    pipe.predict("warm up", progress=False)
    return pipe


def unit(m):
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_search_similarity_matches_numpy_and_labels_by_text(pipe):
    got = S.similarity(pipe, TEXTS[:4], TEXTS, progress=False)
    expected = unit(pipe.embed(TEXTS[:4], progress=False)) @ unit(pipe.embed(TEXTS, progress=False)).T
    assert got.shape == (4, 10)
    assert (got.dtypes == np.float32).all()
    assert list(got.index) == TEXTS[:4] and list(got.columns) == TEXTS
    np.testing.assert_allclose(got.to_numpy(), expected, atol=1e-5)


def test_search_similarity_labels_from_series_index(pipe):
    a = pd.Series(TEXTS[:3], index=["cat", "stocks", "football"])
    got = S.similarity(pipe, a, pd.DataFrame({"text": TEXTS[3:5]}, index=[7, 9]), progress=False)
    assert list(got.index) == ["cat", "stocks", "football"]
    assert list(got.columns) == [7, 9]
    expected = unit(pipe.embed(TEXTS[:3], progress=False)) @ unit(pipe.embed(TEXTS[3:5], progress=False)).T
    np.testing.assert_allclose(got.to_numpy(), expected, atol=1e-5)


def test_search_similarity_against_itself_is_symmetric_with_unit_diagonal(pipe):
    got = S.similarity(pipe, TEXTS, progress=False).to_numpy()
    np.testing.assert_allclose(got, got.T, atol=1e-6)
    np.testing.assert_allclose(np.diag(got), 1.0, atol=1e-5)
    off = got[~np.eye(10, dtype=bool)]
    assert off.max() < 0.9  # distinct topics


def test_search_similarity_sentence_level_is_labelled_by_document_and_sentence(pipe):
    docs = pd.Series(["The cat sat down. The dog barked.", "", "Rain is coming."], index=["x", "y", "z"])
    got = S.similarity(pipe, docs, level="sentence", progress=False)
    rows = [("x", "The cat sat down."), ("x", "The dog barked."), ("y", ""), ("z", "Rain is coming.")]
    assert list(got.index) == rows and list(got.columns) == rows
    assert got.index.names[1] == "sentence"
    frame = pipe.predict(docs, output_level="sentence", progress=False)
    vectors = unit(np.stack([v for v in frame.iloc[:, 1] if v is not None]))
    keep = [0, 1, 3]
    np.testing.assert_allclose(got.to_numpy()[np.ix_(keep, keep)], vectors @ vectors.T, atol=1e-5)
    assert got.loc[("y", "")].isna().all() and got[("y", "")].isna().all()
    two = "The cat sat down. The dog barked."
    plain = S.similarity(pipe, [two], ["Rain is coming."], level="sentence", progress=False)
    assert list(plain.index) == [(two, "The cat sat down."), (two, "The dog barked.")]
    assert list(plain.columns) == [("Rain is coming.", "Rain is coming.")]


def test_search_similarity_text_without_tokens_gives_nan(pipe):
    got = S.similarity(pipe, ["A cat.", "", None], ["A dog.", ""], progress=False)
    values = got.to_numpy()
    assert np.isfinite(values[0, 0])
    assert np.isnan(values[1:]).all() and np.isnan(values[:, 1]).all()
    assert S.similarity(pipe, [None], ["A dog."], progress=False).isna().all().all()


def test_search_similarity_concatenates_models_in_pipeline_order(tiny_bert):
    two = easynlu.load(f"{tiny_bert} en.embed_sentence.minilm")
    got = S.similarity(two, TEXTS[:3], TEXTS[3:6], progress=False)
    expected = unit(two.embed(TEXTS[:3], progress=False)) @ unit(two.embed(TEXTS[3:6], progress=False)).T
    assert two.embed(TEXTS[:1], progress=False).shape[1] == 64 + 384
    np.testing.assert_allclose(got.to_numpy(), expected, atol=1e-5)


def brute_force(queries, corpus, k):
    """Top k by descending score, ties by lower row: a stable sort of every score."""
    scores = unit(queries) @ unit(corpus).T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


@pytest.mark.parametrize("k", [1, 3, 10, 500])
def test_search_blocked_top_k_equals_brute_force_with_ties(k):
    rng = np.random.default_rng(k)
    # 0/1 vectors with four ones: every cosine is an exact multiple of 1/4, so ties abound
    corpus = np.zeros((300, 16), np.float32)
    for row in corpus:
        row[rng.choice(16, 4, replace=False)] = 1
    queries = corpus[rng.choice(300, 20)]
    index = S.Index(corpus, list(range(300)), [str(i) for i in range(300)])
    got_i, got_s = index.search(queries, k, corpus_block=7, query_block=3)
    want_i, want_s = brute_force(queries, corpus, min(k, 300))
    assert got_i.shape == (20, min(k, 300)) and got_i.dtype == np.int64 and got_s.dtype == np.float32
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_array_equal(got_s, want_s)


def test_search_blocked_top_k_equals_brute_force_on_random_vectors():
    rng = np.random.default_rng(0)
    corpus = rng.standard_normal((1000, 32)).astype(np.float32)
    queries = rng.standard_normal((50, 32)).astype(np.float32)
    index = S.Index(corpus, np.arange(1000), [""] * 1000)
    got_i, got_s = index.search(queries, 10, corpus_block=7, query_block=4)
    want_i, want_s = brute_force(queries.astype(np.float64), corpus.astype(np.float64), 10)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_allclose(got_s, want_s, atol=1e-6)
    default_i, _ = index.search(queries, 10)
    np.testing.assert_array_equal(default_i, want_i)


def test_search_index_leaves_out_rows_and_queries_without_vectors():
    vectors = np.array([[1, 0], [np.nan, np.nan], [0, 0], [3, 4]], np.float32)
    index = S.Index(vectors, ["a", "b", "c", "d"], ["A", None, "C", "D"])
    assert list(index.labels) == ["a", "d"] and index.texts == ["A", "D"]
    assert index.vectors.flags.c_contiguous and index.vectors.dtype == np.float32
    np.testing.assert_allclose(index.vectors, [[1, 0], [0.6, 0.8]])
    ids, scores = index.search(np.array([[0, 1], [np.nan, 1], [0, 0]], np.float32), k=5)
    assert ids.shape == (3, 2)
    np.testing.assert_array_equal(ids[0], [1, 0])
    np.testing.assert_allclose(scores[0], [0.8, 0.0], atol=1e-7)
    assert (ids[1:] == -1).all() and np.isnan(scores[1:]).all()


@pytest.mark.parametrize("labels", [[5, 6, 7], ["a", "b", "c"], [1.5, "x", ("t", 1)]])
def test_search_index_save_load_round_trip(tmp_path, labels):
    rng = np.random.default_rng(1)
    index = S.Index(rng.standard_normal((3, 8)).astype(np.float32), labels, ["one", "twö", "three"], "sentence")
    path = index.save(tmp_path / "corpus")
    assert path == tmp_path / "corpus.npz" and path.exists()
    for source in (path, tmp_path / "corpus"):
        back = S.Index.load(source)
        np.testing.assert_array_equal(back.vectors, index.vectors)
        assert back.texts == index.texts and back.level == "sentence"
        if all(isinstance(x, int) for x in labels):
            assert back.labels.dtype == np.int64 and list(back.labels) == labels
        else:
            assert list(back.labels) == [str(x) for x in labels]
        np.testing.assert_array_equal(back.search(index.vectors, 2)[0], index.search(index.vectors, 2)[0])


def test_search_index_load_rejects_other_npz(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(easynlu.InputError, match="not an easynlu index"):
        S.Index.load(tmp_path / "other.npz")


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3", None])
def test_search_bad_k_is_an_option_error(pipe, k):
    with pytest.raises(easynlu.OptionError, match=r"k=.*positive int"):
        S.search(pipe, ["q"], TEXTS, k=k)
    with pytest.raises(easynlu.OptionError, match="positive int"):
        S.Index(np.eye(2, dtype=np.float32), [0, 1], ["a", "b"]).search(np.eye(2), k=k)


@pytest.mark.parametrize("call", ["similarity", "index", "search"])
def test_search_bad_level_names_the_choices(pipe, call):
    args = {"similarity": (pipe, TEXTS), "index": (pipe, TEXTS), "search": (pipe, ["q"], TEXTS)}[call]
    with pytest.raises(easynlu.OptionError, match="level='token'.*'document', 'sentence'"):
        getattr(S, call)(*args, level="token")


def test_search_results_match_numpy(pipe):
    corpus = pd.Series(TEXTS, index=[f"doc{i}" for i in range(10)])
    queries = ["a kitten resting in the sun", "what will the weather be like?"]
    got = S.search(pipe, queries, corpus, k=3, progress=False)
    assert list(got.columns) == ["query", "query_text", "rank", "label", "text", "score"]
    assert len(got) == 6 and got["score"].dtype == np.float32 and got["rank"].tolist() == [1, 2, 3] * 2
    scores = unit(pipe.embed(queries, progress=False)) @ unit(pipe.embed(TEXTS, progress=False)).T
    order = np.argsort(-scores, axis=1)[:, :3]
    assert got["label"].tolist() == [f"doc{i}" for i in order.ravel()]
    assert got["text"].tolist() == [TEXTS[i] for i in order.ravel()]
    assert got["query"].tolist() == [q for q in queries for _ in range(3)] == got["query_text"].tolist()
    np.testing.assert_allclose(got["score"], np.take_along_axis(scores, order, 1).ravel(), atol=1e-5)
    assert got["label"].iloc[0] == "doc0" and got["label"].iloc[3] == "doc5"


def test_search_reuses_an_index_whose_level_wins(pipe):
    docs = pd.Series(["The cat sat down. Markets fell.", "It will rain."], index=[10, 20])
    corpus = S.index(pipe, docs, level="sentence", progress=False)
    assert list(corpus.labels) == [10, 10, 20]
    assert corpus.texts == ["The cat sat down.", "Markets fell.", "It will rain."]
    got = S.search(pipe, pd.Series(["stock prices"], index=["q"]), corpus, k=10, level="document", progress=False)
    assert got["text"].tolist()[0] == "Markets fell." and got["label"].tolist()[0] == 10
    assert got["rank"].tolist() == [1, 2, 3] and got["query"].tolist() == ["q"] * 3


def test_search_query_without_tokens_keeps_one_row(pipe):
    got = S.search(pipe, pd.Series(["a kitten", None, ""], index=[1, 2, 3]), pd.Series(TEXTS[:4], index=[5, 6, 7, 8]),
                   k=2, progress=False)
    assert got["query"].tolist() == [1, 1, 2, 3]
    assert got["rank"].tolist()[:2] == [1, 2]
    missing = got.iloc[2:]
    assert missing["rank"].isna().all() and missing["label"].isna().all() and missing["text"].isna().all()
    assert missing["score"].isna().all()
    assert got["rank"].dtype == "Int64" and got["label"].dtype == "Int64"
    assert got["label"].iloc[0] == 5
    empty = S.search(pipe, ["a kitten"], [None, ""], k=2, progress=False)
    assert len(empty) == 1 and empty["score"].isna().all()
