"""How text becomes keyword tokens: CJK characters one token each, everything else unicode61's.

FTS5's ``unicode61`` tokenizer splits at spaces and punctuation, so a run of Chinese or Japanese
characters (written without spaces) becomes one token and no word inside it can be found.
Python's ``sqlite3`` cannot register a custom tokenizer, so the catalog writes its FTS rows
through ``fts_text``: NFKC-normalised (full-width ``ＩＮＶ－４４７１`` is ``INV-4471``, half-width
katakana is full-width) and every Han, kana and Hangul character set apart by spaces. unicode61
then makes one token per character, while Latin words and codes such as ``INV-4471`` stay whole.
Queries are built the same way (``retrieval.search.keywords``): a word is the phrase of its
characters. ``bench/cjk_keywords.py`` measures this against trigram and jieba segmentation.

Only the FTS rows change: ``parts.text`` keeps the original text for snippets.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from pathlib import PurePath

# Han (with extensions and compatibility ideographs), iteration marks, kana, Hangul syllables.
CJK_CHARS = (
    "\u3005-\u3007\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
)
CJK_CHAR = re.compile(f"[{CJK_CHARS}]")
CJK_RUN = re.compile(f"[{CJK_CHARS}]+")


def normalise(text: str) -> str:
    """NFKC, so full-width Latin, digits and half-width kana compare as their usual forms."""
    return unicodedata.normalize("NFKC", text)


def has_cjk(text: str) -> bool:
    return CJK_CHAR.search(text) is not None


def fts_text(text: str) -> str:
    """What the FTS table stores for ``text``: normalised, CJK characters one token each."""
    text = normalise(text)
    if not has_cjk(text):
        return text
    return CJK_CHAR.sub(lambda m: f" {m.group()} ", text)


def fts_phrase(run: str) -> str:
    """An FTS5 phrase that matches exactly this run of CJK characters, in order, adjacent."""
    return '"' + " ".join(run) + '"'


def _file_name(path: str | None) -> str:
    return PurePath(path).name if path else ""


def register_functions(conn: sqlite3.Connection) -> None:
    """SQL functions the migration and repairs use to rebuild FTS rows without Python loops."""
    conn.create_function("xm_fts_text", 1, lambda t: fts_text(t or ""), deterministic=True)
    conn.create_function("xm_file_name", 1, _file_name, deterministic=True)
