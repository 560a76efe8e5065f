"""easynlu serve under load: concurrent clients, dynamic batching, the queue limit, timeouts, clients that go
away, graceful shutdown, and the command line. Servers bind 127.0.0.1 on a free port (tests/servers.py)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import easynlu

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from servers import running  # noqa: E402

from easynlu.serve import Limits  # noqa: E402

WORDS = "the a cat dog sat ran on under mat tree quickly slowly red blue green love hate NLP text model".split()


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    return easynlu.load(str(tiny_bert))


def sentence(rng: random.Random, tag: str) -> str:
    return f"{tag} " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) + "."


def vectors_of(answer) -> np.ndarray:
    data = answer.json()["data"]
    assert [d["index"] for d in data] == list(range(len(data)))
    return np.array([d["embedding"] for d in data], dtype=np.float32)


async def clients(url: str, requests: list[list[str]], n_clients: int) -> list:
    """Send ``requests`` (lists of texts) from ``n_clients`` concurrent clients; the answers in order."""
    answers: list = [None] * len(requests)
    queue = list(enumerate(requests))

    async def client(http) -> None:
        while queue:
            i, texts = queue.pop()
            answers[i] = await http.post("/v1/embeddings", json={"model": "tiny", "input": texts,
                                                                 "encoding_format": "float"})

    limits = httpx.Limits(max_connections=n_clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(n_clients)))
    return answers


@pytest.mark.slow
def test_serve_load_32_clients_each_answer_matches_its_request(tiny):
    rng = random.Random(0)
    requests = [[sentence(rng, f"r{c}.{r}.{i}") for i in range(rng.randint(1, 50))]
                for c in range(32) for r in range(20)]
    with running({"tiny": tiny}) as srv:
        answers = asyncio.run(clients(srv.url, requests, 32))
        stats = srv.serving.models["tiny"].batcher.stats
    assert [a.status_code for a in answers] == [200] * len(requests)
    every = [t for texts in requests for t in texts]
    expected = tiny.embed(every)
    start = 0
    for texts, answer in zip(requests, answers, strict=True):
        np.testing.assert_allclose(vectors_of(answer), expected[start:start + len(texts)], atol=1e-5, rtol=0)
        start += len(texts)
    assert stats.requests == len(requests) and stats.texts == len(every)
    assert stats.runs < len(requests) and stats.most_merged > 1  # concurrent requests were merged


@pytest.mark.slow
def test_serve_a_full_queue_answers_503_and_recovers(tiny):
    rng = random.Random(1)
    requests = [[sentence(rng, f"q{c}.{i}") for i in range(50)] for c in range(32)]
    with running({"tiny": tiny}, limits=Limits(max_inputs=50, queue_size=60)) as srv:
        answers = asyncio.run(clients(srv.url, requests, 32))
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            health = http.get("/health")
            after = http.post("/v1/embeddings", json={"model": "tiny", "input": requests[0],
                                                      "encoding_format": "float"})
    statuses = [a.status_code for a in answers]
    assert set(statuses) == {200, 503} and statuses.count(503) > 0
    for texts, answer in zip(requests, answers, strict=True):
        if answer.status_code == 503:
            assert answer.headers["retry-after"] == "1"
            error = answer.json()["error"]
            assert error["code"] == "overloaded" and "--queue-size" in error["message"]
        else:
            np.testing.assert_allclose(vectors_of(answer), tiny.embed(texts), atol=1e-5, rtol=0)
    assert health.status_code == 200 and health.json()["models"]["tiny"]["queued"] == 0
    np.testing.assert_allclose(vectors_of(after), tiny.embed(requests[0]), atol=1e-5, rtol=0)


def big_request(n: int = 2000) -> dict:
    rng = random.Random(2)
    return {"model": "tiny", "input": [sentence(rng, f"big{i}") * 2 for i in range(n)], "encoding_format": "float"}


def test_serve_timeout_gives_504_and_the_server_goes_on(tiny):
    with running({"tiny": tiny}, limits=Limits(timeout=0.05)) as srv, httpx.Client(base_url=srv.url,
                                                                                   timeout=60) as http:
        late = http.post("/v1/embeddings", json=big_request())
        assert late.status_code == 504
        assert "within 0.05 s (--timeout)" in late.json()["error"]["message"]
        assert http.get("/health").status_code == 200


def post_in_thread(url: str, body: dict, answers: list) -> threading.Thread:
    def post() -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            try:
                answers.append(http.post("/v1/embeddings", json=body))
            except httpx.HTTPError as err:
                answers.append(err)

    thread = threading.Thread(target=post)
    thread.start()
    return thread


def wait_until(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


def test_serve_a_client_that_goes_away_leaves_the_queue(tiny):
    with running({"tiny": tiny}) as srv:
        batcher = srv.serving.models["tiny"].batcher
        answers: list = []
        busy = post_in_thread(srv.url, big_request(), answers)
        wait_until(lambda: batcher.stats.running > 0)  # the model is busy: the next request waits in the queue
        body = json.dumps({"model": "tiny", "input": ["gone before it ran"]}).encode()
        port = int(srv.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            wait_until(lambda: batcher.queued == 1)
        wait_until(lambda: batcher.stats.dropped == 1)  # closed: withdrawn at once
        assert batcher.queued == 0
        busy.join(timeout=120)
        assert [getattr(a, "status_code", a) for a in answers] == [200]
        assert batcher.stats.requests == 1 and batcher.stats.texts == 2000  # the withdrawn request never ran


def test_serve_graceful_shutdown_finishes_requests_in_flight(tiny):
    from easynlu.serve import runner

    with running({"tiny": tiny}) as srv:
        batcher = srv.serving.models["tiny"].batcher
        answers: list = []
        busy = [post_in_thread(srv.url, big_request(), answers)]
        wait_until(lambda: batcher.stats.running > 0)
        busy.append(post_in_thread(srv.url, big_request(300), answers))
        wait_until(lambda: batcher.queued > 0)  # one runs, one waits
        runner.stop(srv.server)
        try:
            late = httpx.post(f"{srv.url}/v1/embeddings", json={"model": "tiny", "input": "x"}, timeout=30)
            assert late.status_code == 503 and late.headers["retry-after"] == "5"
            assert "shutting down" in late.json()["error"]["message"]
        except httpx.TransportError:
            pass  # the listening socket is already closed: refused, which is as good
        for thread in busy:
            thread.join(timeout=120)
        assert [getattr(a, "status_code", a) for a in answers] == [200, 200]
        np.testing.assert_allclose(vectors_of(answers[1]), tiny.embed(big_request(300)["input"]), atol=1e-5, rtol=0)


# -- the command line ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_cli_serve_answers_logs_and_stops_on_sigterm(tiny_bert):
    port, key = free_port(), "cli-secret"
    command = [sys.executable, "-m", "easynlu", "serve", str(tiny_bert), "--port", str(port), "--api-key", key,
               "--max-inputs", "4", "--queue-size", "8"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.stderr.read()
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        ok = httpx.post(f"{url}/v1/embeddings", json={"input": ["I love NLP"], "encoding_format": "float"},
                        headers=auth, timeout=30)
        too_many = httpx.post(f"{url}/v1/embeddings", json={"input": ["a"] * 5}, headers=auth, timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode in (0, -signal.SIGTERM), stderr  # uvicorn re-raises the signal once it has stopped
    assert "Application shutdown complete" in stderr
    assert ok.status_code == 200 and ok.json()["model"] == str(tiny_bert)
    expected = easynlu.load(str(tiny_bert)).embed(["I love NLP"])
    np.testing.assert_allclose(vectors_of(ok), expected, atol=1e-5, rtol=0)
    assert too_many.status_code == 413 and "(--max-inputs)" in too_many.json()["error"]["message"]
    access = [json.loads(line.split("easynlu.serve.access: ", 1)[1]) for line in stderr.splitlines()
              if "easynlu.serve.access: " in line]
    assert [(a["path"], a["status"]) for a in access if a["path"] != "/health"] == [("/v1/embeddings", 200),
                                                                                  ("/v1/embeddings", 413)]
    assert key not in stderr and "I love NLP" not in stderr


def test_cli_serve_passes_the_load_flags_on(tiny_bert, monkeypatch):
    from easynlu import cli
    from easynlu.serve import runner

    served = {}
    monkeypatch.setattr(runner, "run", lambda pipes, **settings: served.update(pipes))
    cli.main(["serve", str(tiny_bert), "--threads", "1"])
    assert served[str(tiny_bert)].load_options.given() == {"threads": 1, "share_cpu": True}  # serve's default
    cli.main(["serve", str(tiny_bert), "--spin"])
    assert served[str(tiny_bert)].load_options.given() == {}


def test_cli_serve_refuses_a_ref_twice(tiny_bert, capsys):
    from easynlu import cli

    with pytest.raises(SystemExit):
        cli.main(["serve", str(tiny_bert), str(tiny_bert)])
    assert "each REF may be served once" in capsys.readouterr().err
