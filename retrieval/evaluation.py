"""Measuring search quality: Recall@k, MRR@k, nDCG@k and the qrels runner behind ``xmodal eval``.

A qrels file is JSON Lines; each line is one query and the paths that should come back::

    {"text": "invoice INV-4471", "relevant": ["docs/inv-4471.txt"], "kind": "code"}
    {"audio": "questions/q1.wav", "relevant": ["docs/boats.md"], "kind": "spoken"}
    {"image": "probe.jpg", "text": "at night", "relevant": ["photos/harbour.jpg"]}
    {"text": "copper cables", "relevant": ["talks/q3.mp4"], "at": 754, "kind": "video"}

``at`` (seconds) asks for a moment: a video or recording counts only when the part it matched
by covers that time, give or take ``MOMENT_TOLERANCE`` seconds (the right file at the wrong
time is a miss).

Relative paths are resolved against the qrels file's folder, because that is where whoever
wrote the file was standing. Relevance is binary. Results are compared by *item*, not path, so
an item stored under two names (identical content) counts once, under either name.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.results import Match, Query

if TYPE_CHECKING:
    from retrieval.engine import Engine

CUTOFFS = (1, 5, 10)
MOMENT_TOLERANCE = 2.0  # seconds a matched part may lie away from a qrels line's "at"


def recall_at_k(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    """Share of the relevant items found in the top ``k``."""
    rel = set(relevant)
    if not rel:
        raise ValueError("a query needs at least one relevant item")
    return len(rel & set(ranked[:k])) / len(rel)


def mrr_at_k(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    """Reciprocal rank of the first relevant item in the top ``k``; 0 when none is there."""
    rel = set(relevant)
    if not rel:
        raise ValueError("a query needs at least one relevant item")
    for i, item in enumerate(ranked[:k], start=1):
        if item in rel:
            return 1.0 / i
    return 0.0


def ndcg_at_k(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    """Binary-relevance nDCG: gain 1 at rank i is worth ``1/log2(i+1)``; ideal puts all first."""
    rel = set(relevant)
    if not rel:
        raise ValueError("a query needs at least one relevant item")
    seen: set[Hashable] = set()
    dcg = 0.0
    for i, item in enumerate(ranked[:k], start=1):
        if item in rel and item not in seen:  # a repeated item earns nothing the second time
            dcg += 1.0 / math.log2(i + 1)
            seen.add(item)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(rel), k) + 1))
    return dcg / ideal


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between ranks (numpy's way)."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass
class Metrics:
    """Averages over a set of queries."""

    queries: int
    recall: dict[int, float]
    mrr10: float
    ndcg10: float

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"queries": self.queries}
        out.update({f"recall@{k}": v for k, v in self.recall.items()})
        out["mrr@10"] = self.mrr10
        out["ndcg@10"] = self.ndcg10
        return out


def aggregate(runs: Sequence[tuple[Sequence[Hashable], set[Hashable]]]) -> Metrics:
    """Mean Recall@1/5/10, MRR@10 and nDCG@10 over ``(ranked, relevant)`` pairs."""
    n = len(runs)
    if n == 0:
        return Metrics(0, {k: 0.0 for k in CUTOFFS}, 0.0, 0.0)
    return Metrics(
        queries=n,
        recall={k: sum(recall_at_k(r, rel, k) for r, rel in runs) / n for k in CUTOFFS},
        mrr10=sum(mrr_at_k(r, rel, 10) for r, rel in runs) / n,
        ndcg10=sum(ndcg_at_k(r, rel, 10) for r, rel in runs) / n,
    )


@dataclass
class QrelsLine:
    """One parsed qrels line: the query, its relevant paths (absolute) and its kind label."""

    kind: str
    relevant: list[Path]
    text: str | None = None
    image: Path | None = None
    audio: Path | None = None
    at: float | None = None
    id: str | None = None
    split: str = "all"  # "dev" or "heldout" in a generated evaluation (bench/quality)
    said: str | None = None  # the words a spoken query really says, to score its transcript

    @property
    def is_none(self) -> bool:
        """A query with no relevant item: it tests the relevance cut-off, not the ranking."""
        return not self.relevant


def load_qrels(path: Path) -> list[QrelsLine]:
    """Parse a qrels JSONL file; a bad line raises ValueError naming its line number."""
    base = path.parent
    out: list[QrelsLine] = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            obj = json.loads(raw)
            rel = obj["relevant"]
            if isinstance(rel, str):
                rel = [rel]
            if not rel and obj.get("kind") != "none":
                raise ValueError("'relevant' is empty (allowed only with \"kind\": \"none\")")
            if not any(obj.get(key) for key in ("text", "image", "audio")):
                raise ValueError("needs 'text', 'image' or 'audio'")
            line = QrelsLine(
                kind=str(obj.get("kind") or _default_kind(obj)),
                relevant=[_resolve(base, p) for p in rel],
                text=obj.get("text") or None,
                image=_resolve(base, obj["image"]) if obj.get("image") else None,
                audio=_resolve(base, obj["audio"]) if obj.get("audio") else None,
                at=float(obj["at"]) if obj.get("at") is not None else None,
                id=str(obj["id"]) if obj.get("id") is not None else None,
                split=str(obj.get("split") or "all"),
                said=obj.get("said") or None,
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{n}: bad qrels line: {exc}") from exc
        out.append(line)
    return out


def at_moment(match: Match, at: float) -> bool:
    """Whether a matched part lies at ``at`` seconds, give or take ``MOMENT_TOLERANCE``."""
    if match.start is None:
        return False
    end = match.end if match.end is not None else match.start
    return match.start - MOMENT_TOLERANCE <= at <= end + MOMENT_TOLERANCE


def _default_kind(obj: dict[str, Any]) -> str:
    return "+".join(key for key in ("text", "image", "audio") if obj.get(key))


def _resolve(base: Path, p: str) -> Path:
    q = Path(p).expanduser()
    return (q if q.is_absolute() else base / q).resolve()


@dataclass
class EvalReport:
    """Per-kind and overall metrics plus search latency, as ``xmodal eval`` prints them."""

    overall: Metrics
    kinds: dict[str, Metrics]
    latency_p50: float
    latency_p95: float
    unknown_relevant: list[str] = field(default_factory=list)
    per_query: list[dict[str, Any]] = field(default_factory=list)
    kind_latency: dict[str, tuple[float, float]] = field(default_factory=dict)  # p50, p95

    def as_dict(self) -> dict[str, Any]:
        by_kind = {k: {"p50": v[0], "p95": v[1]} for k, v in sorted(self.kind_latency.items())}
        return {
            "overall": self.overall.as_dict(),
            "kinds": {k: m.as_dict() for k, m in sorted(self.kinds.items())},
            "latency": {"p50": self.latency_p50, "p95": self.latency_p95, "kinds": by_kind},
            "unknown_relevant": self.unknown_relevant,
        }


def run_qrels(
    engine: Engine,
    lines: Sequence[QrelsLine],
    *,
    fusion: str = "auto",
    weights: dict[str, float] | None = None,
    limit: int = 10,
) -> EvalReport:
    """Run every qrels query through ``engine.search`` and score the rankings.

    ``weights`` is passed to each query, so ``{"text": 1, "clip": 0, "keyword": 0}`` measures
    one space alone. Latency is wall time of ``engine.search`` per query, encoders included.
    """
    runs: dict[str, list[tuple[list[Hashable], set[Hashable]]]] = {}
    latencies: list[float] = []
    unknown: list[str] = []
    per_query: list[dict[str, Any]] = []
    for line in lines:
        if line.is_none:
            continue  # nothing to rank against; ``retrieval.space_eval`` scores these
        relevant: set[Hashable] = set()
        for p in line.relevant:
            item = engine.item_id_for_path(p)
            if item is None:
                unknown.append(str(p))
                relevant.add(str(p))  # never matched: counts as a miss, reported
            else:
                relevant.add(item)
        query = Query(
            text=line.text,
            image=line.image.read_bytes() if line.image else None,
            audio=line.audio.read_bytes() if line.audio else None,
            fusion=fusion,
            weights=weights,
            limit=limit,
        )
        t0 = time.perf_counter()
        response = engine.search(query)
        seconds = time.perf_counter() - t0
        latencies.append(seconds)
        ranked: list[Hashable] = [
            r.id if line.at is None or at_moment(r.match, line.at) else ("elsewhere", r.id)
            for r in response.results
        ]
        runs.setdefault(line.kind, []).append((ranked, relevant))
        per_query.append(
            {
                "kind": line.kind,
                "text": line.text,
                "transcript": response.query.transcript,
                "rr": mrr_at_k(ranked, relevant, 10),
                "seconds": seconds,
                "top": [r.path for r in response.results[:3]],
            }
        )
    everything = [run for kind_runs in runs.values() for run in kind_runs]
    return EvalReport(
        overall=aggregate(everything),
        kinds={kind: aggregate(kind_runs) for kind, kind_runs in runs.items()},
        latency_p50=percentile(latencies, 50),
        latency_p95=percentile(latencies, 95),
        unknown_relevant=unknown,
        per_query=per_query,
        kind_latency={
            kind: (percentile(ts, 50), percentile(ts, 95))
            for kind in runs
            for ts in [[q["seconds"] for q in per_query if q["kind"] == kind]]
        },
    )
