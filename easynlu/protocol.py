"""What the rooms at the edge use of a pipeline, as a Protocol: they depend on this, never on ``pipeline``.

``saved``, ``search``, ``spark`` and ``stream`` (and the server, trainer and framework adapters to
come) take an :class:`Embedder`. ``easynlu.Pipeline`` is one; ``Pipeline`` imports those rooms
lazily to offer them as methods, and no room imports ``pipeline`` back, so the code flows one way
(tests/test_import_graph.py checks it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from .options import Level, LoadOptions
    from .placement import Placement
    from .resolve import Component


class Embedder(Protocol):
    """A pipeline as the edge rooms see it: its components, its load options, ``predict`` and ``embed``."""

    @property
    def components(self) -> tuple[Component, ...]:
        """The resolved components, in order; each has ``ref``, ``model``, ``action`` and its vector ``column``."""
        ...

    @property
    def load_options(self) -> LoadOptions:
        """The options it was loaded with."""
        ...

    @property
    def offline(self) -> bool | None:
        """Whether it may contact the Hugging Face Hub (None: as HF_HUB_OFFLINE says)."""
        ...

    @property
    def placement(self) -> Placement:
        """Where and how it runs: device, dtype, backend (chosen on first use)."""
        ...

    @property
    def default_level(self) -> Level:
        """The level ``predict`` gives when ``output_level`` is None."""
        ...

    def predict(self, data: Any, *args: Any, **options: Any) -> pd.DataFrame:
        """``Pipeline.predict``: one row per token, sentence or document, as a DataFrame."""
        ...

    def embed(self, texts: Any, *args: Any, **options: Any) -> np.ndarray:
        """``Pipeline.embed``: one float32 document vector per text."""
        ...

    def count_tokens(self, texts: list[str]) -> list[int]:
        """``Pipeline.count_tokens``: each text's wordpieces as the first model tokenizes it."""
        ...
