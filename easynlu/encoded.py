"""Plain data handed between stages: flat numpy arrays only, no torch, no pandas."""

from __future__ import annotations

from dataclasses import dataclass, field

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
class Encoded:
    """Rows of one output level and one float32 matrix per embeddings column.

    ``row_doc`` is non-decreasing; documents with no row here get a placeholder row later.
    ``present[col][i]`` is False where row ``i`` has no vector (no tokens).
    """

    level: str
    n_docs: int
    row_doc: np.ndarray
    row_start: np.ndarray  # character offsets in the document's text
    row_end: np.ndarray
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    present: dict[str, np.ndarray] = field(default_factory=dict)
