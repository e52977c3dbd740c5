"""Which FAISS structure a vector space gets, from its size, dimension and memory budget.

The rule, and the measurements behind it, are in ``docs/performance.md`` (``bench/vector_index.py``
reproduces them). In short: take the lowest-latency structure whose recall@10 against exact
search is at least 0.95 and whose estimated memory fits the budget.

- Small collections get exact ``Flat`` search: scanning them costs about as much as one query
  encode, and exact is free of tuning and of training.
- Beyond that, HNSW is the fastest at 0.95 recall, but FAISS cannot remove ids from an HNSW
  graph, and the product replaces and deletes vectors in place (``IndexIDMap2.remove_ids``). So
  HNSW is only chosen for indexes that are built once and never edited (``removable=False``).
- Otherwise IVF-Flat (full vectors in inverted lists) with ``nprobe`` tuned for 0.95; when the
  full vectors do not fit the budget, IVF with 4-bit fast-scan PQ codes re-ranked from 8-bit
  scalar-quantised copies (``Refine(SQ8)``), about a third of Flat's memory at the same recall.
- When even that does not fit, the smallest structure (IVF-PQ alone) with ``meets_target``
  false: the caller logs that recall will be lower than promised.

This module imports nothing heavy: ``choose_index`` is a pure function, so the rule is cheap
to test; ``build_index`` and ``configure`` import FAISS when called.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import faiss
    import numpy as np

Kind = Literal["flat", "hnsw", "ivf_flat", "ivf_sq8", "ivf_pq"]

#: exact search up to this many vectors (measured: Flat p50 stays near 1 ms per space)
FLAT_MAX = 20_000
#: bytes FAISS's IndexIDMap2 spends per vector on its id array and reverse hash map
IDMAP_BYTES = 48
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
#: vectors of training data per IVF list (FAISS warns below 39; 64 keeps k-means stable)
TRAIN_PER_LIST = 64
TRAIN_MAX = 262_144
#: candidates re-ranked per result by the SQ8 refine step of the non-removable IVF-PQ
K_FACTOR = 16
#: below this many vectors an IVF cannot be trained sensibly: always Flat
IVF_MIN = 1_000


@dataclass(frozen=True)
class IndexPlan:
    """A FAISS structure and its search-time settings, ready for ``index_factory``.

    ``factory`` excludes the id map: callers wrap the index in ``IndexIDMap2`` themselves.
    ``train_size`` is how many vectors to train on (0: no training needed);
    ``supports_remove`` is false for HNSW; ``mmap_ok`` says whether the saved index can be
    memory-mapped (``faiss.IO_FLAG_MMAP_IFC`` for Flat; IVF lists load into memory).
    """

    kind: Kind
    factory: str
    nlist: int = 0
    nprobe: int = 0
    ef_search: int = 0
    ef_construction: int = 0
    k_factor: int = 0
    opq: bool = False
    refine: str | None = None
    train_size: int = 0
    est_bytes: int = 0
    supports_remove: bool = True
    mmap_ok: bool = False
    meets_target: bool = True
    reason: str = ""
    params: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for logs and ``xmodal stats``: factory plus search settings."""
        extra = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.factory} ({extra})" if extra else self.factory


def nlist_for(n_vectors: int) -> int:
    """IVF list count: the power of two nearest 2·√n, at least 16, trainable from n vectors."""
    target = 2.0 * math.sqrt(max(n_vectors, 1))
    nlist = 2 ** round(math.log2(max(target, 16.0)))
    while nlist > 16 and nlist * 39 > n_vectors:
        nlist //= 2
    return nlist


def nprobe_for(nlist: int, kind: Kind) -> int:
    """Lists to probe for recall@10 ≥ 0.95 (measured on MiniLM text; see the docs)."""
    frac = 16 if kind == "ivf_flat" else 12  # probe ~1/16 (1/12 with PQ) of the lists
    return max(8, min(nlist, math.ceil(nlist / frac)))


def estimate_bytes(kind: Kind, n_vectors: int, dim: int, nlist: int = 0) -> int:
    """Resident size of the index (vectors, graph or codes, ids, quantiser), in bytes."""
    n = max(n_vectors, 0)
    per_vector = {
        "flat": 4 * dim,
        "hnsw": 4 * dim + HNSW_M * 2 * 4 + 16,
        "ivf_flat": 4 * dim + 8,
        "ivf_sq8": dim + 8,
        "ivf_pq": dim // 8 + 8,  # 8-bit PQ, one byte per 8 dimensions, + list id
    }[kind]
    fixed = 4 * dim * nlist + (4 * dim * dim if kind == "ivf_pq" else 0)
    return n * (per_vector + IDMAP_BYTES) + fixed


def _plan(kind: Kind, n_vectors: int, dim: int, removable: bool = True) -> IndexPlan:
    """The measured-best settings for one structure at this size (no budget check)."""
    if kind == "flat":
        return IndexPlan("flat", "Flat", est_bytes=estimate_bytes("flat", n_vectors, dim),
                         mmap_ok=True)
    if kind == "hnsw":
        ef = 64 if n_vectors <= 200_000 else 128
        return IndexPlan("hnsw", f"HNSW{HNSW_M},Flat", ef_search=ef,
                         ef_construction=HNSW_EF_CONSTRUCTION,
                         est_bytes=estimate_bytes("hnsw", n_vectors, dim),
                         supports_remove=False,
                         params={"efSearch": ef, "efConstruction": HNSW_EF_CONSTRUCTION})
    nlist = nlist_for(n_vectors)
    train = min(n_vectors, TRAIN_MAX, max(nlist * TRAIN_PER_LIST, 10_000))
    nprobe = nprobe_for(nlist, kind)
    if kind in ("ivf_flat", "ivf_sq8"):
        codes = "Flat" if kind == "ivf_flat" else "SQ8"
        return IndexPlan(kind, f"IVF{nlist},{codes}", nlist=nlist, nprobe=nprobe,
                         train_size=train, est_bytes=estimate_bytes(kind, n_vectors, dim, nlist),
                         params={"nprobe": nprobe})
    if removable:  # plain 8-bit PQ: removable, the smallest, but below the recall target
        m = max(1, dim // 8)
        return IndexPlan("ivf_pq", f"IVF{nlist},PQ{m}", nlist=nlist, nprobe=nprobe,
                         train_size=train, meets_target=False,
                         est_bytes=estimate_bytes("ivf_pq", n_vectors, dim, nlist),
                         params={"nprobe": nprobe})
    m = max(1, dim // 2)  # 2 dimensions per 4-bit fast-scan sub-quantiser, refined from SQ8
    est = n_vectors * (m // 2 + dim + 8 + IDMAP_BYTES) + 4 * dim * nlist
    return IndexPlan("ivf_pq", f"IVF{nlist},PQ{m}x4fs,Refine(SQ8)", nlist=nlist,
                     nprobe=nprobe, k_factor=K_FACTOR, refine="SQ8", train_size=train,
                     est_bytes=est, supports_remove=False,
                     params={"nprobe": nprobe, "k_factor_rf": K_FACTOR})


def choose_index(n_vectors: int, dim: int, memory_budget_bytes: int | None = None, *,
                 removable: bool = True) -> IndexPlan:
    """The lowest-latency structure with recall@10 ≥ 0.95 that fits ``memory_budget_bytes``.

    ``n_vectors`` is the collection's size (or the size it is being rebuilt at);
    ``memory_budget_bytes`` None means unlimited; ``removable`` False allows HNSW, which
    cannot delete ids. Candidates in order of measured latency at 0.95 recall for the size.
    """
    if n_vectors < 0 or dim <= 0:
        raise ValueError(f"bad index shape: {n_vectors} vectors of dimension {dim}")
    small = n_vectors <= FLAT_MAX
    if n_vectors < IVF_MIN:
        order: list[Kind] = ["flat"]
    elif small:
        order = ["flat", "ivf_sq8", "ivf_pq"]
    elif removable:
        order = ["ivf_flat", "ivf_sq8", "ivf_pq"]
    else:
        order = ["hnsw", "ivf_flat", "ivf_sq8", "ivf_pq"]
    budget = memory_budget_bytes
    for kind in order:
        plan = _plan(kind, n_vectors, dim, removable)
        if plan.meets_target and (budget is None or plan.est_bytes <= budget):
            why = ("exact search is fast enough at this size" if kind == "flat" and small
                   else f"fastest structure with recall@10 >= 0.95 at {n_vectors} vectors")
            if kind != order[0]:
                why = f"{order[0]} would exceed the memory budget; {why}"
            return _with(plan, reason=why)
    smallest = _plan(order[-1], n_vectors, dim, removable)
    return _with(smallest, meets_target=False,
                 reason="nothing that reaches recall 0.95 fits the memory budget; "
                        "using the smallest structure")


def _with(plan: IndexPlan, **changes: object) -> IndexPlan:
    from dataclasses import replace

    return replace(plan, **changes)  # type: ignore[arg-type]


def plan_for(kind: Kind, n_vectors: int, dim: int, *, removable: bool = True) -> IndexPlan:
    """The plan ``choose_index`` would use for ``kind`` at this size (tests, benchmarks)."""
    return _plan(kind, n_vectors, dim, removable)


def build_index(plan: IndexPlan, dim: int, train: np.ndarray | None = None) -> faiss.Index:
    """An empty inner-product index for ``plan``, trained on ``train`` when it needs it.

    Raises ValueError when the plan needs training data and ``train`` has too few rows.
    """
    import faiss

    index = faiss.index_factory(dim, plan.factory, faiss.METRIC_INNER_PRODUCT)
    if plan.kind == "hnsw":
        faiss.downcast_index(index).hnsw.efConstruction = plan.ef_construction
    if not index.is_trained:
        if train is None or len(train) < plan.nlist:
            raise ValueError(f"{plan.factory} needs at least {plan.nlist} training vectors")
        index.train(_sample(train, plan.train_size))
    configure(index, plan)
    return index


def configure(index: faiss.Index, plan: IndexPlan) -> None:
    """Apply the plan's search-time settings (nprobe, efSearch, k_factor) to an index.

    Works through ``IndexIDMap2`` and ``IndexRefine`` wrappers, and on a loaded index.
    """
    import faiss

    inner = index
    if isinstance(inner, faiss.IndexIDMap2 | faiss.IndexIDMap):
        inner = faiss.downcast_index(inner.index)
    space = faiss.ParameterSpace()
    for name in ("nprobe", "efSearch", "k_factor_rf"):
        value = plan.params.get(name)
        if value:
            space.set_index_parameter(inner, name, value)


def _sample(x: np.ndarray, size: int) -> np.ndarray:
    import numpy as np

    if size <= 0 or len(x) <= size:
        return np.ascontiguousarray(x, dtype=np.float32)
    idx = np.random.default_rng(0).choice(len(x), size=size, replace=False)
    return np.ascontiguousarray(x[np.sort(idx)], dtype=np.float32)
