"""``xmodal search`` and ``xmodal eval``: thin wrappers that turn options into one engine call."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from indexer.output import Command, print_json
from retrieval.config import Settings
from retrieval.results import Query, Result, SearchResponse

if TYPE_CHECKING:
    from retrieval.engine import Engine

SPACE_NAMES = ("text", "clip", "keyword")
FUSIONS = ["auto", "rrf", "score"]


def _timestamp(value: str | None) -> float | None:
    """Unix seconds from ``1700000000`` or an ISO date/time such as ``2024-05-01``."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is neither unix seconds nor an ISO date") from exc


def _period(value: str | None, end: bool) -> float | None:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` as where that period starts (or ends)."""
    if value is None:
        return None
    from retrieval.search.query_syntax import date_end, date_start

    when = date_end(value) if end else date_start(value)
    if when is None:
        raise click.BadParameter(f"{value!r}: use YYYY, YYYY-MM or YYYY-MM-DD")
    return when


def _path_filter(value: str | None) -> str | None:
    """Indexed paths are absolute: a relative prefix is taken from the current directory, and
    a relative glob such as ``docs/*.txt`` may match at any depth (``*/docs/*.txt``)."""
    if not value:
        return None
    if any(c in value for c in "*?["):
        return value if value.startswith(("/", "*")) else "*/" + value
    if os.path.isabs(value):
        return value
    trailing = os.sep if value.endswith(("/", os.sep)) else ""
    return os.path.abspath(value) + trailing


def _weights(pairs: tuple[str, ...]) -> dict[str, float] | None:
    out: dict[str, float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(f"{pair!r}: use SPACE=WEIGHT, e.g. keyword=2")
    return out or None


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"


def _meta_cell(r: Result) -> str:
    """Date, camera, place, duration and tags in one short line."""
    m = r.meta
    if m is None:
        return ""
    bits = [m.taken_at.replace("T", " ")[:16] if m.taken_at else None, m.camera, m.place,
            _clock(m.duration) if m.duration else None,
            " - ".join(x for x in (m.artist, m.title) if x) or None]
    return " · ".join(b for b in bits if b)


def _match_cell(r: Result) -> str:
    text = " ".join((r.match.text or "").split())
    if not text:
        text = _meta_cell(r)
    if len(text) > 80:
        text = text[:77] + "..."
    if r.match.start is not None and r.match.end is not None:
        return f"[{_clock(r.match.start)}-{_clock(r.match.end)}] {text}".strip()
    return text


def _table(response: SearchResponse, offset: int) -> Table:
    title = None
    if response.query.transcript:
        title = f"heard: {response.query.transcript!r}"
    table = Table(title=title, show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("type")
    table.add_column("path", overflow="fold")
    table.add_column("match", overflow="fold")
    calibrated = response.good_matches is not None  # a confidence means more than a score
    table.add_column("confidence" if calibrated else "score", justify="right")
    weak_shown = False
    for n, r in enumerate(response.results, start=offset + 1):
        if r.good is False and not weak_shown:  # the cut-off: what follows is a weak match
            weak_shown = True
            table.add_section()
            table.add_row("", "", "[dim]weaker matches[/dim]", "", "")
        shown = f"{r.confidence:.0%}" if r.confidence is not None else f"{r.score:.4f}"
        path = r.path + (f" (+{len(r.similar)} similar)" if r.similar else "")
        table.add_row(str(n), r.type, path, _match_cell(r), shown)
    return table


@click.command(cls=Command)
@click.argument("query", required=False)
@click.option(
    "--image",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Search with a picture (alone, or with QUERY: 'like this, but ...').",
)
@click.option(
    "--audio",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Search with a spoken question (transcribed, then searched as text).",
)
@click.option(
    "--type",
    "types",
    type=click.Choice(["image", "audio", "text", "video"]),
    multiple=True,
    help="Only this type of result (repeatable).",
)
@click.option("--path", "path_glob", help="Only paths matching this glob, or starting so.")
@click.option("--after", help="Only files modified after this (ISO date or unix seconds).")
@click.option("--before", help="Only files modified before this (ISO date or unix seconds).")
@click.option("--date-from", metavar="DATE",
              help="Only items dated in or after DATE (YYYY[-MM[-DD]]; a photo's date is when "
                   "it was taken, other files' when they were modified).")
@click.option("--date-to", metavar="DATE", help="Only items dated in or before DATE.")
@click.option("--camera", help="Only photos from a camera whose name contains this.")
@click.option("--place", help="Only photos taken at a place whose name contains this.")
@click.option("--min-duration", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Only recordings at least this long.")
@click.option("--max-duration", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Only recordings at most this long.")
@click.option("--all-similar", is_flag=True,
              help="List near-identical photos one by one instead of once per group.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 200))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--fusion",
    type=click.Choice(FUSIONS),
    default="auto",
    show_default=True,
    help="auto: each space counts where its scores stand out (docs/quality.md); rrf: "
    "reciprocal rank fusion; score: weighted min-max normalised scores.",
)
@click.option(
    "--weight",
    "weights",
    multiple=True,
    metavar="SPACE=W",
    help="Weight of a space (text, clip, keyword; image weighs the picture).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def search(
    settings: Settings,
    query: str | None,
    image: Path | None,
    audio: Path | None,
    types: tuple[str, ...],
    path_glob: str | None,
    after: str | None,
    before: str | None,
    date_from: str | None,
    date_to: str | None,
    camera: str | None,
    place: str | None,
    min_duration: float | None,
    max_duration: float | None,
    all_similar: bool,
    limit: int,
    offset: int,
    fusion: str,
    weights: tuple[str, ...],
    as_json: bool,
) -> None:
    """Search the collection with text, a picture, a spoken question, or text plus picture.

    QUERY may hold filters (type:audio after:2024-01 before:2025 camera:canon
    place:"new york" duration:>60) and words to push down (-people, NOT people). Filters
    alone list the matching items, newest first.
    """
    filtered = any(x is not None for x in (date_from, date_to, camera, place, min_duration,
                                           max_duration)) or bool(types)
    if not (query and query.strip()) and image is None and audio is None and not filtered:
        raise click.UsageError("give a QUERY, --image FILE, --audio FILE or a filter")
    q = Query(
        text=query,
        image=image.read_bytes() if image else None,
        audio=audio.read_bytes() if audio else None,
        types=list(types) or None,
        path_glob=_path_filter(path_glob),
        modified_after=_timestamp(after),
        modified_before=_timestamp(before),
        date_from=_period(date_from, end=False),
        date_to=_period(date_to, end=True),
        camera=camera,
        place=place,
        min_duration=min_duration,
        max_duration=max_duration,
        group_similar=not all_similar,
        weights=_weights(weights),
        fusion=fusion,
        limit=limit,
        offset=offset,
    )
    with open_engine(settings) as engine:
        response = engine.search(q)
    if as_json:
        print_json(response)
        return
    console = Console()
    if not response.results:
        console.print("no results")
        return
    if response.good_matches == 0:
        console.print("[yellow]no good match[/yellow]; the closest results:")
    console.print(_table(response, offset))
    counts = ", ".join(f"{n} {t}" for t, n in sorted(response.counts.items()))
    console.print(f"[dim]{counts} matched in {response.seconds * 1000:.0f} ms[/dim]")


def open_engine(settings: Settings) -> Engine:
    """The engine over the data folder (imported late: it pulls in the model libraries)."""
    from retrieval.engine import Engine

    return Engine(settings)


@click.command("eval", cls=Command)
@click.argument("qrels", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--fusion", type=click.Choice(FUSIONS), default="auto", show_default=True)
@click.option(
    "--space",
    "spaces",
    type=click.Choice(SPACE_NAMES),
    multiple=True,
    help="Measure only these spaces (repeatable); default: all, fused.",
)
@click.option(
    "--split",
    type=click.Choice(["all", "dev", "heldout"]),
    default="all",
    show_default=True,
    help="Only the queries of this split (a generated evaluation marks each: tune on dev).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def eval_command(
    settings: Settings, qrels: Path, fusion: str, spaces: tuple[str, ...], split: str,
    as_json: bool,
) -> None:
    """Measure Recall@1/5/10, MRR@10 and nDCG@10 per kind, fused and for each space alone."""
    from indexer.eval_tables import comparison_json, print_report
    from retrieval.evaluation import load_qrels
    from retrieval.space_eval import collect, compare, fused_report

    lines = [x for x in load_qrels(qrels) if split == "all" or x.split == split]
    weights = {s: (1.0 if s in spaces else 0.0) for s in SPACE_NAMES} if spaces else None
    with open_engine(settings) as engine:
        runs = collect(engine, lines, weights)
    report = fused_report(runs, fusion)  # type: ignore[arg-type]
    comparison = compare(runs, fusion)  # type: ignore[arg-type]
    if as_json:
        import json

        click.echo(json.dumps({**report.as_dict(), "spaces": comparison_json(comparison)}))
        return
    print_report(f"{qrels.name} ({split}): {report.overall.queries} queries", report, comparison)
