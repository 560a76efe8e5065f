"""Reading inputs lazily: iterables, Series, DataFrames and .txt/.csv/.tsv/.parquet/.jsonl files, cut into chunks.

``source(data, chunk_size)`` gives a :class:`Source`: the input as raw chunks of at most
``chunk_size`` rows (a Series or DataFrame each, labelled as ``predict`` labels the whole input:
positions 0..n-1 for iterables and files, the labels of a Series or DataFrame), its row count when
known, and an identity that tells a resumed run it is reading the same input. Nothing here predicts.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError, OptionError
from .options import is_int

if TYPE_CHECKING:
    import pandas as pd

FILE_TYPES = (".txt", ".csv", ".tsv", ".parquet", ".jsonl")


@dataclass
class Source:
    """An input cut into raw chunks (a Series or DataFrame each, labelled as ``predict`` would label
    the whole input), with its row count when known and an identity for resuming."""

    chunks: Iterator[pd.Series | pd.DataFrame]
    total: int | None
    identity: dict[str, Any] | None  # None: identify by the first chunk's content (see fingerprint)
    text_column: Hashable | None


def source(data: Any, chunk_size: int, text_column: Hashable | None = None) -> Source:
    """Cut ``data`` into raw chunks of at most ``chunk_size`` input rows, read lazily.

    Raises InputError for a file type it does not read, a missing file, a set, a bytes object,
    or ``text_column`` with an input that has no columns; OptionError for a bad chunk_size.
    """
    import pandas as pd

    size = _check_chunk_size(chunk_size)
    if isinstance(data, (str, os.PathLike)):
        return _file_source(Path(data), size, text_column)
    if isinstance(data, pd.DataFrame):
        from .inputs import pick_text_column

        column = pick_text_column(data, text_column)  # once, so the rule warns once
        return Source(_frame_chunks(data, size), len(data), None, column)
    if text_column is not None:
        raise InputError(f"text_column={text_column!r} only applies to a DataFrame or a file with columns, "
                         f"not {type(data).__name__}.")
    if isinstance(data, pd.Series):
        return Source(_frame_chunks(data, size), len(data), None, None)
    if isinstance(data, (set, frozenset, bytes, bytearray, dict)) or not isinstance(data, Iterable):
        from .inputs import read

        read(data)  # raises the InputError predict would
    total = len(data) if hasattr(data, "__len__") else None
    return Source(_iterable_chunks(data, size), total, None, None)


def fingerprint(chunk: pd.Series | pd.DataFrame) -> str:
    """A sha256 of a raw chunk's labels and values, to tell one iterable input from another."""
    from pandas.util import hash_pandas_object

    digest = hashlib.sha256(hash_pandas_object(chunk, index=True).to_numpy().tobytes())
    digest.update(repr(list(getattr(chunk, "columns", [chunk.name]))).encode())
    return digest.hexdigest()


def _check_chunk_size(chunk_size: object) -> int:
    if not is_int(chunk_size) or int(chunk_size) < 1:  # type: ignore[call-overload]
        raise OptionError(f"chunk_size={chunk_size!r}: pass a positive int (input rows per chunk).")
    return int(chunk_size)  # type: ignore[call-overload]


# -- in memory ------------------------------------------------------------------------------------
def _positional(values: list[Any], start: int) -> pd.Series:
    import pandas as pd

    return pd.Series(values, index=pd.RangeIndex(start, start + len(values)), dtype=object)


def _frame_chunks(data: pd.DataFrame | pd.Series, size: int) -> Iterator[pd.DataFrame | pd.Series]:
    for start in range(0, len(data), size):
        yield data.iloc[start : start + size]


def _iterable_chunks(data: Iterable[Any], size: int) -> Iterator[pd.Series]:
    iterator, start = iter(data), 0
    while values := list(itertools.islice(iterator, size)):
        yield _positional(values, start)
        start += len(values)


# -- files ----------------------------------------------------------------------------------------
def _file_source(path: Path, size: int, text_column: Hashable | None) -> Source:
    kind = path.suffix.lower()
    if kind not in FILE_TYPES:
        raise InputError(f"Cannot read {path}: a file input must end in {', '.join(FILE_TYPES)}.")
    if not path.is_file():
        raise InputError(f"No such file: {path}.")
    if kind == ".txt" and text_column is not None:
        raise InputError(f"text_column={text_column!r} does not apply to a .txt file (one text per line).")
    stat = path.stat()
    identity = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    total: int | None = None
    chunks: Iterator[Any]
    if kind == ".txt":
        total, chunks = _count_lines(path), _txt_chunks(path, size)
    elif kind == ".jsonl":
        with open(path, "rb") as f:
            total = sum(1 for line in f if line.strip())  # blank lines are skipped when read
        chunks = _jsonl_chunks(path, size)
    elif kind == ".parquet":
        pq = _pyarrow("pyarrow.parquet")

        total, chunks = pq.ParquetFile(path).metadata.num_rows, _parquet_chunks(path, size)
    else:
        chunks = _csv_chunks(path, size, text_column)
    return Source(chunks, total, identity, text_column)


def _count_lines(path: Path) -> int:
    """Lines in a file, counted in 1 MB blocks (a last line without a newline counts)."""
    count, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _txt_chunks(path: Path, size: int) -> Iterator[pd.Series]:
    with open(path, encoding="utf-8", newline=None) as f:
        start = 0
        while lines := list(itertools.islice(f, size)):
            yield _positional([line[:-1] if line.endswith("\n") else line for line in lines], start)
            start += len(lines)


def _jsonl_chunks(path: Path, size: int) -> Iterator[pd.DataFrame]:
    import pandas as pd

    with open(path, encoding="utf-8") as f:
        start, number, records = 0, 0, []
        for number, line in enumerate(f, 1):  # noqa: B007  (number is read after the loop)
            if not line.strip():
                continue
            record = json.loads(line)
            if not isinstance(record, dict):
                raise InputError(f"{path}, line {number}: expected a JSON object, got {type(record).__name__}.")
            records.append(record)
            if len(records) == size:
                yield pd.DataFrame.from_records(records, index=pd.RangeIndex(start, start + len(records)))
                start, records = start + len(records), []
        if records:
            yield pd.DataFrame.from_records(records, index=pd.RangeIndex(start, start + len(records)))


def _csv_chunks(path: Path, size: int, text_column: Hashable | None) -> Iterator[pd.DataFrame]:
    import pandas as pd

    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    header = pd.read_csv(path, sep=sep, nrows=0).columns
    known = text_column if text_column is not None else ("text" if "text" in header else None)
    dtype = {known: str} if known in header else None  # texts like "123" stay texts
    yield from pd.read_csv(path, sep=sep, chunksize=size, dtype=dtype)  # the index runs on across chunks


def _parquet_chunks(path: Path, size: int) -> Iterator[pd.DataFrame]:
    import pandas as pd
    pq = _pyarrow("pyarrow.parquet")

    file = pq.ParquetFile(path)
    columns = [n for n in file.schema_arrow.names if not n.startswith("__index_level_")]
    start = 0
    for batch in file.iter_batches(batch_size=size, columns=columns):
        frame = batch.to_pandas()
        frame.index = pd.RangeIndex(start, start + len(frame))
        start += len(frame)
        yield frame


def _pyarrow(name: str) -> Any:
    """pyarrow (it ships no type information), imported when first needed."""
    import importlib

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        raise ImportError("Parquet input and output need pyarrow: pip install pyarrow.") from err
