"""Plain data handed between stages: flat numpy arrays only, no torch, no pandas."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class Tokens:
    """A tokenizer's output for many segments, flattened, without special tokens."""

    ids: np.ndarray      # int64 token ids
    start: np.ndarray    # int64 character offsets of each token in its segment's text
    end: np.ndarray
    word: np.ndarray     # int64 word number of each token inside its segment
    offsets: np.ndarray  # int64, tokens of segment i are [offsets[i], offsets[i + 1])

    @property
    def segment(self) -> np.ndarray:
        """The segment of every token."""
        return np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))


@dataclass(frozen=True)
class Words:
    """Words (the tokenizer's pre-tokenization), in text order."""

    seg: np.ndarray    # int64 segment of each word (non-decreasing)
    start: np.ndarray  # int64 character offsets in the segment's text
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.seg)


@dataclass(frozen=True)
class Job:
    """What a backend computes in one run over tokenized segments.

    Token pooling: every token with ``group >= 0`` adds ``weight * vector`` ("sum") or takes
    part in an elementwise max ("max") into row ``group`` of an ``(n_groups, dim)`` matrix.
    Segment pooling gives one vector per segment, averaged over its windows by the share of
    tokens each window owns: ``"cls"`` is the first token's hidden state, ``"sentence"`` is the
    model's own sentence vector (its sentence-transformers pooling if it has one, else BERT's
    pooler output).
    """

    group: np.ndarray | None = None
    weight: np.ndarray | None = None
    n_groups: int = 0
    op: Literal["sum", "max"] = "sum"
    segment: Literal["cls", "sentence"] | None = None
    layers: tuple[int, ...] = (-1,)
    layer_pooling: Literal["mean", "concat"] = "mean"
    token_budget: int | None = None  # padded tokens per batch; None: batching.TOKEN_BUDGET
    batch_size: int | None = None


@dataclass(frozen=True)
class Result:
    """A backend's output for one Job, as float32 matrices."""

    tokens: np.ndarray | None    # (n_groups, dim); rows no token reached are NaN
    segments: np.ndarray | None  # (n_segments, dim); segments without tokens are NaN


@dataclass(frozen=True)
class Encoded:
    """Rows of one output level and one float32 matrix per embeddings column, made in one go.

    ``row_doc`` is non-decreasing; documents with no row here get a placeholder row later.
    ``present[col][i]`` is False where row ``i`` has no vector (no tokens). At token and
    sentence level ``row_sentence`` is each row's sentence number inside its document and
    ``sentence_start``/``sentence_end`` that sentence's character span (None at document level).
    """

    level: str
    n_docs: int
    row_doc: np.ndarray
    row_start: np.ndarray  # character offsets in the document's text
    row_end: np.ndarray
    vectors: Mapping[str, np.ndarray]
    present: Mapping[str, np.ndarray]
    row_sentence: np.ndarray | None = None
    sentence_start: np.ndarray | None = None
    sentence_end: np.ndarray | None = None
