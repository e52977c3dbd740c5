"""One ``xmodal index`` run: scan, decode in threads, encode in batches, show progress.

The heavy lifting is ``retrieval.ingest.index_files`` (shared with web uploads); this module
adds what only a terminal run needs: the scan, a rich progress bar with files/s and ETA on
stderr, signal handling and the summary table.

Interruptions: the first Ctrl-C or SIGTERM sets a flag; the current batch finishes and commits,
the indexes are saved, and the command exits 130. A second Ctrl-C stops at once (the catalog
is still consistent: batches are transactions, and indexes are rebuilt when stale).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from indexer.scan import scan
from retrieval.config import Settings
from retrieval.ingest import Ingestor, index_files
from retrieval.results import Failure, IndexReport

if TYPE_CHECKING:
    from retrieval.encoders import Encoders


class RateColumn(ProgressColumn):
    """Files per second over the run so far."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:.1f} files/s", style="progress.data.speed")


@dataclass
class RunResult:
    report: IndexReport
    interrupted: bool
    decoded: int
    encoded: int


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop`` (graceful); a second SIGINT raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def warn_missing_models(encoders: Encoders, console: Console) -> None:
    """Say which modalities are off because their model is missing (the run goes on)."""
    try:
        statuses = encoders.status()
    except Exception:  # noqa: BLE001 - status is informative only
        return
    for st in statuses:
        if not getattr(st, "available", True):
            console.print(f"[yellow]warning:[/] {st.name} unavailable, its modality is "
                          f"skipped: {getattr(st, 'reason', '')}")


def run_index(settings: Settings, roots: Sequence[Path], *, prune: bool = False,
              reembed: bool = False, encoders: Encoders | None = None,
              console: Console | None = None, progress: bool = True,
              batch_files: int = 16) -> RunResult:
    """Index ``roots`` into ``settings.data_dir``; raises XmodalError when it cannot start."""
    console = console or Console(stderr=True)
    if encoders is None:
        from retrieval.encoders import Encoders

        encoders = Encoders(settings)
        warn_missing_models(encoders, console)
    stop = threading.Event()
    t0 = time.monotonic()
    scan_failures: list[Failure] = []
    with stop_on_signals(stop), Ingestor(settings, encoders, reembed=reembed) as ing:
        entries = list(scan(
            roots, exclude=[Path(settings.data_dir)],
            on_error=lambda p, r: scan_failures.append(Failure(path=str(p), reason=r)),
        ))
        bar = Progress(
            TextColumn("[progress.description]{task.description}"), BarColumn(),
            MofNCompleteColumn(), RateColumn(), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), console=console, disable=not progress, transient=False,
        )
        with bar:
            task = bar.add_task("indexing", total=len(entries))
            report = index_files(
                ing, entries, stop=stop, batch_files=batch_files, roots=list(roots),
                on_file=lambda path, what: bar.advance(task),
            )
        if prune and not stop.is_set():
            report.removed += ing.prune(roots, {str(e.path) for e in entries})
        decoded, encoded = ing.decoded, ing.encoded
    report.failed += len(scan_failures)
    report.failures.extend(scan_failures)
    report.seconds = round(time.monotonic() - t0, 3)
    return RunResult(report, stop.is_set(), decoded, encoded)


def summary_table(result: RunResult, max_failures: int = 50) -> Table:
    """The end-of-run table: counts, seconds, and each failure with its reason."""
    r = result.report
    title = "xmodal index (interrupted: run again to finish)" if result.interrupted else (
        "xmodal index")
    table = Table(title=title, show_header=True)
    for col in ("added", "updated", "unchanged", "removed", "failed", "seconds"):
        table.add_column(col, justify="right")
    table.add_row(*(str(v) for v in (r.added, r.updated, r.unchanged, r.removed, r.failed,
                                     f"{r.seconds:.1f}")))
    if r.failures:
        shown = r.failures[:max_failures]
        table.caption = "\n".join(f"failed: {f.path}: {f.reason}" for f in shown)
        if len(r.failures) > max_failures:
            table.caption += f"\n... and {len(r.failures) - max_failures} more (use --json)"
        table.caption_justify = "left"
    return table
