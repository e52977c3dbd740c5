"""``xmodal duplicates``: list the groups of near-identical photos (largest copy first)."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from indexer.cmd_search import open_engine
from indexer.output import Command
from retrieval.config import Settings


@click.command(cls=Command)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def duplicates(settings: Settings, as_json: bool) -> None:
    """Groups of near-identical photos: resized, re-encoded or lightly edited copies."""
    with open_engine(settings) as engine:
        groups = engine.duplicate_groups()
    if as_json:
        click.echo(json.dumps({"groups": [g.model_dump() for g in groups],
                               "photos": sum(len(g.items) for g in groups)}))
        return
    console = Console()
    if not groups:
        console.print("no near-identical photos")
        return
    table = Table("group", "id", "path", "pixels", "bytes")
    for n, group in enumerate(groups, start=1):
        for d in group.items:
            pixels = f"{d.width}x{d.height}" if d.width and d.height else ""
            table.add_row(str(n), str(d.id), d.path, pixels, f"{d.size or 0:,}")
    console.print(table)
    console.print(f"[dim]{len(groups)} groups, {sum(len(g.items) for g in groups)} photos; "
                  "the first of each group is the largest[/dim]")
