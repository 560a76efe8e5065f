"""sha256 of files: hashed once per process in background threads, and remembered across processes.

``file_sha256`` always reads the file (once per process and (path, size, mtime)): for checks
that must read it, such as a saved pipeline's manifest. ``known_sha256`` also keeps each digest in
``digests.json`` in easynlu's cache directory, keyed by the file's real path, size and mtime, as
make and git treat an unchanged size and mtime as unchanged content. It serves what runs at every
start: the pinned digest of a packaged model's weights (sources.from_package) and the key of an
ONNX export (backends/export.py). A lost concurrent update of the index only costs a rehash.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import threading
from concurrent.futures import Future
from pathlib import Path

from . import files

INDEX = "digests.json"
_DIGESTS: dict[tuple, Future] = {}
_DIGESTS_LOCK = threading.Lock()
_index: dict[str, list] | None = None  # digests.json, read once per process


def cache_dir() -> Path:
    """easynlu's cache: $EASYNLU_CACHE_DIR, else platformdirs' user cache dir for easynlu.

    ONNX exports live in its ``onnx`` folder, the digest index beside them.
    """
    base = os.environ.get("EASYNLU_CACHE_DIR")
    if base:
        return Path(base).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("easynlu")


def file_sha256(file: Path, wait: bool = True) -> str | None:
    """The sha256 of ``file`` (hex), computed once per (path, size, mtime) in a process.

    ``wait=False`` only starts the computation in a background thread (hashlib releases the GIL)
    and returns None, so that hashing overlaps other work (the torch/transformers imports that
    precede the first load, or other files). Raises OSError if the file cannot be read.
    """
    stat = file.stat()
    key = (str(file), stat.st_size, stat.st_mtime_ns)
    with _DIGESTS_LOCK:
        future = _DIGESTS.get(key)
        if future is None:
            future = _DIGESTS[key] = Future()
            threading.Thread(target=_hash_into, args=(str(file), future), daemon=True).start()
    return future.result() if wait else None


def known_sha256(file: Path, wait: bool = True) -> str | None:
    """The sha256 of ``file``, from the index when its real path, size and mtime are those it was hashed with.

    Otherwise as ``file_sha256`` (``wait=False`` starts hashing and returns None), and the digest
    joins the index. Raises OSError if the file cannot be read.
    """
    real = os.path.realpath(file)
    stat = os.stat(real)
    index = _read_index()
    known = index.get(real)
    if known and known[:2] == [stat.st_size, stat.st_mtime_ns]:
        return str(known[2])
    digest = file_sha256(Path(real), wait)
    if digest is not None:
        for gone in [name for name in index if not os.path.exists(name)]:  # deleted files leave the index
            del index[gone]
        index[real] = [stat.st_size, stat.st_mtime_ns, digest]
        _write_index(index)
    return digest


def _read_index() -> dict[str, list]:
    global _index
    if _index is None:
        try:
            _index = json.loads((cache_dir() / INDEX).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            _index = {}
        if not isinstance(_index, dict):
            _index = {}
    return _index


def _write_index(index: dict[str, list]) -> None:
    """Replace digests.json atomically; a cache that cannot be written only costs rehashing."""
    with contextlib.suppress(OSError):
        files.write_json(cache_dir() / INDEX, index, indent=None, sort_keys=True)


def _hash_into(file: str, future: Future) -> None:
    try:
        with open(file, "rb") as f:
            future.set_result(_file_sha256(f))
    except BaseException as err:  # noqa: BLE001  (handed to whoever waits)
        future.set_exception(err)


def _file_sha256(f: io.BufferedReader) -> str:
    """sha256 through one small reused buffer (as Python 3.11's hashlib.file_digest does)."""
    if hasattr(hashlib, "file_digest"):
        return hashlib.file_digest(f, "sha256").hexdigest()
    digest, buffer = hashlib.sha256(), bytearray(1 << 18)
    view = memoryview(buffer)
    while n := f.readinto(buffer):
        digest.update(view[:n])
    return digest.hexdigest()
