"""The common-word cutoff on the evaluation: keyword lists searched again with and without it.

    python -m bench.quality.report /tmp/xq/qrels.jsonl --split all --cache    # once, keeps runs
    python -m bench.quality.common_words /tmp/xq/qrels.jsonl
    python -m bench.quality.common_words /tmp/xq17/qrels.jsonl /tmp/xq18/qrels.jsonl \
        --unseen-by /tmp/xq/qrels.jsonl

The evaluation's collections hold about 2,000 parts, under ``COMMON_MIN_PARTS``, so the shipped
rule never applies to them. This forces it on (``COMMON_MIN_PARTS = 0``) at each share, to show
what it does to ranking where it does apply. Every other space's list comes from the
``runs.pkl`` that ``bench.quality.report --cache`` kept beside each qrels; only the keyword list
is searched again, in the collection ``bench.quality.generate`` indexed under ``data/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import sys
from pathlib import Path

from retrieval.catalog.database import Catalog, ItemFilter
from retrieval.engine import CANDIDATES
from retrieval.evaluation import load_qrels, mrr_at_k
from retrieval.search import keywords
from retrieval.space_eval import QueryRun, compare, paired_interval, rankings

SHARES = (0.2, 0.1, 0.05)


def searched_again(qrels: Path, share: float | None) -> list[QueryRun]:
    """The kept runs of one evaluation, keyword lists searched with the cutoff at ``share``
    (``None``: no word is ever common) to the depth a first page's search uses."""
    runs: list[QueryRun] = pickle.loads((qrels.parent / "runs.pkl").read_bytes())  # noqa: S301
    texts = {line.id: line.text for line in load_qrels(qrels)}
    keywords.COMMON_SHARE = share if share is not None else 1.0
    keywords.COMMON_MIN_PARTS = 0 if share is not None else sys.maxsize
    catalog = Catalog(qrels.parent / "data" / "catalog.sqlite")
    out = []
    for run in runs:
        if "keyword" in run.lists:
            words = " ".join(x for x in (texts[run.id], run.transcript) if x)
            found = keywords.keyword_hits(catalog, words, CANDIDATES * 4, ItemFilter())
            run = dataclasses.replace(run, lists={**run.lists, "keyword": found})
        out.append(run)
    catalog.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("qrels", type=Path, nargs="+", help="one or more evaluations, pooled")
    ap.add_argument("--unseen-by", type=Path, help="leave out query ids this qrels also holds")
    args = ap.parse_args()
    unseen_by = {x.id for x in load_qrels(args.unseen_by)} if args.unseen_by else set()
    print("| common words | kind | n | fused MRR@10 | keyword space alone | fused - kept, "
          "overall [90% interval] |")
    print("|---|---|---:|---:|---:|---|")
    kept: list[float] = []
    for share in (None, *SHARES):
        seen, runs = set(unseen_by), []
        for qrels in args.qrels:
            for run in searched_again(qrels, share):
                if run.id not in seen:
                    seen.add(run.id)
                    runs.append(run)
        table = compare(runs, "auto")
        label = "kept" if share is None else f"over {share:.0%} of parts left out"
        each = [mrr_at_k(rankings(r)["fused"], r.relevant, 10) for r in runs if not r.is_none]
        kept = kept or each
        low, high = paired_interval(each, kept)
        for kind, row in table.rows.items():
            vs = (f"{sum(each) / len(each) - sum(kept) / len(kept):+.3f} [{low:+.3f}, {high:+.3f}]"
                  if kind == "overall" and share is not None else "")
            print(f"| {label} | {kind} | {row.queries} | {row.mrr['fused']:.3f} | "
                  f"{row.mrr.get('keyword', 0.0):.3f} | {vs} |")


if __name__ == "__main__":
    main()
