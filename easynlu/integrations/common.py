"""What the framework adapters share: an easynlu ref or pipeline, ``embed``'s options, texts → checked vectors.

A ref is loaded through the public ``easynlu.load`` (lazily: nothing heavy loads until the first
texts), so this module sits with ``easynlu``'s public face in the module map, and nothing in
easynlu imports it back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError, OptionTypeError
from ..options import FRAME_ONLY, NAMES, Options

if TYPE_CHECKING:
    from ..protocol import Embedder

# embed()'s keywords, less text_column: the frameworks hand over plain lists of strings
OPTIONS: tuple[str, ...] = tuple(n for n in NAMES if n not in FRAME_ONLY and n != "text_column")


def embed_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` checked as ``embed`` keywords, now, before any model loads."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise OptionTypeError(f"{', '.join(map(repr, unknown))}: not an option of embed(). "
                              f"The options are: {', '.join(OPTIONS)}.")
    Options(**options)  # raises OptionError naming a bad value
    return dict(options)


def pipeline(model: str | os.PathLike[str] | Embedder) -> Embedder:
    """The pipeline for a ref (``easynlu.load(ref)``, lazy) or the pipeline itself."""
    if isinstance(model, (str, os.PathLike)):
        import easynlu

        return easynlu.load(model)
    if callable(getattr(model, "embed", None)) and hasattr(model, "components"):
        return model
    raise OptionTypeError(f"model={model!r}: pass an easynlu ref such as 'en.embed_sentence.minilm' "
                          f"or a pipeline from easynlu.load(...).")


class Model:
    """A pipeline and the ``embed`` options every call passes; ``vectors`` gives one checked row per text."""

    def __init__(self, model: str | os.PathLike[str] | Embedder, options: Mapping[str, Any]):
        self.options = embed_options(options)
        self.pipe = pipeline(model)

    @property
    def name(self) -> str:
        """The pipeline's refs, space-separated, as ``easynlu.load`` takes them."""
        return " ".join(c.ref for c in self.pipe.components)

    def vectors(self, texts: Iterable[str], **overrides: Any) -> np.ndarray:
        """``embed(texts, **options, **overrides)``: a float32 (n, dim) array, one row per text, in order.

        Raises :class:`easynlu.InputError` for a text with no tokens (empty or blank, or None): a
        vector store cannot hold its NaN vector, so the caller drops it rather than store NaNs.
        """
        texts = list(texts)
        vectors = self.pipe.embed(texts, **{**self.options, **overrides})
        missing = np.flatnonzero(np.isnan(vectors).any(axis=1))
        if missing.size:
            first = int(missing[0])
            raise InputError(f"text {first} ({texts[first]!r}) has no tokens, so it has no vector "
                             f"({missing.size} such text(s) of {len(texts)}): drop empty and blank texts "
                             f"before embedding them.")
        return vectors

    def lists(self, texts: Iterable[str]) -> list[list[float]]:
        """``vectors(texts)`` as lists of Python floats, as LangChain and LlamaIndex take them."""
        return self.vectors(texts).tolist()
