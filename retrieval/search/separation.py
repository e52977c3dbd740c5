"""Separation fusion (``auto``): a space counts as far as its scores stand out for this query.

Why not reciprocal rank fusion: RRF gives every space's first place the same vote, and a
vector space *always* has a first place. A space that knows nothing about the query (the
tests' random-weight CLIP, or CLIP's text tower reading a code) outvotes the space that does.
On the generated evaluation (``bench/quality``, docs/quality.md) RRF over text, CLIP and
keywords scored MRR@10 0.52 on dev against 0.73 for the text space alone. Bruch et al. (2023,
"An analysis of fusion functions for hybrid retrieval") found a convex combination of
normalised scores beats RRF and needs few labelled queries to tune; Weaviate's relative score
fusion is the min-max version of it. Min-max still hands every list a 1.0 at the top, so here
each vector space's scores are z-scored over the query's candidates instead (a list that
does not separate has no outliers) and the constants below were chosen on the dev split:

- **the leading vector space** (MiniLM for words; CLIP when the query holds a picture)
  contributes ``z - z_min``, so alone it ranks exactly as it did;
- **another vector space** contributes ``max(0, z - OUTLIER_Z)`` plus a faint
  ``CROSS_WEIGHT * (z - z_min)`` that orders the items only it can see (photos for a text
  query). Among 200 candidates a space that does not separate rarely puts anything above
  z = 4 (random CLIP: 90th percentile of its top z 4.0; MiniLM's relevant hit: median 5.6);
- **keywords** weigh ``(FULL_MATCH * [all terms matched] + coverage) * (bm25/top)^2 /
  sqrt(1 + ln n)``: a part holding every query term (a code, a name) is strong evidence, more
  so when few parts hold it (``n``); a part sharing half the words of a paraphrase adds about
  half a standard deviation of the leading space, enough to break its near-ties.

The constants were picked on dev as the setting whose worst per-kind difference to the best
single space held up best over 200 bootstrap resamples of the dev queries (a robust choice,
not the best dev mean).

The fused score is also the input of the relevance confidence (``confidence``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retrieval.search.fusion import SpaceHit

OUTLIER_Z = 4.0
CROSS_WEIGHT = 0.05
FULL_MATCH = 16.0
KEYWORD_SPACE = "keyword"


def zscores(items: Mapping[int, SpaceHit]) -> dict[int, float]:
    """Each item's score in standard deviations from its list's mean (0 when all are equal)."""
    scores = [hit.score for hit in items.values()]
    mean = math.fsum(scores) / len(scores)
    sd = math.sqrt(math.fsum((s - mean) ** 2 for s in scores) / len(scores))
    return {item: (hit.score - mean) / sd if sd > 0 else 0.0 for item, hit in items.items()}


def vector_contributions(items: Mapping[int, SpaceHit], leading: bool) -> dict[int, float]:
    """A vector space's addition to each item: linear if it leads, its outliers if not."""
    z = zscores(items)
    floor = min(z.values())
    if leading:
        return {item: v - floor for item, v in z.items()}
    return {item: max(0.0, v - OUTLIER_Z) + CROSS_WEIGHT * (v - floor) for item, v in z.items()}


def keyword_contributions(items: Mapping[int, SpaceHit]) -> dict[int, float]:
    """The keyword space's addition: strong for parts holding every term, faint otherwise."""
    top = max(hit.score for hit in items.values())
    if top <= 0:
        return {item: 0.0 for item in items}
    damp = math.sqrt(1.0 + math.log(len(items)))
    return {
        item: (FULL_MATCH * (hit.coverage >= 0.999) + hit.coverage)
        * (max(hit.score, 0.0) / top) ** 2 / damp
        for item, hit in items.items()
    }


def leading_space(spaces: list[str], image_query: bool) -> str | None:
    """The vector space that embeds the query's own modality."""
    order = ("clip", "text") if image_query else ("text", "clip")
    return next((s for s in order if s in spaces), None)


# Logistic regression fit on the dev split (bench/quality, all-MiniLM-L6-v2): P(relevant) from
# a result's fused score and how far it falls below the query's best result, over the top 10
# of every dev query ("none" queries included). Chosen over score alone by 5-fold
# cross-validated log-loss on dev (0.159 vs 0.185).
CONF_SCORE = 0.553
CONF_GAP = -1.098
CONF_BIAS = -3.831
GOOD_MATCH = 0.4  # at or above: shown as a good match (dev: 2 of 200 "none" results, 55% of hits)


def confidence(score: float, best: float) -> float:
    """The calibrated chance that a result is a match, given its ``auto`` fused score and the
    query's best fused score (a result far below the best is rarely right)."""
    x = CONF_SCORE * score + CONF_GAP * (best - score) + CONF_BIAS
    return 1.0 / (1.0 + math.exp(-x)) if x > -50 else 0.0


def confidences(scores: list[float]) -> list[float]:
    """``confidence`` of every result of one fused ranking (best first)."""
    return [confidence(s, scores[0]) for s in scores] if scores else []
