"""Encoder backends behind one small protocol. Importing this package imports no torch.

A backend turns segment texts into tokens and runs a :class:`~easynlu.encoded.Job` over them,
giving a :class:`~easynlu.encoded.Result` of float32 numpy matrices. Two exist: "torch"
(transformers, any device and dtype) and "onnx" (an export run by onnxruntime on the CPU, see
export.py and onnx.py). torch and transformers are imported by :func:`load` only, on the first
``predict``, and not at all by the ONNX backend once its export is cached.
"""

from __future__ import annotations

import warnings

from .. import options
from ..errors import EasyNLUWarning, ModelUnavailableError, user_stacklevel
from .protocol import Backend, Progress

__all__ = ["Backend", "Progress", "choose_backend", "load"]


def choose_backend(backend: str, device: str, dtype: str, quantize: str | None, path: str | None = None) -> str:
    """The backend to load with: "torch" or "onnx". Imports no torch and no onnxruntime.

    The one place where "auto" is decided. ``backend`` is the requested one (``LoadOptions.requested_backend``,
    already checked). "auto" is "onnx" on the CPU in float32 when onnxruntime is installed (and, if ``path`` is
    given, the model can run on it), else "torch"; with ``quantize="int8"`` it is "onnx". Raises OptionError
    (``options.check_engine``) for ONNX on the device and dtype chosen, saying what to pass instead.
    """
    if backend == "auto":
        on_cpu = device.split(":")[0] == "cpu"
        if quantize is None and not (on_cpu and dtype == "float32" and options.has_onnxruntime()):
            return "torch"
        if quantize is None and path is not None and _onnx_problem(path):
            return "torch"
        backend = "onnx"
    options.check_engine(backend, device, dtype, quantize)
    return backend


def _onnx_problem(path: str) -> str | None:
    from .exports import onnx_problem

    try:
        return onnx_problem(path)
    except (OSError, ValueError):  # unreadable JSON: let the load report it
        return None


_WARNED: set[str] = set()


def _warn_once_about(quantize: str) -> None:
    """The measured cost in quality of ``quantize``, once per process."""
    from .quantize import QUALITY_NOTE

    if quantize not in _WARNED:
        _WARNED.add(quantize)
        warnings.warn(QUALITY_NOTE, EasyNLUWarning, stacklevel=user_stacklevel())


def load(path: str, device: str, dtype: str, backend: str = "torch", threads: int | None = None,
         quantize: str | None = None, share_cpu: bool = False) -> Backend:
    """Load the model directory ``path`` (already checked by ``sources``) on ``device`` with ``backend``.

    ``backend`` is "torch", "onnx" (exported once, cached, run with ``threads`` onnxruntime threads,
    None: one per physical core, as torch; ``share_cpu``: they sleep between runs instead of spinning)
    or "auto" (:func:`choose_backend` decides for this model; if its ONNX export fails, it runs on
    torch with a warning). torch ignores ``threads`` and ``share_cpu``: its thread count is
    process-wide and easynlu does not change it. Raises :class:`easynlu.ModelUnavailableError`
    when its weights cannot be read, OptionError for a backend, dtype or quantize that do not go together.
    """
    engine = choose_backend(backend, device, dtype, quantize, path=path)
    if engine == "torch":
        from .transformer import load as load_transformer

        return load_transformer(path, device, dtype)
    try:
        return _load_onnx(path, threads, quantize, share_cpu)
    except ModelUnavailableError as err:
        if backend != "auto" or quantize is not None:
            raise
        warnings.warn(f"{err.summary} easynlu runs this model on torch instead (backend='auto'); pass "
                      f"backend='torch' to skip the ONNX attempt.", EasyNLUWarning, stacklevel=user_stacklevel())
        return load(path, device, dtype, "torch")


def _load_onnx(path: str, threads: int | None, quantize: str | None, share_cpu: bool = False) -> Backend:
    from . import export
    from .onnx import load as load_onnx

    engine = load_onnx(export.ensure(path, quantize), path, threads, share_cpu)
    if quantize is not None:
        _warn_once_about(quantize)
    return engine
