"""The CPU a benchmark ran on: its model name and the bf16 flags that decide dtype advice."""

from __future__ import annotations

import datetime as _dt
import os
import platform


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
            "python": platform.python_version()}
