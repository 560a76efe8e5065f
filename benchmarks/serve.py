"""easynlu serve under load (issue 21): throughput against in-process embed(), dynamic batching's gain, latency
at half load, and infinity-emb serving the same MiniLM side by side. Not a test: it prints ratios.

    bash benchmarks/venvs.sh infinity        # once: infinity-emb in its own venv (optional row)
    python benchmarks/serve.py               # ~6-8 min on 2 cores
    python benchmarks/serve.py --n 256 --no-infinity          # a quick look

Every server runs in its own process on 127.0.0.1 and is loaded by the same client: ``--clients``
concurrent asyncio connections (HTTP/1.1 keep-alive, requests encoded before the clock starts)
sending single sentences, then requests of 32 sentences, from benchmarks/corpus.py, each asking for
base64 vectors as the openai client does by default. The client is raw asyncio rather than httpx so
that the 2 cores go to the server, as they would with the clients on other machines: its own CPU
time is printed. Two in-process baselines, in this process while no server computes, taken just
before and just after each server's single-sentence load (their mean; the machine's speed drifts
by ~10% over minutes): ``embed()`` of 32 texts per call (one call over what the 32 clients send at
once: the issue's "one embed() call over all of them") and ``embed()`` of all texts in one call
(every text merged; no server with 32 one-sentence clients can merge more than 32). Latency:
requests sent at a steady rate of half the saturated single-sentence throughput, for
``--seconds``; p50/p99 of each request's time. The machine may be shared: compare ratios within
one run only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ["HF_HUB_OFFLINE"] = "1"

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from corpus import build  # noqa: E402
from machine import cpu_info  # noqa: E402
from models import minilm_path  # noqa: E402

REF = "en.embed_sentence.minilm"
VENVS = Path(os.environ.get("EASYNLU_BENCH_VENVS", Path.home() / ".cache" / "easynlu-bench" / "venvs"))


def log(*args: object) -> None:
    print(*args, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A server process; ``path`` is its embeddings route, ``model`` the name requests give."""

    def __init__(self, name: str, command: list[str], port: int, path: str, model: str):
        self.name, self.port, self.path, self.model = name, port, path, model
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.process.stderr.read()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start in 300 s")
            time.sleep(0.5)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def easynlu_server(flags: tuple[str, ...] = (), name: str = "easynlu") -> Server:
    port = free_port()
    command = [sys.executable, "-m", "easynlu", "serve", REF, "--port", str(port), "--log-level", "warning", *flags]
    return Server(name, command, port, "/v1/embeddings", REF)


def infinity_server() -> Server | None:
    python = VENVS / "infinity" / "bin" / "python"
    if not (VENVS / "infinity" / ".ok").exists():
        log(f"infinity: no venv at {python.parent.parent} (bash benchmarks/venvs.sh infinity): row skipped")
        return None
    port = free_port()
    # infinity's defaults kept (engine torch, batch size 32, dtype auto, bettertransformer on); device cpu named.
    command = [str(python.parent / "infinity_emb"), "v2", "--model-id", str(minilm_path()),
               "--served-model-name", "minilm", "--port", str(port), "--host", "127.0.0.1", "--device", "cpu",
               "--no-model-warmup"]
    return Server("infinity-emb", command, port, "/embeddings", "minilm")


def request_bytes(server: Server, texts: list[str]) -> bytes:
    """One POST of ``texts`` to the server's embeddings route, as bytes on the wire (base64 vectors)."""
    body = json.dumps({"model": server.model, "input": texts, "encoding_format": "base64"}).encode()
    return (f"POST {server.path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
    """Send one request on a keep-alive connection and read its whole answer; raises unless it is a 200."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    body = await reader.readexactly(length)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{head.splitlines()[0].decode()}: {body[:300].decode(errors='replace')}")


async def load(server: Server, batches: list[list[str]], clients: int) -> tuple[float, float]:
    """Send every batch (one request each) from ``clients`` concurrent connections: texts/s and the client's
    CPU seconds."""
    pending = [request_bytes(server, b) for b in reversed(batches)]

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        while pending:
            await exchange(reader, writer, pending.pop())
        writer.close()

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return sum(map(len, batches)) / elapsed, time.process_time() - cpu


async def paced(server: Server, texts: list[str], rate: float, seconds: float) -> list[float]:
    """Single-sentence requests sent at ``rate`` per second for ``seconds``, each on a free keep-alive
    connection (a new one when none is free): each one's latency (s)."""
    latencies: list[float] = []
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    requests = [request_bytes(server, [text]) for text in texts]

    async def one(request: bytes) -> None:
        started = time.perf_counter()
        connection = idle.pop() if idle else None
        try:
            if connection is not None:
                await exchange(*connection, request)
        except (asyncio.IncompleteReadError, ConnectionError):
            connection = None  # the server closed it while idle (its keep-alive timeout): a new one
        if connection is None:
            connection = await asyncio.open_connection("127.0.0.1", server.port)
            await exchange(*connection, request)
        latencies.append(time.perf_counter() - started)
        idle.append(connection)

    tasks, started, i = [], time.perf_counter(), 0
    while (now := time.perf_counter() - started) < seconds:
        while i < int(now * rate):
            tasks.append(asyncio.ensure_future(one(requests[i % len(requests)])))
            i += 1
        await asyncio.sleep(0.002)
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    return latencies


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q))


def measure(server: Server, sentences: list[str], args: argparse.Namespace, baseline: InProcess,
            latency: bool) -> dict:
    """One server's row: its load and latency, and in-process embed() just before and just after its
    single-sentence load (the server idle; their mean is the row's baseline)."""
    singles = [[s] for s in sentences] * args.passes
    batches = [sentences[i:i + 32] for i in range(0, len(sentences), 32)] * args.passes
    asyncio.run(load(server, singles[:64], args.clients))  # warm up
    before = baseline.rates(sentences)
    single_tps, single_cpu = asyncio.run(load(server, singles, args.clients))
    after = baseline.rates(sentences)
    per_32, whole = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
    batch_tps, batch_cpu = asyncio.run(load(server, batches, args.clients))
    row = {"in_process_per_32_texts_s": per_32, "in_process_whole_texts_s": whole,
           "in_process_before_after": [*before, *after], "singles_texts_s": single_tps,
           "batches32_texts_s": batch_tps, "client_cpu_s": single_cpu + batch_cpu}
    if latency:
        lat = asyncio.run(paced(server, sentences, 0.5 * single_tps, args.seconds))
        row.update(half_load_rate=0.5 * single_tps, p50_ms=pct(lat, 50), p99_ms=pct(lat, 99), requests=len(lat))
    log(f"{server.name}: " + ", ".join(f"{k} {v:.1f}" for k, v in row.items() if isinstance(v, float)))
    return row


class InProcess:
    """In-process embed() at load()'s defaults, in this process: the baselines. Measured again around each
    server's load, so that each ratio compares figures taken within seconds of each other."""

    def __init__(self, sentences: list[str]):
        import easynlu

        self.pipe = easynlu.load(REF)
        self.pipe.embed(sentences[:64], progress=False)

    def rates(self, sentences: list[str]) -> tuple[float, float]:
        """texts/s with 32 texts per call, and with all of them in one call."""
        rates = []
        for size in (32, len(sentences)):
            started = time.perf_counter()
            for i in range(0, len(sentences), size):
                self.pipe.embed(sentences[i:i + size], progress=False)
            rates.append(len(sentences) / (time.perf_counter() - started))
        return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="sentences per load (default 1024)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--passes", type=int, default=2, help="times each load sends the sentences (default 2)")
    parser.add_argument("--seconds", type=float, default=20, help="length of the half-load latency run")
    parser.add_argument("--no-infinity", action="store_true")
    parser.add_argument("--json", default=str(HERE / "results" / "serve.json"))
    args = parser.parse_args()

    sentences = build()["sentences"][:args.n]
    machine = {**cpu_info(), "load_average_start": os.getloadavg()}
    log(f"machine: {machine}")
    baseline = InProcess(sentences)
    rows: dict[str, dict] = {}
    starts = [(lambda: easynlu_server(), True),
              (lambda: easynlu_server(("--no-batching",), "easynlu, no batching"), False),
              (lambda: easynlu_server(("--spin",), "easynlu --spin"), True)]
    if not args.no_infinity:
        starts.append((infinity_server, True))
    for start, latency in starts:
        try:
            server = start()
        except RuntimeError as err:
            log(f"could not start a server, row skipped: {err}")
            continue
        if server is None:
            continue
        try:
            rows[server.name] = measure(server, sentences, args, baseline, latency)
        finally:
            server.stop()
    log("\n| server | singles (texts/s) | x embed() per 32 | x embed() of all | batches of 32 (texts/s) | "
        "x embed() of all | p50 / p99 ms at half load | embed() per 32 / of all, around it (texts/s) |")
    log("|---|---:|---:|---:|---:|---:|---|---|")
    for name, row in rows.items():
        latency = f"{row['p50_ms']:.0f} / {row['p99_ms']:.0f}" if "p50_ms" in row else "-"
        single, batch = row["singles_texts_s"], row["batches32_texts_s"]
        per_32, whole = row["in_process_per_32_texts_s"], row["in_process_whole_texts_s"]
        log(f"| {name} | {single:.0f} | {single / per_32:.2f} | {single / whole:.2f} | {batch:.0f} | "
            f"{batch / whole:.2f} | {latency} | {per_32:.0f} / {whole:.0f} |")
    ours, alone = rows["easynlu"], rows["easynlu, no batching"]
    single = ours["singles_texts_s"]
    log(f"\nsingles: {single / ours['in_process_per_32_texts_s']:.2f}x in-process embed() of 32 texts per call "
        f"(target >= 0.85x), {single / ours['in_process_whole_texts_s']:.2f}x embed() of all {len(sentences)} in "
        f"one call; dynamic batching {single / alone['singles_texts_s']:.2f}x one request at a time; client CPU "
        f"{ours['client_cpu_s']:.1f} s")
    if "easynlu --spin" in rows:
        spin = rows["easynlu --spin"]
        log(f"serve's default (ONNX Runtime's threads sleep between runs) against --spin: singles "
            f"{single / spin['singles_texts_s']:.2f}x, p99 {ours['p99_ms']:.0f} vs {spin['p99_ms']:.0f} ms")
    if "infinity-emb" in rows:
        theirs = rows["infinity-emb"]
        log(f"against infinity-emb: singles {single / theirs['singles_texts_s']:.2f}x, batches "
            f"{ours['batches32_texts_s'] / theirs['batches32_texts_s']:.2f}x, p99 {ours['p99_ms']:.0f} vs "
            f"{theirs['p99_ms']:.0f} ms (each at half its own saturated rate; target >= 1.3x at equal or better p99)")
    Path(args.json).parent.mkdir(exist_ok=True)
    Path(args.json).write_text(json.dumps({"machine": machine, "rows": rows, "n": len(sentences),
                                           "passes": args.passes, "clients": args.clients}, indent=1))


if __name__ == "__main__":
    main()
