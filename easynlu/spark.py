"""Spark DataFrames in, Spark DataFrames out: ``pipe.predict(spark_df)`` runs on the executors.

The work is one ``mapInPandas``: each Arrow batch becomes a pandas DataFrame that goes through the
ordinary pandas ``Pipeline.predict``, so rows, columns and vectors are exactly the pandas path's
(only the pandas index is dropped: Spark has none). The pipeline travels to the workers as its
spec (``Pipeline.__getstate__``); its weights load once per Python worker process, in the
process-wide cache of ``easynlu.loaded``. Streaming DataFrames go through the same call.

pyspark is imported only when a Spark DataFrame is handed over: ``is_spark_dataframe`` looks in
``sys.modules`` and never imports it.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from . import layout
from .errors import InputError, OptionError
from .options import Options

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType, StructType

    from .protocol import Embedder


def is_spark_dataframe(obj: object) -> bool:
    """Whether ``obj`` is a pyspark DataFrame (classic or Spark Connect); never imports pyspark."""
    if "pyspark.sql" not in sys.modules:  # nobody imported pyspark, so obj cannot be one of its frames
        return False
    classes: list[type] = []
    for module, name in (("pyspark.sql", "DataFrame"), ("pyspark.sql.connect.dataframe", "DataFrame")):
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type):
            classes.append(cls)
    return isinstance(obj, tuple(classes))


def predict(pipe: Embedder, sdf: DataFrame, options: Options) -> DataFrame:
    """``pipe``'s predictions for the Spark DataFrame ``sdf``, as a lazy Spark DataFrame.

    ``options`` are ``predict``'s, with the same meaning; the text column is chosen by the pandas
    path's rules (``text_column``, else ``text``, else the first string column). Columns are
    those of :func:`easynlu.layout.columns`, as in the pandas path: the level's text column,
    ``start``/``end`` (long) with ``positions=True``, the context texts and ``sentence_id``
    (long) that ``metadata`` adds, one ``array<float>`` column per model (null where a row has
    no vector), then ``sdf``'s other columns, their types kept (``_input`` appended where a
    name clashes). ``columns="nlu"`` renames and sorts them as NLU does. ``sdf`` may be a streaming DataFrame.
    Nothing runs until an action; ``progress`` is ignored (Spark shows its own).

    On a local master where neither PYSPARK_PYTHON nor ``spark.pyspark.python`` names the
    workers' Python, the workers run this driver's interpreter (Spark would start ``python3`` from
    PATH, which may lack easynlu: e.g. a script run as ``.venv/bin/python script.py``).

    Raises InputError when the text column cannot be chosen or is not a string column,
    OptionError for an option Spark output cannot take; errors of the model itself (e.g.
    ModelUnavailableError on an executor) surface when the job runs.
    """
    from pyspark.sql.types import StringType, StructField, StructType

    _workers_run_this_python(sdf)

    if not isinstance(options.text_column, (str, type(None))):
        raise OptionError(f"text_column={options.text_column!r}: a Spark column name is a str.")
    text = _pick_text_column(sdf.schema, options.text_column)
    text_type = sdf.schema[text].dataType
    if not isinstance(text_type, StringType):
        raise InputError(f"The text column {text!r} is {text_type.simpleString()}, not string: cast it first, "
                         f"e.g. sdf.withColumn({text!r}, sdf[{text!r}].cast('string')).")
    level = options.output_level or pipe.default_level
    columns = _columns(pipe, sdf.schema, text, options, level)
    seen = [name for name, _ in columns]
    if len(set(seen)) != len(seen):
        clash = sorted({n for n in seen if seen.count(n) > 1})
        raise InputError(f"The output would have several columns named {clash}: rename those columns of the "
                         f"Spark DataFrame first (sdf.withColumnRenamed(old, new)).")
    schema = StructType([StructField(name, dtype, nullable=True) for name, dtype in columns])
    keywords = {f.name: getattr(options, f.name) for f in fields(Options)}
    # return_spark_df=True means this very call (Spark out); each worker's predict gives pandas
    keywords.update(text_column=text, progress=False, output_level=level, return_spark_df=False)
    with warnings.catch_warnings():  # pyspark warns of pandas 3 on every call; easynlu's tests cover what it uses
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        return sdf.mapInPandas(_Batches(pipe, keywords, seen), schema)


def _workers_run_this_python(sdf: DataFrame) -> None:
    """On a local master with no Python named for the workers, name this interpreter (sys.executable)."""
    try:
        context = sdf.sparkSession.sparkContext
        local = str(context.master).startswith("local")
        named = os.environ.get("PYSPARK_PYTHON") or context.getConf().get("spark.pyspark.python")
    except Exception:  # noqa: BLE001  (Spark Connect has no SparkContext: its server decides)
        return
    if local and not named and context.pythonExec == "python3":
        context.pythonExec = sys.executable  # read when mapInPandas wraps the function


class _Batches:
    """The function each Python worker runs: pandas batches in, ``pipe.predict`` frames out.

    A plain class, so it pickles as a reference to this module plus the pipeline's spec.
    """

    def __init__(self, pipe: Embedder, keywords: dict[str, Any], names: list[str]):
        self.pipe, self.keywords, self.names = pipe, keywords, names

    def __call__(self, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """One predicted frame per non-empty batch, its columns in the schema's order, no index."""
        for batch in batches:
            if len(batch) == 0:
                continue
            frame = self.pipe.predict(batch, **self.keywords)
            yield frame.reset_index(drop=True)[self.names]


def _columns(pipe: Embedder, schema: StructType, text: str, options: Options, level: str) -> list[tuple[str, DataType]]:
    """The output's columns and Spark types: easynlu.layout's, then NLU's names with ``columns="nlu"``."""
    carried = [f for f in schema.fields if f.name != text]
    vectors = [component.column for component in pipe.components]
    types = iter(f.dataType for f in carried)  # carried columns come in schema order and keep their type
    columns = [(str(column.name), next(types) if column.kind == "carried" else _spark_type(column.kind))
               for column in layout.columns(options, level, vectors, [f.name for f in carried])]
    return _nlu_columns(pipe, columns, level) if options.columns == "nlu" else columns


def _spark_type(kind: layout.Kind) -> DataType:
    """The Spark type of one of easynlu's own columns (a carried column keeps the input's type)."""
    from pyspark.sql.types import ArrayType, FloatType, StringType

    types: dict[str, DataType] = {"text": StringType(), "context": StringType(), "position": _long(),
                                  "sentence_id": _long(),  # null on a placeholder row
                                  "vector": ArrayType(FloatType(), containsNull=False)}  # null: no vector
    return types[kind]


def _pick_text_column(schema: StructType, text_column: Any) -> str:
    """The pandas path's rule (easynlu.inputs) on a Spark schema; StringType fields are the string columns."""
    from pyspark.sql.types import StringType

    from .inputs import choose_text_column

    strings = {f.name for f in schema.fields if isinstance(f.dataType, StringType)}
    return str(choose_text_column(list(schema.names), lambda n: n in strings,
                                  text_column))


def _long() -> DataType:
    from pyspark.sql.types import LongType

    return LongType()


def _nlu_columns(pipe: Embedder, columns: list[tuple[str, DataType]], level: str) -> list[tuple[str, DataType]]:
    """NLU's names and order for ``columns``: easynlu.nlu applied to an empty frame, types carried over."""
    import pandas as pd

    from . import nlu

    names = [name for name, _ in columns]
    empty = pd.DataFrame({name: pd.Series([], dtype="int64" if name in ("start", "end") else object)
                          for name in names})
    renamed = nlu.columns(empty, pipe.components, level)
    types = dict(columns)
    types.update({new: types[c.column] for c, new in zip(pipe.components, nlu.vector_names(pipe.components),
                                                          strict=True)})
    if "sentence_id" in types:
        types.update({name: types["sentence_id"] for name in renamed.columns if name.endswith("_origin_sentence")})
    for name in renamed.columns:
        if name not in names and name.endswith(("_begin", "_end")):  # made from start/end
            types[name] = _long()
    return [(str(name), types[name]) for name in renamed.columns]
