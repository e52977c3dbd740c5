"""Where a space's vectors live: FAISS files (default) or Milvus, chosen by one setting.

The catalog's ``vectors`` table stays the source of truth either way; a store is a searchable
copy that can always be rebuilt from it. Both implementations expose the same surface
(:class:`VectorStore`), so the ingestor and the engine never ask which one they hold:

- :class:`retrieval.store.faiss_index.VectorIndex`: FAISS ``IndexIDMap2`` in ``<space>.faiss`` files
  next
  to the catalog. Embedded, no server; one machine.
- :class:`retrieval.store.milvus.MilvusVectorIndex`: a Milvus collection per space, in
  Milvus Lite (a file, one process; what the tests run) or a Milvus Standalone/cluster server,
  for collections that outgrow one machine or must be shared by several hosts.

``Settings.vector_store`` (env ``XMODAL_VECTOR_STORE``) selects one:

==============================  ============================================================
``faiss``                       FAISS files in the data directory (default)
``milvus``                      Milvus Lite at ``<data_dir>/milvus.db``
``milvus:///abs/path/x.db``     Milvus Lite at that file (relative: ``milvus://x.db``)
``milvus://host:19530``         a Milvus server over gRPC (``http://``; ``milvuss://`` = TLS)
``http(s)://host:19530``        the same, spelled as pymilvus spells it
==============================  ============================================================

A Milvus URI takes ``user:password@`` (the server's token) and query options:
``prefix`` (collection name prefix, default ``xmodal``; give each data directory its own
when several share a server), ``db`` (Milvus database) and ``index`` (``FLAT``, exact and
the default, so results equal FAISS; ``HNSW``, ``IVF_FLAT``, ``IVF_PQ`` or ``AUTOINDEX`` for
large collections).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from retrieval.errors import XmodalError
from retrieval.store.plan import IndexOptions

if TYPE_CHECKING:
    from retrieval.catalog.database import Catalog
    from retrieval.config import Settings

MILVUS_INDEXES = ("FLAT", "HNSW", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "AUTOINDEX")


@runtime_checkable
class VectorStore(Protocol):
    """What callers may use of a space's index, whichever store holds it.

    Ids are ``parts.id``; scores are inner products of L2-normalised vectors (higher is
    better); vectors are rounded to float16 like the catalog stores them; ``add`` replaces
    an id already present; ``search`` pads missing slots with id -1.
    """

    space: str
    dim: int
    generation: int
    path: Path | None

    @property
    def ntotal(self) -> int: ...
    @property
    def kind(self) -> str: ...
    def ids(self) -> np.ndarray: ...
    def add(self, ids: Sequence[int] | np.ndarray, vecs: np.ndarray) -> None: ...
    def remove(self, ids: Sequence[int] | np.ndarray) -> int: ...
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...
    def search_one(self, query: np.ndarray, k: int) -> list[tuple[int, float]]: ...
    def reconstruct(self, part_id: int) -> np.ndarray: ...
    def save(self, path: Path | None = None) -> Path: ...
    def agrees_with(self, catalog: Catalog) -> bool: ...
    def reload_if_changed(self) -> bool: ...


@dataclass(frozen=True)
class MilvusTarget:
    """A parsed Milvus location: a Lite file or a server, plus naming and index options."""

    uri: str  # what pymilvus takes: a local ``.db`` path or ``http(s)://host:port``
    token: str = ""
    db_name: str = ""
    prefix: str = "xmodal"
    index: str = "FLAT"

    @property
    def lite(self) -> bool:
        return not self.uri.startswith(("http://", "https://"))

    def collection(self, space: str) -> str:
        """The alias searched for ``space``; physical collections are ``<alias>__<tag>``."""
        return f"{self.prefix}_{space}"

    def describe(self) -> str:
        """The location without its token: safe for logs, stats and the sidecar file."""
        where = f"Milvus Lite {self.uri}" if self.lite else f"Milvus {self.uri}"
        db = f" db={self.db_name}" if self.db_name else ""
        return f"{where}{db} prefix={self.prefix} index={self.index}"


def parse_vector_store(value: str, data_dir: Path) -> MilvusTarget | None:
    """``None`` for FAISS, else where Milvus is; ``XmodalError`` for a value we can't use."""
    text = (value or "faiss").strip()
    if text.lower() == "faiss":
        return None
    if text.lower() in ("milvus", "milvus-lite", "milvus://"):
        return MilvusTarget(uri=str(Path(data_dir) / "milvus.db"))
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("milvus", "milvuss", "http", "https"):
        raise XmodalError(
            f"vector_store {value!r} is not understood: use 'faiss', 'milvus', "
            "'milvus:///path/to/milvus.db' or 'milvus://host:19530'"
        )
    opts = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    index = opts.get("index", "FLAT").upper()
    if index not in MILVUS_INDEXES:
        choices = ", ".join(MILVUS_INDEXES)
        raise XmodalError(f"vector_store index {index!r}: choose one of {choices}")
    prefix = opts.get("prefix", "xmodal")
    if not prefix.replace("_", "").isalnum():
        raise XmodalError(f"vector_store prefix {prefix!r}: letters, digits and '_' only")
    token = ""
    if parts.username:
        token = unquote(parts.username) + (f":{unquote(parts.password)}" if parts.password else "")
    host = parts.hostname or ""
    location = (host + (f":{parts.port}" if parts.port else "")) if host else ""
    if scheme == "milvus" and (parts.netloc + parts.path).endswith(".db"):
        # milvus:///abs/x.db (netloc empty) or milvus://x.db, milvus://sub/x.db (relative)
        path = Path(unquote(parts.netloc + parts.path))
        uri = str(path if path.is_absolute() else Path(data_dir) / path)
        return MilvusTarget(uri=uri, prefix=prefix, index=index)
    if not location:
        raise XmodalError(f"vector_store {value!r} names no Milvus host")
    web = "https" if scheme in ("https", "milvuss") else "http"
    if not parts.port:
        location += ":19530"
    return MilvusTarget(uri=f"{web}://{location}", token=token, db_name=opts.get("db", ""),
                        prefix=prefix, index=index)


def describe_store(settings: Settings) -> str:
    """One line naming the configured store, for ``xmodal stats`` and logs."""
    target = parse_vector_store(settings.vector_store, settings.data_dir)
    return "FAISS files in " + str(settings.data_dir) if target is None else target.describe()


def open_vector_index(settings: Settings, catalog: Catalog, space: str, *,
                      save: bool = False) -> VectorStore | None:
    """The space's index in the configured store, consistent with the catalog.

    Same contract as ``VectorIndex.open``: ``None`` when the space is empty; a stale or
    missing copy is rebuilt from the catalog (and persisted when ``save``, which only the
    process holding the indexing lock should ask for).
    """
    target = parse_vector_store(settings.vector_store, settings.data_dir)
    if target is None:
        from retrieval.store.faiss_index import VectorIndex

        return VectorIndex.open(catalog, settings.data_dir, space, save=save,
                                mmap=settings.mmap_indexes and not save,
                                options=IndexOptions.from_settings(settings))
    from retrieval.store.milvus import MilvusVectorIndex

    return MilvusVectorIndex.open(catalog, settings.data_dir, space, save=save, target=target)


def rebuild_vector_index(settings: Settings, catalog: Catalog, space: str,
                         dim: int | None = None) -> VectorStore:
    """A fresh copy of the space built from the catalog; ``save()`` it to make it current."""
    target = parse_vector_store(settings.vector_store, settings.data_dir)
    if target is None:
        from retrieval.store.faiss_index import VectorIndex, index_path

        return VectorIndex.rebuild(catalog, space, dim, path=index_path(settings.data_dir, space),
                                   options=IndexOptions.from_settings(settings))
    from retrieval.store.milvus import MilvusVectorIndex, sidecar_path

    return MilvusVectorIndex.rebuild(catalog, space, dim,
                                     path=sidecar_path(settings.data_dir, space), target=target)


__all__ = [
    "MilvusTarget",
    "VectorStore",
    "describe_store",
    "open_vector_index",
    "parse_vector_store",
    "rebuild_vector_index",
]
