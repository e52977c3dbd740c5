"""``xmodal index / remove / stats / repair``: the commands that write or inspect a data dir.

Exit codes: 0 when a run completed (files that failed are counted, not fatal), 130 after an
interruption (the work so far is committed; run again to finish), 1 when the run could not
start or go on (another run holds the data dir, a model changed without ``--reembed``).
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from retrieval.config import Settings
from retrieval.errors import XmodalError

EXIT_INTERRUPTED = 130


def _fail(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(1)


FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def explain(exc: BaseException, settings: Settings) -> str | None:
    """A one-line explanation for failures of the environment (disk full, damaged catalog)."""
    text = str(exc).lower()
    data = Path(settings.data_dir)
    if (isinstance(exc, OSError) and exc.errno in FULL_ERRNOS) or (
            isinstance(exc, sqlite3.Error) and ("full" in text or "too large" in text)):
        return (f"no space left for {data} (disk full, quota or file size limit): {exc}. "
                "Everything committed before is kept; free some space and run again.")
    if isinstance(exc, sqlite3.OperationalError) and "i/o" in text:
        return (f"could not write to {data} ({exc}): the disk may be full, a quota or file size "
                "limit reached, or the disk failing. Everything committed before is kept; "
                "free some space and run again (`xmodal repair` checks the catalog).")
    if isinstance(exc, sqlite3.DatabaseError):
        return (f"the catalog in {data} cannot be used ({exc}). Restore it from a backup, or "
                "move catalog.sqlite away and run `xmodal index` again to rebuild it.")
    return None


@contextmanager
def guarded(settings: Settings) -> Iterator[None]:
    """Turn known failures into a message and exit code 1 instead of a traceback."""
    try:
        yield
    except XmodalError as exc:
        _fail(exc)
    except (OSError, sqlite3.Error) as exc:
        message = explain(exc, settings)
        if message is None:
            raise
        click.echo(f"error: {message}", err=True)
        sys.exit(1)


@click.command()
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
    with guarded(settings):
        report = run_index(settings, list(paths), prune=prune, reembed=reembed, console=err,
                           progress=not quiet, batch_files=batch_files,
                           ray_address=ray_address)
    if as_json:
        click.echo(report.model_dump_json())
        err.print(summary_table(report))
    else:
        Console().print(summary_table(report))
    if report.interrupted:
        # Committed and saved; decoder threads still busy with abandoned files must not hold
        # the exit (the interpreter would join them), so leave without waiting for them.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_obj
def remove(settings: Settings, paths: tuple[Path, ...]) -> None:
    """Forget files (and everything indexed below a folder); the files stay on disk."""
    from retrieval.ingest.ingestor import Ingestor

    with guarded(settings), Ingestor(settings, None, lock_timeout=30.0) as ing:
        n = ing.remove(paths)
    click.echo(f"removed {n} path{'s' if n != 1 else ''}")


def collect_stats(settings: Settings) -> dict[str, Any]:
    """Items per type, vectors per space, index kind and size, models, disk use."""
    from retrieval.catalog.database import Catalog
    from retrieval.ingest.ingestor import catalog_path
    from retrieval.store import describe_store, open_vector_index

    data = Path(settings.data_dir)
    path = catalog_path(settings)
    if not path.exists():
        raise XmodalError(f"no catalog in {data}; run `xmodal index PATH` first")
    cat = Catalog(path)
    try:
        counts = cat.counts()
        spaces: dict[str, Any] = {}
        for space in cat.spaces():
            model = cat.space_model(space)
            idx = open_vector_index(settings, cat, space)
            file = data / f"{space}.faiss"
            spaces[space] = {
                "model": model[0] if model else None,
                "dim": model[1] if model else None,
                "vectors": counts["vectors"].get(space, 0),  # type: ignore[union-attr]
                "index": idx.kind if idx is not None else None,
                "index_vectors": idx.ntotal if idx is not None else 0,
                "index_bytes": file.stat().st_size if file.exists() else 0,
            }
    finally:
        cat.close()
    disk = sum(p.stat().st_size for p in data.iterdir() if p.is_file())
    return {"data_dir": str(data.resolve()), "store": describe_store(settings), **counts,
            "spaces": spaces, "disk_bytes": disk}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@click.pass_obj
def stats(settings: Settings, as_json: bool) -> None:
    """What is indexed: items per type, vectors per space, index types, models, disk use."""
    with guarded(settings):
        info = collect_stats(settings)
    if as_json:
        click.echo(json.dumps(info))
        return
    con = Console()
    con.print(f"data dir: {info['data_dir']} ({info['disk_bytes'] / 1e6:.1f} MB)")
    items = ", ".join(f"{n} {t}" for t, n in sorted(info["items"].items())) or "none"
    con.print(f"items: {items}; files: {info['files']}")
    table = Table("space", "model", "dim", "vectors", "index", "index size")
    for name, s in info["spaces"].items():
        table.add_row(name, str(s["model"]), str(s["dim"]), str(s["vectors"]), str(s["index"]),
                      f"{s['index_bytes'] / 1e6:.1f} MB")
    con.print(table)


@click.command()
@click.pass_obj
def repair(settings: Settings) -> None:
    """Check the catalog and rebuild every vector index from the stored vectors."""
    from retrieval.catalog.database import Catalog
    from retrieval.ingest.ingestor import catalog_path
    from retrieval.ingest.spaces import WriteLock
    from retrieval.store import rebuild_vector_index
    from retrieval.store.faiss_index import remove_stale_temps

    if not catalog_path(settings).exists():
        _fail(XmodalError(f"no catalog in {settings.data_dir}; run `xmodal index PATH` first"))
    lock = WriteLock(Path(settings.data_dir))
    with guarded(settings):
        lock.acquire(30.0)
    problems: list[str] = []
    try:
        with guarded(settings):
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
