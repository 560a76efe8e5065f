"""Pipeline: resolved components, placed on a device, and predict/embed over them."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import loaded
from .options import LayerPooling, Level, Options, Pooling, SubwordPooling
from .resolve import Component

if TYPE_CHECKING:
    import pandas as pd
    from tqdm.auto import tqdm

    from .compute import Part
    from .encoded import Encoded


class Pipeline:
    """One or more embedding components run over the same texts.

    Created by ``easynlu.load``; weights load on the first ``predict``/``embed``.
    """

    def __init__(self, components: Sequence[Component], device: Any = None, gpu: bool = False,
                 dtype: Any = None, offline: bool | None = None):
        self.components = tuple(components)
        self._device_arg, self._gpu, self._dtype_arg, self.offline = device, gpu, dtype, offline
        self._device: str | None = None
        self._dtype: str | None = None
        if gpu:  # fail at load() rather than at the first predict
            self._placement()

    # -- placement and loading ----------------------------------------------------------------
    def _placement(self) -> tuple[str, str]:
        if self._device is None or self._dtype is None:
            from .backends.device import choose_device, choose_dtype

            device = choose_device(self._device_arg, self._gpu)
            self._dtype = choose_dtype(self._dtype_arg, device)
            self._device = device
        return self._device, self._dtype

    def _parts(self) -> list[Part]:
        from . import sources
        from .compute import Part

        if not self.loaded:  # hash packaged weights while torch and transformers import
            for c in self.components:
                if c.source != "path":
                    sources.prefetch_digest(c.model)
        device, dtype = self._placement()
        return [Part(c.column, c.action, loaded.get(c, device, dtype, self.offline)) for c in self.components]

    @property
    def loaded(self) -> bool:
        """Whether every component's weights are loaded (on this pipeline's device and dtype)."""
        if self._device is None or self._dtype is None:
            return False
        return all(loaded.is_loaded(c, self._device, self._dtype) for c in self.components)

    @property
    def default_level(self) -> Level:
        """The first component's level: sentence for ``embed_sentence``, else token."""
        return "sentence" if self.components[0].action == "embed_sentence" else "token"

    @property
    def language(self) -> str:
        """The first component's language (its catalogue entry's), for sentence splitting."""
        entry = self.components[0].entry
        return entry.language if entry else "en"

    # -- public API -------------------------------------------------------------------------
    def predict(self, data: Any, output_level: Level | None = None, *, positions: bool = False,
                pooling: Pooling | None = None, subword_pooling: SubwordPooling = "first",
                layers: int | Sequence[int] = -1, layer_pooling: LayerPooling = "mean",
                normalize: bool = False, batch_size: int | None = None, progress: bool | None = None,
                text_column: Hashable | None = None) -> pd.DataFrame:
        """Embeddings of ``data`` as a DataFrame at token, sentence or document level.

        ``data`` is a str, a list/tuple/1-D array of str, a Series, or a DataFrame (its text from
        ``text_column``, else a ``text`` column, else its only string column). The frame has
        the text column (``token``, ``sentence`` or ``document``), ``start``/``end`` with
        ``positions=True``, one float32 vector column per model, then the DataFrame's other
        columns; its index repeats each input's label. The options are described in the README.

        Raises OptionError for a bad option, InputError for input it cannot read,
        ModelUnavailableError or DeviceError when the model cannot load where asked.
        """
        options = Options(output_level=output_level, positions=positions, pooling=pooling,
                          subword_pooling=subword_pooling, layers=layers, layer_pooling=layer_pooling,
                          normalize=normalize, batch_size=batch_size, progress=progress,
                          text_column=text_column)
        from . import frames, inputs

        docs = inputs.read(data, options.text_column)
        encoded = self._encode(docs.texts, options.output_level or self.default_level, options)
        return frames.build(encoded, docs, positions=options.positions)

    def embed(self, texts: Any, *, pooling: Pooling | None = None, subword_pooling: SubwordPooling = "first",
              layers: int | Sequence[int] = -1, layer_pooling: LayerPooling = "mean", normalize: bool = False,
              batch_size: int | None = None, progress: bool | None = None,
              text_column: Hashable | None = None) -> np.ndarray:
        """A 2-D float32 array, one document vector per text (NaN where a text has no tokens).

        Takes the inputs and options of ``predict`` but for ``output_level`` and ``positions``.
        With several components their vectors are concatenated, in pipeline order. Raises as
        ``predict`` does.
        """
        options = Options(pooling=pooling, subword_pooling=subword_pooling, layers=layers,
                          layer_pooling=layer_pooling, normalize=normalize, batch_size=batch_size,
                          progress=progress, text_column=text_column)
        from . import inputs

        docs = inputs.read(texts, options.text_column)
        encoded = self._encode(docs.texts, "document", options)
        blocks = [encoded.vectors[c.column] for c in self.components]
        return blocks[0] if len(blocks) == 1 else np.ascontiguousarray(np.hstack(blocks))

    def _encode(self, texts: list[str], level: Level, options: Options) -> Encoded:
        from .compute import encode

        parts = self._parts()
        bar = _progress_bar(options.progress, len(texts))
        try:
            return encode(texts, parts, level, options, self.language, bar)
        finally:
            if bar is not None:
                bar.close()

    def info(self) -> dict[str, Any]:
        """The refs, models, actions, columns, device, dtype and whether the weights are loaded."""
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
        refs = ", ".join(f"{r} ({m})" for r, m in zip(info["refs"], info["models"], strict=True))
        state = "loaded" if info["loaded"] else "not loaded yet"
        return f"Pipeline([{refs}], device={info['device']}, dtype={info['dtype']}, {state})"


def _progress_bar(progress: bool | None, n_texts: int) -> tqdm | None:
    """tqdm.auto (works in notebooks); by default it shows after 2 s, at once for >1000 texts."""
    if progress is False:
        return None
    from tqdm.auto import tqdm

    delay = 0 if progress or n_texts > 1000 else 2
    return tqdm(total=0, unit="window", desc="easynlu", delay=delay, leave=False)
