"""Keyword search in Chinese, Japanese and Korean text, on a real SQLite catalog (no models).

The user-visible promise: a word written inside running text without spaces is found, a code
glued to Han characters is still one code, and characters that merely occur somewhere in a
text (not as the word) do not make it a match.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from retrieval.catalog.database import SCHEMA_VERSION, Catalog, ItemFilter
from retrieval.catalog.fts_text import fts_text
from retrieval.catalog.schema import MIGRATIONS, _split_sql
from retrieval.evaluation import mrr_at_k
from retrieval.search.keywords import keyword_hits
from tests.cjk_corpus import DOCS, QUERIES


def _fill(cat: Catalog) -> dict[int, str]:
    """One text item per corpus document; returns item id -> document key."""
    keys: dict[int, str] = {}
    with cat.write() as conn:
        for n, (key, text) in enumerate(DOCS.items()):
            item = cat.insert_item(conn, content_hash=f"h{n}", type="text")
            cat.set_file(conn, f"/docs/{key}.txt", item, 1, 1)
            cat.insert_part(conn, item, "file", 0, name=f"{key}.txt")
            cat.insert_part(conn, item, "chunk", 0, text=text)
            keys[item] = key
    return keys


def _found(cat: Catalog, keys: dict[int, str], query: str) -> list[str]:
    hits = keyword_hits(cat, query, 10, ItemFilter())
    return list(dict.fromkeys(keys[h.item_id] for h in hits))


@pytest.fixture()
def catalog(tmp_path: Path) -> tuple[Catalog, dict[int, str]]:
    cat = Catalog(tmp_path / "catalog.sqlite")
    yield cat, _fill(cat)
    cat.close()


def test_words_inside_running_text_are_found(catalog: tuple[Catalog, dict[int, str]]) -> None:
    cat, keys = catalog
    assert _found(cat, keys, "预算") == ["zh01"]
    assert _found(cat, keys, "纪要") == ["zh01"]  # the second half of 会议纪要
    assert _found(cat, keys, "熊猫")[0] == "zh07"  # inside 大熊猫
    assert _found(cat, keys, "明年的预算")[0] == "zh01"
    assert _found(cat, keys, "東京本社") == ["ja01"]
    assert _found(cat, keys, "カメラ") == ["ja02"]
    assert _found(cat, keys, "서울") == ["ko01"]


def test_codes_beside_han_and_full_width_stay_whole(
        catalog: tuple[Catalog, dict[int, str]]) -> None:
    cat, keys = catalog
    assert _found(cat, keys, "INV-4471") == ["zh02"]  # written 发票INV-4471，
    assert _found(cat, keys, "ＩＮＶ－４４７１") == ["zh02"]  # full-width, as IMEs type it
    assert _found(cat, keys, "发票 INV-4471") == ["zh02"]
    assert _found(cat, keys, "INV-8812") == ["ja04"]
    assert _found(cat, keys, "INV") == []  # a code is not found by its prefix
    assert _found(cat, keys, "budget")[0] == "en01"


def test_scattered_characters_are_not_the_word(catalog: tuple[Catalog, dict[int, str]]) -> None:
    cat, keys = catalog
    # zx03 says 熊和猫 (a bear and a cat); zx01 holds 预 and 算 apart; zx06 护 and 照.
    assert "zx03" not in _found(cat, keys, "熊猫")
    assert "zx01" not in _found(cat, keys, "预算")
    assert _found(cat, keys, "护照") == ["zh23"]
    assert _found(cat, keys, "视频会议") == ["zh15"]  # not zh01's 会议 alone


def test_mrr_over_the_hand_written_queries(catalog: tuple[Catalog, dict[int, str]]) -> None:
    cat, keys = catalog
    mrr = sum(mrr_at_k(_found(cat, keys, q), {rel}, 10) for q, rel in QUERIES) / len(QUERIES)
    print(f"keyword MRR@10 over {len(QUERIES)} CJK queries: {mrr:.3f}")
    assert mrr >= 0.95


def test_fts_text_spaces_cjk_only() -> None:
    assert fts_text("发票INV-4471，金额") == " 发  票 INV-4471, 金  额 "
    assert fts_text("plain English, INV-1") == "plain English, INV-1"
    assert fts_text("ﾗｰﾒﾝ") == " ラ  ー  メ  ン "  # half-width katakana made full-width


def _v1_catalog(path: Path) -> None:
    """A catalog as schema version 1 wrote it: FTS rows hold the raw text."""
    conn = sqlite3.connect(path, isolation_level=None)
    for stmt in _split_sql(MIGRATIONS[0]):
        conn.execute(stmt)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.execute("INSERT INTO items(id, content_hash, type) VALUES (1, 'h', 'text')")
    conn.execute("INSERT INTO files VALUES ('/d/会议纪要.txt', 1, 1, 1, 'ok', NULL, 0)")
    conn.execute("INSERT INTO parts VALUES (1, 1, 'file', 0, NULL, NULL, NULL)")
    conn.execute("INSERT INTO parts VALUES (2, 1, 'chunk', 0, NULL, NULL, ?)", (DOCS["zh01"],))
    conn.execute("INSERT INTO parts_fts(rowid, name, text) VALUES (1, '会议纪要.txt', '')")
    conn.execute("INSERT INTO parts_fts(rowid, name, text) VALUES (2, '', ?)", (DOCS["zh01"],))
    conn.execute("INSERT INTO vectors VALUES ('text', 2, x'0000')")
    conn.close()


def test_version_1_catalog_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    _v1_catalog(path)
    cat = Catalog(path)
    try:
        assert cat.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert [h.part_id for h in keyword_hits(cat, "预算", 10, ItemFilter())] == [2]
        # the file name and the text, both rebuilt from what the catalog already held
        assert {h.part_id for h in keyword_hits(cat, "纪要", 10, ItemFilter())} == {1, 2}
        assert cat.integrity_check() == []
        assert cat.counts()["vectors"] == {"text": 1}  # nothing re-encoded or dropped
    finally:
        cat.close()


def test_repair_rebuilds_cjk_rows(catalog: tuple[Catalog, dict[int, str]]) -> None:
    """`xmodal repair`'s keyword rebuild writes rows the CJK queries can match."""
    cat, keys = catalog
    with cat.write() as conn:
        conn.execute("DELETE FROM parts_fts")
    assert _found(cat, keys, "预算") == [] and cat.integrity_check()
    cat.repair_keywords()
    assert cat.integrity_check() == []
    assert _found(cat, keys, "预算") == ["zh01"]
    assert _found(cat, keys, "zh01") == ["zh01"]  # file names too
