"""The small protocol every encoder backend implements (torch, onnx), and what it needs of a progress bar."""

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
