"""easynlu serve under load (issue 21): throughput against in-process embed(), dynamic batching's gain, latency
at half load, and infinity-emb serving the same MiniLM side by side. Not a test: it prints ratios.

    bash benchmarks/venvs.sh infinity        # once: infinity-emb in its own venv (optional row)
    python benchmarks/serve.py               # ~5-8 min on 2 cores
    python benchmarks/serve.py --n 256 --no-infinity          # a quick look

Every server runs in its own process on 127.0.0.1 and is loaded by the same client: ``--clients``
concurrent asyncio clients (httpx) sending single sentences, then requests of 32 sentences, from
benchmarks/corpus.py. The in-process figure is ``embed()`` of the same texts in one call, in this process,
while no server computes. Latency: requests sent at a steady rate of half the saturated single-sentence
throughput, for ``--seconds``; p50/p99 of each request's time. The machine may be shared: compare ratios
within one run only.
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
        self.name, self.url, self.path, self.model = name, f"http://127.0.0.1:{port}", path, model
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


def easynlu_server(batching: bool) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "easynlu", "serve", REF, "--port", str(port), "--log-level", "warning"]
    return Server("easynlu" + ("" if batching else " (no batching)"), command + ([] if batching else ["--no-batching"]),
                  port, "/v1/embeddings", REF)


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


async def load(server: Server, batches: list[list[str]], clients: int) -> tuple[float, list[float]]:
    """Send every batch (one request each) from ``clients`` concurrent clients: texts/s and latencies (s)."""
    pending, latencies = list(reversed(batches)), []

    async def client(http: httpx.AsyncClient) -> None:
        while pending:
            texts = pending.pop()
            started = time.perf_counter()
            answer = await http.post(server.path, json={"model": server.model, "input": texts,
                                                        "encoding_format": "float"})
            answer.raise_for_status()
            latencies.append(time.perf_counter() - started)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=server.url, timeout=300, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return sum(map(len, batches)) / elapsed, latencies


async def paced(server: Server, texts: list[str], rate: float, seconds: float) -> list[float]:
    """Single-sentence requests sent at ``rate`` per second for ``seconds``: each one's latency (s)."""
    latencies: list[float] = []

    async def one(http: httpx.AsyncClient, text: str) -> None:
        started = time.perf_counter()
        answer = await http.post(server.path, json={"model": server.model, "input": [text],
                                                    "encoding_format": "float"})
        answer.raise_for_status()
        latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(base_url=server.url, timeout=300, limits=httpx.Limits(max_connections=256)) as http:
        tasks, started, i = [], time.perf_counter(), 0
        while (now := time.perf_counter() - started) < seconds:
            due = int(now * rate)
            while i < due:
                tasks.append(asyncio.ensure_future(one(http, texts[i % len(texts)])))
                i += 1
            await asyncio.sleep(0.002)
        await asyncio.gather(*tasks)
    return latencies


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q))


def measure(server: Server, sentences: list[str], clients: int, seconds: float, latency: bool) -> dict:
    singles = [[s] for s in sentences]
    batches = [sentences[i:i + 32] for i in range(0, len(sentences), 32)]
    asyncio.run(load(server, singles[:64], clients))  # warm up
    single_tps, _ = asyncio.run(load(server, singles, clients))
    batch_tps, _ = asyncio.run(load(server, batches, clients))
    row = {"singles_texts_s": single_tps, "batches32_texts_s": batch_tps}
    if latency:
        lat = asyncio.run(paced(server, sentences, 0.5 * single_tps, seconds))
        row.update(half_load_rate=0.5 * single_tps, p50_ms=pct(lat, 50), p99_ms=pct(lat, 99), requests=len(lat))
    log(f"{server.name}: " + ", ".join(f"{k} {v:.1f}" for k, v in row.items()))
    return row


def in_process(sentences: list[str]) -> float:
    import easynlu

    pipe = easynlu.load(REF)
    pipe.embed(sentences[:64], progress=False)
    best = 0.0
    for _ in range(2):
        started = time.perf_counter()
        pipe.embed(sentences, progress=False)
        best = max(best, len(sentences) / (time.perf_counter() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="sentences per load (default 1024)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20, help="length of the half-load latency run")
    parser.add_argument("--no-infinity", action="store_true")
    parser.add_argument("--json", default=str(HERE / "results" / "serve.json"))
    args = parser.parse_args()

    sentences = build()["sentences"][:args.n]
    machine = {**cpu_info(), "load_average_start": os.getloadavg()}
    log(f"machine: {machine}")
    baseline = in_process(sentences)
    log(f"in-process embed(): {baseline:.1f} texts/s ({len(sentences)} sentences, one call)")
    rows: dict[str, dict] = {}
    for batching in (True, False):
        server = easynlu_server(batching)
        try:
            rows[server.name] = measure(server, sentences, args.clients, args.seconds, latency=batching)
        finally:
            server.stop()
    try:
        infinity = None if args.no_infinity else infinity_server()
    except RuntimeError as err:
        log(f"infinity-emb: could not start, row skipped: {err}")
        infinity = None
    if infinity is not None:
        try:
            rows[infinity.name] = measure(infinity, sentences, args.clients, args.seconds, latency=True)
        finally:
            infinity.stop()
    ours, alone = rows["easynlu"], rows["easynlu (no batching)"]
    log("\n| server | singles (texts/s) | x in-process | batches of 32 (texts/s) | x in-process | p50 / p99 ms at "
        "half load |")
    log("|---|---|---|---|---|---|")
    for name, row in rows.items():
        latency = f"{row['p50_ms']:.0f} / {row['p99_ms']:.0f}" if "p50_ms" in row else "-"
        log(f"| {name} | {row['singles_texts_s']:.0f} | {row['singles_texts_s'] / baseline:.2f} | "
            f"{row['batches32_texts_s']:.0f} | {row['batches32_texts_s'] / baseline:.2f} | {latency} |")
    log(f"| in-process embed() | {baseline:.0f} | 1.00 | {baseline:.0f} | 1.00 | - |")
    log(f"\ndynamic batching, singles: {ours['singles_texts_s'] / alone['singles_texts_s']:.2f}x one request at a "
        f"time (target: singles >= 0.85x in-process; got {ours['singles_texts_s'] / baseline:.2f}x)")
    if "infinity-emb" in rows:
        theirs = rows["infinity-emb"]
        log(f"against infinity-emb: singles {ours['singles_texts_s'] / theirs['singles_texts_s']:.2f}x, batches "
            f"{ours['batches32_texts_s'] / theirs['batches32_texts_s']:.2f}x, p99 {ours['p99_ms']:.0f} vs "
            f"{theirs['p99_ms']:.0f} ms (each at half its own saturated rate; target >= 1.3x at equal or better p99)")
    Path(args.json).parent.mkdir(exist_ok=True)
    Path(args.json).write_text(json.dumps({"machine": machine, "in_process_texts_s": baseline, "rows": rows,
                                           "n": len(sentences), "clients": args.clients}, indent=1))


if __name__ == "__main__":
    main()
