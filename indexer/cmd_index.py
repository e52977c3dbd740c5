"""``xmodal index / remove / stats / repair``: the commands that write or inspect a data dir.

Exit codes: 0 when a run completed (files that failed are counted, not fatal), 130 after an
interruption (the work so far is committed; run again to finish), 1 when the run could not
start or go on (another run holds the data dir, a model changed without ``--reembed``).
"""

from __future__ import annotations

import json
import sys
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


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as one JSON object.")
@click.option("--prune", is_flag=True, help="Forget indexed files under PATH that are gone.")
@click.option("--reembed", is_flag=True,
              help="Re-encode stored parts after a model change (needed when one changed).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--batch", "batch_files", type=click.IntRange(1, 4096), default=16, hidden=True,
              help="Files per committed batch (a kill loses at most one batch).")
@click.pass_obj
def index(settings: Settings, paths: tuple[Path, ...], as_json: bool, prune: bool,
          reembed: bool, quiet: bool, batch_files: int) -> None:
    """Index files and folders (images, recordings, documents) so they become searchable."""
    from indexer.pipeline import run_index, summary_table

    err = Console(stderr=True)
    try:
        result = run_index(settings, list(paths), prune=prune, reembed=reembed, console=err,
                           progress=not quiet, batch_files=batch_files)
    except XmodalError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(result.report.model_dump_json())
        err.print(summary_table(result))
    else:
        Console().print(summary_table(result))
    if result.interrupted:
        sys.exit(EXIT_INTERRUPTED)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_obj
def remove(settings: Settings, paths: tuple[Path, ...]) -> None:
    """Forget files (and everything indexed below a folder); the files stay on disk."""
    from retrieval.ingest import Ingestor

    try:
        with Ingestor(settings, None, lock_timeout=30.0) as ing:
            n = ing.remove(paths)
    except XmodalError as exc:
        _fail(exc)
        return
    click.echo(f"removed {n} path{'s' if n != 1 else ''}")


def collect_stats(settings: Settings) -> dict[str, Any]:
    """Items per type, vectors per space, index kind and size, models, disk use."""
    from retrieval.catalog import Catalog
    from retrieval.ingest import catalog_path
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
    try:
        info = collect_stats(settings)
    except XmodalError as exc:
        _fail(exc)
        return
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
    from retrieval.catalog import Catalog
    from retrieval.ingest import catalog_path
    from retrieval.spaces import WriteLock
    from retrieval.store import rebuild_vector_index
    from retrieval.vectors import remove_stale_temps

    lock = WriteLock(Path(settings.data_dir))
    try:
        lock.acquire(30.0)
    except XmodalError as exc:
        _fail(exc)
        return
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
