"""Milvus as the vector store: the same surface and semantics as the FAISS ``VectorIndex``.

Why Milvus: when a collection outgrows one machine's memory, or several hosts (a web tier, a
Ray indexing cluster) must share one index, an established distributed engine does the
sharding, replication and persistence. Milvus Lite (a file, embedded, one process) runs the
very same code path in the tests.

How the FAISS semantics carry over:

- One collection per space, ``id`` INT64 primary key (= ``parts.id``) and ``vec`` FLOAT_VECTOR,
  inner-product metric. Vectors are rounded to float16 first, like the catalog stores them, so
  a rebuild reproduces what was indexed and both stores rank the same vectors identically.
  The default ``FLAT`` index is exact, like FAISS ``Flat``.
- ``add`` is Milvus ``upsert`` (an id present is replaced), ``remove`` returns how many ids
  existed, ``search`` pads with id -1. Collections use Strong consistency: a write is visible
  to the next search, as with an in-memory FAISS index.
- Atomic replacement: the searched name is an *alias*. ``rebuild`` fills a new physical
  collection ``<alias>__<tag>``; ``save`` points the alias at it and drops the old one. A crash
  mid-rebuild leaves the alias on the old, complete collection (FAISS: temp file + rename).
- Staleness: ``<space>.milvus.json`` next to the catalog records the catalog generation the
  collection was saved at; ``open`` rebuilds from the catalog when generation, size or
  dimension disagree, exactly like a stale ``.faiss`` file.

Differences, by nature of a server: writes are live before ``save`` (callers already skip ids
the catalog does not know); a reader that finds a stale collection searches it as it is rather
than rebuilding a collection an indexer may be writing; Milvus Lite allows one process per file.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.atomic import replacing
from retrieval.store import MilvusTarget
from retrieval.store.base import StoreBase, stat_key
from retrieval.store.milvus_conn import client_for, close_clients, index_params, search_params

if TYPE_CHECKING:
    from retrieval.catalog.database import Catalog

log = logging.getLogger(__name__)
__all__ = ["MilvusVectorIndex", "close_clients", "sidecar_path"]

BATCH = 1000  # rows per insert/upsert/query-by-id request: well under Milvus' message limits
MAX_TOPK = 16384  # Milvus' largest ``limit``


def sidecar_path(data_dir: Path, space: str) -> Path:
    """Where the space's Milvus bookkeeping (generation, collection, dim) is kept."""
    return Path(data_dir) / f"{space}.milvus.json"


def _as_f32(vecs: np.ndarray, dim: int) -> np.ndarray:
    """Float16-rounded float32 rows, exactly what the catalog keeps and FAISS indexes."""
    arr = np.asarray(vecs, dtype=np.float16).astype(np.float32)
    return np.ascontiguousarray(arr.reshape(-1, dim))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Temp file + fsync + rename: a reader sees the old bookkeeping or the new, never half."""
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(data))


class MilvusVectorIndex(StoreBase):
    """A space's vectors in a Milvus collection, keyed by part id; see the module docstring."""

    def __init__(self, space: str, dim: int, *, target: MilvusTarget, collection: str,
                 path: Path | None = None, generation: int = 0, pending: bool = False) -> None:
        self.space = space
        self.dim = int(dim)
        self.path = path
        self.generation = generation
        self.target = target
        self._name = collection  # the alias, or a physical collection while a rebuild is unsaved
        self._pending = pending
        self._client = client_for(target)
        self._lock = threading.RLock()
        self._stat: tuple[int, int, int] | None = None

    # -- content --------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        return self._count()

    @property
    def kind(self) -> str:
        return f"milvus:{self.target.index}"

    def _count(self, expr: str = "") -> int:
        rows = self._client.query(self._name, filter=expr, output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def ids(self) -> np.ndarray:
        """All ids in the collection (int64, sorted); ids are part ids, so never negative.

        Pages by id range (a range is split while it holds more than one query's worth, widened
        while sparse) rather than with a query iterator, which Milvus Lite half-supports.
        """
        out: list[int] = []
        total, lo, width = self.ntotal, 0, MAX_TOPK
        while len(out) < total and lo < 2**62:
            expr = f"id >= {lo} and id < {lo + width}"
            n = self._count(expr)
            if n > MAX_TOPK:
                width //= 2
                continue
            if n:
                rows = self._client.query(self._name, filter=expr, output_fields=["id"], limit=n)
                out.extend(int(r["id"]) for r in rows)
            lo += width
            if n < MAX_TOPK // 4:
                width *= 2
        return np.sort(np.asarray(out, dtype=np.int64))

    def add(self, ids: Sequence[int] | np.ndarray, vecs: np.ndarray) -> None:
        """Add vectors; an id already present is replaced (Milvus upsert)."""
        ids_arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids_arr.size == 0:
            return
        mat = _as_f32(vecs, self.dim)
        if mat.shape[0] != ids_arr.size:
            raise ValueError(f"{ids_arr.size} ids for {mat.shape[0]} vectors")
        for start in range(0, ids_arr.size, BATCH):
            rows = [{"id": int(i), "vec": v.tolist()}
                    for i, v in zip(ids_arr[start:start + BATCH], mat[start:start + BATCH],
                                    strict=True)]
            self._client.upsert(self._name, rows)

    def _existing(self, ids: np.ndarray) -> list[int]:
        found: list[int] = []
        for start in range(0, ids.size, BATCH):
            chunk = [int(i) for i in ids[start:start + BATCH]]
            rows = self._client.query(self._name, filter=f"id in {chunk}", output_fields=["id"])
            found.extend(int(r["id"]) for r in rows)
        return found

    def remove(self, ids: Sequence[int] | np.ndarray) -> int:
        """Remove ids (unknown ones are ignored); returns how many were removed."""
        ids_arr = np.unique(np.asarray(ids, dtype=np.int64).reshape(-1))
        if ids_arr.size == 0:
            return 0
        with self._lock:
            found = self._existing(ids_arr)
            for start in range(0, len(found), BATCH):
                self._client.delete(self._name, ids=found[start:start + BATCH])
        return len(found)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` per query row: (scores float32 (nq, k'), ids int64 (nq, k')).

        ``k'`` is ``min(k, ntotal)`` as with FAISS; missing slots have id -1.
        """
        q = np.ascontiguousarray(np.asarray(queries, dtype=np.float32).reshape(-1, self.dim))
        nq = q.shape[0]
        if k <= 0 or nq == 0:
            return np.zeros((nq, 0), dtype=np.float32), np.zeros((nq, 0), dtype=np.int64)
        hits = self._client.search(
            self._name, data=q.tolist(), limit=min(k, MAX_TOPK), anns_field="vec",
            search_params=search_params(self.target.index, k), output_fields=[],
        )
        width = max((len(h) for h in hits), default=0)
        scores = np.full((nq, width), np.finfo(np.float32).min, dtype=np.float32)
        ids = np.full((nq, width), -1, dtype=np.int64)
        for row, hit_list in enumerate(hits):
            for col, hit in enumerate(hit_list):
                ids[row, col] = int(hit["id"])
                scores[row, col] = float(hit["distance"])
        return scores, ids

    def reconstruct(self, part_id: int) -> np.ndarray:
        """The stored vector of one id (KeyError when absent): 'more like this' queries."""
        rows = self._client.get(self._name, ids=[int(part_id)], output_fields=["vec"])
        if not rows:
            raise KeyError(part_id)
        return np.asarray(rows[0]["vec"], dtype=np.float32)

    # -- persistence ----------------------------------------------------------------------
    def _aliased(self, alias: str) -> str | None:
        """The physical collection an alias points at; None when the alias does not exist."""
        if alias not in self._client.list_aliases().get("aliases", []):
            return None
        return str(self._client.describe_alias(alias)["collection_name"])

    def save(self, path: Path | None = None) -> Path:
        """Flush, make this collection the one searched, record the generation; return path."""
        path = Path(path or self.path or "")
        if not path.name:
            raise ValueError("no bookkeeping path to save the index to")
        alias = self.target.collection(self.space)
        with self._lock:
            self._client.flush(self._name)
            if self._pending:
                old = self._aliased(alias)
                if old is None:
                    self._client.create_alias(self._name, alias)
                else:
                    self._client.alter_alias(self._name, alias)
                    if old != self._name:
                        self._client.drop_collection(old)
                physical, self._name, self._pending = self._name, alias, False
            else:
                physical = self._aliased(alias) or alias
            _write_json(path, {
                "space": self.space, "dim": self.dim, "generation": self.generation,
                "collection": physical, "uri": self.target.uri, "db": self.target.db_name,
                "prefix": self.target.prefix, "index": self.target.index,
            })
            for name in self._client.list_collections():
                if name.startswith(f"{alias}__") and name != physical:
                    self._client.drop_collection(name)  # left by a rebuild that never saved
        self.path = path
        self._stat = stat_key(path)
        return path

    @classmethod
    def load(cls, path: Path, *, target: MilvusTarget | None = None) -> MilvusVectorIndex:
        """Attach to the collection a ``save`` recorded; ValueError when that is not possible."""
        path = Path(path)
        stat = stat_key(path)
        try:
            meta = json.loads(path.read_text())
            space, dim, gen = str(meta["space"]), int(meta["dim"]), int(meta["generation"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} is damaged: {exc}") from exc
        if target is None:
            target = MilvusTarget(uri=meta["uri"], db_name=meta.get("db", ""),
                                  prefix=meta.get("prefix", "xmodal"),
                                  index=meta.get("index", "FLAT"))
        if (meta.get("uri"), meta.get("prefix")) != (target.uri, target.prefix):
            raise ValueError(f"{path} describes another Milvus location")
        client = client_for(target)
        alias = target.collection(space)
        if not client.has_collection(alias):
            raise ValueError(f"{path}: collection {alias} is missing")
        info = client.describe_collection(alias)
        if info["collection_name"] != meta.get("collection"):
            raise ValueError(f"{path}: {alias} points at another collection")
        vec = next((f for f in info["fields"] if f["name"] == "vec"), None)
        if vec is None or int(vec["params"]["dim"]) != dim:
            raise ValueError(f"{path}: {alias} has another dimension")
        client.load_collection(alias)  # a fresh client finds collections 'released'
        out = cls(space, dim, target=target, collection=alias, path=path, generation=gen)
        out._stat = stat
        return out

    @classmethod
    def rebuild(cls, catalog: Catalog, space: str, dim: int | None = None,
                path: Path | None = None, *, target: MilvusTarget) -> MilvusVectorIndex:
        """Fill a new physical collection from the catalog; ``save()`` makes it current."""
        ids, mat, gen = catalog.load_vectors(space)
        if dim is None:
            model = catalog.space_model(space)
            dim = model[1] if model else (mat.shape[1] if mat.size else 0)
        if not dim:
            raise ValueError(f"space {space!r} has no dimension yet")
        client = client_for(target)
        name = f"{target.collection(space)}__{uuid.uuid4().hex[:8]}"
        from pymilvus import DataType

        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=int(dim))
        client.create_collection(name, schema=schema,
                                 index_params=index_params(client, target.index),
                                 consistency_level="Strong")
        out = cls(space, int(dim), target=target, collection=name, path=path, generation=gen,
                  pending=True)
        if len(ids):
            vecs = _as_f32(mat, int(dim))
            for start in range(0, len(ids), BATCH):
                client.insert(name, [{"id": int(i), "vec": v.tolist()} for i, v in
                                     zip(ids[start:start + BATCH], vecs[start:start + BATCH],
                                         strict=True)])
        client.flush(name)
        client.load_collection(name)
        return out

    @classmethod
    def open(cls, catalog: Catalog, data_dir: Path, space: str, *, save: bool = False,
             target: MilvusTarget) -> MilvusVectorIndex | None:
        """The space's collection, consistent with the catalog; None when the space is empty.

        Attaches when the recorded generation, size and dimension agree with the catalog,
        otherwise rebuilds from stored vectors. Unlike FAISS, a rebuild is always saved (an
        unaliased collection would be invisible and leak), so a reader (``save=False``) that
        finds a stale but usable collection searches it as it is instead.
        """
        path = sidecar_path(data_dir, space)
        model = catalog.space_model(space)
        with catalog.read() as conn:
            gen = catalog.generation(space, conn)
            count = conn.execute(
                "SELECT COUNT(*) FROM vectors WHERE space=?", (space,)).fetchone()[0]
        if model is None and count == 0:
            return None
        idx: MilvusVectorIndex | None
        try:
            idx = cls.load(path, target=target)
        except (OSError, ValueError):
            idx = None
        if idx is not None and (model is None or idx.dim == model[1]):
            if idx.generation == gen and idx.ntotal == count:
                return idx
            if not save:
                log.info("%s lags the catalog (generation %d, catalog %d); searching it as it "
                         "is until the indexer rebuilds it", target.collection(space),
                         idx.generation, gen)
                return idx
        idx = cls.rebuild(catalog, space, model[1] if model else None, path=path, target=target)
        idx.save(path)
        return idx

    def _swap_in(self, path: Path) -> None:
        """Bookkeeping another process saved; the vectors themselves are always live."""
        fresh = MilvusVectorIndex.load(path, target=self.target)
        with self._lock:
            self.dim, self.generation, self._stat = fresh.dim, fresh.generation, fresh._stat
            if not self._pending:
                self._name = fresh._name
