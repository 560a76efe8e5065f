"""Pipeline: resolved components, placed on a device, and predict/embed over them."""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from . import loaded
from .errors import OptionError, UnknownReferenceError
from .options import ColumnStyle, LayerPooling, Level, LoadOptions, Options, Pooling, SubwordPooling, keywords_listed
from .resolve import Component
from .resolve import resolve as resolve_request

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame as SparkDataFrame

    from .compute import Part
    from .encoded import Encoded
    from .placement import Placement
    from .progress import TextsBar
    from .search import Index, SearchLevel


class Pipeline:
    """One or more embedding components run over the same texts.

    Created by ``easynlu.load``; weights load on the first ``predict``/``embed``.
    """

    def __init__(self, components: Sequence[Component], options: LoadOptions | None = None):
        self.components = tuple(components)
        self.load_options = options or LoadOptions()  # checked when it was made
        self._placed: Placement | None = None
        if self.load_options.gpu:  # fail at load() rather than at the first predict
            self.placement  # noqa: B018

    # -- pickling: a Pipeline travels as its spec, never as weights --------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """The spec only: components and load options. Weights live in the process-wide cache
        (``easynlu.loaded``), so an unpickled pipeline loads nothing until its first call, and
        then once per process. The device is chosen again where it is unpickled."""
        return {"components": self.components, "options": self.load_options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["components"], state["options"])  # type: ignore[misc]

    # -- placement and loading ----------------------------------------------------------------
    @property
    def offline(self) -> bool | None:
        """``load(offline=...)``: True never contacts the Hugging Face Hub; None follows HF_HUB_OFFLINE."""
        return self.load_options.offline

    @property
    def placement(self) -> Placement:
        """Where and how this pipeline runs (device, dtype, backend, quantize, threads), chosen now if not yet.

        Raises DeviceError or OptionError as ``predict`` would.
        """
        if self._placed is None:
            from .placement import place

            self._placed = place(self.load_options)
        return self._placed

    def _parts(self) -> list[Part]:
        from . import progress, sources
        from .compute import Part

        progress.import_quietly()  # before transformers and huggingface_hub import it
        if not self.loaded:  # hash packaged weights while torch and transformers import
            for c in self.components:
                if c.source != "path":
                    sources.prefetch_digest(c.model)
        placed = self.placement
        return [Part(c.column, c.action, loaded.get(c, placed, self.offline)) for c in self.components]

    @property
    def loaded(self) -> bool:
        """Whether every component's weights are loaded (on this pipeline's device and dtype)."""
        if self._placed is None:
            return False
        return all(loaded.is_loaded(c, self._placed) for c in self.components)

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
    # Typed as sentence-transformers' encode is: a Spark DataFrame in is typed as a Spark DataFrame out.
    @overload
    def predict(self, data: SparkDataFrame, output_level: Level | None = None, *, positions: bool | None = None,
                pooling: Pooling | None = None, subword_pooling: SubwordPooling = "first",
                layers: int | Sequence[int] = -1, layer_pooling: LayerPooling = "mean",
                normalize: bool = False, batch_size: int | None = None, progress: bool | None = None,
                text_column: Hashable | None = None, metadata: bool = False, drop_irrelevant_cols: bool = True,
                keep_stranger_features: bool = True, multithread: bool = True, get_embeddings: bool = True,
                return_spark_df: bool = False, columns: ColumnStyle = "easynlu",
                output_positions: bool | None = None) -> SparkDataFrame: ...

    @overload
    def predict(self, data: Any, output_level: Level | None = None, *, positions: bool | None = None,
                pooling: Pooling | None = None, subword_pooling: SubwordPooling = "first",
                layers: int | Sequence[int] = -1, layer_pooling: LayerPooling = "mean",
                normalize: bool = False, batch_size: int | None = None, progress: bool | None = None,
                text_column: Hashable | None = None, metadata: bool = False, drop_irrelevant_cols: bool = True,
                keep_stranger_features: bool = True, multithread: bool = True, get_embeddings: bool = True,
                return_spark_df: bool = False, columns: ColumnStyle = "easynlu",
                output_positions: bool | None = None) -> pd.DataFrame: ...

    @keywords_listed
    def predict(self, data: Any, output_level: Level | None = None, *, positions: bool | None = None,
                pooling: Pooling | None = None, subword_pooling: SubwordPooling = "first",
                layers: int | Sequence[int] = -1, layer_pooling: LayerPooling = "mean",
                normalize: bool = False, batch_size: int | None = None, progress: bool | None = None,
                text_column: Hashable | None = None, metadata: bool = False, drop_irrelevant_cols: bool = True,
                keep_stranger_features: bool = True, multithread: bool = True, get_embeddings: bool = True,
                return_spark_df: bool = False, columns: ColumnStyle = "easynlu",
                output_positions: bool | None = None) -> pd.DataFrame | SparkDataFrame:
        """Embeddings of ``data`` as a DataFrame at token, sentence or document level.

        ``data`` is a str, a list/tuple/1-D array of str, a Series, or a DataFrame (its text from
        ``text_column``, else a ``text`` column, else its first string column). The frame has
        the text column (``token``, ``sentence`` or ``document``), ``start``/``end`` with
        ``positions=True``, one float32 vector column per model, then the DataFrame's other
        columns; its index repeats each input's label. The options are described in the README;
        the last eight are NLU's (see docs/from-nlu.md), ``columns="nlu"`` gives NLU's names and
        ``output_positions`` is NLU's older name for ``positions``.
        A Spark DataFrame in gives a lazy Spark DataFrame out (same columns, no index; see
        :mod:`easynlu.spark`).

        Raises OptionError for a bad option (OptionTypeError, a TypeError, for an unknown
        keyword, listing the valid ones), InputError for input it cannot read,
        ModelUnavailableError or DeviceError when the model cannot load where asked.
        """
        options = Options(output_level=output_level, positions=positions, pooling=pooling,
                          subword_pooling=subword_pooling, layers=layers, layer_pooling=layer_pooling,
                          normalize=normalize, batch_size=batch_size, progress=progress,
                          text_column=text_column, metadata=metadata, drop_irrelevant_cols=drop_irrelevant_cols,
                          keep_stranger_features=keep_stranger_features, multithread=multithread,
                          get_embeddings=get_embeddings, return_spark_df=return_spark_df, columns=columns,
                          output_positions=output_positions)
        from . import spark

        if spark.is_spark_dataframe(data):  # Spark in, Spark out: mapInPandas over this very method
            return spark.predict(self, data, options)
        if options.return_spark_df:
            raise OptionError("return_spark_df=True needs a Spark DataFrame as input (Spark in gives Spark out): "
                              "pass one, e.g. spark.createDataFrame(pdf), or drop the option.")
        from . import frames, inputs

        docs = inputs.read(data, options.text_column)
        encoded = self._encode(docs.texts, options.output_level or self.default_level, options)
        frame = frames.build(encoded, docs, options)
        if options.columns == "nlu":
            from . import nlu

            frame = nlu.columns(frame, self.components, encoded.level)
        return frame

    @keywords_listed
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

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """How many tokens the first model makes of each text: its wordpieces, without [CLS]/[SEP], whole
        (a text longer than the model's window is counted in full: easynlu windows it, never truncates)."""
        tokens = self._parts()[0].backend.tokenize(list(texts))
        return np.diff(tokens.offsets).tolist()

    def predict_embeds(self, data: Any, **options: Any) -> np.ndarray:
        """NLU's ``predict_embeds``: the same as :meth:`embed` (one document vector per text)."""
        return self.embed(data, **options)

    # -- inputs larger than memory (easynlu/stream.py) ------------------------------------------
    def predict_batches(self, data: Any, *, chunk_size: int = 1000, text_column: Hashable | None = None,
                        progress: bool | None = None, **options: Any) -> Iterator[pd.DataFrame]:
        """``predict`` chunk by chunk, for inputs larger than memory: one DataFrame per ``chunk_size`` input rows.

        ``data`` is an iterable of texts, a Series or DataFrame, or the path of a .txt (one text per
        line), .csv, .tsv, .parquet or .jsonl file, read lazily (``text_column`` picks the column, as in
        ``predict``). The frames concatenated equal ``predict`` of the whole input: same rows, same index
        (positions 0..n-1 for iterables and files). ``options`` are ``predict``'s; ``progress`` is a bar
        over input rows. Raises InputError or OptionError at the call for a bad file, column or
        chunk_size, and as ``predict`` while chunks are read.
        """
        from .stream import predict_batches

        return predict_batches(self, data, chunk_size=chunk_size, text_column=text_column, progress=progress,
                               **options)

    def predict_to_parquet(self, data: Any, path: str | os.PathLike[str], *, chunk_size: int = 1000,
                           text_column: Hashable | None = None, progress: bool | None = None,
                           **options: Any) -> Path:
        """Write ``predict`` of ``data`` to the parquet dataset directory ``path`` as it is computed; resumable.

        One part file per chunk, the index as column ``index``, vectors as fixed-size float32 lists
        (null where there is none); ``pd.read_parquet(path)`` reads all rows back in order. Running the
        same call again after a crash or Ctrl-C skips the parts already written and gives exactly the
        rows of an uninterrupted run. Takes the inputs and options of :meth:`predict_batches`. Returns
        ``path`` as an absolute Path. Raises OptionError when ``path`` holds another input's or other
        options' run (pass a new path or delete it), and as ``predict``.
        """
        from .stream import predict_to_parquet

        return predict_to_parquet(self, data, path, chunk_size=chunk_size, text_column=text_column,
                                  progress=progress, **options)

    # -- similarity and search (easynlu/search.py) ----------------------------------------------
    def similarity(self, a: Any, b: Any = None, *, level: SearchLevel = "document", **options: Any) -> pd.DataFrame:
        """Cosine similarities as a float32 DataFrame: rows are ``a``'s texts, columns ``b``'s (``a``'s if None).

        ``a`` and ``b`` are any input of ``predict``. Rows and columns are labelled by a Series'
        or DataFrame's index, else by the texts; at ``level="sentence"`` by a MultiIndex
        (document label, sentence). ``options`` are ``predict``'s keywords (pooling, layers,
        text_column, ...). A text without tokens gives NaN. Raises OptionError for a bad level
        or option, and as ``predict``.
        """
        from .search import similarity

        return similarity(self, a, b, level=level, **options)

    def index(self, corpus: Any, *, level: SearchLevel = "document", **options: Any) -> Index:
        """Embed ``corpus`` once into an exact cosine :class:`easynlu.search.Index` for ``search``.

        One row per document (or per sentence at ``level="sentence"``), labelled by the
        document's label (a Series'/DataFrame's index, else its text); texts without tokens are
        left out. ``index.save(path)`` / ``Index.load(path)`` keep it on disk (numpy, no pickle).
        Raises OptionError for a bad level or option, and as ``predict``.
        """
        from .search import index

        return index(self, corpus, level=level, **options)

    def search(self, queries: Any, corpus: Any, k: int = 5, *, level: SearchLevel = "document",
               **options: Any) -> pd.DataFrame:
        """The ``k`` corpus entries closest by cosine to each query: one row per (query, rank).

        ``corpus`` is any input of ``predict`` (embedded at ``level``) or an Index from
        :meth:`index` (not re-embedded; its own level is used). Each query is one document
        vector. Columns: ``query`` (its label), ``query_text``, ``rank`` (1..k), ``label``,
        ``text`` (the corpus document or sentence) and ``score`` (float32 cosine). A query
        without tokens keeps one row with missing rank, label and text and a NaN score.
        Raises OptionError for a bad k, level or option, and as ``predict``.
        """
        from .search import search

        return search(self, queries, corpus, k, level=level, **options)

    # -- training (easynlu/train/) --------------------------------------------------------------
    def distill(self, teacher: str | os.PathLike[str] | Pipeline, texts: Any, *,
                output_dir: str | os.PathLike[str] | None = None, epochs: int = 1, batch_size: int = 64,
                learning_rate: float = 1e-4, seed: int = 42, text_column: Hashable | None = None,
                max_texts: int | None = None, progress: bool | None = None) -> Pipeline:
        """This pipeline's model, trained to give ``teacher``'s sentence vectors of ``texts`` (MSE): a new Pipeline.

        ``teacher`` is a ref or a Pipeline (it runs once, on easynlu's fastest exact path; its vectors
        are cached on disk). ``texts`` is any input of :meth:`predict_batches` (an iterable, a Series, a
        DataFrame with ``text_column``, a .txt/.csv/.tsv/.parquet/.jsonl file). A student narrower than
        the teacher learns the teacher's vectors projected on their first principal axes. The result is
        a sentence-transformers directory in ``output_dir`` (else in easynlu's cache, named by the
        arguments), with a model card; a checkpoint per epoch, and a rerun with the same arguments resumes.
        Needs ``easynlu[train]``. Raises InputError (no texts, a vocabulary that cannot read them) and
        OptionError (a bad setting, a wider student, a non-empty ``output_dir``) before any training.
        """
        from . import train

        teacher_pipe = teacher if isinstance(teacher, Pipeline) else Pipeline(
            resolve_request(teacher), LoadOptions(offline=self.load_options.offline))
        path = train.distill(teacher_pipe, texts, self._over_directory, student=self, output_dir=output_dir,
                             epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                             text_column=text_column, max_texts=max_texts, progress=progress)
        return self._over_directory(path)

    def fit(self, pairs: pd.DataFrame, *, loss: Literal["cosine", "cosent"] = "cosine",
            output_dir: str | os.PathLike[str] | None = None, epochs: int = 1, batch_size: int = 16,
            learning_rate: float = 2e-5, seed: int = 42, progress: bool | None = None) -> Pipeline:
        """This pipeline's model fine-tuned on scored pairs: a new Pipeline over the tuned model.

        ``pairs`` has columns ``text_a``, ``text_b`` and ``score`` (a similarity in 0..1, or 0..5 as
        STS-B, which is divided by 5). ``loss`` is "cosine" (sentence-transformers'
        CosineSimilarityLoss, the better of the two on STS-B here) or "cosent" (CoSENTLoss). A
        seeded tenth of the pairs (at most 1,000) is held out for the model card's score. Output,
        checkpoints and resuming as :meth:`distill`. Raises InputError for missing columns, texts or
        scores and scores outside 0..5, OptionError for a bad setting or a non-empty ``output_dir``,
        before any training.
        """
        from . import train

        path = train.fit(self, pairs, self._over_directory, loss=loss, output_dir=output_dir, epochs=epochs,
                         batch_size=batch_size, learning_rate=learning_rate, seed=seed, progress=progress)
        return self._over_directory(path)

    def _over_directory(self, path: Path) -> Pipeline:
        """A pipeline over the sentence-transformers model in ``path``, with this pipeline's load options."""
        return Pipeline(resolve_request(f"embed_sentence:{path}"), self.load_options)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write this pipeline and its model files to ``directory``, for machines with no network.

        ``easynlu.load(directory)`` loads it back offline, with the same refs, output columns and
        outputs, and checks the sha256 of every file first. Returns the directory's absolute path.
        An earlier easynlu save in ``directory`` is replaced. Raises OptionError when ``directory``
        is a file or a non-empty directory that is not an easynlu save; ModelUnavailableError when
        a model's files cannot be found.
        """
        from .saved import save

        return save(self, directory)

    def _encode(self, texts: list[str], level: Level, options: Options) -> Encoded:
        from .compute import encode

        parts = self._parts()
        bar = _progress_bar(options.progress, len(texts), len(parts))
        try:
            encoded = encode(texts, parts, level, options, self.language, bar)
            if bar is not None:
                bar.finish()
            return encoded
        finally:
            if bar is not None:
                bar.close()

    def info(self) -> dict[str, Any]:
        """The refs, models, actions, columns, device, dtype, backend and whether the weights are loaded."""
        placed, given = self._placed, self.load_options
        return {
            "refs": [c.ref for c in self.components],
            "models": [c.model for c in self.components],
            "actions": [c.action for c in self.components],
            "columns": [c.column for c in self.components],
            "device": placed.device if placed else (
                "cuda" if given.gpu else f"auto ({given.device or 'cuda > mps > cpu'})"),
            "dtype": placed.dtype if placed else (given.dtype or "auto (float32 on CPU, float16 on CUDA)"),
            "backend": placed.backend if placed else (given.backend or "not chosen yet"),
            "loaded": self.loaded,
        }

    def print_info(self) -> None:
        """NLU's ``print_info``: print :meth:`info`, one ``name: value`` line each."""
        for name, value in self.info().items():
            print(f"{name}: {value}")

    # -- NLU's component access: keys are the component refs -------------------------------------
    def keys(self) -> list[str]:
        """NLU's ``pipe.keys()``: the components' refs, in pipeline order (``pipe[ref]`` gets one)."""
        return [c.ref for c in self.components]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key) is not None

    def __getitem__(self, key: str) -> Component:
        """The component whose ref, output column or name as typed is ``key`` (any case).

        Raises UnknownReferenceError (a KeyError) listing the keys otherwise.
        """
        found = self._find(key) if isinstance(key, str) else None
        if found is None:
            raise UnknownReferenceError(f"{key!r} is not a component of this pipeline; its keys are "
                                        f"{', '.join(map(repr, self.keys()))}.", ref=str(key))
        return found

    def _find(self, key: str) -> Component | None:
        wanted = key.strip().lower()
        return next((c for c in self.components
                     if wanted in (c.ref.lower(), c.column.lower(), c.requested.lower())), None)

    def __repr__(self) -> str:
        info = self.info()
        refs = ", ".join(f"{r} ({m})" for r, m in zip(info["refs"], info["models"], strict=True))
        state = "loaded" if info["loaded"] else "not loaded yet"
        return f"Pipeline([{refs}], device={info['device']}, dtype={info['dtype']}, {state})"


def _progress_bar(progress: bool | None, n_texts: int, runs: int) -> TextsBar | None:
    """A bar of the texts (tqdm.auto); by default it shows after 2 s, at once for >1000 texts."""
    if progress is False:
        return None
    from .progress import TextsBar, bar_class

    delay = 0 if progress or n_texts > 1000 else 2
    return TextsBar(bar_class()(total=n_texts, unit="text", desc="easynlu", delay=delay, leave=False), n_texts, runs)
