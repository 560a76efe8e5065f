"""Pictures of embeddings with matplotlib (the optional extra ``easynlu[plot]``).

``similarity_heatmap`` draws a similarity matrix; ``embedding_map`` draws vectors as points on a
2-D projection (PCA, or UMAP when umap-learn is installed). Both draw on ``ax`` (a new figure, with
constrained layout, when None), never call ``plt.show()`` and return the Axes. matplotlib is
imported on the first call, so ``import easynlu.plot`` stays light; pandas is only used when the
input already is a DataFrame.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError, OptionError, user_stacklevel

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TEXT_COLUMNS = ("document", "sentence", "token")
METHODS = ("pca", "umap")
ANNOTATE_UP_TO = 12  # cells per side: values are written in the cells of a matrix this small
LABEL_POINTS_UP_TO = 30  # points: the text column labels the points of a map this small
LABEL_CHARS = 30


def similarity_heatmap(data: Any, *, ax: Axes | None = None, cmap: str = "viridis", annotate: bool | None = None,
                       title: str | None = None) -> Axes:
    """Draw a similarity matrix as a heatmap with labelled rows and columns and a colorbar.

    ``data`` is a similarity DataFrame (as ``pipe.similarity`` returns: its index and columns
    label the rows and columns), a 2-D array, or a ``predict()`` frame, whose rows' cosine
    similarities are drawn, labelled by its text column. Labels longer than 30 characters are
    cut; NaN cells stay blank. Values are written in the cells when the matrix is at most 12 x 12,
    unless ``annotate=False`` (``annotate=True`` always writes them).

    Returns the Axes. Raises InputError for data that is not a 2-D matrix or a frame of vectors,
    ImportError when matplotlib is not installed.
    """
    plt = _pyplot()
    values, rows, columns = _matrix(data)
    if ax is None:
        _, ax = plt.subplots(layout="constrained")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, aspect="auto", interpolation="nearest")
    ax.figure.colorbar(image, ax=ax)
    ax.set_xticks(range(values.shape[1]), labels=[_short(c) for c in columns], rotation=45, ha="right",
                  rotation_mode="anchor")
    ax.set_yticks(range(values.shape[0]), labels=[_short(r) for r in rows])
    if annotate is None:
        annotate = max(values.shape) <= ANNOTATE_UP_TO
    if annotate:
        for (i, j), value in np.ndenumerate(values):
            if np.isfinite(value):
                red, green, blue, _ = image.cmap(image.norm(value))
                dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
    if title is not None:
        ax.set_title(title)
    return ax


def embedding_map(data: Any, *, color: Any = None, label: Any = None, method: str = "pca",
                  column: Hashable | None = None, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Draw each vector as one point of a 2-D projection: ``method="pca"`` or ``"umap"``.

    ``data`` is a ``predict()`` frame (vectors from ``column``, by default its first column whose
    name ends with ``_embeddings``; rows without a vector are left out, with a warning) or a 2-D
    array (rows holding NaN are left out). ``color`` is a column name or an array with one value
    per row: categories get one colour each and a legend, numbers a colormap and a colorbar.
    ``label`` is a column name or an array of texts written next to the points; by default the
    frame's text column when there are at most 30 points; ``label=False`` writes none.

    Returns the Axes. Raises OptionError for an unknown method or column, InputError for data
    without vectors, ImportError when matplotlib (or, for ``"umap"``, umap-learn) is missing.
    """
    if method not in METHODS:
        raise OptionError(f"method={method!r} is not supported: use one of {', '.join(map(repr, METHODS))}.")
    plt = _pyplot()
    frame = data if _is_frame(data) else None
    vectors = _frame_vectors(frame, column) if frame is not None else _array(data, "embedding_map")
    keep = np.isfinite(vectors).all(axis=1)
    if not keep.all():
        warnings.warn(f"embedding_map: {int((~keep).sum())} of {len(keep)} rows have no vector and are not drawn.",
                      stacklevel=user_stacklevel())
    if not keep.any():
        raise InputError("embedding_map: there are no vectors to draw.")
    points, axis_names = _project(vectors[keep], method)
    colors = None if color is None else _per_row(frame, color, "color", len(keep))[keep]
    if label is None and frame is not None and keep.sum() <= LABEL_POINTS_UP_TO:
        label = next((c for c in TEXT_COLUMNS if c in frame.columns), None)
    labels = None if label is None or label is False else _per_row(frame, label, "label", len(keep))[keep]

    if ax is None:
        _, ax = plt.subplots(layout="constrained")
    if colors is None:
        ax.scatter(points[:, 0], points[:, 1])
    elif _numeric(colors):
        scatter = ax.scatter(points[:, 0], points[:, 1], c=[np.nan if v is None else float(v) for v in colors.tolist()],
                             cmap="viridis")
        ax.figure.colorbar(scatter, ax=ax, label=str(color) if isinstance(color, str) else None)
    else:
        _categorical_scatter(ax, points, colors, str(color) if isinstance(color, str) else None)
    if labels is not None:
        ax.margins(0.12)  # room for the texts next to the outermost points
        for (x, y), text in zip(points.tolist(), labels.tolist(), strict=True):
            ax.annotate(_short(text), (x, y), xytext=(3, 3), textcoords="offset points", fontsize=8)
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    if title is not None:
        ax.set_title(title)
    return ax


# -- inputs ---------------------------------------------------------------------------------------
def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("easynlu.plot needs matplotlib: pip install matplotlib "
                          "(in a clone of easynlu: pip install -e '.[plot]')") from error
    return plt


def _is_frame(data: Any) -> bool:
    pd = sys.modules.get("pandas")  # a DataFrame can only exist if pandas is loaded
    return pd is not None and isinstance(data, pd.DataFrame)


def _short(value: object) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _array(data: Any, what: str) -> np.ndarray:
    try:
        values = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"{what}: expected a 2-D array of numbers, got {type(data).__name__}.") from error
    if values.ndim != 2 or values.size == 0:
        raise InputError(f"{what}: expected a non-empty 2-D array, got shape {values.shape}.")
    return values


def _embedding_columns(frame: Any) -> list[Hashable]:
    return [c for c in frame.columns if isinstance(c, str) and c.endswith("_embeddings")]


def _frame_vectors(frame: Any, column: Hashable | None) -> np.ndarray:
    """The vectors of ``column`` (default: the first embeddings column) as rows; NaN rows where None."""
    if column is None:
        found = _embedding_columns(frame)
        if not found:
            raise InputError("embedding_map: the DataFrame has no '..._embeddings' column; pass a predict() "
                             "frame, a 2-D array, or column=<the column holding the vectors>.")
        column = found[0]
    elif column not in frame.columns:
        raise OptionError(f"column={column!r} is not a column: use one of {', '.join(map(repr, frame.columns))}.")
    return _stack(frame[column].tolist(), column)


def _stack(cells: list[Any], column: Hashable) -> np.ndarray:
    vectors = [None if c is None or np.ndim(c) == 0 else np.asarray(c, dtype=np.float64) for c in cells]
    dims = {v.shape for v in vectors if v is not None}
    if len(dims) > 1 or any(len(d) != 1 for d in dims):
        raise InputError(f"column {column!r} does not hold vectors of one length (shapes {sorted(dims)}).")
    dim = dims.pop()[0] if dims else 1
    rows = np.full((len(cells), dim), np.nan)
    for i, v in enumerate(vectors):
        if v is not None:
            rows[i] = v
    return rows


def _matrix(data: Any) -> tuple[np.ndarray, list[object], list[object]]:
    """The values, row labels and column labels of what ``similarity_heatmap`` was given."""
    if not _is_frame(data):
        values = _array(data, "similarity_heatmap")
        return values, list(range(values.shape[0])), list(range(values.shape[1]))
    found = _embedding_columns(data)
    if not found:  # a similarity matrix
        values = _array(data.to_numpy(dtype=np.float64, na_value=np.nan), "similarity_heatmap")
        return values, list(data.index), list(data.columns)
    vectors = np.hstack([_stack(data[c].tolist(), c) for c in found])  # several models: as embed() joins them
    if len(vectors) == 0:
        raise InputError("similarity_heatmap: the frame has no rows.")
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    text = next((c for c in TEXT_COLUMNS if c in data.columns), None)
    labels = list(data[text]) if text is not None else list(data.index)
    return unit @ unit.T, labels, labels


def _per_row(frame: Any, value: Any, name: str, n_rows: int) -> np.ndarray:
    """``value`` as one entry per row: a column of ``frame``, or an array of ``n_rows`` entries."""
    if frame is not None and isinstance(value, Hashable) and not isinstance(value, tuple) and value in frame.columns:
        return np.asarray(frame[value].to_numpy(dtype=object, na_value=None))
    if isinstance(value, (str, bytes)) or np.ndim(value) != 1:
        where = f"use one of {', '.join(map(repr, frame.columns))}" if frame is not None else "the data is an array"
        raise OptionError(f"{name}={value!r} is not a column ({where}); or pass one value per row as a list.")
    values = np.asarray(list(value), dtype=object)
    if len(values) != n_rows:
        raise OptionError(f"{name} has {len(values)} values for {n_rows} rows: pass one value per row.")
    return values


# -- drawing --------------------------------------------------------------------------------------
def _project(vectors: np.ndarray, method: str) -> tuple[np.ndarray, tuple[str, str]]:
    """Rows of ``vectors`` as 2-D points, and the names of the two axes."""
    if method == "umap":
        try:
            umap = importlib.import_module("umap")
        except ImportError as error:
            raise ImportError("method='umap' needs umap-learn: pip install umap-learn, or use method='pca'.") from error
        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, max(2, len(vectors) - 1)), random_state=0)
        return np.asarray(reducer.fit_transform(vectors), dtype=np.float64), ("UMAP 1", "UMAP 2")
    centred = vectors - vectors.mean(axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    points = np.zeros((len(vectors), 2))
    k = min(2, len(singular))
    for i in range(k):  # the sign that makes the largest loading positive, so pictures are reproducible
        direction = components[i] * np.sign(components[i][np.argmax(np.abs(components[i]))] or 1.0)
        points[:, i] = centred @ direction
    total = float((singular**2).sum())
    shares = [float(s**2) / total if total > 0 else 0.0 for s in singular[:k]] + [0.0] * (2 - k)
    return points, (f"PC 1 ({shares[0]:.0%})", f"PC 2 ({shares[1]:.0%})")


def _numeric(values: np.ndarray) -> bool:
    present = [v for v in values.tolist() if v is not None]
    return bool(present) and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in present)


def _categorical_scatter(ax: Axes, points: np.ndarray, values: np.ndarray, name: str | None) -> None:
    """One scatter of all points, one colour per category (first-seen order), and a legend of them."""
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    keys = ["(missing)" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values.tolist()]
    categories = list(dict.fromkeys(keys))
    if len(categories) <= 20:
        palette = colormaps["tab10" if len(categories) <= 10 else "tab20"]
        shade = {c: palette(i) for i, c in enumerate(categories)}
    else:
        shade = {c: colormaps["turbo"](i / (len(categories) - 1)) for i, c in enumerate(categories)}
    ax.scatter(points[:, 0], points[:, 1], c=[shade[k] for k in keys])
    handles = [Line2D([], [], marker="o", linestyle="", color=shade[c], label=c) for c in categories]
    ax.legend(handles=handles, title=name, fontsize=8)
