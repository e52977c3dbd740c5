"""Spoken queries with and without the collection's vocabulary as Whisper's prompt.

    python -m bench.quality.spoken /tmp/xq/qrels.jsonl [--split heldout] [--query-model base]

Prints WER (``retrieval.wer``, normalised) and MRR@10 of the fused ranking for the qrels'
``spoken`` lines, with ``XMODAL_QUERY_VOCABULARY`` off and on, same index; with
``--query-model`` also both again with that Whisper for the queries.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from retrieval.config import Settings
from retrieval.engine import Engine
from retrieval.evaluation import load_qrels, mrr_at_k
from retrieval.space_eval import collect, fused
from retrieval.wer import word_error_rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("qrels", type=Path)
    ap.add_argument("--split", default="all", choices=["all", "dev", "heldout"])
    ap.add_argument("--query-model", help="a Whisper name or folder for the queries only")
    args = ap.parse_args()
    lines = [x for x in load_qrels(args.qrels)
             if x.audio is not None and x.said and args.split in ("all", x.split)]
    print(f"{len(lines)} spoken queries ({args.split})")
    models = [None, args.query_model] if args.query_model else [None]
    for model, vocabulary in [(m, v) for m in models for v in (False, True)]:
        engine = Engine(Settings(query_vocabulary=vocabulary, whisper_query_model=model))
        try:
            runs = collect(engine, lines)
            prompt = engine.queries._vocabulary() if vocabulary else None  # noqa: SLF001
        finally:
            engine.close()
        wer = sum(word_error_rate(r.said or "", r.transcript or "") for r in runs) / len(runs)
        mrr = sum(mrr_at_k([f.item_id for f in fused(r)], r.relevant, 10) for r in runs) / len(runs)
        label = f"{model or 'index model'}, {'collection prompt' if vocabulary else 'no prompt'}"
        print(f"{label:>32}: WER {wer:.3f}  MRR@10 {mrr:.3f}", flush=True)
        if prompt:
            print(f"{'':>32}  prompt: {prompt[:200]}...")


if __name__ == "__main__":
    main()
