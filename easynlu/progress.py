"""Progress bars: tqdm.auto (a notebook bar where ipywidgets can draw it), imported without its IProgress warning."""

from __future__ import annotations

import sys
import warnings
from typing import Any


def import_quietly() -> None:
    """Import ``tqdm.auto`` once, silencing "IProgress not found" (a notebook without ipywidgets).

    tqdm then falls back to its text bar by itself; the warning says nothing the user asked about.
    transformers and huggingface_hub import tqdm.auto too, so easynlu calls this before loading them.
    """
    if "tqdm.auto" in sys.modules:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import tqdm.auto  # noqa: F401


def bar_class() -> Any:
    """``tqdm.auto.tqdm``, imported quietly."""
    import_quietly()
    from tqdm.auto import tqdm

    return tqdm
