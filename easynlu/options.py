"""The options of ``predict`` and ``embed``, defined once: names, types, defaults, choices, checks.

``Pipeline.predict``/``embed`` build an :class:`Options`, which checks itself when it is made,
so a bad value fails before any model loads (and without importing torch). The command line
takes its choices from the ``Literal`` types here.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, fields
from typing import Literal, get_args

import numpy as np

from .errors import OptionError

Level = Literal["token", "sentence", "document"]
Pooling = Literal["mean", "max", "cls"]
SubwordPooling = Literal["first", "last", "mean", "max"]
LayerPooling = Literal["mean", "concat"]

LEVELS: tuple[Level, ...] = get_args(Level)
POOLINGS: tuple[Pooling, ...] = get_args(Pooling)
SUBWORD_POOLINGS: tuple[SubwordPooling, ...] = get_args(SubwordPooling)
LAYER_POOLINGS: tuple[LayerPooling, ...] = get_args(LayerPooling)


@dataclass(frozen=True)
class Options:
    """Every keyword of ``predict`` (``embed`` takes all but ``output_level`` and ``positions``).

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


def is_int(value: object) -> bool:
    """Whether ``value`` is an int (numpy ints too), and not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_choice(name: str, value: object, allowed: Sequence[str]) -> None:
    """Raise OptionError naming ``name`` and the ``allowed`` values unless ``value`` is one of them."""
    if not isinstance(value, str) or value not in allowed:
        raise OptionError(f"{name}={value!r} is not supported: use one of {', '.join(map(repr, allowed))}.")


def _flag(name: str, value: object) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise OptionError(f"{name}={value!r}: pass True or False.")
