"""Pipeline: resolved components, lazily loaded encoders, and predict/embed."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from .resolve import Component

LEVELS = ("token", "sentence", "document")
LAYER_POOLING = ("mean", "concat")

# Loaded encoders, shared by every pipeline: (is a path, model, device, dtype) -> backend.
_MODELS: dict[tuple, object] = {}
_LOCKS: dict[tuple, threading.Lock] = {}
_GUARD = threading.Lock()
LOAD_COUNT = {"n": 0}  # how many encoders were actually loaded (tests read it)


def _key(component: Component, device: str, dtype: str) -> tuple:
    """A catalogue ref and ``hf:`` naming the same Hub id share one load."""
    return (component.source == "path", component.model, device, dtype)


def _shared_model(component: Component, device: str, dtype: str, offline):
    key = _key(component, device, dtype)
    if key in _MODELS:
        return _MODELS[key]
    with _GUARD:
        lock = _LOCKS.setdefault(key, threading.Lock())
    with lock:  # concurrent first calls load once
        if key not in _MODELS:
            from . import backends, sources

            entry = _entry_of(component)
            path = sources.locate(component.source, component.model,
                                  package=entry.package if entry else None,
                                  pip=entry.pip if entry else None, offline=offline,
                                  sha256=entry.sha256 if entry else None)
            _MODELS[key] = backends.load(str(path), device, dtype)
            LOAD_COUNT["n"] += 1
        return _MODELS[key]


def _entry_of(component: Component):
    """The component's catalogue entry; for hf:ORG/NAME, an entry that ships that model in a
    package, so it is found offline too."""
    if component.entry is not None:
        return component.entry
    from .catalogue import entries

    return next((e for e in entries().values() if e.model == component.model and e.package), None)


class Pipeline:
    """One or more embedding components run over the same texts.

    Created by ``easynlu.load``; weights load on the first ``predict``/``embed``.
    """

    def __init__(self, components: Sequence[Component], device=None, gpu: bool = False,
                 dtype=None, offline: bool | None = None):
        self.components = tuple(components)
        self._device_arg, self._gpu, self._dtype_arg, self.offline = device, gpu, dtype, offline
        self._device = self._dtype = None
        if gpu:  # fail at load() rather than at the first predict
            self._placement()

    # -- placement and loading ----------------------------------------------------------------
    def _placement(self) -> tuple[str, str]:
        if self._device is None:
            from .backends import choose_device, choose_dtype

            device = choose_device(self._device_arg, self._gpu)
            self._dtype = choose_dtype(self._dtype_arg, device)
            self._device = device
        return self._device, self._dtype

    def _parts(self):
        if not self.loaded:  # hash packaged weights while torch and transformers import
            from .sources import prefetch_digest

            for c in self.components:
                entry = _entry_of(c)
                if entry is not None:
                    prefetch_digest(entry.package, entry.sha256)
        from .compute import Part

        device, dtype = self._placement()
        return [Part(c.column, c.action, _shared_model(c, device, dtype, self.offline)) for c in self.components]

    @property
    def loaded(self) -> bool:
        if self._device is None:
            return False
        return all(_key(c, self._device, self._dtype) in _MODELS for c in self.components)

    @property
    def default_level(self) -> str:
        return "sentence" if self.components[0].action == "embed_sentence" else "token"

    @property
    def language(self) -> str:
        entry = self.components[0].entry
        return entry.language if entry else "en"

    # -- public API -------------------------------------------------------------------------
    def predict(self, data, output_level: str | None = None, *, positions: bool = False,
                pooling: str = "mean", subword_pooling: str = "first", layers=-1,
                layer_pooling: str = "mean", normalize: bool = False, batch_size: int | None = None,
                progress: bool | None = None, text_column=None):
        """Embeddings of ``data`` as a DataFrame at token, sentence or document level."""
        from . import frames, inputs

        level = self.default_level if output_level is None else output_level
        options = self._options(level, pooling, subword_pooling, layers, layer_pooling, normalize, batch_size)
        docs = inputs.read(data, text_column)
        encoded = self._encode(docs.texts, options, progress)
        return frames.build(encoded, docs, positions=positions)

    def embed(self, texts, *, pooling: str = "mean", subword_pooling: str = "first", layers=-1,
              layer_pooling: str = "mean", normalize: bool = False, batch_size: int | None = None,
              progress: bool | None = None, text_column=None) -> np.ndarray:
        """A 2-D float32 array, one document vector per text (NaN where a text has no tokens).

        With several components their vectors are concatenated, in pipeline order.
        """
        from . import inputs

        options = self._options("document", pooling, subword_pooling, layers, layer_pooling, normalize, batch_size)
        docs = inputs.read(texts, text_column)
        encoded = self._encode(docs.texts, options, progress)
        blocks = [encoded.vectors[c.column] for c in self.components]
        return blocks[0] if len(blocks) == 1 else np.ascontiguousarray(np.hstack(blocks))

    def _encode(self, texts, options, progress):
        from .compute import encode

        parts = self._parts()
        bar = _progress_bar(progress, len(texts))
        try:
            return encode(texts, parts, options, self.language, bar)
        finally:
            if bar is not None:
                bar.close()

    def _options(self, level, pooling, subword_pooling, layers, layer_pooling, normalize, batch_size):
        from .compute import Options
        from .pooling import POOLING, SUBWORD_POOLING

        _choice("output_level", level, LEVELS)
        _choice("pooling", pooling, POOLING)
        _choice("subword_pooling", subword_pooling, SUBWORD_POOLING)
        _choice("layer_pooling", layer_pooling, LAYER_POOLING)
        if isinstance(layers, (int, np.integer)) and not isinstance(layers, bool):
            layers = (int(layers),)
        elif isinstance(layers, (list, tuple)) and layers and all(
                isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in layers):
            layers = tuple(int(x) for x in layers)
        else:
            raise ValueError(f"layers={layers!r}: pass an int (-1 is the last layer) or a non-empty list of ints.")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size={batch_size!r}: pass a positive int (texts per batch) or None.")
        return Options(level, pooling, subword_pooling, layers, layer_pooling, bool(normalize), batch_size)

    def info(self) -> dict:
        """The refs, models, device, dtype and whether the weights are loaded yet."""
        return {
            "refs": [c.ref for c in self.components],
            "models": [c.model for c in self.components],
            "actions": [c.action for c in self.components],
            "columns": [c.column for c in self.components],
            "device": self._device or ("cuda" if self._gpu else f"auto ({self._device_arg or 'cuda > mps > cpu'})"),
            "dtype": self._dtype or (self._dtype_arg or "auto (float32 on CPU, float16 on CUDA)"),
            "loaded": self.loaded,
        }

    def __repr__(self) -> str:
        info = self.info()
        refs = ", ".join(f"{r} ({m})" for r, m in zip(info["refs"], info["models"]))
        state = "loaded" if info["loaded"] else "not loaded yet"
        return f"Pipeline([{refs}], device={info['device']}, dtype={info['dtype']}, {state})"


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported: use one of {', '.join(map(repr, allowed))}.")


def _progress_bar(progress, n_texts: int):
    """tqdm.auto (works in notebooks); by default it shows after 2 s, at once for >1000 texts."""
    if progress is False:
        return None
    from tqdm.auto import tqdm

    delay = 0 if progress or n_texts > 1000 else 2
    return tqdm(total=0, unit="window", desc="easynlu", delay=delay, leave=False)
