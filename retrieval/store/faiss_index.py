"""Vector indexes: one FAISS ``IndexIDMap2`` per space, whose ids are ``parts.id``.

The catalog's ``vectors`` table (float16) is the source of truth; a ``<space>.faiss`` file is a
cache that makes start-up fast. Consequences:

- The index holds exactly the float16-rounded vectors the catalog stores, so rebuilding from
  the catalog reproduces it bit for bit (a resumed run and a clean build rank identically).
- Each file records the catalog *generation* of its space (``meta: space.<name>.generation``,
  bumped by every commit that changes that space). ``VectorIndex.open`` compares the two and
  rebuilds from the catalog when they differ: after ``kill -9`` between a commit and a save,
  or when the file is missing or corrupt.
- Saving writes a temp file in the same directory, fsyncs it, ``os.replace``-s it over the old
  file and fsyncs the directory: a reader sees the old index or the new one, never a torn one.
- Readers call ``reload_if_changed()`` before searching to pick up a file an indexing run
  replaced. Between saves the file can lag the catalog (ids may be missing or already
  deleted); callers resolve ids through ``Catalog.parts_for`` and skip unknown ones.

File format: ``faiss.write_index`` bytes, then a trailer: a JSON header (space, dim,
generation, ntotal, kind, body size, blake2b of the FAISS bytes), its 4-byte little-endian
length and ``MAGIC``. The FAISS bytes come first so FAISS itself can read or memory-map the
file (``XMODAL_MMAP_INDEXES``: ``faiss.IO_FLAG_MMAP_IFC`` maps Flat vectors and IVF lists, so
the kernel pages them in as queries touch them and shares them between processes); loading
streams the checksum instead of holding a second copy of the file. The checksum catches damage
that keeps the size (a flipped byte in a vector). One file, so the generation and the vectors
can never be out of step with each other. A file in any other layout counts as damaged and is
rebuilt from the catalog.

Scores are inner products of L2-normalised vectors (cosine similarity), higher is better.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import faiss
import numpy as np

from retrieval.atomic import replacing
from retrieval.store.base import StoreBase, stat_key
from retrieval.store.gpu import to_gpu
from retrieval.store.plan import (
    IndexOptions,
    IndexPlan,
    build_index,
    choose_index,
    describe_index,
    plan_matches,
)

if TYPE_CHECKING:
    from retrieval.catalog.database import Catalog

MAGIC = b"\nXMODALVI2"  # ends the file
TRAILER_END = len(MAGIC) + 4  # header length + magic
DEFAULT_OPTIONS = IndexOptions()  # no memory budget; GPU search when one is here


def index_plan(expected_size: int, dim: int, options: IndexOptions) -> IndexPlan:
    """The FAISS structure for a collection of this size: the one place that chooses.

    ``retrieval.store.plan.choose_index`` (measured in docs/performance.md): exact ``Flat``
    up to 10k vectors, then IVF-SQ8 tuned for recall@10 >= 0.95, within the options' memory
    budget when there is one. Only structures that can remove ids are chosen.
    """
    return choose_index(expected_size, dim, options.memory_budget_bytes)


def make_index(dim: int, expected_size: int = 0, train: np.ndarray | None = None,
               options: IndexOptions = DEFAULT_OPTIONS) -> faiss.IndexIDMap2:
    """An empty id-mapped inner-product index of the structure ``index_plan`` picks.

    Structures that need training (IVF) are trained on ``train``; without enough training
    vectors the index is exact ``Flat``.
    """
    plan = index_plan(expected_size, dim, options)
    if plan.train_size and (train is None or len(train) < 39 * plan.nlist):
        plan = choose_index(0, dim)
    return faiss.IndexIDMap2(build_index(plan, dim, train))


def index_path(data_dir: Path, space: str) -> Path:
    return Path(data_dir) / f"{space}.faiss"


def _as_f32(vecs: np.ndarray, dim: int) -> np.ndarray:
    """Round to float16 (what the catalog stores) and back, as a C-contiguous float32 matrix."""
    arr = np.asarray(vecs, dtype=np.float16).astype(np.float32)
    arr = arr.reshape(-1, dim)
    return np.ascontiguousarray(arr)


class VectorIndex(StoreBase):
    """A space's vectors in FAISS, keyed by part id; thread-safe for search vs add/reload."""

    def __init__(self, space: str, dim: int, *, path: Path | None = None,
                 generation: int = 0, index: faiss.Index | None = None,
                 options: IndexOptions = DEFAULT_OPTIONS) -> None:
        self.space = space
        self.dim = int(dim)
        self.path = path
        self.generation = generation
        self.options = options  # from the Settings this index was opened with, never global
        self._index = index if index is not None else make_index(self.dim, options=options)
        self._lock = threading.RLock()
        self._stat: tuple[int, int, int] | None = None
        self._gpu: faiss.Index | None = None  # search-only copy, see retrieval.store.gpu
        self._gpu_tried = False
        self.mapped = False  # the index's data is a read-only mapping of ``path``
        self._map_files = False  # load (and reload) the file mapped

    # -- content --------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def kind(self) -> str:
        return describe_index(self._index)

    def ids(self) -> np.ndarray:
        """All ids in the index (int64, sorted)."""
        with self._lock:
            n = self._index.ntotal
            if n == 0:
                return np.zeros(0, dtype=np.int64)
            mapped: Any = self._index
            ids = faiss.vector_to_array(mapped.id_map).astype(np.int64)
        return np.sort(ids)

    def add(self, ids: Sequence[int] | np.ndarray, vecs: np.ndarray) -> None:
        """Add vectors; an id already present is replaced (remove first, then add)."""
        ids_arr = np.asarray(ids, dtype=np.int64)
        if ids_arr.size == 0:
            return
        self._refuse_if_mapped()
        mat = _as_f32(vecs, self.dim)
        if mat.shape[0] != ids_arr.size:
            raise ValueError(f"{ids_arr.size} ids for {mat.shape[0]} vectors")
        with self._lock:
            self._index.remove_ids(faiss.IDSelectorBatch(ids_arr))
            self._index.add_with_ids(mat, ids_arr)
            self._drop_gpu_copy()

    def remove(self, ids: Sequence[int] | np.ndarray) -> int:
        """Remove ids (unknown ones are ignored); returns how many were removed."""
        ids_arr = np.asarray(ids, dtype=np.int64)
        if ids_arr.size == 0:
            return 0
        self._refuse_if_mapped()
        with self._lock:
            self._drop_gpu_copy()
            return int(self._index.remove_ids(faiss.IDSelectorBatch(ids_arr)))

    def _refuse_if_mapped(self) -> None:
        if self.mapped:  # FAISS would write into the read-only mapping and crash the process
            raise RuntimeError(f"the {self.space} index is memory-mapped (read-only): "
                               "open it without mmap to change it")

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` per query row: (scores float32 (nq, k), ids int64 (nq, k)).

        Missing slots (fewer than ``k`` vectors) have id -1; drop them. Queries must be
        L2-normalised vectors of this space's dimension.
        """
        q = np.ascontiguousarray(np.asarray(queries, dtype=np.float32).reshape(-1, self.dim))
        # One row gains nothing from FAISS's OpenMP team, whose idle workers then spin on the
        # cores the query's encoders need (measured: +14 ms of CPU a query). The thread count
        # is a per-thread setting of FAISS's own OpenMP runtime, so this thread alone changes.
        threads = faiss.omp_get_max_threads()
        with self._lock:
            if self._index.ntotal == 0 or k <= 0:
                nq = q.shape[0]
                return (np.zeros((nq, 0), dtype=np.float32), np.zeros((nq, 0), dtype=np.int64))
            if len(q) == 1:
                faiss.omp_set_num_threads(1)
            try:
                scores, ids = self._searcher().search(q, min(k, self._index.ntotal))
            finally:
                faiss.omp_set_num_threads(threads)
        return scores, ids

    def _searcher(self) -> faiss.Index:
        """The GPU copy when there can be one (made on the first search after a change)."""
        if self._gpu is None and not self._gpu_tried and self.options.use_gpu():
            self._gpu_tried = True
            self._gpu = to_gpu(self._index)
        return self._index if self._gpu is None else self._gpu

    def _drop_gpu_copy(self) -> None:
        self._gpu, self._gpu_tried = None, False

    def reconstruct(self, part_id: int) -> np.ndarray:
        """The stored vector of one id (KeyError when absent): 'more like this' queries."""
        with self._lock:
            try:
                return np.asarray(self._index.reconstruct(int(part_id)))
            except RuntimeError as exc:
                raise KeyError(part_id) from exc

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: Path | None = None) -> Path:
        """Write atomically (temp file, fsync, rename, fsync dir); return the path."""
        path = Path(path or self.path or "")
        if not path.name:
            raise ValueError("no path to save the index to")
        with replacing(path) as tmp:
            with self._lock:  # FAISS writes the file itself: no serialised copy in memory
                faiss.write_index(self._index, str(tmp))
                fields = {"space": self.space, "dim": self.dim, "generation": self.generation,
                          "ntotal": int(self._index.ntotal), "kind": self.kind}
            with open(tmp, "r+b") as fh:
                body = os.fstat(fh.fileno()).st_size
                header = json.dumps({**fields, "bytes": body,
                                     "blake2b": _digest(fh, body)}).encode()
                fh.seek(body)
                fh.write(header + struct.pack("<I", len(header)) + MAGIC)
        self.path = path
        self._stat = stat_key(path)
        return path

    @classmethod
    def load(cls, path: Path, *, mmap: bool = False,
             options: IndexOptions = DEFAULT_OPTIONS) -> VectorIndex:
        """Read a file written by ``save``; ValueError when it is not a valid index file.

        ``mmap`` maps the vectors instead of reading them (see the module docstring); a mapped
        index is read-only: ``add`` and ``remove`` refuse.
        """
        path = Path(path)
        with open(path, "rb") as fh:
            stat = stat_key(fh.fileno())  # of the file opened, whatever the path holds next
            try:
                header = _read_trailer(fh, stat[2])
                if _digest(fh, header["bytes"]) != header["blake2b"]:
                    raise ValueError("checksum mismatch")
                index = faiss.read_index(_open_file_path(fh),
                                         faiss.IO_FLAG_MMAP_IFC if mmap else 0)
            except Exception as exc:  # json, checksum or faiss: a damaged file, whatever the detail
                raise ValueError(f"{path} is damaged: {exc}") from exc
        if index.ntotal != header["ntotal"] or index.d != header["dim"]:
            raise ValueError(f"{path} is damaged: header and index disagree")
        out = cls(header["space"], header["dim"], path=path,
                  generation=int(header["generation"]), index=index, options=options)
        out._stat = stat
        out.mapped = out._map_files = mmap
        return out

    @classmethod
    def rebuild(cls, catalog: Catalog, space: str, dim: int | None = None,
                path: Path | None = None, options: IndexOptions = DEFAULT_OPTIONS) -> VectorIndex:
        """Build from the catalog's stored vectors (one consistent snapshot)."""
        ids, mat, gen = catalog.load_vectors(space)
        if dim is None:
            model = catalog.space_model(space)
            dim = model[1] if model else (mat.shape[1] if mat.size else 0)
        if not dim:
            raise ValueError(f"space {space!r} has no dimension yet")
        mat32 = _as_f32(mat, dim) if len(ids) else None  # one float32 copy for train and add
        index = make_index(dim, len(ids), mat32, options)
        if mat32 is not None:
            index.add_with_ids(mat32, ids)
        return cls(space, dim, path=path, generation=gen, index=index, options=options)

    @classmethod
    def open(cls, catalog: Catalog, data_dir: Path, space: str, *, save: bool = False,
             mmap: bool = False, options: IndexOptions = DEFAULT_OPTIONS) -> VectorIndex | None:
        """The space's index, consistent with the catalog; None when the space is empty.

        Loads ``<space>.faiss`` when its generation, dimension and size agree with the
        catalog, otherwise rebuilds it from stored vectors (and writes it when ``save``; only
        the process holding the indexing lock should save). ``mmap`` maps the file (and the
        files that replace it) read-only, for processes that only search; a rebuilt index
        stays in memory.
        """
        path = index_path(data_dir, space)
        model = catalog.space_model(space)
        with catalog.read() as conn:
            gen = catalog.generation(space, conn)
            count = conn.execute(
                "SELECT COUNT(*) FROM vectors WHERE space=?", (space,)).fetchone()[0]
        if model is None and count == 0:
            return None
        try:
            idx = cls.load(path, mmap=mmap, options=options)
            if (idx.generation == gen and idx.ntotal == count
                    and (model is None or idx.dim == model[1])
                    and plan_matches(idx._index, index_plan(count, idx.dim, options))):
                return idx
        except (OSError, ValueError):
            pass
        idx = cls.rebuild(catalog, space, model[1] if model else None, path=path,
                          options=options)
        if save:
            idx.save(path)
        idx._map_files = mmap
        return idx

    def _swap_in(self, path: Path) -> None:
        fresh = VectorIndex.load(path, mmap=self._map_files, options=self.options)
        with self._lock:
            self._index, self.dim, self.mapped = fresh._index, fresh.dim, fresh.mapped
            self.generation, self._stat = fresh.generation, fresh._stat
            self._drop_gpu_copy()


def _digest(fh: BinaryIO, size: int) -> str:
    """blake2b of the file's first ``size`` bytes, read in slices (no copy of the file)."""
    fh.seek(0)
    h = hashlib.blake2b(digest_size=16)
    left = size
    while left > 0:
        block = fh.read(min(left, 1 << 20))
        if not block:
            raise ValueError("file shorter than its header says")
        h.update(block)
        left -= len(block)
    return h.hexdigest()


def _open_file_path(fh: BinaryIO) -> str:
    """A name for the very file ``fh`` has open, so FAISS reads what was checksummed even when
    an indexing run has since replaced the path (Linux ``/proc/self/fd``, macOS ``/dev/fd``)."""
    for fds in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(fds):
            return f"{fds}/{fh.fileno()}"
    return fh.name


def _read_trailer(fh: BinaryIO, file_size: int) -> dict:
    """The JSON header at the end of a file ``save`` wrote (ValueError when there is none)."""
    if file_size < TRAILER_END:
        raise ValueError("too short")
    fh.seek(file_size - TRAILER_END)
    tail = fh.read(TRAILER_END)
    if tail[4:] != MAGIC:
        raise ValueError("not an xmodal vector index")
    (hlen,) = struct.unpack("<I", tail[:4])
    if hlen > file_size - TRAILER_END:
        raise ValueError("header longer than the file")
    fh.seek(file_size - TRAILER_END - hlen)
    header = json.loads(fh.read(hlen))
    if header["bytes"] != file_size - TRAILER_END - hlen:
        raise ValueError("header and file size disagree")
    return header


def remove_stale_temps(data_dir: Path) -> int:
    """Delete temp files a killed save left behind (``.<space>.faiss.*.tmp``)."""
    n = 0
    for tmp in Path(data_dir).glob(".*.faiss.*.tmp"):
        try:
            tmp.unlink()
            n += 1
        except OSError:
            pass
    return n
