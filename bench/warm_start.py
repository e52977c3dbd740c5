"""Warm start: what the first query of a fresh server costs with and without the warm-up.

Indexes a handful of one-sentence documents (real MiniLM; CLIP has no real weights offline),
then twice opens a fresh ``Engine`` over them in a new process state: once searching straight
away (the models load inside the first query, as before ``/readyz`` existed), once after
``Engine.warm()`` (what ``xmodal serve`` does before it reports ready). Prints the warm-up's
own time and the first and second query latencies of each.

    python -m bench.warm_start
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import describe

CHILD = """
import sys, time
from pathlib import Path
from retrieval import Engine, Query, Settings
settings = Settings(XMODAL_DATA=Path(sys.argv[1]), device="cpu", clip_model="none-offline")
with Engine(settings) as engine:
    warm = 0.0
    if sys.argv[2] == "warm":
        t0 = time.perf_counter(); engine.warm(); warm = time.perf_counter() - t0
    times = []
    for q in ("harbour ship log", "ferry timetable"):
        t0 = time.perf_counter()
        engine.search(Query(text=q))
        times.append(time.perf_counter() - t0)
    print(f"{warm:.2f} {times[0]:.3f} {times[1]:.3f}")
"""


def main() -> None:
    from retrieval import Engine, Settings

    with tempfile.TemporaryDirectory(prefix="xmodal-warm-") as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        for i in range(20):
            (docs / f"note_{i}.txt").write_text(f"Note {i}: ship {i * 7} left the harbour.\n")
        settings = Settings(XMODAL_DATA=Path(tmp) / "data", device="cpu",
                            clip_model="none-offline")
        with Engine(settings) as engine:
            engine.index([docs])
        print(describe())
        print(f"{'start':<10} {'warm-up s':>10} {'1st query s':>12} {'2nd query s':>12}")
        for mode in ("cold", "warm"):
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", CHILD, str(settings.data_dir), mode],
                                 capture_output=True, text=True, check=True).stdout.split()
            warm, first, second = (float(x) for x in out[-3:])
            print(f"{mode:<10} {warm:>10.2f} {first:>12.3f} {second:>12.3f}"
                  f"   (process {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
