"""The encoders loaded in this process: each loads once, under a lock, and every pipeline shares it.

A model is keyed by (is a local path, model id or path, and its placement: device, dtype, backend,
quantisation, threads), so a catalogue ref and an ``hf:`` id naming the same Hub model share one
copy of its weights.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from . import backends, sources
from .backends import Backend
from .placement import Placement
from .resolve import Component

_Key = tuple[bool, str, Placement]

_MODELS: dict[_Key, Backend] = {}
_LOCKS: dict[_Key, threading.Lock] = {}
_GUARD = threading.Lock()
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """One loaded encoder: ``pd.DataFrame(easynlu.loaded_models())`` makes a table of them."""

    model: str  # Hugging Face id, or the directory the user named
    path: str  # the directory its files were read from
    device: str
    dtype: str
    memory_mb: float  # weights and buffers, approximately (MiB)
    backend: str = "torch"  # "torch" or "onnx"
    quantize: str | None = None


def _key(component: Component, placed: Placement) -> _Key:
    return (component.source == "path", component.model, placed)


def get(component: Component, placed: Placement, offline: bool | None) -> Backend:
    """The component's encoder as ``placed`` says (device, dtype, backend), loaded now if it is not yet.

    Raises ModelUnavailableError when no source has usable files; a failed load is not cached.
    """
    key = _key(component, placed)
    backend = _MODELS.get(key)
    if backend is not None:
        return backend
    with _GUARD:
        lock = _LOCKS.setdefault(key, threading.Lock())
    with lock:  # concurrent first calls load once
        if key not in _MODELS:
            path = sources.locate(component.source, component.model, offline=offline)
            started = time.perf_counter()
            _MODELS[key] = backend = backends.load(str(path), placed.device, placed.dtype, placed.requested,
                                                   placed.threads, placed.quantize, placed.share_cpu)
            _log.info("loaded %s from %s with %s on %s in %s in %.1f s", component.model, path, backend.name,
                      placed.device, placed.dtype, time.perf_counter() - started)
        return _MODELS[key]


def is_loaded(component: Component, placed: Placement) -> bool:
    """Whether the component's encoder is loaded as ``placed`` says."""
    return _key(component, placed) in _MODELS


def listing() -> list[LoadedModel]:
    """Every loaded encoder, in load order."""
    return [_describe(key, backend) for key, backend in list(_MODELS.items())]


def unload(components: Iterable[Component] | None = None) -> list[LoadedModel]:
    """Drop the encoders of ``components`` (all of them if None), on every device and dtype.

    Pipelines keep working: they load again on their next call. Returns what was dropped.
    """
    wanted = None if components is None else {(c.source == "path", c.model) for c in components}
    dropped = []
    with _GUARD:
        for key in list(_MODELS):
            if wanted is None or key[:2] in wanted:
                dropped.append(_describe(key, _MODELS.pop(key)))
    gc.collect()
    if dropped and "torch" in sys.modules:  # give a GPU's cached blocks back
        from .backends.device import free_cached_memory

        free_cached_memory()
    return dropped


def _describe(key: _Key, backend: Backend) -> LoadedModel:
    placed = key[2]
    return LoadedModel(key[1], backend.path, placed.device, placed.dtype, round(backend.memory_bytes() / 2**20, 1),
                       backend.name, placed.quantize)
