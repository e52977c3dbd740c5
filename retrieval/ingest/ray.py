"""Distributed indexing on Ray: the encoding runs on a cluster, the driver writes the catalog.

Why this split: decoding, OCR, transcription and the encoders are the expensive part of
indexing and parallelise per file; the catalog is one SQLite file whose part ids must come out
exactly as a single-process run assigns them. So:

- the files a local run would process (``Ingestor.check``) go to Ray Data:
  ``from_items(files).map_batches(EncodeActor)`` with a pool of actors, one GPU each when the
  cluster has GPUs;
- each actor builds the configured encoders once and runs the very code of a local run on its
  files: ``Ingestor.prepare`` (link rule, hashing, identity checks, extraction) and the
  writer's batch encoding, and returns each outcome with its vectors;
- the driver runs the ordinary ``index_files`` loop, whose per-file ``prepare`` now hands back
  the actor's outcome (in input order) and whose writer stores the actor's vectors instead of
  encoding. Batches, commits, interruption, backfill and saves are the local code, so the
  catalog and the configured vector store (FAISS or Milvus) end up as a local run leaves them.

Every node must see the files at the same paths (a shared mount) and have xmodal with the
``ray`` extra installed and the same models available; the settings travel with the job.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.config import Settings
from retrieval.errors import XmodalError
from retrieval.ingest.extract import Extracted, Extractor
from retrieval.ingest.ingestor import FileEntry, FileInfo, Ingestor, Outcome, index_files
from retrieval.ingest.spaces import active_spaces
from retrieval.ingest.writer import BatchWriter, Encoded
from retrieval.results import IndexReport
from retrieval.store import VectorStore

log = logging.getLogger(__name__)

RAY_BATCH = 8  # files per map_batches call: enough to batch the encoders, small enough to spread
EncodersFactory = Callable[[Settings], Any]


def default_encoders(settings: Settings) -> Any:
    """The configured models, built on the worker (lazy: each loads on first use)."""
    from retrieval.encoders import Encoders

    return Encoders(settings)


def _prefix(digest: str) -> int:
    return int(digest[:16], 16)


def _known_prefixes(ingestor: Ingestor) -> np.ndarray:
    """The catalog's content hashes as sorted 64-bit prefixes: 8 bytes an item to ship.

    A prefix collision only makes an actor answer "attach" for new content; the driver then
    finds no item with the full hash and decodes the file itself, so the catalog stays right.
    """
    rows = ingestor.catalog.conn.execute("SELECT content_hash FROM items").fetchall()
    return np.sort(np.fromiter((_prefix(r[0]) for r in rows), dtype=np.uint64, count=len(rows)))


def _contains(sorted_prefixes: np.ndarray, digest: str) -> bool:
    key = np.uint64(_prefix(digest))
    i = int(np.searchsorted(sorted_prefixes, key))
    return i < sorted_prefixes.size and sorted_prefixes[i] == key


class _ActorCatalog:
    """What ``prepare`` and encoding ask of a catalog, on an actor that has none.

    Known content comes from the driver's hash prefixes; nothing is recorded. The driver
    checks each space's model and dimension against the real catalog before storing vectors.
    """

    def __init__(self, known: np.ndarray) -> None:
        self.known = known

    def item_id_for_hash(self, digest: str, conn: object = None) -> int | None:
        return 0 if _contains(self.known, digest) else None

    def space_model(self, space: str) -> None:
        return None

    @contextmanager
    def write(self) -> Iterator[None]:
        yield None

    def set_meta(self, key: str, value: str, conn: object = None) -> None:
        return None


def _no_index(space: str) -> VectorStore:
    raise AssertionError("encoder actors never write indexes")


class EncodeActor:
    """A Ray Data actor: the configured encoders, loaded once, turning files into outcomes."""

    def __init__(self, settings_json: str, roots: Sequence[str] = (),
                 known_hashes: np.ndarray | None = None,
                 make_encoders: EncodersFactory | None = None) -> None:
        settings = Settings.model_validate_json(settings_json)
        encoders = (make_encoders or default_encoders)(settings)
        catalog = _ActorCatalog(known_hashes if known_hashes is not None
                                else np.zeros(0, np.uint64))
        # The local ingestor's own prepare() runs here; it needs only these attributes (no
        # lock, no catalog file). Should it need more, the Ray test's equality check fails.
        ing = Ingestor.__new__(Ingestor)
        ing.settings = settings
        ing.catalog = catalog  # type: ignore[assignment]
        ing.extractor = Extractor(settings, encoders)
        ing._claim_lock = threading.Lock()
        ing._claimed = {}
        ing.roots = [Path(r) for r in roots]
        self.ingestor = ing
        self.writer = BatchWriter(catalog, active_spaces(encoders), {},  # type: ignore[arg-type]
                                  _no_index, settings.max_image_pixels)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outcomes = [self.ingestor.prepare(FileInfo(Path(str(p)), int(s), int(m)))
                    for p, s, m in zip(batch["path"], batch["size"], batch["mtime_ns"],
                                       strict=True)]
        fresh = [o for o in outcomes if isinstance(o, Extracted)]
        encoded = dict(zip((id(e) for e in fresh), self.writer._encode(fresh), strict=True))
        blobs = []
        for o in outcomes:
            if isinstance(o, Extracted):
                o.image = None  # encoded already; the driver needs no pixels
                o.parts = [replace(p, frame=None) if p.frame else p for p in o.parts]
            blobs.append(pickle.dumps((o, encoded.get(id(o)))))
        return {"path": np.asarray(batch["path"]), "blob": np.asarray(blobs, dtype=object)}


class PrecomputedWriter(BatchWriter):
    """The ingestor's writer, taking vectors computed on the cluster instead of encoding.

    An outcome without precomputed vectors (a file re-read on the driver because its item
    vanished in the same batch) falls back to encoding locally.
    """

    def __init__(self, base: BatchWriter) -> None:
        super().__init__(base.catalog, base.spaces, base.indexes, base.new_index,
                         base.max_image_pixels)
        self.encoded = base.encoded
        self.precomputed: dict[int, Encoded | str] = {}

    def _encode(self, items: list[Extracted]) -> list[Encoded | str]:
        out: list[Encoded | str] = []
        for e in items:
            got = self.precomputed.pop(id(e), None)
            if got is None:
                out.extend(super()._encode([e]))
                continue
            if not isinstance(got, str):
                for name in got:  # record / check the space's model as encoding would
                    ready = getattr(self.spaces[name], "ready", None)
                    if callable(ready):
                        ready(self.catalog)
                self.encoded += sum(len(slots) for slots, _ in got.values())
            out.append(got)
        return out


class _RayOutcomes:
    """``prepare`` for the driver's loop: the actors' outcomes, looked up by path.

    ``index_files`` calls it from its decode threads in input order; rows arrive in that order
    too (``preserve_order``), so the buffer stays small. Paths Ray was not given (a file
    re-read after its item vanished) are prepared locally.
    """

    def __init__(self, rows: Iterator[dict[str, Any]], paths: Iterable[str],
                 writer: PrecomputedWriter, local: Callable[[FileEntry, float], Outcome]) -> None:
        self._rows = rows
        self._due = set(paths)
        self._ready: dict[str, tuple[Outcome, Encoded | str | None]] = {}
        self._lock = threading.Lock()
        self._writer = writer
        self._local = local

    def __call__(self, entry: FileEntry, position: float = math.inf) -> Outcome:
        key = str(entry.path)
        with self._lock:
            if key not in self._due:
                return self._local(entry, position)
            while key not in self._ready:
                row = next(self._rows, None)
                if row is None:
                    raise XmodalError(f"the Ray job returned no outcome for {key}")
                self._ready[str(row["path"])] = pickle.loads(row["blob"])
            self._due.discard(key)
            outcome, enc = self._ready.pop(key)
            if isinstance(outcome, Extracted) and enc is not None:
                self._writer.precomputed[id(outcome)] = enc
        return outcome


def connect(address: str) -> None:
    """Join the cluster at ``address`` (``auto``: the one running here; ``local``: start one)."""
    try:
        import ray
    except ImportError as exc:
        raise XmodalError("--ray needs Ray: pip install 'xmodal[ray]'") from exc
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False}
    if address != "local":
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise XmodalError(f"cannot join the Ray cluster at {address!r}: {exc}") from exc


def index_files_on_ray(ingestor: Ingestor, entries: Iterable[FileEntry], *, address: str,
                       actors: int | None = None, roots: Sequence[Path] | None = None,
                       known_hashes: bool = True, make_encoders: EncodersFactory | None = None,
                       **options: Any) -> IndexReport:
    """``index_files`` with decoding and encoding on a Ray cluster; same catalog at the end.

    ``actors``: encoder actors (default: one per GPU, else one per two CPUs, at least one).
    ``make_encoders(settings)`` builds each actor's models (default ``Encoders(settings)``); it
    must be importable or picklable on the workers. Other options (``stop``, ``on_file``,
    ``batch_files``, ...) are ``index_files``' own.
    """
    entries = list(entries)
    if roots is not None:
        ingestor.roots = [Path(os.path.realpath(r)) for r in roots]
    todo = [e for e in entries if ingestor.check(e)[0] == "process"]
    if not todo:  # nothing to decode: no cluster needed
        return index_files(ingestor, entries, roots=roots, **options)
    connect(address)
    import ray
    import ray.data

    resources = ray.cluster_resources()
    gpus, cpus = float(resources.get("GPU", 0.0)), float(resources.get("CPU", 1.0))
    size = actors or (int(gpus) if gpus >= 1 else max(1, int(cpus) // 2))
    size = max(1, min(size, len(todo)))
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # rows come back in input order
    ds: Any = ray.data.from_items(
        [{"path": str(e.path), "size": int(e.size), "mtime_ns": int(e.mtime_ns)} for e in todo],
        override_num_blocks=max(1, min(len(todo), size * 4)))
    per_actor: dict[str, Any] = {"num_gpus": 1} if gpus >= 1 else {"num_cpus": 1}
    ds = ds.map_batches(
        EncodeActor, batch_size=RAY_BATCH, batch_format="numpy",
        fn_constructor_kwargs={
            "settings_json": ingestor.settings.model_dump_json(),
            "roots": [str(r) for r in ingestor.roots],
            "known_hashes": _known_prefixes(ingestor) if known_hashes else None,
            "make_encoders": make_encoders,
        },
        compute=ray.data.ActorPoolStrategy(size=size), **per_actor,
    )
    log.info("indexing %d files on Ray (%d actors, %g GPUs)", len(todo), size, gpus)
    writer = PrecomputedWriter(ingestor.writer)
    ingestor.writer = writer
    outcomes = _RayOutcomes(iter(ds.iter_rows()), (str(e.path) for e in todo), writer,
                            ingestor.prepare)
    ingestor.prepare = outcomes  # type: ignore[method-assign]
    try:
        return index_files(ingestor, entries, roots=roots, **options)
    finally:
        del ingestor.prepare  # back to the class's own method
