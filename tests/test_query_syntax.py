"""Filters and negation written into the query text, and what negation does to a ranking."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from retrieval.results import Query
from retrieval.search.query_syntax import date_end, duration_range, parse_query


def day(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_filters_come_out_of_the_text() -> None:
    p = parse_query('sunset type:photo after:2024-01 before:2025 camera:canon '
                    'place:"new york" duration:1m-5m')
    assert p.text == "sunset"
    assert p.types == ["image"]
    assert (p.date_from, p.date_to) == (day("2024-01-01"), day("2025-01-01"))
    assert (p.camera, p.place) == ("canon", "new york")
    assert (p.min_duration, p.max_duration) == (60, 300)


@pytest.mark.parametrize("text", [
    "note:2024", "after:soon", "type:spreadsheet", "duration:long", "before:2024-13",
    "INV-4471", "total -5", "-3.5 degrees", "cats - dogs", "ratio 3:2", "NOT",
])
def test_what_could_be_words_stays_words(text: str) -> None:
    p = parse_query(text)
    assert p.text == text and p.negative == "" and not p.has_filters


@pytest.mark.parametrize(("text", "positive", "negative"), [
    ("beach -people", "beach", "people"),
    ("beach NOT people", "beach", "people"),
    ('street -"red car" -bus', "street", "red car bus"),
    ("INV-4471 -draft", "INV-4471", "draft"),
])
def test_negative_words(text: str, positive: str, negative: str) -> None:
    p = parse_query(text)
    assert (p.text, p.negative) == (positive, negative)


def test_periods_and_durations() -> None:
    assert date_end("2024-02") == day("2024-03-01")
    assert date_end("2024-12") == day("2025-01-01")
    assert date_end("2023-02-29") is None
    assert duration_range(">90") == (90, None)
    assert duration_range("<=2m") == (None, 120)
    assert duration_range("1:30-1h") == (90, 3600)
    assert duration_range("5m-1m") is None


BEACHES = {
    "crowded.txt": "A crowded beach full of people and tourists on towels.",
    "volley.txt": "People playing volleyball on the beach at noon.",
    "empty.txt": "An empty beach at sunrise with gentle waves.",
    "deserted.txt": "Deserted sandy beach with palm trees and calm water.",
    "invoice.txt": "Invoice INV-4471 total -5 euros credit.",
    "forest.txt": "A pine forest after the rain.",
}


@pytest.fixture(scope="module")
def beaches(tmp_path_factory: pytest.TempPathFactory, text_encoder: Any, tiny_clip: Any,
            offline_settings: Any) -> Any:
    from indexer.pipeline import run_index
    from retrieval.encoders import Encoders
    from retrieval.engine import Engine

    root = tmp_path_factory.mktemp("beaches")
    for name, text in BEACHES.items():
        (root / name).write_text(text + "\n")
    settings = offline_settings.model_copy(
        update={"data_dir": tmp_path_factory.mktemp("beach-data") / "data"})
    encoders = Encoders(settings, text=text_encoder, clip=tiny_clip)
    run_index(settings, [root], encoders=encoders, progress=False)
    engine = Engine(settings, encoders=encoders)
    yield engine
    engine.close()


def ranking(engine: Any, text: str, fusion: str = "auto") -> list[str]:
    return [Path(r.path).name for r in engine.search(Query(text=text, fusion=fusion)).results]


@pytest.mark.parametrize("fusion", ["rrf", "auto"])
def test_negation_pushes_down_what_it_names(beaches: Any, fusion: str) -> None:
    plain = ranking(beaches, "beach photo", fusion)
    negated = ranking(beaches, "beach photo -people", fusion)
    if fusion == "rrf":  # the default fusion follows MiniLM, which puts empty beaches first
        assert plain.index("crowded.txt") < plain.index("empty.txt")  # the crowd ranks high
    assert set(negated[:2]) == {"empty.txt", "deserted.txt"}
    for crowd in ("crowded.txt", "volley.txt"):
        assert negated.index(crowd) > max(negated.index("empty.txt"),
                                          negated.index("deserted.txt"))
    assert ranking(beaches, "beach photo NOT people", fusion) == negated
    echo = beaches.search(Query(text="beach photo -people")).query
    assert (echo.text, echo.negative) == ("beach photo", "people")
    # the keyword space leaves out every part holding the word
    keyword = [Path(r.path).name for r in beaches.search(Query(text="beach -people")).results
               if "keyword" in r.scores]
    assert "crowded.txt" not in keyword and "empty.txt" in keyword


def test_codes_and_numbers_are_searched_as_written(beaches: Any) -> None:
    assert ranking(beaches, "INV-4471")[0] == "invoice.txt"
    first = beaches.search(Query(text="-5")).results[0]
    assert Path(first.path).name == "invoice.txt" and "keyword" in first.scores
    assert ranking(beaches, "-people")  # nothing to push away from: searched as written
