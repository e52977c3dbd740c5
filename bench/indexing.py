"""Indexing throughput: sequential versus pipelined (decode in threads while encoding).

Indexes the same folder twice into fresh data directories, in-process with one set of warm
models (real MiniLM, random-weight ViT-B-32 from a checkpoint, rapidocr): once through the
product's pipeline as shipped (``retrieval.ingest.ingestor.index_files``: decoding in
``decode_workers`` threads overlaps encoding and committing), once with the thread pool
replaced by an executor that runs each decode inline (the sequential baseline: decode, then
encode, one thing at a time). Reports files/s and the process's CPU utilisation
(CPU seconds / (wall seconds × cores)).

The folder: ``--images`` 640x480 JPEGs (gradients and noise, so OCR finds no text but still
runs its detector) and ``--docs`` Markdown files of real text from ``bench.corpus``.

``--photos N`` instead indexes N generated photos whole, OCR and CLIP on, through today's
path and the shipped one (``bench/photo_indexing.py``). ``--ocr-precheck N`` times the OCR
stage alone with and without the text-presence pre-check over N generated photos, a third
of them with text (``bench/ocr_precheck.py``).

    python -m bench.indexing --images 48 --docs 12
    python -m bench.indexing --ocr-precheck 36 --photo-size 1600 1200
    python -m bench.indexing --photos 36 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import psutil

from bench import corpus, dataset
from bench.machine import describe


class InlineExecutor:
    """A stand-in for ThreadPoolExecutor that runs each task at submit time (no overlap)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # the pipeline reads it from the future, as with threads
            fut.set_exception(exc)
        return fut

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def make_folder(root: Path, n_images: int, n_docs: int) -> None:
    """Write the images and documents to index."""
    from bench.encoders import iter_images

    root.mkdir(parents=True, exist_ok=True)
    for i, blob in enumerate(iter_images(n_images)):
        (root / f"photo_{i:05d}.jpg").write_bytes(blob)
    _b, _q, texts = corpus.load()
    per_doc = 12
    for d in range(n_docs):
        body = "\n\n".join(texts[(d * per_doc + j) % len(texts)] for j in range(per_doc))
        (root / f"note_{d:04d}.md").write_text(f"# Note {d}\n\n{body}\n")


def run(settings: Any, encoders: Any, root: Path, sequential: bool) -> dict[str, float]:
    """Index ``root`` once, pipelined or (``sequential``) one file after another."""
    import retrieval.ingest.ingestor as ingest_mod

    original = ingest_mod.ThreadPoolExecutor
    if sequential:
        ingest_mod.ThreadPoolExecutor = InlineExecutor  # type: ignore[misc,assignment]
    try:
        return timed_index(settings, encoders, root)
    finally:
        ingest_mod.ThreadPoolExecutor = original  # type: ignore[misc]


def timed_index(settings: Any, encoders: Any, root: Path) -> dict[str, float]:
    """One whole ``run_index`` of ``root``: wall and CPU seconds, CPU utilisation, counts."""
    from indexer.pipeline import run_index

    proc = psutil.Process()
    cpu0 = proc.cpu_times()
    t = time.perf_counter()
    result = run_index(settings, [root], encoders=encoders, progress=False)
    wall = time.perf_counter() - t
    cpu1 = proc.cpu_times()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    for failure in result.failures[:3]:
        print(f"  failed: {failure.path}: {failure.reason}")
    return {"wall": wall, "files": result.added + result.updated, "failed": result.failed,
            "cpu": cpu, "cpu_util": cpu / (wall * (os.cpu_count() or 1)),
            "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--docs", type=int, default=24)
    parser.add_argument("--no-ocr", action="store_true")
    parser.add_argument("--ocr-precheck", type=int, metavar="N",
                        help="compare the OCR stage with and without the text-presence "
                             "pre-check on N generated photos (and nothing else)")
    parser.add_argument("--photos", type=int, metavar="N",
                        help="index N generated photos (a third with text) whole, OCR and "
                             "CLIP on: today's path against the shipped one (and nothing else)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per mode for --photos")
    parser.add_argument("--photo-size", type=int, nargs=2, default=(1600, 1200))
    parser.add_argument("--text-every", type=int, default=3,
                        help="every k-th generated photo carries text")
    parser.add_argument("--font-sizes", type=int, nargs="+", default=None,
                        help="letter sizes (px) of the generated photos' text, in turn")
    args = parser.parse_args()
    if args.photos:
        from bench import photo_indexing

        sizes = tuple(args.font_sizes or photo_indexing.FONT_SIZES)
        result = photo_indexing.run(args.photos, tuple(args.photo_size), args.text_every,
                                    args.repeats, sizes)
        print(f"\n## Indexing photos end to end, OCR and CLIP on\n{describe()}\n")
        photo_indexing.print_table(result)
        return
    if args.ocr_precheck:
        from bench import ocr_precheck

        size = tuple(args.photo_size)
        sizes = tuple(args.font_sizes or ocr_precheck.FONT_SIZES)
        result = ocr_precheck.run(args.ocr_precheck, size, args.text_every, sizes)
        print(f"\n## OCR stage with and without the text-presence pre-check\n{describe()}\n")
        ocr_precheck.print_table(result, size, sizes)
        return
    from retrieval.config import Settings
    from retrieval.encoders import Encoders

    with tempfile.TemporaryDirectory(prefix="xmodal-bench-") as tmp:
        root = Path(tmp) / "media"
        make_folder(root, args.images, args.docs)
        settings = Settings(XMODAL_DATA=Path(tmp) / "warm", device="cpu",
                            clip_checkpoint=dataset.clip_checkpoint(),
                            ocr_enabled=not args.no_ocr)
        encoders = Encoders(settings)
        warm = Path(tmp) / "warm-media"
        make_folder(warm, 4, 2)
        from indexer.pipeline import run_index

        run_index(settings, [warm], encoders=encoders, progress=False)  # load every model
        rows = {}
        for mode in ("sequential", "pipelined"):
            s = settings.model_copy(update={"data_dir": Path(tmp) / f"data-{mode}"})
            rows[mode] = run(s, encoders, root, sequential=mode == "sequential")
    n = args.images + args.docs
    print(f"\n## Indexing {args.images} images + {args.docs} documents ({n} files), "
          f"{os.cpu_count()} cores, decode_workers={settings.decode_workers}, "
          f"OCR {'off' if args.no_ocr else 'on'}\n{describe()}\n")
    print("| mode | wall s | files/s | images+docs indexed | failed | CPU utilisation |")
    print("|---|---:|---:|---:|---:|---:|")
    for mode, r in rows.items():
        print(f"| {mode} | {r['wall']:.1f} | {r['files'] / r['wall']:.2f} | {r['files']:.0f} | "
              f"{r['failed']:.0f} | {r['cpu_util']:.0%} |")
    speedup = rows["sequential"]["wall"] / rows["pipelined"]["wall"]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npipelined is {speedup:.2f}x the throughput of sequential; "
          f"peak RSS of this process {rss:.0f} MB")


if __name__ == "__main__":
    main()
