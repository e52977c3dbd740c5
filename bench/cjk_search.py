"""MRR@10 of Chinese (and mixed-language) queries per kind of item: fused, keywords, text space.

    PYTHONPATH=. python -m bench.cjk_search [--out DIR]

Builds the collection of ``tests/cjk_corpus.py`` under ``--out`` (a temporary folder if not
given): 43 documents in Chinese, Japanese, Korean and English under names in their own script,
9 pictures of Chinese and English text rendered in WenQuanYi Zen Hei (read by PP-OCRv4),
7 recordings (5 in espeak-ng Mandarin, 2 in English), and indexes it with the offline models
(MiniLM, Whisper tiny.en + base, PP-OCR; no CLIP weights exist offline, so no CLIP space).
Each query has one relevant item; it is searched in the whole mixed collection three ways:
``fused`` (text space + keywords, reciprocal rank fusion, the product's default), ``keyword``
(weights text=0) and ``text`` (weights keyword=0). Rows: kind of the relevant item and the
query's script (CJK or English). Also times transcription of the English recordings with
language detection (tiny.en after base detects) against tiny.en alone.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bench.machine import describe  # noqa: E402
from retrieval.catalog.fts_text import has_cjk  # noqa: E402
from retrieval.config import Settings  # noqa: E402
from retrieval.evaluation import mrr_at_k  # noqa: E402
from retrieval.results import Query  # noqa: E402
from tests.cjk_corpus import IMAGES, MEDIA_QUERIES, QUERIES, SPEECH  # noqa: E402
from tests.fixtures_cjk import build_cjk, doc_name  # noqa: E402

MODES = {"fused": None, "keyword": {"text": 0.0, "clip": 0.0},
         "text": {"keyword": 0.0, "clip": 0.0}}


def labelled_queries() -> list[tuple[str, str, str]]:
    """(query, relevant file name, row label) for every query of the collection."""
    out = [(q, doc_name(key), "text") for q, key in QUERIES]
    out += [(q, name, "image" if name.endswith(".png") else "audio") for q, name in MEDIA_QUERIES]
    return out


def speech_overhead(settings: Settings, files: list[Path]) -> tuple[float, float]:
    """Seconds to transcribe ``files`` with detection (tiny.en + base) and with tiny.en alone."""
    from retrieval.encoders import SpeechTranscriber

    timed = []
    for multilingual in ("base", ""):
        s = settings.model_copy(update={"whisper_multilingual_model": multilingual})
        enc = SpeechTranscriber(s)
        enc.load()
        if enc.multilingual() is not None:
            enc.multilingual().load()
        t0 = time.perf_counter()
        for f in files:
            enc.transcribe(f)
        timed.append(time.perf_counter() - t0)
    return timed[0], timed[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="where the collection and data dir go (kept)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="xmodal-cjk-"))
    root, data = out / "collection", out / "data"
    from indexer.pipeline import run_index
    from retrieval.encoders import Encoders
    from retrieval.engine import Engine

    settings = Settings(XMODAL_DATA=data, device="cpu")
    if not root.exists():
        build_cjk(root, tuple(IMAGES), tuple(SPEECH))
    encoders = Encoders(settings)
    t0 = time.perf_counter()
    report = run_index(settings, [root], encoders=encoders, progress=False)
    print(describe())
    print(f"indexed {report.added} new items ({report.unchanged} unchanged, {report.failed} "
          f"failed) in {time.perf_counter() - t0:.0f} s; collection under {out}\n")
    scores: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    engine = Engine(settings, encoders=encoders)
    try:
        for q, relevant, kind in labelled_queries():
            script = "CJK" if has_cjk(q) else "English"
            for mode, weights in MODES.items():
                found = engine.search(Query(text=q, weights=weights, limit=10)).results
                names = [Path(r.path).name for r in found]
                for row in ((kind, script), ("all", script), ("all", "all")):
                    scores[(*row, mode)].append(mrr_at_k(names, {relevant}, 10))
    finally:
        engine.close()
    print(f"{'relevant kind':<14} {'queries':<8} {'n':>3} " + " ".join(f"{m:>8}" for m in MODES))
    for kind in ("text", "image", "audio", "all"):
        for script in ("CJK", "English", "all"):
            got = scores.get((kind, script, "fused"))
            if not got:
                continue
            cells = " ".join(f"{sum(scores[(kind, script, m)]) / len(got):8.3f}" for m in MODES)
            print(f"{kind:<14} {script:<8} {len(got):>3} {cells}")
    english = sorted((root / "speech").glob("*.wav"))
    english = [p for p in english if not has_cjk(p.name)]
    with_detect, alone = speech_overhead(settings, english)
    print(f"\nEnglish recordings ({len(english)}): tiny.en after base's language detection "
          f"{with_detect:.1f} s, tiny.en alone {alone:.1f} s ({with_detect / alone:.2f}x)")


if __name__ == "__main__":
    main()
