"""Encoded → pandas DataFrame, built once from flat arrays. No torch here.

Every input document appears: at token and sentence level a document with no rows gets one
placeholder row (empty text, missing embedding), so no input is ever lost.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .encoded import Encoded
from .inputs import Documents
from .options import Options


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

    Columns: the level's text column (``token``, ``sentence`` or ``document``, holding the
    user's own text); ``start``/``end`` with ``options.positions``; the ``sentence`` and
    ``document`` texts beside finer rows with ``metadata`` or ``drop_irrelevant_cols=False``;
    ``sentence_id`` (the sentence's number in its document) with ``metadata``; one column of
    float32 row views per embeddings matrix (None where a row has no vector); then the input
    DataFrame's other columns (renamed with ``_input`` where they clash; dropped with
    ``keep_stranger_features=False``). The index repeats each document's label. Names are
    easynlu's: ``columns="nlu"`` is applied afterwards by ``easynlu.nlu``. Raises nothing for
    well-formed input; it is the last, pure step.
    """
    options = options or Options()
    level = encoded.level
    n_rows = len(encoded.row_doc)
    if level == "document":
        doc_of = np.arange(encoded.n_docs)
        take = np.arange(encoded.n_docs)
    else:  # add a placeholder row for each document without rows, keeping input order
        empty = np.flatnonzero(np.bincount(encoded.row_doc, minlength=encoded.n_docs) == 0)
        doc_all = np.concatenate([encoded.row_doc, empty])
        order = np.argsort(doc_all, kind="stable")
        doc_of = doc_all[order]
        take = np.concatenate([np.arange(n_rows), np.full(len(empty), -1)])[order]

    data: dict[str, object] = {}
    starts = np.where(take >= 0, encoded.row_start[np.maximum(take, 0)], 0) if n_rows else np.zeros(len(take), np.int64)
    ends = np.where(take >= 0, encoded.row_end[np.maximum(take, 0)], 0) if n_rows else np.zeros(len(take), np.int64)
    if level == "document":
        data["document"] = _str_array(docs.originals)
    else:
        originals = docs.originals
        texts = [
            (originals[d] or "")[s:e] if t >= 0 else ""
            for d, s, e, t in zip(doc_of.tolist(), starts.tolist(), ends.tolist(), take.tolist(), strict=True)
        ]
        data[level] = _str_array(texts)
    if options.positions:
        data["start"] = starts.astype(np.int64)
        data["end"] = ends.astype(np.int64)
    if level != "document" and (options.metadata or not options.drop_irrelevant_cols):
        data.update(_context(encoded, docs, doc_of, take))
    if level != "document" and options.metadata and encoded.row_sentence is not None:
        found = take >= 0  # a placeholder row has no sentence
        ids = np.zeros(len(take), dtype=np.int64)
        ids[found] = encoded.row_sentence[take[found]]
        data["sentence_id"] = pd.arrays.IntegerArray(ids, ~found)
    for column, matrix in encoded.vectors.items():
        data[column] = _vector_column(matrix, encoded.present[column], take)

    frame = pd.DataFrame(data)
    if docs.extra is not None and options.keep_stranger_features:  # dtypes kept; clashing names get _input
        extra = docs.extra.iloc[doc_of].reset_index(drop=True)
        extra = extra.rename(columns={c: f"{c}_input" for c in extra.columns if c in data})
        frame = pd.concat([frame, extra], axis=1)
    frame.index = docs.index.take(doc_of)
    return frame


def _context(encoded: Encoded, docs: Documents, doc_of: np.ndarray, take: np.ndarray) -> dict[str, object]:
    """The texts around each row: its sentence (token rows) and its document."""
    originals = docs.originals
    columns: dict[str, object] = {}
    if encoded.level == "token" and encoded.sentence_start is not None and encoded.sentence_end is not None:
        found = take >= 0
        starts = np.zeros(len(take), dtype=np.int64)
        ends = np.zeros(len(take), dtype=np.int64)
        starts[found], ends[found] = encoded.sentence_start[take[found]], encoded.sentence_end[take[found]]
        columns["sentence"] = _str_array([(originals[d] or "")[s:e] if t >= 0 else ""
                                          for d, s, e, t in zip(doc_of.tolist(), starts.tolist(), ends.tolist(),
                                                                take.tolist(), strict=True)])
    columns["document"] = _str_array([originals[d] for d in doc_of.tolist()])
    return columns
