"""The catalog's schema (with its migrations) and the plain rows and filters it returns.

Kept apart from ``retrieval.catalog.database`` so the SQL that defines the file format is in one
short
place; everything here is re-exported by ``retrieval.catalog.database``.
"""

from __future__ import annotations

import fnmatch
import sqlite3
from dataclasses import dataclass

from retrieval.catalog.fts_text import CJK_RUN, fts_phrase, has_cjk, normalise

SCHEMA_VERSION = 3

# Each entry upgrades the schema from version i to i+1; never edit a shipped entry, append.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
    CREATE TABLE items(
        id INTEGER PRIMARY KEY AUTOINCREMENT, content_hash TEXT UNIQUE NOT NULL, type TEXT NOT NULL,
        size INTEGER, width INTEGER, height INTEGER, duration REAL, language TEXT,
        mtime REAL, indexed_at REAL);
    CREATE TABLE files(
        path TEXT PRIMARY KEY,
        item_id INTEGER REFERENCES items(id) ON DELETE SET NULL,
        size INTEGER, mtime_ns INTEGER, status TEXT NOT NULL, error TEXT, seen_at REAL);
    CREATE INDEX files_item ON files(item_id);
    CREATE TABLE parts(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        kind TEXT NOT NULL, ord INTEGER NOT NULL, start REAL, "end" REAL, text TEXT);
    CREATE INDEX parts_item ON parts(item_id, ord);
    CREATE TABLE vectors(
        space TEXT NOT NULL,
        part_id INTEGER NOT NULL REFERENCES parts(id) ON DELETE CASCADE,
        vec BLOB NOT NULL, PRIMARY KEY (space, part_id)) WITHOUT ROWID;
    CREATE INDEX vectors_part ON vectors(part_id);
    CREATE VIRTUAL TABLE parts_fts USING fts5(name, text, tokenize="unicode61 tokenchars '-_'");
    CREATE TRIGGER parts_fts_delete AFTER DELETE ON parts BEGIN
        DELETE FROM parts_fts WHERE rowid = old.id;
    END;
    """,
    # CJK characters become one keyword token each (retrieval/catalog/fts_text.py): rebuild
    # every FTS row from the stored text and file names; nothing is decoded or re-encoded.
    """
    DELETE FROM parts_fts;
    INSERT INTO parts_fts(rowid, name, text)
        SELECT p.id,
               CASE WHEN p.kind = 'file' THEN xm_fts_text(COALESCE(
                   (SELECT group_concat(DISTINCT xm_file_name(f.path)) FROM files f
                    WHERE f.item_id = p.item_id AND f.status = 'ok'), '')) ELSE '' END,
               xm_fts_text(COALESCE(p.text, ''))
        FROM parts p;
    """,
    # 3: what files say about themselves (retrieval/media/metadata.py). One row per item whose
    # metadata was read, even if empty, so the backfill knows which items it has seen; a
    # counter bumped by every change lets caches (near-duplicate groups) check in one lookup.
    """
    CREATE TABLE IF NOT EXISTS item_meta(
        item_id INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
        taken_at REAL, camera TEXT, orientation INTEGER, lat REAL, lon REAL, place TEXT,
        title TEXT, artist TEXT, album TEXT, dhash INTEGER);
    CREATE INDEX IF NOT EXISTS item_meta_taken ON item_meta(taken_at);
    INSERT OR IGNORE INTO meta VALUES ('item_meta.generation', '0');
    CREATE TRIGGER IF NOT EXISTS item_meta_added AFTER INSERT ON item_meta BEGIN
        UPDATE meta SET value = value + 1 WHERE key = 'item_meta.generation';
    END;
    CREATE TRIGGER IF NOT EXISTS item_meta_removed AFTER DELETE ON item_meta BEGIN
        UPDATE meta SET value = value + 1 WHERE key = 'item_meta.generation';
    END;
    """,
]

TEXT_KINDS = ("chunk", "segment", "ocr")


@dataclass(frozen=True)
class FileRow:
    """One indexed path: which item it shows (None when it failed), and what it looked like."""

    path: str
    item_id: int | None
    size: int | None
    mtime_ns: int | None
    status: str
    error: str | None


@dataclass(frozen=True)
class ItemRow:
    id: int
    content_hash: str
    type: str
    size: int | None
    width: int | None
    height: int | None
    duration: float | None
    language: str | None
    mtime: float | None
    indexed_at: float | None


@dataclass(frozen=True)
class PartRow:
    """A searchable piece of an item; ``id`` is its vector id in every space."""

    id: int
    item_id: int
    kind: str  # file | chunk | segment | ocr
    ord: int
    start: float | None
    end: float | None
    text: str | None
    item_type: str


@dataclass(frozen=True)
class KeywordHit:
    part_id: int
    item_id: int
    score: float  # -bm25: higher is better
    matched: int | None = None  # how many of ``min_match``'s queries the part matches


# The date an item is filed under: when a photo was taken (EXIF), else when it was modified.
ITEM_DATE = ("COALESCE((SELECT m.taken_at FROM item_meta m WHERE m.item_id = {a}.id), "
             "{a}.mtime)")


def _like(value: str) -> str:
    """A LIKE pattern matching ``value`` anywhere, its own ``%`` and ``_`` taken literally."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class ItemFilter:
    """Restrictions a search applies to items; every field left as None means 'any'.

    ``path_glob`` is an fnmatch pattern on the absolute path, or (without wildcards) a prefix.
    An item passes when any of its paths matches. ``modified_*`` compare the item's mtime;
    ``date_from`` (inclusive) and ``date_to`` (exclusive) its date (``ITEM_DATE``).
    ``camera`` and ``place`` match anywhere in the name, ignoring case; durations in seconds.
    """

    types: tuple[str, ...] | None = None
    path_glob: str | None = None
    modified_after: float | None = None
    modified_before: float | None = None
    date_from: float | None = None
    date_to: float | None = None
    camera: str | None = None
    place: str | None = None
    min_duration: float | None = None
    max_duration: float | None = None

    @property
    def empty(self) -> bool:
        return not self.types and not self.path_glob and all(
            getattr(self, name) is None for name in (
                "modified_after", "modified_before", "date_from", "date_to", "camera", "place",
                "min_duration", "max_duration"))

    def sql(self, alias: str = "i") -> tuple[str, list[object]]:
        """A SQL condition over ``items`` (aliased ``alias``) and its parameters."""
        conds: list[str] = []
        args: list[object] = []
        if self.types:
            conds.append(f"{alias}.type IN ({','.join('?' * len(self.types))})")
            args.extend(self.types)
        for value, cond in (
            (self.modified_after, f"{alias}.mtime >= ?"),
            (self.modified_before, f"{alias}.mtime <= ?"),
            (self.date_from, ITEM_DATE.format(a=alias) + " >= ?"),
            (self.date_to, ITEM_DATE.format(a=alias) + " < ?"),
            (self.min_duration, f"{alias}.duration >= ?"),
            (self.max_duration, f"{alias}.duration <= ?"),
        ):
            if value is not None:
                conds.append(cond)
                args.append(value)
        for column, text in (("camera", self.camera), ("place", self.place)):
            if text:
                conds.append(f"EXISTS (SELECT 1 FROM item_meta m WHERE m.item_id = {alias}.id "
                             f"AND m.{column} LIKE ? ESCAPE '\\')")
                args.append(_like(text))
        if self.path_glob:
            conds.append(
                f"EXISTS (SELECT 1 FROM files f WHERE f.item_id = {alias}.id "
                "AND xm_path_match(f.path, ?))"
            )
            args.append(self.path_glob)
        return (" AND ".join(conds) or "1"), args


def _path_match(path: str, pattern: str) -> int:
    if any(c in pattern for c in "*?["):
        return int(fnmatch.fnmatchcase(path, pattern))
    return int(path.startswith(pattern))


def fts_query(text: str) -> str:
    """Turn free text into a safe FTS5 query: every word quoted, any word may match (OR).

    Quoting keeps user input from being parsed as FTS5 syntax (``AND``, ``-``, ``:``...).
    A run of CJK characters is the phrase of its characters, as ``fts_text`` indexed them.
    Returns an empty string when the text has no words.
    """
    spaced = CJK_RUN.sub(lambda m: f" {m.group()} ", normalise(text))
    words = "".join(c if c.isalnum() or c in "-_" else " " for c in spaced).split()
    return " OR ".join(fts_phrase(w) if has_cjk(w) else '"' + w.replace('"', '""') + '"'
                       for w in words)


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies (``BEGIN ... END;``) whole."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
