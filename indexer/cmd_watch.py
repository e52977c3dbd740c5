"""``xmodal watch PATH...``: keep the index of these folders current until stopped.

Prints one line per batch of changes (or one JSON object with ``--json``). Ctrl-C or
SIGTERM lets the current batch commit, then exits 0.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import click

from indexer.output import Command
from retrieval.config import Settings


@click.command(cls=Command)
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per batch.")
@click.option("--settle", "settle_ms", type=click.IntRange(50, 60_000), default=500,
              show_default=True, metavar="MS",
              help="Index a batch once the folders have been quiet this long.")
@click.pass_obj
def watch(settings: Settings, paths: tuple[Path, ...], as_json: bool, settle_ms: int) -> None:
    """Index PATHs now, then index new, changed, moved and deleted files as they happen."""
    from indexer.pipeline import stop_on_signals
    from retrieval.ingest.watch import Watcher
    from retrieval.results import IndexReport

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def show(r: IndexReport) -> None:
        if as_json:
            click.echo(r.model_dump_json())
            return
        if r.added or r.updated or r.removed or r.failed:
            click.echo(f"added {r.added}, updated {r.updated}, removed {r.removed}, "
                       f"failed {r.failed} ({r.seconds:.1f} s)")
        for f in r.failures:
            click.echo(f"  failed: {f.path}: {f.reason}", err=True)

    stop = threading.Event()
    watcher = Watcher(settings, list(paths), on_batch=show)
    watcher.stop = stop
    click.echo(f"xmodal: watching {', '.join(str(p) for p in paths)}", err=True)
    with stop_on_signals(stop):
        watcher.run()
