"""Query runtimes side by side in one run: torch against ONNX Runtime, interleaved query by query.

Used by ``bench/query_latency.py --runtimes torch onnx``. Each runtime gets its own
``QueryEncoder`` over the same warm models and the same engine; every query runs under each
runtime in turn (the order alternating), so both see the same machine load, and the table
gives medians and the median of per-query ratios. Encoder rows time one query's words
through each model alone, on the calling thread with one compute thread, as the engine's
encoder threads run them.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.vector_index import timed_section


def compare(engine: Any, queries: list[str], runtimes: list[str]) -> dict[str, dict[str, Any]]:
    """runtime -> {"total": ms per query, "text": ms, "clip": ms, "kind": what ran}.

    A runtime is ``torch``, ``onnx`` or ``auto``, optionally with the query encoders in int8
    (``onnx/text``, ``onnx/none``: ``XMODAL_QUERY_INT8``) or a precision other than the
    engine's for its own copy of the models: ``torch:bf16``.
    """
    from retrieval.encoders.onnx import query_encode
    from retrieval.results import Query
    from retrieval.search.query_encoding import QUERY_VECTOR_CACHE, QueryEncoder
    from retrieval.search.workers import Recent

    shipped = engine.queries
    per: dict[str, dict[str, Any]] = {}
    for rt in runtimes:
        runtime, _, precision = rt.partition(":")
        runtime, _, int8 = runtime.partition("/")
        settings = engine.settings.model_copy(update={
            "query_runtime": runtime, "query_int8": int8 or engine.settings.query_int8})
        encoders = engine.encoders if not precision else with_precision(engine, precision)
        models = {space: query_encode(space, m, settings)
                  for space, m in (("text", encoders.text), ("clip", encoders.clip))
                  if m is not None}
        qe = QueryEncoder(settings, lambda e=encoders: e)
        per[rt] = {"queries": qe, "models": models, "total": [], "text": [], "clip": []}
        engine.queries = qe
        for q in queries[:5]:  # warm: exports or opens the ONNX files, fills caches
            engine.search(Query(text=q))
            for encode in models.values():
                encode([q])
        per[rt]["kind"] = {s: getattr(f, "runtime", f"torch {encoders.text.precision}")
                           for s, f in models.items()}
    with timed_section():
        for i, q in enumerate(queries):
            order = runtimes if i % 2 == 0 else runtimes[::-1]
            for rt in order:
                r = per[rt]
                engine.queries = r["queries"]
                r["queries"]._vectors = Recent(QUERY_VECTOR_CACHE)  # encode afresh
                t = time.perf_counter()
                engine.search(Query(text=q, limit=20)).model_dump_json()
                r["total"].append((time.perf_counter() - t) * 1000)
                for space, encode in r["models"].items():
                    t = time.perf_counter()
                    encode([q])
                    r[space].append((time.perf_counter() - t) * 1000)
    engine.queries = shipped
    for r in per.values():
        r["queries"].close()
        for key in ("total", "text", "clip"):
            r[key] = np.asarray(r[key])
    return per


def with_precision(engine: Any, precision: str) -> Any:
    """A second set of the engine's query models, loaded in another float format."""
    from retrieval.encoders import ClipEncoder, Encoders, TextEncoder

    settings = engine.settings.model_copy(update={"precision": precision})
    text, clip = TextEncoder(settings), ClipEncoder(settings)
    text.load()
    clip.load()
    return Encoders(settings, text=text, clip=clip)


def print_table(per: dict[str, dict[str, Any]]) -> None:
    """Markdown: end-to-end and per-encoder p50/p95, and ratios to the first runtime."""
    first = next(iter(per))
    base = per[first]
    print("| query runtime | what ran (MiniLM / CLIP text) | end-to-end p50 ms | p95 ms | "
          "MiniLM p50 ms | CLIP text p50 ms | median per-query ratio to "
          f"{first} (end-to-end / MiniLM / CLIP) |")
    print("|---|---|---:|---:|---:|---:|---:|")

    def p(a: np.ndarray, q: float) -> str:
        return f"{np.percentile(a, q):.1f}" if len(a) else "–"

    def ratio(key: str, r: dict[str, Any]) -> str:
        a, b = r[key], base[key]
        return f"{np.median(a / b):.2f}x" if len(a) and len(a) == len(b) else "–"

    for rt, r in per.items():
        kind = " / ".join(r["kind"].get(s, "–") for s in ("text", "clip"))
        print(f"| {rt} | {kind} | {p(r['total'], 50)} | {p(r['total'], 95)} | "
              f"{p(r['text'], 50)} | {p(r['clip'], 50)} | "
              f"{ratio('total', r)} / {ratio('text', r)} / {ratio('clip', r)} |")
