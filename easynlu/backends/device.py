"""Device and dtype choice for the torch backend: explicit, checked, explained when refused."""

from __future__ import annotations

import warnings

import torch

from ..errors import DeviceError


def choose_device(device: object = None, gpu: bool = False) -> str:
    """An explicit device wins; otherwise CUDA, then Apple MPS, then CPU."""
    if gpu:
        if not torch.cuda.is_available():
            raise DeviceError(
                "gpu=True but PyTorch sees no CUDA device (torch "
                f"{torch.__version__}, CUDA build: {torch.version.cuda or 'no'}). Install a CUDA "
                "build of torch, or drop gpu=True to run on the CPU."
            )
        return "cuda" if device is None else _check_device(device)
    if device is not None:
        return _check_device(device)
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _check_device(device: object) -> str:
    """An explicit device, refused with advice when this machine's torch cannot use it."""
    try:
        chosen = torch.device(device)  # type: ignore[call-overload]
    except (RuntimeError, TypeError) as err:
        raise DeviceError(f"device={device!r} is not a device torch knows ({err}): use 'cpu', 'cuda', "
                          f"'cuda:1' or 'mps', or None to choose automatically.") from None
    if chosen.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if chosen.index is not None and chosen.index >= count or count == 0:
            raise DeviceError(
                f"device={device!r} but PyTorch sees {count} CUDA device(s) (torch {torch.__version__}, "
                f"CUDA build: {torch.version.cuda or 'no'}). Use device='cpu', or device=None to "
                f"choose automatically."
            )
    elif chosen.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(f"device={device!r} but Apple MPS is not available on this machine. Use "
                              f"device='cpu', or device=None to choose automatically.")
    return str(chosen)


def _cpu_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return "amx_bf16" in f.read()
    except OSError:
        return False


def choose_dtype(dtype: object, device: str) -> str:
    """float32 on CPU/MPS, float16 on CUDA; bfloat16 only when asked for."""
    if dtype is None:
        return "float16" if device.startswith("cuda") else "float32"
    name = str(dtype).replace("torch.", "")
    aliases = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16", "float": "float32"}
    name = aliases.get(name, name)
    if name not in ("float32", "float16", "bfloat16"):
        raise DeviceError(f"dtype={dtype!r} is not supported: use 'float32', 'float16' or 'bfloat16'.")
    if device == "cpu" and name == "float16":
        raise DeviceError("dtype='float16' is very slow or unsupported on the CPU: use 'float32' or 'bfloat16'.")
    if device == "cpu" and name == "bfloat16" and not _cpu_has_amx():
        warnings.warn(
            "dtype='bfloat16' on a CPU without AMX (no amx_bf16 flag) runs far slower than "
            "float32; using float32 instead.",
            RuntimeWarning,
            stacklevel=3,
        )
        return "float32"
    return name


def free_cached_memory() -> None:
    """Give the CUDA cache back to the device, if torch is using one."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
