"""Chinese end to end: speech, text in images, documents, file names, the API and the page.

The collection (``tests/fixtures_cjk.py``) is generated and indexed with the real models:
Whisper tiny.en plus base for other languages, MiniLM, PP-OCRv4 and the tiny random CLIP.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from retrieval.catalog.database import Catalog
from retrieval.encoders import Encoders
from retrieval.engine import Engine
from retrieval.results import Query
from tests.fixtures_cjk import SPEECH_EN, SPEECH_ZH, CjkCollection, doc_name
from tests.fixtures_server import TOKEN, _serve, copy_data_dir

HAN_WORDS_SAID = ("会议", "预算", "发票", "讨论", "计划")


def _catalog(col: CjkCollection) -> Catalog:
    return Catalog(Path(col.settings.data_dir) / "catalog.sqlite")


def _item_of(cat: Catalog, name: str) -> int:
    row = next(r for r in cat.files() if Path(r.path).name == name)
    assert row.item_id is not None, row
    return row.item_id


def _search(engine: Engine, text: str, **kw: Any) -> list[Any]:
    return engine.search(Query(text=text, **kw)).results


def test_collection_indexed_without_failures(cjk_collection: CjkCollection) -> None:
    assert cjk_collection.report.failed == 0, cjk_collection.report.failures
    assert cjk_collection.report.added > 40


def test_language_is_detected_per_recording(cjk_collection: CjkCollection) -> None:
    speech = next(r for r in cjk_collection.encoders.status() if r.kind == "speech")
    assert "tiny.en" in speech.name and "base" in speech.name  # what `xmodal models` shows
    cat = _catalog(cjk_collection)
    try:
        for name in SPEECH_ZH:
            item = cat.item(_item_of(cat, name))
            said = "".join(p.text or "" for p in cat.parts_of(item.id) if p.kind == "segment")
            print(f"{name}: {item.language} {said}")
            assert item.language == "zh"
            # base wrote Chinese (tiny.en cannot), in simplified characters
            assert sum(w in said for w in HAN_WORDS_SAID) >= 3, said
        for name in SPEECH_EN:
            item = cat.item(_item_of(cat, name))
            assert item.language == "en"
    finally:
        cat.close()


def test_chinese_queries_find_each_kind(cjk_collection: CjkCollection) -> None:
    with Engine(cjk_collection.settings, encoders=cjk_collection.encoders) as engine:
        top = _search(engine, "预算", types=["audio"])
        assert top and Path(top[0].path).name in SPEECH_ZH
        assert "预算" in (top[0].match.text or "")
        top = _search(engine, "发货", types=["image"])
        assert top and Path(top[0].path).name == "仓库通知.png"
        assert top[0].match.kind == "ocr" and "发货" in (top[0].match.text or "")
        top = _search(engine, "车位", types=["image"])
        assert top and Path(top[0].path).name == "停车场.png"
        top = _search(engine, "纪要", types=["text"])
        assert top and Path(top[0].path).name == doc_name("zh01")
        top = _search(engine, "WH-2031")
        assert top and Path(top[0].path).name == "仓库通知.png"


def test_old_data_dir_upgrades_without_reindexing(cjk_collection: CjkCollection,
                                                 tmp_path: Path) -> None:
    """A data dir written before CJK tokens (schema 1) is searchable in Chinese after opening."""
    from indexer.pipeline import run_index

    data = tmp_path / "data"
    copy_data_dir(Path(cjk_collection.settings.data_dir), data)
    conn = sqlite3.connect(data / "catalog.sqlite", isolation_level=None)
    conn.execute("DELETE FROM parts_fts")  # the FTS rows as version 1 wrote them: raw text
    conn.execute("INSERT INTO parts_fts(rowid, name, text) SELECT id, '', COALESCE(text, '') "
                 "FROM parts")
    conn.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    assert not conn.execute("SELECT 1 FROM parts_fts WHERE parts_fts MATCH '\"预 算\"'").fetchall()
    conn.close()
    settings = cjk_collection.settings.model_copy(update={"data_dir": data})
    encoders = cjk_collection.encoders
    with Engine(settings, encoders=encoders) as engine:
        top = _search(engine, "预算", types=["text"])
        assert top and Path(top[0].path).name == doc_name("zh01")
    report = run_index(settings, [cjk_collection.root], encoders=encoders, progress=False)
    assert report.decoded == 0 and report.encoded == 0
    assert report.unchanged == cjk_collection.report.added


def test_missing_multilingual_text_model_keeps_the_rest(cjk_collection: CjkCollection,
                                                       tmp_path: Path) -> None:
    """XMODAL_TEXT_MODEL names weights this machine lacks: say so; keywords, OCR, speech work."""
    from indexer.pipeline import run_index

    data = tmp_path / "data"
    copy_data_dir(Path(cjk_collection.settings.data_dir), data)
    name = "paraphrase-multilingual-MiniLM-L12-v2"
    settings = cjk_collection.settings.model_copy(update={"data_dir": data, "text_model": name})
    encoders = cjk_collection.encoders
    partial = Encoders(settings, clip=encoders.clip, speech=encoders.speech, ocr=encoders.ocr)
    report = run_index(settings, [cjk_collection.root], reembed=True, encoders=partial,
                       progress=False)
    assert report.failed == 0
    assert partial.text is None
    why = str(partial.error("text"))
    assert name in why and "XMODAL_TEXT_MODEL" in why and "--reembed" in why
    with Engine(settings, encoders=partial) as engine:
        assert Path(_search(engine, "绩效考核")[0].path).name == doc_name("zh13")
        assert Path(_search(engine, "发货", types=["image"])[0].path).name == "仓库通知.png"
        assert Path(_search(engine, "预算", types=["audio"])[0].path).name in SPEECH_ZH


@pytest.fixture(scope="module")
def cjk_server(cjk_collection: CjkCollection,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("cjk-web") / "data"
    copy_data_dir(Path(cjk_collection.settings.data_dir), data)
    settings = cjk_collection.settings.model_copy(update={"data_dir": data, "api_token": TOKEN})
    server = _serve(settings, cjk_collection.encoders)
    try:
        yield server.url
    finally:
        server.stop()
        server.extra["engine"].close()


def test_api_snippets_names_and_downloads(cjk_server: str) -> None:
    with httpx.Client(base_url=cjk_server, timeout=120) as c:
        hits = c.get("/api/search", params={"q": "收货地址", "types": "text"}).json()["results"]
        assert Path(hits[0]["path"]).name == doc_name("zh21")
        assert "收货地址" in hits[0]["match"]["text"]
        media = c.get(hits[0]["media_url"])
        # RFC 5987/6266: the UTF-8 name percent-encoded, so every browser saves it as named
        assert f"filename*=utf-8''{quote(doc_name('zh21'))}" in media.headers[
            "content-disposition"]
        assert media.content.decode("utf-8").startswith("请把客户的订单号")

        text = "年度报告：第三季度的销售额增长了百分之十五。".encode()
        r = c.post("/api/index", files=[("files", ("年度报告.txt", text, "text/plain"))],
                   headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and r.json()["added"] == 1, r.text
        hits = c.get("/api/search", params={"q": "销售额"}).json()["results"]
        assert Path(hits[0]["path"]).name == "年度报告.txt"


def test_spoken_chinese_question(cjk_server: str, cjk_collection: CjkCollection) -> None:
    """A question asked in Mandarin is transcribed by base (not tiny.en) and searched as text."""
    wav = cjk_collection.root / "speech" / SPEECH_ZH[0]
    with httpx.Client(base_url=cjk_server, timeout=300) as c:
        r = c.post("/api/search", data={"type": "text"},
                   files={"audio": (wav.name, wav.read_bytes(), "audio/wav")})
    assert r.status_code == 200, r.text
    body = r.json()
    heard = body["query"]["transcript"]
    assert sum(w in heard for w in HAN_WORDS_SAID) >= 3, heard
    assert Path(body["results"][0]["path"]).name == doc_name("zh01")


def test_page_highlights_words_without_spaces(browser: Any, cjk_server: str) -> None:
    context = browser.new_context(base_url=cjk_server)
    page = context.new_page()
    try:
        page.goto("/?q=" + quote("明年的预算"))
        snippet = page.locator(".snippet", has_text="项目会议纪要").first
        snippet.wait_for(timeout=60_000)
        marks = snippet.locator("mark").all_inner_texts()
        assert any("预算" in m for m in marks) and any("明年" in m for m in marks), marks
        assert all(m in "明年的预算" for m in marks), marks  # the query's words, not the sentence
        title = page.locator(".card", has=snippet).first.inner_text()
        assert doc_name("zh01").removesuffix(".txt") in title
        page.goto("/?q=" + quote("发货") + "&type=image")  # a line PP-OCR read in a picture
        card = page.locator(".card.image", has_text="仓库通知.png").first
        card.wait_for(timeout=60_000)
        assert card.locator(".snippet mark").all_inner_texts() == ["发货"]
    finally:
        context.close()
