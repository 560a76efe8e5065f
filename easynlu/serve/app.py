"""The ASGI app, on Starlette: OpenAI's ``POST /v1/embeddings``, easynlu's ``POST /v1/predict``, models, health.

:func:`make_app` loads nothing itself: it takes pipelines already made (``easynlu.load``), runs
each once (its weights load now, not at the first request, and its vector length is known) and
gives each its :class:`~easynlu.serve.batcher.Batcher`. Every request is checked (size, key,
fields), waits for its share of a merged model run, and is answered in JSON; a refusal has
OpenAI's error body. A request whose client goes away, or whose time (``Limits.timeout``) is up,
leaves the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import OptionError
from . import auth, schema, work
from .access import AccessLog
from .batcher import Batcher
from .limits import APIError, Limits, bad_request, busy, too_large

if TYPE_CHECKING:
    from ..protocol import Embedder

log = logging.getLogger("easynlu.serve")


@dataclass
class Served:
    """One served model: its pipeline, its vectors' length and its batcher."""

    name: str
    pipe: Embedder
    dim: int
    batcher: Batcher


@dataclass
class Serving:
    """The app's state: the models, the limits, the key, and whether it is shutting down."""

    models: dict[str, Served]
    limits: Limits
    key: str | None
    closing: bool = False
    started: int = field(default_factory=lambda: int(time.time()))

    def close(self) -> None:
        """Refuse new requests (503) and let the batchers finish what they hold."""
        self.closing = True
        for served in self.models.values():
            served.batcher.close()


def make_app(pipes: Mapping[str, Embedder], limits: Limits | None = None, api_key: str | None = None) -> Starlette:
    """An ASGI app serving each pipeline of ``pipes`` under its name (the ``model`` of requests).

    Each pipeline runs once here (its weights load). ``api_key``: None serves without a key
    (see :func:`easynlu.serve.auth.api_key` for the environment variable). Raises what the
    pipelines raise when they cannot load.
    """
    limits = limits or Limits()
    models = {}
    for name, pipe in pipes.items():
        started = time.perf_counter()
        dim = int(pipe.embed(["warm up"], progress=False).shape[1])

        def compute(key: Hashable, texts: list[str], sizes: list[int], pipe: Embedder = pipe) -> Any:
            run = work.embed if key[0] == "embed" else work.predict  # type: ignore[index]
            return run(pipe, key, texts, sizes)

        batcher = Batcher(name, compute, limits.queue_size, limits.batch_texts, limits.merge)
        models[name] = Served(name, pipe, dim, batcher)
        placed = pipe.placement
        log.info("model %r ready: %d-dim vectors, %s on %s (%s), %.1f s", name, dim, placed.backend, placed.device,
                 placed.dtype, time.perf_counter() - started)
    serving = Serving(models, limits, api_key)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(serving.close)  # in-flight requests have finished: stop the workers

    routes = [Route("/v1/embeddings", _endpoint(embeddings), methods=["POST"]),
              Route("/v1/predict", _endpoint(predict), methods=["POST"]),
              Route("/v1/models", _endpoint(list_models), methods=["GET"]),
              Route("/health", health, methods=["GET"])]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
    app.state.serving = serving
    app.add_middleware(AccessLog)
    return app


Handler = Callable[[Request, Serving], Awaitable[Response]]


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` behind the checks every API route shares: shutting down, the key; errors as OpenAI's body."""

    async def endpoint(request: Request) -> Response:
        serving: Serving = request.app.state.serving
        try:
            if serving.closing:
                raise busy("The server is shutting down: retry on another instance, or once it has restarted.", 5)
            auth.check(request.headers.get("authorization"), serving.key)
            return await handler(request, serving)
        except APIError as err:
            return error_response(err)
        except OptionError as err:  # a value only the model can judge, e.g. layers it does not have
            return error_response(bad_request(str(err).partition("=")[0], str(err)))
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return error_response(APIError(500, "The server failed on this request (its log says why): retry, or "
                                                "report it with the log.", code="internal_error"))

    return endpoint


def error_response(err: APIError) -> JSONResponse:
    """An APIError as OpenAI's error body with its status (and Retry-After for a 503)."""
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (an unknown path, a wrong method) with OpenAI's error body."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    routes = "POST /v1/embeddings, POST /v1/predict, GET /v1/models, GET /health"
    message = {404: f"No route {request.url.path}: this server has {routes}.",
               405: f"{request.method} is not allowed on {request.url.path}: this server has {routes}."}
    return error_response(APIError(status, message.get(status, str(getattr(exc, "detail", exc)))))


async def _body(request: Request, limits: Limits) -> dict[str, Any]:
    """The JSON body, read no further than ``limits.max_body_bytes`` (413 past it)."""
    limit = limits.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large("body", f"The request body has {declared} bytes; this server reads at most {limit} "
                                f"(from --max-chars): send fewer or shorter texts.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large("body", f"The request body is over {limit} bytes (from --max-chars): send fewer or "
                                    f"shorter texts.")
        chunks.append(chunk)
    return schema.read_json(b"".join(chunks))


async def _wait(request: Request, serving: Serving, served: Served, key: Hashable, texts: list[str]) -> Any:
    """This request's share of a model run; 504 past the timeout. A client that goes away withdraws it."""
    job = asyncio.ensure_future(served.batcher.submit(key, texts))
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({job, gone}, timeout=serving.limits.timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if job in done:
        return job.result()
    job.cancel()
    await asyncio.gather(job, return_exceptions=True)  # out of the queue now
    if gone in done:
        request.state.log = {**getattr(request.state, "log", {}), "client_gone": True}
        raise APIError(499, "The client closed the connection; the request was withdrawn.", code="client_closed")
    raise APIError(504, f"The request did not finish within {serving.limits.timeout:g} s (--timeout): send fewer "
                        f"texts at once, or retry when the server is less busy.", code="timeout")


async def _disconnected(request: Request) -> None:
    """Return when the client disconnects (the body has been read, so only that message can come)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _note(request: Request, model: str, texts: list[str], tokens: int | None = None) -> None:
    """What the access log adds to this request's line (never a text, never the key)."""
    request.state.log = {"model": model, "inputs": len(texts), "chars": sum(map(len, texts)),
                         **({} if tokens is None else {"tokens": tokens})}


async def embeddings(request: Request, serving: Serving) -> Response:
    """``POST /v1/embeddings``: OpenAI's embeddings API."""
    body = await _body(request, serving.limits)
    dims = {name: served.dim for name, served in serving.models.items()}
    asked = schema.embedding_request(body, dims, serving.limits)
    _note(request, asked.model, asked.texts)
    result: work.Embedded = await _wait(request, serving, serving.models[asked.model], work.embed_key(), asked.texts)
    _note(request, asked.model, asked.texts, result.tokens)
    return JSONResponse(schema.embeddings_response(asked.model, result.vectors, result.tokens, asked.encoding_format))


async def predict(request: Request, serving: Serving) -> Response:
    """``POST /v1/predict``: ``predict``'s rows (token, sentence or document) with offsets, as JSON."""
    body = await _body(request, serving.limits)
    asked = schema.predict_request(body, serving.models, serving.limits)
    _note(request, asked.model, asked.texts)
    key = work.predict_key(asked.level, asked.options)
    result: work.Predicted = await _wait(request, serving, serving.models[asked.model], key, asked.texts)
    _note(request, asked.model, asked.texts, result.tokens)
    return JSONResponse({"object": "list", "model": asked.model, "level": result.level, "columns": result.columns,
                         "data": result.rows, "usage": {"prompt_tokens": result.tokens, "total_tokens": result.tokens}})


async def list_models(request: Request, serving: Serving) -> Response:
    """``GET /v1/models``: the served models, as OpenAI lists them."""
    data = [{"id": name, "object": "model", "created": serving.started, "owned_by": "easynlu",
             "dimensions": served.dim, "refs": [c.ref for c in served.pipe.components]}
            for name, served in serving.models.items()]
    return JSONResponse({"object": "list", "data": data})


async def health(request: Request) -> Response:
    """``GET /health`` (no key needed): 200 while serving, 503 while shutting down; each model's queue and runs."""
    serving: Serving = request.app.state.serving
    models = {name: {"queued": s.batcher.queued, **vars(s.batcher.stats)} for name, s in serving.models.items()}
    status = "shutting down" if serving.closing else "ok"
    return JSONResponse({"status": status, "models": models}, status_code=503 if serving.closing else 200)
