"""What one merged run computes: the pipeline's ``embed`` or ``predict`` over every request's texts, cut per request.

Runs in the batcher's worker thread. The pipeline does all the work (segmenting, token-budget
batches, pooling, frames); here the merged result is only split back, and each request gets its
token count (``usage``): the wordpieces of its texts as the first model tokenizes them, without
[CLS]/[SEP], whole (easynlu windows long texts, it never truncates).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .. import layout, writers
from ..options import Options
from .limits import APIError, bad_request

if TYPE_CHECKING:
    from ..protocol import Embedder


@dataclass(frozen=True)
class Embedded:
    """One request's vectors (a float32 matrix) and token count."""

    vectors: np.ndarray
    tokens: int


@dataclass(frozen=True)
class Predicted:
    """One request's rows (JSON-ready dicts, ``index`` its input's position), columns and token count."""

    level: str
    columns: list[dict[str, str]]
    rows: list[dict[str, Any]]
    tokens: int


def _starts(sizes: list[int]) -> np.ndarray:
    """Where each request's texts start in the merged list, and the end: len(sizes) + 1 offsets."""
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def _token_counts(pipe: Embedder, texts: list[str], starts: np.ndarray) -> list[int]:
    per_text = np.asarray(pipe.count_tokens(texts), dtype=np.int64)
    return [int(per_text[a:b].sum()) for a, b in zip(starts[:-1], starts[1:], strict=True)]


def embed(pipe: Embedder, key: Hashable, texts: list[str], sizes: list[int]) -> list[Embedded | APIError]:
    """``pipe.embed`` of all ``texts``, one :class:`Embedded` per request. A 400 for a request whose text
    has no tokens (its vector would be NaN)."""
    options = dict(key[1]) if isinstance(key, tuple) else {}
    vectors = pipe.embed(texts, progress=False, **options)
    starts = _starts(sizes)
    tokens = _token_counts(pipe, texts, starts)
    out: list[Embedded | APIError] = []
    empty = np.isnan(vectors).any(axis=1)
    for i, (a, b) in enumerate(zip(starts[:-1], starts[1:], strict=True)):
        if empty[a:b].any():
            j = int(np.flatnonzero(empty[a:b])[0])
            error = bad_request("input", f"input[{j}] ({texts[a + j]!r}) has no tokens the model reads, so it has "
                                         f"no vector: send text with words in it.")
            out.append(error)  # raised to that request alone
            continue
        out.append(Embedded(vectors[a:b], tokens[i]))
    return out


def predict(pipe: Embedder, key: Hashable, texts: list[str], sizes: list[int]) -> list[Predicted]:
    """``pipe.predict`` of all ``texts`` with ``positions``, one :class:`Predicted` per request."""
    _, asked, items = cast("tuple[str, str | None, tuple[tuple[str, Any], ...]]", key)
    level = asked or pipe.default_level
    options = dict(items)
    frame = pipe.predict(texts, output_level=level, positions=True, progress=False, **options)
    vector_columns = [c.column for c in pipe.components]
    columns = [{"name": str(c.name), "kind": c.kind}
               for c in layout.columns(Options(positions=True, **options), level, vector_columns)]
    starts = _starts(sizes)
    tokens = _token_counts(pipe, texts, starts)
    bounds = np.searchsorted(frame.index.to_numpy(dtype=np.int64), starts)  # rows are in input order
    out: list[Predicted] = []
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        rows = list(writers.records(frame.iloc[a:b], vector_columns))
        for row in rows:
            row["index"] -= int(starts[i])
        out.append(Predicted(level, columns, rows, tokens[i]))
    return out


def embed_key(options: Sequence[tuple[str, Any]] = ()) -> Hashable:
    """The batcher key of an embeddings request: requests with equal keys are run together."""
    return ("embed", tuple(options))


def predict_key(level: str | None, options: dict[str, Any]) -> Hashable:
    """The batcher key of a predict request."""
    return ("predict", level, tuple(sorted(options.items())))
