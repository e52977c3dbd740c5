"""Evaluation metrics against values computed by hand, and the qrels runner on a fake engine."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from retrieval.evaluation import (
    aggregate,
    load_qrels,
    mrr_at_k,
    ndcg_at_k,
    percentile,
    recall_at_k,
    run_qrels,
)
from retrieval.results import Match, Query, QueryEcho, Result, SearchResponse


def test_recall_by_hand() -> None:
    ranked = ["a", "b", "c", "d", "e"]
    assert recall_at_k(ranked, {"c"}, 1) == 0.0
    assert recall_at_k(ranked, {"c"}, 3) == 1.0
    assert recall_at_k(ranked, {"a", "d", "z"}, 5) == pytest.approx(2 / 3)
    assert recall_at_k([], {"a"}, 10) == 0.0
    with pytest.raises(ValueError):
        recall_at_k(ranked, set(), 5)


def test_mrr_by_hand() -> None:
    ranked = ["a", "b", "c", "d"]
    assert mrr_at_k(ranked, {"a"}, 10) == 1.0
    assert mrr_at_k(ranked, {"c", "d"}, 10) == pytest.approx(1 / 3)  # first relevant counts
    assert mrr_at_k(ranked, {"d"}, 3) == 0.0  # beyond the cutoff


def test_ndcg_by_hand() -> None:
    # relevant at ranks 2 and 4 of two relevant: DCG = 1/log2(3) + 1/log2(5)
    ranked = ["x", "a", "y", "b"]
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(ranked, {"a", "b"}, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(ranked, {"a", "b"}, 10) == pytest.approx(0.6509209298)
    assert ndcg_at_k(["a"], {"a"}, 10) == 1.0
    # cutoff below the number relevant: ideal has only k gains
    assert ndcg_at_k(["a", "x"], {"a", "b", "c"}, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(["x", "y"], {"a"}, 2) == 0.0


def test_percentile_by_hand() -> None:
    xs = [0.4, 0.1, 0.3, 0.2]  # sorted 0.1 0.2 0.3 0.4
    assert percentile(xs, 50) == pytest.approx(0.25)
    assert percentile(xs, 95) == pytest.approx(0.3 + 0.1 * 0.85)  # pos 2.85
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) == 0.0


def test_aggregate_means() -> None:
    runs = [(["a", "b"], {"b"}), (["c"], {"c"}), (["x"], {"y"})]
    m = aggregate(runs)
    assert m.queries == 3
    assert m.recall[1] == pytest.approx(1 / 3)
    assert m.recall[5] == pytest.approx(2 / 3)
    assert m.mrr10 == pytest.approx((0.5 + 1 + 0) / 3)
    assert m.ndcg10 == pytest.approx((1 / math.log2(3) + 1) / 3)


class FakeEngine:
    """Answers each text query with a fixed ranking of item ids; paths map to ids by name."""

    def __init__(self, root: Path, answers: dict[str, list[int]]) -> None:
        self.root = root
        self.answers = answers
        self.seen: list[Query] = []

    def item_id_for_path(self, path: Path) -> int | None:
        name = path.name
        return int(name[4:]) if name.startswith("item") else None

    def search(self, query: Query) -> SearchResponse:
        self.seen.append(query)
        key = query.text or "audio"
        results = [
            Result(
                id=i,
                path=str(self.root / f"item{i}"),
                type="text",
                score=1.0,
                match=Match(kind="chunk"),
            )
            for i in self.answers[key]
        ]
        echo = QueryEcho(text=query.text, transcript="heard" if query.audio else None)
        return SearchResponse(query=echo, results=results)


def test_qrels_runner_per_kind(tmp_path: Path) -> None:
    (tmp_path / "q.wav").write_bytes(b"RIFF")
    lines = [
        {"text": "one", "relevant": ["item1"], "kind": "code"},
        {"text": "two", "relevant": ["item2", "missing.txt"], "kind": "code"},
        {"audio": "q.wav", "relevant": [str(tmp_path / "item3")]},
    ]
    qrels = tmp_path / "qrels.jsonl"
    qrels.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n", encoding="utf-8")
    parsed = load_qrels(qrels)
    assert [q.kind for q in parsed] == ["code", "code", "audio"]
    assert parsed[0].relevant == [(tmp_path / "item1").resolve()]

    engine = FakeEngine(tmp_path, {"one": [1, 2], "two": [5, 2], "audio": [9, 8, 3]})
    report = run_qrels(engine, parsed, weights={"text": 1.0, "clip": 0.0})  # type: ignore[arg-type]
    assert engine.seen[2].audio == b"RIFF"
    assert engine.seen[0].weights == {"text": 1.0, "clip": 0.0}
    code = report.kinds["code"]
    assert code.queries == 2
    assert code.mrr10 == pytest.approx((1 + 0.5) / 2)
    assert code.recall[5] == pytest.approx((1 + 0.5) / 2)  # missing.txt is a miss
    assert report.kinds["audio"].mrr10 == pytest.approx(1 / 3)
    assert report.overall.mrr10 == pytest.approx((1 + 0.5 + 1 / 3) / 3)
    assert report.unknown_relevant == [str((tmp_path / "missing.txt").resolve())]
    d = report.as_dict()
    assert set(d) == {"overall", "kinds", "latency", "unknown_relevant"}
    assert d["latency"]["p95"] >= d["latency"]["p50"] >= 0
    assert set(d["latency"]["kinds"]) == {"code", "audio"}


@pytest.mark.parametrize(
    "line",
    ['{"text": "x"}', '{"text": "x", "relevant": []}', '{"relevant": ["a"]}', "not json"],
)
def test_bad_qrels_line_names_line(tmp_path: Path, line: str) -> None:
    qrels = tmp_path / "q.jsonl"
    qrels.write_text('{"text": "ok", "relevant": ["a"]}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"q.jsonl:2"):
        load_qrels(qrels)
