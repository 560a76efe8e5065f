"""easynlu.integrations.langchain against the real langchain-core: values, async, an InMemoryVectorStore search."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import easynlu

pytest.importorskip("langchain_core")
from langchain_core.vectorstores import InMemoryVectorStore  # noqa: E402

from easynlu.integrations.langchain import EasyNLUEmbeddings  # noqa: E402

DOCS = ["A man is playing a guitar.", "The stock market fell today.", "Snow is expected this weekend.",
        "She practises the piano every day."]


def test_integrations_langchain_vectors_are_embeds(p):
    emb = EasyNLUEmbeddings(p, normalize=True, pooling="max")
    documents = emb.embed_documents(DOCS)
    assert isinstance(documents, list) and len(documents) == 4 and all(isinstance(x, float) for x in documents[0])
    np.testing.assert_allclose(documents, p.embed(DOCS, normalize=True, pooling="max"), atol=1e-5)
    np.testing.assert_allclose(emb.embed_query(DOCS[2]), documents[2], atol=1e-5)


def test_integrations_langchain_async_pair(p):
    emb = EasyNLUEmbeddings(p)

    async def both():
        return await asyncio.gather(emb.aembed_documents(DOCS), emb.aembed_query(DOCS[1]))

    documents, query = asyncio.run(both())
    np.testing.assert_allclose(documents, p.embed(DOCS), atol=1e-5)
    np.testing.assert_allclose(query, p.embed([DOCS[1]])[0], atol=1e-5)


def test_integrations_langchain_in_memory_vector_store_finds_the_right_document():
    pipe = easynlu.load("en.embed_sentence.minilm")
    store = InMemoryVectorStore(EasyNLUEmbeddings(pipe))
    ids = store.add_texts(DOCS)
    assert len(ids) == 4
    for query, want in [("Who is making music with strings?", DOCS[0]), ("How did the shares do?", DOCS[1]),
                        ("Will it be cold on Saturday?", DOCS[2])]:
        (hit, score), *_ = store.similarity_search_with_score(query, k=2)
        assert hit.page_content == want
        q, d = pipe.embed([query, want])
        assert score == pytest.approx(float(q @ d / np.linalg.norm(q) / np.linalg.norm(d)), abs=1e-5)


def test_integrations_langchain_refuses_an_empty_document(p):
    store = InMemoryVectorStore(EasyNLUEmbeddings(p))
    with pytest.raises(easynlu.InputError, match=r"text 1 \(''\) has no tokens"):
        store.add_texts(["fine", ""])
    assert store.store == {}  # nothing half-added
