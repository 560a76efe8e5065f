"""easynlu: NLU's one-liner for BERT embeddings, on PyTorch and transformers, into pandas.

    >>> import easynlu
    >>> easynlu.load("en.embed.minilm").predict("I love NLP", output_level="token")

Importing easynlu (and calling ``load``) imports neither torch nor transformers nor pandas;
they load on the first ``predict``.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from .errors import (
    DeviceError,
    EasyNLUError,
    EasyNLUWarning,
    InputError,
    ModelPathNotFoundError,
    ModelUnavailableError,
    OptionError,
    OptionTypeError,
    OutOfMemoryError,
    UnknownReferenceError,
)
from .options import LoadOptions, keywords_listed, with_load_options
from .version import __version__

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from .hub_cache import CachedModel
    from .loaded import LoadedModel
    from .pipeline import Pipeline

_log = logging.getLogger("easynlu")
__all__ = [
    "load",
    "models",
    "print_components",
    "loaded_models",
    "unload",
    "download",
    "export",
    "distill",
    "cached_models",
    "delete_cached",
    "set_alias",
    "remove_alias",
    "user_aliases",
    "Pipeline",
    "LoadOptions",
    "DeviceError",
    "EasyNLUError",
    "EasyNLUWarning",
    "InputError",
    "ModelPathNotFoundError",
    "ModelUnavailableError",
    "OptionError",
    "OptionTypeError",
    "OutOfMemoryError",
    "UnknownReferenceError",
    "__version__",
]


@keywords_listed
@with_load_options
def load(request: str | os.PathLike[str] | None = None, path: str | os.PathLike[str] | None = None,
         verbose: bool = False, **options: Any) -> Pipeline:
    """A lazy Pipeline for one or more space-separated references; nothing heavy loads yet.

    ``request`` holds catalogue refs (``"en.embed.bert.small_L12_128"``), NLU's refs (``"bert"``),
    ``hf:ORG/NAME`` ids or directory paths. A directory written by ``pipe.save(dir)`` loads that
    saved pipeline offline, after checking every file's sha256; options given here override the
    saved ones. NLU's arguments, in NLU's order (``load(request, path, verbose)``): ``path`` names a
    saved pipeline or a model directory (instead of ``request``); ``verbose=True`` logs resolution
    and loading to stderr. The load options after them are keywords only.

    ``options`` are :class:`easynlu.options.LoadOptions`' fields, checked here:
    ``device=None`` picks CUDA, then MPS, then CPU; ``gpu=True`` insists on CUDA. ``dtype``
    defaults to float32 on CPU and float16 on CUDA; outputs are always float32. ``offline=True``
    (or HF_HUB_OFFLINE=1) never contacts the Hugging Face Hub. ``backend="torch"|"onnx"|"auto"``
    picks the engine (default: EASYNLU_BACKEND, else "auto": ONNX Runtime on the CPU in float32
    when ``easynlu[onnx]`` is installed, else torch); ``quantize="int8"`` runs a dynamically
    quantised ONNX export; ``threads`` sets ONNX Runtime's thread count, and ``share_cpu=True`` makes
    those threads sleep between runs instead of spinning, leaving the cores to other work (``easynlu
    serve``'s default). See the README's "Backends".

    Raises UnknownReferenceError (a KeyError) with suggestions for an unknown name;
    ModelPathNotFoundError (a FileNotFoundError) for a path that does not exist (``path=``, a
    ``pathlib.Path``, or a request with a path separator or starting with ``.`` or ``~``);
    OptionError for a bad option or one that cannot run with the others, for two models with one
    column, or for both or neither of ``request`` and ``path``; OptionTypeError for an unknown
    keyword; DeviceError for ``gpu=True`` without CUDA.
    """
    from . import saved
    from .pipeline import Pipeline
    from .resolve import resolve

    _log_to_stderr(verbose)
    if request is None:
        if path is None:
            raise OptionError("load() needs a model: pass a model request, e.g. easynlu.load('en.embed.minilm'), or "
                              "path= a saved pipeline or model directory; easynlu.models() lists the catalogue.")
        request = path
    elif path is not None:
        raise OptionError("pass a model request or path=, not both: e.g. easynlu.load('en.embed.bert.small_L12_128') "
                          "or easynlu.load(path='my-pipeline').")
    if isinstance(request, (str, os.PathLike)) and saved.is_saved_pipeline(request):
        saved_components, saved_options = saved.read(request)
        return Pipeline(saved_components, saved_options.replace(**{**options, "offline": True}))
    load_options = LoadOptions(**options)
    components = resolve(request, path=path is not None)
    for c in components:
        _log.info("%s resolves to %s: %s model %s, column %s", request, c.ref, c.action, c.model, c.column)
    return Pipeline(components, load_options)


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (as logging's last-resort handler does)."""

    @property
    def stream(self) -> Any:
        import sys

        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ sets it; sys.stderr wins
        pass


def _log_to_stderr(on: bool) -> None:
    """Show easynlu's INFO log (what a ref resolved to, where weights came from) on stderr, or stop.

    As NLU's ``verbose``: each ``load`` says whether it wants it; a handler of your own on the
    ``easynlu`` logger is left alone.
    """
    ours = [h for h in _log.handlers if getattr(h, "easynlu_verbose", False)]
    if on and not ours:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("easynlu: %(message)s"))
        handler.easynlu_verbose = True  # type: ignore[attr-defined]
        _log.addHandler(handler)
        _log.setLevel(logging.INFO)
    elif not on and ours:
        for old in ours:
            _log.removeHandler(old)
        _log.setLevel(logging.NOTSET)


def models(pattern: str | None = None) -> pd.DataFrame:
    """The catalogue as a DataFrame, optionally filtered by a glob such as ``"*small_L12*"``.

    Columns: ref, model, action, language, dim, layers, heads, cased, aliases; one row per
    canonical ref. A pattern without wildcards matches as a substring.
    """
    from .catalogue import models as _models

    return _models(pattern)


def print_components(action: str | None = None, lang: str | None = None) -> None:
    """NLU's ``print_components``: print the catalogue rows (as :func:`models`) for ``action`` and ``lang``.

    ``action`` is "embed" or "embed_sentence" (None: both), ``lang`` a language code such as "en"
    (None: all). Raises OptionError for another action.
    """
    from .catalogue import ACTIONS
    from .catalogue import models as _models
    from .options import check_choice

    if action is not None:
        check_choice("action", action, ACTIONS)
    frame = _models()
    if action is not None:
        frame = frame[frame["action"] == action]
    if lang is not None:
        frame = frame[frame["language"] == lang.lower()]
    print(frame.to_string(index=False))


def loaded_models() -> list[LoadedModel]:
    """The models loaded in this process, each with its device, dtype and approximate memory.

    ``pd.DataFrame(easynlu.loaded_models())`` shows them as a table.
    """
    from .loaded import listing

    return listing()


def unload(ref: str | os.PathLike[str] | None = None) -> list[LoadedModel]:
    """Free the weights of ``ref``'s models (every loaded model if None), and the CUDA cache.

    Pipelines stay usable and load again on their next call. Returns what was freed; raises
    UnknownReferenceError for a ref that does not resolve.
    """
    from .loaded import unload as _unload
    from .resolve import resolve

    return _unload(None if ref is None else resolve(ref))


def export(request: str | os.PathLike[str], *, quantize: str | None = None,
           offline: bool | None = None) -> dict[str, Path]:
    """Export ``request``'s models to ONNX now (once; cached in easynlu's cache dir), so that
    ``load(..., backend="onnx")`` starts without torch. ``quantize="int8"`` makes the int8 export.

    Returns each component's ref and its export directory. Needs ``easynlu[onnx]`` (and torch, for
    the export only). Raises UnknownReferenceError for a bad ref, ModelUnavailableError when a
    model's files cannot be found, OptionError without the onnx extra or for a bad ``quantize``.
    """
    from . import sources
    from .backends.export import ensure
    from .resolve import resolve

    LoadOptions(backend="onnx", quantize=quantize, offline=offline)  # checked; says how to install the extra
    done: dict[str, Path] = {}
    for comp in resolve(request):
        path = sources.locate(comp.source, comp.model, offline=offline)
        done[comp.ref] = ensure(str(path), quantize=quantize)
    return done


def distill(teacher: str | os.PathLike[str] | Pipeline, texts: Any, *, layers: list[int] | None = None,
            student: str | os.PathLike[str] | Pipeline | None = None, output_dir: str | os.PathLike[str] | None = None,
            epochs: int = 1, batch_size: int = 64, learning_rate: float = 1e-4, seed: int = 42,
            text_column: Any = None, max_texts: int | None = None, progress: bool | None = None,
            **options: Any) -> Pipeline:
    """A smaller model trained to give ``teacher``'s sentence vectors of ``texts``: a Pipeline over it.

        >>> fast = easynlu.distill(teacher="en.embed_sentence.minilm", layers=[0, 3, 5], texts=df["text"])

    ``layers`` keeps those encoder layers of the teacher (same width, starting from its weights, no
    other weights needed); or ``student`` names another model (a ref, a directory or a Pipeline), as
    ``easynlu.load(student).distill(...)`` does. The other arguments are :meth:`Pipeline.distill`'s;
    ``options`` are ``load``'s, for the teacher and the result. Needs ``easynlu[train]``.
    """
    from . import train
    from .pipeline import Pipeline

    teacher_pipe = teacher if isinstance(teacher, Pipeline) else load(teacher, **options)
    settings = {"output_dir": output_dir, "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
                "seed": seed, "text_column": text_column, "max_texts": max_texts, "progress": progress}
    if student is not None:
        if layers is not None:
            raise OptionError("Pass student= or layers=, not both: layers=[...] makes the student from the teacher.")
        student_pipe = student if isinstance(student, Pipeline) else load(student, **options)
        return student_pipe.distill(teacher_pipe, texts, **settings)
    if layers is None:
        raise OptionError("easynlu.distill needs layers=[...] of the teacher (e.g. [0, 3, 5]) or a student=: e.g. "
                          "easynlu.distill(teacher='en.embed_sentence.minilm', layers=[0, 3, 5], texts=...).")
    path = train.distill(teacher_pipe, texts, teacher_pipe._over_directory, layers=layers, **settings)
    return teacher_pipe._over_directory(path)


def download(request: str | os.PathLike[str], *, force: bool = False) -> list[Path]:
    """Fetch the files of ``request``'s models into the Hugging Face cache now, so later loads work offline.

    ``request`` holds catalogue refs and ``hf:ORG/NAME`` ids (directories need nothing). Weights come as
    safetensors when the repo has them, with config, tokenizer and sentence-transformers files, shown
    with huggingface_hub's progress bars. A model shipped in an installed package is already offline
    (its folder is returned) unless ``force=True``. Returns each model's directory, in request order.

    Raises UnknownReferenceError for a bad ref; ModelUnavailableError when offline (HF_HUB_OFFLINE=1),
    when the Hub is unreachable or has no such model, saying what to do.
    """
    from .hub_cache import download as _download

    return _download(request, force=force)


def cached_models(all: bool = False) -> list[CachedModel]:
    """The catalogue's models in the Hugging Face cache: id, refs, size_bytes, revisions, path.

    ``all=True`` lists every cached model repo (those the catalogue does not know have ``refs=()``).
    ``pd.DataFrame(easynlu.cached_models())`` shows them as a table.
    """
    from .hub_cache import cached_models as _cached_models

    return _cached_models(all=all)


def delete_cached(request: str | os.PathLike[str]) -> int:
    """Delete every cached revision of ``request``'s Hub models; returns the bytes freed (0 if not cached).

    Raises UnknownReferenceError for a bad ref, OptionError for a directory path.
    """
    from .hub_cache import delete_cached as _delete_cached

    return _delete_cached(request)


def set_alias(name: str, ref: str) -> None:
    """Save ``name`` as your own alias for one reference (kept in the platformdirs user config dir).

        >>> easynlu.set_alias("mybert", "en.embed.bert.small_L4_256")
        >>> easynlu.load("mybert")   # the same as load("en.embed.bert.small_L4_256")

    Raises OptionError for a bad or catalogue-taken name, UnknownReferenceError for a bad ref.
    """
    from .resolve import set_alias as _set

    _set(name, ref)


def remove_alias(name: str) -> None:
    """Delete one of your aliases; raises UnknownReferenceError if there is no such alias."""
    from .resolve import remove_alias as _remove

    _remove(name)


def user_aliases() -> dict[str, str]:
    """Your aliases: name -> the reference it stands for. EasyNLUError if the file is corrupt."""
    from .useraliases import read

    return read()


def __getattr__(name: str) -> Any:
    if name == "Pipeline":
        from .pipeline import Pipeline

        return Pipeline
    if name == "plot":  # easynlu.plot without an explicit import (matplotlib loads on first use)
        import importlib

        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'easynlu' has no attribute {name!r}")
