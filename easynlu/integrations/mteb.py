"""An easynlu model as an MTEB encoder, for ``mteb.evaluate`` (needs ``mteb`` 2: ``pip install "easynlu[mteb]"``).

    import mteb
    from easynlu.integrations.mteb import EasyNLUEncoder

    model = EasyNLUEncoder("en.embed_sentence.minilm")
    result = mteb.evaluate(model, mteb.get_task("STSBenchmark"), cache=None)   # the task's data comes from the Hub
    task = sts_task(sentence1, sentence2, scores)                               # or pairs of your own, offline
    mteb.evaluate(model, task, cache=None).task_results[0].get_score()          # Spearman of cosine vs. scores

It implements mteb 2's ``EncoderProtocol``: ``encode(inputs, *, task_metadata, hf_split, hf_subset,
prompt_type=None, **kwargs)`` takes a DataLoader of batches, whose ``"text"`` lists are joined and
embedded in one ``pipe.embed`` call (easynlu batches them by tokens, so mteb's ``batch_size`` is
not used), and the model's ``mteb_model_meta`` says to compare vectors by cosine.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

import numpy as np
from mteb.abstasks.sts import AbsTaskSTS
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.models.abs_encoder import AbsEncoder
from mteb.models.model_meta import ModelMeta, ScoringFunction

from ..errors import InputError
from ..version import __version__
from .common import Model

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from mteb.types import PromptType

    from ..protocol import Embedder


class EasyNLUEncoder(AbsEncoder):
    """An MTEB encoder from an easynlu ref or pipeline; ``options`` are ``embed``'s (``normalize=True``, ...).

    Queries and passages get the same vectors: ``prompt_type`` and task prompts are not used.
    ``name`` is the name MTEB files the results under (default ``easynlu/<refs>``); the ``embed``
    options are its ``experiment_kwargs``, so runs with other options are kept apart.
    """

    def __init__(self, model: str | os.PathLike[str] | Embedder = "en.embed_sentence.minilm", *,
                 name: str | None = None, **options: Any):
        self.model = Model(model, options)
        entries = [c.entry for c in self.model.pipe.components]
        dims = [e.dim for e in entries if e is not None]
        self.mteb_model_meta = ModelMeta.create_empty(overwrites={
            "name": name or "easynlu/" + re.sub(r"[^\w.+-]+", "_", self.model.name).strip("_"),
            "revision": f"easynlu-{__version__}",
            "embed_dim": sum(dims) if len(dims) == len(entries) else None,
            "similarity_fn_name": ScoringFunction.COSINE,
            "framework": ["PyTorch"],
            "experiment_kwargs": self.model.options or None,
        })

    def encode(self, inputs: Iterable[Mapping[str, Any]], *, task_metadata: TaskMetadata, hf_split: str,
               hf_subset: str, prompt_type: PromptType | None = None, **kwargs: Any) -> np.ndarray:
        """One float32 row per text of ``inputs`` (mteb's DataLoader of batches), in their order."""
        texts = [text for batch in inputs for text in batch["text"]]
        shown = kwargs.get("show_progress_bar")  # mteb's switch for the bar, unless progress= was given
        overrides = {} if shown is None or "progress" in self.model.options else {"progress": bool(shown)}
        return self.model.vectors(texts, **overrides)


def sts_task(sentence1: Sequence[str], sentence2: Sequence[str], scores: Sequence[float], *, name: str = "LocalSTS",
             split: str = "test", language: str = "eng-Latn", min_score: int = 0, max_score: int = 5) -> AbsTaskSTS:
    """An mteb STS task over sentence pairs and their gold scores held in memory (mteb's own tasks load from the Hub).

    ``mteb.evaluate`` scores it as any STS task: the Spearman correlation of the pairs' cosine
    similarity with the gold scores (``main_score``: ``cosine_spearman``) and the other
    correlations. Scores run from ``min_score`` to ``max_score`` (STS-B: 0 to 5).
    """
    if not len(sentence1) == len(sentence2) == len(scores) or len(scores) < 2:
        raise InputError(f"{len(sentence1)} sentence1, {len(sentence2)} sentence2 and {len(scores)} scores: "
                         f"pass one first sentence, one second sentence and one score per pair, 2 pairs or more.")
    metadata = TaskMetadata(
        name=name, description=f"{len(scores)} sentence pairs given in memory.",
        dataset={"path": f"local/{name}", "revision": "local"}, type="STS", category="t2t",
        modalities=["text"], eval_splits=[split], eval_langs=[language], main_score="cosine_spearman")
    # mteb reads a task's metadata and score range from its class: one class per task
    task_class = type(name, (_PairsInMemory,), {"metadata": metadata, "min_score": min_score, "max_score": max_score})
    pairs = {"sentence1": list(sentence1), "sentence2": list(sentence2), "score": [float(s) for s in scores]}
    return task_class(pairs)


class _PairsInMemory(AbsTaskSTS):
    """An STS task whose one split is pairs given in memory."""

    def __init__(self, pairs: dict[str, list[Any]]):
        self._pairs = pairs
        super().__init__()

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        """The pairs as the task's one split (nothing is downloaded)."""
        from datasets import Dataset, DatasetDict

        self.dataset = DatasetDict({self.metadata.eval_splits[0]: Dataset.from_dict(self._pairs)})
        self.data_loaded = True
