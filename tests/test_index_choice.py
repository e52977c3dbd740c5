"""The automatic vector-index choice: the rule itself, and that every plan it can return
finds ≥ 95% of the exact top 10 on structured data (clusters in a low-rank subspace, like
sentence embeddings), including through ``IndexIDMap2`` with removals."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from retrieval.store.plan import (
    FLAT_MAX,
    build_index,
    choose_index,
    configure,
    describe_index,
    estimate_bytes,
    nlist_for,
    plan_for,
    plan_matches,
)

N, DIM, NQ = 10_000, 64, 200


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Base, queries and exact top-10: a 300-cluster mixture in a 16-d subspace, plus noise."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((300, 16)) * 2.0
    lift = rng.standard_normal((16, DIM))
    weights = rng.dirichlet(np.full(300, 0.5))  # uneven cluster sizes, like real topics

    def draw(n: int) -> np.ndarray:
        c = rng.choice(300, size=n, p=weights)
        latent = centres[c] + rng.standard_normal((n, 16))
        return _unit(latent @ lift + 0.3 * rng.standard_normal((n, DIM)))

    base, queries = draw(N), draw(NQ)
    exact = faiss.IndexFlatIP(DIM)
    exact.add(base)
    _, truth = exact.search(queries, 10)
    return base, queries, truth


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True)) / truth.size


@pytest.mark.parametrize(("kind", "removable"), [
    ("flat", True), ("hnsw", False), ("ivf_flat", True), ("ivf_sq8", True), ("ivf_pq", False),
])
def test_every_plan_kind_reaches_target_recall(kind, removable, data):
    base, queries, truth = data
    plan = plan_for(kind, N, DIM, removable=removable)
    assert plan.meets_target
    index = faiss.IndexIDMap2(build_index(plan, DIM, base))
    index.add_with_ids(base, np.arange(N, dtype=np.int64) + 1000)
    configure(index, plan)
    _, found = index.search(queries, 10)
    assert _recall(found - 1000, truth) >= 0.95, plan.describe()


@pytest.mark.parametrize("kind", ["flat", "ivf_flat", "ivf_sq8", "ivf_pq"])
def test_removable_plans_delete_ids(kind, data):
    base, queries, _ = data
    plan = plan_for(kind, N, DIM)
    assert plan.supports_remove
    index = faiss.IndexIDMap2(build_index(plan, DIM, base))
    index.add_with_ids(base[:2000], np.arange(2000, dtype=np.int64))
    configure(index, plan)
    assert index.remove_ids(faiss.IDSelectorBatch(np.arange(0, 2000, 2))) == 1000
    _, found = index.search(base[:50], 10)
    assert not np.any((found >= 0) & (found % 2 == 0))


def test_removable_pq_is_flagged_below_target():
    plan = plan_for("ivf_pq", N, DIM)
    assert plan.supports_remove and not plan.meets_target and plan.refine is None


def test_hnsw_and_refine_are_only_for_indexes_that_never_delete():
    assert not plan_for("hnsw", 10**6, 384).supports_remove
    assert not plan_for("ivf_pq", 10**6, 384, removable=False).supports_remove
    assert choose_index(10**6, 384).kind != "hnsw"
    assert choose_index(10**6, 384, removable=False).kind == "hnsw"


def test_small_collections_are_exact():
    for n in (0, 1, 5_000, FLAT_MAX):
        plan = choose_index(n, 384)
        assert plan.kind == "flat" and plan.factory == "Flat" and plan.meets_target
        assert plan.train_size == 0


def test_large_collections_are_approximate_and_tuned():
    plan = choose_index(1_000_000, 384)
    assert plan.kind == "ivf_sq8" and plan.factory.endswith(",SQ8") and plan.supports_remove
    assert plan.nlist == nlist_for(1_000_000) and plan.nprobe == plan.nlist // 8
    assert choose_index(100_000, 384).nprobe == nlist_for(100_000) // 4
    assert plan.train_size >= 39 * plan.nlist
    assert "nprobe" in plan.describe()


def test_memory_budget_moves_to_compressed_codes():
    n, dim = 1_000_000, 384
    sq8 = estimate_bytes("ivf_sq8", n, dim, nlist_for(n))
    assert sq8 < estimate_bytes("ivf_flat", n, dim, nlist_for(n)) // 3
    assert choose_index(n, dim, memory_budget_bytes=sq8).kind == "ivf_sq8"
    plan = choose_index(n, dim, memory_budget_bytes=sq8 - 1)
    assert plan.kind == "ivf_pq" and not plan.meets_target and plan.supports_remove
    assert "budget" in plan.reason
    frozen = choose_index(n, dim, memory_budget_bytes=estimate_bytes("hnsw", n, dim) - 1,
                          removable=False)
    assert frozen.kind == "ivf_sq8" and frozen.meets_target


def test_impossible_budget_is_flagged_not_raised():
    plan = choose_index(1_000_000, 384, memory_budget_bytes=1_000_000)
    assert not plan.meets_target and plan.kind == "ivf_pq"


def test_small_collection_over_budget_still_gets_an_index():
    plan = choose_index(10_000, 512, memory_budget_bytes=estimate_bytes("flat", 10_000, 512) // 2)
    assert plan.kind == "ivf_sq8" and plan.meets_target


def test_nlist_is_trainable():
    for n in (1_000, 20_001, 100_000, 1_000_000, 10_000_000):
        nlist = nlist_for(n)
        assert nlist >= 16 and (nlist * 39 <= n or nlist == 16)
        assert nlist & (nlist - 1) == 0


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        choose_index(-1, 384)
    with pytest.raises(ValueError):
        choose_index(10, 0)


def test_training_data_is_required():
    with pytest.raises(ValueError):
        build_index(plan_for("ivf_flat", N, DIM), DIM, None)


def test_built_indexes_describe_themselves_and_match_their_plan(data):
    base, _, _ = data
    for kind in ("flat", "ivf_sq8", "ivf_flat"):
        plan = plan_for(kind, N, DIM)
        index = faiss.IndexIDMap2(build_index(plan, DIM, base))
        configure(index, plan)
        assert plan_matches(index, plan)
        text = describe_index(index)
        assert text == "Flat" if kind == "flat" else f"nprobe={plan.nprobe}" in text
    flat = faiss.IndexIDMap2(build_index(plan_for("flat", N, DIM), DIM))
    assert not plan_matches(flat, choose_index(10 * FLAT_MAX, DIM))
    small_ivf = faiss.IndexIDMap2(build_index(plan_for("ivf_sq8", N, DIM), DIM, base))
    assert plan_matches(small_ivf, plan_for("ivf_sq8", 2 * N, DIM))
    assert not plan_matches(small_ivf, plan_for("ivf_sq8", 100 * N, DIM))


def test_vector_store_grows_into_the_chosen_structure(tmp_path, data):
    """Past FLAT_MAX the FAISS store rebuilds as IVF-SQ8, still finds, replaces and deletes."""
    from retrieval.catalog.database import Catalog
    from retrieval.store.faiss_index import VectorIndex

    base, queries, _ = data
    n = FLAT_MAX + 2_000
    rng = np.random.default_rng(3)
    extra = _unit(base[: n - len(base)] + 0.05 * rng.standard_normal((n - len(base), DIM)))
    vecs = np.concatenate([base, extra])
    exact = faiss.IndexFlatIP(DIM)
    exact.add(vecs.astype(np.float16).astype(np.float32))
    _, truth = exact.search(queries, 10)
    catalog = Catalog(tmp_path / "catalog.sqlite")
    with catalog.write() as conn:
        catalog.set_meta("space.text.model", "test", conn)
        catalog.set_meta("space.text.dim", str(DIM), conn)
        item = catalog.insert_item(conn, content_hash="h", type="text")
        ids = [catalog.insert_part(conn, item, "chunk", i, text="x") for i in range(n)]
        catalog.put_vectors(conn, "text", ids, vecs)
        catalog.bump_generation(conn, "text")
    idx = VectorIndex.open(catalog, tmp_path, "text", save=True)
    assert idx is not None and idx.kind.startswith("IVF") and "SQ8" in idx.kind
    found = [[ids.index(p) for p, _ in idx.search_one(q, 10)] for q in queries]
    assert _recall(np.array(found), truth) >= 0.95
    again = VectorIndex.open(catalog, tmp_path, "text")  # the saved file fits the plan: kept
    assert again is not None and again.kind == idx.kind and again.ntotal == n
    assert idx.remove(ids[:10]) == 10
    idx.add(ids[:1], vecs[:1])
    assert idx.search_one(vecs[0], 1)[0][0] == ids[0]
    catalog.close()
