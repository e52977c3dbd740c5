"""Search every qrels query once and keep the per-space lists, so fusion can be tuned offline.

    python -m bench.quality.runs /tmp/xq/qrels.jsonl /tmp/xq/runs.pkl
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from retrieval.config import Settings
from retrieval.engine import Engine
from retrieval.evaluation import load_qrels
from retrieval.space_eval import collect


def main() -> None:
    qrels, out = Path(sys.argv[1]), Path(sys.argv[2])
    engine = Engine(Settings())
    try:
        runs = collect(engine, load_qrels(qrels))
    finally:
        engine.close()
    out.write_bytes(pickle.dumps(runs))
    print(f"{len(runs)} queries -> {out}")


if __name__ == "__main__":
    main()
