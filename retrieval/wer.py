"""Word error rate that scores what was said, not how it was spelled.

A raw WER counts "eight"/"8", "Mr."/"mister" or "weekdays"/"week days" as errors, so a test that
passes on one Whisper build fails on another that spells numbers differently. Both sides go
through Whisper's own English normaliser first, and a word written as two (or two as one) counts
once. Han, kana and Hangul are scored per character: those scripts put no spaces between words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

_CJK = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff])")


@cache
def _english_normalizer() -> Callable[[str], str]:
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalized_words(text: str) -> list[str]:
    """The words of ``text`` after Whisper's English normaliser, CJK split per character."""
    text = _english_normalizer()(text)
    return _CJK.sub(r" \1 ", text).split()


def _join_split_words(words: list[str], other: set[str]) -> list[str]:
    """Merge neighbours whose concatenation is a single word on the other side."""
    out: list[str] = []
    i = 0
    while i < len(words):
        if i + 1 < len(words) and words[i] + words[i + 1] in other:
            out.append(words[i] + words[i + 1])
            i += 2
        else:
            out.append(words[i])
            i += 1
    return out


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Edit distance between normalised words, over the reference's length."""
    ref, hyp = normalized_words(reference), normalized_words(hypothesis)
    hyp = _join_split_words(hyp, set(ref))
    ref = _join_split_words(ref, set(hyp))
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)] / max(len(ref), 1)
