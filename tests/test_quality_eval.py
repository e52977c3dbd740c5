"""The generated evaluation's building blocks: real-text sources, the split, "none" queries,
the fused-vs-spaces comparison and the collection vocabulary Whisper is prompted with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.quality.generate import split_of
from bench.quality.sources import as_question, debian_packages, stdlib_functions
from retrieval.evaluation import load_qrels
from retrieval.search.fusion import Hit
from retrieval.space_eval import QueryRun, compare

STATUS = """Package: libfoo1
Status: install ok installed
Description: frobnication library for widgets
 libfoo turns widgets into gadgets by frobnicating them with a configurable
 amount of force, so that applications can reuse one well tested implementation
 .
 This package contains the shared library, needed at run time by programs.

Package: libfoo-dev
Description: short
 too short to be a document

Package: bar
Description: tool without a long description
"""


def test_debian_descriptions_become_summary_and_body(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(STATUS, encoding="utf-8")
    records = debian_packages(status)
    assert [r.name for r in records] == ["libfoo1"]  # the others are too short to be documents
    foo = records[0]
    assert foo.summary == "frobnication library for widgets" and foo.group == "libfoo"
    assert "frobnicating" in foo.body and "\n\n" in foo.body  # " ." is a paragraph break
    assert debian_packages(tmp_path / "missing") == []


def test_stdlib_docstrings_give_questions() -> None:
    records = stdlib_functions(limit_modules=40)
    assert records, "no standard library sources found"
    assert all(len(r.body.split()) >= 25 and r.summary.endswith(".") for r in records)
    assert as_question("Return the canonical path of the file.") == (
        "how do I get the canonical path of the file?")
    assert as_question("Creates a new socket.") == "how do I create a new socket?"


def test_split_is_fixed_by_the_query_id_and_roughly_even() -> None:
    ids = [f"paraphrase:pkg{i}" for i in range(400)]
    splits = [split_of(i) for i in ids]
    assert splits == [split_of(i) for i in ids]  # no randomness, no dependence on results
    assert 150 < splits.count("dev") < 250


def test_none_lines_load_and_other_empty_lines_fail(tmp_path: Path) -> None:
    qrels = tmp_path / "q.jsonl"
    qrels.write_text(json.dumps({"id": "none:1", "kind": "none", "split": "heldout",
                                 "text": "nothing here", "relevant": []}) + "\n")
    (line,) = load_qrels(qrels)
    assert line.is_none and line.split == "heldout" and line.id == "none:1"
    qrels.write_text(json.dumps({"text": "x", "kind": "code", "relevant": []}) + "\n")
    with pytest.raises(ValueError, match="q.jsonl:1"):
        load_qrels(qrels)


def _run(kind: str, relevant: set[int], text: list[tuple[int, float]],
         keyword: list[tuple[int, float]]) -> QueryRun:
    lists = {"text": [Hit(i, i, s) for i, s in text],
             "keyword": [Hit(i, 100 + i, s) for i, s in keyword]}
    return QueryRun(id=kind, kind=kind, split="dev", relevant=relevant, lists=lists,
                    weights={"text": 1.0, "clip": 1.0, "keyword": 1.0})


def test_compare_scores_fused_against_each_space_per_kind() -> None:
    text = [(i, 0.9 - i * 0.01) for i in range(1, 60)]
    runs = [
        # the code's document is 8th in the text space; keywords hold it alone
        _run("code", {8}, text, [(8, 12.0)]),
        # a paraphrase the text space answers first; keywords found nothing
        _run("paraphrase", {1}, text, []),
        # nothing is relevant: counts toward the cut-off's record only
        _run("none", set(), [(i, 0.3) for i in range(1, 60)], []),
    ]
    result = compare(runs)
    code, para = result.rows["code"], result.rows["paraphrase"]
    assert code.mrr["text"] == pytest.approx(1 / 8) and code.mrr["keyword"] == 1.0
    assert code.best_space == "keyword" and code.mrr["fused"] == 1.0
    assert para.mrr["fused"] == para.mrr["text"] == 1.0
    assert result.rows["overall"].queries == 2
    assert result.none_queries == 1 and result.none_shown_good == 0


def test_the_difference_to_the_best_space_comes_with_an_error_bar() -> None:
    text = [(i, 0.9 - i * 0.01) for i in range(1, 60)]
    # 20 code queries: keywords put the answer first in 18; in two they hold only a wrong
    # item, which fused puts above the text space's second place, the answer
    runs = [_run("code", {8}, text, [(8, 12.0)]) for _ in range(18)]
    runs += [_run("code", {2}, text, [(9, 12.0)]) for _ in range(2)]
    row = compare(runs).rows["code"]
    low, high = row.vs_best_interval
    gap = row.mrr["fused"] - row.best
    assert low <= gap <= high and low < high  # two queries decide it: not a point
    same = compare([_run("paraphrase", {1}, text, [])] * 10).rows["paraphrase"]
    assert same.vs_best_interval == (0.0, 0.0)  # fused is the text space here, query by query


def test_collection_prompt_lists_frequent_rare_words(tmp_path: Path) -> None:
    from retrieval.catalog.database import Catalog
    from retrieval.search.vocabulary import MIN_PARTS, PromptCache, collection_prompt, rarity

    assert rarity("xargs") > rarity("library") > rarity("the")
    catalog = Catalog(tmp_path / "catalog.sqlite")
    assert collection_prompt(catalog) is None  # empty collection: no prompt
    texts = [f"The GnuPG keyring and the OpenSSL library, note {i}, for the user" for i in range(9)]
    texts.append("Zyxwvutsrq appears once")
    texts += ["the user reads a note about the weather"] * MIN_PARTS
    with catalog.write() as conn:
        for n, text in enumerate(texts):
            conn.execute("INSERT INTO items (id, content_hash, type) VALUES (?, ?, 'text')",
                         (n + 1, f"h{n}"))
            conn.execute("INSERT INTO parts (item_id, kind, ord, text) VALUES (?, 'chunk', 0, ?)",
                         (n + 1, text))
    prompt = PromptCache(catalog).get()
    assert prompt is not None and prompt.startswith("Questions about ") and prompt.endswith(".")
    words = prompt.removeprefix("Questions about ").removesuffix(".").split(", ")
    assert {"GnuPG", "OpenSSL"} <= set(words)  # frequent here, rare in English, cased as written
    assert "the" not in words and "Zyxwvutsrq" not in words  # stopword; seen once only
    catalog.close()


def test_the_collection_prompt_reaches_whisper(speech_faster, tmp_path: Path) -> None:
    from tests.media import have_espeak, speak

    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
    clip = speak("Where is the invoice for the printer?", tmp_path / "q.wav")
    said = speech_faster.transcribe(clip, prompt="Questions about invoices, printers.")
    assert "invoice" in " ".join(s.text for s in said.segments).lower()


def test_a_query_model_that_cannot_load_falls_back_to_the_index_model(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from retrieval.config import Settings
    from retrieval.engine import Engine
    from retrieval.results import Query
    from tests.engine_fakes import build, fake_encoders

    enc = fake_encoders()
    build(tmp_path / "data", enc)
    settings = Settings(XMODAL_DATA=tmp_path / "data",
                        whisper_query_model=str(tmp_path / "no-such-model"))
    with Engine(settings, encoders=enc) as engine:  # type: ignore[arg-type]
        resp = engine.search(Query(audio=b"boat river", limit=3))
    assert resp.query.transcript == "boat river" and resp.results  # the fake index model heard it
    assert "spoken queries use the indexing Whisper" in caplog.text


def test_a_moment_query_counts_the_right_item_at_the_wrong_time_as_a_miss() -> None:
    text = [(1, 0.9), (2, 0.5)]
    right, wrong = _run("video", {1}, text, []), _run("video", {1}, text, [])
    for run, start in ((right, 10.0), (wrong, 40.0)):
        run.at = 11.0
        run.spans = {1: (start, start + 3.0), 2: (0.0, 3.0)}
    rows = compare([right]).rows["video"], compare([wrong]).rows["video"]
    assert rows[0].mrr["fused"] == 1.0 and rows[1].mrr["fused"] == 0.0
