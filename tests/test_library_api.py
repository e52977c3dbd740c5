"""The library as a Python user meets it: ``from retrieval import Engine, Query, Settings``.

Fake models (``tests/engine_fakes.py``) keep this fast; what is real is the folder walk, the
SQLite catalog, the FAISS files and the engine's verbs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from indexer.cli import main
from retrieval import Engine, Query, Settings, __version__
from retrieval.errors import ItemNotFound
from tests.engine_fakes import fake_encoders


def _notes(root: Path) -> Path:
    (root / "trips").mkdir(parents=True)
    (root / "trips" / "harbour.txt").write_text("the ferry leaves the harbour at dawn\n")
    (root / "trips" / "alps.txt").write_text("snow on the mountain pass in april\n")
    (root / "kitchen.md").write_text("bake sourdough bread with rye flour\n")
    (root / ".hidden.txt").write_text("the ferry is hidden\n")
    return root


def test_index_a_folder_search_it_and_forget_part_of_it(tmp_path: Path) -> None:
    root = _notes(tmp_path / "notes")
    settings = Settings(XMODAL_DATA=tmp_path / "data", device="cpu")
    with Engine(settings, encoders=fake_encoders(clip=False)) as engine:  # type: ignore[arg-type]
        report = engine.index([root])
        assert (report.added, report.failed, report.interrupted) == (3, 0, False)
        top = engine.search(Query(text="ferry harbour", limit=3)).results[0]
        assert top.path == str(root / "trips" / "harbour.txt")
        assert engine.item(top.id).type == "text"
        again = engine.index([root])  # incremental: nothing new, nothing decoded
        assert (again.added, again.unchanged, again.decoded) == (0, 3, 0)
        assert engine.remove([root / "trips"]) == 2
        assert engine.stats().items == {"text": 1}
        with pytest.raises(ItemNotFound):
            engine.item(top.id)
        (root / "kitchen.md").unlink()  # gone from disk; the trips are still there
        pruned = engine.index([root], prune=True)
        assert (pruned.added, pruned.removed) == (2, 1)
        assert engine.stats().items == {"text": 2}


def test_weights_are_checked_where_a_query_is_made() -> None:
    Query(text="x", weights={"text": 1, "clip": 0, "keyword": 2.5, "image": 0.5})
    for bad in ({"vision": 1}, {"text": -1}, {"text": 101}, {"text": float("nan")}):
        with pytest.raises(ValidationError):
            Query(text="x", weights=bad)


def test_the_cli_refuses_a_bad_weight_with_one_error_line(tmp_path: Path) -> None:
    out = CliRunner().invoke(main, ["--data", str(tmp_path), "search", "x", "--weight",
                                    "vision=1"])
    assert out.exit_code == 1 and "error: weights: " in out.output and "vision" in out.output
    assert out.exception is None or isinstance(out.exception, SystemExit)


def test_version_and_a_bare_import_that_loads_no_models() -> None:
    version = CliRunner().invoke(main, ["--version"]).output.strip()
    assert version == f"xmodal, version {__version__}"
    probe = ("import sys, retrieval, retrieval.config; "
             "print(json.dumps(['torch' in sys.modules, 'faiss' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", "import json; " + probe], capture_output=True,
                         text=True, check=True)
    assert json.loads(out.stdout) == [False, False]
