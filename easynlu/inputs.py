"""Turn what the user passed (str, list, ndarray, Series, DataFrame, iterator) into Documents.

Documents keep the caller's index and the DataFrame's other columns; the caller's object is
never modified. Missing texts (None, NaN, pd.NA) are valid documents with no tokens.

pandas is not imported here: an input can only be a pandas object if pandas is already loaded,
so ``embed()`` on a list never pays pandas' import time and memory.
"""

from __future__ import annotations

import math
import re
import sys
import warnings
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import EasyNLUWarning, InputError, user_stacklevel

if TYPE_CHECKING:
    import pandas as pd


_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Documents:
    """The documents of one call, in input order, with the caller's index and carried columns."""

    texts: list[str]            # what the model reads; "" for missing, lone surrogates replaced
    originals: list[str | None]  # what the user gave, None for missing
    labels: pd.Index | None     # the caller's index, or None for positions 0..n-1
    extra: pd.DataFrame | None  # a DataFrame's other columns

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def index(self) -> pd.Index:
        """The caller's index as a pd.Index (a RangeIndex for plain sequences)."""
        if self.labels is not None:
            return self.labels
        import pandas as pd

        return pd.RangeIndex(len(self.texts))


def _pandas() -> ModuleType | None:
    """pandas if something already imported it, else None (then no input is a pandas object)."""
    return sys.modules.get("pandas")


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    pd = _pandas()
    return pd is not None and (value is pd.NA or value is pd.NaT)


def _model_text(text: str) -> str:
    """The text the tokenizer sees: lone surrogates become U+FFFD, so offsets stay valid."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)


def _check_values(values: list[Any], index: pd.Index | None = None) -> Documents:
    texts: list[str] = []
    originals: list[str | None] = []
    for position, value in enumerate(values):
        if isinstance(value, str):
            originals.append(str(value))
            texts.append(_model_text(value))
        elif _is_missing(value):
            originals.append(None)
            texts.append("")
        else:
            hint = (
                "decode it first, e.g. b.decode('utf-8')"
                if isinstance(value, (bytes, bytearray))
                else "convert it to str (e.g. .astype(str)) or pass None for a missing text"
            )
            label = position if index is None else index[position : position + 1].tolist()[0]  # not np.int64
            raise InputError(
                f"Input at position {position} (index label {label!r}) is "
                f"{type(value).__name__}, not str: {hint}."
            )
    return Documents(texts, originals, index, None)


def _series_values(series: pd.Series) -> list[Any]:
    # Categorical, string[pyarrow] and str dtypes all come back as plain objects here.
    return series.to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[call-overload]  # stubs lack None


def pick_text_column(frame: pd.DataFrame, text_column: Hashable | None) -> Hashable:
    """The column of ``frame`` that holds the text; see :func:`choose_text_column`."""
    return choose_text_column(list(frame.columns), lambda c: _is_text_column(frame[c]), text_column)


def choose_text_column(columns: list[Hashable], is_text: Callable[[Hashable], bool],
                       text_column: Hashable | None) -> Hashable:
    """The text column among ``columns``: ``text_column``, else ``text``, else the only string
    column, else the first one with an EasyNLUWarning naming it (NLU's rule). Shared by pandas
    and Spark inputs; ``is_text`` says whether a column holds strings. Raises InputError when
    ``text_column`` is missing or no column holds strings.
    """
    if text_column is not None:
        if text_column not in columns:
            raise InputError(
                f"text_column={text_column!r} is not a column of the DataFrame; its columns are "
                f"{columns}."
            )
        return text_column
    if "text" in columns:
        return "text"
    candidates = [c for c in columns if is_text(c)]
    if not candidates:
        raise InputError(
            f"Cannot tell which column holds the text: the DataFrame has no string column among "
            f"{columns} and none is named 'text'. Pass text_column='<name>'."
        )
    if len(candidates) > 1:  # NLU's rule: the first one, said out loud
        warnings.warn(
            f"The DataFrame has no 'text' column and several string columns {candidates}: using the "
            f"first, {candidates[0]!r}. Pass text_column={candidates[0]!r} (or another) to choose and "
            f"silence this warning.", EasyNLUWarning, stacklevel=user_stacklevel())
    return candidates[0]


def _is_text_column(column: pd.Series | pd.DataFrame) -> bool:
    import pandas as pd

    if isinstance(column, pd.DataFrame):  # duplicate column names
        return False
    dtype = column.dtype
    values: pd.Index | pd.Series
    if isinstance(dtype, pd.StringDtype):
        return True
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
        values = column.cat.categories
    elif dtype == np.dtype(object):
        values = column.dropna()
    else:
        return False
    if isinstance(dtype, pd.StringDtype):
        return True
    return len(values) > 0 and all(isinstance(v, str) for v in values)


def read(data: Any, text_column: Hashable | None = None) -> Documents:
    """Documents from any supported input, in input order, with the caller's index.

    ``data`` is a str, a list/tuple/1-D ndarray/iterable of str, a Series, or a DataFrame whose
    text is ``text_column``, else ``text``, else its only string column; None/NaN/pd.NA are
    missing texts. Raises InputError (a TypeError and a ValueError) naming the first bad
    position, its index label and type, or the DataFrame's columns when none can be chosen.
    """
    pd = _pandas()
    is_frame = pd is not None and isinstance(data, pd.DataFrame)
    if text_column is not None and not is_frame:
        raise InputError(
            f"text_column={text_column!r} only applies to a DataFrame, not {type(data).__name__}."
        )
    if isinstance(data, str):
        return _check_values([data])
    if is_frame:
        assert pd is not None  # is_frame implies pandas is loaded
        column = pick_text_column(data, text_column)
        if isinstance(data[column], pd.DataFrame):
            raise InputError(f"The DataFrame has several columns named {column!r}; rename them.")
        docs = _check_values(_series_values(data[column]), data.index)
        extra = data.drop(columns=[column])
        return Documents(docs.texts, docs.originals, docs.labels, extra if extra.shape[1] else None)
    if pd is not None and isinstance(data, pd.Series):
        return _check_values(_series_values(data), data.index)
    if isinstance(data, np.ndarray):
        if data.ndim != 1:
            raise InputError(
                f"A numpy array of texts must be 1-D, got shape {data.shape}; use .ravel() or a "
                f"DataFrame with a text column."
            )
        values = data.tolist()
    elif isinstance(data, (list, tuple)) or pd is not None and isinstance(data, pd.Index):
        values = list(data)
    elif isinstance(data, (set, frozenset)):
        raise InputError("A set has no order, so rows could not follow input order: pass a list.")
    elif isinstance(data, Iterator) or (
        isinstance(data, Iterable) and not isinstance(data, (bytes, bytearray, dict))
    ):
        values = list(data)
    else:
        decode = " (decode bytes first, e.g. data.decode('utf-8'))" if isinstance(data, (bytes, bytearray)) else ""
        raise InputError(
            f"Cannot read input of type {type(data).__name__}: pass a str{decode}, a list/tuple/1-D "
            f"array of str, a pandas Series, or a DataFrame with a text column."
        )
    return _check_values(values)
