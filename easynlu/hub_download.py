"""The one download from the Hugging Face Hub: bounded in time, quiet, the files a model needs, errors explained.

(``sources`` decides when to download; ``hub_cache`` holds the user's cache commands.)

``download_repo`` asks the Hub once for the repo's listing (``model_info``, with a timeout, so a
machine without network learns it in seconds, not after huggingface_hub's five retries), then
lets huggingface_hub's ``snapshot_download`` fetch the chosen files into its cache (``.incomplete``
until whole, then moved into place). 429 and 5xx answers are retried a bounded number of times
with one line of notice; everything else becomes a ModelUnavailableError that says what was tried
and how to fix it. huggingface_hub is imported inside the functions.
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import catalogue
from .errors import ModelUnavailableError, OptionError

# Exception class names (anywhere in the class's bases) that mean the Hub could not be reached,
# whichever HTTP library huggingface_hub uses (httpx, httpx2, requests).
_UNREACHABLE = {"TransportError", "ConnectError", "ConnectionError", "TimeoutException", "Timeout",
                "LocalEntryNotFoundError"}
DEFAULT_TIMEOUT = 10.0  # seconds easynlu waits for the Hub to answer, unless told otherwise
_RETRY_STATUS = (429, 500, 502, 503, 504)
_RETRIES = 2  # more tries after the first, for a status above
_RETRY_WAIT = 0.5  # seconds before the first retry; doubled each time


def hub_timeout() -> float:
    """Seconds to wait for each answer of the Hub: EASYNLU_HUB_TIMEOUT, else HF_HUB_ETAG_TIMEOUT, else 10.

    Raises OptionError for a value that is not a positive number.
    """
    for name in ("EASYNLU_HUB_TIMEOUT", "HF_HUB_ETAG_TIMEOUT"):
        raw = os.environ.get(name, "").strip()
        if raw:
            try:
                value = float(raw)
            except ValueError:
                value = 0.0
            if not value > 0:
                raise OptionError(f"{name}={raw!r} is not a number of seconds; set it to e.g. {name}=10.")
            return value
    return DEFAULT_TIMEOUT


def _endpoint() -> str:
    """HF_ENDPOINT read now (huggingface_hub reads it once, at import), else huggingface.co."""
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or "https://huggingface.co"


@contextmanager
def _bounded_and_quiet(timeout: float) -> Iterator[None]:
    """huggingface_hub's file reads time out after ``timeout`` and its "Retrying in Ns" lines are hidden."""
    from huggingface_hub import constants

    chatty = [logging.getLogger(f"huggingface_hub.{name}") for name in ("utils._http", "file_download")]
    levels, saved = [log.level for log in chatty], constants.HF_HUB_DOWNLOAD_TIMEOUT
    for log in chatty:
        log.setLevel(logging.ERROR)
    if os.environ.get("EASYNLU_HUB_TIMEOUT", "").strip():
        constants.HF_HUB_DOWNLOAD_TIMEOUT = timeout  # type: ignore[assignment]
    try:
        yield
    finally:
        for log, level in zip(chatty, levels, strict=True):
            log.setLevel(level)
        constants.HF_HUB_DOWNLOAD_TIMEOUT = saved


def _status(err: BaseException) -> int | None:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None)


def _model_info(repo_id: str, endpoint: str, timeout: float) -> list[str]:
    """The repo's file names, in one request that waits at most ``timeout`` (it also tells
    quickly whether the Hub is reachable at all); 429 and 5xx are tried again ``_RETRIES`` times with
    one line of notice on stderr. Raises what huggingface_hub raises."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint)
    for attempt in range(_RETRIES + 1):
        try:
            info = api.model_info(repo_id, timeout=timeout)
            return [s.rfilename for s in info.siblings or []]
        except Exception as err:
            status = _status(err)
            if status not in _RETRY_STATUS or attempt == _RETRIES:
                raise
            if attempt == 0:
                print(f"easynlu: the Hub answered HTTP {status} for {repo_id}; trying {_RETRIES} more times",
                      file=sys.stderr)
            time.sleep(_RETRY_WAIT * 2**attempt)
    raise AssertionError("unreachable")


def download_repo(repo_id: str, config_files: list[str], cache_dir: str | None) -> Path:
    """Fetch ``repo_id``'s ``config_files`` (glob patterns) and weights (safetensors if the repo has any,
    else pytorch_model*.bin) into the Hugging Face cache ``cache_dir``; return its snapshot directory.

    The Hub is HF_ENDPOINT (read now); each answer is awaited at most :func:`hub_timeout` seconds;
    429 and 5xx answers are tried again twice. (The commit is not passed on as the revision:
    huggingface_hub would then not record it as ``refs/main``, and offline loads would not find it.)
    Files are written by huggingface_hub (``.incomplete`` until whole, then moved into place), so an
    interrupted download is never taken as complete.
    Raises ModelUnavailableError saying what was tried and how to fix it.
    """
    from huggingface_hub import snapshot_download

    endpoint, timeout = _endpoint(), hub_timeout()
    try:
        with _bounded_and_quiet(timeout):
            files = _model_info(repo_id, endpoint, timeout)
            has_safetensors = any(f.endswith(".safetensors") for f in files)
            weights = ["*.safetensors"] if has_safetensors else ["pytorch_model*.bin"]  # shards and their index
            path = snapshot_download(repo_id, allow_patterns=config_files + weights,
                                     cache_dir=cache_dir, endpoint=endpoint, etag_timeout=timeout)
    except Exception as err:
        raise download_error(repo_id, err, endpoint, timeout) from err
    return Path(path)


_GO_OFFLINE = ("to work without network, set HF_HUB_OFFLINE=1 and use models already cached; to prepare "
               "this machine, run `easynlu download REF` on a machine with network and copy its Hugging Face "
               "cache here, or `pipe.save(dir)` there and `easynlu.load(dir)` here")


def download_error(model: str, err: Exception, endpoint: str = "https://huggingface.co",
                    timeout: float = DEFAULT_TIMEOUT) -> ModelUnavailableError:
    """What went wrong with a download of ``model`` from ``endpoint``, and the fix, as an error to raise."""
    from huggingface_hub.errors import GatedRepoError, OfflineModeIsEnabled, RepositoryNotFoundError

    names = {cls.__name__ for cls in type(err).__mro__}
    first_line = (str(err).splitlines() or [""])[0]
    status = _status(err)
    what = f"a download from the Hub ({endpoint}): failed ({type(err).__name__}: {first_line})"
    if isinstance(err, OfflineModeIsEnabled):
        tried = "a download from the Hub: refused, HF_HUB_OFFLINE was set when huggingface_hub was imported"
        fix = "unset HF_HUB_OFFLINE before starting Python, then run the download again"
    elif isinstance(err, GatedRepoError):
        tried = f"a download from the Hub ({endpoint}): {model} is gated (HTTP {status}), it needs a logged-in user"
        fix = (f"accept the model's terms on {endpoint}/{model}, then log in: set HF_TOKEN=hf_... "
               f"(a token from {endpoint}/settings/tokens) or run `hf auth login`")
    elif isinstance(err, RepositoryNotFoundError):
        tried = f"a download from the Hub ({endpoint}): the Hub has no model {model} (or it is private)"
        close = difflib.get_close_matches(model, sorted({e.model for e in catalogue.entries().values()}), 3, 0.6)
        hint = f"did you mean {', '.join('hf:' + c for c in close)}? " if close else ""
        fix = f"{hint}check the model id; `easynlu models` lists the catalogue refs; for a private model, set HF_TOKEN"
    elif names & {"RemoteProtocolError", "ReadError"}:
        tried = f"a download from the Hub ({endpoint}): the connection broke during the download ({first_line})"
        fix = f"run it again: the download starts over (nothing half-written is kept as complete); {_GO_OFFLINE}"
    elif names & _UNREACHABLE or isinstance(err, (ConnectionError, TimeoutError)):
        timed_out = "Timeout" in "".join(names)
        how = f"no answer within {timeout:g} s (EASYNLU_HUB_TIMEOUT)" if timed_out else type(err).__name__
        tried = f"a download from the Hub ({endpoint}): the Hub is unreachable ({how})"
        fix = f"check your network connection or proxy (HTTPS_PROXY, HF_ENDPOINT); {_GO_OFFLINE}"
    elif status is not None:
        tried = f"a download from the Hub ({endpoint}): the Hub answered HTTP {status}" + (
            f", also after {_RETRIES} more tries" if status in _RETRY_STATUS else "")
        fix = f"try again later (the Hub may be busy or down); {_GO_OFFLINE}"
    else:
        tried, fix = what, "check the model id and your network, or pass a local directory path"
    return ModelUnavailableError(f"Cannot download {model}.", [tried], fix)


__all__ = ["DEFAULT_TIMEOUT", "download_error", "download_repo", "hub_timeout"]
