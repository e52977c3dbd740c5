"""The catalog: schema, migrations, FTS, dedup by content, cascades, filters."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from retrieval.catalog.database import SCHEMA_VERSION, Catalog, ItemFilter, fts_query


def _add(cat: Catalog, path: str, h: str, type_: str = "text", text: str = "hello",
         mtime: float = 100.0) -> tuple[int, int, int]:
    with cat.write() as conn:
        item = cat.insert_item(conn, content_hash=h, type=type_, size=1, mtime=mtime)
        cat.set_file(conn, path, item, 1, 1)
        fpart = cat.insert_part(conn, item, "file", 0)
        cat.refresh_names(conn, item)
        chunk = cat.insert_part(conn, item, "chunk", 0, text=text)
        vec = np.zeros((1, 4), dtype=np.float32)
        vec[0, item % 4] = 1.0
        cat.put_vectors(conn, "text", [chunk], vec)
        cat.bump_generation(conn, "text")
    return item, fpart, chunk


@pytest.fixture()
def cat(tmp_path: Path) -> Catalog:
    c = Catalog(tmp_path / "catalog.sqlite")
    yield c
    c.close()


def test_schema_wal_and_version(cat: Catalog) -> None:
    conn = cat.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert cat.get_meta("schema_version") == str(SCHEMA_VERSION)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {"meta", "items", "files", "parts", "vectors", "parts_fts"} <= tables


def test_reopen_keeps_data_and_refuses_newer_schema(tmp_path: Path) -> None:
    c = Catalog(tmp_path / "c.sqlite")
    _add(c, "/x/a.txt", "h1")
    c.close()
    c = Catalog(tmp_path / "c.sqlite")
    assert c.counts()["items"] == {"text": 1}
    c.set_meta("schema_version", str(SCHEMA_VERSION + 1))
    c.close()
    with pytest.raises(RuntimeError, match="schema version"):
        Catalog(tmp_path / "c.sqlite")


def test_keyword_search_names_text_and_filters(cat: Catalog) -> None:
    a, a_file, a_chunk = _add(cat, "/docs/report-2024.txt", "h1", text="invoice ZX-42 due")
    b, _, b_chunk = _add(cat, "/pics/cat.png", "h2", type_="image", text="a cat", mtime=500)
    hits = cat.keyword_search(fts_query("report-2024"))
    assert [h.part_id for h in hits] == [a_file]
    assert [h.part_id for h in cat.keyword_search(fts_query("zx-42"))] == [a_chunk]
    hits = cat.keyword_search(fts_query("invoice cat"), filters=ItemFilter(types=("image",)))
    assert {h.item_id for h in hits} == {b}
    hits = cat.keyword_search(fts_query("invoice cat"), filters=ItemFilter(path_glob="/docs"))
    assert [h.item_id for h in hits] == [a]
    hits = cat.keyword_search(fts_query("invoice cat"), filters=ItemFilter(path_glob="*.png"))
    assert {h.item_id for h in hits} == {b}
    assert cat.item_ids(ItemFilter(modified_after=200)) == {b}
    assert cat.keyword_search(fts_query("  ")) == []
    assert fts_query('say "AND" NOT: x') == '"say" OR "AND" OR "NOT" OR "x"'
    with pytest.raises(ValueError):
        cat.keyword_search('"unbalanced')


def test_identical_content_is_one_item_with_every_path(cat: Catalog) -> None:
    item, fpart, _ = _add(cat, "/a/one.txt", "h1")
    with cat.write() as conn:
        cat.set_file(conn, "/b/two.txt", item, 1, 1)
        cat.refresh_names(conn, item)
    assert cat.paths(item) == ["/a/one.txt", "/b/two.txt"]
    assert [h.part_id for h in cat.keyword_search(fts_query("two"))] == [fpart]
    with cat.write() as conn:
        assert cat.detach_path(conn, "/a/one.txt") == {}
    assert cat.item(item) is not None
    assert cat.keyword_search(fts_query("one")) == []


def test_detach_last_path_cascades(cat: Catalog) -> None:
    item, _, chunk = _add(cat, "/a/one.txt", "h1")
    gen = cat.generation("text")
    with cat.write() as conn:
        removed = cat.detach_path(conn, "/a/one.txt")
    assert removed == {"text": [chunk]}
    assert cat.generation("text") == gen + 1
    assert cat.counts() == {"items": {}, "parts": {}, "vectors": {}, "files": {}}
    assert cat.keyword_search(fts_query("hello")) == []
    assert cat.integrity_check() == []


def test_write_rolls_back_whole_batch(cat: Catalog) -> None:
    with pytest.raises(sqlite3.IntegrityError), cat.write() as conn:
        cat.insert_item(conn, content_hash="same", type="text")
        cat.insert_item(conn, content_hash="same", type="text")
    assert cat.counts()["items"] == {}


def test_vectors_roundtrip_float16_and_parts_for(cat: Catalog) -> None:
    item, fpart, chunk = _add(cat, "/a/one.txt", "h1")
    ids, mat, gen = cat.load_vectors("text")
    assert ids.tolist() == [chunk] and mat.shape == (1, 4) and gen == 1
    parts = cat.parts_for([fpart, chunk, 999])
    assert set(parts) == {fpart, chunk}
    assert parts[chunk].text == "hello" and parts[chunk].item_type == "text"
    assert [p.kind for p in cat.parts_of(item)] == ["file", "chunk"]


def test_one_connection_per_thread(cat: Catalog) -> None:
    _add(cat, "/a/one.txt", "h1")
    seen: list[int] = []

    def work() -> None:
        seen.append(len(cat.keyword_search(fts_query("hello"))))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [1, 1, 1, 1]


def test_repair_keywords(cat: Catalog) -> None:
    _add(cat, "/a/one.txt", "h1")
    cat.conn.execute("DELETE FROM parts_fts")
    assert cat.integrity_check()
    cat.repair_keywords()
    assert cat.integrity_check() == []
    assert len(cat.keyword_search(fts_query("one hello"))) == 2


def test_files_under_is_a_path_prefix_not_a_string_prefix(cat: Catalog) -> None:
    with cat.write() as conn:
        for p in ["/a/b", "/a/b/c.txt", "/a/bc.txt", "/a/b0/x", "/a/b/d/e", "/z"]:
            cat.set_file(conn, p, None, 1, 1, "failed", "x")
    assert [f.path for f in cat.files(under=["/a/b/"])] == ["/a/b", "/a/b/c.txt", "/a/b/d/e"]
    assert len(cat.files(under=["/"])) == 6
