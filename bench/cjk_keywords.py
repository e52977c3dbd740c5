"""Which keyword tokenisation finds Chinese and Japanese words inside running text? Prints a table.

    PYTHONPATH=. python -m bench.cjk_keywords [--repeat 20]

Each option indexes the hand-written collection of ``tests/cjk_corpus.py`` (Chinese, Japanese,
Korean and English documents, codes such as ``INV-4471`` beside Han characters) in an in-memory
SQLite FTS5 table and answers its queries with the same minimum-should-match counting the
product uses (``Catalog.keyword_search``). Options:

- ``unicode61``: the catalog's tokenizer before CJK support; a run of Han is one token.
- ``trigram``: FTS5's trigram tokenizer (substring search; a two-character word cannot match).
- ``jieba`` / ``jieba search``: words from the jieba segmenter (precise / search mode) at index
  and query time.
- ``per-char, any order``: one token per character, the query a bag of its characters.
- ``per-char ...``: what the product does (``retrieval.catalog.fts_text`` +
  ``retrieval.search.keywords.keyword_clauses``): one token per CJK character; a query run up to
  E characters is one exact phrase, a longer one its bigrams of which a share S must match.

MRR@10 and hits@1 over all queries; ``load`` is the one-off start cost (jieba's dictionary),
``index`` the time to fill the table, ``query`` the mean per query over ``--repeat`` passes.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.machine import describe
from retrieval.catalog.fts_text import fts_text
from retrieval.evaluation import mrr_at_k
from retrieval.search.keywords import STOPWORDS, fold, keyword_clauses, needed
from tests.cjk_corpus import DOCS, QUERIES

Clauses = tuple[list[str], int]


@dataclass
class Option:
    name: str
    tokenizer: str
    index_text: Callable[[str], str]
    query: Callable[[str], Clauses]
    load: Callable[[], None] = lambda: None


def _quoted(words: list[str]) -> Clauses:
    """Each word a quoted FTS5 string; the product's minimum-should-match over words."""
    words = list(dict.fromkeys(fold(w) for w in words if any(c.isalnum() for c in w)))
    kept = [w for w in words if w not in STOPWORDS] or words
    return ['"' + w.replace('"', '""') + '"' for w in kept], needed(len(kept))


def _plain_words(text: str) -> list[str]:
    return "".join(c if c.isalnum() or c in "-_" else " " for c in text).split()


def _jieba_options() -> list[Option]:
    try:
        import jieba
    except ImportError:
        print("jieba is not installed (pip install jieba): its rows are left out")
        return []
    jieba.setLogLevel(60)

    def precise(text: str) -> list[str]:
        return [w for w in jieba.cut(text) if w.strip()]

    def search_mode(text: str) -> list[str]:
        return [w for w in jieba.cut_for_search(text) if w.strip()]

    return [
        Option("jieba", "unicode61 tokenchars '-_'", lambda t: " ".join(precise(t)),
               lambda q: _quoted(precise(q)), jieba.initialize),
        Option("jieba search", "unicode61 tokenchars '-_'", lambda t: " ".join(search_mode(t)),
               lambda q: _quoted(search_mode(q)), lambda: None),
    ]


def options() -> list[Option]:
    """Every option measured, the product's own (per-char E<=3, S=0.5) among them."""
    out = [
        Option("unicode61 (before)", "unicode61 tokenchars '-_'", lambda t: t,
               lambda q: _quoted(_plain_words(q))),
        Option("trigram", "trigram", lambda t: t, lambda q: _quoted(_plain_words(q))),
        *_jieba_options(),
    ]
    out.append(Option(
        "per-char, any order", "unicode61 tokenchars '-_'", fts_text,
        lambda q: (lambda cs: (cs, len(cs)))(list(dict.fromkeys(
            f'"{c}"' for c in q if c.isalnum())))))
    for exact, share in ((2, 0.5), (3, 0.5), (3, 0.67), (3, 1.0), (99, 1.0)):
        label = "phrase only" if exact == 99 else f"E<={exact} S={share}"
        out.append(Option(
            f"per-char {label}", "unicode61 tokenchars '-_'", fts_text,
            lambda q, e=exact, s=share: keyword_clauses(q, e, s)))
    return out


def search(conn: sqlite3.Connection, clauses: Clauses, limit: int = 10) -> list[str]:
    each, need = clauses
    if not each:
        return []
    union = " UNION ALL ".join(["SELECT rowid FROM t WHERE t MATCH ?"] * len(each))
    rows = conn.execute(
        f"SELECT d.name FROM t JOIN docs d ON d.id = t.rowid WHERE t MATCH ? AND t.rowid IN "
        f"(SELECT rowid FROM ({union}) GROUP BY rowid HAVING COUNT(*) >= ?) "
        "ORDER BY bm25(t) LIMIT ?",
        [" OR ".join(each), *each, min(need, len(each)), limit]).fetchall()
    return [r[0] for r in rows]


def measure(option: Option, repeat: int) -> dict[str, float]:
    t0 = time.perf_counter()
    option.load()
    loaded = time.perf_counter() - t0
    conn = sqlite3.connect(":memory:")
    conn.execute(f'CREATE VIRTUAL TABLE t USING fts5(text, tokenize="{option.tokenizer}")')
    conn.execute("CREATE TABLE docs(id INTEGER PRIMARY KEY, name TEXT)")
    t0 = time.perf_counter()
    for i, (name, text) in enumerate(DOCS.items(), 1):
        conn.execute("INSERT INTO docs VALUES (?, ?)", (i, name))
        conn.execute("INSERT INTO t(rowid, text) VALUES (?, ?)", (i, option.index_text(text)))
    indexed = time.perf_counter() - t0
    ranked = [search(conn, option.query(q)) for q, _ in QUERIES]
    t0 = time.perf_counter()
    for _ in range(repeat):
        for q, _ in QUERIES:
            search(conn, option.query(q))
    per_query = (time.perf_counter() - t0) / (repeat * len(QUERIES))
    mrr = sum(mrr_at_k(r, {rel}, 10) for r, (_, rel) in zip(ranked, QUERIES, strict=True))
    top1 = sum(bool(r) and r[0] == rel for r, (_, rel) in zip(ranked, QUERIES, strict=True))
    missed = [q for r, (q, rel) in zip(ranked, QUERIES, strict=True) if rel not in r]
    return {"mrr": mrr / len(QUERIES), "top1": top1 / len(QUERIES), "load": loaded,
            "index": indexed, "query": per_query, "missed": missed}  # type: ignore[dict-item]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20, help="timing passes over the queries")
    ap.add_argument("--missed", action="store_true", help="list the queries each option missed")
    args = ap.parse_args()
    print(describe())
    print(f"{len(DOCS)} documents, {len(QUERIES)} queries (one relevant document each)\n")
    print(f"{'option':<24} {'MRR@10':>7} {'hit@1':>6} {'load s':>7} {'index ms':>9} "
          f"{'query ms':>9}  missed")
    for option in options():
        m = measure(option, args.repeat)
        missed = m["missed"]
        print(f"{option.name:<24} {m['mrr']:7.3f} {m['top1']:6.3f} {m['load']:7.2f} "
              f"{m['index'] * 1e3:9.1f} {m['query'] * 1e3:9.3f}  {len(missed)}"  # type: ignore[arg-type]
              + (f" {' '.join(missed)}" if args.missed else ""))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
