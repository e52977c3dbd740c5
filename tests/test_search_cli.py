"""``xmodal search`` and ``xmodal eval``: the --json shape, filters, paging, the table, errors.

Runs the click commands over the fake-model corpus of ``tests/engine_fakes.py`` (the engine
the command builds gets the fake models), so this checks the command, not the models.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import retrieval.engine
from indexer.cmd_search import eval_command, search
from retrieval.config import Settings
from retrieval.results import SearchResponse
from tests.engine_fakes import build, fake_encoders


@pytest.fixture(scope="module", params=["faiss", "milvus"])  # both vector stores
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("cli-data")
    build(data, fake_encoders())
    return Settings(XMODAL_DATA=data, vector_store=request.param)


@pytest.fixture(autouse=True)
def fake_models(monkeypatch: pytest.MonkeyPatch) -> None:
    real = retrieval.engine.Engine
    monkeypatch.setattr(retrieval.engine, "Engine", lambda s: real(s, encoders=fake_encoders()))


def run(settings: Settings, *args: str, command: Any = search) -> Result:
    return CliRunner().invoke(command, list(args), obj=settings, catch_exceptions=False)


def as_json(settings: Settings, *args: str) -> dict[str, Any]:
    res = run(settings, *args, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_json_is_the_api_search_response(settings: Settings) -> None:
    out = as_json(settings, "boat river", "--limit", "3")
    SearchResponse.model_validate(out)  # the very model GET /api/search answers with
    assert out["query"]["text"] == "boat river" and out["query"]["transcript"] is None
    assert len(out["results"]) == 3
    for r in out["results"]:
        assert {"id", "path", "type", "score", "match", "scores", "meta", "similar"} <= set(r)
        assert r["type"] in ("image", "audio", "text") and r["path"].startswith("/c/")
        assert {"kind", "text", "start", "end"} == set(r["match"])
        assert set(r["scores"]) <= {"text", "clip", "keyword"}
        for s in r["scores"].values():
            assert set(s) == {"rank", "score"} and s["rank"] >= 1
    talk = next(r for r in as_json(settings, "boat river")["results"] if r["type"] == "audio")
    assert talk["match"] == {"kind": "segment", "text": "a boat on the river", "start": 2.0,
                             "end": 4.5}


def test_code_query_and_audio(settings: Settings, tmp_path: Path) -> None:
    out = as_json(settings, "INV-4471")
    assert out["results"][0]["path"] == "/c/docs/inv-4471.txt"
    spoken = tmp_path / "q.wav"
    spoken.write_bytes(b"INV-4471")  # the fake transcriber reads the bytes as words
    out = as_json(settings, "--audio", str(spoken))
    assert out["query"] == {"text": None, "negative": None, "transcript": "INV-4471",
                            "image": False}
    assert out["results"][0]["path"] == "/c/docs/inv-4471.txt"


def test_filters(settings: Settings) -> None:
    types = {r["type"] for r in as_json(settings, "river", "--type", "image")["results"]}
    assert types == {"image"}
    both = as_json(settings, "river", "--type", "image", "--type", "audio")["results"]
    assert {r["type"] for r in both} == {"image", "audio"}
    docs = as_json(settings, "river invoice", "--path", "/c/docs/")["results"]
    assert docs and all(r["path"].startswith("/c/docs/") for r in docs)
    wav = as_json(settings, "river", "--path", "*.wav")["results"]
    assert [r["path"] for r in wav] == ["/c/talks/harbour.wav"]
    dated = as_json(settings, "river", "--after", "350", "--before", "550")["results"]
    assert {r["path"] for r in dated} == {"/c/talks/harbour.wav", "/c/pics/red.png"}


def test_paging(settings: Settings) -> None:
    full = [r["id"] for r in as_json(settings, "note common", "--limit", "30")["results"]]
    pages: list[int] = []
    for offset in range(0, 30, 8):
        page = as_json(settings, "note common", "--limit", "8", "--offset", str(offset))
        pages += [r["id"] for r in page["results"]]
    assert pages[:30] == full


def test_fusion_and_weights(settings: Settings) -> None:
    out = as_json(settings, "INV-4471", "--fusion", "score")
    assert out["results"][0]["path"] == "/c/docs/inv-4471.txt"
    only = as_json(settings, "boat", "--weight", "clip=0", "--weight", "keyword=0")["results"]
    assert all(set(r["scores"]) == {"text"} for r in only)
    bad = run(settings, "boat", "--weight", "nope")
    assert bad.exit_code == 2
    unknown = run(settings, "boat", "--weight", "bogus=1")
    assert unknown.exit_code == 1 and "unknown weight" in unknown.output


def test_table_and_errors(settings: Settings) -> None:
    res = run(settings, "boat river", "--limit", "4")
    assert res.exit_code == 0
    assert "harbour.wav" in res.output and "[0:02-0:04]" in res.output
    assert run(settings).exit_code == 2  # no query at all
    assert run(settings, "   ").exit_code == 2


def test_eval_command(settings: Settings, tmp_path: Path) -> None:
    qrels = tmp_path / "qrels.jsonl"
    lines = [
        {"text": "INV-4471", "relevant": ["/c/docs/inv-4471.txt"], "kind": "code"},
        {"text": "sails at dawn", "relevant": ["/c/docs/boats.txt"], "kind": "doc"},
    ]
    qrels.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    res = run(settings, str(qrels), "--json", command=eval_command)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["overall"]["queries"] == 2 and out["overall"]["mrr@10"] == 1.0
    assert set(out["kinds"]) == {"code", "doc"}
    assert {"recall@1", "recall@5", "recall@10", "ndcg@10"} <= set(out["overall"])
    table = run(settings, str(qrels), "--space", "keyword", command=eval_command)
    assert table.exit_code == 0 and "overall" in table.output and "p95" in table.output
    (tmp_path / "bad.jsonl").write_text('{"text": "x"}\n', encoding="utf-8")
    bad = run(settings, str(tmp_path / "bad.jsonl"), command=eval_command)
    assert bad.exit_code == 1 and "bad.jsonl:1" in bad.output


def test_registered_on_the_xmodal_group(settings: Settings) -> None:
    from indexer.cli import main

    args = ["--data", str(settings.data_dir), "search", "INV-4471", "--json"]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["results"][0]["path"] == "/c/docs/inv-4471.txt"
    assert "QRELS" in CliRunner().invoke(main, ["eval", "--help"]).output


def test_relative_path_filters() -> None:
    from indexer.cmd_search import _path_filter

    assert _path_filter("/c/docs") == "/c/docs"
    assert _path_filter("*.wav") == "*.wav"
    assert _path_filter("docs/*.txt") == "*/docs/*.txt"
    assert _path_filter("docs/") == os.path.abspath("docs") + os.sep
    assert _path_filter(None) is None


def test_eval_compares_fused_with_each_space_and_counts_the_cut_off(
        settings: Settings, tmp_path: Path) -> None:
    qrels = tmp_path / "qrels.jsonl"
    lines = [
        {"id": "c1", "text": "INV-4471", "relevant": ["/c/docs/inv-4471.txt"], "kind": "code",
         "split": "dev"},
        {"id": "n1", "text": "quantum chromodynamics lattice", "relevant": [], "kind": "none",
         "split": "dev"},
        {"id": "c2", "text": "sails at dawn", "relevant": ["/c/docs/boats.txt"], "kind": "doc",
         "split": "heldout"},
    ]
    qrels.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    out = json.loads(run(settings, str(qrels), "--json", "--split", "dev",
                         command=eval_command).output)
    assert out["overall"]["queries"] == 1  # the held-out line is left out, "none" is not ranked
    code = out["spaces"]["kinds"]["code"]
    assert code["mrr@10"]["fused"] == 1.0 and code["mrr@10"]["keyword"] == 1.0
    assert set(code["mrr@10"]) == {"fused", "text", "clip", "keyword"}
    assert out["spaces"]["none"]["queries"] == 1
    table = run(settings, str(qrels), command=eval_command).output
    assert "fused vs each space" in table and "no-answer queries: 1" in table
