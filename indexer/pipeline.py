"""One ``xmodal index`` run: scan, decode in threads, encode in batches, show progress.

The run itself is ``retrieval.ingest.run.index_roots`` (the same for ``Engine.index`` and web
uploads); this module adds what only a terminal run needs: a rich progress bar with files/s and
ETA on stderr, signal handling and the summary table.

Interruptions: the first Ctrl-C or SIGTERM sets a flag; the current batch finishes and commits,
the indexes are saved, and the command exits 130. A second Ctrl-C stops at once (the catalog
is still consistent: batches are transactions, and indexes are rebuilt when stale).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
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

from retrieval.config import Settings
from retrieval.ingest.run import index_roots
from retrieval.results import IndexReport

if TYPE_CHECKING:
    from retrieval.encoders import Encoders


class RateColumn(ProgressColumn):
    """Files per second over the run so far."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:.1f} files/s", style="progress.data.speed")


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


def run_index(settings: Settings, roots: Sequence[Path], *, prune: bool = False,
              reembed: bool = False, encoders: Encoders | None = None,
              console: Console | None = None, progress: bool = True,
              batch_files: int = 16, ray_address: str | None = None) -> IndexReport:
    """``index_roots`` with a progress bar and Ctrl-C/SIGTERM as a graceful stop."""
    console = console or Console(stderr=True)
    if encoders is None:
        from retrieval.encoders import Encoders

        encoders = Encoders(settings)  # lazy: models load when a file needs them, and a
        # missing model is logged once and disables only its modality
    stop = threading.Event()
    bar = Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(),
        MofNCompleteColumn(), RateColumn(), TimeElapsedColumn(), TextColumn("ETA"),
        TimeRemainingColumn(), console=console, disable=not progress, transient=False,
    )
    task = bar.add_task("indexing", total=None)
    with stop_on_signals(stop), bar:
        return index_roots(
            settings, roots, encoders=encoders, prune=prune, reembed=reembed, stop=stop,
            batch_files=batch_files, ray_address=ray_address,
            on_scanned=lambda n: bar.update(task, total=n),
            on_file=lambda path, what: bar.advance(task),
        )


def summary_table(r: IndexReport, max_failures: int = 50) -> Group:
    """The end-of-run summary: counts and seconds, then each failure with its reason."""
    title = "xmodal index (interrupted: run again to finish)" if r.interrupted else (
        "xmodal index")
    table = Table(title=title, show_header=True)
    for col in ("added", "updated", "unchanged", "removed", "failed", "seconds", "files/s"):
        table.add_column(col, justify="right")
    done = r.added + r.updated + r.unchanged + r.failed
    rate = done / r.seconds if r.seconds > 0 else 0.0
    table.add_row(*(str(v) for v in (r.added, r.updated, r.unchanged, r.removed, r.failed,
                                     f"{r.seconds:.1f}", f"{rate:.1f}")))
    parts: list[RenderableType] = [table]
    if r.failures:
        failures = Table("failed file", "reason", title="failures", title_justify="left",
                         show_lines=False)
        for f in r.failures[:max_failures]:
            reason = f.reason
            if reason.startswith(f.path):  # most reasons start by naming the file again
                reason = reason[len(f.path):].lstrip(" :")
            failures.add_row(f.path, reason)
        parts.append(failures)
        if len(r.failures) > max_failures:
            parts.append(Text(f"... and {len(r.failures) - max_failures} more (use --json)"))
    return Group(*parts)
