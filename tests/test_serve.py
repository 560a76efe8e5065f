"""easynlu serve over real HTTP: the openai client, /v1/predict against predict, every refusal with its body.

The server runs in a thread on 127.0.0.1 with a free port (tests/servers.py), serving a tiny random
BERT and the packaged MiniLM; requests are bounded by timeouts.
"""

from __future__ import annotations

import base64
import json
import logging

import numpy as np
import pytest

import easynlu

httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from servers import running  # noqa: E402

from easynlu.serve import Limits  # noqa: E402

TEXTS = ["I love NLP.", "The cat sat on the mat. It purred!", "Ünïcödé text, with émojis 🙂 too", "x"]
LIMITS = Limits(max_inputs=16, max_chars=20_000, queue_size=256, timeout=60)


@pytest.fixture(scope="module")
def pipes(tiny_bert, minilm_dir):
    return {"tiny": easynlu.load(str(tiny_bert)), "minilm": easynlu.load(str(minilm_dir))}


@pytest.fixture(scope="module")
def server(pipes):
    with running(pipes, limits=LIMITS) as srv:
        yield srv


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def token_counts(model_dir, texts):
    """Wordpieces per text, by transformers' own tokenizer (no special tokens)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


# -- the openai client ----------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", [None, "float", "base64"])
def test_serve_openai_client_gets_embed_vectors(server, pipes, minilm_dir, encoding):
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=60)
    extra = {} if encoding is None else {"encoding_format": encoding}  # None: the client's default, base64
    got = client.embeddings.create(model="minilm", input=TEXTS, **extra)
    expected = pipes["minilm"].embed(TEXTS)
    if encoding == "base64":  # asked for explicitly, the client hands the strings over as they came
        vectors = np.stack([np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in got.data])
    else:  # the client's default: it asked for base64 and decoded it into floats
        vectors = np.array([d.embedding for d in got.data], dtype=np.float32)
    assert [d.index for d in got.data] == list(range(len(TEXTS)))
    assert vectors.shape == expected.shape == (4, 384)
    np.testing.assert_allclose(vectors, expected, atol=1e-5, rtol=0)
    assert got.model == "minilm" and got.object == "list"
    assert got.usage.prompt_tokens == got.usage.total_tokens == sum(token_counts(minilm_dir, TEXTS))


def test_serve_openai_client_one_string(server, pipes):
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=60)
    got = client.embeddings.create(model="tiny", input="I love NLP", encoding_format="float")
    assert len(got.data) == 1
    np.testing.assert_allclose(got.data[0].embedding, pipes["tiny"].embed(["I love NLP"])[0], atol=1e-5, rtol=0)


def test_serve_openai_client_errors_are_its_exceptions(server):
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=60)
    with pytest.raises(openai.NotFoundError, match="Served models: 'tiny', 'minilm'"):
        client.embeddings.create(model="gpt-embedding", input="x")
    with pytest.raises(openai.BadRequestError, match="Matryoshka"):
        client.embeddings.create(model="minilm", input="x", dimensions=128)


def test_serve_dimensions_equal_to_the_models_is_accepted(http):
    answer = http.post("/v1/embeddings", json={"model": "minilm", "input": ["a b"], "dimensions": 384})
    assert answer.status_code == 200 and len(answer.json()["data"][0]["embedding"]) == 384


def test_serve_models_and_health(http):
    models = http.get("/v1/models").json()
    assert models["object"] == "list"
    assert [(m["id"], m["object"], m["dimensions"]) for m in models["data"]] == [("tiny", "model", 64),
                                                                                  ("minilm", "model", 384)]
    health = http.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert set(health.json()["models"]) == {"tiny", "minilm"}


# -- /v1/predict against predict ------------------------------------------------------------------
def long_text(words: int) -> str:
    return " ".join(f"word{i % 97} and" for i in range(words // 2)) + " end."


@pytest.mark.parametrize("level, options", [
    ("token", {}),
    ("token", {"subword_pooling": "mean", "layers": [-1, -2], "normalize": True}),
    ("sentence", {"pooling": "max"}),
    ("document", {"layers": -2, "layer_pooling": "concat"}),
    (None, {}),  # the model's own level: token for a token model
])
def test_serve_predict_rows_equal_predict(http, pipes, level, options):
    texts = ["I love NLP. Second sentence here!", "", "  ", long_text(1200)]  # the last is past 512 tokens
    body = {"model": "tiny", "input": texts, **({} if level is None else {"level": level}), **options}
    answer = http.post("/v1/predict", json=body)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    frame = pipes["tiny"].predict(texts, output_level=level, positions=True, **options)
    text_column = level or "token"
    assert got["level"] == text_column
    assert [c["name"] for c in got["columns"]] == list(frame.columns)
    assert [c["kind"] for c in got["columns"]] == ["text", "position", "position", "vector"]
    rows = got["data"]
    assert [r["index"] for r in rows] == frame.index.tolist()
    assert [r[text_column] for r in rows] == frame[text_column].tolist()
    assert [r["start"] for r in rows] == frame["start"].tolist() and [r["end"] for r in rows] == frame["end"].tolist()
    column = pipes["tiny"].info()["columns"][0]
    for row, vector in zip(rows, frame[column].tolist(), strict=True):
        if vector is None:
            assert row[column] is None
        else:
            np.testing.assert_allclose(row[column], vector, atol=1e-5, rtol=0)
    last = [r for r in rows if r["index"] == 3]
    assert last[-1]["end"] == len(texts[3])  # nothing truncated


# -- refusals: status, OpenAI's error body, the field and the fix ---------------------------------
ERRORS = [
    # (path, body (a dict is sent as JSON, bytes as they are), status, param, words in the message)
    ("/v1/embeddings", b"{not json", 400, "body", "not valid JSON"),
    ("/v1/embeddings", b"[1, 2]", 400, "body", "not an object"),
    ("/v1/embeddings", {"model": "tiny"}, 400, "input", "Missing field 'input'"),
    ("/v1/embeddings", {"model": "tiny", "input": 3}, 400, "input", "a string or a list of strings, not a number"),
    ("/v1/embeddings", {"model": "tiny", "input": [[1, 2, 3]]}, 400, "input", "token ids are not accepted"),
    ("/v1/embeddings", {"model": "tiny", "input": ["ok", 7]}, 400, "input", "input[1] is a number"),
    ("/v1/embeddings", {"model": "tiny", "input": []}, 400, "input", "empty list"),
    ("/v1/embeddings", {"model": "tiny", "input": ["ok", "   "]}, 400, "input", "input[1] is empty or blank"),
    ("/v1/embeddings", {"model": "tiny", "input": ["x"] * 17}, 413, "input", "at most 16 per request (--max-inputs)"),
    ("/v1/embeddings", {"model": "tiny", "input": ["x" * 20_001]}, 413, "input",
     "at most 20000 per request (--max-chars)"),
    ("/v1/embeddings", {"model": "bert-xl", "input": "x"}, 404, "model", "Served models: 'tiny', 'minilm'"),
    ("/v1/embeddings", {"input": "x"}, 400, "model", "serves 'tiny', 'minilm'; name one"),
    ("/v1/embeddings", {"model": 5, "input": "x"}, 400, "model", "must be a string"),
    ("/v1/embeddings", {"model": "tiny", "input": "x", "encoding_format": "int8"}, 400, "encoding_format",
     "use 'float' or 'base64'"),
    ("/v1/embeddings", {"model": "tiny", "input": "x", "dimensions": 32}, 400, "dimensions",
     "gives 64-dimensional vectors"),
    ("/v1/embeddings", {"model": "tiny", "input": "x", "dimensions": "64"}, 400, "dimensions", "positive integer"),
    ("/v1/embeddings", {"model": "tiny", "input": ["\u200b"]}, 400, "input", "input[0] ('\\u200b') has no tokens"),
    ("/v1/predict", {"model": "tiny", "input": "x", "level": "word"}, 400, "level", "use one of 'token'"),
    ("/v1/predict", {"model": "tiny", "input": "x", "pooling": "sum"}, 400, "pooling", "use one of 'mean'"),
    ("/v1/predict", {"model": "tiny", "input": "x", "layers": "last"}, 400, "layers", "pass an int"),
    ("/v1/predict", {"model": "tiny", "input": "x", "layers": [9]}, 400, "layers", "layers"),  # the model has 2
    ("/v1/predict", {"model": "tiny", "input": "x", "normalize": "yes"}, 400, "normalize", "pass true or false"),
    ("/v1/predict", {"model": "tiny", "input": "x", "text_column": "body"}, 400, "text_column", "Unknown field"),
]


@pytest.mark.parametrize("path, body, status, param, words", ERRORS)
def test_serve_refusals(http, path, body, status, param, words):
    if isinstance(body, bytes):
        answer = http.post(path, content=body, headers={"content-type": "application/json"})
    else:
        answer = http.post(path, json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["param"] == param
    assert words in error["message"]
    assert error["type"] and "code" in error


def test_serve_unknown_route_and_method(http):
    answer = http.get("/v1/embed")
    assert answer.status_code == 404 and "POST /v1/embeddings" in answer.json()["error"]["message"]
    answer = http.get("/v1/embeddings")
    assert answer.status_code == 405 and "GET is not allowed" in answer.json()["error"]["message"]


def test_serve_a_body_past_the_limit_is_not_read(http):
    answer = http.post("/v1/embeddings", content=b" " * (LIMITS.max_body_bytes + 1),
                       headers={"content-type": "application/json"})
    assert answer.status_code == 413 and "--max-chars" in answer.json()["error"]["message"]


def test_serve_a_failed_request_leaves_the_server_working(http, pipes):
    assert http.post("/v1/embeddings", json={"model": "tiny", "input": ["ok", ""]}).status_code == 400
    answer = http.post("/v1/embeddings", json={"model": "tiny", "input": ["ok"], "encoding_format": "float"})
    np.testing.assert_allclose(answer.json()["data"][0]["embedding"], pipes["tiny"].embed(["ok"])[0], atol=1e-5)


# -- the API key, and the logs ------------------------------------------------------------------
def test_serve_api_key(pipes, caplog):
    key = "s3cret-key-for-the-test"
    with caplog.at_level(logging.INFO, logger="easynlu"), running({"tiny": pipes["tiny"]}, api_key=key) as srv:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            body = {"model": "tiny", "input": "x"}
            missing = http.post("/v1/embeddings", json=body)
            wrong = http.post("/v1/embeddings", json=body, headers={"Authorization": "Bearer nope"})
            right = http.post("/v1/embeddings", json=body, headers={"Authorization": f"Bearer {key}"})
            health = http.get("/health")
        client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key=key, max_retries=0, timeout=60)
        assert len(client.embeddings.create(model="tiny", input="x").data) == 1
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{srv.url}/v1", api_key="wrong", max_retries=0).models.list()
    assert missing.status_code == 401 and "Authorization: Bearer" in missing.json()["error"]["message"]
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert right.status_code == 200 and health.status_code == 200
    assert key not in caplog.text
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "easynlu.serve.access"]
    posts = [line for line in lines if line["path"] == "/v1/embeddings"]
    assert [line["status"] for line in posts] == [401, 401, 200, 200]
    assert posts[2]["model"] == "tiny" and posts[2]["inputs"] == 1 and posts[2]["tokens"] == 1
    assert all("x" not in line.get("text", "") for line in lines)


def test_serve_key_from_the_environment(pipes, monkeypatch):
    monkeypatch.setenv("EASYNLU_API_KEY", "from-env")
    with running({"tiny": pipes["tiny"]}) as srv, httpx.Client(base_url=srv.url, timeout=60) as http:
        assert http.get("/v1/models").status_code == 401
        assert http.get("/v1/models", headers={"Authorization": "Bearer from-env"}).status_code == 200
