"""Vector indexes: ids are part ids, atomic saves, staleness detection and rebuild."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from retrieval.catalog.database import Catalog
from retrieval.config import Settings
from retrieval.store import gpu as faiss_gpu
from retrieval.store import open_vector_index
from retrieval.store.faiss_index import (
    MAGIC,
    VectorIndex,
    index_path,
    make_index,
    remove_stale_temps,
)


def _unit(n: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _fill(cat: Catalog, n: int, dim: int = 8) -> list[int]:
    vecs = _unit(n, dim)
    with cat.write() as conn:
        item = cat.insert_item(conn, content_hash="h", type="text")
        ids = [cat.insert_part(conn, item, "chunk", i, text=f"t{i}") for i in range(n)]
        cat.put_vectors(conn, "text", ids, vecs)
        cat.set_meta("space.text.model", "m", conn)
        cat.set_meta("space.text.dim", str(dim), conn)
        cat.bump_generation(conn, "text")
    return ids


def test_search_add_remove_replace() -> None:
    x = _unit(6, 8)
    idx = VectorIndex("text", 8)
    idx.add([10, 11, 12, 13, 14, 15], x)
    assert idx.search_one(x[3], 1)[0][0] == 13
    assert idx.remove([13, 99]) == 1
    assert 13 not in idx.ids()
    idx.add([10], x[5])  # replacing keeps one vector per id
    assert idx.ntotal == 5
    scores, ids = idx.search(x[:2], 100)
    assert ids.shape == (2, 5) and (ids >= 0).all()
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    assert VectorIndex("text", 8).search(x[:1], 5)[1].shape == (1, 0)


def test_save_load_roundtrip_and_reload(tmp_path: Path) -> None:
    x = _unit(4, 8)
    idx = VectorIndex("clip", 8, generation=7)
    idx.add([1, 2, 3, 4], x)
    path = idx.save(tmp_path / "clip.faiss")
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind
    reader = VectorIndex.load(path)
    assert reader.generation == 7 and reader.ids().tolist() == [1, 2, 3, 4]
    assert reader.search_one(x[2], 1)[0][0] == 3
    idx.add([5], _unit(1, 8, 3))
    idx.generation = 8
    idx.save()
    assert reader.reload_if_changed() and reader.ntotal == 5 and reader.generation == 8
    assert not reader.reload_if_changed()


def test_damaged_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "text.faiss"
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError):
        VectorIndex.load(path)
    idx = VectorIndex("text", 8)
    idx.add([1], _unit(1, 8))
    idx.save(path)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError):
        VectorIndex.load(path)


def test_open_rebuilds_stale_missing_or_damaged(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "catalog.sqlite")
    ids = _fill(cat, 20)
    idx = VectorIndex.open(cat, tmp_path, "text", save=True)
    assert idx is not None and idx.ids().tolist() == ids and idx.agrees_with(cat)
    saved = index_path(tmp_path, "text").stat().st_mtime_ns
    # A commit after the save (the kill -9 case): the file is stale and gets rebuilt.
    with cat.write() as conn:
        cat.delete_item(conn, 1)
    again = VectorIndex.open(cat, tmp_path, "text", save=True)
    assert again is not None and again.ntotal == 0 and again.agrees_with(cat)
    assert index_path(tmp_path, "text").stat().st_mtime_ns != saved
    index_path(tmp_path, "text").write_bytes(b"junk")
    assert VectorIndex.open(cat, tmp_path, "text").agrees_with(cat)
    assert VectorIndex.open(cat, tmp_path, "clip") is None
    cat.close()


def test_rebuild_is_bit_identical_to_incremental(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "catalog.sqlite")
    ids = _fill(cat, 10)
    _, mat, _ = cat.load_vectors("text")
    live = VectorIndex("text", 8)
    live.add(ids, _unit(10, 8))  # the encoder's float32 output
    rebuilt = VectorIndex.rebuild(cat, "text")
    q = _unit(3, 8, seed=5)
    assert np.array_equal(live.search(q, 5)[0], rebuilt.search(q, 5)[0])
    assert np.array_equal(live.search(q, 5)[1], rebuilt.search(q, 5)[1])
    cat.close()


def test_concurrent_reader_never_sees_torn_file(tmp_path: Path) -> None:
    writer = VectorIndex("text", 8)
    path = tmp_path / "text.faiss"
    writer.save(path)
    reader = VectorIndex.load(path)
    stop = threading.Event()
    errors: list[Exception] = []

    def read() -> None:
        while not stop.is_set():
            try:
                reader.reload_if_changed()
                reader.search(_unit(1, 8), 3)
            except Exception as exc:  # noqa: BLE001 - any failure is the bug we look for
                errors.append(exc)

    t = threading.Thread(target=read)
    t.start()
    for i in range(30):
        writer.add(range(i * 10, i * 10 + 10), _unit(10, 8, seed=i))
        writer.generation = i
        writer.save()
    stop.set()
    t.join()
    assert errors == []
    reader.reload_if_changed()
    assert reader.ntotal == 300


def test_remove_stale_temps(tmp_path: Path) -> None:
    (tmp_path / ".text.faiss.abc.tmp").write_bytes(b"x")
    assert remove_stale_temps(tmp_path) == 1


def test_same_size_damage_is_caught_by_the_checksum(tmp_path: Path) -> None:
    idx = VectorIndex("text", 8)
    idx.add([1, 2], _unit(2, 8))
    path = idx.save(tmp_path / "text.faiss")
    raw = bytearray(path.read_bytes())
    raw[raw.index(_unit(2, 8).astype(np.float16).astype(np.float32).tobytes()) + 5] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="checksum"):
        VectorIndex.load(path)


@pytest.mark.parametrize("n", [500, 20_000], ids=["Flat", "IVF-SQ8"])
def test_a_mapped_index_answers_like_a_loaded_one_and_refuses_changes(
        tmp_path: Path, n: int) -> None:
    x = _unit(n, 32)
    idx = VectorIndex("text", 32, index=make_index(32, n, x))
    idx.add(np.arange(n) + 1, x)
    path = idx.save(tmp_path / "text.faiss")
    loaded, mapped = VectorIndex.load(path), VectorIndex.load(path, mmap=True)
    assert mapped.mapped and not loaded.mapped and mapped.kind == loaded.kind
    q = _unit(20, 32, seed=5)
    assert np.array_equal(mapped.search(q, 10)[1], loaded.search(q, 10)[1])
    with pytest.raises(RuntimeError, match="memory-mapped"):
        mapped.add([n + 1], _unit(1, 32))
    with pytest.raises(RuntimeError, match="memory-mapped"):
        mapped.remove([1])
    assert mapped.ntotal == n  # untouched


def test_a_mapped_index_stays_out_of_process_memory(tmp_path: Path) -> None:
    """What mapping is for: the vectors are file pages, not the process's own memory."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux's /proc")
    idx = VectorIndex("text", 128)
    idx.add(np.arange(60_000), _unit(60_000, 128))  # 31 MB of vectors
    path = idx.save(tmp_path / "text.faiss")
    probe = ("import sys, json\n"
             "from retrieval.store.faiss_index import VectorIndex\n"
             "def anon():\n"
             "    for line in open('/proc/self/status'):\n"
             "        if line.startswith('RssAnon'):\n"
             "            return int(line.split()[1]) / 1024\n"
             "before = anon()\n"
             "idx = VectorIndex.load(sys.argv[1], mmap=sys.argv[2] == 'map')\n"
             "idx.search(idx.reconstruct(7)[None, :], 5)\n"
             "print(json.dumps(anon() - before))\n")
    grew = {how: json.loads(subprocess.run(
        [sys.executable, "-c", probe, str(path), how], capture_output=True, text=True,
        check=True).stdout) for how in ("read", "map")}
    assert grew["read"] > 25 and grew["map"] < 5, grew


def test_a_mapped_reader_follows_the_writer(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "catalog.sqlite")
    _fill(cat, 20)
    writer = open_vector_index(Settings(XMODAL_DATA=tmp_path, mmap_indexes=True), cat, "text",
                               save=True)
    reader = open_vector_index(Settings(XMODAL_DATA=tmp_path, mmap_indexes=True), cat, "text")
    assert not writer.mapped and reader.mapped  # only processes that search map
    writer.add([99], _unit(1, 8, 9))
    writer.generation += 1
    writer.save()
    assert reader.reload_if_changed() and reader.mapped and reader.ntotal == 21
    assert reader.search_one(_unit(1, 8, 9)[0], 1)[0][0] == 99
    cat.close()


def test_a_file_in_an_unknown_layout_is_rebuilt_from_the_catalog(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite")
    _fill(cat, 5)
    path = index_path(tmp_path, "text")
    path.write_bytes(b"XMODALVI1\n" + b"\0" * 64)  # the first, header-in-front format
    with pytest.raises(ValueError, match="damaged"):
        VectorIndex.load(path)
    idx = VectorIndex.open(cat, tmp_path, "text", save=True)
    assert idx is not None and idx.ntotal == 5 and idx.agrees_with(cat)
    assert path.read_bytes().endswith(MAGIC)
    cat.close()


def test_the_settings_passed_in_choose_the_structure_not_the_process_wide_ones(
        tmp_path: Path) -> None:
    from retrieval.store import open_vector_index

    cat = Catalog(tmp_path / "c.sqlite")
    _fill(cat, 20_000, dim=64)
    roomy = Settings(XMODAL_DATA=tmp_path, device="cpu")
    tight = Settings(XMODAL_DATA=tmp_path, device="cpu", memory_budget_mb=1.5)
    assert open_vector_index(roomy, cat, "text").kind.startswith("IVF")  # type: ignore[union-attr]
    small = open_vector_index(tight, cat, "text")
    assert small is not None and "PQ" in small.kind and small.options.device == "cpu"
    cat.close()


def test_without_faiss_gpu_search_stays_on_the_cpu_silently() -> None:
    if faiss_gpu.gpu_count() > 0:
        pytest.skip("a GPU is present: the GPU test covers this machine")
    x = _unit(50, 8)
    idx = VectorIndex("text", 8)
    idx.add(range(50), x)
    assert faiss_gpu.to_gpu(idx._index) is None  # no error, just no copy
    assert idx.search_one(x[7], 1)[0][0] == 7


@pytest.mark.skipif(faiss_gpu.gpu_count() == 0, reason="needs faiss-gpu and a CUDA device")
def test_gpu_copy_returns_the_cpu_top_k_and_follows_changes() -> None:
    base, queries = _unit(20_000, 64, seed=1), _unit(100, 64, seed=2)
    cpu = VectorIndex("text", 64, index=make_index(64, len(base), base))  # IVF at this size
    cpu.add(range(len(base)), base)
    _, want = cpu._index.search(queries, 10)
    gpu = cpu._searcher()
    assert gpu is not cpu._index, "the GPU copy was not made"
    _, got = cpu.search(queries, 10)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(want, got, strict=True)])
    assert overlap >= 0.99  # same lists; float sums in another order may swap near-ties
    cpu.add([99_999], queries[0])
    assert cpu.search_one(queries[0], 1)[0][0] == 99_999  # the copy was remade after add
