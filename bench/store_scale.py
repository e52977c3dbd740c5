"""How far one machine goes: FAISS Flat vs IVF-PQ vs a memory-mapped Flat, and Milvus Lite.

Prints one markdown table row per configuration: build seconds, resident memory the index
adds, bytes per vector on disk, query latency (p50, single query, one thread), recall@10
against exact search. ``docs/scaling.md`` quotes its output.

Vectors: ``--data real`` (default) takes ``bench.vectors`` (real MiniLM embeddings extended by
calibrated synthetic neighbours; run ``python -m bench.corpus`` once first); ``clustered`` is a
Gaussian mixture, kept for machines without that cache (its near-tied neighbours make it much
harder for PQ than real data). Run it niced, it shares the machine:

    nice -n 19 python -m bench.store_scale --n 100000 --space text
"""

from __future__ import annotations

import argparse
import gc
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    """Current resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def clustered(n: int, dim: int, centers: int = 2000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(centers, dim)).astype(np.float32)
    noise = 0.35 / np.sqrt(dim) * np.linalg.norm(mu, axis=1).mean()
    x = mu[rng.integers(0, centers, n)] + noise * rng.normal(size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float16).astype(np.float32)  # what the catalog stores


def p50_ms(search, queries: np.ndarray, k: int = 10) -> tuple[float, np.ndarray]:
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        found.append(search(q.reshape(1, -1), k))
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000), np.vstack(found)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    pairs = zip(found, truth, strict=True)
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in pairs]))


def row(name: str, build: float, mem: float, disk: float, ms: float, rec: float) -> None:
    print(f"| {name} | {build:.1f} | {mem:.0f} | {disk:.0f} | {ms:.2f} | {rec:.3f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--milvus-n", type=int, default=50_000)
    ap.add_argument("--data", choices=["real", "clustered"], default="real")
    ap.add_argument("--space", choices=["text", "clip"], default="text")
    ap.add_argument("--pq", type=int, nargs="+", default=[48], help="PQ sub-quantisers")
    ap.add_argument("--refine", default="", help='e.g. "SQ8": re-rank candidates from it')
    ap.add_argument("--k-factor", type=int, nargs="+", default=[4],
                    help="with --refine: re-rank k_factor*k candidates")
    ap.add_argument("--nprobe", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--skip-flat", action="store_true", help="only the IVF rows (Flat is truth)")
    ap.add_argument("--nlist", type=int, default=0, help="IVF lists (default 4*sqrt(n))")
    args = ap.parse_args()
    import faiss

    faiss.omp_set_num_threads(1)
    if args.data == "real":  # bench.vectors: real MiniLM vectors + calibrated neighbours
        from bench import vectors

        x, q, _ = vectors.load_space(args.space, args.n, args.queries)
        x = x.astype(np.float16).astype(np.float32)
        args.dim = x.shape[1]
    else:
        x = clustered(args.n, args.dim)
        q = clustered(args.queries, args.dim, seed=1)
    ids = np.arange(args.n, dtype=np.int64)
    tmp = Path(tempfile.mkdtemp(prefix="xmodal-bench-"))
    print(f"n={args.n} dim={args.dim} queries={args.queries} (1 thread, float16-rounded)\n")
    print("| index | build s | RSS added MB | disk B/vector | p50 ms | recall@10 |")
    print("|---|---|---|---|---|---|")

    base = rss_mb()
    t = time.perf_counter()
    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(args.dim))
    flat.add_with_ids(x, ids)
    build = time.perf_counter() - t
    mem = rss_mb() - base
    ms, truth = p50_ms(lambda v, k, ix=flat: ix.search(v, k)[1], q)
    faiss.write_index(flat, str(tmp / "flat.faiss"))
    disk = (tmp / "flat.faiss").stat().st_size / args.n
    if not args.skip_flat:
        row("Flat (exact, in RAM)", build, mem, disk, ms, 1.0)
    del flat
    gc.collect()
    if not args.skip_flat:
        mmap_row(tmp / "flat.faiss", q, truth, disk)

    nlist = args.nlist or int(4 * np.sqrt(args.n))
    for m in args.pq:
        base = rss_mb()
        t = time.perf_counter()
        spec = f"IVF{nlist},PQ{m}" + (f",Refine({args.refine})" if args.refine else "")
        ivf = faiss.index_factory(args.dim, spec, faiss.METRIC_INNER_PRODUCT)
        ivf.train(x[: min(args.n, 40 * nlist)])  # FAISS wants >= 39 points per list
        index = faiss.IndexIDMap2(ivf)
        index.add_with_ids(x, ids)
        build = time.perf_counter() - t
        mem = rss_mb() - base
        path = tmp / f"ivfpq{m}.faiss"
        faiss.write_index(index, str(path))
        disk = path.stat().st_size / args.n
        for nprobe in args.nprobe:
            faiss.extract_index_ivf(index).nprobe = nprobe
            for kf in args.k_factor if args.refine else [0]:
                if kf:
                    faiss.downcast_index(ivf).k_factor = kf
                ms, found = p50_ms(lambda v, k, ix=index: ix.search(v, k)[1], q)
                label = f"{spec} nprobe={nprobe}" + (f" k_factor={kf}" if kf else "")
                row(label, build, mem, disk, ms, recall(found, truth))
        del index, ivf
        gc.collect()

    if args.milvus_n:
        milvus(args, x[: args.milvus_n], q, tmp)
    shutil.rmtree(tmp)


def mmap_row(path: Path, q: np.ndarray, truth: np.ndarray, disk: float) -> None:
    """Memory-mapped Flat: the OS pages vectors in on demand; RSS stays small until searched."""
    import faiss

    base = rss_mb()
    mm = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
    opened = rss_mb() - base
    ms, found = p50_ms(lambda v, k, ix=mm: ix.search(v, k)[1], q)
    row(f"Flat, mmap (RSS at open {opened:.0f} MB)", 0.0, rss_mb() - base, disk, ms,
        recall(found, truth))


def milvus(args: argparse.Namespace, x: np.ndarray, q: np.ndarray, tmp: Path) -> None:
    """Milvus Lite (FLAT) with the same store class the product uses."""
    import faiss

    from retrieval.store import MilvusTarget
    from retrieval.store.milvus import MilvusVectorIndex, close_clients, sidecar_path

    target = MilvusTarget(uri=str(tmp / "milvus.db"))
    n = x.shape[0]

    class _Empty:  # the smallest catalog stand-in: an empty space, so rebuild makes a collection
        def load_vectors(self, space: str):
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32), 0

        def space_model(self, space: str):
            return ("bench", args.dim)

    t = time.perf_counter()
    idx = MilvusVectorIndex.rebuild(_Empty(), "clip", args.dim,  # type: ignore[arg-type]
                                    path=sidecar_path(tmp, "clip"), target=target)
    idx.add(np.arange(n), x)
    idx.save()
    build = time.perf_counter() - t
    exact = faiss.IndexFlatIP(args.dim)
    exact.add(x)
    truth = exact.search(q, 10)[1]
    ms, found = p50_ms(lambda v, k: idx.search(v, k)[1], q)
    disk = sum(p.stat().st_size for p in (tmp / "milvus.db").rglob("*") if p.is_file())
    print(f"\nMilvus Lite FLAT, n={n}: insert+flush {build:.1f} s ({n / build:.0f} vectors/s), "
          f"p50 {ms:.2f} ms, recall@10 {recall(found, truth):.3f}, db file "
          f"{disk / n:.0f} B/vector", flush=True)
    close_clients()


if __name__ == "__main__":
    main()
