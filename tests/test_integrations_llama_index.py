"""easynlu.integrations.llama_index against the real llama-index-core: values, async, a VectorStoreIndex retrieval."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import easynlu

pytest.importorskip("llama_index.core")
from llama_index.core import Document, VectorStoreIndex  # noqa: E402

from easynlu.integrations.llama_index import EasyNLUEmbedding  # noqa: E402

DOCS = ["A man is playing a guitar.", "The stock market fell today.", "Snow is expected this weekend.",
        "She practises the piano every day."]


def test_integrations_llama_index_vectors_are_embeds(p, tiny_bert):
    emb = EasyNLUEmbedding(p, normalize=True, pooling="cls")
    assert emb.model_name == str(tiny_bert) and emb.embed_batch_size == 256
    batch = emb.get_text_embedding_batch(DOCS)
    np.testing.assert_allclose(batch, p.embed(DOCS, normalize=True, pooling="cls"), atol=1e-5)
    np.testing.assert_allclose(emb.get_text_embedding(DOCS[3]), batch[3], atol=1e-5)
    np.testing.assert_allclose(emb.get_query_embedding(DOCS[0]), batch[0], atol=1e-5)


def test_integrations_llama_index_async(p):
    emb = EasyNLUEmbedding(p, embed_batch_size=3)  # two groups: 3 texts, then 1

    async def all_of_them():
        return await asyncio.gather(emb.aget_text_embedding_batch(DOCS), emb.aget_query_embedding(DOCS[2]),
                                    emb.aget_text_embedding(DOCS[1]))

    batch, query, text = asyncio.run(all_of_them())
    want = p.embed(DOCS)
    np.testing.assert_allclose(batch, want, atol=1e-5)
    np.testing.assert_allclose(query, want[2], atol=1e-5)
    np.testing.assert_allclose(text, want[1], atol=1e-5)


def test_integrations_llama_index_vector_store_index_retrieves_without_an_llm():
    pipe = easynlu.load("en.embed_sentence.minilm")
    index = VectorStoreIndex.from_documents([Document(text=t, id_=f"d{i}") for i, t in enumerate(DOCS)],
                                            embed_model=EasyNLUEmbedding(pipe))
    retriever = index.as_retriever(similarity_top_k=2)  # retrieval only: no LLM is asked for
    for query, want in [("Which instrument does she play at home?", 3), ("Will it be cold on Saturday?", 2)]:
        hits = retriever.retrieve(query)
        assert [h.node.get_content() for h in hits][0] == DOCS[want]
        assert hits[0].node.ref_doc_id == f"d{want}"
        q, d = pipe.embed([query, DOCS[want]])
        assert hits[0].score == pytest.approx(float(q @ d / np.linalg.norm(q) / np.linalg.norm(d)), abs=1e-5)
