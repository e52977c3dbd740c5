"""Keeping a collection current: watch folders and index what changes, within seconds.

``Watcher`` first rescans its roots (what changed while it was off: new and changed files are
indexed, files that are gone are forgotten), then follows file-system events through
``watchfiles`` (inotify on Linux, FSEvents on macOS, polling where neither works). Events are
debounced: a batch is taken once the folders have been quiet for ``settle_ms`` (a copy in
progress keeps them busy), and at the latest after ``max_wait_ms``.

Each batch goes through the same crash-safe path as ``xmodal index`` (``Ingestor`` and
``index_files``: content hashes, batches committed in transactions, indexes saved), judged
by what is on disk *now* rather than by event kind, so a burst of events cannot be replayed
out of order. Paths that exist are indexed first and paths that are gone removed after, so a
rename or move attaches the new name to the item by its content hash (nothing is decoded or
embedded again) before the old name is forgotten. The write lock is taken per batch, so an
``xmodal index`` run or a web upload can interleave with a running watcher.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.config import Settings
from retrieval.ingest.ingestor import Ingestor, index_files
from retrieval.ingest.run import index_roots
from retrieval.ingest.scan import IGNORE_FILE, ScanEntry, scan
from retrieval.results import IndexReport

if TYPE_CHECKING:
    from retrieval.encoders import Encoders

log = logging.getLogger(__name__)

SETTLE_MS = 500
MAX_WAIT_MS = 5000
WATCH_READY_MS = 200  # the watch yields (empty) this soon after it is in place: rescan then
LOCK_TIMEOUT = 300.0  # seconds a batch waits for another writer (an index run) to finish


class Watcher:
    """Indexes changes under ``roots`` into ``settings.data_dir`` until ``stop`` is set."""

    def __init__(self, settings: Settings, roots: Sequence[Path], *,
                 encoders: Encoders | None = None, settle_ms: int = SETTLE_MS,
                 max_wait_ms: int = MAX_WAIT_MS,
                 on_batch: Callable[[IndexReport], None] | None = None) -> None:
        missing = [str(r) for r in roots if not Path(r).exists()]
        if missing:
            raise FileNotFoundError(f"cannot watch what does not exist: {', '.join(missing)}")
        self.settings = settings
        self.roots = [Path(os.path.realpath(r)) for r in roots]
        self.data_dir = Path(os.path.realpath(settings.data_dir))
        if encoders is None:
            from retrieval.encoders import Encoders

            encoders = Encoders(settings)  # lazy: loads a model when a file first needs it
        self.encoders = encoders
        self.settle_ms = settle_ms
        self.max_wait_ms = max_wait_ms
        self.on_batch = on_batch or (lambda batch: None)
        self.stop = threading.Event()

    # -- what to look at --------------------------------------------------------------------
    def wanted(self, path: Path) -> bool:
        """Whether a changed path is ours: inside a root, not hidden, not the data folder."""
        if path == self.data_dir or path.is_relative_to(self.data_dir):
            return False
        for root in self.roots:
            if path == root:
                return True
            if path.is_relative_to(root):
                rel = path.relative_to(root).parts
                return not any(p.startswith(".") for p in rel) and rel[-1] != IGNORE_FILE
        return False

    def _entries(self, present: Iterable[Path]) -> list[ScanEntry]:
        """The files to index for paths that exist: a file itself, a folder's contents."""
        found: dict[Path, ScanEntry] = {}
        for entry in scan(sorted(present), exclude=[self.data_dir]):
            if self.wanted(entry.path):
                found.setdefault(entry.path, entry)
        return [found[p] for p in sorted(found)]

    # -- indexing ---------------------------------------------------------------------------
    def rescan(self) -> IndexReport:
        """Index every root as ``xmodal index --prune`` does: what changed while off."""
        report = index_roots(self.settings, self.roots, encoders=self.encoders, prune=True,
                             lock_timeout=LOCK_TIMEOUT, stop=self.stop)
        self.on_batch(report)
        return report

    def apply(self, changed: Iterable[Path]) -> IndexReport:
        """Bring these paths up to date: index those that exist, then forget those gone."""
        paths = sorted({p for p in changed if self.wanted(p)})
        present = [p for p in paths if p.exists()]
        gone = [p for p in paths if not p.exists()]
        with Ingestor(self.settings, self.encoders, lock_timeout=LOCK_TIMEOUT) as ing:
            report = index_files(ing, self._entries(present), stop=self.stop, roots=self.roots)
            if gone:
                report.removed += ing.remove(gone)
            report.decoded, report.encoded = ing.decoded, ing.encoded
        self.on_batch(report)
        return report

    def run(self) -> None:
        """Rescan, then index each debounced batch of changes until ``stop`` is set.

        The rescan starts once the file-system watch is in place (its first empty yield), so a
        file written while the rescan runs is caught by one or the other, never by neither.
        """
        import watchfiles

        rescanned = False
        for changes in watchfiles.watch(
                *self.roots, watch_filter=lambda change, path: self.wanted(Path(path)),
                debounce=self.max_wait_ms, step=self.settle_ms, stop_event=self.stop,
                rust_timeout=WATCH_READY_MS, yield_on_timeout=True, raise_interrupt=False):
            if self.stop.is_set():
                break
            if not rescanned:
                self.rescan()
                rescanned = True
            if not changes:
                continue
            t0 = time.monotonic()
            try:
                self.apply(Path(p) for _, p in changes)
            except Exception:  # noqa: BLE001 - one bad batch must not end the watch
                log.exception("indexing %d changed paths failed; they are retried on the next "
                              "change or start", len(changes))
            log.debug("batch of %d changes in %.2f s", len(changes), time.monotonic() - t0)

    def start(self) -> threading.Thread:
        """Run on a daemon thread (``serve --watch``); set ``stop`` to end it."""
        thread = threading.Thread(target=self._run_logged, name="xmodal-watch", daemon=True)
        thread.start()
        return thread

    def _run_logged(self) -> None:
        try:
            self.run()
        except Exception:  # noqa: BLE001 - the server goes on serving what is indexed
            log.exception("watching %s stopped", ", ".join(map(str, self.roots)))
