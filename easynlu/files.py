"""Every file and directory easynlu writes for the user, written atomically, with the user's umask.

One rule everywhere: write into a temporary name beside the target (same directory, so the
rename cannot cross filesystems), flush it to disk (fsync), then rename it into place and fsync
the parent directory. A reader sees the old content or the new, never half of it; a crash leaves
at most a hidden ``.NAME.tmp-…`` beside the target, which the next write of that target ignores.

Temporary files and directories are created with ``os.open(..., 0o666)`` and ``os.mkdir(..., 0o777)``,
so the kernel applies the user's umask, as for any file the user makes (``tempfile.mkstemp`` gives
0600 and ``mkdtemp`` 0700: a saved pipeline that Spark executors or colleagues cannot read).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def temp_name(target: str | os.PathLike[str], kind: str = "tmp") -> Path:
    """A fresh hidden name beside ``target``: ``.NAME.KIND-PID-RANDOM``."""
    target = Path(target)
    return target.with_name(f".{target.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def fsync(path: str | os.PathLike[str]) -> None:
    """Flush a file or a directory to disk, where the OS allows it (directories: not on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def writing(target: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8",
            newline: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``target`` for writing; on success it replaces ``target``.

        with files.writing(path) as f:
            json.dump(data, f)

    ``mode`` is "w" (text, ``encoding``) or "wb". On an exception the temporary file is removed
    and ``target`` is left as it was. Missing parent directories are created.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode={mode!r}: use 'w' or 'wb'")
    with writing_path(target) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        binary = mode == "wb"
        with os.fdopen(fd, mode, encoding=None if binary else encoding, newline=None if binary else newline) as f:
            yield f


@contextlib.contextmanager
def writing_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``target`` for a writer that takes a path (onnx, pyarrow); renamed into place.

    The caller (or the library it calls) creates the file; on success it is fsynced and replaces
    ``target``; on an exception it is removed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(target)
    try:
        yield tmp
        fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync(target.parent)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Replace ``target`` with ``text`` (UTF-8), atomically."""
    with writing(target) as f:
        f.write(text)


def write_json(target: str | os.PathLike[str], data: Any, indent: int | None = 1, sort_keys: bool = False) -> None:
    """Replace ``target`` with ``data`` as JSON (UTF-8, a final newline), atomically."""
    write_text(target, json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n")


@contextlib.contextmanager
def writing_dir(target: str | os.PathLike[str], replace: bool = False) -> Iterator[Path]:
    """A new temporary directory beside ``target``, filled by the caller, then renamed to ``target``.

        with files.writing_dir(out) as tmp:
            (tmp / "a.json").write_text(...)

    Every file in it and the directory itself are fsynced before the rename. ``target`` must not
    exist, or be an empty directory; with ``replace=True`` an existing directory is swapped out
    and deleted after the rename (put back if the rename fails). On an exception the temporary
    directory is deleted and ``target`` is left as it was. Raises FileExistsError otherwise.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(target)
    os.mkdir(tmp, 0o777)
    try:
        yield tmp
        for root, _dirs, names in os.walk(tmp):
            for name in names:
                fsync(os.path.join(root, name))
            fsync(root)
        _move_dir(tmp, target, replace)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync(target.parent)


def _move_dir(tmp: Path, target: Path, replace: bool) -> None:
    """Rename ``tmp`` to ``target``, replacing an empty directory, or any directory with ``replace``."""
    if not target.exists():
        os.replace(tmp, target)
        return
    if not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a directory")
    if not any(target.iterdir()):
        os.rmdir(target)
        os.replace(tmp, target)
        return
    if not replace:
        raise FileExistsError(f"{target} exists and is not empty")
    old = temp_name(target, "old")
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
