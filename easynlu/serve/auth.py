"""The API key: ``Authorization: Bearer KEY`` compared in constant time; the key itself is never logged."""

from __future__ import annotations

import hmac
import os

from .limits import APIError

KEY_VARIABLE = "EASYNLU_API_KEY"


def api_key(given: str | None) -> str | None:
    """The key the server requires: ``given`` (``--api-key``), else $EASYNLU_API_KEY, else None (no key)."""
    key = given if given is not None else os.environ.get(KEY_VARIABLE)
    return key or None


def check(header: str | None, key: str | None) -> None:
    """Raise a 401 APIError unless ``header`` is ``Bearer <key>`` (nothing to check when ``key`` is None)."""
    if key is None:
        return
    scheme, _, sent = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not sent:
        raise APIError(401, "This server needs an API key: send the header 'Authorization: Bearer <key>' (the key "
                            f"the server was started with, --api-key or ${KEY_VARIABLE}).", code="missing_api_key")
    if not hmac.compare_digest(sent.strip().encode("utf-8"), key.encode("utf-8")):
        raise APIError(401, "Incorrect API key: send the key the server was started with (--api-key or "
                            f"${KEY_VARIABLE}) as 'Authorization: Bearer <key>'.", code="invalid_api_key")
