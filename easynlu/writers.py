"""Writing predicted frames: rows as JSON lines, CSV or Arrow tables, and the resumable output files.

The row writers turn a frame of ``predict`` into JSON lines or CSV (full vectors as JSON lists) or
an Arrow table (vectors as fixed-size float32 lists); the command line prints with them too.
:class:`ParquetPartsWriter` and :class:`TextFileWriter` are the two outputs that ``stream`` writes
chunk by chunk and resumes after a crash: a directory of parquet parts, and a JSON-lines or CSV
file. Every file here is written with :mod:`easynlu.files` (atomic, the user's umask), except the
text file, which grows by appending and is cut back to its last complete chunk on a resume.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import files
from .errors import OptionError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PROGRESS_FILE = "_progress.json"  # in a parquet output directory
PROGRESS_KEYS = ("chunks_done", "bytes")  # what TextFileWriter adds to its state file as it goes


# -- rows as JSON lines and CSV -----------------------------------------------------------------
def vector_list(vector: np.ndarray | None) -> list[float] | None:
    """Full vector as JSON-ready floats, each the shortest text that reads back as the same float32."""
    if vector is None:
        return None
    return [float(x) for x in vector.astype(str).tolist()]


def json_value(value: Any) -> Any:
    """A DataFrame cell as a JSON value (numpy scalars, missing values)."""
    import numpy as np
    import pandas as pd

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return None
    if isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return str(value)


def records(frame: pd.DataFrame, vector_columns: list[str]) -> Iterator[dict[str, Any]]:
    """Each row as a dict of JSON values: ``index`` first, then the columns (vectors as float lists)."""
    columns = list(frame.columns)
    index = frame.index.tolist()
    cells = {c: frame[c].tolist() for c in columns}
    for i, label in enumerate(index):
        record: dict[str, Any] = {"index": json_value(label)}
        for column in columns:
            value = cells[column][i]
            record[column] = vector_list(value) if column in vector_columns else json_value(value)
        yield record


def write_json_lines(frame: pd.DataFrame, vector_columns: list[str], stream: TextIO) -> None:
    """Write ``frame`` to ``stream`` as JSON lines, one object per row (see :func:`records`)."""
    for record in records(frame, vector_columns):
        stream.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")


def write_csv(frame: pd.DataFrame, vector_columns: list[str], stream: TextIO, header: bool = True) -> None:
    """Write ``frame`` to ``stream`` as CSV rows (an ``index`` column first, vectors as JSON lists)."""
    import csv

    writer = csv.writer(stream, lineterminator="\n")
    if header:
        writer.writerow(["index", *frame.columns])
    for record in records(frame, vector_columns):
        row: list[Any] = []
        for key, value in record.items():
            if key in vector_columns:
                row.append("" if value is None else json.dumps(value))
            else:
                row.append("" if value is None else value)
        writer.writerow(row)


# -- rows as an Arrow table -----------------------------------------------------------------------
def to_arrow(frame: pd.DataFrame, vector_columns: list[str], dims: dict[str, int]) -> Any:
    """``frame`` as an arrow table: its index as column ``index``, vectors as fixed-size float32
    lists of ``dims[column]`` (null where there is none), the text column as strings."""
    import numpy as np

    pa = _pyarrow("pyarrow")

    if "index" in frame.columns:
        raise OptionError("The result has a column named 'index', which would clash with the written index: "
                          "rename that column of your input.")
    arrays, names = [pa.array(frame.index.to_numpy(), from_pandas=True)], ["index"]
    for name in frame.columns:
        values = frame[name]
        if name in vector_columns:
            dim = dims[name]
            cells = values.tolist()
            present = np.array([v is not None for v in cells], dtype=bool)
            flat = np.zeros((len(cells), dim), dtype=np.float32)
            if present.any():
                flat[present] = np.stack([v for v in cells if v is not None])
            array = pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), dim)
            arrays.append(pa.FixedSizeListArray.from_arrays(array.values, dim, mask=pa.array(~present)))
        elif name in ("token", "sentence", "document"):
            arrays.append(pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True))
        else:
            arrays.append(pa.Array.from_pandas(values))
        names.append(str(name))
    return pa.Table.from_arrays(arrays, names=names)


def _pyarrow(name: str) -> Any:
    """pyarrow (it ships no type information), imported when first needed."""
    import importlib

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        raise ImportError("Parquet input and output need pyarrow: pip install pyarrow.") from err


# -- resumable outputs ----------------------------------------------------------------------------
class ParquetPartsWriter:
    """A parquet dataset directory written chunk by chunk: ``part-NNNNNN.parquet`` per chunk, and
    ``_progress.json`` (the run's state, see ``stream.run_resumable``).

    Each part is written atomically, so the parts on disk are the chunks done. Vectors are stored
    as fixed-size float32 lists; a vector column's length comes from the first chunk that holds
    one, else from ``probe_dim(column)``.
    """

    def __init__(self, path: str | os.PathLike[str], vector_columns: list[str],
                 probe_dim: Callable[[str], int]) -> None:
        """Check ``path`` and make the directory. Raises OptionError when ``path`` is a file, or a
        non-empty directory without ``_progress.json``."""
        out = Path(path).absolute()
        if out.exists() and not out.is_dir():
            raise OptionError(f"{out} is a file: predict_to_parquet writes a directory of parts; pass a new path.")
        if out.is_dir() and any(out.iterdir()) and not (out / PROGRESS_FILE).exists():
            raise OptionError(f"{out} is a non-empty directory that is not an easynlu output: pass a new path.")
        out.mkdir(parents=True, exist_ok=True)
        self.path = out
        self.state_file = out / PROGRESS_FILE
        self.vector_columns = vector_columns
        self.probe_dim = probe_dim
        self.dims: dict[str, int] = {}

    def part(self, number: int) -> Path:
        """The path of chunk ``number``'s part."""
        return self.path / f"part-{number:06d}.parquet"

    def chunks_done(self, _state: dict[str, Any]) -> int:
        """How many chunks an earlier run wrote (the parts present); removes half-written ones."""
        for temp in self.path.glob(".part-*.parquet.tmp*"):  # a part a crash left half written
            temp.unlink(missing_ok=True)
        count = 0
        while self.part(count).exists():
            count += 1
        return count

    def write(self, number: int, frame: pd.DataFrame) -> None:
        """Write chunk ``number``'s frame as its part."""
        pq = _pyarrow("pyarrow.parquet")

        vectors = [c for c in frame.columns if c in self.vector_columns]
        for name in vectors:
            if name not in self.dims:
                dim = _dim(frame, name)
                self.dims[name] = self.probe_dim(name) if dim is None else dim
        with files.writing(self.part(number), "wb") as f:
            pq.write_table(to_arrow(frame, vectors, self.dims), f)


def _dim(frame: pd.DataFrame, column: str) -> int | None:
    """The length of ``column``'s vectors in ``frame``; None when it holds none."""
    for vector in frame[column].tolist():
        if vector is not None:
            return len(vector)
    return None


class TextFileWriter:
    """A text file (JSON lines or CSV) appended chunk by chunk, with ``PATH.progress.json`` beside it
    while it is being written (removed by :meth:`close` when the run is complete).

    ``write_rows(frame, stream, first)`` writes one chunk's frame (``first`` for the first chunk,
    e.g. a CSV header). The state file records the run, the chunks done and the file's size after
    the last one; a resumed run cuts off a partly written chunk and goes on from there.
    """

    def __init__(self, path: str | os.PathLike[str], write_rows: Callable[[pd.DataFrame, TextIO, bool], None]) -> None:
        """Raises OptionError when ``path`` exists without its progress file."""
        out = Path(path).absolute()
        self.path = out
        self.state_file = out.with_name(out.name + ".progress.json")
        if out.exists() and not self.state_file.exists():
            raise OptionError(f"{out} already exists and is not an interrupted easynlu run (a finished output has no "
                              f"{self.state_file.name} to resume from): pass a new path, or delete it to run again.")
        self.write_rows = write_rows
        self.done = 0  # chunks in the file
        self.size = 0  # its size in bytes after the last of them

    def chunks_done(self, state: dict[str, Any]) -> int:
        """How many chunks an earlier run wrote, from its state."""
        self.done, self.size = int(state.get("chunks_done", 0)), int(state.get("bytes", 0))
        return self.done

    def write(self, number: int, frame: pd.DataFrame) -> None:
        """Append chunk ``number``'s rows, then record them in the state file."""
        with open(self.path, "a+", encoding="utf-8", newline="") as f:
            f.truncate(self.size)  # drop a chunk a crash left half written
            f.seek(0, os.SEEK_END)
            self.write_rows(frame, f, number == 0)
            f.flush()
            os.fsync(f.fileno())
            size = f.tell()
        state = {**json.loads(self.state_file.read_text()), "chunks_done": number + 1, "bytes": size}
        files.write_json(self.state_file, state)
        self.done, self.size = number + 1, size

    def close(self) -> None:
        """After the last chunk: the output is complete, so its progress file goes (an empty input
        gives an empty file). Running the same call again then finds a finished file and refuses it."""
        if not self.path.exists():
            self.path.touch()
        self.state_file.unlink(missing_ok=True)
