"""Sharing the cores between the decode threads' OCR and the committing thread's encoders.

While photos are indexed with OCR on, two things run at once: each decode thread reads its
photo's text (ONNX Runtime, ``cores // decode_workers`` threads each: ``OcrReader``) and the
committing thread encodes the previous batch (torch: CLIP, MiniLM). Torch left at one thread
per core on top of that oversubscribes the cores, and its threads then wait at every barrier
for one that lost its core: on 2 cores, CLIP's image tower ran 2-2.5x slower on 2 threads
than on 1 beside other work (docs/performance.md). So while the batches hold images, torch
gets the cores the decode threads leave, at least one; for documents and recordings (no
OCR beside it) it keeps them all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from retrieval.config import Settings

SHARE_CORES = True  # bench/photo_indexing.py turns it off to time today's path


class CoreShare:
    """Sets torch's thread count before each batch is encoded; ``restore()`` at the end."""

    def __init__(self, settings: Settings, workers: int) -> None:
        self.active = SHARE_CORES and settings.ocr_enabled
        self.beside_ocr = max(1, (os.cpu_count() or 1) - workers)
        self.before: int | None = None

    def fit(self, batch: Sequence[object]) -> None:
        """Fewer torch threads when the batch holds images (their neighbours are being OCR'd
        meanwhile), the usual number otherwise."""
        if not self.active:
            return
        import torch

        if self.before is None:
            self.before = torch.get_num_threads()
        images = any(getattr(o, "type", None) == "image" for o in batch)
        torch.set_num_threads(self.beside_ocr if images else self.before)

    def restore(self) -> None:
        if self.before is not None:
            import torch

            torch.set_num_threads(self.before)
            self.before = None
