"""Streaming on one machine: predict over inputs larger than memory, chunk by chunk, resumably.

``predict_batches`` reads the input lazily (an iterable, a DataFrame or Series, or a .txt, .csv,
.tsv, .parquet or .jsonl file) and yields ``pipe.predict(chunk)`` for each chunk, with the index
``predict`` would give the whole input. ``predict_to_parquet`` writes those frames to a directory
of parquet parts as they are computed, and a re-run of the same call resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import files
from .errors import InputError, OptionError
from .options import is_int

if TYPE_CHECKING:
    import pandas as pd

    from .pipeline import Pipeline

FILE_TYPES = (".txt", ".csv", ".tsv", ".parquet", ".jsonl")
PROGRESS_FILE = "_progress.json"
PROGRESS_KEYS = ("chunks_done", "bytes")  # what a run adds to its state file as it goes


@dataclass
class Source:
    """An input cut into raw chunks (a Series or DataFrame each, labelled as ``predict`` would label
    the whole input), with its row count when known and an identity for resuming."""

    chunks: Iterator[pd.Series | pd.DataFrame]
    total: int | None
    identity: dict[str, Any] | None  # None: identify by the first chunk's content
    text_column: Hashable | None


def _check_chunk_size(chunk_size: object) -> int:
    if not is_int(chunk_size) or int(chunk_size) < 1:  # type: ignore[call-overload]
        raise OptionError(f"chunk_size={chunk_size!r}: pass a positive int (input rows per chunk).")
    return int(chunk_size)  # type: ignore[call-overload]


def _count_lines(path: Path) -> int:
    """Lines in a file, counted in 1 MB blocks (a last line without a newline counts)."""
    count, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _positional(values: list[Any], start: int) -> pd.Series:
    import pandas as pd

    return pd.Series(values, index=pd.RangeIndex(start, start + len(values)), dtype=object)


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


def _frame_chunks(data: pd.DataFrame | pd.Series, size: int) -> Iterator[pd.DataFrame | pd.Series]:
    for start in range(0, len(data), size):
        yield data.iloc[start : start + size]


def _iterable_chunks(data: Iterable[Any], size: int) -> Iterator[pd.Series]:
    iterator, start = iter(data), 0
    while values := list(itertools.islice(iterator, size)):
        yield _positional(values, start)
        start += len(values)


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


def _bar(progress: bool | None, total: int | None) -> Any:
    if progress is False:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="row", desc="easynlu", delay=0 if progress else 2)


def _predict_chunks(pipe: Pipeline, src: Source, options: dict[str, Any],
                    skip: int = 0) -> Iterator[tuple[int, pd.Series | pd.DataFrame, pd.DataFrame | None]]:
    """(number, raw chunk, predict's frame or None for a skipped chunk), in order."""
    for number, chunk in enumerate(src.chunks):
        if number < skip:
            yield number, chunk, None
            continue
        column = None
        if isinstance(chunk, _pandas().DataFrame):
            if src.text_column is None:  # a file's columns: the rule picks from the first chunk, once
                from .inputs import pick_text_column

                src.text_column = pick_text_column(chunk, None)
            column = src.text_column
        yield number, chunk, pipe.predict(chunk, text_column=column, **options)


def _pyarrow(name: str) -> Any:
    """pyarrow (it ships no type information), imported when first needed."""
    import importlib

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        raise ImportError("Parquet input and output need pyarrow: pip install pyarrow.") from err


def _pandas() -> Any:
    import pandas as pd

    return pd


def predict_batches(pipe: Pipeline, data: Any, *, chunk_size: int = 1000, text_column: Hashable | None = None,
                    progress: bool | None = None, **options: Any) -> Iterator[pd.DataFrame]:
    """``pipe.predict`` chunk by chunk: one DataFrame per ``chunk_size`` input rows, read lazily.

    ``data`` is an iterable of texts, a Series or DataFrame, or the path of a .txt (one text per
    line), .csv, .tsv, .parquet or .jsonl file (``text_column`` picks the column, as in
    ``predict``). The frames concatenated equal ``pipe.predict`` of the whole input: same rows,
    same index (positions 0..n-1 for iterables and files, the labels of a Series or DataFrame).
    ``options`` are ``predict``'s; ``progress`` is a bar over input rows (None: after 2 s).
    Raises InputError, OptionError and the model errors as ``predict`` does (a bad file, column
    or chunk_size at the call, the rest as chunks are read).
    """
    return _frames(pipe, source(data, chunk_size, text_column), progress, options)


def _frames(pipe: Pipeline, src: Source, progress: bool | None, options: dict[str, Any]) -> Iterator[pd.DataFrame]:
    bar = _bar(progress, src.total)
    try:
        for _, chunk, frame in _predict_chunks(pipe, src, {"progress": False, **options}):
            assert frame is not None
            if bar is not None:
                bar.update(len(chunk))
            yield frame
    finally:
        if bar is not None:
            bar.close()


# -- resumable output ---------------------------------------------------------------------------
def fingerprint(chunk: pd.Series | pd.DataFrame) -> str:
    """A sha256 of a raw chunk's labels and values, to tell one iterable input from another."""
    from pandas.util import hash_pandas_object

    digest = hashlib.sha256(hash_pandas_object(chunk, index=True).to_numpy().tobytes())
    digest.update(repr(list(getattr(chunk, "columns", [chunk.name]))).encode())
    return digest.hexdigest()


def run_resumable(pipe: Pipeline, data: Any, state_file: Path, write: Callable[[int, pd.DataFrame], None],
                  done: Callable[[dict[str, Any]], int], *, chunk_size: int, text_column: Hashable | None,
                  progress: bool | None, options: dict[str, Any], extra: dict[str, Any] | None = None) -> int:
    """Predict ``data`` chunk by chunk and ``write(number, frame)`` each chunk, resuming a re-run.

    ``state_file`` records what the run is (input identity, refs, options, chunk_size and
    ``extra``); ``done(state)`` says how many chunks a previous run finished. Returns the rows
    written in all. Raises OptionError when ``state_file`` is from a different input or options.
    """
    src = source(data, chunk_size, text_column)
    peeked = next(src.chunks, None)
    chunks = iter(()) if peeked is None else itertools.chain([peeked], src.chunks)
    identity = src.identity or {"first_chunk_sha256": None if peeked is None else fingerprint(peeked)}
    state = {"input": identity, "models": [c.model for c in pipe.components], "refs": [c.ref for c in pipe.components],
             "chunk_size": int(chunk_size), "text_column": None if text_column is None else str(text_column),
             "options": json.loads(json.dumps(options, sort_keys=True, default=repr)), **(extra or {})}
    skip = 0
    if state_file.exists():
        old = json.loads(state_file.read_text())
        if {k: v for k, v in old.items() if k not in PROGRESS_KEYS} != state:
            raise OptionError(f"{state_file.parent / state_file.name} is from a different input or different "
                              f"options, so it cannot be resumed: pass a new output path, or delete the old output "
                              f"to start again.")
        skip = done(old)
    else:
        files.write_json(state_file, state)
    bar = _bar(progress, src.total)
    rows = 0
    try:
        source_now = Source(chunks, src.total, src.identity, src.text_column)
        for number, chunk, frame in _predict_chunks(pipe, source_now, {"progress": False, **options}, skip):
            if frame is not None:
                write(number, frame)
            if bar is not None:
                bar.update(len(chunk))
            rows += len(chunk)
    finally:
        if bar is not None:
            bar.close()
    return rows


def _vector_columns(pipe: Pipeline, frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c in {comp.column for comp in pipe.components}]


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


def predict_to_parquet(pipe: Pipeline, data: Any, path: str | os.PathLike[str], *, chunk_size: int = 1000,
                       text_column: Hashable | None = None, progress: bool | None = None, **options: Any) -> Path:
    """Write ``pipe.predict`` of ``data`` to the parquet dataset directory ``path``, chunk by chunk.

    One ``part-NNNNNN.parquet`` per chunk (written to a hidden temp file, then renamed), with the
    index as column ``index`` and vectors as fixed-size float32 lists (null where there is none);
    ``pd.read_parquet(path)`` reads all rows back in order. ``_progress.json`` records the input,
    models, options and chunk_size: running the same call again after a crash skips the parts
    already written and gives exactly the rows of an uninterrupted run. Takes the inputs and
    options of :func:`predict_batches`. Returns ``path`` as an absolute Path. Raises OptionError when
    ``path`` holds a run of another input or other options, or is a file; else as ``predict``.
    """
    out = Path(path).absolute()
    if out.exists() and not out.is_dir():
        raise OptionError(f"{out} is a file: predict_to_parquet writes a directory of parts; pass a new path.")
    if out.is_dir() and any(out.iterdir()) and not (out / PROGRESS_FILE).exists():
        raise OptionError(f"{out} is a non-empty directory that is not an easynlu output: pass a new path.")
    out.mkdir(parents=True, exist_ok=True)
    dims: dict[str, int] = {}

    def part(number: int) -> Path:
        return out / f"part-{number:06d}.parquet"

    def done(_: dict[str, Any]) -> int:
        for temp in out.glob(".part-*.parquet.tmp*"):  # a part a crash left half written
            temp.unlink(missing_ok=True)
        count = 0
        while part(count).exists():
            count += 1
        return count

    def write(number: int, frame: pd.DataFrame) -> None:
        pq = _pyarrow("pyarrow.parquet")

        vectors = _vector_columns(pipe, frame)
        for name in vectors:
            if name not in dims:
                dims[name] = _dim(pipe, frame, name, options)
        with files.writing(part(number), "wb") as f:
            pq.write_table(to_arrow(frame, vectors, dims), f)

    run_resumable(pipe, data, out / PROGRESS_FILE, write, done, chunk_size=chunk_size, text_column=text_column,
                  progress=progress, options=options, extra={"format": "parquet"})
    return out


def _dim(pipe: Pipeline, frame: pd.DataFrame, column: str, options: dict[str, Any]) -> int:
    """The length of ``column``'s vectors: from the frame, else from predicting one short text."""
    for vector in frame[column].tolist():
        if vector is not None:
            return len(vector)
    probe = {k: v for k, v in options.items() if k not in ("text_column",)}
    sample = pipe.predict(["a"], **{**probe, "progress": False})
    return len(sample[column].iloc[0])


def predict_to_file(pipe: Pipeline, data: Any, path: str | os.PathLike[str],
                    write: Callable[[pd.DataFrame, TextIO, bool], None], *, chunk_size: int = 1000,
                    text_column: Hashable | None = None, progress: bool | None = None, **options: Any) -> Path:
    """Append ``pipe.predict`` of ``data`` to the text file ``path`` chunk by chunk, resumably.

    ``write(frame, stream, first)`` writes one chunk's frame (``first`` for the first chunk, e.g.
    a CSV header). ``PATH.progress.json`` records the run (as in :func:`predict_to_parquet`), the
    chunks done and the file's size after the last one; a re-run of the same call truncates a
    partly written chunk and goes on from there. Returns ``path`` as an absolute Path. Raises
    OptionError when ``path`` exists without its progress file, or holds another run; else as
    ``predict``.
    """
    out = Path(path).absolute()
    state_file = out.with_name(out.name + ".progress.json")
    if out.exists() and not state_file.exists():
        raise OptionError(f"{out} already exists and was not written by an interrupted easynlu run: pass a new "
                          f"path or delete it.")
    progress_now: dict[str, Any] = {}

    def done(state: dict[str, Any]) -> int:
        progress_now.update(chunks_done=state.get("chunks_done", 0), bytes=state.get("bytes", 0))
        return int(progress_now["chunks_done"])

    def write_chunk(number: int, frame: pd.DataFrame) -> None:
        with open(out, "a+", encoding="utf-8", newline="") as f:
            f.truncate(progress_now.get("bytes", 0))  # drop a chunk a crash left half written
            f.seek(0, os.SEEK_END)
            write(frame, f, number == 0)
            f.flush()
            os.fsync(f.fileno())
            size = f.tell()
        state = {**json.loads(state_file.read_text()), "chunks_done": number + 1, "bytes": size}
        files.write_json(state_file, state)
        progress_now.update(chunks_done=number + 1, bytes=size)

    run_resumable(pipe, data, state_file, write_chunk, done, chunk_size=chunk_size, text_column=text_column,
                  progress=progress, options=options, extra={"format": out.suffix.lower()})
    if not out.exists():  # an empty input: an empty file
        out.touch()
    return out
