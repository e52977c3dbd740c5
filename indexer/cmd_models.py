"""``xmodal models``: which encoders this machine can run, with what weights, and why not."""

from __future__ import annotations

import logging

import click
from rich.console import Console
from rich.table import Table

from indexer.output import Command, print_json
from retrieval.config import Settings


@click.command("models", cls=Command)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
def models(settings: Settings, as_json: bool) -> None:
    """Load each encoder and report its weights, device, and whether it is available.

    Exits 0 even when some are unavailable: a missing model disables its modality, it does not
    break xmodal.
    """
    from retrieval.encoders import Encoders

    log = logging.getLogger("retrieval.encoders")
    level, log.level = log.level, logging.ERROR  # the table says it; no duplicate warnings
    try:
        statuses = Encoders(settings).status(load=True)
    finally:
        log.setLevel(level)
    if as_json:
        print_json(statuses)
        return
    table = Table(title="xmodal encoders")
    table.add_column("encoder")
    table.add_column("model", overflow="fold")
    table.add_column("weights", overflow="fold")
    table.add_column("device")
    table.add_column("status")
    for s in statuses:
        state = "[green]available[/]" if s.available else "[red]unavailable[/]"
        table.add_row(s.kind, s.name, s.weights or "-", f"{s.device} {s.precision}", state)
    console = Console()
    console.print(table)
    for s in statuses:
        if not s.available:
            console.print(f"[red]{s.kind}[/]: {s.reason}", highlight=False)
