"""The options of ``predict`` and ``embed``, defined once: names, types, defaults, choices, checks.

``Pipeline.predict``/``embed`` build an :class:`Options`, which checks itself when it is made,
so a bad value fails before any model loads (and without importing torch). The command line
takes its choices from the ``Literal`` types here.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import sys
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, fields
from typing import Literal, ParamSpec, TypeVar, get_args

from .errors import OptionError, OptionTypeError

P = ParamSpec("P")
R = TypeVar("R")

Level = Literal["token", "sentence", "document"]
Pooling = Literal["mean", "max", "cls"]
SubwordPooling = Literal["first", "last", "mean", "max"]
LayerPooling = Literal["mean", "concat"]
ColumnStyle = Literal["easynlu", "nlu"]

LEVELS: tuple[Level, ...] = get_args(Level)
POOLINGS: tuple[Pooling, ...] = get_args(Pooling)
SUBWORD_POOLINGS: tuple[SubwordPooling, ...] = get_args(SubwordPooling)
LAYER_POOLINGS: tuple[LayerPooling, ...] = get_args(LayerPooling)
COLUMN_STYLES: tuple[ColumnStyle, ...] = get_args(ColumnStyle)


@dataclass(frozen=True)
class Options:
    """Every keyword of ``predict``; ``embed`` takes all but those in ``FRAME_ONLY``.

    The last seven are NLU's keywords, accepted so that NLU code runs unchanged (see
    docs/from-nlu.md): ``metadata``, ``drop_irrelevant_cols`` and ``keep_stranger_features``
    shape the frame, ``columns="nlu"`` names its columns as NLU does, ``multithread`` and
    ``get_embeddings`` change nothing (torch picks its threads; embeddings are always
    returned), and ``return_spark_df=True`` needs Spark input (Spark in gives Spark out).

    Raises :class:`easynlu.OptionError` (a ``ValueError``) when made with a value it does not
    accept, naming the option and what to pass instead.
    """

    output_level: Level | None = None  # None: the first model's own level
    positions: bool = False
    pooling: Pooling | None = None  # None: the model's own pooling if it defines one, else mean
    subword_pooling: SubwordPooling = "first"
    layers: int | Sequence[int] = -1
    layer_pooling: LayerPooling = "mean"
    normalize: bool = False
    batch_size: int | None = None
    progress: bool | None = None
    text_column: Hashable | None = None
    metadata: bool = False  # NLU: sentence ids, and the sentence/document text beside token rows
    drop_irrelevant_cols: bool = True  # NLU: False keeps the sentence/document text beside token rows
    keep_stranger_features: bool = True  # NLU: False drops the input DataFrame's other columns
    multithread: bool = True  # NLU: accepted; torch sets its own threads
    get_embeddings: bool = True  # NLU: accepted; embeddings are always returned
    return_spark_df: bool = False  # NLU: Spark output needs Spark input (Spark in gives Spark out)
    columns: ColumnStyle = "easynlu"  # "nlu": NLU's column names and inclusive end positions

    def __post_init__(self) -> None:
        if self.output_level is not None:
            check_choice("output_level", self.output_level, LEVELS)
        if self.pooling is not None:
            check_choice("pooling", self.pooling, POOLINGS)
        check_choice("subword_pooling", self.subword_pooling, SUBWORD_POOLINGS)
        check_choice("layer_pooling", self.layer_pooling, LAYER_POOLINGS)
        _flag("positions", self.positions)
        _flag("normalize", self.normalize)
        if self.progress is not None:
            _flag("progress", self.progress)
        for name in ("metadata", "drop_irrelevant_cols", "keep_stranger_features", "multithread", "get_embeddings",
                     "return_spark_df"):
            _flag(name, getattr(self, name))
        check_choice("columns", self.columns, COLUMN_STYLES)
        self.layer_indices  # noqa: B018  (checks layers)
        batch_size = self.batch_size
        if batch_size is not None and (not is_int(batch_size) or batch_size < 1):
            raise OptionError(f"batch_size={batch_size!r}: pass a positive int (texts per batch) or None.")

    @property
    def layer_indices(self) -> tuple[int, ...]:
        """``layers`` as a non-empty tuple of ints."""
        layers = self.layers
        if is_int(layers):
            return (int(layers),)  # type: ignore[arg-type]
        if isinstance(layers, (list, tuple)) and layers and all(is_int(x) for x in layers):
            return tuple(int(x) for x in layers)
        raise OptionError(f"layers={layers!r}: pass an int (-1 is the last layer) or a non-empty list of ints.")


NAMES: tuple[str, ...] = tuple(f.name for f in fields(Options))
# Options that shape the DataFrame only: predict takes them, embed (a numpy array) does not.
FRAME_ONLY: tuple[str, ...] = ("output_level", "positions", "metadata", "drop_irrelevant_cols",
                               "keep_stranger_features", "multithread", "get_embeddings", "return_spark_df", "columns")


# How a model runs (load()'s options, not predict's): engines, quantisations.
BACKENDS = ("torch", "onnx", "auto")
QUANTIZE = ("int8",)


def check_quantize(quantize: object) -> str | None:
    """``quantize`` as "int8" or None; OptionError otherwise."""
    if quantize is None:
        return None
    if quantize not in QUANTIZE:
        raise OptionError(f"quantize={quantize!r} is not supported: use quantize='int8' (with the ONNX backend) "
                          f"or None.")
    return str(quantize)


def check_threads(threads: object) -> int | None:
    """``threads`` as a positive int, or None; OptionError otherwise."""
    if threads is None:
        return None
    if not is_int(threads) or int(threads) < 1:  # type: ignore[call-overload]
        raise OptionError(f"threads={threads!r} is not a positive number of threads: use e.g. threads=2, "
                          f"or None for as many as PyTorch would use.")
    return int(threads)  # type: ignore[call-overload]


def _numpy_bool(value: object) -> bool:
    """Whether ``value`` is a numpy bool (numpy is not imported for this: without it, none exists)."""
    np = sys.modules.get("numpy")
    return np is not None and isinstance(value, np.bool_)


def is_int(value: object) -> bool:
    """Whether ``value`` is an int (numpy ints too), and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and not _numpy_bool(value)


def check_choice(name: str, value: object, allowed: Sequence[str]) -> None:
    """Raise OptionError naming ``name`` and the ``allowed`` values unless ``value`` is one of them."""
    if not isinstance(value, str) or value not in allowed:
        raise OptionError(f"{name}={value!r} is not supported: use one of {', '.join(map(repr, allowed))}.")


def _flag(name: str, value: object) -> None:
    if not (isinstance(value, bool) or _numpy_bool(value)):
        raise OptionError(f"{name}={value!r}: pass True or False.")


def keywords_listed(method: Callable[P, R]) -> Callable[P, R]:
    """An unknown keyword raises OptionTypeError (a TypeError) that lists the valid keywords."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as err:
            valid = ", ".join(name for name in signature.parameters if name != "self")
            raise OptionTypeError(f"{method.__name__}(): {err}. Its arguments are: {valid}.") from None
        return method(*args, **kwargs)

    return checked
