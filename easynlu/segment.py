"""Split documents into the segments the encoder reads, with character offsets.

Sentences come from sentencex (Wikimedia's rule-based splitter, written in Rust): it was the
most accurate of the maintained splitters we measured (95% on 44 hard English cases against
pysbd's 91% and blingfire's 86%), handles abbreviations, is fast (~40k docs/s) and gives
native character offsets through ``get_sentence_boundaries``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Segments:
    """Spans of documents that the encoder reads one at a time (sentences, or whole texts)."""

    doc: np.ndarray    # int64, the document each segment belongs to (non-decreasing)
    start: np.ndarray  # int64, character offsets into the document's text
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.doc)

    def number_in_doc(self) -> np.ndarray:
        """Each segment's number inside its document (0, 1, 2, ... per document)."""
        first = np.searchsorted(self.doc, self.doc, side="left")
        return np.arange(len(self.doc)) - first

    def texts(self, docs: list[str]) -> list[str]:
        """Each segment's text, cut from its document."""
        return [docs[d][s:e] for d, s, e in zip(self.doc.tolist(), self.start.tolist(), self.end.tolist(), strict=True)]


def _strip_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    piece = text[start:end]
    stripped = piece.lstrip()
    start += len(piece) - len(stripped)
    return start, start + len(stripped.rstrip())


def sentences(texts: list[str], language: str = "en") -> Segments:
    """One segment per sentence, whitespace trimmed; blank stretches give no segment."""
    from sentencex import get_sentence_boundaries

    language = "en" if language in ("xx", "") else language
    doc, start, end = [], [], []
    for i, text in enumerate(texts):
        if not text or text.isspace():
            continue
        for bound in get_sentence_boundaries(language, text):
            s, e = _strip_bounds(text, bound["start_index"], bound["end_index"])
            if e > s:
                doc.append(i)
                start.append(s)
                end.append(e)
    return _segments(doc, start, end)


def documents(texts: list[str]) -> Segments:
    """One segment per non-blank document, covering the whole text."""
    keep = [i for i, text in enumerate(texts) if text and not text.isspace()]
    return _segments(keep, [0] * len(keep), [len(texts[i]) for i in keep])


def _segments(doc: list[int], start: list[int], end: list[int]) -> Segments:
    return Segments(
        np.asarray(doc, dtype=np.int64), np.asarray(start, dtype=np.int64), np.asarray(end, dtype=np.int64)
    )
