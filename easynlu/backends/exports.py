"""Where ONNX exports live and whether one is complete. Imports no torch.

An export directory holds ``model.onnx`` (with its external weights file), ``tokenizer.json``
and ``easynlu-onnx.json``, the meta the runtime needs (special tokens, window, outputs, pooling).
It lives in :func:`cache_root`, in a directory named by a key over the sha256 of the model's files, easynlu's
``EXPORT_FORMAT`` and torch's version, so a changed file or exporter makes a new export. A model
directory may also carry its own export (:func:`bundled`). export.py makes exports; onnx.py runs them.

Looking an export up (:func:`cached`) hashes nothing it has hashed before
(``digests.known_sha256``: each file's sha256 by real path, size and mtime).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import catalogue
from ..digests import cache_dir, known_sha256
from ..options import check_quantize
from .sentence import SentencePooling, is_sentence_transformers_dir

EXPORT_FORMAT = 2  # bump when what an export holds or how it is made changes
META = "easynlu-onnx.json"
BUNDLED = "easynlu-onnx"  # a model directory's own exports (pipe.save writes them): DIR/easynlu-onnx/float32|int8
_WEIGHTS = re.compile(r"^(model.*\.safetensors|pytorch_model.*\.bin)$")


def cache_root() -> Path:
    """Where exports are kept: $EASYNLU_CACHE_DIR/onnx, else the user cache dir's easynlu/onnx."""
    return cache_dir() / "onnx"


def onnx_problem(path: str) -> str | None:
    """Why the model directory ``path`` cannot run on the ONNX backend, or None. Reads JSON only."""
    if not is_sentence_transformers_dir(path):
        return None
    sentence = SentencePooling(path)
    if sentence.native:
        return None
    if sentence.modes:
        return f"its pooling ({', '.join(sentence.modes)}) is one easynlu runs only with sentence_transformers"
    kinds = [str(m.get("type", "?")).rsplit(".", 1)[-1] for m in sentence.modules]
    return (f"its sentence-transformers modules ({', '.join(kinds)}) include some that easynlu runs only "
            f"with sentence_transformers, on torch")


def bundled(path: str | Path, quantize: str | None = None) -> Path:
    """Where a model directory carries its own export (a saved pipeline's models do)."""
    return Path(path) / BUNDLED / (quantize or "float32")


def cached(path: str, quantize: str | None = None) -> Path | None:
    """The complete export of the model directory ``path`` (its own, else the cache's), or None.

    A directory's own export (:func:`bundled`) is taken as it is: ``pipe.save`` writes it beside
    the model files, and loading the save checks the sha256 of every file.
    """
    check_quantize(quantize)
    own = bundled(path, quantize)
    if is_complete(own):
        return own
    final = final_dir(path, quantize)
    return final if is_complete(final) else None


# -- the cache key ----------------------------------------------------------------------------
def final_dir(path: str, quantize: str | None) -> Path:
    """The cache directory of ``path``'s export: named by content only, so a copy of a model directory shares it."""
    if not quantize:
        return cache_root() / _key(path)[:24]
    from .quantize import VERSION  # a changed quantisation method makes a new int8 export

    return cache_root() / f"{_key(path)[:24]}-{quantize}-v{VERSION}"


def _key(path: str) -> str:
    """sha256 over the model's files' hashes, EXPORT_FORMAT and the exporter's (torch's) version."""
    digest = hashlib.sha256(f"easynlu-onnx {EXPORT_FORMAT} torch {_torch_version()}\n".encode())
    for name, file in _model_files(path):
        digest.update(f"{name} {known_sha256(file)}\n".encode())
    return digest.hexdigest()


def _torch_version() -> str:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:  # an export copied to a machine without torch
        return "none"


def _model_files(path: str) -> list[tuple[str, Path]]:
    """The files an export depends on: configs, tokenizer files, the weights transformers loads."""
    root = Path(path)
    top = sorted(f for f in root.iterdir() if f.is_file())
    weights = [f for f in top if _WEIGHTS.match(f.name)]
    if any(f.suffix == ".safetensors" for f in weights):  # transformers prefers them to .bin
        weights = [f for f in weights if f.suffix == ".safetensors"]
    small = [f for f in top if f.suffix in (".json", ".txt", ".model")]
    files = [(f.name, f) for f in sorted({*weights, *small})]
    if is_sentence_transformers_dir(path):  # the modules' configs (e.g. 1_Pooling/config.json)
        for module in SentencePooling(path).modules:
            sub = root / str(module.get("path", ""))
            if module.get("path") and sub.is_dir():
                files += [(f"{module['path']}/{f.name}", f) for f in sorted(sub.iterdir()) if f.suffix == ".json"]
    return files


# -- complete or not --------------------------------------------------------------------------
def read_meta(directory: Path) -> dict[str, Any]:
    """The export's meta (easynlu-onnx.json)."""
    with open(directory / META, encoding="utf-8") as f:
        return json.load(f)


def is_complete(directory: Path) -> bool:
    """Whether ``directory`` holds a whole export: a meta of this format and every file it lists, at its size."""
    try:
        meta = read_meta(directory)
        return meta.get("format") == EXPORT_FORMAT and bool(meta["files"]) and all(
            (directory / name).stat().st_size == size for name, size in meta["files"].items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def model_name(path: str) -> str:
    """The model as the user knows it: ORG/NAME for a Hugging Face cache snapshot or a catalogue model's
    package, else the directory's last two path parts."""
    parts = Path(os.path.abspath(path)).parts
    hub = [p for p in parts if p.startswith("models--")]
    if hub:
        return hub[-1][len("models--"):].replace("--", "/")
    shipped = {e.package: e.model for e in catalogue.entries().values() if e.package}
    package = next((shipped[p] for p in reversed(parts) if p in shipped), None)
    return package or "/".join(parts[-2:])


# -- what the cache holds ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Export:
    """One ONNX export in easynlu's cache (``easynlu cache`` lists them)."""

    path: Path
    source: str  # the model directory it was made from ("" when its meta cannot be read)
    quantize: str | None  # "int8", or None for float32
    size_bytes: int
    current: bool  # what loading ``source`` uses now; False: made by another torch or easynlu, or its model is gone


def listing() -> list[Export]:
    """Every export in :func:`cache_root`, sorted by directory name; an absent cache is an empty list."""
    root = cache_root()
    if not root.is_dir():
        return []
    found = []
    for directory in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            meta = read_meta(directory)
        except (OSError, ValueError):
            meta = {}
        source, quantize = str(meta.get("source") or ""), meta.get("quantize")
        size = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
        found.append(Export(directory, source, quantize, size, _is_current(directory, source, quantize)))
    return found


def _is_current(directory: Path, source: str, quantize: Any) -> bool:
    """Whether loading ``source`` today would use ``directory`` (same files, format and torch)."""
    if not source or not os.path.isdir(source) or quantize not in (None, "int8") or not is_complete(directory):
        return False
    try:
        return final_dir(source, quantize) == directory
    except (OSError, ValueError):
        return False


def remove(export: Export) -> int:
    """Delete ``export`` (and its lock file); returns the bytes freed."""
    shutil.rmtree(export.path, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.unlink(f"{export.path}.lock")
    return export.size_bytes
