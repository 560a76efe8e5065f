"""The ONNX Runtime backend: an export directory run on the CPU with tokenizers, onnxruntime and numpy.

It reads only the export directory (exports.py says what it holds; export.py makes it): ``model.onnx``,
``tokenizer.json`` and the meta. Importing it, loading and running import neither torch nor
transformers. Windows, batches and pooling indices are the torch backend's (common.py); pooling
is done here in numpy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..encoded import Job, Tokens
from ..errors import ModelUnavailableError
from . import common
from .batching import Windows
from .common import State, WindowedBackend
from .exports import read_meta
from .fusion import SLOW_FUSIONS
from .sentence import pool_numpy

MODEL = "model.onnx"


def default_threads() -> int:
    """torch's default intra-op thread count, without importing torch: the physical cores we may run on.

    OMP_NUM_THREADS wins when set (torch follows it too). Otherwise the distinct (physical id,
    core id) pairs in /proc/cpuinfo of the CPUs in our affinity mask; where that cannot be
    read, the usable CPUs.
    """
    told = os.environ.get("OMP_NUM_THREADS", "")
    if told.isdigit() and int(told) > 0:
        return int(told)
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    cores: set[tuple[str, str]] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            blocks = f.read().split("\n\n")
    except OSError:
        return max(1, len(usable))
    for block in blocks:
        fields = dict(line.split(":", 1) for line in block.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        if "processor" in fields and fields["processor"].isdigit() and int(fields["processor"]) in usable:
            cores.add((fields.get("physical id", "0"), fields.get("core id", fields["processor"])))
    return max(1, len(cores) or len(usable))


def session(model: Path, threads: int, share_cpu: bool = False) -> Any:
    """An onnxruntime CPU session: ``threads`` intra-op threads, one inter-op, sequential execution.

    ``share_cpu``: the intra-op threads sleep between runs instead of spinning. Spinning answers
    the next op a little sooner, but keeps the cores busy while the session waits: with ``easynlu
    serve`` and CPU-heavy clients (httpx) on the same 2 cores, p99 latency was 40 ms spinning and
    20 ms not; with light clients, sleeping threads served 6% more texts/s saturated and spinning
    ones had the lower p99 at half load (README, "Serve over HTTP")."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # EXTENDED, without the fusions whose kernels ran slower here (fusion.SLOW_FUSIONS): on MiniLM (2 cores)
    # int8 ran 1.2-1.3x BASIC (MatMulIntegerToFloat folds the dequantisation), fp32 the same; ~30 ms to create.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.log_severity_level = 3  # errors only
    if share_cpu:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(SLOW_FUSIONS))


def load(directory: Path, path: str, threads: int | None = None, share_cpu: bool = False) -> OnnxBackend:
    """The ONNX backend for the export in ``directory`` of the model directory ``path``."""
    return OnnxBackend(directory, path, threads, share_cpu)


class OnnxBackend(WindowedBackend):
    """An exported encoder run by onnxruntime on the CPU, in float32 (or int8 weights if quantized)."""

    name = "onnx"

    def __init__(self, directory: Path, path: str, threads: int | None = None, share_cpu: bool = False):
        from tokenizers import Tokenizer

        self.directory, self.path = Path(directory), path
        self.device, self.dtype = "cpu", "float32"
        meta = read_meta(self.directory)
        self.quantize: str | None = meta.get("quantize")
        self.prefix, self.suffix = list(meta["prefix"]), list(meta["suffix"])
        self.pad_id, self.window = int(meta["pad_id"]), int(meta["window"])
        self.dim, self.n_layers = int(meta["dim"]), int(meta["n_layers"])
        self.has_pooler = bool(meta["has_pooler"])
        sentence = meta.get("sentence")
        self.has_own_pooling = sentence is not None
        self.modes: tuple[str, ...] = tuple(sentence["modes"]) if sentence else ()
        self.own_normalize = bool(sentence and sentence["normalize"])
        self.own_dim = int(sentence["dim"]) if sentence else 0
        self.rust_tokenizer = Tokenizer.from_file(str(self.directory / "tokenizer.json"))
        self.rust_tokenizer.no_padding()  # tokenizer.json may fix both (MiniLM's: 128 tokens)
        self.rust_tokenizer.no_truncation()
        self.threads, self.share_cpu = threads or default_threads(), share_cpu
        try:
            self.session = session(self.directory / MODEL, self.threads, share_cpu)
        except Exception as err:  # onnxruntime raises its own exception types
            raise ModelUnavailableError(
                f"onnxruntime cannot load {self.directory / MODEL} ({type(err).__name__}: {err}).",
                fix=f"delete {self.directory} so that easynlu exports the model again, or load it with "
                    f"backend='torch'") from err
        self.inputs = [i.name for i in self.session.get_inputs()]  # the exporter may drop an unused one

    def memory_bytes(self) -> int:
        """Bytes of the exported weights (model.onnx and its external data)."""
        return sum(f.stat().st_size for f in self.directory.iterdir() if f.name.startswith(MODEL))

    def _run_batch(self, tokens: Tokens, wins: Windows, batch: np.ndarray, job: Job, state: State) -> None:
        ids, mask = self._pad(tokens, wins, batch)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        layers = ["last_hidden_state"] if job.layers == (-1,) else \
            [f"hidden_{i % (self.n_layers + 1)}" for i in job.layers]
        names = list(layers)
        if job.segment == "sentence":
            if not self.has_own_pooling and not self.has_pooler:
                raise common.no_pooler_error(self.path, False)
            names.append("last_hidden_state" if self.has_own_pooling else "pooler_output")
        wanted = list(dict.fromkeys(names))
        out = dict(zip(wanted, self.session.run(wanted, {k: feed[k] for k in self.inputs}), strict=True))
        hidden = common.combine_layers([out[name] for name in layers], job.layer_pooling)
        token_part = None
        if job.group is not None:
            index = common.TokenIndex.of(wins, batch, job, len(self.prefix))
            token_part = common.pool_tokens(hidden, index, job) if index is not None else None
        seg_part = None
        if job.segment == "cls":
            seg_part = hidden[:, 0]
        elif job.segment == "sentence":
            seg_part = pool_numpy(out["last_hidden_state"], mask, self.modes, self.own_normalize) \
                if self.has_own_pooling else out["pooler_output"]
        state.add(batch, token_part, seg_part)
