"""How the search engine runs a query's encoders: side by side, batched under load, once.

- ``EncodeQueue``: one thread per query encoder (MiniLM, the CLIP text tower). A query's
  texts go to both queues at once, so the two models run side by side on two cores while the
  calling thread does the keyword search. When a queue's thread is free it takes every text
  waiting as one batch: a short query's encode is bound by reading the model's weights (the
  CLIP text tower streams ~76 MB of them per call), so sixteen waiting queries cost little
  more than one. Each thread computes on one torch thread (OpenMP's count is a per-thread
  setting): two models at one thread each beat the same two in turn at two threads each
  (``bench/query_latency.py``).
- ``Recent``: a small least-recently-used map for what a repeated query would recompute
  (paging and the page's as-you-type search send the same text or recording again).
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np

MAX_BATCH = 32  # texts one encoder call takes at most


class EncodeQueue:
    """Encodes texts submitted from any thread on one thread of its own, in batches."""

    def __init__(self, name: str, encode: Callable[[list[str]], np.ndarray],
                 lock: threading.Lock) -> None:
        self._encode = encode
        self._lock = lock  # the model's lock: other callers (image queries) share the model
        self._queue: queue.SimpleQueue[tuple[str, Future[np.ndarray]] | None] = (
            queue.SimpleQueue())
        self._thread = threading.Thread(target=self._run, name=f"xmodal-{name}", daemon=True)
        self._thread.start()

    def submit(self, text: str) -> Future[np.ndarray]:
        """A future of ``text``'s vector (encoder's own normalisation and dtype)."""
        job: Future[np.ndarray] = Future()
        self._queue.put((text, job))
        return job

    def close(self) -> None:
        """Finish what was submitted, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        import torch

        torch.set_num_threads(1)
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._encode_batch(batch)

    def _encode_batch(self, batch: list[tuple[str, Future[np.ndarray]]]) -> None:
        texts = list(dict.fromkeys(text for text, _ in batch))
        try:
            with self._lock:
                vecs = self._encode(texts)
        except BaseException as exc:  # noqa: BLE001 - handed to every caller waiting for it
            for _, job in batch:
                job.set_exception(exc)
            return
        row = {text: n for n, text in enumerate(texts)}
        for text, job in batch:
            job.set_result(vecs[row[text]])


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
