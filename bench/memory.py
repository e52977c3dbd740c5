"""Peak memory: the server over N parts in the chosen index, and an indexing run over images.

Both are measured on real ``xmodal`` processes (children of this script), as the kernel counts
them: ``VmHWM`` of the live server after warm-up and a burst of queries, and
``getrusage(RUSAGE_CHILDREN).ru_maxrss`` after ``xmodal index`` exits.

- Server: ``bench/dataset.py`` writes ``--server-parts`` parts (text and CLIP spaces, in the
  structure ``retrieval.store.plan`` picks for that size), then ``xmodal serve`` answers 50
  text queries. Models are loaded (MiniLM, ViT-B-32, Whisper only when a spoken query comes).
- Indexing: ``xmodal index`` over ``--images`` JPEGs (640x480) with every model the run uses
  (CLIP, OCR; MiniLM for any text found). Peak memory is set by batch sizes and models, not by
  the collection's size, so two sizes are run to show it stays flat. ``--no-ocr`` leaves OCR
  out (``XMODAL_OCR_ENABLED=false``), which is what makes 10,000 images an afternoon's run on
  two cores rather than hours.

    python -m bench.memory --server-parts 1000000 --images 100 300
    python -m bench.memory --server-parts --images 10000 --no-ocr
    XMODAL_MMAP_INDEXES=true python -m bench.memory --server-parts 1000000 --images
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import corpus, dataset
from bench.server_load import free_port, proc_status_mb, start_server


def server_peak(parts: int, threads: int) -> tuple[float, float, str]:
    """(peak RSS MB, seconds to build the data dir, notes) for a server over ``parts``.

    The notes give the index kinds and, after the queries, how much of the resident memory
    is the process's own (``RssAnon``) and how much is file pages (``RssFile``: a mapped
    index with ``XMODAL_MMAP_INDEXES=true``, which the kernel can drop and share).
    """
    data_dir = corpus.CACHE / f"data-{parts}"
    t = time.perf_counter()
    dataset.build(data_dir, parts, clip_name=dataset.clip_space_name(dataset.clip_checkpoint()))
    built = time.perf_counter() - t
    port = free_port()
    server = start_server(data_dir, port, threads)
    try:
        _b, _q, texts = corpus.load()
        for text in texts[-50:]:
            httpx.get(f"http://127.0.0.1:{port}/api/search",
                      params={"q": corpus.query_text(text)}, timeout=120).raise_for_status()
        stats = httpx.get(f"http://127.0.0.1:{port}/api/stats", timeout=60).json()
        status = proc_status_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    kinds = ", ".join(f"{name} {space.get('index')}"
                      for name, space in stats.get("spaces", {}).items())
    mapped = os.environ.get("XMODAL_MMAP_INDEXES", "false")
    notes = (f"{kinds}; after the queries {status['RssAnon']:.0f} MB own + "
             f"{status['RssFile']:.0f} MB file pages; XMODAL_MMAP_INDEXES={mapped}")
    return status["VmHWM"], built, notes


def index_peak(n_images: int, ocr: bool) -> tuple[float, float]:
    """(peak RSS MB of ``xmodal index``, wall seconds) over ``n_images`` fresh JPEGs."""
    from bench.indexing import make_folder

    with tempfile.TemporaryDirectory(prefix="xmodal-mem-") as tmp:
        root = Path(tmp) / "photos"
        make_folder(root, n_images, 0)
        env = dict(os.environ, XMODAL_CLIP_CHECKPOINT=str(dataset.clip_checkpoint()),
                   XMODAL_DEVICE="cpu", XMODAL_OCR_ENABLED=str(ocr).lower())
        exe = Path(sys.executable).with_name("xmodal")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t = time.perf_counter()
        subprocess.run([str(exe), "--data", str(Path(tmp) / "data"), "index", str(root)],
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:  # ru_maxrss is a maximum over all children so far
        print(f"  (peak not above an earlier child's {before / 1024:.0f} MB)")
    return peak / 1024, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-parts", type=int, nargs="*", default=[100_000])
    parser.add_argument("--images", type=int, nargs="*", default=[100, 300])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--no-ocr", action="store_true", help="index images without OCR")
    args = parser.parse_args()
    print("| process | size | peak RSS MB | notes |")
    print("|---|---:|---:|---|")
    for n in sorted(args.images):
        rss, wall = index_peak(n, ocr=not args.no_ocr)
        ocr = "off" if args.no_ocr else "on"
        print(f"| `xmodal index` | {n} images | {rss:.0f} | {wall:.0f} s, OCR {ocr} |",
              flush=True)
    for parts in args.server_parts:
        rss, built, notes = server_peak(parts, args.threads)
        print(f"| `xmodal serve` | {parts:,} parts (x2 spaces) | {rss:.0f} | "
              f"{notes}; data dir built in {built:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
