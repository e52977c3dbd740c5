"""``xmodal stats / remove / repair`` on a small catalog built with fake encoders."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from indexer.cmd_index import remove, repair, stats
from retrieval.catalog.database import Catalog
from retrieval.config import Settings
from retrieval.ingest.ingestor import Ingestor, catalog_path, index_files
from retrieval.records import TextChunk
from retrieval.store.faiss_index import VectorIndex, index_path


class _Fake:
    name, dim = "fake-text", 8

    def encode(self, texts: list[str]) -> np.ndarray:
        rng = np.random.default_rng(len(texts))
        x = rng.normal(size=(len(texts), self.dim)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def chunk(self, text: str) -> list[TextChunk]:
        return [TextChunk(text, 0, len(text))]


@pytest.fixture()
def built(tmp_path: Path) -> tuple[Settings, Path]:
    root = tmp_path / "media"
    (root / "a").mkdir(parents=True)
    for i in range(3):
        (root / "a" / f"doc{i}.txt").write_text(f"document number {i} about topic {i}\n")
    (root / "b.txt").write_text("another document\n")
    (root / "bad.bin").write_bytes(b"\x00\x01\x02 not a known type")
    settings = Settings(XMODAL_DATA=tmp_path / "data")
    enc = SimpleNamespace(text=_Fake(), clip=None, speech=None, ocr=None)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    with Ingestor(settings, enc) as ing:  # type: ignore[arg-type]
        index_files(ing, [SimpleNamespace(path=p, size=p.stat().st_size,
                                          mtime_ns=p.stat().st_mtime_ns) for p in files])
    return settings, root


def test_stats_json(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    out = CliRunner().invoke(stats, ["--json"], obj=settings)
    assert out.exit_code == 0, out.output
    info = json.loads(out.output)
    assert info["items"] == {"text": 4}
    assert info["files"] == {"ok": 4, "failed": 1}
    assert info["spaces"]["text"]["model"] == "fake-text"
    assert info["spaces"]["text"]["vectors"] == info["spaces"]["text"]["index_vectors"] == 4
    assert info["spaces"]["text"]["index"] == "Flat" and info["disk_bytes"] > 0
    human = CliRunner().invoke(stats, [], obj=settings)
    assert human.exit_code == 0 and "fake-text" in human.output


def test_stats_without_catalog(tmp_path: Path) -> None:
    out = CliRunner().invoke(stats, [], obj=Settings(XMODAL_DATA=tmp_path / "none"))
    assert out.exit_code == 1 and "xmodal index" in out.output


def test_remove_folder(built: tuple[Settings, Path]) -> None:
    settings, root = built
    out = CliRunner().invoke(remove, [str(root / "a")], obj=settings)
    assert out.exit_code == 0 and "removed 3 paths" in out.output
    cat = Catalog(catalog_path(settings))
    assert cat.counts()["items"] == {"text": 1}
    assert VectorIndex.load(index_path(settings.data_dir, "text")).agrees_with(cat)
    cat.close()


def test_repair_rebuilds_damaged_index_and_keywords(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    index_path(settings.data_dir, "text").write_bytes(b"torn")
    cat = Catalog(catalog_path(settings))
    cat.conn.execute("DELETE FROM parts_fts WHERE rowid = (SELECT MIN(id) FROM parts)")
    out = CliRunner().invoke(repair, [], obj=settings)
    assert out.exit_code == 0, out.output
    assert "rebuilt 4 vectors" in out.output and "catalog ok" in out.output
    assert cat.integrity_check() == []
    assert VectorIndex.load(index_path(settings.data_dir, "text")).agrees_with(cat)
    cat.close()


def test_damaged_catalog_gives_a_message_not_a_traceback(built: tuple[Settings, Path]) -> None:
    settings, _ = built
    path = catalog_path(settings)
    for side in ("-wal", "-shm"):
        Path(str(path) + side).unlink(missing_ok=True)
    path.write_bytes(b"this is not a database " * 200)
    for command, args in ((stats, ["--json"]), (repair, [])):
        out = CliRunner().invoke(command, args, obj=settings)
        assert out.exit_code == 1
        assert "catalog" in out.output and "xmodal index" in out.output
        assert out.exception is None or isinstance(out.exception, SystemExit)
