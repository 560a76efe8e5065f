"""Texts + loaded encoders -> Encoded: segment, tokenize, pool, in one direction. No pandas, no torch."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from . import pooling, segment
from .backends import Backend, Progress
from .encoded import Encoded, Job, Tokens, Words
from .options import Level, Options


@dataclass(frozen=True)
class Part:
    """One pipeline component with its loaded encoder."""

    column: str
    action: Literal["embed", "embed_sentence"]
    backend: Backend


def encode(texts: list[str], parts: list[Part], level: Level, options: Options, language: str = "en",
           progress: Progress | None = None) -> Encoded:
    """Every component's vectors for ``texts`` at ``level``, with the rows they belong to.

    ``texts`` are the documents ("" for a missing one); ``parts`` the loaded components, in
    pipeline order; ``options`` the checked predict options (``output_level`` is ignored:
    ``level`` is already resolved); ``language`` picks the sentence splitter's rules;
    ``progress`` (e.g. progress.TextsBar) is fed the windows run. Returns an Encoded with one float32 matrix per
    component column, rows in document then text order, NaN rows where there are no tokens.
    Identical segments (documents, or sentences below document level) are tokenized and run
    once and their rows shared. Raises OptionError for layers the model does not have,
    OutOfMemoryError when one window does not fit on the device.
    """
    segs = segment.documents(texts) if level == "document" else segment.sentences(texts, language)
    # Work on each distinct segment once; `unique_of[i]` is segment i's distinct one (None: all distinct).
    distinct, unique_of = _distinct(segs.texts(texts))
    tokenized: dict[int, Tokens] = {}
    for part in parts:  # components sharing an encoder tokenize once
        if id(part.backend) not in tokenized:
            tokenized[id(part.backend)] = part.backend.tokenize(distinct)
    first = tokenized[id(parts[0].backend)]
    rows = _rows(level, texts, segs, first, distinct, unique_of)

    vectors: dict[str, np.ndarray] = {}
    for part in parts:
        matrix = _part_vectors(part, tokenized[id(part.backend)], first, rows, len(distinct), options, progress)
        if level == "document":  # a document without text has no segment: a NaN row
            docs = np.full((len(texts), matrix.shape[1]), np.nan, dtype=np.float32)
            docs[segs.doc] = matrix
            matrix = docs
        vectors[part.column] = matrix
    present = {column: ~np.isnan(matrix).any(axis=1) for column, matrix in vectors.items()}
    sentences = {} if rows.seg is None else {
        "row_sentence": segs.number_in_doc()[rows.seg], "sentence_start": segs.start[rows.seg],
        "sentence_end": segs.end[rows.seg]}
    return Encoded(level, len(texts), rows.doc, rows.start, rows.end, MappingProxyType(vectors),
                   MappingProxyType(present), **sentences)


@dataclass(frozen=True)
class _Rows:
    """Where each output row comes from, and the words of the distinct segments at token level."""

    doc: np.ndarray  # its document
    start: np.ndarray  # its characters in the document: [start, end)
    end: np.ndarray
    seg: np.ndarray | None  # its segment (None at document level)
    take: np.ndarray | None  # its row among the distinct segments' rows (None: the same row)
    words: Words | None = None  # token level: the words of the distinct segments
    word_of_token: np.ndarray | None = None  # token level: each token of the first encoder's, its word


def _rows(level: Level, texts: list[str], segs: segment.Segments, first: Tokens, distinct: list[str],
          unique_of: np.ndarray | None) -> _Rows:
    """The output rows at ``level``: words of the segments, the segments, or the documents."""
    if level == "token":
        words, word_of_token = pooling.words(first)
        words = _with_trailing_marks(words, distinct)
        seg, start, end, take = words.seg, words.start, words.end, unique_of
        if unique_of is not None:
            take, seg = _rows_of_segments(words.seg, len(distinct), unique_of)
            start, end = start[take], end[take]
        return _Rows(segs.doc[seg], segs.start[seg] + start, segs.start[seg] + end, seg, take, words, word_of_token)
    if level == "sentence":
        return _Rows(segs.doc, segs.start, segs.end, np.arange(len(segs)), unique_of)
    n = len(texts)
    return _Rows(np.arange(n), np.zeros(n, dtype=np.int64), np.array([len(t) for t in texts], dtype=np.int64),
                 None, unique_of)


def _part_vectors(part: Part, tokens: Tokens, first: Tokens, rows: _Rows, n_distinct: int, options: Options,
                  progress: Progress | None) -> np.ndarray:
    """One component's vectors, one per output row (document level: one per segment)."""
    if rows.words is not None and rows.word_of_token is not None:
        word_of_token = rows.word_of_token if tokens is first else pooling.assign(tokens, rows.words)
        matrix = _token_vectors(part, tokens, word_of_token, rows.words, options, progress)
    else:
        matrix = _segment_vectors(part, tokens, n_distinct, options, progress)
    if options.normalize:
        pooling.l2_normalize(matrix)
    return matrix if rows.take is None else matrix[rows.take]


def _distinct(seg_texts: list[str]) -> tuple[list[str], np.ndarray | None]:
    """The distinct texts in first-seen order, and each text's number among them (None: no repeats)."""
    number: dict[str, int] = {}
    unique_of = np.fromiter((number.setdefault(t, len(number)) for t in seg_texts), dtype=np.int64,
                            count=len(seg_texts))
    if len(number) == len(seg_texts):
        return seg_texts, None
    return list(number), unique_of


def _rows_of_segments(row_seg: np.ndarray, n_distinct: int, unique_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows grouped by distinct segment (``row_seg`` non-decreasing), the rows of every
    segment in turn: (each output row's index into those rows, each output row's segment)."""
    first = np.searchsorted(row_seg, np.arange(n_distinct + 1))  # rows of distinct u: [first[u], first[u+1])
    count = np.diff(first)[unique_of]
    seg = np.repeat(np.arange(len(unique_of)), count)
    out_first = np.cumsum(count) - count
    take = np.arange(len(seg)) - np.repeat(out_first, count) + np.repeat(first[unique_of], count)
    return take, seg


def _with_trailing_marks(rows: Words, seg_texts: list[str]) -> Words:
    """Words extended over the combining marks right after them, which no token covers.

    An accent-stripping tokenizer (uncased BERT) drops a decomposed accent, so "cafe" + U+0301
    would end before its accent and the token column would read "cafe" instead of "café".
    """
    non_ascii = [i for i, text in enumerate(seg_texts) if not text.isascii()]
    if not non_ascii or not len(rows):
        return rows
    end = rows.end.copy()
    lo = np.searchsorted(rows.seg, non_ascii, side="left").tolist()
    hi = np.searchsorted(rows.seg, non_ascii, side="right").tolist()
    for seg, first, last in zip(non_ascii, lo, hi, strict=True):
        text = seg_texts[seg]
        for k in range(first, last):
            e, limit = int(end[k]), int(rows.start[k + 1]) if k + 1 < last else len(text)
            while e < limit and unicodedata.category(text[e])[0] == "M":
                e += 1
            end[k] = e
    return Words(rows.seg, rows.start, end)


def _job(part: Part, options: Options, **kwargs: Any) -> Job:
    if part.action == "embed":  # layers only shape token models' hidden states
        kwargs.update(layers=options.layer_indices, layer_pooling=options.layer_pooling)
    return Job(batch_size=options.batch_size, **kwargs)


def _token_vectors(part: Part, tokens: Tokens, word_of_token: np.ndarray, rows: Words, options: Options,
                   progress: Progress | None) -> np.ndarray:
    if part.action == "embed_sentence":  # each word gets its sentence's vector
        return _sentence_vectors(part, tokens, len(tokens.offsets) - 1, options, progress)[rows.seg]
    group, weight, op = pooling.subword(word_of_token, len(rows), options.subword_pooling)
    job = _job(part, options, group=group, weight=weight, n_groups=len(rows), op=op)
    return _tokens(part.backend.run(tokens, job, progress).tokens)


def _segment_vectors(part: Part, tokens: Tokens, n_seg: int, options: Options,
                     progress: Progress | None) -> np.ndarray:
    how = options.pooling
    if part.action == "embed_sentence" or (how is None and _own_pooling(part, options)):
        return _sentence_vectors(part, tokens, n_seg, options, progress)
    how = how or "mean"
    if how == "cls":
        return _segments(part.backend.run(tokens, _job(part, options, segment="cls"), progress).segments)
    words, word_of_token = pooling.words(tokens)
    plan = pooling.over_words(word_of_token, words.seg, n_seg, options.subword_pooling, how)
    if plan is not None:
        group, weight, op = plan
        job = _job(part, options, group=group, weight=weight, n_groups=n_seg, op=op)
        return _tokens(part.backend.run(tokens, job, progress).tokens)
    group, weight, op = pooling.subword(word_of_token, len(words), options.subword_pooling)
    job = _job(part, options, group=group, weight=weight, n_groups=len(words), op=op)
    word_vectors = _tokens(part.backend.run(tokens, job, progress).tokens)
    return pooling.reduce_words(word_vectors, words.seg, n_seg, how)


def _own_pooling(part: Part, options: Options) -> bool:
    """pooling=None: a model that defines its sentence pooling (sentence-transformers) uses it,
    unless other layers than the last were asked for (its pooling reads the last layer only)."""
    return part.backend.has_own_pooling and options.layer_indices == (-1,)


def _sentence_vectors(part: Part, tokens: Tokens, n_seg: int, options: Options,
                      progress: Progress | None) -> np.ndarray:
    """The model's own sentence vectors (its sentence-transformers pooling, or BERT's pooler)."""
    return _segments(part.backend.run(tokens, _job(part, options, segment="sentence"), progress).segments)


def _tokens(matrix: np.ndarray | None) -> np.ndarray:
    assert matrix is not None, "a job with groups gives token vectors"
    return matrix


def _segments(matrix: np.ndarray | None) -> np.ndarray:
    assert matrix is not None, "a job with a segment pooling gives segment vectors"
    return matrix
