"""The ``xmodal`` command: a click group whose subcommands live in ``indexer/cmd_*.py``."""

from __future__ import annotations

from pathlib import Path

import click

from indexer.cmd_duplicates import duplicates
from indexer.cmd_index import index, remove, repair, stats
from indexer.cmd_models import models
from indexer.cmd_search import eval_command, search
from indexer.cmd_serve import serve
from indexer.cmd_watch import watch
from retrieval import __version__


@click.group()
@click.version_option(__version__, prog_name="xmodal")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="XMODAL_DATA",
    default="xmodal-data",
    show_default=True,
    help="Data directory holding catalog.sqlite and the vector indexes.",
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path) -> None:
    """Cross-modal search over your photos, recordings and documents."""
    from retrieval.config import Settings

    ctx.obj = Settings(XMODAL_DATA=data_dir)


for command in (index, remove, stats, repair, search, eval_command, models, serve, watch,
                duplicates):
    main.add_command(command)
