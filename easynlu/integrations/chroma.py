"""An easynlu model as a Chroma ``EmbeddingFunction`` (needs ``chromadb``: ``pip install "easynlu[chroma]"``).

    import chromadb
    from easynlu.integrations.chroma import EasyNLUEmbeddingFunction

    collection = chromadb.EphemeralClient().create_collection(
        "texts", embedding_function=EasyNLUEmbeddingFunction("en.embed_sentence.minilm"))
    collection.add(ids=["a", "b"], documents=["A man is playing a guitar.", "The stock market fell today."])
    collection.query(query_texts=["Who plays music?"], n_results=1)

Importing this module registers the function with Chroma under the name ``"easynlu"``, so a
persisted collection opened again (``client.get_collection(name)``) rebuilds it from its config:
the pipeline's refs, its load options and the ``embed`` options.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from ..errors import OptionError
from .common import Model, embed_options

if TYPE_CHECKING:
    from ..protocol import Embedder


@register_embedding_function
class EasyNLUEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma embeddings from an easynlu ref or pipeline; ``options`` are ``embed``'s (``normalize=True``, ...).

    Documents and queries get the same vectors (``pipe.embed``); the collection's default space
    is cosine.
    """

    def __init__(self, model: str | os.PathLike[str] | Embedder = "en.embed_sentence.minilm", **options: Any):
        self.model = Model(model, options)

    def __call__(self, input: Documents) -> Embeddings:  # noqa: A002  (Chroma's name for it)
        """One float32 vector per document, in order."""
        return list(self.model.vectors(input))

    @staticmethod
    def name() -> str:
        """The name Chroma stores with a collection to find this class again."""
        return "easynlu"

    def default_space(self) -> Space:
        """Cosine: sentence vectors are compared by angle."""
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        """Every space Chroma has."""
        return ["cosine", "l2", "ip"]

    def get_config(self) -> dict[str, Any]:
        """What ``build_from_config`` needs, as JSON: the refs, the load options, the ``embed`` options."""
        return {"model": self.model.name, "load_options": self.model.pipe.load_options.given(),
                "options": self.model.options}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> EmbeddingFunction[Documents]:
        """The function a collection's stored config describes (the model loads on first use)."""
        EasyNLUEmbeddingFunction.validate_config(config)
        import easynlu

        pipe = easynlu.load(config["model"], **config.get("load_options", {}))
        return EasyNLUEmbeddingFunction(pipe, **config.get("options", {}))

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        """Raises :class:`easynlu.OptionError` unless ``config`` names a model and valid options."""
        if not isinstance(config.get("model"), str):
            raise OptionError(f"config={config!r} names no model: it needs 'model', an easynlu ref.")
        embed_options(cast(dict[str, Any], config.get("options", {})))

    def validate_config_update(self, old_config: dict[str, Any], new_config: dict[str, Any]) -> None:
        """A collection's vectors come from one model and its options: changing them is refused."""
        for key in ("model", "options"):
            if key in new_config and new_config[key] != old_config.get(key):
                raise OptionError(
                    f"{key}: {old_config.get(key)!r} -> {new_config[key]!r}: the collection's vectors were made with "
                    f"the old value; create a new collection for another model or other options.")

