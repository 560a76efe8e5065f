"""An easynlu model as a LlamaIndex ``BaseEmbedding`` (needs llama-index-core: ``pip install "easynlu[llama-index]"``).

    from llama_index.core import Document, Settings, VectorStoreIndex
    from easynlu.integrations.llama_index import EasyNLUEmbedding

    Settings.embed_model = EasyNLUEmbedding("en.embed_sentence.minilm", normalize=True)
    index = VectorStoreIndex.from_documents([Document(text="A man is playing a guitar.")])
    index.as_retriever(similarity_top_k=1).retrieve("Who plays music?")
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from .common import Model

if TYPE_CHECKING:
    from ..protocol import Embedder


class EasyNLUEmbedding(BaseEmbedding):
    """LlamaIndex embeddings from an easynlu ref or pipeline; ``options`` are ``embed``'s (``normalize=True``, ...).

    Queries and texts get the same vectors (``pipe.embed``). LlamaIndex hands texts over in
    groups of ``embed_batch_size`` (256 here; LlamaIndex's default is 10); easynlu batches each
    group by tokens. The async methods run the model in a worker thread.
    """

    _model: Model = PrivateAttr()

    def __init__(self, model: str | os.PathLike[str] | Embedder = "en.embed_sentence.minilm", *,
                 embed_batch_size: int = 256, **options: Any):
        encoder = Model(model, options)
        super().__init__(model_name=encoder.name, embed_batch_size=embed_batch_size)
        self._model = encoder

    @classmethod
    def class_name(cls) -> str:
        """LlamaIndex's name for this class."""
        return "EasyNLUEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._model.lists([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._model.lists([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._model.lists(texts)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return await asyncio.to_thread(self._get_text_embedding, text)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)
