"""Cosine similarity and exact top-k search over a pipeline's vectors, in plain numpy.

    >>> from easynlu.search import index, search, similarity
    >>> pipe = easynlu.load("en.embed_sentence.minilm")
    >>> similarity(pipe, ["I love NLP", "Cats purr"])             # a 2 x 2 DataFrame of cosines
    >>> corpus = index(pipe, texts)                                # embed the corpus once
    >>> search(pipe, ["what do cats do?"], corpus, k=3)            # one row per (query, rank)

Search is exact and blocked: queries (256 at a time) meet the corpus 8,192 rows at a time, and a
running top-k per query is kept, so the extra memory stays near 40 MB whatever the corpus size.
Measured by benchmarks/search.py on a 2-core CPU (random 384-d vectors, k=10): 1,000 queries take
0.66 s over 100,000 vectors (the numpy one-liner ``argsort(-(q @ C.T))`` takes 1.8 s and 1.5 GB)
and 6.8 s over 1,000,000; one query alone takes about 5 ms and 45 ms. Time grows linearly with
the corpus, so a single query stays interactive (under ~0.1 s) up to about 2 million vectors
(3 GB of float32 at 384-d); beyond that, or for bulk querying of millions, an approximate index
pays off. easynlu has none built in; plug one in over the normalised vectors (inner product is
cosine for them) and map ids back through the Index::

    import faiss                                    # pip install faiss-cpu
    ann = faiss.IndexHNSWFlat(corpus.vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    ann.add(corpus.vectors)                         # or faiss.IndexFlatIP: exact, like Index.search
    q = pipe.embed(queries)                         # NaN rows for empty queries: drop them first
    scores, ids = ann.search(q / np.linalg.norm(q, axis=1, keepdims=True), 10)
    corpus.labels[ids[0]], [corpus.texts[i] for i in ids[0]]   # the first query's hits
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from .errors import InputError, OptionError
from .options import check_choice, is_int

if TYPE_CHECKING:
    import pandas as pd

    from .protocol import Embedder

SearchLevel = Literal["document", "sentence"]
LEVELS: tuple[SearchLevel, ...] = get_args(SearchLevel)
CORPUS_BLOCK = 8_192  # corpus rows per matrix product
QUERY_BLOCK = 256  # queries per matrix product: a score block is 256 x 8,192 float32 = 8 MB


@dataclass(frozen=True)
class _Embedded:
    vectors: np.ndarray  # (n, d) float32, NaN rows where there is no vector
    labels: pd.Index  # the document label of each row
    texts: list[str | None]  # the document or sentence text of each row


def _embed(pipe: Embedder, data: Any, level: SearchLevel, options: dict[str, Any]) -> _Embedded:
    """One row per document (or sentence); the pipeline's vector columns side by side."""
    import pandas as pd

    from . import inputs

    if "output_level" in options:
        raise OptionError("output_level is not an option here: pass level='document' or level='sentence'.")
    docs = inputs.read(data, options.get("text_column"))
    plain = docs.labels is None  # a str, list, array, iterator: the texts are the labels
    frame = pipe.predict(docs.originals if plain else data, output_level=level, **options)
    if level == "document":
        texts: list[str | None] = list(docs.originals)
    else:
        texts = frame[level].tolist()
    if plain:
        labels = pd.Index([docs.originals[i] for i in frame.index.tolist()])
    else:
        labels = frame.index
    n = len(frame)
    present = np.ones(n, dtype=bool)
    blocks = []
    for column in (c.column for c in pipe.components):
        cells = frame[column].to_numpy(dtype=object)
        ok = np.fromiter((c is not None for c in cells), dtype=bool, count=n)
        dim = next((len(c) for c in cells if c is not None), 0)
        block = np.full((n, dim), np.nan, dtype=np.float32)
        if ok.any():
            block[ok] = np.stack(cells[ok].tolist())
        blocks.append(block)
        present &= ok
    vectors = blocks[0] if len(blocks) == 1 else np.hstack(blocks)
    vectors[~present] = np.nan
    return _Embedded(vectors, labels, texts)


def _unit(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L2-normalised float32 rows, which rows have a vector); bad rows (NaN, zero) become zeros."""
    unit = np.zeros(vectors.shape, dtype=np.float32)
    ok = np.zeros(len(vectors), dtype=bool)
    for start in range(0, len(vectors), CORPUS_BLOCK):  # float64 per block: no overflow, bounded memory
        block = vectors[start : start + CORPUS_BLOCK].astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            norm = np.sqrt(np.einsum("ij,ij->i", block, block))
        good = np.isfinite(norm) & (norm > 0)
        unit[start : start + CORPUS_BLOCK][good] = block[good] / norm[good, None]
        ok[start : start + CORPUS_BLOCK] = good
    return unit, ok


def _check(k: object, level: object) -> None:
    if not is_int(k) or int(k) < 1:  # type: ignore[call-overload]
        raise OptionError(f"k={k!r}: pass a positive int, the number of results per query.")
    check_choice("level", level, LEVELS)


def similarity(pipe: Embedder, a: Any, b: Any = None, *, level: SearchLevel = "document",
               **options: Any) -> pd.DataFrame:
    """Cosine similarities between the texts of ``a`` (rows) and of ``b`` (columns; ``a`` again if None).

    ``a`` and ``b`` are any input of ``predict``. Rows and columns are labelled by the input's
    index for a Series or DataFrame, else by the texts themselves; at ``level="sentence"`` they
    are sentences, labelled by a MultiIndex (document label, sentence). ``options`` are
    ``predict``'s keywords (pooling, layers, text_column, ...). With several models their vectors
    are concatenated per row. Values are float32; a text without tokens gives NaN.
    Raises OptionError for a bad level or option, and whatever ``predict`` raises.
    """
    import pandas as pd

    _check(1, level)
    left = _embed(pipe, a, level, options)
    right = left if b is None else _embed(pipe, b, level, options)
    ua, oka = _unit(left.vectors)
    ub, okb = (ua, oka) if b is None else _unit(right.vectors)
    scores = ua @ ub.T if oka.any() and okb.any() else np.zeros((len(ua), len(ub)), dtype=np.float32)
    scores[~oka] = np.nan
    scores[:, ~okb] = np.nan

    def axis(e: _Embedded) -> pd.Index:
        if level == "document":
            return e.labels
        return pd.MultiIndex.from_arrays([e.labels, pd.Index(e.texts)], names=[e.labels.name, "sentence"])

    return pd.DataFrame(scores.astype(np.float32, copy=False), index=axis(left), columns=axis(right))


class Index:
    """An exact cosine index over one embedded corpus (made by :func:`index`, or by hand).

    ``vectors`` is a contiguous float32 (n, d) array of L2-normalised rows; rows given without a
    vector (NaN or zero, e.g. an empty text) are left out, with their label and text.
    ``labels`` (a pd.Index) holds each row's document label, ``texts`` its document or sentence
    text, and ``level`` is "document" or "sentence". Raises InputError when the lengths differ.
    """

    def __init__(self, vectors: np.ndarray, labels: Sequence[Any] | pd.Index, texts: Sequence[str | None],
                 level: SearchLevel = "document"):
        import pandas as pd

        check_choice("level", level, LEVELS)
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or not len(matrix) == len(labels) == len(texts):
            raise InputError(f"Index needs a 2-D array and as many labels and texts as rows; got shape "
                             f"{matrix.shape}, {len(labels)} labels, {len(texts)} texts.")
        unit, ok = _unit(matrix)
        self.vectors: np.ndarray = np.ascontiguousarray(unit[ok])
        self.labels: pd.Index = pd.Index(labels)[ok]
        self.texts: list[str] = [
            "" if t is None else str(t) for t, keep in zip(texts, ok.tolist(), strict=True) if keep
        ]
        self.level: SearchLevel = level

    def __len__(self) -> int:
        return len(self.vectors)

    def __repr__(self) -> str:
        return f"Index({len(self)} {self.level} vectors of dim {self.vectors.shape[1]})"

    def search(self, query_vectors: np.ndarray, k: int = 5, *, corpus_block: int = CORPUS_BLOCK,
               query_block: int = QUERY_BLOCK) -> tuple[np.ndarray, np.ndarray]:
        """The exact top ``k`` rows by cosine for each query vector: ``(indices, scores)``.

        ``query_vectors`` is (n_queries, d) (one 1-D vector counts as one query). Both arrays have
        shape (n_queries, min(k, len(self))): int64 row numbers into ``vectors``/``labels``/
        ``texts`` and float32 cosines, by descending score, ties by lower row. A query without a
        vector (NaN or zero) gets indices -1 and scores NaN. Peak memory is one
        ``query_block`` x ``corpus_block`` score block. Raises OptionError for a bad k, InputError
        for a dimension that does not match.
        """
        _check(k, self.level)
        queries = np.asarray(query_vectors, dtype=np.float32)
        queries = queries[None] if queries.ndim == 1 else queries
        n, d = self.vectors.shape
        if queries.ndim != 2 or (n and queries.shape[1] != d):
            raise InputError(f"query_vectors must be (n_queries, {d}), got shape {np.shape(query_vectors)}: "
                             f"embed the queries with the pipeline and options that built the index.")
        unit, ok = _unit(queries)
        width = min(int(k), n)
        indices = np.full((len(queries), width), -1, dtype=np.int64)
        scores = np.full((len(queries), width), np.nan, dtype=np.float32)
        rows = np.flatnonzero(ok)
        for start in range(0, len(rows) if width else 0, query_block):
            block = rows[start : start + query_block]
            indices[block], scores[block] = _top_k(unit[block], self.vectors, width, corpus_block)
        return indices, scores

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the index to one ``.npz`` file (numpy, no pickle) and return its path.

        numpy adds ``.npz`` to a path without it. Labels are stored as int64 when they are all
        ints, else as their ``str()``, so other labels (floats, tuples, dates) come back as strings.
        """
        import pandas as pd

        labels = self.labels
        if pd.api.types.is_integer_dtype(labels.dtype) or (len(labels) and all(is_int(x) for x in labels)):
            stored = np.asarray(labels, dtype=np.int64)
        else:
            stored = np.array([str(x) for x in labels], dtype=str)
        target = Path(path)
        np.savez(target, vectors=self.vectors, labels=stored, texts=np.array(self.texts, dtype=str),
                 level=np.array(self.level))
        return target if target.suffix == ".npz" else target.with_name(target.name + ".npz")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Index:
        """Read an index written by :meth:`save` (``.npz`` is added if the path alone is missing).

        Raises FileNotFoundError for a missing file, InputError for a file that is not an index.
        """
        source = Path(path)
        if not source.exists() and source.with_name(source.name + ".npz").exists():
            source = source.with_name(source.name + ".npz")
        with np.load(source, allow_pickle=False) as data:
            missing = {"vectors", "labels", "texts", "level"} - set(data.files)
            if missing:
                raise InputError(f"{source} is not an easynlu index: it lacks {sorted(missing)}.")
            level = str(data["level"])  # checked by __init__
            return cls(data["vectors"], data["labels"].tolist(), data["texts"].tolist(), level)  # type: ignore[arg-type]


def _top_k(queries: np.ndarray, corpus: np.ndarray, k: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top k (k <= len(corpus)) of unit ``queries`` against unit ``corpus``, one block at a time."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.full((len(queries), k), len(corpus), dtype=np.int64)
    for start in range(0, len(corpus), block):
        scores = queries @ corpus[start : start + block].T
        width = scores.shape[1]
        if width > k:
            cand = np.argpartition(scores, width - k, axis=1)[:, width - k :]
            cand_s = np.take_along_axis(scores, cand, axis=1)
            # argpartition picks any of several scores tied with the k-th: redo those rows stably
            tied = np.flatnonzero((scores >= cand_s.min(axis=1, keepdims=True)).sum(axis=1) > k)
            for row in tied.tolist():
                cand[row] = np.argsort(-scores[row], kind="stable")[:k]
                cand_s[row] = scores[row, cand[row]]
        else:
            cand = np.broadcast_to(np.arange(width), scores.shape)
            cand_s = scores
        all_s = np.concatenate([best_s, cand_s], axis=1)
        all_i = np.concatenate([best_i, cand + start], axis=1)
        order = np.lexsort((all_i, -all_s), axis=1)[:, :k]  # by score, then by lower row
        best_s = np.take_along_axis(all_s, order, axis=1)
        best_i = np.take_along_axis(all_i, order, axis=1)
    return best_i, best_s


def index(pipe: Embedder, corpus: Any, *, level: SearchLevel = "document", **options: Any) -> Index:
    """Embed ``corpus`` (any input of ``predict``) once, as an :class:`Index` to search many times.

    At ``level="sentence"`` each sentence is a row, labelled by its document's label. Labels
    are the input's index for a Series or DataFrame, else the texts. ``options`` are
    ``predict``'s keywords. Raises OptionError for a bad level or option, and as ``predict``.
    """
    _check(1, level)
    embedded = _embed(pipe, corpus, level, options)
    return Index(embedded.vectors, embedded.labels, embedded.texts, level)


def search(pipe: Embedder, queries: Any, corpus: Any, k: int = 5, *, level: SearchLevel = "document",
           **options: Any) -> pd.DataFrame:
    """The ``k`` corpus entries closest (by cosine) to each query, one row per (query, rank).

    ``queries`` is any input of ``predict``; each query is one document vector. ``corpus`` is
    such input too (embedded here, at ``level``: documents or sentences), or an :class:`Index`
    (not re-embedded; its own level is used). Columns: ``query`` (the query's label: its index
    for a Series/DataFrame, else its text), ``query_text``, ``rank`` (1..k, nullable Int64),
    ``label`` (the corpus entry's document label), ``text`` (the document or sentence) and
    ``score`` (float32 cosine). Every query keeps at least one row: a query without tokens (or
    an empty corpus) gives one row with missing rank, label and text and a NaN score.
    Raises OptionError for a bad k, level or option, and as ``predict``.
    """
    import pandas as pd

    _check(k, level)
    found = corpus if isinstance(corpus, Index) else index(pipe, corpus, level=level, **options)
    asked = _embed(pipe, queries, "document", options)
    vectors = asked.vectors
    if vectors.shape[1] == 0:  # no query has a vector
        vectors = np.full((len(vectors), found.vectors.shape[1]), np.nan, dtype=np.float32)
    ids, scores = found.search(vectors, k)
    if ids.shape[1] == 0:  # empty corpus: one placeholder column
        ids, scores = np.full((len(ids), 1), -1, np.int64), np.full((len(ids), 1), np.nan, np.float32)
    hit = ids >= 0
    keep = hit | (np.arange(ids.shape[1]) == 0)  # all hits, or the first (placeholder) column
    query_of, rank = np.nonzero(keep)
    hit, flat_ids = hit[keep], ids[keep]
    label = pd.Series(found.labels.take(np.where(hit, flat_ids, 0)) if len(found) else [None] * len(hit))
    if pd.api.types.is_integer_dtype(label.dtype) and not hit.all():
        label = label.astype("Int64")
    ranks = pd.array(rank + 1, dtype="Int64")
    ranks[~hit] = pd.NA
    texts = [found.texts[i] if h else None for i, h in zip(flat_ids.tolist(), hit.tolist(), strict=True)]
    return pd.DataFrame({
        "query": asked.labels.take(query_of),
        "query_text": pd.array([asked.texts[i] for i in query_of.tolist()], dtype="str"),
        "rank": ranks,
        "label": label.where(hit),
        "text": pd.array(texts, dtype="str"),
        "score": np.where(hit, scores[keep], np.nan).astype(np.float32),
    })
