"""Every fusion method, and fusion without CLIP, on one search per query: the docs' tables.

    python -m bench.quality.report /tmp/xq/qrels.jsonl --split heldout [--runs /tmp/xq/runs.pkl]

``xmodal eval`` prints the default fusion against each space alone; this adds the other
methods (``rrf``, ``score``) and ``auto`` without the CLIP space, which is how much a space
that does not separate (the tests' random-weight CLIP) costs. ``--runs`` keeps the searches
in a pickle so a second report (another split) needs no models.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
from pathlib import Path

from retrieval.space_eval import QueryRun, collect, compare


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("qrels", type=Path)
    ap.add_argument("--split", default="heldout", choices=["all", "dev", "heldout"])
    ap.add_argument("--runs", type=Path, help="pickle of the searches: reused if present")
    args = ap.parse_args()
    runs = _runs(args.qrels, args.runs)
    runs = [r for r in runs if args.split in ("all", r.split)]
    no_clip = [dataclasses.replace(r, lists={k: v for k, v in r.lists.items() if k != "clip"})
               for r in runs]
    tables = {
        "auto": compare(runs, "auto"),
        "auto, no clip": compare(no_clip, "auto"),
        "rrf": compare(runs, "rrf"),
        "score": compare(runs, "score"),
    }
    auto = tables["auto"]
    kinds = list(auto.rows)
    print(f"MRR@10, {args.split} split")
    head = " | ".join(tables)
    print(f"| kind | n | {head} | text | clip | keyword | best single | auto - best |")
    print("|---" * (len(tables) + 7) + "|")
    for kind in kinds:
        row = auto.rows[kind]
        cells = [f"{t.rows[kind].mrr['fused']:.3f}" for t in tables.values()]
        spaces = [f"{row.mrr[s]:.3f}" if s in row.mrr else "-" for s in ("text", "clip", "keyword")]
        print(f"| {kind} | {row.queries} | {' | '.join(cells)} | {' | '.join(spaces)} | "
              f"{row.best_space} {row.best:.3f} | {row.mrr['fused'] - row.best:+.3f} |")
    print(f"\nno-answer queries: {auto.none_queries}, results shown as good: "
          f"{auto.none_shown_good} (in {auto.none_any_good} queries); first relevant hit "
          f"shown as good: {auto.found_flagged_good:.0%}")


def _runs(qrels: Path, cache: Path | None) -> list[QueryRun]:
    if cache is not None and cache.is_file():
        return pickle.loads(cache.read_bytes())  # noqa: S301 - our own file
    from retrieval.config import Settings
    from retrieval.engine import Engine
    from retrieval.evaluation import load_qrels

    engine = Engine(Settings())
    try:
        runs = collect(engine, load_qrels(qrels))
    finally:
        engine.close()
    if cache is not None:
        cache.write_bytes(pickle.dumps(runs))
    return runs


if __name__ == "__main__":
    main()
