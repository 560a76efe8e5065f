"""Running the app with uvicorn: logging set up, a warning for an open address without a key, graceful shutdown.

On SIGINT/SIGTERM new requests get 503 at once, requests in flight finish (up to the request
timeout), then the batchers stop. Progress bars are off and Python warnings go to the log, so
nothing but JSON reaches the clients.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import auth
from .app import Serving, make_app
from .limits import Limits

if TYPE_CHECKING:
    import uvicorn

    from ..protocol import Embedder

log = logging.getLogger("easynlu.serve")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def setup_logging(level: str = "info") -> None:
    """easynlu's and uvicorn's logs, and Python warnings, as lines on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("easynlu", "uvicorn", "py.warnings"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.captureWarnings(True)


def server(pipes: Mapping[str, Embedder], *, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
           limits: Limits | None = None, log_level: str = "info") -> uvicorn.Server:
    """A uvicorn server for the app of :func:`~easynlu.serve.app.make_app` (models loaded now), not started:
    ``.run()`` serves until SIGINT/SIGTERM, or until :func:`stop` from another thread."""
    import uvicorn

    limits = limits or Limits()
    key = auth.api_key(api_key)
    if host not in LOOPBACK and key is None:
        log.warning("serving on %s with no API key: anyone who can reach this address can use the models; pass "
                    "--api-key or set $%s", host, auth.KEY_VARIABLE)
    app = make_app(pipes, limits, key)
    serving: Serving = app.state.serving

    class Server(uvicorn.Server):
        """uvicorn's server, whose shutdown first turns new requests away."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            serving.closing = True  # new requests: 503; those in flight finish
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, log_level=log_level,
                            lifespan="on", timeout_graceful_shutdown=int(limits.timeout) + 5)
    running = Server(config)
    running.serving = serving  # type: ignore[attr-defined]
    return running


def stop(running: uvicorn.Server) -> None:
    """Shut ``running`` down as SIGTERM would (from any thread)."""
    running.handle_exit(0, None)


def run(pipes: Mapping[str, Embedder], *, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
        limits: Limits | None = None, log_level: str = "info") -> None:
    """Serve ``pipes`` (name -> pipeline) over HTTP until interrupted; see :func:`server`."""
    setup_logging(log_level)
    running = server(pipes, host=host, port=port, api_key=api_key, limits=limits, log_level=log_level)
    log.info("serving %s on http://%s:%d (POST /v1/embeddings, POST /v1/predict, GET /v1/models, GET /health)%s",
             ", ".join(map(repr, pipes)), host, port, ", API key required" if auth.api_key(api_key) else "")
    running.run()
