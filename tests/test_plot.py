"""easynlu.plot draws what it is given: checked on rendered PNGs and on the artists, against numpy."""

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import easynlu

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")  # headless; before pyplot is imported

import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402

from easynlu import plot  # noqa: E402

TEXTS = ["I love my cat.", "Dogs are loyal pets.", "Kittens sleep a lot.", "Stocks fell today.",
         "The market rallied.", "Bonds pay interest.", "It rained all day.", "Sunny and warm."]
TOPICS = ["pets", "pets", "pets", "money", "money", "money", "weather", "weather"]


@pytest.fixture(scope="module")
def pipe():
    return easynlu.load("en.embed_sentence.minilm")


@pytest.fixture(scope="module")
def vectors(pipe):
    return pipe.embed(TEXTS, progress=False).astype(np.float64)


@pytest.fixture(scope="module")
def similarity(vectors):
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return pd.DataFrame(unit @ unit.T, index=TEXTS, columns=TEXTS)


@pytest.fixture(scope="module")
def frame(pipe):
    data = pd.DataFrame({"text": TEXTS, "topic": TOPICS, "stars": np.arange(len(TEXTS), dtype=float)})
    return pipe.predict(data, output_level="document", progress=False)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def png(ax, dpi=50):
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png", dpi=dpi)
    buffer.seek(0)
    return matplotlib.image.imread(buffer, format="png")


def texts_in(ax):
    return [t.get_text() for t in ax.texts]


def points(ax):
    collections = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(collections) == 1
    return np.asarray(collections[0].get_offsets())


def numpy_pca(x):
    centred = x - x.mean(axis=0)
    values, vecs = np.linalg.eigh(np.cov(centred, rowvar=False))
    return centred @ vecs[:, np.argsort(values)[::-1][:2]]


def test_plot_heatmap_renders_a_png_of_the_figure_size(similarity):
    fig, ax = plt.subplots(figsize=(4, 3))
    assert plot.similarity_heatmap(similarity, ax=ax) is ax
    pixels = png(ax, dpi=50)
    assert pixels.shape[:2] == (150, 200)
    assert pixels[..., :3].std() > 0.1  # not blank


def test_plot_heatmap_image_is_the_matrix_and_ticks_are_the_labels(similarity):
    ax = plot.similarity_heatmap(similarity, title="cosine")
    np.testing.assert_allclose(np.ma.getdata(ax.images[0].get_array()), similarity.to_numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == TEXTS
    assert [t.get_text() for t in ax.get_yticklabels()] == TEXTS
    assert len(ax.figure.axes) == 2  # the heatmap and its colorbar
    assert ax.get_title() == "cosine"
    assert texts_in(ax) == [f"{v:.2f}" for v in similarity.to_numpy().ravel()]


def test_plot_heatmap_from_a_predict_frame_is_its_cosine_similarity(frame, similarity):
    ax = plot.similarity_heatmap(frame)
    np.testing.assert_allclose(np.ma.getdata(ax.images[0].get_array()), similarity.to_numpy(), atol=1e-6)
    assert [t.get_text() for t in ax.get_yticklabels()] == TEXTS


def test_plot_heatmap_nan_cells_are_blank_and_big_matrices_unannotated():
    values = np.eye(3)
    values[0, 2] = np.nan
    ax = plot.similarity_heatmap(values)
    assert ax.images[0].get_array().mask[0, 2] and ax.images[0].get_array().mask.sum() == 1
    assert len(ax.texts) == 8
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    assert ax.images[0].cmap.get_bad()[3] == 0  # masked cells are transparent: the blank background
    assert len(plot.similarity_heatmap(np.eye(13)).texts) == 0
    assert len(plot.similarity_heatmap(np.eye(3), annotate=False).texts) == 0
    assert len(plot.similarity_heatmap(np.eye(13), annotate=True).texts) == 169


def test_plot_heatmap_rectangular_and_long_labels():
    long = "a very long label that goes on and on and on"
    data = pd.DataFrame([[0.1, 0.2, 0.3]], index=[long], columns=["x", "y", "z"])
    ax = plot.similarity_heatmap(data)
    (label,) = [t.get_text() for t in ax.get_yticklabels()]
    assert len(label) == 30 and label.endswith("…") and long.startswith(label[:-1])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]


def test_plot_heatmap_refuses_what_is_not_a_matrix():
    with pytest.raises(easynlu.InputError, match="2-D"):
        plot.similarity_heatmap(np.ones(4))
    with pytest.raises(easynlu.InputError):
        plot.similarity_heatmap([["a", "b"]])


def test_plot_map_one_point_per_row_with_a_vector(pipe):
    data = pd.DataFrame({"text": ["cats purr", "", "dogs bark", None], "topic": ["a", "b", "a", "b"]})
    frame = pipe.predict(data, output_level="document", progress=False)
    with pytest.warns(UserWarning, match="2 of 4 rows have no vector"):
        ax = plot.embedding_map(frame, color="topic")
    assert len(points(ax)) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a"]
    assert texts_in(ax) == ["cats purr", "dogs bark"]


def test_plot_map_pca_matches_numpy_and_renders(frame, vectors):
    fig, ax = plt.subplots(figsize=(5, 4))
    assert plot.embedding_map(frame, ax=ax) is ax
    got, expected = points(ax), numpy_pca(vectors)
    for i in range(2):
        sign = np.sign(got[:, i] @ expected[:, i])
        np.testing.assert_allclose(got[:, i], sign * expected[:, i], atol=1e-6)
    assert ax.get_xlabel().startswith("PC 1") and ax.get_ylabel().startswith("PC 2")
    pixels = png(ax, dpi=40)
    assert pixels.shape[:2] == (160, 200) and pixels[..., :3].std() > 0.05


def test_plot_map_categories_get_a_legend_and_numbers_a_colorbar(frame):
    ax = plot.embedding_map(frame, color="topic", title="topics")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["pets", "money", "weather"]
    assert ax.get_legend().get_title().get_text() == "topic" and ax.get_title() == "topics"
    colours = points_colours(ax)
    assert len({tuple(c) for c in colours}) == 3
    assert all((colours[i] == colours[j]).all() == (TOPICS[i] == TOPICS[j]) for i in range(8) for j in range(8))

    ax = plot.embedding_map(frame, color="stars")
    assert ax.get_legend() is None and len(ax.figure.axes) == 2
    np.testing.assert_allclose(ax.collections[0].get_array(), np.arange(8))


def points_colours(ax):
    return np.asarray(ax.collections[0].get_facecolors())


def test_plot_map_labels_default_to_the_text_of_small_frames(frame):
    assert texts_in(plot.embedding_map(frame)) == TEXTS
    assert texts_in(plot.embedding_map(frame, label=False)) == []
    assert texts_in(plot.embedding_map(frame, label="topic")) == TOPICS
    rng = np.random.default_rng(0)
    big = pd.DataFrame({"document": [f"t{i}" for i in range(31)], "m_embeddings": list(rng.normal(size=(31, 5)))})
    ax = plot.embedding_map(big)
    assert texts_in(ax) == [] and len(points(ax)) == 31


def test_plot_map_takes_arrays_and_a_named_column():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 6))
    ax = plot.embedding_map(x, color=["odd", "even"] * 10, label=[str(i) for i in range(20)])
    assert len(points(ax)) == 20 and texts_in(ax) == [str(i) for i in range(20)]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["odd", "even"]
    two = pd.DataFrame({"a_embeddings": list(x[:, :3]), "b_embeddings": list(x)})
    got = points(plot.embedding_map(two, column="b_embeddings"))
    expected = numpy_pca(x)
    np.testing.assert_allclose(np.abs(got), np.abs(expected), atol=1e-9)


def test_plot_map_refuses_bad_options(frame):
    with pytest.raises(easynlu.OptionError, match="'pca', 'umap'"):
        plot.embedding_map(frame, method="tsne")
    with pytest.raises(easynlu.OptionError, match="'topic'"):
        plot.embedding_map(frame, color="colour")
    with pytest.raises(easynlu.OptionError, match="3 values for 8 rows"):
        plot.embedding_map(frame, color=[1, 2, 3])
    with pytest.raises(easynlu.OptionError, match="column='nope'"):
        plot.embedding_map(frame, column="nope")
    with pytest.raises(easynlu.InputError, match="_embeddings"):
        plot.embedding_map(pd.DataFrame({"text": ["a"]}))


def test_plot_map_umap_without_umap_learn_says_what_to_install(frame, monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # import umap now raises ImportError
    with pytest.raises(ImportError, match="pip install umap-learn.*method='pca'"):
        plot.embedding_map(frame, method="umap")


def test_plot_without_matplotlib_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install matplotlib \(in a clone of easynlu: pip install -e '\.\[plot"):
        plot.similarity_heatmap(np.eye(2))


def test_plot_import_is_light():
    code = "import sys, easynlu.plot; print([m for m in ('matplotlib', 'pandas', 'torch') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
