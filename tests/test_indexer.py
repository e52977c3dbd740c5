"""The indexer on a generated corpus: counts, failures, incremental runs, file churn, models.

Real MiniLM, Whisper tiny.en and OCR weights (H1's ``encoders`` fixture) and a tiny random
CLIP. Work is counted (files decoded, vectors encoded), never timed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from indexer.pipeline import run_index
from retrieval.catalog.database import Catalog, fts_query
from retrieval.errors import IndexMismatch
from retrieval.ingest.ingestor import Ingestor, catalog_path, index_files
from retrieval.ingest.run import index_roots
from retrieval.records import TextChunk
from retrieval.store.faiss_index import VectorIndex, index_path
from tests.fixtures_corpus import OCR_TEXTS, IndexedCorpus
from tests.media import pattern_image


def _catalog(settings: object) -> Catalog:
    return Catalog(catalog_path(settings))  # type: ignore[arg-type]


def _agree(settings: object) -> None:
    """Every space's FAISS file on disk holds exactly the catalog's vectors."""
    cat = _catalog(settings)
    try:
        for space in cat.spaces():
            idx = VectorIndex.load(index_path(settings.data_dir, space))  # type: ignore[attr-defined]
            assert idx.agrees_with(cat), space
    finally:
        cat.close()


# -- first and second run over the whole corpus ---------------------------------------------

def test_first_run_counts_and_failures(indexed_corpus: IndexedCorpus, encoders: object) -> None:
    corpus, report = indexed_corpus.corpus, indexed_corpus.report
    print(f"corpus: {corpus.total} files in {report.seconds:.1f} s = "
          f"{corpus.total / max(report.seconds, 1e-9):.2f} files/s")
    assert report.added == corpus.good
    assert report.updated == report.unchanged == report.removed == 0
    assert report.failed == len(corpus.broken)
    reasons = {Path(f.path).name: f.reason for f in report.failures}
    assert set(reasons) == {p.name for p in corpus.broken}
    assert all(r.strip() for r in reasons.values())
    assert "pixels" in reasons["bomb.png"] or "large" in reasons["bomb.png"]
    cat = _catalog(indexed_corpus.settings)
    try:
        counts = cat.counts()
        assert counts["items"] == {"image": len(corpus.images), "audio": len(corpus.audio),
                                   "text": len(corpus.texts) + 1}
        assert counts["files"] == {"ok": corpus.good, "failed": len(corpus.broken)}
        assert cat.integrity_check() == []
        texts = sum(n for k, n in counts["parts"].items() if k != "file")
        assert counts["vectors"]["text"] == texts
        assert counts["vectors"]["clip"] == texts + len(corpus.images)
        assert counts["parts"]["segment"] >= len(corpus.audio)
        assert not cat.files(under=[str(corpus.root / ".hidden_notes.txt")])
        # OCR, speech, PDF and HTML text are all keyword-searchable.
        checks = [("rain", "weather.wav"), ("lighthouse", "guild_report.pdf"),
                  ("humpback", "whales.html")]
        if getattr(encoders, "ocr", None) is not None:
            checks += [("ZX-4471", "invoice.png"), ("harbor", "sign_harbor.png")]
        for query, name in checks:
            hits = cat.keyword_search(fts_query(query))
            names = {Path(p).name for h in hits for p in cat.paths(h.item_id)}
            assert name in names, (query, names)
        assert not cat.keyword_search(fts_query("var"))  # html script text is not indexed
    finally:
        cat.close()
    _agree(indexed_corpus.settings)
    assert len(OCR_TEXTS) == 6


def test_second_run_decodes_and_encodes_nothing(indexed_corpus: IndexedCorpus,
                                                encoders: object) -> None:
    result = run_index(indexed_corpus.settings, [indexed_corpus.corpus.root],  # type: ignore[arg-type]
                       encoders=encoders, progress=False)
    corpus = indexed_corpus.corpus
    assert (result.decoded, result.encoded) == (0, 0)
    r = result
    assert (r.added, r.updated, r.removed) == (0, 0, 0)
    assert r.unchanged == corpus.good
    assert r.failed == len(corpus.broken)  # known broken: listed again, not retried
    _agree(indexed_corpus.settings)


# -- file churn on a small folder -----------------------------------------------------------

def _small_folder(root: Path) -> Path:
    docs = root / "docs"
    docs.mkdir(parents=True)
    for name, text in [("alpha.txt", "alpha centauri is the nearest star system"),
                       ("bravo.txt", "bravo company marched through the desert"),
                       ("charlie.md", "charlie chaplin starred in silent films"),
                       ("delta.txt", "the river delta floods every spring")]:
        (docs / name).write_text(text + "\n")
    pics = root / "pics"
    pics.mkdir()
    pattern_image(101).save(pics / "one.png")
    pattern_image(102).save(pics / "two.jpg")
    return root


def _item_of(cat: Catalog, path: Path) -> int | None:
    row = cat.file(str(path))
    return row.item_id if row else None


def test_modify_rename_delete_copy(tmp_path: Path, encoders: object,
                                   offline_settings: object) -> None:
    root = _small_folder(tmp_path / "media")
    settings = offline_settings.model_copy(update={"data_dir": tmp_path / "data"})  # type: ignore[attr-defined]
    first = run_index(settings, [root], encoders=encoders, progress=False)
    assert first.added == 6
    cat = _catalog(settings)
    before = {p: _item_of(cat, root / p) for p in
              ["docs/alpha.txt", "docs/bravo.txt", "docs/charlie.md", "docs/delta.txt",
               "pics/one.png", "pics/two.jpg"]}
    cat.close()

    (root / "docs/alpha.txt").write_text("alpha was rewritten to talk about volcanoes\n")
    (root / "docs/sub").mkdir()
    (root / "docs/bravo.txt").rename(root / "docs/sub/bravo-moved.txt")
    (root / "docs/charlie.md").unlink()
    shutil.copy2(root / "pics/one.png", root / "pics/one-copy.png")

    second = run_index(settings, [root], prune=True, encoders=encoders, progress=False)
    r = second
    assert (r.added, r.updated, r.unchanged, r.removed, r.failed) == (2, 1, 3, 2, 0)
    assert second.decoded == 1  # only the modified file; rename and copy are hash hits
    cat = _catalog(settings)
    try:
        assert _item_of(cat, root / "docs/sub/bravo-moved.txt") == before["docs/bravo.txt"]
        assert _item_of(cat, root / "pics/one-copy.png") == before["pics/one.png"]
        assert cat.paths(before["pics/one.png"]) == [str(root / "pics/one-copy.png"),
                                                     str(root / "pics/one.png")]
        new_alpha = _item_of(cat, root / "docs/alpha.txt")
        assert new_alpha not in (None, before["docs/alpha.txt"])
        assert cat.item(before["docs/alpha.txt"]) is None
        assert cat.item(before["docs/charlie.md"]) is None
        assert cat.file(str(root / "docs/bravo.txt")) is None
        for p in ["docs/delta.txt", "pics/two.jpg"]:
            assert _item_of(cat, root / p) == before[p]
        assert cat.counts()["items"] == {"text": 3, "image": 2}
        hits = cat.keyword_search(fts_query("bravo-moved"))
        assert {h.item_id for h in hits} == {before["docs/bravo.txt"]}
        assert not cat.keyword_search(fts_query("chaplin"))
        assert cat.integrity_check() == []
    finally:
        cat.close()
    _agree(settings)


def test_remove_and_upload_ingest(tmp_path: Path, encoders: object,
                                  offline_settings: object) -> None:
    root = _small_folder(tmp_path / "media")
    settings = offline_settings.model_copy(update={"data_dir": tmp_path / "data"})  # type: ignore[attr-defined]
    report = index_roots(settings, [root / "docs/alpha.txt", root / "nope.txt"],
                         encoders=encoders)  # type: ignore[arg-type]
    assert (report.added, report.failed) == (1, 1)
    with Ingestor(settings, None) as ing:  # type: ignore[arg-type]
        assert ing.remove([root / "docs"]) == 1
    cat = _catalog(settings)
    assert cat.counts()["items"] == {}
    cat.close()
    _agree(settings)


# -- model changes (fake encoders: only names and dimensions matter here) -------------------

class _FakeText:
    def __init__(self, name: str, dim: int) -> None:
        self.name, self.dim = name, dim

    def encode(self, texts: list[str]) -> np.ndarray:
        x = np.ones((len(texts), self.dim), dtype=np.float32)
        return x / np.sqrt(self.dim)

    def chunk(self, text: str) -> list[TextChunk]:
        return [TextChunk(text, 0, len(text))]


def _fake(name: str, dim: int) -> SimpleNamespace:
    return SimpleNamespace(text=_FakeText(name, dim), clip=None, speech=None, ocr=None)


def test_model_change_needs_reembed(tmp_path: Path, offline_settings: object) -> None:
    docs = _small_folder(tmp_path / "media") / "docs"
    settings = offline_settings.model_copy(update={"data_dir": tmp_path / "data"})  # type: ignore[attr-defined]
    with Ingestor(settings, _fake("model-a", 8)) as ing:  # type: ignore[arg-type]
        index_files(ing, [SimpleNamespace(path=p, size=p.stat().st_size,
                                          mtime_ns=p.stat().st_mtime_ns)
                          for p in sorted(docs.iterdir())])
    with pytest.raises(IndexMismatch, match="--reembed") as info:
        Ingestor(settings, _fake("model-b", 16))  # type: ignore[arg-type]
    assert "model-a (8-d)" in str(info.value) and "model-b (16-d)" in str(info.value)
    with Ingestor(settings, _fake("model-b", 16), reembed=True) as ing:  # type: ignore[arg-type]
        report = index_files(ing, [])
        assert ing.encoded == 4 and ing.decoded == 0  # stored text re-encoded, no decoding
    assert report.failed == 0
    cat = _catalog(settings)
    assert cat.space_model("text") == ("model-b", 16)
    assert cat.load_vectors("text")[1].shape == (4, 16)
    cat.close()
    _agree(settings)


def test_second_writer_is_refused(tmp_path: Path, offline_settings: object) -> None:
    from retrieval.errors import XmodalError

    settings = offline_settings.model_copy(update={"data_dir": tmp_path / "data"})  # type: ignore[attr-defined]
    with Ingestor(settings, None), pytest.raises(XmodalError, match="another indexing run"):  # type: ignore[arg-type]
        Ingestor(settings, None)  # type: ignore[arg-type]
    assert os.path.exists(tmp_path / "data" / "index.lock")
