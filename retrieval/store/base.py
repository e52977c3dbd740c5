"""What the FAISS and Milvus stores share: convenience search, consistency checks, reloads.

Each store keeps its own ``search``, ``ids`` and ``load``; the logic around them is the same
whichever store holds the vectors, so it lives here once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from retrieval.catalog.database import Catalog

StatKey = tuple[int, int, int]


def stat_key(path: Path | int) -> StatKey:
    """Inode, mtime and size: changes whenever a writer replaces the file."""
    st = os.stat(path)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class StoreBase:
    """A space's vectors keyed by part id; subclasses provide search, ids and ``_swap_in``."""

    space: str
    generation: int
    path: Path | None
    _stat: StatKey | None

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def ids(self) -> np.ndarray:
        raise NotImplementedError

    def _swap_in(self, path: Path) -> None:
        """Take over what the file at ``path`` now describes; ValueError when it is damaged."""
        raise NotImplementedError

    def search_one(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Convenience: one query vector → [(part id, score)], best first, no -1 padding."""
        scores, ids = self.search(np.asarray(query).reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def agrees_with(self, catalog: Catalog) -> bool:
        """Same generation and the same id set as the catalog (the thorough check)."""
        gen, want = catalog.vector_ids(self.space)
        return gen == self.generation and np.array_equal(want, self.ids())

    def reload_if_changed(self) -> bool:
        """Pick up the file an indexing run replaced since this copy was read; True if so."""
        if self.path is None:
            return False
        try:
            if stat_key(self.path) == self._stat:
                return False
            self._swap_in(self.path)
        except (OSError, ValueError):
            return False  # gone or half-way replaced: keep serving what we have
        return True
