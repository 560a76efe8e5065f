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
    "set_alias",
    "remove_alias",
    "user_aliases",
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


def set_alias(name: str, ref: str) -> None:
    """Save ``name`` as your own alias for one reference (kept in the platformdirs user config dir).

        >>> easynlu.set_alias("mybert", "en.embed.bert.small_L4_256")
        >>> easynlu.load("mybert")   # the same as load("en.embed.bert.small_L4_256")
    """
    from .useraliases import set_alias as _set

    _set(name, ref)


def remove_alias(name: str) -> None:
    """Delete one of your aliases."""
    from .useraliases import remove_alias as _remove

    _remove(name)


def user_aliases() -> dict[str, str]:
    """Your aliases: name -> the reference it stands for."""
    from .useraliases import read

    return read()


def __getattr__(name: str):
    if name == "Pipeline":
        from .pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'easynlu' has no attribute {name!r}")
