"""Near-duplicate photos: the same picture resized, re-encoded or lightly edited.

Each image's 64-bit dHash (``retrieval.media.metadata.dhash``, kept in ``item_meta``) is
compared with the others': two photos are near-duplicates when their hashes differ in at most
``MAX_DISTANCE`` bits. Candidates come from multi-index hashing (the hash cut into 8 bytes;
two hashes within 7 bits of each other share at least one byte exactly, so only photos sharing
a byte are compared), not from comparing every pair.

Two guards keep look-alikes apart:

- dHash sees only brightness gradients, so pictures that are mostly one flat colour (a blank
  page, a solid background) all hash alike: a hash with almost no bits set, or almost all,
  says nothing and joins no group;
- screenshots, receipts and signs (dark text on white) hash close to each other whatever
  they say, so when either photo has OCR text, the two must also share most of their words.

Groups are the connected components of the near-duplicate pairs, computed once per state of
the ``item_meta`` table (its counter in ``meta``) and cached.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol, TypeVar

from pydantic import BaseModel, Field

from retrieval.catalog.database import Catalog

MAX_DISTANCE = 6  # bits of 64; re-encoding and resizing move a photo's hash 0-4 bits
MIN_BITS, MAX_BITS = 4, 60  # hashes outside this say too little (flat pictures)
MIN_TEXT_OVERLAP = 0.6  # Jaccard of the OCR words when either photo has text
BANDS = 8


class Ranked(Protocol):
    item_id: int


T = TypeVar("T", bound=Ranked)


class DuplicateItem(BaseModel):
    id: int
    path: str
    size: int | None = None
    width: int | None = None
    height: int | None = None


class DuplicateGroup(BaseModel):
    """Photos that are the same picture; ``items`` largest (most pixels) first."""

    items: list[DuplicateItem] = Field(default_factory=list)


def distance(a: int, b: int) -> int:
    """Bits in which two 64-bit hashes (stored signed) differ."""
    return ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()


def words(text: str | None) -> frozenset[str]:
    return frozenset("".join(c.lower() if c.isalnum() else " " for c in text or "").split())


def same_text(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two photos' OCR words allow them to be one picture (both none, or overlapping)."""
    if not a and not b:
        return True
    return len(a & b) / max(1, len(a | b)) >= MIN_TEXT_OVERLAP


def near_pairs(hashes: dict[int, int], max_distance: int = MAX_DISTANCE) -> set[tuple[int, int]]:
    """Pairs of ids (smaller first) whose hashes are within ``max_distance`` bits."""
    if max_distance >= BANDS:
        raise ValueError(f"multi-index hashing with {BANDS} bands finds distances < {BANDS}")
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    for item_id, h in hashes.items():
        u = h & 0xFFFFFFFFFFFFFFFF
        for band in range(BANDS):
            buckets[(band, (u >> (8 * band)) & 0xFF)].append(item_id)
    pairs: set[tuple[int, int]] = set()
    for ids in buckets.values():
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                key = (a, b) if a < b else (b, a)
                if key not in pairs and distance(hashes[a], hashes[b]) <= max_distance:
                    pairs.add(key)
    return pairs


def components(pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Connected components (union-find), each sorted, ordered by their smallest id."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = defaultdict(list)
    for x in list(parent):
        groups[root(x)].append(x)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])


class Duplicates:
    """The near-duplicate groups of a catalog, recomputed when its images change."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._lock = threading.Lock()
        self._key: object = object()  # matches no counter value: the first call computes
        self._groups: list[list[int]] = []
        self._of: dict[int, int] = {}  # item id -> index of its group

    def groups(self) -> list[list[int]]:
        """Every group of two or more item ids."""
        key = self.catalog.get_meta("item_meta.generation")  # bumped by every row in or out
        with self._lock:
            if key != self._key:
                self._groups = self._compute()
                self._of = {i: n for n, g in enumerate(self._groups) for i in g}
                self._key = key
            return self._groups

    def group_of(self) -> dict[int, list[int]]:
        """item id -> its whole group, for the items that have one."""
        groups = self.groups()
        with self._lock:
            return {i: groups[n] for i, n in self._of.items()}

    def _compute(self) -> list[list[int]]:
        conn = self.catalog.conn
        hashes = {r[0]: r[1] for r in conn.execute(
            "SELECT m.item_id, m.dhash FROM item_meta m JOIN items i ON i.id = m.item_id "
            "WHERE i.type = 'image' AND m.dhash IS NOT NULL")
            if MIN_BITS <= (r[1] & 0xFFFFFFFFFFFFFFFF).bit_count() <= MAX_BITS}
        texts = {r[0]: words(r[1]) for r in conn.execute(
            "SELECT item_id, group_concat(text, ' ') FROM parts WHERE kind = 'ocr' "
            "GROUP BY item_id")}
        pairs = [(a, b) for a, b in near_pairs(hashes)
                 if same_text(texts.get(a, frozenset()), texts.get(b, frozenset()))]
        return components(pairs)

    def describe(self) -> list[DuplicateGroup]:
        """The groups with each item's path and size, largest picture first."""
        from retrieval.catalog.lookups import item_paths as paths_of

        out: list[DuplicateGroup] = []
        ids = [i for g in self.groups() for i in g]
        item_paths = {i: p for i, (_, p) in paths_of(self.catalog, ids, None).items()}
        conn = self.catalog.conn
        for group in self.groups():
            rows = conn.execute(
                f"SELECT id, size, width, height FROM items WHERE id IN "
                f"({','.join('?' * len(group))})", group).fetchall()
            items = [DuplicateItem(id=r[0], path=item_paths[r[0]], size=r[1], width=r[2],
                                   height=r[3]) for r in rows if r[0] in item_paths]
            items.sort(key=lambda d: (-(d.width or 0) * (d.height or 0), -(d.size or 0), d.id))
            if len(items) >= 2:
                out.append(DuplicateGroup(items=items))
        return out


def collapse(ranked: list[T],
             group_of: dict[int, list[int]]) -> tuple[list[T], dict[int, list[int]]]:
    """Keep the best-ranked member of each group; the others become its ``similar`` ids."""
    kept: list[T] = []
    shown_as: dict[int, int] = {}  # group's first id -> the item shown for it
    similar: dict[int, list[int]] = {}
    for entry in ranked:
        group = group_of.get(entry.item_id)
        if group is None:
            kept.append(entry)
            continue
        first = shown_as.setdefault(group[0], entry.item_id)
        if first == entry.item_id:
            kept.append(entry)
        else:
            similar.setdefault(first, []).append(entry.item_id)
    return kept, similar
