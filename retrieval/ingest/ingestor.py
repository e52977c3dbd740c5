"""Writing files into the catalog and the vector indexes, incrementally and crash-safely.

``Ingestor`` owns the write side of a data directory for its lifetime (an exclusive lock file,
so two indexing runs never interleave). Per file it decides:

- size and mtime as recorded → unchanged, nothing is read (a failed file is not retried);
- otherwise the content hash is computed; a known hash attaches the path to the existing item
  without decoding or encoding (renames, moves, identical copies);
- otherwise the file is decoded (``retrieval.ingest.extract``) and its parts encoded in batches.

A batch commits in one SQLite transaction: after ``kill -9`` the catalog holds whole batches
only, and the FAISS files (derived data) are rebuilt from stored vectors when their recorded
generation disagrees. ``index_files`` is the loop every run goes through
(``retrieval.ingest.run.index_roots``).
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from pathlib import Path
from threading import Event, Lock
from typing import TYPE_CHECKING, Any, Protocol

from retrieval.catalog.database import Catalog, FileRow
from retrieval.catalog.item_meta import backfill_meta
from retrieval.config import Settings
from retrieval.errors import MediaError
from retrieval.ingest.cores import CoreShare
from retrieval.ingest.extract import (
    Attach,
    Extracted,
    Extractor,
    Failed,
    NotRegular,
    Skipped,
    display_path,
    hash_regular_file,
    storable,
)
from retrieval.ingest.spaces import WriteLock, active_spaces, check_space_models
from retrieval.ingest.writer import BatchWriter
from retrieval.results import Failure, IndexReport
from retrieval.store import VectorStore, open_vector_index, rebuild_vector_index
from retrieval.store.faiss_index import remove_stale_temps

if TYPE_CHECKING:
    from retrieval.encoders import Encoders

CATALOG_NAME = "catalog.sqlite"


class FileEntry(Protocol):
    """A file to index: ``retrieval.ingest.scan.ScanEntry`` or ``FileInfo``."""

    @property
    def path(self) -> Path: ...
    @property
    def size(self) -> int: ...
    @property
    def mtime_ns(self) -> int: ...


@dataclass(frozen=True)
class FileInfo:
    path: Path
    size: int
    mtime_ns: int


Outcome = Extracted | Attach | Failed | Skipped


def catalog_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / CATALOG_NAME


class Ingestor:
    """The write side of a data directory: decide, extract, encode, commit, save indexes."""

    def __init__(self, settings: Settings, encoders: Encoders | None, *,
                 catalog: Catalog | None = None, reembed: bool = False,
                 lock_timeout: float = 0.0) -> None:
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = WriteLock(self.data_dir)
        self._lock.acquire(lock_timeout)
        try:
            self._own_catalog = catalog is None
            self.catalog = catalog or Catalog(catalog_path(settings))
            self.extractor = Extractor(settings, encoders)
            self.spaces = active_spaces(encoders)
            check_space_models(self.catalog, self.spaces, reembed=reembed)
            remove_stale_temps(self.data_dir)
            self.indexes: dict[str, VectorStore] = {}
            for space in sorted(set(self.catalog.spaces()) | set(self.spaces)):
                idx = open_vector_index(settings, self.catalog, space, save=True)
                if idx is not None:
                    self.indexes[space] = idx
            self.writer = BatchWriter(
                self.catalog, self.spaces, self.indexes,
                lambda space: rebuild_vector_index(settings, self.catalog, space),
                settings.max_image_pixels)
        except BaseException:
            self._lock.release()
            raise
        self._saved = {s: i.generation for s, i in self.indexes.items()}
        self._claim_lock = Lock()
        # content hash -> (scan position, path) of the file decoding it this run
        self._claimed: dict[str, tuple[float, str]] = {}
        self.roots: list[Path] = []  # when set, files must resolve inside these (link rule)

    @property
    def decoded(self) -> int:
        """Files decoded so far (the incremental tests count this)."""
        return self.extractor.decoded

    @property
    def encoded(self) -> int:
        """Vectors computed so far, in any space."""
        return self.writer.encoded

    # -- deciding and extracting ----------------------------------------------------------
    def check(self, entry: FileEntry) -> tuple[str, FileRow | None]:
        """'unchanged', 'failed' (known broken, not retried), 'unstorable' or 'process'."""
        if not storable(str(entry.path)):
            return "unstorable", None
        row = self.catalog.file(str(entry.path))
        if row is not None and row.size == entry.size and row.mtime_ns == entry.mtime_ns:
            return ("failed" if row.status == "failed" else "unchanged"), row
        return "process", row

    def _outside(self, path: Path) -> bool:
        """Whether the name now leads outside the roots (a link swapped in after the scan)."""
        if not self.roots:
            return False
        real = Path(os.path.realpath(path))
        return not any(real == r or real.is_relative_to(r) for r in self.roots)

    def _moved(self, path: Path, st: os.stat_result) -> bool:
        """Whether the name no longer shows the bytes that were hashed (swapped or rewritten)."""
        try:
            now = os.stat(path)
        except OSError:
            return True
        return ((now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns)
                != (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)) or self._outside(path)

    def prepare(self, entry: FileEntry, position: float = math.inf) -> Outcome:
        """Hash the file, then attach or extract it. Runs in worker threads; never raises.

        The link rule is checked again at read time and once more after decoding (with the
        file's identity), so a file swapped for a link out of the roots, or rewritten while
        being read, is never indexed with content that is not its own. Of identical files in
        flight together, the one first in scan order (``position``) decodes; should a later
        one have claimed the bytes first, both decode and the writer attaches the later, so
        which file an item is made from never depends on thread timing.
        """
        path = str(entry.path)
        try:
            if self._outside(entry.path):
                return Skipped(path, "leads outside the indexed folders")
            digest, st = hash_regular_file(entry.path)
            size, mtime_ns = st.st_size, st.st_mtime_ns
            with self._claim_lock:
                held = self._claimed.get(digest)
                claimed = held is not None and held[1] != path and held[0] <= position
                if not claimed:
                    self._claimed[digest] = (position, path)
            if claimed or self.catalog.item_id_for_hash(digest) is not None:
                out: Outcome = Attach(path, size, mtime_ns, digest)
            else:
                out = self.extractor.extract(entry.path, size, mtime_ns, digest)
            if self._moved(entry.path, st):
                with self._claim_lock:
                    if self._claimed.get(digest, (0, ""))[1] == path:
                        del self._claimed[digest]
                return Failed(path, None, None, "the file changed while it was being read; "
                              "it is retried on the next run")
            return out
        except (FileNotFoundError, NotRegular) as exc:
            return Skipped(path, str(exc))
        except MediaError as exc:
            return Failed(path, entry.size, entry.mtime_ns, str(exc))
        except OSError as exc:
            return Failed(path, entry.size, entry.mtime_ns,
                          f"cannot read {display_path(path)}: {exc.strerror or exc}")
        except Exception as exc:  # a decoder bug on hostile input must not end the run
            return Failed(path, entry.size, entry.mtime_ns, f"{type(exc).__name__}: {exc}")

    # -- writing --------------------------------------------------------------------------
    def commit(self, outcomes: Sequence[Outcome], report: IndexReport) -> list[str]:
        """Encode and commit one batch in one transaction, then update the live indexes.

        Returns what happened to each outcome: added, updated, unchanged, failed.
        """
        labels, retry = self.writer.commit(outcomes, report)
        for path in retry:  # attached to an item this very batch deleted: decode after all
            entry = _stat_entry(Path(path))
            outcome: Outcome | None = self.prepare(entry) if entry is not None else None
            if isinstance(outcome, Attach) and entry is not None:
                outcome = self._extract_or_fail(entry, outcome.content_hash)
            if outcome is not None:
                labels[labels.index("retry")] = self.writer.commit([outcome], report)[0][0]
        return ["skipped" if label == "retry" else label for label in labels]

    def _extract_or_fail(self, entry: FileEntry, digest: str) -> Outcome:
        try:
            return self.extractor.extract(entry.path, entry.size, entry.mtime_ns, digest)
        except Exception as exc:  # noqa: BLE001 - recorded as the file's failure
            return Failed(str(entry.path), entry.size, entry.mtime_ns, str(exc))

    def remove(self, paths: Iterable[str | Path]) -> int:
        """Forget these paths and everything indexed below them; returns file rows removed."""
        rows = self.catalog.files(under=[os.path.realpath(p) for p in paths])
        return self.writer.remove([r.path for r in rows])

    def prune(self, roots: Sequence[str | Path], seen: set[str]) -> int:
        """Remove rows under ``roots`` whose file was not seen by this run's scan."""
        under = [os.path.realpath(r) for r in roots]
        gone = [r.path for r in self.catalog.files(under=under) if r.path not in seen]
        return self.writer.remove(gone)

    def backfill(self, stop: Event | None = None) -> int:
        """Encode parts lacking a vector in an active space (new model, ``--reembed``), and
        read the headers of items indexed before metadata was kept."""
        backfill_meta(self.catalog, self.settings.max_image_pixels, stop)
        return self.writer.backfill(stop)

    def save(self, force: bool = False) -> None:
        """Write each index whose generation moved since it was last saved."""
        for space, idx in self.writer.indexes.items():
            if force or self._saved.get(space) != idx.generation:
                idx.save()
                self._saved[space] = idx.generation

    def close(self) -> None:
        try:
            self.save()
        finally:
            if self._own_catalog:
                self.catalog.close()
            self._lock.release()

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _stat_entry(path: Path) -> FileInfo | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return FileInfo(path, st.st_size, st.st_mtime_ns)


FileCallback = Callable[[str, str], None]  # (path, what happened)


def index_files(ingestor: Ingestor, entries: Iterable[FileEntry], *,
                workers: int | None = None, batch_files: int = 16,
                stop: Event | None = None, on_file: FileCallback | None = None,
                save_interval: float = 15.0,
                roots: Sequence[Path] | None = None) -> IndexReport:
    """Index ``entries`` in order: decode in threads, encode and commit in batches.

    Outcomes are committed in input order, so part ids do not depend on thread timing (a
    resumed run assigns the ids a clean run would). ``stop`` (set by a signal handler) ends
    the run after the current batch is committed; the caller saves and exits. ``on_file``
    hears every file's fate for progress display. ``roots``: the folders being indexed; a
    file whose name leads outside them when it is read is skipped.
    """
    if roots is not None:
        ingestor.roots = [Path(os.path.realpath(r)) for r in roots]
    report = IndexReport()
    t0 = time.monotonic()
    workers = workers or ingestor.settings.decode_workers
    window = max(2 * workers, batch_files)
    note = on_file or (lambda path, what: None)
    it = iter(entries)
    exhausted = False
    pending: deque[tuple[FileEntry, Future[Outcome]]] = deque()
    submitted = 0  # scan position of the next file sent to decode
    batch: list[Outcome] = []
    last_save = time.monotonic()
    cores = CoreShare(ingestor.settings, workers)

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    def flush() -> None:
        nonlocal batch, last_save
        if batch:
            cores.fit(batch)
            labels = ingestor.commit(batch, report)
            for o, label in zip(batch, labels, strict=True):
                note(o.path, label)
            batch = []
        if time.monotonic() - last_save > save_interval:
            ingestor.save()
            last_save = time.monotonic()

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xmodal-decode")
    try:
        while True:
            while not exhausted and len(pending) < window and not stopped():
                entry = next(it, None)
                if entry is None:
                    exhausted = True
                    break
                state, row = ingestor.check(entry)
                if state == "unchanged":
                    report.unchanged += 1
                    note(str(entry.path), "unchanged")
                elif state == "unstorable":
                    report.failed += 1
                    report.failures.append(Failure(
                        path=display_path(str(entry.path)),
                        reason="the file name is not valid UTF-8; rename the file to index it"))
                    note(str(entry.path), "failed")
                elif state == "failed":
                    report.failed += 1
                    reason = (row.error if row else None) or "failed before"
                    report.failures.append(Failure(path=str(entry.path), reason=reason))
                    note(str(entry.path), "failed")
                else:
                    pending.append((entry, pool.submit(ingestor.prepare, entry, submitted)))
                    submitted += 1
            if stopped() or not pending:
                break
            outcome = _wait(pending[0][1], stopped)
            if outcome is None:  # stopped while a long decode was running: leave it
                break
            pending.popleft()
            batch.append(outcome)
            if len(batch) >= batch_files:
                flush()
        flush()
    finally:
        # On a stop, decodes still running are abandoned (their files are redone next run);
        # waiting for, say, an hour-long recording would make Ctrl-C feel broken.
        pool.shutdown(wait=not stopped(), cancel_futures=True)
        cores.restore()
    if not stopped():
        ingestor.backfill(stop)
    ingestor.save()
    report.seconds = round(time.monotonic() - t0, 3)
    return report


def _wait(fut: Future[Outcome], stopped: Callable[[], bool]) -> Outcome | None:
    """The future's result, or None as soon as ``stopped()`` turns true while waiting."""
    while True:
        try:
            return fut.result(timeout=0.25)
        except FuturesTimeout:
            if stopped():
                return None
