"""Which token goes into which output row, with which weight. Plain numpy, no torch.

Every pooling option becomes a per-token ``group`` (output row, -1 to skip), an optional
per-token ``weight`` and an operation ("sum" or "max"), which the backend applies on the device.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .encoded import Tokens, Words
from .options import Pooling, SubwordPooling

# (group, weight, op): each token's output row (-1: none), its weight (None: 1), sum or max.
Plan = tuple[np.ndarray, "np.ndarray | None", Literal["sum", "max"]]


def words(tokens: Tokens) -> tuple[Words, np.ndarray]:
    """The tokenizer's words (runs of equal word ids) and each token's word row."""
    seg = tokens.segment
    key = (seg << 32) | np.maximum(tokens.word, 0)
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(first)
    word_of_token = np.cumsum(first) - 1
    end = np.maximum.reduceat(tokens.end, starts) if len(starts) else np.zeros(0, dtype=np.int64)
    return Words(seg[starts], tokens.start[starts], end), word_of_token


def assign(tokens: Tokens, rows: Words) -> np.ndarray:
    """Each token's row among words found by another tokenizer (-1 if it lies in none)."""
    seg = tokens.segment
    row_key = (rows.seg << 32) | rows.start
    i = np.searchsorted(row_key, (seg << 32) | tokens.start, side="right") - 1
    j = np.maximum(i, 0)
    inside = (i >= 0) & (rows.seg[j] == seg) & ((tokens.start < rows.end[j]) | (tokens.start == rows.start[j]))
    return np.where(inside, i, -1)


def subword(word_of_token: np.ndarray, n_words: int, how: SubwordPooling) -> Plan:
    """(group, weight, op) that pool each word's tokens into one vector per word."""
    g = word_of_token
    if how == "max":
        return g, None, "max"
    if how == "mean":
        counts = np.bincount(g[g >= 0], minlength=n_words)
        weight = np.where(g >= 0, 1.0 / np.maximum(counts[np.maximum(g, 0)], 1), 0.0)
        return g, weight.astype(np.float32), "sum"
    if how == "first":
        edge = np.ones(len(g), dtype=bool)
        edge[1:] = g[1:] != g[:-1]
    else:  # last
        edge = np.ones(len(g), dtype=bool)
        edge[:-1] = g[:-1] != g[1:]
    return np.where(edge & (g >= 0), g, -1), None, "sum"


def over_words(word_of_token: np.ndarray, word_seg: np.ndarray, n_seg: int, subword_pooling: SubwordPooling,
               pooling: Pooling) -> Plan | None:
    """(group, weight, op) for a segment vector pooled over its words in one pass, or None.

    None means the combination (mean of per-word max, or max of per-word means) needs the word
    vectors first; see ``reduce_words``.
    """
    g, weight, op = subword(word_of_token, len(word_seg), subword_pooling)
    seg_of = np.where(g >= 0, word_seg[np.maximum(g, 0)], -1)
    if pooling == "max" and subword_pooling in ("first", "last", "max"):
        return seg_of, None, "max"
    if pooling == "mean" and subword_pooling in ("first", "last", "mean"):
        has = np.zeros(len(word_seg), dtype=bool)
        has[word_of_token[word_of_token >= 0]] = True
        n_words = np.bincount(word_seg[has], minlength=n_seg)
        per_word = np.ones(len(g), dtype=np.float32) if weight is None else weight
        scale = 1.0 / np.maximum(n_words[np.maximum(seg_of, 0)], 1)
        return seg_of, (per_word * scale).astype(np.float32), "sum"
    return None


def reduce_words(vectors: np.ndarray, word_seg: np.ndarray, n_seg: int, pooling: Pooling) -> np.ndarray:
    """Segment vectors from word vectors (NaN rows are words without tokens and are skipped)."""
    out = np.full((n_seg, vectors.shape[1]), np.nan, dtype=np.float32)
    ok = ~np.isnan(vectors).any(axis=1)
    seg, vec = word_seg[ok], vectors[ok]
    if len(seg) == 0:
        return out
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    if pooling == "max":
        out[seg[starts]] = np.maximum.reduceat(vec, starts, axis=0)
    else:
        counts = np.diff(np.r_[starts, len(seg)])
        out[seg[starts]] = np.add.reduceat(vec, starts, axis=0) / counts[:, None]
    return out


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Scale each row to unit length, in place; zero and NaN rows stay as they are."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.divide(vectors, norms, out=vectors, where=norms > 0)
    return vectors
