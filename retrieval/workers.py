"""The search engine's helpers for doing a query's work at once and not twice.

- ``query_workers``: the threads a query's encoders run on. Each computes on one torch thread
  (OpenMP's thread count is a per-thread setting): MiniLM and the CLIP text tower at one
  thread each, side by side, beat the same two in turn at two threads each (measured in
  ``bench/query_latency.py``), and under load the pool bounds how many encodes share the cores.
- ``Recent``: a small least-recently-used map for what a repeated query would recompute
  (paging and the page's as-you-type search send the same text or recording again).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)


def query_workers() -> ThreadPoolExecutor:
    """One worker per core, each computing on a single torch thread."""
    return ThreadPoolExecutor(
        os.cpu_count() or 2, thread_name_prefix="xmodal-query", initializer=_one_torch_thread
    )


class Recent:
    """A thread-safe least-recently-used map of at most ``size`` entries."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
