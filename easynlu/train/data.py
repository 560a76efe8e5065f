"""Training inputs, read and checked before any training: texts (streamed to a file) and scored pairs.

Texts come from anything ``predict_batches`` reads (an iterable, a Series or DataFrame, a .txt/.csv/
.tsv/.parquet/.jsonl file). They are streamed once into a file named by their sha256 in easynlu's
training cache (one JSON string per line), so memory stays bounded and the teacher's cache and a
resumed run know the input by its content. Pairs are a DataFrame ``text_a``, ``text_b``, ``score``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import files
from ..errors import InputError

if TYPE_CHECKING:
    import pandas as pd

PAIR_COLUMNS = ("text_a", "text_b", "score")


@dataclass(frozen=True)
class Texts:
    """The training texts, one JSON string per line of ``path``: their count and content hash."""

    path: Path
    count: int
    sha256: str

    def chunks(self, size: int = 1000) -> Iterator[list[str]]:
        """The texts in order, ``size`` at a time."""
        with open(self.path, encoding="utf-8") as f:
            chunk: list[str] = []
            for line in f:
                chunk.append(json.loads(line))
                if len(chunk) == size:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk


def write_texts(data: Any, folder: Path, text_column: Hashable | None = None, limit: int | None = None) -> Texts:
    """Stream ``data``'s texts into ``folder/<sha256>.jsonl`` (missing, empty and blank texts left out); at most
    ``limit``. The same texts give the same file, which a later run finds as it is.

    Raises InputError for input ``predict`` cannot read, and when no text is left ("no texts").
    """
    import os

    import pandas as pd

    from ..inputs import pick_text_column, read
    from ..readers import source

    if data is None:
        raise InputError("No texts to train on: pass texts=, e.g. a list, a Series, df['text'] or a .txt file.")
    if isinstance(data, str) and not Path(data).suffix:
        raise InputError(f"texts={data!r} is one string: pass a list of texts, a Series, or a file path "
                         f"ending in .txt, .csv, .tsv, .parquet or .jsonl.")
    src = source(data, 1000, text_column)
    digest, count = hashlib.sha256(), 0
    folder.mkdir(parents=True, exist_ok=True)
    tmp = files.temp_name(folder / "texts.jsonl")
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            for chunk in src.chunks:
                column = src.text_column
                if column is None and isinstance(chunk, pd.DataFrame):
                    column = src.text_column = pick_text_column(chunk, None)
                for text in read(chunk, column).texts:
                    if not text.strip() or (limit is not None and count >= limit):
                        continue
                    line = json.dumps(text, ensure_ascii=False) + "\n"
                    out.write(line)
                    digest.update(line.encode())
                    count += 1
        if count == 0:
            raise InputError("No texts to train on: every text given is missing, empty or blank. Pass texts=, "
                             "e.g. df['text'] or a .txt file with one text per line.")
        path = folder / f"{digest.hexdigest()}.jsonl"
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return Texts(path, count, digest.hexdigest())


def read_pairs(pairs: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """``pairs`` checked: text_a and text_b as str, score as float32 in 0..1; and the scale it came in (1 or 5).

    Scores in 0..1 are kept; scores up to 5 (STS-B's 0..5) are divided by 5. Raises InputError for a
    missing column, a missing text or score, a score that is not a number or is out of 0..5, or no pairs.
    """
    import numpy as np
    import pandas as pd

    if not isinstance(pairs, pd.DataFrame):
        raise InputError(f"fit() takes a DataFrame with columns text_a, text_b, score; got {type(pairs).__name__}. "
                         f"Build one with pd.DataFrame({{'text_a': [...], 'text_b': [...], 'score': [...]}}).")
    missing = [c for c in PAIR_COLUMNS if c not in pairs.columns]
    if missing:
        raise InputError(f"The pairs lack the column(s) {', '.join(missing)}: fit() needs text_a, text_b and "
                         f"score (0..1, or 0..5 as STS-B); rename yours with pairs.rename(columns={{...}}).")
    if len(pairs) == 0:
        raise InputError("No pairs to train on: the DataFrame is empty.")
    for column in ("text_a", "text_b"):
        bad = [label for label, v in pairs[column].items() if not isinstance(v, str) or not v.strip()]
        if bad:
            raise InputError(f"{len(bad)} pair(s) have no {column} (missing, empty or not a str), first at index "
                             f"label {bad[0]!r}: drop them, e.g. pairs.dropna(subset=['{column}']).")
    score = pd.to_numeric(pairs["score"], errors="coerce")
    bad = score.index[score.isna()]
    if len(bad):
        raise InputError(f"{len(bad)} pair(s) have a missing or non-numeric score, first at index label "
                         f"{bad[0]!r} ({pairs['score'].loc[bad[0]]!r}): every pair needs a score in 0..1 (or "
                         f"0..5): drop them, e.g. pairs.dropna(subset=['score']).")
    out_of_range = score.index[(score < 0) | (score > 5)]
    if len(out_of_range):
        first = out_of_range[0]
        raise InputError(f"{len(out_of_range)} pair(s) have a score outside 0..5, first at index label {first!r} "
                         f"({score.loc[first]}): scores are similarities in 0..1, or 0..5 as in STS-B.")
    scale = 5.0 if float(score.max()) > 1 else 1.0
    frame = pd.DataFrame({"text_a": pairs["text_a"].astype(str).to_numpy(),
                          "text_b": pairs["text_b"].astype(str).to_numpy(),
                          "score": (score.to_numpy(dtype=np.float64) / scale).astype(np.float32)})
    return frame, scale


def pairs_sha256(frame: pd.DataFrame) -> str:
    """A content hash of checked pairs (texts and scores, in order)."""
    digest = hashlib.sha256()
    for a, b, s in frame.itertuples(index=False):
        digest.update(json.dumps([a, b, round(float(s), 6)], ensure_ascii=False).encode() + b"\n")
    return digest.hexdigest()
