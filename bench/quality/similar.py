""""More like this" on the generated evaluation: how many neighbours are the item's relatives.

    python -m bench.quality.similar /tmp/xq          # after bench.quality.generate + index

Every Debian description of the corpus whose library family (``libssl3``, ``libssl-dev``) has
other members in the corpus asks ``Engine.similar_candidates`` once; the same lists are then
fused with each method and ranked by each space alone. Precision@5 is the share of the first
five neighbours from the document's own family, capped by how many relatives it has.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from bench.quality.sources import family_of
from retrieval.config import Settings
from retrieval.engine import Engine
from retrieval.search.fusion import FusionMethod, fuse

DEPTH = 5
METHODS: tuple[FusionMethod, ...] = ("auto", "rrf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="the folder bench.quality.generate wrote")
    args = ap.parse_args()
    corpus = (args.out / "corpus").resolve()
    docs = sorted(corpus.glob("deb/*.txt"))
    family = {p: family_of(p.stem) for p in docs}
    members: dict[str, int] = {}
    for f in family.values():
        members[f] = members.get(f, 0) + 1
    asking = [p for p in docs if members[family[p]] > 1]
    scores: dict[str, list[float]] = {m: [] for m in (*METHODS, "text", "clip")}
    with Engine(Settings()) as engine:
        ids = {p: engine.item_id_for_path(p) for p in docs}
        kin = {i: family[p] for p, i in ids.items() if i is not None}
        for p in asking:
            item = ids[p]
            if item is None:
                continue
            lists, picture = engine.similar_candidates(item, DEPTH)
            room = min(DEPTH, members[family[p]] - 1)
            ranked = {m: [f.item_id for f in fuse(lists, method=m, image_query=picture)]
                      for m in METHODS}
            ranked |= {s: [f.item_id for f in fuse({s: hits}, method="rrf")]
                       for s, hits in lists.items()}
            for m, order in ranked.items():
                scores[m].append(sum(kin.get(i) == family[p] for i in order[:DEPTH]) / room)
    print(f"more like this: {len(scores['auto'])} documents with relatives in the corpus")
    print("| ranking | precision@5 (relatives) |")
    print("|---|---|")
    for m, vals in scores.items():
        if vals:
            print(f"| {m} | {statistics.fmean(vals):.3f} |")


if __name__ == "__main__":
    main()
