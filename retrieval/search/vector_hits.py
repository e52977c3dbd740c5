"""One vector space's answer to a query: the parts of its best items, filter applied.

Paging stays stable because the answer is cut at exactly ``depth`` items, however deep the
index had to be searched to find that many that pass the filter.
"""

from __future__ import annotations

import numpy as np

from retrieval.catalog.database import Catalog
from retrieval.catalog.lookups import normalise, part_items
from retrieval.search.fusion import Hit
from retrieval.store import VectorStore


def nearest_items(idx: VectorStore, catalog: Catalog, vec: np.ndarray, depth: int,
                  allowed: set[int] | None) -> list[Hit]:
    """The parts of the ``depth`` best items (in ``allowed``, when given) nearest to ``vec``.

    Searches ever deeper until ``depth`` distinct allowed items are found or the index is
    exhausted.
    """
    if idx.ntotal == 0:
        return []
    k = min(idx.ntotal, max(2 * depth, 64))
    while True:
        pairs = idx.search_one(normalise(vec), k)
        owners = part_items(catalog, [pid for pid, _ in pairs])
        hits: list[Hit] = []
        items: set[int] = set()
        for pid, score in pairs:
            item_id = owners.get(pid)
            if item_id is None or (allowed is not None and item_id not in allowed):
                continue
            if item_id not in items:
                if len(items) == depth:
                    break
                items.add(item_id)
            hits.append(Hit(item_id=item_id, part_id=pid, score=score))
        if len(items) >= depth or k >= idx.ntotal:
            return hits
        k = min(idx.ntotal, k * 4)
