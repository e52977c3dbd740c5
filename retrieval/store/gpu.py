"""FAISS on the GPU: a search-only mirror of a CPU index, when ``faiss-gpu`` and CUDA are here.

The CPU index stays the one that is added to, removed from, saved and reconstructed; the GPU
copy only answers searches and is rebuilt after the CPU index changes. Anything that keeps the
copy from being made (``faiss-cpu`` installed, no CUDA device, a structure FAISS cannot clone to
the GPU, GPU memory full) leaves search on the CPU, with one log line and no error: the results
are the same either way, only slower.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

import faiss

log = logging.getLogger(__name__)

_resources: Any = None  # faiss.StandardGpuResources, made on first use
_resources_lock = threading.Lock()


@functools.cache
def gpu_count() -> int:
    """CUDA devices FAISS can use here: 0 with ``faiss-cpu`` or without a driver."""
    get_num_gpus = getattr(faiss, "get_num_gpus", None)
    if get_num_gpus is None or not hasattr(faiss, "StandardGpuResources"):
        return 0
    try:
        return int(get_num_gpus())
    except RuntimeError:
        return 0


def to_gpu(index: faiss.Index) -> faiss.Index | None:
    """A copy of ``index`` on GPU 0 that searches alike, or None when it cannot be made."""
    global _resources
    try:
        with _resources_lock:
            if _resources is None:
                _resources = faiss.StandardGpuResources()
            resources = _resources
        # Defaults keep float32 storage, so the copy ranks what the CPU index ranks; the
        # cloner carries IVF's nprobe over.
        return faiss.index_cpu_to_gpu(resources, 0, index, faiss.GpuClonerOptions())
    except (RuntimeError, MemoryError, AttributeError) as exc:
        log.info("FAISS search stays on the CPU: %s", str(exc).splitlines()[0] if str(exc) else exc)
        return None
