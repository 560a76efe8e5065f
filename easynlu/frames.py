"""Encoded → pandas DataFrame, built once from flat arrays, with the columns easynlu.layout names. No torch here.

Every input document appears: at token and sentence level a document with no rows gets one
placeholder row (empty text, missing embedding), so no input is ever lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .encoded import Encoded
from .inputs import Documents
from .layout import Column, columns
from .options import Options


@dataclass(frozen=True)
class _Rows:
    """The output rows: each one's document, its row in ``encoded`` (-1: a placeholder) and its span."""

    encoded: Encoded
    docs: Documents
    doc_of: np.ndarray
    take: np.ndarray
    start: np.ndarray  # int64 character offsets in the document (0, 0 for a placeholder)
    end: np.ndarray


def _vector_column(matrix: np.ndarray, present: np.ndarray, take: np.ndarray) -> np.ndarray:
    """An object array whose cells are row views of ``matrix`` (None where absent)."""
    cells = np.empty(len(take), dtype=object)
    ok = take >= 0
    ok[ok] = present[take[ok]]
    views = list(matrix)  # row views straight into the computed block, never a copy of it
    for i, row in zip(np.flatnonzero(ok).tolist(), take[ok].tolist(), strict=True):  # numpy would broadcast a list
        cells[i] = views[row]
    return cells


def _str_array(values: list) -> pd.api.extensions.ExtensionArray:
    """A pandas ``str`` array; Python storage when a text keeps a lone surrogate (pyarrow refuses it)."""
    try:
        return pd.array(values, dtype="str")
    except UnicodeEncodeError:
        return pd.array(values, dtype=pd.StringDtype("python", na_value=np.nan))


def build(encoded: Encoded, docs: Documents, options: Options | None = None) -> pd.DataFrame:
    """The DataFrame for ``encoded``'s rows, with ``docs``' index and carried columns.

    Its columns are those :func:`easynlu.layout.columns` names for ``options``, the level, the
    vector columns and ``docs``' other columns, in that order: the level's text column
    (``token``, ``sentence`` or ``document``, holding the user's own text); ``start``/``end``
    (int64); the ``sentence``/``document`` context texts; ``sentence_id`` (nullable int); one
    column of float32 row views per embeddings matrix (None where a row has no vector); then
    the input DataFrame's other columns, their dtypes kept. The index repeats each document's
    label. Names are easynlu's: ``columns="nlu"`` is applied afterwards by ``easynlu.nlu``.
    Raises nothing for well-formed input (ValueError when the layout asks for sentence
    columns and ``encoded`` has no sentence spans); it is the last, pure step.
    """
    options = options or Options()
    extra = docs.extra
    layout = columns(options, encoded.level, list(encoded.vectors), [] if extra is None else list(extra.columns))
    rows = _rows(encoded, docs)
    frame = pd.DataFrame({column.name: _values(column, rows) for column in layout if column.kind != "carried"})
    carried = [column for column in layout if column.kind == "carried"]
    if extra is not None and carried:  # all of extra's columns, in order; dtypes kept
        renamed = {column.source: column.name for column in carried if column.name != column.source}
        frame = pd.concat([frame, extra.iloc[rows.doc_of].reset_index(drop=True).rename(columns=renamed)], axis=1)
    frame.index = docs.index.take(rows.doc_of)
    return frame


def _rows(encoded: Encoded, docs: Documents) -> _Rows:
    """One row per row of ``encoded``, plus a placeholder for each document without rows, in input order."""
    if encoded.level == "document":
        doc_of = take = np.arange(encoded.n_docs)
    else:
        empty = np.flatnonzero(np.bincount(encoded.row_doc, minlength=encoded.n_docs) == 0)
        doc_all = np.concatenate([encoded.row_doc, empty])
        order = np.argsort(doc_all, kind="stable")
        doc_of = doc_all[order]
        take = np.concatenate([np.arange(len(encoded.row_doc)), np.full(len(empty), -1)])[order]
    return _Rows(encoded, docs, doc_of, take, _gather(encoded.row_start, take), _gather(encoded.row_end, take))


def _gather(values: np.ndarray, take: np.ndarray) -> np.ndarray:
    """``values[take]`` as int64, 0 where ``take`` is -1 (a placeholder row)."""
    out = np.zeros(len(take), dtype=np.int64)
    found = take >= 0
    out[found] = values[take[found]]
    return out


def _values(column: Column, rows: _Rows) -> object:
    """The cells of one of easynlu's own columns (not a carried one), one per row."""
    encoded, originals = rows.encoded, rows.docs.originals
    if column.kind == "vector":
        name = str(column.name)
        return _vector_column(encoded.vectors[name], encoded.present[name], rows.take)
    if column.kind == "position":
        return rows.start if column.name == "start" else rows.end
    if column.kind == "sentence_id":
        return pd.arrays.IntegerArray(_gather(_sentences(encoded.row_sentence, encoded), rows.take), rows.take < 0)
    if column.kind == "text" and encoded.level == "document":  # one row per document, in order
        return _str_array(originals)
    if column.name == "document":  # the context beside finer rows
        return _str_array([originals[d] for d in rows.doc_of.tolist()])
    if column.kind == "context":  # the sentence around a token
        starts = _gather(_sentences(encoded.sentence_start, encoded), rows.take)
        ends = _gather(_sentences(encoded.sentence_end, encoded), rows.take)
        return _str_array(_slices(originals, rows.doc_of, starts, ends, rows.take))
    return _str_array(_slices(originals, rows.doc_of, rows.start, rows.end, rows.take))  # the level's text


def _slices(originals: list[str | None], doc_of: np.ndarray, starts: np.ndarray, ends: np.ndarray,
            take: np.ndarray) -> list[str]:
    """Each row's span of its document's own text ("" for a placeholder row)."""
    return [(originals[d] or "")[s:e] if t >= 0 else ""
            for d, s, e, t in zip(doc_of.tolist(), starts.tolist(), ends.tolist(), take.tolist(), strict=True)]


def _sentences(values: np.ndarray | None, encoded: Encoded) -> np.ndarray:
    """``values`` (a sentence array of ``encoded``), which the sentence columns need."""
    if values is None:
        raise ValueError(f"The {encoded.level}-level rows have no sentence spans (row_sentence, sentence_start, "
                         f"sentence_end), which the sentence and sentence_id columns need.")
    return values
