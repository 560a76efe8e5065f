"""The output's columns, decided once: which exist, in what order, and what each holds.

``predict``'s pandas frame (:mod:`easynlu.frames`) fills the columns :func:`columns` names and
its Spark schema (:mod:`easynlu.spark`) maps their kinds to Spark types, so both give the same
columns by construction (a JSON output can use the same function). A pure function of the
options, the level, the models' vector columns and the input's other columns: no pandas,
pyspark, torch or numpy here. Names are easynlu's; ``columns="nlu"`` renames them afterwards
(:mod:`easynlu.nlu`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from .options import LEVELS, Options

Kind = Literal["text", "position", "context", "sentence_id", "vector", "carried"]
KINDS: tuple[Kind, ...] = get_args(Kind)


@dataclass(frozen=True)
class Column:
    """One output column: its name, its kind and, for a carried one, the input column it copies.

    Kinds: ``text``, the level's text, the user's own (str); ``position``, ``start`` or ``end``,
    a character offset in the document (int64); ``context``, the ``sentence`` or ``document``
    text around a finer row (str); ``sentence_id``, the sentence's number in its document (a
    nullable int: a placeholder row has none); ``vector``, one model's float32 vector (missing
    where a row has none); ``carried``, one of the input's other columns, its type kept.
    """

    name: Hashable
    kind: Kind
    source: Hashable | None = None  # carried only: the input's name (``name`` adds ``_input`` on a clash)


def columns(options: Options, level: str, vector_columns: Sequence[str],
            carried: Sequence[Hashable] = ()) -> tuple[Column, ...]:
    """The output's columns, in order, for ``predict`` at ``level`` with ``options``.

    ``vector_columns`` are the models' vector columns in pipeline order; ``carried`` the input
    DataFrame's other columns (all but the text column) in their order. Order: the level's
    text column (``token``, ``sentence`` or ``document``); ``start``, ``end`` with
    ``positions``; below document level, the context texts (``sentence`` beside tokens, then
    ``document``) with ``metadata`` or ``drop_irrelevant_cols=False``, and ``sentence_id`` with
    ``metadata``; the vectors; then ``carried`` unless ``keep_stranger_features=False``, each
    renamed ``<name>_input`` where it clashes with one of the columns before (only those: a
    carried ``token_input`` beside a renamed ``token`` stays, so names may repeat, as in
    pandas). ``options.output_level`` and ``options.columns`` are not read: ``level`` is
    resolved already and NLU's names are applied afterwards. Raises ValueError for an unknown
    ``level``.
    """
    if level not in LEVELS:
        raise ValueError(f"level={level!r}: use one of {', '.join(map(repr, LEVELS))}.")
    own = [Column(level, "text")]
    if options.positions:
        own += [Column("start", "position"), Column("end", "position")]
    if level != "document" and (options.metadata or not options.drop_irrelevant_cols):
        own += [Column("sentence", "context")] if level == "token" else []
        own += [Column("document", "context")]
    if level != "document" and options.metadata:
        own += [Column("sentence_id", "sentence_id")]
    own += [Column(name, "vector") for name in vector_columns]
    if not options.keep_stranger_features:
        return tuple(own)
    taken = {column.name for column in own}
    return (*own, *(Column(f"{name}_input" if name in taken else name, "carried", name) for name in carried))
