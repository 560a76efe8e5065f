"""Predicting over inputs larger than memory on one machine: chunk by chunk, from a reader to a writer, resumably.

``predict_batches`` reads the input lazily (an iterable, a DataFrame or Series, or a .txt, .csv,
.tsv, .parquet or .jsonl file: see :mod:`easynlu.readers`) and yields ``pipe.predict(chunk)`` for
each chunk, with the index ``predict`` would give the whole input. ``predict_to_parquet`` and
``predict_to_file`` hand those frames to a resumable writer (:mod:`easynlu.writers`) as they are
computed, and a re-run of the same call resumes where it stopped.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import files
from .errors import OptionError
from .readers import Source, fingerprint, source
from .writers import PROGRESS_KEYS, ParquetPartsWriter, TextFileWriter

if TYPE_CHECKING:
    import pandas as pd

    from .protocol import Embedder


def predict_batches(pipe: Embedder, data: Any, *, chunk_size: int = 1000, text_column: Hashable | None = None,
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


def predict_to_parquet(pipe: Embedder, data: Any, path: str | os.PathLike[str], *, chunk_size: int = 1000,
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
    def probe_dim(column: str) -> int:  # a chunk with no vector at all: predict one short text
        probe = {k: v for k, v in options.items() if k not in ("text_column",)}
        return len(pipe.predict(["a"], **{**probe, "progress": False})[column].iloc[0])

    writer = ParquetPartsWriter(path, [c.column for c in pipe.components], probe_dim)
    run_resumable(pipe, data, writer.state_file, writer.write, writer.chunks_done, chunk_size=chunk_size,
                  text_column=text_column, progress=progress, options=options, extra={"format": "parquet"})
    return writer.path


def predict_to_file(pipe: Embedder, data: Any, path: str | os.PathLike[str],
                    write: Callable[[pd.DataFrame, TextIO, bool], None], *, chunk_size: int = 1000,
                    text_column: Hashable | None = None, progress: bool | None = None, **options: Any) -> Path:
    """Append ``pipe.predict`` of ``data`` to the text file ``path`` chunk by chunk, resumably.

    ``write(frame, stream, first)`` writes one chunk's frame (``first`` for the first chunk, e.g.
    a CSV header; :mod:`easynlu.writers` has JSON-lines and CSV ones). ``PATH.progress.json``
    records the run (as in :func:`predict_to_parquet`), the chunks done and the file's size after
    the last one; a re-run of the same call truncates a partly written chunk and goes on from
    there. When the run is complete the progress file is removed. Returns ``path`` as an absolute
    Path. Raises OptionError when ``path`` exists without its progress file (e.g. a finished
    output: nothing is appended twice), or holds another run; else as ``predict``.
    """
    writer = TextFileWriter(path, write)
    run_resumable(pipe, data, writer.state_file, writer.write, writer.chunks_done, chunk_size=chunk_size,
                  text_column=text_column, progress=progress, options=options,
                  extra={"format": writer.path.suffix.lower()})
    writer.close()
    return writer.path


def run_resumable(pipe: Embedder, data: Any, state_file: Path, write: Callable[[int, pd.DataFrame], None],
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


def _frames(pipe: Embedder, src: Source, progress: bool | None, options: dict[str, Any]) -> Iterator[pd.DataFrame]:
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


def _predict_chunks(pipe: Embedder, src: Source, options: dict[str, Any],
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


def _bar(progress: bool | None, total: int | None) -> Any:
    if progress is False:
        return None
    from .progress import bar_class

    return bar_class()(total=total, unit="row", desc="easynlu", delay=0 if progress else 2)


def _pandas() -> Any:
    import pandas as pd

    return pd
