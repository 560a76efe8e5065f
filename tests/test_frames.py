"""Tests for easynlu.frames: Encoded (flat arrays) + Documents -> the output DataFrame."""

import numpy as np
import pandas as pd
import pytest

from easynlu import frames
from easynlu.encoded import Encoded
from easynlu.inputs import read
from easynlu.options import Options

COL = "en_embed_bert_small_L12_128_embeddings"
COL2 = "en_embed_minilm_embeddings"


def a(*values):
    return np.array(values, dtype=np.int64)


def block(n, dim=3, offset=0.0):
    """A matrix that owns its memory, rows distinguishable by value."""
    m = np.empty((n, dim), dtype=np.float32)
    m[:] = np.arange(n * dim, dtype=np.float32).reshape(n, dim) + offset
    assert m.base is None
    return m


# Four documents: two words + one word, a missing one, a blank one.
TEXTS = ["I love NLP", None, "Hi!", "  "]


def token_encoded(matrix=None, present=None):
    """Token rows: doc 0 "I" "love" "NLP", doc 2 "Hi" "!"; docs 1 and 3 have no rows."""
    matrix = block(5) if matrix is None else matrix
    present = np.ones(5, dtype=bool) if present is None else present
    return Encoded(
        "token", 4, row_doc=a(0, 0, 0, 2, 2), row_start=a(0, 2, 7, 0, 2), row_end=a(1, 6, 10, 2, 3),
        vectors={COL: matrix}, present={COL: present},
    )


def assert_cells_are_views(column: pd.Series, matrix: np.ndarray, rows: list):
    """Every non-missing cell is a float32 (dim,) view whose base is the one matrix block."""
    for cell, row in zip(column.tolist(), rows, strict=True):
        if row is None:
            assert cell is None
            continue
        assert type(cell) is np.ndarray
        assert cell.dtype == np.float32 and cell.shape == (matrix.shape[1],)
        assert cell.base is matrix  # a view, not a copy
        np.testing.assert_array_equal(cell, matrix[row])


# --- token level ---------------------------------------------------------------------------------


def test_frames_token_level_rows_columns_and_placeholders():
    docs = read(TEXTS)
    matrix = block(5)
    df = frames.build(token_encoded(matrix), docs)
    assert list(df.columns) == ["token", COL]
    assert df["token"].tolist() == ["I", "love", "NLP", "", "Hi", "!", ""]
    assert df.index.tolist() == [0, 0, 0, 1, 2, 2, 3]  # input labels repeated, in input order
    assert isinstance(df["token"].dtype, pd.StringDtype)
    assert df[COL].dtype == object
    assert_cells_are_views(df[COL], matrix, [0, 1, 2, None, 3, 4, None])


def test_frames_token_level_positions():
    docs = read(TEXTS)
    df = frames.build(token_encoded(), docs, Options(positions=True))
    assert list(df.columns) == ["token", "start", "end", COL]
    assert df["start"].dtype == np.int64 and df["end"].dtype == np.int64
    assert df["start"].tolist() == [0, 2, 7, 0, 0, 2, 0]
    assert df["end"].tolist() == [1, 6, 10, 0, 2, 3, 0]
    doc_of_row = [0, 0, 0, 1, 2, 2, 3]
    for d, token, s, e in zip(doc_of_row, df["token"], df["start"], df["end"], strict=True):
        assert (TEXTS[d] or "")[s:e] == token


def test_frames_absent_vector_is_none():
    docs = read(TEXTS)
    matrix = block(5)
    present = np.array([True, False, True, True, False])
    df = frames.build(token_encoded(matrix, present), docs)
    assert df["token"].tolist() == ["I", "love", "NLP", "", "Hi", "!", ""]  # the row stays
    assert_cells_are_views(df[COL], matrix, [0, None, 2, None, 3, None, None])


def test_frames_every_document_missing_gives_placeholders_only():
    docs = read(["", None, "   "])
    enc = Encoded("token", 3, a(), a(), a(), {COL: np.zeros((0, 3), np.float32)}, {COL: np.zeros(0, bool)})
    df = frames.build(enc, docs, Options(positions=True))
    assert df.index.tolist() == [0, 1, 2]
    assert df["token"].tolist() == ["", "", ""]
    assert df["start"].tolist() == [0, 0, 0] and df["end"].tolist() == [0, 0, 0]
    assert df[COL].tolist() == [None, None, None]


@pytest.mark.parametrize("level", ["token", "sentence", "document"])
def test_frames_no_documents_gives_empty_frame_with_columns(level):
    enc = Encoded(level, 0, a(), a(), a(), {COL: np.zeros((0, 3), np.float32)}, {COL: np.zeros(0, bool)})
    df = frames.build(enc, read([]), Options(positions=True))
    assert list(df.columns) == [level, "start", "end", COL]
    assert len(df) == 0


# --- sentence level ------------------------------------------------------------------------------


def test_frames_sentence_level():
    texts = ["Hello there. How are you?", "", "One more."]
    docs = read(pd.Series(texts, index=["a", "b", "c"]))
    matrix = block(3, dim=4)
    enc = Encoded(
        "sentence", 3, row_doc=a(0, 0, 2), row_start=a(0, 13, 0), row_end=a(12, 25, 9),
        vectors={COL: matrix}, present={COL: np.ones(3, bool)},
    )
    df = frames.build(enc, docs, Options(positions=True))
    assert list(df.columns) == ["sentence", "start", "end", COL]
    assert df["sentence"].tolist() == ["Hello there.", "How are you?", "", "One more."]
    assert df.index.tolist() == ["a", "a", "b", "c"]
    for label, sentence, s, e in zip(df.index, df["sentence"], df["start"], df["end"], strict=True):
        assert texts["abc".index(label)][s:e] == sentence
    assert_cells_are_views(df[COL], matrix, [0, 1, None, 2])


# --- document level ------------------------------------------------------------------------------


def test_frames_document_level_one_row_per_document():
    docs = read(TEXTS)
    matrix = block(4)
    enc = Encoded(
        "document", 4, row_doc=a(0, 1, 2, 3), row_start=a(0, 0, 0, 0), row_end=a(10, 0, 3, 2),
        vectors={COL: matrix}, present={COL: np.array([True, False, True, False])},
    )
    df = frames.build(enc, docs, Options(positions=True))
    assert list(df.columns) == ["document", "start", "end", COL]
    assert df.index.tolist() == [0, 1, 2, 3]
    assert df["document"].iloc[0] == "I love NLP"
    assert pd.isna(df["document"].iloc[1])  # the missing input stays missing
    assert df["document"].tolist()[2:] == ["Hi!", "  "]
    assert df["start"].tolist() == [0, 0, 0, 0] and df["end"].tolist() == [10, 0, 3, 2]
    assert_cells_are_views(df[COL], matrix, [0, None, 2, None])


def test_frames_two_embedding_columns_in_order():
    docs = read(["a b", "c"])
    m1, m2 = block(2, dim=3), block(2, dim=5, offset=100)
    enc = Encoded(
        "document", 2, a(0, 1), a(0, 0), a(3, 1),
        vectors={COL: m1, COL2: m2}, present={COL: np.ones(2, bool), COL2: np.ones(2, bool)},
    )
    df = frames.build(enc, docs)
    assert list(df.columns) == ["document", COL, COL2]
    assert_cells_are_views(df[COL], m1, [0, 1])
    assert_cells_are_views(df[COL2], m2, [0, 1])


# --- index and carried columns -------------------------------------------------------------------


def test_frames_duplicate_index_labels_preserved():
    docs = read(pd.Series(TEXTS, index=[5, 5, 7, 5], dtype=object))
    df = frames.build(token_encoded(), docs)
    assert df.index.tolist() == [5, 5, 5, 5, 7, 7, 5]


def test_frames_multiindex_preserved():
    mi = pd.MultiIndex.from_tuples([("u", 1), ("u", 2), ("v", 1), ("v", 1)], names=["user", "n"])
    docs = read(pd.Series(TEXTS, index=mi, dtype=object))
    df = frames.build(token_encoded(), docs)
    assert isinstance(df.index, pd.MultiIndex)
    assert df.index.names == ["user", "n"]
    assert df.index.tolist() == [("u", 1)] * 3 + [("u", 2), ("v", 1), ("v", 1), ("v", 1)]


def test_frames_extra_columns_carried_with_dtypes():
    frame = pd.DataFrame(
        {
            "id": np.array([1, 2, 3, 4], dtype=np.int32),
            "text": pd.Series(TEXTS, dtype=object, index=["r", "s", "t", "u"]),
            "score": [0.5, np.nan, 1.5, 2.5],
            "label": pd.Categorical(["x", "y", "x", "y"]),
            "flag": [True, False, True, False],
            "note": pd.Series(["p", None, "q", "r"], dtype="string[pyarrow]", index=["r", "s", "t", "u"]),
        },
        index=["r", "s", "t", "u"],
    )
    docs = read(frame)
    df = frames.build(token_encoded(), docs, Options(positions=True))
    assert list(df.columns) == ["token", "start", "end", COL, "id", "score", "label", "flag", "note"]
    assert df.index.tolist() == ["r", "r", "r", "s", "t", "t", "u"]
    assert df["id"].tolist() == [1, 1, 1, 2, 3, 3, 4]
    assert df["label"].tolist() == ["x", "x", "x", "y", "x", "x", "y"]
    assert df["note"].iloc[3] is pd.NA
    for name in ["id", "score", "label", "flag", "note"]:
        assert df[name].dtype == frame[name].dtype, name


def test_frames_extra_column_clash_renamed_with_input_suffix():
    frame = pd.DataFrame(
        {"text": pd.Series(TEXTS, dtype=object), "token": ["t0", "t1", "t2", "t3"], COL: [1, 2, 3, 4],
         "start": [9, 9, 9, 9], "document": ["d0", "d1", "d2", "d3"]}
    )
    docs = read(frame, text_column="text")
    df = frames.build(token_encoded(), docs, Options(positions=True))
    assert list(df.columns) == ["token", "start", "end", COL, "token_input", f"{COL}_input", "start_input",
                                "document"]
    assert df["token_input"].tolist() == ["t0", "t0", "t0", "t1", "t2", "t2", "t3"]
    assert df[f"{COL}_input"].dtype == np.int64
    # at document level only the names actually used clash
    enc = Encoded("document", 4, a(0, 1, 2, 3), a(0, 0, 0, 0), a(10, 0, 3, 2), {COL: block(4)},
                  {COL: np.ones(4, bool)})
    df = frames.build(enc, docs)
    assert list(df.columns) == ["document", COL, "token", f"{COL}_input", "start", "document_input"]
    assert df["document_input"].tolist() == ["d0", "d1", "d2", "d3"]


def test_frames_input_objects_not_changed():
    frame = pd.DataFrame({"text": pd.Series(TEXTS, dtype=object), "n": [1, 2, 3, 4]})
    before = frame.copy(deep=True)
    docs = read(frame)
    df = frames.build(token_encoded(), docs)
    df["n"] = 0
    pd.testing.assert_frame_equal(frame, before)
    assert docs.extra["n"].tolist() == [1, 2, 3, 4]


# --- text that pyarrow cannot hold ---------------------------------------------------------------


def test_frames_lone_surrogate_kept_in_text_columns():
    text = "ab\ud800 cd"
    docs = read([text])
    assert docs.texts == ["ab\ufffd cd"]
    enc = Encoded("token", 1, a(0, 0), a(0, 4), a(3, 6), {COL: block(2)}, {COL: np.ones(2, bool)})
    df = frames.build(enc, docs, Options(positions=True))
    assert df["token"].tolist() == ["ab\ud800", "cd"]  # the user's own text, not the model's
    assert df["token"].dtype == "str"
    enc = Encoded("document", 1, a(0), a(0), a(6), {COL: block(1)}, {COL: np.ones(1, bool)})
    assert frames.build(enc, docs)["document"].tolist() == [text]

