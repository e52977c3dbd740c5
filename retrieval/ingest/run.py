"""One indexing run over files and folders: scan, index, prune.

The CLI (``xmodal index``), ``Engine.index`` and web uploads all come through here, so a folder
given to the library is walked exactly as the command line walks it, with the same ignore
rules, symlink confinement and counted failures.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from threading import Event
from typing import TYPE_CHECKING

from retrieval.catalog.database import Catalog
from retrieval.config import Settings
from retrieval.ingest.ingestor import FileCallback, Ingestor, index_files
from retrieval.ingest.scan import scan
from retrieval.results import Failure, IndexReport

if TYPE_CHECKING:
    from retrieval.encoders import Encoders


def index_roots(
    settings: Settings,
    roots: Sequence[Path],
    *,
    encoders: Encoders | None,
    catalog: Catalog | None = None,
    prune: bool = False,
    reembed: bool = False,
    lock_timeout: float = 0.0,
    stop: Event | None = None,
    on_scanned: Callable[[int], None] | None = None,
    on_file: FileCallback | None = None,
    batch_files: int = 16,
    ray_address: str | None = None,
) -> IndexReport:
    """Index every indexable file under ``roots`` (files or folders) into ``settings.data_dir``.

    Raises ``XmodalError`` when the run cannot start (another run holds the data dir, a model
    changed without ``reembed``). ``stop`` ends the run after the current batch: the report
    then says ``interrupted`` and a later run picks up where this one stopped. ``on_scanned``
    hears how many files the scan found, before the first is decoded (for a progress bar).
    ``ray_address`` (``auto``, ``HOST:PORT``, ``local``) decodes and encodes on a Ray cluster.
    """
    t0 = time.monotonic()
    stop = stop or Event()
    scan_failures: list[Failure] = []
    with Ingestor(settings, encoders, catalog=catalog, reembed=reembed,
                  lock_timeout=lock_timeout) as ing:
        entries = list(scan(
            roots, exclude=[Path(settings.data_dir)],
            on_error=lambda p, r: scan_failures.append(Failure(path=str(p), reason=r)),
        ))
        if on_scanned is not None:
            on_scanned(len(entries))
        run = index_files
        if ray_address is not None:
            from retrieval.ingest.ray import index_files_on_ray

            run = functools.partial(index_files_on_ray, address=ray_address)
        report = run(ing, entries, stop=stop, batch_files=batch_files, roots=list(roots),
                     on_file=on_file)
        if prune and not stop.is_set():
            report.removed += ing.prune(roots, {str(e.path) for e in entries})
        report.decoded, report.encoded = ing.decoded, ing.encoded
    report.failed += len(scan_failures)
    report.failures.extend(scan_failures)
    report.interrupted = stop.is_set()
    report.seconds = round(time.monotonic() - t0, 3)
    return report
