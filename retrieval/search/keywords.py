"""The keyword space: BM25 over names and part text, tuned to be a *precise* voice in fusion.

Keywords exist for what embeddings blur: names, codes such as ``INV-4471``, rare words. In
reciprocal rank fusion every space's first place is worth the same, so a keyword list that
"matches" a paraphrase through one incidental word ("rose" the verb finding "rose bushes")
would outvote the text space's correct answer. Three rules keep the keyword space honest and quick:

- **stopwords** are dropped from the query (unless nothing else is left): they match almost
  every text and carry no meaning;
- **minimum should match**: a part must contain at least half of the query's distinct content
  words (all of them for one- and two-word queries), like Elasticsearch's
  ``minimum_should_match``. A code query is one word, so it must match exactly that code.
  FTS5 itself counts which words a part contains (``Catalog.keyword_search``'s
  ``min_match``), so BM25 is computed only for parts that qualify;
- **common words** (in more than ``COMMON_SHARE`` of a large collection's parts) are left out
  of matching and scoring, like Elasticsearch's ``cutoff_frequency``: reading their posting
  lists was most of the slowest keyword searches (a query of font names and numbers over
  100k parts), and BM25 gives them little weight anyway. A query of common words alone keeps
  them all. ``docs/performance.md`` has the speed and quality measurements.

User words are always quoted into the FTS5 query (``fts_query``), so no input is FTS syntax.
The catalog's tokenizer is ``unicode61`` with ``-`` and ``_`` as word characters, so codes
survive as single tokens; ``fold`` mirrors its case and diacritic folding, so the stopword
list and the de-duplication of query words see what FTS5 sees.

Chinese and Japanese are written without spaces, and the catalog indexes each of their
characters as a token (``retrieval.catalog.fts_text``). A run of such characters in the query
becomes clauses by length (``cjk_clauses``): up to ``CJK_EXACT_CHARS`` characters it is one
phrase that must match exactly (a short word: ``预算``); a longer run, which may hold several
words, becomes its overlapping two-character phrases, of which ``CJK_BIGRAM_SHARE`` must match.
``bench/cjk_keywords.py`` chose this over trigram and jieba segmentation.
"""

from __future__ import annotations

import logging
import math
import threading
import unicodedata
from collections.abc import Collection

from retrieval.catalog.database import Catalog, ItemFilter, fts_query
from retrieval.catalog.fts_text import CJK_RUN, fts_phrase, has_cjk, normalise
from retrieval.search.fusion import Hit

log = logging.getLogger(__name__)

# Words that match nearly every English text: as BM25 terms they only add noise.
STOPWORDS = frozenset(
    """a about above after again all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself
    just me more most my no nor not now of off on once only or other our ours out over own
    same she should so some such than that the their theirs them then there these they this
    those through to too under until up very was we were what when where which while who whom
    why will with would you your yours""".split()
)
MIN_SHOULD_MATCH = 0.5
COVERAGE_DEPTH = 200  # keyword hits whose term coverage is counted; deeper ones get the minimum
SQL_VARIABLES = 30_000  # below SQLite's limit of 32766 bound values per statement
CJK_EXACT_CHARS = 3  # runs up to this long are one phrase; longer ones are split in bigrams
CJK_BIGRAM_SHARE = 0.5  # of a long run's bigrams, this share must be in a matching part
COMMON_SHARE = 0.1  # a word in more than this share of the parts is common...
COMMON_MIN_PARTS = 2000  # ...once it is in this many: shorter posting lists are cheap to read


def fold(word: str) -> str:
    """Case- and diacritic-folded, the way FTS5's ``unicode61`` tokenizer compares words.

    CJK runs are left as they are: unicode61 does not fold kana voicing marks or Hangul.
    """
    if has_cjk(word):
        return word
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words_of(text: str) -> list[str]:
    """Split like the catalog's tokenizer: letters, digits, ``-`` and ``_`` make words.

    A run of CJK characters is one word here (``cjk_clauses`` decides how it is matched).
    """
    spaced = CJK_RUN.sub(lambda m: f" {m.group()} ", normalise(text))
    return "".join(c if c.isalnum() or c in "-_" else " " for c in spaced).split()


def keyword_terms(text: str) -> list[str]:
    """Distinct words of ``text`` worth a keyword search: stopwords out, codes kept whole."""
    words = list(dict.fromkeys(fold(w) for w in words_of(text)))
    kept = [w for w in words if w not in STOPWORDS]
    return kept or words


def cjk_clauses(run: str, exact_chars: int = CJK_EXACT_CHARS,
                share: float = CJK_BIGRAM_SHARE) -> tuple[list[str], int]:
    """FTS5 phrases for one run of CJK characters, and how many of them a part must match."""
    if len(run) <= exact_chars:
        return [fts_phrase(run)], 1
    bigrams = list(dict.fromkeys(run[i:i + 2] for i in range(len(run) - 1)))
    return [fts_phrase(b) for b in bigrams], math.ceil(len(bigrams) * share)


def keyword_clauses(text: str, exact_chars: int = CJK_EXACT_CHARS,
                    share: float = CJK_BIGRAM_SHARE,
                    leave_out: Collection[str] = ()) -> tuple[list[str], int]:
    """The query's FTS5 clauses and how many of them a part must contain.

    Latin words follow minimum-should-match (``needed``); each CJK run adds its own clauses
    and requirement (``cjk_clauses``). Counting is over all clauses together, so the rule is
    a sum, not a per-word guarantee: cheap, and close enough for ranking. Words in
    ``leave_out`` (``common_words``) are not matched at all.
    """
    terms = [t for t in keyword_terms(text) if t not in leave_out]
    words = [t for t in terms if not has_cjk(t)]
    clauses = [fts_query(w) for w in words]
    need = needed(len(words))
    for run in (t for t in terms if has_cjk(t)):
        more, more_need = cjk_clauses(run, exact_chars, share)
        clauses += more
        need += more_need
    return list(dict.fromkeys(clauses)), need


def needed(n_terms: int) -> int:
    """How many of the query's distinct terms a part must contain."""
    if n_terms <= 2:
        return n_terms
    return math.ceil(n_terms * MIN_SHOULD_MATCH)


def keyword_hits(catalog: Catalog, text: str, limit: int, filters: ItemFilter,
                 negative: str = "") -> list[Hit]:
    """The BM25 hits (best first) that contain enough of the query's content words.

    Parts containing any word of ``negative`` are left out (FTS5 ``NOT``).
    """
    each, need = keyword_clauses(text, leave_out=common_words(catalog, keyword_terms(text)))
    if not each:
        return []
    need = min(need, len(each))
    match = " OR ".join(each)
    unwanted = [fts_query(t) for t in keyword_terms(negative)] if negative.strip() else []
    if unwanted:
        match = f"({match}) NOT ({' OR '.join(unwanted)})"
    try:
        found = catalog.keyword_search(match, limit=limit, filters=filters,
                                       min_match=(each, need) if need > 1 else None)
    except ValueError as exc:  # cannot happen with quoted words; never fail a search for it
        log.warning("keyword search skipped: %s", exc)
        return []
    depth = min(COVERAGE_DEPTH, SQL_VARIABLES // len(each) - 1)  # a very long query: fewer
    top = found[:depth]
    matched = ({h.part_id: h.matched or need for h in top} if need > 1  # counted by the search
               else terms_matched(catalog, each, [h.part_id for h in top]))
    return [Hit(item_id=h.item_id, part_id=h.part_id, score=h.score,
                coverage=matched.get(h.part_id, need) / len(each)) for h in found]


def terms_matched(catalog: Catalog, each: list[str], part_ids: list[int]) -> dict[int, int]:
    """How many of the query's terms each of these parts contains (name or text).

    Fusion trusts a keyword hit that holds *every* term (a code, a name, an exact phrase) and
    barely one that shares half the words of a paraphrase, which BM25's score alone cannot tell.
    """
    if not part_ids or len(each) == 1:
        return {pid: len(each) for pid in part_ids}
    marks = ",".join("?" * len(part_ids))
    one = f"SELECT rowid FROM parts_fts WHERE parts_fts MATCH ? AND rowid IN ({marks})"
    sql = f"SELECT rowid, COUNT(*) FROM ({' UNION ALL '.join([one] * len(each))}) GROUP BY rowid"
    args = [x for term in each for x in (term, *part_ids)]
    return {int(r[0]): int(r[1]) for r in catalog.conn.execute(sql, args).fetchall()}


_part_counts = threading.local()  # this thread's connection, its catalog version, the count


def part_count(catalog: Catalog) -> int:
    """How many parts the catalog holds, counted again only after a commit changed it.

    ``PRAGMA data_version`` moves with other connections' commits and ``total_changes`` with
    this one's, so the count (a full scan: 18 ms at a million parts) is not paid per query.
    The connection itself is kept, not its ``id``, which a later connection could reuse.
    """
    conn = catalog.conn
    version = (conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes)
    if getattr(_part_counts, "conn", None) is not conn or _part_counts.version != version:
        _part_counts.count = int(conn.execute("SELECT COUNT(*) FROM parts").fetchone()[0])
        _part_counts.conn, _part_counts.version = conn, version
    return int(_part_counts.count)


def common_words(catalog: Catalog, terms: list[str]) -> set[str]:
    """The query's words that are in more than ``COMMON_SHARE`` of the collection's parts
    (and in ``COMMON_MIN_PARTS`` at least); none when they are all the query has.

    Each word's part count comes from FTS5's vocabulary (``fts5vocab``, reading that word's
    posting list: under a millisecond for a word in 30,000 parts). CJK runs are never common:
    they are matched as phrases, not single tokens.
    """
    words = [t for t in terms if not has_cjk(t)]
    parts = part_count(catalog)
    if not words or parts <= COMMON_MIN_PARTS:  # no word can be common: skip the lookup
        return set()
    cutoff = max(COMMON_SHARE * parts, COMMON_MIN_PARTS)
    conn = catalog.conn
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.parts_vocab "
                 "USING fts5vocab(main, parts_fts, row)")
    marks = ",".join("?" * len(words))
    rows = conn.execute(f"SELECT term, doc FROM temp.parts_vocab WHERE term IN ({marks})",
                        words).fetchall()
    common = {term for term, found in rows if found > cutoff}
    return common if len(common) < len(terms) else set()
