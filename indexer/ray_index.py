"""Distributed indexing on Ray: the encoding runs on a cluster, the driver writes the catalog.

Why this split: decoding, OCR, transcription and the encoders are the expensive part of
indexing and parallelise per file; the catalog is one SQLite file whose part ids must come out
exactly as a single-process run assigns them. So:

- the driver decides per file, as ``index_files`` does (unchanged / known failure / process),
  and sends the files to process to Ray Data: ``from_items(files).map_batches(EncodeActor)``
  with a pool of actors, one GPU each when the cluster has GPUs;
- each actor builds the configured encoders once, hashes, extracts and encodes its files with
  the same code the single-process path runs (``Extractor``, ``BatchWriter._encode``) and
  returns the outcome with its vectors;
- the driver takes the outcomes back *in input order* and commits them in batches through the
  ordinary ``Ingestor``, whose writer uses the precomputed vectors instead of encoding. The
  catalog, and the configured vector store (FAISS or Milvus), end up as a local run leaves them.

Every node must see the files at the same paths (a shared mount) and have xmodal with the
``ray`` extra installed and the same models configured; the settings travel with the job.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from threading import Event
from typing import Any

import numpy as np

from retrieval.config import Settings
from retrieval.errors import MediaError, XmodalError
from retrieval.extract import Extracted, Extractor, content_hash
from retrieval.ingest import Attach, FileCallback, FileEntry, Ingestor, Outcome
from retrieval.ingest import Failed as FailedOutcome
from retrieval.results import Failure, IndexReport
from retrieval.spaces import active_spaces
from retrieval.store import VectorStore
from retrieval.writer import BatchWriter, Encoded

log = logging.getLogger(__name__)

RAY_BATCH = 8  # files per map_batches call: enough to batch the encoders, small enough to spread


EncodersFactory = Callable[[Settings], Any]


def default_encoders(settings: Settings) -> Any:
    """The configured models, built on the worker (lazy: each loads on first use)."""
    from retrieval.encoders import Encoders

    return Encoders(settings)


class _NoCatalog:
    """What encoding asks of a catalog, on an actor that has none: record nothing.

    The driver checks each space's model and dimension against the real catalog (``ready``)
    before it stores the vectors an actor computed.
    """

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

    def __init__(self, settings_json: str, known_hashes: np.ndarray | None = None,
                 make_encoders: EncodersFactory | None = None) -> None:
        self.settings = Settings.model_validate_json(settings_json)
        self.encoders = (make_encoders or default_encoders)(self.settings)
        self.extractor = Extractor(self.settings, self.encoders)
        spaces = active_spaces(self.encoders)
        # Only the encoding half of the writer is used: no catalog, no indexes.
        self.writer = BatchWriter(_NoCatalog(), spaces, {}, _no_index,  # type: ignore[arg-type]
                                  self.settings.max_image_pixels)
        self.known = known_hashes if known_hashes is not None else np.zeros(0, np.uint64)

    def prepare(self, path: str, size: int, mtime_ns: int) -> Outcome:
        """``Ingestor.prepare`` without a catalog: known content attaches, else extract."""
        try:
            digest = content_hash(Path(path))
            if _contains(self.known, digest):
                return Attach(path, size, mtime_ns, digest)
            return self.extractor.extract(Path(path), size, mtime_ns, digest)
        except MediaError as exc:
            return FailedOutcome(path, size, mtime_ns, str(exc))
        except OSError as exc:
            return FailedOutcome(path, size, mtime_ns, f"cannot read {path}: {exc.strerror or exc}")
        except Exception as exc:  # a decoder bug on hostile input must not end the run
            return FailedOutcome(path, size, mtime_ns, f"{type(exc).__name__}: {exc}")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outcomes = [self.prepare(str(p), int(s), int(m))
                    for p, s, m in zip(batch["path"], batch["size"], batch["mtime_ns"],
                                       strict=True)]
        fresh = [o for o in outcomes if isinstance(o, Extracted)]
        encoded = dict(zip((id(e) for e in fresh), self.writer._encode(fresh), strict=True))
        blobs = []
        for o in outcomes:
            if isinstance(o, Extracted):
                o.image = None  # encoded already; the driver needs no pixels
            blobs.append(pickle.dumps((o, encoded.get(id(o)))))
        return {"ord": np.asarray(batch["ord"]), "blob": np.asarray(blobs, dtype=object)}


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
            else:
                if not isinstance(got, str):
                    for name in got:  # record / check the space's model as encoding would
                        ready = getattr(self.spaces[name], "ready", None)
                        if callable(ready):
                            ready(self.catalog)
                    self.encoded += sum(len(slots) for slots, _ in got.values())
                out.append(got)
        return out


def connect(address: str, *, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address`` (``auto``: the one running here; ``local``: start one)."""
    try:
        import ray
    except ImportError as exc:
        raise XmodalError("--ray needs Ray: pip install 'xmodal[ray]'") from exc
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False}
    if address == "local":
        kwargs.update(num_cpus=num_cpus)
    else:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise XmodalError(f"cannot join the Ray cluster at {address!r}: {exc}") from exc


def _cluster_gpus(ray: Any) -> float:
    return float(ray.cluster_resources().get("GPU", 0.0))


def index_files_on_ray(ingestor: Ingestor, entries: Iterable[FileEntry], *, address: str,
                       actors: int | None = None, batch_files: int = 16,
                       stop: Event | None = None, on_file: FileCallback | None = None,
                       known_hashes: bool = True,
                       make_encoders: EncodersFactory | None = None) -> IndexReport:
    """``index_files`` with decoding and encoding on a Ray cluster; same catalog at the end.

    ``actors``: encoder actors (default: one per GPU, else one per two CPUs, at least one).
    ``stop`` ends the run after the batch being committed; what is committed stays.
    ``make_encoders(settings)`` builds each actor's models (default: ``Encoders(settings)``);
    it must be importable or picklable on the workers.
    """
    report = IndexReport()
    t0 = time.monotonic()
    note = on_file or (lambda path, what: None)
    todo: list[FileEntry] = []
    for entry in entries:
        state, row = ingestor.check(entry)
        if state == "unchanged":
            report.unchanged += 1
            note(str(entry.path), "unchanged")
        elif state == "failed":
            report.failed += 1
            reason = (row.error if row else None) or "failed before"
            report.failures.append(Failure(path=str(entry.path), reason=reason))
            note(str(entry.path), "failed")
        else:
            todo.append(entry)
    if todo:
        _run(ingestor, todo, address=address, actors=actors, batch_files=batch_files,
             stop=stop, note=note, report=report, known_hashes=known_hashes,
             make_encoders=make_encoders)
    if stop is None or not stop.is_set():
        ingestor.backfill(stop)
    ingestor.save()
    report.seconds = round(time.monotonic() - t0, 3)
    return report


def _run(ingestor: Ingestor, todo: Sequence[FileEntry], *, address: str, actors: int | None,
         batch_files: int, stop: Event | None, note: FileCallback, report: IndexReport,
         known_hashes: bool, make_encoders: EncodersFactory | None) -> None:
    connect(address)
    import ray
    import ray.data

    gpus = _cluster_gpus(ray)
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    size = actors or (int(gpus) if gpus >= 1 else max(1, int(cpus) // 2))
    size = max(1, min(size, len(todo)))
    known = _known_prefixes(ingestor) if known_hashes else None
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # commit in input order: ids as a local run
    ds = ray.data.from_items([
        {"ord": n, "path": str(e.path), "size": int(e.size), "mtime_ns": int(e.mtime_ns)}
        for n, e in enumerate(todo)
    ], override_num_blocks=max(1, min(len(todo), size * 4)))
    per_actor: dict[str, Any] = {"num_gpus": 1} if gpus >= 1 else {"num_cpus": 1}
    ds = ds.map_batches(
        EncodeActor, batch_size=RAY_BATCH, batch_format="numpy",
        fn_constructor_kwargs={"settings_json": ingestor.settings.model_dump_json(),
                               "known_hashes": known, "make_encoders": make_encoders},
        compute=ray.data.ActorPoolStrategy(size=size), **per_actor,
    )
    writer = PrecomputedWriter(ingestor.writer)
    ingestor.writer = writer
    log.info("indexing %d files on Ray (%d actors, %g GPUs)", len(todo), size, gpus)
    batch: list[Outcome] = []
    expected = 0

    def flush() -> None:
        nonlocal batch
        if batch:
            labels = ingestor.commit(batch, report)
            for o, label in zip(batch, labels, strict=True):
                note(o.path, label)
            batch = []

    for row in ds.iter_rows():
        if int(row["ord"]) != expected:
            raise XmodalError(f"Ray returned file {row['ord']} where {expected} was due")
        expected += 1
        outcome, enc = pickle.loads(row["blob"])
        if isinstance(outcome, Extracted) and enc is not None:
            writer.precomputed[id(outcome)] = enc
        batch.append(outcome)
        if len(batch) >= batch_files:
            flush()
            if stop is not None and stop.is_set():
                return
    flush()
