"""An easynlu model as a LangChain ``Embeddings`` (needs ``langchain-core``: ``pip install "easynlu[langchain]"``).

    from langchain_core.vectorstores import InMemoryVectorStore
    from easynlu.integrations.langchain import EasyNLUEmbeddings

    store = InMemoryVectorStore(EasyNLUEmbeddings("en.embed_sentence.minilm", normalize=True))
    store.add_texts(["A man is playing a guitar.", "The stock market fell today."])
    store.similarity_search("Who plays music?", k=1)
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from .common import Model

if TYPE_CHECKING:
    from ..protocol import Embedder


class EasyNLUEmbeddings(Embeddings):
    """LangChain embeddings from an easynlu ref or pipeline; ``options`` are ``embed``'s (``normalize=True``, ...).

    Queries and documents get the same vectors (``pipe.embed``). The async methods run the model
    in a worker thread, so the event loop stays free while it computes.
    """

    def __init__(self, model: str | os.PathLike[str] | Embedder = "en.embed_sentence.minilm", **options: Any):
        self.model = Model(model, options)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        return self.model.lists(texts)

    def embed_query(self, text: str) -> list[float]:
        """The vector of one text."""
        return self.model.lists([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """``embed_documents`` in a worker thread."""
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """``embed_query`` in a worker thread."""
        return await asyncio.to_thread(self.embed_query, text)

    def __repr__(self) -> str:
        return f"EasyNLUEmbeddings({self.model.name!r}, **{self.model.options!r})"
