"""The query path's speed-ups keep its answers: keyword term counts, int8 and batched encoders.

Real SQLite FTS5, the real MiniLM (offline wheel) and the tests' tiny random-weight open_clip
model on ONNX Runtime; ONNX files go to a temporary ``XMODAL_ONNX_CACHE``.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from retrieval.catalog.database import Catalog, ItemFilter
from retrieval.config import Settings
from retrieval.encoders import ClipEncoder, TextEncoder
from retrieval.encoders.onnx import TOLERANCE, OnnxQueryModel, length_groups, query_encode
from retrieval.encoders.onnx_int8 import MIN_COSINE
from retrieval.search.keywords import (
    common_words,
    keyword_clauses,
    keyword_hits,
    part_count,
    terms_matched,
)
from retrieval.search.workers import EncodeQueue

TEXTS = [
    "the harbour master logged the storm damage to the north pier",
    "storm damage to the pier was repaired in spring",
    "the harbour cafe opened a second terrace",
    "north wind and storm warnings for the harbour",
    "pier repairs finished before the summer storm season",
    "storm damage closed the harbour cafe",
    "a recipe for plum cake",
]


@pytest.fixture()
def harbour_catalog(tmp_path: Path) -> Catalog:
    cat = Catalog(tmp_path / "catalog.sqlite")
    with cat.write() as conn:
        for n, text in enumerate(TEXTS * 3):
            item = cat.insert_item(conn, content_hash=f"h{n}", type="text", size=1, mtime=1)
            cat.set_file(conn, f"/notes/{n}.txt", item, 1, 1)
            cat.insert_part(conn, item, "file", 0)
            cat.refresh_names(conn, item)
            cat.insert_part(conn, item, "chunk", 0, text=text)
    return cat


@pytest.mark.parametrize("query", [
    "storm damage at the harbour pier",  # 4 terms, 2 needed
    "north pier storm",  # 3 terms, 2 needed
    "storm damage harbour -cafe",  # 3 terms, 2 needed, one word pushed away
])
def test_keyword_coverage_from_the_search_equals_counting_each_term(
        harbour_catalog: Catalog, query: str) -> None:
    words, _, negative = query.partition(" -")
    hits = keyword_hits(harbour_catalog, words, 100, ItemFilter(), negative)
    assert hits, "the query matches some notes"
    each, _need = keyword_clauses(words)
    counted = terms_matched(harbour_catalog, each, [h.part_id for h in hits])
    assert [h.coverage for h in hits] == [counted[h.part_id] / len(each) for h in hits]
    assert any(h.coverage < 1 for h in hits) and any(h.coverage == 1 for h in hits)
    if negative:
        shown = harbour_catalog.parts_for([h.part_id for h in hits])
        assert all("cafe" not in (shown[h.part_id].text or "") for h in hits)


def test_a_word_in_most_of_a_large_collection_neither_matches_nor_counts(tmp_path: Path) -> None:
    """Every one of 2,400 notes says "report": a search for "harbour storm report" needs both
    rare words (not two of three), and a note holding them is a full match."""
    cat = Catalog(tmp_path / "catalog.sqlite")
    with cat.write() as conn:
        for n in range(2400):
            extra = "harbour storm" if n < 10 else "harbour" if n < 30 else f"tide{n}"
            item = cat.insert_item(conn, content_hash=f"h{n}", type="text", size=1, mtime=1)
            cat.insert_part(conn, item, "chunk", 0, text=f"weekly report {extra}")
    assert part_count(cat) == 2400
    assert common_words(cat, ["harbour", "storm", "report"]) == {"report"}
    hits = keyword_hits(cat, "harbour storm report", 100, ItemFilter())
    shown = cat.parts_for([h.part_id for h in hits])
    assert len(hits) == 10 and all("storm" in (shown[h.part_id].text or "") for h in hits)
    assert all(h.coverage == 1 for h in hits)
    assert len(keyword_hits(cat, "weekly report", 50, ItemFilter())) == 50  # all common: kept
    assert common_words(cat, ["report", "harbour"]) == {"report"}
    other = Catalog(tmp_path / "catalog.sqlite")  # another connection's commit is counted too
    with other.write() as conn:
        item = other.insert_item(conn, content_hash="late", type="text", size=1, mtime=1)
        other.insert_part(conn, item, "chunk", 0, text="weekly report harbour")
    assert part_count(cat) == 2401
    other.close()
    cat.close()


@pytest.mark.parametrize("space", ["text", "clip"])
def test_concurrent_callers_each_get_their_own_querys_vector(
        fp32_models: tuple[Settings, TextEncoder, ClipEncoder], space: str) -> None:
    """Queries arriving together are encoded in one ONNX call (padded to the longest, CLIP cut
    after the batch's last end-of-text) and each caller gets its own text's vector."""
    settings, text, clip = fp32_models
    model = text if space == "text" else clip
    encode = query_encode(space, model, settings)
    assert isinstance(encode, OnnxQueryModel)
    alone = [encode([q])[0] for q in TEXTS]  # one by one: also opens the session
    calls: list[int] = []

    def counted(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return encode(texts)

    lock = threading.Lock()
    queue = EncodeQueue(space, counted, lock)
    try:
        with lock, ThreadPoolExecutor(len(TEXTS) * 2) as pool:  # the model is busy meanwhile
            jobs = list(pool.map(queue.submit, TEXTS * 2))
        got = [job.result(timeout=60) for job in jobs]
    finally:
        queue.close()
    assert max(calls) > 1 and sum(calls) < 2 * len(TEXTS)  # batched, repeats encoded once
    torch_alone = (text.encode if space == "text" else clip.encode_texts)(TEXTS)
    for n, vec in enumerate(got):
        assert np.abs(vec - alone[n % len(TEXTS)]).max() <= TOLERANCE
        assert np.abs(vec - torch_alone[n % len(TEXTS)]).max() <= TOLERANCE


def test_length_groups_cover_each_row_once_and_cut_padding() -> None:
    lengths = np.array([12, 13, 60, 14, 11, 58, 12, 12])
    groups = length_groups(lengths, overhead=16)
    assert sorted(int(i) for g in groups for i in g) == list(range(len(lengths)))
    padded = sum(len(g) * int(lengths[g].max()) for g in groups)
    assert len(groups) == 2 and padded < len(lengths) * int(lengths.max()) / 2
    assert len(length_groups(np.array([10] * 16))) == 1  # equal lengths: one call


def test_int8_minilm_is_cached_checked_and_close_to_torch(
        fp32_models: tuple[Settings, TextEncoder, ClipEncoder],
        caplog: pytest.LogCaptureFixture) -> None:
    settings, text, _clip = fp32_models
    int8 = settings.model_copy(update={"query_int8": "text"})
    encode = query_encode("text", text, int8)
    got = encode(TEXTS)
    assert getattr(encode, "runtime", None) == "onnx int8"
    cosines = (got * text.encode(TEXTS)).sum(axis=1)
    assert (cosines >= MIN_COSINE).all() and (cosines < 1 - 1e-6).any()  # close, not equal
    files = list(Path(settings.onnx_cache).glob("text-*-int8.onnx"))
    assert len(files) == 1
    with caplog.at_level(logging.INFO, logger="retrieval.encoders.onnx_int8"):
        again = query_encode("text", text, int8)
        assert np.abs(again(TEXTS) - got).max() <= 1e-6
    assert not [r for r in caplog.records if "quantising" in r.message]  # reused, not redone


def test_a_bad_cached_int8_file_is_made_again(
        fp32_models: tuple[Settings, TextEncoder, ClipEncoder], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    settings, _text, clip = fp32_models
    own = settings.model_copy(update={"onnx_cache": tmp_path, "query_int8": "clip"})
    want = query_encode("clip", clip, own)(TEXTS)  # exports and quantises
    bad = next(tmp_path.glob("clip-*-int8.onnx"))
    bad.write_bytes(b"not an ONNX model")
    with caplog.at_level(logging.WARNING, logger="retrieval.encoders.onnx"):
        encode = query_encode("clip", clip, own)
        got = encode(TEXTS)
    assert getattr(encode, "runtime", None) == "onnx int8"
    assert np.abs(got - want).max() <= 1e-6
    assert any("int8 file refused" in r.message for r in caplog.records)


def test_an_int8_model_too_far_from_torch_falls_back_to_fp32_onnx(
        fp32_models: tuple[Settings, TextEncoder, ClipEncoder], tmp_path: Path,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, _text, clip = fp32_models
    monkeypatch.setattr("retrieval.encoders.onnx.MIN_COSINE", 1.01)  # no int8 model passes
    own = settings.model_copy(update={"onnx_cache": tmp_path, "query_int8": "clip"})
    with caplog.at_level(logging.WARNING, logger="retrieval.encoders.onnx"):
        encode = query_encode("clip", clip, own)
        got = encode(TEXTS)
    assert getattr(encode, "runtime", None) == "onnx"
    assert np.abs(got - clip.encode_texts(TEXTS)).max() <= TOLERANCE
    assert any("using fp32 ONNX" in r.message for r in caplog.records)
    assert not list(tmp_path.glob("*-int8.onnx"))  # a refused file is not kept


def test_query_int8_names_spaces_and_refuses_others() -> None:
    assert Settings(query_int8="clip, text").query_int8_spaces() == {"text", "clip"}
    assert Settings(query_int8="none").query_int8_spaces() == frozenset()
    with pytest.raises(ValidationError):
        Settings(query_int8="minilm")
