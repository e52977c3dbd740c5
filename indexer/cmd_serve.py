"""``xmodal serve``: the JSON API and the search page, via uvicorn.

Binds 127.0.0.1 unless told otherwise. Listening on another interface without a token is
allowed (a trusted LAN is a real use) but warned about, since anyone who can reach the port
can then read every indexed file.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from indexer.output import Command
from retrieval.config import Settings


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_catalog(settings: Settings) -> None:
    """Open the catalog once before serving, so a damaged one stops ``serve`` with its message.

    Otherwise the failure surfaces inside uvicorn's lifespan as a traceback ending in
    "Application startup failed".
    """
    from retrieval.catalog.database import Catalog

    path = Path(settings.data_dir) / "catalog.sqlite"
    if path.exists():
        Catalog(path).close()


@click.command(cls=Command)
@click.option("--host", default=None, help="Interface to bind (default: 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default: 8000).")
@click.option("--watch", "watch_paths", multiple=True, metavar="PATH",
              type=click.Path(exists=True, path_type=Path),
              help="Index this folder now and its changes as they happen (repeatable).")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None,
          watch_paths: tuple[Path, ...]) -> None:
    """Serve the search page and the JSON API (OpenAPI docs at /docs).

    Models load and indexes open right after start: /healthz answers at once, /readyz once
    they are ready.
    """
    import uvicorn

    from web.app import create_app

    updates: dict[str, object] = {}
    if host is not None:
        updates["host"] = host
    if port is not None:
        updates["port"] = port
    settings = settings.model_copy(update=updates)
    check_catalog(settings)
    if not is_loopback(settings.host) and not settings.api_token:
        click.secho(
            f"warning: serving on {settings.host} without XMODAL_API_TOKEN: anyone who can "
            "reach this port can search and download every indexed file.",
            fg="yellow",
            err=True,
        )
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    click.echo(f"xmodal: serving {settings.data_dir} on http://{shown}:{settings.port}/", err=True)
    if watch_paths:
        click.echo(f"xmodal: watching {', '.join(map(str, watch_paths))}", err=True)
    uvicorn.run(
        create_app(settings, watch=list(watch_paths)),
        host=settings.host,
        port=settings.port,
        log_level="info",
        proxy_headers=False,
        server_header=False,
    )
