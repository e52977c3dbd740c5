"""``xmodal index / remove / stats / repair``: the commands that write or inspect a data dir.

Exit codes: 0 when a run completed (files that failed are counted, not fatal), 130 after an
interruption (the work so far is committed; run again to finish), 1 when the run could not
start or go on (another run holds the data dir, a model changed without ``--reembed``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from indexer.output import Command, print_json
from retrieval.config import Settings
from retrieval.errors import XmodalError

EXIT_INTERRUPTED = 130


def _require_catalog(settings: Settings) -> None:
    from retrieval.ingest.ingestor import catalog_path

    if not catalog_path(settings).exists():
        raise XmodalError(f"no catalog in {settings.data_dir}; run `xmodal index PATH` first")


@click.command(cls=Command)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as one JSON object.")
@click.option("--prune", is_flag=True, help="Forget indexed files under PATH that are gone.")
@click.option("--reembed", is_flag=True,
              help="Re-encode stored parts after a model change (needed when one changed).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--batch", "batch_files", type=click.IntRange(1, 4096), default=16, hidden=True,
              help="Files per committed batch (a kill loses at most one batch).")
@click.option("--ray", "ray_address", metavar="ADDRESS",
              help="Decode and embed on a Ray cluster: 'auto' (the one this machine is in), "
                   "HOST:PORT, or 'local'. Files must be at the same paths on every node.")
@click.pass_obj
def index(settings: Settings, paths: tuple[Path, ...], as_json: bool, prune: bool,
          reembed: bool, quiet: bool, batch_files: int, ray_address: str | None) -> None:
    """Index files and folders (images, recordings, documents) so they become searchable."""
    from indexer.pipeline import run_index, summary_table

    err = Console(stderr=True)
    report = run_index(settings, list(paths), prune=prune, reembed=reembed, console=err,
                       progress=not quiet, batch_files=batch_files, ray_address=ray_address)
    if as_json:
        print_json(report)
        err.print(summary_table(report))
    else:
        Console().print(summary_table(report))
    if report.interrupted:
        # Committed and saved; decoder threads still busy with abandoned files must not hold
        # the exit (the interpreter would join them), so leave without waiting for them.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)


@click.command(cls=Command)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_obj
def remove(settings: Settings, paths: tuple[Path, ...]) -> None:
    """Forget files (and everything indexed below a folder); the files stay on disk."""
    from retrieval.engine import Engine

    _require_catalog(settings)
    with Engine(settings) as engine:
        n = engine.remove(paths, wait=30.0)
    click.echo(f"removed {n} path{'s' if n != 1 else ''}")


@click.command(cls=Command)
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@click.pass_obj
def stats(settings: Settings, as_json: bool) -> None:
    """What is indexed: items per type, vectors per space, index types, models, disk use."""
    from retrieval.engine import Engine

    _require_catalog(settings)
    with Engine(settings) as engine:
        info = engine.stats()
    if as_json:
        print_json(info)
        return
    con = Console()
    con.print(f"data dir: {info.data_dir} ({info.disk_bytes / 1e6:.1f} MB)")
    items = ", ".join(f"{n} {t}" for t, n in sorted(info.items.items())) or "none"
    con.print(f"items: {items}; files: {info.files}")
    table = Table("space", "model", "dim", "vectors", "index", "index size")
    for name, s in info.spaces.items():
        table.add_row(name, str(s.model), str(s.dim), str(s.vectors), str(s.index),
                      f"{s.index_bytes / 1e6:.1f} MB")
    con.print(table)


@click.command(cls=Command)
@click.pass_obj
def repair(settings: Settings) -> None:
    """Check the catalog and rebuild every vector index from the stored vectors."""
    from retrieval.catalog.database import Catalog
    from retrieval.ingest.ingestor import catalog_path
    from retrieval.ingest.spaces import WriteLock
    from retrieval.store import rebuild_vector_index
    from retrieval.store.faiss_index import remove_stale_temps

    _require_catalog(settings)
    lock = WriteLock(Path(settings.data_dir))
    lock.acquire(30.0)
    try:
        cat = Catalog(catalog_path(settings))
        problems = cat.integrity_check()
        for p in problems:
            click.echo(f"problem: {p}", err=True)
        if problems:
            cat.repair_keywords()
            problems = cat.integrity_check()
        remove_stale_temps(Path(settings.data_dir))
        for space in cat.spaces():
            idx = rebuild_vector_index(settings, cat, space)
            idx.save()
            click.echo(f"{space}: rebuilt {idx.ntotal} vectors ({idx.kind})")
        cat.close()
    finally:
        lock.release()
    if problems:
        click.echo("catalog still has problems: " + "; ".join(problems), err=True)
        sys.exit(1)
    click.echo("catalog ok")
