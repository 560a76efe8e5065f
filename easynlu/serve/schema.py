"""Requests read and checked field by field, and the responses' JSON: OpenAI's embeddings and easynlu's predict.

Each refusal is a 400 naming the field and what to send (413 for a request over a limit, 404 for a
model that is not served). Nothing a client sends names a file or a model to load: ``model`` picks
one of the models named when the server started.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import OptionError
from ..options import LAYER_POOLINGS, LEVELS, POOLINGS, SUBWORD_POOLINGS, Options, is_int
from .limits import APIError, Limits, bad_request, too_large

ENCODINGS = ("float", "base64")
EMBEDDING_FIELDS = ("input", "model", "encoding_format", "dimensions", "user")
# /v1/predict's fields besides input and model: predict's options, by type
PREDICT_CHOICES = {"level": LEVELS, "pooling": POOLINGS, "subword_pooling": SUBWORD_POOLINGS,
                   "layer_pooling": LAYER_POOLINGS}
PREDICT_FIELDS = ("input", "model", *PREDICT_CHOICES, "layers", "normalize")


@dataclass(frozen=True)
class EmbeddingRequest:
    """A checked ``POST /v1/embeddings``."""

    model: str
    texts: list[str]
    encoding_format: str
    single: bool  # input was one string


@dataclass(frozen=True)
class PredictRequest:
    """A checked ``POST /v1/predict``: ``level`` is None for the model's own; ``options`` are predict's keywords."""

    model: str
    texts: list[str]
    level: str | None
    options: dict[str, Any]


def read_json(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object; 400 otherwise."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise bad_request("body", f"The request body is not valid JSON ({err}): send a JSON object such as "
                                  f'{{"input": ["I love NLP"], "model": "..."}}.') from None
    if not isinstance(value, dict):
        raise bad_request("body", f"The request body is JSON {type(value).__name__}, not an object: send "
                                  f'{{"input": [...], "model": "..."}}.')
    return value


def model_of(body: Mapping[str, Any], served: Mapping[str, Any]) -> str:
    """The served model the request names (optional when one model is served); 400 or 404 otherwise."""
    names = ", ".join(map(repr, served))
    if "model" not in body or body["model"] is None:
        if len(served) == 1:
            return next(iter(served))
        raise bad_request("model", f"Missing field 'model': this server serves {names}; name one.")
    model = body["model"]
    if not isinstance(model, str):
        raise bad_request("model", f"'model' must be a string, not {_kind(model)}: one of {names}.")
    if model not in served:
        raise APIError(404, f"The model {model!r} is not served here. Served models: {names} (GET /v1/models "
                            f"lists them; a server serves only the models named when it started).",
                       param="model", code="model_not_found")
    return model


def texts_of(body: Mapping[str, Any], limits: Limits, blank_ok: bool) -> tuple[list[str], bool]:
    """``input`` as a list of texts, and whether it was one string; 400 for a wrong type, 413 over a limit."""
    if "input" not in body:
        raise bad_request("input", "Missing field 'input': send a string or a list of strings.")
    given = body["input"]
    single = isinstance(given, str)
    texts = [given] if single else given
    if not isinstance(texts, list):
        raise bad_request("input", f"'input' must be a string or a list of strings, not {_kind(given)}.")
    if not texts:
        raise bad_request("input", "'input' is an empty list: send at least one string.")
    if len(texts) > limits.max_inputs:
        raise too_large("input", f"'input' has {len(texts)} texts; this server takes at most {limits.max_inputs} "
                                 f"per request (--max-inputs): send them in several requests.")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            hint = " (token ids are not accepted: send the text)" if is_int(text) or isinstance(text, list) else ""
            raise bad_request("input", f"input[{i}] is {_kind(text)}, not a string{hint}.")
        if not blank_ok and not text.strip():
            raise bad_request("input", f"input[{i}] is empty or blank: every input must hold some text to embed.")
    chars = sum(len(text) for text in texts)
    if chars > limits.max_chars:
        raise too_large("input", f"'input' has {chars} characters in all; this server takes at most "
                                 f"{limits.max_chars} per request (--max-chars): send fewer or shorter texts.")
    return texts, single


def embedding_request(body: Mapping[str, Any], served: Mapping[str, int], limits: Limits) -> EmbeddingRequest:
    """Check an embeddings request; ``served`` maps each model to its vectors' length."""
    model = model_of(body, served)
    texts, single = texts_of(body, limits, blank_ok=False)
    encoding = body.get("encoding_format")
    encoding = "float" if encoding is None else encoding
    if encoding not in ENCODINGS:
        raise bad_request("encoding_format", f"encoding_format={encoding!r} is not supported: use 'float' or "
                                             f"'base64'.")
    dimensions, dim = body.get("dimensions"), served[model]
    if dimensions is not None:
        if not is_int(dimensions) or dimensions < 1:
            raise bad_request("dimensions", f"'dimensions' must be a positive integer, not {dimensions!r}.")
        if dimensions != dim:
            raise bad_request("dimensions", f"dimensions={dimensions}: the model {model!r} gives {dim}-dimensional "
                                            f"vectors and was not trained to be shortened (Matryoshka), so a cut "
                                            f"vector would lose quality silently: leave out 'dimensions' or pass "
                                            f"{dim}.")
    return EmbeddingRequest(model, texts, encoding, single)


def predict_request(body: Mapping[str, Any], served: Mapping[str, Any], limits: Limits) -> PredictRequest:
    """Check a predict request: its fields, their types, then their values (as ``Options`` checks them)."""
    unknown = [name for name in body if name not in PREDICT_FIELDS]
    if unknown:
        raise bad_request(unknown[0], f"Unknown field {unknown[0]!r}: /v1/predict takes "
                                      f"{', '.join(PREDICT_FIELDS)}.")
    model = model_of(body, served)
    texts, _ = texts_of(body, limits, blank_ok=True)
    options: dict[str, Any] = {}
    for name, allowed in PREDICT_CHOICES.items():
        value = body.get(name)
        if value is not None and value not in allowed:
            raise bad_request(name, f"{name}={value!r} is not supported: use one of {', '.join(map(repr, allowed))}.")
        if value is not None and name != "level":
            options[name] = value
    layers = body.get("layers")
    if layers is not None:
        if not (is_int(layers) or isinstance(layers, list) and layers and all(is_int(x) for x in layers)):
            raise bad_request("layers", f"layers={layers!r}: pass an int (-1 is the last layer) or a non-empty "
                                        f"list of ints.")
        options["layers"] = tuple(layers) if isinstance(layers, list) else layers
    normalize = body.get("normalize")
    if normalize is not None:
        if not isinstance(normalize, bool):
            raise bad_request("normalize", f"normalize={normalize!r}: pass true or false.")
        options["normalize"] = normalize
    try:
        Options(**options)
    except OptionError as err:  # a combination Options refuses
        raise bad_request(str(err).partition("=")[0], str(err)) from None
    return PredictRequest(model, texts, body.get("level"), options)


def embeddings_response(model: str, vectors: Any, tokens: int, encoding: str) -> dict[str, Any]:
    """OpenAI's embeddings response for ``vectors`` (a float32 matrix, one row per input, in order)."""
    if encoding == "base64":  # little-endian float32 bytes, as the openai client decodes them
        rows: list[Any] = [base64.b64encode(row.astype("<f4").tobytes()).decode("ascii") for row in vectors]
    else:
        rows = vectors.tolist()
    return {"object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)],
            "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _kind(value: Any) -> str:
    """A JSON value's kind, as a client would say it."""
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
