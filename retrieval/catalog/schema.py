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

SCHEMA_VERSION = 2

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


@dataclass(frozen=True)
class ItemFilter:
    """Restrictions a search applies to items; every field left as None means 'any'.

    ``path_glob`` is an fnmatch pattern on the absolute path, or (without wildcards) a prefix.
    An item passes when any of its paths matches. ``modified_*`` compare the item's mtime.
    """

    types: tuple[str, ...] | None = None
    path_glob: str | None = None
    modified_after: float | None = None
    modified_before: float | None = None

    @property
    def empty(self) -> bool:
        return (
            not self.types
            and not self.path_glob
            and self.modified_after is None
            and self.modified_before is None
        )

    def sql(self, alias: str = "i") -> tuple[str, list[object]]:
        """A SQL condition over ``items`` (aliased ``alias``) and its parameters."""
        conds: list[str] = []
        args: list[object] = []
        if self.types:
            conds.append(f"{alias}.type IN ({','.join('?' * len(self.types))})")
            args.extend(self.types)
        if self.modified_after is not None:
            conds.append(f"{alias}.mtime >= ?")
            args.append(self.modified_after)
        if self.modified_before is not None:
            conds.append(f"{alias}.mtime <= ?")
            args.append(self.modified_before)
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
