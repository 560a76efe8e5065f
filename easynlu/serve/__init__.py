"""``easynlu serve``: an OpenAI-compatible embedding server with dynamic batching, and predict over HTTP.

    easynlu serve en.embed_sentence.minilm --port 8000         # the command line (easynlu.cli)

or from Python, with pipelines made by ``easynlu.load``::

    from easynlu import serve
    serve.run({"minilm": easynlu.load("en.embed_sentence.minilm")}, port=8000)

Needs the ``serve`` extra (starlette, uvicorn): ``pip install "easynlu[serve]"``. The modules:
``app`` (routes), ``schema`` (requests and responses), ``batcher`` (dynamic batching), ``work``
(one merged run), ``limits`` (limits and errors), ``auth`` (the API key), ``access`` (logs),
``runner`` (uvicorn).
"""

from __future__ import annotations

from typing import Any

from .limits import Limits

__all__ = ["Limits", "make_app", "run", "server"]


def __getattr__(name: str) -> Any:
    """``make_app``, ``run`` and ``server``, imported when first used (they import starlette)."""
    if name == "make_app":
        from .app import make_app

        return make_app
    if name in ("run", "server"):
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'easynlu.serve' has no attribute {name!r}")
