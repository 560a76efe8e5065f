"""Device and dtype choice for the torch backend: explicit, checked, explained when refused.

Only ``choose_device`` (and ``free_cached_memory``) import torch; ``choose_dtype`` reads the
CPU's flags from ``/proc/cpuinfo`` and needs nothing heavy.
"""

from __future__ import annotations

import functools
import sys
import warnings

from ..errors import DeviceError, user_stacklevel

# CPU flags (Linux /proc/cpuinfo) of instructions that make bfloat16 matmuls fast: AVX-512 BF16
# and AMX on x86, the BF16 extension ("bf16" in Features) on Arm.
FAST_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def choose_device(device: object = None, gpu: bool = False) -> str:
    """An explicit device wins; otherwise CUDA, then Apple MPS, then CPU."""
    import torch

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
    import torch

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


@functools.cache
def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (read once), or None where it cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:  # the first CPU's "flags" (x86) or "Features" (Arm) line is enough
                name, _, value = line.partition(":")
                if name.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        return None
    return frozenset()


def bf16_linears(flags: frozenset[str] | None = None) -> str:
    """How the torch backend runs bfloat16 linear layers on this CPU (``flags``: its flags, default read).

    "plain": transformers' own ``nn.Linear`` under bfloat16. "packed": oneDNN-packed weights with the
    FFN's GELU fused (cpu_bf16.py; where torch lacks the ops it stays plain). On AMX (``amx_bf16``) the
    packed linears run no faster warm and cost ~4 ms of kernel set-up per new batch shape, where plain
    ones built 95 kernels in 157 ms against 274 in 711 ms (issue 25's measurements on a 2-core Xeon with
    AMX, not easynlu's). Elsewhere packed, as measured on avx512_bf16 without AMX (cpu_bf16.py: 2.07x
    float32 against 1.82x plain); where pack() finds no oneDNN bf16 ops it leaves the model plain.
    """
    flags = cpu_flags() if flags is None else flags
    return "plain" if flags and "amx_bf16" in flags else "packed"


_warned_slow_bf16 = False


def choose_dtype(dtype: object, device: str) -> str:
    """float32 on CPU/MPS, float16 on CUDA; bfloat16 only when asked for.

    bfloat16 on the CPU is honoured; where the CPU shows no bf16 instructions (or easynlu cannot
    tell) it warns once that bf16 is emulated there and float32 is faster.
    """
    if dtype is None:
        return "float16" if device.startswith("cuda") else "float32"
    name = str(dtype).replace("torch.", "")
    aliases = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16", "float": "float32"}
    name = aliases.get(name, name)
    if name not in ("float32", "float16", "bfloat16"):
        raise DeviceError(f"dtype={dtype!r} is not supported: use 'float32', 'float16' or 'bfloat16'.")
    if device == "cpu" and name == "float16":
        raise DeviceError("dtype='float16' is very slow or unsupported on the CPU: use 'float32' or 'bfloat16'.")
    if device == "cpu" and name == "bfloat16":
        _warn_if_bf16_is_slow()
    return name


def _warn_if_bf16_is_slow() -> None:
    global _warned_slow_bf16
    flags = cpu_flags()
    if _warned_slow_bf16 or (flags is not None and flags & FAST_BF16_FLAGS):
        return
    _warned_slow_bf16 = True
    seen = ("easynlu cannot read this CPU's flags" if flags is None
            else "this CPU has no bf16 instructions (no avx512_bf16 or amx_bf16 flag)")
    warnings.warn(
        f"dtype='bfloat16' on the CPU: {seen}, so bfloat16 may be emulated and run slower than "
        f"float32. Using bfloat16 as asked; pass dtype='float32' (the CPU default) for speed.",
        RuntimeWarning,
        stacklevel=user_stacklevel(),
    )


def free_cached_memory() -> None:
    """Give the CUDA cache back to the device, if torch is using one."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
