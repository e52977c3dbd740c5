"""What every subcommand shares: ``--json`` output and one way to fail.

``--json`` prints the same pydantic model the JSON API answers, so a script moves between the
CLI and the API without translating. Failures the library understands (``XmodalError``, a value
a model refused, a full disk, a damaged catalog) print ``error: ...`` and exit 1; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click
from pydantic import BaseModel, ValidationError

from retrieval.config import Settings
from retrieval.errors import XmodalError

FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def print_json(answer: BaseModel | Sequence[BaseModel]) -> None:
    """One JSON document on stdout; non-ASCII text stays readable."""
    if not isinstance(answer, BaseModel):
        click.echo("[" + ",".join(a.model_dump_json() for a in answer) + "]")
    else:
        click.echo(answer.model_dump_json())


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def explain(exc: BaseException, data: Path) -> str | None:
    """A one-line explanation for failures of the environment (disk full, damaged catalog)."""
    text = str(exc).lower()
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


def _invalid(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
                     for e in exc.errors()[:5])


class Command(click.Command):
    """A subcommand whose understood failures are one ``error:`` line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except XmodalError as exc:
            fail(str(exc))
        except ValidationError as exc:
            fail(_invalid(exc))
        except ValueError as exc:  # a value the library refused, e.g. an empty query
            fail(str(exc))
        except (OSError, sqlite3.Error) as exc:
            settings = ctx.find_object(Settings)
            message = explain(exc, Path(settings.data_dir)) if settings else None
            if message is None:
                raise
            fail(message)
