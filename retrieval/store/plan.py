"""Which FAISS structure a vector space gets, from its size, dimension and memory budget.

The rule, and the measurements behind it, are in ``docs/performance.md`` (``bench/vector_index.py``
reproduces them). In short: take the lowest-latency structure whose recall@10 against exact
search is at least 0.95 and whose estimated memory fits the budget.

- Up to ``FLAT_MAX`` vectors, exact ``Flat``: the whole index sits in the CPU cache and a scan
  costs about 0.3 ms, no more than the approximate structures, with no tuning or training.
- Beyond that a Flat scan is bound by memory bandwidth (7 ms single-threaded for 100k
  MiniLM vectors on the measuring machine, 57 ms for 1M, against 0.3 ms at 10k). The
  product edits its indexes in place (``IndexIDMap2.remove_ids`` on every replace and
  delete), which rules out HNSW and FAISS's refine wrappers: neither can remove ids. Among
  removable structures IVF with 8-bit scalar-quantised vectors (``IVF{nlist},SQ8``) is the
  fastest at 0.95: a quarter of IVF-Flat's memory and bandwidth for the same lists probed,
  recall within 0.01.
  Short queries land far from the chunk vectors they match, so ``nprobe`` must cover about a
  quarter of the lists (measured at 10k and 100k) to reach 0.95.
- For indexes built once and never edited (``removable=False``): HNSW (2x faster than
  IVF-SQ8 at 100k). IVF with 4-bit fast-scan PQ re-ranked from an SQ8 copy is the fastest at
  10k; it reached 0.965 at 100k in one sweep and 0.92 in another, and 0.90 at 1M, so it only
  serves small indexes, where it reaches 0.95 reliably.
- When nothing that reaches 0.95 fits the budget: IVF with 8-bit PQ codes (``dim/8`` bytes a
  vector), flagged ``meets_target=False`` (it measured 0.58-0.66 recall@10); the caller says so.

This module imports nothing heavy: ``choose_index`` is a pure function, so the rule is cheap
to test; ``build_index`` and ``configure`` import FAISS when called.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import faiss
    import numpy as np

    from retrieval.config import Settings

Kind = Literal["flat", "hnsw", "ivf_flat", "ivf_sq8", "ivf_pq"]

#: exact search up to this many vectors (measured: Flat p50 0.3 ms at 10k, 7 ms at 100k)
FLAT_MAX = 10_000
#: bytes FAISS's IndexIDMap2 spends per vector on its id array and reverse hash map
IDMAP_BYTES = 48
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
#: vectors of training data per IVF list (FAISS warns below 39; 64 keeps k-means stable)
TRAIN_PER_LIST = 64
TRAIN_MAX = 262_144
#: candidates re-ranked per result by the SQ8 refine step of the non-removable IVF-PQ
K_FACTOR = 16
#: refined fast-scan PQ reached 0.955-0.968 at 10k, 0.92-0.965 at 100k, 0.89-0.90 at 1M
REFINE_MAX = 20_000
#: below this many vectors an IVF cannot be trained sensibly: always Flat
IVF_MIN = 1_000


@dataclass(frozen=True)
class IndexOptions:
    """What a ``Settings`` says about vector indexes, carried by each index that was opened with
    it: two engines with different settings in one process each get their own."""

    memory_budget_bytes: int | None = None
    device: str = "auto"  # auto | cuda | mps | cpu, as XMODAL_DEVICE

    @classmethod
    def from_settings(cls, settings: Settings) -> IndexOptions:
        budget = settings.memory_budget_mb
        return cls(int(budget * 1e6) if budget else None, settings.device)

    def use_gpu(self) -> bool:
        """Whether searches go to a GPU copy: the device setting allows it and one exists."""
        from retrieval.store.gpu import gpu_count

        return self.device in ("auto", "cuda") and gpu_count() > 0


@dataclass(frozen=True)
class IndexPlan:
    """A FAISS structure and its search-time settings, ready for ``index_factory``.

    ``factory`` excludes the id map: callers wrap the index in ``IndexIDMap2`` themselves.
    ``train_size`` is how many vectors to train on (0: no training needed). IVF indexes
    cannot ``reconstruct`` a vector (a direct map would break ``remove_ids`` through the id
    map): read stored vectors from the catalog, which is the source of truth anyway.
    ``supports_remove`` is false for HNSW.
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


def nprobe_for(nlist: int, kind: Kind, n_vectors: int = 0) -> int:
    """Lists to probe for recall@10 ≥ 0.95 with short text queries (measured; see the docs).

    IVF-SQ8 / IVF-Flat: a quarter of the lists up to a few hundred thousand vectors (0.960 at
    10k, 0.953 at 100k), an eighth at 1M (0.955; a quarter gives 0.979 at twice the time).
    Fast-scan PQ re-ranked from SQ8 probes half, with ``K_FACTOR`` candidates per result.
    """
    frac = 2 if kind == "ivf_pq" else 4 if n_vectors < 500_000 else 8
    return max(4, min(nlist, nlist // frac))


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
        return IndexPlan("flat", "Flat", est_bytes=estimate_bytes("flat", n_vectors, dim))
    if kind == "hnsw":  # measured: ef 64 → 0.975 at 10k, ef 128 → 0.962 at 100k
        ef = 64 if n_vectors <= 20_000 else 128 if n_vectors <= 200_000 else 256
        return IndexPlan("hnsw", f"HNSW{HNSW_M},Flat", ef_search=ef,
                         ef_construction=HNSW_EF_CONSTRUCTION,
                         est_bytes=estimate_bytes("hnsw", n_vectors, dim),
                         supports_remove=False,
                         params={"efSearch": ef, "efConstruction": HNSW_EF_CONSTRUCTION})
    nlist = nlist_for(n_vectors)
    train = min(n_vectors, TRAIN_MAX, max(nlist * TRAIN_PER_LIST, 10_000))
    nprobe = nprobe_for(nlist, kind, n_vectors)
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
    m = max(1, dim // 4)  # 4 dimensions per 4-bit fast-scan sub-quantiser, refined from SQ8
    est = n_vectors * (m // 2 + dim + 8 + IDMAP_BYTES) + 4 * dim * nlist
    return IndexPlan("ivf_pq", f"IVF{nlist},PQ{m}x4fs,Refine(SQ8)", nlist=nlist,
                     nprobe=nprobe, k_factor=K_FACTOR, refine="SQ8", train_size=train,
                     est_bytes=est, supports_remove=False,
                     meets_target=n_vectors <= REFINE_MAX,
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
        order = ["ivf_sq8", "ivf_pq"]
    else:
        order = ["hnsw", "ivf_sq8", "ivf_pq"]
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
        hnsw: Any = faiss.downcast_index(index)
        hnsw.hnsw.efConstruction = plan.ef_construction
    no_polysemous(index)
    if not index.is_trained:
        if train is None or len(train) < plan.nlist:
            raise ValueError(f"{plan.factory} needs at least {plan.nlist} training vectors")
        index.train(_sample(train, plan.train_size))
    configure(index, plan)
    return index


def no_polysemous(index: faiss.Index) -> None:
    """Skip IVF-PQ's polysemous training: minutes of CPU for codes we never search that way."""
    import faiss

    found = faiss.try_extract_index_ivf(index)
    ivf: Any = faiss.downcast_index(found) if found is not None else None
    if isinstance(ivf, faiss.IndexIVFPQ):
        setattr(ivf, "do_polysemous_training", False)  # noqa: B010 (not in faiss's stubs)


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


def _inner(index: faiss.Index) -> faiss.Index:
    import faiss

    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIDMap2 | faiss.IndexIDMap):
        index = faiss.downcast_index(index.index)
    return index


def kind_of(index: faiss.Index) -> tuple[Kind, int]:
    """(kind, nlist) of a built index (through its id map), to compare with a plan."""
    import faiss

    inner = _inner(index)
    if isinstance(inner, faiss.IndexHNSW):
        return "hnsw", 0
    found = faiss.try_extract_index_ivf(inner)
    if found is None:
        return "flat", 0
    ivf: Any = faiss.downcast_index(found)
    if isinstance(ivf, faiss.IndexIVFScalarQuantizer):
        return "ivf_sq8", int(ivf.nlist)
    if isinstance(ivf, faiss.IndexIVFFlat):
        return "ivf_flat", int(ivf.nlist)
    return "ivf_pq", int(ivf.nlist)


def describe_index(index: faiss.Index) -> str:
    """What an index is, for stats and logs: ``Flat``, ``IVF512,SQ8 (nprobe=128)``, ..."""
    import faiss

    kind, nlist = kind_of(index)
    if kind == "flat":
        return "Flat"
    if kind == "hnsw":
        hnsw: Any = _inner(index)
        return f"HNSW (efSearch={hnsw.hnsw.efSearch})"
    ivf = faiss.extract_index_ivf(_inner(index))
    codes = {"ivf_sq8": "SQ8", "ivf_flat": "Flat", "ivf_pq": "PQ"}[kind]
    return f"IVF{nlist},{codes} (nprobe={ivf.nprobe})"


def plan_matches(index: faiss.Index, plan: IndexPlan) -> bool:
    """Whether ``index`` is close enough to ``plan`` to keep (else rebuild it to the plan).

    Same kind, and for IVF a list count within a factor of two of the plan's, so a growing
    collection is rebuilt when it has about quadrupled, not on every commit.
    """
    kind, nlist = kind_of(index)
    if kind != plan.kind:
        return False
    return not plan.nlist or plan.nlist // 2 <= nlist <= plan.nlist * 2
