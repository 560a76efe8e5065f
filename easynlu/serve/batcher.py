"""The dynamic batcher: requests that arrive together are encoded together, in one worker thread.

Each served model has one :class:`Batcher`. A request puts its texts in the queue and awaits a
future; the worker thread takes every waiting request that asks the same thing (the same ``key``:
embed or predict with the same options), up to ``batch_texts`` texts, calls ``compute`` once on
all their texts (the pipeline's ``embed``/``predict``, which sorts them by length into
token-budget batches) and hands each request its share. While the model computes, new requests
gather in the queue and make the next run. The model never runs on the event loop, so the server
answers (health, errors, 503s) while it computes. The idea is infinity's ``BatchHandler``; the
batching inside a run is the engine's own, not redone here.

A request whose client goes away or whose time runs out leaves the queue at once (a run already
started finishes and its share is dropped).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from .limits import busy

# compute(key, texts, sizes) -> one result per request (``sizes[i]`` texts each, in order); an exception
# as a request's result is raised to that request alone
Compute = Callable[[Hashable, list[str], list[int]], Sequence[Any]]


@dataclass(eq=False)
class _Work:
    key: Hashable
    texts: list[str]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


@dataclass
class Stats:
    """What a batcher has done: requests answered, model runs, texts run, and the most requests merged in one run."""

    requests: int = 0
    runs: int = 0
    texts: int = 0
    most_merged: int = 0
    dropped: int = 0  # requests withdrawn (client gone or timed out) before they ran
    running: int = 0  # texts in the run under way (0: idle)


class Batcher:
    """One model's queue and its worker thread. ``name`` is for the thread and the messages."""

    def __init__(self, name: str, compute: Compute, queue_size: int, batch_texts: int, merge: bool = True):
        self.name = name
        self._compute = compute
        self.queue_size = queue_size
        self.batch_texts = batch_texts
        self.merge = merge
        self.stats = Stats()
        self._waiting: deque[_Work] = deque()
        self._queued = 0  # texts waiting
        self._closing = False
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name=f"easynlu-serve:{name}", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        """Texts waiting (not yet running)."""
        return self._queued

    async def submit(self, key: Hashable, texts: list[str]) -> Any:
        """This request's share of a merged run of ``compute``. Raises a 503 APIError when the queue is full
        or the batcher is closing, and what ``compute`` raised."""
        loop = asyncio.get_running_loop()
        work = _Work(key, texts, loop.create_future(), loop)
        with self._lock:
            if self._closing:
                raise busy("The server is shutting down: send the request to another instance, or again once "
                           "it has restarted.", retry_after=5)
            if self._queued + len(texts) > self.queue_size:
                raise busy(f"Model {self.name!r} has {self._queued} texts waiting and the queue holds "
                           f"{self.queue_size} (--queue-size): retry shortly, or send fewer texts at once.")
            self._waiting.append(work)
            self._queued += len(texts)
            self._lock.notify()
        try:
            return await work.future
        finally:
            if not work.future.done() or work.future.cancelled():
                self._withdraw(work)

    def _withdraw(self, work: _Work) -> None:
        """Take ``work`` out of the queue if it has not started (its client is gone or its time is up)."""
        with self._lock:
            try:
                self._waiting.remove(work)
            except ValueError:
                return  # running or done: its share is dropped
            self._queued -= len(work.texts)
            self.stats.dropped += 1

    def close(self) -> None:
        """Refuse new requests; the worker finishes what is queued, then stops. Waits for it."""
        with self._lock:
            self._closing = True
            self._lock.notify()
        self._thread.join()

    # -- the worker thread ---------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._closing:
                    self._lock.wait()
                if not self._waiting:
                    return  # closing, and nothing left
                batch = self._take()
            self._run(batch)

    def _take(self) -> list[_Work]:
        """The first waiting request and, merging, those after it with the same key, up to batch_texts texts."""
        first = self._waiting.popleft()
        taken, size = [first], len(first.texts)
        if self.merge:
            kept: deque[_Work] = deque()
            for work in self._waiting:
                if work.key == first.key and size + len(work.texts) <= self.batch_texts:
                    taken.append(work)
                    size += len(work.texts)
                else:
                    kept.append(work)
            self._waiting = kept
        self._queued -= size
        return taken

    def _run(self, batch: list[_Work]) -> None:
        live = [work for work in batch if not work.future.done()]  # a cancelled one was withdrawn meanwhile
        if not live:
            return
        texts = [text for work in live for text in work.texts]
        self.stats.running = len(texts)
        try:
            results = self._compute(live[0].key, texts, [len(work.texts) for work in live])
        except Exception as err:  # noqa: BLE001  (every request of the run gets it: an APIError, else a 500)
            results = [err] * len(live)
        for work, result in zip(live, results, strict=True):
            work.loop.call_soon_threadsafe(_set, work.future, result)
        stats = self.stats
        stats.running = 0
        stats.runs += 1
        stats.requests += len(live)
        stats.texts += len(texts)
        stats.most_merged = max(stats.most_merged, len(live))



def _set(future: asyncio.Future[Any], result: Any) -> None:
    """Hand a request its share (an exception is raised to it); nothing when it was cancelled while it ran."""
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
