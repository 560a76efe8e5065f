"""Reliability: bad input, faults and concurrency. Nothing lost, nothing shifted, and every error
says what to do.

Most tests run the tiny random BERT (fast); real MiniLM where shared weights matter.
"""

import copy
import gc
import math
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_bert_dir

import easynlu
from easynlu import backends

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

LEVELS = ["token", "sentence", "document"]
TEXT_COLUMN = {"token": "token", "sentence": "sentence", "document": "document"}


def vector_column(df):
    return next(c for c in df.columns if str(c).endswith("_embeddings"))


def is_missing(value):
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def assert_unchanged(obj, before):
    """The caller's object equals the deep copy taken before the call."""
    if isinstance(obj, pd.DataFrame):
        pd.testing.assert_frame_equal(obj, before)
    elif isinstance(obj, pd.Series):
        pd.testing.assert_series_equal(obj, before)
    elif isinstance(obj, np.ndarray):
        assert obj.dtype == before.dtype and obj.tolist() == before.tolist()
    elif isinstance(obj, (list, tuple, str)):
        assert type(obj) is type(before) and len(obj) == len(before)
        for a, b in zip(obj, before, strict=True):
            assert (is_missing(a) and is_missing(b) and type(a) is type(b)) or a == b


# -- 1. the bad-input matrix ------------------------------------------------------------------

UNICODE = {
    "single-character": "x",
    "empty": "",
    "whitespace-only": " \t\n\r\u00a0\u2003\u3000 ",
    "control-chars": "bell\x07 and\x1b[31m escape\x01 chars\x7f here.",
    "nul": "nul\x00byte in\x00 the text\x00",
    "zero-width": "zero\u200bwidth join\u200der non\u200cjoiner \ufeffbom",
    "combining-accents": "cafe\u0301 nai\u0308ve re\u0301sume\u0301 n\u0303",
    "emoji-sequences": "family 👨\u200d👩\u200d👧\u200d👦 flags 🇫🇷🇯🇵 rainbow 🏳\ufe0f\u200d🌈 thumbs 👍🏽.",
    "right-to-left": "שלום עולם. مرحبا بالعالم! \u200fעברית\u200f",
    "mixed-scripts": "Hello мир, 世界 and κόσμε; こんにちは. Ǆemal ﬁne straße.",
    "lone-surrogates": "bad \ud800 half\udfff surrogates \udc00.",
    "only-dropped-chars": "\x00\x07\u200b\ufeff",
}

NEIGHBOURS = ("Before it. Two sentences here.", "after")


class Case:
    """A valid input: a factory (fresh object each call), its texts and the index it must keep."""

    def __init__(self, make, texts, index=None, extra=None):
        self.make, self.texts = make, texts
        self.index = pd.RangeIndex(len(texts)) if index is None else index
        self.extra = extra or {}  # carried column -> its values, one per input


def _valid_cases():
    cases = {}
    for name, text in UNICODE.items():
        cases[f"str-{name}"] = Case(lambda t=text: t, [text])
        texts = [NEIGHBOURS[0], text, NEIGHBOURS[1]]
        cases[f"list-{name}"] = Case(lambda t=texts: list(t), texts)
    for name, missing in {"None": None, "nan": float("nan"), "pd.NA": pd.NA}.items():
        texts = [NEIGHBOURS[0], missing, NEIGHBOURS[1]]
        cases[f"list-{name}"] = Case(lambda t=texts: list(t), [NEIGHBOURS[0], None, NEIGHBOURS[1]])
    cases["all-missing"] = Case(lambda: [None, float("nan"), pd.NA, "", "  "], [None, None, None, "", "  "])
    cases["tuple"] = Case(lambda: ("a b", None, "c"), ["a b", None, "c"])
    cases["ndarray-object"] = Case(lambda: np.array(["a b", None, "c. d."], dtype=object), ["a b", None, "c. d."])
    cases["generator"] = Case(lambda: (t for t in ["gen one.", "", "gen two"]), ["gen one.", "", "gen two"])
    cases["empty-list"] = Case(lambda: [], [])
    cases["empty-series"] = Case(lambda: pd.Series([], dtype=object), [])
    cases["empty-str-series"] = Case(lambda: pd.Series([], dtype="str", index=pd.Index([], name="id")), [],
                                     index=pd.Index([], name="id", dtype=object))
    cases["empty-dataframe-with-text"] = Case(
        lambda: pd.DataFrame({"text": pd.Series([], dtype=object), "n": pd.Series([], dtype="int64")}), [],
        extra={"n": []})
    dup = pd.Index([7, 7, 3, 7], name="k")
    cases["duplicate-labels"] = Case(lambda: pd.Series(["a b. c d.", None, "e", "f g"], index=dup.copy()),
                                     ["a b. c d.", None, "e", "f g"], index=dup)
    multi = pd.MultiIndex.from_tuples([("x", 1), ("x", 2), ("y", 1)], names=["grp", "n"])
    cases["multiindex-dataframe"] = Case(
        lambda: pd.DataFrame({"text": ["one two. three.", "", "four"], "label": [1, 2, 3]}, index=multi.copy()),
        ["one two. three.", "", "four"], index=multi, extra={"label": [1, 2, 3]})
    cases["categorical-text"] = Case(
        lambda: pd.DataFrame({"text": pd.Categorical(["same text", None, "same text", "other"]),
                              "w": [0.5, 1.5, 2.5, 3.5]}, index=["a", "b", "c", "d"]),
        ["same text", None, "same text", "other"], index=pd.Index(["a", "b", "c", "d"]),
        extra={"w": [0.5, 1.5, 2.5, 3.5]})
    cases["string-pyarrow-text"] = Case(
        lambda: pd.DataFrame({"body": pd.array(["pa one. pa two.", None, "pa three"], dtype="string[pyarrow]"),
                              "id": [10, 20, 30]}),
        ["pa one. pa two.", None, "pa three"], extra={"id": [10, 20, 30]})
    return cases


VALID = _valid_cases()


def alone(p, text, level):
    """The rows of one text predicted on its own: what it must get inside any batch."""
    return p.predict([text], output_level=level, positions=True, progress=False)


@pytest.fixture(scope="module", params=["torch", "onnx"])
def either(request, tiny_bert):
    """The tiny BERT pipeline on each backend: these guarantees hold on both."""
    pipe = easynlu.load(str(tiny_bert), backend=request.param)
    pipe.predict("warm up", progress=False)
    return pipe


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", list(VALID))
def test_reliability_valid_input_keeps_every_row_in_order(either, name, level):
    case = VALID[name]
    data = case.make()
    before = None if name == "generator" else copy.deepcopy(data)
    df = either.predict(data, output_level=level, positions=True, progress=False)
    if before is not None:
        assert_unchanged(data, before)

    col = vector_column(df)
    text_col = TEXT_COLUMN[level]
    assert list(df.columns) == [text_col, "start", "end", col, *case.extra]
    parts = [alone(either, text, level) for text in case.texts]
    counts = [len(part) for part in parts]
    assert all(n >= 1 for n in counts)  # every input is accounted for
    if level == "document":
        assert counts == [1] * len(case.texts)
    pd.testing.assert_index_equal(df.index, case.index.repeat(counts), exact=False)
    assert df.index.names == case.index.names

    expected = [row for part in parts for row in part.itertuples(index=False, name=None)]
    for i, (row_text, start, end, vec) in enumerate(zip(df[text_col], df["start"], df["end"], df[col], strict=True)):
        want = dict(zip([text_col, "start", "end", col], expected[i], strict=True))
        if level == "document":
            doc = case.texts[i]
            assert (pd.isna(row_text) and doc is None) or row_text == doc
            assert (start, end) == (0, len(doc or ""))
        else:
            assert (row_text, start, end) == (want[text_col], want["start"], want["end"])
        assert (vec is None) == (want[col] is None)
        if vec is not None:
            assert vec.dtype == np.float32 and vec.shape == (64,)
            np.testing.assert_allclose(vec, want[col], atol=1e-5, rtol=0)

    doc_of_row = np.repeat(np.arange(len(case.texts)), counts)
    for d, row_text, start, end, vec in zip(doc_of_row, df[text_col], df["start"], df["end"], df[col], strict=True):
        text = case.texts[d] or ""
        if level != "document":
            assert text[start:end] == row_text
        if not text.strip() or set(text) <= set("\x00\x07\u200b\ufeff"):
            assert vec is None  # a document with no tokens: one placeholder row, no vector
    for column, values in case.extra.items():
        assert df[column].tolist() == list(np.repeat(np.array(values, dtype=object), counts))


@pytest.mark.parametrize("name", list(VALID))
def test_reliability_valid_input_embed(either, name):
    case = VALID[name]
    data = case.make()
    before = None if name == "generator" else copy.deepcopy(data)
    vectors = either.embed(data, progress=False)
    if before is not None:
        assert_unchanged(data, before)
    assert vectors.dtype == np.float32 and vectors.shape == (len(case.texts), 64)
    doc = either.predict(case.make(), output_level="document", progress=False)
    for row, cell in zip(vectors, doc[vector_column(doc)], strict=True):
        if cell is None:
            assert np.isnan(row).all()
        else:
            np.testing.assert_allclose(row, cell, atol=1e-6)


def test_reliability_combining_marks_stay_with_their_word(either):
    """An accent-stripping tokenizer drops a decomposed accent; the token column keeps it."""
    text = "cafe\u0301 nai\u0308ve resume\u0301. n\u0303"
    df = either.predict(text, output_level="token", positions=True, progress=False)
    assert df["token"].tolist() == ["cafe\u0301", "nai\u0308ve", "resume\u0301", ".", "n\u0303"]
    assert all(text[s:e] == t for s, e, t in zip(df["start"], df["end"], df["token"], strict=True))


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("ref", ["embed_sentence:{tiny}", "en.embed_sentence.minilm",
                                 "en.embed_sentence.minilm {tiny}"])
def test_reliability_sentence_models_keep_every_row(tiny_bert, ref, level):
    """Sentence models (BERT pooler, sentence-transformers) and two-model pipelines, on awkward input."""
    p = easynlu.load(ref.format(tiny=tiny_bert))
    data = pd.Series(["", None, "cafe\u0301 ok. Next one.", "\x00\u200b", "  ", "x"], index=list("abcdef"))
    before = data.copy(deep=True)
    df = p.predict(data, output_level=level, positions=True, progress=False)
    pd.testing.assert_series_equal(data, before)
    assert list(dict.fromkeys(df.index)) == list("abcdef")
    if level == "document":
        assert list(df.index) == list("abcdef")
    columns = [c for c in df.columns if str(c).endswith("_embeddings")]
    assert len(columns) == len(p.components)
    for column in columns:
        has_vector = {label: cell is not None for label, cell in zip(df.index, df[column], strict=True)}
        assert has_vector == {"a": False, "b": False, "c": True, "d": False, "e": False, "f": True}
    vectors = p.embed(data, progress=False)
    assert vectors.shape[0] == 6 and np.isnan(vectors[[0, 1, 3, 4]]).all() and not np.isnan(vectors[[2, 5]]).any()


ERRORS = {
    "scalar-None": (lambda: None, ["NoneType", "pass a str"]),
    "scalar-nan": (lambda: float("nan"), ["float", "pass a str"]),
    "scalar-pd.NA": (lambda: pd.NA, ["NAType", "pass a str"]),
    "scalar-bytes": (lambda: b"raw bytes", ["bytes", "decode"]),
    "scalar-int": (lambda: 42, ["int", "pass a str"]),
    "list-bytes": (lambda: ["ok", b"raw"], ["position 1", "bytes", "decode"]),
    "list-int": (lambda: ["ok", "fine", 7], ["position 2", "int", "astype(str)"]),
    "nested-list": (lambda: ["ok", ["nested", "list"]], ["position 1", "list", "str"]),
    "series-label": (lambda: pd.Series(["a", 3.5], index=["r1", "r2"], dtype=object),
                     ["position 1", "'r2'", "float", "astype(str)"]),
    "dataframe-no-columns": (lambda: pd.DataFrame(), ["text_column="]),
    "dataframe-no-text-column": (lambda: pd.DataFrame({"n": [1, 2], "f": [0.5, 1.5]}),
                                 ["'n'", "'f'", "text_column="]),
    "dataframe-empty-no-text-column": (lambda: pd.DataFrame({"n": pd.Series([], dtype="int64")}),
                                       ["'n'", "text_column="]),
}


@pytest.mark.parametrize("call", [*LEVELS, "embed"])
@pytest.mark.parametrize("name", list(ERRORS))
def test_reliability_bad_input_raises_input_error_saying_what_to_do(either, name, call):
    make, needles = ERRORS[name]
    data = make()
    before = copy.deepcopy(data)
    with pytest.raises(easynlu.InputError) as info:
        if call == "embed":
            either.embed(data, progress=False)
        else:
            either.predict(data, output_level=call, progress=False)
    assert isinstance(info.value, TypeError)
    message = str(info.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    if isinstance(data, pd.DataFrame):
        assert_unchanged(data, before)


def test_reliability_text_column_picks_among_several_string_columns(either):
    frame = pd.DataFrame({"title": ["Short title", "Other"], "body": ["The body. Two.", "x y"]})
    before = frame.copy(deep=True)
    df = either.predict(frame, output_level="document", text_column="body", progress=False)
    pd.testing.assert_frame_equal(frame, before)
    assert df["document"].tolist() == ["The body. Two.", "x y"]
    assert df["title"].tolist() == ["Short title", "Other"]


@pytest.fixture(scope="module")
def long_words():
    rng = np.random.default_rng(0)
    vocab = ["alpha", "beta", "gamma", "river", "mountain", "unbelievable", "quietly", "naïve", "cafe\u0301", "x"]
    return [vocab[i] for i in rng.integers(0, len(vocab), 100_000)]


def test_reliability_100k_word_document_at_document_level(p, long_words):
    text = " ".join(long_words)
    df = p.predict(text, output_level="document", progress=False)
    assert len(df) == 1 and df["document"].iloc[0] == text
    vector = df[vector_column(df)].iloc[0]
    assert vector is not None and np.isfinite(vector).all()
    np.testing.assert_allclose(p.embed(text)[0], vector, atol=1e-6)  # embed is the same vector


def test_reliability_100k_word_document_at_sentence_level(either, long_words):
    # Every 1,000th word ends a sentence: 100 sentences, each longer than the model's window.
    words = ["river." if (i + 1) % 1000 == 0 else "The" if i % 1000 == 0 else w for i, w in enumerate(long_words)]
    text = " ".join(words)
    df = either.predict(text, output_level="sentence", positions=True, progress=False)
    assert len(df) == 100 and (df.index == 0).all()
    assert all(text[s:e] == t for s, e, t in zip(df["start"], df["end"], df["sentence"], strict=True))
    assert df["sentence"].iloc[0] == " ".join(words[:1000])
    assert all(v is not None and np.isfinite(v).all() for v in df[vector_column(df)])


def test_reliability_100k_word_document_at_token_level(p, long_words):
    text = " ".join(long_words)
    df = p.predict(text, output_level="token", positions=True, progress=False)
    assert len(df) == 100_000  # one row per word: nothing truncated
    assert df["token"].tolist() == long_words
    starts, ends = df["start"].to_numpy(), df["end"].to_numpy()
    assert (starts[1:] == ends[:-1] + 1).all() and starts[0] == 0 and ends[-1] == len(text)
    assert (df.index == 0).all()
    assert all(v is not None for v in df[vector_column(df)])


# -- 3. concurrency ---------------------------------------------------------------------------

TEXTS = ["The first document. It has two sentences.", "", "Second one", None, "Third, with more words here."]


def test_reliability_threads_share_one_load_and_get_the_right_rows(tmp_path, monkeypatch):
    fresh = make_bert_dir(tmp_path / "fresh-threads", layers=1, hidden=32, heads=1, seed=3)
    p = easynlu.load(str(fresh))
    calls = []
    real_load = backends.load

    def slow_counting_load(*args, **kwargs):
        calls.append(threading.get_ident())
        time.sleep(0.3)  # widen the window in which other threads arrive
        return real_load(*args, **kwargs)

    monkeypatch.setattr(backends, "load", slow_counting_load)
    n_threads = 8
    barrier = threading.Barrier(n_threads)
    results, errors = [None] * n_threads, []
    levels = [LEVELS[i % 3] for i in range(n_threads)]

    def work(i):
        try:
            barrier.wait()
            results[i] = p.predict(TEXTS, output_level=levels[i], positions=True)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(calls) == 1
    assert [m.model for m in easynlu.loaded_models()].count(str(fresh)) == 1
    for level, df in zip(levels, results, strict=True):
        assert_frames_close(df, p.predict(TEXTS, output_level=level, positions=True, progress=False))
    assert len(calls) == 1


@pytest.mark.parametrize("other", ["en.embed_sentence.minilm", "hf:sentence-transformers/all-MiniLM-L6-v2"])
def test_reliability_pipelines_sharing_a_model_share_its_weights(other):
    token = easynlu.load("en.embed.minilm")
    second = easynlu.load(other)
    a = token._parts()[0].backend.model.embeddings.word_embeddings.weight
    b = second._parts()[0].backend.model.embeddings.word_embeddings.weight
    assert a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def failing_on_call(fn, n: int, error: BaseException):
    """``fn`` wrapped to raise ``error`` on its n-th call, and the call counter."""
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise error
        return fn(*args, **kwargs)

    return wrapper, calls


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_reliability_interrupted_predict_leaves_the_pipeline_usable(p, monkeypatch, error):
    texts = [f"Document number {i}. It says {'more ' * i}things." for i in range(6)]
    clean = {level: p.predict(texts, output_level=level, batch_size=2, progress=False) for level in LEVELS}
    backend = p._parts()[0].backend
    flaky_forward, calls = failing_on_call(backend.forward, 2, error)
    monkeypatch.setattr(backend, "forward", flaky_forward)
    with pytest.raises(type(error)):
        p.predict(texts, output_level="token", batch_size=2, progress=False)
    assert calls["n"] == 2  # it stopped halfway
    for level in LEVELS:
        again = p.predict(texts, output_level=level, batch_size=2, progress=False)
        assert_frames_close(again, clean[level])


def test_reliability_failed_load_is_not_cached(tmp_path, monkeypatch):
    fresh = make_bert_dir(tmp_path / "fresh-fail", layers=1, hidden=32, heads=1, seed=4)
    failing_once, calls = failing_on_call(backends.load, 1, KeyboardInterrupt())
    monkeypatch.setattr(backends, "load", failing_once)
    p = easynlu.load(str(fresh))
    with pytest.raises(KeyboardInterrupt):
        p.predict("first try")
    assert not p.info()["loaded"]
    df = p.predict("second try", output_level="document", progress=False)
    assert calls["n"] == 2 and df.iloc[0, -1] is not None and p.info()["loaded"]


def assert_frames_close(got, want):
    col = vector_column(want)
    pd.testing.assert_frame_equal(got.drop(columns=[col]), want.drop(columns=[col]))
    for a, b in zip(got[col], want[col], strict=True):
        assert (a is None) == (b is None)
        if b is not None:
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


# -- 4. faults: CUDA out-of-memory, simulated ---------------------------------------------------

@pytest.mark.parametrize("action", ["embed", "embed_sentence"])
@pytest.mark.parametrize("level", LEVELS)
def test_reliability_out_of_memory_splits_the_batch_and_gives_the_same_result(tiny_bert, monkeypatch, level,
                                                                              action):
    p = easynlu.load(str(tiny_bert) if action == "embed" else f"embed_sentence:{tiny_bert}")
    texts = [f"Sentence {i} of a batch. {'Extra words. ' * (i % 4)}" for i in range(9)] + ["", None]
    clean = p.predict(texts, output_level=level, positions=True, progress=False)
    backend = p._parts()[0].backend
    real_forward = backend.forward
    sizes = []

    def forward_fitting_one_row(ids, mask, **kwargs):
        sizes.append(ids.shape[0])
        # Retries run after the except block, so the failed attempt's tensors can be freed.
        assert sys.exc_info() == (None, None, None)
        if ids.shape[0] > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(ids, mask, **kwargs)

    monkeypatch.setattr(backend, "forward", forward_fitting_one_row)
    df = p.predict(texts, output_level=level, positions=True, progress=False)
    assert max(sizes) > 1 and sizes.count(1) >= 9  # it was split down to single windows
    assert sizes[1] == sizes[0] // 2  # by halving
    assert_frames_close(df, clean)


def test_reliability_out_of_memory_on_a_single_text_raises_and_says_what_to_do(p, monkeypatch):
    backend = p._parts()[0].backend

    def always_oom(ids, mask, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(backend, "forward", always_oom)
    with pytest.raises(easynlu.OutOfMemoryError) as info:
        p.predict(["one text", "another one"], output_level="document", progress=False)
    assert isinstance(info.value, easynlu.DeviceError) and isinstance(info.value, easynlu.EasyNLUError)
    assert isinstance(info.value.__cause__, torch.cuda.OutOfMemoryError)
    assert "CUDA out of memory" in str(info.value) and "device='cpu'" in str(info.value)
    monkeypatch.undo()
    assert p.predict("works again", output_level="document", progress=False).iloc[0, -1] is not None


# -- 5. memory --------------------------------------------------------------------------------

@pytest.mark.slow
def test_reliability_memory_is_stable_over_repeated_predicts(p):
    psutil = pytest.importorskip("psutil")
    rng = np.random.default_rng(1)
    vocab = ["alpha", "beta", "gamma", "river", "mountain", "unbelievable", "quietly", "city", "ran", "."]
    docs = [" ".join(vocab[j] for j in rng.integers(0, len(vocab), rng.integers(3, 20))) for _ in range(2000)]
    process = psutil.Process()
    rss = {}
    for call in range(1, 21):
        df = p.predict(docs, output_level="document", progress=False)
        assert len(df) == 2000
        del df
        if call in (5, 20):
            gc.collect()
            rss[call] = process.memory_info().rss
    growth = (rss[20] - rss[5]) / rss[5]
    assert abs(growth) < 0.05, f"RSS went from {rss[5] / 2**20:.0f} MiB to {rss[20] / 2**20:.0f} MiB"
