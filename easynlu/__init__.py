"""easynlu: NLU's one-liner for BERT embeddings, on PyTorch and transformers, into pandas.

    >>> import easynlu
    >>> easynlu.load("en.embed.minilm").predict("I love NLP", output_level="token")

Importing easynlu (and calling ``load``) imports neither torch nor transformers nor pandas;
they load on the first ``predict``.
"""

from __future__ import annotations

from .errors import (
    DeviceError,
    EasyNLUError,
    InputError,
    ModelUnavailableError,
    UnknownReferenceError,
)

__version__ = "0.1.0"
__all__ = [
    "load",
    "models",
    "Pipeline",
    "DeviceError",
    "EasyNLUError",
    "InputError",
    "ModelUnavailableError",
    "UnknownReferenceError",
    "__version__",
]


def load(request: str, *, device=None, gpu: bool = False, dtype=None, offline: bool | None = None):
    """A lazy Pipeline for one or more space-separated references.

    ``device=None`` picks CUDA, then MPS, then CPU; ``gpu=True`` insists on CUDA. ``dtype``
    defaults to float32 on CPU and float16 on CUDA; outputs are always float32. ``offline=True``
    (or HF_HUB_OFFLINE=1) never contacts the Hugging Face Hub.
    """
    from .pipeline import Pipeline
    from .resolve import resolve

    return Pipeline(resolve(request), device=device, gpu=gpu, dtype=dtype, offline=offline)


def models(pattern: str | None = None):
    """The catalogue as a DataFrame, optionally filtered by a glob such as ``"*small_L12*"``."""
    from .catalogue import models as _models

    return _models(pattern)


def __getattr__(name: str):
    if name == "Pipeline":
        from .pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'easynlu' has no attribute {name!r}")
