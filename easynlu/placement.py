"""Where and how a pipeline runs: the device, dtype and backend chosen for its LoadOptions, once.

``place`` turns checked :class:`~easynlu.options.LoadOptions` into a :class:`Placement`. On the
ONNX Runtime path it imports no torch: ONNX runs on the CPU, so when no GPU can be present (no
NVIDIA driver, not macOS) the device is the CPU without asking torch. The device and dtype come
from ``backends.device`` (torch); which backend "auto" means, from ``backends.choose_backend`` only.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from .options import LoadOptions


@dataclass(frozen=True)
class Placement:
    """A pipeline's resolved device, compute dtype, backend, quantisation and thread count."""

    device: str  # "cpu", "cuda:0", "mps"
    dtype: str  # "float32", "float16" or "bfloat16"
    backend: str  # "torch" or "onnx"
    quantize: str | None = None  # "int8" (ONNX only)
    threads: int | None = None  # ONNX Runtime's intra-op threads; None: as many as torch would use
    share_cpu: bool = False  # ONNX Runtime's threads sleep between runs instead of spinning
    auto: bool = False  # backend="auto": a model ONNX cannot run (see backends.choose_backend) uses torch

    @property
    def requested(self) -> str:
        """What ``backends.load`` is asked for: "auto" (decided per model), else ``backend``."""
        return "auto" if self.auto else self.backend

    def backend_for(self, path: str) -> str:
        """The backend the model directory ``path`` loads with: "torch" or "onnx"."""
        from .backends import choose_backend

        return choose_backend(self.requested, self.device, self.dtype, self.quantize, path=path)


def _maybe_gpu() -> bool:
    """Whether this machine may have a GPU torch could pick (an NVIDIA driver, or a Mac's MPS)."""
    return sys.platform == "darwin" or os.path.exists("/proc/driver/nvidia/version")


def place(options: LoadOptions | None = None) -> Placement:
    """The placement for these load options.

    Raises OptionError for a combination that cannot run once the device is chosen (ONNX Runtime
    on a GPU, or in float16/bfloat16); DeviceError for a device this machine lacks.
    """
    from .backends import choose_backend
    from .backends.device import choose_dtype

    options = options or LoadOptions()
    wanted, device = options.requested_backend, options.device
    if wanted == "onnx" and device is None and not options.gpu:
        device = "cpu"  # ONNX Runtime runs on the CPU here
    if wanted != "torch" and (device == "cpu" or device is None and not options.gpu and not _maybe_gpu()):
        chosen_device = "cpu"  # ONNX's case: no torch import to find the device
    else:
        from .backends.device import choose_device

        chosen_device = choose_device(device, options.gpu)
    chosen_dtype = choose_dtype(options.dtype, chosen_device)
    engine = choose_backend(wanted, chosen_device, chosen_dtype, options.quantize)
    return Placement(chosen_device, chosen_dtype, engine, options.quantize if engine == "onnx" else None,
                     options.threads, options.share_cpu, auto=wanted == "auto")
