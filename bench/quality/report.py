"""Every fusion method, and fusion without CLIP, on one search per query: the docs' tables.

    python -m bench.quality.report /tmp/xq/qrels.jsonl --split heldout [--cache]
    python -m bench.quality.report /tmp/xq17/qrels.jsonl /tmp/xq18/qrels.jsonl --cache \
        --split all --unseen-by /tmp/xq/qrels.jsonl

``xmodal eval`` prints the default fusion against each space alone; this adds the other
methods (``rrf``, ``score``) and ``auto`` without the CLIP space, which is how much a space
that does not separate (the tests' random-weight CLIP) costs. ``--cache`` keeps each
evaluation's searches in ``runs.pkl`` beside its qrels, so a second report needs no models
and evaluations drawn with other ``--seed``s (each indexed with its own ``env.sh``) can be
pooled; ``--unseen-by`` leaves out queries already looked at in another draw.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
from pathlib import Path

from retrieval.evaluation import load_qrels
from retrieval.space_eval import QueryRun, collect, compare


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("qrels", type=Path, nargs="+", help="one or more evaluations, pooled")
    ap.add_argument("--split", default="heldout", choices=["all", "dev", "heldout"])
    ap.add_argument("--cache", action="store_true", help="keep/reuse runs.pkl beside each qrels")
    ap.add_argument("--unseen-by", type=Path, help="leave out query ids this qrels also holds")
    args = ap.parse_args()
    seen = ({x.id for x in load_qrels(args.unseen_by)} if args.unseen_by else set())
    runs = []
    for run in (r for q in args.qrels for r in _runs(q, args.cache)):
        if args.split in ("all", run.split) and run.id not in seen:
            seen.add(run.id)  # a query drawn again by a later evaluation counts once
            runs.append(run)
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
    print(f"| kind | n | {head} | text | clip | keyword | best single | auto - best | 90% |")
    print("|---" * (len(tables) + 8) + "|")
    for kind in kinds:
        row = auto.rows[kind]
        cells = [f"{t.rows[kind].mrr['fused']:.3f}" for t in tables.values()]
        spaces = [f"{row.mrr[s]:.3f}" if s in row.mrr else "-" for s in ("text", "clip", "keyword")]
        print(f"| {kind} | {row.queries} | {' | '.join(cells)} | {' | '.join(spaces)} | "
              f"{row.best_space} {row.best:.3f} | {row.mrr['fused'] - row.best:+.3f} | "
              "[{:+.3f}, {:+.3f}] |".format(*row.vs_best_interval))
    print(f"\nno-answer queries: {auto.none_queries}, results shown as good: "
          f"{auto.none_shown_good} (in {auto.none_any_good} queries); first relevant hit "
          f"shown as good: {auto.found_flagged_good:.0%}")


def _runs(qrels: Path, cache: bool) -> list[QueryRun]:
    """The evaluation's searches: from ``runs.pkl`` when it is newer than the qrels."""
    kept = qrels.parent / "runs.pkl"
    if cache and kept.is_file() and kept.stat().st_mtime > qrels.stat().st_mtime:
        return pickle.loads(kept.read_bytes())  # noqa: S301 - our own file
    from retrieval.config import Settings
    from retrieval.engine import Engine

    with Engine(Settings()) as engine:
        runs = collect(engine, load_qrels(qrels))
    if cache:
        kept.write_bytes(pickle.dumps(runs))
    return runs


if __name__ == "__main__":
    main()
