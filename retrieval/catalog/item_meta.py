"""The ``item_meta`` table: writing an item's metadata, reading it for results, backfilling it.

Every item gets one row once its file's headers have been read (an empty row when they say
nothing), so ``backfill_meta`` can find the items indexed before metadata existed and read
just their headers (never transcribe, OCR or embed them again).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from threading import Event

from retrieval.catalog.database import Catalog, ItemFilter
from retrieval.catalog.schema import ITEM_DATE
from retrieval.media.metadata import ItemMeta, read_meta
from retrieval.results import Metadata

log = logging.getLogger(__name__)

COLUMNS = ItemMeta.columns()
BACKFILL_BATCH = 64


def put_meta(conn: sqlite3.Connection, item_id: int, meta: ItemMeta) -> None:
    """Store (or replace) the item's metadata row inside the caller's transaction."""
    conn.execute(
        f"INSERT OR REPLACE INTO item_meta(item_id, {', '.join(COLUMNS)}) "
        f"VALUES (?{', ?' * len(COLUMNS)})",
        [item_id, *meta.values()],
    )


def meta_for(catalog: Catalog, ids: Iterable[int]) -> dict[int, ItemMeta]:
    """item id -> its metadata, for the items that have a row."""
    ids = [int(i) for i in ids]
    out: dict[int, ItemMeta] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        rows = catalog.conn.execute(
            f"SELECT item_id, {', '.join(COLUMNS)} FROM item_meta "
            f"WHERE item_id IN ({','.join('?' * len(chunk))})", chunk).fetchall()
        out.update({r[0]: ItemMeta(*r[1:]) for r in rows})
    return out


def newest(catalog: Catalog, filters: ItemFilter, limit: int) -> list[int]:
    """The ids of up to ``limit`` items passing ``filters``, newest (by ``ITEM_DATE``) first."""
    cond, args = filters.sql("i")
    rows = catalog.conn.execute(
        f"SELECT i.id FROM items i WHERE {cond} "
        f"ORDER BY {ITEM_DATE.format(a='i')} DESC, i.id DESC LIMIT ?", [*args, limit]).fetchall()
    return [r[0] for r in rows]


def backfill_meta(catalog: Catalog, max_pixels: int, stop: Event | None = None) -> int:
    """Read headers for items that have no metadata row yet; returns the items filled in.

    An item whose files are all unreadable gets an empty row, so it is not retried each run.
    """
    done = 0
    while stop is None or not stop.is_set():
        rows = catalog.conn.execute(
            "SELECT i.id, i.type FROM items i WHERE NOT EXISTS "
            "(SELECT 1 FROM item_meta m WHERE m.item_id = i.id) ORDER BY i.id LIMIT ?",
            (BACKFILL_BATCH,)).fetchall()
        if not rows:
            break
        found = [(item_id, _read_any(catalog.paths(item_id), kind, max_pixels))
                 for item_id, kind in rows]
        with catalog.write() as conn:
            for item_id, meta in found:
                if conn.execute("SELECT 1 FROM items WHERE id=?", (item_id,)).fetchone():
                    put_meta(conn, item_id, meta)
        done += len(found)
    if done:
        log.info("read metadata of %d items indexed before it was kept", done)
    return done


def _read_any(paths: list[str], kind: str, max_pixels: int) -> ItemMeta:
    for p in paths:
        if Path(p).is_file():
            return read_meta(Path(p), kind, max_pixels)
    return ItemMeta()


def display_meta(catalog: Catalog, ids: Iterable[int]) -> dict[int, Metadata]:
    """item id -> the metadata a result shows (with the item's duration); None fields omitted."""
    ids = [int(i) for i in ids]
    found = meta_for(catalog, ids)
    out: dict[int, Metadata] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        rows = catalog.conn.execute(
            f"SELECT id, duration FROM items WHERE id IN ({','.join('?' * len(chunk))})",
            chunk).fetchall()
        for item_id, duration in rows:
            m = found.get(item_id, ItemMeta())
            taken = (datetime.fromtimestamp(m.taken_at, UTC).strftime("%Y-%m-%dT%H:%M:%S")
                     if m.taken_at is not None else None)
            out[item_id] = Metadata(
                taken_at=taken, camera=m.camera, orientation=m.orientation, lat=m.lat,
                lon=m.lon, place=m.place, duration=duration, title=m.title, artist=m.artist,
                album=m.album)
    return out
