"""An easynlu server for tests: uvicorn in a thread on 127.0.0.1, a free port, bounded start and stop."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

START_SECONDS = 60


@dataclass
class Running:
    url: str  # http://127.0.0.1:PORT
    server: Any  # the uvicorn.Server of easynlu.serve.runner.server

    @property
    def serving(self):
        return self.server.serving


@contextlib.contextmanager
def running(pipes: dict, **options: Any) -> Iterator[Running]:
    """Serve ``pipes`` (name -> pipeline) until the block ends; ``options`` go to ``runner.server``."""
    from easynlu.serve import runner

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # a free port, held until uvicorn listens on it
    port = sock.getsockname()[1]
    server = runner.server(pipes, host="127.0.0.1", port=port, **options)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield Running(f"http://127.0.0.1:{port}", server)
    finally:
        runner.stop(server)
        thread.join(timeout=60)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"
