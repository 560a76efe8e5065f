"""Encoder backends behind one small protocol. Importing this package imports no torch.

A backend turns segment texts into tokens and runs a :class:`~easynlu.encoded.Job` over them,
giving a :class:`~easynlu.encoded.Result` of float32 numpy matrices. Two exist: "torch"
(transformers, any device and dtype) and "onnx" (an export run by onnxruntime on the CPU, see
export.py and onnx.py). torch and transformers are imported by :func:`load` only, on the first
``predict``, and not at all by the ONNX backend once its export is cached.
"""

from __future__ import annotations

import importlib.util
from typing import Protocol

from ..encoded import Job, Result, Tokens
from ..errors import OptionError
from ..options import BACKENDS, check_quantize, check_threads


class Progress(Protocol):
    """What a backend needs of a progress bar (tqdm has it): a growing total and updates."""

    total: float

    def update(self, n: float = 1) -> bool | None:
        """Count ``n`` more windows done."""
        ...


class Backend(Protocol):
    """A loaded encoder."""

    name: str    # "torch" or "onnx"
    path: str   # the model directory it was loaded from
    device: str  # e.g. "cpu", "cuda:0"
    dtype: str   # compute dtype: "float32", "float16" or "bfloat16"
    dim: int     # hidden size
    has_own_pooling: bool  # it defines its sentence vector (sentence-transformers pooling)

    def tokenize(self, texts: list[str]) -> Tokens:
        """The texts' tokens, flattened, without special tokens."""
        ...

    def run(self, tokens: Tokens, job: Job, progress: Progress | None = None) -> Result:
        """Forward every window of ``tokens`` and pool as ``job`` says."""
        ...

    def memory_bytes(self) -> int:
        """Approximate memory held by the weights and buffers, in bytes."""
        ...


def has_onnxruntime() -> bool:
    """Whether onnxruntime is installed (looked up, not imported)."""
    return importlib.util.find_spec("onnxruntime") is not None


def choose_backend(backend: str, device: str, dtype: str, quantize: str | None, path: str | None = None) -> str:
    """The backend to load with: "torch" or "onnx". Imports no torch and no onnxruntime.

    ``backend`` is what the user asked for (``placement`` reads EASYNLU_BACKEND). "auto" is "onnx" on the CPU in float32
    when onnxruntime is installed (and, if ``path`` is given, the model can run on it), else
    "torch"; ``quantize="int8"`` needs "onnx". Raises OptionError for a choice that cannot work,
    saying what to pass instead.
    """
    check_quantize(quantize)
    if backend not in BACKENDS:
        raise OptionError(f"backend={backend!r} is not a backend: use 'torch', 'onnx' or 'auto'.")
    on_cpu = device.split(":")[0] == "cpu"
    if backend == "auto":
        if quantize is None and not (on_cpu and dtype == "float32" and has_onnxruntime()):
            return "torch"
        if quantize is None and path is not None and _onnx_problem(path):
            return "torch"
        backend = "onnx"
    if backend == "torch":
        if quantize is not None:
            raise OptionError(f"quantize={quantize!r} runs on the ONNX backend: pass backend='onnx' "
                              f"(or 'auto'), or leave quantize=None with backend='torch'.")
        return "torch"
    if not has_onnxruntime():
        raise OptionError("backend='onnx' needs the onnx extra: pip install 'easynlu[onnx]'")
    if not on_cpu:
        raise OptionError(f"backend='onnx' runs on the CPU here, not on {device}: use backend='torch' on GPUs, "
                          f"or device='cpu'.")
    if dtype != "float32":
        raise OptionError(f"backend='onnx' computes in float32, not {dtype}: use backend='torch' for "
                          f"bfloat16/float16, or dtype='float32'.")
    return "onnx"


def _onnx_problem(path: str) -> str | None:
    from .exports import onnx_problem

    try:
        return onnx_problem(path)
    except (OSError, ValueError):  # unreadable JSON: let the load report it
        return None


_WARNED: set[str] = set()


def _warn_once_about(quantize: str) -> None:
    """The measured cost in quality of ``quantize``, once per process."""
    import warnings

    from ..errors import EasyNLUWarning
    from .quantize import QUALITY_NOTE

    if quantize not in _WARNED:
        _WARNED.add(quantize)
        warnings.warn(QUALITY_NOTE, EasyNLUWarning, stacklevel=6)


def load(path: str, device: str, dtype: str, backend: str = "torch", threads: int | None = None,
         quantize: str | None = None) -> Backend:
    """Load the model directory ``path`` (already checked by ``sources``) on ``device`` with ``backend``.

    ``backend`` is already chosen (:func:`choose_backend`): "torch", or "onnx", which exports the
    model once (cached) and runs it with ``threads`` onnxruntime threads (None: one per physical
    core, as torch). torch ignores ``threads``: its thread count is process-wide and easynlu
    does not change it. Raises :class:`easynlu.ModelUnavailableError` when its weights cannot be
    read, OptionError for a backend, dtype or quantize that do not go together.
    """
    threads = check_threads(threads)
    if backend == "onnx":
        choose_backend("onnx", device, dtype, quantize)  # raises for what ONNX cannot do
        from . import export
        from .onnx import load as load_onnx

        engine = load_onnx(export.ensure(path, quantize), path, threads)
        if quantize is not None:
            _warn_once_about(quantize)
        return engine
    if backend != "torch":
        raise OptionError(f"backend={backend!r}: pass 'torch' or 'onnx' (choose_backend resolves 'auto').")
    if quantize is not None:
        choose_backend("torch", device, dtype, quantize)  # raises: quantize needs onnx
    from .transformer import load as load_transformer

    return load_transformer(path, device, dtype)
