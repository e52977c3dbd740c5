"""OCR with the PP-OCRv4 weights rapidocr ships: rendered text comes back word for word."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from PIL import Image

from retrieval.encoders import OcrReader, group_paragraphs, paragraph_texts
from tests.media import font_paths, pattern_image, text_image

LINES = [
    "Invoice number 4821 due Friday",
    "Meet at the harbour cafe at noon",
    "Quarterly budget review with the design team",
    "Library opens at nine on Sunday",
]
# (font file, pixel size): a sans, a serif and a monospace face at three sizes
CASES = [("DejaVuSans.ttf", 22), ("LiberationSerif-Regular.ttf", 30),
         ("LiberationMono-Regular.ttf", 40)]


def words(text: str) -> list[str]:
    return re.sub(r"[^\w ]+", " ", text.lower()).split()


def font(name: str):
    found = [p for p in font_paths() if p.name == name]
    if not found:
        pytest.skip(f"font {name} not installed (fonts-dejavu-core / fonts-liberation)")
    return found[0]


def exact_share(expected: list[str], got: list[str]) -> float:
    """Share of expected words found, each recognised word used once, case-insensitive."""
    pool = Counter(got)
    hits = 0
    for w in expected:
        if pool[w] > 0:
            pool[w] -= 1
            hits += 1
    return hits / len(expected)


def test_rendered_words_come_back(ocr_reader: OcrReader) -> None:
    """At least 90 % of words exact over three fonts and sizes, and no case below 80 %."""
    expected = words(" ".join(LINES))
    shares = {}
    for font_name, size in CASES:
        lines = ocr_reader.read(text_image(LINES, None, font_path=font(font_name), size=size))
        shares[f"{font_name} {size}px"] = exact_share(
            expected, words(" ".join(ln.text for ln in lines)))
    overall = sum(shares.values()) / len(shares)
    print(f"\nOCR words exact: {overall:.1%} overall; "
          + ", ".join(f"{k}: {v:.0%}" for k, v in shares.items()))
    assert overall >= 0.9 and min(shares.values()) >= 0.8, shares


def test_lines_in_reading_order_with_boxes(ocr_reader: OcrReader) -> None:
    img = Image.new("RGB", (900, 400), "white")
    for text, xy in (("Left column", (40, 40)), ("Right column", (500, 40)),
                     ("Bottom line", (40, 300))):
        img.paste(text_image([text], None, size=28), xy)
    lines = ocr_reader.read(img)
    assert [words(ln.text) for ln in lines] == [["left", "column"], ["right", "column"],
                                                 ["bottom", "line"]]
    for ln in lines:
        assert len(ln.box) == 4 and 0 < ln.confidence <= 1
        assert all(0 <= x <= img.width and 0 <= y <= img.height for x, y in ln.box)
    left, right = lines[0].box, lines[1].box
    assert max(x for x, _ in left) < 500 <= min(x for x, _ in right) + 5  # original pixels


def test_blank_image_has_no_lines(ocr_reader: OcrReader) -> None:
    assert ocr_reader.read(Image.new("RGB", (300, 200), "white")) == []


def test_paragraphs_split_on_large_gaps(ocr_reader: OcrReader) -> None:
    img = text_image(["Dinner at seven", "Bring the salad", "", "", "", "Parking on level two"],
                     None, size=28)
    lines = ocr_reader.read(img)
    groups = group_paragraphs(lines)
    assert [len(g) for g in groups] == [2, 1]
    assert words(paragraph_texts(lines)[1]) == ["parking", "on", "level", "two"]


def test_white_text_on_dark_and_alpha(ocr_reader: OcrReader) -> None:
    dark = text_image(["Exit to platform 4"], None, size=32, fg=(250, 250, 250), bg=(20, 30, 60))
    assert words(" ".join(ln.text for ln in ocr_reader.read(dark))) == ["exit", "to", "platform",
                                                                         "4"]
    rgba = text_image(["Open daily"], None, size=32).convert("RGBA")
    assert "daily" in words(" ".join(ln.text for ln in ocr_reader.read(rgba)))


def test_text_presence_check_keeps_text_and_skips_photos(ocr_reader: OcrReader) -> None:
    """A photo with a small sign in it reads the same with or without the pre-check; a photo
    with no text is turned away by the pre-check, and full OCR agrees it holds none."""
    sign = text_image(LINES[:2], None, font_path=font("DejaVuSans.ttf"), size=24)
    photo = pattern_image(7, (1600, 1200))
    with_text = photo.copy()
    with_text.paste(sign, (300, 500))
    assert ocr_reader.precheck_side is not None  # on by default
    assert ocr_reader.has_text(with_text) and not ocr_reader.has_text(photo)
    checked = [ln.text for ln in ocr_reader.read(with_text)]
    side, ocr_reader.precheck_side = ocr_reader.precheck_side, None
    try:
        full = [ln.text for ln in ocr_reader.read(with_text)]
        assert ocr_reader.read(photo) == []
    finally:
        ocr_reader.precheck_side = side
    assert checked == full and exact_share(words(" ".join(LINES[:2])),
                                           words(" ".join(full))) >= 0.9
    assert ocr_reader.read(photo) == []
