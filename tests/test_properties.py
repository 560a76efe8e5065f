"""Property tests (hypothesis) over random unicode texts, on the tiny random BERT.

Rows, spans and vectors must not depend on what else is in the batch or on input order.
"""

import copy
import unicodedata

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import easynlu

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Pieces that exercise the splitter, the tokenizer's normalizer and the offsets: sentence ends,
# abbreviations, whitespace of all kinds, control and format characters, combining marks,
# emoji sequences, right-to-left and CJK text, lone surrogates.
PIECES = [
    "word", "Hello", "NLP", "unbelievable", "Dr.", "e.g.", "U.S.", "5 p.m.", ".", "!", "?", "...",
    " ", "  ", "\n", "\n\n", "\t", "\r\n", "\u00a0", "\u2028", "\u3000",
    "\x00", "\x07", "\x1b", "\x85", "\u200b", "\u200c", "\u200d", "\ufeff", "\u200f",
    "e\u0301", "\u0301", "n\u0303o", "café", "Ǆ", "ﬁ", "ß",
    "👨\u200d👩\u200d👧\u200d👦", "🇫🇷", "🏳\ufe0f\u200d🌈", "👍🏽",
    "שלום", "مرحبا", "世界", "こんにちは", "мир", "κόσμε", "\ud800", "\udfff", "\ufffd",
]

any_char = st.characters(exclude_categories=())  # every code point, lone surrogates included
mixed_text = st.lists(st.one_of(st.sampled_from(PIECES), st.text(any_char, max_size=3)),
                      max_size=25).map("".join)
texts = st.one_of(st.text(any_char, max_size=40), mixed_text)
text_lists = st.lists(texts, max_size=6)


def column(df):
    return df.columns[-1]


def rows_of(df, label):
    """The rows of one input (by its index label) as comparable plain values."""
    part = df.loc[[label]]
    vectors = [None if v is None else np.asarray(v) for v in part[column(df)]]
    return part.iloc[:, 0].tolist(), part["start"].tolist(), part["end"].tolist(), vectors


def assert_vectors_close(left, right):
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)



@pytest.fixture(scope="module", params=["torch", "onnx"])
def p(request, tiny_bert):
    """The tiny BERT pipeline on each backend: these properties hold on both."""
    pipe = easynlu.load(str(tiny_bert), backend=request.param)
    pipe.predict("warm up", progress=False)
    return pipe


@SETTINGS
@given(data=text_lists)
def test_properties_document_level_one_row_per_input_in_order(p, data):
    before = copy.deepcopy(data)
    df = p.predict(data, output_level="document", progress=False)
    assert data == before
    assert len(df) == len(data)
    assert df.index.tolist() == list(range(len(data)))
    assert df["document"].tolist() == data
    vectors = p.embed(data, progress=False)
    assert vectors.shape == (len(data), 64) and vectors.dtype == np.float32
    for cell, row in zip(df[column(df)], vectors, strict=True):
        if cell is None:
            assert np.isnan(row).all()
        else:
            np.testing.assert_allclose(cell, row, atol=1e-6)


@SETTINGS
@given(data=text_lists)
def test_properties_token_spans_match_text(p, data):
    df = p.predict(data, output_level="token", positions=True, progress=False)
    labels = df.index.tolist()
    assert labels == sorted(labels) and set(labels) == set(range(len(data)))
    for label, token, start, end, vec in zip(labels, df["token"], df["start"], df["end"], df[column(df)], strict=True):
        text = data[label]
        assert text[start:end] == token
        assert (vec is None) == (token == "")
    for label in range(len(data)):  # tokens come in text order and never overlap
        _, starts, ends, _ = rows_of(df, label)
        assert all(s < e for s, e in zip(starts, ends, strict=True)) or starts == ends == [0]
        assert all(e <= s for e, s in zip(ends[:-1], starts[1:], strict=True))
        text = data[label]
        for s, e, following in zip(starts, ends, starts[1:] + [len(text)], strict=True):
            # a combining mark right after a word belongs to it, even when the tokenizer drops it
            assert s == e or e == following or unicodedata.category(text[e])[0] != "M"


@SETTINGS
@given(data=text_lists)
def test_properties_sentence_spans_in_order_and_cover_the_text(p, data):
    df = p.predict(data, output_level="sentence", positions=True, progress=False)
    assert df.index.tolist() == sorted(df.index) and set(df.index) == set(range(len(data)))
    for label, text in enumerate(data):
        sentences, starts, ends, _ = rows_of(df, label)
        assert [text[s:e] for s, e in zip(starts, ends, strict=True)] == sentences
        assert all(e <= s for e, s in zip(ends[:-1], starts[1:], strict=True))  # in order, non-overlapping
        covered = np.zeros(len(text), dtype=bool)
        for s, e in zip(starts, ends, strict=True):
            covered[s:e] = True
        lost = [c for c, cov in zip(text, covered, strict=True) if not cov and not c.isspace()]
        assert not lost, f"characters in no sentence: {lost!r}"


@SETTINGS
@given(a=texts, b=texts, level=st.sampled_from(["token", "sentence", "document"]))
def test_properties_batch_independence(p, a, b, level):
    together = p.predict([a, b], output_level=level, positions=True, progress=False)
    for label, text in enumerate([a, b]):  # each text's rows equal those of the text alone
        alone = p.predict([text], output_level=level, positions=True, progress=False)
        t_text, t_start, t_end, t_vec = rows_of(together, label)
        a_text, a_start, a_end, a_vec = rows_of(alone, 0)
        assert (t_text, t_start, t_end) == (a_text, a_start, a_end)
        assert_vectors_close(t_vec, a_vec)


@SETTINGS
@given(data=text_lists, seed=st.integers(0, 2**32 - 1), level=st.sampled_from(["token", "sentence", "document"]))
def test_properties_permuted_inputs_give_permuted_rows(p, data, seed, level):
    order = np.random.default_rng(seed).permutation(len(data))
    labels = [f"doc{i}" for i in range(len(data))]
    series = pd.Series(data, index=labels, dtype=object)
    straight = p.predict(series, output_level=level, positions=True, progress=False)
    shuffled = p.predict(series.iloc[order], output_level=level, positions=True, progress=False)
    expected_labels = [labels[i] for i in order]
    assert list(dict.fromkeys(shuffled.index)) == expected_labels
    for label in labels:
        s_text, s_start, s_end, s_vec = rows_of(shuffled, label)
        o_text, o_start, o_end, o_vec = rows_of(straight, label)
        assert (s_text, s_start, s_end) == (o_text, o_start, o_end)
        assert_vectors_close(s_vec, o_vec)
