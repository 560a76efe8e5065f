"""Structured access logs: one JSON object per request on the ``easynlu.serve.access`` logger.

Each line has the client, method, path, status and milliseconds, plus what the route noted
(model, inputs, characters, tokens, whether the client went away). Never a text, a header or
the API key.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("easynlu.serve.access")


class AccessLog:
    """ASGI middleware: logs each HTTP request when its response has been sent (or has failed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, noting the status it is answered with."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client") or ("-", 0)
            line: dict[str, Any] = {"client": f"{client[0]}:{client[1]}", "method": scope["method"],
                                    "path": scope["path"], "status": status,
                                    "ms": round(1000 * (time.perf_counter() - started), 1)}
            line.update(scope.get("state", {}).get("log") or {})
            access_log.info(json.dumps(line, ensure_ascii=False))
