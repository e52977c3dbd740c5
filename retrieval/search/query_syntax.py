"""Filters and negation written into the query text: ``beach -people type:image after:2024-06``.

Only what cannot be mistaken for words is taken out of the text; anything else stays and is
searched as written:

- ``key:value`` for the keys below, and only when the value parses (``type:audio``,
  ``after:2024-01``, ``before:2024``, ``camera:canon``, ``place:"new york"``,
  ``duration:>90``, ``duration:<2m``, ``duration:1m-5m``). ``note:2024`` or ``after:soon``
  stay words.
- ``-word`` and ``-"a phrase"`` (a minus then a letter), and ``NOT word`` (capital NOT), name
  what to push down. ``INV-4471`` (no leading minus), ``-5`` and ``-3.5`` (numbers) and a lone
  ``-`` are words.

Dates: ``after:X`` keeps items dated at or after the start of X, ``before:X`` those before the
start of X (X is ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, read as UTC like EXIF times).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from retrieval.catalog.schema import ItemFilter
from retrieval.results import Query

TYPE_NAMES = {
    "image": "image", "images": "image", "photo": "image", "photos": "image",
    "picture": "image", "pictures": "image",
    "audio": "audio", "recording": "audio", "recordings": "audio", "sound": "audio",
    "text": "text", "doc": "text", "docs": "text", "document": "text", "documents": "text",
    "video": "video", "videos": "video", "movie": "video", "movies": "video",
}
_TOKEN = re.compile(r'(-?)(?:([A-Za-z]+):)?"([^"]*)"?|(\S+)')
_DATE = re.compile(r"^(\d{4})(?:[-/](\d{1,2}))?(?:[-/](\d{1,2}))?$")
_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([smh]?)$|^(\d+):(\d{1,2})$")
_NEGATABLE = re.compile(r"^-[^\W\d_]", re.UNICODE)


@dataclass
class ParsedQuery:
    """The query's words with the filters and negative words taken out."""

    text: str = ""
    negative: str = ""
    types: list[str] = field(default_factory=list)
    date_from: float | None = None
    date_to: float | None = None
    camera: str | None = None
    place: str | None = None
    min_duration: float | None = None
    max_duration: float | None = None

    @property
    def has_filters(self) -> bool:
        return bool(self.types) or any(v is not None for v in (
            self.date_from, self.date_to, self.camera, self.place, self.min_duration,
            self.max_duration))


def date_start(value: str) -> float | None:
    """Unix seconds at the start of ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (UTC); None if bad."""
    m = _DATE.match(value.strip())
    if not m:
        return None
    try:
        when = datetime(int(m[1]), int(m[2] or 1), int(m[3] or 1), tzinfo=UTC)
    except ValueError:
        return None
    return when.timestamp()


def date_end(value: str) -> float | None:
    """Unix seconds where the period ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` ends (exclusive)."""
    m = _DATE.match(value.strip())
    start = date_start(value)
    if m is None or start is None:
        return None
    year, month, day = int(m[1]), int(m[2] or 0), int(m[3] or 0)
    if day:
        return start + 86400
    if month:
        nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    else:
        nxt = datetime(year + 1, 1, 1, tzinfo=UTC)
    return nxt.timestamp()


def seconds(value: str) -> float | None:
    """``90``, ``90s``, ``2m``, ``1h`` or ``1:30`` as seconds; None when it is none of those."""
    m = _SPAN.match(value.strip().lower())
    if not m:
        return None
    if m[3] is not None:
        return int(m[3]) * 60 + int(m[4])
    return float(m[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[m[2]]


def duration_range(value: str) -> tuple[float | None, float | None] | None:
    """``>90``, ``<2m``, ``>=1m``, ``1m-5m`` as (min, max) seconds; None when not a range."""
    v = value.strip()
    for op in (">=", "<=", ">", "<"):
        if v.startswith(op):
            s = seconds(v[len(op):])
            if s is None:
                return None
            return (s, None) if op[0] == ">" else (None, s)
    low, sep, high = v.partition("-")
    if sep:
        lo, hi = seconds(low), seconds(high)
        if lo is not None and hi is not None and lo <= hi:
            return lo, hi
    return None


def _apply(parsed: ParsedQuery, key: str, value: str) -> bool:
    """Take ``key:value`` as a filter when it is one; False leaves it as words."""
    key = key.lower()
    if key == "type" and value.lower() in TYPE_NAMES:
        kind = TYPE_NAMES[value.lower()]
        if kind not in parsed.types:
            parsed.types.append(kind)
        return True
    if key in ("after", "before"):
        when = date_start(value)
        if when is None:
            return False
        if key == "after":
            parsed.date_from = when
        else:
            parsed.date_to = when
        return True
    if key in ("camera", "place") and value.strip():
        setattr(parsed, key, value.strip())
        return True
    if key == "duration":
        span = duration_range(value)
        if span is None:
            return False
        parsed.min_duration, parsed.max_duration = span
        return True
    return False


def parse_query(text: str) -> ParsedQuery:
    """Split the query text into words to find, words to push down, and filters."""
    parsed = ParsedQuery()
    positive: list[str] = []
    negative: list[str] = []
    negate_next = False
    for m in _TOKEN.finditer(text or ""):
        minus, key, quoted, bare = m[1], m[2], m[3], m[4]
        if bare is not None:
            if bare == "NOT" and not negate_next:
                negate_next = True
                continue
            k, sep, v = bare.partition(":")
            if sep and k.isalpha() and not negate_next and _apply(parsed, k, v):
                continue
            if _NEGATABLE.match(bare) and not negate_next:
                negative.append(bare[1:])
                continue
            (negative if negate_next else positive).append(bare)
            negate_next = False
            continue
        if key is not None and not minus and not negate_next and _apply(parsed, key, quoted):
            continue
        words = f"{key}:{quoted}" if key else quoted
        (negative if minus or negate_next else positive).append(words)
        negate_next = False
    if negate_next:  # a trailing NOT is a word
        positive.append("NOT")
    parsed.text = " ".join(w for w in positive if w.strip())
    parsed.negative = " ".join(w for w in negative if w.strip())
    return parsed


def merged_filter(query: Query, parsed: ParsedQuery) -> ItemFilter:
    """The query's own filter fields, with those written in its text filling the gaps."""
    def pick(own: Any, written: Any) -> Any:
        return own if own is not None else written

    types = query.types or parsed.types
    return ItemFilter(
        types=tuple(types) if types else None,
        path_glob=query.path_glob or None,
        modified_after=query.modified_after,
        modified_before=query.modified_before,
        date_from=pick(query.date_from, parsed.date_from),
        date_to=pick(query.date_to, parsed.date_to),
        camera=pick(query.camera or None, parsed.camera),
        place=pick(query.place or None, parsed.place),
        min_duration=pick(query.min_duration, parsed.min_duration),
        max_duration=pick(query.max_duration, parsed.max_duration),
    )
