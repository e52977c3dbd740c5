"""Vector stores: FAISS and Milvus (Lite) behave the same through the one factory.

Every behavioural test runs against both stores; the parity test searches both copies of the
same catalog and requires the same top-k ids (scores equal to float rounding).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from retrieval.catalog.database import Catalog
from retrieval.config import Settings
from retrieval.errors import XmodalError
from retrieval.store import (
    MilvusTarget,
    VectorStore,
    open_vector_index,
    parse_vector_store,
    rebuild_vector_index,
)

pytest.importorskip("pymilvus")

DIM = 16


def _unit(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _fill(cat: Catalog, n: int, seed: int = 0, space: str = "text") -> list[int]:
    """``n`` parts with vectors in ``space``, committed the way the ingestor commits them."""
    vecs = _unit(n, seed=seed)
    with cat.write() as conn:
        item = cat.insert_item(conn, content_hash=f"h{seed}", type="text")
        ids = [cat.insert_part(conn, item, "chunk", i, text=f"t{i}") for i in range(n)]
        cat.put_vectors(conn, space, ids, vecs)
        cat.set_meta(f"space.{space}.model", "m", conn)
        cat.set_meta(f"space.{space}.dim", str(DIM), conn)
        cat.bump_generation(conn, space)
    return ids


@pytest.fixture(autouse=True)
def _fresh_milvus_clients() -> Iterator[None]:
    """Each test's Milvus Lite files are closed after it, so servers do not pile up."""
    yield
    from retrieval.store.milvus import close_clients

    close_clients()


@pytest.fixture(params=["faiss", "milvus"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return Settings(XMODAL_DATA=tmp_path / "data", vector_store=request.param)


@pytest.fixture
def catalog(settings: Settings) -> Iterator[Catalog]:
    cat = Catalog(settings.data_dir / "catalog.sqlite")
    yield cat
    cat.close()


def _open(settings: Settings, cat: Catalog, save: bool = True) -> VectorStore:
    idx = open_vector_index(settings, cat, "text", save=save)
    assert idx is not None
    return idx


def test_parse_vector_store(tmp_path: Path) -> None:
    assert parse_vector_store("faiss", tmp_path) is None
    assert parse_vector_store("milvus", tmp_path) == MilvusTarget(uri=str(tmp_path / "milvus.db"))
    assert parse_vector_store("milvus:///srv/x.db", tmp_path).uri == "/srv/x.db"  # type: ignore[union-attr]
    assert parse_vector_store("milvus://x.db", tmp_path).uri == str(tmp_path / "x.db")  # type: ignore[union-attr]
    server = parse_vector_store("milvus://root:Milvus@db.lan?prefix=team&index=hnsw", tmp_path)
    assert server == MilvusTarget(uri="http://db.lan:19530", token="root:Milvus",
                                  prefix="team", index="HNSW")
    assert not server.lite and "Milvus@" not in server.describe()
    assert parse_vector_store("https://db.lan:443", tmp_path).uri == "https://db.lan:443"  # type: ignore[union-attr]
    for bad in ("redis://x", "milvus://h?index=LSH", "milvus://h?prefix=a-b"):
        with pytest.raises(XmodalError):
            parse_vector_store(bad, tmp_path)


def test_empty_space_is_none(settings: Settings, catalog: Catalog) -> None:
    assert open_vector_index(settings, catalog, "text") is None


def test_add_upsert_remove_count(settings: Settings, catalog: Catalog) -> None:
    ids = _fill(catalog, 20)
    idx = _open(settings, catalog)
    assert idx.ntotal == 20 and idx.ids().tolist() == ids and idx.agrees_with(catalog)
    x = _unit(3, seed=9)
    idx.add([1000, 1001], x[:2])
    assert idx.ntotal == 22
    idx.add([1000], x[2])  # the same id again replaces, never duplicates
    assert idx.ntotal == 22
    assert idx.search_one(x[2], 1)[0][0] == 1000
    np.testing.assert_allclose(idx.reconstruct(1000), x[2].astype(np.float16), atol=1e-6)
    assert idx.remove([1000, 1001, 424242]) == 2  # unknown ids are ignored, not counted
    assert idx.ntotal == 20 and 1000 not in idx.ids()
    with pytest.raises(KeyError):
        idx.reconstruct(1000)
    assert idx.remove([]) == 0
    with pytest.raises(ValueError):
        idx.add([1, 2], _unit(1))


def test_search_shapes_and_padding(settings: Settings, catalog: Catalog) -> None:
    _fill(catalog, 5)
    idx = _open(settings, catalog)
    scores, ids = idx.search(_unit(2, seed=3), 50)
    assert ids.shape == scores.shape == (2, 5) and (ids >= 0).all()
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    assert idx.search(_unit(1), 0)[1].shape == (1, 0)


def test_search_parity_faiss_vs_milvus(tmp_path: Path) -> None:
    """The same catalog in both stores answers top-10 with the same ids, after edits too."""
    data = tmp_path / "data"
    cat = Catalog(data / "catalog.sqlite")
    _fill(cat, 300, seed=1)
    faiss_idx = _open(Settings(XMODAL_DATA=data, vector_store="faiss"), cat)
    milvus_idx = _open(Settings(XMODAL_DATA=data, vector_store="milvus"), cat)
    queries = _unit(8, seed=2)

    def same() -> None:
        fs, fi = faiss_idx.search(queries, 10)
        ms, mi = milvus_idx.search(queries, 10)
        assert fi.tolist() == mi.tolist()
        np.testing.assert_allclose(fs, ms, atol=1e-5)

    same()
    for idx in (faiss_idx, milvus_idx):  # the same deletes and upserts on both
        idx.remove(list(range(1, 301, 3)))
        idx.add([5000, 2], _unit(2, seed=4))
    same()
    assert faiss_idx.ids().tolist() == milvus_idx.ids().tolist()
    cat.close()


def test_reopen_persists_and_stale_rebuilds(settings: Settings, catalog: Catalog) -> None:
    from retrieval.store.milvus import close_clients

    ids = _fill(catalog, 10)
    first = _open(settings, catalog)
    assert first.save() and first.generation == catalog.generation("text")
    close_clients()  # a new process: nothing cached
    again = _open(settings, catalog, save=False)
    assert again.ids().tolist() == ids and again.agrees_with(catalog)
    more = _fill(catalog, 4, seed=5)  # the catalog moves on without this store
    rebuilt = _open(settings, catalog)
    assert rebuilt.ids().tolist() == ids + more and rebuilt.agrees_with(catalog)


def test_rebuild_replaces_only_when_saved(settings: Settings, catalog: Catalog) -> None:
    ids = _fill(catalog, 6)
    live = _open(settings, catalog)
    more = _fill(catalog, 2, seed=7)
    fresh = rebuild_vector_index(settings, catalog, "text")
    assert fresh.ids().tolist() == ids + more
    if settings.vector_store != "faiss":  # a shared collection: unsaved rebuilds stay hidden
        assert live.ids().tolist() == ids
    fresh.save()
    reader = _open(settings, catalog, save=False)
    assert reader.ids().tolist() == ids + more and reader.agrees_with(catalog)


def test_ids_lists_dense_and_far_apart_ids(settings: Settings, catalog: Catalog) -> None:
    """More ids than one Milvus query returns, then a few far away: all listed, sorted."""
    first = _fill(catalog, 1)
    idx = _open(settings, catalog)
    dense = np.arange(10, 17_010)
    far = np.array([10**9, 10**12 + 7])
    idx.add(np.concatenate([far, dense]), _unit(dense.size + far.size, seed=11))
    assert idx.ids().tolist() == first + dense.tolist() + far.tolist()


def test_engine_answers_the_same_on_both_stores(tmp_path: Path) -> None:
    """Whole searches (fusion, filters, paging, similar) over one corpus, FAISS vs Milvus."""
    from retrieval.engine import Engine
    from retrieval.results import Query
    from tests.engine_fakes import build, fake_encoders

    enc = fake_encoders()
    build(tmp_path, enc)
    queries = [
        Query(text="river boat"),
        Query(text="river boat", types=["image"]),
        Query(text="river boat invoice", path_glob="/c/docs/"),
        Query(text="invoice river", modified_after=350, modified_before=550),
        Query(text="note common words river", limit=7, offset=7),
        Query(text="INV-4471", fusion="score"),
        Query(text="boat river", weights={"clip": 0, "keyword": 0}),
    ]

    def answers(store: str) -> list[list[tuple[int, float]]]:
        engine = Engine(Settings(XMODAL_DATA=tmp_path, vector_store=store),
                        encoders=enc)  # type: ignore[arg-type]
        try:
            out = [engine.search(q).results for q in queries]
            out.append(engine.similar(1, limit=10).results)
            assert engine.stats().vector_store.startswith("FAISS" if store == "faiss"
                                                              else "Milvus")
        finally:
            engine.close()
        return [[(r.id, round(r.score, 4)) for r in res] for res in out]

    faiss_answers = answers("faiss")
    assert all(faiss_answers[:4])
    assert answers("milvus") == faiss_answers
