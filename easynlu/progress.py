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


class TextsBar:
    """A bar of the user's texts (with their total, in texts/s) that the backends feed with windows run.

    A backend adds its windows to ``total`` when it starts a run and calls ``update`` as batches
    finish; each of the ``runs`` (one per model of the pipeline) counts for an equal share of the texts.
    """

    def __init__(self, bar: Any, n_texts: int, runs: int):
        self._bar, self._n_texts, self._runs = bar, n_texts, max(runs, 1)
        self._finished_runs, self._run_total, self._run_done = 0, 0.0, 0.0

    @property
    def total(self) -> float:
        """The windows of the run going on (what the backends add to)."""
        return self._run_total

    @total.setter
    def total(self, value: float) -> None:
        added = value - self._run_total
        if self._run_total and self._run_done >= self._run_total:  # the last run is over: a new one starts
            self._finished_runs, self._run_total, self._run_done = self._finished_runs + 1, 0.0, 0.0
        self._run_total += added

    def update(self, n: float = 1) -> None:
        """``n`` more windows done: move the bar to the share of texts that makes."""
        self._run_done += n
        share = (self._finished_runs + self._run_done / max(self._run_total, 1)) / self._runs
        self._move_to(min(self._n_texts, int(share * self._n_texts)))

    def finish(self) -> None:
        """Every text done (the call returned)."""
        self._move_to(self._n_texts)

    def close(self) -> None:
        """Close the bar (it clears itself: ``leave=False``)."""
        self._bar.close()

    def _move_to(self, texts: int) -> None:
        if texts > self._bar.n:
            self._bar.update(texts - self._bar.n)
