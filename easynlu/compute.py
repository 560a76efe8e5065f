"""Texts + loaded encoders → Encoded: segment, tokenize, pool, in one direction. No pandas."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from . import pooling, segment
from .backends.batching import TOKEN_BUDGET
from .encoded import Encoded, Tokens, Words


@dataclass(frozen=True)
class Options:
    level: str
    pooling: str = "mean"
    subword_pooling: str = "first"
    layers: tuple[int, ...] = (-1,)
    layer_pooling: str = "mean"
    normalize: bool = False
    batch_size: int | None = None
    token_budget: int = TOKEN_BUDGET


@dataclass(frozen=True)
class Part:
    """One pipeline component with its loaded encoder."""

    column: str
    action: str     # "embed" | "embed_sentence"
    backend: object  # backends.transformer.TransformerBackend


def encode(texts: list[str], parts: list[Part], options: Options, language: str = "en",
           progress=None) -> Encoded:
    level = options.level
    segs = segment.documents(texts) if level == "document" else segment.sentences(texts, language)
    seg_texts = segs.texts(texts)
    tokenized: dict[int, Tokens] = {}
    for part in parts:  # components sharing an encoder tokenize once
        if id(part.backend) not in tokenized:
            tokenized[id(part.backend)] = part.backend.tokenize(seg_texts)
    first = tokenized[id(parts[0].backend)]

    if level == "token":
        rows, first_rows = pooling.words(first)
        rows = _with_trailing_marks(rows, seg_texts)
        encoded = Encoded(level, len(texts), segs.doc[rows.seg], segs.start[rows.seg] + rows.start,
                          segs.start[rows.seg] + rows.end)
    elif level == "sentence":
        rows, first_rows = None, None
        encoded = Encoded(level, len(texts), segs.doc, segs.start, segs.end)
    else:
        rows, first_rows = None, None
        n = len(texts)
        encoded = Encoded(level, n, np.arange(n), np.zeros(n, dtype=np.int64),
                          np.array([len(t) for t in texts], dtype=np.int64))

    for part in parts:
        tokens = tokenized[id(part.backend)]
        if level == "token":
            word_of_token = first_rows if tokens is first else pooling.assign(tokens, rows)
            vectors = _token_vectors(part, tokens, word_of_token, rows, options, progress)
        else:
            vectors = _segment_vectors(part, tokens, len(segs), options, progress)
            if level == "document":
                docs = np.full((len(texts), vectors.shape[1]), np.nan, dtype=np.float32)
                docs[segs.doc] = vectors
                vectors = docs
        if options.normalize:
            pooling.l2_normalize(vectors)
        encoded.vectors[part.column] = vectors
        encoded.present[part.column] = ~np.isnan(vectors).any(axis=1)
    return encoded


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
    for seg, first, last in zip(non_ascii, lo, hi):
        text = seg_texts[seg]
        for k in range(first, last):
            e, limit = int(end[k]), int(rows.start[k + 1]) if k + 1 < last else len(text)
            while e < limit and unicodedata.category(text[e])[0] == "M":
                e += 1
            end[k] = e
    return Words(rows.seg, rows.start, end)


def _job(part: Part, options: Options, **kwargs):
    from .backends.transformer import Job

    if part.action == "embed":  # layers only shape token models' hidden states
        kwargs.update(layers=options.layers, layer_pooling=options.layer_pooling)
    return Job(token_budget=options.token_budget, batch_size=options.batch_size, **kwargs)


def _sentence_kind(part: Part) -> str:
    return "sentence" if part.backend.sentence is not None else "pooler"


def _token_vectors(part, tokens, word_of_token, rows: Words, options, progress) -> np.ndarray:
    if part.action == "embed_sentence":  # each word gets its sentence's vector
        return _sentence_vectors(part, tokens, len(tokens.offsets) - 1, options, progress)[rows.seg]
    group, weight, op = pooling.subword(word_of_token, len(rows), options.subword_pooling)
    job = _job(part, options, group=group, weight=weight, n_groups=len(rows), op=op)
    return part.backend.run(tokens, job, progress).tokens


def _segment_vectors(part, tokens, n_seg, options, progress) -> np.ndarray:
    if part.action == "embed_sentence":
        return _sentence_vectors(part, tokens, n_seg, options, progress)
    if options.pooling == "cls":
        return part.backend.run(tokens, _job(part, options, segment="cls"), progress).segments
    words, word_of_token = pooling.words(tokens)
    plan = pooling.over_words(word_of_token, words.seg, n_seg, options.subword_pooling, options.pooling)
    if plan is not None:
        group, weight, op = plan
        job = _job(part, options, group=group, weight=weight, n_groups=n_seg, op=op)
        return part.backend.run(tokens, job, progress).tokens
    group, weight, op = pooling.subword(word_of_token, len(words), options.subword_pooling)
    job = _job(part, options, group=group, weight=weight, n_groups=len(words), op=op)
    word_vectors = part.backend.run(tokens, job, progress).tokens
    return pooling.reduce_words(word_vectors, words.seg, n_seg, options.pooling)


def _sentence_vectors(part, tokens, n_seg, options, progress) -> np.ndarray:
    kind = _sentence_kind(part)
    job = _job(part, options, segment=kind)
    vectors = part.backend.run(tokens, job, progress).segments
    if kind == "sentence":
        part.backend.sentence.finish(vectors)
    return vectors
