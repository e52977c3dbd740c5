"""End-to-end photo indexing with OCR and CLIP on: today's path against the shipped one.

Generates a folder of photo-like JPEGs (``bench.ocr_precheck.photo``: gradients, noise,
blurred shapes; every ``text_every``-th with a light sign of three lines of real words) and
indexes it whole, as ``xmodal index`` does (``indexer.pipeline.run_index``: scan, hash,
decode in threads, OCR, CLIP and MiniLM in batches, SQLite, FAISS), into a fresh data
directory per run. Warm models are shared by every mode (random-weight ViT-B-32, real MiniLM,
rapidocr); each mode has its own OCR reader. Modes run interleaved, each first in turn, and
the table gives medians over the repeats and the ratio of medians to ``before``, and the
process's CPU seconds per image (the work done, which depends less on what else the machine
runs than wall time does; spin-waiting threads count as work). Quality:
the rendered words found in each text photo's indexed OCR parts, per letter size.

    python -m bench.indexing --photos 36 --repeats 3
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench import dataset
from bench.indexing import timed_index
from bench.ocr_precheck import FONT_SIZES, photo

# name: (settings, JPEGs decoded at a reduced scale where that keeps what the encoders need
# (extract.DRAFT_DECODE), torch given the cores OCR leaves (cores.SHARE_CORES), label)
MODES: dict[str, tuple[dict[str, Any], bool, bool, str]] = {
    "before": ({"ocr_precheck": False}, False, False,
               "before: full OCR on every photo, full-size decode"),
    "precheck": ({"ocr_single_pass": False}, False, False,
                 "pre-check, then full OCR where text"),
    "shipped": ({}, True, True, "shipped: pre-check's detection read in one pass, photos "
                "OCR'd side by side, torch on the cores left, draft decode"),
}


def make_photos(root: Path, n: int, size: tuple[int, int], text_every: int,
                font_sizes: tuple[int, ...]) -> dict[str, tuple[int, list[str]]]:
    """Write the photos; file name -> (letter size, words written) for the text ones."""
    root.mkdir(parents=True, exist_ok=True)
    truth: dict[str, tuple[int, list[str]]] = {}
    for i in range(n):
        has_text = i % text_every == 0
        blob, words = photo(i, size, has_text, font_sizes)
        name = f"photo_{i:05d}.jpg"
        (root / name).write_bytes(blob)
        if has_text:
            truth[name] = (font_sizes[i % len(font_sizes)], words)
    return truth


def ocr_text(data_dir: Path) -> dict[str, str]:
    """File name -> its indexed OCR parts' text, lower case."""
    import sqlite3

    con = sqlite3.connect(data_dir / "catalog.sqlite")
    try:
        rows = con.execute("SELECT f.path, p.text FROM files f JOIN parts p "
                           "ON p.item_id = f.item_id WHERE p.kind = 'ocr'").fetchall()
    finally:
        con.close()
    out: dict[str, str] = {}
    for path, text in rows:
        name = Path(path).name
        out[name] = (out.get(name, "") + " " + (text or "")).lower()
    return out


def _index(settings: Any, encoders: Any, root: Path, draft: bool,
           share_cores: bool) -> dict[str, float]:
    """One whole indexing run with the draft decode and the core sharing on or off."""
    import retrieval.ingest.cores as cores
    import retrieval.ingest.extract as extract

    saved = extract.DRAFT_DECODE, cores.SHARE_CORES
    extract.DRAFT_DECODE, cores.SHARE_CORES = draft, share_cores
    try:
        return timed_index(settings, encoders, root)
    finally:
        extract.DRAFT_DECODE, cores.SHARE_CORES = saved


def run(n: int, size: tuple[int, int], text_every: int, repeats: int,
        font_sizes: tuple[int, ...] = FONT_SIZES) -> dict[str, Any]:
    """Index the folder ``repeats`` times per mode; runs and per-mode quality."""
    from retrieval.config import Settings
    from retrieval.encoders import ClipEncoder, Encoders, OcrReader, TextEncoder

    with tempfile.TemporaryDirectory(prefix="xmodal-bench-photos-") as tmp:
        root = Path(tmp) / "photos"
        truth = make_photos(root, n, size, text_every, font_sizes)
        warm_root = Path(tmp) / "warm"
        make_photos(warm_root, 2, size, 1, font_sizes[-1:])
        base = Settings(XMODAL_DATA=Path(tmp) / "data", device="cpu",
                        clip_checkpoint=dataset.clip_checkpoint())
        text, clip = TextEncoder(base), ClipEncoder(base)
        modes = {}
        for name, (cfg, draft, share, _label) in MODES.items():
            s = base.model_copy(update=cfg)
            modes[name] = (s, Encoders(s, text=text, clip=clip, ocr=OcrReader(s)), draft,
                           share)
            warm = s.model_copy(update={"data_dir": Path(tmp) / f"warm-{name}"})
            _index(warm, modes[name][1], warm_root, draft, share)  # load models, warm up
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in MODES}
        found: dict[str, dict[int, list[int]]] = {}
        names = list(MODES)
        for rep in range(repeats):
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                s, encoders, draft, share = modes[name]
                data = Path(tmp) / f"data-{name}-{rep}"
                s = s.model_copy(update={"data_dir": data})
                runs[name].append(_index(s, encoders, root, draft, share))
                if rep == 0:
                    texts = ocr_text(data)
                    per = found.setdefault(name, {})
                    for file, (px, words) in truth.items():
                        got = texts.get(file, "")
                        row = per.setdefault(px, [0, 0])
                        row[0] += sum(w in got for w in words)
                        row[1] += len(words)
    return {"runs": runs, "found": found, "n": n, "n_text": len(truth), "size": size,
            "font_sizes": font_sizes}


def print_table(r: dict[str, Any]) -> None:
    """Markdown: images/s per mode (median of runs) and words found per letter size."""
    n, size = r["n"], r["size"]
    print(f"{n} photo-like JPEGs {size[0]}x{size[1]}, {r['n_text']} with text (3 lines at "
          f"{', '.join(map(str, r['font_sizes']))} px), indexed whole with OCR, CLIP and "
          f"MiniLM; median of {len(r['runs']['before'])} runs per mode, interleaved\n")
    print("| mode | wall s (median) | images/s | x before | CPU utilisation | "
          "CPU s per image | load average during runs |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    before = statistics.median(x["wall"] for x in r["runs"]["before"])
    for name, (_cfg, _draft, _share, label) in MODES.items():
        runs = r["runs"][name]
        wall = statistics.median(x["wall"] for x in runs)
        files = runs[0]["files"]
        loads = [x["load"] for x in runs]
        print(f"| {label} | {wall:.1f} | {files / wall:.2f} | **{before / wall:.2f}x** | "
              f"{statistics.median(x['cpu_util'] for x in runs):.0%} | "
              f"{statistics.median(x['cpu'] for x in runs) / n:.2f} | "
              f"{min(loads):.1f}-{max(loads):.1f} |")
        if any(x["failed"] for x in runs) or files != n:
            print(f"|   ({name}: {files} of {n} indexed, {runs[0]['failed']} failed) |")
    print("\n| words found in the indexed OCR text | " + " | ".join(MODES) + " |")
    print("|---|" + "---:|" * len(MODES))
    sizes = sorted(r["found"]["before"])
    for px in sizes:
        print(f"| {px} px letters ({px / max(size):.1%} of the long side) | "
              + " | ".join(f"{r['found'][m][px][0]} / {r['found'][m][px][1]}" for m in MODES)
              + " |")
    total = {m: [sum(v[0] for v in r["found"][m].values()),
                 sum(v[1] for v in r["found"][m].values())] for m in MODES}
    print("| all | " + " | ".join(f"{a} / {b}" for a, b in total.values()) + " |")
