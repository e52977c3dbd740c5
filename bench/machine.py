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
            f"load average {os.getloadavg()[0]:.1f}{forced_kernels()}")


def forced_kernels() -> str:
    """The vector extensions torch and FAISS were told to stop at, when a run says so.

    An AVX-512 machine stands in for an AVX2 one with ``ATEN_CPU_CAPABILITY=avx2`` (torch's
    own kernels), ``MKL_ENABLE_INSTRUCTIONS=AVX2`` (its matrix products) and
    ``FAISS_SIMD_LEVEL=AVX2`` (faiss-cpu's dynamic-dispatch build; ``FAISS_OPT_LEVEL`` only
    picks between separately built modules, which this build does not ship). ONNX Runtime's
    MLAS reads the CPU itself and has no such switch: its kernels stay the machine's.
    """
    asked = {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS",
                                        "FAISS_SIMD_LEVEL") if k in os.environ}
    if not asked:
        return ""
    import faiss
    import torch

    return (f"; kernels forced: torch {torch.backends.cpu.get_cpu_capability()}, "
            f"FAISS {faiss.SIMDConfig.get_level_name()}, ONNX Runtime unforced (its own pick)")
