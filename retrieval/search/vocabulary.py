"""The collection's own rare words, handed to Whisper as the prompt for spoken queries.

Whisper tiny.en hears "Perl module" as "bail module" and "GNU C" as "NUC": it guesses the
common word when the speaker says a rare one. Whisper's *initial prompt* is text it treats as
what was said just before, so words in it become likely. A spoken query is about the
collection, so the prompt lists the collection's frequent words that are rare in general
English: how rare is read off Whisper's own tokenizer (its byte-pair merges are ranked by
frequency, so a word that is a late token, or several tokens, is uncommon).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from functools import lru_cache
from typing import Any

from retrieval.catalog.database import Catalog
from retrieval.search.keywords import STOPWORDS

log = logging.getLogger(__name__)

SAMPLE_PARTS = 5000  # parts read to count words; the rest of a big collection is skipped
PROMPT_TOKENS = 120  # Whisper accepts up to 223 prompt tokens; leave room for its own
MIN_DOCS = 2  # a word seen in one part only is not the collection's vocabulary
MIN_PARTS = 200  # fewer parts than this are too few to tell a collection's vocabulary
CANDIDATE_WORDS = 1500  # the most widespread words, of which the rarest are kept
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+#-]{2,}")


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    """Whisper's English byte-pair tokenizer (ships with openai-whisper; no download)."""
    from whisper.tokenizer import get_tokenizer

    return get_tokenizer(multilingual=False)


def rarity(word: str) -> float:
    """0..1: how uncommon ``word`` is to Whisper (1 = several tokens, or a late merge)."""
    ids = _tokenizer().encode(" " + word)
    return 1.0 if len(ids) > 1 else min(1.0, ids[0] / 50000)


def collection_prompt(catalog: Catalog) -> str | None:
    """A sentence naming the indexed text's frequent, rare words (None for a small collection)."""
    total = catalog.conn.execute("SELECT COUNT(*) FROM parts WHERE text IS NOT NULL").fetchone()[0]
    if total < MIN_PARTS:
        return None
    step = max(1, total // SAMPLE_PARTS)
    rows = catalog.conn.execute(
        "SELECT text FROM parts WHERE text IS NOT NULL AND id % ? = 0 LIMIT ?",
        (step, SAMPLE_PARTS),
    ).fetchall()
    docs: Counter[str] = Counter()
    spelling: dict[str, Counter[str]] = {}
    for (text,) in rows:
        words = set(_WORD.findall(text or ""))
        for w in words:
            key = w.casefold()
            spelling.setdefault(key, Counter())[w] += 1
        docs.update({w.casefold() for w in words})
    common = [(key, n) for key, n in docs.most_common(CANDIDATE_WORDS)
              if n >= MIN_DOCS and key not in STOPWORDS]
    scored = sorted(((n * rarity(key), key) for key, n in common), reverse=True)
    chosen: list[str] = []
    tokens = 0
    for _, key in scored:
        word = spelling[key].most_common(1)[0][0]
        cost = len(_tokenizer().encode(" " + word)) + 1
        if tokens + cost > PROMPT_TOKENS:
            break
        chosen.append(word)
        tokens += cost
    # A sentence, not a bare list: a bare list prompts Whisper to hear lists of words.
    return f"Questions about {', '.join(chosen)}." if chosen else None


class PromptCache:
    """The collection's prompt, rebuilt only when parts were added or removed since."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._lock = threading.Lock()
        self._key: tuple[int, int] | None = None
        self._prompt: str | None = None

    def get(self) -> str | None:
        """The prompt; None (and a warning) if it cannot be made: a query never fails for it."""
        try:
            row = self._catalog.conn.execute("SELECT COUNT(*), MAX(id) FROM parts").fetchone()
            key = (int(row[0]), int(row[1] or 0))
            with self._lock:
                if key != self._key:
                    self._prompt = collection_prompt(self._catalog)
                    self._key = key
                return self._prompt
        except Exception as exc:  # noqa: BLE001 - a prompt is a nicety, never an error
            log.warning("no vocabulary prompt for spoken queries: %s", exc)
            return None
