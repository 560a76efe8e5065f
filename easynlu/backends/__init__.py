"""Encoder backends behind one small protocol. Importing this package imports no torch.

A backend turns segment texts into tokens and runs a :class:`~easynlu.encoded.Job` over them,
giving a :class:`~easynlu.encoded.Result` of float32 numpy matrices. torch and transformers are
imported by :func:`load` only, on the first ``predict``.
"""

from __future__ import annotations

from typing import Protocol

from ..encoded import Job, Result, Tokens


class Progress(Protocol):
    """What a backend needs of a progress bar (tqdm has it): a growing total and updates."""

    total: float

    def update(self, n: float = 1) -> bool | None:
        """Count ``n`` more windows done."""
        ...


class Backend(Protocol):
    """A loaded encoder."""

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


def load(path: str, device: str, dtype: str) -> Backend:
    """Load the model directory ``path`` (already checked by ``sources``) on ``device``.

    Raises :class:`easynlu.ModelUnavailableError` when its weights cannot be read.
    """
    from .transformer import load as load_transformer

    return load_transformer(path, device, dtype)
