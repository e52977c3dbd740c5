"""The catalog: one SQLite file that is the source of truth for everything indexed.

Why SQLite: one file, transactions, WAL (readers never block the single writer and never see a
half-written batch), FTS5 for keyword search, and the float16 vectors stored next to the rows
they belong to, so a FAISS index is only a derived cache that can always be rebuilt.

Threading: every thread gets its own connection (``Catalog.conn``); SQLite connections must
not be shared across threads. Writes go through ``Catalog.write()`` (``BEGIN IMMEDIATE``),
consistent multi-statement reads through ``Catalog.read()``.

Schema and names: see ``docs/architecture.md`` (the contract other modules code against).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from retrieval.catalog.fts_text import fts_text, register_functions
from retrieval.catalog.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    TEXT_KINDS,
    FileRow,
    ItemFilter,
    ItemRow,
    KeywordHit,
    PartRow,
    _path_match,
    _split_sql,
    fts_query,
)
from retrieval.errors import XmodalError

__all__ = [
    "MIGRATIONS", "SCHEMA_VERSION", "TEXT_KINDS", "Catalog", "CatalogDamaged", "FileRow",
    "ItemFilter", "ItemRow", "KeywordHit", "PartRow", "fts_query",
]

class CatalogDamaged(XmodalError):
    """The catalog file cannot be read as an xmodal catalog (damaged, or not SQLite at all)."""

    def __init__(self, path: Path, exc: BaseException) -> None:
        super().__init__(
            f"the catalog {path} is damaged or not a catalog ({exc}). Restore it from a backup, "
            f"or move it away (with its -wal/-shm files) and run `xmodal index` again to "
            "rebuild it from your files."
        )


class Catalog:
    """The SQLite catalog at ``path`` (created and migrated on first open)."""

    def __init__(self, path: Path | str, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._timeout = timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise CatalogDamaged(self.path, exc) from exc

    # -- connections -------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit mode; use ``write()``/``read()`` for txns)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(self._timeout * 1000)}")
            conn.create_function("xm_path_match", 2, _path_match, deterministic=True)
            register_functions(conn)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection this catalog opened (from any thread)."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.ProgrammingError:
                pass
        self._local = threading.local()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): all of it commits, or none of it."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same committed snapshot."""
        conn = self.conn
        if conn.in_transaction:  # nested in write()/read(): already a snapshot
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT)")
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has schema version {version}; this xmodal knows up to "
                    f"{SCHEMA_VERSION}. Upgrade xmodal."
                )
            for i in range(version, SCHEMA_VERSION):
                for stmt in _split_sql(MIGRATIONS[i]):
                    conn.execute(stmt)
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- meta ----------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str, conn: sqlite3.Connection | None = None) -> None:
        (conn or self.conn).execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def generation(self, space: str, conn: sqlite3.Connection | None = None) -> int:
        """Counter bumped by every commit that changes ``space``'s vectors.

        A FAISS file records the generation it was built at; a different number means the
        file is stale (e.g. after ``kill -9``) and must be rebuilt from ``vectors``.
        """
        row = (conn or self.conn).execute(
            "SELECT value FROM meta WHERE key=?", (f"space.{space}.generation",)
        ).fetchone()
        return int(row[0]) if row else 0

    def vector_ids(self, space: str) -> tuple[int, np.ndarray]:
        """The space's generation and its sorted vector ids, read in one snapshot."""
        with self.read() as conn:
            gen = self.generation(space, conn)
            rows = conn.execute("SELECT part_id FROM vectors WHERE space=? ORDER BY part_id",
                                (space,)).fetchall()
        return gen, np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def bump_generation(self, conn: sqlite3.Connection, space: str) -> int:
        gen = self.generation(space, conn) + 1
        self.set_meta(f"space.{space}.generation", str(gen), conn)
        return gen

    def space_model(self, space: str) -> tuple[str, int] | None:
        """(model name, dimension) the space was built with, or None if never written."""
        name = self.get_meta(f"space.{space}.model")
        dim = self.get_meta(f"space.{space}.dim")
        return (name, int(dim)) if name is not None and dim is not None else None

    def spaces(self) -> list[str]:
        """Spaces that hold vectors or were ever configured."""
        rows = self.conn.execute(
            "SELECT key FROM meta WHERE key LIKE 'space.%.model' "
            "UNION SELECT 'space.' || space || '.model' FROM vectors GROUP BY space"
        ).fetchall()
        return sorted({r[0].split(".")[1] for r in rows})

    # -- files and items -----------------------------------------------------------------
    def file(self, path: str) -> FileRow | None:
        row = self.conn.execute(
            "SELECT path, item_id, size, mtime_ns, status, error FROM files WHERE path=?", (path,)
        ).fetchone()
        return FileRow(*row) if row else None

    def files(self, under: Sequence[str] | None = None) -> list[FileRow]:
        """All file rows, or those at/below any of the given absolute paths (sorted)."""
        cols = "SELECT path, item_id, size, mtime_ns, status, error FROM files"
        if under is None:
            return [FileRow(*r) for r in self.conn.execute(f"{cols} ORDER BY path")]
        found: dict[str, FileRow] = {}
        for u in under:
            p = u.rstrip(os.sep) or os.sep
            prefix = p if p.endswith(os.sep) else p + os.sep
            # A range scan on the primary key: every path that starts with ``prefix``.
            rows = self.conn.execute(
                f"{cols} WHERE path = ? OR (path >= ? AND path < ?)",
                (p, prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)),
            )
            found.update((r[0], FileRow(*r)) for r in rows)
        return [found[k] for k in sorted(found)]

    def item_id_for_hash(
        self, content_hash: str, conn: sqlite3.Connection | None = None
    ) -> int | None:
        row = (conn or self.conn).execute(
            "SELECT id FROM items WHERE content_hash=?", (content_hash,)
        ).fetchone()
        return int(row[0]) if row else None

    def item(self, item_id: int) -> ItemRow | None:
        row = self.conn.execute(
            "SELECT id, content_hash, type, size, width, height, duration, language, mtime, "
            "indexed_at FROM items WHERE id=?",
            (item_id,),
        ).fetchone()
        return ItemRow(*row) if row else None

    def paths(self, item_id: int) -> list[str]:
        """Every path showing this item (identical copies share one item), sorted."""
        rows = self.conn.execute(
            "SELECT path FROM files WHERE item_id=? AND status='ok' ORDER BY path", (item_id,)
        ).fetchall()
        return [r[0] for r in rows]

    def item_ids(self, filters: ItemFilter | None = None) -> set[int]:
        """Ids of the items passing ``filters`` (all items when None/empty)."""
        cond, args = (filters or ItemFilter()).sql("i")
        rows = self.conn.execute(f"SELECT i.id FROM items i WHERE {cond}", args).fetchall()
        return {r[0] for r in rows}

    def insert_item(self, conn: sqlite3.Connection, *, content_hash: str, type: str,
                    size: int | None = None, width: int | None = None,
                    height: int | None = None, duration: float | None = None,
                    language: str | None = None, mtime: float | None = None) -> int:
        cur = conn.execute(
            "INSERT INTO items(content_hash, type, size, width, height, duration, language, "
            "mtime, indexed_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (content_hash, type, size, width, height, duration, language, mtime, time.time()),
        )
        return int(cur.lastrowid or 0)

    def insert_part(self, conn: sqlite3.Connection, item_id: int, kind: str, ord: int,
                    text: str | None = None, start: float | None = None,
                    end: float | None = None, name: str = "") -> int:
        """Add a part and its FTS row (``name`` is only set on the ``file`` part)."""
        cur = conn.execute(
            'INSERT INTO parts(item_id, kind, ord, start, "end", text) VALUES (?,?,?,?,?,?)',
            (item_id, kind, ord, start, end, text),
        )
        part_id = int(cur.lastrowid or 0)
        conn.execute(
            "INSERT INTO parts_fts(rowid, name, text) VALUES (?,?,?)",
            (part_id, fts_text(name), fts_text(text or "")),
        )
        return part_id

    def put_vectors(self, conn: sqlite3.Connection, space: str, ids: Sequence[int],
                    vecs: np.ndarray) -> None:
        """Store vectors (as float16) for parts; replaces existing ones."""
        half = np.asarray(vecs, dtype=np.float16)
        conn.executemany(
            "INSERT OR REPLACE INTO vectors(space, part_id, vec) VALUES (?,?,?)",
            [(space, int(i), half[n].tobytes()) for n, i in enumerate(ids)],
        )

    def set_file(self, conn: sqlite3.Connection, path: str, item_id: int | None, size: int | None,
                 mtime_ns: int | None, status: str = "ok", error: str | None = None) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO files(path, item_id, size, mtime_ns, status, error, seen_at) "
            "VALUES (?,?,?,?,?,?,?)",
            (path, item_id, size, mtime_ns, status, error, time.time()),
        )

    def refresh_names(self, conn: sqlite3.Connection, item_id: int) -> None:
        """Re-write the file part's FTS ``name`` from every path of the item."""
        names = sorted({Path(r[0]).name for r in conn.execute(
            "SELECT path FROM files WHERE item_id=? AND status='ok'", (item_id,))})
        row = conn.execute(
            "SELECT id, text FROM parts WHERE item_id=? AND kind='file'", (item_id,)
        ).fetchone()
        if row:
            conn.execute("DELETE FROM parts_fts WHERE rowid=?", (row[0],))
            conn.execute("INSERT INTO parts_fts(rowid, name, text) VALUES (?,?,?)",
                         (row[0], fts_text(" ".join(names)), fts_text(row[1] or "")))

    def detach_path(self, conn: sqlite3.Connection, path: str) -> dict[str, list[int]]:
        """Forget a path; delete its item when no other path shows it.

        Returns the part ids removed per space (their vectors must leave the FAISS indexes).
        """
        row = conn.execute("SELECT item_id FROM files WHERE path=?", (path,)).fetchone()
        conn.execute("DELETE FROM files WHERE path=?", (path,))
        if not row or row[0] is None:
            return {}
        item_id = int(row[0])
        left = conn.execute("SELECT 1 FROM files WHERE item_id=? LIMIT 1", (item_id,)).fetchone()
        if left:
            self.refresh_names(conn, item_id)
            return {}
        return self.delete_item(conn, item_id)

    def delete_item(self, conn: sqlite3.Connection, item_id: int) -> dict[str, list[int]]:
        """Delete an item with its parts, vectors and FTS rows; bumps touched generations."""
        removed: dict[str, list[int]] = {}
        for space, part_id in conn.execute(
            "SELECT v.space, v.part_id FROM vectors v JOIN parts p ON p.id = v.part_id "
            "WHERE p.item_id=?", (item_id,)):
            removed.setdefault(space, []).append(int(part_id))
        conn.execute("DELETE FROM items WHERE id=?", (item_id,))
        for space in removed:
            self.bump_generation(conn, space)
        return removed

    # -- search-side reads ---------------------------------------------------------------
    def parts_for(self, ids: Iterable[int]) -> dict[int, PartRow]:
        """Look up parts by id (vector ids from FAISS). Unknown ids are simply absent.

        An index read while a run writes can return ids deleted since; callers skip those.
        """
        ids = [int(i) for i in ids]
        out: dict[int, PartRow] = {}
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            rows = self.conn.execute(
                'SELECT p.id, p.item_id, p.kind, p.ord, p.start, p."end", p.text, i.type '
                "FROM parts p JOIN items i ON i.id = p.item_id "
                f"WHERE p.id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            out.update({r[0]: PartRow(*r) for r in rows})
        return out

    def parts_of(self, item_id: int) -> list[PartRow]:
        rows = self.conn.execute(
            'SELECT p.id, p.item_id, p.kind, p.ord, p.start, p."end", p.text, i.type '
            "FROM parts p JOIN items i ON i.id = p.item_id WHERE p.item_id=? "
            "ORDER BY p.kind != 'file', p.ord, p.id",
            (item_id,),
        ).fetchall()
        return [PartRow(*r) for r in rows]

    def keyword_search(self, fts: str, limit: int = 100, filters: ItemFilter | None = None,
                       min_match: tuple[Sequence[str], int] | None = None) -> list[KeywordHit]:
        """BM25 search over file names and part text; best first.

        ``fts`` is an FTS5 query (build one from user text with ``fts_query``). An empty
        query returns nothing; a malformed one raises ValueError. ``min_match=(queries, n)``
        keeps only parts that match at least ``n`` of those FTS5 queries: the candidates are
        counted from the posting lists first, so BM25 is computed for them alone rather than
        for every part sharing one common word with the query, and each hit carries its count
        (``matched``), which fusion's term coverage needs and would otherwise query again.
        """
        if not fts.strip():
            return []
        cond, args = (filters or ItemFilter()).sql("i")
        counted, count_args, matched, enough = "", [], "NULL", ""
        if min_match is not None:
            # Counted once, materialised: the same rows both restrict the search and say how
            # many terms each part holds (read through an automatic index on ``r``).
            each = " UNION ALL ".join(["SELECT rowid FROM parts_fts WHERE parts_fts MATCH ?"]
                                      * len(min_match[0]))
            counted = (f"WITH counted AS MATERIALIZED (SELECT rowid AS r, COUNT(*) AS n FROM "
                       f"({each}) GROUP BY rowid HAVING COUNT(*) >= ?) ")
            count_args = [*min_match[0], min_match[1]]
            matched = "(SELECT n FROM counted WHERE r = parts_fts.rowid)"
            enough = "AND +parts_fts.rowid IN (SELECT r FROM counted)"
        if filters is None or filters.empty:  # rank the FTS rows alone; join the page only
            sql = (f"{counted}SELECT p.id, p.item_id, f.s, f.n FROM (SELECT parts_fts.rowid "
                   f"AS id, bm25(parts_fts) AS s, {matched} AS n FROM parts_fts WHERE "
                   f"parts_fts MATCH ? {enough} ORDER BY s, parts_fts.rowid LIMIT ?) f "
                   "JOIN parts p ON p.id = f.id ORDER BY f.s, p.id")
            params = [*count_args, fts, limit]
        else:
            sql = (f"{counted}SELECT p.id, p.item_id, bm25(parts_fts) AS s, {matched} "
                   "FROM parts_fts JOIN parts p ON p.id = parts_fts.rowid "
                   "JOIN items i ON i.id = p.item_id "
                   f"WHERE parts_fts MATCH ? {enough} AND {cond} ORDER BY s, p.id LIMIT ?")
            params = [*count_args, fts, *args, limit]
        try:
            rows = self.conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise ValueError(f"bad keyword query {fts!r}: {exc}") from exc
        return [KeywordHit(part_id=r[0], item_id=r[1], score=-float(r[2]), matched=r[3])
                for r in rows]

    def load_vectors(self, space: str) -> tuple[np.ndarray, np.ndarray, int]:
        """All of a space's vectors as (ids int64, float32 matrix, generation), one snapshot."""
        with self.read() as conn:
            gen = self.generation(space, conn)
            rows = conn.execute(
                "SELECT part_id, vec FROM vectors WHERE space=? ORDER BY part_id", (space,)
            ).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return ids, np.zeros((0, 0), dtype=np.float32), gen
        mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16)
        return ids, mat.reshape(len(rows), -1).astype(np.float32), gen

    # -- health --------------------------------------------------------------------------
    def counts(self) -> dict[str, object]:
        """Items per type, parts per kind, vectors per space, file rows per status."""
        c = self.conn
        return {
            "items": dict(c.execute("SELECT type, COUNT(*) FROM items GROUP BY type").fetchall()),
            "parts": dict(c.execute("SELECT kind, COUNT(*) FROM parts GROUP BY kind").fetchall()),
            "vectors": dict(
                c.execute("SELECT space, COUNT(*) FROM vectors GROUP BY space").fetchall()
            ),
            "files": dict(
                c.execute("SELECT status, COUNT(*) FROM files GROUP BY status").fetchall()
            ),
        }

    def integrity_check(self) -> list[str]:
        """Problems found (empty list: healthy): SQLite's own check, FKs, FTS, file parts."""
        c = self.conn
        problems = [r[0] for r in c.execute("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [f"foreign key: {r}" for r in c.execute("PRAGMA foreign_key_check")]
        try:
            c.execute("INSERT INTO parts_fts(parts_fts) VALUES ('integrity-check')")
        except sqlite3.DatabaseError as exc:
            problems.append(f"fts: {exc}")
        n = c.execute(
            "SELECT COUNT(*) FROM parts p LEFT JOIN parts_fts f ON f.rowid = p.id "
            "WHERE f.rowid IS NULL").fetchone()[0]
        if n:
            problems.append(f"{n} parts have no keyword row")
        n = c.execute(
            "SELECT COUNT(*) FROM items i WHERE NOT EXISTS "
            "(SELECT 1 FROM parts p WHERE p.item_id=i.id AND p.kind='file')").fetchone()[0]
        if n:
            problems.append(f"{n} items have no file part")
        return problems

    def repair_keywords(self) -> None:
        """Rebuild the FTS rows from parts and file names (after an integrity problem)."""
        with self.write() as conn:
            conn.execute("DELETE FROM parts_fts")
            conn.execute("INSERT INTO parts_fts(rowid, name, text) "
                         "SELECT id, '', xm_fts_text(COALESCE(text, '')) FROM parts")
            for (item_id,) in conn.execute("SELECT id FROM items").fetchall():
                self.refresh_names(conn, item_id)
