"""Render the README's figures into docs/: python docs/make_figures.py (offline, headless).

docs/similarity.png: cosine similarities of eight sentences in three topics, from the packaged
all-MiniLM-L6-v2 (en.embed_sentence.minilm), drawn with easynlu.plot.similarity_heatmap.
"""

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # before easynlu (and huggingface_hub) import: never contact the Hub

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import easynlu  # noqa: E402
from easynlu.plot import similarity_heatmap  # noqa: E402

DOCS = Path(__file__).resolve().parent
TEXTS = [
    "A man is playing a guitar.",
    "Someone plays an instrument.",
    "The band played all night.",
    "The stock market fell today.",
    "Shares dropped sharply.",
    "Investors sold their bonds.",
    "It will rain tomorrow.",
    "A sunny, warm afternoon.",
]


def similarity_figure(path: Path) -> None:
    """Write the heatmap of TEXTS' cosine similarities to ``path`` (a 700 x 600 px PNG)."""
    vectors = easynlu.load("en.embed_sentence.minilm").embed(TEXTS, normalize=True, progress=False)
    cosine = pd.DataFrame(vectors @ vectors.T, index=TEXTS, columns=TEXTS)
    assert np.allclose(np.diag(cosine), 1, atol=1e-5)
    fig, ax = plt.subplots(figsize=(7, 6), layout="constrained")
    similarity_heatmap(cosine, ax=ax, title="Cosine similarity, en.embed_sentence.minilm")
    fig.savefig(path, dpi=100, metadata={"Software": None})  # no matplotlib version stamp: stable bytes
    plt.close(fig)


if __name__ == "__main__":
    similarity_figure(DOCS / "similarity.png")
    print(DOCS / "similarity.png")
