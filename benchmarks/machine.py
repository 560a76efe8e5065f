"""The CPU a benchmark ran on: its model name and the flags that decide dtype advice and kernels."""

from __future__ import annotations

import datetime as _dt
import os
import platform

# the /proc/cpuinfo flags reported with every result: vector width, bf16 and int8 matrix instructions
REPORTED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_info() -> dict:
    """Date, CPU model, core count, avx512_bf16/amx_bf16 flags and Python version (no torch import)."""
    cpu, flags = platform.processor() or "unknown", ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f.read().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    flags = line
    except OSError:
        pass
    return {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu,
            "cores": os.cpu_count(), "amx_bf16": " amx_bf16" in flags, "avx512_bf16": " avx512_bf16" in flags,
            "flags": [f for f in REPORTED_FLAGS if f in flags.split()], "family": family(flags.split()),
            "python": platform.python_version()}


def family(flags: list[str]) -> str:
    """The CPU family issue 25's targets are set for: "AMX", "avx512_bf16" or "AVX2" (anything else)."""
    return "AMX" if "amx_bf16" in flags else "avx512_bf16" if "avx512_bf16" in flags else "AVX2"
