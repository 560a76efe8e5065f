"""Tests for easynlu.layout: which output columns exist, in what order, of what kind (pure, no model)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from easynlu import frames, layout
from easynlu.encoded import Encoded
from easynlu.inputs import read
from easynlu.layout import Column
from easynlu.options import Options

V = "en_embed_bert_embeddings"
V2 = "en_embed_minilm_embeddings"
TEXT, START, END = ("text",), ("start", "position"), ("end", "position")
SENTENCE, DOCUMENT, SID = ("sentence", "context"), ("document", "context"), ("sentence_id", "sentence_id")


def table(level, *entries):
    """(name, kind) pairs, the level's text column first; a 1-tuple ("text",) is that column."""
    return [(level, "text") if entry == TEXT else entry for entry in entries]


CASES = [  # options, level, expected (name, kind) of easynlu's own columns (the vectors V, V2 added)
    ({}, "token", table("token", TEXT)),
    ({}, "sentence", table("sentence", TEXT)),
    ({}, "document", table("document", TEXT)),
    ({"positions": True}, "token", table("token", TEXT, START, END)),
    ({"metadata": True}, "token", table("token", TEXT, SENTENCE, DOCUMENT, SID)),
    ({"metadata": True}, "sentence", table("sentence", TEXT, DOCUMENT, SID)),
    ({"metadata": True}, "document", table("document", TEXT)),
    ({"drop_irrelevant_cols": False}, "token", table("token", TEXT, SENTENCE, DOCUMENT)),
    ({"drop_irrelevant_cols": False}, "sentence", table("sentence", TEXT, DOCUMENT)),
    ({"drop_irrelevant_cols": False}, "document", table("document", TEXT)),
    ({"positions": True, "metadata": True, "drop_irrelevant_cols": False}, "token",
     table("token", TEXT, START, END, SENTENCE, DOCUMENT, SID)),
    ({"positions": True, "metadata": True}, "sentence", table("sentence", TEXT, START, END, DOCUMENT, SID)),
    ({"columns": "nlu", "output_level": "document"}, "token", table("token", TEXT)),  # neither is read here
]


@pytest.mark.parametrize(("options", "level", "own"), CASES)
def test_layout_columns_in_order_with_their_kinds(options, level, own):
    got = layout.columns(Options(**options), level, [V, V2], ["id", "score"])
    want = [*own, (V, "vector"), (V2, "vector"), ("id", "carried"), ("score", "carried")]
    assert [(c.name, c.kind) for c in got] == want
    assert [c.source for c in got if c.kind == "carried"] == ["id", "score"]
    assert all(c.source is None for c in got if c.kind != "carried")


def test_layout_carried_columns_dropped_without_keep_stranger_features():
    got = layout.columns(Options(keep_stranger_features=False), "token", [V], ["id", "token"])
    assert got == (Column("token", "text"), Column(V, "vector"))


def test_layout_clashing_carried_columns_get_input_suffix():
    carried = ["token", V, "start", "document", "sentence_id", "sentence", "token_input", 0]
    got = layout.columns(Options(positions=True), "token", [V], carried)
    assert [(c.name, c.source) for c in got if c.kind == "carried"] == [
        ("token_input", "token"), (f"{V}_input", V), ("start_input", "start"), ("document", "document"),
        ("sentence_id", "sentence_id"), ("sentence", "sentence"), ("token_input", "token_input"), (0, 0)]
    # only the columns that exist clash: with metadata the context columns and sentence_id are there
    got = layout.columns(Options(metadata=True), "token", [V], carried)
    assert [c.name for c in got if c.kind == "carried"] == [
        "token_input", f"{V}_input", "start", "document_input", "sentence_id_input", "sentence_input",
        "token_input", 0]
    got = layout.columns(Options(metadata=True), "document", [V], carried)
    assert [c.name for c in got if c.kind == "carried"][3:6] == ["document_input", "sentence_id", "sentence"]


def test_layout_no_vectors_no_carried():
    assert layout.columns(Options(), "sentence", []) == (Column("sentence", "text"),)


def test_layout_every_kind_is_made():
    got = layout.columns(Options(positions=True, metadata=True), "token", [V], ["id"])
    assert {c.kind for c in got} == set(layout.KINDS)


def test_layout_unknown_level_raises():
    with pytest.raises(ValueError, match="level='word'"):
        layout.columns(Options(), "word", [V])


def test_layout_column_is_frozen():
    column = Column("token", "text")
    with pytest.raises(AttributeError):
        column.name = "other"  # type: ignore[misc]


def test_layout_imports_no_pandas_pyspark_torch_or_numpy():
    code = ("import sys, easynlu.layout\n"
            "print([m for m in ('numpy', 'pandas', 'pyspark', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- frames.build fills exactly the layout's columns ----------------------------------------------


def a(*values):
    return np.array(values, dtype=np.int64)


TEXTS = ["I love NLP. Yes", None, "Hi!"]
M = np.arange(24, dtype=np.float32).reshape(6, 4)
ENCODED = {  # doc 0: two sentences ("I love NLP." and "Yes"); doc 1 missing
    "token": Encoded("token", 3, a(0, 0, 0, 0, 2, 2), a(0, 2, 7, 12, 0, 2), a(1, 6, 10, 15, 2, 3),
                     {V: M, V2: M[:, :2].copy()}, {V: np.ones(6, bool), V2: np.ones(6, bool)},
                     a(0, 0, 0, 1, 0, 0), a(0, 0, 0, 12, 0, 0), a(11, 11, 11, 15, 3, 3)),
    "sentence": Encoded("sentence", 3, a(0, 0, 2), a(0, 12, 0), a(11, 15, 3), {V: M[:3], V2: M[:3, :2].copy()},
                        {V: np.ones(3, bool), V2: np.ones(3, bool)}, a(0, 1, 0), a(0, 12, 0), a(11, 15, 3)),
    "document": Encoded("document", 3, a(0, 1, 2), a(0, 0, 0), a(15, 0, 3), {V: M[:3], V2: M[:3, :2].copy()},
                        {V: a(1, 0, 1).astype(bool), V2: a(1, 0, 1).astype(bool)}),
}
OPTIONS = [Options(), Options(positions=True), Options(metadata=True), Options(drop_irrelevant_cols=False),
           Options(positions=True, metadata=True, keep_stranger_features=False)]
DTYPES = {"text": "str", "position": np.dtype(np.int64), "context": "str", "sentence_id": pd.Int64Dtype(),
          "vector": np.dtype(object)}


@pytest.mark.parametrize("level", ["token", "sentence", "document"])
@pytest.mark.parametrize("options", OPTIONS, ids=repr)
def test_layout_is_what_frames_build_gives(level, options):
    source = pd.DataFrame({"text": pd.Series(TEXTS, dtype=object), "n": a(1, 2, 3).astype(np.int32),
                           "document": ["d0", "d1", "d2"], "start": [0.5, 1.5, 2.5]})
    want = layout.columns(options, level, [V, V2], ["n", "document", "start"])
    df = frames.build(ENCODED[level], read(source), options)
    assert list(df.columns) == [c.name for c in want]
    for position, column in enumerate(want):
        dtype = source[column.source].dtype if column.kind == "carried" else DTYPES[column.kind]
        assert df.iloc[:, position].dtype == dtype, column
    if options.metadata and level != "document":
        assert df["sentence_id"].tolist() == ([0, 0, 0, 1, pd.NA, 0, 0] if level == "token" else [0, 1, pd.NA, 0])
        assert df["document"].iloc[0] == TEXTS[0]
    if options.metadata and level == "token":
        assert df["sentence"].tolist() == ["I love NLP."] * 3 + ["Yes", "", "Hi!", "Hi!"]


def test_layout_frames_build_needs_sentence_spans_for_sentence_columns():
    enc = Encoded("token", 1, a(0), a(0), a(2), {V: M[:1]}, {V: np.ones(1, bool)})  # no sentence spans
    assert list(frames.build(enc, read(["Hi"]), Options(positions=True)).columns) == ["token", "start", "end", V]
    with pytest.raises(ValueError, match="no sentence spans"):
        frames.build(enc, read(["Hi"]), Options(metadata=True))
