"""Merging the ranked lists of several spaces into one ranking of items.

Each space (``text``, ``clip``, ``keyword``) answers a query with scored *parts* (a chunk, a
speech segment, an OCR group, an image's file part). Users want *items*, so every space's list
is first collapsed to one entry per item (its best part), then the spaces are combined:

- **Separation fusion** (``auto``, the default for searches): each vector space's scores are
  z-scored over the query's candidates and count where they stand out; keywords count where a
  part holds every query term. ``retrieval.search.separation`` says why and how it was chosen.
- **Reciprocal rank fusion** (``rrf``, ``k = 60``; ``fuse``'s own default):
  ``sum_s w_s / (k + rank_s)``. Only ranks matter, so spaces whose raw scores live on
  different scales (cosine vs BM25) mix fairly.
- **Weighted normalised-score fusion**: each space's item scores are min-max scaled to
  ``[0, 1]`` and summed with the weights. Keeps the *margin* a space is sure about, which RRF
  throws away; a space whose scores are all equal scales to 1.0 for every item it returned.

An item a space did not return simply gets nothing from that space; a space with no results
(or a weight of zero) is left out entirely. Ties are broken by item id so that a page boundary
falls in the same place on every call, which keeps ``limit``/``offset`` paging stable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from retrieval.results import SpaceScore
from retrieval.search import separation

FusionMethod = Literal["auto", "rrf", "score"]
RRF_K = 60
_TIE_DIGITS = 12  # fused scores equal to this many digits count as a tie (float summing order)


@dataclass(frozen=True)
class Hit:
    """One part a space returned: higher ``score`` is better within that space."""

    item_id: int
    part_id: int
    score: float
    coverage: float = 1.0  # keyword hits: share of the query's terms the part contains


@dataclass(frozen=True)
class SpaceHit:
    """An item's standing in one space after collapsing its parts: 1-based rank, best part."""

    rank: int
    score: float
    part_id: int
    coverage: float = 1.0


@dataclass
class Fused:
    """One item in the fused ranking, with the part to show and why it ranked where it did."""

    item_id: int
    score: float
    part_id: int
    spaces: dict[str, SpaceHit] = field(default_factory=dict)

    def space_scores(self) -> dict[str, SpaceScore]:
        """The per-space breakdown in the shape the API returns."""
        return {
            name: SpaceScore(rank=hit.rank, score=hit.score)
            for name, hit in sorted(self.spaces.items())
        }


def collapse(hits: Sequence[Hit]) -> dict[int, SpaceHit]:
    """One entry per item: its best part's score, ranked 1..n among the distinct items.

    Parts are ordered by score (descending), then item id, then part id, so equal scores rank
    the same way on every call.
    """
    ordered = sorted(hits, key=lambda h: (-h.score, h.item_id, h.part_id))
    out: dict[int, SpaceHit] = {}
    for hit in ordered:
        if hit.item_id not in out:
            out[hit.item_id] = SpaceHit(rank=len(out) + 1, score=hit.score, part_id=hit.part_id,
                                        coverage=hit.coverage)
    return out


def _contributions(
    per_space: Mapping[str, dict[int, SpaceHit]],
    weights: Mapping[str, float],
    method: FusionMethod,
    k: int,
    image_query: bool = False,
) -> dict[str, dict[int, float]]:
    """What each space adds to each item's fused score."""
    out: dict[str, dict[int, float]] = {}
    lead = separation.leading_space(list(per_space), image_query)
    for name, items in per_space.items():
        w = weights[name]
        if method == "auto":
            add = (separation.keyword_contributions(items)
                   if name == separation.KEYWORD_SPACE
                   else separation.vector_contributions(items, leading=name == lead))
            out[name] = {item: w * v for item, v in add.items()}
            continue
        if method == "rrf":
            out[name] = {item: w / (k + hit.rank) for item, hit in items.items()}
            continue
        scores = [hit.score for hit in items.values()]
        lo, hi = min(scores), max(scores)
        span = hi - lo
        out[name] = {
            item: w * ((hit.score - lo) / span if span > 0 else 1.0) for item, hit in items.items()
        }
    return out


def fuse(
    lists: Mapping[str, Sequence[Hit]],
    *,
    method: FusionMethod = "rrf",
    weights: Mapping[str, float] | None = None,
    k: int = RRF_K,
    image_query: bool = False,
) -> list[Fused]:
    """Fuse each space's hits into one item ranking, best first.

    ``weights`` maps space name to weight (missing spaces weigh 1.0; a weight of 0 or less
    drops the space, so it neither scores nor adds candidates). The part shown for an item is
    the best part of the space that contributed most to it (ties: space name order).
    """
    if method not in ("auto", "rrf", "score"):
        raise ValueError(f"unknown fusion method {method!r}; use 'auto', 'rrf' or 'score'")
    if k < 0:
        raise ValueError("RRF k must be >= 0")
    given = dict(weights or {})
    w = {name: float(given.get(name, 1.0)) for name in lists}
    per_space = {
        name: collapse(hits) for name, hits in sorted(lists.items()) if hits and w[name] > 0
    }
    contrib = _contributions(per_space, w, method, k, image_query)

    fused: dict[int, Fused] = {}
    best: dict[int, tuple[float, str]] = {}
    for name in sorted(per_space):  # fixed order: the same float sum on every call
        for item, hit in per_space[name].items():
            c = contrib[name][item]
            entry = fused.get(item)
            if entry is None:
                entry = fused[item] = Fused(item_id=item, score=0.0, part_id=hit.part_id)
            entry.score += c
            entry.spaces[name] = hit
            if item not in best or c > best[item][0]:
                best[item] = (c, name)
                entry.part_id = hit.part_id
    return sorted(fused.values(), key=lambda f: (-round(f.score, _TIE_DIGITS), f.item_id))

