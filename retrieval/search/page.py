"""Dressing one page of a fused ranking: paths, best parts, metadata, groups and confidence.

Items whose files are all gone are dropped here (an index can lag the catalog), so counts and
pages only ever show what can be opened.
"""

from __future__ import annotations

import time

from retrieval.catalog.database import Catalog, PartRow
from retrieval.catalog.item_meta import display_meta
from retrieval.catalog.lookups import item_paths
from retrieval.results import Match, QueryEcho, Result, SearchResponse
from retrieval.search.duplicates import collapse
from retrieval.search.fusion import Fused
from retrieval.search.separation import GOOD_MATCH, confidences


def _shown_part(f: Fused, parts: dict[int, PartRow]) -> PartRow | None:
    """The part a result shows: the fused best, unless that is only the file's name and some
    space also found a passage, segment or OCR line of the item (a name hit explains less)."""
    part = parts.get(f.part_id)
    if part is not None and part.kind != "file":
        return part
    passages = [parts[h.part_id] for h in sorted(f.spaces.values(), key=lambda h: h.rank)
                if h.part_id in parts and parts[h.part_id].kind != "file"]
    return passages[0] if passages else part


def dress_page(
    catalog: Catalog,
    fused: list[Fused],
    offset: int,
    limit: int,
    echo: QueryEcho,
    path_glob: str | None,
    t0: float,
    *,
    groups: dict[int, list[int]] | None = None,
    calibrated: bool = False,
    paths: dict[int, tuple[str, str]] | None = None,
) -> SearchResponse:
    """Drop items with no indexed path left, count per type, and dress one page.

    ``groups`` (item → its whole near-duplicate group): the best-ranked photo stands for it.
    ``calibrated``: the scores come from a fusion whose confidence model was fit, so results
    carry ``confidence`` and ``good``. ``paths``: some items' ``item_paths`` already looked
    up (while CLIP's text tower ran); only the others are looked up here.
    """
    known = paths or {}
    shown = item_paths(catalog, [f.item_id for f in fused if f.item_id not in known], path_glob)
    shown.update(known)
    fused = [f for f in fused if f.item_id in shown]
    similar: dict[int, list[int]] = {}
    if groups is not None:
        fused, similar = collapse(fused, groups)
    conf = confidences([f.score for f in fused]) if calibrated else None
    counts: dict[str, int] = {}
    for f in fused:
        t = shown[f.item_id][0]
        counts[t] = counts.get(t, 0) + 1
    page = fused[offset : offset + limit]
    page_conf = conf[offset : offset + limit] if conf is not None else [None] * len(page)
    wanted = {f.part_id for f in page} | {h.part_id for f in page for h in f.spaces.values()}
    parts = catalog.parts_for(wanted)
    metas = display_meta(catalog, [f.item_id for f in page])
    results = []
    for f, c in zip(page, page_conf, strict=True):
        item_type, path = shown[f.item_id]
        part = _shown_part(f, parts)
        match = (
            Match(kind=part.kind, text=part.text, start=part.start, end=part.end)
            if part is not None
            else Match(kind="file")
        )
        results.append(
            Result(
                id=f.item_id,
                path=path,
                type=item_type,
                score=f.score,
                match=match,
                scores=f.space_scores(),
                meta=metas.get(f.item_id),
                similar=similar.get(f.item_id, []),
                confidence=c,
                good=None if c is None else c >= GOOD_MATCH,
            )
        )
    return SearchResponse(
        query=echo, results=results, counts=counts, seconds=time.perf_counter() - t0,
        good_matches=None if conf is None else sum(c >= GOOD_MATCH for c in conf),
    )
