"""Read-time safety of ingestion: links swapped in after the scan, pipes, odd names, races."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from retrieval.catalog.database import Catalog, fts_query
from retrieval.config import Settings
from retrieval.ingest.ingestor import Ingestor, catalog_path, index_files
from retrieval.ingest.scan import scan
from retrieval.records import TextChunk
from retrieval.results import IndexReport


class _Fake:
    name, dim = "fake-text", 8

    def encode(self, texts: list[str]) -> np.ndarray:
        x = np.ones((len(texts), self.dim), dtype=np.float32)
        return x / np.sqrt(self.dim)

    def chunk(self, text: str) -> list[TextChunk]:
        return [TextChunk(text, 0, len(text))]


ENC = SimpleNamespace(text=_Fake(), clip=None, speech=None, ocr=None)


def _run(settings: Settings, root: Path, entries: list | None = None):  # type: ignore[type-arg]
    with Ingestor(settings, ENC) as ing:  # type: ignore[arg-type]
        return index_files(ing, entries if entries is not None else list(scan([root])),
                           roots=[root])


def test_link_swapped_in_after_scan_is_not_read(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("zqxsecret words\n")
    victim = root / "note.txt"
    victim.write_text("ordinary words\n")
    entries = list(scan([root]))
    victim.unlink()
    victim.symlink_to(outside / "secret.txt")  # the swap happens between scan and read
    settings = Settings(XMODAL_DATA=tmp_path / "data")
    report = _run(settings, root, entries)
    assert report.added == 0
    cat = Catalog(catalog_path(settings))
    assert not cat.keyword_search(fts_query("zqxsecret"))
    assert cat.counts()["items"] == {}
    cat.close()


def test_pipe_vanished_and_undecodable_names(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.txt").write_text("controlmarker words\n")
    gone = root / "gone.txt"
    gone.write_text("soon gone\n")
    pipe = root / "pipe.txt"
    pipe.write_text("a file now, a pipe when read\n")
    entries = list(scan([root]))
    gone.unlink()
    pipe.unlink()
    os.mkfifo(pipe)  # open() of a FIFO would block forever
    bad = os.fsencode(str(root)) + b"/caf\xe9.txt"
    try:
        with open(bad, "wb") as fh:
            fh.write(b"latin name words\n")
    except OSError:
        pytest.skip("file system refuses non-UTF-8 names")
    entries += [e for e in scan([root]) if e.path.name.startswith("caf")]
    settings = Settings(XMODAL_DATA=tmp_path / "data")
    report = _run(settings, root, entries)
    assert report.added == 1
    assert report.failed == 1 and "UTF-8" in report.failures[0].reason
    report.model_dump_json()  # the report stays valid JSON with such a name in it
    cat = Catalog(catalog_path(settings))
    assert [Path(f.path).name for f in cat.files()] == ["ok.txt"]
    cat.close()


def _items_and_files(settings: Settings) -> tuple[list[tuple[object, ...]], ...]:
    cat = Catalog(catalog_path(settings))
    try:
        return (cat.conn.execute("SELECT id, content_hash FROM items ORDER BY id").fetchall(),
                cat.conn.execute("SELECT path, item_id FROM files ORDER BY path").fetchall())
    finally:
        cat.close()


@pytest.mark.parametrize("hashed_first", ["a.txt", "c.txt"])
def test_identical_files_make_the_same_items_whichever_is_hashed_first(
        tmp_path: Path, hashed_first: str) -> None:
    """Decode threads race: c.txt (a copy of a.txt) may be hashed before a.txt. The item is
    still made from a.txt, first in scan order, so item ids never depend on thread timing."""
    root = tmp_path / "root"
    root.mkdir()
    for name, text in (("a.txt", "same words\n"), ("b.txt", "other words\n"),
                       ("c.txt", "same words\n")):
        (root / name).write_text(text)
    entries = list(scan([root]))
    assert [e.path.name for e in entries] == ["a.txt", "b.txt", "c.txt"]
    settings = Settings(XMODAL_DATA=tmp_path / hashed_first)
    with Ingestor(settings, ENC) as ing:  # type: ignore[arg-type]
        order = sorted(range(3), key=lambda n: entries[n].path.name != hashed_first)
        outcomes = dict((n, ing.prepare(entries[n], n)) for n in order)
        ing.commit([outcomes[n] for n in range(3)], IndexReport())
    items, files = _items_and_files(settings)
    assert len(items) == 2
    assert files == [(str(root / "a.txt"), 1), (str(root / "b.txt"), 2),
                     (str(root / "c.txt"), 1)]
