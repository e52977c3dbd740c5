"""Watching: how long until an added, renamed or deleted file shows in the catalog.

Runs ``retrieval.ingest.watch.Watcher`` on a thread over a temporary folder (real MiniLM; CLIP
has no real weights offline, so the text and keyword spaces are written), waits for its start
rescan, then makes ``--files`` one-sentence documents one at a time, renames each into a
subfolder, and deletes each, timing from the file-system call until the catalog says so.
Reported: median and worst seconds per kind of change, and how many renamed files kept their
item (re-attached by content hash, nothing decoded). The settle time is the watcher's default
(500 ms of quiet before a batch is taken), so that is the floor.

    python -m bench.watch_latency --files 10
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.machine import describe

TIMEOUT = 120.0


def ok_paths(db: Path) -> dict[str, int]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return dict(con.execute("SELECT path, item_id FROM files WHERE status='ok'").fetchall())
    except sqlite3.OperationalError:
        return {}
    finally:
        con.close()


def until(check: Callable[[], bool]) -> float:
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > TIMEOUT:
            raise TimeoutError("the watcher did not catch up in time")
        time.sleep(0.02)
    return time.monotonic() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10)
    args = parser.parse_args()
    from retrieval.config import Settings
    from retrieval.ingest.watch import Watcher

    with tempfile.TemporaryDirectory(prefix="xmodal-watch-") as tmp:
        root = Path(tmp) / "notes"
        (root / "moved").mkdir(parents=True)
        (root / "seed.txt").write_text("The first note, indexed by the rescan at start.\n")
        settings = Settings(XMODAL_DATA=Path(tmp) / "data", device="cpu", ocr_enabled=False,
                            clip_model="none-offline")
        watcher = Watcher(settings, [root])
        thread = watcher.start()
        db = Path(tmp) / "data" / "catalog.sqlite"
        until(lambda: db.exists() and str(root / "seed.txt") in ok_paths(db))
        times: dict[str, list[float]] = {"add": [], "rename": [], "delete": []}
        for i in range(args.files):
            path = root / f"note_{i:03d}.txt"
            path.write_text(f"Note {i}: the harbour master logged ship number {i * 17}.\n")
            times["add"].append(until(lambda p=path: str(p) in ok_paths(db)))
        before = ok_paths(db)
        for i in range(args.files):
            old, new = root / f"note_{i:03d}.txt", root / "moved" / f"note_{i:03d}.txt"
            old.rename(new)
            times["rename"].append(until(
                lambda o=old, n=new: str(n) in (got := ok_paths(db)) and str(o) not in got))
        after = ok_paths(db)
        kept = sum(after.get(str(root / "moved" / f"note_{i:03d}.txt"))
                   == before[str(root / f"note_{i:03d}.txt")] for i in range(args.files))
        for i in range(args.files):
            path = root / "moved" / f"note_{i:03d}.txt"
            path.unlink()
            times["delete"].append(until(lambda p=path: str(p) not in ok_paths(db)))
        watcher.stop.set()
        thread.join(10)
    print(describe())
    print(f"{args.files} files per change; settle 500 ms; seconds from the change to the catalog")
    print(f"{'change':<8} {'median':>7} {'worst':>7}")
    for kind, values in times.items():
        print(f"{kind:<8} {statistics.median(values):>7.2f} {max(values):>7.2f}")
    print(f"renamed files that kept their item (re-attached by content hash, not decoded): "
          f"{kept} of {args.files}")


if __name__ == "__main__":
    main()
