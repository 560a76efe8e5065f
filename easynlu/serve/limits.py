"""The server's limits (queue, inputs, characters, time) and its errors, as OpenAI-style JSON bodies.

Every refusal is an :class:`APIError` with an HTTP status, a message that names the limit or the
field and what to send instead, and the ``type``/``param``/``code`` fields of OpenAI's error body,
so OpenAI clients raise their usual exceptions (``BadRequestError``, ``NotFoundError``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import OptionError


@dataclass(frozen=True)
class Limits:
    """What one request may ask, and how much work may wait; checked when made.

    ``max_inputs`` texts and ``max_chars`` characters (all texts together) per request;
    ``queue_size`` texts waiting per model before new requests get 503; ``batch_texts`` texts
    per merged run of the model; ``timeout`` seconds a request may wait and run; ``merge``
    False runs each request alone (no dynamic batching).
    """

    max_inputs: int = 2048
    max_chars: int = 1_000_000
    queue_size: int = 8192
    batch_texts: int = 512
    timeout: float = 60.0
    merge: bool = True

    def __post_init__(self) -> None:
        for name in ("max_inputs", "max_chars", "queue_size", "batch_texts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OptionError(f"{name}={value!r}: pass a positive int.")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or self.timeout <= 0:
            raise OptionError(f"timeout={self.timeout!r}: pass a positive number of seconds.")
        if self.queue_size < self.max_inputs:
            raise OptionError(f"queue_size={self.queue_size} is smaller than max_inputs={self.max_inputs}: a request "
                              f"of max_inputs texts could never be queued; raise queue_size or lower max_inputs.")

    @property
    def max_body_bytes(self) -> int:
        """The largest request body read: room for ``max_chars`` characters (4 bytes each in UTF-8, or 6 as
        JSON escapes) and the JSON around ``max_inputs`` strings."""
        return 6 * self.max_chars + 64 * self.max_inputs + 65536


class APIError(Exception):
    """A refusal: its HTTP ``status`` and OpenAI's error fields (``type``, ``param``, ``code``)."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type or _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


_TYPES = {401: "authentication_error", 404: "not_found_error", 413: "invalid_request_error",
          503: "overloaded_error", 504: "timeout_error"}


def bad_request(param: str, message: str) -> APIError:
    """A 400 about the request field ``param``."""
    return APIError(400, message, param=param, code="invalid_value")


def too_large(param: str, message: str) -> APIError:
    """A 413: the request is over one of the limits (the message names it and its flag)."""
    return APIError(413, message, param=param, code="request_too_large")


def busy(message: str, retry_after: int = 1) -> APIError:
    """A 503 with ``Retry-After``: the queue is full or the server is shutting down."""
    return APIError(503, message, code="overloaded", headers={"Retry-After": str(retry_after)})
