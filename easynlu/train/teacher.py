"""The teacher's vectors of the training texts: computed once through easynlu, kept on disk, memory-mapped.

The teacher runs as any easynlu pipeline does (``embed``: deduplicated, token-budget batches, the
ONNX backend when the pipeline's backend is "auto" and onnxruntime is installed), chunk by chunk into
a ``.npy`` file opened as a memmap. The file is named by the teacher's identity (its refs and the
sha256 of its model files) and the texts' sha256, in ``<easynlu cache>/train/teacher/``; a rerun, or
a second student of the same teacher and texts, opens it instead of running the teacher again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import files
from ..digests import cache_dir, known_sha256

if TYPE_CHECKING:
    from ..protocol import Embedder
    from .data import Texts

CHUNK = 4096  # texts per embed call: bounded memory, big enough for good batches


def train_cache() -> Path:
    """``<easynlu cache>/train``: texts, teacher vectors and default run directories."""
    return cache_dir() / "train"


def model_dir(pipe: Embedder) -> Path:
    """The checked local directory of a one-model pipeline; OptionError for several models."""
    from .. import sources
    from ..errors import OptionError

    if len(pipe.components) != 1:
        refs = " ".join(c.ref for c in pipe.components)
        raise OptionError(f"Training needs a pipeline of one model, not {len(pipe.components)} ({refs}): load one, "
                          f"e.g. easynlu.load('en.embed_sentence.minilm').")
    comp = pipe.components[0]
    return sources.locate(comp.source, comp.model, offline=pipe.offline)


def identity(path: Path) -> str:
    """sha256 over a model directory's files (config, tokenizer, weights, sentence-transformers modules)."""
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*")):
        rel = file.relative_to(path).as_posix()
        if file.is_file() and not rel.startswith((".", "easynlu-onnx", "onnx", "openvino")) and \
                not rel.endswith(("README.md", ".onnx")):
            digest.update(f"{rel} {known_sha256(file)}\n".encode())
    return digest.hexdigest()


def vectors_file(teacher: Embedder, texts: Texts) -> Path:
    """Where the teacher's vectors of ``texts`` are (or will be) kept."""
    comp = teacher.components[0]
    key = hashlib.sha256(f"{comp.ref}\n{comp.action}\n{identity(model_dir(teacher))}\n".encode()).hexdigest()
    return train_cache() / "teacher" / f"{key[:24]}-{texts.sha256[:24]}.npy"


def vectors(teacher: Embedder, texts: Texts, progress: bool | None = None) -> tuple[np.ndarray, Path, bool]:
    """The teacher's float32 vectors of ``texts`` (a read-only memmap), its file, and whether it was cached.

    Written into a temporary file, chunk by chunk, and renamed into place when complete, so a killed
    run never leaves a file that a later run takes.
    """
    path = vectors_file(teacher, texts)
    if path.is_file():
        return np.load(path, mmap_mode="r"), path, True
    path.parent.mkdir(parents=True, exist_ok=True)
    bar = _bar(progress, texts.count)
    try:
        with files.writing_path(path) as tmp:
            out = None
            done = 0
            for chunk in texts.chunks(CHUNK):
                block = teacher.embed(chunk, progress=False)
                if out is None:
                    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                                    shape=(texts.count, block.shape[1]))
                out[done:done + len(block)] = block
                done += len(block)
                if bar is not None:
                    bar.update(len(block))
            assert out is not None  # Texts always holds at least one text
            out.flush()
            del out
    finally:
        if bar is not None:
            bar.close()
    os.utime(path)
    return np.load(path, mmap_mode="r"), path, False


def _bar(progress: bool | None, total: int) -> Any:
    if progress is False:
        return None
    from ..progress import bar_class

    return bar_class()(total=total, unit="text", desc="teacher", delay=0 if progress else 2, leave=False)
