"""One line naming the CPU a benchmark ran on: figures from different machines differ 2-4x.

Sessions get different 2-core machines (an AVX-512 EPYC with native bfloat16 one day, an AVX2
one the next), and the encoders' precision follows the CPU (``XMODAL_PRECISION=auto``), so a
table without the CPU beside it cannot be compared with another.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpuinfo() -> dict[str, str]:
    """The first CPU's fields from ``/proc/cpuinfo`` (empty off Linux)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def describe() -> str:
    """Model name, cores, vector extensions and the float format the encoders will use."""
    from retrieval.config import resolve_precision

    info = cpuinfo()
    name = info.get("model name") or platform.processor() or platform.machine()
    flags = set(info.get("flags", "").split())
    isa = ("AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2")
    if "amx_bf16" in flags or "avx512_bf16" in flags:
        isa += " + bfloat16"
    precision = resolve_precision("auto", "cpu")
    return (f"{name}, {os.cpu_count()} cores, {isa}; encoders in {precision}, "
            f"load average {os.getloadavg()[0]:.1f}")
