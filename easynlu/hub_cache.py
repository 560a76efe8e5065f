"""The user's commands on the Hugging Face cache: fetch models ahead of time, list them, delete them.

easynlu's own derived files (ONNX exports and their int8 copies, in easynlu's cache) are listed
with the model they were made from and deleted with it; ``prune`` deletes the ones no load uses now.

(``sources`` finds a model's files when it loads; ``hub_download`` is the one download from the Hub.)
Downloading is ``sources.download`` (``hub_download.download_repo``: huggingface_hub's ``snapshot_download``,
bounded in time, with its own progress bars); listing and deleting are huggingface_hub's ``scan_cache_dir`` and
``delete_revisions``. easynlu walks no cache directory by hand. huggingface_hub is imported
inside the functions, so importing this module stays light.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import catalogue, sources
from .backends.exports import Export, listing, model_name, remove
from .errors import ModelUnavailableError, OptionError, OptionTypeError
from .resolve import Component, resolve

if TYPE_CHECKING:
    from huggingface_hub import CachedRepoInfo, HFCacheInfo

@dataclass(frozen=True)
class CachedModel:
    """A model repo in the Hugging Face cache: its id, the catalogue refs naming it, its size."""

    model: str  # Hugging Face id, e.g. "google/bert_uncased_L-2_H-128_A-2"
    refs: tuple[str, ...]  # catalogue refs naming it; () for a repo the catalogue does not know
    size_bytes: int  # sum of its blob files
    revisions: int  # how many revisions (commits) are cached
    path: Path  # its folder in the cache, models--ORG--NAME
    exports_bytes: int = 0  # easynlu's ONNX exports made from it (float32 and int8), in easynlu's cache


@dataclass(frozen=True)
class Fetched:
    """What ``fetch`` did for one model of a request."""

    ref: str  # the component's canonical ref
    model: str  # Hugging Face id, or the directory path
    path: Path  # where the model's files are now
    how: str  # "downloaded", "packaged" or "directory"


def fetch(request: str | os.PathLike[str], *, force: bool = False) -> Iterator[Fetched]:
    """Make each model of ``request`` available offline, yielding what was done, one model at a time.

    Hub models (catalogue refs and ``hf:ORG/NAME``) are downloaded into the Hugging Face cache
    (safetensors weights if the repo has any, else pytorch_model.bin, plus config, tokenizer and
    sentence-transformers files); files already cached and current are not fetched again. A
    model shipped in an installed package needs nothing (unless ``force=True``); a directory
    needs nothing. The same model named twice is fetched once.

    Raises UnknownReferenceError for a bad ref, ModelUnavailableError when offline
    (HF_HUB_OFFLINE=1) or when a download fails or gives unusable files.
    """
    seen: set[str] = set()
    for comp in _components(request):
        if comp.model in seen:
            continue
        seen.add(comp.model)
        yield _fetch_one(comp, force)


def download(request: str | os.PathLike[str], *, force: bool = False) -> list[Path]:
    """Fetch every model of ``request`` now, so that later loads work offline; see :func:`fetch`.

    Returns, per model (in request order, each model once), the directory its files are in:
    the Hugging Face cache snapshot, the installed package's folder, or the directory itself.
    """
    return [done.path for done in fetch(request, force=force)]


def _components(request: str | os.PathLike[str]) -> tuple[Component, ...]:
    """The request's components; unlike a pipeline, it may name one model twice (e.g. by an alias)."""
    try:
        return resolve(request)
    except OptionTypeError:
        raise
    except OptionError:  # the same model twice: fine here, each model is handled once
        return tuple(comp for token in os.fspath(request).split() for comp in resolve(token))


def _fetch_one(comp: Component, force: bool) -> Fetched:
    if comp.source == "path":
        return Fetched(comp.ref, comp.model, Path(comp.model), "directory")
    entry = catalogue.packaged(comp.model)
    if entry is not None and entry.package and not force:
        found = sources.from_package(entry.package, entry.sha256)
        if found is not None:
            return Fetched(comp.ref, comp.model, found, "packaged")
    if sources.is_offline():
        raise ModelUnavailableError(
            f"Cannot download {comp.model}: downloading needs the network, and HF_HUB_OFFLINE is set.",
            fix="unset HF_HUB_OFFLINE (e.g. `HF_HUB_OFFLINE=0 easynlu download ...`) and run it again")
    path = sources.download(comp.model)
    sources.check_model_dir(path)
    return Fetched(comp.ref, comp.model, path, "downloaded")


# -- the cache ---------------------------------------------------------------------------------
def cache_dir() -> Path:
    """The Hugging Face cache easynlu reads: HF_HUB_CACHE, else HF_HOME/hub, else huggingface_hub's default."""
    chosen = sources._cache_dir()
    if chosen is not None:
        return Path(chosen)
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _scan() -> HFCacheInfo | None:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        return scan_cache_dir(cache_dir())
    except CacheNotFound:  # nothing was ever cached
        return None


def _describe(repo: CachedRepoInfo, derived: list[CachedExport]) -> CachedModel:
    refs = tuple(e.ref for e in catalogue.for_model(repo.repo_id))
    exports_bytes = sum(d.export.size_bytes for d in derived if d.model.lower() == repo.repo_id.lower())
    return CachedModel(repo.repo_id, refs, repo.size_on_disk, len(repo.revisions), repo.repo_path, exports_bytes)


def cached_models(all: bool = False) -> list[CachedModel]:
    """The models in the Hugging Face cache that the catalogue knows, sorted by model id.

    ``all=True`` lists every cached model repo, the ones the catalogue does not know with
    ``refs=()``. An absent cache is an empty list.
    """
    info = _scan()
    if info is None:
        return []
    repos = [r for r in info.repos if r.repo_type == "model" and (all or catalogue.for_model(r.repo_id))]
    derived = cached_exports()
    return sorted((_describe(r, derived) for r in repos), key=lambda m: m.model.lower())


# -- easynlu's own derived files ---------------------------------------------------------------------
@dataclass(frozen=True)
class CachedExport:
    """An ONNX export in easynlu's cache, with the model it was made from."""

    model: str  # ORG/NAME of the model (a Hub id, or a catalogue model's package), else its directory
    export: Export


def cached_exports() -> list[CachedExport]:
    """easynlu's ONNX exports (float32 and int8), each with its model; sorted by model."""
    found = [CachedExport(model_name(e.source) if e.source else "unknown", e) for e in listing()]
    return sorted(found, key=lambda d: (d.model.lower(), d.export.quantize or ""))


def prune() -> list[CachedExport]:
    """Delete the exports no load would use now (made by another torch or easynlu, or whose model is gone)."""
    stale = [d for d in cached_exports() if not d.export.current]
    for d in stale:
        remove(d.export)
    return stale


def delete_exports() -> list[CachedExport]:
    """Delete every easynlu ONNX export; the models stay. The next ONNX load of a model exports it again."""
    every = cached_exports()
    for d in every:
        remove(d.export)
    return every


def _delete_exports_of(model: str) -> int | None:
    mine = [d.export for d in cached_exports() if d.model.lower() == model.lower()]
    return sum(remove(e) for e in mine) if mine else None


def delete_each(request: str | os.PathLike[str]) -> Iterator[tuple[str, int | None]]:
    """Delete every cached revision of each Hub model of ``request``, and its ONNX exports, one model at a time.

    Yields ``(model id, bytes freed)``, with None for a model that had nothing cached.
    Raises UnknownReferenceError for a bad ref, OptionError for a directory path (easynlu
    deletes only what the Hugging Face cache holds).
    """
    components = _components(request)
    for comp in components:
        if comp.source == "path":
            raise OptionError(f"{comp.model} is a directory of yours, not a model in the Hugging Face cache; "
                              f"easynlu deletes only cached Hub models (delete the directory yourself).")
    seen: set[str] = set()
    for comp in components:
        if comp.model.lower() in seen:
            continue
        seen.add(comp.model.lower())
        freed = [n for n in (_delete_model(comp.model), _delete_exports_of(comp.model)) if n is not None]
        yield comp.model, sum(freed) if freed else None


def _delete_model(model: str) -> int | None:
    info = _scan()
    repo = None if info is None else next(
        (r for r in info.repos if r.repo_type == "model" and r.repo_id.lower() == model.lower()), None)
    if info is None or repo is None:
        return None
    strategy = info.delete_revisions(*(rev.commit_hash for rev in repo.revisions))
    strategy.execute()
    return strategy.expected_freed_size


def delete_cached(request: str | os.PathLike[str]) -> int:
    """Delete the cached files of each Hub model of ``request``; returns the bytes freed (0 if none was cached).

    Raises UnknownReferenceError for a bad ref, OptionError for a directory path.
    """
    return sum(freed or 0 for _, freed in delete_each(request))


__all__ = ["CachedExport", "CachedModel", "Fetched", "cache_dir", "cached_exports", "cached_models", "delete_cached",
           "delete_each", "delete_exports", "download", "fetch", "prune"]
