"""Fused ranking against every space alone, per query kind: the table behind ``xmodal eval``.

Each query is searched once (``Engine.candidates``) and its per-space lists are ranked several
ways offline: fused with the engine's fusion, and each space alone. That is what the question
"does fusion beat the best single space?" needs, at the cost of one search per query.

Queries of kind ``none`` have no relevant item; they measure the relevance cut-off instead:
how many results would be shown as good matches when nothing is.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.evaluation import (
    EvalReport,
    QrelsLine,
    aggregate,
    at_moment,
    mrr_at_k,
    percentile,
    recall_at_k,
)
from retrieval.results import Match, Query
from retrieval.search.fusion import Fused, FusionMethod, Hit, fuse
from retrieval.search.separation import GOOD_MATCH, confidence

if TYPE_CHECKING:
    from retrieval.engine import Engine

SPACE_ORDER = ("text", "clip", "keyword")
DEPTH = 10  # MRR@10, Recall@10
MISSING = -1  # stands for a relevant item that is not indexed: never ranked, so always a miss


@dataclass
class QueryRun:
    """One qrels query, searched once: its per-space hits and what it should have found."""

    id: str
    kind: str
    split: str
    relevant: set[int]
    lists: dict[str, list[Hit]]
    weights: dict[str, float]
    image: bool = False  # the query holds a picture
    transcript: str | None = None
    said: str | None = None  # what a spoken query really says, for WER
    seconds: float = 0.0
    unknown: list[str] = field(default_factory=list)  # relevant paths that are not indexed
    at: float | None = None  # a video moment the answer must be found at (qrels "at")
    spans: dict[int, tuple[float | None, float | None]] = field(default_factory=dict)

    @property
    def is_none(self) -> bool:
        return not self.relevant and not self.unknown


def collect(engine: Engine, lines: Sequence[QrelsLine],
            weights: dict[str, float] | None = None) -> list[QueryRun]:
    """Search every line once; relevant paths that are not indexed are simply unfindable."""
    runs: list[QueryRun] = []
    for line in lines:
        found_ids = {str(p): engine.item_id_for_path(p) for p in line.relevant}
        relevant = {i for i in found_ids.values() if i is not None}
        query = Query(
            text=line.text,
            image=line.image.read_bytes() if line.image else None,
            audio=line.audio.read_bytes() if line.audio else None,
            weights=weights,
        )
        t0 = time.perf_counter()
        found = engine.candidates(query)
        seconds = time.perf_counter() - t0
        spans = {}
        if line.at is not None:  # where each candidate part lies in time, to check the moment
            ids = {h.part_id for hits in found.lists.values() for h in hits}
            spans = {pid: (p.start, p.end) for pid, p in engine.catalog.parts_for(ids).items()}
        runs.append(QueryRun(
            id=line.id or f"{line.kind}:{len(runs)}", kind=line.kind, split=line.split,
            relevant=relevant, lists=found.lists,
            unknown=[p for p, i in found_ids.items() if i is None],
            weights=found.weights, image=found.echo.image,
            transcript=found.echo.transcript,
            said=line.said, seconds=seconds, at=line.at, spans=spans,
        ))
    return runs


def fused(run: QueryRun, method: FusionMethod = "auto") -> list[Fused]:
    """The run's fused ranking, the way ``Engine.search`` would rank it."""
    return fuse(run.lists, method=method, weights=run.weights, image_query=run.image)


def rankings(run: QueryRun, method: FusionMethod = "auto") -> dict[str, list[Hashable]]:
    """Item ids best first: ``fused`` and one list per space the query reached. With a moment
    (``at``), an item whose shown part lies elsewhere in time does not count as found."""
    out = {"fused": _ids(run, fused(run, method))}
    for space, hits in run.lists.items():
        if hits:
            out[space] = _ids(run, fuse({space: hits}, method="rrf"))
    return out


def _ids(run: QueryRun, ranked: list[Fused]) -> list[Hashable]:
    out: list[Hashable] = []
    for f in ranked:
        start, end = run.spans.get(f.part_id, (None, None))
        here = run.at is None or at_moment(Match(kind="part", start=start, end=end), run.at)
        out.append(f.item_id if here else ("elsewhere", f.item_id))
    return out


@dataclass
class KindRow:
    """MRR@10 per ranking (``fused`` and each space) over the queries of one kind."""

    queries: int
    mrr: dict[str, float]
    recall10: dict[str, float]
    best_space: str | None = None
    # 90% paired-bootstrap interval of fused minus the best space: a kind with 20 queries
    # moves by 0.05 when one query changes rank, so a difference needs its error bar.
    vs_best_interval: tuple[float, float] = (0.0, 0.0)

    @property
    def best(self) -> float:
        return self.mrr.get(self.best_space, 0.0) if self.best_space else 0.0


@dataclass
class Comparison:
    """Rows per kind and overall, plus the cut-off's record on ``none`` queries."""

    rows: dict[str, KindRow]
    none_queries: int = 0
    none_shown_good: int = 0  # results flagged good over all ``none`` queries (top 10)
    none_any_good: int = 0  # ``none`` queries with at least one result flagged good
    found_flagged_good: float = 0.0  # share of queries whose first relevant hit is flagged good
    extra: dict[str, Any] = field(default_factory=dict)


def compare(runs: Sequence[QueryRun], method: FusionMethod = "auto",
            threshold: float = GOOD_MATCH) -> Comparison:
    """Score fused vs each space alone per kind, and what the good-match cut-off shows."""
    per_kind: dict[str, list[dict[str, list[Hashable]]]] = {}
    rel_of: dict[str, list[set[int]]] = {}
    none_good = none_any = none_n = 0
    flagged = found = 0
    for run in runs:
        ranked = fused(run, method)
        good = [f.item_id for f in ranked[:DEPTH]
                if method == "auto" and confidence(f.score, ranked[0].score) >= threshold]
        if run.is_none:
            none_n += 1
            none_good += len(good)
            none_any += bool(good)
            continue
        ranks = rankings(run, method)
        per_kind.setdefault(run.kind, []).append(ranks)
        rel_of.setdefault(run.kind, []).append(run.relevant or {MISSING})
        first = next((i for i in ranks["fused"][:DEPTH] if i in run.relevant), None)
        if first is not None:
            found += 1
            flagged += first in good
    rows = {kind: _row(per_kind[kind], rel_of[kind]) for kind in sorted(per_kind)}
    everything = [r for k in sorted(per_kind) for r in per_kind[k]]
    if everything:
        rows["overall"] = _row(everything, [s for k in sorted(per_kind) for s in rel_of[k]])
    return Comparison(rows, none_n, none_good, none_any, flagged / found if found else 0.0)


def _row(ranks: list[dict[str, list[Hashable]]], relevant: list[set[int]]) -> KindRow:
    names = ["fused", *(s for s in SPACE_ORDER if any(s in r for r in ranks))]
    n = len(ranks)
    rr = {name: [mrr_at_k(r.get(name, []), rel, DEPTH) for r, rel in zip(ranks, relevant,
                                                                         strict=True)]
          for name in names}
    mrr = {name: sum(v) / n for name, v in rr.items()}
    rec = {name: sum(recall_at_k(r.get(name, []), rel, DEPTH) for r, rel in zip(ranks, relevant,
                                                                              strict=True)) / n
           for name in names}
    spaces = [s for s in names if s != "fused"]
    best = max(spaces, key=lambda s: mrr[s]) if spaces else None
    interval = paired_interval(rr["fused"], rr[best]) if best else (0.0, 0.0)
    return KindRow(n, mrr, rec, best, interval)


def paired_interval(a: list[float], b: list[float], resamples: int = 2000,
                     level: float = 0.9) -> tuple[float, float]:
    """Bootstrap interval of mean(a - b) over the same queries (fixed seed: reproducible)."""
    diff = np.asarray(a) - np.asarray(b)
    picks = np.random.default_rng(0).integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[picks].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def fused_report(runs: Sequence[QueryRun], method: FusionMethod = "auto") -> EvalReport:
    """Recall@k, MRR@10, nDCG@10 and latency of the fused ranking, per kind and overall."""
    by_kind: dict[str, list[tuple[Sequence[Hashable], set[Hashable]]]] = {}
    times: dict[str, list[float]] = {}
    for run in runs:
        if run.is_none:
            continue
        ranked = rankings(run, method)["fused"][:DEPTH]
        relevant: set[Hashable] = set(run.relevant) or {MISSING}
        by_kind.setdefault(run.kind, []).append((ranked, relevant))
        times.setdefault(run.kind, []).append(run.seconds)
    every = [t for ts in times.values() for t in ts]
    return EvalReport(
        overall=aggregate([x for xs in by_kind.values() for x in xs]),
        kinds={kind: aggregate(xs) for kind, xs in by_kind.items()},
        latency_p50=percentile(every, 50),
        latency_p95=percentile(every, 95),
        kind_latency={k: (percentile(ts, 50), percentile(ts, 95)) for k, ts in times.items()},
        unknown_relevant=[p for run in runs for p in run.unknown],
    )
