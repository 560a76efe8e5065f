"""The options of ``load`` (:class:`LoadOptions`) and of ``predict``/``embed`` (:class:`Options`), each defined once.

Each is a frozen dataclass that checks itself when it is made, so a bad value fails at the call,
before any model loads (and without importing torch). The command line makes its flags and
choices from these definitions.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import inspect
import numbers
import os
import re
import sys
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, ParamSpec, TypeVar, get_args

from .errors import DeviceError, OptionError, OptionTypeError

P = ParamSpec("P")
R = TypeVar("R")

Level = Literal["token", "sentence", "document"]
Pooling = Literal["mean", "max", "cls"]
SubwordPooling = Literal["first", "last", "mean", "max"]
LayerPooling = Literal["mean", "concat"]
ColumnStyle = Literal["easynlu", "nlu"]

LEVELS: tuple[Level, ...] = get_args(Level)
POOLINGS: tuple[Pooling, ...] = get_args(Pooling)
SUBWORD_POOLINGS: tuple[SubwordPooling, ...] = get_args(SubwordPooling)
LAYER_POOLINGS: tuple[LayerPooling, ...] = get_args(LayerPooling)
COLUMN_STYLES: tuple[ColumnStyle, ...] = get_args(ColumnStyle)


@dataclass(frozen=True)
class Options:
    """Every keyword of ``predict``; ``embed`` takes all but those in ``FRAME_ONLY``.

    The last seven are NLU's keywords, accepted so that NLU code runs unchanged (see
    docs/from-nlu.md): ``metadata``, ``drop_irrelevant_cols`` and ``keep_stranger_features``
    shape the frame, ``columns="nlu"`` names its columns as NLU does, ``multithread`` and
    ``get_embeddings`` change nothing (torch picks its threads; embeddings are always
    returned), and ``return_spark_df=True`` needs Spark input (Spark in gives Spark out).

    Raises :class:`easynlu.OptionError` (a ``ValueError``) when made with a value it does not
    accept, naming the option and what to pass instead.
    """

    output_level: Level | None = None  # None: the first model's own level
    positions: bool | None = None  # None: output_positions if given, else False
    pooling: Pooling | None = None  # None: the model's own pooling if it defines one, else mean
    subword_pooling: SubwordPooling = "first"
    layers: int | Sequence[int] = -1
    layer_pooling: LayerPooling = "mean"
    normalize: bool = False
    batch_size: int | None = None
    progress: bool | None = None
    text_column: Hashable | None = None
    metadata: bool = False  # NLU: sentence ids, and the sentence/document text beside token rows
    drop_irrelevant_cols: bool = True  # NLU: False keeps the sentence/document text beside token rows
    keep_stranger_features: bool = True  # NLU: False drops the input DataFrame's other columns
    multithread: bool = True  # NLU: accepted; torch sets its own threads
    get_embeddings: bool = True  # NLU: accepted; embeddings are always returned
    return_spark_df: bool = False  # NLU: Spark output needs Spark input (Spark in gives Spark out)
    columns: ColumnStyle = "easynlu"  # "nlu": NLU's column names and inclusive end positions
    output_positions: bool | None = None  # NLU's older name for positions

    def __post_init__(self) -> None:
        if self.output_level is not None:
            check_choice("output_level", self.output_level, LEVELS)
        if self.pooling is not None:
            check_choice("pooling", self.pooling, POOLINGS)
        check_choice("subword_pooling", self.subword_pooling, SUBWORD_POOLINGS)
        check_choice("layer_pooling", self.layer_pooling, LAYER_POOLINGS)
        object.__setattr__(self, "positions", _positions(self.positions, self.output_positions))
        _flag("normalize", self.normalize)
        if self.progress is not None:
            _flag("progress", self.progress)
        for name in ("metadata", "drop_irrelevant_cols", "keep_stranger_features", "multithread", "get_embeddings",
                     "return_spark_df"):
            _flag(name, getattr(self, name))
        check_choice("columns", self.columns, COLUMN_STYLES)
        self.layer_indices  # noqa: B018  (checks layers)
        batch_size = self.batch_size
        if batch_size is not None and (not is_int(batch_size) or batch_size < 1):
            raise OptionError(f"batch_size={batch_size!r}: pass a positive int (texts per batch) or None.")

    @property
    def layer_indices(self) -> tuple[int, ...]:
        """``layers`` as a non-empty tuple of ints."""
        layers = self.layers
        if is_int(layers):
            return (int(layers),)  # type: ignore[arg-type]
        if isinstance(layers, (list, tuple)) and layers and all(is_int(x) for x in layers):
            return tuple(int(x) for x in layers)
        raise OptionError(f"layers={layers!r}: pass an int (-1 is the last layer) or a non-empty list of ints.")


NAMES: tuple[str, ...] = tuple(f.name for f in fields(Options))
# Options that shape the DataFrame only: predict takes them, embed (a numpy array) does not.
FRAME_ONLY: tuple[str, ...] = ("output_level", "positions", "metadata", "drop_irrelevant_cols",
                               "keep_stranger_features", "multithread", "get_embeddings", "return_spark_df", "columns",
                               "output_positions")


# -- load()'s options: how a model runs ------------------------------------------------------------
BACKENDS = ("torch", "onnx", "auto")
# When neither backend= nor EASYNLU_BACKEND says: ONNX Runtime on the CPU when easynlu[onnx] is installed
# (1.8x torch's speed, half its memory, the same vectors within 1e-5), else torch. See the README's "Backends".
DEFAULT_BACKEND = "auto"
QUANTIZE = ("int8",)
DTYPES = ("float32", "float16", "bfloat16")
_DTYPE_ALIASES = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16", "float": "float32"}
_DEVICE = re.compile(r"^(cpu|cuda|mps|xpu)(:[0-9]+)?$")


def _load_option(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    """A LoadOptions field; ``help`` and ``choices`` make its command-line flag (easynlu.cli)."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class LoadOptions:
    """Every option of ``easynlu.load``: how and where a pipeline's models run. Defined here once.

    ``load()``'s keywords, the command line's flags, a Pipeline's pickle and a saved pipeline's
    manifest are all made from these fields, and checked here, when it is made, without importing
    torch: a bad value or a combination that cannot run raises OptionError (DeviceError for a
    malformed device or dtype) naming what to pass instead. ``device`` and ``dtype`` also take a
    torch.device/torch.dtype and are kept as strings. Whether this machine has the device asked
    for is checked when the pipeline is placed (``Pipeline.placement``), where torch is imported.
    """

    device: str | None = _load_option(None, "cpu, cuda, cuda:1 or mps (default: CUDA, then MPS, then the CPU)")
    gpu: bool = _load_option(False, "insist on CUDA: fail at load when PyTorch sees none")
    dtype: str | None = _load_option(
        None, "compute dtype (default: float32 on CPU, float16 on CUDA; outputs are always float32); bfloat16 is "
              "fast on CPUs with avx512_bf16 or amx_bf16 (torch backend)", DTYPES)
    offline: bool | None = _load_option(None, "never contact the Hugging Face Hub (as HF_HUB_OFFLINE=1)")
    backend: str | None = _load_option(
        None, f"torch, onnx (ONNX Runtime on the CPU, needs easynlu[onnx]) or auto: ONNX Runtime on the CPU in "
              f"float32 when easynlu[onnx] is installed, else torch (default: $EASYNLU_BACKEND, else "
              f"{DEFAULT_BACKEND})", BACKENDS)
    quantize: str | None = _load_option(
        None, "int8: run a dynamically quantised ONNX export (faster, less exact; ONNX backend)", QUANTIZE)
    threads: int | None = _load_option(None, "ONNX Runtime threads (default: as many as PyTorch would use)")
    share_cpu: bool = _load_option(
        False, "ONNX Runtime's threads sleep between runs instead of spinning, leaving the cores to other work "
               "on them (easynlu serve's default)")

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "device", _device(self.device))
        set_(self, "dtype", _dtype(self.dtype))
        _flag("gpu", self.gpu)
        if self.offline is not None:
            _flag("offline", self.offline)
        if self.backend is not None and self.backend not in BACKENDS:
            raise OptionError(f"backend={self.backend!r} is not a backend: use 'torch', 'onnx' or 'auto'.")
        set_(self, "quantize", check_quantize(self.quantize))
        set_(self, "threads", check_threads(self.threads))
        _flag("share_cpu", self.share_cpu)
        check_engine(self.requested_backend, self.device, self.dtype, self.quantize, self.gpu)

    @property
    def requested_backend(self) -> str:
        """``backend``, else $EASYNLU_BACKEND, else DEFAULT_BACKEND: "torch", "onnx" or "auto"."""
        if self.backend is not None:
            return self.backend
        chosen = os.environ.get("EASYNLU_BACKEND", "").strip() or DEFAULT_BACKEND
        if chosen.lower() not in BACKENDS:
            raise OptionError(f"EASYNLU_BACKEND={chosen!r} is not a backend: use 'torch', 'onnx' or 'auto', "
                              f"or unset it.")
        return chosen.lower()

    def given(self) -> dict[str, Any]:
        """The options that differ from their defaults, as ``load()`` keywords."""
        return given_load_options(vars(self))

    def replace(self, **changes: Any) -> LoadOptions:
        """A copy with ``changes`` (load() keywords), checked again."""
        return dataclasses.replace(self, **changes)


LOAD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(LoadOptions))


def given_load_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """Those of ``values`` (holding every load option, e.g. parsed CLI flags) that differ from their default."""
    return {f.name: values[f.name] for f in fields(LoadOptions) if values[f.name] != f.default}


def _device(device: object) -> str | None:
    """A device as torch spells it ("cpu", "cuda:1"), from a str, an int (a CUDA index) or a torch.device."""
    if device is None:
        return None
    if is_int(device) and int(device) >= 0:  # type: ignore[call-overload]
        return f"cuda:{int(device)}"  # type: ignore[call-overload]
    name = str(device) if type(device).__module__ == "torch" else device
    if not isinstance(name, str) or not _DEVICE.match(name):
        raise DeviceError(f"device={device!r} is not a device easynlu knows: use 'cpu', 'cuda', 'cuda:1' or "
                          f"'mps', or None to choose automatically.")
    return name


def _dtype(dtype: object) -> str | None:
    """A dtype's name ("float16"), from a str, an alias ("fp16", "half") or a torch.dtype."""
    if dtype is None:
        return None
    name = str(dtype).replace("torch.", "") if isinstance(dtype, str) or type(dtype).__module__ == "torch" else ""
    name = _DTYPE_ALIASES.get(name, name)
    if name not in DTYPES:
        raise DeviceError(f"dtype={dtype!r} is not supported: use 'float32', 'float16' or 'bfloat16'.")
    return name


def has_onnxruntime() -> bool:
    """Whether onnxruntime is installed (looked up, not imported)."""
    return importlib.util.find_spec("onnxruntime") is not None


def check_engine(backend: str, device: str | None, dtype: str | None, quantize: str | None,
                 gpu: bool = False) -> None:
    """Raise OptionError, saying what to pass, when ``backend`` cannot run with these options.

    ``device`` and ``dtype`` are None while not chosen yet (at ``load``); ``Pipeline.placement``
    checks again with the chosen ones. "auto" with ``quantize`` must run on ONNX.
    """
    if backend == "torch" and quantize is not None:
        raise OptionError(f"quantize={quantize!r} runs on the ONNX backend: pass backend='onnx' "
                          f"(or 'auto'), or leave quantize=None with backend='torch'.")
    if not (backend == "onnx" or backend == "auto" and quantize is not None):
        return
    if not has_onnxruntime():
        raise OptionError("backend='onnx' needs the onnx extra: pip install onnxruntime onnx onnxscript "
                          "(in a clone of easynlu: pip install -e '.[onnx]')")
    if gpu or device is not None and device.split(":")[0] != "cpu":
        raise OptionError(f"backend='onnx' runs on the CPU here, not on {device or 'cuda'}: use backend='torch' on "
                          f"GPUs, or device='cpu'.")
    if dtype is not None and dtype != "float32":
        raise OptionError(f"backend='onnx' computes in float32, not {dtype}: use backend='torch' for "
                          f"bfloat16/float16, or dtype='float32'.")


def with_load_options(function: Callable[P, R]) -> Callable[P, R]:
    """Give ``function(..., **options)`` a signature that lists LoadOptions' fields as keywords.

    ``help(easynlu.load)``, notebooks' tooltips and :func:`keywords_listed` then see each load
    option, while LoadOptions stays their one definition.
    """
    signature = inspect.signature(function)
    params = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    params += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
               for f in fields(LoadOptions)]
    function.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    return function


def check_quantize(quantize: object) -> str | None:
    """``quantize`` as "int8" or None; OptionError otherwise."""
    if quantize is None:
        return None
    if quantize not in QUANTIZE:
        raise OptionError(f"quantize={quantize!r} is not supported: use quantize='int8' (with the ONNX backend) "
                          f"or None.")
    return str(quantize)


def check_threads(threads: object) -> int | None:
    """``threads`` as a positive int, or None; OptionError otherwise."""
    if threads is None:
        return None
    if not is_int(threads) or int(threads) < 1:  # type: ignore[call-overload]
        raise OptionError(f"threads={threads!r} is not a positive number of threads: use e.g. threads=2, "
                          f"or None for as many as PyTorch would use.")
    return int(threads)  # type: ignore[call-overload]


def _numpy_bool(value: object) -> bool:
    """Whether ``value`` is a numpy bool (numpy is not imported for this: without it, none exists)."""
    np = sys.modules.get("numpy")
    return np is not None and isinstance(value, np.bool_)


def is_int(value: object) -> bool:
    """Whether ``value`` is an int (numpy ints too), and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and not _numpy_bool(value)


def check_choice(name: str, value: object, allowed: Sequence[str]) -> None:
    """Raise OptionError naming ``name`` and the ``allowed`` values unless ``value`` is one of them."""
    if not isinstance(value, str) or value not in allowed:
        raise OptionError(f"{name}={value!r} is not supported: use one of {', '.join(map(repr, allowed))}.")


def _positions(positions: object, output_positions: object) -> bool:
    """``positions``, or NLU's older ``output_positions``; OptionError when both are given and differ."""
    for name, value in (("positions", positions), ("output_positions", output_positions)):
        if value is not None:
            _flag(name, value)
    if positions is not None and output_positions is not None and bool(positions) != bool(output_positions):
        raise OptionError(f"positions={positions!r} and output_positions={output_positions!r} disagree: "
                          f"output_positions is NLU's older name for positions, so pass only positions.")
    return bool(positions if positions is not None else output_positions)


def _flag(name: str, value: object) -> None:
    if not (isinstance(value, bool) or _numpy_bool(value)):
        raise OptionError(f"{name}={value!r}: pass True or False.")


def keywords_listed(method: Callable[P, R]) -> Callable[P, R]:
    """An unknown keyword raises OptionTypeError (a TypeError) that lists the valid keywords."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as err:
            valid = ", ".join(name for name in signature.parameters if name != "self")
            raise OptionTypeError(f"{method.__name__}(): {err}. Its arguments are: {valid}.") from None
        return method(*args, **kwargs)

    return checked
