"""Where and how a pipeline runs: device, dtype and backend, chosen once, explicitly, and checked.

``place`` turns what the user gave ``load`` (device, gpu, dtype, backend, quantize, threads) into a
:class:`Placement`. On the ONNX Runtime path it imports no torch: ONNX runs on the CPU, so when
no GPU can be present (no NVIDIA driver, not macOS) the device is the CPU without asking torch.
Everything else is decided by ``backends.device`` (torch) and ``backends.choose_backend``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from .errors import OptionError
from .options import BACKENDS, check_quantize, check_threads

# When neither backend= nor EASYNLU_BACKEND says: ONNX Runtime on the CPU when easynlu[onnx] is installed
# (1.8x torch's speed, half its memory, the same vectors within 1e-5), else torch. See the README's "Backends".
DEFAULT_BACKEND = "auto"


@dataclass(frozen=True)
class Placement:
    """A pipeline's resolved device, compute dtype, backend, quantisation and thread count."""

    device: str  # "cpu", "cuda:0", "mps"
    dtype: str  # "float32", "float16" or "bfloat16"
    backend: str  # "torch" or "onnx"
    quantize: str | None = None  # "int8" (ONNX only)
    threads: int | None = None  # ONNX Runtime's intra-op threads; None: as many as torch would use
    auto: bool = False  # backend="auto": a model ONNX cannot run (see backends.choose_backend) uses torch

    def backend_for(self, path: str) -> str:
        """The backend for the model directory ``path``: ``backend``, unless "auto" must fall back to torch."""
        if not self.auto or self.backend != "onnx":
            return self.backend
        from .backends import choose_backend

        return choose_backend("auto", self.device, self.dtype, self.quantize, path=path)


def requested_backend(backend: str | None) -> str:
    """``backend``, else EASYNLU_BACKEND, else the default; checked against torch|onnx|auto."""
    chosen = backend if backend is not None else (os.environ.get("EASYNLU_BACKEND", "").strip() or DEFAULT_BACKEND)
    if not isinstance(chosen, str) or chosen.lower() not in BACKENDS:
        where = "backend=" if backend is not None else "EASYNLU_BACKEND="
        raise OptionError(f"{where}{chosen!r} is not a backend: use 'torch', 'onnx' or 'auto'.")
    return chosen.lower()


def _maybe_gpu() -> bool:
    """Whether this machine may have a GPU torch could pick (an NVIDIA driver, or a Mac's MPS)."""
    return sys.platform == "darwin" or os.path.exists("/proc/driver/nvidia/version")


def place(device: Any = None, gpu: bool = False, dtype: Any = None, backend: str | None = None,
          quantize: Any = None, threads: Any = None) -> Placement:
    """The placement for these ``load`` arguments.

    Raises OptionError for a bad backend, quantize or threads, or a combination ONNX Runtime
    cannot run (a GPU, float16/bfloat16); DeviceError for a device this machine lacks.
    """
    from .backends import choose_backend
    from .backends.device import choose_dtype

    wanted, quantize, threads = requested_backend(backend), check_quantize(quantize), check_threads(threads)
    if wanted == "onnx" and device is None and not gpu:
        device = "cpu"  # ONNX Runtime runs on the CPU here
    if wanted != "torch" and (device == "cpu" or device is None and not gpu and not _maybe_gpu()):
        chosen_device = "cpu"  # ONNX's case: no torch import to find the device
    else:
        from .backends.device import choose_device

        chosen_device = choose_device(device, gpu)
    chosen_dtype = choose_dtype(dtype, chosen_device)
    engine = choose_backend(wanted, chosen_device, chosen_dtype, quantize)
    return Placement(chosen_device, chosen_dtype, engine, quantize if engine == "onnx" else None, threads,
                     auto=wanted == "auto")
