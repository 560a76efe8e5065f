"""What a trained model says about itself: held-out scores, speed against the teacher, and its model card.

Scores are Spearman rank correlations (x100, as STS results are written): for a distilled student,
between the student's and the teacher's cosine similarities over all pairs of the held-out texts
(how well it keeps the teacher's ranking); for a fine-tuned model, between its cosines and the
held-out pairs' scores. Speeds are sentences/s of easynlu's ``embed`` on the same texts, same backend.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import files
from ..pooling import l2_normalize
from ..version import __version__

if TYPE_CHECKING:
    from ..protocol import Embedder

INFO = "easynlu-train.json"  # written last: a model directory with it is complete


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two 1-D arrays (average ranks for ties), x100: scipy's."""
    from scipy.stats import spearmanr  # sentence-transformers, which training needs, brings scipy

    if len(a) < 2:
        return float("nan")
    with warnings.catch_warnings():  # constant input: NaN, said by scipy as a RuntimeWarning
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(100 * spearmanr(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)).statistic)


def unit(v: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1, as float64 copies (``pooling.l2_normalize``)."""
    return l2_normalize(np.array(v, dtype=np.float64))


def pair_cosines(vectors: np.ndarray) -> np.ndarray:
    """The cosine of every pair i < j of rows."""
    u = unit(vectors)
    upper = np.triu_indices(len(u), k=1)
    return (u @ u.T)[upper]


def agreement(student: np.ndarray, teacher: np.ndarray) -> float:
    """Spearman (x100) between the student's and the teacher's cosines over all pairs of the same texts."""
    return spearman(pair_cosines(student), pair_cosines(teacher))


def pairs_score(a: np.ndarray, b: np.ndarray, scores: np.ndarray) -> float:
    """Spearman (x100) between the cosine of each pair (a[i], b[i]) and its score."""
    return spearman((unit(a) * unit(b)).sum(axis=1), scores)


def speed(pipe: Embedder, texts: Sequence[str]) -> float:
    """Sentences/s of ``pipe.embed`` over ``texts`` (after a warm-up call), best of two runs."""
    pipe.embed(list(texts[:16]), progress=False)
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        pipe.embed(list(texts), progress=False)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def write(model_dir: Path, info: dict[str, Any]) -> None:
    """Write the model card (README.md) and ``easynlu-train.json`` into ``model_dir``; the JSON last."""
    info = {**info, "easynlu_version": __version__, "date": time.strftime("%Y-%m-%d")}
    files.write_text(model_dir / "README.md", markdown(info))
    files.write_json(model_dir / INFO, info)


def read(model_dir: Path) -> dict[str, Any] | None:
    """The training record of a complete model directory, or None."""
    try:
        return json.loads((model_dir / INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _number(value: Any, fmt: str = ".2f") -> str:
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, fmt)


def markdown(info: dict[str, Any]) -> str:
    """The model card: what it was made from, on what, how, and how well and fast it does."""
    distilled = info["kind"] == "distill"
    rows = [("made by", f"easynlu {info['easynlu_version']}, `{info['call']}`, {info['date']}")]
    if distilled:
        rows += [("teacher", f"`{info['teacher']}`"), ("student", info["student"])]
        if info.get("projection"):
            rows.append(("projection", info["projection"]))
        rows += [("texts", f"{info['texts']:,} ({info['train_texts']:,} trained on, {info['held_out']:,} held out)")]
    else:
        rows += [("base model", f"`{info['base']}`"), ("loss", info["loss"]),
                 ("pairs", f"{info['pairs']:,} ({info['train_pairs']:,} trained on, {info['held_out']:,} held out; "
                           f"scores read on a 0..{info['scale']:g} scale)")]
    rows += [("epochs", str(info["epochs"])), ("batch size", str(info["batch_size"])),
             ("learning rate", f"{info['learning_rate']:g}"), ("seed", str(info["seed"])),
             ("training time", f"{info['train_seconds']:.0f} s on {info['device']}")]
    if distilled:
        rows += [("held-out score", f"{_number(info['score'])}: Spearman x100 of the student's against the teacher's "
                                    f"cosine similarities over all pairs of the held-out texts (100: same ranking)"),
                 ("speed", f"{_number(info['speed_ratio'])}x the teacher's sentences/s "
                           f"({_number(info['student_per_s'], '.0f')} vs {_number(info['teacher_per_s'], '.0f')}, "
                           f"easynlu embed, {info['backend']} backend, {info['speed_texts']} held-out texts)")]
    else:
        rows += [("held-out score", f"{_number(info['score'])} (the base model: {_number(info['base_score'])}): "
                                    f"Spearman x100 of cosine similarity against the held-out pairs' scores")]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    what = "a student distilled from its teacher's sentence vectors (MSE)" if distilled else \
        "a model fine-tuned on scored sentence pairs"
    return (f"# {info['name']}\n\n"
            f"A sentence-transformers model: {what}, made with easynlu's `{info['kind']}` "
            f"(sentence-transformers' `SentenceTransformerTrainer`).\n\n"
            f"| | |\n|---|---|\n{table}\n\n"
            f"```python\nimport easynlu\npipe = easynlu.load(\"embed_sentence:{info['path']}\")\n"
            f"pipe.predict([\"I love NLP\"])\n```\n\n"
            f"It loads with `sentence_transformers.SentenceTransformer(path)` too, and runs on easynlu's torch "
            f"and ONNX backends.\n")
