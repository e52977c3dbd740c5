"""End-to-end text query latency over N indexed parts, with each stage's share.

A text query goes: its words to MiniLM and the CLIP text tower at once (each encoder on a
thread of its own) → FTS5 keywords meanwhile → FAISS in each vector space as its vector
arrives → catalog lookups → fusion → response → JSON. This builds a data directory of
``--parts`` parts (``bench/dataset.py``), opens ``Engine`` with warm models (real MiniLM; a
random-weight ViT-B-32 for the CLIP text tower, same cost as the real one), runs real,
distinct query texts, and times each stage by wrapping the functions the engine calls. Stage
times are exclusive (a stage's time excludes stages nested inside it); stages on the encoder
threads overlap the calling thread's and are marked so. ``--baselines`` times the same
queries through the engine as it was, one change undone at a time, in the same run.
``--runtimes torch onnx`` runs every query under each query runtime in turn, interleaved
(``bench/runtimes.py``), and prints their medians and per-query ratios.

    python -m bench.query_latency --parts 100000 --queries 200 --baselines
    python -m bench.query_latency --parts 20000 --queries 100 --runtimes torch onnx
"""

from __future__ import annotations

import argparse
import functools
import gc
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from bench import corpus, dataset
from bench.machine import describe
from bench.vector_index import timed_section

PARALLEL = " (encoder thread)"
ONNX_NAMES = {"text": "MiniLM (ONNX Runtime)", "clip": "CLIP text (ONNX Runtime)"}


class StageTimer:
    """Exclusive wall time per stage, for nested calls, on any thread.

    A stage timed off the main thread is reported with ``PARALLEL`` appended: it ran
    concurrently with the main thread's stages, so it is not a share of the total.
    """

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._local = threading.local()
        self._lock = threading.Lock()

    def wrap(self, stage: str | Callable[..., str], fn: Callable[..., Any]
             ) -> Callable[..., Any]:
        """``fn`` timed as ``stage`` (or as ``stage(*args)``, a name from its arguments)."""

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack = self._local.__dict__.setdefault("stack", [])
            stack.append([0.0])
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.perf_counter() - t
                children = stack.pop()[0]
                name = stage if isinstance(stage, str) else stage(*args)
                if threading.current_thread() is not threading.main_thread():
                    name += PARALLEL
                with self._lock:
                    self.totals[name] += spent - children
                if stack:
                    stack[-1][0] += spent

        return timed

    def patch(self, owner: object, name: str, stage: str | Callable[..., str]) -> None:
        """Replace ``owner.name`` by its timed version (an object, a class or a module)."""
        setattr(owner, name, self.wrap(stage, getattr(owner, name)))

    def take(self) -> dict[str, float]:
        out, self.totals = dict(self.totals), defaultdict(float)
        return out


def make_engine(data_dir: Path, threads: int, precision: str = "auto") -> tuple[Any, Any]:
    """(engine, settings) with warm real MiniLM and a random-weight ViT-B-32 CLIP."""
    import torch

    torch.set_num_threads(threads)
    from retrieval.config import Settings
    from retrieval.encoders import Encoders
    from retrieval.encoders.clip import ClipEncoder
    from retrieval.encoders.text import TextEncoder
    from retrieval.engine import Engine

    ckpt = dataset.clip_checkpoint()
    settings = Settings(XMODAL_DATA=data_dir, clip_checkpoint=ckpt, device="cpu",
                        precision=precision)
    text = TextEncoder(settings)
    clip = ClipEncoder(settings)
    encoders = Encoders(settings, text=text, clip=clip)
    engine = Engine(settings, encoders)
    return engine, settings


def instrument(engine: Any, timer: StageTimer) -> list[str]:
    """Wrap the calls a text search makes, so each stage's exclusive time is recorded.

    The engine's internals move; a target that is not there is skipped and reported.
    """
    import retrieval.engine as engine_mod
    import retrieval.search.page as page_mod
    import retrieval.search.vector_hits as hits_mod
    import retrieval.store.faiss_index as vectors_mod
    from retrieval.encoders.onnx import OnnxQueryModel

    enc = engine.encoders
    targets = [
        (enc.text, "encode", "encode: MiniLM (torch)"),
        (enc.clip, "encode_texts", "encode: CLIP text (torch)"),
        (OnnxQueryModel, "_feeds", lambda m, *_: f"encode: {ONNX_NAMES[m.space]}, tokenize"),
        (OnnxQueryModel, "_run", lambda m, *_: f"encode: {ONNX_NAMES[m.space]}, model"),
        (engine_mod, "parse_query", "query syntax, filters"),
        (engine, "_space_ok", "catalog: space models"),
        (engine, "_has_vectors", "vector index: reload check"),
        (vectors_mod.VectorIndex, "search", "FAISS search"),
        (hits_mod, "part_items", "catalog: part → item"),
        (engine_mod, "keyword_hits", "keywords: FTS5"),
        (engine_mod, "item_paths", "catalog: paths, while CLIP runs"),
        (engine_mod, "fuse", "fusion"),
        (engine.duplicates, "group_of", "near-duplicate groups"),
        (page_mod, "item_paths", "catalog: paths"),
        (engine.catalog, "parts_for", "catalog: page's parts"),
        (page_mod, "display_meta", "catalog: page's metadata"),
        (engine_mod, "dress_page", "response (rest of dressing)"),
    ]
    engine.queries.close()  # encoder threads made from now on use the wrappers
    missing = []
    for owner, name, stage in targets:
        if hasattr(owner, name):
            timer.patch(owner, name, stage)
        else:
            missing.append(f"{getattr(owner, '__name__', type(owner).__name__)}.{name}")
    return missing


class InlineEncode:
    """Stands in for an engine's ``EncodeQueue``: encodes on the calling thread, at once."""

    def __init__(self, encode: Callable[[list[str]], Any]) -> None:
        self._encode = encode

    def submit(self, text: str) -> Future[Any]:
        done: Future[Any] = Future()
        done.set_result(self._encode([text])[0])
        return done

    def close(self) -> None:
        pass


def in_turn(engine: Any) -> None:
    """Make ``engine`` encode a query's words with MiniLM, then CLIP, on the calling thread."""
    engine.queries._queues = {"text": InlineEncode(engine.encoders.text.encode),
                              "clip": InlineEncode(engine.encoders.clip.encode_texts)}


def padded_clip_text(model: Any, tokens: Any) -> Any:
    """open_clip's own ``encode_text``: every query padded to 77 tokens (the old path)."""
    return model.encode_text(tokens)


def timed_queries(engine: Any, queries: list[str], timer: StageTimer
                  ) -> tuple[np.ndarray, dict[str, list[float]]]:
    """(total ms per query, stage → ms per query), from a cold query-vector cache."""
    from retrieval.results import Query
    from retrieval.search.query_encoding import QUERY_VECTOR_CACHE
    from retrieval.search.workers import Recent

    engine.queries._vectors = Recent(QUERY_VECTOR_CACHE)  # every configuration encodes afresh
    totals, stages = [], defaultdict(list)
    json_stage = timer.wrap("JSON", lambda r: r.model_dump_json())
    timer.take()
    with timed_section():  # this thread at normal priority while timing (see vector_index)
        for q in queries:
            t = time.perf_counter()
            response = engine.search(Query(text=q, limit=20))
            json_stage(response)
            totals.append((time.perf_counter() - t) * 1000)
            for stage, secs in timer.take().items():
                stages[stage].append(secs * 1000)
    return np.asarray(totals), stages


def print_stages(total: np.ndarray, stages: dict[str, list[float]]) -> None:
    print("| stage | mean ms | p50 ms | p95 ms | share of mean |")
    print("|---|---:|---:|---:|---:|")
    accounted = np.zeros(len(total))
    for stage, vals in sorted(stages.items(), key=lambda kv: -np.mean(kv[1])):
        arr = np.asarray(vals + [0.0] * (len(total) - len(vals)))
        parallel = stage.endswith(PARALLEL)
        if not parallel:
            accounted += arr
        share = "(concurrent)" if parallel else f"{arr.mean() / total.mean():.0%}"
        print(f"| {stage} | {arr.mean():.2f} | {np.percentile(arr, 50):.2f} | "
              f"{np.percentile(arr, 95):.2f} | {share} |")
    other = total - accounted
    print(f"| waiting for the encoder threads, engine glue | {other.mean():.2f} | "
          f"{np.percentile(other, 50):.2f} | {np.percentile(other, 95):.2f} | "
          f"{other.mean() / total.mean():.0%} |")
    print(f"| **total** | {total.mean():.2f} | {np.percentile(total, 50):.2f} | "
          f"{np.percentile(total, 95):.2f} | 100% |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per encoder call")
    parser.add_argument("--data", type=Path, default=corpus.CACHE / "data-{parts}")
    parser.add_argument("--precision", default="auto",
                        help="encoder weights (XMODAL_PRECISION): fp32 stands in for an AVX2 CPU")
    parser.add_argument("--baselines", action="store_true",
                        help="also time the old engine step by step: every keyword "
                             "matched (no common-word cutoff), then encoders in turn, then "
                             "fp32 encoders, then CLIP padded to 77 tokens")
    parser.add_argument("--runtimes", nargs="+",
                        help="compare these query runtimes interleaved in one run: torch, "
                             "onnx, auto (XMODAL_QUERY_RUNTIME), onnx/none or onnx/text for "
                             "the int8 encoders (XMODAL_QUERY_INT8), torch:bf16 for torch in "
                             "bfloat16; the first is the ratios' base")
    args = parser.parse_args()
    data_dir = Path(str(args.data).format(parts=args.parts))
    built = dataset.build(data_dir, args.parts, clip_name=dataset.clip_space_name(
        dataset.clip_checkpoint()))
    print(f"data dir {data_dir}: {built}")
    # ONNX exports fp32 weights: compare runtimes at the same precision
    engine, _settings = make_engine(data_dir, args.threads,
                                    precision="fp32" if args.runtimes else args.precision)
    import retrieval.encoders.clip as clip_mod
    from retrieval.results import Query
    from retrieval.search import keywords

    _b, _q, texts = corpus.load()
    queries = list(dict.fromkeys(corpus.query_text(t) for t in texts[-args.queries:]))
    t = time.perf_counter()
    engine.search(Query(text="warm up the models and indexes"))
    print(f"first query (loads models and indexes): {time.perf_counter() - t:.1f}s")
    for q in queries[:10]:
        engine.search(Query(text=q))
    gc.freeze()  # as `xmodal serve` does once warm (web/readiness.py)
    if args.runtimes:
        from bench import runtimes

        per = runtimes.compare(engine, queries, args.runtimes)
        print(f"\n## Query runtimes, {args.parts:,} parts, {len(queries)} distinct queries, "
              f"interleaved\n{describe()}\n")
        runtimes.print_table(per)
        engine.close()
        return
    timer = StageTimer()
    missing = instrument(engine, timer)
    shipped = f"as shipped ({engine.encoders.text.precision}, encoders side by side)"
    runs = {shipped: timed_queries(engine, queries, timer)}
    if args.baselines:
        keywords.COMMON_MIN_PARTS = sys.maxsize  # no word is common: every word matched
        runs["common words matched"] = timed_queries(engine, queries, timer)
        in_turn(engine)
        runs["encoders in turn"] = timed_queries(engine, queries, timer)
        name = "encoders in turn"
        if engine.encoders.text.precision != "fp32":  # else the run above is the fp32 one
            engine.close()
            engine, _settings = make_engine(data_dir, args.threads, precision="fp32")
            engine.search(Query(text="warm up the models and indexes"))
            instrument(engine, timer)
            in_turn(engine)  # after instrument, which drops the engine's encoder queues
            name = "encoders in turn, fp32"
            runs[name] = timed_queries(engine, queries, timer)
        clip_mod.encode_text_trimmed = padded_clip_text
        runs[f"{name}, CLIP padded to 77 tokens"] = timed_queries(engine, queries, timer)
    print(f"\n## End-to-end text query, {args.parts:,} parts, {len(queries)} distinct queries, "
          f"{args.threads} torch threads\n{describe()}\n")
    first = np.percentile(next(iter(runs.values()))[0], 50)
    print("| engine | p50 ms | p95 ms | mean ms | p50 vs as shipped |")
    print("|---|---:|---:|---:|---:|")
    for name, (total, _stages) in runs.items():
        p50 = np.percentile(total, 50)
        print(f"| {name} | {p50:.1f} | {np.percentile(total, 95):.1f} | {total.mean():.1f} | "
              f"{p50 / first:.2f}x |")
    for name, (total, stages) in runs.items():
        print(f"\n### Stages, {name}\n")
        print_stages(total, stages)
    if missing:
        print(f"\n(not instrumented, absent in this engine: {', '.join(missing)})")
    for space in ("text", "clip"):
        idx = engine._index(space)
        if idx is not None:
            print(f"\n{space} index: {idx.ntotal:,} vectors, kind {idx.kind}")
    engine.close()


if __name__ == "__main__":
    main()
