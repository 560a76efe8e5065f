"""easynlu.integrations.chroma against the real chromadb: an in-memory collection's add and query, its config."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import easynlu

pytest.importorskip("chromadb")
import chromadb  # noqa: E402

from easynlu.integrations.chroma import EasyNLUEmbeddingFunction  # noqa: E402

DOCS = ["A man is playing a guitar.", "The stock market fell today.", "Snow is expected this weekend.",
        "She practises the piano every day."]
IDS = ["guitar", "stocks", "snow", "piano"]
_names = (f"easynlu-test-{i}" for i in itertools.count())


@pytest.fixture(scope="module")
def client():
    return chromadb.EphemeralClient()  # in memory; one per process, shared by the collections below


def test_integrations_chroma_stores_the_embeds(client, p):
    ef = EasyNLUEmbeddingFunction(p, normalize=True)
    collection = client.create_collection(next(_names), embedding_function=ef)
    collection.add(ids=IDS, documents=DOCS)
    stored = collection.get(ids=IDS, include=["embeddings"])
    np.testing.assert_allclose(np.asarray(stored["embeddings"]), p.embed(DOCS, normalize=True), atol=1e-5)
    assert collection.configuration["hnsw"]["space"] == "cosine"


def test_integrations_chroma_query_finds_the_right_documents(client):
    pipe = easynlu.load("en.embed_sentence.minilm")
    collection = client.create_collection(next(_names), embedding_function=EasyNLUEmbeddingFunction(pipe))
    collection.add(ids=IDS, documents=DOCS)
    queries = ["Who is making music with strings?", "How did the shares do?", "Will it be cold on Saturday?"]
    found = collection.query(query_texts=queries, n_results=2)
    assert [ids[0] for ids in found["ids"]] == ["guitar", "stocks", "snow"]
    q, d = pipe.embed([queries[1], DOCS[1]])
    cosine = float(q @ d / np.linalg.norm(q) / np.linalg.norm(d))
    assert found["distances"][1][0] == pytest.approx(1 - cosine, abs=1e-5)


def test_integrations_chroma_collection_reopens_with_its_function(client, p, tiny_bert):
    name = next(_names)
    collection = client.create_collection(name, embedding_function=EasyNLUEmbeddingFunction(p, pooling="max"))
    collection.add(ids=IDS, documents=DOCS)
    again = client.get_collection(name)  # no function given: Chroma rebuilds it from the stored config
    rebuilt = again.configuration["embedding_function"]
    assert isinstance(rebuilt, EasyNLUEmbeddingFunction)
    assert rebuilt.get_config() == {"model": str(tiny_bert), "load_options": {}, "options": {"pooling": "max"}}
    assert again.query(query_texts=[DOCS[2]], n_results=1)["ids"] == [["snow"]]


def test_integrations_chroma_config_checks(p):
    ef = EasyNLUEmbeddingFunction(p)
    assert EasyNLUEmbeddingFunction.name() == "easynlu" and not ef.is_legacy()
    with pytest.raises(easynlu.OptionError, match="names no model"):
        EasyNLUEmbeddingFunction.build_from_config({"options": {}})
    with pytest.raises(easynlu.OptionError, match="normalise"):
        EasyNLUEmbeddingFunction.build_from_config({"model": "en.embed_sentence.minilm", "options": {"normalise": 1}})
    with pytest.raises(easynlu.OptionError, match="create a new collection"):
        ef.validate_config_update(ef.get_config(), {**ef.get_config(), "model": "en.embed_sentence.minilm"})
    with pytest.raises(easynlu.InputError, match="has no tokens"):
        ef(["fine", "   "])
