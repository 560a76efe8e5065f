"""Tests for easynlu.layout: which output columns exist, in what order, of what kind (pure, no model)."""

import subprocess
import sys

import pytest

from easynlu import layout
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

